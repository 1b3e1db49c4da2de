"""ssconf: the small per-key files every node keeps (``ssconf_<key>``).

They let any node learn the master, the candidates and their certificate digests
without reading config.data.
"""

import fcntl
import os
import time

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti.utils import io


def render_value(value) -> str:
    """Render a value as ssconf text: lists newline-joined, trailing newline."""
    if isinstance(value, (list, tuple)):
        value = "\n".join(str(v) for v in value)
    value = str(value)
    if value and not value.endswith("\n"):
        value += "\n"
    return value


def write_ssconf_files(values: dict, data_dir: str | None = None,
                       dry_run: bool = False) -> None:
    """Write ``ssconf_<key>`` files (mode 0444) under the ssconf lock."""
    data_dir = data_dir or pathutils.DATA_DIR
    for key, value in values.items():
        if key not in constants.VALID_SS_KEYS:
            raise errors.ConfigurationError("Invalid ssconf key %r" % key)
        text = render_value(value)
        if len(text) > constants.SS_MAX_FILE_SIZE:
            raise errors.ConfigurationError("ssconf value for %s is too large" % key)
    if dry_run:
        return
    lock_path = pathutils.SSCONF_LOCK_FILE if data_dir == pathutils.DATA_DIR else \
        os.path.join(data_dir, ".ssconf.lock")
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a") as lock_fh:
        _lock(lock_fh, 10)
        for key, value in values.items():
            io.write_file(os.path.join(data_dir, "ssconf_%s" % key), render_value(value),
                          mode=constants.SS_FILE_PERMS, fsync=False)
        io.fsync_dir(data_dir)


def _lock(fh, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise errors.LockError("Cannot acquire the ssconf lock") from None
            time.sleep(0.05)


class SimpleStore:
    """Reads ssconf files of this node."""

    def __init__(self, data_dir: str | None = None):
        self._dir = data_dir or pathutils.DATA_DIR

    def _path(self, key: str) -> str:
        return os.path.join(self._dir, "ssconf_%s" % key)

    def read(self, key: str, default=None) -> str:
        try:
            with open(self._path(key)) as fh:
                return fh.read(constants.SS_MAX_FILE_SIZE).rstrip("\n")
        except FileNotFoundError:
            if default is not None:
                return default
            raise errors.ConfigurationError("Cluster configuration incomplete: %s missing"
                                            % self._path(key)) from None

    def lines(self, key: str) -> list[str]:
        text = self.read(key, "")
        return [line for line in text.split("\n") if line]

    def get_cluster_name(self) -> str:
        return self.read(constants.SS_CLUSTER_NAME)

    def get_master_node(self) -> str:
        return self.read(constants.SS_MASTER_NODE)

    def get_master_ip(self) -> str:
        return self.read(constants.SS_MASTER_IP)

    def get_node_list(self) -> list[str]:
        return self.lines(constants.SS_NODE_LIST)

    def get_master_candidates(self) -> list[str]:
        return self.lines(constants.SS_MASTER_CANDIDATES)

    def get_node_primary_ips(self) -> dict[str, str]:
        result = {}
        for line in self.lines(constants.SS_NODE_PRIMARY_IPS):
            name, _, ip = line.partition(" ")
            result[name] = ip
        return result

    def get_master_candidates_certs(self) -> dict[str, str]:
        """uuid -> digest; an empty or missing file gives an empty map."""
        result = {}
        for line in self.lines(constants.SS_MASTER_CANDIDATES_CERTS):
            uuid, sep, digest = line.partition("=")
            if sep and uuid and digest:
                result[uuid.strip()] = digest.strip()
        return result

    def get_instance_list(self) -> list[str]:
        return self.lines(constants.SS_INSTANCE_LIST)


def get_master_and_myself() -> tuple[str, str]:
    """(master name from ssconf, this node's name)."""
    from ganeti import netutils
    return SimpleStore().get_master_node(), netutils.hostname()


def check_master() -> None:
    """Exit with EXIT_NOTMASTER when this node is not the master."""
    import sys
    try:
        master, me = get_master_and_myself()
    except errors.ConfigurationError as err:
        sys.stderr.write("Cluster configuration incomplete: %s\n" % err)
        raise SystemExit(constants.EXIT_NODESETUP_ERROR) from None
    if master != me:
        sys.stderr.write("This is not the master node (the master is %s)\n" % master)
        raise SystemExit(constants.EXIT_NOTMASTER)
