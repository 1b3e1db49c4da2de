"""Constants shared by every part of the system: versions, ports, names, defaults.

Values that the build chooses (paths, users) live in ``_autoconf``; this module only
derives from them.
"""

from ganeti import _autoconf

RELEASE_VERSION = _autoconf.PACKAGE_VERSION
VERSION_MAJOR = _autoconf.VERSION_MAJOR
VERSION_MINOR = _autoconf.VERSION_MINOR
VERSION_REVISION = _autoconf.VERSION_REVISION


def build_version(major: int, minor: int, revision: int) -> int:
    """Encode a version as Ganeti does: major*1000000 + minor*10000 + revision."""
    return major * 1000000 + minor * 10000 + revision


def split_version(version: int) -> tuple[int, int, int]:
    return version // 1000000, (version // 10000) % 100, version % 10000


CONFIG_VERSION = build_version(VERSION_MAJOR, VERSION_MINOR, 0)
LUXI_VERSION = CONFIG_VERSION
OS_API_V10 = 10
OS_API_V15 = 15
OS_API_V20 = 20
OS_API_VERSIONS = frozenset([OS_API_V10, OS_API_V15, OS_API_V20])
PROTOCOL_VERSION = 2030000  # node RPC protocol version reported by "version"
HOOKS_VERSION = 2
JOB_QUEUE_VERSION = 1
JOB_QUEUE_SIZE_HARD_LIMIT = 5000
JOB_QUEUE_FILES_PERMS = 0o640
JOB_ID_TEMPLATE = r"\d+"
JOB_QUEUE_ARCHIVE_DIVISOR = 10000

# Ports
DEFAULT_NODED_PORT = 1811
DEFAULT_CONFD_PORT = 1814
DEFAULT_MOND_PORT = 1815
DEFAULT_RAPI_PORT = 5080
DEFAULT_SSH_PORT = 22

# Daemons
NODED = "ganeti-noded"
MASTERD = "ganeti-masterd"
LUXID = "ganeti-luxid"
RAPI = "ganeti-rapi"
CONFD = "ganeti-confd"
MOND = "ganeti-mond"
DAEMONS = (NODED, MASTERD, LUXID, RAPI, CONFD, MOND)
DAEMONS_LOGBASE = {
    NODED: "node-daemon",
    MASTERD: "master-daemon",
    LUXID: "luxi-daemon",
    RAPI: "rapi-daemon",
    CONFD: "conf-daemon",
    MOND: "monitoring-daemon",
}

# Exit codes
EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_CONFIG_ERROR = 2
EXIT_NOTCLUSTER = 5
EXIT_NOTMASTER = 11
EXIT_NODESETUP_ERROR = 12
EXIT_CONFIRMATION = 13
EXIT_UNKNOWN_FIELD = 14

# Hypervisors
HT_XEN_PVM = "xen-pvm"
HT_XEN_HVM = "xen-hvm"
HT_KVM = "kvm"
HT_FAKE = "fake"
HT_CHROOT = "chroot"
HT_LXC = "lxc"
HYPER_TYPES = frozenset([HT_XEN_PVM, HT_XEN_HVM, HT_KVM, HT_FAKE, HT_CHROOT, HT_LXC])
HYPER_TYPES_ORDERED = (HT_XEN_PVM, HT_XEN_HVM, HT_KVM, HT_CHROOT, HT_LXC, HT_FAKE)

# Disk templates
DT_DISKLESS = "diskless"
DT_PLAIN = "plain"
DT_DRBD8 = "drbd"
DT_FILE = "file"
DT_SHARED_FILE = "sharedfile"
DT_BLOCK = "blockdev"
DT_RBD = "rbd"
DT_EXT = "ext"
DT_GLUSTER = "gluster"
DISK_TEMPLATES = (DT_DISKLESS, DT_PLAIN, DT_DRBD8, DT_FILE, DT_SHARED_FILE, DT_BLOCK,
                  DT_RBD, DT_EXT, DT_GLUSTER)
DTS_FILEBASED = frozenset([DT_FILE, DT_SHARED_FILE, DT_GLUSTER])
DTS_INT_MIRROR = frozenset([DT_DRBD8])
DTS_EXT_MIRROR = frozenset([DT_DISKLESS, DT_SHARED_FILE, DT_BLOCK, DT_RBD, DT_EXT,
                            DT_GLUSTER])
DTS_MIRRORED = DTS_INT_MIRROR | DTS_EXT_MIRROR
# Templates whose backend this release implements.
DTS_IMPLEMENTED = frozenset([DT_DISKLESS, DT_FILE, DT_SHARED_FILE])

# Disk device types (dev_type of a disk object)
DISK_RDWR = "rw"
DISK_RDONLY = "ro"
DISK_ACCESS_SET = frozenset([DISK_RDWR, DISK_RDONLY])
FD_LOOP = "loop"
FD_BLKTAP = "blktap"
FD_BLKTAP2 = "blktap2"
FILE_DRIVER = frozenset([FD_LOOP, FD_BLKTAP, FD_BLKTAP2])
FD_DEFAULT = FD_LOOP

