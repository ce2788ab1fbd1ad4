/*
 * net.c - network options and host backends (see net.h).
 *
 * Each netdev becomes a NetClient: a NetBackend (devices/netdev.h) plus a
 * queue of frames for the guest.  Frames from the network are handed to
 * the NIC at once when it has room, else queued (at most NET_QUEUE_MAX; a
 * socket or TAP device is not read while its queue is full, slirp frames
 * beyond it are dropped and TCP retransmits them) and retried when the NIC
 * reports new receive descriptors (rx_ready) or at the next poll.  The
 * board calls net_poll() about every millisecond of host time; it polls
 * every descriptor with a zero timeout, so the machine never blocks here.
 */
#define _GNU_SOURCE
#include "frontend/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/if_tun.h>
#endif
#ifdef VESSEL_HAVE_SLIRP
#include <slirp/libslirp.h>
#endif

#include "devices/e1000.h"
#include "devices/netdev.h"
#include "devices/pci.h"

#ifndef VESSEL_ROM_DIR
#define VESSEL_ROM_DIR "roms"
#endif

#define NET_MAX_NETDEVS 8
#define NET_MAX_NICS 4
#define NET_MAX_HOSTFWD 16
#define NET_QUEUE_MAX 512
#define NET_OUTBUF_MAX (4u << 20)
#define NET_FIRST_SLOT 3            /* 00:03.0, as QEMU's first NIC */

enum { ND_USER = 1, ND_SOCKET, ND_TAP, ND_HUBNONE };
enum { SK_LISTEN = 1, SK_CONNECT, SK_MCAST, SK_UDP };

/* ---- configuration from the command line ---- */

typedef struct NetdevCfg {
    char *id;
    int type;
    /* user */
    bool restricted, ipv6;
    char *net, *host, *dhcpstart, *dns, *hostname, *tftp, *bootfile, *tftp_server;
    char *hostfwd[NET_MAX_HOSTFWD];
    int nhostfwd;
    /* socket */
    int sk_mode;
    char *sk_addr, *localaddr;
    /* tap */
    char *ifname;
    char *dump;
    size_t dump_snaplen;
    bool used;
} NetdevCfg;

typedef struct NicCfg {
    char *id;
    char *netdev;              /* NULL: no backend */
    uint8_t mac[6];
    bool has_mac;
    char *romfile;
    bool romfile_set;
} NicCfg;

static NetdevCfg netdevs[NET_MAX_NETDEVS];
static int nnetdevs;
static NicCfg nics[NET_MAX_NICS];
static int nnics;
static int nauto;              /* -nic / -net ids handed out */

/* ---- run-time state ---- */

typedef struct Frame {
    uint8_t *data;
    size_t len;
} Frame;

typedef struct NetClient {
    NetBackend be;             /* first: the NIC sees this */
    NetdevCfg *cfg;
    NicCfg *nic_cfg;
    E1000 *nic;
    Frame q[NET_QUEUE_MAX];
    int qhead, qcount;
    bool in_flush;
    FILE *dump;
    size_t snaplen;
    uint64_t tx_frames, rx_frames, dropped;
    /* sockets / tap */
    int fd, listen_fd;
    struct sockaddr_in peer;   /* udp / mcast destination */
    uint8_t *rbuf;             /* stream reassembly */
    size_t rlen;
    uint8_t *obuf;             /* stream output not yet written */
    size_t olen, ocap;
#ifdef VESSEL_HAVE_SLIRP
    Slirp *slirp;
    int pfd_base;              /* first pollfd of this client (slirp) */
#endif
} NetClient;

static NetClient *clients[NET_MAX_NETDEVS + NET_MAX_NICS];
static int nclients;
static bool setup_done;

/* ---------------------------------------------------------------------- */
/* Option parsing                                                          */

static int perr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int perr(const char *fmt, ...)
{
    va_list ap;
    fputs("vessel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) {
        fputs("vessel: out of memory\n", stderr);
        exit(2);
    }
    return d;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "y")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "n")) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char end;
    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
        return false;
    for (int k = 0; k < 6; k++) {
        if (b[k] > 255)
            return false;
        mac[k] = (uint8_t)b[k];
    }
    return !(mac[0] & 1);                      /* not a multicast address */
}

/* "HOST:PORT" (HOST may be empty: def) into an IPv4 socket address. */
static bool parse_hostport(const char *s, struct sockaddr_in *sa, const char *def)
{
    const char *colon = strrchr(s, ':');
    if (!colon)
        return false;
    char host[256];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof(host))
        return false;
    memcpy(host, s, hl);
    host[hl] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == 0 || port < 0 || port > 65535)
        return false;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    const char *h = hl ? host : def;
    if (inet_pton(AF_INET, h, &sa->sin_addr) == 1)
        return true;
    struct addrinfo hints = { .ai_family = AF_INET }, *res = NULL;
    if (getaddrinfo(h, NULL, &hints, &res) != 0 || !res)
        return false;
    sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return true;
}

#ifdef VESSEL_HAVE_SLIRP
/* hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static bool parse_hostfwd(const char *s, int *udp, struct in_addr *haddr, int *hport,
                          struct in_addr *gaddr, int *gport)
{
    char buf[256];
    if (strlen(s) >= sizeof(buf))
        return false;
    strcpy(buf, s);
    char *p = buf;
    *udp = 0;
    if (!strncmp(p, "tcp:", 4)) {
        p += 4;
    } else if (!strncmp(p, "udp:", 4)) {
        *udp = 1;
        p += 4;
    } else if (*p == ':') {
        p += 1;
    }
    char *dash = strchr(p, '-');
    if (!dash)
        return false;
    *dash = 0;
    struct sockaddr_in h, g;
    if (!parse_hostport(p, &h, "0.0.0.0") || !parse_hostport(dash + 1, &g, "0.0.0.0"))
        return false;
    *haddr = h.sin_addr;
    *hport = ntohs(h.sin_port);
    *gaddr = g.sin_addr;
    *gport = ntohs(g.sin_port);
    return *gport != 0;
}
#endif

/* Name of a netdev in messages: its id, or the option that made it. */
static const char *nd_name(const NetdevCfg *d)
{
    if (!strncmp(d->id, "__nic", 5))
        return "of -nic";
    if (!strcmp(d->id, "__hub0"))
        return "of -net";
    return d->id;
}

static NetdevCfg *find_netdev(const char *id)
{
    for (int k = 0; k < nnetdevs; k++)
        if (netdevs[k].id && !strcmp(netdevs[k].id, id))
            return &netdevs[k];
    return NULL;
}

