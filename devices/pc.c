/*
 * pc.c - the PC board (QEMU's "pc": i440FX host bridge, PIIX3 south bridge,
 * PIIX4-style ACPI PM), wired in pc_new(), and the machine's main loop.
 *
 * Memory map: RAM from 0 (hole 0xA0000-0xFFFFF), the BIOS image at
 * 4 GiB - size, its last 128 KiB aliased at 0xE0000 through the PAM
 * registers.  Ports: see pc_new().  References: QEMU hw/i386/pc.c,
 * pc_piix.c, x86.c; ../shared/docs/hardware-notes.md.
 */
#include "devices/pc.h"
#include "devices/pc_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cpu/cpu.h"
#include "devices/apic.h"
#include "devices/bus.h"
#include "devices/fw_cfg.h"
#include "devices/i440fx.h"
#include "devices/ide.h"
#include "devices/ioapic.h"
#include "devices/i8042.h"
#include "devices/i8254.h"
#include "devices/i8259.h"
#include "devices/mc146818.h"
#include "devices/pci.h"
#include "devices/piix3.h"
#include "devices/piix4_pm.h"
#include "devices/uart16550.h"
#include "devices/vclock.h"
#include "devices/vga.h"
#include "mem/phys.h"

#define TSC_HZ 1000000000ull /* the TSC counts virtual ns: 1 GHz */
#define PCI_DEVFN_IDE 0x09   /* 00:01.1 */
#define PCI_DEVFN_VGA 0x10   /* 00:02.0 */


static void pc_logf(PcMachine *pc, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (pc->cfg.log)
        pc->cfg.log(pc->cfg.log_opaque, line);
}

/* ---- CPU <-> board ---- */

static uint32_t cpu_io_read_cb(void *opaque, uint16_t port, unsigned size)
{
    PcMachine *pc = opaque;
    return iobus_read(&pc->io, port, size);
}

static void cpu_io_write_cb(void *opaque, uint16_t port, uint32_t val, unsigned size)
{
    PcMachine *pc = opaque;
    iobus_write(&pc->io, port, val, size);
}

static int cpu_intr_ack_cb(void *opaque)
{
    PcMachine *pc = opaque;
    if (pc->apic) {
        int v = apic_intack(pc->apic);
        if (v >= 0)
            return v;
    }
    return i8259_intack(pc->pic); /* ExtINT: the 8259 supplies the vector */
}

static int cpu_rdmsr_cb(void *opaque, uint32_t msr, uint64_t *val)
{
    PcMachine *pc = opaque;
    if (msr == 0x1B && pc->apic)
        return apic_msr_read(pc->apic, val);
    return -1;
}

static int cpu_wrmsr_cb(void *opaque, uint32_t msr, uint64_t val)
{
    PcMachine *pc = opaque;
    if (msr == 0x1B && pc->apic)
        return apic_msr_write(pc->apic, val);
    return -1;
}

static void apic_intr_out(void *opaque, int level)
{
    PcMachine *pc = opaque;
    cpu_set_intr(pc->cpu, level);
}

static void apic_nmi_out(void *opaque)
{
    PcMachine *pc = opaque;
    cpu_raise_nmi(pc->cpu);
}

static void ioapic_to_apic(void *opaque, int vector, int level_trig, int mode)
{
    PcMachine *pc = opaque;
    apic_deliver(pc->apic, vector, level_trig, mode);
}

static uint64_t cpu_tsc_cb(void *opaque)
{
    PcMachine *pc = opaque;
    return vclock_ns_to_ticks(vclock_now(&pc->clk), TSC_HZ);
}

static void cpu_trace_cb(void *opaque, uint32_t lin, const uint8_t *bytes, unsigned len, bool code32)
{
    PcMachine *pc = opaque;
    if (pc->cfg.trace)
        pc->cfg.trace(pc->cfg.trace_opaque, lin, bytes, len, code32);
}

static void cpu_log_cb(void *opaque, int category, const char *msg)
{
    pc_logf(opaque, "%s", msg);
}

static uint64_t clock_icount_cb(void *opaque)
{
    PcMachine *pc = opaque;
    return cpu_icount(pc->cpu);
}

static void clock_kick_cb(void *opaque)
{
    PcMachine *pc = opaque;
    if (pc->cpu)
        cpu_exit_request(pc->cpu);
}

static void cpu_intr_set(void *opaque, int n, int level)
{
    PcMachine *pc = opaque;
    cpu_set_intr(pc->cpu, level);
}

