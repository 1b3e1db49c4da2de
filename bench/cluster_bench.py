#!/usr/bin/env python3
"""Figures of the main job on a fresh 3-node virtual cluster (fake hypervisor).

Prints: cluster init and node add times, jobs/s for 200 zero-duration test jobs (by
CLI with 4 submitters and by luxi with 4 submitter threads, beside this disk's fsync
rate), instance creations/s for 50 diskless instances (one after another and all
submitted at once), removal time, verify and list latency.  It builds its own cluster
on 127.0.6.x and removes it at the end.

Usage: bench/cluster_bench.py [--prefix /opt/ganeti] [--jobs 200] [--instances 50]
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

import benchlib



def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=benchlib.default_prefix(),
                        help="installed copy to measure (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--net-prefix", default="127.0.6")
    return parser.parse_args()


def fsync_rate(seconds: float = 1.0) -> float:
    fd, path = tempfile.mkstemp(dir="/tmp")
    count = 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            os.pwrite(fd, b"x" * 512, 0)
            os.fsync(fd)
            count += 1
    finally:
        os.close(fd)
        os.unlink(path)
    return count / (time.monotonic() - start)


def timed(func, *args) -> float:
    start = time.monotonic()
    func(*args)
    return time.monotonic() - start



def luxi_client(cluster):
    """A luxi client of the master, in this process (the installed package)."""
    os.environ["GANETI_ROOTDIR"] = cluster.node_root("node1")
    os.environ["GANETI_HOSTNAME"] = "node1"
    import glob
    site = glob.glob(os.path.join(cluster_prefix(), "lib", "python3*", "site-packages"))[0]
    sys.path.insert(0, site)
    from ganeti import luxi
    return luxi


def cluster_prefix() -> str:
    return os.environ["GANETI_TEST_PREFIX"]


def wait_jobs(client, ids) -> list:
    statuses = []
    for job_id in ids:
        while True:
            status = client.query_jobs([job_id], ["status"])[0][0]
            if status in ("success", "error", "canceled"):
                statuses.append(status)
                break
            client.wait_for_job_change(job_id, ["status"], [status], None, 10)
    return statuses


def main() -> int:
    args = parse_args()
    harness = benchlib.harness(args.prefix)
    if not harness.installed():
        sys.stderr.write("No installed copy in %s; run ./quickstart.sh demo or test\n"
                         % args.prefix)
        return 1
    figures = []
    fsync = fsync_rate()
    cluster = harness.create(3, 0, net_prefix=args.net_prefix, prefix="gnt-bench-")
    try:
        gnt = cluster.gnt
        figures.append(("gnt-cluster init", "%.2f s" % timed(
            gnt, "gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
            "--enabled-hypervisors=fake", "--enabled-disk-templates=diskless,file",
            "--nic-parameters=link=lo", "--ipolicy-bounds-specs=%s" % harness.IPOLICY,
            "cluster"), "<= 2 s"))
        adds = [timed(gnt, "gnt-node", "add", node) for node in ("node2", "node3")]
        figures.append(("gnt-node add (each)", "%.2f s" % statistics.mean(adds), "<= 1 s"))

        # 200 zero-duration jobs by CLI, 4 submitters
        def cli_submitter(count):
            for _ in range(count):
                gnt("gnt-debug", "delay", "--submit", "0")
        luxi = luxi_client(cluster)
        client = luxi.Client()
        per = args.jobs // 4
        start = time.monotonic()
        threads = [threading.Thread(target=cli_submitter, args=(per,)) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        all_ids = [r[0] for r in client.query_jobs(None, ["id"])]
        wait_jobs(client, all_ids[-per * 4:])
        cli_rate = per * 4 / (time.monotonic() - start)
        figures.append(("%d test jobs by CLI (4 submitters)" % (per * 4),
                        "%.1f jobs/s" % cli_rate, ">= 200 jobs/s (CLI start-up bound)"))

        # the same by luxi
        ids = []
        lock = threading.Lock()

        def luxi_submitter(count):
            own = luxi.Client()
            for _ in range(count):
                job = own.submit_job([{"OP_ID": "OP_TEST_DELAY", "duration": 0}])
                with lock:
                    ids.append(job)
        start = time.monotonic()
        threads = [threading.Thread(target=luxi_submitter, args=(per,)) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        statuses = wait_jobs(client, ids)
        luxi_rate = len(ids) / (time.monotonic() - start)
        assert all(s == "success" for s in statuses), statuses
        figures.append(("%d test jobs by luxi (4 submitters)" % len(ids),
                        "%.1f jobs/s" % luxi_rate, ">= 200 jobs/s"))
        figures.append(("this disk's fsync rate", "%.0f fsync/s" % fsync, "(context)"))

        # instance creation, one after another
        count = args.instances
        seq = [timed(gnt, "gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n",
                     "node%d" % (i % 3 + 1), "seq%d" % i) for i in range(count)]
        figures.append(("gnt-instance add, one after another (%d)" % count,
                        "%.3f s each, %.1f/s" % (statistics.mean(seq),
                                                 count / sum(seq)), "<= 0.15 s each"))
        # all submitted at once
        start = time.monotonic()
        jobs = []
        for i in range(count):
            op = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "par%d" % i,
                  "disk_template": "diskless", "disks": [], "nics": [{}],
                  "os_type": "noop", "pnode": "node%d" % (i % 3 + 1)}
            jobs.append(client.submit_job([op]))
        statuses = wait_jobs(client, jobs)
        elapsed = time.monotonic() - start
        assert all(s == "success" for s in statuses), statuses
        figures.append(("%d x gnt-instance add submitted at once" % count,
                        "%.1f instances/s" % (count / elapsed), ">= 20 instances/s"))
        figures.append(("gnt-cluster verify (%d instances)" % (2 * count),
                        "%.2f s" % timed(gnt, "gnt-cluster", "verify"), "<= 1 s"))
        figures.append(("gnt-instance list (%d instances)" % (2 * count),
                        "%.2f s" % timed(gnt, "gnt-instance", "list"), "(1,000: <= 0.3 s)"))
        rem = [timed(gnt, "gnt-instance", "remove", "-f", "seq%d" % i)
               for i in range(min(count, 20))]
        figures.append(("gnt-instance remove, one after another",
                        "%.3f s each" % statistics.mean(rem), "<= 0.1 s each"))
    finally:
        harness.teardown(cluster)
    benchlib.print_table("cluster_bench", args.prefix, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
