/*
 * test_ioapic.c - 82093AA I/O APIC through its MMIO page at 0xFEC00000
 * (IOREGSEL 0x00 / IOWIN 0x10), its input pins and the EOI path, with a
 * delivery recorder; then wired to the local APIC as the board does.
 * Values from the 82093AA datasheet (290566) section 3.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/apic.h"
#include "devices/ioapic.h"
#include "devices/state.h"
#include "devices/vclock.h"
#include "mem/phys.h"

typedef struct {
    int vector, level, mode;
} Msg;

typedef struct {
    PhysMem pm;
    Ioapic *io;
    Msg msg[256];
    int nmsg;
    /* integration */
    uint64_t icount;
    VClock clk;
    Apic *apic;
    int intr;
} T;

static void deliver_cb(void *o, int vector, int level, int mode)
{
    T *t = o;
    if (t->nmsg < 256)
        t->msg[t->nmsg++] = (Msg){ vector, level, mode };
}

static T *tnew(void)
{
    T *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(phys_init(&t->pm, 1u << 20), 0);
    t->io = ioapic_new(&t->pm, deliver_cb, t);
    assert_non_null(t->io);
    return t;
}

static void tfree(T *t)
{
    apic_free(t->apic);
    ioapic_free(t->io);
    phys_free(&t->pm);
    free(t);
}

static int setup(void **st)
{
    *st = tnew();
    return 0;
}

static int teardown(void **st)
{
    tfree(*st);
    return 0;
}

static uint32_t ind_rd(T *t, uint8_t reg)
{
    phys_write(&t->pm, IOAPIC_BASE, reg, 1);
    return (uint32_t)phys_read(&t->pm, IOAPIC_BASE + 0x10, 4);
}

static void ind_wr(T *t, uint8_t reg, uint32_t v)
{
    phys_write(&t->pm, IOAPIC_BASE, reg, 4);
    phys_write(&t->pm, IOAPIC_BASE + 0x10, v, 4);
}

static void rte_wr(T *t, int pin, uint32_t lo, uint32_t hi)
{
    ind_wr(t, (uint8_t)(0x11 + 2 * pin), hi);
    ind_wr(t, (uint8_t)(0x10 + 2 * pin), lo);
}

static uint32_t rte_lo(T *t, int pin) { return ind_rd(t, (uint8_t)(0x10 + 2 * pin)); }

#define REMOTE_IRR (1u << 14)

static void test_reset_values(void **st)
{
    T *t = *st;
    assert_int_equal(ind_rd(t, 0x00), 0);
    assert_int_equal(ind_rd(t, 0x01), 0x00170011);
    assert_int_equal(ind_rd(t, 0x02), 0);
    for (int pin = 0; pin < 24; pin++) {
        assert_int_equal(rte_lo(t, pin), 0x10000);
        assert_int_equal(ind_rd(t, (uint8_t)(0x11 + 2 * pin)), 0);
    }
    assert_int_equal(ind_rd(t, 0x40), 0); /* past the table */
    assert_int_equal(ind_rd(t, 0x03), 0);
    char buf[4096];
    ioapic_info(t->io, buf, sizeof buf);
    assert_non_null(strstr(buf, "pin 23"));
    assert_int_equal(state_check(&ioapic_state, sizeof(Ioapic), buf, sizeof buf), 0);
}

static void test_register_read_write(void **st)
{
    T *t = *st;
    phys_write(&t->pm, IOAPIC_BASE, 0x12, 4);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE, 4), 0x12);
    ind_wr(t, 0x00, 0xFFFFFFFF);
    assert_int_equal(ind_rd(t, 0x00), 0x0F000000);
    assert_int_equal(ind_rd(t, 0x02), 0x0F000000); /* ARB loaded from ID */
    ind_wr(t, 0x00, 0x02000000);
    assert_int_equal(ind_rd(t, 0x00), 0x02000000);
    ind_wr(t, 0x01, 0);
    assert_int_equal(ind_rd(t, 0x01), 0x00170011);
    ind_wr(t, 0x02, 0);
    assert_int_equal(ind_rd(t, 0x02), 0x02000000);
    /* Redirection entry: delivery status (12) and remote IRR (14) read-only,
     * high dword only the destination (bits 63:56). */
    rte_wr(t, 5, 0xFFFFFFFF, 0xFFFFFFFF);
    assert_int_equal(rte_lo(t, 5), 0x1AFFF);
    assert_int_equal(ind_rd(t, 0x1B), 0xFF000000);
    rte_wr(t, 5, 0x10000, 0);
    assert_int_equal(t->nmsg, 0);
    /* Each entry is separate. */
    rte_wr(t, 23, 0x000000EE, 0x01000000);
    assert_int_equal(rte_lo(t, 23), 0xEE);
    assert_int_equal(ind_rd(t, 0x3F), 0x01000000);
    assert_int_equal(rte_lo(t, 22), 0x10000);
}

