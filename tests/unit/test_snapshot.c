/*
 * test_snapshot.c - whole-machine snapshots (frontend/snapshot.c) on a real
 * PcMachine running a tiny real-mode program from its BIOS ROM:
 *  - round trip: save, run N instructions, load, run N again: the same
 *    state byte for byte; save/load/save gives identical sections;
 *  - the "cpu" and "vclock" tables match their structs (state_check);
 *  - every class of bad input is refused with a message naming the
 *    problem, and the machine is left exactly as it was: truncation,
 *    signature, format and section versions, flipped bytes in each section
 *    and in RAM, bad zlib data, unknown section, different RAM size and
 *    device set, out-of-range fields (CPU lazy flags, PIC init state, RTC
 *    index, IDE transfer pointer, virtual time, A20 mask);
 *  - named snapshots in a directory (savevm/loadvm/delvm/info), atomic
 *    file save;
 *  - a bounded fuzz loop (fixed seed): random mutations, half of them with
 *    the CRCs recomputed so the field checks are reached; nothing may crash
 *    (run under ASan/UBSan) and every refusal leaves the machine unchanged.
 *
 * The file under test is compiled into this executable (#include below):
 * it lives in the front end, which is not a library.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "frontend/snapshot.c"
#include "frontend/snapshot_disk.c"

#include "cpu/cpu_internal.h"

/* ---- the machine ---- */

/* F000:0000: a loop that mixes words into RAM 0x1000-0x3FFF and writes the
 * POST port; the reset vector jumps there. */
static const uint8_t prog[] = {
    0x31, 0xC0,             /* xor ax, ax */
    0x8E, 0xD8,             /* mov ds, ax */
    0xBB, 0x00, 0x10,       /* mov bx, 0x1000 */
    0xB9, 0x00, 0x00,       /* mov cx, 0 */
    0xFF, 0x07,             /* l: inc word [bx] */
    0x01, 0x0F,             /* add [bx], cx */
    0x41,                   /* inc cx */
    0x83, 0xC3, 0x02,       /* add bx, 2 */
    0x81, 0xE3, 0xFF, 0x3F, /* and bx, 0x3fff */
    0x81, 0xCB, 0x00, 0x10, /* or bx, 0x1000 */
    0x88, 0xC8,             /* mov al, cl */
    0xE6, 0x80,             /* out 0x80, al */
    0xEB, 0xEA,             /* jmp l */
};

static uint8_t bios[0x10000];

