/*
 * apic.h - the local APIC of one P6-family CPU, as QEMU's pc machine has it
 * (Intel SDM vol. 3 ch. 10 "Advanced Programmable Interrupt Controller").
 *
 * The register page sits at the base held in IA32_APIC_BASE (MSR 0x1B,
 * default 0xFEE00000, BSP bit 8, global enable bit 11).  Registers are
 * 32-bit, 16-byte aligned.  The APIC timer counts at 1 GHz / divisor of the
 * virtual clock (QEMU's rate).  Inputs: LINT0 (the 8259's INTR, ExtINT at
 * reset as QEMU programs the BSP), LINT1 (NMI), messages from the I/O APIC
 * (apic_deliver) and self IPIs through the ICR.  Output: the CPU's INTR pin
 * (set_intr callback) and an optional NMI callback.
 */
#ifndef VESSEL_DEVICES_APIC_H
#define VESSEL_DEVICES_APIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/state.h"
#include "devices/vclock.h"
#include "mem/phys.h"

#define APIC_MSR_BASE 0x1Bu                  /**< IA32_APIC_BASE */
#define APIC_BASE_DEFAULT 0xFEE00000u
#define APIC_BASE_BSP (1u << 8)              /**< IA32_APIC_BASE.BSP */
#define APIC_BASE_ENABLE (1u << 11)          /**< IA32_APIC_BASE.EN (global) */
#define APIC_BASE_ADDR_MASK 0xFFFFF000u      /**< 32-bit physical addresses */
#define APIC_VERSION 0x00050014u             /**< version 0x14, max LVT 5 (QEMU) */
#define APIC_TIMER_HZ 1000000000ull          /**< timer input clock (QEMU: 1 GHz) */

/** Delivery modes (ICR and LVT bits 10:8, SDM 10.5.1 / 10.6.1). */
enum {
    APIC_DM_FIXED = 0, APIC_DM_LOWPRI = 1, APIC_DM_SMI = 2,
    APIC_DM_NMI = 4, APIC_DM_INIT = 5, APIC_DM_STARTUP = 6, APIC_DM_EXTINT = 7,
};

/** LVT indices (registers 0x320 + 0x10 * n). */
enum {
    APIC_LVT_TIMER = 0, APIC_LVT_THERMAL, APIC_LVT_PERF,
    APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_ERROR, APIC_LVT_NB
};

/** The local APIC.  Treat as opaque outside apic.c. */
typedef struct Apic {
    /* --- saved state (register names from SDM table 10-1) --- */
    uint64_t apicbase;          /**< IA32_APIC_BASE MSR */
    uint32_t id;                /**< APIC ID register (ID in bits 31:24) */
    uint32_t tpr;               /**< task priority register (bits 7:0) */
    uint32_t ldr;               /**< logical destination register */
    uint32_t dfr;               /**< destination format register */
    uint32_t svr;               /**< spurious interrupt vector register */
    uint32_t isr[8], tmr[8], irr[8]; /**< in-service, trigger mode, request */
    uint32_t esr;               /**< error status (latched on ESR write) */
    uint32_t esr_pending;       /**< errors collected since the last ESR write */
    uint32_t icr[2];            /**< interrupt command register low/high */
    uint32_t lvt[APIC_LVT_NB];  /**< local vector table */
    uint32_t initial_count;     /**< timer initial count register */
    uint32_t divide_conf;       /**< timer divide configuration register */
    int64_t count_load_ns;      /**< virtual ns when the count was loaded */
    int64_t next_ns;            /**< next timer expiry not yet run, or -1 */
    uint8_t lint_level;         /**< bit n: level on the LINTn pin */
    /* --- derived / wiring, not saved --- */
    bool intr_out;              /**< level driven on set_intr */
    bool mapped;                /**< MMIO page installed at map_base */
    uint32_t map_base;
    uint8_t *saved_rd, *saved_wr; /**< RAM/ROM page the register page hides */
    PhysMem *pm;
    VClock *clk;
    VTimer timer;
    void (*set_intr)(void *opaque, int level);
    void *opaque;
    void (*nmi)(void *opaque);  /**< NMI to the CPU (LINT1, ICR), optional */
    void *nmi_opaque;
    void (*eoi)(void *opaque, int vector); /**< level EOI broadcast, optional */
    void *eoi_opaque;
} Apic;

/** Create the BSP's local APIC: maps the page at 0xFEE00000 on pm (if pm is
 *  non-NULL), drives set_intr(opaque, level) for the CPU's INTR pin.
 *  Returns NULL on allocation failure or a full MMIO table. */
Apic *apic_new(PhysMem *pm, VClock *clk, void (*set_intr)(void *opaque, int level),
               void *opaque);

/** Unmap and free. NULL is ignored. */
void apic_free(Apic *s);

/** Power-on/RESET state (SDM 10.4.7.1 + QEMU's BSP LINT0 = ExtINT):
 *  base 0xFEE00000 | BSP | EN, SVR 0xFF, LVTs masked except LINT0 0x700. */
void apic_reset(Apic *s);

/** Route level-triggered EOIs (vector) to the I/O APIC (ioapic_eoi). */
void apic_set_eoi_cb(Apic *s, void (*eoi)(void *opaque, int vector), void *opaque);

/** Route NMIs (LINT1 in NMI mode, NMI IPIs to self) to the CPU. */
void apic_set_nmi_cb(Apic *s, void (*nmi)(void *opaque), void *opaque);

/** CPU interrupt-acknowledge cycle.  Returns the vector to take (IRR->ISR),
 *  the spurious vector if the request vanished, or -1 meaning "ExtINT or
 *  APIC off: run the 8259's INTA" (i8259_intack). */
int apic_intack(Apic *s);

/** LINT0/LINT1 pin level (lint 0/1, level 0/1); other lint ignored.
 *  Also usable for the 8259 INTR: apic_set_lint(s, 0, level). */
void apic_set_lint(Apic *s, int lint, int level);

/** Irq.set adapter: n = LINT number. */
void apic_lint_irq(void *opaque, int n, int level);

/** An interrupt message (from the I/O APIC): vector 0-255, trigger_level
 *  1 = level (sets TMR), delivery_mode APIC_DM_*.  INIT/SIPI/SMI ignored. */
void apic_deliver(Apic *s, int vector, int trigger_level, int delivery_mode);

/** IA32_APIC_BASE access.  Returns 0 (rdmsr always works; wrmsr returns -1,
 *  meaning #GP, for reserved bits: anything but 8, 11, 12-31). */
int apic_msr_read(Apic *s, uint64_t *val);
int apic_msr_write(Apic *s, uint64_t val);

/** Globally enabled (IA32_APIC_BASE.EN). */
bool apic_enabled(Apic *s);

/** Level currently driven on the CPU's INTR pin. */
bool apic_intr_pending(Apic *s);

/** Human-readable state, like QEMU's "info lapic" (NUL-terminated). */
void apic_info(Apic *s, char *buf, size_t len);

/** Register page access for tests and debuggers (off 0..0xFFF, size 1/2/4);
 *  the same path as guest MMIO. */
uint32_t apic_mmio_read(void *opaque, uint32_t off, unsigned size);
void apic_mmio_write(void *opaque, uint32_t off, uint32_t val, unsigned size);

/** Snapshot table (section "apic"); post_load validates, re-maps the page
 *  and re-arms the timer. */
extern const StateDesc apic_state;

#endif
