#!/bin/sh
# Display flags without any X server:
#  - no DISPLAY/WAYLAND_DISPLAY and no -display: one notice line, then the
#    -nographic behaviour (SeaBIOS on the serial console = stdout), status 0;
#  - DISPLAY naming no server: the same, the notice giving SDL's reason;
#  - -screendump-at T:FILE,quit with -display none writes a 720x400 PNG of
#    SeaBIOS's text screen and exits 0;
#  - bad values exit 2 with one error line.
# usage: headless_test.sh VESSEL
set -u
vessel=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

env -u DISPLAY -u WAYLAND_DISPLAY timeout 60 "$vessel" -no-reboot </dev/null >"$dir/out" 2>"$dir/err"
rc=$?
[ $rc = 0 ] || bad "headless default: exit status $rc, expected 0"
grep -q "SeaBIOS (version" "$dir/out" || bad "headless default: no SeaBIOS banner on stdout (not -nographic?)"
[ "$(grep -c "no window possible" "$dir/err")" = 1 ] || bad "headless default: no one-line notice: $(cat "$dir/err")"

env -u WAYLAND_DISPLAY DISPLAY=:987 timeout 60 "$vessel" -no-reboot </dev/null >"$dir/out" 2>"$dir/err"
rc=$?
[ $rc = 0 ] || bad "DISPLAY without a server: exit status $rc, expected 0"
grep -q "SeaBIOS (version" "$dir/out" || bad "DISPLAY without a server: no banner on stdout"
grep -q "no window possible (SDL" "$dir/err" || bad "DISPLAY without a server: notice lacks SDL's reason: $(cat "$dir/err")"

timeout 60 "$vessel" -display none -screendump-at "0.8:$dir/shot.png,quit" </dev/null >"$dir/out" 2>"$dir/err"
rc=$?
[ $rc = 0 ] || bad "-screendump-at ...,quit: exit status $rc, expected 0 ($(cat "$dir/err"))"
if [ -f "$dir/shot.png" ]; then
    # PNG signature, then IHDR width and height (big-endian) at bytes 16..23
    sig=$(od -An -tx1 -N8 "$dir/shot.png" | tr -d ' \n')
    [ "$sig" = 89504e470d0a1a0a ] || bad "screendump is not a PNG ($sig)"
    wh=$(od -An -tx1 -j16 -N8 "$dir/shot.png" | tr -d ' \n')
    [ "$wh" = 000002d000000190 ] || bad "screendump is not 720x400 (IHDR $wh)"
else
    bad "-screendump-at wrote no file"
fi

timeout 60 "$vessel" -vga none -display none -screendump-at "0.2:$dir/none.png,quit" </dev/null >/dev/null 2>"$dir/err"
rc=$?
[ $rc = 2 ] || bad "-screendump-at with -vga none: exit status $rc, expected 2"
grep -q "no VGA" "$dir/err" || bad "-screendump-at with -vga none: no error message"

expect_usage() { # description, args...
    what=$1; shift
    timeout 20 "$vessel" "$@" </dev/null >"$dir/out" 2>"$dir/err"
    rc=$?
    [ $rc = 2 ] || bad "$what: exit status $rc, expected 2"
    [ "$(wc -l <"$dir/err")" = 1 ] || bad "$what: expected one error line, got: $(cat "$dir/err")"
}
expect_usage "-display bogus" -display bogus
expect_usage "-display without value" -display
expect_usage "-nographic -display sdl" -nographic -display sdl
expect_usage "-nographic -display curses" -nographic -display curses
expect_usage "-screendump-at without time" -screendump-at shot.png
expect_usage "-screendump-at bad unit" -screendump-at 3h:shot.png
expect_usage "-screendump-at bad count" -screendump-at ixyz:shot.png

[ $fail -eq 0 ] || exit 1
echo "headless_test: ok"
