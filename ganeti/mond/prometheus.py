"""The mond reports in the Prometheus text exposition format (``/metrics``)."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class _ReportsCollector:
    """Turns the cached mond reports into metric families at scrape time."""

    def __init__(self, state):
        self._state = state

    def collect(self):
        reports = {c.NAME: self._state.report(c.NAME)
                   for c in self._state.active_collectors()}
        status = GaugeMetricFamily("ganeti_collector_status_code",
                                   "Status code of a status collector (0 ok, 1 temporarily "
                                   "bad, 2 unknown, 4 bad)", labels=["collector"])
        for name, report in sorted(reports.items()):
            if report is None:
                continue
            data = report.get("data")
            if isinstance(data, dict) and isinstance(data.get("status"), dict):
                status.add_metric([name], data["status"].get("code", 2))
        yield status
        cpu = reports.get("cpu-avg-load")
        if cpu:
            load = GaugeMetricFamily("ganeti_cpu_load", "Average load of a CPU (0..1) "
                                     "over the last minute", labels=["cpu"])
            for idx, value in enumerate(cpu["data"].get("cpus", [])):
                load.add_metric([str(idx)], value)
            yield load
            yield GaugeMetricFamily("ganeti_cpu_total_load", "Sum of the CPU loads",
                                    value=cpu["data"].get("cpu_total", 0.0))
        mem = reports.get("memory")
        if mem:
            gauge = GaugeMetricFamily("ganeti_memory_bytes", "Memory of the node",
                                      labels=["kind"])
            for kind, value in sorted(mem["data"].items()):
                if isinstance(value, int):
                    gauge.add_metric([kind], value * 1024 * 1024)
            yield gauge
        disks = reports.get("diskstats")
        if disks:
            reads = CounterMetricFamily("ganeti_disk_reads", "Completed reads",
                                        labels=["device"])
            writes = CounterMetricFamily("ganeti_disk_writes", "Completed writes",
                                         labels=["device"])
            for entry in disks["data"]:
                reads.add_metric([entry["name"]], entry["readsNum"])
                writes.add_metric([entry["name"]], entry["writes"])
            yield reads
            yield writes
        drbd = reports.get("drbd")
        if drbd:
            gauge = GaugeMetricFamily("ganeti_drbd_minor_connected",
                                      "1 when the DRBD minor is connected",
                                      labels=["minor", "state"])
            for dev in drbd["data"].get("device", []):
                connected = dev["connectionState"] not in ("StandAlone", "Unconfigured",
                                                           "WFConnection")
                gauge.add_metric([str(dev["minor"]), dev["connectionState"]],
                                 1 if connected else 0)
            yield gauge
        running = GaugeMetricFamily("ganeti_instance_running",
                                    "1 when the instance runs on this node",
                                    labels=["instance", "hypervisor"])
        for name, report in sorted(reports.items()):
            if report and name.startswith("inst-status-"):
                for inst in report["data"].get("instances", []):
                    running.add_metric([inst["name"], name[len("inst-status-"):]],
                                       1 if inst["actual_state"] == "running" else 0)
        yield running


def render(state) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportsCollector(state))
    return generate_latest(registry), "text/plain; version=0.0.4; charset=utf-8"
