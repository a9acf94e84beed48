"""http:// mode: an app that answers an upload before it read the whole body.

The agent hands the browser's request body to async-http-client, which sends it to the
app from a task of its own. When the app answered first (here `http_front_app.py`'s
404 to a PUT it does not read; nginx's 413, any early error), that task was still
waiting for the browser's next bytes when Hummingbird went on to read the connection's
next request through the same iterator: NIO trapped ("only allow a single Iterator"),
and the agent died with every tunnel of the company. The same race, with the body task
merely late, killed the agent in `Tools/bench --wan` (20 browsers × PUTs, 1 Gbit/s + 80 ms).

Now the app's answer reaches the browser, the rest of the body is read and dropped, and
the same connection (or, over HTTP/2, the same connection's next stream) serves the
next request."""

from __future__ import annotations

import json

import pytest

import http_front as hf
from cluster import TENANT_DOMAIN

HOST = f"acme.{TENANT_DOMAIN}"
SIZE = 256 << 10
FIRST = 1024


@pytest.fixture(scope="module")
def setup(module_procs):
    relay, agent, _ = hf.start_front(module_procs)
    pki = module_procs.pki
    return pki, relay, agent, hf.sign_in(pki, relay)


def read_response(sock) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response head: {data[:200]!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(v) for n, _, v in (line.partition(":") for line in lines[1:]) if n.strip().lower() == "content-length")
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in a response body"
        body += chunk
    return int(lines[0].split()[1]), body[:length]


def test_http1_connection_goes_on_after_an_early_answer(setup):
    pki, relay, agent, cookie = setup
    sock = hf.tls_socket(pki, relay)
    try:
        sock.sendall((f"PUT /not-read HTTP/1.1\r\nHost: {HOST}\r\nCookie: {hf.COOKIE}={cookie}\r\n"
                      f"Content-Length: {SIZE}\r\n\r\n").encode() + b"x" * FIRST)
        status, _ = read_response(sock)
        assert status == 404
        # The browser sends the rest of its body, then its next request.
        sock.sendall(b"y" * (SIZE - FIRST))
        sock.sendall(f"GET /headers HTTP/1.1\r\nHost: {HOST}\r\nCookie: {hf.COOKIE}={cookie}\r\n\r\n".encode())
        status, body = read_response(sock)
        assert status == 200, body[:200]
        assert json.loads(body)["path"] == "/headers"
    finally:
        sock.close()
    assert agent.proc.alive(), agent.proc.stderr_tail()


def test_http2_connection_goes_on_after_an_early_answer(setup):
    import h2.config
    import h2.connection
    import h2.events

    pki, relay, agent, cookie = setup
    sock = hf.tls_socket(pki, relay, alpn=["h2"])
    try:
        assert sock.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        statuses: dict[int, int] = {}
        bodies: dict[int, bytes] = {}
        ended: set[int] = set()

        def pump_until(done):
            while not done():
                data = sock.recv(65536)
                assert data, "connection closed"
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        statuses[event.stream_id] = int(dict(event.headers)[b":status"])
                    elif isinstance(event, h2.events.DataReceived):
                        bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        ended.add(event.stream_id)
                    elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                        raise AssertionError(f"unexpected {event}")
                sock.sendall(conn.data_to_send())

        def headers(method, path, extra=()):
            return [(":method", method), (":scheme", "https"), (":path", path),
                    (":authority", f"{HOST}:{relay.port}"), ("cookie", f"{hf.COOKIE}={cookie}"), *extra]

        upload = conn.get_next_available_stream_id()
        conn.send_headers(upload, headers("PUT", "/not-read", [("content-length", str(SIZE))]))
        conn.send_data(upload, b"x" * FIRST)
        sock.sendall(conn.data_to_send())
        pump_until(lambda: upload in ended)
        assert statuses[upload] == 404
        # The rest of the body, as the flow-control windows allow.
        left = SIZE - FIRST
        while left:
            room = min(left, conn.local_flow_control_window(upload), conn.max_outbound_frame_size)
            if room == 0:
                pump_until(lambda: conn.local_flow_control_window(upload) > 0)
                continue
            left -= room
            conn.send_data(upload, b"y" * room, end_stream=left == 0)
            sock.sendall(conn.data_to_send())
        after = conn.get_next_available_stream_id()
        conn.send_headers(after, headers("GET", "/headers"), end_stream=True)
        sock.sendall(conn.data_to_send())
        pump_until(lambda: after in ended)
        assert statuses[after] == 200, bodies.get(after, b"")[:200]
        assert json.loads(bodies[after])["path"] == "/headers"
    finally:
        sock.close()
    assert agent.proc.alive(), agent.proc.stderr_tail()
