"""gnt-instance: create, start, stop, reboot, remove, list and inspect instances."""

import sys

from ganeti import cli
from ganeti import constants
from ganeti import opcodes
from ganeti import query
from ganeti.utils.text import parse_unit

INSTANCE_JOIN_FIELDS = frozenset(["tags", "disk.sizes", "snodes", "snodes.group",
                                  "snodes.group.uuid", "disk.spindles", "disk.names",
                                  "disk.uuids"])


def _parse_indexed(items: list[str], what: str, convert=None) -> list[dict]:
    """``N:key=value,...`` specs (--disk, --net) as a list ordered by index.

    Indices must be unique, consecutive and start at 0; ``convert(key, value)`` turns
    a value into its type.
    """
    specs: dict[int, dict] = {}
    for item in items:
        ident, values = cli.parse_ident_key_values(item, what)
        try:
            idx = int(ident)
        except ValueError:
            raise cli.UsageError("Invalid %s index '%s' in '%s'"
                                 % (what, ident, item)) from None
        if idx in specs:
            raise cli.UsageError("Duplicate %s index %d" % (what, idx))
        specs[idx] = {k: convert(k, v) if convert else v for k, v in values.items()}
    if sorted(specs) != list(range(len(specs))):
        raise cli.UsageError("%s%s indices must be consecutive and start at 0"
                             % (what[0].upper(), what[1:]))
    return [specs[i] for i in range(len(specs))]


def _disk_value(key: str, value):
    if key == constants.IDISK_SIZE:
        return parse_unit(str(value))
    if key == constants.IDISK_SPINDLES:
        return int(value)
    return value


def _parse_disks(opts) -> list:
    if opts.os_size and opts.disks:
        raise cli.UsageError("Cannot use both -s/--os-size and --disk")
    if opts.os_size:
        return [{constants.IDISK_SIZE: parse_unit(opts.os_size)}]
    return _parse_indexed(opts.disks, "disk", _disk_value)


def _parse_nics(opts) -> list:
    if opts.no_nics:
        if opts.nics:
            raise cli.UsageError("Cannot use --no-nics together with --net")
        return []
    if not opts.nics:
        return [{}]
    return _parse_indexed(opts.nics, "NIC")


def add(opts) -> int:
    pnode, snode = opts.node, None
    if pnode and ":" in pnode:
        pnode, snode = pnode.split(":", 1)
    if not pnode and not opts.iallocator:
        raise cli.UsageError("Give the primary node with -n NODE (or an allocator with -I)")
    hypervisor, hvparams = None, {}
    if opts.hypervisor:
        hypervisor, hvparams = cli.parse_ident_key_values(opts.hypervisor,
                                                          "hypervisor parameters")
    beparams = cli.parse_key_values(opts.backend_parameters, "backend parameters")
    osparams = cli.parse_key_values(opts.os_parameters, "OS parameters")
    op = opcodes.OpInstanceCreate(
        instance_name=opts.instance, mode=constants.INSTANCE_CREATE,
        disk_template=opts.disk_template, disks=_parse_disks(opts), nics=_parse_nics(opts),
        os_type=opts.os, pnode=pnode, snode=snode, iallocator=opts.iallocator,
        hypervisor=hypervisor, hvparams=hvparams, beparams=beparams,
        osparams={k: str(v) for k, v in osparams.items()},
        osparams_private=cli.parse_key_values(opts.os_parameters_private) or None,
        osparams_secret=cli.parse_key_values(opts.os_parameters_secret) or None,
        start=not opts.no_start, no_install=opts.no_install, ip_check=opts.ip_check,
        name_check=opts.name_check, file_storage_dir=opts.file_storage_dir,
        file_driver=opts.file_driver, ignore_ipolicy=opts.ignore_ipolicy,
        wait_for_sync=not opts.no_wait_for_sync, conflicts_check=not opts.no_conflicts_check,
        tags=[t for t in (opts.tags or "").split(",") if t])
    cli.send_job([op], opts)
    return 0


def _names(opts) -> list[str]:
    if not opts.instances:
        raise cli.UsageError("No instance given")
    return opts.instances


