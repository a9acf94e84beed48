"""SIGTERM closes idle tunnels at once (issue 14, item 5).

Every browser keeps an idle keep-alive connection, and with it a tunnel: a relay
or agent that is told to stop closes those (a FIN to the browser) instead of
waiting out the whole grace period for them, keeps busy tunnels until they end,
and says what it still waits for ("draining: N tunnels still open").
"""

import threading
import time

import pytest

from tlsclient import connect, pattern_chunk, read_head, read_until_closed

HOST = "acme.tunnel.localhost"
GRACE = 30


def idle_keepalive(pki, relay):
    """A TLS connection through the tunnel that served one request and stays open."""
    sock = connect(pki, relay.port, HOST)
    sock.sendall(f"GET /bytes/1000 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    status, headers, body = read_head(sock)
    assert status == 200
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return sock


@pytest.mark.parametrize("stopping", ["relay", "agent"])
def test_idle_keepalive_tunnel_does_not_hold_up_a_stop(procs, pki, demo_app, stopping):
    relay = procs.relay(extra=["--grace-period", str(GRACE)])
    agent = procs.agent(relay, demo_app.upstream, extra=["--grace-period", str(GRACE)])
    proc = relay.proc if stopping == "relay" else agent.proc
    with idle_keepalive(pki, relay) as sock:
        started = time.monotonic()
        proc.signal()
        code = proc.wait_exit(GRACE)
        took = time.monotonic() - started
        # The idle tunnel is closed, not left open until the grace period ends.
        _, outcome = read_until_closed(sock, 5)
    assert code == 0, proc.stderr_tail()
    assert took < 5, f"{stopping} took {took:.1f} s to stop with one idle tunnel (grace {GRACE} s)"
    assert outcome in ("eof", "reset"), outcome


def test_active_download_completes_and_is_reported(procs, pki, demo_app):
    relay = procs.relay(extra=["--grace-period", str(GRACE)])
    procs.agent(relay, demo_app.upstream, extra=["--grace-period", str(GRACE)])
    size = 48 << 20
    got = bytearray()
    with connect(pki, relay.port, HOST) as sock:
        sock.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        status, _, body = read_head(sock)
        assert status == 200
        got += body
        relay.proc.signal()
        # 6 MiB/s: about 8 s, longer than one "still open" interval (5 s).
        started = time.monotonic()
        while len(got) < size:
            chunk = sock.recv(256 << 10)
            if not chunk:
                break
            got += chunk
            ahead = len(got) / (6 << 20) - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    assert len(got) == size and got == pattern_chunk(0, size)
    assert relay.proc.wait_exit(GRACE) == 0, relay.proc.stderr_tail()
    assert "draining: 1 tunnels still open" in relay.proc.stderr_text()
