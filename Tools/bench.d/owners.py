"""Where each proxy process's CPU goes, by owner (Tools/bench --cpu).

The CPU-s of the rounds say how much relay + agent spend against sshd + ssh; this says on
what. One more pass of each load runs under `perf record --call-graph dwarf`, and each
user-space sample goes to the innermost frame of its call chain that has an owner:

- event loop (NIO): SwiftNIO's modules (channels, pipelines, futures, buffers);
- OpenSSL: libssl and libcrypto (TLS records; ssh's AES-GCM packets);
- nghttp2: libnghttp2 (HTTP/2 framing, HPACK, flow control);
- tunnel code: the H2Tunnel* modules (splice, TLS and HTTP/2 handlers, routing);
- logs & metrics: swift-log, swift-metrics, swift-prometheus;
- ssh code: sshd's and ssh's own binaries.

Frames of libc, the Swift runtime (retain/release, allocation, metadata), the dynamic
loader and libdispatch own nothing themselves: their samples go to whoever called them,
so `malloc` under a NIO read is the event loop's. Samples with no owner anywhere in their
chain (a chain perf could not unwind) are counted as "unattributed" and shown.

The kernel's time (system calls, TCP, the scheduler) is not taken from the samples: perf's own work (copying 16 KiB of stack
per sample) is kernel time in the sampled process and would inflate it. It is the rounds'
median stime from /proc; the samples only split the rounds' median utime between the
user-space owners.
"""
import collections
import os
import re
import select
import signal
import subprocess

#: Report columns, in order.
OWNERS = ("kernel", "event loop (NIO)", "OpenSSL", "nghttp2", "tunnel code", "logs & metrics",
          "ssh code", "unattributed")

_SWIFT_MODULE = re.compile(r"^\$s(\d+)([A-Za-z_][A-Za-z0-9_]*)")


def owner(symbol, dso):
    """The owner of one frame, or None when the frame's owner is whoever called it."""
    name = os.path.basename(dso)
    if name.startswith("[kernel"):
        return "kernel"
    if name.startswith(("libssl", "libcrypto")):
        return "OpenSSL"
    if name.startswith("libnghttp2"):
        return "nghttp2"
    if name in ("sshd", "ssh"):
        return "ssh code"
    m = _SWIFT_MODULE.match(symbol)
    if not m:
        return None
    module = m.group(2)[:int(m.group(1))]
    if module.startswith(("NIO", "_NIO")):
        return "event loop (NIO)"
    if module.startswith("H2Tunnel"):
        return "tunnel code"
    if module in ("Logging", "CoreMetrics", "Metrics", "Prometheus"):
        return "logs & metrics"
    return None


def attribute(script_lines, roles):
    """{role: Counter(owner: samples)} from `perf script -F pid,ip,sym,dso` output;
    roles maps a pid to its role."""
    out = {role: collections.Counter() for role in set(roles.values())}
    role, found = None, None

    def close():
        if role is not None:
            out[role][found or "unattributed"] += 1

    for line in script_lines:
        if not line.strip():
            continue
        if not line.startswith("\t"):        # a sample's first line: its pid
            close()
            found = None
            pid = line.split()[0]
            role = roles.get(int(pid)) if pid.isdigit() else None
            continue
        if role is None or found is not None:
            continue
        # "\t ADDR SYMBOL+OFF (DSO)" or "\t ADDR [unknown] (DSO)"
        body = line.strip().split(None, 1)
        if len(body) < 2 or not body[1].endswith(")") or " (" not in body[1]:
            continue
        symbol, dso = body[1][:-1].rsplit(" (", 1)
        found = owner(symbol, dso)
    close()
    return out


