#!/bin/sh
# Runs the bundled demo under vessel: exit status 1 (debug-exit 0) and the
# debug console output must equal the expected text (made with QEMU).
set -u
vessel=$1 bin=$2 expected=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 60 "$vessel" -display none -bios "$bin" -debugcon "file:$out" \
    -device isa-debug-exit,iobase=0xf4,iosize=4 </dev/null
status=$?
if [ "$status" -ne 1 ]; then
    echo "demo: vessel exited with $status, expected 1"
    exit 1
fi
diff -u "$expected" "$out" || { echo "demo: output differs"; exit 1; }
echo "demo: ok"
