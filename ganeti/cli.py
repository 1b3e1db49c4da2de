"""Common machinery of the gnt-* commands: sub-command dispatch, job submission and
polling with live feedback, error messages and exit codes, list output.
"""

import argparse
import os
import sys
import time

from ganeti import constants
from ganeti import errors
from ganeti import luxi
from ganeti import opcodes
from ganeti.utils.text import format_unit, split_escaped

STATUS_TERSE = {constants.RS_OFFLINE: "*", constants.RS_NODATA: "?",
                constants.RS_UNAVAIL: "-", constants.RS_UNKNOWN: "??"}
STATUS_VERBOSE = {constants.RS_OFFLINE: "(offline)", constants.RS_NODATA: "(nodata)",
                  constants.RS_UNAVAIL: "(unavail)", constants.RS_UNKNOWN: "(unknown)"}


class UsageError(Exception):
    pass


class JobSubmittedOnly(Exception):
    pass


# --- option helpers ---------------------------------------------------------
def add_job_options(parser: argparse.ArgumentParser, dry_run: bool = True) -> None:
    parser.add_argument("--submit", action="store_true",
                        help="Submit the job and print its ID without waiting")
    parser.add_argument("--print-jobid", action="store_true",
                        help="Print the job ID first, then wait for the job")
    parser.add_argument("--priority", choices=sorted(constants.PRIORITY_NAMES),
                        default=None, help="Priority of the job")
    parser.add_argument("--reason", default=None, help="Reason for the operation")
    if dry_run:
        parser.add_argument("--dry-run", action="store_true",
                            help="Only check the arguments, do not execute")


def add_list_options(parser: argparse.ArgumentParser, default_env: str | None = None) -> None:
    parser.add_argument("--no-headers", action="store_true", help="Omit the header row")
    parser.add_argument("--separator", default=None,
                        help="Separator between columns (no padding)")
    parser.add_argument("--units", choices=["h", "m", "g", "t"], default=None,
                        help="Unit for sizes (h: human-readable)")
    parser.add_argument("-o", "--output", default=None,
                        help="Comma-separated fields; '+f1,f2' adds to the defaults")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="Verbose rendering of special values")
    parser.add_argument("-F", "--filter", dest="use_filter", action="store_true",
                        help="Treat the argument as a filter expression")
    parser.add_argument("--sync", action="store_true", help="Accepted for compatibility")


def parse_fields(output: str | None, defaults: list[str]) -> list[str]:
    if not output:
        return list(defaults)
    if output.startswith("+"):
        return list(defaults) + [f for f in output[1:].split(",") if f]
    return [f for f in output.split(",") if f]


def parse_key_values(text: str | None, what: str = "option") -> dict:
    """Parse "k=v,k2=v2"; bare "k" is True, "no_k" False, "-k" resets (None)."""
    result: dict = {}
    if not text:
        return result
    for item in split_escaped(text, ","):
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
        elif item.startswith("no_"):
            key, value = item[3:], False
        elif item.startswith("-"):
            key, value = item[1:], None
        else:
            key, value = item, True
        if not key:
            raise UsageError("Invalid %s value '%s'" % (what, item))
        result[key] = value
    return result


def parse_ident_key_values(text: str, what: str = "option") -> tuple[str, dict]:
    """Parse "ident:k=v,..." (e.g. "fake:migration_mode=live", "0:size=1G")."""
    if ":" in text:
        ident, rest = text.split(":", 1)
    else:
        ident, rest = text, ""
    if not ident:
        raise UsageError("Missing identifier in %s '%s'" % (what, text))
    return ident, parse_key_values(rest, what)


def make_name_filter(what_field: str, names: list[str], use_filter: bool,
                     isnumeric: bool = False):
    """Turn list arguments into a query filter (names, globs or a filter expression)."""
    from ganeti import qlang
    return qlang.make_filter(names, use_filter, what_field, isnumeric)


