"""Opcodes: the typed, validated requests that jobs are made of.

An opcode travels as a dict with ``OP_ID`` (e.g. ``OP_INSTANCE_STARTUP``) plus its
parameters.  Each class declares its parameters once: name, default, type, doc.
"""

import re

from ganeti import constants
from ganeti import errors

_NO_DEFAULT = object()


# Type checks: each returns True when the value is acceptable.
def t_any(_v):
    return True


def t_str(v):
    return isinstance(v, str)


def t_nonempty_str(v):
    return isinstance(v, str) and bool(v)


def t_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def t_nonneg_int(v):
    return t_int(v) and v >= 0


def t_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def t_bool(v):
    return isinstance(v, bool)


def t_list(v):
    return isinstance(v, list)


def t_dict(v):
    return isinstance(v, dict)


def t_list_of(check):
    def _check(v):
        return isinstance(v, list) and all(check(i) for i in v)
    _check.__name__ = "list_of_%s" % check.__name__
    return _check


def t_maybe(check):
    def _check(v):
        return v is None or check(v)
    _check.__name__ = "maybe_%s" % check.__name__
    return _check


def t_elem_of(values):
    def _check(v):
        return v in values
    _check.__name__ = "one_of(%s)" % ", ".join(sorted(str(x) for x in values))
    return _check


def t_dict_of_dicts(v):
    return isinstance(v, dict) and all(isinstance(x, dict) for x in v.values())


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def t_name(v):
    return isinstance(v, str) and bool(_NAME_RE.match(v)) and len(v) <= 255


# Common parameters
P_DRY_RUN = ("dry_run", None, t_maybe(t_bool), "Only check, do not execute")
P_DEBUG = ("debug_level", None, t_maybe(t_nonneg_int), "Debug level")
P_PRIORITY = ("priority", constants.OP_PRIO_DEFAULT,
              lambda v: t_int(v) and constants.OP_PRIO_HIGHEST <= v <= constants.OP_PRIO_LOWEST,
              "Opcode priority")
P_DEPENDS = ("depends", None, t_maybe(t_list), "Job dependencies")
P_COMMENT = ("comment", None, t_maybe(t_str), "Comment")
P_REASON = ("reason", None, t_maybe(t_list), "Reason trail")
COMMON_PARAMS = (P_DRY_RUN, P_DEBUG, P_PRIORITY, P_DEPENDS, P_COMMENT, P_REASON)

P_FORCE = ("force", False, t_bool, "Force the operation")
P_INSTANCE_NAME = ("instance_name", _NO_DEFAULT, t_nonempty_str, "Instance name")
P_INSTANCE_UUID = ("instance_uuid", None, t_maybe(t_str), "Instance UUID")
P_NODE_NAME = ("node_name", _NO_DEFAULT, t_nonempty_str, "Node name")
P_NODE_UUID = ("node_uuid", None, t_maybe(t_str), "Node UUID")
P_SHUTDOWN_TIMEOUT = ("shutdown_timeout", constants.DEFAULT_SHUTDOWN_TIMEOUT,
                      t_nonneg_int, "Seconds to wait for a clean shutdown")
P_IGNORE_OFFLINE = ("ignore_offline_nodes", False, t_bool, "Ignore offline nodes")
P_NO_REMEMBER = ("no_remember", False, t_bool, "Do not remember the state change")
P_OUTPUT_FIELDS = ("output_fields", _NO_DEFAULT, t_list_of(t_str), "Fields to return")
P_NAMES = ("names", [], t_list_of(t_str), "Names to query")
P_USE_LOCKING = ("use_locking", False, t_bool, "Use locking")


