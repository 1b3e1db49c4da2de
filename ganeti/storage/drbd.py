"""DRBD 8.4 mirrored disks (the ``drbd`` template) through drbdsetup and drbdmeta.

A disk is two LVs (data and a 128 MiB meta) mirrored to a peer node over the
secondary network, authenticated by a per-disk shared secret (security S4) that never
reaches a log line or an error message.  State comes from /proc/drbd and from
``drbdsetup show`` (parsers in ``drbd_info``).
"""

import contextlib
import ipaddress
import logging
import re
import shlex
import time
from collections.abc import Callable, Iterable

from ganeti import constants
from ganeti import errors
from ganeti.storage import drbd_info
from ganeti.storage.base import BlockDevice
from ganeti.storage.blockdev import device_size_bytes
from ganeti.storage.lvm import LogicalVolume
from ganeti.utils import io
from ganeti.utils import process

PROC_DRBD = "/proc/drbd"
USERMODE_HELPER_FILE = "/sys/module/drbd/parameters/usermode_helper"
DRBD_TIMEOUT = 60.0
NET_CONFIG_TIMEOUT = 10.0  # s until "drbdsetup show" reflects a new network setup
NET_RECONFIG_TIMEOUT = 60.0  # s until a disconnect reaches StandAlone
META_MIN_BYTES = constants.DRBD_META_SIZE * 1024 * 1024
# LVM may round a 128 MiB meta LV up to its extent size times its stripes.
META_MAX_BYTES = 1024 * 1024 * 1024
REDACTED = "<redacted>"
_SECRET_RE = re.compile(r"^[A-Za-z0-9_+=./-]{1,64}$")

Runner = Callable[..., process.RunResult]


# ------------------------------------------------------------------ secrets in logs

def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def redact_cmd(cmd: list) -> list[str]:
    """The command with the value of ``--shared-secret`` hidden."""
    shown = []
    hide_next = False
    for arg in cmd:
        arg = str(arg)
        if hide_next:
            shown.append(REDACTED)
            hide_next = False
        elif arg == "--shared-secret":
            shown.append(arg)
            hide_next = True
        elif arg.startswith("--shared-secret="):
            shown.append("--shared-secret=" + REDACTED)
        else:
            shown.append(arg)
    return shown


