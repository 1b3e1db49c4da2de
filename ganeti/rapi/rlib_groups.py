"""RAPI resources of node groups and networks: lists, creation, removal, renaming,
modification, node assignment, connecting networks to groups, and tags.
"""

from ganeti import constants
from ganeti import opcodes
from ganeti.rapi import baserlib as B
from ganeti.rapi.baserlib import Method, Resource

G_FIELDS = ["alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy",
            "diskparams", "custom_diskparams", "ndparams", "custom_ndparams", "ctime",
            "mtime", "uuid", "serial_no", "tags"]
NET_FIELDS = ["name", "network", "gateway", "network6", "gateway6", "mac_prefix",
              "free_count", "reserved_count", "map", "group_list", "inst_list",
              "external_reservations", "ctime", "mtime", "uuid", "serial_no", "tags"]
_GROUP = ("group_name",)
_NET = ("network_name",)


# --- groups -----------------------------------------------------------------------------
def _group(ctx) -> str:
    return ctx.params["group_name"]


def _static_group(ctx) -> dict:
    return {"group_name": _group(ctx)}


def check_group(ctx, name) -> None:
    B.query_one(ctx, constants.QR_GROUP, ["name"], name, "Group")


def _groups(ctx):
    if ctx.qbool("bulk"):
        return B.query_dicts(ctx, constants.QR_GROUP, G_FIELDS)
    rows = B.query_dicts(ctx, constants.QR_GROUP, ["name"])
    return B.stub_list(rows, "name", "name", "/2/groups/%s")


def _group_get(ctx):
    return B.query_one(ctx, constants.QR_GROUP, G_FIELDS, _group(ctx), "Group")


def _group_remove(ctx):
    op = B.build_op(opcodes.OpGroupRemove,
                    {"group_name": _group(ctx), "dry_run": ctx.dry_run()},
                    ctx.reason_trail())
    return ctx.submit([op])


# --- networks ---------------------------------------------------------------------------
def _network(ctx) -> str:
    return ctx.params["network_name"]


def _static_network(ctx) -> dict:
    return {"network_name": _network(ctx)}


def check_network(ctx, name) -> None:
    B.query_one(ctx, constants.QR_NETWORK, ["name"], name, "Network", optional=True)


def _networks(ctx):
    if ctx.qbool("bulk"):
        return B.query_dicts(ctx, constants.QR_NETWORK, NET_FIELDS, optional=True)
    rows = B.query_dicts(ctx, constants.QR_NETWORK, ["name"], optional=True)
    return B.stub_list(rows, "name", "name", "/2/networks/%s")


def _network_get(ctx):
    return B.query_one(ctx, constants.QR_NETWORK, NET_FIELDS, _network(ctx), "Network",
                       optional=True)


_GP = {"group_name": B.NAME_PATTERN}
_NP = {"network_name": B.NAME_PATTERN}
_LIST = {"type": "array", "items": {"type": "object"}}
_NAME_RENAME = (("name", "group_name"),)
_CUSTOM_RENAMES = (("custom_ndparams", "ndparams"), ("custom_ipolicy", "ipolicy"),
                   ("custom_diskparams", "diskparams"))

RESOURCES = [
    Resource("/2/groups", "groups", {
        "GET": Method(_groups, "List node groups", query=(B.Q_BULK,), result=_LIST),
        "POST": B.opcode_method(opcodes.OpGroupAdd, "Create a node group (job)",
                                renames=_NAME_RENAME, dry_run=True),
    }),
    Resource("/2/groups/{group_name}", "groups_name", {
        "GET": Method(_group_get, "One node group", result={"type": "object"}),
        "DELETE": Method(_group_remove, "Remove a node group (job)", B.ACCESS_WRITE,
                         (B.Q_DRY_RUN, B.Q_REASON), B.Body(ignored=True), "job",
                         (opcodes.OpGroupRemove,)),
    }, _GP),
    Resource("/2/groups/{group_name}/modify", "groups_name_modify", {
        "PUT": B.opcode_method(opcodes.OpGroupSetParams, "Change a node group (job)",
                               _static_group, renames=_CUSTOM_RENAMES,
                               static_names=_GROUP)}, _GP),
    Resource("/2/groups/{group_name}/rename", "groups_name_rename", {
        "PUT": B.opcode_method(opcodes.OpGroupRename, "Rename a node group (job)",
                               _static_group, dry_run=True, static_names=_GROUP)}, _GP),
    Resource("/2/groups/{group_name}/assign-nodes", "groups_name_assign_nodes", {
        "PUT": B.opcode_method(opcodes.OpGroupAssignNodes,
                               "Move nodes into a node group (job)",
                               lambda c: dict(_static_group(c), force=c.qbool("force")),
                               query=(B.Q_FORCE,), dry_run=True,
                               static_names=_GROUP + ("force",))}, _GP),
    B.tag_resource("/2/groups/{group_name}/tags", "groups_name_tags", "nodegroup",
                   "group_name", check_group, params=_GP),
    Resource("/2/networks", "networks", {
        "GET": Method(_networks, "List networks", query=(B.Q_BULK,), result=_LIST),
        "POST": B.opcode_method(opcodes.OpNetworkAdd, "Create a network (job)",
                                renames=(("name", "network_name"),), dry_run=True),
    }),
    Resource("/2/networks/{network_name}", "networks_name", {
        "GET": Method(_network_get, "One network", result={"type": "object"}),
        "DELETE": B.opcode_method(opcodes.OpNetworkRemove, "Remove a network (job)",
                                  _static_network, dry_run=True, static_names=_NET),
    }, _NP),
    Resource("/2/networks/{network_name}/modify", "networks_name_modify", {
        "PUT": B.opcode_method(opcodes.OpNetworkSetParams, "Change a network (job)",
                               _static_network, static_names=_NET)}, _NP),
    Resource("/2/networks/{network_name}/connect", "networks_name_connect", {
        "PUT": B.opcode_method(opcodes.OpNetworkConnect,
                               "Connect a network to a node group (job)",
                               _static_network, dry_run=True, static_names=_NET)}, _NP),
    Resource("/2/networks/{network_name}/disconnect", "networks_name_disconnect", {
        "PUT": B.opcode_method(opcodes.OpNetworkDisconnect,
                               "Disconnect a network from a node group (job)",
                               _static_network, dry_run=True, static_names=_NET)}, _NP),
    Resource("/2/networks/{network_name}/rename", "networks_name_rename", {
        "PUT": B.opcode_method(opcodes.OpNetworkRename, "Rename a network (job)",
                               _static_network, dry_run=True, static_names=_NET)}, _NP),
    B.tag_resource("/2/networks/{network_name}/tags", "networks_name_tags", "network",
                   "network_name", check_network, params=_NP),
]
