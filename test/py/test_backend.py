"""Tests for noded's procedures (ganeti.backend): argument checks, the upload allow-list,
job queue copies, leaving the cluster, instance and disk procedures on the fake
hypervisor.  Every path the procedures use is redirected into a temporary tree.
"""

import json
import os
import stat

import pytest

from ganeti import backend, constants, errors, pathutils
from ganeti.backend import instance as binst
from ganeti.backend import node as bnode
from ganeti.rpc import encoding

UPLOADABLE = ("CLUSTER_CONF_FILE", "SSH_KNOWN_HOSTS_FILE", "VNC_PASSWORD_FILE",
              "RAPI_CERT_FILE", "SPICE_CERT_FILE", "SPICE_CACERT_FILE",
              "RAPI_USERS_FILE", "CONFD_HMAC_KEY", "CLUSTER_DOMAIN_SECRET_FILE")


@pytest.fixture
def paths(tmp_path, monkeypatch):
    """A node tree below tmp_path; returns a dict of the redirected paths."""
    data = tmp_path / "var" / "lib" / "ganeti"
    conf = tmp_path / "etc" / "ganeti"
    run = tmp_path / "var" / "run" / "ganeti"
    for d in (data, conf, run):
        d.mkdir(parents=True)
    values = {
        "DATA_DIR": data, "CONF_DIR": conf, "RUN_DIR": run,
        "QUEUE_DIR": data / "queue",
        "CLUSTER_CONF_FILE": data / "config.data",
        "NODED_CERT_FILE": data / "server.pem",
        "NODED_CLIENT_CERT_FILE": data / "client.pem",
        "RAPI_CERT_FILE": data / "rapi.pem",
        "SPICE_CERT_FILE": data / "spice.pem",
        "SPICE_CACERT_FILE": data / "spice-ca.pem",
        "CONFD_HMAC_KEY": data / "hmac.key",
        "CLUSTER_DOMAIN_SECRET_FILE": data / "cluster-domain-secret",
        "SSH_KNOWN_HOSTS_FILE": data / "known_hosts",
        "RAPI_USERS_FILE": data / "rapi" / "users",
        "WATCHER_PAUSEFILE": data / "watcher.pause",
        "VNC_PASSWORD_FILE": conf / "vnc-cluster-password",
        "FILE_STORAGE_PATHS_FILE": conf / "file-storage-paths",
        "HOOKS_BASE_DIR": conf / "hooks",
        "SSCONF_LOCK_FILE": tmp_path / "var" / "lock" / "ganeti-ssconf.lock",
        "FAKE_HV_DIR": run / "fake-hypervisor",
    }
    for name, value in values.items():
        monkeypatch.setattr(pathutils, name, str(value))
    values["root"] = tmp_path
    return {k: str(v) for k, v in values.items()}


def _upload_args(path, content="data\n", mode=0o640):
    return [path, encoding.encode_compressed(content), mode, "root", "root", None, None]


# --- dispatch -------------------------------------------------------------------

def test_dispatch_wrong_argument_count_names_the_procedure():
    with pytest.raises(errors.RpcError, match="Wrong arguments for procedure test_delay"):
        backend.dispatch("test_delay", [])
    with pytest.raises(errors.RpcError, match="procedure version"):
        backend.dispatch("version", [1])
    with pytest.raises(errors.RpcError, match="procedure upload_file_single"):
        backend.dispatch("upload_file_single", ["/x"])


def test_dispatch_calls_the_procedure():
    assert backend.dispatch("version", []) == constants.PROTOCOL_VERSION
    assert backend.dispatch("test_delay", [0]) is True


# --- upload_file ------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/etc/passwd", "/etc/shadow", "/root/.ssh/authorized_keys"])
def test_upload_refuses_system_files(paths, target):
    with pytest.raises(errors.RpcError, match="not in the allowed upload targets"):
        bnode.upload_file(*_upload_args(target))


