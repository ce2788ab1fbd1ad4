#!/bin/sh
# The tap backend in a private network namespace (root and /dev/net/tun
# needed; exit 77 = skipped without them): pings both ways, HTTP transfer.
# usage: tests/net/tap.sh EMULATOR_CMD IMAGE_DIR
exec python3 "$(dirname "$0")/tap.py" "$@"
