"""Tests for the paramiko SSH client: command quoting, known_hosts handling and runs
against a real sshd of a vcluster-setup tree on 127.0.9.x."""

import hashlib
import os
import shlex
import signal
import socket
import subprocess

import pytest

from ganeti import errors, pathutils, ssh
from ganeti.tools import vcluster_setup as vs

PREFIX = "127.0.9"
NODE2 = ("node2", "127.0.9.11")


def read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def free_port(address: str = PREFIX + ".10") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def keygen(path: str, key_type: str = "ed25519") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "test",
                    "-f", path], check=True, capture_output=True)
    return path


# Pure helpers

def test_remote_command_is_quoted_with_env_prefix():
    cmd = ssh.build_remote_command(["echo", "a b", "$HOME", "it's"],
                                   {"GANETI_HOSTNAME": "node2", "A": "x y"})
    assert cmd == "env 'A=x y' GANETI_HOSTNAME=node2 echo 'a b' '$HOME' 'it'\"'\"'s'"
    assert shlex.split(cmd) == ["env", "A=x y", "GANETI_HOSTNAME=node2", "echo",
                                "a b", "$HOME", "it's"]
    assert ssh.build_remote_command(["true"]) == "true"


@pytest.mark.parametrize("command,env", [("echo hi", None), ([], None),
                                         (["true"], {"BAD-NAME": "1"}),
                                         (["true"], {"X;rm": "1"})])
def test_remote_command_rejects_bad_input(command, env):
    with pytest.raises(errors.ProgrammerError):
        ssh.build_remote_command(command, env)


def test_vcluster_env_empty_outside_virtual_cluster(monkeypatch):
    monkeypatch.setattr(pathutils, "ROOTDIR", "")
    assert ssh.vcluster_env_for("node2") == {}


def test_vcluster_env_names_other_node_root(monkeypatch):
    monkeypatch.setattr(pathutils, "ROOTDIR", "/srv/vc/node1")
    assert ssh.vcluster_env_for("node2") == {"GANETI_ROOTDIR": "/srv/vc/node2",
                                             "GANETI_HOSTNAME": "node2"}


def test_read_host_public_key_prefers_ed25519(tmp_path):
    rsa = keygen(str(tmp_path / "ssh_host_rsa_key"), "rsa")
    fields = read(rsa + ".pub").split()
    assert ssh.read_host_public_key(str(tmp_path)) == f"{fields[0]} {fields[1]}"
    ed = keygen(str(tmp_path / "ssh_host_ed25519_key"))
    fields = read(ed + ".pub").split()
    assert ssh.read_host_public_key(str(tmp_path)) == f"{fields[0]} {fields[1]}"
    assert fields[0] == "ssh-ed25519"


def test_read_host_public_key_missing(tmp_path):
    with pytest.raises(errors.OpExecError, match="No SSH host public key"):
        ssh.read_host_public_key(str(tmp_path))


def test_write_known_hosts(tmp_path):
    pub = read(keygen(str(tmp_path / "k")) + ".pub")
    path = str(tmp_path / "known_hosts")
    ssh.write_known_hosts(path, "cluster.example.com", pub)
    key_type, blob = pub.split()[:2]
    assert read(path) == f"cluster.example.com {key_type} {blob}\n"


@pytest.mark.parametrize("line", ["ssh-ed25519", "ssh-ed25519 !!!notbase64",
                                  "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJ6y33pZqQP75RXr"])
def test_write_known_hosts_rejects_garbage(tmp_path, line):
    with pytest.raises(errors.OpExecError):
        ssh.write_known_hosts(str(tmp_path / "kh"), "cluster", line)


def test_missing_key_file_is_a_clear_error(tmp_path):
    runner = ssh.SshRunner("cluster", known_hosts_file=str(tmp_path / "kh"),
                           key_file=str(tmp_path / "nope"))
    with pytest.raises(errors.OpExecError, match="nope does not exist"):
        runner._load_private_key()


