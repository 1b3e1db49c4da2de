#!/usr/bin/env python3
"""Figures of the read side on a fresh 3-node virtual cluster (fake hypervisor).

Prints: confd queries/s from one client for each query type (signed, sequential),
mond `/1/report/all` latency, and `gnt-instance list` latency (CLI start included)
and luxi Query latency with N diskless instances (default 1,000).

Usage: bench/read_bench.py [--prefix /opt/ganeti] [--instances 1000]
"""

import argparse
import os
import statistics
import sys
import threading
import time
import urllib.request

import benchlib



def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=benchlib.default_prefix())
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="duration of each confd measurement")
    parser.add_argument("--net-prefix", default="127.0.7")
    return parser.parse_args()




def main() -> int:
    args = parse_args()
    harness = benchlib.harness(args.prefix)
    if not harness.installed():
        sys.stderr.write("No installed copy in %s\n" % args.prefix)
        return 1
    figures = []
    cluster = harness.create(3, 0, net_prefix=args.net_prefix, prefix="gnt-rbench-")
    try:
        gnt = cluster.gnt
        gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
            "--enabled-hypervisors=fake", "--enabled-disk-templates=diskless",
            "--nic-parameters=link=lo", "--ipolicy-bounds-specs=%s" % harness.IPOLICY,
            "cluster")
        for node in ("node2", "node3"):
            gnt("gnt-node", "add", node)
        os.environ["GANETI_ROOTDIR"] = cluster.node_root("node1")
        os.environ["GANETI_HOSTNAME"] = "node1"
        import glob
        sys.path.insert(0, glob.glob(os.path.join(args.prefix, "lib", "python3*",
                                                  "site-packages"))[0])
        from ganeti import luxi
        from ganeti import pathutils
        from ganeti.confd import protocol as P
        from ganeti.confd.client import ConfdClient
        with open(pathutils.CONFD_HMAC_KEY, "rb") as fh:
            key = fh.read()
        client = ConfdClient(key, [cluster.address("node1")])
        queries = [("ping", P.REQ_PING, None), ("cluster master", P.REQ_CLUSTER_MASTER, None),
                   ("node role", P.REQ_NODE_ROLE_BYNAME, "node2"),
                   ("node primary IP list", P.REQ_NODE_PIP_LIST, None),
                   ("instance IP list", P.REQ_INSTANCES_IPS_LIST, None)]
        for label, req_type, query in queries:
            count = 0
            rtts = []
            start = time.monotonic()
            while time.monotonic() - start < args.seconds:
                t0 = time.monotonic()
                reply = client.query(req_type, query, timeout=2)
                rtts.append(time.monotonic() - t0)
                assert reply.status == P.REPL_STATUS_OK, reply
                count += 1
            rate = count / (time.monotonic() - start)
            figures.append(("confd %s (one client, signed)" % label,
                            "%.0f q/s, RTT %.2f ms" % (rate, statistics.median(rtts) * 1e3),
                            ">= 1,300 q/s"))
        url = "http://%s:1815/1/report/all" % cluster.address("node1")
        lat = []
        for _ in range(50):
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=10) as resp:
                resp.read()
            lat.append(time.monotonic() - t0)
        figures.append(("mond GET /1/report/all", "p50 %.1f ms, p99 %.1f ms"
                        % (benchlib.percentile(lat, 50) * 1e3,
                           benchlib.percentile(lat, 99) * 1e3),
                        "p50 <= 10 ms"))
        # N instances, submitted in parallel by luxi
        lclient = luxi.Client()
        start = time.monotonic()
        jobs = []
        lock = threading.Lock()

        def submit(indices):
            own = luxi.Client()
            for i in indices:
                job = own.submit_job([{"OP_ID": "OP_INSTANCE_CREATE",
                                       "instance_name": "inst%d" % i,
                                       "disk_template": "diskless", "disks": [],
                                       "nics": [{}], "os_type": "noop",
                                       "beparams": {"maxmem": 16, "minmem": 16},
                                       "pnode": "node%d" % (i % 3 + 1)}])
                with lock:
                    jobs.append(job)
        threads = [threading.Thread(target=submit, args=(range(k, args.instances, 4),))
                   for k in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        failed = []
        for job in jobs:
            while True:
                status = lclient.query_jobs([job], ["status"])[0][0]
                if status in ("success", "error", "canceled"):
                    break
                lclient.wait_for_job_change(job, ["status"], [status], None, 10)
            if status != "success":
                failed.append(lclient.query_jobs([job], ["opresult"])[0][0])
        if failed:
            raise SystemExit("%d creations failed, e.g. %s" % (len(failed), failed[0]))
        created = time.monotonic() - start
        figures.append(("create %d diskless instances (4 luxi submitters)"
                        % args.instances, "%.1f s, %.1f instances/s"
                        % (created, args.instances / created), "(context)"))
        lat = []
        for _ in range(5):
            t0 = time.monotonic()
            out = gnt("gnt-instance", "list", "--no-headers").stdout
            lat.append(time.monotonic() - t0)
        assert len(out.splitlines()) == args.instances, len(out.splitlines())
        figures.append(("gnt-instance list, %d instances (CLI start included)"
                        % args.instances, "median %.3f s" % statistics.median(lat),
                        "<= 0.3 s"))
        lat = []
        for _ in range(10):
            t0 = time.monotonic()
            lclient.query("instance", ["name", "pnode", "status", "oper_ram"], None)
            lat.append(time.monotonic() - t0)
        figures.append(("luxi Query instance (4 fields incl. live), %d instances"
                        % args.instances, "median %.3f s" % statistics.median(lat),
                        "(context)"))
    finally:
        harness.teardown(cluster)
    benchlib.print_table("read_bench", args.prefix, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
