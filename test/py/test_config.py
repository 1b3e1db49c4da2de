"""Tests for ganeti.config: the ConfigWriter on a temporary config.data, serial numbers,
atomic writes, distribution of config and ssconf values, and ssconf value computation.
"""

import json
import os

import pytest

from ganeti import config, constants, errors, objects, serializer

MASTER = "uuid-node1"
GROUP = "uuid-group"


def _node(uuid, name, ip, **kwargs):
    return objects.Node(uuid=uuid, name=name, primary_ip=ip, group=GROUP, **kwargs)


def make_data(extra_nodes=()):
    """A small cluster: three nodes (one offline), one group, no instances."""
    nodes = [
        _node(MASTER, "node1.example.com", "192.0.2.1", master_candidate=True,
              secondary_ip="198.51.100.1"),
        _node("uuid-node10", "node10.example.com", "192.0.2.10",
              master_candidate=True),
        _node("uuid-node2", "node2.example.com", "192.0.2.2", offline=True,
              vm_capable=False, ndparams={"ssh_port": 2222}),
    ] + list(extra_nodes)
    cluster = objects.Cluster(
        uuid="uuid-cluster", cluster_name="cluster.example.com", master_node=MASTER,
        master_ip="192.0.2.100", master_netdev="lo", master_netmask=32,
        enabled_hypervisors=["fake"], enabled_disk_templates=["file", "diskless"],
        file_storage_dir="/srv/ganeti/file-storage", tags=["z-tag", "a-tag"],
        candidate_certs={"uuid-node10": "BB:BB", MASTER: "AA:AA"},
        uid_pool=[[1000, 1000], [2000, 2010]], serial_no=1,
        hvparams={"fake": {"migration_mode": "non-live"},
                  "kvm": {"flag": True, "count": 3, "path": "/usr/bin/kvm",
                          "cpus": [1, 2]}},
    )
    group = objects.NodeGroup(uuid=GROUP, name="default", ndparams={})
    data = objects.ConfigData(cluster=cluster, nodes={n.uuid: n for n in nodes},
                              nodegroups={GROUP: group}, instances={}, disks={})
    # apply the upgrade defaults as loading would
    return objects.ConfigData.from_dict(data.to_dict())


@pytest.fixture
def cfg_path(tmp_path):
    path = str(tmp_path / "lib" / "config.data")
    config.write_initial_config(path, make_data())
    return path


class Distributor:
    def __init__(self):
        self.calls = []

    def __call__(self, text, ssconf, data):
        self.calls.append((text, ssconf, data))


@pytest.fixture
def writer(cfg_path):
    dist = Distributor()
    cw = config.ConfigWriter(cfg_path, distributor=dist)
    cw.test_dist = dist
    return cw


def _on_disk(path):
    with open(path) as fh:
        return json.load(fh)


def _instance(name, pnode=MASTER, **kwargs):
    return objects.Instance(name=name, primary_node=pnode, os="debootstrap+default",
                            hypervisor="fake", admin_state=constants.ADMINST_DOWN,
                            nics=[], disks=[], **kwargs)


def _file_disk(idx=0, size=1024):
    return objects.Disk(dev_type=constants.DT_FILE, size=size, iv_name="disk/%d" % idx,
                        logical_id=["loop", "/srv/ganeti/file-storage/i/disk%d" % idx],
                        nodes=[MASTER], mode="rw", params={}, children=[])


# --- loading ---------------------------------------------------------------------

def test_write_initial_config_sets_version_serial_and_mode(cfg_path):
    content = _on_disk(cfg_path)
    assert content["version"] == constants.CONFIG_VERSION
    assert content["serial_no"] == 1
    assert isinstance(content["ctime"], float) and isinstance(content["mtime"], float)
    assert set(content["nodes"]) == {MASTER, "uuid-node10", "uuid-node2"}
    assert os.stat(cfg_path).st_mode & 0o777 == 0o640


def test_load_config_file(cfg_path):
    data = config.load_config_file(cfg_path)
    assert data.cluster.cluster_name == "cluster.example.com"
    assert data.nodes[MASTER].name == "node1.example.com"


