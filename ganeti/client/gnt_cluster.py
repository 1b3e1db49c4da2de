"""gnt-cluster: initialise, inspect, verify and destroy the cluster."""

import sys
import time

from ganeti import cli
from ganeti import constants
from ganeti import errors
from ganeti import opcodes
from ganeti.utils.text import parse_unit


def _parse_ispecs(text: str | None) -> list | None:
    """--ipolicy-bounds-specs min:k=v,.../max:k=v,...[//min:.../max:...]"""
    if not text:
        return None
    pairs = []
    for chunk in text.split("//"):
        parts = {}
        for half in chunk.split("/"):
            ident, values = cli.parse_ident_key_values(half, "ipolicy bounds")
            if ident not in (constants.ISPECS_MIN, constants.ISPECS_MAX):
                raise cli.UsageError("Invalid ipolicy bound '%s' (min or max)" % ident)
            parts[ident] = _ispec_values(values)
        if set(parts) != {constants.ISPECS_MIN, constants.ISPECS_MAX}:
            raise cli.UsageError("Each ipolicy bounds entry needs a min and a max part")
        pairs.append(parts)
    return pairs


def _ispec_values(values: dict) -> dict:
    result = {}
    for key, value in values.items():
        if key not in constants.ISPECS_PARAMETERS:
            raise cli.UsageError("Invalid instance spec '%s' (valid: %s)"
                                 % (key, ", ".join(constants.ISPECS_PARAMETERS)))
        if key in (constants.ISPEC_MEM_SIZE, constants.ISPEC_DISK_SIZE):
            result[key] = parse_unit(str(value))
        else:
            try:
                result[key] = int(value)
            except (TypeError, ValueError):
                raise cli.UsageError("Invalid value %r for %s" % (value, key)) from None
    return result


def _parse_uid_pool(text: str | None) -> list:
    if not text:
        return []
    result = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            if "-" in item:
                low, high = (int(x) for x in item.split("-", 1))
            else:
                low = high = int(item)
        except ValueError:
            raise cli.UsageError("Invalid uid pool entry '%s'" % item) from None
        if low > high or low < 0:
            raise cli.UsageError("Invalid uid range '%s'" % item)
        result.append([low, high])
    return result


def _setup_init(p) -> None:
    p.add_argument("cluster_name")
    p.add_argument("-s", "--secondary-ip", default=None)
    p.add_argument("--vg-name", default=None)
    p.add_argument("--master-netdev", default=None)
    p.add_argument("--master-netmask", type=int, default=None)
    p.add_argument("--use-external-mip-script", choices=["yes", "no"], default="no")
    p.add_argument("-m", "--mac-prefix", default=None)
    p.add_argument("--no-etc-hosts", action="store_true")
    p.add_argument("--no-ssh-init", action="store_true")
    p.add_argument("--file-storage-dir", default=None)
    p.add_argument("--shared-file-storage-dir", default=None)
    p.add_argument("--gluster-storage-dir", default=None)
    p.add_argument("--enabled-hypervisors", default=constants.DEFAULT_ENABLED_HYPERVISOR)
    p.add_argument("-H", "--hypervisor-parameters", action="append", default=[])
    p.add_argument("-B", "--backend-parameters", default=None)
    p.add_argument("-N", "--nic-parameters", default=None)
    p.add_argument("--node-parameters", default=None)
    p.add_argument("-C", "--candidate-pool-size", type=int, default=None)
    p.add_argument("--maintain-node-health", choices=["yes", "no"], default="no")
    p.add_argument("--uid-pool", default=None)
    p.add_argument("-I", "--default-iallocator", default="")
    p.add_argument("--primary-ip-version", type=int, choices=[4, 6], default=4)
    p.add_argument("--prealloc-wipe-disks", choices=["yes", "no"], default="no")
    p.add_argument("--enabled-disk-templates",
                   default=",".join(constants.DEFAULT_ENABLED_DISK_TEMPLATES))
    p.add_argument("--ipolicy-bounds-specs", default=None)
    p.add_argument("--ipolicy-std-specs", default=None)
    p.add_argument("--ipolicy-disk-templates", default=None)
    p.add_argument("--ipolicy-vcpu-ratio", type=float, default=None)
    p.add_argument("--ipolicy-spindle-ratio", type=float, default=None)
    p.add_argument("--ssh-key-type", choices=sorted(constants.SSHK_ALL), default="rsa")
    p.add_argument("--ssh-key-bits", type=int, default=None,
                   help="Size of the cluster SSH key (default: 2048 for rsa, 384 for "
                   "ecdsa)")
    p.add_argument("--user-shutdown", choices=["yes", "no"], default="no")


