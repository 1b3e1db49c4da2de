"""Tests for ganeti.backend.hooks: run-parts selection and order, the exact environment,
exit codes mapped to HKR_*, timeouts, and refusal of unsafe hook directories.
"""

import os
import shutil

import pytest

from ganeti import constants, errors, pathutils
from ganeti.backend import hooks
from ganeti.utils.process import SAFE_PATH

HPATH = "instance-start"


@pytest.fixture
def hooks_dir(tmp_path):
    base = tmp_path / "hooks"
    pre = base / ("%s-pre.d" % HPATH)
    pre.mkdir(parents=True)
    os.chmod(base, 0o755)
    os.chmod(pre, 0o755)
    return pre


def script(directory, name, body, mode=0o755):
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def run(hooks_dir, env=None, phase="pre"):
    return hooks.run_hooks(HPATH, phase, env or {}, base_dir=str(hooks_dir.parent))


def test_missing_directory_runs_nothing(tmp_path):
    assert hooks.run_hooks(HPATH, "post", {}, base_dir=str(tmp_path)) == []


def test_selection_and_order(hooks_dir):
    script(hooks_dir, "20-second", "echo two\n")
    script(hooks_dir, "10-first", "echo one\n")
    script(hooks_dir, "Upper_Case", "echo upper\n")
    script(hooks_dir, "bad.name", "echo never\n")
    script(hooks_dir, "with space", "echo never\n")
    script(hooks_dir, "30-not-executable", "echo never\n", mode=0o644)
    script(hooks_dir, ".hidden", "echo never\n")
    script(hooks_dir, "backup~", "echo never\n")
    (hooks_dir / "40-a-directory").mkdir()
    results = run(hooks_dir)
    prefix = "%s-pre.d/" % HPATH
    assert results == [
        (prefix + "10-first", constants.HKR_SUCCESS, "one\n"),
        (prefix + "20-second", constants.HKR_SUCCESS, "two\n"),
        (prefix + "30-not-executable", constants.HKR_SKIP, ""),
        (prefix + "40-a-directory", constants.HKR_SKIP, ""),
        (prefix + "Upper_Case", constants.HKR_SUCCESS, "upper\n"),
        (prefix + "backup~", constants.HKR_SKIP, ""),
        (prefix + "bad.name", constants.HKR_SKIP, ""),
        (prefix + "with space", constants.HKR_SKIP, ""),
    ]


def test_exit_codes_and_combined_output(hooks_dir):
    script(hooks_dir, "10-fails", "echo out; echo err >&2; exit 1\n")
    script(hooks_dir, "20-exit-3", "exit 3\n")
    script(hooks_dir, "30-ok", "exit 0\n")
    results = {name.split("/")[1]: (status, out) for name, status, out in run(hooks_dir)}
    assert results["10-fails"][0] == constants.HKR_FAIL
    assert sorted(results["10-fails"][1].split()) == ["err", "out"]
    assert results["20-exit-3"] == (constants.HKR_FAIL, "")
    assert results["30-ok"] == (constants.HKR_SUCCESS, "")


def test_environment_is_exactly_the_given_one_plus_path(hooks_dir, monkeypatch):
    monkeypatch.setenv("SECRET_FROM_NODED", "must-not-leak")
    env_binary = shutil.which("env") or "/usr/bin/env"
    os.symlink(env_binary, str(hooks_dir / "50-env"))
    (result,) = run(hooks_dir, {"GANETI_OP_CODE": "OP_INSTANCE_STARTUP",
                                "GANETI_COUNT": 3, "GANETI_EMPTY": None})
    assert result[1] == constants.HKR_SUCCESS
    lines = set(result[2].splitlines())
    assert lines == {"GANETI_OP_CODE=OP_INSTANCE_STARTUP", "GANETI_COUNT=3",
                     "GANETI_EMPTY=", "PATH=%s" % SAFE_PATH}


def test_given_path_wins(hooks_dir):
    os.symlink(shutil.which("env") or "/usr/bin/env", str(hooks_dir / "50-env"))
    (result,) = run(hooks_dir, {"PATH": "/bin"})
    assert result[2].splitlines() == ["PATH=/bin"]


