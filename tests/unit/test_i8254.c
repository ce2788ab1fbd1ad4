/*
 * test_i8254.c - 8254 PIT and port 0x61 through port I/O only, against a
 * virtual clock in VCLOCK_ICOUNT mode (1 ns per fake instruction).
 *
 * Tick k of the 1193182 Hz input happens at T(k) = vclock_ticks_to_ns(k);
 * a count written during tick W is loaded into the counting element at
 * tick W+1 (82C54 datasheet: "loaded on the next CLK pulse"), so e.g. mode 0
 * with count N raises OUT N+1 ticks after the write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i8254.h"
#include "devices/state.h"
#include "devices/vclock.h"

typedef struct {
    int64_t t;
    int level;
} Ev;

#define MAXEV 8192

typedef struct {
    uint64_t icount;
    VClock clk;
    IoBus bus;
    I8254 *pit;
    Ev ev[MAXEV];
    int nev;
    int level;
    long fires;
} P;

static uint64_t icount_fn(void *o) { return ((P *)o)->icount; }

static void irq_cb(void *o, int n, int level)
{
    P *p = o;
    assert_int_equal(n, 0);
    if (p->nev < MAXEV)
        p->ev[p->nev++] = (Ev){ vclock_now(&p->clk), level };
    p->level = level;
}

static int64_t T(int64_t k) { return vclock_ticks_to_ns((uint64_t)k, I8254_HZ); }

static P *pnew(void)
{
    P *p = calloc(1, sizeof(*p));
    vclock_init(&p->clk, VCLOCK_ICOUNT, 0);
    p->clk.icount_fn = icount_fn;
    p->clk.icount_opaque = p;
    iobus_init(&p->bus);
    p->pit = i8254_new(&p->bus, &p->clk, (Irq){ irq_cb, p, 0 });
    assert_non_null(p->pit);
    return p;
}

static void pfree(P *p)
{
    i8254_free(p->pit);
    free(p);
}

static int setup(void **st)
{
    *st = pnew();
    return 0;
}

static int teardown(void **st)
{
    pfree(*st);
    return 0;
}

/* Run the machine to virtual time ns, firing each timer at its deadline as
 * the machine loop does (the CPU slice ends at vclock_deadline()). */
static void advance_to(P *p, int64_t ns)
{
    for (long guard = 0; guard < 100000000; guard++) {
        int64_t d = vclock_deadline(&p->clk);
        if (d > ns)
            break;
        if (d > (int64_t)p->icount)
            p->icount = (uint64_t)d;
        vclock_run_timers(&p->clk);
        p->fires++;
    }
    if ((int64_t)p->icount < ns)
        p->icount = (uint64_t)ns;
    vclock_run_timers(&p->clk);
}

/* Move to the middle of tick k (ticks(now) == k). */
static void at_tick(P *p, int64_t k) { advance_to(p, T(k) + 100); }

static void outb(P *p, uint16_t port, uint8_t v) { iobus_write(&p->bus, port, v, 1); }
static uint8_t inb(P *p, uint16_t port) { return (uint8_t)iobus_read(&p->bus, port, 1); }

static void program(P *p, int ch, uint8_t ctrl, uint16_t count)
{
    outb(p, 0x43, ctrl);
    outb(p, (uint16_t)(0x40 + ch), count & 0xFF);
    outb(p, (uint16_t)(0x40 + ch), count >> 8);
}

/* Counter latch command + two reads (LSB/MSB access). */
static unsigned read_count(P *p, int ch)
{
    outb(p, 0x43, (uint8_t)(ch << 6));
    unsigned lo = inb(p, (uint16_t)(0x40 + ch));
    unsigned hi = inb(p, (uint16_t)(0x40 + ch));
    return lo | hi << 8;
}

/* Two sequential reads, LSB then MSB (C leaves a | b order unspecified). */
static unsigned rd16(P *p, uint16_t port)
{
    unsigned lo = inb(p, port);
    unsigned hi = inb(p, port);
    return lo | hi << 8;
}

