"""KVM hypervisor parameters: value checks, typed access and cross-parameter rules.

Values arrive typed (from RAPI or the defaults) or as strings (from ``-H k=v`` on the
command line), so every check accepts both and ``typed`` converts once for use.
"""

import ipaddress
import os
import re

from ganeti import constants
from ganeti import errors

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

BOOT_ORDERS = ("floppy", "cdrom", "disk", "network")
NIC_TYPES = ("rtl8139", "ne2k_pci", "ne2k_isa", "paravirtual", "i82551", "i82557b",
             "i82559er", "pcnet", "e1000")
DISK_TYPES = ("ioemu", "ide", "scsi", "sd", "mtd", "pflash", "paravirtual")
SCSI_CONTROLLERS = ("lsi", "megasas", "virtio-scsi-pci")
DISK_CACHES = ("default", "none", "writethrough", "writeback")
DISK_AIOS = ("threads", "native", "io_uring")
DISK_DISCARDS = ("ignore", "unmap")
USB_MICE = ("", "mouse", "tablet")
SPICE_IMAGE_COMPRESSIONS = ("", "auto_glz", "auto_lz", "quic", "glz", "lz", "off")
SPICE_WAN_COMPRESSIONS = ("", "auto", "never", "always")
SPICE_VIDEO_STREAMING = ("", "off", "all", "filter")
REBOOT_BEHAVIORS = ("reboot", "exit")
KVM_FLAGS = ("", constants.HT_KVM_ENABLED, constants.HT_KVM_DISABLED)
MIGRATION_TRANSPORTS = (constants.HT_MIGRATION_TLS, constants.HT_MIGRATION_TCP)
_IFACE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_CPU_LIST_RE = re.compile(r"^(all|\d+(-\d+)?(,\d+(-\d+)?)*)$")


def to_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError("not a boolean: %r" % (value,))


def to_int(value) -> int:
    if isinstance(value, bool):
        raise ValueError("not an integer: %r" % (value,))
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^-?\d+$", value.strip()):
        return int(value)
    raise ValueError("not an integer: %r" % (value,))


def _is_bool(value) -> bool:
    try:
        to_bool(value)
        return True
    except ValueError:
        return False


def _int_in(low: int, high: int | None = None):
    def check(value) -> bool:
        try:
            number = to_int(value)
        except ValueError:
            return False
        return number >= low and (high is None or number <= high)
    return check


def _one_of(values):
    return lambda v: isinstance(v, str) and v in values


def _string(value) -> bool:
    return isinstance(value, str)


def _abs_path(value) -> bool:
    return isinstance(value, str) and os.path.isabs(value) and "\n" not in value


def _maybe_abs_path(value) -> bool:
    return value == "" or _abs_path(value)


def _address_or_iface(value) -> bool:
    if value == "":
        return True
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_IFACE_RE.match(value))


def _cpu_mask(value) -> bool:
    # one mask for all vCPUs, or one per vCPU separated by ":"
    return isinstance(value, str) and all(_CPU_LIST_RE.match(part)
                                          for part in value.split(":"))


def _no_comma(value) -> bool:
    # values pasted into qemu's "key=value,..." option syntax
    return isinstance(value, str) and "," not in value


_BOOL = (_is_bool, "a boolean")
_STR = (_string, "a string")
_PATH = (_abs_path, "an absolute path")
_OPT_PATH = (_maybe_abs_path, "empty or an absolute path")


def _choice(values):
    return (_one_of(values), "one of %s" % ", ".join(repr(v) for v in values))


