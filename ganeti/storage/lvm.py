"""LVM logical volumes (the ``plain`` disk template) and the LVM queries of a node.

Every report command runs with ``--noheadings --separator | --units m --nosuffix`` in
the C locale; its output goes through pure parsers that turn anything unexpected
(extra or missing columns, bad numbers, truncated lines) into ``BlockDeviceError``.
"""

import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ganeti import constants
from ganeti import errors
from ganeti.storage.base import BlockDevice
from ganeti.utils import process

SEP = "|"
REPORT_OPTS = ("--noheadings", "--separator", SEP, "--units", "m", "--nosuffix")
LVM_TIMEOUT = 300.0
PV_FIELDS = ("pv_name", "vg_name", "pv_size", "pv_free", "pv_used", "pv_attr", "lv_name")
VG_FIELDS = ("vg_name", "vg_size", "vg_free", "vg_attr", "pv_count", "lv_count")
LV_FIELDS = ("vg_name", "lv_name", "lv_size", "lv_attr")
LV_DEV_FIELDS = ("lv_name", "lv_size", "devices", "vg_name")
LV_ATTACH_FIELDS = ("lv_attr", "lv_kernel_major", "lv_kernel_minor", "vg_extent_size",
                    "stripes", "lv_size")
# The columns of the monitoring daemon's full LV report (``--separator ;`` in bytes).
LV_REPORT_FIELDS = ("lv_uuid", "lv_name", "lv_attr", "lv_major", "lv_minor",
                    "lv_kernel_major", "lv_kernel_minor", "lv_size", "seg_count", "lv_tags",
                    "modules", "vg_uuid", "vg_name", "segtype", "seg_start",
                    "seg_start_pe", "seg_size", "seg_tags", "seg_pe_ranges", "devices")
# Exclusive storage: PVs of one group may differ in size by this fraction at most.
PV_SIZE_MARGIN = 0.10

_NAME_RE = re.compile(r"^[A-Za-z0-9+_.-]+$")
_RESERVED_LV_NAMES = frozenset([".", "..", "snapshot", "pvmove"])
_RESERVED_LV_PARTS = ("_mlog", "_mimage", "_rimage", "_rmeta", "_tdata", "_tmeta")
_MISSING_PV_RE = re.compile(r"Couldn't find device with uuid '?([A-Za-z0-9-]+)'?")
_PARTIAL_LV_RE = re.compile(r"Partial LV (\S+) needs to be repaired")

Runner = Callable[..., process.RunResult]


def run_lvm(cmd: list, runner: Runner | None = None,
            timeout: float = LVM_TIMEOUT) -> process.RunResult:
    """Run an LVM command in the C locale (decimal points, English messages)."""
    return (runner or process.run_cmd)(cmd, env={"LC_ALL": "C"}, reset_env=True,
                                       timeout=timeout)


def _failure(what: str, result: process.RunResult) -> errors.BlockDeviceError:
    output = result.output.strip()
    return errors.BlockDeviceError("%s failed (%s)%s" % (
        what, result.fail_reason, (": " + output[-1500:]) if output else ""))


