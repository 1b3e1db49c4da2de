"""Tests for the node-side SSH key and certificate procedures (S2, S3) on temporary
directories: backups, line-exact authorized_keys edits, key removal, staged
certificate renewal, and the renew-crypto argument checks made before any change.
"""

import os
import subprocess

import pytest

from ganeti import crypto, errors, opcodes, pathutils
from ganeti.backend import crypto_tokens as tokens
from ganeti.backend import sshkeys
from ganeti.cmdlib import crypto as crypto_lu
from ganeti.rpc import encoding


def read(path) -> str:
    with open(path) as fh:
        return fh.read()


def keygen(path, key_type="ecdsa", bits="256", comment="test") -> tuple[str, str]:
    cmd = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        cmd[2:2] = ["-b", bits]
    subprocess.run(cmd, check=True, capture_output=True)
    return read(path), read(str(path) + ".pub").strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    base = tmp_path_factory.mktemp("keys")
    return {name: keygen(base / name, *spec) for name, spec in
            {"a": ("ecdsa", "256"), "b": ("ecdsa", "256"), "c": ("ed25519", None),
             "rsa": ("rsa", "1024")}.items()}


@pytest.fixture
def node(tmp_path, monkeypatch):
    """pathutils pointed at a temporary node tree."""
    dirs = {"ssh_root": tmp_path / "root" / ".ssh", "ssh_conf": tmp_path / "etc" / "ssh",
            "data": tmp_path / "var" / "lib" / "ganeti"}
    for path in dirs.values():
        path.mkdir(parents=True)
    monkeypatch.setattr(pathutils, "SSH_ROOT_DIR", str(dirs["ssh_root"]))
    monkeypatch.setattr(pathutils, "SSH_CONFIG_DIR", str(dirs["ssh_conf"]))
    monkeypatch.setattr(pathutils, "DATA_DIR", str(dirs["data"]))
    monkeypatch.setattr(pathutils, "SSH_PUB_KEYS", str(dirs["data"] / "ganeti_pub_keys"))
    monkeypatch.setattr(pathutils, "NODED_CERT_FILE", str(dirs["data"] / "server.pem"))
    monkeypatch.setattr(pathutils, "NODED_CLIENT_CERT_FILE",
                        str(dirs["data"] / "client.pem"))
    monkeypatch.setattr(pathutils, "CLUSTER_CONF_FILE", str(dirs["data"] / "config.data"))
    return dirs


def backups_of(path) -> list[str]:
    directory, base = os.path.split(str(path))
    return sorted(os.path.join(directory, n) for n in os.listdir(directory)
                  if n.startswith(base + sshkeys.BACKUP_TAG))


# --- files and backups ----------------------------------------------------------------

