"""Tests for vcluster-setup: the node tree, the generated scripts, /etc/hosts blocks
and the control of the cluster's sshd (with a real sshd on 127.0.9.x)."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from ganeti import pathutils
from ganeti.tools import vcluster_setup as vs
from ganeti.utils.process import RunResult, is_process_alive, read_pid_file

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "vcluster-setup")
PREFIX = "127.0.9"
HAVE_SSHD = os.path.exists(vs.SSHD)
needs_sshd = pytest.mark.skipif(not HAVE_SSHD, reason=f"{vs.SSHD} is not installed"
                                " (apt-get install openssh-server)")


def read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def free_port(address: str = PREFIX + ".10") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANETI_")}
    return subprocess.run([sys.executable, TOOL, *args], check=False,
                          capture_output=True, text=True, env=env, timeout=120)


def kill_sshd(cluster_dir: str) -> None:
    """Teardown: stop the test's sshd by its pid (only if it is that sshd)."""
    pid = read_pid_file(os.path.join(cluster_dir, "ssh", "sshd.pid"))
    if pid and vs._is_our_sshd(pid, os.path.join(cluster_dir, "ssh", "sshd_config")):
        os.kill(pid, signal.SIGTERM)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cdir = str(tmp_path_factory.mktemp("vcluster") / "vc")
    port = free_port()
    result = run_tool("-E", "-c", "3", "-i", "2", "-p", PREFIX, "-s", str(port), cdir)
    assert result.returncode == 0, result.stderr
    return cdir, port


# Pure functions

def test_layout_assigns_documented_addresses():
    layout = vs.make_layout("/x/vc", "127.0.1", 3, 2)
    assert layout.cluster == ("cluster", "127.0.1.1")
    assert layout.nodes == [("node1", "127.0.1.10"), ("node2", "127.0.1.11"),
                            ("node3", "127.0.1.12")]
    assert layout.instances == [("instance1", "127.0.1.100"),
                                ("instance2", "127.0.1.101")]
    assert layout.host_entries()[0] == ("127.0.1.1", "cluster")
    assert layout.node_root("node2") == "/x/vc/node2"


def test_defaults_follow_ganeti_and_stay_on_loopback():
    opts = vs.build_parser().parse_args(["/x"])
    assert (opts.nodes, opts.instances, opts.prefix, opts.netdev, opts.ssh_port) == \
        (5, 20, "127.0.1", "lo", 22)


@pytest.mark.parametrize("prefix", ["10.0.0", "192.0.2", "128.0.0"])
def test_prefix_outside_loopback_is_refused(prefix, tmp_path, capsys):
    target = tmp_path / "vc"
    assert vs.main(["-E", "-p", prefix, str(target)]) == 1
    assert "outside 127.0.0.0/8" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.parametrize("prefix", ["127.0", "127.0.1.2", "127.a.1", "127.0.256"])
def test_malformed_prefix_is_refused(prefix):
    with pytest.raises(vs.SetupError, match="Invalid IP prefix"):
        vs.check_prefix(prefix)


def test_prefix_is_normalised():
    assert vs.check_prefix("127.000.9.") == "127.0.9"


def test_counts_are_bounded():
    with pytest.raises(vs.SetupError):
        vs.make_layout("/x", "127.0.1", 0, 0)
    with pytest.raises(vs.SetupError):
        vs.make_layout("/x", "127.0.1", 91, 0)
    with pytest.raises(vs.SetupError):
        vs.make_layout("/x", "127.0.1", 1, 156)


@pytest.mark.parametrize("path", ["/", "/tmp/with space", "/tmp/per%cent"])
def test_unsuitable_cluster_dir_is_refused(path):
    with pytest.raises(vs.SetupError):
        vs.check_cluster_dir(path)


def test_standard_build_node_dirs(monkeypatch):
    monkeypatch.setattr(vs._autoconf, "SYSCONFDIR", "/etc")
    monkeypatch.setattr(vs._autoconf, "LOCALSTATEDIR", "/var")
    paths = vs.node_paths("/vc/node1")
    got = sorted(paths[k] for k in vs._NODE_DIR_KEYS)
    assert got == sorted("/vc/node1/" + rel for rel in vs.STANDARD_NODE_DIRS)
    assert paths["file_storage_paths"] == "/vc/node1/etc/ganeti/file-storage-paths"


# The generated tree

def test_tree_has_every_node_directory(cluster):
    cdir, _ = cluster
    for k in (1, 2, 3):
        root = os.path.join(cdir, f"node{k}")
        for rel in vs.STANDARD_NODE_DIRS:
            assert os.path.isdir(os.path.join(root, rel)), rel
        for key in vs._NODE_DIR_KEYS:
            assert os.path.isdir(vs.node_paths(root)[key]), key
    assert not os.path.exists(os.path.join(cdir, "node4"))


