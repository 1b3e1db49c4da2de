"""Cryptography helpers: X509 certificates and keys, digests, HMAC, TLS contexts.

Certificates follow the node RPC model (cluster self-signed server.pem, per-node
client.pem signed by it); TLS contexts are built with the stdlib ``ssl`` module.
"""

import datetime
import hashlib
import hmac
import os
import re
import secrets
import ssl
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ganeti import constants, errors
from ganeti.utils import io

# Certificates are back-dated a little so that a node whose clock is slightly
# behind the master's still accepts a freshly created certificate.
_CLOCK_SKEW = datetime.timedelta(hours=1)

_PEM_BLOCK_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)
_KEY_LABELS = frozenset(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
_CERT_LABELS = frozenset(["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"])


def _sign_digest():
    name = constants.X509_CERT_SIGN_DIGEST.lower()
    algo = {"sha256": hashes.SHA256, "sha384": hashes.SHA384,
            "sha512": hashes.SHA512, "sha1": hashes.SHA1}.get(name)
    if algo is None:
        raise errors.ProgrammerError(f"Unsupported signature digest {name!r}")
    return algo()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537,
                                    key_size=constants.RSA_KEY_BITS)


def _key_to_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _cert_to_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _load_cert(cert_pem: str | bytes) -> x509.Certificate:
    if isinstance(cert_pem, str):
        cert_pem = cert_pem.encode("ascii", "replace")
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError as err:
        raise errors.X509CertError("<memory>",
                                   f"Unable to load certificate: {err}") from err


def _builder(common_name: str, issuer: x509.Name, public_key, serial: int,
             validity_days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + datetime.timedelta(days=validity_days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                           critical=False))


def generate_self_signed_cert(common_name: str,
                              validity_days: int = constants.X509_CERT_DEFAULT_VALIDITY,
                              serial: int = 1) -> tuple[str, str]:
    """Create a new key and a self-signed certificate; return (key_pem, cert_pem).

    The certificate is marked as a CA so that it can sign the per-node client
    certificates and serve as the trust anchor of both TLS sides.
    """
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (_builder(common_name, name, key.public_key(), serial, validity_days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .sign(key, _sign_digest()))
    return _key_to_pem(key), _cert_to_pem(cert)


def generate_signed_cert(ca_key_pem: str, ca_cert_pem: str, common_name: str,
                         serial: int | None = None,
                         validity_days: int = constants.X509_CERT_DEFAULT_VALIDITY,
                         ) -> tuple[str, str]:
    """Create a new key and a certificate signed by the given CA; return PEMs."""
    try:
        ca_key = serialization.load_pem_private_key(ca_key_pem.encode("ascii"),
                                                    password=None)
    except (ValueError, TypeError) as err:
        raise errors.X509CertError("<memory>",
                                   f"Unable to load the CA key: {err}") from err
    ca_cert = _load_cert(ca_cert_pem)
    if serial is None:
        serial = int(time.time())
    key = _new_key()
    try:
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_cert.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier).value)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (_builder(common_name, ca_cert.subject, key.public_key(), serial,
                     validity_days)
            .add_extension(aki, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                                  ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, _sign_digest()))
    return _key_to_pem(key), _cert_to_pem(cert)


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def write_pem_file(path: str, key_pem: str, cert_pem: str, mode: int = 0o440) -> None:
    """Atomically write a key followed by its certificate to ``path``."""
    io.write_file(path, _ensure_newline(key_pem) + _ensure_newline(cert_pem), mode=mode)


def split_pem(text: str) -> tuple[list[str], list[str]]:
    """Return the (private key blocks, certificate blocks) found in PEM text."""
    keys, certs = [], []
    for match in _PEM_BLOCK_RE.finditer(text):
        block = _ensure_newline(match.group(0).replace("\r\n", "\n"))
        if match.group(1) in _KEY_LABELS:
            keys.append(block)
        elif match.group(1) in _CERT_LABELS:
            certs.append(block)
    return keys, certs


def read_pem_file(path: str) -> tuple[str, str]:
    """Read a combined PEM file; return (key_pem, cert_pem), both validated."""
    try:
        text = io.read_file(path)
    except (OSError, UnicodeDecodeError) as err:
        raise errors.X509CertError(path, f"Unable to read file: {err}") from err
    keys, certs = split_pem(text)
    if not keys:
        raise errors.X509CertError(path, "No private key found")
    if not certs:
        raise errors.X509CertError(path, "No certificate found")
    try:
        serialization.load_pem_private_key(keys[0].encode("ascii"), password=None)
        x509.load_pem_x509_certificate(certs[0].encode("ascii"))
    except (ValueError, TypeError) as err:
        raise errors.X509CertError(
            path, f"Unable to load key or certificate: {err}") from err
    return keys[0], certs[0]