def test_no_default_key_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(pathutils, "SSH_ROOT_DIR", str(tmp_path))
    runner = ssh.SshRunner("cluster", known_hosts_file=str(tmp_path / "kh"))
    with pytest.raises(errors.OpExecError, match="No SSH private key found"):
        runner._load_private_key()


# Against a real sshd

@pytest.fixture(scope="module")
def vcluster(tmp_path_factory):
    if not os.path.exists(vs.SSHD):
        pytest.skip(f"{vs.SSHD} is not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("the vcluster sshd must run as root")
    base = tmp_path_factory.mktemp("sshvc")
    cdir = str(base / "vc")
    port = free_port()
    assert vs.main(["-E", "-c", "3", "-i", "0", "-p", PREFIX, "-s", str(port),
                    cdir]) == 0
    pid = vs.start_sshd(cdir)
    known_hosts = str(base / "known_hosts")
    ssh.write_known_hosts(known_hosts, "cluster",
                          ssh.read_host_public_key(os.path.join(cdir, "node1/etc/ssh")))
    try:
        yield {"dir": cdir, "port": port, "known_hosts": known_hosts, "base": base,
               "key": os.path.join(cdir, "node1/root/.ssh/id_rsa")}
    finally:
        # Stop exactly the sshd this fixture started: its pid, if that process still
        # runs our configuration (whatever became of the pid file)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                ours = cdir.encode() in fh.read()
        except OSError:
            ours = False
        if ours:
            os.kill(pid, signal.SIGTERM)


def runner(vc, **kwargs) -> ssh.SshRunner:
    kwargs.setdefault("known_hosts_file", vc["known_hosts"])
    kwargs.setdefault("key_file", vc["key"])
    kwargs.setdefault("connect_timeout", 5)
    return ssh.SshRunner("cluster", **kwargs)


def test_echo_hello(vcluster):
    result = runner(vcluster).run(*NODE2, vcluster["port"], ["echo", "hello"])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "hello\n", "")
    assert not result.failed


def test_stdin_env_exit_code_and_stderr(vcluster):
    script = 'cat; printf "%s|%s" "$GREETING" "$1" >&2; exit 7'
    result = runner(vcluster).run(*NODE2, vcluster["port"],
                                  ["sh", "-c", script, "sh", "arg with 'quotes'"],
                                  stdin_data="line 1\nline 2\n",
                                  env={"GREETING": "hi there; $(false)"})
    assert result.exit_code == 7 and result.failed
    assert result.stdout == "line 1\nline 2\n"
    assert result.stderr == "hi there; $(false)|arg with 'quotes'"


def test_large_stdin_and_output(vcluster):
    data = os.urandom(3 * 1024 * 1024)
    result = runner(vcluster).run(*NODE2, vcluster["port"], ["sha256sum"],
                                  stdin_data=data)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_timeout_is_reported(vcluster):
    result = runner(vcluster).run(*NODE2, vcluster["port"], ["sleep", "10"],
                                  timeout=0.5)
    assert result.timed_out and result.failed


def test_virtual_node_environment_is_passed(vcluster, monkeypatch):
    monkeypatch.setattr(pathutils, "ROOTDIR", os.path.join(vcluster["dir"], "node1"))
    result = runner(vcluster).run(*NODE2, vcluster["port"], ["env"])
    lines = result.stdout.splitlines()
    assert f"GANETI_ROOTDIR={vcluster['dir']}/node2" in lines
    assert "GANETI_HOSTNAME=node2" in lines


def test_default_key_from_ssh_root_dir(vcluster, monkeypatch):
    monkeypatch.setattr(pathutils, "SSH_ROOT_DIR",
                        os.path.join(vcluster["dir"], "node1/root/.ssh"))
    result = runner(vcluster, key_file=None).run("node3", "127.0.9.12",
                                                 vcluster["port"], ["true"])
    assert result.exit_code == 0


