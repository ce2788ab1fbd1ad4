#!/bin/sh
# Installs what vessel needs to build and test on Debian 12 / Ubuntu, from
# Debian's packages only, and copies the firmware it runs (SeaBIOS) into roms/.
# Idempotent: packages already present are not reinstalled.
set -eu
cd "$(dirname "$0")/.."

PKGS="libcapstone-dev build-essential cmake nasm bc qemu-utils xorriso qemu-system-data syslinux syslinux-common isolinux mtools dosfstools fdisk cpio kmod xz-utils e2fsprogs zlib1g-dev libcmocka-dev seabios qemu-system-x86 pkg-config libsdl2-dev libpng-dev libncurses-dev xvfb xdotool imagemagick tmux libslirp-dev ipxe-qemu libedit-dev gdb"

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

# Firmware from Debian's seabios and qemu-system-data packages (never hand-made).
mkdir -p roms
for f in /usr/share/seabios/bios.bin /usr/share/seabios/vgabios-stdvga.bin \
         /usr/share/qemu/linuxboot.bin /usr/share/qemu/multiboot.bin; do
    b=$(basename "$f")
    if [ ! -f "roms/$b" ] || ! cmp -s "$f" "roms/$b"; then
        cp "$f" "roms/$b"
    fi
done
