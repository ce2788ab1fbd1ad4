/*
 * net.h - vessel's network command line and host backends (QEMU spellings).
 *
 *   -nic TYPE[,model=e1000][,mac=MAC][,romfile=FILE][,dump=FILE][,BACKEND OPTIONS]
 *   -nic none
 *   -netdev TYPE,id=ID[,dump=FILE][,BACKEND OPTIONS]
 *   -device e1000,netdev=ID[,mac=MAC][,romfile=FILE][,id=NAME]
 *   -net nic[,model=e1000][,mac=MAC]  /  -net TYPE[,OPTIONS]  /  -net none
 *   -object filter-dump,id=F,netdev=ID,file=FILE[,maxlen=BYTES]
 * TYPE and its options:
 *   user    libslirp NAT: DHCP, DNS and TFTP for the guest;
 *           hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (repeatable),
 *           restrict=on|off, net=ADDR[/MASK], host=, dhcpstart=, dns=, hostname=,
 *           tftp=DIR, bootfile=NAME, tftp-server-name=, ipv6=on|off
 *   socket  frames over a host socket (VM to VM without privileges):
 *           listen=[HOST]:PORT or connect=[HOST]:PORT (TCP, 4-byte big-endian
 *           length before each frame, as QEMU), mcast=GROUP:PORT[,localaddr=ADDR]
 *           or udp=HOST:PORT,localaddr=[HOST]:PORT (one frame per datagram)
 *   tap     a host TAP interface through /dev/net/tun: ifname=NAME, script=no,
 *           downscript=no (no scripts are run; configure the interface yourself)
 * dump=FILE (vessel extension, also filter-dump) writes a pcap of every frame
 * the NIC sends and receives.  The NIC is the 82540EM (e1000) at 00:03.0
 * (further NICs at 00:04.0 ...), MAC 52:54:00:12:34:56 (+1 per NIC) unless
 * mac= is given, with the iPXE option ROM pxe-e1000.rom as fw_cfg file
 * "pci8086,100e.rom" (romfile= overrides, romfile= empty disables it).
 *
 * Call order: net_parse_flag() for every argument, then net_setup() after
 * pc_new() and before pc_run(), and net_shutdown() at exit (net_setup also
 * registers it with atexit).  Everything runs on the machine thread, from
 * the board's poll hook.
 */
#ifndef VESSEL_FRONTEND_NET_H
#define VESSEL_FRONTEND_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "devices/pc.h"

/**
 * Parses argv[*k] if it is a network option (-nic, -netdev, -net,
 * -device e1000..., -object filter-dump...).  Returns 1 when it was one
 * (then *k indexes the last argument consumed, so the caller's k++ moves
 * past it), 0 when it is not ours (argv[*k] untouched: e.g. -device
 * isa-debug-exit), -1 on an error (a message was printed on stderr; exit
 * with status 2).
 */
int net_parse_flag(int argc, char **argv, int *k);

/**
 * Opens the backends (sockets, TAP, slirp), creates the NICs on the board
 * and registers the poll hook.  Returns 0, or -1 with a message in err.
 */
int net_setup(PcMachine *pc, char *err, size_t errlen);

/** Closes every backend, flushes pcap dumps.  Safe to call twice. */
void net_shutdown(void);

/** Monitor "set_link NAME on|off": NAME is a netdev id or a NIC id (or
 *  "nic0".. for -nic NICs).  Returns 0, or -1 if there is no such NIC. */
int net_set_link(const char *name, bool up);

/** Monitor "info network": one line per NIC. Returns the length needed. */
size_t net_info(char *buf, size_t len);

/** Help text for these options (for --help). */
const char *net_usage(void);

#endif
