"""Relay, agent and app run as an unprivileged user (`nobody`), as a service account
would: no socket option the tunnel sets may need a capability. (Found by this test:
`socketOption(.tcp_nodelay)` is SO_DEBUG at SOL_SOCKET, which needs CAP_NET_ADMIN, so
every connection failed with EACCES for anyone but root.)"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN, Relay, curl

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def world_readable(bins, pki):
    """Binaries and PKI copied where `nobody` can read them (test paths are often 0700)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop to nobody")
    root = Path(tempfile.mkdtemp(prefix="h2t-nobody-"))
    try:
        for name in ("relay", "agent", "demo-app"):
            shutil.copy(bins / name, root / name)
        shutil.copytree(pki, root / "pki")
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() or path.name in ("relay", "agent", "demo-app") else 0o644)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_everything_runs_as_nobody(procs, pki, world_readable):
    w = world_readable
    app = procs.start("demo-app", [*NOBODY, w / "demo-app", "--listen", "127.0.0.1:0"])
    app_port = int(app.wait_line(r"^demo-app ready http=127\.0\.0\.1:(\d+)$").group(1))
    proc = procs.start("relay", [*NOBODY, w / "relay", "run", "--listen", "127.0.0.1:0",
                                 "--hostname", RELAY_HOST, "--cert", w / "pki/relay.pem",
                                 "--key", w / "pki/relay.key", "--agent-hostname", AGENT_HOST,
                                 "--agent-ca", w / "pki/agent-ca.pem", "--tenant-domain", TENANT_DOMAIN,
                                 "--admin-listen", "127.0.0.1:0"])
    m = proc.wait_line(r"^relay ready public=127\.0\.0\.1:(\d+) admin=127\.0\.0\.1:(\d+)$")
    relay = Relay(proc, int(m.group(1)), int(m.group(2)))
    tenant = w / "pki/tenants/acme"
    agent = procs.start("agent-acme", [*NOBODY, w / "agent", "run", "--relay", f"127.0.0.1:{relay.port}",
                                       "--relay-hostname", AGENT_HOST, "--relay-ca", w / "pki/ca.pem",
                                       "--cert", tenant / "agent.pem", "--key", tenant / "agent.key",
                                       "--tenant-cert", tenant / "tenant.pem", "--tenant-key", tenant / "tenant.key",
                                       "--upstream", f"tcp://127.0.0.1:{app_port}",
                                       "--reconnect-base", "0.1", "--reconnect-max", "1",
                                       "--admin-listen", "127.0.0.1:0"])
    relay.wait_agent("acme", proc=agent)
    done = curl(pki, relay)
    assert done.returncode == 0 and done.stdout.startswith(b"Hello from the demo app"), done.stderr
    assert "Permission denied" not in agent.stderr_text() + proc.stderr_text()
