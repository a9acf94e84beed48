"""(c) 100 concurrent browser connections, each echoing 1 MiB of random bytes
through one agent connection (tcp:// to an asyncio echo server)."""

import asyncio
import hashlib
import os
import sys
from pathlib import Path

import pytest

from tlsclient import client_context

CONNECTIONS = 100
SIZE = 1 << 20


@pytest.fixture(scope="module")
def setup(module_procs):
    echo = module_procs.start("echo-upstream", [sys.executable,
                                                Path(__file__).with_name("upstreams.py"), "echo"])
    port = int(echo.wait_line(r"^upstream ready port=(\d+)$").group(1))
    relay = module_procs.relay()
    agent = module_procs.agent(relay, f"tcp://127.0.0.1:{port}")
    return relay, agent


async def _one(ctx, port: int, payload: bytes) -> str:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="acme.tunnel.localhost")

    async def send():
        for i in range(0, len(payload), 64 * 1024):
            writer.write(payload[i:i + 64 * 1024])
            await writer.drain()

    sender = asyncio.create_task(send())
    received = hashlib.sha256()
    n = 0
    while n < len(payload):
        chunk = await reader.read(256 * 1024)
        if not chunk:
            raise ConnectionError(f"closed after {n} of {len(payload)} bytes")
        received.update(chunk)
        n += len(chunk)
    await sender
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass
    assert n == len(payload)
    return received.hexdigest()


async def _all(ctx, port, payloads):
    tasks = [asyncio.create_task(_one(ctx, port, p)) for p in payloads]
    return await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 150)


def test_hundred_concurrent_echo_connections(setup, pki):
    relay, agent = setup
    (before,) = relay.agents("acme")
    payloads = [os.urandom(SIZE) for _ in range(CONNECTIONS)]
    results = asyncio.run(_all(client_context(pki, ["http/1.1"]), relay.port, payloads))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} of {CONNECTIONS} failed, first: {errors[0]!r}"
    mismatched = [i for i, (p, r) in enumerate(zip(payloads, results))
                  if hashlib.sha256(p).hexdigest() != r]
    assert not mismatched, f"connections with wrong bytes: {mismatched}"
    (after,) = relay.agents("acme")
    assert after["connection"] == before["connection"] == agent.connection
