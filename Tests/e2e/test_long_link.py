"""A relay far from the agent: stream windows grow with the path.

A delay proxy (Tools/bench.d/delayproxy.py) adds 25 ms each way between agent
and relay. With a fixed 1 MiB stream window a transfer moves at most 1 MiB per
50 ms round trip, so 128 MiB cannot take less than 6.4 s; `ssh -R`, with its
fixed 2 MiB channel window, needs at least 3.2 s. The tunnel grows a stream's
window while the window is what limits it (up to 16 MiB: 0.4 s for 128 MiB), and
finishes well under both bounds: about 1 s in a debug build here, and the bound
leaves room for a busy machine. Both directions are checked (an upload echoed back), bytes intact.

New connections wait for no round trip of the link beyond what TLS 1.3 itself needs.
"""

import hashlib
import subprocess
import sys
import time

import pytest

from cluster import REPO, TENANT_DOMAIN, curl, wait_until
from tlsclient import connect, pattern_sha256, read_head

DELAY_MS = 25
SIZE = 128 << 20
FIXED_WINDOW_BOUND_S = SIZE / (1 << 20) * (2 * DELAY_MS / 1000)


@pytest.fixture(scope="module")
def setup(module_procs, demo_app):
    relay = module_procs.relay()
    proxy = module_procs.start("delayproxy", [sys.executable, REPO / "Tools" / "bench.d" / "delayproxy.py",
                                              "--listen", "0", "--to", f"127.0.0.1:{relay.port}",
                                              "--delay-ms", str(DELAY_MS)])
    port = int(proxy.wait_line(r"^delayproxy ready port=(\d+)$").group(1))
    agent = module_procs.agent(relay, demo_app.upstream, relay_port=port)
    return relay, agent


def test_relay_measures_the_long_round_trip(setup):
    relay, _ = setup
    wait_until(lambda: "roundTripMs" in relay.agents("acme")[0], 5, "a round trip measured")
    assert relay.agents("acme")[0]["roundTripMs"] >= 2 * DELAY_MS


def test_download_beats_any_fixed_window(setup, pki):
    relay, _ = setup
    started = time.monotonic()
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "--cacert", str(pki / "ca.pem"),
         "--resolve", f"acme.tunnel.localhost:{relay.port}:127.0.0.1",
         relay.url("acme", f"/bytes/{SIZE}")], capture_output=True, timeout=70)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout) == SIZE
    assert hashlib.sha256(result.stdout).hexdigest() == pattern_sha256(SIZE)
    assert elapsed < FIXED_WINDOW_BOUND_S, (
        f"{SIZE >> 20} MiB took {elapsed:.2f} s over a {2 * DELAY_MS} ms link: "
        f"no faster than a fixed 1 MiB window allows ({FIXED_WINDOW_BOUND_S:.2f} s)")


def test_echo_both_ways_beats_any_fixed_window(setup, pki, tmp_path):
    """128 MiB up to the app's /echo and the same back down, at once."""
    relay, _ = setup
    body, back = tmp_path / "upload", tmp_path / "echoed"
    block = bytes(range(256)) * 4096
    with open(body, "wb") as f:
        for _ in range(SIZE // len(block)):
            f.write(block)
    started = time.monotonic()
    result = curl(pki, relay, "acme", "/echo", "-H", "Expect:", "-T", str(body),
                  "-o", str(back), timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr.decode()
    assert back.read_bytes() == body.read_bytes()
    assert elapsed < FIXED_WINDOW_BOUND_S, (
        f"{SIZE >> 20} MiB each way took {elapsed:.2f} s over a {2 * DELAY_MS} ms link: "
        f"no faster than a fixed 1 MiB window allows ({FIXED_WINDOW_BOUND_S:.2f} s)")


def test_new_connection_waits_two_round_trips_not_three(setup, pki):
    """A TLS 1.3 handshake plus one request crosses the link twice each way: the
    ClientHello out and the server's flight back, then the request out and the
    response back. The relay sends the ClientHello right behind its CONNECT instead of
    waiting for the agent's 200, which would cost a third round trip (as `ssh -R`
    holds the first bytes until its channel is confirmed; Tools/bench figure 8). The
    fastest of five connections must take at least two round trips, or the delay is
    not in the path, and less than three."""
    relay, _ = setup
    rtt = 2 * DELAY_MS / 1000
    host = f"acme.{TENANT_DOMAIN}"
    took = []
    for _ in range(5):
        started = time.monotonic()
        with connect(pki, relay.port, host) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            status, _, _ = read_head(sock)
        took.append(time.monotonic() - started)
        assert status == 200
    fastest = min(took)
    assert 2 * rtt <= fastest < 3 * rtt, (
        f"new connections took {', '.join(f'{t * 1000:.0f}' for t in took)} ms over a "
        f"{2 * DELAY_MS} ms link: expected two round trips ({2 * rtt * 1000:.0f}–{3 * rtt * 1000:.0f} ms)")
