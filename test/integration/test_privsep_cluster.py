"""Privilege separation (S1) and the master-side sockets (S6) on a real cluster.

A copy configured with --with-user-prefix=gnt- --with-group-prefix=gnt- is built and
installed into build/privsep-root, and a 3-node virtual cluster on 127.0.21.x runs it.
Every attack is tried for real: a user outside gnt-admin runs the CLI and connects to
the sockets, daemons are started by the wrong user and with an open key file.
"""

import errno
import grp
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.security]

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = os.path.join(TOP, "build", "privsep-root")
NET_PREFIX = "127.0.21"
CONFIGURE_ARGS = ["--with-user-prefix=gnt-", "--with-group-prefix=gnt-"]
MASTERD = "gnt-masterd"
ADMIN = "gnt-admin"
# Test users: one outside every Ganeti group, one in the admin group only
OUTSIDER = "gnt-t%d-out" % (os.getpid() % 100000)
ADMIN_USER = "gnt-t%d-adm" % (os.getpid() % 100000)
REFUSAL = "must be run as root or by a member of the 'gnt-admin' group"
RAW_CONNECT = """
import errno, socket, sys
for path in sys.argv[1:]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        print("connected")
    except OSError as err:
        print(errno.errorcode.get(err.errno, err.errno))
    sock.close()
"""


