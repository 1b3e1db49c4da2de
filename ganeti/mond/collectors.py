"""mond's data collectors: each produces a report in Ganeti's report format.

Report: ``{"name", "version": "B", "format_version", "timestamp" (ns), "category",
"kind" (0 performance, 1 status), "data"}``.  Status collectors put
``{"status": {"code", "message"}}`` in their data.  Collectors only read the node.
"""

import collections
import os
import threading
import time

from ganeti import pathutils
from ganeti.storage import drbd_info
from ganeti.utils import process

KIND_PERF = 0
KIND_STATUS = 1
STATUS_OK = 0
STATUS_TMP_BAD = 1
STATUS_UNKNOWN = 2
STATUS_BAD = 4


class Collector:
    NAME = ""
    CATEGORY: str | None = None
    KIND = KIND_PERF
    FORMAT_VERSION = 1
    STATEFUL = False

    def collect(self):
        raise NotImplementedError

    def sample(self) -> None:
        """Stateful collectors take a sample here (called by the collection loop)."""

    def report(self) -> dict:
        return {"name": self.NAME, "version": "B", "format_version": self.FORMAT_VERSION,
                "timestamp": time.time_ns(), "category": self.CATEGORY, "kind": self.KIND,
                "data": self.collect()}


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


class CpuAvgLoad(Collector):
    """Average CPU load per CPU over the last minute, from /proc/stat samples."""

    NAME = "cpu-avg-load"
    STATEFUL = True
    WINDOW = 60.0

    def __init__(self, stat_path: str = "/proc/stat"):
        self._path = stat_path
        self._samples: collections.deque = collections.deque()
        self._lock = threading.Lock()

    def _read_stat(self) -> list[tuple[int, int]]:
        """(busy, total) jiffies for the whole machine, then per CPU."""
        result = []
        for line in _read(self._path).splitlines():
            if not line.startswith("cpu"):
                continue
            fields = [int(x) for x in line.split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            total = sum(fields[:8])
            result.append((total - idle, total))
        return result

    def sample(self) -> None:
        try:
            values = self._read_stat()
        except (OSError, ValueError, IndexError):
            return
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, values))
            while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW:
                self._samples.popleft()

    def collect(self):
        with self._lock:
            samples = list(self._samples)
        if len(samples) < 2:
            self.sample()
            with self._lock:
                samples = list(self._samples)
        if len(samples) < 2:
            cpus = max(0, len(samples[0][1]) - 1) if samples else os.cpu_count() or 1
            return {"cpu_number": cpus, "cpus": [0.0] * cpus, "cpu_total": 0.0}
        (_t0, first), (_t1, last) = samples[0], samples[-1]
        loads = []
        for (busy0, total0), (busy1, total1) in zip(first, last, strict=False):
            delta = total1 - total0
            loads.append(round((busy1 - busy0) / delta, 4) if delta > 0 else 0.0)
        return {"cpu_number": len(loads) - 1, "cpus": loads[1:],
                "cpu_total": loads[0] * (len(loads) - 1) if loads else 0.0}


class DiskStats(Collector):
    NAME = "diskstats"
    CATEGORY = "storage"
    FIELDS = ("readsNum", "mergedReads", "secRead", "timeRead", "writes", "mergedWrites",
              "secWritten", "timeWrite", "ios", "timeIO", "wIOmillis")

    def __init__(self, path: str = "/proc/diskstats"):
        self._path = path

    def collect(self):
        result = []
        for line in _read(self._path).splitlines():
            parts = line.split()
            if len(parts) < 14 or not parts[0].isdigit():
                continue
            entry = {"major": int(parts[0]), "minor": int(parts[1]), "name": parts[2]}
            for name, value in zip(self.FIELDS, parts[3:14], strict=True):
                entry[name] = int(value)
            result.append(entry)
        return result


