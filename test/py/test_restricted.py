"""Tests for restricted commands: the node algorithm of node-interfaces.md section 4
(lock, directory, name and file checks, empty environment, delay), the opcode, the LU
and ``gnt-node restricted-command``.  The delay is patched to a fraction of a second.
"""

import fcntl
import os
import shutil
import threading
import time

import pytest

from ganeti import _autoconf, constants, errors, locking, opcodes, pathutils
from ganeti.backend import restricted
from ganeti.client import gnt_node
from ganeti.cmdlib.restricted import LURestrictedCommand
from ganeti.rpc.node import RpcResult

DELAY = 0.3
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root (root:root files)")


@pytest.fixture
def rdir(tmp_path, monkeypatch):
    """An enabled build with a valid commands directory and a private lock file."""
    commands = tmp_path / "restricted-commands"
    commands.mkdir()
    os.chmod(commands, 0o755)
    if os.getuid() == 0:
        os.chown(commands, 0, 0)
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()
    monkeypatch.setattr(_autoconf, "ENABLE_RESTRICTED_COMMANDS", True)
    monkeypatch.setattr(pathutils, "RESTRICTED_COMMANDS_DIR", str(commands))
    monkeypatch.setattr(pathutils, "LOCK_DIR", str(lock_dir))
    monkeypatch.setattr(restricted, "DELAY", DELAY)
    return commands


def command(directory, name, body, mode=0o755):
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, mode)
    return path


def refused(name, minimum=DELAY):
    """Run ``name``; assert the generic failure came after at least ``minimum`` s."""
    start = time.monotonic()
    with pytest.raises(errors.RpcError) as info:
        restricted.run_restricted_command(name)
    elapsed = time.monotonic() - start
    assert str(info.value) == "Executing command '%s' failed" % (
        name if isinstance(name, str) else repr(name))
    assert elapsed >= minimum
    return elapsed


@needs_root
def test_runs_a_valid_command_and_returns_its_output(rdir):
    command(rdir, "hello", "echo hello; echo to-stderr >&2\n")
    out = restricted.run_restricted_command("hello")
    assert sorted(out.split()) == ["hello", "to-stderr"]


@needs_root
def test_environment_is_empty_and_cwd_is_root(rdir, monkeypatch):
    monkeypatch.setenv("NODED_SECRET", "must-not-leak")
    os.symlink(shutil.which("env") or "/usr/bin/env", str(rdir / "show-env"))
    assert restricted.run_restricted_command("show-env") == ""
    command(rdir, "where", "pwd\n")
    assert restricted.run_restricted_command("where") == "/\n"


@needs_root
def test_stdin_is_at_eof(rdir):
    command(rdir, "reader", "cat; echo done\n")
    assert restricted.run_restricted_command("reader") == "done\n"


@needs_root
def test_failing_command_reports_reason_and_output_without_delay(rdir):
    command(rdir, "broken", "echo partial; exit 3\n")
    start = time.monotonic()
    with pytest.raises(errors.RpcError) as info:
        restricted.run_restricted_command("broken")
    assert time.monotonic() - start < DELAY
    assert str(info.value) == ("Restricted command 'broken' failed: exited with exit "
                               "code 3; output: partial\n")


@needs_root
@pytest.mark.parametrize("name", ["", " ", "ls -l", "hello x", "../hello", "/bin/sh",
                                  "sub/hello", "./hello", "hello.sh", "hello\n", "hé",
                                  None, 5, ["hello"]])
def test_invalid_names_are_refused_after_the_delay(rdir, name, caplog):
    marker = rdir.parent / "ran"
    command(rdir, "hello", "touch %s\n" % marker)
    os.makedirs(rdir / "sub", exist_ok=True)
    command(rdir / "sub", "hello", "touch %s\n" % marker)
    refused(name)
    assert not marker.exists()
    assert "invalid command name" in caplog.text


@needs_root
def test_missing_command_is_refused_after_the_delay(rdir, caplog):
    refused("no-such-command")
    assert "no-such-command" in caplog.text


@needs_root
@pytest.mark.parametrize("mode", [0o775, 0o757, 0o777, 0o2755, 0o1755, 0o4755])
def test_directory_with_extra_permission_bits_refuses_everything(rdir, mode, caplog):
    command(rdir, "hello", "echo hello\n")
    os.chmod(rdir, mode)
    refused("hello")
    assert "permission bits" in caplog.text


@needs_root
@pytest.mark.parametrize("owner", [(65534, 0), (0, 65534), (65534, 65534)])
def test_directory_not_owned_by_root_root_refuses_everything(rdir, owner, caplog):
    command(rdir, "hello", "echo hello\n")
    os.chown(rdir, *owner)
    refused("hello")
    assert "not root:root" in caplog.text


@needs_root
def test_missing_or_non_directory_refuses_everything(rdir):
    shutil.rmtree(rdir)
    refused("hello")
    rdir.write_text("a file")
    refused("hello")


