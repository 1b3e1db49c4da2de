"""Tests for gnt-node modify (LUNodeSetParams) and the SSH key clean-up of node removal,
on a real ConfigWriter with a recording node RPC: Ganeti's role rules, the candidate
certificate map kept in step with candidate status (also while renew-crypto switches
certificates), and which SSH keys are revoked or tried.
"""

import pytest

from ganeti import config, constants, errors, objects, opcodes
from ganeti.backend import join
from ganeti.cmdlib import crypto as crypto_lu
from ganeti.cmdlib.node_modify import LUNodeSetParams
from ganeti.rpc.node import RpcResult

GROUP = "uuid-group"
NODES = ["node1", "node2", "node3", "node4"]
KEY_A = ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA"
         "x8LrJWkT2QxY0S3c3bFdJYQbyqvzqF7Xi5nV3Cw2cCkQ2M7V9hGf1wE2mM9p9qg0q1a5yX3n8yZ"
         "p1k8Nw2Q7c= a")
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ6y33pZqQP75RXrq0ZyAeJ7UAxKv8ZkN0Tl0m5mS6xF b"


def make_config(path, pool=10, node4_capable=False):
    nodes = {}
    for idx, name in enumerate(NODES, 1):
        nodes["uuid-" + name] = objects.Node(
            uuid="uuid-" + name, name=name, primary_ip="192.0.2.%d" % idx, group=GROUP,
            master_candidate=idx <= 3, master_capable=idx <= 3 or node4_capable,
            vm_capable=True)
    cluster = objects.Cluster(
        uuid="uuid-cluster", cluster_name="cluster", master_node="uuid-node1",
        master_ip="192.0.2.100", master_netdev="lo", master_netmask=32,
        enabled_hypervisors=["fake"], enabled_disk_templates=["diskless"],
        candidate_pool_size=pool, serial_no=1,
        candidate_certs={"uuid-node%d" % i: "OLD:%d" % i for i in (1, 2, 3)})
    group = objects.NodeGroup(uuid=GROUP, name="default", ndparams={})
    data = objects.ConfigData(cluster=cluster, nodes=nodes, nodegroups={GROUP: group},
                              instances={}, disks={})
    config.write_initial_config(path, objects.ConfigData.from_dict(data.to_dict()))
    return config.ConfigWriter(path)


class FakeRpc:
    """Records calls; answers crypto tokens with a per-node digest."""

    def __init__(self, failing=()):
        self.calls = []
        self.failing = set(failing)
        self.pub_keys = []

    def call(self, procedure, nodes, args=None, timeout=None):
        results = {}
        for node in nodes:
            self.calls.append((procedure, node, args))
            name = node[0] if isinstance(node, tuple) else node
            if name in self.failing:
                results[node] = RpcResult(name, procedure, False, "unreachable")
            elif procedure == "node_crypto_tokens":
                results[node] = RpcResult(name, procedure, True,
                                          [["ssl", "NEW:" + name]])
            elif procedure == "node_ssh_pub_keys_update":
                results[node] = RpcResult(name, procedure, True, self.pub_keys)
            else:
                results[node] = RpcResult(name, procedure, True, True)
        return results

    def call_single(self, procedure, node, args=None, timeout=None):
        return self.call(procedure, [node], args, timeout)[node]

    def procs(self, name):
        return [(node, args) for proc, node, args in self.calls if proc == name]


class FakeProc:
    def __init__(self):
        self.warnings = []

    def log_warning(self, text):
        self.warnings.append(text)

    def log_info(self, text):
        pass


@pytest.fixture
def cfg(tmp_path):
    return make_config(str(tmp_path / "config.data"))


def run(cfg, rpc=None, **params):
    rpc = rpc or FakeRpc()
    op = opcodes.OpNodeSetParams(**params)
    lu = LUNodeSetParams(FakeProc(), op, cfg, rpc)
    lu.expand_names()
    lu.check_prereq()
    feedback = []
    return lu.exec(feedback.append), rpc, feedback