static int out2(P *p) { return (inb(p, 0x61) >> 5) & 1; }

static void test_reset_state(void **st)
{
    P *p = *st;
    /* Counter 0 starts in mode 3 with count 65536 (18.2 Hz), like QEMU. */
    assert_int_equal(p->level, 1);
    assert_int_equal(i8254_get_out(p->pit, 0), 1);
    assert_int_equal(i8254_get_out(p->pit, 3), -1);
    /* Gate 2 low; counter 2 in mode 3 with its gate low holds OUT high. */
    assert_int_equal(inb(p, 0x61) & 0x21, 0x20);
    p->nev = 0;
    advance_to(p, T(65536) + 1);
    assert_int_equal(p->nev, 2);
    assert_int_equal(p->ev[0].t, T(32768));
    assert_int_equal(p->ev[0].level, 0);
    assert_int_equal(p->ev[1].t, T(65536));
    assert_int_equal(p->ev[1].level, 1);
    assert_int_equal(inb(p, 0x43), 0); /* control register is write-only */
}

static void test_mode2_rate_generator(void **st)
{
    P *p = *st;
    at_tick(p, 1000);
    p->nev = 0;
    program(p, 0, 0x34, 1193); /* Linux periodic: 0x34, LATCH = 1193 (1 kHz) */
    const int64_t L = 1001;
    at_tick(p, L);
    assert_int_equal(read_count(p, 0), 1193);
    at_tick(p, L + 500);
    assert_int_equal(read_count(p, 0), 693);
    at_tick(p, L + 1191);
    assert_int_equal(read_count(p, 0), 2);
    assert_int_equal(i8254_get_out(p->pit, 0), 1);
    at_tick(p, L + 1192);
    assert_int_equal(read_count(p, 0), 1);
    assert_int_equal(i8254_get_out(p->pit, 0), 0); /* low while CE = 1 */
    at_tick(p, L + 1193);
    assert_int_equal(read_count(p, 0), 1193);
    advance_to(p, T(L + 1193 * 10) + 1);
    assert_int_equal(p->nev, 20);
    for (int k = 1; k <= 10; k++) {
        assert_int_equal(p->ev[2 * k - 2].t, T(L + 1193 * k - 1));
        assert_int_equal(p->ev[2 * k - 2].level, 0);
        assert_int_equal(p->ev[2 * k - 1].t, T(L + 1193 * k));
        assert_int_equal(p->ev[2 * k - 1].level, 1);
        if (k > 1) {
            int64_t d = p->ev[2 * k - 1].t - p->ev[2 * k - 3].t;
            assert_true(d == 999847 || d == 999848); /* 1193 / 1193182 s */
        }
    }
}

static void test_mode0_interrupt_on_terminal_count(void **st)
{
    P *p = *st;
    at_tick(p, 5000);
    p->nev = 0;
    outb(p, 0x43, 0x30);
    assert_int_equal(p->nev, 1); /* OUT goes low on the control word */
    assert_int_equal(p->ev[0].level, 0);
    outb(p, 0x40, 100);
    outb(p, 0x40, 0);
    at_tick(p, 5001);
    assert_int_equal(read_count(p, 0), 100);
    at_tick(p, 5050);
    assert_int_equal(read_count(p, 0), 51);
    at_tick(p, 5100);
    assert_int_equal(read_count(p, 0), 1);
    assert_int_equal(p->level, 0);
    at_tick(p, 5101); /* N+1 = 101 ticks after the write */
    assert_int_equal(read_count(p, 0), 0);
    assert_int_equal(p->nev, 2);
    assert_int_equal(p->ev[1].t, T(5101));
    assert_int_equal(p->ev[1].level, 1);
    at_tick(p, 5102);
    assert_int_equal(read_count(p, 0), 0xFFFF); /* keeps counting, wraps */
    advance_to(p, T(5101 + 3 * 65536));
    assert_int_equal(p->nev, 2); /* one-shot: OUT stays high */
    /* Writing the first byte stops counting and drops OUT at once. */
    at_tick(p, 300000);
    unsigned frozen = read_count(p, 0);
    outb(p, 0x40, 0x10);
    assert_int_equal(p->nev, 3);
    assert_int_equal(p->ev[2].level, 0);
    at_tick(p, 300500);
    assert_int_equal(read_count(p, 0), frozen);
    outb(p, 0x40, 0x00); /* count 0x0010 */
    advance_to(p, T(300500 + 17) + 1);
    assert_int_equal(p->nev, 4);
    assert_int_equal(p->ev[3].t, T(300517));
}

