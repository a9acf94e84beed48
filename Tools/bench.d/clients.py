"""Benchmark clients for Tools/bench (stdlib only).

Every client verifies the origin certificate against the CA and the SNI name,
so a request that passes proves the TLS session is end to end with the origin
(or, for E2, with the agent holding the tenant key).

Used as a module by bench.py, and as a program for the idle-connection holder
(it runs in its own process so its memory and descriptors are its own):

    python3 clients.py hold --port P --ca CA --sni NAME --n N --state FILE --stop FILE
"""
import argparse
import asyncio
import json
import os
import socket
import ssl
import statistics
import sys
import time

SMALL_PATH = "/1k"
SMALL_SIZE = 1024
#: Port -> Cookie header value, for paths that need a signed-in browser (E3, http://).
SESSION = {}


def tls_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def request_bytes(sni, path=SMALL_PATH, close=False, port=None):
    conn = "close" if close else "keep-alive"
    cookie = f"Cookie: {SESSION[port]}\r\n" if port in SESSION else ""
    return f"GET {path} HTTP/1.1\r\nHost: {sni}\r\n{cookie}Connection: {conn}\r\n\r\n".encode()


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def parse_head(head):
    """Status and Content-Length of an HTTP/1.1 response head (without the blank line)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


class Reader:
    """Minimal HTTP/1.1 response reader over a blocking (TLS) socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        self.buf += chunk

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, length = parse_head(head)
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def new_connection_latency(port, ca, sni, n, timeout=10.0, nodelay=True):
    """n requests, each on a fresh TCP + TLS connection; seconds per request. `nodelay`
    False leaves Nagle on, as Python's http.client does."""
    ctx = tls_context(ca)
    lat, errors = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                s.sendall(request_bytes(sni, close=True, port=port))
                status, body = Reader(s).response()
            if status != 200 or len(body) != SMALL_SIZE:
                errors += 1
                continue
            lat.append(time.perf_counter() - t0)
        except (OSError, ssl.SSLError, ValueError, IndexError):
            errors += 1
    return lat, errors


