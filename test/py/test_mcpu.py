"""Tests for ganeti.mcpu: lock acquisition order and release, locks added for new
objects, hooks (pre-phase veto, post-phase warnings, environment), dry runs.

A real GanetiLockManager is used; the configuration and RPC are small fakes, and a test
logical unit is mapped to OpTestDelay for the duration of each test.
"""

import pytest

from ganeti import cmdlib, constants, errors, locking, mcpu, objects, opcodes
from ganeti.cmdlib import base
from ganeti.rpc.node import RpcResult

NODES = {"n1": "node1.example.com", "n2": "node2.example.com", "n3": "node3.example.com"}


class FakeCfg:
    def get_cluster_info(self):
        return objects.Cluster(cluster_name="cluster.example.com")

    def get_master_node(self):
        return "n1"

    def get_master_node_name(self):
        return NODES["n1"]


class FakeRpc:
    """Answers hooks_runner; ``answers[(node, phase)]`` overrides the default (ok)."""

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.calls = []

    def call(self, procedure, nodes, args, timeout=None):
        self.calls.append((procedure, list(nodes), args))
        results = {}
        for node in nodes:
            answer = self.answers.get((node, args[1]))
            if answer is None:
                answer = RpcResult(NODES[node], procedure, True, [])
            results[node] = answer
        return results


class RecordingGLM(locking.GanetiLockManager):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.log = []

    def acquire(self, level, names, shared=False, timeout=None,
                priority=constants.OP_PRIO_DEFAULT, owner=None):
        self.log.append(("acquire", level, None if names is None else sorted(names),
                         shared, priority))
        return super().acquire(level, names, shared=shared, timeout=timeout,
                               priority=priority, owner=owner)

    def add(self, level, names, acquired=False, shared=False, owner=None):
        self.log.append(("add", level, sorted(names)))
        return super().add(level, names, acquired=acquired, shared=shared, owner=owner)

    def owned_everything(self):
        return {level: self.list_owned(level) for level in locking.LEVELS
                if self.is_owned(level)}


class Context:
    def __init__(self, rpc=None):
        self.glm = RecordingGLM(nodes=list(NODES), instances=["inst1", "inst2"],
                                nodegroups=["g1"])
        self.cfg = FakeCfg()
        self.rpc = rpc or FakeRpc()


class Recorder:
    def __init__(self):
        self.events = []
        self.feedback = []

    def fb(self, log_type, message):
        self.feedback.append((log_type, message))

    def notify(self):
        self.events.append("notify_running")


def make_lu(recorder, needed=None, add=None, share=None, hpath=None,
            hooks_nodes=([], []), req_bgl=True, fail_in=None, dry_result=None):
    """A logical unit class whose behaviour the test chooses."""

    class TestLU(base.LogicalUnit):
        HPATH = hpath
        HTYPE = constants.HTYPE_CLUSTER if hpath else None
        REQ_BGL = req_bgl

        def expand_names(self):
            recorder.events.append("expand_names")
            if needed == "undeclared":
                return
            self.needed_locks = dict(needed or {})
            self.add_locks = dict(add or {})
            self.share_locks.update(share or {})
            self.dry_run_result = dry_result

        def declare_locks(self, level):
            recorder.events.append(("declare_locks", level))

        def check_prereq(self):
            recorder.events.append(("check_prereq", self.proc.glm.owned_everything()))
            if fail_in == "check_prereq":
                raise errors.OpPrereqError("prereq failed", errors.ECODE_STATE)

        def build_hooks_env(self):
            return {"OP_TARGET": "target1", "COUNT": 3, "EMPTY": None}

        def build_hooks_nodes(self):
            return hooks_nodes

        def exec(self, feedback_fn):
            recorder.events.append(("exec", self.proc.glm.owned_everything()))
            feedback_fn("working")
            if fail_in == "exec":
                raise errors.OpExecError("exec failed")
            if fail_in == "crash":
                raise KeyError("unexpected")
            return "lu-result"

    return TestLU


@pytest.fixture
def setup(monkeypatch):
    def build(rpc=None, **lu_kwargs):
        recorder = Recorder()
        lu_class = make_lu(recorder, **lu_kwargs)
        monkeypatch.setitem(cmdlib._LU_MAP, opcodes.OpTestDelay, lu_class)
        context = Context(rpc)
        return mcpu.Processor(context), context, recorder
    return build


def run(proc, recorder, op=None, priority=constants.OP_PRIO_DEFAULT):
    op = op or opcodes.OpTestDelay(duration=0)
    return proc.exec_opcode(op, recorder.fb, recorder.notify, job_id=1, priority=priority)


def events_named(recorder, name):
    return [e for e in recorder.events if isinstance(e, tuple) and e[0] == name]


