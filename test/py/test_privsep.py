"""Tests of ganeti.privsep (S1, S6): identities, secret modes, start user, CLI access,
account creation, the privilege drop and the socket permissions.

Users and groups come from a fake passwd/group database (monkeypatch); the tests that
really change uids run in a forked child and need root.
"""

import errno
import grp
import os
import socket
import stat
import types

import pytest

from ganeti import _autoconf, cli, constants, daemon, luxi, pathutils, privsep

PREFIXED = {
    "MASTERD_USER": "gnt-masterd", "LUXID_USER": "gnt-masterd", "RAPI_USER": "gnt-rapi",
    "CONFD_USER": "gnt-confd", "NODED_USER": "root", "MOND_USER": "root",
    "MASTERD_GROUP": "gnt-masterd", "LUXID_GROUP": "gnt-luxid", "RAPI_GROUP": "gnt-rapi",
    "CONFD_GROUP": "gnt-confd", "NODED_GROUP": "root", "MOND_GROUP": "root",
    "ADMIN_GROUP": "gnt-admin", "DAEMONS_GROUP": "gnt-daemons",
}
USERS = {"root": (0, 0), "gnt-masterd": (901, 901), "gnt-rapi": (902, 902),
         "gnt-confd": (903, 903)}
GROUPS = {"root": (0, []), "gnt-masterd": (901, []), "gnt-rapi": (902, []),
          "gnt-confd": (903, ["gnt-masterd"]), "gnt-luxid": (904, []),
          "gnt-admin": (905, ["gnt-masterd", "gnt-rapi"]),
          "gnt-daemons": (906, ["gnt-masterd", "gnt-rapi", "gnt-confd"])}


class FakeDb:
    """pwd and grp replacements backed by USERS / GROUPS (editable per test)."""

    def __init__(self, users=None, groups=None):
        self.users = dict(USERS if users is None else users)
        self.groups = {k: (v[0], list(v[1]))
                       for k, v in (GROUPS if groups is None else groups).items()}

    def getpwnam(self, name):
        if name not in self.users:
            raise KeyError(name)
        uid, gid = self.users[name]
        return types.SimpleNamespace(pw_name=name, pw_uid=uid, pw_gid=gid)

    def getgrnam(self, name):
        if name not in self.groups:
            raise KeyError(name)
        gid, members = self.groups[name]
        return types.SimpleNamespace(gr_name=name, gr_gid=gid, gr_mem=members)


@pytest.fixture
def prefixed(monkeypatch):
    for key, value in PREFIXED.items():
        monkeypatch.setattr(_autoconf, key, value)
    db = FakeDb()
    monkeypatch.setattr(privsep, "pwd", db)
    monkeypatch.setattr(privsep, "grp", db)
    return db


def _as_uid(monkeypatch, uid, groups=(), egid=None):
    monkeypatch.setattr(privsep.os, "geteuid", lambda: uid)
    monkeypatch.setattr(privsep.os, "getgroups", lambda: list(groups))
    monkeypatch.setattr(privsep.os, "getegid", lambda: uid if egid is None else egid)


# --- identities ------------------------------------------------------------------
def test_daemon_identities_follow_the_build(prefixed):
    assert privsep.daemon_user(constants.MASTERD) == "gnt-masterd"
    assert privsep.daemon_user(constants.LUXID) == "gnt-masterd"
    assert privsep.daemon_group(constants.LUXID) == "gnt-luxid"
    assert privsep.daemon_user(constants.NODED) == "root"
    assert privsep.daemon_user(constants.MOND) == "root"
    assert privsep.lookup_uid("gnt-rapi") == 902
    assert privsep.lookup_gid("gnt-admin") == 905
    assert privsep.admin_gid() == 905


def test_unknown_accounts_are_reported(prefixed):
    with pytest.raises(privsep.PrivsepError, match="User 'nobody-here' does not exist"):
        privsep.lookup_uid("nobody-here")
    with pytest.raises(privsep.PrivsepError, match="Group 'nogroup-here' does not"):
        privsep.lookup_gid("nogroup-here")
    del prefixed.groups["gnt-admin"]
    assert privsep.admin_gid() == -1