@needs_root
@pytest.mark.parametrize("mode", [0o775, 0o757, 0o4755, 0o2755, 0o644, 0o700 | 0o1000])
def test_executable_with_bad_mode_is_refused(rdir, mode):
    command(rdir, "hello", "echo hello\n", mode=mode)
    refused("hello")


@needs_root
def test_executable_not_owned_by_root_is_refused(rdir):
    path = command(rdir, "hello", "echo hello\n")
    os.chown(path, 65534, 0)
    refused("hello")


@needs_root
def test_directory_entry_that_is_no_regular_file_is_refused(rdir):
    (rdir / "subdir").mkdir()
    os.chmod(rdir / "subdir", 0o755)
    refused("subdir")


@needs_root
def test_symlinks_are_judged_by_their_target(rdir, tmp_path):
    good = tmp_path / "good"
    good.write_text("#!/bin/sh\necho via-link\n")
    os.chmod(good, 0o755)
    os.symlink(str(good), str(rdir / "linked"))
    assert restricted.run_restricted_command("linked") == "via-link\n"
    bad = tmp_path / "bad"
    bad.write_text("#!/bin/sh\necho never\n")
    os.chmod(bad, 0o777)
    os.symlink(str(bad), str(rdir / "bad-link"))
    refused("bad-link")
    os.symlink(str(tmp_path / "missing"), str(rdir / "dangling"))
    refused("dangling")


@needs_root
def test_unexecutable_format_counts_as_refusal(rdir):
    path = rdir / "no-shebang"
    path.write_bytes(b"\x00\x01garbage")
    os.chmod(path, 0o755)
    refused("no-shebang")


def test_disabled_build_refuses_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_autoconf, "ENABLE_RESTRICTED_COMMANDS", False)
    monkeypatch.setattr(restricted, "DELAY", 5)
    start = time.monotonic()
    with pytest.raises(errors.RpcError, match="^Restricted commands disabled at "
                                             "configure time$"):
        restricted.restricted_command("hello")
    assert time.monotonic() - start < 1


