"""Tests of the node-side OS API (ganeti.backend.osapi) and the "simple" OS.

Fixture OS definitions are built in temporary directories; the real scripts of
os/simple and Debian's ganeti-os-noop run against sparse-file disks.
"""

import os
import re
import shutil
import stat

import pytest

from ganeti import errors, pathutils, serializer
from ganeti.backend import osapi
from ganeti.utils import process

REPO_OS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "os")
SIMPLE_OS = os.path.join(REPO_OS_DIR, "simple")
NOOP_OS_BASE = "/usr/share/ganeti/os"
NOOP_OS = os.path.join(NOOP_OS_BASE, "noop")
MIB = 1024 * 1024

SCRIPTS_20 = ("create", "export", "import", "rename", "verify")
SCRIPT_OK = "#!/bin/sh\nexit 0\n"


def make_os(base, name, api="20", scripts=SCRIPTS_20, variants=None,
            parameters="size  Disk size\n", not_executable=(), script_bodies=None):
    """Write a fixture OS definition below ``base`` and return its path."""
    path = os.path.join(str(base), name)
    os.makedirs(path)
    if api is not None:
        with open(os.path.join(path, "ganeti_api_version"), "w") as fh:
            fh.write(api)
    for script in scripts:
        body = (script_bodies or {}).get(script, SCRIPT_OK)
        spath = os.path.join(path, script)
        with open(spath, "w") as fh:
            fh.write(body)
        os.chmod(spath, 0o644 if script in not_executable else 0o755)
    if variants is not None:
        with open(os.path.join(path, "variants.list"), "w") as fh:
            fh.write(variants)
    if parameters is not None:
        with open(os.path.join(path, "parameters.list"), "w") as fh:
            fh.write(parameters)
    return path


def read_text(path):
    with open(path) as fh:
        return fh.read()


def by_name(infos):
    return {info.name: info for info in infos}


def sample_inst(disks=(), os_name="simple", osparams=None, name="inst1.example.com"):
    return {
        "name": name,
        "uuid": "0d6a1b4e-uuid-inst",
        "os": os_name,
        "ctime": 1700000000.5,
        "mtime": 1700000100,
        "primary_node": "node1.example.com",
        "secondary_nodes": [],
        "hypervisor": "fake",
        "beparams": {"maxmem": 128, "minmem": 128, "vcpus": 1, "auto_balance": True},
        "hvparams": {},
        "osparams": dict(osparams or {}),
        "nics": [],
        "disks": list(disks),
    }


def file_disk(path, size_mib=16, idx=0):
    return {"uuid": f"disk-uuid-{idx}", "name": None, "size": size_mib, "mode": "rw",
            "dev_type": "file", "path": str(path), "backend_type": "file:loop"}


def sparse_file(path, size_mib=16):
    with open(path, "wb") as fh:
        fh.truncate(size_mib * MIB)
    return str(path)


@pytest.fixture
def log_dir(tmp_path, monkeypatch):
    path = str(tmp_path / "log" / "os")
    monkeypatch.setattr(pathutils, "OS_LOG_DIR", path)
    return path


@pytest.fixture
def repo_os(monkeypatch, log_dir):
    """Make the repository's os/ the only OS search path directory."""
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [REPO_OS_DIR])
    return REPO_OS_DIR


def fs_info(path):
    """Filesystem type and label according to blkid (probing a regular file)."""
    res = process.run_cmd(["blkid", "-p", "-o", "export", str(path)])
    values = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    return values.get("TYPE"), values.get("LABEL")


# ------------------------------------------------------------------- diagnose

def test_diagnose_valid_api20_definition(tmp_path):
    make_os(tmp_path, "good", variants="# comment\n\nv1\n  v2  \n",
            parameters="size  Disk size in MiB\n# c\n\nflavour   Which one\nbare\n")
    info = by_name(osapi.diagnose_os_list([str(tmp_path)]))["good"]
    assert info.status is True
    assert info.diagnose == ""
    assert info.path == str(tmp_path / "good")
    assert info.api_versions == [20]
    assert info.api_version == 20
    assert info.variants == ["v1", "v2"]
    assert info.parameters == [("size", "Disk size in MiB"), ("flavour", "Which one"),
                               ("bare", "")]
    assert info.trusted is True


