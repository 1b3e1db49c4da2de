"""gnt-job: list, inspect, watch, cancel and archive jobs."""

import sys
import time

from ganeti import cli
from ganeti import constants
from ganeti import errors
from ganeti import query

_STATUS_FILTERS = {
    "pending": [constants.JOB_STATUS_QUEUED, constants.JOB_STATUS_WAITING],
    "running": [constants.JOB_STATUS_RUNNING],
    "error": [constants.JOB_STATUS_ERROR],
    "finished": [constants.JOB_STATUS_CANCELED, constants.JOB_STATUS_SUCCESS,
                 constants.JOB_STATUS_ERROR],
}


def _job_ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except ValueError:
            raise cli.UsageError("Invalid job ID '%s'" % value) from None
    return ids


def list_jobs(opts) -> int:
    fields = cli.parse_fields(opts.output, query.JOB_DEFAULT_FIELDS)
    parts = []
    if opts.names:
        parts.append(["|"] + [["=", "id", i] for i in _job_ids(opts.names)])
    if opts.status:
        parts.append(["|"] + [["=", "status", s] for s in _STATUS_FILTERS[opts.status]])
    qfilter = None
    if len(parts) == 1:
        qfilter = parts[0]
    elif parts:
        qfilter = ["&"] + parts
    result = cli.get_client().query(constants.QR_JOB, fields, qfilter)
    if not opts.archived:
        result["data"] = [row for row in result["data"]]
    code, lines = cli.format_query_result(result, opts.separator, not opts.no_headers,
                                          opts.units, opts.verbose, frozenset(["summary"]))
    for line in lines:
        sys.stdout.write(line + "\n")
    return code


def _fmt_ts(ts) -> str:
    if not ts:
        return "N/A"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts[0])) + \
        ".%06d" % ts[1]


def info(opts) -> int:
    client = cli.get_client()
    fields = ["id", "ops", "status", "received_ts", "start_ts", "end_ts", "opstatus",
              "oplog", "opresult", "opstart", "opexec", "opend", "reason"]
    ids = _job_ids(opts.jobs) if opts.jobs else None
    rows = client.query_jobs(ids, fields)
    out = []
    for idx, row in enumerate(rows):
        if row is None:
            out.append("Job ID: %s" % (ids[idx] if ids else "?"))
            out.append("  unknown job")
            continue
        (job_id, ops, status, recv, start, end, opstatus, oplog, opresult, opstart,
         opexec, opend, reason) = row
        out.append("Job ID: %s" % job_id)
        out.append("  Status: %s" % status)
        out.append("  Received:         %s" % _fmt_ts(recv))
        out.append("  Processing start: %s" % _fmt_ts(start))
        out.append("  Processing end:   %s" % _fmt_ts(end))
        out.append("  Total processing time: %s" % (
            "%.6f seconds" % ((end[0] + end[1] / 1e6) - (start[0] + start[1] / 1e6))
            if start and end else "N/A"))
        out.append("  Opcodes:")
        for op, ostat, log, res, ostart, oexec, oend, why in zip(
                ops, opstatus, oplog, opresult, opstart, opexec, opend, reason, strict=True):
            out.append("    OP_ID: %s" % op.get("OP_ID"))
            out.append("      Status: %s" % ostat)
            out.append("      Processing start: %s" % _fmt_ts(ostart))
            out.append("      Execution start:  %s" % _fmt_ts(oexec))
            out.append("      Processing end:   %s" % _fmt_ts(oend))
            out.append("      Input fields:")
            for key in sorted(op):
                if key not in ("OP_ID", "reason"):
                    out.append("        %s: %s" % (key, op[key]))
            out.append("      Reason trail:")
            for entry in why or []:
                out.append("        %s" % " ".join(str(x) for x in entry))
            out.append("      Result: %s" % (res,))
            out.append("      Execution log:")
            for serial, ts, log_type, message in log:
                out.append("        %s:%s:%s %s" % (serial, _fmt_ts(ts), log_type, message))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


def watch(opts) -> int:
    job_id = _job_ids([opts.job])[0]
    client = cli.get_client()
    status = client.query_jobs([job_id], ["status"])[0]
    if status is None:
        raise errors.OpPrereqError("Job %s not found" % job_id, errors.ECODE_NOENT)
    sys.stdout.write("Output from job %s follows\n" % job_id)
    sys.stdout.write("-" * (len(str(job_id)) + 23) + "\n")
    cli.poll_job(job_id, client)
    return 0


