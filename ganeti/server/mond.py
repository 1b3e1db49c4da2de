"""ganeti-mond: read-only HTTP reports of the node's data collectors (S8).

Collectors sample in a background loop and requests are answered from the cached
reports.  Besides Ganeti's API (``/``, ``/1/list/collectors``, ``/1/report/...``) it
serves the same data in the Prometheus text format on ``/metrics``.  No request, with
any method or path, changes anything.
"""

import json
import logging
import threading
import time

from ganeti import constants
from ganeti import daemon
from ganeti import pathutils
from ganeti.mond import collectors as C

LOOP_INTERVAL = 5.0
CONFD_INTERVAL = 15.0
DEFAULT_INTERVAL_US = 5000000
CATEGORIES = ("instance", "storage", "daemon", "hypervisor", "default")


class MonitoringState:
    """The collectors, which are active, and their latest reports."""

    def __init__(self, collectors: list, confd_query=None):
        self.collectors = {c.NAME: c for c in collectors}
        self.active: dict[str, dict] = {name: {"active": True,
                                                "interval": DEFAULT_INTERVAL_US}
                                        for name in self.collectors}
        self.reports: dict[str, dict] = {}
        self._last_run: dict[str, float] = {}
        self._lock = threading.Lock()
        self._confd_query = confd_query
        self._last_confd = 0.0

    def refresh_activity(self) -> None:
        if self._confd_query is None:
            return
        now = time.monotonic()
        if now - self._last_confd < CONFD_INTERVAL:
            return
        self._last_confd = now
        try:
            answer = self._confd_query()
        except Exception as err:  # noqa: BLE001 - keep the last known activity
            logging.debug("Cannot ask confd about the collectors: %s", err)
            return
        if isinstance(answer, dict):
            with self._lock:
                for name in self.collectors:
                    item = answer.get(name)
                    if isinstance(item, dict):
                        self.active[name] = {"active": bool(item.get("active", True)),
                                             "interval": int(item.get(
                                                 "interval", DEFAULT_INTERVAL_US))}

    def collect_due(self, force: bool = False) -> None:
        now = time.monotonic()
        for name, collector in self.collectors.items():
            activity = self.active.get(name, {})
            if not activity.get("active", True):
                continue
            interval = max(0.5, activity.get("interval", DEFAULT_INTERVAL_US) / 1e6)
            if collector.STATEFUL:
                collector.sample()
            if not force and now - self._last_run.get(name, 0) < interval:
                continue
            self._last_run[name] = now
            try:
                report = collector.report()
            except Exception as err:  # noqa: BLE001 - one collector never stops the rest
                logging.warning("Collector %s failed: %s", name, err)
                report = {"name": name, "version": "B",
                          "format_version": collector.FORMAT_VERSION,
                          "timestamp": time.time_ns(), "category": collector.CATEGORY,
                          "kind": collector.KIND,
                          "data": {"status": {"code": C.STATUS_UNKNOWN,
                                              "message": "collector failed: %s" % err}}}
            with self._lock:
                self.reports[name] = report

    def active_collectors(self) -> list:
        return [c for name, c in sorted(self.collectors.items())
                if self.active.get(name, {}).get("active", True)]

    def report(self, name: str) -> dict | None:
        with self._lock:
            return self.reports.get(name)


def _json(status: int, value):
    from ganeti.http.server import HttpResponse
    return HttpResponse(status, json.dumps(value).encode("utf-8"), "application/json")


def _text(status: int, text: str, content_type: str = "text/plain"):
    from ganeti.http.server import HttpResponse
    return HttpResponse(status, text.encode("utf-8"), content_type)


