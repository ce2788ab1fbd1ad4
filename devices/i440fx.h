/*
 * i440fx.h - Intel 82441FX PCI and Memory Controller (host bridge) at
 * 00:00.0, 8086:1237 rev 2, class 0600.
 *
 * Source: Intel 440FX PCIset datasheet (82441FX PMC), 3.2.20 PAM[6:0]
 * (0x59-0x5F), 3.2.23 SMRAM (0x72).  The configuration mechanism itself is
 * pci.c; the reset control register 0xCF9 is piix3.c.
 *
 * PAM: 13 segments of 0xC0000-0xFFFFF.  0x59 bits 5:4 cover 0xF0000-0xFFFFF
 * (64 KiB); 0x5A-0x5F cover two 16 KiB segments each from 0xC0000 up, low
 * nibble first.  Per segment, bit 0 = RE (reads go to DRAM), bit 1 = WE
 * (writes go to DRAM); otherwise accesses go to the ROM side: for
 * 0xE0000-0xFFFFF the BIOS alias (read-only), for 0xC0000-0xDFFFF an
 * optional board-supplied ROM image or nothing (all ones).
 */
#ifndef VESSEL_DEVICES_I440FX_H
#define VESSEL_DEVICES_I440FX_H

#include <stdint.h>

#include "devices/pci.h"
#include "devices/state.h"
#include "mem/phys.h"

#define I440FX_PAM0   0x59
#define I440FX_NPAM   7
#define I440FX_SMRAM  0x72
#define I440FX_NSEG   13

/** The host bridge. */
typedef struct I440fx {
    PciDevice pci;            /**< config space: the saved state */
    PhysMem *pm;
    uint8_t *bios_low;        /**< host ptr of the BIOS image's last 128 KiB */
    uint8_t *isa_rom;         /**< host ptr for 0xC0000-0xDFFFF ROM side, or NULL */
    int8_t applied[I440FX_NSEG]; /**< derived: PAM mode programmed per segment, -1 = none */
} I440fx;

/** Create the host bridge at 00:00.0 on bus and program PAM (all ROM).
 *  bios_low128k: host pointer to the last 128 KiB of the BIOS image
 *  (mapped read-only at 0xE0000-0xFFFFF on the ROM side).  NULL on failure. */
I440fx *i440fx_new(PciBus *bus, PhysMem *pm, uint8_t *bios_low128k);

/** Optional ROM side for 0xC0000-0xDFFFF (128 KiB, read-only; NULL = none). */
void i440fx_set_isa_rom(I440fx *s, uint8_t *c0000_128k);

/** Hard reset: PAM0-6 = 0, SMRAM = 0x02; memory map reprogrammed. */
void i440fx_reset(I440fx *s);

/** Detach from the bus and free. */
void i440fx_free(I440fx *s);

/** Snapshot: the configuration space; post_load reprograms PAM. */
extern const StateDesc i440fx_state;

#endif
