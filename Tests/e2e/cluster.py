"""Starting, watching and stopping the processes the end-to-end tests need.

Every process is started with its stdout read by a thread (so readiness lines
are seen as soon as they are printed and the pipe never fills) and its stderr
written to a file (for assertions on log lines and for failure reports).
Nothing here sleeps to synchronise: waits poll a condition until a deadline.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TENANT_DOMAIN = "tunnel.localhost"
RELAY_HOST = "relay.localhost"
AGENT_HOST = "agents.relay.localhost"

#: Every process started by any test, for failure reports and last-resort cleanup.
ALL: list["Proc"] = []


def wait_until(predicate, timeout: float, what: str, interval: float = 0.02):
    """Polls `predicate` until it returns something truthy; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    """A port that was free a moment ago (only for programs that cannot bind port 0
    and tell us, or when a restart must reuse the same port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Proc:
    """A child process: stdout lines collected by a thread, stderr in a file."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log = logdir / f"{name}-{len(ALL)}.stderr.log"
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._stderr = open(self.log, "wb")
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env,
        )
        self.pid = self.popen.pid
        ALL.append(self)
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self):
        for raw in self.popen.stdout:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float = 30) -> re.Match:
        """The first stdout line matching `pattern`; fails early if the process exits."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if m := rx.search(line):
                        return m
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.popen.returncode} before "
                                       f"printing /{pattern}/\n{self.stderr_tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name} printed no /{pattern}/ in {timeout}s\n"
                                       f"{self.stderr_tail()}")
                self._cond.wait(min(left, 0.1))

    def stderr_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stderr_tail(self, n: int = 40) -> str:
        return "\n".join(self.stderr_text().splitlines()[-n:])

    def wait_stderr(self, pattern: str, timeout: float = 10) -> re.Match:
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.stderr_text()), timeout,
                          f"/{pattern}/ in {self.name} stderr")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig=signal.SIGTERM):
        if self.alive():
            self.popen.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; only this process's own PID."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._stderr.close()
        return self.popen.returncode

    def rss_kib(self) -> int:
        """Current resident set size from /proc (0 once the process is gone)."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


class Processes:
    """What one fixture started; `stop_all` ends exactly those PIDs, newest first."""

    def __init__(self, bins: Path, pki: Path, logdir: Path):
        self.bins, self.pki, self.logdir = bins, pki, logdir
        self.procs: list[Proc] = []
        #: Files outside pytest's tmp dirs (unix sockets, whose paths must be short),
        #: removed by `stop_all` once the processes that used them are gone.
        self.outside_files: list[Path] = []

    def start(self, name: str, argv: list, env=None) -> Proc:
        proc = Proc(name, argv, self.logdir, env)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.procs):
            proc.stop(timeout=5)
        self.procs.clear()
        for path in self.outside_files:
            path.unlink(missing_ok=True)
        self.outside_files.clear()

    # -- the programs under test -------------------------------------------

    def demo_app(self) -> "DemoApp":
        proc = self.start("demo-app", [self.bins / "demo-app", "--listen", "127.0.0.1:0"])
        m = proc.wait_line(r"^demo-app ready http=127\.0\.0\.1:(\d+)$")
        return DemoApp(proc, int(m.group(1)))

    def relay(self, port: int = 0, extra: list | None = None) -> "Relay":
        pki = self.pki
        argv = [self.bins / "relay", "run",
                "--listen", f"127.0.0.1:{port}", "--hostname", RELAY_HOST,
                "--cert", pki / "relay.pem", "--key", pki / "relay.key",
                "--agent-hostname", AGENT_HOST, "--agent-ca", pki / "agent-ca.pem",
                "--tenant-domain", TENANT_DOMAIN, "--admin-listen", "127.0.0.1:0",
                *(extra or [])]
        proc = self.start("relay", argv)
        m = proc.wait_line(r"^relay ready public=127\.0\.0\.1:(\d+) admin=127\.0\.0\.1:(\d+)$")
        return Relay(proc, int(m.group(1)), int(m.group(2)))

    def agent(self, relay: "Relay | None", upstream: str, tenant: str = "acme",
              cert_tenant: str | None = None, client_cert: tuple | None = None,
              extra: list | None = None, wait: bool = True, relay_port: int | None = None) -> "Agent":
        """An agent for `tenant`. `cert_tenant` picks another tenant's server cert,
        `client_cert` another (cert, key) pair, both for refusal tests; `relay_port`
        dials something in front of the relay (a delay proxy) instead of the relay,
        or a stand-in relay (then `relay` is None and `wait` False)."""
        pki = self.pki
        cert, key = client_cert or (pki / "tenants" / tenant / "agent.pem",
                                    pki / "tenants" / tenant / "agent.key")
        served = pki / "tenants" / (cert_tenant or tenant)
        previous = {a["connection"] for a in relay.agents(tenant)} if relay else set()
        argv = [self.bins / "agent", "run",
                "--relay", f"127.0.0.1:{relay_port or relay.port}", "--relay-hostname", AGENT_HOST,
                "--relay-ca", pki / "ca.pem", "--cert", cert, "--key", key,
                "--tenant-cert", served / "tenant.pem", "--tenant-key", served / "tenant.key",
                "--upstream", upstream, "--reconnect-base", "0.1", "--reconnect-max", "1",
                "--admin-listen", "127.0.0.1:0", *(extra or [])]
        agent = Agent(self.start(f"agent-{tenant}", argv), tenant)
        if wait:
            agent.connection = relay.wait_agent(tenant, exclude=previous, proc=agent.proc)
        return agent


