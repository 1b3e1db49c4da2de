"""Node-side certificate procedures (S3): node_crypto_tokens and the staged renewal
of the cluster certificate (server.pem) and this node's client certificate.

New files are first staged next to the live ones (``*.renew``) while the old chain
still verifies, then switched in one step by ``node_crypto_activate``.
"""

import logging
import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ganeti import crypto
from ganeti import errors
from ganeti import netutils
from ganeti import pathutils
from ganeti import ssconf
from ganeti.rpc import encoding
from ganeti.utils import io

STAGE_SUFFIX = ".renew"
TOKEN_SSL = "ssl"
ACTION_GET = "get"
ACTION_CREATE = "create"
OPT_CERT_FILE = "cert_file"
OPT_SERIAL_NO = "serial_no"
OPT_SIGNING_CERT_FILE = "signing_cert_file"
PART_SERVER = "server"
PART_CLIENT = "client"


def _fail(message: str) -> None:
    raise errors.RpcError(message)


def staged(path: str) -> str:
    return path + STAGE_SUFFIX


def _client_files() -> dict:
    return {p: p for p in (pathutils.NODED_CLIENT_CERT_FILE,
                           staged(pathutils.NODED_CLIENT_CERT_FILE))}


def _signing_files() -> dict:
    return {p: p for p in (pathutils.NODED_CERT_FILE, staged(pathutils.NODED_CERT_FILE))}


def _allowed_path(value, allowed: dict, default: str, what: str) -> str:
    """Map a (virtualised) path from the request onto one of ``allowed``."""
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        _fail("Invalid %s %r" % (what, value))
    try:
        path = os.path.normpath(pathutils.devirtualize(value))
    except pathutils.VirtualClusterError as err:
        raise errors.RpcError(str(err)) from None
    if path not in allowed:
        _fail("The %s %s is not allowed" % (what, value))
    return allowed[path]


def _owner_and_mode(path: str, fallback: str) -> tuple[int, int, int]:
    for candidate in (path, fallback):
        try:
            st = os.stat(candidate)
            return st.st_uid, st.st_gid, st.st_mode & 0o7777
        except OSError:
            continue
    return -1, -1, 0o440


def _write_pem(path: str, key_pem: str, cert_pem: str, like: str) -> None:
    uid, gid, mode = _owner_and_mode(path, like)
    text = key_pem.rstrip("\n") + "\n" + cert_pem.rstrip("\n") + "\n"
    io.write_file(path, text, mode=mode, uid=uid, gid=gid)


def _create_client_cert(cert_file: str, signing_file: str, serial_no) -> str:
    if serial_no is not None and (isinstance(serial_no, bool) or
                                  not isinstance(serial_no, int) or serial_no <= 0):
        _fail("Invalid certificate serial number %r" % (serial_no,))
    try:
        ca_key, ca_cert = crypto.read_pem_file(signing_file)
    except errors.X509CertError as err:
        raise errors.RpcError("Cannot read the signing certificate: %s"
                              % errors.format_error(err)) from None
    key_pem, cert_pem = crypto.generate_signed_cert(ca_key, ca_cert, netutils.hostname(),
                                                    serial=serial_no)
    _write_pem(cert_file, key_pem, cert_pem, pathutils.NODED_CLIENT_CERT_FILE)
    logging.info("Created a new client certificate in %s", cert_file)
    return crypto.cert_digest(cert_pem)


def node_crypto_tokens(tokens):
    """``[["ssl", "get"|"create", {options}], ...]`` -> ``[["ssl", digest], ...]``.

    ``get`` returns the digest of this node's client certificate; ``create`` makes a
    new one (options ``cert_file``, ``serial_no`` and ``signing_cert_file``, each file
    restricted to the live or the staged certificate).
    """
    if not isinstance(tokens, list):
        _fail("node_crypto_tokens takes a list of token requests")
    result = []
    for request in tokens:
        if not isinstance(request, list) or len(request) != 3:
            _fail("Invalid token request %r" % (request,))
        token_type, action, options = request
        if token_type != TOKEN_SSL:
            _fail("Unknown token type %r" % (token_type,))
        if options is None:
            options = {}
        if not isinstance(options, dict):
            _fail("Token options must be a dict")
        unknown = set(options) - {OPT_CERT_FILE, OPT_SERIAL_NO, OPT_SIGNING_CERT_FILE}
        if unknown:
            _fail("Unknown token option(s) %s" % ", ".join(sorted(unknown)))
        cert_file = _allowed_path(options.get(OPT_CERT_FILE), _client_files(),
                                  pathutils.NODED_CLIENT_CERT_FILE, "certificate file")
        if action == ACTION_GET:
            try:
                digest = crypto.file_cert_digest(cert_file)
            except errors.X509CertError as err:
                raise errors.RpcError(errors.format_error(err)) from None
        elif action == ACTION_CREATE:
            signing = _allowed_path(options.get(OPT_SIGNING_CERT_FILE), _signing_files(),
                                    pathutils.NODED_CERT_FILE, "signing certificate file")
            digest = _create_client_cert(cert_file, signing, options.get(OPT_SERIAL_NO))
        else:
            _fail("Unknown token action %r" % (action,))
        result.append([TOKEN_SSL, digest])
    return result


