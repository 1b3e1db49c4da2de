"""Tests for ganeti.utils: natural sort, unit parsing and formatting, escaped splitting,
atomic file writes, and running programs (no shell, clean environment, timeouts).
"""

import os
import stat
import subprocess
import time

import pytest

from ganeti import errors
from ganeti.utils import io, process, text

# --- text -------------------------------------------------------------------------


@pytest.mark.parametrize("values,expected", [
    (["node10", "node2", "node1"], ["node1", "node2", "node10"]),
    (["a10b10", "a2", "a10b2"], ["a2", "a10b2", "a10b10"]),
    (["100", "9", "10"], ["9", "10", "100"]),
    (["b", "a1", "a", ""], ["", "a", "a1", "b"]),
    (["x.example.com", "x1.example.com", "x01.example.com"],
     ["x1.example.com", "x01.example.com", "x.example.com"]),
    (["inst1.b", "inst1.a", "inst10.a"], ["inst1.a", "inst1.b", "inst10.a"]),
    (["a1", "1a"], ["1a", "a1"]),
])
def test_nice_sort(values, expected):
    assert text.nice_sort(values) == expected


def test_nice_sort_with_key():
    items = [("n10", 1), ("n9", 2)]
    assert text.nice_sort(items, key=lambda i: i[0]) == [("n9", 2), ("n10", 1)]


@pytest.mark.parametrize("value,units,expected", [
    (0, "h", "0M"),
    (512, "h", "512M"),
    (1023, "h", "1023M"),
    (1024, "h", "1.0G"),
    (1536, "h", "1.5G"),
    (1048575, "h", "1024.0G"),
    (1048576, "h", "1.0T"),
    (3 * 1048576 + 524288, "h", "3.5T"),
    (1536, "m", "1536"),
    (512.6, "m", "513"),
    (1536, "g", "1.5"),
    (100, "g", "0.1"),
    (1048576, "t", "1.0"),
    (1024, "t", "0.0"),
])
def test_format_unit(value, units, expected):
    assert text.format_unit(value, units) == expected


def test_format_unit_invalid_unit():
    with pytest.raises(errors.ProgrammerError, match="Invalid unit"):
        text.format_unit(1, "k")


@pytest.mark.parametrize("value,expected", [
    ("512", 512),
    ("0", 0),
    ("4", 4),
    ("1", 4),
    ("5", 8),
    ("1.1", 4),
    ("1023.5", 1024),
    ("100M", 100),
    ("100mb", 100),
    ("100MiB", 100),
    ("1g", 1024),
    ("1G", 1024),
    ("1.5g", 1536),
    ("2GiB", 2048),
    ("1 g", 1024),
    ("  8  ", 8),
    ("1t", 1048576),
    ("0.5T", 524288),
    ("1tb", 1048576),
    (2048, 2048),
])
def test_parse_unit(value, expected):
    assert text.parse_unit(value) == expected


@pytest.mark.parametrize("value", ["", "abc", "-1", "1x", "1.2.3", "g", "1 2", "1kb",
                                   "1e3", "ten"])
def test_parse_unit_refuses(value):
    with pytest.raises(errors.UnitParseError):
        text.parse_unit(value)


def test_parse_and_format_round_trip():
    for size in (4, 128, 1024, 10240):
        assert text.parse_unit(text.format_unit(size, "m")) == size


@pytest.mark.parametrize("value,expected", [
    ("a,b\\,c,,d", ["a", "b,c", "", "d"]),
    ("", [""]),
    ("single", ["single"]),
    ("a\\b", ["a\\b"]),
    ("trailing\\", ["trailing\\"]),
    ("a,", ["a", ""]),
])
def test_split_escaped(value, expected):
    assert text.split_escaped(value) == expected


def test_split_escaped_other_separator():
    assert text.split_escaped("a:b\\:c", ":") == ["a", "b:c"]


