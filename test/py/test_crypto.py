"""Tests for ganeti.crypto: certificate generation and signing, digests, PEM
files, HMAC helpers and the TLS contexts of the node RPC.
"""

import datetime
import hashlib
import os
import re
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ganeti import constants, crypto, errors

_DIGEST_RE = re.compile(r"^([0-9A-F]{2}:){19}[0-9A-F]{2}$")


@pytest.fixture(scope="module")
def cluster():
    key, cert = crypto.generate_self_signed_cert(constants.X509_CERT_CN)
    return key, cert


@pytest.fixture(scope="module")
def node_cert(cluster):
    return crypto.generate_signed_cert(cluster[0], cluster[1], "node1.example.com")


@pytest.fixture(scope="module")
def other_ca():
    return crypto.generate_self_signed_cert("other.example.com")


def _x509(cert_pem):
    return x509.load_pem_x509_certificate(cert_pem.encode())


def test_self_signed_cert_has_the_cluster_properties(cluster):
    key_pem, cert_pem = cluster
    assert "PRIVATE KEY-----" in key_pem
    assert cert_pem.startswith("-----BEGIN CERTIFICATE-----")
    cert = _x509(cert_pem)
    assert cert.serial_number == 1
    assert cert.subject == cert.issuer
    assert crypto.cert_common_name(cert_pem) == constants.X509_CERT_CN
    assert isinstance(cert.public_key(), rsa.RSAPublicKey)
    assert cert.public_key().key_size == constants.RSA_KEY_BITS
    assert cert.signature_hash_algorithm.name == constants.X509_CERT_SIGN_DIGEST
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert abs(lifetime.days - constants.X509_CERT_DEFAULT_VALIDITY) <= 1
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_self_signed_cert_honours_serial_and_validity():
    _, cert_pem = crypto.generate_self_signed_cert("x", validity_days=10, serial=77)
    cert = _x509(cert_pem)
    assert cert.serial_number == 77
    left = crypto.cert_not_after(cert_pem) - datetime.datetime.now(datetime.UTC)
    assert 9 <= left.days <= 10
    assert crypto.cert_not_after(cert_pem).tzinfo is not None


def test_signed_cert_is_issued_by_the_cluster(cluster, node_cert, other_ca):
    before = int(time.time())
    key_pem, cert_pem = node_cert
    cert = _x509(cert_pem)
    assert crypto.cert_common_name(cert_pem) == "node1.example.com"
    assert cert.issuer == _x509(cluster[1]).subject
    assert before - 600 <= cert.serial_number <= int(time.time())
    assert cert.signature_hash_algorithm.name == "sha256"
    assert crypto.verify_signed_by(cert_pem, cluster[1])
    assert not crypto.verify_signed_by(cert_pem, other_ca[1])
    assert not crypto.verify_signed_by(cluster[1], other_ca[1])
    assert not crypto.verify_signed_by("garbage", cluster[1])
    assert key_pem != cluster[0]


def test_signed_cert_explicit_serial(cluster):
    _, cert_pem = crypto.generate_signed_cert(cluster[0], cluster[1], "n2", serial=5)
    assert _x509(cert_pem).serial_number == 5


def test_signed_cert_with_bad_ca_key_fails(cluster):
    with pytest.raises(errors.X509CertError):
        crypto.generate_signed_cert("not a key", cluster[1], "n3")


def test_cert_digest_format_and_value(cluster, tmp_path):
    cert_pem = cluster[1]
    digest = crypto.cert_digest(cert_pem)
    assert len(digest) == 59
    assert _DIGEST_RE.match(digest)
    der = ssl.PEM_cert_to_DER_cert(cert_pem)
    expected = hashlib.sha1(der).hexdigest().upper()
    assert digest.replace(":", "") == expected
    assert crypto.cert_digest_der(der) == digest
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, cluster[0], cert_pem)
    assert crypto.file_cert_digest(path) == digest


def test_digests_differ_between_certificates(cluster, node_cert):
    assert crypto.cert_digest(cluster[1]) != crypto.cert_digest(node_cert[1])


def test_file_cert_digest_errors(tmp_path):
    with pytest.raises(errors.X509CertError) as info:
        crypto.file_cert_digest(str(tmp_path / "missing.pem"))
    assert str(tmp_path / "missing.pem") in info.value.args
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    with pytest.raises(errors.X509CertError):
        crypto.file_cert_digest(str(empty))


def test_pem_file_round_trip_key_first_and_mode(cluster, tmp_path):
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, cluster[0], cluster[1])
    assert os.stat(path).st_mode & 0o777 == 0o440
    with open(path) as fh:
        text = fh.read()
    assert text.index("PRIVATE KEY") < text.index("BEGIN CERTIFICATE")
    assert crypto.read_pem_file(path) == (cluster[0], cluster[1])


