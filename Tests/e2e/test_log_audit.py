"""Log audit (issue 15, item 3): the whole product flow, once with `--log-format json`
and once with the default logfmt, both at `--log-level trace` on relay and agent, and
every stderr line of both checked:

- its shape: a JSON object with time/level/label/message/metadata, or a logfmt line
  `time level label: message key=value …` with the README's quoting rules;
- no secret: the password, the ticket (or any JWT: `eyJ…`), the agent's session cookie,
  the relay's session cookie, the CSRF token, PEM key material;
- the connection id: every relay line about a browser connection carries `conn`, and the
  agent's lines for that tunnel carry the same value.

The flow: a relay with a store and signing key, acme's agent in http:// mode in front of
the test app; a browser signs in at the relay site (once with a wrong password first),
opens acme, redeems the ticket at the agent, fetches pages (HTTP/1.1 and HTTP/2), an SSE
stream and a WebSocket; a ClientHello that is not TLS and one for an unknown host are
refused; then SIGTERM drains both.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.parse
import uuid
from pathlib import Path

import pytest

import http_front as hf
from cluster import RELAY_HOST, TENANT_DOMAIN, wait_until
from tlsclient import client_hello

PASSWORD = "Tr0ub4dor&3 secret-pass"
RELAY_COOKIE = "__Host-h2t-relay"
LEVELS = ("trace", "debug", "info", "notice", "warning", "error", "critical")
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
#: A logfmt value: quoted (with \" \\ \n \r \t \uXXXX escapes) or bare (no space, quote,
#: `=`, backslash or control character, not empty).
VALUE = r'"(?:[^"\\\x00-\x1f]|\\["\\nrt]|\\u[0-9a-f]{4})*"|[^\s"=\\\x00-\x1f\x7f]+'
FIELD = re.compile(rf" ([A-Za-z0-9_.\-]+)=({VALUE})$")
HEAD = re.compile(rf"^({TIME}) ({'|'.join(LEVELS)}) ([^\s:]+): (.*)$")
#: Relay lines about one browser connection: each must carry `conn`.
BROWSER_LINES = ("tunnel closed", "tunnel reset", "browser refused", "signed in", "sign-in refused",
                 "signed out", "ticket issued", "open refused", "site request refused")
#: Metadata that marks an agent line as work for one tunnel: the app client's
#: (AsyncHTTPClient's `ahc-…`) and the front's (Hummingbird's request id) lines.
TUNNEL_KEYS = ("browser", "hb.request.id", "ahc-request-id", "ahc-connection-id", "stream")


def cli(bins: Path, store: Path, *args: str, stdin: str | None = None):
    result = subprocess.run([str(bins / "relay"), *args, "--store", str(store)], input=stdin,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"relay {' '.join(args)}: {result.stderr}"


def parse_logfmt(line: str) -> dict:
    """A logfmt line as the JSON format's object; fails on anything off-shape."""
    m = HEAD.match(line)
    assert m, f"not a logfmt line: {line!r}"
    time, level, label, rest = m.groups()
    metadata = {}
    while (field := FIELD.search(rest)):
        key, raw = field.groups()
        metadata[key] = json.loads(raw) if raw.startswith('"') else raw
        rest = rest[:field.start()]
    assert "=" not in rest, f"a field the logfmt rules cannot read in {line!r}"
    return {"time": time, "level": level, "label": label, "message": rest, "metadata": metadata}


def parse_json(line: str) -> dict:
    obj = json.loads(line)
    assert isinstance(obj, dict) and list(obj) == ["time", "level", "label", "message", "metadata"], line
    assert re.fullmatch(TIME, obj["time"]) and obj["level"] in LEVELS, line
    assert all(isinstance(v, str) for v in obj["metadata"].values()), line
    return obj


def pem_bodies(pki: Path) -> list[str]:
    """Lines of base64 from every private key the flow uses."""
    bodies = []
    for key in [pki / "relay.key", pki / "signing.key", *sorted((pki / "tenants").glob("*/*.key"))]:
        bodies += [l for l in key.read_text().splitlines() if l and not l.startswith("-----") and len(l) >= 16]
    return bodies


class SiteBrowser:
    """curl with a cookie jar: the relay site and the tenant host on one relay port."""

    def __init__(self, pki: Path, relay, jar: Path):
        self.pki, self.relay, self.jar = pki, relay, jar

    def request(self, url: str, *extra: str, form: dict | None = None):
        host = urllib.parse.urlsplit(url).hostname
        argv = ["curl", "-sS", "--max-time", "20", "--cacert", str(self.pki / "ca.pem"),
                "--resolve", f"{host}:{self.relay.port}:127.0.0.1", "-b", str(self.jar),
                "-c", str(self.jar), "-D", "-", *extra]
        if form is not None:
            argv += ["--data-raw", urllib.parse.urlencode(form)]
        result = subprocess.run([*argv, url], capture_output=True, timeout=30)
        assert result.returncode == 0, result.stderr.decode()
        return hf.head_and_body(result.stdout)

    def cookie(self, name: str) -> str:
        for line in self.jar.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 7 and parts[5] == name:
                return parts[6]
        raise AssertionError(f"no {name} cookie in the jar")


