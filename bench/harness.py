#!/usr/bin/env python3
"""bench/harness.py - the side-by-side speed benchmark of issue 9 (driven by
bench/run.sh, which builds vessel, the guest, the workload and the native
binaries first; see bench/README.md).

vessel, QEMU TCG and Bochs boot the same disk image (the default guest plus
/workload and /loop), in one run, alternating, REPS times each.  Each session:
  1. wall time from process start to the guest's "vessel# " prompt on COM1
  2. /workload: host wall time from Enter to its result line, and the
     guest-clock elapsed time and checksum it prints (checksum == native)
  3. /loop N: guest MIPS on a tight 6-instruction integer loop, host-timed,
     minus the time of "/loop 0" in the same session (exec + console)
  4. peak RSS of the emulator process (/usr/bin/time -v)
then poweroff (or kill).  Native runs of the same i386 binaries give (5).
Nothing here is a pass/fail check of speed: the exit status is 0 whenever the
harness itself worked, whatever the figures.
"""
import argparse, datetime, json, os, re, select, shlex, shutil, signal, statistics
import subprocess, sys, time, tty

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from serialcon import EscapeStripper  # noqa: E402  (the console text, as the tests read it)
PROMPT = rb"vessel# "
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHS = 16 * 63 * 512           # Bochs wants a whole number of 16-head, 63-sector cylinders


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Timeout(Exception):
    pass


class Ended(Exception):
    pass


class Failed(Exception):
    pass


class Console:
    """The guest's COM1 seen through a read fd and a write fd."""

    def __init__(self, rfd, wfd, logpath, drain=None):
        self.rfd, self.wfd = rfd, wfd
        self.drain = drain       # an fd read and thrown away (Bochs's term display)
        self.log = open(logpath, "wb")
        self.buf = b""
        self.pos = 0
        self.esc = EscapeStripper()

    def pump(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        fds = [self.rfd] + ([self.drain] if self.drain is not None else [])
        r, _, _ = select.select(fds, [], [], min(left, 0.25))
        if self.drain is not None and self.drain in r:
            try:
                os.read(self.drain, 65536)
            except OSError:
                self.drain = None
        if self.rfd in r:
            try:
                data = os.read(self.rfd, 65536)
            except OSError:      # pty whose other side is closed
                data = b""
            if not data:
                return None
            self.log.write(data)
            self.log.flush()
            self.buf += self.esc.feed(data)
        return True

    def expect(self, pattern, timeout, alive=lambda: True):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf, self.pos)
            if m:
                self.pos = m.end()
                return m, time.monotonic()
            st = self.pump(deadline)
            if st is False:
                raise Timeout()
            if st is None or not alive():
                # read what is left, then give up
                end = time.monotonic() + 0.5
                while st and time.monotonic() < end:
                    st = self.pump(end)
                m = rx.search(self.buf, self.pos)
                if m:
                    self.pos = m.end()
                    return m, time.monotonic()
                raise Ended()

    def send(self, line):
        """Types LINE and Enter a byte at a time (a UART FIFO is 16 bytes);
        returns the time the Enter was written."""
        for ch in (line + "\n").encode():
            os.write(self.wfd, bytes([ch]))
            time.sleep(0.005)
        return time.monotonic()

    def tail(self, n=600):
        return self.buf[-n:].decode(errors="replace")


def median(v):
    return statistics.median(v) if v else None


def spread(v):
    if not v:
        return None
    return {"min": min(v), "max": max(v), "median": median(v), "n": len(v),
            "range_pct": (100.0 * (max(v) - min(v)) / median(v)) if median(v) else None}


