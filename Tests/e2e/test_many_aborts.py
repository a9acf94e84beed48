"""Browsers and apps that abort do not take their tenant's agent connection down.

Each browser that resets its connection makes the relay reset its tunnel: one
RST_STREAM to the agent. nghttp2's Rapid Reset defence (CVE-2023-44487; in
Debian's 1.52: 1,000 in a burst, then 33 a second) ended the agent connection
with GOAWAY INTERNAL_ERROR after about 1,000 of them, and with it every tunnel
of the tenant, until the agent had reconnected. Here 2,000 browsers abort as
fast as one client can open them (over 1,000 + 33 a second, even on a slow
machine), and the agent connection must stay the same one throughout.

The other way round, each app connection reset makes the agent reset its tunnel:
one RST_STREAM to the relay. The relay is the client of the agent connection, and
nghttp2 applies the limit to servers only; an app that drops thousands of
connections at once must not end the agent connection either.
"""

import socket
import time

from cluster import TENANT_DOMAIN, curl, wait_until
from tlsclient import client_hello
from upstreams import ResettingServer, linger_zero

ABORTS = 2000


def test_aborting_browsers_keep_the_agent_connection(procs, pki, demo_app):
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream)
    hello = client_hello(f"acme.{TENANT_DOMAIN}")
    refused = 0
    started = time.monotonic()
    for _ in range(ABORTS):
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as browser:
            browser.sendall(hello)
            try:
                # The agent's ServerHello: the tunnel is open end to end.
                if not browser.recv(1):
                    refused += 1
            except ConnectionResetError:
                refused += 1
            linger_zero(browser)  # close() sends RST: the relay resets the tunnel
    elapsed = time.monotonic() - started
    assert ABORTS > 1000 + 33 * elapsed, f"too slow to test the limit: {elapsed:.1f} s"
    assert refused == 0, f"{refused} of {ABORTS} browsers got no ServerHello: the tenant went offline"

    wait_until(lambda: relay.agent_total("openStreams", "acme") == 0, 20, "every tunnel reset")
    connections = [a["connection"] for a in relay.agents("acme")]
    assert connections == [agent.connection], (
        f"the agent connection changed from {agent.connection} to {connections}")
    assert "relay connection closed" not in agent.proc.stderr_text()
    done = curl(pki, relay)
    assert done.returncode == 0 and b"Hello from the demo app" in done.stdout, done.stderr


def test_resetting_app_keeps_the_agent_connection(procs, pki):
    app = ResettingServer()
    relay = procs.relay()
    agent = procs.agent(relay, f"tls://127.0.0.1:{app.port}")
    hello = client_hello(f"acme.{TENANT_DOMAIN}")
    reset = 0
    started = time.monotonic()
    try:
        for _ in range(ABORTS):
            with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as browser:
                browser.sendall(hello)
                greeting = b""
                while len(greeting) < len(app.GREETING):
                    chunk = browser.recv(len(app.GREETING) - len(greeting))
                    assert chunk, f"the tunnel closed before the app's greeting: {greeting!r}"
                    greeting += chunk
                assert greeting == app.GREETING
                browser.sendall(app.RESET_ME)
                try:
                    browser.recv(1)
                except ConnectionResetError:
                    # The agent reset the stream (RST_STREAM) and the relay the socket
                    # (wire contract §4); a FIN would mean the stream only ended.
                    reset += 1
    finally:
        app.close()
    elapsed = time.monotonic() - started
    assert not app.errors, app.errors[:3]
    assert ABORTS > 1000 + 33 * elapsed, f"too slow to test the limit: {elapsed:.1f} s"
    assert reset == ABORTS and app.resets == ABORTS, f"{reset} browsers reset, {app.resets} app resets"

    wait_until(lambda: relay.agent_total("openStreams", "acme") == 0, 20, "every tunnel reset")
    connections = [a["connection"] for a in relay.agents("acme")]
    assert connections == [agent.connection], (
        f"the agent connection changed from {agent.connection} to {connections}")
    assert "relay connection closed" not in agent.proc.stderr_text()