class _SecretFilter(logging.Filter):
    """Rewrites any log record that would show one of the secrets."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        if any(secret in message for secret in self.secrets):
            record.msg = redact(message, self.secrets)
            record.args = None
        return True


@contextlib.contextmanager
def redacted_logging(secrets: list[str]):
    """While running a command that carries a secret, keep it out of every log line
    (``run_cmd`` itself logs failing commands with their arguments)."""
    flt = _SecretFilter(secrets)
    root = logging.getLogger()
    targets = [root, *root.handlers]
    for target in targets:
        target.addFilter(flt)
    try:
        yield
    finally:
        for target in targets:
            target.removeFilter(flt)


# ------------------------------------------------------------------------- commands

def dev_path(minor: int) -> str:
    return "/dev/drbd%d" % minor


def resource_name(minor: int) -> str:
    """DRBD 8.4 needs resources; each minor gets its own."""
    return "resource%d" % minor


def ld_params(params: dict | None) -> dict:
    merged = dict(constants.DISK_LD_DEFAULTS[constants.DT_DRBD8])
    merged.update(params or {})
    return merged


def barrier_args(disabled: str, no_meta_flush: bool) -> list[str]:
    if frozenset(disabled or constants.DRBD_B_NONE) not in constants.DRBD_VALID_BARRIER_OPT:
        raise errors.BlockDeviceError("%r is not a valid set of disabled DRBD barriers"
                                      % (disabled,))
    args = []
    if no_meta_flush:
        args.append("--md-flushes=no")
    if constants.DRBD_B_DISK_FLUSH in disabled:
        args.append("--disk-flushes=no")
    if constants.DRBD_B_DISK_DRAIN in disabled:
        args.append("--disk-drain=no")
    if constants.DRBD_B_DISK_BARRIERS in disabled:
        args.append("--disk-barrier=no")
    return args


def _custom(value) -> list[str]:
    try:
        return shlex.split(value or "")
    except ValueError as err:
        raise errors.BlockDeviceError("Invalid custom DRBD parameters %r: %s"
                                      % (value, err)) from None


def cmd_show(minor: int) -> list[str]:
    return ["drbdsetup", "show", str(minor)]


def cmd_init_meta(minor: int, meta_dev: str) -> list[str]:
    return ["drbdmeta", "--force", dev_path(minor), "v08", meta_dev, "flex-external",
            "create-md"]


def cmds_new_minor(minor: int) -> list[list[str]]:
    return [["drbdsetup", "new-resource", resource_name(minor)],
            ["drbdsetup", "new-minor", resource_name(minor), str(minor), "0"]]


def cmds_local_init(minor: int, data_dev: str, meta_dev: str, size_mb: int | None,
                    params: dict, new_resource: bool = True) -> list[list[str]]:
    cmds = cmds_new_minor(minor) if new_resource else []
    # The activity log must be replayed before attaching, or the attach fails after
    # an unclean shutdown.
    cmds.append(["drbdmeta", dev_path(minor), "v08", meta_dev, "flex-external",
                 "apply-al"])
    attach = ["drbdsetup", "attach", str(minor), data_dev, meta_dev, "flexible",
              "--on-io-error=detach"]
    if size_mb:
        attach += ["--size", "%dm" % size_mb]
    attach += barrier_args(params[constants.LDP_BARRIERS],
                           params[constants.LDP_NO_META_FLUSH])
    attach += _custom(params[constants.LDP_DISK_CUSTOM])
    cmds.append(attach)
    return cmds


def _addr(family: str, host: str, port: int) -> str:
    return "%s:%s:%d" % (family, "[%s]" % host if family == "ipv6" else host, port)


def cmd_connect(minor: int, family: str, lhost: str, lport: int, rhost: str, rport: int,
                protocol: str, dual_pri: bool, secret: str, params: dict) -> list[str]:
    cmd = ["drbdsetup", "connect", resource_name(minor), _addr(family, lhost, lport),
           _addr(family, rhost, rport), "--protocol", protocol,
           "--after-sb-0pri", "discard-zero-changes", "--after-sb-1pri", "consensus"]
    if dual_pri:
        cmd.append("--allow-two-primaries")
    if secret:
        cmd += ["--cram-hmac-alg", constants.DRBD_HMAC_ALG, "--shared-secret", secret]
    return cmd + _custom(params[constants.LDP_NET_CUSTOM])


def cmd_sync_params(minor: int, params: dict) -> list[str]:
    cmd = ["drbdsetup", "disk-options", str(minor)]
    if params[constants.LDP_DYNAMIC_RESYNC]:
        if int(params[constants.LDP_PLAN_AHEAD]) <= 0:
            raise errors.BlockDeviceError(
                "c-plan-ahead must be positive with dynamic-resync (0 disables DRBD's"
                " dynamic resync controller; set dynamic-resync to False instead)")
        for key in (constants.LDP_PLAN_AHEAD, constants.LDP_FILL_TARGET,
                    constants.LDP_DELAY_TARGET, constants.LDP_MAX_RATE,
                    constants.LDP_MIN_RATE):
            cmd += ["--" + key, "%d" % int(params[key])]
    else:
        # DRBD 8.4 enables its dynamic controller by default (c-plan-ahead 20), which
        # would ignore resync-rate: switch it off so that the rate applies.
        cmd += ["--c-plan-ahead", "0",
                "--resync-rate", "%d" % int(params[constants.LDP_RESYNC_RATE])]
    return cmd


def cmd_primary(minor: int, force: bool) -> list[str]:
    return ["drbdsetup", "primary", str(minor)] + (["--force"] if force else [])


def cmd_secondary(minor: int) -> list[str]:
    return ["drbdsetup", "secondary", str(minor)]


def cmd_disconnect(family: str, lhost: str, lport: int, rhost: str, rport: int):
    return ["drbdsetup", "disconnect", _addr(family, lhost, lport),
            _addr(family, rhost, rport)]


def cmd_down(minor: int) -> list[str]:
    return ["drbdsetup", "down", resource_name(minor)]


def cmd_resize(minor: int, size_mb: int) -> list[str]:
    return ["drbdsetup", "resize", str(minor), "--size", "%dm" % size_mb]


def cmd_pause_sync(minor: int, pause: bool) -> list[str]:
    return ["drbdsetup", "pause-sync" if pause else "resume-sync", str(minor)]


# -------------------------------------------------------------------- node helpers

def read_proc_drbd(path: str = PROC_DRBD) -> drbd_info.DrbdInfo:
    try:
        return drbd_info.parse_proc_drbd(io.read_file(path))
    except FileNotFoundError:
        raise errors.BlockDeviceError("DRBD is not loaded on this node (no %s)"
                                      % path) from None
    except OSError as err:
        raise errors.BlockDeviceError("Cannot read %s: %s" % (path, err.strerror)) from None


def drbd_helper(path: str = USERMODE_HELPER_FILE) -> str:
    """The ``drbd_helper`` procedure: the kernel module's usermode helper."""
    try:
        helper = io.read_file(path).strip()
    except OSError as err:
        raise errors.BlockDeviceError("Cannot read the DRBD usermode helper from %s: %s"
                                      % (path, err.strerror)) from None
    if not helper:
        raise errors.BlockDeviceError("The DRBD usermode helper in %s is empty" % path)
    return helper


