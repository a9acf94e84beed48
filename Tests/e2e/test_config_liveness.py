"""Configuration files and PING liveness.

- Every flag of `relay run` and `agent run` can come from a JSON config file:
  the relay and agent below are started with `--config` alone, and each timing
  key is shown to take effect (a silent browser is closed after the file's
  client-hello-timeout; a frozen agent is dropped after the file's PING timeout).
- An unknown key is refused with a clear message, not silently dropped.
- A dead agent connection (SIGSTOP: no FIN, no RST, just silence) is found by
  PING within interval + timeout, dropped, and its open stream reset.
"""

import json
import signal
import socket
import time

from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN, Relay, curl, wait_until
from tlsclient import connect, read_until_closed


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


def test_relay_and_agent_from_config_files(procs, pki, demo_app, tmp_path):
    relay_cfg = write_json(tmp_path / "relay.json", {
        "listen": "127.0.0.1:0", "hostname": RELAY_HOST,
        "cert": str(pki / "relay.pem"), "key": str(pki / "relay.key"),
        "agent-hostname": AGENT_HOST, "agent-ca": str(pki / "agent-ca.pem"),
        "tenant-domain": TENANT_DOMAIN, "admin-listen": "127.0.0.1:0",
        "client-hello-timeout": 0.5, "ping-interval": 0.5, "ping-timeout": 1,
        "grace-period": 5, "log-level": "debug",
    })
    proc = procs.start("relay", [procs.bins / "relay", "run", "--config", relay_cfg])
    m = proc.wait_line(r"^relay ready public=127\.0\.0\.1:(\d+) admin=127\.0\.0\.1:(\d+)$")
    relay = Relay(proc, int(m.group(1)), int(m.group(2)))

    agent_cfg = write_json(tmp_path / "agent.json", {
        "relay": f"127.0.0.1:{relay.port}", "relay-hostname": AGENT_HOST,
        "relay-ca": str(pki / "ca.pem"),
        "cert": str(pki / "tenants/acme/agent.pem"), "key": str(pki / "tenants/acme/agent.key"),
        "tenant-cert": str(pki / "tenants/acme/tenant.pem"),
        "tenant-key": str(pki / "tenants/acme/tenant.key"),
        "upstream": demo_app.upstream, "reconnect-base": 0.1, "reconnect-max": 1,
        "ping-interval": 0.5, "ping-timeout": 1, "grace-period": 5, "log-level": "info",
        "admin-listen": "127.0.0.1:0",
    })
    agent = procs.start("agent-acme", [procs.bins / "agent", "run", "--config", agent_cfg])
    relay.wait_agent("acme", proc=agent)
    done = curl(pki, relay)
    assert done.returncode == 0 and b"Hello from the demo app" in done.stdout, done.stderr

    # client-hello-timeout from the file: a silent client is closed after ~0.5 s.
    with socket.create_connection(("127.0.0.1", relay.port)) as silent:
        started = time.monotonic()
        silent.settimeout(5)
        assert silent.recv(1) == b""
        assert 0.3 < time.monotonic() - started < 3

    # ping-interval/-timeout from the file: a frozen agent is dropped within ~1.5 s.
    agent.popen.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        wait_until(lambda: not relay.agents("acme"), 10, "frozen agent dropped")
        assert time.monotonic() - started < 5
        proc.wait_stderr(r'agent disconnected .*reason="PING not acknowledged')
    finally:
        agent.popen.send_signal(signal.SIGCONT)


def test_unknown_config_key_is_refused(procs, tmp_path):
    cfg = write_json(tmp_path / "bad.json", {"lisen": "127.0.0.1:0"})
    proc = procs.start("relay", [procs.bins / "relay", "run", "--config", cfg])
    assert proc.wait_exit(10) != 0
    assert "unknown key 'lisen'" in proc.stderr_text()


def test_dead_agent_is_dropped_and_its_stream_reset(procs, pki, demo_app):
    relay = procs.relay(extra=["--ping-interval", "0.5", "--ping-timeout", "1"])
    agent = procs.agent(relay, demo_app.upstream)
    with connect(pki, relay.port, f"acme.{TENANT_DOMAIN}", timeout=10) as sock:
        sock.sendall(f"GET /bytes/{1 << 30} HTTP/1.1\r\nHost: acme\r\n\r\n".encode())
        assert sock.recv(1024)                      # the tunnel is open and flowing
        agent.proc.signal(signal.SIGSTOP)           # silence: no FIN, no RST
        try:
            _, outcome = read_until_closed(sock, 15)
            # the relay reset the browser when it dropped the dead agent connection
            assert outcome in ("reset", "eof"), outcome
            assert not relay.agents("acme")
            relay.proc.wait_stderr(r'agent disconnected .*reason="PING not acknowledged')
        finally:
            agent.proc.signal(signal.SIGCONT)
