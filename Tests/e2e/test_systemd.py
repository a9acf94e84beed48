"""Issue 15, item 6: relay and agent as systemd services. The unit files in
Tools/systemd pass `systemd-analyze verify`; under `Type=notify` each process sends
READY=1 once it serves and STOPPING=1 when its drain begins, as datagrams to
$NOTIFY_SOCKET (a path or an abstract `@name`), here a Python socket in systemd's place."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import uuid

import pytest

from cluster import REPO

UNITS = REPO / "Tools" / "systemd"


def _verify_works() -> bool:
    exe = shutil.which("systemd-analyze")
    if not exe:
        return False
    return subprocess.run([exe, "--version"], capture_output=True, timeout=30).returncode == 0


def _settings(unit) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("name", ["agent", "relay"])
def test_unit_directives(name):
    s = _settings(UNITS / f"h2tunnel-{name}.service")
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    assert s["StateDirectory"] == [f"h2tunnel-{name}"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert f"--config /etc/h2tunnel/{name}.yaml" in s["ExecStart"][0]
    if name == "relay":
        assert s["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    else:
        assert "AmbientCapabilities" not in s and s["CapabilityBoundingSet"] == [""]


@pytest.mark.skipif(not _verify_works(), reason="systemd-analyze does not run here")
def test_units_verify(bins, tmp_path):
    """`systemd-analyze verify` checks that ExecStart is executable, so each unit is
    checked as a copy that runs the binary under test. A misspelt key is only a warning
    (exit 0), so any line naming the unit fails the test."""
    for name in ("agent", "relay"):
        text = (UNITS / f"h2tunnel-{name}.service").read_text()
        assert f"/usr/local/bin/h2tunnel-{name} " in text
        (tmp_path / f"h2tunnel-{name}.service").write_text(
            text.replace(f"/usr/local/bin/h2tunnel-{name} ", f"{bins / name} "))
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    said = [line for line in (r.stdout + r.stderr).splitlines() if "h2tunnel-" in line]
    assert r.returncode == 0 and not said, r.stdout + r.stderr

    # The check itself can fail: a misspelt directive is reported.
    bad = tmp_path / "bad" / "h2tunnel-agent.service"
    bad.parent.mkdir()
    bad.write_text((tmp_path / "h2tunnel-agent.service").read_text().replace("NoNewPrivileges", "NoNewPrivilege"))
    r = subprocess.run(["systemd-analyze", "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert "NoNewPrivilege" in r.stdout + r.stderr


class NotifySocket:
    """systemd's end: a unix datagram socket, bound to a path or an abstract name."""

    def __init__(self, tmp_path, abstract: bool):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"h2tunnel-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = tmp_path / "notify.sock"
            self.sock.bind(str(path))
            self.env = str(path)

    def next(self, timeout: float) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)

    def close(self):
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def notify(request, tmp_path):
    n = NotifySocket(tmp_path, abstract=request.param == "abstract")
    yield n
    n.close()


def test_relay_notifies_ready_then_stopping(procs, notify, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", notify.env)
    relay = procs.relay(extra=["--grace-period", "5"])
    ready = notify.next(timeout=20)
    assert ready.get("READY") == "1", ready
    assert f"127.0.0.1:{relay.port}" in ready.get("STATUS", ""), ready
    relay.proc.signal()
    stopping = notify.next(timeout=20)
    assert stopping.get("STOPPING") == "1" and "draining" in stopping.get("STATUS", ""), stopping
    assert relay.proc.wait_exit(20) == 0, relay.proc.stderr_tail()


def test_agent_notifies_ready_then_stopping(procs, demo_app, notify, monkeypatch):
    relay = procs.relay()
    monkeypatch.setenv("NOTIFY_SOCKET", notify.env)
    agent = procs.agent(relay, demo_app.upstream)
    monkeypatch.delenv("NOTIFY_SOCKET")
    ready = notify.next(timeout=20)
    assert ready.get("READY") == "1" and "acme" in ready.get("STATUS", ""), ready
    agent.proc.signal()
    stopping = notify.next(timeout=20)
    assert stopping.get("STOPPING") == "1", stopping
    assert agent.proc.wait_exit(20) == 0, agent.proc.stderr_tail()


def test_notify_socket_nobody_listens(procs, tmp_path, monkeypatch):
    """With NOTIFY_SOCKET pointing nowhere the relay still
    runs and stops cleanly (systemd gone is not the relay's failure)."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    relay = procs.relay()
    relay.proc.signal()
    assert relay.proc.wait_exit(20) == 0, relay.proc.stderr_tail()
    assert not re.search(r"\b(error|critical)\b", relay.proc.stderr_text())


def test_agent_as_the_unit_runs_it(procs, pki, demo_app, tmp_path, monkeypatch):
    """The unit's own ExecStart (binary and config moved under tmp_path) with a YAML
    config: READY=1, ExecReload's SIGHUP reloads the certificates, stop's SIGTERM sends
    STOPPING=1 and ends with exit 0."""
    relay = procs.relay()
    s = _settings(UNITS / "h2tunnel-agent.service")
    argv = s["ExecStart"][0].split()
    assert argv[:2] == ["/usr/local/bin/h2tunnel-agent", "run"] and argv[2:] == ["--config", "/etc/h2tunnel/agent.yaml"]
    acme = pki / "tenants" / "acme"
    config = tmp_path / "agent.yaml"
    config.write_text("\n".join([
        f"relay: 127.0.0.1:{relay.port}",
        "relay-hostname: agents.relay.localhost",
        f"relay-ca: {pki / 'ca.pem'}",
        f"cert: {acme / 'agent.pem'}",
        f"key: {acme / 'agent.key'}",
        f"tenant-cert: {acme / 'tenant.pem'}",
        f"tenant-key: {acme / 'tenant.key'}",
        f"upstream: {demo_app.upstream}",
        "admin-listen: 127.0.0.1:0",
        "reconnect-max: 1",
    ]) + "\n")
    notify = NotifySocket(tmp_path, abstract=False)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", notify.env)
        agent = procs.start("agent-unit", [procs.bins / "agent", "run", "--config", config])
        monkeypatch.delenv("NOTIFY_SOCKET")
        assert notify.next(timeout=20).get("READY") == "1"
        relay.wait_agent("acme", proc=agent)
        agent.signal(signal.SIGHUP)
        agent.wait_stderr(r"certificates reloaded", timeout=10)
        agent.signal()
        assert notify.next(timeout=20).get("STOPPING") == "1"
        assert agent.wait_exit(20) == 0, agent.stderr_tail()
    finally:
        notify.close()