static void test_mode1_gate_retrigger(void **st)
{
    P *p = *st;
    at_tick(p, 100);
    program(p, 2, 0xB2, 50); /* counter 2, LSB/MSB, mode 1 */
    assert_int_equal(out2(p), 1);
    at_tick(p, 150);
    unsigned before = read_count(p, 2);
    at_tick(p, 180);
    assert_int_equal(read_count(p, 2), before); /* waits for a trigger */
    at_tick(p, 200);
    outb(p, 0x61, 0x01); /* GATE2 rising edge */
    assert_int_equal(out2(p), 1);
    at_tick(p, 201);
    assert_int_equal(out2(p), 0); /* low from the CLK after the trigger */
    assert_int_equal(read_count(p, 2), 50);
    at_tick(p, 211);
    assert_int_equal(read_count(p, 2), 40);
    at_tick(p, 230);
    outb(p, 0x61, 0x00); /* gate low does not stop a mode 1 count */
    at_tick(p, 240);
    assert_int_equal(read_count(p, 2), 11);
    outb(p, 0x61, 0x01); /* retrigger: reload, OUT stays low */
    at_tick(p, 251);
    assert_int_equal(out2(p), 0);
    at_tick(p, 290);
    assert_int_equal(out2(p), 0);
    at_tick(p, 291);
    assert_int_equal(out2(p), 1);
    assert_int_equal(read_count(p, 2), 0);
    /* A new count does not disturb the finished one-shot until triggered. */
    outb(p, 0x42, 5);
    outb(p, 0x42, 0);
    at_tick(p, 300);
    assert_int_equal(out2(p), 1);
    assert_int_equal(read_count(p, 2), 0xFFF7);
}

static void test_mode5_gate_strobe(void **st)
{
    P *p = *st;
    at_tick(p, 100);
    program(p, 2, 0xBA, 20); /* counter 2, mode 5 */
    at_tick(p, 300);
    assert_int_equal(out2(p), 1);
    outb(p, 0x61, 0x01);
    at_tick(p, 320);
    assert_int_equal(out2(p), 1);
    at_tick(p, 321); /* N+1 ticks after the trigger */
    assert_int_equal(out2(p), 0);
    assert_int_equal(read_count(p, 2), 0);
    at_tick(p, 322);
    assert_int_equal(out2(p), 1);
    at_tick(p, 2000);
    assert_int_equal(out2(p), 1);
}

static void test_mode4_software_strobe(void **st)
{
    P *p = *st;
    at_tick(p, 7000);
    p->nev = 0;
    program(p, 0, 0x38, 10); /* Linux oneshot clockevent: 0x38 */
    assert_int_equal(p->nev, 0); /* OUT stays high */
    advance_to(p, T(20000));
    assert_int_equal(p->nev, 2);
    assert_int_equal(p->ev[0].t, T(7011));
    assert_int_equal(p->ev[0].level, 0);
    assert_int_equal(p->ev[1].t, T(7012)); /* exactly one CLK low */
    assert_int_equal(p->ev[1].level, 1);
    /* Rewriting the count retriggers (Linux set_next_event). */
    at_tick(p, 30000);
    outb(p, 0x40, 0x00);
    outb(p, 0x40, 0x01); /* 256 */
    advance_to(p, T(40000));
    assert_int_equal(p->nev, 4);
    assert_int_equal(p->ev[3].t, T(30000 + 256 + 2));
}