/* Splits "a,b=c,d" in place (",," is a literal comma, as QEMU). */
static int split_opts(char *s, char **tok, int max)
{
    int n = 0;
    char *w = s, *start = s;
    for (char *r = s;; r++) {
        if (*r == ',' && r[1] == ',') {
            *w++ = ',';
            r++;
            continue;
        }
        if (*r == ',' || *r == 0) {
            bool end = *r == 0;
            *w++ = 0;
            if (n < max)
                tok[n++] = start;
            start = w;
            if (end)
                break;
            continue;
        }
        *w++ = *r;
    }
    return n;
}

/* Backend options shared by -netdev, -nic and -net. Returns 1 if the key
 * belongs to the backend, 0 if not, -1 on a bad value. */
static int netdev_opt(NetdevCfg *d, const char *what, const char *key, const char *val)
{
    bool b;
    if (!strcmp(key, "dump")) {
        d->dump = xstrdup(val);
        return 1;
    }
    if (d->type == ND_USER) {
#ifdef VESSEL_HAVE_SLIRP
        if (!strcmp(key, "hostfwd")) {
            int udp, hp, gp;
            struct in_addr ha, ga;
            if (!parse_hostfwd(val, &udp, &ha, &hp, &ga, &gp))
                return perr("%s: invalid hostfwd '%s' (expected [tcp|udp]:[HOSTADDR]:PORT-[GUESTADDR]:PORT)",
                            what, val);
            if (d->nhostfwd >= NET_MAX_HOSTFWD)
                return perr("%s: too many hostfwd rules (at most %d)", what, NET_MAX_HOSTFWD);
            d->hostfwd[d->nhostfwd++] = xstrdup(val);
            return 1;
        }
#endif
        if (!strcmp(key, "restrict")) {
            if (!parse_bool(val, &b))
                return perr("%s: restrict=%s: expected on or off", what, val);
            d->restricted = b;
            return 1;
        }
        if (!strcmp(key, "ipv6")) {
            if (!parse_bool(val, &b))
                return perr("%s: ipv6=%s: expected on or off", what, val);
            d->ipv6 = b;
            return 1;
        }
        if (!strcmp(key, "ipv4")) {
            if (!parse_bool(val, &b) || !b)
                return perr("%s: ipv4 cannot be turned off", what);
            return 1;
        }
        struct { const char *k; char **v; } s[] = {
            { "net", &d->net }, { "host", &d->host }, { "dhcpstart", &d->dhcpstart }, { "dns", &d->dns },
            { "hostname", &d->hostname }, { "tftp", &d->tftp }, { "bootfile", &d->bootfile },
            { "tftp-server-name", &d->tftp_server },
        };
        for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++)
            if (!strcmp(key, s[k].k)) {
                *s[k].v = xstrdup(val);
                return 1;
            }
        return 0;
    }
    if (d->type == ND_SOCKET) {
        int mode = !strcmp(key, "listen") ? SK_LISTEN : !strcmp(key, "connect") ? SK_CONNECT
                 : !strcmp(key, "mcast") ? SK_MCAST : !strcmp(key, "udp") ? SK_UDP : 0;
        if (mode) {
            struct sockaddr_in sa;
            if (d->sk_mode)
                return perr("%s: give only one of listen=, connect=, mcast=, udp=", what);
            if (!parse_hostport(val, &sa, "127.0.0.1"))
                return perr("%s: %s=%s: expected [HOST]:PORT", what, key, val);
            d->sk_mode = mode;
            d->sk_addr = xstrdup(val);
            return 1;
        }
        if (!strcmp(key, "localaddr")) {
            d->localaddr = xstrdup(val);
            return 1;
        }
        return 0;
    }
    if (d->type == ND_TAP) {
        if (!strcmp(key, "ifname")) {
            if (strlen(val) >= IFNAMSIZ)
                return perr("%s: ifname '%s' is too long", what, val);
            d->ifname = xstrdup(val);
            return 1;
        }
        if (!strcmp(key, "script") || !strcmp(key, "downscript")) {
            if (strcmp(val, "no") && strcmp(val, ""))
                return perr("%s: %s=%s: scripts are not supported (use %s=no and configure the interface)",
                            what, key, val, key);
            return 1;
        }
        if (!strcmp(key, "vnet_hdr")) {
            if (!parse_bool(val, &b) || b)
                return perr("%s: vnet_hdr is not supported", what);
            return 1;
        }
        return 0;
    }
    return 0;
}

static int netdev_type(const char *t)
{
    if (!strcmp(t, "user"))
#ifdef VESSEL_HAVE_SLIRP
        return ND_USER;
#else
        return -2;
#endif
    if (!strcmp(t, "socket"))
        return ND_SOCKET;
    if (!strcmp(t, "tap"))
        return ND_TAP;
    return -1;
}

static NetdevCfg *new_netdev(const char *what, int type, const char *id)
{
    if (nnetdevs >= NET_MAX_NETDEVS) {
        perr("%s: too many network backends (at most %d)", what, NET_MAX_NETDEVS);
        return NULL;
    }
    if (id && find_netdev(id)) {
        perr("%s: duplicate netdev id '%s'", what, id);
        return NULL;
    }
    NetdevCfg *d = &netdevs[nnetdevs++];
    memset(d, 0, sizeof(*d));
    d->type = type;
    d->ipv6 = true;
    d->id = xstrdup(id);
    return d;
}

static NicCfg *new_nic(const char *what)
{
    if (nnics >= NET_MAX_NICS) {
        perr("%s: too many NICs (at most %d)", what, NET_MAX_NICS);
        return NULL;
    }
    NicCfg *n = &nics[nnics++];
    memset(n, 0, sizeof(*n));
    return n;
}

/* NIC properties shared by -nic, -device e1000 and -net nic. */
static int nic_opt(NicCfg *n, const char *what, const char *key, const char *val)
{
    if (!strcmp(key, "mac")) {
        if (!parse_mac(val, n->mac))
            return perr("%s: invalid mac '%s' (expected a unicast XX:XX:XX:XX:XX:XX)", what, val);
        n->has_mac = true;
        return 1;
    }
    if (!strcmp(key, "romfile")) {
        n->romfile = xstrdup(val);
        n->romfile_set = true;
        return 1;
    }
    if (!strcmp(key, "model") || !strcmp(key, "driver")) {
        if (strcmp(val, "e1000") && strcmp(val, "e1000-82540em"))
            return perr("%s: model '%s' is not available (the only NIC is e1000)", what, val);
        return 1;
    }
    return 0;
}

static const char *type_name(int t)
{
    return t == ND_USER ? "user" : t == ND_SOCKET ? "socket" : t == ND_TAP ? "tap" : "none";
}

