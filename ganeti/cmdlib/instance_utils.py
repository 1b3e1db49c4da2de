"""Helpers shared by the instance LUs: parameter checks, disks, RPC forms."""

import os

from ganeti import constants
from ganeti import errors
from ganeti import hypervisor
from ganeti import netutils
from ganeti import objects
from ganeti.rpc.node import virtual_path

_BOOL_WORDS = {"yes": True, "true": True, "no": False, "false": False}


def _coerce(value, kind: str, name: str):
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "size":
            if isinstance(value, str):
                from ganeti.utils.text import parse_unit
                return parse_unit(value)
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _BOOL_WORDS:
                return _BOOL_WORDS[value.lower()]
            raise ValueError
        if kind == "float":
            return float(value)
        if kind == "string":
            if not isinstance(value, str):
                raise ValueError
            return value
    except (ValueError, TypeError, errors.UnitParseError):
        raise errors.OpPrereqError("Invalid value %r for parameter '%s' (expected %s)"
                                   % (value, name, kind), errors.ECODE_INVAL) from None
    return value


def check_params(params: dict, types: dict, what: str) -> dict:
    result = {}
    for key, value in (params or {}).items():
        if key == constants.BE_MEMORY and what == "backend":
            key = constants.BE_MAXMEM
            result[constants.BE_MINMEM] = _coerce(value, "size", key)
        if key not in types:
            raise errors.OpPrereqError("Unknown %s parameter '%s' (valid: %s)"
                                       % (what, key, ", ".join(sorted(types))),
                                       errors.ECODE_INVAL)
        result[key] = _coerce(value, types[key], key)
    return result


def check_beparams(beparams: dict) -> dict:
    result = check_params(beparams, constants.BES_PARAMETER_TYPES, "backend")
    if result.get(constants.BE_VCPUS, 1) < 1:
        raise errors.OpPrereqError("vcpus must be at least 1", errors.ECODE_INVAL)
    maxmem = result.get(constants.BE_MAXMEM)
    minmem = result.get(constants.BE_MINMEM)
    if maxmem is not None and minmem is not None and minmem > maxmem:
        raise errors.OpPrereqError("Minimum memory (%d) is larger than the maximum (%d)"
                                   % (minmem, maxmem), errors.ECODE_INVAL)
    for key in (constants.BE_MAXMEM, constants.BE_MINMEM):
        if key in result and result[key] <= 0:
            raise errors.OpPrereqError("%s must be positive" % key, errors.ECODE_INVAL)
    return result


def check_hvparams(hv_name: str, hvparams: dict) -> dict:
    try:
        cls = hypervisor.get_hypervisor_class(hv_name)
    except errors.HypervisorError as err:
        raise errors.OpPrereqError(str(err), errors.ECODE_INVAL) from None
    try:
        cls.check_parameter_syntax(hvparams or {})
    except errors.HypervisorError as err:
        raise errors.OpPrereqError("Invalid hypervisor parameters: %s" % err,
                                   errors.ECODE_INVAL) from None
    return dict(hvparams or {})


def parse_disk_specs(disks: list) -> list[dict]:
    result = []
    for idx, spec in enumerate(disks):
        if not isinstance(spec, dict):
            raise errors.OpPrereqError("Disk %d: invalid specification" % idx,
                                       errors.ECODE_INVAL)
        unknown = set(spec) - set(constants.IDISK_PARAMS_TYPES)
        if unknown:
            raise errors.OpPrereqError("Disk %d: unknown parameter(s) %s"
                                       % (idx, ", ".join(sorted(unknown))),
                                       errors.ECODE_INVAL)
        if constants.IDISK_SIZE not in spec:
            raise errors.OpPrereqError("Disk %d: missing size" % idx, errors.ECODE_INVAL)
        size = _coerce(spec[constants.IDISK_SIZE], "size", "disk %d size" % idx)
        if size <= 0 or size > constants.MAX_DISK_SIZE:
            raise errors.OpPrereqError("Disk %d: invalid size %s" % (idx, size),
                                       errors.ECODE_INVAL)
        mode = spec.get(constants.IDISK_MODE, constants.DISK_RDWR)
        if mode not in constants.DISK_ACCESS_SET:
            raise errors.OpPrereqError("Disk %d: invalid access mode '%s'" % (idx, mode),
                                       errors.ECODE_INVAL)
        if spec.get(constants.IDISK_ADOPT):
            raise errors.OpPrereqError("Disk adoption is not available for this template",
                                       errors.ECODE_INVAL)
        result.append({constants.IDISK_SIZE: size, constants.IDISK_MODE: mode,
                       constants.IDISK_NAME: spec.get(constants.IDISK_NAME)})
    return result