static void test_mode3_square_wave(void **st)
{
    P *p = *st;
    /* Odd count: high (N+1)/2, low (N-1)/2; CE n, n-1, n-3 .. / n, n-3 .. */
    at_tick(p, 1000);
    p->nev = 0;
    program(p, 0, 0x36, 1001);
    const int64_t L = 1001;
    static const struct { int e; unsigned v; int out; } odd[] = {
        { 0, 1001, 1 }, { 1, 1000, 1 }, { 2, 998, 1 }, { 500, 2, 1 },
        { 501, 1001, 0 }, { 502, 998, 0 }, { 1000, 2, 0 }, { 1001, 1001, 1 },
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        at_tick(p, L + odd[i].e);
        assert_int_equal(read_count(p, 0), odd[i].v);
        assert_int_equal(i8254_get_out(p->pit, 0), odd[i].out);
    }
    advance_to(p, T(L + 1001 * 3) + 1);
    assert_int_equal(p->nev, 6);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(p->ev[2 * k].t, T(L + 1001 * k + 501));
        assert_int_equal(p->ev[2 * k + 1].t, T(L + 1001 * (k + 1)));
    }
    /* Even count: 500 high, 500 low, CE steps by two. */
    at_tick(p, 10000);
    program(p, 0, 0x36, 1000);
    p->nev = 0;
    at_tick(p, 10002);
    assert_int_equal(read_count(p, 0), 998);
    at_tick(p, 10001 + 500);
    assert_int_equal(read_count(p, 0), 1000);
    assert_int_equal(i8254_get_out(p->pit, 0), 0);
    advance_to(p, T(10001 + 2000) + 1);
    assert_int_equal(p->nev, 4);
    assert_int_equal(p->ev[0].t, T(10501));
    assert_int_equal(p->ev[1].t, T(11001));
}

static void test_latch_and_readback(void **st)
{
    P *p = *st;
    at_tick(p, 1000);
    program(p, 0, 0x34, 1000);
    const int64_t L = 1001;
    at_tick(p, L + 100);
    outb(p, 0x43, 0x00); /* counter latch command */
    at_tick(p, L + 300);
    assert_int_equal(inb(p, 0x40), 900 & 0xFF);
    assert_int_equal(inb(p, 0x40), 900 >> 8);
    /* A second latch before the read is ignored. */
    at_tick(p, L + 400);
    outb(p, 0x43, 0x00);
    at_tick(p, L + 500);
    outb(p, 0x43, 0x00);
    assert_int_equal(rd16(p, 0x40), 600);
    /* Read-back: latch count and status of counter 0. */
    outb(p, 0x43, 0xC2);
    at_tick(p, L + 600);
    assert_int_equal(inb(p, 0x40), 0xB4); /* OUT=1 NC=0 RW=3 M=2 BCD=0 */
    assert_int_equal(rd16(p, 0x40), 500);
    /* Unlatched reads follow the live counter, LSB then MSB. */
    assert_int_equal(rd16(p, 0x40), 400);
    /* Null count: set by the count write until the next CLK loads it. */
    at_tick(p, 5000);
    outb(p, 0x43, 0x34);
    outb(p, 0x43, 0xE2); /* read-back, status only */
    assert_int_equal(inb(p, 0x40), 0xF4); /* OUT=1 NC=1 RW=3 M=2 */
    outb(p, 0x40, 0x00);
    outb(p, 0x40, 0x10);
    outb(p, 0x43, 0xE2);
    assert_int_equal(inb(p, 0x40) & 0x40, 0x40);
    at_tick(p, 5001);
    outb(p, 0x43, 0xE2);
    assert_int_equal(inb(p, 0x40), 0xB4);
    /* Read-back of several counters; a second status latch is ignored. */
    at_tick(p, 6000);
    outb(p, 0x43, 0x54); /* counter 1, LSB only, mode 2 (DRAM refresh) */
    outb(p, 0x41, 18);
    program(p, 2, 0xB6, 0x0533); /* counter 2, mode 3 (speaker), gate low */
    at_tick(p, 6010);
    outb(p, 0x43, 0xCE); /* count + status, counters 0-2 */
    outb(p, 0x43, 0xEE); /* status again: ignored, already latched */
    at_tick(p, 6020);
    assert_int_equal(inb(p, 0x41), 0x94); /* OUT=1 RW=1 M=2 */
    assert_int_equal(inb(p, 0x41), 18 - 9);      /* LSB-only latch: one read */
    assert_int_equal(inb(p, 0x42), 0xF6);         /* OUT=1 NC=1 (no gate yet) M=3 */
    assert_int_equal(rd16(p, 0x42), 0);
    assert_int_equal(inb(p, 0x40), 0xB4);
    assert_int_equal(rd16(p, 0x40), 0x1000 - (6010 - 5001));
}

