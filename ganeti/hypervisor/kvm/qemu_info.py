"""What a qemu binary is: version, command line options and machine types.

The parsers take the text of ``qemu -version``, ``qemu -help`` and ``qemu -machine
help``; ``probe`` runs the binary once per path and modification time and caches the
answer for the life of the process.
"""

import os
import re
import threading
from dataclasses import dataclass, field

from ganeti import errors
from ganeti.utils import process

_VERSION_RE = re.compile(r"\bversion\s+(\d+)\.(\d+)(?:\.(\d+))?")
_OPTION_RE = re.compile(r"^(-[a-zA-Z0-9][a-zA-Z0-9_-]*)", re.M)
_MACHINE_RE = re.compile(r"^(\S+)\s+(.*?)\s*$")
_ALIAS_RE = re.compile(r"\(alias of (\S+)\)")
_PROBE_TIMEOUT = 30


@dataclass
class QemuInfo:
    path: str
    version: tuple[int, int, int]
    version_text: str
    options: frozenset = frozenset()
    machines: dict = field(default_factory=dict)  # name -> description
    default_machine: str = ""

    def has_option(self, name: str) -> bool:
        return name in self.options

    def resolve_machine(self, name: str) -> str:
        """The concrete machine type behind an alias (e.g. pc -> pc-i440fx-7.2)."""
        match = _ALIAS_RE.search(self.machines.get(name, ""))
        return match.group(1) if match else name


def parse_version(text: str) -> tuple[tuple[int, int, int], str]:
    """((major, minor, micro), first line) of ``qemu -version`` or ``-help``."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _VERSION_RE.search(first) or _VERSION_RE.search(text)
    if not match:
        raise errors.HypervisorError("Cannot find the qemu version in %r" % first[:200])
    major, minor, micro = match.group(1), match.group(2), match.group(3) or "0"
    return (int(major), int(minor), int(micro)), first


def parse_options(help_text: str) -> frozenset:
    """The command line options ``-help`` lists (e.g. ``-accel``, ``-runas``)."""
    return frozenset(_OPTION_RE.findall(help_text))


def parse_machines(text: str) -> tuple[dict, str]:
    """({name: description}, default machine) from ``-machine help`` (or ``-M ?``).

    The default is returned resolved: when the line marked "(default)" is an alias,
    the machine it stands for.
    """
    machines: dict = {}
    default = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("Supported machines"):
            continue
        match = _MACHINE_RE.match(line)
        if not match:
            continue
        name, desc = match.group(1), match.group(2)
        machines[name] = desc
        if "(default)" in desc and not default:
            default = name
    alias = _ALIAS_RE.search(machines.get(default, ""))
    if alias:
        default = alias.group(1)
    return machines, default


_cache: dict = {}
_cache_lock = threading.Lock()


def _run(path: str, *args: str) -> str:
    result = process.run_cmd([path, *args], reset_env=True, timeout=_PROBE_TIMEOUT)
    if result.failed:
        raise errors.HypervisorError("Running %s %s failed: %s"
                                     % (path, " ".join(args), result.fail_reason))
    return result.stdout


def probe(path: str) -> QemuInfo:
    """Version, options and machines of the qemu binary at ``path`` (cached)."""
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as err:
        raise errors.HypervisorError("Cannot use qemu binary %s: %s"
                                     % (path, err.strerror)) from None
    key = (path, mtime)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    version, text = parse_version(_run(path, "-version"))
    options = parse_options(_run(path, "-help"))
    machines, default = parse_machines(_run(path, "-machine", "help"))
    info = QemuInfo(path, version, text, options, machines, default)
    with _cache_lock:
        _cache[key] = info
    return info
