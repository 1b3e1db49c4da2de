"""Queries: field definitions, filter evaluation and live data for list commands.

Rows are lists of ``[status, value]``; a node that does not answer makes its live
fields "no data" instead of failing the whole query.
"""

import platform
import re

from ganeti import constants
from ganeti import errors
from ganeti import objects
from ganeti.config import instance_disk_template, instance_secondary_nodes
from ganeti.utils.text import nice_sort_key

LIVE_TIMEOUT = 10


class QueryContext:
    """What a query reads: the config snapshot, an RPC runner for live data."""

    def __init__(self, data: objects.ConfigData, rpc=None, jobs=None):
        self.data = data
        self.rpc = rpc
        self.jobs = jobs  # callable(ids) -> list of QueuedJob-like objects
        self.live_nodes: dict | None = None
        self.live_instances: dict | None = None
        self.bad_nodes: set = set()

    def node_name(self, uuid: str) -> str:
        node = self.data.nodes.get(uuid)
        return node.name if node else uuid

    def group_name(self, uuid: str) -> str:
        group = self.data.nodegroups.get(uuid)
        return group.name if group else uuid

    # Live data ------------------------------------------------------------
    def load_instance_live(self) -> None:
        if self.live_instances is not None:
            return
        self.live_instances = {}
        if self.rpc is None:
            self.bad_nodes = set(self.data.nodes)
            return
        cluster = self.data.cluster
        nodes = [u for u, n in self.data.nodes.items() if not n.offline]
        results = self.rpc.call("all_instances_info", nodes,
                                [list(cluster.enabled_hypervisors), cluster.hvparams],
                                timeout=LIVE_TIMEOUT)
        for uuid, res in results.items():
            if res.fail_msg:
                self.bad_nodes.add(uuid)
                continue
            for name, info in (res.payload or {}).items():
                self.live_instances.setdefault(name, []).append((uuid, info))

    def load_node_live(self) -> None:
        if self.live_nodes is not None:
            return
        self.live_nodes = {}
        if self.rpc is None:
            return
        cluster = self.data.cluster
        storage = []
        if cluster.file_storage_dir and constants.DT_FILE in cluster.enabled_disk_templates:
            from ganeti.rpc.node import virtual_path
            storage = [[constants.DT_FILE, virtual_path(cluster.file_storage_dir)]]
        hv_name = cluster.enabled_hypervisors[0] if cluster.enabled_hypervisors else None
        hvs = [[hv_name, cluster.hvparams.get(hv_name, {})]] if hv_name else []
        nodes = [u for u, n in self.data.nodes.items() if not n.offline]
        results = self.rpc.call("node_info", nodes, [storage, hvs], timeout=LIVE_TIMEOUT)
        for uuid, res in results.items():
            if res.fail_msg or not res.payload:
                continue
            bootid, st_info, hv_info = res.payload
            live = {"bootid": bootid}
            if hv_info:
                live.update(hv_info[0])
            if st_info:
                live["storage_free"] = st_info[0].get("storage_free")
                live["storage_size"] = st_info[0].get("storage_size")
            self.live_nodes[uuid] = live


class Field:
    __slots__ = ("name", "title", "kind", "doc", "getter", "live")

    def __init__(self, name, title, kind, doc, getter, live=None):
        self.name = name
        self.title = title
        self.kind = kind
        self.doc = doc
        self.getter = getter
        self.live = live  # None, "instance" or "node"

    def definition(self) -> dict:
        return {"name": self.name, "title": self.title, "kind": self.kind, "doc": self.doc}


NORMAL = constants.RS_NORMAL


def _ok(value):
    return (NORMAL, value)


# --- common fields ------------------------------------------------------------
def _common_fields(kind_label: str) -> list[Field]:
    return [
        Field("ctime", "CTime", constants.QFT_TIMESTAMP, "Creation timestamp",
              lambda ctx, o: _ok(o.ctime)),
        Field("mtime", "MTime", constants.QFT_TIMESTAMP, "Modification timestamp",
              lambda ctx, o: _ok(o.mtime)),
        Field("uuid", "UUID", constants.QFT_TEXT, "%s UUID" % kind_label,
              lambda ctx, o: _ok(o.uuid)),
        Field("serial_no", "SerialNo", constants.QFT_NUMBER,
              "%s object serial number, incremented on each modification" % kind_label,
              lambda ctx, o: _ok(o.serial_no)),
        Field("tags", "Tags", constants.QFT_OTHER, "Tags",
              lambda ctx, o: _ok(sorted(o.tags or []))),
    ]


# --- nodes -------------------------------------------------------------------
def _node_role(ctx, node) -> str:
    if node.uuid == ctx.data.cluster.master_node:
        return constants.NR_MASTER
    if node.master_candidate:
        return constants.NR_MCANDIDATE
    if node.drained:
        return constants.NR_DRAINED
    if node.offline:
        return constants.NR_OFFLINE
    return constants.NR_REGULAR


def _node_instances(ctx, node, secondary: bool) -> list[str]:
    names = []
    for inst in ctx.data.instances.values():
        if secondary:
            if node.uuid in instance_secondary_nodes(ctx.data, inst):
                names.append(inst.name)
        elif inst.primary_node == node.uuid:
            names.append(inst.name)
    return sorted(names, key=nice_sort_key)


def _node_live(key: str):
    def getter(ctx, node):
        if node.offline:
            return (constants.RS_OFFLINE, None)
        live = ctx.live_nodes.get(node.uuid)
        if live is None or live.get(key) is None:
            return (constants.RS_NODATA, None)
        return _ok(live[key])
    return getter


def _filled_nd(ctx, node) -> dict:
    return ctx.data.cluster.fill_nd(node, ctx.data.nodegroups.get(node.group))


