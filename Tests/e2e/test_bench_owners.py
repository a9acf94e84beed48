"""Tools/bench --cpu's split of a process's time by owner (Tools/bench.d/owners.py).

The README's CPU rows rest on it: which frame a sample belongs to, and how user and
kernel time are divided. Here on `perf script -F pid,ip,sym,dso` text as perf 6.1
writes it, so the rules are checked without perf or a load.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Tools" / "bench.d"))
import owners  # noqa: E402

RELAY = "/opt/h2t/relay"
SCRIPT = f"""\
   101 
\t    7f01 malloc (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f02 swift_retain (/opt/swift/usr/lib/swift/linux/libswiftCore.so)
\t    5501 $s8NIOPosix17BaseSocketChannelC8readableyyF ({RELAY})
\t    5502 $s13H2TunnelHTTP212StreamSpliceC11channelReadyyF ({RELAY})

   101 
\t ffffffff81000001 tcp_sendmsg ([kernel.kallsyms])
\t    5501 $s8NIOPosix17BaseSocketChannelC8flushNowyyF ({RELAY})

   101 
\t    7f03 [unknown] (/usr/lib/x86_64-linux-gnu/libssl.so.3)
\t    5503 $s11H2TunnelTLS13TLSConnectionC5writeyyF ({RELAY})

   101 
\t    5504 $s13H2TunnelHTTP20C17ConnectionHandlerC8flushNowyyF ({RELAY})
\t    5505 $s7NIOCore15ChannelPipelineC5flushyyF ({RELAY})

   101 
\t    7f04 __memmove_avx_unaligned (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f05 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)

   202 
\t    4401 cipher_aes_gcm (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)
\t    4402 packet_send (/usr/sbin/sshd)

   303 
\t    5501 $s8NIOPosix17BaseSocketChannelC8readableyyF ({RELAY})
"""


def test_each_sample_goes_to_the_innermost_frame_with_an_owner():
    got = owners.attribute(SCRIPT.splitlines(), {101: "relay", 202: "sshd"})
    # libc and the Swift runtime under NIO are NIO's; a kernel leaf is the kernel's;
    # OpenSSL without symbols is still OpenSSL; a chain with no owner is counted as such.
    assert got["relay"] == {"event loop (NIO)": 1, "kernel": 1, "OpenSSL": 1, "tunnel code": 1,
                            "unattributed": 1}
    assert got["sshd"] == {"OpenSSL": 1}
    # pid 303 is no process of interest: not counted anywhere.
    assert sum(sum(c.values()) for c in got.values()) == 6


def test_swift_modules_are_read_from_the_mangled_name():
    assert owners.owner("$s7NIOCore10ByteBufferV9writeByteyys5UInt8VF", RELAY) == "event loop (NIO)"
    assert owners.owner("$s13H2TunnelRelay11PublicRouterC5routeyyF", RELAY) == "tunnel code"
    assert owners.owner("$s7Logging6LoggerV3logyyF", RELAY) == "logs & metrics"
    # The standard library's `$ss…` and C symbols in the binary own nothing.
    assert owners.owner("$sSa6appendyyxnF", RELAY) is None
    assert owners.owner("__swift_instantiateConcreteTypeFromMangledName", RELAY) is None
    assert owners.owner("nghttp2_session_mem_recv", "/usr/lib/x86_64-linux-gnu/libnghttp2.so.14") == "nghttp2"


def test_kernel_time_comes_from_proc_and_samples_split_only_user_time():
    counts = {"kernel": 900, "event loop (NIO)": 30, "OpenSSL": 10}
    by = owners.split(counts, total=1.0, user=0.4)
    # However many kernel samples perf took, the kernel keeps total - user.
    assert abs(by["kernel"] - 0.6) < 1e-9
    assert abs(by["event loop (NIO)"] - 0.3) < 1e-9
    assert abs(by["OpenSSL"] - 0.1) < 1e-9
    assert abs(sum(by.values()) - 1.0) < 1e-9