def check_name(name: str, kind: str) -> str:
    """A volume group or logical volume name LVM accepts and that cannot be an option."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.startswith("-"):
        raise errors.BlockDeviceError("Invalid %s name %r" % (kind, name))
    if kind == "logical volume" and (name in _RESERVED_LV_NAMES or name.startswith(
            ("snapshot", "pvmove")) or any(p in name for p in _RESERVED_LV_PARTS)):
        raise errors.BlockDeviceError("Reserved %s name %r" % (kind, name))
    return name


# --------------------------------------------------------------------------- parsers

@dataclass
class LvmReport:
    rows: list[dict]
    messages: list[str] = field(default_factory=list)

    @property
    def missing_pvs(self) -> list[str]:
        return find_missing_pvs("\n".join(self.messages))


def find_missing_pvs(text: str) -> list[str]:
    """UUIDs of the PVs LVM reported as missing, each once, in order."""
    found: list[str] = []
    for uuid in _MISSING_PV_RE.findall(text):
        if uuid not in found:
            found.append(uuid)
    return found


def parse_report(text: str, fields: Sequence[str], what: str, sep: str = SEP) -> LvmReport:
    """Split report lines into dicts; lines without a separator are LVM messages.

    A line with the separator but not exactly one value per field (an unexpected
    column, a truncated line) makes the whole output unusable.
    """
    report = LvmReport(rows=[])
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if sep not in line and (len(fields) > 1 or " " in line):
            report.messages.append(line)
            continue
        parts = [part.strip() for part in line.split(sep)]
        # Some LVM versions end each line with the separator.
        if len(parts) == len(fields) + 1 and parts[-1] == "":
            parts.pop()
        if len(parts) != len(fields):
            raise errors.BlockDeviceError(
                "Cannot parse the output of %s: expected %d columns (%s), found %d in %r"
                % (what, len(fields), ",".join(fields), len(parts), line[:200]))
        report.rows.append(dict(zip(fields, parts, strict=True)))
    return report


def _number(row: dict, key: str, what: str, kind: type = float):
    value = row.get(key, "")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise errors.BlockDeviceError("Cannot parse the output of %s: %s is %r, not a"
                                      " number" % (what, key, value)) from None
    if kind is float and not math.isfinite(number):
        raise errors.BlockDeviceError("Cannot parse the output of %s: %s is %r"
                                      % (what, key, value))
    return number


@dataclass
class PvInfo:
    name: str
    vg_name: str
    size: float
    free: float
    used: float
    attributes: str
    lv_list: list[str] = field(default_factory=list)

    @property
    def allocatable(self) -> bool:
        return "a" in self.attributes

    @property
    def missing(self) -> bool:
        return "m" in self.attributes

    @property
    def is_empty(self) -> bool:
        return not self.lv_list


@dataclass
class VgInfo:
    name: str
    size: float
    free: float
    attributes: str
    pv_count: int
    lv_count: int

    @property
    def partial(self) -> bool:
        """Some of its PVs are missing (fourth attribute character)."""
        return len(self.attributes) > 3 and self.attributes[3] == "p"


def parse_pvs(text: str) -> list[PvInfo]:
    """``pvs -o PV_FIELDS``: one line per PV segment, merged into one entry per PV."""
    what = "pvs"
    by_name: dict[str, PvInfo] = {}
    for row in parse_report(text, PV_FIELDS, what).rows:
        name = row["pv_name"]
        if not name:
            raise errors.BlockDeviceError("Cannot parse the output of pvs: empty PV name")
        pv = by_name.get(name)
        if pv is None:
            pv = by_name[name] = PvInfo(name, row["vg_name"],
                                        _number(row, "pv_size", what),
                                        _number(row, "pv_free", what),
                                        _number(row, "pv_used", what), row["pv_attr"])
        if row["lv_name"] and row["lv_name"] not in pv.lv_list:
            pv.lv_list.append(row["lv_name"])
    return list(by_name.values())


def parse_vgs(text: str) -> list[VgInfo]:
    what = "vgs"
    return [VgInfo(row["vg_name"], _number(row, "vg_size", what),
                   _number(row, "vg_free", what), row["vg_attr"],
                   _number(row, "pv_count", what, int), _number(row, "lv_count", what, int))
            for row in parse_report(text, VG_FIELDS, what).rows]


def _check_lv_attr(attr: str, what: str) -> str:
    if len(attr) < 6:
        raise errors.BlockDeviceError("Cannot parse the output of %s: lv_attr %r is"
                                      " shorter than 6 characters" % (what, attr))
    return attr


def parse_lv_list(text: str) -> dict[str, tuple[float, bool, bool]]:
    """``lvs -o LV_FIELDS`` → {"vg/lv": (size MiB, inactive, open)}; virtual LVs skipped."""
    result = {}
    for row in parse_report(text, LV_FIELDS, "lvs").rows:
        attr = _check_lv_attr(row["lv_attr"], "lvs")
        if attr[0] == "v":
            continue
        result["%s/%s" % (row["vg_name"], row["lv_name"])] = (
            _number(row, "lv_size", "lvs"), attr[4] != "a", attr[5] == "o")
    return result


def parse_node_volumes(text: str) -> list[dict]:
    """``lvs -o LV_DEV_FIELDS`` → one entry per (LV, physical device) for gnt-node volumes."""
    volumes = []
    for row in parse_report(text, LV_DEV_FIELDS, "lvs").rows:
        size = int(round(_number(row, "lv_size", "lvs")))
        # devices looks like "/dev/sda5(0),/dev/sdb1(12)"; the extent offset is noise here
        devs = [d.split("(")[0] for d in row["devices"].split(",") if d] or [""]
        for dev in devs:
            volumes.append({"name": row["lv_name"], "size": size, "dev": dev,
                            "vg": row["vg_name"]})
    return volumes


def _bytes(value: str, key: str, what: str) -> int:
    text = value[:-1] if value.endswith("B") else value
    return _number({key: text}, key, what, int)


def parse_lv_report(text: str) -> list[dict]:
    """The monitoring LV report (``lvs --units b --separator ;`` of LV_REPORT_FIELDS)."""
    what = "lvs report"
    result = []
    for row in parse_report(text, LV_REPORT_FIELDS, what, sep=";").rows:
        _check_lv_attr(row["lv_attr"], what)
        entry = dict(row)
        for key in ("lv_major", "lv_minor", "lv_kernel_major", "lv_kernel_minor",
                    "seg_count", "seg_start_pe"):
            entry[key] = _number(row, key, what, int)
        for key in ("lv_size", "seg_start", "seg_size"):
            entry[key] = _bytes(row[key], key, what)
        entry["lv_tags"] = [t for t in row["lv_tags"].split(",") if t]
        entry["devices"] = [d for d in row["devices"].split(",") if d]
        result.append(entry)
    return result


@dataclass
class VgreduceResult:
    consistent: bool
    missing_pvs: list[str]
    partial_lvs: list[str]


def parse_vgreduce(text: str) -> VgreduceResult:
    """Output of ``vgreduce --removemissing``: did it write a consistent group?"""
    return VgreduceResult(consistent="Wrote out consistent volume group" in text,
                          missing_pvs=find_missing_pvs(text),
                          partial_lvs=_PARTIAL_LV_RE.findall(text))


def vg_consistency_problem(vg_name: str, text: str) -> str | None:
    """Why a ``vgs`` output shows ``vg_name`` as still inconsistent (None when fine)."""
    if re.search(r"Volume group \"?%s\"? not found" % re.escape(vg_name), text):
        return "volume group %s not found" % vg_name
    missing = find_missing_pvs(text)
    if missing:
        return "volume group %s still misses physical volume(s) %s" % (
            vg_name, ", ".join(missing))
    if "Couldn't find all physical volumes" in text:
        return "volume group %s still misses physical volumes" % vg_name
    return None


# ----------------------------------------------------------------------- node queries

def _report(cmd: list, what: str, runner: Runner | None) -> process.RunResult:
    result = run_lvm(cmd, runner)
    if result.failed:
        raise _failure(what, result)
    return result


def get_pv_info(vg_names: Iterable[str] | None = None,
                runner: Runner | None = None) -> list[PvInfo]:
    cmd = ["pvs", *REPORT_OPTS, "--unbuffered", "-o", ",".join(PV_FIELDS)]
    pvs = parse_pvs(_report(cmd, "pvs", runner).stdout)
    if vg_names is not None:
        wanted = set(vg_names)
        pvs = [pv for pv in pvs if pv.vg_name in wanted]
    return pvs


def get_vg_info(vg_names: Iterable[str] | None = None,
                runner: Runner | None = None) -> list[VgInfo]:
    cmd = ["vgs", *REPORT_OPTS, "--unbuffered", "-o", ",".join(VG_FIELDS)]
    vgs = parse_vgs(_report(cmd, "vgs", runner).stdout)
    if vg_names is not None:
        wanted = set(vg_names)
        vgs = [vg for vg in vgs if vg.name in wanted]
    return vgs


def lv_list(vg_names: Iterable[str] | None = None,
            runner: Runner | None = None) -> dict[str, tuple[float, bool, bool]]:
    """The ``lv_list`` procedure: every LV of the given groups (all groups if None)."""
    cmd = ["lvs", *REPORT_OPTS, "-o", ",".join(LV_FIELDS)]
    lvs = parse_lv_list(_report(cmd, "lvs", runner).stdout)
    if vg_names is not None:
        wanted = set(vg_names)
        lvs = {key: value for key, value in lvs.items() if key.split("/")[0] in wanted}
    return lvs


def vg_list(runner: Runner | None = None) -> dict[str, int]:
    """The ``vg_list`` procedure: {volume group: size in MiB}."""
    return {vg.name: int(round(vg.size)) for vg in get_vg_info(None, runner)}


def node_volumes(runner: Runner | None = None) -> list[dict]:
    """The ``node_volumes`` procedure (gnt-node volumes)."""
    cmd = ["lvs", *REPORT_OPTS, "-o", ",".join(LV_DEV_FIELDS)]
    return parse_node_volumes(_report(cmd, "lvs", runner).stdout)


def check_exclusive_pvs(pvs: Sequence[PvInfo]) -> list[str]:
    """Problems of a volume group under exclusive storage (empty list: none)."""
    problems = []
    sizes = [pv.size for pv in pvs if not pv.missing]
    if sizes and min(sizes) < max(sizes) * (1 - PV_SIZE_MARGIN):
        problems.append("PV sizes differ too much in the group; smallest (%d MiB) is"
                        " %d MiB smaller than largest (%d MiB)"
                        % (min(sizes), max(sizes) - min(sizes), max(sizes)))
    for pv in pvs:
        if len(pv.lv_list) > 1:
            problems.append("PV %s is shared among unrelated LVs (%s)"
                            % (pv.name, ", ".join(pv.lv_list)))
    return problems


def vg_storage_info(vg_name: str, excl_stor: bool = False,
                    runner: Runner | None = None) -> dict:
    """The ``lvm-vg`` entry of node_info: free and total MiB of a group.

    Under exclusive storage only empty PVs can take a new disk, so only they count
    as free space.
    """
    vgs = get_vg_info([vg_name], runner)
    if not vgs:
        return {"type": constants.ST_LVM_VG, "name": vg_name, "storage_free": None,
                "storage_size": None, "error": "volume group %s not found" % vg_name}
    free, size = vgs[0].free, vgs[0].size
    if excl_stor:
        usable = [pv for pv in get_pv_info([vg_name], runner)
                  if pv.allocatable and not pv.missing]
        free = sum(pv.size for pv in usable if pv.is_empty)
    return {"type": constants.ST_LVM_VG, "name": vg_name,
            "storage_free": int(round(free)), "storage_size": int(round(size))}


def pv_spindle_info(vg_name: str, runner: Runner | None = None) -> dict:
    """The ``lvm-pv`` entry of node_info: spindles are PVs (exclusive storage)."""
    pvs = [pv for pv in get_pv_info([vg_name], runner) if not pv.missing]
    return {"type": constants.ST_LVM_PV, "name": vg_name,
            "storage_free": sum(1 for pv in pvs if pv.is_empty and pv.allocatable),
            "storage_size": len(pvs)}


_STORAGE_FIELDS = {
    constants.ST_LVM_PV: (constants.SF_NAME, constants.SF_SIZE, constants.SF_USED,
                          constants.SF_FREE, constants.SF_ALLOCATABLE),
    constants.ST_LVM_VG: (constants.SF_NAME, constants.SF_SIZE, constants.SF_USED,
                          constants.SF_FREE, constants.SF_ALLOCATABLE),
}


def storage_list(kind: str, name: str | None, fields: Sequence[str],
                 runner: Runner | None = None) -> list[list]:
    """The ``storage_list`` procedure for lvm-pv and lvm-vg: rows in ``fields`` order."""
    if kind not in _STORAGE_FIELDS:
        raise errors.StorageError("Storage type %r is not an LVM type" % (kind,))
    unknown = [f for f in fields if f not in _STORAGE_FIELDS[kind]]
    if unknown:
        raise errors.StorageError("Unknown %s field(s): %s" % (kind, ", ".join(unknown)))
    try:
        if kind == constants.ST_LVM_PV:
            units = [{constants.SF_NAME: pv.name, constants.SF_SIZE: pv.size,
                      constants.SF_USED: pv.used, constants.SF_FREE: pv.free,
                      constants.SF_ALLOCATABLE: pv.allocatable}
                     for pv in get_pv_info(None, runner)]
        else:
            units = [{constants.SF_NAME: vg.name, constants.SF_SIZE: vg.size,
                      constants.SF_USED: vg.size - vg.free, constants.SF_FREE: vg.free,
                      constants.SF_ALLOCATABLE: True} for vg in get_vg_info(None, runner)]
    except errors.BlockDeviceError as err:
        raise errors.StorageError(str(err)) from None
    rows = []
    for unit in sorted(units, key=lambda u: u[constants.SF_NAME]):
        if name is not None and unit[constants.SF_NAME] != name:
            continue
        rows.append([int(round(unit[f])) if f in (constants.SF_SIZE, constants.SF_USED,
                                                  constants.SF_FREE) else unit[f]
                     for f in fields])
    return rows


def storage_modify(kind: str, name: str, changes: dict, runner: Runner | None = None) -> None:
    """The ``storage_modify`` procedure: only a PV's allocatable flag can change."""
    if kind != constants.ST_LVM_PV or set(changes) - {constants.SF_ALLOCATABLE}:
        raise errors.StorageError("Cannot modify %s of storage type %s"
                                  % (", ".join(sorted(changes)) or "nothing", kind))
    if not isinstance(name, str) or not name.startswith("/") or name.startswith("-"):
        raise errors.StorageError("Invalid physical volume name %r" % (name,))
    if constants.SF_ALLOCATABLE in changes:
        flag = "y" if changes[constants.SF_ALLOCATABLE] else "n"
        result = run_lvm(["pvchange", "--allocatable", flag, name], runner)
        if result.failed:
            raise errors.StorageError(str(_failure("pvchange of %s" % name, result)))