# Instance admin states
ADMINST_UP = "up"
ADMINST_DOWN = "down"
ADMINST_OFFLINE = "offline"
ADMINST_ALL = frozenset([ADMINST_UP, ADMINST_DOWN, ADMINST_OFFLINE])
ADMIN_SOURCE = "admin"
USER_SOURCE = "user"

# Instance run states (the "status" list field)
INSTST_RUNNING = "running"
INSTST_ADMINDOWN = "ADMIN_down"
INSTST_ADMINOFFLINE = "ADMIN_offline"
INSTST_ERRORUP = "ERROR_up"
INSTST_ERRORDOWN = "ERROR_down"
INSTST_NODEDOWN = "ERROR_nodedown"
INSTST_NODEOFFLINE = "ERROR_nodeoffline"
INSTST_WRONGNODE = "ERROR_wrongnode"
INSTST_USERDOWN = "USER_down"

# Reboot types
INSTANCE_REBOOT_SOFT = "soft"
INSTANCE_REBOOT_HARD = "hard"
INSTANCE_REBOOT_FULL = "full"
REBOOT_TYPES = frozenset([INSTANCE_REBOOT_SOFT, INSTANCE_REBOOT_HARD,
                          INSTANCE_REBOOT_FULL])
DEFAULT_SHUTDOWN_TIMEOUT = 120

# Instance creation modes
INSTANCE_CREATE = "create"
INSTANCE_IMPORT = "import"
INSTANCE_REMOTE_IMPORT = "remote-import"
INSTANCE_CREATE_MODES = frozenset([INSTANCE_CREATE, INSTANCE_IMPORT,
                                   INSTANCE_REMOTE_IMPORT])

# NIC
NIC_MODE_BRIDGED = "bridged"
NIC_MODE_ROUTED = "routed"
NIC_MODE_OVS = "openvswitch"
NIC_VALID_MODES = frozenset([NIC_MODE_BRIDGED, NIC_MODE_ROUTED, NIC_MODE_OVS])
NIC_MODE = "mode"
NIC_LINK = "link"
NIC_VLAN = "vlan"
VALUE_AUTO = "auto"
VALUE_GENERATE = "generate"
VALUE_NONE = "none"
VALUE_DEFAULT = "default"

# Job and opcode statuses
JOB_STATUS_QUEUED = "queued"
JOB_STATUS_WAITING = "waiting"
JOB_STATUS_CANCELING = "canceling"
JOB_STATUS_RUNNING = "running"
JOB_STATUS_CANCELED = "canceled"
JOB_STATUS_SUCCESS = "success"
JOB_STATUS_ERROR = "error"
JOBS_PENDING = frozenset([JOB_STATUS_QUEUED, JOB_STATUS_WAITING, JOB_STATUS_CANCELING])
JOBS_FINALIZED = frozenset([JOB_STATUS_CANCELED, JOB_STATUS_SUCCESS, JOB_STATUS_ERROR])
JOB_STATUS_ALL = JOBS_PENDING | JOBS_FINALIZED | frozenset([JOB_STATUS_RUNNING])
OP_STATUS_QUEUED = "queued"
OP_STATUS_WAITING = "waiting"
OP_STATUS_CANCELING = "canceling"
OP_STATUS_RUNNING = "running"
OP_STATUS_CANCELED = "canceled"
OP_STATUS_SUCCESS = "success"
OP_STATUS_ERROR = "error"
OPS_FINALIZED = frozenset([OP_STATUS_CANCELED, OP_STATUS_SUCCESS, OP_STATUS_ERROR])

OP_PRIO_LOWEST = 19
OP_PRIO_HIGHEST = -20
OP_PRIO_LOW = 10
OP_PRIO_NORMAL = 0
OP_PRIO_HIGH = -10
OP_PRIO_DEFAULT = OP_PRIO_NORMAL
OP_PRIO_SUBMIT_VALID = frozenset([OP_PRIO_LOW, OP_PRIO_NORMAL, OP_PRIO_HIGH])
PRIORITY_NAMES = {"low": OP_PRIO_LOW, "normal": OP_PRIO_NORMAL, "high": OP_PRIO_HIGH}

ELOG_MESSAGE = "message"
ELOG_REMOTE_IMPORT = "remote-import"
ELOG_JQUEUE_TEST = "jqueue-test"
ELOG_DELAY_TEST = "delay-test"

JOB_WAIT_TIMEOUT_MAX = (180 - 1) // 2  # 89 s, see protocols.md
LUXI_DEF_CTMO = 30
LUXI_DEF_RWTO = 180
LUXI_EOM = b"\x03"
LUXI_KEY_METHOD = "method"
LUXI_KEY_ARGS = "args"
LUXI_KEY_SUCCESS = "success"
LUXI_KEY_RESULT = "result"
LUXI_KEY_VERSION = "version"
LUXI_MAX_MESSAGE = 64 * 1024 * 1024  # refuse a single message above this

