"""End-to-end tests of the node RPC transport: NodeRpcServer and RpcTransport
over real TLS sockets with real certificates, including the refusals required
by the security model (non-candidate, foreign, missing client certificates).
"""

import http.client
import os
import socket
import ssl
import threading
import time

import pytest

from ganeti import crypto, errors
from ganeti.http.server import HttpRequest
from ganeti.rpc import encoding, node_server
from ganeti.rpc.node_server import NodeRpcServer
from ganeti.rpc.transport import RpcTransport

PROCEDURES = frozenset(["version", "echo", "sleep", "fail", "generic_fail",
                        "crash", "quit", "unencodable"])


class Certs:
    """A cluster in a temporary directory: server.pem plus client certificates."""

    def __init__(self, tmp):
        self.dir = tmp
        key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
        self.server = self._write("server.pem", key, cert)
        self.server_digest = crypto.cert_digest(cert)
        self.candidate = self._write(
            "client.pem", *crypto.generate_signed_cert(key, cert, "master"))
        self.candidate_digest = crypto.file_cert_digest(self.candidate)
        self.other_node = self._write(
            "other-client.pem", *crypto.generate_signed_cert(key, cert, "node3"))
        self.other_node_digest = crypto.file_cert_digest(self.other_node)
        fkey, fcert = crypto.generate_self_signed_cert("ganeti.example.com")
        self.foreign_ca = self._write("foreign-server.pem", fkey, fcert)
        self.foreign = self._write(
            "foreign-client.pem", *crypto.generate_signed_cert(fkey, fcert, "evil"))
        self.foreign_digest = crypto.file_cert_digest(self.foreign)

    def _write(self, name, key, cert):
        path = str(self.dir / name)
        crypto.write_pem_file(path, key, cert, mode=0o600)
        return path


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(tmp_path_factory.mktemp("certs"))


class Backend:
    """Records dispatched calls; behaviour chosen by procedure name."""

    def __init__(self):
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, procedure, args):
        with self.lock:
            self.calls.append((procedure, args))
        if procedure == "version":
            return 2030000
        if procedure == "echo":
            return args
        if procedure == "sleep":
            time.sleep(args[0])
            return args[0]
        if procedure == "fail":
            raise errors.RpcError("disk is on fire")
        if procedure == "generic_fail":
            raise errors.OpExecError("cannot do", "really")
        if procedure == "crash":
            raise ValueError("unexpected bug")
        if procedure == "quit":
            raise errors.QuitGanetiException(True, "Leaving the cluster")
        if procedure == "unencodable":
            return {1, 2}
        raise AssertionError(procedure)


@pytest.fixture
def start_server(certs):
    servers = []

    def start(allowed=None, backend=None, server_pem=None):
        allowed = {certs.candidate_digest} if allowed is None else allowed
        backend = backend or Backend()
        srv = NodeRpcServer("127.0.0.1", 0, server_pem or certs.server,
                            lambda: allowed, backend, PROCEDURES)
        srv.start()
        servers.append(srv)
        return srv, backend, allowed

    yield start
    for srv in servers:
        srv.shutdown(timeout=2)


@pytest.fixture
def transport(certs):
    tr = RpcTransport(certs.candidate, certs.server)
    yield tr
    tr.close()


def _target(srv, name="node1"):
    return [(name, "127.0.0.1", srv.server_port)]


def _body(*args):
    return encoding.encode_request(list(args))


def test_call_succeeds_with_candidate_certificate(start_server, transport):
    srv, backend, _ = start_server()
    result = transport.call(_target(srv), "echo", _body("a", {"b": [1]}), 10)
    assert result == {"node1": (True, ["a", {"b": [1]}])}
    assert backend.calls == [("echo", ["a", {"b": [1]}])]


def test_non_candidate_certificate_is_refused(start_server, certs):
    srv, backend, _ = start_server()
    tr = RpcTransport(certs.other_node, certs.server)
    ok, msg = tr.call(_target(srv), "echo", _body(1), 10)["node1"]
    tr.close()
    assert not ok
    assert "HTTP 403" in msg and "Client certificate verification failed" in msg
    assert msg.startswith(
        f"Error while contacting node node1 (127.0.0.1:{srv.server_port}): ")
    assert backend.calls == []


def test_certificate_from_another_ca_is_refused(start_server, certs):
    # Even with its digest in the candidate map, the TLS layer refuses it
    srv, backend, _ = start_server(allowed={certs.candidate_digest,
                                            certs.foreign_digest})
    tr = RpcTransport(certs.foreign, certs.server)
    ok, msg = tr.call(_target(srv), "echo", _body(1), 10)["node1"]
    tr.close()
    assert not ok
    assert "Error while contacting node node1" in msg
    assert backend.calls == []


