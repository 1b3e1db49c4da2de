"""The migration procedures of noded (backend/migration.py): registration, argument
checks, and the whole sequence with the fake hypervisor on two "nodes"."""

import pytest

from ganeti import backend, errors
from ganeti.backend import instance as binst
from ganeti.backend import migration
from ganeti.hypervisor.fake import FakeHypervisor
from ganeti.rpc import node as rpc_node

PROCS = ["migration_info", "accept_instance", "instance_migrate",
         "instance_get_migration_status", "instance_finalize_migration_dst",
         "instance_finalize_migration_src"]


def test_procedures_are_registered_on_both_sides():
    for name in PROCS:
        assert name in backend.PROCEDURES, name
        assert name in rpc_node.PROCEDURES, name
    with pytest.raises(errors.RpcError, match="Wrong arguments"):
        backend.dispatch("accept_instance", [{}])


def inst(name="vm1"):
    return {"name": name, "hypervisor": "fake", "disks": [], "hvparams": {},
            "beparams": {"maxmem": 64, "vcpus": 1}}


@pytest.fixture
def nodes(tmp_path, monkeypatch):
    """Two fake hypervisors; ``current`` selects the node the procedures act on."""
    hvs = {"src": FakeHypervisor(str(tmp_path / "src")),
           "dst": FakeHypervisor(str(tmp_path / "dst"))}
    state = {"current": "src"}
    monkeypatch.setattr(binst, "_hv", lambda name: hvs[state["current"]])
    return hvs, state


def test_fake_instance_moves_through_the_whole_sequence(nodes):
    hvs, state = nodes
    hvs["src"].start_instance(inst(), [], False)
    info = migration.migration_info(inst())
    assert info == {}
    state["current"] = "dst"
    assert migration.accept_instance(inst(), info, "192.0.2.2") is True
    state["current"] = "src"
    assert migration.instance_migrate("cluster", inst(), "192.0.2.2", True) is True
    assert migration.instance_get_migration_status(inst()) == {"status": "completed"}
    state["current"] = "dst"
    migration.instance_finalize_migration_dst(inst(), info, True)
    state["current"] = "src"
    migration.instance_finalize_migration_src(inst(), True, True)
    assert hvs["src"].list_instances() == [] and hvs["dst"].list_instances() == ["vm1"]


def test_arguments_are_checked(nodes):
    with pytest.raises(errors.RpcError, match="Invalid target address"):
        migration.accept_instance(inst(), {}, "")
    with pytest.raises(errors.RpcError, match="Migration info must be a dict"):
        migration.accept_instance(inst(), [], "192.0.2.2")
    with pytest.raises(errors.RpcError, match="Invalid instance name"):
        migration.instance_migrate("cluster", inst("../x"), "192.0.2.2", True)


class BrokenTwoSided(FakeHypervisor):
    """A two-sided hypervisor whose steps fail."""

    def accept_instance(self, instance, info, target, block_devices):
        raise errors.HypervisorError("port 8102 is in use")

    def get_migration_status(self, instance):
        raise errors.HypervisorError("qemu went away")


def test_hypervisor_errors_become_rpc_errors(tmp_path, monkeypatch):
    hv = BrokenTwoSided(str(tmp_path / "hv"))
    monkeypatch.setattr(binst, "_hv", lambda name: hv)
    with pytest.raises(errors.RpcError, match="Accepting the migration of instance vm1 "
                       "failed: port 8102 is in use"):
        migration.accept_instance(inst(), {}, "192.0.2.2")
    with pytest.raises(errors.RpcError, match="Querying the migration status"):
        migration.instance_get_migration_status(inst())
