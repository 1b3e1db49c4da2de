"""OpenAPI 3 description of the remote API, generated from the resource declarations
the server routes with (``ganeti.rapi.dispatch.ALL_RESOURCES``).

Opcode bodies get their JSON schema from the opcode parameter declarations; the
committed copy is doc/rapi-openapi.json (``python3 -m ganeti.rapi.openapi FILE``).
"""

import json
import sys

from ganeti import opcodes
from ganeti.rapi import auth
from ganeti.rapi import baserlib as B

OPENAPI_VERSION = "3.0.3"

_SIMPLE = {
    opcodes.t_any: {},
    opcodes.t_str: {"type": "string"},
    opcodes.t_nonempty_str: {"type": "string", "minLength": 1},
    opcodes.t_int: {"type": "integer"},
    opcodes.t_nonneg_int: {"type": "integer", "minimum": 0},
    opcodes.t_number: {"type": "number"},
    opcodes.t_bool: {"type": "boolean"},
    opcodes.t_list: {"type": "array"},
    opcodes.t_dict: {"type": "object"},
    opcodes.t_dict_of_dicts: {"type": "object",
                              "additionalProperties": {"type": "object"}},
    opcodes.t_name: {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$",
                     "maxLength": 255},
}

ERROR_SCHEMA = {"type": "object", "required": ["code", "message"], "properties": {
    "code": {"type": "integer"}, "message": {"type": "string"},
    "explain": {"type": "string"}}}
_ERRORS = {
    "400": "Bad request: invalid query argument or body",
    "401": "Authentication missing or failed",
    "403": "The user lacks the needed capability",
    "404": "Unknown resource or object",
    "415": "The body is not application/json",
    "501": "Not implemented",
    "502": "The master daemon is unreachable or failed",
    "503": "Job queue full or drained",
}


def _closure(check) -> dict:
    code = getattr(check, "__code__", None)
    cells = getattr(check, "__closure__", None) or ()
    if code is None:
        return {}
    return {name: cell.cell_contents for name, cell in zip(code.co_freevars, cells,
                                                          strict=False)}