def test_missing_config_is_incomplete(tmp_path):
    with pytest.raises(errors.ConfigurationError, match="incomplete"):
        config.load_config_file(str(tmp_path / "nope"))


def test_garbage_config_cannot_be_parsed(tmp_path):
    path = tmp_path / "config.data"
    path.write_text("{not json")
    with pytest.raises(errors.ConfigurationError, match="Cannot parse"):
        config.load_config_file(str(path))


@pytest.mark.parametrize("version", [2160000, 3000000, 4010000, 0])
def test_version_mismatch_refused(cfg_path, version):
    content = _on_disk(cfg_path)
    content["version"] = version
    with open(cfg_path, "w") as fh:
        json.dump(content, fh)
    with pytest.raises(errors.ConfigVersionMismatch, match="does not match"):
        config.ConfigWriter(cfg_path)


def test_same_major_minor_other_revision_accepted(cfg_path):
    content = _on_disk(cfg_path)
    content["version"] = constants.CONFIG_VERSION + 3
    with open(cfg_path, "w") as fh:
        json.dump(content, fh)
    assert config.ConfigWriter(cfg_path).get_cluster_name() == "cluster.example.com"


# --- reading helpers ---------------------------------------------------------------

def test_lookups(writer):
    assert writer.get_master_node() == MASTER
    assert writer.get_master_node_name() == "node1.example.com"
    assert writer.get_node_info_by_name("node2.example.com").uuid == "uuid-node2"
    assert writer.get_node_info_by_name("nope") is None
    assert sorted(writer.get_online_node_list()) == [MASTER, "uuid-node10"]
    assert writer.get_node_name("unknown-uuid") == "unknown-uuid"
    assert sorted(n.name for n in writer.get_master_candidates()) == [
        "node1.example.com", "node10.example.com"]


def test_lookup_node_group(writer):
    assert writer.lookup_node_group(None) == GROUP
    assert writer.lookup_node_group("default") == GROUP
    assert writer.lookup_node_group(GROUP) == GROUP
    with pytest.raises(errors.OpPrereqError, match="not found") as exc:
        writer.lookup_node_group("nogroup")
    assert exc.value.args[1] == errors.ECODE_NOENT


def test_snapshot_is_a_copy(writer):
    snap = writer.snapshot()
    snap.cluster.cluster_name = "changed"
    assert writer.get_cluster_name() == "cluster.example.com"


# --- adding and removing nodes -------------------------------------------------------

def test_add_node_bumps_serials_and_writes(writer, cfg_path):
    before = _on_disk(cfg_path)
    node = objects.Node(name="node3.example.com", primary_ip="192.0.2.3", group=GROUP)
    writer.add_node(node)
    assert node.uuid
    assert node.serial_no == 1 and node.ctime is not None
    after = _on_disk(cfg_path)
    assert after["serial_no"] == before["serial_no"] + 1
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1
    assert after["nodes"][node.uuid]["name"] == "node3.example.com"
    assert config.load_config_file(cfg_path).nodes[node.uuid].name == "node3.example.com"


def test_added_node_gets_the_defaults_a_reload_would_give(writer, cfg_path):
    node = objects.Node(name="node3.example.com", primary_ip="192.0.2.3", group=GROUP)
    writer.add_node(node)
    reloaded = config.load_config_file(cfg_path).nodes[node.uuid]
    assert node.to_dict() == reloaded.to_dict()
    assert node.powered is True and node.secondary_ip == "192.0.2.3"
    values = writer.get_ssconf_values()
    assert "node3.example.com 192.0.2.3" in values["node_secondary_ips"]
    assert "node3.example.com=True" in values["node_vm_capable"]


def test_added_instance_gets_the_defaults_a_reload_would_give(writer, cfg_path):
    inst = objects.Instance(name="inst9", primary_node=MASTER, hypervisor="fake",
                            os="debootstrap")
    disk = objects.Disk(dev_type=constants.DT_FILE, size=10,
                        logical_id=["loop", "/srv/x/disk0"])
    writer.add_instance(inst, [disk])
    data = config.load_config_file(cfg_path)
    assert inst.to_dict() == data.instances[inst.uuid].to_dict()
    assert disk.to_dict() == data.disks[disk.uuid].to_dict()
    assert inst.disks_active is False and disk.mode == constants.DISK_RDWR