/* An ISA IRQ line goes to the 8259 pair and to the I/O APIC (IRQ0 on pin 2,
 * the others on their own number, as QEMU's pc wires them and as SeaBIOS's
 * MADT interrupt source override says). */
static void isa_irq_set(void *opaque, int n, int level)
{
    PcMachine *pc = opaque;
    i8259_set_irq(pc->pic, n, level);
    if (pc->ioapic)
        ioapic_set_irq(pc->ioapic, n == 0 ? 2 : n, level);
}

static void a20_set(void *opaque, int n, int level)
{
    PcMachine *pc = opaque;
    phys_set_a20(&pc->pm, level != 0);
}

static void reset_request(void *opaque)
{
    PcMachine *pc = opaque;
    pc->reset_requested = 1;
    cpu_exit_request(pc->cpu);
}

static void poweroff_request(void *opaque)
{
    pc_request_exit(opaque, PC_EXIT_POWEROFF);
}

/* ---- small ISA ports: debugcon, SeaBIOS log, POST, debug exit, stubs ---- */

static uint32_t debugcon_read(void *opaque, uint32_t off, unsigned size)
{
    return 0xE9; /* Bochs convention: lets the guest detect the port */
}

static void debugcon_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    const CharBackend *be = opaque;
    uint8_t b = (uint8_t)val;
    chardev_write(be, &b, 1);
}

static const IoOps debugcon_ops = { debugcon_read, debugcon_write, 1 };

static void post_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    PcMachine *pc = opaque;
    pc->last_post = (uint8_t)val;
    if (pc->cfg.log_mask & PC_LOG_POSTCODE)
        pc_logf(pc, "POST: 0x%02x", val & 0xFF);
}

static uint32_t post_read(void *opaque, uint32_t off, unsigned size)
{
    PcMachine *pc = opaque;
    return pc->last_post;
}

static const IoOps post_ops = { post_read, post_write, 1 };

static void debug_exit_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    PcMachine *pc = opaque;
    pc_request_exit(pc, (int)(((val << 1) | 1) & 0xFF));
}

static const IoOps debug_exit_ops = { NULL, debug_exit_write, 4 };

/* 8237 DMA controllers and page registers: accepted, read as 0 (SeaBIOS
 * only initialises them; no device of ours uses ISA DMA). */
static uint32_t dma_stub_read(void *opaque, uint32_t off, unsigned size) { return 0; }
static void dma_stub_write(void *opaque, uint32_t off, uint32_t val, unsigned size) {}
static const IoOps dma_stub_ops = { dma_stub_read, dma_stub_write, 1 };

/* Port 0xF0: clears the FPU error latch (IGNNE#); accepted. */
static void fpu_err_write(void *opaque, uint32_t off, uint32_t val, unsigned size) {}
static const IoOps fpu_err_ops = { NULL, fpu_err_write, 1 };

/* Ports of ISA devices this PC does not have (LPT, COM3/4, floppy, game
 * port): they read all ones, as an empty ISA bus does, without being logged
 * as unassigned, because firmware probes them on every boot. */
static uint32_t absent_read(void *opaque, uint32_t off, unsigned size) { return 0xFFFFFFFFu; }
static void absent_write(void *opaque, uint32_t off, uint32_t val, unsigned size) {}
static const IoOps absent_ops = { absent_read, absent_write, 4 };

static void unassigned_io(void *opaque, uint16_t port, unsigned size, bool is_write, uint32_t val)
{
    PcMachine *pc = opaque;
    if (pc->cfg.log_mask & PC_LOG_UNASSIGNED) {
        if (is_write)
            pc_logf(pc, "unassigned port write 0x%04x <- 0x%x (size %u)", port, val, size);
        else
            pc_logf(pc, "unassigned port read 0x%04x (size %u)", port, size);
    }
}

/* ---- CMOS contents a PC BIOS expects (QEMU hw/i386/pc.c pc_cmos_init) ---- */

