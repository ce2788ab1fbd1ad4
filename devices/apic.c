/*
 * apic.c - local APIC of one CPU (Intel SDM vol. 3 ch. 10), with QEMU's
 * pc-machine choices: version 0x00050014, timer at 1 GHz / divisor of the
 * virtual clock, BSP LINT0 programmed as ExtINT at reset, 8259 INTR wired
 * to LINT0.
 *
 * Interrupt acceptance (SDM 10.8): a fixed interrupt sets its IRR bit (TMR
 * for level).  The highest IRR vector is presented on INTR when its class
 * (vector[7:4]) is above PPR[7:4]; the INTA cycle moves it to the ISR.
 * EOI clears the highest ISR bit and, for a level vector (TMR set), calls the
 * EOI callback (the I/O APIC's broadcast EOI).
 */
#include "devices/apic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Register offsets (SDM table 10-1). */
enum {
    APIC_REG_ID = 0x020, APIC_REG_VERSION = 0x030, APIC_REG_TPR = 0x080,
    APIC_REG_APR = 0x090, APIC_REG_PPR = 0x0A0, APIC_REG_EOI = 0x0B0,
    APIC_REG_RRD = 0x0C0, APIC_REG_LDR = 0x0D0, APIC_REG_DFR = 0x0E0,
    APIC_REG_SVR = 0x0F0, APIC_REG_ISR = 0x100, APIC_REG_TMR = 0x180,
    APIC_REG_IRR = 0x200, APIC_REG_ESR = 0x280, APIC_REG_ICR_LO = 0x300,
    APIC_REG_ICR_HI = 0x310, APIC_REG_LVT = 0x320, APIC_REG_TIMER_ICR = 0x380,
    APIC_REG_TIMER_CCR = 0x390, APIC_REG_TIMER_DCR = 0x3E0,
};

#define SVR_ENABLE (1u << 8)          /* APIC software enable */
#define LVT_MASKED (1u << 16)
#define LVT_LEVEL (1u << 15)          /* trigger mode: level */
#define LVT_TIMER_PERIODIC (1u << 17)
#define ICR_DELIV_STATUS (1u << 12)
#define ICR_LEVEL_TRIG (1u << 15)
#define ICR_DEST_LOGICAL (1u << 11)

/* ESR bits (SDM 10.5.3). */
#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER (1u << 7)

/* MSR bits a guest may write: BSP is read-only here, EN, base 31:12. */
#define APIC_BASE_RESERVED (~(uint64_t)(APIC_BASE_BSP | APIC_BASE_ENABLE | APIC_BASE_ADDR_MASK))

/* Periodic timers fire at most once per this many virtual ns, so a guest
 * programming a 1-tick period cannot stall the machine loop.  The count
 * register still reads the exact value. */
#define APIC_TIMER_MIN_PERIOD_NS 1000

/* Writable bits per LVT entry (SDM figure 10-8; no TSC-deadline mode). */
static const uint32_t lvt_rw_mask[APIC_LVT_NB] = {
    [APIC_LVT_TIMER] = 0x300FF,   /* vector, mask, periodic */
    [APIC_LVT_THERMAL] = 0x107FF, /* vector, delivery mode, mask */
    [APIC_LVT_PERF] = 0x107FF,
    [APIC_LVT_LINT0] = 0x1A7FF,   /* + polarity, trigger mode */
    [APIC_LVT_LINT1] = 0x1A7FF,
    [APIC_LVT_ERROR] = 0x100FF,   /* vector, mask */
};

static void apic_update_intr(Apic *s);
static void apic_timer_rearm(Apic *s, int64_t now);

/* ---- bit vectors (256 bits as 8 x 32) ---- */

static inline void bv_set(uint32_t *v, int n) { v[n >> 5] |= 1u << (n & 31); }
static inline void bv_clear(uint32_t *v, int n) { v[n >> 5] &= ~(1u << (n & 31)); }
static inline bool bv_test(const uint32_t *v, int n) { return (v[n >> 5] >> (n & 31)) & 1; }