static void null_sink(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

static PcMachine *make_pc_cfg(uint32_t ram, bool vga, bool apic)
{
    memset(bios, 0xF4, sizeof(bios));
    memcpy(bios, prog, sizeof(prog));
    static const uint8_t reset[] = { 0xEA, 0x00, 0x00, 0x00, 0xF0 }; /* jmp F000:0000 */
    memcpy(bios + 0xFFF0, reset, sizeof(reset));
    PcConfig cfg = {
        .ram_size = ram,
        .bios = bios,
        .bios_size = sizeof(bios),
        .icount = true,
        .icount_shift = 0,
        .apic = apic,
        .vga = vga,
        .debug_exit_port = -1,
        .tcache = true,
        .serial = { { null_sink, NULL }, { NULL, NULL } },
    };
    char err[256];
    PcMachine *pc = pc_new(&cfg, err, sizeof(err));
    assert_non_null(pc);
    return pc;
}

static PcMachine *make_pc(void) { return make_pc_cfg(32u << 20, true, true); }

static void run_n(PcMachine *pc, uint64_t n)
{
    uint64_t end = pc_icount(pc) + n;
    while (pc_icount(pc) < end) {
        uint64_t left = end - pc_icount(pc);
        CpuExit r = cpu_run(pc_cpu(pc), left < 10000 ? left : 10000);
        pc_run_timers(pc);
        assert_int_not_equal(r, CPU_EXIT_TRIPLE_FAULT);
        assert_int_not_equal(r, CPU_EXIT_HALT);
    }
}

static uint8_t *save(PcMachine *pc, size_t *len)
{
    uint8_t *buf = NULL;
    char err[512];
    int r = snapshot_save_mem(pc, &buf, len, err, sizeof(err));
    if (r != 0)
        fail_msg("save failed: %s", err);
    return buf;
}

/* The file past its header (whose creation time differs run to run),
 * without the final whole-file CRC. */
static void body(const uint8_t *buf, size_t len, const uint8_t **b, size_t *blen)
{
    uint32_t hlen = (uint32_t)get_le(buf + 12, 4);
    assert_true(hlen < len);
    *b = buf + hlen;
    *blen = len - hlen - 4;
}

static void assert_same_state(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    const uint8_t *x, *y;
    size_t xl, yl;
    body(a, alen, &x, &xl);
    body(b, blen, &y, &yl);
    assert_int_equal(xl, yl);
    if (memcmp(x, y, xl)) {
        size_t k = 0;
        while (x[k] == y[k])
            k++;
        fail_msg("state differs at body offset %zu", k);
    }
}

/* ---- walking a file: where is a section's payload, a field's byte ---- */

static bool find_payload(const uint8_t *buf, size_t len, const char *name, size_t *off,
                         uint32_t *slen)
{
    Err e = { NULL, 0, NULL, 0 };
    Rd r = { buf, len, 0, &e };
    Hdr *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    bool found = false;
    if (parse_header(&r, h) == 0) {
        for (int i = 0; i < h->nsec && !found; i++) {
            char nm[SNAP_MAX_NAME];
            uint16_t ver;
            uint32_t l, crc;
            if (!rd_tag(&r, "SECT", "") || !rd_str(&r, nm, sizeof(nm), "") || !rd_u16(&r, &ver, "") ||
                !rd_u32(&r, &l, "") || !rd_u32(&r, &crc, ""))
                break;
            if (!strcmp(nm, name)) {
                *off = r.pos;
                *slen = l;
                found = true;
            }
            r.pos += l;
        }
    }
    free(h);
    return found;
}

/* Offset of the start of the RAM record's first chunk's data. */
static size_t ram_record(const uint8_t *buf, size_t len)
{
    size_t off;
    uint32_t l;
    assert_true(find_payload(buf, len, "board", &off, &l)); /* the last section */
    size_t at = off + l;
    assert_memory_equal(buf + at, "RAM ", 4);
    return at;
}

static const StateDesc *desc_named(PcMachine *pc, const char *name, void **opaque)
{
    SecList l;
    collect(pc, &l);
    for (int i = 0; i < l.n; i++)
        if (!strcmp(l.s[i].desc->name, name)) {
            if (opaque)
                *opaque = l.s[i].opaque;
            return l.s[i].desc;
        }
    fail_msg("no section %s", name);
    return NULL;
}

/* Wire offset and element size of field in d (as devices/state.c lays it out). */
static size_t field_offset(const StateDesc *d, const char *field, size_t *size)
{
    size_t off = 0;
    for (const StateField *f = d->fields; f->type != F_END; f++) {
        if (f->type != F_UNUSED && f->since > d->version)
            continue;
        size_t ws = f->type == F_BOOL ? 1 : f->size;
        size_t cnt = f->type == F_UNUSED ? 1 : f->count;
        if (f->name && !strcmp(f->name, field)) {
            *size = ws;
            return off;
        }
        off += ws * cnt;
    }
    fail_msg("no field %s in %s", field, d->name);
    return 0;
}

static void set_field(PcMachine *pc, uint8_t *buf, size_t len, const char *sec, const char *field,
                      uint64_t val)
{
    size_t off, fsz = 0;
    uint32_t slen;
    assert_true(find_payload(buf, len, sec, &off, &slen));
    size_t fo = field_offset(desc_named(pc, sec, NULL), field, &fsz);
    assert_true(fo + fsz <= slen);
    for (size_t k = 0; k < fsz; k++)
        buf[off + fo + k] = (uint8_t)(val >> (8 * k));
    assert_int_equal(snapshot_fix_crcs(buf, len), 0);
}

/* Load must fail with code and a message containing want; the machine
 * must be unchanged. */
static void expect_refused(PcMachine *pc, const uint8_t *buf, size_t len, int code, const char *want)
{
    size_t blen;
    uint8_t *before = save(pc, &blen);
    char err[768];
    int r = snapshot_load_mem(pc, buf, len, "t.vsn", err, sizeof(err));
    if (r != code || !strstr(err, want) || strncmp(err, "t.vsn: ", 7))
        fail_msg("expected %d '%s', got %d '%s'", code, want, r, err);
    size_t alen;
    uint8_t *after = save(pc, &alen);
    assert_same_state(before, blen, after, alen);
    free(before);
    free(after);
}

/* ---- tests ---- */

static void test_tables(void **state)
{
    (void)state;
    char err[256];
    if (state_check(&cpu_state_desc, sizeof(X86Cpu), err, sizeof(err)) < 0)
        fail_msg("%s", err);
    if (state_check(&vclock_state, sizeof(VClock), err, sizeof(err)) < 0)
        fail_msg("%s", err);
}

static void test_round_trip(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    run_n(pc, 123457);
    size_t l0, l1, l2, l3;
    uint8_t *s0 = save(pc, &l0);
    run_n(pc, 250000);
    uint8_t *s1 = save(pc, &l1);
    char err[512];
    if (snapshot_load_mem(pc, s0, l0, NULL, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(pc_icount(pc), 123457);
    uint8_t *s0b = save(pc, &l3);
    assert_same_state(s0, l0, s0b, l3); /* save(load(x)) == x */
    run_n(pc, 250000);
    uint8_t *s2 = save(pc, &l2);
    assert_same_state(s1, l1, s2, l2); /* continuing from a load == never stopping */
    /* A second machine built the same way gets there too. */
    PcMachine *pc2 = make_pc();
    if (snapshot_load_mem(pc2, s0, l0, NULL, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    run_n(pc2, 250000);
    size_t l4;
    uint8_t *s4 = save(pc2, &l4);
    assert_same_state(s1, l1, s4, l4);
    free(s0);
    free(s0b);
    free(s1);
    free(s2);
    free(s4);
    pc_free(pc2);
    pc_free(pc);
}

static void test_bad_files(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    run_n(pc, 54321);
    size_t len;
    uint8_t *good = save(pc, &len);
    uint8_t *b = malloc(len);
    assert_non_null(b);
    run_n(pc, 1000); /* the machine is now elsewhere: a refused load must keep it there */

    /* Truncation anywhere. */
    uint32_t hlen = (uint32_t)get_le(good + 12, 4);
    size_t cuts[] = { 0, 5, 8, 13, 16, hlen - 1, hlen, hlen + 10, len / 2, len - 13, len - 1 };
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        int code = cuts[k] < 8 ? SNAP_ERR_SIGNATURE : SNAP_ERR_SIZE;
        expect_refused(pc, good, cuts[k], code, cuts[k] < 8 ? "not a vessel snapshot" : "");
    }
    expect_refused(pc, good, len - 1, SNAP_ERR_SIZE, "truncated");

    /* Signature, format version. */
    memcpy(b, good, len);
    b[0] = 'X';
    expect_refused(pc, b, len, SNAP_ERR_SIGNATURE, "not a vessel snapshot");
    memcpy(b, good, len);
    b[8] = 3;
    expect_refused(pc, b, len, SNAP_ERR_VERSION, "format version 3 is not supported");
    memcpy(b, good, len);
    b[hlen - 10] ^= 0x40;
    expect_refused(pc, b, len, SNAP_ERR_CORRUPT, "header CRC mismatch");

    /* A flipped byte in each section is caught and named. */
    SecList l;
    collect(pc, &l);
    for (int i = 0; i < l.n; i++) {
        size_t off;
        uint32_t slen;
        const char *nm = l.s[i].desc->name;
        assert_true(find_payload(good, len, nm, &off, &slen));
        memcpy(b, good, len);
        b[off + slen / 2] ^= 0x10;
        char want[96];
        snprintf(want, sizeof(want), "section '%s'", nm);
        expect_refused(pc, b, len, SNAP_ERR_CORRUPT, want);
        expect_refused(pc, b, len, SNAP_ERR_CORRUPT, "CRC mismatch");
    }
    /* RAM: a flipped compressed byte; then bad zlib data behind a valid CRC. */
    size_t ram = ram_record(good, len);
    size_t chunk0 = ram + 4 + 8 + 4 + 4;
    assert_true(get_le(good + chunk0 + SNAP_BITMAP + 4, 4) > 8); /* chunk 0 holds data */
    memcpy(b, good, len);
    b[chunk0 + SNAP_BITMAP + 12 + 4] ^= 0x01;
    expect_refused(pc, b, len, SNAP_ERR_CORRUPT, "RAM chunk 0");
    assert_int_equal(snapshot_fix_crcs(b, len), 0);
    expect_refused(pc, b, len, SNAP_ERR_CORRUPT, "bad zlib data");
    /* A page bit without its data. */
    memcpy(b, good, len);
    b[chunk0 + 31] |= 0x80;
    assert_int_equal(snapshot_fix_crcs(b, len), 0);
    expect_refused(pc, b, len, SNAP_ERR_CORRUPT, "do not match");
    /* A whole-file length that lies. */
    memcpy(b, good, len);
    b[len - 12] ^= 1;
    expect_refused(pc, b, len, SNAP_ERR_SIZE, "should be");
    free(b);

    /* Section version from the future; unknown section. */
    size_t off;
    uint32_t slen;
    b = malloc(len);
    memcpy(b, good, len);
    assert_true(find_payload(good, len, "i8259", &off, &slen));
    /* header: the name entry "i8259" is followed by its u16 version */
    uint8_t *p = memmem(b, hlen, "\x05\x00i8259", 7);
    assert_non_null(p);
    p[7] = 9;
    b[off - 10] = 9; /* the section record's own version */
    assert_int_equal(snapshot_fix_crcs(b, len), 0);
    expect_refused(pc, b, len, SNAP_ERR_VERSION, "section 'i8259' version 9 is newer");
    memcpy(b, good, len);
    p = memmem(b, hlen, "\x05\x00i8259", 7);
    memcpy(p + 2, "i8258", 5);
    memcpy(b + off - 15, "i8258", 5);
    assert_int_equal(snapshot_fix_crcs(b, len), 0);
    expect_refused(pc, b, len, SNAP_ERR_CONFIG, "unknown section 'i8258'");

    /* Out-of-range fields: named, refused, machine untouched. */
    static const struct { const char *sec, *field; uint64_t val; const char *want; } bad[] = {
        { "cpu", "lf.op", 200, "field 'lf.op'" },
        { "cpu", "fpu.top", 8, "field 'fpu.top'" },
        { "cpu", "seg[1].ar", 0x0F9B, "seg[1].ar" },
        { "cpu", "eflags", 0x80000002, "field 'eflags'" },
        { "cpu", "halted", 7, "field 'halted'" },
        { "vclock", "icount_base_ns", (uint64_t)-5, "out of range" },
        { "i8259", "pic[0].init_state", 9, "init_state" },
        { "mc146818", "index", 0xEE, "index" },
        { "piix3-ide", "ch[0].io_pos", 0x1000, "transfer state out of range" },
        { "piix3-ide", "ch[1].io_len", 0x7FFFFFFF, "transfer state out of range" },
        { "i8254", "ch[0].mode", 9, "mode" },
        { "board", "pm.a20_mask", 0x12345678, "a20_mask" },
        { "ps2-kbd", "scancode_set", 7, "scan code set" },
        { "uart16550@3f8", "rx_head", 0xFF, "uart16550" },
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        const StateDesc *d = desc_named(pc, bad[k].sec, NULL);
        bool have = false;
        for (const StateField *f = d->fields; f->type != F_END; f++)
            have |= f->name && !strcmp(f->name, bad[k].field);
        if (!have) {
            print_message("note: section '%s' has no field '%s': skipped\n", bad[k].sec,
                          bad[k].field);
            continue; /* a table without that field (e.g. renamed later) */
        }
        memcpy(b, good, len);
        set_field(pc, b, len, bad[k].sec, bad[k].field, bad[k].val);
        char want[160];
        snprintf(want, sizeof(want), "section '%s'", bad[k].sec);
        expect_refused(pc, b, len, SNAP_ERR_STATE, want);
        expect_refused(pc, b, len, SNAP_ERR_STATE, bad[k].want);
    }
    free(b);
    free(good);
    pc_free(pc);
}

static void test_other_machines(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    run_n(pc, 1000);
    size_t len;
    uint8_t *s = save(pc, &len);
    PcMachine *m64 = make_pc_cfg(64u << 20, true, true);
    expect_refused(m64, s, len, SNAP_ERR_CONFIG, "32 MiB of RAM, this one has 64 MiB");
    PcMachine *novga = make_pc_cfg(32u << 20, false, true);
    expect_refused(novga, s, len, SNAP_ERR_CONFIG, "made with a VGA, this machine has none");
    PcMachine *noapic = make_pc_cfg(32u << 20, true, false);
    expect_refused(noapic, s, len, SNAP_ERR_CONFIG, "APIC");
    /* ... and the other way round. */
    size_t l2;
    uint8_t *s2 = save(novga, &l2);
    expect_refused(pc, s2, l2, SNAP_ERR_CONFIG, "made without a VGA");
    free(s);
    free(s2);
    pc_free(m64);
    pc_free(novga);
    pc_free(noapic);
    pc_free(pc);
}

static void test_named(void **state)
{
    (void)state;
    char dir[] = "/tmp/vessel-snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    PcMachine *pc = make_pc();
    run_n(pc, 5000);
    char err[512], info[4096];
    assert_int_equal(snapshot_savevm(pc, dir, "one", err, sizeof(err)), 0);
    run_n(pc, 5000);
    assert_int_equal(snapshot_savevm(pc, dir, "two", err, sizeof(err)), 0);
    assert_int_equal(snapshot_savevm(pc, dir, "../evil", err, sizeof(err)), SNAP_ERR_ARG);
    assert_int_equal(snapshot_savevm(pc, dir, ".hidden", err, sizeof(err)), SNAP_ERR_ARG);
    assert_int_equal(snapshot_info(dir, info, sizeof(info)), 2);
    assert_non_null(strstr(info, "one"));
    assert_non_null(strstr(info, "two"));
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/one.vsn.tmp", dir);
    assert_int_not_equal(access(tmp, F_OK), 0); /* no temporary left behind */
    assert_int_equal(snapshot_loadvm(pc, dir, "one", err, sizeof(err)), 0);
    assert_int_equal(pc_icount(pc), 5000);
    assert_int_equal(snapshot_loadvm(pc, dir, "three", err, sizeof(err)), SNAP_ERR_IO);
    assert_non_null(strstr(err, "no snapshot 'three'"));
    assert_int_equal(snapshot_delvm(dir, "one", err, sizeof(err)), 0);
    assert_int_equal(snapshot_delvm(dir, "one", err, sizeof(err)), SNAP_ERR_IO);
    assert_int_equal(snapshot_info(dir, info, sizeof(info)), 1);
    assert_int_equal(snapshot_delvm(dir, "two", err, sizeof(err)), 0);
    rmdir(dir);
    pc_free(pc);
}

static uint32_t rng = 0x5eed1234u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Bounded fuzzing with a fixed seed: the loader must never crash, and must
 * either accept a file or leave the machine exactly as it was. */
static void test_fuzz(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    run_n(pc, 20000);
    size_t len;
    uint8_t *good = save(pc, &len);
    uint8_t *b = malloc(len + 64);
    assert_non_null(b);
    int iters = getenv("SNAPSHOT_FUZZ_ITERS") ? atoi(getenv("SNAPSHOT_FUZZ_ITERS")) : 400;
    int accepted = 0;
    for (int it = 0; it < iters; it++) {
        memcpy(b, good, len);
        size_t n = len;
        int muts = 1 + (int)(rnd() % 4);
        for (int m = 0; m < muts; m++) {
            switch (rnd() % 6) {
            case 0: /* truncate */
                n = rnd() % (n + 1);
                break;
            case 1: /* append garbage */
                for (int k = 0; k < 16; k++)
                    b[n + (size_t)k] = (uint8_t)rnd();
                n += 16;
                break;
            default: /* flip bytes, biased towards the header and sections */
                if (n) {
                    size_t span = rnd() % 2 ? (n < 400000 ? n : 400000) : n;
                    b[rnd() % span] ^= (uint8_t)(1u << (rnd() % 8));
                }
                break;
            }
            if (n > len + 48)
                n = len;
        }
        if (rnd() % 2)
            (void)snapshot_fix_crcs(b, n);
        bool check = it % 25 == 0;
        size_t bl = 0;
        uint8_t *before = check ? save(pc, &bl) : NULL;
        char err[768];
        int r = snapshot_load_mem(pc, b, n, "fuzz", err, sizeof(err));
        if (r == 0) {
            accepted++;
            /* A file that loads must be runnable and re-loadable. */
            run_n(pc, 100);
            assert_int_equal(snapshot_load_mem(pc, good, len, "good", err, sizeof(err)), 0);
        } else {
            assert_true(r < 0 && err[0]);
            if (check) {
                size_t al;
                uint8_t *after = save(pc, &al);
                assert_same_state(before, bl, after, al);
                free(after);
            }
        }
        free(before);
    }
    print_message("fuzz: %d iterations, %d mutated files accepted\n", iters, accepted);
    free(b);
    free(good);
    pc_free(pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_other_machines),
        cmocka_unit_test(test_named),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
