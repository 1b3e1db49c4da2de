"""What the bench scripts share: the installed copy to measure, the commit, the table."""

import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def default_prefix() -> str:
    """The demo installation when present, else the test installation."""
    if os.path.exists("/opt/ganeti/lib/ganeti/tools"):
        default = "/opt/ganeti"
    else:
        default = os.path.join(TOP, "build", "test-root")
    return os.environ.get("GANETI_TEST_PREFIX", default)


def harness(prefix: str):
    """The virtual-cluster harness of test/lib, bound to ``prefix``."""
    os.environ["GANETI_TEST_PREFIX"] = prefix
    sys.path.insert(0, os.path.join(TOP, "test", "lib"))
    import vcluster
    return vcluster


def commit() -> str:
    try:
        return subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def percentile(values, pct):
    """The pct-th percentile (nearest rank) of a list of numbers."""
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * pct / 100))]


def print_table(title: str, prefix: str, figures: list) -> None:
    """figures: (workload, measured, target) rows."""
    print("%s: %d cores, commit %s, prefix %s" % (title, os.cpu_count(), commit(), prefix))
    width = max(len(f[0]) for f in figures)
    print("%-*s  %-30s %s" % (width, "workload", "measured", "target"))
    for name, value, target in figures:
        print("%-*s  %-30s %s" % (width, name, value, target))
