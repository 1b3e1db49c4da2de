"""The master daemon's lock manager: shared/exclusive locks, lock sets, lock levels.

Jobs run in worker threads; each logical unit takes its locks level by level through
``GanetiLockManager``, which also answers the ``gnt-debug locks`` query.
"""

import collections
import threading
import time
from collections.abc import Hashable, Iterable

from ganeti import constants, errors

LEVEL_CLUSTER = 0
LEVEL_INSTANCE = 1
LEVEL_NODEGROUP = 2
LEVEL_NODE = 3
LEVEL_NODE_RES = 4
LEVEL_NETWORK = 5

LEVELS = [LEVEL_CLUSTER, LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE, LEVEL_NODE_RES,
          LEVEL_NETWORK]
# Levels whose lock names change with the configuration (the cluster level never does)
LEVELS_MOD = frozenset([LEVEL_INSTANCE, LEVEL_NODEGROUP, LEVEL_NODE, LEVEL_NODE_RES,
                        LEVEL_NETWORK])
LEVEL_NAMES = {
    LEVEL_CLUSTER: "cluster",
    LEVEL_INSTANCE: "instance",
    LEVEL_NODEGROUP: "nodegroup",
    LEVEL_NODE: "node",
    LEVEL_NODE_RES: "node-res",
    LEVEL_NETWORK: "network",
}

BGL = "BGL"
ALL_SET = None

MODE_SHARED = "shared"
MODE_EXCLUSIVE = "exclusive"

# Name of the internal lock guarding a whole set against add/remove, as "level/[lockset]"
_SET_LOCK_NAME = "[lockset]"

_WAITING = 0
_GRANTED = 1
_FAILED = 2


def _owner_or_current(owner: Hashable | None) -> Hashable:
    return threading.get_ident() if owner is None else owner


def _check_priority(priority: int) -> None:
    if not (constants.OP_PRIO_HIGHEST <= priority <= constants.OP_PRIO_LOWEST):
        raise errors.ProgrammerError(
            f"Invalid lock priority {priority!r} (must be"
            f" {constants.OP_PRIO_HIGHEST}..{constants.OP_PRIO_LOWEST})")


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def describe_owner(owner: Hashable, thread_names: dict | None = None) -> str:
    """Human-readable owner: a live thread's name for a thread id, else ``str(owner)``.

    Job workers are expected either to name their thread after the job or to act
    with an explicit string owner such as ``"job/42"``.
    """
    if isinstance(owner, int) and not isinstance(owner, bool):
        if thread_names is None:
            thread_names = _thread_names()
        name = thread_names.get(owner)
        if name is not None:
            return name
    return str(owner)


def _thread_names() -> dict:
    return {t.ident: t.name for t in threading.enumerate()}


class _WaitGroup:
    """Acquirers queued together: one exclusive owner, or shared owners woken at once."""

    __slots__ = ("cond", "owners", "shared", "state")

    def __init__(self, shared: bool, mutex: threading.Lock):
        self.shared = shared
        self.owners: list = []
        self.cond = threading.Condition(mutex)
        self.state = _WAITING


