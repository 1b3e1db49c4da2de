"""Secret and private OS parameters on a real virtual cluster (stricter point 2): they
reach the OS create script, but no daemon log, job file, query answer, command output,
configuration file or process argument ever holds a secret value.
"""

import glob
import json
import os
import subprocess

import pytest

from test_s5_cluster import FILE_STORAGE, s5_cluster  # noqa: F401 - shared fixture

pytestmark = [pytest.mark.security, pytest.mark.integration]

SECRET = "Zq7SecrT4xW9"  # a filesystem label: at most 16 characters
INSTANCE = "s5-secret"


def _files_containing(paths, needle: bytes) -> list[str]:
    found = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                if needle in fh.read():
                    found.append(path)
        except OSError:
            continue
    return found


def _tree(directory: str, skip: str | None = None) -> list[str]:
    result = []
    for top, dirs, files in os.walk(directory):
        if skip:
            dirs[:] = [d for d in dirs if os.path.join(top, d) != skip]
        result.extend(os.path.join(top, f) for f in files)
    return result


@pytest.fixture
def secret_instance(s5_cluster):  # noqa: F811
    result = s5_cluster.gnt("gnt-instance", "add", "-t", "file", "--disk", "0:size=16M",
                            "-o", "simple", "-n", "node2", "--os-parameters-secret",
                            "label=%s" % SECRET, "--os-parameters-private",
                            "filesystem=ext3", "--print-jobid", INSTANCE)
    job_id = result.stdout.splitlines()[0].strip()
    yield result, job_id
    s5_cluster.gnt("gnt-instance", "remove", "-f", INSTANCE)


def test_secret_reaches_the_os_but_is_stored_and_shown_nowhere(s5_cluster,  # noqa: F811
                                                               secret_instance):
    add_result, job_id = secret_instance
    # the OS create script got both values: they are on the disk
    disk = os.path.join(s5_cluster.root("node2"), FILE_STORAGE.lstrip("/"), INSTANCE,
                        "disk0")
    probe = subprocess.run(["blkid", "-o", "export", disk], capture_output=True, text=True)
    assert "LABEL=%s" % SECRET in probe.stdout
    assert "TYPE=ext3" in probe.stdout

    needle = SECRET.encode()
    outputs = [add_result.stdout, add_result.stderr]
    for cmd in (["gnt-job", "info", job_id], ["gnt-job", "list"],
                ["gnt-instance", "info", INSTANCE], ["gnt-instance", "list", "-o",
                                                     "+osparams,custom_osparams"],
                ["gnt-cluster", "info"], ["gnt-cluster", "verify"],
                ["gnt-os", "diagnose"]):
        result = s5_cluster.gnt(*cmd, check=False)
        outputs += [result.stdout, result.stderr]
    assert not [o for o in outputs if SECRET in o]

    job_info = s5_cluster.gnt("gnt-job", "info", job_id).stdout
    assert "<redacted>" in job_info

    leaks = []
    for node in s5_cluster.joined():
        log_dir = s5_cluster.log_dir(node)
        # OS logs are written by the OS scripts themselves (the simple OS echoes its
        # label there); every daemon log and the commands log are checked
        leaks += _files_containing(_tree(log_dir, skip=os.path.join(log_dir, "os")),
                                   needle)
        leaks += _files_containing(_tree(s5_cluster.data_dir(node)), needle)
    assert leaks == []

    # the job file keeps the parameter names, each value redacted, on every copy
    job_files = [path for node in s5_cluster.joined() for path in glob.glob(
        os.path.join(s5_cluster.data_dir(node), "queue", "**", "job-%s" % job_id),
        recursive=True)]
    assert len(job_files) >= 2  # the master's and the candidates' copies
    for path in job_files:
        with open(path) as fh:
            op_input = json.load(fh)["ops"][0]["input"]
        assert op_input["osparams_secret"] == {"label": "<redacted>"}
        assert op_input["osparams_private"] == {"filesystem": "<redacted>"}

    # no process of the cluster carries it in its arguments or environment
    for pid in s5_cluster.vc.processes():
        for name in ("cmdline", "environ"):
            try:
                with open("/proc/%d/%s" % (pid, name), "rb") as fh:
                    assert needle not in fh.read(), (pid, name)
            except OSError:
                continue


def test_commands_log_redacts_secret_options(s5_cluster, secret_instance):  # noqa: F811
    with open(os.path.join(s5_cluster.log_dir("node1"), "commands.log")) as fh:
        lines = [line for line in fh if "--os-parameters-secret" in line]
    assert lines
    assert "--os-parameters-secret <redacted>" in lines[-1]
    assert "--os-parameters-private <redacted>" in lines[-1]