def on_disk(cfg):
    return config.load_config_file(cfg._path)


def test_demote_removes_digest_everywhere(cfg):
    changes, rpc, _ = run(cfg, node_name="node3", master_candidate=False)
    assert changes == [("master_candidate", "False")]
    data = on_disk(cfg)
    assert not data.nodes["uuid-node3"].master_candidate
    assert data.cluster.candidate_certs == {"uuid-node1": "OLD:1", "uuid-node2": "OLD:2"}
    ssconf = config.compute_ssconf_values(data)[constants.SS_MASTER_CANDIDATES_CERTS]
    assert not any("OLD:3" in line for line in ssconf)
    # the demoted node drops its configuration copy
    assert rpc.procs("node_demote_from_mc") == [("uuid-node3", [])]


def test_promote_adds_the_digest_the_node_reports(cfg):
    run(cfg, node_name="node3", master_candidate=False)
    changes, rpc, _ = run(cfg, node_name="node3", master_candidate=True)
    assert changes == [("master_candidate", "True")]
    assert rpc.procs("node_crypto_tokens") == [("uuid-node3", [[["ssl", "get", {}]]])]
    assert on_disk(cfg).cluster.candidate_certs["uuid-node3"] == "NEW:uuid-node3"
    # ganeti_pub_keys reaches the new candidate
    targets = [node for node, _ in rpc.procs("node_ssh_pub_keys_update")]
    assert "uuid-node1" in targets and "uuid-node3" in targets


def test_promotion_of_unreachable_node_changes_nothing(cfg):
    run(cfg, node_name="node3", master_candidate=False)
    before = on_disk(cfg).to_dict()
    with pytest.raises(errors.OpExecError, match="digest of node node3"):
        run(cfg, FakeRpc(failing=["uuid-node3"]), node_name="node3", master_candidate=True)
    assert on_disk(cfg).to_dict() == before


@pytest.mark.parametrize("params", [{"master_candidate": False}, {"offline": True},
                                    {"drained": True}, {"master_capable": False}])
def test_master_role_cannot_be_removed(cfg, params):
    with pytest.raises(errors.OpPrereqError, match="master failover"):
        run(cfg, node_name="node1", **params)


def test_one_state_at_a_time_and_something_to_do(cfg):
    with pytest.raises(errors.OpPrereqError, match="more than one state"):
        run(cfg, node_name="node3", offline=True, drained=True)
    with pytest.raises(errors.OpPrereqError, match="at least one"):
        run(cfg, node_name="node3")


def test_offline_or_drained_node_cannot_be_promoted(cfg):
    run(cfg, node_name="node4", drained=True)
    with pytest.raises(errors.OpPrereqError, match="drained"):
        run(cfg, node_name="node4", master_candidate=True)
    run(cfg, node_name="node4", master_capable=False, drained=False)
    with pytest.raises(errors.OpPrereqError, match="not master capable"):
        run(cfg, node_name="node4", master_candidate=True)


def test_offlining_a_candidate_demotes_it(cfg):
    changes, _, _ = run(cfg, node_name="node2", offline=True)
    assert ("offline", "True") in changes and ("master_candidate", "False") in changes
    assert "uuid-node2" not in on_disk(cfg).cluster.candidate_certs


def test_onlined_node_promotes_itself_when_pool_needs_it(tmp_path):
    cfg = make_config(str(tmp_path / "c"), pool=3, node4_capable=True)
    run(cfg, node_name="node3", offline=True, auto_promote=True)
    assert on_disk(cfg).nodes["uuid-node4"].master_candidate  # auto-promoted
    run(cfg, node_name="node4", master_candidate=False, auto_promote=True)
    assert not on_disk(cfg).nodes["uuid-node4"].master_candidate
    changes, _, _ = run(cfg, node_name="node3", offline=False)
    assert ("master_candidate", "True") in changes
    assert on_disk(cfg).cluster.candidate_certs["uuid-node3"] == "NEW:uuid-node3"


