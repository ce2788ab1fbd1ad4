#!/bin/sh
# User networking end to end (libslirp): DHCP lease, hostfwd to a busybox
# httpd in the guest (2 MiB each way, MD5-checked), pcap dump contents
# (dhcp_hostfwd.py); then a second boot in which the guest fetches a
# 1.5 MiB file from an HTTP server the test runs on 127.0.0.1, through
# slirp at 10.0.2.2:PORT with busybox wget, and checks its MD5
# (netlib.host_fetch_main).
# usage: tests/net/dhcp_hostfwd.sh EMULATOR_CMD IMAGE_DIR
#   EMULATOR_CMD  e.g. "build/vessel" or qemu-system-i386 (QEMU's flags)
#   IMAGE_DIR     scripts/build-guest.sh output (disk.img, vmlinuz, initrd.img)
# environment: GUEST_TIMEOUT (boot, default 900 s), GUEST_NET_MODE=kernel|disk,
#   GUEST_LOG_DIR (keep logs there), GUEST_EXTRA_ARGS (more emulator flags)
if [ $# -ne 2 ]; then
    echo "usage: $0 EMULATOR_CMD IMAGE_DIR" >&2
    exit 2
fi
dir=$(dirname "$0")
python3 "$dir/dhcp_hostfwd.py" "$@" || exit 1
exec python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import netlib; netlib.host_fetch_main(sys.argv[2], sys.argv[3])' \
    "$dir" "$@"
