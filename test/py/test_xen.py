"""The Xen hypervisors without Xen: xl output parsers against captured ``xl list``,
``xl list --long``, ``xl info`` and ``xl uptime`` outputs, configuration files, and the
hypervisor contract driven through a scripted xl runner."""

import os

import pytest

from ganeti import constants, errors, hypervisor
from ganeti.hypervisor.xen import XenHvmHypervisor, XenPvmHypervisor, config, params, xl
from ganeti.utils.process import RunResult

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                    "shared", "data", "captured-outputs")


def read(name: str) -> str:
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip("captured output %s not available" % name)
    with open(path) as fh:
        return fh.read()


# --- parsers ---------------------------------------------------------------------------

def test_xl_list_dom0_only():
    assert xl.parse_xl_list(read("xen-xl-list-4.0.1-dom0-only.txt")) == []
    doms = xl.parse_xl_list(read("xen-xl-list-4.0.1-dom0-only.txt"), include_dom0=True)
    assert doms == [xl.Domain("Domain-0", 0, 1023, 1, "r-----", 121152.6)]


def test_xl_list_four_instances():
    doms = xl.parse_xl_list(read("xen-xl-list-4.0.1-four-instances.txt"))
    assert [(d.name, d.id, d.memory, d.vcpus) for d in doms] == [
        ("server01.example.com", 1, 1024, 1),
        ("web3106215069.example.com", 3, 4096, 1),
        ("testinstance.example.com", 2, 2048, 2)]
    assert doms[2].state == "r-----" and doms[2].cpu_time == 244443.0
    assert not any(d.crashed_or_dying for d in doms)


def test_xl_list_crashed_instances():
    doms = xl.parse_xl_list(read("xen-xl-list-4.4-crashed-instances.txt"))
    crashed = {d.name: d.crashed_or_dying for d in doms}
    assert crashed == {"server01.example.com": False, "(null)": True,
                       "alsodying.example.com": True}
    assert [d for d in doms if d.name == "(null)"][0].shutdown


def test_xl_list_garbage():
    with pytest.raises(errors.HypervisorError, match="Can't parse"):
        xl.parse_xl_list("Name ID Mem\nfoo 1 2\n")
    with pytest.raises(errors.HypervisorError, match="Can't parse"):
        xl.parse_xl_list("foo x 1024 1 r----- 1.0\n")


def test_xl_info():
    info = xl.parse_xl_info(read("xen-xl-info-4.0.1.txt"))
    assert info["nr_cpus"] == "4" and info["total_memory"] == "16378"
    assert info["xen_major"] == "4" and info["xen_extra"] == ".1"
    assert info["xen_commandline"].startswith("placeholder dom0_mem=1024M")
    doms = xl.parse_xl_list(read("xen-xl-list-4.0.1-four-instances.txt"), True)
    node = xl.node_info_from_xl(info, doms)
    assert node["memory_total"] == 16378 and node["memory_free"] == 8004
    assert node["memory_dom0"] == 1023 and node["cpu_dom0"] == 1
    assert node["cpu_total"] == 4 and node["cpu_nodes"] == 1 and node["cpu_sockets"] == 2
    assert node["hv_version"] == [4, 0]
    assert node["memory_hv"] == 16378 - 8004 - 1023 - (1024 + 4096 + 2048)
    with pytest.raises(errors.HypervisorError, match="lacks a numeric nr_cpus"):
        xl.node_info_from_xl({}, [])


def test_xl_uptime():
    assert xl.parse_xl_uptime(read("xen-xl-uptime-4.0.1.txt")) == {
        "Domain-0": (98 * 24 + 2) * 3600 + 27 * 60 + 44,
        "instance1.example.com": (15 * 24 + 20) * 3600 + 57 * 60 + 7}
    assert xl.parse_xl_uptime("Name ID Uptime\nx 5 0:01:02\n") == {"x": 62}
    with pytest.raises(errors.HypervisorError):
        xl.parse_xl_uptime("Name ID Uptime\nx 5 yesterday\n")


def test_xl_list_long_sexpr():
    doms = xl.parse_xl_list_long(read("xen-xl-list-long-4.0.1.txt"))
    assert [d["name"] for d in doms] == ["Domain-0", "instance1.example.com"]
    inst = doms[1]
    assert inst["domid"] == "119" and inst["memory"] == "128" and inst["vcpus"] == "1"
    assert inst["state"] == "-b----"
    assert inst["uuid"] == "e430b4b8-dc91-9390-dfe0-b83c138ea0aa"
    linux = xl.sexpr_fields(inst["image"])
    assert linux["kernel"] == "/boot/vmlinuz-ganetixenu"
    assert linux["args"] == "root=/dev/xvda1 ro"
    with pytest.raises(errors.HypervisorError, match="Unbalanced"):
        xl.parse_sexpr("(domain (name x)")
    with pytest.raises(errors.HypervisorError, match="Unbalanced"):
        xl.parse_sexpr("(domain))")


# --- configuration files ---------------------------------------------------------------

