/*
 * chardev_host.c - host character backends (see chardev_host.h).
 *
 * POSIX only: poll(2) for readiness, posix_openpt(3) for ptys,
 * getaddrinfo(3) for TCP.  Every descriptor is non-blocking except a
 * regular file; output waits at most CHARDEV_WRITE_WAIT_MS in total for a
 * slow reader before dropping the rest.
 */
#define _GNU_SOURCE /* posix_openpt, ptsname_r, cfmakeraw, MSG_NOSIGNAL */
#include "frontend/chardev_host.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

#define CHARDEV_WRITE_WAIT_MS 1000

typedef enum {
    CH_NONE,
    CH_NULL,
    CH_STDIO,
    CH_FILE,
    CH_PTY,
    CH_TCP_SERVER,
    CH_TCP_CLIENT,
} CharHostKind;

struct CharHost {
    CharHostKind kind;
    int out_fd;          /* where output goes (-1: dropped) */
    int in_fd;           /* where input comes from (-1: none) */
    int listen_fd;       /* TCP server: the listening socket */
    bool is_socket;      /* out_fd/in_fd is a socket: send(MSG_NOSIGNAL) */
    bool eof;            /* input side reached end of file */
    bool nodelay;        /* TCP_NODELAY on accepted/connected sockets */
    int local_port;      /* TCP server: bound port */
    char pty_path[64];
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static CharHost *host_new(CharHostKind kind)
{
    CharHost *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->kind = kind;
    h->out_fd = h->in_fd = h->listen_fd = -1;
    h->local_port = -1;
    return h;
}

/* ---- pty ---- */

static int open_pty(CharHost *h, char *err, size_t errlen)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0)
        return fail(err, errlen, "pty: posix_openpt: %s", strerror(errno));
    if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, h->pty_path, sizeof(h->pty_path)) != 0) {
        int e = errno;
        close(m);
        return fail(err, errlen, "pty: cannot set up the pseudo-terminal: %s", strerror(e));
    }
    /* Raw mode lives in the tty, so set it through the slave once and close
     * it: until a program opens the slave the master reports POLLHUP and
     * output is dropped (QEMU's "disconnected" pty). */
    int s = open(h->pty_path, O_RDWR | O_NOCTTY);
    if (s < 0) {
        int e = errno;
        close(m);
        return fail(err, errlen, "pty: cannot open %s: %s", h->pty_path, strerror(e));
    }
    struct termios t;
    if (tcgetattr(s, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(s, TCSANOW, &t);
    }
    close(s);
    if (set_nonblock(m) < 0) {
        int e = errno;
        close(m);
        return fail(err, errlen, "pty: %s", strerror(e));
    }
    fcntl(m, F_SETFD, FD_CLOEXEC);
    h->out_fd = h->in_fd = m;
    return 0;
}

/* ---- tcp ---- */

typedef struct TcpSpec {
    char host[256];
    char port[16];
    bool server, wait, nodelay;
} TcpSpec;

/* "HOST:PORT[,opt...]" (HOST may be empty or [v6]) */
static int parse_tcp(const char *s, TcpSpec *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->wait = true;
    const char *colon;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return fail(err, errlen, "tcp: bad address '%s' (use tcp:HOST:PORT)", s);
        if ((size_t)(end - s - 1) >= sizeof(t->host))
            return fail(err, errlen, "tcp: host name too long");
        memcpy(t->host, s + 1, (size_t)(end - s - 1));
        colon = end + 1;
    } else {
        colon = strchr(s, ':');
        if (!colon)
            return fail(err, errlen, "tcp: missing port in '%s' (use tcp:HOST:PORT)", s);
        if ((size_t)(colon - s) >= sizeof(t->host))
            return fail(err, errlen, "tcp: host name too long");
        memcpy(t->host, s, (size_t)(colon - s));
    }
    const char *p = colon + 1;
    const char *comma = strchr(p, ',');
    size_t plen = comma ? (size_t)(comma - p) : strlen(p);
    if (plen == 0 || plen >= sizeof(t->port))
        return fail(err, errlen, "tcp: missing or invalid port in '%s'", s);
    memcpy(t->port, p, plen);
    char *end;
    errno = 0;
    long port = strtol(t->port, &end, 10);
    if (errno || *end || port < 0 || port > 65535)
        return fail(err, errlen, "tcp: invalid port '%s' (0..65535)", t->port);
    while (comma) {
        const char *o = comma + 1;
        comma = strchr(o, ',');
        size_t olen = comma ? (size_t)(comma - o) : strlen(o);
#define OPT(name) (olen == strlen(name) && !strncmp(o, name, olen))
        if (OPT("server") || OPT("server=on"))
            t->server = true;
        else if (OPT("server=off"))
            t->server = false;
        else if (OPT("nowait") || OPT("wait=off"))
            t->wait = false;
        else if (OPT("wait") || OPT("wait=on"))
            t->wait = true;
        else if (OPT("nodelay") || OPT("nodelay=on"))
            t->nodelay = true;
        else if (OPT("nodelay=off"))
            t->nodelay = false;
        else
            return fail(err, errlen, "tcp: unsupported option '%.*s' (server, nowait, nodelay)",
                        (int)olen, o);
#undef OPT
    }
    if (!t->server && port == 0)
        return fail(err, errlen, "tcp: port 0 is only valid for a server");
    return 0;
}

