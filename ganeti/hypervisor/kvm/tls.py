"""x509 credentials for TLS-protected live migration, made from the cluster certificate.

The cluster certificate (server.pem, the same self-signed CA on every node) is the
trust anchor; each node signs a migration certificate of its own with the cluster key.
qemu's ``tls-creds-x509`` objects read them from two directories (server and client
side), each with ca-cert.pem and a certificate/key pair.
"""

import os

from ganeti import crypto
from ganeti import errors
from ganeti import pathutils
from ganeti.utils import io

# The name the migration certificates carry; qemu checks it as "tls-hostname".
TLS_HOSTNAME = "ganeti-migration"
CLIENT_OBJECT_ID = "ganeti-migration-client"
SERVER_OBJECT_ID = "ganeti-migration-server"
_RENEW_DAYS = 30


def _needs_renewal(cert_dir: str, cluster_cert: str, leaf_name: str) -> bool:
    import datetime
    try:
        current_ca = io.read_file(os.path.join(cert_dir, "ca-cert.pem"))
        leaf = io.read_file(os.path.join(cert_dir, leaf_name + "-cert.pem"))
        if not os.path.exists(os.path.join(cert_dir, leaf_name + "-key.pem")):
            return True
    except OSError:
        return True
    if current_ca.strip() != cluster_cert.strip():
        return True
    if not crypto.verify_signed_by(leaf, cluster_cert):
        return True
    left = crypto.cert_not_after(leaf) - datetime.datetime.now(datetime.UTC)
    return left < datetime.timedelta(days=_RENEW_DAYS)


def ensure_credentials(tls_dir: str, cluster_pem: str | None = None) -> tuple[str, str]:
    """(server dir, client dir), (re)made when missing or from an older cluster CA."""
    cluster_pem = cluster_pem or pathutils.NODED_CERT_FILE
    try:
        ca_key, ca_cert = crypto.read_pem_file(cluster_pem)
    except (OSError, errors.GenericError) as err:
        raise errors.HypervisorError("Cannot read the cluster certificate %s for "
                                     "migration TLS: %s" % (cluster_pem, err)) from None
    server_dir = os.path.join(tls_dir, "server")
    client_dir = os.path.join(tls_dir, "client")
    if not (_needs_renewal(server_dir, ca_cert, "server") or
            _needs_renewal(client_dir, ca_cert, "client")):
        return server_dir, client_dir
    key_pem, cert_pem = crypto.generate_signed_cert(ca_key, ca_cert, TLS_HOSTNAME)
    for directory, leaf in ((server_dir, "server"), (client_dir, "client")):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        io.write_file(os.path.join(directory, "ca-cert.pem"), ca_cert, mode=0o600)
        io.write_file(os.path.join(directory, leaf + "-key.pem"), key_pem, mode=0o600)
        io.write_file(os.path.join(directory, leaf + "-cert.pem"), cert_pem, mode=0o600)
    return server_dir, client_dir


def object_arg(object_id: str, directory: str, endpoint: str) -> str:
    """The value of qemu's -object option for one side."""
    arg = "tls-creds-x509,id=%s,dir=%s,endpoint=%s" % (object_id, directory, endpoint)
    if endpoint == "server":
        arg += ",verify-peer=on"
    return arg
