/*
 * mc146818.c - MC146818A RTC + CMOS RAM (see mc146818.h).
 *
 * Model of time:
 *  - While the clock runs (REG_A DV = 010 and REG_B SET = 0) the current
 *    time in seconds is  time_sec + floor((now - ref_ns) / 1 s).  ref_ns is a
 *    virtual time at which the divider chain was at a second boundary, so
 *    updates happen at ref_ns + k s and UIP is high during the 244 us before
 *    each of them.  The time registers in cmos[] are refreshed from that on
 *    every read and are not authoritative.
 *  - While stopped (SET = 1, or a divider other than 010) the registers in
 *    cmos[] are the clock: the guest reads and writes them as plain bytes;
 *    when the clock restarts they are decoded (in the then current DM/24h
 *    mode) into time_sec.  Leaving divider reset puts the first update
 *    500 ms later (datasheet, "divider reset").
 *  - A guest write to a time register while running re-derives time_sec
 *    (the guest-set time becomes an offset from virtual time), keeping the
 *    sub-second phase.  Day-of-week is kept as an offset from the weekday
 *    of the date, so a guest that sets an inconsistent weekday keeps it.
 *  - Changing DM or 24/12 while running reformats the registers (as QEMU
 *    does), since the time is held as seconds.  DSE is ignored.
 *
 * Interrupt flags (REG_C PF/AF/UF) are derived lazily for the interval
 * (flags_ns, now] whenever REG_C, REG_A/B, alarm or time registers are
 * accessed, and from the timer, which is armed only for enabled sources
 * while IRQF is clear.
 */
#include "devices/mc146818.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_SEC   VCLOCK_NS_PER_SEC
#define RTC_BASE_HZ  32768u                 /* time base for DV = 010 */
#define RTC_UIP_NS   244000                 /* t_BUC: UIP lead time */
#define RTC_DV_NORMAL 0x20
#define RTC_NPORTS   2
#define RTC_CMOS_SIZE 128

struct Mc146818 {
    /* --- saved state --- */
    uint8_t cmos[RTC_CMOS_SIZE]; /* CMOS RAM incl. registers A-D */
    uint8_t index;               /* port 0x70 bits 6-0 */
    bool nmi_masked;             /* port 0x70 bit 7 */
    bool irq_level;              /* IRQ8 as driven (= REG_C IRQF) */
    uint8_t wday_off;            /* day-of-week register minus computed weekday, mod 7 */
    int64_t time_sec;            /* clock seconds (since 1970) at ref_ns */
    int64_t ref_ns;              /* virtual ns of a divider-chain second boundary */
    int64_t flags_ns;            /* REG_C flags are derived up to this time */
    /* --- wiring, not saved --- */
    IoBus *bus;
    VClock *clk;
    Irq irq;
    VTimer timer;
};

/* ---------- calendar arithmetic (proleptic Gregorian, H. Hinnant) ---------- */

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t floormod(int64_t a, int64_t b)
{
    return a - floordiv(a, b) * b;
}

/* Days since 1970-01-01 of y-m-d; m in 1..12, d >= 1 (may overflow month). */
static int64_t days_from_civil(int64_t y, int m, int64_t d)
{
    y -= m <= 2;
    int64_t era = floordiv(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floordiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* ---------- register encoding ---------- */

static bool rtc_binary(const Mc146818 *s)
{
    return s->cmos[RTC_REG_B] & REG_B_DM;
}

/* Encode 0..99 per DM (BCD unless binary). */
static uint8_t rtc_enc(const Mc146818 *s, int v)
{
    if (rtc_binary(s))
        return (uint8_t)v;
    return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* Decode a register byte per DM; invalid BCD digits are taken at face value. */
static int rtc_dec(const Mc146818 *s, uint8_t b)
{
    if (rtc_binary(s))
        return b;
    return (b >> 4) * 10 + (b & 0x0F);
}

static uint8_t rtc_enc_hour(const Mc146818 *s, int h)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H)
        return rtc_enc(s, h);
    int h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(rtc_enc(s, h12) | (h >= 12 ? 0x80 : 0));
}

/* Hour register byte to 0..23 (larger values if the byte is garbage). */
static int rtc_dec_hour(const Mc146818 *s, uint8_t b)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H)
        return rtc_dec(s, b);
    int h = rtc_dec(s, b & 0x7F);
    if (h == 12)
        h = 0;
    if (b & 0x80)
        h += 12;
    return h;
}