static void test_bcd(void **st)
{
    P *p = *st;
    at_tick(p, 1000);
    p->nev = 0;
    program(p, 0, 0x35, 0x1000); /* mode 2, BCD, count 1000 */
    at_tick(p, 1002);
    assert_int_equal(read_count(p, 0), 0x0999);
    at_tick(p, 1001 + 123);
    assert_int_equal(read_count(p, 0), 0x0877);
    advance_to(p, T(1001 + 3000) + 1);
    assert_int_equal(p->nev, 6);
    assert_int_equal(p->ev[5].t, T(1001 + 3000));
    /* BCD count 0 means 10000. */
    at_tick(p, 10000);
    program(p, 0, 0x31, 0x0000); /* mode 0, BCD */
    p->nev = 0;
    at_tick(p, 10002);
    assert_int_equal(read_count(p, 0), 0x9999);
    advance_to(p, T(10001 + 10000) + 1);
    assert_int_equal(p->nev, 1);
    assert_int_equal(p->ev[0].t, T(10001 + 10000));
    at_tick(p, 10001 + 10001);
    assert_int_equal(read_count(p, 0), 0x9999); /* wraps in decimal */
}

static void test_binary_count_zero(void **st)
{
    P *p = *st;
    at_tick(p, 100);
    p->nev = 0;
    program(p, 0, 0x34, 0); /* 65536: 18.2065 Hz */
    at_tick(p, 101);
    assert_int_equal(read_count(p, 0), 0);
    at_tick(p, 102);
    assert_int_equal(read_count(p, 0), 0xFFFF);
    advance_to(p, T(101 + 2 * 65536) + 1);
    assert_int_equal(p->nev, 4);
    assert_int_equal(p->ev[1].t, T(101 + 65536));
    assert_int_equal(p->ev[3].t, T(101 + 2 * 65536));
}

static void test_tsc_calibration_sequence(void **st)
{
    P *p = *st;
    /* SeaBIOS hw/timer.c: gate on, speaker off, counter 2 mode 0, 2048. */
    at_tick(p, 4000);
    uint8_t orig = inb(p, 0x61);
    outb(p, 0x61, (uint8_t)((orig & ~0x02) | 0x01));
    outb(p, 0x43, 0xB0);
    outb(p, 0x42, 0x00);
    outb(p, 0x42, 0x08);
    int64_t start = vclock_now(&p->clk);
    assert_int_equal(inb(p, 0x61) & 0x20, 0);
    int64_t now = start;
    while ((inb(p, 0x61) & 0x20) == 0) {
        now += 50; /* the CPU polls every 50 ns */
        advance_to(p, now);
        assert_true(now < start + 10000000);
    }
    assert_true(now >= T(4000 + 2049));
    assert_true(now < T(4000 + 2049) + 50);
    assert_int_equal(inb(p, 0x61) & 0x03, 0x01); /* gate on, speaker off */
    /* Linux quick_pit_calibrate reads the MSB of a free-running mode 0. */
    at_tick(p, 20000);
    program(p, 2, 0xB0, 0xFFFF);
    at_tick(p, 20001 + 256);
    inb(p, 0x42);
    assert_int_equal(inb(p, 0x42), 0xFE);
    /* With the gate low, mode 0 does not count and OUT2 stays low. */
    at_tick(p, 30000);
    outb(p, 0x61, 0x00);
    program(p, 2, 0xB0, 10);
    at_tick(p, 31000);
    assert_int_equal(out2(p), 0);
    assert_int_equal(read_count(p, 2), 10);
    outb(p, 0x61, 0x01);
    at_tick(p, 31009);
    assert_int_equal(out2(p), 0);
    at_tick(p, 31010);
    assert_int_equal(out2(p), 1);
}

