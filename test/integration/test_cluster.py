"""The main job end to end: a 3-node virtual cluster driven by the real CLI.

The tests run in file order and share one cluster: init, node add, instances, lists,
life cycle, jobs, errors, daemon restarts, and finally removal and destroy.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import IPOLICY, NET_PREFIX

pytestmark = pytest.mark.integration

FILE_STORAGE = "/srv/ganeti/file-storage"


def test_init_cluster(vcluster):
    start = time.monotonic()
    vcluster.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
                 "--enabled-hypervisors=fake", "--enabled-disk-templates=file,diskless",
                 "--nic-parameters=link=lo", "--file-storage-dir=%s" % FILE_STORAGE,
                 "--ipolicy-bounds-specs=%s" % IPOLICY, "cluster")
    assert time.monotonic() - start < 30
    assert vcluster.gnt("gnt-cluster", "getmaster").stdout.strip() == "node1"
    for daemon in ("ganeti-noded", "ganeti-masterd", "ganeti-luxid"):
        assert vcluster.daemon_pid("node1", daemon) > 0, daemon
    data = json.load(open(os.path.join(vcluster.data_dir("node1"), "config.data")))
    assert data["cluster"]["cluster_name"] == "cluster"
    assert data["cluster"]["enabled_hypervisors"] == ["fake"]
    assert len(data["cluster"]["candidate_certs"]) == 1


def test_init_twice_refused(vcluster):
    result = vcluster.gnt("gnt-cluster", "init", "--enabled-hypervisors=fake", "cluster",
                          check=False)
    assert result.returncode == 1
    assert "already initialised" in result.stderr


def test_node_add(vcluster):
    for node in ("node2", "node3"):
        result = vcluster.gnt("gnt-node", "add", node)
        assert "Adding node %s" % node in result.stdout
        assert vcluster.daemon_pid(node, "ganeti-noded") > 0
    out = vcluster.gnt("gnt-node", "list", "--no-headers", "-o", "name,role,pip").stdout
    rows = [line.split() for line in out.splitlines()]
    assert rows == [["node1", "M", "%s.10" % NET_PREFIX], ["node2", "C", "%s.11" % NET_PREFIX],
                    ["node3", "C", "%s.12" % NET_PREFIX]]
    # ssconf and config copies reached the new candidates
    for node in ("node2", "node3"):
        data_dir = vcluster.data_dir(node)
        assert open(os.path.join(data_dir, "ssconf_master_node")).read() == "node1\n"
        assert os.path.exists(os.path.join(data_dir, "config.data"))
        certs = open(os.path.join(data_dir, "ssconf_master_candidates_certs")).read()
        assert len(certs.splitlines()) == 3


def test_node_add_errors(vcluster):
    result = vcluster.gnt("gnt-node", "add", "node2", check=False)
    assert result.returncode == 1
    assert "already in the configuration" in result.stderr
    result = vcluster.gnt("gnt-node", "add", "no-such-host", check=False)
    assert result.returncode == 1
    assert "no-such-host" in result.stderr


def test_confd_answers_on_every_candidate(vcluster):
    for node in ("node1", "node2", "node3"):
        assert vcluster.daemon_pid(node, "ganeti-confd") > 0, node
        out = vcluster.run(os.path.join(vcluster.tools, "confd-client"), "-t",
                           "cluster-master", "-p", vcluster.address(node), node=node).stdout
        assert "status: ok" in out and 'answer: "node1"' in out, out
    out = vcluster.run(os.path.join(vcluster.tools, "confd-client"), "-t", "node-role",
                       "-q", "node3").stdout
    assert "answer: 1" in out  # a master candidate
    # a request signed with another key gets no answer at all
    from ganeti.confd import protocol as P
    datagram, _ = P.make_request(b"not the cluster key\n", P.REQ_PING)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    sock.sendto(datagram, (vcluster.address("node2"), 1814))
    with pytest.raises(socket.timeout):
        sock.recv(4096)
    sock.close()


def test_mond_reports_on_every_node(vcluster):
    import urllib.request
    for node in ("node1", "node2", "node3"):
        base = "http://%s:1815" % vcluster.address(node)
        with urllib.request.urlopen(base + "/1/report/all", timeout=10) as resp:
            names = {r["name"] for r in json.loads(resp.read())}
        assert {"cpu-avg-load", "diskstats", "drbd", "memory", "inst-status-fake"} <= names
        with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
            assert b"ganeti_memory_bytes" in resp.read()


def test_verify_clean(vcluster):
    result = vcluster.gnt("gnt-cluster", "verify")
    assert "no errors found" in result.stdout
    assert "ERROR" not in result.stdout


def test_instance_add_file(vcluster):
    vcluster.gnt("gnt-instance", "add", "-t", "file", "--disk", "0:size=64M", "-o",
                 "simple+default", "-n", "node2", "instance1")
    disk = os.path.join(vcluster.node_root("node2"), FILE_STORAGE.lstrip("/"),
                        "instance1", "disk0")
    assert os.path.getsize(disk) == 64 * 1024 * 1024
    probe = subprocess.run(["blkid", "-o", "export", disk], capture_output=True, text=True)
    assert "LABEL=instance1" in probe.stdout  # the OS create script ran on this disk
    assert "TYPE=ext4" in probe.stdout


def test_instance_add_diskless_noop(vcluster):
    vcluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node3",
                 "instance2")
    out = vcluster.gnt("gnt-instance", "list", "--no-headers", "--separator=|", "-o",
                       "name,pnode,status,disk_template,os").stdout
    assert out.splitlines() == ["instance1|node2|running|file|simple+default",
                                "instance2|node3|running|diskless|noop"]


def test_list_formats(vcluster):
    out = vcluster.gnt("gnt-instance", "list").stdout.splitlines()
    assert out[0].split() == ["Instance", "Hypervisor", "OS", "Primary_node", "Status",
                              "Memory"]
    assert out[1].split()[-1] == "128M"
    out = vcluster.gnt("gnt-instance", "list", "--separator=,", "--units=m", "-o",
                       "+disk.sizes", "instance1").stdout.splitlines()
    assert out == ["Instance,Hypervisor,OS,Primary_node,Status,Memory,Disk_sizes",
                   "instance1,fake,simple+default,node2,running,128,64"]
    out = vcluster.gnt("gnt-node", "list", "--no-headers", "-o", "name,pinst_cnt,pinst_list",
                       "node2").stdout
    assert out.split() == ["node2", "1", "instance1"]
    result = vcluster.gnt("gnt-instance", "list", "-o", "name,nosuchfield", check=False)
    assert result.returncode == 14
    assert "Unknown output fields: nosuchfield" in result.stderr
    out = vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "name", "-F",
                       "pnode == \"node3\"").stdout
    assert out.split() == ["instance2"]


def test_instance_lifecycle(vcluster):
    fake_state = os.path.join(vcluster.node_root("node2"),
                              vcluster._rel("var/run/ganeti"), "fake-hypervisor",
                              "instance1")
    assert os.path.exists(fake_state)
    vcluster.gnt("gnt-instance", "shutdown", "instance1")
    assert not os.path.exists(fake_state)
    status = vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "status",
                          "instance1").stdout.strip()
    assert status == "ADMIN_down"
    vcluster.gnt("gnt-instance", "startup", "instance1")
    assert os.path.exists(fake_state)
    vcluster.gnt("gnt-instance", "reboot", "instance1")
    assert os.path.exists(fake_state)
    info = vcluster.gnt("gnt-instance", "info", "instance1").stdout
    assert "Instance name: instance1" in info
    assert "configured to be up, actual state is up" in info
    assert "primary: node2" in info


def test_instance_errors(vcluster):
    cases = [
        (["gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node9", "x1"],
         "Node 'node9' not known"),
        (["gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node2",
          "instance1"], "already in the cluster"),
        (["gnt-instance", "add", "-t", "diskless", "-o", "nosuchos", "-n", "node2", "x2"],
         "OS 'nosuchos' not found"),
        (["gnt-instance", "add", "-t", "file", "--disk", "0:size=1T", "-o", "noop",
          "-n", "node2", "x3"], "Not enough disk space"),
        (["gnt-instance", "startup", "nosuch"], "Instance 'nosuch' not known"),
        (["gnt-instance", "add", "-t", "plain", "--disk", "0:size=1G", "-o", "noop",
          "-n", "node2", "x4"], "not enabled"),
    ]
    for argv, message in cases:
        result = vcluster.gnt(*argv, check=False)
        assert result.returncode == 1, argv
        assert message in result.stderr, (argv, result.stderr)
    # failed jobs end in "error" and nothing was created
    out = vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "name").stdout
    assert out.split() == ["instance1", "instance2"]
    assert not os.path.exists(os.path.join(vcluster.node_root("node2"),
                                           FILE_STORAGE.lstrip("/"), "x3"))


def test_jobs(vcluster):
    out = vcluster.gnt("gnt-job", "list", "--no-headers").stdout.splitlines()
    assert any("success INSTANCE_CREATE(instance1)" in " ".join(line.split())
               for line in out)
    assert any(line.split()[1] == "error" for line in out)
    job_id = vcluster.gnt("gnt-debug", "delay", "--submit", "0.5").stdout.split()[-1]
    watch = vcluster.gnt("gnt-job", "watch", job_id).stdout
    assert "Output from job %s follows" % job_id in watch
    info = vcluster.gnt("gnt-job", "info", job_id).stdout
    assert "Status: success" in info and "OP_TEST_DELAY" in info
    assert "gnt:masterd:luxi" in info  # who submitted it


def test_masterd_crash_keeps_jobs(vcluster):
    job_id = vcluster.gnt("gnt-debug", "delay", "--submit", "30").stdout.split()[-1]
    time.sleep(1)
    pid = vcluster.daemon_pid("node1", "ganeti-masterd")
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    vcluster.run(vcluster.daemon_util, "start", "ganeti-masterd")
    out = vcluster.gnt("gnt-job", "list", "--no-headers", "-o", "id,status",
                       job_id).stdout.split()
    assert out == [job_id, "error"]
    info = vcluster.gnt("gnt-job", "info", job_id).stdout
    assert "Unclean master daemon shutdown" in info
    # the queue still works and earlier jobs are kept
    vcluster.gnt("gnt-debug", "delay", "0")
    assert "INSTANCE_CREATE(instance1)" in vcluster.gnt("gnt-job", "list").stdout


def test_node_down_gives_clear_error(vcluster):
    pid = vcluster.daemon_pid("node3", "ganeti-noded")
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists("/proc/%d" % pid):
        time.sleep(0.1)
    try:
        result = vcluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n",
                              "node3", "x5", check=False)
        assert result.returncode == 1
        assert "node3" in result.stderr and "Error while contacting node" in result.stderr
        out = vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "name,status",
                           "instance2").stdout.split()
        assert out == ["instance2", "ERROR_nodedown"]
        verify = vcluster.gnt("gnt-cluster", "verify", check=False)
        assert verify.returncode == 1 and "node3" in verify.stdout
    finally:
        vcluster.run(vcluster.daemon_util, "start", "ganeti-noded", node="node3")
    assert vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "status",
                        "instance2").stdout.strip() == "running"


def test_malformed_luxi_does_not_kill_daemons(vcluster):
    sockets = [os.path.join(vcluster.node_root("node1"), vcluster._rel("var/run/ganeti"),
                            "socket", name) for name in ("ganeti-master", "ganeti-query")]
    for path in sockets:
        for payload in (b"\xff\xfe garbage\x03", b'{"method": 5}\x03', b"[1,2]\x03",
                        b'{"method": "SubmitJob", "args": [[{"OP_ID": "OP_BOGUS"}]]}\x03'):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            sock.sendall(payload)
            sock.settimeout(10)
            answer = sock.recv(65536)
            sock.close()
            assert answer.endswith(b"\x03")
            assert json.loads(answer[:-1])["success"] is False
    assert vcluster.gnt("gnt-cluster", "getmaster").stdout.strip() == "node1"
    vcluster.gnt("gnt-debug", "delay", "0")


def test_noded_refuses_non_candidate_certificate(vcluster):
    """An RPC from a client whose certificate is not a candidate's runs nothing."""
    from ganeti import crypto
    from ganeti.rpc import encoding
    from ganeti.rpc.transport import RpcTransport
    data_dir = vcluster.data_dir("node1")
    ca_key, ca_cert = crypto.read_pem_file(os.path.join(data_dir, "server.pem"))
    key, cert = crypto.generate_signed_cert(ca_key, ca_cert, "intruder")
    tmp = os.path.join(vcluster.dir, "intruder.pem")
    crypto.write_pem_file(tmp, key, cert, mode=0o400)
    transport = RpcTransport(tmp, os.path.join(data_dir, "server.pem"))
    inst = {"name": "instance1", "hypervisor": "fake", "disks": [], "hvparams": {}}
    answer = transport.call([("node2", vcluster.address("node2"), 1811)],
                            "instance_shutdown", encoding.encode_request([inst, 10, None]),
                            10)
    ok, message = answer["node2"]
    assert not ok
    assert "403" in message or "verification failed" in message
    status = vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "status",
                          "instance1").stdout.strip()
    assert status == "running"