/* ---------- clock state ---------- */

static bool rtc_dv_normal(const Mc146818 *s)
{
    return (s->cmos[RTC_REG_A] & REG_A_DV) == RTC_DV_NORMAL;
}

static bool rtc_running(const Mc146818 *s)
{
    return rtc_dv_normal(s) && !(s->cmos[RTC_REG_B] & REG_B_SET);
}

static int64_t rtc_now(Mc146818 *s)
{
    return s->clk ? vclock_now(s->clk) : 0;
}

/* Elapsed ns since ref_ns, never negative. */
static int64_t rtc_since_ref(const Mc146818 *s, int64_t t)
{
    return t > s->ref_ns ? t - s->ref_ns : 0;
}

/* Clock seconds at virtual time t (running clock). */
static int64_t rtc_sec_at(const Mc146818 *s, int64_t t)
{
    return s->time_sec + rtc_since_ref(s, t) / NS_PER_SEC;
}

/* Write the time sec into the clock registers (current DM/24h format). */
static void rtc_store_regs(Mc146818 *s, int64_t sec)
{
    int64_t days = floordiv(sec, 86400);
    int64_t tod = sec - days * 86400;
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int wday = (int)floormod(days + 4, 7); /* 1970-01-01 was a Thursday */
    s->cmos[RTC_SECONDS] = rtc_enc(s, (int)(tod % 60));
    s->cmos[RTC_MINUTES] = rtc_enc(s, (int)(tod / 60 % 60));
    s->cmos[RTC_HOURS] = rtc_enc_hour(s, (int)(tod / 3600));
    s->cmos[RTC_DAY_OF_WEEK] = rtc_enc(s, (wday + s->wday_off) % 7 + 1);
    s->cmos[RTC_DAY_OF_MONTH] = rtc_enc(s, d);
    s->cmos[RTC_MONTH] = rtc_enc(s, m);
    s->cmos[RTC_YEAR] = rtc_enc(s, (int)floormod(y, 100));
    s->cmos[RTC_CENTURY] = rtc_enc(s, (int)floormod(floordiv(y, 100), 100));
}

/* Decode the clock registers into seconds; sets wday_off from REG 6.
 * Out-of-range fields are clamped or carried (a bad day rolls forward). */
static int64_t rtc_load_regs(Mc146818 *s)
{
    int64_t sec = rtc_dec(s, s->cmos[RTC_SECONDS]);
    int64_t min = rtc_dec(s, s->cmos[RTC_MINUTES]);
    int64_t hour = rtc_dec_hour(s, s->cmos[RTC_HOURS]);
    int64_t day = rtc_dec(s, s->cmos[RTC_DAY_OF_MONTH]);
    int mon = rtc_dec(s, s->cmos[RTC_MONTH]);
    int64_t year = rtc_dec(s, s->cmos[RTC_CENTURY]) * 100 + rtc_dec(s, s->cmos[RTC_YEAR]);
    if (mon < 1)
        mon = 1;
    if (mon > 12)
        mon = 12;
    if (day < 1)
        day = 1;
    int64_t days = days_from_civil(year, mon, day);
    int wday = (int)floormod(days + 4, 7);
    int reg_wday = rtc_dec(s, s->cmos[RTC_DAY_OF_WEEK]);
    if (reg_wday < 1 || reg_wday > 7)
        reg_wday = wday + 1;
    s->wday_off = (uint8_t)floormod(reg_wday - 1 - wday, 7);
    return days * 86400 + hour * 3600 + min * 60 + sec;
}

