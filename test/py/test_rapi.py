"""Tests for the RAPI request path (ganeti.rapi.dispatch, baserlib and the resource
modules) with a fake luxi client: routing, access checks, body validation, opcode
construction, error mapping, and the committed OpenAPI document.
"""

import base64
import json
import os
from email.message import Message

import pytest

from ganeti import errors
from ganeti import opcodes
from ganeti.http.server import HttpRequest
from ganeti.rapi import auth, dispatch, openapi

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeLuxi:
    """Records calls; answers Query with one row of ``<field>-value`` strings."""

    def __init__(self):
        self.calls = []
        self.rows = 1
        self.fail = None

    def call(self, method, *args):
        self.calls.append((method, args))
        if self.fail is not None:
            raise self.fail
        if method == "Query":
            _what, fields, _qfilter = args
            return {"fields": [], "data": [[[0, "%s-value" % f] for f in fields]
                                           for _ in range(self.rows)]}
        if method == "SubmitJob":
            return 42
        if method == "QueryJobs":
            return [[3], [1], None]
        if method == "QueryTags":
            return ["t1"]
        if method == "QueryClusterInfo":
            return {"volume_group_name": "vg", "drbd_usermode_helper": "/bin/true"}
        if method == "WaitForJobChange":
            return "nochange"
        raise AssertionError("unexpected luxi call %s" % method)

    def submitted(self) -> list:
        return [args[0] for method, args in self.calls if method == "SubmitJob"]


class StaticUsers:
    def get(self):
        return auth.parse_users("w {cleartext}pw write\nr pw read\n")[0]


@pytest.fixture
def luxi():
    return FakeLuxi()


@pytest.fixture
def handler(luxi):
    return dispatch.RapiHandler(StaticUsers(), luxi)


def call(handler, method, path, body=None, user=None, query="", ctype="application/json",
         raw=None):
    headers = Message()
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    data = raw if raw is not None else b""
    if body is not None:
        data = json.dumps(body).encode()
    if data and ctype:
        headers["Content-Type"] = ctype
    resp = handler(HttpRequest(method, path, query, headers, data, ("192.0.2.7", 1234)))
    return resp.status, json.loads(resp.body), resp.headers


# --- routing --------------------------------------------------------------------------
def test_every_resource_of_the_spec_is_routed():
    router = dispatch.Router(dispatch.ALL_RESOURCES)
    paths = {
        "/": "root", "/2": "2", "/version": "version", "/2/info": "info",
        "/2/features": "features", "/2/os": "os", "/2/tags": "tags",
        "/2/redistribute-config": "redist_config", "/2/modify": "cluster_modify",
        "/2/jobs": "jobs", "/2/jobs/17": "jobs_id", "/2/jobs/17/wait": "jobs_id_wait",
        "/2/filters": "filters", "/2/filters/ab-12": "filters_uuid",
        "/2/nodes": "nodes", "/2/nodes/n1.example.com": "nodes_name",
        "/2/nodes/n1/role": "nodes_name_role", "/2/nodes/n1/modify": "nodes_name_modify",
        "/2/nodes/n1/powercycle": "nodes_name_powercycle",
        "/2/nodes/n1/evacuate": "nodes_name_evacuate",
        "/2/nodes/n1/migrate": "nodes_name_migrate",
        "/2/nodes/n1/storage": "nodes_name_storage",
        "/2/nodes/n1/storage/modify": "nodes_name_storage_modify",
        "/2/nodes/n1/storage/repair": "nodes_name_storage_repair",
        "/2/nodes/n1/tags": "nodes_name_tags",
        "/2/groups": "groups", "/2/groups/g_1": "groups_name",
        "/2/groups/g/modify": "groups_name_modify", "/2/groups/g/rename": "groups_name_rename",
        "/2/groups/g/assign-nodes": "groups_name_assign_nodes",
        "/2/groups/g/tags": "groups_name_tags",
        "/2/networks": "networks", "/2/networks/net": "networks_name",
        "/2/networks/net/modify": "networks_name_modify",
        "/2/networks/net/connect": "networks_name_connect",
        "/2/networks/net/disconnect": "networks_name_disconnect",
        "/2/networks/net/rename": "networks_name_rename",
        "/2/networks/net/tags": "networks_name_tags",
        "/2/instances": "instances", "/2/instances-multi-alloc": "instances_multi_alloc",
        "/2/instances/i": "instances_name", "/2/instances/i/info": "instances_name_info",
        "/2/instances/i/disk/0/grow": "instances_name_disk_grow",
        "/2/instances/i/console": "instances_name_console",
        "/2/query/node": "query", "/2/query/filter/fields": "query_fields",
    }
    for verb in ("reboot", "shutdown", "startup", "reinstall", "replace-disks",
                 "activate-disks", "deactivate-disks", "recreate-disks", "prepare-export",
                 "export", "migrate", "failover", "rename", "modify", "tags"):
        paths["/2/instances/i/%s" % verb] = "instances_name_%s" % verb.replace("-", "_")
    for path, name in paths.items():
        res, _params = router.match(path)
        assert res is not None and res.name == name, path
    res, params = router.match("/2/instances/web-1.example/disk/3/grow")
    assert params == {"instance_name": "web-1.example", "disk_index": "3"}
    for path in ("/2/jobs/abc", "/2/instances/a/b/c", "/2/query/nosuch", "/3/info",
                 "/2/instances/i/disk/x/grow", "/2/nodes/a b"):
        assert router.match(path) == (None, None), path


