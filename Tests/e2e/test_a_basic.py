"""(a) A browser request through relay and agent (tcp://) reaches demo-app, the
certificate the browser verified is the tenant's, and the relay holds no
tenant key."""

import hashlib
import os
import re
import socket
import ssl
from pathlib import Path

import pytest

from cluster import curl, wait_until
from tlsclient import client_context, connect, read_head


@pytest.fixture(scope="module")
def setup(module_procs, demo_app):
    relay = module_procs.relay()
    agent = module_procs.agent(relay, demo_app.upstream)
    return relay, agent


def test_curl_reaches_demo_app_with_tenant_cert(setup, pki):
    relay, _ = setup
    result = curl(pki, relay, "acme", "/", "-v")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"Hello from the demo app\n"), result.stdout
    assert b"method: GET" in result.stdout and b"path: /" in result.stdout
    verbose = result.stderr.decode(errors="replace")
    subject = re.search(r"subject: (.*)", verbose)
    issuer = re.search(r"issuer: (.*)", verbose)
    assert subject and "CN=acme.tunnel.localhost" in subject.group(1), verbose
    assert issuer and "CN=H2Tunnel dev root CA" in issuer.group(1), verbose


def test_peer_certificate_is_the_tenant_certificate(setup, pki):
    relay, _ = setup
    tenant_der = ssl.PEM_cert_to_DER_cert((pki / "tenants/acme/tenant.pem").read_text())
    relay_der = ssl.PEM_cert_to_DER_cert((pki / "relay.pem").read_text())
    with connect(pki, relay.port, "acme.tunnel.localhost") as sock:
        peer = sock.getpeercert(binary_form=True)
        assert sock.selected_alpn_protocol() in (None, "http/1.1")
    assert hashlib.sha256(peer).hexdigest() == hashlib.sha256(tenant_der).hexdigest()
    assert peer != relay_der


def test_relay_holds_no_tenant_key(setup, pki):
    """Weak but concrete: nothing in the relay's argv, environment or open
    files names a tenant's directory or key."""
    relay, _ = setup
    assert curl(pki, relay, "acme", "/").returncode == 0  # a tunnel has been used
    tenants_dir = str(pki / "tenants")
    pid = relay.proc.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert not [a for a in cmdline if b"tenant.key" in a or tenants_dir.encode() in a], cmdline
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert tenants_dir.encode() not in environ
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    assert not [t for t in targets if t.startswith(tenants_dir) or t.endswith(".key")], targets


def test_admin_health_and_agent_listing(setup):
    relay, agent = setup
    status, body = relay.admin("/healthz")
    assert status == 200 and body.strip() == b"ok"
    (entry,) = relay.agents("acme")
    assert entry["connection"] == agent.connection
    assert entry["remote"].startswith("127.0.0.1:")
    assert {"tenant", "connection", "remote", "connectedSince", "openStreams", "stalledResets"} <= set(entry)
    # The PING sent when the connection came up has come back: loopback's round trip.
    wait_until(lambda: "roundTripMs" in relay.agents("acme")[0], 5, "a round trip measured")
    assert 0 < relay.agents("acme")[0]["roundTripMs"] < 100


def test_tls13_session_resumes_from_tickets_sent_with_the_response(setup, pki):
    """The agent sends its TLS 1.3 session tickets with the first response bytes,
    not as a flight of their own; a browser still gets them and resumes with them."""
    relay, _ = setup
    host = "acme.tunnel.localhost"
    ctx = client_context(pki)
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    def get(session=None):
        raw = socket.create_connection(("127.0.0.1", relay.port), timeout=20)
        with ctx.wrap_socket(raw, server_hostname=host, session=session) as sock:
            sock.sendall(request)
            status, _, _ = read_head(sock)
            while sock.recv(65536):
                pass
            return status, sock.session, sock.session_reused, sock.version()

    status, session, reused, version = get()
    assert status == 200 and version == "TLSv1.3" and not reused
    assert session is not None and session.has_ticket
    status, _, reused, _ = get(session)
    assert status == 200 and reused


def test_relay_site_closes_when_the_browser_does(setup, pki):
    """The relay's own hostname: once the browser has closed its side (close_notify,
    then FIN), the relay closes too, answering with its own close_notify, rather
    than holding the socket in CLOSE_WAIT for good."""
    relay, _ = setup
    from cluster import RELAY_HOST
    sock = connect(pki, relay.port, RELAY_HOST, timeout=5)
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {RELAY_HOST}\r\n\r\n".encode())
    status, headers, body = read_head(sock)
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    assert status == 200 and b"H2Tunnel relay relay.localhost" in body
    raw = sock.unwrap()   # close_notify; returns once the relay's arrives (timeout 5 s)
    raw.shutdown(socket.SHUT_WR)
    raw.settimeout(5)
    assert raw.recv(1) == b""
    raw.close()


def test_a_tunnel_holds_one_descriptor_in_relay_and_in_agent(setup, pki):
    """Relay and agent write tunnelled sockets themselves (`SocketWriter`), on the
    descriptor NIO lends them for each call: 20 open tunnels, each past a request, add
    20 sockets to each process, not 40 (as with a `dup` per socket), so an open-file
    limit still holds as many tunnels as before."""
    relay, agent = setup
    host = "acme.tunnel.localhost"

    def descriptors(pid):
        return len(os.listdir(f"/proc/{pid}/fd"))

    before = descriptors(relay.proc.pid), descriptors(agent.proc.pid)
    socks = []
    try:
        for _ in range(20):
            sock = connect(pki, relay.port, host)
            socks.append(sock)
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status, _, _ = read_head(sock)
            assert status == 200
        wait_until(lambda: relay.agents("acme")[0]["openStreams"] == 20, 10, "20 tunnels open")
        added = descriptors(relay.proc.pid) - before[0], descriptors(agent.proc.pid) - before[1]
        # A socket of an earlier test may still close in between: a few either way; a
        # second descriptor per tunnel would add 40.
        assert 16 <= added[0] <= 24 and 16 <= added[1] <= 24, added
    finally:
        for sock in socks:
            sock.close()
