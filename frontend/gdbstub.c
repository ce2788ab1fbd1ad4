/*
 * gdbstub.c - the debugger core (run state, breakpoints, the poll loops)
 * and the gdb remote serial protocol stub (-gdb, -s, -S).
 *
 * Protocol: gdb's "Remote Serial Protocol" appendix (packets $data#cs with
 * +/- acks, qSupported, qXfer:features:read for the target description,
 * Z/z points, vCont, stop replies T05 with swbreak/hwbreak/watch reasons).
 * Addresses in m/M/X/Z packets are linear: they go through the guest's page
 * tables (cpu_translate), so an unmapped page answers E14 (EFAULT).
 *
 * Breakpoints and watchpoints are held by the CPU (cpu_bp_insert,
 * cpu_wp_insert), never written into guest memory, so Z0 and Z1 behave the
 * same.  Single-step is cpu_debug_step (interrupts held off, as QEMU's
 * default); the guest's own TF and debug registers keep working.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "devices/pc.h"
#include "frontend/debug.h"
#include "mem/phys.h"

/* ================================================================
 * Text output buffer
 * ================================================================ */

void dbg_printf(DbgOut *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + (size_t)n + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (!b)
            return;
        o->buf = b;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

void dbg_out_free(DbgOut *o)
{
    free(o->buf);
    o->buf = NULL;
    o->len = o->cap = 0;
}

/* ================================================================
 * Debugger core state
 * ================================================================ */

#define DBG_MAX_FDS 16
#define DBG_MAX_WATCH 16
#define DBG_WP_MAX_LEN 64

/* gdb signal numbers used in stop replies. */
enum { GDB_SIGINT = 2, GDB_SIGTRAP = 5 };

/* Why the guest last stopped (for the stop reply). */
enum { STOP_PLAIN, STOP_SWBREAK, STOP_HWBREAK, STOP_WATCH };

typedef struct DbgFd {
    int fd;
    void (*cb)(void *opaque, int fd);
    void *opaque;
} DbgFd;

typedef struct DbgBp {
    uint32_t lin;
    int owners;
} DbgBp;

typedef struct DbgWp {
    uint32_t lin, len;
    int kind, owners;
} DbgWp;

static struct {
    PcMachine *pc;
    X86Cpu *cpu;
    bool hooks_on;
    bool start_stopped;
    bool stopped;        /* inside the stopped() hook */
    bool resume;         /* leave the stopped() hook */
    bool stop_pending;   /* pc_request_stop() issued, stopped() not entered yet */
    bool cancel_stop;    /* resumed before the pending stop took effect */
    int req_sig;         /* signal to report for the pending requested stop */
    int stop_sig;
    int stop_kind;
    uint32_t watch_addr;
    int watch_kind;
    DbgFd fds[DBG_MAX_FDS];
    int nfds;
    DbgBp bp[CPU_MAX_BREAKPOINTS];
    int nbp;
    DbgWp wp[DBG_MAX_WATCH];
    int nwp;
} dbg = { .req_sig = GDB_SIGTRAP, .stop_sig = GDB_SIGTRAP };

PcMachine *dbg_machine(void) { return dbg.pc; }
bool dbg_stopped(void) { return dbg.stopped || dbg.stop_pending; }

/* ---- file descriptors polled by the hooks ---- */

int dbg_watch_fd(int fd, void (*cb)(void *opaque, int fd), void *opaque)
{
    if (dbg.nfds >= DBG_MAX_FDS)
        return -1;
    dbg.fds[dbg.nfds++] = (DbgFd){ fd, cb, opaque };
    return 0;
}

void dbg_unwatch_fd(int fd)
{
    for (int k = 0; k < dbg.nfds; k++) {
        if (dbg.fds[k].fd == fd) {
            dbg.fds[k] = dbg.fds[--dbg.nfds];
            return;
        }
    }
}

/* Polls the registered descriptors (timeout_ms -1: until one is ready or a
 * signal arrives) and runs the callbacks of those that are ready. */
static void dbg_poll_fds(int timeout_ms)
{
    struct pollfd pfd[DBG_MAX_FDS];
    DbgFd snap[DBG_MAX_FDS];
    int n = dbg.nfds;
    if (n <= 0 || n > DBG_MAX_FDS) {
        if (timeout_ms != 0)
            poll(NULL, 0, timeout_ms < 0 ? 1000 : timeout_ms);
        return;
    }
    for (int k = 0; k < n; k++) {
        snap[k] = dbg.fds[k];
        pfd[k] = (struct pollfd){ snap[k].fd, POLLIN, 0 };
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int k = 0; k < n; k++) {
        if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
            continue;
        /* A callback may have unregistered or replaced this descriptor. */
        bool live = false;
        for (int j = 0; j < dbg.nfds; j++)
            live |= dbg.fds[j].fd == snap[k].fd && dbg.fds[j].cb == snap[k].cb;
        if (live)
            snap[k].cb(snap[k].opaque, snap[k].fd);
    }
}

/* ---- SIGINT/SIGTERM while stopped: leave the stopped loop so the main
 * loop sees the exit request of the front end's own handler. ---- */

static volatile sig_atomic_t dbg_sig;
static struct sigaction old_sigint, old_sigterm;
static bool sig_installed;

static void dbg_on_signal(int sig)
{
    dbg_sig = sig;
    struct sigaction *o = sig == SIGINT ? &old_sigint : &old_sigterm;
    if (o->sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);
        raise(sig);
    } else if (o->sa_handler != SIG_IGN && !(o->sa_flags & SA_SIGINFO) && o->sa_handler) {
        o->sa_handler(sig);
    }
}

/* Installed at the first stop, after the front end set its handlers. */
static void dbg_install_signals(void)
{
    if (sig_installed)
        return;
    sig_installed = true;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = dbg_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sigint);
    sigaction(SIGTERM, &sa, &old_sigterm);
}

/* ---- run state ---- */

void dbg_request_stop(void)
{
    if (dbg.stopped || !dbg.pc)
        return;
    dbg.cancel_stop = false;
    if (!dbg.stop_pending) {
        dbg.stop_pending = true;
        pc_request_stop(dbg.pc);
    }
}

/* Stop with a given signal for gdb (SIGINT for Ctrl-C, SIGTRAP otherwise). */
static void dbg_request_stop_sig(int sig)
{
    if (dbg.stopped)
        return;
    dbg.req_sig = sig;
    dbg_request_stop();
}

void dbg_resume(void)
{
    if (dbg.stopped)
        dbg.resume = true;
    else if (dbg.stop_pending)
        dbg.cancel_stop = true;
}

int dbg_step(void)
{
    CpuExit r = cpu_debug_step(dbg.cpu);
    if (r == CPU_EXIT_TRIPLE_FAULT)
        pc_system_reset(dbg.pc);
    return (int)r;
}

static uint32_t dbg_linear_eip(void)
{
    CpuSeg cs;
    cpu_get_seg(dbg.cpu, SEG_CS, &cs);
    return cs.base + cpu_get_eip(dbg.cpu);
}

