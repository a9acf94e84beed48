"""An agent that never opens its flow-control window (issue 14, item 4).

A malicious agent (the `h2` package as the HTTP/2 server over mTLS with the acme
agent certificate) answers each tunnel's CONNECT with 200 and never sends a
WINDOW_UPDATE. Browsers keep sending. The relay holds a bounded amount per
tunnel in that direction (it stops reading the browser's socket while the
stream's queue is above its watermark) and resets each tunnel whose agent side
took nothing for twice `--send-timeout` (a working agent resets a tunnel whose
app stopped reading after its own send timeout first), with "tunnel reset: agent stopped reading".
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.settings

from cluster import AGENT_HOST, wait_until
from tlsclient import client_hello, read_until_closed

HOST = "acme.tunnel.localhost"
TUNNELS = 40


class WindowHoldingAgent:
    """Registers as tenant acme, accepts every CONNECT, reads and never acknowledges."""

    def __init__(self, pki, relay_port: int):
        tls = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        tls.load_cert_chain(pki / "tenants" / "acme" / "agent.pem", pki / "tenants" / "acme" / "agent.key")
        tls.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", relay_port), timeout=10)
        self.sock = tls.wrap_socket(raw, server_hostname=AGENT_HOST)
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        self.received = 0
        self.accepted = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    if dict(event.headers).get(b":method") != b"CONNECT":
                        # The relay's hello (its instance name), answered as an agent does.
                        self.h2.send_headers(event.stream_id, [(":status", "204")], end_stream=True)
                        continue
                    self.h2.send_headers(event.stream_id, [(":status", "200")])
                    self.accepted += 1
                elif isinstance(event, h2.events.DataReceived):
                    self.received += event.flow_controlled_length   # and never acknowledged
            out = self.h2.data_to_send()
            if out:
                self.sock.sendall(out)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def flood(relay, sent: list[int], index: int) -> socket.socket:
    """A browser that sends a ClientHello and then as much as the relay will take."""
    sock = socket.create_connection(("127.0.0.1", relay.port), timeout=10)
    sock.sendall(client_hello(HOST))
    sock.settimeout(0.5)
    chunk = b"\x17\x03\x03" + b"\0" * (16 << 10)

    def push():
        while True:
            try:
                sent[index] += sock.send(chunk)
            except socket.timeout:
                continue
            except OSError:
                return

    threading.Thread(target=push, daemon=True).start()
    return sock


def test_agent_that_never_opens_its_window(procs, pki):
    relay = procs.relay(extra=["--send-timeout", "2"])
    agent = WindowHoldingAgent(pki, relay.port)
    try:
        wait_until(lambda: relay.agents("acme"), 10, "the window-holding agent registered")
        rss_before = relay.proc.rss_kib()
        sent = [0] * TUNNELS
        socks = [flood(relay, sent, i) for i in range(TUNNELS)]
        wait_until(lambda: agent.accepted == TUNNELS, 10, "every tunnel opened")
        # Flooding stops once the relay stops reading (queue full, kernel buffers full).
        last = -1
        deadline = time.monotonic() + 2
        while sum(sent) != last and time.monotonic() < deadline:
            last = sum(sent)
            time.sleep(0.3)
        held_kib = (relay.proc.rss_kib() - rss_before) / TUNNELS
        # The stream window the agent never reopened (64 KiB by default) reached it; the
        # rest waits at the relay in a queue bounded by its 256 KiB watermark.
        assert agent.received <= TUNNELS * 65_535
        assert held_kib < 1024, f"relay holds {held_kib:.0f} KiB per stalled tunnel"
        print(f"relay RSS per stalled tunnel: {held_kib:.0f} KiB; browsers sent {sum(sent) / TUNNELS / 1024:.0f} KiB each")
        # Nothing moved for twice --send-timeout (2 s): every tunnel is reset, and logged.
        wait_until(lambda: relay.agent_total("openStreams", "acme") == 0, 15, "the stalled tunnels reset")
        for sock in socks:
            _, outcome = read_until_closed(sock, 5)
            assert outcome in ("reset", "eof"), outcome
            sock.close()
        relay.proc.wait_stderr(r"tunnel reset: agent stopped reading", 5)
    finally:
        agent.close()
