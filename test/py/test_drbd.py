"""ganeti.storage.drbd and the DRBD parsers of drbd_info: exact drbdsetup/drbdmeta
command lines, ``drbdsetup show`` and /proc/drbd against every captured output (and
broken variants), and the device life cycle against a small fake DRBD kernel.  The
shared secret must never appear in a log line or an error message (security S4)."""

import glob
import logging
import os
import re

import pytest

from ganeti import constants
from ganeti import errors
from ganeti import storage
from ganeti.storage import drbd
from ganeti.storage import drbd_info
from ganeti.storage.drbd import DRBD8Dev
from ganeti.storage.lvm import LogicalVolume
from ganeti.utils import process
from ganeti.utils.process import RunResult

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                    "shared", "data", "captured-outputs")
SECRET = "a6526cb6118297c9c82c7003924e236ceac0d867"
MIB = 1024 * 1024


def read(name: str) -> str:
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip("captured output %s not available" % name)
    with open(path) as fh:
        return fh.read()


class FakeDrbd:
    """A tiny DRBD 8.4 'kernel': answers drbdsetup, drbdmeta, lvs and blockdev, and
    keeps a /proc/drbd file up to date."""

    def __init__(self, tmp_path, meta_bytes=128 * MIB, peer_up=True):
        self.proc = tmp_path / "proc_drbd"
        self.minors: dict[int, dict] = {}
        self.calls: list[list[str]] = []
        self.failures: dict[str, tuple[str, int]] = {}
        self.meta_bytes = meta_bytes
        self.peer_up = peer_up
        self.now = 0.0
        self.stuck_connected = False
        self.write()

    def sleep(self, seconds):
        self.now += seconds

    def clock(self):
        return self.now

    def write(self):
        lines = ["version: 8.4.11 (api:1/proto:86-101)"]
        for minor, m in sorted(self.minors.items()):
            ldisk = "UpToDate" if m["disk"] else "Diskless"
            rdisk = "UpToDate" if m["cs"] == "Connected" else "DUnknown"
            peer = "Secondary" if m["cs"] == "Connected" else "Unknown"
            lines.append(" %d: cs:%s ro:%s/%s ds:%s/%s C r-----"
                         % (minor, m["cs"], m["role"], peer, ldisk, rdisk))
            lines.append("    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f"
                         " oos:0")
        self.proc.write_text("\n".join(lines) + "\n")

    def show(self, minor) -> str:
        m = self.minors[minor]
        out = ["resource resource%d {" % minor, "    options {", "    }"]
        if m["net"]:
            fam, local, remote = m["net"]
            out += ["    net {", '        cram-hmac-alg           "md5";',
                    '        shared-secret           "%s";' % m["secret"],
                    "        after-sb-0pri           discard-zero-changes;", "    }",
                    "    _remote_host {", "        address                 %s %s;"
                    % (fam, remote), "    }"]
        out.append("    _this_host {")
        if m["net"]:
            out.append("        address                 %s %s;" % (m["net"][0], m["net"][1]))
        out += ["        volume 0 {", "            device                      minor %d;"
                % minor]
        if m["disk"]:
            out += ['            disk                        "%s";' % m["disk"],
                    '            meta-disk                   "%s";' % m["meta"],
                    "            disk {",
                    "                resync-rate             %dk; # bytes/second"
                    % m["rate"], "            }"]
        out += ["        }", "    }", "}"]
        return "\n".join(out) + "\n"

    def __call__(self, cmd, **kwargs):
        cmd = [str(c) for c in cmd]
        self.calls.append(cmd)
        key = " ".join(cmd[:2])
        if key in self.failures:
            stderr, code = self.failures[key]
            return RunResult(cmd, code, None, "", stderr)
        out = ""
        if cmd[0] == "blockdev":
            out = "%d\n" % self.meta_bytes
        elif cmd[0] == "lvs":
            out = "  -wi-a-----|253|1|4.00|1|128.00\n"
        elif cmd[0] == "drbdsetup":
            out = self._drbdsetup(cmd)
            if out is None:
                return RunResult(cmd, 10, None, "", "Device minor not allocated\n")
        self.write()
        return RunResult(cmd, 0, None, out, "")

    def _drbdsetup(self, cmd):
        sub, args = cmd[1], cmd[2:]
        if sub == "new-resource":
            return ""
        if sub == "new-minor":
            self.minors[int(args[1])] = {"cs": "StandAlone", "role": "Secondary",
                                         "disk": None, "meta": None, "net": None,
                                         "secret": None, "rate": 250}
            return ""
        if sub == "down":
            self.minors.pop(int(args[0][len("resource"):]), None)
            return ""
        if sub == "connect":
            minor = int(args[0][len("resource"):])
            fam = args[1].split(":", 1)[0]
            strip = (lambda a: a.split(":", 1)[1])
            self.minors[minor].update(
                net=(fam, strip(args[1]), strip(args[2])),
                secret=args[args.index("--shared-secret") + 1],
                cs="Connected" if self.peer_up else "WFConnection")
            return ""
        if sub == "disconnect":
            for m in self.minors.values():
                if m["net"] and m["net"][1] == args[0].split(":", 1)[1]:
                    m["net"] = None
                    m["cs"] = "Connected" if self.stuck_connected else "StandAlone"
            return ""
        minor = int(args[0])
        if minor not in self.minors:
            return None
        m = self.minors[minor]
        if sub == "show":
            return self.show(minor)
        if sub == "attach":
            m.update(disk=args[1], meta=args[2])
        elif sub == "disk-options" and "--resync-rate" in args:
            m["rate"] = int(args[args.index("--resync-rate") + 1])
        elif sub == "primary":
            m["role"] = "Primary"
        elif sub == "secondary":
            m["role"] = "Secondary"
        return ""

    def drbd_calls(self):
        return [c for c in self.calls if c[0] in ("drbdsetup", "drbdmeta")
                and c[1] != "show"]