static int check_netdev(NetdevCfg *d, const char *what)
{
    if (d->type == ND_SOCKET) {
        if (!d->sk_mode)
            return perr("%s: socket needs listen=, connect=, mcast= or udp=", what);
        if (d->sk_mode == SK_UDP && !d->localaddr)
            return perr("%s: socket udp= needs localaddr=[HOST]:PORT", what);
        if (d->localaddr) {
            struct sockaddr_in sa;
            if (d->sk_mode == SK_UDP && !parse_hostport(d->localaddr, &sa, "0.0.0.0"))
                return perr("%s: localaddr=%s: expected [HOST]:PORT", what, d->localaddr);
            if (d->sk_mode == SK_MCAST && inet_pton(AF_INET, d->localaddr, &sa.sin_addr) != 1)
                return perr("%s: localaddr=%s: expected an IPv4 address", what, d->localaddr);
            if (d->sk_mode == SK_LISTEN || d->sk_mode == SK_CONNECT)
                return perr("%s: localaddr= is only for mcast= and udp=", what);
        }
        if (d->sk_mode == SK_MCAST) {
            struct sockaddr_in sa;
            parse_hostport(d->sk_addr, &sa, "0.0.0.0");
            if (!IN_MULTICAST(ntohl(sa.sin_addr.s_addr)))
                return perr("%s: mcast=%s is not a multicast address", what, d->sk_addr);
        }
    }
    return 0;
}

/* -netdev TYPE,id=ID,... */
static int parse_netdev(const char *what, char *s)
{
    char *tok[64];
    int n = split_opts(s, tok, 64);
    const char *type = NULL, *id = NULL;
    for (int k = 0; k < n; k++) {
        if (k == 0 && !strchr(tok[k], '='))
            type = tok[k];
        else if (!strncmp(tok[k], "type=", 5))
            type = tok[k] + 5;
        else if (!strncmp(tok[k], "id=", 3))
            id = tok[k] + 3;
    }
    if (!type)
        return perr("%s: missing the backend type (user, socket, tap)", what);
    int t = netdev_type(type);
    if (t == -2)
        return perr("%s: this vessel was built without libslirp: 'user' is not available", what);
    if (t < 0)
        return perr("%s: unknown backend '%s' (user, socket, tap)", what, type);
    if (!id || !*id)
        return perr("%s: id= is required", what);
    NetdevCfg *d = new_netdev(what, t, id);
    if (!d)
        return -1;
    for (int k = 0; k < n; k++) {
        if ((k == 0 && !strchr(tok[k], '=')) || !strncmp(tok[k], "type=", 5) || !strncmp(tok[k], "id=", 3))
            continue;
        char *eq = strchr(tok[k], '=');
        if (!eq)
            return perr("%s: unknown option '%s' for %s", what, tok[k], type);
        *eq = 0;
        int r = netdev_opt(d, what, tok[k], eq + 1);
        if (r < 0)
            return -1;
        if (r == 0)
            return perr("%s: unknown option '%s' for %s", what, tok[k], type);
    }
    return check_netdev(d, what);
}

/* -nic TYPE,... or -net TYPE,... (a backend plus, for -nic, its NIC). */
static int parse_nic(const char *what, char *s, bool legacy_net)
{
    char *tok[64];
    int n = split_opts(s, tok, 64);
    if (n == 0 || !*tok[0])
        return perr("%s: missing the backend type", what);
    const char *type = tok[0];
    if (!strcmp(type, "none"))
        return 1;
    if (legacy_net && !strcmp(type, "nic")) {
        NicCfg *c = new_nic(what);
        if (!c)
            return -1;
        c->netdev = xstrdup("__hub0");
        for (int k = 1; k < n; k++) {
            char *eq = strchr(tok[k], '=');
            if (!eq)
                return perr("%s: unknown option '%s'", what, tok[k]);
            *eq = 0;
            if (!strcmp(tok[k], "vlan") || !strcmp(tok[k], "netdev") || !strcmp(tok[k], "name"))
                continue;
            int r = nic_opt(c, what, tok[k], eq + 1);
            if (r < 0)
                return -1;
            if (r == 0)
                return perr("%s: unknown option '%s' for nic", what, tok[k]);
        }
        return 1;
    }
    int t = netdev_type(type);
    if (t == -2)
        return perr("%s: this vessel was built without libslirp: 'user' is not available", what);
    if (t < 0)
        return perr("%s: unknown backend '%s' (user, socket, tap, none)", what, type);
    char id[32];
    if (legacy_net) {
        if (find_netdev("__hub0"))
            return perr("%s: only one -net backend is supported", what);
        snprintf(id, sizeof(id), "__hub0");
    } else {
        snprintf(id, sizeof(id), "__nic%d", nauto++);
    }
    NetdevCfg *d = new_netdev(what, t, id);
    if (!d)
        return -1;
    NicCfg *c = NULL;
    if (!legacy_net) {
        c = new_nic(what);
        if (!c)
            return -1;
        c->netdev = xstrdup(id);
    }
    for (int k = 1; k < n; k++) {
        char *eq = strchr(tok[k], '=');
        if (!eq)
            return perr("%s: unknown option '%s'", what, tok[k]);
        *eq = 0;
        if (!strcmp(tok[k], "id") || !strcmp(tok[k], "vlan") || !strcmp(tok[k], "name")) {
            if (c && !strcmp(tok[k], "id"))
                c->id = xstrdup(eq + 1);
            continue;
        }
        int r = netdev_opt(d, what, tok[k], eq + 1);
        if (r == 0 && c)
            r = nic_opt(c, what, tok[k], eq + 1);
        if (r < 0)
            return -1;
        if (r == 0)
            return perr("%s: unknown option '%s' for %s", what, tok[k], type);
    }
    return check_netdev(d, what) < 0 ? -1 : 1;
}

/* -device e1000,netdev=ID,mac=... */
static int parse_device(const char *what, char *s)
{
    char *tok[64];
    int n = split_opts(s, tok, 64);
    NicCfg *c = new_nic(what);
    if (!c)
        return -1;
    for (int k = 1; k < n; k++) {
        char *eq = strchr(tok[k], '=');
        if (!eq)
            return perr("%s: unknown property '%s'", what, tok[k]);
        *eq = 0;
        const char *v = eq + 1;
        if (!strcmp(tok[k], "netdev")) {
            c->netdev = xstrdup(v);
            continue;
        }
        if (!strcmp(tok[k], "id")) {
            c->id = xstrdup(v);
            continue;
        }
        if (!strcmp(tok[k], "bus") || !strcmp(tok[k], "addr") || !strcmp(tok[k], "mitigation") ||
            !strcmp(tok[k], "autonegotiation") || !strcmp(tok[k], "bootindex"))
            continue;                        /* accepted, fixed in this machine */
        int r = nic_opt(c, what, tok[k], v);
        if (r < 0)
            return -1;
        if (r == 0)
            return perr("%s: unknown property '%s' for e1000", what, tok[k]);
    }
    return 1;
}