@pytest.mark.parametrize("kwargs, message", [
    ({"scripts": ("create", "import", "rename", "verify")}, "missing script 'export'"),
    ({"not_executable": ("create",)}, "'create' is not executable"),
    ({"api": "7\n"}, "API version 7 not supported"),
    ({"api": "twenty\n"}, "invalid API version 'twenty'"),
    ({"api": "\n\n"}, "'ganeti_api_version' is empty"),
    ({"api": None}, "missing file 'ganeti_api_version'"),
    ({"parameters": None}, "missing file 'parameters.list'"),
    ({"scripts": ("create", "import", "export", "rename")}, "missing script 'verify'"),
    ({"scripts": ("import", "export", "rename", "verify")}, "missing script 'create'"),
])
def test_diagnose_reports_precise_reason(tmp_path, kwargs, message):
    make_os(tmp_path, "bad", **kwargs)
    info = by_name(osapi.diagnose_os_list([str(tmp_path)]))["bad"]
    assert info.status is False
    assert message in info.diagnose


def test_diagnose_script_must_be_regular_file(tmp_path):
    path = make_os(tmp_path, "dirscript",
                   scripts=("create", "import", "rename", "verify"))
    os.mkdir(os.path.join(path, "export"))
    info = by_name(osapi.diagnose_os_list([str(tmp_path)]))["dirscript"]
    assert info.diagnose == "'export' is not a regular file"


def test_diagnose_only_owner_exec_bit_counts(tmp_path):
    path = make_os(tmp_path, "groupexec")
    os.chmod(os.path.join(path, "rename"), stat.S_IRUSR | stat.S_IXGRP | stat.S_IXOTH)
    info = by_name(osapi.diagnose_os_list([str(tmp_path)]))["groupexec"]
    assert info.diagnose == "'rename' is not executable"


def test_diagnose_api10_needs_no_verify_nor_parameters(tmp_path):
    make_os(tmp_path, "old", api="5\n10\n",
            scripts=("create", "import", "export", "rename"),
            parameters=None, variants="ignored\n")
    info = by_name(osapi.diagnose_os_list([str(tmp_path)]))["old"]
    assert info.status is True
    assert info.api_versions == [5, 10]
    assert info.api_version == 10
    assert info.variants == []  # variants only exist from API 15 on
    assert info.parameters == []


def test_diagnose_highest_common_version(tmp_path):
    make_os(tmp_path, "multi", api="10\n15\n20\n25\n", variants="a\n")
    info = by_name(osapi.diagnose_os_list([str(tmp_path)]))["multi"]
    assert info.status is True
    assert info.api_version == 20


def test_diagnose_untrusted_definitions(tmp_path):
    make_os(tmp_path, "untrusted",
            scripts=("create_untrusted", "import", "export", "rename", "verify"))
    make_os(tmp_path, "both", scripts=SCRIPTS_20 + ("create_untrusted",))
    infos = by_name(osapi.diagnose_os_list([str(tmp_path)]))
    assert infos["untrusted"].status is True
    assert infos["untrusted"].trusted is False
    assert infos["both"].status is True
    assert infos["both"].trusted is False


