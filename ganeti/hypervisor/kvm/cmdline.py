"""The qemu command line of an instance, built from its (typed) hypervisor parameters.

``build_command`` is a pure function of a ``LaunchSpec``: no files are read and no
programs run, so every parameter's effect is unit-tested on the argument list.
"""

import shlex
from dataclasses import dataclass, field

from ganeti import constants
from ganeti import errors
from ganeti.hypervisor.kvm import tls
from ganeti.hypervisor.kvm.qemu_info import QemuInfo

_BOOT_LETTERS = {"floppy": "a", "cdrom": "d", "disk": "c", "network": "n"}
# nic_type -> qemu device model
_NIC_MODELS = {"paravirtual": "virtio-net-pci", "rtl8139": "rtl8139", "e1000": "e1000",
               "ne2k_pci": "ne2k_pci", "ne2k_isa": "ne2k_isa", "pcnet": "pcnet",
               "i82551": "i82551", "i82557b": "i82557b", "i82559er": "i82559er"}
# disk_type -> (if=..., or device model when "if=none" + -device)
_DISK_IFS = {"ide": "ide", "scsi": "scsi", "sd": "sd", "mtd": "mtd", "pflash": "pflash",
             "ioemu": "ide"}


@dataclass
class Disk:
    path: str
    mode: str = constants.DISK_RDWR
    uuid: str = ""


@dataclass
class Nic:
    mac: str
    tap: str = ""
    uuid: str = ""


@dataclass
class LaunchSpec:
    name: str
    uuid: str
    hvp: dict                        # typed, filled hypervisor parameters
    memory: int                      # MiB
    vcpus: int
    qemu: QemuInfo
    pidfile: str
    qmp_socket: str
    serial_socket: str
    console_log: str = ""
    agent_socket: str = ""
    machine: str = ""                # concrete machine type ("" = qemu's default)
    disks: list = field(default_factory=list)   # [Disk]
    nics: list = field(default_factory=list)    # [Nic]
    startup_paused: bool = False
    incoming: bool = False           # wait for a migration stream (-incoming defer)
    runas: str = ""                  # user name or "uid:gid"
    chroot: str = ""
    tls_client_dir: str = ""
    tls_server_dir: str = ""
    vnc_display: int = 0             # VNC listens on port 5900 + display
    spice_port: int = 0


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def machine_option(spec: LaunchSpec) -> list[str]:
    hvp = spec.hvp
    machine = spec.machine or spec.qemu.default_machine
    parts = [machine] if machine else []
    if not hvp["acpi"]:
        parts.append("acpi=off")
    accel = {constants.HT_KVM_ENABLED: "kvm", constants.HT_KVM_DISABLED: "tcg"}.get(
        hvp[constants.HV_KVM_FLAG])
    args = []
    if accel:
        if spec.qemu.has_option("-accel"):
            args += ["-accel", accel]
        else:
            parts.append("accel=%s" % accel)
    if parts:
        args = ["-machine", ",".join(parts)] + args
    return args


def _smp(spec: LaunchSpec) -> str:
    hvp = spec.hvp
    smp = "%d" % spec.vcpus
    if hvp["cpu_cores"] and hvp["cpu_threads"] and hvp["cpu_sockets"]:
        smp += ",cores=%d,threads=%d,sockets=%d" % (hvp["cpu_cores"], hvp["cpu_threads"],
                                                   hvp["cpu_sockets"])
    return smp


def _kernel_args(spec: LaunchSpec) -> list[str]:
    hvp = spec.hvp
    if not hvp[constants.HV_KERNEL_PATH]:
        return []
    args = ["-kernel", hvp[constants.HV_KERNEL_PATH]]
    if hvp[constants.HV_INITRD_PATH]:
        args += ["-initrd", hvp[constants.HV_INITRD_PATH]]
    append = []
    if hvp[constants.HV_ROOT_PATH]:
        append.append("root=%s" % hvp[constants.HV_ROOT_PATH])
    if hvp[constants.HV_KERNEL_ARGS]:
        append.append(hvp[constants.HV_KERNEL_ARGS])
    if hvp["serial_console"]:
        append.append("console=ttyS0,%d" % hvp["serial_speed"])
    if append:
        args += ["-append", " ".join(append)]
    return args


def _serial_args(spec: LaunchSpec) -> list[str]:
    if not spec.hvp["serial_console"]:
        return ["-serial", "none"]
    chardev = "socket,id=serial0,path=%s,server=on,wait=off" % spec.serial_socket
    if spec.console_log:
        chardev += ",logfile=%s,logappend=on" % spec.console_log
    return ["-chardev", chardev, "-serial", "chardev:serial0"]