def test_ids_for_files_written_by_other_modules(prefixed):
    assert privsep.owner_ids("gnt-masterd", "gnt-daemons") == (901, 906)
    assert privsep.owner_ids("nobody-here", "nogroup-here") == (-1, -1)
    assert privsep.config_file_gid() == 903
    assert privsep.job_file_ids() == (901, 906)


# --- start user ----------------------------------------------------------------------
def test_start_as_root_or_own_user_is_accepted(prefixed, monkeypatch):
    for uid in (0, 901):
        _as_uid(monkeypatch, uid)
        privsep.check_start_user(constants.MASTERD)
        privsep.check_start_user(constants.LUXID)


def test_start_as_another_user_is_refused(prefixed, monkeypatch):
    _as_uid(monkeypatch, 902)
    with pytest.raises(privsep.PrivsepError,
                       match="ganeti-masterd must be started as root or as user "
                             "gnt-masterd \\(running as uid 902\\)"):
        privsep.check_start_user(constants.MASTERD)
    with pytest.raises(privsep.PrivsepError, match="ganeti-noded must run as root"):
        privsep.check_start_user(constants.NODED)
    # --no-user-checks
    privsep.check_start_user(constants.MASTERD, no_user_checks=True)


def test_run_daemon_refuses_wrong_user_before_anything(prefixed, monkeypatch, capsys):
    _as_uid(monkeypatch, 903)
    options = types.SimpleNamespace(no_user_checks=False, foreground=True, debug=False,
                                    syslog=None)

    def prepare(_options):
        raise AssertionError("prepare must not run")

    assert daemon.run_daemon(constants.MASTERD, options, prepare, None,
                             user="gnt-masterd") == 1
    assert "must be started as root or as user gnt-masterd" in capsys.readouterr().err


# --- secrets ----------------------------------------------------------------------------
@pytest.fixture
def secret(tmp_path, monkeypatch):
    path = tmp_path / "server.pem"
    path.write_text("key\n")
    monkeypatch.setattr(pathutils, "NODED_CERT_FILE", str(path))
    monkeypatch.setattr(pathutils, "NODED_CLIENT_CERT_FILE", str(tmp_path / "none.pem"))
    monkeypatch.setattr(pathutils, "CLUSTER_DOMAIN_SECRET_FILE", str(tmp_path / "no-cds"))
    monkeypatch.setattr(privsep, "_table_modes", lambda: {str(path): 0o440})
    return path


@pytest.mark.parametrize("mode,words", [
    (0o644, "readable by others (mode 0644)"),
    (0o442, "writable by others (mode 0442)"),
    (0o446, "readable and writable by others (mode 0446)"),
    (0o441, "executable by others (mode 0441)"),
])
def test_secret_open_to_others_is_reported(secret, mode, words):
    secret.chmod(mode)
    problems = privsep.check_secret_files([str(secret)])
    assert problems == ["%s is %s; set it to 0440 with ensure-dirs or chmod"
                        % (secret, words)]


@pytest.mark.parametrize("mode", [0o400, 0o440, 0o640, 0o660, 0o600])
def test_secret_closed_to_others_passes(secret, mode):
    secret.chmod(mode)
    assert privsep.check_secret_files([str(secret)]) == []


def test_missing_secret_is_fine(tmp_path):
    assert privsep.check_secret_files([str(tmp_path / "absent")]) == []


def test_mode_suggestion_without_table_entry_drops_other_bits(tmp_path, monkeypatch):
    path = tmp_path / "extra.key"
    path.write_text("x")
    path.chmod(0o664)
    monkeypatch.setattr(privsep, "_table_modes", lambda: {})
    assert "set it to 0660" in privsep.check_secret_files([str(path)])[0]


def test_secret_modes_of_the_table_are_closed_to_others():
    modes = privsep._table_modes()
    for name in ("NODED_CERT_FILE", "NODED_CLIENT_CERT_FILE", "RAPI_CERT_FILE",
                 "CONFD_HMAC_KEY", "CLUSTER_DOMAIN_SECRET_FILE", "RAPI_USERS_FILE",
                 "SPICE_CERT_FILE"):
        path = getattr(pathutils, name)
        assert modes[path] & 0o007 == 0, name
    assert modes[pathutils.NODED_CERT_FILE] == 0o440
    assert modes[pathutils.CLUSTER_DOMAIN_SECRET_FILE] == 0o640


