"""Tests for ganeti.query: fields (static, live, dynamic, aliases), instance status
values, result status codes, and filter evaluation, on a configuration built here and a
fake RPC runner.
"""

import pytest

from ganeti import constants, errors, objects, query
from ganeti.rpc.node import RpcResult

GROUP = "g-uuid"
N1, N2, N3, N10 = "n1-uuid", "n2-uuid", "n3-uuid", "n10-uuid"
NODE_NAMES = {N1: "node1.example.com", N2: "node2.example.com",
              N3: "node3.example.com", N10: "node10.example.com"}

HV_INFO = {"memory_total": 4096, "memory_free": 2048, "memory_dom0": 512,
           "memory_hv": 0, "cpu_total": 4, "cpu_nodes": 1, "cpu_sockets": 2,
           "cpu_dom0": 0}


def _live(memory=128, vcpus=1):
    return {"memory": memory, "vcpus": vcpus, "state": "running", "time": 1.0}


def build_data():
    nodes = {
        N1: objects.Node(uuid=N1, name=NODE_NAMES[N1], primary_ip="192.0.2.1",
                         master_candidate=True, group=GROUP, tags=["rack1"]),
        N2: objects.Node(uuid=N2, name=NODE_NAMES[N2], primary_ip="192.0.2.2",
                         group=GROUP, drained=True),
        N3: objects.Node(uuid=N3, name=NODE_NAMES[N3], primary_ip="192.0.2.3",
                         group=GROUP, offline=True),
        N10: objects.Node(uuid=N10, name=NODE_NAMES[N10], primary_ip="192.0.2.10",
                          group=GROUP, ndparams={"ssh_port": 2222}),
    }
    disks = {
        "d0": objects.Disk(uuid="d0", name="root", dev_type=constants.DT_FILE, size=1024,
                           logical_id=["loop", "/srv/f/web/disk0"], nodes=[N1],
                           spindles=None),
        "d1": objects.Disk(uuid="d1", dev_type=constants.DT_FILE, size=2048,
                           logical_id=["loop", "/srv/f/web/disk1"], nodes=[N1]),
        "dr": objects.Disk(uuid="dr", dev_type=constants.DT_DRBD8, size=512,
                           logical_id=[N1, N10, 11000, 0, 0, "s"], nodes=[N1, N10]),
    }

    def inst(uuid, name, pnode, state, source="admin", **kwargs):
        return objects.Instance(uuid=uuid, name=name, primary_node=pnode,
                                os="debootstrap+default", hypervisor="fake",
                                admin_state=state, admin_state_source=source, **kwargs)

    instances = [
        inst("i-run", "web", N1, "up", disks=["d0", "d1"], beparams={"vcpus": 2},
             hvparams={"migration_mode": "non-live"},
             nics=[objects.NIC(uuid="nic0", name="eth0", mac="aa:00:00:00:00:01",
                               ip="198.51.100.5", nicparams={}),
                   objects.NIC(uuid="nic1", mac="aa:00:00:00:00:02",
                               nicparams={"mode": "routed", "link": "rt1"})],
             tags=["prod"]),
        inst("i-admdown", "admdown", N1, "down"),
        inst("i-errup", "errup", N1, "down"),
        inst("i-errdown", "errdown", N1, "up"),
        inst("i-nodedown", "nodedown", N2, "up"),
        inst("i-nodeoff", "nodeoff", N3, "up"),
        inst("i-user", "userdown", N10, "down", source="user"),
        inst("i-off", "offline1", N10, "offline"),
        inst("i-wrong", "wrongnode", N1, "up"),
        inst("i-drbd", "mirror", N1, "down", disks=["dr"]),
    ]
    cluster = objects.Cluster(uuid="c-uuid", cluster_name="cluster.example.com",
                              master_node=N1, enabled_hypervisors=["fake"],
                              enabled_disk_templates=["file", "drbd"],
                              file_storage_dir="/srv/f",
                              beparams={"default": {"maxmem": 256}})
    data = objects.ConfigData(cluster=cluster, nodes=nodes, instances={
        i.uuid: i for i in instances}, disks=disks, nodegroups={
        GROUP: objects.NodeGroup(uuid=GROUP, name="default",
                                 ndparams={"spindle_count": 3})})
    return objects.ConfigData.from_dict(data.to_dict())


