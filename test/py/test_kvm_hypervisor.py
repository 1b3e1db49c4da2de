"""The KVM hypervisor with a real qemu (TCG) and the tinylinux image: start, serial
console, reboot, ACPI and forced stop, a restarted noded, ballooning, live migration
over TLS and plain TCP, and the security models (pool uids checked with psutil).

Slow: each guest boot takes a few seconds of emulated CPU.
"""

import os
import pwd
import socket
import time

import psutil
import pytest

from ganeti import crypto, errors
from ganeti.hypervisor.kvm import KVMHypervisor, resolve_kvm_path

pytestmark = pytest.mark.slow

IMAGE = "/opt/ganeti/images/tinylinux"
BANNER = "TINYLINUX-READY"


def _kernel() -> str:
    for name in ("vmlinux", "vmlinuz"):
        if os.path.exists(os.path.join(IMAGE, name)):
            return os.path.join(IMAGE, name)
    return ""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not os.access(resolve_kvm_path("/usr/bin/kvm"), os.X_OK):
        pytest.skip("qemu is not installed (./quickstart.sh deps)")
    if not _kernel() or not os.path.exists(os.path.join(IMAGE, "initrd.img")):
        pytest.skip("no tinylinux image in %s (./quickstart.sh deps)" % IMAGE)
    base = tmp_path_factory.mktemp("kvm")
    key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
    pem = str(base / "server.pem")
    crypto.write_pem_file(pem, key, cert, 0o600)
    (base / "ssconf").mkdir()
    (base / "ssconf" / "ssconf_uid_pool").write_text("47000-47009\n")
    made = []

    def make(node):
        hv = KVMHypervisor(run_dir=str(base / node / "kvm"),
                           uid_pool_dir=str(base / node / "uid-pool"),
                           ssconf_dir=str(base / "ssconf"), cluster_pem=pem)
        made.append(hv)
        return hv

    yield make
    for hv in made:  # whatever a failed test left running, by pid
        for name in hv.dirs.names():
            pid = hv.dirs.running_pid(name)
            if pid:
                hv._kill(pid)
            hv._cleanup(name)


def instance(name, **hvparams):
    params = {"kvm_flag": "disabled", "kernel_path": _kernel(),
              "initrd_path": os.path.join(IMAGE, "initrd.img"), "kernel_args": "ro quiet",
              "migration_bandwidth": 1000}
    params.update(hvparams)
    return {"name": name, "uuid": "0a1b2c3d-0000-4000-8000-%012d" % (abs(hash(name)) % 10**12),
            "hypervisor": "kvm", "hvparams": params,
            "beparams": {"maxmem": 128, "minmem": 128, "vcpus": 1}, "nics": [], "disks": []}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def banners(hv, name) -> int:
    try:
        with open(hv.dirs.console_log(name), errors="replace") as fh:
            return fh.read().count(BANNER)
    except OSError:
        return 0


