"""Existing block devices adopted as disks (the ``blockdev`` template), and sizes.

A device path must be absolute and normalised, and must resolve (after symlinks, as
the ``/dev/disk/by-*`` links are) to a block device below ``/dev``; nothing is ever
created or removed, the device belongs to the administrator.
"""

import os
import stat
from collections.abc import Callable, Iterable

from ganeti import constants
from ganeti import errors
from ganeti.storage.base import BlockDevice
from ganeti.utils import process

DEV_ROOT = "/dev"
SIZE_TIMEOUT = 60.0
MIB = 1024 * 1024

Runner = Callable[..., process.RunResult]


def device_size_bytes(path: str, runner: Runner | None = None) -> int:
    """Size of a block device in bytes (``blockdev --getsize64``)."""
    result = (runner or process.run_cmd)(["blockdev", "--getsize64", path],
                                        reset_env=True, timeout=SIZE_TIMEOUT)
    if result.failed:
        raise errors.BlockDeviceError("Cannot get the size of %s: %s" % (
            path, (result.output.strip() or result.fail_reason)[-500:]))
    text = result.stdout.strip()
    if not text.isdigit():
        raise errors.BlockDeviceError("Cannot parse the size of %s from blockdev: %r"
                                      % (path, text[:100]))
    return int(text)


def _is_below(root: str, path: str) -> bool:
    root = root.rstrip("/") or "/"
    return path.startswith(root + "/") and len(path) > len(root) + 1


def check_device_path(path, dev_root: str = DEV_ROOT, must_exist: bool = True) -> str:
    """Return the resolved path of a device that may be used as a disk, else raise.

    The given path itself must be absolute and normalised ("..", "." or "//" are
    refused before anything is resolved), lie below ``dev_root``, and resolve to a
    block device that still lies below ``dev_root``: a link to a file elsewhere is
    refused even if the link itself is in /dev.
    """
    if not isinstance(path, str) or not path or "\0" in path:
        raise errors.BlockDeviceError("Invalid device path %r" % (path,))
    if not os.path.isabs(path) or os.path.normpath(path) != path.rstrip("/") \
            or path.endswith("/"):
        raise errors.BlockDeviceError("Device path %r is not absolute and normalised"
                                      % path)
    real_root = os.path.realpath(dev_root)
    if not _is_below(os.path.normpath(dev_root), path):
        raise errors.BlockDeviceError("Device path %s is not below %s" % (path, dev_root))
    real = os.path.realpath(path)
    if not _is_below(real_root, real):
        raise errors.BlockDeviceError("Device path %s resolves to %s, outside %s"
                                      % (path, real, dev_root))
    if must_exist:
        try:
            st = os.stat(real)
        except OSError as err:
            raise errors.BlockDeviceError("Cannot access device %s: %s"
                                          % (path, err.strerror)) from None
        if not stat.S_ISBLK(st.st_mode):
            raise errors.BlockDeviceError("%s is not a block device" % path)
    return real


def bdev_sizes(devices: Iterable[str], runner: Runner | None = None,
               dev_root: str = DEV_ROOT) -> dict[str, int]:
    """The ``bdev_sizes`` procedure: {path: MiB} of the given paths that are usable
    block devices; anything else is silently left out (the master reports it)."""
    sizes = {}
    for path in devices:
        try:
            check_device_path(path, dev_root)
            sizes[path] = device_size_bytes(path, runner) // MIB
        except errors.BlockDeviceError:
            continue
    return sizes


class PersistentBlockDevice(BlockDevice):
    """A block device that exists outside Ganeti; unique_id is ("manual", path)."""

    dev_root = DEV_ROOT

    def __init__(self, unique_id, children, size, params, dyn_params, *,
                 runner: Runner | None = None, dev_root: str | None = None):
        super().__init__(unique_id, children, size, params, dyn_params)
        if not isinstance(unique_id, (list, tuple)) or len(unique_id) != 2:
            raise errors.BlockDeviceError("Invalid block device id %r" % (unique_id,))
        if unique_id[0] != constants.BLOCKDEV_DRIVER_MANUAL:
            raise errors.BlockDeviceError("Unsupported block device driver %r"
                                          % (unique_id[0],))
        if dev_root is not None:
            self.dev_root = dev_root
        self.runner = runner
        # Checks the path syntax and confinement; existence is attach's business.
        check_device_path(unique_id[1], self.dev_root, must_exist=False)
        self.dev_path = unique_id[1]
        self.major = self.minor = None

    @classmethod
    def create(cls, unique_id, children, size, spindles, params, excl_stor, dyn_params,
               *, runner: Runner | None = None, dev_root: str | None = None):
        """Adopt the device: it must exist; nothing is written to it."""
        if excl_stor:
            raise errors.BlockDeviceError("Adopted block devices do not support"
                                          " exclusive storage")
        dev = cls(unique_id, children, size, params, dyn_params, runner=runner,
                  dev_root=dev_root)
        if not dev.attach():
            raise errors.BlockDeviceError("Cannot adopt %s: %s" % (dev.dev_path,
                                                                    dev.attach_error))
        return dev

    attach_error = ""

    def attach(self) -> bool:
        try:
            real = check_device_path(self.dev_path, self.dev_root)
        except errors.BlockDeviceError as err:
            self.attach_error = str(err)
            self.attached = False
            return False
        st = os.stat(real)
        self.major, self.minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.attached = True
        return True

    def remove(self) -> None:
        """Nothing: the device is the administrator's, releasing it is all we do."""

    def assemble(self) -> None:
        if not self.attach():
            raise errors.BlockDeviceError(self.attach_error)

    def shutdown(self) -> None:
        pass

    def grow(self, amount, dryrun, backingstore, excl_stor) -> None:
        raise errors.BlockDeviceError("Growing is not supported for adopted block"
                                      " device %s" % self.dev_path)

    def rename(self, new_id) -> None:
        raise errors.BlockDeviceError("Renaming is not supported for adopted block"
                                      " device %s" % self.dev_path)

    def get_actual_size(self) -> int:
        if not self.attach():
            raise errors.BlockDeviceError(self.attach_error)
        return device_size_bytes(self.dev_path, self.runner)

    def get_sync_status(self) -> dict:
        status = super().get_sync_status()
        status.update(major=self.major, minor=self.minor)
        return status