def test_each_daemon_checks_its_secrets():
    assert pathutils.NODED_CERT_FILE in privsep.daemon_secret_files(constants.NODED)
    master = privsep.daemon_secret_files(constants.MASTERD)
    for path in (pathutils.NODED_CLIENT_CERT_FILE, pathutils.CONFD_HMAC_KEY,
                 pathutils.CLUSTER_DOMAIN_SECRET_FILE, pathutils.RAPI_CERT_FILE,
                 pathutils.RAPI_USERS_FILE):
        assert path in master
    assert privsep.daemon_secret_files(constants.CONFD) == [pathutils.CONFD_HMAC_KEY]
    assert pathutils.RAPI_USERS_FILE in privsep.daemon_secret_files(constants.RAPI)


def test_run_daemon_refuses_world_readable_server_pem(secret, monkeypatch, capsys):
    monkeypatch.setattr(privsep, "check_start_user", lambda *args, **kwargs: None)
    secret.chmod(0o644)
    options = types.SimpleNamespace(no_user_checks=False, foreground=True, debug=False,
                                    syslog=None)

    def prepare(_options):
        raise AssertionError("prepare must not run")

    assert daemon.run_daemon(constants.NODED, options, prepare, None) == 1
    err = capsys.readouterr().err
    assert err.startswith("ganeti-noded: Refusing to start: ")
    assert "%s is readable by others (mode 0644); set it to 0440" % secret in err


# --- command line access -----------------------------------------------------------
def test_cli_access_root_and_admin_members(prefixed, monkeypatch):
    _as_uid(monkeypatch, 0)
    assert privsep.cli_access_error("gnt-node") is None
    _as_uid(monkeypatch, 1500, groups=[100, 905])
    assert privsep.cli_access_error("gnt-node") is None
    _as_uid(monkeypatch, 1500, groups=[], egid=905)
    assert privsep.cli_access_error("gnt-node") is None


def test_cli_access_refused_outside_admin_group(prefixed, monkeypatch):
    _as_uid(monkeypatch, 1500, groups=[100, 906])
    assert privsep.cli_access_error("gnt-node") == (
        "gnt-node must be run as root or by a member of the 'gnt-admin' group")
    del prefixed.groups["gnt-admin"]
    assert "'gnt-admin'" in privsep.cli_access_error("gnt-instance")


def test_run_commands_refuses_before_running_anything(prefixed, monkeypatch, capsys,
                                                      tmp_path):
    _as_uid(monkeypatch, 1500, groups=[100])
    monkeypatch.setattr(pathutils, "COMMANDS_LOG", str(tmp_path / "commands.log"))
    called = []
    commands = [cli.Command("info", lambda opts: called.append(opts) or 0, "info")]
    assert cli.run_commands("gnt-cluster", "test", commands, ["info"]) == 1
    assert called == []
    assert not (tmp_path / "commands.log").exists()
    assert capsys.readouterr().err == (
        "gnt-cluster must be run as root or by a member of the 'gnt-admin' group\n")
    _as_uid(monkeypatch, 1500, groups=[905])
    assert cli.run_commands("gnt-cluster", "test", commands, ["info"]) == 0
    assert len(called) == 1


# --- sockets ---------------------------------------------------------------------------
def test_socket_owner_is_daemon_user_and_admin_group(prefixed, monkeypatch):
    _as_uid(monkeypatch, 0)
    assert privsep.socket_owner(constants.MASTERD) == {"uid": 901, "gid": 905}
    assert privsep.socket_owner(constants.LUXID) == {"uid": 901, "gid": 905}
    _as_uid(monkeypatch, 901)
    assert privsep.socket_owner(constants.MASTERD) == {"uid": -1, "gid": 905}


