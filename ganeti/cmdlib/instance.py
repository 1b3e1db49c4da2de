"""Instance logical units: create, remove, startup, shutdown, reboot, query data."""

import os
import re

from ganeti import constants
from ganeti import errors
from ganeti import locking
from ganeti import netutils
from ganeti import objects
from ganeti.cmdlib import instance_utils as iu
from ganeti.cmdlib.base import (LogicalUnit, NoHooksLU, check_node_online,
                                check_node_vm_capable, expand_instance, expand_node,
                                instance_hooks_env)

_INSTANCE_NAME_RE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$")


class LUInstanceCreate(LogicalUnit):
    HPATH = "instance-add"
    HTYPE = constants.HTYPE_INSTANCE
    REQ_BGL = False

    def check_arguments(self):
        op = self.op
        if not _INSTANCE_NAME_RE.match(op.instance_name) or len(op.instance_name) > 255:
            raise errors.OpPrereqError("Invalid instance name '%s'" % op.instance_name,
                                       errors.ECODE_INVAL)
        if op.mode != constants.INSTANCE_CREATE:
            raise errors.OpPrereqError("Instance import is not supported yet (mode %s)"
                                       % op.mode, errors.ECODE_INVAL)
        if op.iallocator:
            raise errors.OpPrereqError("Instance allocators are not available yet; give "
                                       "the primary node with -n", errors.ECODE_INVAL)
        if not op.pnode and not op.pnode_uuid:
            raise errors.OpPrereqError("No primary node given (use -n NODE)",
                                       errors.ECODE_INVAL)
        if not op.os_type and not op.no_install:
            raise errors.OpPrereqError("No guest OS given (use -o OS)", errors.ECODE_INVAL)
        if op.disk_template == constants.DT_DISKLESS and op.disks:
            raise errors.OpPrereqError("Diskless instances cannot have disks",
                                       errors.ECODE_INVAL)
        if op.disk_template != constants.DT_DISKLESS and not op.disks:
            raise errors.OpPrereqError("The %s disk template needs at least one disk "
                                       "(use --disk or -s)" % op.disk_template,
                                       errors.ECODE_INVAL)
        if op.disk_template in constants.DTS_INT_MIRROR:
            raise errors.OpPrereqError("Disk template %s is not available yet"
                                       % op.disk_template, errors.ECODE_INVAL)
        if op.snode:
            raise errors.OpPrereqError("Template %s does not use a secondary node"
                                       % op.disk_template, errors.ECODE_INVAL)
        self.disk_specs = iu.parse_disk_specs(op.disks)
        if op.file_storage_dir and (os.path.isabs(op.file_storage_dir) or
                                    ".." in op.file_storage_dir.split("/")):
            raise errors.OpPrereqError("The file storage directory must be a relative "
                                       "path without '..': %s" % op.file_storage_dir,
                                       errors.ECODE_INVAL)

    def expand_names(self):
        if self.cfg.get_instance_info_by_name(self.op.instance_name):
            raise errors.OpPrereqError("Instance '%s' is already in the cluster"
                                       % self.op.instance_name, errors.ECODE_EXISTS)
        self.pnode_uuid, self.pnode_name = expand_node(self.cfg, self.op.pnode,
                                                       self.op.pnode_uuid)
        self.needed_locks = {locking.LEVEL_NODE: [self.pnode_uuid],
                             locking.LEVEL_NODE_RES: [self.pnode_uuid]}
        self.share_locks[locking.LEVEL_NODE] = True
        self.add_locks = {locking.LEVEL_INSTANCE: [self.op.instance_name]}

    def build_hooks_env(self):
        cluster = self.cfg.get_cluster_info()
        be = cluster.simple_fill_be(self.op.beparams)
        env = {"OP_TARGET": self.op.instance_name, "ADD_MODE": self.op.mode,
               "INSTANCE_NAME": self.op.instance_name, "INSTANCE_PRIMARY": self.pnode_name,
               "INSTANCE_SECONDARIES": "", "INSTANCE_OS_TYPE": self.op.os_type or "",
               "INSTANCE_STATUS": constants.ADMINST_UP if self.op.start
               else constants.ADMINST_DOWN,
               "INSTANCE_MINMEM": be[constants.BE_MINMEM],
               "INSTANCE_MAXMEM": be[constants.BE_MAXMEM],
               "INSTANCE_MEMORY": be[constants.BE_MAXMEM],
               "INSTANCE_VCPUS": be[constants.BE_VCPUS],
               "INSTANCE_DISK_TEMPLATE": self.op.disk_template,
               "INSTANCE_HYPERVISOR": self.hv_name,
               "INSTANCE_TAGS": " ".join(self.op.tags or []),
               "INSTANCE_DISK_COUNT": len(self.disk_specs),
               "INSTANCE_NIC_COUNT": len(self.op.nics)}
        for idx, disk in enumerate(self.disk_specs):
            env["INSTANCE_DISK%d_SIZE" % idx] = disk[constants.IDISK_SIZE]
            env["INSTANCE_DISK%d_MODE" % idx] = disk[constants.IDISK_MODE]
        for idx, nic in enumerate(getattr(self, "nics", [])):
            env["INSTANCE_NIC%d_MAC" % idx] = nic.mac
            env["INSTANCE_NIC%d_IP" % idx] = nic.ip or ""
        return env

    def build_hooks_nodes(self):
        nodes = [self.cfg.get_master_node(), self.pnode_uuid]
        return nodes, nodes

    def check_prereq(self):
        op = self.op
        cfg = self.cfg
        cluster = cfg.get_cluster_info()
        if cfg.get_instance_info_by_name(op.instance_name):
            raise errors.OpPrereqError("Instance '%s' is already in the cluster"
                                       % op.instance_name, errors.ECODE_EXISTS)
        if op.disk_template not in cluster.enabled_disk_templates:
            raise errors.OpPrereqError(
                "Disk template %s is not enabled in this cluster (enabled: %s)"
                % (op.disk_template, ", ".join(cluster.enabled_disk_templates)),
                errors.ECODE_STATE)
        if op.disk_template not in constants.DTS_IMPLEMENTED:
            raise errors.OpPrereqError("Disk template %s is not available yet"
                                       % op.disk_template, errors.ECODE_INVAL)
        self.hv_name = op.hypervisor or cluster.enabled_hypervisors[0]
        if self.hv_name not in cluster.enabled_hypervisors:
            raise errors.OpPrereqError("Selected hypervisor (%s) not enabled in the cluster"
                                       " (%s)" % (self.hv_name,
                                                  ",".join(cluster.enabled_hypervisors)),
                                       errors.ECODE_STATE)
        check_node_online(cfg, self.pnode_uuid)
        check_node_vm_capable(cfg, self.pnode_uuid)
        pnode = cfg.get_node_info(self.pnode_uuid)
        if pnode.drained:
            raise errors.OpPrereqError("Cannot use drained node %s as primary" % pnode.name,
                                       errors.ECODE_STATE)
        self.beparams = iu.check_beparams(op.beparams)
        self.hvparams = iu.check_hvparams(self.hv_name, op.hvparams)
        self.filled_be = cluster.simple_fill_be(self.beparams)
        self.filled_hv = cluster.simple_fill_hv(self.hv_name, op.os_type or "",
                                                self.hvparams)
        self.nics = iu.build_nics(cfg, op.nics, op.instance_name)
        if not op.ignore_ipolicy:
            iu.check_ipolicy(cluster.ipolicy, self.filled_be, self.disk_specs,
                             len(self.nics), op.disk_template)
        if op.ip_check or op.name_check:
            self._check_name_and_ip()
        # Node-side checks: OS, bridges, hypervisor parameters
        if op.os_type:
            osparams = cluster.simple_fill_os(op.os_type, op.osparams)
            osparams.update(op.osparams_private or {})
            res = self.rpc.call_single("os_validate", self.pnode_uuid,
                                       [True, op.os_type, [constants.OS_VALIDATE_PARAMETERS],
                                        osparams, False])
            res.raise_on_fail("OS '%s' cannot be used on node %s" % (op.os_type,
                                                                    pnode.name), prereq=True)
        links = sorted({cluster.simple_fill_nic(n.nicparams)[constants.NIC_LINK]
                        for n in self.nics
                        if cluster.simple_fill_nic(n.nicparams)[constants.NIC_MODE] ==
                        constants.NIC_MODE_BRIDGED})
        if links:
            res = self.rpc.call_single("bridges_exist", self.pnode_uuid, [links])
            res.raise_on_fail("Bridge check on node %s failed" % pnode.name, prereq=True)
        res = self.rpc.call_single("hypervisor_validate_params", self.pnode_uuid,
                                   [self.hv_name, self.filled_hv])
        res.raise_on_fail("Hypervisor parameter validation failed on node %s"
                          % pnode.name, prereq=True)
        if op.disk_template in constants.DTS_FILEBASED:
            base = cluster.file_storage_dir if op.disk_template == constants.DT_FILE \
                else cluster.shared_file_storage_dir
            if not base:
                raise errors.OpPrereqError("No file storage directory is configured for "
                                           "the cluster", errors.ECODE_STATE)
            self.file_dir = os.path.join(base, op.file_storage_dir or "",
                                         op.instance_name)
            iu.check_node_storage_space(self.rpc, pnode, op.disk_template, base,
                                        sum(d[constants.IDISK_SIZE] for d in self.disk_specs))
        if op.start:
            iu.check_node_free_memory(self.rpc, self.pnode_uuid, pnode.name,
                                      self.filled_be[constants.BE_MAXMEM], self.hv_name,
                                      self.filled_hv, "creating instance %s"
                                      % op.instance_name)

    def _check_name_and_ip(self) -> None:
        try:
            address = netutils.resolve(self.op.instance_name)
        except errors.ResolverError as err:
            raise errors.OpPrereqError(errors.format_error(err), errors.ECODE_RESOLVER) \
                from None
        if self.op.ip_check and netutils.tcp_ping(address, constants.DEFAULT_NODED_PORT,
                                                  timeout=1):
            raise errors.OpPrereqError("IP %s of instance %s already in use"
                                       % (address, self.op.instance_name),
                                       errors.ECODE_NOTUNIQUE)

    def exec(self, feedback_fn):
        op = self.op
        cfg = self.cfg
        inst = objects.Instance(
            name=op.instance_name, primary_node=self.pnode_uuid, os=op.os_type or "",
            hypervisor=self.hv_name, hvparams=self.hvparams, beparams=self.beparams,
            osparams=dict(op.osparams), osparams_private=dict(op.osparams_private or {}),
            admin_state=constants.ADMINST_UP if op.start else constants.ADMINST_DOWN,
            admin_state_source=constants.ADMIN_SOURCE, nics=self.nics, disks=[],
            disks_active=False, tags=list(op.tags or []), forthcoming=False)
        inst.uuid = _new_uuid()
        disks = iu.generate_disks(op.disk_template, inst.uuid, self.pnode_uuid,
                                  self.disk_specs, getattr(self, "file_dir", None),
                                  op.file_driver or constants.FD_DEFAULT)
        if disks:
            feedback_fn("* creating instance disks...")
            iu.create_disks(self, inst, disks, self.pnode_uuid,
                            getattr(self, "file_dir", None))
        feedback_fn("adding instance %s to cluster config" % inst.name)
        try:
            cfg.add_instance(inst, disks)
        except errors.GenericError:
            iu.remove_disks(self, inst, disks, self.pnode_uuid,
                            getattr(self, "file_dir", None))
            raise
        if disks:
            cfg.set_disks_active(inst.uuid, True)
        # The resources are accounted for in the configuration now: other creations
        # on this node may go ahead while the OS installs.
        self.proc.glm.release(locking.LEVEL_NODE_RES)
        if not op.no_install and op.os_type:
            feedback_fn("* running the instance OS create scripts...")
            res = self.rpc.call_single("instance_os_add", self.pnode_uuid,
                                       [iu.instance_rpc_dict(cfg, inst.uuid,
                                                             op.osparams_secret), False,
                                        op.debug_level or 0])
            if res.fail_msg:
                self._rollback(inst, disks)
                raise errors.OpExecError("Could not add os for instance %s on node %s: %s"
                                         % (inst.name, self.pnode_name, res.fail_msg))
        if op.start:
            feedback_fn("* starting instance...")
            res = self.rpc.call_single("instance_start", self.pnode_uuid,
                                       [iu.instance_rpc_dict(cfg, inst.uuid), False,
                                        op.reason])
            res.raise_on_fail("Could not start instance")
        return [self.pnode_name]

    def _rollback(self, inst, disks) -> None:
        self.cfg.remove_instance(inst.uuid)
        iu.remove_disks(self, inst, disks, self.pnode_uuid, getattr(self, "file_dir", None))


