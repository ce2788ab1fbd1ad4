#!/bin/sh
# The SDL window under Xvfb (started here on a free display number):
#  A. SeaBIOS with no disk: the window appears with the title
#     "vessel - running - N MIPS", a screenshot (import -window root) is not
#     blank and the banner line holds text-like pixels, -screendump-at wrote
#     a 720x400 PNG of the same text screen, and closing the window (a
#     WM_DELETE_WINDOW message, as a window manager sends) ends vessel with
#     status 0 after the power-button grace period (SeaBIOS has no ACPI OS).
#  B. A bare-metal guest (kbd_guest.asm) that prints every 8042 byte to the
#     debug console: X key events become the right PS/2 set-2 bytes
#     (a, Enter, Up, PrintScreen, Pause), a click grabs the mouse and
#     buttons and motion arrive as PS/2 packets, Ctrl+Alt+G releases the
#     grab, and closing the window presses the ACPI power button, which the
#     guest answers by powering off: vessel exits 0 at once.
# usage: sdl_test.sh VESSEL      (exit 77 = skipped: a tool is missing)
set -u
vessel=$1
here=$(cd "$(dirname "$0")" && pwd)
for t in Xvfb xdotool import convert nasm cc; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
dir=$(mktemp -d)
xpid=""
vpid=""
cleanup() {
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null
    [ -n "$xpid" ] && kill "$xpid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

nasm -f bin "$here/kbd_guest.asm" -o "$dir/kbd.bin" || { echo "FAIL: nasm"; exit 1; }
cc "$here/wm_close.c" -o "$dir/wm_close" -lX11 || { echo "SKIP: cannot build wm_close (libx11-dev)"; exit 77; }

# A free display number, and an Xvfb on it.
n=90
while [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1280x1024x24 -nolisten tcp >"$dir/xvfb.log" 2>&1 &
xpid=$!
export DISPLAY=":$n"
unset WAYLAND_DISPLAY
i=0
until xdotool getmouselocation >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "FAIL: Xvfb did not start"; cat "$dir/xvfb.log"; exit 1; }
    sleep 0.1
done

# Waits (up to $2 tenths of a second) for a window named vessel; prints its id.
find_window() {
    j=0
    while [ $j -lt "$1" ]; do
        w=$(xdotool search --name '^vessel' 2>/dev/null | head -1)
        [ -n "$w" ] && { echo "$w"; return 0; }
        j=$((j + 1)); sleep 0.1
    done
    return 1
}
# Waits for process $1 to end (up to $2 tenths); sets $rc (124 on timeout).
wait_exit() {
    j=0
    while kill -0 "$1" 2>/dev/null; do
        j=$((j + 1))
        [ $j -gt "$2" ] && { rc=124; return; }
        sleep 0.1
    done
    wait "$1"; rc=$?
}
# Mean brightness (0..1) of the thresholded region WxH+X+Y of a picture.
light() { convert "$1" -crop "$2" +repage -colorspace Gray -threshold 50% -format '%[fx:mean]' info:; }

# ---- A. SeaBIOS, screenshot, screendump, close ----
# SeaBIOS reboots about once a second (blank for a moment): several dumps,
# at least one of which must show the banner.
dumps=""
for t in 1 1.5 2 2.5 3 3.5 4 4.5; do dumps="$dumps -screendump-at $t:$dir/dump$t.png"; done
"$vessel" -display sdl $dumps >"$dir/a.out" 2>&1 &
vpid=$!
if w=$(find_window 100); then
    ok=0
    for try in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        sleep 0.5
        eval "$(xdotool getwindowgeometry --shell "$w")"
        import -window root "$dir/shot.png" 2>/dev/null || continue
        # the whole window is not blank, and its first text row (SeaBIOS's
        # banner, 16 scan lines) has some but not mostly light pixels
        whole=$(light "$dir/shot.png" "${WIDTH}x${HEIGHT}+${X}+${Y}")
        row=$(light "$dir/shot.png" "$((WIDTH / 2))x$((HEIGHT / 25))+${X}+${Y}")
        if [ "$(echo "$whole > 0.005 && $row > 0.05 && $row < 0.6" | bc)" = 1 ]; then
            ok=1; break
        fi
    done
    [ $ok = 1 ] || bad "no text in the window (whole=$whole, banner row=$row)"
    title=$(xdotool getwindowname "$w")
    echo "$title" | grep -Eq '^vessel - running - [0-9]+ MIPS$' || bad "window title '$title'"
    t0=$(date +%s)
    "$dir/wm_close" "$w"
    wait_exit $vpid 150
    vpid=""
    [ "$rc" = 0 ] || bad "SeaBIOS run: exit status $rc after closing the window, expected 0"
    [ $(( $(date +%s) - t0 )) -le 8 ] || bad "SeaBIOS run: took too long to quit after close"
    grep -q "did not power off" "$dir/a.out" || bad "no notice that the guest ignored the power button"
    ndump=0 ntext=0
    for f in "$dir"/dump*.png; do
        [ -f "$f" ] || continue
        ndump=$((ndump + 1))
        size=$(identify -format '%wx%h' "$f")
        [ "$size" = 720x400 ] || bad "screendump $(basename "$f") is $size, expected 720x400"
        drow=$(light "$f" "360x16+0+0")
        [ "$(echo "$drow > 0.05 && $drow < 0.6" | bc)" = 1 ] && ntext=$((ntext + 1))
    done
    [ $ndump -ge 2 ] || bad "-screendump-at wrote $ndump files, expected at least 2"
    [ $ntext -ge 1 ] || bad "no screendump shows the SeaBIOS banner"
else
    bad "no vessel window appeared"; kill $vpid; cat "$dir/a.out"; vpid=""
fi

# ---- B. keyboard and mouse into a bare-metal guest, power button ----
"$vessel" -display sdl -bios "$dir/kbd.bin" -debugcon "file:$dir/kbd.txt" >"$dir/b.out" 2>&1 &
vpid=$!
if w=$(find_window 100); then
    j=0
    until grep -q ready "$dir/kbd.txt" 2>/dev/null; do
        j=$((j + 1)); [ $j -gt 100 ] && break; sleep 0.1
    done
    # no window manager: keyboard focus follows the pointer
    xdotool mousemove --window "$w" 100 100
    sleep 0.3
    xdotool key a Return Up Print Pause
    sleep 0.5
    want="1C F0 1C 5A F0 5A E0 75 E0 F0 75 E0 12 E0 7C E0 F0 7C E0 F0 12 E1 14 77 E1 F0 14 F0 77"
    grep -q "$want" "$dir/kbd.txt" || bad "keys: expected '$want' in '$(cat "$dir/kbd.txt")'"
    xdotool click 1          # grabs (not forwarded)
    sleep 0.3
    xdotool getwindowname "$w" | grep -q "release grab" || bad "click did not grab the mouse"
    xdotool mousedown 1; sleep 0.2; xdotool mouseup 1; sleep 0.2
    grep -q "m09 m00 m00 m08 m00 m00" "$dir/kbd.txt" || bad "mouse button packets missing: '$(cat "$dir/kbd.txt")'"
    xdotool mousemove_relative 20 0; sleep 0.3
    grep -Eq "m08 m(0[1-9A-F]|[1-7][0-9A-F]) m00" "$dir/kbd.txt" || bad "no rightward motion packet: '$(cat "$dir/kbd.txt")'"
    xdotool key ctrl+alt+g; sleep 0.3
    xdotool getwindowname "$w" | grep -q "release grab" && bad "Ctrl+Alt+G did not release the grab"
    "$dir/wm_close" "$w"
    wait_exit $vpid 25
    vpid=""
    [ "$rc" = 0 ] || bad "guest run: exit status $rc after closing the window, expected 0 within 2.5 s"
    grep -q pwrbtn "$dir/kbd.txt" || bad "the guest never saw the ACPI power button"
else
    bad "no vessel window appeared (keyboard guest)"; kill $vpid; cat "$dir/b.out"; vpid=""
fi

if [ $fail -ne 0 ]; then
    echo "--- vessel stderr (A):"; cat "$dir/a.out" 2>/dev/null
    echo "--- vessel stderr (B):"; cat "$dir/b.out" 2>/dev/null
    exit 1
fi
echo "sdl_test: ok"