class OpCode:
    """Base class: parameters are declared in OP_PARAMS as (name, default, check, doc)."""

    OP_ID = "OP_CODE"
    OP_PARAMS: tuple = ()
    OP_DSC_FIELD: str | None = None
    OP_RESULT = None
    WITH_LU = True

    def __init__(self, **kwargs):
        params = {p[0]: p for p in self.all_params()}
        for key in kwargs:
            if key not in params:
                raise errors.OpPrereqError("Parameter '%s' is not valid for %s"
                                           % (key, self.OP_ID), errors.ECODE_INVAL)
        for name, default, _check, _doc in params.values():
            if name in kwargs:
                value = kwargs[name]
            elif default is _NO_DEFAULT:
                value = None
            else:
                value = _copy_default(default)
            setattr(self, name, value)

    @classmethod
    def all_params(cls) -> tuple:
        return tuple(cls.OP_PARAMS) + COMMON_PARAMS

    def validate(self, set_defaults: bool = True) -> None:
        """Check every parameter; raise OpPrereqError naming the bad one."""
        for name, default, check, _doc in self.all_params():
            value = getattr(self, name, None)
            if value is None:
                if default is _NO_DEFAULT:
                    raise errors.OpPrereqError("Required parameter '%s.%s' missing"
                                               % (self.OP_ID, name), errors.ECODE_INVAL)
                if set_defaults and default is not None:
                    setattr(self, name, _copy_default(default))
                    continue
                if check(None):
                    continue
                if default is None:
                    continue
            if not check(getattr(self, name)):
                raise errors.OpPrereqError(
                    "Parameter '%s.%s' fails validation: expected %s, got %r"
                    % (self.OP_ID, name, getattr(check, "__name__", "valid value"),
                       getattr(self, name)), errors.ECODE_INVAL)

    def to_dict(self) -> dict:
        result = {"OP_ID": self.OP_ID}
        for name, _default, _check, _doc in self.all_params():
            value = getattr(self, name, None)
            if value is not None:
                result[name] = value
        return result

    @staticmethod
    def from_dict(data: dict) -> "OpCode":
        if not isinstance(data, dict):
            raise errors.OpPrereqError("Invalid opcode: expected an object, got %s"
                                       % type(data).__name__, errors.ECODE_INVAL)
        op_id = data.get("OP_ID")
        cls = OP_MAPPING.get(op_id)
        if cls is None:
            raise errors.OpPrereqError("Unknown opcode %r" % (op_id,), errors.ECODE_INVAL)
        kwargs = {k: v for k, v in data.items() if k != "OP_ID"}
        return cls(**kwargs)

    def summary(self) -> str:
        """Short description, e.g. INSTANCE_STARTUP(inst1)."""
        text = self.OP_ID[3:] if self.OP_ID.startswith("OP_") else self.OP_ID
        if self.OP_DSC_FIELD:
            value = getattr(self, self.OP_DSC_FIELD, None)
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            if value is not None:
                text += "(%s)" % value
        return text

    def tiny_summary(self) -> str:
        return self.summary()

    def __repr__(self):
        return "<%s>" % self.summary()


def _copy_default(value):
    if isinstance(value, (list, dict)):
        import copy
        return copy.deepcopy(value)
    return value


# --- Cluster ---------------------------------------------------------------
class OpClusterPostInit(OpCode):
    OP_ID = "OP_CLUSTER_POST_INIT"


class OpClusterDestroy(OpCode):
    OP_ID = "OP_CLUSTER_DESTROY"


class OpClusterQuery(OpCode):
    OP_ID = "OP_CLUSTER_QUERY"


class OpClusterVerify(OpCode):
    OP_ID = "OP_CLUSTER_VERIFY"
    OP_PARAMS = (
        ("group_name", None, t_maybe(t_str), "Only verify this group"),
        ("ignore_errors", [], t_list_of(t_str), "Error codes to demote to warnings"),
        ("error_codes", False, t_bool, "Machine-parseable error codes"),
        ("skip_checks", [], t_list_of(t_str), "Checks to skip"),
        ("verbose", False, t_bool, "Verbose output"),
        ("debug_simulate_errors", False, t_bool, "Simulate errors"),
        ("verify_clutter", False, t_bool, "Verify SSH clutter"),
    )


class OpClusterRedistConf(OpCode):
    OP_ID = "OP_CLUSTER_REDIST_CONF"


class OpClusterSetParams(OpCode):
    OP_ID = "OP_CLUSTER_SET_PARAMS"
    OP_PARAMS = (
        ("candidate_pool_size", None, t_maybe(lambda v: t_int(v) and v > 0), "Pool size"),
        ("max_running_jobs", None, t_maybe(lambda v: t_int(v) and v > 0), "Max jobs"),
        ("enabled_hypervisors", None, t_maybe(t_list_of(t_str)), "Hypervisors"),
        ("enabled_disk_templates", None, t_maybe(t_list_of(t_str)), "Disk templates"),
        ("beparams", None, t_maybe(t_dict), "Backend parameters"),
        ("nicparams", None, t_maybe(t_dict), "NIC parameters"),
        ("hvparams", None, t_maybe(t_dict_of_dicts), "Hypervisor parameters"),
        ("ndparams", None, t_maybe(t_dict), "Node parameters"),
        ("modify_etc_hosts", None, t_maybe(t_bool), "Modify /etc/hosts"),
    )


class OpClusterRenewCrypto(OpCode):
    """Renew certificates and keys; never carries key material, only file paths that
    the master reads itself."""
    OP_ID = "OP_CLUSTER_RENEW_CRYPTO"
    OP_PARAMS = (
        ("new_cluster_certificate", False, t_bool, "New cluster certificate"),
        ("node_certificates", False, t_bool, "New node client certificates"),
        ("new_rapi_certificate", False, t_bool, "New RAPI certificate"),
        ("rapi_certificate_file", None, t_maybe(t_nonempty_str),
         "RAPI certificate file (key and certificate) on the master"),
        ("new_spice_certificate", False, t_bool, "New SPICE certificate"),
        ("spice_certificate_file", None, t_maybe(t_nonempty_str),
         "SPICE certificate file (key and certificate) on the master"),
        ("spice_ca_certificate_file", None, t_maybe(t_nonempty_str),
         "SPICE CA certificate file on the master"),
        ("new_confd_hmac_key", False, t_bool, "New confd HMAC key"),
        ("new_cluster_domain_secret", False, t_bool, "New cluster domain secret"),
        ("cluster_domain_secret_file", None, t_maybe(t_nonempty_str),
         "Cluster domain secret file on the master"),
        ("renew_ssh_keys", False, t_bool, "New cluster SSH root key pair"),
        ("ssh_key_type", None, t_maybe(t_elem_of(constants.SSHK_ALL)), "SSH key type"),
        ("ssh_key_bits", None, t_maybe(lambda v: t_int(v) and v > 0), "SSH key bits"),
        ("verify_ssh_host_keys", True, t_bool, "Check SSH host keys"),
        ("verbose", False, t_bool, "Verbose output"),
    )