/* Make cmos[] time registers current (no-op while stopped). */
static void rtc_sync_regs(Mc146818 *s, int64_t now)
{
    if (rtc_running(s))
        rtc_store_regs(s, rtc_sec_at(s, now));
}

/* Registers decoded into time_sec, keeping the divider phase at now. */
static void rtc_restart_from_regs(Mc146818 *s, int64_t now)
{
    int64_t sec = rtc_load_regs(s);
    s->time_sec = sec - rtc_since_ref(s, now) / NS_PER_SEC;
}

/* ---------- periodic rate, alarm ---------- */

/* Period of the periodic interrupt in 32.768 kHz ticks, 0 = none
 * (datasheet table "periodic interrupt rate": RS1/RS2 alias RS8/RS9). */
static uint32_t rtc_period_ticks(const Mc146818 *s)
{
    unsigned rs = s->cmos[RTC_REG_A] & REG_A_RS;
    if (rs == 0)
        return 0;
    if (rs <= 2)
        return 1u << (rs + 6);
    return 1u << (rs - 1);
}

static uint64_t rtc_ticks(int64_t ns)
{
    return (uint64_t)(((__int128)ns * RTC_BASE_HZ) / NS_PER_SEC);
}

/* First ns at which tick count k is reached. */
static int64_t rtc_tick_ns(uint64_t k)
{
    return (int64_t)(((__int128)k * NS_PER_SEC + RTC_BASE_HZ - 1) / RTC_BASE_HZ);
}

/* Alarm register byte: -1 = don't care (0xC0-0xFF), -2 = never matches. */
static int rtc_alarm_field(const Mc146818 *s, uint8_t b, bool hour, int max)
{
    if ((b & 0xC0) == 0xC0)
        return -1;
    int v = hour ? rtc_dec_hour(s, b) : rtc_dec(s, b);
    return v > max ? -2 : v;
}

/* Smallest clock second >= from whose time of day matches the alarm, or
 * INT64_MAX if the alarm registers can never match. */
static int64_t rtc_alarm_next(const Mc146818 *s, int64_t from)
{
    int as = rtc_alarm_field(s, s->cmos[RTC_SECONDS_ALARM], false, 59);
    int am = rtc_alarm_field(s, s->cmos[RTC_MINUTES_ALARM], false, 59);
    int ah = rtc_alarm_field(s, s->cmos[RTC_HOURS_ALARM], true, 23);
    if (as == -2 || am == -2 || ah == -2)
        return INT64_MAX;
    int64_t tod = floormod(from, 86400);
    int64_t day0 = from - tod;
    int fh = (int)(tod / 3600), fm = (int)(tod / 60 % 60), fs = (int)(tod % 60);
    for (int d = 0; d < 2; d++) {
        for (int h = (ah >= 0 ? ah : 0); h < 24; h++) {
            if (ah >= 0 && h != ah)
                break;
            if (d == 0 && h < fh)
                continue;
            for (int m = (am >= 0 ? am : 0); m < 60; m++) {
                if (am >= 0 && m != am)
                    break;
                int sec;
                if (d == 0 && h == fh && m < fm)
                    continue;
                if (d == 0 && h == fh && m == fm) {
                    if (as < 0)
                        sec = fs;
                    else if (as >= fs)
                        sec = as;
                    else
                        continue;
                } else {
                    sec = as < 0 ? 0 : as;
                }
                return day0 + d * 86400 + h * 3600 + m * 60 + sec;
            }
        }
    }
    return INT64_MAX;
}

/* ---------- flags, IRQ, timer ---------- */

