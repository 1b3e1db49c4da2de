"""File-system paths of a node, aware of virtual clusters.

A process is a virtual node when both GANETI_ROOTDIR and GANETI_HOSTNAME are set; every
node-local path then lives below that root (see files-and-config.md section 5).  Paths
travelling over RPC are "virtualised" with a marker so that each node maps them into its
own root.
"""

import os
import sys

from ganeti import _autoconf

ENV_ROOTDIR = "GANETI_ROOTDIR"
ENV_HOSTNAME = "GANETI_HOSTNAME"
VIRT_PATH_PREFIX = "/###-VIRTUAL-PATH-###,"


class VirtualClusterError(Exception):
    """The virtual-cluster environment is inconsistent."""


def _read_virtual_env(env=os.environ) -> tuple[str, str]:
    root = env.get(ENV_ROOTDIR, "")
    host = env.get(ENV_HOSTNAME, "")
    if bool(root) != bool(host):
        raise VirtualClusterError(
            "Both %s and %s must be set for a virtual node, or neither"
            % (ENV_ROOTDIR, ENV_HOSTNAME))
    if root:
        if not os.path.isabs(root):
            raise VirtualClusterError("%s must be an absolute path: %r" % (ENV_ROOTDIR, root))
        root = os.path.normpath(root)
        if "/" in host:
            raise VirtualClusterError("%s must not contain '/': %r" % (ENV_HOSTNAME, host))
        if os.path.basename(root) != host:
            raise VirtualClusterError(
                "The last component of %s (%s) must be the host name %s"
                % (ENV_ROOTDIR, root, host))
    return root, host


try:
    ROOTDIR, VIRTUAL_HOSTNAME = _read_virtual_env()
except VirtualClusterError as _err:
    sys.stderr.write("Error: %s\n" % _err)
    raise SystemExit(1) from None


def is_virtual() -> bool:
    return bool(ROOTDIR)


def node_root_of(hostname: str) -> str:
    """Root directory of another virtual node of the same virtual cluster."""
    if not ROOTDIR:
        return ""
    return os.path.join(os.path.dirname(ROOTDIR), hostname)


def local_path(path: str) -> str:
    """Prefix a node-local path with this node's root (no-op outside a vcluster)."""
    if ROOTDIR and os.path.isabs(path):
        return ROOTDIR + path
    return path


def virtualize(path: str) -> str:
    """Turn a local path into its node-independent form for sending over RPC."""
    if not ROOTDIR or path == ETC_HOSTS:
        return path
    if path == ROOTDIR or path.startswith(ROOTDIR + "/"):
        return VIRT_PATH_PREFIX + path[len(ROOTDIR):]
    raise VirtualClusterError("Path %r is outside the node root %s" % (path, ROOTDIR))


def devirtualize(path: str) -> str:
    """Map a received path into this node's root."""
    if not ROOTDIR or path == ETC_HOSTS:
        return path
    if path.startswith(VIRT_PATH_PREFIX):
        return ROOTDIR + path[len(VIRT_PATH_PREFIX):]
    raise VirtualClusterError("Path %r is not virtualised" % path)


ETC_HOSTS = "/etc/hosts"

# Non-prefixed, installation paths
SBIN_DIR = _autoconf.SBINDIR
PKGLIB_DIR = _autoconf.PKGLIBDIR
TOOLS_DIR = os.path.join(PKGLIB_DIR, "tools")
DAEMON_UTIL = os.path.join(PKGLIB_DIR, "daemon-util")
ENSURE_DIRS = os.path.join(PKGLIB_DIR, "ensure-dirs")
PREPARE_NODE_JOIN = os.path.join(TOOLS_DIR, "prepare-node-join")
OS_SEARCH_PATH = list(_autoconf.OS_SEARCH_PATH)
ES_SEARCH_PATH = list(_autoconf.ES_SEARCH_PATH)
IALLOCATOR_SEARCH_PATH = list(_autoconf.IALLOCATOR_SEARCH_PATH)

