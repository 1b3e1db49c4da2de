"""Tests for ganeti.locking: shared locks, lock sets and the level-ordered manager.

Threads are real; waits are bounded so a broken lock fails a test instead of hanging.
"""

import random
import threading
import time

import pytest

from ganeti import errors, locking


def _wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in {timeout:.1f}s")
        time.sleep(0.002)


class _Runner(threading.Thread):
    """Runs fn in a thread, keeping its result or exception."""

    def __init__(self, fn, name=None):
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self.fn()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            self.error = err

    def finish(self, timeout=5.0):
        self.join(timeout)
        assert not self.is_alive(), f"thread {self.name} did not finish"
        return self


def _run(fn, name=None):
    """Run fn to completion in a fresh thread (acting as a different owner)."""
    runner = _Runner(fn, name)
    runner.start()
    return runner.finish()


def _pending(lock):
    return lock.info()["pending"]


# --- SharedLock ---------------------------------------------------------------

def test_many_threads_hold_a_shared_lock_at_once():
    lock = locking.SharedLock("l")
    barrier = threading.Barrier(4, timeout=5)

    def holder():
        assert lock.acquire(shared=True, timeout=5)
        barrier.wait()  # only passes if all four hold the lock together
        lock.release()
        return True

    runners = [_Runner(holder) for _ in range(4)]
    for r in runners:
        r.start()
    for r in runners:
        assert r.finish().error is None and r.result is True
    assert lock.info()["mode"] is None


def test_exclusive_holder_excludes_others_until_released():
    lock = locking.SharedLock("l")
    assert lock.acquire(shared=False)
    assert lock.is_owned(shared=False) and not lock.is_owned(shared=True)
    for shared in (True, False):
        r = _run(lambda s=shared: lock.acquire(shared=s, timeout=0.1))
        assert r.result is False
    lock.release()
    r = _run(lambda: lock.acquire(shared=False, timeout=1))
    assert r.result is True
    assert lock.info()["mode"] == "exclusive"


def test_shared_holder_blocks_exclusive_acquire():
    lock = locking.SharedLock("l")
    assert lock.acquire(shared=True)
    assert _run(lambda: lock.acquire(timeout=0.1)).result is False
    assert _run(lambda: lock.acquire(shared=True, timeout=0)).result is True


def test_timeout_leaves_no_pending_entry_behind():
    lock = locking.SharedLock("l")
    lock.acquire(owner="a")
    start = time.monotonic()
    assert lock.acquire(timeout=0.2, owner="b") is False
    assert time.monotonic() - start >= 0.19
    assert _pending(lock) == []
    assert not lock.is_owned(owner="b")
    lock.release(owner="a")
    assert lock.acquire(timeout=0, owner="b") is True


def test_timed_out_head_waiter_lets_compatible_waiters_through():
    lock = locking.SharedLock("l")
    lock.acquire(shared=True, owner="reader")
    excl = _Runner(lambda: lock.acquire(timeout=0.3, owner="writer"))
    excl.start()
    _wait_until(lambda: len(_pending(lock)) == 1)
    shared = _Runner(lambda: lock.acquire(shared=True, timeout=5, owner="reader2"))
    shared.start()
    _wait_until(lambda: len(_pending(lock)) == 2)
    assert excl.finish().result is False
    # The shared waiter queued behind the writer is admitted when the writer gives up
    assert shared.finish().result is True
    assert lock.info()["owners"] == ["reader", "reader2"]


def test_reentrant_acquire_is_an_error():
    lock = locking.SharedLock("l")
    lock.acquire(shared=True)
    with pytest.raises(errors.LockError):
        lock.acquire(shared=True)
    with pytest.raises(errors.LockError):
        lock.acquire(shared=False, timeout=0)
    lock.release()
    with pytest.raises(errors.LockError):
        lock.release()


def test_invalid_priority_is_rejected():
    lock = locking.SharedLock("l")
    with pytest.raises(errors.ProgrammerError):
        lock.acquire(priority=20)


