"""S2 (node join, SSH keys) and S3 (candidate map, crypto renewal) on a real virtual
cluster of its own (127.0.22.x, five nodes, node5 never joins).

The tests run in file order and share the cluster: join with key distribution and
backups, a joining host with a foreign SSH host key refused, a demoted candidate
refused by noded and accepted again after promotion, every kind of renew-crypto
with an instance running, SSH key renewal, node removal, and the untouched host.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import IPOLICY

import vcluster as harness

pytestmark = [pytest.mark.integration, pytest.mark.security]

NET = "127.0.22"
NODED_PORT = 1811
BACKUP_TAG = ".ganeti-backup-"

sys.path.insert(0, harness.TOP)
from ganeti import crypto  # noqa: E402
from ganeti.rpc import encoding  # noqa: E402
from ganeti.rpc.transport import RpcTransport  # noqa: E402


def address(node: str) -> str:
    return "%s.%d" % (NET, 9 + int(node[4:]))


def read(path) -> str:
    with open(path) as fh:
        return fh.read()


def snapshot(vc, node: str) -> dict:
    """Every file of a node's SSH directories: relative path -> (bytes, mode)."""
    found = {}
    for rel in ("etc/ssh", "root/.ssh"):
        top = os.path.join(vc.node_root(node), rel)
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as fh:
                    found[os.path.relpath(path, vc.node_root(node))] = \
                        (fh.read(), os.stat(path).st_mode)
    return found


def ssh_file(vc, node: str, rel: str) -> str:
    return os.path.join(vc.node_root(node), rel)


def data_file(vc, node: str, name: str) -> str:
    return os.path.join(vc.data_dir(node), name)


def backups(path: str) -> list[str]:
    directory, base = os.path.split(path)
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if n.startswith(base + BACKUP_TAG))


def keygen(path: str, key_type: str = "ed25519") -> None:
    for suffix in ("", ".pub"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", "own", "-f",
                    path], check=True, capture_output=True)


def config_data(vc) -> dict:
    return json.loads(read(data_file(vc, "node1", "config.data")))


def pub_keys(vc, node: str) -> dict:
    path = data_file(vc, node, "ganeti_pub_keys")
    assert os.stat(path).st_mode & 0o777 == 0o600
    return dict(line.split(" ", 1) for line in read(path).splitlines())


def verify_ok(vc) -> None:
    out = vc.gnt("gnt-cluster", "verify").stdout
    assert "no errors found" in out and "ERROR" not in out, out


@pytest.fixture(scope="module")
def vc():
    if not harness.installed():
        pytest.skip("no installed copy in %s (run ./quickstart.sh test)" % harness.PREFIX)
    if os.geteuid() != 0:
        pytest.skip("the virtual cluster needs root (sshd, noded)")
    saved = harness.NET_PREFIX
    try:
        cluster = harness.create(5, 2, net_prefix=NET, prefix="gnt-s2s3-")
    finally:
        harness.NET_PREFIX = saved
    cluster.untouched = snapshot(cluster, "node5")
    try:
        yield cluster
    finally:
        harness.teardown(cluster)


def test_init_generates_and_records_cluster_key(vc):
    # node3 is a host with SSH keys of its own, which the join must keep as backups
    keygen(ssh_file(vc, "node3", "etc/ssh/ssh_host_ed25519_key"))
    keygen(ssh_file(vc, "node3", "root/.ssh/id_rsa"), "rsa")
    admin = read(ssh_file(vc, "node3", "root/.ssh/id_rsa.pub"))
    with open(ssh_file(vc, "node3", "root/.ssh/authorized_keys"), "w") as fh:
        fh.write("# the admin's key\n" + admin)
    vc.node3_before = snapshot(vc, "node3")
    vc.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
           "--enabled-hypervisors=fake", "--enabled-disk-templates=diskless,file",
           "--nic-parameters=link=lo", "--file-storage-dir=/srv/ganeti/file-storage",
           "--ipolicy-bounds-specs=%s" % IPOLICY, "cluster")
    vc.cluster_pub = read(ssh_file(vc, "node1", "root/.ssh/id_rsa.pub")).strip()
    master_uuid = config_data(vc)["cluster"]["master_node"]
    assert pub_keys(vc, "node1") == {master_uuid: vc.cluster_pub}
    assert vc.cluster_pub in read(ssh_file(vc, "node1", "root/.ssh/authorized_keys"))
    # DSA is refused before anything is done
    result = vc.gnt("gnt-cluster", "init", "--ssh-key-type=dsa", "cluster", node="node5",
                    check=False)
    assert result.returncode != 0 and "DSA" in result.stderr


