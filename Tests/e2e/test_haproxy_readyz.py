"""The README's load-balancer example, for real: HAProxy checks each relay's `GET /readyz`
on its admin port (`option httpchk`, `check port`), so a relay that begins to drain
leaves the rotation on its next check, while it still finishes the tunnels it holds,
rather than when its process is gone."""

from __future__ import annotations

import threading

from cluster import free_port, wait_until
from haproxy import start_haproxy
from test_drain_lb import HOST, SIZE, Download
from tlsclient import pattern_sha256


def test_a_draining_relay_leaves_the_rotation_by_its_readyz(procs, pki, demo_app, tmp_path):
    relay_port = free_port()
    relay = procs.relay(port=relay_port, extra=["--grace-period", "60", "--proxy-protocol-from", "127.0.0.1/32"])
    lb = start_haproxy(procs, tmp_path / "haproxy", relay_port, proxy="v2", readyz=[relay.admin_port])
    procs.agent(relay, demo_app.upstream, relay_port=lb.port)
    wait_until(lambda: lb.servers()["relay0"]["status"] == "UP", 10, "HAProxy sees the relay UP")

    # One download in flight keeps the relay draining after SIGTERM.
    go = threading.Event()
    download = Download(pki, lb.port, go)
    download.start()
    assert download.started.wait(60) and download.error is None, repr(download.error)

    relay.proc.signal()
    wait_until(lambda: lb.servers()["relay0"]["status"] == "DOWN", 10, "HAProxy takes the draining relay out")
    server = lb.servers()["relay0"]
    # Taken out by its answer (Layer 7, status 503), not because it stopped answering.
    assert server["check_status"] == "L7STS" and server["check_code"] == "503", server
    assert relay.proc.alive()

    go.set()
    download.join(90)
    assert download.received == SIZE and download.sha256 == pattern_sha256(SIZE), (download.received, repr(download.error))
    assert relay.proc.wait_exit(30) == 0, relay.proc.stderr_tail()
