"""KVM end to end on a virtual cluster of its own (127.0.26.x): real qemu (TCG) guests
of the tinylinux OS, driven by the real CLI.

Life cycle (add boots, console, reboot, ACPI and forced shutdown, startup), parameter
errors, live migration of diskless and sharedfile instances, node migration, failover
and the uid pool.  The tests run in file order and share the cluster.
"""

import glob
import os
import pty
import select
import signal
import subprocess
import time

import psutil
import pytest

import vcluster as harness
from conftest import IPOLICY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NET = "127.0.26"
IMAGE = "/opt/ganeti/images/tinylinux"
BANNER = "TINYLINUX-READY"
UID_POOL = (47200, 47209)
OS_NAME = "tinylinux+default"


@pytest.fixture(scope="module")
def kc():
    if not harness.installed():
        pytest.skip("no installed copy in %s (run ./quickstart.sh test)" % harness.PREFIX)
    if os.geteuid() != 0:
        pytest.skip("the virtual cluster needs root")
    if not os.path.exists(os.path.join(IMAGE, "initrd.img")) or \
            not (os.path.exists("/usr/bin/kvm") or
                 os.path.exists("/usr/bin/qemu-system-x86_64")):
        pytest.skip("qemu or the tinylinux image is missing (./quickstart.sh deps)")
    old = harness.NET_PREFIX
    try:
        cluster = harness.create(3, 4, net_prefix=NET, prefix="gk-")
    finally:
        # the harness keeps the prefix globally: give the other clusters theirs back
        harness.NET_PREFIX = old
    cluster.address = lambda node: "%s.%d" % (NET, 9 + int(node[4:]))
    try:
        yield cluster
    finally:
        for pid in qemu_pids(cluster):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        harness.teardown(cluster)


def run_dir(kc, node) -> str:
    return os.path.join(kc.node_root(node), kc._rel("var/run/ganeti"))


def kvm_file(kc, node, sub, name) -> str:
    return os.path.join(run_dir(kc, node), "kvm-hypervisor", sub, name)


def qemu_pid(kc, node, name) -> int:
    """The pid of instance ``name``'s qemu on ``node``, 0 when it does not run."""
    try:
        pid = int(open(kvm_file(kc, node, "pid", name)).read())
        proc = psutil.Process(pid)
        if proc.status() != psutil.STATUS_ZOMBIE and name in proc.cmdline():
            return pid
    except (OSError, ValueError, psutil.NoSuchProcess):
        pass
    return 0


def qemu_pids(kc) -> list[int]:
    pids = []
    for path in glob.glob(os.path.join(kc.dir, "node*", "**", "kvm-hypervisor", "pid", "*"),
                          recursive=True):
        try:
            pids.append(int(open(path).read()))
        except (OSError, ValueError):
            pass
    return pids


def banners(kc, node, name) -> int:
    try:
        with open(kvm_file(kc, node, "log", name + ".console"), errors="replace") as fh:
            return fh.read().count(BANNER)
    except OSError:
        return 0


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s" % what)


def field(kc, name, fields):
    out = kc.gnt("gnt-instance", "list", "--no-headers", "--separator=|", "-o", fields,
                 name).stdout.strip()
    return out.split("|")