def test_join_distributes_cluster_keys_with_backups(vc):
    for node in ("node2", "node3"):
        vc.gnt("gnt-node", "add", node)
    before = vc.node3_before
    for rel in ("etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub",
                "etc/ssh/ssh_host_rsa_key", "root/.ssh/id_rsa", "root/.ssh/id_rsa.pub"):
        assert read(ssh_file(vc, "node3", rel)) == read(ssh_file(vc, "node1", rel)), rel
    # what was replaced is kept, byte for byte
    for rel in ("etc/ssh/ssh_host_ed25519_key", "root/.ssh/id_rsa",
                "root/.ssh/authorized_keys"):
        kept = backups(ssh_file(vc, "node3", rel))
        assert len(kept) == 1, rel
        with open(kept[0], "rb") as fh:
            assert fh.read() == before[rel][0], rel
    # identical files (the rsa host key was the cluster's already) are not touched
    assert not backups(ssh_file(vc, "node3", "etc/ssh/ssh_host_rsa_key"))
    auth = read(ssh_file(vc, "node3", "root/.ssh/authorized_keys"))
    assert auth == before["root/.ssh/authorized_keys"][0].decode() + vc.cluster_pub + "\n"
    nodes = config_data(vc)["nodes"]
    expected = {uuid: vc.cluster_pub for uuid in nodes}
    for node in ("node1", "node2", "node3"):
        assert pub_keys(vc, node) == expected


def _start_foreign_sshd(vc, directory: str) -> tuple[int, int]:
    key = os.path.join(directory, "ssh_host_ed25519_key")
    keygen(key)
    with socket.socket() as sock:
        sock.bind((address("node4"), 0))
        port = sock.getsockname()[1]
    config = os.path.join(directory, "sshd_config")
    pidfile = os.path.join(directory, "sshd.pid")
    with open(config, "w") as fh:
        fh.write("ListenAddress %s:%d\nHostKey %s\nPidFile %s\n"
                 "AuthorizedKeysFile %s\nPermitRootLogin prohibit-password\n"
                 "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                 "UsePAM no\nStrictModes no\n"
                 % (address("node4"), port, key, pidfile,
                    os.path.join(vc.dir, "ssh", "authorized_keys")))
    subprocess.run(["/usr/sbin/sshd", "-f", config, "-E", os.path.join(directory, "log")],
                   check=True, timeout=30)
    deadline = time.monotonic() + 10
    while not os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(read(pidfile).strip()), port


def test_join_refuses_foreign_host_key(vc):
    directory = tempfile.mkdtemp(prefix="gnt-s2s3-sshd-")
    before = snapshot(vc, "node4")
    pid, port = _start_foreign_sshd(vc, directory)
    try:
        result = vc.gnt("gnt-node", "add", "--node-parameters=ssh_port=%d" % port,
                        "node4", check=False)
    finally:
        os.kill(pid, 15)
        shutil.rmtree(directory, ignore_errors=True)
    assert result.returncode != 0
    assert "host key" in result.stderr.lower() and "does not match" in result.stderr
    assert snapshot(vc, "node4") == before
    assert not os.path.exists(data_file(vc, "node4", "server.pem"))
    names = vc.gnt("gnt-node", "list", "--no-headers", "-o", "name").stdout.split()
    assert names == ["node1", "node2", "node3"]


def _rpc_as(vc, node: str, target: str, procedure: str, args: list):
    """A node RPC made from this process with ``node``'s own client certificate."""
    transport = RpcTransport(data_file(vc, node, "client.pem"),
                             data_file(vc, node, "server.pem"))
    try:
        return transport.call([(target, address(target), NODED_PORT)], procedure,
                              encoding.encode_request(args), 10)[target]
    finally:
        transport.close()


def test_demoted_candidate_is_refused_promoted_accepted(vc):
    pause = data_file(vc, "node2", "watcher.pause")
    ok, _ = _rpc_as(vc, "node3", "node2", "set_watcher_pause", [2000000000])
    assert ok and os.path.exists(pause)
    assert _rpc_as(vc, "node3", "node2", "set_watcher_pause", [None])[0]
    out = vc.gnt("gnt-node", "modify", "-C", "no", "node3").stdout
    assert "master_candidate -> False" in out
    node3_uuid = [u for u, n in config_data(vc)["nodes"].items() if n["name"] == "node3"][0]
    assert node3_uuid not in config_data(vc)["cluster"]["candidate_certs"]
    assert node3_uuid not in read(data_file(vc, "node2", "ssconf_master_candidates_certs"))
    assert not os.path.exists(data_file(vc, "node3", "config.data"))
    for target in ("node1", "node2"):  # every node daemon refuses it
        ok, message = _rpc_as(vc, "node3", target, "set_watcher_pause", [2000000000])
        assert not ok and "403" in message, message
        assert not os.path.exists(data_file(vc, target, "watcher.pause"))  # not run
    result = vc.gnt("gnt-node", "modify", "-C", "no", "node1", check=False)
    assert result.returncode != 0 and "master failover" in result.stderr
    vc.gnt("gnt-node", "modify", "-C", "yes", "node3")
    digest = crypto.file_cert_digest(data_file(vc, "node3", "client.pem"))
    assert config_data(vc)["cluster"]["candidate_certs"][node3_uuid] == digest
    ok, _ = _rpc_as(vc, "node3", "node2", "set_watcher_pause", [2000000000])
    assert ok and os.path.exists(pause)
    assert _rpc_as(vc, "node3", "node2", "set_watcher_pause", [None])[0]
    assert os.path.exists(data_file(vc, "node3", "config.data"))