def make_dev(fake, minor=0, children=True, net=True, secret=SECRET, params=None,
             lhost="192.0.2.1", rhost="192.0.2.2"):
    kids = []
    if children:
        kids = [LogicalVolume(["xenvg", "u.disk0_data"], [], 1024, {}, {}, runner=fake),
                LogicalVolume(["xenvg", "u.disk0_meta"], [], 128, {}, {}, runner=fake)]
    dyn = {"local-minor": minor, "remote-minor": 3}
    if net:
        dyn.update({"local-ip": lhost, "remote-ip": rhost})
    return DRBD8Dev(["node-a", "node-b", 11000, minor, 3, secret], kids, 1024, params or {},
                    dyn, runner=fake, proc_path=str(fake.proc), sleep=fake.sleep,
                    clock=fake.clock)


@pytest.fixture
def fake(tmp_path):
    return FakeDrbd(tmp_path)


# ---------------------------------------------------------------- command lines

def test_command_lines_for_drbd_84():
    params = drbd.ld_params({})
    assert drbd.cmd_init_meta(5, "/dev/xenvg/m") == [
        "drbdmeta", "--force", "/dev/drbd5", "v08", "/dev/xenvg/m", "flex-external",
        "create-md"]
    assert drbd.cmds_local_init(5, "/dev/xenvg/d", "/dev/xenvg/m", 1024, params) == [
        ["drbdsetup", "new-resource", "resource5"],
        ["drbdsetup", "new-minor", "resource5", "5", "0"],
        ["drbdmeta", "/dev/drbd5", "v08", "/dev/xenvg/m", "flex-external", "apply-al"],
        ["drbdsetup", "attach", "5", "/dev/xenvg/d", "/dev/xenvg/m", "flexible",
         "--on-io-error=detach", "--size", "1024m"]]
    custom = drbd.ld_params({"disabled-barriers": "bf", "disable-meta-flush": True,
                             "disk-custom": "--al-extents 3389"})
    assert drbd.cmds_local_init(5, "d", "m", None, custom, new_resource=False)[-1] == [
        "drbdsetup", "attach", "5", "d", "m", "flexible", "--on-io-error=detach",
        "--md-flushes=no", "--disk-flushes=no", "--disk-barrier=no", "--al-extents",
        "3389"]
    assert drbd.cmd_connect(5, "ipv4", "192.0.2.1", 11000, "192.0.2.2", 11000, "C", False,
                            "s3cret", params) == [
        "drbdsetup", "connect", "resource5", "ipv4:192.0.2.1:11000", "ipv4:192.0.2.2:11000",
        "--protocol", "C", "--after-sb-0pri", "discard-zero-changes", "--after-sb-1pri",
        "consensus", "--cram-hmac-alg", "md5", "--shared-secret", "s3cret"]
    six = drbd.cmd_connect(1, "ipv6", "2001:db8::1", 11001, "2001:db8::2", 11001, "A", True,
                           "x", drbd.ld_params({"net-custom": "--ko-count 5"}))
    assert six[3:5] == ["ipv6:[2001:db8::1]:11001", "ipv6:[2001:db8::2]:11001"]
    assert "--allow-two-primaries" in six and six[-2:] == ["--ko-count", "5"]
    assert drbd.cmd_sync_params(5, params) == [
        "drbdsetup", "disk-options", "5", "--c-plan-ahead", "0", "--resync-rate", "61440"]
    dynamic = drbd.ld_params({"dynamic-resync": True, "c-max-rate": 100000})
    assert drbd.cmd_sync_params(5, dynamic) == [
        "drbdsetup", "disk-options", "5", "--c-plan-ahead", "20", "--c-fill-target", "0",
        "--c-delay-target", "1", "--c-max-rate", "100000", "--c-min-rate", "4096"]
    assert drbd.cmd_primary(5, True) == ["drbdsetup", "primary", "5", "--force"]
    assert drbd.cmd_secondary(5) == ["drbdsetup", "secondary", "5"]
    assert drbd.cmd_down(5) == ["drbdsetup", "down", "resource5"]
    assert drbd.cmd_resize(5, 2048) == ["drbdsetup", "resize", "5", "--size", "2048m"]
    assert drbd.cmd_pause_sync(5, False) == ["drbdsetup", "resume-sync", "5"]
    assert drbd.cmd_disconnect("ipv4", "a", 1, "b", 1) == [
        "drbdsetup", "disconnect", "ipv4:a:1", "ipv4:b:1"]