CHECKS = {
    constants.HV_KVM_PATH: _PATH,
    constants.HV_KERNEL_PATH: _OPT_PATH,
    constants.HV_INITRD_PATH: _OPT_PATH,
    constants.HV_KERNEL_ARGS: _STR,
    constants.HV_ROOT_PATH: _STR,
    "acpi": _BOOL,
    "serial_console": _BOOL,
    "serial_speed": (_int_in(1, 4000000), "a positive integer"),
    "vnc_bind_address": (_address_or_iface, "an IP address or a network interface"),
    "vnc_tls": _BOOL,
    "vnc_x509_path": _OPT_PATH,
    "vnc_x509_verify": _BOOL,
    "vnc_password_file": _OPT_PATH,
    "scsi_controller_type": _choice(SCSI_CONTROLLERS),
    "kvm_pci_reservations": (_int_in(0, 32), "an integer between 0 and 32"),
    "spice_bind": (_address_or_iface, "an IP address or a network interface"),
    "spice_ip_version": (lambda v: _int_in(0, 6)(v) and to_int(v) in (0, 4, 6),
                         "0, 4 or 6"),
    "spice_password_file": _OPT_PATH,
    "spice_image_compression": _choice(SPICE_IMAGE_COMPRESSIONS),
    "spice_jpeg_wan_compression": _choice(SPICE_WAN_COMPRESSIONS),
    "spice_zlib_glz_wan_compression": _choice(SPICE_WAN_COMPRESSIONS),
    "spice_streaming_video": _choice(SPICE_VIDEO_STREAMING),
    "spice_playback_compression": _BOOL,
    "spice_use_tls": _BOOL,
    "spice_tls_ciphers": _STR,
    "spice_use_vdagent": _BOOL,
    "floppy_image_path": _OPT_PATH,
    "cdrom_image_path": _OPT_PATH,
    "cdrom2_image_path": _OPT_PATH,
    "boot_order": _choice(BOOT_ORDERS),
    "nic_type": _choice(NIC_TYPES),
    "disk_type": _choice(DISK_TYPES),
    "cdrom_disk_type": _choice(("",) + DISK_TYPES),
    "disk_aio": _choice(DISK_AIOS),
    "usb_mouse": _choice(USB_MICE),
    "keymap": (_no_comma, "a keymap name"),
    constants.HV_MIGRATION_PORT: (_int_in(1, 65535), "a TCP port (1-65535)"),
    constants.HV_MIGRATION_BANDWIDTH: (_int_in(1), "a positive number of MiB/s"),
    constants.HV_MIGRATION_DOWNTIME: (_int_in(1), "a positive number of milliseconds"),
    constants.HV_MIGRATION_MODE: _choice(sorted(constants.HT_MIGRATION_MODES)),
    constants.HV_MIGRATION_TRANSPORT: _choice(MIGRATION_TRANSPORTS),
    "use_guest_agent": _BOOL,
    "use_localtime": _BOOL,
    "disk_cache": _choice(DISK_CACHES),
    "disk_discard": _choice(DISK_DISCARDS),
    constants.HV_SECURITY_MODEL: _choice(sorted(constants.HT_HVM_VALID_SM)),
    constants.HV_SECURITY_DOMAIN: _STR,
    constants.HV_KVM_FLAG: _choice(KVM_FLAGS),
    "vhost_net": _BOOL,
    "virtio_net_queues": (_int_in(1, 8), "an integer between 1 and 8"),
    constants.HV_USE_CHROOT: _BOOL,
    "user_shutdown": _BOOL,
    "mem_path": _OPT_PATH,
    "reboot_behavior": _choice(REBOOT_BEHAVIORS),
    "cpu_mask": (_cpu_mask, "'all' or CPU lists like 0-2,5 (one per vCPU with ':')"),
    "cpu_type": (_no_comma, "a CPU model name"),
    "cpu_cores": (_int_in(0), "a non-negative integer"),
    "cpu_threads": (_int_in(0), "a non-negative integer"),
    "cpu_sockets": (_int_in(0), "a non-negative integer"),
    "soundhw": _STR,
    "usb_devices": _STR,
    "vga": _STR,
    "kvm_extra": _STR,
    "machine_version": (_no_comma, "a machine type name"),
    "migration_caps": (lambda v: isinstance(v, str) and
                       all(re.match(r"^[a-z0-9-]+$", c) for c in v.split(":") if c),
                       "capability names separated by ':'"),
    "vnet_hdr": _BOOL,
}


