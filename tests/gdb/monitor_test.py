#!/usr/bin/env python3
"""monitor_test.py SOCKET_PATH - the monitor over a UNIX socket.

The emulator runs gdbguest.bin, started with
-S -monitor unix:SOCKET_PATH,server,nowait.  Checks the info commands,
x/xp, stepi, break/watch/delete, stop/cont, error messages, a second
client being turned away, and ends with quit (the emulator must exit 0,
checked by the caller).  Exits 0 when every check passed.
"""
import re
import socket
import sys
import time

failures = []
PROMPT = b"(vessel) "


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


class Mon:
    def __init__(self, path):
        deadline = time.time() + 15
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""

    def read_until(self, token, timeout=10):
        deadline = time.time() + timeout
        while token not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("waiting for %r, have %r" % (token, self.buf[-200:]))
            self.s.settimeout(left)
            d = self.s.recv(65536)
            if not d:
                raise EOFError("monitor closed (have %r)" % self.buf[-200:])
            self.buf += d
        i = self.buf.index(token) + len(token)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        out = self.read_until(PROMPT)
        return out[: -len(PROMPT)]


def main():
    path = sys.argv[1]
    m = Mon(path)
    banner = m.read_until(PROMPT)
    check("vessel monitor" in banner, "banner and prompt")

    check(m.cmd("info status").strip() == "VM status: paused", "-S: info status says paused")
    out = m.cmd("info registers")
    check("EIP=0000fff0" in out and "CS =f000 ffff0000" in out, "info registers at reset")
    # The physical map at reset (PAM: everything to the ROM): 16 MiB of RAM
    # around the VGA window, the 64 KiB BIOS image at the top of 4 GiB and
    # in the 128 KiB ROM window below 1 MiB, the APICs' MMIO pages.
    mt = m.cmd("info mtree").splitlines()
    for want in ("00000000-0009ffff ram @0x00000000", "000a0000-000bffff mmio vga-lowmem",
                 "000e0000-000fffff rom", "00100000-00ffffff ram @0x00100000",
                 "fec00000-fec00fff mmio ioapic", "fee00000-fee00fff mmio apic",
                 "ffff0000-ffffffff rom"):
        check(want in mt, "info mtree has '%s': %r" % (want, mt))
    out = m.cmd("info cpus")
    check("CPU #0" in out and "pc=0xfffffff0" in out, "info cpus: %s" % out.strip())
    out = m.cmd("stepi 3")
    check("EIP=00000002" in out, "stepi 3 -> EIP 2: %s" % out.strip())
    check(m.cmd("info tlb").strip() == "PG disabled", "info tlb before paging: PG disabled")
    out = m.cmd("xp/4xb 0xffff0")
    check(out.strip() == "000ffff0: 0xea 0x00 0x00 0x00", "xp/4xb 0xffff0: %s" % out.strip())
    out = m.cmd("x/5xb 0xfffffff0")
    check(out.strip() == "fffffff0: 0xea 0x00 0x00 0x00 0xf0", "x/5xb 0xfffffff0: %s" % out.strip())
    out = m.cmd("x/2xh 0xfffffff0")
    check(out.strip() == "fffffff0: 0x00ea 0x0000", "x/2xh 0xfffffff0: %s" % out.strip())

    # Breakpoint, then the monitor is told about the stop.
    check("breakpoint at 000f0200" in m.cmd("break 0xf0200"), "break 0xf0200")
    m.s.sendall(b"cont\n")
    m.read_until(PROMPT)
    note = m.read_until(PROMPT)
    check("stopped: breakpoint at 000f0200" in note, "cont runs to the breakpoint: %r" % note)
    check("EIP=000f0200" in m.cmd("info registers"), "EIP is 0xf0200")
    out = m.cmd("info breakpoints")
    check("breakpoint 000f0200 (monitor)" in out, "info breakpoints lists it")
    check("deleted" in m.cmd("delete 0xf0200"), "delete 0xf0200")
    check("no monitor breakpoint" in m.cmd("delete 0xf0200"), "deleting it twice says so")

    # Paging is on now: info tlb / info mem / unmapped reads.
    out = m.cmd("info tlb")
    check("00000000: 00000000" in out and "003ff000: 003ff000" in out and len(out.splitlines()) == 1024,
          "info tlb: 1024 identity-mapped pages")
    out = m.cmd("info mem")
    check(out.strip() == "00000000-00400000 00400000 -rw", "info mem: %s" % out.strip())
    out = m.cmd("xp/1xw 0x10000")
    pde = int(out.split()[-1], 16) if out.startswith("00010000: 0x") else 0
    check(pde & ~0x60 == 0x11003, "xp/1xw 0x10000 reads the PDE: %s" % out.strip())
    check("Cannot access memory" in m.cmd("x/1xw 0x800000"), "x of an unmapped address")
    out = m.cmd("x/3dw $esp-4")
    check(out.startswith("00006ffc:"), "x with a $reg expression: %s" % out.strip())
    out = m.cmd("x/4c 0xf0400")
    check(out.startswith("000f0400: '\\xff'"), "x/4c: %s" % out.strip())

    # Watchpoint.
    check("write watchpoint at 00002000 len 4" in m.cmd("watch 0x2000 4"), "watch 0x2000 4")
    m.s.sendall(b"cont\n")
    m.read_until(PROMPT)
    note = m.read_until(PROMPT)
    check("write watchpoint hit at 00002000" in note, "the watchpoint stops the guest: %r" % note)
    check("0x00000001" in m.cmd("x/1xw 0x2000"), "COUNTER is 1")
    check("deleted all" in m.cmd("delete all"), "delete all")
    check("no breakpoints" in m.cmd("info breakpoints"), "nothing left")

    # Other info topics.
    check(len(m.cmd("info pic").strip()) > 0, "info pic prints something")
    check("00:00.0" in m.cmd("info pci") or "Bus" in m.cmd("info pci"), "info pci lists devices")

    # stop / cont while running.
    m.cmd("cont")
    time.sleep(0.2)
    check(m.cmd("info status").strip() == "VM status: running", "cont: running")
    m.cmd("stop")
    time.sleep(0.2)
    check(m.cmd("info status").strip() == "VM status: paused", "stop: paused")
    out = m.cmd("info registers")
    eip = int(re.search(r"EIP=([0-9a-f]{8})", out).group(1), 16)
    check(0xF0400 <= eip < 0xF0420, "stopped in the spin loop (EIP %x)" % eip)

    # Errors.
    check("unknown command" in m.cmd("frobnicate"), "unknown command")
    check("not supported" in m.cmd("x/4i $eip"), "x/i is refused with a message")
    check("invalid format" in m.cmd("x/4q 0"), "a bad format letter")
    check("expected an address" in m.cmd("x/4x $nosuchreg"), "a bad register name")
    check("unknown topic" in m.cmd("info nothing"), "info with an unknown topic")
    check("watch: LEN" in m.cmd("watch 0x2000 100"), "watch with a bad length")
    check("stepi: N" in m.cmd("stepi 0"), "stepi 0")
    long_line = "x" * 10000
    check("too long" in m.cmd(long_line), "an overlong line")
    check("info registers" in m.cmd("help"), "help")

    # A second client is turned away; the first keeps working.
    m2 = Mon(path)
    try:
        msg = m2.read_until(b"\n", timeout=5)
    except EOFError as e:
        msg = str(e)
    check("already in use" in msg, "a second monitor client is refused: %s" % msg.strip())
    check("paused" in m.cmd("info status"), "the first client still works")

    m.s.sendall(b"quit\n")
    try:
        m.read_until(b"never", timeout=10)
    except EOFError:
        check(True, "quit closes the monitor")
    except Exception as e:
        check(False, "quit closes the monitor (%s)" % e)
    print("MONITOR %s" % ("PASS" if not failures else "FAIL (%d)" % len(failures)), flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
