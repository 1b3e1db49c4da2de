"""Tests of the build machinery: launcher template, man page builder, daemon-util and,
when GANETI_TEST_PREFIX names an installed tree, that installation itself.

daemon-util is generated here from daemons/daemon-util.in with a fake sbin directory,
so its start/stop logic is checked against throw-away daemons in a virtual node root.
"""

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PREFIX = os.environ.get("GANETI_TEST_PREFIX", "")

# --- launcher template -----------------------------------------------------------------


def _render_launcher(pythondir: str, module: str, function: str) -> str:
    text = (REPO / "autotools" / "launcher.in").read_text()
    for key, value in {"PYTHON": sys.executable, "PYTHONDIR": pythondir,
                       "NAME": "test-launcher", "MODULE": module,
                       "FUNCTION": function}.items():
        text = text.replace(f"@{key}@", value)
    return text


def test_launcher_puts_pythondir_first_and_returns_exit_code(tmp_path):
    lib = tmp_path / "site"
    (lib / "fakepkg").mkdir(parents=True)
    (lib / "fakepkg" / "__init__.py").write_text("")
    (lib / "fakepkg" / "entry.py").write_text(textwrap.dedent("""\
        import sys
        def main():
            print(sys.path[0])
            return 7
        """))
    script = tmp_path / "launcher"
    script.write_text(_render_launcher(str(lib), "fakepkg.entry", "main"))
    script.chmod(0o755)
    assert script.read_text().startswith(f"#!{sys.executable}\n")
    proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout.strip() == str(lib)


# --- man page builder -------------------------------------------------------------------