# Reason trail
OPCODE_REASON = "reason"
OPCODE_REASON_SRC_CLIENT = "gnt:client"
OPCODE_REASON_SRC_OPCODE = "gnt:opcode"
OPCODE_REASON_SRC_RAPI = "gnt:client:rapi"
OPCODE_REASON_SRC_USER = "gnt:user"

# Node roles
NR_MASTER = "M"
NR_MCANDIDATE = "C"
NR_REGULAR = "R"
NR_DRAINED = "D"
NR_OFFLINE = "O"

# Node group allocation policies
ALLOC_POLICY_PREFERRED = "preferred"
ALLOC_POLICY_LAST_RESORT = "last_resort"
ALLOC_POLICY_UNALLOCABLE = "unallocable"
VALID_ALLOC_POLICIES = (ALLOC_POLICY_PREFERRED, ALLOC_POLICY_LAST_RESORT,
                        ALLOC_POLICY_UNALLOCABLE)
INITIAL_NODE_GROUP_NAME = "default"

# Hooks
HOOKS_PHASE_PRE = "pre"
HOOKS_PHASE_POST = "post"
HOOKS_NAME_CFGUPDATE = "config-update"
HKR_SKIP = 0
HKR_FAIL = 1
HKR_SUCCESS = 2
HTYPE_CLUSTER = "CLUSTER"
HTYPE_NODE = "NODE"
HTYPE_GROUP = "GROUP"
HTYPE_INSTANCE = "INSTANCE"
HTYPE_NETWORK = "NETWORK"

# Query
QR_CLUSTER = "cluster"
QR_INSTANCE = "instance"
QR_NODE = "node"
QR_LOCK = "lock"
QR_GROUP = "group"
QR_OS = "os"
QR_JOB = "job"
QR_EXPORT = "export"
QR_NETWORK = "network"
QR_EXTSTORAGE = "extstorage"
QR_FILTER = "filter"
QR_VIA_OP = frozenset([QR_CLUSTER, QR_OS, QR_EXTSTORAGE])
QR_VIA_LUXI = frozenset([QR_INSTANCE, QR_NODE, QR_GROUP, QR_JOB, QR_LOCK, QR_EXPORT,
                         QR_NETWORK, QR_FILTER])
QFT_UNKNOWN = "unknown"
QFT_TEXT = "text"
QFT_BOOL = "bool"
QFT_NUMBER = "number"
QFT_NUMBER_FLOAT = "float"
QFT_UNIT = "unit"
QFT_TIMESTAMP = "timestamp"
QFT_OTHER = "other"
RS_NORMAL = 0
RS_UNKNOWN = 1
RS_NODATA = 2
RS_UNAVAIL = 3
RS_OFFLINE = 4

# Parameters (hypervisor / backend / node)
BE_VCPUS = "vcpus"
BE_MAXMEM = "maxmem"
BE_MINMEM = "minmem"
BE_MEMORY = "memory"  # legacy alias of maxmem
BE_AUTO_BALANCE = "auto_balance"
BE_ALWAYS_FAILOVER = "always_failover"
BE_SPINDLE_USE = "spindle_use"
BES_PARAMETER_TYPES = {
    BE_VCPUS: "int",
    BE_MAXMEM: "size",
    BE_MINMEM: "size",
    BE_AUTO_BALANCE: "bool",
    BE_ALWAYS_FAILOVER: "bool",
    BE_SPINDLE_USE: "int",
}
BEC_DEFAULTS = {
    BE_VCPUS: 1,
    BE_MAXMEM: 128,
    BE_MINMEM: 128,
    BE_AUTO_BALANCE: True,
    BE_ALWAYS_FAILOVER: False,
    BE_SPINDLE_USE: 1,
}

ND_OOB_PROGRAM = "oob_program"
ND_SPINDLE_COUNT = "spindle_count"
ND_EXCLUSIVE_STORAGE = "exclusive_storage"
ND_OVS = "ovs"
ND_OVS_NAME = "ovs_name"
ND_OVS_LINK = "ovs_link"
ND_SSH_PORT = "ssh_port"
ND_CPU_SPEED = "cpu_speed"
NDS_PARAMETER_TYPES = {
    ND_OOB_PROGRAM: "string",
    ND_SPINDLE_COUNT: "int",
    ND_EXCLUSIVE_STORAGE: "bool",
    ND_OVS: "bool",
    ND_OVS_NAME: "string",
    ND_OVS_LINK: "string",
    ND_SSH_PORT: "int",
    ND_CPU_SPEED: "float",
}
NDC_DEFAULTS = {
    ND_OOB_PROGRAM: "",
    ND_SPINDLE_COUNT: 1,
    ND_EXCLUSIVE_STORAGE: False,
    ND_OVS: False,
    ND_OVS_NAME: "switch1",
    ND_OVS_LINK: "",
    ND_SSH_PORT: DEFAULT_SSH_PORT,
    ND_CPU_SPEED: 1.0,
}

