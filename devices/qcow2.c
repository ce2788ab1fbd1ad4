/*
 * qcow2.c - qcow2 image backend (see qcow2.h).  Layout and field names follow
 * QEMU's docs/interop/qcow2.txt: a header in cluster 0, an L1 table of
 * pointers to L2 tables, L2 entries pointing at data clusters, and a
 * refcount table of pointers to refcount blocks counting the users of every
 * host cluster.  All multi-byte fields are big-endian.
 */
#include "devices/qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Header byte offsets (qcow2.txt "Header"). */
enum {
    HDR_MAGIC = 0,
    HDR_VERSION = 4,
    HDR_BACKING_FILE_OFFSET = 8,
    HDR_BACKING_FILE_SIZE = 16,
    HDR_CLUSTER_BITS = 20,
    HDR_SIZE = 24,
    HDR_CRYPT_METHOD = 32,
    HDR_L1_SIZE = 36,
    HDR_L1_TABLE_OFFSET = 40,
    HDR_REFCOUNT_TABLE_OFFSET = 48,
    HDR_REFCOUNT_TABLE_CLUSTERS = 56,
    HDR_NB_SNAPSHOTS = 60,
    HDR_SNAPSHOTS_OFFSET = 64,
    HDR_V2_LENGTH = 72,
    HDR_INCOMPATIBLE_FEATURES = 72,   /* version 3 from here */
    HDR_COMPATIBLE_FEATURES = 80,
    HDR_AUTOCLEAR_FEATURES = 88,
    HDR_REFCOUNT_ORDER = 96,
    HDR_HEADER_LENGTH = 100,
    HDR_V3_LENGTH = 104,
    HDR_COMPRESSION_TYPE = 104,       /* present when header_length > 104 */
    HDR_CREATE_LENGTH = 112,          /* what qcow2_create writes (as QEMU 5.1+) */
};

/* Incompatible feature bits. */
#define INCOMPAT_DIRTY       (1ULL << 0)
#define INCOMPAT_CORRUPT     (1ULL << 1)
#define INCOMPAT_DATA_FILE   (1ULL << 2)
#define INCOMPAT_COMPRESSION (1ULL << 3)
#define INCOMPAT_EXTL2       (1ULL << 4)

/* Header extension types. */
#define EXT_END             0x00000000u
#define EXT_BACKING_FORMAT  0xe2792acau
#define EXT_FEATURE_TABLE   0x6803f857u

/* L1/L2 entry bits. */
#define OFLAG_COPIED     (1ULL << 63)   /* refcount is exactly 1: write in place */
#define OFLAG_COMPRESSED (1ULL << 62)
#define OFLAG_ZERO       (1ULL << 0)    /* v3: cluster reads as zeros */
#define OFFSET_MASK      0x00fffffffffffe00ULL   /* bits 9..55 */
#define L1E_RESERVED     0x7f000000000001ffULL   /* bits 0..8, 56..62 */
#define L2E_RESERVED     0x3f000000000001feULL   /* standard: bits 1..8, 56..61 */
#define RTE_RESERVED     0x00000000000001ffULL

/* Limits (QEMU's, where it has one). */
#define MAX_HOST_OFFSET  (1ULL << 56)   /* L2 entries hold 56-bit offsets */
#define MAX_L1_BYTES     (32u << 20)
#define MAX_RT_BYTES     (8u << 20)
#define MAX_SNAPSHOTS    65536u
#define MAX_BACKING_NAME 1023u
#define MAX_FEATURES     64

/* Cluster kinds of an L2 entry. */
enum { CT_UNALLOC, CT_ZERO, CT_ZERO_ALLOC, CT_NORMAL, CT_COMPRESSED };

typedef struct FreeRange {
    uint64_t off, len;
} FreeRange;

struct Qcow2 {
    int fd;
    bool read_only;
    bool broken;                /* corrupt metadata seen: writes refused */
    uint32_t version;
    uint32_t cluster_bits;
    uint64_t cs;                /* cluster size, bytes */
    uint32_t l2_bits;           /* log2(entries per L2 table) */
    uint64_t size;              /* virtual size, bytes */
    uint32_t nb_snapshots;
    uint64_t autoclear;         /* autoclear features to drop before the first write */

    uint64_t *l1;               /* host-order copy of the L1 table */
    uint32_t l1_size;
    uint64_t l1_offset;

    uint64_t *rt;               /* host-order copy of the refcount table */
    uint64_t rt_entries;
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint32_t refcount_order;    /* refcount width = 1 << refcount_order bits */
    uint32_t rb_bits;           /* log2(entries per refcount block) */

    uint8_t *rb;                /* cached refcount block ... */
    uint64_t rb_off;            /* ... at this host offset (0: none) */
    size_t rb_dirty_lo, rb_dirty_hi;   /* bytes not yet written back */

    uint64_t file_end;          /* host file size, bytes */
    uint64_t alloc_end;         /* first host cluster past the file and all allocations */
    uint64_t free_hint;         /* no free cluster below this one */
    bool unsynced;              /* metadata written since the last barrier */

    uint64_t *pool;             /* clusters reserved (refcount 1, synced), unused */
    unsigned pool_pos, pool_n, pool_max;
    FreeRange frees[64];        /* decrements waiting for a barrier */
    unsigned nfree;

    BlockDev *backing;
    uint64_t backing_bytes;
    char *backing_path;         /* resolved name of the backing file, or NULL */