/* ================================================================
 * Breakpoints and watchpoints
 * ================================================================ */

static DbgBp *bp_find(uint32_t lin)
{
    for (int k = 0; k < dbg.nbp; k++)
        if (dbg.bp[k].lin == lin)
            return &dbg.bp[k];
    return NULL;
}

int dbg_bp_add(uint32_t lin, int owner)
{
    DbgBp *b = bp_find(lin);
    if (b) {
        b->owners |= owner;
        return 0;
    }
    if (dbg.nbp >= CPU_MAX_BREAKPOINTS || cpu_bp_insert(dbg.cpu, lin) < 0)
        return -1;
    dbg.bp[dbg.nbp++] = (DbgBp){ lin, owner };
    return 0;
}

int dbg_bp_del(uint32_t lin, int owner)
{
    DbgBp *b = bp_find(lin);
    if (!b || !(b->owners & owner))
        return -1;
    b->owners &= ~owner;
    if (!b->owners) {
        cpu_bp_remove(dbg.cpu, lin);
        *b = dbg.bp[--dbg.nbp];
    }
    return 0;
}

/* A user watchpoint of up to 64 bytes is a run of CPU watchpoints of at
 * most 8 bytes; identical CPU entries are shared by user watchpoints. */

static bool wp_chunk_used(uint32_t lin, uint32_t len, int kind, int except)
{
    for (int k = 0; k < dbg.nwp; k++) {
        if (k == except || dbg.wp[k].kind != kind)
            continue;
        for (uint32_t off = 0; off < dbg.wp[k].len; off += 8) {
            uint32_t l = dbg.wp[k].len - off < 8 ? dbg.wp[k].len - off : 8;
            if (dbg.wp[k].lin + off == lin && l == len)
                return true;
        }
    }
    return false;
}

static void wp_cpu_remove(int idx)
{
    DbgWp *w = &dbg.wp[idx];
    for (uint32_t off = 0; off < w->len; off += 8) {
        uint32_t l = w->len - off < 8 ? w->len - off : 8;
        if (!wp_chunk_used(w->lin + off, l, w->kind, idx))
            cpu_wp_remove(dbg.cpu, w->lin + off, l, w->kind);
    }
}

static int wp_find(uint32_t lin, uint32_t len, int kind)
{
    for (int k = 0; k < dbg.nwp; k++)
        if (dbg.wp[k].lin == lin && dbg.wp[k].len == len && dbg.wp[k].kind == kind)
            return k;
    return -1;
}

int dbg_wp_add(uint32_t lin, uint32_t len, int kind, int owner)
{
    if (len < 1 || len > DBG_WP_MAX_LEN || kind < CPU_WATCH_WRITE || kind > CPU_WATCH_ACCESS)
        return -1;
    if ((uint64_t)lin + len > 0x100000000ull)
        return -1;
    int k = wp_find(lin, len, kind);
    if (k >= 0) {
        dbg.wp[k].owners |= owner;
        return 0;
    }
    if (dbg.nwp >= DBG_MAX_WATCH)
        return -1;
    int idx = dbg.nwp++;
    dbg.wp[idx] = (DbgWp){ lin, len, kind, owner };
    for (uint32_t off = 0; off < len; off += 8) {
        uint32_t l = len - off < 8 ? len - off : 8;
        if (cpu_wp_insert(dbg.cpu, lin + off, l, kind) < 0) {
            /* CPU table full: undo what this watchpoint added. */
            dbg.wp[idx].len = off;
            wp_cpu_remove(idx);
            dbg.nwp--;
            return -1;
        }
    }
    return 0;
}

int dbg_wp_del(uint32_t lin, uint32_t len, int kind, int owner)
{
    int k = wp_find(lin, len, kind);
    if (k < 0 || !(dbg.wp[k].owners & owner))
        return -1;
    dbg.wp[k].owners &= ~owner;
    if (!dbg.wp[k].owners) {
        wp_cpu_remove(k);
        dbg.wp[k] = dbg.wp[--dbg.nwp];
    }
    return 0;
}

void dbg_clear_owned(int mask)
{
    for (int k = dbg.nbp - 1; k >= 0; k--)
        if (dbg.bp[k].owners & mask)
            dbg_bp_del(dbg.bp[k].lin, dbg.bp[k].owners & mask);
    for (int k = dbg.nwp - 1; k >= 0; k--)
        if (dbg.wp[k].owners & mask)
            dbg_wp_del(dbg.wp[k].lin, dbg.wp[k].len, dbg.wp[k].kind, dbg.wp[k].owners & mask);
}

static const char *const wp_kind_name[] = { "write", "read", "access" };

static const char *owner_name(int o)
{
    if ((o & DBG_OWN_MON) && (o & (DBG_OWN_GDB | DBG_OWN_GDB_HW)))
        return "gdb+monitor";
    return (o & DBG_OWN_MON) ? "monitor" : "gdb";
}

void dbg_list_points(DbgOut *o)
{
    if (!dbg.nbp && !dbg.nwp) {
        dbg_printf(o, "no breakpoints or watchpoints\n");
        return;
    }
    for (int k = 0; k < dbg.nbp; k++)
        dbg_printf(o, "breakpoint %08x (%s)\n", dbg.bp[k].lin, owner_name(dbg.bp[k].owners));
    for (int k = 0; k < dbg.nwp; k++)
        dbg_printf(o, "watchpoint %08x len %u %s (%s)\n", dbg.wp[k].lin, dbg.wp[k].len,
                   wp_kind_name[dbg.wp[k].kind], owner_name(dbg.wp[k].owners));
}

/* ================================================================
 * Guest memory at linear addresses
 * ================================================================ */

size_t dbg_read_linear(uint32_t lin, void *buf, size_t len)
{
    uint8_t *b = buf;
    size_t done = 0;
    PhysMem *pm = pc_phys(dbg.pc);
    while (done < len) {
        uint32_t a = lin + (uint32_t)done;
        uint32_t phys;
        if (cpu_translate(dbg.cpu, a, &phys) < 0)
            break;
        size_t chunk = PHYS_PAGE_SIZE - (a & (PHYS_PAGE_SIZE - 1));
        if (chunk > len - done)
            chunk = len - done;
        phys_read_buf(pm, phys, b + done, chunk);
        done += chunk;
        if (a + (uint32_t)chunk == 0) /* wrapped at 4 GiB */
            break;
    }
    return done;
}

int dbg_write_linear(uint32_t lin, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    uint32_t phys;
    if (len == 0)
        return 0;
    if ((uint64_t)lin + len > 0x100000000ull)
        return -1;
    /* Check every page first: all or nothing. */
    for (uint64_t a = lin & ~(uint64_t)(PHYS_PAGE_SIZE - 1); a < (uint64_t)lin + len; a += PHYS_PAGE_SIZE)
        if (cpu_translate(dbg.cpu, (uint32_t)a, &phys) < 0)
            return -1;
    PhysMem *pm = pc_phys(dbg.pc);
    size_t done = 0;
    while (done < len) {
        uint32_t a = lin + (uint32_t)done;
        cpu_translate(dbg.cpu, a, &phys);
        size_t chunk = PHYS_PAGE_SIZE - (a & (PHYS_PAGE_SIZE - 1));
        if (chunk > len - done)
            chunk = len - done;
        phys_write_buf(pm, phys, b + done, chunk); /* invalidates translated code */
        done += chunk;
    }
    return 0;
}

