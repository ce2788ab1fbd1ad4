#!/bin/sh
# Boots the default guest (scripts/build-guest.sh) and drives its serial
# console non-interactively, twice:
#   disk:   -hda disk.img (SeaBIOS -> SYSLINUX -> kernel + initramfs -> root)
#   kernel: -kernel vmlinuz -initrd initrd.img -append "root=/dev/sda2 console=ttyS0"
# Each boot must show the kernel log (ata_piix with bus-master DMA), no crypto
# self-test failure, "vessel guest ready" and the "vessel# " prompt; then
# `uname -r` must answer the kernel release, the IDE disk must run in a DMA
# mode, a file written and synced must read back from the image afterwards
# (debugfs on partition 2), and `poweroff` must end the emulator with status 0.
#
# usage: tests/boot/qemu_guest.sh EMULATOR_CMD IMAGE_DIR
#   EMULATOR_CMD  e.g. qemu-system-i386, or "build/vessel" (split on spaces;
#                 it must accept QEMU's -M/-cpu/-m/-nographic/-hda/-kernel flags)
#   IMAGE_DIR     the build-guest.sh output (disk.img, vmlinuz, initrd.img)
# environment:
#   GUEST_MODES="disk kernel"   which boots to run
#   GUEST_TIMEOUT=180           seconds allowed for each boot to reach the prompt
#   GUEST_EXTRA_ARGS=...        more emulator flags (split on spaces)
#   GUEST_LOG_DIR=DIR           keep the serial logs there (default: a temp dir,
#                               removed unless the test fails)
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 EMULATOR_CMD IMAGE_DIR" >&2
    exit 2
fi
SERIALCON_DIR="$(cd "$(dirname "$0")/../lib" && pwd)" exec python3 - "$1" "$2" <<'PYEOF'
import os, re, select, shlex, shutil, subprocess, sys, tempfile, time

emu, imgdir = shlex.split(sys.argv[1]), sys.argv[2]
modes = os.environ.get("GUEST_MODES", "disk kernel").split()
boot_timeout = float(os.environ.get("GUEST_TIMEOUT", "180"))
extra = shlex.split(os.environ.get("GUEST_EXTRA_ARGS", ""))
logdir = os.environ.get("GUEST_LOG_DIR")
keep = bool(logdir)
if not logdir:
    logdir = tempfile.mkdtemp(prefix="qemu_guest.")
os.makedirs(logdir, exist_ok=True)

def need(path):
    if not os.path.isfile(path):
        print(f"FAIL: {path} missing (run scripts/build-guest.sh first)")
        sys.exit(1)
disk = os.path.join(imgdir, "disk.img")
vmlinuz = os.path.join(imgdir, "vmlinuz")
initrd = os.path.join(imgdir, "initrd.img")
for p in (disk, vmlinuz, initrd):
    need(p)
krel = open(os.path.join(imgdir, "kernel.release")).read().strip()

sys.path.insert(0, os.environ["SERIALCON_DIR"])
from serialcon import EscapeStripper  # tests/lib: the console text filter

class Fail(Exception):
    pass

class Console:
    def __init__(self, cmd, log):
        self.log = open(log, "wb")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, bufsize=0)
        self.buf = b""      # all output, escape sequences removed
        self.pos = 0        # expect() searches from here
        self.esc = EscapeStripper()

    def _pump(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.p.stdout], [], [], min(left, 0.5))
        if r:
            data = os.read(self.p.stdout.fileno(), 65536)
            if not data:
                return None
            self.log.write(data); self.log.flush()
            self.buf += self.esc.feed(data)
        return True

    def expect(self, pattern, timeout, what):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m
            st = self._pump(deadline)
            if st is None:
                raise Fail(f"the emulator ended (status {self.p.wait()}) while waiting for {what}")
            if st is False:
                raise Fail(f"timed out after {timeout:.0f}s waiting for {what}")

    def send(self, line):
        # a byte at a time, so that a UART without a deep FIFO keeps up
        for ch in (line + "\n").encode():
            self.p.stdin.write(bytes([ch])); self.p.stdin.flush()
            time.sleep(0.005)

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.p.poll() is None:
            if self._pump(deadline) is False:
                raise Fail(f"the emulator did not exit within {timeout:.0f}s of poweroff")
        while self._pump(time.monotonic() + 0.2):
            pass
        return self.p.wait()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()

