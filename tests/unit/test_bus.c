/*
 * test_bus.c - IoBus dispatch: direct vs split accesses, little-endian byte
 * order, unassigned ports (all ones + hook), overrides, unregister, limits,
 * and Irq helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"

/* A device recording its accesses; each register byte is regs[off]. */
typedef struct {
    uint8_t regs[16];
    int nreads, nwrites;
    uint32_t last_off;
    unsigned last_size;
} Dev;

static uint32_t dev_read(void *o, uint32_t off, unsigned size)
{
    Dev *d = o;
    d->nreads++;
    d->last_off = off;
    d->last_size = size;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint32_t)d->regs[(off + i) & 15] << (8 * i);
    return v;
}

static void dev_write(void *o, uint32_t off, uint32_t val, unsigned size)
{
    Dev *d = o;
    d->nwrites++;
    d->last_off = off;
    d->last_size = size;
    for (unsigned i = 0; i < size; i++)
        d->regs[(off + i) & 15] = (uint8_t)(val >> (8 * i));
}

static const IoOps ops8 = { dev_read, dev_write, 1 };
static const IoOps ops16 = { dev_read, dev_write, 2 };
static const IoOps ops32 = { dev_read, dev_write, 4 };
static const IoOps ops_null = { NULL, NULL, 4 };

typedef struct {
    int calls;
    uint16_t port;
    unsigned size;
    bool is_write;
    uint32_t val;
} Hook;

static void hook_fn(void *o, uint16_t port, unsigned size, bool is_write, uint32_t val)
{
    Hook *h = o;
    h->calls++;
    h->port = port;
    h->size = size;
    h->is_write = is_write;
    h->val = val;
}

static IoBus *new_bus(void)
{
    IoBus *b = malloc(sizeof(*b));
    assert_non_null(b);
    iobus_init(b);
    return b;
}

static void test_byte_device_splits_word_and_dword(void **st)
{
    IoBus *b = new_bus();
    Dev d = { 0 };
    assert_int_equal(iobus_register(b, 0x100, 4, &ops8, &d, "dev8"), 0);
    iobus_write(b, 0x100, 0x44332211, 4);
    assert_int_equal(d.nwrites, 4);           /* four byte accesses */
    assert_int_equal(d.last_size, 1);
    assert_int_equal(d.regs[0], 0x11);        /* little-endian */
    assert_int_equal(d.regs[3], 0x44);
    assert_int_equal(iobus_read(b, 0x101, 2), 0x3322);
    assert_int_equal(d.nreads, 2);
    assert_int_equal(iobus_read(b, 0x100, 1), 0x11);
    assert_int_equal(d.last_off, 0);
    free(b);
}

static void test_wide_device_gets_direct_access(void **st)
{
    IoBus *b = new_bus();
    Dev d = { 0 };
    assert_int_equal(iobus_register(b, 0xCF8, 8, &ops32, &d, "dev32"), 0);
    iobus_write(b, 0xCF8, 0x80000000, 4);
    assert_int_equal(d.nwrites, 1);
    assert_int_equal(d.last_size, 4);
    assert_int_equal(iobus_read(b, 0xCF8, 4), 0x80000000u);
    assert_int_equal(d.nreads, 1);
    iobus_write(b, 0xCFE, 0xBEEF, 2);
    assert_int_equal(d.last_off, 6);
    assert_int_equal(d.last_size, 2);
    free(b);
}

static void test_word_device_splits_dword(void **st)
{
    IoBus *b = new_bus();
    Dev d = { 0 };
    iobus_register(b, 0x1CE, 2, &ops16, &d, "vbe");
    iobus_write(b, 0x1CE, 0xB0C0, 2); /* outw index/data as the VGA BIOS does */
    assert_int_equal(d.nwrites, 1);
    assert_int_equal(iobus_read(b, 0x1CE, 2), 0xB0C0);
    d.nreads = 0;
    /* A dword read exceeds impl_max 2: four bytes, upper two unassigned. */
    assert_int_equal(iobus_read(b, 0x1CE, 4), 0xFFFFB0C0u);
    assert_int_equal(d.nreads, 2);
    free(b);
}

static void test_unassigned_reads_ones_and_calls_hook(void **st)
{
    IoBus *b = new_bus();
    Hook h = { 0 };
    assert_int_equal(iobus_read(b, 0x378, 1), 0xFF); /* no hook yet */
    b->unassigned = hook_fn;
    b->unassigned_opaque = &h;
    assert_int_equal(iobus_read(b, 0x3F8, 1), 0xFF);
    assert_int_equal(iobus_read(b, 0x3F8, 2), 0xFFFF);
    assert_int_equal(iobus_read(b, 0x3F8, 4), 0xFFFFFFFFu);
    assert_int_equal(h.calls, 3);
    assert_int_equal(h.port, 0x3F8);
    assert_int_equal(h.size, 4);
    assert_false(h.is_write);
    iobus_write(b, 0x80, 0x55, 1);
    assert_int_equal(h.calls, 4);
    assert_true(h.is_write);
    assert_int_equal(h.val, 0x55);
    assert_int_equal(h.port, 0x80);
    free(b);
}