def test_exclusive_waiter_is_not_starved_by_shared_stream():
    lock = locking.SharedLock("l")
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            if lock.acquire(shared=True, timeout=1):
                time.sleep(0.001)
                lock.release()

    readers = [_Runner(reader) for _ in range(4)]
    for r in readers:
        r.start()
    time.sleep(0.05)  # the readers now overlap, the lock is never free by itself
    start = time.monotonic()
    writer = _run(lambda: lock.acquire(shared=False, timeout=5))
    waited = time.monotonic() - start
    assert writer.result is True
    lock.release(owner=writer.ident)
    stop.set()
    for r in readers:
        assert r.finish().error is None
    assert waited < 1.0


def test_new_shared_acquirer_does_not_overtake_queued_writer():
    lock = locking.SharedLock("l")
    lock.acquire(shared=True, owner="reader")
    writer = _Runner(lambda: lock.acquire(owner="writer", timeout=5))
    writer.start()
    _wait_until(lambda: len(_pending(lock)) == 1)
    assert lock.acquire(shared=True, timeout=0.1, owner="late") is False
    lock.release(owner="reader")
    assert writer.finish().result is True
    assert lock.info()["owners"] == ["writer"]


def test_waiters_are_served_by_priority_then_arrival():
    lock = locking.SharedLock("l")
    lock.acquire(owner="holder")
    order = []

    def waiter(tag, prio):
        assert lock.acquire(timeout=5, priority=prio, owner=tag)
        order.append(tag)
        lock.release(owner=tag)

    plan = [("low", 10), ("normal1", 0), ("high", -10), ("normal2", 0), ("top", -20)]
    runners = []
    for tag, prio in plan:
        r = _Runner(lambda t=tag, p=prio: waiter(t, p))
        r.start()
        runners.append(r)
        count = len(runners)
        _wait_until(lambda n=count: len(_pending(lock)) == n)
    assert [owners for _, owners in _pending(lock)] == [
        ["top"], ["high"], ["normal1"], ["normal2"], ["low"]]
    lock.release(owner="holder")
    for r in runners:
        assert r.finish().error is None
    assert order == ["top", "high", "normal1", "normal2", "low"]


def test_more_important_compatible_acquirer_is_served_at_once():
    lock = locking.SharedLock("l")
    lock.acquire(shared=True, owner="reader")
    writer = _Runner(lambda: lock.acquire(owner="writer", timeout=5, priority=0))
    writer.start()
    _wait_until(lambda: len(_pending(lock)) == 1)
    assert lock.acquire(shared=True, timeout=0, priority=-10, owner="urgent") is True
    lock.release(owner="urgent")
    lock.release(owner="reader")
    assert writer.finish().result is True


def test_shared_waiters_of_one_priority_are_granted_together():
    lock = locking.SharedLock("l")
    lock.acquire(owner="writer")
    barrier = threading.Barrier(3, timeout=5)

    def reader(tag):
        assert lock.acquire(shared=True, timeout=5, owner=tag)
        barrier.wait()
        lock.release(owner=tag)

    runners = [_Runner(lambda t=t: reader(t)) for t in ("r1", "r2", "r3")]
    for r in runners:
        r.start()
    _wait_until(lambda: sum(len(o) for _, o in _pending(lock)) == 3)
    assert _pending(lock) == [("shared", ["r1", "r2", "r3"])]
    lock.release(owner="writer")
    for r in runners:
        assert r.finish().error is None


def test_delete_fails_waiters_and_later_acquires():
    lock = locking.SharedLock("l")
    lock.acquire()
    waiters = [_Runner(lambda s=s: lock.acquire(shared=s, timeout=5))
               for s in (True, False)]
    for w in waiters:
        w.start()
    _wait_until(lambda: len(_pending(lock)) == 2)
    assert lock.delete() is True
    for w in waiters:
        assert isinstance(w.finish().error, errors.LockError)
    assert lock.deleted and not lock.is_owned()
    with pytest.raises(errors.LockError):
        lock.acquire(timeout=0)
    with pytest.raises(errors.LockError):
        lock.delete()


def test_delete_times_out_while_held_elsewhere():
    lock = locking.SharedLock("l")
    lock.acquire(shared=True, owner="other")
    assert lock.delete(timeout=0.1) is False
    assert not lock.deleted
    with pytest.raises(errors.LockError):
        lock.delete(owner="other")  # a shared holder may not delete


