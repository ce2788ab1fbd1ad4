/*
 * i8254.c - 8254 PIT + port 0x61 (see i8254.h).
 *
 * Time base: tick k of the 1193182 Hz input happens at virtual time
 * vclock_ticks_to_ns(k); ticks(now) = vclock_ns_to_ticks(now) is the last
 * tick that has happened.  Nothing is ticked: each counter remembers the
 * tick at which its counting element (CE) was loaded with the initial count
 * n (load_tick) and everything (CE value, OUT, IRQ0 edges) is a closed-form
 * function of e = ticks(now) - load_tick, per the 82C54 datasheet mode
 * descriptions:
 *   mode 0  OUT low; CE = n at the first CLK after the count is written,
 *           OUT high when CE reaches 0 (e = n); CE keeps wrapping.
 *   mode 1  gate rising edge triggers: OUT low from the next CLK until e = n.
 *   mode 2  CE n..1, OUT low while CE = 1, reload at e = k*n.
 *   mode 3  OUT high for ceil(n/2), low for floor(n/2); CE counts by two
 *           (odd counts: n, n-1, n-3, ..; then n, n-3, n-5, ..).
 *   mode 4  OUT low for one CLK at e = n (n+1 CLKs after the write).
 *   mode 5  as mode 4, started by a gate rising edge.
 * While the CE is not counting (before a trigger, gate low in modes 0/2/3/4,
 * or before the first CLK after a load) it shows hold_val / hold_out.
 * A count written in modes 2/3 while counting takes effect at the end of the
 * current cycle (mode 2) or half-cycle (mode 3), kept as a pending reload.
 *
 * IRQ0: one VTimer at the next OUT0 transition (never per tick), so edges
 * land on the exact virtual ns of their CLK.  Rising edges are also counted
 * in closed form (ch_rises); in modes 2/3 with a period under
 * 4 * I8254_MIN_IRQ_NS (counts 1-4) the timer instead fires every
 * I8254_MIN_IRQ_NS and delivers the rising edges it missed as one coalesced
 * pulse, so absurd counts cannot cause a timer storm.
 */
#include "devices/i8254.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT61_GATE2    0x01 /* timer counter 2 gate (R/W) */
#define PORT61_SPKR     0x02 /* speaker data enable (R/W) */
#define PORT61_RW_MASK  0x0F /* bits 2-3: SERR#/IOCHK# NMI enables, stored */
#define PORT61_REFRESH  0x10 /* refresh cycle toggle (RO) */
#define PORT61_OUT2     0x20 /* timer counter 2 OUT (RO) */

#define RW_LATCH 0
#define RW_LSB   1
#define RW_MSB   2
#define RW_WORD  3

#define TICK_NONE INT64_MAX

/* Latched-count read sequence (count_latched). */
enum { LATCH_NONE = 0, LATCH_LSB = 1, LATCH_MSB = 2, LATCH_WORD = 3, LATCH_WORD_MSB = 4 };

/** One counter.  Times are absolute ticks of the 1193182 Hz clock. */
typedef struct I8254Channel {
    uint8_t mode;           /**< M2..M0 as programmed (6/7 act as 2/3) */
    uint8_t rw_mode;        /**< RW1..RW0: 1 LSB, 2 MSB, 3 LSB then MSB */
    bool bcd;               /**< BCD counting */
    uint16_t cr;            /**< count register, as written */
    uint8_t write_lsb;      /**< LSB held until the MSB arrives */
    bool write_msb_next;    /**< write flip-flop */
    bool read_msb_next;     /**< read flip-flop (unlatched reads) */
    uint8_t count_latched;  /**< LATCH_* read sequence of the output latch */
    uint16_t latched_count; /**< OL: latched count (BCD-encoded if bcd) */
    bool status_latched;    /**< read-back status pending */
    uint8_t status;         /**< latched status byte */
    bool gate;              /**< GATE input */
    bool armed;             /**< a count was written since the control word */
    bool running;           /**< CE counts from load_tick */
    uint32_t n;             /**< initial count of the running sequence, 1..65536 */
    int64_t load_tick;      /**< tick at which CE = n (e = 0) */
    uint32_t hold_val;      /**< CE value while not counting (0..65535) */
    bool hold_out;          /**< OUT while not counting */
    int64_t susp_e;         /**< modes 0/4: elapsed ticks kept over gate low */
    bool pending;           /**< modes 2/3: reload with pend_n at pend_tick */
    uint32_t pend_n;
    int64_t pend_tick;      /**< tick of the end of the current (half-)cycle */
    int64_t pend_load;      /**< load_tick of the new sequence */
    bool null_count;        /**< CR written, not yet moved into the CE ... */
    int64_t nc_tick;        /**< ... until this tick (TICK_NONE: a trigger) */
} I8254Channel;

