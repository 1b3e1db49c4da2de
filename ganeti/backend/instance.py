"""Instance and block-device procedures of noded.

The master sends an instance as a dict with filled parameters and its disks' dicts;
paths inside them are virtualised and mapped here into this node's root.
"""

import logging
import os

from ganeti import constants
from ganeti import errors
from ganeti import hypervisor
from ganeti import storage
from ganeti.backend.node import _check, devirt
from ganeti.storage import filestorage


def _check_instance(inst) -> dict:
    _check(isinstance(inst, dict), "Instance must be a dict")
    name = inst.get("name")
    _check(isinstance(name, str) and name and "/" not in name and not name.startswith("."),
           "Invalid instance name %r" % (name,))
    _check(isinstance(inst.get("hypervisor"), str), "Instance %s lacks a hypervisor" % name)
    _check(isinstance(inst.get("disks", []), list), "Instance %s: disks must be a list" % name)
    return inst


def _local_disk(disk: dict) -> dict:
    """Copy of a disk dict with its path mapped into this node."""
    _check(isinstance(disk, dict), "Disk must be a dict")
    disk = dict(disk)
    dev_type = disk.get("dev_type")
    if dev_type in constants.DTS_FILEBASED:
        lid = disk.get("logical_id")
        _check(isinstance(lid, list) and len(lid) == 2, "Invalid file disk id %r" % (lid,))
        disk["logical_id"] = [lid[0], devirt(lid[1])]
    return disk


def _device(disk: dict):
    disk = _local_disk(disk)
    cls = storage.device_class(disk.get("dev_type"))
    try:
        return cls(disk["logical_id"], [], disk.get("size", 0), disk.get("params", {}),
                   disk.get("dynamic_params", {}))
    except (errors.FileStoragePathError, errors.BlockDeviceError) as err:
        raise errors.RpcError(str(err)) from None


def _disk_path(disk: dict) -> str | None:
    if disk.get("dev_type") in constants.DTS_FILEBASED:
        return _device(disk).dev_path
    return None


def block_devices_of(inst: dict) -> list[dict]:
    result = []
    for idx, disk in enumerate(inst.get("disks", [])):
        path = _disk_path(disk)
        result.append({"index": idx, "path": path, "uuid": disk.get("uuid"),
                       "mode": disk.get("mode", constants.DISK_RDWR)})
    return result


def _hv(name: str):
    try:
        return hypervisor.get_hypervisor(name)
    except errors.HypervisorError as err:
        raise errors.RpcError(str(err)) from None


def instance_start(inst, startup_paused=False, reason=None):
    inst = _check_instance(inst)
    hv = _hv(inst["hypervisor"])
    if inst["name"] in hv.list_instances(inst.get("hvparams")):
        return True
    devices = []
    for disk in inst.get("disks", []):
        if disk.get("dev_type") in constants.DTS_FILEBASED:
            dev = _device(disk)
            try:
                dev.assemble()
            except errors.BlockDeviceError as err:
                raise errors.RpcError("Cannot start instance %s: %s"
                                      % (inst["name"], err)) from None
            devices.append({"path": dev.dev_path})
    try:
        hv.start_instance(inst, devices, bool(startup_paused))
    except errors.HypervisorError as err:
        raise errors.RpcError("Hypervisor error: %s" % err) from None
    return True


def instance_shutdown(inst, timeout=constants.DEFAULT_SHUTDOWN_TIMEOUT, reason=None):
    inst = _check_instance(inst)
    hv = _hv(inst["hypervisor"])
    if inst["name"] not in hv.list_instances(inst.get("hvparams")):
        return True
    try:
        hv.stop_instance(inst, force=False, timeout=timeout)
        if inst["name"] in hv.list_instances(inst.get("hvparams")):
            hv.stop_instance(inst, force=True)
    except errors.HypervisorError as err:
        raise errors.RpcError("Failed to stop instance %s: %s" % (inst["name"], err)) \
            from None
    return True


def instance_reboot(inst, reboot_type, shutdown_timeout, reason=None):
    inst = _check_instance(inst)
    _check(reboot_type in constants.REBOOT_TYPES, "Invalid reboot type %r" % (reboot_type,))
    hv = _hv(inst["hypervisor"])
    running = inst["name"] in hv.list_instances(inst.get("hvparams"))
    if not running:
        raise errors.RpcError("Cannot reboot instance %s that is not running" % inst["name"])
    try:
        if reboot_type == constants.INSTANCE_REBOOT_SOFT:
            hv.reboot_instance(inst)
        else:
            instance_shutdown(inst, shutdown_timeout)
            instance_start(inst)
    except errors.HypervisorError as err:
        raise errors.RpcError("Failed to reboot instance %s: %s" % (inst["name"], err)) \
            from None
    return True


def _info_dict(info) -> dict:
    name, _id, memory, vcpus, state, cpu_time = info
    return {"memory": memory, "vcpus": vcpus, "state": state, "time": cpu_time}