    uint8_t *cbuf;              /* one cluster: copy-on-write, new L2 tables */
    uint8_t *zin;               /* compressed input, up to two clusters */
    uint8_t *dc;                /* last decompressed cluster ... */
    uint64_t dc_l2e;            /* ... and its L2 entry */
    bool dc_valid;
    z_stream zs;
    bool zs_init;
    int csize_shift;
    uint64_t csize_mask, coffset_mask;
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    int n = snprintf(err, errlen, "%s: qcow2: ", path);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Read exactly len bytes; a short read (end of file) is -EIO. */
static int pread_full(int fd, void *buf, uint64_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (uint64_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Read len bytes; whatever lies past the end of the file reads as zeros. */
static int pread_zero(int fd, void *buf, uint64_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (uint64_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int pwrite_q(Qcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
    const uint8_t *p = buf;
    uint64_t o = off, l = len;
    while (l) {
        ssize_t n = pwrite(q->fd, p, l, (off_t)o);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        l -= (uint64_t)n;
        o += (uint64_t)n;
    }
    if (off + len > q->file_end)
        q->file_end = off + len;
    uint64_t endc = (q->file_end + q->cs - 1) >> q->cluster_bits;
    if (endc > q->alloc_end)
        q->alloc_end = endc;
    return 0;
}

/* Metadata inconsistency: the request fails and later writes are refused. */
static int corrupt(Qcow2 *q)
{
    q->broken = true;
    return -EIO;
}

/* True if [off, off+len) touches the header cluster, the L1 table or the
 * refcount table (cluster-granular), which nothing else may use. */
static bool overlaps_fixed(const Qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    if (off < q->cs)
        return true;
    uint64_t l1_end = q->l1_offset + (((uint64_t)q->l1_size * 8 + q->cs - 1) & ~(q->cs - 1));
    if (q->l1_size && off < l1_end && end > q->l1_offset)
        return true;
    uint64_t rt_end = q->rt_offset + ((uint64_t)q->rt_clusters << q->cluster_bits);
    return off < rt_end && end > q->rt_offset;
}

/* fdatasync if metadata was written since the last barrier: everything
 * written before is on disk before anything written after. */
static int rb_writeback(Qcow2 *q);
static int barrier(Qcow2 *q)
{
    int r = rb_writeback(q);
    if (r < 0)
        return r;
    if (!q->unsynced)
        return 0;
    if (fdatasync(q->fd) < 0)
        return -errno;
    q->unsynced = false;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Refcounts                                                                */

static int rb_writeback(Qcow2 *q)
{
    if (q->rb_dirty_hi <= q->rb_dirty_lo)
        return 0;
    int r = pwrite_q(q, q->rb + q->rb_dirty_lo, q->rb_dirty_hi - q->rb_dirty_lo,
                     q->rb_off + q->rb_dirty_lo);
    if (r < 0)
        return r;
    q->rb_dirty_lo = q->rb_dirty_hi = 0;
    q->unsynced = true;
    return 0;
}

/* Make the refcount block at host offset off the cached one. */
static int rb_load(Qcow2 *q, uint64_t off)
{
    if (q->rb_off == off && off)
        return 0;
    int r = rb_writeback(q);
    if (r < 0)
        return r;
    if (!off || (off & (q->cs - 1)) || off > q->file_end || q->cs > q->file_end - off ||
        overlaps_fixed(q, off, q->cs))
        return corrupt(q);
    q->rb_off = 0;
    r = pread_full(q->fd, q->rb, q->cs, off);
    if (r < 0)
        return r;
    q->rb_off = off;
    return 0;
}

static uint64_t rb_get(const Qcow2 *q, uint64_t i)
{
    uint32_t o = q->refcount_order;
    if (o < 3) {   /* sub-byte widths pack from the least significant bit */
        unsigned per = 8u >> o, bits = 1u << o;
        return (q->rb[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
    }
    switch (o) {
    case 3: return q->rb[i];
    case 4: return be16(q->rb + i * 2);
    case 5: return be32(q->rb + i * 4);
    default: return be64(q->rb + i * 8);
    }
}

static void rb_put(Qcow2 *q, uint64_t i, uint64_t v)
{
    uint32_t o = q->refcount_order;
    size_t lo, hi;
    if (o < 3) {
        unsigned per = 8u >> o, bits = 1u << o;
        unsigned sh = (unsigned)(i % per) * bits;
        uint8_t m = (uint8_t)(((1u << bits) - 1) << sh);
        lo = i / per;
        q->rb[lo] = (uint8_t)((q->rb[lo] & ~m) | ((v << sh) & m));
        hi = lo + 1;
    } else {
        size_t w = (size_t)1 << (o - 3);
        lo = i * w;
        hi = lo + w;
        switch (o) {
        case 3: q->rb[lo] = (uint8_t)v; break;
        case 4: put16(q->rb + lo, (uint16_t)v); break;
        case 5: put32(q->rb + lo, (uint32_t)v); break;
        default: put64(q->rb + lo, v); break;
        }
    }
    if (q->rb_dirty_hi <= q->rb_dirty_lo) {
        q->rb_dirty_lo = lo;
        q->rb_dirty_hi = hi;
    } else {
        if (lo < q->rb_dirty_lo)
            q->rb_dirty_lo = lo;
        if (hi > q->rb_dirty_hi)
            q->rb_dirty_hi = hi;
    }
}

/* Refcount of host cluster c (0 where no refcount block exists). */
static int get_rc(Qcow2 *q, uint64_t c, uint64_t *val)
{
    uint64_t ti = c >> q->rb_bits;
    *val = 0;
    if (ti >= q->rt_entries)
        return 0;
    uint64_t e = q->rt[ti];
    if (!e)
        return 0;
    if (e & RTE_RESERVED)
        return corrupt(q);
    int r = rb_load(q, e);
    if (r < 0)
        return r;
    *val = rb_get(q, c & ((1ULL << q->rb_bits) - 1));
    return 0;
}

static int grow_rt(Qcow2 *q, uint64_t c);
static int queue_free(Qcow2 *q, uint64_t off, uint64_t len);

/* Allocate a refcount block for table index ti (which has none), needed to
 * count cluster c.  Every cluster of that range has refcount 0, so the block
 * goes into the range itself and counts itself. */
static int new_refblock(Qcow2 *q, uint64_t ti, uint64_t c)
{
    uint64_t first = ti << q->rb_bits;
    uint64_t b = first == c ? first + 1 : first;
    uint64_t boff = b << q->cluster_bits;
    if (boff >= MAX_HOST_OFFSET - q->cs)
        return -ENOSPC;
    if (overlaps_fixed(q, boff, q->cs))
        return corrupt(q);
    int r = rb_writeback(q);
    if (r < 0)
        return r;
    memset(q->rb, 0, q->cs);
    q->rb_off = 0;
    rb_put(q, b - first, 1);
    q->rb_dirty_lo = q->rb_dirty_hi = 0;
    r = pwrite_q(q, q->rb, q->cs, boff);
    if (r < 0)
        return r;
    q->rb_off = boff;
    if (b + 1 > q->alloc_end)
        q->alloc_end = b + 1;
    q->unsynced = true;
    r = barrier(q);   /* the block is on disk before the table points at it */
    if (r < 0)
        return r;
    uint8_t e[8];
    put64(e, boff);
    r = pwrite_q(q, e, 8, q->rt_offset + ti * 8);
    if (r < 0)
        return r;
    q->rt[ti] = boff;
    q->unsynced = true;
    return 0;
}

/* Set the refcount of host cluster c, allocating a refcount block or a
 * larger refcount table when c is not covered yet. */
static int set_rc(Qcow2 *q, uint64_t c, uint64_t v)
{
    if (c >= (MAX_HOST_OFFSET >> q->cluster_bits))
        return -ENOSPC;
    if (q->refcount_order < 6 && (v >> (1u << q->refcount_order)))
        return -ENOSPC;
    uint64_t ti = c >> q->rb_bits;
    int r;
    if (ti >= q->rt_entries) {
        r = grow_rt(q, c);
        if (r < 0)
            return r;
    }
    if (!q->rt[ti]) {
        r = new_refblock(q, ti, c);
        if (r < 0)
            return r;
    }
    if (q->rt[ti] & RTE_RESERVED)
        return corrupt(q);
    r = rb_load(q, q->rt[ti]);
    if (r < 0)
        return r;
    rb_put(q, c & ((1ULL << q->rb_bits) - 1), v);
    return 0;
}

/* Replace the refcount table by a larger one covering cluster c.  The new
 * table and the refcount blocks it needs for itself are placed in fresh
 * clusters past everything allocated; they are written and synced before
 * the header points at them; the old table is then freed. */
static int grow_rt(Qcow2 *q, uint64_t c)
{
    uint64_t epc = q->cs / 8;                 /* table entries per cluster */
    uint64_t ti_c = c >> q->rb_bits;
    uint64_t p0 = c + 1 > q->alloc_end ? c + 1 : q->alloc_end;
    uint64_t nb = 0, nt = 0, entries = 0;
    bool done = false;
    for (int iter = 0; iter < 32 && !done; iter++) {
        uint64_t area_end = p0 + nb + nt;     /* exclusive, in clusters */
        entries = ((area_end - 1) >> q->rb_bits) + 1;
        if (entries < ti_c + 1)
            entries = ti_c + 1;
        uint64_t room = q->rt_entries * 2;   /* room to grow, within the limit */
        if (room > MAX_RT_BYTES / 8)
            room = MAX_RT_BYTES / 8;
        if (entries < room)
            entries = room;
        entries = (entries + epc - 1) / epc * epc;
        uint64_t t2 = entries / epc;
        if (t2 > (MAX_RT_BYTES >> q->cluster_bits))
            return -ENOSPC;
        uint64_t b2 = 0;
        uint64_t last = p0 + nb + t2 - 1;
        for (uint64_t ti = p0 >> q->rb_bits; ti <= (last >> q->rb_bits); ti++)
            if (ti >= q->rt_entries || !q->rt[ti])
                b2++;
        done = b2 == nb && t2 == nt;
        nb = b2;
        nt = t2;
    }
    if (!done)
        return -ENOSPC;
    uint64_t area_end = p0 + nb + nt;
    if (area_end >= (MAX_HOST_OFFSET >> q->cluster_bits))
        return -ENOSPC;

    uint64_t *nrt = calloc(entries, sizeof(*nrt));
    uint8_t *buf = calloc(1, q->cs);
    uint8_t *tbl = calloc(nt, q->cs);
    int r = -ENOMEM;
    if (!nrt || !buf || !tbl)
        goto out;
    memcpy(nrt, q->rt, q->rt_entries * sizeof(*nrt));

    /* Area clusters in ranges that already have a block: count them there
     * (covered by the old table, so no recursion). */
    for (uint64_t x = p0; x < area_end; x++) {
        uint64_t ti = x >> q->rb_bits;
        if (ti < q->rt_entries && q->rt[ti]) {
            r = set_rc(q, x, 1);
            if (r < 0)
                goto out;
        }
    }
    r = rb_writeback(q);
    if (r < 0)
        goto out;
    /* New blocks, in order of table index, at clusters p0 .. p0+nb-1. */
    uint64_t k = 0;
    uint8_t *saved_rb = q->rb;
    for (uint64_t ti = p0 >> q->rb_bits; ti <= ((area_end - 1) >> q->rb_bits); ti++) {
        if (ti < q->rt_entries && q->rt[ti])
            continue;
        memset(buf, 0, q->cs);
        q->rb = buf;   /* reuse rb_put's packing on the scratch block */
        uint64_t lo = ti << q->rb_bits, hi = lo + (1ULL << q->rb_bits);
        for (uint64_t x = lo < p0 ? p0 : lo; x < hi && x < area_end; x++)
            rb_put(q, x - lo, 1);
        q->rb = saved_rb;
        q->rb_dirty_lo = q->rb_dirty_hi = 0;
        uint64_t boff = (p0 + k) << q->cluster_bits;
        r = pwrite_q(q, buf, q->cs, boff);
        if (r < 0)
            goto out;
        nrt[ti] = boff;
        k++;
    }
    for (uint64_t i = 0; i < entries; i++)
        put64(tbl + i * 8, nrt[i]);
    uint64_t toff = (p0 + nb) << q->cluster_bits;
    r = pwrite_q(q, tbl, nt * q->cs, toff);
    if (r < 0)
        goto out;
    q->unsynced = true;
    r = barrier(q);
    if (r < 0)
        goto out;
    uint8_t h[12];
    put64(h, toff);
    put32(h + 8, (uint32_t)nt);
    r = pwrite_q(q, h, 12, HDR_REFCOUNT_TABLE_OFFSET);
    if (r < 0)
        goto out;
    q->unsynced = true;
    r = barrier(q);
    if (r < 0)
        goto out;
    uint64_t old_off = q->rt_offset, old_len = (uint64_t)q->rt_clusters << q->cluster_bits;
    free(q->rt);
    q->rt = nrt;
    nrt = NULL;
    q->rt_entries = entries;
    q->rt_offset = toff;
    q->rt_clusters = (uint32_t)nt;
    if (area_end > q->alloc_end)
        q->alloc_end = area_end;
    /* The old table is freed after the next barrier. */
    r = queue_free(q, old_off, old_len);
out:
    free(nrt);
    free(buf);
    free(tbl);
    return r;
}

/* First cluster at or after free_hint with refcount 0. */
static int find_free(Qcow2 *q, uint64_t *out)
{
    uint64_t beyond = 0;
    for (uint64_t c = q->free_hint;; c++) {
        if (c >= (MAX_HOST_OFFSET >> q->cluster_bits) - 1)
            return -ENOSPC;
        uint64_t v;
        int r = get_rc(q, c, &v);
        if (r < 0)
            return r;
        if (v == 0) {
            if (overlaps_fixed(q, c << q->cluster_bits, q->cs))
                return corrupt(q);   /* the header or a table has no refcount */
            *out = c;
            return 0;
        }
        /* Past the file, clusters in use are leaks; bound the search. */
        if (c >= q->alloc_end && ++beyond > 65536)
            return corrupt(q);
    }
}

/* Apply queued refcount decrements, after a barrier so that the pointers
 * they drop are gone on disk first. */
static int process_frees(Qcow2 *q)
{
    if (!q->nfree)
        return 0;
    int r = barrier(q);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < q->nfree; i++) {
        uint64_t first = q->frees[i].off >> q->cluster_bits;
        uint64_t last = (q->frees[i].off + q->frees[i].len - 1) >> q->cluster_bits;
        for (uint64_t c = first; c <= last; c++) {
            uint64_t v;
            r = get_rc(q, c, &v);
            if (r < 0)
                return r;
            if (v == 0)
                return corrupt(q);
            r = set_rc(q, c, v - 1);
            if (r < 0)
                return r;
            if (v == 1 && c < q->free_hint)
                q->free_hint = c;
        }
    }
    q->nfree = 0;
    q->dc_valid = false;
    return 0;
}

/* Queue a decrement of the clusters overlapping [off, off+len). */
static int queue_free(Qcow2 *q, uint64_t off, uint64_t len)
{
    if (q->nfree == sizeof(q->frees) / sizeof(q->frees[0])) {
        int r = process_frees(q);
        if (r < 0)
            return r;
    }
    q->frees[q->nfree++] = (FreeRange){off, len};
    return 0;
}

/* Reserve a batch of free clusters (refcount 1), then one barrier: the
 * pointers later written to them never precede their refcounts on disk.
 * Unused ones are released at close; a crash leaks them. */
static int refill_pool(Qcow2 *q)
{
    q->pool_pos = q->pool_n = 0;
    int r = 0;
    while (q->pool_n < q->pool_max) {
        uint64_t c;
        r = find_free(q, &c);
        if (r < 0)
            break;
        r = set_rc(q, c, 1);
        if (r < 0)
            break;
        q->pool[q->pool_n++] = c;
        q->free_hint = c + 1;
        if (c + 1 > q->alloc_end)
            q->alloc_end = c + 1;
    }
    if (!q->pool_n)
        return r < 0 ? r : -ENOSPC;
    return barrier(q);
}

static int alloc_cluster(Qcow2 *q, uint64_t *off)
{
    if (q->pool_pos >= q->pool_n) {
        int r = refill_pool(q);
        if (r < 0)
            return r;
    }
    *off = q->pool[q->pool_pos++] << q->cluster_bits;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lookup and reads                                                         */

/* L2 entry of guest cluster gc; *l2off = 0 when no L2 table exists. */
static int l2_lookup(Qcow2 *q, uint64_t gc, uint64_t *l2off, uint64_t *l2e)
{
    uint64_t l1i = gc >> q->l2_bits;
    *l2off = 0;
    *l2e = 0;
    if (l1i >= q->l1_size)
        return corrupt(q);
    uint64_t l1e = q->l1[l1i];
    if (l1e & L1E_RESERVED)
        return corrupt(q);
    uint64_t off = l1e & OFFSET_MASK;
    if (!off)
        return 0;
    if ((off & (q->cs - 1)) || off > q->file_end || q->cs > q->file_end - off)
        return corrupt(q);
    uint8_t b[8];
    int r = pread_full(q->fd, b, 8, off + (gc & ((1ULL << q->l2_bits) - 1)) * 8);
    if (r < 0)
        return r;
    *l2off = off;
    *l2e = be64(b);
    return 0;
}

/* Kind of cluster an L2 entry describes; *host = its host offset. */
static int classify(Qcow2 *q, uint64_t l2e, uint64_t *host)
{
    *host = 0;
    if (l2e & OFLAG_COMPRESSED)
        return CT_COMPRESSED;
    if (l2e & L2E_RESERVED)
        return corrupt(q);
    uint64_t off = l2e & OFFSET_MASK;
    if (off & (q->cs - 1))
        return corrupt(q);
    *host = off;
    if (l2e & OFLAG_ZERO) {
        if (q->version < 3)
            return corrupt(q);
        return off ? CT_ZERO_ALLOC : CT_ZERO;
    }
    return off ? CT_NORMAL : CT_UNALLOC;
}

/* Inflate the compressed cluster of l2e into q->dc (raw deflate, as QEMU
 * writes it; the stream may end before the sectors it occupies do). */
static int decompress(Qcow2 *q, uint64_t l2e)
{
    if (q->dc_valid && q->dc_l2e == l2e)
        return 0;
    q->dc_valid = false;
    uint64_t coff = l2e & q->coffset_mask;
    uint64_t nsec = ((l2e >> q->csize_shift) & q->csize_mask) + 1;
    uint64_t csize = nsec * 512 - (coff & 511);
    if (coff >= q->file_end || coff >= MAX_HOST_OFFSET)
        return corrupt(q);
    int r = pread_zero(q->fd, q->zin, csize, coff);
    if (r < 0)
        return r;
    if (!q->zs_init) {
        memset(&q->zs, 0, sizeof(q->zs));
        if (inflateInit2(&q->zs, -12) != Z_OK)
            return -ENOMEM;
        q->zs_init = true;
    } else if (inflateReset(&q->zs) != Z_OK) {
        return -EIO;
    }
    q->zs.next_in = q->zin;
    q->zs.avail_in = (uInt)csize;
    q->zs.next_out = q->dc;
    q->zs.avail_out = (uInt)q->cs;
    int z = inflate(&q->zs, Z_FINISH);
    if ((z != Z_STREAM_END && z != Z_BUF_ERROR) || q->zs.avail_out != 0)
        return -EIO;   /* bad compressed data: an I/O error for this cluster */
    q->dc_valid = true;
    q->dc_l2e = l2e;
    return 0;
}

/* n bytes at guest byte off from the backing file, zeros past its end. */
static int read_backing(Qcow2 *q, uint64_t off, uint8_t *p, uint64_t n)
{
    uint64_t m = 0;
    if (q->backing && off < q->backing_bytes) {
        m = q->backing_bytes - off < n ? q->backing_bytes - off : n;
        int r = blockdev_read(q->backing, off / BLOCKDEV_SECTOR, p, (uint32_t)(m / BLOCKDEV_SECTOR));
        if (r < 0)
            return r;
    }
    memset(p + m, 0, n - m);
    return 0;
}

/* Read n bytes at offset in within guest cluster gc whose L2 entry is l2e. */
static int read_in_cluster(Qcow2 *q, uint64_t gc, uint64_t l2e, uint64_t in, uint8_t *p,
                           uint64_t n)
{
    uint64_t host;
    int t = classify(q, l2e, &host);
    if (t < 0)
        return t;
    switch (t) {
    case CT_UNALLOC:
        return read_backing(q, (gc << q->cluster_bits) + in, p, n);
    case CT_ZERO:
    case CT_ZERO_ALLOC:
        memset(p, 0, n);
        return 0;
    case CT_NORMAL:
        return pread_zero(q->fd, p, n, host + in);
    default: {
        int r = decompress(q, l2e);
        if (r < 0)
            return r;
        memcpy(p, q->dc + in, n);
        return 0;
    }
    }
}

int qcow2_read(Qcow2 *q, uint64_t off, void *buf, uint64_t len)
{
    if (!q || off > q->size || len > q->size - off || (off | len) % BLOCKDEV_SECTOR)
        return -EINVAL;
    uint8_t *p = buf;
    while (len) {
        uint64_t gc = off >> q->cluster_bits, in = off & (q->cs - 1);
        uint64_t n = q->cs - in < len ? q->cs - in : len;
        uint64_t l2off, l2e;
        int r = l2_lookup(q, gc, &l2off, &l2e);
        if (r == 0)
            r = read_in_cluster(q, gc, l2e, in, p, n);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */

/* Point guest cluster gc at val, creating its L2 table if l2off is 0: the
 * table is written and synced before the L1 entry names it. */
static int set_l2e(Qcow2 *q, uint64_t gc, uint64_t l2off, uint64_t val)
{
    uint64_t l1i = gc >> q->l2_bits, idx = gc & ((1ULL << q->l2_bits) - 1);
    uint8_t e[8];
    put64(e, val);
    int r;
    if (l2off) {
        if (overlaps_fixed(q, l2off, q->cs))
            return corrupt(q);
        r = pwrite_q(q, e, 8, l2off + idx * 8);
        q->unsynced = true;
        return r;
    }
    uint64_t t;
    r = alloc_cluster(q, &t);
    if (r < 0)
        return r;
    memset(q->cbuf, 0, q->cs);
    memcpy(q->cbuf + idx * 8, e, 8);
    r = pwrite_q(q, q->cbuf, q->cs, t);
    if (r < 0)
        return r;
    q->unsynced = true;
    r = barrier(q);
    if (r < 0)
        return r;
    put64(e, t | OFLAG_COPIED);
    r = pwrite_q(q, e, 8, q->l1_offset + l1i * 8);
    if (r < 0)
        return r;
    q->l1[l1i] = t | OFLAG_COPIED;
    q->unsynced = true;
    return 0;
}

/* May host cluster host (entry flags in l2e) be overwritten in place? */
static int exclusive(Qcow2 *q, uint64_t host, uint64_t l2e, bool *yes)
{
    *yes = true;
    if (l2e & OFLAG_COPIED)
        return 0;
    uint64_t v;
    int r = get_rc(q, host >> q->cluster_bits, &v);
    if (r < 0)
        return r;
    if (v == 0)
        return corrupt(q);   /* in use but unreferenced */
    *yes = v == 1;
    return 0;
}

/* Write n bytes at offset in within guest cluster gc. */
static int write_in_cluster(Qcow2 *q, uint64_t gc, uint64_t in, const uint8_t *p, uint64_t n)
{
    uint64_t l2off, l2e, host;
    int r = l2_lookup(q, gc, &l2off, &l2e);
    if (r < 0)
        return r;
    int t = classify(q, l2e, &host);
    if (t < 0)
        return t;
    if (l2off && overlaps_fixed(q, l2off, q->cs))
        return corrupt(q);   /* an L2 table on top of the header or a table */
    if (l2off && !(q->l1[gc >> q->l2_bits] & OFLAG_COPIED)) {
        bool own;
        r = exclusive(q, l2off, 0, &own);
        if (r < 0)
            return r;
        if (!own)
            return corrupt(q);   /* shared L2 table (internal snapshot) */
    }
    bool own = false;
    if (t == CT_NORMAL || t == CT_ZERO_ALLOC) {
        r = exclusive(q, host, l2e, &own);
        if (r < 0)
            return r;
        if (own && overlaps_fixed(q, host, q->cs))
            return corrupt(q);
    }
    if (own && t == CT_NORMAL)
        return pwrite_q(q, p, n, host + in);
    if (own) {   /* preallocated zero cluster: fill it, then drop the flag */
        memset(q->cbuf, 0, q->cs);
        memcpy(q->cbuf + in, p, n);
        r = pwrite_q(q, q->cbuf, q->cs, host);
        if (r < 0)
            return r;
        return set_l2e(q, gc, l2off, host | OFLAG_COPIED);
    }
    /* Copy-on-write into a new cluster (old contents read first, so that a
     * failed read leaks nothing). */
    const uint8_t *src = p;
    if (n != q->cs) {
        r = read_in_cluster(q, gc, l2e, 0, q->cbuf, q->cs);
        if (r < 0)
            return r;
        memcpy(q->cbuf + in, p, n);
        src = q->cbuf;
    }
    uint64_t c;
    r = alloc_cluster(q, &c);
    if (r < 0)
        return r;
    r = pwrite_q(q, src, q->cs, c);
    if (r < 0)
        return r;
    r = set_l2e(q, gc, l2off, c | OFLAG_COPIED);
    if (r < 0)
        return r;
    if (t == CT_COMPRESSED) {
        uint64_t coff = l2e & q->coffset_mask;
        uint64_t nsec = ((l2e >> q->csize_shift) & q->csize_mask) + 1;
        q->dc_valid = false;
        return queue_free(q, coff & ~511ULL, nsec * 512);
    }
    if (t == CT_NORMAL || t == CT_ZERO_ALLOC)
        return queue_free(q, host, q->cs);
    return 0;
}

int qcow2_write(Qcow2 *q, uint64_t off, const void *buf, uint64_t len)
{
    if (!q)
        return -EINVAL;
    if (q->read_only)
        return -EROFS;
    if (off > q->size || len > q->size - off || (off | len) % BLOCKDEV_SECTOR)
        return -EINVAL;
    if (q->broken)
        return -EIO;
    if (q->autoclear) {
        /* qcow2.txt: a writer that does not maintain an autoclear feature
         * (e.g. persistent dirty bitmaps) clears its bit before modifying
         * the image, which tells readers the feature's data is stale. */
        uint8_t z[8] = {0};
        int r = pwrite_q(q, z, 8, HDR_AUTOCLEAR_FEATURES);
        if (r < 0)
            return r;
        q->unsynced = true;
        r = barrier(q);
        if (r < 0)
            return r;
        q->autoclear = 0;
    }
    const uint8_t *p = buf;
    while (len) {
        uint64_t gc = off >> q->cluster_bits, in = off & (q->cs - 1);
        uint64_t n = q->cs - in < len ? q->cs - in : len;
        int r = write_in_cluster(q, gc, in, p, n);
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

int qcow2_flush(Qcow2 *q)
{
    if (!q)
        return -EINVAL;
    if (q->read_only)
        return 0;
    int r = q->broken ? 0 : process_frees(q);
    if (r < 0)
        return r;
    r = rb_writeback(q);
    if (r < 0)
        return r;
    if (fsync(q->fd) < 0)
        return -errno;
    q->unsynced = false;
    return 0;
}

uint64_t qcow2_size(const Qcow2 *q) { return q ? q->size : 0; }

bool qcow2_probe(const void *buf, size_t len)
{
    return buf && len >= 4 && be32(buf) == QCOW2_MAGIC;
}

void qcow2_close(Qcow2 *q)
{
    if (!q)
        return;
    if (!q->read_only && !q->broken) {
        /* Best effort: a failure here only leaks clusters. */
        if (process_frees(q) == 0) {
            for (unsigned i = q->pool_pos; i < q->pool_n; i++) {
                if (set_rc(q, q->pool[i], 0) < 0)
                    break;
                if (q->pool[i] < q->free_hint)
                    q->free_hint = q->pool[i];
            }
            q->pool_pos = q->pool_n = 0;
        }
        rb_writeback(q);
        fsync(q->fd);
    }
    if (q->fd >= 0)
        close(q->fd);
    blockdev_close(q->backing);
    free(q->backing_path);
    if (q->zs_init)
        inflateEnd(&q->zs);
    free(q->l1);
    free(q->rt);
    free(q->rb);
    free(q->pool);
    free(q->cbuf);
    free(q->zin);
    free(q->dc);
    free(q);
}

/* ------------------------------------------------------------------------ */
/* Open                                                                     */

typedef struct Feature {
    uint8_t type, bit;
    char name[47];
} Feature;

/* "name (bit N)" of incompatible feature bit, from the feature name table. */
static void feature_name(const Feature *f, int nf, int bit, char *out, size_t n)
{
    static const char *known[] = {"dirty bit", "corrupt bit", "external data file",
                                  "compression type", "extended L2 entries"};
    const char *name = bit < 5 ? known[bit] : "unknown";
    for (int i = 0; i < nf; i++)
        if (f[i].type == 0 && f[i].bit == bit && f[i].name[0])
            name = f[i].name;
    snprintf(out, n, "'%s' (incompatible feature bit %d)", name, bit);
}

Qcow2 *qcow2_open(int fd, const char *path, bool read_only, const BlockDevChain *chain, char *err,
                  size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fail(err, errlen, path, "%s", strerror(errno));
        return NULL;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    uint8_t h[HDR_CREATE_LENGTH];
    memset(h, 0, sizeof(h));
    if (fsize < HDR_V2_LENGTH ||
        pread_full(fd, h, fsize < sizeof(h) ? fsize : sizeof(h), 0) < 0) {
        fail(err, errlen, path, "truncated header (file is %llu bytes)",
             (unsigned long long)fsize);
        return NULL;
    }
    if (be32(h + HDR_MAGIC) != QCOW2_MAGIC) {
        fail(err, errlen, path, "bad magic");
        return NULL;
    }
    uint32_t version = be32(h + HDR_VERSION);
    if (version != 2 && version != 3) {
        fail(err, errlen, path, "unsupported version %u (only 2 and 3)", version);
        return NULL;
    }
    if (version == 3 && fsize < HDR_V3_LENGTH) {
        fail(err, errlen, path, "truncated version 3 header");
        return NULL;
    }
    uint32_t cb = be32(h + HDR_CLUSTER_BITS);
    if (cb < 9 || cb > 21) {
        fail(err, errlen, path, "unsupported cluster_bits %u (9..21, 512 B to 2 MiB clusters)",
             cb);
        return NULL;
    }
    uint64_t cs = 1ULL << cb;
    uint64_t incompat = 0, autoclear = 0;
    uint32_t refcount_order = 4, hdr_len = HDR_V2_LENGTH;
    if (version == 3) {
        incompat = be64(h + HDR_INCOMPATIBLE_FEATURES);
        autoclear = be64(h + HDR_AUTOCLEAR_FEATURES);
        refcount_order = be32(h + HDR_REFCOUNT_ORDER);
        hdr_len = be32(h + HDR_HEADER_LENGTH);
        if (hdr_len < HDR_V3_LENGTH || hdr_len > cs || hdr_len > fsize) {
            fail(err, errlen, path, "bad header_length %u", hdr_len);
            return NULL;
        }
        if (refcount_order > 6) {
            fail(err, errlen, path, "bad refcount_order %u (0..6)", refcount_order);
            return NULL;
        }
    }
    if (be32(h + HDR_CRYPT_METHOD) != 0) {
        fail(err, errlen, path, "encrypted images are not supported (crypt_method %u)",
             be32(h + HDR_CRYPT_METHOD));
        return NULL;
    }
    uint64_t size = be64(h + HDR_SIZE);
    if (size == 0 || size % BLOCKDEV_SECTOR || size > MAX_HOST_OFFSET) {
        fail(err, errlen, path, "bad virtual size %llu (a non-zero multiple of 512 up to 2^56)",
             (unsigned long long)size);
        return NULL;
    }

    Qcow2 *q = calloc(1, sizeof(*q));
    if (!q) {
        fail(err, errlen, path, "out of memory");
        return NULL;
    }
    q->fd = -1;
    q->read_only = read_only;
    q->version = version;
    q->cluster_bits = cb;
    q->cs = cs;
    q->l2_bits = cb - 3;
    q->size = size;
    q->refcount_order = refcount_order;
    q->rb_bits = cb + 3 - refcount_order;
    q->file_end = fsize;
    q->alloc_end = (fsize + cs - 1) >> cb;
    q->csize_shift = 62 - (int)(cb - 8);
    q->csize_mask = (1ULL << (cb - 8)) - 1;
    q->coffset_mask = (1ULL << q->csize_shift) - 1;
    q->cbuf = malloc(cs);
    q->dc = malloc(cs);
    q->zin = malloc(2 * cs);
    q->rb = malloc(cs);
    uint64_t pool = (4u << 20) >> cb;
    q->pool_max = pool < 1 ? 1 : pool > 256 ? 256 : (unsigned)pool;
    q->pool = calloc(q->pool_max, sizeof(*q->pool));
    uint8_t *c0 = calloc(1, cs);
    if (!q->cbuf || !q->dc || !q->zin || !q->rb || !q->pool || !c0) {
        fail(err, errlen, path, "out of memory");
        goto bad;
    }
    if (pread_full(fd, c0, fsize < cs ? fsize : cs, 0) < 0) {
        fail(err, errlen, path, "cannot read the header cluster");
        goto bad;
    }

    /* Header extensions, up to the backing file name or the cluster end. */
    uint64_t bfo = be64(h + HDR_BACKING_FILE_OFFSET);
    uint32_t bfs = be32(h + HDR_BACKING_FILE_SIZE);
    uint64_t ext_end = bfo && bfo < cs ? bfo : cs;
    char backing_fmt[32] = "";
    Feature feats[MAX_FEATURES];
    int nfeat = 0;
    for (uint64_t o = hdr_len; o + 8 <= ext_end;) {
        uint32_t type = be32(c0 + o), len = be32(c0 + o + 4);
        o += 8;
        if (type == EXT_END)
            break;
        if (len > ext_end - o) {
            fail(err, errlen, path, "header extension 0x%08x too large (%u bytes)", type, len);
            goto bad;
        }
        if (type == EXT_BACKING_FORMAT) {
            if (len >= sizeof(backing_fmt)) {
                fail(err, errlen, path, "backing format name too long (%u bytes)", len);
                goto bad;
            }
            memcpy(backing_fmt, c0 + o, len);
            backing_fmt[len] = 0;
        } else if (type == EXT_FEATURE_TABLE) {
            for (uint32_t i = 0; i + 48 <= len && nfeat < MAX_FEATURES; i += 48) {
                Feature *f = &feats[nfeat++];
                f->type = c0[o + i];
                f->bit = c0[o + i + 1];
                memcpy(f->name, c0 + o + i + 2, 46);
                f->name[46] = 0;
            }
        }
        o += ((uint64_t)len + 7) & ~7ULL;
    }

    /* Features. */
    if (version == 3) {
        uint8_t ctype = hdr_len > HDR_COMPRESSION_TYPE ? h[HDR_COMPRESSION_TYPE] : 0;
        uint64_t unsupported = incompat & ~(INCOMPAT_DIRTY | INCOMPAT_CORRUPT);
        if (unsupported) {
            int bit = __builtin_ctzll(unsupported);
            char name[80];
            feature_name(feats, nfeat, bit, name, sizeof(name));
            fail(err, errlen, path, "unsupported feature %s", name);
            goto bad;
        }
        if (ctype != 0) {
            fail(err, errlen, path, "unsupported compression type %u (only zlib)", ctype);
            goto bad;
        }
        if (!read_only && (incompat & INCOMPAT_DIRTY)) {
            fail(err, errlen, path,
                 "image is marked dirty (not closed cleanly with lazy refcounts); repair it "
                 "with 'qemu-img check -r all' or open it read-only or with -snapshot");
            goto bad;
        }
        if (!read_only && (incompat & INCOMPAT_CORRUPT)) {
            fail(err, errlen, path,
                 "image is marked corrupt; repair it with 'qemu-img check -r all' or open it "
                 "read-only or with -snapshot");
            goto bad;
        }
    }

    /* L1 table: big enough for the virtual size, inside the file. */
    q->l1_size = be32(h + HDR_L1_SIZE);
    q->l1_offset = be64(h + HDR_L1_TABLE_OFFSET);
    uint32_t span_bits = cb + q->l2_bits;   /* guest bytes per L1 entry, log2 */
    uint64_t need = (size + (1ULL << span_bits) - 1) >> span_bits;
    if (q->l1_size > MAX_L1_BYTES / 8 || q->l1_size < need) {
        fail(err, errlen, path, "bad L1 table size %u (%llu entries needed)", q->l1_size,
             (unsigned long long)need);
        goto bad;
    }
    uint64_t l1_bytes = (uint64_t)q->l1_size * 8;
    if (!q->l1_offset || (q->l1_offset & (cs - 1)) || q->l1_offset > fsize ||
        l1_bytes > fsize - q->l1_offset) {
        fail(err, errlen, path, "L1 table offset 0x%llx is unaligned or outside the file",
             (unsigned long long)q->l1_offset);
        goto bad;
    }
    /* Refcount table. */
    q->rt_offset = be64(h + HDR_REFCOUNT_TABLE_OFFSET);
    q->rt_clusters = be32(h + HDR_REFCOUNT_TABLE_CLUSTERS);
    uint64_t rt_bytes = (uint64_t)q->rt_clusters << cb;
    if (!q->rt_clusters || rt_bytes > MAX_RT_BYTES || !q->rt_offset ||
        (q->rt_offset & (cs - 1)) || q->rt_offset > fsize || rt_bytes > fsize - q->rt_offset) {
        fail(err, errlen, path,
             "refcount table (offset 0x%llx, %u clusters) is unaligned, too large or outside "
             "the file", (unsigned long long)q->rt_offset, q->rt_clusters);
        goto bad;
    }
    q->rt_entries = rt_bytes / 8;
    uint64_t l1c_end = q->l1_offset + ((l1_bytes + cs - 1) & ~(cs - 1));
    if (q->l1_offset < q->rt_offset + rt_bytes && q->rt_offset < l1c_end) {
        fail(err, errlen, path, "L1 table and refcount table overlap");
        goto bad;
    }
    /* Internal snapshots: tolerated, not used. */
    q->nb_snapshots = be32(h + HDR_NB_SNAPSHOTS);
    uint64_t snap_off = be64(h + HDR_SNAPSHOTS_OFFSET);
    if (q->nb_snapshots > MAX_SNAPSHOTS ||
        (q->nb_snapshots && ((snap_off & (cs - 1)) || snap_off >= fsize))) {
        fail(err, errlen, path, "bad snapshot table (%u snapshots at 0x%llx)", q->nb_snapshots,
             (unsigned long long)snap_off);
        goto bad;
    }
    if (q->nb_snapshots && !read_only) {
        fail(err, errlen, path,
             "image has %u internal snapshots, which vessel cannot write around; open it "
             "read-only or with -snapshot", q->nb_snapshots);
        goto bad;
    }

    /* Backing file name, inside the header cluster. */
    char bname[MAX_BACKING_NAME + 1] = "";
    if (bfo) {
        if (bfo >= cs || bfs > MAX_BACKING_NAME || bfs > cs - bfo || bfo + bfs > fsize) {
            fail(err, errlen, path, "bad backing file name (offset %llu, %u bytes)",
                 (unsigned long long)bfo, bfs);
            goto bad;
        }
        memcpy(bname, c0 + bfo, bfs);
        bname[bfs] = 0;
        if (strlen(bname) != bfs) {
            fail(err, errlen, path, "backing file name contains a NUL byte");
            goto bad;
        }
    }

    /* Tables. */
    q->l1 = malloc(l1_bytes ? l1_bytes : 8);
    q->rt = malloc(rt_bytes);
    if (!q->l1 || !q->rt) {
        fail(err, errlen, path, "out of memory");
        goto bad;
    }
    if (pread_full(fd, q->l1, l1_bytes, q->l1_offset) < 0 ||
        pread_full(fd, q->rt, rt_bytes, q->rt_offset) < 0) {
        fail(err, errlen, path, "cannot read the L1 or refcount table");
        goto bad;
    }
    for (uint32_t i = 0; i < q->l1_size; i++)
        q->l1[i] = be64((uint8_t *)&q->l1[i]);
    for (uint64_t i = 0; i < q->rt_entries; i++)
        q->rt[i] = be64((uint8_t *)&q->rt[i]);

    if (bname[0]) {
        char full[4096 + MAX_BACKING_NAME + 2];
        const char *slash = strrchr(path, '/');
        if (bname[0] == '/' || !slash)
            snprintf(full, sizeof(full), "%s", bname);
        else
            snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - path), path, bname);
        char sub[512];
        sub[0] = 0;
        q->backing = blockdev_open_backing(full, backing_fmt[0] ? backing_fmt : NULL, chain,
                                           sub, sizeof(sub));
        if (!q->backing) {
            /* Report the innermost failure, not every level of the chain. */
            const char *why = sub, *k;
            while ((k = strstr(why, ": qcow2: backing file: ")))
                why = k + strlen(": qcow2: backing file: ");
            fail(err, errlen, path, "backing file: %s", why);
            goto bad;
        }
        q->backing_bytes = blockdev_sectors(q->backing) * BLOCKDEV_SECTOR;
        q->backing_path = strdup(full);
        if (!q->backing_path) {
            fail(err, errlen, path, "out of memory");
            goto bad;
        }
    }

    q->autoclear = read_only ? 0 : autoclear;
    free(c0);
    q->fd = fd;
    return q;
bad:
    free(c0);
    q->read_only = true;   /* nothing to flush; the caller closes fd */
    qcow2_close(q);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Create                                                                   */

int qcow2_create(const char *path, uint64_t size_bytes, const char *backing_path, char *err,
                 size_t errlen)
{
    if (!path) {
        if (err && errlen)
            snprintf(err, errlen, "qcow2_create: no path");
        return -EINVAL;
    }
    const char *bfmt = NULL;
    size_t blen = backing_path ? strlen(backing_path) : 0;
    if (backing_path) {
        if (blen == 0 || blen > MAX_BACKING_NAME) {
            fail(err, errlen, path, "backing file name must be 1..%u bytes", MAX_BACKING_NAME);
            return -EINVAL;
        }
        char full[8192];
        const char *slash = strrchr(path, '/');
        if (backing_path[0] == '/' || !slash)
            snprintf(full, sizeof(full), "%s", backing_path);
        else
            snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - path), path, backing_path);
        char sub[512];
        sub[0] = 0;
        BlockDev *b = blockdev_open_backing(full, NULL, NULL, sub, sizeof(sub));
        if (!b) {
            fail(err, errlen, path, "backing file: %s", sub);
            return -ENOENT;
        }
        bfmt = blockdev_format(b);
        if (!size_bytes)
            size_bytes = blockdev_sectors(b) * BLOCKDEV_SECTOR;
        blockdev_close(b);
    }
    const uint32_t cb = 16;
    const uint64_t cs = 1ULL << cb;
    uint64_t span = cs << (cb - 3);   /* guest bytes per L1 entry */
    if (!size_bytes || size_bytes % BLOCKDEV_SECTOR || size_bytes > MAX_HOST_OFFSET ||
        (size_bytes + span - 1) / span > MAX_L1_BYTES / 8) {
        fail(err, errlen, path, "bad size %llu (a non-zero multiple of 512 up to 2^56)",
             (unsigned long long)size_bytes);
        return -EINVAL;
    }
    uint32_t l1_size = (uint32_t)((size_bytes + span - 1) / span);
    uint64_t l1_clusters = ((uint64_t)l1_size * 8 + cs - 1) / cs;
    uint64_t nclusters = 3 + l1_clusters;   /* header, refcount table, block, L1 */

    uint8_t *buf = calloc(3, cs);
    if (!buf) {
        fail(err, errlen, path, "out of memory");
        return -ENOMEM;
    }
    uint8_t *h = buf;
    put32(h + HDR_MAGIC, QCOW2_MAGIC);
    put32(h + HDR_VERSION, 3);
    put32(h + HDR_CLUSTER_BITS, cb);
    put64(h + HDR_SIZE, size_bytes);
    put32(h + HDR_L1_SIZE, l1_size);
    put64(h + HDR_L1_TABLE_OFFSET, 3 * cs);
    put64(h + HDR_REFCOUNT_TABLE_OFFSET, cs);
    put32(h + HDR_REFCOUNT_TABLE_CLUSTERS, 1);
    put32(h + HDR_REFCOUNT_ORDER, 4);
    put32(h + HDR_HEADER_LENGTH, HDR_CREATE_LENGTH);   /* compression_type 0 = zlib */
    uint64_t o = HDR_CREATE_LENGTH;
    if (backing_path) {
        size_t fl = strlen(bfmt);
        put32(h + o, EXT_BACKING_FORMAT);
        put32(h + o + 4, (uint32_t)fl);
        memcpy(h + o + 8, bfmt, fl);
        o += 8 + ((fl + 7) & ~(size_t)7);
    }
    o += 8;   /* end-of-extensions marker (zeros) */
    if (backing_path) {
        memcpy(h + o, backing_path, blen);
        put64(h + HDR_BACKING_FILE_OFFSET, o);
        put32(h + HDR_BACKING_FILE_SIZE, (uint32_t)blen);
    }
    put64(buf + cs, 2 * cs);                 /* refcount table[0] -> block */
    for (uint64_t i = 0; i < nclusters; i++)  /* 16-bit refcounts, all 1 */
        put16(buf + 2 * cs + i * 2, 1);

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        int e = errno;
        fail(err, errlen, path, "cannot create: %s", strerror(e));
        free(buf);
        return -e;
    }
    int r = 0;
    const uint8_t *p = buf;
    uint64_t left = 3 * cs, off = 0;
    while (left && r == 0) {
        ssize_t n = pwrite(fd, p, left, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            r = n < 0 ? -errno : -EIO;
        else {
            p += n;
            off += (uint64_t)n;
            left -= (uint64_t)n;
        }
    }
    if (r == 0 && ftruncate(fd, (off_t)(nclusters * cs)) < 0)   /* zero L1 */
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    free(buf);
    if (r < 0) {
        fail(err, errlen, path, "cannot write: %s", strerror(-r));
        unlink(path);
    }
    return r;
}

/* ------------------------------------------------------------------------ */
/* Queries for disk snapshots                                               */

bool qcow2_empty(const Qcow2 *q)
{
    if (!q)
        return false;
    for (uint32_t i = 0; i < q->l1_size; i++)
        if (q->l1[i] & OFFSET_MASK)
            return false;
    return true;
}

const char *qcow2_backing_path(const Qcow2 *q) { return q ? q->backing_path : NULL; }

int qcow2_backing_file(const char *path, char *out, size_t outlen)
{
    if (!path || !out || !outlen)
        return -EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t h[24];
    int r = pread_full(fd, h, sizeof(h), 0);
    if (r < 0 || be32(h + HDR_MAGIC) != QCOW2_MAGIC) {
        close(fd);
        return r == -EIO ? 0 : (r < 0 ? r : 0);
    }
    uint64_t bfo = be64(h + HDR_BACKING_FILE_OFFSET);
    uint32_t bfs = be32(h + HDR_BACKING_FILE_SIZE);
    if (!bfo || !bfs) {
        close(fd);
        return 0;
    }
    char bname[MAX_BACKING_NAME + 1];
    if (bfs > MAX_BACKING_NAME || bfo > MAX_HOST_OFFSET) {
        close(fd);
        return -EINVAL;
    }
    r = pread_full(fd, bname, bfs, bfo);
    close(fd);
    if (r < 0)
        return r;
    bname[bfs] = 0;
    if (memchr(bname, 0, bfs))
        return -EINVAL;
    const char *slash = strrchr(path, '/');
    int n;
    if (bname[0] == '/' || !slash)
        n = snprintf(out, outlen, "%s", bname);
    else
        n = snprintf(out, outlen, "%.*s/%s", (int)(slash - path), path, bname);
    return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 1;
}
