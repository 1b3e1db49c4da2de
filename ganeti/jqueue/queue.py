"""The job queue of masterd: persistence, recovery, workers, waiting for changes.

Every job is a file ``job-<id>`` written atomically (fsync) on each status change, so a
restarted masterd finds every job; jobs found "running" after a crash end in error,
queued ones run again.
"""

import heapq
import itertools
import logging
import os
import threading
import time

from ganeti import constants
from ganeti import errors
from ganeti import opcodes
from ganeti import pathutils
from ganeti import serializer
from ganeti.jqueue.job import QueuedJob, timestamp
from ganeti.utils import io

UNCLEAN_SHUTDOWN_MSG = "Unclean master daemon shutdown"
# Opcode parameters whose values never reach a job file or a query answer (security
# stricter point 2): the queue keeps the real values in memory for the one LU.
SECRET_OP_PARAMS = ("osparams_secret", "osparams_private")
SECRETS_LOST_MSG = ("The secret parameters of this opcode were not kept over a master "
                    "daemon restart; submit the job again")


def split_secrets(op_dict: dict) -> tuple[dict, dict]:
    """(copy of ``op_dict`` with secret values redacted, {param: real values})."""
    kept = {}
    redacted = dict(op_dict)
    for name in SECRET_OP_PARAMS:
        value = op_dict.get(name)
        if isinstance(value, dict) and value:
            kept[name] = value
            redacted[name] = {key: constants.REDACTED for key in value}
    return redacted, kept


class _JobCanceled(Exception):
    """Raised by notify_running when the job was canceled while it waited."""


