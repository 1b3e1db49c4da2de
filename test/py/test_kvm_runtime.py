"""KVM runtime files (paths, process identification, cleanup, chroot quarantine), the uid
pool (syntax, per-node allocation with lock files, release) and the migration TLS
credentials made from the cluster certificate."""

import os
import subprocess
import sys
import threading

import pytest

from ganeti import crypto, errors
from ganeti.hypervisor.kvm import tls, uidpool
from ganeti.hypervisor.kvm.runtime import RuntimeDirs


@pytest.fixture
def dirs(tmp_path):
    d = RuntimeDirs(str(tmp_path / "kvm-hypervisor"))
    d.ensure()
    return d


def test_layout(dirs, tmp_path):
    base = str(tmp_path / "kvm-hypervisor")
    assert dirs.pidfile("i1") == base + "/pid/i1"
    assert dirs.runtime_file("i1") == base + "/conf/i1.runtime"
    assert dirs.qmp_socket("i1") == base + "/ctrl/i1.qmp"
    assert dirs.serial_socket("i1") == base + "/ctrl/i1.serial"
    assert dirs.uid_file("i1") == base + "/uid/i1"
    assert dirs.chroot_dir("i1") == base + "/chroot/i1"
    for sub in RuntimeDirs.SUBDIRS:
        assert os.path.isdir(os.path.join(base, sub))
    assert os.stat(os.path.join(base, "tls")).st_mode & 0o777 == 0o700
    for bad in ("", "../x", "a/b", ".hidden"):
        with pytest.raises(errors.HypervisorError, match="Invalid instance name"):
            dirs.pidfile(bad)


def test_socket_path_length_is_checked(tmp_path):
    deep = RuntimeDirs(str(tmp_path / ("d" * 80)))
    with pytest.raises(errors.HypervisorError, match="more than a unix socket allows"):
        deep.check_socket_paths("instance-with-a-long-name.example.com")
    RuntimeDirs("/run/k").check_socket_paths("short")


def test_runtime_record_round_trip(dirs):
    assert dirs.load_runtime("i1") is None
    dirs.save_runtime("i1", {"cmd": ["qemu", "-name", "i1"], "uid": 4001})
    assert dirs.load_runtime("i1") == {"cmd": ["qemu", "-name", "i1"], "uid": 4001}
    assert os.stat(dirs.runtime_file("i1")).st_mode & 0o777 == 0o600