NICS_PARAMETER_TYPES = {NIC_MODE: "string", NIC_LINK: "string", NIC_VLAN: "string"}
NICC_DEFAULTS = {NIC_MODE: NIC_MODE_BRIDGED, NIC_LINK: _autoconf.DEFAULT_BRIDGE,
                 NIC_VLAN: ""}

# Fake hypervisor parameters: it has one, "migration_mode" is not needed.
HV_MIGRATION_MODE = "migration_mode"
HT_MIGRATION_LIVE = "live"
HT_MIGRATION_NONLIVE = "non-live"
HT_MIGRATION_MODES = frozenset([HT_MIGRATION_LIVE, HT_MIGRATION_NONLIVE])
HVC_DEFAULTS = {
    HT_FAKE: {HV_MIGRATION_MODE: HT_MIGRATION_LIVE},
}
HVS_PARAMETER_TYPES = {
    HV_MIGRATION_MODE: "string",
}

# KVM hypervisor parameters (node-interfaces.md section 7): name -> (type, default).
# Checks of the values live in ganeti/hypervisor/kvm/params.py.
HV_KVM_PATH = "kvm_path"
HV_KERNEL_PATH = "kernel_path"
HV_INITRD_PATH = "initrd_path"
HV_KERNEL_ARGS = "kernel_args"
HV_ROOT_PATH = "root_path"
HV_SECURITY_MODEL = "security_model"
HV_SECURITY_DOMAIN = "security_domain"
HV_MIGRATION_PORT = "migration_port"
HV_MIGRATION_BANDWIDTH = "migration_bandwidth"
HV_MIGRATION_DOWNTIME = "migration_downtime"
HV_MIGRATION_TRANSPORT = "migration_transport"  # ours: "tls" (default) or "tcp"
HV_KVM_FLAG = "kvm_flag"
HV_USE_CHROOT = "use_chroot"
HT_SM_NONE = "none"
HT_SM_USER = "user"
HT_SM_POOL = "pool"
HT_HVM_VALID_SM = frozenset([HT_SM_NONE, HT_SM_USER, HT_SM_POOL])
HT_KVM_ENABLED = "enabled"
HT_KVM_DISABLED = "disabled"
HT_MIGRATION_TLS = "tls"
HT_MIGRATION_TCP = "tcp"
KVM_DEFAULT_PATH = "/usr/bin/kvm"
KVM_FALLBACK_PATH = "/usr/bin/qemu-system-x86_64"
KVM_PARAMETERS = {
    HV_KVM_PATH: ("string", KVM_DEFAULT_PATH),
    HV_KERNEL_PATH: ("string", "/boot/vmlinuz-3-kvmU"),
    HV_INITRD_PATH: ("string", ""),
    HV_KERNEL_ARGS: ("string", "ro"),
    HV_ROOT_PATH: ("string", "/dev/vda1"),
    "acpi": ("bool", True),
    "serial_console": ("bool", True),
    "serial_speed": ("int", 38400),
    "vnc_bind_address": ("string", ""),
    "vnc_tls": ("bool", False),
    "vnc_x509_path": ("string", ""),
    "vnc_x509_verify": ("bool", False),
    "vnc_password_file": ("string", ""),
    "scsi_controller_type": ("string", "lsi"),
    "kvm_pci_reservations": ("int", 12),
    "spice_bind": ("string", ""),
    "spice_ip_version": ("int", 0),
    "spice_password_file": ("string", ""),
    "spice_image_compression": ("string", ""),
    "spice_jpeg_wan_compression": ("string", ""),
    "spice_zlib_glz_wan_compression": ("string", ""),
    "spice_streaming_video": ("string", ""),
    "spice_playback_compression": ("bool", True),
    "spice_use_tls": ("bool", False),
    "spice_tls_ciphers": ("string", "HIGH:-DES:-3DES:-EXPORT:-DH"),
    "spice_use_vdagent": ("bool", True),
    "floppy_image_path": ("string", ""),
    "cdrom_image_path": ("string", ""),
    "cdrom2_image_path": ("string", ""),
    "boot_order": ("string", "disk"),
    "nic_type": ("string", "paravirtual"),
    "disk_type": ("string", "paravirtual"),
    "cdrom_disk_type": ("string", ""),
    "disk_aio": ("string", "threads"),
    "usb_mouse": ("string", ""),
    "keymap": ("string", ""),
    HV_MIGRATION_PORT: ("int", 8102),
    HV_MIGRATION_BANDWIDTH: ("int", 32),
    HV_MIGRATION_DOWNTIME: ("int", 30),
    HV_MIGRATION_MODE: ("string", HT_MIGRATION_LIVE),
    HV_MIGRATION_TRANSPORT: ("string", HT_MIGRATION_TLS),
    "use_guest_agent": ("bool", False),
    "use_localtime": ("bool", False),
    "disk_cache": ("string", "default"),
    "disk_discard": ("string", "ignore"),
    HV_SECURITY_MODEL: ("string", HT_SM_NONE),
    HV_SECURITY_DOMAIN: ("string", ""),
    HV_KVM_FLAG: ("string", ""),
    "vhost_net": ("bool", True),
    "virtio_net_queues": ("int", 1),
    HV_USE_CHROOT: ("bool", False),
    "user_shutdown": ("bool", False),
    "mem_path": ("string", ""),
    "reboot_behavior": ("string", "reboot"),
    "cpu_mask": ("string", "all"),
    "cpu_type": ("string", ""),
    "cpu_cores": ("int", 0),
    "cpu_threads": ("int", 0),
    "cpu_sockets": ("int", 0),
    "soundhw": ("string", ""),
    "usb_devices": ("string", ""),
    "vga": ("string", ""),
    "kvm_extra": ("string", ""),
    "machine_version": ("string", ""),
    "migration_caps": ("string", ""),
    "vnet_hdr": ("bool", True),
}
HVC_DEFAULTS[HT_KVM] = {name: spec[1] for name, spec in KVM_PARAMETERS.items()}
HVS_PARAMETER_TYPES.update({name: spec[0] for name, spec in KVM_PARAMETERS.items()})
# Parameters that only make sense cluster-wide (refused per instance)
HVC_GLOBALS = frozenset([HV_MIGRATION_PORT, HV_MIGRATION_BANDWIDTH,
                         HV_MIGRATION_TRANSPORT])