struct I8254 {
    I8254Channel ch[3];
    uint8_t port61;         /**< port 0x61 bits 0-3 as written */
    bool irq_level;         /**< level driven on irq0 */
    int64_t irq_rises;      /**< rising edges of OUT0 already delivered */
    VClock *clk;
    VTimer timer;
    Irq irq0;
    IoBus *bus;
};

/* ---- closed-form counter model ----------------------------------------- */

static int ch_mode(const I8254Channel *c)
{
    return c->mode >= 6 ? c->mode - 4 : c->mode;
}

static uint32_t ch_modulus(const I8254Channel *c)
{
    return c->bcd ? 10000u : 65536u;
}

/* The initial count n (1..65536) a CR value stands for (0 = 2^16 / 10^4). */
static uint32_t cr_count(uint16_t cr, bool bcd)
{
    uint32_t v = cr;
    if (bcd)
        v = ((cr >> 12) & 15) * 1000u + ((cr >> 8) & 15) * 100u +
            ((cr >> 4) & 15) * 10u + (cr & 15);
    if (v == 0)
        v = bcd ? 10000u : 65536u;
    return v;
}

/* Counter value as the guest reads it (BCD-encoded when bcd). */
static uint16_t ch_encode(const I8254Channel *c, uint32_t v)
{
    if (!c->bcd)
        return (uint16_t)v;
    v %= 10000u;
    return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 |
                      (v % 10));
}

static int64_t cur_ticks(I8254 *s)
{
    uint64_t t = vclock_ns_to_ticks(vclock_now(s->clk), I8254_HZ);
    return t > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)t;
}

/* Mode 3 CE value at phase p (0..n-1) of a cycle.  Even n: n, n-2, .. 2 in
 * each half.  Odd n: high half n, n-1, n-3, .., 2; low half n, n-3, .., 2. */
static uint32_t mode3_value(uint32_t n, uint32_t p)
{
    uint32_t h = (n + 1) / 2;
    if (!(n & 1))
        return n - 2 * (p < h ? p : p - h);
    if (p < h)
        return p == 0 ? n : n + 1 - 2 * p;
    p -= h;
    return p == 0 ? n : n - 1 - 2 * p;
}

/* CE value (0..modulus-1) at tick t. */
static uint32_t ch_value(const I8254Channel *c, int64_t t)
{
    if (!c->running || t < c->load_tick)
        return c->hold_val;
    uint64_t e = (uint64_t)(t - c->load_tick);
    uint32_t n = c->n, m = ch_modulus(c);
    switch (ch_mode(c)) {
    case 2:
        return (n - (uint32_t)(e % n)) % m;
    case 3:
        return mode3_value(n, (uint32_t)(e % n)) % m;
    default: /* 0, 1, 4, 5: count down, wrapping */
        return (n % m + m - (uint32_t)(e % m)) % m;
    }
}

/* OUT at tick t. */
static bool ch_out(const I8254Channel *c, int64_t t)
{
    if (!c->running || t < c->load_tick)
        return c->hold_out;
    uint64_t e = (uint64_t)(t - c->load_tick);
    uint32_t n = c->n;
    switch (ch_mode(c)) {
    case 0:
    case 1:
        return e >= n;
    case 2:
        return n == 1 || e % n != n - 1;
    case 3:
        return e % n < (n + 1) / 2;
    default: /* 4, 5 */
        return e != n;
    }
}