def build_nics(cfg, nic_specs: list, instance_name: str) -> list[objects.NIC]:
    from ganeti.config import generate_uuid
    cluster = cfg.get_cluster_info()
    nics = []
    for idx, spec in enumerate(nic_specs):
        if not isinstance(spec, dict):
            raise errors.OpPrereqError("NIC %d: invalid specification" % idx,
                                       errors.ECODE_INVAL)
        unknown = set(spec) - set(constants.INIC_PARAMS_TYPES)
        if unknown:
            raise errors.OpPrereqError("NIC %d: unknown parameter(s) %s"
                                       % (idx, ", ".join(sorted(unknown))),
                                       errors.ECODE_INVAL)
        if spec.get(constants.INIC_NETWORK):
            raise errors.OpPrereqError("NIC %d: networks are not available yet" % idx,
                                       errors.ECODE_INVAL)
        nicparams = {}
        for key in (constants.INIC_MODE, constants.INIC_LINK, constants.INIC_VLAN):
            if spec.get(key) not in (None, ""):
                nicparams[key] = spec[key]
        filled = cluster.simple_fill_nic(nicparams)
        if filled[constants.NIC_MODE] not in constants.NIC_VALID_MODES:
            raise errors.OpPrereqError("NIC %d: invalid mode '%s'"
                                       % (idx, filled[constants.NIC_MODE]),
                                       errors.ECODE_INVAL)
        ip = spec.get(constants.INIC_IP)
        if ip in (None, "", constants.VALUE_NONE):
            ip = None
        elif ip == constants.VALUE_AUTO:
            ip = netutils.resolve(instance_name)
        elif not netutils.is_valid_ip(ip):
            raise errors.OpPrereqError("NIC %d: invalid IP address '%s'" % (idx, ip),
                                       errors.ECODE_INVAL)
        if filled[constants.NIC_MODE] == constants.NIC_MODE_ROUTED and not ip:
            raise errors.OpPrereqError("NIC %d: routed mode requires an IP address" % idx,
                                       errors.ECODE_INVAL)
        mac = spec.get(constants.INIC_MAC) or constants.VALUE_AUTO
        if mac in (constants.VALUE_AUTO, constants.VALUE_GENERATE):
            mac = cfg.generate_mac()
        elif not _valid_mac(mac):
            raise errors.OpPrereqError("NIC %d: invalid MAC address '%s'" % (idx, mac),
                                       errors.ECODE_INVAL)
        else:
            mac = mac.lower()
            for inst in cfg.get_all_instances_info().values():
                if any(n.mac == mac for n in inst.nics):
                    raise errors.OpPrereqError("MAC address %s already in use by %s"
                                               % (mac, inst.name), errors.ECODE_NOTUNIQUE)
        nics.append(objects.NIC(uuid=generate_uuid(), name=spec.get(constants.INIC_NAME),
                                mac=mac, ip=ip, network=None, nicparams=nicparams))
    return nics


