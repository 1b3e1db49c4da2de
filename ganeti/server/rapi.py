"""ganeti-rapi: the remote API daemon (RAPI v2), on the master node only.

HTTPS with rapi.pem (no client certificates), HTTP Basic authentication against the
RAPI users file (reloaded when it changes); reads go to luxid, jobs to masterd.
"""

import argparse
import logging
import os
import socket
import ssl
import struct
import sys
import threading

from ganeti import constants
from ganeti import daemon
from ganeti import errors
from ganeti import pathutils
from ganeti import privsep
from ganeti import ssconf
from ganeti.http.server import HttpServer
from ganeti.rapi import auth
from ganeti.rapi import cache
from ganeti.rapi import dispatch

REQUEST_TIMEOUT = 10.0
IDLE_TIMEOUT = 60.0


def default_port() -> int:
    """5080, unless /etc/services names a port for ganeti-rapi."""
    try:
        return socket.getservbyname(constants.RAPI, "tcp")
    except OSError:
        return constants.DEFAULT_RAPI_PORT


def make_rapi_ssl_context(cert: str, key: str, chain: str | None = None) -> ssl.SSLContext:
    """Plain TLS server context (TLS >= 1.2); clients are not asked for certificates."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.load_cert_chain(certfile=chain or cert, keyfile=key)
    except (ssl.SSLError, OSError) as err:
        raise errors.X509CertError(chain or cert,
                                   "Unable to load for TLS: %s" % err) from None
    return ctx


class ReloadingContext:
    """Returns the TLS context for each new connection; rebuilt when the certificate
    files change (e.g. after gnt-cluster renew-crypto --new-rapi-certificate)."""

    def __init__(self, cert: str, key: str, chain: str | None):
        self._paths = (cert, key, chain)
        self._lock = threading.Lock()
        self._sig = self._signature()
        self._ctx = make_rapi_ssl_context(cert, key, chain)

    def _signature(self):
        sig = []
        for path in self._paths:
            if path is None:
                continue
            try:
                st = os.stat(path)
                sig.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def __call__(self) -> ssl.SSLContext:
        sig = self._signature()
        if sig != self._sig:
            with self._lock:
                if sig != self._sig:
                    try:
                        self._ctx = make_rapi_ssl_context(*self._paths)
                        logging.info("Reloaded the RAPI certificate")
                    except errors.X509CertError as err:
                        logging.error("Keeping the old RAPI certificate: %s", err)
                    self._sig = sig
        return self._ctx


def interface_address(name: str) -> str:
    """First IPv4 address of a network interface (SIOCGIFADDR)."""
    import fcntl
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        packed = fcntl.ioctl(sock.fileno(), 0x8915,
                             struct.pack("256s", name.encode("utf-8")[:15]))
    except OSError as err:
        raise errors.GenericError("Cannot get the address of interface %s: %s"
                                  % (name, err)) from None
    finally:
        sock.close()
    return socket.inet_ntoa(packed[20:24])


def default_bind() -> str:
    family = ssconf.SimpleStore().read(constants.SS_PRIMARY_IP_FAMILY, "")
    return "::" if family.strip() == str(constants.IP6_FAMILY) else "0.0.0.0"


def prepare(options):
    users = auth.UsersStore(pathutils.RAPI_USERS_FILE)
    ssl_context = None
    if not options.no_ssl:
        ssl_context = ReloadingContext(options.ssl_cert, options.ssl_key, options.ssl_chain)
    pool = cache.CachingLuxi(dispatch.LuxiPool(size=options.max_clients),
                             pathutils.CLUSTER_CONF_FILE)
    handler = dispatch.RapiHandler(users, pool, options.require_authentication,
                                   options=options)
    server = HttpServer(options.bind, options.port, handler, ssl_context=ssl_context,
                        max_body=dispatch.MAX_BODY, max_clients=options.max_clients,
                        name="rapi", idle_timeout=IDLE_TIMEOUT,
                        io_timeout=REQUEST_TIMEOUT, handshake_timeout=REQUEST_TIMEOUT)
    # S1: bind (a low port may need root), then give root up before serving
    server._bind()  # bound apart from serving on purpose
    privsep.drop_privileges(constants.RAPI)
    if not users.start_watching():
        logging.warning("inotify unavailable: the users file is checked every %ss",
                        auth.STAT_INTERVAL)
    server.start()
    logging.info("Serving the remote API on %s:%d (%s)", options.bind, server.server_port,
                 "plain HTTP" if options.no_ssl else "HTTPS")
    return server, users, pool


def serve(state, stop) -> None:
    server, users, pool = state
    stop.wait()
    server.shutdown(timeout=5)
    users.stop()
    pool.close()


def build_parser() -> argparse.ArgumentParser:
    parser = daemon.build_parser(constants.RAPI, "Ganeti remote API daemon",
                                 port=default_port(), bind=True)
    parser.add_argument("-i", "--interface", default=None,
                        help="Bind to the first address of this interface")
    parser.add_argument("--no-ssl", action="store_true",
                        help="Serve plain HTTP (behind a TLS proxy only)")
    parser.add_argument("-K", "--ssl-key", default=pathutils.RAPI_CERT_FILE,
                        help="TLS key file (default: %(default)s)")
    parser.add_argument("-C", "--ssl-cert", default=pathutils.RAPI_CERT_FILE,
                        help="TLS certificate file (default: %(default)s)")
    parser.add_argument("--ssl-chain", default=None,
                        help="PEM file with the full certificate chain to present")
    parser.add_argument("--require-authentication", action="store_true",
                        help="Every request needs valid credentials")
    parser.add_argument("--max-clients", type=int, default=20,
                        help="Connections served at once (default: %(default)s)")
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    return parser


def check_options(options) -> str | None:
    """Error message for unusable options, None when they are fine."""
    if options.args:
        return "Unexpected arguments: %s" % " ".join(options.args)
    if options.max_clients < 1:
        return "--max-clients must be at least 1"
    if options.interface:
        if options.bind not in (None, "0.0.0.0", "::"):
            return "Use either --interface or --bind, not both"
        try:
            options.bind = interface_address(options.interface)
        except errors.GenericError as err:
            return str(err)
    if not options.no_ssl:
        for path in {options.ssl_cert, options.ssl_key} | (
                {options.ssl_chain} if options.ssl_chain else set()):
            if not os.path.isfile(path):
                return "TLS file %s is not a regular file (use --no-ssl to serve " \
                       "plain HTTP)" % path
    return None


def main(argv=None) -> int:
    from ganeti import _autoconf
    options = build_parser().parse_args(argv)
    problem = check_options(options)
    if problem:
        sys.stderr.write("%s: %s\n" % (constants.RAPI, problem))
        return 1
    try:
        master, myself = ssconf.get_master_and_myself()
    except (errors.ConfigurationError, OSError) as err:
        sys.stderr.write("%s: cannot tell the master node: %s\n"
                         % (constants.RAPI, errors.format_error(err)))
        return constants.EXIT_NODESETUP_ERROR
    if master != myself:
        sys.stderr.write("%s: this node (%s) is not the master (%s)\n"
                         % (constants.RAPI, myself, master))
        return constants.EXIT_NOTMASTER
    if options.bind is None:
        options.bind = default_bind()
    return daemon.run_daemon(constants.RAPI, options, prepare, serve,
                             user=_autoconf.RAPI_USER)


__all__ = ["main", "make_rapi_ssl_context", "prepare", "serve"]