# --- Nodes -----------------------------------------------------------------
class OpNodeAdd(OpCode):
    OP_ID = "OP_NODE_ADD"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (
        P_NODE_NAME,
        ("primary_ip", None, t_maybe(t_str), "Primary IP (resolved when missing)"),
        ("secondary_ip", None, t_maybe(t_str), "Secondary IP"),
        ("readd", False, t_bool, "Re-add a node that was in the cluster"),
        ("group", None, t_maybe(t_str), "Node group"),
        ("master_capable", None, t_maybe(t_bool), "Master capable"),
        ("vm_capable", None, t_maybe(t_bool), "VM capable"),
        ("ndparams", None, t_maybe(t_dict), "Node parameters"),
        ("node_setup", True, t_bool, "Set the node up over SSH"),
    )


class OpNodeRemove(OpCode):
    OP_ID = "OP_NODE_REMOVE"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (P_NODE_NAME, P_NODE_UUID)


class OpNodeSetParams(OpCode):
    OP_ID = "OP_NODE_SET_PARAMS"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (
        P_NODE_NAME, P_NODE_UUID, P_FORCE,
        ("master_candidate", None, t_maybe(t_bool), "Master candidate"),
        ("offline", None, t_maybe(t_bool), "Offline"),
        ("drained", None, t_maybe(t_bool), "Drained"),
        ("auto_promote", False, t_bool, "Promote other nodes if needed"),
        ("master_capable", None, t_maybe(t_bool), "Master capable"),
        ("vm_capable", None, t_maybe(t_bool), "VM capable"),
        ("ndparams", None, t_maybe(t_dict), "Node parameters"),
    )


# --- Instances -------------------------------------------------------------
class OpInstanceCreate(OpCode):
    OP_ID = "OP_INSTANCE_CREATE"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (
        P_INSTANCE_NAME,
        ("mode", constants.INSTANCE_CREATE, t_elem_of(constants.INSTANCE_CREATE_MODES),
         "Creation mode"),
        ("disk_template", _NO_DEFAULT, t_elem_of(constants.DISK_TEMPLATES),
         "Disk template"),
        ("disks", _NO_DEFAULT, t_list_of(t_dict), "Disk specifications"),
        ("nics", _NO_DEFAULT, t_list_of(t_dict), "NIC specifications"),
        ("os_type", None, t_maybe(t_str), "Operating system (with variant)"),
        ("pnode", None, t_maybe(t_str), "Primary node"),
        ("pnode_uuid", None, t_maybe(t_str), "Primary node UUID"),
        ("snode", None, t_maybe(t_str), "Secondary node"),
        ("snode_uuid", None, t_maybe(t_str), "Secondary node UUID"),
        ("iallocator", None, t_maybe(t_str), "Instance allocator"),
        ("hypervisor", None, t_maybe(t_str), "Hypervisor"),
        ("hvparams", {}, t_dict, "Hypervisor parameters"),
        ("beparams", {}, t_dict, "Backend parameters"),
        ("osparams", {}, t_dict, "OS parameters"),
        ("osparams_private", None, t_maybe(t_dict), "Private OS parameters"),
        ("osparams_secret", None, t_maybe(t_dict), "Secret OS parameters"),
        ("start", True, t_bool, "Start after creation"),
        ("wait_for_sync", True, t_bool, "Wait for disk sync"),
        ("ip_check", False, t_bool, "Check the IP is not in use"),
        ("name_check", False, t_bool, "Check the name resolves"),
        ("conflicts_check", True, t_bool, "Check for conflicting IPs"),
        ("no_install", None, t_maybe(t_bool), "Do not run the OS installation"),
        ("file_storage_dir", None, t_maybe(t_str), "File storage directory"),
        ("file_driver", None, t_maybe(t_elem_of(constants.FILE_DRIVER)), "File driver"),
        ("ignore_ipolicy", False, t_bool, "Ignore the instance policy"),
        ("identify_defaults", False, t_bool, "Reset parameters equal to defaults"),
        ("src_node", None, t_maybe(t_str), "Import source node"),
        ("src_path", None, t_maybe(t_str), "Import source path"),
        ("source_handshake", None, t_any, "Remote import handshake"),
        ("source_x509_ca", None, t_maybe(t_str), "Remote import CA"),
        ("source_instance_name", None, t_maybe(t_str), "Remote import name"),
        ("source_shutdown_timeout", None, t_maybe(t_nonneg_int), "Remote timeout"),
        ("compress", "none", t_str, "Compression"),
        ("tags", [], t_list_of(t_str), "Tags"),
        ("forthcoming", False, t_bool, "Reserve resources only"),
        ("commit", False, t_bool, "Commit a forthcoming instance"),
        ("instance_communication", False, t_bool, "Instance communication"),
        ("helper_startup_timeout", None, t_maybe(t_int), "Helper startup timeout"),
        ("helper_shutdown_timeout", None, t_maybe(t_int), "Helper shutdown timeout"),
        ("opportunistic_locking", False, t_bool, "Opportunistic locking"),
    )


