"""The relay's store and its admin CLI (`relay user|tenant|grant|revoke --store`), and
`relay run --store` telling an unknown tenant (TLS alert unrecognized_name, reason
unknown-tenant) from a known one without an agent (reason tenant-offline)."""

import base64
import hashlib
import hmac
import re
import socket
import sqlite3
import stat
import subprocess

import pytest

from cluster import curl, wait_until
from tlsclient import TLS_ALERT, UNRECOGNIZED_NAME, alert_description, client_hello, read_until_closed

HELLO = b"Hello from the demo app"
INTERNAL_ERROR = 80


def relay_cli(bins, *args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """`relay ARGS`; stdin is a pipe (never a terminal), empty unless given."""
    return subprocess.run([str(bins / "relay"), *map(str, args)], input=stdin or b"",
                          capture_output=True, timeout=60)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0 and result.stderr == b"", (result.returncode, result.stderr)
    return result.stdout.decode()


def refused(result: subprocess.CompletedProcess, message: str, code: int = 1):
    """Exit `code` and exactly one line on stderr, `relay: <message>`."""
    assert (result.returncode, result.stderr.decode()) == (code, f"relay: {message}\n"), result
    assert result.stdout == b""


@pytest.fixture
def store(tmp_path):
    return tmp_path / "relay.db"


def scrypt_matches(encoded: str, password: bytes) -> bool:
    """Checks a stored hash with Python's own scrypt: the format is what it says."""
    scheme, params, salt, digest = encoded.split("$")
    assert scheme == "scrypt"
    p = dict(kv.split("=") for kv in params.split(","))
    assert p == {"N": "32768", "r": "8", "p": "1"}
    expected = base64.b64decode(digest)
    derived = hashlib.scrypt(password, salt=base64.b64decode(salt), n=32768, r=8, p=1,
                             maxmem=64 << 20, dklen=len(expected))
    return hmac.compare_digest(derived, expected)


def stored_hash(store, user: str) -> str:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT password_hash FROM users WHERE name = ?", (user,)).fetchone()[0]


def test_first_use_creates_a_private_wal_store(bins, store):
    assert ok(relay_cli(bins, "user", "list", "--store", store)) == ""
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"users", "tenants", "grants", "redeemed_tickets", "sessions"}
    # Opening again migrates nothing and keeps the version.
    ok(relay_cli(bins, "tenant", "list", "--store", store))
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_users(bins, store):
    ok(relay_cli(bins, "user", "add", "bob", "--store", store, stdin=b"first pass\nignored\n"))
    assert scrypt_matches(stored_hash(store, "bob"), b"first pass")
    ok(relay_cli(bins, "user", "add", "alice@example.com", "--store", store, stdin=b"pw\r\n"))
    assert scrypt_matches(stored_hash(store, "alice@example.com"), b"pw")
    assert ok(relay_cli(bins, "user", "list", "--store", store)) == "alice@example.com\nbob\n"

    refused(relay_cli(bins, "user", "add", "bob", "--store", store, stdin=b"x\n"), "user 'bob' already exists")
    refused(relay_cli(bins, "user", "add", "carol", "--store", store), "empty password")
    refused(relay_cli(bins, "user", "add", "carol", "--store", store, stdin=b"\n"), "empty password")
    refused(relay_cli(bins, "user", "add", "Bob!", "--store", store, stdin=b"x\n"),
            "invalid user name 'Bob!': 1-64 of a-z 0-9 . _ @ -, starting with a letter or digit")

    before = stored_hash(store, "bob")
    ok(relay_cli(bins, "user", "passwd", "bob", "--store", store, stdin=b"second pass\n"))
    after = stored_hash(store, "bob")
    assert after != before and scrypt_matches(after, b"second pass") and not scrypt_matches(after, b"first pass")
    refused(relay_cli(bins, "user", "passwd", "carol", "--store", store, stdin=b"x\n"), "unknown user 'carol'")
    refused(relay_cli(bins, "user", "passwd", "bob", "--store", store), "empty password")

    refused(relay_cli(bins, "user", "remove", "carol", "--store", store), "unknown user 'carol'")
    ok(relay_cli(bins, "user", "remove", "bob", "--store", store))
    assert ok(relay_cli(bins, "user", "list", "--store", store)) == "alice@example.com\n"


