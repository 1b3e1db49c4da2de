"""A small threaded HTTP/1.1 server (optionally TLS) shared by the daemons.

One thread per connection does the TLS handshake, reads requests (keep-alive,
Content-Length or chunked bodies) and passes them to a single handler callable.
"""

import email.utils
import html
import http
import http.client
import json
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable

_MAX_LINE = 65536
_MAX_HEADERS = 100
_BIG_BODY = 64 * 1024

_log = logging.getLogger(__name__)


class HttpRequest:
    """One parsed request; ``path`` is the raw path (not percent-decoded)."""

    __slots__ = (
        "body",
        "client_address",
        "headers",
        "method",
        "path",
        "peer_cert_der",
        "query",
        "version",
    )

    def __init__(self, method: str, path: str, query: str, headers,
                 body: bytes, client_address: tuple,
                 peer_cert_der: bytes | None = None, version: str = "HTTP/1.1"):
        self.method = method
        self.path = path
        self.query = query
        self.version = version
        # An http.client.HTTPMessage: case-insensitive get()/get_all()
        self.headers = headers
        self.body = body
        self.client_address = client_address
        self.peer_cert_der = peer_cert_der

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.path} from {self.client_address}>"


class HttpResponse:
    """A response; ``after_send`` is called once the response has been written."""

    __slots__ = ("after_send", "body", "content_type", "headers", "status")

    def __init__(self, status: int, body: bytes | str = b"",
                 content_type: str = "application/json",
                 headers: dict | None = None,
                 after_send: Callable[[], None] | None = None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or {}
        self.after_send = after_send


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def error_response(status: int, message: str | None = None,
                   headers: dict | None = None) -> HttpResponse:
    """JSON error body ``{"code", "message", "explain"}`` (the RAPI error format)."""
    try:
        explain = http.HTTPStatus(status).description
    except ValueError:
        explain = ""
    body = json.dumps({"code": status,
                       "message": html.escape(message or _reason(status)),
                       "explain": explain})
    return HttpResponse(status, body, headers=headers)


def _readable(sock: socket.socket, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


class _BadRequest(Exception):
    """Ends a connection after answering with the given status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Conn:
    """Book-keeping for one client connection (guarded by the server lock)."""

    __slots__ = ("address", "busy", "closing", "served", "sock")

    def __init__(self, sock: socket.socket, address):
        self.sock = sock
        self.address = address
        self.busy = False
        self.served = 0
        self.closing = False

    def abort(self) -> None:
        self.closing = True
        try:
            # Unbound call: acts on the descriptor without touching SSL state
            # that the connection thread may be using.
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass


class HttpServer:
    """Threaded HTTP/1.1 server calling ``handler(request) -> HttpResponse``.

    ``ssl_context`` may also be a callable returning the context to use for
    each new connection (lets a daemon pick up renewed certificates).
    """

    def __init__(self, address: str, port: int,
                 handler: Callable[[HttpRequest], HttpResponse],
                 ssl_context=None, max_body: int = 64 * 1024 * 1024,
                 max_clients: int = 20, name: str = "http",
                 idle_timeout: float = 60.0, io_timeout: float = 60.0,
                 handshake_timeout: float = 10.0):
        self.address = address
        self.port = port
        self.handler = handler
        self.ssl_context = ssl_context
        self.max_body = max_body
        self.max_clients = max(1, max_clients)
        self.name = name
        self.idle_timeout = idle_timeout
        self.io_timeout = io_timeout
        self.handshake_timeout = handshake_timeout
        self._lock = threading.Lock()
        self._conns: dict[int, _Conn] = {}
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._bound_port = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._loop_thread: threading.Thread | None = None
        self._loop_done = threading.Event()
        # Number of TCP connections accepted so far (statistics, tests)
        self.connections_accepted = 0

    # -- life cycle ---------------------------------------------------------

    @property
    def server_port(self) -> int:
        return self._bound_port or self.port

    def _bind(self) -> None:
        if self._sock is not None:
            return
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, self.port))
            sock.listen(socket.SOMAXCONN)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._bound_port = sock.getsockname()[1]

    def start(self) -> None:
        """Bind and serve in a background thread."""
        self._bind()
        self._loop_thread = threading.Thread(target=self._serve_loop, daemon=True,
                                             name=f"{self.name}-accept")
        self._loop_thread.start()

    def serve_forever(self) -> None:
        """Bind (if needed) and serve in the calling thread until shutdown()."""
        self._bind()
        self._serve_loop()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop accepting, close idle connections, let busy ones finish.

        Waits up to ``timeout`` seconds for the connection threads to end; may
        be called from a handler's ``after_send`` (then it does not wait for
        its own thread).
        """
        self._stopping.set()
        self._wake()
        if self._sock is not None and self._loop_thread is None:
            # serve_forever() in another thread: wait for its loop to end
            self._loop_done.wait(timeout)
        elif self._loop_thread is not None and \
                self._loop_thread is not threading.current_thread():
            self._loop_thread.join(timeout)
        with self._lock:
            for conn in self._conns.values():
                if not conn.busy:
                    conn.abort()
            threads = [t for t in self._threads if t is not threading.current_thread()]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._loop_done.is_set() or self._sock is None:
            self._wake_r.close()
            self._wake_w.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # buffer full: a wake-up is already pending

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass

    # -- accept loop --------------------------------------------------------

    def _serve_loop(self) -> None:
        lsock = self._sock
        # poll, not select: no limit on descriptor numbers
        poller = select.poll()
        poller.register(lsock, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        wake_fd = self._wake_r.fileno()
        try:
            while not self._stopping.is_set():
                with self._lock:
                    full = len(self._conns) >= self.max_clients
                if full:
                    self._wait_for_slot(lsock)
                    continue
                if any(fd == wake_fd for fd, _ in poller.poll()):
                    self._drain_wake()
                    continue
                try:
                    sock, addr = lsock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as err:
                    _log.warning("%s: accept failed: %s", self.name, err)
                    continue
                self._spawn(sock, addr)
        finally:
            lsock.close()
            self._loop_done.set()

    def _wait_for_slot(self, lsock: socket.socket) -> None:
        """At capacity: new clients wait in the listen backlog.

        If one is waiting, a keep-alive connection that is idle between two
        requests is closed to make room (its client reconnects transparently).
        """
        if _readable(self._wake_r, 0.2):
            self._drain_wake()
        if not _readable(lsock, 0):
            return
        with self._lock:
            if len(self._conns) < self.max_clients:
                return
            idle = [c for c in self._conns.values()
                    if not c.busy and c.served and not c.closing]
            if idle:
                idle[0].abort()

    def _spawn(self, sock: socket.socket, addr) -> None:
        conn = _Conn(sock, addr)
        thread = threading.Thread(target=self._run_connection, args=(conn,),
                                  daemon=True, name=f"{self.name}-conn")
        with self._lock:
            self._conns[id(conn)] = conn
            self._threads.add(thread)
            self.connections_accepted += 1
        try:
            thread.start()
        except RuntimeError as err:
            _log.error("%s: cannot start connection thread: %s", self.name, err)
            with self._lock:
                del self._conns[id(conn)]
                self._threads.discard(thread)
            sock.close()

    # -- one connection -----------------------------------------------------

    def _run_connection(self, conn: _Conn) -> None:
        sock = conn.sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer_der = None
            ctx = self.ssl_context() if callable(self.ssl_context) else self.ssl_context
            if ctx is not None:
                sock.settimeout(self.handshake_timeout)
                sock = ctx.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False)
                conn.sock = sock
                if conn.closing:
                    return
                sock.do_handshake()
                peer_der = sock.getpeercert(binary_form=True)
            self._serve_requests(conn, sock, peer_der)
        except (ssl.SSLError, ssl.CertificateError) as err:
            _log.info("%s: TLS error with %s: %s", self.name, conn.address, err)
        except (OSError, EOFError) as err:
            if not conn.closing:
                _log.debug("%s: connection %s ended: %s", self.name, conn.address, err)
        except Exception:  # noqa: BLE001 - the server must survive anything
            _log.exception("%s: unexpected error on connection %s", self.name,
                           conn.address)
        finally:
            try:
                sock.close()
            except OSError:
                pass
            with self._lock:
                self._conns.pop(id(conn), None)
                self._threads.discard(threading.current_thread())
                was_full = len(self._conns) == self.max_clients - 1
            if was_full:
                self._wake()

    def _serve_requests(self, conn: _Conn, sock, peer_der: bytes | None) -> None:
        rfile = sock.makefile("rb", buffering=_BIG_BODY)
        try:
            while not self._stopping.is_set():
                sock.settimeout(self.idle_timeout if conn.served else self.io_timeout)
                line = self._read_request_line(rfile)
                with self._lock:
                    if not line or conn.closing:
                        return
                    conn.busy = True
                sock.settimeout(self.io_timeout)
                keep = self._serve_one(line, rfile, sock, conn.address, peer_der)
                with self._lock:
                    conn.busy = False
                    conn.served += 1
                if not keep:
                    return
        finally:
            rfile.close()

    @staticmethod
    def _read_request_line(rfile) -> bytes:
        # Tolerate a few stray empty lines between requests (RFC 9112 2.2)
        for _ in range(4):
            line = rfile.readline(_MAX_LINE + 1)
            if line not in (b"\r\n", b"\n"):
                return line
        return b""

    def _serve_one(self, line: bytes, rfile, sock, address, peer_der) -> bool:
        """Read one request, answer it; return whether to keep the connection."""
        version = "HTTP/1.1"
        method = ""
        try:
            method, target, version = self._parse_request_line(line)
            try:
                headers = http.client.parse_headers(rfile)
            except http.client.LineTooLong as err:
                raise _BadRequest(431, "Header line too long") from err
            except http.client.HTTPException as err:
                raise _BadRequest(400, f"Invalid headers: {err}") from err
            if len(headers) > _MAX_HEADERS:
                raise _BadRequest(431, "Too many headers")
            keep = self._wants_keep_alive(version, headers)
            body = self._read_body(rfile, sock, version, headers)
        except _BadRequest as err:
            self._send(sock, error_response(err.status, str(err)), False, version,
                       method)
            self._linger(sock)
            return False
        path, _, query = target.partition("?")
        request = HttpRequest(method, path, query, headers, body, address,
                              peer_der, version)
        try:
            response = self.handler(request)
            if not isinstance(response, HttpResponse):
                raise TypeError(f"handler returned {type(response).__name__!r},"
                                " not an HttpResponse")
        except Exception:  # noqa: BLE001 - a handler bug must not kill the server
            _log.exception("%s: error while handling %r", self.name, request)
            response = error_response(500, "Internal server error")
        if self._stopping.is_set():
            keep = False
        self._send(sock, response, keep, version, method)
        if response.after_send is not None:
            try:
                response.after_send()
            except Exception:  # noqa: BLE001
                _log.exception("%s: after_send callback failed", self.name)
        return keep

    @staticmethod
    def _linger(sock) -> None:
        """Half-close and drain briefly so an unread body does not turn into a
        connection reset that would hide the error answer from the client."""
        try:
            socket.socket.shutdown(sock, socket.SHUT_WR)
            sock.settimeout(0.5)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and sock.recv(_BIG_BODY):
                pass
        except (OSError, ValueError):
            pass

    @staticmethod
    def _parse_request_line(line: bytes) -> tuple[str, str, str]:
        if not line.endswith(b"\n"):
            raise _BadRequest(414 if len(line) > _MAX_LINE else 400,
                              "Request line too long or incomplete")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3:
            raise _BadRequest(400, "Bad request line")
        method, target, version = parts
        if not method.isalpha() or not method.isupper():
            raise _BadRequest(400, "Bad request method")
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            if version.startswith("HTTP/"):
                raise _BadRequest(505, "Unsupported HTTP version")
            raise _BadRequest(400, "Bad HTTP version")
        if not target.startswith("/"):
            raise _BadRequest(400, "Bad request target")
        return method, target, version

    @staticmethod
    def _wants_keep_alive(version: str, headers) -> bool:
        tokens = ",".join(headers.get_all("Connection", [])).lower()
        tokens = {t.strip() for t in tokens.split(",")}
        if version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens

    def _read_body(self, rfile, sock, version: str, headers) -> bytes:
        expect = (headers.get("Expect") or "").strip().lower()
        if expect and expect != "100-continue":
            raise _BadRequest(417, "Unsupported expectation")
        send_continue = expect == "100-continue" and version == "HTTP/1.1"
        encodings = headers.get_all("Transfer-Encoding", [])
        lengths = headers.get_all("Content-Length", [])
        if encodings:
            if lengths:
                raise _BadRequest(400, "Both Content-Length and Transfer-Encoding")
            if ",".join(encodings).strip().lower() != "chunked":
                raise _BadRequest(501, "Unsupported transfer encoding")
            if send_continue:
                sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            return self._read_chunked(rfile)
        if not lengths:
            return b""
        values = {v.strip() for v in ",".join(lengths).split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise _BadRequest(400, "Invalid Content-Length")
        length = int(values.pop())
        if length > self.max_body:
            raise _BadRequest(413, f"Request body larger than {self.max_body} bytes")
        if send_continue and length:
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = rfile.read(length)
        if len(body) != length:
            raise EOFError("client closed the connection inside the body")
        return body

    def _read_chunked(self, rfile) -> bytes:
        parts, total = [], 0
        while True:
            line = rfile.readline(_MAX_LINE + 1)
            if not line.endswith(b"\n"):
                raise EOFError("bad or truncated chunk header")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as err:
                raise _BadRequest(400, "Invalid chunk size") from err
            if size < 0:
                raise _BadRequest(400, "Invalid chunk size")
            if size == 0:
                break
            total += size
            if total > self.max_body:
                raise _BadRequest(413,
                                  f"Request body larger than {self.max_body} bytes")
            data = rfile.read(size)
            if len(data) != size or rfile.readline(3) not in (b"\r\n", b"\n"):
                raise EOFError("truncated chunk")
            parts.append(data)
        # Trailer fields are read and ignored
        for _ in range(_MAX_HEADERS):
            line = rfile.readline(_MAX_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                break
        return b"".join(parts)

    def _send(self, sock, response: HttpResponse, keep: bool, version: str,
              method: str) -> None:
        body = response.body or b""
        lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}",
                 f"Date: {email.utils.formatdate(usegmt=True)}",
                 f"Content-Type: {response.content_type}",
                 f"Content-Length: {len(body)}"]
        for key, value in response.headers.items():
            if key.lower() not in ("content-length", "connection", "content-type",
                                   "date", "transfer-encoding"):
                lines.append(f"{key}: {value}")
        if not keep:
            lines.append("Connection: close")
        elif version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if method == "HEAD":
            sock.sendall(head)
        elif len(body) <= _BIG_BODY:
            # One write: one TLS record and no Nagle/delayed-ACK stall
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            sock.sendall(body)