NODE_FIELDS = [
    Field("name", "Node", constants.QFT_TEXT, "Node name", lambda c, n: _ok(n.name)),
    Field("pip", "PrimaryIP", constants.QFT_TEXT, "Primary IP address",
          lambda c, n: _ok(n.primary_ip)),
    Field("sip", "SecondaryIP", constants.QFT_TEXT, "Secondary IP address",
          lambda c, n: _ok(n.secondary_ip)),
    Field("master", "IsMaster", constants.QFT_BOOL, "Whether node is master",
          lambda c, n: _ok(n.uuid == c.data.cluster.master_node)),
    Field("master_candidate", "MasterC", constants.QFT_BOOL,
          "Whether node is a master candidate", lambda c, n: _ok(bool(n.master_candidate))),
    Field("master_capable", "MasterCapable", constants.QFT_BOOL,
          "Whether node can become a master candidate",
          lambda c, n: _ok(bool(n.master_capable))),
    Field("vm_capable", "VMCapable", constants.QFT_BOOL,
          "Whether node can host instances", lambda c, n: _ok(bool(n.vm_capable))),
    Field("drained", "Drained", constants.QFT_BOOL,
          "Whether node is drained", lambda c, n: _ok(bool(n.drained))),
    Field("offline", "Offline", constants.QFT_BOOL,
          "Whether node is marked offline", lambda c, n: _ok(bool(n.offline))),
    Field("role", "Role", constants.QFT_TEXT,
          "Node role; M master, C master candidate, R regular, D drained, O offline",
          lambda c, n: _ok(_node_role(c, n))),
    Field("group", "Group", constants.QFT_TEXT, "Node group",
          lambda c, n: _ok(c.group_name(n.group))),
    Field("group.uuid", "GroupUUID", constants.QFT_TEXT, "UUID of node group",
          lambda c, n: _ok(n.group)),
    Field("ndparams", "NodeParameters", constants.QFT_OTHER, "Node parameters",
          lambda c, n: _ok(_filled_nd(c, n))),
    Field("custom_ndparams", "CustomNodeParameters", constants.QFT_OTHER,
          "Custom node parameters", lambda c, n: _ok(dict(n.ndparams or {}))),
    Field("pinst_cnt", "Pinst", constants.QFT_NUMBER,
          "Number of instances with this node as primary",
          lambda c, n: _ok(len(_node_instances(c, n, False)))),
    Field("sinst_cnt", "Sinst", constants.QFT_NUMBER,
          "Number of instances with this node as secondary",
          lambda c, n: _ok(len(_node_instances(c, n, True)))),
    Field("pinst_list", "PriInstances", constants.QFT_OTHER,
          "List of instances with this node as primary",
          lambda c, n: _ok(_node_instances(c, n, False))),
    Field("sinst_list", "SecInstances", constants.QFT_OTHER,
          "List of instances with this node as secondary",
          lambda c, n: _ok(_node_instances(c, n, True))),
    Field("powered", "Powered", constants.QFT_BOOL,
          "Whether node is thought to be powered on", lambda c, n: _ok(bool(n.powered))),
    Field("hv_state", "HypervisorState", constants.QFT_OTHER, "Hypervisor state",
          lambda c, n: _ok(n.hv_state_static or {})),
    Field("disk_state", "DiskState", constants.QFT_OTHER, "Disk state",
          lambda c, n: _ok(n.disk_state_static or {})),
    Field("bootid", "BootID", constants.QFT_TEXT, "Random UUID renewed for each system "
          "reboot", _node_live("bootid"), "node"),
    Field("cnodes", "CNodes", constants.QFT_NUMBER, "Number of NUMA domains",
          _node_live("cpu_nodes"), "node"),
    Field("cnos", "CNOs", constants.QFT_NUMBER,
          "Number of logical processors used by the node OS", _node_live("cpu_dom0"),
          "node"),
    Field("csockets", "CSockets", constants.QFT_NUMBER, "Number of physical CPU sockets",
          _node_live("cpu_sockets"), "node"),
    Field("ctotal", "CTotal", constants.QFT_NUMBER, "Number of logical processors",
          _node_live("cpu_total"), "node"),
    Field("dfree", "DFree", constants.QFT_UNIT,
          "Available storage space in the default storage", _node_live("storage_free"),
          "node"),
    Field("dtotal", "DTotal", constants.QFT_UNIT,
          "Total storage space in the default storage", _node_live("storage_size"),
          "node"),
    Field("spfree", "SpFree", constants.QFT_NUMBER, "Available spindles",
          _node_live("spindles_free"), "node"),
    Field("sptotal", "SpTotal", constants.QFT_NUMBER, "Total spindles",
          _node_live("spindles_total"), "node"),
    Field("mfree", "MFree", constants.QFT_UNIT, "Memory available for instance "
          "allocations", _node_live("memory_free"), "node"),
    Field("mnode", "MNode", constants.QFT_UNIT,
          "Amount of memory used by node (dom0 for Xen)", _node_live("memory_dom0"),
          "node"),
    Field("mtotal", "MTotal", constants.QFT_UNIT, "Total amount of memory of physical "
          "machine", _node_live("memory_total"), "node"),
] + _common_fields("Node")

NODE_DEFAULT_FIELDS = ["name", "dtotal", "dfree", "mtotal", "mnode", "mfree", "pinst_cnt",
                       "sinst_cnt"]


# Field kind of a parameter by its value type, so that sizes print with units,
# numbers align right and booleans print as Y/N
_PARAM_TYPE_KIND = {"int": constants.QFT_NUMBER, "size": constants.QFT_UNIT,
                    "bool": constants.QFT_BOOL, "float": constants.QFT_NUMBER_FLOAT}


