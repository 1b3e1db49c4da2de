"""Cluster initialisation: keys and certificates, the first config, the daemons.

``gnt-cluster init`` runs this on the future master.  The master-candidate digest map
is written before noded starts, so noded never serves with an empty map.
"""

import os
import time

from ganeti import config
from ganeti import constants
from ganeti import crypto
from ganeti import errors
from ganeti import netutils
from ganeti import objects
from ganeti import pathutils
from ganeti import ssconf
from ganeti.utils import io
from ganeti.utils import process


def generate_cluster_crypto(node_name: str, new_rapi: bool = True) -> str:
    """Write server.pem, client.pem, rapi.pem, hmac.key, cluster-domain-secret.

    Returns the digest of this node's client certificate.
    """
    os.makedirs(pathutils.DATA_DIR, mode=0o755, exist_ok=True)
    key_pem, cert_pem = crypto.generate_self_signed_cert(constants.X509_CERT_CN)
    crypto.write_pem_file(pathutils.NODED_CERT_FILE, key_pem, cert_pem)
    digest = create_client_cert(node_name, key_pem, cert_pem)
    if new_rapi or not os.path.exists(pathutils.RAPI_CERT_FILE):
        rkey, rcert = crypto.generate_self_signed_cert(constants.X509_CERT_CN)
        crypto.write_pem_file(pathutils.RAPI_CERT_FILE, rkey, rcert)
    io.write_file(pathutils.CONFD_HMAC_KEY, crypto.generate_hmac_key(), mode=0o440)
    io.write_file(pathutils.CLUSTER_DOMAIN_SECRET_FILE,
                  crypto.generate_secret(20) + "\n", mode=0o640)
    return digest


def create_client_cert(node_name: str, ca_key_pem: str, ca_cert_pem: str) -> str:
    """This node's client certificate, signed by the cluster certificate."""
    ckey, ccert = crypto.generate_signed_cert(ca_key_pem, ca_cert_pem, node_name)
    crypto.write_pem_file(pathutils.NODED_CLIENT_CERT_FILE, ckey, ccert)
    return crypto.cert_digest(ccert)


def _check_dirs(file_storage_dir: str | None, templates: list[str]) -> None:
    if constants.DT_FILE not in templates:
        return
    from ganeti.storage import filestorage
    local = pathutils.local_path(file_storage_dir)
    try:
        filestorage.check_file_storage_path(local, allow_root=True)
    except errors.FileStoragePathError as err:
        raise errors.OpPrereqError(
            "The file storage directory '%s' is not allowed on this node: %s (add it to %s)"
            % (file_storage_dir, err, pathutils.FILE_STORAGE_PATHS_FILE),
            errors.ECODE_INVAL) from None
    os.makedirs(local, mode=0o750, exist_ok=True)


