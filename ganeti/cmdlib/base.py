"""The logical unit: one life cycle for every operation.

Phases, in order: check_arguments, expand_names (declares locks), declare_locks per
level, check_prereq, pre-hooks, exec, post-hooks.  A reader who knows one LU knows
them all.
"""

from ganeti import constants
from ganeti import errors
from ganeti import locking
from ganeti import netutils


class LogicalUnit:
    HPATH: str | None = None
    HTYPE: str | None = None
    REQ_BGL = True  # exclusive Big Ganeti Lock

    def __init__(self, proc, op, cfg, rpc):
        self.proc = proc
        self.op = op
        self.cfg = cfg
        self.rpc = rpc
        self.needed_locks: dict | None = None
        self.share_locks = {level: False for level in locking.LEVELS}
        self.add_locks: dict = {}
        self.added_locks: dict = {}
        self.warnings: list[str] = []
        self.dry_run_result = None
        self.check_arguments()

    # --- phases ----------------------------------------------------------
    def check_arguments(self) -> None:
        """Checks that need no configuration (syntax of the parameters)."""

    def expand_names(self) -> None:
        """Resolve names to UUIDs and declare ``needed_locks``."""
        self.needed_locks = {}

    def declare_locks(self, level: int) -> None:
        """Refine the locks of one level once the previous levels are held."""

    def check_prereq(self) -> None:
        """Check the preconditions against the configuration (locks are held)."""

    def build_hooks_env(self) -> dict:
        return {}

    def build_hooks_nodes(self) -> tuple[list, list]:
        """(pre-phase node UUIDs, post-phase node UUIDs)."""
        return [], []

    def hooks_callback(self, phase: str, hook_results: dict, feedback_fn, lu_result):
        return lu_result

    def exec(self, feedback_fn):
        raise errors.OpExecError("%s has no implementation" % self.__class__.__name__)

    # --- helpers -----------------------------------------------------------
    def log_info(self, message: str, *args) -> None:
        self.proc.log_info(message % args if args else message)

    def log_warning(self, message: str, *args) -> None:
        text = message % args if args else message
        self.warnings.append(text)
        self.proc.log_warning(text)

    def lock_all(self, level: int) -> None:
        self.needed_locks[level] = locking.ALL_SET

    def owned(self, level: int) -> set:
        return self.proc.glm.list_owned(level)

    def master_uuid(self) -> str:
        return self.cfg.get_master_node()


class NoHooksLU(LogicalUnit):
    HPATH = None
    HTYPE = None


# --- name expansion shared by LUs ------------------------------------------
def expand_node(cfg, name: str | None, uuid: str | None = None) -> tuple[str, str]:
    """(uuid, name) of a node given by name (or uuid); OpPrereqError if unknown."""
    if uuid:
        node = cfg.get_node_info(uuid)
        if node is None or (name and node.name != name):
            raise errors.OpPrereqError("Node '%s' not known" % (name or uuid),
                                       errors.ECODE_NOENT)
        return node.uuid, node.name
    node = cfg.get_node_info_by_name(name) if name else None
    if node is None:
        # accept a unique short-name prefix like Ganeti ("node1" for "node1.example.com")
        matches = [n for n in cfg.get_all_nodes_info().values()
                   if name and n.name.split(".")[0] == name]
        if len(matches) == 1:
            node = matches[0]
    if node is None:
        raise errors.OpPrereqError("Node '%s' not known" % name, errors.ECODE_NOENT)
    return node.uuid, node.name


def expand_instance(cfg, name: str | None, uuid: str | None = None) -> tuple[str, str]:
    inst = cfg.get_instance_info(uuid) if uuid else cfg.get_instance_info_by_name(name or "")
    if inst is None:
        matches = [i for i in cfg.get_all_instances_info().values()
                   if name and i.name.split(".")[0] == name]
        if len(matches) == 1:
            inst = matches[0]
    if inst is None:
        raise errors.OpPrereqError("Instance '%s' not known" % (name or uuid),
                                   errors.ECODE_NOENT)
    return inst.uuid, inst.name