def _nd_param_field(name: str) -> Field | None:
    if not name.startswith("ndp/"):
        return None
    param = name[4:]
    if param not in constants.NDS_PARAMETER_TYPES:
        return None
    kind = _PARAM_TYPE_KIND.get(constants.NDS_PARAMETER_TYPES[param], constants.QFT_OTHER)
    return Field(name, "ndp/%s" % param, kind, "The \"%s\" node parameter"
                 % param, lambda c, n: _ok(_filled_nd(c, n).get(param)))


# --- instances --------------------------------------------------------------
def _inst_live_info(ctx, inst):
    pnode = ctx.data.nodes.get(inst.primary_node)
    if pnode is None:
        return constants.RS_NODATA, None
    if pnode.offline:
        return constants.RS_OFFLINE, None
    if inst.primary_node in ctx.bad_nodes:
        return constants.RS_NODATA, None
    for node_uuid, info in ctx.live_instances.get(inst.name, []):
        if node_uuid == inst.primary_node:
            return NORMAL, info
    return NORMAL, None


def _inst_status(ctx, inst):
    pnode = ctx.data.nodes.get(inst.primary_node)
    if pnode is not None and pnode.offline:
        return _ok(constants.INSTST_NODEOFFLINE)
    if inst.primary_node in ctx.bad_nodes:
        return _ok(constants.INSTST_NODEDOWN)
    where = [u for u, _i in ctx.live_instances.get(inst.name, [])]
    if where and inst.primary_node not in where:
        return _ok(constants.INSTST_WRONGNODE)
    if inst.primary_node in where:
        if inst.admin_state == constants.ADMINST_UP:
            return _ok(constants.INSTST_RUNNING)
        return _ok(constants.INSTST_ERRORUP)
    if inst.admin_state == constants.ADMINST_UP:
        return _ok(constants.INSTST_ERRORDOWN)
    if inst.admin_state == constants.ADMINST_OFFLINE:
        return _ok(constants.INSTST_ADMINOFFLINE)
    if inst.admin_state_source == constants.USER_SOURCE:
        return _ok(constants.INSTST_USERDOWN)
    return _ok(constants.INSTST_ADMINDOWN)


def _inst_live(key: str | None):
    def getter(ctx, inst):
        status, info = _inst_live_info(ctx, inst)
        if status != NORMAL:
            return (status, None)
        if key is None:
            return _ok(info is not None)
        if info is None:
            return (constants.RS_UNAVAIL, None)
        return _ok(info.get(key))
    return getter


def _inst_disks(ctx, inst) -> list:
    return [ctx.data.disks[d] for d in inst.disks if d in ctx.data.disks]


def _nic_params(ctx, nic) -> dict:
    return ctx.data.cluster.simple_fill_nic(nic.nicparams)


def _nic_bridge(ctx, nic):
    params = _nic_params(ctx, nic)
    if params[constants.NIC_MODE] == constants.NIC_MODE_BRIDGED:
        return params[constants.NIC_LINK]
    return None


