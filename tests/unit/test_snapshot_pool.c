/*
 * test_snapshot_pool.c - the parallel memory writer of frontend/snapshot.c
 * (worker threads deflating 1 MiB chunks, written in order):
 *  - the file is byte for byte the same with 0, 1, 2 and 4 workers, and
 *    loads back into a fresh machine with the same RAM and VRAM;
 *  - each chunk record is what the format says: bitmap of the non-zero
 *    pages (touched-but-zero pages left out), raw length, level-1 data for
 *    compressible chunks, stored (level 0) data when the first 64 KiB of
 *    non-zero pages do not shrink by 10%, level 1 when there are only
 *    64 KiB of them, CRC-32 of bitmap + lengths + data;
 *  - a chunk re-encoded by another deflate encoder (as older writers did)
 *    still loads: the reader only needs a zlib stream;
 *  - error paths: a chunk whose compression fails and a write error
 *    (/dev/full) both return SNAP_ERR_IO with every thread joined (run
 *    under ASan/UBSan: no leak) and the machine saves fine afterwards.
 *
 * The file under test is compiled into this executable (#include below).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "frontend/snapshot.c"
#include "frontend/snapshot_disk.c"

#define MiB (1u << 20)

static uint8_t bios[0x10000];

static void null_sink(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

static PcMachine *make_pc(void)
{
    memset(bios, 0xF4, sizeof(bios)); /* hlt */
    static const uint8_t reset[] = { 0xEA, 0x00, 0x00, 0x00, 0xF0 };
    memcpy(bios + 0xFFF0, reset, sizeof(reset));
    PcConfig cfg = {
        .ram_size = 16 * MiB,
        .bios = bios,
        .bios_size = sizeof(bios),
        .icount = true,
        .apic = true,
        .vga = true,
        .debug_exit_port = -1,
        .serial = { { null_sink, NULL }, { NULL, NULL } },
    };
    char err[256];
    PcMachine *pc = pc_new(&cfg, err, sizeof(err));
    assert_non_null(pc);
    return pc;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = rnd8();
}

/* Text-like data: deflate level 1 shrinks it well. */
static void fill_text(uint8_t *p, size_t n)
{
    static const char *w[] = { "vessel ", "snapshot ", "chunk ", "deflate ", "page\n", "zero " };
    for (size_t i = 0; i < n;) {
        const char *s = w[rnd8() % 6];
        for (; *s && i < n; s++)
            p[i++] = (uint8_t)*s;
    }
}

/* Chunk c of guest RAM (1 MiB each), what it holds and what its record
 * must look like. */
enum { C_RANDOM = 2, C_POOR_START = 3, C_TEXT = 4, C_TOUCHED_ZERO = 5, C_SPARSE = 6,
       C_SIXTEEN = 7, C_SEVENTEEN = 8 };

static void fill_ram(PcMachine *pc)
{
    uint8_t *ram = pc->pm.ram;
    rng = 0x9E3779B97F4A7C15ull;
    fill_random(ram + C_RANDOM * MiB, MiB);
    fill_random(ram + C_POOR_START * MiB, 64 * 1024);
    fill_text(ram + C_POOR_START * MiB + 64 * 1024, MiB - 64 * 1024);
    fill_text(ram + C_TEXT * MiB, MiB);
    memset(ram + C_TOUCHED_ZERO * MiB, 0x55, MiB);
    memset(ram + C_TOUCHED_ZERO * MiB, 0, MiB);
    for (unsigned pg = 0; pg < 256; pg += 37)
        ram[C_SPARSE * MiB + pg * SNAP_PAGE + 100] = (uint8_t)(pg + 1);
    fill_random(ram + C_SIXTEEN * MiB, 16 * SNAP_PAGE);
    fill_random(ram + C_SEVENTEEN * MiB, 16 * SNAP_PAGE);
    fill_text(ram + C_SEVENTEEN * MiB + 16 * SNAP_PAGE, SNAP_PAGE);
    size_t vlen = 0;
    const uint8_t *v = vga_vram(pc->vga, &vlen);
    uint8_t *vv = malloc(vlen);
    assert_non_null(vv);
    memcpy(vv, v, vlen);
    fill_text(vv + MiB, MiB); /* VRAM chunk 1 */
    assert_int_equal(vga_vram_load(pc->vga, vv, vlen), 0);
    free(vv);
}

static uint8_t *save_with(PcMachine *pc, int threads, size_t *len)
{
    g_snap_threads = threads;
    uint8_t *buf = NULL;
    char err[512];
    int r = snapshot_save_mem(pc, &buf, len, err, sizeof(err));
    g_snap_threads = -1;
    if (r != 0)
        fail_msg("save with %d workers failed: %s", threads, err);
    return buf;
}

