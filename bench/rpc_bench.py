#!/usr/bin/env python3
"""Node RPC over mutual TLS: round trip of the no-op ``version`` procedure on a new and
on a reused connection, and the fan-out of one call to every node of a 10-node cluster.

It builds a 10-node virtual cluster on 127.0.24.x (init + 9 node adds), calls the node
daemons as the master does (node1's client certificate, the cluster certificate as the
only trusted server certificate), prints medians beside the targets of TARGETS.md and
removes the cluster at the end.

Usage: bench/rpc_bench.py [--prefix PREFIX] [--nodes 10] [--calls 500]
"""

import argparse
import glob
import os
import statistics
import sys
import time

import benchlib

TARGET_REUSED_MS = 2.0
TARGET_FANOUT_MS = 50.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", default=benchlib.default_prefix(),
                        help="installed copy to measure (default: %(default)s)")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--calls", type=int, default=500,
                        help="calls per single-node figure (default: %(default)s)")
    parser.add_argument("--fanouts", type=int, default=200,
                        help="fan-out calls to all nodes (default: %(default)s)")
    parser.add_argument("--net-prefix", default="127.0.24")
    return parser.parse_args()


def installed_modules(prefix: str):
    """The transport and encoding of the installed copy (what the master runs)."""
    site = glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages"))[0]
    sys.path.insert(0, site)
    from ganeti import constants
    from ganeti.rpc import encoding, transport
    return constants, encoding, transport


def build_cluster(harness, nodes: int, net_prefix: str):
    cluster = harness.create(nodes, 1, net_prefix=net_prefix, prefix="gnt-rpcbench-")
    try:
        cluster.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
                    "--enabled-hypervisors=fake", "--enabled-disk-templates=diskless",
                    "--nic-parameters=link=lo", "--ipolicy-bounds-specs=%s"
                    % harness.IPOLICY, "cluster")
        for node in cluster.nodes[1:]:
            cluster.gnt("gnt-node", "add", node)
    except BaseException:
        harness.teardown(cluster)
        raise
    return cluster


def measure(func, count: int) -> list[float]:
    """Wall times of ``count`` calls of ``func`` in milliseconds (after 5 warm-ups)."""
    for _ in range(5):
        func()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def summary(times: list[float]) -> str:
    times = sorted(times)
    p90 = times[int(len(times) * 0.9) - 1]
    return "median %.2f ms (p90 %.2f, n=%d)" % (statistics.median(times), p90, len(times))


def main() -> int:
    args = parse_args()
    harness = benchlib.harness(args.prefix)
    if not harness.installed():
        sys.stderr.write("No installed copy in %s; run ./quickstart.sh demo or test\n"
                         % args.prefix)
        return 1
    constants, encoding, transport = installed_modules(args.prefix)
    cluster = build_cluster(harness, args.nodes, args.net_prefix)
    figures = []
    try:
        data = cluster.data_dir("node1")
        rpc = transport.RpcTransport(os.path.join(data, "client.pem"),
                                     os.path.join(data, "server.pem"))
        port = constants.DEFAULT_NODED_PORT
        targets = [(node, "%s.%d" % (args.net_prefix, 9 + int(node[4:])), port)
                   for node in cluster.nodes]
        body = encoding.encode_request([])

        def call(which):
            answers = rpc.call(which, "version", body, constants.RPC_TMO_URGENT)
            failed = [n for n, (ok, _p) in answers.items() if not ok]
            if failed:
                raise RuntimeError("version failed on %s: %s"
                                   % (failed, answers[failed[0]][1]))

        def new_connection():
            rpc.close()  # the pool is emptied: TCP connect and TLS handshake again
            call(targets[1:2])

        figures.append(("version, new connection (node2)",
                        summary(measure(new_connection, max(50, args.calls // 5))),
                        "(context: TCP + mutual TLS handshake)"))
        reused = measure(lambda: call(targets[1:2]), args.calls)
        figures.append(("version, reused connection (node2)", summary(reused),
                        "<= %.0f ms" % TARGET_REUSED_MS))
        fanout = measure(lambda: call(targets), args.fanouts)
        figures.append(("version fan-out to %d nodes, reused" % len(targets),
                        summary(fanout), "<= %.0f ms" % TARGET_FANOUT_MS))

        def cold_fanout():
            rpc.close()
            call(targets)

        figures.append(("version fan-out to %d nodes, new connections" % len(targets),
                        summary(measure(cold_fanout, max(20, args.fanouts // 10))),
                        "(context)"))
        rpc.close()
    finally:
        harness.teardown(cluster)
    benchlib.print_table("Node RPC over mutual TLS (%d-node virtual cluster)"
                         % args.nodes, args.prefix, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
