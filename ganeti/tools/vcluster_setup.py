"""vcluster-setup: create a virtual cluster (node roots, wrapper scripts, one sshd).

Each virtual node is a directory (its GANETI_ROOTDIR) plus a loopback address; a single
sshd listens on all node addresses and presents the cluster's shared host key.
"""

import argparse
import errno
import ipaddress
import os
import re
import shlex
import signal
import socket
import sys
import time
from dataclasses import dataclass

from ganeti import _autoconf, pathutils
from ganeti.utils import io as utils_io
from ganeti.utils.process import is_process_alive, read_pid_file, run_cmd

DEFAULT_NODE_COUNT = 5
DEFAULT_INSTANCE_COUNT = 20
DEFAULT_PREFIX = "127.0.1"
DEFAULT_NETDEV = "lo"
DEFAULT_SSH_PORT = 22
CLUSTER_NAME = "cluster"
CLUSTER_OCTET = 1
NODE_FIRST_OCTET = 10
INSTANCE_FIRST_OCTET = 100
MAX_NODES = INSTANCE_FIRST_OCTET - NODE_FIRST_OCTET
MAX_INSTANCES = 255 - INSTANCE_FIRST_OCTET

HOSTS_FILE = pathutils.ETC_HOSTS
SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
SSHD_PRIVSEP_DIR = "/run/sshd"
HOST_KEY_TYPES = ("ed25519", "rsa")
CLIENT_KEY_NAME = "id_rsa"
CLIENT_KEY_BITS = "2048"
SCRIPTS = ("start-all", "stop-all", "restart-all", "watcher-all")

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# The directory ends up in sshd_config (where '%' and blanks are special), in shell
# scripts and in /etc/hosts comments: keep it to unremarkable characters.
_SAFE_DIR_RE = re.compile(r"^/[A-Za-z0-9._+@,=/-]*$")
_KEYGEN_TIMEOUT = 120
_SSHD_START_TIMEOUT = 10.0


class SetupError(Exception):
    """vcluster-setup cannot do what was asked; the message says why."""


@dataclass(frozen=True)
class Layout:
    """Names and addresses of a virtual cluster."""
    cluster_dir: str
    prefix: str
    cluster: tuple[str, str]
    nodes: list[tuple[str, str]]
    instances: list[tuple[str, str]]

    def node_root(self, name: str) -> str:
        return os.path.join(self.cluster_dir, name)

    def host_entries(self) -> list[tuple[str, str]]:
        """(address, name) pairs for /etc/hosts: cluster, nodes, instances."""
        return [self.cluster[::-1]] + [(ip, n) for n, ip in self.nodes] + \
            [(ip, n) for n, ip in self.instances]


def check_prefix(prefix: str) -> str:
    """Validate a three-octet prefix inside 127.0.0.0/8 and return it normalised."""
    prefix = prefix.rstrip(".")
    octets = prefix.split(".")
    if len(octets) != 3 or not all(o.isdigit() and int(o) <= 255 for o in octets):
        raise SetupError(f"Invalid IP prefix {prefix!r}: expected three octets such"
                         f" as {DEFAULT_PREFIX}")
    prefix = ".".join(str(int(o)) for o in octets)
    if ipaddress.ip_address(prefix + ".1") not in _LOOPBACK:
        raise SetupError(f"IP prefix {prefix} is outside 127.0.0.0/8; virtual clusters"
                         " on this machine may only use loopback addresses")
    return prefix


def check_cluster_dir(path: str) -> str:
    path = os.path.normpath(os.path.abspath(path))
    if path == "/" or not _SAFE_DIR_RE.match(path):
        raise SetupError(f"Unsuitable cluster directory {path!r}: use an absolute path"
                         " other than / made of letters, digits and ._+@,=-")
    if os.path.exists(path) and not os.path.isdir(path):
        raise SetupError(f"{path} exists and is not a directory")
    return path