def handle(state: MonitoringState, request):
    """Route one request (pure: only reads ``state``)."""
    from ganeti.http.server import HttpResponse
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(405, b"Method not allowed: mond is read-only\n", "text/plain",
                            headers={"Allow": "GET, HEAD"})
    path = request.path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/":
        return _json(200, [1])
    if path == "/1":
        return _json(200, None)
    if path == "/1/list/collectors":
        return _json(200, [[c.NAME, c.CATEGORY or "default", c.KIND]
                           for c in state.active_collectors()])
    if path == "/1/report/all":
        reports = [state.report(c.NAME) for c in state.active_collectors()]
        return _json(200, [r for r in reports if r is not None])
    if path.startswith("/1/report/"):
        parts = path.split("/")
        if len(parts) == 5 and parts[3] in CATEGORIES:
            category = None if parts[3] == "default" else parts[3]
            collector = state.collectors.get(parts[4])
            if collector is not None and collector.CATEGORY == category and \
                    state.active.get(collector.NAME, {}).get("active", True):
                report = state.report(collector.NAME)
                if report is not None:
                    return _json(200, report)
        return _text(404, "Unable to produce a report for the requested resource")
    if path == "/metrics":
        from ganeti.mond import prometheus
        body, content_type = prometheus.render(state)
        from ganeti.http.server import HttpResponse as Response
        return Response(200, body, content_type)
    return _text(404, "Resource not found")


def _confd_collectors_query():
    from ganeti.confd import protocol as P
    from ganeti.confd.client import from_ssconf
    return from_ssconf().query(P.REQ_DATA_COLLECTORS, timeout=2).answer


def _expected_instances():
    """name -> admin state of the instances whose primary is this node (via confd)."""
    import socket as sock_mod

    from ganeti import netutils
    from ganeti import ssconf
    from ganeti.confd import protocol as P
    with open(pathutils.CONFD_HMAC_KEY, "rb") as fh:
        key = fh.read()
    peers = ssconf.SimpleStore().lines(constants.SS_MASTER_CANDIDATES_IPS)
    datagram, rsalt = P.make_request(key, P.REQ_NODE_INSTANCES, netutils.hostname())
    for peer in peers[:3]:
        sock = sock_mod.socket(sock_mod.AF_INET6 if ":" in peer else sock_mod.AF_INET,
                               sock_mod.SOCK_DGRAM)
        sock.settimeout(1.0)
        try:
            sock.sendto(datagram, (peer, constants.DEFAULT_CONFD_PORT))
            reply = P.parse_reply(key, sock.recv(P.MAX_DATAGRAM), rsalt)
        except (OSError, P.ConfdError):
            continue
        finally:
            sock.close()
        if reply["status"] == P.REPL_STATUS_OK:
            primary, _secondary = reply["answer"]
            return {inst["name"]: inst.get("admin_state") for inst in primary}
    return None


def prepare(options):
    from ganeti import ssconf
    from ganeti.http.server import HttpServer
    try:
        hypervisors = ssconf.SimpleStore().lines(constants.SS_HYPERVISOR_LIST)
    except Exception:  # noqa: BLE001 - a node outside a cluster still reports
        hypervisors = []
    state = MonitoringState(C.default_collectors(hypervisors, _expected_instances),
                            confd_query=_confd_collectors_query)
    state.collect_due(force=True)
    server = HttpServer(options.bind or "0.0.0.0", options.port,
                        lambda req: handle(state, req), name="mond")
    server.start()
    return state, server


def serve(prepared, stop) -> None:
    state, server = prepared
    while not stop.wait(1.0):
        state.refresh_activity()
        state.collect_due()
    server.shutdown()


def main(argv=None) -> int:
    from ganeti import _autoconf
    parser = daemon.build_parser(constants.MOND, "Ganeti monitoring daemon",
                                 port=constants.DEFAULT_MOND_PORT, bind=True)
    options = parser.parse_args(argv)
    if not _autoconf.ENABLE_MOND:
        parser.error("mond was disabled at build time (--disable-monitoring)")
    return daemon.run_daemon(constants.MOND, options, prepare, serve,
                             user=_autoconf.MOND_USER)
