"""(b) tls:// passthrough: nginx terminates the browser's TLS itself, so HTTP/2
works end to end through the tunnel, and HTTP/1.1 too."""

import pytest

from cluster import curl, free_port, nginx_binary, nginx_conf, port_open, wait_until

CONTENT = "served by nginx through the tunnel\n" * 100


@pytest.fixture(scope="module")
def nginx(module_procs, pki, tmp_path_factory):
    work = tmp_path_factory.mktemp("nginx")
    (work / "www").mkdir()
    (work / "www" / "index.txt").write_text(CONTENT)
    port = free_port()
    conf = nginx_conf(work, port, pki / "tenants/acme/tenant.pem",
                      pki / "tenants/acme/tenant.key", work / "www")
    proc = module_procs.start("nginx", [nginx_binary(), "-p", work, "-c", conf,
                                        "-e", work / "nginx-error.log"])
    wait_until(lambda: port_open(port) or (not proc.alive() and _died(proc, work)),
               10, "nginx listening")
    return port


def _died(proc, work):
    raise RuntimeError(f"nginx exited: {proc.stderr_text()}\n"
                       f"{(work / 'nginx-error.log').read_text(errors='replace')}")


@pytest.fixture(scope="module")
def relay(module_procs, nginx):
    relay = module_procs.relay()
    module_procs.agent(relay, f"tls://127.0.0.1:{nginx}")
    return relay


@pytest.mark.parametrize("flag,version", [("--http2", "2"), ("--http1.1", "1.1")])
def test_curl_version_through_passthrough(relay, pki, flag, version):
    result = curl(pki, relay, "acme", "/index.txt", flag, "-w", "\n%{http_version}")
    assert result.returncode == 0, result.stderr.decode()
    body, _, got = result.stdout.decode().rpartition("\n")
    assert got == version
    assert body == CONTENT


def test_many_h2_streams_on_one_connection(relay, pki):
    """Several requests multiplexed on one browser connection (one tunnel stream)."""
    host = f"acme.tunnel.localhost:{relay.port}"
    urls = [f"https://{host}/index.txt?{i}" for i in range(10)]
    result = curl(pki, relay, "acme", "/index.txt", "--http2", "--parallel",
                  "-w", "%{http_version} ", *urls)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert out.count(CONTENT) == 11
    assert out.count("2 ") == 11
