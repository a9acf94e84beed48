"""(d) A 1 GiB download by a slow reader, with the memory of relay and agent
bounded.

Bound stated: the highest VmRSS sampled every 50 ms during the download stays
below the idle VmRSS (measured after a warm-up request) + 64 MiB, for the
relay and for the agent each. Backpressure from end to end is what makes this
hold: without it the slow reader makes one of them buffer up to the whole GiB.
"""

import hashlib
import threading
import time

import pytest

from tlsclient import connect, pattern_sha256, read_head

SIZE = 1 << 30
BOUND_KIB = 64 * 1024
PAUSE_EVERY = 64 << 20
PAUSE = 0.3


@pytest.fixture(scope="module")
def setup(module_procs, demo_app):
    relay = module_procs.relay()
    agent = module_procs.agent(relay, demo_app.upstream)
    return relay, agent


class RssSampler(threading.Thread):
    def __init__(self, procs):
        super().__init__(daemon=True)
        self.procs = procs
        self.peak = {p.name: 0 for p in procs}
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.05):
            for p in self.procs:
                self.peak[p.name] = max(self.peak[p.name], p.rss_kib())


def test_slow_reader_gigabyte_bounded_memory(setup, pki):
    relay, agent = setup
    host = "acme.tunnel.localhost"
    # Warm up so that TLS contexts, buffers and thread pools count as idle.
    with connect(pki, relay.port, host) as sock:
        sock.sendall(f"GET /bytes/{4 << 20} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        read_head(sock)
        while sock.recv(1 << 20):
            pass
    idle = {relay.proc.name: relay.proc.rss_kib(), agent.proc.name: agent.proc.rss_kib()}
    sampler = RssSampler([relay.proc, agent.proc])
    sampler.start()
    started = time.monotonic()
    try:
        with connect(pki, relay.port, host, timeout=30) as sock:
            sock.sendall(f"GET /bytes/{SIZE} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            status, headers, body = read_head(sock)
            assert status == 200 and int(headers["content-length"]) == SIZE
            digest, n, next_pause = hashlib.sha256(body), len(body), PAUSE_EVERY
            buf = bytearray(1 << 20)
            view = memoryview(buf)
            while n < SIZE:
                got = sock.recv_into(buf)
                if not got:
                    break
                digest.update(view[:got])
                n += got
                if n >= next_pause:
                    next_pause += PAUSE_EVERY
                    time.sleep(PAUSE)  # the slow reader: lets the pipeline fill up
                assert time.monotonic() - started < 170, f"too slow: {n} bytes so far"
    finally:
        sampler.stopped.set()
        sampler.join()
    assert n == SIZE
    assert digest.hexdigest() == pattern_sha256(SIZE)
    for name, peak in sampler.peak.items():
        assert peak < idle[name] + BOUND_KIB, \
            f"{name}: peak VmRSS {peak} KiB, idle {idle[name]} KiB, bound +{BOUND_KIB} KiB"
