#!/bin/bash
# Builds vessel's default guest: a bootable 64 MiB MBR disk image made only
# from Debian 12 (bookworm) i386 packages, fetched with apt into a private apt
# root (the host's apt configuration is left alone; no i386 package is
# installed on the host) and unpacked with dpkg-deb -x. The image itself is
# built without root privileges: no mount, no loop device, no mknod.
#
# usage: scripts/build-guest.sh [OUTDIR]        (default: build/guest)
#   OUTDIR/disk.img      MBR disk: p1 FAT16 (SYSLINUX, vmlinuz, initrd.img),
#                        p2 ext4 root (static busybox, busybox init)
#   OUTDIR/vmlinuz       the same kernel and initramfs, for -kernel/-initrd
#   OUTDIR/initrd.img
#   OUTDIR/config        the kernel's .config
#   OUTDIR/kernel.release, OUTDIR/versions.txt
#   OUTDIR/System.map    only if the kernel package ships a real one (Debian's
#                        686 package ships a placeholder; see guest/README.md)
# The last line printed is the path of disk.img.
#
# Environment:
#   GUEST_KERNEL=6.1.0-NN-686  use that kernel instead of the newest one found
#   GUEST_APT_UPDATE=1         refresh the private apt index now (it is
#                              refreshed by itself when older than a day)
#   GUEST_FORCE=1              rebuild even if nothing changed
#
# The image is rebuilt only when an input changes: this script, the files in
# guest/, the versions of the Debian packages used (i386 and host tools).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
script="$here/scripts/build-guest.sh"
guestdir="$here/guest"
out=${1:-$here/build/guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)

log() { echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

# Disk layout (512-byte sectors).
DISK_SECTORS=131072          # 64 MiB
P1_START=2048 P1_SECTORS=65536   # 32 MiB FAT16, bootable: SYSLINUX + kernel + initramfs
P2_START=$((P1_START + P1_SECTORS))
P2_SECTORS=$((DISK_SECTORS - P2_START))   # 31 MiB ext4 root
DISK_ID=0x7e55e100
ROOT_UUID=7e55e100-0000-4000-8000-000000000002

# ---------------------------------------------------------------- host tools
need_tools() {
    local missing="" t pkg
    for t in apt-get:apt dpkg-deb:dpkg syslinux:syslinux /usr/lib/syslinux/mbr/mbr.bin:syslinux-common \
             mcopy:mtools mkfs.fat:dosfstools sfdisk:fdisk cpio:cpio modinfo:kmod xz:xz-utils \
             mke2fs:e2fsprogs debugfs:e2fsprogs gzip:gzip sha256sum:coreutils; do
        pkg=${t##*:}; t=${t%:*}
        case $t in
            /*) [ -e "$t" ] ;;
            *) command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || [ -x "/sbin/$t" ] ;;
        esac || case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    done
    [ -z "$missing" ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing host packages:$missing (install them as root)"
        sudo="sudo"
    fi
    log "installing host tools:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
need_tools
export PATH="$PATH:/usr/sbin:/sbin"

# ------------------------------------------------- private i386 apt root
# Uses the Debian archives the host's apt already uses (any mirror), as i386.
aptdir="$out/apt"
setup_apt() {
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" \
             "$aptdir/etc/apt.conf.d" "$aptdir/etc/preferences.d" "$aptdir/etc/sources.list.d"
    [ -e "$aptdir/status" ] || : >"$aptdir/status"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg signed=""
    [ -e "$keyring" ] && signed=" signed-by=$keyring"
    # "500 URI SUITE/COMPONENT amd64 Packages" followed by "release ...o=Debian,...n=bookworm..."
    apt-cache policy 2>/dev/null | awk -v signed="$signed" '
        /^ *[0-9]+ [a-z+]+:\/\/[^ ]+ [^ ]+ [^ ]+ Packages$/ {
            uri = $2; n = split($3, s, "/"); suite = s[1]; comp = s[n]
            if ((getline line) > 0 && line ~ /o=Debian,/ && suite ~ /^bookworm/ && comp == "main")
                print "deb [arch=i386" signed "] " uri " " suite " " comp
        }' | sort -u >"$aptdir/etc/sources.list.new"
    if [ ! -s "$aptdir/etc/sources.list.new" ]; then
        rm -f "$aptdir/etc/sources.list.new"
        [ -s "$aptdir/etc/sources.list" ] || die "the host's apt knows no Debian bookworm archive (run apt-get update?)"
    elif cmp -s "$aptdir/etc/sources.list.new" "$aptdir/etc/sources.list"; then
        rm -f "$aptdir/etc/sources.list.new"
    else
        mv "$aptdir/etc/sources.list.new" "$aptdir/etc/sources.list"
    fi
    {
        echo "Dir::State \"$aptdir\";"
        echo "Dir::State::Lists \"$aptdir/lists\";"
        echo "Dir::State::status \"$aptdir/status\";"
        echo "Dir::Cache \"$aptdir/cache\";"
        echo "Dir::Etc::sourcelist \"$aptdir/etc/sources.list\";"
        echo "Dir::Etc::sourceparts \"$aptdir/etc/sources.list.d\";"
        echo "Dir::Etc::preferencesparts \"$aptdir/etc/preferences.d\";"
        echo "Dir::Etc::parts \"$aptdir/etc/apt.conf.d\";"
        echo 'APT::Architecture "i386";'
        echo 'APT::Architectures { "i386"; };'
        echo 'Acquire::Languages "none";'
        echo 'Acquire::GzipIndexes "true";'
        echo 'Debug::NoLocking "true";'
        [ "$(id -u)" -eq 0 ] && echo 'APT::Sandbox::User "root";'
        true
    } >"$aptdir/apt.conf"
}
setup_apt
export APT_CONFIG="$aptdir/apt.conf"

have_index() { ls "$aptdir"/lists/*_binary-i386_Packages* >/dev/null 2>&1; }
stamp_age() { echo $(( $(date +%s) - $(stat -c %Y "$aptdir/updated" 2>/dev/null || echo 0) )); }
if [ "${GUEST_APT_UPDATE:-0}" = 1 ] || ! have_index || [ "$(stamp_age)" -gt 86400 ] \
   || [ "$aptdir/etc/sources.list" -nt "$aptdir/updated" ]; then
    log "updating the private i386 apt index"
    if apt-get update -q >"$aptdir/update.log" 2>&1; then
        touch "$aptdir/updated"
    else
        # An archive whose i386 index is unusable (e.g. a mirror mid-sync) is
        # skipped; the others are still used.
        grep -E '^(E|W):' "$aptdir/update.log" | sed 's/^/build-guest: apt: /' >&2 || true
        have_index || die "no i386 package index could be fetched (see $aptdir/update.log)"
        log "warning: some i386 indexes failed; using the ones that were fetched"
        touch "$aptdir/updated"
    fi
fi

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

if [ -n "${GUEST_KERNEL:-}" ]; then
    krel=$GUEST_KERNEL
else
    krel=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | sed -n 's/^linux-image-\(6\.1\.0-[0-9]*-686\)$/\1/p' | sort -V | tail -1)
    [ -n "$krel" ] || die "no linux-image-6.1.0-*-686 package in the i386 index"
fi
kpkg="linux-image-$krel"
kver=$(candidate "$kpkg"); [ -n "$kver" ] && [ "$kver" != "(none)" ] || die "$kpkg has no candidate version"
bbver=$(candidate busybox-static); [ -n "$bbver" ] && [ "$bbver" != "(none)" ] || die "busybox-static:i386 has no candidate version"
hostver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo none; }

# ------------------------------------------------------------ cache check
inputs=$(
    echo "layout $DISK_SECTORS $P1_START $P1_SECTORS $P2_START $P2_SECTORS $DISK_ID $ROOT_UUID"
    echo "$kpkg:i386 $kver"
    echo "busybox-static:i386 $bbver"
    for p in syslinux syslinux-common mtools dosfstools e2fsprogs fdisk cpio kmod; do echo "host $p $(hostver $p)"; done
    sha256sum "$script" | sed "s| $here/| |"
    (cd "$here" && find guest \( -type f -o -type l \) ! -name README.md | LC_ALL=C sort | while read -r f; do
        if [ -L "$f" ]; then echo "link $f $(readlink "$f")"; else echo "$(stat -c %a "$f") $(sha256sum <"$f" | cut -d' ' -f1) $f"; fi
    done)
)
hash=$(printf '%s\n' "$inputs" | sha256sum | cut -d' ' -f1)
if [ "${GUEST_FORCE:-0}" != 1 ] && [ -f "$out/.inputs.sha256" ] && [ "$(cat "$out/.inputs.sha256")" = "$hash" ] \
   && [ -f "$out/disk.img" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
    log "up to date ($kpkg $kver, busybox-static $bbver)"
    echo "$out/disk.img"
    exit 0
fi
rm -f "$out/.inputs.sha256"
log "building: $kpkg $kver, busybox-static $bbver"

# --------------------------------------------------------------- download
debs="$out/debs"
mkdir -p "$debs"
fetch() { # package version -> prints the .deb path
    local file sum
    file="$1_$(printf '%s' "$2" | sed 's/:/%3a/')_i386.deb"
    sum=$(apt-cache show "$1=$2" 2>/dev/null | awk '/^SHA256:/ { print $2; exit }')
    [ -n "$sum" ] || die "no SHA256 for $1 $2 in the i386 index"
    if [ -f "$debs/$file" ] && [ "$(sha256sum <"$debs/$file" | cut -d' ' -f1)" = "$sum" ]; then
        log "have $file"
    else
        rm -f "$debs/$file"
        log "downloading $file"
        (cd "$debs" && apt-get download -q "$1=$2" >/dev/null) || die "apt-get download $1=$2 failed"
        [ -f "$debs/$file" ] || die "apt-get download $1=$2 did not make $file"
        [ "$(sha256sum <"$debs/$file" | cut -d' ' -f1)" = "$sum" ] || die "$file: SHA256 mismatch"
    fi
    echo "$debs/$file"
}
kdeb=$(fetch "$kpkg" "$kver")
bbdeb=$(fetch busybox-static "$bbver")
# Keep only the .debs in use.
for f in "$debs"/*.deb; do [ "$f" = "$kdeb" ] || [ "$f" = "$bbdeb" ] || rm -f "$f"; done

# ---------------------------------------------------------------- unpack
work="$out/work"
rm -rf "$work"
mkdir -p "$work/kernel" "$work/busybox"
dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$work/kernel" --wildcards './boot/*' "./lib/modules/$krel/kernel/*"
dpkg-deb -x "$bbdeb" "$work/busybox"
vmlinuz="$work/kernel/boot/vmlinuz-$krel"
bb="$work/busybox/bin/busybox"
[ -f "$vmlinuz" ] || die "no /boot/vmlinuz-$krel in $kdeb"
[ -x "$bb" ] || die "no /bin/busybox in $bbdeb"

# Applet list: from busybox itself when the host can run an i386 binary,
# otherwise the applets the guest's scripts need (the root file system then
# completes its links with "busybox --install -s" at first boot, see rcS).
bb_complete=1
if applets=$("$bb" --list-full 2>/dev/null) && [ -n "$applets" ]; then :; else
    bb_complete=
    log "note: cannot run the i386 busybox here; using a minimal applet list"
    applets=$(printf '%s\n' bin/sh bin/ash bin/cat bin/echo bin/ls bin/mkdir bin/mount bin/umount bin/sync \
        bin/hostname bin/grep bin/sed bin/usleep bin/dmesg bin/uname sbin/init sbin/insmod sbin/switch_root \
        sbin/poweroff sbin/reboot sbin/halt sbin/ifconfig usr/bin/setsid usr/bin/cttyhack usr/bin/env usr/bin/[)
fi
install_busybox() { # ROOT
    mkdir -p "$1/bin" "$1/sbin" "$1/usr/bin" "$1/usr/sbin"
    cp "$bb" "$1/bin/busybox"
    local a
    printf '%s\n' "$applets" | while read -r a; do
        [ -n "$a" ] && [ "$a" != bin/busybox ] && [ ! -e "$1/$a" ] && ln -s /bin/busybox "$1/$a"
    done
}

# ------------------------------------------------------ kernel modules
moddir="$work/kernel/lib/modules/$krel/kernel"
declare -A modpath=()
while IFS= read -r f; do
    n=$(basename "$f"); n=${n%%.ko*}; modpath[${n//-/_}]=$f
done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
order=()
declare -A seen=()
resolve() { # NAME [soft]
    local m=${1//-/_} dep soft f
    [ -n "${seen[$m]:-}" ] && return 0
    f=${modpath[$m]:-}
    if [ -z "$f" ]; then
        # soft dependencies name crypto algorithms: crypto-crc32c -> crc32c_generic
        [ -n "${2:-}" ] || die "module $1 not found in $kpkg"
        m=${m#crypto_}
        [ -n "${seen[$m]:-}" ] || [ -n "${seen[${m}_generic]:-}" ] && return 0
        if [ -n "${modpath[$m]:-}" ]; then f=${modpath[$m]}
        elif [ -n "${modpath[${m}_generic]:-}" ]; then m=${m}_generic; f=${modpath[$m]}
        else log "note: soft dependency $1 not found, skipped"; return 0; fi
    fi
    seen[$m]=visiting
    for dep in $(modinfo -F depends "$f" | tr ',' ' '); do resolve "$dep"; done
    for soft in $(modinfo -F softdep "$f" | sed -n 's/.*pre: *\([^:]*\)\( post:.*\)\{0,1\}$/\1/p'); do resolve "$soft" soft; done
    seen[$m]=finished
    order+=("$m")
}
while read -r line; do
    line=${line%%#*}
    for m in $line; do resolve "$m"; done
done <"$guestdir/modules"
log "modules: ${order[*]}"
# Display: bochs-drm and what it needs (drm_vram_helper, drm_ttm_helper, ttm,
# drm_kms_helper, drm, ...) go into the initramfs too, NOT loaded at boot:
# /lib/modules/display.order lists them in load order (boot with "rdshell"
# and insmod them there; tests/display/linux_fb_test.sh does).
nboot=${#order[@]}
resolve bochs
display_order=("${order[@]:nboot}")
order=("${order[@]:0:nboot}")
log "display modules (not loaded at boot): ${display_order[*]}"

# ------------------------------------------------------------ initramfs
ird="$work/initramfs"
mkdir -p "$ird"/{dev,proc,sys,newroot,lib/modules,etc,tmp}
install_busybox "$ird"
cp "$guestdir/initramfs/init" "$ird/init"
chmod 755 "$ird/init"
for m in "${order[@]}"; do
    f=${modpath[$m]}
    case $f in
        *.ko.xz) xz -dc "$f" ;;
        *.ko.zst) zstd -dc "$f" ;;
        *.ko.gz) gzip -dc "$f" ;;
        *) cat "$f" ;;
    esac >"$ird/lib/modules/$m.ko"
    echo "$m"
done >"$ird/lib/modules/load.order"
for m in "${display_order[@]}"; do
    f=${modpath[$m]}
    case $f in
        *.ko.xz) xz -dc "$f" ;;
        *.ko.zst) zstd -dc "$f" ;;
        *.ko.gz) gzip -dc "$f" ;;
        *) cat "$f" ;;
    esac >"$ird/lib/modules/$m.ko"
    echo "$m"
done >"$ird/lib/modules/display.order"
echo "$krel" >"$ird/etc/kernel.release"
# Fixed timestamps, so that the same inputs give the same bytes.
export SOURCE_DATE_EPOCH=1700000000
find "$ird" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# The kernel's built-in initramfs already provides /dev/console.
(cd "$ird" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet --reproducible -o -H newc -R 0:0) | gzip -9n >"$work/initrd.img"

# ------------------------------------------------------- root file system
rootdir="$work/root"
mkdir -p "$rootdir"/{dev,proc,sys,run,tmp,mnt,root,var/log,etc}
chmod 1777 "$rootdir/tmp"; chmod 700 "$rootdir/root"
install_busybox "$rootdir"
cp -a "$guestdir/rootfs/." "$rootdir/"
echo "$krel" >"$rootdir/etc/kernel.release"
[ -n "$bb_complete" ] || : >"$rootdir/etc/busybox-links-incomplete"
printf 'vessel guest: %s %s, busybox-static %s\n' "$kpkg" "$kver" "$bbver" >"$rootdir/etc/vessel-release"
find "$rootdir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$work/root.img"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mke2fs -q -F -t ext4 -L vessel-root -U "$ROOT_UUID" -E hash_seed="$ROOT_UUID" \
    -d "$rootdir" "$work/root.img" "$((P2_SECTORS / 2))k" >/dev/null
if [ "$(id -u)" -ne 0 ]; then
    # Files were copied with our uid: give them to root.
    (cd "$rootdir" && find . | sed 's|^\.||; s|^$|/|' | while read -r p; do
        echo "set_inode_field \"$p\" uid 0"; echo "set_inode_field \"$p\" gid 0"; done) >"$work/chown.debugfs"
    debugfs -w -f "$work/chown.debugfs" "$work/root.img" >/dev/null 2>&1
fi
e2fsck -fn "$work/root.img" >/dev/null 2>&1 || die "the root file system image does not check clean"

# --------------------------------------------------------- boot partition
sed "s/@KERNEL_RELEASE@/$krel/g" "$guestdir/syslinux.cfg" >"$work/syslinux.cfg"
rm -f "$work/boot.img"
mkfs.fat -F 16 -h "$P1_START" -i 7e55e100 -n VESSELBOOT -C "$work/boot.img" "$((P1_SECTORS / 2))" >/dev/null
export MTOOLS_SKIP_CHECK=1
mcopy -i "$work/boot.img" "$vmlinuz" ::/vmlinuz
mcopy -i "$work/boot.img" "$work/initrd.img" ::/initrd.img
mcopy -i "$work/boot.img" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$work/boot.img"

# ------------------------------------------------------------- the disk
rm -f "$work/disk.img"
truncate -s "$((DISK_SECTORS * 512))" "$work/disk.img"
sfdisk -q --no-reread --no-tell-kernel "$work/disk.img" >/dev/null <<EOF
label: dos
label-id: $DISK_ID
unit: sectors
start=$P1_START, size=$P1_SECTORS, type=6, bootable
start=$P2_START, size=$P2_SECTORS, type=83
EOF
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$work/disk.img" bs=440 count=1 conv=notrunc status=none
dd if="$work/boot.img" of="$work/disk.img" bs=512 seek="$P1_START" conv=notrunc status=none
dd if="$work/root.img" of="$work/disk.img" bs=512 seek="$P2_START" conv=notrunc status=none

# ---------------------------------------------------------------- outputs
cp "$vmlinuz" "$out/vmlinuz"
cp "$work/initrd.img" "$out/initrd.img"
cp "$work/kernel/boot/config-$krel" "$out/config"
smap="$work/kernel/boot/System.map-$krel"
if [ -f "$smap" ] && [ "$(stat -c %s "$smap")" -gt 4096 ]; then cp "$smap" "$out/System.map"; else rm -f "$out/System.map"; fi
echo "$krel" >"$out/kernel.release"
{
    echo "kernel:   $kpkg:i386 $kver"
    echo "busybox:  busybox-static:i386 $bbver"
    echo "syslinux: $(hostver syslinux) (host syslinux, mbr.bin from syslinux-common $(hostver syslinux-common))"
    echo "modules:  ${order[*]}"
    echo "layout:   ${DISK_SECTORS}s MBR; p1 ${P1_START}+${P1_SECTORS}s FAT16 boot; p2 ${P2_START}+${P2_SECTORS}s ext4 root"
} >"$out/versions.txt"
mv "$work/disk.img" "$out/disk.img"
rm -rf "$work"
echo "$hash" >"$out/.inputs.sha256"
log "built with $kpkg $kver"
echo "$out/disk.img"