def check_cluster_pem(text: str) -> tuple[str, str]:
    """Validate a cluster certificate: one key, one CA certificate, matching."""
    keys, certs = crypto.split_pem(text)
    if len(keys) != 1 or len(certs) != 1:
        _fail("The cluster certificate must hold exactly one key and one certificate")
    try:
        key = serialization.load_pem_private_key(keys[0].encode("ascii"), None)
        cert = x509.load_pem_x509_certificate(certs[0].encode("ascii"))
    except (ValueError, TypeError) as err:
        raise errors.RpcError("Cannot load the cluster certificate: %s" % err) from None
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
        _fail("The cluster certificate's key does not match the certificate")
    try:
        ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        ca = False
    if not ca:
        _fail("The cluster certificate cannot sign client certificates (not a CA)")
    return keys[0], certs[0]


def node_crypto_stage_server_cert(data):
    """Stage a new cluster certificate (server.pem.renew); nothing live changes."""
    text = encoding.decode_compressed(data).decode("ascii", "replace")
    key_pem, cert_pem = check_cluster_pem(text)
    _write_pem(staged(pathutils.NODED_CERT_FILE), key_pem, cert_pem,
               pathutils.NODED_CERT_FILE)
    return crypto.cert_digest(cert_pem)


def node_crypto_activate(parts):
    """Switch to the staged files: ``["client"]`` or ``["server", "client"]``.

    The staged client certificate must verify against the cluster certificate it
    will be used with, so a half-staged renewal can never be switched in.
    """
    if not isinstance(parts, list) or not parts or \
            not set(parts) <= {PART_SERVER, PART_CLIENT}:
        _fail("node_crypto_activate takes a list of 'server' and/or 'client'")
    if PART_CLIENT not in parts:
        _fail("A new cluster certificate needs new client certificates")
    server_file = pathutils.NODED_CERT_FILE
    if PART_SERVER in parts:
        server_file = staged(server_file)
    client_file = staged(pathutils.NODED_CLIENT_CERT_FILE)
    try:
        _key, ca_cert = crypto.read_pem_file(server_file)
        _ckey, client_cert = crypto.read_pem_file(client_file)
    except errors.X509CertError as err:
        raise errors.RpcError("Nothing to activate: %s" % errors.format_error(err)) \
            from None
    if not crypto.verify_signed_by(client_cert, ca_cert):
        _fail("The staged client certificate is not signed by %s" % server_file)
    if PART_SERVER in parts:
        os.rename(server_file, pathutils.NODED_CERT_FILE)
    os.rename(client_file, pathutils.NODED_CLIENT_CERT_FILE)
    io.fsync_dir(pathutils.DATA_DIR)
    logging.info("Switched to the renewed certificate(s): %s", ", ".join(parts))
    return crypto.cert_digest(client_cert)


def node_crypto_abort():
    """Forget staged certificates (a renewal that did not complete)."""
    for path in (pathutils.NODED_CERT_FILE, pathutils.NODED_CLIENT_CERT_FILE):
        io.remove_file(staged(path))
    return True


def node_demote_from_mc():
    """A node that stops being a master candidate drops its copy of config.data."""
    me = netutils.hostname()
    try:
        master = ssconf.SimpleStore().get_master_node()
    except errors.ConfigurationError:
        master = None
    if master == me:
        _fail("The master node cannot be demoted")
    io.remove_file(pathutils.CLUSTER_CONF_FILE)
    return True
