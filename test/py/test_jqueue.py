"""Tests for the job queue (ganeti.jqueue): job files, recovery after a crash, serials,
drain, cancel, waiting for changes, archiving and failure handling.

Every queue works in a temporary directory with a fake executor; executors that must
hold a job block on events which teardown releases, so no test can hang.
"""

import json
import os
import threading
import time

import pytest

from ganeti import constants, errors
from ganeti.jqueue import queue as jqueue
from ganeti.jqueue.job import QueuedJob
from ganeti.jqueue.queue import JobQueue, JobStorage


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.1fs" % (what, timeout))
        time.sleep(0.005)


def op(comment=None, **kwargs):
    result = {"OP_ID": "OP_TEST_DELAY", "duration": 0}
    if comment is not None:
        result["comment"] = comment
    result.update(kwargs)
    return result


class Executor:
    """Runs fake opcodes; ``op.comment`` selects the behaviour.

    ``block:NAME`` waits (after notify_running) for gate NAME, ``wait:NAME`` waits
    before notify_running (a job still waiting for its locks), ``fail`` raises
    OpExecError, ``prereq`` OpPrereqError, ``crash`` a non-Ganeti exception,
    ``log`` sends two feedback messages.
    """

    def __init__(self):
        self.calls = []
        self.started = []
        self._lock = threading.Lock()
        self._gates = {}

    def gate(self, name):
        with self._lock:
            return self._gates.setdefault(name, threading.Event())

    def release_all(self):
        with self._lock:
            gates = list(self._gates.values())
        for gate in gates:
            gate.set()

    def calls_for(self, job_id):
        with self._lock:
            return [c for c in self.calls if c[0] == job_id]

    def __call__(self, job, index, opcode, feedback, notify_running):
        action = opcode.comment or ""
        with self._lock:
            self.started.append((job.id, index))
        if action.startswith("wait:"):
            assert self.gate(action[5:]).wait(10)
        notify_running()
        with self._lock:
            self.calls.append((job.id, index, opcode.OP_ID, action))
        if action.startswith("block:"):
            assert self.gate(action[6:]).wait(10)
        if action == "fail":
            raise errors.OpExecError("boom")
        if action == "prereq":
            raise errors.OpPrereqError("bad input", errors.ECODE_INVAL)
        if action == "crash":
            raise RuntimeError("executor bug")
        if action == "log":
            feedback("hello")
            feedback("custom-type", {"k": 1})
        return "result-%d-%d" % (job.id, index)


@pytest.fixture
def qdir(tmp_path):
    return str(tmp_path / "queue")


@pytest.fixture
def make_queue(qdir):
    made = []

    def make(workers=2, executor=None, replicator=None, queue_cls=JobQueue):
        executor = executor or Executor()
        queue = queue_cls(executor, storage=JobStorage(qdir), workers=workers,
                          replicator=replicator)
        queue.test_executor = executor
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.test_executor.release_all()
        queue.shutdown(timeout=2)


def status_of(queue, job_id):
    return queue.get_job(job_id).calc_status()


def wait_status(queue, job_id, statuses, timeout=5.0):
    if isinstance(statuses, str):
        statuses = (statuses,)
    wait_for(lambda: status_of(queue, job_id) in statuses, timeout,
             "job %s in %s" % (job_id, statuses))


def read_job_file(qdir, job_id):
    with open(os.path.join(qdir, "job-%d" % job_id)) as fh:
        return json.load(fh)


def final_job_file(qdir, job_id, timeout=5.0):
    """The job file once it records a finished job (it is written after the change
    becomes visible in memory)."""
    def finished():
        data = read_job_file(qdir, job_id)
        return data["end_timestamp"] is not None and all(
            o["status"] in ("success", "error", "canceled") for o in data["ops"])
    wait_for(finished, timeout, "finished job file %s" % job_id)
    return read_job_file(qdir, job_id)


def is_ts(value):
    return (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int)
                                                                for v in value)
            and value[0] > 1_000_000_000 and 0 <= value[1] < 1_000_000)


