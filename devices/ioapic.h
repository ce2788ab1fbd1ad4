/*
 * ioapic.h - Intel 82093AA I/O APIC (24 inputs) at 0xFEC00000, as in QEMU's
 * pc machine (version 0x11).
 *
 * Indirect registers through IOREGSEL (offset 0x00) and IOWIN (0x10):
 * 0x00 IOAPICID, 0x01 IOAPICVER (0x00170011), 0x02 IOAPICARB, 0x10-0x3F the
 * 24 64-bit redirection table entries (82093AA datasheet section 3).
 * Interrupts leave as messages (vector, trigger mode, delivery mode) to the
 * one local APIC through a callback; level-triggered ones set Remote IRR
 * until the local APIC's EOI (ioapic_eoi).
 */
#ifndef VESSEL_DEVICES_IOAPIC_H
#define VESSEL_DEVICES_IOAPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/state.h"
#include "mem/phys.h"

#define IOAPIC_BASE 0xFEC00000u
#define IOAPIC_NUM_PINS 24
#define IOAPIC_VERSION 0x00170011u      /**< max redirection entry 23, version 0x11 */

/** Delivery callback: vector 0-255, level_trig 1 = level, mode = the
 *  entry's delivery mode (APIC_DM_* values: 0 fixed, 1 lowest priority,
 *  2 SMI, 4 NMI, 5 INIT, 7 ExtINT). */
typedef void (*IoapicDeliverFn)(void *opaque, int vector, int level_trig, int mode);

/** The I/O APIC.  Treat as opaque outside ioapic.c. */
typedef struct Ioapic {
    /* --- saved state (datasheet register names) --- */
    uint8_t ioregsel;                   /**< IOREGSEL: selected register */
    uint32_t id;                        /**< IOAPICID (ID in bits 27:24) */
    uint32_t arb;                       /**< IOAPICARB (loaded from the ID) */
    uint64_t ioredtbl[IOAPIC_NUM_PINS]; /**< IOREDTBL0-23 */
    uint32_t irr;                       /**< pending requests (bit per pin) */
    uint32_t lines;                     /**< input pin levels */
    /* --- wiring, not saved --- */
    PhysMem *pm;
    bool mapped;
    IoapicDeliverFn deliver;
    void *opaque;
} Ioapic;

/** Create the I/O APIC, mapping its 4 KiB page at 0xFEC00000 on pm (pm may be
 *  NULL: tests call ioapic_mmio_read/write).  Returns NULL on allocation
 *  failure or a full MMIO table. */
Ioapic *ioapic_new(PhysMem *pm, IoapicDeliverFn deliver, void *opaque);

/** Unmap and free. NULL is ignored. */
void ioapic_free(Ioapic *s);

/** Reset: ID 0, every entry masked (bit 16), IOREGSEL 0; input levels kept. */
void ioapic_reset(Ioapic *s);

/** Input pin (0-23) to level (0/1); usable as Irq.set with opaque = the
 *  Ioapic.  Edge entries deliver on a rising edge while unmasked; level
 *  entries deliver while the pin is high and Remote IRR is clear.
 *  Polarity (bit 13) is stored but not applied, as in QEMU: inputs are
 *  active high.  Out-of-range pins are ignored. */
void ioapic_set_irq(void *opaque, int pin, int level);

/** EOI broadcast from the local APIC for vector: clears Remote IRR of the
 *  level entries with that vector and re-delivers still-asserted pins. */
void ioapic_eoi(Ioapic *s, int vector);

/** Adapter with the apic_set_eoi_cb signature (opaque = the Ioapic). */
void ioapic_eoi_cb(void *opaque, int vector);

/** MMIO (off within the 4 KiB page, decoded modulo 0x100 as QEMU; size 1/2/4). */
uint32_t ioapic_mmio_read(void *opaque, uint32_t off, unsigned size);
void ioapic_mmio_write(void *opaque, uint32_t off, uint32_t val, unsigned size);

/** Human-readable state, like QEMU's "info pic" for the I/O APIC. */
void ioapic_info(Ioapic *s, char *buf, size_t len);

/** Snapshot table (section "ioapic"); post_load validates ranges. */
extern const StateDesc ioapic_state;

#endif