static void test_edge(void **st)
{
    T *t = *st;
    rte_wr(t, 1, 0x31, 0);
    ioapic_set_irq(t->io, 1, 1);
    assert_int_equal(t->nmsg, 1);
    assert_int_equal(t->msg[0].vector, 0x31);
    assert_int_equal(t->msg[0].level, 0);
    assert_int_equal(t->msg[0].mode, 0);
    ioapic_set_irq(t->io, 1, 1); /* still high: no edge */
    assert_int_equal(t->nmsg, 1);
    assert_int_equal(rte_lo(t, 1) & REMOTE_IRR, 0);
    ioapic_set_irq(t->io, 1, 0);
    ioapic_set_irq(t->io, 1, 1);
    assert_int_equal(t->nmsg, 2);
    ioapic_set_irq(t->io, 1, 0);
    /* Masked edges are lost (datasheet: ignored while masked). */
    rte_wr(t, 1, 0x10031, 0);
    ioapic_set_irq(t->io, 1, 1);
    ioapic_set_irq(t->io, 1, 0);
    rte_wr(t, 1, 0x31, 0);
    assert_int_equal(t->nmsg, 2);
    /* EOI does nothing for edge entries. */
    ioapic_eoi(t->io, 0x31);
    assert_int_equal(t->nmsg, 2);
    /* Delivery mode and other pins. */
    rte_wr(t, 4, 0x0400 | 0x02, 0);  /* NMI */
    rte_wr(t, 6, 0x0700, 0);         /* ExtINT */
    rte_wr(t, 7, 0x0900 | 0x47, 0x01000000); /* lowest priority, logical */
    ioapic_set_irq(t->io, 4, 1);
    ioapic_set_irq(t->io, 6, 1);
    ioapic_set_irq(t->io, 7, 1);
    assert_int_equal(t->nmsg, 5);
    assert_int_equal(t->msg[2].mode, 4);
    assert_int_equal(t->msg[3].mode, 7);
    assert_int_equal(t->msg[4].mode, 1);
    assert_int_equal(t->msg[4].vector, 0x47);
    /* Out-of-range pins are ignored; ioapic_set_irq works as an Irq.set. */
    ioapic_set_irq(t->io, 24, 1);
    ioapic_set_irq(t->io, -1, 1);
    ioapic_set_irq(NULL, 3, 1);
    assert_int_equal(t->nmsg, 5);
}

static void test_level_remote_irr(void **st)
{
    T *t = *st;
    rte_wr(t, 9, 0x8000 | 0x39, 0);
    ioapic_set_irq(t->io, 9, 1);
    assert_int_equal(t->nmsg, 1);
    assert_int_equal(t->msg[0].vector, 0x39);
    assert_int_equal(t->msg[0].level, 1);
    assert_true(rte_lo(t, 9) & REMOTE_IRR);
    ioapic_set_irq(t->io, 9, 1);
    assert_int_equal(t->nmsg, 1);  /* remote IRR holds it */
    ioapic_eoi(t->io, 0x38);       /* other vector */
    assert_true(rte_lo(t, 9) & REMOTE_IRR);
    assert_int_equal(t->nmsg, 1);
    ioapic_eoi(t->io, 0x39);       /* still asserted: delivered again */
    assert_int_equal(t->nmsg, 2);
    assert_true(rte_lo(t, 9) & REMOTE_IRR);
    ioapic_set_irq(t->io, 9, 0);
    ioapic_eoi(t->io, 0x39);
    assert_int_equal(rte_lo(t, 9) & REMOTE_IRR, 0);
    assert_int_equal(t->nmsg, 2);
    /* Masked while asserted: delivered on unmask. */
    rte_wr(t, 9, 0x18000 | 0x39, 0);
    ioapic_set_irq(t->io, 9, 1);
    assert_int_equal(t->nmsg, 2);
    rte_wr(t, 9, 0x8000 | 0x39, 0);
    assert_int_equal(t->nmsg, 3);
    /* A write that keeps the entry does not re-deliver (remote IRR set). */
    rte_wr(t, 9, 0x8000 | 0x39, 0);
    assert_int_equal(t->nmsg, 3);
    assert_true(rte_lo(t, 9) & REMOTE_IRR);
    /* Switching to edge clears remote IRR (QEMU). */
    rte_wr(t, 9, 0x39, 0);
    assert_int_equal(rte_lo(t, 9) & REMOTE_IRR, 0);
    assert_int_equal(t->nmsg, 3);
    /* Edge -> level with the pin high: the level request is seen. */
    rte_wr(t, 9, 0x8000 | 0x3A, 0);
    assert_int_equal(t->nmsg, 4);
    assert_int_equal(t->msg[3].vector, 0x3A);
    ioapic_set_irq(t->io, 9, 0);
    ioapic_eoi_cb(t->io, 0x3A);
    assert_int_equal(rte_lo(t, 9) & REMOTE_IRR, 0);
    /* Two level pins sharing a vector: one EOI serves both. */
    rte_wr(t, 10, 0x8000 | 0x50, 0);
    rte_wr(t, 11, 0x8000 | 0x50, 0);
    ioapic_set_irq(t->io, 10, 1);
    ioapic_set_irq(t->io, 11, 1);
    assert_int_equal(t->nmsg, 6);
    ioapic_set_irq(t->io, 10, 0);
    ioapic_eoi(t->io, 0x50);
    assert_int_equal(t->nmsg, 7); /* pin 11 still high */
    assert_int_equal(rte_lo(t, 10) & REMOTE_IRR, 0);
    assert_true(rte_lo(t, 11) & REMOTE_IRR);
}