# ---------------------------------------------------------------- the image
def partition2(img):
    out = subprocess.run(["sfdisk", "-d", img], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\S+2 : start=\s*(\d+), size=\s*(\d+)", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise SystemExit("bench: no partition 2 in " + img)


def make_image(base, out, files, work):
    """Copies BASE to OUT, writes FILES {guest name: host path} into the
    root of its ext4 partition 2 (debugfs on the extracted partition), pads
    the disk to whole CHS cylinders (Bochs) and checks the file system."""
    shutil.copyfile(base, out)
    start, size = partition2(out)
    part = os.path.join(work, "root.ext4")
    with open(out, "rb") as f, open(part, "wb") as o:
        f.seek(start * 512)
        o.write(f.read(size * 512))
    cmds = []
    for name, src in files.items():
        cmds += [f"rm /{name}", f"write {src} /{name}", f"set_inode_field /{name} mode 0100755",
                 f"set_inode_field /{name} uid 0", f"set_inode_field /{name} gid 0"]
    cf = os.path.join(work, "debugfs.cmd")
    with open(cf, "w") as c:
        c.write("\n".join(cmds) + "\n")
    subprocess.run(["debugfs", "-w", "-f", cf, part], capture_output=True, check=True)
    chk = subprocess.run(["e2fsck", "-fn", part], capture_output=True, text=True)
    if chk.returncode != 0:
        raise SystemExit("bench: the root file system with the workload does not check clean:\n" + chk.stdout)
    ls = subprocess.run(["debugfs", "-R", "ls -l /", part], capture_output=True, text=True).stdout
    for name in files:
        if not re.search(rf"\s{re.escape(name)}\s*$", ls, re.M):
            raise SystemExit(f"bench: /{name} is not in the image")
    with open(part, "rb") as p, open(out, "r+b") as o:
        o.seek(start * 512)
        o.write(p.read())
    os.unlink(part)
    sz = os.path.getsize(out)
    if sz % CHS:
        os.truncate(out, (sz // CHS + 1) * CHS)
    return os.path.getsize(out) // CHS


# ---------------------------------------------------------------- emulators
def bochsrc(path, img, cyls, ram, serial_dev, logfile, ips):
    with open(path, "w") as f:
        f.write(f"""# written by bench/harness.py
config_interface: textconfig
display_library: rfb, options="timeout=0"
megs: {ram}
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
cpu: model=p2_klamath, count=1, ips={ips}, reset_on_triple_fault=1
clock: sync=none, time0=local
pci: enabled=1, chipset=i440fx
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=disk, path="{img}", mode=flat, cylinders={cyls}, heads=16, spt=63, translation=lba
boot: disk
com1: enabled=1, mode=term, dev={serial_dev}
log: {logfile}
panic: action=fatal
error: action=report
info: action=ignore
debug: action=ignore
speaker: enabled=0
""")
    # Debian's Bochs is built with its debugger, which stops before the
    # first instruction: its command file says continue.
    with open(os.path.join(os.path.dirname(path), "debugger.rc"), "w") as f:
        f.write("c\n")


def bochsrc_text(args, cyls):
    """the bochsrc of every Bochs session, with placeholders for its paths"""
    path = os.path.join(args.work, "bochsrc.example")
    bochsrc(path, "DISK", cyls, args.ram, "/dev/pts/N", "bochs.log", args.bochs_ips)
    return open(path).read().splitlines()


def emulator_cmd(name, args, img, cyls, rcpath):
    ram = args.ram
    if name == "vessel":
        return [args.vessel, "-M", "pc", "-cpu", "pentium2", "-m", f"{ram}M", "-nographic", "-no-reboot",
                "-drive", f"file={img},format=raw,if=ide,index=0,media=disk"]
    if name == "qemu":
        return ["qemu-system-i386", "-accel", "tcg,thread=single", "-cpu", "pentium2", "-M", "pc",
                "-m", f"{ram}M", "-nographic", "-no-reboot",
                "-drive", f"file={img},format=raw,if=ide,index=0,media=disk"]
    if name == "bochs":
        return ["bochs", "-q", "-f", rcpath, "-rc", os.path.join(os.path.dirname(rcpath), "debugger.rc")]
    raise ValueError(name)


def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


def parse_time_v(path):
    """peak RSS and CPU seconds of the whole session, from /usr/bin/time -v"""
    out = {"peak_rss_kib": None, "session_cpu_s": None}
    try:
        txt = open(path).read()
    except OSError:
        return out
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt)
    if m:
        out["peak_rss_kib"] = int(m.group(1))
    u = re.search(r"User time \(seconds\): ([0-9.]+)", txt)
    k = re.search(r"System time \(seconds\): ([0-9.]+)", txt)
    if u and k:
        out["session_cpu_s"] = float(u.group(1)) + float(k.group(1))
    return out


class Session:
    def __init__(self, name, args, rep, base_img, cyls):
        self.name, self.args = name, args
        d = os.path.join(args.work, "runs", f"{name}-{rep}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        self.dir = d
        self.img = os.path.join(d, "disk.img")
        shutil.copyfile(base_img, self.img)          # every run starts from the same bytes
        self.rss_file = os.path.join(d, "time-v.txt")
        self.serial_log = os.path.join(d, "serial.log")
        self.emu_log = os.path.join(d, "emulator.log")
        rc = os.path.join(d, "bochsrc")
        self.cmd = emulator_cmd(name, args, self.img, cyls, rc)
        self.pty = None
        logf = open(self.emu_log, "wb")
        timed = ["/usr/bin/time", "-v", "-o", self.rss_file] + self.cmd
        if name == "bochs":
            # COM1 on a pty of ours (mode=term).  Debian's Bochs has no nogui
            # display; its term and X displays sleep 1 ms at every guest HLT
            # (idle hack), which makes a Linux boot several times slower, so
            # the display is rfb, serving no client (timeout=0: no waiting).
            master, slave = os.openpty()
            tty.setraw(slave)
            self.pty = (master, slave)
            bochsrc(rc, self.img, cyls, args.ram, os.ttyname(slave), os.path.join(d, "bochs.log"), args.bochs_ips)
            self.t0 = time.monotonic()
            self.p = subprocess.Popen(timed, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                      cwd=d, start_new_session=True)
            self.con = Console(master, master, self.serial_log)
        else:
            self.t0 = time.monotonic()
            self.p = subprocess.Popen(timed, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                                      cwd=d, bufsize=0, start_new_session=True)
            self.con = Console(self.p.stdout.fileno(), self.p.stdin.fileno(), self.serial_log)
        logf.close()

    def alive(self):
        return self.p.poll() is None

    def cpu(self):
        """user+system CPU seconds of the emulator so far (all its threads),
        or None once it is gone."""
        pid = getattr(self, "emu_pid", None) or child_of(self.p.pid)
        if not pid:
            return None
        self.emu_pid = pid
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            return (int(st[11]) + int(st[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return None

    def expect(self, pattern, timeout):
        return self.con.expect(pattern, timeout, self.alive)

    def command(self, line, result_rx, timeout):
        """Types LINE, waits for RESULT_RX and then the prompt; returns
        (match, host seconds from Enter to the result line, emulator CPU
        seconds over the same span)."""
        c0 = self.cpu()
        start = self.con.pos
        t = self.con.send(line)
        # the result line, complete (up to its newline), or the prompt back
        # without it (the program failed: say how)
        m, t1 = self.expect(rb"(?:" + result_rx + rb")[ \t]*\n|(?P<prompt>" + PROMPT + rb")", timeout)
        c1 = self.cpu()
        if m.group("prompt") is not None:
            out = self.con.buf[start:m.start()].decode(errors="replace").strip().replace("\n", " | ")
            raise Failed(f"{line!r} ended without its result: {out[-300:]}")
        self.expect(PROMPT, 60)
        return m, t1 - t, (c1 - c0 if c0 is not None and c1 is not None else None)

    def stop(self, at_prompt):
        """poweroff, or kill the emulator (the child of /usr/bin/time) so that
        time -v still reports."""
        status = "poweroff" if at_prompt else "killed"
        if self.alive() and at_prompt:
            try:
                self.con.send("poweroff")
            except OSError:
                pass
            deadline = time.monotonic() + self.args.poweroff_timeout
            while self.alive() and time.monotonic() < deadline:
                if self.con.pump(min(deadline, time.monotonic() + 0.25)) is None:
                    time.sleep(0.05)
        if self.alive():
            status = "killed"
            for sig in (signal.SIGTERM, signal.SIGKILL):   # Bochs's term display ignores SIGTERM
                kid = child_of(self.p.pid)
                if kid:
                    try:
                        os.kill(kid, sig)
                    except ProcessLookupError:
                        pass
                try:
                    self.p.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            if self.alive():
                os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.wall = time.monotonic() - self.t0
        if self.pty:
            for fd in self.pty:
                os.close(fd)
        elif self.p.stdin:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            self.p.stdout.close()
        self.con.log.close()
        return status


def loadavg():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except (OSError, ValueError):
        return None


def run_session(name, args, rep, base_img, cyls, loop_n, expect_sum, skip):
    """One emulator process: boot, /workload, /loop, poweroff.  A stage that
    fails is recorded in r["errors"]; the next stage still runs while the
    shell is at its prompt.  SKIP is the set of stages that timed out in an
    earlier repetition of this emulator (not run again)."""
    r = {"emulator": name, "rep": rep, "ok": False, "errors": {}, "loadavg_start": loadavg()}
    boot_timeout = max(args.boot_timeout_bochs, args.boot_timeout) if name == "bochs" else args.boot_timeout
    s = Session(name, args, rep, base_img, cyls)
    r["command"] = " ".join(shlex.quote(c) for c in s.cmd)
    r["logs"] = s.dir
    at_prompt = False

    def stage(what, limit, fn):
        nonlocal at_prompt
        if what in skip:
            r["errors"][what] = "skipped (" + skip[what] + ")"
            return
        try:
            fn()
        except Timeout:
            if what == "boot":
                r["errors"][what] = f"did not reach the prompt in {limit:.0f} s"
            else:
                r["errors"][what] = f"no result in {limit:.0f} s"
            skip[what] = f"timed out in repetition {rep}"
            at_prompt = False
        except Ended:
            r["errors"][what] = f"the emulator ended (status {s.p.poll()})"
            at_prompt = False
        except (Failed, OSError) as e:
            r["errors"][what] = str(e)

    def boot():
        nonlocal at_prompt
        _, tb = s.expect(rb"vessel guest ready", boot_timeout)
        r["banner_s"] = tb - s.t0
        _, tp = s.expect(PROMPT, max(10.0, boot_timeout - (tb - s.t0)))
        r["boot_s"] = tp - s.t0
        r["boot_cpu_s"] = s.cpu()
        at_prompt = True

    def workload():
        m, th, tc = s.command("/workload", rb"workload: elapsed ([0-9.]+) s checksum (0x[0-9a-f]+)",
                              args.work_timeout)
        r["workload_host_s"] = th
        r["workload_cpu_s"] = tc
        r["workload_guest_s"] = float(m.group(1))
        r["workload_checksum"] = m.group(2).decode()
        r["workload_checksum_ok"] = r["workload_checksum"] == expect_sum
        if not r["workload_checksum_ok"]:
            raise Failed(f"checksum {r['workload_checksum']} != native {expect_sum}")

    def loop():
        loop_rx = rb"loop: done (\d+) iterations \d+ instructions ([0-9.]+) s checksum (0x[0-9a-f]+)"
        _, t_empty, c_empty = s.command("/loop 0", loop_rx, 120)
        r["loop_overhead_s"] = t_empty
        if loop_n.get(name) is None:         # calibrate once per emulator
            n = 1000000
            while True:
                _, t, _ = s.command(f"/loop {n}", loop_rx, args.loop_timeout)
                t -= t_empty
                if t >= 0.5 or n >= 1000000000:
                    break
                n *= 8
            loop_n[name] = int(min(2000000000, max(1000000, n * args.loop_target / max(t, 1e-3))))
        n = loop_n[name]
        m, t, c = s.command(f"/loop {n}", loop_rx, args.loop_timeout)
        r["loop_iterations"] = n
        r["loop_host_s"] = t
        r["loop_cpu_s"] = c
        r["loop_checksum"] = m.group(3).decode()
        r["loop_guest_s"] = float(m.group(2))
        net = t - t_empty
        r["mips"] = 6 * n / net / 1e6 if net > 0 else None
        if c is not None and c_empty is not None and c - c_empty > 0:
            r["mips_cpu"] = 6 * n / (c - c_empty) / 1e6

    stage("boot", boot_timeout, boot)
    if at_prompt:
        stage("workload", args.work_timeout, workload)
    if at_prompt:
        stage("loop", args.loop_timeout, loop)
    r["ok"] = at_prompt and not r["errors"]
    r["stop"] = s.stop(at_prompt)
    r["session_s"] = s.wall
    r["loadavg_end"] = loadavg()
    r.update(parse_time_v(s.rss_file))
    if not r["ok"]:
        r["serial_tail"] = s.con.tail()
    if not args.keep_images:
        try:
            os.unlink(s.img)
        except OSError:
            pass
    return r


# ------------------------------------------------------------------- native
def run_native(cmd):
    """runs CMD; returns (stdout, wall seconds, CPU seconds)"""
    r0 = os.times()
    t = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    t = time.monotonic() - t
    r1 = os.times()
    return out, t, (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)


def native_loop(args, n, cache):
    if n not in cache:
        out, t, c = run_native([args.loop32, str(n)])
        m = re.search(r"checksum (0x[0-9a-f]+)", out)
        cache[n] = (m.group(1), t, c)
    return cache[n]


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        for line in (out.stdout + out.stderr).strip().splitlines():
            if re.search(r"\d+\.\d+", line) and "LTDL" not in line and not line.startswith("0000"):
                return line.strip(" =")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return None


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def fmt(v, spec="{:.2f}"):
    return "-" if v is None else spec.format(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vessel", required=True)
    ap.add_argument("--guest-img", required=True)
    ap.add_argument("--workload32", required=True)
    ap.add_argument("--workload64", required=True)
    ap.add_argument("--loop32", required=True)
    ap.add_argument("--work", required=True, help="scratch directory (images, logs)")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="vessel,qemu,bochs")
    ap.add_argument("--ram", type=int, default=256)
    ap.add_argument("--boot-timeout", type=float, default=300)
    ap.add_argument("--boot-timeout-bochs", type=float, default=600)
    ap.add_argument("--bochs-ips", type=int, default=50000000)
    ap.add_argument("--work-timeout", type=float, default=400)
    ap.add_argument("--loop-timeout", type=float, default=120)
    ap.add_argument("--loop-target", type=float, default=3.0)
    ap.add_argument("--poweroff-timeout", type=float, default=20)
    ap.add_argument("--keep-images", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--argv", default="")
    args = ap.parse_args()
    t_start = time.monotonic()
    emus = [e for e in args.only.split(",") if e]
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    load_start = loadavg()

    avail = {"vessel": os.access(args.vessel, os.X_OK), "qemu": shutil.which("qemu-system-i386") is not None,
             "bochs": shutil.which("bochs") is not None}

    img = os.path.join(args.work, "disk.img")
    cyls = make_image(args.guest_img, img, {"workload": args.workload32, "loop": args.loop32}, args.work)
    log(f"bench image {img} ({cyls} cylinders): default guest + /workload + /loop")

    # (5) native: the same i386 binary, and a native x86-64 build for the checksum
    out64, _, _ = run_native([args.workload64])
    sum64 = re.search(r"checksum (0x[0-9a-f]+)", out64).group(1)
    native = {"workload_host_s": [], "workload_cpu_s": [], "workload_guest_s": [], "checksum": None,
              "checksum_x86_64": sum64}
    for _ in range(max(3, args.reps)):
        out, t, c = run_native([args.workload32])
        m = re.search(r"elapsed ([0-9.]+) s checksum (0x[0-9a-f]+)", out)
        native["workload_host_s"].append(t)
        native["workload_cpu_s"].append(c)
        native["workload_guest_s"].append(float(m.group(1)))
        native["checksum"] = m.group(2)
    if native["checksum"] != sum64:
        log(f"WARNING: the i386 workload's checksum {native['checksum']} differs from the x86-64 build's {sum64}")
    log(f"native workload: {median(native['workload_host_s']):.3f} s, checksum {native['checksum']} "
        f"(x86-64 build: {sum64})")

    results = []
    loop_n = {}
    skips = {e: {} for e in emus}
    for rep in range(1, args.reps + 1):
        for e in emus:
            if not avail.get(e):
                continue
            if "boot" in skips[e]:
                continue
            log(f"rep {rep}/{args.reps}: {e} (load average {loadavg()}) ...")
            r = run_session(e, args, rep, img, cyls, loop_n, native["checksum"], skips[e])
            results.append(r)
            rss = r.get("peak_rss_kib")
            parts = []
            if "boot_s" in r:
                parts.append(f"boot {r['boot_s']:.2f} s")
            if "workload_host_s" in r:
                parts.append(f"workload {r['workload_host_s']:.2f} s (guest clock {r['workload_guest_s']:.2f} s, "
                             f"checksum {'ok' if r['workload_checksum_ok'] else 'MISMATCH'})")
            if r.get("mips"):
                parts.append(f"loop {r['mips']:.0f} MIPS")
            parts.append(f"peak RSS {fmt(rss and rss / 1024, '{:.0f}')} MiB")
            parts += [f"{k}: {v}" for k, v in r["errors"].items()]
            log(f"  {e}: " + "; ".join(parts) + ("" if r["ok"] else f" (logs: {r['logs']})"))

    # native loop: checksums for the iteration counts used, and the native rate
    nloop = {}
    for r in results:
        if r.get("loop_iterations"):
            r["loop_checksum_ok"] = r["loop_checksum"] == native_loop(args, r["loop_iterations"], nloop)[0]
    nl_n = min(max(loop_n.values()) if loop_n else 200000000, 1000000000)
    _, t0, c0 = run_native([args.loop32, "0"])
    _, tn, cn = native_loop(args, nl_n, nloop)
    native["loop_iterations"] = nl_n
    native["mips"] = 6 * nl_n / max(tn - t0, 1e-6) / 1e6
    native["mips_cpu"] = 6 * nl_n / max(cn - c0, 1e-2) / 1e6

    # ------------------------------------------------------------ summary
    keys = ("banner_s", "boot_s", "boot_cpu_s", "workload_host_s", "workload_cpu_s", "workload_guest_s",
            "mips", "mips_cpu", "peak_rss_kib", "session_cpu_s")
    summary = {}
    for e in emus:
        rs = [r for r in results if r["emulator"] == e]
        errs = {}
        for r in rs:
            for k, v in r["errors"].items():
                errs.setdefault(k, f"rep {r['rep']}: {v}")
        s = {"sessions": len(rs), "complete": sum(1 for r in rs if r["ok"]), "errors": errs,
             "available": bool(avail.get(e))}
        for k in keys:     # each figure from every session that measured it
            s[k] = spread([r[k] for r in rs if r.get(k) is not None])
        wl = [r["workload_checksum_ok"] for r in rs if "workload_checksum_ok" in r]
        lp = [r["loop_checksum_ok"] for r in rs if "loop_checksum_ok" in r]
        s["workload_checksum_ok"] = all(wl) if wl else None
        s["loop_checksum_ok"] = all(lp) if lp else None
        summary[e] = s
    native_s = {"workload_host_s": spread(native["workload_host_s"]),
                "workload_cpu_s": spread(native["workload_cpu_s"]),
                "workload_guest_s": spread(native["workload_guest_s"]),
                "mips": native["mips"], "mips_cpu": native["mips_cpu"]}

    def med(e, k):
        v = summary.get(e, {}).get(k) if e != "native" else native_s.get(k)
        return v["median"] if isinstance(v, dict) else v

    def ratio(a, b):
        return a / b if a is not None and b else None

    ratios = {}
    for a, b in (("vessel", "qemu"), ("vessel", "bochs"), ("vessel", "native"), ("qemu", "native"),
                 ("bochs", "native")):
        ratios[f"{a}/{b}"] = {
            "boot": ratio(med(a, "boot_s"), med(b, "boot_s")),
            "boot_cpu": ratio(med(a, "boot_cpu_s"), med(b, "boot_cpu_s")),
            "workload": ratio(med(a, "workload_host_s"), med(b, "workload_host_s")),
            "workload_cpu": ratio(med(a, "workload_cpu_s"), med(b, "workload_cpu_s")),
            "mips": ratio(med(a, "mips"), med(b, "mips")),
            "peak_rss": ratio(med(a, "peak_rss_kib"), med(b, "peak_rss_kib")),
        }

    # Paired ratios: the emulators run one after the other in each
    # repetition, so the ratio within a repetition cancels most of a drift
    # of the host's speed between repetitions (a shared machine).
    def by_rep(e, k):
        return {r["rep"]: r[k] for r in results if r["emulator"] == e and r.get(k) is not None}

    paired = {}
    for a, b in (("vessel", "qemu"), ("vessel", "bochs")):
        paired[f"{a}/{b}"] = {}
        for k, name in (("boot_s", "boot"), ("workload_host_s", "workload")):
            ra, rb = by_rep(a, k), by_rep(b, k)
            paired[f"{a}/{b}"][name] = spread([ra[n] / rb[n] for n in sorted(ra) if n in rb and rb[n]])

    vb, qb, bb = med("vessel", "boot_s"), med("qemu", "boot_s"), med("bochs", "boot_s")
    vw, qw, bw = med("vessel", "workload_host_s"), med("qemu", "workload_host_s"), med("bochs", "workload_host_s")
    vr = med("vessel", "peak_rss_kib")
    targets = {   # issue 9's targets, informative only (never a pass/fail of this script)
        "boot <= 2x QEMU": None if vb is None or qb is None else vb <= 2 * qb,
        "workload <= 3x QEMU": None if vw is None or qw is None else vw <= 3 * qw,
        "boot >= 5x faster than Bochs": None if vb is None or bb is None else 5 * vb <= bb,
        "workload >= 5x faster than Bochs": None if vw is None or bw is None else 5 * vw <= bw,
        "peak RSS <= RAM + 64 MiB": None if vr is None else vr <= (args.ram + 64) * 1024,
    }

    git = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(), "nproc": os.cpu_count(), "host_kernel": os.uname().release, "git": git,
        "loadavg_start": load_start, "loadavg_end": loadavg(),
        "invocation": args.argv, "reps": args.reps, "quick": args.quick, "guest_ram_mib": args.ram,
        "versions": {"vessel": version([args.vessel, "-version"]),
                     "qemu": version(["qemu-system-i386", "--version"]),
                     "bochs": version(["bochs", "--help"])},
        "commands": {e: " ".join(shlex.quote(c) for c in emulator_cmd(e, args, "DISK", cyls, "bochsrc"))
                     for e in ("vessel", "qemu", "bochs")},
        "bochsrc": bochsrc_text(args, cyls),
        "guest_commands": ["/workload", "/loop 0", f"/loop N (N calibrated once per emulator to ~{args.loop_target:g} s)"],
        "native_commands": [args.workload32, args.workload64, args.loop32 + " N"],
        "timeouts_s": {"boot": args.boot_timeout, "boot_bochs": args.boot_timeout_bochs,
                       "workload": args.work_timeout, "loop": args.loop_timeout},
        "native": {**native, "summary": native_s},
        "summary": summary, "ratios": ratios, "paired_ratios": paired, "targets_informative": targets,
        "runs": results, "elapsed_s": None,
    }

    doc["elapsed_s"] = time.monotonic() - t_start
    doc["emulators"] = emus
    doc["paths"] = {"json": os.path.join(args.out, "latest.json"), "serial_logs": os.path.join(args.work, "runs")}
    table = render(doc)
    doc["table"] = table
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "latest.txt"), "w") as f:
        f.write(table + "\n")
    print(table)


def render(doc):
    """the table of a result document (also: harness.py --render JSON)"""
    summary, native, ratios = doc["summary"], doc["native"], doc["ratios"]
    native_s = native["summary"]

    def cell(sp, spec="{:.2f}", scale=1.0, w=22, mm=True):
        if not sp:
            return f"{'-':>{w}}"
        t = spec.format(sp["median"] * scale)
        if mm and sp["n"] > 1:
            t += " [" + spec.format(sp["min"] * scale) + "-" + spec.format(sp["max"] * scale) + "]"
        return f"{t:>{w}}"

    L = []
    L.append(f"vessel speed benchmark, {doc['date']}, {doc['cpu']} ({doc['nproc']} cores), git {doc['git']}")
    L.append(f"same disk image (default guest + /workload), {doc['guest_ram_mib']} MiB RAM, {doc['reps']} "
             f"repetition(s) each, alternating; median [min-max]; load average {doc['loadavg_start']} -> "
             f"{doc['loadavg_end']}")
    L.append(f"{'':8} {'boot to prompt':>32} {'workload (Enter to result)':>38} {'loop MIPS':>25} {'peak RSS':>9}")
    L.append(f"{'':8} {'wall s':>22} {'CPU s':>9} {'wall s':>19} {'CPU s':>9} {'guest s':>8} {'wall':>15} {'CPU':>9} "
             f"{'MiB':>9} checksum")
    notes = []
    for e in doc["emulators"]:
        s = summary[e]
        if not s["available"]:
            L.append(f"{e:8} not run: not installed / not built")
            continue
        if s["sessions"] == 0:
            L.append(f"{e:8} not run")
            continue
        ck = [s["workload_checksum_ok"], s["loop_checksum_ok"]]
        ok = "MISMATCH" if False in ck else ("ok" if ck == [True, True] else ("ok (wl)" if ck[0] else "-"))
        L.append(f"{e:8} {cell(s['boot_s'])} {cell(s['boot_cpu_s'], w=9, mm=False)} {cell(s['workload_host_s'], w=19)} "
                 f"{cell(s['workload_cpu_s'], w=9, mm=False)} {cell(s['workload_guest_s'], w=8, mm=False)} "
                 f"{cell(s['mips'], '{:.0f}', w=15)} {cell(s['mips_cpu'], '{:.0f}', w=9, mm=False)} "
                 f"{cell(s['peak_rss_kib'], '{:.0f}', 1 / 1024, 9, mm=False)} {ok}")
        for k, v in s["errors"].items():
            notes.append(f"  {e} {k}: {v}")
    L.append(f"{'native':8} {'':>22} {'':>9} {cell(native_s['workload_host_s'], '{:.3f}', w=19)} "
             f"{cell(native_s['workload_cpu_s'], '{:.3f}', w=9, mm=False)} "
             f"{cell(native_s['workload_guest_s'], '{:.3f}', w=8, mm=False)} {native['mips']:>15.0f} "
             f"{native['mips_cpu']:>9.0f} {'':>9} ok")
    if notes:
        L.append("failures:")
        L += notes
    L.append("")
    L.append(f"{'ratio':14} {'boot':>7} {'boot CPU':>9} {'workload':>9} {'wl CPU':>7} {'MIPS':>7} {'RSS':>6}"
             "   (time and RSS ratios > 1: the first is slower/bigger; MIPS > 1: the first is faster)")
    for k, v in ratios.items():
        L.append(f"{k:14} {fmt(v['boot']):>7} {fmt(v['boot_cpu']):>9} {fmt(v['workload']):>9} "
                 f"{fmt(v['workload_cpu']):>7} {fmt(v['mips']):>7} {fmt(v['peak_rss']):>6}")
    pr = [f"{k} {n} {cell(v, w=0)}" for k, d in (doc.get("paired_ratios") or {}).items() for n, v in d.items() if v]
    if pr:
        L.append("paired ratios (the two sessions of one repetition, run back to back), median [min-max]: " +
                 "; ".join(pr))
    L.append("")
    L.append("issue 9 targets (informative, from the medians above): " + "; ".join(
        f"{k}: {'-' if v is None else ('met' if v else 'NOT met')}" for k, v in doc["targets_informative"].items()))
    L.append(f"benchmark wall time {doc['elapsed_s']:.0f} s; JSON: {doc['paths']['json']}; "
             f"serial logs: {doc['paths']['serial_logs']}")
    return "\n".join(L)

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        print(render(json.load(open(sys.argv[2]))))
    else:
        main()