/* ================================================================
 * Sockets
 * ================================================================ */

int dbg_parse_endpoint(const char *spec, DbgEndpoint *ep, char *err, size_t errlen)
{
    memset(ep, 0, sizeof(*ep));
    ep->wait = true;
    char *s = strdup(spec);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *opts = strchr(s, ',');
    if (opts)
        *opts++ = 0;
    int rc = -1;
    if (!strcmp(s, "none")) {
        ep->kind = DBG_EP_NONE;
    } else if (!strcmp(s, "stdio")) {
        ep->kind = DBG_EP_STDIO;
    } else if (!strncmp(s, "unix:", 5)) {
        ep->kind = DBG_EP_UNIX;
        if (!s[5] || strlen(s + 5) >= sizeof(ep->path)) {
            snprintf(err, errlen, "'%s': a UNIX socket path of 1..%zu characters is needed", spec,
                     sizeof(ep->path) - 1);
            goto out;
        }
        strcpy(ep->path, s + 5);
    } else if (!strncmp(s, "tcp:", 4)) {
        ep->kind = DBG_EP_TCP;
        char *hp = strchr(s, ':') + 1;
        char *colon = strrchr(hp, ':');
        if (!colon) {
            snprintf(err, errlen, "'%s': expected tcp:[HOST]:PORT", spec);
            goto out;
        }
        *colon = 0;
        if (hp[0] == '[' && colon > hp && colon[-1] == ']') { /* [::1] */
            colon[-1] = 0;
            hp++;
        }
        if (strlen(hp) >= sizeof(ep->host)) {
            snprintf(err, errlen, "'%s': host name too long", spec);
            goto out;
        }
        strcpy(ep->host, hp);
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end || port < 1 || port > 65535) {
            snprintf(err, errlen, "'%s': invalid port '%s' (1..65535)", spec, colon + 1);
            goto out;
        }
        ep->port = (int)port;
    } else {
        snprintf(err, errlen, "'%s': unsupported endpoint (use tcp:[HOST]:PORT, unix:PATH%s)", spec,
                 ", stdio or none");
        goto out;
    }
    for (char *tok = opts ? strtok(opts, ",") : NULL; tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "server") || !strcmp(tok, "server=on"))
            ep->server = true;
        else if (!strcmp(tok, "nowait") || !strcmp(tok, "wait=off"))
            ep->wait = false;
        else if (!strcmp(tok, "wait") || !strcmp(tok, "wait=on"))
            ep->wait = true;
        else if (!strcmp(tok, "ipv4") || !strcmp(tok, "ipv4=on") || !strcmp(tok, "ipv6") ||
                 !strcmp(tok, "ipv6=on") || !strcmp(tok, "nodelay") || !strcmp(tok, "nodelay=on"))
            continue;
        else {
            snprintf(err, errlen, "'%s': unknown option '%s'", spec, tok);
            goto out;
        }
    }
    rc = 0;
out:
    free(s);
    return rc;
}

int dbg_listen(const DbgEndpoint *ep, char *err, size_t errlen)
{
    int fd = -1;
    if (ep->kind == DBG_EP_UNIX) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ep->path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            goto fail;
        unlink(ep->path); /* a stale socket from an earlier run */
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
            goto fail;
        return fd;
    }
    if (ep->kind != DBG_EP_TCP) {
        snprintf(err, errlen, "cannot listen on this endpoint");
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = ep->host[0] ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof(port), "%d", ep->port);
    int gai = getaddrinfo(ep->host[0] ? ep->host : NULL, port, &hints, &res);
    if (gai) {
        snprintf(err, errlen, "tcp:%s:%d: %s", ep->host, ep->port, gai_strerror(gai));
        return -1;
    }
    int saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4) == 0) {
            freeaddrinfo(res);
            return fd;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    snprintf(err, errlen, "cannot listen on tcp:%s:%d: %s", ep->host, ep->port, strerror(saved));
    return -1;
fail:
    snprintf(err, errlen, "cannot listen on unix:%s: %s", ep->path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

int dbg_accept(int lfd)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on UNIX sockets */
    return fd;
}

int dbg_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    while (len) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, b, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = { fd, POLLOUT, 0 };
                poll(&p, 1, 1000);
                continue;
            }
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ================================================================
 * gdb remote protocol
 * ================================================================ */

#define GDB_PKT_MAX 0x4000                 /* PacketSize we advertise */
#define GDB_MEM_MAX (GDB_PKT_MAX / 2 - 16) /* bytes per m reply */
#define GDB_NREGS 32
#define GDB_MAX_REFUSED 4
#define GDB_MAX_RESEND 3

enum { RX_IDLE, RX_DATA, RX_CSUM1, RX_CSUM2 };

typedef struct GdbStub {
    DbgEndpoint ep;
    bool configured;
    int lfd, fd;
    int refused[GDB_MAX_REFUSED];
    /* receiver */
    int rx_state;
    size_t rx_len;
    bool rx_overflow;
    uint8_t rx_sum;
    int rx_csum_hi;
    char rx[GDB_PKT_MAX + 1];
    bool noack;
    bool waiting; /* gdb resumed the guest and waits for a stop reply */
    /* last packet sent, for '-' (resent at most GDB_MAX_RESEND times) */
    char *tx;
    size_t tx_len, tx_cap;
    int tx_resent;
} GdbStub;

static GdbStub gdb = { .lfd = -1, .fd = -1, .refused = { -1, -1, -1, -1 } };

static const char hexdig[] = "0123456789abcdef";

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- transmit ---- */

static void gdb_disconnect(void);

static void gdb_send_raw(const void *buf, size_t len)
{
    if (gdb.fd >= 0 && dbg_write_all(gdb.fd, buf, len) < 0)
        gdb_disconnect();
}

/* Sends $data#cs (data already escaped where needed) and keeps a copy for
 * retransmission on '-'. */
static void gdb_send_packet(const char *data, size_t len)
{
    if (gdb.fd < 0)
        return;
    size_t need = len + 4;
    if (need > gdb.tx_cap) {
        char *t = realloc(gdb.tx, need);
        if (!t)
            return;
        gdb.tx = t;
        gdb.tx_cap = need;
    }
    uint8_t sum = 0;
    gdb.tx[0] = '$';
    for (size_t k = 0; k < len; k++) {
        gdb.tx[1 + k] = data[k];
        sum = (uint8_t)(sum + (uint8_t)data[k]);
    }
    gdb.tx[1 + len] = '#';
    gdb.tx[2 + len] = hexdig[sum >> 4];
    gdb.tx[3 + len] = hexdig[sum & 15];
    gdb.tx_len = need;
    gdb.tx_resent = 0;
    gdb_send_raw(gdb.tx, need);
}

