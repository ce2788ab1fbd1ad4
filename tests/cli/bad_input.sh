#!/bin/sh
# Host-side bad input: each case must print one clear error line naming the
# problem (and the file, for files) and exit with status 2.
# usage: bad_input.sh VESSEL
set -u
vessel=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
expect() { # description pattern args...
    desc=$1 pat=$2; shift 2
    timeout 20 "$vessel" -display none "$@" </dev/null >"$dir/out" 2>"$dir/err"
    st=$?
    lines=$(wc -l < "$dir/err")
    if [ "$st" -ne 2 ] || ! grep -q -- "$pat" "$dir/err" || [ "$lines" -ne 1 ]; then
        echo "FAIL: $desc: status $st, stderr:"; cat "$dir/err"; fail=1
    else
        echo "ok: $desc: $(cat "$dir/err")"
    fi
}
: > "$dir/empty.bin"
head -c 1000 /dev/zero > "$dir/odd.bin"
head -c 3145728 /dev/zero > "$dir/big.bin"
head -c 98304 /dev/zero > "$dir/96k.bin"
expect "missing ROM" "$dir/nope.bin" -bios "$dir/nope.bin"
expect "empty ROM" "empty" -bios "$dir/empty.bin"
expect "ROM not a multiple of 64 KiB" "odd.bin" -bios "$dir/odd.bin"
expect "ROM of 96 KiB" "96k.bin" -bios "$dir/96k.bin"
expect "oversized ROM" "big.bin" -bios "$dir/big.bin"
expect "ROM is a directory" "not a regular file" -bios "$dir"
expect "unknown flag" "unknown option '-frobnicate'" -frobnicate
expect "missing argument" "needs an argument" -m
expect "bad memory size" "invalid size" -m lots
expect "memory too small" "RAM size" -m 512K
expect "bad -d category" "unknown log category" -d nonsense
expect "bad debug-exit size" "iosize" -device isa-debug-exit,iobase=0xf4,iosize=3
expect "unknown device" "unsupported device" -device frob
expect "bad icount" "shift" -icount shift=99
head -c 1000 /dev/zero > "$dir/odd.img"
head -c 1048576 /dev/zero > "$dir/disk.img"
expect "missing disk image" "nope.img" -hda "$dir/nope.img"
expect "disk image is a directory" "is a directory" -hda "$dir"
expect "disk image not a multiple of 512" "odd.img" -hda "$dir/odd.img"
expect "same image twice" "already attached" -hda "$dir/disk.img" -hdb "$dir/disk.img"
expect "bad -drive option" "unsupported option" -drive file="$dir/disk.img",if=virtio
expect "bad -boot" "-boot" -boot z
# --help lists every flag and exits 0.
"$vessel" --help > "$dir/help" 2>&1 || { echo "FAIL: --help exit status"; fail=1; }
for f in -bios -m -M -cpu -serial -debugcon -device -nographic -display -no-reboot -icount -rtc -d -D -no-tcache -hda -cdrom -drive -snapshot -boot -vga; do
    grep -q -- "^ *$f[ ,/]" "$dir/help" || { echo "FAIL: --help does not list $f"; fail=1; }
done
exit $fail