def test_downgrade_admits_shared_waiters():
    lock = locking.SharedLock("l")
    lock.acquire(owner="w")
    reader = _Runner(lambda: lock.acquire(shared=True, timeout=5, owner="r"))
    reader.start()
    _wait_until(lambda: len(_pending(lock)) == 1)
    lock.downgrade(owner="w")
    assert reader.finish().result is True
    assert lock.info()["mode"] == "shared"


def test_info_names_owner_threads_and_pending_waiters():
    lock = locking.SharedLock("instance/inst1")
    assert lock.info() == {"name": "instance/inst1", "mode": None, "owners": [],
                           "pending": []}
    lock.acquire(shared=True)
    waiter = _Runner(lambda: lock.acquire(timeout=5), name="Job42")
    waiter.start()
    _wait_until(lambda: len(_pending(lock)) == 1)
    info = lock.info()
    assert info["mode"] == "shared"
    assert info["owners"] == [threading.current_thread().name]
    assert info["pending"] == [("exclusive", ["Job42"])]
    lock.release()
    assert waiter.finish().result is True


def test_owner_override_acts_for_another_owner():
    lock = locking.SharedLock("l")
    assert lock.acquire(owner="job/1")
    assert lock.is_owned(owner="job/1")
    assert not lock.is_owned()
    assert lock.info()["owners"] == ["job/1"]
    _run(lambda: lock.release(owner="job/1"))
    assert lock.info()["mode"] is None


# --- LockSet ------------------------------------------------------------------

def _lockset():
    return locking.LockSet(["a", "b", "c"], "instance")


def test_lockset_acquire_and_release():
    ls = _lockset()
    assert ls.names() == {"a", "b", "c"}
    assert ls.acquire(["c", "a"]) == {"a", "c"}
    assert ls.is_owned() and ls.list_owned() == {"a", "c"}
    assert ls.check_owned(["a"], shared=False) and not ls.check_owned("a", shared=True)
    assert not ls.check_owned(["b"])
    with pytest.raises(errors.LockError):
        ls.acquire(["b"])
    ls.release(["a"])
    assert ls.list_owned() == {"c"}
    ls.release()
    assert not ls.is_owned()
    with pytest.raises(errors.LockError):
        ls.release()


def test_lockset_unknown_name_raises_and_holds_nothing():
    ls = _lockset()
    with pytest.raises(errors.LockError, match="'zz'"):
        ls.acquire(["a", "zz"])
    assert not ls.is_owned()
    assert ls.acquire(["a"], timeout=0, owner="other") == {"a"}


def test_lockset_timeout_is_all_or_nothing():
    ls = _lockset()
    ls.acquire(["b"], owner="other")
    assert ls.acquire(["a", "b", "c"], timeout=0.1) is None
    assert not ls.is_owned()
    assert ls.acquire(["a", "c"], timeout=0, owner="third") == {"a", "c"}


def test_lockset_all_set_includes_every_name():
    ls = _lockset()
    assert ls.acquire(locking.ALL_SET, shared=True) == {"a", "b", "c"}
    assert ls.owning_all()
    # A shared whole-set owner still lets others take single locks shared
    assert ls.acquire(["b"], shared=True, timeout=0, owner="other") == {"b"}
    ls.release(["a"])
    assert not ls.owning_all()  # partial release gives up the whole set
    ls.release()


def test_all_set_blocks_add_and_remove_until_released():
    ls = _lockset()
    ls.acquire(locking.ALL_SET, shared=True, owner="job/1")
    adder = _Runner(lambda: ls.add(["d"], owner="job/2"))
    remover = _Runner(lambda: ls.remove(["a"], owner="job/3"))
    adder.start()
    remover.start()
    time.sleep(0.2)
    assert adder.is_alive() and remover.is_alive()
    assert ls.names() == {"a", "b", "c"}
    ls.release(owner="job/1")
    assert adder.finish().error is None
    assert remover.finish().result == ["a"]
    assert ls.names() == {"b", "c", "d"}


def test_exclusive_all_set_owner_may_add_and_remove():
    ls = _lockset()
    ls.acquire(locking.ALL_SET)
    ls.add(["d"], acquired=True)
    assert ls.list_owned() == {"a", "b", "c", "d"}
    assert ls.remove(["a", "d"]) == ["a", "d"]
    assert ls.list_owned() == {"b", "c"} and ls.names() == {"b", "c"}
    ls.release()


