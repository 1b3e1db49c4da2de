"""Instance migration procedures of noded, for both the source and the target node.

The master drives a migration with these calls (see cmdlib/instance_migration.py):
migration_info (source), accept_instance (target), instance_migrate (source),
instance_get_migration_status (source, polled), then the two finalize calls.
Hypervisors without a two-sided protocol (fake) move by stop here, start there.
"""

from ganeti import constants
from ganeti import errors
from ganeti.backend import instance as binst
from ganeti.backend.node import _check


def _hv_error(what: str, inst: dict, err: Exception) -> errors.RpcError:
    return errors.RpcError("%s of instance %s failed: %s" % (what, inst.get("name"), err))


def _block_devices(inst: dict) -> list[dict]:
    """Assemble the (file-based) disks of ``inst`` on this node; [{"path": ...}]."""
    devices = []
    for disk in inst.get("disks", []):
        if disk.get("dev_type") in constants.DTS_FILEBASED:
            dev = binst._device(disk)
            try:
                dev.assemble()
            except errors.BlockDeviceError as err:
                raise errors.RpcError("Cannot use disk %s of %s: %s"
                                      % (disk.get("iv_name"), inst["name"], err)) from None
            devices.append({"path": dev.dev_path})
    return devices


def _two_sided(hv) -> bool:
    return hasattr(hv, "accept_instance")


def migration_info(inst):
    inst = binst._check_instance(inst)
    hv = binst._hv(inst["hypervisor"])
    if not _two_sided(hv):
        return {}
    try:
        return hv.migration_info(inst)
    except errors.HypervisorError as err:
        raise _hv_error("Getting migration data", inst, err) from None


def accept_instance(inst, info, target):
    inst = binst._check_instance(inst)
    _check(isinstance(info, dict), "Migration info must be a dict")
    _check(isinstance(target, str) and target, "Invalid target address %r" % (target,))
    hv = binst._hv(inst["hypervisor"])
    if not _two_sided(hv):
        return True
    devices = _block_devices(inst)
    try:
        hv.accept_instance(inst, info, target, devices)
    except errors.HypervisorError as err:
        raise _hv_error("Accepting the migration", inst, err) from None
    return True


def instance_migrate(cluster_name, inst, target, live):
    inst = binst._check_instance(inst)
    _check(isinstance(target, str) and target, "Invalid target address %r" % (target,))
    hv = binst._hv(inst["hypervisor"])
    try:
        hv.migrate_instance(cluster_name, inst, target, bool(live))
    except errors.HypervisorError as err:
        raise _hv_error("Migration", inst, err) from None
    return True


def instance_get_migration_status(inst):
    inst = binst._check_instance(inst)
    hv = binst._hv(inst["hypervisor"])
    if not _two_sided(hv):
        return {"status": "completed"}
    try:
        return hv.get_migration_status(inst)
    except errors.HypervisorError as err:
        raise _hv_error("Querying the migration status", inst, err) from None


def instance_finalize_migration_dst(inst, info, success):
    inst = binst._check_instance(inst)
    hv = binst._hv(inst["hypervisor"])
    try:
        if _two_sided(hv):
            hv.finalize_migration_dst(inst, info or {}, bool(success))
        elif success:
            hv.start_instance(inst, _block_devices(inst), False)
    except errors.HypervisorError as err:
        raise _hv_error("Finalizing the migration on the target", inst, err) from None
    return True


def instance_finalize_migration_src(inst, success, live):
    inst = binst._check_instance(inst)
    hv = binst._hv(inst["hypervisor"])
    if not _two_sided(hv):
        return True
    try:
        hv.finalize_migration_src(inst, bool(success), bool(live))
    except errors.HypervisorError as err:
        raise _hv_error("Finalizing the migration on the source", inst, err) from None
    return True
