/*
 * pc_internal.h - the PcMachine structure, shared by the board (pc.c) and
 * its snapshot glue (pc_state.c).  Private to devices/.
 */
#ifndef VESSEL_DEVICES_PC_INTERNAL_H
#define VESSEL_DEVICES_PC_INTERNAL_H

#include "cpu/cpu.h"
#include "devices/apic.h"
#include "devices/e1000.h"
#include "devices/bus.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/ide.h"
#include "devices/ioapic.h"
#include "devices/mc146818.h"
#include "devices/pc.h"
#include "devices/pci.h"
#include "devices/piix3.h"
#include "devices/piix4_pm.h"
#include "devices/uart16550.h"
#include "devices/vclock.h"
#include "devices/vga.h"
#include "mem/phys.h"

/** CPU state section (cpu/cpu_state.c) and the virtual clock's. */
extern const StateDesc cpu_state_desc;
extern const StateDesc vclock_state;

struct PcMachine {
    PcConfig cfg;
    PhysMem pm;
    IoBus io;
    VClock clk;
    X86Cpu *cpu;
    CpuHostOps cpu_ops;
    uint8_t *bios;          /* copy of the image */
    uint32_t bios_size;
    uint8_t *bios_low;      /* 128 KiB aliased below 1 MiB */
    I8259 *pic;
    I8254 *pit;
    Mc146818 *rtc;
    I8042 *kbc;
    Uart16550 *uart[2];
    PciBus *pci;
    I440fx *i440fx;
    Piix3 *piix3;
    Piix4Pm *pm_dev;
    FwCfg *fw_cfg;
    Apic *apic;             /* NULL with apic=off */
    Ioapic *ioapic;
    IdeController *ide;
    Vga *vga;
    E1000 *nic[PC_MAX_NICS];  /* pc_add_e1000 */
    int nnics;
    Irq isa_irq[16];
    volatile int exit_status;   /* -1 running */
    volatile int reset_requested;
    struct { void (*fn)(void *opaque); void *opaque; } poll[PC_MAX_POLL];
    int npoll;
    PcDebugHooks dbg;
    bool dbg_on;
    bool start_stopped;
    volatile int stop_requested;
    uint8_t last_post;
};

#endif
