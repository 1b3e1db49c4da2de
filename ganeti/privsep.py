"""Privilege separation (S1, S6): daemon users/groups from configure, the privilege
drop, refusal of secrets open to others, who may run the CLI, and the system accounts
created by ``make install``.
"""

import argparse
import grp
import logging
import os
import pwd
import stat
import sys

from ganeti import _autoconf
from ganeti import constants
from ganeti import errors
from ganeti import pathutils


class PrivsepError(errors.GenericError):
    """A user/group problem: unknown account, wrong start user, loose secret."""


# Daemon -> (_autoconf attribute of its user, of its primary group)
_IDENTITY_KEYS = {
    constants.MASTERD: ("MASTERD_USER", "MASTERD_GROUP"),
    constants.LUXID: ("LUXID_USER", "LUXID_GROUP"),
    constants.NODED: ("NODED_USER", "NODED_GROUP"),
    constants.RAPI: ("RAPI_USER", "RAPI_GROUP"),
    constants.CONFD: ("CONFD_USER", "CONFD_GROUP"),
    constants.MOND: ("MOND_USER", "MOND_GROUP"),
}

# Secrets each daemon reads (files-and-config.md section 2.2).  A daemon refuses to
# start while one of them is accessible by others; missing files are not an error.
_SECRETS = {
    constants.NODED: ("NODED_CERT_FILE", "NODED_CLIENT_CERT_FILE",
                      "CLUSTER_DOMAIN_SECRET_FILE"),
    # masterd reads every ancillary secret to distribute it to the nodes
    constants.MASTERD: ("NODED_CERT_FILE", "NODED_CLIENT_CERT_FILE", "CONFD_HMAC_KEY",
                        "CLUSTER_DOMAIN_SECRET_FILE", "RAPI_CERT_FILE",
                        "RAPI_USERS_FILE"),
    constants.LUXID: ("NODED_CLIENT_CERT_FILE",),
    constants.CONFD: ("CONFD_HMAC_KEY",),
    constants.RAPI: ("RAPI_CERT_FILE", "RAPI_USERS_FILE"),
    constants.MOND: (),
}

_dropped_to: int | None = None


# --- identities --------------------------------------------------------------------
def daemon_user(daemon: str) -> str:
    """Build-time user name of a daemon (e.g. ``gnt-masterd`` or ``root``)."""
    return getattr(_autoconf, _IDENTITY_KEYS[daemon][0])


def daemon_group(daemon: str) -> str:
    """Build-time primary group name of a daemon."""
    return getattr(_autoconf, _IDENTITY_KEYS[daemon][1])


def lookup_uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise PrivsepError("User '%s' does not exist (create it with 'make install' "
                           "as root, or useradd)" % user) from None


def lookup_gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise PrivsepError("Group '%s' does not exist (create it with 'make install' "
                           "as root, or groupadd)" % group) from None


def admin_gid() -> int:
    """Gid of the admin group, -1 when it does not exist."""
    try:
        return grp.getgrnam(_autoconf.ADMIN_GROUP).gr_gid
    except KeyError:
        return -1