def init(opts) -> int:
    from ganeti import bootstrap
    hvs = [h for h in opts.enabled_hypervisors.split(",") if h]
    templates = [t for t in opts.enabled_disk_templates.split(",") if t]
    hvparams = {}
    for item in opts.hypervisor_parameters:
        hv, values = cli.parse_ident_key_values(item, "hypervisor parameters")
        hvparams[hv] = values
    beparams = cli.parse_key_values(opts.backend_parameters, "backend parameters")
    for key in (constants.BE_MAXMEM, constants.BE_MINMEM, constants.BE_MEMORY):
        if key in beparams:
            beparams[key] = parse_unit(str(beparams[key]))
    if constants.BE_MEMORY in beparams:
        beparams[constants.BE_MAXMEM] = beparams[constants.BE_MINMEM] = \
            beparams.pop(constants.BE_MEMORY)
    from ganeti.cmdlib.instance_utils import check_beparams
    beparams = check_beparams(beparams)
    nicparams = cli.parse_key_values(opts.nic_parameters, "NIC parameters")
    ndparams = cli.parse_key_values(opts.node_parameters, "node parameters")
    for key, value in list(ndparams.items()):
        kind = constants.NDS_PARAMETER_TYPES.get(key)
        if kind is None:
            raise cli.UsageError("Unknown node parameter '%s'" % key)
        if kind == "int":
            ndparams[key] = int(value)
        elif kind == "float":
            ndparams[key] = float(value)
    ipolicy = {}
    bounds = _parse_ispecs(opts.ipolicy_bounds_specs)
    if bounds:
        ipolicy[constants.ISPECS_MINMAX] = bounds
    if opts.ipolicy_std_specs:
        ipolicy[constants.ISPECS_STD] = _ispec_values(
            cli.parse_key_values(opts.ipolicy_std_specs))
    if opts.ipolicy_disk_templates:
        ipolicy[constants.IPOLICY_DTS] = opts.ipolicy_disk_templates.split(",")
    if opts.ipolicy_vcpu_ratio is not None:
        ipolicy[constants.IPOLICY_VCPU_RATIO] = opts.ipolicy_vcpu_ratio
    if opts.ipolicy_spindle_ratio is not None:
        ipolicy[constants.IPOLICY_SPINDLE_RATIO] = opts.ipolicy_spindle_ratio
    from ganeti import _autoconf
    bootstrap.init_cluster(
        opts.cluster_name, master_netdev=opts.master_netdev or _autoconf.DEFAULT_BRIDGE,
        enabled_hypervisors=hvs, enabled_disk_templates=templates,
        file_storage_dir=opts.file_storage_dir,
        shared_file_storage_dir=opts.shared_file_storage_dir,
        master_netmask=opts.master_netmask, mac_prefix=opts.mac_prefix,
        hvparams=hvparams, beparams=beparams, nicparams=nicparams, ndparams=ndparams,
        ipolicy=ipolicy, candidate_pool_size=opts.candidate_pool_size,
        modify_etc_hosts=not opts.no_etc_hosts, modify_ssh_setup=not opts.no_ssh_init,
        secondary_ip=opts.secondary_ip, vg_name=opts.vg_name,
        maintain_node_health=opts.maintain_node_health == "yes",
        uid_pool=_parse_uid_pool(opts.uid_pool),
        default_iallocator=opts.default_iallocator,
        primary_ip_version=opts.primary_ip_version,
        prealloc_wipe_disks=opts.prealloc_wipe_disks == "yes",
        ssh_key_type=opts.ssh_key_type, ssh_key_bits=opts.ssh_key_bits,
        enabled_user_shutdown=opts.user_shutdown == "yes")
    cli.send_job([opcodes.OpClusterPostInit()], None)
    return constants.EXIT_SUCCESS


