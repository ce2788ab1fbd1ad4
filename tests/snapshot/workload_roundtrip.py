#!/usr/bin/env python3
"""workload_roundtrip.py VESSEL GUESTDIR - the issue's round trip.

bench/workload/workload.c is built static for i386 (gcc -m32, as
bench/run.sh does) and put into a copy of the default guest's disk.img
(debugfs).  Process 1 boots, writes /root/a.txt (sync), starts
`/workload SCALE`, and `savevm mid` is taken while it runs; it then writes
/root/b.txt after the workload and is killed with SIGKILL.  Process 2 is a
new vessel started with `-hda disk.img -loadvm mid` (disk.img is frozen:
-loadvm opens it read-only and switches the drive to a new overlay): the
workload finishes there with the checksum the same binary prints natively,
the shell answers, a.txt is there and b.txt is not (in the guest, and on
the host through the image chain); qemu-img check finds no errors in any
qcow2 file (the killed process's overlay may only have leaked clusters).
Exits 77 (skipped) when no 32-bit static toolchain is available.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestlib import (Checks, guest_disk, Console, Fail, Monitor, boot_to_prompt, cleanup, guest_files,  # noqa: E402
                      put_files, qemu_img_check, vessel_cmd, workdir)

vessel, guest = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
BOOT = float(os.environ.get("GUEST_TIMEOUT", "240"))
SCALE = os.environ.get("WORKLOAD_SCALE", "12")
src = guest_disk(guest)

work = workdir("snap_workload.")
check = Checks()
failures = check.failures


wl_src = os.path.join(here, "..", "..", "bench", "workload", "workload.c")
wl = os.path.join(work, "workload.i386")
cc = None
for cand in (["gcc", "-m32"], ["i686-linux-gnu-gcc"]):
    if shutil.which(cand[0]) and subprocess.run(
            cand + ["-static", "-O2", "-Wall", "-o", wl, wl_src], capture_output=True).returncode == 0:
        cc = cand
        break
if not cc:
    print("SKIP: cannot build a static i386 workload (gcc-multilib / libc6-dev-i386 missing)")
    cleanup(work)
    sys.exit(77)
native = subprocess.run([wl, SCALE], capture_output=True, text=True, check=True).stdout
want = re.search(r"checksum (0x[0-9a-f]+)", native).group(1)
print(f"native /workload {SCALE}: checksum {want}")

c = None
try:
    disk = os.path.join(work, "disk.img")
    shutil.copyfile(src, disk)
    put_files(disk, {"/workload": wl}, work)
    sock = os.path.join(work, "mon.sock")
    c = Console(vessel_cmd(vessel, disk, sock), os.path.join(work, "serial1.log"))
    mon = Monitor(sock)
    boot_to_prompt(c, BOOT)
    c.run("echo token-A >/root/a.txt && sync")
    c.send(f"/workload {SCALE}")
    c.expect(r"workload: hash ", 120, "the workload's first phase")
    out = mon.cmd("savevm mid")
    check("done in" in out, f"savevm mid while the workload runs: {out.strip()}")
    c.expect(r"workload: elapsed [0-9.]+ s checksum (0x[0-9a-f]+)\r?\n", 300, "the workload's end (process 1)")
    c.expect(r"vessel# ", 30, "the prompt")
    c.run("echo token-B >/root/b.txt && sync")
    c.kill9()
    c.close()
    c = None
    print("     process 1 killed with SIGKILL")

    c = Console(vessel_cmd(vessel, disk, None, ["-loadvm", "mid"]), os.path.join(work, "serial2.log"))
    t0 = time.monotonic()
    m = c.expect(r"workload: elapsed [0-9.]+ s checksum (0x[0-9a-f]+)\r?\n", 300,
                 "the workload's end (process 2, after -loadvm)")
    got = m.group(1).decode()
    check(got == want, f"the loaded workload finished with checksum {got} (native {want}) "
          f"after {time.monotonic() - t0:.1f}s")
    c.expect(r"vessel# ", 30, "the prompt after the workload")
    out = c.run("uname -m; cat /root/a.txt; ls /root/b.txt 2>&1")
    check("i686" in out and "token-A" in out and "No such file" in out,
          f"the shell works; a.txt there, b.txt not: {out.strip()!r}")
    c.send("poweroff")
    st = c.wait_exit(90)
    check(st == 0, f"poweroff: exit status {st}")
    c.close()
    c = None

    ovl = sorted(f for f in os.listdir(work) if f.endswith(".qcow2"))
    check(ovl == ["mid.hda.2.qcow2", "mid.hda.qcow2"], f"overlays: {ovl}")
    for f in ovl:
        rc, txt = qemu_img_check(os.path.join(work, f))
        ok = rc == 0 or (f == "mid.hda.qcow2" and rc == 3 and "leaked" in txt)
        check(ok, f"qemu-img check {f} (status {rc}): {txt.splitlines()[0]}")
    files = guest_files(os.path.join(work, "mid.hda.2.qcow2"), ["/root/a.txt", "/root/b.txt"], work)
    check(files["/root/a.txt"] == "token-A\n" and files["/root/b.txt"] is None,
          f"host view of the loaded run's disk: a.txt, no b.txt: {files}")
except (Fail, OSError, subprocess.CalledProcessError) as e:
    failures.append(str(e))
    print(f"FAIL: {e}")
    if c:
        print("--- serial (last lines):\n" + c.tail())
finally:
    if c:
        c.close()
if failures:
    print(f"workload_roundtrip: {len(failures)} failure(s); files kept in {work}")
    sys.exit(1)
cleanup(work)
print("workload_roundtrip: ok")
