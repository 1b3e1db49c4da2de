"""Parser of /proc/drbd (DRBD 8.0 to 8.4), without I/O.

``parse_proc_drbd(text)`` returns the version information and one ``MinorStatus`` per
configured minor: connection state, roles, disk states, counters and, while syncing,
the progress.  Unknown or truncated lines are skipped, never fatal.
"""

import re
from dataclasses import dataclass, field

_VERSION_RE = re.compile(r"^version:\s*(?P<version>\d+\.\d+\.\d+)"
                         r"(?:\s*\(api:(?P<api>\d+)/proto:(?P<proto>[\d-]+)\))?")
_MINOR_RE = re.compile(r"^\s*(?P<minor>\d+):\s*cs:(?P<cs>\S+)(?P<rest>.*)$")
_SYNC_RE = re.compile(r"sync'ed:\s*(?P<pct>[\d.]+)%\s*\((?P<left>\d+)/(?P<total>\d+)\)"
                      r"(?P<unit>[KM])")
_FINISH_RE = re.compile(r"finish:\s*(?P<h>\d+):(?P<m>\d+):(?P<s>\d+)\s+speed:\s*"
                        r"(?P<speed>[\d,]+)")
_COUNTER_RE = re.compile(r"\b([a-z]{2,3}):(\w+)")

CONNECTED_STATES = frozenset(["Connected", "SyncSource", "SyncTarget", "PausedSyncS",
                              "PausedSyncT", "VerifyS", "VerifyT", "StartingSyncS",
                              "StartingSyncT", "WFBitMapS", "WFBitMapT", "WFSyncUUID"])
SYNC_STATES = frozenset(["SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT"])


@dataclass
class MinorStatus:
    minor: int
    cstatus: str
    lrole: str | None = None
    rrole: str | None = None
    ldisk: str | None = None
    rdisk: str | None = None
    protocol: str | None = None
    flags: str | None = None
    counters: dict = field(default_factory=dict)
    sync_percent: float | None = None
    sync_unit: str | None = None
    est_time: int | None = None
    speed_kib: int | None = None

    @property
    def is_unconfigured(self) -> bool:
        return self.cstatus == "Unconfigured"

    @property
    def is_standalone(self) -> bool:
        return self.cstatus == "StandAlone"

    @property
    def is_connected(self) -> bool:
        return self.cstatus in CONNECTED_STATES

    @property
    def is_in_resync(self) -> bool:
        return self.cstatus in SYNC_STATES

    @property
    def is_primary(self) -> bool:
        return self.lrole == "Primary"

    @property
    def is_diskless(self) -> bool:
        return self.ldisk == "Diskless"

    @property
    def is_disk_uptodate(self) -> bool:
        return self.ldisk == "UpToDate"

    @property
    def is_degraded(self) -> bool:
        """Not a healthy mirror: local or peer disk not up to date, or not connected."""
        return not (self.is_connected and self.ldisk == "UpToDate"
                    and self.rdisk == "UpToDate")

    def to_dict(self) -> dict:
        result = {"minor": self.minor, "connectionState": self.cstatus,
                  "localRole": self.lrole, "remoteRole": self.rrole,
                  "localState": self.ldisk, "remoteState": self.rdisk,
                  "replicationProtocol": self.protocol, "ioFlags": self.flags,
                  "perfIndicators": dict(self.counters)}
        if self.sync_percent is not None:
            result["syncStatus"] = {"percentage": self.sync_percent,
                                    "timeToFinish": self.est_time,
                                    "speed": self.speed_kib, "unit": self.sync_unit}
        return result


@dataclass
class DrbdInfo:
    version: str | None = None
    api: str | None = None
    proto: str | None = None
    srcversion: str | None = None
    git_hash: str | None = None
    minors: dict = field(default_factory=dict)

    def version_tuple(self) -> tuple:
        if not self.version:
            return ()
        return tuple(int(p) for p in self.version.split("."))

    def to_dict(self) -> dict:
        return {"version": {"k_major": self.version_tuple()[:1] and self.version_tuple()[0],
                            "version": self.version, "api": self.api,
                            "proto": self.proto, "srcversion": self.srcversion,
                            "gitHash": self.git_hash},
                "device": [m.to_dict() for _k, m in sorted(self.minors.items())]}


def _parse_status_line(status: MinorStatus, rest: str) -> None:
    for key, value in re.findall(r"\b(ro|st|ds):(\S+)", rest):
        first, _, second = value.partition("/")
        if key in ("ro", "st"):
            status.lrole, status.rrole = first, second or None
        else:
            status.ldisk, status.rdisk = first, second or None
    tail = re.sub(r"\b(?:ro|st|ds):\S+", "", rest).split()
    if tail and tail[0] in ("A", "B", "C"):
        status.protocol = tail[0]
        tail = tail[1:]
    if tail:
        status.flags = tail[0]


def parse_proc_drbd(text: str) -> DrbdInfo:
    info = DrbdInfo()
    current: MinorStatus | None = None
    for line in text.splitlines():
        match = _VERSION_RE.match(line)
        if match:
            info.version = match.group("version")
            info.api = match.group("api")
            info.proto = match.group("proto")
            continue
        if line.startswith("srcversion:"):
            info.srcversion = line.split(":", 1)[1].strip()
            continue
        if line.startswith("GIT-hash:"):
            info.git_hash = line.split(":", 1)[1].split()[0] if \
                line.split(":", 1)[1].split() else None
            continue
        match = _MINOR_RE.match(line)
        if match:
            current = MinorStatus(minor=int(match.group("minor")), cstatus=match.group("cs"))
            _parse_status_line(current, match.group("rest"))
            info.minors[current.minor] = current
            continue
        if current is None:
            continue
        sync = _SYNC_RE.search(line)
        if sync:
            current.sync_percent = float(sync.group("pct"))
            current.sync_unit = sync.group("unit")
            continue
        finish = _FINISH_RE.search(line)
        if finish:
            current.est_time = (int(finish.group("h")) * 3600 + int(finish.group("m")) * 60
                                + int(finish.group("s")))
            current.speed_kib = int(finish.group("speed").replace(",", ""))
            continue
        counters = _COUNTER_RE.findall(line)
        if counters and not line.strip().startswith(("resync:", "act_log:")):
            for key, value in counters:
                current.counters[key] = int(value) if value.isdigit() else value
    return info
