"""PROXY protocol behind Debian's HAProxy (issue 15, item 1 and acceptance a).

The relay trusts 127.0.0.1 (`--proxy-protocol-from 127.0.0.1`): HAProxy, the only
thing on 127.0.0.1 that talks to it here, sends a PROXY header (v2, or v1) naming the
client. Browsers are curl bound to 127.0.0.5 (`--interface`), so the address the app,
the relay's logs, its per-address limits and its sign-in limits see must be 127.0.0.5,
never HAProxy's 127.0.0.1. The agent also dials through HAProxy: from the trusted
source, every connection must start with the header.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest

import http_front as hf
from cluster import RELAY_HOST, TENANT_DOMAIN, wait_until
from haproxy import start_haproxy

HOST = f"acme.{TENANT_DOMAIN}"
PASSWORD = "correct horse battery staple"
CLIENT = "127.0.0.5"


def admin(bins: Path, store: Path, *args: str, stdin: str | None = None):
    result = subprocess.run([str(bins / "relay"), *args, "--store", str(store)], input=stdin,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def front(module_procs, bins, pki, tmp_path_factory):
    """A relay with a store that trusts 127.0.0.1 for PROXY headers, HAProxy v2 and v1
    in front of it, and acme's http:// agent dialing through the v2 one."""
    work = tmp_path_factory.mktemp("proxy-protocol")
    store = work / "relay.db"
    admin(bins, store, "user", "add", "alice", stdin=PASSWORD + "\n")
    admin(bins, store, "tenant", "add", "acme", "--name", "Acme")
    admin(bins, store, "grant", "alice", "acme")
    relay = module_procs.relay(extra=["--store", store, "--signing-key", pki / "signing.key",
                                      "--proxy-protocol-from", "127.0.0.1"])
    v2 = start_haproxy(module_procs, work, relay.port, proxy="v2", name="haproxy-v2")
    v1 = start_haproxy(module_procs, work, relay.port, proxy="v1", name="haproxy-v1")
    app = hf.App(module_procs)
    agent = module_procs.agent(relay, app.upstream, relay_port=v2.port, extra=[
        "--relay-public-key", pki / "signing.pub", "--relay-url", f"https://{RELAY_HOST}:{v2.port}"])
    return relay, v2, v1, agent


def curl(pki, port: int, host: str, path: str, *args, source: str = CLIENT, timeout: float = 20):
    argv = ["curl", "-sS", "-i", "--max-time", str(timeout), "--cacert", str(pki / "ca.pem"),
            "--interface", source, "--resolve", f"{host}:{port}:127.0.0.1", *args, f"https://{host}:{port}{path}"]
    return subprocess.run(argv, capture_output=True, timeout=timeout + 10)


def app_headers(pki, port: int, source: str = CLIENT, version: str = "--http1.1") -> dict:
    """Signs in with a fresh ticket and returns the headers the app saw on /headers."""
    ticket = hf.mint(pki / "signing.key", user="alice", host=HOST)
    out = curl(pki, port, HOST, f"/.h2tunnel/ticket?t={ticket}&r=/", source=source)
    status, headers, _ = hf.head_and_body(out.stdout)
    assert status == 303, out.stdout[:300] + out.stderr
    cookie = next(c for c in headers["set-cookie"] if c.startswith(hf.COOKIE + "=")).split(";")[0]
    out = curl(pki, port, HOST, "/headers", version, "-H", f"Cookie: {cookie}", source=source)
    status, _, body = hf.head_and_body(out.stdout)
    assert status == 200, out.stdout[:300] + out.stderr
    return json.loads(body)["headers"]


