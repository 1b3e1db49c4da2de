"""mond: collectors on captured outputs, every endpoint, /metrics parsed, read-only."""

import json
import os
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ganeti.mond import collectors as C
from ganeti.server import mond

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                    "shared", "data", "captured-outputs")


class Req:
    def __init__(self, method: str, path: str):
        self.method = method
        self.path = path


@pytest.fixture
def state(tmp_path):
    drbd = os.path.join(DATA, "proc_drbd84.txt")
    collectors = [C.CpuAvgLoad(), C.DiskStats(), C.Drbd(drbd if os.path.exists(drbd)
                                                       else "/nonexistent"),
                  C.Memory(), C.InstanceStatus("fake", lambda: {"inst1": "up"})]
    st = mond.MonitoringState(collectors)
    st.collect_due(force=True)
    return st


def body(response):
    return json.loads(response.body)


def test_root_and_version(state):
    assert body(mond.handle(state, Req("GET", "/"))) == [1]
    assert body(mond.handle(state, Req("GET", "/1"))) is None


def test_list_collectors(state):
    listed = body(mond.handle(state, Req("GET", "/1/list/collectors")))
    assert ["cpu-avg-load", "default", 0] in listed
    assert ["diskstats", "storage", 0] in listed
    assert ["drbd", "storage", 1] in listed
    assert ["inst-status-fake", "instance", 1] in listed


def test_report_format(state):
    reports = body(mond.handle(state, Req("GET", "/1/report/all")))
    assert {r["name"] for r in reports} == {"cpu-avg-load", "diskstats", "drbd", "memory",
                                            "inst-status-fake"}
    for report in reports:
        assert set(report) == {"name", "version", "format_version", "timestamp",
                               "category", "kind", "data"}
        assert report["version"] == "B" and report["timestamp"] > 10 ** 18
    one = body(mond.handle(state, Req("GET", "/1/report/storage/diskstats")))
    assert one["name"] == "diskstats" and one["category"] == "storage"
    assert all({"major", "minor", "name", "readsNum", "writes", "timeIO"} <= set(e)
               for e in one["data"])


def test_status_collectors(state):
    inst = body(mond.handle(state, Req("GET", "/1/report/instance/inst-status-fake")))
    assert inst["kind"] == 1
    # inst1 should run but the fake hypervisor runs nothing here: a bad status
    assert inst["data"]["status"]["code"] == C.STATUS_BAD
    drbd = body(mond.handle(state, Req("GET", "/1/report/storage/drbd")))
    if os.path.exists(os.path.join(DATA, "proc_drbd84.txt")):
        assert drbd["data"]["status"]["code"] == C.STATUS_BAD  # StandAlone minor 8
        assert {d["minor"] for d in drbd["data"]["device"]} >= {0, 1, 4, 6, 8}


def test_diskstats_parser_on_captured_output():
    path = os.path.join(DATA, "proc_diskstats.txt")
    if not os.path.exists(path):
        pytest.skip("no captured output")
    entries = C.DiskStats(path).collect()
    assert entries and entries[0]["name"] == "ram0" and entries[0]["readsNum"] == 0


def test_cpu_load_between_samples(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0\n")
    collector = C.CpuAvgLoad(str(stat))
    collector.sample()
    stat.write_text("cpu  200 0 200 1400 0 0 0 0\ncpu0 200 0 200 1400 0 0 0 0\n")
    collector.sample()
    data = collector.collect()
    assert data["cpu_number"] == 1
    assert data["cpus"] == [0.25]


@pytest.mark.parametrize("path", ["/nope", "/1/report/nocategory/x", "/1/report/storage",
                                  "/1/report/storage/nosuch", "/1/report/default/diskstats",
                                  "/2/list/collectors"])
def test_unknown_resources(state, path):
    response = mond.handle(state, Req("GET", path))
    assert response.status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_no_method_changes_anything(state, method):
    before = json.dumps(state.reports, sort_keys=True)
    active = dict(state.active)
    for path in ("/", "/1/report/all", "/metrics", "/1/list/collectors"):
        assert mond.handle(state, Req(method, path)).status == 405
    assert json.dumps(state.reports, sort_keys=True) == before and state.active == active


def test_metrics_parse_with_prometheus_parser(state):
    response = mond.handle(state, Req("GET", "/metrics"))
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    assert "ganeti_cpu_load" in families and "ganeti_memory_bytes" in families
    assert "ganeti_instance_running" in families
    codes = {s.labels["collector"]: s.value
             for s in families["ganeti_collector_status_code"].samples}
    assert codes["inst-status-fake"] == C.STATUS_BAD


def test_inactive_collector_hidden(state):
    state.active["diskstats"]["active"] = False
    listed = body(mond.handle(state, Req("GET", "/1/list/collectors")))
    assert "diskstats" not in [c[0] for c in listed]
    assert mond.handle(state, Req("GET", "/1/report/storage/diskstats")).status == 404


def test_real_http_server(state):
    from ganeti.http.server import HttpServer
    server = HttpServer("127.0.0.1", 0, lambda req: mond.handle(state, req), name="mond")
    server.start()
    try:
        url = "http://127.0.0.1:%d/1/report/all" % server.server_port
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200 and len(json.loads(resp.read())) == 5
        req = urllib.request.Request(url, data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 405
    finally:
        server.shutdown()
