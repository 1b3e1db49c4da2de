"""S5 attacks against a node's own checks, without the master in between: what a
compromised master (or anyone holding a candidate certificate) could ask noded for.
The restricted-command delay is patched short here; test_s5_cluster measures the real one.
"""

import os
import time

import pytest

from ganeti import _autoconf, constants, errors, pathutils
from ganeti.backend import dispatch, hooks, osapi, restricted

pytestmark = pytest.mark.security
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root")
DELAY = 0.25


@pytest.fixture
def node(tmp_path, monkeypatch):
    """A node with restricted commands enabled and one valid command, ``ok``."""
    commands = tmp_path / "restricted-commands"
    commands.mkdir()
    os.chmod(commands, 0o755)
    (tmp_path / "lock").mkdir()
    marker = tmp_path / "ran"
    script = commands / "ok"
    script.write_text("#!/bin/sh\ntouch %s\necho ok\n" % marker)
    os.chmod(script, 0o755)
    monkeypatch.setattr(_autoconf, "ENABLE_RESTRICTED_COMMANDS", True)
    monkeypatch.setattr(pathutils, "RESTRICTED_COMMANDS_DIR", str(commands))
    monkeypatch.setattr(pathutils, "LOCK_DIR", str(tmp_path / "lock"))
    monkeypatch.setattr(restricted, "DELAY", DELAY)
    return commands, marker


def attack(name) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(errors.RpcError) as info:
        dispatch("restricted_command", [name])
    return str(info.value), time.monotonic() - start


@needs_root
@pytest.mark.parametrize("name", ["ok -h", "ok; id", "../restricted-commands/ok",
                                  "/bin/sh", "/usr/bin/id", "ok/..", "..", "nonexistent"])
def test_rpc_refuses_arguments_paths_and_unknown_names(node, name):
    _commands, marker = node
    message, elapsed = attack(name)
    assert message == "Executing command '%s' failed" % name
    assert elapsed >= DELAY
    assert not marker.exists()


@needs_root
@pytest.mark.parametrize("change", ["world-writable", "group-writable", "not-root-owner",
                                    "not-root-group"])
def test_rpc_refuses_everything_from_an_unsafe_directory(node, change):
    commands, marker = node
    if change == "world-writable":
        os.chmod(commands, 0o757)
    elif change == "group-writable":
        os.chmod(commands, 0o775)
    elif change == "not-root-owner":
        os.chown(commands, 65534, 0)
    else:
        os.chown(commands, 0, 65534)
    message, elapsed = attack("ok")
    assert message == "Executing command 'ok' failed"
    assert elapsed >= DELAY
    assert not marker.exists()


@needs_root
def test_rpc_runs_the_valid_command(node):
    _commands, marker = node
    assert dispatch("restricted_command", ["ok"]) == "ok\n"
    assert marker.exists()


def test_wrong_argument_count_is_refused():
    with pytest.raises(errors.RpcError, match="Wrong arguments"):
        dispatch("restricted_command", ["ok", "-h"])


def test_no_procedure_lists_or_reads_the_commands_directory():
    from ganeti import backend
    names = set(backend.PROCEDURES)
    assert "restricted_command" in names
    assert not [n for n in names if "restricted" in n and n != "restricted_command"]


# --- hooks --------------------------------------------------------------------------
@pytest.fixture
def hooks_base(tmp_path):
    base = tmp_path / "hooks"
    pre = base / "instance-add-pre.d"
    pre.mkdir(parents=True)
    os.chmod(base, 0o755)
    os.chmod(pre, 0o755)
    return base, pre


def _hook(directory, name, body, mode=0o755):
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def test_hook_with_a_dot_in_its_name_is_skipped_not_run(hooks_base, tmp_path):
    base, pre = hooks_base
    marker = tmp_path / "dot-ran"
    _hook(pre, "10-run.sh", "touch %s\n" % marker)
    _hook(pre, "20-ok", "echo fine\n")
    results = hooks.run_hooks("instance-add", "pre", {}, base_dir=str(base))
    assert results == [("instance-add-pre.d/10-run.sh", constants.HKR_SKIP, ""),
                       ("instance-add-pre.d/20-ok", constants.HKR_SUCCESS, "fine\n")]
    assert not marker.exists()