INST = {"name": "inst1.example.com", "uuid": "e430b4b8-dc91-9390-dfe0-b83c138ea0aa",
        "beparams": {"maxmem": 512, "vcpus": 2},
        "nics": [{"mac": "aa:00:00:30:8d:9d", "ip": None,
                  "nicparams": {"mode": "bridged", "link": "xen-br0"}}],
        "disks": [{"mode": "rw"}, {"mode": "ro"}], "network_port": 5901}


def test_pvm_config():
    hvp = params.typed({"kernel_path": "/boot/vmlinuz-xen", "initrd_path": "/boot/initrd",
                        "cpu_mask": "0-1", "cpu_cap": 50}, constants.HT_XEN_PVM)
    text = config.pvm_config(INST, hvp, [{"path": "/dev/xenvg/disk0"},
                                         {"path": "/srv/file/disk1"}], 512)
    lines = text.splitlines()
    for expected in ("name = 'inst1.example.com'", "memory = 512", "vcpus = 2",
                     "uuid = 'e430b4b8-dc91-9390-dfe0-b83c138ea0aa'", "cpus = '0-1'",
                     "cap = 50", "weight = 256", "kernel = '/boot/vmlinuz-xen'",
                     "ramdisk = '/boot/initrd'", "root = '/dev/xvda1'", "extra = 'ro'",
                     "vif = ['mac=aa:00:00:30:8d:9d,bridge=xen-br0']",
                     "disk = ['phy:/dev/xenvg/disk0,sda,w', 'file:/srv/file/disk1,sdb,r']",
                     "on_reboot = 'restart'"):
        assert expected in lines, expected
    boot = params.typed({"use_bootloader": True, "bootloader_path": "/usr/bin/pygrub",
                         "reboot_behavior": "exit"}, constants.HT_XEN_PVM)
    text = config.pvm_config(INST, boot, [], 512)
    assert "bootloader = '/usr/bin/pygrub'" in text and "kernel =" not in text
    assert "on_reboot = 'destroy'" in text


def test_hvm_config():
    hvp = params.typed({"boot_order": "c", "nic_type": "e1000", "use_localtime": True},
                       constants.HT_XEN_HVM)
    text = config.hvm_config(INST, hvp, [{"path": "/dev/xenvg/disk0"}], 512)
    lines = text.splitlines()
    for expected in ("builder = 'hvm'", "kernel = '/usr/lib/xen/boot/hvmloader'",
                     "device_model_override = '/usr/lib/xen/bin/qemu-dm'", "boot = 'c'",
                     "acpi = 1", "pae = 1", "localtime = 1", "vnc = 1",
                     "vnclisten = '0.0.0.0'", "vncdisplay = 1",
                     "vif = ['mac=aa:00:00:30:8d:9d,type=ioemu,model=e1000,"
                     "bridge=xen-br0']", "disk = ['phy:/dev/xenvg/disk0,hda,w']"):
        assert expected in lines, expected
    with pytest.raises(errors.HypervisorError, match="per-vCPU masks"):
        config.hvm_config(INST, dict(hvp, cpu_mask="0:1:2"), [], 512)


def test_parameter_checks():
    XenPvmHypervisor.check_parameter_syntax({"kernel_path": "/boot/x", "cpu_weight": "512",
                                             "use_bootloader": "false"})
    with pytest.raises(errors.HypervisorError, match="Unknown hypervisor parameter "
                       "'boot_order' for xen-pvm"):
        XenPvmHypervisor.check_parameter_syntax({"boot_order": "c"})
    with pytest.raises(errors.HypervisorError, match="'xen_cmd'"):
        XenPvmHypervisor.check_parameter_syntax({"xen_cmd": "xm"})
    with pytest.raises(errors.HypervisorError, match="'boot_order'"):
        XenHvmHypervisor.check_parameter_syntax({"boot_order": "z"})
    with pytest.raises(errors.HypervisorError, match="needs cdrom_image_path"):
        params.check_consistency(params.typed({"boot_order": "dc"}, "xen-hvm"), "xen-hvm")
    with pytest.raises(errors.HypervisorError, match="needs bootloader_path"):
        params.check_consistency(params.typed({"use_bootloader": True}, "xen-pvm"),
                                 "xen-pvm")
    assert set(XenPvmHypervisor.PARAMETERS) == set(constants.XEN_PVM_PARAMETERS)
    assert set(XenHvmHypervisor.PARAMETERS) == set(constants.XEN_HVM_PARAMETERS)


# --- the hypervisor through a scripted xl ---------------------------------------------