def test_add_node_with_duplicate_name_refused(writer, cfg_path):
    before = _on_disk(cfg_path)
    with pytest.raises(errors.OpPrereqError, match="already in the configuration") as exc:
        writer.add_node(objects.Node(name="node2.example.com", primary_ip="192.0.2.9"))
    assert exc.value.args[1] == errors.ECODE_EXISTS
    assert _on_disk(cfg_path) == before


def test_remove_node_drops_candidate_cert(writer, cfg_path):
    before = _on_disk(cfg_path)
    writer.remove_node("uuid-node10")
    after = _on_disk(cfg_path)
    assert "uuid-node10" not in after["nodes"]
    assert after["cluster"]["candidate_certs"] == {MASTER: "AA:AA"}
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1
    assert after["serial_no"] == before["serial_no"] + 1


def test_remove_unknown_node(writer):
    with pytest.raises(errors.ConfigurationError, match="Unknown node"):
        writer.remove_node("no-such-uuid")


# --- adding and removing instances ---------------------------------------------------

def test_add_instance_with_disks(writer, cfg_path):
    before = _on_disk(cfg_path)
    inst = _instance("inst1.example.com")
    disks = [_file_disk(0), _file_disk(1, 512)]
    writer.add_instance(inst, disks)
    after = _on_disk(cfg_path)
    assert inst.uuid in after["instances"]
    stored = after["instances"][inst.uuid]
    assert stored["disks"] == [d.uuid for d in disks]
    assert all(d.uuid in after["disks"] for d in disks)
    assert after["disks"][disks[1].uuid]["size"] == 512
    assert after["disks"][disks[0].uuid]["serial_no"] == 1
    assert stored["serial_no"] == 1
    assert after["serial_no"] == before["serial_no"] + 1
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1
    assert writer.get_instance_disk_template(inst.uuid) == constants.DT_FILE
    assert [d.uuid for d in writer.get_instance_disks(inst.uuid)] == inst.disks


def test_add_instance_duplicate_name_refused(writer):
    writer.add_instance(_instance("inst1"), [])
    with pytest.raises(errors.OpPrereqError, match="already in the cluster") as exc:
        writer.add_instance(_instance("inst1"), [_file_disk()])
    assert exc.value.args[1] == errors.ECODE_EXISTS
    assert len(writer.get_instance_list()) == 1
    assert writer.data.disks == {}


def test_remove_instance_removes_its_disks(writer, cfg_path):
    inst = _instance("inst1")
    other = _instance("inst2")
    writer.add_instance(inst, [_file_disk()])
    writer.add_instance(other, [_file_disk()])
    before = _on_disk(cfg_path)
    writer.remove_instance(inst.uuid)
    after = _on_disk(cfg_path)
    assert list(after["instances"]) == [other.uuid]
    assert list(after["disks"]) == other.disks
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1
    with pytest.raises(errors.ConfigurationError, match="Unknown instance"):
        writer.remove_instance(inst.uuid)


def test_diskless_instance_template(writer):
    inst = _instance("inst1")
    writer.add_instance(inst, [])
    assert writer.get_instance_disk_template(inst.uuid) == constants.DT_DISKLESS
    assert writer.get_instance_secondary_nodes(inst.uuid) == []


def test_secondary_nodes_derived_from_disks(writer):
    inst = _instance("inst1")
    disk = objects.Disk(dev_type=constants.DT_DRBD8, size=1024, nodes=[MASTER, "uuid-node10"],
                        logical_id=[MASTER, "uuid-node10", 11000, 0, 0, "secret"],
                        children=[], params={}, mode="rw")
    writer.add_instance(inst, [disk])
    assert writer.get_instance_secondary_nodes(inst.uuid) == ["uuid-node10"]
    assert writer.get_instance_all_nodes(inst.uuid) == [MASTER, "uuid-node10"]
    assert writer.get_node_instances(MASTER) == ([inst.uuid], [])
    assert writer.get_node_instances("uuid-node10") == ([], [inst.uuid])


# --- updates and serials --------------------------------------------------------

