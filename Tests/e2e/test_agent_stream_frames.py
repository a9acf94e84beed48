"""What the agent puts on the wire when a tunnel ends cleanly, seen frame by frame.

A stand-in relay (the `h2` package over mTLS, the HTTP/2 client as the real
relay is) takes the agent's one connection and opens tunnels on it. The app
answers, then ends its output (FIN) before the browser has ended its own;
when the browser's END_STREAM follows, the agent shuts the app socket's output,
and the socket, both halves now done, closes at once. That is a clean end: the
app must see a FIN, not a reset, and no RST_STREAM may follow the two
END_STREAMs. Such an RST is harmless to the real relay (a closed stream), so
only a peer that records every frame shows it.
"""

from __future__ import annotations

import socket
import ssl
import struct

import h2.config
import h2.connection
import h2.events

from cluster import TENANT_DOMAIN
from upstreams import ScriptedServer

RST_STREAM = 0x3


class StandInRelay:
    """The HTTP/2 client side of one agent connection, recording every frame's
    (type, stream) as it arrives."""

    def __init__(self, pki):
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki / "relay.pem", pki / "relay.key")
        tls.load_verify_locations(pki / "agent-ca.pem")
        tls.verify_mode = ssl.CERT_REQUIRED
        tls.set_alpn_protocols(["h2"])
        self.tls = tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frames: list[tuple[int, int]] = []
        self.body: dict[int, bytes] = {}
        self._raw = b""

    def accept(self, timeout: float = 20):
        self.listener.settimeout(timeout)
        conn, _ = self.listener.accept()
        self.sock = self.tls.wrap_socket(conn, server_side=True)
        self.sock.settimeout(timeout)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self._send()
        self.wait_for(lambda e: isinstance(e, h2.events.RemoteSettingsChanged))

    def _send(self):
        self.sock.sendall(self.h2.data_to_send())

    def _record(self, data: bytes):
        self._raw += data
        while len(self._raw) >= 9:
            length, kind, _flags, stream = struct.unpack(">I B B I", b"\0" + self._raw[:9])
            if len(self._raw) < 9 + length:
                return
            self.frames.append((kind, stream & 0x7FFF_FFFF))
            self._raw = self._raw[9 + length:]

    def wait_for(self, predicate, what: str = "an event"):
        """Reads until an h2 event matches; returns it. Data is acknowledged as read."""
        while True:
            data = self.sock.recv(65536)
            assert data, f"the agent closed its connection while we waited for {what}"
            self._record(data)
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    self.body[event.stream_id] = self.body.get(event.stream_id, b"") + event.data
                if predicate(event):
                    self._send()
                    return event
            self._send()

    def tunnel_ending_after_the_app(self, line: bytes) -> int:
        """Opens a tunnel, sends `line`, waits for the app's answer and END_STREAM,
        then ends the browser's side too. Returns the stream id."""
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, [(":method", "CONNECT"), (":protocol", "h2tunnel-tls"),
                                      (":scheme", "https"), (":path", "/"),
                                      (":authority", f"acme.{TENANT_DOMAIN}:443")])
        self.h2.send_data(stream, line)
        self._send()
        self.wait_for(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == stream,
                      f"the END_STREAM of stream {stream}")
        self.h2.end_stream(stream)
        self._send()
        return stream

    def round_trip(self):
        """A PING and its ACK: every frame the agent queued before it is in."""
        self.h2.ping(b"syncsync")
        self._send()
        self.wait_for(lambda e: isinstance(e, h2.events.PingAckReceived), "a PING ACK")

    def close(self):
        for closing in (getattr(self, "sock", None), self.listener):
            if closing is not None:
                closing.close()


def test_a_clean_end_sends_no_reset(procs, pki):
    app = ScriptedServer()
    relay = StandInRelay(pki)
    try:
        # tls:// passes bytes through untouched, so the app may speak plain lines.
        procs.agent(None, f"tls://127.0.0.1:{app.port}", relay_port=relay.port, wait=False)
        relay.accept()
        first = relay.tunnel_ending_after_the_app(b"ENDFIRST\n")
        assert relay.body[first] == b"ended first\n"
        assert app.events.get(timeout=15) == ("endfirst", "eof")
        # A second whole tunnel and a PING after it: the agent has long handled the
        # first one's end, so an RST for it would be in by now.
        second = relay.tunnel_ending_after_the_app(b"ENDFIRST\n")
        assert app.events.get(timeout=15) == ("endfirst", "eof")
        relay.round_trip()
        resets = [stream for kind, stream in relay.frames if kind == RST_STREAM]
        assert resets == [], f"RST_STREAM after a clean end on streams {resets} (tunnels {first}, {second})"
    finally:
        relay.close()
        app.close()