# Node-local paths
SYSCONFDIR = local_path(_autoconf.SYSCONFDIR)
LOCALSTATEDIR = local_path(_autoconf.LOCALSTATEDIR)
CONF_DIR = os.path.join(SYSCONFDIR, "ganeti")
DATA_DIR = os.path.join(LOCALSTATEDIR, "lib", "ganeti")
RUN_DIR = os.path.join(LOCALSTATEDIR, "run", "ganeti")
LOG_DIR = os.path.join(LOCALSTATEDIR, "log", "ganeti")
LOCK_DIR = os.path.join(LOCALSTATEDIR, "lock")
SOCKET_DIR = os.path.join(RUN_DIR, "socket")
QUEUE_DIR = os.path.join(DATA_DIR, "queue")
JOB_QUEUE_ARCHIVE_DIR = os.path.join(QUEUE_DIR, "archive")
JOB_QUEUE_SERIAL_FILE = os.path.join(QUEUE_DIR, "serial")
JOB_QUEUE_VERSION_FILE = os.path.join(QUEUE_DIR, "version")
JOB_QUEUE_LOCK_FILE = os.path.join(QUEUE_DIR, "lock")
JOB_QUEUE_DRAIN_FILE = os.path.join(QUEUE_DIR, "drain")

CLUSTER_CONF_FILE = os.path.join(DATA_DIR, "config.data")
SSCONF_LOCK_FILE = os.path.join(LOCK_DIR, "ganeti-ssconf.lock")
NODED_CERT_FILE = os.path.join(DATA_DIR, "server.pem")
NODED_CLIENT_CERT_FILE = os.path.join(DATA_DIR, "client.pem")
RAPI_CERT_FILE = os.path.join(DATA_DIR, "rapi.pem")
SPICE_CERT_FILE = os.path.join(DATA_DIR, "spice.pem")
SPICE_CACERT_FILE = os.path.join(DATA_DIR, "spice-ca.pem")
CONFD_HMAC_KEY = os.path.join(DATA_DIR, "hmac.key")
CLUSTER_DOMAIN_SECRET_FILE = os.path.join(DATA_DIR, "cluster-domain-secret")
SSH_KNOWN_HOSTS_FILE = os.path.join(DATA_DIR, "known_hosts")
SSH_PUB_KEYS = os.path.join(DATA_DIR, "ganeti_pub_keys")
RAPI_DATA_DIR = os.path.join(DATA_DIR, "rapi")
RAPI_USERS_FILE = os.path.join(RAPI_DATA_DIR, "users")
WATCHER_PAUSEFILE = os.path.join(DATA_DIR, "watcher.pause")
VNC_PASSWORD_FILE = os.path.join(CONF_DIR, "vnc-cluster-password")
HOOKS_BASE_DIR = os.path.join(CONF_DIR, "hooks")
RESTRICTED_COMMANDS_DIR = os.path.join(CONF_DIR, "restricted-commands")
FILE_STORAGE_PATHS_FILE = os.path.join(CONF_DIR, "file-storage-paths")
DEFAULT_FILE = local_path("/etc/default/ganeti")

MASTER_SOCKET = os.path.join(SOCKET_DIR, "ganeti-master")
QUERY_SOCKET = os.path.join(SOCKET_DIR, "ganeti-query")
BDEV_CACHE_DIR = os.path.join(RUN_DIR, "bdev-cache")
DISK_LINKS_DIR = os.path.join(RUN_DIR, "instance-disks")
CRYPTO_KEYS_DIR = os.path.join(RUN_DIR, "crypto")
IMPORT_EXPORT_DIR = os.path.join(RUN_DIR, "import-export")
INSTANCE_REASON_DIR = os.path.join(RUN_DIR, "instance-reason")
FAKE_HV_DIR = os.path.join(RUN_DIR, "fake-hypervisor")
OS_LOG_DIR = os.path.join(LOG_DIR, "os")
COMMANDS_LOG = os.path.join(LOG_DIR, "commands.log")
JOBS_LOG = os.path.join(LOG_DIR, "jobs.log")

DEFAULT_FILE_STORAGE_DIR = local_path(_autoconf.FILE_STORAGE_DIR)
DEFAULT_SHARED_FILE_STORAGE_DIR = local_path(_autoconf.SHARED_FILE_STORAGE_DIR)
EXPORT_DIR = local_path(_autoconf.EXPORT_DIR)

# SSH: in a virtual cluster the SSH configuration and root's keys are per node too, so
# that a virtual cluster never touches the host's /etc/ssh or /root/.ssh.
SSH_CONFIG_DIR = local_path(_autoconf.SSH_CONFIG_DIR)
SSH_ROOT_DIR = local_path("/root/.ssh")


def daemon_pidfile(daemon: str) -> str:
    return os.path.join(RUN_DIR, "%s.pid" % daemon)


def daemon_logfile(daemon: str) -> str:
    from ganeti import constants
    return os.path.join(LOG_DIR, "%s.log" % constants.DAEMONS_LOGBASE[daemon])


def ssconf_file(key: str) -> str:
    return os.path.join(DATA_DIR, "ssconf_%s" % key)
