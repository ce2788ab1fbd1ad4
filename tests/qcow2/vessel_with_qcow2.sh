#!/bin/bash
# An EMULATOR_CMD for tests/boot/qemu_guest.sh that boots the guest from a
# qcow2 image instead of its raw -hda image, then hands the result back:
#
#   tests/boot/qemu_guest.sh "tests/qcow2/vessel_with_qcow2.sh build/vessel" build/guest
#
# QCOW2_MODE selects the image (default overlay):
#   overlay     a qcow2 overlay (qemu-img create -b RAW -F raw) over a copy of
#               the raw image; the copy must be unchanged afterwards
#   compressed  qemu-img convert -c of the raw image (64 KiB clusters)
#   small       qemu-img convert with 4 KiB clusters
# After vessel exits, `qemu-img check` must find no errors and no leaks, and
# the qcow2 contents are converted back over the raw image, so that the
# caller's checks (debugfs on the root partition) see what the guest wrote.
# Diagnostics go to RAW.qcow2.log and one line on stderr.
set -u
vessel=$1
shift
args=()
raw=""
while [ $# -gt 0 ]; do
    if [ "$1" = -hda ] && [ $# -ge 2 ]; then
        raw=$2
        shift 2
        continue
    fi
    args+=("$1")
    shift
done
if [ -z "$raw" ]; then
    exec "$vessel" "${args[@]}"
fi
q="$raw.qcow2"
log="$raw.qcow2.log"
mode=${QCOW2_MODE:-overlay}
rm -f "$q"
case $mode in
overlay)
    cp "$raw" "$raw.base"
    qemu-img create -q -f qcow2 -b "$(basename "$raw").base" -F raw "$q" >>"$log" 2>&1 ;;
compressed)
    qemu-img convert -c -O qcow2 "$raw" "$q" >>"$log" 2>&1 ;;
small)
    qemu-img convert -O qcow2 -o cluster_size=4096 "$raw" "$q" >>"$log" 2>&1 ;;
*)
    echo "vessel_with_qcow2: unknown QCOW2_MODE '$mode'" >&2
    exit 98 ;;
esac || { echo "vessel_with_qcow2: cannot make $q (see $log)" >&2; exit 98; }
"$vessel" "${args[@]}" -hda "$q"
st=$?
if ! qemu-img check "$q" >>"$log" 2>&1; then
    echo "vessel_with_qcow2: qemu-img check $q failed (see $log)" >&2
    st=99
fi
if [ "$mode" = overlay ] && ! cmp -s "$raw" "$raw.base"; then
    echo "vessel_with_qcow2: the backing file changed" >&2
    st=99
fi
qemu-img convert -O raw "$q" "$raw" >>"$log" 2>&1 || st=99
exit $st