@needs_root
def test_lock_timeout_refuses_after_waiting_and_the_delay(rdir):
    command(rdir, "hello", "echo hello\n")
    fd = os.open(restricted.lock_file(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        refused("hello", minimum=DELAY * restricted.LOCK_WAIT_FACTOR + DELAY)
    finally:
        os.close(fd)
    assert restricted.run_restricted_command("hello") == "hello\n"


def _lock_is_free() -> bool:
    fd = os.open(restricted.lock_file(), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@needs_root
def test_lock_is_held_during_the_delay(rdir, monkeypatch):
    monkeypatch.setattr(restricted, "DELAY", 1.0)
    thread = threading.Thread(target=lambda: pytest.raises(
        errors.RpcError, restricted.run_restricted_command, "missing"))
    thread.start()
    time.sleep(0.4)
    try:
        assert not _lock_is_free()
    finally:
        thread.join()
    assert _lock_is_free()


@needs_root
def test_lock_is_released_while_the_command_runs(rdir):
    started = rdir.parent / "started"
    command(rdir, "slow", "touch %s; sleep 1; echo slow-done\n" % started)
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(out=restricted.run_restricted_command("slow")))
    thread.start()
    deadline = time.monotonic() + 5
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert started.exists()
        assert _lock_is_free()
    finally:
        thread.join()
    assert result["out"] == "slow-done\n"


@needs_root
def test_command_timeout_kills_it(rdir, monkeypatch):
    monkeypatch.setattr(restricted, "COMMAND_TIMEOUT", 0.5)
    command(rdir, "hang", "echo begun; sleep 30\n")
    with pytest.raises(errors.RpcError, match="failed: timed out"):
        restricted.run_restricted_command("hang")


@needs_root
def test_directory_digest_changes_with_content_but_lists_nothing(rdir):
    command(rdir, "secret-name-1", "echo a\n")
    first = restricted.directory_digest()
    assert first[1:] == [0, 0, 0o755]
    assert "secret-name-1" not in repr(first)
    assert restricted.directory_digest() == first
    command(rdir, "secret-name-1", "echo b\n")
    second = restricted.directory_digest()
    assert second[0] != first[0]
    os.chmod(rdir / "secret-name-1", 0o700)
    assert restricted.directory_digest()[0] != second[0]
    assert restricted.directory_digest(str(rdir / "missing")) is None


def test_valid_name():
    assert restricted.valid_name("a-Z_0")
    for name in ("", " ", "a b", "a/b", "..", "a.b", "a\n", None, 1):
        assert not restricted.valid_name(name)


# --- opcode, LU, CLI ----------------------------------------------------------------
def test_opcode_parameters():
    op = opcodes.OpRestrictedCommand(command="x", nodes=["node1"])
    op.validate()
    assert op.OP_ID == "OP_RESTRICTED_COMMAND"
    assert op.use_locking is False
    assert opcodes.OpCode.from_dict(op.to_dict()).nodes == ["node1"]
    for bad in ({"command": "x", "nodes": []}, {"command": "", "nodes": ["n"]},
                {"command": "x"}):
        with pytest.raises(errors.OpPrereqError):
            opcodes.OpRestrictedCommand(**bad).validate()


class _Node:
    def __init__(self, uuid, name):
        self.uuid, self.name = uuid, name


class _Cfg:
    nodes = {"u1": _Node("u1", "node1"), "u2": _Node("u2", "node2")}

    def get_node_info(self, uuid):
        return self.nodes.get(uuid)

    def get_node_info_by_name(self, name):
        return next((n for n in self.nodes.values() if n.name == name), None)

    def get_all_nodes_info(self):
        return dict(self.nodes)


class _Rpc:
    def __init__(self):
        self.calls = []

    def call(self, procedure, nodes, args):
        self.calls.append((procedure, nodes, args))
        return {"u1": RpcResult("node1", procedure, True, "out1\n"),
                "u2": RpcResult("node2", procedure, False,
                                "Executing command 'x' failed")}


def test_lu_runs_on_the_nodes_in_order_and_maps_results():
    rpc = _Rpc()
    op = opcodes.OpRestrictedCommand(command="x", nodes=["node2", "node1", "node2"],
                                     use_locking=True)
    lu = LURestrictedCommand(None, op, _Cfg(), rpc)
    lu.expand_names()
    assert lu.needed_locks == {locking.LEVEL_NODE: ["u2", "u1"]}
    assert lu.share_locks[locking.LEVEL_NODE]
    lu.check_prereq()
    result = lu.exec(lambda msg: None)
    assert rpc.calls == [("restricted_command", ["u2", "u1"], ["x"])]
    assert result == [[False, "Executing command 'x' failed"], [True, "out1\n"],
                      [False, "Executing command 'x' failed"]]


@pytest.mark.parametrize("name", ["ls -l", "../x", "/bin/sh", "a.b", " "])
def test_lu_refuses_malformed_names_before_any_rpc(name):
    rpc = _Rpc()
    with pytest.raises(errors.OpPrereqError, match="Invalid restricted command name"):
        LURestrictedCommand(None, opcodes.OpRestrictedCommand(command=name,
                                                              nodes=["node1"]),
                            _Cfg(), rpc)
    assert rpc.calls == []


def test_lu_unknown_node():
    op = opcodes.OpRestrictedCommand(command="x", nodes=["nodeX"])
    lu = LURestrictedCommand(None, op, _Cfg(), _Rpc())
    with pytest.raises(errors.OpPrereqError, match="nodeX"):
        lu.expand_names()


@pytest.fixture
def fake_job(monkeypatch):
    sent = []

    def send_job(ops, opts):
        sent.append(ops)
        return [[[True, "line1\nline2\n"], [False, "Executing command 'x' failed"]]]

    monkeypatch.setattr(gnt_node.cli, "send_job", send_job)
    return sent


def test_cli_prints_each_node_output(fake_job, capsys):
    code = gnt_node.main(["restricted-command", "x", "node1", "node2"])
    out = capsys.readouterr().out
    assert code == constants.EXIT_FAILURE
    assert out.splitlines() == ["-" * 48, "Node: node1", "line1", "line2", "-" * 48,
                                "Node: node2", "Executing command 'x' failed"]
    (op,) = fake_job[0]
    assert (op.command, op.nodes, op.use_locking) == ("x", ["node1", "node2"], False)


def test_cli_machine_names_and_sync(fake_job, capsys):
    gnt_node.main(["restricted-command", "-M", "--sync", "x", "node1", "node2"])
    assert capsys.readouterr().out.splitlines() == [
        "node1: line1", "node1: line2", "node2: Executing command 'x' failed"]
    assert fake_job[0][0].use_locking is True


def test_cli_group_selects_its_nodes(fake_job, monkeypatch, capsys):
    queries = []

    class Client:
        def query(self, what, fields, qfilter):
            queries.append((what, fields, qfilter))
            return {"data": [[[0, "node1"]], [[0, "node2"]]]}

    monkeypatch.setattr(gnt_node.cli, "get_client", Client)
    gnt_node.main(["restricted-command", "-g", "default", "x"])
    assert queries == [(constants.QR_NODE, ["name"], ["=", "group", "default"])]
    assert fake_job[0][0].nodes == ["node1", "node2"]


def test_cli_usage_errors(fake_job, capsys):
    assert gnt_node.main(["restricted-command", "x"]) == constants.EXIT_FAILURE
    assert gnt_node.main(["restricted-command", "-g", "g", "x", "node1"]) == \
        constants.EXIT_FAILURE
    assert "Usage error" in capsys.readouterr().err
    assert fake_job == []
