/*
 * test_mc146818.c - MC146818A RTC through ports 0x70/0x71 on a test bus,
 * with a virtual clock in ICOUNT mode (shift 0: 1 instruction = 1 ns).
 *
 * Covers: BCD/binary and 12/24 h reads across an update, leap years, month
 * lengths and century rollover, the 244 us UIP window, SET bit (freeze and
 * set time), divider reset (first update 500 ms later), periodic interrupt
 * timing for several rates, alarm (exact and "don't care"), update-ended
 * interrupt, REG_C read clearing IRQF and lowering IRQ8, REG_D VRT, NMI
 * mask bit, CMOS RAM, lazy timers, random register writes, snapshot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/mc146818.h"
#include "devices/vclock.h"

#define MS 1000000LL
#define SEC 1000000000LL

static uint64_t icount;
static uint64_t icount_fn(void *o)
{
    (void)o;
    return icount;
}

/* IRQ8 recorder. */
static int irq_level, irq_rises;
static int64_t irq_rise_ns[64];
static VClock *rec_clk;
static void irq_cb(void *o, int n, int level)
{
    (void)o;
    (void)n;
    if (level && !irq_level) {
        if (irq_rises < 64)
            irq_rise_ns[irq_rises] = vclock_now(rec_clk);
        irq_rises++;
    }
    irq_level = level;
}

typedef struct {
    IoBus bus;
    VClock clk;
    Mc146818 *rtc;
} Env;

static Env *env_new(int64_t base)
{
    Env *e = calloc(1, sizeof(*e));
    iobus_init(&e->bus);
    icount = 0;
    vclock_init(&e->clk, VCLOCK_ICOUNT, 0);
    e->clk.icount_fn = icount_fn;
    rec_clk = &e->clk;
    irq_level = irq_rises = 0;
    Irq irq = { irq_cb, NULL, 8 };
    e->rtc = mc146818_new(&e->bus, &e->clk, irq, base);
    assert_non_null(e->rtc);
    return e;
}

static void env_free(Env *e)
{
    mc146818_free(e->rtc);
    free(e);
}

static uint8_t rd(Env *e, uint8_t idx)
{
    iobus_write(&e->bus, 0x70, idx, 1);
    return (uint8_t)iobus_read(&e->bus, 0x71, 1);
}

static void wr(Env *e, uint8_t idx, uint8_t v)
{
    iobus_write(&e->bus, 0x70, idx, 1);
    iobus_write(&e->bus, 0x71, v, 1);
}

/* Advance virtual time to t (ns), firing timers on the way in order. */
static void run_to(Env *e, int64_t t)
{
    for (;;) {
        int64_t d = vclock_deadline(&e->clk);
        if (d > t)
            break;
        if ((int64_t)icount < d)
            icount = (uint64_t)d;
        vclock_run_timers(&e->clk);
    }
    if ((int64_t)icount < t)
        icount = (uint64_t)t;
    vclock_run_timers(&e->clk);
}

static void expect_time(Env *e, uint8_t sec, uint8_t min, uint8_t hour, uint8_t wday,
                        uint8_t day, uint8_t mon, uint8_t year, uint8_t cent)
{
    assert_int_equal(rd(e, RTC_SECONDS), sec);
    assert_int_equal(rd(e, RTC_MINUTES), min);
    assert_int_equal(rd(e, RTC_HOURS), hour);
    assert_int_equal(rd(e, RTC_DAY_OF_WEEK), wday);
    assert_int_equal(rd(e, RTC_DAY_OF_MONTH), day);
    assert_int_equal(rd(e, RTC_MONTH), mon);
    assert_int_equal(rd(e, RTC_YEAR), year);
    assert_int_equal(rd(e, RTC_CENTURY), cent);
}

/* 2024-02-29 23:59:58, a Thursday (RTC weekday 5, Sunday = 1). */
#define T_LEAPDAY 1709251198LL

