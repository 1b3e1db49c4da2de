"""Node-level procedures of noded: info, verify, ssconf, uploads, job queue copies.

Every function validates its arguments (they come from the network) and raises
``errors.RpcError`` with a message naming what was wrong.
"""

import hashlib
import logging
import os
import socket
import stat
import time

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import ssconf
from ganeti.rpc import encoding
from ganeti.utils import io
from ganeti.utils import process


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise errors.RpcError(message)


def devirt(path) -> str:
    """Map a received path into this node's root (virtual clusters)."""
    _check(isinstance(path, str) and path, "Invalid path %r" % (path,))
    try:
        return pathutils.devirtualize(path)
    except pathutils.VirtualClusterError as err:
        raise errors.RpcError(str(err)) from None


def version():
    return constants.PROTOCOL_VERSION


def boot_id() -> str:
    try:
        return io.read_file("/proc/sys/kernel/random/boot_id").strip()
    except OSError:
        return ""


def _fs_info(path: str) -> dict:
    try:
        st = os.statvfs(path)
    except OSError as err:
        return {"type": constants.DT_FILE, "name": path, "storage_free": None,
                "storage_size": None, "error": str(err)}
    return {"type": constants.DT_FILE, "name": path,
            "storage_free": st.f_bavail * st.f_frsize // (1024 * 1024),
            "storage_size": st.f_blocks * st.f_frsize // (1024 * 1024)}


def node_info(storage_units, hv_specs):
    """[boot id, [storage info], [hypervisor info]]."""
    from ganeti import hypervisor
    _check(isinstance(storage_units, list) and isinstance(hv_specs, list),
           "node_info takes a list of storage units and a list of hypervisors")
    storage = []
    for unit in storage_units:
        _check(isinstance(unit, list) and len(unit) >= 2, "Invalid storage unit %r" % (unit,))
        stype, key = unit[0], unit[1]
        if stype in (constants.DT_FILE, constants.DT_SHARED_FILE):
            path = devirt(key)
            os.makedirs(path, mode=0o750, exist_ok=True) if _allowed(path) else None
            storage.append(_fs_info(path))
        else:
            storage.append({"type": stype, "name": key, "storage_free": None,
                            "storage_size": None, "error": "unsupported storage type"})
    hv_info = []
    for spec in hv_specs:
        _check(isinstance(spec, list) and len(spec) == 2, "Invalid hypervisor spec")
        try:
            hv_info.append(hypervisor.get_hypervisor(spec[0]).get_node_info(spec[1]))
        except errors.HypervisorError as err:
            hv_info.append({"error": str(err)})
    return [boot_id(), storage, hv_info]


def _allowed(path: str) -> bool:
    from ganeti.storage import filestorage
    try:
        filestorage.check_file_storage_path(path, allow_root=True)
        return True
    except errors.FileStoragePathError:
        return False


def _file_checksum(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha1(fh.read()).hexdigest()
    except OSError:
        return None


def node_verify(what, cluster_name, hvparams=None):
    """Run the checks named in ``what`` and return their results by key."""
    from ganeti import hypervisor
    from ganeti.backend import osapi
    _check(isinstance(what, dict), "node_verify takes a dict of checks")
    result = {}
    my_name = _my_name()
    if "version" in what:
        result["version"] = [constants.PROTOCOL_VERSION, constants.RELEASE_VERSION]
    if "filelist" in what:
        result["filelist"] = {f: _file_checksum(devirt(f)) for f in what["filelist"]}
    if "hypervisor" in what:
        hv_result = {}
        for hv_name in what["hypervisor"]:
            try:
                hv_result[hv_name] = hypervisor.get_hypervisor(hv_name).verify()
            except errors.HypervisorError as err:
                hv_result[hv_name] = str(err)
        result["hypervisor"] = hv_result
    if "nodelist" in what:
        failed = {}
        for name, address in what["nodelist"]:
            if name == my_name:
                continue
            if not _tcp_ok(address, constants.DEFAULT_NODED_PORT):
                failed[name] = "cannot reach node daemon at %s:%d" % (
                    address, constants.DEFAULT_NODED_PORT)
        result["nodelist"] = failed
    if "time" in what:
        result["time"] = time.time()
    if "master-ssconf" in what:
        try:
            result["master-ssconf"] = ssconf.SimpleStore().get_master_node()
        except errors.ConfigurationError as err:
            result["master-ssconf"] = "error: %s" % err
    if "os" in what:
        result["os"] = osapi.os_diagnose_payload()
    if "file-storage" in what:
        problems = {}
        for path in what["file-storage"]:
            local = devirt(path)
            if not _allowed(local):
                problems[path] = "not in the allowed file storage paths"
            elif os.path.isdir(local) and not os.access(local, os.W_OK):
                problems[path] = "not writable"
        result["file-storage"] = problems
    if "node-info" in what:
        result["node-info"] = node_info(*what["node-info"])
    if "instancelist" in what:
        names = []
        for hv_name in what["instancelist"]:
            try:
                names.extend(hypervisor.get_hypervisor(hv_name).list_instances())
            except errors.HypervisorError:
                pass
        result["instancelist"] = names
    if "daemons" in what:
        result["daemons"] = {d: process.is_process_alive(
            process.read_pid_file(pathutils.daemon_pidfile(d))) for d in what["daemons"]}
    if "file-modes" in what:
        result["file-modes"] = secret_file_modes()
    if "certificates" in what:
        result["certificates"] = certificate_expiry()
    if "script-hashes" in what:
        result["script-hashes"] = script_hashes()
    return result


# --- integrity checks of node_verify: the node picks the files, never the caller ----
def _logical(path: str) -> str:
    """A path as the cluster knows it (without a virtual node's root)."""
    if pathutils.ROOTDIR and path.startswith(pathutils.ROOTDIR + "/"):
        return path[len(pathutils.ROOTDIR):]
    return path


def _owner_names(st: os.stat_result) -> tuple[str, str]:
    import grp
    import pwd
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return user, group


def _secret_files() -> list[str]:
    files = [pathutils.NODED_CERT_FILE, pathutils.NODED_CLIENT_CERT_FILE,
             pathutils.RAPI_CERT_FILE, pathutils.SPICE_CERT_FILE,
             pathutils.CONFD_HMAC_KEY, pathutils.CLUSTER_DOMAIN_SECRET_FILE,
             pathutils.RAPI_USERS_FILE]
    for directory, match in ((pathutils.SSH_CONFIG_DIR, "ssh_host_"),
                             (pathutils.SSH_ROOT_DIR, "id_")):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        files.extend(os.path.join(directory, n) for n in names
                     if n.startswith(match) and not n.endswith((".pub", "-cert.pub")))
    return files


def secret_file_modes() -> dict:
    """{path: [mode, owner, group]} of this node's keys and secrets that exist."""
    result = {}
    for path in _secret_files():
        try:
            st = os.stat(path)
        except OSError:
            continue
        result[_logical(path)] = [stat.S_IMODE(st.st_mode), *_owner_names(st)]
    return result


def certificate_expiry() -> dict:
    """{path: expiry as a Unix time, or an error text} for this node's certificates."""
    from ganeti import crypto
    result = {}
    for path in (pathutils.NODED_CERT_FILE, pathutils.NODED_CLIENT_CERT_FILE,
                 pathutils.RAPI_CERT_FILE, pathutils.SPICE_CERT_FILE,
                 pathutils.SPICE_CACERT_FILE):
        if not os.path.exists(path):
            continue
        try:
            # certificates only: spice-ca.pem holds no private key, by design
            with open(path) as fh:
                _keys, certs = crypto.split_pem(fh.read())
            if not certs:
                raise errors.X509CertError("no certificate in %s" % path)
            result[_logical(path)] = crypto.cert_not_after(certs[0]).timestamp()
        except (errors.GenericError, OSError, ValueError) as err:
            result[_logical(path)] = "cannot read the certificate: %s" % err
    return result


def _hash_entry(path: str) -> list:
    """[sha256, owner, group, mode] of a file (symlinks followed), or [None, error]."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return [None, "not a regular file"]
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(65536), b""):
                digest.update(chunk)
    except OSError as err:
        return [None, err.strerror or str(err)]
    return [digest.hexdigest(), *_owner_names(st), stat.S_IMODE(st.st_mode)]


def _hash_tree(files: dict, problems: dict, key: str, directory: str) -> None:
    """Hash every visible entry of ``directory`` (one level) under ``key/<name>``."""
    from ganeti.backend import restricted
    problem = restricted.script_dir_problem(directory)
    if problem:
        problems[key] = problem
    try:
        names = sorted(os.listdir(directory))
    except OSError as err:
        problems[key] = "cannot list %s: %s" % (directory, err.strerror)
        return
    for name in names:
        if not name.startswith("."):
            path = os.path.join(directory, name)
            files["%s/%s" % (key, name)] = _hash_entry(path)
            problem = restricted.script_file_problem(path) if os.path.isfile(path) \
                else None
            if problem:
                problems["%s/%s" % (key, name)] = problem


def script_hashes() -> dict:
    """Hooks, OS definitions, ExtStorage providers and restricted commands of this node.

    Keys are node independent ("hooks/<dir>/<name>", "os/<os>/<file>", ...) so the
    master compares them between nodes; restricted commands only as one digest.
    """
    from ganeti import _autoconf
    from ganeti.backend import restricted
    files: dict = {}
    problems: dict = {}
    base = pathutils.HOOKS_BASE_DIR
    if os.path.isdir(base):
        problem = restricted.script_dir_problem(base)
        if problem:
            problems["hooks"] = problem
        for sub in sorted(os.listdir(base)):
            if not sub.startswith(".") and os.path.isdir(os.path.join(base, sub)):
                _hash_tree(files, problems, "hooks/" + sub, os.path.join(base, sub))
    for kind, search_path in (("os", pathutils.OS_SEARCH_PATH),
                              ("extstorage", pathutils.ES_SEARCH_PATH)):
        seen = set()
        for directory in search_path:
            try:
                entries = sorted(os.listdir(directory))
            except OSError:
                continue
            problem = restricted.script_dir_problem(directory)
            if problem:
                problems["%s-search-path:%s" % (kind, directory)] = problem
            for entry in entries:
                full = os.path.join(directory, entry)
                if entry in seen or entry.startswith(".") or not os.path.isdir(full):
                    continue
                seen.add(entry)
                _hash_tree(files, problems, "%s/%s" % (kind, entry), full)
    digest = restricted.directory_digest() if _autoconf.ENABLE_RESTRICTED_COMMANDS \
        else None
    if digest is not None:
        files["restricted-commands"] = digest
        problem = restricted.directory_problem()
        if problem:
            problems["restricted-commands"] = problem
    return {"files": files, "problems": problems}


def _tcp_ok(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def _my_name() -> str:
    from ganeti import netutils
    return netutils.hostname()


def write_ssconf_files(values):
    _check(isinstance(values, dict), "write_ssconf_files takes a dict")
    try:
        ssconf.write_ssconf_files(values)
    except (errors.ConfigurationError, errors.LockError) as err:
        raise errors.RpcError(str(err)) from None
    return True


def _upload_allowed() -> set:
    return {pathutils.CLUSTER_CONF_FILE, pathutils.ETC_HOSTS,
            pathutils.SSH_KNOWN_HOSTS_FILE, pathutils.VNC_PASSWORD_FILE,
            pathutils.RAPI_CERT_FILE, pathutils.SPICE_CERT_FILE,
            pathutils.SPICE_CACERT_FILE, pathutils.RAPI_USERS_FILE,
            pathutils.CONFD_HMAC_KEY, pathutils.CLUSTER_DOMAIN_SECRET_FILE}


def upload_file(file_name, data, mode, uid_name, gid_name, atime, mtime):
    """Write one file of the fixed allow-list (S3); anything else is refused."""
    import grp
    import pwd
    path = devirt(file_name)
    _check(os.path.isabs(path), "Filename passed to upload_file is not absolute: %r" % path)
    # write to the checked name: "dir/link/../file" must not resolve through the link
    path = os.path.normpath(path)
    if path not in _upload_allowed():
        raise errors.RpcError("Filename passed to upload_file (%s) is not in the allowed "
                              "upload targets" % file_name)
    _check(isinstance(mode, int) and 0 <= mode <= 0o7777, "Invalid file mode %r" % (mode,))
    content = encoding.decode_compressed(data)
    try:
        uid = pwd.getpwnam(uid_name).pw_uid
        gid = grp.getgrnam(gid_name).gr_gid
    except (KeyError, TypeError):
        raise errors.RpcError("Unknown owner %r or group %r for %s"
                              % (uid_name, gid_name, file_name)) from None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    io.write_file(path, content, mode=mode, uid=uid, gid=gid,
                  atime=atime if isinstance(atime, (int, float)) else None,
                  mtime=mtime if isinstance(mtime, (int, float)) else None)
    return True


def upload_file_list(params):
    _check(isinstance(params, list) and len(params) == 7,
           "upload_file takes [file_name, data, mode, owner, group, atime, mtime]")
    return upload_file(*params)


def _queue_file(name: str) -> str:
    _check(isinstance(name, str) and name and "/" not in name and name not in (".", ".."),
           "Invalid job queue file name %r" % (name,))
    _check(name.startswith("job-") or name in ("serial", "version"),
           "Job queue file %r is not a job file" % name)
    return os.path.join(pathutils.QUEUE_DIR, name)


def jobqueue_update(file_name, content):
    if isinstance(file_name, str) and "/" in file_name:
        # a full path (as Ganeti sends it) must name a file directly in the queue
        full = os.path.normpath(devirt(file_name))
        _check(os.path.dirname(full) == os.path.normpath(pathutils.QUEUE_DIR),
               "Job queue file %r is not in the queue directory" % (file_name,))
        file_name = os.path.basename(full)
    path = _queue_file(file_name)
    os.makedirs(pathutils.QUEUE_DIR, mode=0o750, exist_ok=True)
    from ganeti import privsep
    uid, gid = privsep.job_file_ids()  # masterd:daemons, readable after a failover
    io.write_file(path, encoding.decode_compressed(content),
                  mode=constants.JOB_QUEUE_FILES_PERMS, uid=uid, gid=gid, fsync=False)
    return True


def jobqueue_rename(renames):
    _check(isinstance(renames, list), "jobqueue_rename takes a list of pairs")
    for pair in renames:
        _check(isinstance(pair, list) and len(pair) == 2, "Invalid rename %r" % (pair,))
        old = _queue_file(pair[0])
        new_rel = pair[1]
        _check(isinstance(new_rel, str) and new_rel.startswith("archive/")
               and ".." not in new_rel.split("/"), "Invalid archive path %r" % (new_rel,))
        new = os.path.join(pathutils.QUEUE_DIR, new_rel)
        os.makedirs(os.path.dirname(new), mode=0o750, exist_ok=True)
        try:
            os.rename(old, new)
        except FileNotFoundError:
            pass
    return True


def jobqueue_purge():
    for name in os.listdir(pathutils.QUEUE_DIR) if os.path.isdir(pathutils.QUEUE_DIR) else []:
        if name.startswith("job-"):
            io.remove_file(os.path.join(pathutils.QUEUE_DIR, name))
    return True


def test_delay(duration):
    _check(isinstance(duration, (int, float)) and 0 <= duration <= 86400,
           "Invalid delay duration %r" % (duration,))
    time.sleep(duration)
    return True


def master_node_name():
    return ssconf.SimpleStore().get_master_node()


def _daemon_util(*args) -> process.RunResult:
    return process.run_cmd([pathutils.DAEMON_UTIL] + list(args), timeout=60)


def node_start_master_daemons(no_voting=False):
    result = _daemon_util("start-master")
    if result.failed:
        raise errors.RpcError("Could not start the master daemons: %s"
                              % result.describe_failure())
    return True


def node_stop_master():
    result = _daemon_util("stop-master")
    if result.failed:
        raise errors.RpcError("Could not stop the master daemons: %s"
                              % result.describe_failure())
    return True


def _check_master_params(params) -> tuple:
    _check(isinstance(params, dict), "Master parameters must be a dict")
    ip = params.get("ip")
    netdev = params.get("netdev")
    netmask = params.get("netmask")
    from ganeti import netutils
    _check(netutils.is_valid_ip(ip or ""), "Invalid master IP %r" % (ip,))
    _check(isinstance(netdev, str) and netdev and "/" not in netdev,
           "Invalid master netdev %r" % (netdev,))
    _check(isinstance(netmask, int) and 0 < netmask <= 128, "Invalid netmask %r" % (netmask,))
    return ip, netdev, netmask


def node_activate_master_ip(params, use_external_script=False):
    """Bring the cluster IP up; on loopback in a virtual cluster it is already local."""
    from ganeti import netutils
    ip, netdev, netmask = _check_master_params(params)
    if netutils.is_local_address(ip):
        return True
    result = process.run_cmd(["ip", "address", "add", "%s/%d" % (ip, netmask), "dev",
                              netdev, "label", "%s:0" % netdev], timeout=30)
    if result.failed:
        raise errors.RpcError("Could not activate the master IP %s on %s: %s"
                              % (ip, netdev, result.describe_failure()))
    return True


def node_deactivate_master_ip(params, use_external_script=False):
    ip, netdev, netmask = _check_master_params(params)
    if ip.startswith("127.") and netdev == "lo":
        return True
    result = process.run_cmd(["ip", "address", "del", "%s/%d" % (ip, netmask), "dev",
                              netdev], timeout=30)
    if result.failed and "Cannot assign" not in result.output:
        raise errors.RpcError("Could not deactivate the master IP: %s"
                              % result.describe_failure())
    return True


CLUSTER_FILES_TO_REMOVE = ("CLUSTER_CONF_FILE", "NODED_CERT_FILE", "NODED_CLIENT_CERT_FILE",
                           "RAPI_CERT_FILE", "CONFD_HMAC_KEY", "CLUSTER_DOMAIN_SECRET_FILE",
                           "SPICE_CERT_FILE", "SPICE_CACERT_FILE", "SSH_KNOWN_HOSTS_FILE")


def node_leave_cluster(modify_ssh_setup=False, keep_files=False):
    """Forget the cluster: remove its files, then ask noded to stop."""
    logging.info("Leaving the cluster: removing cluster files")
    if not keep_files:
        for attr in CLUSTER_FILES_TO_REMOVE:
            io.remove_file(getattr(pathutils, attr))
        if os.path.isdir(pathutils.DATA_DIR):
            for name in os.listdir(pathutils.DATA_DIR):
                if name.startswith("ssconf_"):
                    io.remove_file(os.path.join(pathutils.DATA_DIR, name))
        jobqueue_purge()
    # the other per-node daemons go too; noded itself stops after this answer
    for daemon in (constants.CONFD, constants.MOND):
        _daemon_util("stop", daemon)
    raise errors.QuitGanetiException(True, "Shutdown scheduled")


def bridges_exist(bridges):
    """Missing links among ``bridges``; a virtual cluster checks only existence."""
    _check(isinstance(bridges, list), "bridges_exist takes a list")
    missing = []
    for bridge in bridges:
        _check(isinstance(bridge, str) and bridge and "/" not in bridge and
               not bridge.startswith("."), "Invalid bridge name %r" % (bridge,))
        sysdir = "/sys/class/net/%s" % bridge
        if pathutils.is_virtual():
            ok = os.path.isdir(sysdir)
        else:
            ok = os.path.isdir(os.path.join(sysdir, "bridge"))
        if not ok:
            missing.append(bridge)
    if missing:
        raise errors.RpcError("Missing bridges %s" % ", ".join(missing))
    return True


def get_watcher_pause():
    try:
        return int(io.read_file(pathutils.WATCHER_PAUSEFILE).strip())
    except (OSError, ValueError):
        return None


def set_watcher_pause(until):
    if until is None:
        io.remove_file(pathutils.WATCHER_PAUSEFILE)
    else:
        _check(isinstance(until, (int, float)), "Invalid pause time %r" % (until,))
        io.write_file(pathutils.WATCHER_PAUSEFILE, "%d\n" % until, mode=0o644)
    return True
