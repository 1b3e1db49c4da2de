"""ganeti-masterd: the job queue and the configuration owner, on the master only.

Clients submit jobs over the master luxi socket; worker threads run their opcodes
through the processor; every config change is pushed to the candidates, and every
job file is copied to them in the background.
"""

import logging
import os
import subprocess
import threading
import time

from ganeti import config
from ganeti import constants
from ganeti import daemon
from ganeti import errors
from ganeti import locking
from ganeti import luxi
from ganeti import mcpu
from ganeti import netutils
from ganeti import pathutils
from ganeti import privsep
from ganeti import ssconf
from ganeti.jqueue.queue import JobQueue
from ganeti.rpc import encoding
from ganeti.rpc.node import RpcRunner, prepare_upload


def ANCILLARY_FILES() -> list[str]:  # noqa: N802 - reads like a constant
    """Files every node of the cluster gets a copy of (besides ssconf)."""
    return [pathutils.SSH_KNOWN_HOSTS_FILE, pathutils.RAPI_CERT_FILE,
            pathutils.CONFD_HMAC_KEY, pathutils.CLUSTER_DOMAIN_SECRET_FILE,
            pathutils.SPICE_CERT_FILE, pathutils.SPICE_CACERT_FILE,
            pathutils.VNC_PASSWORD_FILE, pathutils.RAPI_USERS_FILE]


class MasterContext:
    """Everything the logical units of this master share."""

    def __init__(self):
        self.cfg = config.ConfigWriter()
        data = self.cfg.data
        self.glm = locking.GanetiLockManager(
            nodes=list(data.nodes), nodegroups=list(data.nodegroups),
            instances=[i.name for i in data.instances.values()])
        self.rpc = RpcRunner(self.resolve_node)
        self.cfg.set_distributor(self._distribute)
        self.queue: JobQueue | None = None
        self.stop_event: threading.Event | None = None
        self._replicator = JobReplicator(self)
        self._destroy_requested = False

    # --- node resolution for RPC -------------------------------------------
    def resolve_node(self, node):
        if isinstance(node, tuple):
            return node[0], node[1], False
        info = self.cfg.get_node_info(node) or self.cfg.get_node_info_by_name(node)
        if info is None:
            raise errors.OpExecError("Node %s is not in the configuration" % node)
        return info.name, info.primary_ip, bool(info.offline)

    # --- configuration distribution ---------------------------------------
    def _distribute(self, text: str, ssconf_values: dict | None, data) -> None:
        master = data.cluster.master_node
        candidates = [u for u, n in data.nodes.items()
                      if n.master_candidate and not n.offline and u != master]
        if candidates:
            args = prepare_upload(pathutils.CLUSTER_CONF_FILE)
            results = self.rpc.call("upload_file", candidates, [args])
            for res in results.values():
                if res.fail_msg:
                    logging.warning("Copy of the configuration to node %s failed: %s",
                                    res.node, res.fail_msg)
        if ssconf_values is not None:
            nodes = [u for u, n in data.nodes.items() if not n.offline]
            results = self.rpc.call("write_ssconf_files", nodes, [ssconf_values])
            for res in results.values():
                if res.fail_msg:
                    logging.warning("Writing ssconf files on node %s failed: %s",
                                    res.node, res.fail_msg)

    def redistribute_config(self, full: bool = True, nodes=None) -> None:
        """Push config.data and ssconf to every (or the given) node now."""
        data = self.cfg.data
        ssconf_values = self.cfg.get_ssconf_values()
        targets = nodes or [u for u, n in data.nodes.items() if not n.offline]
        res = self.rpc.call("write_ssconf_files", targets, [ssconf_values])
        for item in res.values():
            if item.fail_msg:
                logging.warning("ssconf update on %s failed: %s", item.node, item.fail_msg)
        master = data.cluster.master_node
        candidates = [u for u in targets if u != master and data.nodes[u].master_candidate]
        uploads = [(pathutils.CLUSTER_CONF_FILE, candidates)]
        if full:
            others = [u for u in targets if u != master]
            uploads += [(path, others) for path in ANCILLARY_FILES()
                        if os.path.exists(path)]
        for path, nodes in uploads:
            if not nodes:
                continue
            args = prepare_upload(path)
            for item in self.rpc.call("upload_file", nodes, [args]).values():
                if item.fail_msg:
                    logging.warning("Upload of %s to %s failed: %s", path, item.node,
                                    item.fail_msg)

    def replicate_job_file(self, name: str, text: str) -> None:
        self._replicator.push(name, text)

    # --- cluster destroy ------------------------------------------------------
    def schedule_cluster_destroy(self) -> None:
        self._destroy_requested = True

    def after_job(self, job) -> None:
        if self._destroy_requested:
            self._destroy_requested = False
            threading.Thread(target=self._finish_destroy, args=(job,), name="destroy",
                             daemon=True).start()

    def _finish_destroy(self, job) -> None:
        deadline = time.monotonic() + 30
        while not job.is_finalized() and time.monotonic() < deadline:
            time.sleep(0.1)
        if job.calc_status() != constants.JOB_STATUS_SUCCESS:
            logging.warning("The cluster destroy job did not succeed; keeping the cluster")
            return
        time.sleep(1.5)  # let waiting clients read the final job status
        master = self.cfg.get_master_node()
        logging.info("Cluster destroyed: leaving the cluster and stopping")
        self._replicator.stop()
        res = self.rpc.call_single("node_leave_cluster", master, [False, False])
        if res.fail_msg:
            logging.error("The master's node daemon could not leave the cluster: %s",
                          res.fail_msg)
        subprocess.Popen([pathutils.DAEMON_UTIL, "stop", constants.LUXID],
                         start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.stop_event is not None:
            self.stop_event.set()


class JobReplicator:
    """Copies job files to the other master candidates in the background.

    Only the newest content of each file is sent, so a burst of updates to one job
    costs one RPC per candidate.
    """

    def __init__(self, context: MasterContext):
        self._context = context
        self._pending: dict[str, str] = {}
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="JobReplicator",
                                        daemon=True)
        self._thread.start()

    def push(self, name: str, text: str) -> None:
        with self._cv:
            self._pending[name] = text
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stopped:
                    self._cv.wait()
                if self._stopped:
                    return
                batch, self._pending = self._pending, {}
            data = self._context.cfg.data
            targets = [u for u, n in data.nodes.items()
                       if n.master_candidate and not n.offline
                       and u != data.cluster.master_node]
            if not targets:
                continue
            for name, text in batch.items():
                try:
                    self._context.rpc.call("jobqueue_update", targets,
                                           [name, encoding.encode_compressed(text)])
                except Exception:  # noqa: BLE001 - replication is best effort
                    logging.exception("Replicating job file %s failed", name)


