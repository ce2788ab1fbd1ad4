/*
 * test_apic.c - local APIC through its MMIO page (phys_read/phys_write at
 * the IA32_APIC_BASE address), the MSR, the LINT pins, the CPU's INTA cycle
 * and messages from the I/O APIC, against a virtual clock in VCLOCK_ICOUNT
 * mode (1 ns per fake instruction).  Values follow Intel SDM vol. 3 ch. 10;
 * the timer runs at 1 GHz / divisor (QEMU).
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
#include "devices/state.h"
#include "devices/vclock.h"
#include "mem/phys.h"

typedef struct {
    uint64_t icount;
    VClock clk;
    PhysMem pm;
    Apic *apic;
    int intr;        /* INTR pin level */
    int intr_rises;
    int nmis;
    int eoi_vec[64];
    int neoi;
} A;

#define BASE APIC_BASE_DEFAULT

static uint64_t icount_fn(void *o) { return ((A *)o)->icount; }

static void intr_cb(void *o, int level)
{
    A *a = o;
    if (level && !a->intr)
        a->intr_rises++;
    a->intr = level;
}

static void nmi_cb(void *o) { ((A *)o)->nmis++; }

static void eoi_cb(void *o, int v)
{
    A *a = o;
    if (a->neoi < 64)
        a->eoi_vec[a->neoi++] = v;
}

static A *anew(void)
{
    A *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    vclock_init(&a->clk, VCLOCK_ICOUNT, 0);
    a->clk.icount_fn = icount_fn;
    a->clk.icount_opaque = a;
    assert_int_equal(phys_init(&a->pm, 1u << 20), 0);
    a->apic = apic_new(&a->pm, &a->clk, intr_cb, a);
    assert_non_null(a->apic);
    apic_set_nmi_cb(a->apic, nmi_cb, a);
    apic_set_eoi_cb(a->apic, eoi_cb, a);
    return a;
}

static void afree(A *a)
{
    apic_free(a->apic);
    phys_free(&a->pm);
    free(a);
}

static int setup(void **st)
{
    *st = anew();
    return 0;
}

static int teardown(void **st)
{
    afree(*st);
    return 0;
}

static uint32_t rd(A *a, uint32_t off) { return (uint32_t)phys_read(&a->pm, BASE + off, 4); }
static void wr(A *a, uint32_t off, uint32_t v) { phys_write(&a->pm, BASE + off, v, 4); }

/* Run to virtual time ns, firing each timer at its deadline. */
static void advance_to(A *a, int64_t ns)
{
    for (long guard = 0; guard < 10000000; guard++) {
        int64_t d = vclock_deadline(&a->clk);
        if (d > ns)
            break;
        if (d > (int64_t)a->icount)
            a->icount = (uint64_t)d;
        vclock_run_timers(&a->clk);
    }
    if ((int64_t)a->icount < ns)
        a->icount = (uint64_t)ns;
    vclock_run_timers(&a->clk);
}

static int64_t now(A *a) { return vclock_now(&a->clk); }

static void sw_enable(A *a) { wr(a, 0xF0, 0x1FF); }

static bool irr_bit(A *a, int v) { return (rd(a, 0x200 + (uint32_t)(v / 32) * 0x10) >> (v % 32)) & 1; }
static bool isr_bit(A *a, int v) { return (rd(a, 0x100 + (uint32_t)(v / 32) * 0x10) >> (v % 32)) & 1; }
static bool tmr_bit(A *a, int v) { return (rd(a, 0x180 + (uint32_t)(v / 32) * 0x10) >> (v % 32)) & 1; }

static uint32_t read_esr(A *a)
{
    wr(a, 0x280, 0); /* SDM 10.5.3: write before read latches */
    return rd(a, 0x280);
}

