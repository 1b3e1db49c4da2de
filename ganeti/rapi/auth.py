"""RAPI users file (parsing, password schemes) and the per-request auth decision.

``parse_users`` and ``authorize`` are pure functions; ``UsersStore`` keeps the parsed
file in memory and reloads it when it changes (inotify, with a stat fallback).
"""

import base64
import binascii
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass

from ganeti import crypto

REALM = "Ganeti Remote API"
CAP_READ = "read"
CAP_WRITE = "write"
KNOWN_CAPABILITIES = frozenset([CAP_READ, CAP_WRITE])
WWW_AUTHENTICATE = 'Basic realm="%s"' % REALM

# How often (seconds) a request may stat the users file when inotify said nothing
STAT_INTERVAL = 2.0

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class User:
    name: str
    password: str
    options: frozenset


def parse_users(text: str) -> tuple[dict[str, User], list[str]]:
    """Parse a users file; return ({name: User}, warnings).

    Lines: ``NAME PASSWORD [OPTION,OPTION...]``; blank lines and ``#`` comments are
    skipped, a later line for the same user replaces an earlier one.
    """
    users: dict[str, User] = {}
    warnings = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            warnings.append("line %d: expected 'user password [options]'" % lineno)
            continue
        options = frozenset()
        if len(parts) == 3:
            options = frozenset(o.strip() for o in parts[2].split(",") if o.strip())
        users[parts[0]] = User(parts[0], parts[1], options)
    return users, warnings


def ha1(username: str, password: str, realm: str = REALM) -> str:
    """RFC 2617 H(A1): MD5 hex of ``user:realm:password`` (the ``{HA1}`` scheme)."""
    data = ("%s:%s:%s" % (username, realm, password)).encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_password(user: User, password: str, realm: str = REALM) -> bool:
    """Does ``password`` match the stored one (cleartext, {CLEARTEXT} or {HA1})?"""
    stored = user.password
    if stored.startswith("{") and "}" in stored:
        scheme, _, value = stored[1:].partition("}")
        scheme = scheme.lower()
        if scheme == "cleartext":
            return crypto.constant_time_equal(value, password)
        if scheme == "ha1":
            return crypto.constant_time_equal(value.lower(),
                                              ha1(user.name, password, realm))
        # unknown or empty scheme: never matches (still spend the same work)
        crypto.constant_time_equal(value, password)
        return False
    return crypto.constant_time_equal(stored, password)


@dataclass(frozen=True)
class AuthDecision:
    """Outcome of ``authorize``: status 200 means go on (``user`` may be None)."""

    status: int
    user: str | None = None
    message: str = ""


def _decode_basic(token: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if ":" not in text:
        return None
    name, _, password = text.partition(":")
    return name, password


def authorize(required: tuple | frozenset, require_auth: bool, header: str | None,
              users: dict[str, User]) -> AuthDecision:
    """Decide one request (rapi.md section 3).

    ``required`` is the capability list of the handler method (empty: none needed);
    ``header`` the raw ``Authorization`` header or None.
    """
    needed = require_auth or bool(required)
    creds = None
    if header is not None and header.strip():
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() == "basic":
            if not token.strip():
                return AuthDecision(400, None, "Basic authentication requires credentials")
            creds = _decode_basic(token)
            if creds is None:
                return AuthDecision(401, None, "Invalid basic authorization header")
    if creds is None:
        if needed:
            return AuthDecision(401, None, "Authentication required")
        return AuthDecision(200)
    name, password = creds
    user = users.get(name)
    if user is None:
        # same work as for a known user, so timing does not reveal user names
        check_password(User(name, "{HA1}" + "0" * 32, frozenset()), password)
        return AuthDecision(401, None, "Authentication failed")
    if not check_password(user, password):
        return AuthDecision(401, None, "Authentication failed")
    if required and not (set(required) & user.options):
        return AuthDecision(403, name, "User '%s' lacks the capability needed (%s)"
                            % (name, " or ".join(sorted(required))))
    return AuthDecision(200, name)


class UsersStore:
    """The users file in memory; ``get()`` returns the current {name: User}.

    A missing or unreadable file means no users; a file that fails to parse keeps
    the previous set.  ``start_watching`` adds inotify so that a change takes effect
    at once; without it the file is checked at most every STAT_INTERVAL seconds.
    """

    def __init__(self, path: str):
        self.path = path
        self._users: dict[str, User] = {}
        self._sig = object()
        self._lock = threading.Lock()
        self._last_check = 0.0
        self._notifier = None
        self.reload()

    def _signature(self):
        try:
            st = os.stat(self.path)
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def reload(self) -> None:
        with self._lock:
            sig = self._signature()
            self._last_check = time.monotonic()
            if sig == self._sig:
                return
            try:
                with open(self.path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except FileNotFoundError:
                _log.info("No RAPI users file %s: no users", self.path)
                self._users, self._sig = {}, sig
                return
            except OSError as err:
                _log.warning("Cannot read RAPI users file %s: %s; no users", self.path,
                             err)
                self._users, self._sig = {}, sig
                return
            try:
                users, warnings = parse_users(text)
            except Exception as err:  # noqa: BLE001 - keep serving with the old set
                _log.error("Cannot parse %s (%s); keeping the previous users",
                           self.path, err)
                return
            for warning in warnings:
                _log.warning("%s: %s", self.path, warning)
            self._users, self._sig = users, sig
            _log.info("Loaded %d RAPI user(s) from %s", len(users), self.path)

    def get(self) -> dict[str, User]:
        if time.monotonic() - self._last_check > STAT_INTERVAL:
            self.reload()
        return self._users

    def start_watching(self) -> bool:
        """Reload on close-after-write, delete and moves in the users' directory."""
        try:
            import pyinotify
        except ImportError:
            return False
        directory = os.path.dirname(self.path)
        name = os.path.basename(self.path)
        store = self

        class _Handler(pyinotify.ProcessEvent):
            def process_default(self, event):
                if event.name == name or event.pathname == directory:
                    store.reload()

        try:
            os.makedirs(directory, mode=0o750, exist_ok=True)
        except OSError:
            pass
        wm = pyinotify.WatchManager()
        mask = (pyinotify.IN_CLOSE_WRITE | pyinotify.IN_DELETE | pyinotify.IN_MOVED_TO
                | pyinotify.IN_MOVED_FROM)
        result = wm.add_watch(directory, mask)
        if not result or result.get(directory, -1) < 0:
            return False
        self._notifier = pyinotify.ThreadedNotifier(wm, _Handler())
        self._notifier.daemon = True
        self._notifier.start()
        return True

    def stop(self) -> None:
        if self._notifier is not None:
            self._notifier.stop()
            self._notifier = None
