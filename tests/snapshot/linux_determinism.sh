#!/bin/sh
# Snapshots in deterministic time on Linux (issue 7, "Determinism").
#
# The guest of tests/boot/linux_determinism.sh (the default kernel and
# initramfs, root on -snapshot -hda disk.img, rcS, a marker, poweroff -f)
# runs with -icount shift=2 -rtc clock=vm -d exitstate:
#   A  uninterrupted;
#   B  the same, saving with -savevm-at N:DIR/mid.vsn (at instruction N, then
#      going on) - in parallel with A;
#   C  a NEW process started with -loadvm DIR/mid.vsn, run to the end.
# A, B and C must end with the same exitstate line (instruction count, CPU
# state CRC, RAM CRC) and status; B's serial output must be A's, C's the
# rest of A's after N.  The -snapshot drive's writes before N are kept by
# the save in a frozen DIR/mid.hda.frozen.qcow2 (qemu-img check must pass)
# that C's drive reads through a new temporary overlay.
# disk.img is copied to a temporary directory first (a save freezes it).
#
# usage: tests/snapshot/linux_determinism.sh VESSEL GUESTDIR
# environment: SNAPDET_AT=N (default 5000000000), SNAPDET_TIMEOUT=600
set -u
vessel=$1 guest=$2
at=${SNAPDET_AT:-5000000000}
timeout=${SNAPDET_TIMEOUT:-600}
for f in disk.img vmlinuz initrd.img; do
    [ -f "$guest/$f" ] || { echo "FAIL: $guest/$f missing (run scripts/build-guest.sh first)"; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/snap_linuxdet.XXXXXX") || exit 1
cp "$guest/disk.img" "$dir/disk.img"

# shellcheck disable=SC2016 # expanded by the guest's shell
script='mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev;'\
' while read -r m; do insmod /lib/modules/$m.ko; done </lib/modules/load.order;'\
' n=0; while [ ! -b /dev/sda2 ] && [ $n -lt 300 ]; do usleep 100000; n=$((n+1)); done;'\
' mount -t ext4 /dev/sda2 /newroot && umount /sys /proc &&'\
' exec switch_root /newroot /bin/sh -c '\''sh /etc/init.d/rcS; cat /etc/vessel-release;'\
' echo snapdet > /root/snapdet.txt; sync; echo vessel-determinism-$((6*7)); poweroff -f'\'';'\
' echo vessel-determinism-failed; poweroff -f'
append="console=ttyS0 nokaslr panic=-1 rdinit=/bin/sh -- -c \"$script\""

run() { # NAME EXTRA-ARGS...
    name=$1; shift
    timeout "$timeout" "$vessel" -M pc -cpu pentium2 -m 256 -icount shift=2 -rtc clock=vm \
        -snapshot -hda "$dir/disk.img" -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
        -append "$append" -nographic -no-reboot -d exitstate -D "$dir/log$name.txt" "$@" \
        </dev/null >"$dir/serial$name.txt" 2>"$dir/err$name.txt"
    echo $? >"$dir/status$name"
}
exitstate() { grep -a '^exitstate:' "$dir/log$1.txt" 2>/dev/null | tail -1; }
t0=$(date +%s)
run A & pa=$!
run B -savevm-at "$at:$dir/mid.vsn" & pb=$!
wait $pa $pb
run C -loadvm "$dir/mid.vsn"
t1=$(date +%s)

fail=0
a=$(exitstate A) b=$(exitstate B) c=$(exitstate C)
for n in A B C; do
    echo "run $n: status $(cat "$dir/status$n"): $(exitstate $n)"
done
if ! grep -q "saved snapshot" "$dir/errB.txt"; then
    echo "FAIL: B did not save at instruction $at:"; head -3 "$dir/errB.txt"; fail=1
fi
if [ -z "$a" ] || [ "$a" != "$b" ] || [ "$b" != "$c" ]; then
    echo "FAIL: the exitstate lines differ"; fail=1
fi
icount=$(echo "$a" | sed -n 's/.*icount=\([0-9]*\).*/\1/p')
if [ -n "$icount" ] && [ "$icount" -le "$at" ]; then
    echo "FAIL: the guest ran only $icount instructions, the save point $at is past its end (set SNAPDET_AT)"; fail=1
fi
for n in A B C; do
    [ "$(cat "$dir/status$n")" = 0 ] || { echo "FAIL: run $n exit status $(cat "$dir/status$n")"; fail=1; }
done
grep -q vessel-determinism-42 "$dir/serialA.txt" || { echo "FAIL: A did not reach the marker"; fail=1; }
cmp -s "$dir/serialA.txt" "$dir/serialB.txt" || { echo "FAIL: saving changed B's serial output"; fail=1; }
n=$(wc -c <"$dir/serialC.txt")
if [ "$n" -eq 0 ] || ! tail -c "$n" "$dir/serialA.txt" | cmp -s - "$dir/serialC.txt"; then
    echo "FAIL: C's serial output ($n bytes) is not the rest of A's"; fail=1
fi
if [ -f "$dir/mid.hda.frozen.qcow2" ]; then
    if ! qemu-img check "$dir/mid.hda.frozen.qcow2" >"$dir/check.txt" 2>&1; then
        echo "FAIL: qemu-img check mid.hda.frozen.qcow2:"; cat "$dir/check.txt"; fail=1
    fi
    echo "note: the -snapshot overlay's writes before $at are kept in mid.hda.frozen.qcow2"
else
    echo "note: nothing written to the -snapshot drive before $at: the snapshot records disk.img itself"
fi
case $(stat -c %a "$dir/disk.img") in
    *[2367]*) echo "FAIL: disk.img, the base of the snapshot, still has write permission bits"; fail=1 ;;
esac
if [ $fail = 0 ]; then
    echo "snapshot linux determinism: ok: save at $at, $icount instructions, $((t1 - t0)) s"
    chmod -R u+w "$dir"; rm -rf "$dir"
else
    echo "logs kept in $dir"
fi
exit $fail
