"""Tools/bench orchestrator: starts the origin and every path on loopback, runs
the figures of issue 4, stops everything it started, writes the report.

Called by Tools/bench (which installs packages, builds and raises limits):
    python3 bench.py --bin DIR --pki DIR --tmp DIR --out FILE [--quick]
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients  # noqa: E402
#: Extra flags for both relay and agent, to compare settings in one machine state
#: (e.g. BENCH_TUNNEL_ARGS="--threads 1").
TUNNEL_ARGS = os.environ.get("BENCH_TUNNEL_ARGS", "").split()

HERE = os.path.dirname(os.path.abspath(__file__))
SNI = "acme.tunnel.localhost"
PATHS = ["A", "B", "C", "F", "E", "E2", "E3"]
PATH_NAMES = {
    "A": "direct to origin",
    "B": "nginx stream ssl_preread",
    "C": "ssh -R (aes128-gcm)",
    "F": "the design in plain C: two socat processes, AES-128-GCM TLS link (figures 1 and 5 only)",
    "E": "relay+agent tls://",
    "E2": "relay+agent tcp://",
    "E3": "relay+agent http:// (signed-in browser, the agent's reverse proxy to the plain-HTTP origin; figures 1–4 only)",
}
#: The relay + agent paths (their processes, CPU split and /agents).
TUNNELS = ("E", "E2", "E3")
#: Paths measured in figures 1–4 only: E3 is E2's route with the agent's HTTP front on top,
#: so its cost against E2 is what those figures show; the rest would repeat E2.
SESSION_PATHS = ("E3",)
#: Paths measured only in figures 1 and 5. F is the design in plain C for bulk bytes:
#: what a relay and an agent joined by an encrypted link must do per byte, no more. It forks a
#: process pair and dials a fresh TLS link for each browser connection, so the other
#: figures (new connections, many connections, idle ones) would measure that instead.
FLOOR_PATHS = ("F",)
#: One-way delay of the long link in figure 8: a 20 ms round trip, a relay in a
#: neighbouring region.
LINK_DELAY_MS = 10
#: Paths whose browsers share one connection (ssh's, the agent's): fairness is measured
#: again with the bulk downloads on a twin of the path, to split CPU load from sharing.
TWINS = ("C", "E", "E2")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")



def sshd_config(port, listen, keys):
    """Path C's sshd: key authentication only, forwarding on, AES-128-GCM (the cipher
    the tunnel's own link negotiates), host and client keys in `keys`."""
    return f"""Port {port}
ListenAddress {listen}
HostKey {keys}/host
PidFile none
AuthorizedKeysFile {keys}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
AllowTcpForwarding yes
Ciphers aes128-gcm@openssh.com
MaxStartups 100
LogLevel ERROR
"""