def _multi(opts, make_op) -> int:
    names = _names(opts)
    if len(names) > 1 and not getattr(opts, "force_multiple", False):
        if not cli.ask_user("The %s will operate on %d instances.\nDo you want to "
                            "continue?" % (opts.command, len(names))):
            sys.stderr.write("Aborted (use --force-multiple to act on several "
                             "instances)\n")
            return constants.EXIT_CONFIRMATION
    client = cli.get_client()
    code = 0
    for name in names:
        cli.send_job([make_op(name)], opts, client)
    return code


def startup(opts) -> int:
    hvparams = cli.parse_key_values(opts.hypervisor_parameters, "hypervisor parameters")
    beparams = cli.parse_key_values(opts.backend_parameters, "backend parameters")
    return _multi(opts, lambda n: opcodes.OpInstanceStartup(
        instance_name=n, force=opts.force, ignore_offline_nodes=opts.ignore_offline,
        no_remember=opts.no_remember, hvparams=hvparams, beparams=beparams,
        startup_paused=opts.paused))


def shutdown(opts) -> int:
    return _multi(opts, lambda n: opcodes.OpInstanceShutdown(
        instance_name=n, timeout=opts.timeout, force=opts.force,
        ignore_offline_nodes=opts.ignore_offline, no_remember=opts.no_remember))


def reboot(opts) -> int:
    return _multi(opts, lambda n: opcodes.OpInstanceReboot(
        instance_name=n, reboot_type=opts.type, ignore_secondaries=opts.ignore_secondaries,
        shutdown_timeout=opts.shutdown_timeout))


def remove(opts) -> int:
    if not opts.force and not cli.ask_user(
            "This will remove the volumes of the instance %s (including mirrors), thus "
            "removing all the data of the instance. Continue?" % opts.instance):
        sys.stderr.write("Aborted (use -f to remove without confirmation)\n")
        return constants.EXIT_CONFIRMATION
    op = opcodes.OpInstanceRemove(instance_name=opts.instance,
                                  ignore_failures=opts.ignore_failures,
                                  shutdown_timeout=opts.shutdown_timeout)
    cli.send_job([op], opts)
    return 0


def _migration_mode(opts) -> str | None:
    if opts.non_live and opts.migration_mode:
        raise cli.UsageError("Only one of --non-live and --migration-mode may be given")
    if opts.non_live:
        return constants.HT_MIGRATION_NONLIVE
    return opts.migration_mode


def migrate(opts) -> int:
    if not opts.force and not cli.ask_user(
            "Instance %s will be migrated. Note that migration might impact the instance "
            "if anything goes wrong (e.g. due to bugs in the hypervisor). Continue?"
            % opts.instance):
        sys.stderr.write("Aborted (use -f to migrate without confirmation)\n")
        return constants.EXIT_CONFIRMATION
    op = opcodes.OpInstanceMigrate(
        instance_name=opts.instance, mode=_migration_mode(opts), cleanup=opts.cleanup,
        allow_failover=opts.allow_failover, target_node=opts.target_node,
        allow_runtime_changes=opts.allow_runtime_changes,
        ignore_ipolicy=opts.ignore_ipolicy, iallocator=opts.iallocator,
        ignore_hvversions=opts.ignore_hvversions)
    cli.send_job([op], opts)
    return 0


def failover(opts) -> int:
    if not opts.force and not cli.ask_user(
            "Failover will happen to image %s. This requires a shutdown of the instance. "
            "Continue?" % opts.instance):
        sys.stderr.write("Aborted (use -f to fail over without confirmation)\n")
        return constants.EXIT_CONFIRMATION
    op = opcodes.OpInstanceFailover(
        instance_name=opts.instance, ignore_consistency=opts.ignore_consistency,
        shutdown_timeout=opts.shutdown_timeout, target_node=opts.target_node,
        ignore_ipolicy=opts.ignore_ipolicy, iallocator=opts.iallocator,
        cleanup=opts.cleanup)
    cli.send_job([op], opts)
    return 0