LIVE_INSTANCES = {
    N1: {"web": _live(512, 2), "errup": _live(), "mirror": _live(64)},
    N10: {"wrongnode": _live()},
}


class FakeRpc:
    def __init__(self, failing=(N2,)):
        self.failing = set(failing)
        self.calls = []

    def call(self, procedure, nodes, args, timeout=None):
        self.calls.append((procedure, list(nodes), args))
        results = {}
        for node in nodes:
            name = NODE_NAMES[node]
            if node in self.failing:
                results[node] = RpcResult(name, procedure, False, "Connection refused")
            elif procedure == "all_instances_info":
                results[node] = RpcResult(name, procedure, True,
                                          LIVE_INSTANCES.get(node, {}))
            elif procedure == "node_info":
                storage = [{"type": "file", "name": "/srv/f", "storage_free": 100 * (
                    1 + list(NODE_NAMES).index(node)), "storage_size": 5000}]
                results[node] = RpcResult(name, procedure, True,
                                          ["boot-" + node, storage, [dict(HV_INFO)]])
            else:
                raise AssertionError("unexpected RPC %s" % procedure)
        return results


def run(what, fields, qfilter=None, rpc=None, data=None):
    rpc = rpc if rpc is not None else FakeRpc()
    ctx = query.QueryContext(data or build_data(), rpc)
    return query.run_query(what, fields, qfilter, ctx), rpc


def rows(result):
    return query.old_style_rows(result)


def column(result, index=0):
    return [row[index] for row in rows(result)]


def by_name(result):
    """name -> [status, value] of the second field."""
    return {row[0][1]: row[1] for row in result["data"]}


# --- instance status ------------------------------------------------------------

def test_instance_status_values():
    result, _ = run("instance", ["name", "status"])
    assert {name: cell[1] for name, cell in by_name(result).items()} == {
        "web": "running",
        "admdown": "ADMIN_down",
        "errup": "ERROR_up",
        "errdown": "ERROR_down",
        "nodedown": "ERROR_nodedown",
        "nodeoff": "ERROR_nodeoffline",
        "userdown": "USER_down",
        "offline1": "ADMIN_offline",
        "wrongnode": "ERROR_wrongnode",
        "mirror": "ERROR_up",
    }
    assert all(cell[0] == constants.RS_NORMAL for cell in by_name(result).values())


def test_instance_status_field_definition():
    result, _ = run("instance", ["status"])
    assert result["fields"] == [{"name": "status", "title": "Status", "kind": "text",
                                 "doc": query.FIELDS["instance"]["status"].doc}]


def test_live_instance_fields_status_codes():
    result, rpc = run("instance", ["name", "oper_state", "oper_ram", "oper_vcpus"])
    table = {row[0][1]: row[1:] for row in result["data"]}
    assert table["web"] == [[0, True], [0, 512], [0, 2]]
    assert table["admdown"] == [[0, False], [constants.RS_UNAVAIL, None],
                                [constants.RS_UNAVAIL, None]]
    assert table["nodedown"] == [[constants.RS_NODATA, None]] * 3
    assert table["nodeoff"] == [[constants.RS_OFFLINE, None]] * 3
    # offline nodes are never asked
    assert rpc.calls == [("all_instances_info", [N1, N2, N10],
                          [["fake"], rpc.calls[0][2][1]])]


def test_static_fields_need_no_rpc():
    result, rpc = run("instance", ["name", "pnode", "admin_state", "os"])
    assert rpc.calls == []
    assert rows(result)[0] == ["admdown", "node1.example.com", "down",
                               "debootstrap+default"]


def test_instances_sorted_naturally_and_static_values():
    result, _ = run("instance", ["name"])
    assert column(result) == sorted(column(result), key=query.nice_sort_key)
    result, _ = run("instance", ["name", "disk_template", "disk.count", "disk.sizes",
                                 "disk_usage", "nic.count", "nic.macs", "nic.modes",
                                 "nic.links", "nic.bridges", "tags", "snodes",
                                 "admin_up", "pnode.group"],
                    ["=", "name", "web"])
    assert rows(result) == [["web", "file", 2, [1024, 2048], 3072, 2,
                             ["aa:00:00:00:00:01", "aa:00:00:00:00:02"],
                             ["bridged", "routed"],
                             [constants.NICC_DEFAULTS["link"], "rt1"],
                             [constants.NICC_DEFAULTS["link"], None], ["prod"], [], True,
                             "default"]]


