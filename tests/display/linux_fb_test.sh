#!/bin/sh
# Linux's frame buffer drivers on vessel's std VGA, in the default guest,
# with the display off (-display none; screendumps through the monitor):
#   vesafb-kernel    vesafb at 800x600x16: -kernel ... -append vga=0x314; the
#                    loader puts 0x314 in the bzImage header's vid_mode, as
#                    QEMU does (the kernel's real-mode setup then calls VBE
#                    4F02 in Debian's vgabios-stdvga through linuxboot's
#                    16-bit entry)
#   vesafb-syslinux  vesafb at 800x600x32: the disk through SeaBIOS and
#                    SYSLINUX with vga=0x343 added to syslinux.cfg
#   bochs            bochs-drm loaded from the initramfs (rdshell, the modules
#                    in /lib/modules/display.order): card0, /proc/fb
#                    bochs-drmdrmfb, 720x400 text -> 1024x768x32 with fbcon
# Each checks /proc/fb, dmesg and fb0's geometry in the guest and that fbcon's
# text shows in a screendump, then writes a known pattern to /dev/fb0 and
# compares the screendump with it pixel by pixel.
# usage: linux_fb_test.sh VESSEL GUESTDIR SCENARIO
# environment: GUEST_TIMEOUT=240 (seconds to the prompt), LINUX_FB_KEEP=DIR
#              (keep the serial log, stderr and screendumps there)
set -u
if [ $# -ne 3 ]; then
    echo "usage: $0 VESSEL GUESTDIR vesafb-kernel|vesafb-syslinux|bochs" >&2
    exit 2
fi
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
exec python3 "$(cd "$(dirname "$0")" && pwd)/linux_fb.py" "$1" "$2" "$3"
