"""(e) Byte semantics of a tunnel: TCP FIN travels as END_STREAM (half-close),
TCP RST as RST_STREAM, both ways, in tcp:// and tls:// modes.

The client half-closes with a raw TCP shutdown(SHUT_WR) under its TLS layer
(no close_notify), like a browser whose socket is shut down for writing; the
upstream answers only after it has seen that EOF.
"""

import hashlib
import os
import queue
import socket
import ssl

import pytest

from tlsclient import connect, read_until_closed
from upstreams import REPLY_TAIL, ScriptedServer, linger_zero


@pytest.fixture(scope="module")
def servers(module_procs, pki):
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki / "tenants/globex/tenant.pem", pki / "tenants/globex/tenant.key")
    tcp_server, tls_server = ScriptedServer(), ScriptedServer(tls)
    relay = module_procs.relay()
    module_procs.agent(relay, tcp_server.upstream, "acme")
    module_procs.agent(relay, tls_server.upstream, "globex")
    yield relay, {"tcp": ("acme.tunnel.localhost", tcp_server),
                  "tls": ("globex.tunnel.localhost", tls_server)}
    tcp_server.close()
    tls_server.close()


@pytest.fixture(params=["tcp", "tls"])
def mode(request, servers):
    relay, by_mode = servers
    host, server = by_mode[request.param]
    while not server.events.empty():  # events of earlier tests
        server.events.get_nowait()
    server.waiting.clear()
    return relay, host, server


def _event(server, timeout=15):
    try:
        return server.events.get(timeout=timeout)
    except queue.Empty:
        pytest.fail("the upstream reported nothing in time")


def test_half_close_response_after_eof(mode, pki):
    relay, host, server = mode
    payload = os.urandom(300_000)
    with connect(pki, relay.port, host, timeout=20) as sock:
        sock.sendall(b"HALFCLOSE\n" + payload)
        socket.socket.shutdown(sock, socket.SHUT_WR)  # raw FIN, the SSL object survives
        data, outcome = read_until_closed(sock, 20, half_closed=True)
    assert _event(server) == ("halfclose", len(payload))
    assert outcome == "eof", f"connection ended by {outcome} after {len(data)} bytes"
    expected = f"got {len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode() + REPLY_TAIL
    # Completeness is the check here: after our own FIN the kernel cannot
    # tell a late reset from a FIN (see tlsclient.eof_kind).
    assert len(data) == len(expected)
    assert data == expected


def test_client_reset_reaches_upstream_as_reset(mode, pki):
    relay, host, server = mode
    sock = connect(pki, relay.port, host, timeout=20)
    try:
        sock.sendall(b"WAIT\n")
        assert server.waiting.wait(15), f"upstream never got the command: {_peek(server)}"
    finally:
        linger_zero(sock)
        sock.close()  # RST, no close_notify
    event = _event(server)
    # A clean FIN here would mean the tunnel turned the browser's reset into a
    # normal end of stream, which the contract forbids (RST -> RST_STREAM).
    assert event == ("wait", "reset"), event


def test_upstream_reset_reaches_client_as_reset(mode, pki):
    relay, host, server = mode
    with connect(pki, relay.port, host, timeout=20) as sock:
        sock.sendall(b"RESET\n")
        data, outcome = read_until_closed(sock, 15)
    assert _event(server) == ("reset", None)
    assert data == b""
    assert outcome == "reset", f"client saw {outcome}, not a reset"


def test_client_gone_after_half_close_stops_the_upstream(mode, pki):
    """A browser that half-closed and then vanished (its socket closed with the
    response still coming) must not leave the upstream sending into nothing: the
    relay resets the stream when it can no longer write to the browser."""
    relay, host, server = mode
    sock = connect(pki, relay.port, host, timeout=20)
    try:
        sock.sendall(b"FLOOD\n")
        socket.socket.shutdown(sock, socket.SHUT_WR)  # raw FIN: the browser's half-close
        assert server.waiting.wait(15), f"upstream never got the command: {_peek(server)}"
        assert sock.recv(65536)                        # the flood is coming through
    finally:
        sock.close()  # unread data: the kernel answers further bytes with RST
    event = _event(server, timeout=10)
    assert event[0] == "flood", event


def _peek(server):
    try:
        return server.events.get_nowait()
    except queue.Empty:
        return "no event"


def test_refused_client_hello_resets_the_new_upstream(servers, pki):
    """tcp:// mode: the agent's TLS refuses the ClientHello (no cipher suite it can
    use with its ECDSA key) while the upstream connection is still being set up;
    that upstream is reset as soon as it connects, not left open until the
    browser goes away."""
    relay, by_mode = servers
    host, server = by_mode["tcp"]
    while not server.events.empty():
        server.events.get_nowait()
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES128-SHA256")   # RSA only
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        with pytest.raises(ssl.SSLError, match="(?i)handshake.failure"):
            while True:
                try:
                    tls.do_handshake()
                except ssl.SSLWantReadError:
                    sock.sendall(outgoing.read())
                    incoming.write(sock.recv(65536))
        # The browser's socket stays open: only the fix closes the upstream now.
        kind, detail = _event(server, timeout=5)
        assert kind == "error" and ("Reset" in detail or "EOF" in detail), detail
    finally:
        sock.close()
