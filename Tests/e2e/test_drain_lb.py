"""Issue 15, acceptance (c) and the SIGTERM half of (b): a relay restart behind a load
balancer (Debian's HAProxy, TCP mode, plain and with PROXY v2) while 20 browsers download.

At SIGTERM the old relay says 503 on /readyz at once and for the rest of its life (its
admin listener stays up), closes its public port (so a new relay binds it behind the same
HAProxy) and sends GOAWAY to the agent, which dials a new connection through HAProxy
first (make-before-break: both are open at once) and takes new browsers there, while the
20 downloads in flight finish on the old one within the grace period, every byte right
(SHA-256). The old relay then exits 0."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.request

import pytest

from cluster import TENANT_DOMAIN, free_port, wait_until
from haproxy import start_haproxy
from tlsclient import connect, pattern_sha256, read_head

HOST = f"acme.{TENANT_DOMAIN}"
BROWSERS = 20
SIZE = 16 << 20
#: Bytes each browser has before the SIGTERM: every transfer is in flight.
STARTED = 1 << 20
GRACE = 30
#: The agent's --reconnect-max in cluster.py: the longest it waits between dials.
BACKOFF_CAP = 1.0


class Download(threading.Thread):
    """One browser through the load balancer: reads STARTED bytes, waits for `go`, reads
    the rest. Never wrong bytes: whatever arrived must be a prefix of the pattern."""

    def __init__(self, pki, port: int, go: threading.Event):
        super().__init__(daemon=True)
        self.pki, self.port, self.go = pki, port, go
        self.started = threading.Event()
        self.received = 0
        self.sha256 = ""
        self.error: BaseException | None = None

    def run(self):
        digest = hashlib.sha256()
        try:
            with connect(self.pki, self.port, HOST, timeout=60) as sock:
                sock.sendall(f"GET /bytes/{SIZE} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
                status, headers, body = read_head(sock)
                assert status == 200 and int(headers["content-length"]) == SIZE, (status, headers)
                digest.update(body)
                self.received = len(body)
                buf = bytearray(1 << 18)
                while self.received < SIZE:
                    if self.received >= STARTED and not self.started.is_set():
                        self.started.set()
                        self.go.wait(120)
                    got = sock.recv_into(buf, min(len(buf), SIZE - self.received))
                    if not got:
                        break
                    digest.update(memoryview(buf)[:got])
                    self.received += got
        except BaseException as error:  # noqa: BLE001 -- a clean failure is allowed, recorded
            self.error = error
        finally:
            self.started.set()
            self.sha256 = digest.hexdigest()


def readyz(admin_port: int) -> int | None:
    """The old relay's /readyz status; None once its admin listener is gone."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.mark.parametrize("proxy", [None, "v2"])
def test_relay_restart_behind_haproxy(procs, pki, demo_app, tmp_path, proxy):
    """`proxy`: plain TCP, or HAProxy's PROXY v2 header, which the relays trust from it."""
    relay_port = free_port()
    extra = ["--grace-period", str(GRACE), *(["--proxy-protocol-from", "127.0.0.1/32"] if proxy else [])]
    old = procs.relay(port=relay_port, extra=extra)
    lb = start_haproxy(procs, tmp_path / "haproxy", relay_port, proxy=proxy)
    agent = procs.agent(old, demo_app.upstream, relay_port=lb.port)
    assert readyz(old.admin_port) == 200

    go = threading.Event()
    downloads = [Download(pki, lb.port, go) for _ in range(BROWSERS)]
    for d in downloads:
        d.start()
    for d in downloads:
        assert d.started.wait(60)
    assert not [d.error for d in downloads if d.error], [repr(d.error) for d in downloads if d.error]
    assert old.agent_total("openStreams", "acme") == BROWSERS

    # From the SIGTERM on, /readyz says 503 on every poll until the process is gone.
    polls: list[int] = []
    stop_polling = threading.Event()

    def poll():
        while not stop_polling.is_set():
            status = readyz(old.admin_port)
            if status is None and not old.proc.alive():
                return
            if status is not None:
                polls.append(status)
            stop_polling.wait(0.05)

    signalled = time.monotonic()
    old.proc.signal()
    # The signal reaches the relay through a pipe and its service group: milliseconds.
    wait_until(lambda: readyz(old.admin_port) == 503, 5, "/readyz 503 after SIGTERM")
    flipped = time.monotonic() - signalled
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()

    # The public port is closed at once: a new relay takes it behind the same HAProxy.
    old.proc.wait_stderr(r"relay draining", timeout=10)
    new = procs.relay(port=relay_port, extra=extra)
    new_ready = time.monotonic()
    # Make-before-break: the agent is registered at the new relay while the old
    # connection still carries all 20 downloads.
    new.wait_agent("acme", timeout=20, proc=agent.proc)
    reconnected = time.monotonic() - new_ready
    assert reconnected <= BACKOFF_CAP + 5, f"agent took {reconnected:.1f}s to reach the new relay"
    assert old.agent_total("openStreams", "acme") == BROWSERS
    assert readyz(old.admin_port) == 503

    # A new browser through the load balancer is served (by the new relay).
    with connect(pki, lb.port, HOST) as sock:
        sock.sendall(f"GET /bytes/{1 << 20} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        status, _, body = read_head(sock)
        while chunk := sock.recv(1 << 16):
            body += chunk
    assert status == 200 and hashlib.sha256(body).hexdigest() == pattern_sha256(1 << 20)

    go.set()
    for d in downloads:
        d.join(GRACE + 30)
    code = old.proc.wait_exit(GRACE + 15)
    exited_after = time.monotonic() - signalled
    stop_polling.set()
    poller.join(10)

    wrong = [d for d in downloads if d.sha256 != pattern_sha256(d.received)]
    assert not wrong, f"{len(wrong)} transfers got wrong bytes"
    failed = [(d.received, repr(d.error)) for d in downloads if d.received < SIZE or d.error]
    # The grace period is ample for 20 × 16 MiB on loopback: every transfer finishes.
    assert not failed, f"{len(failed)} of {BROWSERS} transfers did not finish: {failed[:3]}"
    assert code == 0, old.proc.stderr_tail()
    assert exited_after <= GRACE + 10, f"old relay exited {exited_after:.1f}s after SIGTERM"
    assert polls and set(polls) == {503}, f"/readyz after SIGTERM: {sorted(set(polls))}"
    print(f"/readyz 503 {flipped * 1000:.0f} ms after SIGTERM; agent at the new relay "
          f"{reconnected:.2f}s after it was ready; old relay exited {exited_after:.1f}s after SIGTERM")

    # The agent keeps serving through HAProxy after the old relay is gone.
    with connect(pki, lb.port, HOST) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        status, _, _ = read_head(sock)
    assert status == 200
    assert agent.proc.alive()