def test_format_time(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert text.format_time(None) == "N/A"
        assert text.format_time(86400) == "1970-01-02 00:00:00"
        assert text.format_time([86400, 999999]) == "1970-01-02 00:00:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_safe_shell_quote():
    assert text.safe_shell_quote("a b'c") == "'a b'\"'\"'c'"


# --- io -------------------------------------------------------------------------

def test_write_file_content_and_mode(tmp_path):
    path = tmp_path / "f"
    io.write_file(str(path), "hällo\n", mode=0o600)
    assert path.read_bytes() == "hällo\n".encode("utf-8")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    io.write_file(str(path), b"\x00\x01", mode=0o444)
    assert path.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444


def test_write_file_mode_not_affected_by_umask(tmp_path):
    old = os.umask(0o077)
    try:
        io.write_file(str(tmp_path / "f"), "x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f").st_mode) == 0o644


def test_write_file_replaces_atomically(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")
    with open(path) as reader:
        inode = os.stat(path).st_ino
        io.write_file(str(path), "new")
        # the reader still sees the complete old file; the name points to the new one
        assert reader.read() == "old"
    assert os.stat(path).st_ino != inode
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["f"]


def test_write_file_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_text("old")

    def failing_fsync(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        io.write_file(str(path), "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]


def test_write_file_into_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.write_file(str(tmp_path / "missing" / "f"), "x")


def test_write_file_owner_times_and_dry_run(tmp_path):
    path = tmp_path / "f"
    if os.getuid() == 0:
        io.write_file(str(path), "x", uid=65534, gid=65534, atime=1000.0, mtime=2000.0)
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (65534, 65534)
        assert st.st_atime == 1000.0 and st.st_mtime == 2000.0
    io.write_file(str(tmp_path / "dry"), "x", dry_run=True)
    assert not (tmp_path / "dry").exists()


def test_read_helpers(tmp_path):
    path = tmp_path / "f"
    path.write_text("first\nsecond\n")
    assert io.read_file(str(path)) == "first\nsecond\n"
    assert io.read_file(str(path), 3) == "fir"
    assert io.read_binary(str(path)) == b"first\nsecond\n"
    assert io.read_one_line(str(path)) == "first"
    (tmp_path / "empty").write_text("")
    assert io.read_one_line(str(tmp_path / "empty")) == ""


def test_remove_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    io.remove_file(str(path))
    assert not path.exists()
    io.remove_file(str(path))  # missing: no error
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        io.remove_file(str(tmp_path / "d"))


def test_ensure_dirs_fixes_modes(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o777)
    os.chmod(existing, 0o777)
    io.ensure_dirs([(str(existing), 0o750), (str(tmp_path / "new" / "deep"), 0o700)])
    assert stat.S_IMODE(os.stat(existing).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "deep").st_mode) == 0o700


@pytest.mark.parametrize("root,path,expected", [
    ("/srv/a", "/srv/a/b", True),
    ("/srv/a", "/srv/a/b/../c", True),
    ("/srv/a", "/srv/a", False),
    ("/srv/a", "/srv/a/", False),
    ("/srv/a", "/srv/ab", False),
    ("/srv/a", "/srv/a/../b", False),
    ("/srv/a/", "/srv/a/x", True),
    ("/", "/x", True),
])
def test_is_below_dir(root, path, expected):
    assert io.is_below_dir(root, path) is expected


# --- process ------------------------------------------------------------------------

def test_run_cmd_uses_no_shell():
    result = process.run_cmd(["echo", "$HOME; ls `id` | cat"])
    assert result.stdout == "$HOME; ls `id` | cat\n"
    assert result.exit_code == 0 and not result.failed


def test_run_cmd_refuses_a_string():
    with pytest.raises(errors.ProgrammerError, match="argument list"):
        process.run_cmd("echo hi")


def test_run_cmd_converts_arguments_to_strings():
    assert process.run_cmd(["echo", 5, 1.5]).stdout == "5 1.5\n"


def test_run_cmd_missing_program():
    result = process.run_cmd(["/nonexistent/program-xyz"])
    assert result.exit_code == 127 and result.failed
    assert "cannot execute /nonexistent/program-xyz" in result.stderr


def test_run_cmd_exit_code_and_output():
    result = process.run_cmd(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.signal) == (3, None)
    assert result.stdout == "out\n" and result.stderr == "err\n"
    assert result.output == "out\nerr\n"
    assert result.failed and result.fail_reason == "exited with exit code 3"
    assert result.describe_failure() == ("Command sh -c echo out; echo err >&2; exit 3 "
                                         "exited with exit code 3: out\nerr")


def test_run_cmd_killed_by_signal():
    result = process.run_cmd(["sh", "-c", "kill -TERM $$"])
    assert result.exit_code is None and result.signal == 15
    assert result.failed and result.fail_reason == "terminated by signal 15"


def test_run_cmd_timeout_kills_the_whole_group():
    start = time.monotonic()
    result = process.run_cmd(["sh", "-c", "sleep 30 & sleep 30; wait"], timeout=0.3)
    assert time.monotonic() - start < 5
    assert result.timed_out and result.failed
    assert result.fail_reason == "timed out"


def test_run_cmd_reset_env_gives_exactly_the_environment(monkeypatch):
    monkeypatch.setenv("LEAKED_SECRET", "x")
    result = process.run_cmd(["env"], env={"FOO": "bar"}, reset_env=True)
    assert sorted(result.stdout.splitlines()) == ["FOO=bar", "PATH=%s" % process.SAFE_PATH]
    result = process.run_cmd(["env"], reset_env=True)
    assert result.stdout.splitlines() == ["PATH=%s" % process.SAFE_PATH]


def test_run_cmd_without_reset_adds_to_the_environment(monkeypatch):
    monkeypatch.setenv("INHERITED_VAR", "yes")
    lines = process.run_cmd(["env"], env={"EXTRA": "1"}).stdout.splitlines()
    assert "INHERITED_VAR=yes" in lines and "EXTRA=1" in lines


def test_run_cmd_cwd_and_stdin(tmp_path):
    assert process.run_cmd(["pwd"]).stdout == "/\n"
    assert process.run_cmd(["pwd"], cwd=str(tmp_path)).stdout == "%s\n" % tmp_path
    start = time.monotonic()
    assert process.run_cmd(["cat"], timeout=5).stdout == ""  # stdin at EOF
    assert time.monotonic() - start < 4
    assert process.run_cmd(["cat"], input_data="hello").stdout == "hello"


def test_run_cmd_output_file_and_merge(tmp_path):
    log = tmp_path / "out.log"
    log.write_text("before\n")
    result = process.run_cmd(["sh", "-c", "echo out; echo err >&2"], output_file=str(log))
    assert result.stdout == "" and not result.failed
    assert log.read_text().splitlines()[0] == "before"
    assert sorted(log.read_text().splitlines()[1:]) == ["err", "out"]
    merged = process.run_cmd(["sh", "-c", "echo a; echo b >&2"], merge_stderr=True)
    assert sorted(merged.stdout.split()) == ["a", "b"] and merged.stderr == ""


def test_check_cmd():
    assert process.check_cmd(["true"]).exit_code == 0
    with pytest.raises(errors.CommandError, match="Command false exited with exit code 1"):
        process.check_cmd(["false"])


def test_is_process_alive():
    assert process.is_process_alive(os.getpid())
    assert not process.is_process_alive(0)
    assert not process.is_process_alive(-5)
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while process.is_process_alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not process.is_process_alive(child.pid)  # a zombie is not alive
    finally:
        child.wait()
    assert not process.is_process_alive(child.pid)


def test_read_pid_file(tmp_path):
    path = tmp_path / "x.pid"
    assert process.read_pid_file(str(path)) == 0
    path.write_text("1234\n")
    assert process.read_pid_file(str(path)) == 1234
    path.write_text("junk")
    assert process.read_pid_file(str(path)) == 0
    path.write_text("")
    assert process.read_pid_file(str(path)) == 0
