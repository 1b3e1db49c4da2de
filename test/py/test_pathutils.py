"""Tests for ganeti.pathutils: the virtual-cluster environment checks and node-local
paths (read at import, so each case runs in a fresh interpreter), and the RPC path
virtualisation in both directions.
"""

import json
import os
import subprocess
import sys

import pytest

from ganeti import _autoconf, pathutils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_PROBE = """
import json
from ganeti import pathutils as p
print(json.dumps({
    "root": p.ROOTDIR, "host": p.VIRTUAL_HOSTNAME, "virtual": p.is_virtual(),
    "data": p.DATA_DIR, "conf": p.CONF_DIR, "run": p.RUN_DIR, "log": p.LOG_DIR,
    "lock": p.LOCK_DIR, "queue": p.QUEUE_DIR, "config": p.CLUSTER_CONF_FILE,
    "ssconf_lock": p.SSCONF_LOCK_FILE, "file_storage": p.DEFAULT_FILE_STORAGE_DIR,
    "export": p.EXPORT_DIR, "os_path": p.OS_SEARCH_PATH, "pkglib": p.PKGLIB_DIR,
    "etc_hosts": p.ETC_HOSTS, "socket": p.MASTER_SOCKET,
    "other": p.node_root_of("node2.example.com"),
}))
"""


def probe(extra_env):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": REPO}
    env.update(extra_env)
    return subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=30)


def test_normal_node_paths():
    result = probe({})
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    state = _autoconf.LOCALSTATEDIR
    assert info["virtual"] is False and info["root"] == "" and info["host"] == ""
    assert info["data"] == state + "/lib/ganeti"
    assert info["run"] == state + "/run/ganeti"
    assert info["log"] == state + "/log/ganeti"
    assert info["lock"] == state + "/lock"
    assert info["conf"] == _autoconf.SYSCONFDIR + "/ganeti"
    assert info["queue"] == state + "/lib/ganeti/queue"
    assert info["config"] == state + "/lib/ganeti/config.data"
    assert info["ssconf_lock"] == state + "/lock/ganeti-ssconf.lock"
    assert info["socket"] == state + "/run/ganeti/socket/ganeti-master"
    assert info["file_storage"] == _autoconf.FILE_STORAGE_DIR
    assert info["other"] == ""


def test_virtual_node_paths(tmp_path):
    root = str(tmp_path / "node1.example.com")
    result = probe({"GANETI_ROOTDIR": root, "GANETI_HOSTNAME": "node1.example.com"})
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    state = _autoconf.LOCALSTATEDIR
    assert info["virtual"] is True
    assert info["root"] == root and info["host"] == "node1.example.com"
    assert info["data"] == root + state + "/lib/ganeti"
    assert info["conf"] == root + _autoconf.SYSCONFDIR + "/ganeti"
    assert info["lock"] == root + state + "/lock"
    assert info["file_storage"] == root + _autoconf.FILE_STORAGE_DIR
    assert info["export"] == root + _autoconf.EXPORT_DIR
    # not prefixed: OS search path, library dirs and /etc/hosts
    assert info["os_path"] == list(_autoconf.OS_SEARCH_PATH)
    assert info["pkglib"] == _autoconf.PKGLIBDIR
    assert info["etc_hosts"] == "/etc/hosts"
    assert info["other"] == str(tmp_path / "node2.example.com")