/* Highest set bit, or -1. */
static int bv_highest(const uint32_t *v)
{
    for (int i = 7; i >= 0; i--)
        if (v[i])
            return i * 32 + 31 - __builtin_clz(v[i]);
    return -1;
}

/* ---- priority ---- */

/* Processor priority register (SDM 10.8.3.1). */
static uint32_t apic_ppr(const Apic *s)
{
    int isrv = bv_highest(s->isr);
    if (isrv < 0)
        isrv = 0;
    if ((s->tpr & 0xF0) >= ((uint32_t)isrv & 0xF0))
        return s->tpr & 0xFF;
    return (uint32_t)isrv & 0xF0;
}

/* The vector INTA would take, or -1 (none, or blocked by PPR). */
static int apic_pending_vector(const Apic *s)
{
    if (!(s->svr & SVR_ENABLE))
        return -1;
    int irrv = bv_highest(s->irr);
    if (irrv < 0)
        return -1;
    if (((uint32_t)irrv & 0xF0) <= (apic_ppr(s) & 0xF0))
        return -1;
    return irrv;
}

bool apic_enabled(Apic *s) { return s && (s->apicbase & APIC_BASE_ENABLE); }

/* LINT0 in ExtINT mode with the 8259's INTR high: the CPU runs the 8259's
 * INTA.  ExtINT ignores the PPR (SDM 10.5.1). */
static bool apic_extint_pending(const Apic *s)
{
    uint32_t lvt = s->lvt[APIC_LVT_LINT0];
    return (s->lint_level & 1) && !(lvt & LVT_MASKED) && ((lvt >> 8) & 7) == APIC_DM_EXTINT;
}

static bool apic_compute_intr(const Apic *s)
{
    if (!(s->apicbase & APIC_BASE_ENABLE))
        return s->lint_level & 1; /* no APIC: LINT0 is the INTR pin */
    return apic_extint_pending(s) || apic_pending_vector(s) >= 0;
}

static void apic_update_intr(Apic *s)
{
    bool out = apic_compute_intr(s);
    if (out != s->intr_out) {
        s->intr_out = out;
        if (s->set_intr)
            s->set_intr(s->opaque, out);
    }
}

bool apic_intr_pending(Apic *s) { return s && s->intr_out; }

/* ---- acceptance ---- */

static void apic_error(Apic *s, uint32_t bits);

/* Accept a fixed interrupt (SDM 10.8.3): IRR bit, TMR per trigger mode. */
static void apic_set_irq(Apic *s, int vector, bool level)
{
    vector &= 0xFF;
    if (vector < 16) {
        apic_error(s, ESR_RECV_ILLEGAL_VECTOR);
        return;
    }
    bv_set(s->irr, vector);
    if (level)
        bv_set(s->tmr, vector);
    else
        bv_clear(s->tmr, vector);
    apic_update_intr(s);
}

static void apic_raise_nmi(Apic *s)
{
    if (s->nmi)
        s->nmi(s->nmi_opaque);
}

/* Deliver the interrupt an LVT entry describes (SDM 10.5.1). */
static void apic_local_deliver(Apic *s, int n)
{
    uint32_t lvt = s->lvt[n];
    if (lvt & LVT_MASKED)
        return;
    switch ((lvt >> 8) & 7) {
    case APIC_DM_FIXED:
        apic_set_irq(s, (int)(lvt & 0xFF),
                     (n == APIC_LVT_LINT0 || n == APIC_LVT_LINT1) && (lvt & LVT_LEVEL));
        break;
    case APIC_DM_NMI:
        apic_raise_nmi(s);
        break;
    case APIC_DM_EXTINT:
        apic_update_intr(s);
        break;
    default: /* SMI, INIT: not modelled */
        break;
    }
}

/* Record errors and raise the LVT error interrupt (SDM 10.5.3).  An illegal
 * error vector only records the error (no recursion). */
