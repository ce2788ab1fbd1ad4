/*
 * test_qcow2.c - the qcow2 backend against QEMU's own tool: images made by
 * `qemu-img create/convert` (cluster sizes 512 B..2 MiB, refcount widths 1..64
 * bits, versions 2 and 3, compressed, with raw and qcow2 backing files) are
 * written through vessel's driver with random patterns mirrored in memory,
 * then `qemu-img check` must report no errors and no leaks and
 * `qemu-img convert -O raw` must reproduce the mirror byte for byte.  Also:
 * qcow2_create, zero clusters, the -snapshot overlay over a qcow2 base,
 * refcount table growth, corrupt and hostile images (clean open errors or
 * -EIO), and a fixed-seed header/table mutation fuzz that must not crash.
 *
 * qemu-img comes from Debian's qemu-utils (scripts/install-deps.sh); without
 * it the tests that need it are skipped with a message.
 */
#define _GNU_SOURCE   /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/blockdev.h"
#include "devices/qcow2.h"

static char tmpdir[256];
static bool have_qemu_img;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* xorshift64*, fixed seeds: every run does the same thing. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Output (stdout and stderr) of a shell command, malloc'ed. */
static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            out = realloc(out, cap);
        }
    }
    out[len] = 0;
    pclose(f);
    return out;
}

#define NEED_QEMU_IMG()                                                                   \
    do {                                                                                  \
        if (!have_qemu_img) {                                                             \
            fprintf(stderr, "qemu-img not found (install qemu-utils, see "                \
                            "scripts/install-deps.sh): skipping\n");                      \
            skip();                                                                       \
        }                                                                                 \
    } while (0)

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return b;
}

static void spill(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static uint64_t get_be(const char *path, uint64_t off, int bytes)
{
    uint8_t b[8];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, (size_t)bytes, (off_t)off), bytes);
    close(fd);
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    return v;
}

static void put_be(const char *path, uint64_t off, int bytes, uint64_t v)
{
    uint8_t b[8];
    for (int i = bytes - 1; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, (size_t)bytes, (off_t)off), bytes);
    close(fd);
}

/* `qemu-img check` finds no corruption and no leaks. */
static void check_clean(const char *img)
{
    char *o = sh_out("qemu-img check '%s' 2>&1; echo \"exit=$?\"", img);
    bool ok = strstr(o, "No errors were found") && !strstr(o, "leaked") && strstr(o, "exit=0");
    if (!ok)
        fprintf(stderr, "qemu-img check %s:\n%s\n", img, o);
    free(o);
    assert_true(ok);
}

/* `qemu-img convert -O raw` of img equals exp (len bytes). */
static void assert_qemu_reads(const char *img, const uint8_t *exp, size_t len)
{
    char raw[300];
    path_of(raw, sizeof(raw), "converted.raw");
    assert_int_equal(sh("qemu-img convert -O raw '%s' '%s'", img, raw), 0);
    size_t got;
    uint8_t *b = slurp(raw, &got);
    assert_int_equal(got, len);
    if (memcmp(b, exp, len)) {
        size_t i = 0;
        while (b[i] == exp[i])
            i++;
        fprintf(stderr, "%s: first difference at byte %zu (qemu 0x%02x, expected 0x%02x)\n", img,
                i, b[i], exp[i]);
        fail();
    }
    free(b);
    unlink(raw);
}

/* vessel reads the whole image and gets exp. */
static void assert_vessel_reads(BlockDev *bd, const uint8_t *exp, size_t len)
{
    assert_int_equal(blockdev_sectors(bd) * 512, len);
    uint8_t *b = malloc(len);
    for (size_t off = 0; off < len; off += 1 << 20) {
        size_t n = len - off < (1 << 20) ? len - off : (1 << 20);
        assert_int_equal(blockdev_read(bd, off / 512, b + off, (uint32_t)(n / 512)), 0);
    }
    if (memcmp(b, exp, len)) {
        size_t i = 0;
        while (b[i] == exp[i])
            i++;
        fprintf(stderr, "vessel: first difference at byte %zu (0x%02x, expected 0x%02x)\n", i,
                b[i], exp[i]);
        fail();
    }
    free(b);
}

/* Data that compresses in places: zeros, runs, a slow ramp, noise. */
static void fill_mixed(uint8_t *b, size_t len)
{
    for (size_t blk = 0; blk < len; blk += 4096) {
        int kind = (int)(rnd() % 4);
        for (size_t i = blk; i < blk + 4096 && i < len; i++)
            b[i] = kind == 0 ? 0 : kind == 1 ? 0x5A : kind == 2 ? (uint8_t)(i / 7) : (uint8_t)rnd();
    }
}

/* n random writes (1..max_sectors sectors; some cluster-aligned) through bd,
 * mirrored into m.  With bd NULL, only the mirror is updated (replaying the
 * same sequence after reseeding rng_state). */
