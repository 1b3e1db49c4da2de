"""The master's view of node RPC: named procedures, per-node results, timeouts.

Logical units call ``RpcRunner.call(procedure, node_uuids, args)``; nodes are
resolved from the configuration, offline nodes are never contacted, and each node's
outcome is an ``RpcResult``.
"""

import logging
import threading

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import serializer
from ganeti.rpc import encoding

# procedure -> timeout class (seconds)
PROCEDURES = {
    "node_join_over_ssh": constants.RPC_TMO_NORMAL,
    "version": constants.RPC_TMO_URGENT,
    "node_info": constants.RPC_TMO_URGENT,
    "node_verify": constants.RPC_TMO_NORMAL,
    "node_verify_light": constants.RPC_TMO_NORMAL,
    "node_has_ip_address": constants.RPC_TMO_FAST,
    "node_leave_cluster": constants.RPC_TMO_NORMAL,
    "node_start_master_daemons": constants.RPC_TMO_FAST,
    "node_stop_master": constants.RPC_TMO_FAST,
    "node_activate_master_ip": constants.RPC_TMO_FAST,
    "node_deactivate_master_ip": constants.RPC_TMO_FAST,
    "master_node_name": constants.RPC_TMO_URGENT,
    "write_ssconf_files": constants.RPC_TMO_FAST,
    "upload_file": constants.RPC_TMO_NORMAL,
    "upload_file_single": constants.RPC_TMO_NORMAL,
    "jobqueue_update": constants.RPC_TMO_URGENT,
    "jobqueue_rename": constants.RPC_TMO_URGENT,
    "jobqueue_purge": constants.RPC_TMO_NORMAL,
    "instance_start": constants.RPC_TMO_NORMAL,
    "instance_shutdown": constants.RPC_TMO_NORMAL,
    "instance_reboot": constants.RPC_TMO_NORMAL,
    "instance_info": constants.RPC_TMO_URGENT,
    "all_instances_info": constants.RPC_TMO_URGENT,
    "instance_list": constants.RPC_TMO_URGENT,
    "instance_os_add": constants.RPC_TMO_1DAY,
    "instance_run_rename": constants.RPC_TMO_SLOW,
    "blockdev_create": constants.RPC_TMO_NORMAL,
    "blockdev_remove": constants.RPC_TMO_NORMAL,
    "blockdev_assemble": constants.RPC_TMO_NORMAL,
    "blockdev_shutdown": constants.RPC_TMO_NORMAL,
    "blockdev_find": constants.RPC_TMO_FAST,
    "blockdev_getdimensions": constants.RPC_TMO_FAST,
    "file_storage_dir_create": constants.RPC_TMO_FAST,
    "file_storage_dir_remove": constants.RPC_TMO_FAST,
    "os_diagnose": constants.RPC_TMO_FAST,
    "os_validate": constants.RPC_TMO_FAST,
    "hooks_runner": constants.RPC_TMO_NORMAL,
    "restricted_command": constants.RPC_TMO_SLOW,
    "test_delay": constants.RPC_TMO_1DAY,
    "bridges_exist": constants.RPC_TMO_URGENT,
    "hypervisor_validate_params": constants.RPC_TMO_NORMAL,
    "migration_info": constants.RPC_TMO_NORMAL,
    "accept_instance": constants.RPC_TMO_NORMAL,
    "instance_migrate": constants.RPC_TMO_SLOW,
    "instance_get_migration_status": constants.RPC_TMO_FAST,
    "instance_finalize_migration_dst": constants.RPC_TMO_NORMAL,
    "instance_finalize_migration_src": constants.RPC_TMO_SLOW,
    "get_watcher_pause": constants.RPC_TMO_URGENT,
    "set_watcher_pause": constants.RPC_TMO_URGENT,
    "node_crypto_tokens": constants.RPC_TMO_NORMAL,
    "node_crypto_stage_server_cert": constants.RPC_TMO_NORMAL,
    "node_crypto_activate": constants.RPC_TMO_FAST,
    "node_crypto_abort": constants.RPC_TMO_FAST,
    "node_demote_from_mc": constants.RPC_TMO_FAST,
    "node_ssh_keys_renew": constants.RPC_TMO_NORMAL,
    "node_ssh_key_remove": constants.RPC_TMO_NORMAL,
    "node_ssh_pub_keys_update": constants.RPC_TMO_FAST,
}