def init_cluster(cluster_name: str, master_netdev: str, enabled_hypervisors: list[str],
                 enabled_disk_templates: list[str], file_storage_dir: str | None = None,
                 shared_file_storage_dir: str | None = None,
                 master_netmask: int | None = None, mac_prefix: str | None = None,
                 hvparams: dict | None = None, beparams: dict | None = None,
                 nicparams: dict | None = None, ndparams: dict | None = None,
                 ipolicy: dict | None = None, candidate_pool_size: int | None = None,
                 modify_etc_hosts: bool = True, modify_ssh_setup: bool = True,
                 secondary_ip: str | None = None, vg_name: str | None = None,
                 maintain_node_health: bool = False, uid_pool: list | None = None,
                 default_iallocator: str = "", primary_ip_version: int = 4,
                 prealloc_wipe_disks: bool = False, ssh_key_type: str = "rsa",
                 ssh_key_bits: int = 2048, enabled_user_shutdown: bool = False,
                 feedback=None) -> None:
    feedback = feedback or (lambda msg: None)
    if os.path.exists(pathutils.CLUSTER_CONF_FILE):
        raise errors.OpPrereqError("Cluster is already initialised", errors.ECODE_STATE)
    hostname = netutils.hostname()
    try:
        node_ip = netutils.resolve(hostname)
        master_ip = netutils.resolve(cluster_name)
    except errors.ResolverError as err:
        raise errors.OpPrereqError(errors.format_error(err), errors.ECODE_RESOLVER) \
            from None
    if master_ip != node_ip and netutils.tcp_ping(master_ip, constants.DEFAULT_NODED_PORT,
                                                  timeout=1):
        raise errors.OpPrereqError("Cluster IP %s already active" % master_ip,
                                   errors.ECODE_NOTUNIQUE)
    if secondary_ip and not netutils.is_valid_ip(secondary_ip):
        raise errors.OpPrereqError("Invalid secondary IP '%s'" % secondary_ip,
                                   errors.ECODE_INVAL)
    if not enabled_hypervisors:
        raise errors.OpPrereqError("No hypervisor enabled", errors.ECODE_INVAL)
    for hv in enabled_hypervisors:
        if hv not in constants.HYPER_TYPES:
            raise errors.OpPrereqError("Invalid hypervisor '%s' (valid: %s)"
                                       % (hv, ", ".join(sorted(constants.HYPER_TYPES))),
                                       errors.ECODE_INVAL)
    for dt in enabled_disk_templates:
        if dt not in constants.DISK_TEMPLATES:
            raise errors.OpPrereqError("Invalid disk template '%s' (valid: %s)"
                                       % (dt, ", ".join(constants.DISK_TEMPLATES)),
                                       errors.ECODE_INVAL)
    from ganeti.backend import sshkeys
    ssh_key_bits = sshkeys.check_key_params(ssh_key_type, ssh_key_bits)
    file_storage_dir = file_storage_dir or _default_path("FILE_STORAGE_DIR")
    shared_file_storage_dir = shared_file_storage_dir or \
        _default_path("SHARED_FILE_STORAGE_DIR")
    for path in (file_storage_dir, shared_file_storage_dir):
        if not os.path.isabs(path):
            raise errors.OpPrereqError("Storage directory '%s' is not absolute" % path,
                                       errors.ECODE_INVAL)
    _check_dirs(file_storage_dir, enabled_disk_templates)
    if mac_prefix and not _valid_mac_prefix(mac_prefix):
        raise errors.OpPrereqError("Invalid MAC prefix '%s'" % mac_prefix,
                                   errors.ECODE_INVAL)
    family = constants.IP6_FAMILY if primary_ip_version == 6 else constants.IP4_FAMILY
    if master_netmask is None:
        master_netmask = constants.IP6_DEFAULT_NETMASK if family == constants.IP6_FAMILY \
            else constants.IP4_DEFAULT_NETMASK

    from ganeti.tools import ensure_dirs
    problems = ensure_dirs.ensure_paths()
    if problems:
        raise errors.OpExecError("Cannot prepare the directories: %s" % "; ".join(problems))
    feedback("Generating cluster certificates and keys")
    digest = generate_cluster_crypto(hostname)
    _write_known_hosts(cluster_name)

    now = time.time()
    group = objects.NodeGroup(name=constants.INITIAL_NODE_GROUP_NAME,
                              alloc_policy=constants.ALLOC_POLICY_PREFERRED, ndparams={},
                              diskparams={}, ipolicy={}, networks={}, tags=[])
    group.uuid = config.generate_uuid()
    group.stamp_new()
    node = objects.Node(name=hostname, primary_ip=node_ip,
                        secondary_ip=secondary_ip or node_ip, master_candidate=True,
                        offline=False, drained=False, group=group.uuid,
                        master_capable=True, vm_capable=True, ndparams={}, powered=True,
                        tags=[])
    node.uuid = config.generate_uuid()
    node.stamp_new()
    cluster_ipolicy = objects.fill_dict(constants.IPOLICY_DEFAULTS, ipolicy or {})
    cluster = objects.Cluster(
        cluster_name=cluster_name, master_node=node.uuid, master_ip=master_ip,
        master_netdev=master_netdev, master_netmask=master_netmask,
        primary_ip_family=family, use_external_mip_script=False,
        rsahostkeypub="", highest_used_port=constants.FIRST_DRBD_PORT - 1,
        tcpudp_port_pool=[], mac_prefix=mac_prefix or constants.DEFAULT_MAC_PREFIX,
        volume_group_name=vg_name or "", reserved_lvs=[], drbd_usermode_helper="",
        default_bridge=None, default_hypervisor=None,
        enabled_hypervisors=list(enabled_hypervisors),
        hvparams={hv: dict((hvparams or {}).get(hv, {})) for hv in constants.HYPER_TYPES},
        os_hvp={}, beparams={constants.VALUE_DEFAULT: objects.fill_dict(
            constants.BEC_DEFAULTS, beparams or {})},
        osparams={}, osparams_private_cluster={},
        nicparams={constants.VALUE_DEFAULT: objects.fill_dict(constants.NICC_DEFAULTS,
                                                              nicparams or {})},
        ndparams=objects.fill_dict(constants.NDC_DEFAULTS, ndparams or {}),
        diskparams={dt: {} for dt in constants.DISK_TEMPLATES},
        ipolicy=cluster_ipolicy,
        candidate_pool_size=candidate_pool_size or constants.DEFAULT_CANDIDATE_POOL_SIZE,
        modify_etc_hosts=modify_etc_hosts, modify_ssh_setup=modify_ssh_setup,
        maintain_node_health=maintain_node_health, uid_pool=uid_pool or [],
        default_iallocator=default_iallocator, default_iallocator_params={},
        hidden_os=[], blacklisted_os=[], prealloc_wipe_disks=prealloc_wipe_disks,
        enabled_disk_templates=list(enabled_disk_templates),
        candidate_certs={node.uuid: digest},
        max_running_jobs=constants.DEFAULT_MAX_RUNNING_JOBS,
        max_tracked_jobs=constants.DEFAULT_MAX_TRACKED_JOBS,
        file_storage_dir=file_storage_dir, shared_file_storage_dir=shared_file_storage_dir,
        gluster_storage_dir="", enabled_user_shutdown=enabled_user_shutdown,
        data_collectors={}, ssh_key_type=ssh_key_type, ssh_key_bits=ssh_key_bits,
        tags=[])
    cluster.uuid = config.generate_uuid()
    cluster.serial_no = 1
    cluster.ctime = cluster.mtime = now
    data = objects.ConfigData(version=constants.CONFIG_VERSION, cluster=cluster,
                              nodes={node.uuid: node}, nodegroups={group.uuid: group},
                              instances={}, networks={}, disks={}, filters={},
                              serial_no=1, ctime=now, mtime=now)
    data.upgrade_config()
    config.write_initial_config(pathutils.CLUSTER_CONF_FILE, data)
    ssconf.write_ssconf_files(config.compute_ssconf_values(data))
    if modify_ssh_setup:
        _setup_cluster_ssh_key(node.uuid, cluster_name, ssh_key_type, ssh_key_bits,
                               feedback)
    # S1: the files above were written by root; give them their owners and modes
    problems = ensure_dirs.ensure_paths()
    if problems:
        raise errors.OpExecError("Cannot fix the owners of the new files: %s"
                                 % "; ".join(problems))
    feedback("Starting the node daemon and the master daemons")
    _daemon_util("start", constants.NODED)
    _activate_master_ip(data)
    _daemon_util("start-all")


