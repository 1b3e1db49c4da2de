"""Configuration objects (cluster, nodes, groups, instances, disks, NICs).

Each object converts to and from the dict form used in config.data and on the wire;
unknown keys are kept so that a newer config survives a round trip.
"""

import copy
import time

from ganeti import constants
from ganeti import errors


def fill_dict(defaults: dict, custom: dict | None, skip_keys=()) -> dict:
    """Overlay ``custom`` on a copy of ``defaults`` (``None`` values reset to default)."""
    result = copy.deepcopy(defaults)
    for key, value in (custom or {}).items():
        if key in skip_keys:
            continue
        if value is None:
            result.pop(key, None)
            if key in defaults:
                result[key] = copy.deepcopy(defaults[key])
        else:
            result[key] = copy.deepcopy(value)
    return result


def upgrade_group_params(params: dict | None) -> dict:
    return dict(params or {})


class ConfigObject:
    """A config object: named slots, dict conversion, copy."""

    __slots__: tuple = ("_extra",)
    # slots that hold nested objects: slot -> (class, "list"|"dict"|"one")
    NESTED: dict = {}

    def __init__(self, **kwargs):
        for name in self._all_slots():
            setattr(self, name, None)
        self._extra = {}
        for key, value in kwargs.items():
            if key in self._all_slots():
                setattr(self, key, value)
            else:
                raise errors.ProgrammerError("%s has no attribute %s"
                                             % (self.__class__.__name__, key))

    @classmethod
    def _all_slots(cls) -> tuple:
        names = []
        for klass in reversed(cls.__mro__):
            for name in getattr(klass, "__slots__", ()):
                if name != "_extra" and name not in names:
                    names.append(name)
        return tuple(names)

    def to_dict(self) -> dict:
        """The dict form; values are shared, not copied (it is made to be serialised;
        ``from_dict`` copies)."""
        result = dict(self._extra)
        for name in self._all_slots():
            value = getattr(self, name)
            if value is None:
                continue
            nested = self.NESTED.get(name)
            if nested:
                kind = nested[1]
                if kind == "list":
                    value = [v.to_dict() for v in value]
                elif kind == "dict":
                    value = {k: v.to_dict() for k, v in value.items()}
                else:
                    value = value.to_dict()
            result[name] = value
        return result

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict):
            raise errors.ConfigurationError("Invalid %s: expected an object, got %r"
                                            % (cls.__name__, type(data).__name__))
        obj = cls()
        slots = cls._all_slots()
        for key, value in data.items():
            if key not in slots:
                obj._extra[key] = copy.deepcopy(value)
                continue
            nested = cls.NESTED.get(key)
            if nested and value is not None:
                klass, kind = nested
                if kind == "list":
                    value = [klass.from_dict(v) for v in value]
                elif kind == "dict":
                    value = {k: klass.from_dict(v) for k, v in value.items()}
                else:
                    value = klass.from_dict(value)
            else:
                value = copy.deepcopy(value)
            setattr(obj, key, value)
        obj.upgrade_config()
        return obj

    def upgrade_config(self) -> None:
        """Fill in defaults for attributes missing from older configs."""

    def copy(self):
        return self.__class__.from_dict(self.to_dict())

    def __repr__(self):
        return "<%s %s>" % (self.__class__.__name__,
                            getattr(self, "name", None) or getattr(self, "uuid", ""))


class TaggableObject(ConfigObject):
    __slots__ = ("tags",)

    def get_tags(self) -> set:
        if self.tags is None:
            self.tags = []
        return set(self.tags)

    def add_tag(self, tag: str) -> None:
        validate_tag(tag)
        tags = self.get_tags()
        if len(tags) >= constants.MAX_TAGS_PER_OBJ:
            raise errors.TagError("Too many tags")
        tags.add(tag)
        self.tags = sorted(tags)

    def remove_tag(self, tag: str) -> None:
        tags = self.get_tags()
        if tag not in tags:
            raise errors.TagError("Tag not found")
        tags.discard(tag)
        self.tags = sorted(tags)


def validate_tag(tag: str) -> None:
    import re
    if not isinstance(tag, str):
        raise errors.TagError("Invalid tag type (not a string)")
    if len(tag) > constants.TAG_MAX_LEN:
        raise errors.TagError("Tag too long (>%d characters)" % constants.TAG_MAX_LEN)
    if not tag:
        raise errors.TagError("Tags cannot be empty")
    if not re.match(r"^[\w.+*/:@-]+$", tag):
        raise errors.TagError("Tag contains invalid characters")


class TimestampedObject(TaggableObject):
    __slots__ = ("serial_no", "ctime", "mtime", "uuid")

    def stamp_new(self) -> None:
        now = time.time()
        self.ctime = self.ctime or now
        self.mtime = now
        self.serial_no = self.serial_no or 1

    def bump(self) -> None:
        self.serial_no = (self.serial_no or 0) + 1
        self.mtime = time.time()