static void test_gate_suspends_mode0_and_mode2(void **st)
{
    P *p = *st;
    at_tick(p, 10);
    outb(p, 0x61, 0x01);
    at_tick(p, 20);
    program(p, 2, 0xB0, 100);
    at_tick(p, 71);
    assert_int_equal(read_count(p, 2), 50);
    outb(p, 0x61, 0x00); /* counting suspended */
    at_tick(p, 171);
    assert_int_equal(read_count(p, 2), 50);
    assert_int_equal(out2(p), 0);
    outb(p, 0x61, 0x01);
    at_tick(p, 220);
    assert_int_equal(out2(p), 0);
    at_tick(p, 221);
    assert_int_equal(out2(p), 1);
    /* Mode 2: gate low forces OUT high, rising gate reloads. */
    at_tick(p, 1000);
    program(p, 2, 0xB4, 10);
    at_tick(p, 1001 + 9);
    assert_int_equal(out2(p), 0);
    outb(p, 0x61, 0x00);
    assert_int_equal(out2(p), 1);
    at_tick(p, 1050);
    assert_int_equal(read_count(p, 2), 1);
    outb(p, 0x61, 0x01);
    at_tick(p, 1051);
    assert_int_equal(read_count(p, 2), 10);
    at_tick(p, 1060);
    assert_int_equal(out2(p), 0);
}

static void test_refresh_toggle(void **st)
{
    P *p = *st;
    assert_int_equal(inb(p, 0x61) & 0x10, 0);
    advance_to(p, 15084);
    assert_int_equal(inb(p, 0x61) & 0x10, 0);
    advance_to(p, 15085);
    assert_int_equal(inb(p, 0x61) & 0x10, 0x10);
    advance_to(p, 30169);
    assert_int_equal(inb(p, 0x61) & 0x10, 0x10);
    advance_to(p, 30170);
    assert_int_equal(inb(p, 0x61) & 0x10, 0);
    /* Bits 2-3 are stored; bits 4-7 are read-only. */
    outb(p, 0x61, 0xFE);
    assert_int_equal(inb(p, 0x61) & 0x0F, 0x0E);
}

static int rises(const P *p, int from)
{
    int n = 0, lvl = from > 0 ? p->ev[from - 1].level : 1;
    for (int i = from; i < p->nev; i++) {
        if (p->ev[i].level && !lvl)
            n++;
        lvl = p->ev[i].level;
    }
    return n;
}

static void test_absurd_counts_no_storm(void **st)
{
    P *p = *st;
    static const struct { uint8_t ctrl; uint16_t n; } cases[] = {
        { 0x34, 1 }, { 0x34, 2 }, { 0x36, 1 }, { 0x36, 2 }, { 0x36, 3 },
    };
    int64_t t0 = 1000000;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        advance_to(p, t0);
        program(p, 0, cases[i].ctrl, cases[i].n);
        int from = p->nev = 0;
        long f0 = p->fires;
        advance_to(p, t0 + 1000000); /* 1 ms of virtual time */
        long fires = p->fires - f0;
        int r = rises(p, from);
        int periods = 1193 / cases[i].n; /* in 1 ms */
        int expect = periods < 1000 ? periods : 1000;
        assert_true(fires <= 1000000 / I8254_MIN_IRQ_NS + 5);
        assert_true(r >= expect - 10); /* interrupts still arrive, coalesced */
        assert_true(r <= expect + 2);
        /* Counter values stay exact. */
        at_tick(p, vclock_ns_to_ticks(t0 + 1000000, I8254_HZ) + 1);
        unsigned v = read_count(p, 0);
        assert_true(v >= 1 && v <= cases[i].n);
        t0 += 2000000;
    }
    /* A normal count afterwards is exact again. */
    at_tick(p, 100000);
    program(p, 0, 0x34, 100);
    p->nev = 0;
    advance_to(p, T(100001 + 300) + 1);
    assert_int_equal(p->nev, 6);
    assert_int_equal(p->ev[5].t, T(100001 + 300));
}

