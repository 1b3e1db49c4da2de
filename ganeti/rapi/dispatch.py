"""The RAPI request path: route, check method and credentials, parse the body, run
the handler, and turn its result or error into an HTTP response.

``RapiHandler`` is the callable given to ``ganeti.http.server.HttpServer``; the
routes come from the same ``Resource`` declarations the OpenAPI document is made of.
"""

import json
import logging
import queue
import urllib.parse

from ganeti import errors
from ganeti import luxi
from ganeti.http.server import HttpRequest, HttpResponse, error_response
from ganeti.rapi import auth
from ganeti.rapi import baserlib as B
from ganeti.rapi import rlib_cluster, rlib_groups, rlib_instances, rlib_nodes

ALL_RESOURCES = (rlib_cluster.RESOURCES + rlib_nodes.RESOURCES + rlib_instances.RESOURCES
                 + rlib_groups.RESOURCES)
OPENAPI_PATH = "/openapi.json"
HANDLED_VERBS = frozenset(["GET", "PUT", "POST", "DELETE"])
MAX_BODY = 10 * 1024 * 1024
JSON_TYPE = "application/json"
MAX_CACHED_RESPONSES = 512
MAX_CACHED_BYTES = 64 * 1024 * 1024

_log = logging.getLogger(__name__)


class Router:
    """Path -> (Resource, URL parameters); static paths are a dict lookup."""

    def __init__(self, resources):
        self.resources = list(resources)
        self._static = {r.path: r for r in self.resources if "{" not in r.path}
        self._dynamic = [r for r in self.resources if "{" in r.path]
        names = [r.name for r in self.resources]
        if len(names) != len(set(names)):
            raise ValueError("duplicate resource names")

    def match(self, path: str):
        res = self._static.get(path)
        if res is not None:
            return res, {}
        for res in self._dynamic:
            found = res.regex.match(path)
            if found:
                return res, found.groupdict()
        return None, None


class LuxiPool:
    """Connected luxi clients shared by the request threads.

    A client that saw any error is dropped (its connection may be half-used); a
    new one connects on demand.
    """

    def __init__(self, factory=None, size: int = 20):
        self._factory = factory or luxi.Client
        self._idle: queue.LifoQueue = queue.LifoQueue(maxsize=size)

    def call(self, method: str, *args):
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._factory()
        try:
            result = client.call_method(method, *args)
        except BaseException:
            client.close()
            raise
        try:
            self._idle.put_nowait(client)
        except queue.Full:
            client.close()
        return result

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def error_status(err: Exception) -> tuple[int, str]:
    """HTTP status and message for an error raised while handling a request."""
    message = errors.format_error(err)
    if isinstance(err, errors.OpPrereqError):
        code = err.args[1] if len(err.args) > 1 else None
        return (404 if code == errors.ECODE_NOENT else 400), message
    if isinstance(err, (errors.JobQueueFull, errors.JobQueueDrainError)):
        return 503, message
    if isinstance(err, errors.JobLost):
        return 404, message
    if isinstance(err, errors.NoMasterError):
        return 502, "Can't connect to the master daemon: %s" % message
    if isinstance(err, errors.TimeoutError):
        return 504, "Timeout while talking to the master daemon: %s" % message
    if isinstance(err, errors.ProtocolError):
        if message.startswith("Unknown method"):
            return 501, "Not supported by this cluster yet (%s)" % message
        return 502, "Error talking to the master daemon: %s" % message
    if isinstance(err, (errors.OpCodeUnknown, errors.TagError, errors.ParameterError,
                        errors.TypeEnforcementError, errors.QueryFilterParseError)):
        return 400, message
    if isinstance(err, errors.PermissionError):
        return 500, "Permission denied on the master daemon's socket: %s" % message
    return 500, message


def content_type_ok(value: str | None) -> bool:
    """``application/json``, parameters such as ``; charset=utf-8`` allowed."""
    if value is None:
        return False
    media = value.split(";", 1)[0].strip().lower()
    return media == JSON_TYPE


def _reject_constant(name: str):
    raise ValueError("%s is not valid JSON" % name)


