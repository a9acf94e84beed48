#!/usr/bin/env python3
"""Records the first TLS handshake message a client sends (its ClientHello, every
record it spans) into a file, then closes the connection.

    python3 Fixtures/clienthello/capture.py OUT.bin [PORT]

prints `listening port=N`, accepts one connection on 127.0.0.1, writes the raw records
(5-byte headers included) exactly as received, prints `captured N bytes`."""

import socket
import sys


def read_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def main() -> int:
    out = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(60)
    print(f"listening port={listener.getsockname()[1]}", flush=True)
    conn, _ = listener.accept()
    conn.settimeout(30)
    raw, handshake = b"", b""
    # RFC 8446 §5.1: a handshake message may span records; the ClientHello's own
    # length (§4, 3 bytes after its type) says when it is complete.
    while len(handshake) < 4 or len(handshake) < 4 + int.from_bytes(handshake[1:4], "big"):
        header = read_exact(conn, 5)
        if header[0] != 22:
            raise SystemExit(f"not a TLS handshake record: {header!r}")
        body = read_exact(conn, int.from_bytes(header[3:5], "big"))
        raw += header + body
        handshake += body
    conn.close()
    listener.close()
    with open(out, "wb") as handle:
        handle.write(raw)
    print(f"captured {len(raw)} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