def test_working_directory_and_stdin(hooks_dir):
    script(hooks_dir, "10-pwd", "pwd\n")
    script(hooks_dir, "20-stdin", "cat; echo done\n")
    results = run(hooks_dir)
    assert results[0][2] == "/\n"
    assert results[1] == ("%s-pre.d/20-stdin" % HPATH, constants.HKR_SUCCESS, "done\n")


def test_symlinked_executable_runs(hooks_dir, tmp_path):
    target = tmp_path / "real-hook"
    target.write_text("#!/bin/sh\necho linked\n")
    os.chmod(target, 0o755)
    os.symlink(str(target), str(hooks_dir / "10-link"))
    os.symlink(str(tmp_path / "missing"), str(hooks_dir / "20-dangling"))
    results = run(hooks_dir)
    assert results == [("%s-pre.d/10-link" % HPATH, constants.HKR_SUCCESS, "linked\n"),
                       ("%s-pre.d/20-dangling" % HPATH, constants.HKR_SKIP, "")]


def test_timeout_fails_the_hook(hooks_dir, monkeypatch):
    monkeypatch.setattr(hooks, "HOOK_TIMEOUT", 0.5)
    script(hooks_dir, "10-slow", "echo started; sleep 30\n")
    (result,) = run(hooks_dir)
    assert result[1] == constants.HKR_FAIL
    assert "timed out" in result[2]


@pytest.mark.parametrize("mode,reason", [(0o775, "writable by group or others"),
                                         (0o757, "writable by group or others"),
                                         (0o777, "writable by group or others")])
def test_unsafe_directory_refused(hooks_dir, mode, reason):
    marker = hooks_dir.parent / "ran"
    script(hooks_dir, "10-hook", "touch %s\n" % marker)
    os.chmod(hooks_dir, mode)
    (result,) = run(hooks_dir)
    assert result[0] == "%s-pre.d" % HPATH
    assert result[1] == constants.HKR_FAIL
    assert result[2].startswith("Hooks directory refused:")
    assert reason in result[2]
    assert not marker.exists()


def test_directory_not_owned_by_root_refused(hooks_dir):
    if os.getuid() != 0:
        pytest.skip("needs root to give the directory away")
    script(hooks_dir, "10-hook", "echo x\n")
    os.chown(hooks_dir, 65534, 65534)
    (result,) = run(hooks_dir)
    assert result[1] == constants.HKR_FAIL
    assert "not owned by root" in result[2]


def test_hooks_path_that_is_a_file_is_ignored(tmp_path):
    (tmp_path / ("%s-pre.d" % HPATH)).write_text("not a dir")
    assert hooks.run_hooks(HPATH, "pre", {}, base_dir=str(tmp_path)) == []


@pytest.mark.parametrize("hpath,phase,env,message", [
    ("../etc", "pre", {}, "Invalid hooks path"),
    ("Instance-Start", "pre", {}, "Invalid hooks path"),
    ("", "pre", {}, "Invalid hooks path"),
    (None, "pre", {}, "Invalid hooks path"),
    (HPATH, "during", {}, "Invalid hooks phase"),
    (HPATH, "pre", ["A=1"], "must be a dict"),
])
def test_argument_checks(tmp_path, hpath, phase, env, message):
    with pytest.raises(errors.RpcError, match=message):
        hooks.run_hooks(hpath, phase, env, base_dir=str(tmp_path))


def test_hooks_runner_uses_the_configured_base(hooks_dir, monkeypatch):
    monkeypatch.setattr(pathutils, "HOOKS_BASE_DIR", str(hooks_dir.parent))
    script(hooks_dir, "10-x", "echo via-rpc\n")
    assert hooks.hooks_runner(HPATH, "pre", {}) == [
        ("%s-pre.d/10-x" % HPATH, constants.HKR_SUCCESS, "via-rpc\n")]
    assert hooks.hooks_runner(HPATH, "post", {}) == []
