"""Tools/bench --wan: the paths across a shaped link between relay and agent.

    python3 wan.py --bin DIR --pki DIR --tmp DIR --out FILE [--quick] [--profiles 50M,200M,1G] [--paths A,C,E,E2,E3]

Three network namespaces joined by two veth pairs:

    h2t-bench-r (browsers, relay, sshd) ─veth─ h2t-bench-m (wandelay, tc tbf) ─veth─ h2t-bench-a (agent, ssh, origin)

The middle one is the link: `wandelay` (wandelay.c, compiled here) holds every frame
RTT/2 in each direction, and `tc tbf` on the egress of both middle interfaces sets the
rate, with a queue of one bandwidth-delay product (a router's). Browsers stay on the
relay's loopback and the origin on the agent's: only relay ↔ agent (ssh ↔ sshd) cross
the link, as for an office whose uplink reaches the cloud. Path A is the browser
straight to the origin across the same link: what the link gives one HTTPS client.
This process moves itself into h2t-bench-r (setns) before starting anything, and
deletes the namespaces it made on exit (Tools/bench deletes them too if it was killed).
"""
import argparse
import ctypes
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import clients  # noqa: E402
import wanclients  # noqa: E402
from wanclients import SNI, Target  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NS_R, NS_M, NS_A = "h2t-bench-r", "h2t-bench-m", "h2t-bench-a"
RELAY_IP, AGENT_IP = "10.88.0.1", "10.88.0.2"
#: (name, rate bit/s, round trip ms): a small office, a medium one, a far region.
PROFILES = [("50M", 50e6, 40), ("200M", 200e6, 20), ("1G", 1e9, 80)]
PATHS = ["A", "C", "E", "E2", "E3"]
NAMES = {"A": "direct to the origin across the link", "C": "ssh -R", "E": "relay+agent tls://",
         "E2": "relay+agent tcp://", "E3": "relay+agent http:// (signed in)"}
ORIGIN_TLS, ORIGIN_PLAIN = 8443, 8080
#: Socket buffers up to 32 MiB in both namespaces: one TCP flow needs about 2 × the
#: bandwidth-delay product of send buffer (10 MB on the 1 Gbit/s, 80 ms profile), and
#: Linux's default maximum (4 MiB) would cap every path there, the tunnel's and direct.
TCP_MEM = "4096 131072 33554432"
#: For the fairness check, the agent's sockets with TCP_NOTSENT_LOWAT of this many bytes
#: (set for the whole namespace by sysctl, as the agent would set it on its relay socket).
LOWAT = 131072
#: The paced variant of the fairness check: the agent's side sends at this share of the rate.
PACED = 0.9
CLONE_NEWNET = 0x40000000


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=60)


def in_ns(ns, argv):
    return ["ip", "netns", "exec", ns, *argv]