def write_raw_job(qdir, job_id, op_statuses, extra=None):
    """A job file as a crashed master would have left it."""
    ops = []
    for index, status in enumerate(op_statuses):
        ops.append({"input": op("raw%d" % index), "status": status,
                    "result": "done" if status == "success" else None, "log": [],
                    "priority": 0, "start_timestamp": None, "exec_timestamp": None,
                    "end_timestamp": None})
    data = {"id": job_id, "ops": ops, "received_timestamp": [1700000000, 5],
            "start_timestamp": None, "end_timestamp": None}
    data.update(extra or {})
    os.makedirs(qdir, exist_ok=True)
    with open(os.path.join(qdir, "job-%d" % job_id), "w") as fh:
        json.dump(data, fh)


# --- storage layout and job files ------------------------------------------------

def test_storage_creates_queue_layout(qdir):
    JobStorage(qdir)
    assert os.path.isdir(os.path.join(qdir, "archive"))
    with open(os.path.join(qdir, "version")) as fh:
        assert fh.read() == "1\n"
    assert os.stat(qdir).st_mode & 0o777 == 0o750


def test_queued_job_file_format(make_queue, qdir):
    queue = make_queue(workers=0)
    job_id = queue.submit([op("a"), op("b", priority=constants.OP_PRIO_HIGH)])
    assert job_id == 1
    data = read_job_file(qdir, job_id)
    assert data["id"] == 1
    assert is_ts(data["received_timestamp"])
    assert data["start_timestamp"] is None and data["end_timestamp"] is None
    assert len(data["ops"]) == 2
    for entry in data["ops"]:
        assert set(entry) == {"input", "status", "result", "log", "priority",
                              "start_timestamp", "exec_timestamp", "end_timestamp"}
        assert entry["status"] == "queued"
        assert entry["log"] == [] and entry["result"] is None
    assert data["ops"][0]["input"]["OP_ID"] == "OP_TEST_DELAY"
    assert data["ops"][0]["input"]["comment"] == "a"
    assert data["ops"][1]["priority"] == constants.OP_PRIO_HIGH
    assert data["ops"][0]["priority"] == constants.OP_PRIO_DEFAULT
    assert os.stat(os.path.join(qdir, "job-1")).st_mode & 0o777 == 0o640
    with open(os.path.join(qdir, "serial")) as fh:
        assert fh.read() == "1\n"


def test_finished_job_file_format(make_queue, qdir):
    queue = make_queue()
    job_id = queue.submit([op("log"), op()])
    wait_status(queue, job_id, "success")
    data = final_job_file(qdir, job_id)
    assert is_ts(data["start_timestamp"]) and is_ts(data["end_timestamp"])
    assert data["process_id"] == os.getpid()
    first, second = data["ops"]
    assert first["status"] == second["status"] == "success"
    assert first["result"] == "result-%d-0" % job_id
    assert second["result"] == "result-%d-1" % job_id
    for entry in (first, second):
        assert is_ts(entry["start_timestamp"])
        assert is_ts(entry["exec_timestamp"])
        assert is_ts(entry["end_timestamp"])
        assert entry["start_timestamp"] <= entry["exec_timestamp"] <= \
            entry["end_timestamp"]
    log = first["log"]
    assert [e[0] for e in log] == [1, 2]
    assert all(is_ts(e[1]) for e in log)
    assert [e[2:] for e in log] == [["message", "hello"], ["custom-type", {"k": 1}]]
    assert second["log"] == []


def test_replicator_gets_the_file_content(make_queue, qdir):
    copies = {}
    queue = make_queue(replicator=lambda name, text: copies.__setitem__(name, text))
    job_id = queue.submit([op()])
    wait_status(queue, job_id, "success")
    with open(os.path.join(qdir, "job-%d" % job_id)) as fh:
        on_disk = fh.read()
    wait_for(lambda: copies.get("job-%d" % job_id) == on_disk, what="replicated copy")


