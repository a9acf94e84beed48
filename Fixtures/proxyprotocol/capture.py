"""Captures the PROXY protocol headers Debian's haproxy sends (Fixtures/README.md).

Usage: python3 Fixtures/proxyprotocol/capture.py OUTDIR

For each case: a listener on loopback stands in for the relay, haproxy (TCP mode,
foreground) sits in front of it, a client connects to haproxy from 127.0.0.5 (or ::1)
and closes without sending anything; what reaches the listener is the header alone.
The health-check case lets haproxy's own check connect instead (v2 LOCAL command).
"""

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def listener(family, host):
    srv = socket.socket(family)
    srv.bind((host, 0))
    srv.listen(4)
    srv.settimeout(10)
    return srv


def receive_one(srv) -> bytes:
    conn, _ = srv.accept()
    conn.settimeout(5)
    data = b""
    with conn:
        try:
            while chunk := conn.recv(4096):
                data += chunk
        except OSError:
            pass  # haproxy resets its health-check connections
    return data


def free_port(family, host) -> int:
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def run(out: Path, name: str, server_options: str, *, v6=False, check=False, extra_backend="", extra_frontend=""):
    family, host = (socket.AF_INET6, "::1") if v6 else (socket.AF_INET, "127.0.0.1")
    srv = listener(family, host)
    backend = f"[{host}]:{srv.getsockname()[1]}" if v6 else f"{host}:{srv.getsockname()[1]}"
    port = free_port(family, host)
    bind = f"[{host}]:{port}" if v6 else f"{host}:{port}"
    checks = " check inter 200ms check-send-proxy" if check else ""
    cfg = Path(tempfile.mkdtemp()) / "haproxy.cfg"
    cfg.write_text(f"""defaults
    mode tcp
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend f
    bind {bind}
{extra_frontend}    default_backend b
backend b
{extra_backend}    server s {backend} {server_options}{checks}
""")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)])
    try:
        if not check:
            deadline = time.monotonic() + 10
            while True:
                client = socket.socket(family)
                client.bind(("::1" if v6 else "127.0.0.5", 0))
                try:
                    client.connect((host, port))
                    break
                except OSError:
                    client.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            client.close()
        data = receive_one(srv)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        srv.close()
    (out / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes {data[:60]!r}")


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    run(out, "haproxy-v2-tcp4.bin", "send-proxy-v2")
    run(out, "haproxy-v1-tcp4.bin", "send-proxy")
    run(out, "haproxy-v2-tcp6.bin", "send-proxy-v2", v6=True)
    run(out, "haproxy-v1-tcp6.bin", "send-proxy", v6=True)
    run(out, "haproxy-v2-local-check.bin", "send-proxy-v2", check=True)
    run(out, "haproxy-v2-tlvs.bin", "send-proxy-v2 proxy-v2-options ssl,crc32c,unique-id",
        extra_frontend="    unique-id-format %{+X}o%ci:%cp_%fi:%fp\n    tcp-request content set-var(sess.x) unique-id\n")


if __name__ == "__main__":
    main()