@pytest.mark.parametrize("attr", ["FILE_STORAGE_PATHS_FILE", "NODED_CERT_FILE",
                                  "NODED_CLIENT_CERT_FILE", "WATCHER_PAUSEFILE"])
def test_upload_refuses_node_private_files(paths, attr):
    with pytest.raises(errors.RpcError, match="not in the allowed upload targets"):
        bnode.upload_file(*_upload_args(paths[attr]))
    assert not os.path.exists(paths[attr])


def test_upload_refuses_ssconf_and_queue_files(paths):
    for target in (os.path.join(paths["DATA_DIR"], "ssconf_master_node"),
                   os.path.join(paths["QUEUE_DIR"], "job-1"),
                   paths["CLUSTER_CONF_FILE"] + ".new"):
        with pytest.raises(errors.RpcError, match="not in the allowed"):
            bnode.upload_file(*_upload_args(target))


def test_upload_refuses_relative_path(paths):
    with pytest.raises(errors.RpcError, match="not absolute"):
        bnode.upload_file(*_upload_args("config.data"))


def test_upload_refuses_traversal_out_of_allowed_file(paths):
    target = paths["CLUSTER_CONF_FILE"] + "/../../../../etc/passwd"
    with pytest.raises(errors.RpcError, match="not in the allowed"):
        bnode.upload_file(*_upload_args(target))


@pytest.mark.parametrize("attr", UPLOADABLE)
def test_upload_allowed_file_writes_content_and_mode(paths, attr):
    assert bnode.upload_file(*_upload_args(paths[attr], "secret text\n", 0o600)) is True
    with open(paths[attr]) as fh:
        assert fh.read() == "secret text\n"
    st = os.stat(paths[attr])
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == 0


def test_upload_compressed_content_and_times(paths):
    content = "x" * 5000
    args = [paths["CLUSTER_CONF_FILE"], encoding.encode_compressed(content), 0o640,
            "root", "root", 1000000000.0, 1000000001.0]
    assert args[1][0] == constants.RPC_ENCODING_ZLIB_BASE64
    bnode.upload_file(*args)
    with open(paths["CLUSTER_CONF_FILE"]) as fh:
        assert fh.read() == content
    assert os.stat(paths["CLUSTER_CONF_FILE"]).st_mtime == 1000000001.0


def test_upload_list_form(paths):
    assert bnode.upload_file_list(_upload_args(paths["SSH_KNOWN_HOSTS_FILE"])) is True
    with pytest.raises(errors.RpcError, match="upload_file takes"):
        bnode.upload_file_list(_upload_args(paths["SSH_KNOWN_HOSTS_FILE"])[:6])


@pytest.mark.parametrize("mode", [-1, 0o10000, "0644", None])
def test_upload_refuses_bad_mode(paths, mode):
    with pytest.raises(errors.RpcError, match="Invalid file mode"):
        bnode.upload_file(*_upload_args(paths["CLUSTER_CONF_FILE"], mode=mode))


def test_upload_refuses_unknown_owner(paths):
    args = _upload_args(paths["CLUSTER_CONF_FILE"])
    args[3] = "no-such-user-xyz"
    with pytest.raises(errors.RpcError, match="Unknown owner"):
        bnode.upload_file(*args)
    assert not os.path.exists(paths["CLUSTER_CONF_FILE"])


def test_upload_through_symlinked_directory_stays_in_place(paths, tmp_path):
    """A path that only normalises into the allow-list must not escape through a link."""
    outside = tmp_path / "outside" / "deep"
    outside.mkdir(parents=True)
    os.symlink(str(outside), os.path.join(paths["DATA_DIR"], "link"))
    target = os.path.join(paths["DATA_DIR"], "link", "..", "config.data")
    try:
        bnode.upload_file(*_upload_args(target, "cfg\n"))
    except errors.RpcError:
        pass
    else:
        with open(paths["CLUSTER_CONF_FILE"]) as fh:
            assert fh.read() == "cfg\n"
    assert not (tmp_path / "outside" / "config.data").exists()


# --- ssconf and watcher pause ------------------------------------------------------