def test_invalid_disk_parameters_are_refused():
    with pytest.raises(errors.BlockDeviceError, match="disabled DRBD barriers"):
        drbd.barrier_args("bx", False)
    with pytest.raises(errors.BlockDeviceError, match="c-plan-ahead"):
        drbd.cmd_sync_params(1, drbd.ld_params({"dynamic-resync": True,
                                                "c-plan-ahead": 0}))
    with pytest.raises(errors.BlockDeviceError, match="custom DRBD parameters"):
        drbd.cmds_local_init(1, "d", "m", 1, drbd.ld_params({"disk-custom": "'open"}))


# ----------------------------------------------------------------- drbdsetup show

def test_show_parser_on_every_captured_output():
    expected = {
        "bdev-drbd-8.0.txt": (63, "/dev/xenvg/test.data", ("192.0.2.1", 11000), "A", 30720),
        "bdev-drbd-8.3.txt": (0, "/dev/xenvg/test.data", ("192.0.2.1", 11000), "C", 61440),
        "bdev-drbd-8.4.txt": (0, "/dev/xenvg/test.data", ("192.0.2.1", 11000), None, 61440),
        "bdev-drbd-8.4-no-disk-params.txt": (0, "/dev/xenvg/test.data",
                                             ("192.0.2.1", 11000), None, None),
        "bdev-drbd-disk.txt": (58, "/dev/xenvg/test.data", None, None, 250),
        "bdev-drbd-net-ip4.txt": (59, None, ("192.0.2.1", 11002), "C", 250),
        "bdev-drbd-net-ip6.txt": (0, None, ("2001:db8:65::1", 11048), "C", 61440),
    }
    files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DATA, "bdev-drbd-*")))
    assert set(files) >= set(expected) or pytest.skip("captured outputs not available")
    for name in files:
        info = drbd_info.parse_drbdsetup_show(read(name))
        assert (info.minor, info.local_dev, info.local_addr, info.protocol,
                info.resync_rate) == expected[name], name
        assert info.has_local_disk == (info.local_dev is not None)
        if info.local_dev:
            assert info.meta_dev == "/dev/xenvg/test.meta"
    v84 = drbd_info.parse_drbdsetup_show(read("bdev-drbd-8.4.txt"))
    assert v84.resource == "resource0" and v84.meta_index == 0
    assert v84.remote_addr == ("192.0.2.2", 11000) and v84.shared_secret == \
        "shared_secret_123"
    assert drbd_info.parse_drbdsetup_show(
        read("bdev-drbd-8.4-no-disk-params.txt")).meta_index is None
    six = drbd_info.parse_drbdsetup_show(read("bdev-drbd-net-ip6.txt"))
    assert six.family == "ipv6" and six.remote_addr == ("2001:db8:66::1", 11048)
    assert six.shared_secret == SECRET and SECRET not in repr(six)
    assert not drbd_info.parse_drbdsetup_show(read("bdev-drbd-disk.txt")).has_network
    assert drbd_info.parse_drbdsetup_show("").minor is None