def test_tenants(bins, store):
    ok(relay_cli(bins, "tenant", "add", "globex", "--name", "Globex Inc.", "--store", store))
    ok(relay_cli(bins, "tenant", "add", "acme", "--name", "Acme Corp", "--store", store))
    assert ok(relay_cli(bins, "tenant", "list", "--store", store)) == "acme\tAcme Corp\nglobex\tGlobex Inc.\n"
    refused(relay_cli(bins, "tenant", "add", "acme", "--name", "Other", "--store", store),
            "tenant 'acme' already exists")
    for bad in ("Acme", "-acme", "acme.corp", "a" * 64):
        # `--`: "-acme" is an argument, not an option.
        refused(relay_cli(bins, "tenant", "add", "--name", "X", "--store", store, "--", bad),
                f"invalid tenant id '{bad}': a DNS label, 1-63 of a-z 0-9 -, not starting or ending with -")
    refused(relay_cli(bins, "tenant", "add", "initech", "--name", "", "--store", store),
            "invalid tenant name '': 1-200 characters, no control characters, no leading or trailing spaces")
    refused(relay_cli(bins, "tenant", "remove", "initech", "--store", store), "unknown tenant 'initech'")
    ok(relay_cli(bins, "tenant", "remove", "globex", "--store", store))
    assert ok(relay_cli(bins, "tenant", "list", "--store", store)) == "acme\tAcme Corp\n"


def test_grants_and_their_cascade(bins, store):
    ok(relay_cli(bins, "user", "add", "bob", "--store", store, stdin=b"pw\n"))
    ok(relay_cli(bins, "tenant", "add", "acme", "--name", "Acme", "--store", store))
    ok(relay_cli(bins, "tenant", "add", "globex", "--name", "Globex", "--store", store))
    ok(relay_cli(bins, "grant", "bob", "acme", "--store", store))
    ok(relay_cli(bins, "grant", "bob", "globex", "--store", store))
    refused(relay_cli(bins, "grant", "bob", "acme", "--store", store), "user 'bob' already has access to tenant 'acme'")
    refused(relay_cli(bins, "grant", "carol", "acme", "--store", store), "unknown user 'carol'")
    refused(relay_cli(bins, "grant", "bob", "initech", "--store", store), "unknown tenant 'initech'")
    refused(relay_cli(bins, "grant", "bob", "Initech", "--store", store),
            "invalid tenant id 'Initech': a DNS label, 1-63 of a-z 0-9 -, not starting or ending with -")

    ok(relay_cli(bins, "revoke", "bob", "acme", "--store", store))
    refused(relay_cli(bins, "revoke", "bob", "acme", "--store", store), "user 'bob' has no access to tenant 'acme'")
    refused(relay_cli(bins, "revoke", "carol", "acme", "--store", store), "unknown user 'carol'")

    def grants():
        with sqlite3.connect(store) as db:
            return db.execute("SELECT count(*) FROM grants").fetchone()[0]
    assert grants() == 1
    ok(relay_cli(bins, "tenant", "remove", "globex", "--store", store))
    assert grants() == 0
    ok(relay_cli(bins, "grant", "bob", "acme", "--store", store))
    ok(relay_cli(bins, "user", "remove", "bob", "--store", store))
    assert grants() == 0


def test_usage_errors(bins, store):
    for args in (["user", "list"], ["tenant", "add", "acme", "--store", store], ["grant", "bob", "--store", store]):
        result = relay_cli(bins, *args)
        assert result.returncode == 64 and b"Error: Missing expected argument" in result.stderr, result


