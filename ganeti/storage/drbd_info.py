"""Parsers of DRBD's outputs (DRBD 8.0 to 8.4), without I/O.

``parse_proc_drbd(text)`` returns the version information and one ``MinorStatus`` per
configured minor: connection state, roles, disk states, counters and, while syncing,
the progress.  Unknown or truncated lines are skipped, never fatal.  Also here: the
``drbdsetup show`` parser (``parse_drbdsetup_show``, strict: malformed or truncated
text is an error) and the instance/minor pairing of the configuration.
"""

import ipaddress
import json
import re
from dataclasses import dataclass, field

from ganeti import errors

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
    def is_in_use(self) -> bool:
        """The minor is configured (anything but Unconfigured)."""
        return not self.is_unconfigured

    @property
    def is_wfconn(self) -> bool:
        return self.cstatus == "WFConnection"

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

    def used_minors(self) -> set[int]:
        """Minors the kernel has configured (Unconfigured ones are free)."""
        return {minor for minor, status in self.minors.items() if status.is_in_use}

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
        # Some kernels pad the flags with NUL bytes.
        status.flags = tail[0].replace("\0", "") or None


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
        # Some kernels print the finish estimate on the same line as the progress.
        finish = _FINISH_RE.search(line)
        if finish:
            current.est_time = (int(finish.group("h")) * 3600 + int(finish.group("m")) * 60
                                + int(finish.group("s")))
            current.speed_kib = int(finish.group("speed").replace(",", ""))
        if sync or finish:
            continue
        counters = _COUNTER_RE.findall(line)
        if counters and not line.strip().startswith(("resync:", "act_log:")):
            for key, value in counters:
                current.counters[key] = int(value) if value.isdigit() else value
    return info


# ------------------------------------------------------------------ drbdsetup show

_SHOW_TOKEN_RE = re.compile(r'\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|[{};]|[^\s{};"#]+')
_DEV_MINOR_RE = re.compile(r"^/dev/drbd(\d+)$")
_RATE_RE = re.compile(r"^(\d+)([kKmMgG]?)$")


@dataclass
class ShowNode:
    """One statement (``children`` None) or section of ``drbdsetup show``."""

    name: str
    args: list[str] = field(default_factory=list)
    children: list | None = None
    index: int | None = None
    is_default: bool = False

    def sections(self, name: str) -> list["ShowNode"]:
        return [c for c in self.children or [] if c.name == name and c.children is not None]

    def statements(self) -> list["ShowNode"]:
        return [c for c in self.children or [] if c.children is None]

    def statement(self, name: str) -> "ShowNode | None":
        for child in self.statements():
            if child.name == name:
                return child
        return None


def _show_error(message: str) -> errors.BlockDeviceError:
    return errors.BlockDeviceError("Cannot parse the output of drbdsetup show: %s" % message)


def _show_tokens(text: str):
    pos = 0
    while pos < len(text):
        match = _SHOW_TOKEN_RE.match(text, pos)
        if not match:
            raise _show_error("unexpected %r at offset %d (unterminated string?)"
                              % (text[pos:pos + 20], pos))
        token = match.group(0)
        pos = match.end()
        if token[0].isspace() or token[0] == "#":
            continue
        if token[0] == '"':
            yield ("str", re.sub(r"\\(.)", r"\1", token[1:-1]))
        elif token in ("{", "}", ";"):
            yield (token, token)
        else:
            yield ("word", token)


def _make_statement(words: list) -> ShowNode:
    kind, name = words[0]
    if kind != "word":
        raise _show_error("statement starts with a string %r" % name)
    node = ShowNode(name=name)
    values = [value for _kind, value in words[1:]]
    idx = 0
    while idx < len(values):
        value = values[idx]
        if value == "[" and idx + 2 < len(values) and values[idx + 2] == "]":
            if not values[idx + 1].isdigit():
                raise _show_error("bad index %r in %s" % (values[idx + 1], name))
            node.index = int(values[idx + 1])
            idx += 3
            continue
        if value == "_is_default":
            node.is_default = True
        else:
            node.args.append(value)
        idx += 1
    return node


def parse_show_tree(text: str) -> ShowNode:
    """The statement/section tree of ``drbdsetup show``; malformed text raises."""
    root = ShowNode(name="", children=[])
    stack = [root]
    words: list = []
    for kind, value in _show_tokens(text):
        if kind == "{":
            if not words or words[0][0] != "word":
                raise _show_error("section without a name")
            section = _make_statement(words)
            section.children = []
            stack[-1].children.append(section)
            stack.append(section)
            words = []
        elif kind == "}":
            if words:
                raise _show_error("statement %r not ended by ';'" % words[0][1])
            if len(stack) == 1:
                raise _show_error("unbalanced '}'")
            stack.pop()
        elif kind == ";":
            if not words:
                raise _show_error("empty statement")
            stack[-1].children.append(_make_statement(words))
            words = []
        else:
            words.append((kind, value))
    if words or len(stack) != 1:
        raise _show_error("output is truncated (section %r not closed)" % stack[-1].name
                          if len(stack) != 1 else "output is truncated")
    return root


@dataclass
class DrbdShowInfo:
    """What matters of one minor's configuration, as shown by ``drbdsetup show``."""

    resource: str | None = None
    minor: int | None = None
    local_dev: str | None = None
    meta_dev: str | None = None
    meta_index: int | None = None
    family: str | None = None
    local_addr: tuple | None = None
    remote_addr: tuple | None = None
    protocol: str | None = None
    # repr=False: the net options hold the shared secret, which must never be logged.
    net: dict = field(default_factory=dict, repr=False)
    disk: dict = field(default_factory=dict)
    syncer: dict = field(default_factory=dict)

    @property
    def has_local_disk(self) -> bool:
        return self.local_dev is not None

    @property
    def has_network(self) -> bool:
        return self.local_addr is not None and self.remote_addr is not None

    @property
    def shared_secret(self) -> str | None:
        return self.net.get("shared-secret")

    @property
    def resync_rate(self) -> int | None:
        """KiB/s: ``resync-rate`` (8.4 disk options) or ``rate`` (8.0-8.3 syncer)."""
        value = self.disk.get("resync-rate", self.syncer.get("rate"))
        return parse_rate(value) if value is not None else None