/* Set REG_C PF/UF/AF for events in (flags_ns, now]. */
static void rtc_update_flags(Mc146818 *s, int64_t now)
{
    if (now <= s->flags_ns)
        return;
    int64_t a = rtc_since_ref(s, s->flags_ns);
    int64_t b = rtc_since_ref(s, now);
    s->flags_ns = now;
    if (!rtc_dv_normal(s) || b <= a)
        return;
    uint32_t p = rtc_period_ticks(s);
    if (p && rtc_ticks(b) / p > rtc_ticks(a) / p)
        s->cmos[RTC_REG_C] |= REG_C_PF;
    if (s->cmos[RTC_REG_B] & REG_B_SET)
        return;
    int64_t na = a / NS_PER_SEC, nb = b / NS_PER_SEC;
    if (nb > na) {
        s->cmos[RTC_REG_C] |= REG_C_UF;
        if (rtc_alarm_next(s, s->time_sec + na + 1) <= s->time_sec + nb)
            s->cmos[RTC_REG_C] |= REG_C_AF;
    }
}

/* IRQF = PF.PIE + AF.AIE + UF.UIE; IRQ8 follows IRQF. */
static void rtc_update_irq(Mc146818 *s)
{
    bool want = (s->cmos[RTC_REG_C] & s->cmos[RTC_REG_B] & (REG_C_PF | REG_C_AF | REG_C_UF)) != 0;
    if (want)
        s->cmos[RTC_REG_C] |= REG_C_IRQF;
    else
        s->cmos[RTC_REG_C] &= (uint8_t)~REG_C_IRQF;
    if (want != s->irq_level) {
        s->irq_level = want;
        irq_set(&s->irq, want);
    }
}

/* Arm the timer for the next event of an enabled source, or disarm it. */
static void rtc_rearm(Mc146818 *s, int64_t now)
{
    if (!s->clk)
        return;
    uint8_t b = s->cmos[RTC_REG_B];
    int64_t next = INT64_MAX;
    if (!s->irq_level && rtc_dv_normal(s) && (b & (REG_B_PIE | REG_B_AIE | REG_B_UIE))) {
        int64_t el = rtc_since_ref(s, now);
        uint32_t p = rtc_period_ticks(s);
        if ((b & REG_B_PIE) && p) {
            uint64_t k = (rtc_ticks(el) / p + 1) * p;
            int64_t t = s->ref_ns + rtc_tick_ns(k);
            if (t < next)
                next = t;
        }
        if (!(b & REG_B_SET)) {
            int64_t nb = el / NS_PER_SEC;
            if (b & REG_B_UIE) {
                int64_t t = s->ref_ns + (nb + 1) * NS_PER_SEC;
                if (t < next)
                    next = t;
            }
            if (b & REG_B_AIE) {
                int64_t at = rtc_alarm_next(s, s->time_sec + nb + 1);
                if (at != INT64_MAX) {
                    int64_t t = s->ref_ns + (at - s->time_sec) * NS_PER_SEC;
                    if (t < next)
                        next = t;
                }
            }
        }
    }
    if (next == INT64_MAX)
        vtimer_del(&s->timer);
    else
        vtimer_mod(&s->timer, next);
}

static void rtc_timer_cb(void *opaque)
{
    Mc146818 *s = opaque;
    int64_t now = rtc_now(s);
    rtc_update_flags(s, now);
    rtc_update_irq(s);
    rtc_rearm(s, now);
}

/* ---------- register access ---------- */

static bool rtc_is_time_reg(unsigned idx)
{
    switch (idx) {
    case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY_OF_WEEK:
    case RTC_DAY_OF_MONTH: case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
        return true;
    default:
        return false;
    }
}