class SharedLock:
    """A lock held by many owners in shared mode or by one in exclusive mode.

    Waiters are served by priority (lower value first, -20..19), FIFO within a
    priority. A new acquirer is served at once only when compatible and more
    important than every waiter; otherwise it queues. Shared waiters of one priority
    join the same not-yet-served group, so an exclusive waiter waits for at most one
    batch of shared owners per priority level. The lock is handed over directly to the
    waiters it is granted to (no thundering herd). Uncontended acquire/release is
    O(1); contended release is O(P) for P distinct pending priorities; a timed-out
    waiter unlinks itself in O(W) for W waiters at its priority.

    A deleted lock raises ``errors.LockError`` from ``acquire`` (also for waiters that
    were queued when it was deleted); re-acquiring a lock one already owns or waits for
    raises ``errors.LockError`` too.
    """

    def __init__(self, name: str):
        self.name = name
        self._mutex = threading.Lock()
        self._exclusive = None
        self._shared: set = set()
        # priority -> groups in arrival order; priority -> joinable shared group
        self._queue: dict[int, collections.deque] = {}
        self._shared_group: dict[int, _WaitGroup] = {}
        self._pending_owners: dict = {}
        self._deleted = False

    @property
    def deleted(self) -> bool:
        return self._deleted

    def _deleted_error(self) -> errors.LockError:
        return errors.LockError(f"Lock '{self.name}' has been deleted")

    def _not_owned_error(self, owner: Hashable) -> errors.LockError:
        return errors.LockError(f"Lock '{self.name}' is not owned by"
                                f" {describe_owner(owner)}")

    def _grantable(self, shared: bool) -> bool:
        if shared:
            return self._exclusive is None
        return self._exclusive is None and not self._shared

    def _grant_waiters(self) -> None:
        """Hand the lock to queued groups while compatible; mutex must be held."""
        queue = self._queue
        while queue:
            prio = min(queue)
            groups = queue[prio]
            group = groups[0]
            if not self._grantable(group.shared):
                return
            groups.popleft()
            if not groups:
                del queue[prio]
            if self._shared_group.get(prio) is group:
                del self._shared_group[prio]
            if group.shared:
                self._shared.update(group.owners)
            else:
                self._exclusive = group.owners[0]
            for owner in group.owners:
                del self._pending_owners[owner]
            group.state = _GRANTED
            group.cond.notify_all()
            if not group.shared:
                return

    def acquire(self, shared: bool = False, timeout: float | None = None,
                priority: int = constants.OP_PRIO_DEFAULT,
                owner: Hashable | None = None) -> bool:
        """Acquire in the given mode; False when ``timeout`` (seconds) expires first.

        ``timeout=None`` waits forever, ``0`` only tries.
        """
        owner = _owner_or_current(owner)
        _check_priority(priority)
        with self._mutex:
            if self._deleted:
                raise self._deleted_error()
            if (owner == self._exclusive or owner in self._shared
                    or owner in self._pending_owners):
                raise errors.LockError(f"Lock '{self.name}' is already owned or requested"
                                       f" by {describe_owner(owner)}")
            # Served at once only if no queued waiter is at least as important
            queue = self._queue
            if self._grantable(shared) and (not queue or priority < min(queue)):
                if shared:
                    self._shared.add(owner)
                else:
                    self._exclusive = owner
                return True
            if timeout is not None and timeout <= 0:
                return False
            group = self._enqueue(owner, shared, priority)
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                while group.state == _WAITING:
                    left = _remaining(deadline)
                    if left == 0.0:
                        break
                    group.cond.wait(left)
            except BaseException:
                # Interrupted (e.g. KeyboardInterrupt): leave no trace in the queue
                if group.state == _WAITING:
                    self._dequeue(owner, group, priority)
                elif group.state == _GRANTED:
                    self._drop_owner(owner)
                raise
            if group.state == _GRANTED:
                return True
            if group.state == _FAILED:
                raise self._deleted_error()
            self._dequeue(owner, group, priority)
            return False

    def _enqueue(self, owner: Hashable, shared: bool, priority: int) -> _WaitGroup:
        group = self._shared_group.get(priority) if shared else None
        if group is None:
            group = _WaitGroup(shared, self._mutex)
            self._queue.setdefault(priority, collections.deque()).append(group)
            if shared:
                self._shared_group[priority] = group
        group.owners.append(owner)
        self._pending_owners[owner] = group
        return group

    def _dequeue(self, owner: Hashable, group: _WaitGroup, priority: int) -> None:
        """Withdraw a timed-out waiter; its leaving may unblock those behind it."""
        group.owners.remove(owner)
        del self._pending_owners[owner]
        if group.owners:
            return
        groups = self._queue[priority]
        groups.remove(group)
        if not groups:
            del self._queue[priority]
        if self._shared_group.get(priority) is group:
            del self._shared_group[priority]
        self._grant_waiters()

    def release(self, owner: Hashable | None = None) -> None:
        owner = _owner_or_current(owner)
        with self._mutex:
            self._drop_owner(owner)

    def _drop_owner(self, owner: Hashable) -> None:
        """Give up ``owner``'s hold and serve the waiters; mutex must be held."""
        if self._exclusive is not None and owner == self._exclusive:
            self._exclusive = None
        elif owner in self._shared:
            self._shared.remove(owner)
        else:
            raise self._not_owned_error(owner)
        if self._queue:
            self._grant_waiters()

    def downgrade(self, owner: Hashable | None = None) -> None:
        """Turn an exclusive ownership into a shared one (no-op when already shared)."""
        owner = _owner_or_current(owner)
        with self._mutex:
            if owner in self._shared:
                return
            if self._exclusive is None or owner != self._exclusive:
                raise self._not_owned_error(owner)
            self._exclusive = None
            self._shared.add(owner)
            if self._queue:
                self._grant_waiters()

    def is_owned(self, shared: bool | None = None, owner: Hashable | None = None) -> bool:
        """Whether ``owner`` holds the lock: in any mode (``shared=None``) or that mode."""
        owner = _owner_or_current(owner)
        if shared is None or not shared:
            if self._exclusive is not None and owner == self._exclusive:
                return True
            if shared is not None:
                return False
        return owner in self._shared

    def delete(self, timeout: float | None = None,
               priority: int = constants.OP_PRIO_DEFAULT,
               owner: Hashable | None = None) -> bool:
        """Take the lock exclusively (unless already so), then delete it.

        Every queued acquirer fails with ``errors.LockError``; afterwards nobody owns
        the lock. Returns False when the exclusive acquisition timed out.
        """
        owner = _owner_or_current(owner)
        if owner in self._shared:
            raise errors.LockError(f"Lock '{self.name}' must be held exclusively to be"
                                   " deleted")
        if (not self.is_owned(shared=False, owner=owner)
                and not self.acquire(shared=False, timeout=timeout, priority=priority,
                                     owner=owner)):
            return False
        with self._mutex:
            self._deleted = True
            self._exclusive = None
            for groups in self._queue.values():
                for group in groups:
                    group.state = _FAILED
                    group.cond.notify_all()
            self._queue.clear()
            self._shared_group.clear()
            self._pending_owners.clear()
        return True

    def info(self, thread_names: dict | None = None) -> dict:
        """State for lock queries: name, mode, owners, pending [(mode, [owners])]."""
        if thread_names is None:
            thread_names = _thread_names()
        with self._mutex:
            if self._exclusive is not None:
                mode, owners = MODE_EXCLUSIVE, [self._exclusive]
            elif self._shared:
                mode, owners = MODE_SHARED, list(self._shared)
            else:
                mode, owners = None, []
            pending = [(MODE_SHARED if g.shared else MODE_EXCLUSIVE, list(g.owners))
                       for prio in sorted(self._queue) for g in self._queue[prio]]
        return {
            "name": self.name,
            "mode": mode,
            "owners": sorted(describe_owner(o, thread_names) for o in owners),
            "pending": [(m, [describe_owner(o, thread_names) for o in ws])
                        for m, ws in pending],
        }


