"""ganeti.storage.blockdev (adopted block devices, path confinement, sizes) and the
``sharedfile`` template through FileStorage in the shared file storage directory:
``..``, doubled slashes and symlinks that lead elsewhere are refused."""

import os
import stat

import pytest

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import storage
from ganeti.storage import blockdev
from ganeti.storage.blockdev import PersistentBlockDevice
from ganeti.storage.filestorage import FileStorage
from ganeti.utils.process import RunResult

MIB = 1024 * 1024


class SizeRunner:
    """Fake run_cmd answering ``blockdev --getsize64``."""

    def __init__(self, stdout="1073741824\n", exit_code=0):
        self.stdout, self.exit_code = stdout, exit_code
        self.calls = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(list(cmd))
        return RunResult(list(cmd), self.exit_code, None, self.stdout,
                         "" if self.exit_code == 0 else "blockdev: cannot open\n")


@pytest.fixture
def devroot(tmp_path):
    """A fake /dev with a real block device node (we run as root) and some traps."""
    root = tmp_path / "dev"
    (root / "disk" / "by-id").mkdir(parents=True)
    try:
        os.mknod(root / "sdz", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    except (PermissionError, OSError):
        pytest.skip("cannot create a block device node here")
    os.symlink("../../sdz", root / "disk" / "by-id" / "wwn-good")
    os.symlink("/etc/passwd", root / "disk" / "by-id" / "wwn-evil")
    (root / "regular").write_text("not a device")
    outside = tmp_path / "outside"
    os.mknod(outside, stat.S_IFBLK | 0o600, os.makedev(7, 1))
    os.symlink(str(outside), root / "disk" / "by-id" / "wwn-outside-blk")
    return root


def test_device_path_rules(devroot):
    good = str(devroot / "disk" / "by-id" / "wwn-good")
    assert blockdev.check_device_path(good, str(devroot)) == str(devroot / "sdz")
    refusals = {
        "disk/by-id/wwn-good": "not absolute",
        str(devroot) + "/disk/../sdz": "not absolute and normalised",
        str(devroot) + "/disk/by-id/../../sdz": "not absolute and normalised",
        str(devroot) + "//sdz": "not absolute and normalised",
        str(devroot) + "/sdz/": "not absolute and normalised",
        str(devroot / "disk" / "by-id" / "wwn-evil"): "resolves to /etc/passwd, outside",
        str(devroot / "disk" / "by-id" / "wwn-outside-blk"): "outside",
        str(devroot / "regular"): "is not a block device",
        str(devroot / "missing"): "Cannot access device",
        "/etc/passwd": "not below",
        str(devroot): "not below",
    }
    for path, message in refusals.items():
        with pytest.raises(errors.BlockDeviceError, match=message):
            blockdev.check_device_path(path, str(devroot))
    for bad in (None, "", "/dev/sd\0a", 5):
        with pytest.raises(errors.BlockDeviceError):
            blockdev.check_device_path(bad, str(devroot))


def test_real_dev_block_device_is_accepted():
    if not os.path.exists("/dev/loop0") or not stat.S_ISBLK(os.stat("/dev/loop0").st_mode):
        pytest.skip("no /dev/loop0 block device")
    assert blockdev.check_device_path("/dev/loop0") == "/dev/loop0"
    with pytest.raises(errors.BlockDeviceError, match="not absolute and normalised"):
        blockdev.check_device_path("/dev/../etc/passwd")
    with pytest.raises(errors.BlockDeviceError, match="not below /dev"):
        blockdev.check_device_path("/etc/passwd")


def test_adopting_a_device_writes_nothing(devroot):
    runner = SizeRunner()
    path = str(devroot / "disk" / "by-id" / "wwn-good")
    dev = PersistentBlockDevice.create(["manual", path], [], 1024, None, {}, False, {},
                                       runner=runner, dev_root=str(devroot))
    assert dev.attached and (dev.major, dev.minor) == (7, 0) and dev.dev_path == path
    assert dev.get_actual_size() == 1073741824
    assert runner.calls == [["blockdev", "--getsize64", path]]
    dev.assemble()
    dev.shutdown()
    dev.remove()
    assert os.path.exists(devroot / "sdz") and len(runner.calls) == 1
    assert dev.get_sync_status()["is_degraded"] is False
    with pytest.raises(errors.BlockDeviceError, match="Growing is not supported"):
        dev.grow(10, False, True, False)
    with pytest.raises(errors.BlockDeviceError, match="Renaming is not supported"):
        dev.rename(["manual", path])


def test_adoption_refusals(devroot):
    evil = str(devroot / "disk" / "by-id" / "wwn-evil")
    with pytest.raises(errors.BlockDeviceError, match="resolves to /etc/passwd, outside"):
        PersistentBlockDevice.create(["manual", evil], [], 1, None, {}, False, {},
                                     dev_root=str(devroot))
    with pytest.raises(errors.BlockDeviceError, match="not absolute"):
        PersistentBlockDevice(["manual", str(devroot) + "/x/../sdz"], [], 1, {}, {},
                              dev_root=str(devroot))
    with pytest.raises(errors.BlockDeviceError, match="Cannot adopt .*Cannot access"):
        PersistentBlockDevice.create(["manual", str(devroot / "gone")], [], 1, None, {},
                                     False, {}, dev_root=str(devroot))
    with pytest.raises(errors.BlockDeviceError, match="exclusive storage"):
        PersistentBlockDevice.create(["manual", str(devroot / "sdz")], [], 1, None, {},
                                     True, {}, dev_root=str(devroot))
    with pytest.raises(errors.BlockDeviceError, match="driver"):
        PersistentBlockDevice(["auto", str(devroot / "sdz")], [], 1, {}, {},
                              dev_root=str(devroot))
    with pytest.raises(errors.BlockDeviceError, match="Invalid block device id"):
        PersistentBlockDevice(["manual"], [], 1, {}, {})
    dev = PersistentBlockDevice(["manual", str(devroot / "missing")], [], 1, {}, {},
                                dev_root=str(devroot))
    assert not dev.attach()
    with pytest.raises(errors.BlockDeviceError, match="Cannot access"):
        dev.assemble()
    assert storage.device_class(constants.DT_BLOCK) is PersistentBlockDevice


def test_bdev_sizes_reports_only_usable_devices(devroot):
    runner = SizeRunner("2147483648\n")
    paths = [str(devroot / "sdz"), str(devroot / "regular"),
             str(devroot / "disk" / "by-id" / "wwn-evil"), "/etc/passwd", "relative"]
    assert blockdev.bdev_sizes(paths, runner, str(devroot)) == {str(devroot / "sdz"): 2048}
    assert runner.calls == [["blockdev", "--getsize64", str(devroot / "sdz")]]
    assert blockdev.bdev_sizes(paths, SizeRunner(exit_code=1), str(devroot)) == {}


def test_device_size_parsing():
    assert blockdev.device_size_bytes("/dev/x", SizeRunner("512\n")) == 512
    for text in ("", "12a\n", "-1\n", "1 2\n"):
        with pytest.raises(errors.BlockDeviceError, match="Cannot parse the size"):
            blockdev.device_size_bytes("/dev/x", SizeRunner(text))
    with pytest.raises(errors.BlockDeviceError, match="cannot open"):
        blockdev.device_size_bytes("/dev/x", SizeRunner(exit_code=1))


# ----------------------------------------------------------------------- sharedfile

@pytest.fixture
def shared(tmp_path, monkeypatch):
    """The shared file storage dir, allowed in a redirected file-storage-paths."""
    root = tmp_path / "shared-file-storage"
    root.mkdir()
    paths_file = tmp_path / "file-storage-paths"
    paths_file.write_text("%s\n" % root)
    monkeypatch.setattr(pathutils, "FILE_STORAGE_PATHS_FILE", str(paths_file))
    return root


def test_sharedfile_disks_live_in_the_shared_directory(shared):
    cls = storage.device_class(constants.DT_SHARED_FILE)
    assert cls is FileStorage
    path = shared / "inst1.example.com" / "disk0"
    dev = cls.create(["loop", str(path)], [], 2, None, {}, False, {})
    assert dev.dev_path == str(path) and os.path.getsize(path) == 2 * MIB
    disk = {"dev_type": constants.DT_SHARED_FILE, "logical_id": ["loop", str(path)],
            "size": 2}
    again = storage.device_from_disk(disk)
    assert again.attach() and again.get_actual_size() == 2 * MIB
    again.remove()
    assert not path.exists()


def test_sharedfile_paths_escaping_the_directory_are_refused(shared, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "victim").write_text("keep me")
    os.symlink(str(outside), shared / "link-out")
    os.symlink(str(outside / "victim"), shared / "disk-link")
    for path in (str(shared) + "/../elsewhere/victim", str(shared / "link-out" / "disk0"),
                 str(shared / "disk-link"), str(shared), "/etc/passwd", "relative/disk0"):
        with pytest.raises(errors.FileStoragePathError):
            FileStorage.create(["loop", path], [], 1, None, {}, False, {})
        with pytest.raises(errors.FileStoragePathError):
            storage.device_from_disk({"dev_type": constants.DT_SHARED_FILE,
                                      "logical_id": ["loop", path], "size": 1})
    assert (outside / "victim").read_text() == "keep me"
    assert sorted(os.listdir(outside)) == ["victim"]
