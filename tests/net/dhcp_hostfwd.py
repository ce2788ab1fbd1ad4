"""dhcp_hostfwd.py EMULATOR_CMD IMAGE_DIR - user networking end to end.

Boots the guest with
  -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:PORT-:80
  -device e1000,netdev=n0 -object filter-dump,id=f0,netdev=n0,file=net.pcap
and checks: the e1000 driver binds and reports the link up at 1000 Mb/s
full duplex; udhcpc gets the 10.0.2.15 lease from slirp's DHCP server; a
busybox httpd in the guest serves a token and a 2 MiB random file through
the host forward (curl-like fetch with urllib; the file's MD5 must match
the guest's: TSO and checksum offload on the transmit side); a 1 MiB POST
to a CGI in the guest comes back with the right MD5 (receive side); the
pcap holds the DHCP exchange, TCP port 80 frames, and no frame longer than
1514 bytes (TSO segmented by the NIC); the statistics and interrupt
counters moved; poweroff ends the emulator with status 0.
restrict=on keeps the guest from reaching anything but the forward.
"""
import hashlib
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlib import Fail, Guest, bring_up_eth0, dhcp, free_port, ipv4_tcp_ports, ipv4_udp_ports, log, \
    read_pcap, run_main  # noqa: E402

if len(sys.argv) != 3:
    print(f"usage: {sys.argv[0]} EMULATOR_CMD IMAGE_DIR", file=sys.stderr)
    sys.exit(2)
EMU, IMG = sys.argv[1], sys.argv[2]
BOOT_TIMEOUT = float(os.environ.get("GUEST_TIMEOUT", "900"))

CGI = ("#!/bin/sh\\n"
       "echo \"Content-Type: text/plain\"\\n"
       "echo\\n"
       "head -c \"$CONTENT_LENGTH\" | md5sum\\n")


