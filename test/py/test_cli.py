"""Tests for ganeti.cli: list output, key=value parsing, error messages and exit codes,
command dispatch and job polling (against fake luxi clients).
"""

import argparse
import time

import pytest

from ganeti import cli, constants, errors, opcodes, pathutils

FIELDS = [
    {"name": "name", "title": "Node", "kind": "text", "doc": "Node name"},
    {"name": "mfree", "title": "MFree", "kind": "unit", "doc": ""},
    {"name": "pinst_cnt", "title": "Pinst", "kind": "number", "doc": ""},
    {"name": "master_candidate", "title": "MasterC", "kind": "bool", "doc": ""},
    {"name": "tags", "title": "Tags", "kind": "other", "doc": ""},
]
DATA = [
    [[0, "node1.example.com"], [0, 512], [0, 3], [0, True], [0, ["a", "b"]]],
    [[0, "n2"], [0, 2048], [0, 12], [0, False], [0, []]],
    [[0, "n3"], [4, None], [2, None], [3, None], [1, None]],
]
RESULT = {"fields": FIELDS, "data": DATA}


# --- list output ------------------------------------------------------------------

def test_table_default_alignment_and_units():
    code, lines = cli.format_query_result(RESULT, None, True, None)
    assert code == constants.EXIT_SUCCESS
    assert lines == [
        "Node              MFree Pinst MasterC Tags",
        "node1.example.com  512M     3 Y       ['a', 'b']",
        "n2                 2.0G    12 N       []",
        "n3                    *     ? -       ??",
    ]


def test_table_verbose_special_values():
    _code, lines = cli.format_query_result(RESULT, None, False, None, verbose=True)
    assert lines[2] == "n3                (offline) (nodata) (unavail) (unknown)"
    assert lines[0] == "node1.example.com      512M        3 Y         ['a', 'b']"


def test_table_with_separator_has_no_padding_and_plain_mib():
    code, lines = cli.format_query_result(RESULT, ":", True, None)
    assert code == 0
    assert lines == [
        "Node:MFree:Pinst:MasterC:Tags",
        "node1.example.com:512:3:Y:['a', 'b']",
        "n2:2048:12:N:[]",
        "n3:*:?:-:??",
    ]


@pytest.mark.parametrize("units,expected", [
    ("h", ["512M", "2.0G"]),
    ("m", ["512", "2048"]),
    ("g", ["0.5", "2.0"]),
    ("t", ["0.0", "0.0"]),
])
def test_table_units(units, expected):
    _code, lines = cli.format_query_result(RESULT, "|", False, units)
    assert [line.split("|")[1] for line in lines[:2]] == expected


def test_table_without_header():
    _code, lines = cli.format_query_result(RESULT, None, False, None)
    assert len(lines) == 3
    assert lines[0].startswith("node1.example.com 512M")


def test_unknown_field_gives_exit_14():
    result = {"fields": [FIELDS[0], {"name": "bogus", "title": "bogus", "kind": "unknown",
                                     "doc": "Unknown field 'bogus'"}],
              "data": [[[0, "n1"], [1, None]]]}
    code, lines = cli.format_query_result(result, None, True, None)
    assert code == constants.EXIT_UNKNOWN_FIELD == 14
    assert lines == ["Node bogus", "n1   ??"]


def test_empty_result():
    result = {"fields": FIELDS, "data": []}
    assert cli.format_query_result(result, None, True, None)[1] == [
        "Node MFree Pinst MasterC Tags"]
    assert cli.format_query_result(result, None, False, None)[1] == []


