"""Tests for ganeti.rapi.auth: users file syntax, password schemes (cleartext, HA1),
the per-request authorization decision table and the reloading store.
"""

import base64
import hashlib
import os
import time

import pytest

from ganeti.rapi import auth


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


USERS_TEXT = """
# comment line
   # indented comment
admin {cleartext}s3cret write
reader pw read
both {HA1}%s read,write
nocaps pw
weird {SHA}whatever write
empty {}pw write
odd pw read , write , unknown
short
dup first read
dup second write
""" % hashlib.md5(b"both:Ganeti Remote API:hashed").hexdigest().upper()


@pytest.fixture
def users():
    parsed, warnings = auth.parse_users(USERS_TEXT)
    assert warnings == ["line 11: expected 'user password [options]'"]
    return parsed


def test_parse_users_fields_and_options(users):
    assert set(users) == {"admin", "reader", "both", "nocaps", "weird", "empty", "odd",
                          "dup"}
    assert users["admin"].password == "{cleartext}s3cret"
    assert users["admin"].options == frozenset(["write"])
    assert users["both"].options == frozenset(["read", "write"])
    assert users["nocaps"].options == frozenset()
    assert users["odd"].options == frozenset(["read", "write", "unknown"])


def test_later_line_replaces_earlier(users):
    assert users["dup"].password == "second"
    assert users["dup"].options == frozenset(["write"])


def test_ha1_is_md5_of_user_realm_password():
    assert auth.ha1("jack", "abc123") == hashlib.md5(
        b"jack:Ganeti Remote API:abc123").hexdigest()
    assert auth.REALM == "Ganeti Remote API"


@pytest.mark.parametrize("name,password,expected", [
    ("admin", "s3cret", True),          # {cleartext}, prefix case-insensitive
    ("admin", "S3cret", False),
    ("admin", "{cleartext}s3cret", False),
    ("reader", "pw", True),             # plain
    ("reader", "pw ", False),
    ("both", "hashed", True),           # {HA1}, digest compared case-insensitively
    ("both", "other", False),
    ("weird", "whatever", False),       # unknown scheme never matches
    ("empty", "pw", False),             # empty scheme never matches
    ("empty", "{}pw", False),
])
def test_check_password(users, name, password, expected):
    assert auth.check_password(users[name], password) is expected


def test_cleartext_prefix_is_case_insensitive():
    user = auth.User("u", "{CLEARTEXT}x", frozenset())
    assert auth.check_password(user, "x")


W = auth.CAP_WRITE
R = auth.CAP_READ


@pytest.mark.parametrize("required,require_auth,header,status,user", [
    # anonymous
    ((), False, None, 200, None),
    ((), True, None, 401, None),
    ((W,), False, None, 401, None),
    ((R, W), False, None, 401, None),
    # valid users
    ((), False, _basic("reader", "pw"), 200, "reader"),
    ((), True, _basic("nocaps", "pw"), 200, "nocaps"),
    ((W,), False, _basic("admin", "s3cret"), 200, "admin"),
    ((W,), False, _basic("reader", "pw"), 403, "reader"),
    ((W,), False, _basic("nocaps", "pw"), 403, "nocaps"),
    ((R, W), False, _basic("reader", "pw"), 200, "reader"),
    ((R, W), False, _basic("admin", "s3cret"), 200, "admin"),   # write implies read
    ((R, W), False, _basic("nocaps", "pw"), 403, "nocaps"),
    # bad credentials fail even where none are needed
    ((), False, _basic("reader", "wrong"), 401, None),
    ((), False, _basic("nobody", "pw"), 401, None),
    ((W,), False, _basic("admin", "wrong"), 401, None),
    # header syntax
    ((), False, "Basic", 400, None),
    ((), False, "basic   ", 400, None),
    ((), False, "Basic !!!", 401, None),
    ((), False, "Basic " + base64.b64encode(b"nocolon").decode(), 401, None),
    ((), False, "Digest username=x", 200, None),    # other schemes: no credentials
    ((W,), False, "Digest username=x", 401, None),
    ((W,), False, "BASIC " + _basic("admin", "s3cret")[6:], 200, "admin"),
])
def test_authorize_table(users, required, require_auth, header, status, user):
    decision = auth.authorize(required, require_auth, header, users)
    assert (decision.status, decision.user) == (status, user)


def test_password_with_colon(users):
    users = dict(users, c=auth.User("c", "a:b", frozenset([W])))
    assert auth.authorize((W,), False, _basic("c", "a:b"), users).status == 200


def test_store_missing_file_means_no_users(tmp_path):
    store = auth.UsersStore(str(tmp_path / "rapi" / "users"))
    assert store.get() == {}


def test_store_reload_keeps_old_set_on_parse_error(tmp_path, monkeypatch):
    path = tmp_path / "users"
    path.write_text("a pw write\n")
    store = auth.UsersStore(str(path))
    assert set(store.get()) == {"a"}

    def broken(_text):
        raise RuntimeError("boom")

    monkeypatch.setattr(auth, "parse_users", broken)
    path.write_text("b pw write\n")
    store.reload()
    assert set(store.get()) == {"a"}


def test_store_watches_the_directory(tmp_path):
    directory = tmp_path / "rapi"
    directory.mkdir()
    path = directory / "users"
    path.write_text("a pw write\n")
    store = auth.UsersStore(str(path))
    assert store.start_watching()
    try:
        tmp = directory / "users.new"
        tmp.write_text("b pw read\n")
        os.rename(tmp, path)
        deadline = time.monotonic() + 5
        while set(store._users) != {"b"}:
            assert time.monotonic() < deadline, "inotify reload did not happen"
            time.sleep(0.02)
        path.unlink()
        deadline = time.monotonic() + 5
        while store._users:
            assert time.monotonic() < deadline, "deletion not noticed"
            time.sleep(0.02)
    finally:
        store.stop()


def test_store_stat_fallback(tmp_path, monkeypatch):
    path = tmp_path / "users"
    path.write_text("a pw write\n")
    store = auth.UsersStore(str(path))
    path.write_text("a pw write\nb pw read\n")
    monkeypatch.setattr(auth, "STAT_INTERVAL", 0.0)
    assert set(store.get()) == {"a", "b"}
