"""Tests for ganeti.luxi: framing, request/response encoding, error transport, and a
real Server on a temporary Unix socket.
"""

import json
import os
import socket
import stat
import threading
import time

import pytest

from ganeti import constants, errors, luxi

EOM = b"\x03"


# --- Framer -----------------------------------------------------------------------

def test_framer_merged_messages_in_one_chunk():
    framer = luxi.Framer()
    assert framer.feed(b'{"a":1}\x03{"b":2}\x03') == [b'{"a":1}', b'{"b":2}']
    assert framer.pending == 0


def test_framer_message_split_over_chunks():
    framer = luxi.Framer()
    assert framer.feed(b'{"a"') == []
    assert framer.pending == 4
    assert framer.feed(b':1}') == []
    assert framer.feed(b'\x03{"b"') == [b'{"a":1}']
    assert framer.feed(b':2}\x03') == [b'{"b":2}']
    assert framer.pending == 0


def test_framer_byte_by_byte():
    framer = luxi.Framer()
    stream = b'{"x":"y"}\x03[1,2]\x03\x03'
    messages = []
    for i in range(len(stream)):
        messages.extend(framer.feed(stream[i:i + 1]))
    assert messages == [b'{"x":"y"}', b"[1,2]", b""]


def test_framer_refuses_oversized_pending_data():
    framer = luxi.Framer(max_size=10)
    framer.feed(b"x" * 10)
    with pytest.raises(errors.ProtocolError, match="maximum size"):
        framer.feed(b"y")


def test_framer_refuses_oversized_complete_message():
    framer = luxi.Framer(max_size=10)
    with pytest.raises(errors.ProtocolError, match="maximum size"):
        framer.feed(b"x" * 11 + EOM)


def test_framer_accepts_message_of_maximum_size():
    framer = luxi.Framer(max_size=10)
    assert framer.feed(b"x" * 10 + EOM + b"y" * 10) == [b"x" * 10]


# --- requests ---------------------------------------------------------------------

def test_request_round_trip():
    data = luxi.encode_request("QueryJobs", [[1, 2], ["status"]])
    assert data.endswith(EOM) and data.count(EOM) == 1
    assert json.loads(data[:-1]) == {"method": "QueryJobs", "args": [[1, 2], ["status"]],
                                     "version": constants.LUXI_VERSION}
    assert luxi.parse_request(data[:-1]) == ("QueryJobs", [[1, 2], ["status"]],
                                             constants.LUXI_VERSION)


def test_request_without_version():
    data = luxi.encode_request("Query", [], version=None)
    assert "version" not in json.loads(data[:-1])
    assert luxi.parse_request(data[:-1]) == ("Query", [], None)


def test_control_character_in_payload_is_escaped():
    data = luxi.encode_request("SubmitJob", ["a\x03b"])
    assert data.count(EOM) == 1
    assert luxi.parse_request(data[:-1])[1] == ["a\x03b"]


@pytest.mark.parametrize("payload,message", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'"text"', "not a JSON object"),
    (b'{"args": []}', "method or args missing"),
    (b'{"method": "Query"}', "method or args missing"),
    (b'{"method": 5, "args": []}', "method or args missing"),
    (b'{"method": "Query", "args": [], "version": "3"}', "version is not a number"),
])
def test_malformed_requests(payload, message):
    with pytest.raises(errors.ProtocolError, match=message):
        luxi.parse_request(payload)


def test_scalar_args_become_a_list():
    assert luxi.parse_request(b'{"method": "ArchiveJob", "args": 5}')[1] == [5]


# --- responses --------------------------------------------------------------------

def test_response_success():
    data = luxi.encode_response(True, {"fields": []})
    assert json.loads(data[:-1]) == {"success": True, "result": {"fields": []},
                                     "version": constants.LUXI_VERSION}
    assert luxi.parse_response(data[:-1]) == {"fields": []}


def test_response_without_version_accepted():
    assert luxi.parse_response(b'{"success": true, "result": 7}') == 7


def test_response_version_mismatch():
    data = luxi.encode_response(True, 1, version=2160000)
    with pytest.raises(errors.LuxiError, match="version mismatch"):
        luxi.parse_response(data[:-1])
    assert luxi.parse_response(data[:-1], expected_version=None) == 1


@pytest.mark.parametrize("payload", [b"{bad", b"[]", b'{"success": true}',
                                     b'{"result": 1}'])
def test_malformed_responses(payload):
    with pytest.raises(errors.ProtocolError, match="Invalid LUXI response"):
        luxi.parse_response(payload)


