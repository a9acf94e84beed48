"""Small upstream servers that stand in for a tenant's application.

`EchoServer` runs as its own process (`python3 upstreams.py echo`) so that the
100-connection test does not share a core with its clients. `ScriptedServer`
runs in a thread of the test process so tests can see what it observed (EOF
versus reset). Each connection of a scripted server starts with one command
line:

    HALFCLOSE\\n<payload>  read to EOF, then answer `got <n> <sha256>\\n` plus
                          256 KiB of pattern and close (the reply only exists
                          after the client's FIN went through the tunnel)
    WAIT\\n                read until EOF or error and record which one
    RESET\\n               close at once with SO_LINGER 0 (a TCP RST)
    ENDFIRST\\n            answer `ended first\\n`, end the output (FIN) at once, then
                          record how the tunnel's end arrives (plain TCP only)

`ResettingServer` resets every connection in mid-exchange, as a crashing app would.
"""

from __future__ import annotations

import asyncio
import hashlib
import queue
import socket
import ssl
import struct
import sys
import threading

from tlsclient import eof_kind

#: linux/tcp.h: a socket closed in repair mode leaves without a trace (needs CAP_NET_ADMIN).
TCP_REPAIR = 19

REPLY_TAIL = bytes(range(256)) * 1024


def linger_zero(sock: socket.socket):
    """Makes close() send RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class ThreadedServer:
    """A listener on loopback that serves each connection in a thread of its own
    (`_serve`, in the subclass)."""

    def __init__(self, backlog: int = 128):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        raise NotImplementedError

    def close(self):
        # shutdown wakes the thread blocked in accept(); close alone would not.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


class ScriptedServer(ThreadedServer):
    def __init__(self, tls_context: ssl.SSLContext | None = None):
        if tls_context is not None:
            # OpenSSL 3 turns a FIN without close_notify into a fatal error
            # (decode_error alert) unless told otherwise; a server that must
            # answer after the client's half-close needs this option.
            tls_context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
        self.tls = tls_context
        #: ("halfclose", bytes_received) / ("wait", "eof"|"reset"|…) / ("reset", None) /
        #: ("flood", why its sending stopped) / ("vanish", None)
        self.events: queue.Queue = queue.Queue()
        #: Set when a WAIT connection has read its command line.
        self.waiting = threading.Event()
        super().__init__()

    @property
    def upstream(self) -> str:
        return f"{'tls' if self.tls else 'tcp'}://127.0.0.1:{self.port}"

    def _serve(self, conn: socket.socket):
        conn.settimeout(30)
        try:
            if self.tls:
                # suppress_ragged_eofs: a TCP FIN without close_notify reads as b"".
                conn = self.tls.wrap_socket(conn, server_side=True, suppress_ragged_eofs=True)
            line = b""
            while not line.endswith(b"\n"):
                byte = conn.recv(1)
                if not byte:
                    self.events.put(("error", f"EOF before command, got {line!r}"))
                    return
                line += byte
            command = line.strip().decode()
            getattr(self, "_" + command.lower())(conn)
        except Exception as exc:  # reported to the test, never raised in a thread
            self.events.put(("error", repr(exc)))
        finally:
            conn.close()

    def _halfclose(self, conn):
        h, n = hashlib.sha256(), 0
        while chunk := conn.recv(65536):
            h.update(chunk)
            n += len(chunk)
        self.events.put(("halfclose", n))
        conn.sendall(f"got {n} {h.hexdigest()}\n".encode() + REPLY_TAIL)

    def _wait(self, conn):
        self.waiting.set()
        try:
            while conn.recv(65536):
                pass
            self.events.put(("wait", eof_kind(conn)))
        except ConnectionResetError:
            self.events.put(("wait", "reset"))
        except (ssl.SSLError, OSError) as exc:
            self.events.put(("wait", f"error {exc!r}"))

    def _flood(self, conn):
        """Sends until the tunnel closes this connection, without reading."""
        self.waiting.set()
        block = b"x" * 65536
        try:
            while True:
                conn.sendall(block)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            self.events.put(("flood", type(exc).__name__))

    def _ignore(self, conn):
        """Reads nothing more, for up to 30 s: an app that stopped reading an upload."""
        self.waiting.set()
        threading.Event().wait(30)

    def _vanish(self, conn):
        """Disappears without a FIN or RST, as a host that lost power: a socket closed in
        TCP repair mode (root) sends nothing; later segments to it are answered with RST."""
        # Acknowledge what was read first: an unacknowledged segment would be sent again,
        # meet a RST and tell the agent without any probe.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        conn.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
        conn.close()
        self.events.put(("vanish", None))

    def _endfirst(self, conn):
        conn.sendall(b"ended first\n")
        conn.shutdown(socket.SHUT_WR)
        try:
            outcome = "eof" if conn.recv(1) == b"" else "data"
        except ConnectionResetError:
            outcome = "reset"
        self.events.put(("endfirst", outcome))

    def _reset(self, conn):
        linger_zero(conn)  # works on an SSLSocket too; its close() sends no close_notify
        conn.close()
        self.events.put(("reset", None))


class ResettingServer(ThreadedServer):
    """An app that resets its connections in mid-exchange (as one that restarts or
    crashes may). It answers the first bytes with `GREETING`, so the tunnel is open end
    to end, then resets once `RESET_ME` has arrived. `resets` counts them; `errors`
    holds what went wrong in its threads, for the test to report."""

    GREETING = b"ok"
    RESET_ME = b"RESET-ME"

    def __init__(self):
        self.resets = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        super().__init__(backlog=512)

    def _serve(self, conn: socket.socket):
        conn.settimeout(30)
        try:
            with conn:
                data = conn.recv(65536)
                conn.sendall(self.GREETING)
                while not data.endswith(self.RESET_ME):
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise ConnectionError(f"EOF before {self.RESET_ME!r}")
                    data += chunk
                linger_zero(conn)
            with self._lock:
                self.resets += 1
        except Exception as exc:  # reported to the test, never raised in a thread
            with self._lock:
                self.errors.append(repr(exc))


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()  # backpressure: read no faster than we can write
        writer.write_eof()
        await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _serve_echo():
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    print(f"upstream ready port={port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:] != ["echo"]:
        sys.exit("usage: upstreams.py echo")
    try:
        asyncio.run(_serve_echo())
    except KeyboardInterrupt:
        pass

