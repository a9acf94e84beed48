"""The agent connection's kernel send buffer follows the path's bandwidth-delay
product: on loopback (an RTT of tens to hundreds of µs) both ends keep it between
512 KiB and 2 MiB after a bulk transfer, where Linux autotuning alone grows it to
its 4 MiB ceiling (measured: tb4194304 on an unmanaged link) — megabytes of queue
in front of every stream."""

import re
import subprocess

from cluster import curl


def link_send_buffers(pid: int, relay_port: int) -> list[int]:
    """`tb` (the socket's send buffer) of `pid`'s established sockets to or from the relay's port."""
    out = subprocess.run(["ss", "-tmnp", "state", "established",
                          f"( sport = :{relay_port} or dport = :{relay_port} )"],
                         capture_output=True, text=True, check=True).stdout
    sizes, mine = [], False
    for line in out.splitlines():
        if "users:(" in line:
            mine = f"pid={pid}," in line
        elif mine and (m := re.search(r"\btb(\d+)", line)):
            sizes.append(int(m.group(1)))
            mine = False
    return sizes


def test_link_send_buffer_is_sized_to_the_path(procs, demo_app, pki):
    relay = procs.relay()
    agent = procs.agent(relay, demo_app.upstream)
    # 64 MiB down: enough for autotuning to have grown an unmanaged buffer well past 512 KiB.
    done = curl(pki, relay, "acme", "/bytes/67108864", "-o", "/dev/null", "-w", "%{size_download}")
    assert done.returncode == 0 and done.stdout == b"67108864", done.stderr
    # curl has finished: on the relay's port only the agent connection is left.
    for pid in (relay.proc.pid, agent.proc.pid):
        sizes = link_send_buffers(pid, relay.port)
        assert len(sizes) == 1 and 512 * 1024 <= sizes[0] < 2 << 20, sizes
