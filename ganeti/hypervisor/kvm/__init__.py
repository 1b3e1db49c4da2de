"""The KVM hypervisor: instances are qemu processes driven over QMP.

Each instance is one daemonized qemu with a QMP socket and a serial-console socket;
its runtime files (see runtime.py) let a restarted noded find it again.  Parameters are
checked in params.py, the command line is built in cmdline.py, migration is in
migration.py.
"""

import logging
import os
import pwd
import signal
import time

from ganeti import _autoconf
from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti.hypervisor.base import Hypervisor, read_meminfo_mib
from ganeti.hypervisor.kvm import cmdline
from ganeti.hypervisor.kvm import netdev
from ganeti.hypervisor.kvm import params
from ganeti.hypervisor.kvm import qemu_info
from ganeti.hypervisor.kvm import tls
from ganeti.hypervisor.kvm import uidpool
from ganeti.hypervisor.kvm.migration import MigrationMixin
from ganeti.hypervisor.kvm.qmp import QmpClient, QmpError
from ganeti.hypervisor.kvm.runtime import RuntimeDirs
from ganeti.utils import io
from ganeti.utils import process

_START_TIMEOUT = 60
_QMP_TIMEOUT = 10
_INFO_QMP_TIMEOUT = 2
_KILL_WAIT = 10
_POWERDOWN_REPEAT = 5
SOCAT = "socat"
# qemu run states shown under another name ("paused" covers every not-yet-running guest)
_STATE_NAMES = {"prelaunch": "paused", "suspended": "paused", "debug": "paused"}
SOCAT_ESCAPE = "0x1d"  # Ctrl-] leaves the console


def resolve_kvm_path(path: str) -> str:
    """kvm_path, or qemu-system-x86_64 when the default /usr/bin/kvm is absent."""
    if path == constants.KVM_DEFAULT_PATH and not os.path.exists(path) and \
            os.path.exists(constants.KVM_FALLBACK_PATH):
        return constants.KVM_FALLBACK_PATH
    return path




def _cpu_topology() -> tuple[int, int]:
    """(sockets, NUMA nodes) of this machine."""
    sockets = set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("physical id"):
                    sockets.add(line.split(":", 1)[1].strip())
    except OSError:
        pass
    try:
        nodes = len([n for n in os.listdir("/sys/devices/system/node")
                     if n.startswith("node") and n[4:].isdigit()])
    except OSError:
        nodes = 1
    return max(1, len(sockets)), max(1, nodes)


def _cpu_seconds(pid: int) -> float:
    try:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def node_serial_socket(node_name: str, instance_name: str) -> str:
    """The serial socket path of an instance as seen on node ``node_name``."""
    path = os.path.join(_autoconf.LOCALSTATEDIR, "run", "ganeti", "kvm-hypervisor",
                        "ctrl", instance_name + ".serial")
    if pathutils.is_virtual():
        return pathutils.node_root_of(node_name) + path
    return path