class JobStorage:
    """The queue directory: job files, archive, serial, drain flag."""

    def __init__(self, queue_dir: str | None = None):
        self.dir = queue_dir or pathutils.QUEUE_DIR
        self.archive_dir = os.path.join(self.dir, "archive")
        self.serial_file = os.path.join(self.dir, "serial")
        self.drain_file = os.path.join(self.dir, "drain")
        for path, mode in ((self.dir, 0o750), (self.archive_dir, 0o750)):
            os.makedirs(path, mode=mode, exist_ok=True)
        version_file = os.path.join(self.dir, "version")
        if not os.path.exists(version_file):
            io.write_file(version_file, "%d\n" % constants.JOB_QUEUE_VERSION, mode=0o640)

    def job_path(self, job_id: int) -> str:
        return os.path.join(self.dir, "job-%d" % job_id)

    def archived_path(self, job_id: int) -> str:
        return os.path.join(self.archive_dir,
                            str(job_id // constants.JOB_QUEUE_ARCHIVE_DIVISOR),
                            "job-%d" % job_id)

    def read_serial(self) -> int:
        try:
            return int(io.read_file(self.serial_file).strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def write_serial(self, serial: int) -> None:
        io.write_file(self.serial_file, "%d\n" % serial, mode=0o640)

    def write_job(self, job: QueuedJob, fsync: bool = True) -> str:
        text = serializer.dump_json(job.to_dict())
        io.write_file(self.job_path(job.id), text, mode=constants.JOB_QUEUE_FILES_PERMS,
                      fsync=fsync)
        return text

    def list_job_ids(self) -> list[int]:
        ids = []
        for name in os.listdir(self.dir):
            if name.startswith("job-") and name[4:].isdigit():
                ids.append(int(name[4:]))
        return sorted(ids)

    def load_job(self, job_id: int, archived: bool = False) -> QueuedJob | None:
        path = self.archived_path(job_id) if archived else self.job_path(job_id)
        try:
            data = serializer.load_json(io.read_file(path))
        except FileNotFoundError:
            return None
        except ValueError as err:
            raise errors.JobFileCorrupted("Job file %s is corrupted: %s" % (path, err)) from None
        return QueuedJob.from_dict(data, archived=archived)

    def archive(self, job: QueuedJob) -> None:
        dest = self.archived_path(job.id)
        os.makedirs(os.path.dirname(dest), mode=0o750, exist_ok=True)
        os.rename(self.job_path(job.id), dest)

    def is_drained(self) -> bool:
        return os.path.exists(self.drain_file)

    def set_drained(self, flag: bool) -> None:
        if flag:
            io.write_file(self.drain_file, "", mode=0o644)
        else:
            io.remove_file(self.drain_file)


class JobQueue:
    """Queue with a pool of worker threads executing jobs through ``executor``.

    ``executor(job, op_index, opcode, feedback)`` runs one opcode and returns its
    result; ``replicator(filename, text)`` (optional) copies job files to candidates.
    """

    def __init__(self, executor, storage: JobStorage | None = None,
                 workers: int = constants.DEFAULT_MAX_RUNNING_JOBS, replicator=None):
        self.storage = storage or JobStorage()
        self._executor = executor
        self._replicator = replicator
        self._lock = threading.RLock()
        self._jobs: dict[int, QueuedJob] = {}
        self._serial = self.storage.read_serial()
        self._runq: list = []
        self._runq_cv = threading.Condition(self._lock)
        self._seq = itertools.count()
        self._stopping = False
        self._workers: list[threading.Thread] = []
        self._running = 0
        # jobs a worker has taken; a job can have several run-queue entries (priority
        # changes), and only one worker may run it
        self._active: set[int] = set()
        # job id -> ids of jobs waiting for it to finish (job dependencies)
        self._parked: dict[int, set[int]] = {}
        # job id -> per opcode {param: real secret values}; never written anywhere
        self._secrets: dict[int, list[dict]] = {}
        self._recover()
        for i in range(workers):
            thread = threading.Thread(target=self._worker, name="JobWorker%d" % i,
                                      daemon=True)
            thread.start()
            self._workers.append(thread)

    # --- start-up --------------------------------------------------------
    def _recover(self) -> None:
        for job_id in self.storage.list_job_ids():
            try:
                job = self.storage.load_job(job_id)
            except errors.JobFileCorrupted as err:
                logging.error("%s", err)
                continue
            if job is None:
                continue
            self._serial = max(self._serial, job.id)
            status = job.calc_status()
            if status in (constants.JOB_STATUS_RUNNING, constants.JOB_STATUS_WAITING,
                          constants.JOB_STATUS_CANCELING):
                self._finalize_remaining(job, constants.OP_STATUS_ERROR,
                                         errors.encode_exception(
                                             errors.OpExecError(UNCLEAN_SHUTDOWN_MSG)))
                self._write(job)
                logging.warning("Job %s was %s at the last shutdown; marked as error",
                                job.id, status)
            elif status == constants.JOB_STATUS_QUEUED:
                self._enqueue(job)
            self._jobs[job.id] = job
        logging.info("Job queue recovered %d jobs, serial %d", len(self._jobs), self._serial)

    # --- submission ------------------------------------------------------------
    def submit(self, ops: list, drained_ok: bool = False) -> int:
        """Submit one job; invalid opcodes raise the error naming what is wrong."""
        import copy
        checked = self._check_ops(ops)
        with self._lock:
            # bad dependencies are bad input (not a full queue): raise their error
            self._resolve_dependencies(copy.deepcopy(checked), [])
        ok, value = self.submit_many([ops], drained_ok)[0]
        if not ok:
            raise errors.JobQueueFull(value)
        return value

    def submit_many(self, jobs: list, drained_ok: bool = False) -> list:
        """Returns ``[(True, id) | (False, message)]`` per job."""
        if not drained_ok and self.storage.is_drained():
            raise errors.JobQueueDrainError("Job queue is drained, refusing job")
        checked = []
        for ops in jobs:
            try:
                checked.append(self._check_ops(ops))
            except errors.GenericError as err:
                checked.append(err)
        results = []
        with self._lock:
            live = sum(1 for j in self._jobs.values() if not j.is_finalized())
            batch_ids: list = []
            for item in checked:
                if not isinstance(item, Exception):
                    try:
                        self._resolve_dependencies(item, batch_ids)
                    except errors.GenericError as err:
                        item = err
                if isinstance(item, Exception):
                    results.append((False, errors.format_error(item)))
                    batch_ids.append(None)
                    continue
                if live >= constants.JOB_QUEUE_SIZE_HARD_LIMIT:
                    results.append((False, "Job queue is full (%d live jobs)" % live))
                    batch_ids.append(None)
                    continue
                self._serial += 1
                batch_ids.append(self._serial)
                split = [split_secrets(op_dict) for op_dict in item]
                job = QueuedJob.new(self._serial, [redacted for redacted, _ in split])
                if any(kept for _, kept in split):
                    self._secrets[job.id] = [kept for _, kept in split]
                self._jobs[job.id] = job
                results.append((True, job.id))
                live += 1
            if any(r[0] for r in results):
                self.storage.write_serial(self._serial)
        for ok, job_id in results:
            if ok:
                self._write(self._jobs[job_id])
                with self._lock:
                    self._enqueue(self._jobs[job_id])
        return results

    def _resolve_dependencies(self, op_dicts: list[dict], batch_ids: list) -> None:
        """Check ``depends`` and make relative job ids (-1: the job submitted just
        before in the same call) absolute."""
        for op in op_dicts:
            depends = op.get("depends")
            if not depends:
                continue
            resolved = []
            for entry in depends:
                if not (isinstance(entry, list) and len(entry) == 2 and
                        isinstance(entry[0], int) and not isinstance(entry[0], bool) and
                        isinstance(entry[1], list)):
                    raise errors.OpPrereqError("Invalid job dependency %r: expected "
                                               "[job id, [statuses]]" % (entry,),
                                               errors.ECODE_INVAL)
                dep_id, statuses = entry
                bad = [s for s in statuses if s not in constants.JOBS_FINALIZED]
                if bad:
                    raise errors.OpPrereqError(
                        "Invalid status(es) %s in a job dependency (valid: %s)"
                        % (", ".join(map(str, bad)), ", ".join(sorted(
                            constants.JOBS_FINALIZED))), errors.ECODE_INVAL)
                if dep_id < 0:
                    index = len(batch_ids) + dep_id
                    if index < 0 or batch_ids[index] is None:
                        raise errors.OpPrereqError(
                            "Job dependency %d refers to no job submitted earlier in the "
                            "same call" % dep_id, errors.ECODE_INVAL)
                    dep_id = batch_ids[index]
                elif dep_id == 0 or dep_id > self._serial:
                    raise errors.OpPrereqError("Job dependency on unknown job %d" % dep_id,
                                               errors.ECODE_NOENT)
                resolved.append([dep_id, list(statuses)])
            op["depends"] = resolved

    def _dependency_state(self, job: QueuedJob) -> tuple:
        """("ok",), ("wait", job id) or ("fail", message) for the job's next opcode."""
        for qop in job.ops:
            if qop.status in constants.OPS_FINALIZED:
                continue
            for dep_id, statuses in qop.input.get("depends") or []:
                dep = self.get_job(dep_id)
                if dep is None:
                    return ("fail", "Dependency job %s not found" % dep_id)
                if not dep.is_finalized():
                    return ("wait", dep.id)
                status = dep.calc_status()
                if statuses and status not in statuses:
                    return ("fail", "Dependency job %s ended in status %s, not one of %s"
                            % (dep_id, status, ", ".join(statuses)))
            return ("ok",)
        return ("ok",)

    def _requeue_waiters(self, job_id: int) -> None:
        """Jobs parked on ``job_id`` go back to the run queue (lock held)."""
        for waiter in self._parked.pop(job_id, ()):
            job = self._jobs.get(waiter)
            if job is not None and not job.is_finalized():
                self._enqueue(job)

    @staticmethod
    def _check_ops(ops) -> list[dict]:
        if not isinstance(ops, list) or not ops:
            raise errors.OpPrereqError("A job must be a non-empty list of opcodes",
                                       errors.ECODE_INVAL)
        result = []
        for op_dict in ops:
            op = opcodes.OpCode.from_dict(op_dict)
            op.validate(set_defaults=False)
            result.append(op.to_dict())
        return result

    def _enqueue(self, job: QueuedJob) -> None:
        with self._lock:
            heapq.heappush(self._runq, (job.calc_priority(), next(self._seq), job.id))
            self._runq_cv.notify()

    # --- workers ---------------------------------------------------------------
    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._runq and not self._stopping:
                    self._runq_cv.wait()
                if self._stopping:
                    return
                _prio, _seq, job_id = heapq.heappop(self._runq)
                job = self._jobs.get(job_id)
                if job is None or job.id in self._active or \
                        job.calc_status() not in (constants.JOB_STATUS_QUEUED,
                                                  constants.JOB_STATUS_WAITING):
                    continue
                state = self._dependency_state(job)
                if state[0] == "wait":
                    self._park(job, state[1])
                    continue
                self._active.add(job.id)
                self._running += 1
            try:
                if state[0] == "fail":
                    self._fail_dependency(job, state[1])
                else:
                    self._run_job(job)
            except Exception:  # noqa: BLE001 - a job never takes the worker down
                logging.exception("Unhandled error while running job %s", job.id)
            finally:
                with self._lock:
                    self._running -= 1
                    self._active.discard(job.id)
                    if job.is_finalized():
                        self._secrets.pop(job.id, None)
                        self._requeue_waiters(job.id)

    def _park(self, job: QueuedJob, dep_id: int) -> None:
        """Wait (without a worker) for job ``dep_id`` to finish (lock held)."""
        self._parked.setdefault(dep_id, set()).add(job.id)
        with job.changed:
            for qop in job.ops:
                if qop.status not in constants.OPS_FINALIZED:
                    if qop.status == constants.OP_STATUS_QUEUED:
                        qop.status = constants.OP_STATUS_WAITING
                        job.notify_locked()
                    break
        dep = self.get_job(dep_id)
        if dep is not None and dep.is_finalized():  # finished meanwhile
            self._requeue_waiters(dep_id)

    def _fail_dependency(self, job: QueuedJob, message: str) -> None:
        with job.changed:
            self._finalize_remaining(job, constants.OP_STATUS_ERROR,
                                     errors.encode_exception(errors.OpExecError(message)))
            job.notify_locked()
        self._write(job)

    def _run_job(self, job: QueuedJob) -> None:
        job.start_timestamp = job.start_timestamp or timestamp()
        job.process_id = os.getpid()
        for index, qop in enumerate(job.ops):
            if qop.status in constants.OPS_FINALIZED:
                continue
            with job.changed:
                if qop.status == constants.OP_STATUS_CANCELING:
                    break
                qop.status = constants.OP_STATUS_WAITING
                qop.start_timestamp = timestamp()
                job.notify_locked()
            op = opcodes.OpCode.from_dict(qop.input)

            def feedback(*args, _index=index):
                if len(args) == 1:
                    log_type, message = constants.ELOG_MESSAGE, args[0]
                else:
                    log_type, message = args[0], args[1]
                job.add_log(_index, log_type, message)

            def notify_running(_qop=qop):
                with job.changed:
                    # canceled while waiting for locks: the opcode must not run
                    if _qop.status == constants.OP_STATUS_CANCELING:
                        raise _JobCanceled()
                    _qop.status = constants.OP_STATUS_RUNNING
                    _qop.exec_timestamp = timestamp()
                    job.notify_locked()
                self._write(job)

            try:
                result = self._executor(job, index, self._with_secrets(job, index, op),
                                        feedback, notify_running)
            except _JobCanceled:
                break
            except Exception as err:  # noqa: BLE001 - recorded in the job
                if not isinstance(err, errors.GenericError):
                    logging.exception("Error in opcode %s of job %s", op.OP_ID, job.id)
                else:
                    logging.info("Opcode %s of job %s failed: %s", op.OP_ID, job.id,
                                 errors.format_error(err))
                encoded = errors.encode_exception(err)
                with job.changed:
                    qop.status = constants.OP_STATUS_ERROR
                    qop.result = encoded
                    qop.end_timestamp = timestamp()
                    self._finalize_remaining(job, constants.OP_STATUS_ERROR,
                                             errors.encode_exception(errors.OpExecError(
                                                 "Preceding opcode failed")))
                    job.end_timestamp = timestamp()
                    job.notify_locked()
                    text = self._write_locked(job)
                self._replicate(job, text)
                return
            with job.changed:
                qop.status = constants.OP_STATUS_SUCCESS
                qop.result = result
                qop.end_timestamp = timestamp()
                if index == len(job.ops) - 1:
                    job.end_timestamp = timestamp()
                job.notify_locked()
                text = self._write_locked(job)
            self._replicate(job, text)
        if job.calc_status() == constants.JOB_STATUS_CANCELING:
            with job.changed:
                self._finalize_remaining(job, constants.OP_STATUS_CANCELED,
                                         "Job canceled by request")
                job.end_timestamp = timestamp()
                job.notify_locked()
                text = self._write_locked(job)
            self._replicate(job, text)

    def _with_secrets(self, job: QueuedJob, index: int, op):
        """The opcode with its real secret values (they live only in memory)."""
        with self._lock:
            kept = (self._secrets.get(job.id) or [{}] * (index + 1))[index]
        for name in SECRET_OP_PARAMS:
            if name in kept:
                setattr(op, name, dict(kept[name]))
            elif any(v == constants.REDACTED for v in (getattr(op, name, None) or {})
                     .values()):
                raise errors.OpExecError(SECRETS_LOST_MSG)
        return op

    @staticmethod
    def _finalize_remaining(job: QueuedJob, status: str, result) -> None:
        for qop in job.ops:
            if qop.status not in constants.OPS_FINALIZED:
                qop.status = status
                qop.result = result
                qop.end_timestamp = timestamp()
        job.end_timestamp = job.end_timestamp or timestamp()

    def _write(self, job: QueuedJob) -> None:
        with job.changed:
            text = self.storage.write_job(job)
        self._replicate(job, text)

    def _write_locked(self, job: QueuedJob) -> str:
        """Write the job file while ``job.changed`` is held by the caller.

        A change that finishes a job is written before the lock is released, so that
        whoever sees the job finished (waiters, archive) also finds it so on disk.
        """
        return self.storage.write_job(job)

    def _replicate(self, job: QueuedJob, text: str) -> None:
        if self._replicator is not None:
            self._replicator(os.path.basename(self.storage.job_path(job.id)), text)

    # --- queries and control -------------------------------------------------
    def get_job(self, job_id, include_archived: bool = True) -> QueuedJob | None:
        try:
            job_id = int(job_id)
        except (TypeError, ValueError):
            raise errors.OpPrereqError("Invalid job id %r" % (job_id,),
                                       errors.ECODE_INVAL) from None
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and include_archived:
            job = self.storage.load_job(job_id, archived=True)
        return job

    def query_jobs(self, job_ids, fields: list[str]) -> list:
        if job_ids is None:
            with self._lock:
                ids = sorted(self._jobs)
        else:
            ids = job_ids
        result = []
        for job_id in ids:
            job = self.get_job(job_id)
            result.append(job.get_info(fields) if job else None)
        return result

    def wait_for_job_change(self, job_id, fields, prev_job_info, prev_log_serial,
                            timeout) -> object:
        job = self.get_job(job_id)
        if job is None:
            raise errors.JobLost("Job %s not found" % job_id)
        timeout = min(float(timeout or 0), constants.JOB_WAIT_TIMEOUT_MAX)
        deadline = time.monotonic() + timeout
        with job.changed:
            while True:
                info = job.get_info(fields)
                entries = job.get_log_entries(prev_log_serial)
                if info != prev_job_info or entries or job.is_finalized():
                    if info == prev_job_info and not entries and job.is_finalized() \
                            and prev_job_info is not None:
                        return [info, []]
                    return [info, entries]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "nochange"
                job.changed.wait(remaining)

    def cancel_job(self, job_id, kill: bool = False) -> list:
        job = self.get_job(job_id, include_archived=False)
        if job is None:
            return [False, "Job %s not found" % job_id]
        with job.changed:
            status = job.calc_status()
            if status in constants.JOBS_FINALIZED:
                return [False, "Job %s is no longer waiting in the queue" % job.id]
            if status == constants.JOB_STATUS_RUNNING:
                return [False, "Job %s is running and can no longer be canceled "
                        "(jobs run as threads of masterd and cannot be killed)" % job.id]
            with self._lock:
                parked = job.id not in self._active and any(
                    job.id in waiters for waiters in self._parked.values())
            if status == constants.JOB_STATUS_WAITING and not parked:
                for qop in job.ops:
                    if qop.status not in constants.OPS_FINALIZED:
                        qop.status = constants.OP_STATUS_CANCELING
                job.notify_locked()
                self._write(job)
                return [True, "Job %s will be canceled" % job.id]
            self._finalize_remaining(job, constants.OP_STATUS_CANCELED,
                                     "Job canceled by request")
            job.notify_locked()
            text = self._write_locked(job)
        with self._lock:
            self._secrets.pop(job.id, None)
            for waiters in self._parked.values():
                waiters.discard(job.id)
            self._requeue_waiters(job.id)
        self._replicate(job, text)
        return [True, "Job %s canceled" % job.id]

    def change_priority(self, job_id, priority: int) -> list:
        job = self.get_job(job_id, include_archived=False)
        if job is None:
            return [False, "Job %s not found" % job_id]
        with job.changed:
            if job.calc_status() != constants.JOB_STATUS_QUEUED:
                return [False, "Job %s is not queued any more" % job.id]
            for qop in job.ops:
                qop.priority = priority
            job.notify_locked()
        self._write(job)
        self._enqueue(job)
        return [True, "Priority of job %s changed to %s" % (job.id, priority)]

    def archive_job(self, job_id) -> bool:
        job = self.get_job(job_id, include_archived=False)
        if job is None or not job.is_finalized():
            return False
        with self._lock, job.changed:
            if not job.is_finalized() or job.archived:
                return False
            self.storage.archive(job)
            job.archived = True
            self._jobs.pop(job.id, None)
        return True

    def auto_archive(self, age: float, timeout: float) -> list:
        now = time.time()
        deadline = time.monotonic() + max(0.0, float(timeout))
        archived = 0
        with self._lock:
            candidates = sorted(self._jobs.values(), key=lambda j: j.id)
        left = 0
        for job in candidates:
            if not job.is_finalized():
                continue
            if time.monotonic() > deadline:
                left += 1
                continue
            end = job.end_timestamp or job.received_timestamp or [now, 0]
            if age < 0 or now - end[0] >= age:
                if self.archive_job(job.id):
                    archived += 1
        return [archived, left]

    def set_drain_flag(self, flag: bool) -> bool:
        self.storage.set_drained(bool(flag))
        return True

    def is_drained(self) -> bool:
        return self.storage.is_drained()

    def stats(self) -> dict:
        with self._lock:
            return {"jobs": len(self._jobs), "running": self._running,
                    "queued": len(self._runq)}

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            self._runq_cv.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