def console_ssh_command(console: dict, cluster_name: str) -> list[str]:
    """The ssh command line that reaches a console of kind "ssh" on its node."""
    import os
    import shlex
    from ganeti import pathutils
    cmd = ["ssh", "-oEscapeChar=none", "-oBatchMode=yes", "-oHashKnownHosts=no",
           "-oGlobalKnownHostsFile=/dev/null",
           "-oUserKnownHostsFile=%s" % pathutils.SSH_KNOWN_HOSTS_FILE,
           "-oHostKeyAlias=%s" % cluster_name, "-oCheckHostIP=no",
           "-oStrictHostKeyChecking=yes", "-q",
           "-t" if sys.stdin.isatty() else "-tt"]
    if console.get("port"):
        cmd += ["-p", str(console["port"])]
    for key in ("id_rsa", "id_ed25519", "id_ecdsa"):
        path = os.path.join(pathutils.SSH_ROOT_DIR, key)
        if os.path.isfile(path):
            cmd += ["-i", path]
            break
    cmd += ["-l", console.get("user") or "root",
            console.get("address") or console["host"], shlex.join(console["command"])]
    return cmd


def console(opts) -> int:
    import shlex
    import subprocess
    from ganeti import ssconf
    op = opcodes.OpInstanceConsole(instance_name=opts.instance)
    info = cli.send_job([op], None, feedback=lambda *a: None)[0]
    kind = info.get("kind")
    if kind == "message":
        sys.stderr.write("%s\n" % info.get("message", ""))
        return constants.EXIT_FAILURE
    if kind in ("vnc", "spice"):
        sys.stdout.write("Instance %s has %s listening on %s:%s%s\n"
                         % (info["instance"], kind.upper(), info["host"], info["port"],
                            " (display %s)" % info["display"] if "display" in info
                            else ""))
        return 0
    if kind != "ssh":
        sys.stderr.write("Unknown console type %r\n" % kind)
        return constants.EXIT_FAILURE
    cmd = console_ssh_command(info, ssconf.SimpleStore().get_cluster_name())
    if opts.show_command:
        sys.stdout.write("%s\n" % shlex.join(cmd))
        return 0
    sys.stderr.flush()
    return subprocess.call(cmd)


def list_instances(opts) -> int:
    return cli.generic_list(constants.QR_INSTANCE, opts, opts.names,
                            query.INSTANCE_DEFAULT_FIELDS, INSTANCE_JOIN_FIELDS)


def list_fields(opts) -> int:
    return cli.list_fields(constants.QR_INSTANCE, opts.fields)


def info(opts) -> int:
    if not opts.all and not opts.instances:
        raise cli.UsageError("No instance selected; give names or --all")
    op = opcodes.OpInstanceQueryData(instances=[] if opts.all else opts.instances,
                                     static=opts.static)
    result = cli.send_job([op], None, feedback=lambda *a: None)[0]
    out = []
    for name in sorted(result):
        data = result[name]
        out.append("Instance name: %s" % data["name"])
        out.append("UUID: %s" % data["uuid"])
        out.append("Serial number: %s" % data["serial_no"])
        out.append("Creation time: %s" % _ts(data["ctime"]))
        out.append("Modification time: %s" % _ts(data["mtime"]))
        out.append("State: configured to be %s, actual state is %s"
                   % (data["config_state"], data["run_state"] or "unknown"))
        out.append("  Nodes:")
        out.append("    - primary: %s" % data["pnode"])
        out.append("      group: %s (UUID %s)" % (data["pnode_group_name"],
                                                  data["pnode_group_uuid"]))
        out.append("    - secondaries: %s" % ", ".join(data["snodes"]))
        out.append("  Operating system: %s" % data["os"])
        out.append("  Hypervisor: %s" % data["hypervisor"])
        out.append("  Hypervisor parameters:")
        out.extend(_params(data["hv_instance"], data["hv_actual"]))
        out.append("  Back-end parameters:")
        out.extend(_params(data["be_instance"], data["be_actual"]))
        out.append("  NICs:")
        for idx, nic in enumerate(data["nics"]):
            nname, nuuid, mac, ip, mode, link, vlan, network, _ = nic
            out.append("    - nic/%d: " % idx)
            out.append("      MAC: %s" % mac)
            out.append("      IP: %s" % ip)
            out.append("      mode: %s" % mode)
            out.append("      link: %s" % link)
            out.append("      vlan: %s" % (vlan or ""))
            out.append("      network: %s" % network)
            out.append("      UUID: %s" % nuuid)
            out.append("      name: %s" % nname)
        out.append("  Disk template: %s" % data["disk_template"])
        out.append("  Disks:")
        for disk in data["disks"]:
            out.append("    - %s: %s, size %s" % (disk["iv_name"], disk["dev_type"],
                                                 _size(disk["size"])))
            out.append("      access mode: %s" % disk["mode"])
            if disk["dev_type"] in constants.DTS_FILEBASED:
                out.append("      logical_id: %s" % disk["logical_id"][1])
            out.append("      UUID: %s" % disk["uuid"])
            out.append("      name: %s" % disk["name"])
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