/* SDM 10.4.7.1 power-up state, with QEMU's BSP LINT0 = ExtINT. */
static void test_reset_values(void **st)
{
    A *a = *st;
    uint64_t msr = 0;
    assert_int_equal(apic_msr_read(a->apic, &msr), 0);
    assert_int_equal(msr, 0xFEE00900ull);
    assert_true(apic_enabled(a->apic));
    assert_int_equal(rd(a, 0x20), 0);
    assert_int_equal(rd(a, 0x30), 0x00050014);
    assert_int_equal(rd(a, 0x80), 0);
    assert_int_equal(rd(a, 0xA0), 0);
    assert_int_equal(rd(a, 0xD0), 0);
    assert_int_equal(rd(a, 0xE0), 0xFFFFFFFF);
    assert_int_equal(rd(a, 0xF0), 0xFF);
    assert_int_equal(rd(a, 0x320), 0x10000);
    assert_int_equal(rd(a, 0x330), 0x10000);
    assert_int_equal(rd(a, 0x340), 0x10000);
    assert_int_equal(rd(a, 0x350), 0x10000); /* LINT0 masked too (SDM 10.4.7.1) */
    assert_int_equal(rd(a, 0x360), 0x10000);
    assert_int_equal(rd(a, 0x370), 0x10000);
    assert_int_equal(rd(a, 0x380), 0);
    assert_int_equal(rd(a, 0x390), 0);
    assert_int_equal(rd(a, 0x3E0), 0);
    for (uint32_t o = 0x100; o < 0x280; o += 0x10)
        assert_int_equal(rd(a, o), 0);
    assert_int_equal(read_esr(a), 0);
    assert_int_equal(a->intr, 0);
    /* Reserved slots and unused bytes read 0, not the floating bus. */
    assert_int_equal(rd(a, 0x000), 0);
    assert_int_equal(rd(a, 0x400), 0);
    assert_int_equal(rd(a, 0xFF0), 0);
    char buf[2048];
    apic_info(a->apic, buf, sizeof buf);
    assert_non_null(strstr(buf, "fee00900"));
    assert_int_equal(state_check(&apic_state, sizeof(Apic), buf, sizeof buf), 0);
}

static void test_register_read_write(void **st)
{
    A *a = *st;
    /* While software-disabled, LVT mask bits stay set (SDM 10.4.7.2). */
    wr(a, 0x320, 0x000000EF);
    assert_int_equal(rd(a, 0x320), 0x100EF);
    sw_enable(a);
    assert_int_equal(rd(a, 0xF0), 0x1FF);
    wr(a, 0xF0, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0xF0), 0x1FF);
    wr(a, 0x20, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x20), 0xFF000000);
    wr(a, 0x20, 0);
    wr(a, 0x30, 0);
    assert_int_equal(rd(a, 0x30), 0x00050014);
    wr(a, 0x80, 0x1FF);
    assert_int_equal(rd(a, 0x80), 0xFF);
    assert_int_equal(rd(a, 0xA0), 0xFF);
    wr(a, 0x80, 0);
    wr(a, 0xD0, 0x12345678);
    assert_int_equal(rd(a, 0xD0), 0x12000000);
    wr(a, 0xE0, 0);
    assert_int_equal(rd(a, 0xE0), 0x0FFFFFFF);
    wr(a, 0x3E0, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x3E0), 0xB);
    /* LVT writable bits: timer vector/mask/periodic (no TSC-deadline). */
    wr(a, 0x320, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x320), 0x300FF);
    wr(a, 0x330, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x330), 0x107FF);
    wr(a, 0x340, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x340), 0x107FF);
    wr(a, 0x350, 0xFFFFFFFF); /* remote IRR (14) and status (12) read-only */
    assert_int_equal(rd(a, 0x350), 0x1A7FF);
    wr(a, 0x360, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x360), 0x1A7FF);
    wr(a, 0x370, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x370), 0x100FF);
    /* ICR: delivery status reads 0 (sent at once); high holds the dest. */
    wr(a, 0x310, 0xFFFFFFFF);
    assert_int_equal(rd(a, 0x310), 0xFF000000);
    wr(a, 0x300, 0x00001000 | (5 << 8)); /* INIT to the broadcast ID */
    assert_int_equal(rd(a, 0x300) & (1u << 12), 0);
    assert_int_equal(rd(a, 0x300), 0x500);
    /* ISR/TMR/IRR, PPR and CCR are read-only. */
    wr(a, 0x200, 0xFFFFFFFF);
    wr(a, 0x100, 0xFFFFFFFF);
    wr(a, 0x390, 1234);
    assert_int_equal(rd(a, 0x200), 0);
    assert_int_equal(rd(a, 0x100), 0);
    assert_int_equal(rd(a, 0x390), 0);
    assert_int_equal(read_esr(a), 0);
    /* A write to a reserved register: ESR illegal register address (bit 7). */
    wr(a, 0x400, 1);
    assert_int_equal(rd(a, 0x280), 0);   /* not latched before an ESR write */
    assert_int_equal(read_esr(a), 0x80);
    assert_int_equal(read_esr(a), 0);    /* cleared by the next write */
    /* Clearing the software enable sets every LVT mask. */
    wr(a, 0x350, 0x700);
    wr(a, 0xF0, 0xFF);
    for (uint32_t o = 0x320; o <= 0x370; o += 0x10)
        assert_true(rd(a, o) & 0x10000);
    /* APR and the remote read register read 0. */
    assert_int_equal(rd(a, 0x90), 0);
    assert_int_equal(rd(a, 0xC0), 0);
}

/* Divide configuration encodings (SDM figure 10-10). */
static const struct { uint32_t dcr; int div; } divs[] = {
    { 0x0, 2 }, { 0x1, 4 }, { 0x2, 8 }, { 0x3, 16 },
    { 0x8, 32 }, { 0x9, 64 }, { 0xA, 128 }, { 0xB, 1 },
};

