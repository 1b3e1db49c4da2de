"""Storage backends: one BlockDevice class per disk type."""

from ganeti import constants
from ganeti import errors


def device_class(dev_type: str):
    from ganeti.storage.filestorage import FileStorage
    classes = {constants.DT_FILE: FileStorage, constants.DT_SHARED_FILE: FileStorage}
    try:
        return classes[dev_type]
    except KeyError:
        raise errors.BlockDeviceError(
            "Disk type '%s' is not supported on this node yet" % dev_type) from None
