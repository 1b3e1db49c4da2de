"""The confd wire format, without I/O: signed datagrams, requests and replies.

A datagram is the magic ``plj0`` followed by a JSON object ``{"msg", "salt", "hmac"}``;
the HMAC-SHA1 key is the full content of hmac.key (newline included) and covers
``salt + msg``.  Requests are salted with the sender's clock; replies with the
request's ``rsalt``.
"""

import time
import uuid

from ganeti import crypto
from ganeti import errors
from ganeti import serializer

MAGIC = b"plj0"
PROTOCOL_VERSION = 1
MAX_DATAGRAM = 61440
MAX_REQUEST_READ = 4096
MAX_CLOCK_SKEW = 2 * 150  # seconds: twice the allowed node clock skew

REQ_PING = 0
REQ_NODE_ROLE_BYNAME = 1
REQ_NODE_PIP_BY_INSTANCE_IP = 2
REQ_CLUSTER_MASTER = 3
REQ_NODE_PIP_LIST = 4
REQ_MC_PIP_LIST = 5
REQ_INSTANCES_IPS_LIST = 6
REQ_NODE_DRBD = 7
REQ_NODE_INSTANCES = 8
REQ_INSTANCE_DISKS = 9
REQ_CONFIG_QUERY = 10
REQ_DATA_COLLECTORS = 11
REQUESTS = frozenset(range(12))
# What the client library lets a caller ask (type 8 is served but not offered).
CLIENT_REQUESTS = REQUESTS - {REQ_NODE_INSTANCES}

REPL_STATUS_OK = 0
REPL_STATUS_ERROR = 1
REPL_STATUS_NOTIMPLEMENTED = 2

ERROR_UNKNOWN_ENTRY = 0
ERROR_INTERNAL = 1
ERROR_ARGUMENT = 2

NODE_ROLE_MASTER = 0
NODE_ROLE_CANDIDATE = 1
NODE_ROLE_OFFLINE = 2
NODE_ROLE_DRAINED = 3
NODE_ROLE_REGULAR = 4

REQQ_LINK = "0"
REQQ_IP = "1"
REQQ_IPLIST = "2"
REQQ_FIELDS = "3"

REQFIELD_NAME = "0"
REQFIELD_IP = "1"
REQFIELD_MNODE_PIP = "2"


class ConfdError(errors.GenericError):
    """A datagram is not a valid confd message (it is dropped)."""


def sign(key: bytes, msg: str, salt: str) -> bytes:
    """One datagram: magic + JSON of the signed message."""
    envelope = {"msg": msg, "salt": salt, "hmac": crypto.sha1_hmac(key, msg, salt)}
    data = MAGIC + serializer.dump_json(envelope).encode("utf-8")
    if len(data) > MAX_DATAGRAM:
        raise errors.UdpDataSizeError("Confd message of %d bytes is too large" % len(data))
    return data


def unsign(key: bytes, data: bytes) -> tuple[str, str]:
    """(msg, salt) of a datagram whose signature is valid, else ConfdError."""
    if not data.startswith(MAGIC):
        raise ConfdError("missing magic")
    try:
        envelope = serializer.load_json(data[len(MAGIC):])
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfdError("not JSON: %s" % err) from None
    if not isinstance(envelope, dict):
        raise ConfdError("not a signed message")
    msg, salt, digest = envelope.get("msg"), envelope.get("salt"), envelope.get("hmac")
    if not all(isinstance(v, str) for v in (msg, salt, digest)):
        raise ConfdError("signed message lacks msg, salt or hmac")
    if not crypto.verify_sha1_hmac(key, msg, digest.lower(), salt):
        raise ConfdError("invalid signature")
    return msg, salt


def make_request(key: bytes, req_type: int, query=None, now: float | None = None,
                 rsalt: str | None = None) -> tuple[bytes, str]:
    """(datagram, rsalt) of a request."""
    if req_type not in REQUESTS:
        raise errors.ConfdClientError("Invalid request type %r" % (req_type,))
    rsalt = rsalt or str(uuid.uuid4())
    inner = {"protocol": PROTOCOL_VERSION, "type": req_type, "query": query,
             "rsalt": rsalt}
    salt = "%d" % int(time.time() if now is None else now)
    return sign(key, serializer.dump_json(inner), salt), rsalt


def parse_request(key: bytes, data: bytes, now: float | None = None) -> dict:
    """Validate a request: signature, timestamp window, fields.  ConfdError if bad."""
    msg, salt = unsign(key, data)
    try:
        stamp = int(salt)
    except ValueError:
        raise ConfdError("salt is not a timestamp") from None
    now = time.time() if now is None else now
    if abs(now - stamp) > MAX_CLOCK_SKEW:
        raise ConfdError("stale request (timestamp %d, clock %d)" % (stamp, now))
    try:
        inner = serializer.load_json(msg)
    except ValueError as err:
        raise ConfdError("inner message not JSON: %s" % err) from None
    if not isinstance(inner, dict):
        raise ConfdError("inner message is not an object")
    if inner.get("protocol") != PROTOCOL_VERSION:
        raise ConfdError("unsupported protocol %r" % (inner.get("protocol"),))
    req_type = inner.get("type")
    if not isinstance(req_type, int) or isinstance(req_type, bool):
        raise ConfdError("request type is not a number")
    rsalt = inner.get("rsalt")
    if not isinstance(rsalt, str) or not rsalt:
        raise ConfdError("request lacks rsalt")
    return {"type": req_type, "query": inner.get("query"), "rsalt": rsalt}


def make_reply(key: bytes, rsalt: str, status: int, answer, serial: int) -> bytes:
    inner = {"protocol": PROTOCOL_VERSION, "status": status, "answer": answer,
             "serial": serial}
    return sign(key, serializer.dump_json(inner), rsalt)


def parse_reply(key: bytes, data: bytes, expected_rsalt: str | None = None) -> dict:
    msg, salt = unsign(key, data)
    if expected_rsalt is not None and not crypto.constant_time_equal(salt, expected_rsalt):
        raise ConfdError("reply salt does not match the request")
    try:
        inner = serializer.load_json(msg)
    except ValueError as err:
        raise ConfdError("reply not JSON: %s" % err) from None
    if not isinstance(inner, dict) or inner.get("protocol") != PROTOCOL_VERSION:
        raise ConfdError("invalid reply")
    for key_name in ("status", "answer", "serial"):
        if key_name not in inner:
            raise ConfdError("reply lacks %s" % key_name)
    inner["salt"] = salt
    return inner
