#!/usr/bin/env python3
"""disk_ab.py VESSEL GUESTDIR - disks follow snapshots (issue 7, "Disk").

On a copy of the default guest's disk.img (raw), with the monitor on a UNIX
socket and the snapshot directory next to the image (the default):
  1. boot, write /root/a.txt, sync; `savevm s1`: disk.img loses its write
     permission bits (frozen), s1.hda.qcow2 (qcow2 v3, backing disk.img,
     backing_fmt raw) is created and the drive writes there;
  2. write /root/b.txt, sync; `loadvm s1`: in the guest a.txt is there and
     b.txt is not; the drive moved to a fresh overlay s1.hda.2.qcow2 on
     disk.img, and s1.hda.qcow2 (the abandoned writes) still holds b.txt;
  3. `info snapshots` names the directory, s1's frozen image and the chain;
  4. write /root/c.txt, sync, poweroff; on the host, through each chain
     (qemu-img convert -> e2fsck journal replay -> debugfs): the final
     overlay has a+c and no b, s1.hda.qcow2 has a+b; `qemu-img check` is
     clean on every qcow2 file; qemu-img sees the backing chain;
  5. `vessel -hda disk.img` (frozen) fails with one line naming an overlay;
  6. -snapshot drive: savevm keeps the temporary overlay's data in a frozen
     s2.hda.frozen.qcow2 and loadvm goes back to it (checked in the guest);
  7. delvm removes overlays nothing references any more, keeps the rest.
"""
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestlib import (Checks, guest_disk, Console, Fail, Monitor, boot_to_prompt, chain_files, cleanup,  # noqa: E402
                      guest_files, qemu_img_check, vessel_cmd, workdir)

vessel, guest = sys.argv[1], sys.argv[2]
BOOT = float(os.environ.get("GUEST_TIMEOUT", "240"))
src = guest_disk(guest)

work = workdir("snap_disk_ab.")
check = Checks()
failures = check.failures


def writable(p):
    return bool(os.stat(p).st_mode & 0o222)


