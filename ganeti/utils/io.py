"""File helpers: atomic writes (fsync + rename), safe reads, directory creation."""

import errno
import os
import tempfile


def write_file(path: str, data: str | bytes, mode: int = 0o644, uid: int = -1,
               gid: int = -1, fsync: bool = True, atime: float | None = None,
               mtime: float | None = None, dry_run: bool = False) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, chmod/chown, rename."""
    if dry_run:
        return
    if isinstance(data, str):
        data = data.encode("utf-8")
    dirname, base = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % base, suffix=".new", dir=dirname or ".")
    try:
        os.fchmod(fd, mode)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
        os.close(fd)
        fd = -1
        if atime is not None and mtime is not None:
            os.utime(tmp, (atime, mtime))
        os.rename(tmp, path)
        if fsync:
            fsync_dir(dirname or ".")
    except BaseException:
        if fd != -1:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_file(path: str, size: int = -1) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read(size)


def read_binary(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def read_one_line(path: str) -> str:
    """First line of a file without its newline."""
    return read_file(path).splitlines()[0] if os.path.getsize(path) else ""


def remove_file(path: str) -> None:
    """Remove a file; a missing file is not an error."""
    try:
        os.unlink(path)
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise


def make_dirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def ensure_dirs(dirs) -> None:
    """Create (dir, mode) pairs, fixing the mode of existing ones."""
    for path, mode in dirs:
        os.makedirs(path, mode=mode, exist_ok=True)
        os.chmod(path, mode)


def is_below_dir(root: str, path: str) -> bool:
    """True if the normalised ``path`` lies strictly below ``root``."""
    root = os.path.normpath(os.path.abspath(root))
    path = os.path.normpath(os.path.abspath(path))
    return os.path.commonpath([root, path]) == root and path != root
