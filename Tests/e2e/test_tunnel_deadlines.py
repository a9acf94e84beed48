"""Deadlines and bounds inside tunnels (issue 14, item 3).

A browser that sends a ClientHello and then nothing has its tunnel reset by the
agent after `--handshake-timeout`, in tcp:// mode (the agent's TLS terminator) and
in http:// mode (the TLS on the web front's socket pair); the relay's stream count
for the tenant goes back to where it was. The relay caps concurrent tunnels per
browser address (`--max-tunnels-per-address`): the next one from that address is
closed unanswered, another address is not affected, and the count goes back down
as tunnels close.
"""

import socket
import time

import pytest

import http_front as hf
from cluster import wait_until
from tlsclient import client_hello, connect, read_head, read_until_closed

HOST = "acme.tunnel.localhost"


def silent_browser(relay, source: str = "127.0.0.1") -> tuple[socket.socket, bytes]:
    """A TCP connection that sends a ClientHello and then nothing; returns it and the
    first bytes the far end answered with (b"" if it closed at once)."""
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10, source_address=(source, 0))
    sock.sendall(client_hello(HOST))
    try:
        first = sock.recv(65536)
    except ConnectionResetError:
        first = b""
    return sock, first


def open_streams(relay) -> int:
    return relay.agent_total("openStreams", "acme")


def assert_reset_after_deadline(relay, agent, mode: str):
    before = open_streams(relay)
    started = time.monotonic()
    sock, first = silent_browser(relay)
    with sock:
        assert first[:1] == b"\x16", f"no ServerHello came back: {first[:16]!r}"
        _, outcome = read_until_closed(sock, 10)
        waited = time.monotonic() - started
    assert outcome in ("reset", "eof"), outcome
    # --handshake-timeout 1: well before the 10 s default, and not at once.
    assert 0.8 <= waited < 5, waited
    wait_until(lambda: open_streams(relay) == before, 10, "the tenant's stream count back down")
    agent.proc.wait_stderr(rf"tunnel reset: TLS handshake timed out.*mode={mode}", 5)


def test_tcp_tunnel_silent_after_client_hello_is_reset(procs, demo_app):
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream, extra=["--handshake-timeout", "1"])
    assert_reset_after_deadline(relay, agent, "tcp")


def test_http_tunnel_silent_after_client_hello_is_reset(procs):
    app = hf.App(procs)
    relay = procs.relay()
    agent = hf.start_agent(procs, relay, app.upstream, extra=["--handshake-timeout", "1"])
    assert_reset_after_deadline(relay, agent, "http")


def test_tunnels_per_address_are_capped_and_counted_back_down(procs, demo_app):
    relay = procs.relay(extra=["--max-tunnels-per-address", "2"])
    procs.agent(relay, demo_app.upstream, extra=["--handshake-timeout", "60"])
    try:
        socket.create_connection(("127.0.0.1", relay.port), timeout=2, source_address=("127.0.0.2", 0)).close()
    except OSError:
        pytest.skip("127.0.0.2 is not usable as a source address here")

    def fill_and_overflow():
        held = [silent_browser(relay) for _ in range(2)]
        for _, first in held:
            assert first[:1] == b"\x16", f"a tunnel under the cap was not served: {first[:16]!r}"
        extra, first = silent_browser(relay)
        with extra:
            assert first == b"", f"the third tunnel from one address was served: {first[:16]!r}"
        return [sock for sock, _ in held]

    held = fill_and_overflow()
    relay.proc.wait_stderr(r"browser refused.*reason=too-many-tunnels", 5)
    # Another address has a count of its own.
    other, first = silent_browser(relay, source="127.0.0.2")
    with other:
        assert first[:1] == b"\x16", f"127.0.0.2 was refused by 127.0.0.1's count: {first[:16]!r}"
    for sock in held:
        sock.close()
    wait_until(lambda: open_streams(relay) == 0, 10, "the closed tunnels gone")
    # Back to 0: exactly two fit again (a leaked count would refuse the second).
    for sock in fill_and_overflow():
        sock.close()


def keepalive_get(sock):
    sock.sendall(f"GET /bytes/100 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    status, headers, body = read_head(sock)
    assert status == 200
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)


def test_idle_tunnel_is_reset_and_a_busy_one_kept(procs, pki, demo_app):
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream, extra=["--idle-timeout", "1"])
    with connect(pki, relay.port, HOST) as busy:
        # A request every 0.3 s for 3 s: never idle for a second.
        for _ in range(10):
            keepalive_get(busy)
            time.sleep(0.3)
        keepalive_get(busy)
    with connect(pki, relay.port, HOST) as idle:
        keepalive_get(idle)
        started = time.monotonic()
        _, outcome = read_until_closed(idle, 10)
        waited = time.monotonic() - started
    assert outcome in ("reset", "eof"), outcome
    assert 0.9 <= waited < 4, waited
    agent.proc.wait_stderr(r"tunnel reset: idle", 5)
    wait_until(lambda: open_streams(relay) == 0, 10, "the idle tunnel gone")
