"""Tests for ganeti.rapi.cache: config-bound and time-bound caching of luxi reads,
one backend call for concurrent identical requests, errors never cached.
"""

import os
import threading
import time

import pytest

from ganeti import errors
from ganeti.rapi.cache import CachingLuxi


class Backend:
    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay
        self.fail = None
        self.lock = threading.Lock()

    def call(self, method, *args):
        with self.lock:
            self.calls.append(method)
            count = len(self.calls)
        time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return {"method": method, "n": count}


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.data"
    path.write_text("{}")
    return path


def _rewrite(path):
    tmp = path.with_suffix(".new")
    tmp.write_text("{ }")
    os.rename(tmp, path)


def test_cluster_info_cached_until_config_changes(config):
    backend = Backend()
    cache = CachingLuxi(backend, str(config))
    first = cache.call("QueryClusterInfo")
    assert cache.call("QueryClusterInfo") is first
    assert len(backend.calls) == 1
    _rewrite(config)
    assert cache.call("QueryClusterInfo")["n"] == 2


def test_queries_expire_after_ttl(config):
    backend = Backend()
    cache = CachingLuxi(backend, str(config), ttl=0.2, max_stale=0)
    args = ("instance", ["name", "status"], None)
    assert cache.call("Query", *args)["n"] == 1
    assert cache.call("Query", *args)["n"] == 1
    assert cache.call("Query", "instance", ["name"], None)["n"] == 2
    time.sleep(0.25)
    assert cache.call("Query", *args)["n"] == 3
    _rewrite(config)
    assert cache.call("Query", *args)["n"] == 4


def test_other_methods_pass_through(config):
    backend = Backend()
    cache = CachingLuxi(backend, str(config))
    cache.call("SubmitJob", [])
    cache.call("SubmitJob", [])
    cache.call("Query", "job", ["id"], None)
    cache.call("Query", "job", ["id"], None)
    assert len(backend.calls) == 4


def test_no_config_file_means_no_cache(tmp_path):
    backend = Backend()
    cache = CachingLuxi(backend, str(tmp_path / "missing"))
    cache.call("QueryClusterInfo")
    cache.call("QueryClusterInfo")
    assert len(backend.calls) == 2


def test_concurrent_requests_share_one_call(config):
    backend = Backend(delay=0.2)
    cache = CachingLuxi(backend, str(config))
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        cache.call("Query", "node", ["name"], None))) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(backend.calls) == 1
    assert all(r is results[0] for r in results)


def test_errors_are_not_cached(config):
    backend = Backend()
    cache = CachingLuxi(backend, str(config))
    backend.fail = errors.NoMasterError("sock", "down")
    with pytest.raises(errors.NoMasterError):
        cache.call("QueryClusterInfo")
    backend.fail = None
    assert cache.call("QueryClusterInfo")["n"] == 2


def test_expired_answer_served_while_refreshing(config):
    backend = Backend(delay=0.1)
    cache = CachingLuxi(backend, str(config), ttl=0.05, max_stale=5)
    args = ("node", ["name"], None)
    assert cache.call("Query", *args)["n"] == 1
    time.sleep(0.1)
    start = time.monotonic()
    assert cache.call("Query", *args)["n"] == 1   # stale, without waiting
    assert time.monotonic() - start < 0.05
    deadline = time.monotonic() + 2
    while cache.call("Query", *args)["n"] != 2:
        assert time.monotonic() < deadline, "no background refresh"
        time.sleep(0.02)
    assert len(backend.calls) == 2


def test_stale_limit(config):
    backend = Backend()
    cache = CachingLuxi(backend, str(config), ttl=0.01, max_stale=0.05)
    assert cache.call("Query", "node", ["name"], None)["n"] == 1
    time.sleep(0.1)
    assert cache.call("Query", "node", ["name"], None)["n"] == 2


def test_recording_for_response_reuse(config):
    backend = Backend()
    cache = CachingLuxi(backend, str(config))
    cache.begin_record()
    cache.call("QueryClusterInfo")
    records = cache.end_record()
    assert records and cache.still_valid(records)
    cache.begin_record()
    cache.call("QueryClusterInfo")
    cache.call("QueryJobs", None, ["id"])
    assert cache.end_record() is None     # an uncached call: not reusable
    _rewrite(config)
    assert not cache.still_valid(records)


def test_dispatcher_reuses_encoded_reads(config):
    from email.message import Message

    from ganeti.http.server import HttpRequest
    from ganeti.rapi import auth, dispatch

    class QueryBackend(Backend):
        def call(self, method, *args):
            super().call(method, *args)
            return {"fields": [], "data": [[[0, "node1"]]]}

    class NoUsers:
        def get(self):
            return {}

    backend = QueryBackend()
    handler = dispatch.RapiHandler(NoUsers(), CachingLuxi(backend, str(config)))

    def get(path):
        return handler(HttpRequest("GET", path, "", Message(), b"", ("127.0.0.1", 1)))

    first = get("/2/nodes")
    assert first.status == 200 and b"node1" in first.body
    assert get("/2/nodes").body == first.body
    assert len(backend.calls) == 1
    _rewrite(config)
    assert get("/2/nodes").status == 200
    assert len(backend.calls) == 2
    # credentials are still checked on cached reads
    headers = Message()
    headers["Authorization"] = "Basic eDp5"
    resp = handler(HttpRequest("GET", "/2/nodes", "", headers, b"", ("127.0.0.1", 1)))
    assert resp.status == 401
    assert auth.REALM in resp.headers["WWW-Authenticate"]
