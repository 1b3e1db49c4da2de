"""Tests for ganeti.ssconf: writing ssconf_<key> files (format, mode, validation, lock)
and reading them back with SimpleStore.
"""

import fcntl
import os
import stat

import pytest

from ganeti import constants, errors, pathutils, ssconf


@pytest.mark.parametrize("value,text", [
    ("cluster.example.com", "cluster.example.com\n"),
    (["a", "b"], "a\nb\n"),
    (("x",), "x\n"),
    ([], ""),
    ("", ""),
    (True, "True\n"),
    (32, "32\n"),
    ("already\n", "already\n"),
])
def test_render_value(value, text):
    assert ssconf.render_value(value) == text


def test_write_files_format_and_mode(tmp_path):
    ssconf.write_ssconf_files({"cluster_name": "c.example.com",
                               "node_list": ["node1", "node2"],
                               "offline_nodes": [],
                               "master_netmask": "32"}, data_dir=str(tmp_path))
    assert (tmp_path / "ssconf_cluster_name").read_text() == "c.example.com\n"
    assert (tmp_path / "ssconf_node_list").read_text() == "node1\nnode2\n"
    assert (tmp_path / "ssconf_offline_nodes").read_text() == ""
    for name in ("cluster_name", "node_list", "offline_nodes", "master_netmask"):
        st = os.stat(tmp_path / ("ssconf_%s" % name))
        assert stat.S_IMODE(st.st_mode) == constants.SS_FILE_PERMS == 0o444
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".new")]


def test_rewrite_replaces_read_only_file(tmp_path):
    ssconf.write_ssconf_files({"master_node": "node1"}, data_dir=str(tmp_path))
    ssconf.write_ssconf_files({"master_node": "node2"}, data_dir=str(tmp_path))
    assert ssconf.SimpleStore(str(tmp_path)).get_master_node() == "node2"


@pytest.mark.parametrize("key", ["../../etc/passwd", "nosuchkey", "ssconf_cluster_name",
                                 ""])
def test_invalid_key_refused_and_nothing_written(tmp_path, key):
    with pytest.raises(errors.ConfigurationError, match="Invalid ssconf key"):
        ssconf.write_ssconf_files({"cluster_name": "c", key: "x"}, data_dir=str(tmp_path))
    assert [n for n in os.listdir(tmp_path) if n.startswith("ssconf_")] == []


def test_oversized_value_refused(tmp_path):
    big = ["n%06d.example.com" % i for i in range(20000)]
    with pytest.raises(errors.ConfigurationError, match="too large"):
        ssconf.write_ssconf_files({"node_list": big}, data_dir=str(tmp_path))
    assert not (tmp_path / "ssconf_node_list").exists()


def test_dry_run_writes_nothing(tmp_path):
    ssconf.write_ssconf_files({"cluster_name": "c"}, data_dir=str(tmp_path), dry_run=True)
    assert os.listdir(tmp_path) == []


def test_default_data_dir_uses_the_ssconf_lock_file(tmp_path, monkeypatch):
    monkeypatch.setattr(pathutils, "DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(pathutils, "SSCONF_LOCK_FILE", str(tmp_path / "lock" / "ss.lock"))
    os.makedirs(tmp_path / "data")
    ssconf.write_ssconf_files({"cluster_name": "c"})
    assert (tmp_path / "data" / "ssconf_cluster_name").read_text() == "c\n"
    assert (tmp_path / "lock" / "ss.lock").exists()


def test_lock_times_out_when_held(tmp_path):
    lock_path = tmp_path / "held.lock"
    with open(lock_path, "a") as holder, open(lock_path, "a") as other:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(errors.LockError, match="ssconf lock"):
            ssconf._lock(other, 0.2)
        fcntl.flock(holder, fcntl.LOCK_UN)
        ssconf._lock(other, 0.2)


# --- SimpleStore ----------------------------------------------------------------------

@pytest.fixture
def store(tmp_path):
    ssconf.write_ssconf_files({
        "cluster_name": "cluster.example.com",
        "master_node": "node1.example.com",
        "master_ip": "192.0.2.100",
        "node_list": ["node1.example.com", "node2.example.com"],
        "master_candidates": ["node1.example.com"],
        "node_primary_ips": ["node1.example.com 192.0.2.1",
                             "node2.example.com 192.0.2.2"],
        "master_candidates_certs": ["uuid-1=AA:BB:CC", "broken-line", "=nouuid",
                                    "uuid-2=DD:EE"],
        "instance_list": [],
    }, data_dir=str(tmp_path))
    return ssconf.SimpleStore(str(tmp_path))


def test_simple_store_getters(store):
    assert store.get_cluster_name() == "cluster.example.com"
    assert store.get_master_node() == "node1.example.com"
    assert store.get_master_ip() == "192.0.2.100"
    assert store.get_node_list() == ["node1.example.com", "node2.example.com"]
    assert store.get_master_candidates() == ["node1.example.com"]
    assert store.get_node_primary_ips() == {"node1.example.com": "192.0.2.1",
                                            "node2.example.com": "192.0.2.2"}
    assert store.get_instance_list() == []


def test_candidate_certs_ignore_malformed_lines(store):
    assert store.get_master_candidates_certs() == {"uuid-1": "AA:BB:CC",
                                                   "uuid-2": "DD:EE"}


def test_missing_key(tmp_path):
    store = ssconf.SimpleStore(str(tmp_path))
    with pytest.raises(errors.ConfigurationError,
                       match="Cluster configuration incomplete: .*ssconf_master_node"):
        store.get_master_node()
    assert store.read("master_node", "fallback") == "fallback"
    assert store.get_master_candidates_certs() == {}
    assert store.get_node_list() == []


def test_read_strips_only_trailing_newlines(tmp_path):
    (tmp_path / "ssconf_cluster_name").write_text("  spaced name  \n\n")
    assert ssconf.SimpleStore(str(tmp_path)).get_cluster_name() == "  spaced name  "


def test_read_is_limited_to_the_maximum_size(tmp_path):
    (tmp_path / "ssconf_node_list").write_text("x" * (constants.SS_MAX_FILE_SIZE + 100))
    assert len(ssconf.SimpleStore(str(tmp_path)).read("node_list")) == \
        constants.SS_MAX_FILE_SIZE


def test_check_master(tmp_path, monkeypatch, capsys):
    ssconf.write_ssconf_files({"master_node": "node1.example.com"}, data_dir=str(tmp_path))
    monkeypatch.setattr(pathutils, "DATA_DIR", str(tmp_path))
    from ganeti import netutils
    monkeypatch.setattr(netutils, "hostname", lambda: "node1.example.com")
    ssconf.check_master()
    monkeypatch.setattr(netutils, "hostname", lambda: "node2.example.com")
    with pytest.raises(SystemExit) as info:
        ssconf.check_master()
    assert info.value.code == constants.EXIT_NOTMASTER
    assert "not the master" in capsys.readouterr().err
    monkeypatch.setattr(pathutils, "DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as info:
        ssconf.check_master()
    assert info.value.code == constants.EXIT_NODESETUP_ERROR
