"""Host name and address helpers (resolution goes through the system resolver)."""

import ipaddress
import socket

from ganeti import errors
from ganeti import pathutils


def hostname() -> str:
    """This node's name: GANETI_HOSTNAME on a virtual node, else the FQDN."""
    if pathutils.VIRTUAL_HOSTNAME:
        return pathutils.VIRTUAL_HOSTNAME
    return socket.getfqdn()


def _virtual_cluster_hosts() -> dict:
    """Names of the virtual cluster's own hosts file (``<cluster dir>/hosts``)."""
    import os
    if not pathutils.is_virtual():
        return {}
    path = os.path.join(os.path.dirname(pathutils.ROOTDIR), "hosts")
    result = {}
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split("#", 1)[0].split()
                for alias in parts[1:]:
                    result.setdefault(alias, parts[0])
    except OSError:
        pass
    return result


def resolve(name: str, family: int = socket.AF_INET) -> str:
    """Resolve a name to one address; raise ResolverError naming it.

    A virtual node looks in its cluster's hosts file first, then asks the system.
    """
    address = _virtual_cluster_hosts().get(name)
    if address:
        return address
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise errors.ResolverError("Cannot resolve host name '%s': %s" % (name, err),
                                   errors.ECODE_RESOLVER) from None
    return infos[0][4][0]


def is_valid_ip4(address: str) -> bool:
    try:
        ipaddress.IPv4Address(address)
        return True
    except (ValueError, TypeError):
        return False


def is_valid_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except (ValueError, TypeError):
        return False


def tcp_ping(address: str, port: int, timeout: float = 2.0) -> bool:
    """True when something accepts TCP connections at address:port."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_local_address(address: str) -> bool:
    """True when this host owns ``address`` (binding to it succeeds)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        sock.close()