def wait(opts) -> int:
    cli.poll_job(_job_ids([opts.job])[0], quiet=True)
    return 0


def cancel(opts) -> int:
    client = cli.get_client()
    ids = _job_ids(opts.jobs)
    if opts.pending or opts.queued or opts.waiting:
        wanted = set()
        if opts.pending or opts.queued:
            wanted.add(constants.JOB_STATUS_QUEUED)
        if opts.pending or opts.waiting:
            wanted.add(constants.JOB_STATUS_WAITING)
        ids += [r[0] for r in client.query_jobs(None, ["id", "status"]) if r[1] in wanted]
    if not ids:
        raise cli.UsageError("No job given")
    code = 0
    for job_id in ids:
        ok, message = client.cancel_job(job_id, opts.kill)
        sys.stdout.write("%s\n" % message)
        if not ok:
            code = constants.EXIT_FAILURE
    return code


def archive(opts) -> int:
    client = cli.get_client()
    code = 0
    for job_id in _job_ids(opts.jobs):
        if not client.archive_job(job_id):
            sys.stderr.write("Failed to archive job %s (not finished or unknown)\n"
                             % job_id)
            code = constants.EXIT_FAILURE
    return code


def autoarchive(opts) -> int:
    if opts.age == "all":
        age = -1
    else:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
        try:
            age = int(opts.age[:-1]) * units[opts.age[-1]] if opts.age[-1] in units \
                else int(opts.age)
        except (ValueError, KeyError, IndexError):
            raise cli.UsageError("Invalid age '%s'" % opts.age) from None
    archived, left = cli.get_client().auto_archive_jobs(age, 60)
    sys.stdout.write("Archived %s jobs, %s unchecked left\n" % (archived, left))
    return 0


def change_priority(opts) -> int:
    client = cli.get_client()
    prio = constants.PRIORITY_NAMES[opts.priority]
    code = 0
    for job_id in _job_ids(opts.jobs):
        ok, message = client.call_method("ChangeJobPriority", job_id, prio)
        sys.stdout.write("%s\n" % message)
        if not ok:
            code = constants.EXIT_FAILURE
    return code


def list_fields(opts) -> int:
    return cli.list_fields(constants.QR_JOB, opts.fields)


def _setup_list(p) -> None:
    cli.add_list_options(p)
    p.add_argument("--archived", action="store_true", help="Include archived jobs")
    group = p.add_mutually_exclusive_group()
    for name in ("pending", "running", "error", "finished"):
        group.add_argument("--%s" % name, dest="status", action="store_const", const=name)
    p.add_argument("names", nargs="*", metavar="JOB")


def _setup_cancel(p) -> None:
    p.add_argument("--force", action="store_true")
    p.add_argument("--kill", action="store_true")
    p.add_argument("--pending", action="store_true")
    p.add_argument("--queued", action="store_true")
    p.add_argument("--waiting", action="store_true")
    p.add_argument("--yes-do-it", action="store_true")
    p.add_argument("jobs", nargs="*", metavar="JOB")


def main(argv=None) -> int:
    commands = [
        cli.Command("list", list_jobs, "List jobs", _setup_list),
        cli.Command("list-fields", list_fields, "List the available job fields",
                    lambda p: p.add_argument("fields", nargs="*")),
        cli.Command("info", info, "Show job details",
                    lambda p: p.add_argument("jobs", nargs="*", metavar="JOB")),
        cli.Command("watch", watch, "Follow a job's log",
                    lambda p: p.add_argument("job")),
        cli.Command("wait", wait, "Wait for a job to finish",
                    lambda p: p.add_argument("job")),
        cli.Command("cancel", cancel, "Cancel queued jobs", _setup_cancel),
        cli.Command("archive", archive, "Archive finished jobs",
                    lambda p: p.add_argument("jobs", nargs="+", metavar="JOB")),
        cli.Command("autoarchive", autoarchive, "Archive old finished jobs",
                    lambda p: p.add_argument("age")),
        cli.Command("change-priority", change_priority, "Change the priority of jobs",
                    lambda p: (p.add_argument("--priority", required=True,
                                              choices=sorted(constants.PRIORITY_NAMES)),
                               p.add_argument("jobs", nargs="+", metavar="JOB"))),
    ]
    return cli.run_commands("gnt-job", "Ganeti job administration", commands, argv)