class FakeXl:
    """Plays xl: keeps domains, records commands."""

    def __init__(self):
        self.calls = []
        self.domains = {}  # name -> (id, mem, vcpus, state)
        self.fail = set()
        self.ignore_shutdown = False

    def __call__(self, cmd, timeout):
        self.calls.append(cmd[1:])
        sub = cmd[1]
        if sub in self.fail:
            return RunResult(cmd, 1, None, "", "xl: %s failed" % sub)
        out = ""
        if sub == "list":
            out = "Name    ID   Mem VCPUs State Time(s)\nDomain-0 0 1023 1 r----- 10.0\n" + \
                "".join("%s %d %d %d %s 1.5\n" % (n, i, m, v, s)
                        for n, (i, m, v, s) in self.domains.items())
        elif sub == "info":
            out = read("xen-xl-info-4.0.1.txt")
        elif sub == "create":
            text = open(cmd[-1]).read()
            name = text.split("name = '")[1].split("'")[0]
            mem = int(text.split("memory = ")[1].split("\n")[0])
            state = "--p---" if "-p" in cmd else "r-----"
            self.domains[name] = (len(self.domains) + 5, mem, 2, state)
        elif sub in ("shutdown", "destroy"):
            if sub == "destroy" or not self.ignore_shutdown:
                self.domains.pop(cmd[2], None)
        elif sub == "migrate":
            self.domains.pop(cmd[-2], None)
        return RunResult(cmd, 0, None, out, "")


@pytest.fixture
def fake():
    return FakeXl()


@pytest.fixture
def pvm(tmp_path, fake):
    return XenPvmHypervisor(str(tmp_path / "xen"), xl.XlRunner("xl", fake))


def inst(**hvparams):
    data = dict(INST, hypervisor="xen-pvm", disks=[{"mode": "rw"}])
    data["hvparams"] = dict({"kernel_path": "/boot/vmlinuz-xen"}, **hvparams)
    return data


def test_start_list_info_stop(pvm, fake):
    pvm.start_instance(inst(), [{"path": "/dev/xenvg/disk0"}], False)
    cfg = pvm.config_file("inst1.example.com")
    assert fake.calls[-1] == ["create", cfg]
    assert "disk = ['phy:/dev/xenvg/disk0,sda,w']" in open(cfg).read()
    assert os.stat(cfg).st_mode & 0o777 == 0o600
    assert pvm.list_instances() == ["inst1.example.com"]
    name, dom_id, mem, vcpus, state, cpu = pvm.get_instance_info("inst1.example.com")
    assert (name, mem, vcpus, state, cpu) == ("inst1.example.com", 512, 2, "running", 1.5)
    assert pvm.get_instance_info("other") is None
    with pytest.raises(errors.HypervisorError, match="already running"):
        pvm.start_instance(inst(), [], False)
    pvm.reboot_instance(inst())
    assert fake.calls[-1] == ["reboot", "inst1.example.com"]
    pvm.stop_instance(inst(), timeout=5)
    assert ["shutdown", "inst1.example.com"] in fake.calls
    assert pvm.list_instances() == [] and not os.path.exists(cfg)


def test_paused_start_soft_stop_timeout_and_destroy(pvm, fake):
    pvm.start_instance(inst(), [], True)
    assert fake.calls[-1][:2] == ["create", "-p"]
    assert pvm.get_instance_info("inst1.example.com")[4] == "paused"
    fake.ignore_shutdown = True
    pvm.stop_instance(inst(), timeout=1)
    assert pvm.list_instances() == ["inst1.example.com"]
    pvm.stop_instance(inst(), force=True)
    assert fake.calls[-2] == ["destroy", "inst1.example.com"]
    assert pvm.list_instances() == []


def test_failures_are_reported(pvm, fake):
    fake.fail.add("create")
    with pytest.raises(errors.HypervisorError, match="Failed to start instance "
                       "inst1.example.com: xl create"):
        pvm.start_instance(inst(), [], False)
    with pytest.raises(errors.HypervisorError, match="not running"):
        pvm.reboot_instance(inst())
    fake.fail.add("info")
    assert "xl info failed" in pvm.verify()


def test_node_info_console_balloon_and_migration(pvm, fake):
    node = pvm.get_node_info()
    assert node["memory_total"] == 16378 and node["cpu_total"] == 4
    assert pvm.verify() is None
    console = pvm.get_console(inst(), {"name": "node1", "primary_ip": "192.0.2.1",
                                       "ssh_port": 22}, {}, {}, {})
    assert console["kind"] == "ssh" and console["command"] == [
        "xl", "console", "inst1.example.com"]
    pvm.start_instance(inst(), [], False)
    pvm.balloon_instance_memory(inst(), 256)
    assert fake.calls[-1] == ["mem-set", "inst1.example.com", "256m"]
    pvm.migrate_instance("cluster", inst(), "192.0.2.2", False)
    assert fake.calls[-2] == ["pause", "inst1.example.com"]
    assert fake.calls[-1][:3] == ["migrate", "-C", pvm.config_file("inst1.example.com")]
    assert fake.calls[-1][-2:] == ["inst1.example.com", "192.0.2.2"]
    assert pvm.list_instances() == []


def test_hvm_vnc_console_and_lookup(tmp_path, fake):
    hvm = XenHvmHypervisor(str(tmp_path / "xen"), xl.XlRunner("xl", fake))
    console = hvm.get_console(INST, {"name": "node1"}, {}, {}, {})
    assert console == {"instance": "inst1.example.com", "kind": "vnc", "host": "node1",
                       "port": 5901, "display": 1}
    assert isinstance(hypervisor.get_hypervisor("xen-hvm"), XenHvmHypervisor)
    assert hypervisor.get_hypervisor_class("xen-pvm") is XenPvmHypervisor
