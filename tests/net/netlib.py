"""netlib.py - shared helpers of the network tests (tests/net/*.sh) and
bench/net_throughput.sh: boot the default guest (scripts/build-guest.sh) on
an emulator with extra network flags, drive its serial console, run shell
commands and read their output and exit status, find free loopback ports,
read pcap files.

The emulator command is QEMU's flag dialect ("qemu-system-i386" or
"build/vessel"); the guest needs the e1000 driver (guest/modules lists
"e1000", or the image has the module for modprobe).  All traffic stays on
this machine: slirp with restrict=on, loopback sockets, a TAP device in a
private network namespace.
"""
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from serialcon import Fail, SerialConsole  # noqa: E402  (shared console driver)
PROMPT = "vessel# "




def log(msg):
    print(msg, flush=True)


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def tcp_listening(port):
    """True if some socket listens on TCP port (reads /proc/net/tcp; does not
    connect, so a single-connection listener is left alone)."""
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


def image_paths(imgdir):
    paths = {k: os.path.join(imgdir, f) for k, f in
             (("disk", "disk.img"), ("kernel", "vmlinuz"), ("initrd", "initrd.img"))}
    for p in paths.values():
        if not os.path.isfile(p):
            raise Fail(f"{p} missing (run scripts/build-guest.sh first)")
    return paths


class Guest(SerialConsole):
    """One emulator process running the guest, driven through COM1."""

    def __init__(self, emu, imgdir, name, net_args, logdir, mem=256, mode=None, extra=None):
        self.name = name
        self.emu = shlex.split(emu) if isinstance(emu, str) else list(emu)
        mode = mode or os.environ.get("GUEST_NET_MODE", "kernel")
        p = image_paths(imgdir)
        self.cmd = self.emu + ["-M", "pc", "-cpu", "pentium2", "-m", str(mem), "-nographic",
                               "-no-reboot", "-snapshot", "-hda", p["disk"]]
        if mode == "kernel":
            self.cmd += ["-kernel", p["kernel"], "-initrd", p["initrd"],
                         "-append", "root=/dev/sda2 console=ttyS0"]
        self.cmd += list(net_args)
        self.cmd += shlex.split(os.environ.get("GUEST_EXTRA_ARGS", ""))
        if extra:
            self.cmd += list(extra)
        self.logpath = os.path.join(logdir, f"serial-{name}.log")
        self.log = open(self.logpath, "wb")
        self.p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, bufsize=0)
        self.console_init()
        self.fail_prefix = f"{self.name}: "
        self.seq = 0

    def boot(self, timeout):
        t0 = time.monotonic()
        self.expect(r"vessel guest ready", timeout, '"vessel guest ready"')
        self.expect(re.escape(PROMPT), max(30, timeout - (time.monotonic() - t0)), "the shell prompt")
        return time.monotonic() - t0

    def sh(self, cmd, timeout=60, check=True):
        """Run cmd in the guest shell; returns (status, output)."""
        self.seq += 1
        tag = f"RC{self.seq}Z"
        self.send(f"{cmd}; echo {tag}=$?=")
        # the status ends its line, or a kernel message (e.g. "NIC Link is
        # Up") lands on the console right behind it on the same line
        m = self.expect(rf"\n((?:.*\n)*?)(?:.*?){tag}=(\d+)=(?:\n|(?=\[ *\d+\.\d+\]))",
                        timeout, f"`{cmd}`")
        out = m.group(1).decode(errors="replace")
        # the echoed command line comes first
        lines = out.split("\n")
        if lines and tag in lines[0]:
            lines = lines[1:]
        out = "\n".join(lines)
        status = int(m.group(2))
        if check and status != 0:
            raise Fail(f"{self.name}: `{cmd}` exited with {status}:\n{out}")
        return status, out

    def poweroff(self, timeout=120):
        self.send("poweroff")
        deadline = time.monotonic() + timeout
        while self.p.poll() is None:
            if self.pump(deadline) is False:
                raise Fail(f"{self.name}: did not power off within {timeout}s")
        return self.p.wait()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()

    def tail(self, n=40):
        try:
            lines = open(self.logpath, "rb").read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def bring_up_eth0(g, timeout=60):
    """Load the driver if needed, set eth0 up, wait for the carrier."""
    st, _ = g.sh("[ -e /sys/class/net/eth0 ] || modprobe e1000 2>/dev/null; [ -e /sys/class/net/eth0 ]",
                 check=False)
    if st != 0:
        raise Fail(f"{g.name}: no eth0: the guest lacks the e1000 driver (add 'e1000' to guest/modules)")
    g.sh("ip link set eth0 up")
    g.sh("n=0; while [ \"$(cat /sys/class/net/eth0/carrier 2>/dev/null)\" != 1 ] && [ $n -lt %d ]; "
         "do sleep 1; n=$((n+1)); done; [ \"$(cat /sys/class/net/eth0/carrier)\" = 1 ]" % timeout,
         timeout=timeout + 30)


