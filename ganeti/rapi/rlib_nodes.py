"""RAPI resources of nodes: lists, roles, modification, power cycle, evacuation,
migration, storage units and tags.
"""

from ganeti import constants
from ganeti import opcodes
from ganeti.rapi import baserlib as B
from ganeti.rapi.baserlib import Body, Method, QueryArg, Resource

N_FIELDS = ["name", "offline", "master_candidate", "drained", "dtotal", "dfree",
            "sptotal", "spfree", "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt",
            "ctotal", "cnos", "cnodes", "csockets", "pip", "sip", "role", "pinst_list",
            "sinst_list", "master_capable", "vm_capable", "ndparams", "group.uuid",
            "ctime", "mtime", "uuid", "serial_no", "tags"]

ROLE_NAMES = {constants.NR_MASTER: "master", constants.NR_MCANDIDATE: "master-candidate",
              constants.NR_REGULAR: "regular", constants.NR_DRAINED: "drained",
              constants.NR_OFFLINE: "offline"}
_ROLE_FLAGS = {
    "regular": {"master_candidate": False, "offline": False, "drained": False},
    "master-candidate": {"master_candidate": True},
    "drained": {"drained": True},
    "offline": {"offline": True},
}
STORAGE_TYPES = ("file", "lvm-pv", "lvm-vg")


def _node(ctx) -> str:
    return ctx.params["node_name"]


def _static_node(ctx) -> dict:
    return {"node_name": _node(ctx)}


def check_node(ctx, name) -> None:
    B.query_one(ctx, constants.QR_NODE, ["name"], name, "Node")


def _nodes(ctx):
    if ctx.qbool("bulk"):
        return B.query_dicts(ctx, constants.QR_NODE, N_FIELDS)
    rows = B.query_dicts(ctx, constants.QR_NODE, ["name"])
    return B.stub_list(rows, "name", "id", "/2/nodes/%s")


def _node_get(ctx):
    node = B.query_one(ctx, constants.QR_NODE, N_FIELDS, _node(ctx), "Node")
    node["secondary_ip"] = node.get("sip")
    return node


def _role_get(ctx):
    row = B.query_one(ctx, constants.QR_NODE, ["role"], _node(ctx), "Node")
    return ROLE_NAMES.get(row["role"], row["role"])


def _role_put(ctx):
    role = ctx.body
    if not isinstance(role, str):
        raise B.bad_request("The body must be a JSON string naming the new role")
    if role not in _ROLE_FLAGS:
        raise B.bad_request("Can't set role '%s' (one of %s)"
                            % (role, ", ".join(sorted(_ROLE_FLAGS))))
    params = dict(_ROLE_FLAGS[role], node_name=_node(ctx), force=ctx.qbool("force"),
                  auto_promote=ctx.qbool("auto-promote"))
    op = B.build_op(opcodes.OpNodeSetParams, params, ctx.reason_trail())
    return ctx.submit([op])


def _migrate_legacy(ctx, body: dict) -> dict:
    """Old clients give ``?live=`` or ``?mode=`` instead of a body."""
    if ctx.has_query("live") or ctx.has_query("mode"):
        if ctx.has_query("live") and ctx.has_query("mode"):
            raise B.bad_request("Only one of 'live' and 'mode' should be given")
        if ctx.has_query("live"):
            mode = constants.HT_MIGRATION_LIVE if ctx.qbool("live") \
                else constants.HT_MIGRATION_NONLIVE
        else:
            mode = ctx.qstr("mode")
        return {"mode": mode}
    return body


def _storage_type(ctx, default: str | None = None) -> str | None:
    value = ctx.qstr("storage_type", default)
    return value


def _storage_get(ctx):
    fields = ctx.qstr("output_fields")
    if not fields:
        raise B.bad_request("Missing the required 'output_fields' parameter")
    op = B.build_op(opcodes.OpNodeQueryStorage,
                    {"nodes": [_node(ctx)], "storage_type": _storage_type(ctx),
                     "output_fields": [f for f in fields.split(",") if f]},
                    ctx.reason_trail())
    return ctx.submit([op])


def _storage_modify(ctx):
    changes = {}
    if ctx.has_query("allocatable"):
        changes["allocatable"] = ctx.qbool("allocatable")
    op = B.build_op(opcodes.OpNodeModifyStorage,
                    {"node_name": _node(ctx), "storage_type": _storage_type(ctx),
                     "name": ctx.qrequired("name"), "changes": changes},
                    ctx.reason_trail())
    return ctx.submit([op])