def raw_exchange(port: int, payload: bytes, source: str) -> bytes:
    """Connects from `source`, sends `payload`, returns whatever comes back before the
    relay closes (it must close: every case here is refused)."""
    with socket.socket() as sock:
        sock.settimeout(15)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(payload)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def redeem_ticket(raw: socket.socket, pki: Path) -> bytes:
    """The browser's TLS on `raw` (its PROXY header already sent): a ticket for alice
    redeemed at the agent's http:// front; the whole HTTP/1.1 answer."""
    import ssl
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.set_alpn_protocols(["http/1.1"])
    with context.wrap_socket(raw, server_hostname=HOST) as tls:
        ticket = hf.mint(pki / "signing.key", user="alice", host=HOST)
        tls.sendall(f"GET /.h2tunnel/ticket?t={ticket}&r=/ HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := tls.recv(4096):
            response += chunk
    return response


def refusal_lines(relay, reason: str) -> list[str]:
    return [line for line in relay.proc.stderr_text().splitlines()
            if "browser refused" in line and f"reason={reason}" in line]


@pytest.mark.parametrize("which", ["v2", "v1"])
def test_client_address_reaches_the_app_and_the_relay_log(front, pki, which):
    relay, v2, v1, agent = front
    port = (v2 if which == "v2" else v1).port
    for version in ("--http1.1", "--http2"):
        seen = app_headers(pki, port, version=version)
        assert seen["x-forwarded-for"] == [CLIENT], seen
    # The relay's access line names the client, and carries the connection id that the
    # agent's lines for the same tunnel carry (its "signed in" line of the ticket).
    closed = relay.proc.wait_stderr(rf"tunnel closed.*remote={re.escape(CLIENT)}:\d+")
    assert closed
    lines = relay.proc.stderr_text().splitlines()
    conns = {m.group(1) for line in lines if "tunnel closed" in line and f"remote={CLIENT}:" in line
             for m in [re.search(r"\bconn=([0-9a-f]{12})\b", line)] if m}
    assert conns, "no conn= on the relay's access lines"
    signed_in = wait_until(lambda: [re.search(r"\bconn=([0-9a-f]{12})\b", line).group(1)
                                    for line in agent.proc.stderr_text().splitlines()
                                    if "signed in" in line and re.search(r"\bconn=", line)],
                           10, "the agent's signed-in lines with conn=")
    assert set(signed_in) & conns, f"agent conns {signed_in} not among the relay's {conns}"
    assert not [line for line in lines if "tunnel closed" in line and "remote=127.0.0.1:" in line
                and f"conn={signed_in[0]}" in line]


def test_every_browser_line_has_a_connection_id(front, pki):
    """Access, refusal and site lines of browser connections carry `conn` (the summary
    line of suppressed refusals is about many connections and has a count instead)."""
    relay, v2, _, _ = front
    app_headers(pki, v2.port)
    relay.proc.wait_stderr(r"tunnel closed")
    lines = [line for line in relay.proc.stderr_text().splitlines()
             if re.search(r"tunnel closed|browser refused|sign-in refused|signed in|agent connected", line)
             and "suppressed=" not in line]
    assert lines
    missing = [line for line in lines if not re.search(r"\bconn=[0-9a-f]{12}\b", line)]
    assert not missing, missing[:5]


def test_untrusted_source_sending_a_proxy_header_is_refused(front):
    relay, _, _, _ = front
    for payload in (b"PROXY TCP4 10.1.2.3 127.0.0.1 1234 443\r\n\x16\x03\x01",
                    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([10, 1, 2, 3, 127, 0, 0, 1, 4, 210, 1, 187])):
        assert raw_exchange(relay.port, payload, source="127.0.0.7") == b""
    wait_until(lambda: len([line for line in refusal_lines(relay, "proxy-header-untrusted")
                            if "remote=127.0.0.7:" in line]) >= 2, 10, "two proxy-header-untrusted lines")
    assert "10.1.2.3" not in relay.proc.stderr_text()


def test_untrusted_source_without_a_header_is_served_as_itself(front, pki):
    """Not behind the balancer: the TCP peer is the client, as without PROXY protocol."""
    relay, _, _, _ = front
    seen = app_headers(pki, relay.port, source="127.0.0.6")
    assert seen["x-forwarded-for"] == ["127.0.0.6"]


def test_trusted_source_without_a_header_is_refused(front, pki):
    relay, _, _, _ = front
    out = curl(pki, relay.port, HOST, "/", source="127.0.0.1")
    assert out.returncode != 0, "a TLS client on the trusted address got through without a PROXY header"
    wait_until(lambda: [line for line in refusal_lines(relay, "proxy-header-missing") if "remote=127.0.0.1:" in line],
               10, "proxy-header-missing line")


@pytest.mark.parametrize("payload,detail", [
    (b"PROXY TCP4 10.1.2.3 127.0.0.1 99999 443\r\n\x16\x03\x01", "bad port"),
    (b"PROXY TCP4 10.1.2.3 127.0.0.1 1234" + b" " * 100, "no CRLF"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff", "at most"),
])
def test_trusted_source_with_an_invalid_header_is_refused(front, payload, detail):
    relay, _, _, _ = front
    before = len(refusal_lines(relay, "proxy-header-invalid"))
    assert raw_exchange(relay.port, payload, source="127.0.0.1") == b""
    line = wait_until(lambda: refusal_lines(relay, "proxy-header-invalid")[before:], 10, "proxy-header-invalid line")[0]
    assert detail in line and "conn=" in line


@pytest.mark.parametrize("header", [
    b"PROXY TCP4 10.9.8.7 127.0.0.1 4242 443\r\n",
    b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x13" + bytes([10, 9, 8, 7, 127, 0, 0, 1, 0x10, 0x92, 1, 187])
    + bytes([0x04, 0x00, 0x04]) + b"abcd",   # a NOOP TLV, skipped
])
def test_header_sent_a_byte_at_a_time_then_tls(front, pki, header):
    """A balancer's header split over many TCP segments, then the browser's TLS on the
    same connection: the relay waits for the whole header and the app sees its client."""
    import time
    relay, _, _, agent = front
    raw = socket.socket()
    raw.settimeout(15)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw.connect(("127.0.0.1", relay.port))
    for i in range(len(header)):
        raw.sendall(header[i:i + 1])
        time.sleep(0.002)   # pacing, so the bytes leave as separate segments
    response = redeem_ticket(raw, pki)
    assert response.startswith(b"HTTP/1.1 303"), response[:200]
    agent.proc.wait_stderr(r"signed in browser=10\.9\.8\.7 ")
    relay.proc.wait_stderr(r"tunnel closed.*remote=10\.9\.8\.7:4242 ")


def test_site_links_name_the_port_the_browser_connected_to(front, pki):
    """Behind HAProxy the browser connected to HAProxy's port, not the relay's: the
    header's destination port is the one the site's links (CSP form-action) name."""
    relay, v2, _, _ = front
    out = curl(pki, v2.port, RELAY_HOST, "/signin")
    _, headers, _ = hf.head_and_body(out.stdout)
    csp = headers["content-security-policy"][0]
    assert f"https://*.{TENANT_DOMAIN}:{v2.port};" in csp, csp
    assert f":{relay.port};" not in csp


def test_local_command_is_served_as_the_balancer_itself(front, pki):
    """v2 LOCAL (what HAProxy's health checks send): accepted, and the connection's
    real peer is the client (spec §2.2), here 127.0.0.1."""
    relay, _, _, agent = front
    local = (Path(__file__).resolve().parents[2] / "Fixtures" / "proxyprotocol" / "haproxy-v2-local-check.bin").read_bytes()
    raw = socket.create_connection(("127.0.0.1", relay.port), timeout=15)
    raw.sendall(local)
    response = redeem_ticket(raw, pki)
    assert response.startswith(b"HTTP/1.1 303"), response[:200]
    agent.proc.wait_stderr(r"signed in browser=127\.0\.0\.1 ")


def test_sign_in_limits_and_logs_use_the_client_address(front, pki, tmp_path):
    """The relay site behind HAProxy: failed sign-ins are logged and counted under the
    client's address, so one client hitting the per-address limit (20) leaves another
    behind the same balancer free to try."""
    relay, v2, _, _ = front

    def post(source: str, user: str, password: str) -> int:
        jar = tmp_path / f"jar-{source}"
        out = curl(pki, v2.port, RELAY_HOST, "/signin", "-b", jar, "-c", jar, source=source)
        m = re.search(rb'name="csrf" value="([^"]+)"', out.stdout)
        assert m, out.stdout[:300]
        form = urllib.parse.urlencode({"username": user, "password": password, "csrf": m.group(1).decode(), "next": "/"})
        out = curl(pki, v2.port, RELAY_HOST, "/signin", "-b", jar, "-c", jar, "--data-raw", form, source=source)
        return hf.head_and_body(out.stdout)[0]

    assert post(CLIENT, "alice", "wrong") == 401
    line = relay.proc.wait_stderr(r"sign-in refused.*reason=wrong-password.*")
    assert f"remote={CLIENT}" in line.group(0) and "conn=" in line.group(0), line.group(0)
    for i in range(19):
        assert post(CLIENT, f"nobody{i}", "wrong") == 401
    assert post(CLIENT, "nobody-else", "wrong") == 429
    assert post("127.0.0.6", "nobody-else", "wrong") == 401
    assert post("127.0.0.6", "alice", PASSWORD) == 303
    line = relay.proc.wait_stderr(r"signed in.*user=alice.*")
    assert "remote=127.0.0.6" in line.group(0), line.group(0)


def test_tunnels_per_address_count_the_client(procs, pki, demo_app, tmp_path):
    """`--max-tunnels-per-address 1` behind HAProxy: a second tunnel from 127.0.0.5 is
    refused, one from 127.0.0.6 is not (both reach the relay from 127.0.0.1)."""
    relay = procs.relay(extra=["--proxy-protocol-from", "127.0.0.0/8", "--max-tunnels-per-address", "1"])
    balancer = start_haproxy(procs, tmp_path, relay.port, proxy="v2")
    procs.agent(relay, demo_app.upstream, relay_port=balancer.port)
    import ssl
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))

    def tls(source: str) -> ssl.SSLSocket:
        raw = socket.socket()
        raw.settimeout(15)
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", balancer.port))
        return context.wrap_socket(raw, server_hostname=HOST)

    held = tls(CLIENT)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            tls(CLIENT).close()
        wait_until(lambda: [line for line in refusal_lines(relay, "too-many-tunnels") if f"remote={CLIENT}:" in line],
                   10, "too-many-tunnels for 127.0.0.5")
        tls("127.0.0.6").close()
    finally:
        held.close()


