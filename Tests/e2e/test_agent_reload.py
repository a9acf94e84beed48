"""Issue 15, acceptance (d): SIGHUP makes the agent read its certificates and keys
again. A download under way survives it (SHA-256), the relay connection stays, the
next browser handshake presents the new tenant certificate and the next relay
connection the new client certificate; a set that does not load is refused with one
error line naming the file, and the agent keeps serving with the old one."""

from __future__ import annotations

import hashlib
import re
import shutil
import signal
import ssl
import subprocess

import pytest

from cluster import AGENT_HOST, REPO, TENANT_DOMAIN, wait_until
from tlsclient import connect, pattern_sha256, read_head

HOST = f"acme.{TENANT_DOMAIN}"
SIZE = 64 << 20
RELOADED = re.compile(r"certificates reloaded.*?cert_sha256=([0-9a-f]{64}).*?tenant_cert_sha256=([0-9a-f]{64})")
REFUSED = "certificates not reloaded"


def pem_sha256(path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(path.read_text())).hexdigest()


def presented_sha256(pki, port) -> str:
    """The fingerprint of the certificate a fresh browser handshake sees."""
    with connect(pki, port, HOST) as sock:
        return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def fresh_identity(pki, tmp_path):
    """A second agent client certificate and tenant certificate for acme, from the same
    CAs (Tools/gen-pki keeps valid CAs and makes what is missing)."""
    other = tmp_path / "next-pki"
    shutil.copytree(pki, other)
    for name in ("agent.pem", "agent.key", "tenant.pem", "tenant.key"):
        (other / "tenants" / "acme" / name).unlink()
    subprocess.run([str(REPO / "Tools" / "gen-pki"), str(other), "--tenants", "acme"],
                   check=True, capture_output=True, timeout=60)
    return other / "tenants" / "acme"


def install(source, live, names=("agent.pem", "agent.key", "tenant.pem", "tenant.key")):
    """Replaces files the way an operator's deploy does: write beside, rename over."""
    for name in names:
        staged = live / f".{name}.new"
        shutil.copyfile(source / name, staged)
        staged.replace(live / name)


def count(proc, text: str) -> int:
    return proc.stderr_text().count(text)


def start(procs, pki, tmp_path, upstream: str, extra=()):
    """A relay and an agent whose four identity files live in tmp_path/live."""
    live = tmp_path / "live"
    live.mkdir()
    install(pki / "tenants" / "acme", live)
    # A spent agent connection (4 streams) makes the agent dial a new one: the way to see
    # which client certificate the next relay connection shows.
    relay = procs.relay(extra=["--agent-connection-streams", "4"])
    argv = [procs.bins / "agent", "run",
            "--relay", f"127.0.0.1:{relay.port}", "--relay-hostname", AGENT_HOST,
            "--relay-ca", pki / "ca.pem", "--cert", live / "agent.pem", "--key", live / "agent.key",
            "--tenant-cert", live / "tenant.pem", "--tenant-key", live / "tenant.key",
            "--upstream", upstream, "--reconnect-base", "0.1", "--reconnect-max", "1",
            "--admin-listen", "127.0.0.1:0", *extra]
    agent = procs.start("agent-acme", argv)
    relay.wait_agent("acme", proc=agent)
    return relay, agent, live


@pytest.fixture
def setup(procs, pki, demo_app, tmp_path):
    return start(procs, pki, tmp_path, demo_app.upstream)


