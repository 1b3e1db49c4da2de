"""Moving instances between nodes: live migration, failover, node migration; console.

Migration and failover are implemented for the externally mirrored templates whose
disks every node can reach (diskless, sharedfile).  Without an instance allocator the
target is the given node, or else the vm-capable online node with most free memory.
"""

import time

from ganeti import constants
from ganeti import errors
from ganeti import locking
from ganeti import objects
from ganeti.cmdlib import instance_utils as iu
from ganeti.cmdlib.base import (LogicalUnit, NoHooksLU, check_node_online,
                                check_node_vm_capable, expand_instance, expand_node,
                                instance_hooks_env)

# Templates whose disks are reachable from every node (the instance can move freely)
MOVABLE_TEMPLATES = frozenset([constants.DT_DISKLESS, constants.DT_SHARED_FILE])
_POLL_INTERVAL = 0.5
_MIN_MIGRATION_TIMEOUT = 600


def _check_movable(cfg, inst) -> None:
    template = cfg.get_instance_disk_template(inst.uuid)
    if template not in MOVABLE_TEMPLATES:
        raise errors.OpPrereqError(
            "Instance %s uses disk template %s; moving it between nodes is only "
            "implemented for %s" % (inst.name, template,
                                    ", ".join(sorted(MOVABLE_TEMPLATES))),
            errors.ECODE_STATE)


def _free_memory(rpc, node_uuid, hv_name, hvparams) -> int:
    res = rpc.call_single("node_info", node_uuid, [[], [[hv_name, hvparams]]])
    if res.fail_msg or not res.payload or not res.payload[2]:
        return -1
    free = res.payload[2][0].get("memory_free")
    return free if isinstance(free, int) else -1


def choose_target(cfg, rpc, inst, exclude: list) -> str:
    """The online, undrained, vm-capable node (not excluded) with most free memory."""
    cluster = cfg.get_cluster_info()
    hvparams = cluster.fill_hv(inst)
    best, best_free = None, -1
    for node in sorted(cfg.get_all_nodes_info().values(), key=lambda n: n.name):
        if node.uuid in exclude or node.offline or node.drained or not node.vm_capable:
            continue
        free = _free_memory(rpc, node.uuid, inst.hypervisor, hvparams)
        if free > best_free:
            best, best_free = node.uuid, free
    if best is None:
        raise errors.OpPrereqError("No node is available to move instance %s to (give "
                                   "one with -n)" % inst.name, errors.ECODE_NORES)
    return best


def _move_in_config(cfg, inst_uuid: str, target: str) -> None:
    inst = cfg.get_instance_info(inst_uuid)
    for disk in cfg.get_instance_disks(inst_uuid):
        disk.nodes = [target]
        cfg.update(disk)
    inst.primary_node = target
    cfg.update(inst)


def _target_address(cfg, node_uuid: str) -> str:
    node = cfg.get_node_info(node_uuid)
    return node.secondary_ip or node.primary_ip


def _is_running(lu, inst, node_uuid: str) -> bool:
    res = lu.rpc.call_single("instance_info", node_uuid,
                             [inst.name, inst.hypervisor,
                              lu.cfg.get_cluster_info().fill_hv(inst)])
    res.raise_on_fail("Error checking instance %s on node %s"
                      % (inst.name, lu.cfg.get_node_name(node_uuid)), prereq=True)
    return bool(res.payload)


