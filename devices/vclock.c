/*
 * vclock.c - the machine's virtual clock and its timers (see vclock.h).
 *
 * HOST mode:   now = host CLOCK_MONOTONIC - host_offset_ns, frozen while
 *              paused (resume adds the paused span to the offset).
 * ICOUNT mode: now = icount_base_ns + warp_ns
 *                    + ((icount_fn() - icount_base) << icount_shift).
 *              Every read folds the elapsed instructions into icount_base_ns
 *              and moves icount_base to the current count, so time stays
 *              monotonic even if the instruction counter is reset or goes
 *              backwards (time then simply stops until it advances again).
 *
 * Timers live on one singly linked list sorted by expiry (ties keep arming
 * order).  vclock_run_timers pops the head before calling its callback, so
 * a callback may re-arm or delete itself or any other timer.
 */
#define _POSIX_C_SOURCE 200809L
#include "devices/vclock.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "devices/state.h"

/* Bound on callbacks fired by one vclock_run_timers call: a timer that keeps
 * re-arming itself at or before "now" must not hang the machine loop.  Any
 * timers left due stay pending and fire on the next call. */
#define VCLOCK_MAX_FIRES_PER_RUN 100000

int64_t vclock_host_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * VCLOCK_NS_PER_SEC + ts.tv_nsec;
}

void vclock_init(VClock *c, VClockMode mode, int shift)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode == VCLOCK_ICOUNT ? VCLOCK_ICOUNT : VCLOCK_HOST;
    if (shift < 0)
        shift = 0;
    if (shift > 10)
        shift = 10;
    c->icount_shift = shift;
    c->paused_at_ns = -1;
    c->host_offset_ns = vclock_host_ns();
    c->timers = NULL;
}

int64_t vclock_now(VClock *c)
{
    if (c->mode == VCLOCK_HOST) {
        int64_t host = c->paused_at_ns >= 0 ? c->paused_at_ns : vclock_host_ns();
        int64_t now = host - c->host_offset_ns;
        return now < 0 ? 0 : now;
    }
    if (c->icount_fn) {
        uint64_t cur = c->icount_fn(c->icount_opaque);
        if (cur > c->icount_base) {
            uint64_t delta = cur - c->icount_base;
            int sh = c->icount_shift < 0 ? 0 : (c->icount_shift > 10 ? 10 : c->icount_shift);
            /* Saturate instead of overflowing (2^63 ns is ~292 years). */
            if (delta > ((uint64_t)INT64_MAX >> sh) ||
                (int64_t)(delta << sh) > INT64_MAX - c->icount_base_ns)
                c->icount_base_ns = INT64_MAX - (c->warp_ns > 0 ? c->warp_ns : 0);
            else
                c->icount_base_ns += (int64_t)(delta << sh);
        }
        c->icount_base = cur;
    }
    return c->icount_base_ns + c->warp_ns;
}

int64_t vclock_deadline(VClock *c)
{
    return c->timers ? c->timers->expire_ns : INT64_MAX;
}

