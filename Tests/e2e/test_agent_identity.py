"""Agent identity at the relay (issue 14, item 2): several connections of one tenant
share its tunnels, each is known by its certificate's SHA-256 fingerprint, a
fingerprint can be denied (by flag, or by a deny file read again on SIGHUP), and a
tenant holds a bounded number of agent connections."""

from __future__ import annotations

import hashlib
import re
import signal
import ssl
import subprocess
from pathlib import Path

from cluster import TENANT_DOMAIN, wait_until
from tlsclient import connect


def second_acme_cert(pki: Path, out: Path) -> tuple[Path, Path]:
    """Another acme agent certificate from the same agent CA, as Tools/gen-pki makes one:
    what a second deployment, a rotation or a leaked CA key gives."""
    key, csr, cert, ext = out / "agent2.key", out / "agent2.csr", out / "agent2.pem", out / "agent2.ext"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", key], check=True, capture_output=True, timeout=30)
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=clientAuth\nsubjectAltName=URI:urn:h2tunnel:tenant:acme\n")
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/O=H2Tunnel dev/CN=acme-2",
                    "-out", csr], check=True, capture_output=True, timeout=30)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", pki / "agent-ca.pem",
                    "-CAkey", pki / "agent-ca.key", "-set_serial", "0x" + hashlib.sha256(str(out).encode()).hexdigest()[:32],
                    "-days", "2", "-sha256", "-extfile", ext, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def fingerprint(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


def openssl_fingerprint(cert: Path) -> str:
    """As an operator copies it: `AB:CD:…` from `openssl x509 -fingerprint -sha256`."""
    out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return out.strip().split("=", 1)[1]


def first_cert(pki: Path) -> tuple[Path, Path]:
    return pki / "tenants" / "acme" / "agent.pem", pki / "tenants" / "acme" / "agent.key"


def hold_tunnels(pki, relay, n: int) -> list[ssl.SSLSocket]:
    """n browser TLS connections to acme, each a tunnel that stays open (handshake done
    with the agent, so its stream is counted at the relay)."""
    return [connect(pki, relay.port, f"acme.{TENANT_DOMAIN}") for _ in range(n)]


def get(sock: ssl.SSLSocket) -> bytes:
    sock.sendall(f"GET / HTTP/1.1\r\nHost: acme.{TENANT_DOMAIN}\r\n\r\n".encode())
    return sock.recv(200)


def two_agents(procs, pki, relay, demo_app, tmp_path):
    cert2 = second_acme_cert(pki, tmp_path)
    procs.agent(relay, demo_app.upstream, client_cert=first_cert(pki))
    procs.agent(relay, demo_app.upstream, client_cert=cert2)
    return cert2


def test_tunnels_spread_over_both_certificates_with_a_warning(procs, pki, demo_app, tmp_path):
    relay = procs.relay()
    cert2, _ = two_agents(procs, pki, relay, demo_app, tmp_path)
    fp1, fp2 = fingerprint(first_cert(pki)[0]), fingerprint(cert2)

    agents = relay.agents("acme")
    assert sorted(a["fingerprint"] for a in agents) == sorted([fp1, fp2]), agents
    relay.proc.wait_stderr(r"agent connected .*fingerprint=" + fp1)
    line = relay.proc.wait_stderr(r"warning.*agent certificates differ for one tenant.*").group(0)
    assert fp1 in line and fp2 in line, line
    assert len(re.findall(r"127\.0\.0\.1:\d+", line)) >= 2, line

    sockets = hold_tunnels(pki, relay, 6)
    try:
        # Counted once every tunnel is open: 3 and 3 (fewest open streams first).
        wait_until(lambda: relay.agent_total("openStreams", "acme") == 6, 10, "6 tunnels open")
        per_connection = sorted(a["openStreams"] for a in relay.agents("acme"))
        assert per_connection == [3, 3], relay.agents("acme")
        for sock in sockets:
            assert get(sock).startswith(b"HTTP/1.1 200"), "a tunnel on either connection serves"
    finally:
        for sock in sockets:
            sock.close()


def test_denied_fingerprint_is_refused_at_the_handshake(procs, pki, demo_app):
    cert, key = first_cert(pki)
    relay = procs.relay(extra=["--agent-deny-fingerprint", openssl_fingerprint(cert).lower(),
                               "--agent-deny-fingerprint", "00" * 32])
    agent = procs.agent(relay, demo_app.upstream, client_cert=(cert, key), wait=False)
    relay.proc.wait_stderr(r"agent refused .*fingerprint=" + fingerprint(cert) + r".*reason=denied", timeout=20)
    assert agent.proc.alive()
    assert relay.agents("acme") == []
    assert "agent connected" not in relay.proc.stderr_text()


def test_bad_deny_fingerprint_flag_is_named(procs, bins, pki):
    r = subprocess.run([bins / "relay", "run", "--hostname", "relay.localhost", "--cert", pki / "relay.pem",
                        "--key", pki / "relay.key", "--agent-hostname", "agents.relay.localhost",
                        "--agent-ca", pki / "agent-ca.pem", "--tenant-domain", TENANT_DOMAIN,
                        "--listen", "127.0.0.1:0", "--admin-listen", "off",
                        "--agent-deny-fingerprint", "abc"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--agent-deny-fingerprint 'abc'" in r.stderr, r.stderr


def test_deny_file_reloaded_on_sighup_cuts_one_connection_off(procs, pki, demo_app, tmp_path):
    deny = tmp_path / "denied.txt"
    deny.write_text("# denied agent certificates\n")
    relay = procs.relay(extra=["--agent-deny-file", str(deny)])
    cert2, _ = two_agents(procs, pki, relay, demo_app, tmp_path)
    fp1, fp2 = fingerprint(first_cert(pki)[0]), fingerprint(cert2)
    sockets = hold_tunnels(pki, relay, 2)
    try:
        wait_until(lambda: sorted(a["openStreams"] for a in relay.agents("acme")) == [1, 1], 10,
                   "one tunnel on each connection")
        deny.write_text(f"# leaked\n{openssl_fingerprint(cert2)}  # acme-2\n")
        relay.proc.signal(signal.SIGHUP)
        relay.proc.wait_stderr(r"agent denied .*fingerprint=" + fp2)
        wait_until(lambda: [a["fingerprint"] for a in relay.agents("acme")] == [fp1], 5,
                   "only the first certificate's connection left")
        # The cut connection's tunnel ended; the other one still serves.
        served = []
        for sock in sockets:
            try:
                served.append(get(sock).startswith(b"HTTP/1.1 200"))
            except OSError:
                served.append(False)
        assert sorted(served) == [False, True], served
        # The denied agent dials again and is refused at the handshake.
        relay.proc.wait_stderr(r"agent refused .*fingerprint=" + fp2 + r".*reason=denied", timeout=20)
        # A broken file keeps the list in force and says which line is wrong.
        deny.write_text(f"{fp2}\nnot-a-fingerprint\n")
        relay.proc.signal(signal.SIGHUP)
        line = relay.proc.wait_stderr(r"error.*agent deny list not reloaded.*").group(0)
        assert "line 2" in line and str(deny) in line, line
        assert relay.proc.alive()
        assert [a["fingerprint"] for a in relay.agents("acme")] == [fp1]
    finally:
        for sock in sockets:
            sock.close()


def test_connections_per_tenant_are_capped(procs, pki, demo_app):
    relay = procs.relay(extra=["--max-agent-connections-per-tenant", "2"])
    procs.agent(relay, demo_app.upstream)
    procs.agent(relay, demo_app.upstream)
    procs.agent(relay, demo_app.upstream, wait=False)
    line = relay.proc.wait_stderr(r"warning.*agent refused .*reason=too-many-connections.*", timeout=20).group(0)
    assert "count=2" in line and "tenant=acme" in line, line
    assert len(relay.agents("acme")) == 2


def test_cap_is_validated_with_the_flag_named(bins, pki):
    r = subprocess.run([bins / "relay", "run", "--hostname", "relay.localhost", "--cert", pki / "relay.pem",
                        "--key", pki / "relay.key", "--agent-hostname", "agents.relay.localhost",
                        "--agent-ca", pki / "agent-ca.pem", "--tenant-domain", TENANT_DOMAIN,
                        "--listen", "127.0.0.1:0", "--admin-listen", "off",
                        "--max-agent-connections-per-tenant", "0"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "--max-agent-connections-per-tenant" in r.stderr, r.stderr


def test_config_file_keys(bins, pki, tmp_path):
    """The flags are config-file keys too, checked with the flag named."""
    import json

    def run(config: dict) -> subprocess.CompletedProcess:
        path = tmp_path / "relay.json"
        path.write_text(json.dumps(config))
        return subprocess.run([bins / "relay", "run", "--config", path, "--hostname", "relay.localhost",
                               "--cert", pki / "relay.pem", "--key", pki / "relay.key",
                               "--agent-hostname", "agents.relay.localhost", "--agent-ca", pki / "agent-ca.pem",
                               "--tenant-domain", TENANT_DOMAIN, "--listen", "127.0.0.1:0", "--admin-listen", "off"],
                              capture_output=True, text=True, timeout=10)

    r = run({"max-agent-connections-per-tenant": 2.5})
    assert r.returncode != 0 and "--max-agent-connections-per-tenant" in r.stderr, r.stderr
    r = run({"agent-deny-fingerprint": "00" * 32 + ",zz"})
    assert r.returncode != 0 and "--agent-deny-fingerprint 'zz'" in r.stderr, r.stderr
    r = run({"agent-deny-file": str(tmp_path / "missing.txt")})
    assert r.returncode != 0 and "--agent-deny-file" in r.stderr and "missing.txt" in r.stderr, r.stderr