static void test_power_on_registers(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    assert_int_equal(rd(e, RTC_REG_A), 0x26);
    assert_int_equal(rd(e, RTC_REG_B), 0x02);
    assert_int_equal(rd(e, RTC_REG_C), 0x00);
    assert_int_equal(rd(e, RTC_REG_D), 0x80); /* VRT */
    /* Index port is write only on the AT. */
    assert_int_equal(iobus_read(&e->bus, 0x70, 1), 0xFF);
    /* No interrupt enabled: no timer is armed. */
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    env_free(e);
}

static void test_bcd_24h_across_update(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    expect_time(e, 0x58, 0x59, 0x23, 5, 0x29, 0x02, 0x24, 0x20);
    run_to(e, SEC - 1);
    assert_int_equal(rd(e, RTC_SECONDS), 0x58);
    run_to(e, SEC);
    assert_int_equal(rd(e, RTC_SECONDS), 0x59);
    run_to(e, 2 * SEC);
    /* Leap day rolls into March 1st, a Friday. */
    expect_time(e, 0x00, 0x00, 0x00, 6, 0x01, 0x03, 0x24, 0x20);
    assert_int_equal(mc146818_get_time(e->rtc), T_LEAPDAY + 2);
    env_free(e);
}

static void test_binary_mode(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_DM);
    expect_time(e, 58, 59, 23, 5, 29, 2, 24, 20);
    run_to(e, 2 * SEC);
    expect_time(e, 0, 0, 0, 6, 1, 3, 24, 20);
    env_free(e);
}

static void test_12h_mode(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    wr(e, RTC_REG_B, 0x00); /* BCD, 12 h */
    assert_int_equal(rd(e, RTC_HOURS), 0x91); /* 11 PM: PM bit | 0x11 */
    run_to(e, 2 * SEC);
    assert_int_equal(rd(e, RTC_HOURS), 0x12); /* 12 AM */
    wr(e, RTC_REG_B, REG_B_DM);                /* binary, 12 h */
    assert_int_equal(rd(e, RTC_HOURS), 12);
    env_free(e);

    /* 2024-02-28 11:59:59 -> noon is 12 PM. */
    e = env_new(1709121599LL);
    wr(e, RTC_REG_B, 0x00);
    assert_int_equal(rd(e, RTC_HOURS), 0x11);
    run_to(e, SEC);
    assert_int_equal(rd(e, RTC_HOURS), 0x92);
    assert_int_equal(rd(e, RTC_MINUTES), 0x00);
    /* 24 h mode again: 12 */
    wr(e, RTC_REG_B, REG_B_24H);
    assert_int_equal(rd(e, RTC_HOURS), 0x12);
    env_free(e);
}

static void test_calendar_rollovers(void **st)
{
    /* 2099-12-31 23:59:59 -> 2100-01-01 (Friday), century byte follows. */
    Env *e = env_new(4102444799LL);
    expect_time(e, 0x59, 0x59, 0x23, 5, 0x31, 0x12, 0x99, 0x20);
    run_to(e, SEC);
    expect_time(e, 0x00, 0x00, 0x00, 6, 0x01, 0x01, 0x00, 0x21);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_DM);
    assert_int_equal(rd(e, RTC_CENTURY), 21);
    env_free(e);

    /* 2100 is not a leap year: Feb 28 -> Mar 1. */
    e = env_new(4107542399LL);
    run_to(e, SEC);
    assert_int_equal(rd(e, RTC_DAY_OF_MONTH), 0x01);
    assert_int_equal(rd(e, RTC_MONTH), 0x03);
    env_free(e);

    /* 2000 is (divisible by 400): Feb 28 -> Feb 29. */
    e = env_new(951782399LL);
    run_to(e, SEC);
    assert_int_equal(rd(e, RTC_DAY_OF_MONTH), 0x29);
    assert_int_equal(rd(e, RTC_MONTH), 0x02);
    env_free(e);

    /* 2023 is not: Feb 28 -> Mar 1. */
    e = env_new(1677628799LL);
    run_to(e, SEC);
    assert_int_equal(rd(e, RTC_DAY_OF_MONTH), 0x01);
    assert_int_equal(rd(e, RTC_MONTH), 0x03);
    env_free(e);

    /* 30-day month set by the guest: Apr 30 23:59:59 -> May 1. */
    e = env_new(T_LEAPDAY);
    wr(e, RTC_REG_B, REG_B_SET | REG_B_24H);
    wr(e, RTC_MONTH, 0x04);
    wr(e, RTC_DAY_OF_MONTH, 0x30);
    wr(e, RTC_HOURS, 0x23);
    wr(e, RTC_MINUTES, 0x59);
    wr(e, RTC_SECONDS, 0x59);
    wr(e, RTC_REG_B, REG_B_24H);
    run_to(e, SEC);
    assert_int_equal(rd(e, RTC_DAY_OF_MONTH), 0x01);
    assert_int_equal(rd(e, RTC_MONTH), 0x05);
    assert_int_equal(rd(e, RTC_HOURS), 0x00);
    env_free(e);
}

