#!/bin/sh
# run_guest_test.sh EMULATOR_CMD BIN EXPECTED_FILE
#
# Boots BIN as the BIOS of EMULATOR_CMD with QEMU-compatible arguments,
# then passes (exit 0) when the guest exited through isa-debug-exit with
# status 1 (PASS wrote 0 to port 0xF4) and its debugcon output equals
# EXPECTED_FILE byte for byte.  Fails (exit 1) otherwise, printing a diff.
# Exits 77 (ctest SKIP_RETURN_CODE) when BIN was not built (no nasm).
#
# EMULATOR_CMD is split on whitespace, so it may carry extra options, e.g.
#   "qemu-system-i386 -M pc -cpu pentium2 -no-reboot"
# When the emulator is QEMU (first word matches qemu-system-*), a generic
# loader stores the marker 'QEMU' at guest physical 0x9F000 (QEMU_MARK in
# lib.inc) so the guest can skip the few SDM checks QEMU's TCG does not
# implement (e.g. data segment limit checks); the printed log is the same.
# Environment: GUEST_TIMEOUT (seconds, default 60).
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 EMULATOR_CMD BIN EXPECTED_FILE" >&2
    exit 2
fi
emu=$1
bin=$2
expected=$3
limit=${GUEST_TIMEOUT:-60}

if [ ! -f "$bin" ]; then
    echo "SKIP: $bin not built (is nasm installed?)"
    exit 77
fi
if [ ! -f "$expected" ]; then
    echo "FAIL: no expected output $expected"
    exit 1
fi

case $(basename "${emu%% *}") in
qemu-system-*)
    emu="$emu -device loader,addr=0x9F000,data=0x554D4551,data-len=4" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/guest.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
out=$tmp/debugcon.txt
: > "$out"

# shellcheck disable=SC2086  # EMULATOR_CMD is deliberately word-split
if command -v timeout >/dev/null 2>&1; then
    timeout -k 5 "$limit" $emu -m 128 -display none -bios "$bin" \
        -debugcon "file:$out" -device isa-debug-exit,iobase=0xf4,iosize=4 \
        > "$tmp/stdout.txt" 2>&1
    status=$?
else
    $emu -m 128 -display none -bios "$bin" \
        -debugcon "file:$out" -device isa-debug-exit,iobase=0xf4,iosize=4 \
        > "$tmp/stdout.txt" 2>&1
    status=$?
fi

fail=0
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "FAIL: timed out after ${limit}s"
    fail=1
elif [ "$status" -ne 1 ]; then
    echo "FAIL: exit status $status (expected 1 = PASS; guest code $(( (status - 1) / 2 )))"
    fail=1
fi
if ! cmp -s "$expected" "$out"; then
    echo "FAIL: debugcon output differs from $expected"
    diff -u "$expected" "$out" | head -n 60
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    echo "--- emulator stdout/stderr:"
    head -n 20 "$tmp/stdout.txt"
    echo "--- debugcon output (tail):"
    tail -n 10 "$out"
    exit 1
fi
echo "PASS: $(basename "$bin")"
exit 0