class NIC(ConfigObject):
    __slots__ = ("uuid", "name", "mac", "ip", "network", "nicparams", "pci", "hvinfo")

    def upgrade_config(self) -> None:
        if self.nicparams is None:
            self.nicparams = {}


class Disk(ConfigObject):
    __slots__ = ("uuid", "name", "dev_type", "logical_id", "children", "nodes",
                 "iv_name", "size", "mode", "params", "spindles", "pci", "hvinfo",
                 "forthcoming", "serial_no", "ctime", "mtime")

    def upgrade_config(self) -> None:
        if self.children is None:
            self.children = []
        if self.params is None:
            self.params = {}
        if self.mode is None:
            self.mode = constants.DISK_RDWR
        if self.nodes is None:
            self.nodes = []

    def to_dict(self) -> dict:
        result = super().to_dict()
        result["children"] = [c if isinstance(c, dict) else c.to_dict()
                              for c in (self.children or [])]
        return result

    @classmethod
    def from_dict(cls, data: dict):
        obj = super().from_dict(data)
        obj.children = [Disk.from_dict(c) if isinstance(c, dict) else c
                        for c in (obj.children or [])]
        return obj

    @property
    def file_path(self) -> str | None:
        if self.dev_type in constants.DTS_FILEBASED and self.logical_id:
            return self.logical_id[1]
        return None


class Instance(TimestampedObject):
    __slots__ = ("name", "primary_node", "os", "hypervisor", "hvparams", "beparams",
                 "osparams", "osparams_private", "admin_state", "admin_state_source",
                 "nics", "disks", "disks_active", "network_port", "forthcoming")
    NESTED = {"nics": (NIC, "list")}

    def upgrade_config(self) -> None:
        for name in ("hvparams", "beparams", "osparams", "osparams_private"):
            if getattr(self, name) is None:
                setattr(self, name, {})
        if self.nics is None:
            self.nics = []
        if self.disks is None:
            self.disks = []
        if self.admin_state is None:
            self.admin_state = constants.ADMINST_DOWN
        if self.admin_state_source is None:
            self.admin_state_source = constants.ADMIN_SOURCE
        if self.disks_active is None:
            self.disks_active = False
        if self.tags is None:
            self.tags = []
        if self.forthcoming is None:
            self.forthcoming = False


class Node(TimestampedObject):
    __slots__ = ("name", "primary_ip", "secondary_ip", "master_candidate", "offline",
                 "drained", "group", "master_capable", "vm_capable", "ndparams",
                 "powered", "hv_state_static", "disk_state_static")

    def upgrade_config(self) -> None:
        for name, default in (("master_candidate", False), ("offline", False),
                              ("drained", False), ("master_capable", True),
                              ("vm_capable", True), ("powered", True)):
            if getattr(self, name) is None:
                setattr(self, name, default)
        if self.ndparams is None:
            self.ndparams = {}
        if self.tags is None:
            self.tags = []
        if self.secondary_ip is None:
            self.secondary_ip = self.primary_ip


class NodeGroup(TimestampedObject):
    __slots__ = ("name", "alloc_policy", "ndparams", "diskparams", "ipolicy", "networks",
                 "hv_state_static", "disk_state_static")

    def upgrade_config(self) -> None:
        for name in ("ndparams", "diskparams", "ipolicy", "networks"):
            if getattr(self, name) is None:
                setattr(self, name, {})
        if self.alloc_policy is None:
            self.alloc_policy = constants.ALLOC_POLICY_PREFERRED
        if self.tags is None:
            self.tags = []