def storage_execute(kind: str, name: str, op: str, runner: Runner | None = None) -> None:
    """The ``storage_execute`` procedure: fix-consistency of a volume group."""
    if kind != constants.ST_LVM_VG or op != constants.SO_FIX_CONSISTENCY:
        raise errors.StorageError("Operation %r is not supported for storage type %s"
                                  % (op, kind))
    try:
        check_name(name, "volume group")
    except errors.BlockDeviceError as err:
        raise errors.StorageError(str(err)) from None
    # vgreduce refuses while partial LVs remain (we never pass --force, which would
    # destroy them); the vgs check below decides whether the group is usable again.
    reduced = run_lvm(["vgreduce", "--removemissing", name], runner)
    outcome = parse_vgreduce(reduced.output)
    if reduced.failed:
        logging.warning("vgreduce --removemissing %s failed: %s", name,
                        reduced.output.strip()[-500:])
    check = run_lvm(["vgs", *REPORT_OPTS, "-o", ",".join(VG_FIELDS), name], runner)
    problem = vg_consistency_problem(name, check.output)
    if problem is None and check.failed:
        problem = "cannot read volume group %s: %s" % (name, check.output.strip()[-500:])
    if problem is None:
        try:
            vgs = parse_vgs(check.stdout)
        except errors.BlockDeviceError as err:
            raise errors.StorageError(str(err)) from None
        if any(vg.partial for vg in vgs):
            problem = "volume group %s is still partial" % name
    if problem:
        extra = ""
        if outcome.partial_lvs:
            extra = "; these LVs need to be repaired or removed first: %s" % ", ".join(
                outcome.partial_lvs)
        raise errors.StorageError("Fixing %s failed: %s%s" % (name, problem, extra))