class DemoApp:
    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port

    @property
    def upstream(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


class Relay:
    def __init__(self, proc: Proc, port: int, admin_port: int):
        self.proc, self.port, self.admin_port = proc, port, admin_port

    def admin(self, path: str, timeout: float = 5):
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()

    def agents(self, tenant: str | None = None) -> list[dict]:
        status, body = self.admin("/agents")
        assert status == 200, f"GET /agents -> {status}"
        items = json.loads(body)
        assert isinstance(items, list), f"/agents is not a JSON array: {body[:200]!r}"
        return [a for a in items if tenant is None or a.get("tenant") == tenant]

    def agent_total(self, key: str, tenant: str | None = None) -> int:
        """A counter of /agents (openStreams, stalledResets) summed over `tenant`'s connections."""
        return sum(a[key] for a in self.agents(tenant))

    def wait_agent(self, tenant: str, timeout: float = 20, exclude=(), proc: Proc | None = None):
        """The connection id of a newly registered agent of `tenant`."""
        def registered():
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}\n"
                                   f"{proc.stderr_tail()}")
            fresh = [a for a in self.agents(tenant) if a["connection"] not in exclude]
            return fresh[-1]["connection"] if fresh else None
        return wait_until(registered, timeout, f"agent {tenant} registered at the relay")

    def url(self, tenant: str = "acme", path: str = "/") -> str:
        return f"https://{tenant}.{TENANT_DOMAIN}:{self.port}{path}"


class Agent:
    def __init__(self, proc: Proc, tenant: str):
        self.proc, self.tenant = proc, tenant
        self.connection = None


def curl(pki: Path, relay: Relay, tenant: str = "acme", path: str = "/", *args,
         timeout: float = 30) -> subprocess.CompletedProcess:
    """curl through the relay's public port, trusting only the dev root CA."""
    host = f"{tenant}.{TENANT_DOMAIN}"
    argv = ["curl", "-sS", "--max-time", str(timeout), "--cacert", str(pki / "ca.pem"),
            "--resolve", f"{host}:{relay.port}:127.0.0.1", *args, relay.url(tenant, path)]
    return subprocess.run(argv, capture_output=True, timeout=timeout + 10)


def nginx_conf(workdir: Path, port: int, cert: Path, key: Path, root: Path) -> Path:
    """A foreground, single-process nginx on loopback with TLS and HTTP/2
    (nginx 1.22 spells it `listen … ssl http2`)."""
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {workdir}/nginx-access.log;
    client_body_temp_path {workdir}/client-body;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {root};
    }}
}}
""")
    return conf


def nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", "/usr/bin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return "nginx"