def _instance_state(vc) -> tuple:
    path = os.path.join(vc.node_root("node2"), vc._rel("var/run/ganeti"),
                        "fake-hypervisor", "instance1")
    return read(path), os.stat(path).st_mtime_ns


def _digests(vc, name: str) -> dict:
    return {n: crypto.file_cert_digest(data_file(vc, n, name))
            for n in ("node1", "node2", "node3")}


def _same_everywhere(vc, name: str) -> str:
    contents = {read(data_file(vc, n, name)) for n in ("node1", "node2", "node3")}
    assert len(contents) == 1, name
    return contents.pop()


def test_renew_cluster_and_node_certificates(vc):
    vc.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node2",
           "instance1")
    state = _instance_state(vc)
    old_server, old_client = _digests(vc, "server.pem"), _digests(vc, "client.pem")
    out = vc.gnt("gnt-cluster", "renew-crypto", "-f", "--new-cluster-certificate").stdout
    assert "cluster certificate" in out
    server, client = _digests(vc, "server.pem"), _digests(vc, "client.pem")
    assert len(set(server.values())) == 1 and set(server.values()) != \
        set(old_server.values())
    server_pem = _same_everywhere(vc, "server.pem")
    for node in client:
        assert client[node] != old_client[node]
        _key, cert = crypto.read_pem_file(data_file(vc, node, "client.pem"))
        assert crypto.verify_signed_by(cert, server_pem)
    certs = config_data(vc)["cluster"]["candidate_certs"]
    assert sorted(certs.values()) == sorted(client.values())  # no "bootstrap" left
    assert vc.gnt("gnt-node", "list", "--no-headers", "-o", "name").stdout.split() == \
        ["node1", "node2", "node3"]
    verify_ok(vc)
    vc.gnt("gnt-cluster", "renew-crypto", "-f", "--new-node-certificates")
    assert _digests(vc, "server.pem") == server
    renewed = _digests(vc, "client.pem")
    assert all(renewed[n] != client[n] for n in renewed)
    assert sorted(config_data(vc)["cluster"]["candidate_certs"].values()) == \
        sorted(renewed.values())
    assert _instance_state(vc) == state  # the instance was never touched
    vc.gnt("gnt-instance", "reboot", "instance1")
    verify_ok(vc)


def test_renew_files_and_secrets(vc, tmp_path):
    names = ["rapi.pem", "hmac.key", "cluster-domain-secret"]
    old = {name: _same_everywhere(vc, name) for name in names}
    vc.gnt("gnt-cluster", "renew-crypto", "-f", "--new-rapi-certificate",
           "--new-confd-hmac-key", "--new-cluster-domain-secret")
    new = {name: _same_everywhere(vc, name) for name in names}
    assert all(new[n] != old[n] for n in names)
    # given files: validated first, a bad one changes nothing
    key, cert = crypto.generate_self_signed_cert("rapi.example.com")
    other_key, _ = crypto.generate_self_signed_cert("other")
    (tmp_path / "bad.pem").write_text(other_key + cert)
    (tmp_path / "rapi.pem").write_text(key + cert)
    (tmp_path / "cds").write_text("f00d" * 10 + "\n")
    result = vc.gnt("gnt-cluster", "renew-crypto", "-f", "--rapi-certificate",
                    str(tmp_path / "bad.pem"), "--new-confd-hmac-key", check=False)
    assert result.returncode != 0 and "does not match" in result.stderr
    assert _same_everywhere(vc, "hmac.key") == new["hmac.key"]
    assert _same_everywhere(vc, "rapi.pem") == new["rapi.pem"]
    vc.gnt("gnt-cluster", "renew-crypto", "-f", "--rapi-certificate",
           str(tmp_path / "rapi.pem"), "--cluster-domain-secret", str(tmp_path / "cds"))
    assert crypto.file_cert_digest(data_file(vc, "node2", "rapi.pem")) == \
        crypto.cert_digest(cert)
    assert _same_everywhere(vc, "cluster-domain-secret") == "f00d" * 10 + "\n"
    # no secret in any job file
    queue = os.path.join(vc.data_dir("node1"), "queue")
    secrets = [new["hmac.key"].strip(), new["cluster-domain-secret"].strip(),
               "PRIVATE KEY"]
    for dirpath, _dirs, files in os.walk(queue):
        for name in files:
            text = read(os.path.join(dirpath, name))
            assert not any(s in text for s in secrets), name
    verify_ok(vc)