def test_invalid_submissions(make_queue):
    queue = make_queue(workers=0)
    with pytest.raises(errors.OpPrereqError, match="Unknown opcode"):
        queue.submit([{"OP_ID": "OP_NOPE"}])
    with pytest.raises(errors.OpPrereqError, match="non-empty list"):
        queue.submit([])
    with pytest.raises(errors.OpPrereqError, match="duration"):
        queue.submit([op(duration="long")])
    with pytest.raises(errors.OpPrereqError, match="not valid"):
        queue.submit([op(nonsense=1)])
    assert queue.query_jobs(None, ["id"]) == []


def test_submit_many_reports_per_job(make_queue):
    queue = make_queue(workers=0)
    results = queue.submit_many([[op()], [{"OP_ID": "OP_NOPE"}], "not a list", [op()]])
    assert results[0] == (True, 1)
    assert results[1][0] is False and "Unknown opcode" in results[1][1]
    assert results[2][0] is False and "non-empty list" in results[2][1]
    assert results[3] == (True, 2)


def test_queue_hard_limit(make_queue, monkeypatch):
    monkeypatch.setattr(constants, "JOB_QUEUE_SIZE_HARD_LIMIT", 2)
    queue = make_queue(workers=0)
    results = queue.submit_many([[op()], [op()], [op()]])
    assert [r[0] for r in results] == [True, True, False]
    assert "full" in results[2][1]
    with pytest.raises(errors.JobQueueFull):
        queue.submit([op()])


# --- recovery --------------------------------------------------------------------

@pytest.mark.parametrize("left_status", ["running", "waiting", "canceling"])
def test_unfinished_job_marked_error_after_crash(make_queue, qdir, left_status):
    write_raw_job(qdir, 5, ["success", left_status, "queued"])
    queue = make_queue()
    job = queue.get_job(5)
    assert job.calc_status() == "error"
    assert [o.status for o in job.ops] == ["success", "error", "error"]
    unclean = ["OpExecError", ["Unclean master daemon shutdown"]]
    assert job.ops[1].result == unclean and job.ops[2].result == unclean
    assert job.ops[0].result == "done"
    data = read_job_file(qdir, 5)
    assert [o["status"] for o in data["ops"]] == ["success", "error", "error"]
    assert data["ops"][1]["result"] == unclean
    assert is_ts(data["end_timestamp"])
    time.sleep(0.05)
    assert queue.test_executor.calls_for(5) == []


def test_queued_job_runs_after_restart(make_queue, qdir):
    write_raw_job(qdir, 3, ["queued", "queued"])
    queue = make_queue()
    wait_status(queue, 3, "success")
    assert [c[1] for c in queue.test_executor.calls_for(3)] == [0, 1]
    assert final_job_file(qdir, 3)["ops"][1]["result"] == "result-3-1"


def test_partly_done_queued_job_resumes_at_first_pending_opcode(make_queue, qdir):
    write_raw_job(qdir, 4, ["success", "queued"])
    queue = make_queue()
    wait_status(queue, 4, "success")
    assert [c[1] for c in queue.test_executor.calls_for(4)] == [1]
    assert queue.get_job(4).ops[0].result == "done"


def test_finished_jobs_are_left_alone_on_restart(make_queue, qdir):
    write_raw_job(qdir, 2, ["success"], {"end_timestamp": [1700000001, 0]})
    before = read_job_file(qdir, 2)
    queue = make_queue()
    assert status_of(queue, 2) == "success"
    assert read_job_file(qdir, 2) == before


def test_corrupted_job_file_is_skipped(make_queue, qdir):
    os.makedirs(qdir, exist_ok=True)
    with open(os.path.join(qdir, "job-7"), "w") as fh:
        fh.write("{garbage")
    write_raw_job(qdir, 8, ["queued"])
    queue = make_queue()
    wait_status(queue, 8, "success")
    assert queue.get_job(7) is None
    assert queue.submit([op()]) == 9


def test_serial_is_monotonic_across_restarts(make_queue, qdir):
    q1 = make_queue()
    ids = [q1.submit([op()]) for _ in range(3)]
    assert ids == [1, 2, 3]
    for job_id in ids:
        wait_status(q1, job_id, "success")
        assert q1.archive_job(job_id)
    q1.shutdown()
    q2 = make_queue()
    assert q2.submit([op()]) == 4
    with open(os.path.join(qdir, "serial")) as fh:
        assert fh.read() == "4\n"