static void cmos_init(PcMachine *pc)
{
    uint32_t ram = pc->cfg.ram_size;
    mc146818_set_cmos(pc->rtc, 0x10, 0x00);            /* no floppy drives */
    mc146818_set_cmos(pc->rtc, 0x14, 0x06);            /* FPU, PS/2 mouse, EGA/VGA */
    mc146818_set_cmos(pc->rtc, 0x15, 0x80);            /* base memory 640 KiB */
    mc146818_set_cmos(pc->rtc, 0x16, 0x02);
    uint32_t ext_kb = ram > 0x100000 ? (ram - 0x100000) / 1024 : 0;
    if (ext_kb > 0xFFFF)
        ext_kb = 0xFFFF;
    mc146818_set_cmos(pc->rtc, 0x17, (uint8_t)ext_kb);
    mc146818_set_cmos(pc->rtc, 0x18, (uint8_t)(ext_kb >> 8));
    mc146818_set_cmos(pc->rtc, 0x30, (uint8_t)ext_kb);
    mc146818_set_cmos(pc->rtc, 0x31, (uint8_t)(ext_kb >> 8));
    uint32_t above16 = ram > 0x1000000 ? (ram - 0x1000000) / 65536 : 0;
    if (above16 > 0xFFFF)
        above16 = 0xFFFF;
    mc146818_set_cmos(pc->rtc, 0x34, (uint8_t)above16);
    mc146818_set_cmos(pc->rtc, 0x35, (uint8_t)(above16 >> 8));
    mc146818_set_cmos(pc->rtc, 0x5B, 0);
    mc146818_set_cmos(pc->rtc, 0x5C, 0);
    mc146818_set_cmos(pc->rtc, 0x5D, 0);
    mc146818_set_cmos(pc->rtc, 0x5F, 0);               /* CPUs - 1 */
    /* Boot order (SeaBIOS boot.c): 0x3D low/high nibble = 1st/2nd device,
     * 0x38 high nibble = 3rd; 1 floppy, 2 disk, 3 CD-ROM, 4 network.
     * 0x38 bit 0: skip the floppy boot-signature check. */
    const char *order = pc->cfg.boot_order ? pc->cfg.boot_order : "cd";
    uint8_t code[3] = { 0, 0, 0 };
    for (int k = 0; k < 3 && order[k]; k++)
        code[k] = order[k] == 'a' ? 1 : order[k] == 'c' ? 2 : order[k] == 'd' ? 3 : order[k] == 'n' ? 4 : 0;
    mc146818_set_cmos(pc->rtc, 0x3D, (uint8_t)(code[0] | code[1] << 4));
    mc146818_set_cmos(pc->rtc, 0x38, (uint8_t)(code[2] << 4 | 0x01));
    /* ATA translation: LBA for every disk (2 bits per drive). */
    uint8_t xlat = 0;
    for (int d = 0; d < 4; d++)
        if (pc->cfg.drives[d] && !pc->cfg.drive_cdrom[d])
            xlat |= (uint8_t)(1 << (2 * d));
    mc146818_set_cmos(pc->rtc, 0x39, xlat);
}

/* ---- fw_cfg contents (QEMU hw/i386/fw_cfg.c, hw/nvram/fw_cfg.c) ---- */

static void fw_cfg_init(PcMachine *pc)
{
    FwCfg *f = pc->fw_cfg;
    fw_cfg_add_i64(f, 0x03, pc->cfg.ram_size);         /* FW_CFG_RAM_SIZE */
    fw_cfg_add_i16(f, 0x04, pc->cfg.nographic ? 1 : 0);/* FW_CFG_NOGRAPHIC */
    fw_cfg_add_i16(f, 0x05, 1);                        /* FW_CFG_NB_CPUS */
    fw_cfg_add_i16(f, 0x0E, 0);                        /* FW_CFG_BOOT_MENU */
    fw_cfg_add_i16(f, 0x0F, 1);                        /* FW_CFG_MAX_CPUS */
    /* FW_CFG_IRQ0_OVERRIDE: SeaBIOS's MADT says ISA IRQ0 is I/O APIC pin 2,
     * which is how the board wires it (isa_irq_set). */
    if (pc->apic)
        fw_cfg_add_i32(f, 0x8002, 1);
    /* etc/e820: {u64 addr, u64 len, u32 type}, little-endian. */
    uint8_t e820[20] = { 0 };
    uint64_t len = pc->cfg.ram_size;
    for (int k = 0; k < 8; k++)
        e820[8 + k] = (uint8_t)(len >> (8 * k));
    e820[16] = 1; /* E820_RAM */
    fw_cfg_add_file(f, "etc/e820", e820, sizeof(e820));
    /* Wait 1 s (not 60) before retrying after "No bootable device". */
    uint8_t wait[4] = { 0xE8, 0x03, 0, 0 };
    fw_cfg_add_file(f, "etc/boot-fail-wait", wait, sizeof(wait));
    /* The VGA BIOS as the PCI device's ROM file (SeaBIOS optionrooms.c looks
     * for "pciVVVV,DDDD.rom" before a ROM BAR). */
    if (pc->vga && pc->cfg.vgabios && pc->cfg.vgabios_size)
        fw_cfg_add_file(f, "pci1234,1111.rom", pc->cfg.vgabios, pc->cfg.vgabios_size);
}