def test_reload_keeps_download_and_serves_new_certificate(setup, pki, tmp_path):
    relay, agent, live = setup
    old_tenant, old_client = pem_sha256(live / "tenant.pem"), pem_sha256(live / "agent.pem")
    new = fresh_identity(pki, tmp_path)
    new_tenant, new_client = pem_sha256(new / "tenant.pem"), pem_sha256(new / "agent.pem")
    assert new_tenant != old_tenant and new_client != old_client
    [link] = relay.agents("acme")
    assert link["fingerprint"].replace(":", "").lower() == old_client

    with connect(pki, relay.port, HOST, timeout=30) as sock:
        assert hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest() == old_tenant
        sock.sendall(f"GET /bytes/{SIZE} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        status, headers, body = read_head(sock)
        assert status == 200 and int(headers["content-length"]) == SIZE
        digest, n = hashlib.sha256(body), len(body)
        buf = bytearray(1 << 20)
        while n < (4 << 20):
            got = sock.recv_into(buf)
            assert got, f"download ended at {n} bytes before the reload"
            digest.update(memoryview(buf)[:got])
            n += got

        install(new, live)
        agent.signal(signal.SIGHUP)
        m = wait_until(lambda: RELOADED.search(agent.stderr_text()), 10, "certificates reloaded")
        assert m.group(1) == new_client and m.group(2) == new_tenant, m.group(0)
        # The next browser handshake shows the new certificate, while the download goes on.
        assert presented_sha256(pki, relay.port) == new_tenant
        assert [a["connection"] for a in relay.agents("acme")] == [link["connection"]], \
            "the reload dropped the relay connection"

        while n < SIZE:
            got = sock.recv_into(buf)
            if not got:
                break
            digest.update(memoryview(buf)[:got])
            n += got
    assert n == SIZE, f"download ended at {n} of {SIZE} bytes after SIGHUP"
    assert digest.hexdigest() == pattern_sha256(SIZE)
    assert agent.alive()

    # Streams 3 and 4 spend the connection: the relay sends GOAWAY, the agent dials
    # again, and that connection presents the new client certificate.
    for _ in range(2):
        assert presented_sha256(pki, relay.port) == new_tenant

    def new_link():
        fresh = [a for a in relay.agents("acme") if a["connection"] != link["connection"]]
        return fresh[0] if fresh else None
    second = wait_until(new_link, 20, "a second agent connection after the GOAWAY")
    assert second["fingerprint"].replace(":", "").lower() == new_client
    assert presented_sha256(pki, relay.port) == new_tenant


@pytest.mark.parametrize("damage, named", [
    ("mismatched-key", "tenant.key"),
    ("other-tenant", "tenant.pem"),
    ("unreadable", "agent.pem"),
])
def test_failed_reload_keeps_serving(setup, pki, damage, named):
    relay, agent, live = setup
    before = pem_sha256(live / "tenant.pem")
    if damage == "mismatched-key":
        install(pki / "tenants" / "globex", live, names=("tenant.key",))
    elif damage == "other-tenant":
        install(pki / "tenants" / "globex", live, names=("tenant.pem", "tenant.key"))
    else:
        (live / "agent.pem").unlink()
    agent.signal(signal.SIGHUP)
    wait_until(lambda: count(agent, REFUSED) == 1, 10, "the refused reload's error line")
    lines = [line for line in agent.stderr_text().splitlines() if REFUSED in line]
    assert len(lines) == 1 and str(live / named) in lines[0], lines
    assert re.search(r"^\S+ error agent: ", lines[0]), lines[0]
    assert "certificates reloaded" not in agent.stderr_text()
    assert presented_sha256(pki, relay.port) == before
    with connect(pki, relay.port, HOST) as sock:
        sock.sendall(f"GET /bytes/{1 << 20} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        status, _, body = read_head(sock)
        while chunk := sock.recv(1 << 16):
            body += chunk
    assert status == 200 and hashlib.sha256(body).hexdigest() == pattern_sha256(1 << 20)
    assert agent.alive()


def test_reload_http_front(procs, pki, demo_app, tmp_path):
    """http:// mode terminates the browser's TLS in its own front: a reload reaches it too."""
    relay, agent, live = start(procs, pki, tmp_path, f"http://127.0.0.1:{demo_app.port}", extra=[
        "--relay-public-key", pki / "signing.pub", "--relay-url", "https://relay.localhost"])
    assert presented_sha256(pki, relay.port) == pem_sha256(live / "tenant.pem")
    new = fresh_identity(pki, tmp_path)
    install(new, live)
    agent.signal(signal.SIGHUP)
    wait_until(lambda: RELOADED.search(agent.stderr_text()), 10, "certificates reloaded")
    assert presented_sha256(pki, relay.port) == pem_sha256(new / "tenant.pem")