static void test_uip_window(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    int64_t edge = 5 * SEC;
    run_to(e, edge - 244000 - 1);
    assert_int_equal(rd(e, RTC_REG_A) & REG_A_UIP, 0);
    run_to(e, edge - 244000);
    assert_int_equal(rd(e, RTC_REG_A), 0x26 | REG_A_UIP);
    /* During UIP the old time is still readable. */
    assert_int_equal(rd(e, RTC_SECONDS), 0x02); /* 58 + 4 = 02 of next minute */
    run_to(e, edge - 1);
    assert_int_equal(rd(e, RTC_REG_A) & REG_A_UIP, REG_A_UIP);
    run_to(e, edge);
    assert_int_equal(rd(e, RTC_REG_A), 0x26);
    assert_int_equal(rd(e, RTC_SECONDS), 0x03);
    /* UIP never sticks: sample 1000 points over 3 s, it must be set only
     * in the 244 us windows (SeaBIOS/Linux poll it). */
    int high = 0;
    for (int i = 0; i < 1000; i++) {
        run_to(e, edge + (int64_t)i * 3 * MS + 1);
        if (rd(e, RTC_REG_A) & REG_A_UIP)
            high++;
    }
    assert_true(high < 5);
    /* SET clears UIP. */
    run_to(e, 10 * SEC - 1000);
    assert_true(rd(e, RTC_REG_A) & REG_A_UIP);
    wr(e, RTC_REG_B, REG_B_SET | REG_B_24H);
    assert_int_equal(rd(e, RTC_REG_A) & REG_A_UIP, 0);
    env_free(e);
}

static void test_set_bit(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    run_to(e, 300 * MS);
    wr(e, RTC_REG_B, REG_B_SET | REG_B_24H | REG_B_UIE);
    /* SET clears UIE. */
    assert_int_equal(rd(e, RTC_REG_B), REG_B_SET | REG_B_24H);
    run_to(e, 5 * SEC);
    assert_int_equal(rd(e, RTC_SECONDS), 0x58); /* frozen */
    wr(e, RTC_HOURS, 0x12);
    wr(e, RTC_MINUTES, 0x34);
    wr(e, RTC_SECONDS, 0x56);
    wr(e, RTC_DAY_OF_MONTH, 0x15);
    wr(e, RTC_MONTH, 0x06);
    wr(e, RTC_YEAR, 0x25);
    wr(e, RTC_DAY_OF_WEEK, 0x01);
    run_to(e, 5 * SEC + 300 * MS);
    expect_time(e, 0x56, 0x34, 0x12, 0x01, 0x15, 0x06, 0x25, 0x20);
    wr(e, RTC_REG_B, REG_B_24H); /* run again */
    /* The divider phase is kept: next update at the 6 s boundary. */
    run_to(e, 6 * SEC - 1);
    assert_int_equal(rd(e, RTC_SECONDS), 0x56);
    run_to(e, 6 * SEC);
    assert_int_equal(rd(e, RTC_SECONDS), 0x57);
    /* Guest-chosen weekday is kept as an offset (Sunday stays consistent). */
    assert_int_equal(rd(e, RTC_DAY_OF_WEEK), 0x01);
    run_to(e, 6 * SEC + 86400LL * SEC);
    assert_int_equal(rd(e, RTC_DAY_OF_WEEK), 0x02);
    assert_int_equal(rd(e, RTC_DAY_OF_MONTH), 0x16);
    /* 2025-06-16 12:34:57 */
    assert_int_equal(mc146818_get_time(e->rtc), 1750077297LL);
    env_free(e);
}