@pytest.mark.parametrize("mangle", [
    lambda t: t[:len(t) // 2],                                       # truncated
    lambda t: t.rstrip().rstrip("}"),                                # last brace lost
    lambda t: t + "}\n",                                             # unbalanced
    lambda t: t.replace('"/dev/xenvg/test.data";', '"/dev/xenvg/test.data', 1),
    lambda t: t.replace("192.0.2.1:11000", "192.0.2.1:port", 1),
    lambda t: t.replace("ipv4 192.0.2.2", "ipv6 192.0.2.2", 1),
    lambda t: t.replace("minor 0;", "minor zero;", 1),
    lambda t: t.replace("resync-rate             61440k", "resync-rate 61x", 1),
])
def test_show_parser_rejects_broken_output(mangle):
    text = mangle(read("bdev-drbd-8.4.txt"))
    with pytest.raises(errors.BlockDeviceError, match="drbdsetup show"):
        assert drbd_info.parse_drbdsetup_show(text).resync_rate is None


def test_every_truncation_of_show_output_is_a_clean_error_or_a_result():
    for name in ("bdev-drbd-8.0.txt", "bdev-drbd-8.4.txt", "bdev-drbd-net-ip6.txt"):
        text = read(name)
        for cut in range(0, len(text), 3):
            try:
                drbd_info.parse_drbdsetup_show(text[:cut])
            except errors.BlockDeviceError:
                pass


# ---------------------------------------------------------------------- /proc/drbd

def test_every_captured_proc_drbd_parses():
    expected_minors = {
        "proc_drbd8.txt": [0, 1, 2, 4, 5, 6, 7, 8], "proc_drbd80-emptyline.txt": [0, 1, 2, 5, 6],
        "proc_drbd80-emptyversion.txt": [0, 1, 2, 5, 6],
        "proc_drbd83.txt": [0, 1, 2, 4, 5, 6, 7, 8], "proc_drbd83_sync.txt": [0, 1, 2, 3, 4],
        "proc_drbd83_sync_krnl2.6.39.txt": [0, 1, 2, 3, 4],
        "proc_drbd83_sync_want.txt": [0, 1, 2, 3], "proc_drbd84.txt": [0, 1, 2, 4, 6, 8],
        "proc_drbd84_emptyfirst.txt": [1, 2, 4, 6, 8], "proc_drbd84_sync.txt": [0, 3, 5]}
    for name, minors in expected_minors.items():
        info = drbd_info.parse_proc_drbd(read(name))
        assert sorted(info.minors) == minors, name
        assert all(m.flags is None or "\0" not in m.flags for m in info.minors.values())
    info = drbd_info.parse_proc_drbd(read("proc_drbd83.txt"))
    assert info.used_minors() == {0, 1, 4, 5, 6, 7, 8}
    assert info.minors[1].flags == "r---" and info.minors[2].is_in_use is False
    assert info.minors[4].is_wfconn


def test_progress_and_estimate_on_one_line():
    info = drbd_info.parse_proc_drbd(read("proc_drbd83_sync_krnl2.6.39.txt"))
    m3 = info.minors[3]
    assert (m3.sync_percent, m3.sync_unit, m3.est_time, m3.speed_kib) == \
        (2.4, "M", 248, 61736)
    assert m3.is_in_resync and m3.ldisk == "UpToDate" and m3.rdisk == "Inconsistent"


def test_minor_pairing_and_free_minor(tmp_path):
    pairing = drbd_info.parse_minor_pairing(read("instance-minor-pairing.txt"))
    assert pairing == [drbd_info.MinorPairing("machine1.example.com", 0,
                                              "instance1.example.com", "disk/0",
                                              "secondary", "machine2.example.com")]
    for bad in ("[[", "{}", '[["n", "0", "i", "d", "r", "p"]]', '[["n", 0, "i"]]',
                '[["n", -1, "i", "d", "r", "p"]]'):
        with pytest.raises(errors.BlockDeviceError, match="pairing"):
            drbd_info.parse_minor_pairing(bad)
    proc = tmp_path / "drbd"
    proc.write_text(read("proc_drbd84.txt"))
    text = '[["node1", 3, "i1", "disk/0", "primary", "node2"],' \
           ' ["node2", 5, "i1", "disk/0", "secondary", "node1"]]'
    # 0, 1, 4, 6, 8 are configured in the kernel, 3 in the configuration; 2 is free.
    assert drbd.allocate_minor("node1", text, str(proc)) == 2
    info = drbd_info.parse_proc_drbd(read("proc_drbd84.txt"))
    assert drbd_info.find_free_minor({2, 3, 5}, info) == 7
    with pytest.raises(errors.BlockDeviceError, match="No free DRBD minor"):
        drbd_info.find_free_minor(range(4), None, max_minor=3)


def test_usermode_helper(tmp_path):
    path = os.path.join(DATA, "sys_drbd_usermode_helper.txt")
    if not os.path.exists(path):
        pytest.skip("captured output not available")
    assert drbd.drbd_helper(path) == constants.DEFAULT_DRBD_HELPER
    with pytest.raises(errors.BlockDeviceError, match="usermode helper"):
        drbd.drbd_helper(str(tmp_path / "missing"))
    with pytest.raises(errors.BlockDeviceError, match="not loaded"):
        drbd.read_proc_drbd(str(tmp_path / "missing"))


# ------------------------------------------------------------------ the device

def test_invalid_ids_and_addresses(fake):
    with pytest.raises(errors.BlockDeviceError, match="6 elements"):
        DRBD8Dev(["a", "b", 11000], [], 1, {}, {"local-minor": 0})
    with pytest.raises(errors.BlockDeviceError, match="shared secret") as err:
        make_dev(fake, secret="bad secret;" + SECRET)
    assert SECRET not in str(err.value)
    with pytest.raises(errors.BlockDeviceError, match="same"):
        make_dev(fake, rhost="192.0.2.1")
    with pytest.raises(errors.BlockDeviceError, match="families"):
        make_dev(fake, rhost="2001:db8::2")
    with pytest.raises(errors.BlockDeviceError, match="local minor"):
        DRBD8Dev(["a", "b", 11000, 0, 1, SECRET], [], 1, {}, {})
    with pytest.raises(errors.BlockDeviceError, match="data and a meta"):
        DRBD8Dev(["a", "b", 11000, 0, 1, SECRET], [None], 1, {}, {"local-minor": 0})
    dev = make_dev(fake)
    assert SECRET not in repr(dev) and dev.dev_path == "/dev/drbd0"
    assert storage.device_class(constants.DT_DRBD8) is DRBD8Dev


def test_create_initialises_meta_on_a_free_minor(fake):
    kids = make_dev(fake).children
    DRBD8Dev.create(["a", "b", 11000, 0, 3, SECRET], kids, 1024, None, {},
                    False, {"local-minor": 0}, runner=fake, proc_path=str(fake.proc))
    assert fake.calls == [
        ["lvchange", "-ay", "xenvg/u.disk0_meta"],
        fake.calls[1], fake.calls[2],  # lvs lookups of the meta LV
        ["blockdev", "--getsize64", "/dev/xenvg/u.disk0_meta"],
        ["drbdmeta", "--force", "/dev/drbd0", "v08", "/dev/xenvg/u.disk0_meta",
         "flex-external", "create-md"]]


def test_create_refuses_used_minor_small_meta_and_exclusive_storage(tmp_path):
    fake = FakeDrbd(tmp_path, meta_bytes=64 * MIB)
    kids = make_dev(fake).children
    args = (["a", "b", 11000, 0, 3, SECRET], kids, 1024, None, {})
    with pytest.raises(errors.BlockDeviceError, match="has 64.00 MiB"):
        DRBD8Dev.create(*args, False, {"local-minor": 0}, runner=fake,
                        proc_path=str(fake.proc))
    with pytest.raises(errors.BlockDeviceError, match="exclusive storage"):
        DRBD8Dev.create(*args, True, {"local-minor": 0}, runner=fake)
    fake.minors[0] = {"cs": "StandAlone", "role": "Secondary", "disk": None, "meta": None,
                      "net": None, "secret": None, "rate": 1}
    fake.write()
    with pytest.raises(errors.BlockDeviceError, match="minor is already in use"):
        DRBD8Dev.create(*args, False, {"local-minor": 0}, runner=fake,
                        proc_path=str(fake.proc))
    assert not [c for c in fake.calls if c[0] == "drbdmeta"]


def test_assemble_configures_disk_then_network(fake):
    dev = make_dev(fake)
    assert not dev.attach()
    dev.assemble()
    assert dev.attach() and dev.minor == 0
    sync = ["drbdsetup", "disk-options", "0", "--c-plan-ahead", "0", "--resync-rate",
            "61440"]
    assert fake.drbd_calls() == [
        ["drbdsetup", "new-resource", "resource0"],
        ["drbdsetup", "new-minor", "resource0", "0", "0"],
        ["drbdmeta", "/dev/drbd0", "v08", "/dev/xenvg/u.disk0_meta", "flex-external",
         "apply-al"],
        ["drbdsetup", "attach", "0", "/dev/xenvg/u.disk0_data", "/dev/xenvg/u.disk0_meta",
         "flexible", "--on-io-error=detach", "--size", "1024m"],
        sync,
        ["drbdsetup", "connect", "resource0", "ipv4:192.0.2.1:11000",
         "ipv4:192.0.2.2:11000", "--protocol", "C", "--after-sb-0pri",
         "discard-zero-changes", "--after-sb-1pri", "consensus", "--cram-hmac-alg", "md5",
         "--shared-secret", SECRET],
        sync]
    assert dev.verify_config() == []
    status = dev.get_sync_status()
    assert status["is_degraded"] is False and status["ldisk_status"] == constants.LDS_OKAY
    # Assembling again changes nothing.
    before = len(fake.drbd_calls())
    dev.assemble()
    assert fake.drbd_calls()[before:] == [sync]


def test_assemble_repairs_a_missing_network_and_a_wrong_peer(fake):
    dev = make_dev(fake)
    dev.assemble()
    fake.minors[0].update(net=None, cs="StandAlone")
    fake.write()
    fake.calls.clear()
    dev.assemble()
    assert [c[1] for c in fake.drbd_calls()] == ["disk-options", "connect", "disk-options"]
    fake.minors[0]["net"] = ("ipv4", "192.0.2.1:11000", "192.0.2.9:11000")
    fake.calls.clear()
    dev.assemble()
    assert fake.drbd_calls()[0] == ["drbdsetup", "disconnect", "ipv4:192.0.2.1:11000",
                                    "ipv4:192.0.2.9:11000"]
    assert dev.verify_config() == []


def test_assemble_refuses_a_minor_used_by_other_disks(fake):
    make_dev(fake).assemble()
    other = DRBD8Dev(["a", "b", 11000, 0, 3, SECRET],
                     [LogicalVolume(["xenvg", "o_data"], [], 1, {}, {}, runner=fake),
                      LogicalVolume(["xenvg", "o_meta"], [], 1, {}, {}, runner=fake)],
                     1024, {}, {"local-minor": 0, "local-ip": "192.0.2.1",
                                "remote-ip": "192.0.2.2"},
                     runner=fake, proc_path=str(fake.proc))
    with pytest.raises(errors.BlockDeviceError, match="in use with other local devices"):
        other.assemble()


def test_failed_attach_or_connect_leaves_no_minor_behind(fake):
    fake.failures["drbdsetup attach"] = ("0: Failure: (114) Lower device is already"
                                         " claimed\n", 10)
    dev = make_dev(fake)
    with pytest.raises(errors.BlockDeviceError, match="cannot attach the local disk.*"
                                                     "already claimed"):
        dev.assemble()
    assert fake.drbd_calls()[-1] == ["drbdsetup", "down", "resource0"] and not fake.minors
    del fake.failures["drbdsetup attach"]
    fake.failures["drbdsetup connect"] = ("bad address\n", 10)
    with pytest.raises(errors.BlockDeviceError, match="cannot set up the network"):
        dev.assemble()
    assert fake.drbd_calls()[-1] == ["drbdsetup", "down", "resource0"] and not fake.minors


def test_network_setup_that_never_shows_up_times_out(fake, monkeypatch):
    dev = make_dev(fake)
    monkeypatch.setattr(fake, "show", lambda minor: "resource resource0 {\n}\n")
    with pytest.raises(errors.BlockDeviceError, match="timeout while configuring"):
        dev.assemble()
    assert fake.now >= drbd.NET_CONFIG_TIMEOUT


def test_connect_without_secret_is_refused(fake):
    dev = make_dev(fake, secret="")
    with pytest.raises(errors.BlockDeviceError, match="without a shared secret"):
        dev.assemble()
    assert not any(c[1] == "connect" for c in fake.drbd_calls())


def test_diskless_and_standalone_devices(fake):
    diskless = make_dev(fake, children=False)
    diskless.assemble()
    assert [c[1] for c in fake.drbd_calls()] == ["new-resource", "new-minor", "connect"]
    assert diskless.get_sync_status()["ldisk_status"] == constants.LDS_FAULTY
    with pytest.raises(errors.BlockDeviceError, match="diskless"):
        diskless.grow(10, False, True, False)
    local = make_dev(fake, minor=1, net=False)
    local.assemble()
    assert not any(c[1] == "connect" for c in fake.drbd_calls()[-5:])
    status = local.get_sync_status()
    assert status["is_degraded"] and status["ldisk_status"] == constants.LDS_OKAY


def test_roles_grow_pause_and_shutdown(fake):
    dev = make_dev(fake)
    with pytest.raises(errors.BlockDeviceError, match="not active"):
        dev.open()
    dev.assemble()
    fake.calls.clear()
    dev.open(force=True)
    dev.close()
    dev.grow(512, False, True, False)     # first pass: the data LV
    dev.grow(512, False, False, False)    # second pass: DRBD itself
    assert dev.pause_resume_sync(True)
    dev.shutdown()
    dev.shutdown()                         # already down: nothing more to do
    assert [c for c in fake.calls if c[0] in ("drbdsetup", "lvresize")] == [
        ["drbdsetup", "primary", "0", "--force"],
        ["drbdsetup", "secondary", "0"],
        ["lvresize", "-L", "+524288k", "--alloc", "contiguous", "xenvg/u.disk0_data"],
        ["drbdsetup", "resize", "0", "--size", "1536m"],
        ["drbdsetup", "pause-sync", "0"],
        ["drbdsetup", "down", "resource0"]]
    assert not dev.attach()


def test_sync_status_and_activation_from_proc(fake, tmp_path):
    dev = make_dev(fake, minor=3)
    proc = tmp_path / "synced"
    proc.write_text(read("proc_drbd83_sync.txt"))
    dev.proc_path = str(proc)
    status = dev.get_sync_status()
    assert (status["sync_percent"], status["estimated_time"], status["is_degraded"],
            status["ldisk_status"]) == (34.9, 5, True, constants.LDS_UNKNOWN)
    assert drbd.wait_sync_status([dev]) == (False, 34.9)
    assert not dev.needs_activation()
    proc.write_text(read("proc_drbd84.txt"))  # minor 3 is not configured there
    assert dev.needs_activation()
    standalone = make_dev(fake, minor=8)
    standalone.proc_path = str(proc)
    assert standalone.needs_activation()
    healthy = make_dev(fake, minor=0)
    healthy.proc_path = str(proc)
    assert drbd.wait_sync_status([healthy]) == (True, 100.0)


def test_disconnect_and_reattach_for_migration(fake):
    dev = make_dev(fake)
    dev.assemble()
    dev.disconnect_net()
    assert fake.minors[0]["cs"] == "StandAlone"
    fake.calls.clear()
    dev.attach_net(multimaster=True)
    connect = [c for c in fake.calls if c[:2] == ["drbdsetup", "connect"]][0]
    assert "--allow-two-primaries" in connect
    assert connect[connect.index("--protocol") + 1] == constants.DRBD_MIGRATION_NET_PROTOCOL
    with pytest.raises(errors.BlockDeviceError, match="not StandAlone"):
        dev.attach_net(multimaster=False)


def test_disconnect_that_never_reaches_standalone_fails(fake):
    dev = make_dev(fake)
    dev.assemble()
    fake.stuck_connected = True
    with pytest.raises(errors.BlockDeviceError, match="still Connected"):
        dev.disconnect_net()
    assert fake.now >= drbd.NET_RECONFIG_TIMEOUT


def test_rename_only_while_inactive(fake):
    dev = make_dev(fake)
    dev.rename(["a", "c", 11001, 0, 4, SECRET])
    assert dev.unique_id[1] == "c"
    dev.assemble()
    with pytest.raises(errors.BlockDeviceError, match="active"):
        dev.rename(["a", "d", 11001, 0, 4, SECRET])


def test_verify_config_against_captured_84_output(fake):
    kids = [LogicalVolume(["xenvg", "test.data"], [], 1024, {}, {}, runner=fake),
            LogicalVolume(["xenvg", "test.meta"], [], 128, {}, {}, runner=fake)]
    dyn = {"local-minor": 0, "local-ip": "192.0.2.1", "remote-ip": "192.0.2.2"}
    info = drbd_info.parse_drbdsetup_show(read("bdev-drbd-8.4.txt"))
    good = DRBD8Dev(["a", "b", 11000, 0, 1, "shared_secret_123"], kids, 1024, {}, dyn)
    assert good.verify_config(info) == []
    bad = DRBD8Dev(["a", "b", 11001, 0, 1, SECRET], kids, 1024,
                   {"resync-rate": 1000, "protocol": "A"}, dyn)
    problems = bad.verify_config(info)
    assert problems[0].startswith("network is") and "shared secret differs" in problems
    bad = DRBD8Dev(["a", "b", 11000, 0, 1, SECRET], kids, 1024,
                   {"resync-rate": 1000, "protocol": "A"}, dyn)
    assert bad.verify_config(info) == ["shared secret differs",
                                       "protocol is None, expected A",
                                       "resync rate is 61440 KiB/s, expected 1000"]
    assert not any("shared_secret_123" in p or SECRET in p for p in problems)


def test_create_children_makes_data_and_meta_and_rolls_back_the_data_lv():
    created: set[str] = set()
    calls: list[list[str]] = []

    def runner(cmd, **kwargs):
        calls.append(cmd)
        name = cmd[-1]
        if cmd[0] == "pvs":
            return RunResult(cmd, 0, None, "  /dev/sda|xenvg|10000.00|5000.00|5000.00|a--|\n",
                             "")
        if cmd[0] == "lvs":
            if name in created:
                return RunResult(cmd, 0, None, "  -wi-a-----|253|1|4.00|1|128.00\n", "")
            return RunResult(cmd, 5, None, "", "  Failed to find logical volume\n")
        if cmd[0] == "lvcreate":
            lv = "xenvg/" + cmd[cmd.index("-n") + 1]
            if lv.endswith("_meta") and "fail-meta" in created:
                return RunResult(cmd, 5, None, "", "  insufficient free space\n")
            created.add(lv)
        if cmd[0] == "lvremove":
            created.discard(name)
        return RunResult(cmd, 0, None, "", "")

    data, meta = drbd.create_children(["xenvg", "u.disk0_data"], ["xenvg", "u.disk0_meta"],
                                      1024, {}, False, runner)
    sizes = [c[c.index("-L") + 1] for c in calls if c[0] == "lvcreate"]
    assert sizes == ["1024m", "%dm" % constants.DRBD_META_SIZE]
    assert meta.dev_path == "/dev/xenvg/u.disk0_meta"
    created.clear()
    created.add("fail-meta")
    calls.clear()
    with pytest.raises(errors.BlockDeviceError, match="insufficient free space"):
        drbd.create_children(["xenvg", "v.disk0_data"], ["xenvg", "v.disk0_meta"], 1024,
                             {}, False, runner)
    assert ["lvremove", "-f", "xenvg/v.disk0_data"] in calls
    assert created == {"fail-meta"}


def test_device_from_disk_builds_the_lv_children(fake):
    disk = {"dev_type": "drbd", "size": 1024, "logical_id": ["a", "b", 11000, 0, 1, SECRET],
            "dynamic_params": {"local-minor": 0, "local-ip": "192.0.2.1",
                               "remote-ip": "192.0.2.2"},
            "children": [{"dev_type": "plain", "size": 1024,
                          "logical_id": ["xenvg", "u.disk0_data"]},
                         {"dev_type": "plain", "size": 128,
                          "logical_id": ["xenvg", "u.disk0_meta"]}]}
    dev = storage.device_from_disk(disk, runner=fake)
    assert isinstance(dev, DRBD8Dev) and [c.dev_path for c in dev.children] == [
        "/dev/xenvg/u.disk0_data", "/dev/xenvg/u.disk0_meta"]


# ------------------------------------------------------------------------- secrets

def test_redaction_helpers():
    assert drbd.redact_cmd(["drbdsetup", "connect", "--shared-secret", "x", "--a",
                            "--shared-secret=y"]) == [
        "drbdsetup", "connect", "--shared-secret", "<redacted>", "--a",
        "--shared-secret=<redacted>"]
    assert drbd.redact("abc %s def" % SECRET, [SECRET, ""]) == "abc <redacted> def"


def test_secret_never_reaches_logs_or_errors(fake, caplog):
    """The connect fails through the real run_cmd (which logs failing commands with
    their arguments): neither that log line nor our error shows the secret."""
    dev = make_dev(fake)

    def real_runner(cmd, **kwargs):
        if cmd[:2] == ["drbdsetup", "connect"]:
            # /bin/sh -c 'echo ...; exit 10' sh <args>: echoes its argv like a tool might
            return process.run_cmd(["/bin/sh", "-c", 'echo "bad: $*" >&2; exit 10', "sh",
                                    *cmd], **kwargs)
        return fake(cmd, **kwargs)

    dev.runner = real_runner
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.BlockDeviceError) as err:
        dev.assemble()
    assert "cannot set up the network" in str(err.value)
    assert SECRET not in str(err.value) and "<redacted>" in str(err.value)
    assert "failed" in caplog.text and "drbdsetup" in caplog.text
    assert SECRET not in caplog.text
    assert re.search(r"--shared-secret.{1,6}<redacted>", caplog.text)
    # The filters are gone again once the command has run.
    assert not logging.getLogger().filters