def _new_uuid() -> str:
    from ganeti.config import generate_uuid
    return generate_uuid()


class _InstanceLU(LogicalUnit):
    """Common parts of the LUs that act on one existing instance."""

    HTYPE = constants.HTYPE_INSTANCE
    REQ_BGL = False
    LOCK_NODES_SHARED = True

    def expand_names(self):
        self.inst_uuid, self.inst_name = expand_instance(self.cfg, self.op.instance_name,
                                                         getattr(self.op, "instance_uuid",
                                                                 None))
        self.needed_locks = {locking.LEVEL_INSTANCE: [self.inst_name],
                             locking.LEVEL_NODE: []}
        self.share_locks[locking.LEVEL_NODE] = self.LOCK_NODES_SHARED

    def declare_locks(self, level):
        if level == locking.LEVEL_NODE:
            self.needed_locks[locking.LEVEL_NODE] = \
                self.cfg.get_instance_all_nodes(self.inst_uuid)

    def check_prereq(self):
        self.instance = self.cfg.get_instance_info(self.inst_uuid)
        if self.instance is None:
            raise errors.OpPrereqError("Instance '%s' not known" % self.inst_name,
                                       errors.ECODE_NOENT)

    def build_hooks_env(self):
        inst = self.cfg.get_instance_info(self.inst_uuid)
        if inst is None:
            # the LU removed the instance: the post phase sees the last known values
            return dict(getattr(self, "_last_hooks_env", {}))
        self._last_hooks_env = instance_hooks_env(self.cfg, inst)
        return dict(self._last_hooks_env)

    def build_hooks_nodes(self):
        nodes = [self.cfg.get_master_node()] + self.cfg.get_instance_all_nodes(
            self.inst_uuid)
        return nodes, nodes

    def rpc_dict(self) -> dict:
        return iu.instance_rpc_dict(self.cfg, self.inst_uuid)


