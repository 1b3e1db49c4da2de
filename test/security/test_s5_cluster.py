"""S5.2 on a real virtual cluster: restricted commands through the CLI, masterd and
every node daemon.  This module also provides the cluster the other S5, verify and
secrets modules share (``s5_cluster``): 4 virtual nodes on 127.0.23.x (override with
GANETI_S5_NET_PREFIX), node1-node3 joined, node4 left for join/removal hooks.
"""

import os
import shutil
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

import vcluster as harness  # noqa: E402

pytestmark = [pytest.mark.security, pytest.mark.integration]

NET_PREFIX = os.environ.get("GANETI_S5_NET_PREFIX", "127.0.23")
FILE_STORAGE = "/srv/ganeti/file-storage"
_LOCK = threading.Lock()
_STATE: dict = {}


class S5Cluster:
    """The shared cluster plus path helpers for one virtual node's files."""

    def __init__(self, cluster):
        self.vc = cluster
        self.sysconf = harness._autoconf_value("SYSCONFDIR").lstrip("/")
        self.localstate = harness._autoconf_value("LOCALSTATEDIR").lstrip("/")
        self.restricted_enabled = harness._autoconf_value("ENABLE_RESTRICTED_COMMANDS")

    def gnt(self, *cmd, **kwargs):
        return self.vc.gnt(*cmd, **kwargs)

    def root(self, node: str) -> str:
        return self.vc.node_root(node)

    def conf_dir(self, node: str) -> str:
        return os.path.join(self.root(node), self.sysconf, "ganeti")

    def hooks_dir(self, node: str, subdir: str) -> str:
        return os.path.join(self.conf_dir(node), "hooks", subdir)

    def restricted_dir(self, node: str) -> str:
        return os.path.join(self.conf_dir(node), "restricted-commands")

    def data_dir(self, node: str) -> str:
        return os.path.join(self.root(node), self.localstate, "lib", "ganeti")

    def log_dir(self, node: str) -> str:
        return os.path.join(self.root(node), self.localstate, "log", "ganeti")

    def joined(self) -> list[str]:
        return ["node1", "node2", "node3"]


def write_script(path: str, body: str, mode: int = 0o755) -> str:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def _create():
    if not harness.installed():
        pytest.skip("no installed copy in %s (run ./quickstart.sh test)" % harness.PREFIX)
    if os.geteuid() != 0:
        pytest.skip("the virtual cluster needs root (sshd, noded)")
    old_prefix = harness.NET_PREFIX
    try:
        cluster = harness.create(4, 2, net_prefix=NET_PREFIX, prefix="gnt-s5-")
    finally:
        # the harness keeps the prefix globally; leave the others' clusters alone
        harness.NET_PREFIX = old_prefix
    try:
        cluster.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
                    "--enabled-hypervisors=fake", "--enabled-disk-templates=file,diskless",
                    "--nic-parameters=link=lo", "--file-storage-dir=%s" % FILE_STORAGE,
                    "--ipolicy-bounds-specs=%s" % harness.IPOLICY, "cluster")
        for node in ("node2", "node3"):
            cluster.gnt("gnt-node", "add", node)
    except BaseException:
        harness.teardown(cluster)
        raise
    return cluster


def shared_cluster(request) -> S5Cluster:
    """Create the cluster once per session, whichever module asks first."""
    with _LOCK:
        if "error" in _STATE:
            pytest.skip("the S5 cluster could not be set up: %s" % _STATE["error"])
        if "cluster" not in _STATE:
            try:
                cluster = _create()
            except pytest.skip.Exception:
                raise
            except Exception as err:
                _STATE["error"] = str(err)
                raise
            _STATE["cluster"] = S5Cluster(cluster)
            request.session.addfinalizer(lambda: harness.teardown(cluster))
        return _STATE["cluster"]


@pytest.fixture(scope="session")
def s5_cluster(request) -> S5Cluster:
    return shared_cluster(request)


