"""Building blocks of the RAPI resources: the resource/method declarations the router
and the OpenAPI generator share, the per-request context, and opcode construction.

A resource module declares ``Resource`` objects; each ``Method`` names its handler,
the capability it needs, its query arguments and its body.  Nothing here does I/O
except through the luxi client the context is given.
"""

import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from ganeti import constants
from ganeti import errors
from ganeti import opcodes
from ganeti.rapi import auth

ACCESS_NONE: tuple = ()
ACCESS_WRITE: tuple = (auth.CAP_WRITE,)
ACCESS_READ: tuple = (auth.CAP_READ, auth.CAP_WRITE)

# Name placeholders of the URLs (rapi.md section 6)
NAME_PATTERN = r"[\w._-]+"
ID_PATTERN = r"\d+"

REASON_SRC_USER = "gnt:user"
REASON_SRC_RLIB2 = "gnt:library:rlib2"


class HttpError(Exception):
    """Ends a request with an HTTP error status and message."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad_request(message: str) -> HttpError:
    return HttpError(400, message)


def not_found(message: str) -> HttpError:
    return HttpError(404, message)


# --- declarations ---------------------------------------------------------------
@dataclass(frozen=True)
class QueryArg:
    """A query-string argument; ``kind`` is bool, int, str or list (repeated)."""

    name: str
    kind: str
    doc: str
    required: bool = False
    enum: tuple | None = None


@dataclass(frozen=True)
class Body:
    """What a method accepts as body.

    ``opcode``: the body holds parameters of that opcode (``renames`` maps old names
    to new ones, ``static`` names the parameters taken from the URL instead).
    ``schema``: a JSON schema of a body that is not a plain opcode.
    ``ignored``: a body is accepted (if JSON) but not used.
    """

    opcode: type | None = None
    renames: tuple = ()
    static: tuple = ()
    schema: dict | None = None
    ignored: bool = False
    required: bool = False


@dataclass(frozen=True)
class Method:
    handler: Callable
    summary: str
    access: tuple = ACCESS_NONE
    query: tuple = ()
    body: Body | None = None
    # "job": the answer is a job id; otherwise a JSON schema of the answer
    result: object = None
    # extra opcodes (besides body.opcode) a handler may submit, for the docs
    opcodes: tuple = ()


@dataclass
class Resource:
    """One URL template, e.g. ``/2/instances/{instance_name}/reboot``."""

    path: str
    name: str
    methods: dict
    params: dict = field(default_factory=dict)
    doc: str = ""
    regex: re.Pattern | None = None

    def __post_init__(self):
        pattern = "^"
        for part in re.split(r"(\{\w+\})", self.path):
            if part.startswith("{"):
                pname = part[1:-1]
                pattern += "(?P<%s>%s)" % (pname, self.params.get(pname, NAME_PATTERN))
            else:
                pattern += re.escape(part)
        self.regex = re.compile(pattern + "$")
        for verb in self.methods:
            if verb not in ("GET", "PUT", "POST", "DELETE"):
                raise ValueError("unsupported verb %s for %s" % (verb, self.path))


# Common query arguments
Q_BULK = QueryArg("bulk", "bool", "Return full objects instead of names and URIs")
Q_DRY_RUN = QueryArg("dry-run", "bool", "Only check, do not execute")
Q_FORCE = QueryArg("force", "bool", "Force the operation")
Q_LOCK = QueryArg("lock", "bool", "Query with locking (accepted for compatibility)")
Q_REASON = QueryArg("reason", "str", "Reason for the operation, added to the "
                    "reason trail of the job")
Q_TAGS = QueryArg("tag", "list", "A tag (repeat the argument for several)")


# --- the request context ------------------------------------------------------------
class Ctx:
    """What a handler sees: URL parameters, query, body, user and luxi access."""

    def __init__(self, resource: Resource, method: str, params: dict, query: str,
                 body, user: str | None, address: str, luxi, options=None):
        self.resource = resource
        self.method = method
        self.params = params
        try:
            self.query = urllib.parse.parse_qs(query, keep_blank_values=True,
                                               strict_parsing=False, max_num_fields=1000)
        except ValueError as err:
            raise bad_request("Invalid query string: %s" % err) from None
        self.body = body
        self.user = user
        self.address = address
        self.luxi = luxi
        self.options = options

    # query arguments
    def _first(self, name: str) -> str | None:
        values = self.query.get(name)
        if not values or values[0] == "":
            return None
        return values[0]

    def has_query(self, name: str) -> bool:
        return name in self.query

    def qint(self, name: str, default: int | None = None) -> int | None:
        value = self._first(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise bad_request("Invalid value for '%s': %r is not an integer"
                              % (name, value)) from None

    def qbool(self, name: str, default: bool = False) -> bool:
        value = self.qint(name)
        return default if value is None else bool(value)

    def qstr(self, name: str, default: str | None = None) -> str | None:
        value = self._first(name)
        return default if value is None else value

    def qlist(self, name: str) -> list[str]:
        return [v for v in self.query.get(name, []) if v != ""]

    def qrequired(self, name: str) -> str:
        value = self._first(name)
        if value is None:
            raise bad_request("Missing '%s' query argument" % name)
        return value

    def dry_run(self) -> bool:
        return self.qbool("dry-run")

    # body
    def body_dict(self) -> dict:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise bad_request("Invalid body parameters: expected a JSON object, got %s"
                              % type(self.body).__name__)
        return self.body

    # jobs
    def reason_trail(self) -> list:
        now = time.time_ns()
        trail = []
        text = self.qstr("reason")
        if text is not None:
            trail.append([REASON_SRC_USER, text, now])
        trail.append(["%s:%s" % (REASON_SRC_RLIB2, self.resource.name), "", now])
        trail.append([constants.OPCODE_REASON_SRC_RAPI,
                      "user=%s address=%s" % (self.user or "(anonymous)", self.address),
                      now])
        return trail

    def make_op(self, opclass: type, body: dict | None = None, static: dict | None = None,
                renames: tuple = ()) -> dict:
        """Opcode dict from body parameters plus URL-derived ``static`` ones."""
        params = dict(self.body_dict() if body is None else body)
        for old, new in renames:
            if old in params:
                if new in params:
                    raise bad_request("Parameter '%s' was renamed to '%s', but both are "
                                      "given" % (old, new))
                params[new] = params.pop(old)
        static = dict(static or {})
        clash = sorted((set(static) | {"reason"}) & set(params))
        if clash:
            raise bad_request("Can't overwrite static parameters %s" % ", ".join(clash))
        params.update(static)
        return build_op(opclass, params, self.reason_trail())

    def submit(self, ops: list[dict]) -> int:
        return self.luxi.call("SubmitJob", ops)


def build_op(opclass: type, params: dict, reason: list) -> dict:
    """Validate ``params`` as ``opclass``; return the opcode dict or raise 400."""
    try:
        op = opclass(**params)
        op.reason = reason
        op.validate(set_defaults=True)
    except errors.OpPrereqError as err:
        raise bad_request("Invalid body parameters: %s" % errors.format_error(err)) \
            from None
    except TypeError as err:
        raise bad_request("Invalid body parameters: %s" % err) from None
    return op.to_dict()


def check_type(value, kind: type | tuple, what: str):
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise bad_request("Invalid %s: expected %s, got %r"
                          % (what, getattr(kind, "__name__", kind), value))
    return value


def opcode_params(opclass: type) -> dict:
    """{name: (default, check, doc)} of an opcode, common parameters included."""
    return {p[0]: p[1:] for p in opclass.all_params()}


NO_DEFAULT = opcodes._NO_DEFAULT


# --- reading through luxi ------------------------------------------------------------
def name_filter(field_name: str, names: list[str] | None):
    if not names:
        return None
    return ["|"] + [["=", field_name, n] for n in names]


def query_dicts(ctx: Ctx, what: str, fields: list[str], qfilter=None,
                optional: bool = False) -> list[dict]:
    """Rows of a luxi Query as {field: value}; values of non-normal rows are None.

    With ``optional`` a resource type this cluster's query daemon does not know yet
    (e.g. networks or filters, which cannot exist without their logical units) reads
    as empty instead of failing.
    """
    try:
        result = ctx.luxi.call("Query", what, fields, qfilter)
    except errors.OpPrereqError as err:
        if optional and "unknown" in str(err.args[0]).lower() and what in str(err.args[0]):
            return []
        raise
    rows = []
    for row in result["data"]:
        rows.append({name: (value if status == constants.RS_NORMAL else None)
                     for name, (status, value) in zip(fields, row, strict=True)})
    return rows


def query_one(ctx: Ctx, what: str, fields: list[str], name: str, kind: str,
              key: str = "name", optional: bool = False) -> dict:
    rows = query_dicts(ctx, what, fields, ["=", key, name], optional=optional)
    if not rows:
        raise not_found("%s '%s' not found" % (kind, name))
    return rows[0]


def stub_list(rows: list[dict], key: str, out_key: str, uri: str) -> list[dict]:
    """``[{out_key: name, "uri": ...}]`` for the non-bulk answers of list resources."""
    return [{out_key: row[key], "uri": uri % row[key]} for row in rows]


# --- tags (cluster, nodes, instances, groups, networks) --------------------------------
def tag_resource(path: str, name: str, kind: str, param: str | None,
                 check_exists: Callable | None = None, **extra) -> Resource:
    """GET/PUT/DELETE of the tags of one object (``?tag=`` arguments)."""

    def _object_name(ctx: Ctx) -> str | None:
        return ctx.params[param] if param else None

    def get(ctx: Ctx):
        obj = _object_name(ctx)
        if check_exists is not None:
            check_exists(ctx, obj)
        try:
            return ctx.luxi.call("QueryTags", kind, obj or "")
        except errors.OpPrereqError as err:
            if len(err.args) > 1 and err.args[1] == errors.ECODE_NOENT:
                raise not_found(errors.format_error(err)) from None
            raise

    def change(opclass):
        def handler(ctx: Ctx):
            tags = ctx.qlist("tag")
            if not tags:
                raise bad_request("Please specify tag(s) using the 'tag' parameter")
            op = build_op(opclass, {"kind": kind, "name": _object_name(ctx),
                                    "tags": tags, "dry_run": ctx.dry_run()},
                          ctx.reason_trail())
            return ctx.submit([op])
        return handler

    tag_query = (Q_TAGS, Q_DRY_RUN, Q_REASON)
    return Resource(path, name, {
        "GET": Method(get, "List the tags", result={"type": "array",
                                                     "items": {"type": "string"}}),
        "PUT": Method(change(opcodes.OpTagsSet), "Add tags (job)", ACCESS_WRITE,
                      tag_query, Body(ignored=True), "job", (opcodes.OpTagsSet,)),
        "DELETE": Method(change(opcodes.OpTagsDel), "Remove tags (job)", ACCESS_WRITE,
                         tag_query, Body(ignored=True), "job", (opcodes.OpTagsDel,)),
    }, **extra)


def opcode_method(opclass: type, summary: str, static: Callable | None = None,
                  renames: tuple = (), query: tuple = (), dry_run: bool = False,
                  access: tuple = ACCESS_WRITE, static_names: tuple = (),
                  prepare: Callable | None = None) -> Method:
    """A method whose body holds ``opclass`` parameters; it answers with a job id.

    ``static(ctx)`` returns the parameters taken from the URL and query; with
    ``dry_run`` the ``?dry-run`` argument sets the opcode's ``dry_run``.
    ``prepare(ctx, body)`` may rewrite the body first (legacy forms).
    """

    def handler(ctx: Ctx):
        values = dict(static(ctx)) if static else {}
        if dry_run:
            values["dry_run"] = ctx.dry_run()
        body = dict(ctx.body_dict())
        if prepare is not None:
            body = prepare(ctx, body)
        return ctx.submit([ctx.make_op(opclass, body, values, renames)])

    names = tuple(static_names) + (("dry_run",) if dry_run else ())
    args = tuple(query) + ((Q_DRY_RUN,) if dry_run else ()) + (Q_REASON,)
    return Method(handler, summary, access, args,
                  Body(opcode=opclass, renames=renames, static=names), "job")
