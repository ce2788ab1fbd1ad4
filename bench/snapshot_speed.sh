#!/bin/sh
# bench/snapshot_speed.sh - time and size of whole-machine snapshots of a
# BOOTED Linux guest (issue 7 targets: save < 1 s, load < 0.5 s).
#
# The default guest (a copy of GUESTDIR/disk.img, 256 MiB RAM by default)
# boots to the "vessel# " shell prompt; then, through the monitor on a UNIX
# socket, REPS times: `savevm bench` (the disk is frozen and a new qcow2
# overlay made each time, as in real use) and `loadvm bench`; the times are
# the monitor's own "done in X ms" (wall time of the command, including
# fsync, overlay creation and the disk switch).  Reports the median and the
# range, the snapshot file size and the overlay files; writes the report to
# bench/results/snapshot_speed.txt together with the command that made it.
#
# usage: bench/snapshot_speed.sh [BUILD_DIR] [GUESTDIR] [RAM_MIB] [REPS]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
guest=${2:-build/guest}
ram=${3:-256}
reps=${4:-5}
out=bench/results/snapshot_speed.txt
cmdline="bench/snapshot_speed.sh $*"
mkdir -p bench/results
python3 - "$build/vessel" "$guest" "$ram" "$reps" "$out" "$cmdline" <<'PYEOF'
import os, re, shutil, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "snapshot"))
from guestlib import Console, Monitor, boot_to_prompt, cleanup, workdir

vessel, guest, ram, reps, out, cmdline = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
work = workdir("snapspeed.")
disk = os.path.join(work, "disk.img")
shutil.copyfile(os.path.join(guest, "disk.img"), disk)
sock = os.path.join(work, "mon.sock")
cmd = [vessel, "-M", "pc", "-cpu", "pentium2", "-m", ram, "-nographic", "-no-reboot", "-hda", disk,
       "-monitor", f"unix:{sock},server,nowait"]
c = Console(cmd, os.path.join(work, "serial.log"))
save, load = [], []
try:
    mon = Monitor(sock)
    boot_to_prompt(c, 300)
    c.run("sync")
    time.sleep(2)   # let the guest settle at the prompt
    for _ in range(reps):
        o = mon.cmd("savevm bench")
        m = re.search(r"done in ([0-9.]+) ms", o)
        if not m:
            raise SystemExit("savevm failed: " + o)
        save.append(float(m.group(1)))
        size = os.path.getsize(os.path.join(work, "bench.vsn"))
        o = mon.cmd("loadvm bench")
        m = re.search(r"done in ([0-9.]+) ms", o)
        if not m:
            raise SystemExit("loadvm failed: " + o)
        load.append(float(m.group(1)))
    c.send("")
    c.expect(r"vessel# ", 30, "the prompt after the last loadvm")
    o = c.run("echo alive")
    ok = "alive" in o
    ovl = sorted(f for f in os.listdir(work) if f.endswith(".qcow2"))
finally:
    c.close()
cpu = ""
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
med = lambda v: statistics.median(v)
git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
rep = []
rep.append(f"vessel snapshot speed, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}, {cpu} ({os.cpu_count()} cores), git {git}")
rep.append(f"command: {cmdline}")
rep.append(f"booted Linux guest at the shell prompt, {ram} MiB RAM + 16 MiB VRAM, disk {os.path.basename(disk)} (raw, 64 MiB); {reps} savevm+loadvm pairs via the monitor")
rep.append(f"savevm (incl. fsync, disk freeze + new qcow2 overlay)  median {med(save):7.1f} ms  [{min(save):.1f}-{max(save):.1f}]  target < 1000 ms: {'met' if med(save) < 1000 else 'NOT met'}")
rep.append(f"loadvm (incl. new qcow2 overlay, disk switch)         median {med(load):7.1f} ms  [{min(load):.1f}-{max(load):.1f}]  target < 500 ms: {'met' if med(load) < 500 else 'NOT met'}")
rep.append(f"snapshot file size  {size / 1048576:.1f} MiB ({size} bytes)")
rep.append(f"overlay files made  {len(ovl)} (one per loadvm; a savevm right after a loadvm reuses the still empty overlay)")
rep.append(f"guest shell after the last loadvm: {'answers' if ok else 'DOES NOT ANSWER'}")
text = "\n".join(rep) + "\n"
print(text, end="")
open(out, "w").write(text)
cleanup(work)
PYEOF
