#!/usr/bin/env python3
# Helper of linux_fb_test.sh (see there): Linux frame buffer drivers on
# vessel's std VGA, checked from inside the default guest and by PNG
# screendumps compared pixel by pixel with what the guest wrote.
# usage: linux_fb.py EMULATOR GUESTDIR SCENARIO   (EMULATOR: vessel, or
#        "qemu-system-i386 -accel tcg" to run the same checks on QEMU)
#   vesafb-kernel    -kernel with -append vga=0x314 (VESA 0x114): the
#                    loader writes it into the bzImage header's vid_mode as
#                    QEMU does, the kernel's real-mode setup sets the mode
#                    through the VGA BIOS; vesafb at 800x600x16
#   vesafb-syslinux  the disk through SeaBIOS and SYSLINUX with vga=0x343
#                    added to syslinux.cfg (VESA 0x143, 800x600x32)
#   bochs            -kernel, rdshell: 80x25 text (720x400), then insmod of
#                    bochs-drm and its dependencies (the initramfs lists them
#                    in /lib/modules/display.order): card0, bochs-drmdrmfb
#                    at 1024x768x32 with fbcon text
# Each scenario then unbinds fbcon, writes a known byte pattern to /dev/fb0
# (a 61-pixel period, so every row starts at a different phase: a wrong
# stride, offset or byte order shows), takes a screendump through the
# monitor and compares every pixel.
import os, re, shlex, shutil, socket, struct, subprocess, sys, tempfile, time, zlib

emu, guestdir, scenario = shlex.split(sys.argv[1]), sys.argv[2], sys.argv[3]
# QEMU as the oracle: its own monitor prompt and PNG screendump, an EDID
# (bochs-drm then picks 1280x800), and 16 bpp widened without bit replication.
qemu = "qemu" in os.path.basename(emu[0])
boot_timeout = float(os.environ.get("GUEST_TIMEOUT", "240"))
keep = os.environ.get("LINUX_FB_KEEP")
work = tempfile.mkdtemp(prefix=f"linux_fb.{scenario}.")
passed = failed = 0
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from serialcon import Fail, SerialConsole  # noqa: E402  (shared console driver)




def ok(what):
    global passed
    passed += 1
    print(f"PASS: {what}", flush=True)


def bad(what):
    global failed
    failed += 1
    print(f"FAIL: {what}", flush=True)


def step(what):
    print(f"linux_fb[{scenario}]: {what}", flush=True)


