"""prepare-node-join: run on a joining node through SSH by ``gnt-node add``.

It reads the join data (JSON) on standard input: the cluster certificate, the ssconf
values, the cluster name and (optionally) the cluster's SSH host keys and root key
pair; writes them (replaced SSH files are kept as backups), creates this node's
client certificate signed by the cluster certificate, starts noded and prints the
client certificate's digest as JSON.  Certificates and keys thus only ever travel over SSH.
"""

import os
import sys

from ganeti import constants
from ganeti import crypto
from ganeti import errors
from ganeti import netutils
from ganeti import pathutils
from ganeti import serializer
from ganeti import ssconf
from ganeti.utils import process

MAX_INPUT = 4 * 1024 * 1024


def _fail(message: str) -> int:
    sys.stderr.write("prepare-node-join: %s\n" % message)
    return 1


def _validate(data) -> dict:
    if not isinstance(data, dict):
        raise errors.GenericError("join data must be a JSON object")
    for key, kind in (("cluster_name", str), ("node_name", str), ("server_pem", str),
                      ("ssconf", dict)):
        if not isinstance(data.get(key), kind):
            raise errors.GenericError("join data lacks a valid '%s'" % key)
    return data


def join(data: dict) -> str:
    data = _validate(data)
    me = netutils.hostname()
    if data["node_name"] != me and data["node_name"].split(".")[0] != me.split(".")[0]:
        raise errors.GenericError("this node is %s, but the join is for %s"
                                  % (me, data["node_name"]))
    key_pem, cert_pem = crypto.split_pem(data["server_pem"])
    if len(key_pem) != 1 or len(cert_pem) != 1:
        raise errors.GenericError("the cluster certificate must hold one key and one "
                                  "certificate")
    key_pem, cert_pem = key_pem[0], cert_pem[0]
    if os.path.exists(pathutils.CLUSTER_CONF_FILE):
        raise errors.GenericError("this node holds a cluster configuration (%s); it is "
                                  "part of a cluster already"
                                  % pathutils.CLUSTER_CONF_FILE)
    if os.path.exists(pathutils.NODED_CERT_FILE):
        _old_key, old_cert = crypto.read_pem_file(pathutils.NODED_CERT_FILE)
        if crypto.cert_digest(old_cert) != crypto.cert_digest(cert_pem):
            pid = process.read_pid_file(pathutils.daemon_pidfile(constants.NODED))
            if pid and process.is_process_alive(pid):
                raise errors.GenericError("this node's node daemon serves another cluster "
                                          "certificate; remove the node from its cluster "
                                          "first")
    from ganeti.tools import ensure_dirs
    problems = ensure_dirs.ensure_paths()
    if problems:
        raise errors.GenericError("cannot prepare directories: %s" % "; ".join(problems))
    if data.get("ssh") is not None:
        # S2.1: the cluster's SSH host keys, root key pair and authorization; every
        # replaced file is kept as a backup
        from ganeti.backend import sshkeys
        for backup in sshkeys.setup_node_ssh(data["ssh"]):
            sys.stderr.write("prepare-node-join: kept the old file as %s\n" % backup)
    crypto.write_pem_file(pathutils.NODED_CERT_FILE, key_pem, cert_pem)
    ckey, ccert = crypto.generate_signed_cert(key_pem, cert_pem, data["node_name"])
    crypto.write_pem_file(pathutils.NODED_CLIENT_CERT_FILE, ckey, ccert)
    values = {k: v for k, v in data["ssconf"].items() if k in constants.VALID_SS_KEYS}
    ssconf.write_ssconf_files(values)
    # S1: the keys and files above were written by root; give them their owners
    problems = ensure_dirs.ensure_paths()
    if problems:
        raise errors.GenericError("cannot fix the owners of the new files: %s"
                                  % "; ".join(problems))
    if data.get("start_daemons", True):
        pid = process.read_pid_file(pathutils.daemon_pidfile(constants.NODED))
        action = "start"
        if pid and process.is_process_alive(pid):
            process.run_cmd([pathutils.DAEMON_UTIL, "stop", constants.NODED], timeout=60)
        # start-all: noded first, then the other per-node daemons (confd, mond)
        result = process.run_cmd([pathutils.DAEMON_UTIL, action + "-all"], timeout=60)
        if result.failed:
            raise errors.GenericError("could not start the node daemon: %s"
                                      % result.output.strip())
    return crypto.cert_digest(ccert)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        if argv[0] in ("-h", "--help"):
            sys.stdout.write("Usage: prepare-node-join < JOIN-DATA.json\n"
                             "Prepares this host to join a Ganeti cluster; run by "
                             "'gnt-node add' over SSH.\n")
            return 0
        return _fail("no arguments are accepted (join data comes on standard input)")
    raw = sys.stdin.buffer.read(MAX_INPUT + 1)
    if len(raw) > MAX_INPUT:
        return _fail("join data is larger than %d bytes" % MAX_INPUT)
    try:
        data = serializer.load_json(raw)
    except ValueError as err:
        return _fail("join data is not valid JSON: %s" % err)
    try:
        digest = join(data)
    except (errors.GenericError, OSError) as err:
        return _fail(errors.format_error(err) if isinstance(err, errors.GenericError)
                     else str(err))
    sys.stdout.write(serializer.dump_json({"client_digest": digest}) + "\n")
    return 0
