"""The programs as they are installed: `Tools/build-release` builds them optimised and with
the Swift runtime linked in, because the machine beside a company's app has no Swift
toolchain. They must need nothing but Debian's libraries, and carry tunnels as the
debug build does. (The first build takes ~10 minutes on 2 cores.)"""

import re
import subprocess
from pathlib import Path

from cluster import REPO, Processes, curl

#: What an installed relay or agent may load: Debian's libssl3, libnghttp2-14, and what
#: every Debian has (libc6, libstdc++6, libgcc-s1, zlib1g).
ALLOWED = {"linux-vdso.so.1", "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libstdc++.so.6",
           "libgcc_s.so.1", "libz.so.1", "libssl.so.3", "libcrypto.so.3", "libnghttp2.so.14"}


def test_release_build_needs_only_debian_libraries_and_carries_a_tunnel(pki, logdir, demo_app):
    built = subprocess.run(["bash", str(REPO / "Tools" / "build-release"), "relay", "agent"],
                           capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stderr[-3000:]
    bin_dir = Path(built.stdout.strip().splitlines()[-1])
    for program in ("relay", "agent"):
        ldd = subprocess.run(["ldd", str(bin_dir / program)], capture_output=True, text=True, check=True).stdout
        needed = {re.split(r"\s", line.strip(), maxsplit=1)[0].rsplit("/", 1)[-1]
                  for line in ldd.splitlines() if line.strip()}
        assert needed <= ALLOWED, (program, needed - ALLOWED)

    procs = Processes(bin_dir, pki, logdir)
    try:
        relay = procs.relay()
        procs.agent(relay, demo_app.upstream)
        result = curl(pki, relay, "acme", "/")
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout.startswith(b"Hello from the demo app\n"), result.stdout
    finally:
        procs.stop_all()