static void random_writes(BlockDev *bd, uint8_t *m, size_t len, unsigned n,
                          uint32_t max_sectors, uint32_t cluster)
{
    uint64_t sectors = len / 512;
    uint8_t *buf = malloc((size_t)max_sectors * 512 + cluster);
    for (unsigned i = 0; i < n; i++) {
        uint32_t cnt = 1 + (uint32_t)(rnd() % max_sectors);
        if (cnt > sectors)
            cnt = (uint32_t)sectors;
        uint64_t s = rnd() % (sectors - cnt + 1);
        if (i % 4 == 0 && cluster >= 512) {   /* whole clusters */
            uint32_t spc = cluster / 512;
            s = s / spc * spc;
            cnt = spc;
            if (s + cnt > sectors)
                continue;
        }
        uint8_t v = (uint8_t)rnd();
        for (size_t j = 0; j < (size_t)cnt * 512; j++)
            buf[j] = (uint8_t)(v + j * 13 + (j >> 9));
        if (s == 0 && buf[0] == 'Q')
            buf[0] = 'q';
        if (bd)
            assert_int_equal(blockdev_write(bd, s, buf, cnt), 0);
        memcpy(m + s * 512, buf, (size_t)cnt * 512);
    }
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_qcow2_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    have_qemu_img = sh("qemu-img --version >/dev/null 2>&1") == 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", tmpdir, tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Writes through vessel, checked by qemu-img                               */

static void write_and_verify(const char *opts, size_t size, unsigned nwrites, uint32_t maxs,
                             uint32_t cluster)
{
    char img[300], err[512];
    path_of(img, sizeof(img), "w.qcow2");
    unlink(img);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o %s '%s' %zu", opts, img, size), 0);
    uint8_t *m = calloc(1, size);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    if (!bd)
        fprintf(stderr, "%s\n", err);
    assert_non_null(bd);
    assert_string_equal(blockdev_format(bd), "qcow2");
    assert_false(blockdev_read_only(bd));
    random_writes(bd, m, size, nwrites / 2, maxs, cluster);
    assert_int_equal(blockdev_flush(bd), 0);
    random_writes(bd, m, size, nwrites - nwrites / 2, maxs, cluster);
    assert_vessel_reads(bd, m, size);
    blockdev_close(bd);
    check_clean(img);
    assert_qemu_reads(img, m, size);
    /* Reopened by vessel, read-only and read-write. */
    bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    assert_vessel_reads(bd, m, size);
    blockdev_close(bd);
    bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    random_writes(bd, m, size, 20, maxs, cluster);
    blockdev_close(bd);
    check_clean(img);
    assert_qemu_reads(img, m, size);
    free(m);
}

static void test_write_cluster_sizes(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    rng_state = 0x1234567;
    write_and_verify("cluster_size=65536", 16 << 20, 200, 300, 65536);
    write_and_verify("cluster_size=4096", 8 << 20, 200, 64, 4096);
    write_and_verify("cluster_size=512", 2 << 20, 200, 24, 512);
    write_and_verify("cluster_size=2097152", 24 << 20, 60, 5000, 2 << 20);
    write_and_verify("cluster_size=8192,refcount_bits=1", 4 << 20, 150, 40, 8192);
    write_and_verify("cluster_size=4096,refcount_bits=2", 4 << 20, 100, 40, 4096);
    write_and_verify("cluster_size=4096,refcount_bits=4", 4 << 20, 100, 40, 4096);
    write_and_verify("cluster_size=4096,refcount_bits=8", 4 << 20, 100, 40, 4096);
    write_and_verify("cluster_size=4096,refcount_bits=32", 4 << 20, 100, 40, 4096);
    write_and_verify("compat=0.10", 8 << 20, 100, 200, 65536);   /* version 2 */
    write_and_verify("compat=0.10,cluster_size=1024", 2 << 20, 100, 20, 1024);
    /* Odd virtual size: the last cluster is partial. */
    write_and_verify("cluster_size=65536", (5 << 20) + 3 * 512, 100, 300, 65536);
}

/* 512-byte clusters and 64-bit refcounts: one refcount block counts 64
 * clusters and the initial one-cluster table 4096, so writing a few MiB
 * makes vessel allocate refcount blocks and grow the table several times. */
static void test_refcount_table_growth(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char img[300], err[512];
    path_of(img, sizeof(img), "grow.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 '%s' 8M",
                        img), 0);
    uint64_t rt0 = get_be(img, 48, 8);
    uint32_t rtc0 = (uint32_t)get_be(img, 56, 4);
    size_t size = 8 << 20;
    uint8_t *m = calloc(1, size);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    /* Sequential 64 KiB writes over 6 MiB, then random ones. */
    uint8_t *buf = malloc(65536);
    for (size_t off = 0; off < (6u << 20); off += 65536) {
        for (size_t j = 0; j < 65536; j++)
            buf[j] = (uint8_t)((off >> 16) * 31 + j);
        if (off == 0)
            buf[0] = 0;
        assert_int_equal(blockdev_write(bd, off / 512, buf, 128), 0);
        memcpy(m + off, buf, 65536);
    }
    free(buf);
    rng_state = 77;
    random_writes(bd, m, size, 100, 16, 512);
    assert_vessel_reads(bd, m, size);
    blockdev_close(bd);
    uint64_t rt1 = get_be(img, 48, 8);
    uint32_t rtc1 = (uint32_t)get_be(img, 56, 4);
    assert_true(rt1 != rt0);
    assert_true(rtc1 > rtc0);
    check_clean(img);
    assert_qemu_reads(img, m, size);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Backing files                                                            */

static void test_backing_raw(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char base[300], ov[300], err[512];
    path_of(base, sizeof(base), "base.raw");
    path_of(ov, sizeof(ov), "ov.qcow2");
    /* The backing file is shorter than the overlay and not a multiple of 512. */
    size_t bsize = (3 << 20) + 1000, size = 4 << 20;
    uint8_t *b = malloc(bsize);
    rng_state = 99;
    fill_mixed(b, bsize);
    spill(base, b, bsize);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=65536 -b base.raw -F raw "
                        "'%s' %zu", ov, size), 0);
    uint8_t *m = calloc(1, size);
    memcpy(m, b, bsize);
    BlockDev *bd = blockdev_open(ov, 0, err, sizeof(err));
    if (!bd)
        fprintf(stderr, "%s\n", err);
    assert_non_null(bd);
    assert_vessel_reads(bd, m, size);
    random_writes(bd, m, size, 150, 40, 65536);   /* partial clusters: copy-on-write */
    /* Writes straddling the end of the backing file. */
    uint8_t w[4096];
    memset(w, 0xC3, sizeof(w));
    uint64_t s = bsize / 512 - 2;
    assert_int_equal(blockdev_write(bd, s, w, 8), 0);
    memcpy(m + s * 512, w, 4096);
    assert_vessel_reads(bd, m, size);
    blockdev_close(bd);
    check_clean(ov);
    assert_qemu_reads(ov, m, size);
    /* The base was only read. */
    size_t got;
    uint8_t *now = slurp(base, &got);
    assert_int_equal(got, bsize);
    assert_memory_equal(now, b, bsize);
    free(now);
    free(b);
    free(m);
}