static void test_timer_oneshot_each_divisor(void **st)
{
    A *a = *st;
    sw_enable(a);
    for (size_t i = 0; i < sizeof divs / sizeof divs[0]; i++) {
        int64_t div = divs[i].div;
        wr(a, 0x3E0, divs[i].dcr);
        wr(a, 0x320, 0x40); /* one-shot, vector 0x40 */
        int64_t t0 = now(a);
        wr(a, 0x380, 1000);
        assert_int_equal(rd(a, 0x380), 1000);
        assert_int_equal(rd(a, 0x390), 1000);
        advance_to(a, t0 + 250 * div);
        assert_int_equal(rd(a, 0x390), 750);
        advance_to(a, t0 + 1000 * div - 1);
        assert_int_equal(rd(a, 0x390), 1);
        assert_int_equal(a->intr, 0);
        advance_to(a, t0 + 1000 * div);
        assert_int_equal(rd(a, 0x390), 0);
        assert_int_equal(a->intr, 1);
        assert_true(irr_bit(a, 0x40));
        assert_int_equal(apic_intack(a->apic), 0x40);
        assert_true(isr_bit(a, 0x40));
        assert_false(irr_bit(a, 0x40));
        assert_int_equal(a->intr, 0);
        wr(a, 0xB0, 0);
        assert_false(isr_bit(a, 0x40));
        assert_int_equal(a->neoi, 0); /* edge: no EOI broadcast */
        advance_to(a, t0 + 5000 * div);
        assert_int_equal(a->intr, 0); /* one-shot: fires once */
        assert_int_equal(rd(a, 0x390), 0);
    }
    /* Initial count 0 stops the timer. */
    wr(a, 0x3E0, 0xB);
    int64_t t0 = now(a);
    wr(a, 0x380, 100);
    wr(a, 0x380, 0);
    advance_to(a, t0 + 1000);
    assert_int_equal(a->intr, 0);
    assert_int_equal(rd(a, 0x390), 0);
}

static void test_timer_periodic(void **st)
{
    A *a = *st;
    sw_enable(a);
    for (size_t i = 0; i < sizeof divs / sizeof divs[0]; i++) {
        int64_t div = divs[i].div;
        int64_t ic = 1500; /* period >= the 1 us minimum even at divide 1 */
        wr(a, 0x3E0, divs[i].dcr);
        wr(a, 0x320, 0x20000 | 0x51);
        int64_t t0 = now(a);
        wr(a, 0x380, (uint32_t)ic);
        for (int k = 1; k <= 5; k++) {
            advance_to(a, t0 + k * ic * div - 1);
            assert_int_equal(a->intr, 0);
            assert_int_equal(rd(a, 0x390), 1);
            advance_to(a, t0 + k * ic * div);
            assert_int_equal(a->intr, 1);
            assert_int_equal(rd(a, 0x390), ic); /* reloaded */
            advance_to(a, t0 + k * ic * div + 100 * div);
            assert_int_equal(rd(a, 0x390), ic - 100);
            assert_int_equal(apic_intack(a->apic), 0x51);
            wr(a, 0xB0, 0);
        }
        wr(a, 0x380, 0);
        advance_to(a, now(a) + 10 * ic * div);
        assert_int_equal(a->intr, 0);
    }
}

static void test_timer_masked_and_mode_change(void **st)
{
    A *a = *st;
    sw_enable(a);
    wr(a, 0x3E0, 0xB);
    /* Masked one-shot: counts to 0, no interrupt, none after unmasking. */
    wr(a, 0x320, 0x10060);
    int64_t t0 = now(a);
    wr(a, 0x380, 300);
    advance_to(a, t0 + 150);
    assert_int_equal(rd(a, 0x390), 150);
    advance_to(a, t0 + 400);
    assert_int_equal(rd(a, 0x390), 0);
    assert_int_equal(a->intr, 0);
    wr(a, 0x320, 0x60);
    advance_to(a, t0 + 2000);
    assert_int_equal(a->intr, 0);
    assert_false(irr_bit(a, 0x60));
    /* Masked periodic keeps counting; unmasking delivers at the next end. */
    wr(a, 0x320, 0x30060);
    t0 = now(a);
    wr(a, 0x380, 1000);
    advance_to(a, t0 + 2500);
    assert_int_equal(a->intr, 0);
    assert_int_equal(rd(a, 0x390), 500);
    wr(a, 0x320, 0x20060);
    advance_to(a, t0 + 2999);
    assert_int_equal(a->intr, 0);
    advance_to(a, t0 + 3000);
    assert_int_equal(a->intr, 1);
    assert_int_equal(apic_intack(a->apic), 0x60);
    wr(a, 0xB0, 0);
    /* Periodic -> one-shot mid-period: counts down to 0 once (from the load). */
    wr(a, 0x320, 0x60);
    advance_to(a, t0 + 10000);
    assert_int_equal(rd(a, 0x390), 0);
    assert_int_equal(a->intr, 0);
    /* A tiny periodic count cannot flood the machine loop. */
    wr(a, 0x320, 0x20060);
    wr(a, 0x380, 1);
    advance_to(a, now(a) + 100000);
    assert_int_equal(a->intr, 1);
    assert_int_equal(rd(a, 0x390), 1);
    wr(a, 0x380, 0);
}

