"""KVM hypervisor parameters: per-value syntax (typed and string forms), the rules between
parameters, node-side validation, and the errors gnt-instance add reports."""

import os
import pwd

import pytest

from ganeti import constants, errors
from ganeti.cmdlib import instance_utils as iu
from ganeti.hypervisor.kvm import KVMHypervisor, params, resolve_kvm_path
from test_kvm_qemu_info import make_fake_qemu

check = KVMHypervisor.check_parameter_syntax


def test_every_parameter_has_a_check_and_a_default():
    assert set(params.CHECKS) == set(constants.KVM_PARAMETERS)
    assert set(constants.HVC_DEFAULTS["kvm"]) == set(constants.KVM_PARAMETERS)
    # the defaults pass their own checks
    check(constants.HVC_DEFAULTS["kvm"])
    assert constants.HVC_DEFAULTS["kvm"]["security_model"] == "none"
    assert constants.HVC_DEFAULTS["kvm"]["migration_port"] == 8102
    assert constants.HVC_DEFAULTS["kvm"]["migration_transport"] == "tls"


def test_unknown_parameter():
    with pytest.raises(errors.HypervisorError, match="Unknown hypervisor parameter "
                       "'kernel_pth' for kvm"):
        check({"kernel_pth": "/boot/vmlinuz"})


@pytest.mark.parametrize("key, value", [
    ("kernel_path", "relative/vmlinuz"),
    ("acpi", "maybe"),
    ("serial_speed", "fast"),
    ("serial_speed", 0),
    ("boot_order", "usb"),
    ("nic_type", "virtio"),
    ("disk_type", "nvme"),
    ("security_model", "chroot"),
    ("kvm_flag", "yes"),
    ("migration_port", 70000),
    ("migration_port", "0"),
    ("migration_transport", "ssh"),
    ("cpu_mask", "1-x"),
    ("machine_version", "pc,accel=kvm"),
    ("vnc_bind_address", "not an address!"),
    ("spice_ip_version", 5),
    ("virtio_net_queues", 9),
    ("disk_cache", "fast"),
    ("migration_caps", "x-colo:BAD CAP"),
])
def test_bad_values(key, value):
    with pytest.raises(errors.HypervisorError) as info:
        check({key: value})
    assert "Invalid value %r for hypervisor parameter '%s': must be" % (value, key) \
        in str(info.value)


def test_string_forms_from_the_command_line_are_accepted():
    check({"acpi": "false", "serial_speed": "115200", "migration_port": "9000",
           "use_chroot": "True", "cpu_mask": "0-1:2", "vnc_bind_address": "127.0.0.1",
           "kernel_args": "ro quiet", "kvm_flag": "disabled", "cpu_type": "qemu64"})
    check({"acpi": None})  # "-acpi": back to the default


def test_typed_converts_and_fills_defaults():
    hvp = params.typed({"acpi": "no", "serial_speed": "9600", "kvm_flag": "disabled",
                        "not_a_kvm_param": 1})
    assert hvp["acpi"] is False and hvp["serial_speed"] == 9600
    assert hvp["kvm_flag"] == "disabled"
    assert hvp["boot_order"] == "disk"
    assert "not_a_kvm_param" not in hvp
    with pytest.raises(errors.HypervisorError):
        params.typed({"acpi": "perhaps"})


@pytest.mark.parametrize("changes, message", [
    ({"kernel_path": "", "initrd_path": "/boot/initrd"}, "an initrd needs a kernel"),
    ({"boot_order": "cdrom"}, "needs cdrom_image_path"),
    ({"cdrom2_image_path": "/x.iso"}, "needs cdrom_image_path"),
    ({"security_model": "user"}, "needs security_domain"),
    ({"security_model": "pool", "security_domain": "bob"}, "can only be set"),
    ({"vnc_tls": True}, "vnc_tls needs vnc_bind_address"),
    ({"vnc_bind_address": "0.0.0.0", "spice_bind": "0.0.0.0"}, "cannot be enabled"),
    ({"spice_use_tls": True}, "needs spice_bind"),
    ({"spice_bind": "127.0.0.1", "spice_ip_version": 6}, "is not an IPv6 address"),
    ({"cpu_cores": 2}, "must be set together"),
])
def test_consistency_rules(changes, message):
    hvp = params.typed(changes)
    with pytest.raises(errors.HypervisorError, match=message):
        params.check_consistency(hvp)


