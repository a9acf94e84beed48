"""Peers for the h2probe tests (issue 3), and a runner for h2probe itself.

`H2EchoServer` is a small HTTP/2 server built on the `h2` package. It runs as
its own process (`python3 probe_servers.py h2echo --cert C --key K` prints
`h2echo ready port=N`), terminates TLS with the given certificate (ALPN h2)
or speaks h2c with `--no-tls`, advertises SETTINGS_ENABLE_CONNECT_PROTOCOL=1
and MAX_CONCURRENT_STREAMS 55, and

    extended CONNECT (any :protocol)   answers 200 and echoes every DATA byte,
                                       END_STREAM after the client's END_STREAM
    GET /reset                         RST_STREAM(REFUSED_STREAM)
    GET /hang                          never answers
    anything else                      200, body `h2echo <method> <path>\\n`

`BadServer` runs in a thread of the test process and misbehaves in one way per
`mode` (see its docstring). `run_probe` runs h2probe bounded in time.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

ECHO_MAX_CONCURRENT_STREAMS = 55
GARBAGE = b"this is not HTTP/2 at all\r\n" + bytes(range(256)) * 4


# -- running h2probe ---------------------------------------------------------

import pytest


@pytest.fixture(scope="session")
def h2probe(bins) -> Path:
    """The h2probe binary (issue 3), next to relay and agent in $H2T_BIN.
    Test modules import this fixture, so conftest.py needs no change."""
    path = bins / "h2probe"
    if not path.is_file():
        pytest.fail(f"missing binary {path} (run `swift build`)")
    return path


class ProbeResult:
    def __init__(self, argv, completed: subprocess.CompletedProcess, elapsed: float):
        self.argv = argv
        self.rc = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        self.elapsed = elapsed

    @property
    def out(self) -> str:
        return self.stdout.decode(errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.decode(errors="replace")

    def json(self) -> dict:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"--json output does not parse ({exc}):\n{self.out[:2000]}")

    def __repr__(self):
        return (f"h2probe {' '.join(self.argv[1:])}\n  exit {self.rc} after {self.elapsed:.2f}s"
                f"\n  stderr: {self.err[-1500:]!r}\n  stdout (head): {self.out[:1500]!r}")


def run_probe(binary: Path, *args, input: bytes | None = None,
              timeout: float = 30) -> ProbeResult:
    """Runs h2probe; a hang beyond `timeout` kills it (by its own PID) and fails."""
    import time
    argv = [str(binary), *[str(a) for a in args]]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"h2probe did not finish within {timeout}s: {argv}\n"
                             f"stderr: {err[-1500:]!r}\nstdout: {out[-1500:]!r}")
    return ProbeResult(argv, subprocess.CompletedProcess(argv, proc.returncode, out, err),
                       time.monotonic() - started)


# -- reading h2probe's output ------------------------------------------------

FRAME_LINE = re.compile(r"^\[\s*([\d.]+)\] (send|recv) ([A-Z_]+|UNKNOWN\S*) frame "
                        r"<length=(\d+), flags=0x([0-9a-fA-F]+), stream_id=(\d+)>")
SETTING_LINE = re.compile(r"\[(SETTINGS_[A-Z0-9_]+)\(0x[0-9a-fA-F]+\):(\d+)\]")
ERROR_LINE = re.compile(r"^h2probe: [a-z][a-z -]* error: \S.*$")


def text_frames(out: str) -> list[dict]:
    """Frames from nghttp-style text (h2probe's, or `nghttp -v`'s): direction,
    type, length, flags, stream, settings {NAME: value}, headers [(n, v)]."""
    frames: list[dict] = []
    current = None
    for line in out.splitlines():
        if m := FRAME_LINE.match(line):
            current = {"direction": "sent" if m.group(2) == "send" else "received",
                       "type": m.group(3), "length": int(m.group(4)),
                       "flags": int(m.group(5), 16), "stream": int(m.group(6)),
                       "settings": {}, "headers": [], "detail": []}
            frames.append(current)
            continue
        if current is None or not line[:1].isspace():
            current = None  # a body line or a summary line ends the frame
            continue
        detail = line.strip()
        current["detail"].append(detail)
        if m := SETTING_LINE.fullmatch(detail):
            current["settings"][m.group(1)] = int(m.group(2))
        elif current["type"] in ("HEADERS", "PUSH_PROMISE") and not detail.startswith((";", "(")):
            name, sep, value = detail.partition(": ")
            if sep:
                current["headers"].append((name, value))
    return frames


def peer_settings(frames: list[dict], direction: str = "received") -> dict:
    """The settings of the first non-ACK SETTINGS frame in `direction`."""
    for f in frames:
        if f["type"] == "SETTINGS" and f["direction"] == direction:
            if isinstance(f["flags"], int) and f["flags"] & 1:
                continue
            if isinstance(f["flags"], list) and "ACK" in f["flags"]:
                continue
            return f["settings"]
    raise AssertionError(f"no {direction} SETTINGS frame among {[f['type'] for f in frames]}")


def assert_one_error_line(result: "ProbeResult", kind: str | None = None):
    """The documented error shape: exactly one stderr line, `h2probe: <kind> error: …`."""
    lines = [l for l in result.err.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}: {result!r}"
    assert ERROR_LINE.match(lines[0]), f"stderr line not `h2probe: <kind> error: …`: {lines[0]!r}"
    if kind:
        assert lines[0].startswith(f"h2probe: {kind} error: "), lines[0]
    for bad in ("Fatal error", "Backtrac", "Program crashed", "Traceback"):
        assert bad not in result.err and bad not in result.out, f"{bad!r} in output: {result!r}"


def cert_sha256(pem_file: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(Path(pem_file).read_text())
    return hashlib.sha256(der).hexdigest()


# -- h2 echo server (separate process) --------------------------------------

def _h2_serve(conn: socket.socket):
    import h2.config
    import h2.connection
    import h2.events
    import h2.errors
    from h2.settings import SettingCodes

    config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    h2c = h2.connection.H2Connection(config=config)
    h2c.local_settings = h2.settings.Settings(client=False, initial_values={
        SettingCodes.MAX_CONCURRENT_STREAMS: ECHO_MAX_CONCURRENT_STREAMS,
        SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
    })
    h2c.initiate_connection()
    pending: dict[int, bytearray] = {}   # echo bytes waiting for window
    ending: set[int] = set()             # client ended; end after pending drains

    def flush():
        for sid in list(pending):
            buf = pending[sid]
            while buf:
                try:
                    window = min(h2c.local_flow_control_window(sid), h2c.max_outbound_frame_size)
                except Exception:  # stream gone
                    buf.clear()
                    break
                if window <= 0:
                    break
                h2c.send_data(sid, bytes(buf[:window]))
                del buf[:window]
            if not buf and sid in ending:
                ending.discard(sid)
                del pending[sid]
                try:
                    h2c.end_stream(sid)
                except Exception:
                    pass
        data = h2c.data_to_send()
        if data:
            conn.sendall(data)

    flush()
    while True:
        data = conn.recv(65536)
        if not data:
            return
        try:
            events = h2c.receive_data(data)
        except Exception:
            conn.sendall(h2c.data_to_send())
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                headers = dict(ev.headers)
                sid = ev.stream_id
                if headers.get(":method") == "CONNECT":
                    h2c.send_headers(sid, [(":status", "200"), ("server", "h2echo")])
                    pending[sid] = bytearray()
                elif headers.get(":path") == "/reset":
                    h2c.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                elif headers.get(":path") == "/hang":
                    pass
                else:
                    body = f"h2echo {headers.get(':method')} {headers.get(':path')}\n".encode()
                    h2c.send_headers(sid, [(":status", "200"), ("server", "h2echo"),
                                           ("content-length", str(len(body)))])
                    h2c.send_data(sid, body, end_stream=True)
            elif isinstance(ev, h2.events.DataReceived):
                h2c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.stream_id in pending:
                    pending[ev.stream_id] += ev.data
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in pending:
                    ending.add(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                pending.pop(ev.stream_id, None)
                ending.discard(ev.stream_id)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                conn.sendall(h2c.data_to_send())
                return
        flush()


def _h2_main(args):
    ctx = None
    if not args.no_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"h2echo ready port={listener.getsockname()[1]}", flush=True)

    def serve(raw):
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn = ctx.wrap_socket(raw, server_side=True) if ctx else raw
            with conn:
                _h2_serve(conn)
        except Exception as exc:
            print(f"h2echo connection error: {exc!r}", file=sys.stderr, flush=True)
        finally:
            raw.close()

    while True:
        raw, _ = listener.accept()
        threading.Thread(target=serve, args=(raw,), daemon=True).start()


# -- misbehaving servers (threads of the test process) -----------------------

class _H11Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"plain HTTP/1.1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class BadServer:
    """One listener on 127.0.0.1 that misbehaves per `mode`:

    alpn-http11    TLS (given cert) offering only ALPN http/1.1, then HTTP/1.1
    no-alpn        TLS (given cert) without ALPN at all, then silence
    tls-garbage    TLS with ALPN h2, then bytes that are not HTTP/2, then close
    tcp-garbage    plain TCP: bytes that are not HTTP/2 at once, then close
    silent         accepts, reads, never writes (connections held open)
    http11         Python's http.server: HTTP/1.1 only
    """

    def __init__(self, mode: str, cert: Path | None = None, key: Path | None = None):
        self.mode = mode
        self.held: list[socket.socket] = []
        self._closed = False
        if mode == "http11":
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _H11Handler)
            self.httpd.daemon_threads = True
            self.port = self.httpd.server_address[1]
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
            return
        self.httpd = None
        self.ctx = None
        if mode in ("alpn-http11", "no-alpn", "tls-garbage"):
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(str(cert), str(key))
            if mode == "alpn-http11":
                self.ctx.set_alpn_protocols(["http/1.1"])
            elif mode == "tls-garbage":
                self.ctx.set_alpn_protocols(["h2"])
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self._closed = True
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            return
        self.listener.close()
        for s in self.held:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket):
        conn.settimeout(30)
        try:
            if self.mode == "silent":
                while conn.recv(65536):
                    pass
                return
            if self.mode == "tcp-garbage":
                conn.sendall(GARBAGE)
                conn.recv(65536)
                return
            tls = self.ctx.wrap_socket(conn, server_side=True)
            self.held.append(tls)
            if self.mode == "tls-garbage":
                tls.sendall(GARBAGE)
                tls.recv(65536)
                return
            if self.mode == "alpn-http11":
                data = tls.recv(65536)
                if data:
                    tls.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
                return
            while tls.recv(65536):  # no-alpn: silence
                pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            if self.mode != "silent":
                try:
                    conn.close()
                except OSError:
                    pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("h2echo")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--no-tls", action="store_true")
    args = parser.parse_args()
    try:
        _h2_main(args)
    except KeyboardInterrupt:
        pass