def _ts(ts) -> str:
    import time
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "N/A"


def _size(mib: int) -> str:
    from ganeti.utils.text import format_unit
    return format_unit(mib, "h")


def _params(custom: dict, actual: dict) -> list[str]:
    lines = []
    for key in sorted(actual):
        if key in custom:
            lines.append("    %s: %s" % (key, actual[key]))
        else:
            lines.append("    %s: default (%s)" % (key, actual[key]))
    return lines


def list_tags(opts) -> int:
    for tag in cli.get_client().query_tags("instance", opts.instance):
        sys.stdout.write("%s\n" % tag)
    return 0


def add_tags(opts) -> int:
    cli.send_job([opcodes.OpTagsSet(kind="instance", name=opts.instance, tags=opts.tags)],
                 opts)
    return 0


def remove_tags(opts) -> int:
    cli.send_job([opcodes.OpTagsDel(kind="instance", name=opts.instance, tags=opts.tags)],
                 opts)
    return 0


def _setup_add(p) -> None:
    cli.add_job_options(p)
    p.add_argument("instance")
    p.add_argument("-t", "--disk-template", required=True,
                   choices=list(constants.DISK_TEMPLATES))
    p.add_argument("--disk", dest="disks", action="append", default=[],
                   help="N:size=S[,mode=rw|ro][,name=NAME]")
    p.add_argument("-s", "--os-size", default=None, help="Size of the single disk")
    p.add_argument("--net", dest="nics", action="append", default=[],
                   help="N:mac=M,ip=I,mode=M,link=L,name=N")
    p.add_argument("--no-nics", action="store_true")
    p.add_argument("-n", "--node", default=None, help="PNODE[:SNODE]")
    p.add_argument("-I", "--iallocator", default=None)
    p.add_argument("-o", "--os-type", dest="os", default=None)
    p.add_argument("-B", "--backend-parameters", default=None)
    p.add_argument("-H", "--hypervisor", default=None, help="HV[:k=v,...]")
    p.add_argument("-O", "--os-parameters", default=None)
    p.add_argument("--os-parameters-private", default=None)
    p.add_argument("--os-parameters-secret", default=None)
    p.add_argument("--file-storage-dir", default=None)
    p.add_argument("--file-driver", choices=sorted(constants.FILE_DRIVER), default=None)
    p.add_argument("--no-start", action="store_true")
    p.add_argument("--no-install", action="store_true")
    p.add_argument("--ip-check", action="store_true")
    p.add_argument("--name-check", action="store_true")
    p.add_argument("--no-ip-check", action="store_false", dest="ip_check")
    p.add_argument("--no-name-check", action="store_false", dest="name_check")
    p.add_argument("--no-conflicts-check", action="store_true")
    p.add_argument("--no-wait-for-sync", action="store_true")
    p.add_argument("--ignore-ipolicy", action="store_true")
    p.add_argument("--tags", default=None)


def _setup_multi(extra):
    def setup(p):
        cli.add_job_options(p)
        p.add_argument("instances", nargs="*", metavar="INSTANCE")
        p.add_argument("--force-multiple", action="store_true")
        p.add_argument("--instance", action="store_true",
                       help="Select by instance name (the default)")
        extra(p)
    return setup


def _startup_opts(p) -> None:
    p.add_argument("--force", action="store_true")
    p.add_argument("--ignore-offline", action="store_true")
    p.add_argument("--no-remember", action="store_true")
    p.add_argument("-H", "--hypervisor-parameters", default=None)
    p.add_argument("-B", "--backend-parameters", default=None)
    p.add_argument("--paused", action="store_true")


def _shutdown_opts(p) -> None:
    p.add_argument("--timeout", type=int, default=constants.DEFAULT_SHUTDOWN_TIMEOUT)
    p.add_argument("--force", action="store_true")
    p.add_argument("--ignore-offline", action="store_true")
    p.add_argument("--no-remember", action="store_true")