def test_server_with_another_certificate_is_not_trusted(start_server, certs):
    srv, backend, _ = start_server(server_pem=certs.foreign_ca)
    tr = RpcTransport(certs.candidate, certs.server)
    ok, msg = tr.call(_target(srv), "echo", _body(1), 10)["node1"]
    tr.close()
    assert not ok and "TLS handshake failed" in msg
    assert backend.calls == []


def test_client_without_certificate_is_refused(start_server, certs):
    srv, backend, _ = start_server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.server)
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", srv.server_port, context=ctx,
                                       timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        conn.request("POST", "/echo", body=_body(1))
        conn.getresponse()
    conn.close()
    assert backend.calls == []


def test_request_without_peer_certificate_gets_403(start_server):
    # Reached only if TLS let such a client through; checked nevertheless
    srv, backend, _ = start_server()
    req = HttpRequest("POST", "/echo", "", {}, _body(1), ("127.0.0.1", 1), None)
    resp = srv._handle(req)
    assert resp.status == 403 and b"No client certificate provided" in resp.body
    assert backend.calls == []


def test_empty_candidate_map_refuses_everything(start_server, certs):
    srv, backend, _ = start_server(allowed=set())
    for client in (certs.candidate, certs.server, certs.other_node):
        tr = RpcTransport(client, certs.server)
        ok, msg = tr.call(_target(srv), "version", _body(), 10)["node1"]
        tr.close()
        assert not ok and "HTTP 403" in msg and "empty" in msg
    assert backend.calls == []


def test_failing_candidate_map_refuses(certs):
    backend = Backend()

    def broken():
        raise OSError("ssconf unreadable")

    srv = NodeRpcServer("127.0.0.1", 0, certs.server, broken, backend, PROCEDURES)
    srv.start()
    try:
        tr = RpcTransport(certs.candidate, certs.server)
        ok, msg = tr.call(_target(srv), "version", _body(), 10)["node1"]
        tr.close()
    finally:
        srv.shutdown()
    assert not ok and "HTTP 403" in msg
    assert backend.calls == []


def test_bootstrap_server_certificate_as_client(start_server, certs):
    # During cluster init the map holds only the server certificate's digest
    srv, backend, _ = start_server(allowed={certs.server_digest})
    tr = RpcTransport(certs.server, certs.server)
    assert tr.call(_target(srv), "version", _body(), 10) == {"node1": (True, 2030000)}
    tr.close()
    tr = RpcTransport(certs.candidate, certs.server)
    assert not tr.call(_target(srv), "version", _body(), 10)["node1"][0]
    tr.close()
    assert len(backend.calls) == 1


def test_candidate_map_change_applies_to_kept_alive_connection(start_server,
                                                               transport, certs):
    srv, backend, allowed = start_server()
    target = _target(srv)
    assert transport.call(target, "version", _body(), 10)["node1"][0]
    allowed.discard(certs.candidate_digest)  # demoted
    allowed.add(certs.other_node_digest)
    ok, msg = transport.call(target, "version", _body(), 10)["node1"]
    assert not ok and "HTTP 403" in msg
    allowed.add(certs.candidate_digest)  # promoted again
    assert transport.call(target, "version", _body(), 10)["node1"] == (True, 2030000)
    assert srv._http.connections_accepted == 1
    assert len(backend.calls) == 2


def test_unknown_procedure_is_404(start_server, transport):
    srv, backend, _ = start_server()
    for name in ("no_such_procedure", "Echo", "../etc/passwd", "echo/x"):
        ok, msg = transport.call(_target(srv), name, _body(), 10)["node1"]
        assert not ok and "HTTP 404" in msg
    assert "'no_such_procedure'" in transport.call(
        _target(srv), "no_such_procedure", _body(), 10)["node1"][1]
    assert backend.calls == []


def _https(srv, certs, method, path, body=None):
    ctx = crypto.make_client_ssl_context(certs.candidate, certs.server)
    conn = http.client.HTTPSConnection("127.0.0.1", srv.server_port, context=ctx,
                                       timeout=5)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_only_post_is_supported(start_server, certs):
    srv, backend, _ = start_server()
    for method in ("GET", "PUT", "DELETE"):
        status, body = _https(srv, certs, method, "/version", b"[]")
        assert status == 400
        assert b"Only the POST method is supported" in body
    assert backend.calls == []


def test_bad_request_bodies_are_400(start_server, certs):
    srv, backend, _ = start_server()
    for body in (b"{not json", b'{"a": 1}', b"\xff\xfe", b""):
        assert _https(srv, certs, "POST", "/echo", body)[0] == 400, body
    assert b"JSON list" in _https(srv, certs, "POST", "/echo", b"{}")[1]
    assert backend.calls == []