def test_write_pem_file_custom_mode_replaces_atomically(cluster, node_cert, tmp_path):
    path = str(tmp_path / "client.pem")
    crypto.write_pem_file(path, cluster[0], cluster[1], mode=0o400)
    crypto.write_pem_file(path, node_cert[0], node_cert[1], mode=0o400)
    assert os.stat(path).st_mode & 0o777 == 0o400
    assert crypto.read_pem_file(path) == node_cert
    assert os.listdir(tmp_path) == ["client.pem"]


@pytest.mark.parametrize("content", [
    "",
    "garbage",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
])
def test_read_pem_file_rejects_bad_files(tmp_path, content):
    path = tmp_path / "bad.pem"
    path.write_text(content)
    with pytest.raises(errors.X509CertError) as info:
        crypto.read_pem_file(str(path))
    assert str(path) in info.value.args


def test_read_pem_file_needs_both_parts(cluster, tmp_path):
    only_cert = tmp_path / "cert.pem"
    only_cert.write_text(cluster[1])
    only_key = tmp_path / "key.pem"
    only_key.write_text(cluster[0])
    with pytest.raises(errors.X509CertError, match="private key"):
        crypto.read_pem_file(str(only_cert))
    with pytest.raises(errors.X509CertError, match="certificate"):
        crypto.read_pem_file(str(only_key))
    with pytest.raises(errors.X509CertError):
        crypto.read_pem_file(str(tmp_path / "missing.pem"))


def test_corrupt_certificate_body_is_rejected(cluster, tmp_path):
    lines = cluster[1].splitlines()
    lines[3] = "A" * len(lines[3])
    path = tmp_path / "corrupt.pem"
    path.write_text(cluster[0] + "\n".join(lines) + "\n")
    with pytest.raises(errors.X509CertError):
        crypto.read_pem_file(str(path))


def test_generate_hmac_key_format():
    key = crypto.generate_hmac_key()
    assert re.match(r"^[0-9a-f]{40}\n$", key)
    assert key != crypto.generate_hmac_key()


def test_generate_secret():
    assert re.match(r"^[0-9a-f]{40}$", crypto.generate_secret())
    assert len(crypto.generate_secret(8)) == 16
    assert crypto.generate_secret() != crypto.generate_secret()


def test_sha1_hmac_known_value_and_salt():
    text = "The quick brown fox jumps over the lazy dog"
    assert (crypto.sha1_hmac("key", text)
            == "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9")
    assert crypto.sha1_hmac(b"key", text) == crypto.sha1_hmac("key", text)
    assert crypto.sha1_hmac("key", "y", salt="x") == crypto.sha1_hmac("key", "xy")
    assert crypto.sha1_hmac("key", "y", salt="x") != crypto.sha1_hmac("key", "y")


def test_verify_sha1_hmac():
    digest = crypto.sha1_hmac("secret", "payload", salt="123")
    assert crypto.verify_sha1_hmac("secret", "payload", digest, salt="123")
    assert crypto.verify_sha1_hmac("secret", "payload", digest.upper(), salt="123")
    assert not crypto.verify_sha1_hmac("secret", "payload", digest)
    assert not crypto.verify_sha1_hmac("other", "payload", digest, salt="123")
    assert not crypto.verify_sha1_hmac("secret", "payload2", digest, salt="123")
    assert not crypto.verify_sha1_hmac("secret", "payload", "", salt="123")


def test_constant_time_equal():
    assert crypto.constant_time_equal("abc", "abc")
    assert crypto.constant_time_equal("abc", b"abc")
    assert crypto.constant_time_equal("é", "é")
    assert not crypto.constant_time_equal("abc", "abd")
    assert not crypto.constant_time_equal(b"abc", "abcd")


def test_server_context(cluster, tmp_path):
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, cluster[0], cluster[1])
    ctx = crypto.make_server_ssl_context(path)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    # The trust store is the cluster certificate only
    assert [c["serialNumber"] for c in ctx.get_ca_certs()] == ["01"]
    relaxed = crypto.make_server_ssl_context(path, require_client_cert=False)
    assert relaxed.verify_mode == ssl.CERT_NONE


def test_client_context(cluster, node_cert, tmp_path):
    server = str(tmp_path / "server.pem")
    client = str(tmp_path / "client.pem")
    crypto.write_pem_file(server, cluster[0], cluster[1])
    crypto.write_pem_file(client, node_cert[0], node_cert[1])
    ctx = crypto.make_client_ssl_context(client, server)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert not ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_contexts_report_missing_or_bad_files(cluster, tmp_path):
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(errors.X509CertError) as info:
        crypto.make_server_ssl_context(missing)
    assert missing in info.value.args
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage\n")
    with pytest.raises(errors.X509CertError):
        crypto.make_server_ssl_context(str(bad))
    good = str(tmp_path / "server.pem")
    crypto.write_pem_file(good, cluster[0], cluster[1])
    with pytest.raises(errors.X509CertError) as info:
        crypto.make_client_ssl_context(str(bad), good)
    assert str(bad) in info.value.args