def _display_args(spec: LaunchSpec) -> list[str]:
    hvp = spec.hvp
    args = []
    if hvp["vga"]:
        args += ["-vga", hvp["vga"]]
    elif not hvp["vnc_bind_address"] and not hvp["spice_bind"]:
        args += ["-vga", "none"]
    else:
        args += ["-vga", "std"]
    if hvp["vnc_bind_address"]:
        vnc = "%s:%d" % (hvp["vnc_bind_address"], spec.vnc_display)
        if hvp["vnc_bind_address"].count(":") > 1:
            vnc = "[%s]:%d" % (hvp["vnc_bind_address"], spec.vnc_display)
        if hvp["vnc_tls"]:
            vnc += ",tls-creds=vnctls0"
        if hvp["vnc_password_file"]:
            vnc += ",password=on"
        args += ["-display", "none", "-vnc", vnc]
        if hvp["vnc_tls"]:
            obj = "tls-creds-x509,id=vnctls0,endpoint=server,dir=%s" % (
                hvp["vnc_x509_path"] or "/etc/pki/qemu")
            obj += ",verify-peer=%s" % _onoff(hvp["vnc_x509_verify"])
            args = ["-object", obj] + args
    elif hvp["spice_bind"]:
        spice = ["addr=%s" % hvp["spice_bind"], "port=%d" % spec.spice_port]
        if hvp["spice_ip_version"]:
            spice.append("ipv%d=on" % hvp["spice_ip_version"])
        if not hvp["spice_password_file"]:
            spice.append("disable-ticketing=on")
        for key, opt in (("spice_image_compression", "image-compression"),
                         ("spice_jpeg_wan_compression", "jpeg-wan-compression"),
                         ("spice_zlib_glz_wan_compression", "zlib-glz-wan-compression"),
                         ("spice_streaming_video", "streaming-video")):
            if hvp[key]:
                spice.append("%s=%s" % (opt, hvp[key]))
        spice.append("playback-compression=%s" % _onoff(hvp["spice_playback_compression"]))
        args += ["-display", "none", "-spice", ",".join(spice)]
    else:
        args += ["-display", "none"]
    return args


def _boot_index(spec: LaunchSpec, kind: str) -> str:
    # SeaBIOS honours bootindex on devices; only the selected boot device gets one
    if spec.hvp[constants.HV_KERNEL_PATH]:
        return ""
    return ",bootindex=0" if spec.hvp["boot_order"] == kind else ""


def _disk_args(spec: LaunchSpec) -> list[str]:
    hvp = spec.hvp
    args = []
    cache = hvp["disk_cache"]
    for idx, disk in enumerate(spec.disks):
        drive = ["file=%s" % disk.path, "format=raw", "id=disk%d" % idx]
        if cache != "default":
            drive.append("cache=%s" % cache)
        aio = hvp["disk_aio"]
        if aio == "native" and cache not in ("none", "directsync"):
            # qemu refuses aio=native without O_DIRECT
            aio = "threads"
        drive.append("aio=%s" % aio)
        if hvp["disk_discard"] != "ignore":
            drive.append("discard=%s" % hvp["disk_discard"])
        if disk.mode == constants.DISK_RDONLY:
            drive.append("readonly=on")
        boot = _boot_index(spec, "disk") if idx == 0 else ""
        if hvp["disk_type"] == "paravirtual":
            drive.append("if=none")
            args += ["-drive", ",".join(drive),
                     "-device", "virtio-blk-pci,drive=disk%d,id=virtio-disk%d%s"
                     % (idx, idx, boot)]
        elif hvp["disk_type"] == "scsi" and hvp["scsi_controller_type"]:
            drive.append("if=none")
            if idx == 0:
                args += ["-device", "%s,id=scsi0" % hvp["scsi_controller_type"]]
            args += ["-drive", ",".join(drive),
                     "-device", "scsi-hd,drive=disk%d,bus=scsi0.0,scsi-id=%d%s"
                     % (idx, idx, boot)]
        else:
            drive.append("if=%s" % _DISK_IFS[hvp["disk_type"]])
            args += ["-drive", ",".join(drive)]
    for key in ("cdrom_image_path", "cdrom2_image_path"):
        if hvp[key]:
            iface = "ide"
            if hvp["cdrom_disk_type"] and hvp["cdrom_disk_type"] != "paravirtual":
                iface = _DISK_IFS.get(hvp["cdrom_disk_type"], "ide")
            args += ["-drive", "file=%s,format=raw,media=cdrom,readonly=on,if=%s"
                     % (hvp[key], iface)]
    if hvp["floppy_image_path"]:
        args += ["-drive", "file=%s,format=raw,if=floppy" % hvp["floppy_image_path"]]
    return args