def test_health_checks_are_not_refusals(procs, tmp_path):
    """HAProxy's v2 health checks (LOCAL command, then a close) are accepted as the spec
    says and are not logged as refused browsers (one every 200 ms would flood the log)."""
    relay = procs.relay(extra=["--proxy-protocol-from", "127.0.0.1", "--log-level", "debug"])
    start_haproxy(procs, tmp_path, relay.port, proxy="v2", check=True)
    # A check is logged at debug as what the relay saw: its LOCAL header, or (HAProxy
    # resets its checks at once) a socket already reset when it was accepted.
    wait_until(lambda: len(re.findall(r"balancer check|connection reset before it was accepted",
                                      relay.proc.stderr_text())) >= 5, 20, "five health checks at the relay")
    text = relay.proc.stderr_text()
    assert "browser refused" not in text, text[-2000:]


def test_bad_network_is_a_start_up_error(bins, pki):
    result = subprocess.run([str(bins / "relay"), "run", "--listen", "127.0.0.1:0", "--hostname", RELAY_HOST,
                             "--cert", str(pki / "relay.pem"), "--key", str(pki / "relay.key"),
                             "--agent-hostname", "agents.relay.localhost", "--agent-ca", str(pki / "agent-ca.pem"),
                             "--tenant-domain", TENANT_DOMAIN, "--admin-listen", "127.0.0.1:0",
                             "--proxy-protocol-from", "10.0.0.0/33"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--proxy-protocol-from" in result.stderr and "10.0.0.0/33" in result.stderr, result.stderr
