/*
 * cpu.h - public interface of vessel's x86 CPU library (libvessel_cpu.a).
 *
 * An Intel P6-class (Pentium II) 32-bit CPU: real, protected and virtual-8086
 * modes, paging, x87.  The caller supplies the physical memory map
 * (mem/phys.h) and port I/O / interrupt-acknowledge callbacks; the CPU runs
 * instructions until a budget is spent or an event stops it.
 *
 * Everything is single-threaded except cpu_exit_request(), which may be
 * called from a signal handler or another thread.
 */
#ifndef VESSEL_CPU_CPU_H
#define VESSEL_CPU_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/phys.h"

typedef struct X86Cpu X86Cpu;

/** Callbacks from the CPU to its machine. All may be NULL except where noted. */
typedef struct CpuHostOps {
    /** Port input; size 1/2/4. NULL: reads all ones. */
    uint32_t (*io_read)(void *opaque, uint16_t port, unsigned size);
    /** Port output; size 1/2/4. NULL: ignored. */
    void (*io_write)(void *opaque, uint16_t port, uint32_t val, unsigned size);
    /** Interrupt-acknowledge cycle for a maskable interrupt: returns the
     *  vector (0-255). Called only while the INTR line is asserted. */
    int (*intr_ack)(void *opaque);
    /** Time stamp counter. NULL: the TSC is the instruction count. */
    uint64_t (*read_tsc)(void *opaque);
    /** MSRs the CPU core does not own (e.g. IA32_APIC_BASE 0x1B).
     *  Return 0 if handled, -1 to make RDMSR/WRMSR raise #GP(0). */
    int (*rdmsr)(void *opaque, uint32_t msr, uint64_t *val);
    int (*wrmsr)(void *opaque, uint32_t msr, uint64_t val);
    /** Log a line (category is one of CPU_LOG_*). NULL: silent. */
    void (*log)(void *opaque, int category, const char *msg);
    /** x87 FERR# output changed (legacy IRQ13 path when CR0.NE = 0). */
    void (*ferr)(void *opaque, int level);
    /** With CPU_LOG_EXEC in the log mask: called before each instruction
     *  executes, with its linear address, its bytes (len 1..15) and whether
     *  the code segment is 32-bit.  The CPU then runs one instruction at a
     *  time (slow; for tracing only). */
    void (*trace_insn)(void *opaque, uint32_t lin, const uint8_t *bytes, unsigned len, bool code32);
} CpuHostOps;

/** Log categories (bit masks, as QEMU's -d). */
enum {
    CPU_LOG_INT = 1 << 0,         /**< interrupts and exceptions */
    CPU_LOG_RESET = 1 << 1,       /**< cpu_reset, triple faults */
    CPU_LOG_GUEST_ERRORS = 1 << 2,/**< guest did something undefined */
    CPU_LOG_UNIMP = 1 << 3,       /**< unimplemented feature used */
    CPU_LOG_EXEC = 1 << 4,        /**< every executed instruction */
};

/** Why cpu_run()/cpu_step() returned. */
typedef enum CpuExit {
    CPU_EXIT_BUDGET = 0,   /**< the instruction budget is spent */
    CPU_EXIT_HALT,         /**< HLT executed; waiting for an interrupt */
    CPU_EXIT_REQUEST,      /**< cpu_exit_request() was called */
    CPU_EXIT_TRIPLE_FAULT, /**< shutdown: the machine should reset */
    CPU_EXIT_BREAKPOINT,   /**< a debugger breakpoint/watchpoint hit */
} CpuExit;

/** General registers, in ModRM encoding order. */
enum { R_EAX, R_ECX, R_EDX, R_EBX, R_ESP, R_EBP, R_ESI, R_EDI };
/** Segment registers, in encoding order, then the system segments. */
enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };

/** A segment register with its descriptor cache (SDM vol. 3 §3.4.3).
 *  limit is the byte limit after granularity scaling; ar holds descriptor
 *  bits 40-47 (type, S, DPL, P) in bits 0-7 and bits 52-55 (AVL, L, D/B, G)
 *  in bits 12-15, as VMX's access-rights format. */
typedef struct CpuSeg {
    uint16_t sel;
    uint32_t base;
    uint32_t limit;
    uint16_t ar;
} CpuSeg;

/** x87 state in the FNSAVE sense (SDM vol. 1 §8.1). st[] are the physical
 *  registers R0-R7 as 80-bit values (10 bytes little-endian each). */
typedef struct CpuFpuState {
    uint16_t fcw, fsw, ftw;  /**< ftw: full 2-bit-per-register tag word */
    uint16_t fop;
    uint32_t fip, fdp;
    uint16_t fcs, fds;
    uint8_t st[8][10];
} CpuFpuState;

/** Creates a CPU on pm with the given callbacks; it is in the reset state.
 *  Returns NULL when out of memory. */
X86Cpu *cpu_new(PhysMem *pm, const CpuHostOps *ops, void *opaque);

/** Frees the CPU and its translation cache. */
void cpu_free(X86Cpu *cpu);

/** RESET (hard=true: power-on values) or INIT (hard=false: x87, MSRs and
 *  caches kept) per SDM vol. 3 §9.1.1 table 9-1; EIP=0xFFF0, CS.base=0xFFFF0000. */
void cpu_reset(X86Cpu *cpu, bool hard);

/** Register access. */
uint32_t cpu_get_reg(X86Cpu *cpu, int r);
void cpu_set_reg(X86Cpu *cpu, int r, uint32_t val);
uint32_t cpu_get_eip(X86Cpu *cpu);
/** Set EIP; also ends a HLT state (a debugger moving EIP resumes the CPU). */
void cpu_set_eip(X86Cpu *cpu, uint32_t eip);
/** EFLAGS with the arithmetic flags computed. */
uint32_t cpu_get_eflags(X86Cpu *cpu);
void cpu_set_eflags(X86Cpu *cpu, uint32_t eflags);
/** Segment registers with caches; setting CS/SS updates CPL and the mode. */
void cpu_get_seg(X86Cpu *cpu, int seg, CpuSeg *out);
void cpu_set_seg(X86Cpu *cpu, int seg, const CpuSeg *in);
/** GDTR (which = 0) and IDTR (which = 1): base and 16-bit limit. */
void cpu_get_dtr(X86Cpu *cpu, int which, uint32_t *base, uint16_t *limit);
void cpu_set_dtr(X86Cpu *cpu, int which, uint32_t base, uint16_t limit);
/** CR0, CR2, CR3, CR4 (n = 0..4; CR1 reads 0). Setting flushes the TLB as
 *  needed. Returns 0, or -1 for an invalid n. */
uint32_t cpu_get_cr(X86Cpu *cpu, int n);
int cpu_set_cr(X86Cpu *cpu, int n, uint32_t val);
/** DR0-DR7 (4/5 alias 6/7). */
uint32_t cpu_get_dr(X86Cpu *cpu, int n);
void cpu_set_dr(X86Cpu *cpu, int n, uint32_t val);
/** MSRs: returns 0, or -1 if the MSR does not exist (the guest would #GP). */
int cpu_get_msr(X86Cpu *cpu, uint32_t msr, uint64_t *val);
int cpu_set_msr(X86Cpu *cpu, uint32_t msr, uint64_t val);
/** x87 state. */
void cpu_get_fpu(X86Cpu *cpu, CpuFpuState *out);
void cpu_set_fpu(X86Cpu *cpu, const CpuFpuState *in);
/** Current privilege level (0-3). */
int cpu_get_cpl(X86Cpu *cpu);

/** The INTR input pin (level) and the NMI input (edge). */
void cpu_set_intr(X86Cpu *cpu, int level);
void cpu_raise_nmi(X86Cpu *cpu);

