/*
 * snapshot.c - whole-machine snapshot files, savevm/loadvm/delvm/info
 * snapshots on a directory, and the -loadvm / -snapshot-dir / -savevm-at
 * command-line flags.  The file format is described in snapshot.h.
 *
 * The machine's components are reached through pc_foreach_state() (each a
 * StateDesc table walked by devices/state.c), RAM through the PhysMem and
 * VGA memory through vga_vram()/vga_vram_load(); pc_post_load() rebuilds
 * the board's derived state.  This file includes devices/pc_internal.h
 * for the board's configuration (RAM size, APIC, VGA, drives) and clock.
 *
 * Loading is all-or-nothing (see snapshot.h): parse and check the whole
 * file, decompress memory into staging buffers, take an in-memory copy of
 * every live section, load the file's sections, and on any refusal load
 * the copy back.
 */
#include "frontend/snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "devices/pc_internal.h"
#include "devices/qcow2.h"

#ifndef VESSEL_VERSION
#define VESSEL_VERSION "0.1.0"
#endif

#include "frontend/snapshot_internal.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int snap_fail(Err *e, int code, const char *fmt, ...)
{
    if (e->code)
        return e->code; /* keep the first, most precise message */
    e->code = code;
    if (e->buf && e->len) {
        int n = snprintf(e->buf, e->len, "%s: ", e->file ? e->file : "snapshot");
        if (n < 0 || (size_t)n >= e->len)
            n = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ------------------------------------------------------------------------ */
/* The machine's sections                                                   */

typedef struct Sec {
    const StateDesc *desc;
    void *opaque;
} Sec;

typedef struct SecList {
    Sec s[SNAP_MAX_SECTIONS];
    int n;
    bool overflow;
} SecList;

static void collect_cb(void *ctx, const StateDesc *d, void *opaque)
{
    SecList *l = ctx;
    if (l->n >= SNAP_MAX_SECTIONS) {
        l->overflow = true;
        return;
    }
    l->s[l->n].desc = d;
    l->s[l->n].opaque = opaque;
    l->n++;
}

static void collect(PcMachine *pc, SecList *l)
{
    memset(l, 0, sizeof(*l));
    pc_foreach_state(pc, collect_cb, l);
}

/* ------------------------------------------------------------------------ */
/* Little-endian writer (to a FILE or a growing buffer), with a running CRC */

typedef struct Wr {
    FILE *f;
    uint8_t *mem;
    size_t len, cap;
    uLong crc;
    uint64_t pos;
    int err_no;      /* nonzero: a write failed (errno, or ENOMEM) */
} Wr;

static void crc_update(uLong *crc, const uint8_t *p, size_t n)
{
    while (n) {
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        *crc = crc32(*crc, p, k);
        p += k;
        n -= k;
    }
}

/* Append n bytes whose CRC-32 the caller already knows. */
static void wr_bytes_crc(Wr *w, const void *p, size_t n, uint32_t crc)
{
    if (w->err_no || n == 0)
        return;
    w->crc = crc32_combine(w->crc, crc, (z_off_t)n);
    if (w->f) {
        if (fwrite(p, 1, n, w->f) != n) {
            w->err_no = errno ? errno : EIO;
            return;
        }
    } else {
        if (n > w->cap - w->len) {
            size_t cap = w->cap ? w->cap : 65536;
            while (n > cap - w->len) {
                if (cap > SIZE_MAX / 2) {
                    w->err_no = ENOMEM;
                    return;
                }
                cap *= 2;
            }
            uint8_t *m = realloc(w->mem, cap);
            if (!m) {
                w->err_no = ENOMEM;
                return;
            }
            w->mem = m;
            w->cap = cap;
        }
        memcpy(w->mem + w->len, p, n);
        w->len += n;
    }
    w->pos += n;
}

static void wr_bytes(Wr *w, const void *p, size_t n)
{
    if (w->err_no || n == 0)
        return;
    uLong c = crc32(0L, Z_NULL, 0);
    crc_update(&c, p, n);
    wr_bytes_crc(w, p, n, (uint32_t)c);
}

static void wr_le(Wr *w, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned k = 0; k < n; k++)
        b[k] = (uint8_t)(v >> (8 * k));
    wr_bytes(w, b, n);
}
static void wr_u8(Wr *w, uint8_t v) { wr_le(w, v, 1); }
static void wr_u16(Wr *w, uint16_t v) { wr_le(w, v, 2); }
static void wr_u32(Wr *w, uint32_t v) { wr_le(w, v, 4); }
static void wr_u64(Wr *w, uint64_t v) { wr_le(w, v, 8); }
static void wr_str(Wr *w, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 0xFFFF)
        n = 0xFFFF;
    wr_u16(w, (uint16_t)n);
    wr_bytes(w, s, n);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < n; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    crc_update(&c, p, n);
    return (uint32_t)c;
}

/* ------------------------------------------------------------------------ */
/* Progress on the terminal for saves and loads longer than a second        */

static struct {
    const char *what;
    double t0, last;
    uint64_t total, done;
    bool shown;
} g_prog;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start counting: total = guest RAM plus VGA memory. */
static void progress_begin(const char *what, PcMachine *pc)
{
    size_t vlen = 0;
    if (pc->vga)
        (void)vga_vram(pc->vga, &vlen);
    g_prog.what = what;
    g_prog.t0 = g_prog.last = mono_s();
    g_prog.total = pc->pm.ram_size + vlen;
    g_prog.done = 0;
    g_prog.shown = false;
}

/* n more bytes of memory done; after one second, a line on stderr updated
 * about 4 times a second (VESSEL_SNAPSHOT_PROGRESS=1 shows it at once). */
static void progress_add(uint64_t n)
{
    if (!g_prog.what)
        return;
    g_prog.done += n;
    double now = mono_s();
    static int force = -1;
    if (force < 0)
        force = getenv("VESSEL_SNAPSHOT_PROGRESS") != NULL;
    if ((now - g_prog.t0 < 1.0 && !force) || (g_prog.shown && now - g_prog.last < 0.25))
        return;
    g_prog.last = now;
    g_prog.shown = true;
    unsigned pct = g_prog.total ? (unsigned)(g_prog.done * 100 / g_prog.total) : 100;
    fprintf(stderr, "\rvessel: %s: %3u%% of %" PRIu64 " MiB, %.1f s", g_prog.what, pct > 100 ? 100 : pct,
            g_prog.total >> 20, now - g_prog.t0);
    fflush(stderr);
}

static void progress_end(void)
{
    if (g_prog.shown)
        fprintf(stderr, "\rvessel: %s: 100%% of %" PRIu64 " MiB, %.1f s\r\n", g_prog.what,
                g_prog.total >> 20, mono_s() - g_prog.t0);
    g_prog.what = NULL;
    g_prog.shown = false;
}

/* Phase timing of a save (VESSEL_SNAPSHOT_TIMING=1: one line on stderr). */
static struct {
    double t0, last, cpu0, acc[16];
    const char *name[16];
    int n;
} g_tm;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tm_begin(void)
{
    g_tm.n = 0;
    g_tm.t0 = g_tm.last = mono_s();
    g_tm.cpu0 = cpu_s();
}

/* Charge the time since the previous mark to phase `name`. */
static void tm_mark(const char *name)
{
    double now = mono_s();
    int i;
    for (i = 0; i < g_tm.n; i++)
        if (!strcmp(g_tm.name[i], name))
            break;
    if (i == g_tm.n && g_tm.n < 16) {
        g_tm.name[g_tm.n] = name;
        g_tm.acc[g_tm.n++] = 0;
    }
    if (i < 16)
        g_tm.acc[i] += now - g_tm.last;
    g_tm.last = now;
}

static void tm_end(const char *what)
{
    if (!getenv("VESSEL_SNAPSHOT_TIMING"))
        return;
    fprintf(stderr, "vessel: %s timing: total %.1f ms (process CPU %.1f ms):", what,
            (mono_s() - g_tm.t0) * 1e3, (cpu_s() - g_tm.cpu0) * 1e3);
    for (int i = 0; i < g_tm.n; i++)
        fprintf(stderr, " %s %.1f", g_tm.name[i], g_tm.acc[i] * 1e3);
    fprintf(stderr, "\r\n");
}

/* ------------------------------------------------------------------------ */
/* Save                                                                     */

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[SNAP_PAGE];
    return memcmp(p, zero, SNAP_PAGE) == 0;
}

/* Guest memory the guest never touched must not be faulted in just to find
 * it is zero (on a VM host that costs ~7 us a page: seconds per GiB).  On
 * Linux, a page of a private anonymous mapping (what calloc returns) that
 * /proc/self/pagemap reports neither present nor swapped was never written
 * since it was mapped or discarded, so it reads as zero.  Anything else
 * (no /proc, a shared or file mapping, swapped pages) is read as usual. */
static bool region_private_anon(const uint8_t *mem, uint64_t size)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    uintptr_t lo = (uintptr_t)mem, hi = lo + (uintptr_t)size, covered = lo;
    char line[512];
    bool ok = true;
    while (ok && covered < hi && fgets(line, sizeof(line), f)) {
        unsigned long a, b, ino;
        char perms[8], path[256] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %255s", &a, &b, perms, &ino, path) < 4)
            continue;
        if (b <= covered || a > covered)
            continue;
        /* This mapping covers [covered, b). */
        ok = perms[0] == 'r' && perms[3] == 'p' && ino == 0 &&
             (path[0] == 0 || !strcmp(path, "[heap]"));
        covered = b;
    }
    fclose(f);
    return ok && covered >= hi;
}

/* untouched[i]: guest page i of the n at mem is certainly zero without
 * reading it.  Returns false (nothing known) if pagemap is unusable. */
static int g_pagemap_fd = -1;
static long g_host_page;
static pthread_once_t g_pagemap_once = PTHREAD_ONCE_INIT;

static void pagemap_open(void)
{
    g_pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    g_host_page = sysconf(_SC_PAGESIZE);
}

/* (Thread-safe: the save's compression workers call it.) */
static bool probe_untouched(const uint8_t *mem, unsigned n, bool *untouched)
{
    (void)pthread_once(&g_pagemap_once, pagemap_open);
    int fd = g_pagemap_fd;
    long hp = g_host_page;
    if (fd < 0 || hp <= 0 || n == 0)
        return false;
    uint64_t ent[SNAP_CHUNK_PAGES + 2];
    uintptr_t first = (uintptr_t)mem / (uintptr_t)hp;
    uintptr_t last = ((uintptr_t)mem + (uintptr_t)n * SNAP_PAGE - 1) / (uintptr_t)hp;
    size_t cnt = last - first + 1;
    if (cnt > sizeof(ent) / sizeof(ent[0]))
        return false;
    if (pread(fd, ent, cnt * 8, (off_t)(first * 8)) != (ssize_t)(cnt * 8))
        return false;
    for (unsigned i = 0; i < n; i++) {
        uintptr_t a = ((uintptr_t)mem + (uintptr_t)i * SNAP_PAGE) / (uintptr_t)hp - first;
        uintptr_t b = ((uintptr_t)mem + (uintptr_t)i * SNAP_PAGE + SNAP_PAGE - 1) / (uintptr_t)hp -
                      first;
        bool u = true;
        for (uintptr_t k = a; k <= b; k++)
            if (ent[k] & (3ull << 62)) /* present or swapped */
                u = false;
        untouched[i] = u;
    }
    return true;
}