def test_diagnose_first_directory_wins_and_strays(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    make_os(first, "dup")
    make_os(second, "dup", api="7\n")
    make_os(second, "only2")
    (first / "stray").write_text("not an OS\n")
    (first / ".hidden").mkdir()
    infos = osapi.diagnose_os_list([str(first), str(tmp_path / "missing"), str(second)])
    assert [i.name for i in infos] == ["dup", "only2", "stray"]
    named = by_name(infos)
    assert named["dup"].status is True
    assert named["dup"].path == str(first / "dup")
    assert named["stray"].status is False
    assert "is not a directory" in named["stray"].diagnose


def test_diagnose_payload_is_json_friendly(tmp_path):
    make_os(tmp_path, "good", variants="v1\n", parameters="size  Disk size\n")
    make_os(tmp_path, "bad", api="7\n")
    payload = osapi.os_diagnose_payload([str(tmp_path)])
    assert serializer.loads(serializer.dumps(payload)) == payload
    assert payload == [
        ["bad", str(tmp_path / "bad"), False,
         "API version 7 not supported (supported: 10, 15, 20)", [], [], [7], True],
        ["good", str(tmp_path / "good"), True, "", ["v1"], [["size", "Disk size"]],
         [20], True],
    ]


def test_diagnose_defaults_to_configured_search_path(tmp_path, monkeypatch):
    make_os(tmp_path, "here")
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path)])
    assert [i.name for i in osapi.diagnose_os_list()] == ["here"]


# ------------------------------------------------------------------- find_os

def test_split_os_name():
    assert osapi.split_os_name("debootstrap+buster") == ("debootstrap", "buster")
    assert osapi.split_os_name("noop") == ("noop", "")


def test_find_os_errors(tmp_path):
    search = [str(tmp_path)]
    make_os(tmp_path, "good", variants="a\nb\n")
    make_os(tmp_path, "novariants")
    make_os(tmp_path, "broken", not_executable=("import",))
    with pytest.raises(errors.RpcError, match="OS 'nope' not found in the OS search"):
        osapi.find_os("nope", search)
    with pytest.raises(errors.RpcError, match="Invalid OS 'broken': 'import' is not"):
        osapi.find_os("broken", search)
    with pytest.raises(errors.RpcError,
                       match=re.escape("Unsupported OS variant 'c' (valid: a, b)")):
        osapi.find_os("good+c", search)
    with pytest.raises(errors.RpcError, match="does not support variants"):
        osapi.find_os("novariants+x", search)
    assert osapi.find_os("good+b", search).name == "good"
    assert osapi.find_os("good", search).status is True


# ------------------------------------------------------------------- environment

def env_inst():
    inst = sample_inst(os_name="envos+v2", osparams={"root-size": "2G", "debug": True})
    inst.update({
        "secondary_nodes": ["node2.example.com", "node3.example.com"],
        "hypervisor": "kvm",
        "beparams": {"maxmem": 512, "vcpus": 2, "auto_balance": True},
        "hvparams": {"disk_type": "paravirtual", "nic_type": "e1000",
                     "kernel_args": "ro", "usb_devices": ["a", "b"], "cpu_mask": None},
        "disks": [
            {"uuid": "d0", "name": "root", "size": 1024, "mode": "rw",
             "dev_type": "plain",
             "path": "/dev/xenvg/d0", "backend_type": "block"},
            {"uuid": "d1", "name": None, "size": 512, "mode": "ro", "dev_type": "file",
             "path": "/srv/file/d1", "uri": "file:///srv/file/d1"},
        ],
        "nics": [
            {"mac": "aa:00:00:00:00:01", "uuid": "n0", "name": "eth0", "ip": "192.0.2.10",
             "nicparams": {"mode": "bridged", "link": "br0", "vlan": ""},
             "network": {"name": "net1", "uuid": "net-uuid", "subnet": "192.0.2.0/24",
                         "gateway": "192.0.2.1", "subnet6": None, "gateway6": None,
                         "mac_prefix": "aa:00:00", "tags": ["t1", "t2"]}},
            {"mac": "aa:00:00:00:00:02", "uuid": "n1", "name": None, "ip": None,
             "nicparams": {"mode": "routed", "link": "", "vlan": ""}, "network": None},
        ],
    })
    return inst