static void apic_error(Apic *s, uint32_t bits)
{
    s->esr_pending |= bits;
    uint32_t lvt = s->lvt[APIC_LVT_ERROR];
    if (lvt & LVT_MASKED)
        return;
    if ((lvt & 0xFF) < 16) {
        s->esr_pending |= ESR_RECV_ILLEGAL_VECTOR;
        return;
    }
    apic_set_irq(s, (int)(lvt & 0xFF), false);
}

void apic_deliver(Apic *s, int vector, int trigger_level, int delivery_mode)
{
    if (!s || !(s->apicbase & APIC_BASE_ENABLE))
        return;
    switch (delivery_mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWPRI:
        apic_set_irq(s, vector, trigger_level != 0);
        break;
    case APIC_DM_NMI:
        apic_raise_nmi(s);
        break;
    default: /* SMI, INIT, SIPI, ExtINT messages: not modelled */
        break;
    }
}

void apic_set_lint(Apic *s, int lint, int level)
{
    if (!s || lint < 0 || lint > 1)
        return;
    uint8_t bit = (uint8_t)(1u << lint);
    bool old = s->lint_level & bit;
    level = level != 0;
    if (level)
        s->lint_level |= bit;
    else
        s->lint_level &= (uint8_t)~bit;
    if (!(s->apicbase & APIC_BASE_ENABLE)) {
        /* Globally disabled: LINT0/LINT1 are the INTR/NMI pins. */
        if (lint == 1 && level && !old)
            apic_raise_nmi(s);
        apic_update_intr(s);
        return;
    }
    uint32_t lvt = s->lvt[APIC_LVT_LINT0 + lint];
    if (!(lvt & LVT_MASKED)) {
        switch ((lvt >> 8) & 7) {
        case APIC_DM_FIXED:
            if (lvt & LVT_LEVEL) {
                if (level)
                    apic_set_irq(s, (int)(lvt & 0xFF), true);
                else
                    bv_clear(s->irr, (int)(lvt & 0xFF)); /* as QEMU */
            } else if (level && !old) {
                apic_set_irq(s, (int)(lvt & 0xFF), false);
            }
            break;
        case APIC_DM_NMI:
            if (level && !old)
                apic_raise_nmi(s);
            break;
        default:
            break;
        }
    }
    apic_update_intr(s);
}

void apic_lint_irq(void *opaque, int n, int level) { apic_set_lint(opaque, n, level); }

int apic_intack(Apic *s)
{
    if (!s || !(s->apicbase & APIC_BASE_ENABLE))
        return -1;
    if (apic_extint_pending(s))
        return -1;
    int v = apic_pending_vector(s);
    if (v < 0)
        return (int)(s->svr & 0xFF); /* spurious: ISR untouched (SDM 10.9) */
    bv_clear(s->irr, v);
    bv_set(s->isr, v);
    apic_update_intr(s);
    return v;
}

static void apic_eoi_write(Apic *s)
{
    int v = bv_highest(s->isr);
    if (v < 0)
        return;
    bv_clear(s->isr, v);
    if (bv_test(s->tmr, v) && s->eoi)
        s->eoi(s->eoi_opaque, v);
    apic_update_intr(s);
}

/* Does a destination (ICR[63:56]) in dest mode select this APIC?
 * SDM 10.6.2: physical (ID or 0xFF), logical flat or cluster (DFR). */
static bool apic_match_dest(const Apic *s, uint8_t dest, bool logical)
{
    if (!logical)
        return dest == 0xFF || dest == (uint8_t)(s->id >> 24);
    uint8_t ldr = (uint8_t)(s->ldr >> 24);
    if ((s->dfr >> 28) == 0xF) /* flat model */
        return (dest & ldr) != 0;
    /* cluster model */
    return ((dest >> 4) == 0xF || (dest >> 4) == (ldr >> 4)) && (dest & ldr & 0xF);
}

