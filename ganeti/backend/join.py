"""Joining a host to the cluster over SSH, run by the master's node daemon (root).

masterd may run unprivileged; the keys a joining node receives (SSH host keys, the
cluster's root key pair, the cluster certificate) are readable by root only, so the
master's noded reads them and runs prepare-node-join on the new host through SSH.
Nothing secret travels in the RPC request or in the job.
"""

import os

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import serializer
from ganeti.backend import sshkeys
from ganeti.backend.node import _check
from ganeti.utils import io


def client_key_files(key_type: str) -> list[str]:
    """Root's keys to log in to a joining host with: the cluster key first."""
    first = sshkeys.root_key_paths(key_type)[0]
    files = [first] if os.path.exists(first) else []
    for name in ("id_rsa", "id_ecdsa", "id_ed25519"):
        path = os.path.join(pathutils.SSH_ROOT_DIR, name)
        if path not in files and os.path.exists(path):
            files.append(path)
    return files or [first]


def join_data(key_type: str) -> dict:
    """What a joining node gets over SSH: host keys, root key pair, authorized key."""
    host_keys = {}
    for host_type in sshkeys.HOST_KEY_TYPES:
        base = os.path.join(pathutils.SSH_CONFIG_DIR, "ssh_host_%s_key" % host_type)
        if os.path.exists(base) and os.path.exists(base + ".pub"):
            try:
                host_keys[host_type] = [io.read_file(base), io.read_file(base + ".pub")]
            except OSError as err:
                raise errors.RpcError("Cannot read the cluster's SSH host key %s: %s"
                                      % (base, err)) from None
    if not host_keys:
        raise errors.RpcError("No SSH host keys in %s to give to the new node"
                              % pathutils.SSH_CONFIG_DIR)
    priv, pub = sshkeys.root_key_paths(key_type)
    try:
        private, public = io.read_file(priv), io.read_file(pub).strip()
    except OSError as err:
        raise errors.RpcError("Cannot read the cluster's SSH key: %s" % err) from None
    return {"host_keys": host_keys,
            "root_key": {"type": key_type, "private": private, "public": public},
            "authorized_keys": [public]}


def run_join(cluster_name: str, key_type: str, name: str, address: str, port: int,
             payload: dict, timeout: float):
    """Run prepare-node-join on a host over SSH, the join data on its stdin.

    The host key is always checked against the cluster's known_hosts; root's keys are
    offered in turn (the cluster key first), as an SSH client would.
    """
    from ganeti import ssh
    data = serializer.dump_json(payload)
    key_files = client_key_files(key_type)
    for idx, key_file in enumerate(key_files):
        runner = ssh.SshRunner(cluster_name, key_file=key_file)
        try:
            return runner.run(name, address, port, [pathutils.PREPARE_NODE_JOIN],
                              stdin_data=data, env=ssh.vcluster_env_for(name),
                              timeout=timeout)
        except ssh.SshAuthError:
            if idx == len(key_files) - 1:
                raise
    raise errors.ProgrammerError("no SSH key to try")


def node_join_over_ssh(cluster_name, key_type, node_name, address, port, payload,
                       with_ssh_setup, timeout):
    """The RPC procedure: [exit code, stdout, stderr] of prepare-node-join, and the
    cluster's root public key that the node now trusts (None without SSH setup)."""
    from ganeti import netutils
    from ganeti import ssh
    _check(isinstance(cluster_name, str) and cluster_name, "Invalid cluster name")
    _check(key_type in constants.SSHK_ALL, "Invalid SSH key type %r" % (key_type,))
    _check(isinstance(node_name, str) and node_name and "/" not in node_name,
           "Invalid node name %r" % (node_name,))
    _check(isinstance(address, str) and netutils.is_valid_ip(address),
           "Invalid node address %r" % (address,))
    _check(isinstance(port, int) and 0 < port < 65536, "Invalid SSH port %r" % (port,))
    _check(isinstance(payload, dict), "The join data must be a dict")
    _check(not ({"server_pem", "ssh"} & set(payload)),
           "The join data must not carry keys; the node daemon adds them")
    _check(isinstance(timeout, (int, float)) and 0 < timeout <= 3600,
           "Invalid timeout %r" % (timeout,))
    payload = dict(payload)
    with open(pathutils.NODED_CERT_FILE) as fh:
        payload["server_pem"] = fh.read()
    if with_ssh_setup:
        payload["ssh"] = join_data(key_type)
    try:
        result = run_join(cluster_name, key_type, node_name, address, port, payload,
                          timeout)
    except (ssh.SshHostKeyError, ssh.SshAuthError, errors.OpExecError) as err:
        raise errors.RpcError(errors.format_error(err)) from None
    public = payload["ssh"]["root_key"]["public"] if with_ssh_setup else None
    return [result.exit_code, result.stdout, result.stderr, public]