def test_secondary_nodes_and_template_from_disks():
    result, _ = run("instance", ["disk_template", "snodes"], ["=", "name", "mirror"])
    assert rows(result) == [["drbd", ["node10.example.com"]]]
    result, _ = run("instance", ["disk_template"], ["=", "name", "admdown"])
    assert rows(result) == [["diskless"]]


# --- dynamic fields and aliases -------------------------------------------------

def test_indexed_disk_and_nic_fields():
    fields = ["disk.size/0", "disk.size/1", "disk.size/2", "disk.name/0", "disk.uuid/1",
              "nic.mac/0", "nic.ip/0", "nic.ip/1", "nic.mode/1", "nic.link/1",
              "nic.bridge/0", "nic.bridge/1", "nic.name/0", "nic.uuid/1", "nic.mac/5"]
    result, _ = run("instance", fields, ["=", "name", "web"])
    assert result["data"][0] == [
        [0, 1024], [0, 2048], [constants.RS_UNAVAIL, None], [0, "root"], [0, "d1"],
        [0, "aa:00:00:00:00:01"], [0, "198.51.100.5"], [0, None], [0, "routed"],
        [0, "rt1"], [0, constants.NICC_DEFAULTS["link"]], [0, None], [0, "eth0"],
        [0, "nic1"], [constants.RS_UNAVAIL, None]]
    defs = {f["name"]: f for f in result["fields"]}
    assert defs["disk.size/0"]["title"] == "Disk/0"
    assert defs["disk.size/0"]["kind"] == constants.QFT_UNIT
    assert defs["nic.mac/0"]["title"] == "NicMAC/0"
    assert defs["nic.mac/0"]["kind"] == constants.QFT_TEXT


def test_parameter_fields_are_filled():
    result, _ = run("instance", ["be/vcpus", "be/maxmem", "be/minmem", "be/auto_balance",
                                 "hv/migration_mode", "beparams", "custom_beparams"],
                    ["=", "name", "web"])
    (row,) = rows(result)
    assert row[:5] == [2, 256, constants.BEC_DEFAULTS["minmem"], True, "non-live"]
    assert row[5] == dict(constants.BEC_DEFAULTS, vcpus=2, maxmem=256)
    assert row[6] == {"vcpus": 2}
    titles = [f["title"] for f in result["fields"][:4]]
    assert titles == ["ConfigVCPUs", "ConfigMaxMem", "ConfigMinMem", "Auto_balance"]


def test_parameter_field_kinds_follow_value_types():
    kinds = {f["name"]: f["kind"] for f in query.query_fields(
        "instance", ["be/vcpus", "be/maxmem", "be/auto_balance", "vcpus"])["fields"]}
    assert kinds == {"be/vcpus": "number", "be/maxmem": "unit", "be/auto_balance": "bool",
                     "vcpus": "number"}
    kinds = {f["name"]: f["kind"] for f in query.query_fields(
        "node", ["ndp/ssh_port", "ndp/exclusive_storage", "ndp/oob_program",
                 "ndp/cpu_speed"])["fields"]}
    assert kinds == {"ndp/ssh_port": "number", "ndp/exclusive_storage": "bool",
                     "ndp/oob_program": "other", "ndp/cpu_speed": "float"}


@pytest.mark.parametrize("alias,target", [
    ("vcpus", "be/vcpus"), ("be/memory", "be/maxmem"), ("sda_size", "disk.size/0"),
    ("sdb_size", "disk.size/1"), ("ip", "nic.ip/0"), ("mac", "nic.mac/0"),
    ("bridge", "nic.bridge/0"), ("nic_mode", "nic.mode/0"), ("nic_link", "nic.link/0"),
    ("nic_network", "nic.network/0"),
])
def test_aliases(alias, target):
    result, _ = run("instance", [alias, target], ["=", "name", "web"])
    (row,) = result["data"]
    assert row[0] == row[1]
    assert result["fields"][0]["name"] == alias
    assert result["fields"][0]["title"] == result["fields"][1]["title"]