def typed(hvparams: dict) -> dict:
    """Defaults filled in and every value converted to its declared type."""
    result = dict(constants.HVC_DEFAULTS[constants.HT_KVM])
    for key, value in hvparams.items():
        if key not in constants.KVM_PARAMETERS or value is None:
            continue
        kind = constants.KVM_PARAMETERS[key][0]
        try:
            if kind == "bool":
                value = to_bool(value)
            elif kind == "int":
                value = to_int(value)
        except ValueError:
            raise errors.HypervisorError("Invalid value %r for hypervisor parameter "
                                         "'%s'" % (value, key)) from None
        result[key] = value
    return result


def check_consistency(hvp: dict) -> None:
    """Rules between parameters (on filled, typed values); raise HypervisorError."""
    def fail(msg: str) -> None:
        raise errors.HypervisorError(msg)

    if not hvp[constants.HV_KERNEL_PATH]:
        if hvp[constants.HV_INITRD_PATH]:
            fail("initrd_path is set but kernel_path is empty (an initrd needs a kernel)")
    if hvp["boot_order"] == "cdrom" and not hvp["cdrom_image_path"]:
        fail("boot_order 'cdrom' needs cdrom_image_path")
    if hvp["boot_order"] == "floppy" and not hvp["floppy_image_path"]:
        fail("boot_order 'floppy' needs floppy_image_path")
    if hvp["cdrom2_image_path"] and not hvp["cdrom_image_path"]:
        fail("cdrom2_image_path needs cdrom_image_path (the first CD-ROM) as well")
    model = hvp[constants.HV_SECURITY_MODEL]
    domain = hvp[constants.HV_SECURITY_DOMAIN]
    if model == constants.HT_SM_USER and not domain:
        fail("security_model 'user' needs security_domain (a local user name)")
    if model != constants.HT_SM_USER and domain:
        fail("security_domain can only be set with security_model 'user' (it is %r)"
             % model)
    if not hvp["vnc_bind_address"]:
        for key in ("vnc_tls", "vnc_x509_verify"):
            if hvp[key]:
                fail("%s needs vnc_bind_address" % key)
        if hvp["vnc_x509_path"] or hvp["vnc_password_file"]:
            fail("vnc_x509_path and vnc_password_file need vnc_bind_address")
    if hvp["vnc_x509_verify"] and not hvp["vnc_x509_path"]:
        fail("vnc_x509_verify needs vnc_x509_path")
    if hvp["vnc_bind_address"] and hvp["spice_bind"]:
        fail("VNC and SPICE cannot be enabled together (vnc_bind_address, spice_bind)")
    if not hvp["spice_bind"]:
        for key in ("spice_password_file", "spice_image_compression",
                    "spice_jpeg_wan_compression", "spice_zlib_glz_wan_compression",
                    "spice_streaming_video"):
            if hvp[key]:
                fail("%s needs spice_bind" % key)
        if hvp["spice_use_tls"]:
            fail("spice_use_tls needs spice_bind")
    elif hvp["spice_ip_version"]:
        try:
            addr = ipaddress.ip_address(hvp["spice_bind"])
            if addr.version != hvp["spice_ip_version"]:
                fail("spice_bind %s is not an IPv%d address"
                     % (hvp["spice_bind"], hvp["spice_ip_version"]))
        except ValueError:
            pass  # an interface name: its address family is picked at start
    topology = [hvp["cpu_cores"], hvp["cpu_threads"], hvp["cpu_sockets"]]
    if any(topology) and not all(topology):
        fail("cpu_cores, cpu_threads and cpu_sockets must be set together (or all 0)")
