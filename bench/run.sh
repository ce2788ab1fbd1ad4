#!/bin/sh
# bench/run.sh - vessel vs QEMU TCG vs Bochs on the same guest disk image
# (issue 9).  See bench/README.md.
#
# usage: bench/run.sh [--quick] [--reps N] [--only vessel,qemu,bochs] [BUILD_DIR]
#   BUILD_DIR   vessel's CMake build directory (default: build); vessel is
#               (re)built there first, the guest image goes to BUILD_DIR/guest
#               (scripts/build-guest.sh, cached), scratch files to BUILD_DIR/bench
#   --quick     1 repetition, shorter loop and timeouts (a smoke run, ~5 min)
#   --reps N    repetitions per emulator (default 3)
#   --only L    comma-separated subset of vessel,qemu,bochs
# environment:
#   GUEST_DIR=DIR          use this build-guest.sh output instead of BUILD_DIR/guest
#   BENCH_BOOT_TIMEOUT=S   seconds allowed to reach the prompt (default 300;
#                          Bochs always gets at least 600)
#   BENCH_RESULTS=DIR      where latest.json/latest.txt go (default bench/results)
#   BENCH_NO_INSTALL=1     do not apt-get install missing tools
# Output: the table on stdout, BENCH_RESULTS/latest.json and latest.txt.
# Timing is never a pass/fail: the exit status is 0 when the harness worked.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
argv="bench/run.sh $*"

quick=0 reps=3 only=vessel,qemu,bochs build=
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1 ;;
        --reps) reps=$2; shift ;;
        --reps=*) reps=${1#*=} ;;
        --only) only=$2; shift ;;
        --only=*) only=${1#*=} ;;
        -h|--help) sed -n '2,/^# Timing/p' "$0"; exit 0 ;;
        -*) echo "bench: unknown option $1" >&2; exit 2 ;;
        *) build=$1 ;;
    esac
    shift
done
build=${build:-$root/build}
mkdir -p "$build"
build=$(cd "$build" && pwd)
work=$build/bench
results=${BENCH_RESULTS:-$here/results}
mkdir -p "$work" "$results"
log() { echo "bench: $*" >&2; }

# ------------------------------------------------------------ host tools
need=""
chk() { command -v "$1" >/dev/null 2>&1 || [ -e "$1" ] || need="$need $2"; }
chk qemu-system-i386 qemu-system-x86
chk bochs bochs
chk /usr/share/bochs/BIOS-bochs-latest bochsbios
chk /usr/share/vgabios/vgabios.bin vgabios
chk /usr/bin/time time
chk debugfs e2fsprogs
chk sfdisk fdisk
chk python3 python3
chk cmake cmake
[ -e /usr/lib32/libc.a ] || [ -e /usr/lib/gcc-cross/i686-linux-gnu ] || need="$need gcc-multilib libc6-dev-i386"
if [ -n "$need" ]; then
    if [ "${BENCH_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" -eq 0 ]; then
        log "installing:$need"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
    else
        log "missing Debian packages:$need (the benchmark skips what it cannot run)"
    fi
fi
export PATH="$PATH:/usr/sbin:/sbin"

# ---------------------------------------------------------------- vessel
if [ -f "$build/CMakeCache.txt" ] || [ ! -e "$build/vessel" ]; then
    [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    if ! cmake --build "$build" -j"$(nproc)" --target vessel >"$work/build.log" 2>&1; then
        log "warning: building vessel failed (see $work/build.log); using the binary that is there, if any"
    fi
fi

# ----------------------------------------------------------------- guest
guest=${GUEST_DIR:-$build/guest}
if [ -z "${GUEST_DIR:-}" ] || [ ! -f "$guest/disk.img" ]; then
    "$root/scripts/build-guest.sh" "$guest" >/dev/null
fi

# ------------------------------------------------ workload and loop binaries
# static i386 for the guest (and natively: the host runs i386 binaries), and
# a native x86-64 build of the workload whose checksum must be the same.
cc32="gcc -m32"
if ! echo 'int main(void){return 0;}' | $cc32 -static -x c - -o "$work/cc-check" 2>/dev/null; then
    cc32=i686-linux-gnu-gcc
fi
rm -f "$work/cc-check"
$cc32 -static -O2 -Wall -o "$work/workload.i386" "$here/workload/workload.c"
$cc32 -static -O2 -Wall -o "$work/loop.i386" "$here/workload/loop.c"
gcc -O2 -Wall -o "$work/workload.native" "$here/workload/workload.c"

if [ $quick = 1 ]; then
    set -- --reps 1 --loop-target 1.5 --boot-timeout "${BENCH_BOOT_TIMEOUT:-300}" --work-timeout 300 --quick
else
    set -- --reps "$reps" --boot-timeout "${BENCH_BOOT_TIMEOUT:-300}"
fi
exec python3 "$here/harness.py" "$@" --only "$only" \
    --vessel "$build/vessel" --guest-img "$guest/disk.img" \
    --workload32 "$work/workload.i386" --workload64 "$work/workload.native" --loop32 "$work/loop.i386" \
    --work "$work" --out "$results" --argv "$argv"