@pytest.mark.parametrize("name", ["bogus", "disk.size/x", "disk.color/0", "nic.speed/0",
                                  "be/nothing", "sdc_size", "ndp/ssh_port"])
def test_unknown_instance_fields(name):
    result, _ = run("instance", ["name", name], ["=", "name", "web"])
    assert result["fields"][1] == {"name": name, "title": name, "kind": "unknown",
                                   "doc": "Unknown field '%s'" % name}
    assert result["data"][0][1] == [constants.RS_UNKNOWN, None]


# --- nodes ------------------------------------------------------------------

def test_node_live_fields_with_failing_and_offline_nodes():
    result, rpc = run("node", ["name", "mtotal", "mfree", "mnode", "ctotal", "dfree",
                               "dtotal", "bootid", "csockets"])
    table = {row[0][1]: row[1:] for row in result["data"]}
    assert [c[1] for c in table["node1.example.com"]] == [4096, 2048, 512, 4, 100, 5000,
                                                           "boot-" + N1, 2]
    assert all(c[0] == 0 for c in table["node1.example.com"])
    assert table["node2.example.com"] == [[constants.RS_NODATA, None]] * 8
    assert table["node3.example.com"] == [[constants.RS_OFFLINE, None]] * 8
    assert table["node10.example.com"][4] == [0, 400]
    assert [c[0] for c in rpc.calls] == ["node_info"]
    assert rpc.calls[0][1] == [N1, N2, N10]
    assert rpc.calls[0][2] == [[["file", "/srv/f"]], [["fake", {}]]]


def test_nodes_sorted_naturally():
    result, _ = run("node", ["name"])
    assert column(result) == ["node1.example.com", "node2.example.com",
                              "node3.example.com", "node10.example.com"]


def test_node_static_fields():
    result, rpc = run("node", ["name", "role", "master", "master_candidate", "offline",
                               "drained", "pinst_cnt", "sinst_cnt", "pinst_list",
                               "sinst_list", "group", "group.uuid", "tags", "sip",
                               "powered", "ndp/ssh_port", "ndp/spindle_count"])
    assert rpc.calls == []
    table = {row[0]: row[1:] for row in rows(result)}
    assert table["node1.example.com"] == [
        "M", True, True, False, False, 6, 0,
        ["admdown", "errdown", "errup", "mirror", "web", "wrongnode"], [], "default",
        GROUP, ["rack1"], "192.0.2.1", True, 22, 3]
    assert table["node2.example.com"][:5] == ["D", False, False, False, True]
    assert table["node3.example.com"][:5] == ["O", False, False, True, False]
    assert table["node10.example.com"] == [
        "R", False, False, False, False, 2, 1, ["offline1", "userdown"], ["mirror"],
        "default", GROUP, [], "192.0.2.10", True, 2222, 3]


def test_node_primary_instance_list_is_naturally_sorted():
    result, _ = run("node", ["pinst_list"], ["=", "name", "node1.example.com"])
    assert rows(result) == [[["admdown", "errdown", "errup", "mirror", "web",
                              "wrongnode"]]]


def test_unknown_node_field():
    result, _ = run("node", ["name", "nosuch", "ndp/nosuch"])
    assert [f["kind"] for f in result["fields"]] == ["text", "unknown", "unknown"]
    assert all(row[1] == [constants.RS_UNKNOWN, None] for row in result["data"])


@pytest.mark.xfail(strict=True, reason="BUG: ndp/<param> titles differ from cli.md 3 "
                   "(SpindleCount, ExclusiveStorage, OutOfBandProgram)")
def test_ndp_titles_follow_the_spec():
    result, _ = run("node", ["ndp/spindle_count", "ndp/exclusive_storage",
                             "ndp/oob_program"])
    assert [f["title"] for f in result["fields"]] == ["SpindleCount", "ExclusiveStorage",
                                                      "OutOfBandProgram"]