static void test_partial_assignment_mixes_bytes(void **st)
{
    IoBus *b = new_bus();
    Dev d = { 0 };
    Hook h = { 0 };
    b->unassigned = hook_fn;
    b->unassigned_opaque = &h;
    iobus_register(b, 0x200, 1, &ops8, &d, "one");
    d.regs[0] = 0x5A;
    /* inw at 0x1FF: low byte unassigned, high byte the device. */
    assert_int_equal(iobus_read(b, 0x1FF, 2), 0x5AFF);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.port, 0x1FF);
    assert_int_equal(h.size, 1);
    iobus_write(b, 0x1FF, 0xA5EE, 2);
    assert_int_equal(d.regs[0], 0xA5);
    free(b);
}

static void test_null_callbacks(void **st)
{
    IoBus *b = new_bus();
    iobus_register(b, 0x300, 4, &ops_null, NULL, "null");
    assert_int_equal(iobus_read(b, 0x300, 1), 0xFF);
    assert_int_equal(iobus_read(b, 0x300, 4), 0xFFFFFFFFu);
    iobus_write(b, 0x300, 1, 1); /* ignored, no crash */
    free(b);
}

static void test_override_and_unregister(void **st)
{
    IoBus *b = new_bus();
    Dev a = { 0 }, c = { 0 };
    a.regs[0] = 0xAA;
    c.regs[0] = 0xCC;
    iobus_register(b, 0x60, 8, &ops8, &a, "a");
    iobus_register(b, 0x64, 1, &ops8, &c, "c");
    assert_int_equal(iobus_read(b, 0x64, 1), 0xCC); /* later wins */
    assert_int_equal(iobus_read(b, 0x60, 1), 0xAA);
    assert_int_equal(a.last_off, 0);
    iobus_read(b, 0x65, 1);
    assert_int_equal(a.last_off, 5);
    iobus_unregister(b, 0x60, 8);
    assert_int_equal(iobus_read(b, 0x60, 1), 0xFF);
    assert_int_equal(iobus_read(b, 0x64, 1), 0xFF);
    free(b);
}

static void test_register_limits(void **st)
{
    IoBus *b = new_bus();
    Dev d = { 0 };
    assert_int_equal(iobus_register(b, 0xFFFF, 2, &ops8, &d, "over"), -1);
    assert_int_equal(iobus_register(b, 0xFFFF, 1, &ops8, &d, "last"), 0);
    d.regs[0] = 0x42;
    assert_int_equal(iobus_read(b, 0xFFFF, 1), 0x42);
    /* A word access at 0xFFFF wraps to port 0 for the high byte. */
    assert_int_equal(iobus_read(b, 0xFFFF, 2), 0xFF42);
    for (int i = b->nranges; i < IOBUS_MAX_RANGES; i++)
        assert_int_equal(iobus_register(b, (uint16_t)(0x1000 + i), 1, &ops8, &d, "x"), 0);
    assert_int_equal(iobus_register(b, 0x2000, 1, &ops8, &d, "full"), -1);
    free(b);
}

static int irq_seen_n, irq_seen_level, irq_calls;
static void irq_cb(void *o, int n, int level)
{
    irq_seen_n = n;
    irq_seen_level = level;
    irq_calls++;
}

static void test_irq_helpers(void **st)
{
    Irq none = { 0 };
    irq_set(&none, 1); /* no receiver: ignored */
    irq_set(NULL, 1);
    Irq q = { irq_cb, NULL, 7 };
    irq_set(&q, 1);
    assert_int_equal(irq_seen_n, 7);
    assert_int_equal(irq_seen_level, 1);
    irq_pulse(&q);
    assert_int_equal(irq_calls, 3);
    assert_int_equal(irq_seen_level, 0);
}

static void test_random_accesses(void **st)
{
    IoBus *b = new_bus();
    Dev d[4] = { 0 };
    iobus_register(b, 0x10, 16, &ops8, &d[0], "a");
    iobus_register(b, 0x18, 4, &ops16, &d[1], "b");
    iobus_register(b, 0xFFF0, 16, &ops32, &d[2], "c");
    srand(1234);
    for (int i = 0; i < 20000; i++) {
        uint16_t port = (uint16_t)(rand() % 2 ? rand() % 64 : 0xFFE0 + rand() % 32);
        unsigned size = 1u << (rand() % 3);
        if (rand() % 2)
            iobus_write(b, port, (uint32_t)rand(), size);
        else {
            uint32_t v = iobus_read(b, port, size);
            if (size < 4)
                assert_true(v < (1u << (8 * size)));
        }
        if (i % 5000 == 0)
            iobus_unregister(b, (uint16_t)(rand() % 64), (uint32_t)(rand() % 70000));
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_device_splits_word_and_dword),
        cmocka_unit_test(test_wide_device_gets_direct_access),
        cmocka_unit_test(test_word_device_splits_dword),
        cmocka_unit_test(test_unassigned_reads_ones_and_calls_hook),
        cmocka_unit_test(test_partial_assignment_mixes_bytes),
        cmocka_unit_test(test_null_callbacks),
        cmocka_unit_test(test_override_and_unregister),
        cmocka_unit_test(test_register_limits),
        cmocka_unit_test(test_irq_helpers),
        cmocka_unit_test(test_random_accesses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
