#!/bin/sh
# bench/loop_mips.sh - guest MIPS on a bare-metal benchmark program run under
# vessel and under QEMU TCG (qemu-system-i386 -accel tcg,thread=single -cpu
# pentium2) in the same run, alternating, REPS times each; prints the median
# MIPS of each and their ratio.  Wall time of the whole process is used (the
# start of the tiny guest is negligible next to its loop).  The programs:
#   loop  tests/guest/loop.asm: a tight integer loop, 6 instructions per
#         iteration (ITERATIONS default 100000000)
#   mpi   tests/guest/mpi.asm: the inner loop of the kernel's
#         mpihelp_submul_1 as gcc compiles it (loads and stores through
#         EBP, IMUL, ADC, SETB, CMOVAE), the hottest code of a Debian 686
#         boot; ITERATIONS calls of 64 limbs (default 200000)
# The instruction count is the one vessel retires (-d exitstate).
#
# usage: bench/loop_mips.sh [BUILD_DIR] [ITERATIONS] [REPS] [loop|mpi]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
prog=${4:-loop}
case $prog in
loop) iters=${2:-100000000} ;;
mpi) iters=${2:-200000} ;;
*) echo "loop_mips.sh: unknown program '$prog' (loop or mpi)" >&2; exit 2 ;;
esac
reps=${3:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nasm -f bin -DITERATIONS="$iters" -Itests/guest/ "tests/guest/$prog.asm" -o "$tmp/loop.bin"
"$build/vessel" -m 128 -display none -bios "$tmp/loop.bin" -debugcon "file:$tmp/count.out" \
    -device isa-debug-exit,iobase=0xf4,iosize=4 -d exitstate -D "$tmp/count.log" </dev/null >/dev/null 2>&1 || true
insns=$(sed -n 's/.*icount=\([0-9]*\).*/\1/p' "$tmp/count.log" | tail -1)
[ -n "$insns" ] || { echo "loop_mips.sh: no instruction count from $build/vessel -d exitstate" >&2; exit 1; }

now() { date +%s.%N; }
run() { # name cmd...
    name=$1; shift
    t0=$(now)
    "$@" -m 128 -display none -bios "$tmp/loop.bin" -debugcon "file:$tmp/$name.out" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 </dev/null >/dev/null 2>&1 || true
    t1=$(now)
    grep -q PASS "$tmp/$name.out" || { echo "$name: guest did not finish" >&2; exit 1; }
    echo "$t1 - $t0" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$tmp/v"; : > "$tmp/q"
have_qemu=0
command -v qemu-system-i386 >/dev/null 2>&1 && have_qemu=1
for r in $(seq "$reps"); do
    run vessel "$build/vessel" >> "$tmp/v"
    [ $have_qemu = 1 ] && run qemu qemu-system-i386 -M pc -accel tcg,thread=single -cpu pentium2 >> "$tmp/q"
done
cmp -s "$tmp/vessel.out" "$tmp/qemu.out" 2>/dev/null || [ $have_qemu = 0 ] || { echo "checksums differ between vessel and QEMU" >&2; exit 1; }
tv=$(median < "$tmp/v")
printf 'CPU: %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf '%s: %d instructions, %d repetitions, median wall time\n' "$prog" "$insns" "$reps"
printf 'vessel      %8.2f s  %8.1f MIPS\n' "$tv" "$(echo "$insns / $tv / 1000000" | bc -l)"
if [ $have_qemu = 1 ]; then
    tq=$(median < "$tmp/q")
    printf 'qemu-tcg    %8.2f s  %8.1f MIPS\n' "$tq" "$(echo "$insns / $tq / 1000000" | bc -l)"
    printf 'vessel/qemu time ratio: %.2f\n' "$(echo "$tv / $tq" | bc -l)"
fi