def test_watcher_restarts_instance_and_daemon(vcluster):
    # instance1 (on node2) stops behind the cluster's back; node3's noded dies
    fake_state = os.path.join(vcluster.node_root("node2"),
                              vcluster._rel("var/run/ganeti"), "fake-hypervisor",
                              "instance1")
    os.unlink(fake_state)
    noded = vcluster.daemon_pid("node3", "ganeti-noded")
    os.kill(noded, signal.SIGKILL)
    time.sleep(0.5)
    assert vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "status",
                        "instance1").stdout.strip() == "ERROR_down"
    subprocess.run([os.path.join(vcluster.dir, "watcher-all")], check=True,
                   capture_output=True, timeout=300)
    assert os.path.exists(fake_state)
    assert vcluster.daemon_pid("node3", "ganeti-noded") not in (0, noded)
    out = vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "name,status").stdout
    assert out.split() == ["instance1", "running", "instance2", "running"]
    # paused: nothing is done
    vcluster.gnt("gnt-cluster", "watcher", "pause", "1h")
    os.unlink(fake_state)
    subprocess.run([os.path.join(vcluster.dir, "watcher-all")], check=True,
                   capture_output=True, timeout=300)
    assert not os.path.exists(fake_state)
    vcluster.gnt("gnt-cluster", "watcher", "continue")
    vcluster.run(os.path.join(vcluster.node_root("node1"), "cmd"), "ganeti-watcher")
    assert os.path.exists(fake_state)