def test_unknown_path_404_and_method_501(handler):
    assert call(handler, "GET", "/2/nothing")[0] == 404
    status, body, _ = call(handler, "POST", "/2/info", {}, user="w:pw")
    assert status == 501 and body["message"] == "Method POST is unsupported for path /2/info"
    assert call(handler, "HEAD", "/2/info")[0] == 501
    # trailing slashes and percent-encoding are tolerated
    assert call(handler, "GET", "/2/info/")[0] == 200
    assert call(handler, "GET", "/2/nodes/node%31")[0] == 200
    assert call(handler, "GET", "/2/nodes/%ff")[0] == 400


# --- access ---------------------------------------------------------------------------------
def test_access_rules(handler):
    assert call(handler, "GET", "/2/info")[0] == 200
    status, _, headers = call(handler, "PUT", "/2/tags", query="tag=a")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="Ganeti Remote API"'
    assert call(handler, "PUT", "/2/tags", user="r:pw", query="tag=a")[0] == 403
    assert call(handler, "PUT", "/2/tags", user="w:pw", query="tag=a")[0] == 200
    assert call(handler, "GET", "/2/query/node", query="fields=name")[0] == 401
    assert call(handler, "GET", "/2/query/node", user="r:pw", query="fields=name")[0] == 200
    assert call(handler, "GET", "/2/jobs/1/wait", {"fields": []}, user="r:pw")[0] == 403
    assert call(handler, "GET", "/2/info", user="w:bad")[0] == 401


def test_require_authentication(luxi):
    handler = dispatch.RapiHandler(StaticUsers(), luxi, require_auth=True)
    assert call(handler, "GET", "/2/info")[0] == 401
    assert call(handler, "GET", "/openapi.json")[0] == 401
    assert call(handler, "GET", "/2/info", user="r:pw")[0] == 200


# --- bodies ----------------------------------------------------------------------------------
def test_body_content_type_and_json(handler):
    status, body, _ = call(handler, "POST", "/2/nodes/n1/modify", raw=b"{bad",
                           user="w:pw")
    assert status == 400 and body["message"].startswith("Unable to parse JSON data")
    assert call(handler, "POST", "/2/nodes/n1/modify", raw=b"NaN", user="w:pw")[0] == 400
    assert call(handler, "POST", "/2/nodes/n1/modify", raw=b"\xff", user="w:pw")[0] == 400
    assert call(handler, "POST", "/2/nodes/n1/modify", {}, user="w:pw",
                ctype="text/plain")[0] == 415
    assert call(handler, "POST", "/2/nodes/n1/modify", {}, user="w:pw", ctype=None)[0] == 415
    assert call(handler, "POST", "/2/nodes/n1/modify", {"drained": True}, user="w:pw",
                ctype="Application/JSON; charset=utf-8")[0] == 200
    assert call(handler, "POST", "/2/nodes/n1/modify", [1], user="w:pw")[0] == 400


def test_opcode_from_body_static_and_reason(handler, luxi):
    status, body, _ = call(handler, "POST", "/2/instances/inst1/reboot",
                           {"shutdown_timeout": 5}, user="w:pw",
                           query="type=soft&dry-run=1&reason=maintenance")
    assert (status, body) == (200, 42)
    (op,) = luxi.submitted()[-1]
    assert op["OP_ID"] == "OP_INSTANCE_REBOOT"
    assert (op["instance_name"], op["reboot_type"], op["shutdown_timeout"],
            op["dry_run"]) == ("inst1", "soft", 5, True)
    sources = [entry[0] for entry in op["reason"]]
    assert sources == ["gnt:user", "gnt:library:rlib2:instances_name_reboot",
                       "gnt:client:rapi"]
    assert op["reason"][0][1] == "maintenance"
    assert op["reason"][2][1] == "user=w address=192.0.2.7"
    assert all(isinstance(entry[2], int) for entry in op["reason"])


def test_static_parameters_cannot_be_overridden(handler):
    for body in ({"instance_name": "other"}, {"reason": []}):
        status, resp, _ = call(handler, "PUT", "/2/instances/i/modify", body, user="w:pw")
        assert status == 400 and "static" in resp["message"], body
    status, resp, _ = call(handler, "POST", "/2/instances/i/reboot", {"dry_run": True},
                           user="w:pw", query="dry-run=1")
    assert status == 400