def test_pool_shortage_needs_auto_promote(tmp_path):
    cfg = make_config(str(tmp_path / "c"), pool=3, node4_capable=True)
    with pytest.raises(errors.OpPrereqError, match="Not enough master candidates"):
        run(cfg, node_name="node3", master_candidate=False)
    assert on_disk(cfg).nodes["uuid-node3"].master_candidate
    _, rpc, feedback = run(cfg, node_name="node3", master_candidate=False,
                           auto_promote=True)
    data = on_disk(cfg)
    assert data.nodes["uuid-node4"].master_candidate
    assert data.cluster.candidate_certs == {"uuid-node1": "OLD:1", "uuid-node2": "OLD:2",
                                            "uuid-node4": "NEW:uuid-node4"}
    assert feedback == ["Promoted node node4 to master candidate"]


def test_vm_capable_kept_while_instances_are_there(cfg, monkeypatch):
    monkeypatch.setattr(cfg, "get_node_instances", lambda uuid: (["i1"], []))
    with pytest.raises(errors.OpPrereqError, match="hosts instances"):
        run(cfg, node_name="node2", vm_capable=False)


def test_ndparams_set_and_reset(cfg):
    run(cfg, node_name="node2", ndparams={"ssh_port": 2222})
    assert on_disk(cfg).nodes["uuid-node2"].ndparams == {"ssh_port": 2222}
    run(cfg, node_name="node2", ndparams={"ssh_port": "default"})
    assert on_disk(cfg).nodes["uuid-node2"].ndparams == {}
    with pytest.raises(errors.OpPrereqError, match="Unknown node parameter"):
        run(cfg, node_name="node2", ndparams={"nosuch": 1})


# --- S2.4: node removal revokes the node's key ------------------------------------------

class FakeLU:
    def __init__(self, cfg, rpc):
        self.cfg, self.rpc = cfg, rpc
        self.warnings = []

    def log_warning(self, text, *args):
        self.warnings.append(text % args)


@pytest.mark.parametrize("entries,revoked,note", [
    # a key of its own: revoked everywhere
    ([["uuid-node1", KEY_A], ["uuid-node2", KEY_A], ["uuid-node3", KEY_B]], [KEY_B],
     False),
    # the shared cluster key: stays authorized for the others, the admin is told
    ([["uuid-node1", KEY_A], ["uuid-node2", KEY_A], ["uuid-node3", KEY_A]], [], True),
])
def test_node_removal_revokes_its_key(cfg, entries, revoked, note):
    node = cfg.get_node_info("uuid-node3")
    cfg.remove_node("uuid-node3")
    rpc = FakeRpc()
    rpc.pub_keys = entries
    feedback = []
    crypto_lu.remove_node_ssh_keys(FakeLU(cfg, rpc), node, feedback.append)
    removals = rpc.procs("node_ssh_key_remove")
    others = sorted(n for n, _ in removals if not isinstance(n, tuple))
    assert others == ["uuid-node1", "uuid-node2", "uuid-node4"]
    for target, args in removals:
        if isinstance(target, tuple):
            assert target[0] == "node3" and args == [[entries[2][1]], [], True]
        else:
            assert args == [revoked, ["uuid-node3"], False]
    assert any(isinstance(n, tuple) for n, _ in removals)
    assert bool(feedback) == note


# --- renew-crypto: the candidate map while certificates are switched --------------------

class RenewRpc(FakeRpc):
    """Also answers the renewal procedures and records the map seen at each switch."""

    def __init__(self, cfg, failing_create=()):
        super().__init__()
        self.cfg = cfg
        self.failing_create = set(failing_create)
        self.maps_at_switch = []

    def call(self, procedure, nodes, args=None, timeout=None):
        if procedure == "node_crypto_activate":
            for node in nodes:
                self.maps_at_switch.append(
                    (node, dict(self.cfg.get_cluster_info().candidate_certs)))
        if procedure == "node_crypto_tokens" and args[0][0][1] == "create":
            results = {}
            for node in nodes:
                self.calls.append((procedure, node, args))
                ok = node not in self.failing_create
                results[node] = RpcResult(node, procedure, ok,
                                          [["ssl", "NEW:" + node]] if ok else "disk full")
            return results
        return super().call(procedure, nodes, args, timeout)