# Xen hypervisor parameters (xl toolstack): name -> (type, default).  Checks of the
# values live in ganeti/hypervisor/xen/params.py.
_XEN_COMMON_PARAMETERS = {
    HV_MIGRATION_PORT: ("int", 8002),
    "reboot_behavior": ("string", "reboot"),
    "cpu_mask": ("string", "all"),
    "cpu_cap": ("int", 0),
    "cpu_weight": ("int", 256),
    "cpuid": ("string", ""),
    "soundhw": ("string", ""),
    "vif_script": ("string", ""),
    "xen_cmd": ("string", "xl"),
}
XEN_PVM_PARAMETERS = dict(_XEN_COMMON_PARAMETERS, **{
    "use_bootloader": ("bool", False),
    "bootloader_path": ("string", ""),
    "bootloader_args": ("string", ""),
    HV_KERNEL_PATH: ("string", "/boot/vmlinuz-3-xenU"),
    HV_INITRD_PATH: ("string", ""),
    HV_ROOT_PATH: ("string", "/dev/xvda1"),
    HV_KERNEL_ARGS: ("string", "ro"),
    HV_MIGRATION_MODE: ("string", HT_MIGRATION_LIVE),
    "blockdev_prefix": ("string", "sd"),
})
XEN_HVM_PARAMETERS = dict(_XEN_COMMON_PARAMETERS, **{
    "boot_order": ("string", "cd"),
    "cdrom_image_path": ("string", ""),
    "nic_type": ("string", "rtl8139"),
    "disk_type": ("string", "paravirtual"),
    "vnc_bind_address": ("string", "0.0.0.0"),
    "vnc_password_file": ("string", ""),
    "acpi": ("bool", True),
    "pae": ("bool", True),
    HV_KERNEL_PATH: ("string", "/usr/lib/xen/boot/hvmloader"),
    "device_model": ("string", "/usr/lib/xen/bin/qemu-dm"),
    HV_MIGRATION_MODE: ("string", HT_MIGRATION_NONLIVE),
    "use_localtime": ("bool", False),
    "blockdev_prefix": ("string", "hd"),
    "pci_pass": ("string", ""),
    "vif_type": ("string", "ioemu"),
    "viridian": ("bool", False),
})
HVC_DEFAULTS[HT_XEN_PVM] = {name: spec[1] for name, spec in XEN_PVM_PARAMETERS.items()}
HVC_DEFAULTS[HT_XEN_HVM] = {name: spec[1] for name, spec in XEN_HVM_PARAMETERS.items()}
HVS_PARAMETER_TYPES.update({name: spec[0] for name, spec in XEN_PVM_PARAMETERS.items()})
HVS_PARAMETER_TYPES.update({name: spec[0] for name, spec in XEN_HVM_PARAMETERS.items()})

DISK_DT_DEFAULTS: dict[str, dict] = {dt: {} for dt in DISK_TEMPLATES}

# Instance policy
ISPEC_MEM_SIZE = "memory-size"
ISPEC_CPU_COUNT = "cpu-count"
ISPEC_DISK_COUNT = "disk-count"
ISPEC_DISK_SIZE = "disk-size"
ISPEC_NIC_COUNT = "nic-count"
ISPEC_SPINDLE_USE = "spindle-use"
ISPECS_PARAMETERS = (ISPEC_MEM_SIZE, ISPEC_CPU_COUNT, ISPEC_DISK_COUNT, ISPEC_DISK_SIZE,
                     ISPEC_NIC_COUNT, ISPEC_SPINDLE_USE)
