"""SSH client (paramiko) for talking to nodes as root, e.g. during ``gnt-node add``.

All nodes of a cluster share the cluster's SSH host key, so every node's key is
checked against the known_hosts entry of the cluster name; other keys are refused.
"""

import base64
import os
import re
import select
import shlex
import time

import paramiko

from ganeti import errors, pathutils
from ganeti.utils import io as utils_io
from ganeti.utils.process import RunResult

# Client keys tried, in this order, when no key file is given
DEFAULT_KEY_NAMES = ("id_rsa", "id_ed25519", "id_ecdsa")
# Host public keys tried, in this order, by read_host_public_key
HOST_KEY_TYPES = ("ed25519", "rsa", "ecdsa")

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_READ_CHUNK = 65536


class SshHostKeyError(errors.GenericError):
    """A node presented an SSH host key other than the cluster's known one."""


class SshAuthError(errors.OpExecError):
    """The node refused the offered client key (another key may be tried)."""


def vcluster_env_for(hostname: str) -> dict:
    """Environment that makes a command act as virtual node ``hostname``.

    Empty outside a virtual cluster.
    """
    if not pathutils.is_virtual():
        return {}
    return {
        pathutils.ENV_ROOTDIR: pathutils.node_root_of(hostname),
        pathutils.ENV_HOSTNAME: hostname,
    }


def build_remote_command(command: list, env: dict | None = None) -> str:
    """Quote an argument list for the remote shell, prefixed by ``env K=V ...``.

    The environment travels in the command line rather than as SSH "env" requests
    because sshd drops variables its AcceptEnv does not list.
    """
    if isinstance(command, str) or not command:
        raise errors.ProgrammerError("SSH command must be a non-empty argument list")
    parts = []
    if env:
        parts.append("env")
        for name in sorted(env):
            if not _ENV_NAME_RE.match(name):
                raise errors.ProgrammerError(f"Invalid environment variable {name!r}")
            parts.append(shlex.quote(f"{name}={env[name]}"))
    parts.extend(shlex.quote(str(arg)) for arg in command)
    return " ".join(parts)


def _split_public_key(line: str) -> tuple[str, str]:
    """Return (type, base64) of an OpenSSH public key line, checking the encoding."""
    fields = line.split()
    if len(fields) < 2:
        raise errors.OpExecError(f"Malformed SSH public key: {line[:100]!r}")
    key_type, blob = fields[0], fields[1]
    try:
        decoded = base64.b64decode(blob, validate=True)
    except ValueError:
        raise errors.OpExecError(
            f"Malformed SSH public key (bad base64): {line[:100]!r}") from None
    # The blob starts with the key type as an SSH string; a mismatch means garbage
    if decoded[4:4 + len(key_type)] != key_type.encode("ascii", "replace"):
        raise errors.OpExecError(
            f"SSH public key blob does not match its type {key_type}")
    return key_type, blob


def read_host_public_key(ssh_config_dir: str = pathutils.SSH_CONFIG_DIR) -> str:
    """Return "type base64" of this host's SSH public host key.

    Preference: ed25519, then rsa, then ecdsa.
    """
    tried = []
    for key_type in HOST_KEY_TYPES:
        path = os.path.join(ssh_config_dir, f"ssh_host_{key_type}_key.pub")
        tried.append(path)
        try:
            content = utils_io.read_file(path).strip()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise errors.OpExecError(
                f"Cannot read SSH host key {path}: {err}") from None
        key_type, blob = _split_public_key(content)
        return f"{key_type} {blob}"
    raise errors.OpExecError(
        f"No SSH host public key found (looked for {', '.join(tried)})")


def write_known_hosts(path: str, cluster_name: str, host_pub_key_line: str) -> None:
    """Write a known_hosts file whose only entry maps the cluster name to the key."""
    if not cluster_name or any(c.isspace() for c in cluster_name):
        raise errors.ProgrammerError(f"Invalid cluster name {cluster_name!r}")
    key_type, blob = _split_public_key(host_pub_key_line)
    utils_io.write_file(path, f"{cluster_name} {key_type} {blob}\n",
                        mode=0o644)


def _host_key_algorithms(key_type: str) -> set:
    """Host key algorithms a server may use to prove a key of ``key_type``."""
    if key_type == "ssh-rsa":
        return {"ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"}
    return {key_type}