def cert_digest_der(der: bytes) -> str:
    """SHA-1 of a DER certificate as upper-case hex pairs joined by ':'."""
    return ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())


def cert_digest(cert_pem: str) -> str:
    """SHA-1 fingerprint of a PEM certificate (OpenSSL ``digest("sha1")`` style)."""
    der = _load_cert(cert_pem).public_bytes(serialization.Encoding.DER)
    return cert_digest_der(der)


def file_cert_digest(path: str) -> str:
    """Fingerprint of the (first) certificate in a PEM file."""
    try:
        text = io.read_file(path)
    except (OSError, UnicodeDecodeError) as err:
        raise errors.X509CertError(path, f"Unable to read file: {err}") from err
    certs = split_pem(text)[1]
    if not certs:
        raise errors.X509CertError(path, "No certificate found")
    try:
        return cert_digest(certs[0])
    except errors.X509CertError as err:
        raise errors.X509CertError(path, err.args[-1]) from err


def verify_signed_by(cert_pem: str, ca_cert_pem: str) -> bool:
    """True if ``cert_pem`` was issued and signed by ``ca_cert_pem``."""
    try:
        cert = _load_cert(cert_pem)
        ca_cert = _load_cert(ca_cert_pem)
        cert.verify_directly_issued_by(ca_cert)
    except (errors.X509CertError, ValueError, TypeError, InvalidSignature):
        return False
    return True


def cert_not_after(cert_pem: str) -> datetime.datetime:
    """Expiry time of a certificate (timezone-aware, UTC)."""
    return _load_cert(cert_pem).not_valid_after_utc


def cert_common_name(cert_pem: str) -> str:
    attrs = _load_cert(cert_pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def generate_hmac_key() -> str:
    """A new HMAC key in the format of the cluster's hmac.key file."""
    return secrets.token_hex(20) + "\n"


def generate_secret(nbytes: int = 20) -> str:
    return secrets.token_hex(nbytes)


def _to_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(_to_bytes(a), _to_bytes(b))


def sha1_hmac(key: str | bytes, text: str, salt: str = "") -> str:
    """Hex HMAC-SHA1 of ``salt + text``."""
    return hmac.new(_to_bytes(key), _to_bytes(salt + text), hashlib.sha1).hexdigest()


def verify_sha1_hmac(key: str | bytes, text: str, digest: str, salt: str = "") -> bool:
    return constant_time_equal(sha1_hmac(key, text, salt=salt), digest.lower())


def _base_context(purpose: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    return ctx


def _check_readable(path: str) -> None:
    if not os.path.isfile(path):
        raise errors.X509CertError(path, "File not found")


def make_server_ssl_context(server_pem_path: str,
                            require_client_cert: bool = True) -> ssl.SSLContext:
    """TLS server context presenting server.pem (key and certificate in one file).

    With ``require_client_cert`` the client must present a certificate that
    verifies against server.pem itself, i.e. the cluster certificate or one it
    signed; without it no client certificate is asked for at all.
    """
    _check_readable(server_pem_path)
    ctx = _base_context(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(server_pem_path)
        if require_client_cert:
            ctx.load_verify_locations(cafile=server_pem_path)
    except (ssl.SSLError, OSError) as err:
        raise errors.X509CertError(server_pem_path,
                                   f"Unable to load for TLS: {err}") from err
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
    # Clients never resume sessions; no tickets means every connection is
    # verified afresh against the current certificates.
    ctx.num_tickets = 0
    return ctx


def make_client_ssl_context(client_pem_path: str, ca_pem_path: str) -> ssl.SSLContext:
    """TLS client context presenting client.pem and trusting only server.pem.

    The host name is deliberately not checked: every node serves the same
    cluster certificate, so the certificate itself is the identity.
    """
    _check_readable(client_pem_path)
    _check_readable(ca_pem_path)
    ctx = _base_context(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cafile=ca_pem_path)
    except (ssl.SSLError, OSError) as err:
        raise errors.X509CertError(ca_pem_path,
                                   f"Unable to load for TLS: {err}") from err
    try:
        ctx.load_cert_chain(client_pem_path)
    except (ssl.SSLError, OSError) as err:
        raise errors.X509CertError(client_pem_path,
                                   f"Unable to load for TLS: {err}") from err
    return ctx