def check_node_online(cfg, node_uuid: str, msg: str | None = None) -> None:
    node = cfg.get_node_info(node_uuid)
    if node.offline:
        raise errors.OpPrereqError("%s: node %s is offline" % (msg or "Can't use node",
                                                                node.name),
                                   errors.ECODE_STATE)


def check_node_vm_capable(cfg, node_uuid: str) -> None:
    node = cfg.get_node_info(node_uuid)
    if not node.vm_capable:
        raise errors.OpPrereqError("Node %s is not vm capable" % node.name,
                                   errors.ECODE_STATE)


def resolve_node_address(name: str) -> str:
    return netutils.resolve(name)


def instance_hooks_env(cfg, inst, override: dict | None = None) -> dict:
    """The INSTANCE_* hook variables of node-interfaces.md 3.2."""
    cluster = cfg.get_cluster_info()
    be = cluster.fill_be(inst)
    hv = cluster.fill_hv(inst)
    env = {
        "OP_TARGET": inst.name,
        "INSTANCE_NAME": inst.name,
        "INSTANCE_PRIMARY": cfg.get_node_name(inst.primary_node),
        "INSTANCE_SECONDARIES": " ".join(cfg.get_node_names(
            cfg.get_instance_secondary_nodes(inst.uuid))),
        "INSTANCE_OS_TYPE": inst.os,
        "INSTANCE_STATUS": inst.admin_state,
        "INSTANCE_MINMEM": be[constants.BE_MINMEM],
        "INSTANCE_MAXMEM": be[constants.BE_MAXMEM],
        "INSTANCE_MEMORY": be[constants.BE_MAXMEM],
        "INSTANCE_VCPUS": be[constants.BE_VCPUS],
        "INSTANCE_DISK_TEMPLATE": cfg.get_instance_disk_template(inst.uuid),
        "INSTANCE_HYPERVISOR": inst.hypervisor,
        "INSTANCE_TAGS": " ".join(sorted(inst.tags or [])),
        "INSTANCE_NIC_COUNT": len(inst.nics),
    }
    for idx, nic in enumerate(inst.nics):
        params = cluster.simple_fill_nic(nic.nicparams)
        prefix = "INSTANCE_NIC%d_" % idx
        env[prefix + "UUID"] = nic.uuid
        if nic.name:
            env[prefix + "NAME"] = nic.name
        env[prefix + "IP"] = nic.ip or ""
        env[prefix + "MAC"] = nic.mac
        env[prefix + "MODE"] = params[constants.NIC_MODE]
        env[prefix + "LINK"] = params[constants.NIC_LINK]
        env[prefix + "VLAN"] = params.get(constants.NIC_VLAN, "")
        if params[constants.NIC_MODE] == constants.NIC_MODE_BRIDGED:
            env[prefix + "BRIDGE"] = params[constants.NIC_LINK]
    disks = cfg.get_instance_disks(inst.uuid)
    env["INSTANCE_DISK_COUNT"] = len(disks)
    for idx, disk in enumerate(disks):
        prefix = "INSTANCE_DISK%d_" % idx
        env[prefix + "UUID"] = disk.uuid
        if disk.name:
            env[prefix + "NAME"] = disk.name
        env[prefix + "SIZE"] = disk.size
        env[prefix + "MODE"] = disk.mode
        env[prefix + "DEV_TYPE"] = disk.dev_type
        if disk.dev_type in constants.DTS_FILEBASED:
            env[prefix + "DRIVER"] = disk.logical_id[0]
            env[prefix + "ID"] = disk.logical_id[1]
    for key, value in be.items():
        env["INSTANCE_BE_%s" % key] = value
    for key, value in hv.items():
        env["INSTANCE_HV_%s" % key] = value
    if override:
        env.update(override)
    return env