def test_list_joining_and_timestamps(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        fields = [{"name": "nic.macs", "title": "NIC_MACs", "kind": "other", "doc": ""},
                  {"name": "pinst_list", "title": "PriInstances", "kind": "other",
                   "doc": ""},
                  {"name": "other_list", "title": "L", "kind": "other", "doc": ""},
                  {"name": "ctime", "title": "CTime", "kind": "timestamp", "doc": ""},
                  {"name": "ratio", "title": "R", "kind": "float", "doc": ""}]
        row = [[0, ["aa:00:00:00:00:01", "aa:00:00:00:00:02"]], [0, ["i1", "i2"]],
               [0, ["x", "y"]], [0, 0], [0, 1.5]]
        result = {"fields": fields, "data": [row]}
        _code, lines = cli.format_query_result(result, "#", False, None,
                                               join_fields=frozenset(["pinst_list"]))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert lines == ["aa:00:00:00:00:01,aa:00:00:00:00:02#i1,i2#['x', 'y']#"
                     "1970-01-01 00:00:00#1.5"]


def test_generate_table_numeric_columns_right_aligned():
    lines = cli.generate_table(["A", "Num"], [["x", "1"], ["long", "100"]], None,
                               [False, True])
    assert lines == ["A    Num", "x      1", "long 100"]


def test_generate_table_trailing_spaces_stripped():
    lines = cli.generate_table(None, [["a", "b"], ["aaaa", "b"]], None, [False, False])
    assert lines == ["a    b", "aaaa b"]


# --- parse_fields -------------------------------------------------------------------

def test_parse_fields():
    assert cli.parse_fields(None, ["a", "b"]) == ["a", "b"]
    assert cli.parse_fields("x,y", ["a"]) == ["x", "y"]
    assert cli.parse_fields("+x,y", ["a"]) == ["a", "x", "y"]
    assert cli.parse_fields("x,,y,", ["a"]) == ["x", "y"]


# --- key=value parsing ------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("a=1,b=two", {"a": "1", "b": "two"}),
    ("flag", {"flag": True}),
    ("no_flag", {"flag": False}),
    ("-flag", {"flag": None}),
    ("a=1\\,2,b", {"a": "1,2", "b": True}),
    ("kernel_args=ro console=ttyS0", {"kernel_args": "ro console=ttyS0"}),
    ("a=x=y", {"a": "x=y"}),
    ("a=", {"a": ""}),
    ("no_a=5", {"no_a": "5"}),
    ("a=1,,b=2", {"a": "1", "b": "2"}),
    ("a=1,a=2", {"a": "2"}),
    ("", {}),
    (None, {}),
])
def test_parse_key_values(text, expected):
    assert cli.parse_key_values(text) == expected


@pytest.mark.parametrize("text", ["=1", "no_", "-", "a=1,=2"])
def test_parse_key_values_refuses_empty_keys(text):
    with pytest.raises(cli.UsageError, match="Invalid"):
        cli.parse_key_values(text, "hypervisor")


@pytest.mark.parametrize("text,expected", [
    ("fake:migration_mode=live", ("fake", {"migration_mode": "live"})),
    ("0:size=1G,mode=ro", ("0", {"size": "1G", "mode": "ro"})),
    ("kvm", ("kvm", {})),
    ("kvm:", ("kvm", {})),
    ("1:link=br0\\,x,no_vlan", ("1", {"link": "br0,x", "vlan": False})),
])
def test_parse_ident_key_values(text, expected):
    assert cli.parse_ident_key_values(text) == expected


def test_parse_ident_key_values_requires_identifier():
    with pytest.raises(cli.UsageError, match="Missing identifier"):
        cli.parse_ident_key_values(":a=1")


# --- error messages and exit codes --------------------------------------------------

@pytest.mark.parametrize("err,code,text", [
    (errors.OpPrereqError("Instance 'x' not known", errors.ECODE_NOENT), 1,
     "Failure: prerequisites not met for this operation:\n"
     "error type: unknown_entity, error details:\nInstance 'x' not known"),
    (errors.OpPrereqError("Plain problem"), 1,
     "Failure: prerequisites not met for this operation:\nPlain problem"),
    (errors.OpExecError("Could not start"), 1,
     "Failure: command execution error:\nCould not start"),
    (errors.TagError("Tag contains invalid characters"), 1,
     "Failure: invalid tag(s) given:\nTag contains invalid characters"),
    (errors.JobQueueDrainError("drained"), 1,
     "Failure: the job queue is marked for drain and doesn't accept new requests"),
    (errors.JobQueueFull("full"), 1,
     "Failure: the job queue is full and doesn't accept new requests"),
    (errors.NoMasterError("/run/sock", "refused"), 1,
     "Cannot communicate with the master daemon.\nIs the process running and "
     "listening for connections?"),
    (errors.ConfigurationError("ssconf_master_node missing"), 2,
     "Cluster configuration incomplete: ssconf_master_node missing"),
    (errors.JobLost("Job 5 not found"), 1, "Error checking job status: Job 5 not found"),
    (errors.ResolverError("nohost", 0, "fail"), 1, "Failure: can't resolve hostname "
     "'nohost'"),
    (errors.HooksFailure("no rpc"), 1, "Failure: hooks general failure: no rpc"),
    (errors.LockError("busy"), 1, "Unhandled Ganeti error: busy"),
    (ValueError("odd"), 1, "Unhandled exception: odd"),
])
def test_format_error(err, code, text):
    assert cli.format_error(err) == (code, text)