def _daemon_util(*args) -> None:
    result = process.run_cmd([pathutils.DAEMON_UTIL] + list(args), timeout=60)
    if result.failed:
        raise errors.OpExecError("Could not run 'daemon-util %s': %s"
                                 % (" ".join(args), result.output.strip()))


def _activate_master_ip(data) -> None:
    from ganeti.rpc.node import RpcRunner
    node = data.nodes[data.cluster.master_node]
    runner = RpcRunner(lambda n: (node.name, node.primary_ip, False))
    cluster = data.cluster
    res = runner.call_single("node_activate_master_ip", node.uuid,
                             [{"ip": cluster.master_ip, "netdev": cluster.master_netdev,
                               "netmask": cluster.master_netmask,
                               "ip_family": cluster.primary_ip_family}, False])
    res.raise_on_fail("Could not activate the master IP")


def _setup_cluster_ssh_key(node_uuid: str, cluster_name: str, key_type: str,
                           bits: int, feedback) -> None:
    """The cluster's root SSH key (made when missing), authorized on the master and
    recorded in ganeti_pub_keys."""
    from ganeti.backend import sshkeys
    try:
        public, created = sshkeys.ensure_root_key(key_type, bits, "root@%s" % cluster_name)
        if created:
            feedback("Generated the cluster's %s SSH key (%d bits)" % (key_type, bits))
        sshkeys.add_authorized_keys(sshkeys.authorized_keys_file(), [public], [])
        sshkeys.write_pub_keys([[node_uuid, public]])
    except errors.RpcError as err:
        raise errors.OpExecError("Cannot set up the cluster SSH key: %s"
                                 % errors.format_error(err)) from None


def _write_known_hosts(cluster_name: str) -> None:
    from ganeti import ssh
    try:
        key = ssh.read_host_public_key()
    except errors.GenericError:
        return
    ssh.write_known_hosts(pathutils.SSH_KNOWN_HOSTS_FILE, cluster_name, key)


def _default_path(name: str) -> str:
    from ganeti import _autoconf
    return getattr(_autoconf, name)


def _valid_mac_prefix(prefix: str) -> bool:
    import re
    return bool(re.match(r"^[0-9a-fA-F]{2}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$", prefix))
