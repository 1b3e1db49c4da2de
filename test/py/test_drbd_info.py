"""The /proc/drbd parser against real captured outputs, and against broken text."""

import glob
import os

import pytest

from ganeti.storage import drbd_info

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                    "shared", "data", "captured-outputs")


def read(name: str) -> str:
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip("captured output %s not available" % name)
    with open(path) as fh:
        return fh.read()


def test_drbd84_states():
    info = drbd_info.parse_proc_drbd(read("proc_drbd84.txt"))
    assert info.version == "8.4.2" and info.api == "1" and info.proto == "86-101"
    m0 = info.minors[0]
    assert (m0.cstatus, m0.lrole, m0.rrole, m0.ldisk, m0.rdisk, m0.protocol) == \
        ("Connected", "Primary", "Secondary", "UpToDate", "UpToDate", "C")
    assert m0.counters["ns"] == 1048576 and m0.counters["oos"] == 0
    assert m0.is_connected and not m0.is_degraded and m0.is_primary
    assert info.minors[2].is_unconfigured
    assert info.minors[4].cstatus == "WFConnection" and info.minors[4].is_degraded
    assert info.minors[6].is_diskless
    assert info.minors[8].is_standalone and not info.minors[8].protocol


def test_drbd83_sync_progress():
    info = drbd_info.parse_proc_drbd(read("proc_drbd83_sync.txt"))
    m3 = info.minors[3]
    assert m3.is_in_resync and m3.sync_percent == 34.9 and m3.sync_unit == "M"
    assert m3.est_time == 5 and m3.speed_kib == 59392
    assert info.minors[0].sync_percent is None


def test_drbd84_sync_and_want():
    info = drbd_info.parse_proc_drbd(read("proc_drbd84_sync.txt"))
    assert info.minors[5].sync_percent == 68.5 and info.minors[5].sync_unit == "K"
    assert info.minors[5].flags == "r---n-"
    info = drbd_info.parse_proc_drbd(read("proc_drbd83_sync_want.txt"))
    assert info.srcversion == "2D876214BAAD53B31ADC1D6"
    assert info.minors[0].est_time == 8 and info.minors[0].speed_kib == 65736


def test_drbd80_old_state_keyword_and_empty_version():
    info = drbd_info.parse_proc_drbd(read("proc_drbd80-emptyversion.txt"))
    assert info.version is None
    m0 = info.minors[0]
    assert m0.lrole == "Primary" and m0.rrole == "Secondary"
    assert "used" not in m0.counters  # resync:/act_log: lines are not counters


def test_every_captured_drbd_file_parses():
    files = glob.glob(os.path.join(DATA, "proc_drbd*.txt"))
    if not files:
        pytest.skip("no captured outputs")
    for path in files:
        with open(path) as fh:
            info = drbd_info.parse_proc_drbd(fh.read())
        assert isinstance(info.to_dict()["device"], list)


@pytest.mark.parametrize("text", [
    "", "garbage\n\x00\x01", "version: x.y\n 0: cs:", " 0: cs:Connected ro:Prim",
    " 12: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r---\n"
    "    [=====>....] sync'ed: 3",  # truncated
    " a: cs:Connected", "version: 8.4.2 (api:1/proto:86-101)\n 0:",
])
def test_malformed_and_truncated_text_never_raises(text):
    info = drbd_info.parse_proc_drbd(text)
    info.to_dict()