static void test_backing_chain_qcow2(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char raw[300], base[300], mid[300], top[300], err[512];
    path_of(raw, sizeof(raw), "chain.raw");
    path_of(base, sizeof(base), "chain-base.qcow2");
    path_of(mid, sizeof(mid), "chain-mid.qcow2");
    path_of(top, sizeof(top), "chain-top.qcow2");
    size_t size = 4 << 20;
    uint8_t *m = malloc(size);
    rng_state = 5;
    fill_mixed(m, size);
    spill(raw, m, size);
    assert_int_equal(sh("qemu-img convert -q -c -O qcow2 -o cluster_size=4096 '%s' '%s'", raw,
                        base), 0);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=16384 -b chain-base.qcow2 "
                        "-F qcow2 '%s'", mid), 0);
    /* The middle layer gets data from vessel. */
    BlockDev *bd = blockdev_open(mid, 0, err, sizeof(err));
    if (!bd)
        fprintf(stderr, "%s\n", err);
    assert_non_null(bd);
    random_writes(bd, m, size, 60, 20, 16384);
    blockdev_close(bd);
    check_clean(mid);
    assert_qemu_reads(mid, m, size);
    /* No backing format recorded (the extension renamed to an unknown type,
     * which must be skipped): vessel probes the backing file. */
    assert_int_equal(sh("qemu-img create -q -f qcow2 -b chain-mid.qcow2 -F qcow2 '%s' 4M", top),
                     0);
    {
        int fd = open(top, O_RDWR);
        uint8_t c0[4096];
        assert_int_equal(pread(fd, c0, sizeof(c0), 0), (ssize_t)sizeof(c0));
        static const uint8_t type[4] = {0xe2, 0x79, 0x2a, 0xca};
        uint8_t *t = memmem(c0 + 104, sizeof(c0) - 104, type, 4);
        assert_non_null(t);
        assert_int_equal(pwrite(fd, "\x12\x34\x56\x78", 4, t - c0), 4);
        close(fd);
    }
    bd = blockdev_open(top, 0, err, sizeof(err));
    if (!bd)
        fprintf(stderr, "%s\n", err);
    assert_non_null(bd);
    assert_vessel_reads(bd, m, size);
    random_writes(bd, m, size, 60, 20, 65536);
    assert_vessel_reads(bd, m, size);
    blockdev_close(bd);
    check_clean(top);
    check_clean(mid);
    check_clean(base);
    assert_qemu_reads(top, m, size);
    free(m);
}

