"""The ``xl`` toolstack: running its commands and parsing their output.

Parsers take text (``xl list``, ``xl list --long`` in its S-expression form,
``xl info``, ``xl uptime``); ``XlRunner`` runs the commands through a replaceable
function so that everything above it is tested without Xen.
"""

import re
from dataclasses import dataclass

from ganeti import errors
from ganeti.utils import process

DOM0_NAME = "Domain-0"
_TIMEOUT = 120
_UPTIME_RE = re.compile(r"^(?:(\d+) days?,\s*)?(\d+):(\d\d):(\d\d)$")


@dataclass
class Domain:
    name: str
    id: int
    memory: int     # MiB
    vcpus: int
    state: str      # the six flag characters of xl list, e.g. "-b----"
    cpu_time: float

    @property
    def crashed_or_dying(self) -> bool:
        # "c" crashed, "d" dying (flags: r b p s c d)
        return "c" in self.state[4:5] or "d" in self.state[5:6]

    @property
    def shutdown(self) -> bool:
        return self.state[3:4] == "s"


def parse_xl_list(text: str, include_dom0: bool = False) -> list[Domain]:
    """Domains of ``xl list``; the header and (by default) Domain-0 are skipped."""
    result = []
    for lineno, line in enumerate(text.splitlines()):
        fields = line.split()
        if not fields or (lineno == 0 and fields[0] == "Name"):
            continue
        if len(fields) < 6:
            raise errors.HypervisorError("Can't parse the output of xl list: %r" % line)
        # the name may contain blanks: the last five fields are fixed
        name = " ".join(fields[:-5])
        try:
            dom = Domain(name, int(fields[-5]), int(fields[-4]), int(fields[-3]),
                         fields[-2], float(fields[-1]))
        except ValueError:
            raise errors.HypervisorError("Can't parse the output of xl list: %r"
                                         % line) from None
        if dom.name == DOM0_NAME and not include_dom0:
            continue
        result.append(dom)
    return result


def parse_xl_info(text: str) -> dict:
    """``xl info`` as a dict of strings (key : value lines)."""
    result = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            result[key.strip()] = value.strip()
    return result


def node_info_from_xl(info: dict, domains: list[Domain]) -> dict:
    """The hypervisor part of node_info from ``xl info`` and ``xl list`` (with dom0)."""
    def number(key: str) -> int:
        try:
            return int(info[key])
        except (KeyError, ValueError):
            raise errors.HypervisorError("xl info lacks a numeric %s" % key) from None

    cpus = number("nr_cpus")
    per_socket = max(1, number("cores_per_socket") * number("threads_per_core"))
    dom0 = [d for d in domains if d.name == DOM0_NAME]
    result = {"memory_total": number("total_memory"), "memory_free": number("free_memory"),
              "memory_dom0": dom0[0].memory if dom0 else 0, "memory_hv": 0,
              "cpu_total": cpus, "cpu_nodes": number("nr_nodes"),
              "cpu_sockets": max(1, cpus // per_socket),
              "cpu_dom0": dom0[0].vcpus if dom0 else 0}
    if "xen_major" in info and "xen_minor" in info:
        result["hv_version"] = [int(info["xen_major"]), int(info["xen_minor"])]
    # memory of domains xl does not count as free (not dom0, not shutting down)
    result["memory_hv"] = max(0, result["memory_total"] - result["memory_free"] -
                              result["memory_dom0"] -
                              sum(d.memory for d in domains if d.name != DOM0_NAME))
    return result


def parse_xl_uptime(text: str) -> dict[str, int]:
    """name -> uptime in seconds, from ``xl uptime``."""
    result = {}
    for lineno, line in enumerate(text.splitlines()):
        fields = line.split(None, 2)
        if not fields or (lineno == 0 and fields[0] == "Name"):
            continue
        if len(fields) < 3:
            raise errors.HypervisorError("Can't parse the output of xl uptime: %r" % line)
        match = _UPTIME_RE.match(fields[2].strip())
        if not match:
            raise errors.HypervisorError("Can't parse the uptime %r" % fields[2])
        days, hours, mins, secs = (int(x or 0) for x in match.groups())
        result[fields[0]] = ((days * 24 + hours) * 60 + mins) * 60 + secs
    return result


def parse_sexpr(text: str) -> list:
    """S-expressions (as printed by ``xl list --long`` of Xen 4.0) into nested lists."""
    tokens = re.findall(r"\(|\)|'[^']*'|[^\s()]+", text)
    stack: list = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) < 2:
                raise errors.HypervisorError("Unbalanced ')' in the xl output")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok[1:-1] if tok.startswith("'") else tok)
    if len(stack) != 1:
        raise errors.HypervisorError("Unbalanced '(' in the xl output")
    return stack[0]


def sexpr_fields(expr: list) -> dict:
    """{key: value} of the (key value) children of an S-expression."""
    result = {}
    for item in expr[1:]:
        if isinstance(item, list) and item and isinstance(item[0], str):
            result[item[0]] = item[1] if len(item) == 2 else item[1:]
    return result


def parse_xl_list_long(text: str) -> list[dict]:
    """The domains of ``xl list --long`` (S-expression form) as field dicts."""
    return [sexpr_fields(expr) for expr in parse_sexpr(text)
            if isinstance(expr, list) and expr and expr[0] == "domain"]


def _default_run(cmd: list[str], timeout: float) -> process.RunResult:
    return process.run_cmd(cmd, reset_env=True, timeout=timeout)


class XlRunner:
    """Runs ``xl`` subcommands; ``run`` can be replaced (tests, other toolstacks)."""

    def __init__(self, xl_path: str = "xl", run=_default_run):
        self.xl_path = xl_path
        self._run = run

    def __call__(self, *args: str, timeout: float = _TIMEOUT,
                 check: bool = True) -> process.RunResult:
        result = self._run([self.xl_path, *args], timeout)
        if check and result.failed:
            raise errors.HypervisorError("xl %s failed: %s"
                                         % (" ".join(args), result.describe_failure()))
        return result

    def list_domains(self, include_dom0: bool = False) -> list[Domain]:
        return parse_xl_list(self("list").stdout, include_dom0)

    def info(self) -> dict:
        return parse_xl_info(self("info").stdout)

    def uptime(self) -> dict[str, int]:
        return parse_xl_uptime(self("uptime").stdout)