/* A write to ICR[31:0] sends an IPI (SDM 10.6.1).  Only this CPU exists:
 * INIT/SIPI/SMI to others have no target and complete at once. */
static void apic_send_ipi(Apic *s)
{
    uint32_t lo = s->icr[0];
    int vector = (int)(lo & 0xFF);
    int mode = (int)((lo >> 8) & 7);
    bool self;
    switch ((lo >> 18) & 3) {
    case 0: self = apic_match_dest(s, (uint8_t)(s->icr[1] >> 24), lo & ICR_DEST_LOGICAL); break;
    case 1: case 2: self = true; break;
    default: self = false; break; /* all excluding self */
    }
    if ((mode == APIC_DM_FIXED || mode == APIC_DM_LOWPRI) && vector < 16) {
        apic_error(s, ESR_SEND_ILLEGAL_VECTOR);
        return;
    }
    if (!self)
        return;
    switch (mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWPRI:
        apic_set_irq(s, vector, (lo & ICR_LEVEL_TRIG) != 0);
        break;
    case APIC_DM_NMI:
        apic_raise_nmi(s);
        break;
    default: /* INIT, SIPI, SMI, ExtINT to self: not modelled */
        break;
    }
}

/* ---- timer (SDM 10.5.4) ---- */

/* Divide configuration: bits 3,1,0 -> divide by 2,4,...,128,1. */
static int apic_timer_shift(const Apic *s)
{
    uint32_t v = (s->divide_conf & 3) | ((s->divide_conf >> 1) & 4);
    return (int)((v + 1) & 7);
}

static uint32_t apic_timer_current(const Apic *s, int64_t now)
{
    uint64_t ic = s->initial_count;
    if (ic == 0)
        return 0;
    int64_t el = now - s->count_load_ns;
    uint64_t d = el > 0 ? (uint64_t)el >> apic_timer_shift(s) : 0;
    if (s->lvt[APIC_LVT_TIMER] & LVT_TIMER_PERIODIC)
        return (uint32_t)(ic - d % ic);
    return d >= ic ? 0 : (uint32_t)(ic - d);
}

/* First period end strictly after now (periodic). */
static int64_t apic_timer_next_period(const Apic *s, int64_t now)
{
    int64_t period = (int64_t)((uint64_t)s->initial_count << apic_timer_shift(s));
    int64_t el = now - s->count_load_ns;
    int64_t k = el >= 0 ? el / period + 1 : 1;
    int64_t next = s->count_load_ns + k * period;
    if (period < APIC_TIMER_MIN_PERIOD_NS && next < now + APIC_TIMER_MIN_PERIOD_NS)
        next = now + APIC_TIMER_MIN_PERIOD_NS;
    return next;
}

/* Recompute the next expiry after a change of count, mode or divisor.
 * An expiry already due but not yet run is kept (delivered by the timer). */
static void apic_timer_rearm(Apic *s, int64_t now)
{
    if (s->initial_count == 0) {
        s->next_ns = -1;
    } else if (s->next_ns >= 0 && s->next_ns <= now && s->timer.pending) {
        /* overdue: keep */
    } else if (s->lvt[APIC_LVT_TIMER] & LVT_TIMER_PERIODIC) {
        s->next_ns = apic_timer_next_period(s, now);
    } else {
        int64_t exp = s->count_load_ns +
                      (int64_t)((uint64_t)s->initial_count << apic_timer_shift(s));
        s->next_ns = exp > now ? exp : -1;
    }
    if (s->next_ns >= 0)
        vtimer_mod(&s->timer, s->next_ns);
    else
        vtimer_del(&s->timer);
}

static void apic_timer_cb(void *opaque)
{
    Apic *s = opaque;
    int64_t now = vclock_now(s->clk);
    if (s->next_ns < 0 || s->initial_count == 0)
        return;
    apic_local_deliver(s, APIC_LVT_TIMER); /* masked: counts on, no interrupt */
    if (s->lvt[APIC_LVT_TIMER] & LVT_TIMER_PERIODIC) {
        s->next_ns = apic_timer_next_period(s, now);
        vtimer_mod(&s->timer, s->next_ns);
    } else {
        s->next_ns = -1;
    }
}

