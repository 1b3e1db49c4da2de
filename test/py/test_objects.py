"""Tests for ganeti.objects: dict round trips, parameter filling, upgrade defaults, tags.

Objects are built in the tests; nothing touches the disk.
"""

import copy

import pytest

from ganeti import constants, errors, objects


# --- fill_dict ----------------------------------------------------------------------

def test_fill_dict_overlays_custom_on_defaults():
    defaults = {"a": 1, "b": 2}
    assert objects.fill_dict(defaults, {"b": 3, "c": 4}) == {"a": 1, "b": 3, "c": 4}


def test_fill_dict_none_resets_to_default_and_drops_unknown_keys():
    defaults = {"a": 1, "b": 2}
    assert objects.fill_dict(defaults, {"a": None, "x": None}) == {"a": 1, "b": 2}


def test_fill_dict_none_custom_gives_copy_of_defaults():
    defaults = {"a": [1]}
    result = objects.fill_dict(defaults, None)
    assert result == defaults
    result["a"].append(2)
    assert defaults == {"a": [1]}


def test_fill_dict_skip_keys():
    assert objects.fill_dict({"a": 1}, {"a": 5, "b": 6}, skip_keys=("b",)) == {"a": 5}


def test_fill_dict_copies_custom_values_deeply():
    custom = {"l": [1, 2]}
    result = objects.fill_dict({}, custom)
    result["l"].append(3)
    assert custom == {"l": [1, 2]}


# --- to_dict / from_dict ------------------------------------------------------------

def test_node_round_trip_keeps_unknown_keys():
    data = {"uuid": "u1", "name": "node1.example.com", "primary_ip": "192.0.2.1",
            "secondary_ip": "198.51.100.1", "master_candidate": True, "offline": False,
            "drained": False, "group": "g1", "master_capable": True, "vm_capable": True,
            "ndparams": {}, "powered": True, "tags": ["a"], "serial_no": 3,
            "ctime": 1.5, "mtime": 2.5, "future_key": {"nested": [1, 2]}}
    node = objects.Node.from_dict(data)
    assert node.name == "node1.example.com"
    assert node.serial_no == 3
    assert node.to_dict() == data


def test_from_dict_unknown_keys_are_copied():
    data = {"name": "n", "future_key": {"x": [1]}}
    node = objects.Node.from_dict(data)
    data["future_key"]["x"].append(2)
    assert node.to_dict()["future_key"] == {"x": [1]}


def test_to_dict_omits_none_values():
    node = objects.Node(name="n1")
    assert node.to_dict() == {"name": "n1"}


def test_constructor_refuses_unknown_attribute():
    with pytest.raises(errors.ProgrammerError, match="no attribute bogus"):
        objects.Node(name="n", bogus=1)


def test_from_dict_refuses_non_dict():
    with pytest.raises(errors.ConfigurationError, match="expected an object"):
        objects.Node.from_dict(["not", "a", "dict"])


def test_instance_nics_are_nested_objects():
    inst = objects.Instance.from_dict({
        "name": "inst1", "nics": [{"mac": "aa:00:00:11:22:33", "nicparams": {}},
                                  {"mac": "aa:00:00:11:22:34"}]})
    assert all(isinstance(n, objects.NIC) for n in inst.nics)
    assert inst.nics[1].nicparams == {}  # upgrade default of the NIC
    out = inst.to_dict()
    assert out["nics"][0] == {"mac": "aa:00:00:11:22:33", "nicparams": {}}
    assert isinstance(out["nics"][1], dict)


def test_disk_children_round_trip():
    data = {"uuid": "d1", "dev_type": constants.DT_DRBD8, "size": 1024,
            "logical_id": ["n1", "n2", 11000, 0, 0, "secret"],
            "children": [{"uuid": "c1", "dev_type": constants.DT_PLAIN, "size": 1024,
                          "logical_id": ["xenvg", "c1.disk0_data"]},
                         {"uuid": "c2", "dev_type": constants.DT_PLAIN, "size": 128,
                          "logical_id": ["xenvg", "c1.disk0_meta"]}]}
    disk = objects.Disk.from_dict(data)
    assert [type(c) for c in disk.children] == [objects.Disk, objects.Disk]
    assert disk.children[1].size == 128
    assert disk.children[0].mode == constants.DISK_RDWR
    out = disk.to_dict()
    assert out["children"][0]["logical_id"] == ["xenvg", "c1.disk0_data"]
    assert objects.Disk.from_dict(out).to_dict() == out


