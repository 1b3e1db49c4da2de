"""``gnt-node modify``: roles (master candidate, offline, drained), capabilities and
node parameters (LUNodeSetParams).

Candidate status is what lets a node issue node RPCs (S3): demotion removes the
node's certificate digest from the cluster's candidate map, promotion adds it.
"""

from ganeti import constants
from ganeti import errors
from ganeti import locking
from ganeti.cmdlib import crypto as crypto_lu
from ganeti.cmdlib.base import LogicalUnit, expand_node


def candidate_stats(cfg, exceptions=()) -> tuple[int, int]:
    """(current candidates, wanted candidates) ignoring the nodes in ``exceptions``."""
    cluster = cfg.get_cluster_info()
    nodes = [n for n in cfg.get_all_nodes_info().values() if n.uuid not in exceptions]
    current = sum(1 for n in nodes if n.master_candidate)
    possible = sum(1 for n in nodes if n.master_capable and not n.offline and
                   not n.drained)
    return current, min(possible, cluster.candidate_pool_size)


class LUNodeSetParams(LogicalUnit):
    HPATH = "node-modify"
    HTYPE = constants.HTYPE_NODE
    REQ_BGL = True

    def check_arguments(self):
        op = self.op
        flags = [op.master_candidate, op.offline, op.drained]
        if flags.count(True) > 1:
            raise errors.OpPrereqError("Can't set the node into more than one state at "
                                       "the same time", errors.ECODE_INVAL)
        changes = [op.master_candidate, op.offline, op.drained, op.master_capable,
                   op.vm_capable, op.ndparams]
        if all(c is None for c in changes):
            raise errors.OpPrereqError("Please pass at least one modification",
                                       errors.ECODE_INVAL)
        if op.ndparams:
            for key in op.ndparams:
                if key not in constants.NDS_PARAMETER_TYPES:
                    raise errors.OpPrereqError("Unknown node parameter '%s'" % key,
                                               errors.ECODE_INVAL)

    def expand_names(self):
        self.node_uuid, self.node_name = expand_node(self.cfg, self.op.node_name,
                                                     self.op.node_uuid)
        # Candidate pool decisions look at every node
        self.needed_locks = {locking.LEVEL_NODE: locking.ALL_SET}

    def build_hooks_env(self):
        env = {"OP_TARGET": self.node_name, "NODE_NAME": self.node_name}
        for name in ("master_candidate", "offline", "drained", "master_capable",
                     "vm_capable"):
            env[name.upper()] = str(getattr(self.op, name))
        return env

    def build_hooks_nodes(self):
        nodes = [self.cfg.get_master_node(), self.node_uuid]
        return nodes, nodes

    def check_prereq(self):
        op = self.op
        node = self.node = self.cfg.get_node_info(self.node_uuid)
        is_master = self.node_uuid == self.cfg.get_master_node()
        losing = op.master_candidate is False or op.offline is True or \
            op.drained is True or op.master_capable is False
        if is_master and losing:
            raise errors.OpPrereqError("The master role can be changed only via master "
                                       "failover", errors.ECODE_INVAL)
        offline = node.offline if op.offline is None else op.offline
        drained = node.drained if op.drained is None else op.drained
        capable = node.master_capable if op.master_capable is None else op.master_capable
        if op.master_candidate:
            if offline or drained:
                raise errors.OpPrereqError("Node %s is %s, cannot promote it to master "
                                           "candidate" % (node.name,
                                                          "offline" if offline
                                                          else "drained"),
                                           errors.ECODE_STATE)
            if not capable:
                raise errors.OpPrereqError("Node %s is not master capable, cannot promote "
                                           "it" % node.name, errors.ECODE_STATE)
        if op.vm_capable is False:
            primary, secondary = self.cfg.get_node_instances(self.node_uuid)
            if primary or secondary:
                raise errors.OpPrereqError("Node %s hosts instances, cannot unset "
                                           "vm_capable" % node.name, errors.ECODE_STATE)
        self.demote = node.master_candidate and losing
        self.promote = bool(op.master_candidate) and not node.master_candidate
        # An onlined/undrained capable node promotes itself when the pool needs it
        if not self.promote and not node.master_candidate and not losing and \
                ((op.offline is False and node.offline) or
                 (op.drained is False and node.drained)) and capable and \
                not offline and not drained:
            current, wanted = candidate_stats(self.cfg)
            self.promote = current < wanted
        self.auto_promote = []
        if self.demote:
            current, wanted = candidate_stats(self.cfg, exceptions=[self.node_uuid])
            if current < wanted:
                if not op.auto_promote:
                    raise errors.OpPrereqError(
                        "Not enough master candidates (desired %d, new value will be %d);"
                        " use --auto-promote to promote other nodes" % (wanted, current),
                        errors.ECODE_STATE)
                self.auto_promote = self._promotion_candidates(wanted - current)

    def _promotion_candidates(self, count: int) -> list:
        found = []
        for node in sorted(self.cfg.get_all_nodes_info().values(), key=lambda n: n.name):
            if len(found) >= count:
                break
            if node.uuid == self.node_uuid or node.master_candidate or node.offline or \
                    node.drained or not node.master_capable:
                continue
            found.append(node)
        return found

    def exec(self, feedback_fn):
        op = self.op
        node = self.node
        cluster = self.cfg.get_cluster_info()
        changes = []
        new_digests = {}
        # Digests are fetched before anything changes: a node that cannot answer is
        # not promoted, and the configuration stays as it was
        for target in ([node] if self.promote else []) + self.auto_promote:
            new_digests[target.uuid] = crypto_lu.client_cert_digest(self, target.uuid)
        if op.offline is not None and op.offline != node.offline:
            node.offline = op.offline
            changes.append(("offline", str(op.offline)))
            if op.offline and node.drained:
                node.drained = False
                changes.append(("drained", "False"))
        if op.drained is not None and op.drained != node.drained:
            node.drained = op.drained
            changes.append(("drained", str(op.drained)))
        if op.master_capable is not None and op.master_capable != node.master_capable:
            node.master_capable = op.master_capable
            changes.append(("master_capable", str(op.master_capable)))
        if op.vm_capable is not None and op.vm_capable != node.vm_capable:
            node.vm_capable = op.vm_capable
            changes.append(("vm_capable", str(op.vm_capable)))
        if op.ndparams:
            params = dict(node.ndparams or {})
            for key, value in op.ndparams.items():
                if value == constants.VALUE_DEFAULT:
                    params.pop(key, None)
                else:
                    params[key] = value
            node.ndparams = params
            changes.append(("ndparams", str(params)))
        if self.demote:
            node.master_candidate = False
            cluster.candidate_certs.pop(node.uuid, None)
            changes.append(("master_candidate", "False"))
        elif self.promote:
            node.master_candidate = True
            cluster.candidate_certs[node.uuid] = new_digests[node.uuid]
            changes.append(("master_candidate", "True"))
        for other in self.auto_promote:
            other.master_candidate = True
            cluster.candidate_certs[other.uuid] = new_digests[other.uuid]
            self.cfg.update(other)
            feedback_fn("Promoted node %s to master candidate" % other.name)
        # One write: the node, the candidate map, and the ssconf pushed to every node
        self.cfg.update(node, bump_cluster=True)
        if self.demote and not node.offline:
            res = self.rpc.call_single("node_demote_from_mc", node.uuid, [])
            if res.fail_msg:
                self.log_warning("Node %s could not remove its configuration copy: %s",
                                 node.name, res.fail_msg)
        if self.promote or self.auto_promote:
            crypto_lu.update_pub_keys(self)
        return changes