def renew(cfg, rpc, **params):
    op = opcodes.OpClusterRenewCrypto(**params)
    lu = crypto_lu.LUClusterRenewCrypto(FakeProc(), op, cfg, rpc)
    lu.expand_names()
    lu.check_prereq()
    return lu.exec(lambda msg: None)


def test_cluster_certificate_switch_keeps_the_master_accepted(cfg):
    rpc = RenewRpc(cfg)
    assert renew(cfg, rpc, new_cluster_certificate=True) == \
        ["cluster certificate", "node certificates"]
    order = [proc for proc, _n, _a in rpc.calls
             if proc.startswith("node_crypto_") and proc != "node_crypto_abort"]
    assert order.index("node_crypto_tokens") > order.index("node_crypto_stage_server_cert")
    (_n, args), = rpc.procs("node_crypto_tokens")[:1]
    options = args[0][0][2]
    assert options["cert_file"].endswith("client.pem.renew")
    assert options["signing_cert_file"].endswith("server.pem.renew")
    # every node switches while the map lists the old digests plus the master's new one
    switched = [node for node, _map in rpc.maps_at_switch]
    assert switched[-1] == "uuid-node1" and sorted(switched[:-1]) == \
        ["uuid-node2", "uuid-node3", "uuid-node4"]
    for _node, seen in rpc.maps_at_switch:
        assert seen == {"uuid-node1": "OLD:1", "uuid-node2": "OLD:2", "uuid-node3": "OLD:3",
                        "bootstrap": "NEW:uuid-node1"}
    # afterwards only the new digests of the candidates remain
    assert on_disk(cfg).cluster.candidate_certs == {
        "uuid-node%d" % i: "NEW:uuid-node%d" % i for i in (1, 2, 3)}
    assert not rpc.procs("node_crypto_abort")


def test_failed_certificate_creation_changes_nothing(cfg):
    rpc = RenewRpc(cfg, failing_create=["uuid-node3"])
    before = on_disk(cfg).cluster.candidate_certs
    with pytest.raises(errors.OpExecError, match="nothing was changed.*disk full"):
        renew(cfg, rpc, node_certificates=True)
    assert not rpc.maps_at_switch
    assert sorted(n for n, _a in rpc.procs("node_crypto_abort")) == \
        ["uuid-node1", "uuid-node2", "uuid-node3", "uuid-node4"]
    assert on_disk(cfg).cluster.candidate_certs == before


def test_join_tries_root_keys_in_turn(cfg, monkeypatch, tmp_path):
    from ganeti import pathutils, ssh
    for name in ("id_rsa", "id_ecdsa"):
        (tmp_path / name).write_text("key")
    monkeypatch.setattr(pathutils, "SSH_ROOT_DIR", str(tmp_path))
    cluster = cfg.get_cluster_info()
    cluster.ssh_key_type = "ecdsa"
    tried = []

    class Runner:
        def __init__(self, cluster_name, key_file):
            self.key_file = key_file

        def run(self, *args, **kwargs):
            tried.append(self.key_file)
            if self.key_file.endswith("id_ecdsa"):
                raise ssh.SshAuthError("refused")
            return "result"

    monkeypatch.setattr(ssh, "SshRunner", Runner)
    assert join.run_join(cluster.cluster_name, "ecdsa", "node4", "192.0.2.4", 22, {},
                         10) == \
        "result"
    assert tried == [str(tmp_path / "id_ecdsa"), str(tmp_path / "id_rsa")]
    # host key problems are never retried with another key
    Runner.run = lambda self, *a, **k: (_ for _ in ()).throw(ssh.SshHostKeyError("bad"))
    with pytest.raises(ssh.SshHostKeyError):
        join.run_join(cluster.cluster_name, "ecdsa", "node4", "192.0.2.4", 22, {}, 10)
