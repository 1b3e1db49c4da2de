"""Restricted commands on a node (security rule S5.2, node-interfaces.md section 4).

The master may only name a program in one root-owned directory; the node checks the
directory, the name and the file, runs it with nothing inherited, one at a time, and
answers every refusal alike and only after a delay, so names cannot be probed quickly.
Also: the safety rule for the other script directories (hooks, OS, ExtStorage).
"""

import fcntl
import logging
import os
import signal
import stat
import subprocess
import time

from ganeti import _autoconf
from ganeti import constants
from ganeti import errors
from ganeti import pathutils

# Seconds a refused request waits, still holding the lock, before it fails.  Unit
# tests patch this attribute; nothing else changes it.
DELAY = 10.0
# The lock is awaited for at most this fraction of DELAY (8 s with the real delay).
LOCK_WAIT_FACTOR = 0.8
# A command that runs longer is killed, well before the master's RPC gives up.
COMMAND_TIMEOUT = constants.RPC_TMO_SLOW - 60
# Permission bits a restricted command or its directory may have (nothing else).
MAX_MODE = 0o755
DISABLED_MESSAGE = "Restricted commands disabled at configure time"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class _Refused(Exception):
    """A check failed; the message is logged locally and never sent back."""


def lock_file() -> str:
    """The per-node lock serialising restricted commands (read at call time)."""
    return os.path.join(pathutils.LOCK_DIR, "ganeti-restricted-commands.lock")


def valid_name(name) -> bool:
    """A bare file name of ``[a-zA-Z0-9_-]+``: no argument, no path, not blank."""
    return isinstance(name, str) and bool(name.strip()) and \
        os.path.basename(name) == name and set(name) <= _NAME_CHARS


def script_dir_problem(path: str) -> str | None:
    """Why a hooks, OS or ExtStorage directory must not be used (None: it is fine).

    Security stricter point 4: such directories must be owned by root (checked when
    this process is root) and not writable by group or others.
    """
    try:
        st = os.stat(path)
    except OSError as err:
        return "cannot stat %s: %s" % (path, err.strerror)
    if not stat.S_ISDIR(st.st_mode):
        return "%s is not a directory" % path
    if st.st_uid != 0 and os.getuid() == 0:
        return "%s is not owned by root" % path
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "%s is writable by group or others" % path
    return None


def script_file_problem(path: str) -> str | None:
    """Why a hook or OS script must not run (None: fine); follows symlinks.

    A safe directory is worthless if the script in it may be rewritten by others.
    """
    try:
        st = os.stat(path)
    except OSError as err:
        return "cannot stat %s: %s" % (path, err.strerror)
    if st.st_uid != 0 and os.getuid() == 0:
        return "%s is not owned by root" % path
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "%s is writable by group or others" % path
    return None


def _check_owner_and_mode(what: str, st: os.stat_result) -> None:
    if st.st_uid != 0 or st.st_gid != 0:
        raise _Refused("%s is owned by %d:%d, not root:root" % (what, st.st_uid, st.st_gid))
    extra = stat.S_IMODE(st.st_mode) & ~MAX_MODE
    if extra:
        raise _Refused("%s has permission bits %04o outside %04o"
                       % (what, extra, MAX_MODE))