# A udhcpc script that configures the interface with busybox's ifconfig/route.
UDHCPC_SCRIPT = (
    "#!/bin/sh\\n"
    "case \"$1\" in\\n"
    "deconfig) ifconfig $interface 0.0.0.0 up ;;\\n"
    "bound|renew) ifconfig $interface $ip netmask ${subnet:-255.255.255.0} up;"
    " [ -n \"$router\" ] && route add default gw ${router%% *} dev $interface;"
    " echo \"udhcpc-script: $interface $ip/$subnet router $router dns $dns\" ;;\\n"
    "esac\\n"
    "exit 0\\n")


def dhcp(g, timeout=60):
    g.sh(f"printf '{UDHCPC_SCRIPT}' > /tmp/udhcpc.sh && chmod +x /tmp/udhcpc.sh")
    st, out = g.sh("udhcpc -i eth0 -s /tmp/udhcpc.sh -n -q -t 10 -T 2", timeout=timeout)
    m = re.search(r"udhcpc-script: eth0 (\d+\.\d+\.\d+\.\d+)", out)
    if not m:
        raise Fail(f"{g.name}: udhcpc got no lease:\n{out}")
    return m.group(1), out


def read_pcap(path):
    """Frames of a pcap file as a list of bytes (little-endian pcap, as both
    vessel and QEMU write it on x86)."""
    data = open(path, "rb").read()
    if len(data) < 24:
        raise Fail(f"{path}: too short for a pcap file")
    magic = struct.unpack("<I", data[:4])[0]
    if magic != 0xA1B2C3D4:
        raise Fail(f"{path}: bad pcap magic {magic:#x}")
    linktype = struct.unpack("<I", data[20:24])[0]
    if linktype != 1:
        raise Fail(f"{path}: link type {linktype}, expected 1 (Ethernet)")
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        frames.append((data[off:off + incl], orig))
        off += incl
    return frames