class OpInstanceRemove(OpCode):
    OP_ID = "OP_INSTANCE_REMOVE"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_SHUTDOWN_TIMEOUT,
                 ("ignore_failures", False, t_bool, "Ignore failures"))


class OpInstanceStartup(OpCode):
    OP_ID = "OP_INSTANCE_STARTUP"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_FORCE, P_IGNORE_OFFLINE,
                 P_NO_REMEMBER,
                 ("hvparams", {}, t_dict, "One-off hypervisor parameters"),
                 ("beparams", {}, t_dict, "One-off backend parameters"),
                 ("startup_paused", False, t_bool, "Start paused"))


class OpInstanceShutdown(OpCode):
    OP_ID = "OP_INSTANCE_SHUTDOWN"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_FORCE, P_IGNORE_OFFLINE,
                 P_NO_REMEMBER,
                 ("timeout", constants.DEFAULT_SHUTDOWN_TIMEOUT, t_nonneg_int,
                  "Seconds to wait for a clean shutdown"),
                 ("admin_state_source", None, t_maybe(t_str), "Who stops it"))


class OpInstanceReboot(OpCode):
    OP_ID = "OP_INSTANCE_REBOOT"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_SHUTDOWN_TIMEOUT,
                 ("ignore_secondaries", False, t_bool, "Ignore secondaries"),
                 ("reboot_type", constants.INSTANCE_REBOOT_HARD,
                  t_elem_of(constants.REBOOT_TYPES), "Reboot type"))


class OpInstanceQueryData(OpCode):
    OP_ID = "OP_INSTANCE_QUERY_DATA"
    OP_PARAMS = (("instances", [], t_list_of(t_str), "Instance names"),
                 ("static", False, t_bool, "Only static configuration"),
                 P_USE_LOCKING)


def t_nonempty_name_list(v):
    return t_list_of(t_nonempty_str)(v) and bool(v)


class OpRestrictedCommand(OpCode):
    """Run a restricted command (S5.2) on nodes; result: [[ok, text]] per node."""

    OP_ID = "OP_RESTRICTED_COMMAND"
    OP_DSC_FIELD = "command"
    OP_PARAMS = (
        ("command", _NO_DEFAULT, t_nonempty_str, "Restricted command name"),
        ("nodes", _NO_DEFAULT, t_nonempty_name_list,
         "Nodes on which the command runs (at least one)"),
        P_USE_LOCKING,
    )


# --- OS, queries, tags, tests ---------------------------------------------
class OpOsDiagnose(OpCode):
    OP_ID = "OP_OS_DIAGNOSE"
    OP_PARAMS = (P_OUTPUT_FIELDS, P_NAMES)


class OpQuery(OpCode):
    OP_ID = "OP_QUERY"
    OP_DSC_FIELD = "what"
    OP_PARAMS = (("what", _NO_DEFAULT, t_elem_of(constants.QR_VIA_OP | constants.QR_VIA_LUXI),
                  "Resource"),
                 ("fields", _NO_DEFAULT, t_list_of(t_str), "Fields"),
                 ("qfilter", None, t_maybe(t_list), "Filter"),
                 P_USE_LOCKING)


class OpQueryFields(OpCode):
    OP_ID = "OP_QUERY_FIELDS"
    OP_DSC_FIELD = "what"
    OP_PARAMS = (("what", _NO_DEFAULT, t_elem_of(constants.QR_VIA_OP | constants.QR_VIA_LUXI),
                  "Resource"),
                 ("fields", None, t_maybe(t_list_of(t_str)), "Fields"))


class OpTestDelay(OpCode):
    OP_ID = "OP_TEST_DELAY"
    OP_DSC_FIELD = "duration"
    OP_PARAMS = (("duration", _NO_DEFAULT, lambda v: t_number(v) and v >= 0,
                  "Seconds to sleep"),
                 ("on_master", True, t_bool, "Sleep on the master"),
                 ("on_nodes", [], t_list_of(t_str), "Nodes to sleep on"),
                 ("on_node_uuids", None, t_maybe(t_list_of(t_str)), "Node UUIDs"),
                 ("repeat", 0, t_nonneg_int, "Repeat count"),
                 ("interruptible", False, t_bool, "Interruptible by signals"),
                 ("no_locks", True, t_bool, "Take no locks"))

    def summary(self) -> str:
        duration = self.duration
        # Ganeti shows the duration as a float even when a client sent an integer
        if isinstance(duration, int) and not isinstance(duration, bool):
            duration = float(duration)
        return "TEST_DELAY(%s)" % duration


