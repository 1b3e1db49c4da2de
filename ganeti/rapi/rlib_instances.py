"""RAPI resources of instances: lists, creation (also several at once), removal, the
life cycle, disks, export, migration, renaming, modification, console and tags.
"""

from ganeti import constants
from ganeti import opcodes
from ganeti.rapi import baserlib as B
from ganeti.rapi.baserlib import Body, Method, QueryArg, Resource

I_FIELDS = ["name", "admin_state", "os", "pnode", "snodes", "disk_template", "nic.ips",
            "nic.macs", "nic.modes", "nic.uuids", "nic.names", "nic.links",
            "nic.networks", "nic.networks.names", "nic.bridges", "network_port",
            "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids", "disk.names",
            "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
            "custom_hvparams", "custom_beparams", "custom_nicparams", "custom_osparams",
            "ctime", "mtime", "uuid", "serial_no", "tags"]
CREATE_RENAMES = (("name", "instance_name"), ("os", "os_type"))
REQ_DATA_VERSION = 1
_INST = ("instance_name",)


def _inst(ctx) -> str:
    return ctx.params["instance_name"]


def _static_inst(ctx) -> dict:
    return {"instance_name": _inst(ctx)}


def check_instance(ctx, name) -> None:
    B.query_one(ctx, constants.QR_INSTANCE, ["name"], name, "Instance")


def _fix_instance(row: dict) -> dict:
    beparams = row.get("beparams")
    if isinstance(beparams, dict) and "maxmem" in beparams:
        # older clients read "memory"; a copy, the luxi answer may be shared (cache)
        row["beparams"] = dict(beparams, memory=beparams["maxmem"])
    if row.get("nic.networks.names") is None and isinstance(row.get("nic.networks"), list):
        row["nic.networks.names"] = [None for _ in row["nic.networks"]]
    return row


def _instances(ctx):
    if ctx.qbool("bulk"):
        return [_fix_instance(r) for r in
                B.query_dicts(ctx, constants.QR_INSTANCE, I_FIELDS)]
    rows = B.query_dicts(ctx, constants.QR_INSTANCE, ["name"])
    return B.stub_list(rows, "name", "id", "/2/instances/%s")


def _instance_get(ctx):
    return _fix_instance(B.query_one(ctx, constants.QR_INSTANCE, I_FIELDS, _inst(ctx),
                                     "Instance"))


def _usb_commas(params: dict) -> None:
    hvparams = params.get("hvparams")
    if isinstance(hvparams, dict) and isinstance(hvparams.get("usb_devices"), str):
        hvparams = dict(hvparams)
        hvparams["usb_devices"] = hvparams["usb_devices"].replace(" ", ",")
        params["hvparams"] = hvparams


def _create_params(body) -> dict:
    """Checks the request version, returns the OpInstanceCreate parameters."""
    if not isinstance(body, dict):
        raise B.bad_request("Invalid body parameters: expected a JSON object")
    params = dict(body)
    version = params.pop("__version__", 0)
    if version == 0:
        raise B.bad_request("Instance creation request version 0 is no longer supported")
    if version != REQ_DATA_VERSION:
        raise B.bad_request("Unsupported request data version %r" % (version,))
    for old, new in CREATE_RENAMES:
        if old in params:
            if new in params:
                raise B.bad_request("Parameter '%s' was renamed to '%s', but both are "
                                    "given" % (old, new))
            params[new] = params.pop(old)
    _usb_commas(params)
    return params


def _create(ctx):
    params = _create_params(ctx.body_dict())
    return ctx.submit([ctx.make_op(opcodes.OpInstanceCreate, params,
                                   {"dry_run": ctx.dry_run()})])


def _multi_alloc(ctx):
    body = dict(ctx.body_dict())
    if "instances" not in body:
        raise B.bad_request("Request is missing required 'instances' field in body")
    instances = body.pop("instances")
    if not isinstance(instances, list):
        raise B.bad_request("'instances' must be a list of instance creation bodies")
    trail = ctx.reason_trail()
    ops = []
    for item in instances:
        if not isinstance(item, dict):
            raise B.bad_request("Each entry of 'instances' must be a JSON object")
        params = dict(item)
        params.setdefault("__version__", REQ_DATA_VERSION)
        ops.append(B.build_op(opcodes.OpInstanceCreate, _create_params(params), trail))
    body["instances"] = ops
    return ctx.submit([ctx.make_op(opcodes.OpInstanceMultiAlloc, body,
                                   {"dry_run": ctx.dry_run()})])


