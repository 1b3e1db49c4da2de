"""ExtStorage providers (the ``ext`` template): volumes managed by external scripts.

A provider is a directory of the ES search path with the scripts create, attach,
detach, remove, grow, setinfo, verify (open, close, snapshot optional) and a
parameters.list.  Each action runs its script directly, in a reset environment of
VOL_* and EXTP_* variables, logging to a file of its own (except attach, whose stdout
is the device path and the ``<hypervisor>:<uri>`` access lines).
"""

import logging
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti.storage.base import BlockDevice
from ganeti.storage.blockdev import DEV_ROOT, check_device_path, device_size_bytes
from ganeti.utils import process

LOG_TAIL_LINES = 20
_LONG = 3600.0
_SHORT = 600.0
ACTION_TIMEOUTS = {
    constants.ES_ACTION_CREATE: _LONG, constants.ES_ACTION_REMOVE: _LONG,
    constants.ES_ACTION_GROW: _LONG, constants.ES_ACTION_SNAPSHOT: _LONG,
}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
_PARAM_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_URI_LINE_RE = re.compile(r"^([A-Za-z0-9_-]+):(.+)$")

Runner = Callable[..., process.RunResult]


def es_log_dir() -> str:
    return os.path.join(pathutils.LOG_DIR, "extstorage")


def _check_name(value, what: str) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value) or value.startswith("."):
        raise errors.BlockDeviceError("Invalid ExtStorage %s %r" % (what, value))
    return value


# ------------------------------------------------------------------------ providers

@dataclass
class ExtStorageProvider:
    """One provider as found on disk; ``status`` False means unusable (see diagnose)."""

    name: str
    path: str
    status: bool
    diagnose: str = ""
    parameters: list[tuple[str, str]] = field(default_factory=list)
    optional: set[str] = field(default_factory=set)

    def script(self, action: str) -> str:
        return os.path.join(self.path, action)

    def supports(self, action: str) -> bool:
        return action in constants.ES_SCRIPTS_REQUIRED or action in self.optional

    def to_payload(self) -> list:
        return [self.name, self.path, self.status, self.diagnose,
                [[name, doc] for name, doc in self.parameters]]


class _Invalid(Exception):
    """Internal: a provider check failed; the message is the diagnose text."""