c = None
try:
    disk = os.path.join(work, "disk.img")
    shutil.copyfile(src, disk)
    sock = os.path.join(work, "mon.sock")
    c = Console(vessel_cmd(vessel, disk, sock), os.path.join(work, "serial1.log"))
    mon = Monitor(sock)
    boot_to_prompt(c, BOOT)
    c.run("echo token-A >/root/a.txt && sync")

    out = mon.cmd("savevm s1")
    check("done in" in out and "s1.hda.qcow2" in out, f"savevm s1: {out.strip()}")
    ovl1 = os.path.join(work, "s1.hda.qcow2")
    check(os.path.isfile(ovl1), "savevm created the overlay s1.hda.qcow2")
    check(not writable(disk), "disk.img is frozen (no write permission bits)")
    chain = chain_files(ovl1)
    check([os.path.basename(f) for f, _ in chain] == ["s1.hda.qcow2", "disk.img"] and
          [f for _, f in chain] == ["qcow2", "raw"], f"qemu-img sees the chain {chain}")
    info = subprocess.run(["qemu-img", "info", ovl1], capture_output=True, text=True).stdout
    check("compat: 1.1" in info and "backing file format: raw" in info,
          "the overlay is qcow2 v3 (compat 1.1) with backing_fmt raw")

    c.run("echo token-B >/root/b.txt && sync")
    out = mon.cmd("loadvm s1")
    check("done in" in out and "s1.hda.2.qcow2" in out, f"loadvm s1: {out.strip()}")
    c.send("")
    c.expect(r"vessel# ", 30, "the prompt after loadvm")
    out = c.run("cat /root/a.txt; ls /root/b.txt 2>&1")
    check("token-A" in out and "No such file" in out,
          f"after loadvm the guest sees a.txt and no b.txt: {out.strip()!r}")
    ovl2 = os.path.join(work, "s1.hda.2.qcow2")
    check(os.path.isfile(ovl2) and writable(ovl2), "loadvm made a fresh overlay s1.hda.2.qcow2")
    check(writable(ovl1), "the abandoned overlay s1.hda.qcow2 is kept (writable, not frozen)")

    out = mon.cmd("info snapshots")
    check(f"List of snapshots present in {work}" in out and "s1" in out and
          f"hda: frozen image {disk} (raw)" in out and "s1.hda.2.qcow2" in out,
          "info snapshots: directory, frozen image and current chain")
    print("     " + out.strip().replace("\n", "\n     "))

    c.run("echo token-C >/root/c.txt && sync")
    c.send("poweroff")
    st = c.wait_exit(90)
    check(st == 0, f"poweroff: exit status {st}")
    c.close()
    c = None

    for f in sorted(os.listdir(work)):
        if f.endswith(".qcow2"):
            rc, txt = qemu_img_check(os.path.join(work, f))
            check(rc == 0 and "No errors were found" in txt, f"qemu-img check {f}: {txt.splitlines()[0]}")
    got = guest_files(ovl2, ["/root/a.txt", "/root/b.txt", "/root/c.txt"], work)
    check(got["/root/a.txt"] == "token-A\n" and got["/root/b.txt"] is None and
          got["/root/c.txt"] == "token-C\n",
          f"host view of s1.hda.2.qcow2 chain: a+c, no b: {got}")
    got = guest_files(ovl1, ["/root/a.txt", "/root/b.txt"], work)
    check(got["/root/a.txt"] == "token-A\n" and got["/root/b.txt"] == "token-B\n",
          f"host view of the abandoned s1.hda.qcow2: a+b (writes after the snapshot survive): {got}")
    got = guest_files(disk, ["/root/a.txt", "/root/b.txt"], work)
    check(got["/root/a.txt"] == "token-A\n" and got["/root/b.txt"] is None,
          f"host view of the frozen disk.img: a, no b: {got}")

    # A frozen image opened for writing: one clear error line naming an overlay.
    r = subprocess.run([vessel, "-nographic", "-hda", disk], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    lines = r.stderr.strip().splitlines()
    check(r.returncode != 0 and len(lines) == 1 and "frozen" in lines[0] and "s1.hda" in lines[0],
          f"vessel -hda <frozen image>: {r.returncode}: {lines}")

    # -snapshot: the temporary overlay is kept in a frozen file at savevm.
    sock2 = os.path.join(work, "mon2.sock")
    c = Console(vessel_cmd(vessel, ovl2, sock2, ["-snapshot"]), os.path.join(work, "serial2.log"))
    mon = Monitor(sock2)
    boot_to_prompt(c, BOOT)
    c.run("echo token-D >/root/d.txt && sync")
    out = mon.cmd("savevm s2")
    fz = os.path.join(work, "s2.hda.frozen.qcow2")
    check(os.path.isfile(fz) and not writable(fz) and not writable(ovl2),
          f"-snapshot savevm: the overlay's data kept in a frozen s2.hda.frozen.qcow2: {out.strip()}")
    c.run("echo token-E >/root/e.txt && sync")
    out = mon.cmd("loadvm s2")
    c.send("")
    c.expect(r"vessel# ", 30, "the prompt after loadvm s2")
    out = c.run("cat /root/d.txt; ls /root/e.txt 2>&1")
    check("token-D" in out and "No such file" in out, f"-snapshot loadvm: d.txt, no e.txt: {out.strip()!r}")
    out = mon.cmd("info snapshots")
    check("temporary -snapshot overlay on " + fz in out, "info snapshots: temporary overlay on the frozen file")

    # delvm: s1's overlays stay while s2 and the drive stand on them; after
    # deleting s2 the drive still needs its chain.
    out = mon.cmd("delvm s1")
    check("done in" in out and os.path.isfile(ovl2) and os.path.isfile(fz),
          f"delvm s1 keeps what s2 and the drive use: {out.strip()}")
    check(not os.path.exists(ovl1), "delvm s1 removed the abandoned overlay s1.hda.qcow2 nothing references")
    c.send("poweroff")
    c.wait_exit(90)
    c.close()
    c = None
    rc, txt = qemu_img_check(fz)
    check(rc == 0, f"qemu-img check s2.hda.frozen.qcow2: {txt.splitlines()[0]}")
except (Fail, OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
    failures.append(str(e))
    print(f"FAIL: {e}")
    if c:
        print("--- serial (last lines):\n" + c.tail())
finally:
    if c:
        c.close()
if failures:
    print(f"disk_ab: {len(failures)} failure(s); files kept in {work}")
    sys.exit(1)
cleanup(work)
print("disk_ab: ok")