/* -object filter-dump,id=F,netdev=ID,file=FILE[,maxlen=N] */
static int parse_object(const char *what, char *s)
{
    char *tok[16];
    int n = split_opts(s, tok, 16);
    const char *nd = NULL, *file = NULL;
    long maxlen = 65536;
    for (int k = 1; k < n; k++) {
        if (!strncmp(tok[k], "netdev=", 7))
            nd = tok[k] + 7;
        else if (!strncmp(tok[k], "file=", 5))
            file = tok[k] + 5;
        else if (!strncmp(tok[k], "maxlen=", 7))
            maxlen = strtol(tok[k] + 7, NULL, 10);
        else if (strncmp(tok[k], "id=", 3) && strncmp(tok[k], "queue=", 6) && strncmp(tok[k], "status=", 7))
            return perr("%s: unknown property '%s' for filter-dump", what, tok[k]);
    }
    if (!nd || !file)
        return perr("%s: filter-dump needs netdev= and file=", what);
    NetdevCfg *d = find_netdev(nd);
    if (!d)
        return perr("%s: no netdev '%s' (give -netdev before -object)", what, nd);
    if (maxlen < 64 || maxlen > 65536)
        return perr("%s: maxlen must be 64..65536", what);
    d->dump = xstrdup(file);
    d->dump_snaplen = (size_t)maxlen;
    return 1;
}

int net_parse_flag(int argc, char **argv, int *k)
{
    const char *a = argv[*k];
    if (a[0] == '-' && a[1] == '-')
        a++;                                  /* --nic as -nic */
    bool is_nic = !strcmp(a, "-nic"), is_netdev = !strcmp(a, "-netdev"), is_net = !strcmp(a, "-net");
    bool is_dev = !strcmp(a, "-device"), is_obj = !strcmp(a, "-object");
    if (!is_nic && !is_netdev && !is_net && !is_dev && !is_obj)
        return 0;
    if (*k + 1 >= argc) {
        if (is_dev || is_obj)
            return 0;                         /* the caller reports it */
        return perr("option '%s' needs an argument", argv[*k]);
    }
    const char *v = argv[*k + 1];
    if (is_dev) {
        size_t l = strcspn(v, ",");
        if (!((l == 5 && !strncmp(v, "e1000", 5)) || (l == 13 && !strncmp(v, "e1000-82540em", 13))))
            return 0;
    }
    if (is_obj && strncmp(v, "filter-dump,", 12))
        return 0;
    char *s = xstrdup(v);
    char what[32];
    snprintf(what, sizeof(what), "%s", a);
    int r;
    if (is_netdev)
        r = parse_netdev(what, s) < 0 ? -1 : 1;
    else if (is_nic || is_net)
        r = parse_nic(what, s, is_net);
    else if (is_dev)
        r = parse_device(what, s);
    else
        r = parse_object(what, s);
    free(s);
    if (r < 0)
        return -1;
    (*k)++;
    return 1;
}

const char *net_usage(void)
{
    return
        "Network (NIC: Intel 82540EM e1000 at 00:03.0):\n"
        "  -nic user|socket|tap|none[,mac=MAC][,model=e1000][,dump=FILE.pcap][,OPTIONS]\n"
        "  -netdev user|socket|tap,id=ID[,OPTIONS]  with  -device e1000,netdev=ID[,mac=MAC]\n"
        "     user:   hostfwd=tcp|udp:[HOSTADDR]:PORT-[GUESTADDR]:PORT, restrict=on|off,\n"
        "             net=ADDR/MASK, host=, dhcpstart=, dns=, hostname=, tftp=DIR, bootfile=\n"
        "     socket: listen=[HOST]:PORT | connect=HOST:PORT | mcast=GROUP:PORT[,localaddr=]\n"
        "             | udp=HOST:PORT,localaddr=[HOST]:PORT\n"
        "     tap:    ifname=NAME,script=no,downscript=no\n"
        "  -object filter-dump,id=F,netdev=ID,file=FILE  pcap of a netdev's traffic\n";
}

/* ---------------------------------------------------------------------- */
/* pcap                                                                    */

static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }   /* host order, as pcap */

static FILE *pcap_open(const char *path, size_t snaplen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "dump file '%s': %s", path, strerror(errno));
        return NULL;
    }
    uint8_t h[24];
    wr32(h, 0xA1B2C3D4u);
    uint16_t ver[2] = { 2, 4 };
    memcpy(h + 4, ver, 4);
    wr32(h + 8, 0);
    wr32(h + 12, 0);
    wr32(h + 16, (uint32_t)snaplen);
    wr32(h + 20, 1);                          /* LINKTYPE_ETHERNET */
    fwrite(h, 1, sizeof(h), f);
    return f;
}

static void pcap_write(NetClient *c, const uint8_t *frame, size_t len)
{
    if (!c->dump)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t cap = len < c->snaplen ? len : c->snaplen;
    uint8_t h[16];
    wr32(h, (uint32_t)ts.tv_sec);
    wr32(h + 4, (uint32_t)(ts.tv_nsec / 1000));
    wr32(h + 8, (uint32_t)cap);
    wr32(h + 12, (uint32_t)len);
    fwrite(h, 1, sizeof(h), c->dump);
    fwrite(frame, 1, cap, c->dump);
}

/* ---------------------------------------------------------------------- */
/* Frames towards the guest                                                */

static bool queue_full(const NetClient *c) { return c->qcount >= NET_QUEUE_MAX; }

static void flush_queue(NetClient *c)
{
    if (c->in_flush)
        return;
    c->in_flush = true;
    while (c->qcount) {
        Frame *f = &c->q[c->qhead];
        if (!netdev_can_receive(&c->be, f->len))
            break;
        if (netdev_receive(&c->be, f->data, f->len) == 0)
            break;
        pcap_write(c, f->data, f->len);
        c->rx_frames++;
        free(f->data);
        f->data = NULL;
        c->qhead = (c->qhead + 1) % NET_QUEUE_MAX;
        c->qcount--;
    }
    c->in_flush = false;
}

/* A frame from the network: to the NIC now, or queued. */
static void deliver(NetClient *c, const uint8_t *frame, size_t len)
{
    if (len < 14 || len > NETDEV_MAX_FRAME) {
        c->dropped++;
        return;
    }
    if (!c->be.nic) {
        c->dropped++;                         /* no NIC: nowhere to go */
        return;
    }
    if (c->qcount == 0 && !c->in_flush && netdev_can_receive(&c->be, len) &&
        netdev_receive(&c->be, frame, len) == len) {
        pcap_write(c, frame, len);
        c->rx_frames++;
        return;
    }
    if (queue_full(c)) {
        c->dropped++;
        return;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        c->dropped++;
        return;
    }
    memcpy(copy, frame, len);
    int tail = (c->qhead + c->qcount) % NET_QUEUE_MAX;
    c->q[tail].data = copy;
    c->q[tail].len = len;
    c->qcount++;
}

