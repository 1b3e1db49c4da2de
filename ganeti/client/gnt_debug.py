"""gnt-debug: test opcodes and internal probes."""

import sys

from ganeti import cli
from ganeti import opcodes
from ganeti import serializer


def delay(opts) -> int:
    try:
        duration = float(opts.duration)
    except ValueError:
        raise cli.UsageError("Invalid duration '%s'" % opts.duration) from None
    if duration < 0:
        raise cli.UsageError("The duration must not be negative")
    op = opcodes.OpTestDelay(duration=duration, on_master=not opts.no_master,
                             on_nodes=opts.on_nodes, repeat=opts.repeat,
                             interruptible=opts.interruptible)
    cli.send_job([op], opts)
    return 0


def submit_job(opts) -> int:
    client = cli.get_client()
    job_ids = []
    for path in opts.files:
        try:
            with open(path) as fh:
                ops = serializer.load_json(fh.read())
        except (OSError, ValueError) as err:
            raise cli.UsageError("Cannot read opcodes from %s: %s" % (path, err)) from None
        except RecursionError:
            raise cli.UsageError("Cannot read opcodes from %s: nested too deeply"
                                 % path) from None
        if not isinstance(ops, list):
            raise cli.UsageError("%s must hold a JSON list of opcodes" % path)
        op_objs = [opcodes.OpCode.from_dict(o) for o in ops] * opts.op_repeat
        for _ in range(opts.job_repeat):
            job_ids.append(cli.submit_opcodes(op_objs, opts, client))
    for job_id in job_ids:
        if opts.verbose:
            sys.stdout.write("Job ID: %s\n" % job_id)
        cli.poll_job(job_id, client, quiet=not opts.verbose)
    return 0



def _setup_delay(p) -> None:
    cli.add_job_options(p, dry_run=False)
    p.add_argument("duration")
    p.add_argument("--no-master", action="store_true")
    p.add_argument("-n", "--node", dest="on_nodes", action="append", default=[])
    p.add_argument("-r", "--repeat", type=int, default=0)
    p.add_argument("-i", "--interruptible", action="store_true")


def _setup_submit(p) -> None:
    p.add_argument("files", nargs="+")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--timing-stats", action="store_true")
    p.add_argument("--job-repeat", type=int, default=1)
    p.add_argument("--op-repeat", type=int, default=1)
    p.add_argument("--each", action="store_true")


def main(argv=None) -> int:
    commands = [
        cli.Command("delay", delay, "Submit a test delay opcode", _setup_delay),
        cli.Command("submit-job", submit_job, "Submit opcodes read from JSON files",
                    _setup_submit),
    ]
    return cli.run_commands("gnt-debug", "Ganeti debugging tools", commands, argv)