/* Offset of the memory record `tag` (walks the header and sections). */
static size_t find_record(const uint8_t *buf, size_t len, const char tag[4])
{
    size_t at = (size_t)get_le(buf + 12, 4);
    while (at + 4 <= len && !memcmp(buf + at, "SECT", 4)) {
        size_t nl = (size_t)get_le(buf + at + 4, 2);
        size_t l = (size_t)get_le(buf + at + 6 + nl + 2, 4);
        at += 6 + nl + 2 + 4 + 4 + l;
    }
    while (at + 4 <= len && memcmp(buf + at, tag, 4)) {
        /* skip a memory record */
        uint32_t n = (uint32_t)get_le(buf + at + 16, 4);
        at += 20;
        for (uint32_t c = 0; c < n; c++)
            at += SNAP_REC_HDR + (size_t)get_le(buf + at + SNAP_BITMAP + 4, 4);
    }
    assert_true(at + 20 <= len);
    return at;
}

/* Chunk c of the record at rec: its bitmap, lengths and data. */
static const uint8_t *chunk_at(const uint8_t *buf, size_t rec, uint32_t c, uint32_t *raw,
                               uint32_t *comp)
{
    size_t at = rec + 20;
    for (uint32_t k = 0; k < c; k++)
        at += SNAP_REC_HDR + (size_t)get_le(buf + at + SNAP_BITMAP + 4, 4);
    *raw = (uint32_t)get_le(buf + at + SNAP_BITMAP, 4);
    *comp = (uint32_t)get_le(buf + at + SNAP_BITMAP + 4, 4);
    uint32_t crc = (uint32_t)get_le(buf + at + SNAP_BITMAP + 8, 4);
    uLong c2 = crc32(0L, Z_NULL, 0);
    c2 = crc32(c2, buf + at, SNAP_BITMAP + 8);
    c2 = crc32(c2, buf + at + SNAP_REC_HDR, *comp);
    assert_int_equal(crc, (uint32_t)c2);
    return buf + at;
}

static unsigned bits(const uint8_t *bm)
{
    unsigned n = 0;
    for (unsigned i = 0; i < SNAP_BITMAP; i++)
        n += (unsigned)__builtin_popcount(bm[i]);
    return n;
}

static void assert_same_memory(PcMachine *a, PcMachine *b)
{
    assert_memory_equal(a->pm.ram, b->pm.ram, a->pm.ram_size);
    size_t la, lb;
    const uint8_t *va = vga_vram(a->vga, &la), *vb = vga_vram(b->vga, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(va, vb, la);
}

static void test_same_bytes_any_workers(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    fill_ram(pc);
    size_t l0;
    uint8_t *b0 = save_with(pc, 0, &l0);
    size_t h0 = (size_t)get_le(b0 + 12, 4);
    static const int counts[] = { 1, 2, 4 };
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        size_t l;
        uint8_t *b = save_with(pc, counts[k], &l);
        assert_int_equal(l, l0);
        /* the header holds the creation time; the rest must be identical */
        assert_memory_equal(b + h0, b0 + h0, l0 - h0 - 4);
        free(b);
    }
    /* and it loads into a fresh machine */
    PcMachine *pc2 = make_pc();
    char err[512];
    int r = snapshot_load_mem(pc2, b0, l0, "pool", err, sizeof(err));
    if (r)
        fail_msg("load: %s", err);
    assert_same_memory(pc, pc2);
    free(b0);
    pc_free(pc2);
    pc_free(pc);
}

static void test_chunk_records(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    fill_ram(pc);
    size_t len;
    uint8_t *b = save_with(pc, 2, &len);
    size_t rec = find_record(b, len, "RAM ");
    assert_int_equal(get_le(b + rec + 4, 8), 16 * MiB);
    assert_int_equal(get_le(b + rec + 12, 4), SNAP_CHUNK);
    assert_int_equal(get_le(b + rec + 16, 4), 16);
    uint32_t raw, comp;
    const uint8_t *ch;

    ch = chunk_at(b, rec, C_RANDOM, &raw, &comp);
    assert_int_equal(bits(ch), 256);
    assert_int_equal(raw, MiB);
    assert_true(comp > raw && comp < raw + 256); /* stored: 5 bytes per 64 KiB block */

    ch = chunk_at(b, rec, C_POOR_START, &raw, &comp);
    assert_int_equal(raw, MiB);
    assert_true(comp > raw); /* the sample decides: stored, although most of it is text */

    ch = chunk_at(b, rec, C_TEXT, &raw, &comp);
    assert_int_equal(raw, MiB);
    assert_true(comp < raw / 3);

    ch = chunk_at(b, rec, C_TOUCHED_ZERO, &raw, &comp);
    assert_int_equal(bits(ch), 0);
    assert_int_equal(raw, 0);
    assert_int_equal(comp, 0);

    ch = chunk_at(b, rec, C_SPARSE, &raw, &comp);
    assert_int_equal(bits(ch), 7); /* pages 0, 37, ..., 222 */
    for (unsigned pg = 0; pg < 256; pg++)
        assert_int_equal(!!(ch[pg / 8] & (1u << (pg % 8))), pg % 37 == 0);
    assert_int_equal(raw, 7 * SNAP_PAGE);

    ch = chunk_at(b, rec, C_SIXTEEN, &raw, &comp);
    assert_int_equal(raw, 16 * SNAP_PAGE); /* no sample: level 1 (a little larger) */
    assert_true(comp > raw);
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit(&z), Z_OK);
    uint8_t *out = malloc(MiB);
    assert_non_null(out);
    z.next_in = (Bytef *)ch + SNAP_REC_HDR;
    z.avail_in = comp;
    z.next_out = out;
    z.avail_out = MiB;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, raw);
    assert_memory_equal(out, pc->pm.ram + C_SIXTEEN * MiB, raw);
    inflateEnd(&z);

    ch = chunk_at(b, rec, C_SEVENTEEN, &raw, &comp);
    assert_int_equal(raw, 17 * SNAP_PAGE);
    assert_true(comp > raw); /* sample poor: stored */

    ch = chunk_at(b, rec, 12, &raw, &comp);
    assert_int_equal(raw, 0);
    assert_int_equal(comp, 0);

    size_t vrec = find_record(b, len, "VRAM");
    ch = chunk_at(b, vrec, 1, &raw, &comp);
    assert_int_equal(raw, MiB);
    assert_true(comp < raw / 3);
    free(out);
    free(b);
    pc_free(pc);
}