def test_serial_never_below_existing_job_ids(make_queue, qdir):
    write_raw_job(qdir, 41, ["success"])
    JobStorage(qdir).write_serial(3)
    queue = make_queue(workers=0)
    assert queue.submit([op()]) == 42


# --- drain ----------------------------------------------------------------------

def test_drain_flag_refuses_submissions(make_queue, qdir):
    queue = make_queue(workers=0)
    assert queue.set_drain_flag(True) is True
    assert queue.is_drained()
    drain = os.path.join(qdir, "drain")
    assert os.path.exists(drain)
    assert os.stat(drain).st_mode & 0o777 == 0o644
    with pytest.raises(errors.JobQueueDrainError):
        queue.submit([op()])
    with pytest.raises(errors.JobQueueDrainError):
        queue.submit_many([[op()]])
    assert queue.submit([op()], drained_ok=True) == 1
    queue.set_drain_flag(False)
    assert not os.path.exists(drain)
    assert queue.submit([op()]) == 2


def test_drain_flag_survives_restart(make_queue):
    make_queue(workers=0).set_drain_flag(True)
    queue = make_queue(workers=0)
    with pytest.raises(errors.JobQueueDrainError):
        queue.submit([op()])


# --- failures ---------------------------------------------------------------------

def test_failing_opcode_fails_the_rest(make_queue, qdir):
    queue = make_queue()
    job_id = queue.submit([op(), op("fail"), op(), op()])
    wait_status(queue, job_id, "error")
    job = queue.get_job(job_id)
    assert [o.status for o in job.ops] == ["success", "error", "error", "error"]
    assert job.ops[1].result == ["OpExecError", ["boom"]]
    preceding = ["OpExecError", ["Preceding opcode failed"]]
    assert job.ops[2].result == preceding and job.ops[3].result == preceding
    assert [c[1] for c in queue.test_executor.calls_for(job_id)] == [0, 1]
    data = final_job_file(qdir, job_id)
    assert [o["status"] for o in data["ops"]] == ["success", "error", "error", "error"]
    assert is_ts(data["end_timestamp"])
    assert all(is_ts(o["end_timestamp"]) for o in data["ops"])


def test_prereq_error_keeps_its_class_and_code(make_queue):
    queue = make_queue()
    job_id = queue.submit([op("prereq")])
    wait_status(queue, job_id, "error")
    assert queue.get_job(job_id).ops[0].result == ["OpPrereqError",
                                                   ["bad input", "wrong_input"]]


def test_executor_crash_never_kills_the_worker(make_queue):
    queue = make_queue(workers=1)
    bad = queue.submit([op("crash")])
    wait_status(queue, bad, "error")
    result = queue.get_job(bad).ops[0].result
    assert result[0] == "GenericError"
    assert "RuntimeError" in result[1][0] and "executor bug" in result[1][0]
    good = queue.submit([op()])
    wait_status(queue, good, "success")


def test_error_outside_the_executor_never_kills_the_worker(make_queue, monkeypatch):
    queue = make_queue(workers=1)
    calls = {"n": 0}
    original = jqueue.JobQueue._run_job

    def flaky_run_job(self, job):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug in the queue")
        return original(self, job)

    monkeypatch.setattr(jqueue.JobQueue, "_run_job", flaky_run_job)
    queue.submit([op()])
    wait_for(lambda: calls["n"] == 1)
    good = queue.submit([op()])
    wait_status(queue, good, "success")


# --- cancel and priority ---------------------------------------------------------

