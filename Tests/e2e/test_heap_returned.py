"""Memory comes back after a wave of connections: 6,000 browser connections through
a TLS-terminating agent (tcp://) are opened, held, and closed; the agent's resident
memory then returns to within 96 MiB of where it started. Without the heap trimmer
glibc kept all of it (~150 MiB here, 300 MB at 10,000) as free-but-fragmented heap.
While held, each connection costs the agent less than 27 KiB."""

import asyncio
import resource
import ssl

import pytest

from cluster import TENANT_DOMAIN, wait_until

N = 6000


async def hold_and_close(port: int, ca: str, host: str, held_hook) -> int:
    ctx = ssl.create_default_context(cafile=ca)
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    gate = asyncio.Semaphore(128)
    held = []

    async def open_one():
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
            held.append(writer)

    await asyncio.gather(*(open_one() for _ in range(N)))
    held_hook()
    for writer in held:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for w in held), return_exceptions=True)
    return len(held)


def test_agent_heap_returns_after_connections_close(procs, demo_app, pki):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < N + 500:
        pytest.skip(f"open-file hard limit {hard} is below {N + 500}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, N + 500), hard))
    relay = procs.relay(extra=["--max-tunnels-per-address", "0"])  # N from one address
    agent = procs.agent(relay, demo_app.upstream)
    start = agent.proc.rss_kib()
    peak = []
    held = asyncio.run(hold_and_close(relay.port, str(pki / "ca.pem"), f"acme.{TENANT_DOMAIN}",
                                      lambda: peak.append(agent.proc.rss_kib())))
    assert held == N
    # Each held connection costs the agent its TLS session (~14 KiB) plus its stream and
    # upstream socket: ~21 KiB here. Holding the session tickets inside OpenSSL until the
    # first response made it ~33.
    assert (peak[0] - start) / N < 27, (start, peak)
    assert peak[0] > start + 96 * 1024, (start, peak)   # the wave really used the memory
    wait_until(lambda: agent.proc.rss_kib() < start + 96 * 1024, 15,
               f"agent RSS back near {start} KiB (peak {peak[0]} KiB)")