static void tune_socket(CharHost *h, int fd)
{
    if (h->nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Accept a waiting client (non-blocking listen socket).  True if one was
 * accepted. */
static bool tcp_try_accept(CharHost *h)
{
    if (h->listen_fd < 0 || h->in_fd >= 0)
        return false;
    int c = accept(h->listen_fd, NULL, NULL);
    if (c < 0)
        return false;
    if (set_nonblock(c) < 0) {
        close(c);
        return false;
    }
    tune_socket(h, c);
    h->in_fd = h->out_fd = c;
    h->eof = false;
    return true;
}

/* The peer went away: a server listens again, a client stays closed. */
static void tcp_disconnect(CharHost *h)
{
    close_fd(&h->in_fd);
    h->out_fd = -1;
    if (h->kind == CH_TCP_CLIENT)
        h->eof = true;
}

static int open_tcp(CharHost *h, const char *spec, const char *rest, char *err, size_t errlen)
{
    TcpSpec t;
    if (parse_tcp(rest, &t, err, errlen) < 0)
        return -1;
    h->kind = t.server ? CH_TCP_SERVER : CH_TCP_CLIENT;
    h->is_socket = true;
    h->nodelay = t.nodelay;

    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = t.server ? AI_PASSIVE : 0;
    int rc = getaddrinfo(t.host[0] ? t.host : NULL, t.port, &hints, &res);
    if (rc != 0)
        return fail(err, errlen, "%s: cannot resolve '%s': %s", spec, t.host, gai_strerror(rc));

    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (t.server) {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0) {
                last_errno = errno;
                close(fd);
                continue;
            }
            h->listen_fd = fd;
        } else {
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                last_errno = errno;
                close(fd);
                continue;
            }
            h->in_fd = h->out_fd = fd;
        }
        break;
    }
    freeaddrinfo(res);
    if (t.server && h->listen_fd < 0)
        return fail(err, errlen, "%s: cannot listen on %s:%s: %s", spec, t.host[0] ? t.host : "*",
                    t.port, strerror(last_errno ? last_errno : EADDRNOTAVAIL));
    if (!t.server && h->in_fd < 0)
        return fail(err, errlen, "%s: cannot connect to %s:%s: %s", spec, t.host, t.port,
                    strerror(last_errno ? last_errno : EADDRNOTAVAIL));

    if (t.server) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(h->listen_fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET)
                h->local_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                h->local_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        if (t.wait) {
            /* Block for the first client, as QEMU's server=on,wait=on does. */
            for (;;) {
                struct pollfd p = { h->listen_fd, POLLIN, 0 };
                int n = poll(&p, 1, -1);
                if (n < 0) {
                    if (errno == EINTR)
                        return fail(err, errlen, "%s: interrupted while waiting for a connection", spec);
                    return fail(err, errlen, "%s: poll: %s", spec, strerror(errno));
                }
                if (set_nonblock(h->listen_fd) == 0 && tcp_try_accept(h))
                    break;
            }
        }
        if (set_nonblock(h->listen_fd) < 0)
            return fail(err, errlen, "%s: %s", spec, strerror(errno));
    } else {
        if (set_nonblock(h->in_fd) < 0)
            return fail(err, errlen, "%s: %s", spec, strerror(errno));
        tune_socket(h, h->in_fd);
    }
    return 0;
}

/* ---- open / close ---- */

int chardev_host_open(const char *spec, CharHost **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!out)
        return fail(err, errlen, "chardev_host_open: no result pointer");
    *out = NULL;
    if (!spec || !*spec)
        return fail(err, errlen, "empty character device specification");

    CharHost *h = host_new(CH_NONE);
    if (!h)
        return fail(err, errlen, "out of memory");
    int rc = 0;
    if (!strcmp(spec, "none")) {
        h->kind = CH_NONE;
    } else if (!strcmp(spec, "null")) {
        h->kind = CH_NULL;
    } else if (!strcmp(spec, "stdio")) {
        h->kind = CH_STDIO;
        h->out_fd = STDOUT_FILENO;
        h->in_fd = STDIN_FILENO;
    } else if (!strncmp(spec, "file:", 5)) {
        h->kind = CH_FILE;
        const char *path = spec + 5;
        if (!*path) {
            rc = fail(err, errlen, "file: missing path (use file:PATH)");
        } else {
            h->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
            if (h->out_fd < 0)
                rc = fail(err, errlen, "file:%s: cannot open for writing: %s", path, strerror(errno));
        }
    } else if (!strcmp(spec, "pty")) {
        h->kind = CH_PTY;
        rc = open_pty(h, err, errlen);
    } else if (!strncmp(spec, "tcp:", 4)) {
        rc = open_tcp(h, spec, spec + 4, err, errlen);
    } else {
        rc = fail(err, errlen,
                  "unsupported character device '%s' (use stdio, file:PATH, pty, "
                  "tcp:HOST:PORT[,server][,nowait], null or none)",
                  spec);
    }
    if (rc < 0) {
        chardev_host_close(h);
        return -1;
    }
    *out = h;
    return 0;
}

