"""The Xen hypervisors (xen-pvm, xen-hvm) on the xl toolstack.

Each instance is a Xen domain created from a configuration file kept in
RUN_DIR/xen-hypervisor/config/NAME; everything goes through ``xl`` (see xl.py), whose
runner can be replaced, so the whole class is tested without Xen.
"""

import os
import time

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti.hypervisor.base import Hypervisor
from ganeti.hypervisor.xen import config
from ganeti.hypervisor.xen import params
from ganeti.hypervisor.xen.xl import XlRunner
from ganeti.utils import io

_POLL = 0.5
_MIGRATE_TIMEOUT = 3600


class XenHypervisor(Hypervisor):
    KIND = ""
    CAN_MIGRATE = True

    def __init__(self, run_dir: str | None = None, xl: XlRunner | None = None):
        self.dir = run_dir or os.path.join(pathutils.RUN_DIR, "xen-hypervisor")
        self.xl = xl or XlRunner()

    # --- parameters -----------------------------------------------------------------
    @classmethod
    def check_parameter_syntax(cls, hvparams: dict) -> None:
        for key, value in hvparams.items():
            if value is None:
                continue
            if key not in cls.PARAMETERS:
                raise errors.HypervisorError(
                    "Unknown hypervisor parameter '%s' for %s (valid: %s)"
                    % (key, cls.KIND, ", ".join(sorted(cls.PARAMETERS))))
            check, desc = cls.PARAMETERS[key]
            if not check(value):
                raise errors.HypervisorError("Invalid value %r for hypervisor parameter "
                                             "'%s': must be %s" % (value, key, desc))

    def validate_parameters(self, hvparams: dict) -> None:
        self.check_parameter_syntax(hvparams)
        hvp = params.typed(hvparams, self.KIND)
        params.check_consistency(hvp, self.KIND)
        params.check_node_paths(hvp, self.KIND)

    # --- files ------------------------------------------------------------------------
    def config_file(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise errors.HypervisorError("Invalid instance name %r" % (name,))
        return os.path.join(self.dir, "config", name)

    def make_config(self, instance: dict, block_devices: list, memory: int) -> str:
        raise NotImplementedError

    # --- life cycle -------------------------------------------------------------------
    def _domain(self, name: str):
        for dom in self.xl.list_domains():
            if dom.name == name:
                return dom
        return None

    def start_instance(self, instance, block_devices, startup_paused):
        name = instance["name"]
        hvp = params.typed(instance.get("hvparams") or {}, self.KIND)
        params.check_consistency(hvp, self.KIND)
        if self._domain(name):
            raise errors.HypervisorError("Failed to start instance %s: already running"
                                         % name)
        be = instance.get("beparams") or {}
        memory = be.get(constants.BE_MAXMEM, 128)
        text = self.make_config(instance, [d for d in block_devices if d and d.get("path")],
                                memory)
        path = self.config_file(name)
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        io.write_file(path, text, mode=0o600, fsync=False)
        args = ["create"] + (["-p"] if startup_paused else []) + [path]
        try:
            self.xl(*args)
        except errors.HypervisorError as err:
            raise errors.HypervisorError("Failed to start instance %s: %s"
                                         % (name, err)) from None

    def stop_instance(self, instance, force=False, retry=False, name=None, timeout=None):
        name = name or instance["name"]
        if self._domain(name) is None:
            io.remove_file(self.config_file(name))
            return
        if force:
            self.xl("destroy", name)
        else:
            self.xl("shutdown", name)
            if timeout is None:
                return
            deadline = time.monotonic() + timeout
            while self._domain(name) is not None and time.monotonic() < deadline:
                time.sleep(_POLL)
        if self._domain(name) is None:
            io.remove_file(self.config_file(name))

    def reboot_instance(self, instance):
        name = instance["name"]
        if self._domain(name) is None:
            raise errors.HypervisorError("Failed to reboot instance %s: not running" % name)
        self.xl("reboot", name)

    def list_instances(self, hvparams=None):
        return sorted(d.name for d in self.xl.list_domains() if not d.crashed_or_dying)

    def get_instance_info(self, instance_name, hvparams=None):
        dom = self._domain(instance_name)
        if dom is None:
            return None
        state = "paused" if "p" in dom.state else (
            "shutdown" if dom.shutdown else "running")
        return (dom.name, dom.id, dom.memory, dom.vcpus, state, dom.cpu_time)

    def get_all_instances_info(self, hvparams=None):
        result = []
        for dom in self.xl.list_domains():
            state = "paused" if "p" in dom.state else (
                "shutdown" if dom.shutdown else "running")
            result.append((dom.name, dom.id, dom.memory, dom.vcpus, state, dom.cpu_time))
        return result

    def get_node_info(self, hvparams=None):
        from ganeti.hypervisor.xen.xl import node_info_from_xl
        return node_info_from_xl(self.xl.info(), self.xl.list_domains(include_dom0=True))

    def verify(self, hvparams=None):
        try:
            self.xl.info()
        except errors.HypervisorError as err:
            return str(err)
        return None

    def get_console(self, instance, primary_node, node_group, hvparams, beparams):
        return {"instance": instance["name"], "kind": "ssh", "host": primary_node["name"],
                "address": primary_node.get("primary_ip") or primary_node["name"],
                "port": primary_node.get("ssh_port"), "user": "root",
                "command": [self.xl.xl_path, "console", instance["name"]]}

    def balloon_instance_memory(self, instance, mem):
        if mem <= 0:
            raise errors.HypervisorError("Invalid memory size %r" % (mem,))
        self.xl("mem-set", instance["name"], "%dm" % mem)

    # --- migration (xl migrate does both sides over ssh) ------------------------------
    def migrate_instance(self, cluster_name, instance, target, live):
        name = instance["name"]
        if self._domain(name) is None:
            raise errors.HypervisorError("Instance %s is not running" % name)
        args = ["migrate", "-C", self.config_file(name), "-s", "ssh -oBatchMode=yes"]
        if not live:
            # xl has no non-live mode: pause first, the target resumes it
            self.xl("pause", name)
        args += [name, target]
        try:
            self.xl(*args, timeout=_MIGRATE_TIMEOUT)
        except errors.HypervisorError:
            if not live:
                self.xl("unpause", name, check=False)
            raise
        io.remove_file(self.config_file(name))


class XenPvmHypervisor(XenHypervisor):
    KIND = constants.HT_XEN_PVM
    PARAMETERS = dict(params.PVM_CHECKS)

    def make_config(self, instance, block_devices, memory):
        hvp = params.typed(instance.get("hvparams") or {}, self.KIND)
        return config.pvm_config(instance, hvp, block_devices, memory)


class XenHvmHypervisor(XenHypervisor):
    KIND = constants.HT_XEN_HVM
    PARAMETERS = dict(params.HVM_CHECKS)

    def make_config(self, instance, block_devices, memory):
        hvp = params.typed(instance.get("hvparams") or {}, self.KIND)
        return config.hvm_config(instance, hvp, block_devices, memory)

    def get_console(self, instance, primary_node, node_group, hvparams, beparams):
        hvp = params.typed(hvparams or instance.get("hvparams") or {}, self.KIND)
        port = instance.get("network_port")
        if hvp["vnc_bind_address"] and port:
            return {"instance": instance["name"], "kind": "vnc",
                    "host": primary_node["name"], "port": port,
                    "display": port - constants.VNC_BASE_PORT}
        return super().get_console(instance, primary_node, node_group, hvparams,
                                   beparams)
