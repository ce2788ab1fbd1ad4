#!/bin/sh
# Boots Debian's SeaBIOS (roms/bios.bin) with no disk, -nographic: the
# banner and "No bootable device" must appear on the serial console, the
# SeaBIOS log (-d bios) must show each stage it passed with our devices, no
# port SeaBIOS touched may be unassigned, and -no-reboot must end the run
# with status 0 when SeaBIOS reboots to retry.
# usage: seabios_nodisk.sh VESSEL [expect=PATTERN ...] [extra vessel flags...]
#   expect=PATTERN: a further line the SeaBIOS log must contain
set -u
vessel=$1; shift
extra=""
while [ $# -gt 0 ] && [ "${1#expect=}" != "$1" ]; do
    extra="$extra
${1#expect=}"
    shift
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
timeout 120 "$vessel" -nographic -no-reboot -d bios,unimp -D "$dir/log" "$@" </dev/null >"$dir/out" 2>&1
status=$?
fail=0
check() { # file pattern description
    if ! grep -q -- "$2" "$1"; then
        echo "FAIL: $3 (no '$2' in $(basename "$1"))"
        fail=1
    fi
}
[ "$status" -eq 0 ] || { echo "FAIL: vessel exited with $status, expected 0"; fail=1; }
check "$dir/out" "SeaBIOS (version 1.16" "banner on the serial console"
check "$dir/out" "No bootable device" "boot failure message on the serial console"
check "$dir/log" "Found QEMU fw_cfg" "fw_cfg detected"
check "$dir/log" "qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 \[RAM\]" "RAM size from fw_cfg"
check "$dir/log" "PCI: init bdf=00:00.0 id=8086:1237" "i440FX found"
check "$dir/log" "PCI: init bdf=00:01.0 id=8086:7000" "PIIX3 found"
check "$dir/log" "PCI: init bdf=00:01.1 id=8086:7010" "PIIX3 IDE found"
check "$dir/log" "PCI: init bdf=00:01.3 id=8086:7113" "PIIX4 PM found"
check "$dir/log" "ATA controller 1 at 1f0/3f4/0 (irq 14" "primary IDE channel"
check "$dir/log" "ATA controller 2 at 170/374/0 (irq 15" "secondary IDE channel"
check "$dir/log" "Using pmtimer, ioport 0xb008" "ACPI PM timer in use"
check "$dir/log" "sercon: using ioport 0x3f8" "serial console"
check "$dir/log" "PS2 keyboard initialized" "PS/2 keyboard"
check "$dir/log" "Scan for option roms" "option ROM scan"
check "$dir/log" "Attempting a hard reboot" "reboot through the reset path"
echo "$extra" | while IFS= read -r pat; do
    [ -z "$pat" ] && continue
    grep -q -- "$pat" "$dir/log" || { echo "FAIL: log lacks '$pat'"; touch "$dir/extra-failed"; }
done
[ -e "$dir/extra-failed" ] && fail=1
if grep -q "unassigned port" "$dir/log"; then
    echo "FAIL: SeaBIOS touched unassigned ports:"; grep "unassigned port" "$dir/log" | sort | uniq -c | head
    fail=1
fi
if [ $fail -ne 0 ]; then
    echo "--- serial:"; tail -20 "$dir/out"; echo "--- log:"; tail -30 "$dir/log"
    exit 1
fi
echo "seabios_nodisk: ok"
