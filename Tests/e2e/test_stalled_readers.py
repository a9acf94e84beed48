"""Browsers that stop reading must not stall anybody else on the same agent
connection.

A tunnelled download whose browser stops reading holds its stream's window
(1 MiB) at the relay once the kernel's socket buffers are full. Before the
fix those bytes also held as much of the agent connection's window (16 MiB),
so sixteen stalled downloads, which anyone who can reach the company's
hostname can open, froze every other tunnel of that company. Now the relay
absorbs them in its receive budget (16 MiB), and beyond it resets the tunnels
whose browser took nothing for 5 s.
"""

import time

import pytest

from cluster import curl, wait_until
from tlsclient import connect, pattern_chunk, read_head

EACH = 64 << 20
FRESH = 4 << 20


@pytest.fixture(scope="module")
def setup(module_procs, demo_app):
    relay = module_procs.relay()
    agent = module_procs.agent(relay, demo_app.upstream)
    return relay, agent


def stall(pki, relay, count):
    """`count` downloads whose browsers read the response head and stop."""
    host = "acme.tunnel.localhost"
    socks = []
    for _ in range(count):
        sock = connect(pki, relay.port, host)
        sock.sendall(f"GET /bytes/{EACH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, _, body = read_head(sock)
        assert status == 200
        socks.append((sock, body))
    return socks


def fresh_download(pki, relay):
    started = time.monotonic()
    result = curl(pki, relay, "acme", f"/bytes/{FRESH}", "-o", "/dev/null",
                  "-w", "%{http_code} %{size_download}", timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == f"200 {FRESH}"
    return time.monotonic() - started


def stalled_resets(relay):
    return sum(a["stalledResets"] for a in relay.agents("acme"))


def test_stalled_readers_within_the_budget_cost_others_nothing(setup, pki):
    relay, _ = setup
    socks = stall(pki, relay, 24)   # 24 MiB held: more than the 16 MiB connection window
    try:
        time.sleep(1)   # nothing to wait for: the stalled streams fill up by themselves
        elapsed = fresh_download(pki, relay)
        assert elapsed < 5, f"a fresh download took {elapsed:.1f} s beside 24 stalled ones"
        assert stalled_resets(relay) == 0
    finally:
        for sock, _ in socks:
            sock.close()


def test_beyond_the_budget_stalled_tunnels_are_reset_and_others_go_on(setup, pki):
    relay, agent = setup
    before = stalled_resets(relay)
    socks = stall(pki, relay, 48)   # 48 MiB: budget and connection window both spent
    try:
        elapsed = fresh_download(pki, relay)
        print(f"fresh download beside 48 stalled: {elapsed:.2f} s")
        assert elapsed < 20, f"a fresh download took {elapsed:.1f} s"
        wait_until(lambda: stalled_resets(relay) - before >= 16, 10, "stalled tunnels reset")
        assert "tunnel reset: browser stopped reading" in relay.proc.stderr_text()
        # A reset tunnel's browser gets the bytes it was sent, in order, then the close.
        for sock, body in socks[:4]:
            sock.settimeout(10)
            got = bytearray(body)
            try:
                while chunk := sock.recv(1 << 20):
                    got += chunk
            except ConnectionResetError:
                pass
            assert len(got) < EACH
            assert bytes(got) == pattern_chunk(0, len(got))
    finally:
        for sock, _ in socks:
            sock.close()