class LUInstanceStartup(_InstanceLU):
    HPATH = "instance-start"

    def build_hooks_env(self):
        env = super().build_hooks_env()
        env["FORCE"] = self.op.force
        return env

    def check_prereq(self):
        super().check_prereq()
        inst = self.instance
        if inst.admin_state == constants.ADMINST_OFFLINE:
            raise errors.OpPrereqError("Instance '%s' is marked offline" % inst.name,
                                       errors.ECODE_STATE)
        pnode = self.cfg.get_node_info(inst.primary_node)
        if pnode.offline:
            if self.op.ignore_offline_nodes:
                self.primary_offline = True
                return
            raise errors.OpPrereqError("Primary node %s of instance %s is offline"
                                       % (pnode.name, inst.name), errors.ECODE_STATE)
        self.primary_offline = False
        if self.op.hvparams:
            iu.check_hvparams(inst.hypervisor, self.op.hvparams)
        if self.op.beparams:
            iu.check_beparams(self.op.beparams)
        info = self.rpc.call_single("instance_info", inst.primary_node,
                                    [inst.name, inst.hypervisor,
                                     self.cfg.get_cluster_info().fill_hv(inst)])
        info.raise_on_fail("Error checking node %s" % pnode.name, prereq=True)
        self.already_running = bool(info.payload)
        if not self.already_running:
            cluster = self.cfg.get_cluster_info()
            be = objects.fill_dict(cluster.fill_be(inst), self.op.beparams)
            iu.check_node_free_memory(self.rpc, inst.primary_node, pnode.name,
                                      be[constants.BE_MINMEM], inst.hypervisor,
                                      cluster.fill_hv(inst),
                                      "starting instance %s" % inst.name)

    def exec(self, feedback_fn):
        inst = self.instance
        if not self.op.no_remember:
            self.cfg.set_instance_admin_state(inst.uuid, constants.ADMINST_UP)
        if self.primary_offline:
            self.log_warning("Ignoring offline primary node")
            return True
        if self.already_running:
            self.log_info("Instance %s is already running", inst.name)
            return True
        data = self.rpc_dict()
        data["hvparams"].update(self.op.hvparams or {})
        data["beparams"].update(self.op.beparams or {})
        if inst.disks:
            self.cfg.set_disks_active(inst.uuid, True)
        res = self.rpc.call_single("instance_start", inst.primary_node,
                                   [data, self.op.startup_paused, self.op.reason])
        res.raise_on_fail("Could not start instance")
        return True


