"""xl domain configuration files for PVM and HVM instances.

``pvm_config`` and ``hvm_config`` are pure functions of the instance (dict form), its
typed parameters and its block devices; the result is the text ``xl create`` reads.
"""

from ganeti import constants
from ganeti import errors


def _quote(value: str) -> str:
    return "'%s'" % str(value).replace("\\", "\\\\").replace("'", "\\'")


def _list(items: list[str]) -> str:
    return "[%s]" % ", ".join(_quote(i) for i in items)


def _cpus(cpu_mask: str, vcpus: int) -> list[str]:
    if cpu_mask == "all":
        return []
    parts = cpu_mask.split(":")
    if len(parts) == 1:
        return ["cpus = %s" % _quote(cpu_mask)]
    if len(parts) != vcpus:
        raise errors.HypervisorError("cpu_mask has %d per-vCPU masks for %d vCPUs"
                                     % (len(parts), vcpus))
    return ["cpus = %s" % _list(["all" if p == "all" else p for p in parts])]


def _disk_name(prefix: str, index: int) -> str:
    return "%s%s" % (prefix, chr(ord("a") + index))


def _disks(inst: dict, block_devices: list, prefix: str) -> list[str]:
    result = []
    inst_disks = inst.get("disks") or []
    for idx, dev in enumerate(block_devices):
        meta = inst_disks[idx] if idx < len(inst_disks) else {}
        mode = "r" if meta.get("mode") == constants.DISK_RDONLY else "w"
        path = dev["path"]
        kind = "phy" if path.startswith("/dev/") else "file"
        result.append("%s:%s,%s,%s" % (kind, path, _disk_name(prefix, idx), mode))
    return result


def _vifs(inst: dict, hvp: dict, hvm: bool) -> list[str]:
    result = []
    for nic in inst.get("nics") or []:
        params = nic.get("nicparams") or {}
        parts = ["mac=%s" % nic["mac"]]
        if hvm:
            if hvp["vif_type"]:
                parts.append("type=%s" % hvp["vif_type"])
            if hvp["nic_type"] != "paravirtual":
                parts.append("model=%s" % hvp["nic_type"])
        if nic.get("ip"):
            parts.append("ip=%s" % nic["ip"])
        mode = params.get(constants.NIC_MODE, constants.NIC_MODE_BRIDGED)
        if mode == constants.NIC_MODE_BRIDGED:
            parts.append("bridge=%s" % params.get(constants.NIC_LINK, ""))
        if hvp["vif_script"]:
            parts.append("script=%s" % hvp["vif_script"])
        result.append(",".join(parts))
    return result


def _common(inst: dict, hvp: dict, memory: int) -> list[str]:
    be = inst.get("beparams") or {}
    vcpus = be.get(constants.BE_VCPUS, 1)
    lines = ["name = %s" % _quote(inst["name"]),
             "memory = %d" % memory,
             "maxmem = %d" % be.get(constants.BE_MAXMEM, memory),
             "vcpus = %d" % vcpus]
    if inst.get("uuid"):
        lines.append("uuid = %s" % _quote(inst["uuid"]))
    lines += _cpus(hvp["cpu_mask"], vcpus)
    if hvp["cpu_cap"]:
        lines.append("cap = %d" % hvp["cpu_cap"])
    lines.append("weight = %d" % hvp["cpu_weight"])
    if hvp["cpuid"]:
        lines.append("cpuid = %s" % _quote(hvp["cpuid"]))
    if hvp["soundhw"]:
        lines.append("soundhw = %s" % _quote(hvp["soundhw"]))
    lines += ["on_poweroff = 'destroy'",
              "on_reboot = %s" % _quote("destroy" if hvp["reboot_behavior"] == "exit"
                                        else "restart"),
              "on_crash = 'restart'"]
    return lines


def pvm_config(inst: dict, hvp: dict, block_devices: list, memory: int) -> str:
    lines = _common(inst, hvp, memory)
    if hvp["use_bootloader"]:
        lines.append("bootloader = %s" % _quote(hvp["bootloader_path"]))
        if hvp["bootloader_args"]:
            lines.append("bootargs = %s" % _quote(hvp["bootloader_args"]))
    else:
        lines.append("kernel = %s" % _quote(hvp[constants.HV_KERNEL_PATH]))
        if hvp[constants.HV_INITRD_PATH]:
            lines.append("ramdisk = %s" % _quote(hvp[constants.HV_INITRD_PATH]))
        lines.append("root = %s" % _quote(hvp[constants.HV_ROOT_PATH]))
        if hvp[constants.HV_KERNEL_ARGS]:
            lines.append("extra = %s" % _quote(hvp[constants.HV_KERNEL_ARGS]))
    lines.append("vif = %s" % _list(_vifs(inst, hvp, False)))
    lines.append("disk = %s" % _list(_disks(inst, block_devices, hvp["blockdev_prefix"])))
    return "\n".join(lines) + "\n"


def hvm_config(inst: dict, hvp: dict, block_devices: list, memory: int) -> str:
    lines = ["builder = 'hvm'"] + _common(inst, hvp, memory)
    lines += ["kernel = %s" % _quote(hvp[constants.HV_KERNEL_PATH]),
              "device_model_override = %s" % _quote(hvp["device_model"]),
              "boot = %s" % _quote(hvp["boot_order"]),
              "acpi = %d" % int(hvp["acpi"]),
              "pae = %d" % int(hvp["pae"]),
              "localtime = %d" % int(hvp["use_localtime"]),
              "viridian = %d" % int(hvp["viridian"]),
              "serial = 'pty'"]
    if hvp["vnc_bind_address"]:
        lines += ["vnc = 1", "vnclisten = %s" % _quote(hvp["vnc_bind_address"])]
        port = inst.get("network_port")
        if port:
            lines.append("vncdisplay = %d" % (port - constants.VNC_BASE_PORT))
        else:
            lines.append("vncunused = 1")
        if hvp["vnc_password_file"]:
            lines.append("vncpasswd = %s" % _quote(_read_password(hvp["vnc_password_file"])))
    else:
        lines.append("vnc = 0")
    lines.append("vif = %s" % _list(_vifs(inst, hvp, True)))
    disks = _disks(inst, block_devices, hvp["blockdev_prefix"])
    if hvp["cdrom_image_path"]:
        disks.append("file:%s,hdc:cdrom,r" % hvp["cdrom_image_path"])
    lines.append("disk = %s" % _list(disks))
    if hvp["pci_pass"]:
        lines.append("pci = %s" % _list(hvp["pci_pass"].split(";")))
    return "\n".join(lines) + "\n"


def _read_password(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.readline().strip()
    except OSError as err:
        raise errors.HypervisorError("Cannot read the VNC password file %s: %s"
                                     % (path, err.strerror)) from None