# --------------------------------------------------------------------- the LV device

def _lv_id(unique_id) -> tuple[str, str]:
    if not isinstance(unique_id, (list, tuple)) or len(unique_id) != 2:
        raise errors.BlockDeviceError("Invalid logical volume id %r" % (unique_id,))
    return (check_name(unique_id[0], "volume group"),
            check_name(unique_id[1], "logical volume"))


def ld_params(params: dict | None) -> dict:
    merged = dict(constants.DISK_LD_DEFAULTS[constants.DT_PLAIN])
    merged.update(params or {})
    return merged


def _exclusive_pvs(pvs: list[PvInfo], size: int, spindles) -> list[str]:
    """The empty PVs a new LV gets under exclusive storage (one LV per PV)."""
    empty = sorted((pv for pv in pvs if pv.is_empty), key=lambda pv: -pv.free)
    smallest = min((pv.size for pv in empty), default=0)
    needed = int(math.ceil(size / smallest)) if smallest > 0 else len(empty) + 1
    if spindles is not None:
        if spindles < needed:
            raise errors.BlockDeviceError(
                "Requested number of spindles (%s) is not enough for a disk of %d MiB"
                " (at least %d spindles needed)" % (spindles, size, needed))
        needed = spindles
    if len(empty) < needed:
        raise errors.BlockDeviceError(
            "Not enough empty PVs (%d) to create a disk of %d MiB: at least %d needed"
            % (len(empty), size, needed))
    return [pv.name for pv in empty[:needed]]