/* ---- construction ---- */

PcMachine *pc_new(const PcConfig *cfg, char *err, size_t errlen)
{
    if (cfg->bios_size < 0x10000 || cfg->bios_size > 0x200000 || (cfg->bios_size & 0xFFFF)) {
        snprintf(err, errlen, "BIOS image must be 64 KiB to 2 MiB, a multiple of 64 KiB (got %zu bytes)",
                 cfg->bios_size);
        return NULL;
    }
    PcMachine *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pc->cfg = *cfg;
    pc->exit_status = -1;
    if (phys_init(&pc->pm, cfg->ram_size) < 0) {
        snprintf(err, errlen, "cannot allocate %u bytes of guest RAM", cfg->ram_size);
        free(pc);
        return NULL;
    }

    /* BIOS: at the top of 4 GiB, read-only; its last 128 KiB below 1 MiB. */
    pc->bios_size = (uint32_t)cfg->bios_size;
    pc->bios = malloc(pc->bios_size);
    pc->bios_low = malloc(0x20000);
    if (!pc->bios || !pc->bios_low) {
        snprintf(err, errlen, "out of memory");
        pc_free(pc);
        return NULL;
    }
    memcpy(pc->bios, cfg->bios, pc->bios_size);
    memset(pc->bios_low, 0xFF, 0x20000);
    uint32_t low = pc->bios_size < 0x20000 ? pc->bios_size : 0x20000;
    memcpy(pc->bios_low + 0x20000 - low, pc->bios + pc->bios_size - low, low);
    phys_map(&pc->pm, (uint32_t)(0x100000000ull - pc->bios_size), pc->bios_size, pc->bios, NULL);

    /* The clock and the CPU. */
    vclock_init(&pc->clk, cfg->icount ? VCLOCK_ICOUNT : VCLOCK_HOST, cfg->icount_shift);
    pc->clk.icount_fn = clock_icount_cb;
    pc->clk.icount_opaque = pc;
    pc->clk.kick = clock_kick_cb;
    pc->clk.kick_opaque = pc;
    pc->cpu_ops = (CpuHostOps){
        .io_read = cpu_io_read_cb,
        .io_write = cpu_io_write_cb,
        .intr_ack = cpu_intr_ack_cb,
        .read_tsc = cpu_tsc_cb,
        .rdmsr = cpu_rdmsr_cb,
        .wrmsr = cpu_wrmsr_cb,
        .log = cpu_log_cb,
        .trace_insn = cpu_trace_cb,
    };
    pc->cpu = cpu_new(&pc->pm, &pc->cpu_ops, pc);
    if (!pc->cpu) {
        snprintf(err, errlen, "out of memory");
        pc_free(pc);
        return NULL;
    }
    cpu_set_log_mask(pc->cpu, cfg->log_mask & 0xFF);
    cpu_set_apic_present(pc->cpu, cfg->apic);
    cpu_set_tcache_enabled(pc->cpu, cfg->tcache);

    /* The I/O bus and the ISA devices. */
    iobus_init(&pc->io);
    pc->io.unassigned = unassigned_io;
    pc->io.unassigned_opaque = pc;
    /* Interrupt controllers: the 8259 pair's INTR goes to the local APIC's
     * LINT0 (ExtINT) when there is one, else straight to the CPU. */
    if (cfg->apic) {
        pc->apic = apic_new(&pc->pm, &pc->clk, apic_intr_out, pc);
        pc->ioapic = pc->apic ? ioapic_new(&pc->pm, ioapic_to_apic, pc) : NULL;
        if (!pc->apic || !pc->ioapic) {
            snprintf(err, errlen, "out of memory building the machine");
            pc_free(pc);
            return NULL;
        }
        apic_set_nmi_cb(pc->apic, apic_nmi_out, pc);
        apic_set_eoi_cb(pc->apic, ioapic_eoi_cb, pc->ioapic);
        pc->pic = i8259_new(&pc->io, (Irq){ apic_lint_irq, pc->apic, 0 });
    } else {
        pc->pic = i8259_new(&pc->io, (Irq){ cpu_intr_set, pc, 0 });
    }
    for (int n = 0; n < 16; n++)
        pc->isa_irq[n] = (Irq){ isa_irq_set, pc, n };
    pc->pit = i8254_new(&pc->io, &pc->clk, pc->isa_irq[0]);
    pc->rtc = mc146818_new(&pc->io, &pc->clk, pc->isa_irq[8], cfg->rtc_base);
    Irq a20 = { a20_set, pc, 0 };
    pc->kbc = i8042_new(&pc->io, pc->isa_irq[1], pc->isa_irq[12], a20, reset_request, pc);
    if (cfg->serial[0].write)
        pc->uart[0] = uart16550_new(&pc->io, &pc->clk, 0x3F8, pc->isa_irq[4], cfg->serial[0]);
    if (cfg->serial[1].write)
        pc->uart[1] = uart16550_new(&pc->io, &pc->clk, 0x2F8, pc->isa_irq[3], cfg->serial[1]);

    /* PCI: host bridge, PIIX3 ISA bridge, PIIX4 PM. */
    pc->pci = pci_bus_new(&pc->io);
    pc->i440fx = i440fx_new(pc->pci, &pc->pm, pc->bios_low);
    pc->piix3 = piix3_new(pc->pci, &pc->io, pc->isa_irq, a20, reset_request, pc);
    pc->pm_dev = piix4_pm_new(pc->pci, &pc->io, &pc->clk, pc->isa_irq[9], poweroff_request, pc);
    pc->fw_cfg = fw_cfg_new(&pc->io);
    pc->ide = ide_new(pc->pci, PCI_DEVFN_IDE, &pc->io, &pc->pm, pc->isa_irq[14], pc->isa_irq[15]);
    if (cfg->vga)
        pc->vga = vga_new(pc->pci, PCI_DEVFN_VGA, &pc->io, &pc->pm, &pc->clk);
    if (!pc->ide || (cfg->vga && !pc->vga)) {
        snprintf(err, errlen, "out of memory building the machine");
        pc_free(pc);
        return NULL;
    }
    for (int d = 0; d < 4; d++) {
        if (!cfg->drives[d])
            continue;
        if (ide_attach(pc->ide, d / 2, d % 2, cfg->drives[d], cfg->drive_cdrom[d], err, errlen) < 0) {
            pc_free(pc);
            return NULL;
        }
    }
    if (!pc->pic || !pc->pit || !pc->rtc || !pc->kbc || !pc->pci || !pc->i440fx || !pc->piix3 ||
        !pc->pm_dev || !pc->fw_cfg || (cfg->serial[0].write && !pc->uart[0]) ||
        (cfg->serial[1].write && !pc->uart[1])) {
        snprintf(err, errlen, "out of memory building the machine");
        pc_free(pc);
        return NULL;
    }

    /* Small ports. */
    iobus_register(&pc->io, 0xE9, 1, &debugcon_ops, &pc->cfg.debugcon, "debugcon");
    iobus_register(&pc->io, 0x402, 1, &debugcon_ops, &pc->cfg.bios_log, "bios-log");
    iobus_register(&pc->io, 0x80, 1, &post_ops, pc, "post");
    iobus_register(&pc->io, 0x00, 0x10, &dma_stub_ops, pc, "dma1");
    iobus_register(&pc->io, 0x81, 0x0F, &dma_stub_ops, pc, "dma-page");
    iobus_register(&pc->io, 0xC0, 0x20, &dma_stub_ops, pc, "dma2");
    iobus_register(&pc->io, 0xF0, 1, &fpu_err_ops, pc, "fpu-err");
    static const struct { uint16_t base, len; } absent[] = {
        { 0x201, 1 },              /* game port */
        { 0x278, 8 }, { 0x378, 8 }, { 0x3BC, 4 }, /* LPT1-3 */
        { 0x2E8, 8 }, { 0x3E8, 8 }, /* COM4, COM3 */
        { 0x3F0, 6 }, { 0x3F7, 1 }, /* floppy controller */
    };
    for (size_t k = 0; k < sizeof(absent) / sizeof(absent[0]); k++)
        iobus_register(&pc->io, absent[k].base, absent[k].len, &absent_ops, pc, "absent");
    for (int n = 0; n < 2; n++)
        if (!pc->uart[n])
            iobus_register(&pc->io, n ? 0x2F8 : 0x3F8, 8, &absent_ops, pc, "absent");
    if (cfg->debug_exit_port >= 0)
        iobus_register(&pc->io, (uint16_t)cfg->debug_exit_port, (uint32_t)cfg->debug_exit_size,
                       &debug_exit_ops, pc, "isa-debug-exit");

    cmos_init(pc);
    fw_cfg_init(pc);
    return pc;
}

