/*
 * piix3.h - Intel 82371SB PIIX3 function 0: PCI-to-ISA bridge at 00:01.0,
 * 8086:7000, class 0601, header type 0x80 (multi-function).
 *
 * Source: Intel 82371FB/82371SB (PIIX/PIIX3) datasheet: 2.2 PCI configuration
 * registers (reset values), 2.2.14 PIRQRC[A:D] (0x60-0x63), 2.3.x RC reset
 * control register (port 0xCF9); System Control Port A (0x92, IBM PS/2).
 *
 * Interrupt routing: PCI INTx of slot s, pin p (1..4) reaches PIRQ
 * (p - 1 + s - 1) & 3 (QEMU's pci_slot_get_pirq swizzle, matching
 * SeaBIOS's $PIR and DSDT _PRT).  PIRQRC[n] bit 7 = routing disabled, bits
 * 3:0 = the ISA IRQ (3-7, 9-12, 14, 15; other values route nowhere).  PCI
 * interrupts are level-triggered and shareable: an ISA line is the OR of
 * every PIRQ routed to it, and each PIRQ is the OR of its devices (pci.c).
 */
#ifndef VESSEL_DEVICES_PIIX3_H
#define VESSEL_DEVICES_PIIX3_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/state.h"

#define PIIX3_PIRQRC 0x60   /* PIRQRC[A:D] at 0x60-0x63 */

/** PIIX3 function 0. */
typedef struct Piix3 {
    PciDevice pci;              /**< config space */
    IoBus *io;
    Irq isa_irq[16];            /**< PIC inputs for PIRQ routing */
    Irq a20;                    /**< A20 gate output of port 0x92 bit 1 */
    void (*reset)(void *opaque);
    void *opaque;
    uint8_t port92;             /**< System Control Port A: bit 0 ALT_RESET, bit 1 ALT_A20 */
    uint8_t rcr;                /**< Reset Control (0xCF9): bit 1 SRST kept */
    uint8_t pirq_level[4];      /**< level of PIRQA-D as driven by the PCI bus */
    uint8_t isa_level[16];      /**< level this chip drives on each ISA IRQ */
    uint8_t reset_hard;         /**< last reset request was a hard (system) reset */
} Piix3;

/**
 * Create PIIX3 function 0 at 00:01.0: installs the PIRQ routing on bus,
 * the 0xCF9 reset control register and port 0x92 on io.  isa_irq[16] are
 * the 8259 inputs (copied), a20 the A20 gate line, reset(opaque) requests a
 * machine reset (called from inside the guest's I/O access: it should only
 * schedule the reset).  NULL on failure.
 */
Piix3 *piix3_new(PciBus *bus, IoBus *io, const Irq isa_irq[16], Irq a20,
                 void (*reset)(void *), void *opaque);

/** Reset: datasheet defaults, PIRQRC = 0x80 (disabled), RC = 0,
 *  port 0x92 bit 0 cleared (A20 bit kept, as QEMU). */
void piix3_reset(Piix3 *s);

/** Unregister and free. */
void piix3_free(Piix3 *s);

/** True if the last reset request through 0xCF9 had SRST (bit 1) set. */
bool piix3_reset_is_hard(const Piix3 *s);

/** PCI swizzle used for bus routing: PIRQ index for devfn's pin (1..4), or -1. */
int piix3_map_irq(void *opaque, int devfn, int pin);

/** Snapshot: config, port 0x92, RC, PIRQ/ISA levels. */
extern const StateDesc piix3_state;

#endif
