"""gnt-node: add, remove, list and inspect nodes."""

import sys

from ganeti import cli
from ganeti import constants
from ganeti import opcodes
from ganeti import query

NODE_JOIN_FIELDS = frozenset(["pinst_list", "sinst_list", "tags"])


def _yes_no(value: str | None) -> bool | None:
    if value is None:
        return None
    return value == "yes"


def add(opts) -> int:
    ndparams = cli.parse_key_values(opts.node_parameters, "node parameters")
    if constants.ND_SSH_PORT in ndparams:
        ndparams[constants.ND_SSH_PORT] = int(ndparams[constants.ND_SSH_PORT])
    op = opcodes.OpNodeAdd(node_name=opts.node, readd=opts.readd,
                           secondary_ip=opts.secondary_ip, group=opts.node_group,
                           master_capable=_yes_no(opts.master_capable),
                           vm_capable=_yes_no(opts.vm_capable), ndparams=ndparams or None)
    cli.send_job([op], opts)
    return 0


def remove(opts) -> int:
    cli.send_job([opcodes.OpNodeRemove(node_name=opts.node)], opts)
    return 0


def migrate(opts) -> int:
    if opts.non_live and opts.migration_mode:
        raise cli.UsageError("Only one of --non-live and --migration-mode may be given")
    mode = constants.HT_MIGRATION_NONLIVE if opts.non_live else opts.migration_mode
    if not opts.force and not cli.ask_user(
            "Migrate instance(s) of node %s?" % opts.node):
        sys.stderr.write("Aborted (use -f to migrate without confirmation)\n")
        return constants.EXIT_CONFIRMATION
    op = opcodes.OpNodeMigrate(node_name=opts.node, mode=mode,
                               target_node=opts.target_node, iallocator=opts.iallocator,
                               ignore_ipolicy=opts.ignore_ipolicy,
                               allow_runtime_changes=opts.allow_runtime_changes)
    moved = cli.send_job([op], opts)[0] or []
    for name in moved:
        sys.stdout.write("Instance %s moved away from %s\n" % (name, opts.node))
    return 0


def list_nodes(opts) -> int:
    return cli.generic_list(constants.QR_NODE, opts, opts.names,
                            query.NODE_DEFAULT_FIELDS, NODE_JOIN_FIELDS)


def list_fields(opts) -> int:
    return cli.list_fields(constants.QR_NODE, opts.fields)


def info(opts) -> int:
    fields = ["name", "pip", "sip", "uuid", "master_candidate", "drained", "offline",
              "master_capable", "vm_capable", "group", "pinst_list", "sinst_list",
              "ndparams", "tags", "role"]
    qfilter = cli.make_name_filter("name", opts.names, False)
    result = cli.get_client().query(constants.QR_NODE, fields, qfilter)
    if opts.names and len(result["data"]) < len(set(opts.names)):
        found = {row[0][1] for row in result["data"]}
        missing = [n for n in opts.names if n not in found]
        sys.stderr.write("Failure: prerequisites not met for this operation:\n"
                         "error type: unknown_entity, error details:\n"
                         "Node(s) %s not known\n" % ", ".join(missing))
        return constants.EXIT_FAILURE
    out = []
    for row in result["data"]:
        values = dict(zip(fields, (v for _s, v in row), strict=True))
        out.append("Node name: %s" % values["name"])
        out.append("  primary ip: %s" % values["pip"])
        out.append("  secondary ip: %s" % values["sip"])
        out.append("  UUID: %s" % values["uuid"])
        out.append("  master candidate: %s" % values["master_candidate"])
        out.append("  drained: %s" % values["drained"])
        out.append("  offline: %s" % values["offline"])
        out.append("  master_capable: %s" % values["master_capable"])
        out.append("  vm_capable: %s" % values["vm_capable"])
        out.append("  role: %s" % values["role"])
        out.append("  node group: %s" % values["group"])
        out.append("  primary for instances:")
        out.extend("    - %s" % i for i in values["pinst_list"] or [])
        out.append("  secondary for instances:")
        out.extend("    - %s" % i for i in values["sinst_list"] or [])
        out.append("  node parameters:")
        out.extend(cli.format_params(values["ndparams"] or {}, 4))
        out.append("  tags: %s" % (", ".join(values["tags"] or []) or "(none)"))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