INSTANCE_FIELDS = [
    Field("name", "Instance", constants.QFT_TEXT, "Instance name",
          lambda c, i: _ok(i.name)),
    Field("os", "OS", constants.QFT_TEXT, "Operating system", lambda c, i: _ok(i.os)),
    Field("hypervisor", "Hypervisor", constants.QFT_TEXT, "Hypervisor name",
          lambda c, i: _ok(i.hypervisor)),
    Field("pnode", "Primary_node", constants.QFT_TEXT, "Primary node",
          lambda c, i: _ok(c.node_name(i.primary_node))),
    Field("pnode.group", "PrimaryNodeGroup", constants.QFT_TEXT,
          "Primary node's group",
          lambda c, i: _ok(c.group_name(c.data.nodes[i.primary_node].group)
                           if i.primary_node in c.data.nodes else None)),
    Field("pnode.group.uuid", "PrimaryNodeGroupUUID", constants.QFT_TEXT,
          "Primary node's group UUID",
          lambda c, i: _ok(c.data.nodes[i.primary_node].group
                           if i.primary_node in c.data.nodes else None)),
    Field("snodes", "Secondary_Nodes", constants.QFT_OTHER, "Secondary nodes",
          lambda c, i: _ok([c.node_name(u) for u in instance_secondary_nodes(c.data, i)])),
    Field("admin_state", "InstanceState", constants.QFT_TEXT,
          "Desired state of the instance", lambda c, i: _ok(i.admin_state)),
    Field("admin_state_source", "InstanceStateSource", constants.QFT_TEXT,
          "Who last changed the desired state", lambda c, i: _ok(i.admin_state_source)),
    Field("admin_up", "Autostart", constants.QFT_BOOL,
          "Desired state of the instance (true if up)",
          lambda c, i: _ok(i.admin_state == constants.ADMINST_UP)),
    Field("disks_active", "DisksActive", constants.QFT_BOOL,
          "Desired state of the instance disks", lambda c, i: _ok(bool(i.disks_active))),
    Field("network_port", "Network_port", constants.QFT_OTHER,
          "Instance network port if available", lambda c, i: _ok(i.network_port)),
    Field("disk_template", "Disk_template", constants.QFT_TEXT,
          "Instance disk template", lambda c, i: _ok(instance_disk_template(c.data, i))),
    Field("disk_usage", "DiskUsage", constants.QFT_UNIT,
          "Total disk space used by instance on each of its nodes",
          lambda c, i: _ok(sum(d.size for d in _inst_disks(c, i)))),
    Field("disk.count", "Disks", constants.QFT_NUMBER, "Number of disks",
          lambda c, i: _ok(len(i.disks))),
    Field("disk.sizes", "Disk_sizes", constants.QFT_OTHER, "List of disk sizes",
          lambda c, i: _ok([d.size for d in _inst_disks(c, i)])),
    Field("disk.spindles", "Disk_spindles", constants.QFT_OTHER, "List of disk spindles",
          lambda c, i: _ok([d.spindles for d in _inst_disks(c, i)])),
    Field("disk.names", "Disk_names", constants.QFT_OTHER, "List of disk names",
          lambda c, i: _ok([d.name for d in _inst_disks(c, i)])),
    Field("disk.uuids", "Disk_UUIDs", constants.QFT_OTHER, "List of disk UUIDs",
          lambda c, i: _ok(list(i.disks))),
    Field("nic.count", "NICs", constants.QFT_NUMBER, "Number of network interfaces",
          lambda c, i: _ok(len(i.nics))),
    Field("nic.macs", "NIC_MACs", constants.QFT_OTHER, "List containing each network "
          "interface's MAC address", lambda c, i: _ok([n.mac for n in i.nics])),
    Field("nic.ips", "NIC_IPs", constants.QFT_OTHER, "List containing each network "
          "interface's IP address", lambda c, i: _ok([n.ip for n in i.nics])),
    Field("nic.names", "NIC_Names", constants.QFT_OTHER, "List containing each network "
          "interface's name", lambda c, i: _ok([n.name for n in i.nics])),
    Field("nic.uuids", "NIC_UUIDs", constants.QFT_OTHER, "List containing each network "
          "interface's UUID", lambda c, i: _ok([n.uuid for n in i.nics])),
    Field("nic.modes", "NIC_modes", constants.QFT_OTHER, "List containing each network "
          "interface's mode",
          lambda c, i: _ok([_nic_params(c, n)[constants.NIC_MODE] for n in i.nics])),
    Field("nic.links", "NIC_links", constants.QFT_OTHER, "List containing each network "
          "interface's link",
          lambda c, i: _ok([_nic_params(c, n)[constants.NIC_LINK] for n in i.nics])),
    Field("nic.vlans", "NIC_VLANs", constants.QFT_OTHER, "List containing each network "
          "interface's VLAN",
          lambda c, i: _ok([_nic_params(c, n).get(constants.NIC_VLAN, "") for n in i.nics])),
    Field("nic.bridges", "NIC_bridges", constants.QFT_OTHER, "List containing each "
          "network interface's bridge", lambda c, i: _ok([_nic_bridge(c, n) for n in i.nics])),
    Field("nic.networks", "NIC_networks", constants.QFT_OTHER, "List containing each "
          "interface's network", lambda c, i: _ok([n.network for n in i.nics])),
    Field("hvparams", "HypervisorParameters", constants.QFT_OTHER,
          "Hypervisor parameters (merged)", lambda c, i: _ok(c.data.cluster.fill_hv(i))),
    Field("beparams", "BackendParameters", constants.QFT_OTHER,
          "Backend parameters (merged)", lambda c, i: _ok(c.data.cluster.fill_be(i))),
    Field("osparams", "OpSysParameters", constants.QFT_OTHER,
          "Operating system parameters (merged)",
          lambda c, i: _ok(c.data.cluster.simple_fill_os(i.os, i.osparams))),
    Field("custom_hvparams", "CustomHypervisorParameters", constants.QFT_OTHER,
          "Custom hypervisor parameters", lambda c, i: _ok(dict(i.hvparams))),
    Field("custom_beparams", "CustomBackendParameters", constants.QFT_OTHER,
          "Custom backend parameters", lambda c, i: _ok(dict(i.beparams))),
    Field("custom_osparams", "CustomOpSysParameters", constants.QFT_OTHER,
          "Custom operating system parameters", lambda c, i: _ok(dict(i.osparams))),
    Field("custom_nicparams", "CustomNicParameters", constants.QFT_OTHER,
          "Custom network interface parameters",
          lambda c, i: _ok([dict(n.nicparams) for n in i.nics])),
    Field("status", "Status", constants.QFT_TEXT, "Instance status; \"running\" if "
          "instance is set to be running and actually is", _inst_status, "instance"),
    Field("oper_state", "Running", constants.QFT_BOOL, "Actual state of instance",
          _inst_live(None), "instance"),
    Field("oper_ram", "Memory", constants.QFT_UNIT, "Actual memory usage as seen by "
          "hypervisor", _inst_live("memory"), "instance"),
    Field("oper_vcpus", "VCPUs", constants.QFT_NUMBER, "Actual number of VCPUs as seen "
          "by hypervisor", _inst_live("vcpus"), "instance"),
    Field("console", "Console", constants.QFT_OTHER, "Instance console information",
          lambda c, i: (constants.RS_UNAVAIL, None), "instance"),
    Field("forthcoming", "Forthcoming", constants.QFT_BOOL,
          "Whether the instance is forthcoming", lambda c, i: _ok(bool(i.forthcoming))),
] + _common_fields("Instance")

INSTANCE_DEFAULT_FIELDS = ["name", "hypervisor", "os", "pnode", "status", "oper_ram"]

INSTANCE_ALIASES = {
    "vcpus": "be/vcpus", "be/memory": "be/maxmem", "sda_size": "disk.size/0",
    "sdb_size": "disk.size/1", "ip": "nic.ip/0", "mac": "nic.mac/0",
    "bridge": "nic.bridge/0", "nic_mode": "nic.mode/0", "nic_link": "nic.link/0",
    "nic_network": "nic.network/0",
}

_INDEXED_RE = re.compile(r"^(disk|nic)\.([a-z]+)/(\d+)$")


