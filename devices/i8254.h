/*
 * i8254.h - Intel 8254 programmable interval timer (ports 0x40-0x43) and the
 * PC/AT system control port B (port 0x61: gate 2, speaker data, refresh
 * toggle, OUT2), as integrated in the PIIX3.
 *
 * Clock input 1193182 Hz derived from the virtual clock; counters are
 * computed from elapsed virtual time, never ticked.  OUT0 drives irq0.
 * Gates 0 and 1 are tied high; gate 2 is port 0x61 bit 0.
 * Source: Intel 82C54 CHMOS Programmable Interval Timer datasheet (231244),
 * PIIX3 datasheet (290550) "NMI Status and Control Register".
 */
#ifndef VESSEL_DEVICES_I8254_H
#define VESSEL_DEVICES_I8254_H

#include <stdint.h>

#include "devices/bus.h"
#include "devices/state.h"
#include "devices/vclock.h"

/** Input clock of the three counters, Hz. */
#define I8254_HZ 1193182u

/** The refresh-request toggle on port 0x61 bit 4 flips every this many ns. */
#define I8254_REFRESH_NS 15085

/** Modes 2/3 with a period shorter than 4x this (counts 1-4) re-evaluate
 *  IRQ0 only every this many virtual ns, delivering missed rising edges as
 *  one coalesced pulse instead of a timer storm.  Counter values and OUT
 *  read back stay exact. */
#define I8254_MIN_IRQ_NS 1000

typedef struct I8254 I8254;

/** Create the PIT on bus (ports 0x40-0x43 and 0x61) timed by clk, with
 *  OUT0 driving irq0.  Returns NULL on allocation failure or a full bus. */
I8254 *i8254_new(IoBus *bus, VClock *clk, Irq irq0);

/** Reset: every counter in mode 3, binary, LSB/MSB, count 65536 (counting
 *  when its gate is high, as QEMU does); port 0x61 = 0 (gate 2 low). */
void i8254_reset(I8254 *s);

/** Stop the timer, unregister the ports and free. NULL is ignored. */
void i8254_free(I8254 *s);

/** Current OUT level (0/1) of counter channel (0-2); -1 for a bad channel. */
int i8254_get_out(I8254 *s, int channel);

/** Snapshot table (section "i8254").  post_load validates ranges (on
 *  rejection the PIT is reset), re-drives IRQ0 and re-arms the timer from
 *  the saved absolute tick times; restore the virtual clock before loading
 *  this section. */
extern const StateDesc i8254_state;

#endif
