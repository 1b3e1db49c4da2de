"""ganeti-watcher: keeps a node and the cluster in the state the configuration says.

Run periodically on every node (cron or a systemd timer).  On every node it restarts
dead daemons and runs the watcher hooks; on the master it also restarts instances that
should run but do not (a bounded number of times), records node boot ids to notice
reboots (disk re-activation comes with the mirrored disk templates), and archives old
jobs.  It does nothing while paused
(``gnt-cluster watcher pause``).
"""

import argparse
import fcntl
import logging
import os
import sys
import time

from ganeti import constants
from ganeti import errors
from ganeti import netutils
from ganeti import pathutils
from ganeti import serializer
from ganeti import ssconf
from ganeti.utils import io
from ganeti.utils import process

MAX_RESTART_ATTEMPTS = 5
DEFAULT_JOB_AGE = 6 * 3600
NODE_DAEMONS = (constants.NODED, constants.CONFD, constants.MOND)
MASTER_DAEMONS = (constants.MASTERD, constants.LUXID, constants.RAPI)
WATCHER_LOCK = "ganeti-watcher.lock"
STATE_FILE = "watcher.data"


def _installed(daemon: str) -> bool:
    """Installed and enabled at build time."""
    from ganeti import _autoconf
    if daemon == constants.CONFD and not _autoconf.ENABLE_CONFD:
        return False
    if daemon == constants.MOND and not _autoconf.ENABLE_MOND:
        return False
    return os.path.exists(os.path.join(pathutils.SBIN_DIR, daemon))


def paused_until() -> int | None:
    try:
        until = int(io.read_file(pathutils.WATCHER_PAUSEFILE).strip())
    except (OSError, ValueError):
        return None
    return until if until > time.time() else None


class WatcherState:
    """Restart counters and node boot ids, kept between runs."""

    def __init__(self, path: str):
        self.path = path
        try:
            data = serializer.load_json(io.read_file(path))
        except (OSError, ValueError):
            data = {}
        self.restarts: dict = data.get("restarts", {}) if isinstance(data, dict) else {}
        self.boot_ids: dict = data.get("boot_ids", {}) if isinstance(data, dict) else {}

    def save(self) -> None:
        io.write_file(self.path, serializer.dump_json({"restarts": self.restarts,
                                                        "boot_ids": self.boot_ids}),
                      mode=0o644)


def ensure_daemons(is_master: bool) -> list[str]:
    """Start the daemons that should run here but do not; returns the started ones."""
    started = []
    wanted = [d for d in NODE_DAEMONS if _installed(d)]
    if is_master:
        wanted += [d for d in MASTER_DAEMONS if _installed(d)]
    for daemon in wanted:
        check = process.run_cmd([pathutils.DAEMON_UTIL, "check", daemon], timeout=30)
        if not check.failed:
            continue
        logging.warning("%s is not running, starting it", daemon)
        result = process.run_cmd([pathutils.DAEMON_UTIL, "start", daemon], timeout=60)
        if result.failed:
            logging.error("Could not start %s: %s", daemon, result.output.strip())
        else:
            started.append(daemon)
    return started


def run_watcher_hooks() -> list:
    """Run hooks/watcher/* (inherited environment; results only logged)."""
    directory = os.path.join(pathutils.HOOKS_BASE_DIR, "watcher")
    if not os.path.isdir(directory):
        return []
    from ganeti.backend import hooks
    results = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or not hooks.HOOK_NAME_RE.match(name) or \
                not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        result = process.run_cmd([path], timeout=3600, merge_stderr=True)
        status = "failed" if result.failed else "ok"
        logging.info("Watcher hook %s: %s %s", name, status, result.output.strip()[-500:])
        results.append((name, status))
    return results


def _client():
    from ganeti import luxi
    return luxi.Client()


