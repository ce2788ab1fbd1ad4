#!/bin/sh
# Monitor media commands for IDE CD-ROMs: eject, change to a new image,
# refusals for a missing file and for a drive that is not a CD-ROM.
# usage: monitor_media.sh VESSEL
set -u
vessel=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
head -c 1048576 /dev/zero > "$dir/a.iso"
head -c 2097152 /dev/zero > "$dir/b.iso"
(sleep 1; printf 'eject ide1-cd0\nchange ide1-cd0 %s\nchange ide1-cd0 %s\nchange ide0-cd0 %s\nquit\n' \
    "$dir/b.iso" "$dir/nope.iso" "$dir/b.iso") |
    timeout 30 "$vessel" -display none -monitor stdio -cdrom "$dir/a.iso" > "$dir/out" 2>&1
fail=0
for want in "eject: ide1-cd0 is empty" "change: ide1-cd0 $dir/b.iso" "change: $dir/nope.iso" \
            "change: ide0-cd0 is not a CD-ROM drive"; do
    grep -qF -- "$want" "$dir/out" || { echo "FAIL: no '$want'"; fail=1; }
done
[ $fail -eq 0 ] && echo "monitor_media: ok" || cat "$dir/out"
exit $fail
