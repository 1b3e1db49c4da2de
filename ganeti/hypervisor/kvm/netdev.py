"""Tap devices of KVM instance NICs: created before qemu starts, removed after it stops.

Each NIC gets a tap named from a digest of the node's run directory, the instance and
the NIC index (so two virtual nodes on one host never collide), attached according to
its mode: bridged (to the bridge named by link), routed (a host route to its IP) or
openvswitch (a port of the switch named by link).
"""

import hashlib

from ganeti import constants
from ganeti import errors
from ganeti.utils import process

_TIMEOUT = 30


def tap_name(scope: str, instance: str, index: int) -> str:
    digest = hashlib.sha1(("%s/%s" % (scope, instance)).encode()).hexdigest()[:8]
    return "gt%sn%d" % (digest, index)  # at most 15 characters (IFNAMSIZ - 1)


def _ip(*args: str) -> process.RunResult:
    return process.run_cmd(["ip", *args], reset_env=True, timeout=_TIMEOUT)


def _check(result: process.RunResult, what: str) -> None:
    if result.failed:
        raise errors.HypervisorError("%s: %s" % (what, result.describe_failure()))


def create_tap(name: str, nic: dict, owner_uid: int | None = None) -> None:
    """Create tap ``name`` and connect it as the NIC's parameters say."""
    params = nic.get("nicparams") or {}
    mode = params.get(constants.NIC_MODE, constants.NIC_MODE_BRIDGED)
    link = params.get(constants.NIC_LINK, "")
    args = ["tuntap", "add", "dev", name, "mode", "tap"]
    if owner_uid is not None:
        args += ["user", str(owner_uid)]
    _check(_ip(*args), "Cannot create tap device %s" % name)
    try:
        if mode == constants.NIC_MODE_BRIDGED:
            if not link:
                raise errors.HypervisorError("NIC %s: bridged mode without a bridge"
                                             % nic.get("mac"))
            _check(_ip("link", "set", "dev", name, "master", link),
                   "Cannot add %s to bridge %s" % (name, link))
        elif mode == constants.NIC_MODE_OVS:
            result = process.run_cmd(["ovs-vsctl", "--may-exist", "add-port", link, name],
                                     reset_env=True, timeout=_TIMEOUT)
            _check(result, "Cannot add %s to the switch %s" % (name, link))
        _check(_ip("link", "set", "dev", name, "up"), "Cannot bring up %s" % name)
        if mode == constants.NIC_MODE_ROUTED and nic.get("ip"):
            table = ["table", link] if link else []
            _check(_ip("route", "replace", "%s/32" % nic["ip"], "dev", name, *table),
                   "Cannot route %s to %s" % (nic["ip"], name))
    except errors.HypervisorError:
        remove_tap(name)
        raise


def remove_tap(name: str) -> None:
    """Remove a tap (no error when it is already gone)."""
    _ip("link", "del", "dev", name)