class Cluster(TimestampedObject):
    __slots__ = ("cluster_name", "master_node", "master_ip", "master_netdev",
                 "master_netmask", "primary_ip_family", "use_external_mip_script",
                 "rsahostkeypub", "dsahostkeypub", "highest_used_port", "tcpudp_port_pool",
                 "mac_prefix", "volume_group_name", "reserved_lvs",
                 "drbd_usermode_helper", "default_bridge", "default_hypervisor",
                 "enabled_hypervisors", "hvparams", "os_hvp", "beparams", "osparams",
                 "osparams_private_cluster", "nicparams", "ndparams", "diskparams",
                 "ipolicy", "candidate_pool_size", "modify_etc_hosts", "modify_ssh_setup",
                 "maintain_node_health", "uid_pool", "default_iallocator",
                 "default_iallocator_params", "hidden_os", "blacklisted_os",
                 "prealloc_wipe_disks", "hv_state_static", "disk_state_static",
                 "enabled_disk_templates", "candidate_certs", "max_running_jobs",
                 "max_tracked_jobs", "install_image", "instance_communication_network",
                 "zeroing_image", "compression_tools", "enabled_user_shutdown",
                 "data_collectors", "ssh_key_type", "ssh_key_bits", "file_storage_dir",
                 "shared_file_storage_dir", "gluster_storage_dir")

    def upgrade_config(self) -> None:
        defaults = {
            "hvparams": {}, "os_hvp": {}, "osparams": {}, "osparams_private_cluster": {},
            "beparams": {constants.VALUE_DEFAULT: dict(constants.BEC_DEFAULTS)},
            "nicparams": {constants.VALUE_DEFAULT: dict(constants.NICC_DEFAULTS)},
            "ndparams": dict(constants.NDC_DEFAULTS), "diskparams": {},
            "ipolicy": copy.deepcopy(constants.IPOLICY_DEFAULTS),
            "candidate_pool_size": constants.DEFAULT_CANDIDATE_POOL_SIZE,
            "modify_etc_hosts": True, "modify_ssh_setup": True,
            "maintain_node_health": False, "uid_pool": [], "default_iallocator": "",
            "default_iallocator_params": {}, "hidden_os": [], "blacklisted_os": [],
            "prealloc_wipe_disks": False, "enabled_disk_templates": [],
            "candidate_certs": {}, "max_running_jobs": constants.DEFAULT_MAX_RUNNING_JOBS,
            "max_tracked_jobs": constants.DEFAULT_MAX_TRACKED_JOBS,
            "install_image": "", "instance_communication_network": "",
            "zeroing_image": "", "compression_tools": list(constants.DEFAULT_COMPRESSION_TOOLS),
            "enabled_user_shutdown": False, "data_collectors": {},
            "ssh_key_type": constants.SSH_DEFAULT_KEY_TYPE,
            "ssh_key_bits": constants.SSH_DEFAULT_KEY_BITS, "tcpudp_port_pool": [],
            "highest_used_port": constants.FIRST_DRBD_PORT - 1,
            "use_external_mip_script": False, "reserved_lvs": [], "tags": [],
            "enabled_hypervisors": [], "primary_ip_family": constants.IP4_FAMILY,
            "mac_prefix": constants.DEFAULT_MAC_PREFIX,
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for hv in constants.HYPER_TYPES:
            self.hvparams.setdefault(hv, {})
        for dt in constants.DISK_TEMPLATES:
            self.diskparams.setdefault(dt, {})
        self.ndparams = fill_dict(constants.NDC_DEFAULTS, self.ndparams)

    # Parameter filling ------------------------------------------------------
    def fill_hv(self, instance: Instance, skip_globals: bool = False) -> dict:
        hv = instance.hypervisor
        base = fill_dict(constants.HVC_DEFAULTS.get(hv, {}), self.hvparams.get(hv, {}))
        base = fill_dict(base, self.os_hvp.get(instance.os, {}).get(hv, {}))
        return fill_dict(base, instance.hvparams)

    def fill_be(self, instance: Instance) -> dict:
        base = fill_dict(constants.BEC_DEFAULTS,
                         self.beparams.get(constants.VALUE_DEFAULT, {}))
        return fill_dict(base, instance.beparams)

    def simple_fill_be(self, beparams: dict) -> dict:
        base = fill_dict(constants.BEC_DEFAULTS,
                         self.beparams.get(constants.VALUE_DEFAULT, {}))
        return fill_dict(base, beparams)

    def simple_fill_nic(self, nicparams: dict) -> dict:
        base = fill_dict(constants.NICC_DEFAULTS,
                         self.nicparams.get(constants.VALUE_DEFAULT, {}))
        return fill_dict(base, nicparams)

    def simple_fill_hv(self, hv: str, os_name: str, hvparams: dict) -> dict:
        base = fill_dict(constants.HVC_DEFAULTS.get(hv, {}), self.hvparams.get(hv, {}))
        base = fill_dict(base, self.os_hvp.get(os_name, {}).get(hv, {}))
        return fill_dict(base, hvparams)

    def simple_fill_os(self, os_name: str, osparams: dict) -> dict:
        base_name = os_name.split("+", 1)[0]
        result = fill_dict(self.osparams.get(base_name, {}), self.osparams.get(os_name, {}))
        return fill_dict(result, osparams)

    def fill_nd(self, node: Node, group: NodeGroup | None) -> dict:
        result = fill_dict(constants.NDC_DEFAULTS, self.ndparams)
        if group is not None:
            result = fill_dict(result, group.ndparams)
        return fill_dict(result, node.ndparams)


class ConfigData(ConfigObject):
    __slots__ = ("version", "cluster", "nodes", "nodegroups", "instances", "networks",
                 "disks", "filters", "serial_no", "ctime", "mtime")
    NESTED = {"cluster": (Cluster, "one"), "nodes": (Node, "dict"),
              "nodegroups": (NodeGroup, "dict"), "instances": (Instance, "dict"),
              "disks": (Disk, "dict")}

    def upgrade_config(self) -> None:
        for name in ("nodes", "nodegroups", "instances", "networks", "disks", "filters"):
            if getattr(self, name) is None:
                setattr(self, name, {})
        if self.serial_no is None:
            self.serial_no = 1