static void test_odd_size_accesses(void **st)
{
    T *t = *st;
    phys_write(&t->pm, IOAPIC_BASE, 0x01, 1);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x10, 1), 0x11);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x12, 1), 0x17);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x12, 2), 0x0017);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x14, 4), 0);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x01, 1), 0);
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x10, 8), 0x00170011ull);
    /* Decoded modulo 0x100 (QEMU). */
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x110, 4), 0x00170011);
    /* IOWIN writes other than dwords are ignored. */
    phys_write(&t->pm, IOAPIC_BASE, 0x10, 1);
    phys_write(&t->pm, IOAPIC_BASE + 0x10, 0x22, 1);
    phys_write(&t->pm, IOAPIC_BASE + 0x10, 0x2222, 2);
    phys_write(&t->pm, IOAPIC_BASE + 0x11, 0x22, 1);
    assert_int_equal(rte_lo(t, 0), 0x10000);
    phys_write(&t->pm, IOAPIC_BASE + 0x20, 0x22, 4);
    assert_int_equal(rte_lo(t, 0), 0x10000);
    /* Unmapped neighbours read all ones; odd callback sizes do not crash. */
    assert_int_equal(phys_read(&t->pm, IOAPIC_BASE + 0x1000, 4), 0xFFFFFFFF);
    ioapic_mmio_read(t->io, 0x10, 3);
    ioapic_mmio_write(t->io, 0x10, 0, 3);
}

static void test_random_writes(void **st)
{
    T *t = *st;
    srand(82093);
    static const unsigned sizes[] = { 1, 2, 4, 4, 4 };
    for (int i = 0; i < 60000; i++) {
        uint32_t off = (uint32_t)rand() & 0xFFF;
        if (rand() & 1)
            off &= 0x10;
        uint32_t v = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
        switch (rand() % 8) {
        case 0:
            ioapic_set_irq(t->io, rand() % 26 - 1, rand() & 1);
            break;
        case 1:
            ioapic_eoi(t->io, rand() & 0xFF);
            break;
        case 2:
            phys_read(&t->pm, IOAPIC_BASE + off, sizes[rand() % 5]);
            break;
        default:
            phys_write(&t->pm, IOAPIC_BASE + off, v, sizes[rand() % 5]);
            break;
        }
        if (t->nmsg > 200)
            t->nmsg = 0;
    }
    char buf[4096];
    ioapic_info(t->io, buf, sizeof buf);
    ioapic_reset(t->io);
    assert_int_equal(ind_rd(t, 0x01), 0x00170011);
}

