"""The fake hypervisor: instances are state files, nothing is executed.

It fills the whole contract so that clusters, jobs and tests run without real VMs; the
state files live in the node's run directory and survive a noded restart.
"""

import os
import time

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import serializer
from ganeti.hypervisor.base import Hypervisor, read_meminfo_mib
from ganeti.utils import io




class FakeHypervisor(Hypervisor):
    PARAMETERS = {
        constants.HV_MIGRATION_MODE: (lambda v: v in constants.HT_MIGRATION_MODES,
                                      "one of live, non-live"),
    }
    CAN_MIGRATE = True

    def __init__(self, state_dir: str | None = None):
        self._dir = state_dir or pathutils.FAKE_HV_DIR

    def _path(self, name: str) -> str:
        if "/" in name or name.startswith("."):
            raise errors.HypervisorError("Invalid instance name %r" % name)
        return os.path.join(self._dir, name)

    def start_instance(self, instance, block_devices, startup_paused):
        name = instance["name"]
        path = self._path(name)
        if os.path.exists(path):
            raise errors.HypervisorError("Failed to start instance %s: already running"
                                         % name)
        for dev in block_devices:
            if dev and dev.get("path") and not os.path.exists(dev["path"]):
                raise errors.HypervisorError("Failed to start instance %s: disk %s missing"
                                             % (name, dev["path"]))
        os.makedirs(self._dir, mode=0o755, exist_ok=True)
        beparams = instance.get("beparams", {})
        state = {"name": name, "memory": beparams.get(constants.BE_MAXMEM, 128),
                 "vcpus": beparams.get(constants.BE_VCPUS, 1),
                 "started": time.time(), "paused": bool(startup_paused),
                 "disks": [d.get("path") for d in block_devices if d]}
        io.write_file(path, serializer.dump_json(state), mode=0o644, fsync=False)

    def stop_instance(self, instance, force=False, retry=False, name=None, timeout=None):
        name = name or instance["name"]
        io.remove_file(self._path(name))

    def reboot_instance(self, instance):
        path = self._path(instance["name"])
        if not os.path.exists(path):
            raise errors.HypervisorError("Failed to reboot instance %s: not running"
                                         % instance["name"])
        state = self._read(instance["name"])
        state["started"] = time.time()
        io.write_file(path, serializer.dump_json(state), mode=0o644, fsync=False)

    def _read(self, name: str) -> dict:
        try:
            return serializer.load_json(io.read_file(self._path(name)))
        except (OSError, ValueError):
            return {}

    def list_instances(self, hvparams=None):
        try:
            return sorted(n for n in os.listdir(self._dir) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def get_instance_info(self, instance_name, hvparams=None):
        if not os.path.exists(self._path(instance_name)):
            return None
        state = self._read(instance_name)
        cpu_time = max(0.0, time.time() - state.get("started", time.time()))
        return (instance_name, 0, state.get("memory", 0), state.get("vcpus", 1),
                "running" if not state.get("paused") else "paused", cpu_time)

    def get_node_info(self, hvparams=None):
        mem = read_meminfo_mib()
        total = mem.get("MemTotal", 0)
        used = sum(self._read(n).get("memory", 0) for n in self.list_instances())
        cpus = os.cpu_count() or 1
        return {"memory_total": total, "memory_free": max(0, total - used),
                "memory_dom0": 0, "memory_hv": 0, "cpu_total": cpus, "cpu_nodes": 1,
                "cpu_sockets": 1, "cpu_dom0": 0}

    def verify(self, hvparams=None):
        if os.path.exists(self._dir) and not os.access(self._dir, os.W_OK):
            return "The fake hypervisor state directory %s is not writable" % self._dir
        return None

    def get_console(self, instance, primary_node, node_group, hvparams, beparams):
        return {"instance": instance["name"], "kind": "message",
                "message": "Console not available for fake hypervisor"}

    def migrate_instance(self, cluster_name, instance, target, live):
        # The state file moves with the instance; the target side re-creates it.
        self.stop_instance(instance)
