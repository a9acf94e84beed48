"""A browser that ends with a TLS close_notify (RFC 8446 §6.1), not a TCP FIN.

In tcp:// mode the agent terminates the browser's TLS, so the close_notify
reaches it inside the stream. It must act on it as on a FIN: shut the app's
write side, answer with its own close_notify once the app is done, and end the
stream. Otherwise clients that wait for the answering close_notify (asyncio,
Go's crypto/tls, browsers on shutdown) hang until their own timeout and the
tunnel stays open.
"""

import socket
import ssl
import time

from cluster import TENANT_DOMAIN, wait_until
from tlsclient import BioClient, connect, read_head


def test_close_notify_is_answered_and_the_stream_ends(procs, pki, demo_app):
    relay = procs.relay()
    procs.agent(relay, demo_app.upstream)
    sock = connect(pki, relay.port, f"acme.{TENANT_DOMAIN}", timeout=10)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: acme\r\n\r\n")
    status, _, _ = read_head(sock)
    assert status == 200
    started = time.monotonic()
    raw = sock.unwrap()          # sends close_notify, waits for the agent's
    assert time.monotonic() - started < 5
    raw.close()
    wait_until(lambda: relay.agents("acme")[0]["openStreams"] == 0, 5, "the tunnel stream closed")


def test_close_notify_in_the_same_segment_as_the_request(procs, pki, demo_app):
    """The request and the close_notify behind it reach the agent in one read: the
    request is served and the close still ends the app's side, so the answering
    close_notify comes at once instead of after the client's own timeout."""
    relay = procs.relay()
    procs.agent(relay, demo_app.upstream)
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    client = BioClient(pki, sock, f"acme.{TENANT_DOMAIN}")
    client.handshake()
    client.obj.write(b"GET / HTTP/1.1\r\nHost: acme\r\n\r\n")
    try:
        client.obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(client.outgoing.read())
    started = time.monotonic()
    data = client.read_all()
    assert time.monotonic() - started < 5
    assert data.startswith(b"HTTP/1.1 200")
    sock.close()
    wait_until(lambda: relay.agents("acme")[0]["openStreams"] == 0, 5, "the tunnel stream closed")
