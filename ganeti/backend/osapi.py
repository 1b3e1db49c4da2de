"""Node side of the guest OS API (versions 10, 15 and 20).

Finds and checks OS definitions in the OS search path, builds the script environment
and runs the create, rename, import, export and verify scripts with logging.
"""

import contextlib
import logging
import os
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field

from ganeti import constants, errors, pathutils
from ganeti.backend import restricted
from ganeti.utils import process

SAFE_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
VARIANT_SEPARATOR = "+"
_LOG = logging.getLogger(__name__)
LOG_TAIL_LINES = 20
DEFAULT_CREATE_TIMEOUT = 3600.0
DEFAULT_SCRIPT_TIMEOUT = 600.0

# Scripts every OS must provide besides create/create_untrusted; verify since API 20.
_BASE_SCRIPTS = (constants.OS_SCRIPT_EXPORT, constants.OS_SCRIPT_IMPORT,
                 constants.OS_SCRIPT_RENAME)
# Disk templates whose volumes are block devices (the rest of the implemented
# ones are file based); used only when the caller gives no backend_type.
_BLOCK_TEMPLATES = frozenset([constants.DT_PLAIN, constants.DT_DRBD8,
                              constants.DT_BLOCK, constants.DT_RBD, constants.DT_EXT])
_NETWORK_KEYS = ("name", "uuid", "tags", "subnet", "gateway", "subnet6", "gateway6",
                 "mac_prefix")


@dataclass
class OsInfo:
    """One OS definition as found on disk; ``status`` False means invalid."""

    name: str
    path: str
    status: bool
    diagnose: str = ""
    variants: list[str] = field(default_factory=list)
    parameters: list[tuple[str, str]] = field(default_factory=list)
    api_versions: list[int] = field(default_factory=list)
    trusted: bool = True

    @property
    def api_version(self) -> int:
        """Highest API version both the OS and this node understand (0 if none)."""
        common = set(self.api_versions) & constants.OS_API_VERSIONS
        return max(common) if common else 0

    def script_path(self, script: str) -> str:
        return os.path.join(self.path, script)

    def to_payload(self) -> list:
        return [self.name, self.path, self.status, self.diagnose, list(self.variants),
                [[pname, pdesc] for pname, pdesc in self.parameters],
                list(self.api_versions), self.trusted]


class _InvalidOs(Exception):
    """Internal: an OS definition check failed; the message is the diagnose text."""


# --------------------------------------------------------------------------- names

def split_os_name(name: str) -> tuple[str, str]:
    """Split ``os+variant`` into (os, variant); variant is "" when absent."""
    base, _, variant = name.partition(VARIANT_SEPARATOR)
    return base, variant


def _search_path(search_path: list[str] | None) -> list[str]:
    return list(pathutils.OS_SEARCH_PATH if search_path is None else search_path)


# ----------------------------------------------------------------------- checking

def _stat_file(os_dir: str, fname: str, kind: str) -> os.stat_result:
    try:
        return os.stat(os.path.join(os_dir, fname))
    except FileNotFoundError:
        raise _InvalidOs(f"missing {kind} '{fname}'") from None
    except OSError as err:
        raise _InvalidOs(f"cannot access '{fname}': {err.strerror}") from None


def _check_regular(os_dir: str, fname: str, kind: str = "file") -> None:
    if not stat.S_ISREG(_stat_file(os_dir, fname, kind).st_mode):
        raise _InvalidOs(f"'{fname}' is not a regular file")


def _check_script(os_dir: str, script: str) -> None:
    st = _stat_file(os_dir, script, "script")
    if not stat.S_ISREG(st.st_mode):
        raise _InvalidOs(f"'{script}' is not a regular file")
    if not st.st_mode & stat.S_IXUSR:
        raise _InvalidOs(f"'{script}' is not executable")
    problem = restricted.script_file_problem(os.path.join(os_dir, script))
    if problem:
        raise _InvalidOs(f"script refused: {problem}")


