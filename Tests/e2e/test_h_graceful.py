"""(h) SIGTERM is graceful: a download that is under way when the relay or the
agent is told to stop completes, and the process then exits 0."""

import hashlib
import time

import pytest

from tlsclient import connect, pattern_sha256, read_head

SIZE = 256 << 20
SIGNAL_AFTER = 16 << 20


def _download_with_signal(pki, relay, proc):
    host = "acme.tunnel.localhost"
    signalled_at = None
    with connect(pki, relay.port, host, timeout=30) as sock:
        sock.sendall(f"GET /bytes/{SIZE} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status, headers, body = read_head(sock)
        assert status == 200 and int(headers["content-length"]) == SIZE
        digest, n = hashlib.sha256(body), len(body)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        deadline = time.monotonic() + 120
        while n < SIZE and time.monotonic() < deadline:
            got = sock.recv_into(buf)
            if not got:
                break
            digest.update(view[:got])
            n += got
            if signalled_at is None and n >= SIGNAL_AFTER:
                proc.signal()
                signalled_at = n
    assert signalled_at is not None and signalled_at < SIZE
    assert n == SIZE, f"download ended at {n} of {SIZE} bytes after SIGTERM"
    assert digest.hexdigest() == pattern_sha256(SIZE)


@pytest.mark.parametrize("which", ["relay", "agent"])
def test_sigterm_during_download(procs, pki, demo_app, which):
    relay = procs.relay(extra=["--grace-period", "30"])
    agent = procs.agent(relay, demo_app.upstream, extra=["--grace-period", "30"])
    proc = relay.proc if which == "relay" else agent.proc
    _download_with_signal(pki, relay, proc)
    assert proc.wait_exit(40) == 0, proc.stderr_tail()


def test_spent_agent_connection_is_replaced(procs, pki, demo_app):
    """After --agent-connection-streams browsers the relay sends GOAWAY; the agent
    dials a fresh connection at once (make-before-break) and browsers never notice.
    This is what keeps a long-lived agent connection from running out of HTTP/2
    stream IDs (2^30 per connection, never reused)."""
    from cluster import curl, wait_until
    relay = procs.relay(extra=["--agent-connection-streams", "3"])
    procs.agent(relay, demo_app.upstream)
    first = relay.agents("acme")[0]["connection"]
    for i in range(7):
        r = curl(pki, relay, "acme", "/")
        assert r.returncode == 0 and r.stdout.startswith(b"Hello"), (i, r.stderr[-300:])
    ids = lambda: [a["connection"] for a in relay.agents("acme")]
    wait_until(lambda: ids() and first not in ids(), 5, "the first agent connection replaced")


def test_browsers_wait_for_the_replacement_connection(procs, pki, demo_app):
    """Browsers that arrive between the relay's GOAWAY on a spent agent connection and
    the agent's new connection wait for the new one instead of getting tenant-offline:
    4 × 15 concurrent curls across about a dozen replacements all succeed."""
    import threading
    from cluster import curl
    relay = procs.relay(extra=["--agent-connection-streams", "5"])
    procs.agent(relay, demo_app.upstream)
    failures = []

    def browse():
        for _ in range(15):
            r = curl(pki, relay, "acme", "/")
            if r.returncode != 0 or not r.stdout.startswith(b"Hello"):
                failures.append(r.stderr[-200:])

    threads = [threading.Thread(target=browse) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, (len(failures), failures[:2])
