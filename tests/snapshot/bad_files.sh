#!/bin/sh
# bad_files.sh VESSEL - damaged or foreign snapshot files given to -loadvm.
#
# Each case must end vessel with status 2 (an input error: never a crash,
# never a guest run) and an error line naming the file and the problem:
# truncation at several points, wrong signature, a future format version,
# a flipped byte in every section and in RAM, a section version from the
# future, an unknown section, a different machine (-m, -vga, -machine apic,
# serial ports), out-of-range fields (CPU lazy-flags kind, PIC init state,
# virtual time, A20 mask), a missing file, a directory, random bytes.
# Also: a save that cannot be written fails with status 2 and leaves the
# previous snapshot file as it was.  Run the binary under ASan/UBSan to
# check the "no crash" part thoroughly.
# Needs python3 (tests/snapshot/snaptool.py edits the files); exits 77
# (skipped) without it or when vessel cannot run SeaBIOS.
set -u
vessel=$1
here=$(cd "$(dirname "$0")" && pwd)
tool="$here/snaptool.py"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/snapbad.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
S="-nographic -no-reboot -icount shift=0"
fail=0
ncase=0

timeout -k 5 120 "$vessel" $S -savevm-at "2000000:$dir/good.vsn" </dev/null >/dev/null 2>"$dir/save.err"
if [ ! -s "$dir/good.vsn" ]; then
    echo "SKIP: could not make a snapshot of SeaBIOS:"; head -3 "$dir/save.err"; exit 77
fi
len=$(wc -c <"$dir/good.vsn")

# expect LABEL FILE "TEXT" [extra vessel flags...]
expect() {
    label=$1; file=$2; want=$3; shift 3
    ncase=$((ncase + 1))
    timeout -k 5 60 "$vessel" $S "$@" -loadvm "$file" </dev/null >"$dir/out" 2>"$dir/err"
    st=$?
    msg=$(grep '^vessel:' "$dir/err" | head -1)
    if [ $st -ne 2 ]; then
        echo "FAIL $label: exit status $st (expected 2)"; head -5 "$dir/err"; fail=1
    elif ! printf '%s' "$msg" | grep -qF -- "$want"; then
        echo "FAIL $label: message lacks '$want':"; echo "  $msg"; fail=1
    elif ! printf '%s' "$msg" | grep -qF -- "$(basename "$file")"; then
        echo "FAIL $label: message does not name the file:"; echo "  $msg"; fail=1
    else
        echo "ok   $label: $msg"
    fi
}
fresh() { cp "$dir/good.vsn" "$dir/bad.vsn"; }
tool() { python3 "$tool" "$@" >/dev/null || { echo "FAIL: snaptool $*"; fail=1; }; }

# The file's layout.
python3 "$tool" sections "$dir/good.vsn" >"$dir/sections" || { echo "FAIL: snaptool cannot read the file"; exit 1; }
hlen=$(head -1 "$dir/sections" | awk '{print $3 - 4 - 2 - 3 - 2 - 4 - 4}') # payload - record header
last=$(tail -1 "$dir/sections")
ram=$(echo "$last" | awk '{print $3 + $4}') # the RAM record follows the last section

# Truncated anywhere.
for cut in 0 7 14 $((hlen / 2)) $((hlen + 30)) $((ram - 5)) $((ram + 100)) $((len - 9)) $((len - 1)); do
    fresh; tool truncate "$dir/bad.vsn" "$cut"
    case $cut in 0|7) want="not a vessel snapshot" ;; *) want="truncated" ;; esac
    expect "truncated to $cut bytes" "$dir/bad.vsn" "$want"
done
fresh; printf 'NOTVESSEL' | dd of="$dir/bad.vsn" conv=notrunc 2>/dev/null
expect "wrong magic" "$dir/bad.vsn" "not a vessel snapshot"
fresh; tool setbyte "$dir/bad.vsn" 8 3
expect "format version 3" "$dir/bad.vsn" "format version 3 is not supported"
fresh; tool setbyte "$dir/bad.vsn" 8 0
expect "format version 0" "$dir/bad.vsn" "format version 0 is not supported"

# A flipped byte in every section, then in RAM.
while read -r name ver off slen; do
    fresh; tool flip "$dir/bad.vsn" $((off + slen / 2))
    expect "flipped byte in section $name" "$dir/bad.vsn" "section '$name'"
done <"$dir/sections"
fresh; tool flip "$dir/bad.vsn" $((ram + 20 + 44 + 5))
expect "flipped byte in RAM" "$dir/bad.vsn" "RAM chunk 0"
fresh; tool flip "$dir/bad.vsn" $((len - 2))
expect "flipped byte in the file CRC" "$dir/bad.vsn" "whole-file CRC mismatch"

# Versions and names.
fresh; tool secver "$dir/bad.vsn" i8259 9
expect "section version from the future" "$dir/bad.vsn" "section 'i8259' version 9 is newer"
fresh; tool rename "$dir/bad.vsn" fw_cfg fw_cfX
expect "unknown section" "$dir/bad.vsn" "unknown section 'fw_cfX'"