def test_update_bumps_object_and_top_level_but_not_cluster(writer, cfg_path):
    inst = _instance("inst1")
    writer.add_instance(inst, [])
    before = _on_disk(cfg_path)
    inst.beparams = {"vcpus": 2}
    writer.update(inst)
    after = _on_disk(cfg_path)
    assert after["instances"][inst.uuid]["serial_no"] == 2
    assert after["instances"][inst.uuid]["beparams"] == {"vcpus": 2}
    assert after["serial_no"] == before["serial_no"] + 1
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"]


def test_update_with_bump_cluster(writer, cfg_path):
    before = _on_disk(cfg_path)
    node = writer.get_node_info(MASTER)
    node.add_tag("x")
    writer.update(node, bump_cluster=True)
    after = _on_disk(cfg_path)
    assert after["nodes"][MASTER]["serial_no"] == before["nodes"][MASTER].get(
        "serial_no", 0) + 1
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1


def test_update_cluster_bumps_its_serial_once(writer, cfg_path):
    before = _on_disk(cfg_path)
    cluster = writer.get_cluster_info()
    cluster.add_tag("new")
    writer.update(cluster, bump_cluster=True)
    after = _on_disk(cfg_path)
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1


def test_update_unknown_object_type_refused(writer):
    with pytest.raises(errors.ProgrammerError):
        writer.update(objects.NIC())


@pytest.mark.xfail(strict=True, reason="BUG: an ssconf-relevant change made through "
                   "update() without bump_cluster leaves the cluster serial unchanged "
                   "(files-and-config.md 4)")
def test_ssconf_relevant_change_bumps_cluster_serial(writer, cfg_path):
    before = _on_disk(cfg_path)
    node = writer.get_node_info("uuid-node10")
    node.offline = True
    writer.update(node)
    after = _on_disk(cfg_path)
    assert after["cluster"]["serial_no"] == before["cluster"]["serial_no"] + 1


def test_set_instance_admin_state(writer, cfg_path):
    inst = _instance("inst1")
    writer.add_instance(inst, [])
    before = _on_disk(cfg_path)
    writer.set_instance_admin_state(inst.uuid, constants.ADMINST_UP)
    after = _on_disk(cfg_path)
    assert after["instances"][inst.uuid]["admin_state"] == "up"
    assert after["instances"][inst.uuid]["serial_no"] == 2
    assert after["serial_no"] == before["serial_no"] + 1
    # same state again: no write at all
    writer.set_instance_admin_state(inst.uuid, constants.ADMINST_UP)
    assert _on_disk(cfg_path)["serial_no"] == after["serial_no"]
    writer.set_instance_admin_state(inst.uuid, constants.ADMINST_DOWN,
                                    constants.USER_SOURCE)
    final = _on_disk(cfg_path)["instances"][inst.uuid]
    assert final["admin_state"] == "down" and final["admin_state_source"] == "user"


def test_set_disks_active(writer, cfg_path):
    inst = _instance("inst1")
    writer.add_instance(inst, [])
    serial = _on_disk(cfg_path)["serial_no"]
    writer.set_disks_active(inst.uuid, False)  # unchanged: no write
    assert _on_disk(cfg_path)["serial_no"] == serial
    writer.set_disks_active(inst.uuid, True)
    assert _on_disk(cfg_path)["instances"][inst.uuid]["disks_active"] is True


def test_top_level_serial_increases_on_every_write(writer, cfg_path):
    serials = []
    for _ in range(3):
        writer.write_now()
        serials.append(_on_disk(cfg_path)["serial_no"])
    assert serials == [serials[0], serials[0] + 1, serials[0] + 2]


# --- atomic writes --------------------------------------------------------------

def test_write_is_atomic_and_leaves_no_temporary_files(writer, cfg_path):
    inode = os.stat(cfg_path).st_ino
    writer.add_instance(_instance("inst1"), [_file_disk()])
    assert os.stat(cfg_path).st_ino != inode  # replaced by rename, not rewritten
    assert os.listdir(os.path.dirname(cfg_path)) == ["config.data"]
    assert os.stat(cfg_path).st_mode & 0o777 == 0o640
    with open(cfg_path) as fh:
        text = fh.read()
    assert text == writer.get_config_text()
    json.loads(text)


