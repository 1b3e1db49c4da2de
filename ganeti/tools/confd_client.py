"""confd-client: ask the cluster's confd daemons a question from the command line."""

import argparse
import sys

from ganeti import constants
from ganeti import errors
from ganeti import serializer
from ganeti.confd import protocol as P

TYPES = {
    "ping": P.REQ_PING, "node-role": P.REQ_NODE_ROLE_BYNAME,
    "node-pip-by-instance-ip": P.REQ_NODE_PIP_BY_INSTANCE_IP,
    "cluster-master": P.REQ_CLUSTER_MASTER, "node-pip-list": P.REQ_NODE_PIP_LIST,
    "mc-pip-list": P.REQ_MC_PIP_LIST, "instances-ips-list": P.REQ_INSTANCES_IPS_LIST,
    "node-drbd": P.REQ_NODE_DRBD, "instance-disks": P.REQ_INSTANCE_DISKS,
    "config-query": P.REQ_CONFIG_QUERY, "data-collectors": P.REQ_DATA_COLLECTORS,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="confd-client",
                                     description="Query the cluster's confd daemons")
    parser.add_argument("-t", "--type", default="ping", choices=sorted(TYPES),
                        help="request type (default: ping)")
    parser.add_argument("-q", "--query", default=None,
                        help="the query: a name, a JSON pointer, or JSON (e.g. '{\"1\": "
                        "\"10.0.0.5\"}')")
    parser.add_argument("-p", "--peer", action="append", default=[],
                        help="confd address to ask (default: the master candidates)")
    parser.add_argument("--port", type=int, default=constants.DEFAULT_CONFD_PORT)
    parser.add_argument("--timeout", type=float, default=2.0)
    opts = parser.parse_args(argv)
    query = opts.query
    if query is not None and query[:1] in "{[":
        try:
            query = serializer.load_json(query)
        except ValueError as err:
            parser.error("invalid JSON query: %s" % err)
    from ganeti import pathutils
    from ganeti import ssconf
    from ganeti.confd.client import ConfdClient
    try:
        with open(pathutils.CONFD_HMAC_KEY, "rb") as fh:
            key = fh.read()
        peers = opts.peer or ssconf.SimpleStore().lines(constants.SS_MASTER_CANDIDATES_IPS)
        reply = ConfdClient(key, peers, opts.port).query(TYPES[opts.type], query,
                                                         opts.timeout)
    except (OSError, errors.GenericError) as err:
        sys.stderr.write("confd-client: %s\n" % errors.format_error(err)
                         if isinstance(err, errors.GenericError) else
                         "confd-client: %s\n" % err)
        return 1
    status = {P.REPL_STATUS_OK: "ok", P.REPL_STATUS_ERROR: "error",
              P.REPL_STATUS_NOTIMPLEMENTED: "not implemented"}.get(reply.status,
                                                                  reply.status)
    sys.stdout.write("status: %s\nserial: %s\nfrom: %s (%d of %d answered)\nanswer: %s\n"
                     % (status, reply.serial, reply.peer, reply.received, reply.expected,
                        serializer.dump_json(reply.answer)))
    return 0 if reply.status == P.REPL_STATUS_OK else 1
