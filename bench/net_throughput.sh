#!/bin/sh
# bench/net_throughput.sh - TCP throughput through the e1000 and user
# networking (libslirp, restrict=on, hostfwd on 127.0.0.1), both directions,
# for one or more emulators speaking QEMU's flags, e.g. vessel and QEMU TCG:
#   guest->host: GET of a SIZE MiB file from a busybox httpd in the guest
#                (tmpfs), timed on the host;
#   host->guest: SIZE MiB sent to `nc -l -p 5001 -e wc -c` in the guest,
#                timed on the host until the guest's byte count comes back.
# Prints one line per emulator: MiB/s each way (median of REPS).  Timing is
# never a pass/fail: the exit status is 0 whenever the harness worked.
#
# usage: bench/net_throughput.sh IMAGE_DIR EMULATOR_CMD [EMULATOR_CMD...]
#   e.g. bench/net_throughput.sh build/guest build/vessel "qemu-system-i386 -accel tcg"
# environment: NET_BENCH_MIB (default 16), NET_BENCH_REPS (default 3),
#   GUEST_TIMEOUT (boot, default 900 s)
set -eu
if [ $# -lt 2 ]; then
    sed -n '2,17p' "$0"
    exit 2
fi
exec python3 - "$(cd "$(dirname "$0")/.." && pwd)" "$@" <<'PYEOF'
import os, socket, statistics, sys, tempfile, time, urllib.request
root, imgdir, emus = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, os.path.join(root, "tests", "net"))
from netlib import Fail, Guest, bring_up_eth0, dhcp, free_port, log

mib = int(os.environ.get("NET_BENCH_MIB", "16"))
reps = int(os.environ.get("NET_BENCH_REPS", "3"))
boot_timeout = float(os.environ.get("GUEST_TIMEOUT", "900"))
logdir = tempfile.mkdtemp(prefix="net_throughput.")

def down(port):
    t0 = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/big", timeout=600) as r:
        n = 0
        while True:
            b = r.read(1 << 16)
            if not b:
                break
            n += len(b)
    dt = time.monotonic() - t0
    if n != mib << 20:
        raise Fail(f"guest->host: got {n} bytes")
    return mib / dt

def up(port):
    payload = bytes(1 << 20)
    s = socket.create_connection(("127.0.0.1", port), timeout=600)
    t0 = time.monotonic()
    for _ in range(mib):
        s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    ans = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        ans += b
    dt = time.monotonic() - t0
    s.close()
    if ans.split()[:1] != [str(mib << 20).encode()]:
        raise Fail(f"host->guest: the guest counted {ans!r}")
    return mib / dt

results = []
for emu in emus:
    hport, nport = free_port(), free_port()
    net = ["-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{hport}-:80,"
                      f"hostfwd=tcp:127.0.0.1:{nport}-:5001",
           "-device", "e1000,netdev=n0"]
    g = Guest(emu, imgdir, "bench", net, logdir)
    try:
        g.boot(boot_timeout)
        bring_up_eth0(g)
        dhcp(g)
        g.sh(f"mkdir -p /run/www && dd if=/dev/zero of=/run/www/big bs=1048576 count={mib} 2>/dev/null")
        g.sh("httpd -p 80 -h /run/www")
        dl, ul = [], []
        for _ in range(reps):
            dl.append(down(hport))
            g.sh("(nc -l -p 5001 -e wc -c </dev/null >/dev/null 2>&1 &)")
            time.sleep(0.5)
            ul.append(up(nport))
        g.poweroff()
        results.append((emu, statistics.median(dl), statistics.median(ul)))
    except Fail as e:
        print(f"net_throughput: {emu}: FAILED: {e}\n{g.tail(20)}", file=sys.stderr)
        results.append((emu, None, None))
    finally:
        g.close()

for emu, dl, ul in results:
    if dl is None:
        print(f"net_throughput: {emu}: failed")
    else:
        print(f"net_throughput: {emu}: guest->host {dl:.2f} MiB/s, host->guest {ul:.2f} MiB/s "
              f"({mib} MiB, median of {reps})")
sys.exit(0 if all(r[1] is not None for r in results) else 1)
PYEOF
