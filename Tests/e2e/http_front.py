"""Helpers for the http:// mode tests: tickets minted as the relay would (Ed25519
JWTs from the dev PKI's signing.key), an agent in http:// mode in front of
`http_front_app.py`, curl through the relay, a minimal WebSocket client."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import cluster
from cluster import TENANT_DOMAIN, RELAY_HOST
from http_front_app import encode_frame, read_frame

COOKIE = "__Host-h2t-session"
HERE = Path(__file__).resolve().parent


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(key_path: Path | None, user: str = "alice", host: str = f"acme.{TENANT_DOMAIN}",
         lifetime: float = 60, issued: float | None = None, jti: str | None = None,
         key: Ed25519PrivateKey | None = None) -> str:
    """A ticket as the relay's TicketIssuer makes it: EdDSA JWT, sub/aud/jti/iat/exp."""
    if key is None:
        key = load_pem_private_key(Path(key_path).read_bytes(), password=None)
    now = time.time() if issued is None else issued
    header = {"alg": "EdDSA", "typ": "JWT"}
    payload = {"sub": user, "aud": [host], "jti": jti or uuid.uuid4().hex,
               "iat": int(now), "exp": int(now + lifetime)}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


class App:
    """http_front_app.py as a process of its own."""

    def __init__(self, procs: cluster.Processes):
        self.proc = procs.start("http-front-app", [sys.executable, HERE / "http_front_app.py"])
        self.port = int(self.proc.wait_line(r"^http-front-app ready port=(\d+)$").group(1))

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def relay_url(relay) -> str:
    return f"https://{RELAY_HOST}:{relay.port}"


def start_agent(procs, relay, upstream: str, tenant: str = "acme", extra: list | None = None):
    pki = procs.pki
    return procs.agent(relay, upstream, tenant=tenant, extra=[
        "--relay-public-key", pki / "signing.pub", "--relay-url", relay_url(relay), *(extra or [])])


def start_front(procs):
    """The usual http:// set-up: the test app, a relay, and acme's agent in front of the app."""
    app = App(procs)
    relay = procs.relay()
    return relay, start_agent(procs, relay, app.upstream), app


def curl(pki, relay, path: str, *args, tenant: str = "acme", timeout: float = 30):
    """curl through the relay: status line and headers on stdout with -i, body after."""
    return cluster.curl(pki, relay, tenant, path, *args, timeout=timeout)


def head_and_body(out: bytes) -> tuple[int, dict, bytes]:
    """Parses curl -i output (last response only, after any 1xx)."""
    text = out
    while True:
        head, _, body = text.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1])
        if status >= 200 or not body:
            break
        text = body
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body


def sign_in(pki, relay, user: str = "alice", tenant: str = "acme") -> str:
    """Redeems a fresh ticket; returns the session cookie's value."""
    ticket = mint(pki / "signing.key", user=user, host=f"{tenant}.{TENANT_DOMAIN}")
    r = curl(pki, relay, f"/.h2tunnel/ticket?t={ticket}&r=/", "-i", tenant=tenant)
    status, headers, _ = head_and_body(r.stdout)
    assert status == 303, r.stdout[:500]
    cookie = next(c for c in headers["set-cookie"] if c.startswith(COOKIE + "="))
    return cookie.split(";")[0].split("=", 1)[1]


def tls_socket(pki, relay, tenant: str = "acme", alpn: list[str] | None = None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.set_alpn_protocols(alpn or ["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    return context.wrap_socket(raw, server_hostname=f"{tenant}.{TENANT_DOMAIN}")


class WebSocket:
    """A minimal RFC 6455 client over the tunnel (HTTP/1.1 Upgrade)."""

    def __init__(self, pki, relay, path: str, cookie: str | None, tenant: str = "acme"):
        self.sock = tls_socket(pki, relay, tenant)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {path} HTTP/1.1\r\nHost: {tenant}.{TENANT_DOMAIN}:{relay.port}\r\n"
                   f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n")
        if cookie:
            request += f"Cookie: {COOKIE}={cookie}\r\n"
        self.sock.sendall((request + "\r\n").encode())
        self.stream = self.sock.makefile("rb")
        self.status = int(self.stream.readline().split()[1])
        while self.stream.readline() not in (b"\r\n", b""):
            pass

    def send(self, opcode: int, payload: bytes):
        self.sock.sendall(encode_frame(opcode, payload, mask=True))

    def receive(self):
        return read_frame(self.stream)

    def close(self):
        try:
            self.send(8, b"\x03\xe8")
        except OSError:
            pass
        self.sock.close()


class H2WebSocket:
    """RFC 8441: a WebSocket on an HTTP/2 connection (extended CONNECT), as Chromium
    opens one when the server's SETTINGS carry ENABLE_CONNECT_PROTOCOL."""

    def __init__(self, pki, relay, path: str, cookie: str | None, tenant: str = "acme"):
        import h2.config
        import h2.connection
        import h2.events
        self.events = h2.events
        self.sock = tls_socket(pki, relay, tenant, alpn=["h2"])
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.connect_protocol = None
        while self.connect_protocol is None:
            for event in self._read():
                if isinstance(event, self.events.RemoteSettingsChanged):
                    setting = event.changed_settings.get(8)
                    self.connect_protocol = setting.new_value if setting else 0
        self.stream = self.conn.get_next_available_stream_id()
        headers = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                   (":path", path), (":authority", f"{tenant}.{TENANT_DOMAIN}:{relay.port}"),
                   ("sec-websocket-version", "13")]
        if cookie:
            headers.append(("cookie", f"{COOKIE}={cookie}"))
        self.conn.send_headers(self.stream, headers)
        self.sock.sendall(self.conn.data_to_send())
        self.buffer = b""
        self.status = None
        while self.status is None:
            for event in self._read():
                if isinstance(event, self.events.ResponseReceived):
                    self.status = int(dict(event.headers)[b":status"])
                elif isinstance(event, self.events.DataReceived):
                    self.buffer += event.data

    def _read(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        events = self.conn.receive_data(data)
        for event in events:
            if isinstance(event, self.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        self.sock.sendall(self.conn.data_to_send())
        return events

    def send(self, opcode: int, payload: bytes):
        frame = encode_frame(opcode, payload, mask=True)
        for start in range(0, len(frame), 16384):
            self.conn.send_data(self.stream, frame[start:start + 16384])
            self.sock.sendall(self.conn.data_to_send())

    def receive(self):
        import io
        while True:
            if len(self.buffer) >= 2:
                stream = io.BytesIO(self.buffer)
                frame = read_frame(stream)
                if frame is not None and stream.tell() <= len(self.buffer) and len(frame[1]) == _payload_length(self.buffer):
                    self.buffer = self.buffer[stream.tell():]
                    return frame
            for event in self._read():
                if isinstance(event, self.events.DataReceived):
                    self.buffer += event.data

    def close(self):
        self.sock.close()


def _payload_length(buffer: bytes) -> int:
    length = buffer[1] & 0x7F
    if length == 126 and len(buffer) >= 4:
        return int.from_bytes(buffer[2:4], "big")
    if length == 127 and len(buffer) >= 10:
        return int.from_bytes(buffer[2:10], "big")
    return length if length < 126 else -1