def console_command(hv, name, command, expect, timeout=30) -> str:
    """Send a command on the serial console socket, return what came back."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(hv.dirs.serial_socket(name))
    try:
        sock.sendall(b"\n" + command.encode() + b"\n")
        buf = b""
        deadline = time.monotonic() + timeout
        while expect.encode() not in buf and time.monotonic() < deadline:
            buf += sock.recv(4096)
        return buf.decode(errors="replace")
    finally:
        sock.close()


def test_life_cycle(env):
    hv = env("node1")
    inst = instance("life")
    hv.start_instance(inst, [], False)
    pid = hv.dirs.running_pid("life")
    assert pid and hv.list_instances() == ["life"]
    name, info_pid, memory, vcpus, state, _cpu = hv.get_instance_info("life")
    assert (name, info_pid, memory, vcpus, state) == ("life", pid, 128, 1, "running")
    with pytest.raises(errors.HypervisorError, match="already running"):
        hv.start_instance(inst, [], False)
    wait_for(lambda: banners(hv, "life") == 1, 120, "the boot banner")
    out = console_command(hv, "life", "echo answer-$((6*7))", "answer-42")
    assert "answer-42" in out
    # a restarted noded (a new object) finds the instance through its runtime files
    again = env("node1")
    assert again.list_instances() == ["life"]
    assert again.get_instance_info("life")[1] == pid
    # ballooning through the guest's virtio-balloon driver
    again.balloon_instance_memory(inst, 96)
    wait_for(lambda: again.get_instance_info("life")[2] == 96, 60, "the balloon")
    # soft reboot: same qemu process, a second boot
    hv.reboot_instance(inst)
    wait_for(lambda: banners(hv, "life") == 2, 120, "the banner after the reboot")
    assert hv.dirs.running_pid("life") == pid
    # ACPI power button: the guest powers itself off
    hv.stop_instance(inst, timeout=60)
    assert hv.list_instances() == []
    assert gone(pid)
    for path in (hv.dirs.pidfile("life"), hv.dirs.runtime_file("life"),
                 hv.dirs.qmp_socket("life"), hv.dirs.serial_socket("life")):
        assert not os.path.exists(path), path
    hv.stop_instance(inst)  # stopping a stopped instance is fine
    with pytest.raises(errors.HypervisorError, match="not running"):
        hv.reboot_instance(inst)


def test_paused_start_and_forced_stop_after_timeout(env):
    hv = env("node1")
    inst = instance("paused")
    hv.start_instance(inst, [], True)
    assert hv.get_instance_info("paused")[4] == "paused"
    pid = hv.dirs.running_pid("paused")
    # a paused guest ignores the power button: the soft stop times out...
    start = time.monotonic()
    hv.stop_instance(inst, timeout=2)
    assert time.monotonic() - start >= 2
    assert hv.list_instances() == ["paused"]
    # ...and the forced stop kills qemu and cleans up
    hv.stop_instance(inst, force=True)
    assert hv.list_instances() == [] and gone(pid)
    assert not os.path.exists(hv.dirs.runtime_file("paused"))


def test_failed_start_leaves_nothing_behind(env):
    hv = env("node1")
    inst = instance("broken", kvm_extra="-no-such-qemu-option")
    with pytest.raises(errors.HypervisorError, match="Failed to start instance broken"):
        hv.start_instance(inst, [], False)
    assert hv.list_instances() == []
    assert not os.path.exists(hv.dirs.runtime_file("broken"))
    with pytest.raises(errors.HypervisorError, match="disk .* is missing"):
        hv.start_instance(dict(instance("nodisk"), disks=[{"mode": "rw"}]),
                          [{"path": "/nonexistent/disk0"}], False)


def migrate(src, dst, inst, live=True):
    info = src.migration_info(inst)
    dst.accept_instance(inst, info, "127.0.0.1", [])
    src.migrate_instance("cluster", inst, "127.0.0.1", live)
    deadline = time.monotonic() + 120
    while True:
        status = src.get_migration_status(inst)
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    ok = status["status"] == "completed"
    dst.finalize_migration_dst(inst, info, ok)
    src.finalize_migration_src(inst, ok, live)
    return status


def test_live_migration_over_tls(env):
    src, dst = env("node1"), env("node2")
    inst = instance("mig-tls", migration_port=48102)
    src.start_instance(inst, [], False)
    wait_for(lambda: banners(src, "mig-tls") == 1, 120, "the boot banner")
    # a ballooned guest migrates too: the target starts with the original -m size
    src.balloon_instance_memory(inst, 100)
    wait_for(lambda: src.get_instance_info("mig-tls")[2] == 100, 60, "the balloon")
    assert src.migration_info(inst)["memory"] == 128
    status = migrate(src, dst, inst)
    assert status["status"] == "completed", status
    assert src.list_instances() == [] and dst.list_instances() == ["mig-tls"]
    assert not os.path.exists(src.dirs.runtime_file("mig-tls"))
    # the target qemu really loaded the server-side TLS credentials
    cmd = dst.dirs.load_runtime("mig-tls")["cmd"]
    assert any("tls-creds-x509,id=ganeti-migration-server" in a and "verify-peer=on" in a
               for a in cmd)
    assert dst.get_instance_info("mig-tls")[4] == "running"
    assert dst.get_instance_info("mig-tls")[2] == 100
    assert "after-42" in console_command(dst, "mig-tls", "echo after-$((40+2))", "after-42")
    dst.stop_instance(inst, force=True)


def test_migration_over_plain_tcp_and_tls_mismatch(env):
    src, dst = env("node1"), env("node2")
    tcp = instance("mig-tcp", migration_transport="tcp", migration_port=48103)
    src.start_instance(tcp, [], True)
    status = migrate(src, dst, tcp, live=False)
    assert status["status"] == "completed", status
    assert dst.list_instances() == ["mig-tcp"]
    dst.stop_instance(tcp, force=True)
    # a TLS source never talks to a plain-TCP target: the migration fails, the
    # instance stays where it was
    src.start_instance(instance("mig-mix", migration_port=48104), [], True)
    src_inst = instance("mig-mix", migration_port=48104)
    dst_inst = instance("mig-mix", migration_port=48104, migration_transport="tcp")
    info = src.migration_info(src_inst)
    dst.accept_instance(dst_inst, info, "127.0.0.1", [])
    src.migrate_instance("cluster", src_inst, "127.0.0.1", True)
    wait_for(lambda: src.get_migration_status(src_inst)["status"] in
             ("failed", "cancelled", "completed"), 60, "the migration outcome")
    assert src.get_migration_status(src_inst)["status"] == "failed"
    dst.finalize_migration_dst(dst_inst, info, False)
    src.finalize_migration_src(src_inst, False, True)
    assert src.list_instances() == ["mig-mix"] and dst.list_instances() == []
    src.stop_instance(src_inst, force=True)


def gone(pid) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _uids(pid):
    uids = psutil.Process(pid).uids()
    return uids.real, uids.effective


def test_security_pool_user_and_chroot(env):
    hv = env("node3")
    a = instance("pool-a", security_model="pool")
    b = instance("pool-b", security_model="pool", use_chroot=True)
    hv.start_instance(a, [], True)
    hv.start_instance(b, [], True)
    uid_a = int(open(hv.dirs.uid_file("pool-a")).read())
    uid_b = int(open(hv.dirs.uid_file("pool-b")).read())
    assert uid_a != uid_b and {uid_a, uid_b} <= set(range(47000, 47010))
    # qemu really runs as the pool uid (and group), not as root
    for name, uid in (("pool-a", uid_a), ("pool-b", uid_b)):
        pid = hv.dirs.running_pid(name)
        wait_for(lambda p=pid, u=uid: _uids(p) == (u, u), 10, "the uid change")
        assert psutil.Process(pid).gids().real == uid
    assert hv.uid_pool.taken() == {uid_a: "pool-a", uid_b: "pool-b"}
    assert os.readlink("/proc/%d/root" % hv.dirs.running_pid("pool-b")) == \
        hv.dirs.chroot_dir("pool-b")
    hv.stop_instance(a, force=True)
    assert uid_a not in hv.uid_pool.taken()
    hv.stop_instance(b, force=True)
    assert hv.uid_pool.taken() == {}
    user = pwd.getpwuid(65534)
    c = instance("user-c", security_model="user", security_domain=user.pw_name)
    hv.start_instance(c, [], True)
    pid = hv.dirs.running_pid("user-c")
    wait_for(lambda: _uids(pid) == (user.pw_uid, user.pw_uid), 10, "the uid change")
    hv.stop_instance(c, force=True)
