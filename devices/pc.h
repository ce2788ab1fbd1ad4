/*
 * pc.h - the PC board: QEMU's "pc" machine (i440FX + PIIX3) wired in one
 * function, and its main loop.
 */
#ifndef VESSEL_DEVICES_PC_H
#define VESSEL_DEVICES_PC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "devices/blockdev.h"
#include "devices/chardev.h"
#include "devices/state.h"

typedef struct PcMachine PcMachine;

/** Exit statuses of pc_run() that are not the guest's isa-debug-exit code. */
enum {
    PC_EXIT_POWEROFF = 0,     /**< ACPI power-off, or a quit command */
    PC_EXIT_GUEST_STOPPED = 4,/**< HLT with interrupts disabled: nothing can wake it */
    PC_EXIT_TRIPLE_FAULT = 6, /**< triple fault with -no-reboot */
};

/** Log categories the board prints (bit masks; CPU categories from cpu.h
 *  are passed through). */
enum {
    PC_LOG_POSTCODE = 1 << 8,  /**< writes to port 0x80 */
    PC_LOG_BIOS = 1 << 9,      /**< SeaBIOS debug port 0x402 */
    PC_LOG_UNASSIGNED = 1 << 10, /**< accesses to ports with no device */
    PC_LOG_EXITSTATE = 1 << 11,  /**< at exit: icount and CRCs of CPU state and RAM */
};

struct E1000;
struct NetBackend;

/** The board has NICs: pc_add_e1000() (frontend/net.c tests this). */
#define PC_HAVE_ADD_E1000 1
#define PC_MAX_NICS 4

/** Machine configuration, filled by the front end. */
typedef struct PcConfig {
    uint32_t ram_size;           /**< bytes */
    const uint8_t *bios;         /**< BIOS image (64 KiB .. 2 MiB, multiple of 64 KiB) */
    size_t bios_size;
    const uint8_t *vgabios;      /**< optional VGA option ROM, or NULL */
    size_t vgabios_size;
    bool apic;                   /**< local APIC + I/O APIC present */
    bool icount;                 /**< deterministic time */
    int icount_shift;            /**< ns per instruction = 1 << shift */
    int64_t rtc_base;            /**< RTC start (Unix seconds) */
    bool no_reboot;              /**< triple fault / reset request: exit */
    bool nographic;              /**< fw_cfg tells SeaBIOS to use the serial console */
    int debug_exit_port;         /**< isa-debug-exit iobase, or -1 */
    int debug_exit_size;         /**< its iosize (1, 2 or 4) */
    CharBackend debugcon;        /**< port 0xE9 output (write NULL: none) */
    CharBackend bios_log;        /**< port 0x402 output (write NULL: none) */
    CharBackend serial[2];       /**< COM1, COM2 (write NULL: absent) */
    unsigned log_mask;           /**< CPU_LOG_* | PC_LOG_* */
    void (*log)(void *opaque, const char *line); /**< where log lines go */
    void *log_opaque;
    bool tcache;                 /**< translation cache on (default) */
    /** IDE drives: index 0 primary master (hda), 1 primary slave, 2
     *  secondary master (hdc, the usual CD-ROM), 3 secondary slave.  The
     *  caller opens and owns the BlockDevs (they must outlive the machine). */
    BlockDev *drives[4];
    bool drive_cdrom[4];
    /** Boot order as QEMU's -boot letters: 'a' floppy, 'c' disk, 'd' CD-ROM,
     *  'n' network; up to three; NULL = "cd". */
    const char *boot_order;
    bool vga;                    /**< the std VGA at 00:02.0 (default on) */
    /** Instruction trace (-d exec): called before each instruction with
     *  log_mask & CPU_LOG_EXEC; see CpuHostOps.trace_insn. */
    void (*trace)(void *opaque, uint32_t lin, const uint8_t *bytes, unsigned len, bool code32);
    void *trace_opaque;
} PcConfig;

/** Builds the machine. Returns NULL with a message in err on failure
 *  (bad ROM size, out of memory). */
PcMachine *pc_new(const PcConfig *cfg, char *err, size_t errlen);

/** Adds an Intel 82540EM (e1000) at PCI devfn (e.g. 0x18 = 00:03.0), after
 *  pc_new() and before pc_run(): INTA through the PIIX3 PIRQ routing, BAR0
 *  MMIO / BAR1 I/O as the firmware assigns them, the given MAC, frames to
 *  and from be (may be NULL).  rom (rom_size bytes, may be NULL) is copied
 *  into fw_cfg file "pci8086,100e.rom" (SeaBIOS runs it: iPXE).  Returns
 *  the NIC (owned by the board), or NULL with a message in err. */