/* qcow2_create: a plain image, then an overlay freezing it as its base. */
static void test_vessel_create(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char base[300], ov[300], err[512];
    path_of(base, sizeof(base), "vc-base.qcow2");
    path_of(ov, sizeof(ov), "vc-ov.qcow2");
    size_t size = 6 << 20;
    assert_int_equal(qcow2_create(base, size, NULL, err, sizeof(err)), 0);
    check_clean(base);
    char *info = sh_out("qemu-img info '%s'", base);
    assert_non_null(strstr(info, "virtual size: 6 MiB"));
    assert_non_null(strstr(info, "compat: 1.1"));
    free(info);
    assert_int_equal(qcow2_create(base, size, NULL, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "exists"));

    uint8_t *m = calloc(1, size);
    BlockDev *bd = blockdev_open(base, 0, err, sizeof(err));
    assert_non_null(bd);
    rng_state = 11;
    random_writes(bd, m, size, 80, 200, 65536);
    blockdev_close(bd);
    check_clean(base);
    assert_qemu_reads(base, m, size);
    size_t blen;
    uint8_t *bfile = slurp(base, &blen);

    /* Relative backing name, size taken from the backing file. */
    assert_int_equal(qcow2_create(ov, 0, "vc-base.qcow2", err, sizeof(err)), 0);
    check_clean(ov);
    info = sh_out("qemu-img info '%s'", ov);
    assert_non_null(strstr(info, "backing file: vc-base.qcow2"));
    assert_non_null(strstr(info, "backing file format: qcow2"));
    assert_non_null(strstr(info, "virtual size: 6 MiB"));
    free(info);
    bd = blockdev_open(ov, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_vessel_reads(bd, m, size);
    random_writes(bd, m, size, 80, 200, 65536);
    blockdev_close(bd);
    check_clean(ov);
    assert_qemu_reads(ov, m, size);
    size_t blen2;
    uint8_t *bfile2 = slurp(base, &blen2);
    assert_int_equal(blen, blen2);
    assert_memory_equal(bfile, bfile2, blen);
    free(bfile);
    free(bfile2);

    /* A raw backing file is recorded as raw. */
    char raw[300], ov2[300];
    path_of(raw, sizeof(raw), "vc.raw");
    path_of(ov2, sizeof(ov2), "vc-ov2.qcow2");
    spill(raw, m, 1 << 20);
    assert_int_equal(qcow2_create(ov2, 2 << 20, raw, err, sizeof(err)), 0);
    info = sh_out("qemu-img info '%s'", ov2);
    assert_non_null(strstr(info, "backing file format: raw"));
    free(info);
    check_clean(ov2);

    /* Errors. */
    char bad[300];
    path_of(bad, sizeof(bad), "vc-bad.qcow2");
    assert_true(qcow2_create(bad, 0, "no-such-file", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "backing file"));
    assert_int_equal(access(bad, F_OK), -1);
    assert_int_equal(qcow2_create(bad, 1000, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(qcow2_create(bad, 0, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(access(bad, F_OK), -1);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Images written by qemu-img                                               */

static void test_read_qemu_images(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char raw[300], img[300], err[512];
    path_of(raw, sizeof(raw), "src.raw");
    path_of(img, sizeof(img), "q.qcow2");
    size_t size = 6 << 20;
    uint8_t *m = malloc(size);
    rng_state = 3;
    fill_mixed(m, size);
    spill(raw, m, size);
    static const char *const variants[] = {
        "", "-o cluster_size=4096", "-o cluster_size=2097152", "-o compat=0.10",
        "-c", "-c -o cluster_size=4096", "-c -o cluster_size=512", "-c -o cluster_size=2097152",
        "-c -o compat=0.10",
    };
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        unlink(img);
        assert_int_equal(sh("qemu-img convert -q -O qcow2 %s '%s' '%s'", variants[v], raw, img),
                         0);
        BlockDev *bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
        if (!bd)
            fprintf(stderr, "%s: %s\n", variants[v], err);
        assert_non_null(bd);
        assert_vessel_reads(bd, m, size);
        /* Sector-by-sector reads inside compressed clusters. */
        uint8_t s[512];
        for (uint64_t i = 0; i < 64; i++) {
            uint64_t sec = (i * 977) % (size / 512);
            assert_int_equal(blockdev_read(bd, sec, s, 1), 0);
            assert_memory_equal(s, m + sec * 512, 512);
        }
        blockdev_close(bd);
        if (strstr(variants[v], "-c")) {
            /* Overwriting compressed clusters frees their sectors. */
            uint8_t *m2 = malloc(size);
            memcpy(m2, m, size);
            bd = blockdev_open(img, 0, err, sizeof(err));
            assert_non_null(bd);
            random_writes(bd, m2, size, 100, 64, 4096);
            assert_vessel_reads(bd, m2, size);
            blockdev_close(bd);
            check_clean(img);
            assert_qemu_reads(img, m2, size);
            free(m2);
        }
    }
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Zero clusters (v3 L2 bit 0), set by editing the L2 table                 */

static void test_zero_clusters(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char base[300], img[300], err[512];
    path_of(base, sizeof(base), "z-base.raw");
    path_of(img, sizeof(img), "z.qcow2");
    size_t size = 1 << 20, cs = 65536;
    uint8_t *b = malloc(size);
    memset(b, 0xEE, size);
    spill(base, b, size);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -b z-base.raw -F raw '%s'", img), 0);
    /* Allocate guest clusters 0, 1, 2 through vessel. */
    uint8_t *m = malloc(size);
    memcpy(m, b, size);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    uint8_t *w = malloc(3 * cs);
    memset(w, 0x11, 3 * cs);
    assert_int_equal(blockdev_write(bd, 0, w, (uint32_t)(3 * cs / 512)), 0);
    memcpy(m, w, 3 * cs);
    blockdev_close(bd);
    uint64_t l1 = get_be(img, 40, 8);
    uint64_t l2 = get_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    assert_true(l2 != 0);
    /* Cluster 1: preallocated zero (offset kept, bit 0 set); cluster 5:
     * zero over the backing file (no offset, bit 0). */
    put_be(img, l2 + 8, 8, get_be(img, l2 + 8, 8) | 1);
    put_be(img, l2 + 5 * 8, 8, 1);
    memset(m + cs, 0, cs);
    memset(m + 5 * cs, 0, cs);
    check_clean(img);
    assert_qemu_reads(img, m, size);
    bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_vessel_reads(bd, m, size);
    /* Partial writes into both: the rest of each cluster stays zero. */
    memset(w, 0x77, 1024);
    assert_int_equal(blockdev_write(bd, cs / 512 + 4, w, 2), 0);
    memcpy(m + cs + 2048, w, 1024);
    assert_int_equal(blockdev_write(bd, 5 * cs / 512 + 100, w, 2), 0);
    memcpy(m + 5 * cs + 51200, w, 1024);
    assert_vessel_reads(bd, m, size);
    blockdev_close(bd);
    check_clean(img);
    assert_qemu_reads(img, m, size);
    /* Version 2 has no zero flag: the same edit is corruption (-EIO). */
    char v2[300];
    path_of(v2, sizeof(v2), "z2.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o compat=0.10 '%s' 1M", v2), 0);
    bd = blockdev_open(v2, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_write(bd, 0, w, 1), 0);
    blockdev_close(bd);
    l1 = get_be(v2, 40, 8);
    l2 = get_be(v2, l1, 8) & 0x00fffffffffffe00ULL;
    put_be(v2, l2 + 8, 8, 1);
    bd = blockdev_open(v2, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    uint8_t s[512];
    assert_int_equal(blockdev_read(bd, 0, s, 1), 0);
    assert_int_equal(blockdev_read(bd, cs / 512, s, 1), -EIO);
    blockdev_close(bd);
    free(w);
    free(m);
    free(b);
}

/* ------------------------------------------------------------------------ */
/* -snapshot over a qcow2 base                                              */

static void test_snapshot_overlay(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char raw[300], img[300], err[512];
    path_of(raw, sizeof(raw), "snap.raw");
    path_of(img, sizeof(img), "snap.qcow2");
    size_t size = 2 << 20;
    uint8_t *m = malloc(size);
    rng_state = 8;
    fill_mixed(m, size);
    spill(raw, m, size);
    assert_int_equal(sh("qemu-img convert -q -O qcow2 -c '%s' '%s'", raw, img), 0);
    size_t flen;
    uint8_t *before = slurp(img, &flen);
    assert_int_equal(chmod(img, 0444), 0);   /* must not even need write access */
    BlockDev *bd = blockdev_open(img, BLOCKDEV_SNAPSHOT, err, sizeof(err));
    assert_non_null(bd);
    assert_false(blockdev_read_only(bd));
    assert_string_equal(blockdev_format(bd), "qcow2");
    rng_state = 9;
    random_writes(bd, m, size, 100, 64, 65536);
    assert_vessel_reads(bd, m, size);
    assert_int_equal(blockdev_flush(bd), 0);
    blockdev_close(bd);
    size_t flen2;
    uint8_t *after = slurp(img, &flen2);
    assert_int_equal(flen, flen2);
    assert_memory_equal(before, after, flen);
    free(before);
    free(after);
    free(m);
}

/* ------------------------------------------------------------------------ */
/* Autoclear features (persistent dirty bitmaps) are dropped on first write */

static void test_autoclear_bitmaps(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char img[300], err[512];
    path_of(img, sizeof(img), "bitmap.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 '%s' 4M", img), 0);
    assert_int_equal(sh("qemu-img bitmap --add '%s' b0", img), 0);
    assert_int_equal(get_be(img, 88, 8), 1);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    uint8_t s[512];
    assert_int_equal(blockdev_read(bd, 0, s, 1), 0);
    assert_int_equal(blockdev_flush(bd), 0);
    blockdev_close(bd);
    assert_int_equal(get_be(img, 88, 8), 1);   /* not written: bitmaps still valid */
    check_clean(img);
    bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    memset(s, 0x33, sizeof(s));
    assert_int_equal(blockdev_write(bd, 7, s, 1), 0);
    assert_int_equal(get_be(img, 88, 8), 0);   /* cleared before the first write */
    blockdev_close(bd);
    /* QEMU now ignores the bitmaps; their clusters are leaks, not errors. */
    char *o = sh_out("qemu-img check '%s' 2>&1; echo \"exit=$?\"", img);
    bool ok = !strstr(o, "ERROR") && (strstr(o, "exit=0") || strstr(o, "exit=3"));
    if (!ok)
        fprintf(stderr, "%s\n", o);
    free(o);
    assert_true(ok);
}

/* ------------------------------------------------------------------------ */
/* Guard: a probed raw image never becomes a qcow2 header; forced formats    */

static void test_raw_magic_guard(void **state)
{
    (void)state;
    char p[300], err[256];
    path_of(p, sizeof(p), "guard.raw");
    uint8_t z[4096] = {0};
    spill(p, z, sizeof(z));
    BlockDev *bd = blockdev_open(p, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_string_equal(blockdev_format(bd), "raw");
    uint8_t s[512] = {'Q', 'F', 'I', 0xfb};
    assert_int_equal(blockdev_write(bd, 0, s, 1), -EPERM);
    assert_int_equal(blockdev_write(bd, 1, s, 1), 0);
    s[3] = 0;
    assert_int_equal(blockdev_write(bd, 0, s, 1), 0);
    blockdev_close(bd);
    /* Declared raw (-drive format=raw): the guest may write anything, and the
     * result stays raw for that user. */
    bd = blockdev_open(p, BLOCKDEV_FORMAT_RAW, err, sizeof(err));
    assert_non_null(bd);
    s[3] = 0xfb;
    assert_int_equal(blockdev_write(bd, 0, s, 1), 0);
    blockdev_close(bd);
    bd = blockdev_open(p, BLOCKDEV_FORMAT_RAW | BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    assert_string_equal(blockdev_format(bd), "raw");
    blockdev_close(bd);
    assert_null(blockdev_open(p, BLOCKDEV_RDONLY, err, sizeof(err)));   /* probed: bad qcow2 */
    assert_null(blockdev_open(p, BLOCKDEV_FORMAT_RAW | BLOCKDEV_FORMAT_QCOW2, err, sizeof(err)));
    /* Declared qcow2 but raw. */
    s[0] = 0;
    bd = blockdev_open(p, BLOCKDEV_FORMAT_RAW, err, sizeof(err));
    assert_int_equal(blockdev_write(bd, 0, s, 1), 0);
    blockdev_close(bd);
    assert_null(blockdev_open(p, BLOCKDEV_FORMAT_QCOW2, err, sizeof(err)));
    assert_non_null(strstr(err, "not a qcow2 image"));
}

/* ------------------------------------------------------------------------ */
/* Corrupt and unsupported images                                           */

static void expect_open_error(const char *img, int flags, const char *needle)
{
    char err[512];
    err[0] = 0;
    BlockDev *bd = blockdev_open(img, flags, err, sizeof(err));
    if (bd || !strstr(err, needle))
        fprintf(stderr, "%s: expected error containing '%s', got '%s'\n", img, needle,
                bd ? "(opened)" : err);
    assert_null(bd);
    assert_non_null(strstr(err, needle));
}

/* A fresh 1 MiB image with its first 64 KiB written (one L2 table). */
static void fresh(const char *img, const char *opts)
{
    char err[256];
    unlink(img);
    assert_int_equal(sh("qemu-img create -q -f qcow2 %s '%s' 1M", opts, img), 0);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    uint8_t w[65536];
    memset(w, 0x42, sizeof(w));
    assert_int_equal(blockdev_write(bd, 0, w, 128), 0);
    blockdev_close(bd);
}

static void test_corrupt_headers(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char img[300];
    path_of(img, sizeof(img), "bad.qcow2");

    fresh(img, "");
    assert_int_equal(truncate(img, 50), 0);
    expect_open_error(img, BLOCKDEV_RDONLY, "truncated");
    fresh(img, "");
    assert_int_equal(truncate(img, 90), 0);
    expect_open_error(img, BLOCKDEV_RDONLY, "truncated");
    fresh(img, "");   /* cut inside the L1 table */
    assert_int_equal(truncate(img, (off_t)get_be(img, 40, 8) + 4), 0);
    expect_open_error(img, BLOCKDEV_RDONLY, "L1 table");

    fresh(img, "");
    put_be(img, 40, 8, 1ULL << 40);
    expect_open_error(img, BLOCKDEV_RDONLY, "L1 table offset");
    fresh(img, "");
    put_be(img, 40, 8, 0x30001);
    expect_open_error(img, BLOCKDEV_RDONLY, "L1 table offset");
    fresh(img, "");
    put_be(img, 36, 4, 0);
    expect_open_error(img, BLOCKDEV_RDONLY, "L1 table size");
    fresh(img, "");
    put_be(img, 36, 4, 0xffffffff);
    expect_open_error(img, BLOCKDEV_RDONLY, "L1 table size");

    fresh(img, "");
    put_be(img, 20, 4, 30);
    expect_open_error(img, BLOCKDEV_RDONLY, "cluster_bits");
    fresh(img, "");
    put_be(img, 20, 4, 8);
    expect_open_error(img, BLOCKDEV_RDONLY, "cluster_bits");

    fresh(img, "");
    put_be(img, 48, 8, 1ULL << 45);
    expect_open_error(img, BLOCKDEV_RDONLY, "refcount table");
    fresh(img, "");
    put_be(img, 56, 4, 100000);
    expect_open_error(img, BLOCKDEV_RDONLY, "refcount table");
    fresh(img, "");
    put_be(img, 48, 8, get_be(img, 40, 8));   /* the L1 table */
    expect_open_error(img, BLOCKDEV_RDONLY, "overlap");

    fresh(img, "");
    put_be(img, 4, 4, 4);
    expect_open_error(img, BLOCKDEV_RDONLY, "version");
    fresh(img, "");
    put_be(img, 32, 4, 1);
    expect_open_error(img, BLOCKDEV_RDONLY, "encrypted");
    fresh(img, "");
    put_be(img, 24, 8, 1000);
    expect_open_error(img, BLOCKDEV_RDONLY, "virtual size");
    fresh(img, "");
    put_be(img, 24, 8, 1ULL << 62);
    expect_open_error(img, BLOCKDEV_RDONLY, "virtual size");
    fresh(img, "");
    put_be(img, 96, 4, 7);
    expect_open_error(img, BLOCKDEV_RDONLY, "refcount_order");
    fresh(img, "");
    put_be(img, 100, 4, 1 << 20);
    expect_open_error(img, BLOCKDEV_RDONLY, "header_length");

    /* Features: unknown incompatible bits (named from the feature table). */
    fresh(img, "");
    put_be(img, 72, 8, 1ULL << 4);
    expect_open_error(img, BLOCKDEV_RDONLY, "extended L2");
    fresh(img, "");
    put_be(img, 72, 8, 1ULL << 2);
    expect_open_error(img, BLOCKDEV_RDONLY, "external data file");
    fresh(img, "");
    put_be(img, 72, 8, 1ULL << 40);
    expect_open_error(img, BLOCKDEV_RDONLY, "bit 40");
    unlink(img);
    if (sh("qemu-img create -q -f qcow2 -o compression_type=zstd '%s' 1M 2>/dev/null", img) == 0)
        expect_open_error(img, BLOCKDEV_RDONLY, "compression type");
    fresh(img, "");
    put_be(img, 72, 8, 1ULL << 3);
    expect_open_error(img, BLOCKDEV_RDONLY, "compression type");

    /* Dirty / corrupt bits: read-only and -snapshot fine, writing refused. */
    char err[512];
    for (int bit = 0; bit < 2; bit++) {
        fresh(img, "");
        put_be(img, 72, 8, 1ULL << bit);
        expect_open_error(img, 0, bit ? "corrupt" : "dirty");
        BlockDev *bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
        assert_non_null(bd);
        uint8_t s[512];
        assert_int_equal(blockdev_read(bd, 0, s, 1), 0);
        assert_int_equal(s[0], 0x42);
        blockdev_close(bd);
        bd = blockdev_open(img, BLOCKDEV_SNAPSHOT, err, sizeof(err));
        assert_non_null(bd);
        assert_int_equal(blockdev_write(bd, 0, s, 1), 0);
        blockdev_close(bd);
    }

    /* Header extension longer than the header cluster. */
    fresh(img, "");
    put_be(img, 112, 4, 0x12345678);
    put_be(img, 116, 4, 0x100000);
    expect_open_error(img, BLOCKDEV_RDONLY, "extension");

    /* Backing file name beyond the header cluster; unknown backing format. */
    fresh(img, "");
    put_be(img, 8, 8, 65530);
    put_be(img, 16, 4, 100);
    expect_open_error(img, BLOCKDEV_RDONLY, "backing file name");
    char base[300];
    path_of(base, sizeof(base), "bad-base.raw");
    uint8_t z[4096] = {0};
    spill(base, z, sizeof(z));
    unlink(img);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -b bad-base.raw -F raw '%s' 1M", img), 0);
    int fd = open(img, O_RDWR);   /* the backing format extension says "raw" */
    uint8_t c0[4096];
    assert_int_equal(pread(fd, c0, sizeof(c0), 0), (ssize_t)sizeof(c0));
    uint8_t *r = memmem(c0, sizeof(c0), "raw\0", 4);
    assert_non_null(r);
    memcpy(r, "vmdk", 4);
    assert_int_equal(pwrite(fd, c0, sizeof(c0), 0), (ssize_t)sizeof(c0));
    /* The length field precedes the name. */
    uint8_t len4[4] = {0, 0, 0, 4};
    assert_int_equal(pwrite(fd, len4, 4, (r - c0) - 4), 4);
    close(fd);
    expect_open_error(img, BLOCKDEV_RDONLY, "unsupported image format 'vmdk'");

    /* Internal snapshots: readable, not writable. */
    fresh(img, "");
    assert_int_equal(sh("qemu-img snapshot -c snap1 '%s'", img), 0);
    expect_open_error(img, 0, "internal snapshots");
    BlockDev *bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    blockdev_close(bd);
}

static void test_backing_loops(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char a[300], b[300], c[300], err[512];
    path_of(a, sizeof(a), "loop-a.qcow2");
    path_of(b, sizeof(b), "loop-b.qcow2");
    path_of(c, sizeof(c), "loop-c.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -u -b loop-b.qcow2 -F qcow2 '%s' 1M", a), 0);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -u -b loop-a.qcow2 -F qcow2 '%s' 1M", b), 0);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -u -b loop-c.qcow2 -F qcow2 '%s' 1M", c), 0);
    expect_open_error(a, BLOCKDEV_RDONLY, "loops");
    expect_open_error(b, 0, "loops");
    expect_open_error(c, BLOCKDEV_SNAPSHOT, "loops");
    /* Through a symlink: still the same file. */
    char l[300];
    path_of(l, sizeof(l), "loop-link.qcow2");
    assert_int_equal(symlink("loop-c.qcow2", l), 0);
    expect_open_error(l, BLOCKDEV_RDONLY, "loops");
    /* A chain deeper than BLOCKDEV_MAX_CHAIN. */
    char p[300];
    path_of(p, sizeof(p), "deep0.raw");
    uint8_t z[512] = {0};
    spill(p, z, sizeof(z));
    for (int i = 1; i <= BLOCKDEV_MAX_CHAIN + 1; i++) {
        path_of(p, sizeof(p), "");
        assert_int_equal(sh("cd '%s' && qemu-img create -q -f qcow2 -u -b deep%d.%s -F %s "
                            "deep%d.qcow2 1M", p, i - 1, i == 1 ? "raw" : "qcow2",
                            i == 1 ? "raw" : "qcow2", i), 0);
    }
    char name[32];
    snprintf(name, sizeof(name), "deep%d.qcow2", BLOCKDEV_MAX_CHAIN - 1); /* MAX images with the raw one */
    path_of(p, sizeof(p), name);
    BlockDev *bd = blockdev_open(p, BLOCKDEV_RDONLY, err, sizeof(err));
    if (!bd)
        fprintf(stderr, "%s\n", err);
    assert_non_null(bd);
    blockdev_close(bd);
    snprintf(name, sizeof(name), "deep%d.qcow2", BLOCKDEV_MAX_CHAIN + 1);
    path_of(p, sizeof(p), name);
    expect_open_error(p, BLOCKDEV_RDONLY, "deeper");
    /* A missing backing file. */
    path_of(p, sizeof(p), "orphan.qcow2");
    assert_int_equal(sh("qemu-img create -q -f qcow2 -u -b gone.raw -F raw '%s' 1M", p), 0);
    expect_open_error(p, BLOCKDEV_RDONLY, "gone.raw");
}

/* Bad pointers inside tables: the affected requests fail with -EIO, the
 * rest of the disk still reads, nothing crashes. */
static void test_corrupt_tables(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char img[300], err[512];
    path_of(img, sizeof(img), "badt.qcow2");
    uint8_t s[512];

    /* Unaligned data cluster offset in L2 entry 1. */
    fresh(img, "");
    uint64_t l1 = get_be(img, 40, 8);
    uint64_t l2 = get_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    put_be(img, l2 + 8, 8, (1ULL << 63) | 0x50200);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_read(bd, 0, s, 1), 0);
    assert_int_equal(s[0], 0x42);
    assert_int_equal(blockdev_read(bd, 128, s, 1), -EIO);
    assert_int_equal(blockdev_write(bd, 128, s, 1), -EIO);
    assert_int_equal(blockdev_write(bd, 0, s, 1), -EIO);   /* writes now refused */
    assert_int_equal(blockdev_read(bd, 0, s, 1), 0);
    blockdev_close(bd);

    /* L1 entry pointing past the end of the file, and at the header. */
    fresh(img, "");
    put_be(img, l1, 8, (1ULL << 63) | (1ULL << 40));
    bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_read(bd, 0, s, 1), -EIO);
    assert_int_equal(blockdev_write(bd, 0, s, 1), -EIO);
    blockdev_close(bd);
    fresh(img, "");
    put_be(img, l1, 8, 1ULL << 63 | 0x10000);   /* the refcount table */
    bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    memset(s, 0, sizeof(s));
    assert_int_equal(blockdev_write(bd, 0, s, 1), -EIO);
    blockdev_close(bd);
}

/* Refcount table entry pointing outside the file: allocating writes fail
 * with -EIO, reads and in-place writes still work. */
static void test_corrupt_refcounts(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char img[300], err[512];
    path_of(img, sizeof(img), "badrc.qcow2");
    fresh(img, "");
    uint64_t rt = get_be(img, 48, 8);
    put_be(img, rt, 8, 1ULL << 44);
    BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
    assert_non_null(bd);
    uint8_t s[512];
    memset(s, 0x42, sizeof(s));
    assert_int_equal(blockdev_read(bd, 0, s, 1), 0);
    assert_int_equal(blockdev_write(bd, 1, s, 1), 0);          /* in place */
    assert_int_equal(blockdev_write(bd, 1000, s, 1), -EIO);    /* needs a cluster */
    blockdev_close(bd);
    /* Compressed data that does not inflate. */
    char raw[300];
    path_of(raw, sizeof(raw), "badc.raw");
    uint8_t *b = malloc(1 << 20);
    memset(b, 0x31, 1 << 20);
    spill(raw, b, 1 << 20);
    free(b);
    unlink(img);
    assert_int_equal(sh("qemu-img convert -q -c -O qcow2 '%s' '%s'", raw, img), 0);
    uint64_t l1 = get_be(img, 40, 8);
    uint64_t l2 = get_be(img, l1, 8) & 0x00fffffffffffe00ULL;
    uint64_t e = get_be(img, l2, 8);
    assert_true(e & (1ULL << 62));
    uint64_t coff = e & ((1ULL << 54) - 1);
    put_be(img, coff, 8, 0xffffffffffffffffULL);
    bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_read(bd, 0, s, 1), -EIO);
    blockdev_close(bd);
    /* Compressed cluster offset past the end of the file. */
    put_be(img, l2, 8, (1ULL << 62) | (1ULL << 50));
    bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_read(bd, 0, s, 1), -EIO);
    blockdev_close(bd);
}

