"""Debian's HAProxy on loopback in TCP mode, in front of one or more relays.

`start_haproxy` writes a config into `workdir`, runs `haproxy -db -f cfg` (foreground,
no daemon, no Debian service) through the test's `Processes` so it is stopped by its
own PID with everything else the test started, and returns once the frontend port is
listening. `proxy` picks what HAProxy prepends to each connection it opens to a relay:
"v2" (`send-proxy-v2`), "v1" (`send-proxy`) or None (nothing).

Readiness is read from /proc/net/tcp (the port in LISTEN state) rather than by
connecting, so waiting does not itself open a connection to the relay.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from cluster import Proc, Processes, free_port

SERVER_OPTIONS = {"v2": "send-proxy-v2", "v1": "send-proxy", None: ""}


def haproxy_binary() -> str:
    for candidate in ("/usr/sbin/haproxy", shutil.which("haproxy")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("haproxy not installed (Tools/setup installs Debian's haproxy)")


class HAProxy:
    def __init__(self, proc: Proc, port: int, config: Path, stats: Path):
        self.proc, self.port, self.config, self.stats = proc, port, config, stats

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` from the stats socket: per server of the relays backend, its
        columns (`status` UP/DOWN, `check_status` such as L7STS, `check_code` 503 …)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.stats))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r for r in rows if r.get("pxname") == "relays" and r["svname"] not in ("BACKEND",)}

    def alive(self) -> bool:
        return self.proc.alive()

    def stop(self, timeout: float = 5) -> int | None:
        """SIGTERM to this haproxy's PID (it closes its listener and exits), SIGKILL
        after `timeout`."""
        return self.proc.stop(timeout=timeout)


def haproxy_config(port: int, backends: list[int], proxy: str | None, check: bool,
                   stats: Path, tunnel_timeout: str = "1h", readyz: list[int] | None = None) -> str:
    """TCP mode, one frontend on 127.0.0.1:`port`, round robin over `backends`.
    `check` adds a TCP health check every 200 ms (with `send-proxy*`, HAProxy sends a
    PROXY header on its checks too: v2 uses the LOCAL command). `readyz` (one admin port
    per backend) checks `GET /readyz` on the relays' admin listeners instead, as the
    README's deployment example does: a draining relay leaves the rotation at once."""
    option = SERVER_OPTIONS[proxy]
    checks = [" check inter 200ms fall 1 rise 1" + (" check-send-proxy" if proxy else "") if check else ""] * len(backends)
    if readyz:
        checks = [f" check port {admin} inter 200ms fall 1 rise 1" for admin in readyz]
    servers = "\n".join(f"    server relay{i} 127.0.0.1:{p} {option}{checks[i]}".rstrip()
                        for i, p in enumerate(backends))
    http_check = "    option httpchk GET /readyz\n    http-check expect status 200\n" if readyz else ""
    return f"""global
    maxconn 4096
    stats socket {stats} mode 600 level user

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout client-fin 10s
    timeout server-fin 10s
    timeout tunnel {tunnel_timeout}
    retries 3
    option redispatch

frontend public
    bind 127.0.0.1:{port}
    default_backend relays

backend relays
    balance roundrobin
{http_check}{servers}
"""


def _listening(port: int) -> bool:
    """Whether some socket listens on 127.0.0.1:`port` (state 0A in /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    try:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    except OSError:
        pass
    return False


def start_haproxy(procs: Processes, workdir: Path, backends: int | list[int],
                  proxy: str | None = "v2", check: bool = False, name: str = "haproxy",
                  port: int | None = None, timeout: float = 15,
                  readyz: list[int] | None = None) -> HAProxy:
    """Starts haproxy in front of `backends` (relay public ports) and returns once its
    frontend listens. A fixed `port` restarts on the same port; otherwise a free one
    is picked (and picked again if another process took it first)."""
    backends = [backends] if isinstance(backends, int) else list(backends)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(1 if port else 5):
        chosen = port or free_port()
        config = workdir / f"{name}-{chosen}.cfg"
        # A unix socket path has at most 107 bytes: not under pytest's long tmp paths.
        stats = Path("/tmp") / f"h2t-haproxy-{chosen}.sock"
        stats.unlink(missing_ok=True)
        procs.outside_files.append(stats)
        config.write_text(haproxy_config(chosen, backends, proxy, check, stats, readyz=readyz))
        proc = procs.start(name, [haproxy_binary(), "-db", "-f", config])
        deadline = time.monotonic() + timeout
        while proc.alive() and not _listening(chosen) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.alive() and _listening(chosen):
            return HAProxy(proc, chosen, config, stats)
        proc.stop(timeout=5)
        last_error = proc.stderr_tail()
    raise RuntimeError(f"haproxy did not start listening\n{last_error}")
