#!/bin/sh
# SeaBIOS boots a boot sector from an IDE disk (MBR, -hda) and from an
# El Torito CD (-cdrom, no emulation); the boot sector reads LBA 1 through
# INT 13h and reports on the debug console.  Also: -boot d chooses the CD
# when both are present, and -snapshot leaves the disk image unchanged.
# usage: firmware_boot.sh VESSEL BOOTSECT_BIN
set -u
vessel=$1 bs=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
# Disk: boot sector, then "SEC1" at LBA 1, 1 MiB in all.
cp "$bs" "$dir/disk.img"
printf 'SEC1' | dd of="$dir/disk.img" bs=512 seek=1 conv=notrunc status=none
truncate -s 1M "$dir/disk.img"
run() { # expected-output args...
    exp=$1; shift
    timeout 60 "$vessel" -display none -no-reboot -debugcon "file:$dir/out" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 "$@" </dev/null >"$dir/serial" 2>&1
    st=$?
    if [ $st -ne 1 ] || ! grep -q "$exp" "$dir/out"; then
        echo "FAIL ($*): status $st, debugcon: $(cat "$dir/out" 2>/dev/null)"; tail -5 "$dir/serial"; fail=1
    else
        echo "ok ($*): $(cat "$dir/out")"
    fi
}
run "boot: ok, drive 80" -hda "$dir/disk.img"
sum1=$(md5sum < "$dir/disk.img")
run "boot: ok, drive 80" -snapshot -hda "$dir/disk.img"
[ "$(md5sum < "$dir/disk.img")" = "$sum1" ] || { echo "FAIL: -snapshot changed the image"; fail=1; }
if command -v xorriso >/dev/null 2>&1; then
    mkdir -p "$dir/iso"
    cp "$bs" "$dir/iso/boot.bin"
    # LBA 1 of a CD is inside the system area: put "SEC1" there (bytes 2048..).
    xorriso -as mkisofs -quiet -o "$dir/cd.iso" -b boot.bin -no-emul-boot -boot-load-size 4 "$dir/iso" 2>/dev/null
    printf 'SEC1' | dd of="$dir/cd.iso" bs=2048 seek=1 conv=notrunc status=none
    run "boot: ok, drive E0" -cdrom "$dir/cd.iso"
    run "boot: ok, drive E0" -hda "$dir/disk.img" -cdrom "$dir/cd.iso" -boot d
    run "boot: ok, drive 80" -hda "$dir/disk.img" -cdrom "$dir/cd.iso" -boot c
else
    echo "FAIL: xorriso missing (scripts/install-deps.sh installs it)"; fail=1
fi
exit $fail
