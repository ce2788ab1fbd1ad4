#!/bin/sh
# roundtrip.sh VESSEL - snapshots across processes, with deterministic time.
#
# For a guest run to its end with -icount shift=0 -d exitstate (run A), then
# the same run saving at instruction N with -savevm-at (run B), then a NEW
# vessel process started from that file with -loadvm (run C):
#   - A, B and C print the same exitstate line (icount, CPU and RAM CRCs)
#     and exit with the same status;
#   - B prints exactly A's console output, C exactly the part after N;
# at three points of SeaBIOS's boot (it finds no disk and reboots; -no-reboot
# ends the run), and at one point of tests/guest/loop.asm (assembled here
# with fewer iterations; needs nasm).  Also: C with -no-tcache reaches the
# same state; -loadvm NAME finds DIR/NAME.vsn through -snapshot-dir; without
# -icount a saved and reloaded SeaBIOS still gets to "No bootable device".
# Exits 77 (skipped) when vessel cannot run SeaBIOS (no roms/bios.bin).
set -u
vessel=$1
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/snaprt.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
fail=0
T="timeout -k 5 120"

# run NAME ARGS... -> $dir/NAME.out (console), $dir/NAME.err, $dir/NAME.st
run() {
    name=$1; shift
    $T "$vessel" "$@" </dev/null >"$dir/$name.out" 2>"$dir/$name.err"
    echo $? >"$dir/$name.st"
}
exitstate() { grep '^exitstate:' "$dir/$1.err"; }
is_suffix() { # is file $2 a suffix of file $1 (byte for byte)?
    n=$(wc -c <"$2")
    tail -c "$n" "$1" | cmp -s - "$2"
}
check_triplet() { # label A B C [console-file-suffix]
    sfx=${5:-out}
    a=$(exitstate "$2"); b=$(exitstate "$3"); c=$(exitstate "$4")
    if [ -z "$a" ] || [ "$a" != "$b" ] || [ "$b" != "$c" ]; then
        echo "FAIL $1: exitstate differs"; echo "  A: $a"; echo "  B: $b"; echo "  C: $c"
        grep vessel: "$dir/$3.err" "$dir/$4.err" | head -5
        fail=1; return
    fi
    if [ "$(cat "$dir/$2.st")" != "$(cat "$dir/$3.st")" ] || [ "$(cat "$dir/$3.st")" != "$(cat "$dir/$4.st")" ]; then
        echo "FAIL $1: exit statuses $(cat "$dir/$2.st") $(cat "$dir/$3.st") $(cat "$dir/$4.st")"; fail=1; return
    fi
    if ! cmp -s "$dir/$2.$sfx" "$dir/$3.$sfx"; then
        echo "FAIL $1: saving changed the console output"; fail=1; return
    fi
    if ! is_suffix "$dir/$2.$sfx" "$dir/$4.$sfx"; then
        echo "FAIL $1: the loaded run's output is not the rest of the original's"; fail=1; return
    fi
    echo "ok   $1: $c"
}

# ---- SeaBIOS ----
S="-nographic -no-reboot -icount shift=0 -d exitstate"
run A $S
if [ "$(cat "$dir/A.st")" != 0 ] || [ -z "$(exitstate A)" ]; then
    echo "SKIP: vessel cannot boot SeaBIOS here:"; head -3 "$dir/A.err"
    exit 77
fi
total=$(exitstate A | sed 's/.*icount=\([0-9]*\).*/\1/')
for k in 1 2 3; do
    n=$((total * k / 4))
    run B$k $S -savevm-at "$n:$dir/s$k.vsn"
    if ! grep -q "saved snapshot" "$dir/B$k.err"; then
        echo "FAIL seabios@$n: no snapshot saved"; head -3 "$dir/B$k.err"; fail=1; continue
    fi
    run C$k $S -loadvm "$dir/s$k.vsn"
    check_triplet "seabios@$n" A B$k C$k
done
run N2 $S -no-tcache -loadvm "$dir/s2.vsn"
check_triplet "seabios, loaded with -no-tcache" A B2 N2
mkdir "$dir/snaps"
run B4 $S -savevm-at "$((total / 3)):$dir/snaps/boot.vsn"
run C4 $S -snapshot-dir "$dir/snaps" -loadvm boot
check_triplet "seabios, -snapshot-dir + -loadvm NAME" A B4 C4

# Host time: not deterministic, but the loaded guest must carry on.
run H1 -nographic -no-reboot -savevm-at "$((total / 2)):$dir/h.vsn"
run H2 -nographic -no-reboot -loadvm "$dir/h.vsn"
if [ "$(cat "$dir/H2.st")" = 0 ] && grep -q "No bootable device" "$dir/H2.out"; then
    echo "ok   seabios without -icount: loaded run reaches 'No bootable device'"
else
    echo "FAIL seabios without -icount: status $(cat "$dir/H2.st")"; head -5 "$dir/H2.err"; fail=1
fi

# ---- bare-metal loop (tests/guest/loop.asm) ----
if command -v nasm >/dev/null 2>&1 && [ -f "$here/../guest/loop.asm" ]; then
    nasm -f bin -DITERATIONS=2000000 -I"$here/../guest/" -o "$dir/loop.bin" "$here/../guest/loop.asm" || fail=1
    L="-m 128 -display none -bios $dir/loop.bin -device isa-debug-exit,iobase=0xf4,iosize=4 -icount shift=0 -d exitstate"
    run LA $L -debugcon "file:$dir/LA.con"
    run LB $L -debugcon "file:$dir/LB.con" -savevm-at "5000000:$dir/loop.vsn"
    run LC $L -debugcon "file:$dir/LC.con" -loadvm "$dir/loop.vsn"
    if [ "$(cat "$dir/LA.st")" != 1 ]; then
        echo "FAIL loop: the guest did not PASS (status $(cat "$dir/LA.st"))"; fail=1
    else
        check_triplet "loop.asm@5000000" LA LB LC con
    fi
else
    echo "note: nasm not found, loop.asm round trip skipped"
fi

[ $fail = 0 ] && echo "snapshot round trips: ok"
exit $fail