static void test_mode2_new_count_at_cycle_end(void **st)
{
    P *p = *st;
    at_tick(p, 1000);
    p->nev = 0;
    program(p, 0, 0x34, 1000);
    const int64_t L = 1001;
    at_tick(p, L + 300);
    outb(p, 0x40, 500 & 0xFF);
    outb(p, 0x40, 500 >> 8);
    outb(p, 0x43, 0xE2);
    assert_int_equal(inb(p, 0x40) & 0x40, 0x40); /* null count until reload */
    at_tick(p, L + 301);
    assert_int_equal(read_count(p, 0), 699); /* current cycle unaffected */
    advance_to(p, T(L + 2000) + 1);
    assert_int_equal(p->nev, 6);
    assert_int_equal(p->ev[1].t, T(L + 1000));
    assert_int_equal(p->ev[3].t, T(L + 1500));
    assert_int_equal(p->ev[5].t, T(L + 2000));
    outb(p, 0x43, 0xE2);
    assert_int_equal(inb(p, 0x40) & 0x40, 0);
}

static void test_mode3_new_count_at_half_cycle(void **st)
{
    P *p = *st;
    at_tick(p, 1000);
    p->nev = 0;
    program(p, 0, 0x36, 1000);
    const int64_t L = 1001;
    at_tick(p, L + 100);
    outb(p, 0x40, 400 & 0xFF);
    outb(p, 0x40, 400 >> 8);
    advance_to(p, T(L + 1100) + 1);
    assert_int_equal(p->nev, 4);
    assert_int_equal(p->ev[0].t, T(L + 500)); /* old half-cycle completes */
    assert_int_equal(p->ev[0].level, 0);
    assert_int_equal(p->ev[1].t, T(L + 700)); /* then 200 low, 200 high */
    assert_int_equal(p->ev[2].t, T(L + 900));
    assert_int_equal(p->ev[3].t, T(L + 1100));
}

static void test_read_write_flip_flops(void **st)
{
    P *p = *st;
    at_tick(p, 100);
    outb(p, 0x43, 0x70); /* counter 1, LSB/MSB, mode 0 */
    outb(p, 0x41, 0x34);
    at_tick(p, 110);
    /* Interleave: read LSB, write MSB, read MSB (82C54 datasheet). */
    inb(p, 0x41);
    outb(p, 0x41, 0x12);
    at_tick(p, 111);
    assert_int_equal(inb(p, 0x41), 0x12);
    at_tick(p, 112);
    assert_int_equal(read_count(p, 1), 0x1233);
    /* MSB-only access. */
    outb(p, 0x43, 0x60); /* counter 1, MSB only, mode 0 */
    outb(p, 0x41, 0x02);
    at_tick(p, 113);
    assert_int_equal(inb(p, 0x41), 0x02);
    at_tick(p, 114);
    assert_int_equal(inb(p, 0x41), 0x01); /* 0x01FF */
    outb(p, 0x43, 0x40);
    assert_int_equal(inb(p, 0x41), 0x01); /* latched MSB, one read */
}

static void test_random_writes(void **st)
{
    P *p = *st;
    static const uint16_t ports[] = { 0x40, 0x41, 0x42, 0x43, 0x61 };
    srand(8254);
    int64_t now = 0;
    long f0 = p->fires;
    for (int i = 0; i < 200000; i++) {
        int r = rand() % 8;
        if (r < 4)
            outb(p, ports[rand() % 5], (uint8_t)rand());
        else if (r < 6)
            (void)inb(p, ports[rand() % 5]);
        else {
            now += rand() % 5000;
            advance_to(p, now);
        }
        assert_true(i8254_get_out(p->pit, rand() % 3) >= 0);
    }
    /* Bounded timer work: at most one fire per us plus per-write events. */
    assert_true(p->fires - f0 < now / I8254_MIN_IRQ_NS + 3 * 200000);
}