class LuxiHandler:
    """Answers the job methods of the master socket."""

    def __init__(self, context: MasterContext):
        self.context = context

    def __call__(self, method: str, args: list, peer):
        queue = self.context.queue
        if method in ("SubmitJob", "SubmitJobToDrainedQueue"):
            self._check_args(method, args, 1)
            ops = self._stamp_reason(args[0], peer)
            return queue.submit(ops, drained_ok=method == "SubmitJobToDrainedQueue")
        if method == "SubmitManyJobs":
            self._check_args(method, args, 1)
            if not isinstance(args[0], list):
                raise errors.ProtocolError("SubmitManyJobs takes a list of jobs")
            jobs = [self._stamp_reason(ops, peer) for ops in args[0]]
            return [list(r) for r in queue.submit_many(jobs)]
        if method == "WaitForJobChange":
            self._check_args(method, args, 5)
            job_id, fields, prev_info, prev_serial, timeout = args
            self._check_fields(fields)
            return queue.wait_for_job_change(job_id, fields, prev_info, prev_serial,
                                             timeout)
        if method == "CancelJob":
            if not args or len(args) > 2:
                raise errors.ProtocolError("CancelJob takes a job id and an optional kill flag")
            return queue.cancel_job(args[0], bool(args[1]) if len(args) > 1 else False)
        if method == "ArchiveJob":
            self._check_args(method, args, 1)
            return queue.archive_job(args[0])
        if method == "AutoArchiveJobs":
            self._check_args(method, args, 2)
            age, timeout = args
            if not isinstance(age, (int, float)) or not isinstance(timeout, (int, float)):
                raise errors.ProtocolError("AutoArchiveJobs takes two numbers")
            return queue.auto_archive(age, timeout)
        if method == "ChangeJobPriority":
            self._check_args(method, args, 2)
            priority = args[1]
            if not isinstance(priority, int) or not \
                    constants.OP_PRIO_HIGHEST <= priority <= constants.OP_PRIO_LOWEST:
                raise errors.ProtocolError("Invalid priority %r" % (priority,))
            return queue.change_priority(args[0], priority)
        if method == "SetDrainFlag":
            self._check_args(method, args, 1)
            return queue.set_drain_flag(bool(args[0]))
        if method == "QueryJobs":
            self._check_args(method, args, 2)
            self._check_fields(args[1])
            return queue.query_jobs(args[0], args[1])
        if method == "SetWatcherPause":
            self._check_args(method, args, 1)
            return self._set_watcher_pause(args[0])
        if method == "PickupJob":
            raise errors.ProtocolError("PickupJob is internal and not accepted from clients")
        raise errors.ProtocolError("Method '%s' is not served by the master daemon"
                                   % method)

    @staticmethod
    def _check_args(method: str, args: list, count: int) -> None:
        if len(args) != count:
            raise errors.ProtocolError("%s takes %d argument(s), %d given"
                                       % (method, count, len(args)))

    @staticmethod
    def _check_fields(fields) -> None:
        from ganeti.jqueue.job import JOB_FIELDS
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise errors.ProtocolError("Job fields must be a list of strings")
        unknown = [f for f in fields if f not in JOB_FIELDS]
        if unknown:
            raise errors.OpPrereqError("Unknown job field(s): %s" % ", ".join(unknown),
                                       errors.ECODE_INVAL)

    @staticmethod
    def _stamp_reason(ops, peer) -> list:
        """Record who submitted each opcode (audit trail beyond Ganeti's)."""
        if not isinstance(ops, list):
            raise errors.ProtocolError("A job must be a list of opcodes")
        pid, uid, _gid = peer
        stamped = []
        for op in ops:
            if not isinstance(op, dict):
                raise errors.ProtocolError("An opcode must be a JSON object")
            op = dict(op)
            reason = op.get("reason")
            reason = list(reason) if isinstance(reason, list) else []
            reason.append(["gnt:masterd:luxi", "uid=%d pid=%d" % (uid, pid),
                           time.time_ns()])
            op["reason"] = reason
            stamped.append(op)
        return stamped

    def _set_watcher_pause(self, until):
        if until is not None and not isinstance(until, (int, float)):
            raise errors.ProtocolError("SetWatcherPause takes a number or null")
        nodes = self.context.cfg.get_online_node_list()
        for res in self.context.rpc.call("set_watcher_pause", nodes, [until]).values():
            if res.fail_msg:
                logging.warning("Setting the watcher pause on %s failed: %s", res.node,
                                res.fail_msg)
        return until


