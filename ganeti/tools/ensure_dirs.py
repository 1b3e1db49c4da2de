"""ensure-dirs: create Ganeti's directories and fix owner, group and mode of its files.

The table of paths (files-and-config.md section 2) is plain data returned by
``get_paths()`` so that other code (e.g. cluster verification) can reuse it.  Paths come
from ``ganeti.pathutils`` and are therefore below the node root in a virtual cluster.
"""

import argparse
import glob
import grp
import logging
import os
import pwd
import re
import stat
import sys

from ganeti import _autoconf, pathutils

# Entry types of the path table
DIR = "dir"                  # create if missing, fix owner/group/mode
DIR_CREATE_ONLY = "dir-new"  # create if missing, never touch an existing one
FILE = "file"                # fix owner/group/mode if it exists
GLOB = "glob"                # like FILE, for every match of a shell pattern
QUEUE_DIR = "queue-dir"      # like DIR, plus the job files inside it

PathEntry = tuple[str, str, int, str, str]

JOB_FILE_RE = re.compile(r"^job-\d+$")
JOB_FILE_MODE = 0o640
ARCHIVE_DIR_MODE = 0o750

_log = logging.getLogger("ensure-dirs")


def get_paths() -> list[PathEntry]:
    """The (path, type, mode, user, group) table, parents before children.

    Users and groups are names; they are resolved only when the table is applied.
    """
    ac = _autoconf
    masterd, masterd_g = ac.MASTERD_USER, ac.MASTERD_GROUP
    luxid, luxid_g = ac.LUXID_USER, ac.LUXID_GROUP
    noded, noded_g = ac.NODED_USER, ac.NODED_GROUP
    rapi = ac.RAPI_USER
    confd, confd_g = ac.CONFD_USER, ac.CONFD_GROUP
    mond = ac.MOND_USER
    daemons_g = ac.DAEMONS_GROUP
    admin_g = ac.ADMIN_GROUP
    data = pathutils.DATA_DIR
    run = pathutils.RUN_DIR
    log = pathutils.LOG_DIR
    queue_file = (FILE, 0o640, masterd, daemons_g)

    return [
        # DATA_DIR (/var/lib/ganeti)
        (data, DIR, 0o755, masterd, masterd_g),
        (pathutils.CLUSTER_CONF_FILE, FILE, 0o640, masterd, confd_g),
        (os.path.join(data, "locks.data"), FILE, 0o640, masterd, confd_g),
        (os.path.join(data, "tempres.data"), FILE, 0o640, masterd, confd_g),
        (pathutils.NODED_CERT_FILE, FILE, 0o440, masterd, masterd_g),
        (pathutils.NODED_CLIENT_CERT_FILE, FILE, 0o440, masterd, masterd_g),
        (pathutils.RAPI_CERT_FILE, FILE, 0o440, rapi, masterd_g),
        (pathutils.SPICE_CERT_FILE, FILE, 0o440, noded, masterd_g),
        (pathutils.SPICE_CACERT_FILE, FILE, 0o440, noded, masterd_g),
        (pathutils.CONFD_HMAC_KEY, FILE, 0o440, confd, masterd_g),
        (pathutils.CLUSTER_DOMAIN_SECRET_FILE, FILE, 0o640, masterd, masterd_g),
        (pathutils.SSH_KNOWN_HOSTS_FILE, FILE, 0o644, masterd, masterd_g),
        (pathutils.SSH_PUB_KEYS, FILE, 0o600, "root", "root"),
        (pathutils.WATCHER_PAUSEFILE, FILE, 0o644, masterd, masterd_g),
        (os.path.join(data, "ssconf_*"), GLOB, 0o444, noded, noded_g),
        (pathutils.RAPI_DATA_DIR, DIR, 0o750, rapi, masterd_g),
        (pathutils.RAPI_USERS_FILE, FILE, 0o640, rapi, masterd_g),
        # Job queue
        (pathutils.QUEUE_DIR, QUEUE_DIR, 0o750, masterd, daemons_g),
        (pathutils.JOB_QUEUE_SERIAL_FILE,) + queue_file,
        (pathutils.JOB_QUEUE_VERSION_FILE,) + queue_file,
        (pathutils.JOB_QUEUE_LOCK_FILE,) + queue_file,
        (pathutils.JOB_QUEUE_DRAIN_FILE, FILE, 0o644, masterd, daemons_g),
        (pathutils.JOB_QUEUE_ARCHIVE_DIR, DIR, ARCHIVE_DIR_MODE, masterd, daemons_g),
        # RUN_DIR (/var/run/ganeti)
        (run, DIR, 0o775, masterd, daemons_g),
        # S6: the luxi sockets (and their directory) belong to the admin group, whose
        # members (and root) may use the command line tools; the masterd and rapi
        # users are in it, luxid runs as the masterd user.
        (pathutils.SOCKET_DIR, DIR, 0o770, masterd, admin_g),
        (pathutils.MASTER_SOCKET, FILE, 0o660, masterd, admin_g),
        (pathutils.QUERY_SOCKET, FILE, 0o660, luxid, admin_g),
        (pathutils.BDEV_CACHE_DIR, DIR, 0o755, noded, masterd_g),
        (pathutils.DISK_LINKS_DIR, DIR, 0o755, noded, masterd_g),
        (os.path.join(run, "uid-pool"), DIR, 0o750, noded, masterd_g),
        (pathutils.CRYPTO_KEYS_DIR, DIR, 0o700, noded, masterd_g),
        (pathutils.IMPORT_EXPORT_DIR, DIR, 0o755, noded, masterd_g),
        (pathutils.INSTANCE_REASON_DIR, DIR, 0o755, noded, noded_g),
        (os.path.join(run, "livelocks"), DIR, 0o750, masterd, daemons_g),
        (os.path.join(run, "luxidmessages"), DIR, 0o750, masterd, daemons_g),
        # LOG_DIR (/var/log/ganeti)
        (log, DIR, 0o770, masterd, daemons_g),
        (os.path.join(log, "master-daemon.log"), FILE, 0o600, masterd, masterd_g),
        (os.path.join(log, "node-daemon.log"), FILE, 0o600, noded, masterd_g),
        (os.path.join(log, "luxi-daemon.log"), FILE, 0o600, luxid, masterd_g),
        (os.path.join(log, "conf-daemon.log"), FILE, 0o600, confd, masterd_g),
        (os.path.join(log, "rapi-daemon.log"), FILE, 0o600, rapi, masterd_g),
        (os.path.join(log, "monitoring-daemon.log"), FILE, 0o600, mond, masterd_g),
        (pathutils.JOBS_LOG, FILE, 0o600, luxid, luxid_g),
        # written by the command line tools run as root
        (pathutils.COMMANDS_LOG, FILE, 0o600, "root", "root"),
        (pathutils.OS_LOG_DIR, DIR, 0o750, noded, daemons_g),
        (os.path.join(log, "extstorage"), DIR, 0o750, noded, daemons_g),
        # The lock directory is usually the system's /var/lock: create it when missing
        # but never change an existing one.
        (pathutils.LOCK_DIR, DIR_CREATE_ONLY, 0o755, noded, noded_g),
        # CONF_DIR (/etc/ganeti)
        (pathutils.CONF_DIR, DIR, 0o755, noded, noded_g),
        (pathutils.HOOKS_BASE_DIR, DIR, 0o755, noded, noded_g),
    ]