static void nic_log(void *opaque, const char *msg) { pc_logf(opaque, "%s", msg); }

E1000 *pc_add_e1000(PcMachine *pc, int devfn, const uint8_t mac[6], struct NetBackend *be,
                    const uint8_t *rom, size_t rom_size, char *err, size_t errlen)
{
    if (pc->nnics >= PC_MAX_NICS) {
        snprintf(err, errlen, "too many NICs (at most %d)", PC_MAX_NICS);
        return NULL;
    }
    E1000 *nic = e1000_new(pc->pci, devfn, &pc->pm, &pc->io, &pc->clk, mac, be);
    if (!nic) {
        snprintf(err, errlen, "cannot add the e1000 at %02x.%d (slot in use or out of memory)",
                 PCI_SLOT(devfn), PCI_FUNC(devfn));
        return NULL;
    }
    if (rom && rom_size && fw_cfg_add_file(pc->fw_cfg, "pci8086,100e.rom", rom, rom_size) < 0) {
        e1000_free(nic);
        snprintf(err, errlen, "cannot add the e1000 option ROM to fw_cfg");
        return NULL;
    }
    if (pc->cfg.log_mask & (CPU_LOG_UNIMP | CPU_LOG_GUEST_ERRORS)) {
        nic->log = nic_log;           /* unknown registers, DMA outside RAM */
        nic->log_opaque = pc;
    }
    pc->nic[pc->nnics++] = nic;
    return nic;
}