/* ------------------------------------------------------------------------ */
/* Crash: a process that dies without closing leaves only leaked clusters   */

static void crash_case(const char *img, size_t size, uint32_t cluster, uint64_t seed)
{
    char err[512];
    uint8_t *m = malloc(size);
    uint8_t *before = malloc(size);
    char raw[300];
    path_of(raw, sizeof(raw), "crash-before.raw");
    assert_int_equal(sh("qemu-img convert -O raw '%s' '%s'", img, raw), 0);
    size_t got;
    uint8_t *b = slurp(raw, &got);
    assert_int_equal(got, size);
    memcpy(before, b, size);
    free(b);
    for (int round = 0; round < 3; round++) {
        memcpy(m, before, size);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* Child: write, then die with reservations and frees pending. */
            BlockDev *bd = blockdev_open(img, 0, err, sizeof(err));
            if (!bd)
                _exit(2);
            rng_state = seed + (uint64_t)round;
            random_writes(bd, m, size, 40 + 30 * (unsigned)round, 64, cluster);
            _exit(0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        rng_state = seed + (uint64_t)round;   /* the same writes, mirrored here */
        uint8_t *scratch = malloc(size);
        memcpy(scratch, before, size);
        random_writes(NULL, scratch, size, 40 + 30 * (unsigned)round, 64, cluster);
        /* Leaks allowed (exit 3), corruption not (exit 2). */
        char *o = sh_out("qemu-img check '%s' 2>&1; echo \"exit=$?\"", img);
        bool ok = !strstr(o, "ERROR") && !strstr(o, "corruptions") &&
                  (strstr(o, "exit=0") || strstr(o, "exit=3"));
        if (getenv("QCOW2_TEST_VERBOSE"))
            fprintf(stderr, "%s", o);
        if (!ok)
            fprintf(stderr, "after crash, qemu-img check %s:\n%s\n", img, o);
        free(o);
        assert_true(ok);
        /* Every write the child made is there (no power was lost). */
        assert_qemu_reads(img, scratch, size);
        memcpy(before, scratch, size);
        free(scratch);
        /* vessel keeps working on the leaky image. */
        BlockDev *bd = blockdev_open(img, BLOCKDEV_RDONLY, err, sizeof(err));
        assert_non_null(bd);
        assert_vessel_reads(bd, before, size);
        blockdev_close(bd);
    }
    assert_int_equal(sh("qemu-img check -q -r leaks '%s' >/dev/null 2>&1", img), 0);
    check_clean(img);
    unlink(raw);
    free(m);
    free(before);
}

static void test_crash_leaves_leaks_only(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char raw[300], img[300];
    path_of(raw, sizeof(raw), "crash.raw");
    path_of(img, sizeof(img), "crash.qcow2");
    size_t size = 2 << 20;
    uint8_t *m = malloc(size);
    rng_state = 17;
    fill_mixed(m, size);
    spill(raw, m, size);
    free(m);
    /* Compressed clusters: overwrites queue frees that the crash drops. */
    assert_int_equal(sh("qemu-img convert -q -c -O qcow2 -o cluster_size=4096 '%s' '%s'", raw,
                        img), 0);
    crash_case(img, size, 4096, 100);
    /* Small clusters, wide refcounts: refcount blocks and table growth. */
    unlink(img);
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=512,refcount_bits=64 "
                        "'%s' 2M", img), 0);
    crash_case(img, size, 512, 200);
}

