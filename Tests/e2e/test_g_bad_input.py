"""(g) Bad input on the public port has a defined outcome and does not disturb
a good browser that is using the relay at the same time."""

import os
import socket
import ssl
import threading
import time

import pytest

from cluster import TENANT_DOMAIN, curl
from tlsclient import (TLS_ALERT, TLS_HANDSHAKE, UNRECOGNIZED_NAME, BioClient,
                       alert_description, client_hello, read_until_closed)

HELLO = b"Hello from the demo app"


@pytest.fixture(scope="module")
def relay(module_procs, demo_app):
    relay = module_procs.relay(extra=["--client-hello-timeout", "1"])
    module_procs.agent(relay, demo_app.upstream)
    return relay


@pytest.fixture
def good_traffic(relay, pki):
    """curl in a loop for the duration of the test; every one must succeed."""
    stop, results = threading.Event(), []

    def loop():
        while not stop.is_set():
            r = curl(pki, relay, "acme", "/", timeout=15)
            results.append((r.returncode, r.stdout[:len(HELLO)], r.stderr[-300:]))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    # At least one curl must overlap the bad input's end as well.
    seen = len(results)
    deadline = time.monotonic() + 20
    while len(results) <= seen and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    stop.set()
    thread.join(20)
    assert len(results) > seen, "no good request completed after the bad input"
    bad = [r for r in results if r[0] != 0 or r[1] != HELLO]
    assert not bad, f"{len(bad)} of {len(results)} good requests failed: {bad[0]}"


def _raw(relay) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _send_and_read(relay, data: bytes, timeout: float = 8):
    with _raw(relay) as sock:
        sock.sendall(data)
        return read_until_closed(sock, timeout)


def test_not_tls_is_closed_without_reply(relay, good_traffic):
    data, outcome = _send_and_read(relay, b"GET / HTTP/1.1\r\nHost: acme.tunnel.localhost\r\n\r\n")
    assert data == b"" and outcome in ("eof", "reset"), (data[:100], outcome)
    relay.proc.wait_stderr(r"browser refused\b.*\breason=not-tls\b")


def test_no_sni_gets_alert_or_close(relay, good_traffic):
    data, outcome = _send_and_read(relay, client_hello(None))
    assert outcome in ("eof", "reset"), outcome
    assert data == b"" or data[0] == TLS_ALERT, data[:20].hex()
    relay.proc.wait_stderr(r"browser refused\b.*\breason=no-sni\b")


@pytest.mark.parametrize("sni", ["www.example.com", "acme.other.localhost"])
def test_unknown_sni_gets_unrecognized_name(relay, good_traffic, sni):
    data, outcome = _send_and_read(relay, client_hello(sni))
    assert alert_description(data) == UNRECOGNIZED_NAME, data[:20].hex()
    assert outcome in ("eof", "reset"), outcome
    relay.proc.wait_stderr(r"browser refused\b.*\breason=unknown-host\b")


def test_tenant_offline_gets_alert(relay, good_traffic):
    data, outcome = _send_and_read(relay, client_hello("globex.tunnel.localhost"))
    assert data[:1] == bytes([TLS_ALERT]) and alert_description(data) is not None, data[:20].hex()
    assert outcome in ("eof", "reset"), outcome
    relay.proc.wait_stderr(r"browser refused\b.*\breason=tenant-offline\b")


def test_client_hello_in_one_byte_segments(relay, good_traffic, pki):
    host = "acme.tunnel.localhost"
    with _raw(relay) as sock:
        client = BioClient(pki, sock, host)
        hello = client.first_flight()
        assert hello[0] == TLS_HANDSHAKE
        for i in range(len(hello)):
            sock.send(hello[i:i + 1])
            time.sleep(0.0002)  # pacing so segments are not coalesced (well inside the 1 s timeout)
        client.handshake()
        client.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = client.read_all()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert HELLO in response


def test_oversized_client_hello_is_closed(relay, good_traffic):
    """A record header announcing 20 KiB (> 16 KiB, the TLS record limit) then garbage."""
    garbage = bytes([TLS_HANDSHAKE, 3, 1]) + (20 * 1024).to_bytes(2, "big") + os.urandom(20 * 1024)
    data, outcome = _send_and_read(relay, garbage)
    assert outcome in ("eof", "reset"), outcome
    assert data == b"" or data[0] == TLS_ALERT, data[:20].hex()


def test_garbage_client_hello_is_closed(relay, good_traffic):
    garbage = bytes([TLS_HANDSHAKE, 3, 1, 0, 64]) + os.urandom(64)
    data, outcome = _send_and_read(relay, garbage)
    assert outcome in ("eof", "reset"), outcome
    assert data == b"" or data[0] == TLS_ALERT, data[:20].hex()
    relay.proc.wait_stderr(r"browser refused\b.*\breason=bad-client-hello\b")


def test_silent_client_closed_after_timeout(relay, good_traffic):
    with _raw(relay) as sock:
        started = time.monotonic()
        data, outcome = read_until_closed(sock, 10)
        elapsed = time.monotonic() - started
    assert data == b"" and outcome in ("eof", "reset"), outcome
    assert 0.5 <= elapsed <= 5, f"closed after {elapsed:.2f}s with --client-hello-timeout 1"
    relay.proc.wait_stderr(r"browser refused\b.*\breason=timeout\b")


def test_corrupt_record_after_the_handshake_gets_an_alert(relay, good_traffic, pki):
    """tcp:// mode: a record that fails authentication after the handshake gets the
    agent's bad_record_mac alert (RFC 8446 §5.2) before the close, not a bare reset."""
    with _raw(relay) as sock:
        client = BioClient(pki, sock, f"acme.{TENANT_DOMAIN}")
        client.handshake()
        sock.sendall(b"\x17\x03\x03\x00\x20" + os.urandom(32))
        with pytest.raises(ssl.SSLError, match="(?i)bad.record.mac"):
            client.read_all()
