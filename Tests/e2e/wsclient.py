"""A minimal RFC 6455 WebSocket client over any connected socket (plain or TLS),
so tests can speak WebSocket to demo-app directly or through the tunnel without
a third-party package. HTTP/1.1 Upgrade only (RFC 6455 §4.1)."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import struct

#: RFC 6455 §1.3: the GUID appended to the key for Sec-WebSocket-Accept.
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class WebSocket:
    def __init__(self, sock: socket.socket, leftover: bytes = b""):
        self.sock, self.buffer = sock, leftover

    @classmethod
    def connect(cls, sock: socket.socket, host: str, path: str = "/ws/echo",
                headers: dict | None = None) -> "WebSocket":
        """Sends the opening handshake and checks the 101 and its accept value."""
        key = base64.b64encode(os.urandom(16))
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\n"
                     f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed during the handshake: {data!r}")
            data += chunk
            if len(data) > 65536:
                raise ConnectionError("handshake response too large")
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise ConnectionError(f"no upgrade: {head!r}")
        fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        if fields.get("sec-websocket-accept") != expected:
            raise ConnectionError(f"bad Sec-WebSocket-Accept in {head!r}")
        return cls(sock, rest)

    def send(self, opcode: int, payload: bytes, fin: bool = True):
        """One client frame; clients always mask (RFC 6455 §5.3)."""
        mask = os.urandom(4)
        n = len(payload)
        header = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-frame")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def recv(self) -> tuple[int, bool, bytes]:
        """(opcode, fin, payload) of the next frame; servers never mask (§5.1)."""
        b0, b1 = self._read(2)
        if b1 & 0x80:
            raise ConnectionError("server frame is masked")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        return b0 & 0x0F, bool(b0 & 0x80), self._read(n)

    def close(self, code: int = 1000) -> tuple[int, bool, bytes]:
        """Sends a close and returns the peer's close frame."""
        self.send(CLOSE, struct.pack("!H", code))
        while True:
            frame = self.recv()
            if frame[0] == CLOSE:
                return frame