def master_duties(state: WatcherState, job_age: int) -> dict:
    """Restart instances, re-activate disks after node reboots, archive jobs."""
    client = _client()
    summary = {"restarted": [], "gave_up": [], "archived": 0}
    result = client.query(constants.QR_INSTANCE, ["name", "status", "admin_state",
                                                  "pnode", "disk_template"], None)
    nodes = client.query(constants.QR_NODE, ["name", "bootid", "offline"], None)
    rebooted = set()
    for row in nodes["data"]:
        (_s1, name), (status, bootid), (_s3, offline) = row
        if offline or status != constants.RS_NORMAL or not bootid:
            continue
        if state.boot_ids.get(name) not in (None, bootid):
            rebooted.add(name)
        state.boot_ids[name] = bootid
    for row in result["data"]:
        name = row[0][1]
        status = row[1][1] if row[1][0] == constants.RS_NORMAL else None
        if status != constants.INSTST_ERRORDOWN:
            if status == constants.INSTST_RUNNING:
                state.restarts.pop(name, None)
            continue
        attempts = state.restarts.get(name, 0)
        if attempts >= MAX_RESTART_ATTEMPTS:
            if attempts == MAX_RESTART_ATTEMPTS:
                logging.error("Instance %s could not be restarted after %d attempts; "
                              "giving up", name, attempts)
                state.restarts[name] = attempts + 1
            summary["gave_up"].append(name)
            continue
        state.restarts[name] = attempts + 1
        logging.info("Restarting instance %s (attempt %d)", name, attempts + 1)
        job_id = client.submit_job([{"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": name,
                                     "reason": [["gnt:watcher", "instance was down",
                                                 time.time_ns()]]}])
        if _wait(client, job_id):
            summary["restarted"].append(name)
    if rebooted:
        logging.info("Nodes rebooted since the last run: %s", ", ".join(sorted(rebooted)))
        summary["rebooted"] = sorted(rebooted)
    archived, _left = client.auto_archive_jobs(job_age, 30)
    summary["archived"] = archived
    return summary


def _wait(client, job_id, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = client.query_jobs([job_id], ["status"])[0][0]
        if status in constants.JOBS_FINALIZED:
            break
        client.wait_for_job_change(job_id, ["status"], [status], None, 10)
    return status == constants.JOB_STATUS_SUCCESS


def run(args) -> int:
    os.makedirs(pathutils.LOCK_DIR, exist_ok=True)
    lock_fh = open(os.path.join(pathutils.LOCK_DIR, WATCHER_LOCK), "a")
    try:
        fcntl.flock(lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        logging.info("Another watcher is running; exiting")
        return 0
    until = paused_until()
    if until and not args.ignore_pause:
        logging.info("Watcher paused until %s", time.ctime(until))
        print("The watcher is paused until %s." % time.ctime(until))
        return 0
    try:
        store = ssconf.SimpleStore()
        master = store.get_master_node()
    except errors.ConfigurationError:
        logging.info("This node is not part of a cluster; nothing to watch")
        return 0
    is_master = master == netutils.hostname()
    started = ensure_daemons(is_master)
    if started:
        print("Started daemons: %s" % ", ".join(started))
    run_watcher_hooks()
    if is_master:
        state = WatcherState(os.path.join(pathutils.DATA_DIR, STATE_FILE))
        try:
            summary = master_duties(state, args.job_age)
        except errors.GenericError as err:
            logging.error("Master duties failed: %s", errors.format_error(err))
            print("Error: %s" % errors.format_error(err), file=sys.stderr)
            return 1
        finally:
            state.save()
        if summary["restarted"]:
            print("Restarted instances: %s" % ", ".join(summary["restarted"]))
        if summary["gave_up"]:
            print("Gave up restarting: %s" % ", ".join(summary["gave_up"]))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="ganeti-watcher",
                                     description="Restart dead daemons and instances that "
                                     "should run; archive old jobs")
    parser.add_argument("-d", "--debug", action="store_true")
    parser.add_argument("-A", "--job-age", type=int, default=DEFAULT_JOB_AGE,
                        help="archive finished jobs older than this (seconds)")
    parser.add_argument("--ignore-pause", action="store_true",
                        help="run even when the watcher is paused")
    parser.add_argument("--wait-children", action="store_true",
                        help="accepted for compatibility (runs in one process)")
    parser.add_argument("--no-wait-children", action="store_true",
                        help="accepted for compatibility")
    args = parser.parse_args(argv)
    os.makedirs(pathutils.LOG_DIR, exist_ok=True)
    logging.basicConfig(filename=os.path.join(pathutils.LOG_DIR, "watcher.log"),
                        level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s: ganeti-watcher pid=%(process)d %(levelname)s "
                        "%(message)s")
    return run(args)