# --- talking to the daemons ------------------------------------------------------
def get_client() -> luxi.Client:
    """A luxi client; on a node that is not the master, fail at once (no 30 s wait)."""
    if _not_master_message():
        raise errors.NoMasterError("this node is not the master")
    return luxi.Client()


def _reason(op_dicts: list[dict], options) -> None:
    reason = [[constants.OPCODE_REASON_SRC_CLIENT,
               " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:2]) or "gnt",
               time.time_ns()]]
    text = getattr(options, "reason", None)
    if text:
        reason.insert(0, [constants.OPCODE_REASON_SRC_USER, text, time.time_ns()])
    for op in op_dicts:
        op.setdefault("reason", [])
        op["reason"] = reason + op["reason"]


def _apply_options(op: opcodes.OpCode, options) -> opcodes.OpCode:
    if options is None:
        return op
    if getattr(options, "dry_run", False):
        op.dry_run = True
    prio = getattr(options, "priority", None)
    if prio:
        op.priority = constants.PRIORITY_NAMES[prio]
    debug = getattr(options, "debug", 0)
    if debug:
        op.debug_level = int(debug)
    return op


def submit_opcodes(ops: list[opcodes.OpCode], options=None, client=None) -> int:
    client = client or get_client()
    op_dicts = [_apply_options(op, options).to_dict() for op in ops]
    _reason(op_dicts, options)
    return client.submit_job(op_dicts)


def format_log_message(log_type: str, message) -> str:
    if log_type == constants.ELOG_MESSAGE:
        return str(message)
    return "%s: %s" % (log_type, message)


def poll_job(job_id, client=None, feedback=None, quiet: bool = False):
    """Wait for a job, showing its log; return the list of opcode results or raise."""
    client = client or get_client()
    prev_info = None
    prev_serial = None
    while True:
        result = client.wait_for_job_change(job_id, ["status"], prev_info, prev_serial,
                                            constants.JOB_WAIT_TIMEOUT_MAX)
        if result == "nochange":
            continue
        if result is None:
            raise errors.JobLost("Job %s not found" % job_id)
        info, entries = result
        for serial, ts, log_type, message in entries:
            prev_serial = max(prev_serial or 0, serial)
            if feedback:
                feedback(ts, log_type, message)
            elif not quiet:
                stamp = time.ctime(ts[0] + ts[1] / 1e6) if isinstance(ts, list) else ""
                sys.stdout.write("%s %s\n" % (stamp, format_log_message(log_type, message)))
                sys.stdout.flush()
        prev_info = info
        if info[0] in constants.JOBS_FINALIZED:
            break
    status, opstatus, opresult = client.query_jobs([job_id], ["status", "opstatus",
                                                              "opresult"])[0]
    if status == constants.JOB_STATUS_SUCCESS:
        return opresult
    if status == constants.JOB_STATUS_CANCELED:
        raise errors.OpExecError("Job was canceled")
    for idx, (ostat, ores) in enumerate(zip(opstatus, opresult, strict=True)):
        if ostat == constants.OP_STATUS_SUCCESS:
            continue
        if ostat == constants.OP_STATUS_CANCELED:
            raise errors.OpExecError("Job was canceled")
        err = errors.decode_exception(ores)
        if err is not None:
            raise err
        raise errors.OpExecError("Opcode %d failed: %s" % (idx, ores))
    raise errors.OpExecError("Job %s ended in status %s" % (job_id, status))


def send_job(ops: list[opcodes.OpCode], options=None, client=None, feedback=None):
    """Submit a job and wait for it, honouring --submit and --print-jobid."""
    client = client or get_client()
    job_id = submit_opcodes(ops, options, client)
    if options is not None and getattr(options, "submit", False):
        sys.stdout.write("JobID: %s\n" % job_id)
        raise JobSubmittedOnly(job_id)
    if options is not None and getattr(options, "print_jobid", False):
        sys.stdout.write("%s\n" % job_id)
        sys.stdout.flush()
    return poll_job(job_id, client, feedback)


def submit_or_send(op: opcodes.OpCode, options=None, client=None):
    return send_job([op], options, client)[0]