class OpTagsGet(OpCode):
    OP_ID = "OP_TAGS_GET"
    OP_PARAMS = (("kind", _NO_DEFAULT, t_str, "Kind"), ("name", None, t_maybe(t_str), "Name"),
                 P_USE_LOCKING)


class OpTagsSet(OpCode):
    OP_ID = "OP_TAGS_SET"
    OP_PARAMS = (("kind", _NO_DEFAULT, t_str, "Kind"), ("name", None, t_maybe(t_str), "Name"),
                 ("tags", _NO_DEFAULT, t_list_of(t_str), "Tags"))


class OpTagsDel(OpCode):
    OP_ID = "OP_TAGS_DEL"
    OP_PARAMS = (("kind", _NO_DEFAULT, t_str, "Kind"), ("name", None, t_maybe(t_str), "Name"),
                 ("tags", _NO_DEFAULT, t_list_of(t_str), "Tags"))


# --- Opcodes reachable through RAPI whose logical units may not exist yet ----------
# (a job with one of them fails in masterd with OpCodeUnknown until its LU is added)
_EVAC_MODES = ("primary-only", "secondary-only", "all")
_REPLACE_MODES = ("replace_on_primary", "replace_on_secondary", "replace_new_secondary",
                  "replace_auto")
_STORAGE_TYPES = ("file", "sharedfile", "gluster", "lvm-pv", "lvm-vg", "diskless",
                  "blockdev", "rbd", "ext")
_EXPORT_MODES = ("local", "remote")
P_IALLOCATOR = ("iallocator", None, t_maybe(t_str), "Instance allocator")
P_EARLY_RELEASE = ("early_release", False, t_bool, "Release locks early")
P_IGNORE_IPOLICY = ("ignore_ipolicy", False, t_bool, "Ignore the instance policy")
P_GROUP_NAME = ("group_name", _NO_DEFAULT, t_nonempty_str, "Node group name")
P_NETWORK_NAME = ("network_name", _NO_DEFAULT, t_nonempty_str, "Network name")
P_MIGRATION_MODE = ("mode", None, t_maybe(t_elem_of(constants.HT_MIGRATION_MODES)),
                    "Migration mode")
P_MIGRATION_LIVE = ("live", None, t_maybe(t_bool), "Live migration (old parameter)")
P_TARGET_NODE = ("target_node", None, t_maybe(t_str), "Target node")
P_TARGET_NODE_UUID = ("target_node_uuid", None, t_maybe(t_str), "Target node UUID")
P_REMOTE_NODE = ("remote_node", None, t_maybe(t_str), "New secondary node")
P_REMOTE_NODE_UUID = ("remote_node_uuid", None, t_maybe(t_str), "New secondary UUID")
P_STORAGE_TYPE = ("storage_type", _NO_DEFAULT, t_elem_of(_STORAGE_TYPES), "Storage type")
P_ALLOC_POLICY = ("alloc_policy", None, t_maybe(t_elem_of(constants.VALID_ALLOC_POLICIES)),
                  "Allocation policy")
P_HV_STATE = ("hv_state", None, t_maybe(t_dict), "Static hypervisor state")
P_DISK_STATE = ("disk_state", None, t_maybe(t_dict), "Static disk state")
P_WAIT_FOR_SYNC = ("wait_for_sync", True, t_bool, "Wait for disks to sync")
P_RUNTIME_CHANGES = ("allow_runtime_changes", True, t_bool,
                     "Allow changing runtime parameters (e.g. memory) on the target")


class OpNodePowercycle(OpCode):
    OP_ID = "OP_NODE_POWERCYCLE"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (P_NODE_NAME, P_NODE_UUID, P_FORCE)


class OpNodeEvacuate(OpCode):
    OP_ID = "OP_NODE_EVACUATE"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (P_NODE_NAME, P_NODE_UUID, P_EARLY_RELEASE, P_REMOTE_NODE,
                 P_REMOTE_NODE_UUID, P_IALLOCATOR,
                 ("mode", _NO_DEFAULT, t_elem_of(_EVAC_MODES), "Evacuation mode"),
                 ("ignore_soft_errors", None, t_maybe(t_bool), "Ignore soft errors"))


class OpNodeMigrate(OpCode):
    OP_ID = "OP_NODE_MIGRATE"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (P_NODE_NAME, P_NODE_UUID, P_MIGRATION_MODE, P_MIGRATION_LIVE,
                 P_TARGET_NODE, P_TARGET_NODE_UUID, P_RUNTIME_CHANGES, P_IGNORE_IPOLICY,
                 P_IALLOCATOR)