/* Rising edges of OUT in the running sequence up to tick t (inclusive).
 * Counts 1 in modes 2/3 are treated as one pulse per CLK. */
static int64_t ch_rises(const I8254Channel *c, int64_t t)
{
    if (!c->running || t < c->load_tick)
        return 0;
    uint64_t e = (uint64_t)(t - c->load_tick);
    switch (ch_mode(c)) {
    case 0:
    case 1:
        return e >= c->n;
    case 2:
    case 3:
        return (int64_t)(e / c->n);
    default:
        return e >= (uint64_t)c->n + 1;
    }
}

/* First tick after t at which OUT or ch_rises may change; TICK_NONE. */
static int64_t ch_next_event(const I8254Channel *c, int64_t t)
{
    if (!c->running)
        return TICK_NONE;
    int64_t r;
    if (t < c->load_tick) {
        r = c->load_tick;
    } else {
        uint64_t e = (uint64_t)(t - c->load_tick);
        uint32_t n = c->n;
        r = TICK_NONE;
        switch (ch_mode(c)) {
        case 0:
        case 1:
            if (e < n)
                r = c->load_tick + n;
            break;
        case 2: {
            uint32_t p = (uint32_t)(e % n);
            r = n == 1 ? t + 1 : (p < n - 1 ? t + (n - 1 - p) : t + 1);
            break;
        }
        case 3: {
            uint32_t p = (uint32_t)(e % n), h = (n + 1) / 2;
            r = n == 1 ? t + 1 : (p < h ? t + (h - p) : t + (n - p));
            break;
        }
        default:
            if (e < n)
                r = c->load_tick + n;
            else if (e == n)
                r = c->load_tick + n + 1;
            break;
        }
    }
    if (c->pending && c->pend_tick < r)
        r = c->pend_tick;
    return r;
}

/* Apply a pending mode 2/3 reload whose boundary has passed. */
static void ch_sync(I8254Channel *c, int64_t t)
{
    if (c->pending && t >= c->pend_tick) {
        c->n = c->pend_n;
        c->load_tick = c->pend_load;
        c->pending = false;
    }
}

static bool ch_null(const I8254Channel *c, int64_t t)
{
    return c->null_count && t < c->nc_tick;
}

/* Freeze the CE and OUT at their tick-t values. */
static void ch_capture(I8254Channel *c, int64_t t)
{
    c->hold_val = ch_value(c, t);
    c->hold_out = ch_out(c, t);
}

/* ---- IRQ0 ---------------------------------------------------------------- */

static void irq_drive(I8254 *s, bool level)
{
    s->irq_level = level;
    irq_set(&s->irq0, level);
}

/* Bring irq0 up to date with OUT0 at tick t under the current parameters. */
static void irq_deliver(I8254 *s, int64_t t)
{
    const I8254Channel *c = &s->ch[0];
    int64_t r = ch_rises(c, t);
    bool lvl = ch_out(c, t);
    if (r > s->irq_rises) {
        /* At least one rising edge since the last evaluation. */
        if (s->irq_level)
            irq_drive(s, false);
        irq_drive(s, true);
    }
    s->irq_rises = r;
    if (lvl != s->irq_level)
        irq_drive(s, lvl);
}

/* Catch irq0 up to tick t, crossing a pending reload boundary if needed. */
static void irq_process(I8254 *s, int64_t t)
{
    I8254Channel *c = &s->ch[0];
    if (c->pending && t >= c->pend_tick) {
        irq_deliver(s, c->pend_tick);
        int64_t boundary = c->pend_tick;
        ch_sync(c, t);
        s->irq_rises = ch_rises(c, boundary); /* rebase on the new sequence */
    }
    irq_deliver(s, t);
}