def test_backend_errors_are_reported(start_server, transport):
    srv, _, _ = start_server()
    target = _target(srv)
    assert transport.call(target, "fail", _body(), 10) == {
        "node1": (False, "disk is on fire")}
    assert transport.call(target, "generic_fail", _body(), 10) == {
        "node1": (False, "cannot do; really")}
    ok, msg = transport.call(target, "crash", _body(), 10)["node1"]
    assert not ok
    assert msg == "Error while executing backend function: unexpected bug"
    ok, msg = transport.call(target, "unencodable", _body(), 10)["node1"]
    assert not ok and msg.startswith("Error while executing backend function")
    # The server is still healthy
    assert transport.call(target, "version", _body(), 10)["node1"] == (True, 2030000)


def test_quit_answers_then_stops_the_server(start_server, transport):
    srv, _, _ = start_server()
    target = _target(srv)
    result = transport.call(target, "quit", _body(), 10)
    assert result == {"node1": (True, [True, "Leaving the cluster"])}
    port = srv.server_port

    def refused():
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
        except OSError:
            return True
        return False

    deadline = time.monotonic() + 5
    while not refused():
        assert time.monotonic() < deadline, "server did not stop"
        time.sleep(0.02)
    ok, msg = transport.call(target, "version", _body(), 10)["node1"]
    assert not ok and "Error while contacting node node1" in msg


def test_fan_out_in_parallel(start_server, transport):
    servers = [start_server()[0] for _ in range(10)]
    targets = [(f"node{i}", "127.0.0.1", srv.server_port)
               for i, srv in enumerate(servers)]
    start = time.monotonic()
    result = transport.call(targets, "sleep", _body(0.5), 10)
    elapsed = time.monotonic() - start
    assert result == {f"node{i}": (True, 0.5) for i in range(10)}
    assert elapsed < 3.0  # sequential would take 5 s


