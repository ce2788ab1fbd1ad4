/*
 * test_vclock.c - virtual clock (ICOUNT time base, monotonicity, warp on
 * idle, pause in HOST mode), timer ordering and re-entrancy, kick, and
 * 128-bit ns<->ticks conversion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "devices/vclock.h"

static uint64_t icount;
static uint64_t icount_fn(void *o)
{
    (void)o;
    return icount;
}

static void clk_icount(VClock *c, int shift)
{
    icount = 0;
    vclock_init(c, VCLOCK_ICOUNT, shift);
    c->icount_fn = icount_fn;
}

static void test_icount_time(void **st)
{
    VClock c;
    clk_icount(&c, 3);
    assert_int_equal(vclock_now(&c), 0);
    icount = 1000;
    assert_int_equal(vclock_now(&c), 8000); /* 1 << 3 ns per instruction */
    icount = 1001;
    assert_int_equal(vclock_now(&c), 8008);
    /* The CPU's counter going backwards (e.g. reset) never moves time back. */
    icount = 10;
    assert_int_equal(vclock_now(&c), 8008);
    icount = 12;
    assert_int_equal(vclock_now(&c), 8024);
    /* Shift is clamped to 0..10. */
    VClock d;
    clk_icount(&d, 99);
    assert_int_equal(d.icount_shift, 10);
    icount = 1;
    assert_int_equal(vclock_now(&d), 1024);
}

static int order[16], norder;
static void rec_cb(void *o)
{
    order[norder++] = (int)(intptr_t)o;
}

static void test_timer_order_and_ties(void **st)
{
    VClock c;
    clk_icount(&c, 0);
    VTimer t[4];
    norder = 0;
    for (int i = 0; i < 4; i++)
        vtimer_init(&t[i], &c, rec_cb, (void *)(intptr_t)i);
    assert_int_equal(vclock_deadline(&c), INT64_MAX);
    vtimer_mod(&t[0], 300);
    vtimer_mod(&t[1], 100);
    vtimer_mod(&t[2], 300); /* tie with t[0]: fires after it */
    vtimer_mod(&t[3], 200);
    assert_int_equal(vclock_deadline(&c), 100);
    icount = 250;
    vclock_run_timers(&c);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_false(t[1].pending);
    assert_true(t[0].pending);
    icount = 300;
    vclock_run_timers(&c);
    assert_int_equal(norder, 4);
    assert_int_equal(order[2], 0);
    assert_int_equal(order[3], 2);
    assert_int_equal(vclock_deadline(&c), INT64_MAX);
    /* Re-arming moves a pending timer; del on an unarmed timer is fine. */
    vtimer_mod(&t[0], 500);
    vtimer_mod(&t[0], 400);
    assert_int_equal(vclock_deadline(&c), 400);
    vtimer_del(&t[0]);
    vtimer_del(&t[0]);
    vtimer_del(&t[1]);
    assert_int_equal(vclock_deadline(&c), INT64_MAX);
}

/* Callbacks that modify the list while it is being run. */
static VTimer ta, tb, tc;
static int fa, fb, fc;
static void cb_a(void *o)
{
    fa++;
    vtimer_del(&tb);                      /* delete another due timer */
    vtimer_mod(&tc, vclock_now(ta.clock)); /* arm another one due now */
    if (fa < 3)
        vtimer_mod(&ta, ta.expire_ns + 10); /* periodic self re-arm */
}
static void cb_b(void *o) { fb++; }
static void cb_c(void *o) { fc++; }

static void test_callbacks_modify_timers(void **st)
{
    VClock c;
    clk_icount(&c, 0);
    fa = fb = fc = 0;
    vtimer_init(&ta, &c, cb_a, NULL);
    vtimer_init(&tb, &c, cb_b, NULL);
    vtimer_init(&tc, &c, cb_c, NULL);
    vtimer_mod(&ta, 100);
    vtimer_mod(&tb, 100);
    icount = 105;
    vclock_run_timers(&c);
    assert_int_equal(fa, 1);
    assert_int_equal(fb, 0); /* deleted by cb_a before it could fire */
    assert_int_equal(fc, 1);
    assert_true(ta.pending);
    assert_int_equal(ta.expire_ns, 110);
    icount = 1000;
    vclock_run_timers(&c);
    assert_int_equal(fa, 3); /* 110 and 120 both due: fired in one run */
    assert_int_equal(fc, 2); /* re-armed twice at 1000 before it ran: once */
    assert_false(ta.pending);
}

static VTimer tstorm;
static int nstorm;
static void cb_storm(void *o)
{
    nstorm++;
    vtimer_mod(&tstorm, vclock_now(tstorm.clock)); /* always due again */
}

static void test_self_rearm_at_now_does_not_hang(void **st)
{
    VClock c;
    clk_icount(&c, 0);
    nstorm = 0;
    vtimer_init(&tstorm, &c, cb_storm, NULL);
    vtimer_mod(&tstorm, 0);
    vclock_run_timers(&c); /* returns (bounded) */
    assert_true(nstorm > 0);
    assert_true(tstorm.pending);
    vtimer_del(&tstorm);
}

