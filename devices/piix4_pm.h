/*
 * piix4_pm.h - Intel 82371AB PIIX4 function 3: power management (ACPI) at
 * 00:01.3, 8086:7113 rev 3, class 0680.
 *
 * Sources: Intel 82371AB PIIX4 datasheet 3.5 (function 3 configuration:
 * PMBA 0x40, DEVACTB 0x58-0x5B, PMREGMISC 0x80, SMBBA 0x90), 7.1 (power
 * management I/O registers: PMSTS/PMEN/PMCNTRL/PMTMR at PMBA+0/2/4/8);
 * ACPI 1.0b 4.7.3 (PM1 event/control bits, PM timer 3.579545 MHz, 24-bit,
 * TMR_STS on bit 23 toggle); QEMU hw/acpi/piix4.c (APM 0xB2 ACPI
 * enable/disable, GPE0 at 0xAFE0, PCI hotplug at 0xAE00, CPU hotplug
 * bitmap at 0xAF00, config 0x5B = 0x02 APMC_EN so SeaBIOS skips SMM).
 *
 * SCI: level = PM1_CNT.SCI_EN and ((PM1_STS & PM1_EN) or (GPE0_STS &
 * GPE0_EN)), on a dedicated Irq (the board wires it to ISA IRQ 9; the
 * function's INTA# is not used).  SLP_EN with SLP_TYP = 0 (the _S5 value
 * of SeaBIOS's and QEMU's PIIX4 DSDT) calls the poweroff hook.
 */
#ifndef VESSEL_DEVICES_PIIX4_PM_H
#define VESSEL_DEVICES_PIIX4_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "devices/vclock.h"

#define PIIX4_PM_TIMER_HZ 3579545u
#define PIIX4_PM_IO_SIZE  64

/* PM1_STS / PM1_EN bits (ACPI 4.7.3.1). */
#define PM1_TMR_STS     0x0001
#define PM1_BM_STS      0x0010
#define PM1_GBL_STS     0x0020
#define PM1_PWRBTN_STS  0x0100
#define PM1_RTC_STS     0x0400
#define PM1_WAK_STS     0x8000
#define PM1_TMR_EN      0x0001
#define PM1_GBL_EN      0x0020
#define PM1_PWRBTN_EN   0x0100
#define PM1_RTC_EN      0x0400
/* PM1_CNT bits (ACPI 4.7.3.2). */
#define PM1_SCI_EN      0x0001
#define PM1_BM_RLD      0x0002
#define PM1_GBL_RLS     0x0004
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_TYP     0x1C00
#define PM1_SLP_EN      0x2000

#define PIIX4_APM_CNT   0xB2
#define PIIX4_APM_STS   0xB3
#define PIIX4_ACPI_ENABLE  0xF1
#define PIIX4_ACPI_DISABLE 0xF0
#define PIIX4_GPE0_BASE 0xAFE0
#define PIIX4_PCIHP_BASE 0xAE00
#define PIIX4_CPUHP_BASE 0xAF00

/** The PM function. */
typedef struct Piix4Pm {
    PciDevice pci;              /**< config space */
    IoBus *io;
    VClock *clk;
    Irq sci;
    void (*poweroff)(void *opaque);
    void *opaque;
    uint16_t pm1_sts;           /**< PM1a_STS (PMSTS) */
    uint16_t pm1_en;            /**< PM1a_EN (PMEN) */
    uint16_t pm1_cnt;           /**< PM1a_CNT (PMCNTRL), SLP_EN not stored */
    uint16_t gpe0_sts;          /**< GPE0_STS at 0xAFE0 */
    uint16_t gpe0_en;           /**< GPE0_EN at 0xAFE2 */
    uint8_t apmc;               /**< APM control port 0xB2 */
    uint8_t apms;               /**< APM status port 0xB3 */
    uint8_t sci_level;          /**< level driven on sci */
    int64_t tmr_overflow_ns;    /**< virtual time of the next PM timer bit-23 toggle */
    uint32_t cpu_present;       /**< CPU hotplug bitmap at 0xAF00 (config) */
    VTimer tmr_timer;           /**< fires at tmr_overflow_ns while TMR_EN */
    bool io_mapped;             /**< derived: PM I/O block decoded */
    uint16_t io_base;           /**< derived: its base */
} Piix4Pm;

/**
 * Create the PM function at 00:01.3.  Registers APM ports 0xB2/0xB3, GPE0
 * (0xAFE0, 4 bytes) and the QEMU hotplug stubs (0xAE00, 0xAF00) on io; the
 * 64-byte PM block appears at PMBA once PMREGMISC bit 0 is set.  sci is
 * the SCI line, poweroff(opaque) is called on an S5 request (from inside
 * the guest's I/O write: it should only schedule the power-off).
 * NULL on failure.
 */
Piix4Pm *piix4_pm_new(PciBus *bus, IoBus *io, VClock *clk, Irq sci,
                      void (*poweroff)(void *), void *opaque);

/** Reset: config defaults (PMBA 0x0001 disabled, 0x5B = 0x02, 0x3C = 9,
 *  0x3D = 1), PM1/GPE registers 0, SCI low. */
void piix4_pm_reset(Piix4Pm *s);

/** Unregister and free. */
void piix4_pm_free(Piix4Pm *s);

/** Press the power button: sets PWRBTN_STS, raising SCI if enabled. */
void piix4_pm_power_button(Piix4Pm *s);

/** Set the number of CPUs reported present at 0xAF00 (1..32). */
void piix4_pm_set_cpus(Piix4Pm *s, int n);

/** Current 24-bit PM timer value (PMTMR). */
uint32_t piix4_pm_timer(Piix4Pm *s);

/** Snapshot: config, PM1/GPE/APM registers, next timer toggle time. */
extern const StateDesc piix4_pm_state;

#endif