def _storage_repair(ctx):
    op = B.build_op(opcodes.OpRepairNodeStorage,
                    {"node_name": _node(ctx), "storage_type": _storage_type(ctx),
                     "name": ctx.qrequired("name")}, ctx.reason_trail())
    return ctx.submit([op])


_PARAMS = {"node_name": B.NAME_PATTERN}
_Q_STORAGE_TYPE = QueryArg("storage_type", "str", "Storage type",
                           enum=STORAGE_TYPES)
_Q_NAME = QueryArg("name", "str", "Storage unit name", True)
_NODE_STATIC = ("node_name",)

RESOURCES = [
    Resource("/2/nodes", "nodes", {
        "GET": Method(_nodes, "List nodes", query=(B.Q_BULK,),
                      result={"type": "array", "items": {"type": "object"}})}),
    Resource("/2/nodes/{node_name}", "nodes_name", {
        "GET": Method(_node_get, "One node", query=(B.Q_LOCK,),
                      result={"type": "object"})}, _PARAMS),
    Resource("/2/nodes/{node_name}/role", "nodes_name_role", {
        "GET": Method(_role_get, "Role of a node", result={"type": "string"}),
        "PUT": Method(_role_put, "Change the role of a node (job)", B.ACCESS_WRITE,
                      (B.Q_FORCE, QueryArg("auto-promote", "bool",
                                           "Promote other nodes if needed"), B.Q_REASON),
                      Body(schema={"type": "string", "enum": sorted(_ROLE_FLAGS)},
                           required=True), "job", (opcodes.OpNodeSetParams,)),
    }, _PARAMS),
    Resource("/2/nodes/{node_name}/modify", "nodes_name_modify", {
        "POST": B.opcode_method(opcodes.OpNodeSetParams, "Change node parameters (job)",
                                _static_node, static_names=_NODE_STATIC)}, _PARAMS),
    Resource("/2/nodes/{node_name}/powercycle", "nodes_name_powercycle", {
        "POST": B.opcode_method(opcodes.OpNodePowercycle, "Power cycle a node (job)",
                                lambda c: {"node_name": _node(c), "force": c.qbool("force")},
                                query=(B.Q_FORCE,),
                                static_names=_NODE_STATIC + ("force",))}, _PARAMS),
    Resource("/2/nodes/{node_name}/evacuate", "nodes_name_evacuate", {
        "POST": B.opcode_method(opcodes.OpNodeEvacuate, "Evacuate a node (job)",
                                _static_node, dry_run=True,
                                static_names=_NODE_STATIC)}, _PARAMS),
    Resource("/2/nodes/{node_name}/migrate", "nodes_name_migrate", {
        "POST": B.opcode_method(
            opcodes.OpNodeMigrate, "Migrate the primary instances of a node (job)",
            _static_node, dry_run=True, static_names=_NODE_STATIC,
            query=(QueryArg("live", "bool", "Old form: live migration"),
                   QueryArg("mode", "str", "Old form: migration mode",
                            enum=tuple(sorted(constants.HT_MIGRATION_MODES)))),
            prepare=_migrate_legacy)}, _PARAMS),
    Resource("/2/nodes/{node_name}/storage", "nodes_name_storage", {
        "GET": Method(_storage_get, "Storage units of a node (job)", B.ACCESS_WRITE,
                      (_Q_STORAGE_TYPE,
                       QueryArg("output_fields", "str", "Comma-separated fields", True),
                       B.Q_REASON), None, "job", (opcodes.OpNodeQueryStorage,))},
             _PARAMS),
    Resource("/2/nodes/{node_name}/storage/modify", "nodes_name_storage_modify", {
        "PUT": Method(_storage_modify, "Modify a storage unit (job)", B.ACCESS_WRITE,
                      (_Q_STORAGE_TYPE, _Q_NAME,
                       QueryArg("allocatable", "bool", "Allocatable flag"), B.Q_REASON),
                      Body(ignored=True), "job", (opcodes.OpNodeModifyStorage,))},
             _PARAMS),
    Resource("/2/nodes/{node_name}/storage/repair", "nodes_name_storage_repair", {
        "PUT": Method(_storage_repair, "Repair a storage unit (job)", B.ACCESS_WRITE,
                      (_Q_STORAGE_TYPE, _Q_NAME, B.Q_REASON), Body(ignored=True), "job",
                      (opcodes.OpRepairNodeStorage,))}, _PARAMS),
    B.tag_resource("/2/nodes/{node_name}/tags", "nodes_name_tags", "node", "node_name",
                   check_node, params=_PARAMS),
]
