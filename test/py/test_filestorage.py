"""Tests for ganeti.storage.filestorage: confinement of paths to the allowed storage
directories (also through symlinks), creating, growing and removing image files, and a
full file system (a 1 MiB tmpfs, mounted only when the test runs as root).
"""

import os
import uuid

import pytest

from ganeti import errors, pathutils, storage
from ganeti.storage import filestorage
from ganeti.storage.filestorage import FileStorage
from ganeti.utils.process import run_cmd

MIB = 1024 * 1024


@pytest.fixture
def allowed(tmp_path, monkeypatch):
    """One allowed root (tmp_path/storage) listed in a redirected file-storage-paths."""
    root = tmp_path / "storage"
    root.mkdir()
    paths_file = tmp_path / "file-storage-paths"
    paths_file.write_text("# file storage\n\n%s\nrelative/ignored\n" % root)
    monkeypatch.setattr(pathutils, "FILE_STORAGE_PATHS_FILE", str(paths_file))
    return root


def _create(path, size=1):
    return FileStorage.create(["loop", str(path)], [], size, None, {}, False, {})


# --- allowed directories ------------------------------------------------------

def test_allowed_storage_dirs_parsing(tmp_path):
    paths_file = tmp_path / "paths"
    paths_file.write_text("# comment\n\n  /srv/a/  \n/srv/b/../c\nnot/absolute\n"
                          "  # indented comment\n")
    assert filestorage.allowed_storage_dirs(str(paths_file)) == ["/srv/a", "/srv/c"]
    assert filestorage.allowed_storage_dirs(str(tmp_path / "missing")) == []


def test_check_path_below_root(allowed):
    path = allowed / "inst1" / "disk0"
    assert filestorage.check_file_storage_path(str(path)) == str(path)


@pytest.mark.parametrize("relative", ["../outside", "inst/../../outside",
                                      "inst/../../storage-other/x"])
def test_check_path_refuses_dotdot_escapes(allowed, relative):
    with pytest.raises(errors.FileStoragePathError, match="not below an allowed"):
        filestorage.check_file_storage_path(os.path.join(str(allowed), relative))


def test_check_path_refuses_prefix_sibling(allowed):
    sibling = str(allowed) + "-evil"
    with pytest.raises(errors.FileStoragePathError):
        filestorage.check_file_storage_path(os.path.join(sibling, "disk"))


def test_check_path_refuses_outside_and_relative(allowed):
    with pytest.raises(errors.FileStoragePathError, match="not below an allowed"):
        filestorage.check_file_storage_path("/etc/passwd")
    with pytest.raises(errors.FileStoragePathError, match="not absolute"):
        filestorage.check_file_storage_path("storage/disk0")


def test_check_path_root_itself_only_with_allow_root(allowed):
    with pytest.raises(errors.FileStoragePathError):
        filestorage.check_file_storage_path(str(allowed))
    assert filestorage.check_file_storage_path(str(allowed), allow_root=True) == \
        str(allowed)


def test_check_path_without_allowed_dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(pathutils, "FILE_STORAGE_PATHS_FILE", str(tmp_path / "none"))
    with pytest.raises(errors.FileStoragePathError, match="No file storage directories"):
        filestorage.check_file_storage_path(str(tmp_path / "x"))