/* ---- MMIO mapping ---- */

static const MmioOps apic_mmio_ops = { apic_mmio_read, apic_mmio_write };

static void apic_unmap(Apic *s)
{
    if (!s->mapped || !s->pm)
        return;
    uint32_t page = s->map_base >> PHYS_PAGE_BITS;
    uint8_t m = s->pm->mmio[page];
    /* Only remove the page if it is still ours. */
    if (m && s->pm->regions[m - 1].ops == &apic_mmio_ops && s->pm->regions[m - 1].opaque == s) {
        phys_unmap(s->pm, s->map_base, PHYS_PAGE_SIZE);
        if (s->saved_rd || s->saved_wr) /* RAM/ROM the page hid */
            phys_map(s->pm, s->map_base, PHYS_PAGE_SIZE, s->saved_rd, s->saved_wr);
    }
    s->mapped = false;
    s->saved_rd = s->saved_wr = NULL;
}

/* Map the page at the MSR's base when globally enabled, else unmap. */
static void apic_update_map(Apic *s)
{
    uint32_t base = (uint32_t)(s->apicbase & APIC_BASE_ADDR_MASK);
    bool want = s->apicbase & APIC_BASE_ENABLE;
    if (s->mapped && (!want || s->map_base != base))
        apic_unmap(s);
    if (!want || s->mapped || !s->pm)
        return;
    uint32_t page = base >> PHYS_PAGE_BITS;
    s->saved_rd = s->pm->mmio[page] ? NULL : s->pm->rd[page];
    s->saved_wr = s->pm->mmio[page] ? NULL : s->pm->wr[page];
    if (phys_map_mmio(s->pm, base, PHYS_PAGE_SIZE, &apic_mmio_ops, s, "apic") == 0) {
        s->mapped = true;
        s->map_base = base;
    } else {
        s->saved_rd = s->saved_wr = NULL;
    }
}

/* ---- registers ---- */

/* Register at a 16-byte slot (off & 0xFF0); *ok = false if reserved. */
static uint32_t apic_reg_read(Apic *s, uint32_t off, bool *ok)
{
    *ok = true;
    switch (off) {
    case APIC_REG_ID: return s->id;
    case APIC_REG_VERSION: return APIC_VERSION;
    case APIC_REG_TPR: return s->tpr;
    case APIC_REG_APR: return 0; /* QEMU */
    case APIC_REG_PPR: return apic_ppr(s);
    case APIC_REG_EOI: return 0;
    case APIC_REG_RRD: return 0;
    case APIC_REG_LDR: return s->ldr;
    case APIC_REG_DFR: return s->dfr;
    case APIC_REG_SVR: return s->svr;
    case APIC_REG_ESR: return s->esr;
    case APIC_REG_ICR_LO: return s->icr[0]; /* delivery status 0: sent */
    case APIC_REG_ICR_HI: return s->icr[1];
    case APIC_REG_TIMER_ICR: return s->initial_count;
    case APIC_REG_TIMER_CCR: return apic_timer_current(s, vclock_now(s->clk));
    case APIC_REG_TIMER_DCR: return s->divide_conf;
    default: break;
    }
    if (off >= APIC_REG_ISR && off < APIC_REG_ISR + 0x80)
        return s->isr[(off - APIC_REG_ISR) >> 4];
    if (off >= APIC_REG_TMR && off < APIC_REG_TMR + 0x80)
        return s->tmr[(off - APIC_REG_TMR) >> 4];
    if (off >= APIC_REG_IRR && off < APIC_REG_IRR + 0x80)
        return s->irr[(off - APIC_REG_IRR) >> 4];
    if (off >= APIC_REG_LVT && off < APIC_REG_LVT + 0x10 * APIC_LVT_NB)
        return s->lvt[(off - APIC_REG_LVT) >> 4];
    *ok = false;
    return 0;
}

