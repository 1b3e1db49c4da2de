"""confd: protocol, answers of every request type, and dropped bad packets (real UDP)."""

import json
import socket
import threading
import time

import pytest

from ganeti import constants
from ganeti import objects
from ganeti.confd import protocol as P
from ganeti.confd import querylib
from ganeti.confd.client import ConfdClient
from ganeti.server import confd as confd_server

KEY = b"0123456789abcdef0123456789abcdef01234567\n"


def make_config() -> objects.ConfigData:
    group = objects.NodeGroup(name="default", uuid="g1", ndparams={}, tags=[])
    nodes = {}
    for idx, (name, flags) in enumerate([("node1", {}), ("node2", {}),
                                         ("node3", {"master_candidate": False}),
                                         ("node4", {"master_candidate": False,
                                                    "offline": True}),
                                         ("node5", {"master_candidate": False,
                                                    "drained": True})], 1):
        node = objects.Node(name=name, uuid="n%d" % idx, primary_ip="192.0.2.%d" % idx,
                            secondary_ip="198.51.100.%d" % idx, group="g1",
                            master_candidate=flags.get("master_candidate", True),
                            offline=flags.get("offline", False),
                            drained=flags.get("drained", False), serial_no=idx + 10,
                            ndparams={}, tags=[])
        node.upgrade_config()
        nodes[node.uuid] = node
    cluster = objects.Cluster(cluster_name="cluster.example.com", master_node="n1",
                              master_ip="192.0.2.254", serial_no=42,
                              nicparams={"default": {"mode": "bridged", "link": "br0"}},
                              data_collectors={"cpu-avg-load": {"active": True,
                                                                "interval": 5000000}})
    cluster.upgrade_config()
    drbd = objects.Disk(uuid="d1", dev_type=constants.DT_DRBD8,
                        logical_id=["n2", "n3", 11000, 0, 1, "s3cr3t"], size=1024,
                        iv_name="disk/0", children=[], nodes=["n2", "n3"])
    inst = objects.Instance(name="inst1", uuid="i1", primary_node="n2", os="noop",
                            hypervisor="fake", disks=["d1"], serial_no=7,
                            osparams_private={"password": "hunter2"},
                            nics=[objects.NIC(uuid="c1", mac="aa:00:00:00:00:01",
                                              ip="203.0.113.5", nicparams={})])
    inst.upgrade_config()
    data = objects.ConfigData(version=constants.CONFIG_VERSION, cluster=cluster,
                              nodes=nodes, nodegroups={"g1": group},
                              instances={"i1": inst}, disks={"d1": drbd}, networks={})
    data.upgrade_config()
    return data


def ask(data, req_type, query=None):
    return querylib.answer(data, {"type": req_type, "query": query, "rsalt": "x"})