/* Chunks are deflated at level 1; a chunk whose first 64 KiB of non-zero
 * pages do not shrink by 10% (encrypted or already compressed guest data,
 * where deflate is slowest and gains nothing) is stored instead (level 0:
 * still a zlib stream, so the reader does not care).  The sample is the
 * start of the chunk's own level-1 stream, ended by a sync flush, so a
 * chunk that compresses is deflated only once.  Pages are fed to zlib
 * straight from guest memory (the machine is paused): no copy.
 *
 * The chunks are independent zlib streams, so a small pool of worker
 * threads (2-4, plus the saving thread while it waits) scans and deflates
 * them in parallel, each into a complete chunk record (bitmap, lengths,
 * CRC, data) together with the CRC-32 of that record; the saving thread
 * writes the records in chunk order and folds their CRCs into the file's
 * running CRC with crc32_combine().  The bytes written do not depend on
 * the number of workers or on their timing. */
#define SNAP_SAMPLE (64u * 1024)
#define SNAP_REC_HDR (SNAP_BITMAP + 12) /* bitmap, raw length, compressed length, CRC */
#define SNAP_MAX_WORKERS 4

/* Worker count: VESSEL_SNAPSHOT_THREADS (0-4; 0 = the saving thread alone),
 * else the online CPUs clamped to 2-4.  Tests may set g_snap_threads. */
static int g_snap_threads = -1;
/* Tests: the chunk whose compression fails as if zlib had refused (-1: none). */
static int64_t g_snap_fail_chunk = -1;

static int snap_workers(void)
{
    if (g_snap_threads >= 0)
        return g_snap_threads > SNAP_MAX_WORKERS ? SNAP_MAX_WORKERS : g_snap_threads;
    const char *s = getenv("VESSEL_SNAPSHOT_THREADS");
    if (s && *s >= '0' && *s <= '9' && !s[1])
        return *s - '0' > SNAP_MAX_WORKERS ? SNAP_MAX_WORKERS : *s - '0';
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : n > SNAP_MAX_WORKERS ? SNAP_MAX_WORKERS : (int)n;
}

typedef enum { JOB_FREE, JOB_READY, JOB_BUSY, JOB_DONE } JobState;

/* One chunk of the memory record being saved. */
typedef struct SnapJob {
    JobState state;
    uint64_t chunk;   /* index in the record */
    uint8_t *rec;     /* the chunk record: SNAP_REC_HDR + compressed bytes */
    size_t rec_len;
    uint32_t rec_crc; /* CRC-32 of those rec_len bytes */
    bool failed;      /* zlib refused */
} SnapJob;

typedef struct SnapPool SnapPool;

typedef struct SnapWorker {
    SnapPool *pool;
    z_stream zs[2]; /* [0] level 0 (store), [1] level 1 */
    bool zinit[2];
} SnapWorker;

/* The compression pool of one save (pool_new .. pool_free). */
struct SnapPool {
    pthread_mutex_t mu;
    pthread_cond_t work; /* to workers: a job is READY, or quit */
    pthread_cond_t done; /* to the saving thread: a job is DONE */
    bool sync_init;
    bool quit;
    pthread_t th[SNAP_MAX_WORKERS];
    int nthreads;                      /* workers running */
    SnapWorker w[SNAP_MAX_WORKERS + 1]; /* [nthreads..]: the saving thread's */
    int nw;                            /* stream pairs initialised */
    /* The memory record being saved (set while no job is outstanding). */
    const uint8_t *mem;
    uint64_t size;
    bool probe;
    /* Ring of jobs: chunk c in slot c % nslots. */
    SnapJob *job;
    unsigned nslots;
    uint64_t next_take;   /* next chunk a compressor takes */
    uint64_t next_submit; /* chunks below this are submitted */
    size_t rec_cap;
};

/* Deflate the n pages pg[] into out (cap bytes) as one zlib stream, level 1
 * or, when the sample does not compress, level 0.  Returns the compressed
 * length, or -1. */
static long deflate_pages(SnapWorker *w, const uint8_t *const *pg, unsigned n, uint8_t *out,
                          size_t cap)
{
    unsigned sample = (uint64_t)n * SNAP_PAGE > SNAP_SAMPLE ? SNAP_SAMPLE / SNAP_PAGE : 0;
    for (int level = 1; level >= 0; level--) {
        z_stream *z = &w->zs[level];
        if (deflateReset(z) != Z_OK)
            return -1;
        z->next_out = out;
        z->avail_out = (uInt)cap;
        bool poor = false;
        int zr = Z_OK;
        for (unsigned i = 0; i < n; i++) {
            z->next_in = (Bytef *)pg[i];
            z->avail_in = SNAP_PAGE;
            int flush = i + 1 == n ? Z_FINISH : (level && i + 1 == sample) ? Z_SYNC_FLUSH : Z_NO_FLUSH;
            zr = deflate(z, flush);
            if (zr == Z_STREAM_ERROR || z->avail_in != 0)
                return -1;
            if (flush == Z_SYNC_FLUSH && z->total_out > SNAP_SAMPLE / 10 * 9) {
                poor = true;
                break;
            }
        }
        if (poor)
            continue;
        if (zr != Z_STREAM_END)
            return -1;
        return (long)z->total_out;
    }
    return -1;
}

/* Scan chunk j->chunk of the pool's memory for non-zero pages and build its
 * record (any thread). */
static void chunk_compress(SnapPool *p, SnapWorker *w, SnapJob *j)
{
    uint64_t off = j->chunk * SNAP_CHUNK;
    uint64_t clen = p->size - off < SNAP_CHUNK ? p->size - off : SNAP_CHUNK;
    unsigned pages = (unsigned)(clen / SNAP_PAGE);
    const uint8_t *mem = p->mem + off;
    bool untouched[SNAP_CHUNK_PAGES];
    const uint8_t *pg[SNAP_CHUNK_PAGES];
    bool known = p->probe && probe_untouched(mem, pages, untouched);
    uint8_t *hdr = j->rec;
    memset(hdr, 0, SNAP_BITMAP);
    unsigned count = 0;
    for (unsigned i = 0; i < pages; i++) {
        const uint8_t *q = mem + (uint64_t)i * SNAP_PAGE;
        if ((known && untouched[i]) || page_is_zero(q))
            continue;
        hdr[i / 8] |= (uint8_t)(1u << (i % 8));
        pg[count++] = q;
    }
    uint8_t *comp = j->rec + SNAP_REC_HDR;
    long comp_len = 0;
    j->failed = false;
    if (count) {
        comp_len = deflate_pages(w, pg, count, comp, p->rec_cap - SNAP_REC_HDR);
        if (comp_len < 0 || (int64_t)j->chunk == g_snap_fail_chunk) {
            j->failed = true;
            comp_len = 0;
        }
    }
    put_le32(hdr + SNAP_BITMAP, count * SNAP_PAGE);
    put_le32(hdr + SNAP_BITMAP + 4, (uint32_t)comp_len);
    /* One pass over the data: the chunk CRC (bitmap, lengths, data) and
     * the record's CRC (the same with the chunk CRC before the data). */
    uLong c_hdr = crc32(crc32(0L, Z_NULL, 0), hdr, SNAP_BITMAP + 8);
    uLong c_data = crc32(0L, Z_NULL, 0);
    crc_update(&c_data, comp, (size_t)comp_len);
    uint32_t ccrc = (uint32_t)crc32_combine(c_hdr, c_data, (z_off_t)comp_len);
    put_le32(hdr + SNAP_BITMAP + 8, ccrc);
    uLong c_head = crc32(c_hdr, hdr + SNAP_BITMAP + 8, 4);
    j->rec_crc = (uint32_t)crc32_combine(c_head, c_data, (z_off_t)comp_len);
    j->rec_len = SNAP_REC_HDR + (size_t)comp_len;
}

static void *pool_worker(void *arg)
{
    SnapWorker *w = arg;
    SnapPool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->next_take >= p->next_submit)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->quit)
            break;
        SnapJob *j = &p->job[p->next_take % p->nslots];
        p->next_take++;
        j->state = JOB_BUSY;
        pthread_mutex_unlock(&p->mu);
        chunk_compress(p, w, j);
        pthread_mutex_lock(&p->mu);
        j->state = JOB_DONE;
        pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Stop and join the workers, free everything (NULL: nothing). */
static void pool_free(SnapPool *p)
{
    if (!p)
        return;
    if (p->sync_init) {
        pthread_mutex_lock(&p->mu);
        p->quit = true;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (int k = 0; k < p->nthreads; k++)
            pthread_join(p->th[k], NULL);
        pthread_cond_destroy(&p->done);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
    }
    for (int k = 0; k < SNAP_MAX_WORKERS + 1; k++)
        for (int l = 0; l < 2; l++)
            if (p->w[k].zinit[l])
                deflateEnd(&p->w[k].zs[l]);
    if (p->job)
        for (unsigned i = 0; i < p->nslots; i++)
            free(p->job[i].rec);
    free(p->job);
    free(p);
}

/* A pool with snap_workers() threads (fewer if threads cannot be made:
 * the saving thread compresses too, so even none works). */