uint32_t apic_mmio_read(void *opaque, uint32_t off, unsigned size)
{
    Apic *s = opaque;
    if (size != 1 && size != 2 && size != 4)
        size = 4;
    /* Compose byte by byte: bytes 4-15 of each slot are reserved (0). */
    uint32_t v = 0, slot = ~0u, reg = 0;
    for (unsigned i = 0; i < size; i++) {
        uint32_t o = (off + i) & 0xFFF;
        if ((o & 0xF) >= 4)
            continue;
        if ((o & 0xFF0) != slot) {
            bool ok;
            slot = o & 0xFF0;
            reg = apic_reg_read(s, slot, &ok);
        }
        v |= ((reg >> (8 * (o & 3))) & 0xFF) << (8 * i);
    }
    return v;
}

static void apic_lvt_write(Apic *s, int n, uint32_t val)
{
    uint32_t keep = s->lvt[n] & ~lvt_rw_mask[n]; /* delivery status, remote IRR */
    val = (val & lvt_rw_mask[n]) | keep;
    if (!(s->svr & SVR_ENABLE))
        val |= LVT_MASKED; /* SDM 10.4.7.2: masks stay set while disabled */
    s->lvt[n] = val;
    if (n == APIC_LVT_TIMER)
        apic_timer_rearm(s, vclock_now(s->clk));
    apic_update_intr(s);
}

void apic_mmio_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Apic *s = opaque;
    off &= 0xFFF;
    if (size != 4 || (off & 0xF)) /* only aligned dwords (QEMU ignores others) */
        return;
    switch (off) {
    case APIC_REG_ID:
        s->id = val & 0xFF000000u;
        return;
    case APIC_REG_TPR:
        s->tpr = val & 0xFF;
        apic_update_intr(s);
        return;
    case APIC_REG_EOI:
        apic_eoi_write(s);
        return;
    case APIC_REG_LDR:
        s->ldr = val & 0xFF000000u;
        return;
    case APIC_REG_DFR:
        s->dfr = val | 0x0FFFFFFFu;
        return;
    case APIC_REG_SVR:
        s->svr = val & 0x1FF;
        if (!(s->svr & SVR_ENABLE)) {
            for (int n = 0; n < APIC_LVT_NB; n++)
                s->lvt[n] |= LVT_MASKED;
        }
        apic_update_intr(s);
        return;
    case APIC_REG_ESR:
        s->esr = s->esr_pending;
        s->esr_pending = 0;
        return;
    case APIC_REG_ICR_LO:
        s->icr[0] = val & ~ICR_DELIV_STATUS & 0x000CDFFFu;
        apic_send_ipi(s);
        return;
    case APIC_REG_ICR_HI:
        s->icr[1] = val & 0xFF000000u;
        return;
    case APIC_REG_TIMER_ICR: {
        int64_t now = vclock_now(s->clk);
        s->initial_count = val;
        s->count_load_ns = now;
        s->next_ns = -1;
        apic_timer_rearm(s, now);
        return;
    }
    case APIC_REG_TIMER_DCR:
        s->divide_conf = val & 0xB;
        apic_timer_rearm(s, vclock_now(s->clk));
        return;
    case APIC_REG_VERSION: case APIC_REG_APR: case APIC_REG_PPR:
    case APIC_REG_RRD: case APIC_REG_TIMER_CCR:
        return; /* read-only */
    default:
        break;
    }
    if (off >= APIC_REG_LVT && off < APIC_REG_LVT + 0x10 * APIC_LVT_NB) {
        apic_lvt_write(s, (int)((off - APIC_REG_LVT) >> 4), val);
        return;
    }
    if (off >= APIC_REG_ISR && off < APIC_REG_IRR + 0x80)
        return; /* ISR/TMR/IRR read-only */
    apic_error(s, ESR_ILLEGAL_REGISTER);
}

/* ---- MSR ---- */

