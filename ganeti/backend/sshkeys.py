"""Node-side SSH key handling (S2): host keys, root's key pair, authorized_keys and
the ganeti_pub_keys list.  A file that is replaced is always kept as a backup first
(``<file>.ganeti-backup-<timestamp>``); authorized_keys is edited line by line.
"""

import base64
import binascii
import logging
import os
import shutil
import time

from cryptography.hazmat.primitives import serialization

from ganeti import errors
from ganeti import pathutils
from ganeti.utils import io
from ganeti.utils import process

BACKUP_TAG = ".ganeti-backup-"
# Cluster key types (gnt-cluster init --ssh-key-type) -> file name of root's key
ROOT_KEY_NAMES = {"rsa": "id_rsa", "dsa": "id_dsa", "ecdsa": "id_ecdsa"}
HOST_KEY_TYPES = ("rsa", "dsa", "ecdsa", "ed25519")
_KEY_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")
_MAX_KEY_TEXT = 64 * 1024


def _fail(message: str) -> None:
    raise errors.RpcError(message)


# --- key parsing --------------------------------------------------------------------

def _tokens(line: str) -> list[str]:
    """Split an authorized_keys line on blanks outside double quotes (options)."""
    out, cur, quoted = [], [], False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char in " \t" and not quoted:
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(char)
    if cur:
        out.append("".join(cur))
    return out


def _valid_blob(key_type: str, blob: str) -> bool:
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return False
    # The blob starts with the key type as an SSH string (4-byte length + name)
    name = key_type.encode("ascii", "replace")
    return raw[:4] == len(name).to_bytes(4, "big") and raw[4:4 + len(name)] == name