def test_all_set_on_empty_set_counts_as_owned():
    ls = locking.LockSet([], "network")
    assert ls.acquire(locking.ALL_SET) == set()
    assert ls.is_owned() and ls.owning_all()
    ls.release()
    assert not ls.is_owned()


def test_lockset_add_rules():
    ls = _lockset()
    ls.add(["d"], acquired=True, shared=True)
    assert ls.check_owned(["d"], shared=True)
    with pytest.raises(errors.ProgrammerError):
        ls.add(["e"])  # partially owned
    ls.release()
    with pytest.raises(errors.LockError, match="a"):
        ls.add(["a"])
    assert ls.names() == {"a", "b", "c", "d"}


def test_lockset_remove_owned_fails_waiters():
    ls = _lockset()
    ls.acquire(["a"])
    waiter = _Runner(lambda: ls.acquire(["a"], timeout=5, owner="other"))
    waiter.start()
    _wait_until(lambda: ls.lock_infos()[1]["pending"] != [])
    assert ls.remove(["a"]) == ["a"]
    err = waiter.finish().error
    assert isinstance(err, errors.LockError) and "'a'" in str(err)
    assert not ls.is_owned() and "a" not in ls.names()
    ls.add(["a"])  # a removed name can come back
    assert "a" in ls.names()


def test_lockset_remove_rules():
    ls = _lockset()
    ls.acquire(["a"], shared=True)
    with pytest.raises(errors.ProgrammerError):
        ls.remove(["a"])  # shared ownership
    ls.release()
    ls.acquire(["a"])
    with pytest.raises(errors.ProgrammerError):
        ls.remove(["b"])  # owns others
    ls.release()
    assert ls.remove(["b", "nonexistent"]) == ["b"]


def test_lockset_remove_by_non_owner_waits_for_holder():
    ls = _lockset()
    ls.acquire(["a"], owner="holder")
    remover = _Runner(lambda: ls.remove(["a"], owner="remover"))
    remover.start()
    time.sleep(0.1)
    assert remover.is_alive()
    ls.release(owner="holder")
    assert remover.finish().result == ["a"]


def test_all_set_skips_lock_removed_while_waiting():
    ls = _lockset()
    ls.acquire(["b"], owner="holder")
    taker = _Runner(lambda: ls.acquire(locking.ALL_SET, timeout=5, owner="taker"))
    taker.start()
    _wait_until(lambda: ls.lock_infos()[2]["pending"] != [])
    assert ls.remove(["b"], owner="holder") == ["b"]
    assert taker.finish().result == {"a", "c"}


# --- GanetiLockManager --------------------------------------------------------

def _manager():
    return locking.GanetiLockManager(nodes=["node1", "node2"], nodegroups=["g-uuid"],
                                     instances=["inst1", "inst2"], networks=["net1"])


def test_level_constants():
    assert locking.LEVELS == [0, 1, 2, 3, 4, 5]
    assert [locking.LEVEL_NAMES[lvl] for lvl in locking.LEVELS] == [
        "cluster", "instance", "nodegroup", "node", "node-res", "network"]
    assert locking.BGL == "BGL" and locking.ALL_SET is None


def test_manager_requires_bgl_first():
    glm = _manager()
    with pytest.raises(errors.ProgrammerError):
        glm.acquire(locking.LEVEL_INSTANCE, ["inst1"])
    assert glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True) == {"BGL"}
    assert glm.acquire(locking.LEVEL_INSTANCE, ["inst1"]) == {"inst1"}
    glm.release_all()
    assert not any(glm.is_owned(lvl) for lvl in locking.LEVELS)


def test_manager_enforces_level_order():
    glm = _manager()
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True)
    glm.acquire(locking.LEVEL_NODE, locking.ALL_SET, shared=True)
    with pytest.raises(errors.ProgrammerError):
        glm.acquire(locking.LEVEL_INSTANCE, ["inst1"])
    with pytest.raises(errors.ProgrammerError):
        glm.release(locking.LEVEL_CLUSTER)
    with pytest.raises(errors.ProgrammerError):
        glm.acquire(7, ["x"])
    glm.release(locking.LEVEL_NODE)
    glm.release(locking.LEVEL_CLUSTER)
    assert not glm.is_owned(locking.LEVEL_CLUSTER)