def destroy(opts) -> int:
    if not opts.yes_do_it:
        sys.stderr.write("Destroying a cluster is irreversible. If you really want to "
                         "destroy this cluster, supply the --yes-do-it option.\n")
        return constants.EXIT_FAILURE
    cli.send_job([opcodes.OpClusterDestroy()], None)
    return constants.EXIT_SUCCESS


def verify(opts) -> int:
    op = opcodes.OpClusterVerify(error_codes=opts.error_codes,
                                 ignore_errors=list(opts.ignore_errors),
                                 group_name=opts.node_group, verbose=opts.verbose)
    result = cli.send_job([op], opts)[0]
    return constants.EXIT_SUCCESS if result else constants.EXIT_FAILURE


def getmaster(opts) -> int:
    """Works on every node: the master's name is in ssconf."""
    from ganeti import ssconf
    master = ssconf.SimpleStore().get_master_node()
    sys.stdout.write("%s\n" % master)
    return 0


def master_ping(opts) -> int:
    try:
        cli.get_client().query_config_values(["cluster_name"])
    except errors.GenericError:
        return constants.EXIT_FAILURE
    return constants.EXIT_SUCCESS


def version(opts) -> int:
    info = cli.get_client().query_cluster_info()
    sys.stdout.write("Software version: %s\n" % info["software_version"])
    sys.stdout.write("Internode protocol: %s\n" % info["protocol_version"])
    sys.stdout.write("Configuration format: %s\n" % info["config_version"])
    sys.stdout.write("OS api version: %s\n" % info["os_api_version"])
    sys.stdout.write("Export interface: %s\n" % info["export_version"])
    sys.stdout.write("VCS version: %s\n" % info["vcs_version"])
    return 0


def _fmt_time(ts) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "N/A"


