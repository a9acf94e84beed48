"""Relay site sessions kept in the store (`--store`): a restarted relay on the same
store keeps the browser signed in; `relay user passwd` and `relay user remove` (another
process writing the same file) end that user's sessions, so the old cookie lands on
/signin; revoking a grant stops `/open` at the next request. Real relay binary, real
TLS, curl with a cookie jar.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from test_relay_web import PASSWORD, Browser, admin

SESSION_COOKIE = "__Host-h2t-relay"


@pytest.fixture
def store(bins, tmp_path) -> Path:
    """alice (acme granted) and bob (nothing), tenant acme (no agent: offline)."""
    path = tmp_path / "relay.db"
    admin(bins, path, "user", "add", "alice", stdin=PASSWORD + "\n")
    admin(bins, path, "user", "add", "bob", stdin=PASSWORD + "\n")
    admin(bins, path, "tenant", "add", "acme", "--name", "Acme Corporation")
    admin(bins, path, "grant", "alice", "acme")
    return path


def start_relay(procs, pki, store: Path):
    return procs.relay(extra=["--store", store, "--signing-key", pki / "signing.key"])


def signed_in(pki, relay, jar: Path, user: str) -> Browser:
    browser = Browser(pki, relay, jar)
    status, headers, _, _ = browser.sign_in(user)
    assert status == 303 and headers["location"] == "/", (status, headers)
    return browser


def session_cookie(jar: Path) -> str:
    """The session id in curl's cookie jar (Netscape format: the value is the last field)."""
    for line in jar.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) == 7 and fields[5] == SESSION_COOKIE:
            return fields[6]
    raise AssertionError(f"no {SESSION_COOKIE} in {jar}")


def test_session_survives_relay_restart(procs, pki, store, tmp_path):
    first = start_relay(procs, pki, store)
    browser = signed_in(pki, first, tmp_path / "jar", "alice")
    cookie = session_cookie(tmp_path / "jar")
    status, _, html, _ = browser.request("/")
    assert status == 200 and 'data-tenant="acme"' in html
    assert first.proc.stop() == 0
    second = start_relay(procs, pki, store)
    again = Browser(pki, second, tmp_path / "jar")
    status, headers, html, _ = again.request("/")
    assert status == 200, (status, headers)
    assert 'id="companies"' in html and 'data-tenant="acme"' in html
    assert session_cookie(tmp_path / "jar") == cookie
    # Only the id's SHA-256 is in the store file: the cookie's id is nowhere in it.
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT key_hash FROM sessions").fetchall()
    assert len(rows) == 1 and len(rows[0][0]) == 32
    for name in (store, Path(f"{store}-wal")):
        if name.exists():
            assert cookie.encode() not in name.read_bytes()


@pytest.mark.parametrize("command", [["user", "passwd", "alice"], ["user", "remove", "alice"]])
def test_passwd_and_remove_end_the_users_sessions(procs, pki, bins, store, tmp_path, command):
    relay = start_relay(procs, pki, store)
    alice = signed_in(pki, relay, tmp_path / "alice", "alice")
    bob = signed_in(pki, relay, tmp_path / "bob", "bob")
    assert alice.request("/")[0] == 200
    admin(bins, store, *command, stdin="a brand new password\n")
    status, headers, _, _ = alice.request("/")
    assert status == 303 and headers["location"] == "/signin", (status, headers)
    status, headers, _, _ = alice.request("/open/acme")
    assert status == 303 and headers["location"].startswith("/signin?next="), (status, headers)
    assert bob.request("/")[0] == 200
    if command[1] == "passwd":
        fresh = Browser(pki, relay, tmp_path / "fresh")
        status, headers, _, _ = fresh.sign_in("alice", "a brand new password")
        assert status == 303 and headers["location"] == "/"
        assert fresh.request("/")[0] == 200
        status, _, html, _ = Browser(pki, relay, tmp_path / "old").sign_in("alice", PASSWORD)
        assert status == 401 and 'id="error"' in html


def test_revoke_stops_open_at_the_next_request(procs, pki, bins, store, tmp_path):
    relay = start_relay(procs, pki, store)
    alice = signed_in(pki, relay, tmp_path / "jar", "alice")
    # Granted, no agent: offline (503), not refused.
    assert alice.request("/open/acme")[0] == 503
    admin(bins, store, "revoke", "alice", "acme")
    assert alice.request("/open/acme")[0] == 403
    status, _, html, _ = alice.request("/")
    assert status == 200 and 'data-tenant="acme"' not in html
