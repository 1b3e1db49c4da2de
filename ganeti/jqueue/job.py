"""A job and its opcodes: status, log, timestamps, and the job file format."""

import threading
import time

from ganeti import constants
from ganeti import errors
from ganeti import opcodes


def timestamp() -> list:
    now = time.time()
    return [int(now), int((now - int(now)) * 1000000)]


class QueuedOpCode:
    __slots__ = ("input", "status", "result", "log", "priority", "start_timestamp",
                 "exec_timestamp", "end_timestamp")

    def __init__(self, op_dict: dict, priority: int):
        self.input = op_dict
        self.status = constants.OP_STATUS_QUEUED
        self.result = None
        self.log: list = []
        self.priority = priority
        self.start_timestamp = None
        self.exec_timestamp = None
        self.end_timestamp = None

    def to_dict(self) -> dict:
        return {"input": self.input, "status": self.status, "result": self.result,
                "log": self.log, "priority": self.priority,
                "start_timestamp": self.start_timestamp,
                "exec_timestamp": self.exec_timestamp,
                "end_timestamp": self.end_timestamp}

    @classmethod
    def from_dict(cls, data: dict) -> "QueuedOpCode":
        obj = cls(data["input"], data.get("priority", constants.OP_PRIO_DEFAULT))
        obj.status = data.get("status", constants.OP_STATUS_QUEUED)
        obj.result = data.get("result")
        obj.log = data.get("log", [])
        for name in ("start_timestamp", "exec_timestamp", "end_timestamp"):
            setattr(obj, name, data.get(name))
        return obj

    def summary(self) -> str:
        try:
            return opcodes.OpCode.from_dict(self.input).summary()
        except errors.GenericError:
            op_id = self.input.get("OP_ID", "?") if isinstance(self.input, dict) else "?"
            return op_id[3:] if op_id.startswith("OP_") else op_id


class QueuedJob:
    """A job in memory; ``changed`` is notified on every change for waiters."""

    def __init__(self, job_id: int, ops: list[QueuedOpCode]):
        self.id = job_id
        self.ops = ops
        self.received_timestamp = None
        self.start_timestamp = None
        self.end_timestamp = None
        self.archived = False
        self.process_id = None
        self.log_serial = 0
        self.changed = threading.Condition()
        self.change_count = 0

    @classmethod
    def new(cls, job_id: int, op_dicts: list[dict]) -> "QueuedJob":
        ops = []
        for op_dict in op_dicts:
            priority = op_dict.get("priority", constants.OP_PRIO_DEFAULT)
            ops.append(QueuedOpCode(op_dict, priority))
        job = cls(job_id, ops)
        job.received_timestamp = timestamp()
        return job

    def to_dict(self) -> dict:
        return {"id": self.id, "ops": [op.to_dict() for op in self.ops],
                "received_timestamp": self.received_timestamp,
                "start_timestamp": self.start_timestamp,
                "end_timestamp": self.end_timestamp,
                "process_id": self.process_id}

    @classmethod
    def from_dict(cls, data: dict, archived: bool = False) -> "QueuedJob":
        if not isinstance(data, dict) or "id" not in data or "ops" not in data:
            raise errors.JobFileCorrupted("Job file lacks id or ops")
        job = cls(int(data["id"]), [QueuedOpCode.from_dict(o) for o in data["ops"]])
        job.received_timestamp = data.get("received_timestamp")
        job.start_timestamp = data.get("start_timestamp")
        job.end_timestamp = data.get("end_timestamp")
        job.process_id = data.get("process_id")
        job.archived = archived
        job.log_serial = max([entry[0] for op in job.ops for entry in op.log] or [0])
        return job

    # --- derived values ------------------------------------------------------
    def calc_status(self) -> str:
        status = constants.JOB_STATUS_QUEUED
        all_success = True
        for op in self.ops:
            if op.status == constants.OP_STATUS_SUCCESS:
                continue
            all_success = False
            if op.status == constants.OP_STATUS_QUEUED:
                pass
            elif op.status == constants.OP_STATUS_WAITING:
                status = constants.JOB_STATUS_WAITING
            elif op.status == constants.OP_STATUS_RUNNING:
                status = constants.JOB_STATUS_RUNNING
            elif op.status == constants.OP_STATUS_CANCELING:
                status = constants.JOB_STATUS_CANCELING
                break
            elif op.status == constants.OP_STATUS_ERROR:
                status = constants.JOB_STATUS_ERROR
                break
            elif op.status == constants.OP_STATUS_CANCELED:
                status = constants.JOB_STATUS_CANCELED
                break
        if all_success:
            status = constants.JOB_STATUS_SUCCESS
        return status

    def calc_priority(self) -> int:
        pending = [op.priority for op in self.ops if op.status not in constants.OPS_FINALIZED]
        return min(pending) if pending else self.ops[-1].priority

    def is_finalized(self) -> bool:
        return self.calc_status() in constants.JOBS_FINALIZED

    def summary(self) -> list[str]:
        return [op.summary() for op in self.ops]

    def add_log(self, op_index: int, log_type: str, message) -> None:
        with self.changed:
            self.log_serial += 1
            self.ops[op_index].log.append([self.log_serial, timestamp(), log_type, message])
            self.notify_locked()

    def notify_locked(self) -> None:
        self.change_count += 1
        self.changed.notify_all()

    def get_log_entries(self, newer_than: int | None) -> list:
        newer_than = newer_than or 0
        entries = []
        for op in self.ops:
            entries.extend(e for e in op.log if e[0] > newer_than)
        return entries

    def get_info(self, fields: list[str]) -> list:
        return [self._field(name) for name in fields]

    def _field(self, name: str):
        if name == "id":
            return self.id
        if name == "status":
            return self.calc_status()
        if name == "ops":
            return [op.input for op in self.ops]
        if name == "opresult":
            return [op.result for op in self.ops]
        if name == "opstatus":
            return [op.status for op in self.ops]
        if name == "oplog":
            return [op.log for op in self.ops]
        if name == "opstart":
            return [op.start_timestamp for op in self.ops]
        if name == "opexec":
            return [op.exec_timestamp for op in self.ops]
        if name == "opend":
            return [op.end_timestamp for op in self.ops]
        if name == "oppriority":
            return [op.priority for op in self.ops]
        if name == "received_ts":
            return self.received_timestamp
        if name == "start_ts":
            return self.start_timestamp
        if name == "end_ts":
            return self.end_timestamp
        if name == "summary":
            return self.summary()
        if name == "priority":
            return self.calc_priority()
        if name == "archived":
            return self.archived
        if name == "reason":
            return [op.input.get("reason", []) for op in self.ops]
        raise errors.OpPrereqError("Unknown job field '%s'" % name, errors.ECODE_INVAL)


JOB_FIELDS = ("id", "status", "priority", "archived", "ops", "opresult", "opstatus",
              "oplog", "opstart", "opexec", "opend", "oppriority", "summary",
              "received_ts", "start_ts", "end_ts", "reason")