class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = a.tmp
        self.logs = os.path.join(a.tmp, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.procs = []          # (name, Popen) in start order
        self.pidfile = os.path.join(a.tmp, "pids")
        self.ca = os.path.join(a.pki, "ca.pem")
        self.port = {}           # path -> port clients connect to
        self.proxy_pids = {}     # path -> callable returning pids of the proxy processes
        self.admin = {}          # E/E2/E3 -> admin port
        self.cookie = {}         # E3 -> the agent's session cookie ("name=value")
        self.res = {p: {} for p in PATHS}
        self.notes = []
        self.quick = a.quick
        q = a.quick
        self.cfg = {
            "big_mib": 16 if q else 256,
            "reps": 3 if q else 5,
            "newconn_n": 50 if q else 300,
            "nagle_n": 20 if q else 50,
            "wrk_s": 2 if q else 8,
            "many": (200, 20),
            "idle_n": 1000 if q else 10000,
            "fair_n": 200 if q else 1000,
            "bulk": 4,
            "fair_s": 1.0 if q else 4.0,
            "long_reps": 1 if q else 3,
            "long_newconn_n": 20 if q else 60,
            "agents": (5, 20) if q else (10, 50),
            "agents_mib": 4 if q else 16,
        }
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if nofile < self.cfg["idle_n"] + 2000:
            self.notes.append(f"descriptor limit {nofile} is too low for {self.cfg['idle_n']} idle "
                              f"connections; using {nofile - 2000}")
            self.cfg["idle_n"] = max(100, nofile - 2000)

    # ---------------------------------------------------------------- processes
    def start(self, name, argv, stdin=subprocess.DEVNULL):
        out = open(os.path.join(self.logs, name + ".out"), "w")
        err = open(os.path.join(self.logs, name + ".err"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=stdin, start_new_session=False)
        self.procs.append((name, p))
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    def stop(self, name):
        for n, p in list(self.procs):
            if n == name:
                self._terminate(p)
                self.procs.remove((n, p))

    @staticmethod
    def _terminate(p, grace=5.0):
        if p.poll() is not None:
            return
        kids = descendants(p.pid)
        try:
            p.terminate()
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=grace)
        for pid in kids:  # e.g. sshd session processes of the sshd we started
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def stop_all(self):
        for _, p in reversed(self.procs):
            try:
                self._terminate(p)
            except Exception as e:  # noqa: BLE001
                print(f"bench: could not stop {p.pid}: {e}", file=sys.stderr)
        self.procs.clear()

    #: How long a process may take to come up (wait_for's default).
    wait_limit = 30.0

    def wait_for(self, what, pred, limit=None):
        deadline = time.monotonic() + (limit or self.wait_limit)
        while time.monotonic() < deadline:
            if pred():
                return
            for n, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{n} exited ({p.returncode}) while waiting for {what}; "
                                       f"see {self.logs}/{n}.err")
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {what}")

    # ------------------------------------------------------------------- setup
    def files(self):
        www = os.path.join(self.tmp, "www")
        os.makedirs(os.path.join(www, "up"), exist_ok=True)
        with open(os.path.join(www, "1k"), "wb") as f:
            f.write(os.urandom(clients.SMALL_SIZE))
        self.big = os.path.join(www, "big")
        chunk = os.urandom(1 << 20)
        with open(self.big, "wb") as f:
            for _ in range(self.cfg["big_mib"]):
                f.write(chunk)
        self.big_bytes = self.cfg["big_mib"] << 20
        with open(os.path.join(www, "per-tenant"), "wb") as f:
            for _ in range(self.cfg["agents_mib"]):
                f.write(chunk)
        self.www = www

    def nginx_conf(self, name, body, modules=""):
        ng = os.path.join(self.tmp, "ngx-" + name)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(ng, d), exist_ok=True)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        conf = f"""{modules}
user root;
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile {nofile};
pid {ng}/nginx.pid;
error_log {self.logs}/nginx-{name}.log warn;
events {{ worker_connections 40000; multi_accept on; }}
{body}
"""
        path = os.path.join(ng, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return path, ng

    def start_origin(self):
        self.origin_tls, self.origin_plain = free_port(), free_port()
        pki = self.a.pki
        ng = os.path.join(self.tmp, "ngx-origin")
        loc = f"""root {self.www};
        location /up/ {{ dav_methods PUT; create_full_put_path on; client_body_buffer_size 1m; }}"""
        body = f"""http {{
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_timeout 600s; keepalive_requests 1000000;
    client_header_timeout 600s; client_body_timeout 600s; send_timeout 600s;
    client_max_body_size 0;
    client_body_temp_path {ng}/body; proxy_temp_path {ng}/proxy;
    fastcgi_temp_path {ng}/fastcgi; uwsgi_temp_path {ng}/uwsgi; scgi_temp_path {ng}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{self.origin_tls} ssl backlog=4096;
        server_name {SNI};
        ssl_protocols TLSv1.3;
        ssl_certificate {pki}/tenants/acme/tenant.pem;
        ssl_certificate_key {pki}/tenants/acme/tenant.key;
        {loc}
    }}
    server {{
        listen 127.0.0.1:{self.origin_plain} backlog=4096;
        server_name {SNI};
        {loc}
    }}
}}"""
        conf, _ = self.nginx_conf("origin", body)
        self.start("nginx-origin", ["nginx", "-e", f"{self.logs}/nginx-origin.log", "-c", conf])
        self.wait_for("origin nginx", lambda: port_open(self.origin_tls) and port_open(self.origin_plain))
        self.port["A"] = self.origin_tls
        self.proxy_pids["A"] = lambda: []

    def start_l4(self):
        port = free_port()
        body = f"""stream {{
    map $ssl_preread_server_name $up {{ {SNI} 127.0.0.1:{self.origin_tls}; default 127.0.0.1:9; }}
    server {{ listen 127.0.0.1:{port} backlog=4096; ssl_preread on; proxy_pass $up; }}
}}"""
        conf, _ = self.nginx_conf("l4", body, "load_module /usr/lib/nginx/modules/ngx_stream_module.so;")
        p = self.start("nginx-l4", ["nginx", "-e", f"{self.logs}/nginx-l4.log", "-c", conf])
        self.wait_for("L4 nginx", lambda: port_open(port))
        self.port["B"] = port
        self.proxy_pids["B"] = lambda: [p.pid] + descendants(p.pid)

    def start_ssh(self):
        d = os.path.join(self.tmp, "ssh")
        os.makedirs(d, mode=0o700, exist_ok=True)
        for key in ("host", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/{key}"],
                           check=True, stdout=subprocess.DEVNULL)
        shutil.copy(f"{d}/id.pub", f"{d}/authorized_keys")
        sport, cport = free_port(), free_port()
        with open(f"{d}/sshd_config", "w") as f:
            f.write(sshd_config(sport, "127.0.0.1", d))
        sshd = self.start("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config"])
        self.wait_for("sshd", lambda: port_open(sport))
        self.sshd = (sshd, sport, d)
        self.start_ssh_client("C", sport)

    def start_ssh_client(self, path, sport):
        """`ssh -R` for `path`, dialling sshd at `sport` (sshd's port, or a delay proxy's)."""
        sshd, _, d = self.sshd
        cport = free_port()
        # -tt: a session with a pty, kept open, so both ends mark the connection
        # interactive and set TCP_NODELAY (as an ssh user's real session would).
        ssh = self.start(f"ssh-{path}", [
            "ssh", "-tt", "-p", str(sport), "-i", f"{d}/id",
            "-o", "Ciphers=aes128-gcm@openssh.com", "-o", "Compression=no",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
            "-R", f"127.0.0.1:{cport}:127.0.0.1:{self.origin_tls}",
            "root@127.0.0.1", "sleep 86400"], stdin=subprocess.PIPE)
        self.wait_for(f"ssh -R ({path})", lambda: port_open(cport))
        self.port[path] = cport
        self.proxy_pids[path] = lambda: [sshd.pid] + descendants(sshd.pid) + [ssh.pid]

    def start_floor(self):
        """Path F: the same two hops as a tunnel, each a plain socat (C, one `select` loop,
        256 KiB buffers, TCP_NODELAY), joined by a TLS link with AES-128-GCM as the
        tunnel's and ssh's are (TLS 1.2: socat cannot choose TLS 1.3 suites; the bytes
        cost the same). The relay side verifies the link against the development CA; the
        agent side, the link's TLS server here, asks for no client certificate (no cost
        per byte). Nothing a relay and an agent must do per byte is left out and nothing
        else is added. A connection per browser, forked: FLOOR_PATHS."""
        pki = self.a.pki
        link, port = free_port(), free_port()
        with open(os.path.join(self.tmp, "floor.pem"), "w") as f:
            for part in ("relay.pem", "relay.key"):
                with open(f"{pki}/{part}") as src:
                    f.write(src.read())
        suites = "ECDHE-ECDSA-AES128-GCM-SHA256"
        tls = f"openssl-min-proto-version=TLS1.2,openssl-max-proto-version=TLS1.2,cipher={suites}"
        agent = self.start("socat-agent", [
            "socat", "-b", "262144",
            f"OPENSSL-LISTEN:{link},bind=127.0.0.1,reuseaddr,fork,nodelay,cert={self.tmp}/floor.pem,verify=0,{tls}",
            f"TCP:127.0.0.1:{self.origin_tls},nodelay"])
        relay = self.start("socat-relay", [
            "socat", "-b", "262144", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay",
            f"OPENSSL:127.0.0.1:{link},nodelay,cafile={self.ca},commonname=relay.localhost,{tls}"])
        self.wait_for("socat pair", lambda: port_open(link) and port_open(port))
        self.port["F"] = port
        # Each connection is a forked child that exits when it ends: its CPU is counted
        # in its parent's cutime and cstime once reaped (see fig_transfer).
        self.proxy_pids["F"] = lambda: [agent.pid, relay.pid]
        self.floor_roles = {"relay": relay.pid, "agent": agent.pid}

    def start_delay(self, name, to_port, delay_ms):
        """A delay proxy (`delayproxy.py`) in front of `to_port`; returns its port."""
        p = self.start(f"delay-{name}", [sys.executable, os.path.join(HERE, "delayproxy.py"),
                                         "--listen", "0", "--to", f"127.0.0.1:{to_port}",
                                         "--delay-ms", str(delay_ms)])
        out = os.path.join(self.logs, f"delay-{name}.out")
        found = {}

        def ready():
            m = re.search(r"delayproxy ready port=(\d+)", open(out).read())
            if m:
                found["port"] = int(m.group(1))
            return bool(m)

        self.wait_for(f"delay proxy {name}", ready)
        return found["port"]

    def start_relay(self, name, extra=()):
        """A relay; returns (process, its public port, its admin port)."""
        pki = self.a.pki
        relay = self.start(f"relay-{name}", [
            f"{self.a.bin}/relay", "run", "--listen", "127.0.0.1:0", "--hostname", "relay.localhost",
            "--cert", f"{pki}/relay.pem", "--key", f"{pki}/relay.key",
            "--agent-hostname", "agents.relay.localhost", "--agent-ca", f"{pki}/agent-ca.pem",
            "--tenant-domain", "tunnel.localhost", "--admin-listen", "127.0.0.1:0",
            # Every bench client comes from 127.0.0.1 (10,000 idle connections in figure 6).
            "--max-tunnels-per-address", "0",
            "--log-level", "warning", *extra, *TUNNEL_ARGS])
        out = os.path.join(self.logs, f"relay-{name}.out")
        ready = {}

        def relay_ready():
            with open(out) as f:
                m = re.search(r"relay ready public=127\.0\.0\.1:(\d+) admin=127\.0\.0\.1:(\d+)", f.read())
            if m:
                ready["public"], ready["admin"] = int(m.group(1)), int(m.group(2))
            return bool(m)

        self.wait_for(f"relay {name}", relay_ready)
        return relay, ready["public"], ready["admin"]

    def start_agent(self, name, link, upstream, tenant="acme", extra=()):
        """An agent for `tenant` (its own certificates from the PKI) dialling the relay at `link`."""
        pki = self.a.pki
        return self.start(f"agent-{name}", [
            f"{self.a.bin}/agent", "run", "--relay", f"127.0.0.1:{link}",
            "--relay-hostname", "agents.relay.localhost", "--relay-ca", f"{pki}/ca.pem",
            "--cert", f"{pki}/tenants/{tenant}/agent.pem", "--key", f"{pki}/tenants/{tenant}/agent.key",
            "--tenant-cert", f"{pki}/tenants/{tenant}/tenant.pem",
            "--tenant-key", f"{pki}/tenants/{tenant}/tenant.key",
            "--upstream", upstream, "--log-level", "warning", "--admin-listen", "127.0.0.1:0",
            *extra, *TUNNEL_ARGS])

    def start_tunnel(self, path, upstream, link_delay_ms=0):
        relay_extra, agent_extra = self.sign_in_args(path) if path in SESSION_PATHS else ((), ())
        relay, public, admin = self.start_relay(path, relay_extra)
        link = public
        if link_delay_ms:
            link = self.start_delay(path, link, link_delay_ms)
        agent = self.start_agent(path, link, upstream, extra=agent_extra(public) if agent_extra else ())
        self.admin[path] = admin
        self.wait_for(f"agent {path} registered", lambda: len(self.agents(path)) == 1)
        self.port[path] = public
        self.proxy_pids[path] = lambda: [relay.pid, agent.pid]
        self.roles = getattr(self, "roles", {})
        self.roles[path] = {"relay": relay.pid, "agent": agent.pid}
        if path in SESSION_PATHS:
            self.sign_in(path)

    def sign_in_args(self, path):
        """A store with one user granted `acme` (made with the relay's own CLI), and the
        flags that give relay and agent the sign-in: (relay flags, agent flags by port)."""
        store = os.path.join(self.tmp, f"store-{path}.sqlite")
        relay = f"{self.a.bin}/relay"
        for argv, stdin in ((["user", "add", "bench"], "bench-password\n"),
                            (["tenant", "add", "acme", "--name", "Acme"], None),
                            (["grant", "bench", "acme"], None)):
            subprocess.run([relay, *argv, "--store", store], input=stdin, text=True,
                           capture_output=True, check=True, timeout=30)
        pki = self.a.pki
        return (("--store", store, "--signing-key", f"{pki}/signing.key"),
                lambda port: ("--relay-public-key", f"{pki}/signing.pub",
                              "--relay-url", f"https://relay.localhost:{port}"))

    def sign_in(self, path):
        """Signs `bench` in the way a browser does (the relay's form with its CSRF token,
        /open/acme, the ticket redeemed at the agent) and keeps the agent's session cookie
        for every client of `path`."""
        jar = os.path.join(self.tmp, f"cookies-{path}")
        port = self.port[path]
        resolve = ["--resolve", f"relay.localhost:{port}:127.0.0.1"]
        form = self.curl_to(SNI, port, [*resolve, "-c", jar, f"https://relay.localhost:{port}/signin"], 20)
        m = re.search(r'name="csrf" value="([^"]+)"', form.stdout)
        if not m:
            raise RuntimeError(f"{path}: no CSRF token on the sign-in page: {form.stdout[:200]} {form.stderr[:200]}")
        landed = self.curl_to(SNI, port, [
            *resolve, "-b", jar, "-c", jar, "-L", "-o", "/dev/null", "-w", "%{http_code} %{url_effective}",
            "--data-urlencode", "username=bench", "--data-urlencode", "password=bench-password",
            "--data-urlencode", f"csrf={m.group(1)}", "--data-urlencode", "next=/open/acme",
            f"https://relay.localhost:{port}/signin"], 20)
        with open(jar) as f:
            session = re.search(r"\t(__Host-h2t-session)\t(\S+)$", f.read(), re.M)
        if not session:
            raise RuntimeError(f"{path}: sign-in gave no agent session: {landed.stdout} {landed.stderr[:200]}")
        self.cookie[path] = f"{session.group(1)}={session.group(2)}"
        clients.SESSION[port] = self.cookie[path]

    def agents(self, path, tenant="acme"):
        """The relay's /agents entries for `tenant` (None: every tenant)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin[path]}/agents", timeout=2) as r:
                return [x for x in json.load(r) if tenant is None or x.get("tenant") == tenant]
        except (OSError, ValueError):
            return []

    # ----------------------------------------------------------------- helpers
    def url(self, path, rest):
        return f"https://{SNI}:{self.port[path]}{rest}"

    def curl(self, path, args, limit=300):
        cookie = ["-H", f"Cookie: {self.cookie[path]}"] if path in self.cookie else []
        return self.curl_to(SNI, self.port[path], cookie + args, limit)

    def curl_to(self, host, port, args, limit=300):
        """curl with `host` resolved to 127.0.0.1:`port`, verifying against the development CA."""
        argv = ["curl", "-sS", "--cacert", self.ca, "--resolve", f"{host}:{port}:127.0.0.1",
                "--max-time", str(limit)] + args
        return subprocess.run(argv, capture_output=True, text=True, timeout=limit + 10)

    def sanity(self):
        for p in PATHS:
            if p not in self.port:
                self.res[p]["sanity"] = False
                continue
            r = self.curl(p, ["-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}",
                              self.url(p, "/1k")], 20)
            ok = r.returncode == 0 and r.stdout.strip() == "200 0"
            self.res[p]["sanity"] = ok
            if not ok:
                self.notes.append(f"path {p} failed its verified curl: rc={r.returncode} "
                                  f"{r.stdout.strip()} {r.stderr.strip()[:200]}")

    def live(self, floor=False, session=False):
        """Paths that passed their verified curl; FLOOR_PATHS only if `floor`, SESSION_PATHS
        only if `session`."""
        return [p for p in PATHS if self.res[p].get("sanity") and (floor or p not in FLOOR_PATHS)
                and (session or p not in SESSION_PATHS)]

    # ----------------------------------------------------------------- figures
    def fig_transfer(self):
        n = self.cfg["reps"]
        down = {p: [] for p in PATHS}
        up = {p: [] for p in PATHS}
        cpu = {p: {} for p in PATHS}
        moved = {p: 0 for p in PATHS}
        threads = {p: {} for p in PATHS}
        for rep in range(n):
            for p in self.live(floor=True, session=True):
                for kind in ("down", "up"):
                    pids = self.proxy_pids[p]()
                    reaped = p in FLOOR_PATHS   # they fork a process per connection
                    before = cpu_by_pid(pids, reaped)
                    tb = thread_cpu(self.roles[p]) if p in TUNNELS else None
                    t0 = time.perf_counter()
                    mbps = self.one_transfer(p, kind, rep)
                    dt = time.perf_counter() - t0
                    if reaped and not wait_reaped(pids):
                        self.notes.append(f"{p} {kind} #{rep}: a forked child outlived the transfer "
                                          "by 5 s; its CPU is missing from figure 5")
                    after = cpu_by_pid(pids, reaped)
                    if mbps is None:
                        continue
                    (down if kind == "down" else up)[p].append(mbps)
                    moved[p] += self.big_bytes
                    for role, d in self.cpu_roles(p, before, after).items():
                        cpu[p][role] = cpu[p].get(role, 0.0) + d
                    if tb is not None and kind == "down":
                        ta = thread_cpu(self.roles[p])
                        for key, v in ta.items():
                            busy = (v - tb.get(key, 0.0)) / dt
                            threads[p][key] = max(threads[p].get(key, 0.0), busy)
        for p in PATHS:
            r = self.res[p]
            r["down_MBps"] = statistics.median(down[p]) if down[p] else None
            r["up_MBps"] = statistics.median(up[p]) if up[p] else None
            r["down_all"] = down[p]
            r["up_all"] = up[p]
            if moved[p] and cpu[p]:
                gb = moved[p] / 1e9
                r["cpu_per_GB"] = {k: v / gb for k, v in cpu[p].items()}
            r["busiest_threads_during_download"] = dict(
                sorted(threads[p].items(), key=lambda kv: -kv[1])[:4])

    def one_transfer(self, p, kind, rep):
        """One download or upload of the big file on path `p`: MB/s, or None (noted)."""
        if kind == "down":
            args = ["-o", "/dev/null", "-w", "%{http_code} %{size_download}", self.url(p, "/big")]
        else:
            args = ["-o", "/dev/null", "-H", "Expect:", "-T", self.big,
                    "-w", "%{http_code} %{size_upload}", self.url(p, f"/up/{p}-{rep}")]
        t0 = time.perf_counter()
        r = self.curl(p, args)
        dt = time.perf_counter() - t0
        fields = r.stdout.split()
        if r.returncode != 0 or len(fields) != 2 or int(fields[1]) != self.big_bytes \
                or fields[0] not in ("200", "201", "204"):
            self.notes.append(f"{p} {kind} #{rep} failed: rc={r.returncode} "
                              f"{r.stdout.strip()} {r.stderr.strip()[:200]}")
            return None
        if kind == "up" and not self.take_upload(f"{p}-{rep}"):
            self.notes.append(f"{p} up #{rep}: origin stored a different size")
            return None
        return self.big_bytes / dt / 1e6

    def fig_long_link(self):
        """Downloads and uploads when the link between the two halves of a tunnel is long:
        a delay proxy (`delayproxy.py`, LINK_DELAY_MS each way) between agent and relay,
        and between ssh and sshd. The browser and the origin stay on loopback."""
        d = LINK_DELAY_MS
        names = []
        try:
            names += ["ssh-Cw", "delay-Cw"]
            self.start_ssh_client("Cw", self.start_delay("Cw", self.sshd[1], d))
            names += ["agent-Ew", "delay-Ew", "relay-Ew"]
            self.start_tunnel("Ew", f"tls://127.0.0.1:{self.origin_tls}", link_delay_ms=d)
            names += ["agent-E2w", "delay-E2w", "relay-E2w"]
            self.start_tunnel("E2w", f"tcp://127.0.0.1:{self.origin_plain}", link_delay_ms=d)
            got = {p: {"down": [], "up": []} for p in ("C", "E", "E2")}
            self.long_link_newconn(got)
            for rep in range(self.cfg["long_reps"]):
                for p in got:
                    for kind in ("down", "up"):
                        mbps = self.one_transfer(p + "w", kind, rep)
                        if mbps is not None:
                            got[p][kind].append(mbps)
            for p, r in got.items():
                self.res[p]["long_down_MBps"] = statistics.median(r["down"]) if r["down"] else None
                self.res[p]["long_up_MBps"] = statistics.median(r["up"]) if r["up"] else None
                self.res[p]["long_all"] = r
        finally:
            for name in names:
                self.stop(name)

    def long_link_newconn(self, paths):
        """New-connection latency across the long link, and from it the link round trips
        each new connection costs: (p50 here − loopback p50 of figure 2) ÷ the link's
        round trip. A TLS 1.3 handshake plus one request needs two (the ClientHello out
        and the server's flight back; the request out and the response back); a path
        that holds the ClientHello until its far half has answered needs a third."""
        rtt_ms = 2 * LINK_DELAY_MS
        n, chunk = self.cfg["long_newconn_n"], 10
        lat = {p: [] for p in paths}
        for p in paths:
            clients.new_connection_latency(self.port[p + "w"], self.ca, SNI, 2)  # warm-up
        for _ in range(0, n, chunk):
            for p in paths:
                l, e = clients.new_connection_latency(self.port[p + "w"], self.ca, SNI, chunk)
                lat[p] += l
                self.res[p]["long_newconn_errors"] = self.res[p].get("long_newconn_errors", 0) + e
        for p in paths:
            r = self.res[p]
            if not lat[p]:
                continue
            r["long_newconn_p50_ms"] = percentile(lat[p], 50) * 1e3
            if r.get("newconn_p50_ms") is not None:
                r["long_newconn_rtts"] = (r["long_newconn_p50_ms"] - r["newconn_p50_ms"]) / rtt_ms

    def fig_agents(self):
        """Figure 9 (beyond issue 4's list): what one more company costs a relay, idle and
        after traffic. One relay; `few` agents connect (tenants t1…, each with its own
        certificates, `tcp://` to the plain-HTTP origin) and each carries one verified
        download of `agents_mib` MiB; then the other `many` − `few` connect, and later carry
        theirs. The relay's RSS between those steps, ÷ (`many` − `few`), is what each
        further agent connection costs: a slope, because the first one also pays the
        relay's one-time set-up (threads' heaps, OpenSSL, nghttp2)."""
        few, many = self.cfg["agents"]
        tenants = [f"t{i}" for i in range(1, many + 1)]
        upstream = f"tcp://127.0.0.1:{self.origin_plain}"
        names = []
        errors = 0
        try:
            relay, public, admin = self.start_relay("fleet")
            names.append("relay-fleet")
            self.admin["fleet"] = admin

            def connect(group):
                for t in group:
                    self.start_agent(f"fleet-{t}", public, upstream, tenant=t)
                    names.append(f"agent-fleet-{t}")
                total = len(names) - 1
                self.wait_for(f"{total} agents registered",
                              lambda: len(self.agents("fleet", tenant=None)) == total, 60)

            def download(group):
                nonlocal errors
                for t in group:
                    host = f"{t}.tunnel.localhost"
                    r = self.curl_to(host, public, ["-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                                                    f"https://{host}:{public}/per-tenant"], 60)
                    if r.returncode != 0 or r.stdout.split() != ["200", str(self.cfg["agents_mib"] << 20)]:
                        errors += 1

            def rss():
                return rss_by_pid([relay.pid]).get(relay.pid, 0)

            connect(tenants[:few])
            download(tenants[:few])
            after_few = rss()
            connect(tenants[few:])
            idle_more = rss()
            download(tenants[few:])
            after_all = rss()
            added = many - few
            self.fleet = {"few": few, "many": many, "errors": errors,
                          "idle_kib": (idle_more - after_few) / added,
                          "traffic_kib": (after_all - after_few) / added,
                          "rss_kib": [after_few, idle_more, after_all]}
        finally:
            for name in reversed(names):
                self.stop(name)

    def take_upload(self, name):
        """Checks the origin stored the whole upload, then deletes it.

        Deleting matters for the figure, not only for space: on this VM a tmpfs
        write into fresh pages runs at ~300 MB/s, so leaving 256 MiB files behind
        made the origin's disk the bottleneck of every path (direct included)
        after the first upload; freed pages are reused at > 1 GB/s."""
        stored = os.path.join(self.www, "up", name)
        try:
            ok = os.path.getsize(stored) == self.big_bytes
            os.unlink(stored)
        except OSError:
            return False
        return ok

    def cpu_roles(self, p, before, after):
        d = {pid: after.get(pid, 0.0) - before.get(pid, 0.0) for pid in after}
        if p in TUNNELS:
            return {"relay": d.get(self.roles[p]["relay"], 0.0),
                    "agent": d.get(self.roles[p]["agent"], 0.0)}
        if p == "C":
            ssh_pid = self.proxy_pids["C"]()[-1]
            return {"sshd": sum(v for k, v in d.items() if k != ssh_pid),
                    "ssh": d.get(ssh_pid, 0.0)}
        if p == "B":
            return {"nginx": sum(d.values())}
        if p == "F":
            return {role: d.get(pid, 0.0) for role, pid in self.floor_roles.items()}
        return {}

    def fig_newconn(self):
        for p in self.live(session=True):
            clients.new_connection_latency(self.port[p], self.ca, SNI, 5)  # warm-up
        lat = {p: [] for p in PATHS}
        err = {p: 0 for p in PATHS}
        n = self.cfg["newconn_n"]
        chunk = 25
        for _ in range(0, n, chunk):   # interleave the paths in small chunks
            for p in self.live(session=True):
                l, e = clients.new_connection_latency(self.port[p], self.ca, SNI, chunk)
                lat[p] += l
                err[p] += e
        for p in self.live(session=True):
            r = self.res[p]
            if lat[p]:
                r["newconn_p50_ms"] = percentile(lat[p], 50) * 1e3
                r["newconn_p99_ms"] = percentile(lat[p], 99) * 1e3
            r["newconn_n"] = len(lat[p])
            r["newconn_errors"] = err[p]
        # Clients that leave Nagle on (Python's http.client, many scripts) hold their
        # request until the TLS Finished before it is acknowledged: a path that acks late
        # costs them the 40 ms delayed-ACK timer on every new connection.
        for p in self.live(session=True):
            l, e = clients.new_connection_latency(self.port[p], self.ca, SNI, self.cfg["nagle_n"], nodelay=False)
            if l:
                self.res[p]["newconn_nagle_p50_ms"] = percentile(l, 50) * 1e3
            self.res[p]["newconn_errors"] += e

    def fig_wrk(self):
        hosts = os.path.join(self.tmp, "hosts")
        with open(hosts, "w") as f:
            f.write(f"127.0.0.1 localhost\n127.0.0.1 {SNI}\n")
        for p in self.live(session=True):
            # wrk takes SNI from the URL host and resolves it with getaddrinfo;
            # glibc does not resolve *.localhost, so wrk runs in a private mount
            # namespace whose /etc/hosts names it. The real /etc/hosts is untouched.
            argv = ["unshare", "-m", "sh", "-c",
                    f'mount --bind "$0" /etc/hosts && exec wrk -t2 -c10 -d{self.cfg["wrk_s"]}s '
                    f'--timeout 5s --latency "$@"', hosts, self.url(p, "/1k")]
            if p in self.cookie:
                argv += ["-H", f"Cookie: {self.cookie[p]}"]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=self.cfg["wrk_s"] + 60)
            with open(os.path.join(self.logs, f"wrk-{p}.txt"), "w") as f:
                f.write(r.stdout + r.stderr)
            out = r.stdout
            res = self.res[p]
            m = re.search(r"Requests/sec:\s+([\d.]+)", out)
            res["wrk_rps"] = float(m.group(1)) if m else None
            for q in ("50", "99"):
                m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
                if m:
                    res[f"wrk_p{q}_ms"] = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
            errs = 0
            m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
            errs += int(m.group(1)) if m else 0
            m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
            errs += sum(int(x) for x in m.groups()) if m else 0
            m = re.search(r"(\d+) requests in", out)
            res["wrk_requests"] = int(m.group(1)) if m else 0
            res["wrk_errors"] = errs
            if r.returncode != 0 or res["wrk_rps"] is None:
                self.notes.append(f"wrk on {p} failed: rc={r.returncode} {r.stderr.strip()[:200]}")

    def fig_many(self):
        conns, reqs = self.cfg["many"]
        for p in self.live(session=True):
            out = clients.many(self.port[p], self.ca, SNI, conns, reqs)
            self.res[p]["many_total_s"] = out["total_s"]
            self.res[p]["many_errors"] = out["errors"]
            if out["errors"]:
                self.notes.append(f"{p} 200x20: {out}")

    def fig_idle(self):
        n = self.cfg["idle_n"]
        for p in ("B", "C", "E", "E2"):
            if p not in self.live():
                continue
            pids = self.proxy_pids[p]
            time.sleep(1.0)
            before = rss_by_pid(pids())
            streams_before = sum(x.get("openStreams", 0) for x in self.agents(p)) if p in ("E", "E2") else None
            state = os.path.join(self.tmp, f"hold-{p}.json")
            stop = os.path.join(self.tmp, f"hold-{p}.stop")
            holder = self.start(f"hold-{p}", [sys.executable, os.path.join(HERE, "clients.py"), "hold",
                                              "--port", str(self.port[p]), "--ca", self.ca,
                                              "--sni", SNI, "--n", str(n), "--state", state,
                                              "--stop", stop, "--limit", "240"])
            try:
                self.wait_for(f"{n} idle connections on {p}", lambda: os.path.exists(state), 260)
                time.sleep(2.0)
                held = json.load(open(state))
                during = rss_by_pid(pids())
                if p in ("E", "E2"):
                    ag = self.agents(p)
                    held["agent_connections"] = len(ag)
                    held["open_streams"] = sum(x.get("openStreams", 0) for x in ag)
                    held["open_streams_before"] = streams_before
                open(stop, "w").close()
                self.wait_for(f"holder {p} to finish", lambda: holder.poll() is not None, 120)
                end = json.load(open(state + ".end"))
                time.sleep(2.0)
                after = rss_by_pid(pids())
                if p in ("E", "E2"):
                    held["open_streams_after"] = sum(x.get("openStreams", 0) for x in self.agents(p))
                    if streams_before or held["open_streams_after"]:
                        # Every client is gone by now: a stream still open is a leak to chase.
                        self.notes.append(f"{p}: tunnel streams open with no client: {streams_before} before "
                                          f"the idle phase, {held['open_streams_after']} 2 s after it")
            finally:
                self.stop(f"hold-{p}")
            r = self.res[p]
            r["idle"] = {"held": held["held"], "errors": held["errors"], "open_s": held["open_s"],
                         "before_kib": sum(before.values()), "during_kib": sum(during.values()),
                         "after_close_kib": sum(after.values()), **end,
                         **{k: held[k] for k in ("agent_connections", "open_streams", "open_streams_before",
                                                  "open_streams_after") if k in held}}
            if held["held"]:
                r["idle_kib_per_conn"] = (sum(during.values()) - sum(before.values())) / held["held"]
                if p in ("E", "E2"):
                    rr, aa = self.roles[p]["relay"], self.roles[p]["agent"]
                    r["idle_kib_per_conn_split"] = {
                        "relay": (during.get(rr, 0) - before.get(rr, 0)) / held["held"],
                        "agent": (during.get(aa, 0) - before.get(aa, 0)) / held["held"]}
            if held.get("last_error"):
                self.notes.append(f"idle {p}: {held['errors']} errors, last {held['last_error']}")

    def fig_fair(self):
        n = self.cfg["fair_n"]
        for p in self.live():
            ka = clients.KeepAlive(self.port[p], self.ca, SNI)
            r = self.res[p]
            try:
                ka.series(20)  # warm-up
                # The same span of time idle and loaded: a fast path must not finish its
                # loaded series before the bulk downloads are really under way.
                sched = {}
                with self.scheduling(p, sched, "idle"):
                    idle, e1 = ka.series(n, self.cfg["fair_s"])
                with self.scheduling(p, sched, "loaded"):
                    loaded, e2, done = self.beside_bulk(ka, p)
                errors = e1 + e2
                apart = None
                # The same downloads through a twin of the path (its own ssh or relay +
                # agent connection): what is left is the CPU they take, not the sharing.
                if p in TWINS:
                    twin = self.start_twin(p)
                    try:
                        with self.scheduling(p, sched, "twin-loaded"):
                            apart, e3, _ = self.beside_bulk(ka, twin)
                    finally:
                        self.stop_twin(twin)
                    errors += e3
            finally:
                ka.close()
            if idle and loaded:
                r["fair_idle_p99_ms"] = percentile(idle, 99) * 1e3
                r["fair_load_p99_ms"] = percentile(loaded, 99) * 1e3
                r["fair_load_p50_ms"] = percentile(loaded, 50) * 1e3
                r["fair_idle_p50_ms"] = percentile(idle, 50) * 1e3
                r["fair_idle_max_ms"] = max(idle) * 1e3
                r["fair_ratio"] = r["fair_load_p99_ms"] / r["fair_idle_p99_ms"]
                if apart:
                    r["fair_apart_p99_ms"] = percentile(apart, 99) * 1e3
                    r["fair_apart_ratio"] = r["fair_apart_p99_ms"] / r["fair_idle_p99_ms"]
                    r["fair_share_ratio"] = r["fair_load_p99_ms"] / r["fair_apart_p99_ms"]
            r["fair_errors"] = errors
            r["fair_bulk_completed"] = done
            if sched:
                r["fair_sched"] = sched

    @contextlib.contextmanager
    def scheduling(self, p, into, phase):
        """How the kernel ran `p`'s relay and agent (E, E2) while the block ran, from
        /proc/PID/task/*/schedstat: share of one core busy, and run-queue wait per time
        slice, i.e. how long a wake-up waited for a core."""
        roles = self.roles.get(p) if p in ("E", "E2") else None
        if not roles:
            yield
            return
        before, t0 = {role: schedstat(pid) for role, pid in roles.items()}, time.monotonic()
        yield
        wall = time.monotonic() - t0
        for role, pid in roles.items():
            run, wait, slices = (a - b for a, b in zip(schedstat(pid), before[role]))
            into.setdefault(phase, {})[role] = {"busy": run / 1e9 / wall,
                                                "wait_ms": wait / 1e6 / max(1, slices)}

    def beside_bulk(self, ka, bulk_path):
        """`ka`'s small-request series while `bulk` curl downloads of `/big` loop through
        `bulk_path`; returns (latencies, errors, downloads completed)."""
        stop = threading.Event()
        procs = []
        lock = threading.Lock()
        done = [0]

        def bulk():
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                argv = ["curl", "-sS", "-o", "/dev/null", "--cacert", self.ca, "--resolve",
                        f"{SNI}:{self.port[bulk_path]}:127.0.0.1", "--max-time", "120",
                        self.url(bulk_path, "/big")]
                with lock:
                    if stop.is_set():
                        return
                    c = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    procs.append(c)
                c.wait()
                if c.returncode == 0:
                    done[0] += 1

        ts = [threading.Thread(target=bulk) for _ in range(self.cfg["bulk"])]
        for t in ts:
            t.start()
        time.sleep(0.5)
        try:
            loaded, errors = ka.series(self.cfg["fair_n"], self.cfg["fair_s"])
        finally:
            with lock:
                stop.set()
                for c in procs:
                    if c.poll() is None:
                        c.terminate()
            for t in ts:
                t.join(timeout=30)
        return loaded, errors, done[0]

    def start_twin(self, p):
        """A second instance of path `p` (C: another `ssh -R` to the same sshd; E, E2:
        another relay + agent) for bulk downloads that must not share `p`'s connection."""
        twin = f"{p}-twin"
        if p == "C":
            self.start_ssh_client(twin, self.sshd[1])
        else:
            self.start_tunnel(twin, self.upstreams[p])
        return twin

    def stop_twin(self, twin):
        for name in (f"ssh-{twin}", f"relay-{twin}", f"agent-{twin}"):
            self.stop(name)

    def check_streams_closed(self, phase):
        """Every client of `phase` is gone: a tunnel stream still open 3 s later is a leak
        to chase, noted with the agent's sockets so the next engineer can see which half
        still holds it."""
        for p in TUNNELS:
            if p not in self.live(session=True):
                continue
            deadline = time.monotonic() + 3.0
            while True:
                open_streams = sum(x.get("openStreams", 0) for x in self.agents(p))
                if open_streams == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if open_streams:
                ss = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
                agent, mine = f"pid={self.roles[p]['agent']},", f"pid={os.getpid()},"
                states = {}
                for line in ss.splitlines():
                    if agent in line:
                        states[line.split()[0]] = states.get(line.split()[0], 0) + 1
                held = sum(mine in line for line in ss.splitlines())
                self.notes.append(f"{p}: {open_streams} tunnel streams still open 3 s after '{phase}' "
                                  f"ended; agent sockets by state: {states}; sockets the bench "
                                  f"process itself still holds: {held}")

    # -------------------------------------------------------------------- run
    def setup(self):
        self.files()
        self.start_origin()
        self.start_l4()
        self.start_ssh()
        try:
            self.start_floor()
        except (OSError, RuntimeError) as e:   # F is a reference; the run goes on without it
            self.notes.append(f"path F (socat pair) did not start: {e}")
        self.upstreams = {"E": f"tls://127.0.0.1:{self.origin_tls}",
                          "E2": f"tcp://127.0.0.1:{self.origin_plain}",
                          "E3": f"http://127.0.0.1:{self.origin_plain}"}
        for p, upstream in self.upstreams.items():
            self.start_tunnel(p, upstream)
        self.sanity()

    def serve(self, seconds):
        """Keeps every path up for manual profiling; ports and PIDs in TMP/serve.json."""
        info = {"ports": self.port, "roles": self.roles, "ca": self.ca, "sni": SNI,
                "big": self.big, "stop": os.path.join(self.tmp, "serve.stop")}
        with open(os.path.join(self.tmp, "serve.json"), "w") as f:
            json.dump(info, f, indent=1)
        print(json.dumps(info), flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not os.path.exists(info["stop"]):
            time.sleep(0.5)

    def run(self):
        t0 = time.monotonic()
        self.setup()
        steps = [("download/upload", self.fig_transfer), ("new-connection latency", self.fig_newconn),
                 ("keep-alive wrk", self.fig_wrk), ("200x20", self.fig_many),
                 ("fairness", self.fig_fair), ("idle connections", self.fig_idle),
                 ("long link", self.fig_long_link), ("relay per agent", self.fig_agents)]
        for name, fn in steps:
            ts = time.monotonic()
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report what failed, keep going
                self.notes.append(f"figure '{name}' aborted: {e!r}")
                print(f"bench: {name} aborted: {e!r}", file=sys.stderr, flush=True)
            print(f"bench: {name} done in {time.monotonic() - ts:.1f}s", file=sys.stderr, flush=True)
            self.check_streams_closed(name)
        self.elapsed = time.monotonic() - t0


# -------------------------------------------------------------------- /proc
def descendants(pid):
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def times_of(path, reaped=False):
    """(utime, stime) in seconds; with `reaped`, plus those of the children it reaped."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    user, kernel = int(fields[11]), int(fields[12])
    if reaped:
        user, kernel = user + int(fields[13]), kernel + int(fields[14])
    return user / CLK_TCK, kernel / CLK_TCK


def cpu_of(path, reaped=False):
    """utime + stime, in seconds; with `reaped`, plus those of the children it reaped."""
    return sum(times_of(path, reaped))


def wait_reaped(pids, limit_s=5.0):
    """Until the forked children of `pids` have exited and been reaped (bounded); False
    if some were still there at the limit (their CPU is then not counted)."""
    deadline = time.monotonic() + limit_s
    while any(descendants(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def cpu_by_pid(pids, reaped=False, of=cpu_of):
    out = {}
    for pid in pids:
        try:
            out[pid] = of(f"/proc/{pid}/stat", reaped)
        except OSError:
            pass
    return out


def thread_cpu(roles):
    out = {}
    for role, pid in roles.items():
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    name = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
                    out[f"{role}:{tid}:{name}"] = cpu_of(f"/proc/{pid}/task/{tid}/stat")
                except OSError:
                    pass
        except OSError:
            pass
    return out


def schedstat(pid):
    """(ns on a core, ns runnable but waiting, time slices) summed over `pid`'s threads."""
    total = [0, 0, 0]
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return tuple(total)
    for tid in tids:
        try:
            for i, v in enumerate(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[:3]):
                total[i] += int(v)
        except (OSError, ValueError):
            pass
    return tuple(total)


def rss_by_pid(pids):
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
            out[pid] = int(m.group(1)) if m else 0
        except OSError:
            pass
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


percentile = clients.percentile


# ------------------------------------------------------------------- report
def fmt(v, digits=None):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, int) and digits is None:
        return f"{v:,}"
    if digits is None:
        a = abs(v)
        digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 1 else 3
    return f"{v:,.{digits}f}"


def ratio(x, y):
    if x is None or y is None or y == 0:
        return None
    return x / y


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
        mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, AttributeError):
        pass

    def ver(argv, pat):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            m = re.search(pat, r.stdout + r.stderr)
            return m.group(1) if m else "?"
        except OSError:
            return "?"

    return {
        "nproc": os.cpu_count(), "cpu": cpu, "mem": mem, "kernel": platform.release(),
        "aes_s_per_GB": aes_gcm_s_per_gb(),
        "nginx": ver(["nginx", "-v"], r"nginx/(\S+)"),
        "openssh": ver(["ssh", "-V"], r"(OpenSSH_\S+)"),
        "wrk": ver(["wrk", "-v"], r"wrk (\S+)"),
        "curl": ver(["curl", "-V"], r"curl (\S+)"),
        "openssl": ver(["openssl", "version"], r"OpenSSL (\S+)"),
        "python": platform.python_version(),
        "hop_us": clients.process_hop_us(),
    }


def aes_gcm_s_per_gb():
    """CPU seconds one core spends to AES-128-GCM-encrypt 1 GB in 16 KiB records (a full
    TLS record), from `openssl speed`: what each crossing of an encrypted link costs per
    byte at the least, before any copy or system call. None if it cannot be measured."""
    try:
        r = subprocess.run(["openssl", "speed", "-evp", "aes-128-gcm", "-bytes", "16384", "-seconds", "1"],
                           capture_output=True, text=True, timeout=30)
        m = re.search(r"^AES-128-GCM\s+([\d.]+)k", r.stdout, re.M)
        return 1e9 / (float(m.group(1)) * 1000) if m else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def report(b, a):
    R = b.res
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    m = machine()

    def get(p, key, sub=None):
        v = R[p].get(key)
        if sub is not None and isinstance(v, dict):
            v = v.get(sub)
        return v

    def fleet(p, key):
        """Figure 9 is one relay with `tcp://` agents: shown in column E2."""
        f = getattr(b, "fleet", None)
        return f.get(key) if f and p == "E2" else None

    def cpu_total(p):
        c = R[p].get("cpu_per_GB")
        return sum(c.values()) if c else None

    # rows: label, getter(path) -> value, better ('hi'|'lo'), target text, check(E value, A, C) -> bool|None
    rows = [
        ("1 download MB/s (median)", lambda p: get(p, "down_MBps"), "≥1.15×C, ≥0.65×A",
         lambda v, A, C: v is not None and A and C and v >= 1.15 * C and v >= 0.65 * A),
        ("1 upload MB/s (median)", lambda p: get(p, "up_MBps"), "≥1.15×C, ≥0.65×A",
         lambda v, A, C: v is not None and A and C and v >= 1.15 * C and v >= 0.65 * A),
        ("2 new-conn p50 ms", lambda p: get(p, "newconn_p50_ms"), "≤1.25×A",
         lambda v, A, C: v is not None and A and v <= 1.25 * A),
        ("2 new-conn p99 ms", lambda p: get(p, "newconn_p99_ms"), "", None),
        ("2 … p50 ms, client without TCP_NODELAY", lambda p: get(p, "newconn_nagle_p50_ms"), "", None),
        ("3 keep-alive req/s (wrk -c10)", lambda p: get(p, "wrk_rps"), "≥1.5×C",
         lambda v, A, C: v is not None and C and v >= 1.5 * C),
        ("3 keep-alive p50 ms", lambda p: get(p, "wrk_p50_ms"), "", None),
        ("3 keep-alive p99 ms", lambda p: get(p, "wrk_p99_ms"), "<1 ms",
         lambda v, A, C: v is not None and v < 1.0),
        (f"4 {b.cfg['many'][0]}×{b.cfg['many'][1]} total s", lambda p: get(p, "many_total_s"), "", None),
        (f"4 {b.cfg['many'][0]}×{b.cfg['many'][1]} errors", lambda p: get(p, "many_errors"), "0",
         lambda v, A, C: v == 0),
        ("5 proxy CPU s/GB (sum)", cpu_total, "", None),
        ("5 … relay (E, F) / nginx (B) / sshd (C) s/GB",
         lambda p: get(p, "cpu_per_GB", {"B": "nginx", "C": "sshd"}.get(p, "relay")), "", None),
        ("5 … agent (E, F) / ssh (C) s/GB",
         lambda p: get(p, "cpu_per_GB", {"C": "ssh"}.get(p, "agent")), "", None),
        (f"6 idle conns held (of {b.cfg['idle_n']:,})", lambda p: get(p, "idle", "held"),
         f"{b.cfg['idle_n']:,}", lambda v, A, C: v == b.cfg["idle_n"]),
        ("6 RSS KiB per idle conn (proxy total)", lambda p: get(p, "idle_kib_per_conn"), "≤16",
         lambda v, A, C: v is not None and v <= 16),
        ("7 small p99 ms, idle", lambda p: get(p, "fair_idle_p99_ms"), "", None),
        ("7 small p99 ms, 4 bulk downloads", lambda p: get(p, "fair_load_p99_ms"), "", None),
        ("7 loaded ÷ idle p99", lambda p: get(p, "fair_ratio"), "≤2",
         lambda v, A, C: v is not None and v <= 2),
        ("7 … small p99 ms, the 4 downloads through a twin path", lambda p: get(p, "fair_apart_p99_ms"), "", None),
        ("7 … twin-loaded ÷ idle p99 (CPU load alone)", lambda p: get(p, "fair_apart_ratio"), "", None),
        ("7 … loaded ÷ twin-loaded p99 (the sharing)", lambda p: get(p, "fair_share_ratio"), "", None),
        (f"8 download MB/s, {2 * LINK_DELAY_MS} ms link", lambda p: get(p, "long_down_MBps"), "", None),
        (f"8 upload MB/s, {2 * LINK_DELAY_MS} ms link", lambda p: get(p, "long_up_MBps"), "", None),
        (f"8 new-conn p50 ms, {2 * LINK_DELAY_MS} ms link", lambda p: get(p, "long_newconn_p50_ms"), "", None),
        ("8 … link round trips per new connection (2: none extra)", lambda p: get(p, "long_newconn_rtts"),
         "", None),
        (f"9 relay KiB per further agent connection, idle (`tcp://` agents, "
         f"{b.cfg['agents'][0]} → {b.cfg['agents'][1]})", lambda p: fleet(p, "idle_kib"), "", None),
        (f"9 … after a {b.cfg['agents_mib']} MiB download through each", lambda p: fleet(p, "traffic_kib"), "", None),
    ]
    L = []
    L.append("# H2Tunnel benchmark report")
    L.append("")
    L.append(f"- date: {now}; mode: {'quick (smoke test, small counts)' if b.quick else 'full'}; "
             f"wall time {b.elapsed:.0f} s")
    L.append(f"- machine: `nproc`={m['nproc']}, {m['cpu']}, {m['mem']} RAM, Linux {m['kernel']}; "
             f"one loopback hop between two processes (1-byte ping-pong ÷ 2, Python) {m['hop_us']:.0f} µs; "
             f"AES-128-GCM in 16 KiB records {fmt(m['aes_s_per_GB'], 3)} s/GB of one core (`openssl speed`)")
    L.append(f"- software: nginx {m['nginx']}, {m['openssh']}, wrk {m['wrk']}, curl {m['curl']}, "
             f"OpenSSL {m['openssl']}, Python {m['python']}")
    L.append(f"- tunnel binaries: {a.bin} ({a.rev})")
    c = b.cfg
    L.append(f"- counts: {c['reps']}× {c['big_mib']} MiB each way; new-connection n={c['newconn_n']} ({c['nagle_n']} without TCP_NODELAY); "
             f"wrk -t2 -c10 -d{c['wrk_s']}s; {c['many'][0]}×{c['many'][1]}; "
             f"{c['idle_n']:,} idle connections; fairness n≥{c['fair_n']} over ≥{c['fair_s']:g} s with {c['bulk']} bulk downloads; "
             f"long link: {c['long_reps']}× each way, new-connection n={c['long_newconn_n']}")
    L.append("- paths: " + "; ".join(f"**{p}** {PATH_NAMES[p]}" for p in PATHS))
    L.append("")
    hdr = ["figure"] + PATHS + ["E÷A", "E÷C", "E2÷A", "E2÷C", "E3÷E2", "target", "E", "E2"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "|".join(["---"] + ["--:"] * (len(hdr) - 4) + [":-:", ":-:", ":-:"]) + "|")
    verdicts = []
    for label, g, target, check in rows:
        vals = {p: g(p) for p in PATHS}
        cells = [label] + [fmt(vals[p]) for p in PATHS]
        for p, base in (("E", "A"), ("E", "C"), ("E2", "A"), ("E2", "C"), ("E3", "E2")):
            cells.append(fmt(ratio(vals[p], vals[base]), 2))
        cells.append(target)
        for p in ("E", "E2"):
            if check is None:
                cells.append("")
            else:
                try:
                    ok = bool(check(vals[p], vals["A"], vals["C"]))
                except TypeError:
                    ok = False
                cells.append("pass" if ok else "**miss**")
                verdicts.append((label, p, ok))
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    miss = [f"{p}: {label}" for label, p, ok in verdicts if not ok]
    L.append(f"Targets met: {sum(ok for *_, ok in verdicts)}/{len(verdicts)}"
             + (". Missed — " + "; ".join(miss) if miss else "."))
    L.append("")
    L.append("## Details")
    L.append("")
    for p in PATHS:
        r = R[p]
        bits = []
        if r.get("down_all"):
            bits.append("down MB/s " + ", ".join(f"{x:.0f}" for x in r["down_all"]))
        if r.get("up_all"):
            bits.append("up MB/s " + ", ".join(f"{x:.0f}" for x in r["up_all"]))
        if r.get("cpu_per_GB"):
            bits.append("CPU s/GB " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_per_GB"].items()))
        if r.get("busiest_threads_during_download"):
            bits.append("busiest threads during download (CPU ÷ wall) " + ", ".join(
                f"{k.split(':')[0]}/{k.split(':')[2]} {v:.0%}"
                for k, v in r["busiest_threads_during_download"].items()))
        if r.get("long_all"):
            la = r["long_all"]
            bits.append(f"{2 * LINK_DELAY_MS} ms link: down MB/s " + ", ".join(f"{x:.0f}" for x in la["down"])
                        + "; up MB/s " + ", ".join(f"{x:.0f}" for x in la["up"]))
        if "newconn_errors" in r:
            bits.append(f"new-conn errors {r['newconn_errors']}")
        if "long_newconn_errors" in r:
            bits.append(f"new-conn errors across the long link {r['long_newconn_errors']}")
        if "wrk_requests" in r:
            bits.append(f"wrk {r['wrk_requests']:,} requests, {r.get('wrk_errors', 0)} errors")
        if r.get("idle"):
            i = r["idle"]
            s = (f"idle: {i['held']:,} held, {i['errors']} errors, opened in {i['open_s']:.1f} s, "
                 f"proxy RSS {i['before_kib']:,} → {i['during_kib']:,} → {i['after_close_kib']:,} KiB "
                 f"(before → held → after close), {i.get('sampled_alive', 0)}/{i.get('sampled', 0)} "
                 f"sampled still answered")
            if "agent_connections" in i:
                s += (f"; /agents: {i['agent_connections']} agent connection, {i['open_streams']:,} open streams "
                      f"while held ({i['open_streams_before']:,} before opening)")
            if r.get("idle_kib_per_conn_split"):
                sp = r["idle_kib_per_conn_split"]
                s += f"; per conn relay {sp['relay']:.1f} KiB + agent {sp['agent']:.1f} KiB"
            bits.append(s)
        if "fair_errors" in r:
            bits.append(f"fairness: idle p50 {fmt(r.get('fair_idle_p50_ms'))} ms, max {fmt(r.get('fair_idle_max_ms'))} ms; "
                        f"loaded p50 {fmt(r.get('fair_load_p50_ms'))} ms, "
                        + (f"twin-loaded p99 {fmt(r['fair_apart_p99_ms'])} ms, " if "fair_apart_p99_ms" in r else "")
                        + f"{r.get('fair_bulk_completed', 0)} bulk downloads completed, "
                        f"{r['fair_errors']} errors")
            for phase, roles in r.get("fair_sched", {}).items():
                bits.append(f"{phase}: " + ", ".join(
                    f"{role} {v['busy']:.0%} of a core, waited {v['wait_ms']:.2f} ms per time slice"
                    for role, v in roles.items()))
        L.append(f"- **{p}** ({PATH_NAMES[p]}): " + ("; ".join(bits) if bits else "no data"))
    f = getattr(b, "fleet", None)
    if f:
        L.append(f"- **figure 9** (one relay, `tcp://` agents): relay RSS {f['rss_kib'][0]:,} KiB with "
                 f"{f['few']} agents after a download each, {f['rss_kib'][1]:,} with {f['many']} (the others "
                 f"idle), {f['rss_kib'][2]:,} after a download through each; {f['errors']} failed downloads")
    L.append("")
    L.append("## Method")
    L.append("")
    L.append(
        "One origin (nginx, TLS 1.3 only, the tenant's P-256 ECDSA certificate; `/1k`, `/big`, PUT "
        "to `/up/` via `dav_methods`, files on tmpfs) serves every path; E2's origin is the same nginx "
        "on a plain-HTTP port, and so is E3's. E3 signs in once the way a browser does (the relay's form "
        "and CSRF token, `/open/acme`, the ticket redeemed at the agent; the relay's own CLI made the user, "
        "tenant and grant) and every E3 client then sends the agent's session cookie, so each request goes "
        "through the agent's session check and reverse proxy. Every client (curl, Python `ssl`) verifies the certificate chain against "
        "the development CA and the name `acme.tunnel.localhost`, so a passing request proves the TLS "
        "session is end to end. Exception: wrk does not verify certificates; each path is checked with "
        "a verifying curl first, and wrk's non-2xx and socket errors are counted. wrk gets its SNI from "
        "the URL host; since glibc does not resolve `*.localhost`, wrk runs under `unshare -m` with a "
        "private bind-mounted `/etc/hosts` (the real one is never modified). ssh -R runs with a pty "
        "session kept open (`-tt … sleep`), so both ends set TCP_NODELAY. Throughput is bytes ÷ wall "
        "time of one curl (MB = 10⁶ bytes), median of the runs; paths are interleaved round by round. "
        "New connections: a Python client that sets TCP_NODELAY, as browsers and curl do, and a few "
        "more from one that leaves Nagle on, as Python's http.client does. "
        "CPU is utime+stime from `/proc/PID/stat` of the proxy processes (relay, agent; sshd tree and "
        "ssh; L4 nginx master+workers; for F the two socat parents with the children they reaped) "
        "across the transfers, ÷ bytes moved (GB = 10⁹). F, measured in figures 1 and 5 only, is the "
        "design in plain C, for bulk bytes: the same two hops as a tunnel, each a socat (256 KiB "
        "buffers), joined by a TLS link with AES-128-GCM that the relay side verifies; it does per byte "
        "what a relay and an agent must (read, encrypt or decrypt once, write) and nothing else. It forks a process pair and "
        "dials a fresh link for each browser connection, so the other figures would measure that. Idle memory is "
        "the VmRSS growth of the same processes with N verified, keep-alive, idle TLS connections held "
        "open (each did one request), ÷ N. Fairness: one keep-alive connection does sequential `/1k` "
        "GETs, first alone, then while 4 curl downloads of `/big` loop on the same path (for E/E2: the "
        "same agent connection), each series at least n requests and at least the same number of "
        "seconds, so every path is measured while its downloads are under way. For C, E and E2 a third "
        "series runs while the same downloads loop through a twin of the path (a second `ssh -R` to the "
        "same sshd; a second relay + agent pair): the small requests then share the machine's 2 cores "
        "with the downloads but not their connection, which splits the loaded ÷ idle ratio into the CPU "
        "load's part (twin-loaded ÷ idle) and the sharing's (loaded ÷ twin-loaded). Figure 8 (beyond issue 4's "
        f"list): the same transfers when the link between a tunnel's two halves is long: a user-space delay "
        f"proxy (`delayproxy.py`; this kernel has no netem) adds {LINK_DELAY_MS} ms each way between agent and "
        "relay (E, E2) and between ssh and sshd (C), while browser and origin stay on loopback; it shows what "
        "the windows allow (ssh's channel window is a fixed 2 MiB; the tunnel's stream windows grow with the "
        "path), and how many of the link's round trips a new connection waits for: (its p50 there − its "
        "figure-2 p50) ÷ the round trip. A TLS 1.3 handshake plus one request needs 2; `ssh -R` holds the "
        "ClientHello until ssh has confirmed the channel, a third. Figure 9 (also beyond the list): what "
        "one more company costs a relay. One relay; a few agents of their own tenants connect and each "
        "carries a verified download; then the rest connect (idle), then carry theirs. The relay's RSS "
        "growth between those steps ÷ the agents added is the cost of each further agent connection, idle "
        "and after traffic; a slope, since the first connection also pays the relay's one-time set-up. "
        "The machine has 2 cores shared by clients, origin and proxies, so "
        "absolute figures are low and noisy: read the ratios.")
    if b.notes:
        L.append("")
        L.append("## Notes and failures")
        L.append("")
        for n in b.notes:
            L.append(f"- {n}")
    L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rev", default="?")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--serve", type=float, default=0,
                    help="start everything, keep it up this many seconds (or until TMP/serve.stop), no figures")
    a = ap.parse_args()

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = Bench(a)
    b.elapsed = 0.0
    failed = None
    try:
        if a.serve:
            b.setup()
            b.serve(min(a.serve, 3600))
            return 0
        b.run()
    except (Exception, KeyboardInterrupt, SystemExit) as e:  # noqa: BLE001
        failed = e
        b.notes.append(f"run aborted: {e!r}")
        print(f"bench: aborted: {e!r}", file=sys.stderr)
    finally:
        b.stop_all()
    text = report(b, a)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump({"cfg": b.cfg, "results": b.res, "notes": b.notes}, f, indent=1, default=str)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