def _nic_args(spec: LaunchSpec) -> list[str]:
    hvp = spec.hvp
    args = []
    for idx, nic in enumerate(spec.nics):
        netdev = ["tap", "id=net%d" % idx, "ifname=%s" % nic.tap, "script=no",
                  "downscript=no"]
        model = _NIC_MODELS[hvp["nic_type"]]
        if model == "virtio-net-pci":
            if hvp["vhost_net"]:
                netdev.append("vhost=on")
            if hvp["virtio_net_queues"] > 1:
                netdev.append("queues=%d" % hvp["virtio_net_queues"])
            if not hvp["vnet_hdr"]:
                netdev.append("vnet_hdr=off")
        device = "%s,netdev=net%d,mac=%s,id=nic%d" % (model, idx, nic.mac, idx)
        if model == "virtio-net-pci" and hvp["virtio_net_queues"] > 1:
            device += ",mq=on,vectors=%d" % (2 * hvp["virtio_net_queues"] + 2)
        if idx == 0:
            device += _boot_index(spec, "network")
        args += ["-netdev", ",".join(netdev), "-device", device]
    return args


def _security_args(spec: LaunchSpec) -> list[str]:
    if not spec.runas and not spec.chroot:
        return []
    if spec.qemu.has_option("-run-with"):
        parts = []
        if spec.runas:
            parts.append("user=%s" % spec.runas)
        if spec.chroot:
            parts.append("chroot=%s" % spec.chroot)
        return ["-run-with", ",".join(parts)]
    args = []
    if spec.runas:
        args += ["-runas", spec.runas]
    if spec.chroot:
        args += ["-chroot", spec.chroot]
    return args


def build_command(spec: LaunchSpec) -> list[str]:
    """The complete argument list (program first) for starting the instance."""
    hvp = spec.hvp
    if not spec.qemu.has_option("-daemonize"):
        raise errors.HypervisorError("qemu %s cannot daemonize" % spec.qemu.path)
    args = [spec.qemu.path, "-name", spec.name, "-uuid", spec.uuid,
            "-pidfile", spec.pidfile, "-daemonize", "-nodefaults"]
    args += machine_option(spec)
    args += ["-m", "%d" % spec.memory, "-smp", _smp(spec)]
    if hvp["cpu_type"]:
        args += ["-cpu", hvp["cpu_type"]]
    if hvp["mem_path"]:
        args += ["-mem-path", hvp["mem_path"]]
    args += ["-qmp", "unix:%s,server=on,wait=off" % spec.qmp_socket]
    args += _serial_args(spec)
    args += _display_args(spec)
    if hvp["keymap"]:
        args += ["-k", hvp["keymap"]]
    if hvp["use_localtime"]:
        args += ["-rtc", "base=localtime"]
    if hvp["reboot_behavior"] == "exit":
        args += ["-no-reboot"]
    boot = _BOOT_LETTERS[hvp["boot_order"]]
    if not hvp[constants.HV_KERNEL_PATH]:
        args += ["-boot", "order=%s" % boot]
    args += _kernel_args(spec)
    args += _disk_args(spec)
    args += _nic_args(spec)
    # the balloon lets "gnt-instance modify -m" change the memory of a running guest
    args += ["-device", "virtio-balloon-pci,id=balloon0"]
    if hvp["usb_mouse"] or hvp["usb_devices"]:
        args += ["-usb"]
        if hvp["usb_mouse"]:
            args += ["-device", "usb-%s" % hvp["usb_mouse"]]
        for dev in hvp["usb_devices"].replace(",", " ").split():
            args += ["-device", dev]
    if hvp["soundhw"]:
        args += ["-device", hvp["soundhw"]]
    if hvp["use_guest_agent"] and spec.agent_socket:
        args += ["-chardev", "socket,id=qga0,path=%s,server=on,wait=off" % spec.agent_socket,
                 "-device", "virtio-serial-pci,id=virtio-serial0",
                 "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"]
    if spec.tls_client_dir:
        args += ["-object", tls.object_arg(tls.CLIENT_OBJECT_ID, spec.tls_client_dir,
                                           "client")]
    if spec.incoming and spec.tls_server_dir:
        args += ["-object", tls.object_arg(tls.SERVER_OBJECT_ID, spec.tls_server_dir,
                                           "server")]
    args += _security_args(spec)
    if spec.startup_paused:
        args += ["-S"]
    if spec.incoming:
        args += ["-incoming", "defer"]
    if hvp["kvm_extra"]:
        args += shlex.split(hvp["kvm_extra"])
    return args
