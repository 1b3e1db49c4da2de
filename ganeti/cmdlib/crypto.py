"""Cluster crypto: ``gnt-cluster renew-crypto`` (LUClusterRenewCrypto) and the SSH key
helpers used by node add/remove/modify (cluster key, ganeti_pub_keys).

Secrets never enter the opcode or the job result: files named by the opcode are read
here, on the master, and keys travel only in node RPC bodies or over SSH.
"""

import os
import time

from ganeti import constants
from ganeti import crypto
from ganeti import errors
from ganeti import locking
from ganeti import pathutils
from ganeti.backend import crypto_tokens as tokens
from ganeti.backend import sshkeys
from ganeti.cmdlib.base import NoHooksLU
from ganeti.rpc import encoding
from ganeti.rpc.node import prepare_upload
from ganeti.utils import io

# How long nodes may take to serve a renewed cluster certificate (noded re-reads
# server.pem at most once a second)
CERT_SWITCH_TIMEOUT = 20
BOOTSTRAP_KEY = "bootstrap"


# --- SSH helpers shared with the node LUs ------------------------------------------

def cluster_key_type(cluster) -> str:
    return cluster.ssh_key_type or constants.SSH_DEFAULT_KEY_TYPE


def read_cluster_public_key(cluster) -> str | None:
    _priv, pub = sshkeys.root_key_paths(cluster_key_type(cluster))
    try:
        return sshkeys.check_public_key(io.read_file(pub))
    except (OSError, errors.RpcError):
        return None




def update_pub_keys(lu, set_entries=(), remove_uuids=()) -> list | None:
    """Change ganeti_pub_keys on the master and copy the result to the candidates.

    Returns the master's resulting list (None if the master could not be asked).
    """
    cfg = lu.cfg
    master = cfg.get_master_node()
    res = lu.rpc.call_single("node_ssh_pub_keys_update", master,
                             [[list(e) for e in set_entries], list(remove_uuids), False])
    if res.fail_msg:
        lu.log_warning("Cannot update %s on the master: %s", pathutils.SSH_PUB_KEYS,
                       res.fail_msg)
        return None
    entries = res.payload
    candidates = [u for u, n in cfg.get_all_nodes_info().items()
                  if n.master_candidate and not n.offline and u != master]
    if candidates:
        for item in lu.rpc.call("node_ssh_pub_keys_update", candidates,
                                [entries, [], True]).values():
            if item.fail_msg:
                lu.log_warning("Cannot copy %s to node %s: %s", pathutils.SSH_PUB_KEYS,
                               item.node, item.fail_msg)
    return entries



def remove_node_ssh_keys(lu, node, feedback_fn) -> None:
    """S2.4: a removed node's key leaves the other nodes' authorized_keys and
    ganeti_pub_keys; the node itself loses the cluster key pair and its authorization.

    A key still recorded for a remaining node (the shared cluster key) stays
    authorized: only a key renewal revokes it.
    """
    cluster = lu.cfg.get_cluster_info()
    if not cluster.modify_ssh_setup:
        return
    master = lu.cfg.get_master_node()
    res = lu.rpc.call_single("node_ssh_pub_keys_update", master, [[], [], False])
    if res.fail_msg:
        lu.log_warning("Cannot read %s on the master: %s", pathutils.SSH_PUB_KEYS,
                       res.fail_msg)
        return
    entries = res.payload or []
    own = [key for uuid, key in entries if uuid == node.uuid]
    still_used = {sshkeys.line_key(key) for uuid, key in entries if uuid != node.uuid}
    revoke = [key for key in own if sshkeys.line_key(key) not in still_used]
    remaining = [u for u, n in lu.cfg.get_all_nodes_info().items()
                 if not n.offline and u != node.uuid]
    for item in lu.rpc.call("node_ssh_key_remove", remaining,
                            [revoke, [node.uuid], False]).values():
        if item.fail_msg:
            lu.log_warning("Cannot remove the SSH key of %s on %s: %s", node.name,
                           item.node, item.fail_msg)
    if own and not node.offline:
        item = lu.rpc.call_single("node_ssh_key_remove", (node.name, node.primary_ip),
                                  [own, [], True])
        if item.fail_msg:
            lu.log_warning("Cannot remove the cluster SSH key from %s: %s", node.name,
                           item.fail_msg)
    if len(revoke) < len(own):
        feedback_fn("Node %s held the cluster's shared SSH key; run 'gnt-cluster "
                    "renew-crypto --new-ssh-keys' to revoke that copy" % node.name)


