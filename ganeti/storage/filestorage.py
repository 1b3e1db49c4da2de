"""File-based disks (``file`` and ``sharedfile`` templates): image files on the node.

Paths must lie below one of the directories allowed in ``file-storage-paths`` (after
resolving symlinks), so a request can never create or remove a file elsewhere.
"""

import errno
import os

from ganeti import errors
from ganeti import pathutils
from ganeti.storage.base import BlockDevice
from ganeti.utils import io

MIB = 1024 * 1024


def allowed_storage_dirs(paths_file: str | None = None) -> list[str]:
    """The roots listed in file-storage-paths (comments and blanks ignored)."""
    paths_file = paths_file or pathutils.FILE_STORAGE_PATHS_FILE
    try:
        text = io.read_file(paths_file)
    except FileNotFoundError:
        return []
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            if not os.path.isabs(line):
                continue
            result.append(os.path.normpath(line))
    return result


def check_file_storage_path(path: str, allowed: list[str] | None = None,
                            allow_root: bool = False) -> str:
    """Return the real path when it lies below an allowed root, else raise.

    ``allow_root`` also accepts an allowed root itself (for checks of the cluster's
    storage directory; disks and removals always need a path strictly below).
    """
    if not os.path.isabs(path):
        raise errors.FileStoragePathError("File storage path '%s' is not absolute" % path)
    if allowed is None:
        allowed = allowed_storage_dirs()
    if not allowed:
        raise errors.FileStoragePathError(
            "No file storage directories are allowed on this node (%s is empty or missing)"
            % pathutils.FILE_STORAGE_PATHS_FILE)
    real = os.path.realpath(path)
    for root in allowed:
        real_root = os.path.realpath(root)
        if io.is_below_dir(real_root, real) or (allow_root and real == real_root):
            return real
    raise errors.FileStoragePathError(
        "Path '%s' is not below an allowed file storage directory (%s)"
        % (path, ", ".join(allowed)))


class FileStorage(BlockDevice):
    """An image file; unique_id is (driver, path)."""

    def __init__(self, unique_id, children, size, params, dyn_params):
        super().__init__(unique_id, children, size, params, dyn_params)
        if not isinstance(unique_id, (list, tuple)) or len(unique_id) != 2:
            raise errors.BlockDeviceError("Invalid file disk id %r" % (unique_id,))
        self.driver = unique_id[0]
        self.dev_path = check_file_storage_path(unique_id[1])
        self.attach()

    @classmethod
    def create(cls, unique_id, children, size, spindles, params, excl_stor, dyn_params):
        if excl_stor:
            raise errors.BlockDeviceError("Exclusive storage is not supported for file disks")
        path = check_file_storage_path(unique_id[1])
        if os.path.exists(path):
            raise errors.BlockDeviceError("File disk %s already exists" % path)
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o750, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as err:
            raise errors.BlockDeviceError("Cannot create file disk %s: %s"
                                          % (path, err.strerror)) from None
        try:
            try:
                os.posix_fallocate(fd, 0, size * MIB)
            except OSError as err:
                if err.errno == errno.ENOSPC:
                    raise errors.BlockDeviceError(
                        "Not enough space for file disk %s (%d MiB): %s"
                        % (path, size, err.strerror)) from None
                if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise errors.BlockDeviceError("Cannot allocate file disk %s: %s"
                                                  % (path, err.strerror)) from None
                os.ftruncate(fd, size * MIB)
        except errors.BlockDeviceError:
            os.close(fd)
            io.remove_file(path)
            raise
        os.close(fd)
        return cls(unique_id, children, size, params, dyn_params)

    def remove(self) -> None:
        io.remove_file(self.dev_path)

    def attach(self) -> bool:
        self.attached = os.path.isfile(self.dev_path)
        return self.attached

    def assemble(self) -> None:
        if not self.attach():
            raise errors.BlockDeviceError("File disk %s not found" % self.dev_path)

    def shutdown(self) -> None:
        pass

    def grow(self, amount, dryrun, backingstore, excl_stor) -> None:
        if not backingstore:
            return
        if not self.attach():
            raise errors.BlockDeviceError("File disk %s not found" % self.dev_path)
        current = os.path.getsize(self.dev_path)
        new_size = current + amount * MIB
        if dryrun:
            return
        with open(self.dev_path, "r+b") as fh:
            try:
                os.posix_fallocate(fh.fileno(), 0, new_size)
            except OSError as err:
                raise errors.BlockDeviceError("Cannot grow file disk %s: %s"
                                              % (self.dev_path, err.strerror)) from None

    def get_actual_size(self) -> int:
        try:
            return os.stat(self.dev_path).st_size
        except OSError as err:
            raise errors.BlockDeviceError("Cannot stat %s: %s"
                                          % (self.dev_path, err.strerror)) from None

    def rename(self, new_id) -> None:
        new_path = check_file_storage_path(new_id[1])
        os.rename(self.dev_path, new_path)
        self.dev_path = new_path
        self.unique_id = new_id


def remove_file_storage_dir(path: str) -> None:
    """Remove an instance's (empty) file storage directory."""
    real = check_file_storage_path(path)
    if not os.path.isdir(real):
        return
    try:
        os.rmdir(real)
    except OSError as err:
        if err.errno == errno.ENOTEMPTY:
            raise errors.FileStoragePathError("Directory %s is not empty: %s"
                                              % (path, ", ".join(os.listdir(real)))) from None
        raise errors.FileStoragePathError("Cannot remove %s: %s"
                                          % (path, err.strerror)) from None