def _instance_dynamic_field(name: str) -> Field | None:
    target = INSTANCE_ALIASES.get(name, name)
    if target.startswith("be/"):
        param = target[3:]
        if param not in constants.BES_PARAMETER_TYPES:
            return None
        title = {"vcpus": "ConfigVCPUs", "maxmem": "ConfigMaxMem",
                 "minmem": "ConfigMinMem", "auto_balance": "Auto_balance"}.get(
            param, "be/%s" % param)
        kind = _PARAM_TYPE_KIND.get(constants.BES_PARAMETER_TYPES[param],
                                    constants.QFT_OTHER)
        return Field(name, title, kind,
                     "The \"%s\" backend parameter" % param,
                     lambda c, i: _ok(c.data.cluster.fill_be(i).get(param)))
    if target.startswith("hv/"):
        param = target[3:]
        return Field(name, "hv/%s" % param, constants.QFT_OTHER,
                     "The \"%s\" hypervisor parameter" % param,
                     lambda c, i: _ok(c.data.cluster.fill_hv(i).get(param)))
    match = _INDEXED_RE.match(target)
    if not match:
        return None
    kind, attr, idx = match.group(1), match.group(2), int(match.group(3))
    if kind == "disk":
        titles = {"size": "Disk/%d", "spindles": "DiskSpindles/%d", "name": "DiskName/%d",
                  "uuid": "DiskUUID/%d"}
        if attr not in titles:
            return None

        def disk_getter(c, i):
            disks = _inst_disks(c, i)
            if idx >= len(disks):
                return (constants.RS_UNAVAIL, None)
            return _ok(getattr(disks[idx], attr))
        return Field(name, titles[attr] % idx,
                     constants.QFT_UNIT if attr == "size" else constants.QFT_OTHER,
                     "Disk %s of disk %d" % (attr, idx), disk_getter)
    titles = {"ip": "NicIP/%d", "uuid": "NicUUID/%d", "mac": "NicMAC/%d",
              "name": "NicName/%d", "network": "NicNetwork/%d", "mode": "NicMode/%d",
              "link": "NicLink/%d", "vlan": "NicVLAN/%d", "bridge": "NicBridge/%d"}
    if attr not in titles:
        return None

    def nic_getter(c, i):
        if idx >= len(i.nics):
            return (constants.RS_UNAVAIL, None)
        nic = i.nics[idx]
        if attr in ("mode", "link", "vlan"):
            return _ok(_nic_params(c, nic).get(attr))
        if attr == "bridge":
            return _ok(_nic_bridge(c, nic))
        return _ok(getattr(nic, attr))
    return Field(name, titles[attr] % idx, constants.QFT_TEXT,
                 "NIC %s of interface %d" % (attr, idx), nic_getter)


# --- groups ------------------------------------------------------------------
GROUP_FIELDS = [
    Field("name", "Group", constants.QFT_TEXT, "Group name", lambda c, g: _ok(g.name)),
    Field("alloc_policy", "AllocPolicy", constants.QFT_TEXT, "Allocation policy for "
          "group", lambda c, g: _ok(g.alloc_policy)),
    Field("node_cnt", "Nodes", constants.QFT_NUMBER, "Number of nodes",
          lambda c, g: _ok(sum(1 for n in c.data.nodes.values() if n.group == g.uuid))),
    Field("node_list", "NodeList", constants.QFT_OTHER, "List of nodes",
          lambda c, g: _ok(sorted((n.name for n in c.data.nodes.values()
                                   if n.group == g.uuid), key=nice_sort_key))),
    Field("pinst_cnt", "Instances", constants.QFT_NUMBER,
          "Number of primary instances",
          lambda c, g: _ok(sum(1 for i in c.data.instances.values()
                               if c.data.nodes.get(i.primary_node) and
                               c.data.nodes[i.primary_node].group == g.uuid))),
    Field("pinst_list", "InstanceList", constants.QFT_OTHER,
          "List of primary instances",
          lambda c, g: _ok(sorted((i.name for i in c.data.instances.values()
                                   if c.data.nodes.get(i.primary_node) and
                                   c.data.nodes[i.primary_node].group == g.uuid),
                                  key=nice_sort_key))),
    Field("ndparams", "NDParams", constants.QFT_OTHER, "Node parameters",
          lambda c, g: _ok(objects.fill_dict(c.data.cluster.ndparams, g.ndparams))),
    Field("custom_ndparams", "CustomNDParams", constants.QFT_OTHER,
          "Custom node parameters", lambda c, g: _ok(dict(g.ndparams))),
    Field("diskparams", "DiskParameters", constants.QFT_OTHER, "Disk parameters "
          "(merged)", lambda c, g: _ok(objects.fill_dict(c.data.cluster.diskparams,
                                                          g.diskparams))),
    Field("custom_diskparams", "CustomDiskParameters", constants.QFT_OTHER,
          "Custom disk parameters", lambda c, g: _ok(dict(g.diskparams))),
    Field("ipolicy", "InstancePolicy", constants.QFT_OTHER, "Instance policy limitations "
          "(merged)", lambda c, g: _ok(objects.fill_dict(c.data.cluster.ipolicy,
                                                          g.ipolicy))),
    Field("custom_ipolicy", "CustomInstancePolicy", constants.QFT_OTHER,
          "Custom instance policy limitations", lambda c, g: _ok(dict(g.ipolicy))),
] + _common_fields("Group")

GROUP_DEFAULT_FIELDS = ["name", "node_cnt", "pinst_cnt", "alloc_policy", "ndparams"]


# --- jobs -------------------------------------------------------------------
def _job_field(name: str, title: str, kind: str, doc: str) -> Field:
    return Field(name, title, kind, doc, lambda c, j: _ok(j.get_info([name])[0]))


