"""Tests for ganeti.http.server: keep-alive, error answers (400/413/500),
limits, concurrency and TLS, over real sockets on the loopback.
"""

import http.client
import json
import socket
import ssl
import threading
import time

import pytest

from ganeti import crypto
from ganeti.http.server import HttpResponse, HttpServer, error_response


def _wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout}s")
        time.sleep(0.005)


class _Echo:
    """Handler answering with a JSON description of the request."""

    def __init__(self):
        self.requests = []

    def __call__(self, req):
        self.requests.append(req)
        return HttpResponse(200, json.dumps({
            "method": req.method, "path": req.path, "query": req.query,
            "body": req.body.decode("latin-1"), "port": req.client_address[1],
            "header": req.headers.get("x-test"),
        }))


@pytest.fixture
def make_server():
    servers = []

    def make(handler=None, **kwargs):
        srv = HttpServer("127.0.0.1", 0, handler or _Echo(), **kwargs)
        srv.start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.shutdown(timeout=2)


def _raw(srv, data: bytes, timeout=5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", srv.server_port), timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def _body(raw: bytes):
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def test_get_and_post_with_query_and_headers(make_server):
    srv = make_server()
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=5)
    conn.request("GET", "/2/info?bulk=1&x=%20", headers={"X-Test": "yes"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("Date")
    data = json.loads(resp.read())
    assert data == {"method": "GET", "path": "/2/info", "query": "bulk=1&x=%20",
                    "body": "", "port": data["port"], "header": "yes"}
    conn.request("POST", "/upload", body=b"payload")
    assert json.loads(conn.getresponse().read())["body"] == "payload"
    conn.close()


def test_keep_alive_reuses_one_connection(make_server):
    srv = make_server()
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=5)
    ports = set()
    for i in range(5):
        conn.request("POST", f"/n{i}", body=b"x" * i)
        resp = conn.getresponse()
        assert not resp.will_close
        ports.add(json.loads(resp.read())["port"])
    conn.close()
    assert len(ports) == 1
    assert srv.connections_accepted == 1


def test_connection_close_and_http10(make_server):
    srv = make_server()
    raw = _raw(srv, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert _status(raw) == 200
    assert b"Connection: close" in raw
    raw = _raw(srv, b"GET /b HTTP/1.0\r\n\r\n")
    assert _status(raw) == 200
    assert b"Connection: close" in raw
    # Two pipelined HTTP/1.1 requests, the second asking to close
    raw = _raw(srv, b"GET /1 HTTP/1.1\r\n\r\n"
               b"GET /2 HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert raw.count(b"HTTP/1.1 200 OK") == 2


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET /\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"GET relative HTTP/1.1\r\n\r\n",
    b"get / HTTP/1.1\r\n\r\n",
    b"GET / FOO/1.1\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_bad_requests_get_400(make_server, request_bytes):
    handler = _Echo()
    srv = make_server(handler)
    raw = _raw(srv, request_bytes)
    assert _status(raw) == 400
    body = _body(raw)
    assert body["code"] == 400 and body["message"] and "explain" in body
    assert handler.requests == []
    # The server is still fine
    assert _status(_raw(srv, b"GET / HTTP/1.0\r\n\r\n")) == 200


def test_other_protocol_errors(make_server):
    srv = make_server()
    assert _status(_raw(srv, b"GET / HTTP/2.0\r\n\r\n")) == 505
    assert _status(_raw(srv, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n")) == 414
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    assert _status(_raw(srv, b"GET / HTTP/1.1\r\n" + headers + b"\r\n")) in (400, 431)
    raw = _raw(srv, b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert _status(raw) == 501
    assert _status(_raw(srv, b"GET / HTTP/1.1\r\nExpect: magic\r\n\r\n")) == 417


def test_too_large_body_gets_413_without_reading(make_server):
    handler = _Echo()
    srv = make_server(handler, max_body=1000)
    # The announced body is never sent: the answer must come anyway
    raw = _raw(srv, b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n")
    assert _status(raw) == 413
    assert _body(raw)["code"] == 413
    raw = _raw(srv, b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001)
    assert _status(raw) == 413
    assert handler.requests == []
    raw = _raw(srv, b"POST / HTTP/1.1\r\nContent-Length: 1000\r\nConnection: close"
               b"\r\n\r\n" + b"x" * 1000)
    assert _status(raw) == 200


def test_too_large_body_413_seen_by_a_client_that_sends_it(make_server):
    srv = make_server(max_body=1000)
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=5)
    conn.request("POST", "/", body=b"y" * 200000)
    resp = conn.getresponse()
    assert resp.status == 413
    assert resp.will_close


def test_chunked_body(make_server):
    handler = _Echo()
    srv = make_server(handler, max_body=10)
    raw = _raw(srv, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n")
    assert _status(raw) == 200
    assert _body(raw)["body"] == "abcde"
    raw = _raw(srv, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")
    assert _status(raw) == 413


def test_expect_100_continue(make_server):
    srv = make_server()
    with socket.create_connection(("127.0.0.1", srv.server_port), 5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"data")
        raw = sock.recv(65536)
    assert _status(raw) == 200 and _body(raw)["body"] == "data"
    # An empty Expect header (sent by the original RPC client) is ignored
    raw = _raw(srv, b"POST / HTTP/1.1\r\nExpect:\r\nContent-Length: 2\r\n"
               b"Connection: close\r\n\r\nok")
    assert _status(raw) == 200


def test_handler_exception_gives_500_and_server_survives(make_server, caplog):
    def handler(req):
        if req.path == "/boom":
            raise RuntimeError("kaboom")
        if req.path == "/wrong":
            return "not a response"
        return HttpResponse(200, b"[]")

    srv = make_server(handler)
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=5)
    for path in ("/boom", "/wrong"):
        conn.request("POST", path, body=b"")
        resp = conn.getresponse()
        assert resp.status == 500
        assert json.loads(resp.read())["code"] == 500
    conn.request("GET", "/fine")
    assert conn.getresponse().status == 200
    conn.close()
    assert "kaboom" in caplog.text


def test_head_has_no_body(make_server):
    srv = make_server(lambda req: HttpResponse(200, b"0123456789", "text/plain",
                                               headers={"X-Extra": "1"}))
    raw = _raw(srv, b"HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n")
    assert b"Content-Length: 10" in raw and b"X-Extra: 1" in raw
    assert b"Content-Type: text/plain" in raw


def test_error_response_escapes_message():
    resp = error_response(404, "no <such> thing")
    assert resp.status == 404
    body = json.loads(resp.body)
    assert body == {"code": 404, "message": "no &lt;such&gt; thing",
                    "explain": body["explain"]}
    assert body["explain"]


def test_after_send_runs_after_the_answer(make_server):
    called = threading.Event()
    srv = make_server(lambda req: HttpResponse(200, b"1", after_send=called.set))
    assert _status(_raw(srv, b"GET / HTTP/1.0\r\n\r\n")) == 200
    assert called.wait(5)


def test_concurrent_clients(make_server):
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def handler(req):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return HttpResponse(200, req.body)

    srv = make_server(handler)
    errors_seen = []

    def client(n):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=10)
            for i in range(10):
                body = f"{n}-{i}".encode()
                conn.request("POST", "/", body=body)
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read() == body
            conn.close()
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors_seen.append(err)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors_seen == []
    assert state["max"] > 1
    assert srv.connections_accepted == 10


def test_max_clients_limits_concurrency(make_server):
    release = threading.Event()
    lock = threading.Lock()
    state = {"now": 0, "max": 0, "done": 0}

    def handler(req):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        release.wait(10)
        with lock:
            state["now"] -= 1
            state["done"] += 1
        return HttpResponse(200, b"ok")

    srv = make_server(handler, max_clients=2)
    results = []

    def client():
        raw = _raw(srv, b"GET / HTTP/1.0\r\n\r\n", timeout=15)
        results.append(_status(raw))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    _wait_until(lambda: state["now"] == 2)
    time.sleep(0.3)
    assert state["now"] == 2  # the others wait in the backlog
    release.set()
    for t in threads:
        t.join(15)
    assert results == [200] * 4
    assert state["max"] == 2


def test_idle_keep_alive_connection_yields_its_slot(make_server):
    srv = make_server(max_clients=1)
    idle = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=5)
    idle.request("GET", "/first")
    assert idle.getresponse().read()
    start = time.monotonic()
    raw = _raw(srv, b"GET /second HTTP/1.0\r\n\r\n")
    assert _status(raw) == 200
    assert time.monotonic() - start < 3
    idle.close()


def test_idle_timeout_closes_connection(make_server):
    srv = make_server(idle_timeout=0.2)
    with socket.create_connection(("127.0.0.1", srv.server_port), 5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert _status(sock.recv(65536)) == 200
        time.sleep(0.5)
        assert sock.recv(100) == b""


def test_shutdown_stops_listening_and_closes_idle(make_server):
    srv = make_server()
    port = srv.server_port
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert _status(sock.recv(65536)) == 200
        start = time.monotonic()
        srv.shutdown()
        assert time.monotonic() - start < 2
        assert sock.recv(100) == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), 2).close()


def test_serve_forever_in_a_thread():
    srv = HttpServer("127.0.0.1", 0, _Echo())
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _wait_until(lambda: srv.server_port != 0)
    assert _status(_raw(srv, b"GET / HTTP/1.0\r\n\r\n")) == 200
    srv.shutdown()
    thread.join(5)
    assert not thread.is_alive()


def test_ipv6_loopback():
    try:
        srv = HttpServer("::1", 0, _Echo())
        srv.start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        conn = http.client.HTTPConnection("::1", srv.server_port, timeout=5)
        conn.request("GET", "/v6")
        assert json.loads(conn.getresponse().read())["path"] == "/v6"
        conn.close()
    finally:
        srv.shutdown()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls")
    key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
    server = str(tmp / "server.pem")
    crypto.write_pem_file(server, key, cert)
    ckey, ccert = crypto.generate_signed_cert(key, cert, "client")
    client = str(tmp / "client.pem")
    crypto.write_pem_file(client, ckey, ccert)
    return server, client, ccert


def test_tls_request_carries_peer_certificate(make_server, tls_files):
    server, client, client_cert = tls_files
    handler = _Echo()
    srv = make_server(handler, ssl_context=crypto.make_server_ssl_context(server))
    ctx = crypto.make_client_ssl_context(client, server)
    conn = http.client.HTTPSConnection("127.0.0.1", srv.server_port, context=ctx,
                                       timeout=5)
    conn.request("POST", "/x", body=b"secret")
    assert json.loads(conn.getresponse().read())["body"] == "secret"
    conn.close()
    der = handler.requests[0].peer_cert_der
    assert crypto.cert_digest_der(der) == crypto.cert_digest(client_cert)


def test_tls_without_client_cert_request(make_server, tls_files):
    server = tls_files[0]
    handler = _Echo()
    ctx = crypto.make_server_ssl_context(server, require_client_cert=False)
    srv = make_server(handler, ssl_context=ctx)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(server)
    cctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", srv.server_port, context=cctx,
                                       timeout=5)
    conn.request("GET", "/")
    assert conn.getresponse().status == 200
    conn.close()
    assert handler.requests[0].peer_cert_der is None


def test_stalled_tls_handshake_does_not_block_others(make_server, tls_files):
    server, client, _ = tls_files
    srv = make_server(ssl_context=crypto.make_server_ssl_context(server))
    stalled = [socket.create_connection(("127.0.0.1", srv.server_port), 5)
               for _ in range(3)]
    stalled[0].sendall(b"\x16\x03\x01\x00")  # a truncated ClientHello
    try:
        ctx = crypto.make_client_ssl_context(client, server)
        start = time.monotonic()
        conn = http.client.HTTPSConnection("127.0.0.1", srv.server_port,
                                           context=ctx, timeout=5)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        assert time.monotonic() - start < 2
        conn.close()
    finally:
        for sock in stalled:
            sock.close()


def test_plain_http_to_tls_server_is_dropped(make_server, tls_files):
    server = tls_files[0]
    handler = _Echo()
    srv = make_server(handler, ssl_context=crypto.make_server_ssl_context(server))
    raw = _raw(srv, b"GET / HTTP/1.0\r\n\r\n")
    assert b"200" not in raw
    assert handler.requests == []