static void test_write_time_while_running(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    run_to(e, 1500 * MS);
    wr(e, RTC_MINUTES, 0x10); /* guest sets minutes without SET */
    assert_int_equal(rd(e, RTC_MINUTES), 0x10);
    assert_int_equal(rd(e, RTC_SECONDS), 0x59);
    run_to(e, 2 * SEC);
    assert_int_equal(rd(e, RTC_SECONDS), 0x00);
    assert_int_equal(rd(e, RTC_MINUTES), 0x11);
    env_free(e);
}

static void test_divider(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    run_to(e, 200 * MS);
    wr(e, RTC_REG_A, 0x76); /* divider reset */
    run_to(e, 10 * SEC);
    assert_int_equal(rd(e, RTC_SECONDS), 0x58);
    assert_int_equal(rd(e, RTC_REG_A), 0x76); /* no UIP while stopped */
    wr(e, RTC_REG_A, 0x26);
    run_to(e, 10 * SEC + 500 * MS - 1);
    assert_int_equal(rd(e, RTC_SECONDS), 0x58);
    run_to(e, 10 * SEC + 500 * MS);
    assert_int_equal(rd(e, RTC_SECONDS), 0x59);
    /* Other time bases stop the clock too. */
    wr(e, RTC_REG_A, 0x06);
    run_to(e, 20 * SEC);
    assert_int_equal(rd(e, RTC_SECONDS), 0x59);
    env_free(e);
}

/* Measure consecutive periodic interrupts, acknowledging each one. */
static void check_periodic(uint8_t rs, double period_ns)
{
    Env *e = env_new(T_LEAPDAY);
    wr(e, RTC_REG_A, (uint8_t)(0x20 | rs));
    rd(e, RTC_REG_C);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_PIE);
    int64_t last = -1;
    for (int i = 0; i < 6; i++) {
        irq_rises = 0;
        run_to(e, vclock_deadline(&e->clk));
        assert_int_equal(irq_rises, 1);
        assert_int_equal(irq_level, 1);
        int64_t t = irq_rise_ns[0];
        /* Edges are aligned to the divider chain: multiples of the period. */
        double k = (double)t / period_ns;
        double off = (double)t - (double)(int64_t)(k + 0.5) * period_ns;
        assert_true(off > -1.5 && off < 1.5);
        if (last >= 0) {
            double d = (double)(t - last) - period_ns;
            assert_true(d > -1.5 && d < 1.5);
        }
        last = t;
        uint8_t c = rd(e, RTC_REG_C);
        assert_int_equal(c & (REG_C_IRQF | REG_C_PF), REG_C_IRQF | REG_C_PF);
        assert_int_equal(irq_level, 0);
        assert_int_equal(rd(e, RTC_REG_C) & REG_C_PF, 0);
    }
    env_free(e);
}

static void test_periodic_rates(void **st)
{
    check_periodic(0x03, 122070.3125);     /* 8192 Hz */
    check_periodic(0x06, 976562.5);        /* 1024 Hz */
    check_periodic(0x01, 3906250.0);       /* RS1 = 256 Hz */
    check_periodic(0x02, 7812500.0);       /* RS2 = 128 Hz */
    check_periodic(0x0A, 15625000.0);      /* 64 Hz */
    check_periodic(0x0F, 500000000.0);     /* 2 Hz */
}