def test_disk_upgrade_defaults_and_file_path():
    disk = objects.Disk.from_dict({"dev_type": constants.DT_FILE,
                                   "logical_id": ["loop", "/srv/f/disk0"]})
    assert disk.mode == constants.DISK_RDWR
    assert disk.children == [] and disk.params == {} and disk.nodes == []
    assert disk.file_path == "/srv/f/disk0"
    plain = objects.Disk.from_dict({"dev_type": constants.DT_PLAIN,
                                    "logical_id": ["vg", "lv"]})
    assert plain.file_path is None


def test_config_data_nested_round_trip():
    data = {
        "version": constants.CONFIG_VERSION,
        "cluster": {"cluster_name": "c.example.com", "master_node": "n1"},
        "nodes": {"n1": {"uuid": "n1", "name": "node1", "primary_ip": "192.0.2.1"}},
        "nodegroups": {"g1": {"uuid": "g1", "name": "default"}},
        "instances": {"i1": {"uuid": "i1", "name": "inst1", "disks": ["d1"]}},
        "disks": {"d1": {"uuid": "d1", "dev_type": "diskless"}},
        "networks": {"net1": {"name": "raw"}},
        "serial_no": 7,
        "unknown_top": 42,
    }
    cfg = objects.ConfigData.from_dict(data)
    assert isinstance(cfg.cluster, objects.Cluster)
    assert isinstance(cfg.nodes["n1"], objects.Node)
    assert isinstance(cfg.nodegroups["g1"], objects.NodeGroup)
    assert isinstance(cfg.instances["i1"], objects.Instance)
    assert isinstance(cfg.disks["d1"], objects.Disk)
    assert cfg.networks == {"net1": {"name": "raw"}}
    assert cfg.filters == {}
    out = cfg.to_dict()
    assert out["unknown_top"] == 42
    assert out["serial_no"] == 7
    # a second round trip is stable (upgrade defaults were added once)
    assert objects.ConfigData.from_dict(out).to_dict() == out


def test_config_data_defaults():
    cfg = objects.ConfigData.from_dict({})
    assert cfg.serial_no == 1
    for name in ("nodes", "nodegroups", "instances", "networks", "disks", "filters"):
        assert getattr(cfg, name) == {}


def test_copy_is_independent():
    node = objects.Node.from_dict({"name": "n", "ndparams": {"ssh_port": 2222}})
    clone = node.copy()
    clone.ndparams["ssh_port"] = 1
    clone.name = "other"
    assert node.ndparams == {"ssh_port": 2222}
    assert node.name == "n"


def test_repr_names_the_object():
    assert repr(objects.Node(name="node1")) == "<Node node1>"
    assert repr(objects.Disk(uuid="d-1")) == "<Disk d-1>"


# --- upgrade defaults ------------------------------------------------------------

def test_node_upgrade_defaults():
    node = objects.Node.from_dict({"name": "n", "primary_ip": "192.0.2.5"})
    assert node.master_candidate is False
    assert node.offline is False
    assert node.drained is False
    assert node.master_capable is True
    assert node.vm_capable is True
    assert node.powered is True
    assert node.ndparams == {}
    assert node.tags == []
    assert node.secondary_ip == "192.0.2.5"


def test_node_upgrade_keeps_explicit_false():
    node = objects.Node.from_dict({"name": "n", "vm_capable": False,
                                   "master_capable": False, "secondary_ip": "10.0.0.1",
                                   "primary_ip": "192.0.2.5"})
    assert node.vm_capable is False
    assert node.master_capable is False
    assert node.secondary_ip == "10.0.0.1"


def test_instance_upgrade_defaults():
    inst = objects.Instance.from_dict({"name": "i"})
    assert inst.hvparams == {} and inst.beparams == {}
    assert inst.osparams == {} and inst.osparams_private == {}
    assert inst.nics == [] and inst.disks == []
    assert inst.admin_state == constants.ADMINST_DOWN
    assert inst.admin_state_source == constants.ADMIN_SOURCE
    assert inst.disks_active is False
    assert inst.forthcoming is False
    assert inst.tags == []


def test_nodegroup_upgrade_defaults():
    group = objects.NodeGroup.from_dict({"name": "default"})
    assert group.alloc_policy == constants.ALLOC_POLICY_PREFERRED
    assert group.ndparams == {} and group.diskparams == {}
    assert group.ipolicy == {} and group.networks == {}
    assert group.tags == []