def test_manager_add_and_remove():
    glm = _manager()
    with pytest.raises(errors.ProgrammerError):
        glm.add(locking.LEVEL_INSTANCE, ["inst3"])  # no BGL
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True)
    with pytest.raises(errors.ProgrammerError):
        glm.add(locking.LEVEL_CLUSTER, ["other"])
    glm.add(locking.LEVEL_INSTANCE, ["inst3"], acquired=True)
    assert glm.check_owned(locking.LEVEL_INSTANCE, ["inst3"], shared=False)
    assert glm.remove(locking.LEVEL_INSTANCE, ["inst3"]) == ["inst3"]
    assert glm.names(locking.LEVEL_INSTANCE) == {"inst1", "inst2"}
    glm.release_all()


def test_manager_node_and_node_res_share_names_but_not_locks():
    glm = _manager()
    assert glm.names(locking.LEVEL_NODE) == glm.names(locking.LEVEL_NODE_RES)
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True, owner="j1")
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True, owner="j2")
    glm.acquire(locking.LEVEL_NODE, ["node1"], owner="j1")
    assert glm.acquire(locking.LEVEL_NODE_RES, ["node1"], owner="j2", timeout=0) == {
        "node1"}
    assert glm.list_owned(locking.LEVEL_NODE_RES, owner="j2") == {"node1"}
    glm.release_all(owner="j1")
    glm.release_all(owner="j2")


def test_manager_exclusive_bgl_waits_for_shared_jobs():
    glm = _manager()
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True, owner="job/1")
    assert glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], timeout=0.1,
                       owner="job/2") is None
    glm.release_all(owner="job/1")
    assert glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], timeout=0,
                       owner="job/2") == {"BGL"}


def test_query_locks_shape():
    glm = _manager()
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True, owner="job/1")
    glm.acquire(locking.LEVEL_INSTANCE, ["inst1"], owner="job/1")
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True, owner="job/2")
    waiter = _Runner(lambda: glm.acquire(locking.LEVEL_INSTANCE, ["inst1"], shared=True,
                                         timeout=5, owner="job/2"))
    waiter.start()
    rows = {}
    _wait_until(lambda: rows.update((r["name"], r) for r in glm.query_locks())
                or rows["instance/inst1"]["pending"])
    rows = glm.query_locks()
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) >= {"cluster/BGL", "instance/inst1", "instance/inst2",
                            "nodegroup/g-uuid", "node/node1", "node-res/node2",
                            "network/net1", "instance/[lockset]"}
    for row in rows:
        assert set(row) == {"name", "mode", "owner", "pending"}
    assert by_name["cluster/BGL"]["mode"] == "shared"
    assert by_name["cluster/BGL"]["owner"] == ["job/1", "job/2"]
    assert by_name["instance/inst1"] == {"name": "instance/inst1", "mode": "exclusive",
                                         "owner": ["job/1"],
                                         "pending": [["shared", ["job/2"]]]}
    assert by_name["instance/inst2"] == {"name": "instance/inst2", "mode": None,
                                         "owner": None, "pending": []}
    glm.release(locking.LEVEL_INSTANCE, owner="job/1")
    assert waiter.finish().result == {"inst1"}