static void test_periodic_polled_and_disabled(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    /* PF is set without PIE (polled), but no IRQ and no timer. */
    run_to(e, 2 * MS);
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    uint8_t c = rd(e, RTC_REG_C);
    assert_int_equal(c, REG_C_PF);
    assert_int_equal(irq_rises, 0);
    /* RS = 0: no periodic flag. */
    wr(e, RTC_REG_A, 0x20);
    run_to(e, 100 * MS);
    assert_int_equal(rd(e, RTC_REG_C), 0);
    /* Enabling PIE with PF already pending raises IRQF at once. */
    wr(e, RTC_REG_A, 0x26);
    run_to(e, 110 * MS);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_PIE);
    assert_int_equal(irq_level, 1);
    /* While IRQF is set no timer is needed. */
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    /* Clearing PIE drops IRQF. */
    wr(e, RTC_REG_B, REG_B_24H);
    assert_int_equal(irq_level, 0);
    assert_int_equal(rd(e, RTC_REG_C), REG_C_PF);
    env_free(e);
}

static void test_update_ended(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    wr(e, RTC_REG_A, 0x20); /* no periodic */
    wr(e, RTC_HOURS_ALARM, 0x12); /* alarm bytes 0 would match at midnight */
    run_to(e, 300 * MS);
    rd(e, RTC_REG_C);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_UIE);
    for (int s = 1; s <= 3; s++) {
        irq_rises = 0;
        run_to(e, s * SEC - 1);
        assert_int_equal(irq_rises, 0);
        run_to(e, s * SEC);
        assert_int_equal(irq_rises, 1);
        assert_int_equal(irq_rise_ns[0], s * SEC);
        assert_int_equal(rd(e, RTC_REG_C), REG_C_IRQF | REG_C_UF);
        assert_int_equal(irq_level, 0);
    }
    env_free(e);
}

static void test_alarm(void **st)
{
    Env *e = env_new(T_LEAPDAY); /* 23:59:58 */
    wr(e, RTC_REG_A, 0x20);
    /* Alarm at 00:00:03 (in 5 s). */
    wr(e, RTC_HOURS_ALARM, 0x00);
    wr(e, RTC_MINUTES_ALARM, 0x00);
    wr(e, RTC_SECONDS_ALARM, 0x03);
    rd(e, RTC_REG_C);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_AIE);
    assert_int_equal(vclock_deadline(&e->clk), 5 * SEC);
    run_to(e, 5 * SEC - 1);
    assert_int_equal(irq_rises, 0);
    run_to(e, 5 * SEC);
    assert_int_equal(irq_rises, 1);
    assert_int_equal(rd(e, RTC_REG_C), REG_C_IRQF | REG_C_AF | REG_C_UF);
    /* Next match is a day later. */
    assert_int_equal(vclock_deadline(&e->clk), 5 * SEC + 86400LL * SEC);

    /* Don't care hours and minutes: every minute at :10. */
    wr(e, RTC_HOURS_ALARM, 0xC0);
    wr(e, RTC_MINUTES_ALARM, 0xFF);
    wr(e, RTC_SECONDS_ALARM, 0x10);
    assert_int_equal(vclock_deadline(&e->clk), 12 * SEC); /* 00:00:10 */
    irq_rises = 0;
    run_to(e, 12 * SEC);
    assert_int_equal(irq_rises, 1);
    rd(e, RTC_REG_C);
    assert_int_equal(vclock_deadline(&e->clk), 72 * SEC);
    /* All don't care: every second. */
    wr(e, RTC_SECONDS_ALARM, 0xC0);
    assert_int_equal(vclock_deadline(&e->clk), 13 * SEC);

    /* Polled: AF latched without AIE when the time passed the alarm. */
    wr(e, RTC_REG_B, REG_B_24H);
    wr(e, RTC_SECONDS_ALARM, 0x30);
    wr(e, RTC_MINUTES_ALARM, 0x00);
    wr(e, RTC_HOURS_ALARM, 0x00);
    rd(e, RTC_REG_C);
    run_to(e, 40 * SEC); /* passes 00:00:30 at 32 s */
    assert_int_equal(rd(e, RTC_REG_C), REG_C_AF | REG_C_UF);
    run_to(e, 50 * SEC);
    assert_int_equal(rd(e, RTC_REG_C), REG_C_UF);
    /* An impossible alarm (seconds 0x61) never matches. */
    wr(e, RTC_SECONDS_ALARM, 0x61);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_AIE);
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    env_free(e);
}