def test_fan_out_with_per_node_bodies_and_a_dead_node(start_server, transport):
    servers = [start_server()[0] for _ in range(3)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    targets = [(f"n{i}", "127.0.0.1", srv.server_port)
               for i, srv in enumerate(servers)]
    targets.append(("dead", "127.0.0.1", dead_port))
    bodies = {name: _body(name) for name, _, _ in targets}
    result = transport.call(targets, "echo", bodies, 10)
    assert {k: v for k, v in result.items() if k != "dead"} == {
        "n0": (True, ["n0"]), "n1": (True, ["n1"]), "n2": (True, ["n2"])}
    ok, msg = result["dead"]
    assert not ok
    assert msg.startswith(f"Error while contacting node dead (127.0.0.1:{dead_port}):")
    with pytest.raises(errors.ProgrammerError):
        transport.call(targets, "echo", {"n0": b"[]"}, 10)


def test_connections_are_reused(start_server, transport):
    srv, backend, _ = start_server()
    for i in range(20):
        result = transport.call(_target(srv), "echo", _body(i), 10)
        assert result["node1"] == (True, [i])
    assert srv._http.connections_accepted == 1
    assert len(backend.calls) == 20


def test_parallel_callers_share_the_pool_safely(start_server, transport):
    srv, backend, _ = start_server()
    failures = []

    def caller(n):
        for i in range(10):
            res = transport.call(_target(srv), "echo", _body(n, i), 10)["node1"]
            if res != (True, [n, i]):
                failures.append(res)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    assert len(backend.calls) == 60
    assert srv._http.connections_accepted <= 6


def test_reconnects_when_server_closed_idle_connection(start_server, transport):
    srv, backend, _ = start_server()
    srv._http.idle_timeout = 0.1
    assert transport.call(_target(srv), "version", _body(), 10)["node1"][0]
    time.sleep(0.4)
    assert transport.call(_target(srv), "version", _body(), 10)["node1"] == (
        True, 2030000)
    assert srv._http.connections_accepted == 2
    assert len(backend.calls) == 2  # executed exactly once each


def test_reconnects_after_server_restart(certs, transport):
    backend = Backend()
    allowed = {certs.candidate_digest}
    srv = NodeRpcServer("127.0.0.1", 0, certs.server, lambda: allowed, backend,
                        PROCEDURES)
    srv.start()
    port = srv.server_port
    assert transport.call(_target(srv), "version", _body(), 10)["node1"][0]
    srv.shutdown()
    srv = NodeRpcServer("127.0.0.1", port, certs.server, lambda: allowed, backend,
                        PROCEDURES)
    srv.start()
    try:
        assert transport.call([("node1", "127.0.0.1", port)], "version", _body(),
                              10)["node1"] == (True, 2030000)
    finally:
        srv.shutdown()


def test_read_timeout(start_server, transport):
    srv, _, _ = start_server()
    start = time.monotonic()
    ok, msg = transport.call(_target(srv), "sleep", _body(2), 0.3)["node1"]
    assert not ok and "timeout" in msg
    assert time.monotonic() - start < 1.5


def test_connection_refused_message(transport):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok, msg = transport.call([("gone", "127.0.0.1", port)], "version", _body(),
                             10)["gone"]
    assert not ok
    assert msg.startswith(f"Error while contacting node gone (127.0.0.1:{port}):")
    assert "refused" in msg.lower()


def test_client_certificate_reloaded_when_replaced(start_server, certs, tmp_path):
    srv, _, allowed = start_server()
    client = str(tmp_path / "client.pem")
    crypto.write_pem_file(client, *crypto.read_pem_file(certs.candidate))
    tr = RpcTransport(client, certs.server)
    try:
        assert tr.call(_target(srv), "version", _body(), 10)["node1"][0]
        crypto.write_pem_file(client, *crypto.read_pem_file(certs.other_node))
        ok, msg = tr.call(_target(srv), "version", _body(), 10)["node1"]
        assert not ok and "HTTP 403" in msg
        allowed.add(certs.other_node_digest)
        assert tr.call(_target(srv), "version", _body(), 10)["node1"][0]
    finally:
        tr.close()


def test_missing_client_pem_falls_back_to_server_pem(start_server, certs, tmp_path):
    srv, _, allowed = start_server()
    tr = RpcTransport(str(tmp_path / "absent.pem"), certs.server)
    try:
        assert not tr.call(_target(srv), "version", _body(), 10)["node1"][0]
        allowed.add(certs.server_digest)
        assert tr.call(_target(srv), "version", _body(), 10)["node1"] == (True, 2030000)
    finally:
        tr.close()


def test_unreadable_certificates_fail_every_node(tmp_path):
    tr = RpcTransport(str(tmp_path / "a.pem"), str(tmp_path / "b.pem"))
    result = tr.call([("x", "127.0.0.1", 1), ("y", "127.0.0.1", 2)], "version",
                     _body(), 5)
    assert set(result) == {"x", "y"}
    for ok, msg in result.values():
        assert not ok and "cannot load certificates" in msg


def test_server_picks_up_renewed_server_certificate(certs, tmp_path, monkeypatch):
    monkeypatch.setattr(node_server, "_CERT_CHECK_INTERVAL", 0.0)
    server_pem = str(tmp_path / "server.pem")
    crypto.write_pem_file(server_pem, *crypto.read_pem_file(certs.server))
    backend = Backend()
    allowed = {certs.candidate_digest}
    srv = NodeRpcServer("127.0.0.1", 0, server_pem, lambda: allowed, backend,
                        PROCEDURES)
    srv.start()
    try:
        old = RpcTransport(certs.candidate, certs.server)
        assert old.call(_target(srv), "version", _body(), 10)["node1"][0]
        old.close()
        # renew-crypto: new cluster certificate and a new node certificate
        key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
        crypto.write_pem_file(server_pem, key, cert)
        new_client = str(tmp_path / "client.pem")
        crypto.write_pem_file(new_client,
                              *crypto.generate_signed_cert(key, cert, "master"))
        allowed.add(crypto.file_cert_digest(new_client))
        old = RpcTransport(certs.candidate, certs.server)
        ok, msg = old.call(_target(srv), "version", _body(), 10)["node1"]
        old.close()
        assert not ok and "TLS handshake failed" in msg
        new = RpcTransport(new_client, server_pem)
        assert new.call(_target(srv), "version", _body(), 10)["node1"][0]
        new.close()
    finally:
        srv.shutdown()


def test_latency(start_server, certs):
    """Prints the per-call latency (run with -s); checks only that calls work."""
    srv, _, _ = start_server()
    target = _target(srv)
    body = _body()
    tr = RpcTransport(certs.candidate, certs.server)
    tr.call(target, "version", body, 10)  # loads the certificates once
    n_new = 20
    start = time.perf_counter()
    for _ in range(n_new):
        tr.close()
        assert tr.call(target, "version", body, 10)["node1"][0]
    new_ms = (time.perf_counter() - start) / n_new * 1000
    n_reused = 500
    start = time.perf_counter()
    for _ in range(n_reused):
        assert tr.call(target, "version", body, 10)["node1"][0]
    reused_ms = (time.perf_counter() - start) / n_reused * 1000
    tr.close()
    print(f"\nno-op RPC latency: new connection {new_ms:.2f} ms,"
          f" reused connection {reused_ms:.3f} ms (pid {os.getpid()})")
    assert srv._http.connections_accepted == n_new + 1