def test_replace_keeps_backup_with_old_content(tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    made = []
    assert sshkeys.replace_file(str(path), "new\n", 0o600, made)
    assert read(path) == "new\n" and os.stat(path).st_mode & 0o777 == 0o600
    assert made == backups_of(path) and len(made) == 1
    assert read(made[0]) == "old\n"
    assert os.stat(made[0]).st_mode & 0o777 == 0o600  # private, like the keys it may hold
    # same content and mode: nothing replaced, no new backup
    assert not sshkeys.replace_file(str(path), "new\n", 0o600, made)
    assert len(backups_of(path)) == 1
    # a second replacement in the same second gets its own backup name
    sshkeys.replace_file(str(path), "newer\n", 0o600, made)
    assert [read(b) for b in backups_of(path)] == ["old\n", "new\n"]


def test_authorized_keys_edited_line_exactly(tmp_path, keys):
    path = tmp_path / "authorized_keys"
    a, b, c = keys["a"][1], keys["b"][1], keys["c"][1]
    atype, ablob = a.split()[:2]
    original = ("# admin keys\n"
                f'from="10.0.0.1",command="echo hi there" {atype} {ablob} admin@x\n'
                "\n"
                f"{b}   with  odd   spacing")  # no final newline
    path.write_text(original)
    os.chmod(path, 0o640)
    made = []
    assert sshkeys.add_authorized_keys(str(path), [a, c], made) == 1  # a is present
    assert read(path) == original + "\n" + c + "\n"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [read(p) for p in made] == [original]
    # removal by key, whatever the options/comment; every other line byte-exact
    assert sshkeys.remove_authorized_keys(str(path), [a], made) == 1
    assert read(path) == ("# admin keys\n\n" f"{b}   with  odd   spacing\n" + c + "\n")
    assert sshkeys.remove_authorized_keys(str(path), [keys["rsa"][1]], made) == 0
    assert len(made) == 2


def test_garbage_public_key_refused(tmp_path):
    path = tmp_path / "authorized_keys"
    path.write_text("keep\n")
    for bad in ["ssh-ed25519", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJ6y", "x\ny", 5]:
        with pytest.raises(errors.RpcError):
            sshkeys.add_authorized_keys(str(path), [bad], [])
    assert read(path) == "keep\n" and not backups_of(path)


def test_mismatched_key_pair_refused_before_any_change(node, keys):
    ssh_root = node["ssh_root"]
    (ssh_root / "id_ecdsa").write_text("mine\n")
    with pytest.raises(errors.RpcError, match="does not match"):
        sshkeys.setup_node_ssh({"root_key": {"type": "ecdsa", "private": keys["a"][0],
                                             "public": keys["b"][1]},
                                "authorized_keys": [keys["a"][1]]})
    assert os.listdir(ssh_root) == ["id_ecdsa"] and read(ssh_root / "id_ecdsa") == "mine\n"


def test_join_installs_keys_with_backups(node, keys):
    ssh_root, ssh_conf = node["ssh_root"], node["ssh_conf"]
    (ssh_conf / "ssh_host_ed25519_key").write_text("own host key\n")
    (ssh_conf / "ssh_host_ed25519_key.pub").write_text("own host pub\n")
    (ssh_root / "id_ecdsa").write_text("own root key\n")
    (ssh_root / "authorized_keys").write_text("# mine\n" + keys["b"][1] + "\n")
    cpriv, cpub = keys["a"]
    made = sshkeys.setup_node_ssh({
        "host_keys": {"ed25519": list(keys["c"])},
        "root_key": {"type": "ecdsa", "private": cpriv, "public": cpub},
        "authorized_keys": [cpub]})
    assert read(ssh_conf / "ssh_host_ed25519_key") == keys["c"][0]
    assert read(ssh_conf / "ssh_host_ed25519_key.pub") == keys["c"][1] + "\n"
    assert os.stat(ssh_conf / "ssh_host_ed25519_key").st_mode & 0o777 == 0o600
    assert read(ssh_root / "id_ecdsa") == cpriv
    assert read(ssh_root / "authorized_keys") == "# mine\n" + keys["b"][1] + "\n" + cpub + "\n"
    contents = sorted(read(p) for p in made)
    assert contents == sorted(["own host key\n", "own host pub\n", "own root key\n",
                               "# mine\n" + keys["b"][1] + "\n"])
    assert all(sshkeys.BACKUP_TAG in p for p in made)


def test_key_remove_leaves_other_keys_and_pub_key_entries(node, keys):
    ssh_root = node["ssh_root"]
    auth = ssh_root / "authorized_keys"
    auth.write_text(keys["a"][1] + "\n" + keys["b"][1] + "\n")
    sshkeys.write_pub_keys([["u1", keys["a"][1]], ["u2", keys["b"][1]]])
    assert os.stat(pathutils.SSH_PUB_KEYS).st_mode & 0o777 == 0o600
    assert sshkeys.node_ssh_key_remove([keys["b"][1]], ["u2"]) == 1
    assert read(auth) == keys["a"][1] + "\n"
    assert sshkeys.read_pub_keys() == [["u1", keys["a"][1]]]
    # a node leaving loses the cluster key pair, not its other keys
    for name, (priv, pub) in (("id_ecdsa", keys["a"]), ("id_rsa", keys["rsa"])):
        (ssh_root / name).write_text(priv)
        (ssh_root / (name + ".pub")).write_text(pub + "\n")
    sshkeys.node_ssh_key_remove([keys["a"][1]], [], True)
    assert sorted(os.listdir(ssh_root)) == sorted(
        ["authorized_keys", "id_rsa", "id_rsa.pub"] +
        [os.path.basename(p) for p in backups_of(auth)])
    assert read(auth) == ""


def test_key_remove_without_pub_keys_file_creates_none(node, keys):
    sshkeys.node_ssh_key_remove([], ["u1"])
    assert not os.path.exists(pathutils.SSH_PUB_KEYS)


def test_pub_keys_update(node, keys):
    a, b = keys["a"][1], keys["b"][1]
    assert sshkeys.node_ssh_pub_keys_update([], [], False) == []
    assert sshkeys.node_ssh_pub_keys_update([["u1", a], ["u2", a]], [], False) == \
        [["u1", a], ["u2", a]]
    assert sshkeys.node_ssh_pub_keys_update([["u2", b]], ["u1"], False) == [["u2", b]]
    assert read(pathutils.SSH_PUB_KEYS) == "u2 %s\n" % b
    assert sshkeys.node_ssh_pub_keys_update([["u3", a]], [], True) == [["u3", a]]
    with pytest.raises(errors.RpcError):
        sshkeys.node_ssh_pub_keys_update([["bad uuid", a]], [], False)
    assert sshkeys.read_pub_keys() == [["u3", a]]


def test_keys_renew_installs_new_pair_and_moves_old_type(node, keys):
    ssh_root = node["ssh_root"]
    (ssh_root / "id_rsa").write_text(keys["rsa"][0])
    (ssh_root / "id_rsa.pub").write_text(keys["rsa"][1] + "\n")
    (ssh_root / "authorized_keys").write_text(keys["rsa"][1] + "\n")
    made = sshkeys.node_ssh_keys_renew("ecdsa", keys["a"][0], keys["a"][1], "rsa")
    assert read(ssh_root / "id_ecdsa") == keys["a"][0]
    assert not os.path.exists(ssh_root / "id_rsa")
    assert sorted(read(p) for p in made if "id_rsa" in p) == \
        sorted([keys["rsa"][0], keys["rsa"][1] + "\n"])
    # the old key is still authorized: it is removed once every node has the new one
    assert read(ssh_root / "authorized_keys") == keys["rsa"][1] + "\n" + keys["a"][1] + "\n"
    with pytest.raises(errors.RpcError, match="Unknown SSH key type"):
        sshkeys.node_ssh_keys_renew("../x", keys["a"][0], keys["a"][1])


def test_key_parameters():
    with pytest.raises(errors.OpPrereqError, match="DSA"):
        sshkeys.check_key_params("dsa", 1024)
    with pytest.raises(errors.OpPrereqError, match="256, 384 or 521"):
        sshkeys.check_key_params("ecdsa", 2048)
    assert sshkeys.check_key_params("ecdsa", None) == 384
    assert sshkeys.check_key_params("rsa", None) == 2048


def test_ensure_root_key_generates_only_when_missing(tmp_path):
    public, created = sshkeys.ensure_root_key("ecdsa", 256, "root@c", str(tmp_path))
    assert created and public.startswith("ecdsa-sha2-nistp256 ")
    sshkeys.check_key_pair(read(tmp_path / "id_ecdsa"), public)
    assert os.stat(tmp_path / "id_ecdsa").st_mode & 0o777 == 0o600
    assert sshkeys.ensure_root_key("ecdsa", 256, "root@c", str(tmp_path)) == \
        (public, False)


# --- certificates (node_crypto_tokens, staged renewal) -------------------------------

@pytest.fixture
def certs(node):
    key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
    crypto.write_pem_file(pathutils.NODED_CERT_FILE, key, cert)
    ckey, ccert = crypto.generate_signed_cert(key, cert, "node1")
    crypto.write_pem_file(pathutils.NODED_CLIENT_CERT_FILE, ckey, ccert)
    return key, cert, ccert


def test_crypto_tokens_get_and_create(certs):
    _key, cert, ccert = certs
    assert tokens.node_crypto_tokens([["ssl", "get", {}]]) == \
        [["ssl", crypto.cert_digest(ccert)]]
    (_t, digest), = tokens.node_crypto_tokens([["ssl", "create", {"serial_no": 42}]])
    _k, new = crypto.read_pem_file(pathutils.NODED_CLIENT_CERT_FILE)
    assert digest == crypto.cert_digest(new) != crypto.cert_digest(ccert)
    assert crypto.verify_signed_by(new, cert)
    assert os.stat(pathutils.NODED_CLIENT_CERT_FILE).st_mode & 0o777 == 0o440


@pytest.mark.parametrize("request_", [
    ["ssl", "create", {"cert_file": "/etc/shadow"}],
    ["ssl", "create", {"signing_cert_file": "/tmp/evil.pem"}],
    ["ssl", "get", {"cert_file": "../../server.pem"}],
    ["ssl", "create", {"unknown": 1}],
    ["x509", "get", {}],
    ["ssl", "delete", {}],
])
def test_crypto_tokens_refuse_other_files_and_actions(certs, request_):
    before = read(pathutils.NODED_CLIENT_CERT_FILE)
    with pytest.raises(errors.RpcError):
        tokens.node_crypto_tokens([request_])
    assert read(pathutils.NODED_CLIENT_CERT_FILE) == before


def test_staged_cluster_certificate_switch(certs):
    old_server = read(pathutils.NODED_CERT_FILE)
    key, cert = crypto.generate_self_signed_cert("ganeti.example.com")
    tokens.node_crypto_stage_server_cert(encoding.encode_compressed(key + cert))
    options = {"cert_file": tokens.staged(pathutils.NODED_CLIENT_CERT_FILE),
               "signing_cert_file": tokens.staged(pathutils.NODED_CERT_FILE)}
    (_t, digest), = tokens.node_crypto_tokens([["ssl", "create", options]])
    # nothing live changed while staging
    assert read(pathutils.NODED_CERT_FILE) == old_server
    # a client-only switch would pair the new client with the old cluster certificate
    with pytest.raises(errors.RpcError, match="not signed"):
        tokens.node_crypto_activate(["client"])
    with pytest.raises(errors.RpcError, match="needs new client"):
        tokens.node_crypto_activate(["server"])
    assert tokens.node_crypto_activate(["server", "client"]) == digest
    assert crypto.file_cert_digest(pathutils.NODED_CERT_FILE) == crypto.cert_digest(cert)
    assert crypto.file_cert_digest(pathutils.NODED_CLIENT_CERT_FILE) == digest
    assert not os.path.exists(tokens.staged(pathutils.NODED_CERT_FILE))
    with pytest.raises(errors.RpcError, match="Nothing to activate"):
        tokens.node_crypto_activate(["client"])


def test_stage_refuses_non_ca_or_mismatched_certificate(certs):
    key, cert = crypto.generate_self_signed_cert("x")
    other_key, _ = crypto.generate_self_signed_cert("y")
    ckey, ccert = crypto.generate_signed_cert(key, cert, "leaf")
    for pem in (other_key + cert, ckey + ccert, cert):
        with pytest.raises(errors.RpcError):
            tokens.node_crypto_stage_server_cert(encoding.encode_compressed(pem))
    assert not os.path.exists(tokens.staged(pathutils.NODED_CERT_FILE))
    tokens.node_crypto_stage_server_cert(encoding.encode_compressed(key + cert))
    tokens.node_crypto_abort()
    assert not os.path.exists(tokens.staged(pathutils.NODED_CERT_FILE))


# --- renew-crypto: arguments and given files ---------------------------------------------

def test_renew_opcode_carries_no_key_material():
    op = opcodes.OpClusterRenewCrypto(rapi_certificate_file="/root/rapi.pem",
                                      renew_ssh_keys=True, new_cluster_certificate=True)
    text = repr(op.to_dict())
    assert "PRIVATE" not in text and "/root/rapi.pem" in text


def test_given_files_validated(tmp_path):
    key, cert = crypto.generate_self_signed_cert("rapi")
    other_key, _ = crypto.generate_self_signed_cert("other")
    good = tmp_path / "good.pem"
    good.write_text(key + cert)
    assert crypto_lu.load_key_cert_file(str(good), "RAPI certificate") == key + cert
    for name, content in (("nokey.pem", cert), ("mismatch.pem", other_key + cert),
                          ("junk.pem", "hello\n")):
        (tmp_path / name).write_text(content)
        with pytest.raises(errors.OpPrereqError, match="RAPI certificate"):
            crypto_lu.load_key_cert_file(str(tmp_path / name), "RAPI certificate")
    with pytest.raises(errors.OpPrereqError, match="absolute"):
        crypto_lu.load_key_cert_file("good.pem", "RAPI certificate")
    with pytest.raises(errors.OpPrereqError, match="Cannot read"):
        crypto_lu.load_key_cert_file(str(tmp_path / "missing"), "RAPI certificate")
    (tmp_path / "cds").write_text("short\n")
    with pytest.raises(errors.OpPrereqError, match="at least 16"):
        crypto_lu.load_domain_secret_file(str(tmp_path / "cds"))
    (tmp_path / "cds").write_text("0123456789abcdef0123\nignored\n")
    assert crypto_lu.load_domain_secret_file(str(tmp_path / "cds")) == \
        "0123456789abcdef0123\n"


@pytest.mark.parametrize("params,message", [
    ({}, "Nothing to renew"),
    ({"new_rapi_certificate": True, "rapi_certificate_file": "/x"}, "not both"),
    ({"spice_certificate_file": "/x"}, "together"),
    ({"new_confd_hmac_key": True, "ssh_key_type": "rsa"}, "only with new SSH"),
])
def test_renew_argument_errors(params, message):
    op = opcodes.OpClusterRenewCrypto(**params)
    with pytest.raises(errors.OpPrereqError, match=message):
        crypto_lu.LUClusterRenewCrypto(None, op, None, None)