ISPECS_MINMAX = "minmax"
ISPECS_MIN = "min"
ISPECS_MAX = "max"
ISPECS_STD = "std"
IPOLICY_DTS = "disk-templates"
IPOLICY_VCPU_RATIO = "vcpu-ratio"
IPOLICY_SPINDLE_RATIO = "spindle-ratio"
IPOLICY_DEFAULTS = {
    ISPECS_MINMAX: [{
        ISPECS_MIN: {ISPEC_MEM_SIZE: 128, ISPEC_CPU_COUNT: 1, ISPEC_DISK_COUNT: 1,
                     ISPEC_DISK_SIZE: 1024, ISPEC_NIC_COUNT: 1, ISPEC_SPINDLE_USE: 1},
        ISPECS_MAX: {ISPEC_MEM_SIZE: 32768, ISPEC_CPU_COUNT: 8, ISPEC_DISK_COUNT: 16,
                     ISPEC_DISK_SIZE: 1048576, ISPEC_NIC_COUNT: 8,
                     ISPEC_SPINDLE_USE: 12},
    }],
    ISPECS_STD: {ISPEC_MEM_SIZE: 128, ISPEC_CPU_COUNT: 1, ISPEC_DISK_COUNT: 1,
                 ISPEC_DISK_SIZE: 1024, ISPEC_NIC_COUNT: 1, ISPEC_SPINDLE_USE: 1},
    IPOLICY_DTS: list(DISK_TEMPLATES),
    IPOLICY_VCPU_RATIO: 4.0,
    IPOLICY_SPINDLE_RATIO: 32.0,
}

# Cluster defaults
DEFAULT_MAC_PREFIX = "aa:00:00"
DEFAULT_CANDIDATE_POOL_SIZE = 10
DEFAULT_MAX_RUNNING_JOBS = 20
DEFAULT_MAX_TRACKED_JOBS = 25
DEFAULT_ENABLED_HYPERVISOR = HT_XEN_PVM
DEFAULT_ENABLED_DISK_TEMPLATES = [DT_DRBD8, DT_PLAIN]
DEFAULT_COMPRESSION_TOOLS = ["gzip", "gzip-fast", "gzip-slow"]
SSHK_RSA = "rsa"
SSHK_DSA = "dsa"
SSHK_ECDSA = "ecdsa"
SSHK_ALL = frozenset([SSHK_RSA, SSHK_DSA, SSHK_ECDSA])
SSH_DEFAULT_KEY_TYPE = SSHK_RSA
SSH_DEFAULT_KEY_BITS = 2048
IP4_VERSION = 4
IP6_VERSION = 6
IP4_FAMILY = 2
IP6_FAMILY = 10
IP4_DEFAULT_NETMASK = 32
IP6_DEFAULT_NETMASK = 128

# Storage
LVM_STRIPECOUNT = 1
MAX_DISK_SIZE = 1024 * 1024 * 1024  # MiB
IDISK_SIZE = "size"
IDISK_MODE = "mode"
IDISK_NAME = "name"
IDISK_VG = "vg"
IDISK_SPINDLES = "spindles"
IDISK_ADOPT = "adopt"
IDISK_PROVIDER = "provider"
IDISK_PARAMS_TYPES = {IDISK_SIZE: "size", IDISK_MODE: "string", IDISK_NAME: "string",
                      IDISK_VG: "string", IDISK_SPINDLES: "int", IDISK_ADOPT: "string",
                      IDISK_PROVIDER: "string"}
INIC_MAC = "mac"
INIC_IP = "ip"
INIC_MODE = "mode"
INIC_LINK = "link"
INIC_NETWORK = "network"
INIC_NAME = "name"
INIC_VLAN = "vlan"
INIC_PARAMS_TYPES = {INIC_MAC: "string", INIC_IP: "string", INIC_MODE: "string",
                     INIC_LINK: "string", INIC_NETWORK: "string", INIC_NAME: "string",
                     INIC_VLAN: "string"}