def test_cluster_upgrade_defaults():
    cluster = objects.Cluster.from_dict({"cluster_name": "c"})
    assert cluster.beparams == {"default": constants.BEC_DEFAULTS}
    assert cluster.nicparams == {"default": constants.NICC_DEFAULTS}
    assert cluster.ndparams == constants.NDC_DEFAULTS
    assert set(cluster.hvparams) == set(constants.HYPER_TYPES)
    assert all(v == {} for v in cluster.hvparams.values())
    assert set(cluster.diskparams) == set(constants.DISK_TEMPLATES)
    assert cluster.ipolicy == constants.IPOLICY_DEFAULTS
    assert cluster.ipolicy is not constants.IPOLICY_DEFAULTS
    assert cluster.candidate_pool_size == 10
    assert cluster.max_running_jobs == 20
    assert cluster.max_tracked_jobs == 25
    assert cluster.compression_tools == ["gzip", "gzip-fast", "gzip-slow"]
    assert cluster.ssh_key_type == "rsa" and cluster.ssh_key_bits == 2048
    assert cluster.mac_prefix == "aa:00:00"
    assert cluster.primary_ip_family == 2
    assert cluster.highest_used_port == constants.FIRST_DRBD_PORT - 1
    assert cluster.candidate_certs == {} and cluster.uid_pool == []
    assert cluster.modify_etc_hosts is True and cluster.modify_ssh_setup is True
    assert cluster.maintain_node_health is False
    assert cluster.enabled_user_shutdown is False
    assert cluster.tags == []


def test_cluster_upgrade_fills_partial_ndparams_and_keeps_custom_values():
    cluster = objects.Cluster.from_dict({
        "ndparams": {"ssh_port": 2222},
        "hvparams": {"fake": {"migration_mode": "non-live"}},
        "candidate_pool_size": 3,
        "modify_etc_hosts": False,
    })
    assert cluster.ndparams == dict(constants.NDC_DEFAULTS, ssh_port=2222)
    assert cluster.hvparams["fake"] == {"migration_mode": "non-live"}
    assert cluster.hvparams["kvm"] == {}
    assert cluster.candidate_pool_size == 3
    assert cluster.modify_etc_hosts is False


def test_cluster_upgrade_defaults_are_not_shared_between_objects():
    c1 = objects.Cluster.from_dict({})
    c2 = objects.Cluster.from_dict({})
    c1.beparams["default"]["vcpus"] = 8
    c1.ipolicy["std"]["memory-size"] = 1
    assert c2.beparams["default"]["vcpus"] == 1
    assert c2.ipolicy["std"]["memory-size"] == 128
    assert constants.BEC_DEFAULTS["vcpus"] == 1


# --- parameter filling -----------------------------------------------------------

def _cluster():
    return objects.Cluster.from_dict({
        "hvparams": {"fake": {"migration_mode": "non-live", "cluster_only": "c"}},
        "os_hvp": {"debian": {"fake": {"os_level": "o", "cluster_only": "os"}}},
        "beparams": {"default": {"vcpus": 2, "maxmem": 256}},
        "nicparams": {"default": {"mode": "routed", "link": "br7"}},
        "osparams": {"debian": {"p1": "base", "p2": "base"},
                     "debian+v1": {"p2": "variant"}},
        "ndparams": {"spindle_count": 4},
    })


def test_fill_hv_layers_cluster_os_and_instance():
    cluster = _cluster()
    inst = objects.Instance.from_dict({"name": "i", "hypervisor": "fake", "os": "debian",
                                       "hvparams": {"os_level": "inst"}})
    assert cluster.fill_hv(inst) == {"migration_mode": "non-live", "cluster_only": "os",
                                     "os_level": "inst"}


def test_fill_hv_without_os_overrides_uses_hv_defaults():
    cluster = objects.Cluster.from_dict({})
    inst = objects.Instance.from_dict({"name": "i", "hypervisor": "fake", "os": "x"})
    assert cluster.fill_hv(inst) == constants.HVC_DEFAULTS["fake"]


def test_fill_hv_instance_none_resets_to_cluster_value():
    cluster = _cluster()
    inst = objects.Instance.from_dict({"name": "i", "hypervisor": "fake", "os": "other",
                                       "hvparams": {"migration_mode": None}})
    assert cluster.fill_hv(inst)["migration_mode"] == "non-live"


def test_simple_fill_hv_matches_fill_hv():
    cluster = _cluster()
    assert cluster.simple_fill_hv("fake", "debian", {"x": 1}) == {
        "migration_mode": "non-live", "cluster_only": "os", "os_level": "o", "x": 1}


def test_fill_be_and_simple_fill_be():
    cluster = _cluster()
    inst = objects.Instance.from_dict({"name": "i", "beparams": {"maxmem": 512}})
    expected = dict(constants.BEC_DEFAULTS, vcpus=2, maxmem=512)
    assert cluster.fill_be(inst) == expected
    assert cluster.simple_fill_be({"maxmem": 512}) == expected
    assert cluster.simple_fill_be({}) == dict(constants.BEC_DEFAULTS, vcpus=2, maxmem=256)


