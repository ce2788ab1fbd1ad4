#!/bin/sh
# -screendump-at fires on the virtual clock: ticks_guest.asm (a boot sector,
# assembled here with nasm) shows the BIOS tick count in binary and halts
# between timer interrupts, so under -icount virtual time mostly warps.
# Dumps at 2.0 s and 2.0 s + 10 PIT periods (10 x 65536/1193182 s) must show
# counts exactly 10 apart; a second identical run must give byte-identical
# PNGs (also for a dump at an instruction count, iN); the ",quit" dump ends
# vessel with status 0.  (Polling host time every ms instead lands many ticks
# late while the guest idles, and differs from run to run.)
# usage: screendump_at_test.sh VESSEL
set -u
vessel=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v nasm >/dev/null 2>&1 || { echo "SKIP: nasm missing"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 missing"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

nasm -f bin "$here/ticks_guest.asm" -o "$dir/disk.img" || { echo "FAIL: nasm"; echo "0 passed, 1 failed"; exit 1; }
truncate -s 1M "$dir/disk.img"

# count.py FILE.png -> the tick count shown in row 0 (cells 0..15 = bits)
cat >"$dir/count.py" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
pos, idat, hdr = 8, b'', None
while pos < len(d):
    n, t = struct.unpack('>I4s', d[pos:pos + 8])
    if t == b'IHDR':
        hdr = struct.unpack('>IIBBBBB', d[pos + 8:pos + 8 + n])
    elif t == b'IDAT':
        idat += d[pos + 8:pos + 8 + n]
    pos += 12 + n
w, h, depth, ctype = hdr[:4]
if (w, h) != (720, 400) or depth != 8 or ctype != 2:
    sys.exit('not a 720x400 RGB PNG: %dx%d depth %d type %d' % (w, h, depth, ctype))
raw, stride = zlib.decompress(idat), w * 3
prev = bytearray(stride)
for y in range(9):                      # unfilter rows 0..8, keep row 8
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - 3] if x >= 3 else 0
        b, c = prev[x], (prev[x - 3] if x >= 3 else 0)
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
n = 0
for i in range(16):
    px = bytes(prev[(i * 9 + 4) * 3:(i * 9 + 4) * 3 + 3])
    if px == b'\xaa\xaa\xaa':
        n |= 1 << i
    elif px != b'\x00\x00\x00':
        sys.exit('cell %d is %s, neither black nor light grey' % (i, px.hex()))
print(n)
PY

run() { # NAME: two time dumps, one instruction-count dump, quit at the last
    timeout 120 "$vessel" -display none -no-reboot -icount shift=3 -rtc base=2000-01-01T00:00:00 \
        -hda "$dir/disk.img" -serial none \
        -screendump-at "i3000000:$dir/$1-i.png" -screendump-at "2.0:$dir/$1-a.png" \
        -screendump-at "2.549254113:$dir/$1-b.png,quit" </dev/null >"$dir/$1.log" 2>&1
}
run one; st=$?
if [ $st = 0 ]; then ok "vessel exited with status 0 after the ',quit' dump"; else bad "vessel status $st: $(tail -3 "$dir/one.log")"; fi
a=$(python3 "$dir/count.py" "$dir/one-a.png" 2>&1) || bad "dump at 2.0 s: $a"
b=$(python3 "$dir/count.py" "$dir/one-b.png" 2>&1) || bad "dump at 2.549 s: $b"
case "$a$b" in
*[!0-9]*|'') ;;
*)  # the PIT starts when SeaBIOS sets it up, well within the first second
    if [ "$a" -ge 18 ] && [ "$a" -le 37 ]; then ok "count $a at 2.0 s"; else bad "count $a at 2.0 s (expected 18..37)"; fi
    if [ $((b - a)) = 10 ]; then ok "counts $a and $b: 10 PIT periods apart, as the dump times"
    else bad "counts $a and $b are $((b - a)) apart, expected 10 (dumps not at their virtual times)"; fi ;;
esac
run two; st=$?
[ $st = 0 ] || bad "second run: status $st"
for k in i a b; do
    if [ -s "$dir/one-$k.png" ] && cmp -s "$dir/one-$k.png" "$dir/two-$k.png"; then ok "dump $k identical in both runs"
    else bad "dump $k differs between two identical -icount runs"; fi
done
echo "$passed passed, $failed failed"
[ $failed = 0 ]