static void deliver(A *a, int v) { apic_deliver(a->apic, v, 0, APIC_DM_FIXED); }

static void test_tpr_ppr_masking(void **st)
{
    A *a = *st;
    sw_enable(a);
    wr(a, 0x80, 0x60);
    deliver(a, 0x55);
    assert_true(irr_bit(a, 0x55));
    assert_int_equal(a->intr, 0); /* class 5 <= TPR class 6 */
    assert_int_equal(rd(a, 0xA0), 0x60);
    wr(a, 0x80, 0x5F);
    assert_int_equal(a->intr, 0); /* equal class is blocked too */
    wr(a, 0x80, 0x4F);
    assert_int_equal(a->intr, 1);
    assert_int_equal(rd(a, 0xA0), 0x4F);
    assert_int_equal(apic_intack(a->apic), 0x55);
    /* PPR = ISRV class when above TPR (SDM 10.8.3.1). */
    assert_int_equal(rd(a, 0xA0), 0x50);
    wr(a, 0x80, 0x70);
    assert_int_equal(rd(a, 0xA0), 0x70);
    wr(a, 0x80, 0x50);
    assert_int_equal(rd(a, 0xA0), 0x50);
    wr(a, 0xB0, 0);
    assert_int_equal(rd(a, 0xA0), 0x50);
    wr(a, 0x80, 0);
    assert_int_equal(rd(a, 0xA0), 0);
    /* Software-disabled: IRR is held, nothing is presented. */
    deliver(a, 0x90);
    assert_int_equal(a->intr, 1);
    wr(a, 0xF0, 0xFF);
    assert_int_equal(a->intr, 0);
    assert_true(irr_bit(a, 0x90));
    sw_enable(a);
    assert_int_equal(a->intr, 1);
    /* Vectors 0-15 are illegal: ESR receive illegal vector (bit 6). */
    read_esr(a);
    deliver(a, 0x0E);
    assert_false(irr_bit(a, 0x0E));
    assert_int_equal(read_esr(a), 0x40);
}

static void test_isr_eoi_nesting(void **st)
{
    A *a = *st;
    sw_enable(a);
    deliver(a, 0x30);
    assert_int_equal(apic_intack(a->apic), 0x30);
    deliver(a, 0x31);
    assert_int_equal(a->intr, 0); /* same class as the ISR: blocked */
    deliver(a, 0x80);
    assert_int_equal(a->intr, 1); /* higher class nests */
    assert_int_equal(apic_intack(a->apic), 0x80);
    deliver(a, 0x35);
    assert_int_equal(a->intr, 0);
    assert_int_equal(rd(a, 0xA0), 0x80);
    wr(a, 0xB0, 0); /* EOI clears the highest: 0x80 */
    assert_false(isr_bit(a, 0x80));
    assert_true(isr_bit(a, 0x30));
    assert_int_equal(a->intr, 0);
    wr(a, 0xB0, 0);
    assert_false(isr_bit(a, 0x30));
    assert_int_equal(a->intr, 1);
    assert_int_equal(apic_intack(a->apic), 0x35); /* highest IRR first */
    wr(a, 0xB0, 0);
    assert_int_equal(apic_intack(a->apic), 0x31);
    wr(a, 0xB0, 0);
    assert_int_equal(a->intr, 0);
    wr(a, 0xB0, 0); /* EOI with an empty ISR: harmless */
    /* Level-triggered vectors set TMR and broadcast their EOI. */
    apic_deliver(a->apic, 0x70, 1, APIC_DM_FIXED);
    assert_true(tmr_bit(a, 0x70));
    apic_deliver(a->apic, 0x71, 0, APIC_DM_LOWPRI);
    assert_false(tmr_bit(a, 0x71));
    assert_int_equal(apic_intack(a->apic), 0x71);
    wr(a, 0xB0, 0);
    assert_int_equal(a->neoi, 0);
    assert_int_equal(apic_intack(a->apic), 0x70);
    wr(a, 0xB0, 0);
    assert_int_equal(a->neoi, 1);
    assert_int_equal(a->eoi_vec[0], 0x70);
    /* NMI messages go to the NMI callback. */
    apic_deliver(a->apic, 0, 0, APIC_DM_NMI);
    assert_int_equal(a->nmis, 1);
}