JOB_FIELDS = [
    _job_field("id", "ID", constants.QFT_NUMBER, "Job ID"),
    _job_field("status", "Status", constants.QFT_TEXT, "Job status"),
    _job_field("priority", "Priority", constants.QFT_NUMBER, "Current job priority"),
    _job_field("archived", "Archived", constants.QFT_BOOL, "Whether job is archived"),
    _job_field("ops", "OpCodes", constants.QFT_OTHER, "List of all opcodes"),
    _job_field("opresult", "OpCode_result", constants.QFT_OTHER,
               "List of opcodes results"),
    _job_field("opstatus", "OpCode_status", constants.QFT_OTHER,
               "List of opcodes status"),
    _job_field("oplog", "OpCode_log", constants.QFT_OTHER, "List of opcode output logs"),
    _job_field("opstart", "OpCode_start", constants.QFT_OTHER,
               "List of opcode start timestamps (before acquiring locks)"),
    _job_field("opexec", "OpCode_exec", constants.QFT_OTHER,
               "List of opcode execution start timestamps (after acquiring locks)"),
    _job_field("opend", "OpCode_end", constants.QFT_OTHER,
               "List of opcode execution end timestamps"),
    _job_field("oppriority", "OpCode_prio", constants.QFT_OTHER,
               "List of opcode priorities"),
    _job_field("summary", "Summary", constants.QFT_OTHER,
               "List of per-opcode summaries"),
    _job_field("received_ts", "Received", constants.QFT_OTHER,
               "Timestamp of when job was received"),
    _job_field("start_ts", "Start", constants.QFT_OTHER,
               "Timestamp of job start"),
    _job_field("end_ts", "End", constants.QFT_OTHER, "Timestamp of job end"),
    _job_field("reason", "Reason", constants.QFT_OTHER, "Reason trail of each opcode"),
]

JOB_DEFAULT_FIELDS = ["id", "status", "summary"]

FIELDS = {
    constants.QR_NODE: {f.name: f for f in NODE_FIELDS},
    constants.QR_INSTANCE: {f.name: f for f in INSTANCE_FIELDS},
    constants.QR_GROUP: {f.name: f for f in GROUP_FIELDS},
    constants.QR_JOB: {f.name: f for f in JOB_FIELDS},
}

NAME_FIELD = {constants.QR_NODE: "name", constants.QR_INSTANCE: "name",
              constants.QR_GROUP: "name", constants.QR_JOB: "id"}


def get_field(what: str, name: str) -> Field | None:
    fields = FIELDS.get(what, {})
    if name in fields:
        return fields[name]
    if what == constants.QR_INSTANCE:
        if name in INSTANCE_ALIASES and INSTANCE_ALIASES[name] in fields:
            field = fields[INSTANCE_ALIASES[name]]
            return Field(name, field.title, field.kind, field.doc, field.getter, field.live)
        return _instance_dynamic_field(name)
    if what in (constants.QR_NODE, constants.QR_GROUP):
        return _nd_param_field(name)
    return None


def _unknown_field(name: str) -> Field:
    return Field(name, name, constants.QFT_UNKNOWN, "Unknown field '%s'" % name,
                 lambda c, o: (constants.RS_UNKNOWN, None))


def resolve_fields(what: str, names: list[str]) -> list[Field]:
    if what not in FIELDS:
        raise errors.OpPrereqError("Resource type '%s' unknown" % what, errors.ECODE_INVAL)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise errors.OpPrereqError("Field names must be a list of strings",
                                   errors.ECODE_INVAL)
    return [get_field(what, n) or _unknown_field(n) for n in names]


def query_fields(what: str, names: list[str] | None) -> dict:
    if what not in FIELDS:
        raise errors.OpPrereqError("Resource type '%s' unknown" % what, errors.ECODE_INVAL)
    if names:
        fields = resolve_fields(what, names)
    else:
        fields = sorted(FIELDS[what].values(), key=lambda f: f.name)
    return {"fields": [f.definition() for f in fields]}


# --- filters ---------------------------------------------------------------------
def compile_filter(what: str, qfilter):
    """Turn the JSON filter into a predicate over (ctx, item); None means all."""
    if qfilter is None:
        return None, set()
    used = set()

    def field_value(name):
        field = get_field(what, name)
        if field is None:
            raise errors.OpPrereqError("Unknown field '%s' in filter" % name,
                                       errors.ECODE_INVAL)
        used.add(field.live)
        return field

    def build(node):
        if not isinstance(node, list) or not node:
            raise errors.OpPrereqError("Invalid filter node %r" % (node,),
                                       errors.ECODE_INVAL)
        op = node[0]
        if op in ("&", "|"):
            subs = [build(n) for n in node[1:]]
            if op == "&":
                return lambda c, o: all(s(c, o) for s in subs)
            return lambda c, o: any(s(c, o) for s in subs)
        if op == "!":
            if len(node) != 2:
                raise errors.OpPrereqError("'!' takes one operand", errors.ECODE_INVAL)
            sub = build(node[1])
            return lambda c, o: not sub(c, o)
        if op == "?":
            if len(node) != 2 or not isinstance(node[1], str):
                raise errors.OpPrereqError("'?' takes one field name", errors.ECODE_INVAL)
            field = field_value(node[1])
            return lambda c, o: bool(field.getter(c, o)[1])
        if len(node) != 3 or not isinstance(node[1], str):
            raise errors.OpPrereqError("Invalid filter %r" % (node,), errors.ECODE_INVAL)
        field = field_value(node[1])
        value = node[2]
        if op in ("=", "=="):
            return lambda c, o: field.getter(c, o)[1] == value
        if op == "!=":
            return lambda c, o: field.getter(c, o)[1] != value
        if op in ("<", "<=", ">", ">="):
            import operator
            fn = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                  ">=": operator.ge}[op]

            def compare(c, o):
                got = field.getter(c, o)[1]
                try:
                    return got is not None and fn(got, value)
                except TypeError:
                    return False
            return compare
        if op == "=~":
            try:
                regex = re.compile(value)
            except (re.error, TypeError) as err:
                raise errors.OpPrereqError("Invalid regular expression %r: %s"
                                           % (value, err), errors.ECODE_INVAL) from None
            return lambda c, o: bool(regex.search(str(field.getter(c, o)[1] or "")))
        if op == "=[]":
            def contains(c, o):
                got = field.getter(c, o)[1]
                return isinstance(got, (list, tuple)) and value in got
            return contains
        raise errors.OpPrereqError("Unknown filter operator '%s'" % op, errors.ECODE_INVAL)

    return build(qfilter), used


