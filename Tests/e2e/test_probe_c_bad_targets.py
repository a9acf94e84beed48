"""h2probe (issue 3) against targets that are not healthy HTTP/2 servers: each
gives its documented exit code (2 connect, 3 TLS, 4 HTTP/2 protocol, 5 timeout)
and exactly one stderr line `h2probe: <kind> error: …`, never a stack trace;
with --json the document says the same."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cluster import free_port
from probe_servers import h2probe, BadServer, assert_one_error_line, run_probe

HERE = Path(__file__).resolve().parent
HOST = "acme.tunnel.localhost"


def _tls(pki, port, ca="ca.pem", host=HOST):
    return ["--cacert", pki / ca, "--resolve", f"{host}:{port}:127.0.0.1"]


@pytest.fixture
def bad(pki):
    servers = []

    def make(mode):
        server = BadServer(mode, pki / "tenants/acme/tenant.pem", pki / "tenants/acme/tenant.key")
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def h2echo_tls(module_procs, pki):
    proc = module_procs.start("h2echo", [sys.executable, HERE / "probe_servers.py", "h2echo",
                                         "--cert", pki / "tenants/acme/tenant.pem",
                                         "--key", pki / "tenants/acme/tenant.key"])
    return int(proc.wait_line(r"^h2echo ready port=(\d+)$").group(1))


@pytest.fixture(scope="module")
def h2echo_h2c(module_procs):
    proc = module_procs.start("h2echo-h2c", [sys.executable, HERE / "probe_servers.py", "h2echo",
                                             "--no-tls"])
    return int(proc.wait_line(r"^h2echo ready port=(\d+)$").group(1))


def _check(result, code, kind, json_mode):
    assert result.rc == code, repr(result)
    assert_one_error_line(result, kind)
    if json_mode:
        doc = result.json()
        assert doc["ok"] is False, doc
        assert doc["error"]["exitCode"] == code, doc["error"]
        assert doc["error"]["kind"] == kind, doc["error"]
        assert doc["error"]["message"], doc["error"]


MODES = [pytest.param([], id="text"), pytest.param(["--json"], id="json")]


@pytest.mark.parametrize("extra", MODES)
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_unreachable_port(h2probe, pki, scheme, extra):
    port = free_port()  # nobody listens
    result = run_probe(h2probe, f"{scheme}://{HOST}:{port}/", *_tls(pki, port), *extra)
    _check(result, 2, "connect", extra)


@pytest.mark.parametrize("extra", MODES)
def test_wrong_cacert(h2probe, pki, h2echo_tls, extra):
    port = h2echo_tls
    result = run_probe(h2probe, f"https://{HOST}:{port}/", *_tls(pki, port, ca="rogue/ca.pem"), *extra)
    _check(result, 3, "tls", extra)


def test_wrong_host_name(h2probe, pki, h2echo_tls):
    """A certificate for acme presented for globex fails verification (3)."""
    host = "globex.tunnel.localhost"
    port = h2echo_tls
    result = run_probe(h2probe, f"https://{host}:{port}/", *_tls(pki, port, host=host))
    _check(result, 3, "tls", False)


def test_insecure_skips_verification(h2probe, pki, h2echo_tls):
    port = h2echo_tls
    result = run_probe(h2probe, f"https://{HOST}:{port}/", "--insecure",
                       "--resolve", f"{HOST}:{port}:127.0.0.1", "--quiet")
    assert result.rc == 0, repr(result)
    assert result.stdout.startswith(b"h2echo GET /"), repr(result)


@pytest.mark.parametrize("extra", MODES)
@pytest.mark.parametrize("mode", ["alpn-http11", "no-alpn"])
def test_tls_server_without_h2(h2probe, pki, bad, mode, extra):
    server = bad(mode)
    result = run_probe(h2probe, f"https://{HOST}:{server.port}/", *_tls(pki, server.port), *extra)
    _check(result, 4, "protocol", extra)


def test_openssl_s_server_http11_only(h2probe, pki, procs):
    """The same with OpenSSL's own server: `openssl s_server -alpn http/1.1`."""
    port = free_port()
    proc = procs.start("s_server", ["openssl", "s_server", "-accept", f"127.0.0.1:{port}",
                                    "-cert", pki / "tenants/acme/tenant.pem",
                                    "-key", pki / "tenants/acme/tenant.key",
                                    "-alpn", "http/1.1", "-www", "-quiet"])
    from cluster import port_open, wait_until
    wait_until(lambda: port_open(port) or not proc.alive(), 10, "openssl s_server listening")
    assert proc.alive(), proc.stderr_text()
    result = run_probe(h2probe, f"https://{HOST}:{port}/", *_tls(pki, port))
    _check(result, 4, "protocol", False)


