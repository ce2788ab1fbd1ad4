#!/bin/sh
# bench/snapshot_speed.sh - time and size of a whole-machine snapshot (not
# asserted): SeaBIOS booted with RAM_MIB of RAM (default 256) and no disk,
# saved with -savevm-at once its POST is done (it then waits for a boot
# device), and loaded again with -loadvm in a new process.  Reports the
# median of REPS runs of each, and the file size.
#
# usage: bench/snapshot_speed.sh [BUILD_DIR] [RAM_MIB] [REPS]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
ram=${2:-256}
reps=${3:-5}
vessel=$build/vessel
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
S="-nographic -no-reboot -icount shift=0 -m $ram"

# Where does POST end?  Save at 95% of a full no-disk run.
total=$("$vessel" $S -d exitstate </dev/null 2>&1 >/dev/null | sed -n 's/^exitstate: icount=\([0-9]*\).*/\1/p')
[ -n "$total" ] || { echo "vessel cannot boot SeaBIOS (roms/bios.bin?)" >&2; exit 1; }
at=$((total * 95 / 100))

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$tmp/save"; : >"$tmp/load"
for r in $(seq "$reps"); do
    "$vessel" $S -savevm-at "$at:$tmp/snap.vsn" </dev/null 2>&1 >/dev/null |
        sed -n 's/.*saved snapshot .*(\([0-9.]*\) ms.*/\1/p' >>"$tmp/save"
    VESSEL_SNAPSHOT_TIMING=1 "$vessel" $S -loadvm "$tmp/snap.vsn" </dev/null 2>&1 >/dev/null |
        sed -n 's/.*loaded snapshot .*(\([0-9.]*\) ms).*/\1/p' >>"$tmp/load"
done
size=$(wc -c <"$tmp/snap.vsn")
printf 'CPU: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf 'SeaBIOS, %d MiB RAM + 16 MiB VRAM, saved at icount %d; median of %d\n' "$ram" "$at" "$reps"
printf 'save (incl. fsync)  %8.1f ms\n' "$(median <"$tmp/save")"
printf 'load                %8.1f ms\n' "$(median <"$tmp/load")"
printf 'file size           %8.1f KiB\n' "$(echo "$size / 1024" | bc -l)"