/* Re-encode every chunk with another encoder (level 9, one stream per
 * chunk as before): the reader takes it. */
static void test_other_encoder_loads(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    fill_ram(pc);
    size_t len;
    uint8_t *b = save_with(pc, 2, &len);
    uint8_t *nb = malloc(len + 4 * MiB);
    assert_non_null(nb);
    uint8_t *raw = malloc(MiB);
    assert_non_null(raw);
    size_t rec = find_record(b, len, "RAM ");
    size_t o = rec + 20;
    memcpy(nb, b, o);
    size_t n = o;
    for (uint32_t c = 0; c < 16; c++) {
        uint32_t rl = (uint32_t)get_le(b + o + SNAP_BITMAP, 4);
        uint32_t cl = (uint32_t)get_le(b + o + SNAP_BITMAP + 4, 4);
        memcpy(nb + n, b + o, SNAP_REC_HDR);
        uLongf dl = rl;
        if (rl) {
            assert_int_equal(uncompress(raw, &dl, b + o + SNAP_REC_HDR, cl), Z_OK);
            assert_int_equal(dl, rl);
            uLongf nl = compressBound(rl);
            assert_int_equal(compress2(nb + n + SNAP_REC_HDR, &nl, raw, rl, 9), Z_OK);
            put_le32(nb + n + SNAP_BITMAP + 4, (uint32_t)nl);
            n += SNAP_REC_HDR + nl;
        } else {
            n += SNAP_REC_HDR;
        }
        o += SNAP_REC_HDR + cl;
    }
    memcpy(nb + n, b + o, len - o);
    n += len - o;
    for (int k = 0; k < 8; k++)
        nb[n - 12 + k] = (uint8_t)((uint64_t)n >> (8 * k));
    assert_int_equal(snapshot_fix_crcs(nb, n), 0);
    PcMachine *pc2 = make_pc();
    char err[512];
    int r = snapshot_load_mem(pc2, nb, n, "reencoded", err, sizeof(err));
    if (r)
        fail_msg("load: %s", err);
    assert_same_memory(pc, pc2);
    free(raw);
    free(nb);
    free(b);
    pc_free(pc2);
    pc_free(pc);
}

static void test_errors_join(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    fill_ram(pc);
    static const int counts[] = { 0, 1, 4 };
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        /* a chunk whose compression fails */
        for (int64_t fc = C_RANDOM; fc <= C_TEXT; fc++) {
            g_snap_threads = counts[k];
            g_snap_fail_chunk = fc;
            uint8_t *buf = NULL;
            size_t len = 0;
            char err[512];
            int r = snapshot_save_mem(pc, &buf, &len, err, sizeof(err));
            g_snap_fail_chunk = -1;
            g_snap_threads = -1;
            assert_int_equal(r, SNAP_ERR_IO);
            assert_null(buf);
            assert_non_null(strstr(err, "deflate failed"));
        }
        /* a write error */
        FILE *f = fopen("/dev/full", "wb");
        if (f) {
            g_snap_threads = counts[k];
            Wr w = { 0 };
            w.f = f;
            w.crc = crc32(0L, Z_NULL, 0);
            char err[512] = "";
            Err e = { err, sizeof(err), "/dev/full", 0 };
            int r = save_stream(pc, &w, &e, NULL);
            g_snap_threads = -1;
            fclose(f);
            assert_int_equal(r, SNAP_ERR_IO);
            assert_non_null(strstr(err, "write error"));
        }
    }
    /* and then it saves and loads fine */
    size_t len;
    uint8_t *b = save_with(pc, 2, &len);
    PcMachine *pc2 = make_pc();
    char err[512];
    assert_int_equal(snapshot_load_mem(pc2, b, len, "after", err, sizeof(err)), 0);
    assert_same_memory(pc, pc2);
    free(b);
    pc_free(pc2);
    pc_free(pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_any_workers),
        cmocka_unit_test(test_chunk_records),
        cmocka_unit_test(test_other_encoder_loads),
        cmocka_unit_test(test_errors_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