int apic_msr_read(Apic *s, uint64_t *val)
{
    if (!s || !val)
        return -1;
    *val = s->apicbase;
    return 0;
}

/* Registers to their power-up values (SDM 10.4.7.1), MSR untouched. */
static void apic_reset_regs(Apic *s)
{
    s->id = 0;
    s->tpr = 0;
    s->ldr = 0;
    s->dfr = 0xFFFFFFFFu;
    s->svr = 0xFF;
    memset(s->isr, 0, sizeof s->isr);
    memset(s->tmr, 0, sizeof s->tmr);
    memset(s->irr, 0, sizeof s->irr);
    s->esr = s->esr_pending = 0;
    s->icr[0] = s->icr[1] = 0;
    for (int n = 0; n < APIC_LVT_NB; n++)
        s->lvt[n] = LVT_MASKED;
    /* Every LVT entry masked after RESET (SDM vol. 3 §10.4.7.1), LINT0
     * included: the firmware sets up virtual-wire mode (SeaBIOS does), as
     * QEMU 7.2 also requires. */
    s->initial_count = 0;
    s->divide_conf = 0;
    s->count_load_ns = s->clk ? vclock_now(s->clk) : 0;
    s->next_ns = -1;
    s->lint_level &= 3; /* pin levels are external: kept */
    vtimer_del(&s->timer);
}

int apic_msr_write(Apic *s, uint64_t val)
{
    if (!s || (val & APIC_BASE_RESERVED))
        return -1;
    uint64_t old = s->apicbase;
    s->apicbase = (val & (APIC_BASE_ENABLE | APIC_BASE_ADDR_MASK)) | (old & APIC_BASE_BSP);
    if ((old & APIC_BASE_ENABLE) && !(val & APIC_BASE_ENABLE)) {
        /* SDM 10.4.3: disabling loses the APIC's state (power-up state). */
        apic_reset_regs(s);
    }
    apic_update_map(s);
    apic_update_intr(s);
    return 0;
}

/* ---- life cycle ---- */

void apic_reset(Apic *s)
{
    if (!s)
        return;
    s->apicbase = APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_ENABLE;
    apic_reset_regs(s);
    apic_update_map(s);
    apic_update_intr(s);
}

Apic *apic_new(PhysMem *pm, VClock *clk, void (*set_intr)(void *opaque, int level),
               void *opaque)
{
    if (!clk)
        return NULL;
    Apic *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pm = pm;
    s->clk = clk;
    s->set_intr = set_intr;
    s->opaque = opaque;
    vtimer_init(&s->timer, clk, apic_timer_cb, s);
    apic_reset(s);
    if (pm && !s->mapped) {
        vtimer_del(&s->timer);
        free(s);
        return NULL;
    }
    return s;
}

void apic_free(Apic *s)
{
    if (!s)
        return;
    vtimer_del(&s->timer);
    apic_unmap(s);
    free(s);
}

void apic_set_eoi_cb(Apic *s, void (*eoi)(void *opaque, int vector), void *opaque)
{
    if (s) {
        s->eoi = eoi;
        s->eoi_opaque = opaque;
    }
}

void apic_set_nmi_cb(Apic *s, void (*nmi)(void *opaque), void *opaque)
{
    if (s) {
        s->nmi = nmi;
        s->nmi_opaque = opaque;
    }
}

static int bv_snprint(char *buf, size_t len, const char *name, const uint32_t *v)
{
    int n = snprintf(buf, len, "%s:", name);
    for (int i = 0; i < 256; i++)
        if (bv_test(v, i) && n >= 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, " %d", i);
    if (n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, "\n");
    return n;
}

