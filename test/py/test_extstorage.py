"""ganeti.storage.extstorage: the ExtStorage provider protocol (node-interfaces §2)
against a provider of real shell scripts written by the test: checks of the provider
directory, the exact environment, logging, attach output parsing and failures."""

import os
import stat

import pytest

from ganeti import constants
from ganeti import errors
from ganeti import storage
from ganeti.storage import extstorage
from ganeti.storage.extstorage import ExtStorageDevice

VOL = "8c2d6e1a-9b9f-4c25-a0c1-1f7b8a0f4c11.ext.disk0"
# Variables the shell itself may add to what `env` prints.
SHELL_VARS = {"PWD", "SHLVL", "_", "OLDPWD"}

SCRIPT = """#!/bin/sh
env | sort > "$EXTP_STATE/{action}.env"
pwd > "$EXTP_STATE/{action}.pwd"
{body}
"""
BODIES = {
    "create": 'echo "creating $VOL_NAME of $VOL_SIZE MiB"',
    "attach": 'cat "$EXTP_STATE/attach.out"; echo "attach says hello" >&2',
    "detach": 'echo detached',
    "remove": 'echo removed',
    "grow": ('i=0; while [ $i -lt 30 ]; do echo "grow line $i"; i=$((i+1)); done\n'
             '[ "$VOL_NEW_SIZE" -le 100000 ] || { echo "too big" >&2; exit 3; }'),
    "setinfo": 'echo "metadata $VOL_METADATA"',
    "verify": 'echo verified',
    "snapshot": 'echo "snapshot $VOL_SNAPSHOT_NAME $VOL_SNAPSHOT_SIZE"',
    "open": 'echo "open exclusive=$VOL_OPEN_EXCLUSIVE"',
}


def write_provider(base, name="testprov", skip=(), params="state where the script writes\n"
                   "pool the pool name\n"):
    path = base / name
    path.mkdir(parents=True)
    for action, body in BODIES.items():
        if action in skip:
            continue
        script = path / action
        script.write_text(SCRIPT.format(action=action, body=body))
        script.chmod(0o755)
    if params is not None:
        (path / "parameters.list").write_text(params)
    return path


@pytest.fixture
def env(tmp_path):
    """A search path with the provider, a state dir, a fake /dev with a block device."""
    search = tmp_path / "es"
    search.mkdir()
    write_provider(search)
    state = tmp_path / "state"
    state.mkdir()
    dev = tmp_path / "dev"
    dev.mkdir()
    try:
        os.mknod(dev / "rbd0", stat.S_IFBLK | 0o600, os.makedev(252, 0))
    except OSError:
        pytest.skip("cannot create a block device node here")
    (state / "attach.out").write_text("%s\nkvm:rbd:pool/%s\n" % (dev / "rbd0", VOL))
    return {"search": [str(search)], "state": state, "dev": dev,
            "logs": tmp_path / "logs"}


def make(env, **kwargs):
    params = {"state": str(env["state"]), "pool": "rbd-pool", "access": "kernelspace"}
    return ExtStorageDevice(["testprov", VOL], [], 1024, params, {}, name="data",
                            uuid="8c2d6e1a", search_path=env["search"],
                            log_dir=str(env["logs"]), dev_root=str(env["dev"]), **kwargs)


def script_env(env, action) -> dict:
    lines = (env["state"] / ("%s.env" % action)).read_text().splitlines()
    result = dict(line.split("=", 1) for line in lines)
    return {k: v for k, v in result.items() if k not in SHELL_VARS}


# ------------------------------------------------------------------- providers

