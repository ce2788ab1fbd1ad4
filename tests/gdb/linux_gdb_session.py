# linux_gdb_session.py - Debian's gdb against the default Linux guest, run by
# linux_gdb_test.py inside gdb:
#   LGDB_TARGET=SOCKET LGDB_MAP=System.map LGDB_RELEASE=6.1.0-50-686 \
#   LGDB_VERSION=6.1.176-1 LGDB_RESULT=out.json gdb -nx -batch -x linux_gdb_session.py
# The emulator must have been started with -S -gdb ... and the kernel with
# nokaslr, so that System.map's addresses are the running kernel's.
#
# Steps (each one asserted; one "ok"/"FAIL" line per check):
#   1. stopped at the reset vector before the first instruction
#   2. break *start_kernel (Z0), continue: a breakpoint stop exactly there
#   3. stepi x10: after each step EIP is what the disassembly says (next
#      instruction for straight-line code, the target for direct calls and
#      jumps, the taken/not-taken side of a Jcc by EFLAGS, the return address
#      for ret, the register/memory operand for indirect ones); a call pushes
#      its return address, ret pops it, push stores the register
#   4. linux_banner read from memory names the kernel release and version
#   5. watch *(u32 *)&jiffies (Z2): the stop is the hardware watchpoint, the
#      value changed by a few ticks, EIP is in kernel text
#   6. hbreak *kernel_init (Z1): a hardware-breakpoint stop there, entered
#      from ret_from_fork
#   7. Ctrl-C (SIGINT to gdb while "continue" runs): a SIGINT stop, and the
#      guest really ran in between (jiffies advanced)
#   8. monitor info registers shows the same EIP; detach
# Writes LGDB_RESULT (JSON: the banner, stop places) for the driver, and ends
# with "LGDB PASS" or "LGDB FAIL (n)".  A continue that does not stop within
# LGDB_STEP_TIMEOUT seconds (default 240) is interrupted and fails.
import json
import os
import re
import signal
import struct
import threading
import time

import gdb

failures = []
result = {}


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def reg(name):
    return int(gdb.parse_and_eval("$" + name)) & 0xFFFFFFFF


def read(addr, n):
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def u32(addr):
    return struct.unpack("<I", read(addr, 4))[0]


def finish(code=None):
    result["failures"] = failures
    with open(os.environ["LGDB_RESULT"], "w") as f:
        json.dump(result, f, indent=1)
    print("LGDB %s" % ("PASS" if not failures else "FAIL (%d)" % len(failures)), flush=True)
    if code is not None:
        # Leave the guest running for the driver's post-mortem of the console.
        try:
            run("detach")
        except gdb.error:
            pass
        gdb.execute("quit %d" % code)


# ----------------------------------------------------------------- symbols
release = os.environ["LGDB_RELEASE"]
version = os.environ["LGDB_VERSION"]
step_timeout = float(os.environ.get("LGDB_STEP_TIMEOUT", "240"))
syms, by_name = [], {}
with open(os.environ["LGDB_MAP"]) as f:
    for line in f:
        parts = line.split()
        if len(parts) == 3:
            a = int(parts[0], 16)
            by_name.setdefault(parts[2], a)
            if parts[1] in "tTwW":
                syms.append((a, parts[2]))
syms.sort()
text_lo, text_hi = by_name["_text"], by_name["_etext"]
init_lo, init_hi = by_name.get("_sinittext", 0), by_name.get("_einittext", 0)


def sym(addr):
    """addr as symbol+offset from System.map (text symbols only)."""
    lo, hi = 0, len(syms)
    while lo < hi:
        mid = (lo + hi) // 2
        if syms[mid][0] <= addr:
            lo = mid + 1
        else:
            hi = mid
    if lo == 0:
        return "%#x" % addr
    a, n = syms[lo - 1]
    return "%s+%#x" % (n, addr - a)


def in_kernel_text(addr):
    return text_lo <= addr < text_hi or init_lo <= addr < init_hi


for name in ("start_kernel", "linux_banner", "jiffies", "kernel_init", "ret_from_fork"):
    if not check(name in by_name, "System.map has %s" % name):
        finish(1)
START, BANNER, JIFFIES, KINIT = (by_name[n] for n in ("start_kernel", "linux_banner", "jiffies", "kernel_init"))