def _executor(context: MasterContext):
    def run(job, index, op, feedback, notify_running):
        proc = mcpu.Processor(context)
        try:
            return proc.exec_opcode(op, feedback, notify_running, job.id,
                                    job.ops[index].priority)
        finally:
            if index == len(job.ops) - 1:
                context.after_job(job)
    return run


def prepare(options):
    master = ssconf.SimpleStore().get_master_node()
    myself = netutils.hostname()
    if master != myself:
        raise errors.GenericError("This node (%s) is not the master (%s)"
                                  % (myself, master))
    os.makedirs(pathutils.SOCKET_DIR, mode=0o770, exist_ok=True)
    # S1/S6: the socket is bound as root and given to the masterd user and the admin
    # group; root is dropped before the configuration and the queue are opened (so
    # their files belong to the masterd user) and before the first request.
    handler = LuxiHandler(None)
    server = luxi.Server(pathutils.MASTER_SOCKET, handler, name="masterd",
                         **privsep.socket_owner(constants.MASTERD))
    try:
        privsep.drop_privileges(constants.MASTERD)
        context = MasterContext()
        workers = max(1, context.cfg.get_cluster_info().max_running_jobs)
        context.queue = JobQueue(_executor(context), workers=workers,
                                 replicator=context.replicate_job_file)
    except BaseException:
        server.stop()
        raise
    handler.context = context
    server.start()
    return context, server


def serve(state, stop) -> None:
    context, server = state
    context.stop_event = stop
    stop.wait()
    server.stop()
    context.queue.shutdown(timeout=5)


def main(argv=None) -> int:
    from ganeti import _autoconf
    parser = daemon.build_parser(constants.MASTERD, "Ganeti master daemon")
    parser.add_argument("--no-voting", action="store_true",
                        help="Do not ask the other nodes whether this node is the master")
    parser.add_argument("--yes-do-it", action="store_true",
                        help="Confirm --no-voting")
    options = parser.parse_args(argv)
    return daemon.run_daemon(constants.MASTERD, options, prepare, serve,
                             user=_autoconf.MASTERD_USER)


__all__ = ["main", "MasterContext", "LuxiHandler"]