struct E1000 *pc_add_e1000(PcMachine *pc, int devfn, const uint8_t mac[6], struct NetBackend *be,
                           const uint8_t *rom, size_t rom_size, char *err, size_t errlen);

/** Frees the machine. */
void pc_free(PcMachine *pc);

/** Runs the machine until it exits; returns the process exit status:
 *  the guest's isa-debug-exit value (V<<1)|1, or a PC_EXIT_* value. */
int pc_run(PcMachine *pc);

/** Asks pc_run() to return status at the next instruction-block boundary
 *  (signal-safe). */
void pc_request_exit(PcMachine *pc, int status);

/** Bytes COM port n can take now (its receive FIFO room), 0 if absent. */
size_t pc_serial_room(PcMachine *pc, int n);

/** Feeds host input to COM port n (0 or 1). Returns bytes accepted. */
size_t pc_serial_input(PcMachine *pc, int n, const uint8_t *buf, size_t len);

/** Called by pc_run() about every millisecond of host time so the front end
 *  can poll its inputs (terminal, sockets, window).  Up to PC_MAX_POLL
 *  hooks; returns 0, or -1 when full. */
#define PC_MAX_POLL 8
int pc_add_poll_hook(PcMachine *pc, void (*poll)(void *opaque), void *opaque);

/** Port I/O on the machine's bus, as the CPU would do it (tests, monitor). */
uint32_t pc_io_read(PcMachine *pc, uint16_t port, unsigned size);
void pc_io_write(PcMachine *pc, uint16_t port, uint32_t val, unsigned size);

/** Fire the virtual-clock timers that are due (tests). */
void pc_run_timers(PcMachine *pc);

/** Why the machine stopped for the debugger. */
enum { PC_STOP_REQUEST = 0, PC_STOP_BREAKPOINT = 1, PC_STOP_START = 2 };

/** Debugger/monitor hooks into the main loop.  poll() is called about
 *  every millisecond while the guest runs; stopped() is called when the
 *  guest stops (pc_request_stop(), a breakpoint or watchpoint, or -S at
 *  start) and returns when it should run again (virtual time does not pass
 *  meanwhile).  Inside stopped() the hook may use pc_cpu()/pc_phys() and
 *  cpu_debug_step(). */
typedef struct PcDebugHooks {
    void (*poll)(void *opaque);
    void (*stopped)(void *opaque, int reason);
    void *opaque;
} PcDebugHooks;

/** Install debugger hooks (NULL removes them).  start_stopped: call
 *  stopped(PC_STOP_START) before the first instruction (-S). */
void pc_set_debug_hooks(PcMachine *pc, const PcDebugHooks *hooks, bool start_stopped);

/** Ask the main loop to stop the guest and call the stopped() hook at the
 *  next instruction-block boundary (signal-safe). */
void pc_request_stop(PcMachine *pc);

/** The machine's CPU and physical memory (debuggers, monitor). */
X86Cpu *pc_cpu(PcMachine *pc);
PhysMem *pc_phys(PcMachine *pc);

/** Text for monitor "info" commands: what = "pic", "pci", "status",
 *  "lapic", "ioapic".
 *  Returns bytes written, or -1 for an unknown topic. */
int pc_info(PcMachine *pc, const char *what, char *buf, size_t len);

/** Reset the whole machine (monitor system_reset), and press the ACPI
 *  power button (system_powerdown). */
void pc_system_reset(PcMachine *pc);
void pc_system_powerdown(PcMachine *pc);

/** The VGA device, or NULL without one (display front ends). */
struct Vga *pc_vga(PcMachine *pc);
/** The keyboard controller (display front ends feed keys and mouse). */
struct I8042 *pc_i8042(PcMachine *pc);
/** The fw_cfg device (kernel loader adds -kernel/-initrd items). */
struct FwCfg *pc_fw_cfg(PcMachine *pc);
/** The IDE controller (monitor: change/eject media). */
struct IdeController *pc_ide(PcMachine *pc);

/** Snapshots: every stateful component's section, in a fixed order.
 *  fn(ctx, desc, opaque) is called once per section: the CPU first
 *  ("cpu", opaque = the X86Cpu), the virtual clock, then each device.
 *  RAM (pc_phys()->ram) and VGA memory (vga_vram) are separate. */
typedef void (*PcStateFn)(void *ctx, const StateDesc *desc, void *opaque);
void pc_foreach_state(PcMachine *pc, PcStateFn fn, void *ctx);

/** After loading every section: rebuild derived state (memory map from
 *  PAM/BARs/A20, TLBs, translation cache, timers, interrupt lines). */
void pc_post_load(PcMachine *pc);

/** The machine's CPU instruction count (for tests and benchmarks). */
uint64_t pc_icount(PcMachine *pc);

#endif