def test_failed_write_keeps_previous_file(writer, cfg_path, monkeypatch):
    before = open(cfg_path).read()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        writer.write_now()
    monkeypatch.undo()
    assert open(cfg_path).read() == before
    assert os.listdir(os.path.dirname(cfg_path)) == ["config.data"]


# --- distribution ----------------------------------------------------------------

def test_distributor_gets_ssconf_only_when_it_changed(writer):
    dist = writer.test_dist
    inst = _instance("inst1")
    writer.add_instance(inst, [])
    text, ssconf, data = dist.calls[-1]
    assert ssconf is not None
    assert ssconf[constants.SS_INSTANCE_LIST] == ["inst1"]
    assert json.loads(text)["instances"][inst.uuid]["name"] == "inst1"
    assert data is writer.data
    inst.beparams = {"vcpus": 4}
    writer.update(inst)
    text, ssconf, _ = dist.calls[-1]
    assert ssconf is None
    assert json.loads(text)["instances"][inst.uuid]["beparams"] == {"vcpus": 4}
    assert len(dist.calls) == 2


def test_distributor_receives_exactly_the_file_content(writer, cfg_path):
    writer.write_now()
    text, _ssconf, _data = writer.test_dist.calls[-1]
    with open(cfg_path) as fh:
        assert fh.read() == text


def test_distributor_failure_does_not_fail_the_write(cfg_path):
    def failing(text, ssconf, data):
        raise RuntimeError("node unreachable")

    cw = config.ConfigWriter(cfg_path, distributor=failing)
    cw.add_instance(_instance("inst1"), [])
    assert "inst1" in {i["name"] for i in _on_disk(cfg_path)["instances"].values()}


def test_offline_writer_does_not_distribute(cfg_path):
    dist = Distributor()
    cw = config.ConfigWriter(cfg_path, distributor=dist, offline=True)
    cw.add_instance(_instance("inst1"), [])
    assert dist.calls == []


def test_set_distributor_later(cfg_path):
    cw = config.ConfigWriter(cfg_path)
    cw.write_now()
    dist = Distributor()
    cw.set_distributor(dist)
    cw.add_instance(_instance("inst1"), [])
    assert len(dist.calls) == 1 and dist.calls[0][1] is not None


# --- ssconf values ------------------------------------------------------------

def test_compute_ssconf_values_exact():
    data = make_data()
    values = config.compute_ssconf_values(data)
    assert set(values) == constants.VALID_SS_KEYS
    expected = {
        "cluster_name": "cluster.example.com",
        "cluster_tags": ["a-tag", "z-tag"],
        "file_storage_dir": "/srv/ganeti/file-storage",
        "shared_file_storage_dir": "",
        "master_candidates_certs": ["%s=AA:AA" % MASTER, "uuid-node10=BB:BB"],
        "master_ip": "192.0.2.100",
        "master_netdev": "lo",
        "master_netmask": "32",
        "master_node": "node1.example.com",
        "node_list": ["node1.example.com", "node2.example.com", "node10.example.com"],
        "node_primary_ips": ["node1.example.com 192.0.2.1", "node2.example.com 192.0.2.2",
                             "node10.example.com 192.0.2.10"],
        "node_secondary_ips": ["node1.example.com 198.51.100.1",
                               "node2.example.com 192.0.2.2",
                               "node10.example.com 192.0.2.10"],
        "node_vm_capable": ["node1.example.com=True", "node2.example.com=False",
                            "node10.example.com=True"],
        "offline_nodes": ["node2.example.com"],
        "online_nodes": ["node1.example.com", "node10.example.com"],
        "primary_ip_family": "2",
        "instance_list": [],
        "release_version": constants.RELEASE_VERSION,
        "hypervisor_list": ["fake"],
        "maintain_node_health": "False",
        "uid_pool": ["1000", "2000-2010"],
        "nodegroups": ["%s default" % GROUP],
        "networks": [],
        "enabled_user_shutdown": "False",
        "ssh_ports": ["node1.example.com=22", "node2.example.com=2222",
                      "node10.example.com=22"],
        "hvparams_fake": ["migration_mode=non-live"],
        # the cluster's values over the KVM defaults, sorted by name
        "hvparams_kvm": sorted(
            ["%s=%s" % (k, v) for k, v in constants.HVC_DEFAULTS["kvm"].items()] +
            ["count=3", "cpus=[1,2]", "flag=True", "path=/usr/bin/kvm"]),
        "hvparams_xen-pvm": sorted("%s=%s" % (k, v) for k, v in
                                   constants.HVC_DEFAULTS["xen-pvm"].items()),
        "hvparams_xen-hvm": sorted("%s=%s" % (k, v) for k, v in
                                   constants.HVC_DEFAULTS["xen-hvm"].items()),
        "hvparams_chroot": [],
        "hvparams_lxc": [],
    }
    for key, value in expected.items():
        assert values[key] == value, key
    # candidates: both lists in the same order
    assert sorted(values["master_candidates"]) == ["node1.example.com",
                                                   "node10.example.com"]
    ips = {"node1.example.com": "192.0.2.1", "node10.example.com": "192.0.2.10"}
    assert values["master_candidates_ips"] == [ips[n] for n in values["master_candidates"]]