static void rtc_write_reg(Mc146818 *s, unsigned idx, uint8_t val)
{
    idx &= RTC_CMOS_SIZE - 1;
    int64_t now = rtc_now(s);
    if (rtc_is_time_reg(idx)) {
        rtc_update_flags(s, now);
        if (rtc_running(s)) {
            rtc_store_regs(s, rtc_sec_at(s, now));
            s->cmos[idx] = val;
            rtc_restart_from_regs(s, now);
        } else {
            s->cmos[idx] = val;
        }
        rtc_rearm(s, now);
        return;
    }
    switch (idx) {
    case RTC_SECONDS_ALARM: case RTC_MINUTES_ALARM: case RTC_HOURS_ALARM:
        rtc_update_flags(s, now);
        s->cmos[idx] = val;
        rtc_rearm(s, now);
        return;
    case RTC_REG_A: {
        rtc_update_flags(s, now);
        bool was_running = rtc_running(s);
        bool was_normal = rtc_dv_normal(s);
        if (was_running)
            rtc_store_regs(s, rtc_sec_at(s, now));
        s->cmos[RTC_REG_A] = (uint8_t)(val & ~REG_A_UIP);
        if (!was_normal && rtc_dv_normal(s))
            s->ref_ns = now - NS_PER_SEC / 2; /* first update 500 ms later */
        if (!was_running && rtc_running(s))
            rtc_restart_from_regs(s, now);
        rtc_update_irq(s);
        rtc_rearm(s, now);
        return;
    }
    case RTC_REG_B: {
        rtc_update_flags(s, now);
        bool was_running = rtc_running(s);
        if (val & REG_B_SET)
            val &= (uint8_t)~REG_B_UIE; /* SET clears UIE (as QEMU does) */
        if (was_running)
            rtc_store_regs(s, rtc_sec_at(s, now)); /* in the old format */
        s->cmos[RTC_REG_B] = val;
        if (!was_running && rtc_running(s))
            rtc_restart_from_regs(s, now);
        rtc_update_irq(s);
        rtc_rearm(s, now);
        return;
    }
    case RTC_REG_C:
    case RTC_REG_D:
        return; /* read only */
    default:
        s->cmos[idx] = val;
        return;
    }
}

/* Read a register; REG_C side effects (clear, lower IRQ) only if consume. */
static uint8_t rtc_read_reg(Mc146818 *s, unsigned idx, bool consume)
{
    idx &= RTC_CMOS_SIZE - 1;
    int64_t now = rtc_now(s);
    if (rtc_is_time_reg(idx)) {
        rtc_sync_regs(s, now);
        return s->cmos[idx];
    }
    switch (idx) {
    case RTC_REG_A: {
        uint8_t v = s->cmos[RTC_REG_A] & (uint8_t)~REG_A_UIP;
        if (rtc_running(s) &&
            floormod(now - s->ref_ns, NS_PER_SEC) >= NS_PER_SEC - RTC_UIP_NS)
            v |= REG_A_UIP;
        return v;
    }
    case RTC_REG_C: {
        rtc_update_flags(s, now);
        rtc_update_irq(s);
        uint8_t v = s->cmos[RTC_REG_C];
        if (consume) {
            s->cmos[RTC_REG_C] = 0;
            rtc_update_irq(s);
            rtc_rearm(s, now);
        }
        return v;
    }
    case RTC_REG_D:
        return REG_D_VRT;
    default:
        return s->cmos[idx];
    }
}

static uint32_t rtc_io_read(void *opaque, uint32_t off, unsigned size)
{
    Mc146818 *s = opaque;
    (void)size;
    if (off == 0)
        return 0xFF; /* index port is write only */
    return rtc_read_reg(s, s->index, true);
}

static void rtc_io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Mc146818 *s = opaque;
    (void)size;
    if (off == 0) {
        s->index = val & 0x7F;
        s->nmi_masked = (val & 0x80) != 0;
        return;
    }
    rtc_write_reg(s, s->index, (uint8_t)val);
}

static const IoOps rtc_io_ops = {
    .read = rtc_io_read,
    .write = rtc_io_write,
    .impl_max = 1,
};

/* ---------- public API ---------- */

