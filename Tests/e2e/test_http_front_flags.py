"""Agent start-up per mode (issue 13, item 6 and the http:// flags): tls:// runs
without the tenant key, its names from --tenant-cert alone or --tenant-name;
each mode refuses to start without what it needs, naming the flag."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import cluster
from cluster import AGENT_HOST, TENANT_DOMAIN

HOST = f"acme.{TENANT_DOMAIN}"


def agent_argv(procs, relay_port: int, upstream: str, *extra) -> list:
    pki = procs.pki
    tenant = pki / "tenants" / "acme"
    return [procs.bins / "agent", "run", "--relay", f"127.0.0.1:{relay_port}", "--relay-hostname", AGENT_HOST,
            "--relay-ca", pki / "ca.pem", "--cert", tenant / "agent.pem", "--key", tenant / "agent.key",
            "--upstream", upstream, "--reconnect-base", "0.1", "--reconnect-max", "1",
            "--admin-listen", "127.0.0.1:0", *extra]


class TLSApp:
    """The app holds the tenant key itself (tls:// passthrough): HTTPS on loopback."""

    def __init__(self, pki):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"served by the app's own TLS\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki / "tenants" / "acme" / "tenant.pem", pki / "tenants" / "acme" / "tenant.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_app(pki):
    app = TLSApp(pki)
    yield app
    app.close()


@pytest.mark.parametrize("names", [
    ["--tenant-name", HOST],
    ["--tenant-name", f"other.example,{HOST}"],
    ["--tenant-cert", "CERT"],
])
def test_tls_passthrough_without_the_tenant_key(procs, pki, tls_app, names):
    relay = procs.relay()
    names = [str(pki / "tenants" / "acme" / "tenant.pem") if n == "CERT" else n for n in names]
    agent = procs.start("agent-acme", agent_argv(procs, relay.port, f"tls://127.0.0.1:{tls_app.port}", *names))
    relay.wait_agent("acme", proc=agent)
    result = cluster.curl(pki, relay, "acme", "/")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"served by the app's own TLS\n"


@pytest.mark.parametrize("upstream,flags,message", [
    ("tls://127.0.0.1:9", [], "tls:// needs --tenant-cert or --tenant-name"),
    ("tcp://127.0.0.1:9", ["--tenant-cert", "CERT"], "missing --tenant-key"),
    ("http://127.0.0.1:9", ["--tenant-cert", "CERT", "--tenant-key", "KEY"], "missing --relay-public-key"),
    ("http://127.0.0.1:9", ["--tenant-cert", "CERT", "--tenant-key", "KEY", "--relay-public-key", "PUB"],
     "missing --relay-url"),
    ("tls://127.0.0.1:9", ["--tenant-name", "not a name"], "--tenant-name must be a DNS name"),
])
def test_start_up_refusals_name_the_flag(procs, pki, upstream, flags, message):
    files = {"CERT": pki / "tenants" / "acme" / "tenant.pem", "KEY": pki / "tenants" / "acme" / "tenant.key",
             "PUB": pki / "signing.pub"}
    flags = [str(files.get(f, f)) for f in flags]
    agent = procs.start("agent-acme", agent_argv(procs, 9, upstream, *flags))
    assert agent.wait_exit(30) != 0
    assert message in agent.stderr_text()


def test_session_lifetime_sets_the_cookie_max_age(procs, pki):
    import http_front as hf
    app = hf.App(procs)
    relay = procs.relay()
    hf.start_agent(procs, relay, app.upstream, extra=["--session-lifetime", "120"])
    ticket = hf.mint(pki / "signing.key")
    status, headers, _ = hf.head_and_body(hf.curl(pki, relay, f"/.h2tunnel/ticket?t={ticket}", "-i").stdout)
    assert status == 303
    assert headers["location"] == ["/"]
    assert "Max-Age=120" in headers["set-cookie"][0]
