"""Tools/bench --cpu: CPU per new connection and per keep-alive request (issue 16 item 3).

Paths C (`ssh -R`: sshd + ssh), E (relay + agent, `tls://`: TLS passed through to the
origin, as through `ssh -R`) and E2 (relay + agent, `tcp://`: the agent terminates the
browser's TLS, which in C the origin does) on loopback. For N new connections (connect,
TLS 1.3 handshake, one 1 KiB GET, close) and for M keep-alive GETs on one connection, per
1,000 of them, of the proxy processes (relay, agent; sshd with every process under it,
the reaped ones included, and ssh):

- CPU-seconds: utime + stime from /proc/PID/stat (user and kernel; 10 ms ticks);
- on-core time from /proc/PID/task/*/schedstat (ns, finer than ticks; the processes'
  live threads);
- wake-ups (voluntary context switches, /proc/PID/task/*/status) and read/write system
  calls (syscr + syscw, /proc/PID/io): counts of work, not time, so they repeat from run
  to run on this shared machine where the times do not.

Rounds interleave the paths so that they share the machine's state, in an order that
turns by one path each round; the report gives the median and the range. `--also
NAME=DIR` (repeatable) adds path NAME: E again, relay and agent from the binaries in DIR
(another build or revision), so two builds are compared in one run rather than across
runs, which on this machine differ by more than most cuts.

`--floor NAME=EXE` (Tools/bench passes two) adds path floor-NAME: one process, EXE, a bare
TCP proxy in front of the origin (Tools/bench.d/floor: C on epoll, Swift on epoll, SwiftNIO). It does
per keep-alive request what each of relay, agent, sshd and ssh does (two wake-ups, two
reads, two writes) and nothing else: no encryption, no framing. The report sets each
tunnel process against the floor of its stack.

One more pass of each load on C and E runs under perf (owners.py): what share of each
process's time goes to the kernel, the event loop (NIO), OpenSSL, nghttp2, the tunnel's
code, or ssh's, and so what the gap between E and C is made of.

Instruction counts, which repeat from run to run where the times do not (`perf stat` has
no hardware counters on this VM): relay + agent against sshd + ssh, each process under
valgrind's callgrind once more after the rounds (counts/tunnel.py), and the floors
(counts/floor.py).

    python3 cpu.py --bin DIR --pki DIR --tmp DIR --out FILE [--quick] [--rev R] [--also NAME=DIR ...]
                   [--floor NAME=EXE ...]
"""
import argparse
import collections
import copy
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import clients  # noqa: E402
import owners  # noqa: E402
from counts import floor as floor_counts, tunnel as tunnel_counts  # noqa: E402

SNI = bench.SNI
PATHS = ("C", "E", "E2")
#: Roles of each path's proxy processes: (front, back) = (sshd, ssh) or (relay, agent).
ROLES = {"C": ("sshd", "ssh"), "E": ("relay", "agent"), "E2": ("relay", "agent")}
#: What is counted per role; "cpu" (user + kernel) and "ucpu" (user) are in seconds,
#: "oncpu" in ns, the rest are counts.
METRICS = ("cpu", "ucpu", "oncpu", "wakeups", "syscalls")


def roles(p):
    """(front, back) of path p; an `--also` path is E from another build; a floor path has
    one process."""
    if p.startswith("floor-"):
        return ("proxy",)
    return ROLES.get(p, ROLES["E"])


