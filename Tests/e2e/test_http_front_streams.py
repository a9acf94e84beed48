"""http:// mode streams (issue 13, item 5; acceptance e): Server-Sent Events pass
event by event over HTTP/1.1 and HTTP/2, WebSocket echo over HTTP/1.1, and the
502 page when the app is down."""

from __future__ import annotations

import subprocess
import time

import pytest

import http_front as hf
from cluster import TENANT_DOMAIN, free_port
from http_front_app import EVENT_GAP


@pytest.fixture(scope="module")
def setup(module_procs):
    app = hf.App(module_procs)
    relay = module_procs.relay()
    hf.start_agent(module_procs, relay, app.upstream)
    return module_procs.pki, relay


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_sse_events_arrive_one_by_one(setup, version):
    pki, relay = setup
    cookie = hf.sign_in(pki, relay)
    host = f"acme.{TENANT_DOMAIN}"
    argv = ["curl", "-sSN", version, "--max-time", "20", "--cacert", str(pki / "ca.pem"),
            "--resolve", f"{host}:{relay.port}:127.0.0.1", "-H", f"Cookie: {hf.COOKIE}={cookie}",
            f"https://{host}:{relay.port}/sse"]
    arrivals = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE) as curl:
        for line in curl.stdout:
            if line.startswith(b"data: "):
                arrivals.append(time.monotonic())
        assert curl.wait(timeout=20) == 0
    assert len(arrivals) == 3
    # The app writes an event every EVENT_GAP s; held back and sent together they
    # would arrive within a few ms of each other.
    assert arrivals[1] - arrivals[0] > EVENT_GAP * 0.6, arrivals
    assert arrivals[2] - arrivals[1] > EVENT_GAP * 0.6, arrivals


def test_websocket_echo_over_http1(setup):
    pki, relay = setup
    cookie = hf.sign_in(pki, relay)
    ws = hf.WebSocket(pki, relay, "/ws", cookie)
    try:
        assert ws.status == 101
        ws.send(1, b"hello through the tunnel")
        assert ws.receive() == (1, b"hello through the tunnel")
        payload = bytes(range(256)) * 400
        ws.send(2, payload)
        assert ws.receive() == (2, payload)
    finally:
        ws.close()


def test_websocket_without_session_is_refused(setup):
    pki, relay = setup
    ws = hf.WebSocket(pki, relay, "/ws", None)
    try:
        # Closed at once with 1008 (policy violation); the app never sees it.
        assert ws.status == 101
        opcode, payload = ws.receive()
        assert opcode == 8
        assert payload[:2] == (1008).to_bytes(2, "big")
        assert b"sign in first" in payload
    finally:
        ws.close()


def test_app_down_gives_the_502_page(module_procs, setup):
    pki, relay = setup
    agent = hf.start_agent(module_procs, relay, f"http://127.0.0.1:{free_port()}", tenant="globex")
    cookie = hf.sign_in(pki, relay, tenant="globex")
    for version in ("--http1.1", "--http2"):
        out = hf.curl(pki, relay, "/headers", "-i", version, "-H", f"Cookie: {hf.COOKIE}={cookie}", tenant="globex")
        status, headers, body = hf.head_and_body(out.stdout)
        assert status == 502
        assert headers["content-type"] == ["text/html; charset=utf-8"]
        assert b"The application is not answering" in body
    assert agent.proc.wait_stderr(r"app not answering")


def test_websocket_echo_over_http2_rfc8441(setup):
    pki, relay = setup
    cookie = hf.sign_in(pki, relay)
    ws = hf.H2WebSocket(pki, relay, "/ws", cookie)
    try:
        assert ws.connect_protocol == 1, "SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)"
        assert ws.status == 200
        ws.send(1, b"hello over h2")
        assert ws.receive() == (1, b"hello over h2")
        payload = bytes(range(256)) * 400
        ws.send(2, payload)
        assert ws.receive() == (2, payload)
    finally:
        ws.close()


def test_websocket_over_http2_without_session_is_refused(setup):
    pki, relay = setup
    ws = hf.H2WebSocket(pki, relay, "/ws", None)
    try:
        assert ws.status == 401
    finally:
        ws.close()


def test_tcp_mode_app_down_gives_the_502_page(procs, pki):
    """tcp:// mode terminates the browser's TLS too: with the app down the browser gets
    the same page (then the connection closes) instead of a reset."""
    relay = procs.relay()
    agent = procs.agent(relay, f"tcp://127.0.0.1:{free_port()}")
    out = hf.curl(pki, relay, "/anything", "-i")
    assert out.returncode == 0, out.stderr
    status, headers, body = hf.head_and_body(out.stdout)
    assert status == 502
    assert headers["connection"] == ["close"]
    assert b"The application is not answering" in body
    assert agent.proc.wait_stderr(r"upstream unreachable")