def migrate_one(lu, feedback_fn, inst_uuid: str, target: str, live: bool) -> None:
    """Live-migrate a running instance to ``target`` and record the move."""
    cfg, rpc = lu.cfg, lu.rpc
    inst = cfg.get_instance_info(inst_uuid)
    source = inst.primary_node
    src_name, dst_name = cfg.get_node_name(source), cfg.get_node_name(target)
    data = iu.instance_rpc_dict(cfg, inst_uuid)
    feedback_fn("* migrating instance %s from %s to %s (%s)"
                % (inst.name, src_name, dst_name, "live" if live else "non-live"))
    res = rpc.call_single("migration_info", source, [data])
    res.raise_on_fail("Cannot get migration information from %s" % src_name)
    info = res.payload or {}
    res = rpc.call_single("accept_instance", target,
                          [data, info, _target_address(cfg, target)])
    res.raise_on_fail("Target node %s cannot accept the instance" % dst_name)
    res = rpc.call_single("instance_migrate", source,
                          [cfg.get_cluster_name(), data, _target_address(cfg, target),
                           live])
    if res.fail_msg:
        rpc.call_single("instance_finalize_migration_dst", target, [data, info, False])
        raise errors.OpExecError("Could not migrate instance %s: %s"
                                 % (inst.name, res.fail_msg))
    hvparams = cfg.get_cluster_info().fill_hv(inst)
    bandwidth = max(1, int(hvparams.get(constants.HV_MIGRATION_BANDWIDTH, 32) or 32))
    memory = cfg.get_cluster_info().fill_be(inst)[constants.BE_MAXMEM]
    deadline = time.monotonic() + max(_MIN_MIGRATION_TIMEOUT, 20 * memory // bandwidth)
    status: dict = {}
    last_report = 0.0
    while True:
        res = rpc.call_single("instance_get_migration_status", source, [data])
        if res.fail_msg:
            status = {"status": "failed", "error": res.fail_msg}
            break
        status = res.payload or {}
        if status.get("status") in ("completed", "failed", "cancelled"):
            break
        if time.monotonic() > deadline:
            status = {"status": "failed", "error": "timed out"}
            break
        if status.get("total") and time.monotonic() - last_report > 2:
            done = 100.0 * (status.get("transferred") or 0) / status["total"]
            feedback_fn("* memory transfer progress: %.2f %%" % min(done, 100.0))
            last_report = time.monotonic()
        time.sleep(_POLL_INTERVAL)
    if status.get("status") != "completed":
        feedback_fn("* migration failed, keeping the instance on %s" % src_name)
        rpc.call_single("instance_finalize_migration_src", source, [data, False, live])
        rpc.call_single("instance_finalize_migration_dst", target, [data, info, False])
        raise errors.OpExecError("Migration of instance %s failed: %s"
                                 % (inst.name, status.get("error") or status.get("status")))
    _move_in_config(cfg, inst_uuid, target)
    new_data = iu.instance_rpc_dict(cfg, inst_uuid)
    res = rpc.call_single("instance_finalize_migration_dst", target, [new_data, info, True])
    dst_error = res.fail_msg
    res = rpc.call_single("instance_finalize_migration_src", source, [data, True, live])
    if res.fail_msg:
        lu.log_warning("Could not clean up instance %s on the old primary %s: %s",
                       inst.name, src_name, res.fail_msg)
    if dst_error:
        raise errors.OpExecError("Instance %s was migrated but could not be finalized "
                                 "on %s: %s" % (inst.name, dst_name, dst_error))
    feedback_fn("* done")


def failover_one(lu, feedback_fn, inst_uuid: str, target: str, shutdown_timeout: int,
                 ignore_consistency: bool) -> None:
    """Stop the instance on its primary (if reachable), start it on ``target``."""
    cfg, rpc = lu.cfg, lu.rpc
    inst = cfg.get_instance_info(inst_uuid)
    source = inst.primary_node
    src_node = cfg.get_node_info(source)
    feedback_fn("* failing over instance %s from %s to %s"
                % (inst.name, src_node.name, cfg.get_node_name(target)))
    if not src_node.offline:
        res = rpc.call_single("instance_shutdown", source,
                              [iu.instance_rpc_dict(cfg, inst_uuid), shutdown_timeout,
                               lu.op.reason])
        if res.fail_msg:
            if not ignore_consistency:
                raise errors.OpExecError("Could not shut down instance %s on node %s: %s"
                                         % (inst.name, src_node.name, res.fail_msg))
            lu.log_warning("Could not shut down instance %s on %s (ignored): %s",
                           inst.name, src_node.name, res.fail_msg)
    _move_in_config(cfg, inst_uuid, target)
    if inst.admin_state == constants.ADMINST_UP:
        feedback_fn("* starting the instance on the target node %s"
                    % cfg.get_node_name(target))
        res = rpc.call_single("instance_start", target,
                              [iu.instance_rpc_dict(cfg, inst_uuid), False, lu.op.reason])
        res.raise_on_fail("Could not start instance %s on node %s"
                          % (inst.name, cfg.get_node_name(target)))


def _live_mode(op, cluster: objects.Cluster, inst) -> bool:
    if op.mode is not None:
        return op.mode == constants.HT_MIGRATION_LIVE
    if op.live is not None:
        return bool(op.live)
    mode = cluster.fill_hv(inst).get(constants.HV_MIGRATION_MODE, constants.HT_MIGRATION_LIVE)
    return mode == constants.HT_MIGRATION_LIVE


class _MoveInstanceLU(LogicalUnit):
    """Common part of migrate and failover: instance, source and target node."""

    HTYPE = constants.HTYPE_INSTANCE
    REQ_BGL = False

    def check_arguments(self):
        if self.op.iallocator:
            raise errors.OpPrereqError("Instance allocators are not available; give the "
                                       "target node with -n", errors.ECODE_INVAL)
        if getattr(self.op, "mode", None) is not None and \
                getattr(self.op, "live", None) is not None:
            raise errors.OpPrereqError("Only one of the mode and the live flag may be "
                                       "given", errors.ECODE_INVAL)

    def expand_names(self):
        self.inst_uuid, self.inst_name = expand_instance(self.cfg, self.op.instance_name,
                                                         self.op.instance_uuid)
        self.target_uuid = None
        if self.op.target_node or self.op.target_node_uuid:
            self.target_uuid, _ = expand_node(self.cfg, self.op.target_node,
                                              self.op.target_node_uuid)
        self.needed_locks = {locking.LEVEL_INSTANCE: [self.inst_name],
                             locking.LEVEL_NODE: locking.ALL_SET,
                             locking.LEVEL_NODE_RES: locking.ALL_SET}
        self.share_locks[locking.LEVEL_NODE_RES] = True

    def check_prereq(self):
        cfg = self.cfg
        self.instance = inst = cfg.get_instance_info(self.inst_uuid)
        if inst is None:
            raise errors.OpPrereqError("Instance '%s' not known" % self.inst_name,
                                       errors.ECODE_NOENT)
        _check_movable(cfg, inst)
        self.source_uuid = inst.primary_node
        if self.target_uuid is None:
            self.target_uuid = choose_target(cfg, self.rpc, inst, [self.source_uuid])
        if self.target_uuid == self.source_uuid:
            raise errors.OpPrereqError("Instance %s is already on node %s"
                                       % (inst.name, cfg.get_node_name(self.target_uuid)),
                                       errors.ECODE_INVAL)
        check_node_online(cfg, self.target_uuid, "Cannot move the instance")
        check_node_vm_capable(cfg, self.target_uuid)
        if cfg.get_node_info(self.target_uuid).drained:
            raise errors.OpPrereqError("Target node %s is drained"
                                       % cfg.get_node_name(self.target_uuid),
                                       errors.ECODE_STATE)

    def _check_target_memory(self) -> None:
        cluster = self.cfg.get_cluster_info()
        iu.check_node_free_memory(self.rpc, self.target_uuid,
                                  self.cfg.get_node_name(self.target_uuid),
                                  cluster.fill_be(self.instance)[constants.BE_MAXMEM],
                                  self.instance.hypervisor,
                                  cluster.fill_hv(self.instance),
                                  "moving instance %s" % self.instance.name)

    def build_hooks_env(self):
        inst = self.cfg.get_instance_info(self.inst_uuid)
        env = instance_hooks_env(self.cfg, inst)
        env.update({"OLD_PRIMARY": self.cfg.get_node_name(self.source_uuid),
                    "NEW_PRIMARY": self.cfg.get_node_name(self.target_uuid),
                    "OLD_SECONDARY": "", "NEW_SECONDARY": ""})
        return env

    def build_hooks_nodes(self):
        nodes = [self.cfg.get_master_node(), self.source_uuid, self.target_uuid]
        return nodes, nodes


class LUInstanceMigrate(_MoveInstanceLU):
    HPATH = "instance-migrate"

    def check_prereq(self):
        super().check_prereq()
        inst = self.instance
        self.failover = False
        if self.op.cleanup:
            return
        check_node_online(self.cfg, self.source_uuid, "Cannot migrate from")
        if not _is_running(self, inst, self.source_uuid):
            if not self.op.allow_failover:
                raise errors.OpPrereqError("Instance %s is not running, cannot migrate it "
                                           "(use failover)" % inst.name, errors.ECODE_STATE)
            self.failover = True
        if inst.admin_state == constants.ADMINST_UP or not self.failover:
            self._check_target_memory()
        self.live = _live_mode(self.op, self.cfg.get_cluster_info(), inst)

    def build_hooks_env(self):
        env = super().build_hooks_env()
        env.update({"MIGRATE_LIVE": getattr(self, "live", False),
                    "MIGRATE_CLEANUP": self.op.cleanup})
        return env

    def exec(self, feedback_fn):
        if self.op.cleanup:
            return self._cleanup(feedback_fn)
        if self.failover:
            feedback_fn("Instance %s is not running: failing it over instead"
                        % self.instance.name)
            failover_one(self, feedback_fn, self.inst_uuid, self.target_uuid,
                         constants.DEFAULT_SHUTDOWN_TIMEOUT, False)
        else:
            migrate_one(self, feedback_fn, self.inst_uuid, self.target_uuid, self.live)
        return True

    def _cleanup(self, feedback_fn):
        """After an interrupted migration: keep the copy that runs, stop the other."""
        inst = self.instance
        on_source = _is_running(self, inst, self.source_uuid)
        on_target = _is_running(self, inst, self.target_uuid)
        data = iu.instance_rpc_dict(self.cfg, self.inst_uuid)
        if on_source and on_target:
            raise errors.OpExecError("Instance %s runs on both %s and %s; stop one by hand"
                                     % (inst.name, self.cfg.get_node_name(self.source_uuid),
                                        self.cfg.get_node_name(self.target_uuid)))
        if on_target:
            feedback_fn("* instance runs on the target: recording the move")
            _move_in_config(self.cfg, self.inst_uuid, self.target_uuid)
            self.rpc.call_single("instance_finalize_migration_src", self.source_uuid,
                                 [data, True, True])
        else:
            feedback_fn("* instance %s on the source: aborting the migration"
                        % ("runs" if on_source else "does not run"))
            self.rpc.call_single("instance_finalize_migration_src", self.source_uuid,
                                 [data, False, True])
        return True


class LUInstanceFailover(_MoveInstanceLU):
    HPATH = "instance-failover"

    def check_prereq(self):
        super().check_prereq()
        if self.instance.admin_state == constants.ADMINST_UP:
            self._check_target_memory()

    def build_hooks_env(self):
        env = super().build_hooks_env()
        env.update({"IGNORE_CONSISTENCY": self.op.ignore_consistency,
                    "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout})
        return env

    def exec(self, feedback_fn):
        failover_one(self, feedback_fn, self.inst_uuid, self.target_uuid,
                     self.op.shutdown_timeout, self.op.ignore_consistency)
        return True


class LUNodeMigrate(LogicalUnit):
    """Migrate every primary instance of a node away (one after the other)."""

    HPATH = "node-migrate"
    HTYPE = constants.HTYPE_NODE
    REQ_BGL = False

    def check_arguments(self):
        if self.op.iallocator:
            raise errors.OpPrereqError("Instance allocators are not available; give the "
                                       "target node with -n", errors.ECODE_INVAL)

    def expand_names(self):
        self.node_uuid, self.node_name = expand_node(self.cfg, self.op.node_name,
                                                     self.op.node_uuid)
        self.target_uuid = None
        if self.op.target_node or self.op.target_node_uuid:
            self.target_uuid, _ = expand_node(self.cfg, self.op.target_node,
                                              self.op.target_node_uuid)
        primaries, _ = self.cfg.get_node_instances(self.node_uuid)
        self.needed_locks = {
            locking.LEVEL_INSTANCE: [self.cfg.get_instance_info(u).name for u in primaries],
            locking.LEVEL_NODE: locking.ALL_SET, locking.LEVEL_NODE_RES: locking.ALL_SET}
        self.share_locks[locking.LEVEL_NODE_RES] = True

    def check_prereq(self):
        if self.target_uuid == self.node_uuid:
            raise errors.OpPrereqError("The target node must differ from the node being "
                                       "evacuated", errors.ECODE_INVAL)
        self.instances, _ = self.cfg.get_node_instances(self.node_uuid)
        for inst_uuid in self.instances:
            _check_movable(self.cfg, self.cfg.get_instance_info(inst_uuid))
        if self.target_uuid is not None:
            check_node_online(self.cfg, self.target_uuid, "Cannot migrate to")
            check_node_vm_capable(self.cfg, self.target_uuid)

    def build_hooks_env(self):
        return {"OP_TARGET": self.node_name, "NODE_NAME": self.node_name}

    def build_hooks_nodes(self):
        nodes = [self.cfg.get_master_node(), self.node_uuid]
        return nodes, nodes

    def exec(self, feedback_fn):
        moved = []
        cluster = self.cfg.get_cluster_info()
        for inst_uuid in sorted(self.instances,
                                key=lambda u: self.cfg.get_instance_info(u).name):
            inst = self.cfg.get_instance_info(inst_uuid)
            target = self.target_uuid or choose_target(self.cfg, self.rpc, inst,
                                                       [self.node_uuid])
            if _is_running(self, inst, self.node_uuid):
                migrate_one(self, feedback_fn, inst_uuid, target,
                            _live_mode(self.op, cluster, inst))
            else:
                failover_one(self, feedback_fn, inst_uuid, target,
                             constants.DEFAULT_SHUTDOWN_TIMEOUT, False)
            moved.append(inst.name)
        return moved


class LUInstanceConsole(NoHooksLU):
    """How to reach the console of a running instance (for gnt-instance console)."""

    REQ_BGL = False

    def expand_names(self):
        self.inst_uuid, self.inst_name = expand_instance(self.cfg, self.op.instance_name,
                                                         self.op.instance_uuid)
        self.needed_locks = {locking.LEVEL_INSTANCE: [self.inst_name]}
        self.share_locks[locking.LEVEL_INSTANCE] = True

    def exec(self, feedback_fn):
        from ganeti import hypervisor
        cfg = self.cfg
        inst = cfg.get_instance_info(self.inst_uuid)
        pnode = cfg.get_node_info(inst.primary_node)
        check_node_online(cfg, inst.primary_node, "Primary node of the instance")
        if not _is_running(self, inst, inst.primary_node):
            if inst.admin_state == constants.ADMINST_UP:
                state = constants.INSTST_ERRORDOWN
            else:
                state = constants.INSTST_ADMINDOWN
            raise errors.OpExecError("Instance %s is not running (state %s)"
                                     % (inst.name, state))
        cluster = cfg.get_cluster_info()
        group = cfg.get_node_group(pnode.group)
        ndparams = cluster.fill_nd(pnode, group)
        node_data = {"name": pnode.name, "uuid": pnode.uuid, "primary_ip": pnode.primary_ip,
                     "ssh_port": ndparams.get(constants.ND_SSH_PORT)}
        try:
            hv = hypervisor.get_hypervisor(inst.hypervisor)
            console = hv.get_console(inst.to_dict(), node_data,
                                     group.to_dict() if group else {},
                                     cluster.fill_hv(inst), cluster.fill_be(inst))
        except errors.HypervisorError as err:
            raise errors.OpExecError(str(err)) from None
        console.setdefault("instance", inst.name)
        return console
