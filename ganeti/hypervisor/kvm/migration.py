"""Live migration of KVM instances between nodes, both sides, over QMP.

Target: ``accept_instance`` starts qemu with ``-incoming defer`` (same machine type
and memory as the source) and listens on migration_port; source: ``migrate_instance``
sets bandwidth, downtime and TLS and starts sending; both sides are finalized
according to the outcome.  The stream is TLS by default (qemu tls-creds-x509 made from
the cluster certificate, see tls.py); migration_transport=tcp sends it in clear.
"""

import time

from ganeti import constants
from ganeti import errors
from ganeti.hypervisor.kvm import params
from ganeti.hypervisor.kvm import tls
from ganeti.hypervisor.kvm.qmp import QmpClient, QmpError
from ganeti.utils import process

_QMP_TIMEOUT = 10
_FINALIZE_TIMEOUT = 60
MIB = 1024 * 1024
# query-migrate states that end a migration
MIGRATION_DONE = frozenset(["completed", "failed", "cancelled"])


def _capabilities(hvp: dict) -> list:
    return [{"capability": cap, "state": True}
            for cap in hvp.get("migration_caps", "").split(":") if cap]


class MigrationMixin:
    """Migration methods of KVMHypervisor (which provides dirs, _launch, ...)."""

    def _qmp(self, name: str) -> QmpClient:
        return QmpClient(self.dirs.qmp_socket(name), _QMP_TIMEOUT)

    def migration_info(self, instance: dict) -> dict:
        """What the target needs to start a compatible qemu."""
        name = instance["name"]
        if not self.dirs.running_pid(name):
            raise errors.HypervisorError("Instance %s is not running" % name)
        runtime = self.dirs.load_runtime(name) or {}
        status = "running"
        with self._qmp(name) as qmp:
            status = qmp.execute("query-status").get("status", status)
        # the memory qemu was started with (-m), not the current balloon size
        memory = runtime.get("startup_memory", runtime.get("memory"))
        return {"machine": runtime.get("machine", ""), "memory": memory,
                "vcpus": runtime.get("vcpus"), "qemu_version": runtime.get("qemu_version"),
                "status": status}

    def accept_instance(self, instance: dict, info: dict, target: str,
                        block_devices: list | None = None) -> None:
        """Start the incoming side, listening on target:migration_port."""
        name = instance["name"]
        hvp = params.typed(instance.get("hvparams") or {})
        self._launch(instance, block_devices or [], False, incoming=True,
                     machine=info.get("machine", ""), memory=info.get("memory"))
        try:
            with self._qmp(name) as qmp:
                caps = _capabilities(hvp)
                if caps:
                    qmp.execute("migrate-set-capabilities", {"capabilities": caps})
                if hvp[constants.HV_MIGRATION_TRANSPORT] == constants.HT_MIGRATION_TLS:
                    qmp.execute("migrate-set-parameters",
                                {"tls-creds": tls.SERVER_OBJECT_ID})
                qmp.execute("migrate-incoming", {
                    "uri": "tcp:%s:%d" % (target, hvp[constants.HV_MIGRATION_PORT])})
        except errors.HypervisorError:
            self.stop_instance(instance, force=True)
            raise

    def migrate_instance(self, cluster_name, instance, target, live):
        """Start sending the instance to ``target`` (address); returns at once."""
        name = instance["name"]
        if not self.dirs.running_pid(name):
            raise errors.HypervisorError("Instance %s is not running" % name)
        # the same parameters the target got in accept_instance (port, transport)
        hvp = params.typed(instance.get("hvparams") or {})
        tls_on = hvp[constants.HV_MIGRATION_TRANSPORT] == constants.HT_MIGRATION_TLS
        runtime = self.dirs.load_runtime(name) or {}
        with self._qmp(name) as qmp:
            caps = _capabilities(hvp)
            if caps:
                qmp.execute("migrate-set-capabilities", {"capabilities": caps})
            settings = {"max-bandwidth": hvp[constants.HV_MIGRATION_BANDWIDTH] * MIB,
                        "downtime-limit": hvp[constants.HV_MIGRATION_DOWNTIME]}
            if tls_on:
                if not any("tls-creds-x509,id=%s" % tls.CLIENT_OBJECT_ID in arg
                           for arg in runtime.get("cmd", [])):
                    raise errors.HypervisorError(
                        "Instance %s was started without migration TLS credentials; "
                        "restart it or use migration_transport=tcp" % name)
                settings.update({"tls-creds": tls.CLIENT_OBJECT_ID,
                                 "tls-hostname": tls.TLS_HOSTNAME})
            else:
                settings["tls-creds"] = ""
            qmp.execute("migrate-set-parameters", settings)
            if not live:
                qmp.execute("stop")
            qmp.execute("migrate", {"uri": "tcp:%s:%d"
                                    % (target, hvp[constants.HV_MIGRATION_PORT])})

    def get_migration_status(self, instance: dict) -> dict:
        """{"status": ..., "transferred", "remaining", "total" (bytes), "error"}."""
        name = instance["name"]
        if not self.dirs.running_pid(name):
            return {"status": "failed", "error": "instance %s is not running" % name}
        with self._qmp(name) as qmp:
            info = qmp.execute("query-migrate")
        ram = info.get("ram") or {}
        return {"status": info.get("status", "none"), "transferred": ram.get("transferred"),
                "remaining": ram.get("remaining"), "total": ram.get("total"),
                "error": info.get("error-desc", "")}

    def finalize_migration_dst(self, instance: dict, info: dict, success: bool) -> None:
        name = instance["name"]
        if not success:
            self.stop_instance(instance, force=True)
            return
        if not self.dirs.running_pid(name):
            raise errors.HypervisorError("The migrated instance %s is not running on the "
                                         "target" % name)
        deadline = time.monotonic() + _FINALIZE_TIMEOUT
        with self._qmp(name) as qmp:
            while True:
                status = qmp.execute("query-status").get("status")
                if status not in ("inmigrate", "postmigrate", "finish-migrate"):
                    break
                if time.monotonic() > deadline:
                    raise errors.HypervisorError("Instance %s is still %s on the target"
                                                 % (name, status))
                time.sleep(0.1)
            if status == "paused" and info.get("status") != "paused":
                qmp.execute("cont")
        runtime = self.dirs.load_runtime(name) or {}
        runtime["incoming"] = False
        self.dirs.save_runtime(name, runtime)

    def finalize_migration_src(self, instance: dict, success: bool, live: bool) -> None:
        name = instance["name"]
        pid = self.dirs.running_pid(name)
        if success:
            if pid:
                try:
                    with self._qmp(name) as qmp:
                        qmp.execute("quit")
                except QmpError:
                    pass
                if not self._wait_exit(name, pid, _QMP_TIMEOUT):
                    self._kill(pid)
            self._cleanup(name)
            return
        if not pid:
            return
        with self._qmp(name) as qmp:
            try:
                qmp.execute("migrate_cancel")
            except QmpError:
                pass
            status = qmp.execute("query-status").get("status")
            if status in ("paused", "postmigrate") and not live:
                qmp.execute("cont")

    def abort_migration(self, instance: dict) -> None:
        """Cancel an outgoing migration (the instance keeps running here)."""
        name = instance["name"]
        if process.is_process_alive(self.dirs.running_pid(name)):
            with self._qmp(name) as qmp:
                qmp.execute("migrate_cancel")
