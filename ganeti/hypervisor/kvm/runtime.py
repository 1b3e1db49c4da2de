"""The runtime files of KVM instances below RUN_DIR/kvm-hypervisor.

pid/NAME (qemu's pid file), conf/NAME.runtime (what the instance was started with, as
JSON), ctrl/NAME.qmp and ctrl/NAME.serial (sockets), log/NAME.console (serial log),
uid/NAME (pool uid), chroot/NAME: a restarted noded finds its instances through them.
"""

import os
import shutil
import time

from ganeti import errors
from ganeti import pathutils
from ganeti import serializer
from ganeti.utils import io
from ganeti.utils import process

# sun_path of a unix socket holds at most 107 bytes plus the terminating NUL
MAX_SOCKET_PATH = 107


class RuntimeDirs:
    """The directory layout; ``base`` defaults to this node's RUN_DIR/kvm-hypervisor."""

    SUBDIRS = ("pid", "conf", "ctrl", "log", "uid", "chroot", "chroot-quarantine", "tls")

    def __init__(self, base: str | None = None):
        self.base = base or os.path.join(pathutils.RUN_DIR, "kvm-hypervisor")

    def ensure(self) -> None:
        for sub in self.SUBDIRS:
            os.makedirs(os.path.join(self.base, sub), mode=0o755, exist_ok=True)
        # sockets, logs and keys are for root (and the instance's own uid) only
        for sub in ("ctrl", "log", "tls", "uid"):
            os.chmod(os.path.join(self.base, sub), 0o711 if sub == "ctrl" else 0o700)

    @staticmethod
    def _check_name(name: str) -> str:
        if not name or "/" in name or name.startswith(".") or "\0" in name:
            raise errors.HypervisorError("Invalid instance name %r" % (name,))
        return name

    def pidfile(self, name: str) -> str:
        return os.path.join(self.base, "pid", self._check_name(name))

    def runtime_file(self, name: str) -> str:
        return os.path.join(self.base, "conf", self._check_name(name) + ".runtime")

    def qmp_socket(self, name: str) -> str:
        return os.path.join(self.base, "ctrl", self._check_name(name) + ".qmp")

    def serial_socket(self, name: str) -> str:
        return os.path.join(self.base, "ctrl", self._check_name(name) + ".serial")

    def agent_socket(self, name: str) -> str:
        return os.path.join(self.base, "ctrl", self._check_name(name) + ".qga")

    def console_log(self, name: str) -> str:
        return os.path.join(self.base, "log", self._check_name(name) + ".console")

    def uid_file(self, name: str) -> str:
        return os.path.join(self.base, "uid", self._check_name(name))

    def chroot_dir(self, name: str) -> str:
        return os.path.join(self.base, "chroot", self._check_name(name))

    def quarantine_dir(self) -> str:
        return os.path.join(self.base, "chroot-quarantine")

    def tls_dir(self) -> str:
        return os.path.join(self.base, "tls")

    def check_socket_paths(self, name: str) -> None:
        for path in (self.qmp_socket(name), self.serial_socket(name)):
            if len(path.encode()) > MAX_SOCKET_PATH:
                raise errors.HypervisorError(
                    "Socket path %s is %d bytes long, more than a unix socket allows "
                    "(%d); use a shorter instance name or run directory"
                    % (path, len(path.encode()), MAX_SOCKET_PATH))

    # --- runtime record --------------------------------------------------------
    def save_runtime(self, name: str, data: dict) -> None:
        io.write_file(self.runtime_file(name), serializer.dump_json(data), mode=0o600,
                      fsync=False)

    def load_runtime(self, name: str) -> dict | None:
        try:
            return serializer.load_json(io.read_file(self.runtime_file(name)))
        except (OSError, ValueError):
            return None

    def names(self) -> list[str]:
        """Instances that have a pid file (running or not)."""
        try:
            return sorted(n for n in os.listdir(os.path.join(self.base, "pid"))
                          if not n.startswith("."))
        except FileNotFoundError:
            return []

    # --- process -----------------------------------------------------------------
    def running_pid(self, name: str) -> int:
        """qemu's pid when the instance's own qemu process is alive, else 0.

        The process must be alive and its command line must name the instance and
        this pid file, so a recycled pid is never taken for the instance.
        """
        pid = process.read_pid_file(self.pidfile(name))
        if not pid or not process.is_process_alive(pid):
            return 0
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            return 0
        want_name = name.encode()
        pidfile = self.pidfile(name).encode()
        has_name = any(a == b"-name" and i + 1 < len(argv) and
                       argv[i + 1].split(b",")[0] == want_name
                       for i, a in enumerate(argv))
        return pid if has_name and pidfile in argv else 0

    def cleanup(self, name: str, keep_uid: bool = False) -> None:
        """Remove the files of a stopped instance (never the pool uid record unless
        asked: the caller releases the uid first)."""
        for path in (self.pidfile(name), self.runtime_file(name), self.qmp_socket(name),
                     self.serial_socket(name), self.agent_socket(name)):
            io.remove_file(path)
        if not keep_uid:
            io.remove_file(self.uid_file(name))
        chroot = self.chroot_dir(name)
        if os.path.isdir(chroot):
            try:
                os.rmdir(chroot)
            except OSError:
                self.quarantine_chroot(name)

    def quarantine_chroot(self, name: str) -> str | None:
        """Move a non-empty chroot aside (kept for forensics); returns its new path."""
        chroot = self.chroot_dir(name)
        if not os.path.isdir(chroot):
            return None
        if not os.listdir(chroot):
            os.rmdir(chroot)
            return None
        target = os.path.join(self.quarantine_dir(), "%s-%d" % (name, int(time.time())))
        os.makedirs(self.quarantine_dir(), exist_ok=True)
        shutil.move(chroot, target)
        return target

    def prepare_chroot(self, name: str) -> str:
        chroot = self.chroot_dir(name)
        self.quarantine_chroot(name)
        os.makedirs(chroot, mode=0o755, exist_ok=True)
        return chroot