static int pool_new(SnapPool **out, Err *e)
{
    *out = NULL;
    SnapPool *p = calloc(1, sizeof(*p));
    if (!p)
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    int want = snap_workers();
    size_t bound = 0;
    for (int k = 0; k <= want; k++) {
        p->w[k].pool = p;
        for (int l = 0; l < 2; l++) {
            if (deflateInit(&p->w[k].zs[l], l ? Z_BEST_SPEED : Z_NO_COMPRESSION) != Z_OK) {
                pool_free(p);
                return snap_fail(e, SNAP_ERR_NOMEM, "zlib: deflateInit failed");
            }
            p->w[k].zinit[l] = true;
            size_t b = deflateBound(&p->w[k].zs[l], SNAP_CHUNK);
            if (b > bound)
                bound = b;
        }
    }
    /* + room for the sample's sync flush marker */
    p->rec_cap = SNAP_REC_HDR + bound + 64;
    p->nslots = 2u * (unsigned)(want + 1) + 2u;
    p->job = calloc(p->nslots, sizeof(*p->job));
    if (!p->job) {
        pool_free(p);
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    }
    for (unsigned i = 0; i < p->nslots; i++) {
        p->job[i].rec = malloc(p->rec_cap);
        if (!p->job[i].rec) {
            pool_free(p);
            return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
        }
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        pool_free(p);
        return snap_fail(e, SNAP_ERR_NOMEM, "cannot create a mutex");
    }
    if (pthread_cond_init(&p->work, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        pool_free(p);
        return snap_fail(e, SNAP_ERR_NOMEM, "cannot create a condition variable");
    }
    if (pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        pool_free(p);
        return snap_fail(e, SNAP_ERR_NOMEM, "cannot create a condition variable");
    }
    p->sync_init = true;
    /* Workers never take the process's signals (SIGINT, SIGTERM). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int k = 0; k < want; k++) {
        if (pthread_create(&p->th[k], NULL, pool_worker, &p->w[k]) != 0)
            break; /* fewer workers; the saving thread compresses as well */
        p->nthreads = k + 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *out = p;
    return 0;
}

/* A memory record: tag, size, chunk size, chunk count, then the chunks. */
static int write_memory(Wr *w, SnapPool *p, const char tag[4], const uint8_t *mem, uint64_t size,
                        Err *e)
{
    uint64_t nchunks = (size + SNAP_CHUNK - 1) / SNAP_CHUNK;
    wr_bytes(w, tag, 4);
    wr_u64(w, size);
    wr_u32(w, SNAP_CHUNK);
    wr_u32(w, (uint32_t)nchunks);
    bool probe = region_private_anon(mem, size);
    SnapWorker *self = &p->w[p->nthreads];
    int ret = 0;
    pthread_mutex_lock(&p->mu);
    p->mem = mem;
    p->size = size;
    p->probe = probe;
    p->next_take = p->next_submit = 0;
    for (uint64_t c = 0; c < nchunks && !ret && !w->err_no; c++) {
        /* Keep the ring full. */
        bool more = false;
        while (p->next_submit < nchunks && p->next_submit - c < p->nslots) {
            SnapJob *j = &p->job[p->next_submit % p->nslots];
            j->chunk = p->next_submit++;
            j->state = JOB_READY;
            more = true;
        }
        if (more)
            pthread_cond_broadcast(&p->work);
        /* Wait for chunk c, compressing others meanwhile. */
        SnapJob *j = &p->job[c % p->nslots];
        while (j->state != JOB_DONE) {
            if (p->next_take < p->next_submit) {
                SnapJob *o = &p->job[p->next_take % p->nslots];
                p->next_take++;
                o->state = JOB_BUSY;
                pthread_mutex_unlock(&p->mu);
                chunk_compress(p, self, o);
                pthread_mutex_lock(&p->mu);
                o->state = JOB_DONE;
            } else {
                pthread_cond_wait(&p->done, &p->mu);
            }
        }
        pthread_mutex_unlock(&p->mu);
        tm_mark("compress");
        if (j->failed) {
            ret = snap_fail(e, SNAP_ERR_IO, "zlib: deflate failed");
        } else {
            uint64_t clen = size - c * SNAP_CHUNK < SNAP_CHUNK ? size - c * SNAP_CHUNK : SNAP_CHUNK;
            progress_add(clen);
            wr_bytes_crc(w, j->rec, j->rec_len, j->rec_crc);
        }
        tm_mark("write");
        pthread_mutex_lock(&p->mu);
        j->state = JOB_FREE;
    }
    /* Let the workers finish what they took (on an error, the rest is
     * dropped) so the pool is idle for the next record or pool_free. */
    p->next_submit = p->next_take;
    for (unsigned i = 0; i < p->nslots; i++) {
        while (p->job[i].state == JOB_BUSY)
            pthread_cond_wait(&p->done, &p->mu);
        p->job[i].state = JOB_FREE;
    }
    pthread_mutex_unlock(&p->mu);
    return ret;
}

static int save_stream(PcMachine *pc, Wr *w, Err *e, const DrivePlan *plan)
{
    SecList l;
    collect(pc, &l);
    if (l.overflow)
        return snap_fail(e, SNAP_ERR_IO, "internal error: more than %d sections", SNAP_MAX_SECTIONS);
    DriveFp *fp = calloc(4, sizeof(*fp));
    if (!fp)
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    if (drive_fingerprints(pc, fp, e) < 0) {
        free(fp);
        return e->code;
    }
    plan_apply_fp(plan, fp);
    /* Bring every section's saved fields up to date first (the virtual
     * clock folds elapsed time), so the header's clock is the same instant. */
    for (int i = 0; i < l.n; i++)
        if (l.s[i].desc->pre_save)
            l.s[i].desc->pre_save(l.s[i].opaque);

    /* Header, built in memory for its length and CRC. */
    Wr h = { 0 };
    h.crc = crc32(0L, Z_NULL, 0);
    wr_bytes(&h, SNAP_MAGIC, 8);
    wr_u32(&h, SNAPSHOT_FORMAT_VERSION);
    wr_u32(&h, 0); /* header length, patched below */
    wr_str(&h, VESSEL_VERSION);
    wr_u64(&h, (uint64_t)time(NULL));
    wr_u64(&h, pc->pm.ram_size);
    wr_str(&h, SNAP_CPU_MODEL);
    wr_u32(&h, (pc->apic ? FLAG_APIC : 0) | (pc->vga ? FLAG_VGA : 0) |
                   (pc->cfg.icount ? FLAG_ICOUNT : 0));
    wr_u32(&h, (uint32_t)pc->cfg.icount_shift);
    wr_u64(&h, (uint64_t)vclock_now(&pc->clk));
    wr_u64(&h, pc_icount(pc));
    wr_u16(&h, (uint16_t)l.n);
    for (int i = 0; i < l.n; i++) {
        wr_str(&h, l.s[i].desc->name);
        wr_u16(&h, l.s[i].desc->version);
    }
    uint8_t nd = 0;
    for (int d = 0; d < 4; d++)
        nd += fp[d].present;
    wr_u8(&h, nd);
    for (int d = 0; d < 4; d++) {
        if (!fp[d].present)
            continue;
        wr_u8(&h, (uint8_t)d);
        wr_u8(&h, fp[d].kind);
        wr_u8(&h, fp[d].medium);
        wr_str(&h, fp[d].path);
        wr_u64(&h, fp[d].size);
        wr_u64(&h, (uint64_t)fp[d].mtime_ns);
        wr_u32(&h, fp[d].crc);
        wr_u8(&h, fp[d].mode);
        wr_str(&h, fp[d].mode == DISK_FROZEN ? fp[d].frozen : "");
        wr_str(&h, fp[d].mode == DISK_FROZEN ? fp[d].frozen_fmt : "");
    }
    free(fp);
    if (h.err_no) {
        free(h.mem);
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    }
    put_le32(h.mem + 12, (uint32_t)(h.len + 4));
    uint32_t hcrc = crc_of(h.mem, h.len);
    wr_bytes(w, h.mem, h.len);
    wr_u32(w, hcrc);
    free(h.mem);

    /* Sections. */
    for (int i = 0; i < l.n && !w->err_no; i++) {
        const StateDesc *d = l.s[i].desc;
        long need = state_save(d, l.s[i].opaque, NULL, 0);
        if (need < 0)
            return snap_fail(e, SNAP_ERR_IO, "section '%s': cannot serialise", d->name);
        uint8_t *buf = malloc(need ? (size_t)need : 1);
        if (!buf)
            return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
        if (state_save(d, l.s[i].opaque, buf, (size_t)need) != need) {
            free(buf);
            return snap_fail(e, SNAP_ERR_IO, "section '%s': cannot serialise", d->name);
        }
        wr_bytes(w, "SECT", 4);
        wr_str(w, d->name);
        wr_u16(w, d->version);
        wr_u32(w, (uint32_t)need);
        wr_u32(w, crc_of(buf, (size_t)need));
        wr_bytes(w, buf, (size_t)need);
        free(buf);
    }

    tm_mark("header+sections");
    /* Memory: compressed by a few worker threads, written here in order. */
    SnapPool *pool = NULL;
    int r = pool_new(&pool, e);
    if (r == 0)
        r = write_memory(w, pool, "RAM ", pc->pm.ram, pc->pm.ram_size, e);
    if (r == 0 && pc->vga) {
        size_t vlen = 0;
        const uint8_t *vram = vga_vram(pc->vga, &vlen);
        r = write_memory(w, pool, "VRAM", vram, vlen, e);
    }
    pool_free(pool);
    if (r < 0)
        return r;

    /* End marker: length of the whole file, CRC of everything before. */
    wr_bytes(w, "END!", 4);
    wr_u64(w, w->pos + 8 + 4);
    wr_u32(w, (uint32_t)w->crc);
    if (w->err_no)
        return snap_fail(e, w->err_no == ENOMEM ? SNAP_ERR_NOMEM : SNAP_ERR_IO, "write error: %s",
                         strerror(w->err_no));
    return 0;
}

/* Time stands still while the machine is saved or loaded (HOST mode). */
static bool clock_hold(PcMachine *pc)
{
    bool was = pc->clk.paused_at_ns >= 0;
    vclock_pause(&pc->clk);
    return was;
}

static void clock_release(PcMachine *pc, bool was_paused)
{
    if (!was_paused)
        vclock_resume(&pc->clk);
}

int snapshot_save_mem(PcMachine *pc, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    Err e = { err, errlen, "<memory>", 0 };
    if (err && errlen)
        err[0] = 0;
    Wr w = { 0 };
    w.crc = crc32(0L, Z_NULL, 0);
    bool was = clock_hold(pc);
    int r = save_stream(pc, &w, &e, NULL);
    clock_release(pc, was);
    if (r < 0) {
        free(w.mem);
        *buf = NULL;
        *len = 0;
        return r;
    }
    *buf = w.mem;
    *len = w.len;
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char dir[SNAP_MAX_PATH];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof(dir), ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Save to path; with disks (plan not NULL) the writable hard disks are
 * frozen and switch to new overlays once the file is in place. */
static int save_file(PcMachine *pc, const char *path, DrivePlan *plan, Err *e)
{
    if (!path || !*path)
        return snap_fail(e, SNAP_ERR_ARG, "no file name");
    char tmp[SNAP_MAX_PATH + 8];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return snap_fail(e, SNAP_ERR_ARG, "file name too long");
    bool was = clock_hold(pc);
    int r = 0;
    tm_begin();
    if (plan) {
        plan->snapfile = path;
        r = plan_prepare_save(pc, plan, e);
        tm_mark("disk-prepare");
        if (r < 0) {
            plan_rollback(plan);
            clock_release(pc, was);
            return r;
        }
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = snap_fail(e, SNAP_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        plan_rollback(plan);
        clock_release(pc, was);
        return r;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        r = snap_fail(e, SNAP_ERR_IO, "cannot open '%s': %s", tmp, strerror(errno));
        plan_rollback(plan);
        clock_release(pc, was);
        return r;
    }
    Wr w = { 0 };
    w.f = f;
    w.crc = crc32(0L, Z_NULL, 0);
    progress_begin("savevm", pc);
    tm_mark("open");
    r = save_stream(pc, &w, e, plan);
    progress_end();
    if (r == 0 && fflush(f) != 0)
        r = snap_fail(e, SNAP_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    tm_mark("write");
    if (r == 0 && fsync(fileno(f)) != 0)
        r = snap_fail(e, SNAP_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    tm_mark("fsync");
    if (fclose(f) != 0 && r == 0)
        r = snap_fail(e, SNAP_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    for (int d = 0; r == 0 && plan && d < 4; d++)
        if (plan->frozen[d])
            r = freeze_chain(plan, d, e);
    if (r == 0 && rename(tmp, path) != 0)
        r = snap_fail(e, SNAP_ERR_IO, "cannot rename '%s' to it: %s", tmp, strerror(errno));
    if (r < 0) {
        unlink(tmp);
        plan_rollback(plan);
        clock_release(pc, was);
        return r;
    }
    tm_mark("freeze+rename");
    fsync_dir_of(path);
    tm_mark("fsync-dir");
    plan_commit(pc, plan);
    tm_mark("disk-commit");
    tm_end("savevm");
    clock_release(pc, was);
    return 0;
}

int snapshot_save(PcMachine *pc, const char *path, char *err, size_t errlen)
{
    Err e = { err, errlen, path, 0 };
    if (err && errlen)
        err[0] = 0;
    DrivePlan *plan = calloc(1, sizeof(*plan));
    if (!plan)
        return snap_fail(&e, SNAP_ERR_NOMEM, "out of memory");
    int r = save_file(pc, path, plan, &e);
    if (r == 0 && plan->summary[0] && err && errlen)
        snprintf(err, errlen, "%s", plan->summary);
    free(plan);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Bounded reader                                                           */

typedef struct Rd {
    const uint8_t *p;
    size_t len, pos;
    Err *e;
} Rd;

static bool rd_need(Rd *r, size_t n, const char *what)
{
    if (n > r->len - r->pos) {
        snap_fail(r->e, SNAP_ERR_SIZE,
                  "truncated or damaged: %s needs %zu bytes at offset %zu, only %zu left", what, n,
                  r->pos, r->len - r->pos);
        return false;
    }
    return true;
}

static bool rd_le(Rd *r, uint64_t *v, unsigned n, const char *what)
{
    if (!rd_need(r, n, what))
        return false;
    *v = get_le(r->p + r->pos, n);
    r->pos += n;
    return true;
}

static bool rd_u8(Rd *r, uint8_t *v, const char *what)
{
    uint64_t x;
    if (!rd_le(r, &x, 1, what))
        return false;
    *v = (uint8_t)x;
    return true;
}
static bool rd_u16(Rd *r, uint16_t *v, const char *what)
{
    uint64_t x;
    if (!rd_le(r, &x, 2, what))
        return false;
    *v = (uint16_t)x;
    return true;
}
static bool rd_u32(Rd *r, uint32_t *v, const char *what)
{
    uint64_t x;
    if (!rd_le(r, &x, 4, what))
        return false;
    *v = (uint32_t)x;
    return true;
}
static bool rd_u64(Rd *r, uint64_t *v, const char *what) { return rd_le(r, v, 8, what); }

static bool rd_str(Rd *r, char *out, size_t cap, const char *what)
{
    uint16_t n;
    if (!rd_u16(r, &n, what) || !rd_need(r, n, what))
        return false;
    if ((size_t)n >= cap) {
        snap_fail(r->e, SNAP_ERR_SIZE, "%s at offset %zu: %u bytes long, at most %zu allowed", what,
                  r->pos - 2, n, cap - 1);
        return false;
    }
    if (memchr(r->p + r->pos, 0, n)) {
        snap_fail(r->e, SNAP_ERR_CORRUPT, "%s at offset %zu: contains a NUL byte", what, r->pos - 2);
        return false;
    }
    memcpy(out, r->p + r->pos, n);
    out[n] = 0;
    r->pos += n;
    return true;
}

static bool rd_tag(Rd *r, const char tag[4], const char *what)
{
    if (!rd_need(r, 4, what))
        return false;
    if (memcmp(r->p + r->pos, tag, 4)) {
        snap_fail(r->e, SNAP_ERR_CORRUPT, "%s: expected the marker '%.4s' at offset %zu", what, tag,
                  r->pos);
        return false;
    }
    r->pos += 4;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Header                                                                   */

typedef struct Hdr {
    uint32_t version;
    size_t header_len;
    char vessel[SNAP_MAX_NAME];
    uint64_t created;
    uint64_t ram_size;
    char cpu[SNAP_MAX_NAME];
    uint32_t flags, shift;
    uint64_t vtime_ns, icount;
    int nsec;
    struct {
        char name[SNAP_MAX_NAME];
        uint16_t version;
    } sec[SNAP_MAX_SECTIONS];
    DriveFp drive[4];
} Hdr;

/* Magic, format version, header length and CRC, then the fields. */
static int parse_header(Rd *r, Hdr *h)
{
    Err *e = r->e;
    if (r->len < 8 || memcmp(r->p, SNAP_MAGIC, 8))
        return snap_fail(e, SNAP_ERR_SIGNATURE, "not a vessel snapshot (no '%s' signature%s)",
                         SNAP_MAGIC, r->len < 8 ? ": file too short" : "");
    r->pos = 8;
    uint32_t hlen;
    if (!rd_u32(r, &h->version, "format version"))
        return e->code;
    if (h->version < SNAPSHOT_MIN_FORMAT_VERSION || h->version > SNAPSHOT_FORMAT_VERSION)
        return snap_fail(e, SNAP_ERR_VERSION,
                         "snapshot format version %u is not supported: this vessel reads version %u%s",
                         h->version, SNAPSHOT_FORMAT_VERSION,
                         h->version > SNAPSHOT_FORMAT_VERSION ? " (made by a newer vessel)" : "");
    if (!rd_u32(r, &hlen, "header length"))
        return e->code;
    if (hlen < 16 + 4 || hlen > SNAP_MAX_HEADER)
        return snap_fail(e, SNAP_ERR_SIZE, "header length %u is impossible", hlen);
    if (hlen > r->len)
        return snap_fail(e, SNAP_ERR_SIZE,
                         "truncated: the header is %u bytes but the file has only %zu", hlen, r->len);
    uint32_t stored = (uint32_t)get_le(r->p + hlen - 4, 4);
    uint32_t calc = crc_of(r->p, hlen - 4);
    if (stored != calc)
        return snap_fail(e, SNAP_ERR_CORRUPT,
                         "header CRC mismatch (stored %08x, computed %08x): the file is damaged",
                         stored, calc);
    h->header_len = hlen;
    Rd hr = { r->p, hlen - 4, r->pos, e }; /* bounded by the header */
    uint16_t nsec;
    uint8_t nd;
    if (!rd_str(&hr, h->vessel, sizeof(h->vessel), "header: vessel version") ||
        !rd_u64(&hr, &h->created, "header: creation time") ||
        !rd_u64(&hr, &h->ram_size, "header: RAM size") ||
        !rd_str(&hr, h->cpu, sizeof(h->cpu), "header: CPU model") ||
        !rd_u32(&hr, &h->flags, "header: flags") || !rd_u32(&hr, &h->shift, "header: icount shift") ||
        !rd_u64(&hr, &h->vtime_ns, "header: virtual time") ||
        !rd_u64(&hr, &h->icount, "header: instruction count") ||
        !rd_u16(&hr, &nsec, "header: section count"))
        return e->code;
    if (nsec == 0 || nsec > SNAP_MAX_SECTIONS)
        return snap_fail(e, SNAP_ERR_SIZE, "header: %u sections (1..%d possible)", nsec,
                         SNAP_MAX_SECTIONS);
    h->nsec = nsec;
    for (int i = 0; i < nsec; i++) {
        if (!rd_str(&hr, h->sec[i].name, sizeof(h->sec[i].name), "header: section name") ||
            !rd_u16(&hr, &h->sec[i].version, "header: section version"))
            return e->code;
        if (!h->sec[i].name[0])
            return snap_fail(e, SNAP_ERR_CORRUPT, "header: section %d has an empty name", i);
    }
    if (!rd_u8(&hr, &nd, "header: drive count"))
        return e->code;
    if (nd > 4)
        return snap_fail(e, SNAP_ERR_SIZE, "header: %u drives (at most 4)", nd);
    for (int k = 0; k < nd; k++) {
        uint8_t slot, kind, medium;
        uint64_t mt;
        if (!rd_u8(&hr, &slot, "header: drive slot"))
            return e->code;
        if (slot > 3 || h->drive[slot].present)
            return snap_fail(e, SNAP_ERR_CORRUPT, "header: drive slot %u invalid or repeated", slot);
        DriveFp *f = &h->drive[slot];
        if (!rd_u8(&hr, &kind, "header: drive kind") || !rd_u8(&hr, &medium, "header: drive medium") ||
            !rd_str(&hr, f->path, sizeof(f->path), "header: drive path") ||
            !rd_u64(&hr, &f->size, "header: drive size") || !rd_u64(&hr, &mt, "header: drive mtime") ||
            !rd_u32(&hr, &f->crc, "header: drive CRC"))
            return e->code;
        if ((kind != DRIVE_DISK && kind != DRIVE_CDROM) || medium > 1)
            return snap_fail(e, SNAP_ERR_CORRUPT, "header: drive %s has kind %u / medium %u",
                             drive_names[slot], kind, medium);
        if (h->version >= 2) {
            if (!rd_u8(&hr, &f->mode, "header: drive disk mode") ||
                !rd_str(&hr, f->frozen, sizeof(f->frozen), "header: drive frozen image") ||
                !rd_str(&hr, f->frozen_fmt, sizeof(f->frozen_fmt), "header: drive frozen format"))
                return e->code;
            if (f->mode > DISK_FROZEN ||
                (f->mode == DISK_FROZEN &&
                 (kind != DRIVE_DISK || !medium || !f->frozen[0] ||
                  (strcmp(f->frozen_fmt, "raw") && strcmp(f->frozen_fmt, "qcow2")))) ||
                (f->mode != DISK_FROZEN && (f->frozen[0] || f->frozen_fmt[0])))
                return snap_fail(e, SNAP_ERR_CORRUPT,
                                 "header: drive %s has an invalid disk record (mode %u, image '%s', "
                                 "format '%s')",
                                 drive_names[slot], f->mode, f->frozen, f->frozen_fmt);
        }
        f->present = true;
        f->kind = kind;
        f->medium = medium;
        f->mtime_ns = (int64_t)mt;
    }
    if (hr.pos != hr.len)
        return snap_fail(e, SNAP_ERR_CORRUPT, "header: %zu unexpected bytes at its end", hr.len - hr.pos);
    r->pos = hlen;
    return 0;
}

/* Section names a differently configured machine may have. */
static bool optional_section(const char *name)
{
    static const char *const opt[] = { "vga", "apic", "ioapic", "uart16550@3f8", "uart16550@2f8" };
    for (size_t k = 0; k < sizeof(opt) / sizeof(opt[0]); k++)
        if (!strcmp(name, opt[k]))
            return true;
    return false;
}

static int find_sec(const SecList *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->s[i].desc->name, name))
            return i;
    return -1;
}

static int hdr_find(const Hdr *h, const char *name)
{
    for (int i = 0; i < h->nsec; i++)
        if (!strcmp(h->sec[i].name, name))
            return i;
    return -1;
}

static int check_config(PcMachine *pc, const Hdr *h, const SecList *l, bool switch_disks, Err *e)
{
    if (h->ram_size != pc->pm.ram_size)
        return snap_fail(e, SNAP_ERR_CONFIG,
                         "made on a machine with %" PRIu64 " MiB of RAM, this one has %u MiB "
                         "(run with -m %" PRIu64 "M)",
                         h->ram_size >> 20, pc->pm.ram_size >> 20, h->ram_size >> 20);
    if (strcmp(h->cpu, SNAP_CPU_MODEL))
        return snap_fail(e, SNAP_ERR_CONFIG, "made with CPU model '%s', this machine has '%s'", h->cpu,
                         SNAP_CPU_MODEL);
    bool apic = h->flags & FLAG_APIC, vga = h->flags & FLAG_VGA;
    if (apic != (pc->apic != NULL))
        return snap_fail(e, SNAP_ERR_CONFIG,
                         "made with the local APIC and I/O APIC %s, this machine has them %s "
                         "(-machine apic=%s)",
                         apic ? "on" : "off", pc->apic ? "on" : "off", apic ? "on" : "off");
    if (vga != (pc->vga != NULL))
        return snap_fail(e, SNAP_ERR_CONFIG, "made %s a VGA, this machine has %s (-vga %s)",
                         vga ? "with" : "without", pc->vga ? "one" : "none", vga ? "std" : "none");
    /* Section list: same names, same order. */
    for (int i = 0; i < h->nsec; i++) {
        if (hdr_find(h, h->sec[i].name) != i)
            return snap_fail(e, SNAP_ERR_CORRUPT, "header: section '%s' listed twice", h->sec[i].name);
        if (find_sec(l, h->sec[i].name) < 0) {
            if (optional_section(h->sec[i].name))
                return snap_fail(e, SNAP_ERR_CONFIG,
                                 "made on a machine with device '%s', which this machine does not have "
                                 "(different device set)",
                                 h->sec[i].name);
            return snap_fail(e, SNAP_ERR_CONFIG,
                             "unknown section '%s': not a component of this vessel", h->sec[i].name);
        }
    }
    for (int i = 0; i < l->n; i++)
        if (hdr_find(h, l->s[i].desc->name) < 0)
            return snap_fail(e, SNAP_ERR_CONFIG,
                             "has no section '%s', a device this machine has (different device set)",
                             l->s[i].desc->name);
    for (int i = 0; i < h->nsec; i++)
        if (strcmp(h->sec[i].name, l->s[i].desc->name))
            return snap_fail(e, SNAP_ERR_CORRUPT, "sections in a different order ('%s' where '%s' belongs)",
                             h->sec[i].name, l->s[i].desc->name);
    for (int i = 0; i < h->nsec; i++) {
        const StateDesc *d = l->s[i].desc;
        uint16_t v = h->sec[i].version;
        if (v > d->version)
            return snap_fail(e, SNAP_ERR_VERSION,
                             "section '%s' version %u is newer than this vessel can load (%u..%u)",
                             d->name, v, d->min_version, d->version);
        if (v < d->min_version)
            return snap_fail(e, SNAP_ERR_VERSION,
                             "section '%s' version %u is older than this vessel can load (%u..%u)",
                             d->name, v, d->min_version, d->version);
    }
    /* Disks. */
    DriveFp *cur = calloc(4, sizeof(*cur));
    if (!cur)
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    int r = drive_fingerprints(pc, cur, e);
    for (int d = 0; d < 4 && r == 0; d++) {
        const DriveFp *s = &h->drive[d], *c = &cur[d];
        const char *nm = drive_names[d];
        const char *sp = s->path[0] ? s->path : "an image";
        if (s->present != c->present)
            r = snap_fail(e, SNAP_ERR_CONFIG, "drive %s: the snapshot was made %s, this machine has %s",
                          nm, s->present ? "with a drive there" : "without a drive there",
                          c->present ? "one" : "none");
        else if (!s->present)
            continue;
        else if (s->kind != c->kind)
            r = snap_fail(e, SNAP_ERR_CONFIG, "drive %s: the snapshot has a %s there, this machine a %s", nm,
                          s->kind == DRIVE_CDROM ? "CD-ROM" : "disk",
                          c->kind == DRIVE_CDROM ? "CD-ROM" : "disk");
        else if (s->medium != c->medium)
            r = snap_fail(e, SNAP_ERR_CONFIG, "drive %s: the snapshot was made %s medium, this machine has %s",
                          nm, s->medium ? "with a" : "with no", c->medium ? "one" : "none");
        else if (!s->medium)
            continue;
        else if (s->mode == DISK_FROZEN && switch_disks)
            continue; /* the drive switches to the frozen image: checked there */
        else if (s->size != c->size)
            r = snap_fail(e, SNAP_ERR_CONFIG,
                          "drive %s: the snapshot was made with %s of %" PRIu64
                          " bytes, this machine's image is %" PRIu64 " bytes",
                          nm, sp, s->size, c->size);
        else if (s->crc != c->crc)
            r = snap_fail(e, SNAP_ERR_CONFIG,
                          "drive %s: the image differs from the one the snapshot was made with (%s): "
                          "its first 64 KiB changed",
                          nm, sp);
        else if (s->mtime_ns && c->mtime_ns && s->mtime_ns != c->mtime_ns && strcmp(s->path, c->path))
            r = snap_fail(e, SNAP_ERR_CONFIG,
                          "drive %s: '%s' is not the image the snapshot was made with ('%s'; "
                          "same size and first 64 KiB, different mtime)",
                          nm, c->path, s->path);
        else if (s->mtime_ns && c->mtime_ns && s->mtime_ns != c->mtime_ns)
            r = snap_fail(e, SNAP_ERR_CONFIG,
                          "drive %s: image '%s' was modified after the snapshot was made (mtime differs); "
                          "disk contents are not part of a snapshot",
                          nm, c->path);
    }
    free(cur);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Memory records                                                           */

typedef struct Staged {
    uint8_t *data;      /* size bytes, calloc'd: untouched pages stay unbacked */
    uint8_t *nz;        /* per page: 1 = non-zero page in the file */
    uint64_t size;
} Staged;

static void staged_free(Staged *s)
{
    free(s->data);
    free(s->nz);
    memset(s, 0, sizeof(*s));
}

static int read_memory(Rd *r, const char tag[4], const char *what, uint64_t want, Staged *st,
                       uint8_t *scratch)
{
    Err *e = r->e;
    uint64_t size;
    uint32_t chunk, nchunks;
    if (!rd_tag(r, tag, what) || !rd_u64(r, &size, what) || !rd_u32(r, &chunk, what) ||
        !rd_u32(r, &nchunks, what))
        return e->code;
    if (size != want)
        return snap_fail(e, SNAP_ERR_CONFIG, "%s: %" PRIu64 " bytes in the file, this machine has %" PRIu64,
                         what, size, want);
    if (chunk != SNAP_CHUNK || (size % SNAP_PAGE) ||
        nchunks != (size + SNAP_CHUNK - 1) / SNAP_CHUNK)
        return snap_fail(e, SNAP_ERR_CORRUPT, "%s: chunk size %u / count %u do not fit %" PRIu64 " bytes",
                         what, chunk, nchunks, size);
    st->size = size;
    st->data = calloc(1, size ? (size_t)size : 1);
    st->nz = calloc(1, (size_t)(size / SNAP_PAGE) + 1);
    if (!st->data || !st->nz)
        return snap_fail(e, SNAP_ERR_NOMEM, "%s: out of memory for %" PRIu64 " bytes of staging", what,
                         size);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK)
        return snap_fail(e, SNAP_ERR_NOMEM, "zlib: inflateInit failed");
    int ret = 0;
    for (uint32_t c = 0; c < nchunks && ret == 0; c++) {
        uint64_t off = (uint64_t)c * SNAP_CHUNK;
        unsigned pages = (unsigned)((size - off < SNAP_CHUNK ? size - off : SNAP_CHUNK) / SNAP_PAGE);
        size_t at = r->pos;
        progress_add((uint64_t)pages * SNAP_PAGE);
        if (!rd_need(r, SNAP_BITMAP + 12, what)) {
            ret = e->code;
            break;
        }
        const uint8_t *bitmap = r->p + r->pos;
        uint32_t raw_len = (uint32_t)get_le(bitmap + SNAP_BITMAP, 4);
        uint32_t comp_len = (uint32_t)get_le(bitmap + SNAP_BITMAP + 4, 4);
        uint32_t crc = (uint32_t)get_le(bitmap + SNAP_BITMAP + 8, 4);
        r->pos += SNAP_BITMAP + 12;
        if (!rd_need(r, comp_len, what)) {
            ret = e->code;
            break;
        }
        const uint8_t *comp = r->p + r->pos;
        r->pos += comp_len;
        uLong calc = crc32(0L, Z_NULL, 0);
        crc_update(&calc, bitmap, SNAP_BITMAP + 8);
        crc_update(&calc, comp, comp_len);
        if ((uint32_t)calc != crc) {
            ret = snap_fail(e, SNAP_ERR_CORRUPT,
                            "%s chunk %u (offset %zu, guest bytes %" PRIu64 "-%" PRIu64
                            "): CRC mismatch (stored %08x, computed %08x): the file is damaged",
                            what, c, at, off, off + (uint64_t)pages * SNAP_PAGE - 1, crc, (uint32_t)calc);
            break;
        }
        unsigned count = 0;
        for (unsigned p = 0; p < SNAP_CHUNK_PAGES; p++) {
            if (!(bitmap[p / 8] & (1u << (p % 8))))
                continue;
            if (p >= pages) {
                ret = snap_fail(e, SNAP_ERR_CORRUPT, "%s chunk %u: page %u beyond the end of memory", what,
                                c, p);
                break;
            }
            count++;
        }
        if (ret)
            break;
        if (raw_len != count * SNAP_PAGE || (raw_len == 0) != (comp_len == 0)) {
            ret = snap_fail(e, SNAP_ERR_CORRUPT, "%s chunk %u: lengths %u/%u do not match its %u pages",
                            what, c, raw_len, comp_len, count);
            break;
        }
        if (!raw_len)
            continue;
        if (inflateReset(&zs) != Z_OK) {
            ret = snap_fail(e, SNAP_ERR_CORRUPT, "zlib: inflateReset failed");
            break;
        }
        zs.next_in = (Bytef *)comp;
        zs.avail_in = comp_len;
        zs.next_out = scratch;
        zs.avail_out = raw_len;
        int zr = inflate(&zs, Z_FINISH);
        if (zr != Z_STREAM_END || zs.avail_out != 0 || zs.avail_in != 0) {
            ret = snap_fail(e, SNAP_ERR_CORRUPT,
                            "%s chunk %u: bad zlib data (%s; %u of %u bytes decoded, %u input bytes left)",
                            what, c, zs.msg ? zs.msg : zError(zr), raw_len - zs.avail_out, raw_len,
                            zs.avail_in);
            break;
        }
        const uint8_t *src = scratch;
        for (unsigned p = 0; p < pages; p++) {
            if (!(bitmap[p / 8] & (1u << (p % 8))))
                continue;
            uint64_t pg = off / SNAP_PAGE + p;
            memcpy(st->data + pg * SNAP_PAGE, src, SNAP_PAGE);
            st->nz[pg] = 1;
            src += SNAP_PAGE;
        }
    }
    inflateEnd(&zs);
    return ret;
}

/* Copy staged memory into place: non-zero pages from the file, zero the
 * rest (only where the live page is not already zero, so untouched guest
 * RAM stays unbacked). */
static void commit_memory(uint8_t *dst, const Staged *st)
{
    uint64_t npages = st->size / SNAP_PAGE;
    bool probe = region_private_anon(dst, st->size);
    bool untouched[SNAP_CHUNK_PAGES];
    bool known = false;
    for (uint64_t pg = 0; pg < npages; pg++) {
        unsigned i = (unsigned)(pg % SNAP_CHUNK_PAGES);
        if (i == 0) {
            uint64_t n = npages - pg < SNAP_CHUNK_PAGES ? npages - pg : SNAP_CHUNK_PAGES;
            known = probe && probe_untouched(dst + pg * SNAP_PAGE, (unsigned)n, untouched);
        }
        uint8_t *d = dst + pg * SNAP_PAGE;
        if (st->nz[pg])
            memcpy(d, st->data + pg * SNAP_PAGE, SNAP_PAGE);
        else if (!(known && untouched[i]) && !page_is_zero(d))
            memset(d, 0, SNAP_PAGE);
    }
}

/* ------------------------------------------------------------------------ */
/* Load                                                                     */

/* "state section 'x' field 'y': ..." -> "field 'y': ..." (the caller names
 * the section itself). */
static const char *strip_section(const char *msg, const char *name)
{
    char pre[SNAP_MAX_NAME + 24];
    snprintf(pre, sizeof(pre), "state section '%s'", name);
    size_t n = strlen(pre);
    if (strncmp(msg, pre, n))
        return msg;
    msg += n;
    if (msg[0] == ':' && msg[1] == ' ')
        msg += 2;
    else if (msg[0] == ' ')
        msg += 1;
    return msg;
}

typedef struct Backup {
    uint8_t *buf[SNAP_MAX_SECTIONS];
    size_t len[SNAP_MAX_SECTIONS];
} Backup;

static void backup_free(Backup *b, int n)
{
    for (int i = 0; i < n; i++)
        free(b->buf[i]);
}

static int backup_take(const SecList *l, Backup *b, Err *e)
{
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < l->n; i++) {
        const StateDesc *d = l->s[i].desc;
        if (d->pre_save)
            d->pre_save(l->s[i].opaque);
        long need = state_save(d, l->s[i].opaque, NULL, 0);
        b->buf[i] = need >= 0 ? malloc(need ? (size_t)need : 1) : NULL;
        if (!b->buf[i] || state_save(d, l->s[i].opaque, b->buf[i], (size_t)need) != need)
            return snap_fail(e, SNAP_ERR_NOMEM, "cannot keep a copy of the current state ('%s')",
                             d->name);
        b->len[i] = (size_t)need;
    }
    return 0;
}

/* Put the copied state back; returns 0, or -1 with why in msg. */
static int backup_restore(const SecList *l, const Backup *b, char *msg, size_t msglen)
{
    int r = 0;
    for (int i = 0; i < l->n; i++) {
        const StateDesc *d = l->s[i].desc;
        char m[256];
        if (state_load(d, l->s[i].opaque, d->version, b->buf[i], b->len[i], m, sizeof(m)) < 0 &&
            r == 0) {
            snprintf(msg, msglen, "%s", m);
            r = -1;
        }
    }
    return r;
}

typedef struct Parsed {
    const uint8_t *sec_data[SNAP_MAX_SECTIONS];
    uint32_t sec_len[SNAP_MAX_SECTIONS];
    Staged ram, vram;
} Parsed;

/* Everything that can be checked without touching the machine. */
static int parse_all(PcMachine *pc, Rd *r, Hdr *h, const SecList *l, Parsed *ps, bool switch_disks)
{
    Err *e = r->e;
    if (parse_header(r, h) < 0)
        return e->code;
    if (check_config(pc, h, l, switch_disks, e) < 0)
        return e->code;
    for (int i = 0; i < h->nsec; i++) {
        char name[SNAP_MAX_NAME], what[SNAP_MAX_NAME + 16];
        uint16_t ver;
        uint32_t len, crc;
        snprintf(what, sizeof(what), "section '%s'", h->sec[i].name);
        size_t at = r->pos;
        if (!rd_tag(r, "SECT", what) || !rd_str(r, name, sizeof(name), what) ||
            !rd_u16(r, &ver, what) || !rd_u32(r, &len, what) || !rd_u32(r, &crc, what))
            return e->code;
        if (strcmp(name, h->sec[i].name) || ver != h->sec[i].version)
            return snap_fail(e, SNAP_ERR_CORRUPT,
                             "section %d at offset %zu is '%s' version %u, the header lists '%s' "
                             "version %u",
                             i, at, name, ver, h->sec[i].name, h->sec[i].version);
        if (!rd_need(r, len, what))
            return e->code;
        uint32_t calc = crc_of(r->p + r->pos, len);
        if (calc != crc)
            return snap_fail(e, SNAP_ERR_CORRUPT,
                             "section '%s' (offset %zu, %u bytes): CRC mismatch (stored %08x, "
                             "computed %08x): the file is damaged",
                             name, at, len, crc, calc);
        ps->sec_data[i] = r->p + r->pos;
        ps->sec_len[i] = len;
        r->pos += len;
    }
    uint8_t *scratch = malloc(SNAP_CHUNK);
    if (!scratch)
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    int rc = read_memory(r, "RAM ", "RAM", pc->pm.ram_size, &ps->ram, scratch);
    if (rc == 0 && pc->vga) {
        size_t vlen = 0;
        (void)vga_vram(pc->vga, &vlen);
        rc = read_memory(r, "VRAM", "VGA memory", vlen, &ps->vram, scratch);
    }
    free(scratch);
    if (rc < 0)
        return rc;
    uint64_t flen;
    uint32_t fcrc;
    if (!rd_tag(r, "END!", "end marker") || !rd_u64(r, &flen, "end marker"))
        return e->code;
    if (flen != r->len)
        return snap_fail(e, SNAP_ERR_SIZE,
                         "the file should be %" PRIu64 " bytes long but is %zu (truncated or extended)",
                         flen, r->len);
    size_t crc_end = r->pos;
    if (!rd_u32(r, &fcrc, "end marker"))
        return e->code;
    uint32_t calc = crc_of(r->p, crc_end);
    if (calc != fcrc)
        return snap_fail(e, SNAP_ERR_CORRUPT,
                         "whole-file CRC mismatch (stored %08x, computed %08x): the file is damaged",
                         fcrc, calc);
    if (r->pos != r->len)
        return snap_fail(e, SNAP_ERR_SIZE, "%zu unexpected bytes after the end marker", r->len - r->pos);
    return 0;
}

/* Load: for each drive the snapshot recorded frozen, open what the drive
 * switches to, and check it reads as the disk did at the save. */
static int plan_prepare_load(PcMachine *pc, const Hdr *h, DrivePlan *p, Err *e)
{
    char qerr[512];
    for (int d = 0; d < 4; d++) {
        const DriveFp *s = &h->drive[d];
        if (!s->present || s->mode != DISK_FROZEN)
            continue;
        IdeDrive *dr = ide_drive(pc, d);
        BlockDev *bd = dr->bd;
        if (!bd)
            return snap_fail(e, SNAP_ERR_CONFIG, "drive %s: no image attached", drive_names[d]);
        resolve_from(p->snapfile, s->frozen, p->img[d], sizeof(p->img[d]));
        snprintf(p->rec[d], sizeof(p->rec[d]), "%s", s->frozen);
        snprintf(p->fmt[d], sizeof(p->fmt[d]), "%s", s->frozen_fmt);
        struct stat st;
        if (stat(p->img[d], &st) != 0)
            return snap_fail(e, SNAP_ERR_CONFIG,
                             "drive %s: the snapshot's frozen disk image '%s' is missing: %s",
                             drive_names[d], p->img[d], strerror(errno));
        qerr[0] = 0;
        if (blockdev_temp_overlay(bd)) {
            p->next[d] = blockdev_open(p->img[d], BLOCKDEV_SNAPSHOT | fmt_flag(p->fmt[d]), qerr,
                                       sizeof(qerr));
        } else if (blockdev_read_only(bd) && !blockdev_frozen_ro(bd)) {
            p->next[d] = blockdev_open(p->img[d], BLOCKDEV_RDONLY | fmt_flag(p->fmt[d]), qerr,
                                       sizeof(qerr));
        } else if (make_overlay(p, d, p->img[d], e) < 0) {
            return e->code;
        }
        if (!p->next[d])
            return snap_fail(e, SNAP_ERR_IO, "drive %s: %s", drive_names[d], qerr);
        p->frozen[d] = true;
        /* The disk must read as it did at the save. */
        uint64_t sectors = blockdev_sectors(p->next[d]);
        if (sectors * BLOCKDEV_SECTOR != s->size)
            return snap_fail(e, SNAP_ERR_CONFIG,
                             "drive %s: the frozen image '%s' is %" PRIu64 " bytes, the snapshot's "
                             "disk was %" PRIu64,
                             drive_names[d], p->img[d], sectors * BLOCKDEV_SECTOR, s->size);
        uint32_t n = sectors < SNAP_FP_BYTES / BLOCKDEV_SECTOR ? (uint32_t)sectors
                                                               : SNAP_FP_BYTES / BLOCKDEV_SECTOR;
        uint8_t *buf = malloc(SNAP_FP_BYTES);
        if (!buf)
            return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
        int r = blockdev_read(p->next[d], 0, buf, n);
        uint32_t crc = r == 0 ? crc_of(buf, (size_t)n * BLOCKDEV_SECTOR) : 0;
        free(buf);
        if (r < 0)
            return snap_fail(e, SNAP_ERR_IO, "drive %s: cannot read '%s': %s", drive_names[d],
                             p->img[d], strerror(-r));
        if (crc != s->crc)
            return snap_fail(e, SNAP_ERR_CONFIG,
                             "drive %s: the frozen image '%s' changed after the snapshot was made "
                             "(its first 64 KiB differ)",
                             drive_names[d], p->img[d]);
    }
    return 0;
}

/* Load a whole snapshot held in memory.  path (the file it came from, or
 * NULL) enables disk switching: drives recorded frozen switch to a fresh
 * overlay on their frozen image, created next to path; plan (when path is
 * set) receives what was done. */
static int load_buffer(PcMachine *pc, const uint8_t *buf, size_t len, const char *path,
                       DrivePlan *plan, Err *e)
{
    SecList l;
    collect(pc, &l);
    if (l.overflow)
        return snap_fail(e, SNAP_ERR_IO, "internal error: more than %d sections", SNAP_MAX_SECTIONS);
    Hdr *h = calloc(1, sizeof(*h));
    Parsed *ps = calloc(1, sizeof(*ps));
    Backup *bk = calloc(1, sizeof(*bk));
    if (!h || !ps || !bk) {
        free(h);
        free(ps);
        free(bk);
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
    }
    Rd r = { buf, len, 0, e };
    bool was = clock_hold(pc);
    progress_begin("loadvm", pc);
    int rc = parse_all(pc, &r, h, &l, ps, path != NULL);
    progress_end();
    if (path && plan) {
        plan->snapfile = path;
        if (rc == 0)
            rc = plan_prepare_load(pc, h, plan, e);
    }
    if (rc == 0)
        rc = backup_take(&l, bk, e);
    if (rc == 0) {
        /* Commit the sections; on the first refusal put the old state back. */
        for (int i = 0; i < l.n; i++) {
            const StateDesc *d = l.s[i].desc;
            char msg[384];
            msg[0] = 0;
            if (state_load(d, l.s[i].opaque, h->sec[i].version, ps->sec_data[i], ps->sec_len[i],
                           msg, sizeof(msg)) < 0) {
                rc = snap_fail(e, SNAP_ERR_STATE, "section '%s' %s%s", d->name,
                               strncmp(strip_section(msg, d->name), "field", 5) ? "refused: " : "",
                               strip_section(msg, d->name));
                char m2[256];
                if (backup_restore(&l, bk, m2, sizeof(m2)) < 0 && e->buf && e->len) {
                    size_t n = strlen(e->buf);
                    snprintf(e->buf + n, e->len - n,
                             "; and the previous state could not be restored (%s)", m2);
                }
                pc_post_load(pc);
                break;
            }
        }
    }
    if (rc == 0) {
        commit_memory(pc->pm.ram, &ps->ram);
        phys_note_write(&pc->pm, 0, pc->pm.ram_size);
        if (pc->vga) {
            /* What vga_vram_load() does, without faulting in all 16 MiB of
             * staging and VRAM when most of it is (and was) zero. */
            commit_memory(pc->vga->vram, &ps->vram);
            vga_mark_dirty(pc->vga, 0, VGA_VRAM_SIZE);
            pc->vga->full_redraw = true;
        }
        pc_post_load(pc);
        if (path && plan)
            plan_commit(pc, plan);
    } else if (plan) {
        plan_rollback(plan);
    }
    clock_release(pc, was);
    backup_free(bk, l.n);
    staged_free(&ps->ram);
    staged_free(&ps->vram);
    free(h);
    free(ps);
    free(bk);
    return rc;
}

int snapshot_load_mem(PcMachine *pc, const uint8_t *buf, size_t len, const char *label, char *err,
                      size_t errlen)
{
    Err e = { err, errlen, label ? label : "<memory>", 0 };
    if (err && errlen)
        err[0] = 0;
    if (!buf && len)
        return snap_fail(&e, SNAP_ERR_ARG, "no data");
    return load_buffer(pc, buf ? buf : (const uint8_t *)"", len, NULL, NULL, &e);
}

/* Read a whole regular file (bounded by its size). */
static int read_whole(const char *path, uint8_t **out, size_t *outlen, Err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return snap_fail(e, SNAP_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return snap_fail(e, SNAP_ERR_IO, "not a regular file");
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return snap_fail(e, SNAP_ERR_SIZE, "file too large");
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return snap_fail(e, SNAP_ERR_NOMEM, "out of memory reading %zu bytes", n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int er = k < 0 ? errno : 0;
            free(buf);
            close(fd);
            return snap_fail(e, SNAP_ERR_IO, "read error: %s", er ? strerror(er) : "file shrank");
        }
        got += (size_t)k;
    }
    close(fd);
    *out = buf;
    *outlen = n;
    return 0;
}

int snapshot_load(PcMachine *pc, const char *path, char *err, size_t errlen)
{
    Err e = { err, errlen, path, 0 };
    if (err && errlen)
        err[0] = 0;
    if (!path || !*path)
        return snap_fail(&e, SNAP_ERR_ARG, "no file name");
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_whole(path, &buf, &len, &e) < 0)
        return e.code;
    DrivePlan *plan = calloc(1, sizeof(*plan));
    if (!plan) {
        free(buf);
        return snap_fail(&e, SNAP_ERR_NOMEM, "out of memory");
    }
    int r = load_buffer(pc, buf, len, path, plan, &e);
    free(buf);
    if (r == 0 && plan->summary[0] && err && errlen)
        snprintf(err, errlen, "%s", plan->summary);
    free(plan);
    return r;
}

/* ------------------------------------------------------------------------ */
/* CRC fix-up (tests, fuzzers)                                              */

int snapshot_fix_crcs(uint8_t *buf, size_t len)
{
    Err e = { NULL, 0, NULL, 0 };
    Rd r = { buf, len, 0, &e };
    if (len < 16 || memcmp(buf, SNAP_MAGIC, 8))
        return -1;
    uint32_t hlen = (uint32_t)get_le(buf + 12, 4);
    if (hlen < 20 || hlen > len)
        return -1;
    put_le32(buf + hlen - 4, crc_of(buf, hlen - 4));
    /* Walk the header again for the section count and whether VRAM follows. */
    Hdr *h = calloc(1, sizeof(*h));
    if (!h)
        return -1;
    if (parse_header(&r, h) < 0) {
        free(h);
        return -1;
    }
    int nsec = h->nsec;
    bool vga = h->flags & FLAG_VGA;
    free(h);
    for (int i = 0; i < nsec; i++) {
        char name[SNAP_MAX_NAME];
        uint16_t ver;
        uint32_t slen;
        if (!rd_tag(&r, "SECT", "") || !rd_str(&r, name, sizeof(name), "") ||
            !rd_u16(&r, &ver, "") || !rd_u32(&r, &slen, "") || !rd_need(&r, 4, ""))
            return -1;
        size_t crc_at = r.pos;
        r.pos += 4;
        if (!rd_need(&r, slen, ""))
            return -1;
        put_le32(buf + crc_at, crc_of(buf + r.pos, slen));
        r.pos += slen;
    }
    for (int m = 0; m < (vga ? 2 : 1); m++) {
        uint64_t size;
        uint32_t chunk, nchunks;
        if (!rd_tag(&r, m ? "VRAM" : "RAM ", "") || !rd_u64(&r, &size, "") ||
            !rd_u32(&r, &chunk, "") || !rd_u32(&r, &nchunks, ""))
            return -1;
        for (uint32_t c = 0; c < nchunks; c++) {
            if (!rd_need(&r, SNAP_BITMAP + 12, ""))
                return -1;
            size_t at = r.pos;
            uint32_t comp_len = (uint32_t)get_le(buf + at + SNAP_BITMAP + 4, 4);
            r.pos += SNAP_BITMAP + 12;
            if (!rd_need(&r, comp_len, ""))
                return -1;
            uLong calc = crc32(0L, Z_NULL, 0);
            crc_update(&calc, buf + at, SNAP_BITMAP + 8);
            crc_update(&calc, buf + r.pos, comp_len);
            put_le32(buf + at + SNAP_BITMAP + 8, (uint32_t)calc);
            r.pos += comp_len;
        }
    }
    uint64_t flen;
    if (!rd_tag(&r, "END!", "") || !rd_u64(&r, &flen, "") || !rd_need(&r, 4, ""))
        return -1;
    put_le32(buf + r.pos, crc_of(buf, r.pos));
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Named snapshots in a directory                                           */

static const char *g_snapdir;
static char g_default_dir[SNAP_MAX_PATH];

const char *snapshot_dir(void)
{
    if (g_snapdir)
        return g_snapdir;
    for (int d = 0; d < 4; d++) {
        if (!g_drive_path[d])
            continue;
        snprintf(g_default_dir, sizeof(g_default_dir), "%s", g_drive_path[d]);
        char *slash = strrchr(g_default_dir, '/');
        if (!slash)
            break;
        if (slash == g_default_dir)
            slash[1] = 0;
        else
            *slash = 0;
        return g_default_dir;
    }
    return ".";
}

static bool valid_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.')
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = name[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int named_path(const char *dir, const char *name, char *out, size_t outlen, Err *e)
{
    if (!valid_name(name))
        return snap_fail(e, SNAP_ERR_ARG,
                         "invalid snapshot name '%s' (1-64 of A-Z a-z 0-9 . _ -, not starting with '.')",
                         name ? name : "");
    if (!dir)
        dir = snapshot_dir();
    if (snprintf(out, outlen, "%s/%s%s", dir, name, SNAPSHOT_EXT) >= (int)outlen)
        return snap_fail(e, SNAP_ERR_ARG, "snapshot path too long");
    return 0;
}

static void human_size(uint64_t n, char *out, size_t len);

/* "NAME.vsn: 12.3 MiB" + the disk summary already in err. */
static void add_size(const char *path, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    char summary[1024];
    snprintf(summary, sizeof(summary), "%s", err);
    struct stat st;
    char sz[32] = "?";
    if (stat(path, &st) == 0)
        human_size((uint64_t)st.st_size, sz, sizeof(sz));
    snprintf(err, errlen, "%s, %s%s%s", path, sz, summary[0] ? "; " : "", summary);
}

int snapshot_savevm(PcMachine *pc, const char *dir, const char *name, char *err, size_t errlen)
{
    Err e = { err, errlen, name, 0 };
    char path[SNAP_MAX_PATH];
    if (named_path(dir, name, path, sizeof(path), &e) < 0)
        return e.code;
    int r = snapshot_save(pc, path, err, errlen);
    if (r == 0)
        add_size(path, err, errlen);
    return r;
}

int snapshot_loadvm(PcMachine *pc, const char *dir, const char *name, char *err, size_t errlen)
{
    Err e = { err, errlen, name, 0 };
    char path[SNAP_MAX_PATH];
    if (named_path(dir, name, path, sizeof(path), &e) < 0)
        return e.code;
    if (access(path, F_OK) != 0)
        return snap_fail(&e, SNAP_ERR_IO, "no snapshot '%s' in %s", name, dir ? dir : snapshot_dir());
    return snapshot_load(pc, path, err, errlen);
}

/* ---- which files snapshots and drives still need (delvm) ---- */

typedef struct FileSet {
    uint64_t (*id)[2];
    size_t n, cap;
} FileSet;

static void fs_add(FileSet *s, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->id[i][0] == (uint64_t)st.st_dev && s->id[i][1] == (uint64_t)st.st_ino)
            return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        void *m = realloc(s->id, cap * sizeof(*s->id));
        if (!m)
            return;
        s->id = m;
        s->cap = cap;
    }
    s->id[s->n][0] = (uint64_t)st.st_dev;
    s->id[s->n][1] = (uint64_t)st.st_ino;
    s->n++;
}

static bool fs_has(const FileSet *s, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (s->id[i][0] == (uint64_t)st.st_dev && s->id[i][1] == (uint64_t)st.st_ino)
            return true;
    return false;
}

/* path and every backing file below it. */
static void fs_add_chain(FileSet *s, const char *path)
{
    char cur[SNAP_MAX_PATH], b[SNAP_MAX_PATH];
    snprintf(cur, sizeof(cur), "%s", path);
    fs_add(s, cur);
    for (int depth = 0; depth < BLOCKDEV_MAX_CHAIN && qcow2_backing_file(cur, b, sizeof(b)) == 1;
         depth++) {
        fs_add(s, b);
        snprintf(cur, sizeof(cur), "%s", b);
    }
}

/* A disk file vessel made next to a snapshot: STEM.hdX[.TAG][.N].qcow2. */
static bool vessel_overlay_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 6 || strcmp(n + len - 6, ".qcow2") || n[0] == '.')
        return false;
    for (int d = 0; d < 4; d++) {
        char pat[8];
        snprintf(pat, sizeof(pat), ".%s.", drive_names[d]);
        if (strstr(n, pat))
            return true;
    }
    return false;
}

static int read_header_file(const char *path, Hdr *h);

/* Remove the overlay files in dir that no snapshot there and no drive of
 * pc needs any more.  Returns the number removed; *bytes their size. */
static int collect_garbage(PcMachine *pc, const char *dir, uint64_t *bytes)
{
    *bytes = 0;
    FileSet keep = { 0 };
    for (int d = 0; pc && d < 4; d++) {
        const IdeDrive *dr = &pc->ide->ch[d / 2].drive[d % 2];
        if (dr->bd && blockdev_path(dr->bd))
            fs_add_chain(&keep, blockdev_path(dr->bd));
        if (pc->cfg.drives[d] && blockdev_path(pc->cfg.drives[d]))
            fs_add_chain(&keep, blockdev_path(pc->cfg.drives[d]));
    }
    DIR *dp = opendir(dir);
    if (!dp) {
        free(keep.id);
        return 0;
    }
    char **cand = NULL;
    size_t nc = 0, cc = 0;
    Hdr *h = calloc(1, sizeof(*h));
    struct dirent *de;
    while ((de = readdir(dp))) {
        char p[SNAP_MAX_PATH];
        if (de->d_name[0] == '.' ||
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
            continue;
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t n = strlen(de->d_name), el = strlen(SNAPSHOT_EXT);
        if (n > el && !strcmp(de->d_name + n - el, SNAPSHOT_EXT)) {
            memset(h, 0, sizeof(*h));
            if (h && read_header_file(p, h) == 0) {
                for (int d = 0; d < 4; d++) {
                    if (!h->drive[d].present || h->drive[d].mode != DISK_FROZEN)
                        continue;
                    char img[SNAP_MAX_PATH];
                    resolve_from(p, h->drive[d].frozen, img, sizeof(img));
                    fs_add_chain(&keep, img);
                }
            }
        } else if (vessel_overlay_name(de->d_name)) {
            if (nc == cc) {
                cc = cc ? cc * 2 : 16;
                char **m = realloc(cand, cc * sizeof(*cand));
                if (!m)
                    break;
                cand = m;
            }
            if (!(cand[nc] = strdup(p)))
                break;
            nc++;
        } else {
            /* Another image (the user's): whatever it stands on stays. */
            char b[SNAP_MAX_PATH];
            if (qcow2_backing_file(p, b, sizeof(b)) == 1)
                fs_add_chain(&keep, b);
        }
    }
    closedir(dp);
    free(h);
    int removed = 0;
    for (size_t i = 0; i < nc; i++) {
        struct stat st;
        if (!fs_has(&keep, cand[i]) && stat(cand[i], &st) == 0 && unlink(cand[i]) == 0) {
            removed++;
            *bytes += (uint64_t)st.st_size;
        }
        free(cand[i]);
    }
    free(cand);
    free(keep.id);
    return removed;
}

int snapshot_delvm_pc(PcMachine *pc, const char *dir, const char *name, char *err, size_t errlen)
{
    Err e = { err, errlen, name, 0 };
    if (err && errlen)
        err[0] = 0;
    char path[SNAP_MAX_PATH];
    if (named_path(dir, name, path, sizeof(path), &e) < 0)
        return e.code;
    if (unlink(path) != 0)
        return snap_fail(&e, SNAP_ERR_IO, "cannot delete '%s': %s", path, strerror(errno));
    if (pc) {
        uint64_t bytes;
        int n = collect_garbage(pc, dir ? dir : snapshot_dir(), &bytes);
        if (n > 0 && err && errlen) {
            char sz[32];
            human_size(bytes, sz, sizeof(sz));
            snprintf(err, errlen, "removed %d overlay file%s nothing needs any more (%s)", n,
                     n == 1 ? "" : "s", sz);
        }
    }
    return 0;
}

int snapshot_delvm(const char *dir, const char *name, char *err, size_t errlen)
{
    return snapshot_delvm_pc(NULL, dir, name, err, errlen);
}

/* Read just the header of a snapshot file. */
static int read_header_file(const char *path, Hdr *h)
{
    Err e = { NULL, 0, path, 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    uint8_t pre[16];
    ssize_t k = read(fd, pre, sizeof(pre));
    if (k != (ssize_t)sizeof(pre) || memcmp(pre, SNAP_MAGIC, 8)) {
        close(fd);
        return -1;
    }
    uint32_t hlen = (uint32_t)get_le(pre + 12, 4);
    if (hlen < 20 || hlen > SNAP_MAX_HEADER) {
        close(fd);
        return -1;
    }
    uint8_t *buf = malloc(hlen);
    if (!buf || pread(fd, buf, hlen, 0) != (ssize_t)hlen) {
        free(buf);
        close(fd);
        return -1;
    }
    close(fd);
    Rd r = { buf, hlen, 0, &e };
    int rc = parse_header(&r, h);
    free(buf);
    return rc < 0 ? -1 : 0;
}

static void human_size(uint64_t n, char *out, size_t len)
{
    if (n >= (1u << 20))
        snprintf(out, len, "%.1f MiB", (double)n / (1 << 20));
    else if (n >= 1024)
        snprintf(out, len, "%.1f KiB", (double)n / 1024);
    else
        snprintf(out, len, "%" PRIu64 " B", n);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void outf(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0)
        *pos += (size_t)n < len - *pos ? (size_t)n : len - *pos - 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int snapshot_info(const char *dir, char *buf, size_t len)
{
    return snapshot_info_pc(NULL, dir, buf, len);
}

int snapshot_info_pc(PcMachine *pc, const char *dir, char *buf, size_t len)
{
    if (!dir)
        dir = snapshot_dir();
    if (!buf || !len)
        return SNAP_ERR_ARG;
    buf[0] = 0;
    DIR *dp = opendir(dir);
    if (!dp) {
        snprintf(buf, len, "cannot read snapshot directory '%s': %s\n", dir, strerror(errno));
        return SNAP_ERR_IO;
    }
    size_t pos = 0;
    int count = 0;
#define OUT(...) outf(buf, len, &pos, __VA_ARGS__)
    OUT("List of snapshots present in %s:\n", dir);
    OUT("%-24s %10s  %-19s  %15s  %14s\n", "TAG", "SIZE", "DATE", "VM CLOCK", "ICOUNT");
    /* The *.vsn names, sorted. */
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t n = strlen(de->d_name), el = strlen(SNAPSHOT_EXT);
        if (n <= el || strcmp(de->d_name + n - el, SNAPSHOT_EXT))
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(names, cap * sizeof(*names));
            if (!nv)
                break;
            names = nv;
        }
        if (!(names[nn] = strdup(de->d_name)))
            break;
        nn++;
    }
    closedir(dp);
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_names);
    Hdr *h = calloc(1, sizeof(*h));
    for (size_t k = 0; h && k < nn; k++) {
        const char *fname = names[k];
        size_t n = strlen(fname), el = strlen(SNAPSHOT_EXT);
        char path[SNAP_MAX_PATH];
        if (snprintf(path, sizeof(path), "%s/%s", dir, fname) >= (int)sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        memset(h, 0, sizeof(*h));
        char tag[SNAP_MAX_NAME + 8];
        snprintf(tag, sizeof(tag), "%.*s", (int)(n - el), fname);
        char sz[32];
        human_size((uint64_t)st.st_size, sz, sizeof(sz));
        if (read_header_file(path, h) < 0) {
            OUT("%-24s %10s  (not a readable vessel snapshot)\n", tag, sz);
            continue;
        }
        time_t t = (time_t)h->created;
        struct tm tm;
        char date[32] = "?";
        if (localtime_r(&t, &tm))
            strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        uint64_t ms = h->vtime_ns / 1000000u;
        OUT("%-24s %10s  %-19s  %4" PRIu64 ":%02u:%02u.%03u  %14" PRIu64 "\n", tag, sz, date,
            ms / 3600000u, (unsigned)(ms / 60000u % 60u), (unsigned)(ms / 1000u % 60u),
            (unsigned)(ms % 1000u), h->icount);
        for (int d = 0; d < 4; d++) {
            const DriveFp *f = &h->drive[d];
            if (!f->present || !f->medium)
                continue;
            if (f->mode == DISK_FROZEN) {
                char img[SNAP_MAX_PATH];
                resolve_from(path, f->frozen, img, sizeof(img));
                OUT("    %s: frozen image %s (%s)%s\n", drive_names[d], img, f->frozen_fmt,
                    access(img, F_OK) ? "  MISSING" : "");
            } else {
                OUT("    %s: %s %s (fingerprint only)\n", drive_names[d],
                    f->kind == DRIVE_CDROM ? "CD-ROM" : "read-only disk", f->path);
            }
        }
        count++;
    }
    if (pc) {
        OUT("Drives now (writes go to the first image of each chain):\n");
        for (int d = 0; d < 4; d++) {
            const IdeDrive *dr = &pc->ide->ch[d / 2].drive[d % 2];
            if (!dr->present)
                continue;
            if (!dr->bd) {
                OUT("  %s: %s, no medium\n", drive_names[d], dr->cdrom ? "CD-ROM" : "disk");
                continue;
            }
            OUT("  %s: %s%s (%s%s)", drive_names[d],
                blockdev_temp_overlay(dr->bd) ? "temporary -snapshot overlay on " : "",
                blockdev_path(dr->bd), blockdev_format(dr->bd),
                blockdev_read_only(dr->bd) ? ", read-only" : "");
            char cur[SNAP_MAX_PATH], b[SNAP_MAX_PATH];
            snprintf(cur, sizeof(cur), "%s", blockdev_path(dr->bd));
            for (int k = 0; k < BLOCKDEV_MAX_CHAIN && qcow2_backing_file(cur, b, sizeof(b)) == 1; k++) {
                OUT(" <- %s", b);
                snprintf(cur, sizeof(cur), "%s", b);
            }
            OUT("\n");
        }
    }
#undef OUT
    free(h);
    for (size_t k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    return count;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

const char snapshot_usage[] =
    "Snapshots:\n"
    "  -loadvm NAME|FILE              start from snapshot NAME (DIR/NAME" SNAPSHOT_EXT ") or a file\n"
    "  -snapshot-dir DIR              where savevm/loadvm keep NAME" SNAPSHOT_EXT
    " (default: next to the\n"
    "                                 first disk image, else the current directory)\n"
    "  -savevm-at ICOUNT:FILE         save to FILE once ICOUNT instructions have retired, then go on\n"
    "                                 (deterministic with -icount)\n";

static const char *g_loadvm;
typedef struct SaveAt {
    PcMachine *pc;
    uint64_t icount;
    const char *path;
    VTimer timer;
    bool done;
} SaveAt;
static SaveAt g_save_at[SNAPSHOT_MAX_SAVE_AT];
static int g_nsave_at;

int snapshot_parse_flag(int argc, char **argv, int *k)
{
    const char *a = argv[*k];
    if (a[0] == '-' && a[1] == '-' && a[2])
        a++;
    bool loadvm = !strcmp(a, "-loadvm"), dir = !strcmp(a, "-snapshot-dir"),
         at = !strcmp(a, "-savevm-at");
    if (!loadvm && !dir && !at)
        return 0;
    if (*k + 1 >= argc) {
        fprintf(stderr, "vessel: option '%s' needs an argument (see vessel --help)\n", argv[*k]);
        return -1;
    }
    const char *v = argv[++*k];
    if (loadvm) {
        g_loadvm = v;
    } else if (dir) {
        g_snapdir = v;
    } else {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 0);
        if (errno || end == v || *end != ':' || !end[1] || v[0] == '-') {
            fprintf(stderr, "vessel: -savevm-at: expected ICOUNT:FILE, got '%s' (see vessel --help)\n",
                    v);
            return -1;
        }
        if (g_nsave_at >= SNAPSHOT_MAX_SAVE_AT) {
            fprintf(stderr, "vessel: -savevm-at: at most %d of them\n", SNAPSHOT_MAX_SAVE_AT);
            return -1;
        }
        g_save_at[g_nsave_at].icount = n;
        g_save_at[g_nsave_at].path = end + 1;
        g_nsave_at++;
    }
    return 1;
}

static double host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void save_at_fire(SaveAt *s)
{
    char err[512];
    s->done = true;
    double t0 = host_ms();
    if (snapshot_save(s->pc, s->path, err, sizeof(err)) < 0) {
        fprintf(stderr, "vessel: -savevm-at: %s\n", err);
        pc_request_exit(s->pc, 2);
        return;
    }
    double t1 = host_ms();
    struct stat st;
    char sz[32] = "?";
    if (stat(s->path, &st) == 0)
        human_size((uint64_t)st.st_size, sz, sizeof(sz));
    fprintf(stderr, "vessel: saved snapshot '%s' at icount %" PRIu64 " (%.1f ms, %s)\n", s->path,
            pc_icount(s->pc), t1 - t0, sz);
}

/* ICOUNT mode: a timer at the virtual time the instruction count is
 * expected to reach; it re-arms until the count is there, and lets any
 * device timer due at the same instant fire first, so the snapshot is
 * taken at a quiet point of the main loop. */
static void save_at_timer(void *opaque)
{
    SaveAt *s = opaque;
    VClock *c = &s->pc->clk;
    uint64_t ic = pc_icount(s->pc);
    int64_t now = vclock_now(c);
    if (ic < s->icount) {
        uint64_t d = s->icount - ic;
        int sh = c->icount_shift;
        int64_t dt = d > ((uint64_t)INT64_MAX >> (sh + 2)) ? INT64_MAX / 4 : (int64_t)(d << sh);
        vtimer_mod(&s->timer, now + dt);
        return;
    }
    if (vclock_deadline(c) <= now) {
        vtimer_mod(&s->timer, now);
        return;
    }
    save_at_fire(s);
}

/* HOST mode: checked about every millisecond from the main loop. */
static void save_at_poll(void *opaque)
{
    PcMachine *pc = opaque;
    for (int i = 0; i < g_nsave_at; i++)
        if (!g_save_at[i].done && pc_icount(pc) >= g_save_at[i].icount)
            save_at_fire(&g_save_at[i]);
}

int snapshot_setup(PcMachine *pc, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (g_loadvm) {
        /* A name in the snapshot directory, else a file path. */
        char path[SNAP_MAX_PATH];
        const char *file = g_loadvm;
        if (valid_name(g_loadvm) &&
            snprintf(path, sizeof(path), "%s/%s%s", snapshot_dir(), g_loadvm, SNAPSHOT_EXT) <
                (int)sizeof(path) &&
            access(path, F_OK) == 0)
            file = path;
        double t0 = host_ms();
        int r = snapshot_load(pc, file, err, errlen);
        if (r < 0)
            return r;
        if (getenv("VESSEL_SNAPSHOT_TIMING"))
            fprintf(stderr, "vessel: loaded snapshot '%s' at icount %" PRIu64 " (%.1f ms)%s%s\n", file,
                    pc_icount(pc), host_ms() - t0, err && err[0] ? "; " : "", err ? err : "");
        if (err && errlen)
            err[0] = 0;
    }
    for (int d = 0; d < 4; d++) {
        const IdeDrive *dr = ide_drive(pc, d);
        if (dr->bd && blockdev_frozen_ro(dr->bd))
            fprintf(stderr,
                    "vessel: note: drive %s: %s is a frozen snapshot image, opened read-only "
                    "(the guest cannot write to it)\n",
                    drive_names[d], blockdev_path(dr->bd));
    }
    bool poll = false;
    for (int i = 0; i < g_nsave_at; i++) {
        SaveAt *s = &g_save_at[i];
        s->pc = pc;
        s->done = false;
        if (pc->cfg.icount) {
            vtimer_init(&s->timer, &pc->clk, save_at_timer, s);
            vtimer_mod(&s->timer, vclock_now(&pc->clk));
        } else {
            poll = true;
        }
    }
    if (poll && pc_add_poll_hook(pc, save_at_poll, pc) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "-savevm-at: no free poll hook");
        return SNAP_ERR_ARG;
    }
    return 0;
}

int snapshot_drive_flags(int index, const char *path)
{
    snapshot_set_drive_path(index, path);
    blockdev_set_overlay_dir(snapshot_dir());
    return g_loadvm ? BLOCKDEV_FROZEN_OK : 0;
}