class KVMHypervisor(MigrationMixin, Hypervisor):
    PARAMETERS = dict(params.CHECKS)
    CAN_MIGRATE = True

    def __init__(self, run_dir: str | None = None, uid_pool_dir: str | None = None,
                 ssconf_dir: str | None = None, cluster_pem: str | None = None):
        self.dirs = RuntimeDirs(run_dir)
        self.uid_pool = uidpool.UidPool(uid_pool_dir,
                                        is_running=lambda n: bool(self.dirs.running_pid(n)))
        self._ssconf_dir = ssconf_dir
        self._cluster_pem = cluster_pem

    # --- parameters -----------------------------------------------------------------
    @classmethod
    def check_parameter_syntax(cls, hvparams: dict) -> None:
        for key, value in hvparams.items():
            if value is None:
                continue  # "-key" on the command line: back to the default
            if key not in cls.PARAMETERS:
                raise errors.HypervisorError(
                    "Unknown hypervisor parameter '%s' for kvm (valid: %s)"
                    % (key, ", ".join(sorted(cls.PARAMETERS))))
            check, desc = cls.PARAMETERS[key]
            if not check(value):
                raise errors.HypervisorError("Invalid value %r for hypervisor parameter "
                                             "'%s': must be %s" % (value, key, desc))

    def validate_parameters(self, hvparams: dict) -> None:
        """Syntax, rules between parameters, and what must exist on this node."""
        self.check_parameter_syntax(hvparams)
        hvp = params.typed(hvparams)
        params.check_consistency(hvp)
        kvm_path = resolve_kvm_path(hvp[constants.HV_KVM_PATH])
        if not os.access(kvm_path, os.X_OK):
            raise errors.HypervisorError("kvm_path %s is not an executable on this node"
                                         % kvm_path)
        for key in (constants.HV_KERNEL_PATH, constants.HV_INITRD_PATH, "floppy_image_path",
                    "cdrom_image_path", "cdrom2_image_path", "vnc_password_file",
                    "spice_password_file"):
            if hvp[key] and not os.path.isfile(hvp[key]):
                raise errors.HypervisorError("%s %s does not exist on this node"
                                             % (key, hvp[key]))
        if hvp["vnc_x509_path"] and not os.path.isdir(hvp["vnc_x509_path"]):
            raise errors.HypervisorError("vnc_x509_path %s is not a directory"
                                         % hvp["vnc_x509_path"])
        model = hvp[constants.HV_SECURITY_MODEL]
        if model == constants.HT_SM_USER:
            try:
                pwd.getpwnam(hvp[constants.HV_SECURITY_DOMAIN])
            except KeyError:
                raise errors.HypervisorError(
                    "security_domain: user %s does not exist on this node"
                    % hvp[constants.HV_SECURITY_DOMAIN]) from None
        elif model == constants.HT_SM_POOL:
            if not uidpool.read_cluster_pool(self._ssconf_dir):
                raise errors.HypervisorError("security_model 'pool' needs the cluster uid "
                                             "pool (gnt-cluster modify --uid-pool)")
        if hvp[constants.HV_KVM_FLAG] == constants.HT_KVM_ENABLED and \
                not os.path.exists("/dev/kvm"):
            raise errors.HypervisorError("kvm_flag is 'enabled' but /dev/kvm is missing")
        info = qemu_info.probe(kvm_path)
        machine = hvp["machine_version"]
        if machine and info.machines and machine not in info.machines:
            raise errors.HypervisorError("machine_version %s is not supported by %s "
                                         "(see '%s -machine help')"
                                         % (machine, kvm_path, kvm_path))

    # --- start ------------------------------------------------------------------------
    def _build_spec(self, instance: dict, block_devices: list, hvp: dict,
                    startup_paused: bool, incoming: bool, machine: str,
                    memory: int | None = None) -> cmdline.LaunchSpec:
        name = instance["name"]
        info = qemu_info.probe(resolve_kvm_path(hvp[constants.HV_KVM_PATH]))
        beparams = instance.get("beparams") or {}
        disks = []
        inst_disks = instance.get("disks") or []
        for idx, dev in enumerate(block_devices):
            if not dev or not dev.get("path"):
                continue
            meta = inst_disks[idx] if idx < len(inst_disks) else {}
            disks.append(cmdline.Disk(dev["path"], meta.get("mode", constants.DISK_RDWR),
                                      meta.get("uuid") or ""))
        nics = [cmdline.Nic(nic.get("mac", ""),
                            netdev.tap_name(self.dirs.base, name, idx), nic.get("uuid", ""))
                for idx, nic in enumerate(instance.get("nics") or [])]
        port = instance.get("network_port") or 0
        return cmdline.LaunchSpec(
            name=name, uuid=instance.get("uuid") or "00000000-0000-0000-0000-000000000000",
            hvp=hvp, memory=memory or beparams.get(constants.BE_MAXMEM, 128),
            vcpus=beparams.get(constants.BE_VCPUS, 1), qemu=info,
            pidfile=self.dirs.pidfile(name), qmp_socket=self.dirs.qmp_socket(name),
            serial_socket=self.dirs.serial_socket(name),
            console_log=self.dirs.console_log(name),
            agent_socket=self.dirs.agent_socket(name),
            machine=machine or info.default_machine, disks=disks, nics=nics,
            startup_paused=startup_paused, incoming=incoming,
            vnc_display=max(0, port - constants.VNC_BASE_PORT) if port else 0,
            spice_port=port)

    def _security(self, spec: cmdline.LaunchSpec, hvp: dict) -> int | None:
        """Fill runas/chroot; returns the pool uid taken (the caller releases it)."""
        model = hvp[constants.HV_SECURITY_MODEL]
        uid = None
        if model == constants.HT_SM_USER:
            spec.runas = hvp[constants.HV_SECURITY_DOMAIN]
        elif model == constants.HT_SM_POOL:
            pool = uidpool.read_cluster_pool(self._ssconf_dir)
            uid = self.uid_pool.allocate(pool, spec.name)
            try:
                spec.runas = pwd.getpwuid(uid).pw_name
            except KeyError:
                spec.runas = "%d:%d" % (uid, uid)
            io.write_file(self.dirs.uid_file(spec.name), "%d\n" % uid, mode=0o600,
                          fsync=False)
        if hvp[constants.HV_USE_CHROOT]:
            spec.chroot = self.dirs.prepare_chroot(spec.name)
        return uid

    def _owner_uid(self, spec: cmdline.LaunchSpec) -> int | None:
        if not spec.runas:
            return None
        if ":" in spec.runas:
            return int(spec.runas.split(":")[0])
        return pwd.getpwnam(spec.runas).pw_uid

    def _tls_dirs(self, hvp: dict) -> tuple[str, str]:
        if hvp[constants.HV_MIGRATION_TRANSPORT] != constants.HT_MIGRATION_TLS:
            return "", ""
        try:
            return tls.ensure_credentials(self.dirs.tls_dir(), self._cluster_pem)
        except errors.HypervisorError as err:
            # not in a cluster (yet): the instance runs, TLS migration will not
            logging.warning("No migration TLS credentials: %s", err)
            return "", ""

    def _launch(self, instance: dict, block_devices: list, startup_paused: bool,
                incoming: bool = False, machine: str = "", memory: int | None = None,
                ) -> cmdline.LaunchSpec:
        name = instance["name"]
        hvp = params.typed(instance.get("hvparams") or {})
        params.check_consistency(hvp)
        self.dirs.ensure()
        self.dirs.check_socket_paths(name)
        if self.dirs.running_pid(name):
            raise errors.HypervisorError("Failed to start instance %s: already running"
                                         % name)
        self._cleanup(name)
        spec = self._build_spec(instance, block_devices, hvp, startup_paused, incoming,
                                machine, memory)
        for disk in spec.disks:
            if not os.path.exists(disk.path):
                raise errors.HypervisorError("Failed to start instance %s: disk %s is "
                                             "missing" % (name, disk.path))
        spec.tls_server_dir, spec.tls_client_dir = self._tls_dirs(hvp)
        uid = self._security(spec, hvp)
        taps = []
        try:
            owner = self._owner_uid(spec)
            if spec.console_log:
                # a fresh log per start, owned by whoever qemu will run as
                open(spec.console_log, "w").close()
                os.chmod(spec.console_log, 0o600)
            for nic, nic_data in zip(spec.nics, instance.get("nics") or [], strict=True):
                netdev.create_tap(nic.tap, nic_data, owner)
                taps.append(nic.tap)
            cmd = cmdline.build_command(spec)
            self.dirs.save_runtime(name, {
                "name": name, "uuid": spec.uuid, "cmd": cmd, "hvparams": hvp,
                "memory": spec.memory, "startup_memory": spec.memory,
                "vcpus": spec.vcpus, "machine": spec.machine,
                "qemu_version": list(spec.qemu.version), "uid": uid, "taps": taps,
                "runas": spec.runas, "started": time.time(), "incoming": incoming,
                "paused": bool(startup_paused)})
            result = process.run_cmd(cmd, reset_env=True, timeout=_START_TIMEOUT)
            if result.failed:
                raise errors.HypervisorError("Failed to start instance %s: %s"
                                             % (name, result.describe_failure()))
            if not self.dirs.running_pid(name):
                raise errors.HypervisorError("Failed to start instance %s: qemu exited "
                                             "right after starting" % name)
            # qemu answers on its monitor once it is fully set up
            with QmpClient(spec.qmp_socket, _QMP_TIMEOUT) as qmp:
                qmp.execute("query-status")
        except BaseException:
            pid = self.dirs.running_pid(name)
            if pid:
                self._kill(pid)
            for tap in taps:
                netdev.remove_tap(tap)
            if uid is not None:
                self.uid_pool.release(uid, name)
            self.dirs.cleanup(name)
            raise
        return spec

    def start_instance(self, instance, block_devices, startup_paused):
        self._launch(instance, block_devices, bool(startup_paused))

    # --- stop -------------------------------------------------------------------------
    def _kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + _KILL_WAIT
        while process.is_process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _cleanup(self, name: str) -> None:
        """Forget a stopped instance: taps, pool uid, runtime files."""
        runtime = self.dirs.load_runtime(name) or {}
        for tap in runtime.get("taps") or []:
            netdev.remove_tap(tap)
        uid = runtime.get("uid")
        if uid is None:
            try:
                with open(self.dirs.uid_file(name)) as fh:
                    uid = int(fh.read().strip())
            except (OSError, ValueError):
                uid = None
        if uid is not None:
            self.uid_pool.release(int(uid), name)
        self.dirs.cleanup(name)

    def _wait_exit(self, name: str, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.is_process_alive(pid) or not self.dirs.running_pid(name):
                return True
            time.sleep(0.1)
        return not process.is_process_alive(pid)

    def _soft_stop_request(self, name: str, acpi: bool) -> None:
        try:
            with QmpClient(self.dirs.qmp_socket(name), _QMP_TIMEOUT) as qmp:
                qmp.execute("system_powerdown" if acpi else "quit")
        except QmpError as err:
            if err.error_class != "ConnectionClosed":
                logging.warning("Soft stop of %s failed: %s", name, err)

    def stop_instance(self, instance, force=False, retry=False, name=None, timeout=None):
        """Soft: ACPI power button (qemu "quit" without ACPI), waiting up to
        ``timeout`` seconds; forced: kill.  The files are removed once qemu is gone."""
        name = name or instance["name"]
        pid = self.dirs.running_pid(name)
        if not pid:
            self._cleanup(name)
            return
        if force:
            self._kill(pid)
        else:
            hvp = params.typed((instance or {}).get("hvparams") or {})
            runtime = self.dirs.load_runtime(name) or {}
            acpi = runtime.get("hvparams", {}).get("acpi", hvp["acpi"])
            deadline = time.monotonic() + (timeout or 0)
            while True:
                self._soft_stop_request(name, acpi)
                if timeout is None:
                    return
                remaining = deadline - time.monotonic()
                # a button press the guest missed (e.g. while booting) is repeated
                step = remaining if not acpi else min(_POWERDOWN_REPEAT, remaining)
                if remaining <= 0 or self._wait_exit(name, pid, step) or not acpi:
                    break
        if not process.is_process_alive(pid):
            self._cleanup(name)

    def reboot_instance(self, instance):
        """A soft reboot: the guest gets a system reset, qemu stays the same process."""
        name = instance["name"]
        if not self.dirs.running_pid(name):
            raise errors.HypervisorError("Failed to reboot instance %s: not running" % name)
        with QmpClient(self.dirs.qmp_socket(name), _QMP_TIMEOUT) as qmp:
            qmp.execute("system_reset")
            status = qmp.execute("query-status")
            if status.get("status") == "paused":
                qmp.execute("cont")

    # --- state ------------------------------------------------------------------------
    def list_instances(self, hvparams=None):
        return [n for n in self.dirs.names() if self.dirs.running_pid(n)]

    def get_instance_info(self, instance_name, hvparams=None):
        pid = self.dirs.running_pid(instance_name)
        if not pid:
            return None
        runtime = self.dirs.load_runtime(instance_name) or {}
        memory = runtime.get("memory", 0)
        state = "running"
        try:
            with QmpClient(self.dirs.qmp_socket(instance_name), _INFO_QMP_TIMEOUT) as qmp:
                state = qmp.execute("query-status").get("status", state)
                state = _STATE_NAMES.get(state, state)
                try:
                    actual = qmp.execute("query-balloon").get("actual")
                    if actual:
                        memory = actual // (1024 * 1024)
                except QmpError:
                    pass
        except QmpError as err:
            logging.debug("No QMP status for %s: %s", instance_name, err)
        return (instance_name, pid, memory, runtime.get("vcpus", 1), state,
                _cpu_seconds(pid))

    def get_node_info(self, hvparams=None):
        mem = read_meminfo_mib()
        total = mem.get("MemTotal", 0)
        free = mem.get("MemAvailable", mem.get("MemFree", 0))
        used_by_instances = 0
        for name in self.list_instances():
            used_by_instances += (self.dirs.load_runtime(name) or {}).get("memory", 0)
        sockets, nodes = _cpu_topology()
        cpus = os.cpu_count() or 1
        result = {"memory_total": total, "memory_free": free,
                  "memory_dom0": max(0, total - free - used_by_instances),
                  "memory_hv": 0, "cpu_total": cpus, "cpu_nodes": nodes,
                  "cpu_sockets": sockets, "cpu_dom0": cpus}
        try:
            hvp = params.typed(hvparams or {})
            info = qemu_info.probe(resolve_kvm_path(hvp[constants.HV_KVM_PATH]))
            result["hv_version"] = list(info.version)
        except errors.HypervisorError:
            pass
        return result

    def verify(self, hvparams=None):
        hvp = params.typed(hvparams or {})
        path = resolve_kvm_path(hvp[constants.HV_KVM_PATH])
        if not os.access(path, os.X_OK):
            return "The KVM binary ('%s') does not exist or is not executable" % path
        try:
            qemu_info.probe(path)
        except errors.HypervisorError as err:
            return "The KVM binary %s does not work: %s" % (path, err)
        if hvp["serial_console"] and not any(
                os.access(os.path.join(d, SOCAT), os.X_OK)
                for d in process.SAFE_PATH.split(":")):
            return "socat (needed for the serial console) is not installed"
        return None

    # --- console and memory --------------------------------------------------------
    def get_console(self, instance, primary_node, node_group, hvparams, beparams):
        hvp = params.typed(hvparams or instance.get("hvparams") or {})
        name = instance["name"]
        if hvp["serial_console"]:
            node_name = primary_node["name"]
            cmd = [SOCAT, "STDIO,echo=0,icanon=0,escape=%s" % SOCAT_ESCAPE,
                   "UNIX-CONNECT:%s" % node_serial_socket(node_name, name)]
            return {"instance": name, "kind": "ssh", "host": node_name,
                    "address": primary_node.get("primary_ip") or node_name,
                    "port": primary_node.get("ssh_port"), "user": "root", "command": cmd}
        port = instance.get("network_port")
        if hvp["vnc_bind_address"] and port:
            return {"instance": name, "kind": "vnc", "host": primary_node["name"],
                    "port": port, "display": port - constants.VNC_BASE_PORT}
        if hvp["spice_bind"] and port:
            return {"instance": name, "kind": "spice", "host": hvp["spice_bind"],
                    "port": port}
        return {"instance": name, "kind": "message",
                "message": "No serial shell for instance %s" % name}

    def balloon_instance_memory(self, instance, mem):
        name = instance["name"]
        if not self.dirs.running_pid(name):
            raise errors.HypervisorError("Cannot balloon instance %s: not running" % name)
        if mem <= 0:
            raise errors.HypervisorError("Invalid memory size %r" % (mem,))
        with QmpClient(self.dirs.qmp_socket(name), _QMP_TIMEOUT) as qmp:
            qmp.execute("balloon", {"value": int(mem) * 1024 * 1024})
        runtime = self.dirs.load_runtime(name)
        if runtime:
            runtime["memory"] = int(mem)
            self.dirs.save_runtime(name, runtime)