/* ------------------------------------------------------------------------ */
/* Fuzz: mutate headers and tables, open, read, write; must not crash       */

static void fuzz_image(const char *seed_img, unsigned iters, uint64_t seed)
{
    char img[300], err[512];
    path_of(img, sizeof(img), "fuzz.qcow2");
    size_t len;
    uint8_t *orig = slurp(seed_img, &len);
    uint8_t *f = malloc(len);
    uint8_t *buf = malloc(64 * 512);
    size_t meta = len < 8 * 4096 ? len : 8 * 4096;   /* header, tables: first clusters */
    unsigned opened = 0;
    rng_state = seed;
    for (unsigned it = 0; it < iters; it++) {
        memcpy(f, orig, len);
        int nmut = 1 + (int)(rnd() % 4);
        for (int k = 0; k < nmut; k++) {
            uint64_t r = rnd();
            switch (r % 5) {
            case 0:   /* a header byte */
                f[rnd() % 112] = (uint8_t)rnd();
                break;
            case 1:   /* a metadata byte */
                f[rnd() % meta] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            case 2: { /* a big-endian word in the tables: an interesting value */
                static const uint64_t vals[] = {0, 1, 0x200, 0x1000, 0x10000, 1ULL << 62,
                                                1ULL << 63, ~0ULL, 0x00fffffffffffe00ULL};
                uint64_t v = vals[rnd() % (sizeof(vals) / sizeof(vals[0]))];
                if (rnd() % 2)
                    v = (rnd() % (len * 2)) & ~0x1ffULL;
                size_t at = (rnd() % (meta / 8)) * 8;
                for (int i = 7; i >= 0; i--, v >>= 8)
                    f[at + (size_t)i] = (uint8_t)v;
                break;
            }
            case 3:   /* anywhere (compressed data, refcount blocks) */
                f[rnd() % len] = (uint8_t)rnd();
                break;
            default: { /* a header field */
                static const uint8_t fields[] = {4, 8, 16, 20, 24, 32, 36, 40, 48, 56, 60, 72,
                                                 80, 88, 96, 100};
                size_t at = fields[rnd() % sizeof(fields)];
                f[at + 3] = (uint8_t)rnd();
                if (rnd() % 2)
                    f[at + 2] = (uint8_t)rnd();
                break;
            }
            }
        }
        spill(img, f, len);
        bool rw = it % 8 == 0;
        BlockDev *bd = blockdev_open(img, rw ? 0 : BLOCKDEV_RDONLY, err, sizeof(err));
        if (!bd)
            continue;
        opened++;
        uint64_t sectors = blockdev_sectors(bd);
        for (int k = 0; k < 8 && sectors; k++) {
            uint32_t n = 1 + (uint32_t)(rnd() % 64);
            if (n > sectors)
                n = (uint32_t)sectors;
            uint64_t s = k < 4 ? rnd() % (sectors - n + 1) : rnd() % (sectors < 4096 ? sectors : 4096);
            if (s + n > sectors)
                s = sectors - n;
            (void)blockdev_read(bd, s, buf, n);
        }
        if (rw) {
            for (int k = 0; k < 4 && sectors; k++) {
                uint32_t n = 1 + (uint32_t)(rnd() % 16);
                if (n > sectors)
                    n = (uint32_t)sectors;
                uint64_t s = rnd() % (sectors - n + 1);
                memset(buf, (int)k + 1, (size_t)n * 512);
                (void)blockdev_write(bd, s, buf, n);
            }
            (void)blockdev_flush(bd);
        }
        blockdev_close(bd);
    }
    fprintf(stderr, "fuzz %s: %u mutated images, %u opened\n", seed_img, iters, opened);
    assert_true(opened > 0);
    free(orig);
    free(f);
    free(buf);
}