def test_cancel_queued_job(make_queue, qdir):
    queue = make_queue(workers=1)
    gate = queue.test_executor.gate("g")
    blocker = queue.submit([op("block:g")])
    wait_status(queue, blocker, "running")
    victim = queue.submit([op(), op()])
    assert queue.cancel_job(victim) == [True, "Job %d canceled" % victim]
    job = queue.get_job(victim)
    assert job.calc_status() == "canceled"
    assert [o.result for o in job.ops] == ["Job canceled by request"] * 2
    assert [o["status"] for o in read_job_file(qdir, victim)["ops"]] == ["canceled"] * 2
    gate.set()
    wait_status(queue, blocker, "success")
    after = queue.submit([op()])
    wait_status(queue, after, "success")
    assert queue.test_executor.calls_for(victim) == []
    assert queue.cancel_job(victim)[0] is False
    assert "no longer waiting" in queue.cancel_job(victim)[1]


def test_cancel_running_job_refused(make_queue):
    queue = make_queue()
    gate = queue.test_executor.gate("g")
    job_id = queue.submit([op("block:g")])
    wait_status(queue, job_id, "running")
    ok, message = queue.cancel_job(job_id)
    assert ok is False and "running" in message
    gate.set()
    wait_status(queue, job_id, "success")


def test_cancel_unknown_job(make_queue):
    queue = make_queue(workers=0)
    assert queue.cancel_job(99) == [False, "Job 99 not found"]


def test_cancel_waiting_job_does_not_run_it(make_queue, qdir):
    queue = make_queue(workers=1)
    gate = queue.test_executor.gate("locks")
    job_id = queue.submit([op("wait:locks"), op()])
    wait_status(queue, job_id, "waiting")
    ok, message = queue.cancel_job(job_id)
    assert ok is True and "will be canceled" in message
    assert status_of(queue, job_id) == "canceling"
    gate.set()
    wait_status(queue, job_id, ("canceled", "success", "error"))
    assert status_of(queue, job_id) == "canceled"
    assert queue.test_executor.calls_for(job_id) == []
    assert [o.status for o in queue.get_job(job_id).ops] == ["canceled", "canceled"]
    assert [o["status"] for o in final_job_file(qdir, job_id)["ops"]] == [
        "canceled", "canceled"]


def test_change_priority(make_queue, qdir):
    queue = make_queue(workers=0)
    job_id = queue.submit([op(), op()])
    assert queue.get_job(job_id).calc_priority() == 0
    ok, _msg = queue.change_priority(job_id, constants.OP_PRIO_LOW)
    assert ok is True
    assert queue.get_job(job_id).calc_priority() == constants.OP_PRIO_LOW
    assert [o["priority"] for o in read_job_file(qdir, job_id)["ops"]] == [10, 10]
    assert queue.change_priority(12345, 0) == [False, "Job 12345 not found"]


def test_change_priority_of_running_job_refused(make_queue):
    queue = make_queue()
    gate = queue.test_executor.gate("g")
    job_id = queue.submit([op("block:g")])
    wait_status(queue, job_id, "running")
    ok, message = queue.change_priority(job_id, constants.OP_PRIO_LOW)
    assert ok is False and "not queued" in message
    gate.set()


def test_higher_priority_job_runs_first(make_queue):
    queue = make_queue(workers=1)
    gate = queue.test_executor.gate("g")
    blocker = queue.submit([op("block:g")])
    wait_status(queue, blocker, "running")
    low = queue.submit([op(priority=constants.OP_PRIO_LOW)])
    high = queue.submit([op(priority=constants.OP_PRIO_HIGH)])
    gate.set()
    wait_status(queue, low, "success")
    order = [c[0] for c in queue.test_executor.calls]
    assert order.index(high) < order.index(low)


class _SlowStartQueue(JobQueue):
    """Widens the window between taking a job off the run queue and starting it."""

    def _run_job(self, job):
        time.sleep(0.2)
        super()._run_job(job)


def test_job_with_changed_priority_runs_once(make_queue):
    queue = make_queue(workers=2, queue_cls=_SlowStartQueue)
    gate = queue.test_executor.gate("g")
    blockers = [queue.submit([op("block:g")]) for _ in range(2)]
    for job_id in blockers:
        wait_status(queue, job_id, "running")
    victim = queue.submit([op()])
    assert queue.change_priority(victim, constants.OP_PRIO_HIGH)[0] is True
    gate.set()
    wait_status(queue, victim, "success")
    time.sleep(0.5)
    assert len(queue.test_executor.calls_for(victim)) == 1