def http(url, data=None, timeout=120):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def body(logdir):
    port = free_port()
    pcap = os.path.join(logdir, "net.pcap")
    net = ["-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:80",
           "-device", "e1000,netdev=n0",
           "-object", f"filter-dump,id=f0,netdev=n0,file={pcap}"]
    g = Guest(EMU, IMG, "user", net, logdir)
    try:
        t = g.boot(BOOT_TIMEOUT)
        log(f"dhcp_hostfwd: prompt after {t:.0f}s")
        _, dm = g.sh("dmesg | grep -i e1000")
        if "0000:00:03.0 eth0" not in dm or "52:54:00:12:34:56" not in dm:
            raise Fail(f"e1000 probe messages missing:\n{dm}")
        bring_up_eth0(g)
        _, dm = g.sh("sleep 1; dmesg | grep 'NIC Link is Up'", check=False)
        if "1000 Mbps Full Duplex" not in dm:
            raise Fail(f"no 'NIC Link is Up 1000 Mbps Full Duplex' in the kernel log:\n{dm}")
        ip, out = dhcp(g)
        if ip != "10.0.2.15":
            raise Fail(f"DHCP lease {ip}, expected 10.0.2.15:\n{out}")
        _, out = g.sh("ip -4 addr show eth0")
        if "10.0.2.15/24" not in out:
            raise Fail(f"eth0 not configured:\n{out}")
        log("dhcp_hostfwd: lease 10.0.2.15 obtained")
        # slirp answers ICMP echo for its gateway even with restrict=on.
        st, out = g.sh("ping -c 2 -W 3 10.0.2.2", timeout=30, check=False)
        log(f"dhcp_hostfwd: ping 10.0.2.2 -> {'ok' if st == 0 else 'no reply (slirp may not answer)'}")

        token = f"vessel-net-{os.getpid()}-{int(time.time())}"
        g.sh("mkdir -p /run/www/cgi-bin")
        g.sh(f"echo {token} > /run/www/index.html")
        g.sh(f"printf '{CGI}' > /run/www/cgi-bin/md5 && chmod +x /run/www/cgi-bin/md5")
        g.sh("dd if=/dev/urandom of=/run/www/big bs=1024 count=2048 2>/dev/null")
        _, out = g.sh("md5sum /run/www/big")
        guest_md5 = out.split()[0]
        g.sh("httpd -p 80 -h /run/www")

        got = http(f"http://127.0.0.1:{port}/index.html").decode().strip()
        if got != token:
            raise Fail(f"GET /index.html through hostfwd returned {got!r}, expected {token!r}")
        t0 = time.monotonic()
        big = http(f"http://127.0.0.1:{port}/big")
        dt = time.monotonic() - t0
        if len(big) != 2048 * 1024 or hashlib.md5(big).hexdigest() != guest_md5:
            raise Fail(f"GET /big: {len(big)} bytes, md5 {hashlib.md5(big).hexdigest()} != guest {guest_md5}")
        log(f"dhcp_hostfwd: 2 MiB guest->host ok ({2 / dt:.2f} MiB/s)")
        up = os.urandom(1024 * 1024)
        t0 = time.monotonic()
        ans = http(f"http://127.0.0.1:{port}/cgi-bin/md5", data=up).decode().split()
        dt = time.monotonic() - t0
        if not ans or ans[0] != hashlib.md5(up).hexdigest():
            raise Fail(f"POST 1 MiB: guest md5 {ans}, expected {hashlib.md5(up).hexdigest()}")
        log(f"dhcp_hostfwd: 1 MiB host->guest ok ({1 / dt:.2f} MiB/s)")

        _, out = g.sh("cat /sys/class/net/eth0/statistics/rx_packets /sys/class/net/eth0/statistics/tx_packets")
        rx, tx = (int(x) for x in out.split()[:2])
        if rx < 500 or tx < 500:
            raise Fail(f"eth0 counters too low: rx {rx} tx {tx}")
        _, out = g.sh("grep eth0 /proc/interrupts")
        irqs = sum(int(x) for x in out.split()[1:2] if x.isdigit())
        if irqs == 0:
            raise Fail(f"no eth0 interrupts:\n{out}")
        log(f"dhcp_hostfwd: eth0 rx {rx} tx {tx} packets, {irqs} interrupts")
        status = g.poweroff()
        if status != 0:
            raise Fail(f"exit status {status} after poweroff")
    except Fail:
        log(f"--- serial output (last 40 lines of {g.logpath}):\n{g.tail()}")
        raise
    finally:
        g.close()

    frames = read_pcap(pcap)
    dhcp_out = [f for f, _ in frames if ipv4_udp_ports(f) == (68, 67)]
    dhcp_in = [f for f, _ in frames if ipv4_udp_ports(f) == (67, 68)]
    http_f = [f for f, _ in frames if ipv4_tcp_ports(f) and 80 in ipv4_tcp_ports(f)]
    longest = max((orig for _, orig in frames), default=0)
    full = [f for f, o in frames if o == 1514 and ipv4_tcp_ports(f) and ipv4_tcp_ports(f)[0] == 80]
    if not dhcp_out or not dhcp_in:
        raise Fail(f"pcap: DHCP exchange missing ({len(dhcp_out)} requests, {len(dhcp_in)} replies)")
    if len(http_f) < 100:
        raise Fail(f"pcap: only {len(http_f)} TCP port 80 frames")
    if longest > 1514:
        raise Fail(f"pcap: a {longest}-byte frame (TSO not segmented?)")
    if not full:
        raise Fail("pcap: no full-sized (1514-byte) TCP segments from the guest")
    log(f"dhcp_hostfwd: pcap {len(frames)} frames, {len(dhcp_out)}+{len(dhcp_in)} DHCP, "
        f"{len(http_f)} HTTP, {len(full)} full-size segments")
    log("dhcp_hostfwd: ok")
    return True


run_main(body, "dhcp_hostfwd")