static void be_rx_ready(NetBackend *be)
{
    flush_queue((NetClient *)be);
}

/* ---------------------------------------------------------------------- */
/* socket backend                                                          */

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void stream_close(NetClient *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rlen = 0;
    c->olen = 0;
}

static void stream_flush_out(NetClient *c)
{
    while (c->olen && c->fd >= 0) {
        ssize_t w = send(c->fd, c->obuf, c->olen, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                fprintf(stderr, "vessel: netdev %s: connection lost (%s)\n", nd_name(c->cfg), strerror(errno));
                stream_close(c);
            }
            return;
        }
        memmove(c->obuf, c->obuf + w, c->olen - (size_t)w);
        c->olen -= (size_t)w;
    }
}

static void socket_send(NetClient *c, const uint8_t *frame, size_t len)
{
    NetdevCfg *d = c->cfg;
    if (d->sk_mode == SK_MCAST || d->sk_mode == SK_UDP) {
        if (c->fd >= 0)
            sendto(c->fd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&c->peer, sizeof(c->peer));
        return;
    }
    if (c->fd < 0)
        return;                               /* not connected: the frame is lost */
    uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
    size_t done = 0;
    if (c->olen == 0) {
        struct iovec iov[2] = { { hdr, 4 }, { (void *)frame, len } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            fprintf(stderr, "vessel: netdev %s: connection lost (%s)\n", nd_name(d), strerror(errno));
            stream_close(c);
            return;
        }
        done = w > 0 ? (size_t)w : 0;
        if (done == len + 4)
            return;
    }
    size_t rest = len + 4 - done;
    if (c->olen + rest > NET_OUTBUF_MAX) {
        if (done == 0) {
            c->dropped++;                     /* peer not reading: drop whole frames */
            return;
        }
    }
    if (c->olen + rest > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 65536;
        while (cap < c->olen + rest)
            cap *= 2;
        uint8_t *nb = realloc(c->obuf, cap);
        if (!nb) {
            stream_close(c);
            return;
        }
        c->obuf = nb;
        c->ocap = cap;
    }
    for (size_t k = done; k < len + 4; k++)
        c->obuf[c->olen++] = k < 4 ? hdr[k] : frame[k - 4];
}

/* Read what the stream has, cut frames while the queue has room. */
static void stream_read(NetClient *c)
{
    const size_t cap = 4 + NETDEV_MAX_FRAME;
    for (int rounds = 0; rounds < 64 && c->fd >= 0; rounds++) {
        /* complete frames first */
        while (c->rlen >= 4 && !queue_full(c)) {
            uint32_t flen = (uint32_t)c->rbuf[0] << 24 | (uint32_t)c->rbuf[1] << 16 |
                            (uint32_t)c->rbuf[2] << 8 | c->rbuf[3];
            if (flen > NETDEV_MAX_FRAME) {
                fprintf(stderr, "vessel: netdev %s: bad frame length %u from the peer; closing\n",
                        nd_name(c->cfg), flen);
                stream_close(c);
                return;
            }
            if (c->rlen < 4 + flen)
                break;
            deliver(c, c->rbuf + 4, flen);
            memmove(c->rbuf, c->rbuf + 4 + flen, c->rlen - 4 - flen);
            c->rlen -= 4 + flen;
        }
        if (queue_full(c) || c->rlen >= cap)
            return;
        ssize_t r = recv(c->fd, c->rbuf + c->rlen, cap - c->rlen, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                stream_close(c);
            return;
        }
        if (r == 0) {
            stream_close(c);
            return;
        }
        c->rlen += (size_t)r;
    }
}

static void dgram_read(NetClient *c)
{
    uint8_t buf[NETDEV_MAX_FRAME + 4];
    for (int n = 0; n < 256 && !queue_full(c); n++) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0)
            return;
        deliver(c, buf, (size_t)r);
    }
}

static int socket_open(NetClient *c, char *err, size_t errlen)
{
    NetdevCfg *d = c->cfg;
    struct sockaddr_in sa;
    int one = 1;
    if (d->sk_mode == SK_LISTEN) {
        parse_hostport(d->sk_addr, &sa, "0.0.0.0");
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(err, errlen, "netdev %s: socket: %s", nd_name(d), strerror(errno));
            return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
            snprintf(err, errlen, "netdev %s: cannot listen on %s: %s", nd_name(d), d->sk_addr, strerror(errno));
            close(fd);
            return -1;
        }
        set_nonblock(fd);
        c->listen_fd = fd;
        return 0;
    }
    if (d->sk_mode == SK_CONNECT) {
        parse_hostport(d->sk_addr, &sa, "127.0.0.1");
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            snprintf(err, errlen, "netdev %s: cannot connect to %s: %s", nd_name(d), d->sk_addr, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        set_nonblock(fd);
        c->fd = fd;
        return 0;
    }
    /* Datagrams: mcast (bind the group port, join, loop back) or udp. */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "netdev %s: socket: %s", nd_name(d), strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (d->sk_mode == SK_MCAST) {
        parse_hostport(d->sk_addr, &c->peer, "0.0.0.0");
        struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = c->peer.sin_port,
                                 .sin_addr.s_addr = htonl(INADDR_ANY) };
        struct ip_mreq mr = { .imr_multiaddr = c->peer.sin_addr, .imr_interface.s_addr = htonl(INADDR_ANY) };
        if (d->localaddr)
            inet_pton(AF_INET, d->localaddr, &mr.imr_interface);
        unsigned char loop = 1, ttl = 1;
        if (bind(fd, (struct sockaddr *)&b, sizeof(b)) < 0 ||
            setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0 ||
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0 ||
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0 ||
            (d->localaddr && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr.imr_interface,
                                        sizeof(mr.imr_interface)) < 0)) {
            snprintf(err, errlen, "netdev %s: multicast %s: %s", nd_name(d), d->sk_addr, strerror(errno));
            close(fd);
            return -1;
        }
    } else {
        struct sockaddr_in local;
        parse_hostport(d->sk_addr, &c->peer, "127.0.0.1");
        parse_hostport(d->localaddr, &local, "0.0.0.0");
        if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
            snprintf(err, errlen, "netdev %s: cannot bind %s: %s", nd_name(d), d->localaddr, strerror(errno));
            close(fd);
            return -1;
        }
    }
    set_nonblock(fd);
    c->fd = fd;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* tap backend                                                             */

static int tap_open(NetClient *c, char *err, size_t errlen)
{
#if defined(__linux__)
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "netdev %s: /dev/net/tun: %s", nd_name(c->cfg), strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (c->cfg->ifname)
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", c->cfg->ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "netdev %s: TUNSETIFF %s: %s", nd_name(c->cfg),
                 c->cfg->ifname ? c->cfg->ifname : "", strerror(errno));
        close(fd);
        return -1;
    }
    if (!c->cfg->ifname)
        c->cfg->ifname = xstrdup(ifr.ifr_name);
    set_nonblock(fd);
    c->fd = fd;
    return 0;