void chardev_host_close(CharHost *h)
{
    if (!h)
        return;
    if (h->kind != CH_STDIO) {
        if (h->out_fd >= 0 && h->out_fd != h->in_fd)
            close(h->out_fd);
        if (h->in_fd >= 0)
            close(h->in_fd);
    }
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    free(h);
}

/* ---- output ---- */

static void backend_write(void *opaque, const uint8_t *buf, size_t len)
{
    chardev_host_write(opaque, buf, len);
}

static void null_write(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

CharBackend chardev_host_backend(CharHost *h)
{
    if (!h || h->kind == CH_NONE)
        return (CharBackend){ NULL, NULL };
    if (h->kind == CH_NULL)
        return (CharBackend){ null_write, h };
    return (CharBackend){ backend_write, h };
}

bool chardev_host_connected(CharHost *h)
{
    if (!h)
        return false;
    switch (h->kind) {
    case CH_NONE:
        return false;
    case CH_NULL:
    case CH_STDIO:
    case CH_FILE:
        return true;
    case CH_PTY: {
        struct pollfd p = { h->out_fd, POLLOUT, 0 };
        /* POLLHUP: no program has the slave side open. */
        return poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP);
    }
    case CH_TCP_SERVER:
        tcp_try_accept(h);
        return h->out_fd >= 0;
    case CH_TCP_CLIENT:
        return h->out_fd >= 0;
    }
    return false;
}

void chardev_host_write(CharHost *h, const uint8_t *buf, size_t len)
{
    if (!h || !buf || !len || h->kind == CH_NONE || h->kind == CH_NULL)
        return;
    if ((h->kind == CH_PTY || h->kind == CH_TCP_SERVER) && !chardev_host_connected(h))
        return; /* nobody listening: dropped, as on an unplugged line */
    int waited_ms = 0;
    while (len && h->out_fd >= 0) {
        ssize_t n = h->is_socket ? send(h->out_fd, buf, len, MSG_NOSIGNAL)
                                 : write(h->out_fd, buf, len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (waited_ms >= CHARDEV_WRITE_WAIT_MS)
                return; /* reader stalled: drop the rest */
            struct pollfd p = { h->out_fd, POLLOUT, 0 };
            poll(&p, 1, 50);
            waited_ms += 50;
            if (p.revents & (POLLHUP | POLLERR)) {
                if (h->is_socket)
                    tcp_disconnect(h);
                return;
            }
            continue;
        }
        /* EPIPE, ECONNRESET, EIO (pty slave closed), full disk, ... */
        if (h->is_socket)
            tcp_disconnect(h);
        return;
    }
}

/* ---- input ---- */

size_t chardev_host_read(CharHost *h, uint8_t *buf, size_t len)
{
    if (!h || !buf || !len)
        return 0;
    if (h->kind == CH_TCP_SERVER && h->in_fd < 0)
        tcp_try_accept(h);
    if (h->in_fd < 0 || h->eof)
        return 0;
    struct pollfd p = { h->in_fd, POLLIN, 0 };
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    ssize_t n = h->is_socket ? recv(h->in_fd, buf, len, 0) : read(h->in_fd, buf, len);
    if (n > 0)
        return (size_t)n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (h->kind == CH_PTY)
        return 0; /* EIO/HUP: slave closed; a later open reconnects */
    if (h->is_socket) {
        tcp_disconnect(h);
        if (h->kind == CH_TCP_SERVER)
            tcp_try_accept(h);
        return 0;
    }
    h->eof = true; /* stdin at end of file */
    return 0;
}

int chardev_host_fd(CharHost *h)
{
    if (!h || h->eof)
        return -1;
    if (h->kind == CH_TCP_SERVER && h->in_fd < 0)
        return h->listen_fd;
    return h->in_fd;
}

/* ---- information ---- */

const char *chardev_host_pty_path(const CharHost *h)
{
    return h && h->kind == CH_PTY ? h->pty_path : NULL;
}

int chardev_host_local_port(const CharHost *h)
{
    return h && h->kind == CH_TCP_SERVER ? h->local_port : -1;
}

void chardev_host_announce(const CharHost *h, const char *label, FILE *f)
{
    if (!h || h->kind != CH_PTY || !f)
        return;
    fprintf(f, "char device redirected to %s (label %s)\n", h->pty_path, label ? label : "serial0");
    fflush(f);
}
