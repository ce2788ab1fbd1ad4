#!/bin/bash
# Puts the real System.map of the default guest's kernel next to it.
#
# Debian's 686 kernel package ships only a placeholder System.map; the real
# one (and the unstripped vmlinux) is in linux-image-KREL-dbg, a 762 MB .deb.
# This script downloads that package with the private i386 apt configuration
# scripts/build-guest.sh made (IMAGE_DIR/apt/apt.conf) into IMAGE_DIR/debs,
# checks its SHA256 against the apt index, and extracts only
#   IMAGE_DIR/System.map   (/usr/lib/debug/boot/System.map-KREL)
#   IMAGE_DIR/vmlinux      (/usr/lib/debug/boot/vmlinux-KREL, with --vmlinux)
# Each extracted file is checked against the package's md5sums.
#
# usage: scripts/fetch-kernel-dbg.sh IMAGE_DIR [--vmlinux]
#   IMAGE_DIR  the scripts/build-guest.sh output (kernel.release, versions.txt,
#              apt/apt.conf); default build/guest
# Idempotent: when the files are there and IMAGE_DIR/.kernel-dbg.stamp names
# the same package version, it does nothing (and downloads nothing).  The
# last line printed is the path of System.map; exits 1 with one
# "fetch-kernel-dbg: error: ..." line on stderr on any failure.
#
# System.map and vmlinux are the first files in the package's data archive,
# so tar stops reading after them (a second or two for System.map, instead
# of ~40 s to decompress the whole archive).
set -euo pipefail

log() { echo "fetch-kernel-dbg: $*" >&2; }
die() { echo "fetch-kernel-dbg: error: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")/.." && pwd)
imgdir=
want_vmlinux=0
for a in "$@"; do
    case $a in
    --vmlinux) want_vmlinux=1 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $a (usage: $0 IMAGE_DIR [--vmlinux])" ;;
    *) [ -z "$imgdir" ] || die "more than one IMAGE_DIR given"; imgdir=$a ;;
    esac
done
imgdir=${imgdir:-$here/build/guest}
[ -d "$imgdir" ] || die "$imgdir is not a directory (run scripts/build-guest.sh first)"
imgdir=$(cd "$imgdir" && pwd)

for t in dpkg-deb tar md5sum sha256sum; do
    command -v $t >/dev/null 2>&1 || die "$t is not installed"
done
[ -s "$imgdir/kernel.release" ] || die "$imgdir/kernel.release is missing (run scripts/build-guest.sh first)"
krel=$(cat "$imgdir/kernel.release")
case $krel in
*[!A-Za-z0-9.+~_-]* | "") die "$imgdir/kernel.release holds a strange release '$krel'" ;;
esac
pkg="linux-image-$krel-dbg"
# The version of the kernel the image was built from (versions.txt:
# "kernel:   linux-image-KREL:i386 VERSION"); the -dbg package must match it.
kver=$(awk -v p="linux-image-$krel:i386" '$1 == "kernel:" && $2 == p { print $3; exit }' \
    "$imgdir/versions.txt" 2>/dev/null || true)
[ -n "$kver" ] || die "$imgdir/versions.txt does not name the version of linux-image-$krel"

stamp="$imgdir/.kernel-dbg.stamp"
map="$imgdir/System.map"
vmlinux="$imgdir/vmlinux"
have() { # file listed in the stamp and present
    [ -s "$1" ] && [ -f "$stamp" ] && grep -qx "$pkg $kver $(basename "$1")" "$stamp"
}
if have "$map" && { [ $want_vmlinux = 0 ] || have "$vmlinux"; }; then
    log "up to date ($pkg $kver)"
    echo "$map"
    exit 0
fi

# ------------------------------------------------------------- download
debs="$imgdir/debs"
mkdir -p "$debs"
file="${pkg}_$(printf '%s' "$kver" | sed 's/:/%3a/')_i386.deb"
deb="$debs/$file"
aptconf="$imgdir/apt/apt.conf"
sum=
if [ -f "$aptconf" ] && command -v apt-cache >/dev/null 2>&1; then
    sum=$(APT_CONFIG=$aptconf apt-cache show "$pkg=$kver" 2>/dev/null | awk '/^SHA256:/ { print $2; exit }' || true)