def test_a_store_that_cannot_open(bins, tmp_path):
    result = relay_cli(bins, "user", "list", "--store", tmp_path / "missing-dir" / "relay.db")
    assert result.returncode == 1, result
    line = result.stderr.decode()
    assert line.startswith(f"relay: cannot create store {tmp_path}/missing-dir/relay.db") and line.count("\n") == 1, line
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n" * 100)
    refused(relay_cli(bins, "user", "list", "--store", other), f"cannot open store {other}: file is not a database")
    assert other.read_text() == "not a database\n" * 100


# -- relay run --store ----------------------------------------------------------------


def _hello(relay, tenant: str) -> tuple[bytes, str]:
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(client_hello(f"{tenant}.tunnel.localhost"))
        return read_until_closed(sock, 8)


def _refused_with(relay, tenant: str, alert: int, reason: str):
    data, outcome = _hello(relay, tenant)
    assert data[:1] == bytes([TLS_ALERT]) and alert_description(data) == alert, data[:20].hex()
    assert outcome in ("eof", "reset"), outcome
    relay.proc.wait_stderr(rf"browser refused\b(?=.*\breason={reason}\b)(?=.*\bdetail={tenant}\.tunnel\.localhost\b)")


def _store_relay(procs, bins, pki, store, demo_app):
    ok(relay_cli(bins, "tenant", "add", "acme", "--name", "Acme Corp", "--store", store))
    ok(relay_cli(bins, "tenant", "add", "globex", "--name", "Globex Inc.", "--store", store))
    relay = procs.relay(extra=["--store", store, "--signing-key", pki / "signing.key"])
    procs.agent(relay, demo_app.upstream, tenant="acme")
    return relay


def test_run_with_store_tells_unknown_from_offline(procs, bins, pki, store, demo_app):
    relay = _store_relay(procs, bins, pki, store, demo_app)
    # Known and online: served as without a store.
    result = curl(pki, relay, "acme", "/")
    assert result.returncode == 0 and result.stdout.startswith(HELLO), result.stderr
    # Known, no agent: offline. Not in the store: unknown.
    _refused_with(relay, "globex", INTERNAL_ERROR, "tenant-offline")
    _refused_with(relay, "initech", UNRECOGNIZED_NAME, "unknown-tenant")
    # Added while the relay runs: the miss is checked against the file, not the copy.
    ok(relay_cli(bins, "tenant", "add", "initech", "--name", "Initech", "--store", store))
    _refused_with(relay, "initech", INTERNAL_ERROR, "tenant-offline")


def test_a_burst_of_unknown_names_is_refused_while_a_known_tenant_is_served(procs, bins, pki, store, demo_app):
    """60 browsers at once for made-up tenants (each a miss, checked against the store)
    are all refused as unknown, and a known tenant's browser meanwhile is served."""
    from concurrent.futures import ThreadPoolExecutor
    relay = _store_relay(procs, bins, pki, store, demo_app)
    with ThreadPoolExecutor(max_workers=20) as pool:
        served = pool.submit(curl, pki, relay, "acme", "/")
        alerts = list(pool.map(lambda i: alert_description(_hello(relay, f"nobody{i}")[0]), range(60)))
        result = served.result()
    assert alerts == [UNRECOGNIZED_NAME] * 60, alerts
    assert result.returncode == 0 and result.stdout.startswith(HELLO), result.stderr
    # Refusal lines are rate-limited per reason (one a second, then a count of the rest).
    wait_until(lambda: _refusals_logged(relay, "unknown-tenant") == 60, 10, "60 unknown-tenant refusals counted")


def _refusals_logged(relay, reason: str) -> int:
    """Refusals of `reason`: lines logged in full plus those a summary line counted."""
    text = relay.proc.stderr_text()
    full = len(re.findall(rf"browser refused (?!.*count=).*reason={reason}\b", text))
    return full + sum(int(n) for n in re.findall(rf"reason={reason} suppressed=(\d+)", text))