void pc_free(PcMachine *pc)
{
    if (!pc)
        return;
    for (int n = 0; n < pc->nnics; n++)
        e1000_free(pc->nic[n]);
    if (pc->vga)
        vga_free(pc->vga);
    if (pc->ide)
        ide_free(pc->ide);
    if (pc->fw_cfg)
        fw_cfg_free(pc->fw_cfg);
    if (pc->pm_dev)
        piix4_pm_free(pc->pm_dev);
    if (pc->piix3)
        piix3_free(pc->piix3);
    if (pc->i440fx)
        i440fx_free(pc->i440fx);
    if (pc->pci)
        pci_bus_free(pc->pci);
    for (int n = 0; n < 2; n++)
        if (pc->uart[n])
            uart16550_free(pc->uart[n]);
    if (pc->kbc)
        i8042_free(pc->kbc);
    if (pc->rtc)
        mc146818_free(pc->rtc);
    if (pc->pit)
        i8254_free(pc->pit);
    if (pc->pic)
        i8259_free(pc->pic);
    if (pc->ioapic)
        ioapic_free(pc->ioapic);
    if (pc->apic)
        apic_free(pc->apic);
    if (pc->cpu)
        cpu_free(pc->cpu);
    phys_free(&pc->pm);
    free(pc->bios);
    free(pc->bios_low);
    free(pc);
}

/* System reset: the CPU and every device to power-on state (PAM to ROM). */
static void pc_reset(PcMachine *pc)
{
    i440fx_reset(pc->i440fx);
    piix3_reset(pc->piix3);
    pci_bus_reset(pc->pci);
    i8259_reset(pc->pic);
    if (pc->apic) {
        apic_reset(pc->apic);
        ioapic_reset(pc->ioapic);
    }
    ide_reset(pc->ide);
    if (pc->vga)
        vga_reset(pc->vga);
    for (int n = 0; n < pc->nnics; n++)
        e1000_reset(pc->nic[n]);
    i8254_reset(pc->pit);
    i8042_reset(pc->kbc);
    for (int n = 0; n < 2; n++)
        if (pc->uart[n])
            uart16550_reset(pc->uart[n]);
    phys_set_a20(&pc->pm, true);
    cpu_reset(pc->cpu, true);
}

void pc_request_exit(PcMachine *pc, int status)
{
    pc->exit_status = status;
    if (pc->cpu)
        cpu_exit_request(pc->cpu);
}

size_t pc_serial_room(PcMachine *pc, int n)
{
    if (n < 0 || n > 1 || !pc->uart[n])
        return 0;
    return uart16550_can_receive(pc->uart[n]);
}

size_t pc_serial_input(PcMachine *pc, int n, const uint8_t *buf, size_t len)
{
    if (n < 0 || n > 1 || !pc->uart[n])
        return 0;
    size_t room = uart16550_can_receive(pc->uart[n]);
    if (len > room)
        len = room;
    if (len)
        uart16550_receive(pc->uart[n], buf, len);
    return len;
}

