"""QMP: the sans-I/O protocol on byte strings, and the socket client against a scripted
qemu-like server (greeting, negotiation, returns, errors, events, timeouts)."""

import json
import os
import socket
import threading

import pytest

from ganeti.hypervisor.kvm import qmp

GREETING = (b'{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, '
            b'"package": "Debian 1:7.2+dfsg-7"}, "capabilities": ["oob"]}}\r\n')


def ready_protocol():
    proto = qmp.QmpProtocol()
    proto.receive(GREETING)
    data = proto.negotiate()
    proto.receive(b'{"return": {}, "id": %d}\r\n' % json.loads(data)["id"])
    return proto


def test_greeting_is_parsed():
    proto = qmp.QmpProtocol()
    msgs = proto.receive(GREETING)
    assert msgs == [qmp.Greeting((7, 2, 22), ["oob"])]
    assert proto.state == qmp.STATE_GREETING
    assert proto.greeting.version == (7, 2, 22)


def test_negotiation_sends_qmp_capabilities_and_becomes_ready():
    proto = qmp.QmpProtocol()
    proto.receive(GREETING)
    data = proto.negotiate()
    assert data.endswith(b"\r\n")
    msg = json.loads(data)
    assert msg["execute"] == "qmp_capabilities" and "arguments" not in msg
    assert proto.state == qmp.STATE_NEGOTIATING
    assert proto.receive(b'{"return": {}, "id": %d}\n' % msg["id"]) == []
    assert proto.state == qmp.STATE_READY


def test_commands_before_negotiation_are_refused():
    proto = qmp.QmpProtocol()
    with pytest.raises(qmp.QmpError, match="before the greeting"):
        proto.negotiate()
    proto.receive(GREETING)
    with pytest.raises(qmp.QmpError, match="before negotiation"):
        proto.command("query-status")


def test_failed_negotiation_raises():
    proto = qmp.QmpProtocol()
    proto.receive(GREETING)
    cid = json.loads(proto.negotiate())["id"]
    with pytest.raises(qmp.QmpError, match="qmp_capabilities failed: nope"):
        proto.receive(b'{"error": {"class": "GenericError", "desc": "nope"}, "id": %d}\n'
                      % cid)


def test_command_encoding_and_unique_ids():
    proto = ready_protocol()
    id1, data1 = proto.command("query-status")
    id2, data2 = proto.command("balloon", {"value": 1 << 27})
    assert id1 != id2
    assert json.loads(data1) == {"execute": "query-status", "id": id1}
    assert json.loads(data2) == {"execute": "balloon", "id": id2,
                                 "arguments": {"value": 134217728}}


def test_return_error_and_event_messages():
    proto = ready_protocol()
    msgs = proto.receive(
        b'{"timestamp": {"seconds": 1700000000, "microseconds": 500000}, '
        b'"event": "POWERDOWN"}\r\n'
        b'{"return": {"status": "running", "running": true}, "id": 5}\r\n'
        b'{"error": {"class": "CommandNotFound", "desc": "The command foo has not been '
        b'found"}, "id": 6}\r\n')
    assert msgs[0] == qmp.Event("POWERDOWN", {}, 1700000000.5)
    assert msgs[1] == qmp.Return(5, {"status": "running", "running": True})
    assert msgs[2] == qmp.Error(6, "CommandNotFound", "The command foo has not been found")


def test_messages_split_across_reads():
    proto = ready_protocol()
    line = b'{"return": {"actual": 134217728}, "id": 9}\r\n'
    got = []
    for i in range(len(line)):
        got.extend(proto.receive(line[i:i + 1]))
    assert got == [qmp.Return(9, {"actual": 134217728})]


def test_invalid_messages_raise():
    for bad in (b"not json\n", b"[1, 2]\n", b'{"what": 1}\n'):
        proto = ready_protocol()
        with pytest.raises(qmp.QmpError):
            proto.receive(bad)
    proto = qmp.QmpProtocol()
    with pytest.raises(qmp.QmpError, match="before the greeting"):
        proto.receive(b'{"return": {}, "id": 1}\n')
    proto = ready_protocol()
    with pytest.raises(qmp.QmpError, match="Unexpected QMP greeting"):
        proto.receive(GREETING)


# --- the client against a scripted server -------------------------------------------

class FakeQemu(threading.Thread):
    """Answers QMP on a unix socket: greeting, capabilities, a few commands."""

    def __init__(self, path, silent=False):
        super().__init__(daemon=True)
        self.path = path
        self.silent = silent
        self.received = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)

    def run(self):
        conn, _ = self.sock.accept()
        if self.silent:
            conn.recv(10)
            return
        conn.sendall(GREETING)
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                self.received.append(msg)
                cmd, cid = msg["execute"], msg["id"]
                if cmd in ("qmp_capabilities", "system_powerdown"):
                    reply = {"return": {}, "id": cid}
                elif cmd == "query-status":
                    # an event may arrive between a command and its answer
                    conn.sendall(b'{"event": "RESUME", "data": {}, "timestamp": '
                                 b'{"seconds": 1, "microseconds": 0}}\r\n')
                    reply = {"return": {"status": "running", "running": True}, "id": cid}
                else:
                    reply = {"error": {"class": "CommandNotFound",
                                       "desc": "The command %s has not been found" % cmd},
                             "id": cid}
                conn.sendall(json.dumps(reply).encode() + b"\r\n")
        conn.close()


@pytest.fixture
def sock_path(tmp_path):
    path = str(tmp_path / "inst.qmp")
    yield path
    if os.path.exists(path):
        os.unlink(path)


def test_client_round_trip(sock_path):
    server = FakeQemu(sock_path)
    server.start()
    with qmp.QmpClient(sock_path, timeout=5) as client:
        assert client.execute("query-status") == {"status": "running", "running": True}
        assert client.wait_event("RESUME", 1).name == "RESUME"
        assert client.execute("system_powerdown") == {}
        with pytest.raises(qmp.QmpError) as info:
            client.execute("no-such-command")
        assert info.value.error_class == "CommandNotFound"
        assert "no-such-command" in str(info.value)
    server.join(5)
    assert [m["execute"] for m in server.received] == [
        "qmp_capabilities", "query-status", "system_powerdown", "no-such-command"]


def test_client_times_out_without_greeting(sock_path):
    server = FakeQemu(sock_path, silent=True)
    server.start()
    with pytest.raises(qmp.QmpError, match="Timeout"):
        qmp.QmpClient(sock_path, timeout=0.3).connect()


def test_client_reports_missing_socket(tmp_path):
    with pytest.raises(qmp.QmpError, match="Cannot connect"):
        qmp.QmpClient(str(tmp_path / "missing.qmp"), timeout=1).connect()
