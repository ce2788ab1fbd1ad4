"""tap.py EMULATOR_CMD IMAGE_DIR - the tap backend, in a private network
namespace (unshare -n: nothing reaches the machine's real interfaces).

  -netdev tap,id=n0,ifname=vtap0,script=no,downscript=no -device e1000,netdev=n0
The namespace side gets 192.168.76.1/24 on vtap0, the guest 192.168.76.2:
the guest pings the host, the host pings the guest (ping(8) in the
namespace) and fetches a 512 KiB file from the guest's busybox httpd.
Needs root and /dev/net/tun; exits 77 (skipped) without them.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import Fail, Guest, bring_up_eth0, log, run_main  # noqa: E402

if len(sys.argv) != 3:
    print(f"usage: {sys.argv[0]} EMULATOR_CMD IMAGE_DIR", file=sys.stderr)
    sys.exit(2)
EMU, IMG = sys.argv[1], sys.argv[2]
BOOT_TIMEOUT = float(os.environ.get("GUEST_TIMEOUT", "900"))

if not os.environ.get("TAP_IN_NETNS"):
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun") or not shutil.which("unshare") \
            or not shutil.which("ip"):
        print("tap: SKIP: needs root, /dev/net/tun, unshare and ip")
        sys.exit(77)
    env = dict(os.environ, TAP_IN_NETNS="1")
    os.execvpe("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise Fail(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def icmp_ping(addr, count=3, timeout=5.0):
    """Echo requests from the namespace with a raw socket (we are root);
    returns how many replies came back."""
    import socket
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout)
    got = 0
    for seq in range(count):
        payload = b"vessel-tap-ping" + bytes([seq])
        hdr = struct.pack(">BBHHH", 8, 0, 0, 0x7654, seq)
        c = 0
        pkt = hdr + payload
        for i in range(0, len(pkt), 2):
            c += (pkt[i] << 8) + (pkt[i + 1] if i + 1 < len(pkt) else 0)
        c = (c >> 16) + (c & 0xFFFF)
        c = ~(c + (c >> 16)) & 0xFFFF
        s.sendto(hdr[:2] + struct.pack(">H", c) + hdr[4:] + payload, (addr, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, src = s.recvfrom(2048)
            except socket.timeout:
                break
            ihl = (data[0] & 15) * 4
            if src[0] == addr and data[ihl] == 0 and data[ihl + 4:ihl + 8] == struct.pack(">HH", 0x7654, seq):
                got += 1
                break
    s.close()
    return got


def body(logdir):
    run(["ip", "link", "set", "lo", "up"])
    g = Guest(EMU, IMG, "tap", ["-netdev", "tap,id=n0,ifname=vtap0,script=no,downscript=no",
                                "-device", "e1000,netdev=n0"], logdir)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["ip", "link", "show", "vtap0"], capture_output=True).returncode != 0:
            if g.p.poll() is not None or time.monotonic() > deadline:
                raise Fail("the emulator did not create vtap0")
            time.sleep(0.2)
        run(["ip", "addr", "add", "192.168.76.1/24", "dev", "vtap0"])
        run(["ip", "link", "set", "vtap0", "up"])
        t = g.boot(BOOT_TIMEOUT)
        log(f"tap: prompt after {t:.0f}s")
        bring_up_eth0(g)
        g.sh("ifconfig eth0 192.168.76.2 netmask 255.255.255.0 up")
        st, out = g.sh("ping -c 3 -W 5 192.168.76.1", timeout=60, check=False)
        if st != 0 or "3 packets received" not in out:
            raise Fail(f"guest -> host ping failed:\n{out}")
        n = icmp_ping("192.168.76.2")
        if n != 3:
            raise Fail(f"host -> guest ping: {n} of 3 replies")
        log("tap: ping both ways ok")
        g.sh("mkdir -p /run/www && dd if=/dev/urandom of=/run/www/f bs=1024 count=512 2>/dev/null")
        _, out = g.sh("md5sum /run/www/f")
        g.sh("httpd -p 80 -h /run/www")
        with urllib.request.urlopen("http://192.168.76.2/f", timeout=120) as resp:
            data = resp.read()
        if hashlib.md5(data).hexdigest() != out.split()[0]:
            raise Fail("512 KiB over tap: MD5 mismatch")
        log("tap: 512 KiB guest->host ok")
        st = g.poweroff()
        if st != 0:
            raise Fail(f"exit status {st} after poweroff")
    except Fail:
        log(f"--- serial output (last 40 lines of {g.logpath}):\n{g.tail()}")
        raise
    finally:
        g.close()
    log("tap: ok")
    return True


run_main(body, "tap")