@pytest.mark.parametrize("extra", MODES)
@pytest.mark.parametrize("kind, tls", [("http11", False), ("tls-garbage", True), ("tcp-garbage", False)],
                         ids=["http11-server-over-h2c", "garbage-after-tls", "garbage-over-tcp"])
def test_server_that_does_not_speak_http2(h2probe, pki, bad, kind, tls, extra):
    server = bad(kind)
    if tls:
        result = run_probe(h2probe, f"https://{HOST}:{server.port}/", *_tls(pki, server.port), *extra)
    else:
        result = run_probe(h2probe, f"http://127.0.0.1:{server.port}/", *extra)
    _check(result, 4, "protocol", extra)


@pytest.mark.parametrize("extra", MODES)
@pytest.mark.parametrize("scheme", ["https", "http"])
def test_silent_server_times_out(h2probe, pki, bad, scheme, extra):
    server = bad("silent")
    result = run_probe(h2probe, f"{scheme}://{HOST}:{server.port}/", *_tls(pki, server.port),
                       "--timeout", "1", *extra, timeout=20)
    _check(result, 5, "timeout", extra)
    assert 0.8 <= result.elapsed <= 6, f"--timeout 1 took {result.elapsed:.2f}s"


def test_h2_server_that_never_answers_the_request(h2probe, pki, h2echo_tls):
    """TLS and SETTINGS fine, the response never comes: still a timeout (5)."""
    port = h2echo_tls
    result = run_probe(h2probe, f"https://{HOST}:{port}/hang", *_tls(pki, port), "--timeout", "1")
    _check(result, 5, "timeout", False)
    assert result.elapsed <= 6


def test_stream_reset(h2probe, pki, h2echo_tls):
    port = h2echo_tls
    result = run_probe(h2probe, f"https://{HOST}:{port}/reset", *_tls(pki, port), "--json")
    _check(result, 4, "protocol", True)
    rst = [f for f in result.json()["frames"] if f["type"] == "RST_STREAM"]
    assert rst and rst[0]["error"] == "REFUSED_STREAM", result.json()["frames"]


def test_h2c_server_that_speaks_first(h2probe, h2echo_h2c):
    """An h2c server sends its SETTINGS the moment it accepts (before reading
    the preface), as nghttpd and python-h2 do. Those first bytes must not be
    lost: 20 requests in a row all succeed."""
    results = [run_probe(h2probe, f"http://127.0.0.1:{h2echo_h2c}/n{i}", "--quiet")
               for i in range(20)]
    bad = [r for r in results if r.rc != 0]
    assert not bad, f"{len(bad)}/20 failed, first: {bad[0]!r}"
    assert all(r.stdout.startswith(b"h2echo GET /n") for r in results)


@pytest.mark.parametrize("argv", [
    pytest.param(["ftp://example/"], id="bad-scheme"),
    pytest.param(["ping", "https://x/", "--count", "many"], id="bad-number"),
    pytest.param(["route", "acme.tunnel.localhost"], id="missing-via"),
])
def test_usage_error_is_64_and_one_line(h2probe, argv):
    result = run_probe(h2probe, *argv)
    assert result.rc == 64, repr(result)
    assert_one_error_line(result)