# --- errors ----------------------------------------------------------------
def format_error(err: Exception) -> tuple[int, str]:
    """(exit code, message) for an error reaching the user."""
    code = constants.EXIT_FAILURE
    if isinstance(err, errors.HooksAbort):
        lines = ["Failure: hooks execution failed:"]
        for item in err.args[0] if err.args else []:
            node, script, output = item
            lines.append("  node: %s, script: %s, output: %s" % (node, script,
                                                                 str(output).strip()))
        return code, "\n".join(lines)
    if isinstance(err, errors.HooksFailure):
        return code, "Failure: hooks general failure: %s" % errors.format_error(err)
    if isinstance(err, errors.OpPrereqError):
        if len(err.args) == 2 and err.args[1] in errors.ECODE_ALL:
            return code, ("Failure: prerequisites not met for this operation:\n"
                          "error type: %s, error details:\n%s" % (err.args[1], err.args[0]))
        return code, ("Failure: prerequisites not met for this operation:\n%s"
                      % errors.format_error(err))
    if isinstance(err, errors.OpExecError):
        return code, "Failure: command execution error:\n%s" % errors.format_error(err)
    if isinstance(err, errors.TagError):
        return code, "Failure: invalid tag(s) given:\n%s" % errors.format_error(err)
    if isinstance(err, errors.JobQueueDrainError):
        return code, ("Failure: the job queue is marked for drain and doesn't accept new "
                      "requests")
    if isinstance(err, errors.JobQueueFull):
        return code, "Failure: the job queue is full and doesn't accept new requests"
    if isinstance(err, errors.NoMasterError):
        not_master = _not_master_message()
        if not_master:
            return constants.EXIT_NOTMASTER, not_master
        return code, ("Cannot communicate with the master daemon.\nIs the process running "
                      "and listening for connections?")
    if isinstance(err, errors.PermissionError):
        return code, ("Cannot communicate with the master daemon (permission denied on "
                      "%s).\nRun the command as root or as a member of the admin group."
                      % err.args[0])
    if isinstance(err, errors.TimeoutError):
        return code, ("Timeout while talking to the master daemon. Jobs might have been "
                      "submitted and will continue to run even if the call timed out.")
    if isinstance(err, errors.ConfigurationError):
        return constants.EXIT_CONFIG_ERROR, ("Cluster configuration incomplete: %s"
                                             % errors.format_error(err))
    if isinstance(err, errors.ProtocolError):
        return code, "Unhandled protocol error while talking to the master daemon:\n%s" \
            % errors.format_error(err)
    if isinstance(err, errors.JobLost):
        return code, "Error checking job status: %s" % errors.format_error(err)
    if isinstance(err, errors.ResolverError):
        return code, "Failure: can't resolve hostname '%s'" % err.args[0]
    if isinstance(err, errors.QueryFilterParseError):
        return code, errors.format_error(err)
    if isinstance(err, errors.GenericError):
        return code, "Unhandled Ganeti error: %s" % errors.format_error(err)
    return code, "Unhandled exception: %s" % err


def _not_master_message() -> str | None:
    """The usual mistake behind an unreachable daemon: this is not the master."""
    from ganeti import netutils
    from ganeti import ssconf
    try:
        master = ssconf.SimpleStore().get_master_node()
    except errors.GenericError:
        return None
    if master and master != netutils.hostname():
        return ("This is not the master node, please connect to node %s and run the "
                "command there" % master)
    return None


# --- command dispatch ---------------------------------------------------------
class Command:
    def __init__(self, name: str, func, help_text: str, setup=None, aliases=()):
        self.name = name
        self.func = func
        self.help = help_text
        self.setup = setup
        self.aliases = aliases


