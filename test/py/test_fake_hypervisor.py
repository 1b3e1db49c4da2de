"""Tests for the fake hypervisor: instances as state files in a state directory (start,
stop, reboot, list, info, node info) and the hypervisor lookup.
"""

import json
import os
import time

import pytest

from ganeti import errors, hypervisor, pathutils
from ganeti.hypervisor.fake import FakeHypervisor


@pytest.fixture
def hv(tmp_path):
    return FakeHypervisor(str(tmp_path / "fake-hv"))


def inst(name="inst1", maxmem=256, vcpus=2):
    return {"name": name, "hypervisor": "fake", "beparams": {"maxmem": maxmem,
                                                             "vcpus": vcpus}}


def test_start_creates_state_file(hv, tmp_path):
    before = time.time()
    hv.start_instance(inst(), [{"path": None}], False)
    state_file = tmp_path / "fake-hv" / "inst1"
    state = json.loads(state_file.read_text())
    assert state["name"] == "inst1"
    assert state["memory"] == 256 and state["vcpus"] == 2
    assert state["paused"] is False
    assert state["started"] >= before
    assert os.stat(state_file).st_mode & 0o777 == 0o644
    assert hv.list_instances() == ["inst1"]


def test_start_defaults_without_beparams(hv):
    hv.start_instance({"name": "bare"}, [], False)
    assert hv.get_instance_info("bare")[2:4] == (128, 1)


def test_start_twice_refused(hv):
    hv.start_instance(inst(), [], False)
    with pytest.raises(errors.HypervisorError, match="already running"):
        hv.start_instance(inst(), [], False)


def test_start_with_missing_disk_refused(hv, tmp_path):
    disk = tmp_path / "disk0"
    with pytest.raises(errors.HypervisorError, match="disk .* missing"):
        hv.start_instance(inst(), [{"path": str(disk)}], False)
    assert hv.list_instances() == []
    disk.write_bytes(b"")
    hv.start_instance(inst(), [{"path": str(disk)}], False)
    assert json.loads((tmp_path / "fake-hv" / "inst1").read_text())["disks"] == [str(disk)]


def test_paused_start(hv):
    hv.start_instance(inst(), [], True)
    assert hv.get_instance_info("inst1")[4] == "paused"


def test_stop(hv):
    hv.start_instance(inst(), [], False)
    hv.stop_instance(inst())
    assert hv.list_instances() == []
    hv.stop_instance(inst())  # stopping a stopped instance is fine
    hv.start_instance(inst("other"), [], False)
    hv.stop_instance(inst(), name="other", force=True)
    assert hv.list_instances() == []


def test_reboot(hv):
    hv.start_instance(inst(), [], False)
    started = hv._read("inst1")["started"]
    time.sleep(0.01)
    hv.reboot_instance(inst())
    state = hv._read("inst1")
    assert state["started"] > started
    assert state["memory"] == 256
    with pytest.raises(errors.HypervisorError, match="not running"):
        hv.reboot_instance(inst("nosuch"))


def test_list_and_info(hv):
    assert hv.list_instances() == []  # state directory not created yet
    for name in ("b", "a", "c"):
        hv.start_instance(inst(name, maxmem=100), [], False)
    assert hv.list_instances() == ["a", "b", "c"]
    name, ident, memory, vcpus, state, cpu_time = hv.get_instance_info("b")
    assert (name, ident, memory, vcpus, state) == ("b", 0, 100, 2, "running")
    assert cpu_time >= 0.0
    assert hv.get_instance_info("nosuch") is None
    assert [i[0] for i in hv.get_all_instances_info()] == ["a", "b", "c"]


def test_hidden_files_are_not_instances(hv, tmp_path):
    hv.start_instance(inst(), [], False)
    (tmp_path / "fake-hv" / ".inst2.new").write_text("{}")
    assert hv.list_instances() == ["inst1"]


def test_corrupted_state_file(hv, tmp_path):
    hv.start_instance(inst(), [], False)
    (tmp_path / "fake-hv" / "inst1").write_text("garbage")
    info = hv.get_instance_info("inst1")
    assert info[0] == "inst1" and info[2] == 0 and info[4] == "running"


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "."])
def test_invalid_instance_names(hv, tmp_path, name):
    with pytest.raises(errors.HypervisorError, match="Invalid instance name"):
        hv.start_instance(inst(name), [], False)
    with pytest.raises(errors.HypervisorError, match="Invalid instance name"):
        hv.stop_instance(inst(name))
    assert not (tmp_path / "escape").exists()


def test_node_info_counts_running_memory(hv):
    empty = hv.get_node_info()
    assert set(empty) == {"memory_total", "memory_free", "memory_dom0", "memory_hv",
                          "cpu_total", "cpu_nodes", "cpu_sockets", "cpu_dom0"}
    assert empty["memory_total"] > 0 and empty["cpu_total"] >= 1
    hv.start_instance(inst(maxmem=64), [], False)
    assert hv.get_node_info()["memory_free"] == max(0, empty["memory_total"] - 64)


def test_verify(hv, tmp_path):
    assert hv.verify() is None
    hv.start_instance(inst(), [], False)
    assert hv.verify() is None


def test_parameters():
    FakeHypervisor.check_parameter_syntax({"migration_mode": "non-live"})
    with pytest.raises(errors.HypervisorError, match="Invalid value"):
        FakeHypervisor.check_parameter_syntax({"migration_mode": "warp"})
    with pytest.raises(errors.HypervisorError, match="Unknown hypervisor parameter"):
        FakeHypervisor.check_parameter_syntax({"kernel_path": "/boot/x"})


def test_console_and_migration(hv):
    console = hv.get_console(inst(), {}, {}, {}, {})
    assert console["kind"] == "message" and console["instance"] == "inst1"
    hv.start_instance(inst(), [], False)
    hv.migrate_instance("cluster", inst(), "node2", True)
    assert hv.list_instances() == []
    assert FakeHypervisor.CAN_MIGRATE is True
    with pytest.raises(errors.HypervisorError, match="ballooning"):
        hv.balloon_instance_memory(inst(), 64)


def test_default_state_dir_follows_pathutils(tmp_path, monkeypatch):
    monkeypatch.setattr(pathutils, "FAKE_HV_DIR", str(tmp_path / "default-dir"))
    hv = hypervisor.get_hypervisor("fake")
    hv.start_instance(inst(), [], False)
    assert (tmp_path / "default-dir" / "inst1").exists()
    assert hypervisor.get_hypervisor("fake").list_instances() == ["inst1"]


def test_hypervisor_lookup():
    assert isinstance(hypervisor.get_hypervisor("fake"), FakeHypervisor)
    assert hypervisor.get_hypervisor_class("fake") is FakeHypervisor
    with pytest.raises(errors.HypervisorError, match="not available on this node"):
        hypervisor.get_hypervisor("lxc")
    with pytest.raises(errors.HypervisorError, match="Unknown hypervisor"):
        hypervisor.get_hypervisor("vmware")
    with pytest.raises(errors.HypervisorError, match="not supported"):
        hypervisor.get_hypervisor_class("lxc")
