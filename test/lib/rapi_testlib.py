"""Helpers of the RAPI integration tests: their own virtual cluster, the real Ganeti
RAPI client (Debian's python3-ganeti-rapi, unpacked by ``quickstart.sh deps``) loaded
under a name of its own, and raw HTTPS requests.
"""

import base64
import http.client
import importlib.util
import json
import os
import ssl
import sys
import time

import vcluster as harness

TOP = harness.TOP
CLIENT_PATH = os.path.join(TOP, "build", "ganeti-rapi-client", "usr", "lib", "python3",
                           "dist-packages", "ganeti", "rapi", "client.py")
NET_PREFIX = os.environ.get("GANETI_RAPI_NET_PREFIX", "127.0.25")
PORT = 5080
FILE_STORAGE = "/srv/ganeti/file-storage"

ADMIN = ("admin", "admin-secret")
READER = ("reader", "reader-secret")
HA1_USER = ("hauser", "ha1-secret")
PLAIN = ("plain", "plain-secret")  # valid password, no capabilities


def load_client():
    """The real client module, imported as ``ganeti_rapi_client`` (never as ganeti.*,
    which is our own package)."""
    if not os.path.exists(CLIENT_PATH):
        return None
    try:
        import pycurl  # noqa: F401 - the client needs it
        import simplejson  # noqa: F401
    except ImportError:
        return None
    name = "ganeti_rapi_client"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CLIENT_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def ha1_line(user: str, password: str, options: str) -> str:
    import hashlib
    digest = hashlib.md5(("%s:Ganeti Remote API:%s" % (user, password)).encode(),
                         usedforsecurity=False).hexdigest()
    return "%s {HA1}%s %s" % (user, digest, options)


DEFAULT_USERS = "\n".join([
    "# RAPI users of the integration tests",
    "%s {cleartext}%s write" % ADMIN,
    "%s %s read" % READER,
    ha1_line(HA1_USER[0], HA1_USER[1], "read,write"),
    "%s %s" % PLAIN,
    "",
])


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None


class RapiCluster:
    """A 2-node virtual cluster with ganeti-rapi on node1."""

    def __init__(self, vc):
        self.vc = vc
        self.address = "%s.10" % NET_PREFIX
        self.users_file = os.path.join(vc.data_dir("node1"), "rapi", "users")
        self.config_file = os.path.join(vc.data_dir("node1"), "config.data")

    def gnt(self, *args, **kwargs):
        return self.vc.gnt(*args, **kwargs)

    def write_users(self, text: str) -> None:
        os.makedirs(os.path.dirname(self.users_file), mode=0o750, exist_ok=True)
        tmp = self.users_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o640)
        # the rapi daemon user must read it (privilege-separated builds)
        st = os.stat(os.path.dirname(self.users_file))
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, self.users_file)

    def config(self) -> dict:
        with open(self.config_file) as fh:
            return json.load(fh)

    def rapi_pid(self) -> int:
        return self.vc.daemon_pid("node1", "ganeti-rapi")

    def restart_rapi(self, *args: str) -> None:
        util = self.vc.daemon_util
        self.vc.run(util, "stop", "rapi")
        self.vc.run(util, "start", "rapi", *args)
        self.wait_ready(plain="--no-ssl" in args,
                        port=int(args[args.index("-p") + 1]) if "-p" in args else PORT)

    def wait_ready(self, plain: bool = False, port: int = PORT, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.request("GET", "/version", plain=plain, port=port).status in \
                        (200, 401):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("ganeti-rapi did not answer on port %d" % port)
            time.sleep(0.2)

    def connection(self, plain: bool = False, port: int = PORT, timeout: float = 60):
        if plain:
            return http.client.HTTPConnection(self.address, port, timeout=timeout)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(self.address, port, timeout=timeout,
                                           context=ctx)

    def request(self, method: str, path: str, body=None, user: tuple | None = None,
                headers: dict | None = None, raw_body: bytes | None = None,
                plain: bool = False, port: int = PORT) -> Response:
        hdrs = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if user is not None:
            token = base64.b64encode(("%s:%s" % user).encode()).decode()
            hdrs["Authorization"] = "Basic " + token
        conn = self.connection(plain, port)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def wait_job(self, job_id, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.request("GET", "/2/jobs/%s" % job_id).json
            if job["status"] in ("success", "error", "canceled"):
                return job
            if time.monotonic() > deadline:
                raise AssertionError("job %s did not finish: %r" % (job_id, job))
            time.sleep(0.1)


def create(nodes: int = 2) -> RapiCluster:
    old_prefix = harness.NET_PREFIX
    try:
        vc = harness.create(nodes, 4, net_prefix=NET_PREFIX, prefix="gnt-rapi-")
    finally:
        harness.NET_PREFIX = old_prefix
    cluster = RapiCluster(vc)
    try:
        os.chmod(vc.dir, 0o755)  # daemon users of privilege-separated builds get in
        cluster.gnt("gnt-cluster", "init", "--no-etc-hosts", "--master-netdev=lo",
                    "--enabled-hypervisors=fake",
                    "--enabled-disk-templates=file,diskless",
                    "--nic-parameters=link=lo", "--file-storage-dir=%s" % FILE_STORAGE,
                    "--ipolicy-bounds-specs=%s" % harness.IPOLICY, "cluster")
        for i in range(2, nodes + 1):
            cluster.gnt("gnt-node", "add", "node%d" % i)
        cluster.write_users(DEFAULT_USERS)
        cluster.wait_ready()
    except BaseException:
        harness.teardown(vc)
        raise
    return cluster


def teardown(cluster: RapiCluster) -> None:
    harness.teardown(cluster.vc)
