"""Instructions per event of the floor proxies, under valgrind's callgrind (Tools/bench --cpu).

CPU time on this shared machine moves by ±15 % between runs; instruction counts do not.
No hardware counters exist in this VM (`perf stat` says "not supported"). The floor
proxies' main thread waits on a plain condition or in epoll_wait, so they need none of
tunnel.py's shim. Swift binaries are given with their debug information stripped
(valgrind 3.19 cannot read Swift 6's DWARF 5).

Each proxy runs three times in front of an echo server: a base load (100 requests of
1 KiB each way on one connection, 10 short connections), the base plus 1,000 requests,
and the base plus 200 connections (connect, 1 byte each way, close). The differences,
divided, are the user-space instructions per keep-alive request and per connection:
start-up and shutdown cancel out. The kernel's instructions are not counted.
"""
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

REQUEST = 1024


def _echo_server():
    """An echo server on 127.0.0.1 in daemon threads; returns its port."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve(c):
        with c:
            while data := c.recv(65536):
                c.sendall(data)

    def accept():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return srv.getsockname()[1]


def _collected(exe, target, requests, connections, limit=300):
    """Instructions callgrind collected over one run of exe with this load."""
    with tempfile.NamedTemporaryFile(suffix=".callgrind") as out:
        p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out.name}", exe, str(target)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            if not line.startswith("ready "):
                raise RuntimeError(f"{exe} under valgrind said {line!r}")
            port = int(line.split()[1])
            deadline = time.monotonic() + limit
            with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for _ in range(requests):
                    s.sendall(b"x" * REQUEST)
                    got = 0
                    while got < REQUEST:
                        chunk = s.recv(65536)
                        if not chunk:
                            raise RuntimeError(f"{exe}: connection closed")
                        got += len(chunk)
            for _ in range(connections):
                with socket.create_connection(("127.0.0.1", port), timeout=limit) as c:
                    c.sendall(b"y")
                    if c.recv(1) != b"y":
                        raise RuntimeError(f"{exe}: no echo")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{exe}: over {limit} s")
            time.sleep(0.5)   # the last close reaches the proxy before it is stopped
        finally:
            p.terminate()
            _, err = p.communicate(timeout=60)
        m = re.search(r"Collected : (\d+)", err)
        if not m:
            raise RuntimeError(f"{exe}: no callgrind total; stderr ends {err[-300:]!r}")
        return int(m.group(1))


def per_event(exe):
    """(instructions per keep-alive request, per connection) of floor proxy exe."""
    target = _echo_server()
    base = _collected(exe, target, 100, 10)
    requests = _collected(exe, target, 1100, 10)
    connections = _collected(exe, target, 100, 210)
    return (requests - base) / 1000, (connections - base) / 200