int pc_add_poll_hook(PcMachine *pc, void (*poll)(void *opaque), void *opaque)
{
    if (pc->npoll >= PC_MAX_POLL)
        return -1;
    pc->poll[pc->npoll].fn = poll;
    pc->poll[pc->npoll].opaque = opaque;
    pc->npoll++;
    return 0;
}

struct I8042 *pc_i8042(PcMachine *pc) { return pc->kbc; }
struct IdeController *pc_ide(PcMachine *pc) { return pc->ide; }
struct FwCfg *pc_fw_cfg(PcMachine *pc) { return pc->fw_cfg; }


uint64_t pc_icount(PcMachine *pc) { return cpu_icount(pc->cpu); }

void pc_set_debug_hooks(PcMachine *pc, const PcDebugHooks *hooks, bool start_stopped)
{
    pc->dbg_on = hooks != NULL;
    if (hooks)
        pc->dbg = *hooks;
    pc->start_stopped = hooks && start_stopped;
}

void pc_request_stop(PcMachine *pc)
{
    pc->stop_requested = 1;
    cpu_exit_request(pc->cpu);
}

X86Cpu *pc_cpu(PcMachine *pc) { return pc->cpu; }
struct Vga *pc_vga(PcMachine *pc) { return pc->vga; }
PhysMem *pc_phys(PcMachine *pc) { return &pc->pm; }

int pc_info(PcMachine *pc, const char *what, char *buf, size_t len)
{
    if (!len)
        return -1;
    buf[0] = 0;
    if (!strcmp(what, "pic")) {
        i8259_get_info(pc->pic, buf, len);
    } else if (!strcmp(what, "pci")) {
        pci_info(pc->pci, buf, len);
    } else if (!strcmp(what, "lapic") && pc->apic) {
        apic_info(pc->apic, buf, len);
    } else if (!strcmp(what, "ioapic") && pc->ioapic) {
        ioapic_info(pc->ioapic, buf, len);
    } else if (!strcmp(what, "status")) {
        snprintf(buf, len, "VM status: %s\n", pc->stop_requested ? "paused" : "running");
    } else {
        return -1;
    }
    return (int)strlen(buf);
}

void pc_system_reset(PcMachine *pc)
{
    pc->reset_requested = 1;
    cpu_exit_request(pc->cpu);
}

void pc_system_powerdown(PcMachine *pc) { piix4_pm_power_button(pc->pm_dev); }

/* Stop for the debugger: time stands still until stopped() returns. */
static void debug_stop(PcMachine *pc, int reason)
{
    pc->stop_requested = 0;
    if (!pc->dbg_on || !pc->dbg.stopped)
        return;
    vclock_pause(&pc->clk);
    pc->dbg.stopped(pc->dbg.opaque, reason);
    vclock_resume(&pc->clk);
}

uint32_t pc_io_read(PcMachine *pc, uint16_t port, unsigned size) { return iobus_read(&pc->io, port, size); }
void pc_io_write(PcMachine *pc, uint16_t port, uint32_t val, unsigned size) { iobus_write(&pc->io, port, val, size); }
void pc_run_timers(PcMachine *pc) { vclock_run_timers(&pc->clk); }

/* ---- main loop ---- */

static int pc_run_loop(PcMachine *pc);

#define HOST_SLICE_INSNS 200000u  /* at most ~0.2-2 ms of host time per slice */
#define POLL_INTERVAL_NS 1000000  /* front-end polling every 1 ms of host time */

/* The last blocks the CPU entered (linear addresses), into the log: on a
 * triple fault or an unexpected stop, what led there. */
static void log_history(PcMachine *pc)
{
    static uint32_t h[CPU_HISTORY];
    int n = cpu_history(pc->cpu, h, CPU_HISTORY);
    int first = n > 64 ? n - 64 : 0;
    pc_logf(pc, "last %d of %d recorded block entries (linear addresses, oldest first):", n - first, n);
    for (int k = first; k < n; k += 8) {
        char line[128];
        int len = 0;
        for (int j = k; j < n && j < k + 8; j++)
            len += snprintf(line + len, sizeof(line) - (size_t)len, " %08x", h[j]);
        pc_logf(pc, "%s", line);
    }
}

/* The machine state summary printed with -d exitstate: instruction count,
 * a CRC-32 of the CPU registers and of guest RAM.  Two deterministic runs
 * of the same guest must print the same line. */