def test_build_os_env_full_api20(tmp_path):
    make_os(tmp_path, "envos", variants="v1\nv2\n",
            parameters="root-size  Root size\ndebug  Debug\n")
    info = osapi.find_os("envos+v2", [str(tmp_path)])
    env = osapi.build_os_env(info, "v2", env_inst(), debug=1)
    assert env == {
        "OS_API_VERSION": "20", "OS_NAME": "envos", "OS_VARIANT": "v2",
        "DEBUG_LEVEL": "1", "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
        "OSP_ROOT_SIZE": "2G", "OSP_DEBUG": "True",
        "INSTANCE_NAME": "inst1.example.com", "INSTANCE_OS": "envos+v2",
        "INSTANCE_UUID": "0d6a1b4e-uuid-inst", "INSTANCE_CTIME": "1700000000.5",
        "INSTANCE_MTIME": "1700000100", "INSTANCE_PRIMARY_NODE": "node1.example.com",
        "INSTANCE_SECONDARY_NODES": "node2.example.com node3.example.com",
        "HYPERVISOR": "kvm", "DISK_COUNT": "2", "NIC_COUNT": "2",
        "DISK_0_ACCESS": "rw", "DISK_0_UUID": "d0", "DISK_0_SIZE": "1024",
        "DISK_0_NAME": "root", "DISK_0_PATH": "/dev/xenvg/d0",
        "DISK_0_FRONTEND_TYPE": "paravirtual", "DISK_0_BACKEND_TYPE": "block",
        "DISK_1_ACCESS": "ro", "DISK_1_UUID": "d1", "DISK_1_SIZE": "512",
        "DISK_1_PATH": "/srv/file/d1", "DISK_1_URI": "file:///srv/file/d1",
        "DISK_1_FRONTEND_TYPE": "paravirtual", "DISK_1_BACKEND_TYPE": "file:loop",
        "NIC_0_MAC": "aa:00:00:00:00:01", "NIC_0_UUID": "n0", "NIC_0_NAME": "eth0",
        "NIC_0_IP": "192.0.2.10", "NIC_0_MODE": "bridged", "NIC_0_BRIDGE": "br0",
        "NIC_0_LINK": "br0", "NIC_0_FRONTEND_TYPE": "e1000",
        "NIC_0_NETWORK_NAME": "net1", "NIC_0_NETWORK_UUID": "net-uuid",
        "NIC_0_NETWORK_TAGS": "t1 t2", "NIC_0_NETWORK_SUBNET": "192.0.2.0/24",
        "NIC_0_NETWORK_GATEWAY": "192.0.2.1", "NIC_0_NETWORK_MAC_PREFIX": "aa:00:00",
        "NIC_1_MAC": "aa:00:00:00:00:02", "NIC_1_UUID": "n1", "NIC_1_MODE": "routed",
        "NIC_1_FRONTEND_TYPE": "e1000",
        "INSTANCE_BE_maxmem": "512", "INSTANCE_BE_vcpus": "2",
        "INSTANCE_BE_auto_balance": "True",
        "INSTANCE_HV_disk_type": "paravirtual", "INSTANCE_HV_nic_type": "e1000",
        "INSTANCE_HV_kernel_args": "ro", "INSTANCE_HV_usb_devices": "a b",
        "INSTANCE_HV_cpu_mask": "",
    }


def test_build_os_env_default_variant_and_old_api(tmp_path):
    make_os(tmp_path, "v15", api="15\n", scripts=("create", "import", "export", "rename"),
            variants="first\nsecond\n", parameters=None)
    make_os(tmp_path, "v10", api="10\n", scripts=("create", "import", "export", "rename"),
            parameters=None)
    inst = sample_inst(osparams={"x": "1"})
    env15 = osapi.build_os_env(osapi.find_os("v15", [str(tmp_path)]), "", inst)
    assert env15["OS_VARIANT"] == "first"
    assert env15["OS_API_VERSION"] == "15"
    assert "OSP_X" not in env15  # parameters only exist from API 20 on
    env10 = osapi.build_os_env(osapi.find_os("v10", [str(tmp_path)]), "", inst)
    assert "OS_VARIANT" not in env10
    assert env10["DEBUG_LEVEL"] == "0"
    assert env10["DISK_COUNT"] == "0" and env10["INSTANCE_SECONDARY_NODES"] == ""


