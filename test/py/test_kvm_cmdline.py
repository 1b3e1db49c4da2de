"""The qemu command line: what each hypervisor parameter turns into."""

import pytest

from ganeti import errors
from ganeti.hypervisor.kvm import cmdline, params
from ganeti.hypervisor.kvm.qemu_info import QemuInfo

OPTIONS = frozenset(["-daemonize", "-accel", "-machine", "-runas", "-chroot", "-qmp"])
QEMU = QemuInfo("/usr/bin/qemu-system-x86_64", (7, 2, 0), "QEMU 7.2", OPTIONS,
                {"pc-i440fx-7.2": "Standard PC", "q35": "Standard PC (Q35)"},
                "pc-i440fx-7.2")


def build(hv=None, **kwargs):
    spec = cmdline.LaunchSpec(
        name="inst1.example.com", uuid="6f1b3b5e-aaaa-4bbb-8ccc-000000000001",
        hvp=params.typed(hv or {}), memory=256, vcpus=2, qemu=kwargs.pop("qemu", QEMU),
        pidfile="/run/k/pid/inst1", qmp_socket="/run/k/ctrl/inst1.qmp",
        serial_socket="/run/k/ctrl/inst1.serial", console_log="/run/k/log/inst1.console",
        **kwargs)
    return cmdline.build_command(spec)


def value_of(args, option, nth=0):
    found = [args[i + 1] for i, a in enumerate(args) if a == option]
    return found[nth] if len(found) > nth else None


def all_values(args, option):
    return [args[i + 1] for i, a in enumerate(args) if a == option]


def test_basic_command_line():
    args = build()
    assert args[0] == "/usr/bin/qemu-system-x86_64"
    assert value_of(args, "-name") == "inst1.example.com"
    assert value_of(args, "-uuid") == "6f1b3b5e-aaaa-4bbb-8ccc-000000000001"
    assert value_of(args, "-pidfile") == "/run/k/pid/inst1"
    assert "-daemonize" in args and "-nodefaults" in args
    assert value_of(args, "-m") == "256" and value_of(args, "-smp") == "2"
    assert value_of(args, "-machine") == "pc-i440fx-7.2"
    assert value_of(args, "-qmp") == "unix:/run/k/ctrl/inst1.qmp,server=on,wait=off"
    assert "-S" not in args and "-incoming" not in args
    assert "-accel" not in args  # kvm_flag "": qemu's own default


def test_kernel_boot_with_serial_console():
    args = build({"kernel_path": "/img/vmlinux", "initrd_path": "/img/initrd.img",
                  "root_path": "/dev/vda", "kernel_args": "ro quiet", "serial_speed": 115200})
    assert value_of(args, "-kernel") == "/img/vmlinux"
    assert value_of(args, "-initrd") == "/img/initrd.img"
    assert value_of(args, "-append") == "root=/dev/vda ro quiet console=ttyS0,115200"
    assert "-boot" not in args
    chardev = value_of(args, "-chardev")
    assert chardev.startswith("socket,id=serial0,path=/run/k/ctrl/inst1.serial,"
                              "server=on,wait=off")
    assert "logfile=/run/k/log/inst1.console" in chardev
    assert value_of(args, "-serial") == "chardev:serial0"


def test_disk_boot_and_no_serial_console():
    args = build({"kernel_path": "", "boot_order": "disk", "serial_console": False},
                 disks=[cmdline.Disk("/srv/inst1/disk0")])
    assert "-kernel" not in args and "-append" not in args
    assert value_of(args, "-boot") == "order=c"
    assert value_of(args, "-serial") == "none"
    assert value_of(args, "-device").startswith("virtio-blk-pci,drive=disk0")
    assert "bootindex=0" in value_of(args, "-device")
    args = build({"kernel_path": "", "boot_order": "network"},
                 nics=[cmdline.Nic("aa:00:00:11:22:33", "gtabcdef0n0")])
    assert value_of(args, "-boot") == "order=n"


def test_kvm_flag_selects_the_accelerator():
    assert value_of(build({"kvm_flag": "disabled"}), "-accel") == "tcg"
    assert value_of(build({"kvm_flag": "enabled"}), "-accel") == "kvm"
    old = QemuInfo("/usr/bin/kvm", (1, 0, 0), "", frozenset(["-daemonize", "-machine"]),
                   {}, "")
    args = build({"kvm_flag": "disabled"}, qemu=old)
    assert "-accel" not in args and value_of(args, "-machine") == "accel=tcg"


def test_machine_cpu_and_topology():
    args = build({"acpi": False, "cpu_type": "qemu64", "cpu_cores": 2, "cpu_threads": 1,
                  "cpu_sockets": 1}, machine="q35")
    assert value_of(args, "-machine") == "q35,acpi=off"
    assert value_of(args, "-cpu") == "qemu64"
    assert value_of(args, "-smp") == "2,cores=2,threads=1,sockets=1"


def test_disks_types_cache_and_modes():
    disks = [cmdline.Disk("/d/disk0"), cmdline.Disk("/d/disk1", "ro")]
    args = build({"disk_cache": "none", "disk_aio": "native", "disk_discard": "unmap"},
                 disks=disks)
    drives = all_values(args, "-drive")
    assert drives[0] == ("file=/d/disk0,format=raw,id=disk0,cache=none,aio=native,"
                         "discard=unmap,if=none")
    assert "readonly=on" in drives[1]
    devices = [d for d in all_values(args, "-device") if d.startswith("virtio-blk")]
    assert devices == ["virtio-blk-pci,drive=disk0,id=virtio-disk0",
                       "virtio-blk-pci,drive=disk1,id=virtio-disk1"]
    # aio=native needs O_DIRECT: with the default cache it falls back to threads
    assert "aio=threads" in all_values(build({"disk_aio": "native"}, disks=disks[:1]),
                                       "-drive")[0]
    ide = all_values(build({"disk_type": "ide"}, disks=disks[:1]), "-drive")[0]
    assert ide.endswith("if=ide")
    scsi = build({"disk_type": "scsi", "scsi_controller_type": "virtio-scsi-pci"},
                 disks=disks[:1])
    assert "virtio-scsi-pci,id=scsi0" in all_values(scsi, "-device")