def enter_ns(ns):
    """Moves this process (its only thread, so far) into `ns`: children and sockets
    made from now on are the relay side's."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
    finally:
        os.close(fd)


class Wan(bench.Bench):
    def __init__(self, a):
        super().__init__(a)
        q = a.quick
        self.profiles = [p for p in PROFILES if p[0] in a.profiles.split(",")]
        self.paths = [p for p in PATHS if p in a.paths.split(",")]
        self.w = {"xfer_s": 3 if q else 6, "newconn_n": 5 if q else 11, "pages": 3 if q else 5,
                  "series_s": 1.5 if q else 3.0, "mixed": (20, 2 if q else 5), "bulk": 4,
                  "ramp_s": 2.0}
        self.wres = {}        # profile -> path -> figures
        self.link = {}        # delay-stage figures
        self.made_ns = []

    # ------------------------------------------------------------------ network
    def make_net(self):
        with open(os.path.join(self.tmp, "netns"), "w") as f:
            f.write(f"{NS_R}\n{NS_M}\n{NS_A}\n")
        for ns in (NS_R, NS_M, NS_A):
            sh("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            sh(*in_ns(ns, ["ip", "link", "set", "lo", "up"]))
        sh("ip", "link", "add", "h2tvr", "netns", NS_R, "type", "veth", "peer", "name", "h2tmr", "netns", NS_M)
        sh("ip", "link", "add", "h2tva", "netns", NS_A, "type", "veth", "peer", "name", "h2tma", "netns", NS_M)
        sh(*in_ns(NS_R, ["ip", "addr", "add", f"{RELAY_IP}/24", "dev", "h2tvr"]))
        sh(*in_ns(NS_A, ["ip", "addr", "add", f"{AGENT_IP}/24", "dev", "h2tva"]))
        # The middle is a wire, not a host: no addresses, no IPv6 chatter.
        sh(*in_ns(NS_M, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                         "net.ipv6.conf.default.disable_ipv6=1"]))
        for ns, dev in ((NS_R, "h2tvr"), (NS_M, "h2tmr"), (NS_M, "h2tma"), (NS_A, "h2tva")):
            sh(*in_ns(ns, ["ip", "link", "set", dev, "up"]))
        for ns in (NS_R, NS_A):
            sh(*in_ns(ns, ["sysctl", "-q", "-w", f"net.ipv4.tcp_rmem={TCP_MEM}", f"net.ipv4.tcp_wmem={TCP_MEM}"]))
        self.cc = sh(*in_ns(NS_A, ["sysctl", "-n", "net.ipv4.tcp_congestion_control"])).stdout.strip()
        exe = os.path.join(self.tmp, "wandelay")
        sh("gcc", "-O2", "-Wall", "-pthread", "-o", exe, os.path.join(HERE, "wandelay.c"))
        self.wandelay = exe

    def delete_net(self):
        for ns in reversed(self.made_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.made_ns.clear()

    def set_link(self, rate, rtt_ms):
        """tbf at `rate` (None: no shaping) on both middle egresses, then a fresh delay
        stage of rtt_ms / 2 each way."""
        for dev in ("h2tmr", "h2tma"):
            sh(*in_ns(NS_M, ["tc", "qdisc", "del", "dev", dev, "root"]), check=False)
            if rate:
                bdp = int(rate / 8 * rtt_ms / 1000)
                burst = max(64 << 10, int(rate / 8 / 500))      # 2 ms at the rate
                sh(*in_ns(NS_M, ["tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{int(rate)}bit",
                                 "burst", str(burst), "limit", str(max(bdp, 128 << 10))]))
        self.stop("wandelay")
        out = os.path.join(self.logs, "wandelay.out")
        open(out, "w").close()
        self.start("wandelay", in_ns(NS_M, [self.wandelay, "h2tmr", "h2tma", str(int(rtt_ms * 500))]))
        self.wait_for("wandelay", lambda: "wandelay ready" in open(out).read())

    def wandelay_counters(self):
        """The delay stage's own drops (SIGUSR1 report): a stage that falls behind drops
        in its sockets, not in tbf."""
        out = os.path.join(self.logs, "wandelay.out")
        for n, p in self.procs:
            if n == "wandelay":
                before = open(out).read().count("socket_drops")
                os.kill(p.pid, signal.SIGUSR1)
                self.wait_for("wandelay report", lambda: open(out).read().count("socket_drops") > before, 5)
        text = open(out).read()
        full = sum(int(x) for x in re.findall(r"dropped_full=(\d+)", text.split("wandelay a->b")[-1]))
        sock = re.findall(r"socket_drops a=(\d+) b=(\d+)", text)
        return {"dropped_full": full, "socket_drops": sum(int(x) for x in sock[-1]) if sock else None}

    def measured_rtt_ms(self, n=9):
        """Median TCP connect time to the origin's plain port across the link: one round trip."""
        import socket
        got = []
        for _ in range(n):
            t0 = time.perf_counter()
            socket.create_connection((AGENT_IP, ORIGIN_PLAIN), timeout=5).close()
            got.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(got)

    def ceiling(self):
        """The delay stage's own ceiling: one plain TCP flow through it with no tbf and no
        delay, Python to Python (1 MiB sendall / recv_into), and the stage's CPU per GB."""
        import socket
        srv = socket.create_server(("0.0.0.0", 5201))
        got = {}

        def recv():
            c, _ = srv.accept()
            buf = bytearray(1 << 20)
            n, t0 = 0, None
            while True:
                k = c.recv_into(buf)
                if not k:
                    break
                if t0 is None:
                    t0 = time.perf_counter()
                n += k
            got["MBps"] = n / (time.perf_counter() - t0) / 1e6
            got["bytes"] = n
            c.close()

        th = threading.Thread(target=recv)
        th.start()
        pid = [p.pid for n, p in self.procs if n == "wandelay"][0]
        cpu0 = bench.cpu_of(f"/proc/{pid}/stat")
        code = ("import socket,time\nc=socket.create_connection(('%s',5201))\nb=b'x'*(1<<20)\n"
                "t=time.monotonic()+3\nwhile time.monotonic()<t: c.sendall(b)\nc.close()\n" % RELAY_IP)
        subprocess.run(in_ns(NS_A, [sys.executable, "-c", code]), timeout=30, check=True)
        th.join(30)
        srv.close()
        cpu = bench.cpu_of(f"/proc/{pid}/stat") - cpu0
        self.link["ceiling_MBps"] = got.get("MBps")
        self.link["ceiling_cpu_s_per_GB"] = cpu / (got.get("bytes", 1) / 1e9)
        self.link.update({f"ceiling_{k}": v for k, v in self.wandelay_counters().items()})

    # ------------------------------------------------------------------- paths
    def start_origin_wan(self):
        """The origin, in the agent's namespace: HTTPS on every address (path A dials it
        across the link), plain HTTP on loopback for E2 and E3."""
        pki = self.a.pki
        ng = os.path.join(self.tmp, "ngx-origin")
        loc = f"""root {self.www};
        location /up/ {{ dav_methods PUT; create_full_put_path on; client_body_buffer_size 1m; }}"""
        body = f"""http {{
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_timeout 600s; keepalive_requests 1000000;
    client_max_body_size 0;
    client_body_temp_path {ng}/body; proxy_temp_path {ng}/proxy;
    fastcgi_temp_path {ng}/fastcgi; uwsgi_temp_path {ng}/uwsgi; scgi_temp_path {ng}/scgi;
    default_type application/octet-stream;
    server {{
        listen 0.0.0.0:{ORIGIN_TLS} ssl backlog=4096;
        server_name {SNI};
        ssl_protocols TLSv1.3;
        ssl_certificate {pki}/tenants/acme/tenant.pem;
        ssl_certificate_key {pki}/tenants/acme/tenant.key;
        {loc}
    }}
    server {{
        listen 127.0.0.1:{ORIGIN_PLAIN} backlog=4096;
        listen {AGENT_IP}:{ORIGIN_PLAIN} backlog=4096;
        server_name {SNI};
        {loc}
    }}
}}"""
        conf, _ = self.nginx_conf("origin", body)
        self.start("nginx-origin", in_ns(NS_A, ["nginx", "-e", f"{self.logs}/nginx-origin.log", "-c", conf]))
        self.wait_for("origin nginx", lambda: self.reachable(AGENT_IP, ORIGIN_TLS))

    @staticmethod
    def reachable(host, port):
        import socket
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def files_wan(self):
        """/1k, and /big sized for the fastest profile's transfers (range requests take
        less), written as repeats of 1 MiB of random bytes."""
        www = os.path.join(self.tmp, "www")
        os.makedirs(os.path.join(www, "up"), exist_ok=True)
        with open(os.path.join(www, "1k"), "wb") as f:
            f.write(os.urandom(clients.SMALL_SIZE))
        top = max(r for _, r, _ in self.profiles)
        mib = int(top / 8 * (self.w["xfer_s"] + 4) / (1 << 20)) + 1
        chunk = os.urandom(1 << 20)
        with open(os.path.join(www, "big"), "wb") as f:
            for _ in range(mib):
                f.write(chunk)
        self.big_bytes = mib << 20
        self.www = www

    def start_paths(self, tag, base):
        """Starts C, E, E2, E3 for one profile (fresh connections, so no TCP state of the
        previous profile carries over); returns {path: Target}."""
        t = {"A": Target(AGENT_IP, ORIGIN_TLS, self.ca)}
        self.link_ports = {}
        if "C" in self.paths:
            self.start_ssh(tag, base, t)
        ups = {"E": f"tls://127.0.0.1:{ORIGIN_TLS}", "E2": f"tcp://127.0.0.1:{ORIGIN_PLAIN}",
               "E3": f"http://127.0.0.1:{ORIGIN_PLAIN}"}
        for i, (p, up) in enumerate(ups.items()):
            if p in self.paths:
                self.start_tunnel(tag, base, i, p, up, t)
        return t

    def start_ssh(self, tag, base, t):
        """C: sshd on the relay's side, ssh -R from the agent's."""
        d = os.path.join(self.tmp, "ssh")
        if not os.path.exists(f"{d}/id"):
            os.makedirs(d, mode=0o700, exist_ok=True)
            for key in ("host", "id"):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{d}/{key}"],
                               check=True, stdout=subprocess.DEVNULL)
            with open(f"{d}/id.pub") as src, open(f"{d}/authorized_keys", "w") as dst:
                dst.write(src.read())
        sport, cport = base + 22, base + 43
        with open(f"{d}/sshd_config-{tag}", "w") as f:
            f.write(bench.sshd_config(sport, RELAY_IP, d))
        # sshd's privilege-separation directory: Tools/bench makes it, but another bench
        # run that made it too removes it when it ends.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.start(f"sshd-{tag}", ["/usr/sbin/sshd", "-D", "-e", "-f", f"{d}/sshd_config-{tag}"])
        self.wait_for("sshd", lambda: self.reachable(RELAY_IP, sport))
        self.start(f"ssh-{tag}", in_ns(NS_A, [
            "ssh", "-tt", "-p", str(sport), "-i", f"{d}/id",
            "-o", "Ciphers=aes128-gcm@openssh.com", "-o", "Compression=no",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR",
            "-R", f"127.0.0.1:{cport}:127.0.0.1:{ORIGIN_TLS}",
            f"root@{RELAY_IP}", "sleep 86400"]), stdin=subprocess.PIPE)
        self.wait_for("ssh -R", lambda: self.reachable("127.0.0.1", cport), 60)
        t["C"] = Target("127.0.0.1", cport, self.ca)
        self.link_ports["C"] = sport

    def start_tunnel(self, tag, base, i, p, up, t):
        """E, E2 or E3: a relay on the relay's side, its agent across the link."""
        pki = self.a.pki
        public, admin = base + 1 + i, base + 11 + i
        relay_extra, agent_extra = self.sign_in_args(f"{p}-{tag}") if p == "E3" else ((), None)
        self.start(f"relay-{p}-{tag}", [
            f"{self.a.bin}/relay", "run", "--listen", f"0.0.0.0:{public}", "--hostname", "relay.localhost",
            "--cert", f"{pki}/relay.pem", "--key", f"{pki}/relay.key",
            "--agent-hostname", "agents.relay.localhost", "--agent-ca", f"{pki}/agent-ca.pem",
            "--tenant-domain", "tunnel.localhost", "--admin-listen", f"127.0.0.1:{admin}",
            "--max-tunnels-per-address", "0", "--log-level", "warning", *relay_extra, *bench.TUNNEL_ARGS])
        self.wait_for(f"relay {p}", lambda port=public: self.reachable("127.0.0.1", port))
        self.start(f"agent-{p}-{tag}", in_ns(NS_A, [
            f"{self.a.bin}/agent", "run", "--relay", f"{RELAY_IP}:{public}",
            "--relay-hostname", "agents.relay.localhost", "--relay-ca", f"{pki}/ca.pem",
            "--cert", f"{pki}/tenants/acme/agent.pem", "--key", f"{pki}/tenants/acme/agent.key",
            "--tenant-cert", f"{pki}/tenants/acme/tenant.pem", "--tenant-key", f"{pki}/tenants/acme/tenant.key",
            "--upstream", up, "--log-level", "warning", "--admin-listen", "127.0.0.1:0",
            *(agent_extra(public) if agent_extra else ()), *bench.TUNNEL_ARGS]))
        self.admin[p] = admin
        self.wait_for(f"agent {p} registered", lambda p=p: len(self.agents(p)) == 1, 60)
        self.port[p] = public
        self.link_ports[p] = public
        cookie = None
        if p == "E3":
            self.sign_in(p)
            cookie = self.cookie[p]
        t[p] = Target("127.0.0.1", public, self.ca, cookie)

    def stop_paths(self, tag):
        for n, _ in list(reversed(self.procs)):
            if n.endswith(f"-{tag}"):
                self.stop(n)

    # ----------------------------------------------------------------- figures
    def transfers(self, t, rate, r, path, tag):
        size = int(rate / 8 * self.w["xfer_s"])
        limit = self.w["xfer_s"] + 3
        for kind in ("down", "up"):
            try:
                if kind == "down":
                    x = wanclients.download(t, min(size, self.big_bytes), limit)
                else:
                    x = self.upload_seen_at_origin(t, size, limit, path, tag)
            except (OSError, ValueError) as e:
                self.notes.append(f"{tag} {path} {kind}: {e!r}")
                continue
            r[f"{kind}_MBps"] = x["steady"] / 1e6 if x["steady"] else None
            r[f"{kind}_mean_MBps"] = x["mean"] / 1e6 if x["mean"] else None
            r[f"{kind}_frac"] = x["steady"] * 8 / rate if x["steady"] else None
            r[f"{kind}_complete"] = x["complete"]
        try:
            os.unlink(os.path.join(self.www, "up", f"{path}-{tag}"))
        except OSError:
            pass

    def upload_seen_at_origin(self, t, size, limit, path, tag):
        """An upload, its rate taken where the bytes arrive: the origin's sockets' bytes_received
        (ss, every 0.1 s, agent's namespace). The browser's own progress would overstate it
        while the buffers along the path are still filling."""
        port = ORIGIN_PLAIN if path in ("E2", "E3") else ORIGIN_TLS
        samples, stop = [], threading.Event()

        def sample():
            while not stop.is_set():
                ss = subprocess.run(in_ns(NS_A, ["ss", "-tinH", "state", "established", f"( sport = :{port} )"]),
                                    capture_output=True, text=True, timeout=10).stdout
                samples.append((time.perf_counter(), sum(int(b) for b in re.findall(r"bytes_received:(\d+)", ss))))
                stop.wait(0.1)

        th = threading.Thread(target=sample)
        th.start()
        try:
            x = wanclients.upload(t, size, limit, f"{path}-{tag}")
        finally:
            stop.set()
            th.join(15)
        # From the first sample that saw the upload arrive.
        moving = [i for i in range(1, len(samples)) if samples[i][1] > samples[0][1]]
        if moving:
            x["steady"] = wanclients.steady(samples[moving[0] - 1:])
        return x

    def newconn(self, t, rtt_ms, r):
        wanclients.new_connection(t, 1)   # warm-up (sessions, caches)
        lat, err = wanclients.new_connection(t, self.w["newconn_n"])
        if lat:
            r["newconn_p50_ms"] = statistics.median(lat) * 1e3
            r["newconn_rtts"] = r["newconn_p50_ms"] / rtt_ms
        r["newconn_errors"] = err

    def pages_and_series(self, t, into, phase):
        pages, lat, errors = [], [], 0
        for _ in range(self.w["pages"]):
            took, l, e = wanclients.page(t)
            errors += e
            if took is not None:
                pages.append(took)
        s, e = wanclients.keepalive_series(t, self.w["series_s"])
        errors += e
        lat += s
        into[f"page_{phase}_ms"] = statistics.median(pages) * 1e3 if pages else None
        into[f"small_{phase}_p99_ms"] = clients.percentile(lat, 99) * 1e3 if lat else None
        into[f"small_{phase}_p50_ms"] = clients.percentile(lat, 50) * 1e3 if lat else None
        into[f"small_{phase}_n"] = len(lat)
        into[f"fair_{phase}_errors"] = errors

    def loaded(self, t, path, r, suffix=""):
        """Pages and the small-request series while `bulk` downloads of /big loop through the
        same path; samples the agent side's sockets (ss) and the link's queue (tc) meanwhile."""
        stop = threading.Event()
        procs, lock = [], threading.Lock()
        host = t.host
        cookie = ["-H", f"Cookie: {t.cookie}"] if t.cookie else []

        def bulk():
            deadline = time.monotonic() + 300
            while not stop.is_set() and time.monotonic() < deadline:
                argv = ["curl", "-sS", "-o", "/dev/null", "--cacert", self.ca, *cookie,
                        "--resolve", f"{SNI}:{t.port}:{host}", "--max-time", "300",
                        f"https://{SNI}:{t.port}/big"]
                with lock:
                    if stop.is_set():
                        return
                    c = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    procs.append(c)
                c.wait()

        samples = []

        def sample():
            while not stop.is_set():
                samples.append(self.sample_queues(path))
                stop.wait(0.2)

        ts = [threading.Thread(target=bulk) for _ in range(self.w["bulk"])]
        for th in ts:
            th.start()
        time.sleep(self.w["ramp_s"])
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            got = {}
            self.pages_and_series(t, got, "loaded")
            r.update({k + suffix: v for k, v in got.items()})
        finally:
            with lock:
                stop.set()
                for c in procs:
                    if c.poll() is None:
                        c.terminate()
            for th in ts + [sampler]:
                th.join(30)
            for c in procs:
                try:
                    c.wait(5)
                except subprocess.TimeoutExpired:
                    c.kill()
        if samples:
            for key in samples[0]:
                vals = [s[key] for s in samples if s.get(key) is not None]
                if vals:
                    r[f"q_{key}{suffix}_p50"] = statistics.median(vals)
                    r[f"q_{key}{suffix}_max"] = max(vals)

    def sample_queues(self, path):
        """The download direction's queues at one instant: in the agent's socket(s) toward
        the relay (ss: bytes not yet sent, bytes sent and not acknowledged, smoothed RTT),
        and in the link's bottleneck queue (tc backlog toward the relay)."""
        out = {}
        if path == "A":
            flt = f"( sport = :{ORIGIN_TLS} )"
        else:
            flt = f"( dport = :{self.link_ports[path]} )"
        ss = subprocess.run(in_ns(NS_A, ["ss", "-tinH", "state", "established", flt]),
                            capture_output=True, text=True, timeout=10).stdout
        notsent = unacked = 0
        rtts, pacing = [], []
        for line in ss.replace("\n\t", " ").replace("\n ", " ").splitlines():
            pace = re.search(r"\bpacing_rate ([\d.]+)([KMG]?)bps", line)
            if pace:
                pacing.append(float(pace.group(1)) * {"": 1e-6, "K": 1e-3, "M": 1, "G": 1e3}[pace.group(2)])
            mss = re.search(r"\bmss:(\d+)", line)
            un = re.search(r"\bunacked:(\d+)", line)
            ns = re.search(r"\bnotsent:(\d+)", line)
            rtt = re.search(r"\brtt:([\d.]+)/", line)
            if un and mss:
                unacked += int(un.group(1)) * int(mss.group(1))
            if ns:
                notsent += int(ns.group(1))
            if rtt:
                rtts.append(float(rtt.group(1)))
        out["notsent_KiB"] = notsent / 1024
        out["unacked_KiB"] = unacked / 1024
        out["srtt_ms"] = max(rtts) if rtts else None
        # The kernel's pacing rate (BBR's estimate of the path × its gain), Mbit/s, summed.
        out["pacing_Mbps"] = sum(pacing) if pacing else None
        # Bytes the relay's side has received and not yet read (its socket's Recv-Q): a
        # relay (or sshd) that falls behind would queue them here.
        if path == "A":
            rflt = f"( dport = :{ORIGIN_TLS} )"
        else:
            rflt = f"( sport = :{self.link_ports[path]} )"
        rs = subprocess.run(["ss", "-tnH", "state", "established", rflt],
                            capture_output=True, text=True, timeout=10).stdout
        out["relay_recvq_KiB"] = sum(int(line.split()[0]) for line in rs.splitlines() if line.split()) / 1024
        tc = subprocess.run(in_ns(NS_M, ["tc", "-s", "qdisc", "show", "dev", "h2tmr"]),
                            capture_output=True, text=True, timeout=10).stdout
        # iproute2 prints a backlog within a few bytes of a whole KiB as "241Kb".
        m = re.search(r"backlog (\d+)([KM]?)b", tc)
        out["linkq_KiB"] = int(m.group(1)) * {"": 1, "K": 1024, "M": 1 << 20}[m.group(2)] / 1024 if m else None
        return out

    def profile(self, idx, name, rate, rtt_ms):
        tag = name
        res = self.wres.setdefault(name, {"rate": rate, "rtt_ms": rtt_ms})
        self.set_link(rate, rtt_ms)
        res["measured_rtt_ms"] = self.measured_rtt_ms()
        say(f"{name}: link up, measured RTT {res['measured_rtt_ms']:.1f} ms; starting paths")
        try:
            targets = self.start_paths(tag, 20000 + 100 * idx)
            for p in self.paths:
                t0 = time.monotonic()
                r = res.setdefault(p, {})
                t = targets[p]
                self.transfers(t, rate, r, p, tag)
                self.newconn(t, rtt_ms, r)
                self.pages_and_series(t, r, "idle")
                self.loaded(t, p, r)
                if p != "A":
                    m = wanclients.mixed(t, *self.w["mixed"])
                    r["mixed_requests"], r["mixed_errors"] = m["requests"], m["errors"]
                    if m["errors"]:
                        self.notes.append(f"{name} {p} mixed: {m['errors']} errors, last {m['last_error']}")
                say(f"{name} {p}: {time.monotonic() - t0:.0f}s " + json.dumps(
                    {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()
                     if k.split("_")[0] in ("down", "up", "newconn", "page", "small", "mixed")
                     and not k.endswith(("_n", "complete", "mean_MBps"))}))
            if name == "50M":
                # What TCP_NOTSENT_LOWAT gives ssh -R: the same loaded test with the sysctl set
                # for the agent's side. The agent sets it on its relay socket already (128 KiB,
                # SocketTuning), which overrides the sysctl, so E, E2, E3 would not change.
                sh(*in_ns(NS_A, ["sysctl", "-q", "-w", f"net.ipv4.tcp_notsent_lowat={LOWAT}"]))
                try:
                    if "C" in self.paths:
                        self.loaded(targets["C"], "C", res["C"], suffix="_lowat")
                    # What a sender paced just below the link's rate would give (as
                    # SO_MAX_PACING_RATE on the agent's relay socket would): a tbf at
                    # PACED × the rate on the agent's own egress, where TCP Small Queues
                    # push back on the socket instead of filling the link's queue. The
                    # queue then forms above TCP, in ssh's channel or nghttp2's streams.
                    sh(*in_ns(NS_A, ["tc", "qdisc", "add", "dev", "h2tva", "root", "tbf", "rate",
                                     f"{int(rate * PACED)}bit", "burst", "16384", "limit", str(64 << 10)]))
                    try:
                        for p in [p for p in self.paths if p != "A"]:
                            self.loaded(targets[p], p, res[p], suffix="_paced")
                    finally:
                        sh(*in_ns(NS_A, ["tc", "qdisc", "del", "dev", "h2tva", "root"]), check=False)
                finally:
                    sh(*in_ns(NS_A, ["sysctl", "-q", "-w", "net.ipv4.tcp_notsent_lowat=4294967295"]))
            res["delay_stage"] = self.wandelay_counters()
        finally:
            self.stop_paths(tag)

    def run_wan(self):
        t0 = time.monotonic()
        self.files_wan()
        self.set_link(None, 0)
        self.start_origin_wan()
        self.ceiling()
        say(f"delay stage ceiling {self.link['ceiling_MBps']:.0f} MB/s (no delay, no tbf)")
        for i, (name, rate, rtt) in enumerate(self.profiles):
            self.profile(i, name, rate, rtt)
        self.elapsed = time.monotonic() - t0