def test_trailing_slash_in_root_is_normalised(tmp_path):
    root = str(tmp_path / "node1") + "/"
    result = probe({"GANETI_ROOTDIR": root, "GANETI_HOSTNAME": "node1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["root"] == root.rstrip("/")


@pytest.mark.parametrize("env,message", [
    ({"GANETI_ROOTDIR": "/tmp/vc/node1"}, "Both GANETI_ROOTDIR and GANETI_HOSTNAME"),
    ({"GANETI_HOSTNAME": "node1"}, "Both GANETI_ROOTDIR and GANETI_HOSTNAME"),
    ({"GANETI_ROOTDIR": "vc/node1", "GANETI_HOSTNAME": "node1"}, "must be an absolute"),
    ({"GANETI_ROOTDIR": "/tmp/vc/node1", "GANETI_HOSTNAME": "node2"},
     "must be the host name"),
    ({"GANETI_ROOTDIR": "/tmp/vc/a/b", "GANETI_HOSTNAME": "a/b"}, "must not contain '/'"),
])
def test_inconsistent_virtual_environment_is_fatal(env, message):
    result = probe(env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr


def test_read_virtual_env_directly():
    read = pathutils._read_virtual_env
    assert read({}) == ("", "")
    assert read({"GANETI_ROOTDIR": "/vc/n1/", "GANETI_HOSTNAME": "n1"}) == ("/vc/n1", "n1")
    with pytest.raises(pathutils.VirtualClusterError):
        read({"GANETI_ROOTDIR": "/vc/n1", "GANETI_HOSTNAME": ""})


# --- virtualise / devirtualise ---------------------------------------------------------

@pytest.fixture
def virtual(monkeypatch):
    monkeypatch.setattr(pathutils, "ROOTDIR", "/vc/node1.example.com")
    return "/vc/node1.example.com"


def test_virtualize_strips_the_node_root(virtual):
    marker = pathutils.VIRT_PATH_PREFIX
    assert marker == "/###-VIRTUAL-PATH-###,"
    assert pathutils.virtualize(virtual + "/var/lib/ganeti/config.data") == \
        marker + "/var/lib/ganeti/config.data"
    assert pathutils.virtualize(virtual) == marker
    assert pathutils.virtualize("/etc/hosts") == "/etc/hosts"


def test_virtualize_refuses_paths_outside_the_root(virtual):
    for path in ("/etc/passwd", virtual + "-other/x", "/vc/node2.example.com/x"):
        with pytest.raises(pathutils.VirtualClusterError, match="outside the node root"):
            pathutils.virtualize(path)


def test_devirtualize_maps_into_the_node_root(virtual):
    marker = pathutils.VIRT_PATH_PREFIX
    assert pathutils.devirtualize(marker + "/var/lib/ganeti/config.data") == \
        virtual + "/var/lib/ganeti/config.data"
    assert pathutils.devirtualize("/etc/hosts") == "/etc/hosts"
    with pytest.raises(pathutils.VirtualClusterError, match="not virtualised"):
        pathutils.devirtualize("/var/lib/ganeti/config.data")


def test_round_trip_between_virtual_nodes(monkeypatch):
    monkeypatch.setattr(pathutils, "ROOTDIR", "/vc/node1")
    wire = pathutils.virtualize("/vc/node1/srv/ganeti/file-storage/i1/disk0")
    monkeypatch.setattr(pathutils, "ROOTDIR", "/vc/node2")
    assert pathutils.devirtualize(wire) == "/vc/node2/srv/ganeti/file-storage/i1/disk0"


def test_no_virtualisation_outside_a_virtual_cluster(monkeypatch):
    monkeypatch.setattr(pathutils, "ROOTDIR", "")
    assert pathutils.virtualize("/var/lib/ganeti/x") == "/var/lib/ganeti/x"
    assert pathutils.devirtualize("/var/lib/ganeti/x") == "/var/lib/ganeti/x"
    assert pathutils.local_path("/var/lib") == "/var/lib"
    assert pathutils.node_root_of("node2") == ""


def test_local_path(virtual):
    assert pathutils.local_path("/var/lib") == virtual + "/var/lib"
    assert pathutils.local_path("relative/x") == "relative/x"


def test_derived_file_names():
    assert pathutils.ssconf_file("master_node") == os.path.join(pathutils.DATA_DIR,
                                                                "ssconf_master_node")
    assert pathutils.daemon_pidfile("ganeti-noded") == os.path.join(
        pathutils.RUN_DIR, "ganeti-noded.pid")
    assert pathutils.daemon_logfile("ganeti-noded") == os.path.join(
        pathutils.LOG_DIR, "node-daemon.log")
    assert pathutils.daemon_logfile("ganeti-luxid") == os.path.join(
        pathutils.LOG_DIR, "luxi-daemon.log")