def make_layout(cluster_dir: str, prefix: str, node_count: int,
                instance_count: int) -> Layout:
    if not 1 <= node_count <= MAX_NODES:
        raise SetupError(f"Number of nodes must be between 1 and {MAX_NODES}")
    if not 0 <= instance_count <= MAX_INSTANCES:
        raise SetupError(f"Number of instances must be between 0 and {MAX_INSTANCES}")
    return Layout(
        cluster_dir=cluster_dir, prefix=prefix,
        cluster=(CLUSTER_NAME, f"{prefix}.{CLUSTER_OCTET}"),
        nodes=[(f"node{k}", f"{prefix}.{NODE_FIRST_OCTET + k - 1}")
               for k in range(1, node_count + 1)],
        instances=[(f"instance{k}", f"{prefix}.{INSTANCE_FIRST_OCTET + k - 1}")
                   for k in range(1, instance_count + 1)])


def node_paths(node_root: str) -> dict[str, str]:
    """The node-local directories and files the daemons of a virtual node use.

    Derived from the build settings the way ``pathutils`` derives them, so that a
    node root always matches the copy of the software that runs in it.
    """
    sysconf, localstate = _autoconf.SYSCONFDIR, _autoconf.LOCALSTATEDIR
    conf_dir = node_root + os.path.join(sysconf, "ganeti")
    return {
        "conf_dir": conf_dir,
        "default_dir": node_root + "/etc/default",
        "ssh_config_dir": node_root + _autoconf.SSH_CONFIG_DIR,
        "ssh_root_dir": node_root + "/root/.ssh",
        "data_dir": node_root + os.path.join(localstate, "lib", "ganeti"),
        "run_dir": node_root + os.path.join(localstate, "run", "ganeti"),
        "log_dir": node_root + os.path.join(localstate, "log", "ganeti"),
        "lock_dir": node_root + os.path.join(localstate, "lock"),
        "file_storage_dir": node_root + _autoconf.FILE_STORAGE_DIR,
        "shared_file_storage_dir": node_root + _autoconf.SHARED_FILE_STORAGE_DIR,
        "export_dir": node_root + _autoconf.EXPORT_DIR,
        "default_file": node_root + "/etc/default/ganeti",
        "file_storage_paths": os.path.join(conf_dir, "file-storage-paths"),
    }


_NODE_DIR_KEYS = ("conf_dir", "default_dir", "ssh_config_dir", "ssh_root_dir",
                  "data_dir", "run_dir", "log_dir", "lock_dir", "file_storage_dir",
                  "shared_file_storage_dir", "export_dir")
# The layout of a standard build (--sysconfdir=/etc --localstatedir=/var); created
# too when the running copy was built differently (e.g. the development copy), so
# that a node root looks the same whichever copy runs in it.
STANDARD_NODE_DIRS = ("etc/ganeti", "etc/default", "etc/ssh", "root/.ssh",
                      "var/lib/ganeti", "var/run/ganeti", "var/log/ganeti",
                      "var/lock", "srv/ganeti/file-storage",
                      "srv/ganeti/shared-file-storage", "srv/ganeti/export")


# Generated file contents (pure functions)

def default_file_text(address: str) -> str:
    # Daemons that run on every node bind to the node's own address so that the
    # virtual nodes sharing this machine do not fight over one port.
    return (
        "# Generated by vcluster-setup\n"
        f'NODED_ARGS="-b {address}"\n'
        f'CONFD_ARGS="-b {address}"\n'
        f'MOND_ARGS="-b {address}"\n'
        f'RAPI_ARGS="-b {address}"\n'
        'MASTERD_ARGS=""\n'
        'LUXID_ARGS=""\n')


def file_storage_paths_text(paths: dict[str, str]) -> str:
    return f"{paths['file_storage_dir']}\n{paths['shared_file_storage_dir']}\n"


def cmd_wrapper_text(node_root: str, hostname: str, sbin_dir: str) -> str:
    q = shlex.quote
    return (
        "#!/bin/sh\n"
        f"# Generated by vcluster-setup: run a command as virtual node {hostname}\n"
        'if [ "$#" -eq 0 ]; then\n'
        '  echo "Usage: $0 COMMAND [ARGUMENT...]" >&2\n'
        "  exit 2\n"
        "fi\n"
        f"GANETI_ROOTDIR={q(node_root)}\n"
        f"GANETI_HOSTNAME={q(hostname)}\n"
        f'PATH={q(sbin_dir)}:"$PATH"\n'
        "export GANETI_ROOTDIR GANETI_HOSTNAME PATH\n"
        'exec "$@"\n')