def test_invalid_body_parameters(handler):
    status, body, _ = call(handler, "PUT", "/2/instances/i/modify", {"nosuch": 1},
                           user="w:pw")
    assert status == 400 and body["message"].startswith("Invalid body parameters")
    status, body, _ = call(handler, "PUT", "/2/instances/i/modify", {"offline": "yes"},
                           user="w:pw")
    assert status == 400 and "offline" in body["message"]
    status, body, _ = call(handler, "POST", "/2/nodes/n/evacuate", {}, user="w:pw")
    assert status == 400 and "mode" in body["message"]
    status, body, _ = call(handler, "GET", "/2/instances", query="bulk=true")
    assert status == 400


def test_renamed_parameters(handler, luxi):
    assert call(handler, "POST", "/2/groups", {"name": "g2"}, user="w:pw")[0] == 200
    assert luxi.submitted()[-1][0]["group_name"] == "g2"
    status, body, _ = call(handler, "POST", "/2/groups", {"name": "a", "group_name": "b"},
                           user="w:pw")
    assert status == 400 and "renamed" in body["message"]
    assert call(handler, "PUT", "/2/instances/i/export",
                {"destination": "node2", "mode": "local"}, user="w:pw")[0] == 200
    assert luxi.submitted()[-1][0]["target_node"] == "node2"


def test_instance_create_versions(handler, luxi):
    base = {"name": "i1", "disk_template": "diskless", "disks": [], "nics": [],
            "os": "noop", "mode": "create",
            "hvparams": {"usb_devices": "a b"}}
    status, body, _ = call(handler, "POST", "/2/instances", base, user="w:pw")
    assert status == 400 and "version 0" in body["message"]
    assert call(handler, "POST", "/2/instances", dict(base, __version__=2),
                user="w:pw")[0] == 400
    assert call(handler, "POST", "/2/instances", dict(base, __version__=1),
                user="w:pw")[0] == 200
    (op,) = luxi.submitted()[-1]
    assert (op["instance_name"], op["os_type"]) == ("i1", "noop")
    assert op["hvparams"]["usb_devices"] == "a,b"


def test_multi_alloc_and_reinstall(handler, luxi):
    assert call(handler, "POST", "/2/instances-multi-alloc", {}, user="w:pw")[0] == 400
    body = {"instances": [{"name": "a", "disk_template": "diskless", "disks": [],
                           "nics": [], "os": "noop"}], "iallocator": "hail"}
    assert call(handler, "POST", "/2/instances-multi-alloc", body, user="w:pw")[0] == 200
    (op,) = luxi.submitted()[-1]
    assert op["OP_ID"] == "OP_INSTANCE_MULTI_ALLOC"
    assert op["instances"][0]["OP_ID"] == "OP_INSTANCE_CREATE"
    assert call(handler, "POST", "/2/instances/i/reinstall", {"os": "noop", "start": False},
                user="w:pw")[0] == 200
    assert [o["OP_ID"] for o in luxi.submitted()[-1]] == ["OP_INSTANCE_SHUTDOWN",
                                                         "OP_INSTANCE_REINSTALL"]
    assert call(handler, "POST", "/2/instances/i/reinstall", {"os": "x"}, user="w:pw",
                query="nostartup=1")[0] == 400


def test_node_role_and_legacy_query_forms(handler, luxi):
    assert call(handler, "PUT", "/2/nodes/n/role", "drained", user="w:pw",
                query="force=1")[0] == 200
    op = luxi.submitted()[-1][0]
    assert (op["drained"], op["force"]) == (True, True)
    assert call(handler, "PUT", "/2/nodes/n/role", "master", user="w:pw")[0] == 400
    assert call(handler, "POST", "/2/nodes/n/migrate", user="w:pw",
                query="live=0")[0] == 200
    assert luxi.submitted()[-1][0]["mode"] == "non-live"
    assert call(handler, "POST", "/2/nodes/n/migrate", user="w:pw",
                query="live=0&mode=live")[0] == 400
    assert call(handler, "POST", "/2/instances/i/replace-disks", user="w:pw",
                query="mode=replace_auto&disks=0,1&early_release=1")[0] == 200
    op = luxi.submitted()[-1][0]
    assert (op["disks"], op["early_release"]) == ([0, 1], True)


def test_tags_need_tag_argument(handler, luxi):
    assert call(handler, "PUT", "/2/nodes/n/tags", user="w:pw")[0] == 400
    assert call(handler, "DELETE", "/2/tags", user="w:pw", query="tag=a&tag=b")[0] == 200
    op = luxi.submitted()[-1][0]
    assert (op["OP_ID"], op["kind"], op["tags"]) == ("OP_TAGS_DEL", "cluster", ["a", "b"])


