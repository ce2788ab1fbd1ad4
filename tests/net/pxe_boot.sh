#!/bin/sh
# PXE boot through the e1000's iPXE option ROM (fw_cfg "pci8086,100e.rom"):
# SeaBIOS runs iPXE, iPXE gets a DHCP lease from slirp and loads nbp.bin by
# TFTP; the NBP prints on the debug console and exits with status 67.
# No guest image needed.
# usage: tests/net/pxe_boot.sh EMULATOR_CMD [NASM]
# exit: 0 pass, 1 fail, 77 skipped (no nasm or no iPXE ROM)
set -u
emu=$1
nasm=${2:-nasm}
here=$(cd "$(dirname "$0")" && pwd)
command -v "$nasm" >/dev/null 2>&1 || { echo "pxe_boot: SKIP: no nasm"; exit 77; }
[ -f /usr/lib/ipxe/qemu/pxe-e1000.rom ] || [ -f "$here/../../roms/pxe-e1000.rom" ] ||
    { echo "pxe_boot: SKIP: no pxe-e1000.rom (apt-get install ipxe-qemu)"; exit 77; }
work=$(mktemp -d /tmp/pxe_boot.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$nasm" -f bin "$here/nbp.asm" -o "$work/nbp.bin" || exit 1
timeout "${PXE_TIMEOUT:-300}" $emu -M pc -m 64 -display none -serial null -boot n \
    -netdev "user,id=n0,restrict=on,tftp=$work,bootfile=nbp.bin" -device e1000,netdev=n0 \
    -device isa-debug-exit,iobase=0xf4,iosize=1 -debugcon "file:$work/debugcon.log"
status=$?
if [ "$status" -eq 67 ] && grep -q "vessel-nbp: booted over PXE" "$work/debugcon.log"; then
    echo "pxe_boot: ok"
    exit 0
fi
echo "FAIL: pxe_boot: exit status $status (expected 67); debug console:"
cat "$work/debugcon.log" 2>/dev/null
exit 1