/* Arm the timer for the next OUT0 event after tick t. */
static void irq_schedule(I8254 *s, int64_t t)
{
    int64_t next = ch_next_event(&s->ch[0], t);
    if (next == TICK_NONE) {
        vtimer_del(&s->timer);
        return;
    }
    const I8254Channel *c = &s->ch[0];
    int64_t ns = vclock_ticks_to_ns((uint64_t)next, I8254_HZ);
    int m = ch_mode(c);
    if ((m == 2 || m == 3) &&
        vclock_ticks_to_ns(c->n, I8254_HZ) < 4 * I8254_MIN_IRQ_NS) {
        /* Absurdly short period: sample (and coalesce edges) at most
         * every I8254_MIN_IRQ_NS instead of following every transition. */
        int64_t now = vclock_now(s->clk);
        if (ns < now + I8254_MIN_IRQ_NS)
            ns = now + I8254_MIN_IRQ_NS;
    }
    vtimer_mod(&s->timer, ns);
}

static void i8254_timer_cb(void *opaque)
{
    I8254 *s = opaque;
    int64_t t = cur_ticks(s);
    irq_process(s, t);
    irq_schedule(s, t);
}

/* Before touching counter i at tick t: apply due reloads (and, for counter
 * 0, deliver every IRQ0 edge up to t under the old parameters). */
static void i8254_sync(I8254 *s, int i, int64_t t)
{
    if (i == 0)
        irq_process(s, t);
    else
        ch_sync(&s->ch[i], t);
}

/* After counter i was reprogrammed at tick t: new parameters take over. */
static void i8254_changed(I8254 *s, int i, int64_t t)
{
    if (i != 0)
        return;
    s->irq_rises = ch_rises(&s->ch[0], t);
    bool lvl = ch_out(&s->ch[0], t);
    if (lvl != s->irq_level)
        irq_drive(s, lvl);
    irq_schedule(s, t);
}

/* ---- programming ---------------------------------------------------------- */

/* Mode 2/3 count rewritten while counting: reload at the end of the
 * current cycle (mode 2) or half-cycle (mode 3), datasheet "Mode 2/3". */
static void ch_defer_reload(I8254Channel *c, int64_t t, uint32_t nn)
{
    uint64_t e = (uint64_t)(t - c->load_tick);
    uint32_t n = c->n, p = (uint32_t)(e % n);
    c->pending = true;
    c->pend_n = nn;
    if (ch_mode(c) == 2) {
        c->pend_tick = t + (n - p);
        c->pend_load = c->pend_tick;
    } else {
        uint32_t h = (n + 1) / 2;
        if (p < h) { /* end of high half: the new count starts low */
            c->pend_tick = t + (h - p);
            c->pend_load = c->pend_tick - (nn + 1) / 2;
        } else {
            c->pend_tick = t + (n - p);
            c->pend_load = c->pend_tick;
        }
    }
    c->nc_tick = c->pend_tick;
}

/* Start a counting sequence with count nn, CE loaded at the next CLK. */
static void ch_start(I8254Channel *c, int64_t t, uint32_t nn)
{
    ch_capture(c, t);
    c->n = nn;
    c->load_tick = t + 1;
    c->running = true;
    c->pending = false;
    if (c->null_count)
        c->nc_tick = c->load_tick;
}

/* The count register received its full new value (CR -> CE transfer). */
static void ch_count_written(I8254Channel *c, int64_t t)
{
    uint32_t nn = cr_count(c->cr, c->bcd);
    c->armed = true;
    c->null_count = true;
    c->nc_tick = TICK_NONE;
    switch (ch_mode(c)) {
    case 0:
    case 4:
        ch_capture(c, t);
        if (ch_mode(c) == 0)
            c->hold_out = false;
        c->n = nn;
        c->load_tick = t + 1;
        c->nc_tick = t + 1;
        c->pending = false;
        if (c->gate) {
            c->running = true;
        } else { /* loaded on the next CLK, counting waits for GATE */
            c->running = false;
            c->susp_e = 0;
            c->hold_val = nn % ch_modulus(c);
        }
        break;
    case 2:
    case 3:
        if (c->running && t >= c->load_tick)
            ch_defer_reload(c, t, nn);
        else if (c->running) { /* CE not loaded yet: it takes the new CR */
            c->n = nn;
            c->nc_tick = c->load_tick;
        } else if (c->gate)
            ch_start(c, t, nn);
        break;
    default: /* 1, 5: wait for a trigger */
        break;
    }
}