def client_cert_digest(lu, node_uuid: str) -> str:
    """The digest of a node's client certificate (node_crypto_tokens "get")."""
    res = lu.rpc.call_single("node_crypto_tokens", node_uuid,
                             [[[tokens.TOKEN_SSL, tokens.ACTION_GET, {}]]])
    res.raise_on_fail("Cannot get the client certificate digest of node %s"
                      % lu.cfg.get_node_name(node_uuid))
    try:
        (token_type, digest), = res.payload
    except (TypeError, ValueError):
        raise errors.OpExecError("Invalid crypto token answer from %s"
                                 % lu.cfg.get_node_name(node_uuid)) from None
    if token_type != tokens.TOKEN_SSL or not isinstance(digest, str):
        raise errors.OpExecError("Invalid crypto token answer from %s"
                                 % lu.cfg.get_node_name(node_uuid))
    return digest


# --- file validation ---------------------------------------------------------------

def _read_given_file(path: str, what: str) -> str:
    if not os.path.isabs(path):
        raise errors.OpPrereqError("The %s file must be given as an absolute path: %s"
                                   % (what, path), errors.ECODE_INVAL)
    try:
        return io.read_file(path)
    except (OSError, UnicodeDecodeError) as err:
        raise errors.OpPrereqError("Cannot read the %s file %s: %s" % (what, path, err),
                                   errors.ECODE_ENVIRON) from None


def load_key_cert_file(path: str, what: str) -> str:
    """A PEM file with one private key and its certificate, normalised."""
    text = _read_given_file(path, what)
    keys, certs = crypto.split_pem(text)
    if len(keys) != 1 or not certs:
        raise errors.OpPrereqError("The %s file %s must hold a PEM private key and a "
                                   "certificate" % (what, path), errors.ECODE_INVAL)
    try:
        _check_pair(keys[0], certs[0])
    except errors.GenericError as err:
        raise errors.OpPrereqError("Invalid %s file %s: %s" % (what, path,
                                                              errors.format_error(err)),
                                   errors.ECODE_INVAL) from None
    return keys[0] + certs[0]


def _check_pair(key_pem: str, cert_pem: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), None)
        cert = x509.load_pem_x509_certificate(cert_pem.encode("ascii"))
    except (ValueError, TypeError) as err:
        raise errors.X509CertError("<file>", "cannot load: %s" % err) from None
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*fmt) != cert.public_key().public_bytes(*fmt):
        raise errors.X509CertError("<file>", "the key does not match the certificate")


def load_cert_file(path: str, what: str) -> str:
    text = _read_given_file(path, what)
    certs = crypto.split_pem(text)[1]
    if not certs:
        raise errors.OpPrereqError("The %s file %s holds no PEM certificate"
                                   % (what, path), errors.ECODE_INVAL)
    try:
        crypto.cert_digest(certs[0])
    except errors.GenericError as err:
        raise errors.OpPrereqError("Invalid %s file %s: %s" % (what, path,
                                                              errors.format_error(err)),
                                   errors.ECODE_INVAL) from None
    return "".join(certs)


def load_domain_secret_file(path: str) -> str:
    text = _read_given_file(path, "cluster domain secret")
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if len(secret) < 16 or any(c.isspace() for c in secret):
        raise errors.OpPrereqError("The cluster domain secret file %s must start with a "
                                   "secret of at least 16 characters on one line" % path,
                                   errors.ECODE_INVAL)
    return secret + "\n"


# --- the LU ----------------------------------------------------------------------------