def test_compression_tools_forbidden(handler):
    assert call(handler, "PUT", "/2/modify", {"compression_tools": ["gzip"]},
                user="w:pw")[0] == 403


# --- reads -------------------------------------------------------------------------------------
def test_list_stubs_and_bulk(handler, luxi):
    luxi.rows = 2
    status, body, _ = call(handler, "GET", "/2/nodes")
    assert body == [{"id": "name-value", "uri": "/2/nodes/name-value"}] * 2
    status, body, _ = call(handler, "GET", "/2/groups")
    assert body[0] == {"name": "name-value", "uri": "/2/groups/name-value"}
    status, body, _ = call(handler, "GET", "/2/instances", query="bulk=1")
    assert status == 200 and body[0]["nic.ips"] == "nic.ips-value"
    status, body, _ = call(handler, "GET", "/2/jobs")
    assert body == [{"id": 1, "uri": "/2/jobs/1"}, {"id": 3, "uri": "/2/jobs/3"}]
    status, body, _ = call(handler, "GET", "/2/info")
    assert body["vg_name"] == "vg" and body["drbd_helper"] == "/bin/true"


def test_single_item_missing_is_404(handler, luxi):
    luxi.rows = 0
    assert call(handler, "GET", "/2/instances/nosuch")[0] == 404
    assert call(handler, "GET", "/2/nodes/nosuch/role")[0] == 404
    assert call(handler, "GET", "/2/instances/nosuch/tags")[0] == 404


def test_wait_validation(handler):
    assert call(handler, "GET", "/2/jobs/1/wait", None, user="w:pw")[0] == 400
    assert call(handler, "GET", "/2/jobs/1/wait", {"fields": "status"},
                user="w:pw")[0] == 400
    status, body, _ = call(handler, "GET", "/2/jobs/1/wait", {"fields": ["status"]},
                           user="w:pw")
    assert (status, body) == (200, None)


@pytest.mark.parametrize("err,status", [
    (errors.OpPrereqError("bad", errors.ECODE_INVAL), 400),
    (errors.OpPrereqError("gone", errors.ECODE_NOENT), 404),
    (errors.JobQueueFull("full"), 503),
    (errors.JobQueueDrainError("drained"), 503),
    (errors.NoMasterError("/sock", "refused"), 502),
    (errors.TimeoutError("slow"), 504),
    (errors.ProtocolError("Unknown method 'ReplaceFilter'"), 501),
    (errors.ProtocolError("garbage"), 502),
    (errors.ConfigurationError("broken"), 500),
])
def test_luxi_errors_map_to_statuses(handler, luxi, err, status):
    luxi.fail = err
    assert call(handler, "GET", "/2/nodes")[0] == status


def test_unexpected_exception_is_500_not_a_crash(handler, luxi):
    luxi.fail = ZeroDivisionError("bug")
    status, body, _ = call(handler, "GET", "/2/nodes")
    assert status == 500 and body["code"] == 500


# --- opcodes and OpenAPI ---------------------------------------------------------------------
def test_every_job_opcode_is_registered():
    for res in dispatch.ALL_RESOURCES:
        for method in res.methods.values():
            ops = list(method.opcodes)
            if method.body is not None and method.body.opcode is not None:
                ops.append(method.body.opcode)
            for op in ops:
                assert opcodes.OP_MAPPING[op.OP_ID] is op


def test_openapi_describes_every_route():
    doc = openapi.build(dispatch.ALL_RESOURCES)
    for res in dispatch.ALL_RESOURCES:
        item = doc["paths"][res.path]
        assert {k.upper() for k in item if k != "parameters"} == set(res.methods)
    reboot = doc["paths"]["/2/instances/{instance_name}/reboot"]["post"]
    props = reboot["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "instance_name" not in props and "reason" not in props
    assert props["shutdown_timeout"]["type"] == "integer"
    assert reboot["x-ganeti-access"] == ["write"]
    create = doc["paths"]["/2/instances"]["post"]["requestBody"]["content"]
    schema = create["application/json"]["schema"]
    assert schema["properties"]["disk_template"]["enum"][0] == "blockdev"
    assert "name" in schema["properties"] and "__version__" in schema["properties"]


def test_committed_openapi_document_is_current():
    path = os.path.join(TOP, "doc", "rapi-openapi.json")
    with open(path, "rb") as fh:
        committed = fh.read()
    assert committed == openapi.generate(), (
        "doc/rapi-openapi.json is stale: run python3 -m ganeti.rapi.openapi %s" % path)


def test_openapi_served(handler):
    status, body, _ = call(handler, "GET", "/openapi.json")
    assert status == 200 and body["info"]["title"] == "Ganeti Remote API"
