"""Logs an operator can use (issue 14, item 7): an access line per tunnel, quoted logfmt
values, JSON lines, refusals rate-limited with a count."""

import json
import re
import socket

from cluster import curl, wait_until

HELLO = b"Hello from the demo app"


def test_access_line_per_tunnel(procs, pki, demo_app):
    relay = procs.relay()
    procs.agent(relay, demo_app.upstream)
    r = curl(pki, relay, "acme", "/", "--http1.1")
    assert r.returncode == 0 and r.stdout.startswith(HELLO), r.stderr
    m = relay.proc.wait_stderr(r"info relay: tunnel closed .*")
    line = m.group(0)
    fields = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
    assert fields["tenant"] == "acme"
    assert fields["host"].startswith("acme.")
    assert fields["remote"].startswith("127.0.0.1:")
    # Up: at least the ClientHello; down: at least the server's handshake flight and body.
    assert int(fields["bytes_up"]) > 200
    assert int(fields["bytes_down"]) > 1000
    assert fields["duration"].endswith("s") and float(fields["duration"][:-1]) >= 0
    assert fields["ended"] in ("fin", "reset-by-browser", "reset-by-agent"), line


def test_logfmt_quotes_values_with_spaces(procs, pki):
    relay = procs.relay()
    # A tenant host no agent serves: refused tenant-offline; then an unknown host whose
    # detail has no space stays bare.
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        sock.recv(100)
    line = relay.proc.wait_stderr(r"browser refused .*reason=not-tls.*").group(0)
    assert re.search(r"\bremote=127\.0\.0\.1:\d+\b", line)
    relay.proc.signal()
    assert relay.proc.wait_exit(15) == 0
    # "relay draining" carries values; any value with a space is quoted.
    for text in relay.proc.stderr_text().splitlines():
        for value in re.findall(r' \w+=("(?:[^"\\]|\\.)*"|\S+)', text):
            assert '"' in value or " " not in value


def test_json_format_parses(procs, pki, demo_app, tmp_path):
    relay = procs.relay(extra=["--log-format", "json"])
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({"log-format": "json"}))
    procs.agent(relay, demo_app.upstream, extra=["--config", str(config)])
    r = curl(pki, relay, "acme", "/")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "tunnel closed" in relay.proc.stderr_text(), 10, "access line")
    for proc in (relay.proc,):
        lines = [l for l in proc.stderr_text().splitlines() if l.strip()]
        assert lines
        for l in lines:
            obj = json.loads(l)
            assert set(obj) == {"time", "level", "label", "message", "metadata"}, l
    access = [json.loads(l) for l in relay.proc.stderr_text().splitlines() if "tunnel closed" in l][0]
    assert access["metadata"]["tenant"] == "acme"
    assert int(access["metadata"]["bytes_down"]) > 0


def test_bad_log_format_is_named(procs):
    proc = procs.start("relay", [procs.bins / "relay", "run", "--log-format", "xml"])
    assert proc.wait_exit(10) != 0
    assert "--log-format must be logfmt or json" in proc.stderr_text()


def test_refusals_rate_limited_with_count(procs):
    relay = procs.relay()
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            try:
                sock.recv(100)
            except OSError:
                pass
    m = relay.proc.wait_stderr(r"browser refused .*count=(\d+).*reason=not-tls.*suppressed=(\d+)", timeout=10)
    text = relay.proc.stderr_text()
    full = len(re.findall(r"browser refused (?!.*count=).*reason=not-tls", text))
    suppressed = sum(int(n) for n in re.findall(r"reason=not-tls suppressed=(\d+)", text))
    assert full + suppressed == 50, text[-2000:]
    assert full < 50


def test_goaway_reason_on_relay_shutdown(procs, demo_app):
    relay = procs.relay()
    procs.agent(relay, demo_app.upstream)
    relay.proc.signal()
    assert relay.proc.wait_exit(20) == 0
    line = relay.proc.wait_stderr(r"info relay: GOAWAY sent .*").group(0)
    assert 'reason="relay shutting down"' in line and "tenant=acme" in line, line


def test_goaway_reason_on_spent_connection(procs, pki, demo_app):
    relay = procs.relay(extra=["--agent-connection-streams", "1"])
    procs.agent(relay, demo_app.upstream)
    r = curl(pki, relay, "acme", "/")
    assert r.returncode == 0, r.stderr
    line = relay.proc.wait_stderr(r"agent connection replaced .*").group(0)
    assert "goaway=sent" in line and 'reason="lifetime streams reached"' in line, line


def test_access_line_says_browser_reset(procs, demo_app):
    import struct
    from tlsclient import client_hello
    relay = procs.relay()
    procs.agent(relay, demo_app.upstream)
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
    sock.sendall(client_hello("acme.tunnel.localhost"))
    assert sock.recv(5)  # the agent's ServerHello came back through the tunnel
    # Close with RST (SO_LINGER 0), as a browser killed mid-handshake does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    line = relay.proc.wait_stderr(r"info relay: tunnel closed .*").group(0)
    assert "ended=reset-by-browser" in line and "tenant=acme" in line and "code=CONNECT_ERROR" in line, line
