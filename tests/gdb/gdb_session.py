# gdb_session.py - a gdb session against the guest of gdbguest.asm, run by
# gdb_test.sh inside Debian's gdb:
#   GDBTEST_PORT=HOST:PORT GDBTEST_BIN=guest.bin gdb -nx -batch -x gdb_session.py
# The emulator must have been started with -S -gdb ... -bios guest.bin.
# Prints one "ok"/"FAIL" line per check and "GDBTEST PASS" or
# "GDBTEST FAIL (n)" at the end; leaves the guest running to its exit
# (it writes GO and detaches).
import os
import signal
import struct
import threading
import time

import gdb

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def reg(name):
    return int(gdb.parse_and_eval("$" + name)) & 0xFFFFFFFF


def word(addr):
    return int(gdb.parse_and_eval("*(unsigned int *)%#x" % addr)) & 0xFFFFFFFF


COUNTER, SPIN, GO = 0x2000, 0x3000, 0x4000

# The last stop event (continue's own output goes to the terminal).
last_stop = []


def on_stop(ev):
    last_stop[:] = [ev]


gdb.events.stop.connect(on_stop)


def stop_signal():
    ev = last_stop[0] if last_stop else None
    return ev.stop_signal if isinstance(ev, gdb.SignalEvent) else None


run("set confirm off")
run("set pagination off")
run("target remote " + os.environ["GDBTEST_PORT"])

# 1. The reset state.
check(reg("eip") == 0xFFF0, "EIP is 0xfff0 at reset (got %#x)" % reg("eip"))
check(reg("cs") == 0xF000, "CS is 0xf000 at reset (got %#x)" % reg("cs"))
out = run("info registers")
check(any(l.split()[:2] == ["eip", "0xfff0"] for l in out.splitlines()), "info registers: eip 0xfff0")
check(any(l.split()[:2] == ["cs", "0xf000"] for l in out.splitlines()), "info registers: cs 0xf000")

# 2. Ten single steps follow the program's layout (offsets in gdbguest.asm).
expect = [0x00, 0x01, 0x02, 0x05, 0x07, 0x09, 0x0D, 0x11, 0x14, 0x1A]
got = []
for _ in expect:
    run("stepi")
    got.append(reg("eip"))
check(got == expect, "stepi x10: EIP %s" % " ".join("%x" % e for e in got))
check(reg("ebx") == 0x12345678, "after the steps EBX = 0x12345678 (got %#x)" % reg("ebx"))
check(reg("ecx") == 0, "the 11th instruction (mov ecx) has not run yet")

# 3. Memory: the reset vector as the image holds it.
image = open(os.environ["GDBTEST_BIN"], "rb").read()
want = list(struct.unpack("<4I", image[0xFFF0:0x10000]))
out = run("x/4xw 0xffff0")
vals = [int(v, 16) for v in out.split(":", 1)[1].split()]
check(vals == want, "x/4xw 0xffff0 = %s" % " ".join("%08x" % v for v in vals))

# 4. Register writes (P/G) reach the CPU.
run("set $edx = 0x55aa1234")
run("maintenance flush register-cache")
check(reg("edx") == 0x55AA1234, "set $edx takes effect")

# 5. A software breakpoint in the 32-bit code (paging on by then).
run("break *0xf0200")
out = run("continue")
check(reg("eip") == 0xF0200, "break *0xf0200 / continue stops there (EIP %#x)" % reg("eip"))
check(word(COUNTER) == 0, "COUNTER is 0 at the first breakpoint hit")
run("delete")

# 6. A write watchpoint on the counter: stops right after the inc.
out = run("watch *(int *)%#x" % COUNTER)
check("Hardware watchpoint" in out, "watch uses a hardware (Z2) watchpoint")
out = run("continue")
ev = last_stop[0] if last_stop else None
check(isinstance(ev, gdb.BreakpointEvent) and ev.breakpoint.type == gdb.BP_HARDWARE_WATCHPOINT,
      "the stop is reported as the hardware watchpoint")
check(word(COUNTER) == 1, "COUNTER is 1 at the watchpoint stop")
check(reg("eip") == 0xF0206, "stopped after the writing instruction (EIP %#x)" % reg("eip"))
run("delete")

# 7. A hardware breakpoint.
run("hbreak *0xf0300")
out = run("continue")
check(reg("eip") == 0xF0300, "hbreak *0xf0300 stops there (EIP %#x)" % reg("eip"))
check(word(COUNTER) == 100, "the count loop finished (COUNTER %d)" % word(COUNTER))
run("delete")

# 8. Unmapped memory (paging maps only 0..4 MiB).
try:
    run("x/1xw 0x800000")
    check(False, "reading unmapped 0x800000 fails")
except gdb.MemoryError:
    check(True, "reading unmapped 0x800000 fails")
except gdb.error as e:
    check("Cannot access memory" in str(e), "reading unmapped 0x800000 fails (%s)" % e)

# 9. Ctrl-C: the guest spins until GO is set; interrupt it after a while.
def interrupter():
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGINT)


t = threading.Thread(target=interrupter)
t.start()
out = run("continue")
t.join()
check(stop_signal() == "SIGINT", "Ctrl-C stops the running guest with SIGINT (%s)" % stop_signal())
eip = reg("eip")
check(0xF0400 <= eip < 0xF0420, "stopped in the spin loop (EIP %#x)" % eip)
check(word(SPIN) > 0, "the spin loop ran (SPIN %d)" % word(SPIN))

# 10. Monitor commands through gdb (qRcmd).
out = run("monitor info registers")
check("EIP=%08x" % eip in out, "monitor info registers shows EIP=%08x" % eip)
out = run("monitor x/2xw 0x%x" % COUNTER)
check("0x00000064" in out, "monitor x/2xw reads COUNTER = 100")

# 11. Release the guest and detach: it runs to its exit.
run("set *(unsigned char *)%#x = 1" % GO)
run("detach")

print("GDBTEST %s" % ("PASS" if not failures else "FAIL (%d)" % len(failures)), flush=True)