static void ch_write_count(I8254Channel *c, int64_t t, uint8_t v)
{
    switch (c->rw_mode) {
    case RW_LSB:
        c->cr = v;
        ch_count_written(c, t);
        break;
    case RW_MSB:
        c->cr = (uint16_t)(v << 8);
        ch_count_written(c, t);
        break;
    default:
        if (!c->write_msb_next) {
            c->write_lsb = v;
            c->write_msb_next = true;
            if (ch_mode(c) == 0) { /* first byte stops counting, OUT low */
                ch_capture(c, t);
                c->hold_out = false;
                c->running = false;
                c->pending = false;
                c->armed = false;
            }
        } else {
            c->cr = (uint16_t)(c->write_lsb | v << 8);
            c->write_msb_next = false;
            ch_count_written(c, t);
        }
        break;
    }
}

static void ch_control(I8254Channel *c, int64_t t, uint8_t val)
{
    ch_capture(c, t);
    c->rw_mode = (val >> 4) & 3;
    c->mode = (val >> 1) & 7;
    c->bcd = val & 1;
    c->running = false;
    c->armed = false;
    c->pending = false;
    c->hold_out = ch_mode(c) != 0;
    c->hold_val %= ch_modulus(c);
    c->write_msb_next = false;
    c->read_msb_next = false;
    c->count_latched = LATCH_NONE;
    c->status_latched = false;
    c->null_count = true;
    c->nc_tick = TICK_NONE;
}

static void ch_latch_count(I8254Channel *c, int64_t t)
{
    if (c->count_latched != LATCH_NONE)
        return; /* a second latch before the read is ignored */
    c->latched_count = ch_encode(c, ch_value(c, t));
    c->count_latched = c->rw_mode;
}

static uint8_t ch_status(const I8254Channel *c, int64_t t)
{
    return (uint8_t)(ch_out(c, t) << 7 | ch_null(c, t) << 6 | c->rw_mode << 4 |
                     c->mode << 1 | c->bcd);
}

static void ch_set_gate(I8254Channel *c, int64_t t, bool level)
{
    if (level == c->gate)
        return;
    c->gate = level;
    int m = ch_mode(c);
    if (!level) {
        if ((m == 0 || m == 4) && c->running) {
            int64_t e = t - c->load_tick;
            ch_capture(c, t);
            c->susp_e = e < 0 ? 0 : e;
            c->running = false;
        } else if ((m == 2 || m == 3) && c->running) {
            ch_capture(c, t);
            c->hold_out = true; /* OUT high immediately */
            c->running = false;
            c->pending = false;
        }
        return;
    }
    if (!c->armed)
        return;
    if (m == 0 || m == 4) {
        if (!c->running) {
            c->load_tick = t - c->susp_e;
            c->running = true;
        }
    } else {
        /* Modes 1, 5 (trigger) and 2, 3 (restart): CE reloads at next CLK. */
        ch_start(c, t, cr_count(c->cr, c->bcd));
    }
}

/* ---- ports ----------------------------------------------------------------- */

static uint32_t pit_read(void *opaque, uint32_t off, unsigned size)
{
    I8254 *s = opaque;
    if (off >= 3)
        return 0; /* the control word register is write-only */
    I8254Channel *c = &s->ch[off];
    int64_t t = cur_ticks(s);
    i8254_sync(s, (int)off, t);
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    switch (c->count_latched) {
    case LATCH_LSB:
        c->count_latched = LATCH_NONE;
        return c->latched_count & 0xFF;
    case LATCH_MSB:
        c->count_latched = LATCH_NONE;
        return c->latched_count >> 8;
    case LATCH_WORD:
        c->count_latched = LATCH_WORD_MSB;
        return c->latched_count & 0xFF;
    case LATCH_WORD_MSB:
        c->count_latched = LATCH_NONE;
        return c->latched_count >> 8;
    default:
        break;
    }
    uint16_t v = ch_encode(c, ch_value(c, t));
    switch (c->rw_mode) {
    case RW_LSB:
        return v & 0xFF;
    case RW_MSB:
        return v >> 8;
    default:
        c->read_msb_next = !c->read_msb_next;
        return c->read_msb_next ? (v & 0xFF) : (v >> 8);
    }
}

