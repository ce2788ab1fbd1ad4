/*
 * vclock.h - the one virtual clock of the machine, and timers on it.
 *
 * Every time source the guest sees (TSC, 8254 PIT, RTC, ACPI PM timer, APIC
 * timer) derives from vclock_now().  Two modes:
 *  - VCLOCK_HOST:   virtual ns follow the host's monotonic clock (minus the
 *                   time spent paused), so guest seconds are wall seconds.
 *  - VCLOCK_ICOUNT: virtual ns = instructions retired << shift, a pure
 *                   function of the instruction count (deterministic runs).
 *
 * Timers are callbacks at an absolute virtual time in ns.  They fire from
 * vclock_run_timers(), called by the machine loop between CPU slices; the
 * loop asks vclock_deadline() how far the CPU may run.
 */
#ifndef VESSEL_DEVICES_VCLOCK_H
#define VESSEL_DEVICES_VCLOCK_H

#include <stdbool.h>
#include <stdint.h>

#define VCLOCK_NS_PER_SEC 1000000000LL

typedef enum { VCLOCK_HOST = 0, VCLOCK_ICOUNT = 1 } VClockMode;

struct VClock;

/** A one-shot timer. Re-arm from the callback for periodic behaviour. */
typedef struct VTimer {
    int64_t expire_ns;          /**< absolute virtual time, ns */
    void (*cb)(void *opaque);
    void *opaque;
    struct VClock *clock;
    struct VTimer *next;        /**< sorted pending list */
    bool pending;
} VTimer;

/** The clock. Fields are private to vclock.c except where noted. */
typedef struct VClock {
    VClockMode mode;
    int icount_shift;            /**< ICOUNT: ns per instruction = 1 << shift */
    /** Instruction counter of the CPU (retired instructions). */
    uint64_t (*icount_fn)(void *opaque);
    void *icount_opaque;
    /** Called when a timer is armed earlier than the current deadline,
     *  so the CPU ends its slice at the next block boundary. */
    void (*kick)(void *opaque);
    void *kick_opaque;
    int64_t host_offset_ns;      /**< HOST: now = host_ns - offset */
    int64_t paused_at_ns;        /**< HOST: host time when paused, or -1 */
    int64_t icount_base_ns;      /**< ICOUNT: virtual ns at icount_base */
    uint64_t icount_base;        /**< ICOUNT: instruction count at base */
    int64_t warp_ns;             /**< ICOUNT: time skipped while halted */
    VTimer *timers;
} VClock;

/** Initialise a clock in mode; virtual time starts at 0. shift is only used
 *  in VCLOCK_ICOUNT mode (0..10; 1<<shift ns per instruction). */
void vclock_init(VClock *c, VClockMode mode, int shift);

/** Current virtual time in ns (monotonic, starts at 0). */
int64_t vclock_now(VClock *c);

/** Host monotonic time in ns (for HOST mode and for sleeping). */
int64_t vclock_host_ns(void);

/** Earliest pending timer expiry in virtual ns, or INT64_MAX if none. */
int64_t vclock_deadline(VClock *c);

/** Fire every timer whose expiry is <= now, in expiry order. */
void vclock_run_timers(VClock *c);

/** Idle (CPU halted): advance to the next deadline. HOST: sleeps the host
 *  thread up to max_sleep_ns; ICOUNT: warps virtual time forward. */
void vclock_idle(VClock *c, int64_t max_sleep_ns);

/** Pause/resume virtual time (HOST mode: time does not pass while paused). */
void vclock_pause(VClock *c);
void vclock_resume(VClock *c);

/** Set up a timer (not armed). */
void vtimer_init(VTimer *t, VClock *c, void (*cb)(void *opaque), void *opaque);

/** Arm (or re-arm) t to fire at absolute virtual time expire_ns. */
void vtimer_mod(VTimer *t, int64_t expire_ns);

/** Disarm t. Safe on an unarmed timer. */
void vtimer_del(VTimer *t);

/** Convert between virtual ns and ticks of a clock running at hz,
 *  without overflow for any 64-bit time a machine reaches (uses 128-bit). */
uint64_t vclock_ns_to_ticks(int64_t ns, uint64_t hz);
int64_t vclock_ticks_to_ns(uint64_t ticks, uint64_t hz);

#endif