def test_without_rpc_live_fields_have_no_data():
    ctx = query.QueryContext(build_data(), None)
    result = query.run_query("node", ["name", "mfree"], None, ctx)
    assert result["data"][0][1] == [constants.RS_NODATA, None]
    ctx = query.QueryContext(build_data(), None)
    result = query.run_query("instance", ["name", "status"], ["=", "name", "web"], ctx)
    assert result["data"][0][1] == [0, "ERROR_nodedown"]


# --- groups and jobs ----------------------------------------------------------------

def test_group_fields():
    result, _ = run("group", ["name", "node_cnt", "node_list", "pinst_cnt",
                              "alloc_policy", "ndparams", "custom_ndparams"])
    (row,) = rows(result)
    assert row[:5] == ["default", 4, ["node1.example.com", "node2.example.com",
                                      "node3.example.com", "node10.example.com"], 10,
                       "preferred"]
    assert row[5] == dict(constants.NDC_DEFAULTS, spindle_count=3)
    assert row[6] == {"spindle_count": 3}


class FakeJob:
    def __init__(self, job_id, status):
        self.job_id = job_id
        self.status = status

    def get_info(self, fields):
        return [{"id": self.job_id, "status": self.status}[f] for f in fields]


def test_job_query_uses_the_jobs_callable():
    ctx = query.QueryContext(build_data(), None,
                             jobs=lambda ids: [FakeJob(1, "success"), FakeJob(2, "error")])
    result = query.run_query("job", ["id", "status"], ["=", "status", "error"], ctx)
    assert rows(result) == [[2, "error"]]
    assert result["fields"][0] == {"name": "id", "title": "ID", "kind": "number",
                                   "doc": "Job ID"}


# --- filters -----------------------------------------------------------------------

def names(qfilter, what="instance", field="name"):
    result, _ = run(what, [field], qfilter)
    return column(result)


def test_filter_equality_and_legacy_equal():
    assert names(["==", "name", "web"]) == ["web"]
    assert names(["=", "name", "web"]) == ["web"]
    assert names(["==", "name", "nosuch"]) == []


def test_filter_not_equal():
    assert "web" not in names(["!=", "name", "web"])
    assert len(names(["!=", "name", "web"])) == 9


def test_filter_and_or_not():
    assert names(["&", ["==", "admin_state", "up"], ["==", "pnode",
                                                      "node1.example.com"]]) == [
        "errdown", "web", "wrongnode"]
    assert names(["|", ["==", "name", "web"], ["==", "name", "mirror"]]) == ["mirror",
                                                                              "web"]
    assert names(["!", ["==", "admin_state", "up"]]) == ["admdown", "errup", "mirror",
                                                         "offline1", "userdown"]
    assert names(["&"]) == names(None)
    assert names(["|"]) == []


def test_filter_truth():
    assert names(["?", "tags"]) == ["web"]
    assert names(["!", ["?", "disks_active"]]) == names(None)


def test_filter_comparisons():
    assert names(["<", "disk.count", 1]) == [n for n in names(None)
                                             if n not in ("web", "mirror")]
    assert names([">", "disk_usage", 1000]) == ["web"]
    assert names([">=", "disk_usage", 512]) == ["mirror", "web"]
    assert names(["<=", "disk_usage", 512], ) == [n for n in names(None) if n != "web"]
    # incomparable types never match instead of failing
    assert names(["<", "name", 5]) == []


def test_filter_regex():
    assert names(["=~", "name", "^err"]) == ["errdown", "errup"]
    assert names(["=~", "name", "(?i)^WEB$"]) == ["web"]
    assert names(["=~", "pnode", r"node10\."]) == ["offline1", "userdown"]


def test_filter_list_membership():
    assert names(["=[]", "tags", "prod"]) == ["web"]
    assert names(["=[]", "nic.macs", "aa:00:00:00:00:02"]) == ["web"]
    assert names(["=[]", "name", "w"]) == []


def test_filter_on_live_field_loads_live_data():
    result, rpc = run("instance", ["name"], ["==", "status", "running"])
    assert column(result) == ["web"]
    assert [c[0] for c in rpc.calls] == ["all_instances_info"]
    result, rpc = run("node", ["name"], [">", "mfree", 1000])
    assert column(result) == ["node1.example.com", "node10.example.com"]
    assert [c[0] for c in rpc.calls] == ["node_info"]


