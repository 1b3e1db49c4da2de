"""ganeti-rapi on its own virtual cluster (127.0.25.x), driven by the real Ganeti RAPI
client library (Debian's python3-ganeti-rapi), by raw HTTPS requests for the error
and security cases, and by a schemathesis fuzz run against the served OpenAPI document.

The tests run in file order and share one cluster.
"""

import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

import rapi_testlib as R  # noqa: E402
import vcluster as harness  # noqa: E402

pytestmark = pytest.mark.integration
security = pytest.mark.security
NOT_SUPPORTED = "not supported by this master yet"
REALM_HEADER = 'Basic realm="Ganeti Remote API"'


@pytest.fixture(scope="module")
def rc():
    if not harness.installed():
        pytest.skip("no installed copy in %s (run ./quickstart.sh test)" % harness.PREFIX)
    if os.geteuid() != 0:
        pytest.skip("the virtual cluster needs root (sshd, noded)")
    if not os.path.exists(os.path.join(harness.PREFIX, "sbin", "ganeti-rapi")):
        pytest.skip("ganeti-rapi is not installed in %s" % harness.PREFIX)
    cluster = R.create()
    try:
        yield cluster
    finally:
        R.teardown(cluster)


@pytest.fixture(scope="module")
def rapi_client():
    module = R.load_client()
    if module is None:
        pytest.skip("the Ganeti RAPI client is not unpacked (./quickstart.sh deps) "
                    "or pycurl is missing")
    return module


@pytest.fixture
def admin(rc, rapi_client):
    return rapi_client.GanetiRapiClient(rc.address, username=R.ADMIN[0],
                                        password=R.ADMIN[1])


@pytest.fixture
def anon(rc, rapi_client):
    return rapi_client.GanetiRapiClient(rc.address)