class LUInstanceShutdown(_InstanceLU):
    HPATH = "instance-stop"

    def build_hooks_env(self):
        env = super().build_hooks_env()
        env["TIMEOUT"] = self.op.timeout
        return env

    def check_prereq(self):
        super().check_prereq()
        inst = self.instance
        pnode = self.cfg.get_node_info(inst.primary_node)
        self.primary_offline = pnode.offline
        if pnode.offline and not self.op.ignore_offline_nodes:
            raise errors.OpPrereqError("Primary node %s of instance %s is offline"
                                       % (pnode.name, inst.name), errors.ECODE_STATE)

    def exec(self, feedback_fn):
        inst = self.instance
        if not self.op.no_remember:
            self.cfg.set_instance_admin_state(inst.uuid, constants.ADMINST_DOWN,
                                              self.op.admin_state_source or
                                              constants.ADMIN_SOURCE)
        if self.primary_offline:
            self.log_warning("Ignoring offline primary node")
            return True
        res = self.rpc.call_single("instance_shutdown", inst.primary_node,
                                   [self.rpc_dict(), self.op.timeout, self.op.reason])
        if res.fail_msg:
            self.log_warning("Could not shutdown instance: %s", res.fail_msg)
        return True


class LUInstanceReboot(_InstanceLU):
    HPATH = "instance-reboot"

    def build_hooks_env(self):
        env = super().build_hooks_env()
        env.update({"IGNORE_SECONDARIES": self.op.ignore_secondaries,
                    "REBOOT_TYPE": self.op.reboot_type,
                    "SHUTDOWN_TIMEOUT": self.op.shutdown_timeout})
        return env

    def check_prereq(self):
        super().check_prereq()
        inst = self.instance
        if inst.admin_state == constants.ADMINST_OFFLINE:
            raise errors.OpPrereqError("Instance '%s' is marked offline" % inst.name,
                                       errors.ECODE_STATE)
        check_node_online(self.cfg, inst.primary_node,
                          "Instance primary node offline, cannot reboot")

    def exec(self, feedback_fn):
        inst = self.instance
        info = self.rpc.call_single("instance_info", inst.primary_node,
                                    [inst.name, inst.hypervisor,
                                     self.cfg.get_cluster_info().fill_hv(inst)])
        info.raise_on_fail("Error checking node %s" % self.cfg.get_node_name(
            inst.primary_node))
        running = bool(info.payload)
        data = self.rpc_dict()
        if running and self.op.reboot_type in (constants.INSTANCE_REBOOT_SOFT,
                                               constants.INSTANCE_REBOOT_HARD):
            res = self.rpc.call_single("instance_reboot", inst.primary_node,
                                       [data, self.op.reboot_type,
                                        self.op.shutdown_timeout, self.op.reason])
            res.raise_on_fail("Could not reboot instance")
        else:
            if running:
                res = self.rpc.call_single("instance_shutdown", inst.primary_node,
                                           [data, self.op.shutdown_timeout, self.op.reason])
                res.raise_on_fail("Could not shutdown instance for full reboot")
            else:
                self.log_info("Instance %s was already stopped, starting now", inst.name)
            res = self.rpc.call_single("instance_start", inst.primary_node,
                                       [data, False, self.op.reason])
            res.raise_on_fail("Could not start instance for full reboot")
        self.cfg.set_instance_admin_state(inst.uuid, constants.ADMINST_UP)
        return True