static int kicks;
static void kick_fn(void *o) { kicks++; }

static void test_kick_on_earlier_deadline(void **st)
{
    VClock c;
    clk_icount(&c, 0);
    c.kick = kick_fn;
    kicks = 0;
    VTimer a, b;
    vtimer_init(&a, &c, cb_b, NULL);
    vtimer_init(&b, &c, cb_b, NULL);
    vtimer_mod(&a, 1000); /* earlier than "none" */
    assert_int_equal(kicks, 1);
    vtimer_mod(&b, 2000); /* later: the CPU's slice is already short enough */
    assert_int_equal(kicks, 1);
    vtimer_mod(&b, 500);
    assert_int_equal(kicks, 2);
    vtimer_mod(&b, 1500); /* moved later */
    assert_int_equal(kicks, 2);
    vtimer_del(&a);
    vtimer_del(&b);
}

static void test_idle_warps_in_icount(void **st)
{
    VClock c;
    clk_icount(&c, 0);
    VTimer a;
    fb = 0;
    vtimer_init(&a, &c, cb_b, NULL);
    icount = 100;
    vtimer_mod(&a, 5000);
    vclock_idle(&c, 1000000);
    assert_int_equal(vclock_now(&c), 5000); /* jumped to the deadline */
    vclock_run_timers(&c);
    assert_int_equal(fb, 1);
    icount = 150; /* the CPU runs again: time keeps counting from there */
    assert_int_equal(vclock_now(&c), 5050);
    /* No timer: advance by max_sleep so the loop still sees time pass. */
    vclock_idle(&c, 777);
    assert_int_equal(vclock_now(&c), 5827);
    /* Deadline already reached: nothing to warp. */
    vtimer_mod(&a, 10);
    vclock_idle(&c, 777);
    assert_int_equal(vclock_now(&c), 5827);
    vtimer_del(&a);
}

static void test_host_mode_pause(void **st)
{
    VClock c;
    vclock_init(&c, VCLOCK_HOST, 0);
    int64_t a = vclock_now(&c);
    assert_true(a >= 0);
    int64_t b = vclock_now(&c);
    assert_true(b >= a);
    vclock_pause(&c);
    int64_t p1 = vclock_now(&c);
    int64_t p2 = vclock_now(&c);
    assert_int_equal(p1, p2); /* frozen while paused */
    vclock_resume(&c);
    assert_true(vclock_now(&c) >= p1);
    /* HOST idle sleeps at most max_sleep_ns (here 1 us). */
    int64_t h0 = vclock_host_ns();
    vclock_idle(&c, 1000);
    assert_true(vclock_host_ns() - h0 < 1000000000LL);
}

static void test_ns_ticks_conversion(void **st)
{
    const uint64_t pit = 1193182;
    assert_int_equal(vclock_ns_to_ticks(1000000000LL, pit), pit);
    assert_int_equal(vclock_ns_to_ticks(999847, pit), 1192); /* floor */
    assert_int_equal(vclock_ns_to_ticks(999848, pit), 1193);
    assert_int_equal(vclock_ticks_to_ns(1193, pit), 999848); /* ceil */
    assert_int_equal(vclock_ticks_to_ns(pit, pit), 1000000000LL);
    assert_int_equal(vclock_ns_to_ticks(-5, pit), 0);
    /* ticks_to_ns is the exact inverse: the first ns reaching k ticks. */
    for (uint64_t k = 0; k < 5000; k += 7) {
        int64_t ns = vclock_ticks_to_ns(k, pit);
        assert_int_equal(vclock_ns_to_ticks(ns, pit), k);
        if (ns > 0)
            assert_true(vclock_ns_to_ticks(ns - 1, pit) < k);
    }
    /* No overflow for large times (a year of ns at 3.579545 MHz, ACPI PM). */
    int64_t year = 365LL * 24 * 3600 * 1000000000LL;
    assert_int_equal(vclock_ns_to_ticks(year, 3579545), 365ULL * 24 * 3600 * 3579545);
    assert_int_equal(vclock_ticks_to_ns(365ULL * 24 * 3600 * 3579545, 3579545), year);
    /* 2^62 ns at 1 GHz-class clocks still exact, saturation at the end. */
    assert_int_equal(vclock_ns_to_ticks(INT64_MAX, 1000000000), (uint64_t)INT64_MAX);
    assert_int_equal(vclock_ticks_to_ns(UINT64_MAX, 1), INT64_MAX);
    assert_int_equal(vclock_ticks_to_ns(5, 0), INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_icount_time),
        cmocka_unit_test(test_timer_order_and_ties),
        cmocka_unit_test(test_callbacks_modify_timers),
        cmocka_unit_test(test_self_rearm_at_now_does_not_hang),
        cmocka_unit_test(test_kick_on_earlier_deadline),
        cmocka_unit_test(test_idle_warps_in_icount),
        cmocka_unit_test(test_host_mode_pause),
        cmocka_unit_test(test_ns_ticks_conversion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