def parse_body(request: HttpRequest):
    """The decoded JSON body, or None when there is none; raises HttpError."""
    if not request.body:
        return None
    ctype = request.headers.get("Content-Type")
    if not content_type_ok(ctype):
        raise B.HttpError(415, "Unsupported media type %r; the body must be %s"
                          % (ctype or "application/octet-stream", JSON_TYPE))
    try:
        text = request.body.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise B.bad_request("Unable to parse JSON data: %s" % err) from None


def result_of(method, ctx):
    return method.handler(ctx)


class RapiHandler:
    """Answers one HTTP request of the remote API."""

    def __init__(self, users: auth.UsersStore, luxi_pool, require_auth: bool = False,
                 resources=ALL_RESOURCES, options=None):
        self.users = users
        self.luxi = luxi_pool
        self.require_auth = require_auth
        self.router = Router(resources)
        self.options = options
        self._openapi: bytes | None = None
        self._responses: dict = {}
        self._responses_size = 0

    def openapi_bytes(self) -> bytes:
        if self._openapi is None:
            from ganeti.rapi import openapi
            self._openapi = openapi.dump(openapi.build(self.router.resources))
        return self._openapi

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = None
        try:
            response, user = self._handle(request)
        except B.HttpError as err:
            response = error_response(err.status, err.message, err.headers)
        except errors.GenericError as err:
            status, message = error_status(err)
            if status >= 500:
                _log.warning("%s %s: %s", request.method, request.path, message)
            response = error_response(status, message)
        except Exception:  # noqa: BLE001 - logged, answered with 500
            _log.exception("Error while handling %s %s", request.method, request.path)
            response = error_response(500, "Internal error while handling the request")
        level = logging.INFO if request.method != "GET" else logging.DEBUG
        _log.log(level, "%s %s %s user=%s -> %d", request.client_address[0],
                 request.method, request.path, user or "-", response.status)
        return response

    def _handle(self, request: HttpRequest):
        try:
            path = urllib.parse.unquote(request.path, errors="strict")
        except UnicodeDecodeError:
            raise B.bad_request("The path is not valid UTF-8") from None
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        if request.method not in HANDLED_VERBS:
            raise B.HttpError(501, "Method %s is not supported" % request.method)
        if path == OPENAPI_PATH:
            if request.method != "GET":
                raise B.HttpError(501, "Method %s is unsupported for path %s"
                                  % (request.method, path))
            decision = self._authorize(B.ACCESS_NONE, request)
            return HttpResponse(200, self.openapi_bytes()), decision.user
        resource, params = self.router.match(path)
        if resource is None:
            raise B.not_found("Resource %s not found" % path)
        method = resource.methods.get(request.method)
        if method is None:
            raise B.HttpError(501, "Method %s is unsupported for path %s"
                              % (request.method, path))
        decision = self._authorize(method.access, request)
        body = parse_body(request)
        if body is None and method.body is not None and method.body.required:
            raise B.bad_request("A request body is required")
        ctx = B.Ctx(resource, request.method, params, request.query, body, decision.user,
                    request.client_address[0], self.luxi, self.options)
        if request.method != "GET" or body is not None \
                or not hasattr(self.luxi, "begin_record"):
            return HttpResponse(200, json.dumps(result_of(method, ctx))), decision.user
        # reads built only from cached luxi answers reuse their encoded response
        ckey = (path, request.query)
        hit = self._responses.get(ckey)
        if hit is not None and self.luxi.still_valid(hit[0]):
            return HttpResponse(200, hit[1]), decision.user
        self.luxi.begin_record()
        try:
            data = json.dumps(result_of(method, ctx)).encode("utf-8")
        finally:
            records = self.luxi.end_record()
        if records:
            if len(self._responses) >= MAX_CACHED_RESPONSES or \
                    self._responses_size + len(data) > MAX_CACHED_BYTES:
                self._responses.clear()
                self._responses_size = 0
            self._responses[ckey] = (records, data)
            self._responses_size += len(data)
        return HttpResponse(200, data), decision.user

    def _authorize(self, access: tuple, request: HttpRequest) -> auth.AuthDecision:
        decision = auth.authorize(access, self.require_auth,
                                  request.headers.get("Authorization"), self.users.get())
        if decision.status == 401:
            raise B.HttpError(401, decision.message,
                              {"WWW-Authenticate": auth.WWW_AUTHENTICATE})
        if decision.status != 200:
            raise B.HttpError(decision.status, decision.message)
        return decision