def test_ssconf_hvparams_default_when_cluster_has_none():
    data = make_data()
    data.cluster.hvparams["fake"] = {}
    values = config.compute_ssconf_values(data)
    assert values["hvparams_fake"] == ["migration_mode=live"]


def test_ssconf_master_node_unresolvable():
    data = make_data()
    data.cluster.master_node = "gone"
    assert config.compute_ssconf_values(data)["master_node"] == "NO MASTER"


def test_ssconf_instance_list_natural_sort(writer):
    for name in ("web10", "web9", "db1"):
        writer.add_instance(_instance(name), [])
    assert writer.get_ssconf_values()["instance_list"] == ["db1", "web9", "web10"]


def test_ssconf_ssh_port_from_group(cfg_path):
    cw = config.ConfigWriter(cfg_path)
    group = cw.get_node_group(GROUP)
    group.ndparams = {"ssh_port": 2020}
    ports = config.compute_ssconf_values(cw.data)["ssh_ports"]
    assert ports == ["node1.example.com=2020", "node2.example.com=2222",
                     "node10.example.com=2020"]


def test_ssconf_networks():
    data = make_data()
    data.networks = {"net-uuid": {"name": "net1"}}
    assert config.compute_ssconf_values(data)["networks"] == ["net-uuid net1"]


def test_ssconf_values_survive_render(tmp_path):
    """Every computed value can be written as an ssconf file."""
    from ganeti import ssconf
    values = config.compute_ssconf_values(make_data())
    ssconf.write_ssconf_files(values, data_dir=str(tmp_path))
    store = ssconf.SimpleStore(str(tmp_path))
    assert store.get_node_list() == values["node_list"]
    assert store.get_master_candidates_certs() == {MASTER: "AA:AA", "uuid-node10": "BB:BB"}


# --- MAC generation and redaction ----------------------------------------------

def test_generate_mac_unique_and_reserved(writer):
    macs = {writer.generate_mac() for _ in range(50)}
    assert len(macs) == 50
    assert all(m.startswith("aa:00:00:") and len(m) == 17 for m in macs)
    mac = macs.pop()
    writer.release_mac(mac)
    assert mac not in writer._temporary_macs


def test_redacted_config_hides_secrets_without_touching_data(writer):
    inst = _instance("inst1", osparams_private={"password": "hunter2", "key": "k"})
    disk = objects.Disk(dev_type=constants.DT_DRBD8, size=1024,
                        nodes=[MASTER, "uuid-node10"],
                        logical_id=[MASTER, "uuid-node10", 11000, 0, 0, "drbd-secret"],
                        children=[], params={}, mode="rw")
    writer.add_instance(inst, [disk])
    red = config.redacted_config(writer.data)
    assert red["disks"][disk.uuid]["logical_id"][5] == constants.REDACTED
    assert red["instances"][inst.uuid]["osparams_private"] == {
        "password": constants.REDACTED, "key": constants.REDACTED}
    assert "hunter2" not in serializer.dump_json(red)
    assert "drbd-secret" not in serializer.dump_json(red)
    # the live configuration keeps the secrets
    assert writer.data.disks[disk.uuid].logical_id[5] == "drbd-secret"
    assert writer.get_instance_info(inst.uuid).osparams_private["password"] == "hunter2"