# ------------------------------------------------------------------- running scripts

ENV_DUMP = "#!/bin/sh\necho \"cwd=$(pwd)\"\nenv | sort\n"


def test_run_os_create_resets_env_and_logs(tmp_path, log_dir, monkeypatch):
    base = tmp_path / "oses"
    base.mkdir()
    os_dir = make_os(base, "dump", script_bodies={"create": ENV_DUMP})
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(base)])
    monkeypatch.setenv("LEAKY_DAEMON_VAR", "secret")
    log = osapi.run_os_create(sample_inst(os_name="dump"), reinstall=True, debug=1)
    assert os.path.dirname(log) == log_dir
    assert stat.S_IMODE(os.stat(log_dir).st_mode) & 0o027 == 0
    assert re.fullmatch(r"reinstall-dump-inst1\.example\.com-\d{14}\.\d{6}\.log",
                        os.path.basename(log))
    lines = read_text(log).splitlines()
    assert f"cwd={os_dir}" in lines
    assert "INSTANCE_REINSTALL=1" in lines
    assert "DEBUG_LEVEL=1" in lines
    assert "PATH=/sbin:/bin:/usr/sbin:/usr/bin" in lines
    assert not any(line.startswith("LEAKY_DAEMON_VAR") for line in lines)
    log2 = osapi.run_os_create(sample_inst(os_name="dump"))
    assert os.path.basename(log2).startswith("add-dump-inst1.example.com-")
    assert "INSTANCE_REINSTALL=1" not in read_text(log2)


def test_run_os_create_failure_returns_log_tail(tmp_path, log_dir, monkeypatch):
    body = ("#!/bin/sh\ni=1\n"
            "while [ $i -le 30 ]; do echo \"line $i\"; i=$((i+1)); done\n"
            "exit 3\n")
    make_os(tmp_path, "failing", script_bodies={"create": body})
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path)])
    with pytest.raises(errors.RpcError) as exc:
        osapi.run_os_create(sample_inst(os_name="failing"))
    msg = str(exc.value)
    assert msg.startswith("OS create script failed (exited with exit code 3), last lines"
                          " in the log file:\n")
    tail = msg.split("\n", 1)[1].splitlines()
    assert tail == [f"line {i}" for i in range(11, 31)]


def test_run_os_create_timeout(tmp_path, log_dir, monkeypatch):
    make_os(tmp_path, "slow",
            script_bodies={"create": "#!/bin/sh\necho start\nsleep 30\n"})
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path)])
    with pytest.raises(errors.RpcError, match=r"\(timed out\).*\nstart"):
        osapi.run_os_create(sample_inst(os_name="slow"), timeout=0.5)


def test_run_os_create_untrusted_only_is_refused(tmp_path, log_dir, monkeypatch):
    make_os(tmp_path, "untrusted",
            scripts=("create_untrusted", "import", "export", "rename", "verify"))
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path)])
    with pytest.raises(errors.RpcError, match="needs an install image"):
        osapi.run_os_create(sample_inst(os_name="untrusted"))


def test_run_os_create_unknown_os(tmp_path, log_dir, monkeypatch):
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path)])
    with pytest.raises(errors.RpcError, match="OS 'ghost' not found"):
        osapi.run_os_create(sample_inst(os_name="ghost"))


# ------------------------------------------------------------------- the simple OS

def test_simple_os_is_valid(repo_os):
    info = osapi.find_os("simple")
    assert info.status is True
    assert info.api_version == 20
    assert info.variants == ["default", "ext2"]
    assert [p for p, _ in info.parameters] == ["filesystem", "label"]
    for script in SCRIPTS_20:
        assert os.stat(os.path.join(SIMPLE_OS, script)).st_mode & 0o777 == 0o755


