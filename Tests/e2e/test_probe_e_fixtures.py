"""The repository's Fixtures/ with the real binaries (issue 14 item 9): each captured
ClientHello (Chromium, curl, OpenSSL) replayed byte for byte to the relay is routed to
the tenant's agent, and the same bytes naming an unknown tenant are refused; the sample
configs load with `relay run --config` / `agent run --config` and get to ready (paths
overridden by flags) or fail only on a missing file named in the message; the frame
trace is an h2probe --json document."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from cluster import wait_until

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Fixtures"
HELLOS = ["chromium.bin", "curl.bin", "openssl.bin"]
SNI = b"acme.tunnel.localhost"


@pytest.fixture(scope="module")
def routed(module_procs, demo_app):
    relay = module_procs.relay()
    module_procs.agent(relay, demo_app.upstream)
    return relay


def _replay(port: int, hello: bytes) -> tuple[socket.socket, bytes]:
    """Sends the ClientHello as captured; returns the socket and the first answer bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(hello)
    answer = b""
    while len(answer) < 6:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return sock, answer


@pytest.fixture(scope="module")
def agentless(module_procs):
    """A relay where acme has no agent: the same ClientHello cannot reach a tenant."""
    return module_procs.relay()


@pytest.mark.parametrize("name", HELLOS)
def test_captured_client_hello_is_routed_to_the_tenant(routed, agentless, name):
    hello = (FIXTURES / "clienthello" / name).read_bytes()
    assert SNI in hello, f"{name} does not name {SNI!r}"
    sock, answer = _replay(routed.port, hello)
    sock.close()
    # RFC 8446 §5.1/§4: a handshake record whose first message is a ServerHello (2),
    # made by acme's agent with the tenant key at the far end of a tunnel...
    assert answer[:1] == b"\x16" and answer[5:6] == b"\x02", f"{name}: answer {answer[:16]!r}"
    # ...which is the agent's doing: where acme has no agent the relay answers no handshake.
    sock, answer = _replay(agentless.port, hello)
    sock.close()
    assert answer[:1] != b"\x16", f"{name}: a handshake without an agent: {answer[:16]!r}"


@pytest.mark.parametrize("name", HELLOS)
def test_captured_client_hello_for_an_unknown_tenant_is_refused(routed, name):
    """The same bytes with the name swapped for one of equal length (lengths stay valid)."""
    hello = (FIXTURES / "clienthello" / name).read_bytes().replace(SNI, b"zzzz.tunnel.localhost")
    before = routed.agent_total("openStreams", "acme")
    sock, answer = _replay(routed.port, hello)
    sock.close()
    assert answer[:1] != b"\x16", f"{name}: an unknown tenant got a handshake: {answer[:16]!r}"
    assert answer == b"" or answer[:1] == b"\x15", f"{name}: neither an alert nor a close: {answer[:16]!r}"
    assert routed.agent_total("openStreams", "acme") <= before


def _run_until(argv, ready: str, timeout: float = 30):
    """Starts a binary; returns (saw ready line, stderr). Ends it by its own PID."""
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        seen = line.startswith(ready)
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    return seen, line, err


def test_sample_relay_config_gets_to_ready(bins, pki):
    seen, line, err = _run_until([bins / "relay", "run", "--config", FIXTURES / "configs/relay.json",
                                  "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                                  "--cert", pki / "relay.pem", "--key", pki / "relay.key",
                                  "--agent-ca", pki / "agent-ca.pem"], "relay ready ")
    assert seen, f"no ready line: {line!r}\n{err}"


def test_sample_relay_config_alone_names_the_missing_file(bins, tmp_path):
    result = subprocess.run([str(bins / "relay"), "run", "--config", str(FIXTURES / "configs/relay.json"),
                             "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode != 0, result
    assert "pki/relay.pem" in result.stderr, result.stderr
    assert "unknown" not in result.stderr.lower(), result.stderr


def test_sample_agent_config_connects(bins, pki, procs, demo_app):
    relay = procs.relay()
    agent = procs.start("agent-fixture", [bins / "agent", "run", "--config", FIXTURES / "configs/agent.json",
                                          "--relay", f"127.0.0.1:{relay.port}", "--relay-ca", pki / "ca.pem",
                                          "--cert", pki / "tenants/acme/agent.pem", "--key", pki / "tenants/acme/agent.key",
                                          "--tenant-cert", pki / "tenants/acme/tenant.pem",
                                          "--tenant-key", pki / "tenants/acme/tenant.key",
                                          "--upstream", demo_app.upstream, "--admin-listen", "127.0.0.1:0"])
    relay.wait_agent("acme", proc=agent)


def test_sample_agent_config_alone_names_the_missing_file(bins, tmp_path):
    result = subprocess.run([str(bins / "agent"), "run", "--config", str(FIXTURES / "configs/agent.json")],
                            capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode != 0, result
    assert "pki/tenants/acme/agent.pem" in result.stderr, result.stderr


def test_frame_trace_is_an_h2probe_document():
    doc = json.loads((FIXTURES / "traces/nghttpd-get.json").read_text())
    assert doc["ok"] is True and doc["tls"]["alpn"] == "h2", doc.get("tls")
    types = [f["type"] for f in doc["frames"]]
    assert "SETTINGS" in types and "HEADERS" in types and "DATA" in types, types
    assert doc["response"]["status"] == 200, doc["response"]


def test_agent_endpoint_trace_shows_the_reversed_roles():
    doc = json.loads((FIXTURES / "traces/agent-endpoint-ping.json").read_text())
    assert doc["ok"] is True and doc["rolesReversed"] is True and doc["ping"]["count"] == 3, doc
    first = [(f["direction"], f["type"]) for f in doc["frames"]][:3]
    assert first[0] == ("sent", "SETTINGS") and ("received", "SETTINGS") in first, first
