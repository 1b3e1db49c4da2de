"""The integrity checks behind `gnt-cluster verify`: what node_verify reports about a
node's secrets, certificates and scripts, and how the master compares nodes.
"""

import os
import time

import pytest

from ganeti import _autoconf, crypto, opcodes, pathutils
from ganeti.backend import node as backend_node
from ganeti.cmdlib import cluster as cluster_lu
from ganeti.rpc.node import RpcResult

pytestmark = pytest.mark.security


@pytest.fixture
def node_files(tmp_path, monkeypatch):
    """A node whose data, hooks, OS, ExtStorage and restricted dirs live in tmp_path."""
    data = tmp_path / "data"
    data.mkdir()
    paths = {"NODED_CERT_FILE": data / "server.pem",
             "NODED_CLIENT_CERT_FILE": data / "client.pem",
             "RAPI_CERT_FILE": data / "rapi.pem", "SPICE_CERT_FILE": data / "spice.pem",
             "SPICE_CACERT_FILE": data / "spice-ca.pem",
             "CONFD_HMAC_KEY": data / "hmac.key",
             "CLUSTER_DOMAIN_SECRET_FILE": data / "cluster-domain-secret",
             "RAPI_USERS_FILE": data / "rapi-users",
             "SSH_CONFIG_DIR": tmp_path / "ssh", "SSH_ROOT_DIR": tmp_path / "root-ssh",
             "HOOKS_BASE_DIR": tmp_path / "hooks",
             "RESTRICTED_COMMANDS_DIR": tmp_path / "restricted"}
    for name, path in paths.items():
        monkeypatch.setattr(pathutils, name, str(path))
    for name in ("ssh", "root-ssh", "hooks", "restricted", "os", "es"):
        (tmp_path / name).mkdir()
        os.chmod(tmp_path / name, 0o755)
    monkeypatch.setattr(pathutils, "OS_SEARCH_PATH", [str(tmp_path / "os")])
    monkeypatch.setattr(pathutils, "ES_SEARCH_PATH", [str(tmp_path / "es")])
    monkeypatch.setattr(_autoconf, "ENABLE_RESTRICTED_COMMANDS", True)
    return tmp_path, paths


def _write(path, text, mode=0o755):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def test_file_modes_report_the_secrets_that_exist(node_files):
    tmp_path, paths = node_files
    _write(paths["CONFD_HMAC_KEY"], "k", 0o640)
    _write(paths["CLUSTER_DOMAIN_SECRET_FILE"], "s", 0o644)
    _write(str(paths["SSH_CONFIG_DIR"] / "ssh_host_ed25519_key"), "k", 0o600)
    _write(str(paths["SSH_CONFIG_DIR"] / "ssh_host_ed25519_key.pub"), "p", 0o644)
    _write(str(paths["SSH_ROOT_DIR"] / "id_rsa"), "k", 0o600)
    modes = backend_node.node_verify({"file-modes": None}, "cluster")["file-modes"]
    assert {os.path.basename(p): v[0] for p, v in modes.items()} == {
        "hmac.key": 0o640, "cluster-domain-secret": 0o644, "ssh_host_ed25519_key": 0o600,
        "id_rsa": 0o600}
    assert all(len(v) == 3 for v in modes.values())


def test_certificates_report_expiry(node_files):
    _tmp, paths = node_files
    key, cert = crypto.generate_self_signed_cert("n", validity_days=5)
    _write(paths["NODED_CERT_FILE"], key + cert, 0o440)
    _write(paths["RAPI_CERT_FILE"], "garbage", 0o440)
    certs = backend_node.certificate_expiry()
    expiry = certs[str(paths["NODED_CERT_FILE"])]
    assert 4 * 86400 < expiry - time.time() <= 5 * 86400 + 60
    assert certs[str(paths["RAPI_CERT_FILE"])].startswith("cannot read the certificate")
    assert str(paths["NODED_CLIENT_CERT_FILE"]) not in certs


def test_script_hashes_cover_hooks_os_extstorage_and_restricted(node_files):
    tmp_path, paths = node_files
    _write(str(paths["HOOKS_BASE_DIR"] / "instance-add-pre.d" / "10-x"), "a")
    os.chmod(paths["HOOKS_BASE_DIR"] / "instance-add-pre.d", 0o755)
    _write(str(tmp_path / "os" / "myos" / "create"), "c")
    os.chmod(tmp_path / "os" / "myos", 0o755)
    _write(str(tmp_path / "es" / "prov" / "attach"), "e")
    os.chmod(tmp_path / "es" / "prov", 0o755)
    _write(str(paths["RESTRICTED_COMMANDS_DIR"] / "secret-name"), "r")
    result = backend_node.node_verify({"script-hashes": None}, "c")["script-hashes"]
    files = result["files"]
    assert set(files) == {"hooks/instance-add-pre.d/10-x", "os/myos/create",
                          "extstorage/prov/attach", "restricted-commands"}
    sha, owner, group, mode = files["hooks/instance-add-pre.d/10-x"]
    assert len(sha) == 64 and mode == 0o755 and owner and group
    assert "secret-name" not in repr(result)
    if os.getuid() == 0:
        assert result["problems"] == {}


