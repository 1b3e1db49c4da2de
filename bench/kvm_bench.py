#!/usr/bin/env python3
"""KVM figures on a fresh 3-node virtual cluster: real qemu guests (TCG, tinylinux).

Prints the median of several runs of: instance start to console banner (the time from
``gnt-instance startup`` until the guest's banner is in its serial console log, and
the time the command itself took), live migration (``gnt-instance migrate``, TLS and
plain TCP) and ACPI shutdown.  It builds its own cluster on 127.0.27.x and removes it
at the end.

Usage: bench/kvm_bench.py [--prefix /opt/ganeti] [--runs 5]
"""

import argparse
import glob
import os
import signal
import statistics
import time

import benchlib

IMAGE = "/opt/ganeti/images/tinylinux"
BANNER = "TINYLINUX-READY"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=benchlib.default_prefix(),
                        help="installed copy to measure (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--net-prefix", default="127.0.27")
    return parser.parse_args()


def console_log(cluster, node, name) -> str:
    return os.path.join(cluster.node_root(node), cluster._rel("var/run/ganeti"),
                        "kvm-hypervisor", "log", name + ".console")


def banner_seen(cluster, node, name) -> bool:
    try:
        with open(console_log(cluster, node, name), errors="replace") as fh:
            return BANNER in fh.read()
    except OSError:
        return False


def wait(predicate, timeout=300):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def setup(cluster) -> None:
    kernel = os.path.join(IMAGE, "vmlinux")
    if not os.path.exists(kernel):
        kernel = os.path.join(IMAGE, "vmlinuz")
    cluster.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
                "--enabled-hypervisors=kvm", "--enabled-disk-templates=diskless",
                "--nic-parameters=link=lo", "-H",
                "kvm:kvm_flag=disabled,kernel_path=%s,initrd_path=%s/initrd.img,"
                "kernel_args=ro quiet,migration_port=18202" % (kernel, IMAGE), "cluster",
                timeout=300)
    for node in ("node2", "node3"):
        cluster.gnt("gnt-node", "add", node, timeout=300)
    for name, transport in (("bench1", "tls"), ("bench2", "tcp")):
        cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "tinylinux+default",
                    "-H", "kvm:migration_transport=%s" % transport if transport == "tcp"
                    else "kvm", "-n", "node2", "--no-nics", "--no-name-check",
                    "--no-ip-check", "--no-start", "--ignore-ipolicy", name, timeout=300)


def start_to_banner(cluster, runs: int):
    banner, command, shutdown = [], [], []
    for _ in range(runs):
        start = time.monotonic()
        cluster.gnt("gnt-instance", "startup", "bench1", timeout=300)
        command.append(time.monotonic() - start)
        wait(lambda: banner_seen(cluster, "node2", "bench1"))
        banner.append(time.monotonic() - start)
        start = time.monotonic()
        cluster.gnt("gnt-instance", "shutdown", "--timeout=60", "bench1", timeout=300)
        shutdown.append(time.monotonic() - start)
    return banner, command, shutdown


def migrations(cluster, name: str, runs: int):
    times = []
    cluster.gnt("gnt-instance", "startup", name, timeout=300)
    where = "node2"
    wait(lambda: banner_seen(cluster, where, name))
    for _ in range(runs):
        target = "node3" if where == "node2" else "node2"
        start = time.monotonic()
        cluster.gnt("gnt-instance", "migrate", "-f", "-n", target, name, timeout=600)
        times.append(time.monotonic() - start)
        where = target
    cluster.gnt("gnt-instance", "shutdown", "--timeout=0", name, timeout=300)
    return times


def kill_qemus(cluster) -> None:
    for path in glob.glob(os.path.join(cluster.dir, "node*", "**", "kvm-hypervisor", "pid",
                                       "*"), recursive=True):
        try:
            os.kill(int(open(path).read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def fmt(values) -> str:
    return "%.2f s (min %.2f, max %.2f, n=%d)" % (statistics.median(values), min(values),
                                                  max(values), len(values))


def main() -> int:
    opts = parse_args()
    harness = benchlib.harness(opts.prefix)
    cluster = harness.create(3, 4, net_prefix=opts.net_prefix, prefix="gkb-")
    try:
        setup(cluster)
        banner, command, shutdown = start_to_banner(cluster, opts.runs)
        tls_times = migrations(cluster, "bench1", opts.runs)
        tcp_times = migrations(cluster, "bench2", opts.runs)
    finally:
        kill_qemus(cluster)
        harness.teardown(cluster)
    benchlib.print_table("KVM (qemu TCG, 128 MiB tinylinux guest)", opts.prefix, [
        ("startup to console banner", fmt(banner), "-"),
        ("gnt-instance startup (command)", fmt(command), "-"),
        ("gnt-instance shutdown (ACPI)", fmt(shutdown), "-"),
        ("gnt-instance migrate (TLS)", fmt(tls_times), "-"),
        ("gnt-instance migrate (TCP)", fmt(tcp_times), "-"),
    ])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
