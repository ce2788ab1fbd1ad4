#!/bin/sh
# Modes set through the VGA BIOS (SeaBIOS runs Debian's vgabios-stdvga):
# vgabios_modes.asm (a boot sector + 3 sectors, assembled here with nasm)
# sets mode 13h with INT 10h AX=0013h and draws four bars (palette indices
# 1, 2, 4, 15), then VBE mode 0x142 (640x480x32, found with AX=4F01h) with
# AX=4F02h and draws rectangles of known RGB into the LFB from unreal mode.
# Under -icount the guest holds each picture until a fixed BDA tick (the RTC
# starts at midnight) and the harness takes -screendump-at dumps at 2.0 s and
# 3.5 s of virtual time (with -display none), then checks the PNGs: sizes
# (320x200, 640x480) and pixel colours (the 6-bit DAC values scaled as
# (c << 2) | (c >> 4), so 0x2A -> 0xAA, 0x3F -> 0xFF).
# With QEMU_CHECK=1 the same guest also runs on qemu-system-i386, dumping
# through the monitor when the guest reports each picture (PPM; QEMU draws
# mode 13h doubled, 640x400, with 0x2A -> 0xA8: accepted there only).
# usage: vgabios_test.sh VESSEL
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

nasm -f bin "$here/vgabios_modes.asm" -o "$dir/guest.bin" || { echo "FAIL: nasm"; echo "0 passed, 1 failed"; exit 1; }
cp "$dir/guest.bin" "$dir/disk.img"
truncate -s 1M "$dir/disk.img"