def run_commands(prog: str, description: str, commands: list[Command], argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version",
                        version="%s (ganeti %s) %s" % (prog, constants.RELEASE_VERSION,
                                                       constants.RELEASE_VERSION))
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in commands:
        sub = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help,
                              aliases=list(cmd.aliases))
        sub.add_argument("-d", "--debug", action="count", default=0,
                         help="Increase debugging level")
        if cmd.setup:
            cmd.setup(sub)
        sub.set_defaults(_func=cmd.func)
    if not argv:
        parser.print_help()
        return constants.EXIT_FAILURE
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else constants.EXIT_FAILURE
    # S1.3: only root and the admin group may use the daemons (the socket modes
    # refuse everybody else anyway; this gives a clear message first)
    from ganeti import privsep
    denied = privsep.cli_access_error(prog)
    if denied:
        sys.stderr.write(denied + "\n")
        return constants.EXIT_FAILURE
    _log_command(prog, argv)
    try:
        return options._func(options) or 0
    except JobSubmittedOnly:
        return constants.EXIT_SUCCESS
    except UsageError as err:
        sys.stderr.write("Usage error: %s\n" % err)
        return constants.EXIT_FAILURE
    except errors.UnitParseError as err:
        sys.stderr.write("Usage error: invalid size: %s\n" % errors.format_error(err))
        return constants.EXIT_FAILURE
    except (errors.GenericError, errors.QuitGanetiException) as err:
        code, message = format_error(err)
        sys.stderr.write(message.rstrip("\n") + "\n")
        return code
    except OSError as err:
        sys.stderr.write("Error: %s\n" % err)
        return constants.EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("Aborted. Note that if the operation created any jobs, they "
                         "might have been submitted and will continue to run in the "
                         "background.\n")
        return constants.EXIT_FAILURE


# Options whose values are secrets: the commands log shows them redacted.
_SECRET_OPTIONS = ("--os-parameters-private", "--os-parameters-secret")


def _is_secret_option(name: str) -> bool:
    # argparse also takes unambiguous abbreviations ("--os-parameters-se")
    return len(name) > len("--os-parameters-") and \
        any(opt.startswith(name) for opt in _SECRET_OPTIONS)


def redact_argv(argv: list[str]) -> list[str]:
    """``argv`` with the values of secret options replaced by <redacted>."""
    out = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(constants.REDACTED)
            hide_next = False
            continue
        name, sep, _value = arg.partition("=")
        if name.startswith("--") and _is_secret_option(name):
            out.append(name + "=" + constants.REDACTED if sep else arg)
            hide_next = not sep
        else:
            out.append(arg)
    return out


def _log_command(prog: str, argv: list[str]) -> None:
    from ganeti import pathutils
    try:
        with open(pathutils.COMMANDS_LOG, "a") as fh:
            fh.write("%s pid=%d uid=%d %s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                   os.getpid(), os.getuid(), prog,
                                                   " ".join(redact_argv(argv))))
    except OSError:
        pass


def ask_user(text: str) -> bool:
    if not sys.stdin.isatty():
        return False
    sys.stdout.write("%s y/[n]: " % text)
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# --- list output ---------------------------------------------------------------
def _format_value(value, kind: str, units: str, join_lists: bool) -> str:
    if value is None:
        return "-"
    if kind == constants.QFT_BOOL:
        return "Y" if value else "N"
    if kind == constants.QFT_UNIT:
        return format_unit(value, units)
    if kind == constants.QFT_TIMESTAMP:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    if isinstance(value, (list, tuple)) and join_lists:
        return ",".join(str(v) for v in value)
    return str(value)


def format_query_result(result: dict, separator: str | None, header: bool,
                        units: str | None, verbose: bool = False,
                        join_fields: frozenset = frozenset()) -> tuple[int, list[str]]:
    """Render a Query result; returns (exit code, lines)."""
    fields = result["fields"]
    if units is None:
        units = "h" if separator is None else "m"
    unknown = [f["name"] for f in fields if f["kind"] == constants.QFT_UNKNOWN]
    rows = []
    for row in result["data"]:
        cells = []
        for fdef, (status, value) in zip(fields, row, strict=True):
            if status != constants.RS_NORMAL:
                cells.append((STATUS_VERBOSE if verbose else STATUS_TERSE)[status])
            else:
                cells.append(_format_value(value, fdef["kind"], units,
                                           fdef["name"] in join_fields or
                                           fdef["name"].startswith("nic.")))
        rows.append(cells)
    headers = [f["title"] for f in fields] if header else None
    numeric = [f["kind"] in (constants.QFT_NUMBER, constants.QFT_UNIT,
                             constants.QFT_NUMBER_FLOAT) for f in fields]
    lines = generate_table(headers, rows, separator, numeric)
    code = constants.EXIT_SUCCESS
    if unknown:
        code = constants.EXIT_UNKNOWN_FIELD
    return code, lines


