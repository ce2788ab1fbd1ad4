"""guestlib.py - shared helpers of the Linux snapshot tests (disk_ab.py,
workload_roundtrip.py): the default guest's serial console on stdio, the
monitor on a UNIX socket, and host-side checks of disk image chains
(qemu-img check / convert, e2fsck journal replay, debugfs).

Nothing here modifies the guest build directory: callers copy disk.img
into their own temporary directory first.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from serialcon import Fail, SerialConsole  # noqa: E402  (shared console driver)

PROMPT = b"(vessel) "


class Console(SerialConsole):
    """The emulator process, its serial console on stdin/stdout."""

    def __init__(self, cmd, log):
        self.cmd = cmd
        self.log = open(log, "wb")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, bufsize=0)
        self.console_init()

    def drain(self, seconds=0.2):
        end = time.monotonic() + seconds
        while self.pump(end):
            pass

    def run(self, line, timeout=60, what=None):
        """Run a shell command line; returns its output (the lines between
        the echoed command and an end marker that only the shell's
        arithmetic produces, so the echoed command cannot match it)."""
        self.n = getattr(self, "n", 0) + 1
        self.send(f"{line}; echo END{self.n}-$((40+2))")
        echo = self.expect(rf"END{self.n}-\$\(\(40\+2\)\)\n", 30, f"the echo of {what or line!r}")
        m = self.expect(rf"END{self.n}-42\n", timeout, what or line)
        self.expect(r"vessel# ", 30, "the prompt after " + (what or line))
        return self.buf[echo.end():m.start()].decode(errors="replace")

    def kill9(self):
        if self.p.poll() is None:
            self.p.send_signal(9)
            self.p.wait()
        self.drain(0.1)

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.p.poll() is None:
            if self.pump(deadline) is False:
                raise Fail(f"the emulator did not exit within {timeout:.0f}s")
        self.drain(0.2)
        return self.p.wait()

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.log.close()

    def tail(self, n=30):
        return "\n".join(self.buf.decode(errors="replace").splitlines()[-n:])


class Monitor:
    """vessel's monitor on -monitor unix:PATH,server,nowait."""

    def __init__(self, path, timeout=30):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                if time.time() > deadline:
                    raise Fail(f"no monitor on {path}")
                time.sleep(0.1)
        self.buf = b""
        self.read_until(PROMPT)

    def read_until(self, token, timeout=120):
        deadline = time.time() + timeout
        while token not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise Fail(f"monitor: waiting for {token!r}, have {self.buf[-200:]!r}")
            self.s.settimeout(left)
            d = self.s.recv(65536)
            if not d:
                raise Fail(f"monitor closed (have {self.buf[-200:]!r})")
            self.buf += d
        i = self.buf.index(token) + len(token)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def cmd(self, line, timeout=120):
        self.s.sendall(line.encode() + b"\n")
        return self.read_until(PROMPT, timeout)[: -len(PROMPT)]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def vessel_cmd(vessel, disk, monsock=None, extra=()):
    cmd = [vessel, "-M", "pc", "-cpu", "pentium2", "-m", "256", "-nographic", "-no-reboot",
           "-hda", disk]
    if monsock:
        cmd += ["-monitor", f"unix:{monsock},server,nowait"]
    return cmd + list(extra)


def boot_to_prompt(c, timeout):
    c.expect(r"vessel guest ready", timeout, '"vessel guest ready"')
    c.expect(r"vessel# ", 60, "the shell prompt")


# ---------------------------------------------------------------- host side
def partition2(img):
    out = subprocess.run(["sfdisk", "-d", img], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\S+2 : start=\s*(\d+), size=\s*(\d+)", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise Fail(f"no partition 2 in {img}")


def put_files(img, files, work):
    """Write FILES {guest path: host path} (mode 0755) into the root file
    system (partition 2) of the raw image IMG."""
    start, size = partition2(img)
    part = os.path.join(work, "root.ext4")
    with open(img, "rb") as f, open(part, "wb") as o:
        f.seek(start * 512)
        o.write(f.read(size * 512))
    cmds = []
    for name, src in files.items():
        cmds += [f"rm {name}", f"write {src} {name}", f"set_inode_field {name} mode 0100755",
                 f"set_inode_field {name} uid 0", f"set_inode_field {name} gid 0"]
    cf = os.path.join(work, "debugfs.cmd")
    with open(cf, "w") as c:
        c.write("\n".join(cmds) + "\n")
    subprocess.run(["debugfs", "-w", "-f", cf, part], capture_output=True, check=True)
    chk = subprocess.run(["e2fsck", "-fn", part], capture_output=True, text=True)
    if chk.returncode != 0:
        raise Fail("the root file system does not check clean after adding files:\n" + chk.stdout)
    with open(part, "rb") as p, open(img, "r+b") as o:
        o.seek(start * 512)
        o.write(p.read())
    os.unlink(part)


def qemu_img_check(path):
    """(returncode, output) of qemu-img check on a qcow2 image."""
    r = subprocess.run(["qemu-img", "check", path], capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


def chain_files(path):
    """path's image chain as qemu-img sees it (top first)."""
    r = subprocess.run(["qemu-img", "info", "--backing-chain", "--output=json", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Fail(f"qemu-img info {path}: {r.stderr.strip()}")
    import json
    return [(i["filename"], i["format"]) for i in json.loads(r.stdout)]


def guest_files(img, paths, work):
    """Read files of the guest's root file system through the image chain at
    IMG (qemu-img convert to raw, partition 2, e2fsck replays the journal,
    debugfs reads): {path: content or None when absent}."""
    raw = os.path.join(work, "chain.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", img, raw], check=True,
                   capture_output=True)
    start, size = partition2(raw)
    part = os.path.join(work, "chain.ext4")
    with open(raw, "rb") as f, open(part, "wb") as o:
        f.seek(start * 512)
        o.write(f.read(size * 512))
    os.unlink(raw)
    fsck = subprocess.run(["e2fsck", "-fy", part], capture_output=True, text=True)
    if fsck.returncode not in (0, 1):
        raise Fail(f"e2fsck on the file system of {img}: status {fsck.returncode}\n{fsck.stdout[-800:]}")
    out = {}
    for p in paths:
        r = subprocess.run(["debugfs", "-R", f"cat {p}", part], capture_output=True)
        err = r.stderr.decode(errors="replace")
        out[p] = None if "not found" in err else r.stdout.decode(errors="replace")
    os.unlink(part)
    return out


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("TMPDIR", "/tmp"))


def cleanup(d):
    # frozen files are read-only: make the tree writable before removing it
    for root, dirs, files in os.walk(d):
        for f in files + dirs:
            try:
                os.chmod(os.path.join(root, f), 0o755)
            except OSError:
                pass
    shutil.rmtree(d, ignore_errors=True)


def guest_disk(guest):
    """The default guest's disk.img in build-guest.sh's output directory
    guest; a missing image is a failure (exit 1), never a skip."""
    src = os.path.join(guest, "disk.img")
    if not os.path.isfile(src):
        print(f"FAIL: {src} missing (run scripts/build-guest.sh first)")
        sys.exit(1)
    return src


class Checks:
    """Prints "ok   WHAT" or "FAIL WHAT" per check; failures lists the failed."""

    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            self.failures.append(what)