static void log_exit_state(PcMachine *pc)
{
    if (!(pc->cfg.log_mask & PC_LOG_EXITSTATE))
        return;
    uint32_t regs[8 + 3 + 6 * 4];
    int n = 0;
    for (int r = 0; r < 8; r++)
        regs[n++] = cpu_get_reg(pc->cpu, r);
    regs[n++] = cpu_get_eip(pc->cpu);
    regs[n++] = cpu_get_eflags(pc->cpu);
    regs[n++] = cpu_get_cr(pc->cpu, 0);
    for (int sg = 0; sg < 6; sg++) {
        CpuSeg cs;
        cpu_get_seg(pc->cpu, sg, &cs);
        regs[n++] = cs.sel;
        regs[n++] = cs.base;
        regs[n++] = cs.limit;
        regs[n++] = cs.ar;
    }
    uLong rcrc = crc32(0L, (const Bytef *)regs, (uInt)sizeof(regs));
    uLong mcrc = crc32(0L, Z_NULL, 0);
    for (uint32_t off = 0; off < pc->pm.ram_size; off += 1u << 20) {
        uint32_t len = pc->pm.ram_size - off < (1u << 20) ? pc->pm.ram_size - off : (1u << 20);
        mcrc = crc32(mcrc, pc->pm.ram + off, len);
    }
    pc_logf(pc, "exitstate: icount=%llu cpu-crc=%08lx ram-crc=%08lx",
            (unsigned long long)cpu_icount(pc->cpu), rcrc, mcrc);
}

int pc_run(PcMachine *pc)
{
    int status = pc_run_loop(pc);
    log_exit_state(pc);
    return status;
}

static int pc_run_loop(PcMachine *pc)
{
    int64_t next_poll = vclock_host_ns();
    if (pc->start_stopped) {
        pc->start_stopped = false;
        debug_stop(pc, PC_STOP_START);
    }
    for (;;) {
        if (pc->exit_status >= 0)
            return pc->exit_status;
        if (pc->stop_requested) {
            debug_stop(pc, PC_STOP_REQUEST);
            continue;
        }
        if (pc->reset_requested) {
            pc->reset_requested = 0;
            if (pc->cfg.no_reboot)
                return PC_EXIT_POWEROFF;
            pc_logf(pc, "system reset");
            pc_reset(pc);
        }
        /* How far may the CPU run before the next timer? */
        int64_t now = vclock_now(&pc->clk);
        int64_t deadline = vclock_deadline(&pc->clk);
        uint64_t budget = HOST_SLICE_INSNS;
        if (pc->cfg.icount && deadline != INT64_MAX) {
            int64_t ns = deadline > now ? deadline - now : 0;
            uint64_t n = ((uint64_t)ns >> pc->cfg.icount_shift) + 1;
            budget = n < budget ? n : budget;
        }
        CpuExit r = cpu_run(pc->cpu, budget);
        vclock_run_timers(&pc->clk);
        if (r == CPU_EXIT_BREAKPOINT) {
            debug_stop(pc, PC_STOP_BREAKPOINT);
            continue;
        }
        if (r == CPU_EXIT_HALT) {
            if (!(cpu_get_eflags(pc->cpu) & 0x200)) {
                /* HLT with IF=0: only an NMI could wake it, and nothing here raises one. */
                CpuSeg cs;
                cpu_get_seg(pc->cpu, 1, &cs);
                fprintf(stderr, "vessel: guest stopped: HLT with interrupts disabled at %04x:%08x\n",
                        cs.sel, cpu_get_eip(pc->cpu));
                log_history(pc);
                return PC_EXIT_GUEST_STOPPED;
            }
            vclock_idle(&pc->clk, POLL_INTERVAL_NS);
            vclock_run_timers(&pc->clk);
        } else if (r == CPU_EXIT_TRIPLE_FAULT) {
            pc_logf(pc, "triple fault: %s", pc->cfg.no_reboot ? "stopping (-no-reboot)" : "resetting");
            log_history(pc);
            if (pc->cfg.no_reboot)
                return PC_EXIT_TRIPLE_FAULT;
            pc_reset(pc);
        }
        if (pc->npoll || pc->dbg_on) {
            int64_t h = vclock_host_ns();
            if (h >= next_poll) {
                next_poll = h + POLL_INTERVAL_NS;
                for (int k = 0; k < pc->npoll; k++)
                    pc->poll[k].fn(pc->poll[k].opaque);
                if (pc->dbg_on && pc->dbg.poll)
                    pc->dbg.poll(pc->dbg.opaque);
            }
        }
    }
}