void apic_info(Apic *s, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    buf[0] = '\0';
    if (!s)
        return;
    int64_t now = vclock_now(s->clk);
    int n = snprintf(buf, len,
                     "apicbase %08llx (%s) id %u svr %03x tpr %02x ppr %02x esr %02x\n"
                     "LVT0 %08x LVT1 %08x LVTE %08x LVTT %08x (%s) icr %08x %08x\n"
                     "timer initial %u current %u divide /%d next %lld ns\n",
                     (unsigned long long)s->apicbase,
                     (s->apicbase & APIC_BASE_ENABLE) ? "enabled" : "disabled",
                     s->id >> 24, s->svr, s->tpr, apic_ppr(s), s->esr,
                     s->lvt[APIC_LVT_LINT0], s->lvt[APIC_LVT_LINT1], s->lvt[APIC_LVT_ERROR],
                     s->lvt[APIC_LVT_TIMER],
                     (s->lvt[APIC_LVT_TIMER] & LVT_TIMER_PERIODIC) ? "periodic" : "one-shot",
                     s->icr[1], s->icr[0], s->initial_count, apic_timer_current(s, now),
                     1 << apic_timer_shift(s), (long long)s->next_ns);
    if (n >= 0 && (size_t)n < len)
        n += bv_snprint(buf + n, len - (size_t)n, "IRR", s->irr);
    if (n >= 0 && (size_t)n < len)
        n += bv_snprint(buf + n, len - (size_t)n, "ISR", s->isr);
    if (n >= 0 && (size_t)n < len)
        bv_snprint(buf + n, len - (size_t)n, "TMR", s->tmr);
}

/* ---- snapshot ---- */

static int apic_post_load(void *opaque, char *err, size_t errlen)
{
    Apic *s = opaque;
    const char *why = NULL;
    if (s->apicbase & APIC_BASE_RESERVED)
        why = "apicbase reserved bits";
    else if (s->tpr > 0xFF || (s->svr & ~0x1FFu) || (s->divide_conf & ~0xBu))
        why = "tpr/svr/divide out of range";
    else if ((s->id | s->ldr | s->icr[1]) & 0x00FFFFFFu)
        why = "id/ldr/icr reserved bits";
    else if (s->lint_level > 3 || s->next_ns < -1 || s->count_load_ns < 0 ||
             s->count_load_ns > (INT64_MAX >> 2) || s->next_ns > (INT64_MAX >> 2))
        why = "lint/timer state out of range";
    for (int n = 0; !why && n < APIC_LVT_NB; n++)
        if (s->lvt[n] & ~(lvt_rw_mask[n] | (1u << 12) | (1u << 14)))
            why = "lvt reserved bits";
    if (why) {
        snprintf(err, errlen, "apic: %s", why);
        apic_reset(s);
        return -1;
    }
    s->dfr |= 0x0FFFFFFFu;
    s->apicbase |= APIC_BASE_BSP; /* one CPU: always the BSP */
    apic_update_map(s);
    if (s->next_ns >= 0)
        vtimer_mod(&s->timer, s->next_ns);
    else
        vtimer_del(&s->timer);
    s->intr_out = apic_compute_intr(s);
    if (s->set_intr)
        s->set_intr(s->opaque, s->intr_out);
    return 0;
}

static const StateField apic_fields[] = {
    ST_U64(apicbase, Apic),
    ST_U32(id, Apic),
    ST_U32(tpr, Apic),
    ST_U32(ldr, Apic),
    ST_U32(dfr, Apic),
    ST_U32(svr, Apic),
    ST_U32_ARRAY(isr, Apic),
    ST_U32_ARRAY(tmr, Apic),
    ST_U32_ARRAY(irr, Apic),
    ST_U32(esr, Apic),
    ST_U32(esr_pending, Apic),
    ST_U32_ARRAY(icr, Apic),
    ST_U32_ARRAY(lvt, Apic),
    ST_U32(initial_count, Apic),
    ST_U32(divide_conf, Apic),
    ST_I64(count_load_ns, Apic),
    ST_I64(next_ns, Apic),
    ST_U8(lint_level, Apic),
    ST_END,
};

const StateDesc apic_state = {
    .name = "apic",
    .version = 1,
    .min_version = 1,
    .fields = apic_fields,
    .post_load = apic_post_load,
};
