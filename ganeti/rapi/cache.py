"""A read cache in front of luxi for the RAPI daemon.

Answers that only depend on the configuration (cluster info) are kept until
config.data changes.  Object queries, which may carry live node data, are fresh for
``ttl`` seconds; after that the previous answer is still served (for at most
``max_stale`` seconds) while one background call refreshes it, and a configuration
change always forces a new call.  Concurrent identical requests wait for one luxi
call.  The dispatcher can record which entries a response was built from and reuse
the encoded response while they stay current.
"""

import logging
import os
import threading
import time

from ganeti import constants
from ganeti import serializer

CONFIG_ONLY = frozenset(["QueryClusterInfo"])
CACHED_QUERIES = frozenset([constants.QR_NODE, constants.QR_INSTANCE, constants.QR_GROUP,
                            constants.QR_NETWORK])

_log = logging.getLogger(__name__)


class _Entry:
    __slots__ = ("done", "error", "expires", "refreshing", "sig", "ttl", "value")

    def __init__(self, sig, ttl):
        self.sig = sig
        self.ttl = ttl
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None
        self.expires = 0.0
        self.refreshing = False


class CachingLuxi:
    """``call(method, *args)`` like LuxiPool, with the cache described above."""

    def __init__(self, backend, config_file: str, ttl: float = 1.0,
                 max_stale: float = 5.0, max_entries: int = 256):
        self.backend = backend
        self.config_file = config_file
        self.ttl = ttl
        self.max_stale = max_stale
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict = {}
        self._local = threading.local()

    def _signature(self):
        try:
            st = os.stat(self.config_file)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _key(self, method: str, args: tuple):
        if method in CONFIG_ONLY and not args:
            return (method,), None
        if method == "Query" and len(args) == 3 and args[0] in CACHED_QUERIES:
            try:
                return (method, serializer.dump_json(list(args))), self.ttl
            except (TypeError, ValueError):
                return None, None
        return None, None

    # --- recording (for the dispatcher's response cache) ---------------------------
    def begin_record(self) -> None:
        self._local.records = []

    def end_record(self) -> list | None:
        """The entries used since begin_record, or None when an uncached call (or
        none at all) was made."""
        records = getattr(self._local, "records", None)
        self._local.records = None
        return records or None

    def _record(self, key, entry) -> None:
        records = getattr(self._local, "records", None)
        if records is not None:
            records.append((key, entry))

    def _taint(self) -> None:
        if getattr(self._local, "records", None) is not None:
            self._local.records = False

    def still_valid(self, records) -> bool:
        """Would these entries be served again now (same objects)?"""
        sig = self._signature()
        if sig is None:
            return False
        with self._lock:
            return all(self._usable(key, sig, time.monotonic()) is entry
                       for key, entry in records)

    # --- lookups ----------------------------------------------------------------
    def _usable(self, key, sig, now):
        """The entry to serve for ``key`` or None; starts a background refresh of
        an expired one.  Called with the lock held."""
        entry = self._entries.get(key)
        if entry is None or entry.sig != sig or entry.error is not None:
            return None
        if not entry.done.is_set() or entry.ttl is None or entry.expires > now:
            return entry
        if entry.expires + self.max_stale <= now:
            return None
        if not entry.refreshing:
            entry.refreshing = True
            threading.Thread(target=self._refresh, args=(key, entry), daemon=True,
                             name="rapi-cache-refresh").start()
        return entry

    def _refresh(self, key, old: _Entry) -> None:
        method, args = self._decode_key(key)
        fresh = _Entry(old.sig, old.ttl)
        try:
            fresh.value = self.backend.call(method, *args)
        except Exception as err:  # noqa: BLE001 - the next request tries again
            _log.debug("Background refresh of %s failed: %s", method, err)
            with self._lock:
                old.refreshing = False
                old.expires = 0.0  # too old now: the next request calls itself
            return
        fresh.expires = time.monotonic() + (fresh.ttl or 0.0)
        fresh.done.set()
        with self._lock:
            if self._entries.get(key) is old:
                self._entries[key] = fresh

    @staticmethod
    def _decode_key(key):
        if len(key) == 1:
            return key[0], ()
        return key[0], tuple(serializer.load_json(key[1]))

    def call(self, method: str, *args):
        key, ttl = self._key(method, args)
        sig = self._signature() if key is not None else None
        if key is None or sig is None:
            self._taint()
            return self.backend.call(method, *args)
        with self._lock:
            entry = self._usable(key, sig, time.monotonic())
            owner = entry is None
            if owner:
                entry = _Entry(sig, ttl)
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = entry
        if owner:
            try:
                entry.value = self.backend.call(method, *args)
            except BaseException as err:
                entry.error = err
                with self._lock:
                    if self._entries.get(key) is entry:
                        del self._entries[key]
                raise
            finally:
                entry.expires = time.monotonic() + (ttl or 0.0)
                entry.done.set()
        else:
            entry.done.wait()
            if entry.error is not None:
                self._taint()
                return self.backend.call(method, *args)
        self._record(key, entry)
        return entry.value

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
