"""Browser-side clients of Tools/bench --wan (stdlib only; imported by wan.py).

Like clients.py, every client verifies the origin's certificate against the CA and the
SNI name, but each takes the address it dials: path A (direct) crosses the shaped link
to the origin itself, the others dial the relay (or sshd's forwarded port) on the
relay's loopback.
"""
import socket
import ssl
import threading
import time

import clients

SNI = "acme.tunnel.localhost"


class Target:
    """Where a browser connects for one path, and the session cookie it must send (E3)."""

    def __init__(self, host, port, ca, cookie=None):
        self.host, self.port, self.ca, self.cookie = host, port, ca, cookie
        self.ctx = clients.tls_context(ca)

    def connect(self, timeout=30.0):
        raw = socket.create_connection((self.host, self.port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ctx.wrap_socket(raw, server_hostname=SNI)

    def head(self, method, path, extra=""):
        cookie = f"Cookie: {self.cookie}\r\n" if self.cookie else ""
        return (f"{method} {path} HTTP/1.1\r\nHost: {SNI}\r\n{cookie}{extra}"
                f"Connection: keep-alive\r\n\r\n").encode()


def new_connection(t, n):
    """n requests, each on a fresh TCP + TLS 1.3 connection: seconds from connect() to the
    whole 1 KiB response (its first and only bytes), and errors."""
    lat, errors = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            with t.connect() as s:
                s.sendall(t.head("GET", clients.SMALL_PATH))
                status, body = clients.Reader(s).response()
            if status == 200 and len(body) == clients.SMALL_SIZE:
                lat.append(time.perf_counter() - t0)
            else:
                errors += 1
        except (OSError, ssl.SSLError, ValueError, IndexError):
            errors += 1
    return lat, errors


def steady(samples):
    """Rate over the last two thirds of a transfer's (time, bytes) samples, in bytes/s:
    slow start and the first fill of the buffers along the path are left out, and in the
    steady state the buffers stay full, so bytes handed to (or taken from) the browser's
    socket move at the rate the link delivers them."""
    if len(samples) < 3:
        return None
    t0, t1 = samples[0][0], samples[-1][0]
    cut = t0 + (t1 - t0) / 3
    first = next(s for s in samples if s[0] >= cut)
    if samples[-1][0] - first[0] <= 0:
        return None
    return (samples[-1][1] - first[1]) / (samples[-1][0] - first[0])


def download(t, size, limit_s):
    """GET the first `size` bytes of /big (a Range request); stops after limit_s.
    Returns {"steady": B/s, "mean": B/s, "bytes": n, "complete": bool}."""
    s = t.connect()
    try:
        s.sendall(t.head("GET", "/big", f"Range: bytes=0-{size - 1}\r\n"))
        buf = bytearray(1 << 18)
        view = memoryview(buf)
        got = b""
        while b"\r\n\r\n" not in got:
            n = s.recv_into(view)
            if not n:
                raise ConnectionError("closed before the response head")
            got += bytes(view[:n])
        head, rest = got.split(b"\r\n\r\n", 1)
        status, length = clients.parse_head(head)
        if status not in (200, 206) or length != size:
            raise ValueError(f"status {status} length {length}")
        n_body = len(rest)
        t0 = time.perf_counter()
        samples = [(t0, n_body)]
        deadline = t0 + limit_s
        while n_body < size:
            n = s.recv_into(view)
            if not n:
                raise ConnectionError("closed mid-body")
            n_body += n
            now = time.perf_counter()
            samples.append((now, n_body))
            if now > deadline:
                break
        dt = samples[-1][0] - t0
        return {"steady": steady(samples), "mean": n_body / dt if dt > 0 else None,
                "bytes": n_body, "complete": n_body >= size}
    finally:
        s.close()


def upload(t, size, limit_s, name):
    """PUT `size` bytes to /up/`name`; stops sending after limit_s (then the response is
    not awaited). Returns like download(); complete means the origin answered 201/204."""
    s = t.connect()
    try:
        s.sendall(t.head("PUT", f"/up/{name}", f"Content-Length: {size}\r\n"))
        chunk = b"\xa5" * (1 << 18)
        sent = 0
        t0 = time.perf_counter()
        samples = [(t0, 0)]
        deadline = t0 + limit_s
        while sent < size:
            part = chunk if size - sent >= len(chunk) else chunk[: size - sent]
            s.sendall(part)
            sent += len(part)
            now = time.perf_counter()
            samples.append((now, sent))
            if now > deadline:
                break
        complete = False
        if sent >= size:
            status, _ = clients.Reader(s).response()
            complete = status in (200, 201, 204)
        # "steady" is the sender's progress (see steady()), which overstates the rate while
        # the buffers along the path fill: wan.py takes it where the bytes arrive instead.
        # The mean waits for the answer.
        end = time.perf_counter() if complete else samples[-1][0]
        return {"steady": steady(samples), "mean": sent / (end - t0) if end > t0 else None,
                "bytes": sent, "complete": complete}
    finally:
        s.close()


def page(t, conns=6, objects=30, timeout=60.0):
    """A page: `objects` 1 KiB objects over `conns` new TLS connections opened at once, each
    fetching its share one after another (as a browser does over HTTP/1.1). Returns
    (seconds until the last object arrived, per-request latencies, errors)."""
    per = [objects // conns + (1 if i < objects % conns else 0) for i in range(conns)]
    lat, errors = [], [0]
    lock = threading.Lock()
    start = threading.Barrier(conns + 1)
    ends = []

    def one(k):
        try:
            start.wait(timeout)
        except threading.BrokenBarrierError:
            return
        mine = []
        try:
            with t.connect(timeout) as s:
                r = clients.Reader(s)
                for _ in range(k):
                    t0 = time.perf_counter()
                    s.sendall(t.head("GET", clients.SMALL_PATH))
                    status, body = r.response()
                    if status != 200 or len(body) != clients.SMALL_SIZE:
                        raise ValueError(f"status {status}")
                    mine.append(time.perf_counter() - t0)
        except (OSError, ssl.SSLError, ValueError, IndexError):
            with lock:
                errors[0] += k - len(mine)
        with lock:
            lat.extend(mine)
            ends.append(time.perf_counter())

    ts = [threading.Thread(target=one, args=(k,)) for k in per]
    for th in ts:
        th.start()
    t0 = time.perf_counter()
    start.wait(timeout)
    for th in ts:
        th.join(timeout)
    return (max(ends) - t0 if ends else None), lat, errors[0]


def keepalive_series(t, seconds, stop=None):
    """Sequential 1 KiB GETs on one connection for `seconds`: latencies, errors."""
    lat, errors = [], 0
    s = t.connect()
    try:
        r = clients.Reader(s)
        req = t.head("GET", clients.SMALL_PATH)
        until = time.perf_counter() + seconds
        while time.perf_counter() < until and not (stop and stop.is_set()):
            t0 = time.perf_counter()
            try:
                s.sendall(req)
                status, body = r.response()
            except (OSError, ssl.SSLError, ValueError, IndexError):
                errors += 1
                break
            if status != 200 or len(body) != clients.SMALL_SIZE:
                errors += 1
            else:
                lat.append(time.perf_counter() - t0)
    finally:
        s.close()
    return lat, errors


def mixed(t, browsers, seconds):
    """`browsers` threads for `seconds`, each in a loop: a new TLS connection, three 1 KiB
    GETs, one 64 KiB range GET, one 16 KiB PUT, each answer checked. Returns
    {"requests": n, "errors": n, "last_error": str}."""
    out = {"requests": 0, "errors": 0, "last_error": None}
    lock = threading.Lock()
    body = b"\x5a" * (16 << 10)

    def browser(i):
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            done = 0
            try:
                with t.connect() as s:
                    r = clients.Reader(s)
                    for _ in range(3):
                        s.sendall(t.head("GET", clients.SMALL_PATH))
                        status, b = r.response()
                        if status != 200 or len(b) != clients.SMALL_SIZE:
                            raise ValueError(f"small: {status} {len(b)}")
                        done += 1
                    s.sendall(t.head("GET", "/big", "Range: bytes=65536-131071\r\n"))
                    status, b = r.response()
                    if status != 206 or len(b) != 65536:
                        raise ValueError(f"range: {status} {len(b)}")
                    done += 1
                    s.sendall(t.head("PUT", f"/up/mixed-{i}", f"Content-Length: {len(body)}\r\n") + body)
                    status, _ = r.response()
                    if status not in (200, 201, 204):
                        raise ValueError(f"put: {status}")
                    done += 1
            except (OSError, ssl.SSLError, ValueError, IndexError) as e:
                with lock:
                    out["errors"] += 1
                    out["last_error"] = repr(e)[:200]
            with lock:
                out["requests"] += done

    ts = [threading.Thread(target=browser, args=(i,)) for i in range(browsers)]
    for th in ts:
        th.start()
    for th in ts:
        th.join(seconds + 120)
    return out