fi
if [ -f "$deb" ] && { [ -z "$sum" ] || [ "$(sha256sum <"$deb" | cut -d' ' -f1)" = "$sum" ]; }; then
    # Without an apt index to compare with, the md5sums check below still
    # catches a damaged file.
    log "have $file"
else
    [ -f "$aptconf" ] || die "no $file and no $aptconf to download it with (run scripts/build-guest.sh first)"
    command -v apt-get >/dev/null 2>&1 || die "apt-get is not installed"
    [ -n "$sum" ] || die "the i386 apt index ($aptconf) does not list $pkg $kver (refresh it: GUEST_APT_UPDATE=1 scripts/build-guest.sh $imgdir)"
    rm -f "$deb"
    log "downloading $file (about 760 MB)"
    (cd "$debs" && APT_CONFIG=$aptconf apt-get download -q "$pkg=$kver" >"$debs/$pkg.download.log" 2>&1) ||
        die "apt-get download $pkg=$kver failed (see $debs/$pkg.download.log)"
    [ -f "$deb" ] || die "apt-get download $pkg=$kver did not make $file"
    [ "$(sha256sum <"$deb" | cut -d' ' -f1)" = "$sum" ] || { rm -f "$deb"; die "$file: SHA256 mismatch (removed it)"; }
    rm -f "$debs/$pkg.download.log"
fi

# -------------------------------------------------------------- extract
members=("./usr/lib/debug/boot/System.map-$krel")
[ $want_vmlinux = 1 ] && members+=("./usr/lib/debug/boot/vmlinux-$krel")
sums=$(dpkg-deb -I "$deb" md5sums 2>/dev/null) || die "$file: cannot read its md5sums (damaged package?)"
tmp=$(mktemp -d "$imgdir/.kernel-dbg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "extracting ${members[*]#./usr/lib/debug/boot/} from $file"
# tar stops after the named members (--occurrence); dpkg-deb then dies of
# SIGPIPE, so its status is not ours to check: the md5sums are.
set +o pipefail
dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -x -C "$tmp" --occurrence=1 "${members[@]}" 2>"$tmp/tar.err"
set -o pipefail
for m in "${members[@]}"; do
    f="$tmp/$m"
    [ -s "$f" ] || die "$file has no ${m#.} ($(head -c 200 "$tmp/tar.err"))"
    want=$(awk -v p="${m#./}" '$2 == p { print $1; exit }' <<<"$sums")
    [ -n "$want" ] || die "$file: ${m#.} is not in its md5sums"
    [ "$(md5sum <"$f" | cut -d' ' -f1)" = "$want" ] || die "$file: ${m#.} does not match its md5sum"
done
f="$tmp/usr/lib/debug/boot/System.map-$krel"
{ grep -q ' T start_kernel$' "$f" && grep -q ' linux_banner$' "$f"; } ||
    die "System.map-$krel has no start_kernel or linux_banner symbol"

# Install atomically, then record what was installed (a vmlinux of the
# same version extracted earlier stays listed; an older one is removed).
keep_vmlinux=0
[ $want_vmlinux = 0 ] && have "$vmlinux" && keep_vmlinux=1
rm -f "$stamp"
mv -f "$f" "$map"
echo "$pkg $kver System.map" >"$tmp/stamp"
if [ $want_vmlinux = 1 ]; then
    mv -f "$tmp/usr/lib/debug/boot/vmlinux-$krel" "$vmlinux"
    echo "$pkg $kver vmlinux" >>"$tmp/stamp"
elif [ $keep_vmlinux = 1 ]; then
    echo "$pkg $kver vmlinux" >>"$tmp/stamp"
else
    rm -f "$vmlinux"
fi
mv -f "$tmp/stamp" "$stamp"
log "installed $map$([ $want_vmlinux = 1 ] && echo " and $vmlinux")"
echo "$map"