def test_rsa_known_host_key_accepted(vcluster):
    known = str(vcluster["base"] / "kh_rsa")
    ssh.write_known_hosts(known, "cluster", read(os.path.join(
        vcluster["dir"], "node3/etc/ssh/ssh_host_rsa_key.pub")))
    result = runner(vcluster, known_hosts_file=known).run(
        "node1", "127.0.9.10", vcluster["port"], ["echo", "ok"])
    assert result.stdout == "ok\n"


def test_wrong_host_key_is_refused(vcluster):
    known = str(vcluster["base"] / "kh_wrong")
    other = keygen(str(vcluster["base"] / "other_host_key"))
    ssh.write_known_hosts(known, "cluster", read(other + ".pub"))
    with pytest.raises(ssh.SshHostKeyError,
                       match=r"node node2 \(127\.0\.9\.11\) does not match"):
        runner(vcluster, known_hosts_file=known).run(*NODE2, vcluster["port"],
                                                     ["true"])


def test_host_key_type_not_offered_is_refused(vcluster):
    known = str(vcluster["base"] / "kh_ecdsa")
    other = keygen(str(vcluster["base"] / "ecdsa_host_key"), "ecdsa")
    ssh.write_known_hosts(known, "cluster", read(other + ".pub"))
    with pytest.raises(ssh.SshHostKeyError, match="node2"):
        runner(vcluster, known_hosts_file=known).run(*NODE2, vcluster["port"],
                                                     ["true"])


def test_known_hosts_without_cluster_entry_is_refused(vcluster):
    known = str(vcluster["base"] / "kh_other_name")
    ssh.write_known_hosts(known, "othercluster", ssh.read_host_public_key(
        os.path.join(vcluster["dir"], "node1/etc/ssh")))
    with pytest.raises(ssh.SshHostKeyError, match="no usable key for the cluster"):
        runner(vcluster, known_hosts_file=known).run(*NODE2, vcluster["port"],
                                                     ["true"])


def test_missing_known_hosts_is_refused(vcluster):
    with pytest.raises(ssh.SshHostKeyError, match="does not exist"):
        runner(vcluster, known_hosts_file="/nonexistent/kh").run(
            *NODE2, vcluster["port"], ["true"])


def test_unknown_key_file_is_a_clear_error(vcluster):
    with pytest.raises(errors.OpExecError, match="/nonexistent/id_rsa does not exist"):
        runner(vcluster, key_file="/nonexistent/id_rsa").run(
            *NODE2, vcluster["port"], ["true"])


def test_unauthorized_key_is_refused(vcluster):
    stranger = keygen(str(vcluster["base"] / "stranger"))
    with pytest.raises(errors.OpExecError,
                       match=r"authentication .* node node2 \(127\.0\.9\.11 port"):
        runner(vcluster, key_file=stranger).run(*NODE2, vcluster["port"], ["true"])


def test_sshd_down_names_node_address_and_port(vcluster):
    port = free_port("127.0.9.11")
    with pytest.raises(errors.OpExecError) as exc:
        runner(vcluster).run(*NODE2, port, ["true"])
    assert f"node node2 (127.0.9.11 port {port})" in str(exc.value)
    assert not isinstance(exc.value, ssh.SshHostKeyError)


def test_node_own_authorized_keys_apply_to_that_node_only(vcluster):
    member = keygen(str(vcluster["base"] / "node2_member"))
    node_keys = os.path.join(vcluster["dir"], "node2/root/.ssh/authorized_keys")
    with open(node_keys, "w") as fh:
        fh.write(read(member + ".pub"))
    try:
        result = runner(vcluster, key_file=member).run(*NODE2, vcluster["port"],
                                                       ["echo", "in"])
        assert result.stdout == "in\n"
        with pytest.raises(errors.OpExecError, match="authentication"):
            runner(vcluster, key_file=member).run("node3", "127.0.9.12",
                                                  vcluster["port"], ["true"])
    finally:
        os.unlink(node_keys)