/** Execute exactly one instruction (or deliver one pending event).
 *  The translation cache is bypassed. */
CpuExit cpu_step(X86Cpu *cpu);

/** Run until max_insns instructions retire (exactly), or an event stops the
 *  CPU earlier. A halted CPU with nothing to wake it returns CPU_EXIT_HALT
 *  at once. */
CpuExit cpu_run(X86Cpu *cpu, uint64_t max_insns);

/** Instructions retired since creation. */
uint64_t cpu_icount(X86Cpu *cpu);

/** True while the CPU is halted (HLT) and waiting for an interrupt. */
bool cpu_halted(X86Cpu *cpu);

/** Ask a running cpu_run() to return CPU_EXIT_REQUEST at the next
 *  instruction-block boundary. Async-signal-safe. */
void cpu_exit_request(X86Cpu *cpu);

/** Set the log mask (CPU_LOG_*). */
void cpu_set_log_mask(X86Cpu *cpu, unsigned mask);

/** CPUID feature switches before the guest starts: apic=false clears
 *  CPUID.1:EDX.APIC. */
void cpu_set_apic_present(X86Cpu *cpu, bool present);

/** Translate a linear address to physical through the current page tables
 *  without side effects (debuggers). Returns 0, or -1 if not mapped. */
int cpu_translate(X86Cpu *cpu, uint32_t lin, uint32_t *phys);

/* ---- debugger support (gdb stub, monitor) ----
 * Breakpoints and watchpoints are held by the CPU, never written into guest
 * memory.  They cost nothing while none is set. */

#define CPU_MAX_BREAKPOINTS 64
#define CPU_MAX_WATCHPOINTS 16

/** Watchpoint kinds, as gdb's Z2/Z3/Z4. */
enum { CPU_WATCH_WRITE = 0, CPU_WATCH_READ = 1, CPU_WATCH_ACCESS = 2 };

/** Stop before executing the instruction at linear address lin: cpu_run()
 *  returns CPU_EXIT_BREAKPOINT with EIP at it.  Returns 0, or -1 when the
 *  table is full.  Inserting an existing address is a no-op. */
int cpu_bp_insert(X86Cpu *cpu, uint32_t lin);
/** Returns 0, or -1 if no breakpoint is at lin. */
int cpu_bp_remove(X86Cpu *cpu, uint32_t lin);

/** Stop right after an instruction that accesses any byte of
 *  [lin, lin+len) (len 1..8, any alignment) as kind (CPU_WATCH_*).
 *  Returns 0, or -1 (bad length, table full). */
int cpu_wp_insert(X86Cpu *cpu, uint32_t lin, uint32_t len, int kind);
/** Returns 0, or -1 if no such watchpoint. */
int cpu_wp_remove(X86Cpu *cpu, uint32_t lin, uint32_t len, int kind);
/** After CPU_EXIT_BREAKPOINT: true if a watchpoint caused it, with the
 *  accessed address and the watchpoint's kind. */
bool cpu_wp_hit(X86Cpu *cpu, uint32_t *addr, int *kind);

/** Debugger single step: execute one instruction with maskable interrupts
 *  held off (as QEMU's default single-step); exceptions are delivered, so a
 *  faulting instruction leaves EIP in its handler. */
CpuExit cpu_debug_step(X86Cpu *cpu);

/** Execution history, always recorded: the linear addresses where the
 *  last CPU_HISTORY translated blocks (runs of straight-line instructions)
 *  or single-stepped instructions began, oldest first.  Returns how many
 *  were written to out (at most max). */
#define CPU_HISTORY 1024
int cpu_history(X86Cpu *cpu, uint32_t *out, int max);

/** Disable the translation cache (every instruction decoded afresh): the
 *  reference interpreter that fast paths are checked against. */
void cpu_set_tcache_enabled(X86Cpu *cpu, bool on);

#endif