def test_simple_create_makes_labelled_filesystem(tmp_path, repo_os):
    disk = sparse_file(tmp_path / "disk0.img")
    log = osapi.run_os_create(sample_inst(disks=[file_disk(disk)]))
    assert fs_info(disk) == ("ext4", "inst1.example.co")  # labels hold 16 bytes
    res = process.run_cmd(["dumpe2fs", "-h", disk])
    assert "Filesystem volume name:   inst1.example.co" in res.stdout
    assert "disk 0: created ext4 filesystem" in read_text(log)


def test_simple_create_parameters_and_variant(tmp_path, repo_os):
    d0, d1 = sparse_file(tmp_path / "d0.img"), sparse_file(tmp_path / "d1.img")
    inst = sample_inst(disks=[file_disk(d0), file_disk(d1, idx=1)],
                       osparams={"filesystem": "ext3", "label": "rootfs"})
    osapi.run_os_create(inst)
    assert fs_info(d0) == ("ext3", "rootfs")
    assert fs_info(d1) == ("ext3", "rootfs")
    inst = sample_inst(disks=[file_disk(d0)], os_name="simple+ext2")
    osapi.run_os_create(inst, reinstall=True)
    assert fs_info(d0)[0] == "ext2"


def test_simple_create_diskless(repo_os):
    log = osapi.run_os_create(sample_inst())
    assert "has no disks: nothing to install" in read_text(log)


def test_simple_create_rejects_bad_filesystem(tmp_path, repo_os):
    disk = sparse_file(tmp_path / "d0.img")
    inst = sample_inst(disks=[file_disk(disk)], osparams={"filesystem": "xfs"})
    with pytest.raises(errors.RpcError, match="unsupported filesystem 'xfs'"):
        osapi.run_os_create(inst)
    assert fs_info(disk) == (None, None)


def test_simple_create_missing_disk_path(tmp_path, repo_os):
    inst = sample_inst(disks=[file_disk(tmp_path / "absent.img")])
    with pytest.raises(errors.RpcError, match="absent.img does not exist"):
        osapi.run_os_create(inst)


def test_simple_scripts_refuse_arguments():
    for script, args in (("create", ["--help"]), ("verify", ["-h"]),
                         ("verify", []), ("export", ["x"])):
        res = process.run_cmd([os.path.join(SIMPLE_OS, script), *args], reset_env=True,
                              cwd=SIMPLE_OS)
        assert res.exit_code == 1
        assert f"usage: {script}" in res.stderr


def test_validate_os_params(repo_os):
    osapi.validate_os_params("simple", {"filesystem": "ext2", "label": "x"})
    osapi.validate_os_params("simple+ext2", {})
    with pytest.raises(errors.RpcError, match="unsupported filesystem 'xfs'"):
        osapi.validate_os_params("simple", {"filesystem": "xfs"})
    with pytest.raises(errors.RpcError, match="longer than 16 characters"):
        osapi.validate_os_params("simple", {"label": "a-label-that-is-too-long"})
    with pytest.raises(errors.RpcError, match="accept parameter.*: colour, size"):
        osapi.validate_os_params("simple", {"size": "1", "colour": "red"})
    with pytest.raises(errors.RpcError, match="Unknown checks"):
        osapi.validate_os_params("simple", {}, checks=["parameters", "disks"])


def test_simple_rename_relabels_default_label(tmp_path, repo_os):
    disk = sparse_file(tmp_path / "d0.img")
    inst = sample_inst(disks=[file_disk(disk)], name="old.example.com")
    osapi.run_os_create(inst)
    assert fs_info(disk)[1] == "old.example.com"
    inst["name"] = "new.example.com"
    log = osapi.run_os_rename(inst, "old.example.com")
    assert re.fullmatch(r"rename-simple-old\.example\.com-new\.example\.com-[\d.]+\.log",
                        os.path.basename(log))
    assert fs_info(disk)[1] == "new.example.com"
    inst["osparams"] = {"label": "fixed"}
    log = osapi.run_os_rename(inst, "new.example.com")
    assert "nothing to do" in read_text(log)
    assert fs_info(disk)[1] == "new.example.com"