# --- accounts ---------------------------------------------------------------------------
def test_account_plan_of_a_prefixed_build(prefixed):
    groups, users, members = privsep.account_plan()
    assert groups == ["gnt-masterd", "gnt-luxid", "gnt-rapi", "gnt-confd", "gnt-admin",
                      "gnt-daemons"]
    assert users == [("gnt-masterd", "gnt-masterd"), ("gnt-rapi", "gnt-rapi"),
                     ("gnt-confd", "gnt-confd")]
    for pair in [("gnt-masterd", "gnt-daemons"), ("gnt-masterd", "gnt-admin"),
                 ("gnt-masterd", "gnt-confd"), ("gnt-masterd", "gnt-luxid"),
                 ("gnt-masterd", "gnt-masterd"), ("gnt-confd", "gnt-daemons"),
                 ("gnt-rapi", "gnt-daemons"), ("gnt-rapi", "gnt-admin")]:
        assert pair in members
    assert all("root" not in pair for pair in members)
    assert ("gnt-confd", "gnt-admin") not in members
    assert len(members) == len(set(members))


def test_default_build_needs_no_accounts(monkeypatch):
    for key in PREFIXED:
        monkeypatch.setattr(_autoconf, key, "root")
    assert privsep.account_plan() == ([], [], [])
    assert privsep.account_commands() == []


def test_account_commands_create_only_what_is_missing(prefixed, monkeypatch):
    db = FakeDb(users={"root": (0, 0)}, groups={"root": (0, [])})
    monkeypatch.setattr(privsep, "pwd", db)
    monkeypatch.setattr(privsep, "grp", db)
    cmds = privsep.account_commands()
    assert ["groupadd", "--system", "gnt-admin"] in cmds
    useradd = [c for c in cmds if c[0] == "useradd"]
    assert [c[-1] for c in useradd] == ["gnt-masterd", "gnt-rapi", "gnt-confd"]
    assert useradd[0][:4] == ["useradd", "--system", "--no-create-home", "--shell"]
    assert useradd[0][-3:] == ["--gid", "gnt-masterd", "gnt-masterd"]
    assert ["usermod", "-a", "-G", "gnt-admin", "gnt-rapi"] in cmds
    # groups come before the users that need them, memberships last
    kinds = [c[0] for c in cmds]
    assert kinds == sorted(kinds, key=["groupadd", "useradd", "usermod"].index)


def test_account_commands_are_idempotent(prefixed):
    _groups, _users, members = privsep.account_plan()
    for user, group in members:
        if user not in prefixed.groups[group][1]:
            prefixed.groups[group][1].append(user)
    assert privsep.account_commands() == []
    prefixed.groups["gnt-admin"][1].remove("gnt-rapi")
    assert privsep.account_commands() == [["usermod", "-a", "-G", "gnt-admin",
                                           "gnt-rapi"]]


def test_create_accounts_runs_commands_and_stops_on_failure(prefixed, capsys):
    prefixed.groups["gnt-admin"][1].remove("gnt-rapi")
    ran = []

    def runner(cmd):
        ran.append(cmd)
        return types.SimpleNamespace(failed=len(ran) > 1, output="boom")

    assert privsep.create_accounts(runner) == 1
    assert ran[0][0] == "usermod"
    assert "failed: boom" in capsys.readouterr().out


# --- privilege drop -----------------------------------------------------------------------
def test_drop_privileges_sets_groups_then_gid_then_uid(prefixed, monkeypatch):
    _as_uid(monkeypatch, 0)
    calls = []
    monkeypatch.setattr(privsep, "_dropped_to", None)
    monkeypatch.setattr(privsep, "_prepare_own_files",
                        lambda daemon, uid: calls.append(("prepare", daemon, uid)))
    monkeypatch.setattr(privsep.os, "getgrouplist", lambda user, gid: [gid, 905, 906])
    monkeypatch.setattr(privsep.os, "setgroups", lambda g: calls.append(("groups", g)))
    monkeypatch.setattr(privsep.os, "setresgid", lambda *g: calls.append(("gid", g)))
    monkeypatch.setattr(privsep.os, "setresuid", lambda *u: calls.append(("uid", u)))

    def setuid(uid):
        raise PermissionError(errno.EPERM, "not permitted")

    monkeypatch.setattr(privsep.os, "setuid", setuid)
    assert privsep.drop_privileges(constants.LUXID) is True
    assert calls == [("prepare", constants.LUXID, 901), ("groups", [901, 904, 905, 906]),
                     ("gid", (904, 904, 904)), ("uid", (901, 901, 901))]
    # only once
    assert privsep.drop_privileges(constants.LUXID) is False


