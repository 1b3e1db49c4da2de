"""ganeti.storage.lvm: parsers against captured and synthetic LVM outputs (including
broken ones), and the exact commands the plain-disk backend runs, with a fake run_cmd."""

import os

import pytest

from ganeti import constants
from ganeti import errors
from ganeti import storage
from ganeti.storage import lvm
from ganeti.storage.lvm import LogicalVolume
from ganeti.utils.process import RunResult

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                    "shared", "data", "captured-outputs")


def read(name: str) -> str:
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip("captured output %s not available" % name)
    with open(path) as fh:
        return fh.read()


class FakeRunner:
    """Stands in for run_cmd: records every call, answers by command prefix."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.kwargs: list[dict] = []
        self.rules: list[tuple[list[str], list[RunResult]]] = []

    def on(self, prefix, stdout="", stderr="", exit_code=0):
        """Queue an answer; the last answer of a prefix repeats."""
        for rule_prefix, answers in self.rules:
            if rule_prefix == prefix:
                answers.append((stdout, stderr, exit_code))
                return self
        self.rules.append((prefix, [(stdout, stderr, exit_code)]))
        return self

    def __call__(self, cmd, **kwargs):
        cmd = [str(c) for c in cmd]
        self.calls.append(cmd)
        self.kwargs.append(kwargs)
        for prefix, answers in self.rules:
            if cmd[:len(prefix)] == prefix:
                stdout, stderr, code = answers.pop(0) if len(answers) > 1 else answers[0]
                return RunResult(cmd, code, None, stdout, stderr)
        return RunResult(cmd, 0, None, "", "")

    def commands(self, program: str) -> list[list[str]]:
        return [c for c in self.calls if c[0] == program]


PVS = ("  /dev/sda5|xenvg|102400.00|51200.00|51200.00|a--|inst1.disk0\n"
       "  /dev/sda5|xenvg|102400.00|51200.00|51200.00|a--|\n"
       "  /dev/sdb1|xenvg|102400.00|102400.00|0|a--|\n"
       "  /dev/sdc1|othervg|2048.00|2048.00|0|a--|\n")
VGS = ("  xenvg|204800.00|153600.00|wz--n-|2|3\n"
       "  othervg|2048.00|2048.00|wz--n-|1|0\n")
ATTACH = "  -wi-a-----|253|4|4.00|1|1024.00\n"
LVS = ("  xenvg|inst1.disk0|1024.00|-wi-ao----\n"
       "  xenvg|inst2.disk0|2048.00|-wi-------\n"
       "  xenvg|virt|0|vwi---v---\n")


def lvm_runner(pvs=PVS, vgs=VGS, lv_exists=False) -> FakeRunner:
    runner = FakeRunner()
    runner.on(["pvs"], pvs).on(["vgs"], vgs)
    if lv_exists:
        runner.on(["lvs"], ATTACH)
    else:
        runner.on(["lvs"], "", '  Failed to find logical volume "xenvg/x"\n', 5)
    return runner


# ------------------------------------------------------------------------ parsers

def test_lv_report_parses_the_captured_monitoring_output():
    rows = lvm.parse_lv_report(read("lvs_lv.txt"))
    assert [r["lv_name"] for r in rows] == [
        "df9ff3f6-a833-48ff-8bd5-bff2eaeab759.disk0_data",
        "df9ff3f6-a833-48ff-8bd5-bff2eaeab759.disk0_meta"]
    data, meta = rows
    assert data["lv_size"] == 1073741824 and meta["lv_size"] == 134217728
    assert meta["lv_size"] == constants.DRBD_META_SIZE * 1024 * 1024
    assert data["lv_kernel_major"] == 253 and meta["lv_kernel_minor"] == 1
    assert data["lv_major"] == -1 and data["vg_name"] == "xenvg"
    assert data["lv_tags"] == ["originstname+instance1.example.com"]
    assert meta["devices"] == ["/dev/sda5(16)"] and data["segtype"] == "linear"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:len(t) // 3],                                  # truncated mid-line
    lambda t: t.replace(";linear;", ";linear;extra;", 1),       # unexpected column
    lambda t: t.replace("1073741824B", "10737x1824B", 1),       # malformed number
    lambda t: t.replace("-wi-ao", "-wi", 1),                    # short attributes
])
def test_lv_report_rejects_broken_output(mangle):
    with pytest.raises(errors.BlockDeviceError, match="Cannot parse"):
        lvm.parse_lv_report(mangle(read("lvs_lv.txt")))


def test_every_truncation_is_a_clean_error_or_a_result():
    texts = [(lvm.parse_lv_report, read("lvs_lv.txt")), (lvm.parse_pvs, PVS),
             (lvm.parse_vgs, VGS), (lvm.parse_lv_list, LVS),
             (lvm.parse_node_volumes, "  a|1.00|/dev/sda(0),/dev/sdb(3)|xenvg\n")]
    for parser, text in texts:
        for cut in range(len(text)):
            try:
                parser(text[:cut])
            except errors.BlockDeviceError:
                pass


def test_missing_pvs_in_vgs_outputs_of_two_lvm_versions():
    old = read("vgs-missing-pvs-2.02.02.txt")
    new = read("vgs-missing-pvs-2.02.66.txt")
    assert lvm.find_missing_pvs(old) == ["gg4cmC-4lrT-EN1v-39OA-6S2b-6eEI-wWlJJJ"]
    assert lvm.find_missing_pvs(new) == ["bHRa26-svpL-ihJX-e0S4-2HNz-wAAi-AlBFtl"]
    assert "not found" in lvm.vg_consistency_problem("xenvg", old)
    assert "bHRa26" in lvm.vg_consistency_problem("xenvg", new)
    assert lvm.vg_consistency_problem("xenvg", "  xenvg|10.00|5.00|wz--n-|1|1\n") is None
    # Default-format lines carry no separator: they are messages, not data.
    report = lvm.parse_report(new, lvm.VG_FIELDS, "vgs")
    assert report.rows == [] and report.missing_pvs == [
        "bHRa26-svpL-ihJX-e0S4-2HNz-wAAi-AlBFtl"]


def test_vgreduce_outputs():
    old = lvm.parse_vgreduce(read("vgreduce-removemissing-2.02.02.txt"))
    assert old.consistent and old.missing_pvs == ["gg4cmC-4lrT-EN1v-39OA-6S2b-6eEI-wWlJJJ"]
    ok = lvm.parse_vgreduce(read("vgreduce-removemissing-2.02.66-ok.txt"))
    assert ok.consistent and ok.partial_lvs == []
    fail = lvm.parse_vgreduce(read("vgreduce-removemissing-2.02.66-fail.txt"))
    assert not fail.consistent and len(fail.partial_lvs) == 30
    assert "e972960d-4e35-46b2-9cda-7029916b28c1.disk0_meta" in fail.partial_lvs


def test_pvs_segments_are_merged_per_pv_and_flags_read():
    pvs = lvm.parse_pvs(PVS + "  [unknown]|xenvg|10240.00|10240.00|0|a-m|\n"
                        "  /dev/sdd1|xenvg|10240.00|10240.00|0|---|\n")
    by_name = {pv.name: pv for pv in pvs}
    assert by_name["/dev/sda5"].lv_list == ["inst1.disk0"]
    assert by_name["/dev/sda5"].free == 51200.0 and by_name["/dev/sdb1"].is_empty
    assert by_name["[unknown]"].missing and not by_name["/dev/sda5"].missing
    assert not by_name["/dev/sdd1"].allocatable


def test_lv_list_and_node_volumes():
    lvs = lvm.parse_lv_list(LVS)
    assert lvs == {"xenvg/inst1.disk0": (1024.0, False, True),
                   "xenvg/inst2.disk0": (2048.0, True, False)}
    vols = lvm.parse_node_volumes("  inst1.disk0|1024.00|/dev/sda5(0),/dev/sdb1(12)|xenvg\n"
                                  "  thin|8.00||xenvg\n")
    assert vols == [{"name": "inst1.disk0", "size": 1024, "dev": "/dev/sda5", "vg": "xenvg"},
                    {"name": "inst1.disk0", "size": 1024, "dev": "/dev/sdb1", "vg": "xenvg"},
                    {"name": "thin", "size": 8, "dev": "", "vg": "xenvg"}]


def test_trailing_separator_and_warnings_are_tolerated():
    text = "  WARNING: something odd\n  xenvg|100.00|50.00|wz--n-|1|2|\n"
    vgs = lvm.parse_vgs(text)
    assert len(vgs) == 1 and vgs[0].lv_count == 2 and not vgs[0].partial


# ------------------------------------------------------------------- node queries

def test_queries_run_lvm_with_report_options_in_the_c_locale():
    runner = FakeRunner().on(["vgs"], VGS).on(["lvs"], LVS)
    assert lvm.vg_list(runner) == {"xenvg": 204800, "othervg": 2048}
    assert list(lvm.lv_list(["xenvg"], runner)) == ["xenvg/inst1.disk0", "xenvg/inst2.disk0"]
    assert runner.calls[0] == ["vgs", "--noheadings", "--separator", "|", "--units", "m",
                               "--nosuffix", "--unbuffered", "-o",
                               "vg_name,vg_size,vg_free,vg_attr,pv_count,lv_count"]
    assert runner.calls[1][-2:] == ["-o", "vg_name,lv_name,lv_size,lv_attr"]
    assert all(kw["env"] == {"LC_ALL": "C"} and kw["reset_env"] for kw in runner.kwargs)


def test_failing_query_is_a_block_device_error_naming_the_command():
    runner = FakeRunner().on(["vgs"], "", "  /dev/mapper/control: open failed\n", 5)
    with pytest.raises(errors.BlockDeviceError, match="vgs failed .*control"):
        lvm.vg_list(runner)


def test_storage_list_for_pvs_and_vgs():
    runner = lvm_runner()
    rows = lvm.storage_list(constants.ST_LVM_PV, None, ["name", "size", "used", "free",
                                                        "allocatable"], runner)
    assert rows == [["/dev/sda5", 102400, 51200, 51200, True],
                    ["/dev/sdb1", 102400, 0, 102400, True],
                    ["/dev/sdc1", 2048, 0, 2048, True]]
    assert lvm.storage_list(constants.ST_LVM_VG, "xenvg", ["free", "name", "used"],
                            runner) == [[153600, "xenvg", 51200]]
    with pytest.raises(errors.StorageError, match="Unknown lvm-vg field"):
        lvm.storage_list(constants.ST_LVM_VG, None, ["colour"], runner)
    with pytest.raises(errors.StorageError):
        lvm.storage_list(constants.ST_FILE, None, ["name"], runner)


def test_storage_modify_changes_allocatable_with_pvchange():
    runner = FakeRunner()
    lvm.storage_modify(constants.ST_LVM_PV, "/dev/sda5", {"allocatable": False}, runner)
    assert runner.calls == [["pvchange", "--allocatable", "n", "/dev/sda5"]]
    with pytest.raises(errors.StorageError):
        lvm.storage_modify(constants.ST_LVM_VG, "xenvg", {"allocatable": False}, runner)
    with pytest.raises(errors.StorageError):
        lvm.storage_modify(constants.ST_LVM_PV, "--all", {"allocatable": True}, runner)


def test_fix_consistency_succeeds_when_vgs_is_clean_afterwards():
    runner = FakeRunner()
    runner.on(["vgreduce"], read("vgreduce-removemissing-2.02.66-ok.txt"))
    runner.on(["vgs"], "  xenvg|100.00|50.00|wz--n-|1|2\n")
    lvm.storage_execute(constants.ST_LVM_VG, "xenvg", constants.SO_FIX_CONSISTENCY, runner)
    assert runner.calls[0] == ["vgreduce", "--removemissing", "xenvg"]
    assert runner.calls[1][0] == "vgs" and runner.calls[1][-1] == "xenvg"


def test_fix_consistency_reports_partial_lvs_and_never_forces():
    runner = FakeRunner()
    runner.on(["vgreduce"], "", read("vgreduce-removemissing-2.02.66-fail.txt"), 5)
    runner.on(["vgs"], "  xenvg|100.00|50.00|wz-pn-|2|2\n",
              read("vgs-missing-pvs-2.02.66.txt").splitlines()[0])
    with pytest.raises(errors.StorageError, match="still misses.*repaired or removed"):
        lvm.storage_execute(constants.ST_LVM_VG, "xenvg", constants.SO_FIX_CONSISTENCY,
                            runner)
    assert not any("--force" in c for c in runner.calls)


def test_fix_consistency_detects_a_partial_group_and_a_vanished_one():
    runner = FakeRunner().on(["vgs"], "  xenvg|100.00|50.00|wz-pn-|2|2\n")
    with pytest.raises(errors.StorageError, match="still partial"):
        lvm.storage_execute(constants.ST_LVM_VG, "xenvg", constants.SO_FIX_CONSISTENCY,
                            runner)
    runner = FakeRunner().on(["vgs"], "", read("vgs-missing-pvs-2.02.02.txt"), 5)
    with pytest.raises(errors.StorageError, match="not found"):
        lvm.storage_execute(constants.ST_LVM_VG, "xenvg", constants.SO_FIX_CONSISTENCY,
                            runner)
    with pytest.raises(errors.StorageError):
        lvm.storage_execute(constants.ST_LVM_VG, "xenvg", "defrag", runner)


def test_exclusive_storage_checks_and_spindles():
    pvs = lvm.parse_pvs(PVS)
    problems = lvm.check_exclusive_pvs(pvs)
    assert any("differ too much" in p for p in problems)  # othervg's 2 GiB PV
    same = [pv for pv in pvs if pv.vg_name == "xenvg"]
    assert lvm.check_exclusive_pvs(same) == []
    shared = lvm.parse_pvs("  /dev/sda|vg|100.00|0|100.00|a--|a\n"
                           "  /dev/sda|vg|100.00|0|100.00|a--|b\n")
    assert lvm.check_exclusive_pvs(shared) == ["PV /dev/sda is shared among unrelated LVs"
                                               " (a, b)"]
    runner = lvm_runner()
    assert lvm.pv_spindle_info("xenvg", runner) == {
        "type": "lvm-pv", "name": "xenvg", "storage_free": 1, "storage_size": 2}
    assert lvm.vg_storage_info("xenvg", False, runner)["storage_free"] == 153600
    # Under exclusive storage only the empty PV counts as free.
    assert lvm.vg_storage_info("xenvg", True, runner)["storage_free"] == 102400
    assert lvm.vg_storage_info("nosuchvg", False, runner)["storage_free"] is None


# ------------------------------------------------------------------- the LV device

def test_device_class_and_names():
    assert storage.device_class(constants.DT_PLAIN) is LogicalVolume
    lv = LogicalVolume(["xenvg", "abc.disk0"], [], 1024, {}, {})
    assert lv.dev_path == "/dev/xenvg/abc.disk0" and lv.params["stripes"] == 1
    for bad in (["xenvg", "../etc"], ["xenvg", "-rf"], ["xenvg", "snapshot"],
                ["xenvg", "x_mimage"], ["xen vg", "a"], ["xenvg"], "xenvg/a"):
        with pytest.raises(errors.BlockDeviceError):
            LogicalVolume(bad, [], 1, {}, {})


def test_create_runs_lvcreate_on_pvs_sorted_by_free_space():
    runner = lvm_runner()
    LogicalVolume.create(["xenvg", "abc.disk0"], [], 1024, None, {}, False, {},
                         runner=runner)
    assert runner.commands("lvcreate") == [
        ["lvcreate", "-Wn", "-L", "1024m", "-n", "abc.disk0", "-i", "1", "xenvg",
         "/dev/sdb1", "/dev/sda5"]]


def test_create_on_a_full_volume_group_creates_nothing():
    runner = lvm_runner()
    with pytest.raises(errors.BlockDeviceError,
                       match="Not enough free space in volume group xenvg.*200000 MiB"
                             " requested, 153600 MiB free"):
        LogicalVolume.create(["xenvg", "big.disk0"], [], 200000, None, {}, False, {},
                             runner=runner)
    assert runner.commands("lvcreate") == [] and runner.commands("lvremove") == []


def test_create_refuses_an_existing_lv_and_a_group_without_pvs():
    with pytest.raises(errors.BlockDeviceError, match="already exists"):
        LogicalVolume.create(["xenvg", "a"], [], 10, None, {}, False, {},
                             runner=lvm_runner(lv_exists=True))
    runner = lvm_runner()
    with pytest.raises(errors.BlockDeviceError, match="no usable physical volumes"):
        LogicalVolume.create(["novg", "a"], [], 10, None, {}, False, {}, runner=runner)
    assert runner.commands("lvcreate") == []


def test_create_retries_with_fewer_stripes_then_reports_the_failure():
    runner = lvm_runner()
    runner.on(["lvcreate"], "", "  Insufficient suitable allocatable extents\n", 5)
    runner.on(["lvcreate"], "")
    LogicalVolume.create(["xenvg", "s.disk0"], [], 1024, None, {"stripes": 3}, False, {},
                         runner=runner)
    stripes = [c[c.index("-i") + 1] for c in runner.commands("lvcreate")]
    assert stripes == ["2", "1"]  # 3 wanted, but only 2 PVs in xenvg
    runner = lvm_runner()
    runner.on(["lvcreate"], "", "  Volume group \"xenvg\" has insufficient free space\n", 5)
    with pytest.raises(errors.BlockDeviceError, match="Creating logical volume .*"
                                                     "insufficient free space"):
        LogicalVolume.create(["xenvg", "s.disk0"], [], 1024, None, {"stripes": 2}, False,
                             {}, runner=runner)
    assert len(runner.commands("lvcreate")) == 2 and runner.commands("lvremove") == []


def test_create_with_exclusive_storage_uses_only_empty_pvs():
    pvs = ("  /dev/sda|xenvg|1000.00|0|1000.00|a--|other.disk0\n"
           "  /dev/sdb|xenvg|1000.00|1000.00|0|a--|\n"
           "  /dev/sdc|xenvg|1000.00|1000.00|0|a--|\n"
           "  /dev/sdd|xenvg|1000.00|1000.00|0|a-m|\n")
    runner = lvm_runner(pvs=pvs)
    LogicalVolume.create(["xenvg", "e.disk0"], [], 1500, 2, {"stripes": 2}, True, {},
                         runner=runner)
    assert runner.commands("lvcreate")[0][-4:] == ["2", "xenvg", "/dev/sdb", "/dev/sdc"]
    with pytest.raises(errors.BlockDeviceError, match=r"spindles \(1\) is not enough.*"
                                                     "at least 2"):
        LogicalVolume.create(["xenvg", "e.disk0"], [], 1500, 1, {}, True, {},
                             runner=lvm_runner(pvs=pvs))
    runner = lvm_runner(pvs=pvs)
    with pytest.raises(errors.BlockDeviceError, match=r"Not enough empty PVs \(2\)"):
        LogicalVolume.create(["xenvg", "e.disk0"], [], 2500, None, {}, True, {},
                             runner=runner)
    assert runner.commands("lvcreate") == []


def test_attach_reads_attributes_and_rejects_broken_lvs_output():
    lv = LogicalVolume(["xenvg", "a"], [], 0, {}, {}, runner=lvm_runner(lv_exists=True))
    assert lv.attach() and (lv.major, lv.minor, lv.pe_size, lv.stripe_count, lv.size) == \
        (253, 4, 4.0, 1, 1024)
    assert lv.get_sync_status()["is_degraded"] is False
    assert not LogicalVolume(["xenvg", "a"], [], 0, {}, {}, runner=lvm_runner()).attach()
    for text in ("  -wi-a-----|253|4|4.00|1\n", "  -wi-a-----|253|4|4.00|1|1024.00|x\n",
                 "  -wi-a-----|253|four|4.00|1|1024.00\n", "  -wi|253|4|4.00|1|1024.00\n",
                 "  -wi-a-----|253|4|0|1|1024.00\n"):
        runner = FakeRunner().on(["lvs"], text)
        with pytest.raises(errors.BlockDeviceError, match="Cannot parse the output of lvs"):
            LogicalVolume(["xenvg", "a"], [], 0, {}, {}, runner=runner).attach()


def test_virtual_lv_is_degraded():
    runner = FakeRunner().on(["lvs"], "  vwi-a-v---|253|4|4.00|1|1024.00\n")
    lv = LogicalVolume(["xenvg", "a"], [], 0, {}, {}, runner=runner)
    lv.attach()
    status = lv.get_sync_status()
    assert status["is_degraded"] and status["ldisk_status"] == constants.LDS_FAULTY


def test_remove_assemble_rename_snapshot_and_tags():
    runner = lvm_runner(lv_exists=True)
    lv = LogicalVolume(["xenvg", "a.disk0"], [], 1024, {}, {}, runner=runner)
    lv.remove()
    lv.assemble()
    lv.rename(["xenvg", "a.disk0_old"])
    assert lv.dev_path == "/dev/xenvg/a.disk0_old"
    assert lv.snapshot("a.disk0.snap", 512) == ("xenvg", "a.disk0.snap")
    lv.set_info("originstname+inst1.example.com")
    lv.set_info("-bad tag/with:chars")
    assert [c for c in runner.calls if c[0] != "lvs" and c[0] != "vgs"] == [
        ["lvremove", "-f", "xenvg/a.disk0"],
        ["lvchange", "-ay", "xenvg/a.disk0"],
        ["lvrename", "xenvg", "a.disk0", "a.disk0_old"],
        ["lvcreate", "--snapshot", "-L", "512m", "-n", "a.disk0.snap",
         "xenvg/a.disk0_old"],
        ["lvchange", "--addtag", "originstname+inst1.example.com", "xenvg/a.disk0_old"],
        ["lvchange", "--addtag", "_bad_tag_with_chars", "xenvg/a.disk0_old"]]
    with pytest.raises(errors.BlockDeviceError, match="Cannot move"):
        lv.rename(["othervg", "x"])


def test_removing_a_missing_lv_is_not_an_error():
    runner = lvm_runner()
    LogicalVolume(["xenvg", "gone"], [], 1, {}, {}, runner=runner).remove()
    assert runner.commands("lvremove") == []


def test_snapshot_without_space_creates_nothing():
    runner = lvm_runner(vgs="  xenvg|1000.00|100.00|wz--n-|1|1\n", lv_exists=True)
    lv = LogicalVolume(["xenvg", "a"], [], 1024, {}, {}, runner=runner)
    with pytest.raises(errors.BlockDeviceError, match="512 MiB requested, 100 MiB free"):
        lv.snapshot("a.snap", 512)
    assert runner.commands("lvcreate") == []


def test_grow_rounds_to_whole_extents_on_every_stripe():
    runner = FakeRunner().on(["lvs"], "  -wi-ao----|253|4|4.00|2|1024.00\n")
    runner.on(["lvresize"], "", "  Insufficient free space\n", 5).on(["lvresize"], "")
    lv = LogicalVolume(["xenvg", "a"], [], 1024, {}, {}, runner=runner)
    lv.grow(10, False, True, False)
    assert runner.commands("lvresize") == [
        ["lvresize", "-L", "+16384k", "--alloc", "contiguous", "xenvg/a"],
        ["lvresize", "-L", "+16384k", "--alloc", "cling", "xenvg/a"]]


def test_grow_dry_run_second_pass_and_failure():
    runner = FakeRunner().on(["lvs"], ATTACH)
    lv = LogicalVolume(["xenvg", "a"], [], 1024, {}, {}, runner=runner)
    lv.grow(100, False, False, False)
    assert runner.calls == []  # the DRBD-level pass has nothing to do for an LV
    lv.grow(100, True, True, False)
    assert runner.commands("lvresize") == [
        ["lvresize", "-L", "+102400k", "--test", "--alloc", "contiguous", "xenvg/a"]]
    runner.on(["lvresize"], "", "  Insufficient free space: 25 extents needed\n", 5)
    with pytest.raises(errors.BlockDeviceError, match="Growing logical volume xenvg/a"):
        lv.grow(100, False, True, False)
    assert len(runner.commands("lvresize")) == 4


def test_grow_with_exclusive_storage_stays_on_the_lvs_own_pvs():
    pvs = ("  /dev/sda|xenvg|1000.00|600.00|400.00|a--|a\n"
           "  /dev/sdb|xenvg|1000.00|1000.00|0|a--|\n")
    runner = lvm_runner(pvs=pvs, lv_exists=True)
    lv = LogicalVolume(["xenvg", "a"], [], 400, {}, {}, runner=runner)
    lv.grow(500, False, True, True)
    assert runner.commands("lvresize")[0][-2:] == ["xenvg/a", "/dev/sda"]
    with pytest.raises(errors.BlockDeviceError, match="Not enough free space on the PVs"):
        lv.grow(700, False, True, True)
