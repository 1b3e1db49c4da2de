"""Every list field of every resource evaluates, with the titles of the spec."""

import pytest

from ganeti import constants
from ganeti import objects
from ganeti import query
from ganeti.jqueue.job import QueuedJob
from ganeti.rpc.node import RpcResult

# name -> title, from the spec's tables (cli.md sections 3, 4, 5, 6)
NODE_TITLES = {
    "name": "Node", "pip": "PrimaryIP", "sip": "SecondaryIP", "master": "IsMaster",
    "master_candidate": "MasterC", "master_capable": "MasterCapable",
    "vm_capable": "VMCapable", "drained": "Drained", "offline": "Offline", "role": "Role",
    "group": "Group", "group.uuid": "GroupUUID", "ndparams": "NodeParameters",
    "custom_ndparams": "CustomNodeParameters", "pinst_cnt": "Pinst", "sinst_cnt": "Sinst",
    "pinst_list": "PriInstances", "sinst_list": "SecInstances", "powered": "Powered",
    "hv_state": "HypervisorState", "disk_state": "DiskState", "bootid": "BootID",
    "cnodes": "CNodes", "cnos": "CNOs", "csockets": "CSockets", "ctotal": "CTotal",
    "dfree": "DFree", "dtotal": "DTotal", "spfree": "SpFree", "sptotal": "SpTotal",
    "mfree": "MFree", "mnode": "MNode", "mtotal": "MTotal", "ctime": "CTime",
    "mtime": "MTime", "uuid": "UUID", "serial_no": "SerialNo", "tags": "Tags",
}
INSTANCE_TITLES = {
    "name": "Instance", "os": "OS", "hypervisor": "Hypervisor", "pnode": "Primary_node",
    "pnode.group": "PrimaryNodeGroup", "pnode.group.uuid": "PrimaryNodeGroupUUID",
    "snodes": "Secondary_Nodes", "admin_state": "InstanceState",
    "admin_state_source": "InstanceStateSource", "admin_up": "Autostart",
    "disks_active": "DisksActive", "network_port": "Network_port",
    "disk_template": "Disk_template", "disk_usage": "DiskUsage", "disk.count": "Disks",
    "disk.sizes": "Disk_sizes", "disk.spindles": "Disk_spindles",
    "disk.names": "Disk_names", "disk.uuids": "Disk_UUIDs", "nic.count": "NICs",
    "nic.macs": "NIC_MACs", "nic.ips": "NIC_IPs", "nic.names": "NIC_Names",
    "nic.uuids": "NIC_UUIDs", "nic.modes": "NIC_modes", "nic.vlans": "NIC_VLANs",
    "nic.bridges": "NIC_bridges", "nic.links": "NIC_links",
    "nic.networks": "NIC_networks", "hvparams": "HypervisorParameters",
    "beparams": "BackendParameters", "osparams": "OpSysParameters", "status": "Status",
    "oper_state": "Running", "oper_ram": "Memory", "oper_vcpus": "VCPUs",
    "console": "Console", "be/vcpus": "ConfigVCPUs", "be/maxmem": "ConfigMaxMem",
    "be/minmem": "ConfigMinMem", "be/auto_balance": "Auto_balance",
    "disk.size/0": "Disk/0", "nic.mac/0": "NicMAC/0", "nic.ip/0": "NicIP/0",
}
GROUP_TITLES = {
    "name": "Group", "uuid": "UUID", "alloc_policy": "AllocPolicy", "node_cnt": "Nodes",
    "node_list": "NodeList", "pinst_cnt": "Instances", "pinst_list": "InstanceList",
    "ndparams": "NDParams", "custom_ndparams": "CustomNDParams",
    "diskparams": "DiskParameters", "custom_diskparams": "CustomDiskParameters",
    "ipolicy": "InstancePolicy", "custom_ipolicy": "CustomInstancePolicy",
}
JOB_TITLES = {
    "id": "ID", "status": "Status", "priority": "Priority", "archived": "Archived",
    "ops": "OpCodes", "opresult": "OpCode_result", "opstatus": "OpCode_status",
    "oplog": "OpCode_log", "opstart": "OpCode_start", "opexec": "OpCode_exec",
    "opend": "OpCode_end", "oppriority": "OpCode_prio", "summary": "Summary",
    "received_ts": "Received", "start_ts": "Start", "end_ts": "End",
}