@pytest.mark.parametrize("exc", [
    errors.OpPrereqError("Instance 'x' not known", errors.ECODE_NOENT),
    errors.OpExecError("it failed"),
    errors.JobQueueDrainError("drained"),
    errors.JobLost("job 5"),
    errors.QueryFilterParseError("bad filter"),
    errors.TagError("Tag too long"),
])
def test_encoded_exception_reraised_as_its_class(exc):
    data = luxi.encode_response(False, errors.encode_exception(exc))
    with pytest.raises(type(exc)) as info:
        luxi.parse_response(data[:-1])
    assert type(info.value) is type(exc)
    assert info.value.args == exc.args


def test_encoded_exception_wire_form():
    err = errors.OpPrereqError("Instance 'x' not known", errors.ECODE_NOENT)
    data = luxi.encode_response(False, errors.encode_exception(err))
    assert json.loads(data[:-1])["result"] == ["OpPrereqError",
                                               ["Instance 'x' not known",
                                                "unknown_entity"]]


@pytest.mark.parametrize("result", ["plain message", ["NoSuchError", ["x"]], [1, 2]])
def test_unknown_error_becomes_request_error(result):
    data = luxi.encode_response(False, result)
    with pytest.raises(errors.RequestError):
        luxi.parse_response(data[:-1])


def test_non_ganeti_exception_encoding():
    assert errors.encode_exception(ValueError("bad")) == ["GenericError",
                                                          ["ValueError: bad"]]


# --- socket selection ------------------------------------------------------------

def test_socket_for_method(monkeypatch):
    monkeypatch.delenv("FORCE_LUXI_SOCKET", raising=False)
    assert luxi.socket_for_method("SubmitJob", "/m", "/q") == "/m"
    assert luxi.socket_for_method("WaitForJobChange", "/m", "/q") == "/m"
    assert luxi.socket_for_method("Query", "/m", "/q") == "/q"
    assert luxi.socket_for_method("QueryJobs", "/m", "/q") == "/q"
    monkeypatch.setenv("FORCE_LUXI_SOCKET", "master")
    assert luxi.socket_for_method("Query", "/m", "/q") == "/m"
    monkeypatch.setenv("FORCE_LUXI_SOCKET", "query")
    assert luxi.socket_for_method("SubmitJob", "/m", "/q") == "/q"
    monkeypatch.setenv("FORCE_LUXI_SOCKET", "/tmp/other.sock")
    assert luxi.socket_for_method("SubmitJob", "/m", "/q") == "/tmp/other.sock"


# --- a real server -----------------------------------------------------------------

class Handler:
    def __init__(self):
        self.calls = []

    def __call__(self, method, args, peer):
        self.calls.append((method, args, peer))
        if method == "Echo":
            return args
        if method == "Fail":
            raise errors.OpPrereqError("no such thing", errors.ECODE_NOENT)
        if method == "Crash":
            raise ZeroDivisionError("division by zero")
        if method == "Slow":
            time.sleep(0.3)
            return "slow"
        raise errors.ProtocolError("Unknown method %s" % method)


@pytest.fixture
def server(tmp_path):
    path = str(tmp_path / "luxi.sock")
    handler = Handler()
    srv = luxi.Server(path, handler, name="test-luxi")
    srv.test_handler = handler
    srv.test_mode_at_start = stat.S_IMODE(os.stat(path).st_mode)
    srv.start()
    yield srv
    srv.stop()