static void pit_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    I8254 *s = opaque;
    uint8_t v = (uint8_t)val;
    int64_t t = cur_ticks(s);
    if (off < 3) {
        i8254_sync(s, (int)off, t);
        ch_write_count(&s->ch[off], t, v);
        i8254_changed(s, (int)off, t);
        return;
    }
    if (off != 3)
        return;
    int sc = v >> 6;
    if (sc == 3) { /* read-back command */
        for (int i = 0; i < 3; i++) {
            if (!(v & (2 << i)))
                continue;
            I8254Channel *c = &s->ch[i];
            i8254_sync(s, i, t);
            if (!(v & 0x20))
                ch_latch_count(c, t);
            if (!(v & 0x10) && !c->status_latched) {
                c->status = ch_status(c, t);
                c->status_latched = true;
            }
        }
        return;
    }
    I8254Channel *c = &s->ch[sc];
    i8254_sync(s, sc, t);
    if (((v >> 4) & 3) == RW_LATCH) {
        ch_latch_count(c, t);
        return;
    }
    ch_control(c, t, v);
    i8254_changed(s, sc, t);
}

/* Port 0x61, system control port B / PIIX3 NMI status and control. */
static uint32_t port61_read(void *opaque, uint32_t off, unsigned size)
{
    I8254 *s = opaque;
    int64_t now = vclock_now(s->clk);
    int64_t t = cur_ticks(s);
    i8254_sync(s, 2, t);
    uint32_t v = s->port61 & PORT61_RW_MASK;
    if ((now / I8254_REFRESH_NS) & 1)
        v |= PORT61_REFRESH;
    if (ch_out(&s->ch[2], t))
        v |= PORT61_OUT2;
    return v;
}

static void port61_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    I8254 *s = opaque;
    int64_t t = cur_ticks(s);
    s->port61 = (uint8_t)val & PORT61_RW_MASK;
    i8254_sync(s, 2, t);
    ch_set_gate(&s->ch[2], t, val & PORT61_GATE2);
}

static const IoOps pit_ops = { pit_read, pit_write, 1 };
static const IoOps port61_ops = { port61_read, port61_write, 1 };

/* ---- lifecycle ------------------------------------------------------------- */

void i8254_reset(I8254 *s)
{
    int64_t t = cur_ticks(s);
    s->port61 = 0;
    for (int i = 0; i < 3; i++) {
        I8254Channel *c = &s->ch[i];
        memset(c, 0, sizeof(*c));
        c->gate = i != 2;
        c->mode = 3;
        c->rw_mode = RW_WORD;
        c->hold_out = true;
        c->hold_val = 0;
        c->n = 65536;
        c->nc_tick = TICK_NONE;
        c->pend_n = 65536;
        c->armed = true;
        if (c->gate) {
            c->running = true;
            c->load_tick = t;
        }
    }
    s->irq_rises = 0;
    irq_drive(s, ch_out(&s->ch[0], t));
    irq_schedule(s, t);
}

I8254 *i8254_new(IoBus *bus, VClock *clk, Irq irq0)
{
    if (!clk)
        return NULL;
    I8254 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->clk = clk;
    s->irq0 = irq0;
    vtimer_init(&s->timer, clk, i8254_timer_cb, s);
    if (bus) {
        s->bus = bus;
        if (iobus_register(bus, 0x40, 4, &pit_ops, s, "i8254") < 0 ||
            iobus_register(bus, 0x61, 1, &port61_ops, s, "port61") < 0) {
            i8254_free(s);
            return NULL;
        }
    }
    i8254_reset(s);
    return s;
}

void i8254_free(I8254 *s)
{
    if (!s)
        return;
    vtimer_del(&s->timer);
    if (s->bus) {
        iobus_unregister(s->bus, 0x40, 4);
        iobus_unregister(s->bus, 0x61, 1);
    }
    free(s);
}

