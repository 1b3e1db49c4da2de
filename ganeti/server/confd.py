"""ganeti-confd: answers signed UDP queries about the configuration (S7).

Requests that are not signed with the cluster's HMAC key, are stale or malformed are
dropped without a reply.  The configuration and the key are re-read when their files
change (inotify, with a forced check every 17 seconds).
"""

import logging
import os
import socket
import threading
import time

from ganeti import config
from ganeti import constants
from ganeti import daemon
from ganeti import errors
from ganeti import pathutils
from ganeti import privsep
from ganeti.confd import protocol as P
from ganeti.confd import querylib

FORCED_CHECK_INTERVAL = 17.0


class ConfdState:
    """The key and configuration in memory, reloaded when their files change."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sigs: dict[str, tuple | None] = {}
        self.key: bytes | None = None
        self.data = None
        self._dirty = True
        self._last_check = 0.0
        self.reload()

    @staticmethod
    def _signature(path: str):
        try:
            st = os.stat(path)
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None

    def mark_dirty(self) -> None:
        self._dirty = True

    def maybe_reload(self) -> None:
        now = time.monotonic()
        if self._dirty or now - self._last_check >= FORCED_CHECK_INTERVAL:
            self.reload()

    def reload(self) -> None:
        with self._lock:
            self._dirty = False
            self._last_check = time.monotonic()
            key_sig = self._signature(pathutils.CONFD_HMAC_KEY)
            if key_sig != self._sigs.get("key"):
                self._sigs["key"] = key_sig
                try:
                    with open(pathutils.CONFD_HMAC_KEY, "rb") as fh:
                        self.key = fh.read()
                    logging.info("Loaded the confd HMAC key")
                except OSError as err:
                    self.key = None
                    logging.warning("Cannot read the HMAC key: %s", err)
            cfg_sig = self._signature(pathutils.CLUSTER_CONF_FILE)
            if cfg_sig != self._sigs.get("config"):
                self._sigs["config"] = cfg_sig
                try:
                    self.data = config.load_config_file(pathutils.CLUSTER_CONF_FILE) \
                        if cfg_sig else None
                    if self.data is not None:
                        logging.info("Loaded configuration serial %s",
                                     self.data.cluster.serial_no)
                except errors.GenericError as err:
                    logging.error("Cannot load the configuration: %s", err)
                    self.data = None


def handle_datagram(state: ConfdState, data: bytes, now: float | None = None) -> bytes | None:
    """The reply datagram for one request, or None when it must be dropped."""
    state.maybe_reload()
    key = state.key
    if key is None:
        return None
    try:
        request = P.parse_request(key, data, now)
    except P.ConfdError as err:
        logging.debug("Dropping confd request: %s", err)
        return None
    if state.data is None:
        return P.make_reply(key, request["rsalt"], P.REPL_STATUS_ERROR,
                            "Configuration not loaded on this node", 0)
    try:
        status, answer, serial = querylib.answer(state.data, request)
    except Exception:  # noqa: BLE001 - a bad query never stops the daemon
        logging.exception("Error answering confd request type %s", request["type"])
        status, answer, serial = P.REPL_STATUS_ERROR, P.ERROR_INTERNAL, 0
    try:
        return P.make_reply(key, request["rsalt"], status, answer, serial)
    except errors.UdpDataSizeError:
        return P.make_reply(key, request["rsalt"], P.REPL_STATUS_ERROR,
                            "Answer too large for one datagram; query a smaller part", 0)


class Watcher:
    """inotify on the data directory: config.data or hmac.key replaced."""

    def __init__(self, state: ConfdState):
        import pyinotify
        self._wm = pyinotify.WatchManager()
        names = {os.path.basename(pathutils.CLUSTER_CONF_FILE),
                 os.path.basename(pathutils.CONFD_HMAC_KEY)}

        class Handler(pyinotify.ProcessEvent):
            def process_default(self, event):
                if event.name in names:
                    state.mark_dirty()

        mask = pyinotify.IN_MOVED_TO | pyinotify.IN_CLOSE_WRITE | pyinotify.IN_DELETE
        os.makedirs(pathutils.DATA_DIR, exist_ok=True)
        self._wm.add_watch(pathutils.DATA_DIR, mask)
        self._notifier = pyinotify.ThreadedNotifier(self._wm, Handler())
        self._notifier.daemon = True
        self._notifier.start()

    def stop(self) -> None:
        self._notifier.stop()


def prepare(options):
    family = socket.AF_INET6 if options.bind and ":" in options.bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((options.bind or ("::" if family == socket.AF_INET6 else "0.0.0.0"),
               options.port))
    # S1: root is given up right after binding, before any file is read
    privsep.drop_privileges(constants.CONFD)
    state = ConfdState()
    try:
        watcher = Watcher(state)
    except Exception as err:  # noqa: BLE001 - polling still works without inotify
        logging.warning("inotify unavailable (%s); checking files every %ds", err,
                        FORCED_CHECK_INTERVAL)
        watcher = None
    return sock, state, watcher


def serve(prepared, stop) -> None:
    sock, state, watcher = prepared
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(P.MAX_REQUEST_READ)
        except socket.timeout:
            continue
        except OSError as err:
            logging.warning("Receive error: %s", err)
            continue
        try:
            reply = handle_datagram(state, data)
        except Exception:  # noqa: BLE001 - no datagram may stop the daemon
            logging.exception("Unexpected error handling a datagram from %s", peer)
            continue
        if reply is not None:
            try:
                sock.sendto(reply, peer)
            except OSError as err:
                logging.debug("Cannot answer %s: %s", peer, err)
    if watcher is not None:
        watcher.stop()
    sock.close()


def main(argv=None) -> int:
    from ganeti import _autoconf
    parser = daemon.build_parser(constants.CONFD, "Ganeti configuration daemon",
                                 port=constants.DEFAULT_CONFD_PORT, bind=True)
    options = parser.parse_args(argv)
    if not _autoconf.ENABLE_CONFD:
        parser.error("confd was disabled at build time (--disable-confd)")
    return daemon.run_daemon(constants.CONFD, options, prepare, serve,
                             user=_autoconf.CONFD_USER)