static void test_alarm_12h(void **st)
{
    Env *e = env_new(1709121599LL); /* 2024-02-28 11:59:59 */
    wr(e, RTC_REG_A, 0x20);
    wr(e, RTC_REG_B, 0x00);        /* 12 h BCD */
    wr(e, RTC_HOURS_ALARM, 0x92);  /* 12 PM */
    wr(e, RTC_MINUTES_ALARM, 0x00);
    wr(e, RTC_SECONDS_ALARM, 0x01);
    wr(e, RTC_REG_B, REG_B_AIE);
    assert_int_equal(vclock_deadline(&e->clk), 2 * SEC);
    env_free(e);
}

static void test_nmi_and_cmos_ram(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    iobus_write(&e->bus, 0x70, 0x8F, 1);
    assert_true(mc146818_nmi_masked(e->rtc));
    iobus_write(&e->bus, 0x71, 0x00, 1); /* index 0x0F with NMI bit stripped */
    assert_int_equal(mc146818_get_cmos(e->rtc, 0x0F), 0x00);
    iobus_write(&e->bus, 0x70, 0x0F, 1);
    assert_false(mc146818_nmi_masked(e->rtc));
    for (int i = 0x0E; i < 0x80; i++) {
        if (i == RTC_CENTURY)
            continue;
        wr(e, (uint8_t)i, (uint8_t)(i ^ 0x5A));
    }
    for (int i = 0x0E; i < 0x80; i++) {
        if (i == RTC_CENTURY)
            continue;
        assert_int_equal(rd(e, (uint8_t)i), i ^ 0x5A);
        assert_int_equal(mc146818_get_cmos(e->rtc, i), i ^ 0x5A);
    }
    mc146818_set_cmos(e->rtc, 0x34, 0x12);
    assert_int_equal(rd(e, 0x34), 0x12);
    assert_int_equal(mc146818_get_cmos(e->rtc, 200), 0xFF);
    mc146818_set_cmos(e->rtc, -1, 0); /* ignored */
    /* REG_C and REG_D are read only. */
    wr(e, RTC_REG_C, 0xFF);
    wr(e, RTC_REG_D, 0x00);
    assert_int_equal(rd(e, RTC_REG_D), 0x80);
    /* Century written by the guest moves the date. */
    wr(e, RTC_CENTURY, 0x19);
    assert_int_equal(rd(e, RTC_CENTURY), 0x19);
    assert_int_equal(rd(e, RTC_YEAR), 0x24);
    /* 1924-02-29 was a Friday; weekday keeps the guest-visible value. */
    assert_int_equal(rd(e, RTC_DAY_OF_WEEK), 5);
    env_free(e);
}

static void test_reset(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_PIE | REG_B_UIE | REG_B_SQWE);
    run_to(e, 5 * MS);
    assert_int_equal(irq_level, 1);
    mc146818_reset(e->rtc);
    assert_int_equal(irq_level, 0);
    assert_int_equal(rd(e, RTC_REG_B), REG_B_24H);
    assert_int_equal(rd(e, RTC_REG_C), 0);
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    assert_int_equal(rd(e, RTC_SECONDS), 0x58);
    env_free(e);
}