#else
    snprintf(err, errlen, "netdev %s: tap needs Linux", nd_name(c->cfg));
    return -1;
#endif
}

static void tap_read(NetClient *c)
{
    uint8_t buf[NETDEV_MAX_FRAME + 4];
    for (int n = 0; n < 256 && !queue_full(c); n++) {
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r <= 0)
            return;
        deliver(c, buf, (size_t)r);
    }
}

/* ---------------------------------------------------------------------- */
/* user backend (libslirp)                                                 */

#ifdef VESSEL_HAVE_SLIRP
typedef struct SlirpTimer {
    SlirpTimerId id;
    void *cb_opaque;
    int64_t expire_ms;            /* -1: not armed */
    NetClient *c;
    struct SlirpTimer *next;
} SlirpTimer;

static SlirpTimer *slirp_timers;

static int64_t host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static ssize_t slirp_send_cb(const void *buf, size_t len, void *opaque)
{
    deliver(opaque, buf, len);
    return (ssize_t)len;
}

static void slirp_guest_error_cb(const char *msg, void *opaque) { (void)msg; (void)opaque; }
static int64_t slirp_clock_cb(void *opaque) { return host_ns(); }

static void *slirp_timer_new_cb(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    SlirpTimer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->id = id;
    t->cb_opaque = cb_opaque;
    t->expire_ms = -1;
    t->c = opaque;
    t->next = slirp_timers;
    slirp_timers = t;
    return t;
}

static void slirp_timer_free_cb(void *timer, void *opaque)
{
    for (SlirpTimer **p = &slirp_timers; *p; p = &(*p)->next)
        if (*p == timer) {
            *p = ((SlirpTimer *)timer)->next;
            free(timer);
            return;
        }
}

static void slirp_timer_mod_cb(void *timer, int64_t expire_ms, void *opaque)
{
    ((SlirpTimer *)timer)->expire_ms = expire_ms;
}

static void slirp_fd_cb(int fd, void *opaque) { (void)fd; (void)opaque; }
static void slirp_notify_cb(void *opaque) { (void)opaque; }

static const SlirpCb slirp_cbs = {
    .send_packet = slirp_send_cb,
    .guest_error = slirp_guest_error_cb,
    .clock_get_ns = slirp_clock_cb,
    .timer_free = slirp_timer_free_cb,
    .timer_mod = slirp_timer_mod_cb,
    .register_poll_fd = slirp_fd_cb,
    .unregister_poll_fd = slirp_fd_cb,
    .notify = slirp_notify_cb,
    .timer_new_opaque = slirp_timer_new_cb,
};

static bool parse_in_addr(const char *s, struct in_addr *a) { return inet_pton(AF_INET, s, a) == 1; }

static int user_open(NetClient *c, char *err, size_t errlen)
{
    NetdevCfg *d = c->cfg;
    SlirpConfig cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.version = 4;
    cfg.restricted = d->restricted;
    cfg.in_enabled = true;
    /* QEMU's defaults: 10.0.2.0/24, host .2, DNS .3, DHCP from .15. */
    struct in_addr net, mask, host, dhcp, dns;
    inet_pton(AF_INET, "10.0.2.0", &net);
    inet_pton(AF_INET, "255.255.255.0", &mask);
    if (d->net) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s", d->net);
        char *slash = strchr(buf, '/');
        int bits = 24;
        if (slash) {
            *slash = 0;
            char *end;
            if (strchr(slash + 1, '.')) {
                if (!parse_in_addr(slash + 1, &mask))
                    goto bad_net;
                bits = -1;
            } else {
                bits = (int)strtol(slash + 1, &end, 10);
                if (*end || bits < 1 || bits > 30)
                    goto bad_net;
            }
        }
        if (!parse_in_addr(buf, &net))
            goto bad_net;
        if (bits >= 0)
            mask.s_addr = htonl(~((1u << (32 - bits)) - 1));
        net.s_addr &= mask.s_addr;
    }
    host.s_addr = htonl(ntohl(net.s_addr) | 2);
    dns.s_addr = htonl(ntohl(net.s_addr) | 3);
    dhcp.s_addr = htonl(ntohl(net.s_addr) | 15);
    if ((d->host && !parse_in_addr(d->host, &host)) || (d->dns && !parse_in_addr(d->dns, &dns)) ||
        (d->dhcpstart && !parse_in_addr(d->dhcpstart, &dhcp))) {
        snprintf(err, errlen, "netdev %s: invalid host=, dns= or dhcpstart= address", nd_name(d));
        return -1;
    }
    cfg.vnetwork = net;
    cfg.vnetmask = mask;
    cfg.vhost = host;
    cfg.vdhcp_start = dhcp;
    cfg.vnameserver = dns;
    cfg.in6_enabled = d->ipv6;
    if (d->ipv6) {
        inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
        cfg.vprefix_len = 64;
        inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
        inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
    }
    cfg.vhostname = d->hostname;
    cfg.tftp_server_name = d->tftp_server;
    cfg.tftp_path = d->tftp;
    cfg.bootfile = d->bootfile;
    c->slirp = slirp_new(&cfg, &slirp_cbs, c);
    if (!c->slirp) {
        snprintf(err, errlen, "netdev %s: libslirp could not start", nd_name(d));
        return -1;
    }
    for (int k = 0; k < d->nhostfwd; k++) {
        int udp = 0, hp = 0, gp = 0; /* parse_hostfwd validated the option when it was parsed */
        struct in_addr ha = { 0 }, ga = { 0 };
        parse_hostfwd(d->hostfwd[k], &udp, &ha, &hp, &ga, &gp);
        if (slirp_add_hostfwd(c->slirp, udp, ha, hp, ga, gp) < 0) {
            snprintf(err, errlen, "netdev %s: hostfwd %s: cannot listen on the host port (%s)", nd_name(d),
                     d->hostfwd[k], strerror(errno));
            return -1;
        }
    }
    return 0;
bad_net:
    snprintf(err, errlen, "netdev %s: invalid net=%s", nd_name(d), d->net);
    return -1;
}

/* slirp_pollfds_fill/poll glue: one pollfd array per poll round. */
static struct pollfd *pfds;
static int npfds, cpfds;

static int pfd_add(int fd, short events)
{
    if (npfds == cpfds) {
        int n = cpfds ? cpfds * 2 : 64;
        struct pollfd *p = realloc(pfds, (size_t)n * sizeof(*p));
        if (!p)
            return -1;
        pfds = p;
        cpfds = n;
    }
    pfds[npfds] = (struct pollfd){ .fd = fd, .events = events };
    return npfds++;
}