def test_write_ssconf_files(paths):
    assert bnode.write_ssconf_files({"cluster_name": "c.example.com",
                                     "node_list": ["n1", "n2"]}) is True
    with open(os.path.join(paths["DATA_DIR"], "ssconf_node_list")) as fh:
        assert fh.read() == "n1\nn2\n"
    with pytest.raises(errors.RpcError, match="Invalid ssconf key"):
        bnode.write_ssconf_files({"../../etc/passwd": "x"})
    with pytest.raises(errors.RpcError, match="takes a dict"):
        bnode.write_ssconf_files(["cluster_name"])


def test_watcher_pause(paths):
    assert bnode.get_watcher_pause() is None
    assert bnode.set_watcher_pause(1700000000.7) is True
    with open(paths["WATCHER_PAUSEFILE"]) as fh:
        assert fh.read() == "1700000000\n"
    assert bnode.get_watcher_pause() == 1700000000
    bnode.set_watcher_pause(None)
    assert not os.path.exists(paths["WATCHER_PAUSEFILE"])
    with pytest.raises(errors.RpcError, match="Invalid pause time"):
        bnode.set_watcher_pause("tomorrow")


# --- job queue copies -----------------------------------------------------------------

def _queue_content(text):
    return encoding.encode_compressed(text)


def test_jobqueue_update_writes_into_the_queue(paths):
    assert bnode.jobqueue_update("job-12", _queue_content('{"id": 12}')) is True
    path = os.path.join(paths["QUEUE_DIR"], "job-12")
    with open(path) as fh:
        assert json.load(fh) == {"id": 12}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    bnode.jobqueue_update("serial", _queue_content("12\n"))
    assert os.path.exists(os.path.join(paths["QUEUE_DIR"], "serial"))


def test_jobqueue_update_accepts_full_queue_path(paths):
    full = os.path.join(paths["QUEUE_DIR"], "job-3")
    assert bnode.jobqueue_update(full, _queue_content("{}")) is True
    assert os.path.exists(full)


@pytest.mark.parametrize("name", ["..", ".", "", "passwd", "config.data", "lock",
                                  "/etc/passwd", "job-1/../../config.data", None, 5])
def test_jobqueue_update_refuses_bad_names(paths, name):
    with pytest.raises(errors.RpcError):
        bnode.jobqueue_update(name, _queue_content("x"))
    assert not os.path.exists(os.path.join(paths["DATA_DIR"], "config.data"))


@pytest.mark.parametrize("name", ["../job-7", "/tmp/elsewhere/job-7", "queue/job-7",
                                  "job-7/", "archive/0/job-7"])
def test_jobqueue_update_refuses_paths_outside_the_queue(paths, name):
    with pytest.raises(errors.RpcError):
        bnode.jobqueue_update(name, _queue_content("x"))
    assert not os.path.exists(os.path.join(paths["QUEUE_DIR"], "job-7"))


def test_jobqueue_rename_and_purge(paths):
    bnode.jobqueue_update("job-1", _queue_content("{}"))
    bnode.jobqueue_update("job-2", _queue_content("{}"))
    bnode.jobqueue_update("serial", _queue_content("2\n"))
    assert bnode.jobqueue_rename([["job-1", "archive/0/job-1"]]) is True
    assert os.path.exists(os.path.join(paths["QUEUE_DIR"], "archive", "0", "job-1"))
    # renaming a missing job is not an error
    assert bnode.jobqueue_rename([["job-9", "archive/0/job-9"]]) is True
    assert bnode.jobqueue_purge() is True
    assert sorted(os.listdir(paths["QUEUE_DIR"])) == ["archive", "serial"]


@pytest.mark.parametrize("renames", [
    [["job-1", "../job-1"]],
    [["job-1", "archive/../../job-1"]],
    [["job-1", "/tmp/job-1"]],
    [["../config.data", "archive/0/x"]],
    [["job-1"]],
    "job-1",
])
def test_jobqueue_rename_refuses_escapes(paths, renames):
    bnode.jobqueue_update("job-1", _queue_content("{}"))
    with pytest.raises(errors.RpcError):
        bnode.jobqueue_rename(renames)
    assert os.path.exists(os.path.join(paths["QUEUE_DIR"], "job-1"))


