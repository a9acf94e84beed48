"""http:// mode under load (issue 13, acceptance d): a 256 MiB download and a
256 MiB upload with SHA-256 checks and the agent's memory bounded, and 100
concurrent browsers × 20 requests each with no errors.

Bound stated: the agent's peak RSS (VmHWM from /proc) during each transfer
stays below its RSS before the transfer + 32 MiB. Bodies stream with
backpressure at every hop (splice, TLS, HTTP/2 window, async-http-client);
buffering either body whole would exceed it eightfold.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

import http_front as hf
from cluster import TENANT_DOMAIN
from http_front_app import pattern_sha256

SIZE = 256 << 20
BOUND_KIB = 32 * 1024
HOST = f"acme.{TENANT_DOMAIN}"


@pytest.fixture(scope="module")
def setup(module_procs):
    relay, agent, app = hf.start_front(module_procs)
    pki = module_procs.pki
    cookie = hf.sign_in(pki, relay)
    return pki, relay, agent, cookie


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def reset_peak(pid: int):
    """Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM to the current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def curl_argv(pki, relay, cookie, path, version, *args):
    return ["curl", "-sS", version, "--fail", "--max-time", "300", "--cacert", str(pki / "ca.pem"),
            "--resolve", f"{HOST}:{relay.port}:127.0.0.1", "-H", f"Cookie: {hf.COOKIE}={cookie}",
            *args, f"https://{HOST}:{relay.port}{path}"]


@pytest.mark.parametrize("version", ["--http2", "--http1.1"])
def test_256_mib_download(setup, record_property, version):
    pki, relay, agent, cookie = setup
    reset_peak(agent.proc.pid)
    before = status_kib(agent.proc.pid, "VmRSS")
    digest, size = hashlib.sha256(), 0
    started = time.monotonic()
    with subprocess.Popen(curl_argv(pki, relay, cookie, f"/bytes/{SIZE}", version), stdout=subprocess.PIPE) as curl:
        while chunk := curl.stdout.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        assert curl.wait(timeout=300) == 0
    seconds = time.monotonic() - started
    peak = status_kib(agent.proc.pid, "VmHWM")
    record_property("download_seconds", round(seconds, 2))
    record_property("agent_rss_before_kib", before)
    record_property("agent_peak_kib", peak)
    print(f"download 256 MiB {version}: {seconds:.2f} s, agent RSS {before} KiB before, peak {peak} KiB")
    assert size == SIZE
    assert digest.hexdigest() == pattern_sha256(SIZE)
    assert peak < before + BOUND_KIB, f"agent peak {peak} KiB, before {before} KiB"


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory):
    source = tmp_path_factory.mktemp("upload") / "upload.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as f:
        block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB
        for i in range(SIZE // len(block)):
            chunk = bytes([i % 256]) + block[1:]
            f.write(chunk)
            digest.update(chunk)
    return source, digest.hexdigest()


@pytest.mark.parametrize("version", ["--http2", "--http1.1"])
def test_256_mib_upload(setup, record_property, upload_file, version):
    pki, relay, agent, cookie = setup
    source, sha256 = upload_file
    reset_peak(agent.proc.pid)
    before = status_kib(agent.proc.pid, "VmRSS")
    started = time.monotonic()
    out = subprocess.run(curl_argv(pki, relay, cookie, "/sha256", version, "-T", str(source)),
                         capture_output=True, timeout=310)
    seconds = time.monotonic() - started
    peak = status_kib(agent.proc.pid, "VmHWM")
    record_property("upload_seconds", round(seconds, 2))
    record_property("agent_peak_kib", peak)
    print(f"upload 256 MiB {version}: {seconds:.2f} s, agent RSS {before} KiB before, peak {peak} KiB")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"length": SIZE, "sha256": sha256}
    assert peak < before + BOUND_KIB, f"agent peak {peak} KiB, before {before} KiB"


def test_100_browsers_20_requests_each(setup):
    pki, relay, _, cookie = setup
    import ssl
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def browser(n: int):
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", relay.port, context=context, timeout=60)
            conn._tunnel_host = None
            # SNI and Host are the tenant's; the socket goes to the relay's port on loopback.
            conn.host = HOST
            conn._create_connection = lambda *a, **k: __import__("socket").create_connection(("127.0.0.1", relay.port), timeout=60)
            for i in range(20):
                conn.request("GET", f"/headers?b={n}&i={i}", headers={"Cookie": f"{hf.COOKIE}={cookie}"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200 or json.loads(body)["path"] != f"/headers?b={n}&i={i}":
                    raise AssertionError(f"browser {n} request {i}: {response.status} {body[:100]!r}")
                with lock:
                    done[0] += 1
            conn.close()
        except Exception as error:  # noqa: BLE001 - every failure is counted
            with lock:
                errors.append(f"{n}: {error!r}")

    threads = [threading.Thread(target=browser, args=(n,)) for n in range(100)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    print(f"100 x 20 requests: {time.monotonic() - started:.2f} s")
    assert errors == []
    assert done[0] == 2000
