"""ganeti-noded: the node daemon (HTTPS with mutual TLS, every node, root).

It serves only the fixed procedure table of ``ganeti.backend`` and only to clients
whose certificate digest is in this node's master-candidate map (ssconf).
"""

import logging
import os

from ganeti import backend
from ganeti import constants
from ganeti import daemon
from ganeti import errors
from ganeti import pathutils
from ganeti import ssconf


class NotInCluster(errors.GenericError):
    """noded cannot serve: this host has not joined a cluster."""


class CandidateMap:
    """The candidate certificate digests from ssconf, re-read when the file changes."""

    def __init__(self):
        self._sig = None
        self._digests: set = set()

    def __call__(self) -> set:
        path = pathutils.ssconf_file(constants.SS_MASTER_CANDIDATES_CERTS)
        try:
            st = os.stat(path)
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            sig = None
        if sig != self._sig:
            self._digests = set(ssconf.SimpleStore().get_master_candidates_certs().values())
            self._sig = sig
            logging.info("Loaded %d master candidate certificate digest(s)",
                         len(self._digests))
        return self._digests


def prepare(options):
    from ganeti.rpc.node_server import NodeRpcServer
    if not os.path.exists(pathutils.NODED_CERT_FILE):
        raise NotInCluster("Cluster certificate %s is missing; is this node part "
                           "of a cluster?" % pathutils.NODED_CERT_FILE)
    os.makedirs(pathutils.RUN_DIR, mode=0o775, exist_ok=True)
    os.makedirs(pathutils.LOG_DIR, mode=0o750, exist_ok=True)
    address = options.bind or "0.0.0.0"
    state = _State()
    server = NodeRpcServer(address, options.port, pathutils.NODED_CERT_FILE,
                           CandidateMap(), state.dispatch,
                           frozenset(backend.PROCEDURES), max_clients=options.max_clients)
    server.start()
    state.server = server
    logging.info("Listening on %s:%d", address, options.port)
    return state


class _State:
    def __init__(self):
        self.server = None
        self.quit_requested = False

    def dispatch(self, name, args):
        try:
            return backend.dispatch(name, args)
        except errors.QuitGanetiException:
            logging.info("Procedure %s asked the node daemon to stop", name)
            self.quit_requested = True
            raise


def serve(state, stop) -> None:
    while not stop.wait(0.5):
        if state.quit_requested:
            stop.wait(1.0)
            break
    state.server.shutdown()


def main(argv=None) -> int:
    from ganeti import _autoconf
    parser = daemon.build_parser(constants.NODED, "Ganeti node daemon",
                                 port=constants.DEFAULT_NODED_PORT, bind=True)
    parser.add_argument("--max-clients", type=int, default=20,
                        help="Maximum number of simultaneous connections")
    parser.add_argument("--no-mlock", action="store_true",
                        help="Do not lock the daemon's memory (accepted for "
                        "compatibility; memory is never locked)")
    options = parser.parse_args(argv)
    return daemon.run_daemon(constants.NODED, options, prepare, serve,
                             user=_autoconf.NODED_USER)
