"""h2probe (issue 3) against real HTTP/2 peers from Debian: nghttpd (TLS and
h2c) and nginx. What h2probe prints must be what the peer sent: its SETTINGS
are checked against the peer's configuration and against what `nghttp -v`
(an independent client) saw, and `--json` must carry the same facts as the
text output."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import statistics
import subprocess

import pytest

from cluster import free_port, nginx_binary, nginx_conf, port_open, wait_until
from probe_servers import h2probe, cert_sha256, peer_settings, run_probe, text_frames

HOST = "acme.tunnel.localhost"
CONTENT = "served to h2probe\n" * 50           # 900 bytes
BIG = bytes(range(256)) * 4096 + b"tail"      # 1 MiB + 4: more than one window's worth

# nghttpd --max-concurrent-streams=77 --window-bits=20
NGHTTPD_SETTINGS = {"SETTINGS_MAX_CONCURRENT_STREAMS": 77,
                    "SETTINGS_INITIAL_WINDOW_SIZE": 2**20 - 1}
# nginx: http2_max_concurrent_streams 33; http2_body_preread_size 128k
NGINX_SETTINGS = {"SETTINGS_MAX_CONCURRENT_STREAMS": 33,
                  "SETTINGS_INITIAL_WINDOW_SIZE": 128 * 1024}


def _www(tmp_path_factory):
    www = tmp_path_factory.mktemp("www")
    (www / "index.txt").write_text(CONTENT)
    (www / "big.bin").write_bytes(BIG)
    return www


def _wait_listening(proc, port, what):
    def ready():
        if not proc.alive():
            raise RuntimeError(f"{what} exited with {proc.popen.returncode}: {proc.stderr_tail()}")
        return port_open(port)
    wait_until(ready, 10, f"{what} listening on {port}")


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    return _www(tmp_path_factory)


@pytest.fixture(scope="module")
def nghttpd(module_procs, pki, www):
    if not shutil.which("nghttpd"):
        pytest.fail("nghttpd not installed (apt-get install nghttp2-server; see Tools/setup)")
    port = free_port()
    proc = module_procs.start("nghttpd", [
        "nghttpd", "--address=127.0.0.1", "-d", www, "--max-concurrent-streams=77",
        "--window-bits=20", port, pki / "tenants/acme/tenant.key", pki / "tenants/acme/tenant.pem"])
    _wait_listening(proc, port, "nghttpd")
    return port


@pytest.fixture(scope="module")
def nghttpd_h2c(module_procs, www):
    port = free_port()
    proc = module_procs.start("nghttpd-h2c", [
        "nghttpd", "--address=127.0.0.1", "--no-tls", "-d", www,
        "--max-concurrent-streams=77", "--window-bits=20", port])
    _wait_listening(proc, port, "nghttpd --no-tls")
    return port


@pytest.fixture(scope="module")
def nginx(module_procs, pki, www, tmp_path_factory):
    work = tmp_path_factory.mktemp("nginx-probe")
    port = free_port()
    conf = nginx_conf(work, port, pki / "tenants/acme/tenant.pem", pki / "tenants/acme/tenant.key", www)
    # values h2probe must then report in nginx's SETTINGS
    text = conf.read_text()
    assert f"root {www};" in text, text
    conf.write_text(text.replace(f"root {www};", f"root {www};\n        http2_max_concurrent_streams 33;"
                                 "\n        http2_body_preread_size 128k;"))
    proc = module_procs.start("nginx", [nginx_binary(), "-p", work, "-c", conf,
                                        "-e", work / "nginx-error.log"])
    _wait_listening(proc, port, "nginx")
    return port


def _tls_args(pki, port):
    return ["--cacert", pki / "ca.pem", "--resolve", f"{HOST}:{port}:127.0.0.1"]


def _nghttp_view(pki, url, port) -> dict:
    """What nghttp (libnghttp2's own client) says the server's SETTINGS are."""
    argv = ["nghttp", "-nv", url]
    if url.startswith("https"):
        # nghttp has no --resolve; connect by address and send SNI/authority by header
        argv = ["nghttp", "-nv", "-H", f":authority: {HOST}:{port}",
                f"https://127.0.0.1:{port}/index.txt"]
    out = subprocess.run(argv, capture_output=True, timeout=20).stdout.decode(errors="replace")
    return peer_settings(text_frames(out))


def _check_text(result, pki, expected_settings, tls=True, body=CONTENT):
    assert result.rc == 0, repr(result)
    assert result.err.strip() == "", repr(result)
    frames = text_frames(result.out)
    assert frames, repr(result)
    settings = peer_settings(frames)
    for name, value in expected_settings.items():
        assert settings.get(name) == value, (name, settings)
    got_headers = [f for f in frames if f["type"] == "HEADERS" and f["direction"] == "received"]
    assert got_headers and dict(got_headers[0]["headers"]).get(":status") == "200", frames
    data = [f for f in frames if f["type"] == "DATA" and f["direction"] == "received"]
    assert sum(f["length"] for f in data) == len(body), data
    assert data[-1]["flags"] & 0x1, "last DATA frame lacks END_STREAM"
    assert body in result.out
    if tls:
        assert re.search(r"^\[\s*[\d.]+\] TLS TLSv1\.[23] \S+ ALPN h2$", result.out, re.M), result.out
        shas = re.findall(r"^\s+sha256 ([0-9a-f]{64})$", result.out, re.M)
        assert shas and shas[0] == cert_sha256(pki / "tenants/acme/tenant.pem"), shas
        assert re.search(r"^\s+SAN DNS:acme\.tunnel\.localhost", result.out, re.M), result.out
    return frames, settings


def _check_json(doc, pki, expected_settings, tls=True, body_len=len(CONTENT)):
    assert doc["ok"] is True, doc
    settings = peer_settings(doc["frames"])
    for name, value in expected_settings.items():
        assert settings.get(name) == value, (name, settings)
    assert doc["response"]["status"] == 200
    assert doc["response"]["bodyBytes"] == body_len
    headers = {n: v for n, v in doc["response"]["headers"]}
    if "content-length" in headers:
        assert int(headers["content-length"]) == body_len
    for f in doc["frames"]:
        assert f["direction"] in ("sent", "received"), f
        assert isinstance(f["flags"], list) and isinstance(f["stream"], int), f
        assert isinstance(f["t"], (int, float)) and isinstance(f["length"], int), f
    data = [f for f in doc["frames"] if f["type"] == "DATA" and f["direction"] == "received"]
    assert sum(f["length"] for f in data) == body_len
    if tls:
        assert doc["tls"]["alpn"] == "h2"
        assert doc["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
        leaf = doc["tls"]["chain"][0]
        assert leaf["sha256"] == cert_sha256(pki / "tenants/acme/tenant.pem")
        assert HOST in leaf["dns"]
    return settings


def _same_frames(text_frames_, json_frames):
    """The same conversation in both renderings: frame types, directions,
    streams and flag sets match one for one (timing-independent frames only)."""
    def key(f, flag_names):
        return (f["direction"], f["type"], f["stream"], flag_names)
    def text_flags(f):
        names = {"SETTINGS": {1: "ACK"}, "PING": {1: "ACK"},
                 "HEADERS": {1: "END_STREAM", 4: "END_HEADERS", 8: "PADDED", 0x20: "PRIORITY"},
                 "DATA": {1: "END_STREAM", 8: "PADDED"}}.get(f["type"], {})
        return frozenset(n for bit, n in names.items() if f["flags"] & bit)
    a = sorted(key(f, text_flags(f)) for f in text_frames_)
    b = sorted(key(f, frozenset(f["flags"])) for f in json_frames)
    assert a == b, f"text frames {a}\n != json frames {b}"


# -- nghttpd over TLS --------------------------------------------------------

def test_nghttpd_text_frames_match_its_configuration(h2probe, pki, nghttpd):
    url = f"https://{HOST}:{nghttpd}/index.txt"
    result = run_probe(h2probe, url, *_tls_args(pki, nghttpd), "-H", "x-probe: yes")
    _, settings = _check_text(result, pki, NGHTTPD_SETTINGS)
    # the same SETTINGS an independent client sees
    assert settings == _nghttp_view(pki, url, nghttpd)
    sent = [f for f in text_frames(result.out) if f["type"] == "HEADERS" and f["direction"] == "sent"]
    assert ("x-probe", "yes") in sent[0]["headers"], sent
    assert (":path", "/index.txt") in sent[0]["headers"], sent


def test_nghttpd_json_carries_the_same_facts(h2probe, pki, nghttpd):
    url = f"https://{HOST}:{nghttpd}/index.txt"
    text = run_probe(h2probe, url, *_tls_args(pki, nghttpd))
    frames, text_settings = _check_text(text, pki, NGHTTPD_SETTINGS)
    result = run_probe(h2probe, url, *_tls_args(pki, nghttpd), "--json")
    assert result.rc == 0, repr(result)
    doc = result.json()
    assert _check_json(doc, pki, NGHTTPD_SETTINGS) == text_settings
    _same_frames(frames, doc["frames"])
    text_sha = re.findall(r"^\s+sha256 ([0-9a-f]{64})$", text.out, re.M)[0]
    assert doc["tls"]["chain"][0]["sha256"] == text_sha
    assert doc["tls"]["cipher"] in text.out


def test_nghttpd_quiet_body_is_exact_over_a_window(h2probe, pki, nghttpd):
    """1 MiB + 4 bytes: more than nghttpd's stream window, the body bytes exactly."""
    url = f"https://{HOST}:{nghttpd}/big.bin"
    result = run_probe(h2probe, url, *_tls_args(pki, nghttpd), "--quiet")
    assert result.rc == 0, repr(result)
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(BIG).hexdigest(), \
        f"got {len(result.stdout)} bytes, want {len(BIG)}"
    doc = run_probe(h2probe, url, *_tls_args(pki, nghttpd), "--json").json()
    assert doc["response"]["bodyBytes"] == len(BIG)


# -- nghttpd h2c (prior knowledge) -------------------------------------------

def test_nghttpd_h2c_text_and_json(h2probe, pki, nghttpd_h2c):
    url = f"http://127.0.0.1:{nghttpd_h2c}/index.txt"
    text = run_probe(h2probe, url)
    frames, settings = _check_text(text, pki, NGHTTPD_SETTINGS, tls=False)
    assert settings == _nghttp_view(pki, url, nghttpd_h2c)
    assert not re.search(r"^\[\s*[\d.]+\] TLS ", text.out, re.M), "a TLS line on h2c"
    result = run_probe(h2probe, url, "--json")
    assert result.rc == 0, repr(result)
    doc = result.json()
    assert _check_json(doc, pki, NGHTTPD_SETTINGS, tls=False) == settings
    assert not doc.get("tls"), doc.get("tls")
    _same_frames(frames, doc["frames"])


# -- nginx ---------------------------------------------------------------------

def test_nginx_text_and_json(h2probe, pki, nginx):
    url = f"https://{HOST}:{nginx}/index.txt"
    text = run_probe(h2probe, url, *_tls_args(pki, nginx))
    frames, settings = _check_text(text, pki, NGINX_SETTINGS)
    assert settings == _nghttp_view(pki, url, nginx)
    result = run_probe(h2probe, url, *_tls_args(pki, nginx), "--json")
    assert result.rc == 0, repr(result)
    doc = result.json()
    assert _check_json(doc, pki, NGINX_SETTINGS) == settings
    server = dict(doc["response"]["headers"]).get("server", "")
    assert server.startswith("nginx"), doc["response"]["headers"]
    _same_frames(frames, doc["frames"])


def test_nginx_window_update_is_reported(h2probe, pki, nginx):
    """nginx 1.22 raises its connection window right after SETTINGS; the
    increment printed must be a sane value and the same in --json."""
    url = f"https://{HOST}:{nginx}/index.txt"
    text = run_probe(h2probe, url, *_tls_args(pki, nginx))
    assert text.rc == 0, repr(text)
    incs = [int(m) for m in re.findall(r"\(window_size_increment=(\d+)\)", text.out)]
    doc = run_probe(h2probe, url, *_tls_args(pki, nginx), "--json").json()
    json_incs = [f["increment"] for f in doc["frames"]
                 if f["type"] == "WINDOW_UPDATE"]
    assert json_incs and sorted(json_incs) == sorted(incs), (incs, json_incs)
    assert all(0 < i < 2**31 for i in json_incs)


# -- ping ----------------------------------------------------------------------

@pytest.mark.parametrize("server", ["nghttpd", "nghttpd_h2c", "nginx"])
def test_ping_20(h2probe, pki, request, server):
    port = request.getfixturevalue(server)
    url = (f"http://127.0.0.1:{port}/" if server == "nghttpd_h2c" else f"https://{HOST}:{port}/")
    tls = [] if server == "nghttpd_h2c" else _tls_args(pki, port)
    result = run_probe(h2probe, "ping", url, "--count", 20, *tls, "--json")
    assert result.rc == 0, repr(result)
    ping = result.json()["ping"]
    rtts = ping["rttMs"]
    assert ping["count"] == 20 and len(rtts) == 20, ping
    assert all(isinstance(r, (int, float)) and 0 < r < 5000 for r in rtts), rtts
    assert ping["minMs"] <= ping["medianMs"] <= ping["p99Ms"], ping
    assert ping["minMs"] == pytest.approx(min(rtts))
    s = sorted(rtts)
    assert s[9] - 1e-9 <= ping["medianMs"] <= s[10] + 1e-9, (ping, s)
    assert s[-2] - 1e-9 <= ping["p99Ms"] <= s[-1] + 1e-9, (ping, s)
    frames = result.json()["frames"]
    sent = [f for f in frames if f["type"] == "PING" and f["direction"] == "sent" and "ACK" not in f["flags"]]
    acks = [f for f in frames if f["type"] == "PING" and f["direction"] == "received" and "ACK" in f["flags"]]
    assert len(sent) == 20 and len(acks) == 20, (len(sent), len(acks))


def test_ping_text_summary(h2probe, pki, nghttpd):
    result = run_probe(h2probe, "ping", f"https://{HOST}:{nghttpd}/", "--count", 20,
                       *_tls_args(pki, nghttpd))
    assert result.rc == 0, repr(result)
    m = re.search(r"^20 PINGs: min ([\d.]+) ms, median ([\d.]+) ms, p99 ([\d.]+) ms$",
                  result.out, re.M)
    assert m, result.out[-800:]
    lo, mid, hi = map(float, m.groups())
    assert lo <= mid <= hi
    frames = text_frames(result.out)
    assert sum(1 for f in frames if f["type"] == "PING" and f["direction"] == "sent") == 20
    assert sum(1 for f in frames if f["type"] == "PING" and f["direction"] == "received"
               and f["flags"] & 1) == 20


def test_connect_refused_by_peer_without_extended_connect(h2probe, pki, nghttpd):
    """nghttpd does not send SETTINGS_ENABLE_CONNECT_PROTOCOL: extended CONNECT
    is not allowed (exit 4), one stderr line."""
    from probe_servers import assert_one_error_line
    result = run_probe(h2probe, "connect", f"https://{HOST}:{nghttpd}/", "--protocol", "echo",
                       *_tls_args(pki, nghttpd), input=b"hello")
    assert result.rc == 4, repr(result)
    assert_one_error_line(result, "protocol")


def test_verbose_adds_dialling_ping_and_timing_lines(h2probe, pki, nghttpd):
    """--verbose is not accepted and dropped: it adds the dialling line, one line per
    PING and the timing summary, which the default output does not have."""
    url = f"https://{HOST}:{nghttpd}/index.html"
    plain = run_probe(h2probe, url, *_tls_args(pki, nghttpd))
    verbose = run_probe(h2probe, url, *_tls_args(pki, nghttpd), "--verbose")
    assert plain.rc == 0 and verbose.rc == 0, (plain, verbose)
    for text in ("dialling 127.0.0.1:", "timing: TCP"):
        assert text not in plain.out and text in verbose.out, verbose.out
    ping = run_probe(h2probe, "ping", f"https://{HOST}:{nghttpd}/", "--count", "3",
                     *_tls_args(pki, nghttpd), "--verbose")
    assert ping.rc == 0 and len(re.findall(r"PING \d: [0-9.]+ ms", ping.out)) == 3, ping.out
