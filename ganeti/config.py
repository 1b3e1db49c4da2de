"""The configuration store of the master: config.data, serials, ssconf values.

Only masterd writes config.data (atomic write with fsync + rename).  After each write
the new file is pushed to the master candidates and, when they changed, the ssconf
values to every node; concurrent writers share one push.
"""

import copy
import logging
import os
import random
import threading
import time
import uuid as uuid_mod

from ganeti import constants
from ganeti import errors
from ganeti import objects
from ganeti import pathutils
from ganeti import serializer
from ganeti.utils import io
from ganeti.utils.text import nice_sort


def generate_uuid() -> str:
    return str(uuid_mod.uuid4())


def load_config_file(path: str) -> objects.ConfigData:
    try:
        text = io.read_file(path)
    except FileNotFoundError:
        raise errors.ConfigurationError("Cluster configuration incomplete: %s missing"
                                        % path) from None
    try:
        data = objects.ConfigData.from_dict(serializer.load_json(text))
    except ValueError as err:
        raise errors.ConfigurationError("Cannot parse %s: %s" % (path, err)) from None
    major, minor, _ = constants.split_version(data.version or 0)
    if (major, minor) != (constants.VERSION_MAJOR, constants.VERSION_MINOR):
        raise errors.ConfigVersionMismatch(
            "Configuration version %s does not match this software (%s)"
            % (data.version, constants.CONFIG_VERSION))
    return data


def instance_disk_template(data: objects.ConfigData, inst: objects.Instance) -> str:
    """Derived from the disks: no disks means diskless."""
    if not inst.disks:
        return constants.DT_DISKLESS
    disk = data.disks.get(inst.disks[0])
    return disk.dev_type if disk else constants.DT_DISKLESS


def instance_secondary_nodes(data: objects.ConfigData, inst: objects.Instance) -> list:
    nodes = []
    for disk_uuid in inst.disks:
        disk = data.disks.get(disk_uuid)
        for node in (disk.nodes if disk else []):
            if node != inst.primary_node and node not in nodes:
                nodes.append(node)
    return nodes


def compute_ssconf_values(data: objects.ConfigData) -> dict:
    """All ssconf key -> value pairs for a configuration."""
    cluster = data.cluster
    nodes = list(data.nodes.values())
    by_name = sorted(nodes, key=lambda n: n.name)
    master = data.nodes.get(cluster.master_node)
    candidates = [n for n in by_name if n.master_candidate]
    names = nice_sort([n.name for n in nodes])
    node_map = {n.name: n for n in nodes}
    values = {
        constants.SS_CLUSTER_NAME: cluster.cluster_name,
        constants.SS_CLUSTER_TAGS: sorted(cluster.tags or []),
        constants.SS_FILE_STORAGE_DIR: cluster.file_storage_dir or "",
        constants.SS_SHARED_FILE_STORAGE_DIR: cluster.shared_file_storage_dir or "",
        constants.SS_MASTER_CANDIDATES: [n.name for n in candidates],
        constants.SS_MASTER_CANDIDATES_IPS: [n.primary_ip for n in candidates],
        constants.SS_MASTER_CANDIDATES_CERTS: ["%s=%s" % (k, v) for k, v in
                                               sorted(cluster.candidate_certs.items())],
        constants.SS_MASTER_IP: cluster.master_ip,
        constants.SS_MASTER_NETDEV: cluster.master_netdev,
        constants.SS_MASTER_NETMASK: str(cluster.master_netmask),
        constants.SS_MASTER_NODE: master.name if master else "NO MASTER",
        constants.SS_NODE_LIST: names,
        constants.SS_NODE_PRIMARY_IPS: ["%s %s" % (n, node_map[n].primary_ip)
                                        for n in names],
        constants.SS_NODE_SECONDARY_IPS: ["%s %s" % (n, node_map[n].secondary_ip)
                                          for n in names],
        constants.SS_NODE_VM_CAPABLE: ["%s=%s" % (n, node_map[n].vm_capable)
                                       for n in names],
        constants.SS_OFFLINE_NODES: [n for n in names if node_map[n].offline],
        constants.SS_ONLINE_NODES: [n for n in names if not node_map[n].offline],
        constants.SS_PRIMARY_IP_FAMILY: str(cluster.primary_ip_family),
        constants.SS_INSTANCE_LIST: nice_sort([i.name for i in data.instances.values()]),
        constants.SS_RELEASE_VERSION: constants.RELEASE_VERSION,
        constants.SS_HYPERVISOR_LIST: list(cluster.enabled_hypervisors),
        constants.SS_MAINTAIN_NODE_HEALTH: str(bool(cluster.maintain_node_health)),
        constants.SS_UID_POOL: [("%d" % lo) if lo == hi else "%d-%d" % (lo, hi)
                                for lo, hi in cluster.uid_pool],
        constants.SS_NODEGROUPS: ["%s %s" % (g.uuid, g.name)
                                  for g in data.nodegroups.values()],
        constants.SS_NETWORKS: ["%s %s" % (u, n.get("name", "")) for u, n in
                                (data.networks or {}).items()],
        constants.SS_ENABLED_USER_SHUTDOWN: str(bool(cluster.enabled_user_shutdown)),
        constants.SS_SSH_PORTS: ["%s=%s" % (n, cluster.fill_nd(
            node_map[n], data.nodegroups.get(node_map[n].group))[constants.ND_SSH_PORT])
            for n in names],
    }
    for hv in constants.HYPER_TYPES:
        params = objects.fill_dict(constants.HVC_DEFAULTS.get(hv, {}),
                                   cluster.hvparams.get(hv, {}))
        values[constants.SS_HVPARAMS_PREF + hv] = [
            "%s=%s" % (k, _ssconf_param(v)) for k, v in sorted(params.items())]
    return values