def allocate_minor(node: str, pairing_text: str, proc_path: str = PROC_DRBD) -> int:
    """A minor free on ``node`` both in the configuration's pairing and the kernel."""
    pairing = drbd_info.parse_minor_pairing(pairing_text)
    used = {entry.minor for entry in pairing if entry.node == node}
    return drbd_info.find_free_minor(used, read_proc_drbd(proc_path),
                                     constants.DRBD_MAX_MINORS)


def create_children(data_id, meta_id, size: int, params: dict | None, excl_stor: bool,
                    runner: Runner | None = None) -> list[LogicalVolume]:
    """The data LV (``size`` MiB) and the 128 MiB meta LV of a DRBD disk; the data LV
    is removed again when the meta LV cannot be created."""
    params = ld_params(params)
    data = LogicalVolume.create(data_id, [], size, None, {}, excl_stor, {}, runner=runner)
    try:
        meta = LogicalVolume.create(meta_id, [], constants.DRBD_META_SIZE, None, {},
                                    excl_stor, {}, runner=runner)
    except errors.BlockDeviceError:
        data.remove()
        raise
    return [data, meta]


def wait_sync_status(devices: Iterable["DRBD8Dev"]) -> tuple[bool, float]:
    """(all done, lowest sync percentage) for the ``drbd_wait_sync`` procedure."""
    alldone, min_resync = True, 100.0
    for dev in devices:
        status = dev.get_sync_status()
        if status["sync_percent"] is not None:
            alldone = False
            min_resync = min(min_resync, status["sync_percent"])
    return alldone, min_resync


# --------------------------------------------------------------------- the device

def _parse_id(unique_id) -> tuple[int, str]:
    if not isinstance(unique_id, (list, tuple)) or len(unique_id) != 6:
        raise errors.BlockDeviceError("Invalid DRBD disk id (expected 6 elements)")
    port, secret = unique_id[2], unique_id[5]
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise errors.BlockDeviceError("Invalid DRBD port %r" % (port,))
    for minor in (unique_id[3], unique_id[4]):
        if not isinstance(minor, int) or isinstance(minor, bool) or \
                not 0 <= minor <= constants.DRBD_MAX_MINORS:
            raise errors.BlockDeviceError("Invalid DRBD minor %r" % (minor,))
    if not isinstance(secret, str) or (secret and not _SECRET_RE.match(secret)):
        # Never echo the value: it is the secret, or close to it.
        raise errors.BlockDeviceError("Invalid DRBD shared secret (1-64 characters of"
                                      " [A-Za-z0-9_+=./-] expected)")
    return port, secret