class Drbd(Collector):
    NAME = "drbd"
    CATEGORY = "storage"
    KIND = KIND_STATUS

    def __init__(self, path: str = "/proc/drbd"):
        self._path = path

    def collect(self):
        try:
            text = _read(self._path)
        except FileNotFoundError:
            return {"status": {"code": STATUS_OK,
                               "message": "DRBD is not loaded on this node"},
                    "version": None, "device": []}
        info = drbd_info.parse_proc_drbd(text)
        data = info.to_dict()
        bad = [m for m in info.minors.values() if not m.is_unconfigured and
               (m.is_standalone or m.is_diskless or not m.is_connected)]
        syncing = [m for m in info.minors.values() if m.is_in_resync]
        if bad:
            status = {"code": STATUS_BAD, "message": "Minor(s) %s not healthy" % ", ".join(
                str(m.minor) for m in bad)}
        elif syncing:
            status = {"code": STATUS_TMP_BAD, "message": "Minor(s) %s syncing" % ", ".join(
                str(m.minor) for m in syncing)}
        else:
            status = {"code": STATUS_OK, "message": ""}
        data["status"] = status
        return data


class Lv(Collector):
    NAME = "lv"
    CATEGORY = "storage"
    COLUMNS = ("lv_name", "vg_name", "lv_attr", "lv_size", "origin", "snap_percent",
               "devices")

    def collect(self):
        result = process.run_cmd(["lvs", "--noheadings", "--units", "b", "--nosuffix",
                                  "--separator", "|", "-o", ",".join(self.COLUMNS)],
                                 timeout=30)
        if result.failed:
            return []
        volumes = []
        for line in result.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != len(self.COLUMNS):
                continue
            entry = dict(zip(self.COLUMNS, parts, strict=True))
            try:
                entry["lv_size"] = int(float(entry["lv_size"]))
            except ValueError:
                pass
            volumes.append(entry)
        return volumes


class Memory(Collector):
    """Memory of the node in MiB, from /proc/meminfo."""

    NAME = "memory"

    def __init__(self, path: str = "/proc/meminfo"):
        self._path = path

    def collect(self):
        values = {}
        for line in _read(self._path).splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                values[key] = int(parts[0]) // 1024
        return {"total": values.get("MemTotal"), "free": values.get("MemFree"),
                "available": values.get("MemAvailable"), "buffers": values.get("Buffers"),
                "cached": values.get("Cached"), "swap_total": values.get("SwapTotal"),
                "swap_free": values.get("SwapFree")}


class InstanceStatus(Collector):
    """Which instances run on this node, per hypervisor, against what should run."""

    CATEGORY = "instance"
    KIND = KIND_STATUS

    def __init__(self, hypervisor: str, expected=None):
        self.hypervisor = hypervisor
        self.NAME = "inst-status-%s" % hypervisor
        self._expected = expected  # callable -> {name: admin_state} or None

    def collect(self):
        from ganeti import hypervisor as hv_mod
        from ganeti import errors
        try:
            hv = hv_mod.get_hypervisor(self.hypervisor)
            running = {info[0]: info for info in hv.get_all_instances_info()}
        except errors.GenericError as err:
            return {"instances": [], "status": {"code": STATUS_UNKNOWN, "message": str(err)}}
        expected = self._expected() if self._expected else None
        instances = []
        problems = []
        for name in sorted(set(running) | set(expected or {})):
            info = running.get(name)
            admin = (expected or {}).get(name)
            actual = "running" if info else "stopped"
            entry = {"name": name, "admin_state": admin, "actual_state": actual,
                     "uptime": round(info[5], 1) if info else None,
                     "memory": info[2] if info else None, "vcpus": info[3] if info else None}
            if expected is not None:
                if admin is None:
                    problems.append("%s runs but is not known" % name)
                elif admin == "up" and not info:
                    problems.append("%s should run but is stopped" % name)
            instances.append(entry)
        status = {"code": STATUS_BAD if problems else STATUS_OK,
                  "message": "; ".join(problems)}
        return {"instances": instances, "status": status}


def default_collectors(hypervisors: list[str] | None = None, expected=None) -> list:
    collectors = [CpuAvgLoad(), DiskStats(), Drbd(), Lv(), Memory()]
    for hv in hypervisors or []:
        collectors.append(InstanceStatus(hv, expected))
    return collectors


def fake_state_dir() -> str:
    return pathutils.FAKE_HV_DIR