def owner_ids(user: str, group: str) -> tuple[int, int]:
    """(uid, gid) of the names, -1 for one that does not exist (chown leaves it)."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        uid = -1
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = -1
    return uid, gid


def config_file_gid() -> int:
    """Group for config.data (masterd:confd 0640) so that confd can read it.

    For the writer of config.data: ``io.write_file(..., gid=config_file_gid())``; the
    masterd user is a member of the confd group, so it may give the file that group.
    """
    return owner_ids(_autoconf.MASTERD_USER, _autoconf.CONFD_GROUP)[1]


def job_file_ids() -> tuple[int, int]:
    """(uid, gid) for job queue files (masterd:daemons 0640), e.g. for the copies
    noded writes on the master candidates, which masterd reads after a failover."""
    return owner_ids(_autoconf.MASTERD_USER, _autoconf.DAEMONS_GROUP)


# --- daemon start ------------------------------------------------------------------
def check_start_user(daemon: str, no_user_checks: bool = False) -> None:
    """A daemon must be started as root (it drops privileges) or as its own user."""
    if no_user_checks:
        return
    user = daemon_user(daemon)
    uid = lookup_uid(user)
    euid = os.geteuid()
    if euid == 0 or euid == uid:
        return
    if uid == 0:
        raise PrivsepError("%s must run as root (running as uid %d)" % (daemon, euid))
    raise PrivsepError("%s must be started as root or as user %s (running as uid %d)"
                       % (daemon, user, euid))


def _describe_access(mode: int) -> str:
    kinds = [word for bit, word in ((0o004, "readable"), (0o002, "writable"),
                                    (0o001, "executable")) if mode & bit]
    return " and ".join(kinds) if len(kinds) < 3 else "readable, writable and executable"


def _table_modes() -> dict[str, int]:
    from ganeti.tools import ensure_dirs
    return {path: mode for path, _kind, mode, _u, _g in ensure_dirs.get_paths()}


def check_secret_files(paths: list[str]) -> list[str]:
    """Messages for every existing file in ``paths`` that others may access."""
    wanted = _table_modes()
    problems = []
    for path in paths:
        try:
            st = os.stat(path)
        except (FileNotFoundError, PermissionError):
            # missing optional file, or one this user cannot even see
            continue
        except OSError as err:
            problems.append("cannot check %s: %s" % (path, err.strerror or err))
            continue
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o007:
            target = wanted.get(path, mode & 0o770)
            problems.append("%s is %s by others (mode %04o); set it to %04o with "
                            "ensure-dirs or chmod" % (path, _describe_access(mode),
                                                      mode, target))
    return problems


def daemon_secret_files(daemon: str) -> list[str]:
    return [getattr(pathutils, name) for name in _SECRETS.get(daemon, ())]


def check_daemon_secrets(daemon: str) -> None:
    """Refuse to start (S1.4, stricter point 3) when a secret is open to others."""
    problems = check_secret_files(daemon_secret_files(daemon))
    if problems:
        raise PrivsepError("Refusing to start: %s" % "; ".join(problems))


def socket_owner(daemon: str) -> dict:
    """``uid``/``gid`` keyword arguments for a luxi socket of ``daemon`` (S6).

    The socket belongs to the daemon's user and to the admin group.  The owner can only
    be changed while still root; -1 leaves a value alone.
    """
    uid = -1
    if os.geteuid() == 0:
        try:
            uid = lookup_uid(daemon_user(daemon))
        except PrivsepError:
            uid = -1
    return {"uid": uid, "gid": admin_gid()}


def _prepare_own_files(daemon: str, uid: int) -> None:
    """While still root: apply the directory table and hand the log file over.

    The log file was opened as root before the switch; its owner must be the daemon
    user so that it can be reopened (e.g. after log rotation).
    """
    from ganeti.tools import ensure_dirs
    for problem in ensure_dirs.ensure_paths():
        logging.warning("ensure-dirs: %s", problem)
    logfile = pathutils.daemon_logfile(daemon)
    try:
        if os.stat(logfile).st_uid != uid:
            os.chown(logfile, uid, -1)
    except OSError:
        pass


def drop_privileges(daemon: str) -> bool:
    """Switch a daemon started as root to its build-time user and groups.

    Does nothing (and returns False) when the daemon's user is root, when not running
    as root, or when already done.  Supplementary groups are the user's groups from
    the group database plus the daemon's primary group.
    """
    global _dropped_to
    if _dropped_to is not None or os.geteuid() != 0:
        return False
    user, group = daemon_user(daemon), daemon_group(daemon)
    uid = lookup_uid(user)
    if uid == 0:
        return False
    gid = lookup_gid(group)
    _prepare_own_files(daemon, uid)
    pw_gid = pwd.getpwnam(user).pw_gid
    groups = sorted(set(os.getgrouplist(user, pw_gid)) | {gid})
    os.setgroups(groups)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise PrivsepError("Could still regain root after dropping privileges")
    _dropped_to = uid
    logging.info("Running as user %s (uid %d), group %s, groups %s", user, uid, group,
                 ",".join(str(g) for g in groups))
    return True


# --- command line tools ----------------------------------------------------------
def cli_access_error(prog: str) -> str | None:
    """None if this process may use the cluster's sockets, else the refusal message.

    Allowed are root and processes holding the admin group (S1.3); the group list of
    the process is what the kernel checks against the socket, so that is used here.
    """
    if os.geteuid() == 0:
        return None
    gid = admin_gid()
    if gid != -1 and (gid == os.getegid() or gid in os.getgroups()):
        return None
    return ("%s must be run as root or by a member of the '%s' group"
            % (prog, _autoconf.ADMIN_GROUP))


# --- system accounts (make install) --------------------------------------------------
def account_plan() -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """(groups, [(user, primary group)], [(user, extra group)]) of this build.

    root is never created nor given memberships; a user listed twice (luxid runs as
    the masterd user) keeps its first primary group.
    """
    ac = _autoconf
    groups: list[str] = []
    for name in (ac.MASTERD_GROUP, ac.LUXID_GROUP, ac.RAPI_GROUP, ac.CONFD_GROUP,
                 ac.ADMIN_GROUP, ac.DAEMONS_GROUP, ac.NODED_GROUP, ac.MOND_GROUP):
        if name != "root" and name not in groups:
            groups.append(name)
    users: list[tuple[str, str]] = []
    for user, group in ((ac.MASTERD_USER, ac.MASTERD_GROUP),
                        (ac.LUXID_USER, ac.LUXID_GROUP), (ac.RAPI_USER, ac.RAPI_GROUP),
                        (ac.CONFD_USER, ac.CONFD_GROUP), (ac.NODED_USER, ac.NODED_GROUP),
                        (ac.MOND_USER, ac.MOND_GROUP)):
        if user != "root" and user not in [u for u, _ in users]:
            users.append((user, group))
    # files-and-config.md section 1, "extra group memberships"
    wanted = [(ac.MASTERD_USER, ac.DAEMONS_GROUP), (ac.MASTERD_USER, ac.ADMIN_GROUP),
              (ac.MASTERD_USER, ac.CONFD_GROUP),
              (ac.CONFD_USER, ac.DAEMONS_GROUP),
              (ac.LUXID_USER, ac.DAEMONS_GROUP), (ac.LUXID_USER, ac.MASTERD_GROUP),
              (ac.LUXID_USER, ac.CONFD_GROUP), (ac.LUXID_USER, ac.LUXID_GROUP),
              (ac.RAPI_USER, ac.DAEMONS_GROUP), (ac.RAPI_USER, ac.ADMIN_GROUP),
              (ac.MOND_USER, ac.DAEMONS_GROUP), (ac.MOND_USER, ac.MASTERD_GROUP)]
    members: list[tuple[str, str]] = []
    for pair in wanted:
        if "root" not in pair and pair not in members:
            members.append(pair)
    return groups, users, members


def _nologin_shell() -> str:
    for shell in ("/usr/sbin/nologin", "/sbin/nologin"):
        if os.path.exists(shell):
            return shell
    return "/bin/false"


def account_commands() -> list[list[str]]:
    """The groupadd/useradd/usermod commands still needed on this host (idempotent)."""
    groups, users, members = account_plan()
    cmds: list[list[str]] = []
    existing_groups = set()
    for group in groups:
        try:
            grp.getgrnam(group)
            existing_groups.add(group)
        except KeyError:
            cmds.append(["groupadd", "--system", group])
    for user, primary in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            cmds.append(["useradd", "--system", "--no-create-home", "--shell",
                         _nologin_shell(), "--gid", primary, user])
    for user, group in members:
        current = []
        if group in existing_groups:
            current = grp.getgrnam(group).gr_mem
        if user not in current:
            cmds.append(["usermod", "-a", "-G", group, user])
    return cmds


def create_accounts(runner=None, out=None) -> int:
    """Run :func:`account_commands`; return 0 on success, 1 on the first failure."""
    out = out or sys.stdout
    if runner is None:
        from ganeti.utils import process

        def runner(cmd):
            return process.run_cmd(cmd, reset_env=True, timeout=60)
    cmds = account_commands()
    if not cmds:
        out.write("daemon users and groups: all present\n")
        return 0
    for cmd in cmds:
        out.write(" %s\n" % " ".join(cmd))
        result = runner(cmd)
        if result.failed:
            out.write("failed: %s\n" % result.output.strip())
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m ganeti.privsep",
        description="Create the daemon users and groups chosen at build time")
    parser.add_argument("action", choices=["create-accounts", "show-accounts"])
    opts = parser.parse_args(argv)
    if opts.action == "show-accounts":
        for cmd in account_commands():
            print(" ".join(cmd))
        return 0
    if os.geteuid() != 0:
        sys.stderr.write("creating users and groups needs root\n")
        return 1
    return create_accounts()


if __name__ == "__main__":
    sys.exit(main())
