"""gnt-group: list and inspect node groups."""

import sys

from ganeti import cli
from ganeti import constants
from ganeti import query


def list_groups(opts) -> int:
    return cli.generic_list(constants.QR_GROUP, opts, opts.names,
                            query.GROUP_DEFAULT_FIELDS,
                            frozenset(["node_list", "pinst_list", "tags"]))


def list_fields(opts) -> int:
    return cli.list_fields(constants.QR_GROUP, opts.fields)


def info(opts) -> int:
    fields = ["name", "uuid", "alloc_policy", "node_list", "pinst_list", "ndparams",
              "ipolicy"]
    qfilter = cli.make_name_filter("name", opts.names, False)
    result = cli.get_client().query(constants.QR_GROUP, fields, qfilter)
    for row in result["data"]:
        values = dict(zip(fields, (v for _s, v in row), strict=True))
        sys.stdout.write("Node group: %s\n" % values["name"])
        sys.stdout.write("  UUID: %s\n" % values["uuid"])
        sys.stdout.write("  Allocation policy: %s\n" % values["alloc_policy"])
        sys.stdout.write("  Nodes: %s\n" % ", ".join(values["node_list"]))
        sys.stdout.write("  Instances: %s\n" % ", ".join(values["pinst_list"]))
        sys.stdout.write("  Node parameters:\n")
        for line in cli.format_params(values["ndparams"], 4):
            sys.stdout.write(line + "\n")
    return 0


def main(argv=None) -> int:
    def setup_list(p):
        cli.add_list_options(p)
        p.add_argument("names", nargs="*")
    commands = [
        cli.Command("list", list_groups, "List node groups", setup_list),
        cli.Command("list-fields", list_fields, "List the available group fields",
                    lambda p: p.add_argument("fields", nargs="*")),
        cli.Command("info", info, "Show node group details",
                    lambda p: p.add_argument("names", nargs="*")),
    ]
    return cli.run_commands("gnt-group", "Ganeti node group administration", commands,
                            argv)
