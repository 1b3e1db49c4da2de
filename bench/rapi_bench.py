#!/usr/bin/env python3
"""RAPI throughput and latency on a fresh 3-node virtual cluster (fake hypervisor).

Prints requests/s and p50/p99 latency of `GET /2/info` and `GET /2/instances?bulk=1`
with N diskless instances (default 1,000, maxmem 16 MiB) for 1, 4 and 8 concurrent
clients (threads, one keep-alive HTTPS connection each), beside the targets of
shared/design/TARGETS.md.

Usage: bench/rapi_bench.py [--prefix /opt/ganeti] [--instances 1000] [--seconds 5]
"""

import argparse
import http.client
import os
import ssl
import sys
import threading
import time

import benchlib


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=benchlib.default_prefix())
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="duration of each measurement")
    parser.add_argument("--net-prefix", default="127.0.26")
    return parser.parse_args()



def _connection(address: str) -> http.client.HTTPSConnection:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(address, 5080, timeout=60, context=ctx)


def measure(address: str, path: str, clients: int, seconds: float) -> tuple:
    """(requests/s, p50 s, p99 s, errors) of GET path by ``clients`` threads."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker():
        conn = _connection(address)
        own = []
        start_gate.wait()
        while time.monotonic() < stop_at[0]:
            t0 = time.monotonic()
            try:
                conn.request("GET", path, headers={"Accept": "application/json"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = _connection(address)
            if ok:
                own.append(time.monotonic() - t0)
            else:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    start = time.monotonic()
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if not latencies:
        return 0.0, 0.0, 0.0, errors[0]
    return (len(latencies) / elapsed, benchlib.percentile(latencies, 50),
            benchlib.percentile(latencies, 99), errors[0])


def create_instances(cluster, count: int, prefix: str) -> float:
    import glob
    os.environ["GANETI_ROOTDIR"] = cluster.node_root("node1")
    os.environ["GANETI_HOSTNAME"] = "node1"
    sys.path.insert(0, glob.glob(os.path.join(prefix, "lib", "python3*",
                                              "site-packages"))[0])
    from ganeti import luxi
    start = time.monotonic()
    jobs, lock = [], threading.Lock()

    def submit(indices):
        own = luxi.Client()
        for i in indices:
            job = own.submit_job([{"OP_ID": "OP_INSTANCE_CREATE",
                                   "instance_name": "inst%d" % i,
                                   "disk_template": "diskless", "disks": [], "nics": [{}],
                                   "os_type": "noop",
                                   "beparams": {"maxmem": 16, "minmem": 16},
                                   "pnode": "node%d" % (i % 3 + 1)}])
            with lock:
                jobs.append(job)

    threads = [threading.Thread(target=submit, args=(range(k, count, 4),))
               for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    client = luxi.Client()
    for job in jobs:
        while True:
            status = client.query_jobs([job], ["status"])[0][0]
            if status in ("success", "error", "canceled"):
                break
            client.wait_for_job_change(job, ["status"], [status], None, 10)
        if status != "success":
            raise SystemExit("instance creation job %s ended with %s: %s" % (
                job, status, client.query_jobs([job], ["opresult"])[0][0]))
    return time.monotonic() - start


def main() -> int:
    args = parse_args()
    harness = benchlib.harness(args.prefix)
    if not harness.installed():
        sys.stderr.write("No installed copy in %s\n" % args.prefix)
        return 1
    if not os.path.exists(os.path.join(args.prefix, "sbin", "ganeti-rapi")):
        sys.stderr.write("ganeti-rapi is not installed in %s\n" % args.prefix)
        return 1
    figures = []
    cluster = harness.create(3, 0, net_prefix=args.net_prefix, prefix="gnt-rapibench-")
    address = "%s.10" % args.net_prefix
    try:
        gnt = cluster.gnt
        gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
            "--enabled-hypervisors=fake", "--enabled-disk-templates=diskless",
            "--nic-parameters=link=lo", "--ipolicy-bounds-specs=%s" % harness.IPOLICY,
            "cluster")
        for node in ("node2", "node3"):
            gnt("gnt-node", "add", node)
        for clients in (1, 4, 8):
            rate, p50, p99, errs = measure(address, "/2/info", clients, args.seconds)
            figures.append(("GET /2/info, %d client(s)" % clients,
                            "%.0f req/s, p50 %.1f ms, p99 %.1f ms%s"
                            % (rate, p50 * 1e3, p99 * 1e3,
                               ", %d errors" % errs if errs else ""),
                            ">= 400 req/s with 4 clients, p50 <= 5 ms"
                            if clients == 4 else "(ref. 44 req/s, 1 client)"
                            if clients == 1 else "(context)"))
        created = create_instances(cluster, args.instances, args.prefix)
        figures.append(("create %d diskless instances (4 luxi submitters)"
                        % args.instances, "%.1f s" % created, "(context)"))
        for clients in (1, 4, 8):
            rate, p50, p99, errs = measure(address, "/2/instances?bulk=1", clients,
                                           args.seconds)
            figures.append(("GET /2/instances?bulk=1, %d inst., %d client(s)"
                            % (args.instances, clients),
                            "%.1f req/s, p50 %.0f ms, p99 %.0f ms%s"
                            % (rate, p50 * 1e3, p99 * 1e3,
                               ", %d errors" % errs if errs else ""),
                            "p99 < 50 ms (1,000 instances); >= 150 req/s with 4 "
                            "clients at 20 instances" if clients == 4 else "(context)"))
    finally:
        harness.teardown(cluster)
    benchlib.print_table("rapi_bench", args.prefix, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