def _sshd_control_line(cluster_dir: str, action: str) -> str:
    """Shell line that runs this very copy of the tool to control the sshd."""
    q = shlex.quote
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(pathutils.__file__)))
    return (f"env -u GANETI_ROOTDIR -u GANETI_HOSTNAME PYTHONPATH={q(pkg_parent)}"
            f" {q(sys.executable)} -P -m ganeti.tools.vcluster_setup --sshd {action}"
            f" {q(cluster_dir)}")


def scripts_text(layout: Layout, daemon_util: str,
                 sbin_dir: str) -> dict[str, str]:
    """Contents of start-all, stop-all, restart-all and watcher-all."""
    q = shlex.quote
    cdir = layout.cluster_dir
    header = "#!/bin/sh\n# Generated by vcluster-setup for the virtual cluster in " \
        f"{cdir}\n"
    cmds = [q(os.path.join(layout.node_root(name), "cmd")) for name, _ in layout.nodes]

    def per_node(arguments: str) -> str:
        return "".join(f"{cmd} {arguments} || rc=1\n" for cmd in cmds)

    watcher = os.path.join(sbin_dir, "ganeti-watcher")
    return {
        "start-all": (header + "rc=0\n"
                      + f"{_sshd_control_line(cdir, 'start')} || exit 1\n"
                      + per_node(f"{q(daemon_util)} start-all")
                      + 'exit "$rc"\n'),
        "stop-all": (header + "rc=0\n"
                     + per_node(f"{q(daemon_util)} stop-all")
                     + f"{_sshd_control_line(cdir, 'stop')} || rc=1\n"
                     + 'exit "$rc"\n'),
        "restart-all": (header + f"{q(os.path.join(cdir, 'stop-all'))}\n"
                        + f"exec {q(os.path.join(cdir, 'start-all'))}\n"),
        "watcher-all": (header + f"watcher={q(watcher)}\n"
                        + 'if [ ! -x "$watcher" ]; then\n'
                        + '  echo "$watcher does not exist; not running the'
                        + ' watcher" >&2\n'
                        + "  exit 0\n"
                        + "fi\n"
                        + "rc=0\n"
                        + per_node('"$watcher" "$@"')
                        + 'exit "$rc"\n'),
    }


def sshd_paths(cluster_dir: str) -> dict[str, str]:
    ssh_dir = os.path.join(cluster_dir, "ssh")
    return {
        "dir": ssh_dir,
        "config": os.path.join(ssh_dir, "sshd_config"),
        "pid": os.path.join(ssh_dir, "sshd.pid"),
        "log": os.path.join(ssh_dir, "sshd.log"),
        "authorized_keys": os.path.join(ssh_dir, "authorized_keys"),
        "client_key": os.path.join(ssh_dir, CLIENT_KEY_NAME),
    }


def sshd_config_text(layout: Layout, port: int) -> str:
    sp = sshd_paths(layout.cluster_dir)
    lines = [f"# Generated by vcluster-setup for {layout.cluster_dir}"]
    lines += [f"ListenAddress {ip}:{port}" for _, ip in layout.nodes]
    lines += [f"HostKey {os.path.join(sp['dir'], f'ssh_host_{t}_key')}"
              for t in HOST_KEY_TYPES]
    lines += [
        f"PidFile {sp['pid']}",
        f"AuthorizedKeysFile {sp['authorized_keys']}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitUserEnvironment no",
        "X11Forwarding no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        # Parallel cluster operations open many sessions at once
        "MaxStartups 100:30:200",
        "Subsystem sftp internal-sftp",
        "LogLevel INFO",
        "AcceptEnv GANETI_*",
    ]
    # Each virtual node additionally honours its own root's authorized_keys, so
    # that key changes Ganeti makes on a node take effect for that node only.
    for name, ip in layout.nodes:
        node_keys = os.path.join(node_paths(layout.node_root(name))["ssh_root_dir"],
                                 "authorized_keys")
        lines += [f"Match LocalAddress {ip}",
                  f"    AuthorizedKeysFile {sp['authorized_keys']} {node_keys}"]
    return "\n".join(lines) + "\n"


# /etc/hosts