def ipv4_udp_ports(frame):
    """(src port, dst port) of an IPv4/UDP Ethernet frame, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:
        return None
    ihl = (frame[14] & 15) * 4
    return struct.unpack(">HH", frame[14 + ihl:14 + ihl + 4])


def ipv4_tcp_ports(frame):
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    return struct.unpack(">HH", frame[14 + ihl:14 + ihl + 4])


def run_main(body, name):
    """Run body(logdir) -> True/False with the usual reporting; exits."""
    logdir = os.environ.get("GUEST_LOG_DIR")
    keep = bool(logdir)
    if not logdir:
        logdir = tempfile.mkdtemp(prefix=f"{name}.")
    os.makedirs(logdir, exist_ok=True)
    ok = False
    try:
        ok = body(logdir)
    except Fail as e:
        log(f"FAIL: {name}: {e}")
    if ok and not keep:
        subprocess.run(["rm", "-rf", logdir])
    elif not ok:
        log(f"--- logs kept in {logdir}")
    sys.exit(0 if ok else 1)


def deterministic_payload(size, seed=b"vessel-net-host-http"):
    """size bytes that depend only on seed (SHA-256 in counter mode)."""
    import hashlib
    out = bytearray()
    n = 0
    while len(out) < size:
        out += hashlib.sha256(seed + n.to_bytes(8, "little")).digest()
        n += 1
    return bytes(out[:size])


class HostHTTP:
    """A tiny HTTP/1.0 server on 127.0.0.1 (a thread) that serves one
    in-memory file at /NAME; the guest reaches it through slirp at
    10.0.2.2:PORT.  Use as a context manager; .port, .md5, .size, .hits."""

    def __init__(self, data, name="file"):
        import hashlib
        import http.server
        import threading
        self.data, self.name = data, name
        self.size = len(data)
        self.md5 = hashlib.md5(data).hexdigest()
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.lstrip("/") != outer.name:
                    self.send_error(404)
                    return
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(outer.size))
                self.end_headers()
                self.wfile.write(outer.data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def guest_fetch_md5(g, port, name="file", timeout=300):
    """The guest fetches http://10.0.2.2:PORT/NAME with busybox wget into
    /tmp/f; returns (md5 hex, size) as the guest computes them."""
    g.sh(f"rm -f /tmp/f; wget -q -O /tmp/f http://10.0.2.2:{port}/{name}", timeout=timeout)
    _, out = g.sh("md5sum /tmp/f; wc -c < /tmp/f")
    words = out.split()
    if len(words) < 3:
        raise Fail(f"{g.name}: md5sum/wc output unexpected:\n{out}")
    return words[0], int(words[2])


def host_fetch_main(emu, imgdir, size=3 << 19):
    """Scenario (dhcp_hostfwd.sh's second part): the test serves a
    deterministic SIZE-byte file from 127.0.0.1 on the host; the guest gets
    its lease from slirp, fetches the file through slirp at 10.0.2.2:PORT
    with busybox wget, and its md5sum must equal the known MD5.  slirp runs
    with restrict=off here (restrict=on drops every guest-initiated
    connection), but 10.0.2.2 is slirp's alias for the host's loopback, so
    the traffic still stays on 127.0.0.1."""
    boot_timeout = float(os.environ.get("GUEST_TIMEOUT", "900"))
    name = "host_fetch"

    def body(logdir):
        with HostHTTP(deterministic_payload(size)) as srv:
            net = ["-netdev", "user,id=n0,restrict=off", "-device", "e1000,netdev=n0"]
            g = Guest(emu, imgdir, "fetch", net, logdir)
            try:
                t = g.boot(boot_timeout)
                log(f"{name}: prompt after {t:.0f}s")
                bring_up_eth0(g)
                ip, out = dhcp(g)
                if ip != "10.0.2.15":
                    raise Fail(f"DHCP lease {ip}, expected 10.0.2.15:\n{out}")
                t0 = time.monotonic()
                md5, n = guest_fetch_md5(g, srv.port)
                dt = time.monotonic() - t0
                if n != srv.size or md5 != srv.md5:
                    raise Fail(f"guest fetched {n} bytes, md5 {md5}; host served {srv.size} bytes, md5 {srv.md5}")
                log(f"{name}: guest wget of {srv.size} bytes from 10.0.2.2:{srv.port} ok, "
                    f"md5 {md5} ({srv.size / 1048576 / dt:.2f} MiB/s incl. md5sum)")
                status = g.poweroff()
                if status != 0:
                    raise Fail(f"exit status {status} after poweroff")
            except Fail:
                log(f"--- serial output (last 40 lines of {g.logpath}):\n{g.tail()}")
                raise
            finally:
                g.close()
        log(f"{name}: ok")
        return True

    run_main(body, name)
