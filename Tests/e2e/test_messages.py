"""Errors that tell the user what to do (issue 14, item 6): each names the flag or
address concerned and the likely fix; asserted with real processes and real mistakes."""

import json
import socket

from cluster import RELAY_HOST, free_port, wait_until


def test_relay_unreachable_names_address_and_flag(procs, demo_app):
    port = free_port()  # nothing listens there
    agent = procs.agent(None, demo_app.upstream, wait=False, relay_port=port)
    agent.proc.wait_stderr(
        rf"cannot reach the relay at 127\.0\.0\.1:{port}: connection refused — is it running, is --relay right\?")
    assert "NIOConnectionError" not in agent.proc.stderr_text()
    assert agent.proc.alive()  # it keeps retrying


def test_port_in_use_names_the_listener(procs):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        pki = procs.pki
        for flag, args in (("--listen", ["--listen", f"127.0.0.1:{port}", "--admin-listen", "off"]),
                           ("--admin-listen", ["--listen", "127.0.0.1:0", "--admin-listen", f"127.0.0.1:{port}"])):
            proc = procs.start("relay", [procs.bins / "relay", "run", "--hostname", RELAY_HOST,
                                         "--cert", pki / "relay.pem", "--key", pki / "relay.key",
                                         "--agent-hostname", "agents.relay.localhost",
                                         "--agent-ca", pki / "agent-ca.pem", "--tenant-domain", "tunnel.localhost",
                                         *args])
            assert proc.wait_exit(15) == 1
            assert (f"cannot listen on 127.0.0.1:{port} ({flag}): address already in use"
                    in proc.stderr_text()), proc.stderr_text()
    finally:
        holder.close()


def test_wrong_relay_hostname_says_which_flag(procs, demo_app):
    relay = procs.relay()
    # The relay's own site name instead of its agent endpoint.
    agent = procs.agent(relay, demo_app.upstream, wait=False, extra=["--relay-hostname", RELAY_HOST])
    agent.proc.wait_stderr(r"check --relay-hostname \(the relay's --agent-hostname\)", timeout=15)


def test_agent_certificate_from_wrong_ca(procs, demo_app):
    relay = procs.relay()
    pki = procs.pki
    agent = procs.agent(relay, demo_app.upstream, wait=False,
                        client_cert=(pki / "rogue/agent.pem", pki / "rogue/agent.key"))
    agent.proc.wait_stderr(r"refused this agent's certificate .*check --cert/--key and that the relay's "
                           r"--agent-ca signed it", timeout=15)
    line = relay.proc.wait_stderr(r"warning relay: agent refused .*", timeout=15).group(0)
    assert "certificate verify failed" in line and "subject CN=" in line and "issuer CN=" in line, line
    assert "is not signed by --agent-ca" in line, line


def test_config_value_names_the_key(procs, tmp_path):
    config = tmp_path / "relay.json"
    config.write_text(json.dumps({"ping-interval": "soon"}))
    pki = procs.pki
    proc = procs.start("relay", [procs.bins / "relay", "run", "--config", str(config), "--hostname", RELAY_HOST,
                                 "--cert", pki / "relay.pem", "--key", pki / "relay.key",
                                 "--agent-hostname", "agents.relay.localhost",
                                 "--agent-ca", pki / "agent-ca.pem", "--tenant-domain", "tunnel.localhost"])
    assert proc.wait_exit(10) != 0
    assert "'ping-interval' must be a number" in proc.stderr_text(), proc.stderr_text()


def test_tenant_certificate_of_another_tenant_refuses_to_start(procs, demo_app):
    agent = procs.agent(None, demo_app.upstream, "acme", cert_tenant="globex", wait=False, relay_port=free_port())
    assert agent.proc.wait_exit(30) == 1
    text = agent.proc.stderr_text()
    assert "is not for tenant 'acme'" in text, text
    assert "DNS names globex.tunnel.localhost" in text
    assert "acme.<tenant-domain>" in text


def test_config_paths_resolve_from_the_config_folder(procs, tmp_path):
    import shutil
    pki = procs.pki
    folder = tmp_path / "etc"
    (folder / "certs").mkdir(parents=True)
    for name in ("relay.pem", "relay.key", "agent-ca.pem"):
        shutil.copy(pki / name, folder / "certs" / name)
    config = folder / "relay.json"
    config.write_text(json.dumps({
        "listen": "127.0.0.1:0", "admin-listen": "off", "hostname": RELAY_HOST,
        "agent-hostname": "agents.relay.localhost", "tenant-domain": "tunnel.localhost",
        "cert": "certs/relay.pem", "key": "certs/relay.key", "agent-ca": "certs/agent-ca.pem"}))
    # Started from the repository, not from the config's folder.
    proc = procs.start("relay", [procs.bins / "relay", "run", "--config", str(config)])
    proc.wait_line(r"^relay ready public=127\.0\.0\.1:\d+$")