def test_build_man_uses_section_comment_and_version(tmp_path):
    pytest.importorskip("docutils")
    src = tmp_path / "gnt-demo.rst"
    src.write_text(textwrap.dedent("""\
        .. man-section: 1

        ========
        gnt-demo
        ========

        ---------------------------------
        demo page of version @GANETI_VERSION@
        ---------------------------------

        DESCRIPTION
        -----------

        Some **text**.
        """))
    outdir = tmp_path / "out"
    listfile = tmp_path / "built"
    cmd = [sys.executable, str(REPO / "autotools" / "build-man.py"), "--version",
           "9.8.7", "--outdir", str(outdir), "--list", str(listfile), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = outdir / "gnt-demo.1"
    assert listfile.read_text() == f"{page}\n"
    roff = page.read_text()
    assert '.TH "GNT-DEMO" "1" "" "ganeti 9.8.7" "Ganeti"' in roff
    assert "demo page of version 9.8.7" in roff
    # The source is gone: the page and its list entry go too.
    src.unlink()
    proc = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=60,
                          check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not page.exists()
    assert listfile.read_text() == ""


# --- daemon-util ---------------------------------------------------------------------------

_FAKE_DAEMON = """\
#!{python}
# Fake Ganeti daemon for the daemon-util tests: daemonises and writes its pid file.
import os, signal, sys, time
name = os.path.basename(sys.argv[0])
root = os.environ.get("GANETI_ROOTDIR", "")
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "fail":
    sys.stderr.write("cannot start\\n")
    sys.exit(3)
if os.fork():
    sys.exit(0)
os.setsid()
if os.fork():
    os._exit(0)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
with open(os.path.join(root, "started"), "a") as fh:
    fh.write("%d %s %s\\n" % (os.getpid(), name, " ".join(sys.argv[1:])))
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if mode != "nopid":
    with open(os.path.join(root + "/var/run/ganeti", name + ".pid"), "w") as fh:
        fh.write("%d\\n" % os.getpid())
deadline = time.time() + 120
while time.time() < deadline:
    time.sleep(0.2)
"""


class DaemonEnv:
    def __init__(self, base: Path) -> None:
        self.root = base / "cluster" / "node1"
        self.sbin = base / "sbin"
        self.util = base / "daemon-util"
        self.run_dir = self.root / "var" / "run" / "ganeti"
        self.data_dir = self.root / "var" / "lib" / "ganeti"
        self.log_dir = self.root / "var" / "log" / "ganeti"
        for path in (self.sbin, self.run_dir, self.data_dir, self.log_dir,
                     self.root / "etc" / "default"):
            path.mkdir(parents=True)
        for daemon in ("ganeti-noded", "ganeti-masterd", "ganeti-luxid"):
            fake = self.sbin / daemon
            fake.write_text(_FAKE_DAEMON.format(python=sys.executable))
            fake.chmod(0o755)
        text = (REPO / "daemons" / "daemon-util.in").read_text()
        text = text.replace("@SBINDIR@", str(self.sbin))
        text = text.replace("@LOCALSTATEDIR@", "/var")
        text = text.replace("@ENABLE_CONFD@", "True").replace("@ENABLE_MOND@", "True")
        # Short timeouts keep the failure cases quick.
        text = text.replace("readonly START_TIMEOUT=15", "readonly START_TIMEOUT=2")
        text = text.replace("readonly STOP_TIMEOUT=15", "readonly STOP_TIMEOUT=1")
        assert "@" not in "".join(line for line in text.splitlines()
                                  if "readonly" in line)
        self.util.write_text(text)
        self.util.chmod(0o755)

    def run(self, *args, env=None, hostname="node1"):
        full_env = dict(os.environ, GANETI_ROOTDIR=str(self.root),
                        GANETI_HOSTNAME=hostname)
        full_env.update(env or {})
        for key, value in list(full_env.items()):
            if value is None:
                del full_env[key]
        return subprocess.run([str(self.util)] + list(args), env=full_env,
                              capture_output=True, text=True, timeout=60, check=False)

    def pid(self, daemon: str) -> int:
        return int((self.run_dir / f"{daemon}.pid").read_text())

    def started(self) -> list[list[str]]:
        path = self.root / "started"
        if not path.exists():
            return []
        return [line.split() for line in path.read_text().splitlines()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture
def denv(tmp_path):
    env = DaemonEnv(tmp_path)
    yield env
    # Clean up whatever fake daemons a failed test left behind (only ours).
    for entry in env.started():
        pid = int(entry[0])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(env.sbin).encode() in cmdline:
            os.kill(pid, signal.SIGKILL)


def test_start_check_stop_with_default_args(denv):
    (denv.root / "etc" / "default" / "ganeti").write_text(
        'NODED_ARGS="-b 127.0.0.1"\nEXTRA_NODED_ARGS="--debug"\n')
    assert denv.run("check", "noded").returncode == 1
    proc = denv.run("start", "ganeti-noded", "--extra")
    assert proc.returncode == 0, proc.stderr
    pid = denv.pid("ganeti-noded")
    assert _alive(pid)
    assert denv.started() == [[str(pid), "ganeti-noded", "-b", "127.0.0.1", "--debug",
                               "--extra"]]
    assert denv.run("check", "noded").returncode == 0
    # Starting again is a no-op.
    assert denv.run("start", "noded").returncode == 0
    assert denv.pid("ganeti-noded") == pid
    assert len(denv.started()) == 1
    proc = denv.run("stop", "noded")
    assert proc.returncode == 0, proc.stderr
    assert not _alive(pid)
    assert not (denv.run_dir / "ganeti-noded.pid").exists()
    assert denv.run("check", "noded").returncode == 1


def test_failed_start_shows_log_tail(denv):
    (denv.log_dir / "node-daemon.log").write_text("first\nlast words of noded\n")
    proc = denv.run("start", "noded", env={"FAKE_MODE": "fail"})
    assert proc.returncode == 1
    assert "last words of noded" in proc.stderr


def test_start_times_out_without_pid_file(denv):
    proc = denv.run("start", "noded", env={"FAKE_MODE": "nopid"})
    assert proc.returncode == 1
    assert "did not come up" in proc.stderr


def test_stop_never_signals_a_foreign_process(denv):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (denv.run_dir / "ganeti-noded.pid").write_text(f"{sleeper.pid}\n")
        assert denv.run("check", "noded").returncode == 1
        proc = denv.run("stop", "noded")
        assert proc.returncode == 0, proc.stderr
        assert sleeper.poll() is None
        assert not (denv.run_dir / "ganeti-noded.pid").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_stop_kills_daemon_ignoring_term(denv):
    proc = denv.run("start", "noded", env={"FAKE_MODE": "ignore-term"})
    assert proc.returncode == 0, proc.stderr
    pid = denv.pid("ganeti-noded")
    proc = denv.run("stop", "noded")
    assert proc.returncode == 0, proc.stderr
    assert "killing" in proc.stderr
    assert not _alive(pid)


def test_start_all_does_nothing_outside_a_cluster(denv):
    proc = denv.run("start-all")
    assert proc.returncode == 0, proc.stderr
    assert "not part of a cluster yet" in proc.stdout
    assert denv.started() == []


def test_start_all_starts_master_daemons_only_on_master(denv):
    (denv.data_dir / "server.pem").write_text("cluster certificate\n")
    proc = denv.run("start-all")
    assert proc.returncode == 0, proc.stderr
    assert [e[1] for e in denv.started()] == ["ganeti-noded"]
    assert denv.run("stop-all").returncode == 0
    assert not list(denv.run_dir.glob("*.pid"))

    (denv.data_dir / "ssconf_master_node").write_text("node1\n")
    proc = denv.run("start-all")
    assert proc.returncode == 0, proc.stderr
    assert [e[1] for e in denv.started()][1:] == ["ganeti-noded", "ganeti-masterd",
                                                 "ganeti-luxid"]
    pids = [denv.pid(d) for d in ("ganeti-noded", "ganeti-masterd", "ganeti-luxid")]
    assert all(_alive(p) for p in pids)
    proc = denv.run("stop-master")
    assert proc.returncode == 0, proc.stderr
    assert _alive(pids[0]) and not _alive(pids[1]) and not _alive(pids[2])
    assert denv.run("start-master").returncode == 0
    assert denv.run("check", "luxid").returncode == 0
    assert denv.run("stop-all").returncode == 0
    assert not list(denv.run_dir.glob("*.pid"))
    assert not _alive(pids[0])


def test_virtual_environment_must_be_complete(denv):
    proc = denv.run("check", "noded", env={"GANETI_HOSTNAME": None})
    assert proc.returncode == 1
    assert "GANETI_HOSTNAME" in proc.stderr
    proc = denv.run("check", "noded", hostname="other")
    assert proc.returncode == 1
    assert "last component" in proc.stderr


def test_unknown_daemon_and_command(denv):
    proc = denv.run("start", "ganeti-frobd")
    assert proc.returncode == 1
    assert "unknown daemon" in proc.stderr
    proc = denv.run("explode")
    assert proc.returncode == 1
    assert "unknown command" in proc.stderr


# --- the installed tree (only with GANETI_TEST_PREFIX) ---------------------------------------

needs_prefix = pytest.mark.skipif(not PREFIX, reason="GANETI_TEST_PREFIX not set")


@needs_prefix
def test_installed_launchers():
    names = {"sbin": ["gnt-cluster", "gnt-node", "gnt-instance", "gnt-job", "gnt-os",
                      "gnt-debug", "gnt-group", "ganeti-noded", "ganeti-masterd",
                      "ganeti-luxid"],
             "lib/ganeti": ["ensure-dirs", "daemon-util"],
             "lib/ganeti/tools": ["prepare-node-join", "vcluster-setup"]}
    for subdir, scripts in names.items():
        for name in scripts:
            path = Path(PREFIX, subdir, name)
            assert path.is_file(), path
            assert path.stat().st_mode & stat.S_IXUSR, path
            assert path.read_text().startswith("#!/"), path


def _installed_autoconf() -> Path:
    matches = sorted(Path(PREFIX, "lib").glob("python3*/site-packages/ganeti/_autoconf.py"))
    assert len(matches) == 1
    return matches[0]


@needs_prefix
def test_installed_autoconf_is_expanded():
    text = _installed_autoconf().read_text()
    assert "${" not in text and "@" not in text
    namespace: dict = {}
    exec(compile(text, "_autoconf.py", "exec"), namespace)  # noqa: S102
    for key in ("SBINDIR", "PKGLIBDIR", "DATADIR", "SYSCONFDIR", "LOCALSTATEDIR"):
        assert os.path.isabs(namespace[key]), key
    assert Path(namespace["PKGLIBDIR"]).resolve() == Path(PREFIX, "lib",
                                                          "ganeti").resolve()
    assert namespace["PACKAGE_VERSION"] == "3.1.0"


@needs_prefix
def test_installed_ensure_dirs_runs_in_virtual_node(tmp_path):
    root = tmp_path / "node9"
    root.mkdir()
    env = dict(os.environ, GANETI_ROOTDIR=str(root), GANETI_HOSTNAME="node9")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([str(Path(PREFIX, "lib", "ganeti", "ensure-dirs"))], env=env,
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    namespace: dict = {}
    exec(compile(_installed_autoconf().read_text(), "_autoconf.py", "exec"),  # noqa: S102
         namespace)
    data_dir = Path(str(root) + namespace["LOCALSTATEDIR"], "lib", "ganeti")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE((data_dir / "queue").stat().st_mode) == 0o750


@needs_prefix
def test_installed_daemon_util_reports_stopped_daemon(tmp_path):
    root = tmp_path / "node8"
    root.mkdir()
    env = dict(os.environ, GANETI_ROOTDIR=str(root), GANETI_HOSTNAME="node8")
    proc = subprocess.run([str(Path(PREFIX, "lib", "ganeti", "daemon-util")), "check",
                           "noded"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 1
    assert proc.stderr == ""