def test_filter_on_alias_and_dynamic_field():
    assert names(["==", "sda_size", 1024]) == ["web"]
    assert names(["==", "be/vcpus", 2]) == ["web"]


@pytest.mark.parametrize("qfilter,message", [
    ("name", "Invalid filter node"),
    ([], "Invalid filter node"),
    (["~~", "name", "x"], "Unknown filter operator"),
    (["==", "nosuchfield", "x"], "Unknown field 'nosuchfield' in filter"),
    (["==", "name"], "Invalid filter"),
    (["==", 5, "x"], "Invalid filter"),
    (["!"], "'!' takes one operand"),
    (["!", ["?", "name"], ["?", "name"]], "'!' takes one operand"),
    (["?", 5], "'?' takes one field name"),
    (["=~", "name", "(unclosed"], "Invalid regular expression"),
    (["=~", "name", 5], "Invalid regular expression"),
    (["&", ["==", "name", "x"], "junk"], "Invalid filter node"),
])
def test_invalid_filters(qfilter, message):
    with pytest.raises(errors.OpPrereqError, match=message) as info:
        run("instance", ["name"], qfilter)
    assert info.value.args[1] == errors.ECODE_INVAL


def test_invalid_resource_and_field_list():
    with pytest.raises(errors.OpPrereqError, match="Resource type 'cheese' unknown"):
        run("cheese", ["name"])
    with pytest.raises(errors.OpPrereqError, match="list of strings"):
        run("node", "name")
    with pytest.raises(errors.OpPrereqError, match="list of strings"):
        run("node", ["name", 5])


# --- field listing and helpers ------------------------------------------------------

def test_query_fields_all_sorted():
    result = query.query_fields("node", None)
    names_ = [f["name"] for f in result["fields"]]
    assert names_ == sorted(names_)
    assert {"name", "mfree", "role", "pinst_list", "ctime", "uuid"} <= set(names_)
    assert all(set(f) == {"name", "title", "kind", "doc"} for f in result["fields"])


def test_query_fields_selected():
    result = query.query_fields("instance", ["name", "disk.size/3", "vcpus", "nope"])
    assert [(f["name"], f["title"], f["kind"]) for f in result["fields"]] == [
        ("name", "Instance", "text"), ("disk.size/3", "Disk/3", "unit"),
        ("vcpus", "ConfigVCPUs", query.get_field("instance", "vcpus").kind),
        ("nope", "nope", "unknown")]
    with pytest.raises(errors.OpPrereqError):
        query.query_fields("cheese", None)


def test_spec_titles_of_common_fields():
    titles = {f["name"]: f["title"] for f in query.query_fields("instance", None)["fields"]}
    assert titles["name"] == "Instance"
    assert titles["pnode"] == "Primary_node"
    assert titles["snodes"] == "Secondary_Nodes"
    assert titles["admin_state"] == "InstanceState"
    assert titles["oper_ram"] == "Memory"
    assert titles["disk.sizes"] == "Disk_sizes"
    assert titles["nic.macs"] == "NIC_MACs"
    node_titles = {f["name"]: f["title"] for f in query.query_fields("node", None)["fields"]}
    assert node_titles["pip"] == "PrimaryIP"
    assert node_titles["master_candidate"] == "MasterC"
    assert node_titles["mfree"] == "MFree"
    assert node_titles["pinst_list"] == "PriInstances"


def test_name_filter_and_old_style_rows():
    assert query.name_filter("node", []) is None
    assert query.name_filter("job", ["1", "2"]) == ["|", ["=", "id", "1"],
                                                    ["=", "id", "2"]]
    result = {"fields": [], "data": [[[0, "a"], [2, None]]]}
    assert query.old_style_rows(result) == [["a", None]]


def test_cluster_query_known_and_unknown_fields():
    result = query.cluster_query(build_data(), ["name", "master", "nosuch"])
    assert result["data"] == [[[0, "cluster.example.com"], [0, "node1.example.com"],
                               [constants.RS_UNKNOWN, None]]]
    assert result["fields"][2]["kind"] == "unknown"