def test_renew_ssh_keys(vc):
    old_pub = vc.cluster_pub
    vc.gnt("gnt-cluster", "renew-crypto", "-f", "--new-ssh-keys", "--ssh-key-type=ecdsa",
           "--ssh-key-bits=256")
    new_pub = read(ssh_file(vc, "node1", "root/.ssh/id_ecdsa.pub")).strip()
    assert new_pub.startswith("ecdsa-sha2-nistp256 ")
    for node in ("node1", "node2", "node3"):
        assert read(ssh_file(vc, node, "root/.ssh/id_ecdsa.pub")).strip() == new_pub
        assert read(ssh_file(vc, node, "root/.ssh/id_ecdsa")) == \
            read(ssh_file(vc, "node1", "root/.ssh/id_ecdsa"))
        assert not os.path.exists(ssh_file(vc, node, "root/.ssh/id_rsa"))
        assert backups(ssh_file(vc, node, "root/.ssh/id_rsa"))
        auth = read(ssh_file(vc, node, "root/.ssh/authorized_keys"))
        assert new_pub in auth and old_pub.split()[1] not in auth
        assert set(pub_keys(vc, node).values()) == {new_pub}
    assert config_data(vc)["cluster"]["ssh_key_type"] == "ecdsa"
    # node3's own admin line survived every edit
    assert "# the admin's key" in read(ssh_file(vc, "node3", "root/.ssh/authorized_keys"))
    # a new host that authorizes the new key can join
    with open(ssh_file(vc, "node4", "root/.ssh/authorized_keys"), "a") as fh:
        fh.write(new_pub + "\n")
    vc.gnt("gnt-node", "add", "node4")
    assert read(ssh_file(vc, "node4", "root/.ssh/id_ecdsa.pub")).strip() == new_pub
    vc.cluster_pub = new_pub
    verify_ok(vc)


def test_node_removal_cleans_keys(vc):
    uuid4 = [u for u, n in config_data(vc)["nodes"].items() if n["name"] == "node4"][0]
    out = vc.gnt("gnt-node", "remove", "node4").stdout
    assert "renew-crypto --new-ssh-keys" in out  # the shared key needs a renewal
    for node in ("node1", "node2", "node3"):
        assert uuid4 not in pub_keys(vc, node)
        # the others still use the shared cluster key
        assert vc.cluster_pub in read(ssh_file(vc, node, "root/.ssh/authorized_keys"))
    assert vc.cluster_pub not in read(ssh_file(vc, "node4", "root/.ssh/authorized_keys"))
    assert not os.path.exists(ssh_file(vc, "node4", "root/.ssh/id_ecdsa"))
    verify_ok(vc)


def test_host_that_never_joined_is_unchanged(vc):
    assert snapshot(vc, "node5") == vc.untouched
    status = vc.gnt("gnt-instance", "list", "--no-headers", "-o", "status",
                    "instance1").stdout.strip()
    assert status == "running"


def test_renew_spice_certificate(vc, tmp_path):
    vc.gnt("gnt-cluster", "renew-crypto", "-f", "--new-spice-certificate")
    spice = _same_everywhere(vc, "spice.pem")
    assert "PRIVATE KEY" in spice
    ca = _same_everywhere(vc, "spice-ca.pem")
    assert ca in spice and "PRIVATE KEY" not in ca  # the CA file holds no key
    key, cert = crypto.generate_self_signed_cert("spice.example.com")
    (tmp_path / "spice.pem").write_text(key + cert)
    (tmp_path / "spice-ca.pem").write_text(cert)
    result = vc.gnt("gnt-cluster", "renew-crypto", "-f", "--spice-certificate",
                    str(tmp_path / "spice.pem"), check=False)
    assert result.returncode != 0 and "together" in result.stderr
    vc.gnt("gnt-cluster", "renew-crypto", "-f", "--spice-certificate",
           str(tmp_path / "spice.pem"), "--spice-ca-certificate",
           str(tmp_path / "spice-ca.pem"))
    assert _same_everywhere(vc, "spice-ca.pem") == cert
    assert crypto.file_cert_digest(data_file(vc, "node3", "spice.pem")) == \
        crypto.cert_digest(cert)
    out = vc.gnt("gnt-cluster", "verify", check=False).stdout
    errors = [line for line in out.splitlines() if "ERROR" in line]
    assert not errors, out