def test_script_hashes_report_unsafe_directories_and_files(node_files):
    tmp_path, paths = node_files
    sub = paths["HOOKS_BASE_DIR"] / "node-add-post.d"
    _write(str(sub / "10-x"), "a", 0o777)
    os.chmod(sub, 0o777)
    os.chmod(paths["RESTRICTED_COMMANDS_DIR"], 0o775)
    _write(str(tmp_path / "os" / "myos" / "create"), "c")
    os.chmod(tmp_path / "os", 0o777)
    problems = backend_node.script_hashes()["problems"]
    assert "writable by group or others" in problems["hooks/node-add-post.d"]
    assert "writable by group or others" in problems["hooks/node-add-post.d/10-x"]
    assert "permission bits" in problems["restricted-commands"]
    assert "writable" in problems["os-search-path:%s" % (tmp_path / "os")]


def test_restricted_commands_are_not_hashed_when_disabled(node_files, monkeypatch):
    _tmp, paths = node_files
    _write(str(paths["RESTRICTED_COMMANDS_DIR"] / "x"), "r")
    monkeypatch.setattr(_autoconf, "ENABLE_RESTRICTED_COMMANDS", False)
    assert "restricted-commands" not in backend_node.script_hashes()["files"]


# --- the master's comparison ---------------------------------------------------------
@pytest.mark.parametrize("master,node,expected", [
    (["a" * 64, "root", "root", 0o755], ["a" * 64, "root", "root", 0o755], None),
    (["a" * 64, "root", "root", 0o755], None, "is missing (present on the master)"),
    (None, ["a" * 64, "root", "root", 0o755], "is not present on the master"),
    (["a" * 64, "root", "root", 0o755], ["b" * 64, "root", "root", 0o755],
     "differs from the master's: content (sha256 bbbbbbbbbbbb..., master aaaaaaaaaaaa...)"),
    (["a" * 64, "root", "root", 0o755], ["a" * 64, "nobody", "root", 0o775],
     "differs from the master's: owner (nobody:root, master root:root), mode (0775, "
     "master 0755)"),
    (["a" * 64, "root", "root", 0o755], [None, "not a regular file"],
     "cannot be compared: master ok, node not a regular file"),
])
def test_script_difference(master, node, expected):
    assert cluster_lu._script_difference(master, node) == expected


def _lu(feedback):
    op = opcodes.OpClusterVerify()
    op.validate()
    lu = cluster_lu.LUClusterVerify.__new__(cluster_lu.LUClusterVerify)
    lu.op = op
    lu.bad = False
    lu._feedback = feedback.append
    return lu


class _Node:
    def __init__(self, uuid, name):
        self.uuid, self.name = uuid, name


def test_master_compares_every_node_with_itself():
    same = ["a" * 64, "root", "root", 0o755]
    master = {"file-modes": {"/d/hmac.key": [0o640, "root", "root"]},
              "script-hashes": {"files": {"hooks/x-pre.d/10": same,
                                          "restricted-commands": same},
                                "problems": {}}}
    node2 = {"file-modes": {"/d/hmac.key": [0o644, "root", "root"]},
             "certificates": {"/d/server.pem": time.time() + 3 * 86400,
                              "/d/client.pem": time.time() - 10},
             "script-hashes": {"files": {"hooks/x-pre.d/10": same,
                                         "restricted-commands": ["c" * 64, 0, 0, 0o755]},
                               "problems": {"hooks/x-pre.d": "it is writable by group or "
                                            "others"}}}
    results = {"u1": RpcResult("node1", "node_verify", True, master),
               "u2": RpcResult("node2", "node_verify", True, node2)}
    feedback = []
    lu = _lu(feedback)
    lu._verify_integrity([_Node("u1", "node1"), _Node("u2", "node2")], results, "u1")
    text = "\n".join(feedback)
    assert lu.bad
    assert "ERROR: node node2: secret file /d/hmac.key has mode 0644" in text
    assert "WARNING: node node2: certificate /d/server.pem expires in 2 days" in text
    assert "ERROR: node node2: certificate /d/client.pem expired on" in text
    assert "ERROR: node node2: hooks/x-pre.d is unsafe: it is writable" in text
    assert "ERROR: node node2: script restricted-commands differs from the master's: " \
        "content" in text
    assert "node1" not in text
    assert len(feedback) == 5


def test_error_codes_format():
    feedback = []
    lu = _lu(feedback)
    lu.op.error_codes = True
    results = {"u2": RpcResult("node2", "node_verify", True, {
        "certificates": {"/d/server.pem": time.time() + 86400 * 400,
                         "/d/client.pem": time.time() + 86400 * 400},
        "script-hashes": {"files": {}, "problems": {"os/x": "bad"}}})}
    lu._verify_integrity([_Node("u2", "node2")], results, "u1")
    assert feedback == ["  - ERROR:ENODEOS:node:node2:os/x is unsafe: bad"]