def run_flow(procs, bins, pki, tmp_path, log_format: str) -> dict:
    """The product flow; returns the processes and the secrets seen on the way."""
    store = tmp_path / "relay.db"
    cli(bins, store, "user", "add", "alice", stdin=PASSWORD + "\n")
    cli(bins, store, "tenant", "add", "acme", "--name", "Acme")
    cli(bins, store, "grant", "alice", "acme")
    logging = ["--log-level", "trace", "--log-format", log_format]
    relay = procs.relay(extra=["--store", store, "--signing-key", pki / "signing.key", *logging])
    app = hf.App(procs)
    agent = hf.start_agent(procs, relay, app.upstream, extra=logging)
    site = f"https://{RELAY_HOST}:{relay.port}"
    tenant = f"https://acme.{TENANT_DOMAIN}:{relay.port}"
    browser = SiteBrowser(pki, relay, tmp_path / "jar")

    status, _, html = browser.request(f"{site}/signin")
    assert status == 200
    csrf = re.search(rb'name="csrf" value="([^"]+)"', html).group(1).decode()
    status, _, _ = browser.request(f"{site}/signin", form={"username": "alice", "password": PASSWORD + "x",
                                                           "csrf": csrf, "next": "/"})
    assert status == 401, "a wrong password"
    status, _, _ = browser.request(f"{site}/signin", form={"username": "alice", "password": PASSWORD,
                                                           "csrf": csrf, "next": "/"})
    assert status == 303
    relay_session = browser.cookie(RELAY_COOKIE)
    status, headers, _ = browser.request(f"{site}/open/acme?r=/headers")
    assert status == 303
    location = headers["location"][0]
    ticket = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["t"][0]
    status, headers, _ = browser.request(location, "--http1.1")
    assert status == 303, "the agent redeems the ticket"
    session = browser.cookie(hf.COOKIE)
    for version in ("--http1.1", "--http2"):
        status, _, body = browser.request(f"{tenant}/headers", version)
        assert status == 200 and body, body[:200]
    # The app's own cookie: the agent's app client must not log its response head.
    app_cookie = "appcookie" + uuid.uuid4().hex
    status, headers, _ = browser.request(f"{tenant}/set-cookie?{app_cookie}", "--http2")
    assert status == 200 and any(app_cookie in c for c in headers["set-cookie"]), headers
    status, _, body = browser.request(f"{tenant}/sse", "--http2")
    assert status == 200 and b"tick 2" in body
    ws = hf.WebSocket(pki, relay, "/ws", session)
    try:
        assert ws.status == 101
        ws.send(1, b"hello audit")
        assert ws.receive() == (1, b"hello audit")
    finally:
        ws.close()
    ws = hf.H2WebSocket(pki, relay, "/ws", session)   # RFC 8441, the agent's own WebSocket path
    try:
        assert ws.status == 200
        ws.send(1, b"hello over h2")
        assert ws.receive() == (1, b"hello over h2")
    finally:
        ws.close()
    # A ticket replayed: refused at the agent (a log line that must not show it).
    status, _, _ = browser.request(location, "--http1.1")
    assert status == 403
    # Refused ClientHellos: not TLS at all, and TLS for a host nobody serves.
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        sock.recv(100)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
        sock.sendall(client_hello(f"nobody.{TENANT_DOMAIN}"))
        sock.recv(100)
    relay.proc.wait_stderr(r"reason.{0,3}not-tls")
    wait_until(lambda: relay.proc.stderr_text().count("tunnel closed") >= 8, 20, "eight access lines")
    for proc in (agent.proc, relay.proc):
        proc.signal()
        assert proc.wait_exit(30) == 0, proc.stderr_tail()
    return {"relay": relay.proc, "agent": agent.proc,
            "secrets": {"password": PASSWORD, "ticket": ticket, "agent session cookie": session,
                        "relay session cookie": relay_session, "csrf token": csrf,
                        "app's cookie": app_cookie},
            "pem": pem_bodies(pki)}