# --- waiting for changes ----------------------------------------------------------

def test_wait_for_job_change_times_out_with_nochange(make_queue):
    queue = make_queue()
    gate = queue.test_executor.gate("g")
    job_id = queue.submit([op("block:g")])
    wait_status(queue, job_id, "running")
    start = time.monotonic()
    result = queue.wait_for_job_change(job_id, ["status"], ["running"], None, 0.3)
    assert result == "nochange"
    assert time.monotonic() - start >= 0.25
    gate.set()


def test_wait_for_job_change_returns_new_info_at_once(make_queue):
    queue = make_queue(workers=0)
    job_id = queue.submit([op()])
    start = time.monotonic()
    result = queue.wait_for_job_change(job_id, ["status", "id"], None, None, 5)
    assert result == [["queued", job_id], []]
    assert time.monotonic() - start < 1


def test_wait_for_job_change_wakes_up_on_change(make_queue):
    queue = make_queue()
    gate = queue.test_executor.gate("g")
    job_id = queue.submit([op("block:g")])
    wait_status(queue, job_id, "running")
    threading.Timer(0.2, gate.set).start()
    start = time.monotonic()
    result = queue.wait_for_job_change(job_id, ["status"], ["running"], None, 5)
    assert result[0] == ["success"]
    assert time.monotonic() - start < 3


def test_wait_for_job_change_returns_log_entries(make_queue):
    queue = make_queue()
    job_id = queue.submit([op("log")])
    wait_status(queue, job_id, "success")
    info, entries = queue.wait_for_job_change(job_id, ["status"], None, None, 1)
    assert info == ["success"]
    assert [(e[0], e[2], e[3]) for e in entries] == [(1, "message", "hello"),
                                                     (2, "custom-type", {"k": 1})]
    assert all(is_ts(e[1]) for e in entries)
    info, entries = queue.wait_for_job_change(job_id, ["status"], ["success"], 1, 1)
    assert [e[0] for e in entries] == [2]
    # finished and nothing new: returns at once with no entries
    start = time.monotonic()
    assert queue.wait_for_job_change(job_id, ["status"], ["success"], 2, 5) == [
        ["success"], []]
    assert time.monotonic() - start < 1


def test_wait_for_unknown_job(make_queue):
    queue = make_queue(workers=0)
    with pytest.raises(errors.JobLost):
        queue.wait_for_job_change(77, ["status"], None, None, 0.1)


def test_log_serial_continues_after_restart(make_queue):
    q1 = make_queue(workers=1)
    job_id = q1.submit([op("log"), op()])
    wait_status(q1, job_id, "success")
    q1.shutdown()
    q2 = make_queue(workers=0)
    job = q2.get_job(job_id)
    assert job.log_serial == 2
    job.add_log(1, "message", "more")
    assert job.get_log_entries(2)[0][0] == 3


# --- queries --------------------------------------------------------------------

def test_query_jobs(make_queue):
    queue = make_queue()
    job_id = queue.submit([op(), op("fail")])
    wait_status(queue, job_id, "error")
    rows = queue.query_jobs([job_id, 999], ["id", "status", "opstatus", "summary",
                                            "priority"])
    assert rows[0] == [job_id, "error", ["success", "error"],
                       ["TEST_DELAY(0.0)", "TEST_DELAY(0.0)"], 0]
    assert rows[1] is None
    assert [r[0] for r in queue.query_jobs(None, ["id"])] == [job_id]


def test_get_job_refuses_invalid_id(make_queue):
    queue = make_queue(workers=0)
    with pytest.raises(errors.OpPrereqError, match="Invalid job id"):
        queue.get_job("abc")
    assert queue.get_job("1") is None


def test_unknown_job_field(make_queue):
    queue = make_queue(workers=0)
    job_id = queue.submit([op()])
    with pytest.raises(errors.OpPrereqError, match="Unknown job field"):
        queue.query_jobs([job_id], ["bogus"])