def test_default_file_binds_noded_to_node_address(cluster):
    cdir, _ = cluster
    text = read(os.path.join(cdir, "node2/etc/default/ganeti"))
    assert 'NODED_ARGS="-b 127.0.9.11"' in text
    assert 'MASTERD_ARGS=""' in text and 'LUXID_ARGS=""' in text


def test_file_storage_paths_list_node_dirs(cluster):
    cdir, _ = cluster
    root = os.path.join(cdir, "node3")
    expected = [os.path.join(root, "srv/ganeti/file-storage"),
                os.path.join(root, "srv/ganeti/shared-file-storage")]
    for path in {os.path.join(root, "etc/ganeti/file-storage-paths"),
                 vs.node_paths(root)["file_storage_paths"]}:
        assert read(path).split() == expected


def test_scripts_are_executable_and_use_this_copy(cluster):
    cdir, _ = cluster
    for name in vs.SCRIPTS + ("node1/cmd",):
        mode = os.stat(os.path.join(cdir, name)).st_mode
        assert stat.S_IMODE(mode) == 0o755, name
    start = read(os.path.join(cdir, "start-all"))
    stop = read(os.path.join(cdir, "stop-all"))
    for k in (1, 2, 3):
        assert f"{cdir}/node{k}/cmd {pathutils.DAEMON_UTIL} start-all" in start
        assert f"{cdir}/node{k}/cmd {pathutils.DAEMON_UTIL} stop-all" in stop
    assert "--sshd start" in start and "--sshd stop" in stop
    assert os.path.join(pathutils.SBIN_DIR, "ganeti-watcher") in \
        read(os.path.join(cdir, "watcher-all"))