static void test_self_ipi(void **st)
{
    A *a = *st;
    sw_enable(a);
    wr(a, 0x310, 0x00000000);
    wr(a, 0x300, 0x00000050);         /* fixed, physical dest 0 = us */
    assert_true(irr_bit(a, 0x50));
    wr(a, 0x300, 0x00040051);         /* shorthand self */
    assert_true(irr_bit(a, 0x51));
    wr(a, 0x300, 0x00080052);         /* all including self */
    assert_true(irr_bit(a, 0x52));
    wr(a, 0x300, 0x000C0053);         /* all excluding self */
    assert_false(irr_bit(a, 0x53));
    wr(a, 0x310, 0x05000000);
    wr(a, 0x300, 0x00000054);         /* physical dest 5: nobody */
    assert_false(irr_bit(a, 0x54));
    wr(a, 0x310, 0xFF000000);
    wr(a, 0x300, 0x00000055);         /* physical broadcast */
    assert_true(irr_bit(a, 0x55));
    wr(a, 0xD0, 0x01000000);          /* logical ID bit 0, flat model */
    wr(a, 0x310, 0x01000000);
    wr(a, 0x300, 0x00000856);
    assert_true(irr_bit(a, 0x56));
    wr(a, 0x310, 0x02000000);
    wr(a, 0x300, 0x00000857);
    assert_false(irr_bit(a, 0x57));
    wr(a, 0xE0, 0x0FFFFFFF);          /* cluster model: cluster 0, member 0 */
    wr(a, 0x310, 0x01000000);
    wr(a, 0x300, 0x00000858);
    assert_true(irr_bit(a, 0x58));
    wr(a, 0x310, 0x11000000);         /* cluster 1 */
    wr(a, 0x300, 0x00000859);
    assert_false(irr_bit(a, 0x59));
    /* Level trigger bit sets TMR. */
    wr(a, 0x300, 0x0004C05A);
    assert_true(tmr_bit(a, 0x5A));
    /* NMI to self; INIT/SIPI to all-but-self complete with no target. */
    wr(a, 0x300, 0x00040400);
    assert_int_equal(a->nmis, 1);
    wr(a, 0x300, 0x000C4500);
    wr(a, 0x300, 0x000C4608);
    assert_int_equal(rd(a, 0x300) & (1u << 12), 0);
    /* Illegal vector: ESR send illegal vector (bit 5), nothing delivered. */
    read_esr(a);
    wr(a, 0x300, 0x00040005);
    assert_false(irr_bit(a, 0x05));
    assert_int_equal(read_esr(a), 0x20);
    /* The error LVT raises its vector on an error. */
    wr(a, 0x370, 0xEE);
    wr(a, 0x300, 0x00040006);
    assert_true(irr_bit(a, 0xEE));
    assert_int_equal(apic_intack(a->apic), 0xEE);
}

static void test_spurious(void **st)
{
    A *a = *st;
    wr(a, 0xF0, 0x13F); /* enabled, spurious vector 0x3F */
    deliver(a, 0x60);
    assert_int_equal(a->intr, 1);
    /* The CPU saw INTR, then the TPR rose before INTA: spurious vector. */
    wr(a, 0x80, 0xF0);
    assert_int_equal(a->intr, 0);
    assert_int_equal(apic_intack(a->apic), 0x3F);
    assert_true(irr_bit(a, 0x60));
    assert_int_equal(rd(a, 0x100), 0);
    assert_int_equal(rd(a, 0x110), 0);
    assert_int_equal(rd(a, 0x120), 0);
    assert_int_equal(rd(a, 0x130), 0);
    wr(a, 0xB0, 0); /* no EOI for spurious interrupts; a stray one is harmless */
    wr(a, 0x80, 0);
    assert_int_equal(apic_intack(a->apic), 0x60);
    wr(a, 0xB0, 0);
    assert_int_equal(apic_intack(a->apic), 0x3F);
}

