"""S5.1 on a real virtual cluster: hooks run only from their directory with run-parts
rules and exactly the GANETI_* environment; a failing pre-hook vetoes the operation
(nothing is created), post failures only warn, unsafe directories are refused, the
node-add/node-remove and config-update hooks run on the nodes of spec 3.3.
"""

import json
import os
import shutil

import pytest

from test_s5_cluster import s5_cluster, write_script  # noqa: F401 - shared fixture

pytestmark = [pytest.mark.security, pytest.mark.integration]

# Appends, as one JSON line, the environment the hook was started with (read from
# /proc: the shell and python add variables of their own) to the given file.
ENV_DUMP = ("python3 -c 'import json, os; raw = open(\"/proc/%%d/environ\" %% "
            "os.getppid(), \"rb\").read(); print(json.dumps(dict(item.decode().split("
            "\"=\", 1) for item in raw.split(b\"\\0\") if item)))' >> %s\n")


@pytest.fixture
def hooks(s5_cluster):  # noqa: F811
    """Install hook scripts with ``add(node, subdir, name, body)``; removed after."""
    made = []
    out_dir = os.path.join(s5_cluster.vc.dir, "hook-output")
    os.makedirs(out_dir, exist_ok=True)

    def add(node, subdir, name, body, mode=0o755):
        directory = s5_cluster.hooks_dir(node, subdir)
        made.append(directory)
        return write_script(os.path.join(directory, name), body, mode)

    add.out_dir = out_dir
    yield add
    for directory in made:
        shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)


def read_envs(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def instances(s5_cluster) -> list[str]:  # noqa: F811
    return s5_cluster.gnt("gnt-instance", "list", "--no-headers", "-o",
                          "name").stdout.split()


def test_failing_pre_hook_aborts_instance_creation(s5_cluster, hooks):  # noqa: F811
    hooks("node1", "instance-add-pre.d", "10-ok", "exit 0\n")
    hooks("node1", "instance-add-pre.d", "50-veto",
          "echo \"vetoed $GANETI_INSTANCE_NAME by policy\"; exit 1\n")
    result = s5_cluster.gnt("gnt-instance", "add", "-t", "file", "--disk", "0:size=16M",
                            "-o", "simple", "-n", "node2", "s5-veto", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Failure: hooks execution failed:",
        "  node: node1, script: instance-add-pre.d/50-veto, output: vetoed s5-veto by "
        "policy"]
    # nothing was created: no instance, no disk, no entry in the configuration
    assert "s5-veto" not in instances(s5_cluster)
    disk_dir = os.path.join(s5_cluster.root("node2"), "srv/ganeti/file-storage", "s5-veto")
    assert not os.path.exists(disk_dir)
    with open(os.path.join(s5_cluster.data_dir("node1"), "config.data")) as fh:
        assert "s5-veto" not in fh.read()
    # without the veto the same name can be created (its lock was released)
    os.remove(os.path.join(s5_cluster.hooks_dir("node1", "instance-add-pre.d"), "50-veto"))
    s5_cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node2",
                   "--no-start", "s5-veto")
    s5_cluster.gnt("gnt-instance", "remove", "-f", "s5-veto")


def test_run_parts_rules(s5_cluster, hooks):  # noqa: F811
    """Only executable regular files with safe names run, in sorted order."""
    log = os.path.join(hooks.out_dir, "order")
    for node in s5_cluster.joined():
        subdir = "cluster-verify-post.d"
        hooks(node, subdir, "20-second", "echo \"20 $(hostname) $GANETI_HOOKS_PATH\" >> %s.%s\n"
              % (log, node))
        hooks(node, subdir, "10-first", "echo 10 >> %s.%s\n" % (log, node))
        hooks(node, subdir, "15-with.dot", "echo dot >> %s.%s\n" % (log, node))
        hooks(node, subdir, "16-not-exec", "echo noexec >> %s.%s\n" % (log, node),
              mode=0o644)
        hooks(node, subdir, ".hidden", "echo hidden >> %s.%s\n" % (log, node))
        hooks(node, subdir, "17-backup~", "echo backup >> %s.%s\n" % (log, node))
    s5_cluster.gnt("gnt-cluster", "verify", check=False)
    for node in s5_cluster.joined():
        with open("%s.%s" % (log, node)) as fh:
            lines = fh.read().split("\n")
        assert lines[0] == "10" and lines[1].startswith("20 ") and \
            lines[1].endswith(" cluster-verify"), (node, lines)
        assert lines[2:] == [""]


def test_group_writable_hook_is_refused_and_vetoes(s5_cluster, hooks):  # noqa: F811
    marker = os.path.join(hooks.out_dir, "ran")
    s5_cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node3",
                   "--no-start", "s5-hooked")
    try:
        hooks("node1", "instance-start-pre.d", "10-writable", "touch %s\n" % marker,
              mode=0o775)
        result = s5_cluster.gnt("gnt-instance", "startup", "s5-hooked", check=False)
        assert result.returncode == 1
        assert "instance-start-pre.d/10-writable, output: Hook script refused:" in \
            result.stderr
        assert "writable by group or others" in result.stderr
        assert not os.path.exists(marker)
        # the same for a world-writable directory, whatever its scripts
        os.chmod(hooks("node1", "instance-start-pre.d", "10-writable", "exit 0\n"), 0o755)
        os.chmod(s5_cluster.hooks_dir("node1", "instance-start-pre.d"), 0o777)
        result = s5_cluster.gnt("gnt-instance", "startup", "s5-hooked", check=False)
        assert result.returncode == 1
        assert "Hooks directory refused:" in result.stderr
    finally:
        s5_cluster.gnt("gnt-instance", "remove", "-f", "s5-hooked")