def _ip(value, what: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise errors.BlockDeviceError("Invalid DRBD %s address %r" % (what, value)) from None


class DRBD8Dev(BlockDevice):
    """One DRBD 8.4 minor; unique_id is [node_a, node_b, port, minor_a, minor_b,
    secret], the local side comes from dyn_params (local-ip, remote-ip, local-minor,
    remote-minor) and children are [data LV, meta LV] (empty: diskless)."""

    def __init__(self, unique_id, children, size, params, dyn_params, *,
                 runner: Runner | None = None, proc_path: str = PROC_DRBD,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(unique_id, children or [], size, params, dyn_params)
        self.params = ld_params(params)
        self._port, self._secret = _parse_id(unique_id)
        minor = self.dyn_params.get(constants.DDP_LOCAL_MINOR)
        if not isinstance(minor, int) or isinstance(minor, bool) or \
                not 0 <= minor <= constants.DRBD_MAX_MINORS:
            raise errors.BlockDeviceError("DRBD disk without a valid local minor (%s)"
                                          % constants.DDP_LOCAL_MINOR)
        self._aminor = minor
        self._lhost = _ip(self.dyn_params.get(constants.DDP_LOCAL_IP), "local")
        self._rhost = _ip(self.dyn_params.get(constants.DDP_REMOTE_IP), "remote")
        if (self._lhost is None) != (self._rhost is None):
            raise errors.BlockDeviceError("drbd%d: only one of the local and remote"
                                          " addresses is given" % minor)
        if self._lhost is not None:
            if ipaddress.ip_address(self._lhost).version != \
                    ipaddress.ip_address(self._rhost).version:
                raise errors.BlockDeviceError("drbd%d: local and remote addresses are of"
                                              " different families" % minor)
            if self._lhost == self._rhost:
                raise errors.BlockDeviceError("drbd%d: local and remote address are the"
                                              " same (%s)" % (minor, self._lhost))
        if len(self.children) not in (0, 2) or any(c is None for c in self.children):
            raise errors.BlockDeviceError("drbd%d: needs a data and a meta device, or none"
                                          % minor)
        self.runner = runner
        self.proc_path = proc_path
        self._sleep, self._clock = sleep, clock
        self.minor: int | None = None
        self.dev_path = dev_path(minor)

    def __repr__(self) -> str:
        # Deliberately not the unique_id: it carries the shared secret.
        return "<DRBD8Dev drbd%d %s:%d -> %s:%d>" % (self._aminor, self._lhost, self._port,
                                                     self._rhost, self._port)

    @property
    def has_network(self) -> bool:
        return self._lhost is not None

    @property
    def _family(self) -> str:
        return "ipv6" if ipaddress.ip_address(self._lhost).version == 6 else "ipv4"

    # -------------------------------------------------------------- plumbing
    def _run(self, cmd: list[str], timeout: float = DRBD_TIMEOUT) -> process.RunResult:
        secrets = [self._secret] if self._secret else []
        logging.debug("drbd%d: running %s", self._aminor, " ".join(redact_cmd(cmd)))
        with redacted_logging(secrets):
            return (self.runner or process.run_cmd)(cmd, env={"LC_ALL": "C"},
                                                    reset_env=True, timeout=timeout)

    def _error(self, what: str, result: process.RunResult) -> errors.BlockDeviceError:
        output = redact(result.output.strip(), [self._secret])[-1500:]
        return errors.BlockDeviceError("drbd%d: %s: %s %s%s" % (
            self._aminor, what, " ".join(redact_cmd(result.cmd)), result.fail_reason,
            (": " + output) if output else ""))

    def _check(self, cmd: list[str], what: str) -> process.RunResult:
        result = self._run(cmd)
        if result.failed:
            raise self._error(what, result)
        return result

    def _status(self) -> drbd_info.MinorStatus | None:
        return read_proc_drbd(self.proc_path).minors.get(self._aminor)

    def show(self) -> drbd_info.DrbdShowInfo:
        """This minor's current configuration (empty when it has none)."""
        result = self._run(cmd_show(self._aminor))
        if result.failed:
            return drbd_info.DrbdShowInfo()
        return drbd_info.parse_drbdsetup_show(result.stdout)

    def _require_attached(self, what: str) -> int:
        if self.minor is None and not self.attach():
            raise errors.BlockDeviceError("drbd%d: %s while the device is not active"
                                          % (self._aminor, what))
        return self._aminor

    # ------------------------------------------------------ configuration checks
    def _matches_local(self, info: drbd_info.DrbdShowInfo) -> bool:
        if not self.children:
            return not info.has_local_disk
        return (info.local_dev == self.children[0].dev_path
                and info.meta_dev == self.children[1].dev_path)

    def _matches_net(self, info: drbd_info.DrbdShowInfo) -> bool:
        if not self.has_network:
            return not info.has_network
        return (info.local_addr == (self._lhost, self._port)
                and info.remote_addr == (self._rhost, self._port))

    def verify_config(self, info: drbd_info.DrbdShowInfo | None = None) -> list[str]:
        """Differences between the running configuration and this disk's (empty: none)."""
        info = info if info is not None else self.show()
        problems = []
        if not self._matches_local(info):
            problems.append("local disk is %s/%s, expected %s" % (
                info.local_dev, info.meta_dev,
                "/".join(c.dev_path for c in self.children) or "diskless"))
        if not self._matches_net(info):
            problems.append("network is %s -> %s, expected %s" % (
                info.local_addr, info.remote_addr,
                "(%s, %d) -> (%s, %d)" % (self._lhost, self._port, self._rhost, self._port)
                if self.has_network else "standalone"))
        if self.has_network and info.has_network:
            if (info.shared_secret or "") != self._secret:
                problems.append("shared secret differs")
            wanted = self.params[constants.LDP_PROTOCOL]
            if (info.protocol or constants.DRBD_DEFAULT_NET_PROTOCOL) != wanted:
                problems.append("protocol is %s, expected %s" % (info.protocol, wanted))
        rate = info.resync_rate
        if (self.children and rate is not None and not self.params[
                constants.LDP_DYNAMIC_RESYNC]
                and rate != int(self.params[constants.LDP_RESYNC_RATE])):
            problems.append("resync rate is %d KiB/s, expected %d" % (
                rate, int(self.params[constants.LDP_RESYNC_RATE])))
        return problems

    # ------------------------------------------------------------ create/remove
    @classmethod
    def create(cls, unique_id, children, size, spindles, params, excl_stor, dyn_params,
               **kwargs) -> "DRBD8Dev":
        """Initialise the metadata on the (existing) meta LV; the minor must be free."""
        if excl_stor:
            raise errors.BlockDeviceError("DRBD disks do not support exclusive storage")
        if not children or len(children) != 2:
            raise errors.BlockDeviceError("A DRBD disk needs its data and meta LVs")
        dev = cls(unique_id, children, size, params, dyn_params, **kwargs)
        status = dev._status()
        if status is not None and status.is_in_use:
            raise errors.BlockDeviceError("drbd%d: minor is already in use (%s)"
                                          % (dev._aminor, status.cstatus))
        meta = children[1]
        meta.assemble()
        if not meta.attach():
            raise errors.BlockDeviceError("drbd%d: meta device %s not found"
                                          % (dev._aminor, meta.dev_path))
        meta_bytes = device_size_bytes(meta.dev_path, dev.runner)
        if not META_MIN_BYTES <= meta_bytes <= META_MAX_BYTES:
            raise errors.BlockDeviceError("drbd%d: meta device %s has %.2f MiB, expected"
                                          " %d MiB to 1 GiB" % (
                                              dev._aminor, meta.dev_path,
                                              meta_bytes / 1048576.0,
                                              constants.DRBD_META_SIZE))
        dev._check(cmd_init_meta(dev._aminor, meta.dev_path),
                   "cannot initialise the meta device")
        return dev

    def remove(self) -> None:
        """Stop the minor; the LVs below are removed on their own."""
        self.shutdown()

    def attach(self) -> bool:
        """True when our minor is configured in the kernel (whatever its state)."""
        status = self._status()
        self.attached = status is not None and status.is_in_use
        self.minor = self._aminor if self.attached else None
        return self.attached

    def shutdown(self) -> None:
        if not self.attach():
            logging.info("drbd%d: not active, nothing to shut down", self._aminor)
            return
        self._check(cmd_down(self._aminor), "cannot shut down")
        self.minor = None
        self.attached = False

    # ----------------------------------------------------------------- assembly
    def assemble(self) -> None:
        """Configure the minor (local disk, then network), repairing a partial setup."""
        if not self.attach():
            self._assemble_local(new_resource=True)
            try:
                self._assemble_net()
            except errors.BlockDeviceError:
                # A fresh minor that cannot reach its peer is taken down again.
                self._run(cmd_down(self._aminor))
                raise
        else:
            self._repair(self.show())
        self.minor = self._aminor
        self.attached = True
        if self.children:
            self.set_sync_params()
        problems = self.verify_config()
        if problems:
            raise errors.BlockDeviceError("drbd%d: configuration does not match after"
                                          " assembly: %s" % (self._aminor,
                                                             "; ".join(problems)))

    def _repair(self, info: drbd_info.DrbdShowInfo) -> None:
        local_ok, net_ok = self._matches_local(info), self._matches_net(info)
        if local_ok and net_ok:
            return
        if not local_ok:
            if info.has_local_disk or not self.children:
                raise errors.BlockDeviceError(
                    "drbd%d: minor is in use with other local devices (%s/%s)"
                    % (self._aminor, info.local_dev, info.meta_dev))
            self._assemble_local(new_resource=False)
        if not net_ok:
            if info.has_network:
                # Our storage, wrong peer: we own this minor, so reconnect it.
                self._check(cmd_disconnect(info.family, info.local_addr[0],
                                           info.local_addr[1], info.remote_addr[0],
                                           info.remote_addr[1]),
                            "cannot disconnect from the wrong peer")
            self._assemble_net()

    def _assemble_local(self, new_resource: bool) -> None:
        if not self.children:
            if new_resource:
                for cmd in cmds_new_minor(self._aminor):
                    self._check(cmd, "cannot create the device")
            return
        data, meta = self.children
        cmds = cmds_local_init(self._aminor, data.dev_path, meta.dev_path, self.size,
                               self.params, new_resource)
        for cmd in cmds:
            result = self._run(cmd)
            if result.failed:
                if new_resource:
                    # Leave nothing half-configured behind.
                    self._run(cmd_down(self._aminor))
                raise self._error("cannot attach the local disk", result)

    def _assemble_net(self, dual_pri: bool = False) -> None:
        if not self.has_network:
            return
        if not self._secret:
            raise errors.BlockDeviceError("drbd%d: refusing to connect without a shared"
                                          " secret" % self._aminor)
        protocol = constants.DRBD_MIGRATION_NET_PROTOCOL if dual_pri else \
            self.params[constants.LDP_PROTOCOL]
        if protocol not in ("A", "B", "C"):
            raise errors.BlockDeviceError("drbd%d: invalid protocol %r"
                                          % (self._aminor, protocol))
        if self.children:
            # Set the rate before connecting: the peers exchange it while connecting.
            self.set_sync_params()
        self._check(cmd_connect(self._aminor, self._family, self._lhost, self._port,
                                self._rhost, self._port, protocol, dual_pri, self._secret,
                                self.params), "cannot set up the network")
        deadline = self._clock() + NET_CONFIG_TIMEOUT
        while not self._matches_net(self.show()):
            if self._clock() >= deadline:
                raise errors.BlockDeviceError("drbd%d: timeout while configuring the"
                                              " network" % self._aminor)
            self._sleep(1.0)

    def set_sync_params(self, params: dict | None = None) -> None:
        if params is not None:
            self.params = ld_params(params)
        self._check(cmd_sync_params(self._aminor, self.params),
                    "cannot set the synchronisation parameters")

    def pause_resume_sync(self, pause: bool) -> bool:
        self._require_attached("pausing/resuming the resync")
        return not self._run(cmd_pause_sync(self._aminor, pause)).failed

    # ------------------------------------------------------------------- roles
    def open(self, force: bool = False, exclusive: bool = True) -> None:
        """Become primary (``force`` overrides an inconsistent local disk)."""
        self._require_attached("switching to primary")
        self._check(cmd_primary(self._aminor, force), "cannot switch to primary")

    def close(self) -> None:
        self._require_attached("switching to secondary")
        self._check(cmd_secondary(self._aminor), "cannot switch to secondary")

    # ------------------------------------------------------------ network moves
    def disconnect_net(self) -> None:
        """Go StandAlone (before a secondary change or a migration)."""
        self._require_attached("disconnecting the network")
        if not self.has_network:
            raise errors.BlockDeviceError("drbd%d: no network information to disconnect"
                                          % self._aminor)
        cmd = cmd_disconnect(self._family, self._lhost, self._port, self._rhost,
                             self._port)
        result = self._run(cmd)
        deadline = self._clock() + NET_RECONFIG_TIMEOUT
        while True:
            status = self._status()
            if status is not None and status.is_standalone:
                return
            if self._clock() >= deadline:
                break
            if result.failed:
                result = self._run(cmd)
            self._sleep(1.0)
        if result.failed:
            raise self._error("cannot disconnect", result)
        raise errors.BlockDeviceError("drbd%d: still %s after disconnecting" % (
            self._aminor, status.cstatus if status else "unconfigured"))

    def attach_net(self, multimaster: bool) -> None:
        """Reconnect a StandAlone device; ``multimaster`` allows two primaries."""
        self._require_attached("attaching the network")
        if not self.has_network:
            raise errors.BlockDeviceError("drbd%d: no network information to attach"
                                          % self._aminor)
        status = self._status()
        if status is None or not status.is_standalone:
            raise errors.BlockDeviceError("drbd%d: not StandAlone (%s), cannot attach the"
                                          " network" % (self._aminor,
                                                        status.cstatus if status else "?"))
        self._assemble_net(dual_pri=multimaster)

    # ----------------------------------------------------------------- status
    def get_sync_status(self) -> dict:
        self._require_attached("reading the sync status")
        status = self._status()
        if status is None:
            raise errors.BlockDeviceError("drbd%d: vanished from %s"
                                          % (self._aminor, self.proc_path))
        if status.is_disk_uptodate:
            ldisk = constants.LDS_OKAY
        elif status.is_diskless or status.ldisk in ("Failed", "Outdated"):
            ldisk = constants.LDS_FAULTY
        else:
            ldisk = constants.LDS_UNKNOWN
        return {"dev_path": self.dev_path, "major": 147, "minor": self._aminor,
                "sync_percent": status.sync_percent, "estimated_time": status.est_time,
                "is_degraded": not status.is_connected or not status.is_disk_uptodate,
                "ldisk_status": ldisk}

    def needs_activation(self) -> bool:
        """Not configured, diskless while it should have a disk, or StandAlone."""
        if not self.attach():
            return True
        status = self._status()
        return status is None or (bool(self.children) and status.is_diskless) or \
            (self.has_network and status.is_standalone)

    # ------------------------------------------------------------- size/rename
    def grow(self, amount, dryrun, backingstore, excl_stor) -> None:
        """First call (backingstore) grows the data LV, the second resizes DRBD."""
        if len(self.children) != 2:
            raise errors.BlockDeviceError("drbd%d: cannot grow a diskless device"
                                          % self._aminor)
        self.children[0].grow(amount, dryrun, backingstore, excl_stor)
        if dryrun or backingstore:
            return
        self._require_attached("growing")
        self._check(cmd_resize(self._aminor, self.size + amount), "cannot resize")
        self.size += amount

    def get_actual_size(self) -> int:
        self._require_attached("reading the size")
        return device_size_bytes(self.dev_path, self.runner)

    def rename(self, new_id) -> None:
        """DRBD keeps no name on disk: an inactive device just takes the new id."""
        if self.attach():
            raise errors.BlockDeviceError("drbd%d: cannot change the id of an active"
                                          " device" % self._aminor)
        self._port, self._secret = _parse_id(new_id)
        self.unique_id = new_id