static void test_lint0_extint_pass_through(void **st)
{
    A *a = *st;
    /* Reset state: LINT0 masked; the pin does nothing until the firmware
     * sets up virtual-wire mode (LINT0 = ExtINT). */
    apic_set_lint(a->apic, 0, 1);
    assert_int_equal(a->intr, 0);
    apic_set_lint(a->apic, 0, 0);
    wr(a, 0xF0, 0x1FF);   /* software enable */
    wr(a, 0x350, 0x700);  /* LINT0: ExtINT, unmasked */
    apic_set_lint(a->apic, 0, 1);
    assert_int_equal(a->intr, 1);
    assert_int_equal(apic_intack(a->apic), -1); /* ask the 8259 */
    apic_set_lint(a->apic, 0, 0);
    assert_int_equal(a->intr, 0);
    /* SeaBIOS: SVR enable, LINT0 0x8700 (ExtINT level), LINT1 0x8400 (NMI). */
    sw_enable(a);
    wr(a, 0x350, 0x8700);
    wr(a, 0x360, 0x8400);
    apic_set_lint(a->apic, 0, 1);
    assert_int_equal(a->intr, 1);
    /* ExtINT ignores the PPR and comes before APIC vectors. */
    wr(a, 0x80, 0xFF);
    assert_int_equal(a->intr, 1);
    wr(a, 0x80, 0);
    deliver(a, 0x90);
    assert_int_equal(apic_intack(a->apic), -1);
    apic_set_lint(a->apic, 0, 0);
    assert_int_equal(a->intr, 1);
    assert_int_equal(apic_intack(a->apic), 0x90);
    wr(a, 0xB0, 0);
    assert_int_equal(a->intr, 0);
    /* LINT1 NMI on a rising edge. */
    apic_set_lint(a->apic, 1, 1);
    apic_set_lint(a->apic, 1, 1);
    apic_set_lint(a->apic, 1, 0);
    assert_int_equal(a->nmis, 1);
    /* Masked LINT0: the 8259 does not reach the CPU. */
    wr(a, 0x350, 0x18700);
    apic_set_lint(a->apic, 0, 1);
    assert_int_equal(a->intr, 0);
    wr(a, 0x350, 0x8700); /* unmask with INTR still high */
    assert_int_equal(a->intr, 1);
    apic_set_lint(a->apic, 0, 0);
    /* LINT0 fixed, edge: the rising edge sets IRR. */
    wr(a, 0x350, 0x0041);
    apic_set_lint(a->apic, 0, 1);
    assert_true(irr_bit(a, 0x41));
    assert_false(tmr_bit(a, 0x41));
    assert_int_equal(apic_intack(a->apic), 0x41);
    wr(a, 0xB0, 0);
    assert_int_equal(a->intr, 0); /* held high: no second edge */
    apic_set_lint(a->apic, 0, 0);
    /* LINT0 fixed, level: IRR follows the pin (as QEMU). */
    wr(a, 0x350, 0x8042);
    apic_set_lint(a->apic, 0, 1);
    assert_true(irr_bit(a, 0x42));
    assert_true(tmr_bit(a, 0x42));
    apic_set_lint(a->apic, 0, 0);
    assert_false(irr_bit(a, 0x42));
    assert_int_equal(a->intr, 0);
    /* apic_lint_irq is the Irq.set adapter. */
    wr(a, 0x350, 0x700);
    apic_lint_irq(a->apic, 0, 1);
    assert_int_equal(a->intr, 1);
    apic_lint_irq(a->apic, 0, 0);
    apic_set_lint(a->apic, 7, 1); /* out of range: ignored */
    assert_int_equal(a->intr, 0);
}

static void test_global_disable_and_base_move(void **st)
{
    A *a = *st;
    sw_enable(a);
    wr(a, 0x80, 0x20);
    /* Reserved bits (x2APIC enable 10, bits 0-7, above 4 GiB) -> #GP. */
    assert_int_equal(apic_msr_write(a->apic, 0xFEE00900ull | (1u << 10)), -1);
    assert_int_equal(apic_msr_write(a->apic, 0xFEE00901ull), -1);
    assert_int_equal(apic_msr_write(a->apic, 0x1FEE00900ull), -1);
    /* Move the page: the old address floats, the new one answers. */
    assert_int_equal(apic_msr_write(a->apic, 0xFED00800ull), 0);
    uint64_t msr;
    apic_msr_read(a->apic, &msr);
    assert_int_equal(msr, 0xFED00900ull); /* BSP is read-only */
    assert_int_equal(phys_read(&a->pm, 0xFEE00030, 4), 0xFFFFFFFF);
    assert_int_equal(phys_read(&a->pm, 0xFED00030, 4), 0x00050014);
    assert_int_equal(phys_read(&a->pm, 0xFED00080, 4), 0x20);
    /* Over RAM: the page hides RAM, which comes back when it moves away. */
    phys_write(&a->pm, 0x80030, 0xCAFEBABE, 4);
    assert_int_equal(apic_msr_write(a->apic, 0x80800ull), 0);
    assert_int_equal(phys_read(&a->pm, 0x80030, 4), 0x00050014);
    assert_int_equal(apic_msr_write(a->apic, 0xFEE00800ull), 0);
    assert_int_equal(phys_read(&a->pm, 0x80030, 4), 0xCAFEBABE);
    assert_int_equal(rd(a, 0x30), 0x00050014);
    /* Global disable: registers gone (all ones), LINT0 is the INTR pin,
     * no APIC delivery, INTA goes to the 8259. */
    deliver(a, 0x90);
    assert_int_equal(a->intr, 1);
    assert_int_equal(apic_msr_write(a->apic, 0xFEE00000ull), 0);
    assert_false(apic_enabled(a->apic));
    assert_int_equal(rd(a, 0x30), 0xFFFFFFFF);
    assert_int_equal(a->intr, 0);
    deliver(a, 0x91);
    assert_int_equal(a->intr, 0);
    apic_set_lint(a->apic, 0, 1);
    assert_int_equal(a->intr, 1);
    assert_int_equal(apic_intack(a->apic), -1);
    apic_set_lint(a->apic, 0, 0);
    assert_int_equal(a->intr, 0);
    apic_set_lint(a->apic, 1, 1);
    assert_int_equal(a->nmis, 1);
    apic_set_lint(a->apic, 1, 0);
    /* Re-enable: power-up register state. */
    assert_int_equal(apic_msr_write(a->apic, 0xFEE00800ull), 0);
    assert_true(apic_enabled(a->apic));
    assert_int_equal(rd(a, 0x30), 0x00050014);
    assert_int_equal(rd(a, 0x80), 0);
    assert_int_equal(rd(a, 0xF0), 0xFF);
    assert_int_equal(rd(a, 0x200 + 0x40), 0);
    assert_int_equal(rd(a, 0x350), 0x10000);
    /* apic_reset restores the default base. */
    apic_msr_write(a->apic, 0xFED00800ull);
    apic_reset(a->apic);
    assert_int_equal(rd(a, 0x30), 0x00050014);
    assert_int_equal(phys_read(&a->pm, 0xFED00030, 4), 0xFFFFFFFF);
}

