"""A TCP forwarder that delays every byte by a fixed time each way: a long link
(a relay in another region) on a machine that has no netem.

    python3 delayproxy.py --listen PORT --to HOST:PORT --delay-ms MS

Prints "delayproxy ready port=N" once listening. Each direction holds at most
`--cap` bytes (default 64 MiB) and stops reading beyond it, so its memory is
bounded and the sender feels backpressure as on a real path. TCP below it is
loopback's: what the delay exposes is the senders' own windows (HTTP/2's, ssh's
channel window), which is what this proxy is for.
"""
import argparse
import asyncio


async def forward(reader, writer, delay, cap):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()
    queued = 0
    room = asyncio.Event()
    room.set()

    async def send():
        nonlocal queued
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()
            queued -= len(data)
            if queued < cap:
                room.set()

    sender = asyncio.create_task(send())
    try:
        while True:
            await room.wait()
            data = await reader.read(1 << 18)
            queue.put_nowait((loop.time() + delay, data or None))
            if not data:
                break
            queued += len(data)
            if queued >= cap:
                room.clear()
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.transport.abort()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--cap", type=int, default=64 << 20)
    a = ap.parse_args()
    host, port = a.to.rsplit(":", 1)
    delay = a.delay_ms / 1000

    async def accepted(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.transport.abort()
            return
        await asyncio.gather(forward(creader, uwriter, delay, a.cap),
                             forward(ureader, cwriter, delay, a.cap))
        cwriter.close()
        uwriter.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", a.listen)
    print(f"delayproxy ready port={server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
