"""Hardening 5 (part): a second SIGTERM or SIGINT ends relay or agent at once.

The first signal starts a graceful drain that may wait the whole grace period for
an open tunnel; an operator (or systemd) who signals again does not want to wait.
"""

import signal

import pytest

from tlsclient import connect, read_head


@pytest.mark.parametrize("which,sig", [("relay", signal.SIGTERM), ("agent", signal.SIGINT)])
def test_second_signal_exits_without_waiting(procs, pki, demo_app, which, sig):
    relay = procs.relay(extra=["--grace-period", "300"])
    agent = procs.agent(relay, demo_app.upstream, extra=["--grace-period", "300"])
    proc = relay.proc if which == "relay" else agent.proc
    host = "acme.tunnel.localhost"
    # An idle keep-alive tunnel: the graceful drain waits for it.
    with connect(pki, relay.port, host, timeout=30) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, _, _ = read_head(sock)
        assert status == 200
        proc.signal(sig)
        proc.wait_stderr(r"draining", timeout=10)
        assert proc.alive(), "the first signal must drain, not exit, while a tunnel is open"
        proc.signal(sig)
        # Well inside the 300 s grace period the drain would otherwise wait.
        assert proc.wait_exit(20) == 1
        assert "exiting now" in proc.stderr_text()


def test_sigterm_right_after_ready_is_never_lost(procs):
    """libdispatch's signal sources could drop a SIGTERM that landed on another thread
    (the relay then ran on for good, with no "draining" line); signals now go through a
    sigaction handler and a pipe. 30 relays, each told to stop as soon as it is ready."""
    for i in range(30):
        relay = procs.relay()
        relay.proc.signal()
        assert relay.proc.wait_exit(15) == 0, f"relay {i} ignored SIGTERM\n{relay.proc.stderr_tail()}"
        assert "relay stopped" in relay.proc.stderr_text()
