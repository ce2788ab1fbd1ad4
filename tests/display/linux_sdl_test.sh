#!/bin/sh
# The default guest under the SDL display (Xvfb), the issue's acceptance:
#  1. it boots with -display sdl to the "vessel# " prompt (read on the serial
#     console, which gets the kernel log through console=ttyS0);
#  2. a window named vessel exists;
#  3. a monitor `screendump` at the prompt is a 720x400 PNG (80x25 text) that
#     is not blank and whose text rows (tty1 has the kernel log through
#     console=tty0) hold both foreground and background pixels;
#  4. keys sent to the window as X events (xdotool) are typed on tty1's shell:
#     `echo typed-on-tty1 $((6*7)) > /dev/ttyS0` arrives on the serial console;
#  5. `poweroff` on the serial console ends vessel with status 0.
# usage: linux_sdl_test.sh VESSEL GUESTDIR   (exit 77 = Xvfb/xdotool missing)
# environment: GUEST_TIMEOUT=600 (seconds to the prompt), LINUX_SDL_KEEP=DIR
#              (keep the serial log, stderr and screendump there)
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 VESSEL GUESTDIR" >&2
    exit 2
fi
for t in Xvfb xdotool python3; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
exec python3 "$(cd "$(dirname "$0")" && pwd)/linux_sdl.py" "$1" "$2"
