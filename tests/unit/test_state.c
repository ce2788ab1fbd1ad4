/*
 * test_state.c - the generic StateDesc serializer: exact little-endian wire
 * layout, versioned fields, ST_UNUSED, short/long sections, booleans,
 * post_load, state_check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "devices/state.h"

typedef struct {
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;
    int32_t e;
    int64_t f;
    bool g;
    uint8_t arr[3];
    uint16_t warr[2];
    char blob[4];
    uint32_t newer; /* added in version 2 */
    int post_calls;
} Obj;

static int post_ok(void *o, char *err, size_t len)
{
    Obj *x = o;
    x->post_calls++;
    if (x->a == 0xEE) {
        snprintf(err, len, "obj: a out of range");
        return -1;
    }
    return 0;
}

static const StateField obj_fields[] = {
    ST_U8(a, Obj),
    ST_U16(b, Obj),
    ST_U32(c, Obj),
    ST_U64(d, Obj),
    ST_I32(e, Obj),
    ST_I64(f, Obj),
    ST_BOOL(g, Obj),
    ST_U8_ARRAY(arr, Obj),
    ST_UNUSED(2),
    ST_U16_ARRAY(warr, Obj),
    ST_BYTES(blob, Obj),
    ST_U32_V(newer, Obj, 2),
    ST_END,
};

static const StateDesc obj_desc = { "obj", 2, 1, obj_fields, post_ok, NULL };

/* Wire size of version 2: 1+2+4+8+4+8+1+3+2+4+4+4 */
#define V2_LEN 45
#define V1_LEN (V2_LEN - 4)

static Obj sample(void)
{
    Obj o;
    memset(&o, 0, sizeof(o));
    o.a = 0x11;
    o.b = 0x2233;
    o.c = 0x44556677;
    o.d = 0x8899AABBCCDDEEFFULL;
    o.e = -2;
    o.f = -3;
    o.g = true;
    o.arr[0] = 1, o.arr[1] = 2, o.arr[2] = 3;
    o.warr[0] = 0x0102, o.warr[1] = 0x0304;
    memcpy(o.blob, "abcd", 4);
    o.newer = 0xCAFEBABE;
    return o;
}

static void test_check_tables(void **st)
{
    char err[128];
    assert_int_equal(state_check(&obj_desc, sizeof(Obj), err, sizeof err), 0);
    /* A struct too small for the table. */
    assert_int_equal(state_check(&obj_desc, offsetof(Obj, newer), err, sizeof err), -1);
    assert_non_null(strstr(err, "newer"));
    /* A hand-written field whose size does not match its type. */
    static const StateField bad[] = { { "c", F_U32, offsetof(Obj, c), 2, 1, 1 }, ST_END };
    StateDesc bd = { "bad", 1, 1, bad, NULL, NULL };
    assert_int_equal(state_check(&bd, sizeof(Obj), err, sizeof err), -1);
    assert_non_null(strstr(err, "'c'"));
    /* A field newer than the section version. */
    static const StateField fut[] = { ST_U8_V(a, Obj, 3), ST_END };
    StateDesc fd = { "fut", 2, 1, fut, NULL, NULL };
    assert_int_equal(state_check(&fd, sizeof(Obj), err, sizeof err), -1);
}

static void test_wire_layout_little_endian(void **st)
{
    Obj o = sample();
    uint8_t buf[128];
    assert_int_equal(state_save(&obj_desc, &o, NULL, 0), V2_LEN);
    assert_int_equal(state_save(&obj_desc, &o, buf, V2_LEN - 1), -1);
    memset(buf, 0x77, sizeof buf);
    assert_int_equal(state_save(&obj_desc, &o, buf, sizeof buf), V2_LEN);
    static const uint8_t expect[V2_LEN] = {
        0x11,
        0x33, 0x22,
        0x77, 0x66, 0x55, 0x44,
        0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88,
        0xFE, 0xFF, 0xFF, 0xFF,
        0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x01,
        1, 2, 3,
        0, 0, /* ST_UNUSED */
        0x02, 0x01, 0x04, 0x03,
        'a', 'b', 'c', 'd',
        0xBE, 0xBA, 0xFE, 0xCA,
    };
    assert_memory_equal(buf, expect, V2_LEN);
}

