"""Issue 15, items 2 and 6, acceptance (b): the relay's and the agent's admin listeners.
`/metrics` is parsed with the Prometheus client's own text parser and its counters must
move by what the test drives (tunnels through tcp://, bytes, a refused ClientHello, sign-ins,
TLS handshakes); `/readyz` says 200 only when ready; `agent status` reads the agent's
`/status` and exits 0 connected, 1 not connected, 2 when nothing answers.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import http_front as hf
from cluster import TENANT_DOMAIN, curl, free_port, wait_until
from test_relay_web import PASSWORD, Browser, admin
from tlsclient import client_hello, connect, read_head, read_until_closed

SIZE = 300_000


def get(port: int, path: str):
    """(status, content-type, body) of a GET on an admin listener."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.headers.get("content-type"), resp.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type"), error.read().decode()


def scrape(port: int) -> dict:
    """Every sample of /metrics as {(name, frozenset(labels)): value}."""
    status, content_type, text = get(port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4"), (status, content_type)
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("h2tunnel_"), family.name
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def agent_admin_port(agent) -> int:
    m = agent.proc.wait_line(r"^agent started tenant=\S+ relay=\S+ admin=127\.0\.0\.1:(\d+)$")
    return int(m.group(1))


def agent_status(bins, *args, env=None):
    return subprocess.run([str(bins / "agent"), "status", *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def setup(module_procs, demo_app, bins, pki, tmp_path_factory):
    """A relay with a store (alice may open acme) and acme's agent in front of the demo app."""
    store = tmp_path_factory.mktemp("metrics") / "relay.db"
    admin(bins, store, "user", "add", "alice", stdin=PASSWORD + "\n")
    admin(bins, store, "tenant", "add", "acme", "--name", "Acme Corporation")
    admin(bins, store, "grant", "alice", "acme")
    relay = module_procs.relay(extra=["--store", store, "--signing-key", pki / "signing.key"])
    agent = module_procs.agent(relay, demo_app.upstream, tenant="acme")
    return relay, agent_admin_port(agent)


def test_relay_readyz_healthz(setup):
    relay, _ = setup
    assert get(relay.admin_port, "/healthz")[0] == 200
    status, _, body = get(relay.admin_port, "/readyz")
    assert (status, body) == (200, "ready\n")
    assert get(relay.admin_port, "/nothing")[0] == 404


def test_tunnels_and_bytes_counted_at_both_ends(setup, pki):
    relay, agent_admin = setup
    before_relay, before_agent = scrape(relay.admin_port), scrape(agent_admin)
    for _ in range(3):
        r = curl(pki, relay, "acme", f"/bytes/{SIZE}", "-o", "/dev/null", "-w", "%{size_download}")
        assert r.returncode == 0 and r.stdout == str(SIZE).encode(), r.stderr
    # Counted when each tunnel's stream closes, a moment after curl is done.
    def closed(port, name, before):
        return value(scrape(port), name, outcome="fin") - value(before, name, outcome="fin") >= 3
    wait_until(lambda: closed(relay.admin_port, "h2tunnel_relay_tunnels_closed_total", before_relay), 10, "relay closes")
    wait_until(lambda: closed(agent_admin, "h2tunnel_agent_tunnels_closed_total", before_agent), 10, "agent closes")
    after_relay, after_agent = scrape(relay.admin_port), scrape(agent_admin)

    def moved(after, before, name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    assert moved(after_relay, before_relay, "h2tunnel_relay_tunnels_opened_total") == 3
    assert moved(after_relay, before_relay, "h2tunnel_relay_tunnels_closed_total", outcome="fin") == 3
    # Down: the response and its TLS records; up: at least the requests' ClientHellos.
    assert moved(after_relay, before_relay, "h2tunnel_relay_tunnel_bytes_total", direction="down") >= 3 * SIZE
    assert moved(after_relay, before_relay, "h2tunnel_relay_tunnel_bytes_total", direction="up") >= 3 * 200
    assert moved(after_agent, before_agent, "h2tunnel_agent_tunnels_opened_total") == 3
    assert moved(after_agent, before_agent, "h2tunnel_agent_tunnels_closed_total", outcome="fin") == 3
    assert moved(after_agent, before_agent, "h2tunnel_agent_tunnel_bytes_total", direction="down") >= 3 * SIZE
    # The agent counts the app's plaintext, the relay the TLS records made of it: a little more.
    assert (moved(after_agent, before_agent, "h2tunnel_agent_tunnel_bytes_total", direction="down")
            < moved(after_relay, before_relay, "h2tunnel_relay_tunnel_bytes_total", direction="down"))
    # Up: the agent counts what the relay sent it, the browser's TLS records, as the relay did.
    assert (moved(after_agent, before_agent, "h2tunnel_agent_tunnel_bytes_total", direction="up")
            == moved(after_relay, before_relay, "h2tunnel_relay_tunnel_bytes_total", direction="up"))
    # The connection gauges and the agent's PING round trip.
    assert value(after_relay, "h2tunnel_relay_agent_connections", tenant="acme") == 1
    assert value(after_agent, "h2tunnel_agent_relay_connections") == 1
    assert ("h2tunnel_relay_agent_ping_rtt_seconds", frozenset({("tenant", "acme")})) in after_relay
    assert value(after_relay, "h2tunnel_relay_tls_handshake_seconds_count", endpoint="agent") >= 1


def test_client_hello_rejects_by_reason(setup, pki):
    relay, _ = setup
    before = scrape(relay.admin_port)
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100) == b""   # closed without an answer
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    for _ in range(2):
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as raw:
            with pytest.raises(ssl.SSLError):
                context.wrap_socket(raw, server_hostname="nobody.example.org").close()

    def rejects(reason):
        name = "h2tunnel_relay_client_hello_rejects_total"
        return value(scrape(relay.admin_port), name, reason=reason) - value(before, name, reason=reason)
    wait_until(lambda: rejects("not-tls") == 1 and rejects("unknown-host") == 2, 10, "rejects counted")


def test_sign_ins_by_outcome_and_site_handshakes(setup, pki, tmp_path):
    relay, _ = setup
    before = scrape(relay.admin_port)
    browser = Browser(pki, relay, tmp_path / "jar")
    status, _, _, _ = browser.sign_in(password="not the password")
    assert status == 401
    status, headers, _, _ = browser.sign_in()
    assert status == 303, headers
    after = scrape(relay.admin_port)
    name = "h2tunnel_relay_sign_ins_total"
    assert value(after, name, outcome="wrong-password") - value(before, name, outcome="wrong-password") == 1
    assert value(after, name, outcome="signed-in") - value(before, name, outcome="signed-in") == 1
    # Each curl is a connection of its own: four site handshakes (two forms, two posts).
    count = "h2tunnel_relay_tls_handshake_seconds_count"
    assert value(after, count, endpoint="site") - value(before, count, endpoint="site") == 4
    assert value(after, "h2tunnel_relay_tls_handshake_seconds_bucket", endpoint="site", le="+Inf") \
        == value(after, count, endpoint="site")


def test_agent_admin_and_status_connected(setup, bins):
    relay, agent_admin = setup
    assert get(agent_admin, "/healthz")[0] == 200
    assert get(agent_admin, "/readyz")[:3:2] == (200, "ready\n")
    status, content_type, body = get(agent_admin, "/status")
    assert status == 200 and content_type == "application/json"
    info = json.loads(body)
    assert set(info) == {"tenant", "connected", "relay", "relayAddress", "relayInstance", "connectedSince",
                         "openStreams", "lastError", "phase"}
    assert info["tenant"] == "acme" and info["connected"] is True and info["phase"] == "ready"
    assert info["relay"] == f"127.0.0.1:{relay.port}" and info["relayAddress"] == f"127.0.0.1:{relay.port}"
    assert info["openStreams"] == 0 and info["connectedSince"].endswith("Z")

    r = agent_status(bins, "--admin", f"127.0.0.1:{agent_admin}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"connected to relay 127.0.0.1:{relay.port}"
    # The relay's --instance-name defaults to its host name, told in its hello stream.
    assert info["relayInstance"] == socket.gethostname()
    assert "tenant: acme" in lines and f"relay instance: {socket.gethostname()} (127.0.0.1:{relay.port})" in lines
    assert f"since: {info['connectedSince']}" in lines and "open streams: 0" in lines
    r = agent_status(bins, "--admin", f"127.0.0.1:{agent_admin}", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["connected"] is True
    # Beside the agent, the variable that set its listener finds it without --admin.
    r = agent_status(bins, env={"H2TUNNEL_ADMIN_LISTEN": f"127.0.0.1:{agent_admin}"})
    assert r.returncode == 0 and r.stdout.startswith("connected to relay"), r.stderr
    # --uplink-pacing auto (the default) never paces a path under 1 ms: the gauge says 0.
    assert value(scrape(agent_admin), "h2tunnel_agent_uplink_pacing_bytes_per_second") == 0


def test_agent_status_nothing_answers(bins):
    port = free_port()
    r = agent_status(bins, "--admin", f"127.0.0.1:{port}")
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port} does not answer (connection refused)" in lines[0], r.stderr
    r = agent_status(bins, env={"H2TUNNEL_ADMIN_LISTEN": "off"})
    assert r.returncode == 2 and "admin listener is off" in r.stderr


def test_agent_not_ready_before_its_relay_is_reachable(procs, demo_app, bins):
    """An agent whose relay is down: alive (healthz), not ready (503), status says why, exit 1."""
    agent = procs.agent(None, demo_app.upstream, wait=False, relay_port=free_port())
    port = agent_admin_port(agent)
    assert get(port, "/healthz")[0] == 200
    info = wait_until(lambda: (s := json.loads(get(port, "/status")[2]))["lastError"] and s, 20, "a dial failure")
    assert info["connected"] is False and info["relayAddress"] is None and info["connectedSince"] is None
    status, _, body = get(port, "/readyz")
    assert status == 503 and body.startswith("not connected to the relay"), body
    assert value(scrape(port), "h2tunnel_agent_relay_connections") == 0
    wait_until(lambda: value(scrape(port), "h2tunnel_agent_reconnects_total") >= 1, 20, "a reconnect counted")
    r = agent_status(bins, "--admin", f"127.0.0.1:{port}")
    assert r.returncode == 1 and r.stdout.startswith("not connected to relay"), r.stdout + r.stderr
    assert "last error: none" not in r.stdout


def test_agent_status_after_relay_stops(procs, demo_app, bins):
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream)
    port = agent_admin_port(agent)
    assert agent_status(bins, "--admin", f"127.0.0.1:{port}").returncode == 0
    assert relay.proc.stop() == 0
    wait_until(lambda: get(port, "/readyz")[0] == 503, 20, "agent not ready once its relay is gone")
    r = agent_status(bins, "--admin", f"127.0.0.1:{port}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert value(scrape(port), "h2tunnel_agent_relay_connections") == 0


def moved_by(port: int, before: dict, name: str, **labels) -> float:
    return value(scrape(port), name, **labels) - value(before, name, **labels)


def test_browser_reset_and_handshake_timeout_outcomes(procs, demo_app, pki):
    """A browser that resets mid-download, and one silent after its ClientHello: each
    tunnel counted once, under the outcome that says why, at the relay and at the agent."""
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream, extra=["--handshake-timeout", "1"])
    agent_admin = agent_admin_port(agent)
    before_relay, before_agent = scrape(relay.admin_port), scrape(agent_admin)
    host = f"acme.{TENANT_DOMAIN}"
    with connect(pki, relay.port, host) as sock:
        sock.sendall(f"GET /bytes/{200 * 1024 * 1024} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert read_head(sock)[0] == 200
        # SO_LINGER 0: close sends a TCP RST, the browser's abort.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    def closed(port, name, before):
        return {dict(labels)["outcome"]: n - before.get((metric, labels), 0)
                for (metric, labels), n in scrape(port).items()
                if metric == name and n != before.get((metric, labels), 0)}
    relay_closed = wait_until(lambda: closed(relay.admin_port, "h2tunnel_relay_tunnels_closed_total", before_relay),
                              10, "relay: the tunnel closed")
    assert relay_closed == {"reset-by-browser": 1}
    agent_closed = wait_until(lambda: closed(agent_admin, "h2tunnel_agent_tunnels_closed_total", before_agent),
                              10, "agent: the tunnel closed")
    assert agent_closed == {"reset-by-relay": 1}
    with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
        sock.sendall(client_hello(host))
        read_until_closed(sock, 10)
    wait_until(lambda: moved_by(agent_admin, before_agent, "h2tunnel_agent_tunnels_closed_total",
                                outcome="handshake-timeout") == 1, 10, "agent: handshake-timeout")
    assert moved_by(agent_admin, before_agent, "h2tunnel_agent_handshake_timeouts_total", mode="tcp") == 1
    assert moved_by(agent_admin, before_agent, "h2tunnel_agent_tunnels_opened_total") == 2
    wait_until(lambda: moved_by(relay.admin_port, before_relay, "h2tunnel_relay_tunnels_closed_total",
                                outcome="reset-by-agent") == 1, 10, "relay: the agent's reset")
    assert moved_by(relay.admin_port, before_relay, "h2tunnel_relay_tunnels_opened_total") == 2
    assert json.loads(get(agent_admin, "/status")[2])["openStreams"] == 0


def test_tickets_counted_in_http_mode(procs, pki):
    relay, agent, _ = hf.start_front(procs)
    port = agent_admin_port(agent)
    hf.sign_in(pki, relay)
    ticket = hf.mint(pki / "signing.key")
    for _ in range(2):   # the second use of one ticket is a replay
        hf.curl(pki, relay, f"/.h2tunnel/ticket?t={ticket}&r=/", "-o", "/dev/null")
    samples = scrape(port)
    assert value(samples, "h2tunnel_agent_tickets_total", outcome="redeemed") == 2
    assert value(samples, "h2tunnel_agent_tickets_total", outcome="replayed") == 1


def test_agent_admin_stays_up_while_draining(procs, demo_app, pki):
    """SIGTERM with a download in flight: /readyz says 503 "draining" and /status the phase
    until the agent is done; the admin listener closes with it."""
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream, extra=["--grace-period", "30"])
    port = agent_admin_port(agent)
    host = f"acme.{TENANT_DOMAIN}"
    sock = connect(pki, relay.port, host)
    try:
        sock.sendall(f"GET /bytes/{1 << 30} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert read_head(sock)[0] == 200   # and then not read: the download stays in flight
        wait_until(lambda: json.loads(get(port, "/status")[2])["openStreams"] == 1, 10, "the tunnel counted open")
        agent.proc.signal()
        wait_until(lambda: get(port, "/readyz")[:3:2] == (503, "draining\n"), 10, "/readyz draining")
        assert json.loads(get(port, "/status")[2])["phase"] == "draining"
    finally:
        sock.close()
    assert agent.proc.wait_exit(30) == 0
    with pytest.raises(OSError):
        get(port, "/healthz")