def partition2(img):
    out = subprocess.run(["sfdisk", "-d", img], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\S+2 : start=\s*(\d+), size=\s*(\d+)", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise Fail("no partition 2 in the image")

def debugfs_cat(img, path, work):
    start, size = partition2(img)
    part = os.path.join(work, "root.ext4")
    with open(img, "rb") as f, open(part, "wb") as o:
        f.seek(start * 512)
        o.write(f.read(size * 512))
    r = subprocess.run(["debugfs", "-R", f"cat {path}", part], capture_output=True)
    os.unlink(part)
    return r.stdout.decode(errors="replace")

def run(mode):
    work = tempfile.mkdtemp(prefix=f"guest-{mode}.", dir=logdir)
    img = os.path.join(work, "disk.img")
    shutil.copyfile(disk, img)
    cmd = emu + ["-M", "pc", "-cpu", "pentium2", "-m", "256", "-nographic", "-no-reboot", "-hda", img]
    if mode == "kernel":
        cmd += ["-kernel", vmlinuz, "-initrd", initrd, "-append", "root=/dev/sda2 console=ttyS0"]
    cmd += extra
    log = os.path.join(logdir, f"serial-{mode}.log")
    token = f"vessel-{mode}-{os.getpid()}-{int(time.time())}"
    t0 = time.monotonic()
    c = Console(cmd, log)
    try:
        deadline = t0 + boot_timeout
        left = lambda: max(1.0, deadline - time.monotonic())
        c.expect(r"SeaBIOS \(version", left(), "the SeaBIOS banner")
        if mode == "disk":
            c.expect(r"SYSLINUX \d", left(), "the SYSLINUX banner")
        c.expect(r"Linux version " + re.escape(krel), left(), "the kernel banner")
        c.expect(r"scsi host\d: ata_piix", left(), "ata_piix")
        c.expect(r"ata1: PATA max \w*DMA\d+ cmd 0x1f0 ctl 0x3f6 bmdma 0x", left(), "ata1 with bus-master DMA")
        c.expect(r"EXT4-fs \(sda2\): mounted", left(), "the root file system mounted")
        c.expect(r"vessel guest ready", left(), '"vessel guest ready"')
        c.expect(r"vessel# ", left(), "the shell prompt")
        t_boot = time.monotonic() - t0
        bad = re.search(rb"alg: .*(failed|fail)|Kernel panic|BUG: |Oops|general protection|invalid opcode",
                        c.buf)
        if bad:
            raise Fail(f"kernel log: {bad.group(0).decode(errors='replace')}")

        c.send("uname -r")
        m = c.expect(r"\n(\S+)\nvessel# ", 30, "the uname -r answer")
        if m.group(1).decode() != krel:
            raise Fail(f"uname -r answered {m.group(1).decode()!r}, expected {krel!r}")

        # The CPU the guest sees: an Intel family-6 CPU (vessel: Pentium II model 3;
        # QEMU's pentium2 says model 5) with an x87,
        # CMOV and CX8, as CPUID reports them.
        start = c.pos
        c.send("cat /proc/cpuinfo")
        m = c.expect(r"\nflags\s*:([^\n]*)\n[\s\S]*?vessel# ", 30, "/proc/cpuinfo")
        info = c.buf[start:m.end()].decode(errors="replace")
        for want in (r"vendor_id\s*: GenuineIntel", r"cpu family\s*: 6\s"):
            if not re.search(want, info):
                raise Fail(f"/proc/cpuinfo does not match {want!r}")
        flags = m.group(1).decode().split()
        for f in ("fpu", "tsc", "cx8", "cmov", "pge", "pse", "apic"):
            if f not in flags:
                raise Fail(f"/proc/cpuinfo flags lack {f!r}: {' '.join(flags)}")

        # The root file system is the IDE disk's ext4 partition.
        c.send("mount")
        m = c.expect(r"\n(/dev/sda2 on / type ext4[^\n]*)\n[\s\S]*?vessel# ", 30, "mount")

        c.send("cat /sys/class/ata_device/dev1.0/xfer_mode")
        m = c.expect(r"\n(\S+)\nvessel# ", 30, "the disk's transfer mode")
        xfer = m.group(1).decode()
        if "DMA" not in xfer:
            raise Fail(f"the disk runs in {xfer}, not a DMA mode")

        c.send(f"echo {token} >/root/probe.txt && sync && echo probe-$((6*7))")
        c.expect(r"\nprobe-42\nvessel# ", 30, "the probe file written")

        t1 = time.monotonic()
        c.send("poweroff")
        status = c.wait_exit(60)
        t_off = time.monotonic() - t1
        if status != 0:
            raise Fail(f"the emulator exited with status {status} after poweroff, expected 0")
        if b"reboot: Power down" not in c.buf[c.pos:]:
            raise Fail('no "reboot: Power down" from the kernel before the exit')
        c.close()

        got = debugfs_cat(img, "/root/probe.txt", work).strip()
        if got != token:
            raise Fail(f"/root/probe.txt in the image holds {got!r}, expected {token!r}")
        print(f"qemu_guest: {mode}: ok (prompt after {t_boot:.1f}s, {xfer}, poweroff in {t_off:.1f}s)")
        shutil.rmtree(work, ignore_errors=True)
        return True
    except (Fail, OSError, subprocess.CalledProcessError) as e:
        c.close()
        print(f"FAIL: qemu_guest: {mode}: {e}")
        print(f"--- {' '.join(shlex.quote(a) for a in cmd)}")
        print(f"--- serial output (last 40 lines of {log}):")
        lines = open(log, "rb").read().decode(errors="replace").splitlines()
        print("\n".join(lines[-40:]))
        return False

ok = [run(m) for m in modes]
if all(ok) and not keep:
    shutil.rmtree(logdir, ignore_errors=True)
print(f"{sum(ok)} passed, {len(ok) - sum(ok)} failed")
sys.exit(0 if all(ok) else 1)
PYEOF