def generate_table(headers: list[str] | None, rows: list[list[str]],
                   separator: str | None, numeric: list[bool]) -> list[str]:
    if separator is not None:
        lines = []
        if headers:
            lines.append(separator.join(headers))
        lines.extend(separator.join(r) for r in rows)
        return lines
    all_rows = ([headers] if headers else []) + rows
    if not all_rows:
        return []
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(all_rows[0]))]
    lines = []
    for row in all_rows:
        parts = []
        for idx, cell in enumerate(row):
            if numeric[idx]:
                parts.append(cell.rjust(widths[idx]))
            else:
                parts.append(cell.ljust(widths[idx]))
        lines.append(" ".join(parts).rstrip())
    return lines


def generic_list(what: str, options, names: list[str], default_fields: list[str],
                 join_fields: frozenset = frozenset(), name_field: str = "name") -> int:
    fields = parse_fields(options.output, default_fields)
    qfilter = make_name_filter(name_field, names, options.use_filter)
    client = get_client()
    result = client.query(what, fields, qfilter)
    code, lines = format_query_result(result, options.separator, not options.no_headers,
                                      options.units, options.verbose, join_fields)
    if code == constants.EXIT_UNKNOWN_FIELD:
        unknown = [f["name"] for f in result["fields"] if f["kind"] ==
                   constants.QFT_UNKNOWN]
        sys.stderr.write("Warning: Unknown output fields: %s\n" % ", ".join(unknown))
    for line in lines:
        sys.stdout.write(line + "\n")
    if names and not options.use_filter and not any("*" in n or "?" in n for n in names):
        if len(result["data"]) < len(set(names)):
            found = set()
            name_idx = next((i for i, f in enumerate(result["fields"])
                             if f["name"] == name_field), None)
            if name_idx is None:
                check = client.query(what, [name_field], qfilter)
                found = {str(r[0][1]) for r in check["data"]}
            else:
                found = {str(r[name_idx][1]) for r in result["data"]}
            missing = [n for n in names if n not in found]
            if missing:
                sys.stderr.write("%s: unknown name(s): %s\n" % (what.capitalize(),
                                                               ", ".join(missing)))
                return constants.EXIT_FAILURE
    return code


def list_fields(what: str, names: list[str]) -> int:
    result = get_client().query_fields(what, names or None)
    type_names = {constants.QFT_UNKNOWN: "Unknown", constants.QFT_TEXT: "Text",
                  constants.QFT_BOOL: "Boolean", constants.QFT_NUMBER: "Number",
                  constants.QFT_NUMBER_FLOAT: "Floating-point number",
                  constants.QFT_UNIT: "Storage size", constants.QFT_TIMESTAMP: "Timestamp",
                  constants.QFT_OTHER: "Custom"}
    rows = [[f["name"], type_names.get(f["kind"], f["kind"]), f["title"], f["doc"]]
            for f in result["fields"]]
    for line in generate_table(["Name", "Type", "Title", "Description"], rows, None,
                               [False] * 4):
        sys.stdout.write(line + "\n")
    if any(f["kind"] == constants.QFT_UNKNOWN for f in result["fields"]):
        return constants.EXIT_UNKNOWN_FIELD
    return constants.EXIT_SUCCESS


def format_params(params: dict, indent: int = 4) -> list[str]:
    lines = []
    for key in sorted(params):
        lines.append("%s%s: %s" % (" " * indent, key, params[key]))
    return lines
