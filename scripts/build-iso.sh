#!/bin/bash
# Builds a bootable CD-ROM image (ISO 9660 + Rock Ridge/Joliet, El Torito
# "no emulation" boot with Debian's ISOLINUX) from the default guest's kernel
# and initramfs (scripts/build-guest.sh). Nothing is downloaded.
#
# usage: scripts/build-iso.sh GUESTDIR       (default: build/guest)
#   reads  GUESTDIR/vmlinuz, GUESTDIR/initrd.img, GUESTDIR/kernel.release
#   writes GUESTDIR/cd.iso          the image:
#              /isolinux/isolinux.bin, ldlinux.c32, isolinux.cfg, boot.cat
#              /vmlinuz, /initrd.img
#              /data.bin            1 MiB of deterministic pseudo-random bytes
#                                   (SHA-256 in counter mode, see below)
#              /data.sha256         "HASH  data.bin" (for sha256sum -c)
#          GUESTDIR/cd-data.sha256  the same line, for the test on the host
# The kernel command line (guest/iso/isolinux.cfg) has `rdshell`: the
# initramfs loads its modules (ata_piix, sr_mod, isofs, ...) and stops in a
# shell on ttyS0 instead of mounting a root disk; tests/boot/iso_boot.sh then
# mounts /dev/sr0 and checks data.bin.
#
# Environment: ISO_FORCE=1 rebuilds even if nothing changed.
# The image is rebuilt only when an input changes (this script, guest/iso/,
# vmlinuz, initrd.img, the host's xorriso/isolinux/syslinux-common versions);
# the same inputs give the same bytes (SOURCE_DATE_EPOCH). Concurrent runs on
# the same GUESTDIR are serialised with flock. The last line printed is the
# path of cd.iso.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
script="$here/scripts/build-iso.sh"
isodir="$here/guest/iso"
out=${1:-$here/build/guest}
[ -d "$out" ] || { echo "build-iso: error: $out is not a directory (run scripts/build-guest.sh first)" >&2; exit 1; }
out=$(cd "$out" && pwd)

log() { echo "build-iso: $*" >&2; }
die() { echo "build-iso: error: $*" >&2; exit 1; }

for f in vmlinuz initrd.img kernel.release; do
    [ -f "$out/$f" ] || die "$out/$f missing (run scripts/build-guest.sh $out first)"
done

ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
LDLINUX_C32=/usr/lib/syslinux/modules/bios/ldlinux.c32
missing=""
command -v xorriso >/dev/null 2>&1 || missing="$missing xorriso"
[ -f "$ISOLINUX_BIN" ] || missing="$missing isolinux"
[ -f "$LDLINUX_C32" ] || missing="$missing syslinux-common"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing host packages:$missing (install them as root)"
        sudo="sudo"
    fi
    log "installing host tools:$missing"
    $sudo apt-get update -qq
    # shellcheck disable=SC2086 # a list of package names
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

exec 9>"$out/.cd.iso.lock"
flock 9

DATA_SIZE=1048576
hostver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }
inputs=$(
    echo "data $DATA_SIZE"
    for p in xorriso isolinux syslinux-common; do echo "host $p $(hostver $p)"; done
    sha256sum "$script" | sed "s| $here/| |"
    (cd "$out" && sha256sum vmlinuz initrd.img kernel.release)
    (cd "$here" && find guest/iso -type f | LC_ALL=C sort | xargs -r sha256sum)
)
hash=$(printf '%s\n' "$inputs" | sha256sum | cut -d' ' -f1)
if [ "${ISO_FORCE:-0}" != 1 ] && [ -f "$out/.cd.iso.inputs.sha256" ] \
   && [ "$(cat "$out/.cd.iso.inputs.sha256")" = "$hash" ] && [ -f "$out/cd.iso" ] && [ -f "$out/cd-data.sha256" ]; then
    log "up to date"
    echo "$out/cd.iso"
    exit 0
fi
rm -f "$out/.cd.iso.inputs.sha256"
krel=$(cat "$out/kernel.release")
log "building cd.iso (kernel $krel)"

work=$(mktemp -d "$out/.cd.iso.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/tree"
mkdir -p "$tree/isolinux"
cp "$ISOLINUX_BIN" "$tree/isolinux/isolinux.bin"
cp "$LDLINUX_C32" "$tree/isolinux/ldlinux.c32"
sed "s/@KERNEL_RELEASE@/$krel/g" "$isodir/isolinux.cfg" >"$tree/isolinux/isolinux.cfg"
cp "$out/vmlinuz" "$tree/vmlinuz"
cp "$out/initrd.img" "$tree/initrd.img"
# data.bin: block i (32 bytes) = SHA-256("vessel-cd-data " + decimal i).
# Every 2 KiB CD sector differs, so a misplaced or stale sector changes the hash.
python3 - "$tree/data.bin" "$DATA_SIZE" <<'PYEOF'
import hashlib, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.write(b"".join(hashlib.sha256(b"vessel-cd-data %d" % i).digest() for i in range(size // 32)))
PYEOF
(cd "$tree" && sha256sum data.bin) >"$work/data.sha256"
cp "$work/data.sha256" "$tree/data.sha256"

export SOURCE_DATE_EPOCH=1700000000
find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
chmod -R a+rX,go-w "$tree"
xorriso -report_about SORRY -as mkisofs -o "$work/cd.iso" \
    -R -J -V VESSEL_CD -sort /dev/null \
    -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table \
    "$tree" >"$work/xorriso.log" 2>&1 || { cat "$work/xorriso.log" >&2; die "xorriso failed"; }

mv "$work/data.sha256" "$out/cd-data.sha256"
mv "$work/cd.iso" "$out/cd.iso"
echo "$hash" >"$out/.cd.iso.inputs.sha256"
log "built $(stat -c %s "$out/cd.iso") bytes, data.bin sha256 $(cut -d' ' -f1 "$out/cd-data.sha256")"
echo "$out/cd.iso"