def console_session(kc, name, command, expect, timeout=60) -> str:
    """Run ``gnt-instance console`` in a pseudo-terminal, type a command, read its
    output, leave with Ctrl-]."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([os.path.join(kc.node_root("node1"), "cmd"), "gnt-instance",
                             "console", name], stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    out = b""
    try:
        time.sleep(1)
        os.write(master, b"\r" + command.encode() + b"\r")
        deadline = time.monotonic() + timeout
        while expect.encode() not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        os.write(master, b"\x1d")  # socat's escape: leave the console
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return out.decode(errors="replace")


def test_init_cluster_with_kvm(kc):
    shared = os.path.join(kc.dir, "shared-storage")
    os.makedirs(shared)
    kc.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
           "--enabled-hypervisors=kvm,fake",
           "--enabled-disk-templates=sharedfile,file,diskless",
           "--nic-parameters=link=lo", "--file-storage-dir=/srv/ganeti/file-storage",
           "--shared-file-storage-dir=/srv/ganeti/shared-file-storage",
           "--ipolicy-bounds-specs=%s" % IPOLICY, "--uid-pool=%d-%d" % UID_POOL,
           "-H", "kvm:kvm_flag=disabled,kernel_path=%s,initrd_path=%s/initrd.img,"
           "kernel_args=ro quiet,root_path=/dev/vda,migration_port=18102,"
           "migration_bandwidth=1000" % (
               os.path.join(IMAGE, "vmlinux") if os.path.exists(
                   os.path.join(IMAGE, "vmlinux")) else os.path.join(IMAGE, "vmlinuz"),
               IMAGE), "cluster")
    for node in ("node2", "node3"):
        kc.gnt("gnt-node", "add", node)
    # every node sees one shared directory as its shared file storage
    for node in ("node1", "node2", "node3"):
        local = kc.node_root(node) + "/srv/ganeti/shared-file-storage"
        if os.path.isdir(local):
            os.rmdir(local)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        os.symlink(shared, local)
        paths = os.path.join(kc.node_root(node), kc._rel("etc/ganeti"),
                             "file-storage-paths")
        with open(paths, "a") as fh:
            fh.write("%s\n" % shared)
    info = kc.gnt("gnt-cluster", "info").stdout
    assert "kvm" in info and "47200-47209" in info


def test_add_boots_a_diskless_kvm_instance(kc):
    start = time.monotonic()
    kc.gnt("gnt-instance", "add", "-t", "diskless", "-H", "kvm", "-o", OS_NAME,
           "-n", "node2", "--no-nics", "--no-name-check", "--no-ip-check", "kvm1",
           timeout=300)
    pid = qemu_pid(kc, "node2", "kvm1")
    assert pid, "no qemu for kvm1 on node2"
    assert "-accel" in psutil.Process(pid).cmdline()
    wait_for(lambda: banners(kc, "node2", "kvm1") == 1, 120, "the boot banner")
    log = open(kvm_file(kc, "node2", "log", "kvm1.console"), errors="replace").read()
    assert "%s host=tinylinux root=initramfs" % BANNER in log
    print("kvm1: add to banner %.1f s" % (time.monotonic() - start))
    assert field(kc, "kvm1", "name,hypervisor,pnode,status,oper_ram") == \
        ["kvm1", "kvm", "node2", "running", "128"]


def test_add_boots_a_sharedfile_instance_from_its_disk(kc):
    kc.gnt("gnt-instance", "add", "-t", "sharedfile", "--disk", "0:size=64M", "-H", "kvm",
           "-o", OS_NAME, "-n", "node2", "--no-nics", "--no-name-check", "--no-ip-check",
           "kvm2", timeout=300)
    wait_for(lambda: banners(kc, "node2", "kvm2") == 1, 120, "the boot banner")
    log = open(kvm_file(kc, "node2", "log", "kvm2.console"), errors="replace").read()
    assert "%s host=kvm2 root=/dev/vda" % BANNER in log
    disk = glob.glob(os.path.join(kc.dir, "shared-storage", "kvm2", "disk0"))
    assert disk and os.path.getsize(disk[0]) == 64 * 1024 * 1024


def test_cluster_verify_accepts_kvm(kc):
    result = kc.gnt("gnt-cluster", "verify", check=False, timeout=300)
    assert "hypervisor kvm verify failure" not in result.stdout, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_hypervisor_parameters_are_refused_at_add(kc):
    base = ["gnt-instance", "add", "-t", "diskless", "-o", OS_NAME, "-n", "node2",
            "--no-nics", "--no-name-check", "--no-ip-check"]
    result = kc.gnt(*base, "-H", "kvm:boot_order=usb", "bad1", check=False)
    assert result.returncode != 0
    assert "Invalid value 'usb' for hypervisor parameter 'boot_order'" in result.stderr
    result = kc.gnt(*base, "-H", "kvm:no_such_param=1", "bad2", check=False)
    assert result.returncode != 0 and "Unknown hypervisor parameter" in result.stderr
    result = kc.gnt(*base, "-H", "kvm:security_model=user,security_domain=nosuchuser",
                    "bad3", check=False)
    assert result.returncode != 0 and "nosuchuser does not exist" in result.stderr
    assert "bad1" not in kc.gnt("gnt-instance", "list", "--no-headers", "-o",
                                "name").stdout


def test_console_show_command_and_scripted_session(kc):
    out = kc.gnt("gnt-instance", "console", "--show-cmd", "kvm1").stdout
    assert out.startswith("ssh ") and "socat" in out
    assert kvm_file(kc, "node2", "ctrl", "kvm1.serial") in out
    assert "%s.11" % NET in out
    text = console_session(kc, "kvm1", "echo console-$((3*5))", "console-15")
    assert "console-15" in text, text


def test_soft_and_hard_reboot(kc):
    pid = qemu_pid(kc, "node2", "kvm1")
    kc.gnt("gnt-instance", "reboot", "--type=soft", "kvm1")
    wait_for(lambda: banners(kc, "node2", "kvm1") == 2, 120, "the banner after reboot")
    assert qemu_pid(kc, "node2", "kvm1") == pid  # same qemu, guest reset
    kc.gnt("gnt-instance", "reboot", "--type=hard", "kvm1", timeout=300)
    new_pid = qemu_pid(kc, "node2", "kvm1")
    assert new_pid and new_pid != pid
    wait_for(lambda: banners(kc, "node2", "kvm1") == 1, 120, "the banner after hard reboot")


def test_shutdown_with_acpi_then_startup(kc):
    pid = qemu_pid(kc, "node2", "kvm1")
    start = time.monotonic()
    kc.gnt("gnt-instance", "shutdown", "--timeout=60", "kvm1", timeout=120)
    assert time.monotonic() - start < 60  # the guest powered itself off
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert not os.path.exists(kvm_file(kc, "node2", "pid", "kvm1"))
    assert not os.path.exists(kvm_file(kc, "node2", "conf", "kvm1.runtime"))
    assert field(kc, "kvm1", "status") == ["ADMIN_down"]
    log = open(kvm_file(kc, "node2", "log", "kvm1.console"), errors="replace").read()
    assert "Power down" in log or "poweroff" in log.lower()
    kc.gnt("gnt-instance", "startup", "kvm1", timeout=120)
    assert qemu_pid(kc, "node2", "kvm1")
    wait_for(lambda: banners(kc, "node2", "kvm1") == 1, 120, "the banner after startup")
    assert field(kc, "kvm1", "status") == ["running"]


def test_shutdown_forced_after_timeout(kc):
    # a guest without ACPI ignores the power button: shutdown kills it after --timeout
    kc.gnt("gnt-instance", "shutdown", "--timeout=60", "kvm1", timeout=120)
    kc.gnt("gnt-instance", "startup", "-H", "kernel_args=ro quiet acpi=off", "kvm1",
           timeout=120)
    pid = qemu_pid(kc, "node2", "kvm1")
    wait_for(lambda: banners(kc, "node2", "kvm1") == 1, 120, "the banner")
    start = time.monotonic()
    kc.gnt("gnt-instance", "shutdown", "--timeout=4", "kvm1", timeout=120)
    assert time.monotonic() - start >= 4
    assert qemu_pid(kc, "node2", "kvm1") == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    kc.gnt("gnt-instance", "startup", "kvm1", timeout=120)
    wait_for(lambda: banners(kc, "node2", "kvm1") == 1, 120, "the banner")


def test_live_migration_of_a_diskless_instance(kc):
    start = time.monotonic()
    kc.gnt("gnt-instance", "migrate", "-f", "-n", "node3", "kvm1", timeout=300)
    print("kvm1: migration %.1f s" % (time.monotonic() - start))
    assert qemu_pid(kc, "node3", "kvm1") and not qemu_pid(kc, "node2", "kvm1")
    assert field(kc, "kvm1", "pnode,status") == ["node3", "running"]
    # the migration stream was TLS: the target loaded the server credentials
    cmd = psutil.Process(qemu_pid(kc, "node3", "kvm1")).cmdline()
    assert any("ganeti-migration-server" in a and "verify-peer=on" in a for a in cmd)
    # the guest still answers on its console, now on node3
    text = console_session(kc, "kvm1", "echo migrated-$((2+3))", "migrated-5")
    assert "migrated-5" in text, text
    assert banners(kc, "node3", "kvm1") == 0  # no reboot happened


def test_live_migration_of_a_sharedfile_instance(kc):
    kc.gnt("gnt-instance", "migrate", "-f", "-n", "node3", "kvm2", timeout=300)
    assert qemu_pid(kc, "node3", "kvm2") and not qemu_pid(kc, "node2", "kvm2")
    info = kc.gnt("gnt-instance", "info", "kvm2").stdout
    assert "primary: node3" in info
    text = console_session(kc, "kvm2", "cat /etc/hostname", "kvm2\r\n")
    assert "kvm2" in text


def test_migrate_cleanup_keeps_the_running_copy(kc):
    pid = qemu_pid(kc, "node3", "kvm2")
    out = kc.gnt("gnt-instance", "migrate", "-f", "--cleanup", "-n", "node2", "kvm2").stdout
    assert "aborting the migration" in out
    assert qemu_pid(kc, "node3", "kvm2") == pid
    assert field(kc, "kvm2", "pnode,status") == ["node3", "running"]


def test_node_migrate_moves_every_instance_back(kc):
    kc.gnt("gnt-node", "migrate", "-f", "-n", "node2", "node3", timeout=600)
    for name in ("kvm1", "kvm2"):
        assert field(kc, name, "pnode,status") == ["node2", "running"]
        assert qemu_pid(kc, "node2", name) and not qemu_pid(kc, "node3", name)


def test_restarted_noded_finds_its_instances(kc):
    pids = {name: qemu_pid(kc, "node2", name) for name in ("kvm1", "kvm2")}
    noded = kc.daemon_pid("node2", "ganeti-noded")
    os.kill(noded, signal.SIGTERM)
    wait_for(lambda: not psutil.pid_exists(noded) or
             psutil.Process(noded).status() == psutil.STATUS_ZOMBIE, 30, "noded to stop")
    kc.run(kc.daemon_util, "start", "ganeti-noded", node="node2")
    for name, pid in pids.items():
        assert qemu_pid(kc, "node2", name) == pid  # qemu survived the restart
        assert field(kc, name, "status") == ["running"]
    before = banners(kc, "node2", "kvm2")
    kc.gnt("gnt-instance", "reboot", "--type=soft", "kvm2")
    wait_for(lambda: banners(kc, "node2", "kvm2") == before + 1, 120, "the reboot")


def test_failover(kc):
    old = qemu_pid(kc, "node2", "kvm1")
    kc.gnt("gnt-instance", "failover", "-f", "-n", "node3", "--shutdown-timeout=60",
           "kvm1", timeout=300)
    assert field(kc, "kvm1", "pnode,status") == ["node3", "running"]
    assert qemu_pid(kc, "node3", "kvm1") and not qemu_pid(kc, "node2", "kvm1")
    assert not psutil.pid_exists(old) or psutil.Process(old).status() == "zombie"
    wait_for(lambda: banners(kc, "node3", "kvm1") == 1, 120, "the banner after failover")


def test_uid_pool_isolation(kc):
    kc.gnt("gnt-instance", "add", "-t", "diskless", "-H", "kvm:security_model=pool",
           "-o", OS_NAME, "-n", "node2", "--no-nics", "--no-name-check", "--no-ip-check",
           "kvm3", timeout=300)
    pid = qemu_pid(kc, "node2", "kvm3")
    uid = int(open(kvm_file(kc, "node2", "uid", "kvm3")).read())
    assert UID_POOL[0] <= uid <= UID_POOL[1]
    wait_for(lambda: psutil.Process(pid).uids().real == uid, 10, "the uid change")
    assert psutil.Process(pid).uids().effective == uid
    lock = os.path.join(run_dir(kc, "node2"), "uid-pool", str(uid))
    assert open(lock).read().strip() == "kvm3"
    kc.gnt("gnt-instance", "shutdown", "--timeout=0", "kvm3", timeout=120)
    assert not os.path.exists(lock)


def test_remove_instances_leaves_no_qemu(kc):
    for name in ("kvm1", "kvm2", "kvm3"):
        kc.gnt("gnt-instance", "remove", "-f", "--shutdown-timeout=0", name, timeout=120)
    assert kc.gnt("gnt-instance", "list", "--no-headers", "-o", "name").stdout == ""
    live = [p for p in qemu_pids(kc) if psutil.pid_exists(p) and
            psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert live == []
    assert not os.path.exists(os.path.join(kc.dir, "shared-storage", "kvm2"))
