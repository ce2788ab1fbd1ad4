#!/bin/sh
# Deterministic time (-icount) with Linux: the default guest (build-guest.sh)
# boots twice, at the same time, with no host input at all: once on the
# translation cache with all its fast paths (block chaining, the flat memory
# forms, stale EIP inside blocks), once on the reference interpreter
# (-no-tcache: one instruction at a time, generic handlers).  Both runs must
# retire the same number of instructions and end in the same CPU and RAM
# state (the "exitstate:" line of -d exitstate), and print the same bytes on
# the serial console: the fast paths change nothing a guest can see, and
# the run is a function of its inputs.
#
# The kernel is started with -kernel/-initrd and rdinit=/bin/sh running a
# script from the kernel command line (after "--", so it reaches init's argv):
# the initramfs's modules are loaded (load.order), the root partition
# /dev/sda2 of -hda disk.img (with -snapshot) is mounted, switch_root runs the
# root's /etc/init.d/rcS (proc/sys/devpts/tmpfs mounts, remount rw, "vessel
# guest ready"), prints /etc/vessel-release and the marker
# "vessel-determinism-42", and `poweroff -f` ends the emulator (ACPI).
#
# usage: tests/boot/linux_determinism.sh VESSEL GUESTDIR
# environment:
#   DET_TIMEOUT=900      seconds allowed for each run
#   DET_SHIFT=2          -icount shift
#   DET_EXTRA_ARGS=...   more emulator flags (both runs)
#   DET_RUN2_ARGS=...    flags of the second run only (default -no-tcache;
#                        empty: two identical runs)
#   DET_LOG_DIR=DIR      keep the logs there (default: a temp dir, removed
#                        unless the test fails)
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 VESSEL GUESTDIR" >&2
    exit 2
fi
vessel=$1 guest=$2
timeout=${DET_TIMEOUT:-900}
shift_n=${DET_SHIFT:-2}
for f in disk.img vmlinuz initrd.img; do
    if [ ! -f "$guest/$f" ]; then
        echo "FAIL: $guest/$f missing (run scripts/build-guest.sh $guest first)"
        echo "0 passed, 1 failed"
        exit 1
    fi
done
if [ -n "${DET_LOG_DIR:-}" ]; then
    dir=$DET_LOG_DIR keep=1
    mkdir -p "$dir"
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/linux_determinism.XXXXXX") keep=
fi

# The script init runs. No double quote inside (it is one quoted kernel
# argument); the inner script is single-quoted.
# shellcheck disable=SC2016 # expanded by the guest's shell
script='mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev;'\
' while read -r m; do insmod /lib/modules/$m.ko; done </lib/modules/load.order;'\
' n=0; while [ ! -b /dev/sda2 ] && [ $n -lt 300 ]; do usleep 100000; n=$((n+1)); done;'\
' mount -t ext4 /dev/sda2 /newroot && umount /sys /proc &&'\
' exec switch_root /newroot /bin/sh -c '\''sh /etc/init.d/rcS; cat /etc/vessel-release;'\
' echo vessel-determinism-$((6*7)); poweroff -f'\'';'\
' echo vessel-determinism-failed; poweroff -f'
append="console=ttyS0 nokaslr panic=-1 rdinit=/bin/sh -- -c \"$script\""

now() { date +%s.%N; }
run2_args=${DET_RUN2_ARGS--no-tcache}
run() { # N RUN_ARGS
    t0=$(now)
    # shellcheck disable=SC2086 # DET_EXTRA_ARGS is split on purpose
    timeout "$timeout" $vessel -M pc -cpu pentium2 -m 256 -icount "shift=$shift_n" -rtc clock=vm \
        -snapshot -hda "$guest/disk.img" -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
        -append "$append" -nographic -no-reboot -d exitstate -D "$dir/log$1.txt" ${DET_EXTRA_ARGS:-} $2 \
        </dev/null >"$dir/serial$1.txt" 2>&1
    echo $? >"$dir/status$1"
    echo "$t0 $(now)" | awk '{ printf "%.1f\n", $2 - $1 }' >"$dir/wall$1"
}
run 1 "" & p1=$!
run 2 "$run2_args" & p2=$!
wait $p1 $p2

fail=0
for n in 1 2; do
    st=$(cat "$dir/status$n")
    ex=$(grep -a '^exitstate:' "$dir/log$n.txt" 2>/dev/null | tail -1)
    eval "ex$n=\$ex"
    [ $n = 1 ] && how="translation cache" || how="${run2_args:-translation cache}"
    echo "run $n ($how): status $st, $(cat "$dir/wall$n") s wall: ${ex:-no exitstate line}"
    problem=
    if [ "$st" != 0 ]; then
        problem="exit status $st (124: timed out after ${timeout}s)"
    elif ! grep -aq '^vessel-determinism-42' "$dir/serial$n.txt"; then
        problem="no vessel-determinism-42 marker on the serial console"
    elif ! grep -aq 'reboot: Power down' "$dir/serial$n.txt"; then
        problem='no "reboot: Power down" from the kernel'
    elif [ -z "$ex" ]; then
        problem="no exitstate line in the log"
    elif grep -aqE 'alg: .*fail|Kernel panic|BUG: |Oops|general protection|invalid opcode' "$dir/serial$n.txt"; then
        problem="kernel log: $(grep -aE 'alg: .*fail|Kernel panic|BUG: |Oops|general protection|invalid opcode' "$dir/serial$n.txt" | head -1)"
    fi
    if [ -n "$problem" ]; then
        echo "FAIL: run $n: $problem"
        echo "--- serial output (last 30 lines of $dir/serial$n.txt):"
        tail -n 30 "$dir/serial$n.txt"
        echo "--- log (last 10 lines of $dir/log$n.txt):"
        tail -n 10 "$dir/log$n.txt" 2>/dev/null
        fail=1
    fi
done
if [ $fail = 0 ]; then
    # shellcheck disable=SC2154 # ex1/ex2 are set by eval
    if [ "$ex1" != "$ex2" ]; then
        echo "FAIL: the two runs end in different states:"
        echo "  $ex1"; echo "  $ex2"
        fail=1
    elif ! cmp -s "$dir/serial1.txt" "$dir/serial2.txt"; then
        echo "FAIL: same exit state but different serial output:"
        diff "$dir/serial1.txt" "$dir/serial2.txt" | head -20
        fail=1
    else
        icount=$(echo "$ex1" | sed -n 's/.*icount=\([0-9]*\).*/\1/p')
        echo "linux_determinism: ok: $icount instructions (guest time $(echo "$icount $shift_n" |
            awk '{ printf "%.1f", $1 * 2 ^ $2 / 1e9 }') s), serial output identical"
    fi
fi
if [ $fail = 0 ]; then
    [ -n "$keep" ] || rm -rf "$dir"
    echo "1 passed, 0 failed"
    exit 0
fi
echo "logs kept in $dir"
echo "0 passed, 1 failed"
exit 1