static int slirp_add_poll_cb(int fd, int events, void *opaque)
{
    short ev = 0;
    if (events & SLIRP_POLL_IN) ev |= POLLIN;
    if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
    return pfd_add(fd, ev);
}

static int slirp_get_revents_cb(int idx, void *opaque)
{
    if (idx < 0 || idx >= npfds)
        return 0;
    short r = pfds[idx].revents;
    int ev = 0;
    if (r & POLLIN) ev |= SLIRP_POLL_IN;
    if (r & POLLOUT) ev |= SLIRP_POLL_OUT;
    if (r & POLLPRI) ev |= SLIRP_POLL_PRI;
    if (r & POLLERR) ev |= SLIRP_POLL_ERR;
    if (r & (POLLHUP | POLLNVAL)) ev |= SLIRP_POLL_HUP;
    return ev;
}

static void slirp_run_timers(void)
{
    int64_t now_ms = host_ns() / 1000000;
    for (bool again = true; again;) {
        again = false;
        for (SlirpTimer *t = slirp_timers; t; t = t->next) {
            if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
                t->expire_ms = -1;
                slirp_handle_timer(t->c->slirp, t->id, t->cb_opaque);
                again = true;                 /* the list may have changed */
                break;
            }
        }
    }
}
#else
static struct pollfd *pfds;
static int npfds, cpfds;

static int pfd_add(int fd, short events)
{
    if (npfds == cpfds) {
        int n = cpfds ? cpfds * 2 : 64;
        struct pollfd *p = realloc(pfds, (size_t)n * sizeof(*p));
        if (!p)
            return -1;
        pfds = p;
        cpfds = n;
    }
    pfds[npfds] = (struct pollfd){ .fd = fd, .events = events };
    return npfds++;
}
#endif

/* ---------------------------------------------------------------------- */
/* Guest -> network                                                        */

static void be_send(NetBackend *be, const uint8_t *frame, size_t len)
{
    NetClient *c = (NetClient *)be;
    pcap_write(c, frame, len);
    c->tx_frames++;
    if (!c->cfg)
        return;
    switch (c->cfg->type) {
#ifdef VESSEL_HAVE_SLIRP
    case ND_USER:
        slirp_input(c->slirp, frame, (int)len);
        break;
#endif
    case ND_SOCKET:
        socket_send(c, frame, len);
        break;
    case ND_TAP:
        if (c->fd >= 0 && write(c->fd, frame, len) < 0)
            c->dropped++;
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* The poll hook                                                           */

static void net_poll(void *opaque)
{
    (void)opaque;
    npfds = 0;
    int idx[NET_MAX_NETDEVS + NET_MAX_NICS];
    for (int k = 0; k < nclients; k++) {
        NetClient *c = clients[k];
        flush_queue(c);
        idx[k] = -1;
        if (!c->cfg)
            continue;
        switch (c->cfg->type) {
#ifdef VESSEL_HAVE_SLIRP
        case ND_USER: {
            uint32_t timeout = 0;
            c->pfd_base = npfds;
            slirp_pollfds_fill(c->slirp, &timeout, slirp_add_poll_cb, c);
            break;
        }
#endif
        case ND_SOCKET:
        case ND_TAP:
            if (c->fd >= 0) {
                short ev = queue_full(c) ? 0 : POLLIN;
                if (c->olen)
                    ev |= POLLOUT;
                idx[k] = pfd_add(c->fd, ev);
            } else if (c->listen_fd >= 0) {
                idx[k] = pfd_add(c->listen_fd, POLLIN);
            }
            break;
        default:
            break;
        }
    }
    int r = npfds ? poll(pfds, (nfds_t)npfds, 0) : 0;
    for (int k = 0; k < nclients; k++) {
        NetClient *c = clients[k];
        if (!c->cfg)
            continue;
#ifdef VESSEL_HAVE_SLIRP
        if (c->cfg->type == ND_USER) {
            slirp_pollfds_poll(c->slirp, r < 0, slirp_get_revents_cb, c);
            continue;
        }
#endif
        if (idx[k] < 0 || r <= 0)
            continue;
        short rev = pfds[idx[k]].revents;
        if (!rev)
            continue;
        if (c->fd < 0 && c->listen_fd >= 0) {
            int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c->fd = fd;
                c->rlen = 0;
                c->olen = 0;
            }
            continue;
        }
        if (c->cfg->type == ND_TAP) {
            if (rev & POLLIN)
                tap_read(c);
        } else if (c->cfg->sk_mode == SK_MCAST || c->cfg->sk_mode == SK_UDP) {
            if (rev & POLLIN)
                dgram_read(c);
        } else {
            if (rev & POLLOUT)
                stream_flush_out(c);
            if (rev & (POLLIN | POLLHUP | POLLERR))
                stream_read(c);
            if (c->fd < 0 && c->cfg->sk_mode == SK_CONNECT) {
                fprintf(stderr, "vessel: netdev %s: the peer closed the connection\n", nd_name(c->cfg));
                c->fd = -2;                   /* stays closed, as QEMU */
            }
        }
    }
#ifdef VESSEL_HAVE_SLIRP
    slirp_run_timers();
#endif
    for (int k = 0; k < nclients; k++) {
        flush_queue(clients[k]);
        if (clients[k]->dump)
            fflush(clients[k]->dump);
    }
}

/* ---------------------------------------------------------------------- */
/* Setup                                                                   */

static uint8_t *load_rom(NicCfg *n, size_t *len, char *err, size_t errlen, bool *failed)
{
    *failed = false;
    *len = 0;
    const char *cands[3] = { NULL, NULL, NULL };
    char dflt[4096];
    if (n->romfile_set) {
        if (!*n->romfile)
            return NULL;                      /* romfile= : no ROM */
        cands[0] = n->romfile;
    } else {
        snprintf(dflt, sizeof(dflt), "%s/pxe-e1000.rom", VESSEL_ROM_DIR);
        cands[0] = dflt;
        cands[1] = "/usr/lib/ipxe/qemu/pxe-e1000.rom";
    }
    for (int k = 0; k < 3 && cands[k]; k++) {
        FILE *f = fopen(cands[k], "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc(1u << 20);
        size_t got = buf ? fread(buf, 1, 1u << 20, f) : 0;
        fclose(f);
        if (!buf || got < 512 || got >= (1u << 20) || buf[0] != 0x55 || buf[1] != 0xAA) {
            free(buf);
            if (n->romfile_set) {
                snprintf(err, errlen, "romfile '%s' is not a PCI option ROM (under 1 MiB)", cands[k]);
                *failed = true;
                return NULL;
            }
            continue;
        }
        *len = got;
        return buf;
    }
    if (n->romfile_set) {
        snprintf(err, errlen, "romfile '%s': %s", n->romfile, strerror(ENOENT));
        *failed = true;
    }
    return NULL;                              /* no iPXE: the NIC works, no PXE boot */
}

static NetClient *client_new(NetdevCfg *d)
{
    NetClient *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cfg = d;
    c->fd = -1;
    c->listen_fd = -1;
    c->be.send = be_send;
    c->be.rx_ready = be_rx_ready;
    c->be.opaque = c;
    c->snaplen = 65535;
    if (d && d->type == ND_SOCKET && (d->sk_mode == SK_LISTEN || d->sk_mode == SK_CONNECT)) {
        c->rbuf = malloc(4 + NETDEV_MAX_FRAME);
        if (!c->rbuf) {
            free(c);
            return NULL;
        }
    }
    clients[nclients++] = c;
    return c;
}

int net_setup(PcMachine *pc, char *err, size_t errlen)
{
    if (setup_done)
        return 0;
    setup_done = true;
    atexit(net_shutdown);
    if (nnics == 0) {
        for (int k = 0; k < nnetdevs; k++)
            if (strcmp(netdevs[k].id, "__hub0"))
                fprintf(stderr, "vessel: warning: netdev %s has no NIC\n", netdevs[k].id);
        return 0;
    }
#ifndef PC_HAVE_ADD_E1000
    (void)pc;
    (void)load_rom; (void)client_new; (void)net_poll; (void)socket_open; (void)tap_open; (void)pcap_open;
#ifdef VESSEL_HAVE_SLIRP
    (void)user_open;
#endif
    snprintf(err, errlen, "this board has no NIC support yet (pc_add_e1000 missing)");
    return -1;
#else
    bool rom_added = false;
    for (int i = 0; i < nnics; i++) {
        NicCfg *n = &nics[i];
        NetdevCfg *d = NULL;
        if (n->netdev) {
            d = find_netdev(n->netdev);
            if (!d) {
                snprintf(err, errlen, "NIC: netdev '%s' not found", n->netdev);
                return -1;
            }
            if (d->used) {
                snprintf(err, errlen, "netdev '%s' is already used by another NIC", n->netdev);
                return -1;
            }
            d->used = true;
        }
        NetClient *c = client_new(d);
        if (!c) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        c->nic_cfg = n;
        int rc = 0;
        if (d && d->type == ND_SOCKET)
            rc = socket_open(c, err, errlen);
        else if (d && d->type == ND_TAP)
            rc = tap_open(c, err, errlen);
#ifdef VESSEL_HAVE_SLIRP
        else if (d && d->type == ND_USER)
            rc = user_open(c, err, errlen);
#endif
        if (rc < 0)
            return -1;
        if (d && d->dump) {
            if (d->dump_snaplen)
                c->snaplen = d->dump_snaplen;
            c->dump = pcap_open(d->dump, c->snaplen, err, errlen);
            if (!c->dump)
                return -1;
        }
        uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + i) };
        if (n->has_mac)
            memcpy(mac, n->mac, 6);
        bool failed;
        size_t len;
        uint8_t *rom = load_rom(n, &len, err, errlen, &failed);
        if (failed)
            return -1;
        /* One fw_cfg file ("pci8086,100e.rom") serves every e1000. */
        const uint8_t *r = rom_added ? NULL : rom;
        c->nic = pc_add_e1000(pc, PCI_DEVFN(NET_FIRST_SLOT + i, 0), mac, &c->be, r, r ? len : 0,
                              err, errlen);
        free(rom);
        if (!c->nic)
            return -1;
        rom_added = rom_added || r;
    }
    for (int k = 0; k < nnetdevs; k++)
        if (!netdevs[k].used)
            fprintf(stderr, "vessel: warning: netdev %s has no NIC\n", netdevs[k].id);
    if (pc_add_poll_hook(pc, net_poll, NULL) < 0) {
        snprintf(err, errlen, "no free poll hook for the network");
        return -1;
    }
    return 0;
#endif
}