def _name_list(names: str | Iterable[str]) -> list[str]:
    if isinstance(names, str):
        return [names]
    return sorted(set(names))


class LockSet:
    """A named set of ``SharedLock`` s acquired all-or-nothing in sorted name order.

    An internal set-level lock (``"<level>/[lockset]"``) is held by whoever acquired
    the whole set (``ALL_SET``), in the same mode; ``add`` takes it exclusively and
    so does ``remove`` by a caller owning nothing in the set, which keeps the set's
    membership stable while someone owns all of it. Acquiring k names costs
    O(k log k) plus k lock acquisitions; no set-wide mutex is held while waiting.
    """

    def __init__(self, names: Iterable[str], level_name: str):
        self.level_name = level_name
        self._mutex = threading.Lock()
        self._set_lock = SharedLock(self._lock_name(_SET_LOCK_NAME))
        self._locks: dict[str, SharedLock] = {
            name: SharedLock(self._lock_name(name)) for name in _name_list(names)}
        # owner -> {name: lock}; present while the owner holds anything, even only
        # the set-level lock of an empty set
        self._owned: dict[Hashable, dict[str, SharedLock]] = {}

    def _lock_name(self, name: str) -> str:
        return f"{self.level_name}/{name}"

    def _not_found(self, name: str) -> errors.LockError:
        return errors.LockError(f"Non-existing lock '{name}' in set {self.level_name}"
                                " (it may have been removed)")

    def _not_owned_error(self, names: list[str], owner: Hashable) -> errors.LockError:
        return errors.LockError(f"Locks {', '.join(names)} in set {self.level_name}"
                                f" are not owned by {describe_owner(owner)}")

    def names(self) -> set[str]:
        with self._mutex:
            return {n for n, lock in self._locks.items() if not lock.deleted}

    def is_owned(self, owner: Hashable | None = None) -> bool:
        return _owner_or_current(owner) in self._owned

    def owning_all(self, owner: Hashable | None = None) -> bool:
        """Whether ``owner`` acquired the whole set (``ALL_SET``) and still holds it."""
        return self._set_lock.is_owned(owner=_owner_or_current(owner))

    def list_owned(self, owner: Hashable | None = None) -> set[str]:
        with self._mutex:
            return set(self._owned.get(_owner_or_current(owner), ()))

    def check_owned(self, names: str | Iterable[str], shared: bool | None = None,
                    owner: Hashable | None = None) -> bool:
        """Whether all ``names`` are owned (in mode ``shared`` unless it is None)."""
        owner = _owner_or_current(owner)
        with self._mutex:
            owned = dict(self._owned.get(owner, {}))
        for name in _name_list(names):
            lock = owned.get(name)
            if lock is None or not lock.is_owned(shared=shared, owner=owner):
                return False
        return True

    def acquire(self, names: str | Iterable[str] | None,
                shared: bool = False, timeout: float | None = None,
                priority: int = constants.OP_PRIO_DEFAULT,
                owner: Hashable | None = None) -> set[str] | None:
        """Acquire ``names`` (or ``ALL_SET``); the acquired names, or None on timeout.

        Nothing stays held on timeout or error. A missing name raises
        ``errors.LockError``; with ``ALL_SET`` locks removed meanwhile are skipped.
        """
        owner = _owner_or_current(owner)
        if owner in self._owned:
            raise errors.LockError(f"{describe_owner(owner)} already owns locks in set"
                                   f" {self.level_name}")
        deadline = None if timeout is None else time.monotonic() + timeout
        if names is not ALL_SET:
            wanted = _name_list(names)
            with self._mutex:
                for name in wanted:
                    if name not in self._locks:
                        raise self._not_found(name)
            return self._acquire_names(wanted, shared, deadline, priority, owner, False)
        if not self._set_lock.acquire(shared=shared, timeout=_remaining(deadline),
                                      priority=priority, owner=owner):
            return None
        try:
            with self._mutex:
                wanted = sorted(self._locks)
            result = self._acquire_names(wanted, shared, deadline, priority, owner, True)
        except BaseException:
            self._set_lock.release(owner=owner)
            raise
        if result is None:
            self._set_lock.release(owner=owner)
        return result

    def _acquire_names(self, wanted: list[str], shared: bool, deadline: float | None,
                       priority: int, owner: Hashable,
                       skip_missing: bool) -> set[str] | None:
        taken: dict[str, SharedLock] = {}
        try:
            for name in wanted:
                with self._mutex:
                    lock = self._locks.get(name)
                if lock is None:
                    if skip_missing:
                        continue
                    raise self._not_found(name)
                try:
                    ok = lock.acquire(shared=shared, timeout=_remaining(deadline),
                                      priority=priority, owner=owner)
                except errors.LockError:
                    if not lock.deleted:
                        raise
                    if skip_missing:
                        continue
                    raise self._not_found(name) from None
                if not ok:
                    self._release_locks(taken, owner)
                    return None
                taken[name] = lock
        except BaseException:
            self._release_locks(taken, owner)
            raise
        with self._mutex:
            self._owned[owner] = taken
        return set(taken)

    @staticmethod
    def _release_locks(locks: dict[str, SharedLock], owner: Hashable) -> None:
        for lock in locks.values():
            lock.release(owner=owner)

    def release(self, names: str | Iterable[str] | None = None,
                owner: Hashable | None = None) -> None:
        """Release ``names`` (default: everything held in this set).

        Releasing only part of the set also gives up the whole-set ownership.
        """
        owner = _owner_or_current(owner)
        with self._mutex:
            owned = self._owned.get(owner)
            if owned is None:
                raise errors.LockError(f"{describe_owner(owner)} owns no locks in set"
                                       f" {self.level_name}")
            if names is None:
                wanted = list(owned)
            else:
                wanted = _name_list(names)
                extra = [n for n in wanted if n not in owned]
                if extra:
                    raise self._not_owned_error(extra, owner)
            locks = [owned.pop(name) for name in wanted]
        if self._set_lock.is_owned(owner=owner):
            self._set_lock.release(owner=owner)
        for lock in locks:
            lock.release(owner=owner)
        with self._mutex:
            if not owned:
                del self._owned[owner]

    def downgrade(self, names: str | Iterable[str] | None = None,
                  owner: Hashable | None = None) -> None:
        """Make owned exclusive locks shared (by default all, and the set lock)."""
        owner = _owner_or_current(owner)
        with self._mutex:
            owned = dict(self._owned.get(owner, {}))
        wanted = list(owned) if names is None else _name_list(names)
        missing = [n for n in wanted if n not in owned]
        if missing:
            raise self._not_owned_error(missing, owner)
        if names is None and self._set_lock.is_owned(owner=owner):
            self._set_lock.downgrade(owner=owner)
        for name in wanted:
            owned[name].downgrade(owner=owner)

    def add(self, names: str | Iterable[str], acquired: bool = False,
            shared: bool = False, owner: Hashable | None = None) -> None:
        """Create locks; waits while someone else owns the whole set.

        With ``acquired`` the new locks are owned by ``owner`` on return. The caller
        must own nothing in the set, or own the whole set exclusively.
        """
        owner = _owner_or_current(owner)
        wanted = _name_list(names)
        holds_set = self._set_lock.is_owned(owner=owner)
        if self.is_owned(owner) and not self._set_lock.is_owned(shared=False,
                                                                owner=owner):
            raise errors.ProgrammerError(f"Cannot add locks to set {self.level_name}"
                                         " while owning only part of it, or all of it"
                                         " shared")
        if not holds_set:
            self._set_lock.acquire(shared=False, owner=owner)
        try:
            with self._mutex:
                dups = [n for n in wanted
                        if n in self._locks and not self._locks[n].deleted]
                if dups:
                    raise errors.LockError(f"Locks {', '.join(dups)} already exist in"
                                           f" set {self.level_name}")
                new = {name: SharedLock(self._lock_name(name)) for name in wanted}
                if acquired:
                    # Not yet visible to anybody, so these cannot block
                    for lock in new.values():
                        lock.acquire(shared=shared, owner=owner)
                    self._owned.setdefault(owner, {}).update(new)
                self._locks.update(new)
        finally:
            if not holds_set:
                self._set_lock.release(owner=owner)

    def remove(self, names: str | Iterable[str],
               owner: Hashable | None = None) -> list[str]:
        """Delete locks; returns the names actually removed (missing ones are skipped).

        The caller either owns all of ``names`` exclusively, owns the whole set
        exclusively, or owns nothing in the set (then it waits for the locks).
        Waiters on a removed lock fail with ``errors.LockError``.
        """
        owner = _owner_or_current(owner)
        wanted = _name_list(names)
        take_set = False
        if self._set_lock.is_owned(shared=False, owner=owner):
            pass  # owning the whole set exclusively allows any removal
        elif self.is_owned(owner):
            if (self._set_lock.is_owned(owner=owner)
                    or not self.check_owned(wanted, shared=False, owner=owner)):
                raise errors.ProgrammerError("Cannot remove locks from set"
                                             f" {self.level_name} unless owning them"
                                             " (or the whole set) exclusively")
        else:
            take_set = True
            self._set_lock.acquire(shared=False, owner=owner)
        removed = []
        try:
            for name in wanted:
                with self._mutex:
                    lock = self._locks.get(name)
                if lock is None:
                    continue
                try:
                    lock.delete(owner=owner)
                except errors.LockError:
                    if lock.deleted:
                        continue
                    raise
                with self._mutex:
                    if self._locks.get(name) is lock:
                        del self._locks[name]
                    owned_map = self._owned.get(owner)
                    if owned_map is not None:
                        owned_map.pop(name, None)
                        if not owned_map and not self._set_lock.is_owned(owner=owner):
                            del self._owned[owner]
                removed.append(name)
        finally:
            if take_set:
                self._set_lock.release(owner=owner)
        return removed

    def lock_infos(self, thread_names: dict | None = None) -> list[dict]:
        """``SharedLock.info`` of the set-level lock and of every lock in the set."""
        with self._mutex:
            locks = [self._set_lock] + [self._locks[n] for n in sorted(self._locks)]
        return [lock.info(thread_names) for lock in locks if not lock.deleted]