def test_simple_export_import_roundtrip(tmp_path, repo_os, caplog):
    src = sparse_file(tmp_path / "src.img")
    dst = sparse_file(tmp_path / "dst.img")
    inst = sample_inst(disks=[file_disk(src), file_disk(dst, idx=1)])
    osapi.run_os_create(inst)
    dump = str(tmp_path / "dump.bin")
    caplog.set_level("INFO")
    log = osapi.run_os_export(inst, 0, dump)
    assert os.path.basename(log).startswith("export-simple-inst1.example.com-disk0-")
    assert os.path.getsize(dump) == 16 * MIB
    assert f"announced {16 * MIB} bytes" in caplog.text
    osapi.run_os_import(inst, 1, dump)
    with open(src, "rb") as fa, open(dst, "rb") as fb:
        assert fa.read() == fb.read()
    assert fs_info(dst) == ("ext4", "inst1.example.co")
    with pytest.raises(errors.RpcError, match="has no disk 5"):
        osapi.run_os_export(inst, 5, dump)


def test_export_failure_reports_log(tmp_path, log_dir, monkeypatch):
    make_os(tmp_path, "badexp", script_bodies={
        "export": "#!/bin/sh\necho \"no way to read $EXPORT_DEVICE\" >&2\nexit 2\n"})
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path)])
    inst = sample_inst(os_name="badexp", disks=[file_disk("/dev/null")])
    with pytest.raises(errors.RpcError, match="exit code 2.*\nno way to read /dev/null"):
        osapi.run_os_export(inst, 0, str(tmp_path / "out"))


# ------------------------------------------------------------------- Debian's noop OS

noop_installed = pytest.mark.skipif(not os.path.isdir(NOOP_OS),
                                    reason="ganeti-os-noop is not installed")


@noop_installed
def test_noop_os_diagnoses_valid():
    info = by_name(osapi.diagnose_os_list([NOOP_OS_BASE]))["noop"]
    assert info.status is True, info.diagnose
    assert info.api_version == 10
    assert info.trusted is True


@noop_installed
def test_noop_os_create_diskless(tmp_path, log_dir, monkeypatch):
    # Copy nothing: run the installed definition in place.
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path), NOOP_OS_BASE])
    log = osapi.run_os_create(sample_inst(os_name="noop"))
    assert os.path.exists(log)
    assert os.path.basename(log).startswith("add-noop-inst1.example.com-")
    osapi.validate_os_params("noop", {})  # API 10: nothing to validate


@noop_installed
def test_noop_export_import_with_size_fd(tmp_path, log_dir, monkeypatch):
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [NOOP_OS_BASE])
    src = tmp_path / "src.img"
    src.write_bytes(os.urandom(64 * 1024))
    dst = tmp_path / "dst.img"
    dst.write_bytes(b"\0" * 64 * 1024)
    inst = sample_inst(os_name="noop", disks=[file_disk(src), file_disk(dst, idx=1)])
    dump = str(tmp_path / "dump")
    osapi.run_os_export(inst, 0, dump)
    osapi.run_os_import(inst, 1, dump)
    assert dst.read_bytes() == src.read_bytes()


def test_simple_os_copy_is_found_first(tmp_path, log_dir, monkeypatch):
    # A broken copy earlier in the search path shadows the good one.
    shutil.copytree(SIMPLE_OS, tmp_path / "simple")
    os.chmod(tmp_path / "simple" / "verify", 0o644)
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path), REPO_OS_DIR])
    with pytest.raises(errors.RpcError, match="Invalid OS 'simple': 'verify' is not"):
        osapi.validate_os_params("simple", {})
