#!/bin/sh
# -display curses in a tmux pane:
#  A. SeaBIOS with no disk: its banner appears as text in the terminal, and
#     Ctrl-A x ends vessel with status 0.
#  B. The bare-metal kbd_guest (prints 8042 bytes to the debug console):
#     terminal keys arrive as PS/2 set-2 make/break pairs: a, A (with
#     Shift), Enter, Up, F1, Ctrl-A a (Ctrl+A).
# usage: curses_test.sh VESSEL      (exit 77 = skipped: tmux or nasm missing)
set -u
vessel=$1
here=$(cd "$(dirname "$0")" && pwd)
for t in tmux nasm; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
done
dir=$(mktemp -d)
sock="$dir/tmux.sock"
tm() { tmux -S "$sock" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$dir"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
nasm -f bin "$here/kbd_guest.asm" -o "$dir/kbd.bin" || { echo "FAIL: nasm"; exit 1; }

# Runs vessel in a fresh tmux session; its exit status goes to $dir/$1.rc.
start() {
    name=$1; shift
    tm new-session -d -s "$name" -x 100 -y 30 \
        "TERM=xterm-256color LANG=C.UTF-8 $* 2>$dir/$name.err; echo \$? >$dir/$name.rc; sleep 60"
}
# Waits up to $2 tenths of a second for $1 to exist.
wait_file() {
    j=0
    while [ ! -s "$1" ]; do j=$((j + 1)); [ $j -gt "$2" ] && return 1; sleep 0.1; done
}
# Waits up to $2 tenths for the pane of session $1 to show text $3.
wait_text() {
    j=0
    until tm capture-pane -p -t "$1" | grep -q -- "$3"; do
        j=$((j + 1)); [ $j -gt "$2" ] && return 1; sleep 0.1
    done
}

# ---- A ----
start a "$vessel" -display curses
wait_text a 150 "SeaBIOS (version" || { bad "no SeaBIOS banner in the terminal:"; tm capture-pane -p -t a; }
tm send-keys -t a C-a x
wait_file "$dir/a.rc" 100 || bad "Ctrl-A x did not end vessel"
[ "$(cat "$dir/a.rc" 2>/dev/null)" = 0 ] || bad "exit status $(cat "$dir/a.rc" 2>/dev/null), expected 0"

# ---- B ----
start b "$vessel" -display curses -bios "$dir/kbd.bin" -debugcon "file:$dir/kbd.txt"
j=0
until grep -q ready "$dir/kbd.txt" 2>/dev/null; do j=$((j + 1)); [ $j -gt 100 ] && break; sleep 0.1; done
wait_text b 50 "graphics mode\|no VGA\|^ *$" >/dev/null
for k in a A Enter Up F1 "C-a a"; do
    tm send-keys -t b $k
    sleep 0.3
done
want="1C F0 1C 12 1C F0 1C F0 12 5A F0 5A E0 75 E0 F0 75 05 F0 05 14 1C F0 1C F0 14"
grep -q "$want" "$dir/kbd.txt" || bad "keys: expected '$want' in '$(cat "$dir/kbd.txt")'"
tm send-keys -t b C-a x
wait_file "$dir/b.rc" 100 || bad "Ctrl-A x did not end vessel (guest)"
[ "$(cat "$dir/b.rc" 2>/dev/null)" = 0 ] || bad "guest run: exit status $(cat "$dir/b.rc" 2>/dev/null), expected 0"

if [ $fail -ne 0 ]; then
    for s in a b; do echo "--- stderr ($s):"; cat "$dir/$s.err" 2>/dev/null; done
    exit 1
fi
echo "curses_test: ok"