def line_key(line: str) -> tuple[str, str] | None:
    """(type, base64) of the key on an authorized_keys/public key line, or None."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    fields = _tokens(text)
    for idx in range(len(fields) - 1):
        if fields[idx].startswith(_KEY_PREFIXES) and _valid_blob(fields[idx],
                                                                  fields[idx + 1]):
            return fields[idx], fields[idx + 1]
    return None


def check_public_key(text) -> str:
    """Validate one OpenSSH public key line; return it stripped."""
    if not isinstance(text, str) or "\n" in text.strip() or len(text) > _MAX_KEY_TEXT:
        _fail("An SSH public key must be one line of text")
    text = text.strip()
    fields = text.split()
    if len(fields) < 2 or not fields[0].startswith(_KEY_PREFIXES) or \
            not _valid_blob(fields[0], fields[1]):
        _fail("Malformed SSH public key: %r" % text[:60])
    return text


def check_key_pair(private_key, public_key) -> None:
    """Refuse a private key that is malformed or does not belong to ``public_key``."""
    if not isinstance(private_key, str) or len(private_key) > _MAX_KEY_TEXT or \
            "PRIVATE KEY-----" not in private_key:
        _fail("Malformed SSH private key")
    public_key = check_public_key(public_key)
    try:
        key = serialization.load_ssh_private_key(private_key.encode("ascii"), None)
    except (ValueError, TypeError, UnicodeEncodeError):
        try:
            key = serialization.load_pem_private_key(private_key.encode("ascii"), None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise errors.RpcError("Cannot load the SSH private key") from None
    try:
        derived = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH)
    except (ValueError, TypeError):
        raise errors.RpcError("Unsupported SSH private key type") from None
    if derived.decode("ascii").split()[:2] != public_key.split()[:2]:
        _fail("The SSH private key does not match its public key")


def key_type_of(public_key: str) -> str:
    return check_public_key(public_key).split()[0]


# --- files --------------------------------------------------------------------------

def backup_file(path: str) -> str | None:
    """Keep the current content of ``path`` under a backup name; return that name.

    The backup is a private copy (mode 0600, same owner): ``path`` stays in place
    until it is atomically replaced, so sshd never misses the file, and a backup of a
    key is never more readable than a key.
    """
    if not os.path.lexists(path):
        return None
    stamp = time.strftime("%Y%m%d%H%M%S")
    backup = "%s%s%s" % (path, BACKUP_TAG, stamp)
    count = 1
    while os.path.lexists(backup):
        backup = "%s%s%s-%d" % (path, BACKUP_TAG, stamp, count)
        count += 1
    if os.path.islink(path):
        shutil.copy2(path, backup, follow_symlinks=False)
    else:
        st = os.stat(path)
        io.write_file(backup, io.read_binary(path), mode=0o600, uid=st.st_uid,
                      gid=st.st_gid)
    logging.info("Kept %s as %s", path, backup)
    return backup


def replace_file(path: str, content: str, mode: int, backups: list) -> bool:
    """Write ``content`` to ``path`` unless it is there already; back up the old file.

    Returns True if the file changed; backup names are appended to ``backups``.
    """
    try:
        same = io.read_file(path) == content and \
            (os.lstat(path).st_mode & 0o7777) == mode and not os.path.islink(path)
    except (OSError, UnicodeDecodeError):
        same = False
    if same:
        return False
    backup = backup_file(path)
    if backup:
        backups.append(backup)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    if os.path.islink(path):
        os.unlink(path)  # the link itself is kept in the backup
    io.write_file(path, content, mode=mode)
    return True


def _read_lines(path: str) -> list[str]:
    try:
        return io.read_file(path).splitlines(keepends=True)
    except FileNotFoundError:
        return []


def add_authorized_keys(path: str, keys: list[str], backups: list) -> int:
    """Append the keys missing from authorized_keys ``path``; other lines stay as they
    are.  Returns the number of keys added."""
    lines = _read_lines(path)
    present = {line_key(line) for line in lines}
    added = []
    for key in keys:
        key = check_public_key(key)
        ident = line_key(key)
        if ident not in present:
            added.append(key + "\n")
            present.add(ident)
    if not added:
        return 0
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o600
    replace_file(path, "".join(lines + added), mode, backups)
    return len(added)


def remove_authorized_keys(path: str, keys: list[str], backups: list) -> int:
    """Remove the lines carrying one of ``keys`` (compared by type and key data, not
    comment or options); every other line is kept byte for byte."""
    lines = _read_lines(path)
    if not lines:
        return 0
    drop = {line_key(check_public_key(k)) for k in keys}
    kept = [line for line in lines if line_key(line) not in drop]
    removed = len(lines) - len(kept)
    if removed:
        replace_file(path, "".join(kept), os.stat(path).st_mode & 0o7777, backups)
    return removed


def root_key_paths(key_type: str, ssh_root_dir: str | None = None) -> tuple[str, str]:
    if key_type not in ROOT_KEY_NAMES:
        _fail("Unknown SSH key type %r (valid: %s)"
              % (key_type, ", ".join(sorted(ROOT_KEY_NAMES))))
    base = os.path.join(ssh_root_dir or pathutils.SSH_ROOT_DIR, ROOT_KEY_NAMES[key_type])
    return base, base + ".pub"


def install_root_key(key_type: str, private_key: str, public_key: str, backups: list,
                     ssh_root_dir: str | None = None) -> bool:
    check_key_pair(private_key, public_key)
    priv_path, pub_path = root_key_paths(key_type, ssh_root_dir)
    if not private_key.endswith("\n"):
        private_key += "\n"
    changed = replace_file(priv_path, private_key, 0o600, backups)
    changed |= replace_file(pub_path, public_key.strip() + "\n", 0o644, backups)
    return changed


def install_host_keys(host_keys: dict, backups: list,
                      ssh_config_dir: str | None = None) -> bool:
    """Write ``{type: [private, public]}`` as ssh_host_<type>_key(.pub)."""
    if not isinstance(host_keys, dict) or not host_keys:
        _fail("Host keys must be a non-empty dict")
    directory = ssh_config_dir or pathutils.SSH_CONFIG_DIR
    pairs = []
    for key_type, pair in sorted(host_keys.items()):
        if key_type not in HOST_KEY_TYPES:
            _fail("Unknown SSH host key type %r" % (key_type,))
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            _fail("Host key %s must be a [private, public] pair" % key_type)
        check_key_pair(pair[0], pair[1])
        pairs.append((key_type, pair[0], pair[1]))
    changed = False
    for key_type, private, public in pairs:
        base = os.path.join(directory, "ssh_host_%s_key" % key_type)
        changed |= replace_file(base, private if private.endswith("\n") else private + "\n",
                                0o600, backups)
        changed |= replace_file(base + ".pub", public.strip() + "\n", 0o644, backups)
    return changed


def reload_sshd() -> None:
    """Make a real node's sshd use replaced host keys (a virtual cluster's shared sshd
    serves the cluster's keys already)."""
    if pathutils.is_virtual():
        return
    for cmd in (["systemctl", "try-reload-or-restart", "ssh"],
                ["service", "ssh", "reload"]):
        if not process.run_cmd(cmd, timeout=60).failed:
            return
    logging.warning("Could not reload sshd; restart it to use the cluster host keys")