class _Fixer:
    """Applies the table, collecting errors instead of stopping at the first."""

    def __init__(self, uids: dict[str, int], gids: dict[str, int]) -> None:
        self.uids = uids
        self.gids = gids
        self.errors: list[str] = []

    def error(self, msg: str) -> None:
        _log.error(msg)
        self.errors.append(msg)

    def fix(self, path: str, mode: int, user: str, group: str,
            st: os.stat_result | None = None) -> None:
        """Set owner, group and mode of an existing path if they differ."""
        uid, gid = self.uids[user], self.gids[group]
        try:
            if st is None:
                st = os.stat(path)
            if st.st_uid != uid or st.st_gid != gid:
                _log.info("%s: owner %d:%d -> %s:%s", path, st.st_uid, st.st_gid,
                          user, group)
                os.chown(path, uid, gid)
            if stat.S_IMODE(st.st_mode) != mode:
                _log.info("%s: mode %04o -> %04o", path, stat.S_IMODE(st.st_mode), mode)
                os.chmod(path, mode)
        except OSError as err:
            self.error(f"Cannot fix permissions of {path}: {err}")

    def ensure_dir(self, path: str, mode: int, user: str, group: str,
                   fix_existing: bool = True) -> bool:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        except OSError as err:
            self.error(f"Cannot stat {path}: {err}")
            return False
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                self.error(f"{path} exists but is not a directory")
                return False
            if fix_existing:
                self.fix(path, mode, user, group, st)
            else:
                _log.debug("%s exists, left as it is", path)
            return True
        _log.info("Creating directory %s", path)
        try:
            # Missing parents (e.g. a fresh virtual node root) get ordinary 0755.
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        except OSError as err:
            self.error(f"Cannot create directory {path}: {err}")
            return False
        self.fix(path, mode, user, group)
        return True

    def ensure_file(self, path: str, mode: int, user: str, group: str) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            _log.debug("%s does not exist, skipped", path)
            return
        except OSError as err:
            self.error(f"Cannot stat {path}: {err}")
            return
        if stat.S_ISLNK(st.st_mode):
            # Follow nothing: whoever made the link owns its target.
            _log.debug("%s is a symbolic link, skipped", path)
            return
        if stat.S_ISDIR(st.st_mode):
            self.error(f"{path} is a directory, expected a file")
            return
        self.fix(path, mode, user, group, st)

    def fix_job_files(self, queue_dir: str, user: str, group: str) -> None:
        try:
            names = sorted(os.listdir(queue_dir))
        except OSError as err:
            self.error(f"Cannot list {queue_dir}: {err}")
            return
        for name in names:
            if JOB_FILE_RE.match(name):
                self.ensure_file(os.path.join(queue_dir, name), JOB_FILE_MODE, user,
                                 group)

    def fix_archive(self, archive_dir: str, user: str, group: str) -> None:
        def onerror(err: OSError) -> None:
            self.error(f"Cannot walk {err.filename}: {err}")

        for dirpath, dirnames, filenames in os.walk(archive_dir, onerror=onerror):
            for name in sorted(dirnames):
                sub = os.path.join(dirpath, name)
                if not os.path.islink(sub):
                    self.fix(sub, ARCHIVE_DIR_MODE, user, group)
            for name in sorted(filenames):
                self.ensure_file(os.path.join(dirpath, name), JOB_FILE_MODE, user,
                                 group)


