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
    def __init__(self, proc: Proc, port: int, config: Path):
        self.proc, self.port, self.config = proc, port, config

    def alive(self) -> bool:
        return self.proc.alive()

    def stop(self, timeout: float = 5) -> int | None:
        """SIGTERM to this haproxy's PID (it closes its listener and exits), SIGKILL
        after `timeout`."""
        return self.proc.stop(timeout=timeout)


def haproxy_config(port: int, backends: list[int], proxy: str | None, check: bool,
                   tunnel_timeout: str = "1h") -> str:
    """TCP mode, one frontend on 127.0.0.1:`port`, round robin over `backends`.
    `check` adds a TCP health check every 200 ms (with `send-proxy*`, HAProxy sends a
    PROXY header on its checks too: v2 uses the LOCAL command)."""
    option = SERVER_OPTIONS[proxy]
    checks = " check inter 200ms fall 1 rise 1" + (" check-send-proxy" if proxy else "") if check else ""
    servers = "\n".join(f"    server relay{i} 127.0.0.1:{p} {option}{checks}".rstrip()
                        for i, p in enumerate(backends))
    return f"""global
    maxconn 4096

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
{servers}
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
                  port: int | None = None, timeout: float = 15) -> HAProxy:
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
        config.write_text(haproxy_config(chosen, backends, proxy, check))
        proc = procs.start(name, [haproxy_binary(), "-db", "-f", config])
        deadline = time.monotonic() + timeout
        while proc.alive() and not _listening(chosen) and time.monotonic() < deadline:
            time.sleep(0.02)
        if proc.alive() and _listening(chosen):
            return HAProxy(proc, chosen, config)
        proc.stop(timeout=5)
        last_error = proc.stderr_tail()
    raise RuntimeError(f"haproxy did not start listening\n{last_error}")