class OpNodeQueryStorage(OpCode):
    OP_ID = "OP_NODE_QUERY_STORAGE"
    OP_PARAMS = (P_OUTPUT_FIELDS,
                 ("storage_type", None, t_maybe(t_elem_of(_STORAGE_TYPES)),
                  "Storage type"),
                 ("nodes", [], t_list_of(t_str), "Node names"),
                 ("name", None, t_maybe(t_str), "Storage unit name"))


class OpNodeModifyStorage(OpCode):
    OP_ID = "OP_NODE_MODIFY_STORAGE"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (P_NODE_NAME, P_NODE_UUID, P_STORAGE_TYPE,
                 ("name", _NO_DEFAULT, t_nonempty_str, "Storage unit name"),
                 ("changes", _NO_DEFAULT, t_dict, "Changes (e.g. allocatable)"))


class OpRepairNodeStorage(OpCode):
    OP_ID = "OP_REPAIR_NODE_STORAGE"
    OP_DSC_FIELD = "node_name"
    OP_PARAMS = (P_NODE_NAME, P_NODE_UUID, P_STORAGE_TYPE,
                 ("name", _NO_DEFAULT, t_nonempty_str, "Storage unit name"),
                 ("ignore_consistency", False, t_bool, "Ignore consistency"))


class OpGroupAdd(OpCode):
    OP_ID = "OP_GROUP_ADD"
    OP_DSC_FIELD = "group_name"
    OP_PARAMS = (P_GROUP_NAME, P_ALLOC_POLICY, P_HV_STATE, P_DISK_STATE,
                 ("ndparams", None, t_maybe(t_dict), "Node parameters"),
                 ("diskparams", None, t_maybe(t_dict_of_dicts), "Disk parameters"),
                 ("ipolicy", None, t_maybe(t_dict), "Instance policy"))


class OpGroupRemove(OpCode):
    OP_ID = "OP_GROUP_REMOVE"
    OP_DSC_FIELD = "group_name"
    OP_PARAMS = (P_GROUP_NAME,)


class OpGroupSetParams(OpCode):
    OP_ID = "OP_GROUP_SET_PARAMS"
    OP_DSC_FIELD = "group_name"
    OP_PARAMS = (P_GROUP_NAME, P_ALLOC_POLICY, P_HV_STATE, P_DISK_STATE,
                 ("ndparams", None, t_maybe(t_dict), "Node parameters"),
                 ("diskparams", None, t_maybe(t_dict_of_dicts), "Disk parameters"),
                 ("ipolicy", None, t_maybe(t_dict), "Instance policy"))


class OpGroupRename(OpCode):
    OP_ID = "OP_GROUP_RENAME"
    OP_DSC_FIELD = "group_name"
    OP_PARAMS = (P_GROUP_NAME, ("new_name", _NO_DEFAULT, t_nonempty_str, "New name"))


class OpGroupAssignNodes(OpCode):
    OP_ID = "OP_GROUP_ASSIGN_NODES"
    OP_DSC_FIELD = "group_name"
    OP_PARAMS = (P_GROUP_NAME, P_FORCE,
                 ("nodes", _NO_DEFAULT, t_list_of(t_nonempty_str), "Nodes to assign"),
                 ("node_uuids", None, t_maybe(t_list_of(t_str)), "Node UUIDs"))


class OpNetworkAdd(OpCode):
    OP_ID = "OP_NETWORK_ADD"
    OP_DSC_FIELD = "network_name"
    OP_PARAMS = (P_NETWORK_NAME,
                 ("network", _NO_DEFAULT, t_nonempty_str, "IPv4 subnet (CIDR)"),
                 ("gateway", None, t_maybe(t_str), "IPv4 gateway"),
                 ("network6", None, t_maybe(t_str), "IPv6 subnet"),
                 ("gateway6", None, t_maybe(t_str), "IPv6 gateway"),
                 ("mac_prefix", None, t_maybe(t_str), "MAC prefix"),
                 ("add_reserved_ips", None, t_maybe(t_list_of(t_str)),
                  "IPs to reserve"),
                 ("conflicts_check", True, t_bool, "Check for conflicting IPs"),
                 ("tags", [], t_list_of(t_str), "Tags"))


class OpNetworkRemove(OpCode):
    OP_ID = "OP_NETWORK_REMOVE"
    OP_DSC_FIELD = "network_name"
    OP_PARAMS = (P_NETWORK_NAME, P_FORCE)


class OpNetworkSetParams(OpCode):
    OP_ID = "OP_NETWORK_SET_PARAMS"
    OP_DSC_FIELD = "network_name"
    OP_PARAMS = (P_NETWORK_NAME,
                 ("gateway", None, t_maybe(t_str), "IPv4 gateway"),
                 ("network6", None, t_maybe(t_str), "IPv6 subnet"),
                 ("gateway6", None, t_maybe(t_str), "IPv6 gateway"),
                 ("mac_prefix", None, t_maybe(t_str), "MAC prefix"),
                 ("add_reserved_ips", None, t_maybe(t_list_of(t_str)), "IPs to reserve"),
                 ("remove_reserved_ips", None, t_maybe(t_list_of(t_str)),
                  "IPs to release"))