# --- lock acquisition and release ----------------------------------------------------

def test_locks_taken_in_level_order_bgl_first(setup):
    proc, ctx, rec = setup(needed={locking.LEVEL_NODE_RES: ["n1"],
                                   locking.LEVEL_NODE: ["n2", "n1"],
                                   locking.LEVEL_INSTANCE: ["inst1"]})
    assert run(proc, rec) == "lu-result"
    assert [entry[:4] for entry in ctx.glm.log] == [
        ("acquire", locking.LEVEL_CLUSTER, [locking.BGL], False),
        ("acquire", locking.LEVEL_INSTANCE, ["inst1"], False),
        ("acquire", locking.LEVEL_NODE, ["n1", "n2"], False),
        ("acquire", locking.LEVEL_NODE_RES, ["n1"], False),
    ]
    (exec_event,) = events_named(rec, "exec")
    assert exec_event[1] == {locking.LEVEL_CLUSTER: {locking.BGL},
                             locking.LEVEL_INSTANCE: {"inst1"},
                             locking.LEVEL_NODE: {"n1", "n2"},
                             locking.LEVEL_NODE_RES: {"n1"}}
    assert [e[1] for e in events_named(rec, "declare_locks")] == [
        locking.LEVEL_INSTANCE, locking.LEVEL_NODE, locking.LEVEL_NODE_RES]
    assert ctx.glm.owned_everything() == {}


def test_shared_locks_and_shared_bgl(setup):
    proc, ctx, rec = setup(needed={locking.LEVEL_NODE: ["n1"]},
                           share={locking.LEVEL_NODE: True}, req_bgl=False)
    run(proc, rec, priority=constants.OP_PRIO_HIGH)
    assert ctx.glm.log == [
        ("acquire", locking.LEVEL_CLUSTER, [locking.BGL], True, constants.OP_PRIO_HIGH),
        ("acquire", locking.LEVEL_NODE, ["n1"], True, constants.OP_PRIO_HIGH),
    ]


def test_all_set_acquires_every_lock_of_the_level(setup):
    proc, ctx, rec = setup(needed={locking.LEVEL_NODE: locking.ALL_SET})
    run(proc, rec)
    assert ctx.glm.log[1][:3] == ("acquire", locking.LEVEL_NODE, None)
    assert events_named(rec, "exec")[0][1][locking.LEVEL_NODE] == set(NODES)


def test_empty_level_is_not_acquired(setup):
    proc, ctx, rec = setup(needed={locking.LEVEL_NODE: []})
    run(proc, rec)
    assert [e[1] for e in ctx.glm.log] == [locking.LEVEL_CLUSTER]
    assert events_named(rec, "declare_locks") == [("declare_locks", locking.LEVEL_NODE)]


@pytest.mark.parametrize("fail_in,exc", [("check_prereq", errors.OpPrereqError),
                                         ("exec", errors.OpExecError),
                                         ("crash", KeyError)])
def test_locks_released_after_failure(setup, fail_in, exc):
    proc, ctx, rec = setup(needed={locking.LEVEL_INSTANCE: ["inst1"],
                                   locking.LEVEL_NODE: ["n1"]}, fail_in=fail_in)
    with pytest.raises(exc):
        run(proc, rec)
    assert ctx.glm.owned_everything() == {}
    # the locks are free for another owner
    assert ctx.glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], owner="other",
                           timeout=1) == {locking.BGL}
    assert ctx.glm.acquire(locking.LEVEL_INSTANCE, ["inst1"], owner="other",
                           timeout=1) == {"inst1"}


def test_missing_lock_fails_and_releases(setup):
    proc, ctx, rec = setup(needed={locking.LEVEL_INSTANCE: ["inst1"],
                                   locking.LEVEL_NODE: ["no-such-node"]})
    with pytest.raises(errors.LockError):
        run(proc, rec)
    assert events_named(rec, "exec") == []
    assert ctx.glm.owned_everything() == {}


def test_undeclared_locks_are_a_programmer_error(setup):
    proc, ctx, rec = setup(needed="undeclared")
    with pytest.raises(errors.ProgrammerError, match="did not declare its locks"):
        run(proc, rec)
    assert ctx.glm.log == []


def test_invalid_opcode_refused_before_locking(setup):
    proc, ctx, rec = setup()
    with pytest.raises(errors.OpPrereqError, match="duration"):
        run(proc, rec, op=opcodes.OpTestDelay(duration=-1))
    assert ctx.glm.log == [] and rec.events == []


def test_opcode_without_logical_unit(setup):
    proc, _ctx, rec = setup()
    with pytest.raises(errors.OpCodeUnknown):
        run(proc, rec, op=opcodes.OpClusterSetParams())


