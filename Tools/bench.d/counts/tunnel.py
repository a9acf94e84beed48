"""User-space instructions per new connection and per keep-alive request of relay + agent
(path E) and sshd + ssh (path C), under valgrind's callgrind (Tools/bench --cpu).

CPU time on this shared machine moves by ±15 % between runs; instruction counts do not,
and `perf stat` has no hardware counters in this VM. So the four processes run once more
under callgrind, after the timed rounds, and callgrind is asked through vgdb
(`callgrind_control --dump`) for what each process executed since the last dump: after a
warm-up, after N new connections, after 100 and after 1,100 keep-alive requests. A new
connection is everything it costs (connect, TLS 1.3 passed through, one 1 KiB GET,
close); a keep-alive request is the difference of the last two loads over 1,000, so the
connection that carries them cancels out. The kernel's instructions are not counted:
the ratio E ÷ C here is of user space only, where relay and agent do most of their
extra work (docs/performance.md).

Two things keep valgrind 3.19 from running these programs as they are (valgrind-shim.c,
preloaded): libdispatch's sigsuspend with a read-only mask (relay, agent), and sshd's
seccomp sandbox. Swift binaries are given without their debug information (valgrind 3.19
cannot read Swift 6's DWARF 5); the symbol table stays, so callgrind's files still name
functions.
"""
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import owners  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
#: glibc copies and fills large buffers with `rep movsb` / `rep stosb`, and callgrind counts
#: one instruction per byte of those: a 64 KiB memset is 65,536 "instructions", where the
#: CPU takes about as long as for the 2,048 of a vector loop. sshd and ssh clear their
#: buffers on every packet, so their counts came out 4× too high, 76 % of them memset.
#: With these thresholds glibc never takes the rep path and uses its vector loops, which
#: callgrind counts in proportion to what they cost.
NO_REP_STRINGS = "glibc.cpu.x86_rep_movsb_threshold=0x7fffffffffffffff:glibc.cpu.x86_rep_stosb_threshold=0x7fffffffffffffff"


