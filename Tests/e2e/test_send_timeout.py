"""A socket that takes none of its tunnel's output for `--send-timeout` seconds
gets its tunnel reset, at the relay (a browser that stopped reading a
download) and at the agent (an app that stopped reading an upload): its queued
bytes are not held for good. A reader that is slower than the tunnel but keeps
reading keeps its tunnel, even though the relay's queue for it never empties.
"""

import threading
import time

import pytest

from cluster import wait_until
from tlsclient import connect, pattern_chunk, read_head, read_until_closed
from upstreams import ScriptedServer


def agent_log(setup):
    return setup[2].proc.stderr_text()


def open_streams(relay, tenant):
    return relay.agent_total("openStreams", tenant)


@pytest.fixture(scope="module")
def setup(module_procs, demo_app):
    relay = module_procs.relay(extra=["--send-timeout", "1"])
    module_procs.agent(relay, demo_app.upstream, "acme")
    app = ScriptedServer()
    agent = module_procs.agent(relay, app.upstream, "globex", extra=["--send-timeout", "1"])
    yield relay, app, agent
    app.close()


def test_browser_that_stops_reading_is_reset(setup, pki):
    relay, _, _ = setup
    host = "acme.tunnel.localhost"
    before = open_streams(relay, "acme")
    with connect(pki, relay.port, host) as sock:
        sock.sendall(f"GET /bytes/{1 << 30} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, _, body = read_head(sock)
        assert status == 200
        # ... and reads no more: the relay's queue for it fills and stays full.
        wait_until(lambda: open_streams(relay, "acme") == before, 15, "the stalled tunnel reset")
        data, outcome = read_until_closed(sock, 15)
    assert outcome == "reset", outcome
    got = body + data
    assert len(got) < 1 << 30 and got == pattern_chunk(0, len(got))
    assert "tunnel reset: browser stopped reading" in relay.proc.stderr_text()


def test_slow_reader_that_keeps_reading_is_not_reset(setup, pki):
    """1 MiB/s for 4 s against a 1 s timeout: the queue at the relay stays full the
    whole time (the tunnel is far faster), but writes keep completing."""
    relay, _, _ = setup
    host = "acme.tunnel.localhost"
    with connect(pki, relay.port, host) as sock:
        sock.sendall(f"GET /bytes/{1 << 30} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, _, got = read_head(sock)
        assert status == 200
        started = time.monotonic()
        while time.monotonic() - started < 4:
            chunk = sock.recv(64 << 10)
            assert chunk, f"the tunnel closed after {len(got)} bytes"
            got += chunk
            time.sleep(len(chunk) / (1 << 20))     # the pace of a 1 MiB/s reader
    assert len(got) >= 3 << 20 and got == pattern_chunk(0, len(got))


def test_app_that_stops_reading_an_upload_is_reset(setup, pki):
    relay, app, _ = setup
    with connect(pki, relay.port, "globex.tunnel.localhost") as sock:
        sock.sendall(b"IGNORE\n")
        assert app.waiting.wait(10)
        outcome = []

        def upload():
            try:
                while True:
                    sock.sendall(b"u" * 65536)
            except OSError as exc:   # the reset reaches the browser
                outcome.append(type(exc).__name__)

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        sender.join(15)
    # A RST under a TLS write reads as one of these, depending on where it lands.
    assert outcome and outcome[0] in ("ConnectionResetError", "BrokenPipeError", "SSLEOFError"), outcome
    assert "tunnel reset: app stopped reading" in agent_log(setup)
