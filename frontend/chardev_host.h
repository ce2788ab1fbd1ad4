/*
 * chardev_host.h - host character backends for the front end, opened from
 * QEMU's -serial / -chardev syntax:
 *
 *   stdio                      the process's stdout (output), stdin (input)
 *   file:PATH                  output written to PATH (truncated); no input
 *   pty                        a new pseudo-terminal /dev/pts/N in raw mode;
 *                              output is dropped while no program has the
 *                              slave side open (as QEMU does)
 *   tcp:HOST:PORT,server[,nowait]
 *                              listen on HOST:PORT (empty HOST = any
 *                              address) for one client at a time; without
 *                              nowait the open waits for the first client;
 *                              after a disconnect the next client is
 *                              accepted.  QEMU's server=on, wait=off/on and
 *                              nodelay spellings are accepted too.
 *   tcp:HOST:PORT              connect to HOST:PORT
 *   null                       a device whose output is discarded
 *   none                       no device (the backend's write is NULL)
 *
 * A CharHost gives a CharBackend (devices/chardev.h) for guest output and a
 * non-blocking input poll.  Output never blocks the caller for long: a
 * socket or pty that stops reading for about a second loses bytes, as a
 * serial line would.  Sockets never raise SIGPIPE.
 */
#ifndef VESSEL_FRONTEND_CHARDEV_HOST_H
#define VESSEL_FRONTEND_CHARDEV_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "devices/chardev.h"

typedef struct CharHost CharHost;

/** Opens the backend described by spec (syntax above).  Returns 0 and a
 *  new CharHost in *out, or -1 with *out = NULL and one line describing
 *  the problem in err (bad spec, port in use, unreadable path, refused
 *  connection).  "tcp:...,server" without nowait blocks until a client
 *  connects (EINTR, e.g. Ctrl-C, makes it fail). */
int chardev_host_open(const char *spec, CharHost **out, char *err, size_t errlen);

/** The sink a device writes guest output to.  For "none" the write
 *  callback is NULL (the board then leaves the device out); for every
 *  other kind it is valid until chardev_host_close(). */
CharBackend chardev_host_backend(CharHost *h);

/** Writes len bytes of guest output (what the backend's callback does). */
void chardev_host_write(CharHost *h, const uint8_t *buf, size_t len);

/** Non-blocking input poll: copies up to len bytes the host has sent into
 *  buf and returns how many (0 when nothing is waiting, at end of input or
 *  without an input side).  For a TCP server it also accepts a waiting
 *  client and notices a disconnect. */
size_t chardev_host_read(CharHost *h, uint8_t *buf, size_t len);

/** The descriptor to poll(2) for POLLIN before calling chardev_host_read
 *  (the client socket, or the listening socket while no client is
 *  connected), or -1 when there is no input side. */
int chardev_host_fd(CharHost *h);

/** True when output currently reaches someone: always for stdio, file and
 *  null; for a pty when its slave side is open; for TCP while connected. */
bool chardev_host_connected(CharHost *h);

/** The slave path ("/dev/pts/N") of a pty backend, else NULL. */
const char *chardev_host_pty_path(const CharHost *h);

/** The local TCP port a server listens on (useful with port 0), else -1. */
int chardev_host_local_port(const CharHost *h);

/** Prints QEMU's notice for a pty, "char device redirected to /dev/pts/N
 *  (label LABEL)", to f; nothing for other kinds. */
void chardev_host_announce(const CharHost *h, const char *label, FILE *f);

/** Closes descriptors and frees h.  NULL is ignored. */
void chardev_host_close(CharHost *h);

#endif