def process_hop_us(rounds=5000):
    """One byte bounced between two processes over loopback TCP: the cost of one hop
    (write, wake the other process, read), half the round trip, in µs. Every extra
    process on a path adds this to each crossing; it sets the floor of figures 2 and 3."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        conn = socket.create_connection(("127.0.0.1", port))
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            conn.sendall(conn.recv(1))
        os._exit(0)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    for _ in range(rounds):
        conn.sendall(b"x")
        conn.recv(1)
    elapsed = time.perf_counter() - t0
    os.waitpid(pid, 0)
    conn.close()
    listener.close()
    return elapsed / rounds / 2 * 1e6


class KeepAlive:
    """One verified TLS connection doing sequential small GETs."""

    def __init__(self, port, ca, sni, timeout=10.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = tls_context(ca).wrap_socket(raw, server_hostname=sni)
        self.reader = Reader(self.sock)
        self.req = request_bytes(sni, port=port)

    def get(self):
        t0 = time.perf_counter()
        self.sock.sendall(self.req)
        status, body = self.reader.response()
        if status != 200 or len(body) != SMALL_SIZE:
            raise ValueError(f"bad response {status} {len(body)}")
        return time.perf_counter() - t0

    def series(self, n, min_seconds=0.0):
        """At least n sequential GETs, and for at least min_seconds."""
        lat, errors = [], 0
        until = time.perf_counter() + min_seconds
        while len(lat) < n or time.perf_counter() < until:
            try:
                lat.append(self.get())
            except (OSError, ssl.SSLError, ValueError):
                errors += 1
                break
        return lat, errors

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    status, length = parse_head(head[:-4])
    body = await reader.readexactly(length)
    return status, body


async def _many(port, ca, sni, conns, reqs, limit_s):
    ctx = tls_context(ca)
    req = request_bytes(sni, port=port)
    ok = 0

    async def one():
        nonlocal ok, last_response
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                           server_hostname=sni)
            for _ in range(reqs):
                writer.write(req)
                status, body = await _read_response(reader)
                if status == 200 and len(body) == SMALL_SIZE:
                    ok += 1
            last_response = max(last_response, time.perf_counter())
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError,
                asyncio.LimitOverrunError) as e:
            raise_count[0] += 1
            last_error[0] = repr(e)
        finally:
            if writer is not None:
                # Wait for the TLS shutdown (close_notify both ways) to finish: a closing
                # transport left behind when the loop ends keeps its socket open in this
                # process until the garbage collector finds it, which the tunnel rightly
                # sees as a browser that half-closed and is still there.
                writer.close()
                try:
                    await asyncio.wait_for(writer.wait_closed(), 10)
                except (OSError, ssl.SSLError, asyncio.TimeoutError):
                    writer.transport.abort()

    raise_count = [0]
    last_error = [None]
    t0 = time.perf_counter()
    last_response = t0
    tasks = [asyncio.ensure_future(one()) for _ in range(conns)]
    done, pending = await asyncio.wait(tasks, timeout=limit_s)
    for t in pending:
        t.cancel()
    total = (last_response if not pending else time.perf_counter()) - t0
    failed = conns * reqs - ok
    return {"total_s": total, "ok": ok, "errors": failed, "failed_connections": raise_count[0],
            "timed_out_connections": len(pending), "last_error": last_error[0]}


def many(port, ca, sni, conns=200, reqs=20, limit_s=120.0):
    """conns concurrent keep-alive connections x reqs sequential small GETs each."""
    return asyncio.run(_many(port, ca, sni, conns, reqs, limit_s))


async def _hold(port, ca, sni, n, state, stop, limit_s, concurrency):
    ctx = tls_context(ca)
    req = request_bytes(sni, port=port)
    sem = asyncio.Semaphore(concurrency)
    held = []
    errors = 0
    last_error = None

    async def open_one():
        nonlocal errors, last_error
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=sni), 30)
                writer.write(req)
                status, body = await asyncio.wait_for(_read_response(reader), 30)
                if status != 200 or len(body) != SMALL_SIZE:
                    raise ValueError(f"status {status}")
                held.append((reader, writer))
            except Exception as e:  # noqa: BLE001 - any failure is one error
                errors += 1
                last_error = repr(e)

    t0 = time.perf_counter()
    await asyncio.wait([asyncio.ensure_future(open_one()) for _ in range(n)], timeout=limit_s)
    opened = time.perf_counter() - t0
    tmp = state + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"held": len(held), "errors": errors + (n - len(held) - errors),
                   "open_s": opened, "last_error": last_error}, f)
    os.rename(tmp, state)
    deadline = time.monotonic() + limit_s
    while not os.path.exists(stop) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # Verify a sample of the held connections still work end to end.
    alive = 0
    for reader, writer in held[:: max(1, len(held) // 50)]:
        try:
            writer.write(req)
            status, _ = await asyncio.wait_for(_read_response(reader), 10)
            alive += status == 200
        except Exception:  # noqa: BLE001
            pass
    for _, writer in held:
        writer.close()
    with open(state + ".end", "w") as f:
        json.dump({"sampled_alive": alive, "sampled": len(held[:: max(1, len(held) // 50)])}, f)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--ca", required=True)
    h.add_argument("--sni", required=True)
    h.add_argument("--n", type=int, required=True)
    h.add_argument("--state", required=True)
    h.add_argument("--stop", required=True)
    h.add_argument("--limit", type=float, default=240.0)
    h.add_argument("--concurrency", type=int, default=128)
    a = ap.parse_args()
    if a.cmd == "hold":
        asyncio.run(_hold(a.port, a.ca, a.sni, a.n, a.state, a.stop, a.limit, a.concurrency))


if __name__ == "__main__":
    sys.exit(main())
