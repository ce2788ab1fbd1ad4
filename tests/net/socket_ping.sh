#!/bin/sh
# Two guests on a socket network (-netdev socket,listen= / connect=): ping
# both ways and a 1 MiB HTTP transfer between them.  No root needed.
# usage: tests/net/socket_ping.sh EMULATOR_CMD IMAGE_DIR
# environment: SOCKET_MODES="stream udp" (default stream), GUEST_TIMEOUT,
#   GUEST_NET_MODE, GUEST_LOG_DIR, GUEST_EXTRA_ARGS (see dhcp_hostfwd.sh)
exec python3 "$(dirname "$0")/socket_ping.py" "$@"