def _reboot_opts(p) -> None:
    p.add_argument("-t", "--type", choices=sorted(constants.REBOOT_TYPES),
                   default=constants.INSTANCE_REBOOT_HARD)
    p.add_argument("--ignore-secondaries", action="store_true")
    p.add_argument("--shutdown-timeout", type=int,
                   default=constants.DEFAULT_SHUTDOWN_TIMEOUT)


def _setup_migrate(p) -> None:
    cli.add_job_options(p)
    p.add_argument("instance")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--non-live", action="store_true", help="Do a non-live migration")
    p.add_argument("--migration-mode", default=None,
                   choices=sorted(constants.HT_MIGRATION_MODES))
    p.add_argument("--cleanup", action="store_true",
                   help="Clean up after a failed migration")
    p.add_argument("--allow-failover", action="store_true",
                   help="Fail over when the instance cannot be migrated")
    p.add_argument("-n", "--target-node", default=None)
    p.add_argument("-I", "--iallocator", default=None)
    p.add_argument("--no-runtime-changes", dest="allow_runtime_changes",
                   action="store_false")
    p.add_argument("--ignore-ipolicy", action="store_true")
    p.add_argument("--ignore-hvversions", action="store_true")


def _setup_failover(p) -> None:
    cli.add_job_options(p)
    p.add_argument("instance")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--ignore-consistency", action="store_true")
    p.add_argument("--shutdown-timeout", type=int,
                   default=constants.DEFAULT_SHUTDOWN_TIMEOUT)
    p.add_argument("-n", "--target-node", default=None)
    p.add_argument("-I", "--iallocator", default=None)
    p.add_argument("--ignore-ipolicy", action="store_true")
    p.add_argument("--cleanup", action="store_true")


def _setup_console(p) -> None:
    p.add_argument("instance")
    p.add_argument("--show-cmd", dest="show_command", action="store_true",
                   help="Print the command instead of running it")


def _setup_remove(p) -> None:
    cli.add_job_options(p)
    p.add_argument("instance")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--ignore-failures", action="store_true")
    p.add_argument("--shutdown-timeout", type=int,
                   default=constants.DEFAULT_SHUTDOWN_TIMEOUT)


def _setup_list(p) -> None:
    cli.add_list_options(p)
    p.add_argument("names", nargs="*")


def _setup_info(p) -> None:
    p.add_argument("instances", nargs="*")
    p.add_argument("--all", action="store_true")
    p.add_argument("-s", "--static", action="store_true")
    p.add_argument("--roman", action="store_true")


def _setup_tags(p) -> None:
    cli.add_job_options(p)
    p.add_argument("instance")
    p.add_argument("tags", nargs="+")


def main(argv=None) -> int:
    commands = [
        cli.Command("add", add, "Create an instance", _setup_add),
        cli.Command("remove", remove, "Remove an instance and its disks", _setup_remove),
        cli.Command("startup", startup, "Start instances", _setup_multi(_startup_opts),
                    aliases=("start",)),
        cli.Command("shutdown", shutdown, "Stop instances", _setup_multi(_shutdown_opts),
                    aliases=("stop",)),
        cli.Command("reboot", reboot, "Reboot instances", _setup_multi(_reboot_opts)),
        cli.Command("migrate", migrate, "Migrate an instance to another node",
                    _setup_migrate),
        cli.Command("failover", failover, "Stop an instance and start it on another "
                    "node", _setup_failover),
        cli.Command("console", console, "Connect to the console of an instance",
                    _setup_console),
        cli.Command("list", list_instances, "List instances", _setup_list),
        cli.Command("list-fields", list_fields, "List the available instance fields",
                    lambda p: p.add_argument("fields", nargs="*")),
        cli.Command("info", info, "Show details of instances", _setup_info),
        cli.Command("list-tags", list_tags, "List the tags of an instance",
                    lambda p: p.add_argument("instance")),
        cli.Command("add-tags", add_tags, "Add tags to an instance", _setup_tags),
        cli.Command("remove-tags", remove_tags, "Remove tags from an instance",
                    _setup_tags),
    ]
    return cli.run_commands("gnt-instance", "Ganeti instance administration", commands,
                            argv)
