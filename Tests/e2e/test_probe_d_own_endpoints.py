"""h2probe against H2Tunnel's own endpoints (issue 14 item 8): a client certificate
(--cert/--key) for the relay's agent endpoint, where the relay is the HTTP/2 client and
h2probe answers as the server; a clear message and exit 4 where a tenant speaks TLS but
not h2 (a tcp:// tenant offers only http/1.1); names under .localhost dialled on loopback
without --resolve (RFC 6761 §6.3)."""

from __future__ import annotations

import re
import socket
import sys
import threading
from pathlib import Path

import pytest

from cluster import AGENT_HOST, TENANT_DOMAIN
from probe_servers import h2probe, assert_one_error_line, run_probe  # noqa: F401 (fixture)

HERE = Path(__file__).resolve().parent
NOT_H2 = "the server chose http/1.1 (no h2 offered): h2probe speaks HTTP/2 only; try curl"


@pytest.fixture(scope="module")
def relay(module_procs):
    return module_procs.relay()


def _agent_cert(pki, tenant="globex"):
    # globex has no agent of its own here, so no browser traffic meets the probe.
    return ["--cert", pki / "tenants" / tenant / "agent.pem", "--key", pki / "tenants" / tenant / "agent.key"]


def test_ping_agent_endpoint_with_agent_certificate(h2probe, pki, relay):
    """PINGs on the agent endpoint with an agent certificate, no --resolve: h2probe
    sees the relay's client preface and answers as the server."""
    result = run_probe(h2probe, "ping", f"https://{AGENT_HOST}:{relay.port}/", "--cacert", pki / "ca.pem",
                       *_agent_cert(pki), "--count", "3")
    assert result.rc == 0, repr(result)
    assert re.search(r"^3 PINGs: min [\d.]+ ms, median [\d.]+ ms, p99 [\d.]+ ms$", result.out, re.M), result.out
    assert "it is the client here" in result.out, result.out
    doc = run_probe(h2probe, "ping", f"https://{AGENT_HOST}:{relay.port}/", "--cacert", pki / "ca.pem",
                    *_agent_cert(pki), "--count", "2", "--json").json()
    assert doc["ok"] is True and doc["rolesReversed"] is True and doc["ping"]["count"] == 2, doc


def test_agent_endpoint_without_certificate_is_a_tls_error(h2probe, pki, relay):
    """Without --cert the relay refuses the handshake: the flag is what makes it work."""
    result = run_probe(h2probe, "ping", f"https://{AGENT_HOST}:{relay.port}/", "--cacert", pki / "ca.pem",
                       "--count", "1")
    assert result.rc == 3, repr(result)
    assert_one_error_line(result, "tls")
    assert "requires a client certificate" in result.err and "--cert and --key" in result.err, result.err


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_request_to_agent_endpoint_explains_the_reversed_roles(h2probe, pki, relay, json_mode):
    """`h2probe URL` on the agent endpoint: the relay's SETTINGS dumped, no request
    sent, an explanation instead of a protocol error, exit 0."""
    extra = ["--json"] if json_mode else []
    result = run_probe(h2probe, f"https://{AGENT_HOST}:{relay.port}/", "--cacert", pki / "ca.pem",
                       *_agent_cert(pki), *extra)
    assert result.rc == 0, repr(result)
    assert result.err.strip() == "", repr(result)
    if json_mode:
        doc = result.json()
        assert doc["ok"] is True and doc["rolesReversed"] is True, doc
        assert any(f.get("type") == "SETTINGS" and f.get("direction") == "received" for f in doc["frames"]), doc["frames"]
    else:
        assert "no request sent: this endpoint sends requests" in result.out, result.out
        assert re.search(r"recv SETTINGS", result.out), result.out


def test_tcp_tenant_gets_the_http11_message(h2probe, pki, procs, demo_app):
    """A tcp:// tenant's agent offers only http/1.1: one line naming that, exit 4."""
    relay = procs.relay()
    procs.agent(relay, demo_app.upstream)
    result = run_probe(h2probe, relay.url("acme"), "--cacert", pki / "ca.pem")
    assert result.rc == 4, repr(result)
    assert_one_error_line(result, "protocol")
    assert result.err.strip() == f"h2probe: protocol error: {NOT_H2}", result.err


def test_localhost_names_need_no_resolve(h2probe, pki, module_procs):
    """acme.tunnel.localhost is dialled on 127.0.0.1 without --resolve (no DNS asked);
    upper case and a trailing dot name the same host (the SNI goes without the dot)."""
    proc = module_procs.start("h2echo-d", [sys.executable, HERE / "probe_servers.py", "h2echo",
                                           "--cert", pki / "tenants/acme/tenant.pem",
                                           "--key", pki / "tenants/acme/tenant.key"])
    port = int(proc.wait_line(r"^h2echo ready port=(\d+)$").group(1))
    for name in (f"acme.{TENANT_DOMAIN}", f"ACME.{TENANT_DOMAIN}."):
        result = run_probe(h2probe, f"https://{name}:{port}/x", "--cacert", pki / "ca.pem", "--quiet")
        assert result.rc == 0, repr(result)
        assert result.stdout.startswith(b"h2echo GET /x"), repr(result)


def test_localhost_name_falls_back_to_ipv6_loopback(h2probe):
    """A server on ::1 only is still reached by a .localhost name (127.0.0.1 refuses)."""
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    port = listener.getsockname()[1]
    probe_v4 = socket.socket()
    try:
        if probe_v4.connect_ex(("127.0.0.1", port)) == 0:
            pytest.skip("port also taken on 127.0.0.1")
    finally:
        probe_v4.close()
    accepted = []
    listener.settimeout(20)

    def accept():
        try:
            conn, addr = listener.accept()
            accepted.append(addr[0])
            conn.close()   # not HTTP/2: the probe ends with a protocol error
        except OSError:
            pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        result = run_probe(h2probe, f"http://v6.{TENANT_DOMAIN}:{port}/", "--timeout", "5")
        thread.join(10)
    finally:
        listener.close()
    assert accepted == ["::1"], repr(result)
    assert result.rc == 4, repr(result)
