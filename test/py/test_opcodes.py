"""Tests for ganeti.opcodes: dict conversion, validation errors, defaults, summaries."""

import pytest

from ganeti import constants, errors, opcodes


def test_mapping_covers_every_opcode_class():
    classes = [c for c in vars(opcodes).values()
               if isinstance(c, type) and issubclass(c, opcodes.OpCode)
               and c is not opcodes.OpCode]
    assert {c.OP_ID for c in classes} == set(opcodes.OP_MAPPING)
    assert all(opcodes.OP_MAPPING[c.OP_ID] is c for c in classes)
    assert all(op_id.startswith("OP_") for op_id in opcodes.OP_MAPPING)


def test_from_dict_builds_the_right_class():
    op = opcodes.OpCode.from_dict({"OP_ID": "OP_INSTANCE_STARTUP",
                                   "instance_name": "inst1", "force": True})
    assert isinstance(op, opcodes.OpInstanceStartup)
    assert op.instance_name == "inst1"
    assert op.force is True
    assert op.hvparams == {}  # default


def test_to_dict_from_dict_round_trip():
    op = opcodes.OpInstanceShutdown(instance_name="inst1", timeout=30,
                                    reason=[["gnt:user", "test", 1]])
    data = op.to_dict()
    assert data["OP_ID"] == "OP_INSTANCE_SHUTDOWN"
    assert data["timeout"] == 30
    assert data["priority"] == constants.OP_PRIO_DEFAULT
    assert "dry_run" not in data  # None values are omitted
    again = opcodes.OpCode.from_dict(data)
    assert again.to_dict() == data


@pytest.mark.parametrize("data", [
    {"OP_ID": "OP_NO_SUCH_THING"},
    {"instance_name": "x"},
    {"OP_ID": None},
])
def test_unknown_op_id_refused(data):
    with pytest.raises(errors.OpPrereqError, match="Unknown opcode") as exc:
        opcodes.OpCode.from_dict(data)
    assert exc.value.args[1] == errors.ECODE_INVAL


@pytest.mark.parametrize("data", [["OP_TEST_DELAY"], "OP_TEST_DELAY", None, 5])
def test_non_dict_refused(data):
    with pytest.raises(errors.OpPrereqError, match="expected an object"):
        opcodes.OpCode.from_dict(data)


def test_unknown_parameter_refused():
    with pytest.raises(errors.OpPrereqError,
                       match="Parameter 'bogus' is not valid for OP_TEST_DELAY") as exc:
        opcodes.OpCode.from_dict({"OP_ID": "OP_TEST_DELAY", "duration": 1, "bogus": 2})
    assert exc.value.args[1] == errors.ECODE_INVAL


def test_constructor_refuses_unknown_parameter():
    with pytest.raises(errors.OpPrereqError, match="'nodes' is not valid"):
        opcodes.OpNodeAdd(node_name="n", nodes=[])


def test_defaults_are_not_shared():
    op1 = opcodes.OpInstanceStartup(instance_name="a")
    op2 = opcodes.OpInstanceStartup(instance_name="b")
    op1.hvparams["x"] = 1
    assert op2.hvparams == {}
    assert opcodes.OpInstanceStartup(instance_name="c").hvparams == {}


def test_defaults():
    op = opcodes.OpInstanceReboot(instance_name="i")
    assert op.reboot_type == constants.INSTANCE_REBOOT_HARD
    assert op.shutdown_timeout == constants.DEFAULT_SHUTDOWN_TIMEOUT
    assert op.ignore_secondaries is False
    assert op.priority == constants.OP_PRIO_DEFAULT
    assert op.dry_run is None and op.depends is None and op.comment is None
    delay = opcodes.OpTestDelay(duration=1)
    assert delay.on_master is True and delay.on_nodes == [] and delay.repeat == 0


def test_validate_accepts_good_opcode():
    op = opcodes.OpTestDelay(duration=0.5, on_nodes=["node1"], repeat=2,
                             priority=constants.OP_PRIO_HIGH, dry_run=False)
    op.validate()


def test_validate_missing_required_parameter():
    op = opcodes.OpInstanceStartup()
    with pytest.raises(errors.OpPrereqError,
                       match=r"Required parameter 'OP_INSTANCE_STARTUP.instance_name'"):
        op.validate()


