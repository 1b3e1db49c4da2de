"""Tests of ganeti.tools.ensure_dirs, run in a throw-away virtual node root.

pathutils reads GANETI_ROOTDIR at import time, so every run happens in a subprocess
with the environment set; users and groups are mapped to the current ones.
"""

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ganeti import _autoconf
from ganeti.tools import ensure_dirs

REPO = Path(__file__).resolve().parents[2]

_RUNNER = """
import json, sys
from ganeti import _autoconf
for key, value in json.loads(sys.argv[1]).items():
    setattr(_autoconf, key, value)
from ganeti.tools import ensure_dirs
rc = ensure_dirs.main(sys.argv[2:])
print(json.dumps({"rc": rc, "paths": ensure_dirs.get_paths()}))
"""

_ID_KEYS = ["MASTERD", "LUXID", "NODED", "RAPI", "CONFD", "MOND"]


def _identity() -> dict:
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    ids = {f"{k}_USER": user for k in _ID_KEYS}
    ids.update({f"{k}_GROUP": group for k in _ID_KEYS})
    ids.update({"ADMIN_GROUP": group, "DAEMONS_GROUP": group})
    return ids


@pytest.fixture
def node_root(tmp_path):
    root = tmp_path / "node1.example.com"
    root.mkdir()
    return root


def var_dir(root) -> Path:
    """LOCALSTATEDIR of the virtual node (pathutils puts the node root in front)."""
    return Path(str(root) + _autoconf.LOCALSTATEDIR)


def run_ensure(root, *args, overrides=None):
    ids = _identity()
    ids.update(overrides or {})
    env = dict(os.environ, GANETI_ROOTDIR=str(root), GANETI_HOSTNAME=root.name,
               PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(ids)] + list(args),
                          env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result["rc"], result["paths"], proc.stderr


def mode_of(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def entry(paths, suffix):
    matches = [p for p in paths if p[0].endswith(suffix)]
    assert len(matches) == 1, suffix
    return matches[0]


def test_creates_all_directories_below_node_root(node_root):
    rc, paths, err = run_ensure(node_root)
    assert rc == 0, err
    dirs = [p for p in paths if p[1] in (ensure_dirs.DIR, ensure_dirs.QUEUE_DIR)]
    assert len(dirs) >= 15
    for path, _kind, mode, _user, _group in dirs:
        assert path.startswith(str(node_root) + "/"), path
        assert os.path.isdir(path), path
        assert mode_of(path) == mode, path
    # Files are only fixed, never created.
    for path, kind, _mode, _user, _group in paths:
        if kind == ensure_dirs.FILE:
            assert not os.path.exists(path), path


def test_spec_modes_of_key_directories(node_root):
    rc, paths, err = run_ensure(node_root)
    assert rc == 0, err
    var = var_dir(node_root)
    expected = {
        "lib/ganeti": 0o755, "lib/ganeti/queue": 0o750, "lib/ganeti/rapi": 0o750,
        "run/ganeti": 0o775, "run/ganeti/socket": 0o770, "run/ganeti/crypto": 0o700,
        "run/ganeti/uid-pool": 0o750, "run/ganeti/instance-disks": 0o755,
        "log/ganeti": 0o770, "log/ganeti/os": 0o750, "log/ganeti/extstorage": 0o750,
    }
    for rel, mode in expected.items():
        assert mode_of(var / rel) == mode, rel
    assert Path(str(node_root) + _autoconf.SYSCONFDIR, "ganeti", "hooks").is_dir()
    assert entry(paths, "/lib/ganeti/config.data")[2] == 0o640


def test_fixes_existing_files_and_job_files(node_root):
    data = var_dir(node_root) / "lib" / "ganeti"
    queue = data / "queue"
    queue.mkdir(parents=True)
    files = {
        data / "config.data": (0o666, 0o640),
        data / "hmac.key": (0o400, 0o440),
        data / "cluster-domain-secret": (0o400, 0o640),
        data / "ssconf_master_node": (0o600, 0o444),
        queue / "job-17": (0o600, 0o640),
        queue / "not-a-job": (0o600, 0o600),
    }
    for path, (before, _after) in files.items():
        path.write_text("x\n")
        path.chmod(before)
    rc, _paths, err = run_ensure(node_root, "-v")
    assert rc == 0, err
    for path, (_before, after) in files.items():
        assert mode_of(path) == after, path
    assert "config.data" in err  # -v reports the change


def test_archive_only_with_full_run(node_root):
    archive = var_dir(node_root) / "lib" / "ganeti" / "queue" / "archive" / "0"
    archive.mkdir(parents=True)
    archive.chmod(0o700)
    job = archive / "job-5"
    job.write_text("{}")
    job.chmod(0o600)
    rc, _paths, err = run_ensure(node_root)
    assert rc == 0, err
    assert mode_of(job) == 0o600
    assert mode_of(archive) == 0o700
    rc, _paths, err = run_ensure(node_root, "--full-run")
    assert rc == 0, err
    assert mode_of(job) == 0o640
    assert mode_of(archive) == 0o750


def test_existing_lock_dir_is_left_alone(node_root):
    lock = var_dir(node_root) / "lock"
    lock.mkdir(parents=True)
    lock.chmod(0o1777)
    rc, _paths, err = run_ensure(node_root)
    assert rc == 0, err
    assert mode_of(lock) == 0o1777


def test_second_run_changes_nothing(node_root):
    rc, _paths, err = run_ensure(node_root)
    assert rc == 0, err
    rc, _paths, err = run_ensure(node_root, "-v")
    assert rc == 0
    assert err == ""


def test_unknown_user_fails_without_touching_anything(node_root):
    rc, _paths, err = run_ensure(node_root,
                                 overrides={"MASTERD_USER": "no-such-user-gnt"})
    assert rc == 1
    assert "Unknown user 'no-such-user-gnt'" in err
    assert not var_dir(node_root).exists()


def test_file_in_place_of_directory_is_an_error(node_root):
    data = var_dir(node_root) / "lib" / "ganeti"
    data.parent.mkdir(parents=True)
    data.write_text("oops")
    rc, _paths, err = run_ensure(node_root)
    assert rc == 1
    assert "not a directory" in err
    # The rest of the table is still applied.
    assert (var_dir(node_root) / "run" / "ganeti" / "socket").is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")
def test_owner_is_fixed(node_root):
    data = var_dir(node_root) / "lib" / "ganeti"
    data.mkdir(parents=True)
    conf = data / "config.data"
    conf.write_text("{}")
    os.chown(conf, 12345, 12345)
    rc, _paths, err = run_ensure(node_root)
    assert rc == 0, err
    st = os.stat(conf)
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())


def test_get_paths_is_well_formed():
    kinds = {ensure_dirs.DIR, ensure_dirs.DIR_CREATE_ONLY, ensure_dirs.FILE,
             ensure_dirs.GLOB, ensure_dirs.QUEUE_DIR}
    paths = ensure_dirs.get_paths()
    seen = set()
    for item in paths:
        path, kind, mode, user, group = item
        assert os.path.isabs(path)
        assert kind in kinds
        assert 0 <= mode <= 0o7777
        assert user and group
        assert path not in seen
        seen.add(path)
    # Parents are listed before their children.
    index = {p[0]: i for i, p in enumerate(paths)}
    for path, i in index.items():
        parent = os.path.dirname(path)
        if parent in index:
            assert index[parent] < i, path