class LUClusterRenewCrypto(NoHooksLU):
    """Renew the cluster's certificates, keys and secrets on every node, online."""

    REQ_BGL = True

    def check_arguments(self):
        op = self.op
        pairs = [(op.new_rapi_certificate, op.rapi_certificate_file, "RAPI certificate"),
                 (op.new_spice_certificate, op.spice_certificate_file, "SPICE certificate"),
                 (op.new_cluster_domain_secret, op.cluster_domain_secret_file,
                  "cluster domain secret")]
        for new, given, what in pairs:
            if new and given:
                raise errors.OpPrereqError("Generate a new %s or give one in a file, not "
                                           "both" % what, errors.ECODE_INVAL)
        if bool(op.spice_certificate_file) != bool(op.spice_ca_certificate_file):
            raise errors.OpPrereqError("The SPICE certificate and its CA certificate must "
                                       "be given together", errors.ECODE_INVAL)
        if (op.ssh_key_type or op.ssh_key_bits) and not op.renew_ssh_keys:
            raise errors.OpPrereqError("The SSH key type and size apply only with new SSH "
                                       "keys", errors.ECODE_INVAL)
        wanted = [op.new_cluster_certificate, op.node_certificates,
                  op.new_rapi_certificate, op.rapi_certificate_file,
                  op.new_spice_certificate, op.spice_certificate_file,
                  op.new_confd_hmac_key, op.new_cluster_domain_secret,
                  op.cluster_domain_secret_file, op.renew_ssh_keys]
        if not any(wanted):
            raise errors.OpPrereqError("Nothing to renew was requested", errors.ECODE_INVAL)

    def expand_names(self):
        self.needed_locks = {locking.LEVEL_NODE: locking.ALL_SET}

    def check_prereq(self):
        op = self.op
        cluster = self.cfg.get_cluster_info()
        # Given files are read now, before anything changes anywhere
        self.rapi_pem = load_key_cert_file(op.rapi_certificate_file, "RAPI certificate") \
            if op.rapi_certificate_file else None
        self.spice_pem = self.spice_ca_pem = None
        if op.spice_certificate_file:
            self.spice_pem = load_key_cert_file(op.spice_certificate_file,
                                                "SPICE certificate")
            self.spice_ca_pem = load_cert_file(op.spice_ca_certificate_file,
                                               "SPICE CA certificate")
        self.cds = load_domain_secret_file(op.cluster_domain_secret_file) \
            if op.cluster_domain_secret_file else None
        if op.renew_ssh_keys:
            self.ssh_key_type = op.ssh_key_type or cluster_key_type(cluster)
            bits = op.ssh_key_bits
            if bits is None and self.ssh_key_type == cluster_key_type(cluster):
                bits = cluster.ssh_key_bits
            self.ssh_key_bits = sshkeys.check_key_params(self.ssh_key_type, bits)

    # --- helpers ---------------------------------------------------------------------
    def _online(self) -> list[str]:
        master = self.cfg.get_master_node()
        nodes = [u for u, n in self.cfg.get_all_nodes_info().items() if not n.offline]
        # the master last: its own files change only after the others have the new ones
        return [u for u in nodes if u != master] + [master]

    def _warn_offline(self, feedback_fn) -> None:
        for node in self.cfg.get_all_nodes_info().values():
            if node.offline:
                self.log_warning("Node %s is offline and keeps the old credentials; "
                                 "re-add it when it is back", node.name)

    def _write_local(self, path: str, content: str, default_mode: int) -> None:
        try:
            st = os.stat(path)
            uid, gid, mode = st.st_uid, st.st_gid, st.st_mode & 0o7777
        except OSError:
            uid, gid, mode = -1, -1, default_mode
        io.write_file(path, content, mode=mode, uid=uid, gid=gid)

    def _distribute_file(self, path: str) -> None:
        master = self.cfg.get_master_node()
        nodes = [u for u in self._online() if u != master]
        if not nodes:
            return
        results = self.rpc.call("upload_file", nodes, [prepare_upload(path)])
        for res in results.values():
            if res.fail_msg:
                self.log_warning("Copy of %s to node %s failed: %s",
                                 os.path.basename(path), res.node, res.fail_msg)

    def _replace_file(self, feedback_fn, path: str, content: str, mode: int,
                      what: str) -> str:
        feedback_fn("Updating the %s (%s) on all nodes" % (what, os.path.basename(path)))
        self._write_local(path, content, mode)
        self._distribute_file(path)
        return what

    # --- exec ---------------------------------------------------------------------------
    def exec(self, feedback_fn):
        op = self.op
        done = []
        self._warn_offline(feedback_fn)
        if op.new_rapi_certificate or self.rapi_pem:
            pem = self.rapi_pem
            if pem is None:
                key, cert = crypto.generate_self_signed_cert(constants.X509_CERT_CN)
                pem = key + cert
            done.append(self._replace_file(feedback_fn, pathutils.RAPI_CERT_FILE, pem,
                                           0o440, "RAPI certificate"))
        if op.new_spice_certificate or self.spice_pem:
            pem, ca_pem = self.spice_pem, self.spice_ca_pem
            if pem is None:
                key, cert = crypto.generate_self_signed_cert(constants.X509_CERT_CN)
                pem, ca_pem = key + cert, cert
            self._replace_file(feedback_fn, pathutils.SPICE_CACERT_FILE, ca_pem, 0o440,
                               "SPICE CA certificate")
            done.append(self._replace_file(feedback_fn, pathutils.SPICE_CERT_FILE, pem,
                                           0o440, "SPICE certificate"))
        if op.new_confd_hmac_key:
            done.append(self._replace_file(feedback_fn, pathutils.CONFD_HMAC_KEY,
                                           crypto.generate_hmac_key(), 0o440,
                                           "confd HMAC key"))
        if op.new_cluster_domain_secret or self.cds:
            secret = self.cds or crypto.generate_secret(20) + "\n"
            done.append(self._replace_file(feedback_fn,
                                           pathutils.CLUSTER_DOMAIN_SECRET_FILE, secret,
                                           0o640, "cluster domain secret"))
        if op.new_cluster_certificate or op.node_certificates:
            self._renew_node_certs(feedback_fn, op.new_cluster_certificate)
            if op.new_cluster_certificate:
                done.append("cluster certificate")
            done.append("node certificates")
        if op.renew_ssh_keys:
            self._renew_ssh_keys(feedback_fn)
            done.append("SSH keys")
        return done

    # --- certificates ----------------------------------------------------------------
    def _abort(self, nodes) -> None:
        for res in self.rpc.call("node_crypto_abort", nodes, []).values():
            if res.fail_msg:
                self.log_warning("Cannot remove the staged certificates on %s: %s",
                                 res.node, res.fail_msg)

    def _check_all(self, results: dict, nodes: list, what: str) -> None:
        failed = ["%s: %s" % (results[u].node, results[u].fail_msg) for u in nodes
                  if results[u].fail_msg]
        if failed:
            self._abort(nodes)
            raise errors.OpExecError("%s failed, nothing was changed: %s"
                                     % (what, "; ".join(failed)))

    def _set_candidate_map(self, cluster, new_map: dict, nodes: list) -> None:
        cluster.candidate_certs = new_map
        self.cfg.update(cluster)
        # The distribution above only logs failures; the switch needs certainty
        values = self.cfg.get_ssconf_values()
        results = self.rpc.call("write_ssconf_files", nodes, [values])
        failed = [r.node for r in results.values() if r.fail_msg]
        if failed:
            raise errors.OpExecError("Cannot update the candidate certificate list on "
                                     "%s" % ", ".join(failed))

    def _renew_node_certs(self, feedback_fn, new_server: bool) -> None:
        """Stage new certificates everywhere, then switch (others first, master last).

        While staging nothing live changes.  The candidate map then lists the old
        digests plus the master's new one (as ``bootstrap``), so that each node accepts
        the master both before and after its own switch; the final map has only the
        new digests.
        """
        cluster = self.cfg.get_cluster_info()
        master = self.cfg.get_master_node()
        nodes = self._online()
        options = {tokens.OPT_CERT_FILE:
                   pathutils.virtualize(tokens.staged(pathutils.NODED_CLIENT_CERT_FILE))}
        parts = [tokens.PART_CLIENT]
        if new_server:
            feedback_fn("Generating a new cluster certificate")
            key, cert = crypto.generate_self_signed_cert(constants.X509_CERT_CN)
            results = self.rpc.call("node_crypto_stage_server_cert", nodes,
                                    [encoding.encode_compressed(key + cert)])
            self._check_all(results, nodes, "Staging the new cluster certificate")
            options[tokens.OPT_SIGNING_CERT_FILE] = \
                pathutils.virtualize(tokens.staged(pathutils.NODED_CERT_FILE))
            parts.insert(0, tokens.PART_SERVER)
        feedback_fn("Creating new client certificates on %d node(s)" % len(nodes))
        options[tokens.OPT_SERIAL_NO] = int(time.time())
        results = self.rpc.call("node_crypto_tokens", nodes,
                                [[[tokens.TOKEN_SSL, tokens.ACTION_CREATE, options]]])
        self._check_all(results, nodes, "Creating the new client certificates")
        digests = {}
        for uuid in nodes:
            payload = results[uuid].payload
            try:
                digests[uuid] = payload[0][1]
            except (TypeError, IndexError, KeyError):
                self._abort(nodes)
                raise errors.OpExecError("Invalid crypto token answer from %s"
                                         % results[uuid].node) from None
        old_map = dict(cluster.candidate_certs)
        transitional = dict(old_map)
        transitional[BOOTSTRAP_KEY] = digests[master]
        try:
            self._set_candidate_map(cluster, transitional, nodes)
        except errors.OpExecError:
            self._abort(nodes)
            self._set_candidate_map(cluster, old_map, nodes)
            raise
        feedback_fn("Switching the nodes to the new certificates")
        others = [u for u in nodes if u != master]
        failed = []
        if others:
            results = self.rpc.call("node_crypto_activate", others, [parts])
            failed = [u for u in others if results[u].fail_msg]
            for uuid in failed:
                self.log_warning("Node %s could not switch to its new certificate: %s",
                                 results[uuid].node, results[uuid].fail_msg)
        res = self.rpc.call_single("node_crypto_activate", master, [parts])
        if res.fail_msg:
            raise errors.OpExecError("The master could not switch to its new "
                                     "certificate: %s" % res.fail_msg)
        switched = [u for u in others if u not in failed] + [master]
        if new_server:
            self._wait_for_switch(switched)
        new_map = {}
        for uuid, node in self.cfg.get_all_nodes_info().items():
            if not node.master_candidate:
                continue
            if uuid in digests and uuid not in failed:
                new_map[uuid] = digests[uuid]
            elif uuid in old_map and not new_server:
                # still valid: signed by the unchanged cluster certificate
                new_map[uuid] = old_map[uuid]
        self._set_candidate_map(cluster, new_map, switched)
        if failed:
            raise errors.OpExecError("Node(s) %s kept their old certificates"
                                     % ", ".join(self.cfg.get_node_name(u)
                                                 for u in failed))

    def _wait_for_switch(self, nodes: list) -> None:
        """Wait until every node serves the new cluster certificate."""
        deadline = time.monotonic() + CERT_SWITCH_TIMEOUT
        pending = list(nodes)
        while pending and time.monotonic() < deadline:
            results = self.rpc.call("version", pending, [])
            pending = [u for u in pending if results[u].fail_msg]
            if pending:
                time.sleep(0.3)
        for uuid in pending:
            self.log_warning("Node %s does not answer with the new certificate yet",
                             self.cfg.get_node_name(uuid))

    # --- SSH keys ------------------------------------------------------------------------
    def _renew_ssh_keys(self, feedback_fn) -> None:
        cluster = self.cfg.get_cluster_info()
        old_type = cluster_key_type(cluster)
        old_public = read_cluster_public_key(cluster)
        new_type, bits = self.ssh_key_type, self.ssh_key_bits
        feedback_fn("Generating a new %s SSH key pair (%d bits)" % (new_type, bits))
        private, public = sshkeys.generate_key_pair(new_type, bits,
                                                    "root@%s" % cluster.cluster_name)
        nodes = self._online()
        feedback_fn("Installing the new SSH key on %d node(s)" % len(nodes))
        results = self.rpc.call("node_ssh_keys_renew", nodes,
                                [new_type, private, public, old_type])
        failed = [u for u in nodes if results[u].fail_msg]
        if self.cfg.get_master_node() not in failed:
            cluster.ssh_key_type, cluster.ssh_key_bits = new_type, bits
            self.cfg.update(cluster)
        done = [u for u in nodes if u not in failed]
        update_pub_keys(self, [[u, public] for u in done])
        if failed:
            raise errors.OpExecError(
                "The new SSH key could not be installed on %s; the old key stays "
                "authorized: %s" % (", ".join(results[u].node for u in failed),
                                    "; ".join(results[u].fail_msg for u in failed)))
        if old_public and sshkeys.line_key(old_public) != sshkeys.line_key(public):
            feedback_fn("Removing the old SSH key from authorized_keys")
            for res in self.rpc.call("node_ssh_key_remove", nodes,
                                     [[old_public], [], False]).values():
                if res.fail_msg:
                    self.log_warning("Cannot remove the old SSH key on %s: %s",
                                     res.node, res.fail_msg)