def _raw_rpc(address: str, procedure: str, body: bytes, cert: tuple | None,
             ca_file: str) -> tuple:
    """One RPC over TLS with the given client certificate (or none): (status, body)."""
    import http.client
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(ca_file)
    if cert:
        ctx.load_cert_chain(*cert)
    conn = http.client.HTTPSConnection(address, 1811, context=ctx, timeout=10)
    try:
        conn.request("POST", "/" + procedure, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.mark.security
def test_noded_refuses_foreign_and_missing_certificates(vcluster):
    """S3: a certificate of another CA, or none at all, gets nothing executed."""
    import ssl
    from ganeti import crypto
    from ganeti.rpc import encoding
    server_pem = os.path.join(vcluster.data_dir("node1"), "server.pem")
    fake_ca_key, fake_ca_cert = crypto.generate_self_signed_cert("ganeti.example.com")
    key, cert = crypto.generate_signed_cert(fake_ca_key, fake_ca_cert, "node1")
    foreign = os.path.join(vcluster.dir, "foreign.pem")
    crypto.write_pem_file(foreign, key, cert, mode=0o400)
    inst = {"name": "instance1", "hypervisor": "fake", "disks": [], "hvparams": {}}
    body = encoding.encode_request([inst, 10, None])
    for client_cert in ((foreign,), None):
        try:
            status, answer = _raw_rpc(vcluster.address("node2"), "instance_shutdown", body,
                                      client_cert, server_pem)
        except (ssl.SSLError, ConnectionError, OSError):
            continue  # refused during the handshake
        assert status == 403, (status, answer)
    assert vcluster.gnt("gnt-instance", "list", "--no-headers", "-o", "status",
                        "instance1").stdout.strip() == "running"


@pytest.mark.security
def test_noded_refuses_uploads_outside_the_allow_list(vcluster):
    """S3: even the master's own certificate cannot write a file off the list."""
    from ganeti.rpc import encoding
    data_dir = vcluster.data_dir("node1")
    cert = (os.path.join(data_dir, "client.pem"),)
    target_root = vcluster.node_root("node2")
    for path in ("/etc/passwd", "/root/.ssh/authorized_keys",
                 "/###-VIRTUAL-PATH-###,/etc/ganeti/file-storage-paths",
                 "/###-VIRTUAL-PATH-###,/var/lib/ganeti/../../../../tmp/x"):
        args = [[path, encoding.encode_compressed(b"owned\n"), 0o644, "root", "root",
                 0, 0]]
        status, answer = _raw_rpc(vcluster.address("node2"), "upload_file",
                                  encoding.encode_request(args), cert,
                                  os.path.join(data_dir, "server.pem"))
        ok, message = json.loads(answer)
        assert status == 200 and ok is False, (path, answer)
        assert any(text in message for text in ("not in the allowed upload targets",
                                                "outside", "not virtualised")), message
    import vcluster as harness
    paths_file = os.path.join(target_root, harness._autoconf_value("SYSCONFDIR").lstrip("/"),
                              "ganeti", "file-storage-paths")
    assert b"owned" not in open(paths_file, "rb").read()
    assert not os.path.exists("/tmp/x") or b"owned" not in open("/tmp/x", "rb").read()


def test_instance_remove(vcluster):
    vcluster.gnt("gnt-instance", "remove", "-f", "instance1")
    assert not os.path.exists(os.path.join(vcluster.node_root("node2"),
                                           FILE_STORAGE.lstrip("/"), "instance1"))
    vcluster.gnt("gnt-instance", "remove", "-f", "instance2")
    out = vcluster.gnt("gnt-instance", "list", "--no-headers").stdout
    assert out.strip() == ""


def test_node_remove(vcluster):
    result = vcluster.gnt("gnt-node", "remove", "node1", check=False)
    assert result.returncode == 1 and "master node" in result.stderr
    noded = vcluster.daemon_pid("node3", "ganeti-noded")
    vcluster.gnt("gnt-node", "remove", "node3")
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists("/proc/%d" % noded):
        time.sleep(0.1)
    assert not os.path.exists("/proc/%d" % noded)
    assert not os.path.exists(os.path.join(vcluster.data_dir("node3"), "server.pem"))
    out = vcluster.gnt("gnt-node", "list", "--no-headers", "-o", "name").stdout
    assert out.split() == ["node1", "node2"]


def test_cluster_destroy(vcluster):
    result = vcluster.gnt("gnt-cluster", "destroy", "--yes-do-it", check=False)
    assert result.returncode == 1 and "still 1 node(s)" in result.stderr
    vcluster.gnt("gnt-node", "remove", "node2")
    vcluster.gnt("gnt-cluster", "destroy", "--yes-do-it")
    deadline = time.time() + 15
    while time.time() < deadline and vcluster.daemon_pid("node1", "ganeti-masterd"):
        time.sleep(0.2)
    assert not os.path.exists(os.path.join(vcluster.data_dir("node1"), "config.data"))
    assert vcluster.daemon_pid("node1", "ganeti-masterd") == 0