# --- locks for new objects ---------------------------------------------------------

def test_added_lock_kept_after_success(setup):
    proc, ctx, rec = setup(add={locking.LEVEL_INSTANCE: ["new1"]})
    run(proc, rec)
    assert ("add", locking.LEVEL_INSTANCE, ["new1"]) in ctx.glm.log
    assert events_named(rec, "exec")[0][1][locking.LEVEL_INSTANCE] == {"new1"}
    assert "new1" in ctx.glm.names(locking.LEVEL_INSTANCE)
    assert ctx.glm.owned_everything() == {}


@pytest.mark.parametrize("fail_in,exc", [("check_prereq", errors.OpPrereqError),
                                         ("exec", errors.OpExecError),
                                         ("crash", KeyError)])
def test_added_lock_removed_after_failure(setup, fail_in, exc):
    proc, ctx, rec = setup(add={locking.LEVEL_INSTANCE: ["new1"]}, fail_in=fail_in)
    with pytest.raises(exc):
        run(proc, rec)
    assert ctx.glm.names(locking.LEVEL_INSTANCE) == {"inst1", "inst2"}
    assert ctx.glm.owned_everything() == {}


def test_added_lock_removed_when_a_later_level_fails(setup):
    proc, ctx, rec = setup(add={locking.LEVEL_INSTANCE: ["new1"]},
                           needed={locking.LEVEL_NODE: ["no-such-node"]})
    with pytest.raises(errors.LockError):
        run(proc, rec)
    assert ctx.glm.names(locking.LEVEL_INSTANCE) == {"inst1", "inst2"}


def test_existing_lock_name_refused_and_left_alone(setup):
    proc, ctx, rec = setup(add={locking.LEVEL_INSTANCE: ["inst1"]})
    with pytest.raises(errors.OpPrereqError, match="already exists") as info:
        run(proc, rec)
    assert info.value.args[1] == errors.ECODE_EXISTS
    # the lock of the existing object must survive the failed creation
    assert ctx.glm.names(locking.LEVEL_INSTANCE) == {"inst1", "inst2"}
    assert ctx.glm.owned_everything() == {}
    assert events_named(rec, "exec") == []


def test_dry_run_returns_dry_result_without_exec(setup):
    proc, ctx, rec = setup(needed={locking.LEVEL_NODE: ["n1"]}, dry_result={"ok": 1})
    assert run(proc, rec, op=opcodes.OpTestDelay(duration=0, dry_run=True)) == {"ok": 1}
    assert events_named(rec, "exec") == []
    assert ctx.glm.owned_everything() == {}


def test_dry_run_does_not_leave_added_locks(setup):
    proc, ctx, rec = setup(add={locking.LEVEL_INSTANCE: ["new1"]})
    run(proc, rec, op=opcodes.OpTestDelay(duration=0, dry_run=True))
    assert ctx.glm.names(locking.LEVEL_INSTANCE) == {"inst1", "inst2"}
    # so a real creation of the same name can follow
    run(proc, rec)
    assert "new1" in ctx.glm.names(locking.LEVEL_INSTANCE)


# --- hooks ---------------------------------------------------------------------

def test_hooks_run_on_the_given_nodes_with_the_environment(setup):
    proc, ctx, rec = setup(hpath="cluster-test", hooks_nodes=(["n1", "n2", "n1"],
                                                              ["n3"]))
    assert run(proc, rec) == "lu-result"
    calls = ctx.rpc.calls
    assert [(c[0], c[1], c[2][:2]) for c in calls] == [
        ("hooks_runner", ["n1", "n2"], ["cluster-test", "pre"]),
        ("hooks_runner", ["n3"], ["cluster-test", "post"]),
    ]
    pre_env = calls[0][2][2]
    assert pre_env == {
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
        "GANETI_HOOKS_VERSION": "2",
        "GANETI_OP_CODE": "OP_TEST_DELAY",
        "GANETI_DATA_DIR": "/var/lib/ganeti",
        "GANETI_HOOKS_PHASE": "pre",
        "GANETI_HOOKS_PATH": "cluster-test",
        "GANETI_OBJECT_TYPE": "CLUSTER",
        "GANETI_CLUSTER": "cluster.example.com",
        "GANETI_MASTER": "node1.example.com",
        "GANETI_OP_TARGET": "target1",
        "GANETI_COUNT": "3",
        "GANETI_EMPTY": "",
    }
    post_env = calls[1][2][2]
    assert post_env["GANETI_HOOKS_PHASE"] == "post"
    assert post_env["GANETI_OP_TARGET"] == "target1"
    assert post_env["GANETI_POST_OP_TARGET"] == "target1"
    assert post_env["GANETI_POST_COUNT"] == "3"
    assert all(isinstance(v, str) for v in post_env.values())