def test_consistent_combinations_pass():
    for changes in ({}, {"kernel_path": ""}, {"security_model": "user",
                                              "security_domain": "nobody"},
                    {"vnc_bind_address": "127.0.0.1", "vnc_tls": True},
                    {"cpu_cores": 1, "cpu_threads": 1, "cpu_sockets": 2}):
        params.check_consistency(params.typed(changes))


def test_kvm_path_falls_back_to_qemu_system():
    resolved = resolve_kvm_path(constants.KVM_DEFAULT_PATH)
    if os.path.exists(constants.KVM_DEFAULT_PATH):
        assert resolved == constants.KVM_DEFAULT_PATH
    elif os.path.exists(constants.KVM_FALLBACK_PATH):
        assert resolved == constants.KVM_FALLBACK_PATH
    assert resolve_kvm_path("/opt/qemu/bin/qemu") == "/opt/qemu/bin/qemu"


# --- node-side validation (hypervisor_validate_params) --------------------------------

@pytest.fixture
def hv(tmp_path):
    ssconf = tmp_path / "ssconf"
    ssconf.mkdir()
    return KVMHypervisor(run_dir=str(tmp_path / "kvm"), uid_pool_dir=str(tmp_path / "pool"),
                         ssconf_dir=str(ssconf))


@pytest.fixture
def base(tmp_path):
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"kernel")
    return {"kvm_path": make_fake_qemu(tmp_path), "kernel_path": str(kernel)}


def test_validate_accepts_a_good_set(hv, base):
    hv.validate_parameters(dict(base, kvm_flag="disabled", machine_version="pc-i440fx-5.2"))


def test_validate_reports_node_problems(hv, base, tmp_path):
    with pytest.raises(errors.HypervisorError, match="is not an executable"):
        hv.validate_parameters(dict(base, kvm_path=str(tmp_path / "no-qemu")))
    with pytest.raises(errors.HypervisorError, match="initrd_path .* does not exist"):
        hv.validate_parameters(dict(base, initrd_path=str(tmp_path / "no-initrd")))
    with pytest.raises(errors.HypervisorError, match="machine_version pc-q99 is not "
                       "supported"):
        hv.validate_parameters(dict(base, machine_version="pc-q99"))
    with pytest.raises(errors.HypervisorError, match="user no-such-user-here does not "
                       "exist"):
        hv.validate_parameters(dict(base, security_model="user",
                                    security_domain="no-such-user-here"))
    with pytest.raises(errors.HypervisorError, match="needs the cluster uid pool"):
        hv.validate_parameters(dict(base, security_model="pool"))


def test_validate_pool_with_a_cluster_pool(hv, base, tmp_path):
    (tmp_path / "ssconf" / "ssconf_uid_pool").write_text("4000-4019\n5000\n")
    hv.validate_parameters(dict(base, security_model="pool"))


def test_validate_user_model_with_an_existing_user(hv, base):
    user = pwd.getpwuid(65534).pw_name
    hv.validate_parameters(dict(base, security_model="user", security_domain=user))


def test_gnt_instance_add_style_errors():
    """check_hvparams (used by instance add and startup) turns errors into prereq ones."""
    with pytest.raises(errors.OpPrereqError) as info:
        iu.check_hvparams("kvm", {"boot_order": "usb"})
    assert info.value.args[1] == errors.ECODE_INVAL
    assert "Invalid hypervisor parameters: Invalid value 'usb' for hypervisor parameter " \
        "'boot_order'" in str(info.value)
    with pytest.raises(errors.OpPrereqError, match="Unknown hypervisor parameter"):
        iu.check_hvparams("kvm", {"bogus": "1"})
    assert iu.check_hvparams("kvm", {"kernel_path": "/boot/x"}) == {"kernel_path": "/boot/x"}