def test_format_error_hooks_abort_lists_each_failure():
    err = errors.HooksAbort([("node1", "instance-start-pre.d/10-check", "denied\n"),
                             ("node2", "instance-start-pre.d/20-x", "")])
    code, text = cli.format_error(err)
    assert code == 1
    lines = text.split("\n")
    assert lines[0] == "Failure: hooks execution failed:"
    assert lines[1] == "  node: node1, script: instance-start-pre.d/10-check, output: denied"
    assert lines[2].startswith("  node: node2, script: instance-start-pre.d/20-x")


def test_format_error_timeout_and_protocol_and_permission():
    assert cli.format_error(errors.TimeoutError("x"))[1].startswith(
        "Timeout while talking to the master daemon.")
    assert cli.format_error(errors.ProtocolError("bad frame"))[1] == (
        "Unhandled protocol error while talking to the master daemon:\nbad frame")
    assert "permission denied on /sock" in cli.format_error(
        errors.PermissionError("/sock", "EACCES"))[1]


# --- command dispatch --------------------------------------------------------------

@pytest.fixture
def commands_log(tmp_path, monkeypatch):
    path = tmp_path / "commands.log"
    monkeypatch.setattr(pathutils, "COMMANDS_LOG", str(path))
    return path


def _commands(raise_this=None):
    def run(options):
        if raise_this is not None:
            raise raise_this
        return 0

    def setup(parser):
        parser.add_argument("name")
    return [cli.Command("do", run, "Do something", setup=setup, aliases=("d",))]


def test_run_commands_success_and_log(commands_log):
    assert cli.run_commands("gnt-test", "test", _commands(), ["do", "x"]) == 0
    assert cli.run_commands("gnt-test", "test", _commands(), ["d", "y"]) == 0
    log = commands_log.read_text().splitlines()
    assert len(log) == 2
    assert log[0].endswith("gnt-test do x")
    assert "pid=" in log[0]


@pytest.mark.parametrize("err,code,stderr_start", [
    (errors.OpPrereqError("nope", errors.ECODE_INVAL), 1,
     "Failure: prerequisites not met"),
    (errors.ConfigurationError("missing"), 2, "Cluster configuration incomplete"),
    (cli.UsageError("bad option"), 1, "Usage error: bad option"),
    (errors.UnitParseError("Invalid format: 'x'"), 1, "Usage error: invalid size"),
    (cli.JobSubmittedOnly(5), 0, ""),
])
def test_run_commands_error_exit_codes(commands_log, capsys, err, code, stderr_start):
    assert cli.run_commands("gnt-test", "t", _commands(err), ["do", "x"]) == code
    assert capsys.readouterr().err.startswith(stderr_start)


def test_run_commands_usage_errors(commands_log, capsys):
    assert cli.run_commands("gnt-test", "t", _commands(), []) == 1
    assert cli.run_commands("gnt-test", "t", _commands(), ["nosuch"]) == 1
    assert cli.run_commands("gnt-test", "t", _commands(), ["do"]) == 1
    assert cli.run_commands("gnt-test", "t", _commands(), ["do", "--help"]) == 0
    assert not commands_log.exists()