def parse_rate(value: str) -> int:
    """A DRBD rate such as ``61440k`` in KiB/s."""
    match = _RATE_RE.match(value)
    if not match:
        raise _show_error("bad rate %r" % value)
    factor = {"": 1, "k": 1, "m": 1024, "g": 1024 * 1024}[match.group(2).lower()]
    return int(match.group(1)) * factor


def parse_address(args: list[str]) -> tuple[str, str, int]:
    """``[family] host:port`` (IPv6 hosts in brackets) → (family, host, port)."""
    if len(args) == 1:
        family, hostport = "ipv4", args[0]
    elif len(args) == 2:
        family, hostport = args
    else:
        raise _show_error("bad address %r" % " ".join(args))
    if hostport.startswith("["):
        host, sep, port = hostport[1:].partition("]:")
    else:
        host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise _show_error("bad address %r" % hostport)
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        raise _show_error("bad address %r" % hostport) from None
    if family not in ("ipv4", "ipv6") or (parsed.version == 6) != (family == "ipv6"):
        raise _show_error("address %r does not match family %s" % (hostport, family))
    return family, str(parsed), int(port)


def _options(section: ShowNode) -> dict:
    return {s.name: s.args[0] if s.args else "" for s in section.statements()}


def _local_disk(info: DrbdShowInfo, node: ShowNode) -> None:
    device = node.statement("device")
    if device is not None:
        args = device.args
        match = _DEV_MINOR_RE.match(args[0]) if len(args) == 1 else None
        if len(args) == 2 and args[0] == "minor" and args[1].isdigit():
            info.minor = int(args[1])
        elif match:
            info.minor = int(match.group(1))
        else:
            raise _show_error("bad device %r" % " ".join(args))
    disk = node.statement("disk")
    if disk is not None:
        if len(disk.args) != 1:
            raise _show_error("bad disk statement")
        # A diskless minor shows "disk none;".
        info.local_dev = None if disk.args[0] == "none" else disk.args[0]
    meta = node.statement("meta-disk")
    if meta is not None:
        if len(meta.args) != 1:
            raise _show_error("bad meta-disk statement")
        if meta.args[0] != "none":
            info.meta_dev, info.meta_index = meta.args[0], meta.index


def parse_drbdsetup_show(text: str) -> DrbdShowInfo:
    """Summary of ``drbdsetup show`` (8.0-8.3 flat layout or 8.4 ``resource``)."""
    top = parse_show_tree(text)
    info = DrbdShowInfo()
    resources = top.sections("resource")
    if resources:
        if len(resources) != 1 or not resources[0].args:
            raise _show_error("expected exactly one named resource")
        info.resource = resources[0].args[0]
        top = resources[0]
    for name, target in (("net", info.net), ("disk", info.disk), ("syncer", info.syncer)):
        for section in top.sections(name):
            target.update(_options(section))
    protocol = top.statement("protocol") or next(
        (s.statement("protocol") for s in top.sections("net") if s.statement("protocol")),
        None)
    if protocol is not None:
        info.protocol = protocol.args[0] if protocol.args else None
    for this in top.sections("_this_host"):
        _local_disk(info, this)
        for volume in this.sections("volume"):
            _local_disk(info, volume)
            for section in volume.sections("disk"):
                info.disk.update(_options(section))
        address = this.statement("address")
        if address is not None:
            info.family, host, port = parse_address(address.args)
            info.local_addr = (host, port)
    for remote in top.sections("_remote_host"):
        address = remote.statement("address")
        if address is not None:
            _family, host, port = parse_address(address.args)
            info.remote_addr = (host, port)
    return info


# ------------------------------------------------------------- minors of the config

@dataclass
class MinorPairing:
    """One DRBD minor the configuration assigns: node, minor, instance, disk, role, peer."""

    node: str
    minor: int
    instance: str
    disk: str
    role: str
    peer: str


def parse_minor_pairing(text: str) -> list[MinorPairing]:
    """The instance/minor pairing list (JSON list of 6-element lists)."""
    try:
        data = json.loads(text)
    except ValueError as err:
        raise errors.BlockDeviceError("Invalid DRBD minor pairing data: %s" % err) from None
    if not isinstance(data, list):
        raise errors.BlockDeviceError("Invalid DRBD minor pairing data: not a list")
    result = []
    for entry in data:
        if (not isinstance(entry, list) or len(entry) != 6 or not isinstance(entry[1], int)
                or isinstance(entry[1], bool) or entry[1] < 0
                or not all(isinstance(v, str) for i, v in enumerate(entry) if i != 1)):
            raise errors.BlockDeviceError("Invalid DRBD minor pairing entry %r" % (entry,))
        result.append(MinorPairing(*entry))
    return result


def find_free_minor(config_minors, info: DrbdInfo | None = None,
                    max_minor: int = 255) -> int:
    """Lowest minor neither the configuration nor the kernel (/proc/drbd) uses."""
    used = set(config_minors)
    if info is not None:
        used |= info.used_minors()
    for minor in range(max_minor + 1):
        if minor not in used:
            return minor
    raise errors.BlockDeviceError("No free DRBD minor on this node (all %d in use)"
                                  % (max_minor + 1))
