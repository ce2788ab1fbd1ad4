#!/bin/sh
# gdb_test.sh VESSEL [PART...] - the gdb stub and the monitor, end to end.
#
# PARTs (default: all, in this order):
#   gdb      Debian's gdb in batch mode (gdb_session.py) against gdbguest.asm
#            booted with -S -gdb tcp:...: reset state, stepi x10, x/4xw,
#            break, write watchpoint, hbreak, unmapped read, Ctrl-C,
#            "monitor info registers", detach; the guest then exits (67).
#   packets  a raw protocol client (gdb_packets.py) over -gdb unix:PATH:
#            bad checksums, malformed/oversized packets, huge lengths,
#            unmapped addresses, a refused second connection, random packets;
#            ends with k (exit 0).
#   monitor  -monitor unix:PATH,server,nowait (monitor_test.py), ends with quit.
#   cli      flag errors (exit 2, one line), port in use, -monitor stdio on a
#            pipe, -monitor tcp.
#   tty      -monitor stdio on a pseudo-terminal: libedit editing and history.
# Exits 0 when all pass, 1 on a failure, 77 (skip) without nasm, python3 or gdb.
set -u
if [ $# -lt 1 ]; then
    echo "usage: $0 VESSEL [gdb|packets|monitor|cli|tty]..." >&2
    exit 2
fi
vessel=$1
shift
parts=${*:-gdb packets monitor cli tty}
here=$(cd "$(dirname "$0")" && pwd)

for tool in nasm python3 gdb timeout; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool not installed"
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdbtest.XXXXXX") || exit 1
vpid=
cleanup() {
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
nasm -f bin -o "$tmp/guest.bin" "$here/gdbguest.asm" || exit 1

fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_vessel ARGS...: runs the guest in the background (killed after 120 s).
start_vessel() {
    timeout -k 5 120 "$vessel" -m 16 -display none -bios "$tmp/guest.bin" \
        -device isa-debug-exit,iobase=0xf4,iosize=4 "$@" > "$tmp/vessel.log" 2>&1 &
    vpid=$!
}

# wait_vessel EXPECTED WHAT: the emulator's exit status must be EXPECTED.
wait_vessel() {
    wait "$vpid"
    st=$?
    vpid=
    if [ "$st" -ne "$1" ]; then
        fail "$2: vessel exited with $st, expected $1"
        sed 's/^/  vessel: /' "$tmp/vessel.log" | head -n 20
    fi
}

part_gdb() {
    port=$(free_port)
    start_vessel -S -gdb "tcp:127.0.0.1:$port"
    GDBTEST_PORT="127.0.0.1:$port" GDBTEST_BIN="$tmp/guest.bin" \
        timeout -k 5 120 gdb -nx -batch -x "$here/gdb_session.py" > "$tmp/gdb.out" 2>&1
    grep -E '^(ok|FAIL) ' "$tmp/gdb.out"
    if ! grep -q '^GDBTEST PASS' "$tmp/gdb.out"; then
        fail "gdb session"
        grep -v -E '^(ok|FAIL) ' "$tmp/gdb.out" | tail -n 20
    fi
    wait_vessel 67 "gdb session (guest exit after detach)"
}

part_packets() {
    start_vessel -S -gdb "unix:$tmp/gdb.sock"
    timeout -k 5 120 python3 "$here/gdb_packets.py" "unix:$tmp/gdb.sock" > "$tmp/packets.out" 2>&1
    grep -E '^(ok|FAIL) ' "$tmp/packets.out"
    if ! grep -q '^PACKETS PASS' "$tmp/packets.out"; then
        fail "packet test"
        tail -n 20 "$tmp/packets.out"
    fi
    wait_vessel 0 "packet test (k)"
}

part_monitor() {
    start_vessel -S -monitor "unix:$tmp/mon.sock,server,nowait"
    timeout -k 5 120 python3 "$here/monitor_test.py" "$tmp/mon.sock" > "$tmp/monitor.out" 2>&1
    grep -E '^(ok|FAIL) ' "$tmp/monitor.out"
    if ! grep -q '^MONITOR PASS' "$tmp/monitor.out"; then
        fail "monitor test"
        tail -n 20 "$tmp/monitor.out"
    fi
    wait_vessel 0 "monitor test (quit)"
}

# expect_usage_error WHAT ARGS...: exit 2 with exactly one line on stderr.
expect_usage_error() {
    what=$1
    shift
    timeout 20 "$vessel" -m 16 -display none -bios "$tmp/guest.bin" "$@" < /dev/null > "$tmp/out" 2> "$tmp/err"
    st=$?
    n=$(wc -l < "$tmp/err")
    if [ "$st" -eq 2 ] && [ "$n" -eq 1 ]; then
        echo "ok   $what: $(cat "$tmp/err")"
    else
        fail "$what: status $st, $n stderr lines: $(head -c 300 "$tmp/err")"
    fi
}

part_cli() {
    expect_usage_error "-gdb with a bad spec" -gdb bogus
    expect_usage_error "-gdb with a bad port" -gdb tcp::99999
    expect_usage_error "-gdb without argument" -gdb
    expect_usage_error "-monitor with a bad spec" -monitor "file:/tmp/x"
    expect_usage_error "-monitor tcp without server" -monitor "tcp:127.0.0.1:5555"
    expect_usage_error "-monitor stdio with -nographic" -monitor stdio -nographic
    expect_usage_error "-S with nothing to start the guest" -S
    python3 -c "import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(15)" > "$tmp/port" &
    holder=$!
    n=0
    while [ ! -s "$tmp/port" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    port=$(cat "$tmp/port")
    expect_usage_error "-gdb on a port in use" -gdb "tcp:127.0.0.1:$port"
    kill $holder 2>/dev/null
    wait $holder 2>/dev/null

    # -monitor stdio on a pipe (no terminal: plain line reading).
    printf 'info status\nx/1xw 0xfffffff0\nstepi 2\nquit\n' |
        timeout 30 "$vessel" -m 16 -display none -bios "$tmp/guest.bin" -S -monitor stdio > "$tmp/out" 2> "$tmp/err"
    st=$?
    if [ "$st" -eq 0 ] && grep -q 'VM status: paused' "$tmp/out" && grep -q 'fffffff0: 0x000000ea' "$tmp/out" &&
        grep -q 'EIP=00000001' "$tmp/out"; then
        echo "ok   -monitor stdio on a pipe"
    else
        fail "-monitor stdio on a pipe: status $st: $(head -c 400 "$tmp/out") $(head -c 200 "$tmp/err")"
    fi

    # -monitor tcp: quit through it.
    port=$(free_port)
    start_vessel -S -monitor "tcp:127.0.0.1:$port,server,nowait"
    python3 - "$port" > "$tmp/out" 2>&1 <<'EOF'
import socket, sys, time
deadline = time.time() + 15
while True:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
        break
    except ConnectionRefusedError:
        if time.time() > deadline:
            raise
        time.sleep(0.1)
buf = b""
s.sendall(b"info status\nquit\n")
while True:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print(buf.decode())
EOF
    if grep -q 'VM status: paused' "$tmp/out"; then
        echo "ok   -monitor tcp"
    else
        fail "-monitor tcp: $(head -c 300 "$tmp/out")"
    fi
    wait_vessel 0 "-monitor tcp (quit)"
}

# -monitor stdio on a terminal (a pseudo-terminal from python): libedit
# line editing (a deleted character, history recall with the up arrow).
part_tty() {
    python3 - "$vessel" "$tmp/guest.bin" > "$tmp/tty.out" 2>&1 <<'PY'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-m", "16", "-display", "none", "-bios", sys.argv[2],
                           "-S", "-monitor", "stdio"])
def read(t):
    out, end = b"", time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out.decode(errors="replace")
out = read(2)
for line in [b"info statux\x7fs\r", b"\x1b[A\r", b"quit\r"]:
    os.write(fd, line)
    out += read(1.5)
_, st = os.waitpid(pid, 0)
print(out)
print("STATUS %d COUNT %d" % (os.WEXITSTATUS(st), out.count("VM status: paused")))
PY
    if grep -q 'STATUS 0 COUNT 2' "$tmp/tty.out"; then
        echo "ok   -monitor stdio on a terminal (editing, history, quit)"
    else
        fail "-monitor stdio on a terminal: $(tail -c 600 "$tmp/tty.out")"
    fi
}

for p in $parts; do
    case $p in
    gdb | packets | monitor | cli | tty) echo "--- $p"; "part_$p" ;;
    *) echo "unknown part '$p'" >&2; exit 2 ;;
    esac
done

if [ "$fails" -ne 0 ]; then
    echo "gdb_test: $fails failure(s)"
    exit 1
fi
echo "gdb_test: PASS"
exit 0