class LogicalVolume(BlockDevice):
    """A logical volume; unique_id is (volume group, LV name)."""

    def __init__(self, unique_id, children, size, params, dyn_params, *,
                 runner: Runner | None = None):
        super().__init__(unique_id, children, size, params, dyn_params)
        self.vg_name, self.lv_name = _lv_id(unique_id)
        self.params = ld_params(params)
        self.dev_path = "/dev/%s/%s" % (self.vg_name, self.lv_name)
        self.runner = runner
        self.major = self.minor = None
        self.pe_size: float | None = None
        self.stripe_count: int | None = None
        self.attributes = ""

    @property
    def full_name(self) -> str:
        return "%s/%s" % (self.vg_name, self.lv_name)

    def __repr__(self) -> str:
        return "<LogicalVolume %s>" % self.full_name

    @classmethod
    def create(cls, unique_id, children, size, spindles, params, excl_stor, dyn_params,
               *, runner: Runner | None = None) -> "LogicalVolume":
        """Create the LV on the PVs of its group; on any failure nothing is created."""
        dev = cls(unique_id, children, size, params, dyn_params, runner=runner)
        if not isinstance(size, int) or size <= 0:
            raise errors.BlockDeviceError("Invalid size %r for %s" % (size, dev.full_name))
        pvs = [pv for pv in get_pv_info([dev.vg_name], runner)
               if pv.allocatable and not pv.missing]
        if not pvs:
            raise errors.BlockDeviceError("Volume group %s has no usable physical volumes"
                                          " on this node" % dev.vg_name)
        wanted_stripes = int(dev.params[constants.LDP_STRIPES])
        if excl_stor:
            pvlist = _exclusive_pvs(pvs, size, spindles)
        else:
            pvs.sort(key=lambda pv: -pv.free)
            pvlist = [pv.name for pv in pvs]
            free = sum(pv.free for pv in pvs)
            if free < size:
                raise errors.BlockDeviceError(
                    "Not enough free space in volume group %s for %s: %d MiB requested,"
                    " %d MiB free" % (dev.vg_name, dev.full_name, size, int(free)))
        stripes = max(1, min(wanted_stripes, len(pvlist)))
        if stripes < wanted_stripes:
            logging.warning("Using %d stripes instead of %d for %s: only %d PVs",
                            stripes, wanted_stripes, dev.full_name, len(pvlist))
        if dev.attach():
            raise errors.BlockDeviceError("Logical volume %s already exists" % dev.full_name)
        result = None
        # Fewer stripes need free extents on fewer PVs, so retry before giving up.
        for count in range(stripes, 0, -1):
            result = run_lvm(["lvcreate", "-Wn", "-L", "%dm" % size, "-n", dev.lv_name,
                              "-i", str(count), dev.vg_name, *pvlist], runner)
            if not result.failed:
                break
            logging.warning("lvcreate of %s with %d stripe(s) failed: %s", dev.full_name,
                            count, result.output.strip()[-500:])
        if result.failed:
            if dev.attach():
                dev.remove()
            raise _failure("Creating logical volume %s" % dev.full_name, result)
        dev.attach()
        return dev

    def remove(self) -> None:
        if not self.attach():
            return
        result = run_lvm(["lvremove", "-f", self.full_name], self.runner)
        if result.failed:
            raise _failure("Removing logical volume %s" % self.full_name, result)
        self.attached = False

    def attach(self) -> bool:
        """Look the LV up; False when it does not exist."""
        result = run_lvm(["lvs", *REPORT_OPTS, "-o", ",".join(LV_ATTACH_FIELDS),
                          self.full_name], self.runner)
        if result.failed:
            logging.debug("LV %s not found: %s", self.full_name, result.output.strip())
            self.attached = False
            return False
        rows = parse_report(result.stdout, LV_ATTACH_FIELDS, "lvs").rows
        if not rows:
            self.attached = False
            return False
        # One line per segment; the last one is where growing continues.
        row = rows[-1]
        self.attributes = _check_lv_attr(row["lv_attr"], "lvs")
        self.major = _number(row, "lv_kernel_major", "lvs", int)
        self.minor = _number(row, "lv_kernel_minor", "lvs", int)
        self.pe_size = _number(row, "vg_extent_size", "lvs")
        self.stripe_count = _number(row, "stripes", "lvs", int)
        self.size = int(round(_number(row, "lv_size", "lvs")))
        if self.pe_size <= 0 or self.stripe_count <= 0:
            raise errors.BlockDeviceError("Cannot parse the output of lvs for %s: extent"
                                          " size %s, stripes %s" % (
                                              self.full_name, self.pe_size,
                                              self.stripe_count))
        self.attached = True
        return True

    @property
    def degraded(self) -> bool:
        """Virtual (its PVs are gone) or partial (some of them are)."""
        attr = self.attributes
        return bool(attr) and (attr[0] == "v" or (len(attr) > 8 and attr[8] == "p"))

    def assemble(self) -> None:
        result = run_lvm(["lvchange", "-ay", self.full_name], self.runner)
        if result.failed:
            raise _failure("Activating logical volume %s" % self.full_name, result)
        self.attach()

    def shutdown(self) -> None:
        """Nothing: LVs stay active, deactivating them buys nothing and costs time."""

    def get_sync_status(self) -> dict:
        status = super().get_sync_status()
        if self.degraded:
            status.update(is_degraded=True, ldisk_status=constants.LDS_FAULTY)
        status.update(major=self.major, minor=self.minor)
        return status

    def grow(self, amount, dryrun, backingstore, excl_stor) -> None:
        if not backingstore:
            return
        if not isinstance(amount, int) or amount <= 0:
            raise errors.BlockDeviceError("Invalid growth %r for %s" % (amount,
                                                                        self.full_name))
        if not self.attach():
            raise errors.BlockDeviceError("Cannot grow %s: not found" % self.full_name)
        # Round up to whole extents on every stripe, as LVM would, but explicitly.
        stripe_kib = int(round(self.pe_size * 1024)) * self.stripe_count
        amount_kib = int(math.ceil(amount * 1024 / stripe_kib)) * stripe_kib
        cmd = ["lvresize", "-L", "+%dk" % amount_kib]
        if dryrun:
            cmd.append("--test")
        pvlist: list[str] = []
        if excl_stor:
            mine = [pv for pv in get_pv_info([self.vg_name], self.runner)
                    if self.lv_name in pv.lv_list]
            free = sum(pv.free for pv in mine)
            if free * 1024 < amount_kib:
                raise errors.BlockDeviceError(
                    "Not enough free space on the PVs of %s to grow it by %d MiB"
                    " (%d MiB free)" % (self.full_name, amount, int(free)))
            pvlist = [pv.name for pv in mine]
        result = None
        # The stricter policies may find no room where the looser ones do.
        for policy in ("contiguous", "cling", "normal"):
            result = run_lvm(cmd + ["--alloc", policy, self.full_name, *pvlist],
                             self.runner)
            if not result.failed:
                break
        if result.failed:
            raise _failure("Growing logical volume %s" % self.full_name, result)
        if not dryrun:
            self.attach()

    def get_actual_size(self) -> int:
        from ganeti.storage.blockdev import device_size_bytes
        return device_size_bytes(self.dev_path, self.runner)

    def rename(self, new_id) -> None:
        new_vg, new_lv = _lv_id(new_id)
        if new_vg != self.vg_name:
            raise errors.BlockDeviceError("Cannot move logical volume %s to volume group %s"
                                          % (self.full_name, new_vg))
        result = run_lvm(["lvrename", self.vg_name, self.lv_name, new_lv], self.runner)
        if result.failed:
            raise _failure("Renaming %s to %s" % (self.full_name, new_lv), result)
        self.unique_id = (new_vg, new_lv)
        self.lv_name = new_lv
        self.dev_path = "/dev/%s/%s" % (new_vg, new_lv)

    def snapshot(self, snap_name: str, snap_size: int):
        """A snapshot LV in the same group; returns its id (vg, name)."""
        check_name(snap_name, "logical volume")
        vgs = get_vg_info([self.vg_name], self.runner)
        if not vgs:
            raise errors.BlockDeviceError("Volume group %s not found" % self.vg_name)
        if vgs[0].free < snap_size:
            raise errors.BlockDeviceError(
                "Not enough free space in volume group %s for a snapshot of %s: %d MiB"
                " requested, %d MiB free" % (self.vg_name, self.full_name, snap_size,
                                             int(vgs[0].free)))
        result = run_lvm(["lvcreate", "--snapshot", "-L", "%dm" % snap_size, "-n",
                          snap_name, self.full_name], self.runner)
        if result.failed:
            raise _failure("Snapshot of %s" % self.full_name, result)
        return (self.vg_name, snap_name)

    def set_info(self, text: str) -> None:
        """Tag the LV (e.g. ``originstname+<instance>``) with LVM's allowed characters."""
        tag = re.sub(r"[^-A-Za-z0-9_+.]", "_", text)
        tag = re.sub(r"^[^A-Za-z0-9_+.]", "_", tag)[:128]
        result = run_lvm(["lvchange", "--addtag", tag, self.full_name], self.runner)
        if result.failed:
            raise _failure("Tagging %s" % self.full_name, result)