# ------------------------------------------------------------------ PNG
def read_png(path):
    """8-bit RGB/RGBA non-interlaced PNG -> (w, h, list of RGB rows as bytes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Fail(f"{path} is not a PNG")
    i, idat, w, h, bpp = 8, [], 0, 0, 3
    while i < len(data):
        ln, typ = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + ln]
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or inter:
                raise Fail(f"PNG format depth={depth} type={ctype} interlace={inter} not handled")
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat.append(body)
        i += 12 + ln
    raw = zlib.decompress(b"".join(idat))
    stride, rows, prev = w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((a + prev[x]) >> 1)) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        elif f != 0:
            raise Fail(f"PNG filter {f} on row {y}")
        prev = line
        rows.append(bytes(line) if bpp == 3 else bytes(b for k, b in enumerate(line) if k % 4 != 3))
    return w, h, rows


def text_rows(w, h, rows, cell_h=16):
    """Character rows of cell_h pixels holding 1-60% non-background pixels."""
    counts = {}
    for r in rows:
        for x in range(0, w * 3, 3):
            k = r[x:x + 3]
            counts[k] = counts.get(k, 0) + 1
    bg = max(counts, key=counts.get)
    found = []
    for row in range(h // cell_h):
        fg = sum(1 for y in range(row * cell_h, row * cell_h + cell_h)
                 for x in range(0, w * 3, 3) if rows[y][x:x + 3] != bg)
        if 0.01 < fg / (w * cell_h) < 0.6:
            found.append(row)
    return len(counts), found


# -------------------------------------------------------------- pattern
PERIOD = 61     # pixels; prime, so that no usual stride is a multiple of it


def pattern_bytes(bpp_bytes):
    """PERIOD pixels of pseudo-random bytes (fixed LCG), none of them 0, '%'
    or backslash, so busybox printf writes them from octal escapes."""
    out, x = bytearray(), 12345
    while len(out) < PERIOD * bpp_bytes:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        b = (x >> 16) & 0xFF
        if b not in (0, 0x25, 0x5C):
            out.append(b)
    return bytes(out)


def expected_rows(seq, w, h, stride, bpp):
    """RGB rows the renderer must show for a frame buffer filled with seq
    repeated from offset 0: 32 bpp is B,G,R,X; 16 bpp is RGB565 little
    endian, widened by bit replication (r5 -> r5<<3 | r5>>2; g6 -> g6<<2 | g6>>4)."""
    need = stride * h
    big = (seq * (need // len(seq) + 2))[:need]
    rows = []
    if bpp == 32:
        for y in range(h):
            r = big[y * stride:y * stride + w * 4]
            out = bytearray(w * 3)
            out[0::3], out[1::3], out[2::3] = r[2::4], r[1::4], r[0::4]
            rows.append(bytes(out))
    elif bpp == 16:
        lut = {}
        for y in range(h):
            r = big[y * stride:y * stride + w * 2]
            out = bytearray()
            for x in range(0, w * 2, 2):
                v = r[x] | r[x + 1] << 8
                px = lut.get(v)
                if px is None:
                    r5, g6, b5 = v >> 11, (v >> 5) & 63, v & 31
                    if qemu:
                        px = lut[v] = bytes((r5 << 3, g6 << 2, b5 << 3))
                    else:
                        px = lut[v] = bytes(((r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)))
                out += px
            rows.append(bytes(out))
    else:
        raise Fail(f"no expected-pixel rule for {bpp} bpp")
    return rows


def compare(path, want_rows, w, h):
    gw, gh, got = read_png(path)
    if (gw, gh) != (w, h):
        raise Fail(f"screendump is {gw}x{gh}, expected {w}x{h}")
    bad_px, first = 0, []
    for y in range(h):
        if got[y] == want_rows[y]:
            continue
        for x in range(w):
            if got[y][x * 3:x * 3 + 3] != want_rows[y][x * 3:x * 3 + 3]:
                bad_px += 1
                if len(first) < 5:
                    first.append(f"({x},{y}) got {got[y][x*3:x*3+3].hex()} want {want_rows[y][x*3:x*3+3].hex()}")
    if bad_px:
        raise Fail(f"{bad_px} of {w * h} pixels differ: {'; '.join(first)}")


# -------------------------------------------------------------- vessel
PROMPT = b"(qemu) " if qemu else b"(vessel) "


class Vm(SerialConsole):
    n = 0  # commands run (unique end markers)

    def __init__(self, cmd):
        self.sock = os.path.join(work, "mon.sock")
        cmd = cmd + ["-display", "none", "-serial", "stdio", "-monitor", f"unix:{self.sock},server,nowait"]
        step("running: " + " ".join(cmd))
        self.log = open(os.path.join(work, "serial.log"), "wb")
        self.errf = open(os.path.join(work, "vessel.stderr"), "wb")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errf, bufsize=0)
        self.console_init()
        self.mon = None

    def run(self, command, timeout=60):
        """Runs a shell command; returns its output, found between markers
        that the shell computes (so the echoed command line never matches)."""
        Vm.n += 1
        n = Vm.n
        self.send(f"echo @B$(({n}+0))@; {command}; echo @E$(({n}+0))@")
        self.expect(f"@B{n}@\n", timeout, f"output of {command[:60]!r}")
        start = self.pos
        m = self.expect(f"@E{n}@\n", timeout, f"end of {command[:60]!r}")
        return self.buf[start:m.start()].decode(errors="replace")

    def monitor(self, command, timeout=30):
        if self.mon is None:
            for _ in range(50):
                if os.path.exists(self.sock):
                    break
                time.sleep(0.1)
            self.mon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.mon.connect(self.sock)
            self.mon_buf = b""
            self._mon_wait(timeout)
        self.mon.sendall((command + "\n").encode())
        return self._mon_wait(timeout)

    def _mon_wait(self, timeout):
        deadline = time.monotonic() + timeout
        self.mon.settimeout(0.5)
        while PROMPT not in self.mon_buf:
            if time.monotonic() > deadline:
                raise Fail(f"no monitor prompt; got {self.mon_buf[-200:]!r}")
            try:
                d = self.mon.recv(4096)
                if not d:
                    raise Fail("monitor closed")
                self.mon_buf += d
            except socket.timeout:
                pass
            self.pump(time.monotonic() + 0.01)
        out, self.mon_buf = self.mon_buf.split(PROMPT, 1)
        return out.decode(errors="replace")

    def screendump(self, name):
        path = os.path.join(work, name)
        reply = self.monitor(f"screendump {path}" + (" -f png" if qemu else ""))
        if not os.path.exists(path):
            raise Fail(f"screendump wrote no file; monitor said {reply.strip()!r}")
        return path

    def close(self):
        if self.mon:
            self.mon.close()
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()
        self.errf.close()


def check_kernel_log(vm):
    bad_rx = re.search(rb"Kernel panic|BUG: |Oops|general protection|invalid opcode|WARNING: CPU", vm.buf)
    if bad_rx:
        raise Fail(f"kernel log: {bad_rx.group(0).decode(errors='replace')}")


def fb_geometry(vm):
    """(xres, yres, bpp, stride) of /dev/fb0 as the guest sees it."""
    out = vm.run("cd /sys/class/graphics/fb0 && echo geo $(cat virtual_size bits_per_pixel stride); cd /")
    m = re.search(r"geo (\d+),(\d+) (\d+) (\d+)", out)
    if not m:
        raise Fail(f"cannot read fb0's geometry: {out!r}")
    return tuple(int(v) for v in m.groups())


def check_text(vm, name, w, h):
    path = vm.screendump(name)
    gw, gh, rows = read_png(path)
    if (gw, gh) != (w, h):
        raise Fail(f"{name}: screendump is {gw}x{gh}, expected {w}x{h}")
    ncol, trows = text_rows(gw, gh, rows)
    if ncol < 2:
        raise Fail(f"{name}: screendump is blank")
    if len(trows) < 3:
        raise Fail(f"{name}: only {len(trows)} rows of text: {trows}")
    return ncol, trows


def pattern_test(vm, geo):
    xres, yres, bpp, stride = geo
    seq = pattern_bytes(bpp // 8)
    size = stride * yres
    k, n = 0, len(seq)
    while n < size:
        n, k = n * 2, k + 1
    # fbcon off the frame buffer (no cursor, no text drawn over the pattern)
    out = vm.run("for v in /sys/class/vtconsole/vtcon*; do grep -q 'frame buffer' $v/name && "
                 "echo 0 >$v/bind && echo unbound $(cat $v/name); done")
    if "unbound" not in out:
        raise Fail(f"fbcon not found among the vt consoles: {out!r}")
    # busybox ash edits lines of at most 1024 bytes: 64 bytes per printf
    for i in range(0, len(seq), 64):
        esc = "".join(f"\\{b:03o}" for b in seq[i:i + 64])
        vm.run(f"printf '{esc}' {'>' if i == 0 else '>>'}/run/p")
    out = vm.run("wc -c </run/p")
    if out.split() != [str(len(seq))]:
        raise Fail(f"pattern file has {out.strip()!r} bytes, expected {len(seq)}")
    # One write(2) of the whole picture: Linux 6.1's fbdev emulation
    # (drm_fb_helper_memory_range_to_clip) computes an empty damage width for
    # a write that spans one scan line and ends exactly at its end, so
    # bochs-drm would never copy that tail from its shadow buffer to VRAM.
    out = vm.run(f"i=0; while [ $i -lt {k} ]; do cat /run/p /run/p >/run/q && mv /run/q /run/p; i=$((i+1)); done;"
                 f" head -c {size} /run/p >/run/w; rm /run/p; dd if=/run/w of=/dev/fb0 bs={size} count=1 2>/dev/null; echo wrote $?; sleep 1;"
                 f" head -c {size} /dev/fb0 | cmp /run/w - && echo same; rm /run/w", 120)
    if "wrote 0" not in out:
        raise Fail(f"writing /dev/fb0 failed: {out!r}")
    if "same" not in out:
        raise Fail(f"the guest reads back other bytes from /dev/fb0: {out!r}")
    t0 = time.monotonic()
    want = expected_rows(seq, xres, yres, stride, bpp)
    compare(vm.screendump("pattern.png"), want, xres, yres)
    return time.monotonic() - t0


def syslinux_disk(src, dst, extra):
    """A copy of the disk whose syslinux.cfg APPEND line also has extra."""
    shutil.copyfile(src, dst)
    off = 2048 * 512
    cfg = os.path.join(work, "syslinux.cfg")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    subprocess.run(["mcopy", "-n", "-i", f"{dst}@@{off}", "::/syslinux.cfg", cfg], check=True, env=env)
    text = open(cfg).read()
    if "APPEND " not in text:
        raise Fail("syslinux.cfg has no APPEND line")
    text = re.sub(r"(APPEND [^\n]*)", lambda m: m.group(1) + " " + extra, text, count=1)
    open(cfg, "w").write(text)
    subprocess.run(["mcopy", "-o", "-i", f"{dst}@@{off}", cfg, "::/syslinux.cfg"], check=True, env=env)


# ---------------------------------------------------------------- main
def main():
    disk = os.path.join(guestdir, "disk.img")
    vmlinuz = os.path.join(guestdir, "vmlinuz")
    initrd = os.path.join(guestdir, "initrd.img")
    for f in (disk, vmlinuz, initrd):
        if not os.path.isfile(f):
            raise Fail(f"{f} missing (run scripts/build-guest.sh first)")
    base = emu + (["-M", "pc", "-cpu", "pentium2"] if qemu else []) + ["-m", "256", "-snapshot", "-no-reboot"]
    t0 = time.monotonic()
    left = lambda: max(1.0, boot_timeout - (time.monotonic() - t0))
    if scenario == "vesafb-kernel":
        vm = Vm(base + ["-hda", disk, "-kernel", vmlinuz, "-initrd", initrd,
                        "-append", "root=/dev/sda2 console=tty0 console=ttyS0 vga=0x314"])
        want = (800, 600, 16, 1600)
    elif scenario == "vesafb-syslinux":
        if not shutil.which("mcopy"):
            print("SKIP: mcopy (mtools) not installed")
            sys.exit(77)
        img = os.path.join(work, "disk.img")
        syslinux_disk(disk, img, "vga=0x343")
        vm = Vm(base + ["-hda", img])
        want = (800, 600, 32, 3200)
    elif scenario == "bochs":
        vm = Vm(base + ["-hda", disk, "-kernel", vmlinuz, "-initrd", initrd,
                        "-append", "root=/dev/sda2 console=tty0 console=ttyS0 rdshell"])
        want = (1024, 768, 32, 4096)
    else:
        raise Fail(f"unknown scenario {scenario}")
    try:
        if scenario == "bochs":
            vm.expect(r"starting a rescue shell", left(), "the initramfs rescue shell (rdshell)")
            time.sleep(1)
            vm.send("PS1='rd# '")
            vm.expect(r"rd# ", 30, "the rescue shell prompt")
            ncol, trows = check_text(vm, "vgacon.png", 720, 400)
            ok(f"before bochs-drm: 720x400 text screendump, {len(trows)} text rows")
            out = vm.run("for m in $(cat /lib/modules/display.order); do insmod /lib/modules/$m.ko || "
                         "echo INSMOD-FAILED $m; done; echo order: $(cat /lib/modules/display.order)", 120)
            if "INSMOD-FAILED" in out or "bochs" not in out:
                raise Fail(f"loading the display modules: {out!r}")
            ok("insmod " + out.strip().split("order: ")[-1])
            out = vm.run("cat /proc/fb; ls -d /sys/class/drm/card0 /sys/class/drm/card0-* | cat; "
                         "cat /sys/class/drm/card0-*/status /sys/class/drm/card0-*/enabled; dmesg | grep -E 'bochs|fbcon|Console'")
            for rx in (r"^0 bochs-drmdrmfb$", r"^/sys/class/drm/card0$", r"^/sys/class/drm/card0-Virtual-1$",
                       r"^connected$", r"^enabled$", r"\[drm\] Found bochs VGA, ID 0xb0c5",
                       r"Initialized bochs-drm", r"fbcon: bochs-drmdrmfb \(fb0\) is primary device",
                       r"Console: switching to colour frame buffer device %s" % ("160x50" if qemu else "128x48")):
                if not re.search(rx, out, re.M):
                    raise Fail(f"guest does not show {rx!r}: {out!r}")
            ok("card0 (Virtual-1 connected, enabled), /proc/fb 'bochs-drmdrmfb', fbcon 128x48")
            geo = fb_geometry(vm)
            if qemu:
                want = geo          # EDID from QEMU's BAR2: 1280x800
            if geo != want:
                raise Fail(f"fb0 geometry {geo}, expected {want}")
            ok(f"fb0 {geo[0]}x{geo[1]}x{geo[2]} stride {geo[3]}")
            time.sleep(1)
            ncol, trows = check_text(vm, "fbcon.png", want[0], want[1])
            ok(f"mode change by bochs-drm: screendump 720x400 -> {want[0]}x{want[1]}, fbcon text in {len(trows)} rows")
            vm.send("exit")
        else:
            if scenario == "vesafb-syslinux":
                vm.expect(r"SYSLINUX \d", left(), "the SYSLINUX banner")
            m = vm.expect(r"vesafb: mode is (\d+)x(\d+)x(\d+), linelength=(\d+),", left(), "vesafb's mode line")
            got = tuple(int(v) for v in m.groups())
            if got != want:
                raise Fail(f"vesafb mode {got}, expected {want}")
            ok(f"vesafb: mode is {got[0]}x{got[1]}x{got[2]}, linelength={got[3]}")
            vm.expect(r"fb0: VESA VGA frame buffer device", left(), "fb0: VESA VGA")
        vm.expect(r"vessel# ", left(), "the shell prompt")
        ok(f"booted to the prompt ({time.monotonic() - t0:.0f}s)")
        check_kernel_log(vm)
        if scenario != "bochs":
            out = vm.run("cat /proc/fb; dmesg | grep -E 'vesafb|Console: switching'")
            cols = want[0] // 8, want[1] // 16
            for rx in (r"^0 VESA VGA$", r"Console: switching to colour frame buffer device %dx%d" % cols):
                if not re.search(rx, out, re.M):
                    raise Fail(f"guest does not show {rx!r}: {out!r}")
            ok("/proc/fb '0 VESA VGA', fbcon %dx%d" % cols)
            geo = fb_geometry(vm)
            if geo != want:
                raise Fail(f"fb0 geometry {geo}, expected {want}")
            ok(f"fb0 {geo[0]}x{geo[1]}x{geo[2]} stride {geo[3]}")
            time.sleep(1)
            ncol, trows = check_text(vm, "fbcon.png", want[0], want[1])
            ok(f"fbcon text visible in the {want[0]}x{want[1]} screendump ({len(trows)} text rows, {ncol} colours)")
        dt = pattern_test(vm, want)
        ok(f"pattern written to /dev/fb0 matches the screendump exactly ({want[0]}x{want[1]}x{want[2]}, "
           f"compared in {dt:.1f}s)")
        vm.send("poweroff")
        deadline = time.monotonic() + 60
        while vm.p.poll() is None:
            if vm.pump(deadline) is False:
                break
        st = vm.p.poll()
        if st == 0:
            ok("poweroff: vessel exited with status 0")
        else:
            bad(f"poweroff: vessel status {st}")
    finally:
        vm.close()


try:
    main()
except (Fail, OSError, zlib.error, subprocess.CalledProcessError) as e:
    bad(str(e))
print(f"{passed} passed, {failed} failed", flush=True)
if failed:
    for name in ("serial.log", "vessel.stderr"):
        p = os.path.join(work, name)
        if os.path.exists(p):
            print(f"--- {name} (last 40 lines):")
            print("\n".join(open(p, "rb").read().decode(errors="replace").splitlines()[-40:]))
if keep:
    os.makedirs(keep, exist_ok=True)
    for f in os.listdir(work):
        if not f.endswith((".sock", ".img")) and not f.startswith("vmlinuz"):
            shutil.copy(os.path.join(work, f), keep)
shutil.rmtree(work, ignore_errors=True)
sys.exit(0 if failed == 0 and passed else 1)