class _RejectUnknownKey(paramiko.MissingHostKeyPolicy):
    """Refuse any host key not present in our known keys (never add or warn)."""

    def __init__(self, host: str, address: str, cluster_name: str,
                 known_hosts_file: str):
        self._host = host
        self._address = address
        self._cluster_name = cluster_name
        self._known_hosts_file = known_hosts_file

    def missing_host_key(self, client, hostname, key):
        raise SshHostKeyError(
            f"SSH host key of node {self._host} ({self._address}) is unknown:"
            f" {self._known_hosts_file} has no {key.get_name()} key for the"
            f" cluster name {self._cluster_name}")


class SshRunner:
    """Runs commands on nodes over SSH with the cluster's root key."""

    def __init__(self, cluster_name: str,
                 known_hosts_file: str = pathutils.SSH_KNOWN_HOSTS_FILE,
                 key_file: str | None = None, user: str = "root",
                 connect_timeout: float = 10):
        self.cluster_name = cluster_name
        self.known_hosts_file = known_hosts_file
        self.key_file = key_file
        self.user = user
        self.connect_timeout = connect_timeout
        self._pkey = None

    # Key handling

    def _resolve_key_file(self) -> str:
        if self.key_file:
            return self.key_file
        candidates = [os.path.join(pathutils.SSH_ROOT_DIR, name)
                      for name in DEFAULT_KEY_NAMES]
        for path in candidates:
            if os.path.isfile(path):
                return path
        raise errors.OpExecError(f"No SSH private key found for {self.user}"
                                 f" (looked for {', '.join(candidates)})")

    def _load_private_key(self) -> paramiko.PKey:
        if self._pkey is None:
            path = self._resolve_key_file()
            if not os.path.isfile(path):
                raise errors.OpExecError(
                    f"SSH private key file {path} does not exist")
            try:
                self._pkey = paramiko.PKey.from_path(path)
            except (OSError, paramiko.SSHException, ValueError) as err:
                raise errors.OpExecError(
                    f"Cannot load SSH private key {path}: {err}") from None
        return self._pkey

    def _known_cluster_keys(self) -> dict:
        """Known host keys of the cluster name, as {key type: PKey}."""
        host_keys = paramiko.HostKeys()
        try:
            host_keys.load(self.known_hosts_file)
        except FileNotFoundError:
            raise SshHostKeyError(
                f"Known hosts file {self.known_hosts_file} does not exist;"
                " cannot verify SSH host keys") from None
        except (OSError, paramiko.SSHException, ValueError) as err:
            raise SshHostKeyError(
                f"Cannot read known hosts file {self.known_hosts_file}: {err}"
            ) from None
        entry = host_keys.lookup(self.cluster_name)
        if not entry:
            raise SshHostKeyError(
                f"Known hosts file {self.known_hosts_file} has no usable key for"
                f" the cluster name {self.cluster_name}")
        return {key_type: entry[key_type] for key_type in entry}

    # Connection

    def _mismatch_message(self, host: str, address: str) -> str:
        return (f"SSH host key of node {host} ({address}) does not match the"
                f" cluster's known host key ({self.known_hosts_file} entry for"
                f" {self.cluster_name})")

    def _connect(self, host: str, address: str, port: int) -> paramiko.SSHClient:
        known = self._known_cluster_keys()
        pkey = self._load_private_key()
        where = f"node {host} ({address} port {port})"

        client = paramiko.SSHClient()
        # Known keys are registered under the name paramiko looks up for this address,
        # so that its own comparison applies; the cluster name acts as the host key
        # alias for every node.
        lookup_name = address if port == 22 else f"[{address}]:{port}"
        for key_type, key in known.items():
            client.get_host_keys().add(lookup_name, key_type, key)
        client.set_missing_host_key_policy(
            _RejectUnknownKey(host, address, self.cluster_name, self.known_hosts_file))
        allowed = set()
        for key_type in known:
            allowed |= _host_key_algorithms(key_type)
        # Offering only the known key types makes the server prove one of them;
        # the checks above and below reject anything else regardless.
        disabled = [alg for alg in getattr(paramiko.Transport, "_preferred_keys", ())
                    if alg not in allowed]
        try:
            client.connect(address, port=port, username=self.user, pkey=pkey,
                           timeout=self.connect_timeout,
                           banner_timeout=self.connect_timeout,
                           auth_timeout=self.connect_timeout,
                           allow_agent=False, look_for_keys=False,
                           disabled_algorithms={"keys": disabled})
        except SshHostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException:
            client.close()
            raise SshHostKeyError(
                self._mismatch_message(host, address)) from None
        except paramiko.AuthenticationException as err:
            client.close()
            raise SshAuthError(
                f"SSH authentication as {self.user} to {where} with key"
                f" {self._resolve_key_file()} failed: {err}") from None
        except paramiko.SSHException as err:
            client.close()
            text = str(err).lower()
            if "no acceptable host key" in text or "incompatible ssh peer" in text:
                raise SshHostKeyError(
                    f"{self._mismatch_message(host, address)}: the node offers no"
                    f" key of type {', '.join(sorted(known))}") from None
            raise errors.OpExecError(
                f"SSH connection to {where} failed: {err}") from None
        except (OSError, EOFError) as err:
            client.close()
            reason = err or err.__class__.__name__
            if isinstance(err, paramiko.ssh_exception.NoValidConnectionsError):
                reason = "; ".join(sorted({e.strerror or str(e)
                                           for e in err.errors.values()}))
            raise errors.OpExecError(
                f"Cannot connect via SSH to {where}: {reason}") from None

        # Double check independently of paramiko's own logic before using the session
        server_key = client.get_transport().get_remote_server_key()
        expected = known.get(server_key.get_name())
        if expected is None or expected.asbytes() != server_key.asbytes():
            client.close()
            raise SshHostKeyError(
                self._mismatch_message(host, address))
        return client

    def run(self, host: str, address: str, port: int, command: list,
            stdin_data: bytes | str | None = None, env: dict | None = None,
            timeout: float = 300) -> RunResult:
        """Run ``command`` (argument list) on ``host`` reached at ``address:port``.

        In a virtual cluster the node's GANETI_ROOTDIR/GANETI_HOSTNAME are added to
        ``env`` (explicit ``env`` entries win).  A non-zero exit is returned, not
        raised; connection, authentication and host key problems raise.
        """
        full_env = vcluster_env_for(host)
        full_env.update(env or {})
        remote_cmd = build_remote_command(command, full_env)
        if isinstance(stdin_data, str):
            stdin_data = stdin_data.encode("utf-8")
        client = self._connect(host, address, port)
        try:
            return self._exec(client, host, address, port, command, remote_cmd,
                              stdin_data, timeout)
        finally:
            client.close()

    def _exec(self, client, host, address, port, command, remote_cmd, stdin_data,
              timeout) -> RunResult:
        display_cmd = ["ssh", f"{self.user}@{host}"] + [str(c) for c in command]
        try:
            chan = client.get_transport().open_session(timeout=self.connect_timeout)
            chan.exec_command(remote_cmd)
        except (paramiko.SSHException, OSError, EOFError) as err:
            raise errors.OpExecError(f"Cannot start command on node {host}"
                                     f" ({address} port {port}): {err}") from None
        out, err = [], []
        pending = memoryview(stdin_data or b"")
        if not pending:
            chan.shutdown_write()
        deadline = time.monotonic() + timeout
        timed_out = False
        try:
            while True:
                progress = False
                while chan.recv_ready():
                    out.append(chan.recv(_READ_CHUNK))
                    progress = True
                while chan.recv_stderr_ready():
                    err.append(chan.recv_stderr(_READ_CHUNK))
                    progress = True
                if pending and (chan.closed or chan.exit_status_ready()):
                    # The command finished without reading all of its input
                    pending = memoryview(b"")
                elif pending and chan.send_ready():
                    sent = chan.send(pending[:_READ_CHUNK])
                    pending = pending[sent:]
                    if not pending:
                        chan.shutdown_write()
                    progress = True
                finished = chan.exit_status_ready() and (chan.eof_received
                                                         or chan.closed)
                if finished and not chan.recv_ready() and \
                        not chan.recv_stderr_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                if not progress:
                    # The channel's fd signals stdout/stderr data and closure; sending
                    # needs polling since window updates do not wake it.
                    wait = min(remaining, 0.02 if pending else 1.0)
                    select.select([chan], [], [], wait)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise errors.OpExecError(f"SSH session to node {host} ({address} port"
                                     f" {port}) failed: {exc}") from None
        finally:
            if timed_out:
                chan.close()
        stdout = b"".join(out).decode("utf-8", "replace")
        stderr = b"".join(err).decode("utf-8", "replace")
        if timed_out:
            return RunResult(display_cmd, None, None, stdout, stderr, timed_out=True)
        return RunResult(display_cmd, chan.recv_exit_status(), None, stdout, stderr)