def _check_directory(directory: str) -> None:
    try:
        st = os.stat(directory)
    except OSError as err:
        raise _Refused("cannot stat directory %s: %s" % (directory, err.strerror)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise _Refused("%s is not a directory" % directory)
    _check_owner_and_mode("directory %s" % directory, st)


def directory_problem(directory: str | None = None) -> str | None:
    """Why the restricted commands directory would refuse everything (None: fine)."""
    try:
        _check_directory(directory or pathutils.RESTRICTED_COMMANDS_DIR)
    except _Refused as err:
        return str(err)
    return None


def _check_executable(path: str) -> None:
    # os.stat follows symlinks: a link is judged by what it points to
    try:
        st = os.stat(path)
    except OSError as err:
        raise _Refused("cannot stat %s: %s" % (path, err.strerror)) from None
    _check_owner_and_mode(path, st)
    if not stat.S_ISREG(st.st_mode):
        raise _Refused("%s is not a regular file" % path)
    if not os.access(path, os.X_OK):
        raise _Refused("%s is not executable" % path)


def _take_lock(path: str, timeout: float) -> int:
    """An exclusive flock on ``path`` within ``timeout`` seconds; returns the fd."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise _Refused("lock %s not obtained within %.1f s" % (path, timeout)) \
                    from None
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _start(path: str) -> subprocess.Popen:
    # Not run_cmd: the environment must be completely empty (run_cmd always adds
    # PATH) and the lock must be released right after the fork, before the wait.
    return subprocess.Popen([path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd="/", env={}, close_fds=True,
                            start_new_session=True)


def _wait(proc: subprocess.Popen, timeout: float) -> tuple[str, str | None]:
    """Combined output and the failure reason (None on success)."""
    try:
        out, _ = proc.communicate(timeout=timeout)
        reason = None
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        out, _ = proc.communicate()
        reason = "timed out after %d seconds" % timeout
    text = (out or b"").decode("utf-8", "replace")
    if reason is None and proc.returncode != 0:
        if proc.returncode < 0:
            reason = "terminated by signal %d" % -proc.returncode
        else:
            reason = "exited with exit code %d" % proc.returncode
    return text, reason


def run_restricted_command(name) -> str:
    """Run restricted command ``name``; its output, or RpcError (see module doc)."""
    if not _autoconf.ENABLE_RESTRICTED_COMMANDS:
        raise errors.RpcError(DISABLED_MESSAGE)
    shown = name if isinstance(name, str) else repr(name)
    lock_fd = None
    proc = None
    try:
        try:
            lock_fd = _take_lock(lock_file(), DELAY * LOCK_WAIT_FACTOR)
            directory = pathutils.RESTRICTED_COMMANDS_DIR
            _check_directory(directory)
            if not valid_name(name):
                raise _Refused("invalid command name %r" % (name,))
            path = os.path.join(directory, name)
            _check_executable(path)
            proc = _start(path)
        except _Refused as err:
            logging.error("Restricted command %r refused: %s", name, err)
        except Exception:  # noqa: BLE001 - every failure gets the same answer
            logging.exception("Restricted command %r could not be started", name)
        if proc is None:
            # slow down guessing; holding the lock keeps the guesses sequential
            time.sleep(DELAY)
            raise errors.RpcError("Executing command '%s' failed" % shown)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    output, reason = _wait(proc, COMMAND_TIMEOUT)
    if reason:
        raise errors.RpcError("Restricted command '%s' failed: %s; output: %s"
                              % (shown, reason, output))
    return output


def restricted_command(cmd):
    """RPC procedure ``restricted_command``: one string, the command's name."""
    return run_restricted_command(cmd)


def directory_digest(directory: str | None = None) -> list | None:
    """One digest over a node's restricted commands (for cluster verify).

    Only an aggregate leaves the node: names and contents are never listed (S5.2).
    Returns [sha256 hex, owner, group, mode] of the directory, or None if missing.
    """
    import hashlib
    directory = directory or pathutils.RESTRICTED_COMMANDS_DIR
    try:
        st = os.stat(directory)
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    digest = hashlib.sha256()
    for name in names:
        path = os.path.join(directory, name)
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            fst = os.stat(path)
            digest.update(b"%d:%d:%o\0" % (fst.st_uid, fst.st_gid, fst.st_mode))
            if stat.S_ISREG(fst.st_mode):
                with open(path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(65536), b""):
                        digest.update(chunk)
        except OSError as err:
            digest.update(b"error:%d" % (err.errno or 0))
        digest.update(b"\0")
    return [digest.hexdigest(), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)]
