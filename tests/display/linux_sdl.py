#!/usr/bin/env python3
# Helper of linux_sdl_test.sh (see there): the default guest under -display sdl
# in Xvfb; serial console on stdio, monitor on a unix socket, keys via xdotool.
# usage: linux_sdl.py VESSEL GUESTDIR
import os, re, select, shutil, socket, struct, subprocess, sys, tempfile, time, zlib

vessel, guestdir = sys.argv[1], sys.argv[2]
boot_timeout = float(os.environ.get("GUEST_TIMEOUT", "600"))
keep = os.environ.get("LINUX_SDL_KEEP")
work = tempfile.mkdtemp(prefix="linux_sdl.")
disk = os.path.join(guestdir, "disk.img")
passed = failed = 0

def ok(what):
    global passed
    passed += 1
    print(f"PASS: {what}", flush=True)

def bad(what):
    global failed
    failed += 1
    print(f"FAIL: {what}", flush=True)

def step(what):
    print(f"linux_sdl: {what}", flush=True)

def finish(code=None):
    print(f"{passed} passed, {failed} failed", flush=True)
    if keep:
        os.makedirs(keep, exist_ok=True)
        for f in os.listdir(work):
            if not f.endswith(".sock"):
                shutil.copy(os.path.join(work, f), keep)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(code if code is not None else (0 if failed == 0 else 1))

if not os.path.isfile(disk):
    bad(f"{disk} missing (run scripts/build-guest.sh first)")
    finish(1)

# ---- Xvfb on a free display ----
n = 90
while os.path.exists(f"/tmp/.X{n}-lock") or os.path.exists(f"/tmp/.X11-unix/X{n}"):
    n += 1
xlog = open(os.path.join(work, "xvfb.log"), "wb")
xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                        stdout=xlog, stderr=subprocess.STDOUT)
env = dict(os.environ, DISPLAY=f":{n}")
env.pop("WAYLAND_DISPLAY", None)

def xdo(*args, check=False):
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, check=check)

for _ in range(100):
    if xdo("getmouselocation").returncode == 0:
        break
    time.sleep(0.1)
else:
    xvfb.kill()
    bad("Xvfb did not start: " + open(os.path.join(work, "xvfb.log")).read())
    finish(1)
step(f"Xvfb on :{n}")

# ---- vessel ----
ESC = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[78=>cM])")
sock = os.path.join(work, "mon.sock")
dump = os.path.join(work, "tty1.png")
cmd = [vessel, "-m", "256", "-display", "sdl", "-snapshot", "-hda", disk,
       "-serial", "stdio", "-monitor", f"unix:{sock},server,nowait"]
serial_log = open(os.path.join(work, "serial.log"), "wb")
errf = open(os.path.join(work, "vessel.stderr"), "wb")
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf,
                     env=env, bufsize=0)
buf, raw, pos = b"", b"", 0

def pump(deadline):
    """Reads serial output until deadline; False on timeout, None at EOF."""
    global buf, raw
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    r, _, _ = select.select([p.stdout], [], [], min(left, 0.5))
    if r:
        data = os.read(p.stdout.fileno(), 65536)
        if not data:
            return None
        serial_log.write(data); serial_log.flush()
        raw += data
        cut = raw.rfind(b"\x1b")
        if cut >= 0 and len(raw) - cut < 16:
            done, raw = raw[:cut], raw[cut:]
        else:
            done, raw = raw, b""
        buf += ESC.sub(b"", done).replace(b"\r", b"")
    return True

class Fail(Exception):
    pass

def expect(pattern, timeout, what):
    global pos
    rx = re.compile(pattern.encode())
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(buf, pos)
        if m:
            pos = m.end()
            return m
        st = pump(deadline)
        if st is None:
            raise Fail(f"vessel ended (status {p.wait()}) while waiting for {what}")
        if st is False:
            raise Fail(f"timed out after {timeout:.0f}s waiting for {what}")

def send(line):
    for ch in (line + "\n").encode():
        p.stdin.write(bytes([ch])); p.stdin.flush()
        time.sleep(0.005)

def drain(seconds):
    deadline = time.monotonic() + seconds
    while pump(deadline):
        pass