def _raw_conn(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(path)
    return sock


def _read_message(sock):
    buf = b""
    while EOM not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("connection closed before a full message")
        buf += chunk
    return buf[:buf.index(EOM)]


def test_socket_mode_is_0660_right_after_start(server):
    assert server.test_mode_at_start == 0o660
    assert stat.S_ISSOCK(os.stat(server.path).st_mode)


def test_socket_custom_mode_and_stale_socket_replaced(tmp_path):
    path = str(tmp_path / "s.sock")
    with open(path, "w") as fh:
        fh.write("stale")
    srv = luxi.Server(path, Handler(), mode=0o600)
    try:
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600
    finally:
        srv.stop()
    assert not os.path.exists(path)


def test_round_trip_through_client(server):
    client = luxi.Client(address=server.path, timeout=5)
    try:
        assert client.call_method("Echo", 1, "two", [3]) == [1, "two", [3]]
        assert client.call_method("Echo") == []
        method, args, peer = server.test_handler.calls[0]
        assert (method, args) == ("Echo", [1, "two", [3]])
        assert peer[0] == os.getpid() and peer[1] == os.getuid()
    finally:
        client.close()


def test_client_reuses_one_connection_for_many_calls(server):
    client = luxi.Client(address=server.path, timeout=5)
    try:
        for i in range(20):
            assert client.call_method("Echo", i) == [i]
        assert len(client._transports) == 1
    finally:
        client.close()


def test_handler_errors_reach_the_client_as_their_class(server):
    client = luxi.Client(address=server.path, timeout=5)
    try:
        with pytest.raises(errors.OpPrereqError) as info:
            client.call_method("Fail")
        assert info.value.args == ("no such thing", "unknown_entity")
        with pytest.raises(errors.GenericError, match="ZeroDivisionError"):
            client.call_method("Crash")
        with pytest.raises(errors.ProtocolError, match="Unknown method Nope"):
            client.call_method("Nope")
        assert client.call_method("Echo", "still fine") == ["still fine"]
    finally:
        client.close()


def test_garbage_gets_an_error_answer_and_server_keeps_serving(server):
    bad = _raw_conn(server.path)
    good = None
    try:
        bad.sendall(b"this is not json\x03")
        answer = json.loads(_read_message(bad))
        assert answer["success"] is False
        assert answer["result"][0] == "ProtocolError"
        assert "not JSON" in answer["result"][1][0]
        # the same connection still works after a malformed message
        bad.sendall(luxi.encode_request("Echo", ["again"]))
        assert json.loads(_read_message(bad))["result"] == ["again"]
        # and other clients are served
        good = luxi.Client(address=server.path, timeout=5)
        assert good.call_method("Echo", "other") == ["other"]
    finally:
        bad.close()
        if good:
            good.close()


def test_oversized_message_refused_and_server_keeps_serving(server, monkeypatch):
    original = luxi.Framer
    monkeypatch.setattr(luxi, "Framer", lambda: original(max_size=100))
    conn = _raw_conn(server.path)
    try:
        conn.sendall(b"x" * 200)
        answer = json.loads(_read_message(conn))
        assert answer["success"] is False
        assert answer["result"][0] == "ProtocolError"
        assert "maximum size" in answer["result"][1][0]
        assert conn.recv(10) == b""  # the server closed this connection
    finally:
        conn.close()
    client = luxi.Client(address=server.path, timeout=5)
    try:
        assert client.call_method("Echo", 1) == [1]
    finally:
        client.close()


def test_missing_method_gets_an_error_answer(server):
    conn = _raw_conn(server.path)
    try:
        conn.sendall(b'{"args": []}\x03')
        answer = json.loads(_read_message(conn))
        assert answer["success"] is False
        assert "method or args missing" in answer["result"][1][0]
    finally:
        conn.close()


def test_pipelined_requests_answered_in_order(server):
    conn = _raw_conn(server.path)
    try:
        conn.sendall(luxi.encode_request("Echo", [1]) + luxi.encode_request("Echo", [2]))
        buf = b""
        while buf.count(EOM) < 2:
            buf += conn.recv(4096)
        first, second = buf.split(EOM)[:2]
        assert json.loads(first)["result"] == [1]
        assert json.loads(second)["result"] == [2]
    finally:
        conn.close()


def test_clients_are_served_concurrently(server):
    results = []

    def call():
        client = luxi.Client(address=server.path, timeout=5)
        try:
            results.append(client.call_method("Slow"))
        finally:
            client.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results == ["slow"] * 4
    assert time.monotonic() - start < 1.0


def test_client_disconnect_mid_message_does_not_stop_server(server):
    conn = _raw_conn(server.path)
    conn.sendall(b'{"method": "Echo", "ar')
    conn.close()
    client = luxi.Client(address=server.path, timeout=5)
    try:
        assert client.call_method("Echo", 1) == [1]
    finally:
        client.close()


def test_stop_removes_the_socket(tmp_path):
    path = str(tmp_path / "x.sock")
    srv = luxi.Server(path, Handler())
    thread = srv.start()
    srv.stop()
    thread.join(3)
    assert not thread.is_alive()
    assert not os.path.exists(path)


def test_no_server_gives_no_master_error(tmp_path):
    start = time.monotonic()
    with pytest.raises(errors.NoMasterError):
        luxi.Transport(str(tmp_path / "missing.sock"), connect_timeout=0.3)
    assert time.monotonic() - start < 3


def test_client_timeout(server):
    client = luxi.Client(address=server.path, timeout=0.1)
    try:
        with pytest.raises(errors.TimeoutError):
            client.call_method("Slow")
    finally:
        client.close()