def _items(what: str, ctx: QueryContext) -> list:
    if what == constants.QR_NODE:
        return sorted(ctx.data.nodes.values(), key=lambda n: nice_sort_key(n.name))
    if what == constants.QR_INSTANCE:
        return sorted(ctx.data.instances.values(), key=lambda i: nice_sort_key(i.name))
    if what == constants.QR_GROUP:
        return sorted(ctx.data.nodegroups.values(), key=lambda g: nice_sort_key(g.name))
    if what == constants.QR_JOB:
        return ctx.jobs(None) if ctx.jobs else []
    raise errors.OpPrereqError("Resource type '%s' unknown" % what, errors.ECODE_INVAL)


def run_query(what: str, names: list[str], qfilter, ctx: QueryContext) -> dict:
    fields = resolve_fields(what, names)
    predicate, filter_live = compile_filter(what, qfilter)
    lives = {f.live for f in fields} | filter_live
    if "instance" in lives:
        ctx.load_instance_live()
    if "node" in lives:
        ctx.load_node_live()
    rows = []
    for item in _items(what, ctx):
        if predicate is not None and not predicate(ctx, item):
            continue
        row = []
        for field in fields:
            status, value = field.getter(ctx, item)
            row.append([status, value if status == NORMAL else None])
        rows.append(row)
    return {"fields": [f.definition() for f in fields], "data": rows}


def old_style_rows(result: dict) -> list:
    """Plain values (QueryNodes/QueryInstances style)."""
    return [[value for _status, value in row] for row in result["data"]]


def name_filter(what: str, names: list[str]):
    if not names:
        return None
    field = NAME_FIELD[what]
    return ["|"] + [["=", field, n] for n in names]


# --- cluster, OS, instance details -----------------------------------------------
_ARCHITECTURE: list | None = None


def _architecture() -> list:
    """[bits, machine], computed once: platform.architecture() runs `file`."""
    global _ARCHITECTURE
    if _ARCHITECTURE is None:
        _ARCHITECTURE = [platform.architecture()[0], platform.machine()]
    return _ARCHITECTURE


def cluster_info(data: objects.ConfigData) -> dict:
    cluster = data.cluster
    master = data.nodes.get(cluster.master_node)
    return {
        "software_version": constants.RELEASE_VERSION,
        "protocol_version": constants.PROTOCOL_VERSION,
        "config_version": constants.CONFIG_VERSION,
        "os_api_version": max(constants.OS_API_VERSIONS),
        "export_version": 0,
        "vcs_version": "ganeti-py %s" % constants.RELEASE_VERSION,
        "architecture": list(_architecture()),
        "name": cluster.cluster_name,
        "master": master.name if master else None,
        "default_hypervisor": (cluster.enabled_hypervisors or [None])[0],
        "enabled_hypervisors": list(cluster.enabled_hypervisors),
        "hvparams": {hv: objects.fill_dict(constants.HVC_DEFAULTS.get(hv, {}),
                                           cluster.hvparams.get(hv, {}))
                     for hv in cluster.enabled_hypervisors},
        "os_hvp": cluster.os_hvp,
        "beparams": cluster.beparams,
        "osparams": cluster.osparams,
        "ipolicy": cluster.ipolicy,
        "nicparams": cluster.nicparams,
        "ndparams": cluster.ndparams,
        "diskparams": cluster.diskparams,
        "candidate_pool_size": cluster.candidate_pool_size,
        "max_running_jobs": cluster.max_running_jobs,
        "max_tracked_jobs": cluster.max_tracked_jobs,
        "mac_prefix": cluster.mac_prefix,
        "master_netdev": cluster.master_netdev,
        "master_netmask": cluster.master_netmask,
        "use_external_mip_script": cluster.use_external_mip_script,
        "volume_group_name": cluster.volume_group_name,
        "drbd_usermode_helper": cluster.drbd_usermode_helper,
        "file_storage_dir": cluster.file_storage_dir,
        "shared_file_storage_dir": cluster.shared_file_storage_dir,
        "gluster_storage_dir": cluster.gluster_storage_dir,
        "maintain_node_health": cluster.maintain_node_health,
        "ctime": cluster.ctime,
        "mtime": cluster.mtime,
        "uuid": cluster.uuid,
        "tags": sorted(cluster.tags or []),
        "uid_pool": cluster.uid_pool,
        "default_iallocator": cluster.default_iallocator,
        "default_iallocator_params": cluster.default_iallocator_params,
        "reserved_lvs": cluster.reserved_lvs,
        "primary_ip_version": constants.IP6_VERSION
        if cluster.primary_ip_family == constants.IP6_FAMILY else constants.IP4_VERSION,
        "prealloc_wipe_disks": cluster.prealloc_wipe_disks,
        "hidden_os": cluster.hidden_os,
        "blacklisted_os": cluster.blacklisted_os,
        "enabled_disk_templates": list(cluster.enabled_disk_templates),
        "install_image": cluster.install_image,
        "instance_communication_network": cluster.instance_communication_network,
        "zeroing_image": cluster.zeroing_image,
        "compression_tools": cluster.compression_tools,
        "enabled_user_shutdown": cluster.enabled_user_shutdown,
        "enabled_data_collectors": {k: v.get("active", True)
                                    for k, v in cluster.data_collectors.items()},
        "data_collector_interval": {k: v.get("interval")
                                    for k, v in cluster.data_collectors.items()},
        "modify_ssh_setup": cluster.modify_ssh_setup,
        "ssh_key_type": cluster.ssh_key_type,
        "ssh_key_bits": cluster.ssh_key_bits,
        "master_ip": cluster.master_ip,
    }