static void test_odd_size_accesses(void **st)
{
    A *a = *st;
    sw_enable(a);
    wr(a, 0x80, 0x3C);
    /* Reads return the register's bytes; bytes 4-15 of a slot read 0. */
    assert_int_equal(phys_read(&a->pm, BASE + 0x30, 1), 0x14);
    assert_int_equal(phys_read(&a->pm, BASE + 0x32, 1), 0x05);
    assert_int_equal(phys_read(&a->pm, BASE + 0x30, 2), 0x0014);
    assert_int_equal(phys_read(&a->pm, BASE + 0x32, 2), 0x0005);
    assert_int_equal(phys_read(&a->pm, BASE + 0x33, 2), 0x0000);
    assert_int_equal(phys_read(&a->pm, BASE + 0x34, 4), 0);
    assert_int_equal(phys_read(&a->pm, BASE + 0x31, 4), 0x00000500);
    assert_int_equal(phys_read(&a->pm, BASE + 0x80, 1), 0x3C);
    assert_int_equal(phys_read(&a->pm, BASE + 0x30, 8), 0x00050014ull);
    assert_int_equal(phys_read(&a->pm, BASE + 0xFFE, 4) & 0xFFFF, 0);
    /* Writes other than aligned dwords are ignored. */
    phys_write(&a->pm, BASE + 0x80, 0x11, 1);
    phys_write(&a->pm, BASE + 0x80, 0x1111, 2);
    phys_write(&a->pm, BASE + 0x81, 0x11, 1);
    phys_write(&a->pm, BASE + 0x84, 0x11111111, 4);
    phys_write(&a->pm, BASE + 0x82, 0x11111111, 4);
    assert_int_equal(rd(a, 0x80), 0x3C);
    /* A byte EOI write does nothing either. */
    deliver(a, 0x70);
    assert_int_equal(apic_intack(a->apic), 0x70);
    phys_write(&a->pm, BASE + 0xB0, 0, 1);
    assert_true(isr_bit(a, 0x70));
    /* An 8-byte write splits into two dwords (TPR then slot bytes 4-7). */
    phys_write(&a->pm, BASE + 0x80, 0xFFFFFFFF00000010ull, 8);
    assert_int_equal(rd(a, 0x80), 0x10);
    assert_int_equal(read_esr(a), 0);
    /* Direct callback with a bogus size: no crash. */
    apic_mmio_read(a->apic, 0x30, 3);
    apic_mmio_write(a->apic, 0x80, 0, 3);
    assert_int_equal(apic_mmio_read(a->apic, 0x30, 4), 0x00050014);
}