static void test_round_trip(void **st)
{
    Obj o = sample(), p;
    uint8_t buf[128];
    char err[128];
    long n = state_save(&obj_desc, &o, buf, sizeof buf);
    memset(&p, 0, sizeof p);
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, (size_t)n, err, sizeof err), 0);
    assert_int_equal(p.post_calls, 1);
    assert_int_equal(p.a, o.a);
    assert_int_equal(p.b, o.b);
    assert_int_equal(p.c, o.c);
    assert_true(p.d == o.d);
    assert_int_equal(p.e, -2);
    assert_true(p.f == -3);
    assert_true(p.g);
    assert_memory_equal(p.arr, o.arr, sizeof o.arr);
    assert_memory_equal(p.warr, o.warr, sizeof o.warr);
    assert_memory_equal(p.blob, o.blob, sizeof o.blob);
    assert_int_equal(p.newer, o.newer);
}

static void test_older_version_keeps_newer_fields(void **st)
{
    Obj o = sample(), p;
    uint8_t buf[128];
    char err[128];
    state_save(&obj_desc, &o, buf, sizeof buf);
    memset(&p, 0, sizeof p);
    p.newer = 42; /* the "reset value" */
    /* A version-1 section is the same bytes without the trailing field. */
    assert_int_equal(state_load(&obj_desc, &p, 1, buf, V1_LEN, err, sizeof err), 0);
    assert_int_equal(p.newer, 42);
    assert_int_equal(p.c, 0x44556677);
    /* Version 1 with the v2 length has trailing bytes. */
    assert_int_equal(state_load(&obj_desc, &p, 1, buf, V2_LEN, err, sizeof err), -1);
    assert_non_null(strstr(err, "obj"));
    assert_non_null(strstr(err, "trailing"));
}

static void test_rejects_bad_sections(void **st)
{
    Obj o = sample(), p;
    uint8_t buf[128];
    char err[160];
    state_save(&obj_desc, &o, buf, sizeof buf);
    memset(&p, 0, sizeof p);
    /* Short: names the section and the field that does not fit. */
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, 10, err, sizeof err), -1);
    assert_non_null(strstr(err, "'obj'"));
    assert_non_null(strstr(err, "'d'"));
    assert_int_equal(p.a, 0); /* nothing was written */
    /* Long. */
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, V2_LEN + 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "trailing"));
    /* Versions outside min..version. */
    assert_int_equal(state_load(&obj_desc, &p, 3, buf, V2_LEN, err, sizeof err), -1);
    assert_non_null(strstr(err, "version"));
    assert_int_equal(state_load(&obj_desc, &p, 0, buf, V2_LEN, err, sizeof err), -1);
    /* A boolean that is neither 0 nor 1. */
    buf[27] = 2;
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, V2_LEN, err, sizeof err), -1);
    assert_non_null(strstr(err, "'g'"));
    assert_int_equal(p.a, 0);
    buf[27] = 1;
    /* post_load rejection propagates its message. */
    buf[0] = 0xEE;
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, V2_LEN, err, sizeof err), -1);
    assert_non_null(strstr(err, "a out of range"));
    /* NULL err buffer is allowed. */
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, 3, NULL, 0), -1);
}

static void test_unused_is_skipped(void **st)
{
    Obj o = sample(), p;
    uint8_t buf[128];
    char err[128];
    state_save(&obj_desc, &o, buf, sizeof buf);
    buf[31] = 0x5A; /* garbage in the ST_UNUSED slot of an old writer */
    buf[32] = 0xA5;
    memset(&p, 0, sizeof p);
    assert_int_equal(state_load(&obj_desc, &p, 2, buf, V2_LEN, err, sizeof err), 0);
    assert_int_equal(p.warr[0], 0x0102);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_tables),
        cmocka_unit_test(test_wire_layout_little_endian),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_older_version_keeps_newer_fields),
        cmocka_unit_test(test_rejects_bad_sections),
        cmocka_unit_test(test_unused_is_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
