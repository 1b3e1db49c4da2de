"""The master's side of S5.1 (mcpu.HooksMaster): the config-update hook after any
configuration write, post hooks run during exec on nodes that are gone afterwards,
post-phase nodes recomputed after exec, and the HooksAbort of a failing pre-hook.
"""

import pytest

from ganeti import cmdlib, constants, errors, locking, mcpu, objects, opcodes
from ganeti.cmdlib import base
from ganeti.rpc.node import RpcResult

pytestmark = pytest.mark.security
NAMES = {"n1": "node1", "n2": "node2", "n3": "node3", "n4": "node4"}


class Cfg:
    def __init__(self):
        self._save_gen = 0

    def get_cluster_info(self):
        return objects.Cluster(cluster_name="cluster")

    def get_master_node(self):
        return "n1"

    def get_master_node_name(self):
        return "node1"


class Rpc:
    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def call(self, procedure, nodes, args, timeout=None):
        self.calls.append((procedure, list(nodes), args[0], args[1], dict(args[2])))
        out = {}
        for node in nodes:
            payload = self.fail.get((node, args[0], args[1]), [])
            out[node] = RpcResult(NAMES[node], procedure, True, payload)
        return out


class Context:
    def __init__(self, rpc):
        self.glm = locking.GanetiLockManager(nodes=list(NAMES), instances=[],
                                             nodegroups=["g"])
        self.cfg = Cfg()
        self.rpc = rpc


def run_lu(monkeypatch, lu_body, hpath="instance-add", rpc=None, nodes=(["n1"], ["n1"])):
    class LU(base.LogicalUnit):
        HPATH = hpath
        HTYPE = constants.HTYPE_INSTANCE if hpath else None
        REQ_BGL = False

        def expand_names(self):
            self.needed_locks = {}

        def build_hooks_env(self):
            return {"OP_TARGET": "x", "STAGE": getattr(self, "stage", "before")}

        def build_hooks_nodes(self):
            return list(nodes[0]), list(nodes[1])

        def exec(self, feedback_fn):
            return lu_body(self)

    monkeypatch.setitem(cmdlib._LU_MAP, opcodes.OpTestDelay, LU)
    rpc = rpc or Rpc()
    proc = mcpu.Processor(Context(rpc))
    feedback = []
    result = proc.exec_opcode(opcodes.OpTestDelay(duration=0),
                              lambda *a: feedback.append(a))
    return result, rpc, feedback


def test_config_update_hook_after_a_write(monkeypatch):
    def body(lu):
        lu.cfg._save_gen += 1
        lu.stage = "after"
        return "done"

    result, rpc, _fb = run_lu(monkeypatch, body)
    assert result == "done"
    assert [(c[1], c[2], c[3]) for c in rpc.calls] == [
        (["n1"], "instance-add", "pre"), (["n1"], "instance-add", "post"),
        (["n1"], "config-update", "post")]
    env = rpc.calls[-1][4]
    assert env["GANETI_HOOKS_PATH"] == "config-update"
    assert env["GANETI_HOOKS_PHASE"] == "post"
    assert env["GANETI_OP_CODE"] == "OP_TEST_DELAY"
    assert env["GANETI_STAGE"] == "before"  # the LU's pre-phase environment
    assert not any(k.startswith("GANETI_POST_") for k in env)


def test_no_config_update_without_a_write(monkeypatch):
    _result, rpc, _fb = run_lu(monkeypatch, lambda lu: "done")
    assert "config-update" not in [c[2] for c in rpc.calls]


def test_config_update_also_after_a_failed_lu_and_for_lus_without_hooks(monkeypatch):
    def body(lu):
        lu.cfg._save_gen += 1
        raise errors.OpExecError("half way")

    rpc = Rpc()
    with pytest.raises(errors.OpExecError):
        run_lu(monkeypatch, body, hpath=None, rpc=rpc)
    assert [(c[1], c[2]) for c in rpc.calls] == [(["n1"], "config-update")]
    assert "GANETI_OBJECT_TYPE" not in rpc.calls[0][4]


def test_failing_config_update_hook_only_warns(monkeypatch):
    rpc = Rpc({("n1", "config-update", "post"): [["config-update-post.d/10-x",
                                                  constants.HKR_FAIL, "cfg hook broke"]]})

    def body(lu):
        lu.cfg._save_gen += 1
        return "done"

    result, _rpc, feedback = run_lu(monkeypatch, body, rpc=rpc)
    assert result == "done"
    assert any("cfg hook broke" in str(item) for item in feedback)


def test_post_hooks_run_during_exec_are_not_repeated(monkeypatch):
    """node-remove / cluster-destroy: the node that goes away runs them in exec."""
    def body(lu):
        lu.hooks_master.run_post_now(["n4"])
        return "removed"

    _result, rpc, _fb = run_lu(monkeypatch, body, nodes=(["n1", "n2"], ["n1", "n2", "n4"]))
    assert [(c[1], c[3]) for c in rpc.calls] == [
        (["n1", "n2"], "pre"), (["n4"], "post"), (["n1", "n2"], "post")]
    assert rpc.calls[1][4]["GANETI_POST_OP_TARGET"] == "x"


def test_post_nodes_recomputed_after_exec(monkeypatch):
    """node-add: the node exec added runs the post hooks too."""
    class Body:
        def __call__(self, lu):
            type(lu).build_hooks_nodes_post = lambda self: ["n1", "n4"]
            return True

    _result, rpc, _fb = run_lu(monkeypatch, Body(), hpath="node-add")
    assert [(c[1], c[3]) for c in rpc.calls] == [(["n1"], "pre"), (["n1", "n4"], "post")]


def test_failing_pre_hook_aborts_with_node_script_and_output(monkeypatch):
    rpc = Rpc({("n2", "instance-add", "pre"): [
        ["instance-add-pre.d/10-ok", constants.HKR_SUCCESS, "fine"],
        ["instance-add-pre.d/20-no", constants.HKR_FAIL, "policy says no\n"]]})
    executed = []
    with pytest.raises(errors.HooksAbort) as info:
        run_lu(monkeypatch, lambda lu: executed.append(1), rpc=rpc,
               nodes=(["n1", "n2"], ["n1", "n2"]))
    assert executed == []
    assert info.value.args[0] == [("node2", "instance-add-pre.d/20-no",
                                   "policy says no\n")]
    from ganeti import cli
    code, text = cli.format_error(info.value)
    assert text.splitlines() == ["Failure: hooks execution failed:",
                                 "  node: node2, script: instance-add-pre.d/20-no, "
                                 "output: policy says no"]