# ssconf keys
SS_CLUSTER_NAME = "cluster_name"
SS_CLUSTER_TAGS = "cluster_tags"
SS_FILE_STORAGE_DIR = "file_storage_dir"
SS_SHARED_FILE_STORAGE_DIR = "shared_file_storage_dir"
SS_MASTER_CANDIDATES = "master_candidates"
SS_MASTER_CANDIDATES_IPS = "master_candidates_ips"
SS_MASTER_CANDIDATES_CERTS = "master_candidates_certs"
SS_MASTER_IP = "master_ip"
SS_MASTER_NETDEV = "master_netdev"
SS_MASTER_NETMASK = "master_netmask"
SS_MASTER_NODE = "master_node"
SS_NODE_LIST = "node_list"
SS_NODE_PRIMARY_IPS = "node_primary_ips"
SS_NODE_SECONDARY_IPS = "node_secondary_ips"
SS_NODE_VM_CAPABLE = "node_vm_capable"
SS_OFFLINE_NODES = "offline_nodes"
SS_ONLINE_NODES = "online_nodes"
SS_PRIMARY_IP_FAMILY = "primary_ip_family"
SS_INSTANCE_LIST = "instance_list"
SS_RELEASE_VERSION = "release_version"
SS_HYPERVISOR_LIST = "hypervisor_list"
SS_MAINTAIN_NODE_HEALTH = "maintain_node_health"
SS_UID_POOL = "uid_pool"
SS_NODEGROUPS = "nodegroups"
SS_NETWORKS = "networks"
SS_ENABLED_USER_SHUTDOWN = "enabled_user_shutdown"
SS_SSH_PORTS = "ssh_ports"
SS_HVPARAMS_PREF = "hvparams_"
SS_FILE_PERMS = 0o444
SS_MAX_FILE_SIZE = 128 * 1024
VALID_SS_KEYS = frozenset([
    SS_CLUSTER_NAME, SS_CLUSTER_TAGS, SS_FILE_STORAGE_DIR, SS_SHARED_FILE_STORAGE_DIR,
    SS_MASTER_CANDIDATES, SS_MASTER_CANDIDATES_IPS, SS_MASTER_CANDIDATES_CERTS,
    SS_MASTER_IP, SS_MASTER_NETDEV, SS_MASTER_NETMASK, SS_MASTER_NODE, SS_NODE_LIST,
    SS_NODE_PRIMARY_IPS, SS_NODE_SECONDARY_IPS, SS_NODE_VM_CAPABLE, SS_OFFLINE_NODES,
    SS_ONLINE_NODES, SS_PRIMARY_IP_FAMILY, SS_INSTANCE_LIST, SS_RELEASE_VERSION,
    SS_HYPERVISOR_LIST, SS_MAINTAIN_NODE_HEALTH, SS_UID_POOL, SS_NODEGROUPS,
    SS_NETWORKS, SS_ENABLED_USER_SHUTDOWN, SS_SSH_PORTS,
] + [SS_HVPARAMS_PREF + hv for hv in HYPER_TYPES])

# Crypto
RSA_KEY_BITS = 2048
X509_CERT_SIGN_DIGEST = "sha256"
X509_CERT_CN = "ganeti.example.com"
X509_CERT_DEFAULT_VALIDITY = 5 * 365  # days
HMAC_KEY_HEX_CHARS = 40
CRYPTO_BOOTSTRAP = "bootstrap"
REDACTED = "<redacted>"

# RPC timeouts (seconds) by class
RPC_TMO_URGENT = 60
RPC_TMO_FAST = 5 * 60
RPC_TMO_NORMAL = 15 * 60
RPC_TMO_SLOW = 3600
RPC_TMO_4HRS = 4 * 3600
RPC_TMO_1DAY = 86400
RPC_CONNECT_TIMEOUT = 5
RPC_MAX_PARALLEL = 30
RPC_ENCODING_NONE = 0
RPC_ENCODING_ZLIB_BASE64 = 1
RPC_COMPRESS_MIN = 512

# Misc
NODE_MAX_CLOCK_SKEW = 150
VNC_BASE_PORT = 5900
FIRST_DRBD_PORT = 11000
LAST_DRBD_PORT = 14999
MAX_NAME_LENGTH = 255
TAG_MAX_LEN = 128
MAX_TAGS_PER_OBJ = 4096
OS_SCRIPT_CREATE = "create"
OS_SCRIPT_CREATE_UNTRUSTED = "create_untrusted"
OS_SCRIPT_IMPORT = "import"
OS_SCRIPT_EXPORT = "export"
OS_SCRIPT_RENAME = "rename"
OS_SCRIPT_VERIFY = "verify"
OS_API_FILE = "ganeti_api_version"
OS_VARIANTS_FILE = "variants.list"
OS_PARAMETERS_FILE = "parameters.list"
OS_VALIDATE_PARAMETERS = "parameters"
OS_VALIDATE_CALLS = frozenset([OS_VALIDATE_PARAMETERS])

# Storage backends on the nodes (lvm, drbd, blockdev, ext): storage unit types and
# fields of gnt-node list-storage, local disk status, disk parameters as the nodes
# receive them ("logical disk" params), DRBD and ExtStorage names.
ST_FILE = "file"
ST_SHARED_FILE = "sharedfile"
ST_GLUSTER = "gluster"
ST_LVM_PV = "lvm-pv"
ST_LVM_VG = "lvm-vg"
ST_DISKLESS = "diskless"
ST_BLOCK = "blockdev"
ST_RBD = "rbd"
ST_EXT = "ext"
STORAGE_TYPES = frozenset([ST_FILE, ST_SHARED_FILE, ST_GLUSTER, ST_LVM_PV, ST_LVM_VG,
                           ST_DISKLESS, ST_BLOCK, ST_RBD, ST_EXT])