class GanetiLockManager:
    """One ``LockSet`` per level, acquired in level order after the BGL.

    Rules (violations raise ``errors.ProgrammerError``): the BGL level must be owned
    before any other level is acquired, added to or removed from; a level may not be
    acquired while a later level is owned; the BGL may not be released while any
    other level is owned. ``node`` and ``node-res`` share the node names.
    """

    def __init__(self, cluster_lock_names: Iterable[str] = (BGL,),
                 nodes: Iterable[str] = (), nodegroups: Iterable[str] = (),
                 instances: Iterable[str] = (), networks: Iterable[str] = ()):
        nodes = list(nodes)
        initial = {
            LEVEL_CLUSTER: cluster_lock_names,
            LEVEL_INSTANCE: instances,
            LEVEL_NODEGROUP: nodegroups,
            LEVEL_NODE: nodes,
            LEVEL_NODE_RES: nodes,
            LEVEL_NETWORK: networks,
        }
        self._sets = {level: LockSet(initial[level], LEVEL_NAMES[level])
                      for level in LEVELS}

    def _set(self, level: int) -> LockSet:
        try:
            return self._sets[level]
        except KeyError:
            raise errors.ProgrammerError(f"Invalid lock level {level!r}") from None

    def _upper_owned(self, level: int, owner: Hashable) -> list[str]:
        return [LEVEL_NAMES[lvl] for lvl in LEVELS
                if lvl > level and self._sets[lvl].is_owned(owner)]

    def _check_bgl(self, owner: Hashable) -> None:
        if not self._sets[LEVEL_CLUSTER].is_owned(owner):
            raise errors.ProgrammerError("The Big Ganeti Lock must be owned before"
                                         " other lock levels")

    def acquire(self, level: int, names: str | Iterable[str] | None,
                shared: bool = False, timeout: float | None = None,
                priority: int = constants.OP_PRIO_DEFAULT,
                owner: Hashable | None = None) -> set[str] | None:
        """Acquire ``names`` (or ``ALL_SET``) at ``level``; None on timeout."""
        owner = _owner_or_current(owner)
        lockset = self._set(level)
        if level != LEVEL_CLUSTER:
            self._check_bgl(owner)
        upper = self._upper_owned(level, owner)
        if upper:
            raise errors.ProgrammerError(f"Cannot acquire {LEVEL_NAMES[level]} locks"
                                         " while owning locks at later levels"
                                         f" ({', '.join(upper)})")
        return lockset.acquire(names, shared=shared, timeout=timeout,
                               priority=priority, owner=owner)

    def release(self, level: int, names: str | Iterable[str] | None = None,
                owner: Hashable | None = None) -> None:
        owner = _owner_or_current(owner)
        lockset = self._set(level)
        if level == LEVEL_CLUSTER and (names is None or BGL in _name_list(names)):
            upper = self._upper_owned(level, owner)
            if upper:
                raise errors.ProgrammerError("Cannot release the Big Ganeti Lock while"
                                             f" owning other levels ({', '.join(upper)})")
        lockset.release(names, owner=owner)

    def downgrade(self, level: int, names: str | Iterable[str] | None = None,
                  owner: Hashable | None = None) -> None:
        self._set(level).downgrade(names, owner=_owner_or_current(owner))

    def _check_modifiable(self, level: int, owner: Hashable) -> LockSet:
        lockset = self._set(level)
        if level not in LEVELS_MOD:
            raise errors.ProgrammerError(f"Lock level {LEVEL_NAMES[level]} cannot be"
                                         " modified")
        self._check_bgl(owner)
        if not lockset.is_owned(owner) and self._upper_owned(level, owner):
            raise errors.ProgrammerError(f"Cannot change {LEVEL_NAMES[level]} locks"
                                         " while owning locks at"
                                         " later levels")
        return lockset

    def add(self, level: int, names: str | Iterable[str], acquired: bool = False,
            shared: bool = False, owner: Hashable | None = None) -> None:
        owner = _owner_or_current(owner)
        self._check_modifiable(level, owner).add(names, acquired=acquired,
                                                 shared=shared, owner=owner)

    def remove(self, level: int, names: str | Iterable[str],
               owner: Hashable | None = None) -> list[str]:
        owner = _owner_or_current(owner)
        return self._check_modifiable(level, owner).remove(names, owner=owner)

    def names(self, level: int) -> set[str]:
        return self._set(level).names()

    def list_owned(self, level: int, owner: Hashable | None = None) -> set[str]:
        return self._set(level).list_owned(owner)

    def is_owned(self, level: int, owner: Hashable | None = None) -> bool:
        return self._set(level).is_owned(owner)

    def owning_all(self, level: int, owner: Hashable | None = None) -> bool:
        return self._set(level).owning_all(owner)

    def check_owned(self, level: int, names: str | Iterable[str],
                    shared: bool | None = None, owner: Hashable | None = None) -> bool:
        return self._set(level).check_owned(names, shared=shared, owner=owner)

    def release_all(self, owner: Hashable | None = None) -> None:
        """Release everything ``owner`` (default: this thread) holds, last level first."""
        owner = _owner_or_current(owner)
        for level in reversed(LEVELS):
            if self._sets[level].is_owned(owner):
                self._sets[level].release(owner=owner)

    def query_locks(self) -> list[dict]:
        """Rows for ``gnt-debug locks``: name ("level/name"), mode, owner, pending.

        ``owner`` is a sorted list of owner names or None when unowned; ``pending``
        lists ``[mode, [owner names]]`` in the order the waiters will be served.
        Rows are sorted by name.
        """
        thread_names = _thread_names()
        rows = []
        for level in LEVELS:
            for info in self._sets[level].lock_infos(thread_names):
                rows.append({
                    "name": info["name"],
                    "mode": info["mode"],
                    "owner": info["owners"] or None,
                    "pending": [[mode, owners] for mode, owners in info["pending"]],
                })
        rows.sort(key=lambda row: row["name"])
        return rows