def _json_value(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def check_schema(check) -> dict:
    """JSON schema of an opcode parameter check (``{}`` when it cannot be told)."""
    try:
        if check in _SIMPLE:
            return dict(_SIMPLE[check])
    except TypeError:
        return {}
    name = getattr(check, "__name__", "")
    cells = _closure(check)
    if name.startswith("maybe_") and "check" in cells:
        inner = check_schema(cells["check"])
        if not inner:
            return {}
        inner["nullable"] = True
        if "enum" in inner and None not in inner["enum"]:
            inner["enum"] = inner["enum"] + [None]
        return inner
    if name.startswith("list_of_") and "check" in cells:
        return {"type": "array", "items": check_schema(cells["check"])}
    if name.startswith("one_of(") and "values" in cells:
        values = [v for v in cells["values"] if _json_value(v)]
        values.sort(key=lambda v: (str(type(v)), str(v)))
        schema = {"enum": values}
        if values and all(isinstance(v, str) for v in values):
            schema["type"] = "string"
        return schema
    return {}


def opcode_schema(opclass: type, static: tuple = (), renames: tuple = ()) -> dict:
    """Object schema of an opcode's parameters, minus those the URL provides."""
    props, required = {}, []
    for pname, default, check, doc in opclass.all_params():
        if pname in static or pname == "reason":
            continue
        schema = check_schema(check)
        schema["description"] = doc
        if default is B.NO_DEFAULT:
            required.append(pname)
        elif default is not None and _json_value(default):
            schema["default"] = default
        props[pname] = schema
    for old, new in renames:
        if new in props:
            alias = dict(props[new])
            alias.pop("default", None)
            alias["description"] = "Old name of '%s'" % new
            props[old] = alias
    schema = {"type": "object", "properties": props,
              "x-ganeti-opcode": opclass.OP_ID}
    if required:
        schema["required"] = required
    return schema


def body_schema(body: B.Body) -> dict:
    if body.opcode is not None:
        schema = opcode_schema(body.opcode, body.static, body.renames)
        if body.schema:
            schema["properties"].update(body.schema)
        return schema
    if body.schema is not None:
        return body.schema
    return {"description": "Accepted (if JSON) and ignored"}


def _query_parameter(arg: B.QueryArg) -> dict:
    if arg.kind == "bool":
        schema = {"type": "integer", "enum": [0, 1]}
    elif arg.kind == "int":
        schema = {"type": "integer"}
    elif arg.kind == "list":
        schema = {"type": "array", "items": {"type": "string"}}
    else:
        schema = {"type": "string"}
        if arg.enum:
            schema["enum"] = list(arg.enum)
    param = {"name": arg.name, "in": "query", "required": arg.required,
             "description": arg.doc, "schema": schema}
    if arg.kind == "list":
        param["style"] = "form"
        param["explode"] = True
    return param


def _path_parameter(name: str, pattern: str) -> dict:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^(%s)$" % pattern}}


def _operation(res: B.Resource, verb: str, method: B.Method) -> dict:
    op = {"operationId": "%s_%s" % (verb.lower(), res.name), "summary": method.summary,
          "tags": [_tag(res.path)], "x-ganeti-access": list(method.access)}
    params = [_query_parameter(a) for a in method.query]
    if params:
        op["parameters"] = params
    ops = list(method.opcodes)
    if method.body is not None and method.body.opcode is not None:
        ops.insert(0, method.body.opcode)
    if ops:
        op["x-ganeti-opcodes"] = [o.OP_ID for o in ops]
    if method.body is not None:
        op["requestBody"] = {"required": method.body.required, "content": {
            "application/json": {"schema": body_schema(method.body)}}}
    if method.result == "job":
        result = {"type": "integer", "description": "Job id"}
    else:
        result = method.result if isinstance(method.result, dict) else {}
    responses = {"200": {"description": "Success", "content": {
        "application/json": {"schema": result}}}}
    for code, text in _ERRORS.items():
        responses[code] = {"description": text, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
    op["responses"] = responses
    # anonymous access is allowed unless a capability is needed (or the daemon runs
    # with --require-authentication)
    op["security"] = [{"basicAuth": []}] if method.access else [{}, {"basicAuth": []}]
    return op


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] != "2":
        return "root"
    return parts[1]


def build(resources) -> dict:
    """The OpenAPI document of ``resources`` (deterministic for a given tree)."""
    paths = {}
    for res in resources:
        item = {}
        names = [p[1:-1] for p in res.path.split("/") if p.startswith("{")]
        if names:
            item["parameters"] = [_path_parameter(n, res.params.get(n, B.NAME_PATTERN))
                                  for n in names]
        for verb in ("GET", "PUT", "POST", "DELETE"):
            if verb in res.methods:
                item[verb.lower()] = _operation(res, verb, res.methods[verb])
        paths[res.path] = item
    paths["/openapi.json"] = {"get": {
        "operationId": "get_openapi", "summary": "This document", "tags": ["root"],
        "x-ganeti-access": [],
        "responses": {"200": {"description": "OpenAPI document",
                              "content": {"application/json": {"schema": {
                                  "type": "object"}}}}},
        "security": [{}, {"basicAuth": []}]}}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Ganeti Remote API", "version": "2",
                 "description": "RAPI v2: HTTPS, HTTP Basic authentication (realm "
                                "\"%s\"); writes need a user with the 'write' "
                                "capability and answer with a job id." % auth.REALM},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}}},
    }


def dump(doc: dict) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")


def generate() -> bytes:
    from ganeti.rapi import dispatch
    return dump(build(dispatch.ALL_RESOURCES))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data = generate()
    if argv:
        with open(argv[0], "wb") as fh:
            fh.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
