#!/bin/sh
# Boots the guest's CD-ROM image (scripts/build-iso.sh: ISOLINUX + the default
# guest's kernel and initramfs, kernel parameter `rdshell`) from the IDE
# CD-ROM with no disk, and drives the initramfs shell on the serial console:
# SeaBIOS El Torito boot -> ISOLINUX -> kernel -> initramfs shell; then the
# CD modules (cdrom, sr_mod, isofs) must be loaded (insmod'ed here if the
# initramfs did not), /dev/sr0 must appear and mount read-only as iso9660, the
# SHA-256 of /mnt/data.bin read in the guest must equal the one computed on
# the host at build time, and `poweroff -f` must end the emulator with status 0.
#
# usage: tests/boot/iso_boot.sh EMULATOR_CMD GUESTDIR
#   EMULATOR_CMD  e.g. "qemu-system-i386 -accel tcg", or build/vessel (split
#                 on spaces)
#   GUESTDIR      the build-guest.sh output; GUESTDIR/cd.iso is (re)built
#                 first by scripts/build-iso.sh (cached, no download)
# environment:
#   GUEST_TIMEOUT=180      seconds allowed to reach the initramfs shell
#   GUEST_EXTRA_ARGS=...   more emulator flags (split on spaces)
#   GUEST_LOG_DIR=DIR      keep the serial log there (default: a temp dir,
#                          removed unless the test fails)
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 EMULATOR_CMD GUESTDIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")/../.." && pwd)
if ! out=$(bash "$here/scripts/build-iso.sh" "$2" 2>&1); then
    echo "$out"
    echo "FAIL: iso_boot: scripts/build-iso.sh $2 failed"
    echo "0 passed, 1 failed"
    exit 1
fi
SERIALCON_DIR="$(cd "$(dirname "$0")/../lib" && pwd)" exec python3 - "$1" "$2" <<'PYEOF'
import os, re, select, shlex, shutil, subprocess, sys, tempfile, time

emu, imgdir = shlex.split(sys.argv[1]), sys.argv[2]
boot_timeout = float(os.environ.get("GUEST_TIMEOUT", "180"))
extra = shlex.split(os.environ.get("GUEST_EXTRA_ARGS", ""))
logdir = os.environ.get("GUEST_LOG_DIR")
keep = bool(logdir)
if not logdir:
    logdir = tempfile.mkdtemp(prefix="iso_boot.")
os.makedirs(logdir, exist_ok=True)

iso = os.path.join(imgdir, "cd.iso")
krel = open(os.path.join(imgdir, "kernel.release")).read().strip()
want = open(os.path.join(imgdir, "cd-data.sha256")).read().split()[0]

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

    def run(self, cmd, tag, timeout, what):
        """Runs cmd in the guest shell; returns its output (the lines between
        the echoed command and the end marker) and its exit status."""
        start = len(self.buf)
        self.send(f"{cmd}; echo \"@{tag}-$?-$((6*7))@\"")
        m = self.expect(rf"@{tag}-(\d+)-42@", timeout, what)
        out = self.buf[start:m.start()].decode(errors="replace")
        # drop the echoed command line (the terminal may have wrapped it)
        echo = list(re.finditer(r"\n?".join(re.escape(ch) for ch in '6*7))@"'), out))
        out = out[echo[-1].end():] if echo else out
        return out, int(m.group(1))

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