def _check_script(path: str) -> None:
    name = os.path.basename(path)
    try:
        st = os.stat(path)
    except OSError as err:
        raise _Invalid("script '%s': %s" % (name, err.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise _Invalid("'%s' is not a regular file" % name)
    if not st.st_mode & stat.S_IXUSR:
        raise _Invalid("'%s' is not executable" % name)
    # Scripts run as root: only from files others cannot rewrite.
    from ganeti.backend import restricted
    problem = restricted.script_file_problem(path)
    if problem:
        raise _Invalid("script refused: %s" % problem)


def _read_parameters(path: str) -> list[tuple[str, str]]:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise _Invalid("'%s' is not a regular file" % constants.ES_PARAMETERS_FILE)
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as err:
        raise _Invalid("cannot read '%s': %s" % (constants.ES_PARAMETERS_FILE,
                                                 getattr(err, "strerror", err))) from None
    params = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        if not _PARAM_RE.match(parts[0]):
            raise _Invalid("invalid parameter name %r in '%s'"
                           % (parts[0], constants.ES_PARAMETERS_FILE))
        params.append((parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return params


def check_provider(name: str, path: str) -> ExtStorageProvider:
    """Check one provider directory (node-interfaces §2)."""
    info = ExtStorageProvider(name=name, path=path, status=False)
    try:
        if not os.path.isdir(path):
            raise _Invalid("'%s' is not a directory" % path)
        from ganeti.backend import restricted
        problem = restricted.script_dir_problem(path) or restricted.script_dir_problem(
            os.path.dirname(os.path.normpath(path)))
        if problem:
            raise _Invalid("directory refused: %s" % problem)
        for action in constants.ES_SCRIPTS_REQUIRED:
            _check_script(os.path.join(path, action))
        for action in constants.ES_SCRIPTS_OPTIONAL:
            if os.path.lexists(os.path.join(path, action)):
                _check_script(os.path.join(path, action))
                info.optional.add(action)
        info.parameters = _read_parameters(os.path.join(path, constants.ES_PARAMETERS_FILE))
    except _Invalid as err:
        info.diagnose = str(err)
        info.optional = set()
        return info
    info.status = True
    return info


def _search_path(search_path: list[str] | None) -> list[str]:
    return list(pathutils.ES_SEARCH_PATH if search_path is None else search_path)


def diagnose(search_path: list[str] | None = None) -> list[ExtStorageProvider]:
    """Every provider of the search path (first directory wins), sorted by name."""
    found: dict[str, ExtStorageProvider] = {}
    for base in _search_path(search_path):
        try:
            entries = sorted(os.listdir(base))
        except FileNotFoundError:
            continue
        except OSError as err:
            logging.warning("Cannot list ExtStorage directory %s: %s", base, err.strerror)
            continue
        for entry in entries:
            if entry.startswith(".") or entry in found:
                continue
            found[entry] = check_provider(entry, os.path.join(base, entry))
    return [found[name] for name in sorted(found)]


def extstorage_diagnose_payload(search_path: list[str] | None = None) -> list:
    """The ``extstorage_diagnose`` procedure: [name, path, status, diagnose, params]."""
    return [provider.to_payload() for provider in diagnose(search_path)]


def find_provider(name: str, search_path: list[str] | None = None) -> ExtStorageProvider:
    """The valid provider ``name`` or BlockDeviceError saying why not."""
    _check_name(name, "provider name")
    paths = _search_path(search_path)
    for base in paths:
        candidate = os.path.join(base, name)
        if os.path.isdir(candidate):
            info = check_provider(name, candidate)
            if not info.status:
                raise errors.BlockDeviceError("Invalid ExtStorage provider %s: %s"
                                              % (name, info.diagnose))
            return info
    raise errors.BlockDeviceError("ExtStorage provider %s not found in %s"
                                  % (name, ", ".join(paths) or "an empty search path"))


def validate_ext_params(provider: ExtStorageProvider, params: dict) -> None:
    """Refuse ext parameters the provider does not declare in parameters.list."""
    known = {name for name, _doc in provider.parameters}
    unknown = sorted(set(params) - known - {constants.LDP_ACCESS})
    if unknown:
        raise errors.BlockDeviceError("ExtStorage provider %s does not support the"
                                      " parameter(s) %s" % (provider.name,
                                                            ", ".join(unknown)))


# ------------------------------------------------------------------ environment

def build_env(vol_name: str, params: dict, size: int | None = None,
              new_size: int | None = None, metadata: str | None = None,
              name: str | None = None, uuid: str | None = None,
              snap_name: str | None = None, snap_size: int | None = None,
              exclusive: bool | None = None) -> dict[str, str]:
    """The script environment (besides PATH); ``access`` is ours, not the provider's."""
    env = {"VOL_NAME": vol_name}
    for pname, pvalue in sorted((params or {}).items()):
        if pname == constants.LDP_ACCESS:
            continue
        if not isinstance(pname, str) or not _PARAM_RE.match(pname):
            raise errors.BlockDeviceError("Invalid ExtStorage parameter name %r" % (pname,))
        env["EXTP_" + pname.upper().replace("-", "_")] = "" if pvalue is None else str(pvalue)
    optional = {"VOL_SIZE": size, "VOL_NEW_SIZE": new_size, "VOL_METADATA": metadata,
                "VOL_CNAME": name, "VOL_UUID": uuid, "VOL_SNAPSHOT_NAME": snap_name,
                "VOL_SNAPSHOT_SIZE": snap_size}
    for key, value in optional.items():
        if value is not None:
            env[key] = str(value)
    if exclusive is not None:
        env["VOL_OPEN_EXCLUSIVE"] = "True" if exclusive else "False"
    return env


def parse_attach_output(text: str, provider: str = "?") -> tuple[str | None, dict]:
    """attach's stdout → (device path or None for userspace only, {hypervisor: uri})."""
    lines = text.splitlines()
    if not lines:
        raise errors.BlockDeviceError("ExtStorage provider %s: attach printed nothing"
                                      " (expected the device path on line 1)" % provider)
    dev_path = lines[0].strip() or None
    if dev_path is not None and not os.path.isabs(dev_path):
        raise errors.BlockDeviceError("ExtStorage provider %s: attach returned %r, not an"
                                      " absolute device path" % (provider, dev_path[:200]))
    uris = {}
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        match = _URI_LINE_RE.match(line)
        if not match:
            raise errors.BlockDeviceError("ExtStorage provider %s: invalid access line %r"
                                          " (expected <hypervisor>:<uri>)"
                                          % (provider, line[:200]))
        uris[match.group(1)] = match.group(2)
    if dev_path is None and not uris:
        raise errors.BlockDeviceError("ExtStorage provider %s: attach returned neither a"
                                      " device nor an access URI" % provider)
    return dev_path, uris


def _tail(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "\n".join(fh.read().splitlines()[-LOG_TAIL_LINES:])
    except OSError:
        return ""


# ---------------------------------------------------------------------- the device

class ExtStorageDevice(BlockDevice):
    """A volume of a provider; unique_id is (provider, ``<uuid>.ext.disk<N>``)."""

    def __init__(self, unique_id, children, size, params, dyn_params, *,
                 name: str | None = None, uuid: str | None = None,
                 runner: Runner | None = None, search_path: list[str] | None = None,
                 log_dir: str | None = None, dev_root: str = DEV_ROOT):
        super().__init__(unique_id, children, size, params, dyn_params)
        if not isinstance(unique_id, (list, tuple)) or len(unique_id) != 2:
            raise errors.BlockDeviceError("Invalid ExtStorage disk id %r" % (unique_id,))
        self.provider = _check_name(unique_id[0], "provider name")
        self.vol_name = _check_name(unique_id[1], "volume name")
        self.name, self.uuid = name, uuid
        self.runner = runner
        self.search_path = search_path
        self.log_dir = log_dir
        self.dev_root = dev_root
        self.uris: dict[str, str] = {}
        self.major = self.minor = None

    def __repr__(self) -> str:
        return "<ExtStorageDevice %s/%s>" % (self.provider, self.vol_name)

    def _action(self, action: str, **env_args) -> str:
        """Run one provider script; returns its stdout (only attach's is used)."""
        provider = find_provider(self.provider, self.search_path)
        if not provider.supports(action):
            raise errors.BlockDeviceError("ExtStorage provider %s has no %s script"
                                          % (self.provider, action))
        env = build_env(self.vol_name, self.params, name=self.name, uuid=self.uuid,
                        **env_args)
        logfile = None
        if action != constants.ES_ACTION_ATTACH:
            log_dir = self.log_dir or es_log_dir()
            os.makedirs(log_dir, mode=0o750, exist_ok=True)
            logfile = os.path.join(log_dir, "%s-%s-%s-%s.log" % (
                action, self.provider, self.vol_name, time.strftime("%Y-%m-%d_%H_%M_%S")))
        result = (self.runner or process.run_cmd)(
            [provider.script(action)], env=env, reset_env=True, cwd="/",
            timeout=ACTION_TIMEOUTS.get(action, _SHORT), output_file=logfile)
        if result.failed:
            output = _tail(logfile) if logfile else "\n".join(
                result.output.strip().splitlines()[-LOG_TAIL_LINES:])
            raise errors.BlockDeviceError(
                "ExtStorage provider %s: %s script failed for %s (%s)%s" % (
                    self.provider, action, self.vol_name, result.fail_reason,
                    ", last lines of output:\n" + output if output else ""))
        if action == constants.ES_ACTION_ATTACH and result.stderr.strip():
            logging.info("ExtStorage %s attach of %s said: %s", self.provider,
                         self.vol_name, result.stderr.strip()[-500:])
        return result.stdout

    @classmethod
    def create(cls, unique_id, children, size, spindles, params, excl_stor, dyn_params,
               **kwargs) -> "ExtStorageDevice":
        if excl_stor:
            raise errors.BlockDeviceError("ExtStorage disks do not support exclusive"
                                          " storage")
        dev = cls(unique_id, children, size, params, dyn_params, **kwargs)
        dev._action(constants.ES_ACTION_CREATE, size=size)
        return dev

    def remove(self) -> None:
        self._action(constants.ES_ACTION_REMOVE)
        self.attached = False

    def attach(self) -> bool:
        """Run attach (idempotent); True when it yields a block device or a URI."""
        dev_path, uris = parse_attach_output(self._action(constants.ES_ACTION_ATTACH),
                                             self.provider)
        self.uris = uris
        self.dev_path = dev_path
        self.attached = False
        if dev_path is not None:
            try:
                real = check_device_path(dev_path, self.dev_root)
            except errors.BlockDeviceError as err:
                logging.error("ExtStorage %s: %s", self.provider, err)
                return False
            st = os.stat(real)
            self.major, self.minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        self.attached = True
        return True

    def assemble(self) -> None:
        if not self.attach():
            raise errors.BlockDeviceError("ExtStorage provider %s: %s attached to %s,"
                                          " which is not a usable block device"
                                          % (self.provider, self.vol_name, self.dev_path))

    def shutdown(self) -> None:
        self._action(constants.ES_ACTION_DETACH)
        self.attached = False

    def open(self, force: bool = False, exclusive: bool = True) -> None:
        if find_provider(self.provider, self.search_path).supports(
                constants.ES_ACTION_OPEN):
            self._action(constants.ES_ACTION_OPEN, exclusive=bool(exclusive))

    def close(self) -> None:
        if find_provider(self.provider, self.search_path).supports(
                constants.ES_ACTION_CLOSE):
            self._action(constants.ES_ACTION_CLOSE)

    def grow(self, amount, dryrun, backingstore, excl_stor) -> None:
        # Providers have no dry-run mode, and only the backing storage grows.
        if not backingstore or dryrun:
            return
        if not isinstance(amount, int) or amount <= 0:
            raise errors.BlockDeviceError("Invalid growth %r for %s" % (amount,
                                                                        self.vol_name))
        self._action(constants.ES_ACTION_GROW, size=self.size,
                     new_size=self.size + amount)
        self.size += amount

    def set_info(self, text: str) -> None:
        self._action(constants.ES_ACTION_SETINFO, metadata=text)

    def verify(self) -> None:
        self._action(constants.ES_ACTION_VERIFY)

    def snapshot(self, snap_name: str, snap_size: int):
        if not find_provider(self.provider, self.search_path).supports(
                constants.ES_ACTION_SNAPSHOT):
            raise errors.BlockDeviceError("ExtStorage provider %s does not support"
                                          " snapshots" % self.provider)
        _check_name(snap_name, "snapshot name")
        self._action(constants.ES_ACTION_SNAPSHOT, snap_name=snap_name,
                     snap_size=snap_size)
        return (self.provider, snap_name)

    def rename(self, new_id) -> None:
        raise errors.BlockDeviceError("Renaming is not supported for ExtStorage volume %s"
                                      % self.vol_name)

    def get_actual_size(self) -> int:
        if not self.attached and not self.attach():
            raise errors.BlockDeviceError("ExtStorage volume %s is not attached"
                                          % self.vol_name)
        if self.dev_path is None:
            raise errors.BlockDeviceError("ExtStorage volume %s has no block device"
                                          " (userspace access only)" % self.vol_name)
        return device_size_bytes(self.dev_path, self.runner)

    def get_user_access_uri(self, hypervisor: str) -> str:
        """The URI the hypervisor uses for userspace access (``access=userspace``)."""
        if not self.uris and not self.attached:
            self.attach()
        try:
            return self.uris[hypervisor]
        except KeyError:
            raise errors.BlockDeviceError(
                "ExtStorage provider %s gives no userspace access for hypervisor %s"
                % (self.provider, hypervisor)) from None