def _info(ctx):
    op = B.build_op(opcodes.OpInstanceQueryData,
                    {"instances": [_inst(ctx)], "static": ctx.qbool("static")},
                    ctx.reason_trail())
    return ctx.submit([op])


def _reinstall(ctx):
    body = ctx.body_dict()
    legacy = ctx.has_query("os") or ctx.has_query("nostartup")
    if body and legacy:
        raise B.bad_request("Can't combine query and body parameters")
    if legacy:
        os_name, start, osparams = ctx.qstr("os"), not ctx.qbool("nostartup"), None
    else:
        unknown = sorted(set(body) - {"os", "start", "osparams"})
        if unknown:
            raise B.bad_request("Unknown parameter(s): %s" % ", ".join(unknown))
        os_name, start = body.get("os"), body.get("start", True)
        osparams = body.get("osparams")
        if not isinstance(start, bool):
            raise B.bad_request("'start' must be a boolean")
    trail = ctx.reason_trail()
    name = _inst(ctx)
    ops = [B.build_op(opcodes.OpInstanceShutdown, {"instance_name": name}, trail),
           B.build_op(opcodes.OpInstanceReinstall,
                      {"instance_name": name, "os_type": os_name, "osparams": osparams},
                      trail)]
    if start:
        ops.append(B.build_op(opcodes.OpInstanceStartup,
                              {"instance_name": name, "force": False}, trail))
    return ctx.submit(ops)