def authorized_keys_file(ssh_root_dir: str | None = None) -> str:
    return os.path.join(ssh_root_dir or pathutils.SSH_ROOT_DIR, "authorized_keys")


# --- ganeti_pub_keys ------------------------------------------------------------------

def read_pub_keys(path: str | None = None) -> list[list[str]]:
    """[[node uuid, public key], ...] in file order; missing file -> []."""
    entries = []
    for line in _read_lines(path or pathutils.SSH_PUB_KEYS):
        fields = line.strip().split(None, 1)
        if len(fields) == 2:
            entries.append([fields[0], fields[1]])
    return entries


def write_pub_keys(entries: list, path: str | None = None) -> None:
    text = "".join("%s %s\n" % (uuid, key) for uuid, key in entries)
    io.write_file(path or pathutils.SSH_PUB_KEYS, text, mode=0o600)


def _check_entries(entries) -> list[list[str]]:
    if not isinstance(entries, list):
        _fail("Public key entries must be a list")
    out = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 2 or \
                not isinstance(entry[0], str) or not entry[0] or \
                any(c.isspace() for c in entry[0]):
            _fail("Invalid public key entry %r" % (entry,))
        out.append([entry[0], check_public_key(entry[1])])
    return out


def _check_str_list(value, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail("%s must be a list of strings" % what)
    return value


# --- join (run locally by prepare-node-join) -------------------------------------------

def setup_node_ssh(data: dict) -> list[str]:
    """Install the cluster's host keys, root key pair and authorized key on this host.

    ``data``: ``{"host_keys": {type: [priv, pub]}, "root_key": {"type", "private",
    "public"}, "authorized_keys": [pub, ...]}``.  Everything is validated before any
    file is touched.  Returns the backups made.
    """
    if not isinstance(data, dict):
        _fail("SSH join data must be a dict")
    host_keys = data.get("host_keys") or {}
    root = data.get("root_key")
    authorized = _check_str_list(data.get("authorized_keys", []), "authorized_keys")
    for key in authorized:
        check_public_key(key)
    if host_keys:
        for pair in host_keys.values():
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                _fail("Host keys must be [private, public] pairs")
            check_key_pair(pair[0], pair[1])
    if root is not None:
        if not isinstance(root, dict):
            _fail("root_key must be a dict")
        root_key_paths(root.get("type"))
        check_key_pair(root.get("private"), root.get("public"))
    backups: list[str] = []
    host_changed = install_host_keys(host_keys, backups) if host_keys else False
    if root is not None:
        install_root_key(root["type"], root["private"], root["public"], backups)
    if authorized:
        add_authorized_keys(authorized_keys_file(), authorized, backups)
    if host_changed:
        reload_sshd()
    return backups


# --- RPC procedures ------------------------------------------------------------------

def node_ssh_keys_renew(key_type, private_key, public_key, old_key_type=None):
    """Install a new cluster root key pair and authorize its public key.

    The old authorized key is removed separately (``node_ssh_key_remove``) once every
    node has the new one.  A key file of another (old) type is moved to a backup.
    """
    root_key_paths(key_type)
    check_key_pair(private_key, public_key)
    backups: list[str] = []
    install_root_key(key_type, private_key, public_key, backups)
    add_authorized_keys(authorized_keys_file(), [public_key], backups)
    if old_key_type and old_key_type != key_type:
        for path in root_key_paths(old_key_type):
            if os.path.lexists(path):
                backups.append(backup_file(path))
                os.unlink(path)
    return backups


def node_ssh_key_remove(keys, uuids, remove_root_key=False):
    """Remove ``keys`` from root's authorized_keys and ``uuids`` from ganeti_pub_keys.

    With ``remove_root_key`` (a node leaving the cluster) root's key files holding one
    of ``keys`` are deleted too.  Returns the number of authorized_keys lines removed.
    """
    keys = [check_public_key(k) for k in _check_str_list(keys, "keys")]
    uuids = _check_str_list(uuids, "uuids")
    backups: list[str] = []
    removed = remove_authorized_keys(authorized_keys_file(), keys, backups) if keys else 0
    if uuids and os.path.exists(pathutils.SSH_PUB_KEYS):
        entries = read_pub_keys()
        kept = [e for e in entries if e[0] not in uuids]
        if kept != entries:
            write_pub_keys(kept)
    if remove_root_key and keys:
        idents = {line_key(k) for k in keys}
        for key_type in ROOT_KEY_NAMES:
            priv, pub = root_key_paths(key_type)
            try:
                ident = line_key(io.read_file(pub))
            except (OSError, UnicodeDecodeError):
                continue
            if ident in idents:
                io.remove_file(priv)
                io.remove_file(pub)
    return removed


def node_ssh_pub_keys_update(set_entries, remove_uuids, replace_all=False):
    """Change this node's ganeti_pub_keys and return its resulting content.

    ``replace_all`` makes ``set_entries`` the whole list; otherwise entries replace
    those of the same node uuid (or are appended) and ``remove_uuids`` are dropped.
    Without changes the file is only read.
    """
    entries = _check_entries(set_entries)
    remove = set(_check_str_list(remove_uuids, "remove_uuids"))
    current = [] if replace_all else read_pub_keys()
    if replace_all:
        result = entries
    else:
        new = {uuid: key for uuid, key in entries}
        result = []
        for uuid, key in current:
            if uuid in remove:
                continue
            result.append([uuid, new.pop(uuid, key)])
        result += [[u, k] for u, k in entries if u in new]
    if replace_all or result != current:
        write_pub_keys(result)
    return result


# --- key generation (master side) -----------------------------------------------------

_SUPPORTED_TYPES = ("rsa", "ecdsa")
_ECDSA_BITS = (256, 384, 521)


def check_key_params(key_type: str, bits: int | None) -> int:
    """Validate a cluster key type and size; return the size to use.

    DSA keys are refused: current OpenSSH servers no longer accept them and the SSH
    client library cannot use them.
    """
    if key_type == "dsa":
        raise errors.OpPrereqError("DSA SSH keys are not supported (OpenSSH disables"
                                   " them); use rsa or ecdsa", errors.ECODE_INVAL)
    if key_type not in _SUPPORTED_TYPES:
        raise errors.OpPrereqError("Unknown SSH key type %r" % (key_type,),
                                   errors.ECODE_INVAL)
    if key_type == "ecdsa":
        bits = bits or 384
        if bits not in _ECDSA_BITS:
            raise errors.OpPrereqError("ECDSA keys have 256, 384 or 521 bits, not %s"
                                       % bits, errors.ECODE_INVAL)
    else:
        bits = bits or 2048
        if not 1024 <= bits <= 16384:
            raise errors.OpPrereqError("RSA keys need 1024 to 16384 bits, not %s" % bits,
                                       errors.ECODE_INVAL)
    return bits


def generate_key_pair(key_type: str, bits: int, comment: str) -> tuple[str, str]:
    """A new SSH key pair made by ssh-keygen; returns (private, public) text."""
    import tempfile
    bits = check_key_params(key_type, bits)
    with tempfile.TemporaryDirectory(prefix="ganeti-sshkey-") as tmp:
        path = os.path.join(tmp, "key")
        result = process.run_cmd(["ssh-keygen", "-q", "-t", key_type, "-b", str(bits),
                                  "-N", "", "-C", comment, "-f", path], timeout=120)
        if result.failed:
            raise errors.OpExecError("Cannot generate an SSH key: %s"
                                     % result.describe_failure())
        return io.read_file(path), io.read_file(path + ".pub").strip()


def ensure_root_key(key_type: str, bits: int, comment: str,
                    ssh_root_dir: str | None = None) -> tuple[str, bool]:
    """Root's key of ``key_type`` (generated when missing); returns (public, created)."""
    priv_path, pub_path = root_key_paths(key_type, ssh_root_dir)
    if os.path.exists(priv_path) and os.path.exists(pub_path):
        return check_public_key(io.read_file(pub_path)), False
    private, public = generate_key_pair(key_type, bits, comment)
    os.makedirs(os.path.dirname(priv_path), mode=0o700, exist_ok=True)
    install_root_key(key_type, private, public, [], ssh_root_dir)
    return public, True
