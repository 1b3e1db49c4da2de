"""A confd client: asks several master candidates and keeps the freshest answer.

The request goes to at most six randomly chosen candidates; replies are verified
(signature and salt) and the one with the highest serial wins.
"""

import random
import select
import socket
import time

from ganeti import constants
from ganeti import errors
from ganeti.confd import protocol as P

MAX_PEERS = 6


class ConfdReply:
    def __init__(self, status: int, answer, serial: int, peer: str, received: int,
                 expected: int):
        self.status = status
        self.answer = answer
        self.serial = serial
        self.peer = peer
        self.received = received
        self.expected = expected

    def __repr__(self):
        return "<ConfdReply status=%s serial=%s from %s>" % (self.status, self.serial,
                                                           self.peer)


class ConfdClient:
    def __init__(self, hmac_key: bytes, peers: list[str],
                 port: int = constants.DEFAULT_CONFD_PORT):
        if not peers:
            raise errors.ConfdClientError("No confd peers given")
        self._key = hmac_key
        self._peers = list(peers)
        self._port = port

    def query(self, req_type: int, query=None, timeout: float = 2.0,
              min_replies: int | None = None) -> ConfdReply:
        """Send one request; return the best reply (highest serial)."""
        if req_type not in P.CLIENT_REQUESTS:
            raise errors.ConfdClientError("Request type %r is not available" % (req_type,))
        peers = random.sample(self._peers, min(MAX_PEERS, len(self._peers)))
        wanted = len(peers) if min_replies is None else min(min_replies, len(peers))
        datagram, rsalt = P.make_request(self._key, req_type, query)
        sockets = []
        try:
            for peer in peers:
                family = socket.AF_INET6 if ":" in peer else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sock.sendto(datagram, (peer, self._port))
                sockets.append((sock, peer))
            replies = []
            deadline = time.monotonic() + timeout
            pending = {s: p for s, p in sockets}
            while pending and len(replies) < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                ready, _, _ = select.select(list(pending), [], [], remaining)
                for sock in ready:
                    peer = pending.pop(sock)
                    data = sock.recv(P.MAX_DATAGRAM)
                    try:
                        inner = P.parse_reply(self._key, data, rsalt)
                    except P.ConfdError:
                        continue
                    replies.append((inner, peer))
        finally:
            for sock, _peer in sockets:
                sock.close()
        if not replies:
            raise errors.ConfdClientError("No valid answer from %s within %.1f s"
                                          % (", ".join(peers), timeout))
        best, peer = max(replies, key=lambda item: item[0]["serial"])
        return ConfdReply(best["status"], best["answer"], best["serial"], peer,
                          len(replies), len(peers))


def from_ssconf() -> ConfdClient:
    """A client for this node's cluster: key from hmac.key, peers from ssconf."""
    from ganeti import pathutils
    from ganeti import ssconf
    with open(pathutils.CONFD_HMAC_KEY, "rb") as fh:
        key = fh.read()
    peers = ssconf.SimpleStore().lines(constants.SS_MASTER_CANDIDATES_IPS)
    return ConfdClient(key, peers)