def list_tags(opts) -> int:
    for tag in cli.get_client().query_tags("node", opts.node):
        sys.stdout.write("%s\n" % tag)
    return 0


def add_tags(opts) -> int:
    cli.send_job([opcodes.OpTagsSet(kind="node", name=opts.node, tags=opts.tags)], opts)
    return 0


def remove_tags(opts) -> int:
    cli.send_job([opcodes.OpTagsDel(kind="node", name=opts.node, tags=opts.tags)], opts)
    return 0


def _group_nodes(group: str) -> list[str]:
    result = cli.get_client().query(constants.QR_NODE, ["name"], ["=", "group", group])
    names = [row[0][1] for row in result["data"]]
    if not names:
        raise cli.UsageError("No nodes found in node group '%s'" % group)
    return names


def restricted_command(opts) -> int:
    """Run a restricted command on nodes and print each node's output."""
    if opts.node_group:
        if opts.nodes:
            raise cli.UsageError("Give either -g GROUP or node names, not both")
        nodes = _group_nodes(opts.node_group)
    elif opts.nodes:
        nodes = opts.nodes
    else:
        raise cli.UsageError("No node names given (or -g GROUP)")
    op = opcodes.OpRestrictedCommand(command=opts.command, nodes=nodes,
                                     use_locking=opts.sync)
    (results,) = cli.send_job([op], opts)
    code = constants.EXIT_SUCCESS
    for name, (ok, text) in zip(nodes, results, strict=True):
        lines = str(text).splitlines()
        if opts.show_machine_names:
            out = ["%s: %s" % (name, line) for line in lines]
        else:
            out = ["-" * 48, "Node: %s" % name] + lines
        if out:
            sys.stdout.write("\n".join(out) + "\n")
        if not ok:
            code = constants.EXIT_FAILURE
    return code


def _setup_restricted(p) -> None:
    cli.add_job_options(p, dry_run=False)
    p.add_argument("-M", dest="show_machine_names", action="store_true",
                   help="Prefix every output line with the node name")
    p.add_argument("--sync", action="store_true",
                   help="Take the node locks while the command runs")
    p.add_argument("-g", "--node-group", default=None,
                   help="Run on every node of this group")
    p.add_argument("command", help="Name of the restricted command (no arguments)")
    p.add_argument("nodes", nargs="*", help="Nodes to run it on")


def modify(opts) -> int:
    """Change a node's roles, capabilities or parameters (OpNodeSetParams)."""
    ndparams = cli.parse_key_values(opts.node_parameters, "node parameters")
    for key, value in list(ndparams.items()):
        kind = constants.NDS_PARAMETER_TYPES.get(key)
        if kind is None:
            raise cli.UsageError("Unknown node parameter '%s'" % key)
        if value == constants.VALUE_DEFAULT:
            continue
        if kind == "int":
            ndparams[key] = int(value)
        elif kind == "float":
            ndparams[key] = float(value)
        elif kind == "bool":
            ndparams[key] = str(value).lower() in ("yes", "true", "1")
    values = [opts.master_candidate, opts.drained, opts.offline, opts.master_capable,
              opts.vm_capable]
    if all(v is None for v in values) and not ndparams:
        raise cli.UsageError("Please give at least one of the parameters")
    op = opcodes.OpNodeSetParams(node_name=opts.node,
                                 master_candidate=_yes_no(opts.master_candidate),
                                 drained=_yes_no(opts.drained),
                                 offline=_yes_no(opts.offline),
                                 master_capable=_yes_no(opts.master_capable),
                                 vm_capable=_yes_no(opts.vm_capable),
                                 auto_promote=opts.auto_promote, force=opts.force,
                                 ndparams=ndparams or None)
    (result,) = cli.send_job([op], opts)
    if result:
        sys.stdout.write("Modified node %s\n" % opts.node)
        for param, value in result:
            sys.stdout.write(" - %-5s -> %s\n" % (param, value))
    return 0