# --- restricted commands ---------------------------------------------------------
@pytest.fixture
def commands(s5_cluster):
    """Identical, valid restricted-command directories on node1-node3."""
    if not s5_cluster.restricted_enabled:
        pytest.skip("the installed copy was built without --enable-restricted-commands")
    marker_dir = os.path.join(s5_cluster.vc.dir, "rc-markers")
    os.makedirs(marker_dir, exist_ok=True)
    for node in s5_cluster.joined():
        directory = s5_cluster.restricted_dir(node)
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory)
        os.chmod(directory, 0o755)
        write_script(os.path.join(directory, "hello"), "echo hello-s5\n")
        write_script(os.path.join(directory, "where"), "pwd\n")
        write_script(os.path.join(directory, "probe"),
                     "touch %s/$(cat /proc/sys/kernel/random/uuid)\n" % marker_dir)
        os.symlink(shutil.which("env") or "/usr/bin/env",
                   os.path.join(directory, "show-env"))
    yield marker_dir
    for node in s5_cluster.joined():
        shutil.rmtree(s5_cluster.restricted_dir(node), ignore_errors=True)
    shutil.rmtree(marker_dir, ignore_errors=True)


def test_valid_commands_run_with_nothing_inherited(s5_cluster, commands):
    result = s5_cluster.gnt("gnt-node", "restricted-command", "hello", "node1", "node2",
                            "node3")
    assert result.stdout.splitlines() == ["-" * 48, "Node: node1", "hello-s5",
                                          "-" * 48, "Node: node2", "hello-s5",
                                          "-" * 48, "Node: node3", "hello-s5"]
    out = s5_cluster.gnt("gnt-node", "restricted-command", "-M", "--sync", "where",
                         "node2", "node3").stdout
    assert out.splitlines() == ["node2: /", "node3: /"]
    # a symlink to env(1): no variable at all, not even PATH or the vcluster's root
    out = s5_cluster.gnt("gnt-node", "restricted-command", "-M", "show-env", "node1",
                         "node2").stdout
    assert out == ""
    out = s5_cluster.gnt("gnt-node", "restricted-command", "-M", "-g", "default",
                         "hello").stdout
    assert sorted(out.splitlines()) == ["node1: hello-s5", "node2: hello-s5",
                                        "node3: hello-s5"]


@pytest.mark.parametrize("name", ["hello world", "hello -x", "../hello", "/bin/sh",
                                  "sub/probe", "probe;id", "probe.sh", "./probe"])
def test_arguments_and_paths_are_refused(s5_cluster, commands, name):
    start = time.monotonic()
    result = s5_cluster.gnt("gnt-node", "restricted-command", name, "node1", check=False)
    assert result.returncode == 1
    assert "Invalid restricted command name" in result.stderr
    assert time.monotonic() - start < 8  # refused by the master, nothing was sent
    assert os.listdir(commands) == []


def test_refusals_are_generic_and_delayed(s5_cluster, commands):
    """Three attacks at once, one per node: a name that does not exist (node1), a
    world-writable directory (node2), a directory not owned by root (node3)."""
    os.remove(os.path.join(s5_cluster.restricted_dir("node1"), "probe"))
    os.chmod(s5_cluster.restricted_dir("node2"), 0o777)
    os.chown(s5_cluster.restricted_dir("node3"), 65534, 65534)
    log_sizes = {n: _size(_noded_log(s5_cluster, n)) for n in s5_cluster.joined()}
    start = time.monotonic()
    result = s5_cluster.gnt("gnt-node", "restricted-command", "-M", "probe", "node1",
                            "node2", "node3", check=False)
    elapsed = time.monotonic() - start
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "node1: Executing command 'probe' failed",
        "node2: Executing command 'probe' failed",
        "node3: Executing command 'probe' failed"]
    assert elapsed >= 10, "refusals must be delayed by 10 s (took %.1f s)" % elapsed
    assert elapsed < 30  # the nodes wait in parallel
    assert os.listdir(commands) == []  # nothing ran
    # the real reasons stay in each node's own log
    reasons = {"node1": "cannot stat", "node2": "permission bits",
               "node3": "not root:root"}
    for node, reason in reasons.items():
        with open(_noded_log(s5_cluster, node), errors="replace") as fh:
            fh.seek(log_sizes[node])
            assert reason in fh.read(), node


def test_failing_command_reports_its_output(s5_cluster, commands):
    for node in ("node1", "node2"):
        write_script(os.path.join(s5_cluster.restricted_dir(node), "fails"),
                     "echo partial-output; exit 4\n")
    result = s5_cluster.gnt("gnt-node", "restricted-command", "-M", "fails", "node1",
                            "node2", check=False)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "node1: Restricted command 'fails' failed: exited with exit code 4; output: "
        "partial-output", "node2: Restricted command 'fails' failed: exited with exit "
        "code 4; output: partial-output"]


def _noded_log(s5_cluster, node: str) -> str:
    return os.path.join(s5_cluster.log_dir(node), "node-daemon.log")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
