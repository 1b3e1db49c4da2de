"""Xen hypervisor parameters: value checks and typed access (PVM and HVM)."""

import os
import re

from ganeti import constants
from ganeti import errors
from ganeti.hypervisor.kvm.params import CHECKS as KVM_CHECKS
from ganeti.hypervisor.kvm.params import to_bool, to_int

_BOOL = KVM_CHECKS["acpi"]
_STR = KVM_CHECKS[constants.HV_KERNEL_ARGS]
_OPT_PATH = KVM_CHECKS[constants.HV_INITRD_PATH]


def _choice(values):
    return (lambda v: isinstance(v, str) and v in values,
            "one of %s" % ", ".join(repr(v) for v in values))


def _int_in(low, high=None):
    def check(value):
        try:
            number = to_int(value)
        except ValueError:
            return False
        return number >= low and (high is None or number <= high)
    return check


_COMMON = {
    constants.HV_MIGRATION_PORT: KVM_CHECKS[constants.HV_MIGRATION_PORT],
    "reboot_behavior": KVM_CHECKS["reboot_behavior"],
    "cpu_mask": KVM_CHECKS["cpu_mask"],
    "cpu_cap": (_int_in(0, 65535), "an integer between 0 and 65535"),
    "cpu_weight": (_int_in(1, 65535), "an integer between 1 and 65535"),
    "cpuid": _STR,
    "soundhw": _STR,
    "vif_script": _OPT_PATH,
    "xen_cmd": _choice(("xl",)),
    constants.HV_MIGRATION_MODE: KVM_CHECKS[constants.HV_MIGRATION_MODE],
}
PVM_CHECKS = dict(_COMMON, **{
    "use_bootloader": _BOOL,
    "bootloader_path": _OPT_PATH,
    "bootloader_args": _STR,
    constants.HV_KERNEL_PATH: _OPT_PATH,
    constants.HV_INITRD_PATH: _OPT_PATH,
    constants.HV_ROOT_PATH: _STR,
    constants.HV_KERNEL_ARGS: _STR,
    "blockdev_prefix": (lambda v: isinstance(v, str) and bool(re.match(r"^[a-z]+$", v)),
                        "a device name prefix like sd, xvd or hd"),
})
HVM_CHECKS = dict(_COMMON, **{
    "boot_order": (lambda v: isinstance(v, str) and bool(re.match(r"^[acdn]+$", v)),
                   "letters among a, c, d and n"),
    "cdrom_image_path": _OPT_PATH,
    "nic_type": _choice(("rtl8139", "ne2k_pci", "ne2k_isa", "paravirtual", "i82551",
                         "i82557b", "i82559er", "pcnet", "e1000")),
    "disk_type": _choice(("ioemu", "paravirtual")),
    "vnc_bind_address": KVM_CHECKS["vnc_bind_address"],
    "vnc_password_file": _OPT_PATH,
    "acpi": _BOOL,
    "pae": _BOOL,
    constants.HV_KERNEL_PATH: _OPT_PATH,
    "device_model": _OPT_PATH,
    "use_localtime": _BOOL,
    "blockdev_prefix": PVM_CHECKS["blockdev_prefix"],
    "pci_pass": _STR,
    "vif_type": _choice(("ioemu", "vif", "")),
    "viridian": _BOOL,
})


def typed(hvparams: dict, kind: str) -> dict:
    """Defaults of ``kind`` (xen-pvm or xen-hvm) filled in, values converted."""
    table = constants.XEN_PVM_PARAMETERS if kind == constants.HT_XEN_PVM else \
        constants.XEN_HVM_PARAMETERS
    result = dict(constants.HVC_DEFAULTS[kind])
    for key, value in hvparams.items():
        if key not in table or value is None:
            continue
        try:
            if table[key][0] == "bool":
                value = to_bool(value)
            elif table[key][0] == "int":
                value = to_int(value)
        except ValueError:
            raise errors.HypervisorError("Invalid value %r for hypervisor parameter "
                                         "'%s'" % (value, key)) from None
        result[key] = value
    return result


def check_consistency(hvp: dict, kind: str) -> None:
    if kind == constants.HT_XEN_PVM:
        if hvp["use_bootloader"]:
            if not hvp["bootloader_path"]:
                raise errors.HypervisorError("use_bootloader needs bootloader_path")
        elif not hvp[constants.HV_KERNEL_PATH]:
            raise errors.HypervisorError("Without a boot loader kernel_path is needed")
    else:
        if "d" in hvp["boot_order"] and not hvp["cdrom_image_path"]:
            raise errors.HypervisorError("boot_order with 'd' (CD-ROM) needs "
                                         "cdrom_image_path")


def check_node_paths(hvp: dict, kind: str) -> None:
    keys = ["vif_script"]
    if kind == constants.HT_XEN_PVM:
        keys += ["bootloader_path"] if hvp["use_bootloader"] else \
            [constants.HV_KERNEL_PATH, constants.HV_INITRD_PATH]
    else:
        keys += [constants.HV_KERNEL_PATH, "device_model", "cdrom_image_path",
                 "vnc_password_file"]
    for key in keys:
        if hvp.get(key) and not os.path.exists(hvp[key]):
            raise errors.HypervisorError("%s %s does not exist on this node"
                                         % (key, hvp[key]))
