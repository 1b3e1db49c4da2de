"""Secrets stay out of everything that is stored or shown (stricter point 2): the job
queue keeps secret and private OS parameters only in memory for the LU, the commands
log redacts secret options, and secrets are only ever compared in constant time.
"""

import json
import os
import re
import threading
import time

import pytest

from ganeti import cli, config, constants, objects
from ganeti.jqueue.queue import SECRETS_LOST_MSG, JobQueue, JobStorage, split_secrets

pytestmark = pytest.mark.security
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = "s3cr3t-Value-91"


def create_op(**extra):
    op = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "inst1",
          "disk_template": "diskless", "disks": [], "nics": [], "os_type": "noop",
          "pnode": "node1", "osparams_secret": {"password": SECRET},
          "osparams_private": {"token": SECRET + "-p"}}
    op.update(extra)
    return op


class Recorder:
    def __init__(self, block: threading.Event | None = None):
        self.seen = []
        self.block = block

    def __call__(self, job, index, op, feedback, notify_running):
        if self.block is not None:
            self.block.wait(10)
        notify_running()
        self.seen.append((op.osparams_secret, op.osparams_private))
        feedback("working")
        return True


def wait_finished(queue, job_id):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if queue.get_job(job_id).is_finalized():
            return
        time.sleep(0.01)
    raise AssertionError("job %s did not finish" % job_id)


def test_split_secrets():
    redacted, kept = split_secrets(create_op())
    assert redacted["osparams_secret"] == {"password": constants.REDACTED}
    assert redacted["osparams_private"] == {"token": constants.REDACTED}
    assert kept == {"osparams_secret": {"password": SECRET},
                    "osparams_private": {"token": SECRET + "-p"}}
    assert split_secrets({"OP_ID": "OP_TEST_DELAY", "duration": 0}) == (
        {"OP_ID": "OP_TEST_DELAY", "duration": 0}, {})


def test_lu_gets_the_values_while_files_and_queries_do_not(tmp_path):
    replicated = []
    executor = Recorder()
    queue = JobQueue(executor, JobStorage(str(tmp_path)), workers=1,
                     replicator=lambda name, text: replicated.append(text))
    try:
        job_id = queue.submit([create_op()])
        wait_finished(queue, job_id)
    finally:
        queue.shutdown()
    assert executor.seen == [({"password": SECRET}, {"token": SECRET + "-p"})]
    with open(os.path.join(str(tmp_path), "job-%d" % job_id)) as fh:
        text = fh.read()
    assert SECRET not in text
    stored = json.loads(text)["ops"][0]["input"]
    assert stored["osparams_secret"] == {"password": "<redacted>"}
    assert stored["osparams_private"] == {"token": "<redacted>"}
    assert replicated and not [t for t in replicated if SECRET in t]
    (info,) = queue.query_jobs([job_id], ["ops", "summary", "oplog", "opresult"])
    assert SECRET not in json.dumps(info)
    assert info[0][0]["osparams_secret"] == {"password": "<redacted>"}
    assert job_id not in queue._secrets  # forgotten once the job is done


def test_secrets_lost_in_a_restart_fail_the_job(tmp_path):
    first = JobQueue(Recorder(), JobStorage(str(tmp_path)), workers=0)
    job_id = first.submit([create_op()])
    first.shutdown()
    # a new master daemon finds the queued job; the secret values are gone
    executor = Recorder()
    second = JobQueue(executor, JobStorage(str(tmp_path)), workers=1)
    try:
        wait_finished(second, job_id)
        status, result = second.query_jobs([job_id], ["status", "opresult"])[0]
    finally:
        second.shutdown()
    assert executor.seen == []
    assert status == constants.JOB_STATUS_ERROR
    assert SECRETS_LOST_MSG in json.dumps(result)


def test_canceled_job_forgets_its_secrets(tmp_path):
    queue = JobQueue(Recorder(), JobStorage(str(tmp_path)), workers=0)
    try:
        job_id = queue.submit([create_op()])
        assert queue._secrets[job_id]
        assert queue.cancel_job(job_id)[0]
        assert job_id not in queue._secrets
    finally:
        queue.shutdown()


def test_redacted_config_hides_private_and_drbd_secrets():
    data = objects.ConfigData.from_dict({
        "cluster": {"cluster_name": "c"}, "nodes": {}, "nodegroups": {},
        "instances": {"i1": {"uuid": "i1", "name": "inst1",
                             "osparams_private": {"token": SECRET}}},
        "disks": {"d1": {"uuid": "d1", "dev_type": constants.DT_DRBD8,
                         "logical_id": ["n1", "n2", 11000, 0, 0, SECRET]}}})
    dumped = json.dumps(config.redacted_config(data))
    assert SECRET not in dumped
    assert dumped.count(constants.REDACTED) == 2


@pytest.mark.parametrize("argv,expected", [
    (["add", "--os-parameters-secret", "pw=x", "i1"],
     ["add", "--os-parameters-secret", "<redacted>", "i1"]),
    (["add", "--os-parameters-secret=pw=x"], ["add", "--os-parameters-secret=<redacted>"]),
    (["add", "--os-parameters-private", "t=y", "-O", "a=b"],
     ["add", "--os-parameters-private", "<redacted>", "-O", "a=b"]),
    (["add", "--os-parameters-sec", "pw=x"], ["add", "--os-parameters-sec", "<redacted>"]),
    (["add", "--os-parameters", "a=b"], ["add", "--os-parameters", "a=b"]),
])
def test_commands_log_redaction(argv, expected):
    assert cli.redact_argv(argv) == expected


# Identifiers naming secret material; comparing them with == or != leaks timing.
_SECRET_WORDS = r"(hmac|secret|passw|passwd|password|ha1|salt|psk)"
_EXCLUDED_SUFFIXES = ("_type", "_file", "_path", "_dir", "_len", "_name", "_names",
                      "_params", "_opts", "_option")
_COMPARE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*(?:==|!=)\s*([A-Za-z_][A-Za-z0-9_.]*)?")


def _secret_identifier(name: str | None) -> bool:
    if not name:
        return False
    last = name.split(".")[-1].lower()
    return bool(re.search(_SECRET_WORDS, last)) and not last.endswith(_EXCLUDED_SUFFIXES) \
        and not last.isupper()


def test_secrets_are_compared_in_constant_time():
    """No ``==``/``!=`` on secret-named values in the code (use hmac.compare_digest,
    i.e. crypto.constant_time_equal)."""
    offenders = []
    for top in ("ganeti", "daemons", "scripts", "tools"):
        for root, _dirs, files in os.walk(os.path.join(TOP, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as fh:
                    for number, line in enumerate(fh, 1):
                        code = line.split("#", 1)[0]
                        for match in _COMPARE.finditer(code):
                            if _secret_identifier(match.group(1)) or \
                                    _secret_identifier(match.group(2)):
                                offenders.append("%s:%d: %s" % (
                                    os.path.relpath(path, TOP), number, line.strip()))
    assert offenders == []


def test_constant_time_helper_is_used_for_hmac():
    from ganeti import crypto
    digest = crypto.sha1_hmac("key", "text")
    assert crypto.verify_sha1_hmac("key", "text", digest)
    assert crypto.verify_sha1_hmac("key", "text", digest.upper())
    assert not crypto.verify_sha1_hmac("key", "text", "0" * len(digest))