def test_hook_name_ending_in_newline_is_skipped(hooks_base, tmp_path):
    base, pre = hooks_base
    marker = tmp_path / "nl-ran"
    _hook(pre, "10-x\n", "touch %s\n" % marker)
    (result,) = hooks.run_hooks("instance-add", "pre", {}, base_dir=str(base))
    assert result[1] == constants.HKR_SKIP
    assert not marker.exists()


@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777])
def test_hook_writable_by_others_fails_without_running(hooks_base, tmp_path, mode):
    base, pre = hooks_base
    marker = tmp_path / "w-ran"
    _hook(pre, "10-hook", "touch %s\n" % marker, mode=mode)
    ((name, status, output),) = hooks.run_hooks("instance-add", "pre", {},
                                                base_dir=str(base))
    assert status == constants.HKR_FAIL
    assert output.startswith("Hook script refused:")
    assert not marker.exists()


def test_writable_hooks_base_directory_refuses_all(hooks_base, tmp_path):
    base, pre = hooks_base
    marker = tmp_path / "b-ran"
    _hook(pre, "10-hook", "touch %s\n" % marker)
    os.chmod(base, 0o777)
    ((name, status, output),) = hooks.run_hooks("instance-add", "pre", {},
                                                base_dir=str(base))
    assert (name, status) == ("instance-add-pre.d", constants.HKR_FAIL)
    assert "writable by group or others" in output
    assert not marker.exists()


@pytest.mark.parametrize("hpath", ["../../../tmp", "instance-add/../x", "/etc"])
def test_hooks_path_traversal_is_refused(hooks_base, hpath):
    base, _pre = hooks_base
    with pytest.raises(errors.RpcError, match="Invalid hooks path"):
        hooks.run_hooks(hpath, "pre", {}, base_dir=str(base))


# --- OS definitions -------------------------------------------------------------------
def _os_dir(search_dir, name="evil"):
    os_dir = search_dir / name
    os_dir.mkdir(parents=True)
    (os_dir / "ganeti_api_version").write_text("20\n")
    (os_dir / "parameters.list").write_text("")
    for script in ("create", "export", "import", "rename", "verify"):
        path = os_dir / script
        path.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)
    os.chmod(os_dir, 0o755)
    os.chmod(search_dir, 0o755)
    return os_dir


def test_valid_os_is_accepted(tmp_path):
    _os_dir(tmp_path / "os")
    assert osapi.find_os("evil", [str(tmp_path / "os")]).status


@pytest.mark.parametrize("what,mode", [("os", 0o777), ("os", 0o775), ("search", 0o777),
                                       ("search", 0o1777)])
def test_os_in_a_writable_directory_is_refused(tmp_path, what, mode):
    os_dir = _os_dir(tmp_path / "os")
    os.chmod(os_dir if what == "os" else tmp_path / "os", mode)
    with pytest.raises(errors.RpcError) as info:
        osapi.find_os("evil", [str(tmp_path / "os")])
    assert "directory refused" in str(info.value)
    assert "writable by group or others" in str(info.value)
    (diag,) = osapi.diagnose_os_list([str(tmp_path / "os")])
    assert not diag.status and "directory refused" in diag.diagnose


@needs_root
def test_os_not_owned_by_root_is_refused(tmp_path):
    os_dir = _os_dir(tmp_path / "os")
    os.chown(os_dir, 65534, 65534)
    with pytest.raises(errors.RpcError, match="not owned by root"):
        osapi.find_os("evil", [str(tmp_path / "os")])


def test_os_script_writable_by_others_is_refused(tmp_path):
    os_dir = _os_dir(tmp_path / "os")
    os.chmod(os_dir / "create", 0o777)
    (diag,) = osapi.diagnose_os_list([str(tmp_path / "os")])
    assert not diag.status
    assert diag.diagnose.startswith("script refused:")