@pytest.mark.parametrize("req_type,query,expected", [
    (P.REQ_PING, None, (0, constants.CONFIG_VERSION, 0)),
    (P.REQ_NODE_ROLE_BYNAME, "node1", (0, P.NODE_ROLE_MASTER, 42)),
    (P.REQ_NODE_ROLE_BYNAME, "node2", (0, P.NODE_ROLE_CANDIDATE, 42)),
    (P.REQ_NODE_ROLE_BYNAME, "node4", (0, P.NODE_ROLE_OFFLINE, 42)),
    (P.REQ_NODE_ROLE_BYNAME, "node5", (0, P.NODE_ROLE_DRAINED, 42)),
    (P.REQ_NODE_ROLE_BYNAME, "node3", (0, P.NODE_ROLE_REGULAR, 42)),
    (P.REQ_NODE_ROLE_BYNAME, "nosuch", (1, P.ERROR_UNKNOWN_ENTRY, 0)),
    (P.REQ_NODE_ROLE_BYNAME, 5, (1, P.ERROR_ARGUMENT, 0)),
    (P.REQ_CLUSTER_MASTER, None, (0, "node1", 42)),
    (P.REQ_CLUSTER_MASTER, {"3": [0, 1, 2]}, (0, ["node1", "192.0.2.254", "192.0.2.1"], 42)),
    (P.REQ_CLUSTER_MASTER, "node1", (1, P.ERROR_ARGUMENT, 0)),
    (P.REQ_NODE_PIP_LIST, None,
     (0, ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"], 42)),
    (P.REQ_MC_PIP_LIST, None, (0, ["192.0.2.1", "192.0.2.2"], 42)),
    (P.REQ_INSTANCES_IPS_LIST, None, (0, ["203.0.113.5"], 42)),
    (P.REQ_INSTANCES_IPS_LIST, "other", (0, [], 42)),
    (P.REQ_NODE_PIP_BY_INSTANCE_IP, {"1": "203.0.113.5"}, (0, "192.0.2.2", 42)),
    (P.REQ_NODE_PIP_BY_INSTANCE_IP, {"1": "203.0.113.9"}, (1, P.ERROR_UNKNOWN_ENTRY, 0)),
    (P.REQ_NODE_PIP_BY_INSTANCE_IP, {"2": ["203.0.113.5", "1.2.3.4"]},
     (0, [[0, "192.0.2.2", 42], [1, 0, 0]], 42)),
    (P.REQ_NODE_DRBD, "node3", (0, [["node3", 1, "inst1", "disk/0", "secondary", "node2"]],
                                13)),
    (P.REQ_CONFIG_QUERY, "/cluster/cluster_name", (0, "cluster.example.com", 42)),
    (P.REQ_CONFIG_QUERY, "/nosuch", (1, P.ERROR_ARGUMENT, 0)),
    (P.REQ_DATA_COLLECTORS, None,
     (0, {"cpu-avg-load": {"active": True, "interval": 5000000}}, 42)),
    (99, None, (2, P.ERROR_ARGUMENT, 0)),
])
def test_answers(req_type, query, expected):
    assert ask(make_config(), req_type, query) == expected


def test_secrets_are_never_answered():
    data = make_config()
    status, disks, serial = ask(data, P.REQ_INSTANCE_DISKS, "inst1")
    assert status == 0 and serial == 7
    assert disks[0]["logical_id"][5] == constants.REDACTED
    _s, value, _ = ask(data, P.REQ_CONFIG_QUERY, "/disks/d1/logical_id/5")
    assert value == constants.REDACTED
    _s, whole, _ = ask(data, P.REQ_CONFIG_QUERY, "")
    text = json.dumps(whole)
    assert "s3cr3t" not in text and "hunter2" not in text
    _s, insts, _ = ask(data, P.REQ_NODE_INSTANCES, "node2")
    assert "hunter2" not in json.dumps(insts)


def test_sign_round_trip_and_tampering():
    datagram, rsalt = P.make_request(KEY, P.REQ_PING)
    request = P.parse_request(KEY, datagram)
    assert request == {"type": P.REQ_PING, "query": None, "rsalt": rsalt}
    envelope = json.loads(datagram[4:])
    envelope["msg"] = envelope["msg"].replace('"type":0', '"type":3')
    with pytest.raises(P.ConfdError, match="signature"):
        P.parse_request(KEY, b"plj0" + json.dumps(envelope).encode())
    with pytest.raises(P.ConfdError, match="signature"):
        P.parse_request(b"another key\n", datagram)
    # the newline is part of the key
    with pytest.raises(P.ConfdError, match="signature"):
        P.parse_request(KEY.rstrip(b"\n"), datagram)


@pytest.mark.parametrize("mutate,reason", [
    (lambda d: d[4:], "magic"),
    (lambda d: b"plj0{not json", "not JSON"),
    (lambda d: b"plj0[1, 2]", "not a signed message"),
    (lambda d: b'plj0{"msg": 1, "salt": "2", "hmac": "3"}', "lacks"),
])
def test_malformed_requests_refused(mutate, reason):
    datagram, _ = P.make_request(KEY, P.REQ_PING)
    with pytest.raises(P.ConfdError, match=reason):
        P.parse_request(KEY, mutate(datagram))


def test_stale_and_future_requests_refused():
    now = time.time()
    old, _ = P.make_request(KEY, P.REQ_PING, now=now - 301)
    future, _ = P.make_request(KEY, P.REQ_PING, now=now + 301)
    fresh, _ = P.make_request(KEY, P.REQ_PING, now=now - 299)
    with pytest.raises(P.ConfdError, match="stale"):
        P.parse_request(KEY, old, now)
    with pytest.raises(P.ConfdError, match="stale"):
        P.parse_request(KEY, future, now)
    assert P.parse_request(KEY, fresh, now)["type"] == P.REQ_PING


class _State:
    """A ConfdState stand-in holding a config in memory."""

    def __init__(self, data):
        self.key = KEY
        self.data = data

    def maybe_reload(self):
        pass


@pytest.fixture
def udp_server():
    state = _State(make_config())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()
    thread = threading.Thread(target=confd_server.serve, args=((sock, state, None), stop),
                              daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)


def _send(port: int, data: bytes, timeout: float = 0.5) -> bytes | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    try:
        sock.sendto(data, ("127.0.0.1", port))
        return sock.recv(65536)
    except socket.timeout:
        return None
    finally:
        sock.close()


def test_udp_correct_answer(udp_server):
    client = ConfdClient(KEY, ["127.0.0.1"], udp_server)
    reply = client.query(P.REQ_CLUSTER_MASTER)
    assert (reply.status, reply.answer, reply.serial) == (0, "node1", 42)
    reply = client.query(P.REQ_NODE_ROLE_BYNAME, "node3")
    assert reply.answer == P.NODE_ROLE_REGULAR


def test_udp_bad_packets_dropped_and_server_survives(udp_server):
    good, rsalt = P.make_request(KEY, P.REQ_PING)
    unsigned = b"plj0" + json.dumps({"msg": json.loads(good[4:])["msg"], "salt": "1",
                                     "hmac": ""}).encode()
    wrong_key, _ = P.make_request(b"wrong\n", P.REQ_PING)
    replayed, _ = P.make_request(KEY, P.REQ_PING, now=time.time() - 3600)
    for bad in (unsigned, wrong_key, replayed, b"", b"plj0", b"\x00" * 4096,
                b"plj0" + b"{" * 3000, good[:-5]):
        assert _send(udp_server, bad, timeout=0.3) is None
    answer = _send(udp_server, good)
    assert answer is not None
    reply = P.parse_reply(KEY, answer, rsalt)
    assert reply["answer"] == constants.CONFIG_VERSION


def test_client_picks_newest_serial(udp_server):
    other = _State(make_config())
    other.data.cluster.serial_no = 99
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", udp_server))
    stop = threading.Event()
    thread = threading.Thread(target=confd_server.serve, args=((sock, other, None), stop),
                              daemon=True)
    thread.start()
    try:
        client = ConfdClient(KEY, ["127.0.0.1", "127.0.0.2"], udp_server)
        reply = client.query(P.REQ_CLUSTER_MASTER)
        assert reply.serial == 99 and reply.received == 2
    finally:
        stop.set()
        thread.join(5)


def test_client_refuses_reply_with_other_salt():
    reply = P.make_reply(KEY, "salt-a", 0, "x", 1)
    with pytest.raises(P.ConfdError, match="salt"):
        P.parse_reply(KEY, reply, "salt-b")


def test_oversized_answer_gets_an_error_reply_not_a_crash():
    data = make_config()
    data.cluster.tags = ["tag%05d" % i for i in range(8000)]  # > 61440 bytes of JSON

    class State(_State):
        pass
    state = State(data)
    datagram, rsalt = P.make_request(KEY, P.REQ_CONFIG_QUERY, "")
    reply = P.parse_reply(KEY, confd_server.handle_datagram(state, datagram), rsalt)
    assert reply["status"] == P.REPL_STATUS_ERROR and "too large" in reply["answer"]