def _check_dir_safety(os_dir: str) -> None:
    """OS definitions run as root: only from root-owned, not group/world-writable
    directories, and the search path directory holding them too (stricter point 4)."""
    problem = restricted.script_dir_problem(os_dir) or \
        restricted.script_dir_problem(os.path.dirname(os.path.normpath(os_dir)))
    if problem:
        raise _InvalidOs(f"directory refused: {problem}")


def _read_lines(os_dir: str, fname: str) -> list[str]:
    """Non-blank lines of a list file, '#' comment lines dropped, stripped."""
    try:
        with open(os.path.join(os_dir, fname), encoding="utf-8") as fh:
            data = fh.read()
    except (OSError, UnicodeDecodeError) as err:
        raise _InvalidOs(f"cannot read '{fname}': {err}") from None
    lines = (line.strip() for line in data.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _read_api_versions(os_dir: str) -> list[int]:
    _check_regular(os_dir, constants.OS_API_FILE)
    versions = []
    for line in _read_lines(os_dir, constants.OS_API_FILE):
        try:
            versions.append(int(line))
        except ValueError:
            raise _InvalidOs(f"invalid API version '{line}' in"
                             f" '{constants.OS_API_FILE}'") from None
    if not versions:
        raise _InvalidOs(f"'{constants.OS_API_FILE}' is empty")
    return versions


def _check_api_supported(versions: list[int]) -> None:
    if not set(versions) & constants.OS_API_VERSIONS:
        theirs = ", ".join(str(v) for v in versions)
        ours = ", ".join(str(v) for v in sorted(constants.OS_API_VERSIONS))
        raise _InvalidOs(f"API version {theirs} not supported (supported: {ours})")


def _parse_parameters(lines: list[str]) -> list[tuple[str, str]]:
    params = []
    for line in lines:
        parts = line.split(None, 1)
        params.append((parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return params


def _check_os_dir(name: str, os_dir: str) -> OsInfo:
    """Check one OS directory against the OS API rules (spec 1.1)."""
    info = OsInfo(name=name, path=os_dir, status=False)
    try:
        if not os.path.isdir(os_dir):
            raise _InvalidOs(f"'{os_dir}' is not a directory")
        _check_dir_safety(os_dir)
        # Keep the declared versions even when unsupported: diagnose shows them.
        info.api_versions = _read_api_versions(os_dir)
        _check_api_supported(info.api_versions)
        api = info.api_version
        has_untrusted = os.path.lexists(
            os.path.join(os_dir, constants.OS_SCRIPT_CREATE_UNTRUSTED))
        if has_untrusted:
            _check_script(os_dir, constants.OS_SCRIPT_CREATE_UNTRUSTED)
            info.trusted = False
        if os.path.lexists(os.path.join(os_dir, constants.OS_SCRIPT_CREATE)) \
                or not has_untrusted:
            _check_script(os_dir, constants.OS_SCRIPT_CREATE)
        scripts = list(_BASE_SCRIPTS)
        if api >= constants.OS_API_V20:
            scripts.append(constants.OS_SCRIPT_VERIFY)
        for script in scripts:
            _check_script(os_dir, script)
        if api >= constants.OS_API_V15 and os.path.lexists(
                os.path.join(os_dir, constants.OS_VARIANTS_FILE)):
            _check_regular(os_dir, constants.OS_VARIANTS_FILE)
            info.variants = _read_lines(os_dir, constants.OS_VARIANTS_FILE)
        if api >= constants.OS_API_V20:
            _check_regular(os_dir, constants.OS_PARAMETERS_FILE)
            info.parameters = _parse_parameters(
                _read_lines(os_dir, constants.OS_PARAMETERS_FILE))
    except _InvalidOs as err:
        info.diagnose = str(err)
        return info
    info.status = True
    return info


def diagnose_os_list(search_path: list[str] | None = None) -> list[OsInfo]:
    """Check every entry of every OS search path directory, sorted by name.

    A name is taken from the first directory holding a directory of that name;
    stray non-directory entries are reported as invalid only if no directory of
    that name exists anywhere in the path.
    """
    found: dict[str, OsInfo] = {}
    strays: dict[str, str] = {}
    for base in _search_path(search_path):
        try:
            entries = sorted(os.listdir(base))
        except FileNotFoundError:
            continue
        except OSError as err:
            _LOG.warning("Cannot list OS directory %s: %s", base, err)
            continue
        for entry in entries:
            if entry.startswith(".") or entry in found:
                continue
            full = os.path.join(base, entry)
            if os.path.isdir(full):
                found[entry] = _check_os_dir(entry, full)
            else:
                strays.setdefault(entry, full)
    for entry, full in strays.items():
        if entry not in found:
            found[entry] = OsInfo(name=entry, path=full, status=False,
                                  diagnose=f"'{full}' is not a directory")
    return [found[name] for name in sorted(found)]


def os_diagnose_payload(search_path: list[str] | None = None) -> list:
    """The JSON-friendly list returned by the os_diagnose RPC."""
    return [info.to_payload() for info in diagnose_os_list(search_path)]


def find_os(name: str, search_path: list[str] | None = None) -> OsInfo:
    """Return the valid OS ``name`` (optionally ``name+variant``) or raise RpcError."""
    base, variant = split_os_name(name)
    paths = _search_path(search_path)
    os_dir = None
    if base and "/" not in base and not base.startswith("."):
        for search_dir in paths:
            candidate = os.path.join(search_dir, base)
            if os.path.isdir(candidate):
                os_dir = candidate
                break
    if os_dir is None:
        raise errors.RpcError(f"OS '{base}' not found in the OS search path"
                              f" ({', '.join(paths)})")
    info = _check_os_dir(base, os_dir)
    if not info.status:
        raise errors.RpcError(f"Invalid OS '{base}': {info.diagnose}")
    if variant and info.api_version >= constants.OS_API_V15:
        if not info.variants:
            raise errors.RpcError(f"OS '{base}' does not support variants"
                                  f" ('{variant}' given)")
        if variant not in info.variants:
            raise errors.RpcError(f"Unsupported OS variant '{variant}'"
                                  f" (valid: {', '.join(info.variants)})")
    return info


# ---------------------------------------------------------------------- environment

def _env_value(value) -> str:
    """Render a parameter value the way scripts see it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple, set, frozenset)):
        return " ".join(_env_value(item) for item in value)
    return str(value)


def osp_var_name(param: str) -> str:
    return "OSP_" + param.upper().replace("-", "_")


def os_core_env(os_info: OsInfo, variant: str, osparams: dict,
                debug: int = 0) -> dict[str, str]:
    """Variables that do not depend on an instance (also used by verify)."""
    api = os_info.api_version
    env = {
        "OS_API_VERSION": str(api),
        "OS_NAME": os_info.name,
        "DEBUG_LEVEL": str(int(debug)),
        "PATH": SAFE_PATH,
    }
    if api >= constants.OS_API_V15:
        if not variant and os_info.variants:
            variant = os_info.variants[0]
        env["OS_VARIANT"] = variant or ""
    if api >= constants.OS_API_V20:
        for pname, pvalue in (osparams or {}).items():
            env[osp_var_name(pname)] = _env_value(pvalue)
    return env


def _backend_type(disk: dict) -> str:
    if disk.get("backend_type"):
        return disk["backend_type"]
    if disk.get("dev_type") in _BLOCK_TEMPLATES:
        return "block"
    return "file:%s" % (disk.get("driver") or constants.FD_DEFAULT)


def _disk_env(idx: int, disk: dict, hvparams: dict) -> dict[str, str]:
    prefix = f"DISK_{idx}_"
    env = {
        prefix + "ACCESS": _env_value(disk.get("mode", constants.DISK_RDWR)),
        prefix + "UUID": _env_value(disk.get("uuid")),
        prefix + "SIZE": _env_value(disk.get("size")),
    }
    if disk.get("name"):
        env[prefix + "NAME"] = _env_value(disk["name"])
    if disk.get("path"):
        env[prefix + "PATH"] = _env_value(disk["path"])
    if disk.get("uri"):
        env[prefix + "URI"] = _env_value(disk["uri"])
    if "disk_type" in hvparams:
        env[prefix + "FRONTEND_TYPE"] = _env_value(hvparams["disk_type"])
    env[prefix + "BACKEND_TYPE"] = _backend_type(disk)
    return env


def _nic_env(idx: int, nic: dict, hvparams: dict) -> dict[str, str]:
    prefix = f"NIC_{idx}_"
    nicparams = nic.get("nicparams") or {}
    mode = nicparams.get(constants.NIC_MODE, "")
    link = nicparams.get("link", "")
    env = {prefix + "MAC": _env_value(nic.get("mac")),
           prefix + "UUID": _env_value(nic.get("uuid"))}
    if nic.get("name"):
        env[prefix + "NAME"] = _env_value(nic["name"])
    if nic.get("ip"):
        env[prefix + "IP"] = _env_value(nic["ip"])
    env[prefix + "MODE"] = _env_value(mode)
    if mode == constants.NIC_MODE_BRIDGED:
        env[prefix + "BRIDGE"] = _env_value(link)
    if link:
        env[prefix + "LINK"] = _env_value(link)
    network = nic.get("network") or {}
    for key in _NETWORK_KEYS:
        if network.get(key):
            env[f"{prefix}NETWORK_{key.upper()}"] = _env_value(network[key])
    if "nic_type" in hvparams:
        env[prefix + "FRONTEND_TYPE"] = _env_value(hvparams["nic_type"])
    return env


def build_os_env(os_info: OsInfo, variant: str, inst: dict,
                 debug: int = 0) -> dict[str, str]:
    """The complete environment of an OS script for instance ``inst`` (spec 1.2)."""
    env = os_core_env(os_info, variant, inst.get("osparams") or {}, debug)
    hvparams = inst.get("hvparams") or {}
    disks = inst.get("disks") or []
    nics = inst.get("nics") or []
    env.update({
        "INSTANCE_NAME": _env_value(inst["name"]),
        "INSTANCE_OS": _env_value(inst.get("os")),
        "INSTANCE_UUID": _env_value(inst.get("uuid")),
        "INSTANCE_CTIME": _env_value(inst.get("ctime")),
        "INSTANCE_MTIME": _env_value(inst.get("mtime")),
        "INSTANCE_PRIMARY_NODE": _env_value(inst.get("primary_node")),
        "INSTANCE_SECONDARY_NODES": _env_value(inst.get("secondary_nodes") or []),
        "HYPERVISOR": _env_value(inst.get("hypervisor")),
        "DISK_COUNT": str(len(disks)),
        "NIC_COUNT": str(len(nics)),
    })
    for idx, disk in enumerate(disks):
        env.update(_disk_env(idx, disk, hvparams))
    for idx, nic in enumerate(nics):
        env.update(_nic_env(idx, nic, hvparams))
    for kind, params in (("BE", inst.get("beparams")), ("HV", hvparams)):
        for key, value in (params or {}).items():
            env[f"INSTANCE_{kind}_{key}"] = _env_value(value)
    return env


# ------------------------------------------------------------------------- logging

def _log_file(kind: str, os_name: str, *names: str) -> str:
    """Create the OS log directory if needed and return a fresh log file name."""
    log_dir = pathutils.OS_LOG_DIR  # read at call time: tests and vclusters patch it
    os.makedirs(log_dir, mode=0o750, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now))
    stamp += f".{int((now % 1) * 1000000):06d}"
    parts = [kind, os_name] + [n for n in names if n]
    base = "-".join(p.replace("/", "_") for p in parts)
    return os.path.join(log_dir, f"{base}-{stamp}.log")


def _log_tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 65536))
            data = fh.read().decode("utf-8", "replace")
    except OSError as err:
        return f"(cannot read log file {path}: {err.strerror})"
    return "\n".join(data.splitlines()[-lines:])


def _script_failed(what: str, reason: str, log_path: str) -> errors.RpcError:
    return errors.RpcError(f"OS {what} script failed ({reason}), last lines in the"
                           f" log file:\n{_log_tail(log_path)}")


def _prepare(inst: dict, debug: int) -> tuple[OsInfo, dict[str, str]]:
    info = find_os(inst["os"])
    _, variant = split_os_name(inst["os"])
    return info, build_os_env(info, variant, inst, debug)


# ----------------------------------------------------------------------- scripts

def run_os_create(inst: dict, reinstall: bool = False, debug: int = 0,
                  timeout: float = DEFAULT_CREATE_TIMEOUT) -> str:
    """Install the OS of ``inst`` on its disks; return the log file path."""
    info, env = _prepare(inst, debug)
    script = info.script_path(constants.OS_SCRIPT_CREATE)
    if not os.path.exists(script):
        raise errors.RpcError(
            f"OS '{info.name}' only provides '{constants.OS_SCRIPT_CREATE_UNTRUSTED}':"
            " untrusted OS installation needs an install image, which is not"
            " supported yet")
    if reinstall:
        env["INSTANCE_REINSTALL"] = "1"
    log_path = _log_file("reinstall" if reinstall else "add", inst["os"], inst["name"])
    result = process.run_cmd([script], env=env, reset_env=True, cwd=info.path,
                             timeout=timeout, output_file=log_path)
    if result.failed:
        raise _script_failed("create", result.fail_reason, log_path)
    return log_path


def run_os_rename(inst: dict, old_name: str, debug: int = 0,
                  timeout: float = DEFAULT_SCRIPT_TIMEOUT) -> str:
    """Tell the OS that ``old_name`` is now ``inst["name"]``; return the log path."""
    info, env = _prepare(inst, debug)
    env["OLD_INSTANCE_NAME"] = old_name
    log_path = _log_file("rename", inst["os"], old_name, inst["name"])
    result = process.run_cmd([info.script_path(constants.OS_SCRIPT_RENAME)], env=env,
                             reset_env=True, cwd=info.path, timeout=timeout,
                             output_file=log_path)
    if result.failed:
        raise _script_failed("rename", result.fail_reason, log_path)
    return log_path


def _disk_io_env(inst: dict, disk_index: int, prefix: str) -> dict[str, str]:
    disks = inst.get("disks") or []
    if not 0 <= disk_index < len(disks):
        raise errors.RpcError(f"Instance {inst['name']} has no disk {disk_index}")
    disk = disks[disk_index]
    env = {prefix + "INDEX": str(disk_index)}
    if disk.get("path"):
        env[prefix + "DISK_PATH"] = disk["path"]
        env[prefix + "DEVICE"] = disk["path"]
    if disk.get("uri"):
        env[prefix + "DISK_URI"] = disk["uri"]
    return env


def _run_with_files(cmd: list[str], env: dict[str, str], cwd: str, stdin_path: str,
                    stdout_path: str | None, log_path: str, timeout: float | None,
                    want_size_fd: bool) -> tuple[process.RunResult, str]:
    """Run a script with stdin/stdout bound to files (binary data).

    run_cmd cannot feed a file on stdin or keep stdout apart from stderr, which
    import and export need; this is the same discipline (argument list, reset
    environment, own session, timeout kills the group) with file redirections.
    Returns the result and whatever the script wrote on the size descriptor.
    """
    run_env = dict(env)
    timed_out = False
    size_text = ""
    with contextlib.ExitStack() as stack:
        fin = stack.enter_context(open(stdin_path, "rb"))
        flog = stack.enter_context(open(log_path, "ab"))
        fout = stack.enter_context(open(stdout_path, "wb")) if stdout_path else flog
        pass_fds: tuple[int, ...] = ()
        if want_size_fd:
            size_r, size_w = os.pipe()
            stack.callback(os.close, size_r)
            pass_fds = (size_w,)
            run_env["EXP_SIZE_FD"] = str(size_w)
        try:
            proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=flog, cwd=cwd,
                                    env=run_env, close_fds=True, start_new_session=True,
                                    pass_fds=pass_fds)
        except OSError as err:
            return process.RunResult(cmd, 127, None, "",
                                     f"cannot execute {cmd[0]}: {err}"), ""
        finally:
            # Only the child may hold the write end, so reading sees EOF at its exit.
            for fd in pass_fds:
                os.close(fd)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_session(proc)
            proc.wait()
        if want_size_fd:
            os.set_blocking(size_r, False)
            try:
                size_text = os.read(size_r, 4096).decode("ascii", "replace").strip()
            except BlockingIOError:
                size_text = ""
    rc = proc.returncode
    sig = -rc if rc is not None and rc < 0 else None
    return process.RunResult(cmd, None if sig else rc, sig, "", "", timed_out), size_text


def _kill_session(proc: subprocess.Popen) -> None:
    # The script runs in its own session: kill its helpers (dd, cat...) too.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def run_os_export(inst: dict, disk_index: int, dest_path: str, debug: int = 0,
                  timeout: float | None = None) -> str:
    """Dump disk ``disk_index`` through the OS export script into ``dest_path``.

    Returns the log path; the size announced on EXP_SIZE_FD is logged.
    """
    info, env = _prepare(inst, debug)
    env.update(_disk_io_env(inst, disk_index, "EXPORT_"))
    log_path = _log_file("export", inst["os"], inst["name"], f"disk{disk_index}")
    result, size = _run_with_files([info.script_path(constants.OS_SCRIPT_EXPORT)], env,
                                   info.path, os.devnull, dest_path, log_path, timeout,
                                   want_size_fd=True)
    if result.failed:
        raise _script_failed("export", result.fail_reason, log_path)
    if size:
        _LOG.info("Export of disk %s of %s announced %s bytes", disk_index,
                     inst["name"], size)
    return log_path


def run_os_import(inst: dict, disk_index: int, src_path: str, debug: int = 0,
                  timeout: float | None = None) -> str:
    """Feed ``src_path`` to the OS import script for disk ``disk_index``."""
    info, env = _prepare(inst, debug)
    env.update(_disk_io_env(inst, disk_index, "IMPORT_"))
    if not os.path.isfile(src_path):
        raise errors.RpcError(f"Import source {src_path} is not a file")
    log_path = _log_file("import", inst["os"], inst["name"], f"disk{disk_index}")
    result, _ = _run_with_files([info.script_path(constants.OS_SCRIPT_IMPORT)], env,
                                info.path, src_path, None, log_path, timeout,
                                want_size_fd=False)
    if result.failed:
        raise _script_failed("import", result.fail_reason, log_path)
    return log_path


def validate_os_params(os_name: str, osparams: dict,
                       checks: list[str] | tuple[str, ...] = (
                           constants.OS_VALIDATE_PARAMETERS,),
                       search_path: list[str] | None = None,
                       timeout: float = DEFAULT_SCRIPT_TIMEOUT) -> None:
    """Check OS parameters by name and with the OS's ``verify`` script.

    OSes older than API 20 have neither parameters nor verify: nothing to check.
    """
    info = find_os(os_name, search_path)
    if info.api_version < constants.OS_API_V20:
        return
    unknown_checks = sorted(set(checks) - constants.OS_VALIDATE_CALLS)
    if unknown_checks:
        raise errors.RpcError(f"Unknown checks required for OS {info.name}:"
                              f" {', '.join(unknown_checks)}")
    if constants.OS_VALIDATE_PARAMETERS in checks:
        known = {pname for pname, _ in info.parameters}
        unknown = sorted(set(osparams or {}) - known)
        if unknown:
            raise errors.RpcError(f"OS '{info.name}' does not accept parameter(s):"
                                  f" {', '.join(unknown)}")
    _, variant = split_os_name(os_name)
    env = os_core_env(info, variant, osparams)
    cmd = [info.script_path(constants.OS_SCRIPT_VERIFY), *checks]
    result = process.run_cmd(cmd, env=env, reset_env=True, cwd=info.path, timeout=timeout,
                             merge_stderr=True)
    if result.failed:
        raise errors.RpcError(f"OS '{info.name}' parameter validation failed"
                              f" ({result.fail_reason}): {result.output.strip()}")