/* Everything the guest can observe at the current time. */
static void observe(P *p, unsigned *o)
{
    for (int ch = 0; ch < 3; ch++) {
        outb(p, 0x43, (uint8_t)(0xE0 | 2 << ch)); /* status read-back */
        o[ch * 2] = inb(p, (uint16_t)(0x40 + ch));
    }
    o[1] = inb(p, 0x40);
    o[3] = inb(p, 0x41);
    o[5] = inb(p, 0x42);
    o[6] = inb(p, 0x61);
}

static void test_state_round_trip(void **st)
{
    P *a = *st, *b = pnew();
    char err[160];
    assert_int_equal(state_check(&i8254_state, 4096, err, sizeof err), 0);
    at_tick(a, 1000);
    program(a, 0, 0x34, 1193);
    outb(a, 0x61, 0x01);
    program(a, 2, 0xB0, 3000);
    program(a, 1, 0x77, 0x0500); /* counter 1, mode 3 BCD */
    at_tick(a, 1400);
    outb(a, 0x40, 0x00);
    outb(a, 0x40, 0x02); /* mode 2 reload pending at the end of the cycle */
    outb(a, 0x43, 0x40); /* counter 1 latched */
    at_tick(a, 1500);
    int64_t tsave = vclock_now(&a->clk);
    long n = state_save(&i8254_state, a->pit, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&i8254_state, a->pit, buf, (size_t)n), n);

    advance_to(b, tsave);
    i8254_reset(b->pit);
    assert_int_equal(state_load(&i8254_state, b->pit, 1, buf, (size_t)n, err, sizeof err), 0);
    assert_int_equal(b->level, a->level);
    int na = a->nev, nb = b->nev;
    /* The latched count survives. */
    assert_int_equal(inb(a, 0x41), inb(b, 0x41));
    for (int64_t k = 1600; k < 12000; k += 937) {
        at_tick(a, k);
        at_tick(b, k);
        unsigned oa[7], ob[7];
        observe(a, oa);
        observe(b, ob);
        assert_memory_equal(oa, ob, sizeof oa);
    }
    advance_to(a, T(20000));
    advance_to(b, T(20000));
    assert_int_equal(a->nev - na, b->nev - nb);
    assert_true(a->nev - na >= 10);
    for (int i = 0; i < a->nev - na; i++) {
        assert_int_equal(a->ev[na + i].t, b->ev[nb + i].t);
        assert_int_equal(a->ev[na + i].level, b->ev[nb + i].level);
    }
    /* Out-of-range values are rejected with the section name. */
    buf[1] = 0; /* ch[0].rw_mode */
    assert_int_equal(state_load(&i8254_state, b->pit, 1, buf, (size_t)n, err, sizeof err), -1);
    assert_non_null(strstr(err, "i8254"));
    free(buf);
    pfree(b);
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T_(test_reset_state),
        T_(test_mode2_rate_generator),
        T_(test_mode0_interrupt_on_terminal_count),
        T_(test_mode1_gate_retrigger),
        T_(test_mode5_gate_strobe),
        T_(test_mode4_software_strobe),
        T_(test_mode3_square_wave),
        T_(test_latch_and_readback),
        T_(test_bcd),
        T_(test_binary_count_zero),
        T_(test_tsc_calibration_sequence),
        T_(test_gate_suspends_mode0_and_mode2),
        T_(test_refresh_toggle),
        T_(test_absurd_counts_no_storm),
        T_(test_mode2_new_count_at_cycle_end),
        T_(test_mode3_new_count_at_half_cycle),
        T_(test_read_write_flip_flops),
        T_(test_random_writes),
        T_(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