def test_symlink_pointing_outside_is_refused(allowed, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("precious")
    os.symlink(str(outside), str(allowed / "dirlink"))
    os.symlink(str(outside / "victim"), str(allowed / "filelink"))
    os.symlink(str(outside / "new-file"), str(allowed / "dangling"))
    for name in ("dirlink/victim", "dirlink/new", "filelink", "dangling"):
        with pytest.raises(errors.FileStoragePathError):
            filestorage.check_file_storage_path(str(allowed / name))
    with pytest.raises(errors.FileStoragePathError):
        _create(allowed / "dangling")
    with pytest.raises(errors.FileStoragePathError):
        FileStorage(["loop", str(allowed / "filelink")], [], 1, {}, {})
    assert not (outside / "new-file").exists()
    assert (outside / "victim").read_text() == "precious"


def test_symlink_inside_the_root_resolves(allowed):
    (allowed / "real").mkdir()
    os.symlink(str(allowed / "real"), str(allowed / "alias"))
    assert filestorage.check_file_storage_path(str(allowed / "alias" / "d")) == \
        str(allowed / "real" / "d")


def test_allowed_root_reached_through_a_symlink(tmp_path, monkeypatch):
    real = tmp_path / "real-storage"
    real.mkdir()
    os.symlink(str(real), str(tmp_path / "link-storage"))
    paths_file = tmp_path / "paths"
    paths_file.write_text("%s\n" % (tmp_path / "link-storage"))
    monkeypatch.setattr(pathutils, "FILE_STORAGE_PATHS_FILE", str(paths_file))
    assert filestorage.check_file_storage_path(str(real / "d")) == str(real / "d")
    assert filestorage.check_file_storage_path(str(tmp_path / "link-storage" / "d")) == \
        str(real / "d")


# --- create, grow, remove ------------------------------------------------------------

def test_create_allocates_requested_size(allowed):
    path = allowed / "inst1" / "disk0"
    dev = _create(path, size=3)
    assert dev.dev_path == str(path)
    st = os.stat(path)
    assert st.st_size == 3 * MIB
    assert st.st_mode & 0o777 == 0o600
    assert st.st_blocks * 512 >= 3 * MIB  # really allocated, not sparse
    assert dev.attached is True
    assert dev.get_actual_size() == 3 * MIB
    assert oct(os.stat(allowed / "inst1").st_mode & 0o777) == oct(0o750)


def test_create_refuses_existing_file(allowed):
    path = allowed / "disk0"
    path.write_bytes(b"old data")
    with pytest.raises(errors.BlockDeviceError, match="already exists"):
        _create(path)
    assert path.read_bytes() == b"old data"


def test_create_refuses_exclusive_storage(allowed):
    with pytest.raises(errors.BlockDeviceError, match="Exclusive storage"):
        FileStorage.create(["loop", str(allowed / "d")], [], 1, None, {}, True, {})
    assert not (allowed / "d").exists()


def test_create_outside_refused(allowed, tmp_path):
    with pytest.raises(errors.FileStoragePathError):
        _create(tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_invalid_unique_id(allowed):
    with pytest.raises(errors.BlockDeviceError, match="Invalid file disk id"):
        FileStorage(str(allowed / "d"), [], 1, {}, {})


def test_remove(allowed):
    dev = _create(allowed / "disk0")
    dev.remove()
    assert not (allowed / "disk0").exists()
    dev.remove()  # removing a missing disk is fine
    assert dev.attach() is False
    with pytest.raises(errors.BlockDeviceError, match="not found"):
        dev.assemble()
    with pytest.raises(errors.BlockDeviceError, match="Cannot stat"):
        dev.get_actual_size()


def test_grow(allowed):
    dev = _create(allowed / "disk0", size=1)
    dev.grow(2, False, True, False)
    assert os.path.getsize(allowed / "disk0") == 3 * MIB
    dev.grow(5, True, True, False)  # dry run
    assert os.path.getsize(allowed / "disk0") == 3 * MIB
    dev.grow(5, False, False, False)  # not the backing store: nothing to do
    assert os.path.getsize(allowed / "disk0") == 3 * MIB


def test_grow_missing_disk(allowed):
    dev = _create(allowed / "disk0")
    os.unlink(allowed / "disk0")
    with pytest.raises(errors.BlockDeviceError, match="not found"):
        dev.grow(1, False, True, False)


def test_rename_stays_confined(allowed, tmp_path):
    dev = _create(allowed / "disk0")
    dev.rename(["loop", str(allowed / "disk1")])
    assert dev.dev_path == str(allowed / "disk1")
    assert (allowed / "disk1").exists() and not (allowed / "disk0").exists()
    with pytest.raises(errors.FileStoragePathError):
        dev.rename(["loop", str(tmp_path / "outside")])
    assert (allowed / "disk1").exists()


def test_sync_status_and_shutdown(allowed):
    dev = _create(allowed / "disk0")
    dev.assemble()
    dev.shutdown()
    status = dev.get_sync_status()
    assert status["dev_path"] == str(allowed / "disk0")
    assert status["is_degraded"] is False


def test_device_class_lookup():
    assert storage.device_class("file") is FileStorage
    assert storage.device_class("sharedfile") is FileStorage
    with pytest.raises(errors.BlockDeviceError, match="not supported"):
        storage.device_class("rbd")


def test_remove_file_storage_dir(allowed, tmp_path):
    inst_dir = allowed / "inst1"
    inst_dir.mkdir()
    (inst_dir / "disk0").write_text("x")
    with pytest.raises(errors.FileStoragePathError, match="not empty: disk0"):
        filestorage.remove_file_storage_dir(str(inst_dir))
    os.unlink(inst_dir / "disk0")
    filestorage.remove_file_storage_dir(str(inst_dir))
    assert not inst_dir.exists()
    filestorage.remove_file_storage_dir(str(inst_dir))  # already gone: fine
    with pytest.raises(errors.FileStoragePathError):
        filestorage.remove_file_storage_dir(str(tmp_path))
    with pytest.raises(errors.FileStoragePathError):
        filestorage.remove_file_storage_dir(str(allowed))
    assert allowed.exists()


# --- a full file system --------------------------------------------------------------

@pytest.fixture
def small_fs(tmp_path, monkeypatch):
    """A 1 MiB tmpfs as the only allowed storage root; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / ("tiny-%s" % uuid.uuid4().hex[:8])
    mountpoint.mkdir()
    result = run_cmd(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs",
                      str(mountpoint)], timeout=10)
    if result.failed:
        pytest.skip("cannot mount a tmpfs here: %s" % result.output.strip())
    paths_file = tmp_path / "paths"
    paths_file.write_text("%s\n" % mountpoint)
    monkeypatch.setattr(pathutils, "FILE_STORAGE_PATHS_FILE", str(paths_file))
    try:
        yield mountpoint
    finally:
        if run_cmd(["umount", str(mountpoint)], timeout=10).failed:
            run_cmd(["umount", "-l", str(mountpoint)], timeout=10)


def test_create_on_full_file_system(small_fs):
    path = small_fs / "inst1" / "disk0"
    with pytest.raises(errors.BlockDeviceError) as info:
        _create(path, size=8)
    message = str(info.value)
    assert "Not enough space" in message and str(path) in message and "8 MiB" in message
    assert not path.exists()  # nothing half-created is left behind


def test_grow_on_full_file_system(small_fs):
    path = small_fs / "disk0"
    path.write_bytes(b"")
    dev = FileStorage(["loop", str(path)], [], 0, {}, {})
    with pytest.raises(errors.BlockDeviceError, match="Cannot grow file disk"):
        dev.grow(8, False, True, False)