def keepalive(port, ca, n, timeout=30.0):
    """n GETs of the 1 KiB file, one after the other, on one TLS connection; errors."""
    ctx = clients.tls_context(ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    errors = 0
    with ctx.wrap_socket(raw, server_hostname=SNI) as s:
        reader = clients.Reader(s)
        req = clients.request_bytes(SNI)
        for _ in range(n):
            s.sendall(req)
            status, body = reader.response()
            if status != 200 or len(body) != clients.SMALL_SIZE:
                errors += 1
    return errors


def newconns(port, ca, n, timeout=30.0):
    _, errors = clients.new_connection_latency(port, ca, SNI, n, timeout=timeout)
    return errors


def task_counts(pid):
    """(wake-ups, ns on a core) summed over pid's live threads."""
    wakeups, oncpu = 0, 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0, 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        wakeups += int(line.split()[1])
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                oncpu += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return wakeups, oncpu


def syscalls(pid):
    """read and write system calls of the whole process so far (/proc/PID/io)."""
    try:
        with open(f"/proc/{pid}/io") as f:
            d = dict(line.split(": ") for line in f.read().splitlines())
        return int(d["syscr"]) + int(d["syscw"])
    except (OSError, KeyError, ValueError):
        return 0


class CPUBench(bench.Bench):
    """bench.py's paths C, E and E2, and what their proxy processes spend per operation."""

    def bring_up(self):
        self.start_ssh()
        self.start_tunnel("E", f"tls://127.0.0.1:{self.origin_tls}")
        self.start_tunnel("E2", f"tcp://127.0.0.1:{self.origin_plain}")
        self.start_also()
        for name, exe in self.a.floor:
            path = "floor-" + name
            proc = self.start(path, [exe, str(self.origin_tls)])
            said = {}

            def ready(log=os.path.join(self.logs, path + ".out")):
                with open(log) as f:
                    said["line"] = f.readline()
                return said["line"].startswith("ready ")

            self.wait_for(path, ready)
            self.port[path] = int(said["line"].split()[1])
            self.roles[path] = {"proxy": proc.pid}

    def start_also(self):
        """Each `--also` path: E with relay and agent from its own folder."""
        own = self.a.bin
        for name, directory in self.a.also:
            self.a.bin = directory
            self.start_tunnel(name, f"tls://127.0.0.1:{self.origin_tls}")
        self.a.bin = own

    def paths(self):
        return PATHS + tuple(name for name, _ in self.a.also) + tuple("floor-" + n for n, _ in self.a.floor)

    def pids(self, p):
        """{role: [pids]} of path p's proxy processes, the current set."""
        if p == "C":
            sshd, ssh = self.sshd[0].pid, self.proxy_pids["C"]()[-1]
            return {"sshd": [sshd] + bench.descendants(sshd), "ssh": [ssh]}
        return {k: [v] for k, v in self.roles[p].items()}

    def sample(self, p):
        """{role: {metric: value so far}}; sshd's reaped children in its CPU (cutime)."""
        out = {}
        for role, pids in self.pids(p).items():
            reaped = role == "sshd"
            times = bench.cpu_by_pid(pids, reaped, of=bench.times_of).values()
            m = {"cpu": sum(u + k for u, k in times), "ucpu": sum(u for u, _ in times),
                 "oncpu": 0, "wakeups": 0, "syscalls": 0}
            for pid in pids:
                w, ns = task_counts(pid)
                m["wakeups"] += w
                m["oncpu"] += ns
                m["syscalls"] += syscalls(pid)
            out[role] = m
        return out

    def figures(self, rounds, n_conn, n_req):
        """{path: {kind: [ {role: {metric: per 1,000}} per round ]}}."""
        paths = self.paths()
        got = {p: {"conn": [], "req": []} for p in paths}
        for p in paths:   # warm-up: first handshakes, caches, session set-up
            newconns(self.port[p], self.ca, 20)
            keepalive(self.port[p], self.ca, 200)
        for r in range(rounds):
            # The order turns by one path a round, so that no path always follows the same
            # one; paths still run back to back within a round.
            for p in paths[r % len(paths):] + paths[:r % len(paths)]:
                for kind, fn, n in (("conn", newconns, n_conn), ("req", keepalive, n_req)):
                    before = self.sample(p)
                    errors = fn(self.port[p], self.ca, n)
                    if p == "C":   # let sshd reap what a connection forked, if anything
                        time.sleep(0.2)
                    after = self.sample(p)
                    per = {role: {k: (after[role][k] - before.get(role, {}).get(k, 0)) * 1000 / n
                                  for k in METRICS} for role in after}
                    got[p][kind].append(per)
                    if errors:
                        self.notes.append(f"{p} {kind} round {r}: {errors} errors of {n}")
                    print(f"cpu: {p} {kind} round {r}: " + "; ".join(
                        f"{role} {v['cpu']:.3f} s, {v['oncpu'] / 1e9:.3f} s on-core, {v['wakeups']:.0f} wake-ups, "
                        f"{v['syscalls']:.0f} r/w calls" for role, v in per.items()) + " per 1,000",
                        file=sys.stderr, flush=True)
        return got

    def owner_shares(self, n_conn, n_req):
        """{(path, kind): {role: Counter(owner: samples)}}: one more pass of each load on
        C and E under perf (owners.py), after the rounds so that it slows none of them."""
        out = {}
        for p in ("C", "E"):
            for kind, fn, n in (("conn", newconns, n_conn), ("req", keepalive, n_req)):
                out[(p, kind)] = owners.profile(self.tmp, f"{p}-{kind}", self.pids(p),
                                                lambda: fn(self.port[p], self.ca, n))
                print(f"cpu: profiled {p} {kind}: " + ", ".join(
                    f"{role} {sum(c.values()):,} samples" for role, c in out[(p, kind)].items()),
                    file=sys.stderr, flush=True)
        return out


class CountedBench(CPUBench):
    """Paths C, E and each `--also` path again, each proxy process under callgrind
    (counts/tunnel.py): a bench of its own, in a folder of its own, with the binaries
    stripped of their debug information. Instructions repeat to within 1 % from run to
    run, so an `--also` build's cut shows here where its CPU-s are lost in the noise."""

    #: Start-up under valgrind (an agent's link, ssh's key exchange) is slower.
    wait_limit = 120.0

    def __init__(self, a, cg):
        a = copy.copy(a)
        a.tmp, a.floor = cg.dir, []
        a.bin = cg.stripped(a.bin, "E")
        a.also = [(name, cg.stripped(d, name)) for name, d in a.also]
        self.cg = cg
        super().__init__(a)

    def counted_paths(self):
        return ("C", "E") + tuple(name for name, _ in self.a.also)

    def start(self, name, argv, stdin=subprocess.DEVNULL):
        counted = {"sshd", "ssh-C"} | {f"{r}-{p}" for p in self.counted_paths() for r in ("relay", "agent")}
        if name in counted:
            argv = self.cg.argv(follow_exec=name == "sshd") + argv
        return super().start(name, argv, stdin)

    def bring_up(self):
        self.start_ssh()
        self.start_tunnel("E", f"tls://127.0.0.1:{self.origin_tls}")
        self.start_also()

    def counts(self, n_conn, rounds):
        """{path: {"conn"|"req": [{role: instructions per event} per round]}}."""
        out = {}
        for p in self.counted_paths():
            out[p] = tunnel_counts.per_event(
                self.cg, lambda p=p: self.pids(p),
                lambda n, p=p: newconns(self.port[p], self.ca, n, timeout=120),
                lambda n, p=p: keepalive(self.port[p], self.ca, n, timeout=120), n_conn, rounds)
            print(f"cpu: instructions of {p}: " + "; ".join(
                f"{kind} " + ", ".join(f"{role} {v['all']:,.0f}" for role, v in out[p][kind][-1].items())
                for kind in ("conn", "req")), file=sys.stderr, flush=True)
        return out


def tunnel_instructions(a, cfg, notes):
    """counts() of a CountedBench, or {} with a note when valgrind cannot be had."""
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        notes.append("no valgrind: no instruction counts of the tunnels")
        return {}
    cg = tunnel_counts.Callgrind(a.tmp)
    b = CountedBench(a, cg)
    try:
        b.files()
        b.start_origin()
        b.bring_up()
        return b.counts(cfg["n_conn_ir"], cfg["rounds_ir"])
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        notes.append(f"no instruction counts of the tunnels: {e}")
        return {}
    finally:
        b.stop_all()
        cg.remove()


def tunnel_count_table(ir):
    """Instructions per event, relay + agent against sshd + ssh, with the range over rounds,
    and what they are made of by owner (the median round's split)."""
    def per_round(path, kind, owner="all", role=None):
        """Per round, `owner`'s instructions in `role`, or in both processes of `path`."""
        return [sum(c.get(owner, 0) for r, c in rnd.items() if role in (None, r)) for rnd in ir[path][kind]]

    def spread(xs):
        return f"{med(xs):,.0f} ({min(xs):,.0f}–{max(xs):,.0f})"

    L = ["## User-space instructions per event", "",
         "Each proxy process once more under valgrind's callgrind (Tools/bench.d/counts/tunnel.py), "
         "after the rounds; median over rounds (range). Kernel instructions are not counted: "
         "this is the user-space part of the CPU above, repeatable where the times are not, "
         "and it weighs every instruction alike (an atomic retain, a cache miss and an add "
         "each count one).", "",
         "| per event | relay | agent | relay + agent | sshd | ssh | sshd + ssh | E ÷ C |",
         "|---|--:|--:|--:|--:|--:|--:|--:|"]
    kinds = (("conn", "new connection"), ("req", "keep-alive request"))
    for kind, what in kinds:
        e, c = per_round("E", kind), per_round("C", kind)
        ratios = [x / y for x, y in zip(e, c)]
        cells = [what] + [f"{med(per_round('E', kind, role=role)):,.0f}" for role in ("relay", "agent")]
        cells += [spread(e)] + [f"{med(per_round('C', kind, role=role)):,.0f}" for role in ("sshd", "ssh")]
        cells += [spread(c), f"{med(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"]
        L.append("| " + " | ".join(cells) + " |")
    for name in [p for p in ir if p not in ("C", "E")]:
        for kind, what in kinds:
            x = per_round(name, kind)
            L.append(f"- {name} (relay + agent from another build), per {what}: {spread(x)}, "
                     f"{name} ÷ E {med(x) / med(per_round('E', kind)):.3f}.")
    L += ["", "By owner (each function's instructions to its owner, libc's and the Swift runtime's "
          "to their callers in proportion to their calls; median over rounds), both processes of each path:", "",
          "| owner | E, per new connection | C | E − C | E, per keep-alive request | C | E − C |",
          "|---|--:|--:|--:|--:|--:|--:|"]
    for o in owners.OWNERS[1:] + ("all",):
        pairs = [(round(med(per_round("E", kind, o))), round(med(per_round("C", kind, o)))) for kind, _ in kinds]
        if any(x or y for x, y in pairs):
            L.append(f"| {o} | " + " | ".join(f"{x:,.0f} | {y:,.0f} | {x - y:+,.0f}" for x, y in pairs) + " |")
    return L + [""] + function_table(ir, per_round, "req") + function_table(ir, per_round, "conn")


#: Rows of the by-function table: enough to see where a cut could be aimed.
TOP_FUNCTIONS = 15


def function_table(ir, per_round, kind):
    """E's largest functions per event of `kind` ("req": keep-alive request, "conn": new
    connection; by_function: each with its share of the libc and runtime work it called),
    relay and agent, and both per event of the other kind, median over rounds.
    per_round(path, kind, key, role) is tunnel_count_table's."""
    other = "conn" if kind == "req" else "req"
    event = {"req": "keep-alive request", "conn": "new connection"}
    keys = {k for rnd in ir["E"][kind] for counts in rnd.values() for k in counts if k.startswith("fn:")}
    ranked = collections.Counter({k: med(per_round("E", kind, k)) for k in keys})
    top = [k for k, _ in ranked.most_common(TOP_FUNCTIONS)]
    if not top:
        return []
    names = demangled([k.split(":", 2)[2] for k in top])
    L = ["Where E's instructions go, by function (`by_function` in Tools/bench.d/counts/tunnel.py: "
         "each function with its share of the libc and Swift runtime work it called; "
         f"the {TOP_FUNCTIONS} largest per {event[kind]}, median over rounds):", "",
         f"| function | owner | relay, per {event[kind]} | agent, per {event[kind]} | relay + agent, per {event[other]} |",
         "|---|---|--:|--:|--:|"]
    for key, name in zip(top, names):
        cells = [f"{med(per_round('E', kind, key, role)):,.0f}" for role in ("relay", "agent")]
        cells.append(f"{med(per_round('E', other, key)):,.0f}")
        L.append(f"| `{name[:110]}` | {key.split(':', 2)[1]} | " + " | ".join(cells) + " |")
    return L + [""]


def demangled(symbols):
    """Swift symbols as `swift demangle --simplified` prints them; others as they are."""
    try:
        out = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(symbols),
                             capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return symbols
    return out if len(out) == len(symbols) else symbols


def med(xs):
    return statistics.median(xs) if xs else None


def total(per_round, metric):
    """Per round, the sum over both roles."""
    return [sum(v[metric] for v in r.values()) for r in per_round]


def paired(got, p, base, kind):
    """p ÷ base, CPU-s round by round (both ran back to back in each round, so the
    machine's swings mostly cancel): "median (min–max)", or None without figures."""
    ratios = [x / y for x, y in zip(total(got[p][kind], "cpu"), total(got[base][kind], "cpu")) if y]
    return f"{med(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else None


def report(b, a, got, elapsed):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    c = b.cfg_cpu
    L = [f"# CPU per connection — {now}, code {a.rev}", "",
         f"{c['rounds']} rounds, each path in turn (the order turning by one path a round): {c['n_conn']:,} new connections (TLS 1.3 + one "
         f"1 KiB GET, close), then {c['n_req']:,} keep-alive GETs on one connection; per 1,000, "
         f"median over rounds (range). Wall time {elapsed:.0f} s.", ""]
    if not got:
        L.append("No figures (see notes).")
    for kind, what in (("conn", "new connections"), ("req", "keep-alive requests")):
        if not got:
            break
        L += [f"## Per 1,000 {what}", "",
              "| path | CPU-s front | CPU-s back | CPU-s sum (range) | ÷C | on-core s sum | ÷C "
              "| wake-ups front | back | r/w calls front | back |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
        base_cpu = med(total(got["C"][kind], "cpu"))
        base_on = med(total(got["C"][kind], "oncpu"))
        for p in got:
            if p.startswith("floor-"):
                continue
            rs = got[p][kind]
            f_, b_ = roles(p)
            cpu = total(rs, "cpu")
            on = total(rs, "oncpu")
            row = [f"{p} ({f_} + {b_})",
                   f"{med([r[f_]['cpu'] for r in rs]):.3f}", f"{med([r[b_]['cpu'] for r in rs]):.3f}",
                   f"{med(cpu):.3f} ({min(cpu):.3f}–{max(cpu):.3f})",
                   f"{med(cpu) / base_cpu:.2f}" if base_cpu else "–",
                   f"{med(on) / 1e9:.3f}", f"{med(on) / base_on:.2f}" if base_on else "–",
                   f"{med([r[f_]['wakeups'] for r in rs]):,.0f}", f"{med([r[b_]['wakeups'] for r in rs]):,.0f}",
                   f"{med([r[f_]['syscalls'] for r in rs]):,.0f}", f"{med([r[b_]['syscalls'] for r in rs]):,.0f}"]
            L.append("| " + " | ".join(row) + " |")
        L.append("")
        for name, _ in a.also:
            ratio = paired(got, name, "E", kind)
            if ratio:
                L += [f"{name} ÷ E, CPU-s round by round: {ratio}.", ""]
    floors = [p for p in (got or {}) if p.startswith("floor-")]
    if floors:
        L += floor_table(got, floors)
    if b.tunnel_ir:
        L += tunnel_count_table(b.tunnel_ir)
    if b.floor_ir:
        L += count_table(b.floor_ir)
    if b.owners and got:
        L += owner_section(b.owners, got)
    L += ["CPU-s: utime+stime (/proc/PID/stat; sshd with its children, reaped ones too). On-core: "
          "schedstat ns of the live threads. Wake-ups: voluntary context switches. r/w calls: "
          "syscr+syscw (/proc/PID/io). E passes TLS through to the origin as C does; in E2 the "
          "agent also terminates the browser's TLS (a handshake per connection, the origin's work "
          "in C and E)." + "".join(f" {n}: E with relay and agent from {d}." for n, d in a.also), ""]
    if b.notes:
        L += ["## Notes", ""] + [f"- {n}" for n in b.notes] + [""]
    return "\n".join(L)


def owner_section(shares, got):
    """Where C's and E's processes spend their time, and what E's gap to C is made of."""
    cpu = {(p, kind, role): (med([r[role]["cpu"] for r in got[p][kind]]), med([r[role]["ucpu"] for r in got[p][kind]]))
           for (p, kind), per in shares.items() for role in per}
    L = ["## Where each process's time goes", "",
         "CPU-s per 1,000 (share of the process's). The kernel's is the rounds' median stime; "
         "user time (utime) is split by one more pass of each load under `perf record --call-graph "
         "dwarf` (Tools/bench.d/owners.py): each user-space sample goes to the innermost frame of its "
         "call chain that has an owner (libc and the Swift runtime go to their caller).", ""]
    L += owners.table(shares, cpu, [(p, k) for k in ("conn", "req") for p in ("C", "E")])
    L += ["", "What E's gap to C is made of, CPU-s per 1,000 (both processes of each path):", ""]
    L += owners.gap_table(shares, cpu, "E", "C")
    return L + [""]


def floor_instructions(floor, notes):
    """{name: (instructions per keep-alive request, per connection)} of each floor proxy."""
    if not shutil.which("valgrind"):
        notes.append("no valgrind: no instruction counts")
        return {}
    out = {}
    for name, exe in floor:
        try:
            out[name] = floor_counts.per_event(exe)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            notes.append(f"floor-{name}: no instruction counts: {e}")
            continue
        print(f"cpu: floor-{name}: {out[name][0]:,.0f} instructions per request, "
              f"{out[name][1]:,.0f} per connection", file=sys.stderr, flush=True)
    return out


def count_table(ir):
    L = ["User-space instructions per event of the floors (callgrind, Tools/bench.d/counts/floor.py; "
         "repeatable to a few in a thousand, where the CPU times above are not):", "",
         "| floor | per keep-alive request | per connection |", "|---|--:|--:|"]
    for name, (req, conn) in ir.items():
        L.append(f"| floor-{name} | {req:,.0f} | {conn:,.0f} |")
    return L + [""]


def floor_table(got, floors):
    """Each process on its own, beside the bare proxies: what the stack costs per event."""
    rows = [(f"{p} (bare proxy)", p, "proxy") for p in floors]
    rows += [(role, p, role) for p in ("C", "E") for role in roles(p)]
    L = ["## Per process, beside a bare proxy on each stack", "",
         "Each floor is one process doing per request what each process of a tunnel does (two "
         "wake-ups, two reads, two writes), with no encryption and no framing.", "",
         "| process | new connections: CPU-s per 1,000 (range) | wake-ups | r/w calls "
         "| keep-alive requests: CPU-s per 1,000 (range) | wake-ups | r/w calls |",
         "|---|--:|--:|--:|--:|--:|--:|"]
    for label, p, role in rows:
        cells = [label]
        for kind in ("conn", "req"):
            rs = [r[role] for r in got[p][kind]]
            cpu = [r["cpu"] for r in rs]
            cells += [f"{med(cpu):.3f} ({min(cpu):.3f}–{max(cpu):.3f})",
                      f"{med([r['wakeups'] for r in rs]):,.0f}", f"{med([r['syscalls'] for r in rs]):,.0f}"]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    for name in ("swift", "nio"):
        if "floor-" + name not in got or "floor-c" not in got:
            continue
        for kind, what in (("conn", "new connection"), ("req", "keep-alive request")):
            ratio = paired(got, "floor-" + name, "floor-c", kind)
            if ratio:
                L.append(f"- Per {what}, floor-{name} ÷ floor-c, round by round: {ratio}.")
    L.append("")
    return L


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rev", default="?")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                    help="path NAME: E with relay and agent from DIR")
    ap.add_argument("--floor", action="append", default=[], metavar="NAME=EXE",
                    help="path floor-NAME: EXE TARGET_PORT, a bare proxy printing 'ready PORT'")
    a = ap.parse_args()

    def named(items, flag, valid, want):
        """[(NAME, absolute PATH)] of `flag NAME=PATH` items, each checked by valid()."""
        out = []
        for item in items:
            name, sep, path = item.partition("=")
            if not sep or not name or not valid(name, path):
                ap.error(f"{flag} {item}: want {want}")
            out.append((name, os.path.abspath(path)))
        return out

    a.also = named(a.also, "--also", lambda name, d: name not in ROLES and all(
        os.access(os.path.join(d, b), os.X_OK) for b in ("relay", "agent")),
        "NAME=DIR, a new NAME and DIR holding relay and agent")
    a.floor = named(a.floor, "--floor", lambda _, exe: os.access(exe, os.X_OK), "NAME=EXE, EXE an executable")
    a.serve = 0

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = CPUBench(a)
    b.floor_ir = {}
    b.tunnel_ir = {}
    b.owners = {}
    q = a.quick
    b.cfg_cpu = {"rounds": 2 if q else 5, "n_conn": 300 if q else 1000, "n_req": 2000 if q else 10000,
                 "rounds_ir": 1 if q else 3, "n_conn_ir": 50 if q else 200}
    c = b.cfg_cpu
    got = None
    failed = None
    t0 = time.monotonic()
    try:
        b.cfg["big_mib"] = b.cfg["agents_mib"] = 1   # no bulk transfers here
        b.files()
        b.start_origin()
        b.bring_up()
        got = b.figures(c["rounds"], c["n_conn"], c["n_req"])
        if shutil.which("perf"):
            try:
                b.owners = b.owner_shares(c["n_conn"], c["n_req"])
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                b.notes.append(f"no profile by owner: {e}")
        else:
            b.notes.append("no perf: no profile by owner")
        b.stop_all()   # the machine to callgrind alone
        b.tunnel_ir = tunnel_instructions(a, c, b.notes)
        b.floor_ir = floor_instructions(a.floor, b.notes)
    except (Exception, KeyboardInterrupt, SystemExit) as e:  # noqa: BLE001
        failed = e
        b.notes.append(f"run aborted: {e!r}")
        print(f"cpu: aborted: {e!r}", file=sys.stderr)
    finally:
        b.stop_all()
    text = report(b, a, got, time.monotonic() - t0)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump({"cfg": c, "results": got, "floor_instructions": b.floor_ir,
                   "tunnel_instructions": b.tunnel_ir,
                   "owners": {f"{p} {k}": per for (p, k), per in b.owners.items()}, "notes": b.notes}, f, indent=1, default=str)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
