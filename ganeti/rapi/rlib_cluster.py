"""RAPI resources of the cluster as a whole: root, version, info, features, OS list,
cluster tags and modification, jobs, generic queries and job filters.
"""

import time

from ganeti import constants
from ganeti import errors
from ganeti import opcodes
from ganeti.rapi import baserlib as B
from ganeti.rapi.baserlib import Body, Method, QueryArg, Resource

RAPI_VERSION = 2
FEATURES = ["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1",
            "node-evac-res1"]
QUERY_RESOURCES = ("group", "export", "instance", "job", "lock", "network", "node",
                   "filter")
JOB_FIELDS_BULK = ["id", "ops", "status", "summary", "opstatus", "received_ts",
                   "start_ts", "end_ts"]
JOB_FIELDS = JOB_FIELDS_BULK + ["oplog", "opresult"]
WAIT_TIMEOUT = 10
OS_FIELDS = ["name", "variants", "valid", "hidden", "blacklisted"]
OS_BULK_FIELDS = ["name", "valid", "variants", "parameters", "api_versions",
                  "blacklisted", "hidden", "trusted"]
FILTER_FIELDS = ["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]
FILTER_ACTIONS = ("ACCEPT", "PAUSE", "REJECT", "CONTINUE")
FILTER_KEYS = frozenset(["priority", "predicates", "action", "reason"])

OBJECT = {"type": "object"}
ANY = {}


# --- root, version, info, features -------------------------------------------------
def _null(_ctx):
    return None


def _version(_ctx):
    return RAPI_VERSION


def _features(_ctx):
    return list(FEATURES)


def _info(ctx):
    info = dict(ctx.luxi.call("QueryClusterInfo"))
    info["vg_name"] = info.get("volume_group_name")
    info["drbd_helper"] = info.get("drbd_usermode_helper")
    return info


# --- operating systems ----------------------------------------------------------------
def wait_for_job(ctx, job_id: int, timeout: float = 300.0) -> list:
    """Block until the job ends; return its opresult or raise the job's error."""
    deadline = time.monotonic() + timeout
    prev_info, prev_serial = None, None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise B.HttpError(504, "Timeout waiting for job %s" % job_id)
        change = ctx.luxi.call("WaitForJobChange", job_id, ["status"], prev_info,
                               prev_serial, min(remaining, WAIT_TIMEOUT))
        if change == "nochange":
            continue
        if change is None:
            raise B.HttpError(502, "Job %s was lost" % job_id)
        prev_info, entries = change
        if entries:
            prev_serial = max(e[0] for e in entries)
        if prev_info[0] in constants.JOBS_FINALIZED:
            break
    status, result = ctx.luxi.call("QueryJobs", [job_id], ["status", "opresult"])[0]
    if status != constants.JOB_STATUS_SUCCESS:
        detail = ""
        for item in result or []:
            err = errors.decode_exception(item)
            if err is not None:
                detail = errors.format_error(err)
        raise B.HttpError(502, "Job %s ended with status %s%s"
                          % (job_id, status, ": " + detail if detail else ""))
    return result


def _os_list(ctx):
    bulk = ctx.qbool("bulk")
    fields = OS_BULK_FIELDS if bulk else OS_FIELDS
    op = B.build_op(opcodes.OpOsDiagnose, {"output_fields": fields, "names": []},
                    ctx.reason_trail())
    rows = wait_for_job(ctx, ctx.submit([op]))[0]
    if not isinstance(rows, list):
        raise B.HttpError(502, "Can't get OS list")
    if bulk:
        return [dict(zip(fields, row, strict=True)) for row in rows]
    names = []
    for name, variants, valid, hidden, blacklisted in rows:
        if not valid or hidden or blacklisted:
            continue
        if variants:
            names.extend("%s+%s" % (name, v) for v in variants)
        else:
            names.append(name)
    return names


# --- cluster modification ---------------------------------------------------------------
def _modify(ctx):
    body = ctx.body_dict()
    if "compression_tools" in body or ctx.has_query("compression_tools"):
        raise B.HttpError(403, "The parameter 'compression_tools' cannot be changed "
                          "through the remote API")
    return ctx.submit([ctx.make_op(opcodes.OpClusterSetParams, body)])


def _redist(ctx):
    return ctx.submit([ctx.make_op(opcodes.OpClusterRedistConf)])


# --- jobs -----------------------------------------------------------------------------
def _job_id(ctx) -> int:
    return int(ctx.params["job_id"])


def _jobs(ctx):
    if ctx.qbool("bulk"):
        rows = ctx.luxi.call("QueryJobs", None, JOB_FIELDS_BULK)
        rows = sorted((r for r in rows if r), key=lambda r: r[0])
        return [dict(zip(JOB_FIELDS_BULK, r, strict=True)) for r in rows]
    ids = sorted(r[0] for r in ctx.luxi.call("QueryJobs", None, ["id"]) if r)
    return [{"id": i, "uri": "/2/jobs/%d" % i} for i in ids]


def _job(ctx):
    job_id = _job_id(ctx)
    row = ctx.luxi.call("QueryJobs", [job_id], JOB_FIELDS)[0]
    if row is None:
        raise B.not_found("Job %d not found" % job_id)
    return dict(zip(JOB_FIELDS, row, strict=True))


def _job_cancel(ctx):
    return ctx.luxi.call("CancelJob", _job_id(ctx), False)


def _job_wait(ctx):
    body = ctx.body_dict()
    fields = body.get("fields")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise B.bad_request("The 'fields' parameter should be a list")
    prev_info = body.get("previous_job_info")
    if prev_info is not None and not isinstance(prev_info, list):
        raise B.bad_request("The 'previous_job_info' parameter should be a list")
    prev_serial = body.get("previous_log_serial")
    if prev_serial is not None and (not isinstance(prev_serial, int)
                                    or isinstance(prev_serial, bool)):
        raise B.bad_request("The 'previous_log_serial' parameter should be a number")
    job_id = _job_id(ctx)
    try:
        result = ctx.luxi.call("WaitForJobChange", job_id, fields, prev_info,
                               prev_serial, WAIT_TIMEOUT)
    except errors.JobLost as err:
        raise B.not_found(errors.format_error(err)) from None
    if result is None:
        raise B.not_found("Job %d not found" % job_id)
    if result == "nochange":
        return None
    job_info, log_entries = result
    return {"job_info": job_info, "log_entries": log_entries}


# --- generic queries ------------------------------------------------------------------
def _split_fields(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [f for f in text.split(",") if f]


def _query_get(ctx):
    fields = _split_fields(ctx.qstr("fields"))
    if not fields:
        raise B.bad_request("Missing 'fields' query argument")
    return ctx.luxi.call("Query", ctx.params["resource"], fields, None)


def _query_put(ctx):
    body = ctx.body_dict()
    fields = body.get("fields")
    if fields is None:
        fields = _split_fields(ctx.qstr("fields"))
    if not isinstance(fields, list) or not fields \
            or not all(isinstance(f, str) for f in fields):
        raise B.bad_request("The 'fields' parameter must be a non-empty list of names")
    # clients send the filter under both names; the new one wins
    qfilter = body["qfilter"] if "qfilter" in body else body.get("filter")
    if qfilter is not None and not isinstance(qfilter, list):
        raise B.bad_request("The query filter must be null or a list")
    return ctx.luxi.call("Query", ctx.params["resource"], fields, qfilter)


def _query_fields(ctx):
    return ctx.luxi.call("QueryFields", ctx.params["resource"],
                         _split_fields(ctx.qstr("fields")))


# --- filters --------------------------------------------------------------------------
def _filter_body(ctx) -> tuple:
    body = ctx.body_dict()
    unknown = sorted(set(body) - FILTER_KEYS)
    if unknown:
        raise B.bad_request("Unknown filter parameter(s): %s" % ", ".join(unknown))
    priority = body.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise B.bad_request("'priority' must be a non-negative integer")
    predicates = body.get("predicates", [])
    if not isinstance(predicates, list) or not all(
            isinstance(p, list) and p and isinstance(p[0], str) for p in predicates):
        raise B.bad_request("'predicates' must be a list of [name, argument...] lists")
    action = body.get("action", "CONTINUE")
    if not (action in FILTER_ACTIONS or (
            isinstance(action, list) and len(action) == 2 and action[0] == "RATE_LIMIT"
            and isinstance(action[1], int) and not isinstance(action[1], bool)
            and action[1] >= 0)):
        raise B.bad_request("'action' must be one of %s or [\"RATE_LIMIT\", n]"
                            % ", ".join(FILTER_ACTIONS))
    reason = body.get("reason", [])
    if not isinstance(reason, list) or not all(
            isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
            and isinstance(r[1], str) and isinstance(r[2], int) for r in reason):
        raise B.bad_request("'reason' must be a list of [source, reason, timestamp]")
    return priority, predicates, action, reason + ctx.reason_trail()


def _filters(ctx):
    rows = B.query_dicts(ctx, constants.QR_FILTER, FILTER_FIELDS, optional=True)
    if ctx.qbool("bulk"):
        return rows
    return B.stub_list(rows, "uuid", "uuid", "/2/filters/%s")


def _filter_get(ctx):
    return B.query_one(ctx, constants.QR_FILTER, FILTER_FIELDS, ctx.params["filter_uuid"],
                       "Filter", key="uuid", optional=True)


def _filter_add(ctx):
    return ctx.luxi.call("ReplaceFilter", None, *_filter_body(ctx))


def _filter_replace(ctx):
    return ctx.luxi.call("ReplaceFilter", ctx.params["filter_uuid"], *_filter_body(ctx))


def _filter_delete(ctx):
    uuid = ctx.params["filter_uuid"]
    B.query_one(ctx, constants.QR_FILTER, ["uuid"], uuid, "Filter", key="uuid",
                optional=True)
    ctx.luxi.call("DeleteFilter", uuid)
    return None


# --- declarations ---------------------------------------------------------------------
_JOB_SCHEMA = {"type": "object", "properties": {f: ANY for f in JOB_FIELDS}}
_STUBS = {"type": "array", "items": OBJECT}
_FILTER_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "priority": {"type": "integer", "minimum": 0},
    "predicates": {"type": "array", "items": {"type": "array"}},
    "action": {"oneOf": [{"type": "string", "enum": list(FILTER_ACTIONS)},
                         {"type": "array"}]},
    "reason": {"type": "array", "items": {"type": "array"}}}}
