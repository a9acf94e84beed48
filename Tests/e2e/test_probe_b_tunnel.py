"""h2probe (issue 3) against the project's own relay and agent: `route` tells a
tenant from the relay by the certificate that answers, `connect` carries bytes
both ways through relay → agent (tls:// passthrough) → an HTTP/2 server that
allows extended CONNECT, and `relay` mode judges a real agent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN, wait_until
from probe_servers import h2probe, assert_one_error_line, cert_sha256, run_probe

HERE = Path(__file__).resolve().parent
TENANT = f"acme.{TENANT_DOMAIN}"


@pytest.fixture(scope="module")
def h2echo(module_procs, pki):
    """The h2 echo server with the tenant certificate (it is the HTTPS app)."""
    try:
        import h2  # noqa: F401
    except ImportError:
        pytest.fail("python package h2 missing (Tools/setup installs it)")
    proc = module_procs.start("h2echo", [sys.executable, HERE / "probe_servers.py", "h2echo",
                                         "--cert", pki / "tenants/acme/tenant.pem",
                                         "--key", pki / "tenants/acme/tenant.key"])
    return int(proc.wait_line(r"^h2echo ready port=(\d+)$").group(1))


@pytest.fixture(scope="module")
def relay(module_procs, h2echo):
    relay = module_procs.relay()
    module_procs.agent(relay, f"tls://127.0.0.1:{h2echo}")
    return relay


def _via(pki, relay):
    return ["--via", f"127.0.0.1:{relay.port}", "--relay-hostname", RELAY_HOST,
            "--cacert", pki / "ca.pem"]


def _tenant_args(pki, relay, host=TENANT):
    return ["--cacert", pki / "ca.pem", "--resolve", f"{host}:{relay.port}:127.0.0.1"]


# -- route ---------------------------------------------------------------------

def test_route_tenant_shows_the_tenant_certificate(h2probe, pki, relay):
    result = run_probe(h2probe, "route", TENANT, *_via(pki, relay), "--json")
    assert result.rc == 0, repr(result)
    route = result.json()["route"]
    assert route["kind"] == "tenant", route
    assert route["host"] == TENANT
    assert route["certificate"]["sha256"] == cert_sha256(pki / "tenants/acme/tenant.pem")
    assert route["certificate"]["sha256"] != cert_sha256(pki / "relay.pem")
    text = run_probe(h2probe, "route", TENANT, *_via(pki, relay))
    assert text.rc == 0, repr(text)
    assert "kind:        tenant" in text.out or "kind: tenant" in " ".join(text.out.split())
    assert cert_sha256(pki / "tenants/acme/tenant.pem") in text.out


def test_route_relay_shows_the_relay_certificate(h2probe, pki, relay):
    result = run_probe(h2probe, "route", RELAY_HOST, *_via(pki, relay), "--json")
    assert result.rc == 0, repr(result)
    route = result.json()["route"]
    assert route["kind"] == "relay", route
    assert route["certificate"]["sha256"] == cert_sha256(pki / "relay.pem")


def test_route_agent_endpoint(h2probe, pki, relay):
    """The agent endpoint wants a client certificate h2probe does not have:
    that is what an agent endpoint looks like, not a protocol failure."""
    result = run_probe(h2probe, "route", AGENT_HOST, *_via(pki, relay), "--json")
    doc = result.json()
    assert doc.get("route", {}).get("kind") == "agent-endpoint", repr(result)
    assert result.rc == 0, repr(result)


@pytest.mark.parametrize("host,why", [
    (f"globex.{TENANT_DOMAIN}", "tenant offline"),
    (f"nobody.{TENANT_DOMAIN}", "tenant unknown"),
    ("unknown.example", "not a name of this relay"),
])
def test_route_refused(h2probe, pki, relay, host, why):
    result = run_probe(h2probe, "route", host, *_via(pki, relay), "--json")
    assert result.rc == 6, repr(result)
    assert_one_error_line(result)
    doc = result.json()
    assert doc["ok"] is False and doc["route"]["kind"] == "refused", doc
    assert doc["error"]["exitCode"] == 6
    text = run_probe(h2probe, "route", host, *_via(pki, relay))
    assert text.rc == 6, repr(text)
    assert_one_error_line(text)


# -- connect -------------------------------------------------------------------

def _connect(h2probe, pki, relay, data, *extra):
    url = f"https://{TENANT}:{relay.port}/"
    return run_probe(h2probe, "connect", url, "--protocol", "echo", *_tenant_args(pki, relay),
                     *extra, input=data, timeout=60)


def test_connect_echo_small(h2probe, pki, relay):
    data = b"hello through relay and agent\n"
    result = _connect(h2probe, pki, relay, data)
    assert result.rc == 0, repr(result)
    assert result.stdout == data, repr(result)


def test_connect_echo_100k_random(h2probe, pki, relay):
    data = os.urandom(100 * 1024)
    result = _connect(h2probe, pki, relay, data, "--quiet")
    assert result.rc == 0, repr(result)
    assert len(result.stdout) == len(data) and result.stdout == data, \
        f"{len(result.stdout)} bytes back, want {len(data)}: {result!r}"


def test_connect_json_reports_the_stream(h2probe, pki, relay):
    """stdout carries the stream, so with --json the document goes to stderr
    (documented); the echo stays intact and the document shows the CONNECT."""
    result = _connect(h2probe, pki, relay, b"json\n", "--json")
    assert result.rc == 0, repr(result)
    assert result.stdout == b"json\n", repr(result)
    text = result.err
    start = text.find("{")
    assert start >= 0, repr(result)
    import json
    doc, _ = json.JSONDecoder().raw_decode(text[start:])
    assert doc["ok"] is True, doc
    sent = [f for f in doc["frames"] if f["type"] == "HEADERS" and f["direction"] == "sent"]
    assert sent and [":protocol", "echo"] in [list(h) for h in sent[0]["headers"]], sent
    assert [":method", "CONNECT"] in [list(h) for h in sent[0]["headers"]], sent


def test_connect_stdin_and_stdout_files(h2probe, pki, relay, tmp_path):
    """`h2probe connect … < in > out`: regular files, not pipes."""
    data = os.urandom(20000)
    (tmp_path / "in").write_bytes(data)
    url = f"https://{TENANT}:{relay.port}/"
    import subprocess
    with open(tmp_path / "in", "rb") as fin, open(tmp_path / "out", "wb") as fout:
        proc = subprocess.run([str(h2probe), "connect", url, "--protocol", "echo", "--quiet",
                               *map(str, _tenant_args(pki, relay))],
                              stdin=fin, stdout=fout, stderr=subprocess.PIPE, timeout=60)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err[-1500:]
    assert (tmp_path / "out").read_bytes() == data


def test_connect_stdin_devnull(h2probe, pki, relay):
    """`h2probe connect … </dev/null`: send nothing, end the stream, exit 0."""
    url = f"https://{TENANT}:{relay.port}/"
    import subprocess
    proc = subprocess.run([str(h2probe), "connect", url, "--protocol", "echo", "--quiet",
                           *map(str, _tenant_args(pki, relay))],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    err = proc.stderr.decode(errors="replace")
    assert "Fatal error" not in err and "crashed" not in err, err[:1500]
    assert proc.returncode == 0, err[-1500:]
    assert proc.stdout == b""


def test_get_through_the_tunnel(h2probe, pki, relay):
    """A plain request over the same path: end-to-end HTTP/2 to the app."""
    result = run_probe(h2probe, f"https://{TENANT}:{relay.port}/hello", *_tenant_args(pki, relay),
                       "--json")
    assert result.rc == 0, repr(result)
    doc = result.json()
    assert doc["response"]["status"] == 200
    assert doc["tls"]["chain"][0]["sha256"] == cert_sha256(pki / "tenants/acme/tenant.pem")
    settings = next(f["settings"] for f in doc["frames"]
                    if f["type"] == "SETTINGS" and f["direction"] == "received" and "ACK" not in f["flags"])
    # the app's SETTINGS reach h2probe untouched by relay and agent
    assert settings.get("SETTINGS_ENABLE_CONNECT_PROTOCOL") == 1, settings
    assert settings.get("SETTINGS_MAX_CONCURRENT_STREAMS") == 55, settings


# -- relay mode ----------------------------------------------------------------

def _probe_relay(procs, h2probe, pki, *extra):
    proc = procs.start("h2probe-relay", [
        h2probe, "relay", "--listen", "127.0.0.1:0", "--cert", pki / "relay.pem",
        "--key", pki / "relay.key", "--agent-ca", pki / "agent-ca.pem", "--timeout", 30, *extra])
    port = int(proc.wait_line(r"^h2probe relay listening 127\.0\.0\.1:(\d+)$", timeout=15).group(1))
    return proc, port


def _agent(procs, pki, port, upstream, cert=None, key=None):
    cert = cert or pki / "tenants/acme/agent.pem"
    key = key or pki / "tenants/acme/agent.key"
    return procs.start("agent-acme", [
        procs.bins / "agent", "run", "--relay", f"127.0.0.1:{port}", "--relay-hostname", AGENT_HOST,
        "--relay-ca", pki / "ca.pem", "--cert", cert, "--key", key,
        "--tenant-cert", pki / "tenants/acme/tenant.pem", "--tenant-key", pki / "tenants/acme/tenant.key",
        "--upstream", upstream, "--reconnect-base", "0.1", "--reconnect-max", "1",
        "--admin-listen", "127.0.0.1:0"])


def _finish(proc, timeout=45):
    """Exit code of h2probe relay; callers then wait for the lines they need
    (the stdout reader thread may still be appending the last ones)."""
    return proc.wait_exit(timeout)


def test_relay_mode_healthy_agent(procs, h2probe, pki, h2echo):
    proc, port = _probe_relay(procs, h2probe, pki)
    _agent(procs, pki, port, f"tls://127.0.0.1:{h2echo}")
    rc = _finish(proc)
    wait_until(lambda: any(l.startswith("verdict:") for l in proc.lines), 5, "verdict line")
    out = "\n".join(proc.lines)
    assert rc == 0, out + "\n" + proc.stderr_text()
    assert "verdict: healthy" in proc.lines, out
    assert any(l.startswith("ok ") and "mTLS" in l for l in proc.lines), out
    assert not any(l.startswith("FAIL") for l in proc.lines), out
    assert proc.stderr_text().strip() == ""


def test_relay_mode_healthy_agent_json(procs, h2probe, pki, demo_app):
    proc, port = _probe_relay(procs, h2probe, pki, "--json")
    _agent(procs, pki, port, demo_app.upstream)
    rc = _finish(proc)
    import json
    wait_until(lambda: any(l.startswith("{") for l in proc.lines), 5, "json document")
    doc = json.loads(next(l for l in proc.lines if l.startswith("{")))
    assert rc == 0, doc
    assert doc["ok"] is True, doc
    assert str(doc["verdict"]).startswith("healthy"), doc
    assert doc["agent"], doc


def test_relay_mode_rogue_agent_is_unhealthy(procs, h2probe, pki, h2echo):
    proc, port = _probe_relay(procs, h2probe, pki)
    _agent(procs, pki, port, f"tls://127.0.0.1:{h2echo}",
           cert=pki / "rogue/agent.pem", key=pki / "rogue/agent.key")
    rc = _finish(proc)
    wait_until(lambda: any(l.startswith("FAIL") for l in proc.lines), 5, "FAIL line")
    out = "\n".join(proc.lines)
    assert rc == 6, out + "\n" + proc.stderr_text()
    assert any(l.startswith("FAIL mTLS") for l in proc.lines), out
    assert "verdict: healthy" not in proc.lines
    lines = [l for l in proc.stderr_text().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("h2probe: "), lines


def test_relay_mode_wrong_authority_is_unhealthy(procs, h2probe, pki, h2echo):
    """The test stream names a host the agent's tenant certificate does not
    cover: the agent answers 421, the verdict is negative."""
    proc, port = _probe_relay(procs, h2probe, pki, "--authority", f"globex.{TENANT_DOMAIN}")
    _agent(procs, pki, port, f"tls://127.0.0.1:{h2echo}")
    rc = _finish(proc)
    wait_until(lambda: any(l.startswith("FAIL") for l in proc.lines), 5, "FAIL line")
    out = "\n".join(proc.lines)
    assert rc == 6, out + "\n" + proc.stderr_text()
    assert any(l.startswith("ok ") and "mTLS" in l for l in proc.lines), out
    assert any(l.startswith("FAIL CONNECT") for l in proc.lines), out
    # wire contract 3: the agent answers 421 (not a reset) for a foreign authority
    assert any(l.startswith("FAIL CONNECT") and "421" in l for l in proc.lines), \
        "the agent did not answer :status 421:\n" + out[-1500:]