class Callgrind:
    """valgrind --tool=callgrind in front of chosen processes, and their counts on demand."""

    def __init__(self, tmp):
        # Beside tmp, not in it, and open to all (sticky, as /tmp): sshd's login child
        # writes its counts here after it dropped to sshd's user.
        self.dir = tempfile.mkdtemp(prefix="h2t-callgrind.", dir=os.path.dirname(os.path.abspath(tmp)))
        os.chmod(self.dir, 0o1777)
        self.prefix = os.path.join(self.dir, "vgdb")
        self.shim = os.path.join(self.dir, "valgrind-shim.so")
        subprocess.run(["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", self.shim,
                        os.path.join(HERE, "valgrind-shim.c")], check=True)

    def stripped(self, bin_dir, label, names=("relay", "agent")):
        """A folder (named `label`) with copies of bin_dir's `names` without debug information."""
        out = os.path.join(self.dir, "bin", label)
        os.makedirs(out, exist_ok=True)
        for name in names:
            subprocess.run(["strip", "--strip-debug", "-o", os.path.join(out, name),
                            os.path.join(bin_dir, name)], check=True)
        return out

    def argv(self, follow_exec=False):
        """What goes in front of a program's argv. `follow_exec`: sshd, which re-executes
        itself for each connection; the session's shell and its `sleep` are not followed."""
        argv = ["env", f"LD_PRELOAD={self.shim}", f"GLIBC_TUNABLES={NO_REP_STRINGS}", "valgrind", "--tool=callgrind",
                f"--vgdb-prefix={self.prefix}",
                f"--callgrind-out-file={os.path.join(self.dir, 'cg.%p')}"]
        if follow_exec:
            argv += ["--trace-children=yes", "--trace-children-skip=*/sh,*/bash,*/dash,*/sleep"]
        return argv

    def live(self):
        """The pids running under this callgrind now (each has a vgdb shared-memory file)."""
        pids = set()
        for path in glob.glob(self.prefix + "-shared-mem-vgdb-*"):
            m = re.search(r"-shared-mem-vgdb-(\d+)-", path)
            if m and os.path.exists(f"/proc/{m.group(1)}"):
                pids.add(int(m.group(1)))
        return pids

    def dump(self, pids):
        """{pid: Counter(owner: instructions since its last dump)} (owners.OWNERS, see
        by_owner(); and by_function()'s "fn:…" keys); each dump zeroes the process's counters."""
        pids = sorted(pids)
        subprocess.run(["callgrind_control", f"--vgdb-prefix={self.prefix}", "--dump"] + [str(p) for p in pids],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        out = {}
        for pid in pids:
            files = glob.glob(os.path.join(self.dir, f"cg.{pid}.*"))
            if not files:
                raise RuntimeError(f"callgrind wrote no dump for pid {pid}")
            newest = max(files, key=lambda f: int(f.rsplit(".", 1)[1]))
            with open(newest) as f:
                dump = parse(f)
            out[pid] = by_owner(dump) + by_function(dump)
            os.remove(newest)
        return out

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def by_owner(dump):
    """Counter(owner: instructions) of one parsed callgrind dump (`parse`), by
    owners.owner() of each function.

    A function with no owner of its own (libc, the Swift runtime, the dynamic loader)
    passes its instructions to its callers, in proportion to the instructions of their
    calls to it (callgrind's call costs, as gprof divides time), and on up until a caller
    has an owner: `swift_retain` under NIO's channel code is NIO's, `memset` under sshd's
    packet code is sshd's. A chain that reaches no owner (thread start-up, a cycle) counts
    as unattributed. The counts add up to the dump's summary line."""
    return attributed(dump, owners.owner)


#: How many functions of a dump `by_function` keeps: the rest are a long tail of
#: start-up and error paths, and every key kept is carried through each round.
FUNCTIONS = 300


def by_function(dump):
    """Counter("fn:OWNER:FUNCTION": instructions) of one parsed callgrind dump: as `by_owner`,
    but each owned function keeps its own instructions and its share of the libc and
    runtime work it called (`swift_retain`, `malloc`), so a cut can be aimed at one
    function. Functions of a library without symbols (OpenSSL's internals) are one entry
    per library. The FUNCTIONS largest are kept; string keys, so they go into JSON."""
    def bucket(function, dso):
        o = owners.owner(function, dso)
        if not o:
            return None
        if function.startswith("0x"):
            function = os.path.basename(dso) + " internals"
        return f"fn:{o}:{function}"

    got = collections.Counter({k: v for k, v in attributed(dump, bucket).items() if k.startswith("fn:")})
    return collections.Counter(dict(got.most_common(FUNCTIONS)))


#: One callgrind dump, read once for every view of it: each function's own instructions,
#: its object file, the inclusive cost of each call to it by caller, the summary line.
Dump = collections.namedtuple("Dump", "own dso callers summary")


def parse(lines):
    """The `Dump` of a callgrind dump's lines."""
    names, objects = {}, {}

    def name(table, text):
        # Compressed names: "(7) name" defines id 7, a later "(7)" refers to it.
        m = re.match(r"\((\d+)\)(?: (.*))?$", text)
        if not m:
            return text
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table[m.group(1)]

    own = collections.Counter()                       # function -> its own instructions
    dso = {}                                          # function -> its object file
    callers = collections.defaultdict(collections.Counter)  # callee -> caller -> call cost
    summary, ob, fn, callee = None, "", None, None
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        if line[0].isdigit() or line[0] in "+-*":     # "position cost": a cost line
            parts = line.split()
            cost = int(parts[1]) if len(parts) > 1 else 0
            if callee is not None:                    # the inclusive cost of a call
                callers[callee][fn] += cost
                callee = None
            else:
                own[fn] += cost
        elif line.startswith("fn="):
            fn = name(names, line[3:])
            dso.setdefault(fn, ob)
        elif line.startswith("ob="):
            ob = name(objects, line[3:])
        elif line.startswith("cob="):
            name(objects, line[4:])
        elif line.startswith("cfn="):
            callee = name(names, line[4:])
        elif line.startswith("calls="):
            pass                                      # callee set by cfn=, cost on the next line
        elif line.startswith("summary:"):
            summary = int(line.split()[1])
    if summary is None:
        raise RuntimeError("callgrind dump without a summary line")
    return Dump(own, dso, callers, summary)


def attributed(dump, bucket):
    """Counter(bucket: instructions) of a parsed dump, plus "all" (its summary):
    bucket(function, object file) names where a function's own instructions go, or None
    for a function that passes them to its callers (see `by_owner`)."""
    own, dso, callers, summary = dump

    shares, busy = {}, set()

    def share(f):
        """{bucket: fraction} of function f's own instructions."""
        if f in shares:
            return shares[f]
        o = bucket(f, dso.get(f, ""))
        if o:
            shares[f] = {o: 1.0}
            return shares[f]
        busy.add(f)
        got, weight = collections.Counter(), 0
        for caller, w in callers.get(f, {}).items():
            if caller in busy or w <= 0:
                continue
            for k, v in share(caller).items():
                got[k] += v * w
            weight += w
        busy.discard(f)
        shares[f] = {k: v / weight for k, v in got.items()} if weight else {"unattributed": 1.0}
        return shares[f]

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        out = collections.Counter()
        for f, cost in own.items():
            for k, v in share(f).items():
                out[k] += cost * v
    finally:
        sys.setrecursionlimit(limit)
    out["all"] = summary
    return out


def per_event(cg, roles_of, newconns, keepalive, n_conn, rounds):
    """{"conn"|"req": [{role: Counter(owner: instructions per event, "all": the total)}
    per round]}.

    roles_of() gives {role: [pids]} of the processes to count (those not under callgrind
    are left out); newconns(n) and keepalive(n) run the loads and return their errors."""

    def counted():
        live = cg.live()
        return {role: [p for p in pids if p in live] for role, pids in roles_of().items()}

    def by_role(who):
        got = cg.dump([p for pids in who.values() for p in pids])
        out = {}
        for role, pids in who.items():
            out[role] = collections.Counter()
            for p in pids:
                out[role].update(got[p])
        return out

    def run(load, n):
        errors = load(n)
        if errors:
            raise RuntimeError(f"{errors} errors in {n} operations under callgrind")

    def scaled(counts, n):
        return collections.Counter({k: v / n for k, v in counts.items()})

    who = counted()
    missing = [role for role, pids in who.items() if not pids]
    if missing:
        raise RuntimeError(f"not under callgrind: {', '.join(missing)}")
    run(newconns, 20)   # warm-up: first handshakes, caches
    run(keepalive, 200)
    by_role(who)
    out = {"conn": [], "req": []}
    for _ in range(rounds):
        run(newconns, n_conn)
        out["conn"].append({role: scaled(v, n_conn) for role, v in by_role(who).items()})
        run(keepalive, 100)
        short = by_role(who)
        run(keepalive, 1100)
        long = by_role(who)
        out["req"].append({role: scaled(collections.Counter({k: long[role][k] - short[role][k]
                                                             for k in long[role].keys() | short[role].keys()}), 1000)
                           for role in who})
    return out