class FakeRpc:
    def call(self, procedure, nodes, args, timeout=None, **_kw):
        if procedure == "all_instances_info":
            payload = {"inst1": {"memory": 128, "vcpus": 1, "state": "running",
                                 "time": 1.0}}
        else:
            payload = ["boot-id", [{"storage_free": 100, "storage_size": 200}],
                       [{"memory_total": 1024, "memory_free": 512, "memory_dom0": 0,
                         "cpu_total": 2, "cpu_nodes": 1, "cpu_sockets": 1,
                         "cpu_dom0": 0, "spindles_free": 1, "spindles_total": 1}]]
        return {n: RpcResult("node", procedure, True, payload) for n in nodes}


@pytest.fixture
def ctx():
    group = objects.NodeGroup(name="default", uuid="g1", ndparams={}, tags=[])
    group.upgrade_config()
    node = objects.Node(name="node1", uuid="n1", primary_ip="192.0.2.1", group="g1")
    node.upgrade_config()
    cluster = objects.Cluster(cluster_name="c", master_node="n1",
                              enabled_hypervisors=["fake"],
                              enabled_disk_templates=["file"],
                              file_storage_dir="/srv/ganeti/file-storage")
    cluster.upgrade_config()
    disk = objects.Disk(uuid="d1", dev_type="file", size=1024,
                        logical_id=["loop", "/srv/ganeti/file-storage/inst1/disk0"],
                        nodes=["n1"], iv_name="disk/0")
    disk.upgrade_config()
    inst = objects.Instance(name="inst1", uuid="i1", primary_node="n1", os="noop",
                            hypervisor="fake", disks=["d1"], admin_state="up",
                            nics=[objects.NIC(uuid="c1", mac="aa:00:00:00:00:01",
                                              ip="192.0.2.9", nicparams={})])
    inst.upgrade_config()
    data = objects.ConfigData(version=constants.CONFIG_VERSION, cluster=cluster,
                              nodes={"n1": node}, nodegroups={"g1": group},
                              instances={"i1": inst}, disks={"d1": disk})
    data.upgrade_config()
    job = QueuedJob.new(1, [{"OP_ID": "OP_TEST_DELAY", "duration": 0}])
    return query.QueryContext(data, FakeRpc(), jobs=lambda ids: [job])


@pytest.mark.parametrize("what,titles", [(constants.QR_NODE, NODE_TITLES),
                                         (constants.QR_INSTANCE, INSTANCE_TITLES),
                                         (constants.QR_GROUP, GROUP_TITLES),
                                         (constants.QR_JOB, JOB_TITLES)])
def test_titles_follow_the_spec(what, titles):
    fields = {f["name"]: f for f in query.query_fields(what, list(titles))["fields"]}
    for name, title in titles.items():
        assert fields[name]["kind"] != constants.QFT_UNKNOWN, name
        assert fields[name]["title"] == title, name


@pytest.mark.parametrize("what", [constants.QR_NODE, constants.QR_INSTANCE,
                                  constants.QR_GROUP, constants.QR_JOB])
def test_every_field_evaluates(ctx, what):
    names = [f["name"] for f in query.query_fields(what, None)["fields"]]
    result = query.run_query(what, names, None, ctx)
    assert len(result["data"]) == 1
    for fdef, (status, value) in zip(result["fields"], result["data"][0], strict=True):
        assert status in (constants.RS_NORMAL, constants.RS_UNAVAIL), fdef["name"]
        if status != constants.RS_NORMAL:
            assert value is None
    by_name = dict(zip(names, (v for _s, v in result["data"][0]), strict=True))
    if what == constants.QR_INSTANCE:
        assert by_name["status"] == "running" and by_name["oper_ram"] == 128
        assert by_name["disk.sizes"] == [1024] and by_name["nic.ips"] == ["192.0.2.9"]
    if what == constants.QR_NODE:
        assert by_name["mfree"] == 512 and by_name["dfree"] == 100
        assert by_name["pinst_list"] == ["inst1"] and by_name["role"] == "M"