def _hosts_markers(cluster_dir: str) -> tuple[str, str]:
    return (f"# BEGIN ganeti vcluster {cluster_dir}",
            f"# END ganeti vcluster {cluster_dir}")


def render_hosts(text: str, cluster_dir: str,
                 entries: list[tuple[str, str]]) -> str:
    """Return ``text`` with the block of ``cluster_dir`` set to ``entries``.

    The block replaces any earlier one of the same directory in place (or is
    appended); everything else is kept.  No entries removes the block.
    """
    begin, end = _hosts_markers(cluster_dir)
    lines = text.splitlines()
    out: list[str] = []
    insert_at = None
    i = 0
    while i < len(lines):
        if lines[i].strip() != begin:
            out.append(lines[i])
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() != end:
            j += 1
        if j == len(lines):
            raise SetupError(f"Found '{begin}' without a matching '{end}' line;"
                             " fix the hosts file by hand")
        if insert_at is None:
            insert_at = len(out)
        i = j + 1
    if entries:
        block = [begin] + [f"{ip} {name}" for ip, name in entries] + [end]
        if insert_at is None:
            insert_at = len(out)
        out[insert_at:insert_at] = block
    return "".join(line + "\n" for line in out)


def hosts_conflicts(text: str, cluster_dir: str,
                    entries: list[tuple[str, str]]) -> list[str]:
    """Names of ``entries`` that lines outside our block map to another address."""
    wanted = {name: ip for ip, name in entries}
    others = render_hosts(text, cluster_dir, [])
    found = []
    for line in others.splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            if name in wanted and fields[0] != wanted[name]:
                found.append(f"{name} is also mapped to {fields[0]}")
    return found


def update_hosts_file(path: str, cluster_dir: str,
                      entries: list[tuple[str, str]]) -> bool:
    """Set the block of ``cluster_dir`` in hosts file ``path``; True if changed."""
    try:
        old = utils_io.read_file(path)
        st = os.stat(path)
        mode, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
    except FileNotFoundError:
        old, mode, uid, gid = "", 0o644, -1, -1
    new = render_hosts(old, cluster_dir, entries)
    if new == old:
        return False
    try:
        utils_io.write_file(path, new, mode=mode, uid=uid, gid=gid)
    except OSError as err:
        # A bind-mounted hosts file (containers) cannot be replaced by rename;
        # rewriting it in place is the only option there.
        if err.errno not in (errno.EBUSY, errno.EXDEV):
            raise
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(new)
    return True


# Setup steps

def _write_if_changed(path: str, data: str, mode: int) -> None:
    try:
        if utils_io.read_file(path) == data and \
                (os.stat(path).st_mode & 0o7777) == mode:
            return
    except OSError:
        pass
    utils_io.write_file(path, data, mode=mode)