# --- misc procedures ----------------------------------------------------------------

@pytest.mark.parametrize("duration", [-1, "1", None, 86401, [1]])
def test_test_delay_validates(duration):
    with pytest.raises(errors.RpcError, match="Invalid delay duration"):
        bnode.test_delay(duration)


def test_test_delay_sleeps():
    assert bnode.test_delay(0) is True
    assert bnode.test_delay(0.01) is True


def test_bridges_exist(monkeypatch):
    with pytest.raises(errors.RpcError, match="Missing bridges no-such-br0"):
        bnode.bridges_exist(["no-such-br0"])
    # loopback exists but is no bridge on a real node
    monkeypatch.setattr(pathutils, "is_virtual", lambda: False)
    with pytest.raises(errors.RpcError, match="Missing bridges lo"):
        bnode.bridges_exist(["lo"])
    # a virtual node only checks that the link exists
    monkeypatch.setattr(pathutils, "is_virtual", lambda: True)
    assert bnode.bridges_exist(["lo"]) is True
    assert bnode.bridges_exist([]) is True


@pytest.mark.parametrize("bridges", [["../etc"], [""], [".hidden"], [5], "lo"])
def test_bridges_exist_refuses_bad_names(bridges):
    with pytest.raises(errors.RpcError):
        bnode.bridges_exist(bridges)


@pytest.mark.parametrize("params,message", [
    ("x", "must be a dict"),
    ({"ip": "999.1.1.1", "netdev": "lo", "netmask": 32}, "Invalid master IP"),
    ({"ip": "192.0.2.1", "netdev": "../x", "netmask": 32}, "Invalid master netdev"),
    ({"ip": "192.0.2.1", "netdev": "lo", "netmask": 0}, "Invalid netmask"),
    ({"ip": "192.0.2.1", "netdev": "lo", "netmask": "32"}, "Invalid netmask"),
])
def test_master_ip_parameters_checked(params, message):
    with pytest.raises(errors.RpcError, match=message):
        bnode.node_activate_master_ip(params)
    with pytest.raises(errors.RpcError, match=message):
        bnode.node_deactivate_master_ip(params)


def test_node_verify_selected_checks(paths):
    with open(paths["CLUSTER_CONF_FILE"], "w") as fh:
        fh.write("abc")
    result = bnode.node_verify({"version": None, "time": None,
                                "filelist": [paths["CLUSTER_CONF_FILE"],
                                             paths["RAPI_CERT_FILE"]]}, "cluster")
    assert result["version"] == [constants.PROTOCOL_VERSION, constants.RELEASE_VERSION]
    assert isinstance(result["time"], float)
    assert result["filelist"] == {
        paths["CLUSTER_CONF_FILE"]: "a9993e364706816aba3e25717850c26c9cd0d89d",
        paths["RAPI_CERT_FILE"]: None}
    assert set(result) == {"version", "time", "filelist"}
    with pytest.raises(errors.RpcError, match="dict of checks"):
        bnode.node_verify(["version"], "cluster")


def test_node_info_with_fake_hypervisor(paths):
    with open(paths["FILE_STORAGE_PATHS_FILE"], "w") as fh:
        fh.write("%s\n" % os.path.join(paths["root"], "storage"))
    storage_dir = os.path.join(paths["root"], "storage")
    boot, storage, hv = bnode.node_info([["file", storage_dir], ["lvm-vg", "xenvg"]],
                                        [["fake", {}], ["lxc", {}]])
    assert isinstance(boot, str)
    assert storage[0]["type"] == "file" and storage[0]["storage_size"] > 0
    assert os.path.isdir(storage_dir)
    assert storage[1]["error"] == "unsupported storage type"
    assert hv[0]["cpu_total"] >= 1
    assert "error" in hv[1]
    with pytest.raises(errors.RpcError):
        bnode.node_info("x", [])


