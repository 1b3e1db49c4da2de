"""Transport side of the node daemon: HTTPS with mutual TLS, client certificate
check against the master-candidate digests, and dispatch of ``POST /<procedure>``.
"""

import logging
import os
import re
import threading
import time
from collections.abc import Callable

from ganeti import crypto, errors
from ganeti.http.server import HttpRequest, HttpResponse, HttpServer, error_response
from ganeti.rpc import encoding

_log = logging.getLogger(__name__)

_PROCEDURE_RE = re.compile(r"^/([a-z][a-z0-9_]*)$")
# How often (at most) server.pem is checked for replacement
_CERT_CHECK_INTERVAL = 1.0


class NodeRpcServer:
    """The noded HTTPS endpoint; business logic lives in ``dispatch``.

    Every request is authenticated before anything else is looked at: the
    client certificate (already verified against server.pem by TLS) must have
    its SHA-1 digest in ``candidate_digests()``, evaluated per request; an
    empty set refuses everything.
    """

    def __init__(self, address: str, port: int, server_pem_path: str,
                 candidate_digests: Callable[[], set[str]],
                 dispatch: Callable[[str, list], object],
                 procedures: frozenset[str], max_clients: int = 20):
        self.server_pem_path = server_pem_path
        self.candidate_digests = candidate_digests
        self.dispatch = dispatch
        self.procedures = frozenset(procedures)
        self._ctx_lock = threading.Lock()
        self._ctx = crypto.make_server_ssl_context(server_pem_path)
        self._ctx_sig = self._file_signature()
        self._ctx_checked = 0.0
        self._http = HttpServer(address, port, self._handle,
                                ssl_context=self._current_context,
                                max_clients=max_clients, name="noded")

    # -- life cycle (delegated) --------------------------------------------

    @property
    def server_port(self) -> int:
        return self._http.server_port

    def start(self) -> None:
        self._http.start()

    def serve_forever(self) -> None:
        self._http.serve_forever()

    def shutdown(self, timeout: float = 5.0) -> None:
        self._http.shutdown(timeout)

    # -- certificates -------------------------------------------------------

    def _file_signature(self):
        try:
            st = os.stat(self.server_pem_path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _current_context(self):
        """Context for a new connection; reloaded when server.pem is replaced."""
        now = time.monotonic()
        with self._ctx_lock:
            if now - self._ctx_checked < _CERT_CHECK_INTERVAL:
                return self._ctx
            self._ctx_checked = now
            sig = self._file_signature()
            if sig is not None and sig != self._ctx_sig:
                try:
                    self._ctx = crypto.make_server_ssl_context(self.server_pem_path)
                    self._ctx_sig = sig
                    _log.info("Reloaded %s", self.server_pem_path)
                except errors.X509CertError as err:
                    # Keep serving with the old certificate (file may be half-way
                    # through being replaced); retried on the next check.
                    _log.error("Cannot reload %s: %s", self.server_pem_path, err)
            return self._ctx

    def _check_client(self, request: HttpRequest) -> str | None:
        """Return a refusal message, or None if the client may call."""
        if not request.peer_cert_der:
            return "No client certificate provided"
        try:
            allowed = self.candidate_digests()
        except Exception:  # noqa: BLE001 - fail closed, whatever went wrong
            _log.exception("Cannot determine the master candidate certificates")
            return ("Client certificate verification failed: cannot read the"
                    " master candidate certificate list")
        if not allowed:
            return ("Client certificate verification failed: the master candidate"
                    " certificate list is empty")
        digest = crypto.cert_digest_der(request.peer_cert_der)
        if digest not in allowed:
            _log.warning("Refused RPC %s from %s: certificate %s is not a master"
                         " candidate's", request.path, request.client_address[0],
                         digest)
            return "Client certificate verification failed"
        return None

    # -- requests -----------------------------------------------------------

    def _handle(self, request: HttpRequest) -> HttpResponse:
        refusal = self._check_client(request)
        if refusal is not None:
            return error_response(403, refusal)
        if request.method != "POST":
            return error_response(400, "Only the POST method is supported")
        match = _PROCEDURE_RE.match(request.path)
        if match is None or match.group(1) not in self.procedures:
            name = request.path.lstrip("/")[:100]
            return error_response(404, f"Unknown procedure {name!r}")
        procedure = match.group(1)
        try:
            args = encoding.decode_request(request.body)
        except errors.RpcError as err:
            return error_response(400, str(err))
        return self._call(procedure, args)

    def _call(self, procedure: str, args: list) -> HttpResponse:
        after_send = None
        try:
            success, payload = True, self.dispatch(procedure, args)
        except errors.QuitGanetiException as err:
            _log.info("Procedure %s asked the node daemon to terminate", procedure)
            success, payload = True, list(err.args)
            after_send = self._shutdown_soon
        except errors.GenericError as err:
            _log.info("Procedure %s failed: %s", procedure, err)
            success, payload = False, errors.format_error(err)
        except Exception as err:  # noqa: BLE001 - reported to the caller
            _log.exception("Error while executing backend function %s", procedure)
            success, payload = False, f"Error while executing backend function: {err}"
        try:
            body = encoding.encode_response(success, payload)
        except (TypeError, ValueError) as err:
            _log.error("Result of %s cannot be encoded: %s", procedure, err)
            body = encoding.encode_response(
                False, "Error while executing backend function: result cannot be"
                f" encoded: {err}")
        return HttpResponse(200, body, after_send=after_send)

    def _shutdown_soon(self) -> None:
        threading.Thread(target=self.shutdown, name="noded-quit",
                         daemon=True).start()