def _wait(client, job_id, timeout=60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.GetJobStatus(job_id)
        if job["status"] in ("success", "error", "canceled"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def _ok(client, job_id) -> dict:
    job = _wait(client, job_id)
    assert job["status"] == "success", job
    return job


# --- reads with the real client --------------------------------------------------------
def test_version_features_info(anon):
    assert anon.GetVersion() == 2
    assert set(anon.GetFeatures()) == {"instance-create-reqv1", "instance-reinstall-reqv1",
                                       "node-migrate-reqv1", "node-evac-res1"}
    info = anon.GetInfo()
    assert info["name"] == "cluster"
    assert info["master"] == "node1"
    assert info["enabled_hypervisors"] == ["fake"]
    assert info["vg_name"] == info["volume_group_name"]
    assert "drbd_helper" in info


def test_operating_systems(anon):
    names = anon.GetOperatingSystems()
    assert "noop" in names
    assert "simple+default" in names


def test_nodes(anon):
    assert sorted(anon.GetNodes()) == ["node1", "node2"]
    bulk = {n["name"]: n for n in anon.GetNodes(bulk=True)}
    assert bulk["node1"]["role"] == "M"
    assert bulk["node2"]["pip"] == "%s.11" % R.NET_PREFIX
    assert bulk["node1"]["mtotal"] > 0
    node = anon.GetNode("node2")
    assert node["secondary_ip"] == node["sip"]
    assert anon.GetNodeRole("node1") == "master"
    assert anon.GetNodeRole("node2") == "master-candidate"


def test_groups(anon):
    assert anon.GetGroups() == ["default"]
    group = anon.GetGroup("default")
    assert group["node_cnt"] == 2
    assert group["node_list"] == ["node1", "node2"]
    assert anon.GetGroupTags("default") == []


def test_unknown_objects_are_404(anon, rapi_client):
    for call, arg in ((anon.GetNode, "nosuchnode"), (anon.GetInstance, "nosuch"),
                      (anon.GetGroup, "nosuchgroup"), (anon.GetNetwork, "nosuchnet"),
                      (anon.GetJobStatus, 999999), (anon.GetFilter, "no-such-uuid")):
        with pytest.raises(rapi_client.GanetiApiError) as err:
            call(arg)
        assert err.value.code == 404, call


def test_networks_and_filters_are_empty(anon):
    assert anon.GetNetworks() == []
    assert anon.GetNetworks(bulk=True) == []
    assert anon.GetFilters() == []


def test_query_and_fields(rc, rapi_client):
    reader = rapi_client.GanetiRapiClient(rc.address, username=R.READER[0],
                                          password=R.READER[1])
    result = reader.Query("node", ["name", "pip"], ["=", "name", "node2"])
    assert result["data"] == [[[0, "node2"], [0, "%s.11" % R.NET_PREFIX]]]
    fields = reader.QueryFields("instance", ["name", "status"])["fields"]
    assert [f["name"] for f in fields] == ["name", "status"]


# --- instance life cycle with the real client -----------------------------------------------
def test_create_instance(admin):
    job_id = admin.CreateInstance("create", "inst1", "diskless", [], [], os="noop",
                                  pnode="node1", beparams={"maxmem": 64, "minmem": 64})
    _ok(admin, job_id)
    job_id = admin.CreateInstance("create", "inst2", "file", [{"size": 16}], [{}],
                                  os="noop", pnode="node2")
    _ok(admin, job_id)
    assert sorted(admin.GetInstances()) == ["inst1", "inst2"]
    inst = admin.GetInstance("inst1")
    assert inst["pnode"] == "node1"
    assert inst["status"] == "running"
    assert inst["beparams"]["memory"] == inst["beparams"]["maxmem"] == 64
    bulk = {i["name"]: i for i in admin.GetInstances(bulk=True)}
    assert bulk["inst2"]["disk.sizes"] == [16]
    assert bulk["inst2"]["disk_template"] == "file"


def test_create_dry_run_creates_nothing(admin):
    job_id = admin.CreateInstance("create", "inst-dry", "diskless", [], [], os="noop",
                                  pnode="node1", dry_run=True)
    _ok(admin, job_id)
    assert "inst-dry" not in admin.GetInstances()


def test_lifecycle(admin):
    _ok(admin, admin.ShutdownInstance("inst1"))
    assert admin.GetInstance("inst1")["admin_state"] == "down"
    _ok(admin, admin.StartupInstance("inst1"))
    assert admin.GetInstance("inst1")["status"] == "running"
    _ok(admin, admin.RebootInstance("inst1", reboot_type="soft"))
    job = _ok(admin, admin.GetInstanceInfo("inst1"))
    assert job["opresult"][0]["inst1"]["pnode"] == "node1"
    console = admin.GetInstanceConsole("inst1")
    assert console["instance"] == "inst1"


def test_tags(admin):
    _ok(admin, admin.AddClusterTags(["env:test", "team:ops"]))
    assert admin.GetClusterTags() == ["env:test", "team:ops"]
    _ok(admin, admin.DeleteClusterTags(["team:ops"]))
    assert admin.GetClusterTags() == ["env:test"]
    _ok(admin, admin.AddInstanceTags("inst1", ["web"]))
    assert admin.GetInstanceTags("inst1") == ["web"]
    _ok(admin, admin.AddNodeTags("node2", ["rack1"]))
    assert admin.GetNodeTags("node2") == ["rack1"]
    _ok(admin, admin.AddGroupTags("default", ["g"]))
    assert admin.GetGroupTags("default") == ["g"]
    # dry run: checked, not applied
    _ok(admin, admin.AddInstanceTags("inst1", ["not-applied"], dry_run=True))
    assert admin.GetInstanceTags("inst1") == ["web"]


def test_jobs_record_the_rapi_user(rc, admin):
    job_id = admin.AddNodeTags("node1", ["audited"], reason="ticket 42")
    job = _ok(admin, job_id)
    trail = job["ops"][0]["reason"]
    sources = [entry[0] for entry in trail]
    assert sources[0] == "gnt:user" and trail[0][1] == "ticket 42"
    assert "gnt:library:rlib2:nodes_name_tags" in sources
    rapi_entry = [e for e in trail if e[0] == "gnt:client:rapi"]
    # the client connects from a loopback address the kernel picks
    assert rapi_entry and re.fullmatch(r"user=admin address=127\.\d+\.\d+\.\d+",
                                       rapi_entry[0][1]), trail
    assert sources[-1] == "gnt:masterd:luxi"
    out = rc.gnt("gnt-job", "info", str(job_id)).stdout
    assert "gnt:client:rapi" in out and "user=admin" in out


def test_job_list_wait_and_cancel(admin):
    ids = admin.GetJobs()
    assert ids == sorted(ids) and len(ids) >= 5
    bulk = admin.GetJobs(bulk=True)
    assert {"id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts",
            "end_ts"} <= set(bulk[0])
    change = admin.WaitForJobChange(ids[0], ["status"], None, None)
    assert change["job_info"] == ["success"]
    assert admin.WaitForJobChange(ids[0], ["status"], ["success"], None) in (
        None, {"job_info": ["success"], "log_entries": []})
    ok, message = admin.CancelJob(ids[0])
    assert ok is False and "no longer" in message


def test_redistribute_config_and_node_role(admin):
    _ok(admin, admin.RedistributeConfig())
    _ok(admin, admin.SetNodeRole("node2", "drained"))
    assert admin.GetNodeRole("node2") == "drained"
    _ok(admin, admin.SetNodeRole("node2", "regular"))
    assert admin.GetNodeRole("node2") == "regular"
    _ok(admin, admin.SetNodeRole("node2", "master-candidate"))
    assert admin.GetNodeRole("node2") == "master-candidate"


def _has_lu(op_id: str) -> bool:
    from ganeti import cmdlib, opcodes
    return opcodes.OP_MAPPING[op_id] in cmdlib._LU_MAP


def test_operations_without_logical_unit_fail_as_jobs(admin):
    """Every write becomes a job.  Where this master has no logical unit for it yet,
    the job fails with a clear OpCodeUnknown message: never a 500 and never a silent
    success.  The calls name objects that do not exist (or use dry runs), so that
    operations which do have a logical unit change nothing."""
    calls = [
        lambda: admin.MigrateInstance("ghost", mode="live"),
        lambda: admin.FailoverInstance("ghost", target_node="node2"),
        lambda: admin.RenameInstance("ghost", "ghost-new"),
        lambda: admin.ModifyInstance("ghost", beparams={"maxmem": 96}),
        lambda: admin.ReplaceInstanceDisks("ghost", disks=[0], mode="replace_auto"),
        lambda: admin.ActivateInstanceDisks("ghost"),
        lambda: admin.DeactivateInstanceDisks("ghost"),
        lambda: admin.RecreateInstanceDisks("ghost", disks=[0]),
        lambda: admin.GrowInstanceDisk("ghost", 0, 16),
        lambda: admin.PrepareExport("ghost", "local"),
        lambda: admin.ExportInstance("ghost", "local", "node2"),
        lambda: admin.InstancesMultiAlloc([admin.InstanceAllocation(
            "create", "inst-m", "diskless", [], [], os_type="noop")], iallocator="hail",
            dry_run=True),
        lambda: admin.EvacuateNode("ghost", mode="secondary-only", remote_node="node1"),
        lambda: admin.MigrateNode("ghost", mode="live"),
        lambda: admin.PowercycleNode("ghost", force=True),
        lambda: admin.GetNodeStorageUnits("ghost", "file", "name,size"),
        lambda: admin.ModifyNodeStorageUnits("ghost", "lvm-pv", "/dev/sda1", False),
        lambda: admin.RepairNodeStorageUnits("ghost", "lvm-vg", "xenvg"),
        lambda: admin.CreateGroup("group2", alloc_policy="preferred", dry_run=True),
        lambda: admin.ModifyGroup("ghost", alloc_policy="last_resort"),
        lambda: admin.RenameGroup("ghost", "main"),
        lambda: admin.AssignGroupNodes("ghost", ["node2"]),
        lambda: admin.DeleteGroup("ghost"),
        lambda: admin.CreateNetwork("net1", "192.0.2.0/24", gateway="192.0.2.1",
                                    dry_run=True),
        lambda: admin.ConnectNetwork("ghost", "default", "bridged", "br0", dry_run=True),
        lambda: admin.DisconnectNetwork("ghost", "default", dry_run=True),
        lambda: admin.ModifyNetwork("ghost", gateway="192.0.2.2"),
        lambda: admin.DeleteNetwork("ghost"),
        lambda: admin.ModifyCluster(candidate_pool_size=5, dry_run=True),
    ]
    unsupported = 0
    for call in calls:
        job = _wait(admin, call())
        op_id = job["ops"][0]["OP_ID"]
        results = [r for r in job["opresult"] if r]
        if _has_lu(op_id):
            assert job["status"] in ("success", "error"), job
            if job["status"] == "error":
                assert results[0][0] in ("OpPrereqError", "OpExecError"), job
            continue
        unsupported += 1
        assert job["status"] == "error", job["ops"]
        assert results[0][0] == "OpCodeUnknown", job
        assert NOT_SUPPORTED in results[0][1][0]
    assert unsupported > 0


def test_reinstall_is_one_job_of_three_opcodes(admin):
    job = _wait(admin, admin.ReinstallInstance("inst1", os="noop"))
    assert [op["OP_ID"] for op in job["ops"]] == [
        "OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_STARTUP"]
    assert job["opstatus"][0] == "success"
    if _has_lu("OP_INSTANCE_REINSTALL"):
        assert job["status"] == "success", job
    else:
        assert job["opstatus"][1] == "error"
        assert job["opresult"][1][0] == "OpCodeUnknown"
        _ok(admin, admin.StartupInstance("inst1"))


def test_filters_are_not_supported_yet(admin, rapi_client):
    with pytest.raises(rapi_client.GanetiApiError) as err:
        admin.AddFilter(10, [["jobid", [">", "id", "watermark"]]], "REJECT")
    assert err.value.code == 501


def test_invalid_bodies_are_400(admin, rapi_client):
    with pytest.raises(rapi_client.GanetiApiError) as err:
        admin.CreateInstance("create", "bad", "no-such-template", [], [], os="noop")
    assert err.value.code == 400 and "disk_template" in str(err.value)
    with pytest.raises(rapi_client.GanetiApiError) as err:
        admin.ModifyNode("node2", no_such_parameter=1)
    assert err.value.code == 400
    with pytest.raises(rapi_client.GanetiApiError) as err:
        admin.SetNodeRole("node2", "master")
    assert err.value.code == 400


def test_delete_instance(admin):
    _ok(admin, admin.DeleteInstance("inst2", shutdown_timeout=10))
    assert admin.GetInstances() == ["inst1"]


# --- raw HTTPS: authentication, authorization and request validation ----------------------
@security
def test_write_without_credentials_is_401(rc):
    resp = rc.request("PUT", "/2/tags?tag=x")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == REALM_HEADER
    assert resp.json["code"] == 401


@security
def test_wrong_password_and_unknown_user_are_401(rc):
    for user in (("admin", "wrong"), ("nobody", "x"), ("plain", "")):
        for method, path in (("PUT", "/2/tags?tag=x"), ("GET", "/2/info")):
            resp = rc.request(method, path, user=user)
            assert resp.status == 401, (user, path)
            assert resp.headers["WWW-Authenticate"] == REALM_HEADER


@security
def test_malformed_authorization_headers(rc):
    resp = rc.request("GET", "/2/info", headers={"Authorization": "Basic"})
    assert resp.status == 400
    resp = rc.request("GET", "/2/info", headers={"Authorization": "Basic !!notbase64"})
    assert resp.status == 401
    # other schemes count as no credentials: fine for reads, not for writes
    assert rc.request("GET", "/2/info", headers={"Authorization": "Digest x"}).status \
        == 200
    assert rc.request("PUT", "/2/tags?tag=x",
                      headers={"Authorization": "Digest x"}).status == 401


@security
def test_read_only_users_cannot_write(rc):
    for user in (R.READER, R.PLAIN):
        resp = rc.request("PUT", "/2/tags?tag=x", user=user)
        assert resp.status == 403, user
        assert "WWW-Authenticate" not in resp.headers
    # capability-protected reads: read or write, not nothing
    assert rc.request("GET", "/2/query/node?fields=name", user=R.READER).status == 200
    assert rc.request("GET", "/2/query/node?fields=name", user=R.PLAIN).status == 403
    assert rc.request("GET", "/2/query/node?fields=name").status == 401
    assert rc.request("GET", "/2/jobs/1/wait", body={"fields": ["status"]},
                      user=R.READER).status == 403


@security
def test_ha1_and_cleartext_passwords(rc):
    resp = rc.request("PUT", "/2/tags?tag=ha1-ok&dry-run=1", user=R.HA1_USER)
    assert resp.status == 200 and isinstance(resp.json, int)
    assert rc.wait_job(resp.json)["status"] == "success"
    assert rc.request("PUT", "/2/tags?tag=x&dry-run=1",
                      user=(R.HA1_USER[0], "wrong")).status == 401


@security
def test_users_file_reloaded_at_run_time(rc):
    pid = rc.rapi_pid()
    newcomer = ("newcomer", "fresh-secret")
    assert rc.request("PUT", "/2/tags?tag=x&dry-run=1", user=newcomer).status == 401
    rc.write_users(R.DEFAULT_USERS + "newcomer {CLEARTEXT}fresh-secret write\n")
    deadline = time.monotonic() + 3
    while rc.request("PUT", "/2/tags?tag=x&dry-run=1", user=newcomer).status != 200:
        assert time.monotonic() < deadline, "new user not accepted"
        time.sleep(0.05)
    rc.write_users(R.DEFAULT_USERS)
    deadline = time.monotonic() + 3
    while rc.request("PUT", "/2/tags?tag=x&dry-run=1", user=newcomer).status != 401:
        assert time.monotonic() < deadline, "removed user still accepted"
        time.sleep(0.05)
    assert rc.rapi_pid() == pid  # no restart


@security
def test_body_validation(rc):
    resp = rc.request("PUT", "/2/instances/inst1/modify", raw_body=b"{not json",
                      headers={"Content-Type": "application/json"}, user=R.ADMIN)
    assert resp.status == 400
    assert resp.json["message"].startswith("Unable to parse JSON data")
    resp = rc.request("PUT", "/2/instances/inst1/modify", raw_body=b"{}",
                      headers={"Content-Type": "text/plain"}, user=R.ADMIN)
    assert resp.status == 415
    resp = rc.request("PUT", "/2/instances/inst1/modify", raw_body=b"{}", user=R.ADMIN)
    assert resp.status == 415  # no content type at all
    # stricter point 5: media type parameters are fine
    resp = rc.request("POST", "/2/nodes/node2/modify", raw_body=b'{"drained": false}',
                      headers={"Content-Type": "application/json; charset=utf-8"},
                      user=R.ADMIN)
    assert resp.status == 200, resp.json
    resp = rc.request("PUT", "/2/instances/inst1/modify", body={"instance_name": "x"},
                      user=R.ADMIN)
    assert resp.status == 400 and "static" in resp.json["message"]
    resp = rc.request("POST", "/2/instances", body={"name": "x"}, user=R.ADMIN)
    assert resp.status == 400 and "version 0" in resp.json["message"]
    resp = rc.request("GET", "/2/instances?bulk=true")
    assert resp.status == 400


@security
def test_huge_body_is_refused(rc):
    resp = rc.request("PUT", "/2/modify", raw_body=b"[" + b"0," * (6 * 1024 * 1024) + b"0]",
                      headers={"Content-Type": "application/json"}, user=R.ADMIN)
    assert resp.status == 413
    assert rc.request("GET", "/version").status == 200


@security
def test_unknown_resources_and_methods(rc):
    resp = rc.request("GET", "/2/no-such-thing")
    assert resp.status == 404 and resp.json["code"] == 404
    assert rc.request("GET", "/3/info").status == 404
    resp = rc.request("POST", "/2/info", body={}, user=R.ADMIN)
    assert resp.status == 501
    assert rc.request("PATCH", "/2/info").status == 501
    assert rc.request("GET", "/2/query/nosuchresource?fields=name",
                      user=R.READER).status == 404
    assert rc.request("PUT", "/2/modify", body={"compression_tools": ["gzip"]},
                      user=R.ADMIN).status == 403


@security
def test_tls_serves_rapi_pem_and_refuses_plain_http(rc):
    import ssl
    from ganeti import crypto
    pem = open(os.path.join(rc.vc.data_dir("node1"), "rapi.pem")).read()
    served = ssl.get_server_certificate((rc.address, R.PORT))
    assert crypto.cert_digest(served) == crypto.cert_digest(crypto.split_pem(pem)[1][0])
    with pytest.raises(Exception):  # noqa: B017 - any failure is fine, no answer is not
        resp = rc.request("GET", "/version", plain=True)
        assert resp.status != 200


@security
def test_require_authentication_and_no_ssl(rc, rapi_client):
    rc.restart_rapi("--require-authentication")
    try:
        resp = rc.request("GET", "/2/info")
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == REALM_HEADER
        assert rc.request("GET", "/2/info", user=R.PLAIN).status == 200
        assert rc.request("GET", "/2/info", user=R.READER).status == 200
        anon = rapi_client.GanetiRapiClient(rc.address)
        with pytest.raises(rapi_client.GanetiApiError) as err:
            anon.GetInfo()
        assert err.value.code == 401
        rc.restart_rapi("--no-ssl", "-p", "5081")
        assert rc.request("GET", "/version", plain=True, port=5081).json == 2
    finally:
        rc.restart_rapi()
    assert rc.request("GET", "/2/info").status == 200


# --- fuzzing against the served OpenAPI document -------------------------------------------------
def test_openapi_document_is_served(rc):
    doc = rc.request("GET", "/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert "/2/instances/{instance_name}/reboot" in doc["paths"]
    from ganeti.rapi import openapi
    assert rc.request("GET", "/openapi.json").raw == openapi.generate()


def test_fuzz_openapi(rc):
    """schemathesis cases for every operation: never a 5xx, config intact, and GETs
    leave the configuration serial alone."""
    fuzz = pytest.importorskip("rapi_fuzz")
    doc = rc.request("GET", "/openapi.json").json
    serial = rc.config()["serial_no"]
    failures = fuzz.run(doc, "https://%s:%d" % (rc.address, R.PORT), R.ADMIN,
                        methods=("GET",), max_examples=8, budget=25)
    assert failures == []
    assert rc.config()["serial_no"] == serial
    failures = fuzz.run(doc, "https://%s:%d" % (rc.address, R.PORT), R.ADMIN,
                        methods=("PUT", "POST", "DELETE"), max_examples=3, budget=30)
    assert failures == []
    data = rc.config()  # still parses
    assert data["cluster"]["cluster_name"] == "cluster"
    assert rc.request("GET", "/version").json == 2