def test_diagnose_valid_and_broken_providers(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_provider(first, "good")
    write_provider(first, "noverify", skip=("verify",))
    write_provider(first, "noparams", params=None)
    bad_mode = write_provider(first, "writable")
    (bad_mode / "attach").chmod(0o775)
    noexec = write_provider(first, "noexec")
    (noexec / "grow").chmod(0o644)
    (first / "stray").write_text("x")
    write_provider(second, "good", skip=("create",))  # shadowed by the first one
    write_provider(second, "other")
    result = {p.name: p for p in extstorage.diagnose([str(first), str(second),
                                                      str(tmp_path / "none")])}
    assert sorted(result) == ["good", "noexec", "noparams", "noverify", "other", "stray",
                              "writable"]
    assert result["good"].status and result["good"].path == str(first / "good")
    assert result["good"].parameters == [("state", "where the script writes"),
                                         ("pool", "the pool name")]
    assert result["good"].optional == {"open", "snapshot"}
    assert "verify" in result["noverify"].diagnose and not result["noverify"].status
    assert "parameters.list" in result["noparams"].diagnose
    assert "writable by group or others" in result["writable"].diagnose
    assert "'grow' is not executable" == result["noexec"].diagnose
    assert "not a directory" in result["stray"].diagnose
    payload = extstorage.extstorage_diagnose_payload([str(first)])
    assert payload[0] == ["good", str(first / "good"), True, "",
                          [["state", "where the script writes"], ["pool", "the pool name"]]]


def test_find_provider_errors(env, tmp_path):
    assert extstorage.find_provider("testprov", env["search"]).status
    with pytest.raises(errors.BlockDeviceError, match="not found"):
        extstorage.find_provider("missing", env["search"])
    for bad in ("../etc", ".hidden", "a/b", ""):
        with pytest.raises(errors.BlockDeviceError, match="Invalid ExtStorage provider"):
            extstorage.find_provider(bad, env["search"])
    broken = tmp_path / "es2"
    write_provider(broken, "testprov", skip=("detach",))
    with pytest.raises(errors.BlockDeviceError, match="Invalid ExtStorage provider"
                                                     " testprov: .*detach"):
        extstorage.find_provider("testprov", [str(broken)])


def test_ext_parameters_are_checked_and_exported():
    provider = extstorage.ExtStorageProvider("p", "/x", True, parameters=[("pool", "")])
    extstorage.validate_ext_params(provider, {"pool": "a", "access": "userspace"})
    with pytest.raises(errors.BlockDeviceError, match="does not support the parameter"):
        extstorage.validate_ext_params(provider, {"pool": "a", "size-limit": 3})
    assert extstorage.build_env("v", {"my-param": 5, "access": "userspace",
                                      "flag": None}, size=10, exclusive=False) == {
        "VOL_NAME": "v", "EXTP_MY_PARAM": "5", "EXTP_FLAG": "", "VOL_SIZE": "10",
        "VOL_OPEN_EXCLUSIVE": "False"}
    with pytest.raises(errors.BlockDeviceError, match="parameter name"):
        extstorage.build_env("v", {"bad name": 1})


# ------------------------------------------------------------------ the protocol

def test_create_runs_the_script_with_exactly_the_documented_environment(env):
    dev = ExtStorageDevice.create(["testprov", VOL], [], 1024,
                                  None, {"state": str(env["state"]), "pool": "rbd-pool"},
                                  False, {}, name="data", uuid="8c2d6e1a",
                                  search_path=env["search"], log_dir=str(env["logs"]))
    assert isinstance(dev, ExtStorageDevice)
    assert script_env(env, "create") == {
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "VOL_NAME": VOL, "VOL_SIZE": "1024",
        "VOL_CNAME": "data", "VOL_UUID": "8c2d6e1a", "EXTP_STATE": str(env["state"]),
        "EXTP_POOL": "rbd-pool"}
    assert (env["state"] / "create.pwd").read_text() == "/\n"
    logs = os.listdir(env["logs"])
    assert len(logs) == 1 and logs[0].startswith("create-testprov-%s-" % VOL)
    assert "creating %s of 1024 MiB" % VOL in (env["logs"] / logs[0]).read_text()


def test_attach_parses_device_and_uris_and_is_not_logged_to_a_file(env, caplog):
    dev = make(env)
    caplog.set_level("INFO")
    assert dev.attach() and dev.attached
    assert dev.dev_path == str(env["dev"] / "rbd0") and (dev.major, dev.minor) == (252, 0)
    assert dev.uris == {"kvm": "rbd:pool/%s" % VOL}
    assert dev.get_user_access_uri("kvm") == "rbd:pool/%s" % VOL
    with pytest.raises(errors.BlockDeviceError, match="no userspace access for"
                                                     " hypervisor xen"):
        dev.get_user_access_uri("xen")
    assert not env["logs"].exists() or not os.listdir(env["logs"])
    assert "attach says hello" in caplog.text
    assert "EXTP_ACCESS" not in script_env(env, "attach")
    dev.attach()  # idempotent
    dev.assemble()
    assert storage.device_class(constants.DT_EXT) is ExtStorageDevice


def test_attach_for_userspace_only_and_broken_outputs(env):
    out = env["state"] / "attach.out"
    out.write_text("\nkvm:gluster://host/vol\n")
    dev = make(env)
    assert dev.attach() and dev.dev_path is None
    with pytest.raises(errors.BlockDeviceError, match="userspace access only"):
        dev.get_actual_size()
    for text, message in (("", "printed nothing"), ("\n\n", "neither a device"),
                          ("dev/rbd0\n", "not an absolute device path"),
                          ("/dev/rbd0\nno uri here\n", "invalid access line")):
        out.write_text(text)
        with pytest.raises(errors.BlockDeviceError, match=message):
            dev.attach()
    out.write_text("/etc/passwd\n")
    assert not dev.attach()
    with pytest.raises(errors.BlockDeviceError, match="not a usable block device"):
        dev.assemble()


def test_attach_output_parser():
    assert extstorage.parse_attach_output("/dev/rbd3\nkvm:rbd:p/v\nxen:x:y\n\n") == (
        "/dev/rbd3", {"kvm": "rbd:p/v", "xen": "x:y"})
    assert extstorage.parse_attach_output("  \nkvm:u") == (None, {"kvm": "u"})


def test_grow_setinfo_verify_remove_detach(env):
    dev = make(env)
    dev.grow(512, True, True, False)      # providers have no dry run
    dev.grow(512, False, False, False)    # nothing to do outside the backing store
    assert not (env["state"] / "grow.env").exists()
    dev.grow(512, False, True, False)
    grown = script_env(env, "grow")
    assert (grown["VOL_SIZE"], grown["VOL_NEW_SIZE"], dev.size) == ("1024", "1536", 1536)
    dev.set_info("originstname+inst1.example.com")
    assert script_env(env, "setinfo")["VOL_METADATA"] == "originstname+inst1.example.com"
    dev.verify()
    dev.shutdown()
    dev.remove()
    for action in ("verify", "detach", "remove"):
        assert script_env(env, action)["VOL_NAME"] == VOL
    logs = sorted(name.split("-")[0] for name in os.listdir(env["logs"]))
    assert logs == ["detach", "grow", "remove", "setinfo", "verify"]


def test_failing_script_reports_the_tail_of_its_log(env):
    dev = make(env)
    dev.size = 200000
    with pytest.raises(errors.BlockDeviceError) as err:
        dev.grow(1, False, True, False)
    message = str(err.value)
    assert "grow script failed for %s (exited with exit code 3)" % VOL in message
    assert "too big" in message and "grow line 29" in message
    assert "grow line 5\n" not in message  # only the last 20 lines
    assert dev.size == 200000


def test_optional_scripts(env, tmp_path):
    dev = make(env)
    dev.open(exclusive=False)
    assert script_env(env, "open")["VOL_OPEN_EXCLUSIVE"] == "False"
    dev.close()  # no close script: nothing to do
    assert not (env["state"] / "close.env").exists()
    assert dev.snapshot(VOL + ".snap", 1024) == ("testprov", VOL + ".snap")
    snap = script_env(env, "snapshot")
    assert (snap["VOL_SNAPSHOT_NAME"], snap["VOL_SNAPSHOT_SIZE"]) == (VOL + ".snap", "1024")
    plain = tmp_path / "plain"
    write_provider(plain, "testprov", skip=("snapshot", "open"))
    dev = make(env)
    dev.search_path = [str(plain)]
    with pytest.raises(errors.BlockDeviceError, match="does not support snapshots"):
        dev.snapshot(VOL + ".snap", 1024)
    (env["state"] / "open.env").unlink()
    dev.open()  # no open script in this provider: nothing runs
    assert not (env["state"] / "open.env").exists()


def test_refusals(env):
    with pytest.raises(errors.BlockDeviceError, match="exclusive storage"):
        ExtStorageDevice.create(["testprov", VOL], [], 1, None, {}, True, {},
                                search_path=env["search"])
    with pytest.raises(errors.BlockDeviceError, match="Invalid ExtStorage volume name"):
        ExtStorageDevice(["testprov", "../x"], [], 1, {}, {})
    with pytest.raises(errors.BlockDeviceError, match="Invalid ExtStorage disk id"):
        ExtStorageDevice("testprov", [], 1, {}, {})
    with pytest.raises(errors.BlockDeviceError, match="Renaming"):
        make(env).rename(["testprov", "x"])


def test_device_from_disk_passes_name_and_uuid(env):
    disk = {"dev_type": constants.DT_EXT, "logical_id": ["testprov", VOL], "size": 10,
            "name": "db", "uuid": "u-1", "params": {"state": str(env["state"])}}
    dev = storage.device_from_disk(disk)
    assert (dev.name, dev.uuid, dev.size, dev.vol_name) == ("db", "u-1", 10, VOL)
