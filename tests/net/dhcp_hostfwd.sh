#!/bin/sh
# User networking end to end (libslirp): DHCP lease, hostfwd to a busybox
# httpd in the guest (2 MiB each way, MD5-checked), pcap dump contents.
# usage: tests/net/dhcp_hostfwd.sh EMULATOR_CMD IMAGE_DIR
#   EMULATOR_CMD  e.g. "build/vessel" or qemu-system-i386 (QEMU's flags)
#   IMAGE_DIR     scripts/build-guest.sh output (disk.img, vmlinuz, initrd.img)
# environment: GUEST_TIMEOUT (boot, default 900 s), GUEST_NET_MODE=kernel|disk,
#   GUEST_LOG_DIR (keep logs there), GUEST_EXTRA_ARGS (more emulator flags)
exec python3 "$(dirname "$0")/dhcp_hostfwd.py" "$@"