# ------------------------------------------------------------- stop events
last_stop = []
gdb.events.stop.connect(lambda ev: last_stop.__setitem__(slice(None), [ev]))


def stop_signal():
    ev = last_stop[0] if last_stop else None
    return ev.stop_signal if isinstance(ev, gdb.SignalEvent) else None


def stop_bp_type():
    ev = last_stop[0] if last_stop else None
    if isinstance(ev, gdb.BreakpointEvent):
        return ev.breakpoint.type
    return None


def interrupt_after(seconds):
    """SIGINT to ourselves (= Ctrl-C in gdb) after seconds unless cancelled."""
    ev = threading.Event()

    def body():
        if not ev.wait(seconds):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=body, daemon=True).start()
    return ev


def cont(what):
    """continue until a stop; a stop by our watchdog's SIGINT is a failure."""
    last_stop[:] = []
    guard = interrupt_after(step_timeout)
    t0 = time.monotonic()
    out = run("continue")
    guard.set()
    if stop_signal() == "SIGINT" and time.monotonic() - t0 >= step_timeout - 1:
        check(False, "%s within %.0f s (interrupted at %s)" % (what, step_timeout, sym(reg("eip"))))
        finish(1)
    return out, time.monotonic() - t0


# ------------------------------------------------------ 3: branch decoding
CC = {
    "o": lambda f, c: f >> 11 & 1, "no": lambda f, c: not f >> 11 & 1,
    "b": lambda f, c: f & 1, "c": lambda f, c: f & 1, "nae": lambda f, c: f & 1,
    "ae": lambda f, c: not f & 1, "nb": lambda f, c: not f & 1, "nc": lambda f, c: not f & 1,
    "e": lambda f, c: f >> 6 & 1, "z": lambda f, c: f >> 6 & 1,
    "ne": lambda f, c: not f >> 6 & 1, "nz": lambda f, c: not f >> 6 & 1,
    "be": lambda f, c: f & 1 or f >> 6 & 1, "na": lambda f, c: f & 1 or f >> 6 & 1,
    "a": lambda f, c: not (f & 1 or f >> 6 & 1), "nbe": lambda f, c: not (f & 1 or f >> 6 & 1),
    "s": lambda f, c: f >> 7 & 1, "ns": lambda f, c: not f >> 7 & 1,
    "p": lambda f, c: f >> 2 & 1, "pe": lambda f, c: f >> 2 & 1,
    "np": lambda f, c: not f >> 2 & 1, "po": lambda f, c: not f >> 2 & 1,
    "l": lambda f, c: (f >> 7 & 1) != (f >> 11 & 1), "nge": lambda f, c: (f >> 7 & 1) != (f >> 11 & 1),
    "ge": lambda f, c: (f >> 7 & 1) == (f >> 11 & 1), "nl": lambda f, c: (f >> 7 & 1) == (f >> 11 & 1),
    "le": lambda f, c: f >> 6 & 1 or (f >> 7 & 1) != (f >> 11 & 1),
    "ng": lambda f, c: f >> 6 & 1 or (f >> 7 & 1) != (f >> 11 & 1),
    "g": lambda f, c: not (f >> 6 & 1 or (f >> 7 & 1) != (f >> 11 & 1)),
    "nle": lambda f, c: not (f >> 6 & 1 or (f >> 7 & 1) != (f >> 11 & 1)),
}
REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


def operand_value(op):
    """Value of an AT&T operand (after '*'): %reg or seg:disp(base,index,scale)."""
    op = re.sub(r"^%[cdefgs]s:", "", op.strip())   # flat kernel segments
    m = re.fullmatch(r"%(\w+)", op)
    if m:
        return reg(m.group(1))
    m = re.fullmatch(r"(-?0x[0-9a-f]+|-?\d+)?(?:\((%\w+)?(?:,(%\w+)(?:,(\d))?)?\))?", op)
    if not m:
        raise ValueError("operand %r" % op)
    ea = int(m.group(1), 0) if m.group(1) else 0
    if m.group(2):
        ea += reg(m.group(2)[1:])
    if m.group(3):
        ea += reg(m.group(3)[1:]) * int(m.group(4) or 1)
    return u32(ea & 0xFFFFFFFF)


