"""(f) Agents and relays come and go; agents that are not who they claim are
turned away."""

import time

import pytest

from cluster import curl, free_port, wait_until

HELLO = b"Hello from the demo app"


def _works(pki, relay, tenant="acme"):
    result = curl(pki, relay, tenant, "/")
    return result.returncode == 0 and result.stdout.startswith(HELLO)


def test_agent_restart(procs, pki, demo_app):
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream)
    assert _works(pki, relay)
    agent.proc.signal()
    assert agent.proc.wait_exit(30) == 0, agent.proc.stderr_tail()
    wait_until(lambda: not relay.agents("acme"), 10, "acme gone from /agents")
    assert not _works(pki, relay)
    again = procs.agent(relay, demo_app.upstream)
    assert again.connection != agent.connection
    assert _works(pki, relay)


def test_relay_restart_same_port(procs, pki, demo_app):
    port = free_port()
    relay = procs.relay(port=port)
    agent = procs.agent(relay, demo_app.upstream)  # started with --reconnect-max 1
    assert _works(pki, relay)
    relay.proc.signal()
    assert relay.proc.wait_exit(30) == 0, relay.proc.stderr_tail()
    relay2 = procs.relay(port=port)
    started = time.monotonic()
    relay2.wait_agent("acme", timeout=1 + 5, proc=agent.proc)
    assert time.monotonic() - started <= 6
    assert _works(pki, relay2)
    # The failed make-before-break dial and the old connection's close each scheduled
    # a reconnect; only one may connect. Absence can only be shown by waiting: longer
    # than --reconnect-max (1 s) plus a connection set-up.
    time.sleep(2.5)
    assert len(relay2.agents("acme")) == 1, relay2.agents("acme")


def test_rogue_agent_refused(procs, pki, demo_app):
    relay = procs.relay()
    rogue = procs.agent(relay, demo_app.upstream, "acme", wait=False,
                        client_cert=(pki / "rogue/agent.pem", pki / "rogue/agent.key"))
    relay.proc.wait_stderr(r"agent refused", timeout=15)
    assert relay.agents() == []
    assert not _works(pki, relay)


def test_acme_agent_cannot_serve_globex(procs, pki, demo_app):
    """The tenant comes from the agent's client certificate, not from the
    server certificate it was given: given globex's, the acme agent refuses to start."""
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream, "acme", cert_tenant="globex", wait=False)
    assert agent.proc.wait_exit(30) == 1
    assert "is not for tenant 'acme'" in agent.proc.stderr_text()
    assert relay.agents() == []
    result = curl(pki, relay, "globex", "/")
    assert result.returncode != 0, result.stdout
    relay.proc.wait_stderr(r"browser refused\b.*\breason=tenant-offline\b", timeout=10)
