/*
 * i8259.h - the PC/AT pair of Intel 8259A programmable interrupt controllers
 * with the PIIX3 ELCR (edge/level control) registers.
 *
 * Ports: master 0x20/0x21, slave 0xA0/0xA1 (cascaded on master IR2),
 * ELCR1/ELCR2 at 0x4D0/0x4D1 (Intel 82371SB PIIX3 datasheet 2.6.x).
 * Sources: Intel 8259A datasheet (231468), PIIX3 datasheet (290550).
 */
#ifndef VESSEL_DEVICES_I8259_H
#define VESSEL_DEVICES_I8259_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/state.h"

/** One 8259A chip.  Field names follow the datasheet. */
typedef struct I8259Chip {
    uint8_t irr;            /**< interrupt request register */
    uint8_t isr;            /**< in-service register */
    uint8_t imr;            /**< interrupt mask register (OCW1) */
    uint8_t lines;          /**< current IR input levels (edge detector) */
    uint8_t elcr;           /**< PIIX3 ELCR: 1 = level-triggered input */
    uint8_t elcr_mask;      /**< writable ELCR bits (fixed per chip) */
    uint8_t vector_base;    /**< ICW2 T7-T3 (bits 7..3) */
    uint8_t icw3;           /**< ICW3 as written (slave mask / slave id) */
    uint8_t priority_add;   /**< IR with highest priority (rotation base) */
    uint8_t init_state;     /**< 0 ready, 1/2/3 = expecting ICW2/ICW3/ICW4 */
    bool icw4_needed;       /**< ICW1 IC4 */
    bool single;            /**< ICW1 SNGL */
    bool ltim;              /**< ICW1 LTIM: all inputs level-triggered */
    bool upm;               /**< ICW4 uPM (8086 mode) */
    bool aeoi;              /**< ICW4 AEOI */
    bool sfnm;              /**< ICW4 SFNM (special fully nested mode) */
    bool buffered;          /**< ICW4 BUF (stored only) */
    bool rotate_aeoi;       /**< OCW2 rotate in automatic EOI mode */
    bool read_isr;          /**< OCW3 RR/RIS: read ISR (else IRR) */
    bool poll;              /**< OCW3 P: next read is a poll */
    bool special_mask;      /**< OCW3 SMM */
    bool int_out;           /**< INT output level */
} I8259Chip;

/** The master/slave pair. Treat as opaque outside i8259.c. */
typedef struct I8259 {
    I8259Chip pic[2];       /**< [0] master, [1] slave */
    uint16_t ext_lines;     /**< levels driven by devices on IRQ 0-15 */
    Irq cpu_intr;           /**< master INT -> CPU INTR */
    bool intr_level;        /**< last level driven on cpu_intr */
    IoBus *bus;
} I8259;

/** Create the pair and register ports 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1.
 *  Returns NULL on allocation failure or a full bus. */
I8259 *i8259_new(IoBus *bus, Irq cpu_intr);

/** Unregister the ports and free. NULL is ignored. */
void i8259_free(I8259 *s);

/** Hardware reset: uninitialised chips (vectors 0), IMR/IRR/ISR/ELCR 0. */
void i8259_reset(I8259 *s);

/** IRQ input: drive ISA IRQ irq (0-15) to level (0/1); usable as Irq.set
 *  with opaque = the I8259.  Out-of-range irq is ignored.  IRQ 2 is the
 *  cascade input and is ORed with the slave's INT output. */
void i8259_set_irq(void *pic, int irq, int level);

/** The CPU's interrupt acknowledge cycle: returns the vector (0-255),
 *  updating ISR/IRR of master and slave (cascade on IR2).  With no
 *  request pending, returns the spurious vector base+7 (IRQ 7 or 15). */
int i8259_intack(I8259 *s);

/** True when the master's INT output (CPU INTR) is asserted. */
bool i8259_intr_pending(I8259 *s);

/** Human-readable state, like QEMU's "info pic", into buf (NUL-terminated). */
void i8259_get_info(I8259 *s, char *buf, size_t len);

/** Snapshot table (section "i8259"); post_load validates ranges (on
 *  rejection the pair is reset) and re-drives the cascade and CPU INTR. */
extern const StateDesc i8259_state;

#endif