static void test_random_writes(void **st)
{
    A *a = *st;
    srand(0xA91C);
    static const unsigned sizes[] = { 1, 2, 4, 4, 4, 8 };
    for (int i = 0; i < 60000; i++) {
        uint32_t off = (uint32_t)rand() & 0xFFF;
        if (rand() & 1)
            off &= 0x3F0;
        uint32_t v = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
        unsigned sz = sizes[rand() % 6];
        switch (rand() % 16) {
        case 0:
            apic_msr_write(a->apic, ((uint64_t)v << (rand() % 8)) | (rand() & 1 ? 0xFEE00800u : 0));
            break;
        case 1:
            apic_set_lint(a->apic, rand() % 3, rand() & 1);
            break;
        case 2:
            apic_deliver(a->apic, rand() & 0xFF, rand() & 1, rand() % 8);
            break;
        case 3: {
            int vv = apic_intack(a->apic);
            assert_true(vv >= -1 && vv <= 255);
            break;
        }
        case 4:
            advance_to(a, now(a) + (rand() % 5000));
            break;
        case 5:
            phys_read(&a->pm, BASE + off, sz);
            break;
        default: {
            uint64_t msr;
            apic_msr_read(a->apic, &msr);
            phys_write(&a->pm, (uint32_t)(msr & 0xFFFFF000u) + off, v, sz);
            break;
        }
        }
        /* The INTR pin always matches the state. */
        assert_int_equal(a->intr, apic_intr_pending(a->apic));
    }
    char buf[4096];
    apic_info(a->apic, buf, sizeof buf);
    apic_reset(a->apic);
    assert_int_equal(rd(a, 0x30), 0x00050014);
}

static void observe(A *a, uint32_t *o)
{
    int k = 0;
    for (uint32_t off = 0x20; off <= 0x3F0; off += 0x10)
        o[k++] = rd(a, off);
}

static void test_state_round_trip(void **st)
{
    A *a = *st;
    char err[256];
    sw_enable(a);
    wr(a, 0x80, 0x20);
    wr(a, 0xD0, 0x03000000);
    wr(a, 0x350, 0x8700);
    wr(a, 0x360, 0x8400);
    wr(a, 0x370, 0xEF);
    deliver(a, 0x41);
    apic_deliver(a->apic, 0x92, 1, APIC_DM_FIXED);
    assert_int_equal(apic_intack(a->apic), 0x92);
    wr(a, 0x3E0, 0x1); /* /4 */
    wr(a, 0x320, 0x20000 | 0x61);
    advance_to(a, 12345);
    wr(a, 0x380, 1000);
    advance_to(a, 12345 + 4000 * 3 + 77);
    apic_set_lint(a->apic, 0, 1);
    int64_t tsave = now(a);

    long n = state_save(&apic_state, a->apic, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&apic_state, a->apic, buf, (size_t)n), n);

    A *b = anew();
    advance_to(b, tsave);
    apic_reset(b->apic);
    assert_int_equal(state_load(&apic_state, b->apic, 1, buf, (size_t)n, err, sizeof err), 0);
    assert_int_equal(b->intr, a->intr);
    uint32_t oa[64] = { 0 }, ob[64] = { 0 };
    observe(a, oa);
    observe(b, ob);
    assert_memory_equal(oa, ob, sizeof oa);
    /* Same future: timer interrupts at the same times, same EOI broadcast. */
    for (int k = 0; k < 20; k++) {
        advance_to(a, tsave + k * 1500);
        advance_to(b, tsave + k * 1500);
        assert_int_equal(a->intr, b->intr);
        assert_int_equal(rd(a, 0x390), rd(b, 0x390));
        assert_int_equal(apic_intack(a->apic), apic_intack(b->apic));
        observe(a, oa);
        observe(b, ob);
        assert_memory_equal(oa, ob, sizeof oa);
        if (k % 3 == 2) {
            wr(a, 0xB0, 0);
            wr(b, 0xB0, 0);
        }
    }
    assert_int_equal(a->neoi, b->neoi);
    /* A moved base survives the round trip. */
    apic_msr_write(a->apic, 0xFED00800ull);
    n = state_save(&apic_state, a->apic, buf, (size_t)n);
    assert_int_equal(state_load(&apic_state, b->apic, 1, buf, (size_t)n, err, sizeof err), 0);
    assert_int_equal(phys_read(&b->pm, 0xFED00030, 4), 0x00050014);
    assert_int_equal(phys_read(&b->pm, 0xFEE00030, 4), 0xFFFFFFFF);
    /* Out-of-range values are rejected. */
    buf[0] |= 0x01; /* apicbase reserved bit 0 */
    assert_int_equal(state_load(&apic_state, b->apic, 1, buf, (size_t)n, err, sizeof err), -1);
    assert_non_null(strstr(err, "apic"));
    assert_int_equal(phys_read(&b->pm, 0xFEE00030, 4), 0x00050014); /* reset */
    free(buf);
    afree(b);
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T_(test_reset_values),
        T_(test_register_read_write),
        T_(test_timer_oneshot_each_divisor),
        T_(test_timer_periodic),
        T_(test_timer_masked_and_mode_change),
        T_(test_tpr_ppr_masking),
        T_(test_isr_eoi_nesting),
        T_(test_self_ipi),
        T_(test_spurious),
        T_(test_lint0_extint_pass_through),
        T_(test_global_disable_and_base_move),
        T_(test_odd_size_accesses),
        T_(test_random_writes),
        T_(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