def audit(flow: dict, parse) -> dict[str, list[dict]]:
    events = {}
    for name in ("relay", "agent"):
        text = flow[name].stderr_text()
        lines = [l for l in text.split("\n") if l]
        assert lines, f"{name} logged nothing"
        events[name] = []
        for line in lines:
            try:
                events[name].append(parse(line))
            except (AssertionError, ValueError) as error:
                raise AssertionError(f"{name}: {error}\n  line: {line!r}") from None
        for what, secret in flow["secrets"].items():
            assert secret not in text, f"{name} logged the {what}: " + \
                next(l for l in lines if secret in l)
            # Also as a query or form body has it (a URL or a body logged raw).
            for encoded in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)):
                assert encoded not in text, f"{name} logged the {what} (encoded)"
        for pattern, what in ((r"eyJ[A-Za-z0-9_-]{8,}", "a JWT"), (r"BEGIN [A-Z ]*PRIVATE KEY", "a PEM key"),
                              (r"PRIVATE KEY", "key material")):
            m = re.search(pattern, text)
            assert not m, f"{name} logged {what}: " + next(l for l in lines if re.search(pattern, l))
        for body in flow["pem"]:
            assert body not in text, f"{name} logged private key bytes"
    relay_ids = set()
    for event in events["relay"]:
        if any(event["message"].startswith(m) for m in BROWSER_LINES):
            conn = event["metadata"].get("conn")
            assert conn and re.fullmatch(r"[0-9a-f]{12}", conn), f"relay line without conn: {event}"
            relay_ids.add(conn)
    tunnels = {e["metadata"]["conn"] for e in events["relay"]
               if e["message"] == "tunnel closed" and e["metadata"].get("tenant") == "acme"}
    assert len(tunnels) >= 8, "one access line per tunnel to acme"
    agent_ids = {e["metadata"]["conn"] for e in events["agent"] if "conn" in e["metadata"]}
    assert tunnels <= agent_ids, f"tunnels whose conn the agent never logged: {tunnels - agent_ids}"
    assert agent_ids <= relay_ids, f"agent conn ids the relay never logged: {agent_ids - relay_ids}"
    # The agent's lines for a tunnel (its sign-in, the requests to the app) name the relay's conn.
    for message in ("signed in", "ticket refused"):
        lines = [e for e in events["agent"] if e["message"] == message]
        assert lines and all(e["metadata"].get("conn") in tunnels for e in lines), (message, lines)
    requests = [e for e in events["agent"] if e["message"] == "Request was scheduled on connection"]
    assert requests, "the app client's lines at debug"
    for event in events["agent"]:
        if any(k in event["metadata"] for k in TUNNEL_KEYS) and "ahc-pool-key" not in event["metadata"] \
                and event["message"] != "agent connected":
            assert event["metadata"].get("conn") in tunnels, f"agent line for a tunnel without its conn: {event}"
    for message, reason in (("signed in", None), ("sign-in refused", "wrong-password"), ("ticket issued", None),
                            ("browser refused", "not-tls"), ("browser refused", "unknown-tenant")):
        assert any(e["message"] == message and e["metadata"].get("reason") == reason for e in events["relay"]), \
            f"no relay line {message!r} {reason or ''}"
    return events


def test_json_lines_hold_no_secret_and_carry_conn(procs, bins, pki, tmp_path):
    flow = run_flow(procs, bins, pki, tmp_path, "json")
    audit(flow, parse_json)


def test_logfmt_lines_hold_no_secret_and_carry_conn(procs, bins, pki, tmp_path):
    flow = run_flow(procs, bins, pki, tmp_path, "logfmt")
    audit(flow, parse_logfmt)


def test_second_signal_line_is_json_too(procs, pki, demo_app):
    """The line a second SIGTERM writes before `_exit(1)` goes through the process logger."""
    relay = procs.relay(extra=["--grace-period", "300", "--log-format", "json"])
    procs.agent(relay, demo_app.upstream)
    host = f"acme.{TENANT_DOMAIN}"
    from tlsclient import connect, read_head
    with connect(pki, relay.port, host, timeout=30) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert read_head(sock)[0] == 200
        relay.proc.signal()
        relay.proc.wait_stderr(r"relay draining")
        relay.proc.signal()
        assert relay.proc.wait_exit(20) == 1
    events = [parse_json(l) for l in relay.proc.stderr_text().splitlines()]
    last = events[-1]
    assert last["message"] == "second SIGTERM: exiting now, without waiting for open tunnels", last
    assert last["level"] == "error" and last["label"] == "relay"


def test_start_up_refusal_is_a_plain_line_and_a_failed_start_a_log_line(bins, pki):
    """A setting the relay cannot take is refused before any logger exists (the log format
    is one of the settings being read): one plain `Error: …` line and exit 64, for the
    person or unit starting it. Once the settings are read, a start that fails (the port
    is taken) is a line of the chosen format."""
    argv = [str(bins / "relay"), "run", "--hostname", RELAY_HOST, "--cert", str(pki / "relay.pem"),
            "--key", str(pki / "relay.key"), "--agent-hostname", "agents.relay.localhost",
            "--agent-ca", str(pki / "agent-ca.pem"), "--tenant-domain", TENANT_DOMAIN,
            "--admin-listen", "off", "--log-format", "json"]
    bad = subprocess.run([*argv, "--listen", "127.0.0.1:0", "--grace-period", "-1"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 64
    assert bad.stderr.startswith("Error: --grace-period must be between") and bad.stderr.count("\n") == 1, bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = subprocess.run([*argv, "--listen", f"127.0.0.1:{taken.getsockname()[1]}"],
                              capture_output=True, text=True, timeout=30)
    assert busy.returncode == 1
    lines = busy.stderr.splitlines()
    assert lines and all(parse_json(l) for l in lines), busy.stderr
    assert any(parse_json(l)["message"] == "cannot start" for l in lines), busy.stderr
