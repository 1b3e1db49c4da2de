"""gnt-os: list and diagnose the guest OS definitions of the nodes."""

import sys

from ganeti import cli
from ganeti import constants
from ganeti import opcodes


def _query(fields: list[str]) -> list:
    op = opcodes.OpOsDiagnose(output_fields=fields, names=[])
    return cli.send_job([op], None, feedback=lambda *a: None)[0]


def list_os(opts) -> int:
    rows = _query(["name", "valid", "variants", "hidden", "blacklisted"])
    names = []
    for name, valid, variants, hidden, blacklisted in rows:
        if not valid or hidden or blacklisted:
            continue
        if variants:
            names.extend("%s+%s" % (name, v) for v in variants)
        else:
            names.append(name)
    if not opts.no_headers:
        sys.stdout.write("Name\n")
    for name in sorted(names):
        sys.stdout.write("%s\n" % name)
    return 0


def diagnose(opts) -> int:
    rows = _query(["name", "valid", "variants", "node_status", "parameters", "hidden",
                   "blacklisted"])
    code = 0
    for name, valid, variants, node_status, params, hidden, blacklisted in rows:
        status = "valid" if valid else "invalid - not present on all nodes or invalid"
        if not valid:
            code = constants.EXIT_FAILURE
        flags = []
        if hidden:
            flags.append("hidden")
        if blacklisted:
            flags.append("blacklisted")
        sys.stdout.write("OS: %s [global status: %s]%s\n"
                         % (name, status, " [%s]" % ", ".join(flags) if flags else ""))
        if variants:
            sys.stdout.write("  Variants: [%s]\n" % ", ".join(variants))
        if params:
            sys.stdout.write("  Parameters:\n")
            for pname, pdesc in params:
                sys.stdout.write("    - %s: %s\n" % (pname, pdesc))
        for node in sorted(node_status):
            for path, nvalid, diag, _var, _par, api in node_status[node]:
                text = "valid (path: %s) [API versions: %s]" % (
                    path, ", ".join(str(a) for a in api)) if nvalid else \
                    "invalid - %s (path: %s)" % (diag, path)
                sys.stdout.write("  Node: %s, status: %s\n" % (node, text))
        sys.stdout.write("\n")
    return code


def info(opts) -> int:
    rows = _query(["name", "valid", "hidden", "blacklisted", "variants", "parameters",
                   "api_versions", "trusted"])
    shown = 0
    for name, valid, hidden, blacklisted, variants, params, api, trusted in rows:
        if opts.names and name not in opts.names:
            continue
        shown += 1
        sys.stdout.write("%s:\n" % name)
        sys.stdout.write("  - valid: %s\n  - hidden: %s\n  - blacklisted: %s\n"
                         % (valid, hidden, blacklisted))
        sys.stdout.write("  - trusted: %s\n" % trusted)
        sys.stdout.write("  - API versions:\n")
        for version in api:
            sys.stdout.write("    - %s\n" % version)
        sys.stdout.write("  - variants:\n")
        for variant in variants:
            sys.stdout.write("    - %s\n" % variant)
        sys.stdout.write("  - parameters:\n")
        for pname, pdesc in params:
            sys.stdout.write("    - %s: %s\n" % (pname, pdesc))
        sys.stdout.write("\n")
    if opts.names and shown < len(opts.names):
        sys.stderr.write("OS(es) not found: %s\n" % ", ".join(
            sorted(set(opts.names) - {r[0] for r in rows})))
        return constants.EXIT_FAILURE
    return 0


def main(argv=None) -> int:
    commands = [
        cli.Command("list", list_os, "List the valid OS definitions",
                    lambda p: p.add_argument("--no-headers", action="store_true")),
        cli.Command("diagnose", diagnose, "Diagnose the OS definitions on every node"),
        cli.Command("info", info, "Show details of OS definitions",
                    lambda p: p.add_argument("names", nargs="*")),
    ]
    return cli.run_commands("gnt-os", "Ganeti OS definitions", commands, argv)