@pytest.mark.timeout(30)
def test_stress_random_acquires_finish_without_deadlock():
    instances = [f"inst{i}" for i in range(6)]
    nodes = [f"node{i}" for i in range(4)]
    glm = locking.GanetiLockManager(nodes=nodes, instances=instances)
    state_lock = threading.Lock()
    holders = {}  # (level, name) -> [shared count, exclusive count]
    violations = []

    def note(level, names, shared, delta):
        with state_lock:
            for name in names:
                counts = holders.setdefault((level, name), [0, 0])
                counts[0 if shared else 1] += delta
                if counts[1] > 1 or (counts[1] and counts[0]):
                    violations.append((level, name, list(counts)))

    def worker(seed):
        rnd = random.Random(seed)
        done = 0
        for _ in range(250):
            held = []
            bgl_shared = rnd.random() < 0.9
            if glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=bgl_shared,
                           timeout=2) is None:
                continue
            held.append((locking.LEVEL_CLUSTER, {"BGL"}, bgl_shared))
            for level, pool in ((locking.LEVEL_INSTANCE, instances),
                                (locking.LEVEL_NODE, nodes)):
                shared = rnd.random() < 0.5
                names = (locking.ALL_SET if rnd.random() < 0.1
                         else rnd.sample(pool, rnd.randint(1, 3)))
                got = glm.acquire(level, names, shared=shared,
                                  timeout=rnd.choice([None, 0.05]))
                if got is None:
                    break
                held.append((level, got, shared))
            for level, names, shared in held:
                note(level, names, shared, 1)
            time.sleep(rnd.random() * 0.0005)
            for level, names, shared in held:
                note(level, names, shared, -1)
            glm.release_all()
            done += 1
        return done

    runners = [_Runner(lambda s=s: worker(s), name=f"stress{s}") for s in range(8)]
    for r in runners:
        r.start()
    for r in runners:
        r.finish(timeout=25)
        assert r.error is None, r.error
    assert sum(r.result for r in runners) > 0
    assert violations == []
    assert all(row["mode"] is None and not row["pending"] for row in glm.query_locks())


def test_benchmark_acquire_release_rate():
    lock = locking.SharedLock("bench")
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire(shared=True)
        lock.release()
    lock_rate = n / (time.perf_counter() - start)

    glm = locking.GanetiLockManager(nodes=[f"node{i}" for i in range(10)],
                                    instances=[f"inst{i}" for i in range(50)])
    jobs = 2000

    def job(i):
        glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True)
        glm.acquire(locking.LEVEL_INSTANCE, [f"inst{i % 50}"])
        glm.acquire(locking.LEVEL_NODE, [f"node{i % 10}", f"node{(i + 1) % 10}"],
                    shared=True)
        glm.release_all()

    start = time.perf_counter()
    for i in range(jobs):
        job(i)
    job_rate = jobs / (time.perf_counter() - start)

    def worker(base):
        for i in range(base, base + jobs // 4):
            job(i)

    runners = [_Runner(lambda b=b: worker(b)) for b in range(0, jobs, jobs // 4)]
    start = time.perf_counter()
    for r in runners:
        r.start()
    for r in runners:
        assert r.finish(timeout=60).error is None
    threaded_rate = jobs / (time.perf_counter() - start)
    print(f"\nSharedLock acquire/release pairs/s: {lock_rate:.0f}; lock-manager jobs/s"
          f" (BGL shared + 1 instance + 2 nodes): {job_rate:.0f} single thread,"
          f" {threaded_rate:.0f} with 4 threads")
    assert lock.info()["mode"] is None
    assert all(row["mode"] is None for row in glm.query_locks())


def test_manager_node_add_and_remove_as_logical_units_do():
    glm = _manager()
    # Node addition: BGL exclusive, whole node level exclusive, then the new locks
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL])
    glm.acquire(locking.LEVEL_NODE, locking.ALL_SET)
    glm.add(locking.LEVEL_NODE, ["node3"])
    glm.add(locking.LEVEL_NODE_RES, ["node3"])
    assert glm.owning_all(locking.LEVEL_NODE)
    assert glm.remove(locking.LEVEL_NODE, ["node1"]) == ["node1"]
    glm.release_all()
    assert glm.names(locking.LEVEL_NODE) == {"node2", "node3"}
    assert glm.names(locking.LEVEL_NODE_RES) == {"node1", "node2", "node3"}
    # Instance creation: BGL shared, new instance lock added already held
    glm.acquire(locking.LEVEL_CLUSTER, [locking.BGL], shared=True)
    glm.add(locking.LEVEL_INSTANCE, ["inst9"], acquired=True)
    assert glm.list_owned(locking.LEVEL_INSTANCE) == {"inst9"}
    glm.acquire(locking.LEVEL_NODE, ["node2"])
    with pytest.raises(errors.ProgrammerError):
        glm.add(locking.LEVEL_NODEGROUP, ["g2"])  # a later level is owned
    glm.release_all()
    assert not any(glm.is_owned(lvl) for lvl in locking.LEVELS)
