#!/bin/sh
# -d exec on the bundled demo (firmware/demo.asm): the log must be exactly
# the expected instruction sequence (linear address, bytes, disassembly),
# 1272 instructions from the reset vector to the debug-exit write; and
# -dfilter must keep only the given range.
# usage: trace_test.sh VESSEL DEMO_BIN EXPECTED
set -u
vessel=$1 bin=$2 expected=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
timeout 60 "$vessel" -display none -bios "$bin" -debugcon file:/dev/null \
    -device isa-debug-exit,iobase=0xf4,iosize=4 -d exec -D "$dir/trace" </dev/null
[ $? -eq 1 ] || { echo "FAIL: demo exit status"; exit 1; }
diff -u "$expected" "$dir/trace" > "$dir/diff" || { echo "FAIL: trace differs"; head -40 "$dir/diff"; exit 1; }
timeout 60 "$vessel" -display none -bios "$bin" -debugcon file:/dev/null \
    -device isa-debug-exit,iobase=0xf4,iosize=4 -d exec -dfilter 0xf0000..0xf000f -D "$dir/filtered" </dev/null
grep -v '^000f000' "$dir/filtered" && { echo "FAIL: -dfilter let other addresses through"; exit 1; }
n=$(wc -l < "$dir/filtered")
[ "$n" -eq 7 ] || { echo "FAIL: -dfilter kept $n lines, expected 7"; exit 1; }
echo "trace: ok ($(wc -l < "$expected") instructions)"
