#!/bin/sh
# bench/gdb_overhead.sh - what the debugger costs a running guest: guest MIPS
# of tests/guest/loop.asm (6 instructions per iteration, 32-bit PM) under
#   detached   no debugger flags (no hooks installed)
#   listening  -gdb listening, no client (the poll hook every millisecond)
#   attached   Debian's gdb connected and continuing, no breakpoints
#   watch      gdb connected with one write watchpoint on an untouched page
# Each configuration runs REPS times, alternating; prints the median wall
# time and MIPS of each.  Reports numbers only, never asserts on them.
#
# usage: bench/gdb_overhead.sh [VESSEL] [ITERATIONS] [REPS]
#   VESSEL defaults to build/vessel.
set -eu
cd "$(dirname "$0")/.."
vessel=${1:-build/vessel}
iters=${2:-100000000}
reps=${3:-3}
command -v gdb >/dev/null 2>&1 || { echo "gdb is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nasm -f bin -DITERATIONS="$iters" -Itests/guest/ tests/guest/loop.asm -o "$tmp/loop.bin"
insns=$((iters * 6))

now() { date +%s.%N; }

# run NAME [gdb commands before continue...]
run() {
    name=$1
    shift
    sock=$tmp/gdb.sock
    rm -f "$sock"
    case $name in
    detached) flags= ;;
    listening) flags="-gdb unix:$sock" ;;
    *) flags="-S -gdb unix:$sock" ;;
    esac
    t0=$(now)
    # The emulator's own CPU time (user + system) comes from getrusage.
    # shellcheck disable=SC2086
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "a").write("%f\n" % (r.ru_utime + r.ru_stime))' "$tmp/$name.c" \
        "$vessel" -m 128 -display none -bios "$tmp/loop.bin" -debugcon "file:$tmp/$name.out" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 $flags &
    vpid=$!
    if [ "$name" = attached ] || [ "$name" = watch ]; then
        n=0
        while [ ! -S "$sock" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
        set -- -ex "target remote $sock"
        [ "$name" = watch ] && set -- "$@" -ex "watch *(int *)0x300000"
        gdb -nx -batch -ex "set confirm off" "$@" -ex "continue" >"$tmp/gdb.log" 2>&1 &
    fi
    wait $vpid || true
    t1=$(now)
    wait 2>/dev/null || true
    grep -q PASS "$tmp/$name.out" || { echo "$name: guest did not finish" >&2; exit 1; }
    echo "$t1 - $t0" | bc -l >> "$tmp/$name.t"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for r in $(seq "$reps"); do
    for cfg in detached listening attached watch; do
        run $cfg
    done
done
printf 'CPU: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf 'loop: %d instructions, %d repetitions, medians; MIPS from the emulator'"'"'s CPU time\n' "$insns" "$reps"
printf '(user+sys, steadier than wall time on a busy machine); wall time includes boot and gdb connect\n'
base=
for cfg in detached listening attached watch; do
    t=$(median < "$tmp/$cfg.t")
    c=$(median < "$tmp/$cfg.c")
    [ -z "$base" ] && base=$c
    printf '%-10s wall %7.2f s  cpu %7.2f s %8.1f MIPS  %6.1f%% of detached\n' "$cfg" "$t" "$c" \
        "$(echo "$insns / $c / 1000000" | bc -l)" "$(echo "100 * $base / $c" | bc -l)"
done