def _fake_qemu(dirs, name, pidfile_arg=True):
    """A process whose command line looks like our qemu's (-name, -pidfile)."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "-name", name]
    if pidfile_arg:
        argv += ["-pidfile", dirs.pidfile(name)]
    proc = subprocess.Popen(argv)
    with open(dirs.pidfile(name), "w") as fh:
        fh.write("%d\n" % proc.pid)
    return proc


def test_running_pid_needs_our_command_line(dirs):
    proc = _fake_qemu(dirs, "i1")
    other = _fake_qemu(dirs, "i2", pidfile_arg=False)
    try:
        assert dirs.running_pid("i1") == proc.pid
        # a live process that is not this instance's qemu (recycled pid)
        assert dirs.running_pid("i2") == 0
        assert dirs.names() == ["i1", "i2"]
    finally:
        for p in (proc, other):
            p.kill()
            p.wait()
    assert dirs.running_pid("i1") == 0
    assert dirs.running_pid("missing") == 0


def test_cleanup_removes_files_and_quarantines_a_used_chroot(dirs):
    for path in (dirs.pidfile("i1"), dirs.runtime_file("i1"), dirs.qmp_socket("i1"),
                 dirs.uid_file("i1")):
        open(path, "w").close()
    chroot = dirs.prepare_chroot("i1")
    open(os.path.join(chroot, "left-behind"), "w").close()
    dirs.cleanup("i1")
    for path in (dirs.pidfile("i1"), dirs.runtime_file("i1"), dirs.qmp_socket("i1"),
                 dirs.uid_file("i1"), chroot):
        assert not os.path.exists(path), path
    quarantined = os.listdir(dirs.quarantine_dir())
    assert len(quarantined) == 1 and quarantined[0].startswith("i1-")
    assert os.listdir(os.path.join(dirs.quarantine_dir(), quarantined[0])) == ["left-behind"]
    # an empty chroot is simply removed
    dirs.prepare_chroot("i2")
    dirs.cleanup("i2")
    assert not os.path.exists(dirs.chroot_dir("i2"))
    assert len(os.listdir(dirs.quarantine_dir())) == 1


# --- uid pool ------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("1000-5000,8000,9000-9010", [(1000, 5000), (8000, 8000), (9000, 9010)]),
    (" 8000 , 1000 - 1002 ", [(1000, 1002), (8000, 8000)]),
    ("", []),
    ("0-4294967295", [(0, 4294967295)]),
])
def test_parse_uid_pool(text, expected):
    assert uidpool.parse_uid_pool(text) == expected


@pytest.mark.parametrize("text", ["1000-", "a-b", "5-3", "1-2-3", "-5", "4294967296",
                                  "100x"])
def test_parse_uid_pool_errors(text):
    with pytest.raises(ValueError):
        uidpool.parse_uid_pool(text)


def test_format_and_read_cluster_pool(tmp_path):
    assert uidpool.format_uid_pool([(1000, 5000), (8000, 8000)]) == "1000-5000, 8000"
    (tmp_path / "ssconf_uid_pool").write_text("4000-4019\n5000\n")
    assert uidpool.read_cluster_pool(str(tmp_path)) == [(4000, 4019), (5000, 5000)]
    assert uidpool.read_cluster_pool(str(tmp_path / "none")) == []


def test_allocation_is_random_unique_and_released(tmp_path):
    pool = [(4000, 4009)]
    alloc = uidpool.UidPool(str(tmp_path / "pool"), is_running=lambda n: True,
                            busy_uids=lambda: set())
    got = [alloc.allocate(pool, "inst%d" % i) for i in range(10)]
    assert sorted(got) == list(range(4000, 4010))
    for uid, i in zip(got, range(10), strict=True):
        assert alloc.owner(uid) == "inst%d" % i
        assert os.stat(os.path.join(str(tmp_path / "pool"), str(uid))).st_mode & 0o777 \
            == 0o600
    with pytest.raises(errors.HypervisorError, match="No free uid"):
        alloc.allocate(pool, "one-too-many")
    alloc.release(got[3], "inst3")
    assert alloc.allocate(pool, "late") == got[3]
    # releasing with the wrong owner does nothing
    alloc.release(got[4], "someone-else")
    assert alloc.owner(got[4]) == "inst4"


def test_allocation_is_randomised(tmp_path):
    firsts = set()
    for i in range(30):
        alloc = uidpool.UidPool(str(tmp_path / ("pool%d" % i)), busy_uids=lambda: set())
        firsts.add(alloc.allocate([(4000, 4099)], "inst"))
    assert len(firsts) > 5


def test_allocation_skips_uids_used_by_processes(tmp_path):
    alloc = uidpool.UidPool(str(tmp_path / "pool"), busy_uids=lambda: {4000, 4001})
    assert alloc.allocate([(4000, 4002)], "a") == 4002


def test_stale_locks_of_stopped_instances_are_reused(tmp_path):
    running = {"alive"}
    alloc = uidpool.UidPool(str(tmp_path / "pool"), is_running=lambda n: n in running,
                            busy_uids=lambda: set())
    pool = [(4000, 4001)]
    alloc.allocate(pool, "alive")
    dead = alloc.allocate(pool, "dead")
    # pool exhausted, but "dead" no longer runs: its uid is taken over
    assert alloc.allocate(pool, "new") == dead
    running.add("new")
    with pytest.raises(errors.HypervisorError, match="No free uid"):
        alloc.allocate(pool, "another")


def test_restarting_instance_gets_a_fresh_lock(tmp_path):
    alloc = uidpool.UidPool(str(tmp_path / "pool"), busy_uids=lambda: set())
    first = alloc.allocate([(4000, 4000)], "i1")
    assert alloc.allocate([(4000, 4000)], "i1") == first
    assert alloc.taken() == {first: "i1"}


def test_concurrent_allocations_never_share_a_uid(tmp_path):
    alloc = uidpool.UidPool(str(tmp_path / "pool"), busy_uids=lambda: set())
    pool = [(5000, 5019)]
    results, errs = [], []

    def take(i):
        try:
            results.append(alloc.allocate(pool, "inst%d" % i))
        except errors.HypervisorError as err:
            errs.append(err)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errs
    assert sorted(results) == list(range(5000, 5020))


def test_empty_pool_is_an_error(tmp_path):
    with pytest.raises(errors.HypervisorError, match="uid pool is empty"):
        uidpool.UidPool(str(tmp_path / "pool")).allocate([], "x")


def test_huge_pool_is_sampled(tmp_path):
    alloc = uidpool.UidPool(str(tmp_path / "pool"), busy_uids=lambda: set())
    uid = alloc.allocate([(100000, 4000000000)], "big")
    assert 100000 <= uid <= 4000000000


# --- migration TLS credentials -------------------------------------------------------

@pytest.fixture
def cluster_pem(tmp_path):
    key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, key, cert, 0o600)
    return path


def test_credentials_are_signed_by_the_cluster_certificate(tmp_path, cluster_pem):
    server, client = tls.ensure_credentials(str(tmp_path / "tls"), cluster_pem)
    cluster_cert = crypto.read_pem_file(cluster_pem)[1]
    assert sorted(os.listdir(server)) == ["ca-cert.pem", "server-cert.pem",
                                          "server-key.pem"]
    assert sorted(os.listdir(client)) == ["ca-cert.pem", "client-cert.pem",
                                          "client-key.pem"]
    for directory, leaf in ((server, "server"), (client, "client")):
        assert open(os.path.join(directory, "ca-cert.pem")).read() == cluster_cert
        cert = open(os.path.join(directory, leaf + "-cert.pem")).read()
        assert crypto.verify_signed_by(cert, cluster_cert)
        assert crypto.cert_common_name(cert) == tls.TLS_HOSTNAME
        assert os.stat(os.path.join(directory, leaf + "-key.pem")).st_mode & 0o777 == 0o600


def test_credentials_are_kept_then_renewed_with_a_new_cluster_cert(tmp_path, cluster_pem):
    server, _ = tls.ensure_credentials(str(tmp_path / "tls"), cluster_pem)
    first = open(os.path.join(server, "server-cert.pem")).read()
    tls.ensure_credentials(str(tmp_path / "tls"), cluster_pem)
    assert open(os.path.join(server, "server-cert.pem")).read() == first
    key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
    crypto.write_pem_file(cluster_pem, key, cert, 0o600)
    tls.ensure_credentials(str(tmp_path / "tls"), cluster_pem)
    renewed = open(os.path.join(server, "server-cert.pem")).read()
    assert renewed != first and crypto.verify_signed_by(renewed, cert)


def test_credentials_without_cluster_certificate(tmp_path):
    with pytest.raises(errors.HypervisorError, match="Cannot read the cluster certificate"):
        tls.ensure_credentials(str(tmp_path / "tls"), str(tmp_path / "missing.pem"))


def test_object_arguments():
    assert tls.object_arg("c", "/d", "client") == "tls-creds-x509,id=c,dir=/d,endpoint=client"
    assert tls.object_arg("s", "/d", "server").endswith(",endpoint=server,verify-peer=on")
