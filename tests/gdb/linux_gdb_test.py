#!/usr/bin/env python3
"""linux_gdb_test.py - Debian's gdb against the default Linux guest (issue 8).

usage: tests/gdb/linux_gdb_test.py VESSEL IMAGE_DIR
  VESSEL     the emulator
  IMAGE_DIR  the scripts/build-guest.sh output (vmlinuz, initrd.img, disk.img,
             kernel.release, versions.txt, apt/)

1. scripts/fetch-kernel-dbg.sh IMAGE_DIR puts the kernel's real System.map
   there (from linux-image-KREL-dbg; downloaded once, then a no-op).
2. vessel boots the kernel with -kernel/-initrd/-append "... nokaslr",
   -S -gdb unix:SOCKET, the serial console on stdio (-nographic).
3. gdb -nx -batch -x linux_gdb_session.py: break at start_kernel, stepi x10
   checked against the disassembly, linux_banner, a write watchpoint on
   jiffies, hbreak on kernel_init, Ctrl-C, monitor info registers, detach
   (see that file).
4. The banner gdb read equals the "Linux version" line the kernel printed on
   its console; the guest reaches "vessel# " after the detach and answers
   `uname -r` (the release) and /proc/kallsyms (start_kernel where System.map
   says); `poweroff` ends the emulator with status 0.
Exits 0 on success, 1 on any failure (with the serial log's tail), 77 when
gdb is not installed.

environment:
  LGDB_TIMEOUT=240      seconds each gdb "continue" and the shell prompt may take
                        (gdb itself is killed after 3 * LGDB_TIMEOUT + 120)
  LGDB_LOG_DIR=DIR      keep the serial and gdb logs there
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ESC = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[78=>cM])")


class Fail(Exception):
    pass


class Console:
    """The emulator's stdio (serial console); a thread keeps draining it so
    that the guest never blocks on a full pipe while gdb holds the test."""

    def __init__(self, cmd, log):
        self.log = open(log, "wb")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, bufsize=0)
        self.cv = threading.Condition()
        self.buf = b""      # all output, escape sequences and CRs removed
        self.pos = 0
        self.eof = False
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        raw = b""
        while True:
            data = os.read(self.p.stdout.fileno(), 65536)
            with self.cv:
                if not data:
                    self.buf += ESC.sub(b"", raw).replace(b"\r", b"")
                    self.eof = True
                    self.cv.notify_all()
                    return
                self.log.write(data)
                self.log.flush()
                raw += data
                cut = raw.rfind(b"\x1b")
                if cut >= 0 and len(raw) - cut < 16:
                    done, raw = raw[:cut], raw[cut:]
                else:
                    done, raw = raw, b""
                self.buf += ESC.sub(b"", done).replace(b"\r", b"")
                self.cv.notify_all()

    def expect(self, pattern, timeout, what, start=None):
        rx = re.compile(pattern.encode())
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                m = rx.search(self.buf, self.pos if start is None else start)
                if m:
                    if start is None:
                        self.pos = m.end()
                    return m
                if self.eof:
                    raise Fail("the emulator ended (status %s) while waiting for %s" % (self.p.wait(), what))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Fail("timed out after %.0f s waiting for %s" % (timeout, what))
                self.cv.wait(min(left, 1.0))

    def send(self, line):
        for ch in (line + "\n").encode():     # a byte at a time for the UART
            self.p.stdin.write(bytes([ch]))
            self.p.stdin.flush()
            time.sleep(0.005)

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Fail("the emulator did not exit within %.0f s" % timeout)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        time.sleep(0.1)
        self.log.close()


def ok(what):
    print("ok   " + what, flush=True)


def main():
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    vessel, imgdir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not shutil.which("gdb"):
        print("SKIP: gdb is not installed")
        return 77
    timeout = float(os.environ.get("LGDB_TIMEOUT", "240"))
    logdir = os.environ.get("LGDB_LOG_DIR")
    keep = bool(logdir)
    logdir = logdir or tempfile.mkdtemp(prefix="linux_gdb.")
    os.makedirs(logdir, exist_ok=True)
    t_start = time.monotonic()

    for f in ("vmlinuz", "initrd.img", "disk.img", "kernel.release", "versions.txt"):
        if not os.path.isfile(os.path.join(imgdir, f)):
            print("FAIL: %s missing (run scripts/build-guest.sh first)" % os.path.join(imgdir, f))
            return 1
    krel = open(os.path.join(imgdir, "kernel.release")).read().strip()
    m = re.search(r"^kernel:\s+linux-image-\S+\s+(\S+)", open(os.path.join(imgdir, "versions.txt")).read(), re.M)
    if not m:
        print("FAIL: %s/versions.txt names no kernel version" % imgdir)
        return 1
    kver = m.group(1)

    # 1. The real System.map.
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-kernel-dbg.sh"), imgdir],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print("FAIL: scripts/fetch-kernel-dbg.sh %s: %s" % (imgdir, r.stderr.strip()))
        return 1
    sysmap = r.stdout.strip().splitlines()[-1]
    ok("System.map: %s (%s)" % (sysmap, r.stderr.strip().splitlines()[-1]))
    addr = {}
    for line in open(sysmap):
        p = line.split()
        if len(p) == 3 and p[2] in ("start_kernel",):
            addr[p[2]] = int(p[0], 16)

    # 2. The emulator, stopped before its first instruction.
    work = tempfile.mkdtemp(prefix="run.", dir=logdir)
    img = os.path.join(work, "disk.img")
    shutil.copyfile(os.path.join(imgdir, "disk.img"), img)
    sock = os.path.join(work, "gdb.sock")
    cmd = [vessel, "-M", "pc", "-cpu", "pentium2", "-m", "256", "-nographic", "-no-reboot",
           "-hda", img, "-kernel", os.path.join(imgdir, "vmlinuz"),
           "-initrd", os.path.join(imgdir, "initrd.img"),
           "-append", "root=/dev/sda2 console=ttyS0 nokaslr", "-S", "-gdb", "unix:" + sock]
    serial_log = os.path.join(logdir, "serial.log")
    gdb_log = os.path.join(logdir, "gdb.log")
    c = Console(cmd, serial_log)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if c.p.poll() is not None or time.monotonic() > deadline:
                raise Fail("vessel made no gdb socket %s (status %s)" % (sock, c.p.poll()))
            time.sleep(0.05)

        # 3. gdb.
        env = dict(os.environ, LGDB_TARGET=sock, LGDB_MAP=sysmap, LGDB_RELEASE=krel, LGDB_VERSION=kver,
                   LGDB_RESULT=os.path.join(work, "gdb.json"), LGDB_STEP_TIMEOUT=str(timeout))
        g = subprocess.Popen(["gdb", "-nx", "-batch", "-x", os.path.join(HERE, "linux_gdb_session.py")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=env, text=True)
        killer = threading.Timer(3 * timeout + 120, g.kill)   # the session interrupts itself first
        killer.start()
        with open(gdb_log, "w") as gl:
            for line in g.stdout:
                gl.write(line)
                if line.startswith(("ok ", "FAIL ", "     ", "LGDB ")):
                    print(line, end="", flush=True)
        st = g.wait()
        killer.cancel()
        lines = open(gdb_log).read()
        if "LGDB PASS" not in lines or st != 0:
            tail = "\n".join(l for l in lines.splitlines()[-15:] if not l.startswith(("ok ", "     ")))
            raise Fail("the gdb session failed (gdb status %d):\n%s" % (st, tail))
        res = json.load(open(os.path.join(work, "gdb.json")))
        # gdb's own report of the watchpoint (printed, not returned to python).
        old, new = res["jiffies"]
        if not re.search(r"^Hardware watchpoint \d+: \*\(unsigned int \*\)0x[0-9a-f]+\n\nOld value = %d\nNew value = %d$"
                         % (old, new), lines, re.M):
            raise Fail("gdb did not report jiffies' Old value = %d / New value = %d" % (old, new))
        ok("gdb reported the watchpoint: Old value = %d, New value = %d" % (old, new))
        t_gdb = time.monotonic() - t_start

        # 4. The banner gdb read is the one the kernel printed.
        m = c.expect(r"\[\s*\d+\.\d+\] (Linux version [^\n]*)\n", 10, "the kernel's banner on the console", start=0)
        console_banner = m.group(1).decode(errors="replace")
        if console_banner != res["banner"].rstrip("\n"):
            raise Fail("linux_banner read through gdb:\n  %r\ndiffers from the console's:\n  %r"
                       % (res["banner"], console_banner))
        ok("linux_banner read through gdb equals the console's banner line")

        # The guest, detached, reaches its shell and answers.
        c.expect(r"vessel guest ready", timeout, '"vessel guest ready"')
        c.expect(r"vessel# ", timeout, "the shell prompt after the detach")
        ok("the detached guest reached its shell prompt (%.0f s after start)" % (time.monotonic() - t_start))
        bad = re.search(rb"Kernel panic|BUG: |Oops|general protection|invalid opcode|alg: .*fail", c.buf)
        if bad:
            raise Fail("kernel log: %s" % bad.group(0).decode(errors="replace"))
        c.send("uname -r")
        m = c.expect(r"\n(\S+)\nvessel# ", 30, "the uname -r answer")
        if m.group(1).decode() != krel:
            raise Fail("uname -r answered %r, expected %r" % (m.group(1).decode(), krel))
        ok("uname -r: %s" % krel)
        c.send("grep ' start_kernel$' /proc/kallsyms")
        m = c.expect(r"\n([0-9a-f]{8}) T start_kernel\nvessel# ", 30, "start_kernel in /proc/kallsyms")
        if int(m.group(1), 16) != addr["start_kernel"]:
            raise Fail("/proc/kallsyms puts start_kernel at %s, System.map at %#x (KASLR on?)"
                       % (m.group(1).decode(), addr["start_kernel"]))
        ok("/proc/kallsyms: start_kernel at %s as in System.map" % m.group(1).decode())
        c.send("poweroff")
        st = c.wait_exit(60)
        if st != 0:
            raise Fail("the emulator exited with status %d after poweroff" % st)
        ok("poweroff: exit status 0")
        c.close()
        print("linux_gdb_test: PASS (gdb session %.0f s, total %.0f s; jiffies written by %s; Ctrl-C at %s)"
              % (t_gdb, time.monotonic() - t_start, res.get("jiffies_writer"), res.get("ctrl_c_eip")))
        if not keep:
            shutil.rmtree(logdir, ignore_errors=True)
        return 0
    except (Fail, OSError, ValueError, KeyError) as e:
        c.close()
        print("FAIL: linux_gdb_test: %s" % e)
        print("--- %s" % " ".join(cmd))
        print("--- serial output (last 30 lines of %s):" % serial_log)
        print("\n".join(open(serial_log, "rb").read().decode(errors="replace").splitlines()[-30:]))
        print("--- logs kept in %s" % logdir)
        return 1


if __name__ == "__main__":
    sys.exit(main())