int i8254_get_out(I8254 *s, int channel)
{
    if (!s || channel < 0 || channel > 2)
        return -1;
    int64_t t = cur_ticks(s);
    i8254_sync(s, channel, t);
    return ch_out(&s->ch[channel], t);
}

/* ---- snapshot -------------------------------------------------------------- */

static int i8254_post_load(void *opaque, char *err, size_t errlen)
{
    I8254 *s = opaque;
    if (s->port61 & ~PORT61_RW_MASK) {
        snprintf(err, errlen, "i8254: port61 %02x has read-only bits", s->port61);
        i8254_reset(s);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        I8254Channel *c = &s->ch[i];
        const char *bad = NULL;
        if (c->rw_mode < RW_LSB || c->rw_mode > RW_WORD)
            bad = "rw_mode";
        else if (c->mode > 7)
            bad = "mode";
        else if (c->n < 1 || c->n > 65536 || c->pend_n < 1 || c->pend_n > 65536)
            bad = "n";
        else if (c->count_latched > LATCH_WORD_MSB)
            bad = "count_latched";
        else if (c->hold_val > 65535)
            bad = "hold_val";
        else if (c->susp_e < 0 || c->load_tick < -65536 || c->load_tick > INT64_MAX / 4 ||
                 c->pend_load < -65536 || c->pend_load > INT64_MAX / 4 ||
                 c->pend_tick < 0 || c->susp_e > INT64_MAX / 4)
            bad = "tick";
        else if (c->gate != (i == 2 ? (s->port61 & PORT61_GATE2) != 0 : true))
            bad = "gate";
        if (bad) {
            snprintf(err, errlen, "i8254: channel %d %s out of range", i, bad);
            i8254_reset(s); /* never leave a half-loaded, unusable device */
            return -1;
        }
    }
    int64_t t = cur_ticks(s);
    irq_drive(s, s->irq_level);
    irq_process(s, t);
    irq_schedule(s, t);
    return 0;
}

#define I8254_CH_FIELDS(i)                                                       \
    ST_U8(ch[i].mode, I8254), ST_U8(ch[i].rw_mode, I8254),                       \
    ST_BOOL(ch[i].bcd, I8254), ST_U16(ch[i].cr, I8254),                          \
    ST_U8(ch[i].write_lsb, I8254), ST_BOOL(ch[i].write_msb_next, I8254),         \
    ST_BOOL(ch[i].read_msb_next, I8254), ST_U8(ch[i].count_latched, I8254),      \
    ST_U16(ch[i].latched_count, I8254), ST_BOOL(ch[i].status_latched, I8254),    \
    ST_U8(ch[i].status, I8254), ST_BOOL(ch[i].gate, I8254),                      \
    ST_BOOL(ch[i].armed, I8254), ST_BOOL(ch[i].running, I8254),                  \
    ST_U32(ch[i].n, I8254), ST_I64(ch[i].load_tick, I8254),                      \
    ST_U32(ch[i].hold_val, I8254), ST_BOOL(ch[i].hold_out, I8254),               \
    ST_I64(ch[i].susp_e, I8254), ST_BOOL(ch[i].pending, I8254),                  \
    ST_U32(ch[i].pend_n, I8254), ST_I64(ch[i].pend_tick, I8254),                 \
    ST_I64(ch[i].pend_load, I8254), ST_BOOL(ch[i].null_count, I8254),            \
    ST_I64(ch[i].nc_tick, I8254)

static const StateField i8254_fields[] = {
    I8254_CH_FIELDS(0),
    I8254_CH_FIELDS(1),
    I8254_CH_FIELDS(2),
    ST_U8(port61, I8254),
    ST_BOOL(irq_level, I8254),
    ST_I64(irq_rises, I8254),
    ST_END,
};

const StateDesc i8254_state = {
    .name = "i8254",
    .version = 1,
    .min_version = 1,
    .fields = i8254_fields,
    .post_load = i8254_post_load,
};