def _load_harness():
    """A private copy of test/lib/vcluster.py bound to our prefix and addresses.

    The harness reads its settings at import time and the main integration test has
    its own copy loaded already, hence a separate module object.
    """
    saved = {k: os.environ.get(k) for k in ("GANETI_TEST_PREFIX", "GANETI_TEST_NET_PREFIX")}
    os.environ["GANETI_TEST_PREFIX"] = PREFIX
    os.environ["GANETI_TEST_NET_PREFIX"] = NET_PREFIX
    try:
        spec = importlib.util.spec_from_file_location(
            "vcluster_privsep", os.path.join(TOP, "test", "lib", "vcluster.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return module


def _installed_autoconf() -> dict:
    import glob
    for path in glob.glob(os.path.join(PREFIX, "lib", "python3*", "site-packages",
                                       "ganeti", "_autoconf.py")):
        namespace: dict = {}
        with open(path) as fh:
            exec(compile(fh.read(), path, "exec"), namespace)  # noqa: S102 - our file
        return namespace
    return {}


def _build() -> None:
    """quickstart build with the prefixes; once more if a concurrent build of the
    shared source tree got in between (the installed settings are checked)."""
    for _attempt in range(2):
        result = subprocess.run([os.path.join(TOP, "quickstart.sh"), "build", PREFIX]
                                + CONFIGURE_ARGS, capture_output=True, text=True,
                                timeout=600, cwd=TOP)
        if result.returncode == 0 and _installed_autoconf().get("MASTERD_USER") == MASTERD:
            return
    pytest.fail("building %s failed:\n%s" % (PREFIX, (result.stdout + result.stderr)[-3000:]))


def _interpreter_usable_by(user: str) -> bool:
    """Can ``user`` run the installed tools' interpreter with its standard library?"""
    with open(os.path.join(PREFIX, "sbin", "gnt-cluster")) as fh:
        python = fh.readline()[2:].strip()
    stdlib = subprocess.run([python, "-c", "import os; print(os.path.dirname("
                             "os.path.realpath(os.__file__)))"], capture_output=True,
                            text=True, check=True).stdout.strip()
    return _as_user(user, ["test", "-r", os.path.join(stdlib, "datetime.py")]).returncode == 0


def _as_user(user: str, argv: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid", user, "--regid",
                           str(pwd.getpwnam(user).pw_gid), "--init-groups", "--"] + argv,
                          capture_output=True, text=True, timeout=60, **kwargs)


def _useradd(name: str, groups: list[str]) -> None:
    cmd = ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin"]
    if groups:
        cmd += ["-G", ",".join(groups)]
    subprocess.run(cmd + [name], check=True, capture_output=True, timeout=60)


def _userdel(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    subprocess.run(["userdel", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def installed():
    if os.geteuid() != 0:
        pytest.skip("needs root (users, daemons, sshd)")
    for tool in ("setpriv", "useradd", "userdel"):
        if shutil.which(tool) is None:
            pytest.skip("%s is missing" % tool)
    _build()
    if not _interpreter_usable_by(MASTERD):
        pytest.fail("the installed interpreter's standard library is not readable by "
                    "%s; rebuild the venv with './quickstart.sh deps'" % MASTERD)
    return _installed_autoconf()


@pytest.fixture(scope="module")
def cluster(installed):
    harness = _load_harness()
    vc = harness.create(3, 2, net_prefix=NET_PREFIX, prefix="gnt-privsep-")
    try:
        os.chmod(vc.dir, 0o755)  # mkdtemp's 0700 would lock the daemon users out
        _useradd(OUTSIDER, [])
        _useradd(ADMIN_USER, [ADMIN])
        vc.harness = harness
        yield vc
    finally:
        harness.teardown(vc)
        _userdel(OUTSIDER)
        _userdel(ADMIN_USER)


def _var(vc, node: str, *parts) -> str:
    return os.path.join(vc.node_root(node), PREFIX.lstrip("/"), "var", *parts)


def _data(vc, node: str, name: str = "") -> str:
    return _var(vc, node, "lib", "ganeti", name)


def _socket_dir(vc) -> str:
    return _var(vc, "node1", "run", "ganeti", "socket")


def _owner(path: str) -> tuple:
    st = os.stat(path)
    return (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def _daemon_processes(vc, name: str) -> dict:
    """{node: psutil.Process} of daemon ``name`` in this cluster."""
    import psutil
    found = {}
    for pid in vc.processes():
        try:
            proc = psutil.Process(pid)
            cmdline = " ".join(proc.cmdline())
            env_root = proc.environ().get("GANETI_ROOTDIR", "")
        except psutil.Error:
            continue
        if "sbin/" + name in cmdline:
            found[os.path.basename(env_root)] = proc
    return found




# --- the tests (file order: one cluster) ---------------------------------------------
def test_install_created_accounts(installed):
    assert installed["MASTERD_USER"] == installed["LUXID_USER"] == MASTERD
    assert installed["NODED_USER"] == installed["MOND_USER"] == "root"
    users = {name: pwd.getpwnam(name) for name in (MASTERD, "gnt-rapi", "gnt-confd")}
    for missing in ("gnt-luxid", "gnt-noded", "gnt-mond"):
        with pytest.raises(KeyError):
            pwd.getpwnam(missing)

    def member(user, group):
        entry = grp.getgrnam(group)
        return user in entry.gr_mem or users[user].pw_gid == entry.gr_gid

    assert users[MASTERD].pw_gid == grp.getgrnam(MASTERD).gr_gid
    assert users[MASTERD].pw_shell.endswith("nologin")
    for group in ("gnt-daemons", ADMIN, "gnt-confd", "gnt-luxid", MASTERD):
        assert member(MASTERD, group), group
    for group in ("gnt-daemons", ADMIN):
        assert member("gnt-rapi", group), group
    assert member("gnt-confd", "gnt-daemons")
    assert not member("gnt-confd", ADMIN) and not member("gnt-confd", MASTERD)
    # idempotent: nothing is left to do for another install
    site = os.path.dirname(os.path.dirname(_installed_autoconf_path()))
    show = subprocess.run([installed["PYTHON"], "-m", "ganeti.privsep", "show-accounts"],
                          capture_output=True, text=True, cwd="/", timeout=60,
                          env=dict(os.environ, PYTHONPATH=site), check=True)
    assert show.stdout == ""


def _installed_autoconf_path() -> str:
    import glob
    return glob.glob(os.path.join(PREFIX, "lib", "python3*", "site-packages", "ganeti",
                                  "_autoconf.py"))[0]


def test_init_node_add_instance_add(cluster):
    cluster.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
                "--enabled-hypervisors=fake", "--enabled-disk-templates=file,diskless",
                "--nic-parameters=link=lo", "--file-storage-dir=/srv/ganeti/file-storage",
                "--ipolicy-bounds-specs=%s" % cluster.harness.IPOLICY, "cluster")
    confd = _daemon_processes(cluster, "ganeti-confd")
    if confd:
        assert confd["node1"].uids().effective == pwd.getpwnam("gnt-confd").pw_uid
    # the join reads root-only keys: it runs in the master's noded, not in masterd
    for node in ("node2", "node3"):
        assert "Adding node %s" % node in cluster.gnt("gnt-node", "add", node).stdout
    cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node3",
                "inst1")
    cluster.gnt("gnt-instance", "add", "-t", "file", "--disk", "0:size=16M", "-o", "noop",
                "-n", "node2", "inst2")
    out = cluster.gnt("gnt-instance", "list", "--no-headers", "-o", "name,status").stdout
    assert out.split() == ["inst1", "running", "inst2", "running"]


def test_master_daemons_run_unprivileged_noded_as_root(cluster):
    uid = pwd.getpwnam(MASTERD).pw_uid
    masterd = _daemon_processes(cluster, "ganeti-masterd")
    luxid = _daemon_processes(cluster, "ganeti-luxid")
    assert set(masterd) == set(luxid) == {"node1"}
    for proc, group in ((masterd["node1"], MASTERD), (luxid["node1"], "gnt-luxid")):
        assert tuple(proc.uids()) == (uid, uid, uid)
        assert tuple(proc.gids()) == (grp.getgrnam(group).gr_gid,) * 3
        with open("/proc/%d/status" % proc.pid) as fh:
            status = dict(line.split(":", 1) for line in fh if ":" in line)
        assert int(status["CapEff"].strip(), 16) == 0
        groups = {int(g) for g in status["Groups"].split()}
        assert 0 not in groups and grp.getgrnam(ADMIN).gr_gid in groups
    noded = _daemon_processes(cluster, "ganeti-noded")
    assert set(noded) == {"node1", "node2", "node3"}
    for proc in noded.values():
        assert tuple(proc.uids()) == (0, 0, 0)
    # the daemons' own files belong to them
    assert _owner(_var(cluster, "node1", "log", "ganeti", "master-daemon.log"))[:2] == \
        (0o600, MASTERD)
    assert _owner(_var(cluster, "node1", "run", "ganeti", "ganeti-masterd.pid"))[1] == \
        MASTERD
    assert _owner(_data(cluster, "node1", "config.data"))[:2] == (0o640, MASTERD)


def test_socket_modes_and_groups(cluster):
    assert _owner(_socket_dir(cluster)) == (0o770, MASTERD, ADMIN)
    for name in ("ganeti-master", "ganeti-query"):
        path = os.path.join(_socket_dir(cluster), name)
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert _owner(path) == (0o660, MASTERD, ADMIN), name


def test_key_files_are_closed_to_others(cluster):
    expected = {"server.pem": (0o440, MASTERD, MASTERD),
                "client.pem": (0o440, MASTERD, MASTERD),
                "hmac.key": (0o440, "gnt-confd", MASTERD),
                "cluster-domain-secret": (0o640, MASTERD, MASTERD),
                "rapi.pem": (0o440, "gnt-rapi", MASTERD)}
    for node in ("node1", "node2", "node3"):
        for name, want in expected.items():
            assert _owner(_data(cluster, node, name)) == want, (node, name)
        for name in os.listdir(_data(cluster, node)):
            if name.endswith((".pem", ".key")) or name in ("cluster-domain-secret",
                                                            "config.data"):
                assert os.stat(_data(cluster, node, name)).st_mode & 0o007 == 0, name


def test_admin_group_member_may_use_the_cli(cluster):
    result = _as_user(ADMIN_USER, [os.path.join(cluster.node_root("node1"), "cmd"),
                                   "gnt-node", "list", "--no-headers", "-o", "name"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["node1", "node2", "node3"]


def test_cli_refuses_user_outside_admin_group(cluster):
    for cmd in (["gnt-cluster", "getmaster"], ["gnt-instance", "list"],
                ["gnt-job", "list"]):
        result = _as_user(OUTSIDER, [os.path.join(cluster.node_root("node1"), "cmd")]
                          + cmd)
        assert result.returncode == 1
        assert result.stderr == "%s %s\n" % (cmd[0], REFUSAL)
        assert result.stdout == ""


def test_raw_connect_outside_admin_group_gets_eacces(cluster):
    sockets = [os.path.join(_socket_dir(cluster), n) for n in ("ganeti-master",
                                                               "ganeti-query")]
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

    def connect(user):
        return _as_user(user, [python, "-c", RAW_CONNECT] + sockets).stdout.split()

    assert connect(OUTSIDER) == [errno.errorcode[errno.EACCES]] * 2
    assert connect(ADMIN_USER) == ["connected"] * 2
    # with the directory open, the socket's own mode and group still refuse
    os.chmod(_socket_dir(cluster), 0o775)
    try:
        assert connect(OUTSIDER) == [errno.errorcode[errno.EACCES]] * 2
    finally:
        os.chmod(_socket_dir(cluster), 0o770)


def test_daemons_refuse_the_wrong_start_user(cluster):
    cmd = os.path.join(cluster.node_root("node1"), "cmd")
    result = _as_user(OUTSIDER, [cmd, os.path.join(PREFIX, "sbin", "ganeti-masterd"), "-f"])
    assert result.returncode == 1
    assert "ganeti-masterd must be started as root or as user gnt-masterd" in result.stderr
    result = _as_user(OUTSIDER, [cmd, os.path.join(PREFIX, "sbin", "ganeti-noded"), "-f"])
    assert result.returncode == 1
    assert "ganeti-noded must run as root" in result.stderr


def _daemon_util(vc, node: str, *args) -> subprocess.CompletedProcess:
    return vc.run(vc.daemon_util, *args, node=node, check=False)


@pytest.mark.parametrize("node,daemon,name,mode,words", [
    ("node3", "noded", "server.pem", 0o644, "readable by others (mode 0644); set it to 0440"),
    ("node1", "masterd", "hmac.key", 0o442, "writable by others (mode 0442); set it to 0440"),
])
def test_daemon_refuses_secret_open_to_others(cluster, node, daemon, name, mode, words):
    path = _data(cluster, node, name)
    old_mode = stat.S_IMODE(os.stat(path).st_mode)
    assert _daemon_util(cluster, node, "stop", daemon).returncode == 0
    try:
        os.chmod(path, mode)
        result = _daemon_util(cluster, node, "start", daemon)
        assert result.returncode != 0
        assert "ganeti-%s: Refusing to start: %s is %s" % (daemon, path, words) in \
            result.stderr
        assert cluster.daemon_pid(node, "ganeti-" + daemon) == 0
        assert node not in _daemon_processes(cluster, "ganeti-" + daemon)
    finally:
        os.chmod(path, old_mode)
        started = _daemon_util(cluster, node, "start", daemon)
    assert started.returncode == 0, started.stderr
    out = cluster.gnt("gnt-node", "list", "--no-headers", "-o", "name").stdout
    assert out.split() == ["node1", "node2", "node3"]