# A different machine.
expect "-m 64" "$dir/good.vsn" "128 MiB of RAM, this one has 64 MiB" -m 64
expect "-vga none" "$dir/good.vsn" "made with a VGA, this machine has none" -vga none
expect "-machine apic=off" "$dir/good.vsn" "APIC on, this machine has them off" -machine apic=off
expect "-serial none" "$dir/good.vsn" "device 'uart16550@3f8'" -serial none

# Field values out of range (checked by each component's post_load).  The
# offsets are positions in the sections' wire layout: cpu (cpu/cpu_state.c)
# lf.op at 52; i8259 pic[0].init_state at 8; vclock icount_base_ns at 0;
# board pm.a20_mask at 0.  (tests/unit/test_snapshot.c covers more fields,
# IDE transfer pointers included, and that the machine stays unchanged.)
fresh; tool setfield "$dir/bad.vsn" cpu 52 c8
expect "CPU lazy-flags kind 200" "$dir/bad.vsn" "section 'cpu' field 'lf.op'"
fresh; tool setfield "$dir/bad.vsn" i8259 8 09
expect "PIC init state 9" "$dir/bad.vsn" "init_state"
fresh; tool setfield "$dir/bad.vsn" vclock 0 f0ffffffffffffff
expect "negative virtual time" "$dir/bad.vsn" "section 'vclock' field 'icount_base_ns'"
fresh; tool setfield "$dir/bad.vsn" board 0 78563412
expect "A20 mask 0x12345678" "$dir/bad.vsn" "a20_mask"

# Not snapshot files at all.
expect "missing file" "$dir/none.vsn" "cannot open"
mkdir "$dir/adir.vsn"
expect "a directory" "$dir/adir.vsn" "not a regular file"
head -c 100000 /dev/urandom >"$dir/random.vsn"
expect "random bytes" "$dir/random.vsn" "not a vessel snapshot"

# Disks are not in the snapshot: the drives must be the same images, unchanged.
head -c 1048576 /dev/zero >"$dir/disk.img"
timeout -k 5 120 "$vessel" $S -hda "$dir/disk.img" -savevm-at "2000000:$dir/disk.vsn" </dev/null >/dev/null 2>"$dir/err"
ncase=$((ncase + 1))
if timeout -k 5 120 "$vessel" $S -hda "$dir/disk.img" -loadvm "$dir/disk.vsn" </dev/null >/dev/null 2>"$dir/err"; then
    echo "ok   same disk image: loads"
else
    echo "FAIL same disk image: refused:"; head -3 "$dir/err"; fail=1
fi
expect "drive missing" "$dir/disk.vsn" "drive hda: the snapshot was made with a drive there"
cp "$dir/disk.img" "$dir/disk2.img"
expect "an extra drive" "$dir/disk.vsn" "drive hdb: the snapshot was made without a drive there" -hda "$dir/disk.img" -hdb "$dir/disk2.img"
# The save froze disk.img (format 2): a load switches hda to a new overlay
# on it, whatever image the drive had; the frozen image itself is checked.
[ -w "$dir/disk.img" ] && [ "$(id -u)" != 0 ] && { echo "FAIL the save did not freeze disk.img"; fail=1; }
chmod u+w "$dir/disk.img"
printf 'x' | dd of="$dir/disk.img" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect "frozen image changed" "$dir/disk.vsn" "changed after the snapshot was made" -hda "$dir/disk2.img"
printf '\000' | dd of="$dir/disk.img" bs=1 seek=1000 conv=notrunc 2>/dev/null
rm -f "$dir"/disk.hda*.qcow2
mv "$dir/disk.img" "$dir/disk.moved"
expect "frozen image missing" "$dir/disk.vsn" "frozen disk image" -hda "$dir/disk2.img"
if ls "$dir"/disk.hda*.qcow2 >/dev/null 2>&1; then echo "FAIL a refused load left an overlay"; fail=1; fi
mv "$dir/disk.moved" "$dir/disk.img"
if timeout -k 5 120 "$vessel" $S -hda "$dir/disk2.img" -loadvm "$dir/disk.vsn" </dev/null >/dev/null 2>"$dir/err"; then
    echo "ok   another image on hda: the drive switches to an overlay on the frozen image"
else
    echo "FAIL another image on hda: refused:"; head -3 "$dir/err"; fail=1
fi

# A save that fails keeps the previous snapshot.
cp "$dir/good.vsn" "$dir/keep.vsn"
mkdir "$dir/keep.vsn.tmp"
timeout -k 5 60 "$vessel" $S -savevm-at "1000000:$dir/keep.vsn" </dev/null >/dev/null 2>"$dir/err"
st=$?
ncase=$((ncase + 1))
if [ $st -ne 2 ] || ! cmp -s "$dir/good.vsn" "$dir/keep.vsn" || ! grep -q "cannot create" "$dir/err"; then
    echo "FAIL failed save: status $st"; head -3 "$dir/err"; fail=1
else
    echo "ok   failed save keeps the old file: $(grep '^vessel:' "$dir/err" | head -1)"
fi

[ $fail = 0 ] && echo "bad snapshot files: all $ncase cases ok"
exit $fail