def test_an_agent_of_a_tenant_not_in_the_store_serves_no_one(procs, bins, pki, store, demo_app):
    """Removing a tenant from the store refuses its browsers as unknown within the
    relay's refresh interval (3 s), though its agent stays connected."""
    relay = _store_relay(procs, bins, pki, store, demo_app)
    assert curl(pki, relay, "acme", "/").stdout.startswith(HELLO)
    ok(relay_cli(bins, "tenant", "remove", "acme", "--store", store))

    def refused_as_unknown():
        data, _ = _hello(relay, "acme")
        return alert_description(data) == UNRECOGNIZED_NAME
    wait_until(refused_as_unknown, 15, "acme refused as unknown", interval=0.5)
    relay.proc.wait_stderr(r"browser refused\b(?=.*\breason=unknown-tenant\b)(?=.*\bdetail=acme\.tunnel\.localhost\b)")
    assert [a["tenant"] for a in relay.agents()] == ["acme"]


def test_run_without_store_keeps_tenant_offline(procs, demo_app):
    relay = procs.relay()
    _refused_with(relay, "initech", INTERNAL_ERROR, "tenant-offline")


def _on_a_terminal(bins, args, typed: list[bytes]) -> tuple[subprocess.CompletedProcess, bytes]:
    """Runs `relay ARGS` with a pseudo-terminal as stdin and types each of `typed` once
    the next prompt is on stderr; returns the result and what the terminal echoed."""
    import os
    import select
    import threading
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([str(bins / "relay"), *map(str, args)], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(slave)
        stderr = bytearray()
        reader = threading.Thread(target=lambda: [stderr.extend(c) for c in iter(lambda: proc.stderr.read1(4096), b"")],
                                  daemon=True)
        reader.start()
        for n, line in enumerate(typed, start=1):
            wait_until(lambda: stderr.count(b": ") >= n or proc.poll() is not None, 10, f"prompt {n}")
            os.write(master, line)
        out = proc.stdout.read()
        proc.wait(timeout=30)
        reader.join(10)
        echoed = b""
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            echoed += chunk
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, bytes(stderr)), echoed
    finally:
        os.close(master)


def test_password_prompt_on_a_terminal(bins, store):
    result, echoed = _on_a_terminal(bins, ["user", "add", "bob", "--store", store], [b"tty secret\n", b"tty secret\n"])
    assert result.returncode == 0, result
    assert result.stderr == b"Password for bob: \nAgain: \n", result.stderr
    assert b"tty secret" not in echoed, echoed
    assert scrypt_matches(stored_hash(store, "bob"), b"tty secret")

    result, _ = _on_a_terminal(bins, ["user", "passwd", "bob", "--store", store], [b"one\n", b"two\n"])
    assert result.returncode == 1 and result.stderr.endswith(b"relay: the passwords do not match\n"), result
    assert scrypt_matches(stored_hash(store, "bob"), b"tty secret")


def test_store_from_the_config_file(procs, bins, pki, store, tmp_path):
    """"store" in the JSON config file is the same as --store."""
    import json
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"store": str(store), "signing-key": str(pki / "signing.key")}))
    relay = procs.relay(extra=["--config", config])
    _refused_with(relay, "initech", UNRECOGNIZED_NAME, "unknown-tenant")
    assert store.exists()


def test_run_with_a_store_that_cannot_open_does_not_start(bins, pki, tmp_path):
    from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN
    bad = tmp_path / "missing-dir" / "relay.db"
    result = subprocess.run([str(bins / "relay"), "run", "--listen", "127.0.0.1:0", "--hostname", RELAY_HOST,
                             "--cert", str(pki / "relay.pem"), "--key", str(pki / "relay.key"),
                             "--agent-hostname", AGENT_HOST, "--agent-ca", str(pki / "agent-ca.pem"),
                             "--tenant-domain", TENANT_DOMAIN, "--admin-listen", "off",
                             "--store", str(bad), "--signing-key", str(pki / "signing.key")],
                            capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result
    assert b"relay ready" not in result.stdout
    assert f"cannot create store {bad}".encode() in result.stderr and b"cannot start" in result.stderr, result.stderr
