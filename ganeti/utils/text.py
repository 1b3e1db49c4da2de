"""Text helpers: natural sort, unit formatting and parsing, key=value lists."""

import re

from ganeti import errors

_SORTER_RE = re.compile(r"(\d+)")


def nice_sort_key(value: str):
    """Key that sorts "node2" before "node10"."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p)
            for p in _SORTER_RE.split(value) if p != ""]


def nice_sort(values, key=None):
    if key is None:
        return sorted(values, key=nice_sort_key)
    return sorted(values, key=lambda v: nice_sort_key(key(v)))


def format_unit(value: int | float, units: str, round_up: bool = False) -> str:
    """Format a MiB value: "h" picks M/G/T, "m"/"g"/"t" force a unit."""
    if units not in ("m", "g", "t", "h"):
        raise errors.ProgrammerError("Invalid unit specified '%s'" % units)
    if units == "m" or (units == "h" and value < 1024):
        suffix = "M" if units == "h" else ""
        return "%d%s" % (round(value), suffix)
    if units == "g" or (units == "h" and value < 1024 * 1024):
        suffix = "G" if units == "h" else ""
        return "%0.1f%s" % (value / 1024.0, suffix)
    suffix = "T" if units == "h" else ""
    return "%0.1f%s" % (value / 1024.0 / 1024.0, suffix)


_UNIT_RE = re.compile(r"^([.\d]+)\s*([a-zA-Z]+)?$")


def parse_unit(text: str) -> int:
    """Parse a size like "512", "2g", "1.5T" into MiB (rounded up to 4 MiB as Ganeti)."""
    match = _UNIT_RE.match(str(text).strip())
    if not match:
        raise errors.UnitParseError("Invalid format: %r" % text)
    value, unit = match.groups()
    try:
        number = float(value)
    except ValueError:
        raise errors.UnitParseError("Invalid number: %r" % value) from None
    unit = (unit or "m").lower()
    factors = {"m": 1, "mb": 1, "mib": 1, "g": 1024, "gb": 1024, "gib": 1024,
               "t": 1024 * 1024, "tb": 1024 * 1024, "tib": 1024 * 1024}
    if unit not in factors:
        raise errors.UnitParseError("Unknown unit: %r" % unit)
    number *= factors[unit]
    result = int(number)
    if number > result:
        result += 1
    if result % 4:
        result += 4 - result % 4
    return result


def split_escaped(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` except where it is escaped with a backslash."""
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == sep:
            cur.append(sep)
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def safe_shell_quote(arg: str) -> str:
    import shlex
    return shlex.quote(arg)


def format_time(ts) -> str:
    """Format a timestamp (float or [sec, usec]) as local ctime-like text."""
    import time
    if ts is None:
        return "N/A"
    if isinstance(ts, (list, tuple)):
        ts = ts[0] + ts[1] / 1e6
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
