"""Storage backends: one BlockDevice class per disk type."""

from ganeti import constants
from ganeti import errors


def device_class(dev_type: str):
    from ganeti.storage.blockdev import PersistentBlockDevice
    from ganeti.storage.drbd import DRBD8Dev
    from ganeti.storage.extstorage import ExtStorageDevice
    from ganeti.storage.filestorage import FileStorage
    from ganeti.storage.lvm import LogicalVolume
    classes = {constants.DT_FILE: FileStorage, constants.DT_SHARED_FILE: FileStorage,
               constants.DT_PLAIN: LogicalVolume, constants.DT_DRBD8: DRBD8Dev,
               constants.DT_BLOCK: PersistentBlockDevice, constants.DT_EXT: ExtStorageDevice}
    try:
        return classes[dev_type]
    except KeyError:
        raise errors.BlockDeviceError(
            "Disk type '%s' is not supported on this node yet" % dev_type) from None


def device_from_disk(disk: dict, **kwargs):
    """The device object of a disk dict (node-local paths), children built first.

    ``kwargs`` (e.g. a test's ``runner``) go to the LVM, DRBD, blockdev and ext
    classes; ext disks also get the disk's name and uuid for their scripts.
    """
    children = [device_from_disk(child, **kwargs) for child in disk.get("children") or []]
    dev_type = disk.get("dev_type")
    cls = device_class(dev_type)
    extra = dict(kwargs) if dev_type not in (constants.DT_FILE,
                                             constants.DT_SHARED_FILE) else {}
    if dev_type == constants.DT_EXT:
        extra.update(name=disk.get("name"), uuid=disk.get("uuid"))
    return cls(disk.get("logical_id"), children, disk.get("size", 0),
               disk.get("params") or {}, disk.get("dynamic_params") or {}, **extra)
