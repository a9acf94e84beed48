"""Browser-side helpers: TLS clients with the dev CA, raw ClientHellos from a
memory BIO, TLS alert parsing, and the `/bytes/N` pattern of demo-app."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from pathlib import Path

TLS_ALERT = 0x15
TLS_HANDSHAKE = 0x16
UNRECOGNIZED_NAME = 112


def client_context(pki: Path, alpn: list[str] | None = None) -> ssl.SSLContext:
    """Verifies like a browser that trusts only the dev root CA."""
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def connect(pki: Path, port: int, sni: str, timeout: float = 20,
            alpn: list[str] | None = None) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return client_context(pki, alpn).wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def read_head(sock) -> tuple[int, dict[str, str], bytes]:
    """Reads an HTTP/1.1 response head; returns status, lower-cased headers and
    whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed inside the response head: {data[:200]!r}")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def https_get(pki: Path, port: int, host: str, path: str = "/", timeout: float = 20):
    """One GET with `Connection: close`; returns (status, headers, body)."""
    with connect(pki, port, host, timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status, headers, body = read_head(sock)
        while chunk := sock.recv(65536):
            body += chunk
        return status, headers, body


def client_hello(sni: str | None) -> bytes:
    """The exact first flight Python's TLS client would send for `sni`
    (None: no server_name extension at all)."""
    ctx = ssl.create_default_context()
    if sni is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8  # linux/tcp_states.h


def eof_kind(sock: socket.socket, half_closed: bool = False) -> str:
    """After a read returned b'': was it the peer's FIN ('eof') or its RST
    ('reset')? Python's ssl reports a reset under TLS as a ragged EOF, so ask
    the kernel: a FIN leaves a socket that still sends in CLOSE_WAIT, a RST in
    CLOSE. A socket that had shut down its own write side also ends in CLOSE
    after a FIN, so there the answer is 'eof' and callers must check that all
    the data arrived."""
    if half_closed:
        return "eof"
    state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
    return {TCP_CLOSE: "reset", TCP_CLOSE_WAIT: "eof"}.get(state, f"eof in tcp state {state}")


def read_until_closed(sock: socket.socket, timeout: float,
                      half_closed: bool = False) -> tuple[bytes, str]:
    """Everything the peer sends until it closes: ('eof' | 'reset' | 'timeout')."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return data, eof_kind(sock, half_closed)
            data += chunk
        return data, "timeout"
    except (ConnectionResetError, ConnectionAbortedError):
        return data, "reset"
    except socket.timeout:
        return data, "timeout"


def alert_description(data: bytes) -> int | None:
    """The description byte of a TLS alert record at the start of `data`."""
    if len(data) >= 7 and data[0] == TLS_ALERT and data[1] == 3 and data[3:5] == b"\x00\x02":
        return data[6]
    return None


class BioClient:
    """A TLS client whose bytes go through our hands, so the test controls how
    the ClientHello is cut into TCP segments."""

    def __init__(self, pki: Path, sock: socket.socket, sni: str):
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_context(pki).wrap_bio(self.incoming, self.outgoing, server_hostname=sni)

    def first_flight(self) -> bytes:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.outgoing.read()

    def _pump_in(self):
        data = self.sock.recv(65536)
        if not data:
            self.incoming.write_eof()
        else:
            self.incoming.write(data)

    def handshake(self):
        while True:
            try:
                self.obj.do_handshake()
                self.sock.sendall(self.outgoing.read())
                return
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self._pump_in()

    def sendall(self, data: bytes):
        self.obj.write(data)
        self.sock.sendall(self.outgoing.read())

    def read_all(self) -> bytes:
        data = b""
        while True:
            try:
                chunk = self.obj.read(65536)
                if not chunk:
                    return data
                data += chunk
            except ssl.SSLWantReadError:
                pending = self.outgoing.read()
                if pending:
                    self.sock.sendall(pending)
                self._pump_in()
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                return data


def pattern_chunk(offset: int, length: int) -> bytes:
    """Bytes offset..offset+length of demo-app's `/bytes/N` body (byte i = i % 251)."""
    start = offset % 251
    reps = (start + length) // 251 + 1
    return (bytes(range(251)) * reps)[start:start + length]


_PATTERN_HASHES: dict[int, str] = {}


def pattern_sha256(n: int) -> str:
    """SHA-256 of the first n pattern bytes, hashed in 251-aligned blocks."""
    if n not in _PATTERN_HASHES:
        block = bytes(range(251)) * 4096
        h = hashlib.sha256()
        full, rest = divmod(n, len(block))
        for _ in range(full):
            h.update(block)
        h.update(block[:rest])
        _PATTERN_HASHES[n] = h.hexdigest()
    return _PATTERN_HASHES[n]