# --- leaving the cluster ------------------------------------------------------------------

def test_node_leave_cluster_removes_files_and_quits(paths):
    for attr in bnode.CLUSTER_FILES_TO_REMOVE:
        os.makedirs(os.path.dirname(paths[attr]), exist_ok=True)
        with open(paths[attr], "w") as fh:
            fh.write("x")
    for key in ("ssconf_master_node", "ssconf_node_list"):
        with open(os.path.join(paths["DATA_DIR"], key), "w") as fh:
            fh.write("x\n")
    bnode.jobqueue_update("job-1", _queue_content("{}"))
    keep = os.path.join(paths["DATA_DIR"], "unrelated")
    with open(keep, "w") as fh:
        fh.write("keep")
    with pytest.raises(errors.QuitGanetiException) as info:
        bnode.node_leave_cluster(False, False)
    assert info.value.args[0] is True
    for attr in bnode.CLUSTER_FILES_TO_REMOVE:
        assert not os.path.exists(paths[attr]), attr
    assert not [n for n in os.listdir(paths["DATA_DIR"]) if n.startswith("ssconf_")]
    assert not os.path.exists(os.path.join(paths["QUEUE_DIR"], "job-1"))
    assert os.path.exists(keep)


def test_node_leave_cluster_keep_files(paths):
    with open(paths["CLUSTER_CONF_FILE"], "w") as fh:
        fh.write("x")
    with pytest.raises(errors.QuitGanetiException):
        bnode.node_leave_cluster(False, True)
    assert os.path.exists(paths["CLUSTER_CONF_FILE"])


def test_node_leave_cluster_with_files_already_gone(paths):
    with pytest.raises(errors.QuitGanetiException):
        bnode.node_leave_cluster()


# --- instances and disks ---------------------------------------------------------------

def _inst(name="inst1", disks=()):
    return {"name": name, "hypervisor": "fake", "hvparams": {},
            "beparams": {"maxmem": 256, "vcpus": 2}, "disks": list(disks)}


@pytest.fixture
def storage(paths):
    root = os.path.join(paths["root"], "file-storage")
    os.makedirs(root)
    with open(paths["FILE_STORAGE_PATHS_FILE"], "w") as fh:
        fh.write("# allowed\n%s\n" % root)
    return root


def test_instance_life_cycle_on_fake_hypervisor(paths):
    assert binst.instance_list(["fake"]) == []
    assert binst.instance_start(_inst()) is True
    assert binst.instance_start(_inst()) is True  # already running: fine
    assert binst.instance_list(["fake"]) == ["inst1"]
    info = binst.instance_info("inst1", "fake")
    assert info["memory"] == 256 and info["vcpus"] == 2 and info["state"] == "running"
    assert binst.all_instances_info(["fake"])["inst1"]["memory"] == 256
    assert binst.instance_reboot(_inst(), "soft", 10) is True
    assert binst.instance_reboot(_inst(), "hard", 10) is True
    assert binst.instance_shutdown(_inst()) is True
    assert binst.instance_list(["fake"]) == []
    assert binst.instance_info("inst1", "fake") == {}
    assert binst.instance_shutdown(_inst()) is True  # stopped already: fine
    with pytest.raises(errors.RpcError, match="not running"):
        binst.instance_reboot(_inst(), "soft", 10)


@pytest.mark.parametrize("inst,message", [
    ("x", "must be a dict"),
    ({"name": "../evil", "hypervisor": "fake"}, "Invalid instance name"),
    ({"name": ".hidden", "hypervisor": "fake"}, "Invalid instance name"),
    ({"name": "", "hypervisor": "fake"}, "Invalid instance name"),
    ({"name": "ok"}, "lacks a hypervisor"),
    ({"name": "ok", "hypervisor": "fake", "disks": "d"}, "disks must be a list"),
    ({"name": "ok", "hypervisor": "lxc"}, "not available"),
    ({"name": "ok", "hypervisor": "nosuch"}, "Unknown hypervisor"),
])
def test_instance_start_refuses_bad_instances(paths, inst, message):
    with pytest.raises(errors.RpcError, match=message):
        binst.instance_start(inst)


