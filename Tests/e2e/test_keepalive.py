"""Peers that vanish without a FIN or RST (a laptop shut, a NAT that forgot the
flow, a host that lost power) are found by TCP keepalive, so their tunnels do
not stay open for good.

A peer "vanishes" by closing its socket in TCP repair mode (root only): no FIN,
no RST, the kernel forgets it. An idle tunnel sends nothing, so without probes
the relay (or the agent) would never learn; with `--tcp-keepalive 1` the first
probe meets a RST and the stream is reset.
"""

import fcntl
import os
import re
import socket
import subprocess
import struct
import termios
import time

import pytest

from cluster import wait_until
from tlsclient import connect, read_head, read_until_closed
from upstreams import TCP_REPAIR, ScriptedServer

# Closing in TCP repair mode needs CAP_NET_ADMIN; CI runs as root.
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="TCP_REPAIR needs root")


def all_acknowledged(port, peer_port):
    """The relay's socket to this browser has no byte in flight (from `ss -i`)."""
    out = subprocess.run(["ss", "-tniH", "state", "established", f"( sport = :{port} and dport = :{peer_port} )"],
                         capture_output=True, text=True, check=True).stdout
    sent = re.search(r"bytes_sent:(\d+)", out)
    acked = re.search(r"bytes_acked:(\d+)", out)
    return bool(sent and acked) and sent.group(1) == acked.group(1)


def open_streams(relay):
    return relay.agent_total("openStreams")


@pytest.fixture(scope="module")
def setup(module_procs, demo_app):
    relay = module_procs.relay(extra=["--tcp-keepalive", "1"])
    module_procs.agent(relay, demo_app.upstream, "acme")
    app = ScriptedServer()
    module_procs.agent(relay, app.upstream, "globex", extra=["--tcp-keepalive", "1"])
    yield relay, app
    app.close()


def test_vanished_browser_closes_its_tunnel(setup, pki):
    relay, _ = setup
    host = "acme.tunnel.localhost"
    before = open_streams(relay)
    sock = connect(pki, relay.port, host)
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    status, headers, body = read_head(sock)
    assert status == 200
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    assert open_streams(relay) == before + 1        # an idle keep-alive tunnel
    # The relay must have nothing to learn from but probes: no unread bytes here (closing
    # over them sends a RST even in repair mode) and every byte it sent acknowledged (else
    # its retransmission, answered by a RST, would tell it after 200 ms).
    assert struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0] == 0
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    wait_until(lambda: all_acknowledged(relay.port, sock.getsockname()[1]), 5, "the relay's bytes acknowledged")
    sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    sock.close()                                     # gone without a trace
    started = time.monotonic()
    wait_until(lambda: open_streams(relay) == before, 15, "the vanished browser's tunnel closed")
    assert time.monotonic() - started < 15


def test_vanished_app_closes_the_browser_connection(setup, pki):
    relay, app = setup
    with connect(pki, relay.port, "globex.tunnel.localhost") as sock:
        sock.sendall(b"VANISH\n")
        assert app.events.get(timeout=10) == ("vanish", None)
        data, outcome = read_until_closed(sock, 15)
    assert data == b""
    assert outcome == "reset", f"the browser saw {outcome}, not a reset"