def test_environment_nodes_and_post_failures(s5_cluster, hooks):  # noqa: F811
    for node in s5_cluster.joined():
        for phase in ("pre", "post"):
            hooks(node, "instance-add-%s.d" % phase, "10-env",
                  ENV_DUMP % os.path.join(hooks.out_dir, "%s.%s" % (node, phase)))
    hooks("node2", "instance-add-post.d", "20-fails", "echo post-broke; exit 1\n")
    result = s5_cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n",
                            "node2", "--no-start", "s5-env")
    try:
        assert "instance-add-post.d/20-fails" in result.stdout and \
            "post-broke" in result.stdout  # a warning; the creation succeeded
        assert "s5-env" in instances(s5_cluster)
        # master + primary node in both phases, node3 in none
        for node, expected in (("node1", 1), ("node2", 1), ("node3", 0)):
            for phase in ("pre", "post"):
                envs = read_envs(os.path.join(hooks.out_dir, "%s.%s" % (node, phase)))
                assert len(envs) == expected, (node, phase)
        (pre,) = read_envs(os.path.join(hooks.out_dir, "node2.pre"))
        (post,) = read_envs(os.path.join(hooks.out_dir, "node2.post"))
        for env in (pre, post):
            assert set(env) - {"PATH"} == {k for k in env if k.startswith("GANETI_")}
            assert env["PATH"] == "/sbin:/bin:/usr/sbin:/usr/bin"
            assert env["GANETI_OP_CODE"] == "OP_INSTANCE_CREATE"
            assert env["GANETI_HOOKS_VERSION"] == "2"
            assert env["GANETI_HOOKS_PATH"] == "instance-add"
            assert env["GANETI_OBJECT_TYPE"] == "INSTANCE"
            assert env["GANETI_MASTER"] == "node1"
            assert env["GANETI_CLUSTER"] == "cluster"
            assert env["GANETI_INSTANCE_NAME"] == "s5-env"
            assert env["GANETI_INSTANCE_PRIMARY"] == "node2"
            assert "GANETI_ROOTDIR" not in env  # nothing inherited from noded
        assert pre["GANETI_HOOKS_PHASE"] == "pre"
        assert not any(k.startswith("GANETI_POST_") for k in pre)
        assert post["GANETI_HOOKS_PHASE"] == "post"
        assert post["GANETI_POST_INSTANCE_NAME"] == "s5-env"
        assert post["GANETI_POST_OP_TARGET"] == "s5-env"
    finally:
        s5_cluster.gnt("gnt-instance", "remove", "-f", "s5-env")


def test_config_update_hook_runs_on_the_master(s5_cluster, hooks):  # noqa: F811
    for node in s5_cluster.joined():
        hooks(node, "config-update-post.d", "10-env",
              ENV_DUMP % os.path.join(hooks.out_dir, "cfg.%s" % node))
    s5_cluster.gnt("gnt-instance", "add", "-t", "diskless", "-o", "noop", "-n", "node3",
                   "--no-start", "s5-cfg")
    s5_cluster.gnt("gnt-instance", "remove", "-f", "s5-cfg")
    envs = read_envs(os.path.join(hooks.out_dir, "cfg.node1"))
    assert [e["GANETI_OP_CODE"] for e in envs] == ["OP_INSTANCE_CREATE",
                                                   "OP_INSTANCE_REMOVE"]
    for env in envs:
        assert env["GANETI_HOOKS_PATH"] == "config-update"
        assert env["GANETI_HOOKS_PHASE"] == "post"
        assert env["GANETI_INSTANCE_NAME"] == "s5-cfg"  # the LU's pre-phase values
    assert not os.path.exists(os.path.join(hooks.out_dir, "cfg.node2"))
    # a read-only operation writes nothing and runs no config-update hook
    s5_cluster.gnt("gnt-instance", "list")
    s5_cluster.gnt("gnt-cluster", "verify", check=False)
    assert len(read_envs(os.path.join(hooks.out_dir, "cfg.node1"))) == 2


def test_node_add_and_remove_hook_nodes(s5_cluster, hooks):  # noqa: F811
    """node-add: all nodes -> all + new; node-remove: all but the removed one -> all,
    the removed node running its post hooks before it leaves."""
    nodes = s5_cluster.joined() + ["node4"]
    for node in nodes:
        for hpath in ("node-add", "node-remove"):
            for phase in ("pre", "post"):
                hooks(node, "%s-%s.d" % (hpath, phase), "10-env",
                      ENV_DUMP % os.path.join(hooks.out_dir, "%s.%s.%s" % (hpath, phase,
                                                                        node)))
    s5_cluster.gnt("gnt-node", "add", "node4")
    s5_cluster.gnt("gnt-node", "remove", "node4")

    def ran(hpath, phase):
        return sorted(n for n in nodes if read_envs(os.path.join(
            hooks.out_dir, "%s.%s.%s" % (hpath, phase, n))))

    assert ran("node-add", "pre") == ["node1", "node2", "node3"]
    assert ran("node-add", "post") == nodes
    assert ran("node-remove", "pre") == ["node1", "node2", "node3"]
    assert ran("node-remove", "post") == nodes
    (env,) = read_envs(os.path.join(hooks.out_dir, "node-remove.post.node4"))
    assert env["GANETI_NODE_NAME"] == "node4"
    assert env["GANETI_OP_CODE"] == "OP_NODE_REMOVE"
