"""Hardening 1: a closed stdout or stderr never takes a process down.

A log collector that restarts, or `| head`, closes the reading end of a pipe. The
relay used to die at its next log line (SIGILL from FileHandle's trap on EPIPE) and
h2probe ended with a crash when `head` had what it wanted.
"""

import os
import signal
import socket
import subprocess

from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN, curl, free_port, port_open, wait_until
from probe_servers import h2probe  # noqa: F401  (fixture)


def test_relay_survives_its_stderr_closing(bins, pki, procs, demo_app, tmp_path):
    read_end, write_end = os.pipe()
    relay = subprocess.Popen(
        [bins / "relay", "run", "--listen", "127.0.0.1:0", "--hostname", RELAY_HOST,
         "--cert", pki / "relay.pem", "--key", pki / "relay.key", "--agent-hostname", AGENT_HOST,
         "--agent-ca", pki / "agent-ca.pem", "--tenant-domain", TENANT_DOMAIN, "--admin-listen", "off"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=write_end)
    os.close(write_end)
    try:
        ready = relay.stdout.readline().decode()
        assert ready.startswith("relay ready public=127.0.0.1:"), ready
        port = int(ready.split("public=127.0.0.1:")[1].split()[0])
        os.close(read_end)  # the log collector goes away
        # Each of these is refused with an info log line: the first write hits EPIPE.
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.1\r\n\r\n")
                s.settimeout(5)
                assert s.recv(100) == b""  # closed by the relay, as for any non-TLS bytes
        assert relay.poll() is None, f"relay exited with {relay.returncode}"
        # And it still tunnels: an agent registers (more log lines) and a browser gets through.
        agent = procs.start("agent-acme", [
            bins / "agent", "run", "--relay", f"127.0.0.1:{port}", "--relay-hostname", AGENT_HOST,
            "--relay-ca", pki / "ca.pem", "--cert", pki / "tenants/acme/agent.pem",
            "--key", pki / "tenants/acme/agent.key", "--tenant-cert", pki / "tenants/acme/tenant.pem",
            "--tenant-key", pki / "tenants/acme/tenant.key", "--upstream", demo_app.upstream,
            "--admin-listen", "127.0.0.1:0"])
        agent.wait_stderr("agent connected", timeout=20)

        class At:  # what cluster.curl needs of a relay
            def __init__(self, port):
                self.port = port

            def url(self, tenant, path):
                return f"https://{tenant}.{TENANT_DOMAIN}:{self.port}{path}"
        result = curl(pki, At(port), "acme", "/")
        assert result.returncode == 0 and result.stdout.startswith(b"Hello from the demo app"), result
        assert relay.poll() is None, f"relay exited with {relay.returncode}"
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=40) == 0


def test_h2probe_piped_into_head_ends_quietly(h2probe, procs, pki, tmp_path):  # noqa: F811
    www = tmp_path / "www"
    www.mkdir()
    (www / "big").write_bytes(os.urandom(4_000_000))
    port = free_port()
    server = procs.start("nghttpd", ["nghttpd", "--address=127.0.0.1", "-d", www, port,
                                     pki / "tenants/acme/tenant.key", pki / "tenants/acme/tenant.pem"])
    wait_until(lambda: server.alive() and port_open(port), 10, "nghttpd listening")
    host = f"acme.{TENANT_DOMAIN}"
    probe = subprocess.Popen([h2probe, f"https://{host}:{port}/big", "--quiet", "--cacert", pki / "ca.pem",
                              "--resolve", f"{host}:{port}:127.0.0.1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = probe.stdout.read(3)  # `| head -c 3`
    probe.stdout.close()
    assert len(first) == 3
    _, err = probe.communicate(timeout=60)
    # Ended by itself (no signal, no trap), with nothing on stderr about the pipe.
    assert probe.returncode == 0, f"h2probe ended with {probe.returncode}: {err.decode()}"
    assert b"Fatal error" not in err and b"Broken pipe" not in err, err.decode()