static void test_fuzz(void **state)
{
    (void)state;
    NEED_QEMU_IMG();
    char raw[300], a[300], b[300];
    path_of(raw, sizeof(raw), "fz.raw");
    path_of(a, sizeof(a), "fz-a.qcow2");
    path_of(b, sizeof(b), "fz-b.qcow2");
    size_t size = 256 << 10;
    uint8_t *m = malloc(size);
    rng_state = 42;
    fill_mixed(m, size);
    spill(raw, m, size);
    free(m);
    assert_int_equal(sh("qemu-img convert -q -O qcow2 -o cluster_size=4096 '%s' '%s'", raw, a), 0);
    assert_int_equal(sh("qemu-img convert -q -c -O qcow2 -o cluster_size=4096 '%s' '%s'", raw, b),
                     0);
    /* VESSEL_FUZZ_ITERS=n runs longer (e.g. under ASan). */
    const char *env = getenv("VESSEL_FUZZ_ITERS");
    unsigned iters = env && atoi(env) > 0 ? (unsigned)atoi(env) : 1000;
    fuzz_image(a, iters, 1);
    fuzz_image(b, iters, 2);
    /* 512-byte clusters with 64-bit refcounts; version 2 with 1 KiB clusters. */
    assert_int_equal(sh("qemu-img convert -q -c -O qcow2 -o cluster_size=512,refcount_bits=64 "
                        "'%s' '%s'", raw, a), 0);
    assert_int_equal(sh("qemu-img convert -q -O qcow2 -o compat=0.10,cluster_size=1024 "
                        "'%s' '%s'", raw, b), 0);
    fuzz_image(a, iters, 3);
    fuzz_image(b, iters, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_cluster_sizes),
        cmocka_unit_test(test_refcount_table_growth),
        cmocka_unit_test(test_backing_raw),
        cmocka_unit_test(test_backing_chain_qcow2),
        cmocka_unit_test(test_vessel_create),
        cmocka_unit_test(test_read_qemu_images),
        cmocka_unit_test(test_zero_clusters),
        cmocka_unit_test(test_snapshot_overlay),
        cmocka_unit_test(test_autoclear_bitmaps),
        cmocka_unit_test(test_raw_magic_guard),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_backing_loops),
        cmocka_unit_test(test_corrupt_tables),
        cmocka_unit_test(test_corrupt_refcounts),
        cmocka_unit_test(test_crash_leaves_leaks_only),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