_WAIT_SCHEMA = {"type": "object", "required": ["fields"], "properties": {
    "fields": {"type": "array", "items": {"type": "string"}},
    "previous_job_info": {"type": "array", "nullable": True},
    "previous_log_serial": {"type": "integer", "nullable": True}}}
_QUERY_SCHEMA = {"type": "object", "properties": {
    "fields": {"type": "array", "items": {"type": "string"}},
    "qfilter": {"type": "array", "nullable": True},
    "filter": {"type": "array", "nullable": True}}}
_Q_FIELDS = QueryArg("fields", "str", "Comma-separated field names")
_QUERY_PARAMS = {"resource": "|".join(QUERY_RESOURCES)}

RESOURCES = [
    Resource("/", "root", {"GET": Method(_null, "Legacy root (null)", result=ANY)}),
    Resource("/2", "2", {"GET": Method(_null, "Legacy version root (null)", result=ANY)}),
    Resource("/version", "version", {
        "GET": Method(_version, "Remote API version (2)", result={"type": "integer"})}),
    Resource("/2/info", "info", {
        "GET": Method(_info, "Cluster information", result=OBJECT)}),
    Resource("/2/features", "features", {
        "GET": Method(_features, "Optional features this server supports",
                      result={"type": "array", "items": {"type": "string"}})}),
    Resource("/2/os", "os", {
        "GET": Method(_os_list, "Operating systems (runs and waits for a diagnose job)",
                      query=(B.Q_BULK, B.Q_REASON), result={"type": "array"},
                      opcodes=(opcodes.OpOsDiagnose,))}),
    Resource("/2/redistribute-config", "redist_config", {
        "PUT": Method(_redist, "Redistribute the configuration (job)", B.ACCESS_WRITE,
                      (B.Q_REASON,), Body(opcode=opcodes.OpClusterRedistConf), "job")}),
    Resource("/2/modify", "cluster_modify", {
        "PUT": Method(_modify, "Change cluster parameters (job)", B.ACCESS_WRITE,
                      (B.Q_REASON,), Body(opcode=opcodes.OpClusterSetParams), "job")}),
    B.tag_resource("/2/tags", "tags", "cluster", None),
    Resource("/2/jobs", "jobs", {
        "GET": Method(_jobs, "List jobs", query=(B.Q_BULK,), result=_STUBS)}),
    Resource("/2/jobs/{job_id}", "jobs_id", {
        "GET": Method(_job, "Job details", result=_JOB_SCHEMA),
        "DELETE": Method(_job_cancel, "Cancel a job", B.ACCESS_WRITE, (B.Q_DRY_RUN,),
                         Body(ignored=True), {"type": "array"}),
    }, {"job_id": B.ID_PATTERN}),
    Resource("/2/jobs/{job_id}/wait", "jobs_id_wait", {
        "GET": Method(_job_wait, "Wait (up to 10 s) for a job to change", B.ACCESS_WRITE,
                      body=Body(schema=_WAIT_SCHEMA, required=True),
                      result={"type": "object", "nullable": True})},
             {"job_id": B.ID_PATTERN}),
    Resource("/2/query/{resource}", "query", {
        "GET": Method(_query_get, "Query a resource type", B.ACCESS_READ,
                      (QueryArg("fields", "str", "Comma-separated field names", True),),
                      result=OBJECT),
        "PUT": Method(_query_put, "Query with a filter", B.ACCESS_READ, (_Q_FIELDS,),
                      Body(schema=_QUERY_SCHEMA), OBJECT),
    }, _QUERY_PARAMS),
    Resource("/2/query/{resource}/fields", "query_fields", {
        "GET": Method(_query_fields, "Field definitions", query=(_Q_FIELDS,),
                      result=OBJECT)}, _QUERY_PARAMS),
    Resource("/2/filters", "filters", {
        "GET": Method(_filters, "List job filter rules", query=(B.Q_BULK,),
                      result=_STUBS),
        "POST": Method(_filter_add, "Add a job filter rule (returns its UUID)",
                       B.ACCESS_WRITE, (B.Q_REASON,), Body(schema=_FILTER_SCHEMA),
                       {"type": "string"}),
    }),
    Resource("/2/filters/{filter_uuid}", "filters_uuid", {
        "GET": Method(_filter_get, "One job filter rule", result=OBJECT),
        "PUT": Method(_filter_replace, "Replace or create a job filter rule",
                      B.ACCESS_WRITE, (B.Q_REASON,), Body(schema=_FILTER_SCHEMA),
                      {"type": "string"}),
        "DELETE": Method(_filter_delete, "Delete a job filter rule", B.ACCESS_WRITE,
                         result=ANY),
    }, {"filter_uuid": r"[\w-]+"}),
]