static void test_random_writes(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    srand(12345);
    for (int i = 0; i < 200000; i++) {
        int r = rand();
        uint8_t v = (uint8_t)(rand() & 0xFF);
        switch (r % 5) {
        case 0:
            iobus_write(&e->bus, 0x70, v, 1);
            break;
        case 1:
        case 2:
            iobus_write(&e->bus, 0x71, v, 1);
            break;
        case 3:
            iobus_read(&e->bus, 0x71, 1);
            break;
        default:
            run_to(e, (int64_t)icount + (rand() % 3000000));
            break;
        }
    }
    /* Still sane: a valid time can be set and runs. */
    wr(e, RTC_REG_A, 0x26);
    wr(e, RTC_REG_B, REG_B_SET | REG_B_24H);
    wr(e, RTC_SECONDS, 0x00);
    wr(e, RTC_REG_B, REG_B_24H);
    int64_t t0 = mc146818_get_time(e->rtc);
    run_to(e, (int64_t)icount + 3 * SEC);
    assert_int_equal(mc146818_get_time(e->rtc), t0 + 3);
    env_free(e);
}

static void test_state_round_trip(void **st)
{
    Env *e = env_new(T_LEAPDAY);
    wr(e, 0x40, 0xA5);
    wr(e, RTC_REG_A, 0x2A); /* 32 Hz */
    wr(e, RTC_SECONDS_ALARM, 0xC0);
    wr(e, RTC_MINUTES_ALARM, 0xC0);
    wr(e, RTC_HOURS_ALARM, 0xC0);
    wr(e, RTC_REG_B, REG_B_24H | REG_B_DM | REG_B_PIE);
    run_to(e, 1234 * MS);
    rd(e, RTC_REG_C);
    iobus_write(&e->bus, 0x70, 0x80 | 0x40, 1);
    int64_t deadline = vclock_deadline(&e->clk);
    assert_true(deadline != INT64_MAX);

    long n = state_save(&mc146818_state, e->rtc, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&mc146818_state, e->rtc, buf, (size_t)n), n);

    /* Scramble the device, then load. */
    mc146818_reset(e->rtc);
    wr(e, 0x40, 0x00);
    wr(e, RTC_REG_B, REG_B_SET);
    wr(e, RTC_SECONDS, 0x00);
    iobus_write(&e->bus, 0x70, 0x01, 1);
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);

    char err[128] = "";
    assert_int_equal(state_load(&mc146818_state, e->rtc, mc146818_state.version, buf, (size_t)n,
                                err, sizeof(err)), 0);
    assert_true(mc146818_nmi_masked(e->rtc));
    assert_int_equal(vclock_deadline(&e->clk), deadline); /* timer re-armed */
    assert_int_equal(rd(e, 0x40), 0xA5);
    assert_int_equal(rd(e, RTC_REG_B), REG_B_24H | REG_B_DM | REG_B_PIE);
    assert_int_equal(rd(e, RTC_SECONDS), 59); /* binary 23:59:59 at 1.234 s */
    irq_rises = 0;
    run_to(e, deadline);
    assert_int_equal(irq_rises, 1);

    /* A corrupt index is rejected. */
    uint8_t *bad = malloc((size_t)n);
    memcpy(bad, buf, (size_t)n);
    bad[128] = 0x80; /* index follows the 128 CMOS bytes */
    assert_int_equal(state_load(&mc146818_state, e->rtc, mc146818_state.version, bad, (size_t)n,
                                err, sizeof(err)), -1);
    free(bad);
    free(buf);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_on_registers),
        cmocka_unit_test(test_bcd_24h_across_update),
        cmocka_unit_test(test_binary_mode),
        cmocka_unit_test(test_12h_mode),
        cmocka_unit_test(test_calendar_rollovers),
        cmocka_unit_test(test_uip_window),
        cmocka_unit_test(test_set_bit),
        cmocka_unit_test(test_write_time_while_running),
        cmocka_unit_test(test_divider),
        cmocka_unit_test(test_periodic_rates),
        cmocka_unit_test(test_periodic_polled_and_disabled),
        cmocka_unit_test(test_update_ended),
        cmocka_unit_test(test_alarm),
        cmocka_unit_test(test_alarm_12h),
        cmocka_unit_test(test_nmi_and_cmos_ram),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_random_writes),
        cmocka_unit_test(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