def main():
    cmd = emu + ["-M", "pc", "-cpu", "pentium2", "-m", "256", "-nographic", "-no-reboot",
                 "-cdrom", iso, "-boot", "d"] + extra
    log = os.path.join(logdir, "serial-cd.log")
    t0 = time.monotonic()
    c = Console(cmd, log)
    try:
        deadline = t0 + boot_timeout
        left = lambda: max(1.0, deadline - time.monotonic())
        c.expect(r"SeaBIOS \(version", left(), "the SeaBIOS banner")
        c.expect(r"ISOLINUX \d", left(), "the ISOLINUX banner")
        c.expect(r"Linux version " + re.escape(krel), left(), "the kernel banner")
        c.expect(r"Kernel command line: .*\brdshell\b", left(), "rdshell on the kernel command line")
        c.expect(r"initramfs: rdshell requested", left(), "the initramfs rdshell")
        c.expect(r"starting a rescue shell", left(), "the initramfs shell")
        # the shell answers (its prompt is busybox's default)
        c.run("echo up", "ready", left(), "the shell's first answer")
        t_boot = time.monotonic() - t0
        bad = re.search(rb"alg: .*(failed|fail)|Kernel panic|BUG: |Oops|general protection|invalid opcode",
                        c.buf)
        if bad:
            raise Fail(f"kernel log: {bad.group(0).decode(errors='replace')}")

        out, st = c.run("for m in cdrom sr_mod isofs; do [ -d /sys/module/$m ] && echo have-$m "
                        "|| { insmod /lib/modules/$m.ko && echo loaded-$m; }; done",
                        "mods", 60, "the CD modules")
        loaded = re.findall(r"loaded-(\w+)", out)
        if len(re.findall(r"(?:have|loaded)-\w+", out)) != 3:
            raise Fail(f"the CD modules could not all be loaded: {out.strip()!r}")
        out, st = c.run("n=0; while [ ! -b /dev/sr0 ] && [ $n -lt 300 ]; do usleep 100000; n=$((n+1)); done; "
                        "[ -b /dev/sr0 ]", "sr0", 60, "/dev/sr0")
        if st != 0:
            raise Fail("/dev/sr0 did not appear within 30 s")
        out, st = c.run("mkdir -p /mnt && mount -t iso9660 -o ro /dev/sr0 /mnt", "mount", 60, "the mount")
        if st != 0:
            raise Fail(f"mount -t iso9660 -o ro /dev/sr0 /mnt failed: {out.strip()!r}")
        out, st = c.run("sha256sum /mnt/data.bin", "sum", 120, "sha256sum of data.bin")
        m = re.search(r"\b([0-9a-f]{64})\s+/mnt/data\.bin", out)
        if st != 0 or not m:
            raise Fail(f"sha256sum /mnt/data.bin failed (status {st}): {out.strip()!r}")
        if m.group(1) != want:
            raise Fail(f"data.bin read in the guest hashes to {m.group(1)}, expected {want}")
        out, st = c.run("cd /mnt && sha256sum -c data.sha256; st=$?; cd /; (exit $st)", "check", 120,
                        "sha256sum -c")
        if st != 0 or "data.bin: OK" not in out:
            raise Fail(f"sha256sum -c data.sha256 in the guest: {out.strip()!r}")
        out, st = c.run("umount /mnt", "umount", 30, "umount")
        if st != 0:
            raise Fail(f"umount /mnt failed: {out.strip()!r}")

        t1 = time.monotonic()
        c.send("poweroff -f")
        status = c.wait_exit(60)
        t_off = time.monotonic() - t1
        if status != 0:
            raise Fail(f"the emulator exited with status {status} after poweroff, expected 0")
        if b"reboot: Power down" not in c.buf[c.pos:]:
            raise Fail('no "reboot: Power down" from the kernel before the exit')
        c.close()
        how = f"insmod {' '.join(loaded)}" if loaded else "modules from the initramfs"
        print(f"iso_boot: ok (shell after {t_boot:.1f}s, {how}, data.bin sha256 {want[:16]}..., "
              f"poweroff in {t_off:.1f}s)")
        return True
    except (Fail, OSError) as e:
        c.close()
        print(f"FAIL: iso_boot: {e}")
        print(f"--- {' '.join(shlex.quote(a) for a in cmd)}")
        print(f"--- serial output (last 40 lines of {log}):")
        lines = open(log, "rb").read().decode(errors="replace").splitlines()
        print("\n".join(lines[-40:]))
        return False

ok = main()
if ok and not keep:
    shutil.rmtree(logdir, ignore_errors=True)
print(f"{int(ok)} passed, {int(not ok)} failed")
sys.exit(0 if ok else 1)
PYEOF