def say(msg):
    print(f"bench --wan: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- report
def report(w, a):
    f = bench.fmt
    L = ["# Tools/bench --wan", "",
         f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; code: {a.rev}; "
         f"mode: {'quick' if a.quick else 'full'}; wall time {getattr(w, 'elapsed', 0):.0f} s",
         f"- link: relay ns ↔ wandelay (RTT/2 each way) + tc tbf on both directions (queue = 1 BDP, "
         f"≥ 128 KiB) ↔ agent ns; TCP congestion control {getattr(w, 'cc', '?')}; socket buffers up to 32 MiB",
         f"- delay stage ceiling (no delay, no tbf, one TCP flow): {f(w.link.get('ceiling_MBps'))} MB/s, "
         f"{f(w.link.get('ceiling_cpu_s_per_GB'))} CPU-s/GB; its socket drops "
         f"{w.link.get('ceiling_socket_drops')}",
         f"- counts: transfers {w.w['xfer_s']} s at the shaped rate, rate = the last two thirds; "
         f"new connection n={w.w['newconn_n']}; page = 30 × 1 KiB over 6 new connections, median "
         f"of {w.w['pages']}; small p99 from a {w.w['series_s']} s keep-alive series; loaded = "
         f"{w.w['bulk']} curl downloads of /big through the same path; mixed = "
         f"{w.w['mixed'][0]} browsers × {w.w['mixed'][1]} s", ""]
    rows = [
        ("download MB/s", "down_MBps", None), ("… ÷ shaped rate", "down_frac", 2),
        ("upload MB/s", "up_MBps", None), ("… ÷ shaped rate", "up_frac", 2),
        ("new connection p50 ms", "newconn_p50_ms", None), ("… in round trips", "newconn_rtts", 2),
        ("page ms, idle", "page_idle_ms", None), ("page ms, 4 downloads", "page_loaded_ms", None),
        ("page loaded ÷ idle", "page_ratio", 2),
        ("small p99 ms, idle", "small_idle_p99_ms", None), ("small p99 ms, 4 downloads", "small_loaded_p99_ms", None),
        ("small p50 ms, idle / 4 downloads", "small_p50s", None),
        ("… − idle p99, in RTTs", "small_excess_rtts", 2),
        ("agent-side socket notsent KiB (p50 / max)", "q_notsent_KiB", None),
        ("agent-side unacked KiB (p50 / max)", "q_unacked_KiB", None),
        ("link queue KiB (p50 / max)", "q_linkq_KiB", None),
        ("agent-side pacing rate Mbit/s (p50 / max)", "q_pacing_Mbps", None),
        ("relay-side Recv-Q KiB (p50 / max)", "q_relay_recvq_KiB", None),
        ("mixed: requests / errors", "mixed", None),
    ]
    lowat_rows = [
        ("page ms, 4 downloads, notsent_lowat", "page_loaded_ms_lowat", None),
        ("page loaded ÷ idle, notsent_lowat", "page_ratio_lowat", 2),
        ("small p99 ms, 4 downloads, notsent_lowat", "small_loaded_p99_ms_lowat", None),
        ("… − idle p99, in RTTs, notsent_lowat", "small_excess_rtts_lowat", 2),
        ("agent-side notsent KiB (p50 / max), notsent_lowat", "q_notsent_KiB_lowat", None),
        ("link queue KiB (p50 / max), notsent_lowat", "q_linkq_KiB_lowat", None),
        ("page ms, 4 downloads, paced 0.9×", "page_loaded_ms_paced", None),
        ("page loaded ÷ idle, paced 0.9×", "page_ratio_paced", 2),
        ("small p99 ms, 4 downloads, paced 0.9×", "small_loaded_p99_ms_paced", None),
        ("… − idle p99, in RTTs, paced 0.9×", "small_excess_rtts_paced", 2),
        ("agent-side notsent KiB (p50 / max), paced 0.9×", "q_notsent_KiB_paced", None),
        ("link queue KiB (p50 / max), paced 0.9×", "q_linkq_KiB_paced", None),
    ]
    for name, res in w.wres.items():
        rtt = res["rtt_ms"]
        for p in PATHS:
            r = res.get(p, {})
            if r.get("page_idle_ms") and r.get("page_loaded_ms"):
                r["page_ratio"] = r["page_loaded_ms"] / r["page_idle_ms"]
            if r.get("small_idle_p99_ms") and r.get("small_loaded_p99_ms"):
                r["small_excess_rtts"] = (r["small_loaded_p99_ms"] - r["small_idle_p99_ms"]) / rtt
            for v in ("_lowat", "_paced"):
                if r.get("page_idle_ms") and r.get("page_loaded_ms" + v):
                    r["page_ratio" + v] = r["page_loaded_ms" + v] / r["page_idle_ms"]
                if r.get("small_idle_p99_ms") and r.get("small_loaded_p99_ms" + v):
                    r["small_excess_rtts" + v] = (r["small_loaded_p99_ms" + v] - r["small_idle_p99_ms"]) / rtt
        L += [f"## {name}: {res['rate'] / 1e6:,.0f} Mbit/s ({res['rate'] / 8e6:,.2f} MB/s), "
              f"{rtt} ms RTT (measured {f(res.get('measured_rtt_ms'))} ms)", "",
              "| figure | " + " | ".join(PATHS) + " |", "|---|" + "--:|" * len(PATHS)]
        for label, key, digits in rows + (lowat_rows if name == "50M" else []):
            cells = []
            for p in PATHS:
                r = res.get(p, {})
                if key == "small_p50s":
                    cells.append(f"{f(r.get('small_idle_p50_ms'))} / {f(r.get('small_loaded_p50_ms'))}")
                elif key == "mixed":
                    cells.append("–" if "mixed_requests" not in r else f"{r['mixed_requests']:,} / {r['mixed_errors']}")
                elif key.startswith("q_"):
                    lo, hi = r.get(key + "_p50"), r.get(key + "_max")
                    if key.endswith(("_lowat", "_paced")):
                        lo, hi = r.get(key + "_p50"), r.get(key + "_max")
                    cells.append("–" if lo is None else f"{f(lo)} / {f(hi)}")
                else:
                    cells.append(f(r.get(key), digits))
            L.append(f"| {label} | " + " | ".join(cells) + " |")
        ds = res.get("delay_stage", {})
        L += ["", f"Delay stage over this profile: frames dropped for a full stage "
                  f"{ds.get('dropped_full')}, in its sockets {ds.get('socket_drops')}.", ""]
    L += ["Paths: " + "; ".join(f"**{p}** {n}" for p, n in NAMES.items()) + ".", ""]
    if w.notes:
        L += ["## Notes", ""] + [f"- {n}" for n in w.notes] + [""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rev", default="?")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profiles", default="50M,200M,1G")
    ap.add_argument("--paths", default=",".join(PATHS), help="a subset of " + ",".join(PATHS))
    a = ap.parse_args()

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    w = Wan(a)
    failed = None
    try:
        w.make_net()
        enter_ns(NS_R)
        w.run_wan()
    except (Exception, KeyboardInterrupt, SystemExit) as e:  # noqa: BLE001
        failed = e
        w.notes.append(f"run aborted: {e!r}")
        print(f"bench --wan: aborted: {e!r}", file=sys.stderr)
    finally:
        w.stop_all()
        w.delete_net()
    text = report(w, a)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump({"cfg": w.w, "link": w.link, "results": w.wres, "notes": w.notes}, f, indent=1, default=str)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