class RpcResult:
    """One node's answer to one call."""

    def __init__(self, node: str, call: str, ok: bool, payload, offline: bool = False):
        self.node = node
        self.call = call
        self.offline = offline
        self.payload = payload if ok else None
        if offline:
            self.fail_msg = "Node is marked offline"
        elif ok:
            self.fail_msg = None
        else:
            self.fail_msg = str(payload)

    def raise_on_fail(self, message: str | None = None, prereq: bool = False) -> None:
        if self.fail_msg:
            text = "%s: %s" % (message, self.fail_msg) if message else \
                "Call '%s' to node '%s' failed: %s" % (self.call, self.node, self.fail_msg)
            if prereq:
                raise errors.OpPrereqError(text, errors.ECODE_ENVIRON)
            raise errors.OpExecError(text)

    def __repr__(self):
        return "<RpcResult %s %s %s>" % (self.node, self.call, self.fail_msg or "ok")


def virtual_path(path: str) -> str:
    """A logical (node-independent) path, marked for a virtual cluster's nodes."""
    if pathutils.is_virtual() and path and path != pathutils.ETC_HOSTS:
        return pathutils.VIRT_PATH_PREFIX + path
    return path


def prepare_upload(path: str, mode: int | None = None) -> list:
    """Arguments of upload_file for a local file of the master."""
    import grp
    import os
    import pwd
    st = os.stat(path)
    with open(path, "rb") as fh:
        data = fh.read()
    return [pathutils.virtualize(path), encoding.encode_compressed(data),
            mode if mode is not None else st.st_mode & 0o7777,
            pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name,
            st.st_atime, st.st_mtime]


class RpcRunner:
    """Calls procedures on nodes named by UUID (or name) through a resolver.

    ``resolver(node)`` returns ``(name, address, offline)``.
    """

    def __init__(self, resolver, transport=None, port: int = constants.DEFAULT_NODED_PORT):
        self._resolver = resolver
        self._port = port
        self._transport = transport
        self._tlock = threading.Lock()

    def _get_transport(self):
        if self._transport is None:
            with self._tlock:
                if self._transport is None:
                    from ganeti.rpc.transport import RpcTransport
                    self._transport = RpcTransport(pathutils.NODED_CLIENT_CERT_FILE,
                                                   pathutils.NODED_CERT_FILE)
        return self._transport

    def call(self, procedure: str, nodes, args: list | None = None,
             timeout: float | None = None, per_node_args: dict | None = None) -> dict:
        """Call ``procedure`` on each of ``nodes``; returns {node: RpcResult}."""
        if procedure not in PROCEDURES:
            raise errors.ProgrammerError("Unknown RPC procedure %s" % procedure)
        timeout = timeout or PROCEDURES[procedure]
        results = {}
        targets = []
        names = {}
        for node in nodes:
            name, address, offline = self._resolver(node)
            if offline:
                results[node] = RpcResult(name, procedure, False, None, offline=True)
                continue
            targets.append((node, address, self._port))
            names[node] = name
        if not targets:
            return results
        if per_node_args is not None:
            body = {node: encoding.encode_request(per_node_args[node]) for node, _a, _p
                    in targets}
        else:
            body = encoding.encode_request(args or [])
        answers = self._get_transport().call(targets, procedure, body, timeout)
        for node, _addr, _port in targets:
            ok, payload = answers.get(node, (False, "No answer"))
            if not ok:
                logging.debug("RPC %s to %s failed: %s", procedure, names[node], payload)
            results[node] = RpcResult(names[node], procedure, ok, payload)
        return results

    def call_single(self, procedure: str, node, args: list | None = None,
                    timeout: float | None = None) -> RpcResult:
        return self.call(procedure, [node], args, timeout)[node]


def dump_objects(objs) -> list:
    return [o.to_dict() for o in objs]


def jsonable(value):
    return serializer.load_json(serializer.dump_json(value))