def _ssconf_param(value) -> str:
    if isinstance(value, (str, bool, int, float)):
        return str(value)
    return serializer.dump_json(value)


def _distributes(method):
    """After a change made under the config lock, push it to the nodes (unlocked)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            self._distribute_pending()
    return wrapper


class ConfigWriter:
    """Thread-safe access to the cluster configuration held by masterd."""

    def __init__(self, path: str | None = None, distributor=None, offline: bool = False):
        self._path = path or pathutils.CLUSTER_CONF_FILE
        self._lock = threading.RLock()
        self._data = load_config_file(self._path)
        self._distributor = distributor
        self._offline = offline
        self._last_ssconf = compute_ssconf_values(self._data)
        self._save_gen = 0
        self._dist_gen = 0
        self._dist_lock = threading.Lock()
        self._pending = threading.local()
        self._ssconf_dirty = False
        self._last_text = ""
        self._temporary_macs: set[str] = set()

    def set_distributor(self, distributor) -> None:
        self._distributor = distributor

    # --- reading -----------------------------------------------------------
    @property
    def data(self) -> objects.ConfigData:
        return self._data

    def snapshot(self) -> objects.ConfigData:
        with self._lock:
            return self._data.copy()

    def get_cluster_info(self) -> objects.Cluster:
        return self._data.cluster

    def get_cluster_name(self) -> str:
        return self._data.cluster.cluster_name

    def get_master_node(self) -> str:
        return self._data.cluster.master_node

    def get_master_node_name(self) -> str:
        return self._data.nodes[self._data.cluster.master_node].name

    def get_node_info(self, node_uuid: str) -> objects.Node | None:
        return self._data.nodes.get(node_uuid)

    def get_node_info_by_name(self, name: str) -> objects.Node | None:
        for node in self._data.nodes.values():
            if node.name == name:
                return node
        return None

    def get_all_nodes_info(self) -> dict:
        return dict(self._data.nodes)

    def get_node_list(self) -> list[str]:
        return list(self._data.nodes)

    def get_online_node_list(self) -> list[str]:
        return [u for u, n in self._data.nodes.items() if not n.offline]

    def get_node_name(self, node_uuid: str) -> str:
        node = self._data.nodes.get(node_uuid)
        return node.name if node else node_uuid

    def get_node_names(self, uuids) -> list[str]:
        return [self.get_node_name(u) for u in uuids]

    def get_master_candidates(self) -> list[objects.Node]:
        return [n for n in self._data.nodes.values() if n.master_candidate]

    def get_node_group(self, group_uuid: str) -> objects.NodeGroup | None:
        return self._data.nodegroups.get(group_uuid)

    def get_all_node_groups_info(self) -> dict:
        return dict(self._data.nodegroups)

    def lookup_node_group(self, name_or_uuid: str | None) -> str:
        groups = self._data.nodegroups
        if name_or_uuid is None:
            for group in groups.values():
                if group.name == constants.INITIAL_NODE_GROUP_NAME:
                    return group.uuid
            return next(iter(groups))
        if name_or_uuid in groups:
            return name_or_uuid
        for group in groups.values():
            if group.name == name_or_uuid:
                return group.uuid
        raise errors.OpPrereqError("Node group '%s' not found" % name_or_uuid,
                                   errors.ECODE_NOENT)

    def get_instance_info(self, inst_uuid: str) -> objects.Instance | None:
        return self._data.instances.get(inst_uuid)

    def get_instance_info_by_name(self, name: str) -> objects.Instance | None:
        for inst in self._data.instances.values():
            if inst.name == name:
                return inst
        return None

    def get_all_instances_info(self) -> dict:
        return dict(self._data.instances)

    def get_instance_list(self) -> list[str]:
        return list(self._data.instances)

    def get_instance_disks(self, inst_uuid: str) -> list[objects.Disk]:
        inst = self._data.instances[inst_uuid]
        return [self._data.disks[d] for d in inst.disks if d in self._data.disks]

    def get_instance_disk_template(self, inst_uuid: str) -> str:
        return instance_disk_template(self._data, self._data.instances[inst_uuid])

    def get_instance_secondary_nodes(self, inst_uuid: str) -> list[str]:
        return instance_secondary_nodes(self._data, self._data.instances[inst_uuid])

    def get_instance_all_nodes(self, inst_uuid: str) -> list[str]:
        inst = self._data.instances[inst_uuid]
        return [inst.primary_node] + self.get_instance_secondary_nodes(inst_uuid)

    def get_node_instances(self, node_uuid: str) -> tuple[list, list]:
        primary, secondary = [], []
        for inst in self._data.instances.values():
            if inst.primary_node == node_uuid:
                primary.append(inst.uuid)
            elif node_uuid in instance_secondary_nodes(self._data, inst):
                secondary.append(inst.uuid)
        return primary, secondary

    def get_ssconf_values(self) -> dict:
        with self._lock:
            return compute_ssconf_values(self._data)

    def get_config_text(self) -> str:
        with self._lock:
            return serializer.dump_json(self._data.to_dict())

    # --- generators --------------------------------------------------------
    def generate_mac(self) -> str:
        prefix = self._data.cluster.mac_prefix
        used = {nic.mac for inst in self._data.instances.values() for nic in inst.nics}
        with self._lock:
            for _ in range(1000):
                mac = "%s:%02x:%02x:%02x" % (prefix, random.randrange(256),
                                             random.randrange(256), random.randrange(256))
                if mac not in used and mac not in self._temporary_macs:
                    self._temporary_macs.add(mac)
                    return mac
        raise errors.OpExecError("Cannot generate a unique MAC address")

    def release_mac(self, mac: str) -> None:
        with self._lock:
            self._temporary_macs.discard(mac)

    # --- writing -----------------------------------------------------------
    @_distributes
    def add_node(self, node: objects.Node) -> None:
        with self._lock:
            if self.get_node_info_by_name(node.name):
                raise errors.OpPrereqError("Node '%s' is already in the configuration"
                                           % node.name, errors.ECODE_EXISTS)
            node.uuid = node.uuid or generate_uuid()
            node.stamp_new()
            # the defaults a reload would fill in (powered, secondary_ip, ...)
            node.upgrade_config()
            self._data.nodes[node.uuid] = node
            self._bump_cluster()
            self._write()

    @_distributes
    def remove_node(self, node_uuid: str) -> None:
        with self._lock:
            if node_uuid not in self._data.nodes:
                raise errors.ConfigurationError("Unknown node %s" % node_uuid)
            del self._data.nodes[node_uuid]
            self._data.cluster.candidate_certs.pop(node_uuid, None)
            self._bump_cluster()
            self._write()

    @_distributes
    def add_instance(self, inst: objects.Instance, disks: list[objects.Disk]) -> None:
        with self._lock:
            if self.get_instance_info_by_name(inst.name):
                raise errors.OpPrereqError("Instance '%s' is already in the cluster"
                                           % inst.name, errors.ECODE_EXISTS)
            inst.uuid = inst.uuid or generate_uuid()
            inst.stamp_new()
            inst.upgrade_config()
            for disk in disks:
                disk.upgrade_config()
                disk.uuid = disk.uuid or generate_uuid()
                disk.serial_no = disk.serial_no or 1
                disk.ctime = disk.mtime = time.time()
                self._data.disks[disk.uuid] = disk
            inst.disks = [d.uuid for d in disks]
            self._data.instances[inst.uuid] = inst
            for nic in inst.nics:
                self._temporary_macs.discard(nic.mac)
            self._bump_cluster()
            self._write()

    @_distributes
    def remove_instance(self, inst_uuid: str) -> None:
        with self._lock:
            inst = self._data.instances.pop(inst_uuid, None)
            if inst is None:
                raise errors.ConfigurationError("Unknown instance %s" % inst_uuid)
            for disk_uuid in inst.disks:
                self._data.disks.pop(disk_uuid, None)
            self._bump_cluster()
            self._write()

    @_distributes
    def update(self, obj, bump_cluster: bool = False) -> None:
        """Record a change of an object already in the configuration."""
        with self._lock:
            if isinstance(obj, objects.Cluster):
                self._data.cluster = obj
            elif isinstance(obj, objects.Node):
                self._data.nodes[obj.uuid] = obj
            elif isinstance(obj, objects.Instance):
                self._data.instances[obj.uuid] = obj
            elif isinstance(obj, objects.NodeGroup):
                self._data.nodegroups[obj.uuid] = obj
            elif isinstance(obj, objects.Disk):
                self._data.disks[obj.uuid] = obj
            else:
                raise errors.ProgrammerError("Cannot update %r" % obj)
            obj.serial_no = (obj.serial_no or 0) + 1
            obj.mtime = time.time()
            if bump_cluster and not isinstance(obj, objects.Cluster):
                self._bump_cluster()
            self._write()

    @_distributes
    def set_instance_admin_state(self, inst_uuid: str, state: str,
                                 source: str = constants.ADMIN_SOURCE) -> None:
        with self._lock:
            inst = self._data.instances[inst_uuid]
            if inst.admin_state == state and inst.admin_state_source == source:
                return
            inst.admin_state = state
            inst.admin_state_source = source
            inst.serial_no += 1
            inst.mtime = time.time()
            self._write()

    @_distributes
    def set_disks_active(self, inst_uuid: str, active: bool) -> None:
        with self._lock:
            inst = self._data.instances[inst_uuid]
            if inst.disks_active != active:
                inst.disks_active = active
                inst.serial_no += 1
                self._write()

    def _bump_cluster(self) -> None:
        cluster = self._data.cluster
        cluster.serial_no += 1
        cluster.mtime = time.time()

    def _write(self) -> None:
        """Write config.data (the caller holds the lock); distribution comes after.

        The push to the nodes happens in ``_distribute_pending``, outside the config
        lock, so that concurrent jobs are not serialised behind the network.
        """
        data = self._data
        data.serial_no += 1
        data.mtime = time.time()
        text = serializer.dump_json(data.to_dict())
        from ganeti import privsep
        # masterd:confd 0640, so that confd (and the candidates' copies) can read it
        io.write_file(self._path, text, mode=0o640, gid=privsep.config_file_gid())
        self._save_gen += 1
        self._last_text = text
        if self._distributor is not None and not self._offline:
            ssconf = compute_ssconf_values(data)
            if ssconf != self._last_ssconf:
                self._last_ssconf = ssconf
                self._ssconf_dirty = True
            self._pending.gen = self._save_gen

    def _distribute_pending(self) -> None:
        """Push the newest config (and ssconf when changed) once for all writers.

        A writer that finds its generation already pushed by another returns at once,
        so a burst of jobs costs one push, and every job returns only after its own
        change reached the candidates.
        """
        my_gen = getattr(self._pending, "gen", 0)
        if not my_gen or self._distributor is None or self._offline:
            return
        self._pending.gen = 0
        with self._dist_lock:
            if self._dist_gen >= my_gen:
                return
            with self._lock:
                gen = self._save_gen
                text = self._last_text
                ssconf = self._last_ssconf if self._ssconf_dirty else None
                self._ssconf_dirty = False
                snapshot = self._data
            try:
                self._distributor(text, ssconf, snapshot)
            except Exception:  # noqa: BLE001 - replication problems are reported
                logging.exception("Failed to distribute the configuration")
            self._dist_gen = max(self._dist_gen, gen)

    def write_now(self) -> None:
        with self._lock:
            self._write()
        self._distribute_pending()


def write_initial_config(path: str, data: objects.ConfigData) -> None:
    data.version = constants.CONFIG_VERSION
    data.serial_no = data.serial_no or 1
    data.ctime = data.ctime or time.time()
    data.mtime = time.time()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    io.write_file(path, serializer.dump_json(data.to_dict(), indent=True), mode=0o640)


def redacted_config(data: objects.ConfigData) -> dict:
    """A copy safe to show: secrets replaced by <redacted>."""
    result = copy.deepcopy(data.to_dict())
    for disk in result.get("disks", {}).values():
        if disk.get("dev_type") == constants.DT_DRBD8 and len(disk.get("logical_id", [])) == 6:
            disk["logical_id"][5] = constants.REDACTED
    for inst in result.get("instances", {}).values():
        if inst.get("osparams_private"):
            inst["osparams_private"] = {k: constants.REDACTED
                                        for k in inst["osparams_private"]}
    return result
