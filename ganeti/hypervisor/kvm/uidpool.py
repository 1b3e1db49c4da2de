"""The uid pool of security_model=pool (security.md S11): syntax and per-node allocation.

A uid in use on a node has a lock file RUN_DIR/uid-pool/UID naming its instance.
Allocation picks a random free uid under an exclusive lock of the pool directory, so
two instances starting at once never get the same uid; a uid is free when it has no
lock file (or a stale one whose instance no longer runs) and no process runs as it.
"""

import errno
import fcntl
import os
import random
import time

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import ssconf
from ganeti.utils import io

MAX_UID = 2 ** 32 - 1
_LOCK_TIMEOUT = 30


def parse_uid_pool(text: str) -> list[tuple[int, int]]:
    """"1000-5000, 8000" -> [(1000, 5000), (8000, 8000)]; ValueError on bad syntax."""
    result = []
    for item in "".join(text.split()).split(","):
        if not item:
            continue
        parts = item.split("-")
        if len(parts) > 2 or not all(p.isdigit() for p in parts):
            raise ValueError("Invalid uid pool entry %r (a uid or a range LOW-HIGH)"
                             % item)
        low, high = int(parts[0]), int(parts[-1])
        if high > MAX_UID:
            raise ValueError("uid %d in %r is above %d" % (high, item, MAX_UID))
        if low > high:
            raise ValueError("Invalid uid range %r (low above high)" % item)
        result.append((low, high))
    return sorted(result)


def format_uid_pool(pool) -> str:
    return ", ".join("%d" % lo if lo == hi else "%d-%d" % (lo, hi) for lo, hi in pool)


def read_cluster_pool(data_dir: str | None = None) -> list[tuple[int, int]]:
    """The cluster's pool from this node's ssconf_uid_pool (one range per line)."""
    store = ssconf.SimpleStore(data_dir)
    return parse_uid_pool(",".join(store.lines(constants.SS_UID_POOL)))


def pool_size(pool) -> int:
    return sum(hi - lo + 1 for lo, hi in pool)


def nth_uid(pool, index: int) -> int:
    for lo, hi in pool:
        count = hi - lo + 1
        if index < count:
            return lo + index
        index -= count
    raise IndexError(index)


def uids_in_use_by_processes() -> set[int]:
    """Real and effective uids of every process on the machine."""
    import psutil
    used = set()
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info.get("uids")
        if uids:
            used.update((uids.real, uids.effective))
    return used


class UidPool:
    """Allocation of pool uids on this node."""

    def __init__(self, pool_dir: str | None = None,
                 is_running=None, busy_uids=uids_in_use_by_processes):
        self.dir = pool_dir or os.path.join(pathutils.RUN_DIR, "uid-pool")
        self._is_running = is_running or (lambda name: False)
        self._busy_uids = busy_uids

    def _lockfile(self, uid: int) -> str:
        return os.path.join(self.dir, str(uid))

    def _lock_dir(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fh = open(os.path.join(self.dir, ".lock"), "a")
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fh
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fh.close()
                    raise errors.HypervisorError("Cannot lock the uid pool %s"
                                                 % self.dir) from None
                time.sleep(0.05)

    def owner(self, uid: int) -> str | None:
        try:
            return io.read_file(self._lockfile(uid)).strip() or None
        except FileNotFoundError:
            return None

    def taken(self) -> dict[int, str]:
        """uid -> instance for every lock file of this node."""
        result = {}
        try:
            entries = os.listdir(self.dir)
        except FileNotFoundError:
            return result
        for entry in entries:
            if entry.isdigit():
                result[int(entry)] = self.owner(int(entry)) or ""
        return result

    def allocate(self, pool, instance: str) -> int:
        """A random free uid of ``pool`` for ``instance``; HypervisorError if none."""
        total = pool_size(pool)
        if not total:
            raise errors.HypervisorError("The cluster uid pool is empty; set it with "
                                         "gnt-cluster modify --uid-pool")
        fh = self._lock_dir()
        try:
            taken = self.taken()
            busy = self._busy_uids()
            # an instance restarted in place keeps nothing: drop its old lock first
            for uid, owner in list(taken.items()):
                if owner == instance:
                    io.remove_file(self._lockfile(uid))
                    del taken[uid]
            candidates = []
            if total <= 65536:
                candidates = [u for u in (nth_uid(pool, i) for i in range(total))
                              if u not in taken and u not in busy]
                random.shuffle(candidates)
            else:
                # a huge pool: sample instead of listing every uid
                for _ in range(1000):
                    uid = nth_uid(pool, random.randrange(total))
                    if uid not in taken and uid not in busy and uid not in candidates:
                        candidates.append(uid)
            if not candidates:
                # every uid has a lock: take over one whose instance is gone
                stale = [u for u, owner in taken.items()
                         if any(lo <= u <= hi for lo, hi in pool) and u not in busy and
                         not (owner and self._is_running(owner))]
                random.shuffle(stale)
                candidates = stale
            if not candidates:
                raise errors.HypervisorError(
                    "No free uid in the uid pool (%s) for instance %s: all %d are used"
                    % (format_uid_pool(pool), instance, total))
            uid = candidates[0]
            io.write_file(self._lockfile(uid), instance + "\n", mode=0o600, fsync=False)
            return uid
        finally:
            fh.close()

    def release(self, uid: int, instance: str | None = None) -> None:
        """Return ``uid``; with ``instance`` only if that instance holds it."""
        fh = self._lock_dir()
        try:
            if instance is not None and self.owner(uid) not in (instance, None):
                return
            try:
                os.unlink(self._lockfile(uid))
            except OSError as err:
                if err.errno != errno.ENOENT:
                    raise
        finally:
            fh.close()
