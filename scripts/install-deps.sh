#!/bin/sh
# Installs what vessel needs to build and test on Debian 12 / Ubuntu, from
# Debian's packages only, and copies the firmware it runs (SeaBIOS) into roms/.
# Idempotent: packages already present are not reinstalled.
set -eu
cd "$(dirname "$0")/.."

PKGS="build-essential cmake nasm bc xorriso zlib1g-dev libcmocka-dev seabios qemu-system-x86"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "install-deps: installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Firmware from Debian's seabios package (never hand-made).
mkdir -p roms
for f in bios.bin vgabios-stdvga.bin; do
    if [ ! -f "roms/$f" ] || ! cmp -s "/usr/share/seabios/$f" "roms/$f"; then
        cp "/usr/share/seabios/$f" "roms/$f"
    fi
done
