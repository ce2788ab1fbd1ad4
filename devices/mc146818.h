/*
 * mc146818.h - Motorola MC146818A real-time clock and 128 bytes of CMOS RAM,
 * at ISA ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data), IRQ 8.
 *
 * Time is not ticked: the clock registers are computed on access from the
 * virtual clock plus a base date (host wall time, or a fixed date for
 * deterministic runs) plus whatever offset the guest sets.  A VTimer is armed
 * only while an interrupt source (PIE/AIE/UIE) is enabled and IRQF is clear;
 * REG_C flags are otherwise derived lazily when REG_C is read.
 *
 * Source: Motorola MC146818A datasheet (registers A-D, update cycle,
 * periodic rates table), Dallas DS12887 datasheet for the PC century byte.
 */
#ifndef VESSEL_DEVICES_MC146818_H
#define VESSEL_DEVICES_MC146818_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/state.h"
#include "devices/vclock.h"

/* Register indices (datasheet "address map"). */
#define RTC_SECONDS        0x00
#define RTC_SECONDS_ALARM  0x01
#define RTC_MINUTES        0x02
#define RTC_MINUTES_ALARM  0x03
#define RTC_HOURS          0x04
#define RTC_HOURS_ALARM    0x05
#define RTC_DAY_OF_WEEK    0x06
#define RTC_DAY_OF_MONTH   0x07
#define RTC_MONTH          0x08
#define RTC_YEAR           0x09
#define RTC_REG_A          0x0A
#define RTC_REG_B          0x0B
#define RTC_REG_C          0x0C
#define RTC_REG_D          0x0D
#define RTC_CENTURY        0x32 /* IBM PC/AT convention, not in the chip */

#define REG_A_UIP   0x80 /* update in progress (read only) */
#define REG_A_DV    0x70 /* divider select: 010 = 32.768 kHz time base */
#define REG_A_RS    0x0F /* periodic rate select */
#define REG_B_SET   0x80 /* halt updates, allow setting the time */
#define REG_B_PIE   0x40 /* periodic interrupt enable */
#define REG_B_AIE   0x20 /* alarm interrupt enable */
#define REG_B_UIE   0x10 /* update-ended interrupt enable */
#define REG_B_SQWE  0x08 /* square wave enable (no pin here) */
#define REG_B_DM    0x04 /* 1 = binary, 0 = BCD */
#define REG_B_24H   0x02 /* 1 = 24-hour mode */
#define REG_B_DSE   0x01 /* daylight savings enable (ignored) */
#define REG_C_IRQF  0x80
#define REG_C_PF    0x40
#define REG_C_AF    0x20
#define REG_C_UF    0x10
#define REG_D_VRT   0x80 /* valid RAM and time */

typedef struct Mc146818 Mc146818;

/**
 * Create the RTC, register ports 0x70-0x71 on bus (may be NULL for a
 * detached device) and set the clock to base_unix_time (seconds since
 * 1970-01-01 00:00:00, taken as local time) at the current virtual time.
 * irq8 is driven high while REG_C IRQF is set.  Initial REG_A = 0x26,
 * REG_B = 0x02 (BCD, 24 h), REG_D = 0x80, other CMOS bytes 0.
 * Returns NULL on allocation failure.
 */
Mc146818 *mc146818_new(IoBus *bus, VClock *clk, Irq irq8, int64_t base_unix_time);

/** Machine reset (RESET pin): clears PIE/AIE/UIE/SQWE and REG_C, lowers
 *  IRQ8. Time, date and CMOS contents are battery-backed and kept. */
void mc146818_reset(Mc146818 *s);

/** Free the device (disarms its timer). Ports stay registered on the bus. */
void mc146818_free(Mc146818 *s);

/** Port 0x70 bit 7 as last written: true while NMIs are masked. */
bool mc146818_nmi_masked(const Mc146818 *s);

/** Board access to CMOS bytes (index 0..127; others ignored / read 0xFF).
 *  Writes to 0x00-0x0D and 0x32 behave as guest writes (time, REG_A..D). */
void mc146818_set_cmos(Mc146818 *s, int index, uint8_t val);
uint8_t mc146818_get_cmos(Mc146818 *s, int index);

/** Current RTC time as seconds since 1970-01-01 (registers decoded, the
 *  same clock the guest reads; useful for tests and the monitor). */
int64_t mc146818_get_time(Mc146818 *s);

/** Snapshot table (section "mc146818"). */
extern const StateDesc mc146818_state;

#endif