def _valid_mac(mac: str) -> bool:
    import re
    return bool(re.match(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$", mac or ""))


def check_ipolicy(ipolicy: dict, be: dict, disk_specs: list, nic_count: int,
                  disk_template: str) -> None:
    """Refuse specs outside every min/max pair of the instance policy."""
    if disk_template not in ipolicy.get(constants.IPOLICY_DTS, constants.DISK_TEMPLATES):
        raise errors.OpPrereqError("Instance policy violation: disk template %s is not "
                                   "allowed by the instance policy" % disk_template,
                                   errors.ECODE_INVAL)
    values = {constants.ISPEC_MEM_SIZE: be[constants.BE_MAXMEM],
              constants.ISPEC_CPU_COUNT: be[constants.BE_VCPUS],
              constants.ISPEC_DISK_COUNT: len(disk_specs),
              constants.ISPEC_NIC_COUNT: nic_count,
              constants.ISPEC_SPINDLE_USE: be[constants.BE_SPINDLE_USE]}
    sizes = [d[constants.IDISK_SIZE] for d in disk_specs]
    all_violations = []
    for pair in ipolicy.get(constants.ISPECS_MINMAX, []):
        violations = []
        low, high = pair[constants.ISPECS_MIN], pair[constants.ISPECS_MAX]
        for key, value in values.items():
            if key == constants.ISPEC_DISK_COUNT and disk_template == constants.DT_DISKLESS:
                continue
            if not low.get(key, value) <= value <= high.get(key, value):
                violations.append("%s value %s is not in range [%s, %s]"
                                  % (key, value, low.get(key), high.get(key)))
        for size in sizes:
            key = constants.ISPEC_DISK_SIZE
            if not low.get(key, size) <= size <= high.get(key, size):
                violations.append("%s value %s is not in range [%s, %s]"
                                  % (key, size, low.get(key), high.get(key)))
        if not violations:
            return
        all_violations = violations
    if all_violations:
        raise errors.OpPrereqError("Instance allocation to group would violate the "
                                   "instance policy: %s (use --ignore-ipolicy to override)"
                                   % "; ".join(all_violations), errors.ECODE_INVAL)


def check_node_free_memory(rpc, node_uuid, node_name, needed, hv_name, hvparams,
                           reason) -> None:
    res = rpc.call_single("node_info", node_uuid, [[], [[hv_name, hvparams]]])
    res.raise_on_fail("Can't get data from node %s" % node_name, prereq=True)
    hv_info = res.payload[2][0] if res.payload and res.payload[2] else {}
    free = hv_info.get("memory_free")
    if not isinstance(free, int):
        raise errors.OpPrereqError("Can't compute free memory on node %s, result was %r"
                                   % (node_name, free), errors.ECODE_ENVIRON)
    if needed > free:
        raise errors.OpPrereqError("Not enough memory on node %s for %s: needed %s MiB, "
                                   "available %s MiB" % (node_name, reason, needed, free),
                                   errors.ECODE_NORES)


def check_node_storage_space(rpc, node, template, base_dir, needed) -> None:
    res = rpc.call_single("node_info", node.uuid, [[[template, virtual_path(base_dir)]], []])
    res.raise_on_fail("Can't get storage data from node %s" % node.name, prereq=True)
    info = res.payload[1][0] if res.payload and res.payload[1] else {}
    free = info.get("storage_free")
    if not isinstance(free, int):
        raise errors.OpPrereqError("Can't compute free disk space on node %s for %s: %s"
                                   % (node.name, base_dir, info.get("error", free)),
                                   errors.ECODE_ENVIRON)
    if needed > free:
        raise errors.OpPrereqError("Not enough disk space on target node %s: required "
                                   "%d MiB, available %d MiB" % (node.name, needed, free),
                                   errors.ECODE_NORES)


def generate_disks(template, inst_uuid, pnode_uuid, specs, file_dir, driver) -> list:
    disks = []
    for idx, spec in enumerate(specs):
        if template in constants.DTS_FILEBASED:
            logical_id = [driver, os.path.join(file_dir, "disk%d" % idx)]
        else:
            raise errors.OpPrereqError("Disk template %s is not available yet" % template,
                                       errors.ECODE_INVAL)
        disks.append(objects.Disk(dev_type=template, logical_id=logical_id, children=[],
                                  nodes=[pnode_uuid], iv_name="disk/%d" % idx,
                                  size=spec[constants.IDISK_SIZE],
                                  mode=spec[constants.IDISK_MODE],
                                  name=spec.get(constants.IDISK_NAME), params={}))
    return disks


def disk_rpc_dict(disk: objects.Disk) -> dict:
    data = disk.to_dict()
    if disk.dev_type in constants.DTS_FILEBASED:
        data["logical_id"] = [disk.logical_id[0], virtual_path(disk.logical_id[1])]
    return data


def instance_file_dir(disks) -> str | None:
    for disk in disks:
        if disk.dev_type in constants.DTS_FILEBASED:
            return os.path.dirname(disk.logical_id[1])
    return None


def create_disks(lu, inst, disks, node_uuid, file_dir) -> None:
    """Create every disk on the node; on failure remove what was created."""
    if file_dir:
        res = lu.rpc.call_single("file_storage_dir_create", node_uuid,
                                 [virtual_path(file_dir)])
        res.raise_on_fail("Failed to create file storage directory %s" % file_dir)
    created = []
    for disk in disks:
        res = lu.rpc.call_single("blockdev_create", node_uuid,
                                 [disk_rpc_dict(disk), disk.size, inst.name, True,
                                  "originstname+%s" % inst.name, False])
        if res.fail_msg:
            remove_disks(lu, inst, created, node_uuid, file_dir)
            raise errors.OpExecError("Can't create block device %s on node %s for "
                                     "instance %s: %s" % (disk.iv_name,
                                                          lu.cfg.get_node_name(node_uuid),
                                                          inst.name, res.fail_msg))
        created.append(disk)


def remove_disks(lu, inst, disks, node_uuid, file_dir) -> bool:
    ok = True
    for disk in disks:
        res = lu.rpc.call_single("blockdev_remove", node_uuid, [disk_rpc_dict(disk)])
        if res.fail_msg:
            lu.log_warning("Could not remove disk %s on node %s: %s", disk.iv_name,
                           lu.cfg.get_node_name(node_uuid), res.fail_msg)
            ok = False
    if file_dir:
        res = lu.rpc.call_single("file_storage_dir_remove", node_uuid,
                                 [virtual_path(file_dir)])
        if res.fail_msg:
            lu.log_warning("Could not remove directory '%s': %s", file_dir, res.fail_msg)
            ok = False
    return ok


def instance_rpc_dict(cfg, inst_uuid: str, osparams_secret: dict | None = None) -> dict:
    """The instance as sent to noded: filled parameters, disks inline, node names."""
    inst = cfg.get_instance_info(inst_uuid)
    cluster = cfg.get_cluster_info()
    data = inst.to_dict()
    data["hvparams"] = cluster.fill_hv(inst)
    data["beparams"] = cluster.fill_be(inst)
    osparams = cluster.simple_fill_os(inst.os, inst.osparams)
    osparams.update(inst.osparams_private or {})
    osparams.update(osparams_secret or {})
    data["osparams"] = osparams
    data.pop("osparams_private", None)
    data["primary_node"] = cfg.get_node_name(inst.primary_node)
    data["secondary_nodes"] = cfg.get_node_names(cfg.get_instance_secondary_nodes(inst_uuid))
    data["disks"] = [disk_rpc_dict(d) for d in cfg.get_instance_disks(inst_uuid)]
    data["disk_template"] = cfg.get_instance_disk_template(inst_uuid)
    nics = []
    for nic in inst.nics:
        nic_data = nic.to_dict()
        nic_data["nicparams"] = cluster.simple_fill_nic(nic.nicparams)
        nic_data["network"] = None
        nics.append(nic_data)
    data["nics"] = nics
    return data