# check.py FILE.png|FILE.ppm W H (x y RRGGBB)...
cat >"$dir/check.py" <<'PY'
import sys, zlib, struct
def png(path):
    d = open(path, 'rb').read()
    if d[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('not a PNG')
    pos, idat, hdr = 8, b'', None
    while pos < len(d):
        n, t = struct.unpack('>I4s', d[pos:pos + 8])
        body = d[pos + 8:pos + 8 + n]
        pos += 12 + n
        if t == b'IHDR':
            hdr = struct.unpack('>IIBBBBB', body)
        elif t == b'IDAT':
            idat += body
        elif t == b'IEND':
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError('unsupported PNG: depth %d colour type %d interlace %d' % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for y in range(h):
        f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line); prev = line
    return w, h, lambda x, y: tuple(rows[y][x * bpp:x * bpp + 3])
def ppm(path):
    d = open(path, 'rb').read()
    parts, pos = [], 0
    while len(parts) < 4:
        while d[pos:pos + 1].isspace(): pos += 1
        if d[pos:pos + 1] == b'#':
            pos = d.index(b'\n', pos); continue
        s = pos
        while not d[pos:pos + 1].isspace(): pos += 1
        parts.append(d[s:pos])
    pos += 1
    if parts[0] != b'P6' or parts[3] != b'255':
        raise ValueError('unsupported PPM')
    w, h = int(parts[1]), int(parts[2])
    return w, h, lambda x, y: tuple(d[pos + (y * w + x) * 3:pos + (y * w + x) * 3 + 3])
path, W, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    w, h, px = (png if path.endswith('.png') else ppm)(path)
except Exception as e:
    print('cannot read %s: %s' % (path, e)); sys.exit(1)
errs = []
sc, qemu = 1, len(sys.argv) > 4 and sys.argv[4] == 'qemu'
if qemu:
    # QEMU's own renderer draws mode 13h doubled in both directions (640x400)
    # and scales the DAC as c << 2 | (c & 1) * 3 (0x2A -> 0xA8, 0x3F -> 0xFF)
    del sys.argv[4]
    if (w, h) == (2 * W, 2 * H):
        sc, W, H = 2, w, h
if (w, h) != (W, H):
    print('size %dx%d, expected %dx%d' % (w, h, W, H)); sys.exit(1)
a = sys.argv[4:]
for k in range(0, len(a), 3):
    x, y, want = int(a[k]) * sc, int(a[k + 1]) * sc, a[k + 2].lower()
    if qemu and W == 640 and H == 400:
        want = ''.join('a8' if want[i:i + 2] == 'aa' else want[i:i + 2] for i in (0, 2, 4))
    got = '%02x%02x%02x' % px(x, y)
    if got != want:
        errs.append('(%d,%d) is %s, expected %s' % (x, y, got, want))
print('; '.join(errs) if errs else '%dx%d, %d pixels as expected' % (w, h, len(a) // 3))
sys.exit(1 if errs else 0)
PY

# Bars: x 0..79 index 1, 80..159 index 2, 160..239 index 4, 240..319 index 15.
M13="0 0 0000aa 40 100 0000aa 79 199 0000aa 80 0 00aa00 120 100 00aa00 159 199 00aa00
160 0 aa0000 200 100 aa0000 239 199 aa0000 240 0 ffffff 280 100 ffffff 319 199 ffffff"
# Rectangles on 0x404040: red (40,40)-(200,160), green (240,40)-(400,160),
# blue (440,40)-(600,160), 0x12ABEF (100,300)-(540,440); right/bottom exclusive.
VBE="0 0 404040 639 479 404040 39 40 404040 40 40 ff0000 199 159 ff0000 200 100 404040
120 100 ff0000 240 40 00ff00 399 159 00ff00 320 100 00ff00 440 40 0000ff 599 159 0000ff
520 100 0000ff 600 100 404040 100 300 12abef 539 439 12abef 320 370 12abef 320 440 404040
99 300 404040 320 299 404040"

check() { # what file W H pixels
    what=$1 f=$2 w=$3 h=$4; shift 4
    if [ ! -s "$f" ]; then bad "$what: no screendump"; return; fi
    if r=$(python3 "$dir/check.py" "$f" "$w" "$h" $*); then ok "$what: $r"; else bad "$what: $r"; fi
}

rm -f "$dir/out"
timeout 120 "$vessel" -display none -no-reboot -debugcon "file:$dir/out" \
    -device isa-debug-exit,iobase=0xf4,iosize=4 -icount shift=5 \
    -rtc base=2000-01-01T00:00:00 -hda "$dir/disk.img" \
    -screendump-at "2.0:$dir/m13.png" -screendump-at "3.5:$dir/vbe.png" </dev/null >"$dir/log" 2>&1
st=$?
if [ $st = 1 ] && grep -q "vgabios: done" "$dir/out"; then
    ok "vessel guest: $(tr '\n' '/' <"$dir/out")"
else
    bad "vessel guest: status $st, debugcon: $(cat "$dir/out" 2>/dev/null), log: $(tail -3 "$dir/log")"
fi
check "vessel mode 13h" "$dir/m13.png" 320 200 $M13
check "vessel VBE 0x142" "$dir/vbe.png" 640 480 $VBE

# Optional: the same guest on QEMU (real time; monitor screendump on each report).
if [ "${QEMU_CHECK:-0}" = 1 ] && command -v qemu-system-i386 >/dev/null 2>&1; then
    rm -f "$dir/qout"
    qemu-system-i386 -display none -no-reboot -debugcon "file:$dir/qout" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 -rtc base=2000-01-01T00:00:00 \
        -drive "file=$dir/disk.img,format=raw,if=ide" \
        -monitor "unix:$dir/mon,server,nowait" </dev/null >"$dir/qlog" 2>&1 &
    qpid=$!
    python3 - "$dir" <<'PY'
import socket, sys, time, os
d = sys.argv[1]
def out():
    try: return open(d + '/qout').read()
    except OSError: return ''
def dump(name):
    s = socket.socket(socket.AF_UNIX)
    s.connect(d + '/mon'); s.settimeout(5)
    s.sendall(('screendump %s/%s\n' % (d, name)).encode())
    time.sleep(0.3); s.close()
for marker, name in (('mode13 drawn', 'qm13.ppm'), ('vbe drawn', 'qvbe.ppm')):
    t = time.time()
    while marker not in out() and time.time() - t < 60: time.sleep(0.02)
    if marker in out(): dump(name)
PY
    wait $qpid
    st=$?
    if [ $st = 1 ] && grep -q "vgabios: done" "$dir/qout"; then
        ok "qemu guest: $(tr '\n' '/' <"$dir/qout")"
    else
        bad "qemu guest: status $st, debugcon: $(cat "$dir/qout" 2>/dev/null)"
    fi
    check "qemu mode 13h" "$dir/qm13.ppm" 320 200 qemu $M13
    check "qemu VBE 0x142" "$dir/qvbe.ppm" 640 480 $VBE
fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