void net_shutdown(void)
{
    for (int k = 0; k < nclients; k++) {
        NetClient *c = clients[k];
        if (!c)
            continue;
        if (c->dump) {
            fflush(c->dump);
            fclose(c->dump);
            c->dump = NULL;
        }
        if (c->olen && c->fd >= 0) {
            /* last frames to the peer: one blocking attempt */
            int fl = fcntl(c->fd, F_GETFL);
            if (fl >= 0)
                fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
            stream_flush_out(c);
        }
        if (c->fd >= 0)
            close(c->fd);
        if (c->listen_fd >= 0)
            close(c->listen_fd);
        c->fd = c->listen_fd = -1;
#ifdef VESSEL_HAVE_SLIRP
        if (c->slirp) {
            slirp_cleanup(c->slirp);
            c->slirp = NULL;
        }
#endif
        /* The NIC belongs to the board; leave c allocated for it. */
        for (int q = 0; q < c->qcount; q++)
            free(c->q[(c->qhead + q) % NET_QUEUE_MAX].data);
        c->qcount = 0;
        c->cfg = NULL;
    }
}

int net_set_link(const char *name, bool up)
{
    for (int k = 0; k < nclients; k++) {
        NetClient *c = clients[k];
        char auto_id[16];
        snprintf(auto_id, sizeof(auto_id), "nic%d", k);
        if (!c->nic)
            continue;
        if ((c->cfg && c->cfg->id && !strcmp(c->cfg->id, name)) ||
            (c->nic_cfg && c->nic_cfg->id && !strcmp(c->nic_cfg->id, name)) || !strcmp(auto_id, name)) {
            e1000_set_link(c->nic, up);
            return 0;
        }
    }
    return -1;
}

size_t net_info(char *buf, size_t len)
{
    size_t used = 0;
    if (len)
        buf[0] = 0;
    for (int k = 0; k < nclients; k++) {
        NetClient *c = clients[k];
        const uint8_t *m = c->nic ? c->nic->mac : (const uint8_t *)"\0\0\0\0\0\0";
        char line[256];
        int n = snprintf(line, sizeof(line),
                         "nic%d: e1000 %02x:%02x:%02x:%02x:%02x:%02x link %s, netdev %s (%s) "
                         "tx %llu rx %llu dropped %llu\n",
                         k, m[0], m[1], m[2], m[3], m[4], m[5], c->nic && c->nic->link_up ? "up" : "down",
                         c->cfg ? c->cfg->id : "-", c->cfg ? type_name(c->cfg->type) : "none",
                         (unsigned long long)c->tx_frames, (unsigned long long)c->rx_frames,
                         (unsigned long long)c->dropped);
        if (n > 0 && used + (size_t)n < len)
            memcpy(buf + used, line, (size_t)n + 1);
        used += n > 0 ? (size_t)n : 0;
    }
    return used;
}
