"""socket_ping.py EMULATOR_CMD IMAGE_DIR - two guests on a socket network.

Guest A: -netdev socket,id=n0,listen=127.0.0.1:PORT  (MAC 52:54:00:00:09:01, 10.0.9.1)
Guest B: -netdev socket,id=n0,connect=127.0.0.1:PORT (MAC 52:54:00:00:09:02, 10.0.9.2)
B starts once A listens.  Each pings the other (3 of 3 replies), and B
fetches a 1 MiB file from A's busybox httpd (MD5-checked: TSO on A, the
stream framing in between, checksum status on B).  SOCKET_MODES="stream udp"
also runs the pair over unicast UDP (udp=127.0.0.1:P2,localaddr=127.0.0.1:P1);
"mcast" over multicast (mcast=230.0.9.1:P,localaddr=127.0.0.1) inside a
private network namespace (needs root: skipped otherwise), where only the
namespace's loopback carries the group.
No root needed for stream/udp; all traffic is on 127.0.0.1.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import Fail, Guest, bring_up_eth0, free_port, free_udp_port, log, run_main, \
    tcp_listening  # noqa: E402

if len(sys.argv) != 3:
    print(f"usage: {sys.argv[0]} EMULATOR_CMD IMAGE_DIR", file=sys.stderr)
    sys.exit(2)
EMU, IMG = sys.argv[1], sys.argv[2]
BOOT_TIMEOUT = float(os.environ.get("GUEST_TIMEOUT", "900"))
MODES = os.environ.get("SOCKET_MODES", "stream").split()

if "mcast" in MODES and not os.environ.get("SOCKET_IN_NETNS"):
    import shutil
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        env = dict(os.environ, SOCKET_IN_NETNS="1")
        os.execvpe("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)
    print("socket_ping: mcast: SKIP (needs root, unshare and ip for a private network namespace)")
    MODES = [m for m in MODES if m != "mcast"]
if os.environ.get("SOCKET_IN_NETNS"):
    import subprocess
    for c in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "lo", "multicast", "on"],
              ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
        subprocess.run(c, check=True)


def ping(g, addr):
    st, out = g.sh(f"ping -c 3 -W 5 {addr}", timeout=60, check=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out)
    if st != 0 or not m or m.group(2) != "3":
        raise Fail(f"{g.name}: ping {addr} failed:\n{out}")


def pair(logdir, mode):
    if mode == "stream":
        port = free_port()
        a_net = f"socket,id=n0,listen=127.0.0.1:{port}"
        b_net = f"socket,id=n0,connect=127.0.0.1:{port}"
    elif mode == "udp":
        pa, pb = free_udp_port(), free_udp_port()
        a_net = f"socket,id=n0,udp=127.0.0.1:{pb},localaddr=127.0.0.1:{pa}"
        b_net = f"socket,id=n0,udp=127.0.0.1:{pa},localaddr=127.0.0.1:{pb}"
    elif mode == "mcast":
        p = free_udp_port()
        a_net = b_net = f"socket,id=n0,mcast=230.0.9.1:{p},localaddr=127.0.0.1"
    else:
        raise Fail(f"unknown SOCKET_MODES entry {mode!r}")
    a = Guest(EMU, IMG, f"{mode}-A", ["-netdev", a_net, "-device", "e1000,netdev=n0,mac=52:54:00:00:09:01"],
              logdir)
    b = None
    try:
        if mode == "stream":
            deadline = time.monotonic() + 60
            while not tcp_listening(port):
                if a.p.poll() is not None or time.monotonic() > deadline:
                    raise Fail(f"guest A never listened on 127.0.0.1:{port}")
                time.sleep(0.2)
        b = Guest(EMU, IMG, f"{mode}-B", ["-netdev", b_net, "-device", "e1000,netdev=n0,mac=52:54:00:00:09:02"],
                  logdir)
        ta = a.boot(BOOT_TIMEOUT)
        tb = b.boot(BOOT_TIMEOUT)
        log(f"socket_ping: {mode}: prompts after {ta:.0f}s / {tb:.0f}s")
        for g, ip in ((a, "10.0.9.1"), (b, "10.0.9.2")):
            bring_up_eth0(g)
            g.sh(f"ifconfig eth0 {ip} netmask 255.255.255.0 up")
        ping(b, "10.0.9.1")
        ping(a, "10.0.9.2")
        log(f"socket_ping: {mode}: ping both ways ok")
        a.sh("mkdir -p /run/www && dd if=/dev/urandom of=/run/www/f bs=1024 count=1024 2>/dev/null")
        _, out = a.sh("md5sum /run/www/f")
        want = out.split()[0]
        a.sh("httpd -p 80 -h /run/www")
        _, out = b.sh("wget -q -O - http://10.0.9.1/f | md5sum", timeout=300)
        got = out.split()[0] if out.split() else ""
        if got != want:
            raise Fail(f"1 MiB over the socket network: md5 {got!r} on B, {want!r} on A")
        log(f"socket_ping: {mode}: 1 MiB A->B ok")
        for g in (b, a):
            st = g.poweroff()
            if st != 0:
                raise Fail(f"{g.name}: exit status {st} after poweroff")
    except Fail:
        for g in (a, b):
            if g:
                log(f"--- {g.name} serial (last 30 lines of {g.logpath}):\n{g.tail(30)}")
        raise
    finally:
        for g in (a, b):
            if g:
                g.close()


def body(logdir):
    for mode in MODES:
        pair(logdir, mode)
    log("socket_ping: ok")
    return True


run_main(body, "socket_ping")