class Recorder:
    """perf record on a set of pids, started disabled and enabled through its control
    FIFO (it answers "ack" once counting), so the load starts only once perf counts."""

    def __init__(self, directory, name, pids, frequency=4999, stack=16384):
        self.data = os.path.join(directory, name + ".perf")
        self.ctl = os.path.join(directory, name + ".ctl")
        self.ack = os.path.join(directory, name + ".ack")
        for fifo in (self.ctl, self.ack):
            if os.path.exists(fifo):
                os.unlink(fifo)
            os.mkfifo(fifo)
        self.proc = subprocess.Popen(
            ["perf", "record", "-q", "-F", str(frequency), "--call-graph", f"dwarf,{stack}",
             "-D", "-1", "--control", f"fifo:{self.ctl},{self.ack}", "-o", self.data,
             "-p", ",".join(str(p) for p in pids)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # Read-write, so neither open waits for perf's (a FIFO's lone end would block).
        self.ctl_fd = os.open(self.ctl, os.O_RDWR)
        self.ack_fd = os.open(self.ack, os.O_RDWR)

    def command(self, word, timeout=30):
        """Sends enable or disable and returns once perf acknowledged it."""
        os.write(self.ctl_fd, (word + "\n").encode())
        ready, _, _ = select.select([self.ack_fd], [], [], timeout)
        reply = os.read(self.ack_fd, 64).decode() if ready else ""
        if not reply.startswith("ack"):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"perf did not acknowledge {word!r} in {timeout} s: {err[-300:]}")

    def finish(self, timeout=120):
        """Stops perf and returns `perf script` lines for the samples it took."""
        self.command("disable")
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=timeout)
        os.close(self.ctl_fd)
        os.close(self.ack_fd)
        os.unlink(self.ctl)
        os.unlink(self.ack)
        if self.proc.returncode not in (0, -signal.SIGINT, 130):
            raise RuntimeError(f"perf record exited {self.proc.returncode}: {err[-300:]}")
        script = subprocess.run(["perf", "script", "-i", self.data, "-F", "pid,ip,sym,dso"],
                                capture_output=True, text=True, timeout=600)
        os.unlink(self.data)
        return script.stdout.splitlines()


def profile(directory, name, pids_by_role, load):
    """{role: Counter(owner: samples)} while load() runs; pids_by_role {role: [pids]}."""
    roles = {pid: role for role, pids in pids_by_role.items() for pid in pids}
    rec = Recorder(directory, name, sorted(roles))
    try:
        rec.command("enable")
        load()
    except BaseException:
        rec.proc.kill()
        rec.proc.wait()
        raise
    return attribute(rec.finish(), roles)


def split(counts, total, user):
    """{owner: CPU-s}: the kernel's is total - user (stime, from /proc, which perf's own
    work in the kernel does not inflate); user time goes to the owners in proportion to
    the process's user-space samples."""
    out = collections.Counter({"kernel": total - user})
    n = sum(k for o, k in counts.items() if o != "kernel")
    for o, k in counts.items():
        if o != "kernel" and n:
            out[o] += user * k / n
    return out


def table(shares, cpu, order):
    """Markdown rows, per (path, load, role): each owner's CPU-s per 1,000 and share.
    shares {(path, kind): {role: Counter}}, cpu {(path, kind, role): (CPU-s, user CPU-s)}."""
    rows = []
    for path, kind in order:
        for role, counts in shares.get((path, kind), {}).items():
            if (path, kind, role) in cpu and sum(counts.values()):
                rows.append((path, kind, role, sum(counts.values()), split(counts, *cpu[(path, kind, role)])))
    used = [o for o in OWNERS if any(r[4][o] for r in rows)]
    L = ["| process | load | user samples | " + " | ".join(used) + " |",
         "|---|---|--:|" + "--:|" * len(used)]
    for path, kind, role, n, by in rows:
        whole = sum(by.values()) or 1
        load = "new connections" if kind == "conn" else "keep-alive requests"
        L.append(f"| {role} ({path}) | {load} | {n - shares[(path, kind)][role]['kernel']:,} | "
                 + " | ".join(f"{by[o]:.3f} ({100 * by[o] / whole:.0f} %)" for o in used) + " |")
    return L


def gap_table(shares, cpu, path, base):
    """Markdown rows: per owner, path's processes against base's, CPU-s per 1,000 of
    each load, and the difference: what the gap is made of."""
    def sums(p, kind):
        out = collections.Counter()
        for role, counts in shares.get((p, kind), {}).items():
            if (p, kind, role) in cpu:
                out.update(split(counts, *cpu[(p, kind, role)]))
        return out

    got = {(p, k): sums(p, k) for p in (path, base) for k in ("conn", "req")}
    L = [f"| owner | {path}, new connections | {base} | difference | {path}, keep-alive requests | {base} | difference |",
         "|---|--:|--:|--:|--:|--:|--:|"]
    for o in OWNERS + ("all",):
        cells, seen = [], False
        for kind in ("conn", "req"):
            a, b = got[(path, kind)], got[(base, kind)]
            x = sum(a.values()) if o == "all" else a[o]
            y = sum(b.values()) if o == "all" else b[o]
            seen = seen or bool(x or y)
            cells += [f"{x:.3f}", f"{y:.3f}", f"{x - y:+.3f}"]
        if seen:
            L.append(f"| {o} | " + " | ".join(cells) + " |")
    return L