static void gdb_send_str(const char *s) { gdb_send_packet(s, strlen(s)); }

/* A reply under construction. */
typedef struct Reply {
    char buf[2 * GDB_PKT_MAX + 64];
    size_t len;
} Reply;

static Reply reply;

static void r_reset(void) { reply.len = 0; }

static void r_char(char c)
{
    if (reply.len < sizeof(reply.buf))
        reply.buf[reply.len++] = c;
}

static void r_hex(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    for (size_t k = 0; k < len; k++) {
        r_char(hexdig[b[k] >> 4]);
        r_char(hexdig[b[k] & 15]);
    }
}

/* Binary data for qXfer replies: escape $ # } * as }(c^0x20). */
static void r_bin(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    for (size_t k = 0; k < len; k++) {
        if (b[k] == '$' || b[k] == '#' || b[k] == '}' || b[k] == '*') {
            r_char('}');
            r_char((char)(b[k] ^ 0x20));
        } else {
            r_char((char)b[k]);
        }
    }
}

static void r_send(void) { gdb_send_packet(reply.buf, reply.len); }

static void gdb_error(int code)
{
    char e[4] = { 'E', hexdig[(code >> 4) & 15], hexdig[code & 15], 0 };
    gdb_send_str(e);
}

/* ---- stop replies ---- */

static void gdb_send_stop_reply(void)
{
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "T%02x", dbg.stop_sig);
    if (dbg.stop_kind == STOP_WATCH) {
        static const char *const key[] = { "watch", "rwatch", "awatch" };
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s:%08x;", key[dbg.watch_kind], dbg.watch_addr);
    } else if (dbg.stop_kind == STOP_SWBREAK) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "swbreak:;");
    } else if (dbg.stop_kind == STOP_HWBREAK) {
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "hwbreak:;");
    }
    snprintf(buf + n, sizeof(buf) - (size_t)n, "thread:01;");
    gdb_send_str(buf);
}

/* After a debugger step: was a watchpoint hit? */
static void classify_step(void)
{
    uint32_t addr;
    int kind;
    dbg.stop_sig = GDB_SIGTRAP;
    dbg.stop_kind = STOP_PLAIN;
    if (cpu_wp_hit(dbg.cpu, &addr, &kind)) {
        dbg.stop_kind = STOP_WATCH;
        dbg.watch_addr = addr;
        dbg.watch_kind = kind;
    }
}

/* ---- registers (order of the target description below) ---- */

static const int gdb_seg_order[6] = { SEG_CS, SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS };

static int gdb_reg_size(int r) { return (r >= 16 && r < 24) ? 10 : 4; }

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *b) { return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24; }

/* Fills buf with register r; returns its size or -1. */
static int gdb_read_reg(int r, uint8_t *buf)
{
    X86Cpu *cpu = dbg.cpu;
    if (r < 0 || r >= GDB_NREGS)
        return -1;
    if (r < 8) {
        put32(buf, cpu_get_reg(cpu, r));
    } else if (r == 8) {
        put32(buf, cpu_get_eip(cpu));
    } else if (r == 9) {
        put32(buf, cpu_get_eflags(cpu));
    } else if (r < 16) {
        CpuSeg s;
        cpu_get_seg(cpu, gdb_seg_order[r - 10], &s);
        put32(buf, s.sel);
    } else {
        CpuFpuState f;
        cpu_get_fpu(cpu, &f);
        int top = (f.fsw >> 11) & 7;
        switch (r) {
        case 24: put32(buf, f.fcw); break;
        case 25: put32(buf, f.fsw); break;
        case 26: put32(buf, f.ftw); break;
        case 27: put32(buf, f.fcs); break;
        case 28: put32(buf, f.fip); break;
        case 29: put32(buf, f.fds); break;
        case 30: put32(buf, f.fdp); break;
        case 31: put32(buf, f.fop); break;
        default: memcpy(buf, f.st[(top + r - 16) & 7], 10); break;
        }
    }
    return gdb_reg_size(r);
}

/* Loads a segment register from a selector as the debugger asked: real
 * and virtual-8086 mode compute the base; protected mode reads the
 * descriptor from the GDT or LDT.  An unchanged selector keeps the cache. */
static void dbg_load_seg(int seg, uint16_t sel)
{
    X86Cpu *cpu = dbg.cpu;
    CpuSeg s;
    cpu_get_seg(cpu, seg, &s);
    if (s.sel == sel)
        return;
    if (!(cpu_get_cr(cpu, 0) & 1) || (cpu_get_eflags(cpu) & 0x20000)) {
        s.sel = sel;
        s.base = (uint32_t)sel << 4;
        cpu_set_seg(cpu, seg, &s);
        return;
    }
    if ((sel & ~3u) == 0) { /* null selector: an unusable data segment */
        if (seg == SEG_CS || seg == SEG_SS)
            return;
        s = (CpuSeg){ sel, 0, 0, 0 };
        cpu_set_seg(cpu, seg, &s);
        return;
    }
    uint32_t tbase;
    uint32_t tlimit;
    if (sel & 4) {
        CpuSeg ldt;
        cpu_get_seg(cpu, SEG_LDTR, &ldt);
        tbase = ldt.base;
        tlimit = ldt.limit;
    } else {
        uint16_t l16;
        cpu_get_dtr(cpu, 0, &tbase, &l16);
        tlimit = l16;
    }
    uint32_t idx = sel & ~7u;
    uint8_t d[8];
    if (idx + 7 > tlimit || dbg_read_linear(tbase + idx, d, 8) != 8)
        return;
    uint32_t lo = get32(d), hi = get32(d + 4);
    uint32_t limit = (lo & 0xFFFF) | (hi & 0xF0000);
    if (hi & (1u << 23))
        limit = (limit << 12) | 0xFFF;
    s.sel = sel;
    s.base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000u);
    s.limit = limit;
    s.ar = (uint16_t)((hi >> 8) & 0xF0FF);
    cpu_set_seg(cpu, seg, &s);
}

static int gdb_write_reg(int r, const uint8_t *buf)
{
    X86Cpu *cpu = dbg.cpu;
    if (r < 0 || r >= GDB_NREGS)
        return -1;
    uint32_t v = get32(buf);
    if (r < 8) {
        cpu_set_reg(cpu, r, v);
    } else if (r == 8) {
        if (v != cpu_get_eip(cpu))
            cpu_set_eip(cpu, v);
    } else if (r == 9) {
        if (v != cpu_get_eflags(cpu))
            cpu_set_eflags(cpu, v);
    } else if (r < 16) {
        dbg_load_seg(gdb_seg_order[r - 10], (uint16_t)v);
    } else {
        CpuFpuState f;
        cpu_get_fpu(cpu, &f);
        int top = (f.fsw >> 11) & 7;
        switch (r) {
        case 24: f.fcw = (uint16_t)v; break;
        case 25: f.fsw = (uint16_t)v; break;
        case 26: f.ftw = (uint16_t)v; break;
        case 27: f.fcs = (uint16_t)v; break;
        case 28: f.fip = v; break;
        case 29: f.fds = (uint16_t)v; break;
        case 30: f.fdp = v; break;
        case 31: f.fop = (uint16_t)(v & 0x7FF); break;
        default: memcpy(f.st[(top + r - 16) & 7], buf, 10); break;
        }
        cpu_set_fpu(cpu, &f);
    }
    return gdb_reg_size(r);
}