def expected_next(pc, asm, length):
    """(next EIP, kind) for the instruction at pc, from its disassembly."""
    fall = (pc + length) & 0xFFFFFFFF
    words = asm.split(None, 1)
    mnem, ops = words[0], (words[1] if len(words) > 1 else "")
    while mnem in ("lock", "rep", "repz", "repnz", "repe", "repne", "data16", "addr16", "notrack", "bnd", "ds", "cs"):
        words = ops.split(None, 1)
        if not words:
            break
        mnem, ops = words[0], (words[1] if len(words) > 1 else "")
    ops = ops.split("<")[0].split("#")[0].strip()
    flags, ecx = reg("eflags"), reg("ecx")
    target = None
    if re.fullmatch(r"0x[0-9a-f]+", ops):
        target = int(ops, 16)
    if mnem in ("call", "calll", "jmp", "jmpl"):
        if target is not None:
            return target, mnem
        if ops.startswith("*"):
            return operand_value(ops[1:]), mnem + " indirect"
        raise ValueError("far or odd %s %s" % (mnem, ops))
    if mnem in ("ret", "retl"):
        return u32(reg("esp")), "ret"
    if mnem in ("jecxz", "jcxz"):
        return (target if ecx == 0 else fall), mnem
    if mnem in ("loop", "loope", "loopne", "loopz", "loopnz"):
        n = (ecx - 1) & 0xFFFFFFFF
        zf = flags >> 6 & 1
        taken = n != 0 and (mnem == "loop" or (zf if mnem in ("loope", "loopz") else not zf))
        return (target if taken else fall), mnem
    if mnem[0] == "j" and mnem[1:] in CC:
        return (target if CC[mnem[1:]](flags, ecx) else fall), "j" + mnem[1:]
    if mnem in ("int", "int3", "into", "iret", "iretl", "lret", "ljmp", "lcall", "sysenter", "sysexit",
                "syscall", "hlt", "ud2", "int1", "icebp"):
        raise ValueError("cannot predict %s" % mnem)
    return fall, "straight"


# ====================================================================== run
run("set confirm off")
run("set pagination off")
run("set width 0")
try:
    run("target remote " + os.environ["LGDB_TARGET"])
except gdb.error as e:
    check(False, "target remote %s: %s" % (os.environ["LGDB_TARGET"], e))
    finish(1)

# 1. Reset.
check(reg("eip") == 0xFFF0 and reg("cs") == 0xF000,
      "-S: stopped at the reset vector (CS:EIP %04x:%08x)" % (reg("cs"), reg("eip")))

# 2. start_kernel.
out = run("break *%#x" % START)
check("Breakpoint 1 at %#x" % START in out, "break *start_kernel (%#x): %s" % (START, out.strip()))
out, dt = cont("the start_kernel breakpoint")
check(stop_bp_type() == gdb.BP_BREAKPOINT and reg("eip") == START,
      "continue stops at start_kernel (EIP %s, %s, after %.1f s)" % (sym(reg("eip")), stop_bp_type(), dt))
check(reg("cs") == 0x60, "kernel CS is __KERNEL_CS 0x60 (got %#x)" % reg("cs"))
check(not reg("eflags") >> 9 & 1, "interrupts are still off at start_kernel (EFLAGS %#x)" % reg("eflags"))
run("delete")
result["start_kernel"] = START

# 3. stepi x10, each checked against the disassembly.
arch = gdb.selected_frame().architecture()
steps = []
for i in range(10):
    pc = reg("eip")
    insn = arch.disassemble(pc)[0]
    asm, length = insn["asm"], insn["length"]
    xi = run("x/i $pc")
    check(("%#x" % pc) in xi and asm.split()[0] in xi, "x/i $pc shows the instruction at %#x" % pc)
    try:
        want, kind = expected_next(pc, asm, length)
    except (ValueError, gdb.error) as e:
        check(False, "stepi %d at %s: %s: %s" % (i + 1, sym(pc), asm, e))
        break
    esp, mnem = reg("esp"), asm.split()[0]
    pushed = None
    m = re.fullmatch(r"push\s+%(\w+)", asm.strip())
    if m and m.group(1) in REGS:
        pushed = reg(m.group(1))
    run("stepi")
    got = reg("eip")
    steps.append("%s: %s -> %s" % (sym(pc), asm, sym(got)))
    check(got == want, "stepi %2d: %#x %-28s (%d bytes, %s) -> EIP %#x, expected %#x (%s)"
          % (i + 1, pc, asm, length, kind, got, want, sym(got)))
    if mnem.startswith("call"):
        check(reg("esp") == esp - 4 and u32(reg("esp")) == pc + length,
              "   the call pushed its return address %#x" % (pc + length))
    elif mnem.startswith("ret"):
        check(reg("esp") == esp + 4, "   ret popped the return address (ESP %#x -> %#x)" % (esp, reg("esp")))
    elif pushed is not None:
        check(reg("esp") == esp - 4 and u32(reg("esp")) == pushed,
              "   %s stored %#x at the new ESP" % (asm.strip(), pushed))