def _keygen(path: str, key_type: str, comment: str, bits: str | None = None) -> None:
    if os.path.exists(path):
        return
    cmd = [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-C", comment, "-f", path]
    if bits:
        cmd += ["-b", bits]
    result = run_cmd(cmd, timeout=_KEYGEN_TIMEOUT)
    if result.failed:
        raise SetupError(f"Cannot generate SSH key {path}: "
                         f"{result.describe_failure()}")


def _copy_if_missing(src: str, dst: str, mode: int) -> None:
    if not os.path.exists(dst):
        utils_io.write_file(dst, utils_io.read_binary(src), mode=mode)


def setup_ssh(layout: Layout, port: int) -> None:
    """Keys (generated once), sshd_config and the per-node copies of the keys."""
    sp = sshd_paths(layout.cluster_dir)
    utils_io.make_dirs(sp["dir"], 0o755)
    for key_type in HOST_KEY_TYPES:
        _keygen(os.path.join(sp["dir"], f"ssh_host_{key_type}_key"), key_type,
                f"vcluster host key {layout.cluster_dir}")
    _keygen(sp["client_key"], "rsa", f"root@vcluster {layout.cluster_dir}",
            CLIENT_KEY_BITS)
    pub = utils_io.read_file(sp["client_key"] + ".pub").strip()
    try:
        authorized = utils_io.read_file(sp["authorized_keys"])
    except FileNotFoundError:
        authorized = ""
    if pub not in authorized.splitlines():
        utils_io.write_file(sp["authorized_keys"], authorized + pub + "\n",
                            mode=0o644)
    _write_if_changed(sp["config"], sshd_config_text(layout, port), 0o644)
    # Existing copies are left alone: Ganeti may have replaced them on purpose
    for name, _ in layout.nodes:
        paths = node_paths(layout.node_root(name))
        for key_type in HOST_KEY_TYPES:
            base = f"ssh_host_{key_type}_key"
            src = os.path.join(sp["dir"], base)
            dst = os.path.join(paths["ssh_config_dir"], base)
            _copy_if_missing(src, dst, 0o600)
            _copy_if_missing(src + ".pub", dst + ".pub", 0o644)
        dst = os.path.join(paths["ssh_root_dir"], CLIENT_KEY_NAME)
        _copy_if_missing(sp["client_key"], dst, 0o600)
        _copy_if_missing(sp["client_key"] + ".pub", dst + ".pub", 0o644)


def setup_node(layout: Layout, name: str, address: str, sbin_dir: str) -> None:
    root = layout.node_root(name)
    paths = node_paths(root)
    dirs = [paths[key] for key in _NODE_DIR_KEYS]
    dirs += [os.path.join(root, rel) for rel in STANDARD_NODE_DIRS]
    for path in dirs:
        utils_io.make_dirs(path, 0o700 if path == paths["ssh_root_dir"] else 0o755)
    _write_if_changed(paths["default_file"], default_file_text(address), 0o644)
    storage_paths = file_storage_paths_text(paths)
    for path in {paths["file_storage_paths"],
                 os.path.join(root, "etc/ganeti/file-storage-paths")}:
        _write_if_changed(path, storage_paths, 0o644)
    _write_if_changed(os.path.join(root, "cmd"),
                      cmd_wrapper_text(root, name, sbin_dir), 0o755)


def configure_addresses(netdev: str, addresses: list[str]) -> None:
    """Add the addresses to ``netdev``; nothing to do on lo (127/8 is local)."""
    if netdev == "lo":
        return
    shown = run_cmd(["ip", "-o", "-4", "addr", "show", "dev", netdev], timeout=30)
    if shown.failed:
        raise SetupError(f"Cannot list the addresses of {netdev}: "
                         f"{shown.describe_failure()}")
    for address in addresses:
        if f" {address}/" in shown.stdout:
            continue
        result = run_cmd(["ip", "addr", "add", f"{address}/32", "dev", netdev],
                         timeout=30)
        if result.failed:
            raise SetupError(f"Cannot add {address} to {netdev}: "
                             f"{result.describe_failure()}")


def run_init_script(script: str, layout: Layout) -> None:
    for name, _ in layout.nodes:
        result = run_cmd([script, name, layout.node_root(name)], timeout=600)
        if result.failed:
            raise SetupError(f"Init script failed for {name}: "
                             f"{result.describe_failure()}")


def setup(opts: argparse.Namespace) -> Layout:
    cluster_dir = check_cluster_dir(opts.directory)
    layout = make_layout(cluster_dir, check_prefix(opts.prefix), opts.nodes,
                         opts.instances)
    if not 1 <= opts.ssh_port <= 65535:
        raise SetupError(f"Invalid SSH port {opts.ssh_port}")
    if opts.init_script and not os.access(opts.init_script, os.X_OK):
        raise SetupError(f"Init script {opts.init_script} is not executable")
    sbin_dir, daemon_util = pathutils.SBIN_DIR, pathutils.DAEMON_UTIL
    utils_io.make_dirs(cluster_dir, 0o755)
    if not opts.no_network:
        configure_addresses(opts.netdev, [ip for _, ip in layout.nodes])
    for name, address in layout.nodes:
        setup_node(layout, name, address, sbin_dir)
    setup_ssh(layout, opts.ssh_port)
    for script, text in scripts_text(layout, daemon_util, sbin_dir).items():
        _write_if_changed(os.path.join(cluster_dir, script), text, 0o755)
    try:
        os.makedirs(SSHD_PRIVSEP_DIR, mode=0o755, exist_ok=True)
    except OSError as err:
        print(f"Warning: cannot create {SSHD_PRIVSEP_DIR} for sshd: {err}",
              file=sys.stderr)
    # The cluster's own hosts file: virtual nodes resolve names through it first, so
    # several virtual clusters with the same node names can run side by side.
    _write_if_changed(os.path.join(cluster_dir, "hosts"),
                      "".join(f"{ip} {name}\n" for ip, name in layout.host_entries()),
                      0o644)
    if not opts.no_etc_hosts:
        entries = layout.host_entries()
        hosts = utils_io.read_file(HOSTS_FILE) if os.path.exists(HOSTS_FILE) else ""
        for conflict in hosts_conflicts(hosts, cluster_dir, entries):
            print(f"Warning: {HOSTS_FILE}: {conflict}", file=sys.stderr)
        update_hosts_file(HOSTS_FILE, cluster_dir, entries)
    if opts.init_script:
        run_init_script(opts.init_script, layout)
    return layout


# The vcluster sshd

def _listen_addresses(config: str) -> list[tuple[str, int]]:
    found = []
    for line in utils_io.read_file(config).splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "ListenAddress":
            host, _, port = fields[1].rpartition(":")
            found.append((host, int(port)))
    return found


def _is_our_sshd(pid: int, config: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return False
    # sshd rewrites its title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener]");
    # the configuration path survives that.
    return "sshd" in cmdline and f"-f {config}" in cmdline


def sshd_pid(cluster_dir: str) -> int:
    """Pid of this cluster's running sshd, or 0."""
    sp = sshd_paths(cluster_dir)
    pid = read_pid_file(sp["pid"])
    if pid and is_process_alive(pid) and _is_our_sshd(pid, sp["config"]):
        return pid
    return 0


def busy_addresses(addresses: list[tuple[str, int]]) -> list[str]:
    busy = []
    for host, port in addresses:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR ignores lingering TIME_WAIT, not listening sockets
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as err:
                busy.append(f"{host}:{port} ({err.strerror})")
    return busy


def start_sshd(cluster_dir: str) -> int:
    """Start the cluster's sshd unless it already runs; return its pid."""
    sp = sshd_paths(cluster_dir)
    if not os.path.exists(SSHD):
        raise SetupError(f"{SSHD} is missing; install it with:"
                         " apt-get install openssh-server")
    if not os.path.exists(sp["config"]):
        raise SetupError(f"{sp['config']} does not exist; run vcluster-setup first")
    pid = sshd_pid(cluster_dir)
    if pid:
        print(f"The vcluster sshd is already running (pid {pid})")
        return pid
    addresses = _listen_addresses(sp["config"])
    busy = busy_addresses(addresses)
    if busy:
        raise SetupError("Cannot start the vcluster sshd, something else already"
                         f" listens on {', '.join(busy)}; stop it or re-run"
                         " vcluster-setup with another port (-s PORT)")
    os.makedirs(SSHD_PRIVSEP_DIR, mode=0o755, exist_ok=True)
    utils_io.remove_file(sp["pid"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANETI_")}
    result = run_cmd([SSHD, "-f", sp["config"], "-E", sp["log"]], env=env,
                     reset_env=True, timeout=30)
    if result.failed:
        raise SetupError(f"Cannot start the vcluster sshd: "
                         f"{result.describe_failure()} (see {sp['log']})")
    # sshd writes its pid file once it listens on all addresses
    deadline = time.monotonic() + _SSHD_START_TIMEOUT
    while time.monotonic() < deadline and not sshd_pid(cluster_dir):
        time.sleep(0.02)
    pid = sshd_pid(cluster_dir)
    if not pid:
        raise SetupError(f"The vcluster sshd did not come up; see {sp['log']}")
    print(f"Started the vcluster sshd (pid {pid})")
    return pid


def stop_sshd(cluster_dir: str) -> None:
    """Stop the cluster's sshd, found by its pid file (only if it really is it)."""
    sp = sshd_paths(cluster_dir)
    pid = read_pid_file(sp["pid"])
    if not pid or not is_process_alive(pid):
        utils_io.remove_file(sp["pid"])
        print("The vcluster sshd is not running")
        return
    if not _is_our_sshd(pid, sp["config"]):
        print(f"Pid file {sp['pid']} names process {pid}, which is not the vcluster"
              " sshd; not killing it", file=sys.stderr)
        utils_io.remove_file(sp["pid"])
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while is_process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_process_alive(pid):
        os.kill(pid, signal.SIGKILL)
    utils_io.remove_file(sp["pid"])
    print(f"Stopped the vcluster sshd (pid {pid})")


def sshd_control(action: str, cluster_dir: str) -> int:
    cluster_dir = os.path.normpath(os.path.abspath(cluster_dir))
    if action == "start":
        start_sshd(cluster_dir)
    elif action == "stop":
        stop_sshd(cluster_dir)
    else:
        pid = sshd_pid(cluster_dir)
        print(f"running (pid {pid})" if pid else "not running")
        return 0 if pid else 3
    return 0


# Command line

_DESCRIPTION = """\
Create a virtual cluster in DIRECTORY: one root directory per node (DIR/nodeK, used as
GANETI_ROOTDIR) with its own configuration, data and SSH directories and a DIR/nodeK/cmd
wrapper that runs a command as that node; DIR/start-all, stop-all, restart-all and
watcher-all; and one sshd (configured in DIR/ssh, started by start-all) that listens on
every node address and presents the cluster's shared host key.

Addresses: cluster "cluster" at PREFIX.1, nodes node1..nodeN at PREFIX.10.., instances
instance1..instanceM at PREFIX.100... PREFIX must lie inside 127.0.0.0/8: virtual
clusters on this machine only use loopback addresses. The names are written to
/etc/hosts in a block marked with DIRECTORY (replaced on every run) unless -E is given.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcluster-setup", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-E", dest="no_etc_hosts", action="store_true",
                        help="do not modify /etc/hosts")
    parser.add_argument("-N", dest="no_network", action="store_true",
                        help="do not add the node addresses to NETDEV; addresses in"
                        " 127.0.0.0/8 need no alias on lo, so with the default"
                        " NETDEV (lo) this changes nothing")
    parser.add_argument("-c", dest="nodes", type=int, default=DEFAULT_NODE_COUNT,
                        metavar="NODES",
                        help=f"number of nodes (default {DEFAULT_NODE_COUNT})")
    parser.add_argument("-i", dest="instances", type=int,
                        default=DEFAULT_INSTANCE_COUNT, metavar="INSTANCES",
                        help="number of instance names to create (default"
                        f" {DEFAULT_INSTANCE_COUNT})")
    parser.add_argument("-p", dest="prefix", default=DEFAULT_PREFIX,
                        metavar="PREFIX",
                        help="first three octets of the addresses, inside"
                        f" 127.0.0.0/8 (default {DEFAULT_PREFIX})")
    parser.add_argument("-n", dest="netdev", default=DEFAULT_NETDEV,
                        metavar="NETDEV",
                        help=f"network device for the node addresses (default"
                        f" {DEFAULT_NETDEV})")
    parser.add_argument("-I", dest="init_script", metavar="INITSCRIPT",
                        help="run 'INITSCRIPT NODENAME NODEROOT' once per node at the"
                        " end of the setup")
    parser.add_argument("-s", dest="ssh_port", type=int, default=DEFAULT_SSH_PORT,
                        metavar="SSH_PORT",
                        help=f"port of the vcluster sshd (default {DEFAULT_SSH_PORT})")
    # Internal: used by the generated start-all/stop-all scripts
    parser.add_argument("--sshd", choices=("start", "stop", "status"),
                        help=argparse.SUPPRESS)
    parser.add_argument("directory", metavar="DIRECTORY",
                        help="cluster directory (created if missing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    opts = build_parser().parse_args(argv)
    try:
        if opts.sshd:
            return sshd_control(opts.sshd, opts.directory)
        layout = setup(opts)
    except SetupError as err:
        print(f"vcluster-setup: error: {err}", file=sys.stderr)
        return 1
    print(f"Virtual cluster in {layout.cluster_dir}: {len(layout.nodes)} nodes"
          f" ({layout.nodes[0][1]}..{layout.nodes[-1][1]}),"
          f" {len(layout.instances)} instance names, cluster name"
          f" {layout.cluster[0]} ({layout.cluster[1]})")
    print(f"Start the sshd and all daemons with {layout.cluster_dir}/start-all;"
          f" run commands as a node with {layout.cluster_dir}/node1/cmd COMMAND")
    return 0


if __name__ == "__main__":
    sys.exit(main())