def test_run_commands_version(commands_log, capsys):
    assert cli.run_commands("gnt-test", "t", _commands(), ["--version"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "gnt-test (ganeti %s) %s" % (constants.RELEASE_VERSION,
                                                      constants.RELEASE_VERSION)


# --- generic_list with a fake client -------------------------------------------------

class FakeQueryClient:
    def __init__(self, result):
        self.result = result
        self.queries = []

    def query(self, what, fields, qfilter=None):
        self.queries.append((what, fields, qfilter))
        return self.result


def _list_options(**kwargs):
    values = dict(output=None, no_headers=False, separator=None, units=None,
                  verbose=False, use_filter=False)
    values.update(kwargs)
    return argparse.Namespace(**values)


def test_generic_list_unknown_field_warns_and_exits_14(monkeypatch, capsys):
    result = {"fields": [FIELDS[0], {"name": "bogus", "title": "bogus",
                                     "kind": "unknown", "doc": ""}],
              "data": [[[0, "n1"], [1, None]]]}
    client = FakeQueryClient(result)
    monkeypatch.setattr(cli, "get_client", lambda: client)
    code = cli.generic_list("node", _list_options(output="name,bogus"), [], ["name"])
    assert code == 14
    out, err = capsys.readouterr()
    assert "Unknown output fields: bogus" in err
    assert out == "Node bogus\nn1   ??\n"
    assert client.queries == [("node", ["name", "bogus"], None)]


def test_generic_list_reports_unknown_names(monkeypatch, capsys):
    result = {"fields": [FIELDS[0]], "data": [[[0, "n1"]]]}
    client = FakeQueryClient(result)
    monkeypatch.setattr(cli, "get_client", lambda: client)
    code = cli.generic_list("node", _list_options(no_headers=True), ["n1", "n9"],
                            ["name"])
    assert code == 1
    out, err = capsys.readouterr()
    assert out == "n1\n"
    assert "unknown name(s): n9" in err
    assert client.queries[0][2] == ["|", ["=", "name", "n1"], ["=", "name", "n9"]]


def test_generic_list_plus_fields(monkeypatch, capsys):
    client = FakeQueryClient({"fields": [FIELDS[0], FIELDS[2]],
                              "data": [[[0, "n1"], [0, 2]]]})
    monkeypatch.setattr(cli, "get_client", lambda: client)
    assert cli.generic_list("node", _list_options(output="+pinst_cnt", separator=","),
                            [], ["name"]) == 0
    assert client.queries[0][1] == ["name", "pinst_cnt"]
    assert capsys.readouterr().out == "Node,Pinst\nn1,2\n"


# --- job submission and polling ---------------------------------------------------

class FakeJobClient:
    def __init__(self, changes, final):
        self.changes = list(changes)
        self.final = final
        self.submitted = []

    def submit_job(self, ops):
        self.submitted.append(ops)
        return 17

    def wait_for_job_change(self, job_id, fields, prev_info, prev_serial, timeout):
        assert job_id == 17 and fields == ["status"]
        return self.changes.pop(0)

    def query_jobs(self, ids, fields):
        assert ids == [17]
        return [self.final]


def test_send_job_prints_log_and_returns_results(capsys):
    ts = [1700000000, 500000]
    client = FakeJobClient(
        ["nochange", [["running"], [[1, ts, "message", "* creating disks"]]],
         [["success"], [[2, ts, "custom", "extra"]]]],
        ["success", ["success"], ["done"]])
    options = argparse.Namespace(submit=False, print_jobid=True, priority="low",
                                 dry_run=True, reason="maintenance", debug=0)
    result = cli.send_job([opcodes.OpTestDelay(duration=1.0)], options, client)
    assert result == ["done"]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "17"
    assert out[1] == "%s * creating disks" % time.ctime(1700000000.5)
    assert out[2].endswith(" custom: extra")
    (ops,) = client.submitted
    assert ops[0]["priority"] == constants.OP_PRIO_LOW
    assert ops[0]["dry_run"] is True
    assert [r[0] for r in ops[0]["reason"]] == ["gnt:user", "gnt:client"]
    assert ops[0]["reason"][0][1] == "maintenance"


def test_send_job_with_submit_only(capsys):
    client = FakeJobClient([], None)
    options = argparse.Namespace(submit=True, print_jobid=False, priority=None,
                                 dry_run=False, reason=None, debug=0)
    with pytest.raises(cli.JobSubmittedOnly):
        cli.send_job([opcodes.OpTestDelay(duration=1.0)], options, client)
    assert capsys.readouterr().out == "JobID: 17\n"


def test_poll_job_raises_the_opcode_error():
    client = FakeJobClient(
        [[["error"], []]],
        ["error", ["success", "error"],
         ["ok", ["OpPrereqError", ["Instance 'x' not known", "unknown_entity"]]]])
    with pytest.raises(errors.OpPrereqError) as info:
        cli.poll_job(17, client, quiet=True)
    assert info.value.args == ("Instance 'x' not known", "unknown_entity")


def test_poll_job_canceled():
    client = FakeJobClient([[["canceled"], []]],
                           ["canceled", ["canceled"], ["Job canceled by request"]])
    with pytest.raises(errors.OpExecError, match="canceled"):
        cli.poll_job(17, client, quiet=True)


def test_poll_job_lost():
    client = FakeJobClient([None], None)
    with pytest.raises(errors.JobLost):
        cli.poll_job(17, client, quiet=True)


def test_poll_job_feedback_function():
    seen = []
    client = FakeJobClient([[["success"], [[1, [1, 0], "message", "hi"]]]],
                           ["success", ["success"], [True]])
    assert cli.poll_job(17, client, feedback=lambda *a: seen.append(a)) == [True]
    assert seen == [([1, 0], "message", "hi")]


def test_format_params():
    assert cli.format_params({"b": 1, "a": "x"}, indent=2) == ["  a: x", "  b: 1"]