def test_cdrom_and_floppy():
    args = build({"cdrom_image_path": "/iso/a.iso", "cdrom2_image_path": "/iso/b.iso",
                  "floppy_image_path": "/img/f.img", "boot_order": "cdrom",
                  "kernel_path": ""})
    drives = all_values(args, "-drive")
    assert "file=/iso/a.iso,format=raw,media=cdrom,readonly=on,if=ide" in drives
    assert any(d.startswith("file=/iso/b.iso") for d in drives)
    assert "file=/img/f.img,format=raw,if=floppy" in drives
    assert value_of(args, "-boot") == "order=d"


def test_nics():
    nics = [cmdline.Nic("aa:00:00:11:22:33", "gt12345678n0"),
            cmdline.Nic("aa:00:00:11:22:34", "gt12345678n1")]
    args = build({"virtio_net_queues": 2}, nics=nics)
    assert all_values(args, "-netdev") == [
        "tap,id=net0,ifname=gt12345678n0,script=no,downscript=no,vhost=on,queues=2",
        "tap,id=net1,ifname=gt12345678n1,script=no,downscript=no,vhost=on,queues=2"]
    nic_devs = [d for d in all_values(args, "-device") if "netdev=" in d]
    assert nic_devs[0] == ("virtio-net-pci,netdev=net0,mac=aa:00:00:11:22:33,id=nic0,"
                           "mq=on,vectors=6")
    args = build({"nic_type": "e1000", "vhost_net": False}, nics=nics[:1])
    assert "vhost" not in value_of(args, "-netdev")
    assert [d for d in all_values(args, "-device") if "netdev=" in d] == [
        "e1000,netdev=net0,mac=aa:00:00:11:22:33,id=nic0"]


def test_display_vnc_and_spice():
    args = build({"vnc_bind_address": "127.0.0.1"}, vnc_display=7)
    assert value_of(args, "-vnc") == "127.0.0.1:7"
    args = build({"vnc_bind_address": "::1", "vnc_tls": True,
                  "vnc_x509_path": "/etc/vnc"}, vnc_display=1)
    assert value_of(args, "-vnc") == "[::1]:1,tls-creds=vnctls0"
    assert "dir=/etc/vnc" in value_of(args, "-object")
    args = build({"spice_bind": "127.0.0.1", "spice_image_compression": "auto_glz"},
                 spice_port=11000)
    spice = value_of(args, "-spice")
    assert spice.startswith("addr=127.0.0.1,port=11000")
    assert "disable-ticketing=on" in spice and "image-compression=auto_glz" in spice
    args = build()
    assert value_of(args, "-vga") == "none" and value_of(args, "-display") == "none"


def test_misc_options():
    args = build({"keymap": "de", "use_localtime": True, "reboot_behavior": "exit",
                  "mem_path": "/hugepages", "usb_mouse": "tablet",
                  "usb_devices": "usb-kbd,usb-storage", "kvm_extra": "-no-hpet -rtc clock=vm",
                  "use_guest_agent": True}, agent_socket="/run/k/ctrl/inst1.qga")
    assert value_of(args, "-k") == "de"
    assert "base=localtime" in all_values(args, "-rtc")
    assert "-no-reboot" in args
    assert value_of(args, "-mem-path") == "/hugepages"
    devices = all_values(args, "-device")
    assert "usb-tablet" in devices and "usb-kbd" in devices and "usb-storage" in devices
    assert args[-3:] == ["-no-hpet", "-rtc", "clock=vm"]  # kvm_extra comes last
    assert any("org.qemu.guest_agent.0" in d for d in devices)
    assert "virtio-balloon-pci,id=balloon0" in devices


def test_security_paused_incoming_and_tls():
    args = build(runas="4001:4001", chroot="/run/k/chroot/inst1", startup_paused=True,
                 incoming=True, tls_client_dir="/t/client", tls_server_dir="/t/server")
    assert value_of(args, "-runas") == "4001:4001"
    assert value_of(args, "-chroot") == "/run/k/chroot/inst1"
    assert "-S" in args
    assert value_of(args, "-incoming") == "defer"
    objects = all_values(args, "-object")
    assert ("tls-creds-x509,id=ganeti-migration-client,dir=/t/client,endpoint=client"
            in objects)
    assert ("tls-creds-x509,id=ganeti-migration-server,dir=/t/server,endpoint=server,"
            "verify-peer=on" in objects)
    # without an incoming migration the server side is not loaded
    assert len(all_values(build(tls_client_dir="/t/c", tls_server_dir="/t/s"),
                          "-object")) == 1


def test_run_with_on_new_qemu():
    new = QemuInfo("/usr/bin/qemu", (9, 0, 0), "", OPTIONS | {"-run-with"}, {}, "")
    args = build(qemu=new, runas="nobody", chroot="/c")
    assert value_of(args, "-run-with") == "user=nobody,chroot=/c"
    assert "-runas" not in args and "-chroot" not in args


def test_qemu_that_cannot_daemonize_is_refused():
    bad = QemuInfo("/usr/bin/qemu", (0, 9, 0), "", frozenset(), {}, "")
    with pytest.raises(errors.HypervisorError, match="cannot daemonize"):
        build(qemu=bad)