/* Unlink t from the pending list (t must be pending). */
static void vtimer_unlink(VTimer *t)
{
    VClock *c = t->clock;
    for (VTimer **pp = &c->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    t->next = NULL;
    t->pending = false;
}

void vclock_run_timers(VClock *c)
{
    int64_t now = vclock_now(c);
    for (int n = 0; n < VCLOCK_MAX_FIRES_PER_RUN; n++) {
        VTimer *t = c->timers;
        if (!t || t->expire_ns > now)
            return;
        c->timers = t->next;
        t->next = NULL;
        t->pending = false;
        if (t->cb)
            t->cb(t->opaque);
        /* A callback may have advanced time (e.g. by reading icount). */
        now = vclock_now(c);
    }
}

void vclock_idle(VClock *c, int64_t max_sleep_ns)
{
    int64_t now = vclock_now(c);
    int64_t deadline = vclock_deadline(c);
    if (c->mode == VCLOCK_ICOUNT) {
        /* Nothing will ever happen by itself: advance by max_sleep_ns so
         * the machine loop still sees time pass (e.g. for host input). */
        int64_t gap = deadline == INT64_MAX ? max_sleep_ns : deadline - now;
        if (gap > 0 && gap <= INT64_MAX - now)
            c->warp_ns += gap;
        return;
    }
    int64_t sleep = max_sleep_ns;
    if (deadline != INT64_MAX && deadline - now < sleep)
        sleep = deadline - now;
    if (sleep <= 0)
        return;
    struct timespec ts = { .tv_sec = sleep / VCLOCK_NS_PER_SEC,
                           .tv_nsec = sleep % VCLOCK_NS_PER_SEC };
    /* EINTR (e.g. woken by the UI thread) just ends the idle early. */
    nanosleep(&ts, NULL);
}

void vclock_pause(VClock *c)
{
    if (c->mode == VCLOCK_HOST && c->paused_at_ns < 0)
        c->paused_at_ns = vclock_host_ns();
}

void vclock_resume(VClock *c)
{
    if (c->mode == VCLOCK_HOST && c->paused_at_ns >= 0) {
        c->host_offset_ns += vclock_host_ns() - c->paused_at_ns;
        c->paused_at_ns = -1;
    }
}

void vtimer_init(VTimer *t, VClock *c, void (*cb)(void *opaque), void *opaque)
{
    memset(t, 0, sizeof(*t));
    t->clock = c;
    t->cb = cb;
    t->opaque = opaque;
}

void vtimer_mod(VTimer *t, int64_t expire_ns)
{
    VClock *c = t->clock;
    if (!c)
        return;
    int64_t old_deadline = vclock_deadline(c);
    if (t->pending)
        vtimer_unlink(t);
    t->expire_ns = expire_ns;
    VTimer **pp = &c->timers;
    while (*pp && (*pp)->expire_ns <= expire_ns)
        pp = &(*pp)->next;
    t->next = *pp;
    *pp = t;
    t->pending = true;
    if (expire_ns < old_deadline && c->kick)
        c->kick(c->kick_opaque);
}

void vtimer_del(VTimer *t)
{
    if (t && t->clock && t->pending)
        vtimer_unlink(t);
}

/* floor(ns * hz / 1e9); 0 for negative ns; saturates at UINT64_MAX. */
uint64_t vclock_ns_to_ticks(int64_t ns, uint64_t hz)
{
    if (ns <= 0)
        return 0;
    unsigned __int128 t = (unsigned __int128)(uint64_t)ns * hz / VCLOCK_NS_PER_SEC;
    return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

/* ceil(ticks * 1e9 / hz): the first virtual ns at which
 * vclock_ns_to_ticks() reaches ticks, so a timer armed at
 * vclock_ticks_to_ns(k) sees exactly k ticks elapsed.  Saturates at
 * INT64_MAX; hz == 0 gives INT64_MAX. */
int64_t vclock_ticks_to_ns(uint64_t ticks, uint64_t hz)
{
    if (hz == 0)
        return ticks ? INT64_MAX : 0;
    unsigned __int128 n = (unsigned __int128)ticks * VCLOCK_NS_PER_SEC;
    unsigned __int128 q = (n + hz - 1) / hz;
    return q > (unsigned __int128)INT64_MAX ? INT64_MAX : (int64_t)q;
}

/* ---- snapshot section "vclock" ----
 *
 * The section holds one instant: the virtual time at the save, as
 * icount_base_ns + warp_ns.  pre_save folds the elapsed instructions into
 * icount_base_ns (ICOUNT mode, as every vclock_now() does) or, in HOST
 * mode, where those two fields are otherwise unused, stores the current
 * virtual time there; neither changes what vclock_now() returns.
 * post_load makes vclock_now() continue from that instant in whichever
 * mode the loading machine runs: ICOUNT rebases on the (already loaded)
 * CPU instruction counter, HOST recomputes the host offset (relative to
 * the pause instant when the clock is paused).  The mode, the shift and
 * the hooks are configuration, not state.  Pending timers are not saved
 * here: each device re-arms its own from its saved absolute expiry times
 * in its post_load (they run after this section). */

static void vclock_pre_save(void *opaque)
{
    VClock *c = opaque;
    int64_t now = vclock_now(c);
    if (c->mode == VCLOCK_HOST) {
        c->icount_base_ns = now;
        c->warp_ns = 0;
    }
}

static int vclock_post_load(void *opaque, char *err, size_t errlen)
{
    VClock *c = opaque;
    /* A machine runs for centuries before 2^62 ns: anything larger is a
     * damaged file, and the bound keeps every later sum far from overflow. */
    const int64_t max_ns = INT64_MAX / 4;
    if (c->icount_base_ns < 0 || c->warp_ns < 0 || c->icount_base_ns > max_ns ||
        c->warp_ns > max_ns - c->icount_base_ns) {
        if (err && errlen)
            snprintf(err, errlen,
                     "state section 'vclock' field 'icount_base_ns': virtual time %lld + %lld ns "
                     "out of range",
                     (long long)c->icount_base_ns, (long long)c->warp_ns);
        return -1;
    }
    int64_t now = c->icount_base_ns + c->warp_ns;
    if (c->mode == VCLOCK_ICOUNT) {
        c->icount_base = c->icount_fn ? c->icount_fn(c->icount_opaque) : 0;
    } else {
        int64_t host = c->paused_at_ns >= 0 ? c->paused_at_ns : vclock_host_ns();
        c->host_offset_ns = host - now;
    }
    return 0;
}

static const StateField vclock_fields[] = {
    ST_I64(icount_base_ns, VClock),
    ST_I64(warp_ns, VClock),
    ST_END,
};

const StateDesc vclock_state = {
    .name = "vclock",
    .version = 1,
    .min_version = 1,
    .fields = vclock_fields,
    .post_load = vclock_post_load,
    .pre_save = vclock_pre_save,
};