class LUInstanceRemove(_InstanceLU):
    HPATH = "instance-remove"
    LOCK_NODES_SHARED = False

    def build_hooks_env(self):
        env = super().build_hooks_env()
        env["SHUTDOWN_TIMEOUT"] = self.op.shutdown_timeout
        return env

    def build_hooks_nodes(self):
        nodes = [self.cfg.get_master_node()]
        return nodes, nodes + self.cfg.get_instance_all_nodes(self.inst_uuid)

    def exec(self, feedback_fn):
        inst = self.instance
        feedback_fn("Shutting down instance %s on node %s"
                    % (inst.name, self.cfg.get_node_name(inst.primary_node)))
        res = self.rpc.call_single("instance_shutdown", inst.primary_node,
                                   [self.rpc_dict(), self.op.shutdown_timeout,
                                    self.op.reason])
        if res.fail_msg:
            if self.op.ignore_failures:
                feedback_fn("Warning: can't shutdown instance: %s" % res.fail_msg)
            else:
                raise errors.OpExecError("Could not shutdown instance %s on node %s: %s"
                                         % (inst.name,
                                            self.cfg.get_node_name(inst.primary_node),
                                            res.fail_msg))
        disks = self.cfg.get_instance_disks(inst.uuid)
        feedback_fn("Removing block devices for instance %s" % inst.name)
        file_dir = iu.instance_file_dir(disks)
        ok = iu.remove_disks(self, inst, disks, inst.primary_node, file_dir)
        if not ok and not self.op.ignore_failures:
            raise errors.OpExecError("Can't remove instance's disks")
        feedback_fn("Removing instance %s out of cluster config" % inst.name)
        self.cfg.remove_instance(inst.uuid)
        try:
            self.proc.glm.remove(locking.LEVEL_INSTANCE, [inst.name])
        except errors.GenericError:
            pass
        return True


class LUInstanceQueryData(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        if self.op.instances:
            self.wanted = [expand_instance(self.cfg, name)[0] for name in self.op.instances]
        else:
            self.wanted = list(self.cfg.get_instance_list())
        self.needed_locks = {}

    def exec(self, feedback_fn):
        from ganeti import query
        return {self.cfg.get_instance_info(u).name: query.instance_details(
            self.cfg, self.rpc, u, self.op.static) for u in self.wanted
            if self.cfg.get_instance_info(u)}