def test_cmd_wrapper_sets_node_environment(cluster):
    cdir, _ = cluster
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([os.path.join(cdir, "node2", "cmd"), "env"], env=env,
                         capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert values["GANETI_ROOTDIR"] == os.path.join(cdir, "node2")
    assert values["GANETI_HOSTNAME"] == "node2"
    assert values["PATH"].split(":")[0] == pathutils.SBIN_DIR


def test_cmd_wrapper_paths_match_pathutils(cluster):
    cdir, _ = cluster
    code = ("from ganeti import pathutils as p; "
            "print(p.DATA_DIR); print(p.FILE_STORAGE_PATHS_FILE)")
    out = subprocess.run([os.path.join(cdir, "node1", "cmd"), sys.executable, "-c",
                          code], env={"PATH": "/usr/bin:/bin", "PYTHONPATH": REPO},
                         capture_output=True, text=True, check=True).stdout
    data_dir, fsp = out.split()
    assert data_dir.startswith(os.path.join(cdir, "node1") + "/")
    assert os.path.isdir(data_dir)
    assert os.path.isfile(fsp)


def test_cmd_wrapper_without_command_fails(cluster):
    cdir, _ = cluster
    result = subprocess.run([os.path.join(cdir, "node1", "cmd")],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 2 and "Usage" in result.stderr


def test_ssh_keys_are_shared_by_all_nodes(cluster):
    cdir, port = cluster
    sdir = os.path.join(cdir, "ssh")
    config = read(os.path.join(sdir, "sshd_config"))
    for ip in ("127.0.9.10", "127.0.9.11", "127.0.9.12"):
        assert f"ListenAddress {ip}:{port}\n" in config
    assert f"PidFile {sdir}/sshd.pid\n" in config
    assert "PermitRootLogin prohibit-password\n" in config
    pub = read(os.path.join(sdir, "id_rsa.pub")).strip()
    assert pub.startswith("ssh-rsa ")
    assert pub in read(os.path.join(sdir, "authorized_keys")).splitlines()
    for k in (1, 2, 3):
        root = os.path.join(cdir, f"node{k}")
        for base in ("ssh_host_rsa_key", "ssh_host_ed25519_key"):
            for suffix, mode in (("", 0o600), (".pub", 0o644)):
                node_copy = os.path.join(root, "etc/ssh", base + suffix)
                assert read(node_copy) == \
                    read(os.path.join(sdir, base + suffix))
                assert stat.S_IMODE(os.stat(node_copy).st_mode) == mode
        assert read(os.path.join(root, "root/.ssh/id_rsa.pub")).strip() == pub
        assert stat.S_IMODE(os.stat(os.path.join(
            root, "root/.ssh/id_rsa")).st_mode) == 0o600


def test_sshd_config_is_accepted_by_sshd(cluster):
    if not HAVE_SSHD:
        pytest.skip(f"{vs.SSHD} is not installed")
    cdir, _ = cluster
    result = subprocess.run([vs.SSHD, "-t", "-f", os.path.join(cdir, "ssh",
                                                               "sshd_config")],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rerun_keeps_keys_and_succeeds(cluster):
    cdir, port = cluster
    key = read(os.path.join(cdir, "ssh", "ssh_host_rsa_key"))
    result = run_tool("-E", "-c", "3", "-i", "2", "-p", PREFIX, "-s", str(port), cdir)
    assert result.returncode == 0, result.stderr
    assert read(os.path.join(cdir, "ssh", "ssh_host_rsa_key")) == key


def test_init_script_runs_once_per_node(tmp_path):
    log = tmp_path / "init.log"
    script = tmp_path / "init.sh"
    script.write_text(f'#!/bin/sh\necho "$1 $2" >> {log}\n')
    script.chmod(0o755)
    cdir = str(tmp_path / "vc")
    result = run_tool("-E", "-c", "2", "-i", "0", "-p", PREFIX, "-I", str(script),
                      cdir)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [f"node1 {cdir}/node1",
                                            f"node2 {cdir}/node2"]


# /etc/hosts blocks

OTHER_BLOCK = ("# BEGIN ganeti vcluster /other\n127.0.5.10 node1\n"
               "# END ganeti vcluster /other\n")


def test_hosts_block_added_and_idempotent(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + OTHER_BLOCK + "::1 ip6-localhost\n")
    hosts.chmod(0o640)
    entries = vs.make_layout("/vc", "127.0.9", 2, 1).host_entries()
    assert vs.update_hosts_file(str(hosts), "/vc", entries)
    text = hosts.read_text()
    assert text == ("127.0.0.1 localhost\n" + OTHER_BLOCK + "::1 ip6-localhost\n"
                    "# BEGIN ganeti vcluster /vc\n127.0.9.1 cluster\n"
                    "127.0.9.10 node1\n127.0.9.11 node2\n127.0.9.100 instance1\n"
                    "# END ganeti vcluster /vc\n")
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o640
    assert not vs.update_hosts_file(str(hosts), "/vc", entries)
    assert hosts.read_text() == text


def test_hosts_block_replaced_in_place(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("a\n# BEGIN ganeti vcluster /vc\n127.0.9.10 old\n"
                     "# END ganeti vcluster /vc\nb\n" + OTHER_BLOCK)
    assert vs.update_hosts_file(str(hosts), "/vc", [("127.0.9.10", "node1")])
    assert hosts.read_text() == ("a\n# BEGIN ganeti vcluster /vc\n127.0.9.10 node1\n"
                                 "# END ganeti vcluster /vc\nb\n" + OTHER_BLOCK)


def test_hosts_block_of_prefix_directory_untouched(tmp_path):
    hosts = tmp_path / "hosts"
    block = ("# BEGIN ganeti vcluster /vc2\n127.0.8.10 node1\n"
             "# END ganeti vcluster /vc2\n")
    hosts.write_text(block)
    vs.update_hosts_file(str(hosts), "/vc", [("127.0.9.10", "node1")])
    assert hosts.read_text().startswith(block)
    vs.update_hosts_file(str(hosts), "/vc", [])
    assert hosts.read_text() == block


def test_hosts_unterminated_block_is_an_error(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# BEGIN ganeti vcluster /vc\n127.0.9.10 node1\n")
    with pytest.raises(vs.SetupError, match="without a matching"):
        vs.update_hosts_file(str(hosts), "/vc", [("127.0.9.10", "node1")])
    assert hosts.read_text() == "# BEGIN ganeti vcluster /vc\n127.0.9.10 node1\n"


def test_hosts_conflicts_reported():
    text = "127.0.0.1 localhost\n" + OTHER_BLOCK
    assert vs.hosts_conflicts(text, "/vc", [("127.0.9.10", "node1")]) == \
        ["node1 is also mapped to 127.0.5.10"]
    assert vs.hosts_conflicts(text, "/other", [("127.0.9.10", "node1")]) == []


# sshd control and the start/stop scripts

@pytest.fixture
def live_cluster(tmp_path, monkeypatch):
    """A 2-node tree whose daemon-util and watcher are logging stand-ins."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "sbin"
    fake.mkdir()
    for name in ("daemon-util", "ganeti-watcher"):
        path = fake / name
        path.write_text(f'#!/bin/sh\necho "{name} $GANETI_HOSTNAME $*" >> {log}\n')
        path.chmod(0o755)
    monkeypatch.setattr(pathutils, "DAEMON_UTIL", str(fake / "daemon-util"))
    monkeypatch.setattr(pathutils, "SBIN_DIR", str(fake))
    cdir = str(tmp_path / "vc")
    port = free_port()
    assert vs.main(["-E", "-c", "2", "-i", "0", "-p", PREFIX, "-s", str(port),
                    cdir]) == 0
    yield cdir, port, log
    kill_sshd(cdir)


def _script(cdir: str, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([os.path.join(cdir, name), *args], check=False,
                          capture_output=True, text=True, timeout=60)


@needs_sshd
def test_start_and_stop_all(live_cluster):
    cdir, port, log = live_cluster
    result = _script(cdir, "start-all")
    assert result.returncode == 0, result.stderr
    pid = vs.sshd_pid(cdir)
    assert pid and is_process_alive(pid)
    with socket.create_connection(("127.0.9.11", port), timeout=5) as sock:
        assert sock.recv(64).startswith(b"SSH-2.0-")
    assert log.read_text().splitlines() == ["daemon-util node1 start-all",
                                            "daemon-util node2 start-all"]
    # A second start leaves the running sshd alone
    assert _script(cdir, "start-all").returncode == 0
    assert vs.sshd_pid(cdir) == pid
    result = _script(cdir, "stop-all")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while is_process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_process_alive(pid)
    assert not os.path.exists(os.path.join(cdir, "ssh", "sshd.pid"))
    assert log.read_text().splitlines()[-2:] == ["daemon-util node1 stop-all",
                                                 "daemon-util node2 stop-all"]


def test_watcher_all_runs_watcher_per_node(live_cluster):
    cdir, _, log = live_cluster
    result = _script(cdir, "watcher-all", "--debug")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["ganeti-watcher node1 --debug",
                                            "ganeti-watcher node2 --debug"]


def test_watcher_all_skips_missing_watcher(live_cluster):
    cdir, _, log = live_cluster
    os.unlink(os.path.join(pathutils.SBIN_DIR, "ganeti-watcher"))
    result = _script(cdir, "watcher-all")
    assert result.returncode == 0
    assert "does not exist" in result.stderr
    assert not log.exists()


@needs_sshd
def test_start_refuses_busy_address(live_cluster):
    cdir, port, _ = live_cluster
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.9.11", port))
        blocker.listen(1)
        with pytest.raises(vs.SetupError, match=f"127.0.9.11:{port}"):
            vs.start_sshd(cdir)
    assert vs.sshd_pid(cdir) == 0


def test_stop_does_not_kill_foreign_process(live_cluster):
    cdir, _, _ = live_cluster
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        pid_file = os.path.join(cdir, "ssh", "sshd.pid")
        with open(pid_file, "w") as fh:
            fh.write(f"{sleeper.pid}\n")
        vs.stop_sshd(cdir)
        assert sleeper.poll() is None
        assert not os.path.exists(pid_file)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_start_without_sshd_binary_gives_install_hint(live_cluster, monkeypatch):
    cdir, _, _ = live_cluster
    monkeypatch.setattr(vs, "SSHD", "/nonexistent/sshd")
    with pytest.raises(vs.SetupError, match="apt-get install openssh-server"):
        vs.start_sshd(cdir)


# Network aliases (never touching the real devices)

def test_no_address_added_on_lo(monkeypatch):
    calls = []
    monkeypatch.setattr(vs, "run_cmd", lambda cmd, **kw: calls.append(cmd))
    vs.configure_addresses("lo", ["127.0.9.10"])
    assert calls == []


def test_missing_addresses_added_on_other_device(monkeypatch):
    calls = []

    def fake_run_cmd(cmd, **kwargs):
        calls.append(cmd)
        out = "2: dummy0    inet 127.0.9.10/32 scope host dummy0\n"
        return RunResult(cmd, 0, None, out if "show" in cmd else "", "")

    monkeypatch.setattr(vs, "run_cmd", fake_run_cmd)
    vs.configure_addresses("dummy0", ["127.0.9.10", "127.0.9.11"])
    assert calls[1:] == [["ip", "addr", "add", "127.0.9.11/32", "dev", "dummy0"]]


def test_network_left_alone_with_no_network_option(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(vs, "configure_addresses",
                        lambda netdev, addrs: calls.append(netdev))
    cdir = str(tmp_path / "vc")
    assert vs.main(["-E", "-N", "-n", "dummy0", "-c", "1", "-i", "0", "-p", PREFIX,
                    cdir]) == 0
    assert calls == []
    assert vs.main(["-E", "-n", "dummy0", "-c", "1", "-i", "0", "-p", PREFIX,
                    cdir]) == 0
    assert calls == ["dummy0"]
