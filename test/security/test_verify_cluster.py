"""`gnt-cluster verify` on a real virtual cluster finds what an attacker or a careless
admin leaves behind: scripts that differ between nodes (hooks, restricted commands),
unsafe script directories, secrets readable by others, certificates about to expire.
"""

import os
import shutil

import pytest

from ganeti import crypto
from test_s5_cluster import s5_cluster, write_script  # noqa: F401 - shared fixture

pytestmark = [pytest.mark.security, pytest.mark.integration]


def verify(s5_cluster) -> tuple[int, list[str]]:  # noqa: F811
    result = s5_cluster.gnt("gnt-cluster", "verify", check=False)
    lines = [line.split(" - ", 1)[1] for line in result.stdout.splitlines()
             if " - " in line]
    return result.returncode, lines


def test_clean_cluster_verifies(s5_cluster):  # noqa: F811
    code, lines = verify(s5_cluster)
    assert (code, lines) == (0, [])


@pytest.fixture
def hook_dirs(s5_cluster):  # noqa: F811
    dirs = [s5_cluster.hooks_dir(n, "instance-stop-post.d") for n in s5_cluster.joined()]
    yield dirs
    for directory in dirs:
        shutil.rmtree(directory, ignore_errors=True)


def test_hooks_that_differ_between_nodes_are_reported(s5_cluster, hook_dirs):  # noqa: F811
    for directory in hook_dirs:
        write_script(os.path.join(directory, "10-same"), "exit 0\n")
    assert verify(s5_cluster) == (0, [])
    # node2: other content; node3: other mode and an extra script; master: one more
    write_script(os.path.join(hook_dirs[1], "10-same"), "echo changed\n")
    os.chmod(os.path.join(hook_dirs[2], "10-same"), 0o700)
    write_script(os.path.join(hook_dirs[2], "20-extra"), "exit 0\n")
    write_script(os.path.join(hook_dirs[0], "30-master-only"), "exit 0\n")
    code, lines = verify(s5_cluster)
    assert code == 1
    key = "hooks/instance-stop-post.d/"
    assert ("ERROR: node node2: script %s10-same differs from the master's: content"
            % key) in "\n".join(lines)
    assert "ERROR: node node3: script %s10-same differs from the master's: mode (0700, " \
        "master 0755)" % key in lines
    assert "ERROR: node node3: script %s20-extra is not present on the master" % key in lines
    for node in ("node2", "node3"):
        assert "ERROR: node %s: script %s30-master-only is missing (present on the " \
            "master)" % (node, key) in lines
    assert len(lines) == 5


def test_unsafe_hooks_directory_and_script_are_reported(s5_cluster, hook_dirs):  # noqa: F811
    for directory in hook_dirs:
        write_script(os.path.join(directory, "10-hook"), "exit 0\n")
    os.chmod(hook_dirs[1], 0o777)
    os.chmod(os.path.join(hook_dirs[2], "10-hook"), 0o757)
    code, lines = verify(s5_cluster)
    assert code == 1
    text = "\n".join(lines)
    assert "ERROR: node node2: hooks/instance-stop-post.d is unsafe: " in text
    assert "ERROR: node node3: hooks/instance-stop-post.d/10-hook is unsafe: " in text
    assert text.count("writable by group or others") == 2


def test_restricted_commands_compared_without_listing_them(s5_cluster):  # noqa: F811
    if not s5_cluster.restricted_enabled:
        pytest.skip("built without --enable-restricted-commands")
    dirs = [s5_cluster.restricted_dir(n) for n in s5_cluster.joined()]
    try:
        for directory in dirs:
            os.makedirs(directory, exist_ok=True)
            os.chmod(directory, 0o755)
            write_script(os.path.join(directory, "secret-cmd-name"), "echo a\n")
        assert verify(s5_cluster) == (0, [])
        write_script(os.path.join(dirs[2], "secret-cmd-name"), "echo tampered\n")
        code, lines = verify(s5_cluster)
        assert code == 1
        assert len(lines) == 1
        assert lines[0].startswith("ERROR: node node3: script restricted-commands differs "
                                   "from the master's: content")
        assert "secret-cmd-name" not in "\n".join(lines)  # never listed (S5.2)
    finally:
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)


def test_secret_readable_by_others_is_reported(s5_cluster):  # noqa: F811
    path = os.path.join(s5_cluster.data_dir("node2"), "hmac.key")
    mode = os.stat(path).st_mode & 0o7777
    os.chmod(path, 0o644)
    try:
        code, lines = verify(s5_cluster)
    finally:
        os.chmod(path, mode)
    assert code == 1
    (line,) = lines
    assert line.startswith("ERROR: node node2: secret file ")
    assert "hmac.key has mode 0644" in line and "use mode 0640" in line


def test_expiring_node_certificate_is_reported(s5_cluster):  # noqa: F811
    """node3's client certificate (used only when node3 is master) expires soon."""
    path = os.path.join(s5_cluster.data_dir("node3"), "client.pem")
    backup = path + ".s5-backup"
    shutil.copy2(path, backup)
    key_pem, cert_pem = crypto.generate_self_signed_cert("node3", validity_days=10)
    with open(path, "w") as fh:
        fh.write(key_pem + cert_pem)
    try:
        code, lines = verify(s5_cluster)
    finally:
        os.replace(backup, path)
    assert code == 0  # a warning, not an error
    (line,) = lines
    assert line.startswith("WARNING: node node3: certificate ")
    assert "client.pem expires in 9 days" in line or "client.pem expires in 10 days" in line