def test_drop_privileges_noop_for_root_daemons_and_non_root(prefixed, monkeypatch):
    monkeypatch.setattr(privsep, "_dropped_to", None)
    monkeypatch.setattr(privsep.os, "setresuid", None)  # would fail if called
    _as_uid(monkeypatch, 0)
    assert privsep.drop_privileges(constants.NODED) is False
    _as_uid(monkeypatch, 901)
    assert privsep.drop_privileges(constants.MASTERD) is False


def test_drop_privileges_refuses_if_root_can_be_regained(prefixed, monkeypatch):
    _as_uid(monkeypatch, 0)
    monkeypatch.setattr(privsep, "_dropped_to", None)
    monkeypatch.setattr(privsep, "_prepare_own_files", lambda daemon, uid: None)
    monkeypatch.setattr(privsep.os, "getgrouplist", lambda user, gid: [gid])
    for name in ("setgroups", "setresgid", "setresuid", "setuid"):
        monkeypatch.setattr(privsep.os, name, lambda *args: None)
    with pytest.raises(privsep.PrivsepError, match="regain root"):
        privsep.drop_privileges(constants.MASTERD)


def _in_child(func) -> int:
    """Run ``func`` in a forked child; its return value is the exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            code = func()
        except BaseException:  # noqa: BLE001 - reported through the exit status
            import traceback
            traceback.print_exc()
            code = 99
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def open_dir():
    """A directory every user can traverse (pytest's tmp_path parents are 0700), so
    that a refusal comes from the file itself."""
    import shutil
    import tempfile
    path = tempfile.mkdtemp(prefix="gnt-privsep-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _nobody():
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
        group = grp.getgrgid(nobody.pw_gid).gr_name
    except KeyError:
        pytest.skip("no 'nobody' account")
    return nobody, group


@needs_root
def test_real_drop_cannot_regain_root_nor_read_root_files(open_dir, monkeypatch):
    nobody, group = _nobody()
    monkeypatch.setattr(_autoconf, "MASTERD_USER", "nobody")
    monkeypatch.setattr(_autoconf, "MASTERD_GROUP", group)
    monkeypatch.setattr(privsep, "_prepare_own_files", lambda daemon, uid: None)
    secret = os.path.join(open_dir, "root-only")
    with open(secret, "w") as fh:
        fh.write("secret")
    os.chmod(secret, 0o600)

    def child():
        assert privsep.drop_privileges(constants.MASTERD)
        assert os.getresuid() == (nobody.pw_uid,) * 3
        assert os.getresgid() == (nobody.pw_gid,) * 3
        assert 0 not in os.getgroups()
        for attempt in (lambda: os.setuid(0), lambda: os.seteuid(0),
                        lambda: os.setgroups([0])):
            try:
                attempt()
                return 1
            except PermissionError:
                pass
        try:
            open(secret).read()
            return 2
        except PermissionError:
            return 0

    assert _in_child(child) == 0


@needs_root
def test_socket_refuses_users_outside_its_group(open_dir):
    """S6: 0660 + group: a process outside the group gets EACCES on connect()."""
    nobody, _group = _nobody()
    path = os.path.join(open_dir, "sock")
    group_gid = 4242  # any gid: membership is what counts
    server = luxi.Server(path, lambda method, args, peer: "pong", gid=group_gid,
                         uid=nobody.pw_uid)
    server.start()
    try:
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert (st.st_uid, st.st_gid) == (nobody.pw_uid, group_gid)

        def connect_as(uid, gid, groups):
            def child():
                os.setgroups(groups)
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(path)
                except PermissionError as err:
                    return 13 if err.errno == errno.EACCES else 3
                client = luxi.Client(address=path)
                return 0 if client.call_method("QueryClusterInfo") == "pong" else 4
            return _in_child(child)

        assert connect_as(54321, 54321, []) == 13
        assert connect_as(54321, 54321, [group_gid]) == 0
    finally:
        server.stop()