def test_simple_fill_nic():
    cluster = _cluster()
    assert cluster.simple_fill_nic({"link": "br9"}) == {"mode": "routed", "link": "br9",
                                                        "vlan": ""}
    assert cluster.simple_fill_nic({}) == {"mode": "routed", "link": "br7", "vlan": ""}


def test_simple_fill_os_uses_base_then_variant_then_given():
    cluster = _cluster()
    assert cluster.simple_fill_os("debian+v1", {}) == {"p1": "base", "p2": "variant"}
    assert cluster.simple_fill_os("debian", {"p3": "x"}) == {"p1": "base", "p2": "base",
                                                            "p3": "x"}
    assert cluster.simple_fill_os("debian+v1", {"p1": "mine"}) == {"p1": "mine",
                                                                  "p2": "variant"}
    assert cluster.simple_fill_os("unknown", {"a": 1}) == {"a": 1}


def test_fill_nd_layers_defaults_cluster_group_node():
    cluster = _cluster()
    group = objects.NodeGroup.from_dict({"name": "g", "ndparams": {"ssh_port": 2022,
                                                                   "spindle_count": 9}})
    node = objects.Node.from_dict({"name": "n", "ndparams": {"ssh_port": 2200}})
    filled = cluster.fill_nd(node, group)
    assert filled == dict(constants.NDC_DEFAULTS, spindle_count=9, ssh_port=2200)
    assert cluster.fill_nd(node, None) == dict(constants.NDC_DEFAULTS, spindle_count=4,
                                               ssh_port=2200)


def test_filling_does_not_modify_inputs():
    cluster = _cluster()
    before = copy.deepcopy(cluster.to_dict())
    inst = objects.Instance.from_dict({"name": "i", "hypervisor": "fake", "os": "debian"})
    cluster.fill_hv(inst)["migration_mode"] = "changed"
    cluster.fill_be(inst)["vcpus"] = 99
    assert cluster.to_dict() == before
    assert inst.hvparams == {} and inst.beparams == {}


# --- tags ----------------------------------------------------------------------

def test_add_and_remove_tags():
    node = objects.Node.from_dict({"name": "n"})
    node.add_tag("b-tag")
    node.add_tag("a:tag/x@y+z*1.2")
    node.add_tag("b-tag")  # adding twice keeps one
    assert node.tags == ["a:tag/x@y+z*1.2", "b-tag"]
    node.remove_tag("b-tag")
    assert node.get_tags() == {"a:tag/x@y+z*1.2"}


def test_remove_missing_tag_fails():
    node = objects.Node.from_dict({"name": "n"})
    with pytest.raises(errors.TagError, match="not found"):
        node.remove_tag("nope")


@pytest.mark.parametrize("tag,message", [
    ("", "empty"),
    ("x" * (constants.TAG_MAX_LEN + 1), "too long"),
    ("has space", "invalid characters"),
    ("semi;colon", "invalid characters"),
    ("quote'", "invalid characters"),
    (42, "not a string"),
    (None, "not a string"),
])
def test_invalid_tags_refused(tag, message):
    node = objects.Node.from_dict({"name": "n"})
    with pytest.raises(errors.TagError, match=message):
        node.add_tag(tag)
    assert node.tags == []


def test_tag_of_maximum_length_accepted():
    objects.validate_tag("x" * constants.TAG_MAX_LEN)


def test_too_many_tags_refused(monkeypatch):
    monkeypatch.setattr(constants, "MAX_TAGS_PER_OBJ", 3)
    node = objects.Node.from_dict({"name": "n"})
    for tag in ("a", "b", "c"):
        node.add_tag(tag)
    with pytest.raises(errors.TagError, match="Too many tags"):
        node.add_tag("d")
    assert node.tags == ["a", "b", "c"]


def test_get_tags_on_object_without_tags():
    cluster = objects.Cluster()
    assert cluster.get_tags() == set()
    assert cluster.tags == []


# --- timestamps ------------------------------------------------------------------

def test_stamp_new_and_bump():
    node = objects.Node(name="n")
    node.stamp_new()
    assert node.serial_no == 1
    assert node.ctime is not None and node.mtime >= node.ctime
    ctime = node.ctime
    node.bump()
    assert node.serial_no == 2
    assert node.ctime == ctime


def test_stamp_new_keeps_existing_serial_and_ctime():
    node = objects.Node(name="n", serial_no=5, ctime=100.0)
    node.stamp_new()
    assert node.serial_no == 5
    assert node.ctime == 100.0