@pytest.mark.parametrize("op_id,params,bad", [
    ("OP_TEST_DELAY", {"duration": "10"}, "duration"),
    ("OP_TEST_DELAY", {"duration": -1}, "duration"),
    ("OP_TEST_DELAY", {"duration": True}, "duration"),
    ("OP_TEST_DELAY", {"duration": 1, "repeat": -1}, "repeat"),
    ("OP_TEST_DELAY", {"duration": 1, "on_nodes": "node1"}, "on_nodes"),
    ("OP_TEST_DELAY", {"duration": 1, "on_nodes": [1]}, "on_nodes"),
    ("OP_TEST_DELAY", {"duration": 1, "priority": 20}, "priority"),
    ("OP_TEST_DELAY", {"duration": 1, "priority": -21}, "priority"),
    ("OP_TEST_DELAY", {"duration": 1, "dry_run": "yes"}, "dry_run"),
    ("OP_TEST_DELAY", {"duration": 1, "debug_level": -1}, "debug_level"),
    ("OP_INSTANCE_STARTUP", {"instance_name": ""}, "instance_name"),
    ("OP_INSTANCE_STARTUP", {"instance_name": 5}, "instance_name"),
    ("OP_INSTANCE_STARTUP", {"instance_name": "i", "force": 1}, "force"),
    ("OP_INSTANCE_STARTUP", {"instance_name": "i", "hvparams": []}, "hvparams"),
    ("OP_INSTANCE_REBOOT", {"instance_name": "i", "reboot_type": "gentle"},
     "reboot_type"),
    ("OP_INSTANCE_SHUTDOWN", {"instance_name": "i", "timeout": 1.5}, "timeout"),
    ("OP_CLUSTER_SET_PARAMS", {"candidate_pool_size": 0}, "candidate_pool_size"),
    ("OP_CLUSTER_SET_PARAMS", {"hvparams": {"fake": 1}}, "hvparams"),
    ("OP_QUERY", {"what": "nothing", "fields": ["name"]}, "what"),
    ("OP_INSTANCE_CREATE", {"instance_name": "i", "disk_template": "floppy",
                            "disks": [], "nics": []}, "disk_template"),
])
def test_validate_type_error_names_the_parameter(op_id, params, bad):
    op = opcodes.OpCode.from_dict(dict(params, OP_ID=op_id))
    with pytest.raises(errors.OpPrereqError) as exc:
        op.validate()
    assert "'%s.%s'" % (op_id, bad) in str(exc.value.args[0])
    assert "fails validation" in exc.value.args[0]
    assert exc.value.args[1] == errors.ECODE_INVAL


def test_validate_sets_defaults_for_none_values():
    op = opcodes.OpInstanceStartup(instance_name="i", hvparams=None, force=None)
    op.validate()
    assert op.hvparams == {}
    assert op.force is False


def test_validate_without_setting_defaults():
    op = opcodes.OpInstanceStartup(instance_name="i")
    op.validate(set_defaults=False)
    # an explicit None for a parameter that is not optional is refused then
    op.force = None
    with pytest.raises(errors.OpPrereqError, match="OP_INSTANCE_STARTUP.force"):
        op.validate(set_defaults=False)
    assert op.force is None
    op.force = "yes"
    with pytest.raises(errors.OpPrereqError, match="force"):
        op.validate(set_defaults=False)


def test_optional_parameter_may_stay_none():
    op = opcodes.OpInstanceStartup(instance_name="i")
    op.validate()
    assert op.instance_uuid is None
    assert op.dry_run is None


def test_instance_create_required_parameters():
    op = opcodes.OpInstanceCreate(instance_name="i", disk_template="diskless", disks=[])
    with pytest.raises(errors.OpPrereqError, match="OP_INSTANCE_CREATE.nics"):
        op.validate()
    op.nics = []
    op.validate()
    assert op.mode == constants.INSTANCE_CREATE
    assert op.start is True and op.compress == "none"


@pytest.mark.parametrize("op,summary", [
    (opcodes.OpInstanceStartup(instance_name="inst1"), "INSTANCE_STARTUP(inst1)"),
    (opcodes.OpInstanceCreate(instance_name="web1.example.com"),
     "INSTANCE_CREATE(web1.example.com)"),
    (opcodes.OpNodeAdd(node_name="node4"), "NODE_ADD(node4)"),
    (opcodes.OpTestDelay(duration=0.0), "TEST_DELAY(0.0)"),
    (opcodes.OpTestDelay(duration=2.5), "TEST_DELAY(2.5)"),
    (opcodes.OpClusterVerify(), "CLUSTER_VERIFY"),
    (opcodes.OpClusterPostInit(), "CLUSTER_POST_INIT"),
    (opcodes.OpQuery(what="node", fields=["name"]), "QUERY(node)"),
    (opcodes.OpInstanceStartup(), "INSTANCE_STARTUP"),
])
def test_summary(op, summary):
    assert op.summary() == summary
    assert op.tiny_summary() == summary
    assert repr(op) == "<%s>" % summary


def test_summary_of_list_field_is_comma_joined(monkeypatch):
    monkeypatch.setattr(opcodes.OpTagsGet, "OP_DSC_FIELD", "kind")
    op = opcodes.OpTagsGet(kind=["a", "b"])
    assert op.summary() == "TAGS_GET(a,b)"


def test_test_delay_summary_of_integer_duration():
    assert opcodes.OpTestDelay(duration=0).summary() == "TEST_DELAY(0.0)"
    assert opcodes.OpTestDelay(duration=15).summary() == "TEST_DELAY(15.0)"
    assert opcodes.OpTestDelay().summary() == "TEST_DELAY(None)"


def test_priority_range():
    for prio in (constants.OP_PRIO_HIGHEST, 0, constants.OP_PRIO_LOWEST):
        opcodes.OpClusterVerify(priority=prio).validate()


def test_t_name():
    assert opcodes.t_name("node1.example.com")
    assert not opcodes.t_name("-bad")
    assert not opcodes.t_name("")
    assert not opcodes.t_name("a" * 256)
    assert not opcodes.t_name(5)


def test_check_function_names_describe_expectations():
    assert opcodes.t_maybe(opcodes.t_bool).__name__ == "maybe_t_bool"
    assert opcodes.t_list_of(opcodes.t_str).__name__ == "list_of_t_str"
    assert opcodes.t_elem_of({"b", "a"}).__name__ == "one_of(a, b)"
