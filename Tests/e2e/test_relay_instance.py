"""Issue 15 item 6: `agent status` says to which relay instance the agent is connected.

Behind an L4 load balancer every relay instance has the balancer's address, so the
agent's relayAddress cannot tell them apart. Each relay has an `--instance-name` (its
host name by default) and tells it on every stream it opens: first a hello stream
(`GET /.h2tunnel/hello`, answered 204) right after the connection's SETTINGS, so the
agent knows it before any browser, and on each tunnel's CONNECT, both as the request
header `h2tunnel-relay-instance`.
"""

from __future__ import annotations

import json
import subprocess

import h2.events

from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN, free_port, wait_until
from haproxy import start_haproxy
from test_agent_stream_frames import StandInRelay
from test_metrics import agent_admin_port, agent_status, get
from upstreams import ScriptedServer

GRACE = 10


def status(port: int) -> dict:
    code, _, body = get(port, "/status")
    assert code == 200, body
    return json.loads(body)


def test_status_names_each_relay_instance_behind_haproxy(procs, demo_app, bins, tmp_path):
    """Two instances on one balancer address: the agent's status names the first, and,
    after it drains (SIGTERM) and the agent moves on, the second. No browser is needed."""
    relay_port = free_port()
    extra = ["--grace-period", str(GRACE)]
    first = procs.relay(port=relay_port, extra=[*extra, "--instance-name", "relay-a"])
    lb = start_haproxy(procs, tmp_path / "haproxy", relay_port, proxy=None)
    agent = procs.agent(first, demo_app.upstream, relay_port=lb.port)
    admin = agent_admin_port(agent)
    address = f"127.0.0.1:{lb.port}"

    info = wait_until(lambda: (s := status(admin))["relayInstance"] == "relay-a" and s, 20, "relay-a in /status")
    assert info["relayAddress"] == address and info["openStreams"] == 0
    agent.proc.wait_stderr(r"relay instance known.*relay_instance=relay-a")
    r = agent_status(bins, "--admin", f"127.0.0.1:{admin}")
    assert r.returncode == 0, r.stderr
    assert f"relay instance: relay-a ({address})" in r.stdout.splitlines(), r.stdout
    # The hello is no browser's tunnel: nothing refused, nothing counted as a stream.
    assert "stream refused" not in agent.proc.stderr_text()
    assert first.agent_total("openStreams", "acme") == 0

    first.proc.signal()
    first.proc.wait_stderr(r"relay draining", timeout=10)
    second = procs.relay(port=relay_port, extra=[*extra, "--instance-name", "relay-b"])
    second.wait_agent("acme", timeout=20, proc=agent.proc)
    info = wait_until(lambda: (s := status(admin))["relayInstance"] == "relay-b" and s, 20, "relay-b in /status")
    assert info["relayAddress"] == address and info["connected"] is True
    assert first.proc.wait_exit(GRACE + 15) == 0, first.proc.stderr_tail()
    r = agent_status(bins, "--admin", f"127.0.0.1:{admin}", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["relayInstance"] == "relay-b", r.stdout
    r = agent_status(bins, "--admin", f"127.0.0.1:{admin}")
    assert f"relay instance: relay-b ({address})" in r.stdout.splitlines(), r.stdout


def test_instance_name_is_checked_at_start(bins, pki):
    argv = [str(bins / "relay"), "run", "--listen", "127.0.0.1:0", "--hostname", RELAY_HOST,
            "--cert", str(pki / "relay.pem"), "--key", str(pki / "relay.key"),
            "--agent-hostname", AGENT_HOST, "--agent-ca", str(pki / "agent-ca.pem"),
            "--tenant-domain", TENANT_DOMAIN, "--admin-listen", "off"]
    for bad in ["relay a", "x" * 65, ""]:
        result = subprocess.run([*argv, "--instance-name", bad], capture_output=True, text=True, timeout=30,
                                stdin=subprocess.DEVNULL)
        assert result.returncode != 0 and "relay ready" not in result.stdout, result
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "--instance-name" in lines[0], result.stderr


def test_agent_ignores_a_bad_instance_name(procs, pki):
    """A stand-in relay sends a hello whose name is not a short printable token: the agent
    answers 204 and shows no name; a later CONNECT with a good one sets it."""
    app = ScriptedServer()
    relay = StandInRelay(pki)
    try:
        agent = procs.agent(None, f"tls://127.0.0.1:{app.port}", relay_port=relay.port, wait=False,
                            extra=["--log-level", "debug"])
        admin = agent_admin_port(agent)
        relay.accept()
        hello = relay.h2.get_next_available_stream_id()
        relay.h2.send_headers(hello, [(":method", "GET"), (":scheme", "https"), (":authority", "relay"),
                                      (":path", "/.h2tunnel/hello"), ("h2tunnel-relay-instance", "x" * 65)],
                              end_stream=True)
        relay._send()
        answer = relay.wait_for(lambda e: isinstance(e, h2.events.ResponseReceived) and e.stream_id == hello,
                                "the hello's answer")
        assert dict(answer.headers)[b":status"] == b"204"
        agent.proc.wait_stderr(r"relay instance ignored")
        info = status(admin)
        assert info["connected"] is True and info["relayInstance"] is None
        r = agent_status(procs.bins, "--admin", f"127.0.0.1:{admin}")
        assert f"relay instance: unknown (127.0.0.1:{relay.port})" in r.stdout.splitlines(), r.stdout

        stream = relay.h2.get_next_available_stream_id()
        relay.h2.send_headers(stream, [(":method", "CONNECT"), (":protocol", "h2tunnel-tls"), (":scheme", "https"),
                                       (":path", "/"), (":authority", f"acme.{TENANT_DOMAIN}:443"),
                                       ("h2tunnel-relay-instance", "stand-in")])
        relay._send()
        relay.wait_for(lambda e: isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream,
                       "the CONNECT's answer")
        assert wait_until(lambda: status(admin)["relayInstance"] == "stand-in", 10, "stand-in in /status")
    finally:
        relay.close()
        app.close()