# --- archive ---------------------------------------------------------------------

def test_archive_moves_the_file(make_queue, qdir):
    queue = make_queue()
    job_id = queue.submit([op()])
    wait_status(queue, job_id, "success")
    assert queue.archive_job(job_id) is True
    assert not os.path.exists(os.path.join(qdir, "job-%d" % job_id))
    archived = os.path.join(qdir, "archive", "0", "job-%d" % job_id)
    assert os.path.isfile(archived)
    job = queue.get_job(job_id)
    assert job.archived is True and job.calc_status() == "success"
    assert queue.query_jobs([job_id], ["archived", "status"]) == [[True, "success"]]
    assert queue.archive_job(job_id) is False
    assert queue.get_job(job_id, include_archived=False) is None


def test_archive_right_after_the_job_finished(make_queue, qdir):
    """Archiving races with the final write: the archive must hold the final state
    and the live file must not come back."""
    queue = make_queue()
    original = queue.storage.write_job

    def slow_final_write(job, fsync=True):
        if job.is_finalized():
            time.sleep(0.2)
        return original(job, fsync)

    queue.storage.write_job = slow_final_write
    job_id = queue.submit([op()])
    wait_for(lambda: queue.get_job(job_id).is_finalized())
    assert queue.archive_job(job_id) is True
    time.sleep(0.3)
    assert not os.path.exists(os.path.join(qdir, "job-%d" % job_id))
    with open(os.path.join(qdir, "archive", "0", "job-%d" % job_id)) as fh:
        data = json.load(fh)
    assert [o["status"] for o in data["ops"]] == ["success"]
    assert is_ts(data["end_timestamp"])


def test_archive_directory_by_id_division(make_queue, qdir):
    JobStorage(qdir).write_serial(12344)
    queue = make_queue()
    job_id = queue.submit([op()])
    assert job_id == 12345
    wait_status(queue, job_id, "success")
    assert queue.archive_job(job_id)
    assert os.path.isfile(os.path.join(qdir, "archive", "1", "job-12345"))


def test_unfinished_job_is_not_archived(make_queue, qdir):
    queue = make_queue(workers=0)
    job_id = queue.submit([op()])
    assert queue.archive_job(job_id) is False
    assert os.path.exists(os.path.join(qdir, "job-%d" % job_id))


def test_auto_archive_by_age(make_queue, qdir):
    queue = make_queue()
    ids = [queue.submit([op()]) for _ in range(3)]
    for job_id in ids:
        wait_status(queue, job_id, "success")
    old = queue.get_job(ids[0])
    old.end_timestamp = [int(time.time()) - 7200, 0]
    assert queue.auto_archive(3600, 10) == [1, 0]
    assert os.path.exists(os.path.join(qdir, "archive", "0", "job-%d" % ids[0]))
    assert os.path.exists(os.path.join(qdir, "job-%d" % ids[1]))
    assert queue.auto_archive(-1, 10) == [2, 0]
    assert queue.query_jobs(None, ["id"]) == []


def test_auto_archive_skips_pending_jobs(make_queue):
    queue = make_queue(workers=0)
    queue.submit([op()])
    assert queue.auto_archive(-1, 10) == [0, 0]


# --- shutdown --------------------------------------------------------------------

def test_shutdown_stops_idle_workers(make_queue):
    queue = make_queue(workers=3)
    queue.shutdown(timeout=2)
    assert not any(t.is_alive() for t in queue._workers)


def test_job_from_dict_requires_id_and_ops():
    with pytest.raises(errors.JobFileCorrupted):
        QueuedJob.from_dict({"ops": []})
    with pytest.raises(errors.JobFileCorrupted):
        QueuedJob.from_dict(["id", 1])


# --- job dependencies ---------------------------------------------------------------
def _wait_final(queue, job_id, timeout=10):
    import time as _time
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        job = queue.get_job(job_id)
        if job.is_finalized():
            return job.calc_status()
        _time.sleep(0.02)
    raise AssertionError("job %s did not finish" % job_id)