static void test_state_round_trip(void **st)
{
    T *a = *st;
    char err[256];
    ind_wr(a, 0x00, 0x01000000);
    rte_wr(a, 2, 0x30, 0);                 /* PIT, edge */
    rte_wr(a, 9, 0x8000 | 0x39, 0x01000000); /* SCI, level */
    rte_wr(a, 11, 0x18000 | 0x3B, 0);      /* masked level */
    ioapic_set_irq(a->io, 9, 1);
    ioapic_set_irq(a->io, 11, 1);
    phys_write(&a->pm, IOAPIC_BASE, 0x13, 1);
    long n = state_save(&ioapic_state, a->io, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&ioapic_state, a->io, buf, (size_t)n), n);

    T *b = tnew();
    ioapic_reset(b->io);
    assert_int_equal(state_load(&ioapic_state, b->io, 1, buf, (size_t)n, err, sizeof err), 0);
    assert_int_equal(b->nmsg, 0);
    assert_int_equal(phys_read(&b->pm, IOAPIC_BASE, 4), 0x13);
    for (int r = 0; r < 0x40; r++)
        assert_int_equal(ind_rd(a, (uint8_t)r), ind_rd(b, (uint8_t)r));
    /* Same behaviour afterwards. */
    int na = a->nmsg;
    ioapic_eoi(a->io, 0x39);
    ioapic_eoi(b->io, 0x39);
    rte_wr(a, 11, 0x8000 | 0x3B, 0);
    rte_wr(b, 11, 0x8000 | 0x3B, 0);
    ioapic_set_irq(a->io, 2, 1);
    ioapic_set_irq(b->io, 2, 1);
    assert_int_equal(a->nmsg - na, 3);
    assert_int_equal(b->nmsg, 3);
    assert_memory_equal(&a->msg[na], &b->msg[0], 3 * sizeof(Msg));
    /* Out-of-range values are rejected. */
    memset(buf + n - 8, 0xFF, 8); /* irr/lines beyond pin 23 */
    assert_int_equal(state_load(&ioapic_state, b->io, 1, buf, (size_t)n, err, sizeof err), -1);
    assert_non_null(strstr(err, "ioapic"));
    free(buf);
    tfree(b);
}

/* ---- wired to the local APIC as the board does ---- */

static uint64_t icount_fn(void *o) { return ((T *)o)->icount; }
static void intr_cb(void *o, int level) { ((T *)o)->intr = level; }
static void to_apic(void *o, int vector, int level, int mode)
{
    apic_deliver(((T *)o)->apic, vector, level, mode);
}

static void test_with_local_apic(void **st)
{
    T *t = *st;
    ioapic_free(t->io);
    vclock_init(&t->clk, VCLOCK_ICOUNT, 0);
    t->clk.icount_fn = icount_fn;
    t->clk.icount_opaque = t;
    t->io = ioapic_new(&t->pm, to_apic, t);
    t->apic = apic_new(&t->pm, &t->clk, intr_cb, t);
    assert_non_null(t->io);
    assert_non_null(t->apic);
    apic_set_eoi_cb(t->apic, ioapic_eoi_cb, t->io);
    phys_write(&t->pm, APIC_BASE_DEFAULT + 0xF0, 0x1FF, 4);
    /* A level-triggered PCI interrupt held for two handler runs. */
    rte_wr(t, 11, 0x8000 | 0x3B, 0);
    rte_wr(t, 2, 0x30, 0);
    ioapic_set_irq(t->io, 11, 1);
    assert_int_equal(t->intr, 1);
    assert_int_equal(apic_intack(t->apic), 0x3B);
    assert_int_equal(t->intr, 0);
    phys_write(&t->pm, APIC_BASE_DEFAULT + 0xB0, 0, 4); /* EOI: re-delivered */
    assert_int_equal(t->intr, 1);
    assert_int_equal(apic_intack(t->apic), 0x3B);
    ioapic_set_irq(t->io, 11, 0); /* the handler cleared the device */
    phys_write(&t->pm, APIC_BASE_DEFAULT + 0xB0, 0, 4);
    assert_int_equal(t->intr, 0);
    assert_int_equal(rte_lo(t, 11) & REMOTE_IRR, 0);
    /* The PIT on pin 2 (edge). */
    ioapic_set_irq(t->io, 2, 1);
    ioapic_set_irq(t->io, 2, 0);
    assert_int_equal(apic_intack(t->apic), 0x30);
    phys_write(&t->pm, APIC_BASE_DEFAULT + 0xB0, 0, 4);
    assert_int_equal(t->intr, 0);
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T_(test_reset_values),
        T_(test_register_read_write),
        T_(test_edge),
        T_(test_level_remote_irr),
        T_(test_odd_size_accesses),
        T_(test_random_writes),
        T_(test_state_round_trip),
        T_(test_with_local_apic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