def test_invalid_reboot_type(paths):
    with pytest.raises(errors.RpcError, match="Invalid reboot type"):
        binst.instance_reboot(_inst(), "gentle", 10)


def _file_disk(path, size=4):
    return {"dev_type": "file", "logical_id": ["loop", path], "size": size,
            "params": {}, "uuid": "disk-uuid"}


def test_blockdev_create_assemble_and_remove(storage):
    path = os.path.join(storage, "inst1", "disk0")
    disk = _file_disk(path)
    assert binst.blockdev_create(disk, 4, "inst1", True, "info", False) == path
    assert os.path.getsize(path) == 4 * 1024 * 1024
    assert binst.blockdev_assemble(disk, "inst1", True, 0) == [path, None, None]
    assert binst.blockdev_find(disk)["dev_path"] == path
    assert binst.blockdev_getdimensions([disk, _file_disk(path + "x")]) == [
        [4 * 1024 * 1024, None], None]
    assert binst.instance_start(_inst(disks=[disk])) is True
    binst.instance_shutdown(_inst())
    assert binst.blockdev_remove(disk) is True
    assert not os.path.exists(path)
    assert binst.blockdev_find(disk) is None


@pytest.mark.parametrize("size", [0, -1, "4", constants.MAX_DISK_SIZE + 1])
def test_blockdev_create_refuses_bad_size(storage, size):
    with pytest.raises(errors.RpcError, match="Invalid disk size"):
        binst.blockdev_create(_file_disk(os.path.join(storage, "d")), size, "i", True,
                              "", False)


def test_blockdev_create_refuses_paths_outside_storage(storage, paths):
    outside = os.path.join(paths["root"], "elsewhere", "disk0")
    with pytest.raises(errors.RpcError, match="not below an allowed"):
        binst.blockdev_create(_file_disk(outside), 4, "i", True, "", False)
    escape = os.path.join(storage, "..", "escaped-disk")
    with pytest.raises(errors.RpcError, match="not below an allowed"):
        binst.blockdev_create(_file_disk(escape), 4, "i", True, "", False)
    assert not os.path.exists(os.path.join(paths["root"], "escaped-disk"))


def test_blockdev_unsupported_type(storage):
    disk = {"dev_type": "rbd", "logical_id": ["rbd", "lv"], "size": 4}
    with pytest.raises(errors.BlockDeviceError, match="not supported"):
        binst.blockdev_create(disk, 4, "i", True, "", False)


def test_instance_start_with_missing_disk_fails(storage):
    disk = _file_disk(os.path.join(storage, "inst1", "missing"))
    with pytest.raises(errors.RpcError, match="Cannot start instance inst1"):
        binst.instance_start(_inst(disks=[disk]))
    assert binst.instance_list(["fake"]) == []


def test_file_storage_dir_procedures(storage):
    target = os.path.join(storage, "inst1")
    assert binst.file_storage_dir_create(target) is True
    assert os.path.isdir(target)
    assert binst.file_storage_dir_remove(target) is True
    assert not os.path.exists(target)
    with pytest.raises(errors.RpcError, match="not below an allowed"):
        binst.file_storage_dir_create("/etc/ganeti-test-dir")
    assert not os.path.exists("/etc/ganeti-test-dir")


def test_hypervisor_validate_params(paths):
    assert binst.hypervisor_validate_params("fake", {"migration_mode": "live"}) is True
    with pytest.raises(errors.RpcError, match="Invalid value"):
        binst.hypervisor_validate_params("fake", {"migration_mode": "teleport"})
    with pytest.raises(errors.RpcError, match="Unknown hypervisor parameter"):
        binst.hypervisor_validate_params("fake", {"nosuch": 1})
    with pytest.raises(errors.RpcError, match="must be a dict"):
        binst.hypervisor_validate_params("fake", [])
