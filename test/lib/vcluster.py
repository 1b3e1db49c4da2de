"""A virtual cluster of the installed project, for integration tests and benchmarks.

It runs the installed copy found at GANETI_TEST_PREFIX on its own address prefix and
directory; ``teardown`` stops every process it started, by pid.
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = os.environ.get("GANETI_TEST_PREFIX", os.path.join(TOP, "build", "test-root"))
NET_PREFIX = os.environ.get("GANETI_TEST_NET_PREFIX", "127.0.5")
IPOLICY = ("min:disk-size=1,cpu-count=1,disk-count=0,memory-size=1,nic-count=0,"
           "spindle-use=0/max:disk-size=1048576,cpu-count=8,disk-count=16,"
           "memory-size=32768,nic-count=8,spindle-use=12")


class VirtualCluster:
    def __init__(self, directory: str, nodes: int):
        self.dir = directory
        self.nodes = ["node%d" % i for i in range(1, nodes + 1)]
        self.tools = os.path.join(PREFIX, "lib", "ganeti", "tools")
        self.daemon_util = os.path.join(PREFIX, "lib", "ganeti", "daemon-util")

    def node_root(self, node: str) -> str:
        return os.path.join(self.dir, node)

    def address(self, node: str) -> str:
        return "%s.%d" % (NET_PREFIX, 9 + int(node[4:]))

    def run(self, *cmd, node: str = "node1", check: bool = True, timeout: float = 120,
            input_text: str | None = None) -> subprocess.CompletedProcess:
        """Run a command as a virtual node (through its cmd wrapper)."""
        argv = [os.path.join(self.node_root(node), "cmd")] + list(cmd)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                input=input_text)
        if check and result.returncode != 0:
            raise AssertionError("%s failed with %d:\nstdout: %s\nstderr: %s"
                                 % (" ".join(cmd), result.returncode, result.stdout,
                                    result.stderr))
        return result

    def gnt(self, *cmd, **kwargs) -> subprocess.CompletedProcess:
        return self.run(*cmd, **kwargs)

    def pidfile(self, node: str, daemon: str) -> str:
        return os.path.join(self.node_root(node), self._rel("var/run/ganeti"),
                            "%s.pid" % daemon)

    def _rel(self, path: str) -> str:
        localstate = _autoconf_value("LOCALSTATEDIR").lstrip("/")
        return os.path.join(localstate, path[len("var/"):]) if path.startswith("var/") \
            else path

    def data_dir(self, node: str) -> str:
        return os.path.join(self.node_root(node), self._rel("var/lib/ganeti"))

    def daemon_pid(self, node: str, daemon: str) -> int:
        try:
            with open(self.pidfile(node, daemon)) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return 0

    def processes(self) -> list[int]:
        """Pids of processes whose environment places them in this cluster."""
        pids = []
        marker = ("GANETI_ROOTDIR=%s/" % self.dir).encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open("/proc/%s/environ" % entry, "rb") as fh:
                    if marker in fh.read():
                        pids.append(int(entry))
            except OSError:
                continue
        sshd_pid = os.path.join(self.dir, "ssh", "sshd.pid")
        try:
            with open(sshd_pid) as fh:
                pids.append(int(fh.read().strip()))
        except (OSError, ValueError):
            pass
        return pids


def _autoconf_value(name: str) -> str:
    for path in glob.glob(os.path.join(PREFIX, "lib", "python3*", "site-packages",
                                       "ganeti", "_autoconf.py")):
        namespace: dict = {}
        with open(path) as fh:
            exec(compile(fh.read(), path, "exec"), namespace)  # noqa: S102 - our file
        return namespace[name]
    raise RuntimeError("No installed copy of the project in %s" % PREFIX)


def installed() -> bool:
    return os.path.exists(os.path.join(PREFIX, "lib", "ganeti", "tools", "vcluster-setup"))


def create(nodes: int = 3, instances: int = 4, net_prefix: str | None = None,
           prefix: str = "gnt-it-") -> "VirtualCluster":
    """vcluster-setup (without touching /etc/hosts) and start-all."""
    global NET_PREFIX
    if net_prefix:
        NET_PREFIX = net_prefix
    directory = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    cluster = VirtualCluster(directory, nodes)
    try:
        subprocess.run([os.path.join(cluster.tools, "vcluster-setup"), "-E", "-c",
                        str(nodes), "-i", str(instances), "-p", NET_PREFIX, "-n", "lo",
                        directory], check=True, capture_output=True, text=True, timeout=120)
        subprocess.run([os.path.join(directory, "start-all")], check=True,
                       capture_output=True, text=True, timeout=120)
    except BaseException:
        teardown(cluster)
        raise
    return cluster


def teardown(cluster: VirtualCluster) -> None:
    stop_all = os.path.join(cluster.dir, "stop-all")
    if os.path.exists(stop_all):
        subprocess.run([stop_all], capture_output=True, timeout=120)
    pids = cluster.processes()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    shutil.rmtree(cluster.dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
