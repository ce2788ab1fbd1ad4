/*
 * debug.h - vessel's debuggers: the gdb remote stub (-gdb, -s, -S) and the
 * monitor (-monitor), as QEMU spells them.
 *
 * The front end calls three functions:
 *   debug_parse_flag()  for every argv[k] it does not know, while parsing;
 *   debug_setup()       once, after pc_new() (opens sockets, installs the
 *                       board's debugger hooks; costs nothing without flags);
 *   debug_shutdown()    once, after pc_run() returns (closes sockets,
 *                       restores the terminal).
 *
 * Everything runs on the main loop's thread: while the guest runs, the
 * board's poll() hook reads the sockets about every millisecond; while it is
 * stopped, the stopped() hook blocks in poll(2) on them until a client
 * resumes it.
 *
 * The second half of this header is internal to frontend/ (gdbstub.c holds
 * the debugger core and the gdb protocol, monitor.c the monitor).
 */
#ifndef VESSEL_FRONTEND_DEBUG_H
#define VESSEL_FRONTEND_DEBUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/pc.h"

/** If argv[*k] is one of the debugger flags (-gdb SPEC, -s, -S,
 *  -monitor SPEC), consumes it and its argument, advances *k to the last
 *  word consumed and returns 1; returns 0 if the flag is not ours.  A bad
 *  value prints one error line and exits with status 2. */
int debug_parse_flag(int argc, char **argv, int *k);

/** Opens the gdb and monitor endpoints and installs the board's debug hooks
 *  (only when a debugger flag was given).  Returns 0, or -1 with a message
 *  in err (e.g. the port is in use). */
int debug_setup(PcMachine *pc, char *err, size_t errlen);

/** Closes every debugger socket and restores the terminal. */
void debug_shutdown(void);

/** Install the debugger's main-loop hooks even without -gdb/-monitor, so
 *  that descriptors registered with dbg_watch_fd() are serviced while the
 *  guest runs and while it is stopped (the terminal's Ctrl-A c monitor).
 *  Call after debug_setup().  Returns 0. */
int debug_enable_hooks(PcMachine *pc);

/* ---------------------------------------------------------------------
 * Internal to frontend/: the debugger core (gdbstub.c) used by monitor.c.
 * --------------------------------------------------------------------- */

/** A growing text buffer for command output. */
typedef struct DbgOut {
    char *buf;
    size_t len, cap;
} DbgOut;

void dbg_printf(DbgOut *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dbg_out_free(DbgOut *o);

/** Who owns a breakpoint or watchpoint (bit mask). */
enum { DBG_OWN_GDB = 1, DBG_OWN_GDB_HW = 2, DBG_OWN_MON = 4 };

/** Breakpoints and watchpoints, shared by gdb and the monitor: the CPU holds
 *  one entry per address; each owner's claim is kept here.  Return 0 or -1
 *  (table full, bad length, no such entry). */
int dbg_bp_add(uint32_t lin, int owner);
int dbg_bp_del(uint32_t lin, int owner);
/** Watchpoints: len 1..64 (split into CPU watchpoints of 8 bytes at most). */
int dbg_wp_add(uint32_t lin, uint32_t len, int kind, int owner);
int dbg_wp_del(uint32_t lin, uint32_t len, int kind, int owner);
/** Removes everything the owners in mask hold. */
void dbg_clear_owned(int mask);
/** Lists breakpoints and watchpoints. */
void dbg_list_points(DbgOut *o);

/** Reads/writes guest memory at a linear address through the page tables.
 *  Read returns the bytes read (stops at the first unmapped page), write
 *  returns 0 or -1 (nothing written when any page is unmapped). */
size_t dbg_read_linear(uint32_t lin, void *buf, size_t len);
int dbg_write_linear(uint32_t lin, const void *buf, size_t len);

/** Run state.  dbg_stopped(): the guest is stopped for the debugger.
 *  dbg_request_stop(): stop at the next instruction boundary (monitor
 *  "stop"); dbg_resume(): leave the stopped state (monitor "cont").
 *  dbg_step(): one debugger single step; returns the CpuExit. */
bool dbg_stopped(void);
void dbg_request_stop(void);
void dbg_resume(void);
int dbg_step(void);

/** The machine being debugged. */
PcMachine *dbg_machine(void);

/** A socket endpoint spec as QEMU writes it: tcp:[HOST]:PORT, unix:PATH,
 *  stdio, none; options after commas (server, nowait, wait=off...). */
enum { DBG_EP_NONE, DBG_EP_TCP, DBG_EP_UNIX, DBG_EP_STDIO };
typedef struct DbgEndpoint {
    int kind;
    char host[256];     /**< empty: all IPv4 interfaces */
    int port;
    char path[108];
    bool server, wait;  /**< ",server"; wait unless ",nowait" / "wait=off" */
} DbgEndpoint;

/** Parses spec; returns 0 or -1 with a message in err. */
int dbg_parse_endpoint(const char *spec, DbgEndpoint *ep, char *err, size_t errlen);
/** Opens a listening socket for ep (TCP or UNIX). Returns the fd or -1. */
int dbg_listen(const DbgEndpoint *ep, char *err, size_t errlen);
/** Accepts a connection on a listening socket (TCP_NODELAY, close-on-exec);
 *  returns the fd or -1. */
int dbg_accept(int lfd);
/** Writes all of buf (blocking); returns 0 or -1. */
int dbg_write_all(int fd, const void *buf, size_t len);

/** Register a file descriptor with the debugger's poll loops: cb runs when
 *  it is readable (or hung up).  Returns 0 or -1 (table full). */
int dbg_watch_fd(int fd, void (*cb)(void *opaque, int fd), void *opaque);
void dbg_unwatch_fd(int fd);

/* monitor.c */

/** Where a monitor command comes from. */
enum { MON_SRC_MONITOR = 0, MON_SRC_GDB = 1 };

/** Runs one monitor command line; output is appended to out. */
void monitor_exec(const char *line, DbgOut *out, int src);
/** -monitor SPEC; same contract as debug_parse_flag. */
int monitor_parse_flag(int argc, char **argv, int *k);
/** True if a -monitor was given. */
bool monitor_configured(void);
/** Opens the monitor endpoint (after the core is set up). */
int monitor_setup(char *err, size_t errlen);
/** The guest stopped for a reason the monitor user should see
 *  (breakpoint, watchpoint); msg is one line without newline. */
void monitor_notify(const char *msg);
void monitor_shutdown(void);

#endif