class OpNetworkConnect(OpCode):
    OP_ID = "OP_NETWORK_CONNECT"
    OP_DSC_FIELD = "network_name"
    OP_PARAMS = (("group_name", _NO_DEFAULT, t_nonempty_str, "Node group"),
                 P_NETWORK_NAME,
                 ("network_mode", _NO_DEFAULT, t_nonempty_str, "NIC mode"),
                 ("network_link", _NO_DEFAULT, t_str, "NIC link"),
                 ("network_vlan", "", t_str, "VLAN"),
                 ("conflicts_check", True, t_bool, "Check for conflicting IPs"))


class OpNetworkDisconnect(OpCode):
    OP_ID = "OP_NETWORK_DISCONNECT"
    OP_DSC_FIELD = "network_name"
    OP_PARAMS = (("group_name", _NO_DEFAULT, t_nonempty_str, "Node group"),
                 P_NETWORK_NAME)


class OpNetworkRename(OpCode):
    OP_ID = "OP_NETWORK_RENAME"
    OP_DSC_FIELD = "network_name"
    OP_PARAMS = (P_NETWORK_NAME, ("new_name", _NO_DEFAULT, t_nonempty_str, "New name"))


class OpInstanceMultiAlloc(OpCode):
    OP_ID = "OP_INSTANCE_MULTI_ALLOC"
    OP_PARAMS = (P_IALLOCATOR,
                 ("opportunistic_locking", False, t_bool, "Opportunistic locking"),
                 ("instances", [], t_list_of(t_dict),
                  "OP_INSTANCE_CREATE opcodes of the instances"))


class OpInstanceReinstall(OpCode):
    OP_ID = "OP_INSTANCE_REINSTALL"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID,
                 ("force_variant", False, t_bool, "Accept an unknown OS variant"),
                 ("os_type", None, t_maybe(t_str), "New operating system"),
                 ("osparams", None, t_maybe(t_dict), "OS parameters"),
                 ("osparams_private", None, t_maybe(t_dict), "Private OS parameters"),
                 ("osparams_secret", None, t_maybe(t_dict), "Secret OS parameters"))


class OpInstanceReplaceDisks(OpCode):
    OP_ID = "OP_INSTANCE_REPLACE_DISKS"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_EARLY_RELEASE, P_IGNORE_IPOLICY,
                 ("mode", _NO_DEFAULT, t_elem_of(_REPLACE_MODES), "Replacement mode"),
                 ("disks", [], t_list_of(t_nonneg_int), "Disk indices"),
                 P_REMOTE_NODE, P_REMOTE_NODE_UUID, P_IALLOCATOR)


class OpInstanceActivateDisks(OpCode):
    OP_ID = "OP_INSTANCE_ACTIVATE_DISKS"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID,
                 ("ignore_size", False, t_bool, "Ignore the recorded disk sizes"),
                 ("wait_for_sync", False, t_bool, "Wait for disks to sync"))


class OpInstanceDeactivateDisks(OpCode):
    OP_ID = "OP_INSTANCE_DEACTIVATE_DISKS"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_FORCE)


def t_recreate_disk(v):
    return t_nonneg_int(v) or (isinstance(v, list) and len(v) == 2
                                and t_nonneg_int(v[0]) and t_dict(v[1]))


class OpInstanceRecreateDisks(OpCode):
    OP_ID = "OP_INSTANCE_RECREATE_DISKS"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID,
                 ("disks", [], t_list_of(t_recreate_disk),
                  "Disks: indices or [index, {size, mode, ...}]"),
                 ("nodes", [], t_list_of(t_nonempty_str), "New nodes"),
                 ("node_uuids", None, t_maybe(t_list_of(t_str)), "New node UUIDs"),
                 P_IALLOCATOR)


class OpInstanceGrowDisk(OpCode):
    OP_ID = "OP_INSTANCE_GROW_DISK"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_WAIT_FOR_SYNC, P_IGNORE_IPOLICY,
                 ("disk", _NO_DEFAULT, t_nonneg_int, "Disk index"),
                 ("amount", _NO_DEFAULT, t_nonneg_int, "Amount (MiB)"),
                 ("absolute", False, t_bool, "The amount is the new size"))


class OpBackupPrepare(OpCode):
    OP_ID = "OP_BACKUP_PREPARE"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID,
                 ("mode", _NO_DEFAULT, t_elem_of(_EXPORT_MODES), "Export mode"))