def cluster_query(data: objects.ConfigData, fields: list[str]) -> dict:
    info = cluster_info(data)
    defs, row = [], []
    for name in fields:
        if name in info:
            defs.append({"name": name, "title": name, "kind": constants.QFT_OTHER,
                         "doc": name})
            row.append([NORMAL, info[name]])
        else:
            defs.append(_unknown_field(name).definition())
            row.append([constants.RS_UNKNOWN, None])
    return {"fields": defs, "data": [row]}


OS_QUERY_FIELDS = {
    "name": ("Name", constants.QFT_TEXT), "valid": ("Valid", constants.QFT_BOOL),
    "hidden": ("Hidden", constants.QFT_BOOL),
    "blacklisted": ("Blacklisted", constants.QFT_BOOL),
    "variants": ("Variants", constants.QFT_OTHER),
    "api_versions": ("ApiVersions", constants.QFT_OTHER),
    "parameters": ("Parameters", constants.QFT_OTHER),
    "node_status": ("NodeStatus", constants.QFT_OTHER),
    "os_hvp": ("OsHypervisorParams", constants.QFT_OTHER),
    "osparams": ("OsParameters", constants.QFT_OTHER),
    "trusted": ("Trusted", constants.QFT_BOOL),
}


def os_query(cfg, rpc, fields: list[str], qfilter) -> dict:
    from ganeti.cmdlib.misc import os_query_rows
    known = [f for f in fields if f in OS_QUERY_FIELDS]
    rows = os_query_rows(cfg, rpc, known)
    names = None
    if qfilter:
        names = _names_from_filter(qfilter)
    data = []
    for row in rows:
        values = dict(zip(known, row, strict=True))
        if names is not None and values.get("name") not in names:
            continue
        data.append([[NORMAL, values[f]] if f in values else [constants.RS_UNKNOWN, None]
                     for f in fields])
    defs = [{"name": f, "title": OS_QUERY_FIELDS[f][0], "kind": OS_QUERY_FIELDS[f][1],
             "doc": f} if f in OS_QUERY_FIELDS else _unknown_field(f).definition()
            for f in fields]
    return {"fields": defs, "data": data}


def _names_from_filter(qfilter) -> set | None:
    if isinstance(qfilter, list) and qfilter and qfilter[0] == "|":
        names = set()
        for sub in qfilter[1:]:
            if isinstance(sub, list) and len(sub) == 3 and sub[0] in ("=", "==") \
                    and sub[1] == "name":
                names.add(sub[2])
            else:
                return None
        return names
    return None


def instance_details(cfg, rpc, inst_uuid: str, static: bool) -> dict:
    """Everything `gnt-instance info` shows about one instance."""
    inst = cfg.get_instance_info(inst_uuid)
    cluster = cfg.get_cluster_info()
    run_state = None
    if not static:
        res = rpc.call_single("instance_info", inst.primary_node,
                              [inst.name, inst.hypervisor, cluster.fill_hv(inst)])
        if res.fail_msg:
            run_state = None
        else:
            run_state = "up" if res.payload else "down"
    disks = []
    for disk in cfg.get_instance_disks(inst_uuid):
        disks.append({"iv_name": disk.iv_name, "dev_type": disk.dev_type,
                      "logical_id": disk.logical_id, "size": disk.size,
                      "mode": disk.mode, "name": disk.name, "uuid": disk.uuid,
                      "spindles": disk.spindles,
                      "pstatus": None, "sstatus": None, "children": []})
    return {
        "name": inst.name, "config_state": inst.admin_state,
        "run_state": run_state,
        "pnode": cfg.get_node_name(inst.primary_node),
        "pnode_group_uuid": cfg.get_node_info(inst.primary_node).group,
        "pnode_group_name": cfg.get_node_group(cfg.get_node_info(
            inst.primary_node).group).name,
        "snodes": cfg.get_node_names(cfg.get_instance_secondary_nodes(inst_uuid)),
        "snodes_group_uuids": [], "snodes_group_names": [],
        "os": inst.os,
        "nics": [(n.name, n.uuid, n.mac, n.ip, cluster.simple_fill_nic(n.nicparams)["mode"],
                  cluster.simple_fill_nic(n.nicparams)["link"],
                  cluster.simple_fill_nic(n.nicparams).get("vlan", ""), n.network, None)
                 for n in inst.nics],
        "disk_template": cfg.get_instance_disk_template(inst_uuid),
        "disks": disks, "hypervisor": inst.hypervisor, "network_port": inst.network_port,
        "hv_instance": dict(inst.hvparams), "hv_actual": cluster.fill_hv(inst),
        "be_instance": dict(inst.beparams), "be_actual": cluster.fill_be(inst),
        "os_instance": dict(inst.osparams),
        "os_actual": cluster.simple_fill_os(inst.os, inst.osparams),
        "serial_no": inst.serial_no, "mtime": inst.mtime, "ctime": inst.ctime,
        "uuid": inst.uuid, "tags": sorted(inst.tags or []),
        "admin_state_source": inst.admin_state_source,
        "disks_active": inst.disks_active,
    }