Mc146818 *mc146818_new(IoBus *bus, VClock *clk, Irq irq8, int64_t base_unix_time)
{
    Mc146818 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->bus = bus;
    s->clk = clk;
    s->irq = irq8;
    if (clk)
        vtimer_init(&s->timer, clk, rtc_timer_cb, s);
    int64_t now = rtc_now(s);
    s->cmos[RTC_REG_A] = 0x26;
    s->cmos[RTC_REG_B] = REG_B_24H;
    s->cmos[RTC_REG_D] = REG_D_VRT;
    s->ref_ns = now;
    s->flags_ns = now;
    s->time_sec = base_unix_time;
    rtc_store_regs(s, base_unix_time);
    if (bus && iobus_register(bus, 0x70, RTC_NPORTS, &rtc_io_ops, s, "mc146818") < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void mc146818_reset(Mc146818 *s)
{
    int64_t now = rtc_now(s);
    rtc_update_flags(s, now);
    s->cmos[RTC_REG_B] &= (uint8_t)~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    s->cmos[RTC_REG_C] = 0;
    rtc_update_irq(s);
    rtc_rearm(s, now);
}

void mc146818_free(Mc146818 *s)
{
    if (!s)
        return;
    if (s->clk)
        vtimer_del(&s->timer);
    free(s);
}

bool mc146818_nmi_masked(const Mc146818 *s)
{
    return s->nmi_masked;
}

void mc146818_set_cmos(Mc146818 *s, int index, uint8_t val)
{
    if (index < 0 || index >= RTC_CMOS_SIZE)
        return;
    rtc_write_reg(s, (unsigned)index, val);
}

uint8_t mc146818_get_cmos(Mc146818 *s, int index)
{
    if (index < 0 || index >= RTC_CMOS_SIZE)
        return 0xFF;
    return rtc_read_reg(s, (unsigned)index, false);
}

int64_t mc146818_get_time(Mc146818 *s)
{
    if (rtc_running(s))
        return rtc_sec_at(s, rtc_now(s));
    uint8_t save_off = s->wday_off;
    int64_t t = rtc_load_regs(s);
    s->wday_off = save_off;
    return t;
}

/* ---------- snapshot ---------- */

static int mc146818_post_load(void *opaque, char *err, size_t errlen)
{
    Mc146818 *s = opaque;
    /* Bounds keep all time arithmetic far from int64 overflow: clock years
     * 0..19999, reference times within +-100 years of virtual time 0. */
    const int64_t max_sec = 631152000000LL, min_sec = -62167219200LL;
    const int64_t max_ns = 100LL * 365 * 86400 * NS_PER_SEC;
    if (s->index >= RTC_CMOS_SIZE || s->wday_off >= 7 || s->flags_ns < s->ref_ns ||
        s->time_sec < min_sec || s->time_sec > max_sec || s->ref_ns < -max_ns ||
        s->flags_ns > max_ns) {
        if (err && errlen)
            snprintf(err, errlen, "mc146818: index, weekday offset or time reference out of range");
        return -1;
    }
    s->cmos[RTC_REG_A] &= (uint8_t)~REG_A_UIP;
    s->irq_level = (s->cmos[RTC_REG_C] & REG_C_IRQF) != 0;
    rtc_rearm(s, rtc_now(s));
    return 0;
}

static const StateField mc146818_fields[] = {
    ST_U8_ARRAY(cmos, Mc146818),
    ST_U8(index, Mc146818),
    ST_BOOL(nmi_masked, Mc146818),
    ST_BOOL(irq_level, Mc146818),
    ST_U8(wday_off, Mc146818),
    ST_I64(time_sec, Mc146818),
    ST_I64(ref_ns, Mc146818),
    ST_I64(flags_ns, Mc146818),
    ST_END,
};

const StateDesc mc146818_state = {
    .name = "mc146818",
    .version = 1,
    .min_version = 1,
    .fields = mc146818_fields,
    .post_load = mc146818_post_load,
};