def _resolve(entries: list[PathEntry]) -> tuple[dict[str, int], dict[str, int],
                                                list[str]]:
    uids: dict[str, int] = {}
    gids: dict[str, int] = {}
    errors = []
    for _path, _kind, _mode, user, group in entries:
        if user not in uids:
            try:
                uids[user] = pwd.getpwnam(user).pw_uid
            except KeyError:
                uids[user] = -1
                errors.append(f"Unknown user '{user}'")
        if group not in gids:
            try:
                gids[group] = grp.getgrnam(group).gr_gid
            except KeyError:
                gids[group] = -1
                errors.append(f"Unknown group '{group}'")
    return uids, gids, errors


def ensure_paths(entries: list[PathEntry] | None = None,
                 full_run: bool = False) -> list[str]:
    """Apply the path table; return the list of error messages (empty on success).

    Nothing is touched when a user or group of the table does not exist.
    """
    if entries is None:
        entries = get_paths()
    uids, gids, errors = _resolve(entries)
    if errors:
        for msg in errors:
            _log.error(msg)
        return errors

    fixer = _Fixer(uids, gids)
    for path, kind, mode, user, group in entries:
        if kind == DIR:
            fixer.ensure_dir(path, mode, user, group)
        elif kind == DIR_CREATE_ONLY:
            fixer.ensure_dir(path, mode, user, group, fix_existing=False)
        elif kind == QUEUE_DIR:
            if fixer.ensure_dir(path, mode, user, group):
                fixer.fix_job_files(path, user, group)
        elif kind == FILE:
            fixer.ensure_file(path, mode, user, group)
        elif kind == GLOB:
            for match in sorted(glob.glob(path)):
                fixer.ensure_file(match, mode, user, group)
        else:
            fixer.error(f"Unknown entry type {kind!r} for {path}")
    if full_run:
        archive = [e for e in entries if e[0] == pathutils.JOB_QUEUE_ARCHIVE_DIR]
        if archive and os.path.isdir(pathutils.JOB_QUEUE_ARCHIVE_DIR):
            _, _, _, user, group = archive[0]
            fixer.fix_archive(pathutils.JOB_QUEUE_ARCHIVE_DIR, user, group)
    return fixer.errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ensure-dirs",
        description="Create Ganeti's directories and fix the permissions of its files")
    parser.add_argument("-f", "--full-run", action="store_true",
                        help="also fix the archived jobs of the queue")
    parser.add_argument("-d", "--debug", action="store_true", help="debug output")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="report every change")
    opts = parser.parse_args(argv)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s %(message)s"))
    _log.addHandler(handler)
    _log.propagate = False
    if opts.debug:
        _log.setLevel(logging.DEBUG)
    elif opts.verbose:
        _log.setLevel(logging.INFO)
    else:
        _log.setLevel(logging.WARNING)
    try:
        errors = ensure_paths(full_run=opts.full_run)
    finally:
        _log.removeHandler(handler)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