class OpBackupExport(OpCode):
    OP_ID = "OP_BACKUP_EXPORT"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_SHUTDOWN_TIMEOUT,
                 ("compress", "none", t_str, "Compression tool"),
                 ("target_node", None, t_any, "Target node (or remote target list)"),
                 P_TARGET_NODE_UUID,
                 ("shutdown", True, t_bool, "Shut the instance down first"),
                 ("remove_instance", False, t_bool, "Remove the instance afterwards"),
                 ("ignore_remove_failures", False, t_bool, "Ignore removal failures"),
                 ("mode", "local", t_elem_of(_EXPORT_MODES), "Export mode"),
                 ("x509_key_name", None, t_maybe(t_list), "Remote export key name"),
                 ("destination_x509_ca", None, t_maybe(t_str), "Remote CA"),
                 ("zero_free_space", False, t_bool, "Zero free space first"),
                 ("zeroing_timeout_fixed", None, t_maybe(t_nonneg_int),
                  "Fixed zeroing timeout"),
                 ("zeroing_timeout_per_mib", None, t_maybe(t_number),
                  "Zeroing timeout per MiB"),
                 ("long_sleep", False, t_bool, "Allow long instance shutdowns"))


class OpBackupRemove(OpCode):
    OP_ID = "OP_BACKUP_REMOVE"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID)


class OpInstanceMigrate(OpCode):
    OP_ID = "OP_INSTANCE_MIGRATE"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_MIGRATION_MODE, P_MIGRATION_LIVE,
                 ("cleanup", False, t_bool, "Clean up a failed migration"),
                 ("allow_failover", False, t_bool, "Fail over if migration is impossible"),
                 P_TARGET_NODE, P_TARGET_NODE_UUID, P_RUNTIME_CHANGES, P_IGNORE_IPOLICY,
                 P_IALLOCATOR,
                 ("ignore_hvversions", False, t_bool, "Ignore hypervisor versions"))


class OpInstanceFailover(OpCode):
    OP_ID = "OP_INSTANCE_FAILOVER"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_SHUTDOWN_TIMEOUT,
                 ("ignore_consistency", False, t_bool, "Ignore disk consistency"),
                 P_TARGET_NODE, P_TARGET_NODE_UUID, P_IGNORE_IPOLICY,
                 ("cleanup", False, t_bool, "Clean up a failed migration"),
                 P_IALLOCATOR)


class OpInstanceConsole(OpCode):
    OP_ID = "OP_INSTANCE_CONSOLE"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID)


class OpInstanceRename(OpCode):
    OP_ID = "OP_INSTANCE_RENAME"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID,
                 ("new_name", _NO_DEFAULT, t_nonempty_str, "New name"),
                 ("ip_check", False, t_bool, "Check the new IP is not in use"),
                 ("name_check", True, t_bool, "Check the new name resolves"))


class OpInstanceSetParams(OpCode):
    OP_ID = "OP_INSTANCE_SET_PARAMS"
    OP_DSC_FIELD = "instance_name"
    OP_PARAMS = (P_INSTANCE_NAME, P_INSTANCE_UUID, P_FORCE, P_IGNORE_IPOLICY,
                 P_WAIT_FOR_SYNC, P_REMOTE_NODE, P_REMOTE_NODE_UUID, P_IALLOCATOR,
                 ("force_variant", False, t_bool, "Accept an unknown OS variant"),
                 ("nics", [], t_list, "NIC changes: [op, index or id, params]"),
                 ("disks", [], t_list, "Disk changes: [op, index or id, params]"),
                 ("beparams", {}, t_dict, "Backend parameters"),
                 ("runtime_mem", None, t_maybe(lambda v: t_int(v) and v > 0),
                  "New runtime memory (MiB)"),
                 ("hvparams", {}, t_dict, "Hypervisor parameters"),
                 ("disk_template", None, t_maybe(t_elem_of(constants.DISK_TEMPLATES)),
                  "New disk template"),
                 ("pnode", None, t_maybe(t_str), "New primary node"),
                 ("pnode_uuid", None, t_maybe(t_str), "New primary node UUID"),
                 ("os_name", None, t_maybe(t_str), "New operating system"),
                 ("osparams", None, t_maybe(t_dict), "OS parameters"),
                 ("osparams_private", None, t_maybe(t_dict), "Private OS parameters"),
                 ("offline", None, t_maybe(t_bool), "Mark offline or online"),
                 ("conflicts_check", True, t_bool, "Check for conflicting IPs"),
                 ("hotplug", False, t_bool, "Hotplug devices"),
                 ("hotplug_if_possible", False, t_bool, "Hotplug if possible"),
                 ("instance_communication", None, t_maybe(t_bool),
                  "Instance communication NIC"),
                 ("ext_params", {}, t_dict, "ExtStorage parameters"),
                 ("file_driver", None, t_maybe(t_elem_of(constants.FILE_DRIVER)),
                  "File driver"),
                 ("file_storage_dir", None, t_maybe(t_str), "File storage directory"))


def _build_mapping() -> dict:
    mapping = {}
    for item in list(globals().values()):
        if isinstance(item, type) and issubclass(item, OpCode) and item is not OpCode:
            mapping[item.OP_ID] = item
    return mapping


OP_MAPPING = _build_mapping()
