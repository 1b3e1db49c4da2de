"""Client side of the node RPC transport: HTTPS POSTs with mutual TLS to one or
many node daemons, in parallel, over kept-alive connections.
"""

import html
import http.client
import json
import logging
import os
import ssl
import threading
import time

from ganeti import constants, crypto, errors
from ganeti.rpc import encoding

_log = logging.getLogger(__name__)

# Pooled connections idle for longer are dropped rather than reused: the
# server closes idle connections after 60 s and a reuse racing that close
# would cost a reconnect anyway.
_POOL_IDLE_MAX = 30.0
_POOL_MAX_PER_NODE = 8

_HEADERS = {"Content-Type": "application/json"}

# Errors on a reused connection that mean the server closed it while idle
_STALE_ERRORS = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _Failure(Exception):
    """Transport failure for one node; the message is the reason."""


def _file_signature(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _format_endpoint(address: str, port: int) -> str:
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def _error_text(data: bytes) -> str:
    """The message of an HTTP error body (JSON error format or plain text)."""
    text = data.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        return text[:1000]
    if isinstance(value, dict) and "message" in value:
        # The message of the JSON error format is HTML-escaped
        return html.unescape(str(value["message"]))
    return text[:1000]


class RpcTransport:
    """Send one procedure call to a list of nodes; thread-safe.

    ``client_pem_path`` is this node's certificate and key (client.pem; if it
    is missing, ``ca_pem_path`` itself is presented, as clusters upgraded from
    before per-node certificates do); ``ca_pem_path`` (server.pem) is the only
    trusted certificate for the servers. Both are reloaded when replaced.
    """

    def __init__(self, client_pem_path: str, ca_pem_path: str,
                 connect_timeout: float = constants.RPC_CONNECT_TIMEOUT):
        self.client_pem_path = client_pem_path
        self.ca_pem_path = ca_pem_path
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._ctx: ssl.SSLContext | None = None
        self._ctx_sig = None
        self._pool: dict[tuple[str, int], list] = {}

    # -- certificates and pool ---------------------------------------------

    def _context(self) -> ssl.SSLContext:
        """The TLS context for the current certificate files."""
        client_sig = _file_signature(self.client_pem_path)
        sig = (client_sig, _file_signature(self.ca_pem_path))
        with self._lock:
            if self._ctx is not None and sig == self._ctx_sig:
                return self._ctx
        # One thread (re)builds; concurrent first callers wait and share it
        with self._build_lock:
            with self._lock:
                if self._ctx is not None and sig == self._ctx_sig:
                    return self._ctx
            client_pem = self.client_pem_path if client_sig else self.ca_pem_path
            ctx = crypto.make_client_ssl_context(client_pem, self.ca_pem_path)
            with self._lock:
                stale = [entry[0] for conns in self._pool.values() for entry in conns]
                self._pool.clear()
                self._ctx, self._ctx_sig = ctx, sig
        for conn in stale:
            conn.close()
        if client_sig is None:
            _log.warning("%s not found, presenting %s as client certificate",
                         self.client_pem_path, self.ca_pem_path)
        return ctx

    def _take(self, key: tuple[str, int], ctx: ssl.SSLContext):
        now = time.monotonic()
        drop = []
        found = None
        with self._lock:
            conns = self._pool.get(key)
            while conns:
                conn, conn_ctx, since = conns.pop()
                if now - since <= _POOL_IDLE_MAX and conn_ctx is ctx:
                    found = conn
                    break
                drop.append(conn)
        for conn in drop:
            conn.close()
        return found

    def _give_back(self, key: tuple[str, int], conn, ctx: ssl.SSLContext) -> None:
        with self._lock:
            if ctx is self._ctx:
                conns = self._pool.setdefault(key, [])
                if len(conns) < _POOL_MAX_PER_NODE:
                    conns.append((conn, ctx, time.monotonic()))
                    return
        conn.close()

    def close(self) -> None:
        """Close all pooled connections."""
        with self._lock:
            conns = [entry[0] for lst in self._pool.values() for entry in lst]
            self._pool.clear()
        for conn in conns:
            conn.close()

    def _connect(self, address: str, port: int, ctx: ssl.SSLContext):
        conn = http.client.HTTPSConnection(address, port, context=ctx,
                                           timeout=self.connect_timeout)
        try:
            conn.connect()
        except TimeoutError as err:
            conn.close()
            raise _Failure(f"connection timed out after {self.connect_timeout}s") \
                from err
        except ssl.SSLError as err:
            conn.close()
            raise _Failure(f"TLS handshake failed: {err}") from err
        except OSError as err:
            conn.close()
            raise _Failure(f"cannot connect: {err.strerror or err}") from err
        return conn

    # -- calls --------------------------------------------------------------

    def _post(self, ctx: ssl.SSLContext, address: str, port: int, path: str,
              body: bytes, timeout: float) -> tuple[int, str, bytes]:
        """One POST; returns (status, reason, body). Raises _Failure."""
        key = (address, port)
        conn = self._take(key, ctx)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(address, port, ctx)
            try:
                conn.sock.settimeout(timeout)
                conn.request("POST", path, body, _HEADERS)
                resp = conn.getresponse()
            except _STALE_ERRORS as err:
                conn.close()
                conn = None
                if reused:
                    # Closed by the server while idle: the request was not
                    # processed, so it is safe to send it once more.
                    reused = False
                    continue
                reason = str(err) or type(err).__name__
                raise _Failure(f"connection lost: {reason}") from err
            except TimeoutError as err:
                conn.close()
                raise _Failure(f"timeout after {timeout}s waiting for the answer") \
                    from err
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                raise _Failure(f"{type(err).__name__}: {err}") from err
            break
        try:
            data = resp.read()
        except TimeoutError as err:
            conn.close()
            raise _Failure(f"timeout after {timeout}s reading the answer") from err
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise _Failure("error reading the answer:"
                           f" {type(err).__name__}: {err}") from err
        if resp.will_close:
            conn.close()
        else:
            self._give_back(key, conn, ctx)
        return resp.status, resp.reason, data

    def _call_one(self, ctx: ssl.SSLContext | None, ctx_error: str | None,
                  name: str, address: str, port: int, path: str, body: bytes,
                  timeout: float) -> tuple[bool, object]:
        try:
            if ctx is None:
                raise _Failure(ctx_error)
            status, reason, data = self._post(ctx, address, port, path, body, timeout)
            if status != 200:
                raise _Failure(f"HTTP {status} {reason}: {_error_text(data)}")
            try:
                success, payload = encoding.decode_response(data)
            except errors.RpcError as err:
                raise _Failure(f"invalid answer: {err}") from err
        except _Failure as err:
            reason = str(err)
        except Exception as err:  # noqa: BLE001 - one node must not break the call
            _log.exception("Unexpected error calling %s on node %s", path, name)
            reason = f"unexpected error: {type(err).__name__}: {err}"
        else:
            if not success and not isinstance(payload, str):
                payload = str(payload)
            return success, payload
        endpoint = _format_endpoint(address, port)
        msg = f"Error while contacting node {name} ({endpoint}): {reason}"
        _log.debug("%s", msg)
        return False, msg
    def call(self, targets: list[tuple[str, str, int]], procedure: str,
             body: bytes | dict[str, bytes], timeout: float
             ) -> dict[str, tuple[bool, object]]:
        """Call ``procedure`` on every (node_name, address, port) target.

        Returns node name -> (True, payload) or (False, error message); never
        raises for a node failure. At most RPC_MAX_PARALLEL calls are in flight.
        """
        if isinstance(body, dict):
            missing = [t[0] for t in targets if t[0] not in body]
            if missing:
                raise errors.ProgrammerError(
                    f"No RPC body for node(s) {', '.join(missing)}")
        path = "/" + procedure
        ctx, ctx_error = None, None
        try:
            ctx = self._context()
        except errors.X509CertError as err:
            ctx_error = f"cannot load certificates: {errors.format_error(err)}"

        results: dict[str, tuple[bool, object]] = {}

        def run(target) -> None:
            name, address, port = target
            data = body[name] if isinstance(body, dict) else body
            if isinstance(data, str):
                data = data.encode("utf-8")
            results[name] = self._call_one(ctx, ctx_error, name, address, port,
                                           path, data, timeout)

        if len(targets) == 1:
            run(targets[0])
            return results
        pending = list(reversed(targets))
        pending_lock = threading.Lock()

        def worker() -> None:
            while True:
                with pending_lock:
                    if not pending:
                        return
                    target = pending.pop()
                run(target)

        nworkers = min(len(targets), constants.RPC_MAX_PARALLEL)
        threads = [threading.Thread(target=worker, daemon=True, name="rpc-worker")
                   for _ in range(nworkers - 1)]
        for thread in threads:
            thread.start()
        worker()
        for thread in threads:
            thread.join()
        return results