def _delay(duration, depends=None):
    op = {"OP_ID": "OP_TEST_DELAY", "duration": duration}
    if depends is not None:
        op["depends"] = depends
    return [op]


def test_dependency_waits_and_runs_after_success(tmp_path):
    import threading
    import time as _time
    from ganeti.jqueue.queue import JobQueue, JobStorage
    order = []
    gate = threading.Event()

    def executor(job, index, op, feedback, notify_running):
        notify_running()
        if op.duration:
            gate.wait(5)
        order.append(job.id)
        return True
    queue = JobQueue(executor, storage=JobStorage(str(tmp_path)), workers=4)
    try:
        (ok1, first), (ok2, second) = queue.submit_many(
            [_delay(1), _delay(0, [[-1, ["success"]]])])
        assert ok1 and ok2
        assert queue.get_job(second).ops[0].input["depends"] == [[first, ["success"]]]
        _time.sleep(0.3)
        assert queue.get_job(second).calc_status() == "waiting"
        gate.set()
        assert _wait_final(queue, second) == "success"
        assert order == [first, second]
    finally:
        queue.shutdown()


def test_dependency_failure_fails_the_dependent_job(tmp_path):
    from ganeti.jqueue.queue import JobQueue, JobStorage

    def executor(job, index, op, feedback, notify_running):
        if op.duration == 1:
            raise errors.OpExecError("boom")
        return True
    queue = JobQueue(executor, storage=JobStorage(str(tmp_path)), workers=2)
    try:
        (_, first), (_, second), (_, third) = queue.submit_many(
            [_delay(1), _delay(0, [[-1, ["success"]]]), _delay(0, [[-2, []]])])
        assert _wait_final(queue, first) == "error"
        assert _wait_final(queue, second) == "error"
        result = queue.get_job(second).ops[0].result
        assert "ended in status error" in result[1][0]
        assert _wait_final(queue, third) == "success"  # [] = any final status
    finally:
        queue.shutdown()


@pytest.mark.parametrize("depends,message", [
    ([[999999, []]], "unknown job"),
    ([[-1, []]], "no job submitted earlier"),
    ([[1, ["nonsense"]]], "Invalid status"),
    ([["x", []]], "Invalid job dependency"),
    ([[1]], "Invalid job dependency"),
])
def test_invalid_dependencies_refused(tmp_path, depends, message):
    from ganeti.jqueue.queue import JobQueue, JobStorage
    queue = JobQueue(lambda *a: True, storage=JobStorage(str(tmp_path)), workers=1)
    try:
        queue.submit(_delay(0))
        ok, text = queue.submit_many([_delay(0, depends)])[0]
        assert not ok and message in text
    finally:
        queue.shutdown()


def test_cancel_of_a_job_waiting_for_a_dependency(tmp_path):
    import threading
    import time as _time
    from ganeti.jqueue.queue import JobQueue, JobStorage
    gate = threading.Event()

    def executor(job, index, op, feedback, notify_running):
        if op.duration:
            gate.wait(5)
        return True
    queue = JobQueue(executor, storage=JobStorage(str(tmp_path)), workers=2)
    try:
        (_, first), (_, second) = queue.submit_many([_delay(1), _delay(0, [[-1, []]])])
        _time.sleep(0.2)
        ok, _message = queue.cancel_job(second)
        assert ok and queue.get_job(second).calc_status() == "canceled"
        gate.set()
        assert _wait_final(queue, first) == "success"
        assert queue.get_job(second).calc_status() == "canceled"
    finally:
        queue.shutdown()


def test_submit_raises_the_dependency_error_not_queue_full(tmp_path):
    from ganeti.jqueue.queue import JobQueue, JobStorage
    queue = JobQueue(lambda *a: True, storage=JobStorage(str(tmp_path)), workers=1)
    try:
        with pytest.raises(errors.OpPrereqError, match="Invalid job dependency"):
            queue.submit(_delay(0, [{}]))
        with pytest.raises(errors.OpPrereqError, match="unknown job"):
            queue.submit(_delay(0, [[424242, []]]))
    finally:
        queue.shutdown()