def instance_info(name, hv_name, hvparams=None):
    _check(isinstance(name, str), "Invalid instance name")
    info = _hv(hv_name).get_instance_info(name, hvparams)
    return _info_dict(info) if info else {}


def all_instances_info(hv_names, all_hvparams=None):
    _check(isinstance(hv_names, list), "all_instances_info takes a list of hypervisors")
    result = {}
    for hv_name in hv_names:
        for info in _hv(hv_name).get_all_instances_info((all_hvparams or {}).get(hv_name)):
            result[info[0]] = _info_dict(info)
    return result


def instance_list(hv_names, all_hvparams=None):
    _check(isinstance(hv_names, list), "instance_list takes a list of hypervisors")
    names = []
    for hv_name in hv_names:
        names.extend(_hv(hv_name).list_instances((all_hvparams or {}).get(hv_name)))
    return names


def _os_inst(inst: dict) -> dict:
    """The instance dict in the form the OS API module expects."""
    result = dict(inst)
    disks = []
    for disk in inst.get("disks", []):
        path = _disk_path(disk)
        entry = {"uuid": disk.get("uuid"), "name": disk.get("name"),
                 "size": disk.get("size"), "mode": disk.get("mode", "rw"),
                 "dev_type": disk.get("dev_type"), "path": path}
        if disk.get("dev_type") in constants.DTS_FILEBASED:
            entry["backend_type"] = "file:%s" % disk["logical_id"][0]
        else:
            entry["backend_type"] = "block"
        disks.append(entry)
    result["disks"] = disks
    return result


def instance_os_add(inst, reinstall=False, debug=0):
    from ganeti.backend import osapi
    inst = _check_instance(inst)
    _check(isinstance(inst.get("os"), str) and inst["os"], "Instance has no OS")
    return osapi.run_os_create(_os_inst(inst), reinstall=bool(reinstall),
                               debug=int(debug or 0))


def instance_run_rename(inst, old_name, debug=0):
    from ganeti.backend import osapi
    inst = _check_instance(inst)
    return osapi.run_os_rename(_os_inst(inst), old_name, debug=int(debug or 0))


def blockdev_create(disk, size, owner, on_primary, info, excl_stor):
    disk = _local_disk(disk)
    _check(isinstance(size, int) and 0 < size <= constants.MAX_DISK_SIZE,
           "Invalid disk size %r" % (size,))
    cls = storage.device_class(disk.get("dev_type"))
    try:
        dev = cls.create(disk["logical_id"], [], size, disk.get("spindles"),
                         disk.get("params", {}), bool(excl_stor),
                         disk.get("dynamic_params", {}))
    except (errors.FileStoragePathError, errors.BlockDeviceError) as err:
        raise errors.RpcError("Can't create block device: %s" % err) from None
    logging.info("Created disk %s for %s", dev.dev_path, owner)
    return dev.dev_path


def blockdev_remove(disk):
    dev = _device(disk)
    try:
        dev.remove()
    except (OSError, errors.BlockDeviceError) as err:
        raise errors.RpcError("Can't remove block device: %s" % err) from None
    return True


def blockdev_assemble(disk, owner, as_primary, idx):
    dev = _device(disk)
    try:
        dev.assemble()
        if as_primary:
            dev.open()
    except errors.BlockDeviceError as err:
        raise errors.RpcError("Can't assemble device: %s" % err) from None
    return [dev.dev_path, None, None]


def blockdev_shutdown(disk):
    dev = _device(disk)
    dev.shutdown()
    return True


def blockdev_find(disk):
    dev = _device(disk)
    if not dev.attach():
        return None
    return dev.get_sync_status()


def blockdev_getdimensions(disks):
    _check(isinstance(disks, list), "blockdev_getdimensions takes a list")
    result = []
    for disk in disks:
        try:
            dev = _device(disk)
            result.append([dev.get_actual_size(), None] if dev.attach() else None)
        except (errors.RpcError, errors.BlockDeviceError):
            result.append(None)
    return result


def file_storage_dir_create(path):
    local = devirt(path)
    try:
        real = filestorage.check_file_storage_path(local)
    except errors.FileStoragePathError as err:
        raise errors.RpcError(str(err)) from None
    if os.path.exists(real) and not os.path.isdir(real):
        raise errors.RpcError("%s exists and is not a directory" % path)
    os.makedirs(real, mode=0o750, exist_ok=True)
    return True


def file_storage_dir_remove(path):
    try:
        filestorage.remove_file_storage_dir(devirt(path))
    except errors.FileStoragePathError as err:
        raise errors.RpcError(str(err)) from None
    return True


def hypervisor_validate_params(hv_name, hvparams):
    _check(isinstance(hvparams, dict), "hvparams must be a dict")
    try:
        _hv(hv_name).validate_parameters(hvparams)
    except errors.HypervisorError as err:
        raise errors.RpcError(str(err)) from None
    return True