def _dump(value, indent: int, out: list) -> None:
    pad = "  " * indent
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            if isinstance(item, (dict, list)) and item and not (
                    isinstance(item, list) and all(not isinstance(v, (dict, list))
                                                   for v in item)):
                out.append("%s%s:" % (pad, key))
                _dump(item, indent + 1, out)
            else:
                out.append("%s%s: %s" % (pad, key, _scalar(item)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                out.append("%s-" % pad)
                _dump(item, indent + 1, out)
            else:
                out.append("%s- %s" % (pad, _scalar(item)))


def _scalar(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if value in (None, ""):
        return "default (%s)" % value if value is None else ""
    return str(value)


def info(opts) -> int:
    data = cli.get_client().query_cluster_info()
    out = ["Cluster name: %s" % data["name"], "Cluster UUID: %s" % data["uuid"],
           "Creation time: %s" % _fmt_time(data["ctime"]),
           "Modification time: %s" % _fmt_time(data["mtime"]),
           "Master node: %s" % data["master"],
           "Architecture (this node): %s (%s)" % tuple(data["architecture"]),
           "Tags: %s" % (", ".join(data["tags"]) or "(none)"),
           "Default hypervisor: %s" % data["default_hypervisor"],
           "Enabled hypervisors: %s" % ", ".join(data["enabled_hypervisors"]),
           "Hypervisor parameters:"]
    _dump(data["hvparams"], 1, out)
    out.append("OS-specific hypervisor parameters:")
    _dump(data["os_hvp"], 1, out)
    out.append("OS parameters:")
    _dump(data["osparams"], 1, out)
    out.append("Hidden OSes: %s" % ", ".join(data["hidden_os"]))
    out.append("Blacklisted OSes: %s" % ", ".join(data["blacklisted_os"]))
    out.append("Cluster parameters:")
    params = [
        ("candidate pool size", data["candidate_pool_size"]),
        ("maximal number of jobs running simultaneously", data["max_running_jobs"]),
        ("maximal number of jobs simultaneously tracked by the scheduler",
         data["max_tracked_jobs"]),
        ("mac prefix", data["mac_prefix"]),
        ("master netdev", data["master_netdev"]),
        ("master netmask", data["master_netmask"]),
        ("use external master IP address setup script", data["use_external_mip_script"]),
        ("lvm volume group", data["volume_group_name"] or "None"),
        ("lvm reserved volumes", ", ".join(data["reserved_lvs"]) or "(none)"),
        ("drbd usermode helper", data["drbd_usermode_helper"] or "None"),
        ("file storage path", data["file_storage_dir"]),
        ("shared file storage path", data["shared_file_storage_dir"]),
        ("gluster storage path", data["gluster_storage_dir"]),
        ("maintenance of node health", data["maintain_node_health"]),
        ("uid pool", ", ".join("%d-%d" % tuple(r) if r[0] != r[1] else str(r[0])
                               for r in data["uid_pool"])),
        ("default instance allocator", data["default_iallocator"]),
        ("primary ip version", data["primary_ip_version"]),
        ("preallocation wipe disks", data["prealloc_wipe_disks"]),
        ("OS search path", ", ".join(_os_search_path())),
        ("ExtStorage Providers search path", ", ".join(_es_search_path())),
        ("enabled disk templates", ", ".join(data["enabled_disk_templates"])),
        ("install image", data["install_image"]),
        ("instance communication network", data["instance_communication_network"]),
        ("zeroing image", data["zeroing_image"]),
        ("compression tools", ", ".join(data["compression_tools"])),
        ("enabled user shutdown", data["enabled_user_shutdown"]),
        ("modify ssh setup", data["modify_ssh_setup"]),
        ("ssh_key_type", data["ssh_key_type"]),
        ("ssh_key_bits", data["ssh_key_bits"]),
    ]
    for key, value in params:
        out.append("  %s: %s" % (key, value))
    out.append("Default node parameters:")
    _dump(data["ndparams"], 1, out)
    out.append("Default instance parameters:")
    _dump(data["beparams"], 1, out)
    out.append("Default nic parameters:")
    _dump(data["nicparams"], 1, out)
    out.append("Default disk parameters:")
    _dump({k: v for k, v in data["diskparams"].items() if v}, 1, out)
    out.append("Instance policy - limits for instances:")
    _dump(data["ipolicy"], 1, out)
    out.append("Data collectors:")
    _dump({k: {"active": v, "interval": data["data_collector_interval"].get(k)}
           for k, v in data["enabled_data_collectors"].items()}, 1, out)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _os_search_path() -> list:
    from ganeti import pathutils
    return pathutils.OS_SEARCH_PATH


def _es_search_path() -> list:
    from ganeti import pathutils
    return pathutils.ES_SEARCH_PATH


def redist_conf(opts) -> int:
    cli.send_job([opcodes.OpClusterRedistConf()], opts)
    return 0


def queue_cmd(opts) -> int:
    client = cli.get_client()
    if opts.action == "drain":
        client.call_method("SetDrainFlag", True)
    elif opts.action == "undrain":
        client.call_method("SetDrainFlag", False)
    else:
        drained = client.query_config_values(["drain_flag"])[0]
        sys.stdout.write("The drain flag is %s\n" % ("set" if drained else "unset"))
    return 0


def watcher_cmd(opts) -> int:
    client = cli.get_client()
    if opts.action == "pause":
        if opts.duration is None:
            raise cli.UsageError("watcher pause needs a duration in seconds")
        until = int(time.time() + _parse_duration(opts.duration))
        client.call_method("SetWatcherPause", until)
        sys.stdout.write("The watcher is paused until %s.\n" % time.ctime(until))
    elif opts.action == "continue":
        client.call_method("SetWatcherPause", None)
        sys.stdout.write("The watcher is no longer paused.\n")
    else:
        until = client.query_config_values(["watcher_pause"])[0]
        if until and until > time.time():
            sys.stdout.write("The watcher is paused until %s.\n" % time.ctime(until))
        else:
            sys.stdout.write("The watcher is not paused.\n")
    return 0


def _parse_duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    try:
        if text[-1] in units:
            return int(text[:-1]) * units[text[-1]]
        return int(text)
    except (ValueError, IndexError):
        raise cli.UsageError("Invalid duration '%s'" % text) from None


def list_tags(opts) -> int:
    for tag in sorted(cli.get_client().query_tags("cluster", "")):
        sys.stdout.write("%s\n" % tag)
    return 0


def add_tags(opts) -> int:
    cli.send_job([opcodes.OpTagsSet(kind="cluster", name="", tags=opts.tags)], opts)
    return 0


def remove_tags(opts) -> int:
    cli.send_job([opcodes.OpTagsDel(kind="cluster", name="", tags=opts.tags)], opts)
    return 0


def renew_crypto(opts) -> int:
    """Renew certificates, keys and secrets on every node (OpClusterRenewCrypto).

    Given files are only named in the job (as absolute paths); the master reads them.
    They are checked here first so that a bad file fails before anything changes.
    """
    import os
    from ganeti.cmdlib import crypto as crypto_lu
    paths = {}
    for attr in ("rapi_certificate", "spice_certificate", "spice_ca_certificate",
                 "cluster_domain_secret"):
        value = getattr(opts, attr)
        paths[attr] = os.path.abspath(value) if value else None
    if paths["rapi_certificate"]:
        crypto_lu.load_key_cert_file(paths["rapi_certificate"], "RAPI certificate")
    if paths["spice_certificate"]:
        crypto_lu.load_key_cert_file(paths["spice_certificate"], "SPICE certificate")
    if paths["spice_ca_certificate"]:
        crypto_lu.load_cert_file(paths["spice_ca_certificate"], "SPICE CA certificate")
    if paths["cluster_domain_secret"]:
        crypto_lu.load_domain_secret_file(paths["cluster_domain_secret"])
    op = opcodes.OpClusterRenewCrypto(
        new_cluster_certificate=opts.new_cluster_certificate,
        node_certificates=opts.new_node_certificates,
        new_rapi_certificate=opts.new_rapi_certificate,
        rapi_certificate_file=paths["rapi_certificate"],
        new_spice_certificate=opts.new_spice_certificate,
        spice_certificate_file=paths["spice_certificate"],
        spice_ca_certificate_file=paths["spice_ca_certificate"],
        new_confd_hmac_key=opts.new_confd_hmac_key,
        new_cluster_domain_secret=opts.new_cluster_domain_secret,
        cluster_domain_secret_file=paths["cluster_domain_secret"],
        renew_ssh_keys=opts.new_ssh_keys, ssh_key_type=opts.ssh_key_type,
        ssh_key_bits=opts.ssh_key_bits,
        verify_ssh_host_keys=not opts.no_ssh_key_check)
    if not opts.force and not cli.ask_user(
            "Updating certificates and keys on every node now; instances keep "
            "running. Continue?"):
        sys.stderr.write("Aborted (use -f to skip this question).\n")
        return constants.EXIT_FAILURE
    (done,) = cli.send_job([op], opts)
    if done:
        sys.stdout.write("Renewed: %s\n" % ", ".join(done))
    return constants.EXIT_SUCCESS


def _setup_renew_crypto(p) -> None:
    cli.add_job_options(p, dry_run=False)
    p.add_argument("-f", "--force", action="store_true", help="Do not ask for "
                   "confirmation")
    p.add_argument("--new-cluster-certificate", action="store_true",
                   help="New cluster certificate (server.pem) and node certificates")
    p.add_argument("--new-node-certificates", action="store_true",
                   help="New client certificate for every node")
    p.add_argument("--new-rapi-certificate", action="store_true")
    p.add_argument("--rapi-certificate", metavar="FILE", default=None,
                   help="Use this PEM file (key and certificate) for RAPI")
    p.add_argument("--new-spice-certificate", action="store_true")
    p.add_argument("--spice-certificate", metavar="FILE", default=None)
    p.add_argument("--spice-ca-certificate", metavar="FILE", default=None)
    p.add_argument("--new-confd-hmac-key", action="store_true")
    p.add_argument("--new-cluster-domain-secret", action="store_true")
    p.add_argument("--cluster-domain-secret", metavar="FILE", default=None)
    p.add_argument("--new-ssh-keys", action="store_true",
                   help="New SSH key pair for root on every node")
    p.add_argument("--ssh-key-type", choices=sorted(constants.SSHK_ALL), default=None)
    p.add_argument("--ssh-key-bits", type=int, default=None)
    p.add_argument("--no-ssh-key-check", action="store_true",
                   help="Accepted for compatibility: keys are distributed over node "
                   "RPC, not SSH")


def _setup_verify(p) -> None:
    cli.add_job_options(p, dry_run=False)
    p.add_argument("--no-nplus1-mem", action="store_true")
    p.add_argument("--no-hv-param-assessment", action="store_true")
    p.add_argument("--node-group", default=None)
    p.add_argument("--error-codes", action="store_true")
    p.add_argument("-I", "--ignore-errors", action="append", default=[])
    p.add_argument("--verify-ssh-clutter", action="store_true")
    p.add_argument("--verbose", action="store_true")


def _setup_tags(p) -> None:
    cli.add_job_options(p)
    p.add_argument("tags", nargs="+")


def main(argv=None) -> int:
    commands = [
        cli.Command("init", init, "Initialise a new cluster", _setup_init),
        cli.Command("destroy", destroy, "Destroy the cluster",
                    lambda p: p.add_argument("--yes-do-it", action="store_true")),
        cli.Command("verify", verify, "Verify the cluster's consistency", _setup_verify),
        cli.Command("info", info, "Show the cluster configuration",
                    lambda p: p.add_argument("--roman", action="store_true")),
        cli.Command("getmaster", getmaster, "Print the name of the master node"),
        cli.Command("renew-crypto", renew_crypto,
                    "Renew the cluster's certificates, keys and secrets",
                    _setup_renew_crypto),
        cli.Command("master-ping", master_ping, "Check whether the master responds"),
        cli.Command("version", version, "Show the software versions of the cluster"),
        cli.Command("redist-conf", redist_conf, "Push the configuration to every node",
                    lambda p: cli.add_job_options(p, dry_run=False)),
        cli.Command("queue", queue_cmd, "Change or show the job queue drain flag",
                    lambda p: p.add_argument("action", choices=["drain", "undrain",
                                                                "info"])),
        cli.Command("watcher", watcher_cmd, "Pause or resume the watcher",
                    lambda p: (p.add_argument("action", choices=["pause", "continue",
                                                                 "info"]),
                               p.add_argument("duration", nargs="?"))),
        cli.Command("list-tags", list_tags, "List the cluster tags"),
        cli.Command("add-tags", add_tags, "Add tags to the cluster", _setup_tags),
        cli.Command("remove-tags", remove_tags, "Remove tags from the cluster",
                    _setup_tags),
    ]
    return cli.run_commands("gnt-cluster", "Ganeti cluster administration", commands, argv)