def test_notify_running_after_pre_hooks_and_before_exec(setup):
    proc, ctx, rec = setup(hpath="cluster-test", hooks_nodes=(["n1"], ["n1"]))
    run(proc, rec)
    names = [e if isinstance(e, str) else e[0] for e in rec.events]
    assert names.index("check_prereq") < names.index("notify_running") < \
        names.index("exec")
    assert len(ctx.rpc.calls) == 2


def test_pre_hook_failure_aborts_before_exec(setup):
    failing = RpcResult(NODES["n2"], "hooks_runner", True,
                        [["cluster-test-pre.d/10-ok", constants.HKR_SUCCESS, ""],
                         ["cluster-test-pre.d/20-veto", constants.HKR_FAIL, "denied\n"],
                         ["cluster-test-pre.d/30-skip", constants.HKR_SKIP, ""]])
    rpc = FakeRpc({("n2", "pre"): failing})
    proc, ctx, rec = setup(rpc=rpc, hpath="cluster-test", hooks_nodes=(["n1", "n2"],
                                                                      ["n1", "n2"]),
                           add={locking.LEVEL_INSTANCE: ["new1"]})
    with pytest.raises(errors.HooksAbort) as info:
        run(proc, rec)
    assert info.value.args[0] == [("node2.example.com", "cluster-test-pre.d/20-veto",
                                   "denied\n")]
    assert events_named(rec, "exec") == []
    assert "notify_running" not in rec.events
    assert [c[2][1] for c in rpc.calls] == ["pre"]  # no post phase
    assert ctx.glm.owned_everything() == {}
    assert ctx.glm.names(locking.LEVEL_INSTANCE) == {"inst1", "inst2"}


def test_unreachable_or_offline_nodes_do_not_veto(setup):
    rpc = FakeRpc({("n2", "pre"): RpcResult(NODES["n2"], "hooks_runner", False,
                                            "Connection refused"),
                   ("n3", "pre"): RpcResult(NODES["n3"], "hooks_runner", False, None,
                                            offline=True)})
    proc, _ctx, rec = setup(rpc=rpc, hpath="cluster-test",
                            hooks_nodes=(["n1", "n2", "n3"], []))
    assert run(proc, rec) == "lu-result"
    warnings = [m for t, m in rec.feedback if "WARNING" in m]
    assert len(warnings) == 1
    assert "node2.example.com" in warnings[0] and "Connection refused" in warnings[0]


def test_post_hook_failure_only_warns(setup):
    rpc = FakeRpc({("n1", "post"): RpcResult(
        NODES["n1"], "hooks_runner", True,
        [["cluster-test-post.d/10-x", constants.HKR_FAIL, "post broke\n"]])})
    proc, _ctx, rec = setup(rpc=rpc, hpath="cluster-test", hooks_nodes=(["n1"], ["n1"]))
    assert run(proc, rec) == "lu-result"
    assert any("cluster-test-post.d/10-x" in m and "post broke" in m
               for _t, m in rec.feedback)


def test_post_hook_exception_does_not_fail_the_opcode(setup):
    class BrokenPostRpc(FakeRpc):
        def call(self, procedure, nodes, args, timeout=None):
            if args[1] == "post":
                raise errors.RpcError("transport down")
            return super().call(procedure, nodes, args, timeout)

    proc, ctx, rec = setup(rpc=BrokenPostRpc(), hpath="cluster-test",
                           hooks_nodes=(["n1"], ["n1"]))
    assert run(proc, rec) == "lu-result"
    assert any("transport down" in m for _t, m in rec.feedback)
    assert ctx.glm.owned_everything() == {}


def test_no_hooks_without_hpath_or_nodes(setup):
    proc, ctx, rec = setup(hooks_nodes=(["n1"], ["n1"]))
    run(proc, rec)
    assert ctx.rpc.calls == []
    proc, ctx, rec = setup(hpath="cluster-test", hooks_nodes=([], []))
    run(proc, rec)
    assert ctx.rpc.calls == []


def test_exec_feedback_reaches_the_job(setup):
    proc, _ctx, rec = setup()
    run(proc, rec)
    assert (constants.ELOG_MESSAGE, "working") in rec.feedback


def test_processor_log_helpers_prefix_messages(setup):
    proc, _ctx, rec = setup()
    proc._feedback = rec.fb
    proc.log_info("info text")
    proc.log_warning("warn text")
    proc.log_step("step text")
    assert rec.feedback == [("message", " - INFO: info text"),
                            ("message", " - WARNING: warn text"),
                            ("message", "step text")]
