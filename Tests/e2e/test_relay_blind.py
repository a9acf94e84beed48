"""(c) The relay never handles the application's plaintext.

The relay runs under `strace -f`, which records every byte it reads from and
writes to any socket or pipe. A random marker travels through a tunnel (tcp:// and
the signed-in http:// mode) in the request body and back in the app's response; it must appear in none of those
bytes, while the tenant's name from the ClientHello (plaintext by TLS's design)
does, which shows the trace really holds what the relay read for that tunnel.
"""

import os
import re
import shutil
import subprocess

import pytest

import http_front
from cluster import curl, wait_until

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed (Tools/setup installs it)")

#: Every system call that moves bytes through a descriptor.
IO_CALLS = "read,write,readv,writev,pread64,pwrite64,recvfrom,sendto,recvmsg,sendmsg,recvmmsg,sendmmsg,splice"


def hex_escaped(text: bytes) -> str:
    """How `strace -xx` prints bytes: every byte as \\xNN."""
    return "".join(f"\\x{b:02x}" for b in text)


@pytest.fixture
def traced_relay(procs, tmp_path):
    relay = procs.relay()
    trace = tmp_path / "relay.strace"
    tracer = procs.start("strace", ["strace", "-f", "-xx", "-s", "1048576", "-e", f"trace={IO_CALLS}",
                                    "-o", trace, "-p", relay.proc.pid])
    # "Process N attached with T threads": from then on every thread is traced.
    wait_until(lambda: "attached" in tracer.stderr_text(), 20, "strace attached to the relay")
    return relay, tracer, trace


@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_app_plaintext_never_crosses_the_relay(traced_relay, procs, demo_app, pki, tmp_path, mode):
    relay, tracer, trace = traced_relay
    session = []
    if mode == "tcp":
        procs.agent(relay, demo_app.upstream)
    else:
        # The signed-in path: ticket, session cookie and reverse proxy all run at the agent.
        http_front.start_agent(procs, relay, f"http://127.0.0.1:{demo_app.port}")
        session = ["-b", f"{http_front.COOKIE}={http_front.sign_in(pki, relay)}"]
    marker = b"H2T-PLAINTEXT-MARKER-" + os.urandom(12).hex().encode()
    body = marker * 2048  # ~90 KiB each way, several TLS records
    upload = tmp_path / "body"
    upload.write_bytes(body)
    result = curl(pki, relay, "acme", "/echo", *session, "--data-binary", f"@{upload}")
    assert result.returncode == 0, result.stderr.decode()
    assert marker in result.stdout, "the app's response did not carry the marker back"
    relay.proc.stop()
    tracer.wait_exit(timeout=20)
    text = trace.read_text(errors="replace")
    assert hex_escaped(b"acme.tunnel.localhost") in text, "trace lacks the ClientHello the relay read"
    moved = sum(int(n) for n in re.findall(r"^\d+\s+(?:write|writev|sendmsg|sendto)\(.*= (\d+)$", text, re.M))
    assert moved >= 2 * len(body), f"the relay wrote only {moved} bytes in the trace"
    # 2,048 copies each way: if plaintext ever passed, whole copies would be in the trace.
    assert hex_escaped(marker) not in text, "the app's plaintext crossed the relay"
    if session:  # nor did the agent's session cookie, which rides in every request
        assert hex_escaped(session[1].split("=", 1)[1][:40].encode()) not in text