SF_NAME = "name"
SF_TYPE = "type"
SF_SIZE = "size"
SF_FREE = "free"
SF_USED = "used"
SF_ALLOCATABLE = "allocatable"
SF_NODE = "node"
SO_FIX_CONSISTENCY = "fix-consistency"
LDS_OKAY = 1
LDS_UNKNOWN = 2
LDS_FAULTY = 3
LDP_RESYNC_RATE = "resync-rate"
LDP_STRIPES = "stripes"
LDP_BARRIERS = "disabled-barriers"
LDP_NO_META_FLUSH = "disable-meta-flush"
LDP_DEFAULT_METAVG = "default-metavg"
LDP_DISK_CUSTOM = "disk-custom"
LDP_NET_CUSTOM = "net-custom"
LDP_PROTOCOL = "protocol"
LDP_DYNAMIC_RESYNC = "dynamic-resync"
LDP_PLAN_AHEAD = "c-plan-ahead"
LDP_FILL_TARGET = "c-fill-target"
LDP_DELAY_TARGET = "c-delay-target"
LDP_MAX_RATE = "c-max-rate"
LDP_MIN_RATE = "c-min-rate"
LDP_ACCESS = "access"
DISK_KERNELSPACE = "kernelspace"
DISK_USERSPACE = "userspace"
DRBD_B_NONE = "n"
DRBD_B_DISK_BARRIERS = "b"
DRBD_B_DISK_DRAIN = "d"
DRBD_B_DISK_FLUSH = "f"
DRBD_VALID_BARRIER_OPT = frozenset([
    frozenset([DRBD_B_NONE]), frozenset([DRBD_B_DISK_BARRIERS]),
    frozenset([DRBD_B_DISK_DRAIN]), frozenset([DRBD_B_DISK_FLUSH]),
    frozenset([DRBD_B_DISK_DRAIN, DRBD_B_DISK_FLUSH]),
    frozenset([DRBD_B_DISK_BARRIERS, DRBD_B_DISK_DRAIN]),
    frozenset([DRBD_B_DISK_BARRIERS, DRBD_B_DISK_FLUSH]),
    frozenset([DRBD_B_DISK_BARRIERS, DRBD_B_DISK_FLUSH, DRBD_B_DISK_DRAIN])])
DRBD_META_SIZE = 128  # MiB, the meta LV of every DRBD disk
DRBD_HMAC_ALG = "md5"
DRBD_DEFAULT_NET_PROTOCOL = "C"
DRBD_MIGRATION_NET_PROTOCOL = "C"
DRBD_MAX_MINORS = 255
DEFAULT_DRBD_HELPER = "/bin/true"
DDP_LOCAL_IP = "local-ip"
DDP_REMOTE_IP = "remote-ip"
DDP_LOCAL_MINOR = "local-minor"
DDP_REMOTE_MINOR = "remote-minor"
DISK_LD_DEFAULTS = {
    DT_PLAIN: {LDP_STRIPES: LVM_STRIPECOUNT},
    DT_DRBD8: {LDP_RESYNC_RATE: 61440, LDP_BARRIERS: DRBD_B_NONE,
               LDP_NO_META_FLUSH: False, LDP_DEFAULT_METAVG: _autoconf.DEFAULT_VG,
               LDP_DISK_CUSTOM: "", LDP_NET_CUSTOM: "",
               LDP_PROTOCOL: DRBD_DEFAULT_NET_PROTOCOL, LDP_DYNAMIC_RESYNC: False,
               LDP_PLAN_AHEAD: 20, LDP_FILL_TARGET: 0, LDP_DELAY_TARGET: 1,
               LDP_MAX_RATE: 61440, LDP_MIN_RATE: 4096},
    DT_BLOCK: {},
    DT_EXT: {LDP_ACCESS: DISK_KERNELSPACE},
}
BLOCKDEV_DRIVER_MANUAL = "manual"
ADOPTABLE_BLOCKDEV_ROOT = "/dev/disk/"
ES_ACTION_CREATE = "create"
ES_ACTION_REMOVE = "remove"
ES_ACTION_GROW = "grow"
ES_ACTION_ATTACH = "attach"
ES_ACTION_DETACH = "detach"
ES_ACTION_SETINFO = "setinfo"
ES_ACTION_VERIFY = "verify"
ES_ACTION_SNAPSHOT = "snapshot"
ES_ACTION_OPEN = "open"
ES_ACTION_CLOSE = "close"
ES_SCRIPTS_REQUIRED = (ES_ACTION_CREATE, ES_ACTION_REMOVE, ES_ACTION_GROW,
                       ES_ACTION_ATTACH, ES_ACTION_DETACH, ES_ACTION_SETINFO,
                       ES_ACTION_VERIFY)
ES_SCRIPTS_OPTIONAL = (ES_ACTION_OPEN, ES_ACTION_CLOSE, ES_ACTION_SNAPSHOT)
ES_PARAMETERS_FILE = "parameters.list"