def _setup_modify(p) -> None:
    cli.add_job_options(p, dry_run=False)
    yes_no = ["yes", "no"]
    p.add_argument("-C", "--master-candidate", choices=yes_no, default=None,
                   help="Make the node a master candidate (yes) or demote it (no)")
    p.add_argument("-D", "--drained", choices=yes_no, default=None)
    p.add_argument("-O", "--offline", choices=yes_no, default=None)
    p.add_argument("--master-capable", choices=yes_no, default=None)
    p.add_argument("--vm-capable", choices=yes_no, default=None)
    p.add_argument("--auto-promote", action="store_true",
                   help="Promote other nodes when the candidate pool would shrink")
    p.add_argument("--node-parameters", default=None)
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("node")


def _setup_add(p) -> None:
    cli.add_job_options(p, dry_run=False)
    p.add_argument("node")
    p.add_argument("--readd", action="store_true", help="Re-add a node")
    p.add_argument("-s", "--secondary-ip", default=None)
    p.add_argument("-g", "--node-group", default=None)
    p.add_argument("--master-capable", choices=["yes", "no"], default=None)
    p.add_argument("--vm-capable", choices=["yes", "no"], default=None)
    p.add_argument("--node-parameters", default=None)
    p.add_argument("--no-ssh-key-check", action="store_true",
                   help="Accepted for compatibility; the host key is always checked "
                   "against the cluster's known hosts")
    p.add_argument("--disk-state", default=None)
    p.add_argument("--hypervisor-state", default=None)


def _setup_migrate(p) -> None:
    cli.add_job_options(p)
    p.add_argument("node")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--non-live", action="store_true")
    p.add_argument("--migration-mode", default=None,
                   choices=sorted(constants.HT_MIGRATION_MODES))
    p.add_argument("-n", "--target-node", default=None)
    p.add_argument("-I", "--iallocator", default=None)
    p.add_argument("--ignore-ipolicy", action="store_true")
    p.add_argument("--no-runtime-changes", dest="allow_runtime_changes",
                   action="store_false")


def _setup_list(p) -> None:
    cli.add_list_options(p)
    p.add_argument("names", nargs="*")


def _setup_node(p) -> None:
    cli.add_job_options(p, dry_run=False)
    p.add_argument("node")


def _setup_tags(p) -> None:
    cli.add_job_options(p)
    p.add_argument("node")
    p.add_argument("tags", nargs="+")


def main(argv=None) -> int:
    commands = [
        cli.Command("add", add, "Add a node to the cluster", _setup_add),
        cli.Command("remove", remove, "Remove a node from the cluster", _setup_node),
        cli.Command("modify", modify, "Change a node's roles or parameters",
                    _setup_modify),
        cli.Command("migrate", migrate, "Migrate all primary instances of a node away",
                    _setup_migrate),
        cli.Command("list", list_nodes, "List nodes", _setup_list),
        cli.Command("list-fields", list_fields, "List the available node fields",
                    lambda p: p.add_argument("fields", nargs="*")),
        cli.Command("info", info, "Show information about nodes",
                    lambda p: p.add_argument("names", nargs="*")),
        cli.Command("list-tags", list_tags, "List the tags of a node",
                    lambda p: p.add_argument("node")),
        cli.Command("add-tags", add_tags, "Add tags to a node", _setup_tags),
        cli.Command("remove-tags", remove_tags, "Remove tags from a node", _setup_tags),
        cli.Command("restricted-command", restricted_command,
                    "Run a restricted command on nodes", _setup_restricted),
    ]
    return cli.run_commands("gnt-node", "Ganeti node administration", commands, argv)