def read_png(path):
    """8-bit RGB/RGBA non-interlaced PNG -> (w, h, rows of bytes, bytes per pixel)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Fail(f"{path} is not a PNG")
    i, idat, w = 8, b"", None
    while i < len(data):
        ln, typ = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + ln]
        if typ == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or inter:
                raise Fail(f"PNG format depth={depth} type={ctype} interlace={inter} not handled")
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        i += 12 + ln
    raw_, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f = raw_[y * (stride + 1)]
        line = bytearray(raw_[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(bytes(line)); prev = line
    return w, h, rows, bpp

def check_dump(path):
    """720x400, not blank, text rows with foreground and background pixels."""
    w, h, rows, bpp = read_png(path)
    if (w, h) != (720, 400):
        raise Fail(f"screendump is {w}x{h}, expected 720x400 (80x25 text)")
    px = lambda r, x: r[x * bpp:x * bpp + 3]
    counts = {}
    for r in rows:
        for x in range(w):
            k = px(r, x); counts[k] = counts.get(k, 0) + 1
    bg = max(counts, key=counts.get)
    if counts[bg] == w * h:
        raise Fail("screendump is blank (one colour)")
    text_rows = []
    for row in range(25):
        fg = sum(1 for y in range(row * 16, row * 16 + 16) for x in range(w)
                 if px(rows[y], x) != bg)
        frac = fg / (w * 16)
        if 0.01 < frac < 0.6:      # glyphs: some foreground, mostly background
            text_rows.append(row)
    if len(text_rows) < 8:
        raise Fail(f"only {len(text_rows)} text rows (need 8 with 1-60% foreground): {text_rows}")
    return len(counts), text_rows

def window():
    r = xdo("search", "--name", "^vessel")
    ids = r.stdout.split()
    return ids[0] if ids else None

def monitor(command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    time.sleep(0.3)
    s.sendall((command + "\n").encode())
    out, deadline = b"", time.monotonic() + 5
    s.setblocking(False)
    while time.monotonic() < deadline:
        try:
            d = s.recv(4096)
            if not d:
                break
            out += d
        except BlockingIOError:
            time.sleep(0.1)
        if os.path.exists(dump) and b"(" in out[-64:]:
            break
    s.close()
    return out.decode(errors="replace")

status = None
try:
    t0 = time.monotonic()
    step(f"booting: {' '.join(cmd)}")
    try:
        expect(r"Linux version", boot_timeout, "the kernel banner")
        step(f"kernel started after {time.monotonic() - t0:.0f}s")
        expect(r"vessel guest ready", max(1, boot_timeout - (time.monotonic() - t0)), '"vessel guest ready"')
        expect(r"vessel# ", max(1, boot_timeout - (time.monotonic() - t0)), "the shell prompt")
        ok(f"boot with -display sdl to the serial prompt ({time.monotonic() - t0:.0f}s)")
    except Fail as e:
        bad(f"boot: {e}")
        raise

    w = window()
    if w:
        ok(f"SDL window '{xdo('getwindowname', w).stdout.strip()}'")
    else:
        bad("no window named vessel")

    # tty1's shell prints its prompt a moment after ttyS0's; let the screen settle
    drain(3)
    step("screendump through the monitor")
    try:
        reply = ""
        for _ in range(20):
            if os.path.exists(sock):
                break
            time.sleep(0.5)
        reply = monitor(f"screendump {dump}")
        for _ in range(20):
            if os.path.exists(dump) and os.path.getsize(dump) > 0:
                break
            time.sleep(0.25)
        if not os.path.exists(dump):
            raise Fail(f"no file written; monitor said {reply!r}")
        time.sleep(0.5)
        ncol, trows = check_dump(dump)
        ok(f"screendump 720x400, {ncol} colours, text rows {trows}")
    except (Fail, OSError, zlib.error) as e:
        bad(f"screendump: {e}")

    step("typing on tty1 with xdotool")
    try:
        if not w:
            raise Fail("no window to type into")
        # no window manager: keyboard focus follows the pointer
        xdo("mousemove", "--window", w, "100", "100")
        time.sleep(0.5)
        xdo("key", "Return")
        time.sleep(1)
        xdo("type", "--delay", "60", "echo typed-on-tty1 $((6*7)) > /dev/ttyS0")
        xdo("key", "Return")
        expect(r"typed-on-tty1 42", 60, '"typed-on-tty1 42" on the serial console')
        ok("keys typed on tty1 ran a command whose output arrived on the serial console")
    except Fail as e:
        bad(f"tty1 input: {e}")

    step("poweroff")
    send("poweroff")
    deadline = time.monotonic() + 60
    while p.poll() is None:
        if pump(deadline) is False:
            break
    drain(0.5)
    status = p.poll()
    if status == 0:
        ok("poweroff: vessel exited with status 0")
    elif status is None:
        bad("poweroff: vessel did not exit within 60s")
    else:
        bad(f"poweroff: vessel exited with status {status}, expected 0")
except Fail:
    pass
finally:
    if p.poll() is None:
        p.kill(); p.wait()
    xvfb.terminate()
    try:
        xvfb.wait(5)
    except subprocess.TimeoutExpired:
        xvfb.kill(); xvfb.wait()
    serial_log.close(); errf.close()
    if failed:
        print("--- serial console (last 30 lines):")
        print("\n".join(open(os.path.join(work, "serial.log"), "rb").read()
                        .decode(errors="replace").splitlines()[-30:]))
        print("--- vessel stderr:")
        print(open(os.path.join(work, "vessel.stderr"), "rb").read().decode(errors="replace")[-3000:])
finish()