def _disks_list(value):
    if isinstance(value, str):
        try:
            return [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise B.bad_request("Invalid disk index list %r" % value) from None
    return value


def _replace_disks_prepare(ctx, body: dict) -> dict:
    if not body:
        # old clients give everything as query arguments
        for name in ("mode", "remote_node", "iallocator", "disks"):
            if ctx.qstr(name) is not None:
                body[name] = ctx.qstr(name)
        if ctx.has_query("early_release"):
            body["early_release"] = ctx.qbool("early_release")
    if "disks" in body:
        body["disks"] = _disks_list(body["disks"])
    return body


def _modify_prepare(_ctx, body: dict) -> dict:
    _usb_commas(body)
    return body


def _grow_static(ctx) -> dict:
    return {"instance_name": _inst(ctx), "disk": int(ctx.params["disk_index"])}


def _prepare_export(ctx):
    op = B.build_op(opcodes.OpBackupPrepare,
                    {"instance_name": _inst(ctx), "mode": ctx.qstr("mode")},
                    ctx.reason_trail())
    return ctx.submit([op])


def _console(ctx):
    row = B.query_one(ctx, constants.QR_INSTANCE, ["name", "oper_state", "console",
                                                   "hypervisor"], _inst(ctx), "Instance")
    if not row["oper_state"]:
        raise B.HttpError(503, "Instance %s is not running" % _inst(ctx))
    console = row["console"]
    if console is None:
        return {"instance": row["name"], "kind": "msg",
                "message": "No console information is available for hypervisor %s"
                           % row["hypervisor"]}
    return console


_P = {"instance_name": B.NAME_PATTERN}
_Q_DRY = (B.Q_DRY_RUN, B.Q_REASON)
_REBOOT_Q = (QueryArg("type", "str", "Reboot type", enum=("soft", "hard", "full")),
             QueryArg("ignore_secondaries", "bool", "Ignore secondary nodes"))
_CREATE_SCHEMA_EXTRA = {"__version__": {"type": "integer", "enum": [REQ_DATA_VERSION]}}


def _reboot_static(ctx) -> dict:
    return {"instance_name": _inst(ctx),
            "reboot_type": ctx.qstr("type", constants.INSTANCE_REBOOT_HARD),
            "ignore_secondaries": ctx.qbool("ignore_secondaries")}


def _shutdown_static(ctx) -> dict:
    return {"instance_name": _inst(ctx), "no_remember": ctx.qbool("no_remember")}


def _startup_static(ctx) -> dict:
    return {"instance_name": _inst(ctx), "force": ctx.qbool("force"),
            "no_remember": ctx.qbool("no_remember")}


def _startup(ctx):
    # the body is ignored (old clients send their parameters there)
    return ctx.submit([ctx.make_op(opcodes.OpInstanceStartup, {},
                                   dict(_startup_static(ctx), dry_run=ctx.dry_run()))])


_Q_NO_REMEMBER = QueryArg("no_remember", "bool", "Do not remember the new state")

RESOURCES = [
    Resource("/2/instances", "instances", {
        "GET": Method(_instances, "List instances", query=(B.Q_BULK,),
                      result={"type": "array", "items": {"type": "object"}}),
        "POST": Method(_create, "Create an instance (job)", B.ACCESS_WRITE, _Q_DRY,
                       Body(opcode=opcodes.OpInstanceCreate, renames=CREATE_RENAMES,
                            static=("dry_run",), schema=_CREATE_SCHEMA_EXTRA,
                            required=True), "job"),
    }),
    Resource("/2/instances-multi-alloc", "instances_multi_alloc", {
        "POST": Method(_multi_alloc, "Create several instances at once (job)",
                       B.ACCESS_WRITE, _Q_DRY,
                       Body(opcode=opcodes.OpInstanceMultiAlloc, static=("dry_run",),
                            required=True), "job")}),
    Resource("/2/instances/{instance_name}", "instances_name", {
        "GET": Method(_instance_get, "One instance", query=(B.Q_LOCK,),
                      result={"type": "object"}),
        "DELETE": B.opcode_method(opcodes.OpInstanceRemove, "Remove an instance (job)",
                                  lambda c: dict(_static_inst(c), ignore_failures=False),
                                  dry_run=True,
                                  static_names=_INST + ("ignore_failures",)),
    }, _P),
    Resource("/2/instances/{instance_name}/info", "instances_name_info", {
        "GET": Method(_info, "Detailed instance information (job)",
                      query=(QueryArg("static", "bool", "Only static information"),
                             B.Q_REASON), result="job",
                      opcodes=(opcodes.OpInstanceQueryData,))}, _P),
    Resource("/2/instances/{instance_name}/reboot", "instances_name_reboot", {
        "POST": B.opcode_method(opcodes.OpInstanceReboot, "Reboot an instance (job)",
                                _reboot_static, query=_REBOOT_Q, dry_run=True,
                                static_names=_INST + ("reboot_type",
                                                      "ignore_secondaries"))}, _P),
    Resource("/2/instances/{instance_name}/shutdown", "instances_name_shutdown", {
        "PUT": B.opcode_method(opcodes.OpInstanceShutdown, "Shut an instance down (job)",
                               _shutdown_static, query=(_Q_NO_REMEMBER,), dry_run=True,
                               static_names=_INST + ("no_remember",))}, _P),
    Resource("/2/instances/{instance_name}/startup", "instances_name_startup", {
        "PUT": Method(_startup, "Start an instance (job)", B.ACCESS_WRITE,
                      (B.Q_FORCE, _Q_NO_REMEMBER) + _Q_DRY, Body(ignored=True), "job",
                      (opcodes.OpInstanceStartup,))}, _P),
    Resource("/2/instances/{instance_name}/reinstall", "instances_name_reinstall", {
        "POST": Method(_reinstall, "Reinstall an instance (job)", B.ACCESS_WRITE,
                       (QueryArg("os", "str", "Old form: operating system"),
                        QueryArg("nostartup", "bool", "Old form: do not start"),
                        B.Q_REASON),
                       Body(schema={"type": "object", "additionalProperties": False,
                                    "properties": {"os": {"type": "string"},
                                                   "start": {"type": "boolean"},
                                                   "osparams": {"type": "object"}}}),
                       "job", (opcodes.OpInstanceShutdown, opcodes.OpInstanceReinstall,
                               opcodes.OpInstanceStartup))}, _P),
    Resource("/2/instances/{instance_name}/replace-disks", "instances_name_replace_disks", {
        "POST": B.opcode_method(
            opcodes.OpInstanceReplaceDisks, "Replace the disks of an instance (job)",
            _static_inst, static_names=_INST, prepare=_replace_disks_prepare,
            query=(QueryArg("mode", "str", "Old form: replacement mode"),
                   QueryArg("remote_node", "str", "Old form: new secondary"),
                   QueryArg("iallocator", "str", "Old form: allocator"),
                   QueryArg("disks", "str", "Old form: disk indices, comma-separated"),
                   QueryArg("early_release", "bool", "Old form: release locks early")))},
             _P),
    Resource("/2/instances/{instance_name}/activate-disks", "instances_name_activate_disks", {
        "PUT": B.opcode_method(opcodes.OpInstanceActivateDisks, "Activate disks (job)",
                               lambda c: dict(_static_inst(c),
                                              ignore_size=c.qbool("ignore_size")),
                               query=(QueryArg("ignore_size", "bool",
                                               "Ignore recorded sizes"),),
                               static_names=_INST + ("ignore_size",))}, _P),
    Resource("/2/instances/{instance_name}/deactivate-disks",
             "instances_name_deactivate_disks", {
                 "PUT": B.opcode_method(opcodes.OpInstanceDeactivateDisks,
                                        "Deactivate disks (job)",
                                        lambda c: dict(_static_inst(c),
                                                       force=c.qbool("force")),
                                        query=(B.Q_FORCE,),
                                        static_names=_INST + ("force",))}, _P),
    Resource("/2/instances/{instance_name}/recreate-disks",
             "instances_name_recreate_disks", {
                 "POST": B.opcode_method(opcodes.OpInstanceRecreateDisks,
                                         "Recreate disks (job)", _static_inst,
                                         static_names=_INST)}, _P),
    Resource("/2/instances/{instance_name}/disk/{disk_index}/grow",
             "instances_name_disk_grow", {
                 "POST": B.opcode_method(opcodes.OpInstanceGrowDisk, "Grow a disk (job)",
                                         _grow_static,
                                         static_names=_INST + ("disk",))},
             dict(_P, disk_index=B.ID_PATTERN)),
    Resource("/2/instances/{instance_name}/prepare-export",
             "instances_name_prepare_export", {
                 "PUT": Method(_prepare_export, "Prepare an export (job)", B.ACCESS_WRITE,
                               (QueryArg("mode", "str", "Export mode", True,
                                         ("local", "remote")), B.Q_REASON),
                               Body(ignored=True), "job", (opcodes.OpBackupPrepare,))},
             _P),
    Resource("/2/instances/{instance_name}/export", "instances_name_export", {
        "PUT": B.opcode_method(opcodes.OpBackupExport, "Export an instance (job)",
                               _static_inst, renames=(("destination", "target_node"),),
                               static_names=_INST),
        "DELETE": B.opcode_method(opcodes.OpBackupRemove, "Remove an export (job)",
                                  _static_inst, static_names=_INST),
    }, _P),
    Resource("/2/instances/{instance_name}/migrate", "instances_name_migrate", {
        "PUT": B.opcode_method(opcodes.OpInstanceMigrate, "Migrate an instance (job)",
                               lambda c: dict(_static_inst(c), live=None),
                               static_names=_INST + ("live",))}, _P),
    Resource("/2/instances/{instance_name}/failover", "instances_name_failover", {
        "PUT": B.opcode_method(opcodes.OpInstanceFailover, "Fail an instance over (job)",
                               _static_inst, static_names=_INST)}, _P),
    Resource("/2/instances/{instance_name}/rename", "instances_name_rename", {
        "PUT": B.opcode_method(opcodes.OpInstanceRename, "Rename an instance (job)",
                               _static_inst, static_names=_INST)}, _P),
    Resource("/2/instances/{instance_name}/modify", "instances_name_modify", {
        "PUT": B.opcode_method(opcodes.OpInstanceSetParams,
                               "Change instance parameters (job)", _static_inst,
                               renames=(("custom_beparams", "beparams"),
                                        ("custom_hvparams", "hvparams")),
                               static_names=_INST, prepare=_modify_prepare)}, _P),
    Resource("/2/instances/{instance_name}/console", "instances_name_console", {
        "GET": Method(_console, "Console information", B.ACCESS_READ,
                      result={"type": "object"})}, _P),
    B.tag_resource("/2/instances/{instance_name}/tags", "instances_name_tags", "instance",
                   "instance_name", check_instance, params=_P),
]
