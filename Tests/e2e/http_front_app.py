"""An HTTP/1.1 app for the http:// mode tests, run as its own process
(`python3 http_front_app.py`, prints `http-front-app ready port=N`):

    GET  /headers      JSON of the request headers as received (lower-case names)
    GET  /bytes/N      N bytes of pattern (byte i is i % 251), Content-Length, streamed
    PUT|POST /sha256   reads the body (Content-Length or chunked) and answers
                       {"length": n, "sha256": hex}
    GET  /sse          three Server-Sent Events, EVENT_GAP s apart (chunked)
    GET  /ws           a WebSocket echo (text and binary), RFC 6455
    GET  /set-cookie?V an empty page that sets the app's own cookie `app-session=V`
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT_GAP = 0.5
PATTERN = bytes(i % 251 for i in range(251 * 1024))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def pattern_sha256(n: int) -> str:
    digest, left = hashlib.sha256(), n
    while left:
        chunk = PATTERN[: min(left, len(PATTERN))]
        digest.update(chunk)
        left -= len(chunk)
    return digest.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status: int, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/headers" or self.path.startswith("/headers?"):
            headers = {}
            for name, value in self.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            self._json(200, {"path": self.path, "headers": headers})
        elif self.path.startswith("/bytes/"):
            n = int(self.path[len("/bytes/"):])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            left = n
            while left:
                chunk = PATTERN[: min(left, len(PATTERN))]
                self.wfile.write(chunk)
                left -= len(chunk)
        elif self.path.startswith("/set-cookie?"):
            self.send_response(200)
            self.send_header("Set-Cookie", f"app-session={self.path.partition('?')[2]}; Secure; HttpOnly")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                event = f"id: {i}\ndata: tick {i} {time.time():.3f}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                time.sleep(EVENT_GAP)
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
        else:
            self._json(404, {"error": "no such path"})

    do_HEAD = do_GET

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    chunk = self.rfile.read(min(left, 1 << 20))
                    if not chunk:
                        return
                    left -= len(chunk)
                    yield chunk
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk

    def do_PUT(self):
        if self.path != "/sha256":
            self._json(404, {"error": "no such path"})
            return
        digest, length = hashlib.sha256(), 0
        for chunk in self._read_body():
            digest.update(chunk)
            length += len(chunk)
        self._json(200, {"length": length, "sha256": digest.hexdigest()})

    do_POST = do_PUT

    def _websocket(self):
        accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            frame = read_frame(self.rfile)
            if frame is None:
                return
            opcode, payload = frame
            if opcode == 8:
                self.wfile.write(encode_frame(8, payload[:2], mask=False))
                self.wfile.flush()
                return
            if opcode in (1, 2):
                self.wfile.write(encode_frame(opcode, payload, mask=False))
                self.wfile.flush()
        self.close_connection = True


def read_frame(stream):
    """(opcode, payload) of one unfragmented frame, or None at EOF."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", stream.read(8))[0]
    key = stream.read(4) if head[1] & 0x80 else None
    payload = stream.read(length)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return opcode, payload


def encode_frame(opcode: int, payload: bytes, mask: bool) -> bytes:
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([bit | len(payload)])
    elif len(payload) < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", len(payload))
    if not mask:
        return head + payload
    key = b"\x11\x22\x33\x44"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(f"http-front-app ready port={server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
