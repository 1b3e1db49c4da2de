"""Node logical units: add (join over SSH), remove, modify roles."""

import logging
import time

from ganeti import constants
from ganeti import errors
from ganeti import locking
from ganeti import netutils
from ganeti import objects
from ganeti import serializer
from ganeti.cmdlib.base import LogicalUnit, expand_node
from ganeti.cmdlib import crypto as crypto_lu

NODE_JOIN_TIMEOUT = 120


class LUNodeAdd(LogicalUnit):
    HPATH = "node-add"
    HTYPE = constants.HTYPE_NODE
    REQ_BGL = True

    def check_arguments(self):
        name = self.op.node_name
        if not netutils_name_ok(name):
            raise errors.OpPrereqError("Invalid node name '%s'" % name, errors.ECODE_INVAL)
        if self.op.primary_ip and not netutils.is_valid_ip(self.op.primary_ip):
            raise errors.OpPrereqError("Invalid primary IP '%s'" % self.op.primary_ip,
                                       errors.ECODE_INVAL)
        if self.op.secondary_ip and not netutils.is_valid_ip(self.op.secondary_ip):
            raise errors.OpPrereqError("Invalid secondary IP '%s'" % self.op.secondary_ip,
                                       errors.ECODE_INVAL)

    def expand_names(self):
        self.needed_locks = {locking.LEVEL_NODE: locking.ALL_SET,
                             locking.LEVEL_NODE_RES: locking.ALL_SET}

    def build_hooks_env(self):
        return {"OP_TARGET": self.op.node_name, "NODE_NAME": self.op.node_name,
                "NODE_PIP": self.primary_ip, "NODE_SIP": self.secondary_ip,
                "MASTER_CAPABLE": str(self.master_capable),
                "VM_CAPABLE": str(self.vm_capable)}

    def build_hooks_nodes(self):
        nodes = self.cfg.get_online_node_list()
        return nodes, nodes

    def check_prereq(self):
        name = self.op.node_name
        existing = self.cfg.get_node_info_by_name(name)
        if existing and not self.op.readd:
            raise errors.OpPrereqError("Node %s is already in the configuration" % name,
                                       errors.ECODE_EXISTS)
        if self.op.readd and not existing:
            raise errors.OpPrereqError("Node %s is not in the configuration" % name,
                                       errors.ECODE_NOENT)
        if self.op.readd:
            raise errors.OpPrereqError("Re-adding a node is not supported yet; remove "
                                       "it and add it again", errors.ECODE_INVAL)
        try:
            self.primary_ip = self.op.primary_ip or netutils.resolve(name)
        except errors.ResolverError as err:
            raise errors.OpPrereqError(errors.format_error(err), errors.ECODE_RESOLVER) \
                from None
        self.secondary_ip = self.op.secondary_ip or self.primary_ip
        for node in self.cfg.get_all_nodes_info().values():
            if self.primary_ip in (node.primary_ip, node.secondary_ip) or \
                    self.secondary_ip in (node.primary_ip, node.secondary_ip):
                raise errors.OpPrereqError("New node ip address(es) conflict with existing "
                                           "node %s" % node.name, errors.ECODE_NOTUNIQUE)
        self.group_uuid = self.cfg.lookup_node_group(self.op.group)
        self.master_capable = True if self.op.master_capable is None \
            else self.op.master_capable
        self.vm_capable = True if self.op.vm_capable is None else self.op.vm_capable
        cluster = self.cfg.get_cluster_info()
        group = self.cfg.get_node_group(self.group_uuid)
        self.ssh_port = objects.fill_dict(cluster.ndparams, group.ndparams).get(
            constants.ND_SSH_PORT, constants.DEFAULT_SSH_PORT)
        if self.op.ndparams and constants.ND_SSH_PORT in self.op.ndparams:
            self.ssh_port = self.op.ndparams[constants.ND_SSH_PORT]
        candidates = len(self.cfg.get_master_candidates())
        self.become_candidate = self.master_capable and \
            candidates < cluster.candidate_pool_size

    def exec(self, feedback_fn):
        name = self.op.node_name
        cluster = self.cfg.get_cluster_info()
        feedback_fn("Adding node %s (%s) to the cluster" % (name, self.primary_ip))
        payload = {"cluster_name": cluster.cluster_name, "node_name": name,
                   "ssconf": self.cfg.get_ssconf_values(), "start_daemons": True}
        # The master's noded (root) adds the cluster certificate and, for S2.1, the SSH
        # host keys and root key pair, and runs the join over SSH: masterd may be
        # unprivileged and no key travels in the job or the RPC request.
        res = self.rpc.call_single(
            "node_join_over_ssh", self.cfg.get_master_node(),
            [cluster.cluster_name, crypto_lu.cluster_key_type(cluster), name,
             self.primary_ip, self.ssh_port, payload, bool(cluster.modify_ssh_setup),
             NODE_JOIN_TIMEOUT], timeout=NODE_JOIN_TIMEOUT + 30)
        res.raise_on_fail("Setting up node %s over SSH failed" % name)
        exit_code, stdout, stderr, public_key = res.payload
        if exit_code != 0:
            raise errors.OpExecError("Setting up node %s over SSH failed (exit code %s): %s"
                                     % (name, exit_code,
                                        (stderr or stdout).strip()[-2000:]))
        try:
            answer = serializer.load_json(stdout.strip().splitlines()[-1])
            digest = answer["client_digest"]
        except (ValueError, KeyError, IndexError):
            raise errors.OpExecError("Node %s gave an invalid answer to the join: %r"
                                     % (name, stdout[-500:])) from None
        self._wait_for_noded(name)
        node = objects.Node(name=name, primary_ip=self.primary_ip,
                            secondary_ip=self.secondary_ip, group=self.group_uuid,
                            master_candidate=self.become_candidate, offline=False,
                            drained=False, master_capable=self.master_capable,
                            vm_capable=self.vm_capable, ndparams=self.op.ndparams or {},
                            tags=[])
        node.uuid = _new_uuid()
        if self.become_candidate:
            cluster.candidate_certs[node.uuid] = digest
        self.cfg.add_node(node)
        self.proc.glm.add(locking.LEVEL_NODE, [node.uuid])
        self.proc.glm.add(locking.LEVEL_NODE_RES, [node.uuid])
        self.proc.context.redistribute_config(full=True, nodes=[node.uuid])
        if public_key:
            crypto_lu.update_pub_keys(self, [[node.uuid, public_key]])
        self.node_uuid = node.uuid
        if self.become_candidate:
            feedback_fn("Node %s is now a master candidate" % name)
        return True

    def build_hooks_nodes_post(self):
        return self.cfg.get_online_node_list()

    def _wait_for_noded(self, name: str) -> None:
        deadline = time.monotonic() + 30
        last = None
        while time.monotonic() < deadline:
            res = self.rpc.call_single("version", (name, self.primary_ip), [])
            if not res.fail_msg:
                if res.payload != constants.PROTOCOL_VERSION:
                    raise errors.OpExecError("Node %s runs protocol version %s, the master "
                                             "%s" % (name, res.payload,
                                                     constants.PROTOCOL_VERSION))
                return
            last = res.fail_msg
            time.sleep(0.2)
        raise errors.OpExecError("The node daemon of %s did not answer after the join: %s"
                                 % (name, last))


