"""Tools/bench --cpu's instruction counts of relay and agent (Tools/bench.d/counts/tunnel.py).

The README's instruction rows rest on two things checked here: that relay and agent run
under valgrind's callgrind at all (valgrind 3.19 dies inside itself on a Swift program
without the preloaded shim) and are counted while they carry real tunnels, and how a
dump's instructions are divided between owners.
"""
import collections
import shutil
import sys

import pytest

from cluster import REPO, Processes, curl

sys.path.insert(0, str(REPO / "Tools" / "bench.d"))
from counts import tunnel  # noqa: E402
import cpu  # noqa: E402

# A dump as callgrind 3.19 writes it (compressed names, relative positions): NIO's read
# calls malloc, the splice calls malloc, malloc calls an internal libc function, two
# runtime functions call each other and nothing else, and OpenSSL owns its own.
DUMP = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  relay run
part: 2

desc: I1 cache:
positions: line
events: Ir
summary: 1950

ob=(1) /opt/h2t/relay
fl=(1) ???
fn=(1) $s8NIOPosix17BaseSocketChannelC8readableyyF
0 100
cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
cfi=(2) ???
cfn=(2) malloc
calls=3 0
0 450
+2 50

fn=(3) $s13H2TunnelHTTP212StreamSpliceC11channelReadyyF
0 200
cob=(2)
cfi=(2)
cfn=(2)
calls=1 0
0 150

ob=(2)
fl=(2)
fn=(2)
0 400
cfn=(4) _int_malloc
calls=4 0
* 200

fn=(4)
0 200

ob=(3) /opt/swift/usr/lib/swift/linux/libswiftCore.so
fl=(3) ???
fn=(5) swift_deallocObject
0 60
cfn=(6) swift_release
calls=1 0
0 40
fn=(6)
0 40
cfn=(5)
calls=1 0
0 100

ob=(4) /usr/lib/x86_64-linux-gnu/libcrypto.so.3
fl=(4) ???
fn=(7) ossl_gcm_cipher
0 900
"""


def test_instructions_go_to_their_owner_or_their_callers():
    got = tunnel.by_owner(tunnel.parse(DUMP.splitlines(keepends=True)))
    assert got["all"] == 1950
    # malloc (400) and _int_malloc under it (200) are NIO's and the splice's in
    # proportion to their calls: 450 against 150.
    assert got["event loop (NIO)"] == pytest.approx(100 + 50 + 600 * 450 / 600)
    assert got["tunnel code"] == pytest.approx(200 + 600 * 150 / 600)
    assert got["OpenSSL"] == 900
    # A cycle of runtime functions that no owner calls belongs to nobody.
    assert got["unattributed"] == pytest.approx(100)
    assert sum(v for k, v in got.items() if k != "all") == pytest.approx(got["all"])


def test_each_owned_function_keeps_its_share_of_what_it_called():
    got = tunnel.by_function(tunnel.parse(DUMP.splitlines(keepends=True)))
    nio = "fn:event loop (NIO):$s8NIOPosix17BaseSocketChannelC8readableyyF"
    splice = "fn:tunnel code:$s13H2TunnelHTTP212StreamSpliceC11channelReadyyF"
    assert got[nio] == pytest.approx(100 + 50 + 600 * 450 / 600)
    assert got[splice] == pytest.approx(200 + 600 * 150 / 600)
    assert got["fn:OpenSSL:ossl_gcm_cipher"] == 900
    # Functions only: what no owner called is in by_owner's "unattributed", not here.
    assert set(got) == {nio, splice, "fn:OpenSSL:ossl_gcm_cipher"}


def test_the_report_names_the_largest_functions_demangled():
    def counts(scale):
        return collections.Counter({"all": 1000 * scale, "tunnel code": 300 * scale,
                                    "fn:tunnel code:$s13H2TunnelHTTP212StreamSpliceC11channelReadyyF": 300 * scale,
                                    "fn:OpenSSL:libcrypto.so.3 internals": 100 * scale})
    ir = {path: {kind: [{role: counts(2 if kind == "conn" else 1) for role in roles}]
                 for kind in ("conn", "req")}
          for path, roles in (("E", ("relay", "agent")), ("C", ("sshd", "ssh")))}
    text = "\n".join(cpu.tunnel_count_table(ir))
    # One table ranked per keep-alive request, one per new connection, each with the
    # other event's figure beside.
    tables = text.split("Where E's instructions go")[1:]
    assert len(tables) == 2
    assert "largest per keep-alive request" in tables[0] and "largest per new connection" in tables[1]
    for table, last in zip(tables, ("| tunnel code | 300 | 300 | 1,200 |", "| tunnel code | 600 | 600 | 600 |")):
        rows = [line for line in table.splitlines() if line.startswith("| `")]
        # Largest first; the Swift name demangled when the toolchain is there to do it.
        assert len(rows) == 2 and "channelRead" in rows[0] and "libcrypto.so.3 internals" in rows[1]
        if shutil.which("swift"):
            assert "StreamSplice.channelRead()" in rows[0]
        assert rows[0].endswith(last)


def test_relay_and_agent_are_counted_under_callgrind(pki, logdir, bins, demo_app, tmp_path):
    for tool in ("valgrind", "callgrind_control", "gcc", "strip"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} missing (Tools/setup installs it)")
    cg = tunnel.Callgrind(str(tmp_path / "bench"))
    try:
        stripped = cg.stripped(str(bins), "tree")

        class Counted(Processes):
            def start(self, name, argv, env=None):
                return super().start(name, cg.argv() + [str(a) for a in argv], env)

        procs = Counted(type(bins)(stripped), pki, logdir)
        try:
            relay = procs.relay()
            agent = procs.agent(relay, demo_app.upstream)
            who = {"relay": relay.proc.pid, "agent": agent.proc.pid}
            assert set(who.values()) <= cg.live()
            out = curl(pki, relay, "acme", "/")       # first-use work (lazy set-up) out of the way
            assert out.returncode == 0, out.stderr
            cg.dump(who.values())                     # from here on: the tunnels only
            for _ in range(3):
                out = curl(pki, relay, "acme", "/")
                assert out.returncode == 0, out.stderr
            got = cg.dump(who.values())
            cg.dump(who.values())                     # nothing happened since the last dump
            idle = cg.dump(who.values())
        finally:
            procs.stop_all()
    finally:
        cg.remove()
    for role, pid in who.items():
        counts = got[pid]
        assert counts["all"] > 100_000, (role, counts)
        owned = {k: v for k, v in counts.items() if not k.startswith("fn:")}
        assert sum(v for k, v in owned.items() if k != "all") == pytest.approx(counts["all"])
        # The tunnel's own functions are named, each within its owner's total.
        functions = {k: v for k, v in counts.items() if k.startswith("fn:tunnel code:")}
        assert functions and sum(functions.values()) <= counts["tunnel code"] * 1.0001, (role, functions)
        # A tunnel is the event loop's, TLS's and the tunnel code's work, HTTP/2 among it
        # (in shares a release build does not have: this is the debug build).
        for owner in ("event loop (NIO)", "OpenSSL", "nghttp2", "tunnel code"):
            assert counts[owner] > 0, (role, owner, counts)
        assert counts["unattributed"] < 0.1 * counts["all"], (role, counts)
        # A dump counts from the last one: with no tunnels in between, next to nothing.
        assert idle[pid]["all"] < 0.2 * counts["all"], (role, idle[pid], counts)
    assert isinstance(got, dict) and all(isinstance(c, collections.Counter) for c in got.values())