/* ---- target description ---- */

static const char target_xml[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
    "<target version=\"1.0\">\n"
    "<architecture>i386</architecture>\n"
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "<flags id=\"i386_eflags\" size=\"4\">\n"
    "<field name=\"CF\" start=\"0\" end=\"0\"/>\n"
    "<field name=\"\" start=\"1\" end=\"1\"/>\n"
    "<field name=\"PF\" start=\"2\" end=\"2\"/>\n"
    "<field name=\"AF\" start=\"4\" end=\"4\"/>\n"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/>\n"
    "<field name=\"SF\" start=\"7\" end=\"7\"/>\n"
    "<field name=\"TF\" start=\"8\" end=\"8\"/>\n"
    "<field name=\"IF\" start=\"9\" end=\"9\"/>\n"
    "<field name=\"DF\" start=\"10\" end=\"10\"/>\n"
    "<field name=\"OF\" start=\"11\" end=\"11\"/>\n"
    "<field name=\"NT\" start=\"14\" end=\"14\"/>\n"
    "<field name=\"RF\" start=\"16\" end=\"16\"/>\n"
    "<field name=\"VM\" start=\"17\" end=\"17\"/>\n"
    "<field name=\"AC\" start=\"18\" end=\"18\"/>\n"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/>\n"
    "<field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
    "<field name=\"ID\" start=\"21\" end=\"21\"/>\n"
    "</flags>\n"
    "<reg name=\"eax\" bitsize=\"32\" type=\"int32\" regnum=\"0\"/>\n"
    "<reg name=\"ecx\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"edx\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ebx\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"esp\" bitsize=\"32\" type=\"data_ptr\"/>\n"
    "<reg name=\"ebp\" bitsize=\"32\" type=\"data_ptr\"/>\n"
    "<reg name=\"esi\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"edi\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\"/>\n"
    "<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
    "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
    "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
    "</feature>\n"
    "</target>\n";

/* ---- packet argument parsing ---- */

/* Parses a hex number of at most 32 bits at *p; advances *p. */
static int parse_hex32(const char **p, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int n = 0;
    while (hexval(*s) >= 0) {
        v = (v << 4) | (uint64_t)hexval(*s++);
        if (v > 0xFFFFFFFFull)
            return -1;
        n++;
    }
    if (n == 0)
        return -1;
    *p = s;
    *out = (uint32_t)v;
    return 0;
}

/* "ADDR,LEN" followed by the character end (':' or 0). */
static int parse_addr_len(const char **p, uint32_t *addr, uint32_t *len, char end)
{
    if (parse_hex32(p, addr) < 0 || **p != ',')
        return -1;
    (*p)++;
    if (parse_hex32(p, len) < 0 || **p != end)
        return -1;
    if (end)
        (*p)++;
    return 0;
}

/* Decodes hex into buf (n bytes); the text must be exactly 2n digits. */
static int decode_hex(const char *s, size_t slen, uint8_t *buf, size_t n)
{
    if (slen != 2 * n)
        return -1;
    for (size_t k = 0; k < n; k++) {
        int hi = hexval(s[2 * k]), lo = hexval(s[2 * k + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        buf[k] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- packet handlers ---- */

static uint8_t membuf[GDB_PKT_MAX];

static void gdb_cmd_read_mem(const char *p)
{
    uint32_t addr, len;
    if (parse_addr_len(&p, &addr, &len, 0) < 0) {
        gdb_error(0x16);
        return;
    }
    if (len > GDB_MEM_MAX)
        len = GDB_MEM_MAX;
    if ((uint64_t)addr + len > 0x100000000ull)
        len = (uint32_t)(0x100000000ull - addr);
    size_t n = dbg_read_linear(addr, membuf, len);
    if (n == 0 && len) {
        gdb_error(0x0e);
        return;
    }
    r_reset();
    r_hex(membuf, n);
    r_send();
}

static void gdb_cmd_write_mem(const char *p, size_t plen, bool binary)
{
    const char *start = p;
    uint32_t addr, len;
    if (parse_addr_len(&p, &addr, &len, ':') < 0 || len > sizeof(membuf)) {
        gdb_error(0x16);
        return;
    }
    size_t rest = plen - (size_t)(p - start);
    if (binary) {
        size_t n = 0;
        for (size_t k = 0; k < rest; k++) {
            uint8_t c = (uint8_t)p[k];
            if (c == '}') {
                if (++k >= rest) {
                    gdb_error(0x16);
                    return;
                }
                c = (uint8_t)(p[k] ^ 0x20);
            }
            if (n >= len) {
                gdb_error(0x16);
                return;
            }
            membuf[n++] = c;
        }
        if (n != len) {
            gdb_error(0x16);
            return;
        }
    } else if (decode_hex(p, rest, membuf, len) < 0) {
        gdb_error(0x16);
        return;
    }
    if (dbg_write_linear(addr, membuf, len) < 0) {
        gdb_error(0x0e);
        return;
    }
    gdb_send_str("OK");
}

static void gdb_cmd_read_regs(void)
{
    uint8_t b[10];
    r_reset();
    for (int r = 0; r < GDB_NREGS; r++) {
        int n = gdb_read_reg(r, b);
        r_hex(b, (size_t)n);
    }
    r_send();
}

static void gdb_cmd_write_regs(const char *p, size_t plen)
{
    /* Registers as far as the data goes; a partial register is an error. */
    size_t pos = 0;
    for (int r = 0; r < GDB_NREGS && pos < plen; r++) {
        size_t sz = (size_t)gdb_reg_size(r);
        uint8_t b[10];
        if (plen - pos < 2 * sz || decode_hex(p + pos, 2 * sz, b, sz) < 0) {
            gdb_error(0x16);
            return;
        }
        pos += 2 * sz;
    }
    if (pos != plen) {
        gdb_error(0x16);
        return;
    }
    pos = 0;
    for (int r = 0; r < GDB_NREGS && pos < plen; r++) {
        size_t sz = (size_t)gdb_reg_size(r);
        uint8_t b[10];
        decode_hex(p + pos, 2 * sz, b, sz);
        gdb_write_reg(r, b);
        pos += 2 * sz;
    }
    gdb_send_str("OK");
}

static void gdb_cmd_read_reg(const char *p)
{
    uint32_t r;
    uint8_t b[10];
    if (parse_hex32(&p, &r) < 0 || *p) {
        gdb_error(0x16);
        return;
    }
    int n = r < GDB_NREGS ? gdb_read_reg((int)r, b) : -1;
    if (n < 0) {
        gdb_error(0x16);
        return;
    }
    r_reset();
    r_hex(b, (size_t)n);
    r_send();
}

static void gdb_cmd_write_reg(const char *p, size_t plen)
{
    const char *start = p;
    uint32_t r;
    uint8_t b[10];
    if (parse_hex32(&p, &r) < 0 || *p != '=' || r >= GDB_NREGS) {
        gdb_error(0x16);
        return;
    }
    p++;
    size_t sz = (size_t)gdb_reg_size((int)r);
    if (decode_hex(p, plen - (size_t)(p - start), b, sz) < 0) {
        gdb_error(0x16);
        return;
    }
    gdb_write_reg((int)r, b);
    gdb_send_str("OK");
}

/* Z/z TYPE,ADDR,KIND */
static void gdb_cmd_point(const char *p, bool insert)
{
    int type = *p - '0';
    uint32_t addr, kind;
    p++;
    if (type < 0 || type > 4 || *p != ',') {
        gdb_send_str(""); /* unsupported type */
        return;
    }
    p++;
    if (parse_hex32(&p, &addr) < 0 || *p != ',') {
        gdb_error(0x16);
        return;
    }
    p++;
    if (parse_hex32(&p, &kind) < 0 || (*p && *p != ';')) {
        gdb_error(0x16);
        return;
    }
    int rc;
    if (type <= 1) {
        int owner = type == 0 ? DBG_OWN_GDB : DBG_OWN_GDB_HW;
        rc = insert ? dbg_bp_add(addr, owner) : dbg_bp_del(addr, owner);
    } else {
        static const int wkind[5] = { 0, 0, CPU_WATCH_WRITE, CPU_WATCH_READ, CPU_WATCH_ACCESS };
        rc = insert ? dbg_wp_add(addr, kind, wkind[type], DBG_OWN_GDB)
                    : dbg_wp_del(addr, kind, wkind[type], DBG_OWN_GDB);
    }
    if (rc < 0)
        gdb_error(insert ? 0x1c : 0x16); /* ENOSPC-ish / EINVAL */
    else
        gdb_send_str("OK");
}

/* Resumes the guest for gdb: continue, or step and report at once. */
static void gdb_resume(bool step, const char *addr)
{
    uint32_t a;
    if (addr && *addr) {
        if (parse_hex32(&addr, &a) < 0) {
            gdb_error(0x16);
            return;
        }
        cpu_set_eip(dbg.cpu, a);
    }
    if (step) {
        dbg_step();
        classify_step();
        gdb_send_stop_reply();
        if (!dbg.stopped) { /* a step while running: stay stopped afterwards */
            dbg_request_stop_sig(GDB_SIGTRAP);
            gdb.waiting = false;
        }
        return;
    }
    gdb.waiting = true;
    dbg_resume();
}

static void gdb_cmd_vcont(const char *p)
{
    if (!strcmp(p, "?")) {
        gdb_send_str("vCont;c;C;s;S");
        return;
    }
    if (*p != ';') {
        gdb_send_str("");
        return;
    }
    /* Actions apply to the first that names our thread (1) or all. */
    while (*p == ';') {
        char act = p[1];
        const char *q = p + 2;
        if (act == 'C' || act == 'S') /* signal number: ignored */
            while (hexval(*q) >= 0)
                q++;
        bool ours = true;
        if (*q == ':') {
            q++;
            ours = !strncmp(q, "-1", 2) || strtol(q, NULL, 16) <= 1;
            while (*q && *q != ';')
                q++;
        }
        if (ours) {
            if (act == 'c' || act == 'C') {
                gdb_resume(false, NULL);
                return;
            }
            if (act == 's' || act == 'S') {
                gdb_resume(true, NULL);
                return;
            }
            if (act == 't') {
                gdb_send_str("OK");
                return;
            }
            gdb_error(0x16);
            return;
        }
        p = q;
    }
    gdb_error(0x16);
}

static void gdb_cmd_rcmd(const char *hex)
{
    size_t hl = strlen(hex);
    if (hl % 2 || hl / 2 > 1024) {
        gdb_error(0x16);
        return;
    }
    char line[1025];
    if (decode_hex(hex, hl, (uint8_t *)line, hl / 2) < 0) {
        gdb_error(0x16);
        return;
    }
    line[hl / 2] = 0;
    DbgOut out = { 0 };
    monitor_exec(line, &out, MON_SRC_GDB);
    /* Console output in O packets, then OK. */
    for (size_t off = 0; off < out.len; off += 1024) {
        size_t n = out.len - off < 1024 ? out.len - off : 1024;
        r_reset();
        r_char('O');
        r_hex(out.buf + off, n);
        r_send();
    }
    dbg_out_free(&out);
    gdb_send_str("OK");
}

static void gdb_cmd_xfer(const char *p)
{
    /* qXfer:features:read:ANNEX:OFFSET,LENGTH */
    const char *pre = "features:read:";
    if (strncmp(p, pre, strlen(pre))) {
        gdb_send_str("");
        return;
    }
    p += strlen(pre);
    const char *colon = strchr(p, ':');
    if (!colon) {
        gdb_error(0x16);
        return;
    }
    if ((size_t)(colon - p) != strlen("target.xml") || strncmp(p, "target.xml", (size_t)(colon - p))) {
        gdb_error(0x00);
        return;
    }
    p = colon + 1;
    uint32_t off, len;
    if (parse_addr_len(&p, &off, &len, 0) < 0) {
        gdb_error(0x16);
        return;
    }
    size_t total = sizeof(target_xml) - 1;
    if (len > GDB_MEM_MAX)
        len = GDB_MEM_MAX;
    r_reset();
    if (off >= total) {
        r_char('l');
    } else {
        size_t n = total - off < len ? total - off : len;
        r_char(off + n >= total ? 'l' : 'm');
        r_bin(target_xml + off, n);
    }
    r_send();
}

static void gdb_kill(void)
{
    fprintf(stderr, "vessel: killed by gdb\n");
    pc_request_exit(dbg.pc, 0);
    dbg_resume();
    gdb.waiting = false;
}

static void gdb_handle_packet(char *p, size_t len)
{
    p[len] = 0;
    switch (p[0]) {
    case '?':
        gdb_send_stop_reply();
        return;
    case 'g':
        gdb_cmd_read_regs();
        return;
    case 'G':
        gdb_cmd_write_regs(p + 1, len - 1);
        return;
    case 'p':
        gdb_cmd_read_reg(p + 1);
        return;
    case 'P':
        gdb_cmd_write_reg(p + 1, len - 1);
        return;
    case 'm':
        gdb_cmd_read_mem(p + 1);
        return;
    case 'M':
        gdb_cmd_write_mem(p + 1, len - 1, false);
        return;
    case 'X':
        gdb_cmd_write_mem(p + 1, len - 1, true);
        return;
    case 'c':
        gdb_resume(false, p + 1);
        return;
    case 's':
        gdb_resume(true, p + 1);
        return;
    case 'C':
    case 'S': {
        const char *q = strchr(p, ';');
        gdb_resume(p[0] == 'S', q ? q + 1 : NULL);
        return;
    }
    case 'Z':
    case 'z':
        gdb_cmd_point(p + 1, p[0] == 'Z');
        return;
    case 'D':
        dbg_clear_owned(DBG_OWN_GDB | DBG_OWN_GDB_HW);
        gdb_send_str("OK");
        gdb.waiting = false;
        dbg_resume();
        return;
    case 'k':
        gdb_kill();
        return;
    case 'H':
        gdb_send_str("OK");
        return;
    case 'T':
        gdb_send_str(!strcmp(p + 1, "1") || !strcmp(p + 1, "01") ? "OK" : "E16");
        return;
    case 'v':
        if (!strncmp(p, "vCont", 5)) {
            gdb_cmd_vcont(p + 5);
        } else if (!strncmp(p, "vKill", 5)) {
            gdb_send_str("OK");
            gdb_kill();
        } else {
            gdb_send_str("");
        }
        return;
    case 'q':
        if (!strncmp(p, "qSupported", 10)) {
            char buf[160];
            snprintf(buf, sizeof(buf),
                     "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+;vContSupported+",
                     GDB_PKT_MAX);
            gdb_send_str(buf);
        } else if (!strncmp(p, "qXfer:", 6)) {
            gdb_cmd_xfer(p + 6);
        } else if (!strncmp(p, "qRcmd,", 6)) {
            gdb_cmd_rcmd(p + 6);
        } else if (!strcmp(p, "qC")) {
            gdb_send_str("QC1");
        } else if (!strcmp(p, "qfThreadInfo")) {
            gdb_send_str("m1");
        } else if (!strcmp(p, "qsThreadInfo")) {
            gdb_send_str("l");
        } else if (!strncmp(p, "qAttached", 9)) {
            gdb_send_str("1");
        } else if (!strncmp(p, "qThreadExtraInfo,", 17)) {
            const char *s = cpu_halted(dbg.cpu) ? "CPU#0 [halted]" : "CPU#0 [running]";
            r_reset();
            r_hex(s, strlen(s));
            r_send();
        } else if (!strncmp(p, "qSymbol", 7)) {
            gdb_send_str("OK");
        } else {
            gdb_send_str("");
        }
        return;
    case 'Q':
        if (!strcmp(p, "QStartNoAckMode")) {
            gdb_send_str("OK");
            gdb.noack = true;
        } else {
            gdb_send_str("");
        }
        return;
    default:
        gdb_send_str("");
        return;
    }
}

/* Ctrl-C from gdb. */
static void gdb_interrupt(void)
{
    if (!dbg.stopped)
        dbg_request_stop_sig(GDB_SIGINT);
}

/* Feeds received bytes through the packet state machine. */
static void gdb_feed(const uint8_t *buf, size_t n)
{
    for (size_t k = 0; k < n && gdb.fd >= 0; k++) {
        uint8_t c = buf[k];
        switch (gdb.rx_state) {
        case RX_IDLE:
            if (c == '$') {
                gdb.rx_state = RX_DATA;
                gdb.rx_len = 0;
                gdb.rx_sum = 0;
                gdb.rx_overflow = false;
            } else if (c == 0x03) {
                gdb_interrupt();
            } else if (c == '-' && !gdb.noack && gdb.tx_len && gdb.tx_resent < GDB_MAX_RESEND) {
                gdb.tx_resent++;
                gdb_send_raw(gdb.tx, gdb.tx_len);
            }
            break; /* '+' and noise are ignored */
        case RX_DATA:
            if (c == '#') {
                gdb.rx_state = RX_CSUM1;
            } else if (c == '$') { /* a new packet restarts */
                gdb.rx_len = 0;
                gdb.rx_sum = 0;
                gdb.rx_overflow = false;
            } else {
                gdb.rx_sum = (uint8_t)(gdb.rx_sum + c);
                if (gdb.rx_len < GDB_PKT_MAX)
                    gdb.rx[gdb.rx_len++] = (char)c;
                else
                    gdb.rx_overflow = true;
            }
            break;
        case RX_CSUM1:
            gdb.rx_csum_hi = hexval(c);
            gdb.rx_state = RX_CSUM2;
            break;
        case RX_CSUM2: {
            int lo = hexval(c);
            gdb.rx_state = RX_IDLE;
            bool ok = gdb.rx_csum_hi >= 0 && lo >= 0 && (uint8_t)(gdb.rx_csum_hi << 4 | lo) == gdb.rx_sum;
            if (!ok || gdb.rx_overflow) {
                if (!gdb.noack)
                    gdb_send_raw("-", 1);
                else if (gdb.rx_overflow)
                    gdb_error(0x16);
                break;
            }
            if (!gdb.noack)
                gdb_send_raw("+", 1);
            gdb_handle_packet(gdb.rx, gdb.rx_len);
            break;
        }
        }
    }
}

/* ---- connections ---- */

static void gdb_disconnect(void)
{
    if (gdb.fd < 0)
        return;
    int fd = gdb.fd;
    gdb.fd = -1;
    dbg_unwatch_fd(fd);
    close(fd);
    gdb.waiting = false;
    /* gdb went away: its breakpoints go, and a guest it stopped runs on. */
    dbg_clear_owned(DBG_OWN_GDB | DBG_OWN_GDB_HW);
    dbg_resume();
}

static void gdb_on_readable(void *opaque, int fd)
{
    uint8_t buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        gdb_disconnect();
        return;
    }
    if (n > 0)
        gdb_feed(buf, (size_t)n);
}

static const char refuse_msg[] = "E.vessel: another gdb is already connected; connection refused";

static void gdb_refused_readable(void *opaque, int fd)
{
    /* Answer the first packet (gdb's qSupported) with an error, then close. */
    uint8_t buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        char pkt[sizeof(refuse_msg) + 8];
        uint8_t sum = 0;
        for (const char *s = refuse_msg; *s; s++)
            sum = (uint8_t)(sum + (uint8_t)*s);
        int len = snprintf(pkt, sizeof(pkt), "+$%s#%02x", refuse_msg, sum);
        dbg_write_all(fd, pkt, (size_t)len);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    dbg_unwatch_fd(fd);
    for (int k = 0; k < GDB_MAX_REFUSED; k++)
        if (gdb.refused[k] == fd)
            gdb.refused[k] = -1;
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void gdb_on_accept(void *opaque, int lfd)
{
    int fd = dbg_accept(lfd);
    if (fd < 0)
        return;
    if (gdb.fd >= 0) {
        /* A gdb reconnecting at once: its old connection's end of file may
         * be waiting in the same poll round.  Take it first. */
        for (int k = 0; k < 16 && gdb.fd >= 0; k++) {
            struct pollfd p = { gdb.fd, POLLIN, 0 };
            if (poll(&p, 1, 0) <= 0)
                break;
            gdb_on_readable(NULL, gdb.fd);
        }
    }
    if (gdb.fd >= 0) {
        fprintf(stderr, "vessel: gdb: refused a second connection (one gdb at a time)\n");
        int slot = 0;
        for (int k = 0; k < GDB_MAX_REFUSED; k++)
            if (gdb.refused[k] < 0)
                slot = k;
        if (gdb.refused[slot] >= 0) { /* all busy: drop the oldest */
            dbg_unwatch_fd(gdb.refused[slot]);
            close(gdb.refused[slot]);
        }
        gdb.refused[slot] = fd;
        if (dbg_watch_fd(fd, gdb_refused_readable, NULL) < 0) {
            close(fd);
            gdb.refused[slot] = -1;
        }
        return;
    }
    gdb.fd = fd;
    gdb.rx_state = RX_IDLE;
    gdb.noack = false;
    gdb.waiting = false;
    gdb.tx_len = 0;
    if (dbg_watch_fd(fd, gdb_on_readable, NULL) < 0) {
        close(fd);
        gdb.fd = -1;
        return;
    }
    /* As QEMU: a debugger connecting stops the guest. */
    dbg_request_stop_sig(GDB_SIGTRAP);
}

/* ================================================================
 * Board hooks
 * ================================================================ */

static void dbg_poll_hook(void *opaque) { dbg_poll_fds(0); }

/* Sets stop_sig/stop_kind for a stop reported by the board. */
static void classify_stop(int reason)
{
    uint32_t addr;
    int kind;
    dbg.stop_sig = GDB_SIGTRAP;
    dbg.stop_kind = STOP_PLAIN;
    if (reason == PC_STOP_REQUEST) {
        dbg.stop_sig = dbg.req_sig;
        dbg.req_sig = GDB_SIGTRAP;
    } else if (reason == PC_STOP_BREAKPOINT) {
        if (cpu_wp_hit(dbg.cpu, &addr, &kind)) {
            dbg.stop_kind = STOP_WATCH;
            dbg.watch_addr = addr;
            dbg.watch_kind = kind;
        } else {
            DbgBp *b = bp_find(dbg_linear_eip());
            int o = b ? b->owners : 0;
            dbg.stop_kind = (o & DBG_OWN_GDB) ? STOP_SWBREAK : (o & DBG_OWN_GDB_HW) ? STOP_HWBREAK : STOP_PLAIN;
        }
    }
}

static void dbg_stopped_hook(void *opaque, int reason)
{
    dbg_install_signals();
    dbg_sig = 0;
    if (reason == PC_STOP_REQUEST && dbg.cancel_stop) {
        dbg.cancel_stop = false;
        dbg.stop_pending = false;
        return;
    }
    dbg.stop_pending = false;
    dbg.cancel_stop = false;
    dbg.stopped = true;
    dbg.resume = false;
    classify_stop(reason);
    if (gdb.fd >= 0 && gdb.waiting) {
        gdb.waiting = false;
        gdb_send_stop_reply();
    } else if (reason == PC_STOP_BREAKPOINT) {
        char msg[128];
        if (dbg.stop_kind == STOP_WATCH)
            snprintf(msg, sizeof(msg), "stopped: %s watchpoint hit at %08x, EIP=%08x", wp_kind_name[dbg.watch_kind],
                     dbg.watch_addr, cpu_get_eip(dbg.cpu));
        else
            snprintf(msg, sizeof(msg), "stopped: breakpoint at %08x", dbg_linear_eip());
        monitor_notify(msg);
    }
    while (!dbg.resume && !dbg_sig)
        dbg_poll_fds(-1);
    dbg.stopped = false;
    /* Resuming on a breakpoint we arrived at by stepping or by moving EIP
     * would stop at once: execute that instruction first. */
    if (!dbg_sig && bp_find(dbg_linear_eip()))
        dbg_step();
}

/* ================================================================
 * Flags, setup, shutdown
 * ================================================================ */

static void die_flag(const char *fmt, ...)
{
    va_list ap;
    fputs("vessel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void gdb_set_spec(const char *spec, const char *flag)
{
    char err[256];
    DbgEndpoint ep;
    if (dbg_parse_endpoint(spec, &ep, err, sizeof(err)) < 0)
        die_flag("%s: %s", flag, err);
    if (ep.kind == DBG_EP_STDIO)
        die_flag("%s: stdio is not supported (use tcp::PORT or unix:PATH)", flag);
    gdb.ep = ep;
    gdb.configured = ep.kind != DBG_EP_NONE;
}

int debug_parse_flag(int argc, char **argv, int *k)
{
    const char *a = argv[*k];
    if (a[0] == '-' && a[1] == '-' && a[2])
        a++;
    if (!strcmp(a, "-s")) {
        gdb_set_spec("tcp::1234", "-s");
        return 1;
    }
    if (!strcmp(a, "-S")) {
        dbg.start_stopped = true;
        return 1;
    }
    if (!strcmp(a, "-gdb")) {
        if (*k + 1 >= argc)
            die_flag("option '%s' needs an argument (e.g. tcp::1234)", argv[*k]);
        gdb_set_spec(argv[++*k], "-gdb");
        return 1;
    }
    return monitor_parse_flag(argc, argv, k);
}

int debug_setup(PcMachine *pc, char *err, size_t errlen)
{
    dbg.pc = pc;
    dbg.cpu = pc_cpu(pc);
    bool mon = monitor_configured();
    if (!gdb.configured && !mon && !dbg.start_stopped)
        return 0; /* no debugger: no hooks, no cost */
    if (dbg.start_stopped && !gdb.configured && !mon) {
        snprintf(err, errlen, "-S: the guest starts stopped, but there is no -gdb, -s or -monitor to start it");
        return -1;
    }
    if (gdb.configured) {
        char e[256];
        gdb.lfd = dbg_listen(&gdb.ep, e, sizeof(e));
        if (gdb.lfd < 0) {
            snprintf(err, errlen, "-gdb: %s", e);
            return -1;
        }
        dbg_watch_fd(gdb.lfd, gdb_on_accept, NULL);
    }
    if (mon && monitor_setup(err, errlen) < 0)
        return -1;
    static const PcDebugHooks hooks = { dbg_poll_hook, dbg_stopped_hook, NULL };
    pc_set_debug_hooks(pc, &hooks, dbg.start_stopped);
    dbg.hooks_on = true;
    return 0;
}

int debug_enable_hooks(PcMachine *pc)
{
    dbg.pc = pc;
    dbg.cpu = pc_cpu(pc);
    if (!dbg.hooks_on) {
        static const PcDebugHooks hooks = { dbg_poll_hook, dbg_stopped_hook, NULL };
        pc_set_debug_hooks(pc, &hooks, false);
        dbg.hooks_on = true;
    }
    return 0;
}

void debug_shutdown(void)
{
    monitor_shutdown();
    if (gdb.fd >= 0) {
        close(gdb.fd);
        gdb.fd = -1;
    }
    for (int k = 0; k < GDB_MAX_REFUSED; k++) {
        if (gdb.refused[k] >= 0)
            close(gdb.refused[k]);
        gdb.refused[k] = -1;
    }
    if (gdb.lfd >= 0) {
        close(gdb.lfd);
        gdb.lfd = -1;
        if (gdb.ep.kind == DBG_EP_UNIX)
            unlink(gdb.ep.path);
    }
    free(gdb.tx);
    gdb.tx = NULL;
    gdb.tx_len = gdb.tx_cap = 0;
    dbg.nfds = 0;
}