def _new_uuid() -> str:
    from ganeti.config import generate_uuid
    return generate_uuid()


def netutils_name_ok(name: str) -> bool:
    import re
    return bool(re.match(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$", name or "")) and \
        len(name) <= 255


class LUNodeRemove(LogicalUnit):
    HPATH = "node-remove"
    HTYPE = constants.HTYPE_NODE
    REQ_BGL = True

    def expand_names(self):
        self.node_uuid, self.node_name = expand_node(self.cfg, self.op.node_name,
                                                     self.op.node_uuid)
        self.needed_locks = {locking.LEVEL_NODE: locking.ALL_SET,
                             locking.LEVEL_NODE_RES: locking.ALL_SET}

    def build_hooks_env(self):
        return {"OP_TARGET": self.node_name, "NODE_NAME": self.node_name}

    def build_hooks_nodes(self):
        all_nodes = self.cfg.get_online_node_list()
        return [n for n in all_nodes if n != self.node_uuid], \
            [n for n in all_nodes if n != self.node_uuid]

    def check_prereq(self):
        if self.node_uuid == self.cfg.get_master_node():
            raise errors.OpPrereqError("Node %s is the master node, failover to another "
                                       "node is required" % self.node_name,
                                       errors.ECODE_INVAL)
        primary, secondary = self.cfg.get_node_instances(self.node_uuid)
        if primary or secondary:
            names = [self.cfg.get_instance_info(u).name for u in primary + secondary]
            raise errors.OpPrereqError("Instance(s) %s still use node %s"
                                       % (", ".join(sorted(names)), self.node_name),
                                       errors.ECODE_INVAL)
        self.node = self.cfg.get_node_info(self.node_uuid)

    def exec(self, feedback_fn):
        node = self.node
        hooks = getattr(self, "hooks_master", None)
        if hooks is not None and not node.offline:
            # the node's own post hooks run now: after the removal it is gone
            hooks.run_post_now([self.node_uuid])
        feedback_fn("Removing node %s from the cluster" % node.name)
        self.cfg.remove_node(self.node_uuid)
        crypto_lu.remove_node_ssh_keys(self, node, feedback_fn)
        try:
            self.proc.glm.remove(locking.LEVEL_NODE, [self.node_uuid])
            self.proc.glm.remove(locking.LEVEL_NODE_RES, [self.node_uuid])
        except errors.GenericError:
            logging.exception("Cannot remove the lock of node %s", node.name)
        if not node.offline:
            res = self.rpc.call_single("node_leave_cluster", (node.name, node.primary_ip),
                                       [False, False])
            if res.fail_msg:
                self.log_warning("Errors encountered on the remote node while leaving "
                                 "the cluster: %s", res.fail_msg)
        self._promote_candidates(feedback_fn)
        return True

    def _promote_candidates(self, feedback_fn) -> None:
        """Keep the candidate pool full after a candidate left (best effort)."""
        cluster = self.cfg.get_cluster_info()
        candidates = self.cfg.get_master_candidates()
        if len(candidates) >= cluster.candidate_pool_size:
            return
        for node in self.cfg.get_all_nodes_info().values():
            if len(candidates) >= cluster.candidate_pool_size:
                break
            if node.master_candidate or not node.master_capable or node.offline or \
                    node.drained:
                continue
            feedback_fn("Node %s would be promoted to master candidate; use "
                        "'gnt-node modify -C yes' to do it" % node.name)