result["steps"] = steps

# 4. linux_banner.
raw = read(BANNER, 512)
banner = raw.split(b"\0", 1)[0].decode(errors="replace")
result["banner"] = banner
check(banner.startswith("Linux version %s (" % release),
      "linux_banner at %#x names release %s: %r" % (BANNER, release, banner[:60]))
check(" Debian %s " % version in banner and banner.endswith("\n"),
      "linux_banner names the package version %s" % version)

# 5. A write watchpoint on jiffies (the low 32 bits of jiffies_64).
before = u32(JIFFIES)
out = run("watch *(unsigned int *)%#x" % JIFFIES)
check("Hardware watchpoint" in out, "watch jiffies is a hardware watchpoint: %s" % out.strip())
out, dt = cont("the jiffies watchpoint")
after, eip = u32(JIFFIES), reg("eip")
check(stop_bp_type() == gdb.BP_HARDWARE_WATCHPOINT,
      "the stop is the jiffies watchpoint (%s, after %.1f s)" % (stop_bp_type(), dt))
delta = (after - before) & 0xFFFFFFFF
check(1 <= delta <= 1000, "jiffies changed: %#x -> %#x (+%d)" % (before, after, delta))
result["jiffies"] = [before, after]   # the driver finds gdb's "Old value/New value" report in its log
check(in_kernel_text(eip), "the writer is kernel code: EIP %#x = %s" % (eip, sym(eip)))
result["jiffies_writer"] = sym(eip)
run("delete")

# 6. A hardware breakpoint on a function the kernel calls later: kernel_init,
#    the body of pid 1, entered from ret_from_fork once rest_init forks it.
out = run("hbreak *%#x" % KINIT)
check("Hardware assisted breakpoint" in out, "hbreak *kernel_init: %s" % out.strip())
out, dt = cont("the kernel_init hardware breakpoint")
eip = reg("eip")
check(stop_bp_type() == gdb.BP_HARDWARE_BREAKPOINT and eip == KINIT,
      "continue stops at kernel_init (EIP %s, %s, after %.1f s)" % (sym(eip), stop_bp_type(), dt))
ra = u32(reg("esp"))
check(sym(ra).startswith("ret_from_fork+"), "kernel_init was called from %s" % sym(ra))
run("delete")

# 7. Ctrl-C while the guest runs.
j0 = u32(JIFFIES)
last_stop[:] = []
guard = interrupt_after(3.0)
t0 = time.monotonic()
run("continue")
dt = time.monotonic() - t0
guard.set()
eip = reg("eip")
check(stop_signal() == "SIGINT", "Ctrl-C stops the running guest with SIGINT (%s after %.1f s)" % (stop_signal(), dt))
check(2.5 <= dt < 30, "the stop came from the Ctrl-C, not before it (%.1f s)" % dt)
check((u32(JIFFIES) - j0) & 0xFFFFFFFF > 0, "the guest ran until then (jiffies +%d)" % ((u32(JIFFIES) - j0) & 0xFFFFFFFF))
try:
    insn = arch.disassemble(eip)[0]["asm"]
except gdb.error as e:
    insn = "(unreadable: %s)" % e
result["ctrl_c_eip"] = "%#x %s: %s" % (eip, sym(eip) if eip >= 0xC0000000 else "user", insn)
print("     interrupted at %s" % result["ctrl_c_eip"], flush=True)

# 8. The monitor through gdb, then detach.
out = run("monitor info registers")
check("EIP=%08x" % eip in out, "monitor info registers shows EIP=%08x" % eip)
out = run("info breakpoints")
check("No breakpoints" in out, "no breakpoints or watchpoints left")
out = run("detach")
check("Detaching" in out or "detached" in out.lower() or out == "", "detach: %s" % out.strip())
finish()
