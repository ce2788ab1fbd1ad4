/*
 * cpu_internal.h - the CPU's state and the helpers every instruction
 * handler uses.  Private to cpu/.
 *
 * Execution model (read this before writing a handler):
 *  - Instructions are decoded once into an Insn (decode.c) and kept in
 *    blocks (exec.c).  A handler is `const Insn *op_x(X86Cpu *cpu, const Insn *i)`.
 *  - On entry cpu->eip is the address of this instruction.  A handler that
 *    falls through ends with NEXT (eip += length, continue with the next
 *    Insn in the block).  A handler that changes control flow ends with
 *    BRANCH(new_eip) or END_BLOCK (eip already set): the block ends.
 *    Opcodes whose handler may BRANCH/END_BLOCK carry F_END in the table.
 *  - Faults: call cpu_raise(cpu, EXC_GP, err) etc.; it does not return
 *    (longjmp to the run loop), cpu->eip still points at the faulting
 *    instruction.  So: do every memory access and check that can fault
 *    BEFORE modifying any register, so the instruction can be restarted.
 *  - Memory: rd8/rd16/rd32(cpu, seg, offset) and wr8/16/32 do segmentation
 *    checks (limit, rights; #GP or #SS) and paging (#PF).  lrd/lwr take a
 *    linear address; sys_rd/sys_wr are supervisor-mode linear accesses for
 *    descriptor tables and the TSS.
 *  - Flags are lazy: ALU ops store their operands and result with
 *    SET_LAZY(); read a flag with get_cf(cpu) etc.; read all of EFLAGS with
 *    cpu_eflags(cpu); write with cpu_load_eflags(cpu, value, mask).
 */
#ifndef VESSEL_CPU_INTERNAL_H
#define VESSEL_CPU_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "mem/phys.h"

#if defined(__GNUC__)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NORETURN __attribute__((noreturn))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define likely(x) (x)
#define unlikely(x) (x)
#define NORETURN
#define ALWAYS_INLINE inline
#endif

/* ---- architectural constants (SDM vol. 3 ch. 2, 4, 6) ---- */
#define EFLAGS_CF 0x00000001u
#define EFLAGS_PF 0x00000004u
#define EFLAGS_AF 0x00000010u
#define EFLAGS_ZF 0x00000040u
#define EFLAGS_SF 0x00000080u
#define EFLAGS_TF 0x00000100u
#define EFLAGS_IF 0x00000200u
#define EFLAGS_DF 0x00000400u
#define EFLAGS_OF 0x00000800u
#define EFLAGS_IOPL 0x00003000u
#define EFLAGS_NT 0x00004000u
#define EFLAGS_RF 0x00010000u
#define EFLAGS_VM 0x00020000u
#define EFLAGS_AC 0x00040000u
#define EFLAGS_VIF 0x00080000u
#define EFLAGS_VIP 0x00100000u
#define EFLAGS_ID 0x00200000u
#define EFLAGS_ARITH (EFLAGS_CF | EFLAGS_PF | EFLAGS_AF | EFLAGS_ZF | EFLAGS_SF | EFLAGS_OF)
#define EFLAGS_IOPL_SHIFT 12

#define CR0_PE 0x00000001u
#define CR0_MP 0x00000002u
#define CR0_EM 0x00000004u
#define CR0_TS 0x00000008u
#define CR0_ET 0x00000010u
#define CR0_NE 0x00000020u
#define CR0_WP 0x00010000u
#define CR0_AM 0x00040000u
#define CR0_NW 0x20000000u
#define CR0_CD 0x40000000u
#define CR0_PG 0x80000000u

#define CR4_VME 0x001u
#define CR4_PVI 0x002u
#define CR4_TSD 0x004u
#define CR4_DE 0x008u
#define CR4_PSE 0x010u
#define CR4_PAE 0x020u
#define CR4_MCE 0x040u
#define CR4_PGE 0x080u
#define CR4_PCE 0x100u

/* Page table entry bits (SDM vol. 3 §4.3). */
#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
#define PTE_PWT 0x008u
#define PTE_PCD 0x010u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PTE_PS 0x080u
#define PTE_G 0x100u

/* #PF error code bits. */
#define PF_P 0x1u
#define PF_W 0x2u
#define PF_U 0x4u

/* Exception vectors. */
enum {
    EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
    EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11, EXC_SS = 12,
    EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17, EXC_MC = 18,
};

/* Segment access-rights (CpuSeg.ar) bits. */
#define AR_TYPE 0x000Fu
#define AR_A 0x0001u      /* accessed */
#define AR_RW 0x0002u     /* data: writable; code: readable */
#define AR_DC 0x0004u     /* data: expand-down; code: conforming */
#define AR_CODE 0x0008u
#define AR_S 0x0010u      /* 1 = code/data, 0 = system */
#define AR_DPL 0x0060u
#define AR_DPL_SHIFT 5
#define AR_P 0x0080u
#define AR_AVL 0x1000u
#define AR_DB 0x4000u
#define AR_G 0x8000u

/* System descriptor types (S=0). */
enum {
    DESC_TSS16_AVAIL = 1, DESC_LDT = 2, DESC_TSS16_BUSY = 3, DESC_CALLGATE16 = 4,
    DESC_TASKGATE = 5, DESC_INTGATE16 = 6, DESC_TRAPGATE16 = 7,
    DESC_TSS32_AVAIL = 9, DESC_TSS32_BUSY = 11, DESC_CALLGATE32 = 12,
    DESC_INTGATE32 = 14, DESC_TRAPGATE32 = 15,
};

/* ---- state ---- */

/** A segment register with its hidden part, plus derived checking data. */
typedef struct SegReg {
    uint16_t sel;
    uint16_t ar;       /**< CpuSeg.ar format */
    uint32_t base;
    uint32_t limit;    /**< byte limit (granularity applied) */
    /* derived by seg_update_checks(): offsets lo..hi are valid (expand-down
     * segments have lo = limit+1); ok_r/ok_w: data access allowed at all. */
    uint32_t lo, hi;
    uint8_t ok_r, ok_w;
    /* The common case in one compare: an access of size bytes at off is
     * allowed if off + size - 1 <= lim_r (reads) / lim_w (writes); -1
     * when the segment is not usable that way (expand-down, no rights),
     * and then the lo/hi/ok checks decide. */
    int64_t lim_r, lim_w;
} SegReg;

/** Software TLB entry: linear page tag for reads/writes (TLB_INVALID if
 *  not allowed on the fast path), and addend: host pointer = addend + lin.
 *  The entry for lin is tlb[(lin >> 12) % TLB_SIZE]; an access of n bytes
 *  compares the tag with the page of its LAST byte, lin + n - 1: an access
 *  that crosses into the next page then never matches (that page's tag
 *  lives in the next entry), so one compare covers both checks. */
typedef struct TlbEntry {
    uint32_t tag_r;
    uint32_t tag_w;
    uintptr_t addend;
} TlbEntry;

#define TLB_BITS 10
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_INVALID 1u

/** Lazy flags: the last flag-setting operation (flags.c). */
enum {
    LF_NONE = 0,   /* flags are in cpu->eflags exactly */
    LF_ADD, LF_ADC, LF_SUB, LF_SBB, LF_LOGIC, LF_INC, LF_DEC,
    LF_SHL, LF_SHR, LF_SAR, LF_NEG,
    LF_ROT,        /* a rotate: CF/OF from cf_in/of_in, AF kept in src bit 4 */
    LF_LAST = LF_ROT
};

typedef struct LazyFlags {
    uint32_t res;   /**< result (truncated to size) */
    uint32_t src;   /**< source operand (for ADD: second addend) */
    uint32_t dst;   /**< destination operand before the op */
    uint8_t op;     /**< LF_* */
    uint8_t size;   /**< 1, 2, 4 bytes */
    uint8_t cf_in;  /**< INC/DEC: CF before; ADC/SBB: carry-in; shifts: CF out */
    uint8_t of_in;  /**< shifts: OF computed at the shift */
} LazyFlags;

struct Insn;
struct X86Cpu;
typedef const struct Insn *(*InsnFn)(struct X86Cpu *cpu, const struct Insn *i);

/** A decoded instruction (32 bytes). */
typedef struct Insn {
    InsnFn fn;
    uint32_t disp;     /**< ModRM displacement (or moffs) */
    uint32_t imm;      /**< immediate; for rel branches: the target EIP */
    uint32_t next_eip; /**< EIP + len, unmasked (blocks are keyed by EIP) */
    uint16_t imm2;     /**< far-pointer selector; ENTER nesting level */
    uint8_t len;       /**< instruction length in bytes */
    uint8_t op;        /**< last opcode byte */
    uint8_t modrm;     /**< ModRM byte (0 if none) */
    uint8_t reg;       /**< ModRM.reg, or the register in the opcode */
    uint8_t rm;        /**< ModRM.rm when mod == 3 */
    uint8_t base;      /**< EA base register, 8 = none */
    uint8_t index;     /**< EA index register, 8 = none */
    uint8_t scale;     /**< EA index shift 0-3 */
    uint8_t seg;       /**< segment of the memory operand (overrides applied) */
    uint8_t flags;     /**< IF_* below */
} Insn;
_Static_assert(sizeof(Insn) == 32, "Insn is meant to fill half a cache line");

#define IF_A16 0x01    /* 16-bit addressing (ea wraps at 64 KiB; string ops use CX/SI/DI) */
#define IF_O16 0x02    /* 16-bit operand size */
#define IF_REP 0x04    /* F3 prefix (REP / REPE) */
#define IF_REPNE 0x08  /* F2 prefix */
#define IF_LOCK 0x10   /* F0 prefix */
#define IF_SEGOVR 0x20 /* a segment override prefix was present */
#define IF_MEM 0x40    /* the ModRM operand is memory (mod != 3) */

/** Decoded block of instructions from one physical page (exec.c builds,
 *  keys and invalidates them; the branch handlers chain through them). */
typedef struct Block {
    uint32_t eip;           /**< EIP of the first instruction: relative branch
                             *   targets were resolved against it, so a block is
                             *   only valid at this EIP (QEMU keys by pc too) */
    uint32_t lin_pc;        /**< linear address of the first byte when last looked up */
    uint16_t mode;          /**< translation-cache mode key (X86Cpu.tc_mode) */
    uint16_t ninsns;        /**< instructions, not counting the sentinel */
    uint32_t chain_gen[2];  /**< X86Cpu.tlb_gen when chain[k] was recorded */
    struct Block *chain[2]; /**< direct successors (BRANCH_CHAIN / NEXT_CHAIN):
                             *   [0] the branch taken, [1] the fall-through */
    uint32_t phys_pc;       /**< physical address of the first byte */
    uint32_t bytes;         /**< length of the code in bytes */
    uintptr_t host_pc;      /**< host address of the first byte */
    uint32_t line_mask;     /**< 128-byte lines of the page covered */
    bool valid;
    struct Block *succ;     /**< the block that last followed this one (run loop) */
    uint32_t succ_gen;      /**< X86Cpu.tlb_gen when succ was recorded */
    struct Block *hash_next;
    struct Block *page_next;
    struct Insn insns[];    /**< ninsns + a sentinel */
} Block;

/** x87 state (fpu.c, ops_x87.c).  Registers hold softfloat80.h's F80
 *  (64-bit significand, 16-bit sign/exponent), accessed with memcpy. */
typedef struct FpuRegs {
    uint8_t st[8][16];  /**< physical registers R0-R7 as F80 (fpu.c owns the format) */
    uint16_t fcw, fsw;  /**< FSW without TOP; TOP in top */
    uint16_t ftw;       /**< 2 bits per physical register: 0 valid, 1 zero, 2 special, 3 empty */
    uint8_t top;
    uint8_t ferr;       /**< FERR# output level last signalled through ops->ferr */
    uint16_t fop;
    uint32_t fip, fdp;
    uint16_t fcs, fds;
} FpuRegs;

#define CPU_NMSR_MTRR_VAR 16

struct X86Cpu {
    /* Hot state first. r[8] is always 0 (the "no register" EA slot). */
    uint32_t r[9];
    uint32_t eip;
    uint32_t eflags;        /**< with lazy arithmetic flags stale if lf.op != LF_NONE */
    LazyFlags lf;
    SegReg seg[SEG_COUNT];
    uint8_t cpl;
    uint8_t code32;         /**< CS.D */
    uint8_t stack32;        /**< SS.B */
    uint8_t halted;
    uint16_t tc_mode;       /**< translation-cache mode key, TCM_* (cpu_calc_tc_mode) */
    uint32_t hist_pos;      /**< next slot in hist[], modulo CPU_HISTORY (free-running) */
    uint32_t hist[CPU_HISTORY]; /**< linear addresses of recent block entries / steps */
    uint32_t tlb_gen;       /**< bumped on every TLB flush and CS base change (block chaining) */
    uint32_t chain_cs_base; /**< CS base the current tlb_gen was counted under (cpu_mode_changed) */
    TlbEntry *tlb_cur;      /**< tlb[0] (CPL 0-2) or tlb[1] (CPL 3) */
    uint64_t icount;        /**< retired instructions, up to the start of cur_block */
    Block *cur_block;       /**< block being executed, NULL between blocks */
    uint64_t chain_limit;   /**< block chaining allowed while icount < this (0: off) */
    uint32_t link_eip;      /**< a chain miss: the EIP the branch went to ... */
    Block *link_from;       /**< ... from this block, through chain[link_slot] */
    uint8_t link_slot;

    /* Pending asynchronous events (checked at block boundaries). */
    volatile int exit_request;
    int intr_line;          /**< INTR pin level */
    int nmi_pending;
    int nmi_blocked;        /**< in an NMI handler until IRET */
    int inhibit_irq;        /**< interrupt shadow: STI / MOV SS / POP SS */
    int pending_check;      /**< nonzero: the run loop must look at events */

    /* System registers. */
    uint32_t cr0, cr2, cr3, cr4;
    uint32_t dr[8];
    uint32_t gdtr_base, idtr_base;
    uint16_t gdtr_limit, idtr_limit;
    uint32_t a20_mask;      /**< copy of pm->a20_mask */

    /* MSRs (SDM vol. 4). */
    uint32_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t tsc_offset;
    uint64_t mtrr_cap_fixed[11];   /* 0x250, 0x258, 0x259, 0x268-0x26F */
    uint64_t mtrr_var[CPU_NMSR_MTRR_VAR]; /* 0x200-0x20F */
    uint64_t mtrr_def_type;        /* 0x2FF */
    uint64_t pat;                  /* 0x277 (not advertised) */
    uint64_t msr_bios_sign;        /* 0x8B */
    uint64_t msr_misc_enable;
    bool apic_present;

    /* x87 */
    FpuRegs fpu;

    /* TLBs: [0] supervisor (CPL<3), [1] user (CPL 3). */
    TlbEntry tlb[2][TLB_SIZE];

    /* Exception plumbing. */
    jmp_buf jmp;
    int exc_depth;          /**< nested exception delivery: for #DF / triple fault */
    int in_exception_vec;   /**< vector being delivered, -1 none */
    int triple_fault;

    /* Environment. */
    PhysMem *pm;
    const CpuHostOps *ops;
    void *opaque;
    unsigned log_mask;

    /* Translation cache (exec.c). */
    struct TCache *tc;
    bool tc_enabled;
    uint32_t pending_stop;  /**< CpuExit to return at the next boundary */

    /* Data breakpoints hit by the current instruction (DR6 B0-B3 bits, set
     * by mmu.c's slow paths): after the instruction retires the run loop
     * ORs them into DR6, clears this, and raises #DB as a trap; an
     * instruction that faults clears it instead. */
    uint32_t pending_db;

    /* Debugger (gdb stub) breakpoints and watchpoints (exec.c, mmu.c). */
    uint32_t dbg_bp[CPU_MAX_BREAKPOINTS];
    int dbg_nbp;
    uint32_t dbg_bp_skip;   /**< resume past the breakpoint at this address once */
    bool dbg_bp_skip_on;
    struct { uint32_t lin, len; int kind; } dbg_wp[CPU_MAX_WATCHPOINTS];
    int dbg_nwp;
    bool dbg_wp_hit;        /**< set by mmu.c when a watchpoint matched */
    uint32_t dbg_wp_addr;
    int dbg_wp_kind;
};

/* Translation-cache mode key (X86Cpu.tc_mode, Block.mode): everything that
 * changes how an instruction decodes or which handler forms a block may
 * use.  A block is only entered in the mode it was built in. */
#define TCM_CODE32 0x01 /* CS.D: 32-bit default operand and address size */
#define TCM_PE 0x02     /* CR0.PE */
#define TCM_VM 0x04     /* EFLAGS.VM */
#define TCM_CPL3 0x08   /* CPL 3: code fetches with user privilege */
#define TCM_FLAT 0x10   /* DS, ES and SS flat (seg_is_flat) and SS.B = 1:
                         * blocks may use the flat memory forms (MF_FLAT*) */

/** A data segment the flat handler forms may use without any segment
 *  arithmetic: base 0, expand-up, readable and writable with limit
 *  4 GiB - 1, so that only an access wrapping past 4 GiB could fail the
 *  limit check, and that access also fails the TLB compare (the page of
 *  its last byte is page 0, which never sits in the last TLB slot). */
static inline bool seg_is_flat(const SegReg *sr)
{
    return sr->base == 0 && sr->lim_r == 0xFFFFFFFF && sr->lim_w == 0xFFFFFFFF;
}

/** The mode key for the current state (cpl, code32, stack32 and the
 *  segment checks must be up to date: seg.c calls this last). */
static inline uint16_t cpu_calc_tc_mode(const X86Cpu *cpu)
{
    unsigned m = cpu->code32 | ((cpu->cr0 & CR0_PE) ? TCM_PE : 0) | ((cpu->eflags & EFLAGS_VM) ? TCM_VM : 0) |
                 (cpu->cpl == 3 ? TCM_CPL3 : 0);
    if (cpu->stack32 && seg_is_flat(&cpu->seg[SEG_DS]) && seg_is_flat(&cpu->seg[SEG_ES]) &&
        seg_is_flat(&cpu->seg[SEG_SS]))
        m |= TCM_FLAT;
    return (uint16_t)m;
}

/** mmu.c: record debugger watchpoint hits for an access (slow path). */
void dbg_watch_check(X86Cpu *cpu, uint32_t lin, unsigned size, bool write);

/* ---- exceptions (interrupt.c) ---- */

/** Raise exception vec with error code err; does not return. */
NORETURN void cpu_raise(X86Cpu *cpu, int vec, uint32_t err);
/** Raise exception vec without error code; does not return. */
NORETURN void cpu_raise_noerr(X86Cpu *cpu, int vec);

/** Kinds of interrupt delivery for cpu_do_interrupt(). */
enum { INT_EXT = 0, INT_SOFT = 1, INT_EXC = 2, INT_NMI = 3, INT_SOFT_ICEBP = 4 };

/** Deliver an interrupt/exception through the IVT (real mode) or IDT
 *  (protected/V86 mode, including task gates), pushing the frame and
 *  loading CS:EIP.  next_eip is the return address (for INT_SOFT: the
 *  instruction after INT n; for faults: the faulting instruction).  Handles
 *  double fault and triple fault rules (SDM vol. 3 §6.15 table 6-5).  May
 *  itself raise (longjmp) a nested fault. */
void cpu_do_interrupt(X86Cpu *cpu, int vec, int kind, uint32_t err, bool has_err,
                      uint32_t next_eip);

/** Log helper: printf-like, only if category is enabled. */
void cpu_log(X86Cpu *cpu, int category, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- segments (seg.c) ---- */

/** Recompute SegReg.lo/hi/ok_r/ok_w from base/limit/ar and the mode. */
void seg_update_checks(X86Cpu *cpu, int s);
/** Load a segment register in real or V86 mode: base = sel << 4, keeps the
 *  cached limit/ar except in V86 mode (limit 0xFFFF, DPL 3). */
void seg_load_real(X86Cpu *cpu, int s, uint16_t sel);
/** Load a data/stack segment register (DS/ES/FS/GS/SS) in protected mode
 *  with all checks (SDM vol. 3 §5.4, MOV/POP/LDS): #GP/#SS/#NP with the
 *  selector as error code. */
void seg_load_pm(X86Cpu *cpu, int s, uint16_t sel);
/** Load a segment in any mode (dispatches to the two above). */
void seg_load(X86Cpu *cpu, int s, uint16_t sel);
/** Called after CR0.PE / EFLAGS.VM / CS changes: recompute cpl, code32,
 *  stack32, tlb_cur and every segment's checks. */
void cpu_mode_changed(X86Cpu *cpu);

/* ---- paging and TLB (mmu.c) ---- */

enum { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };

/** TLB miss path: translate lin for acc (ACC_*) at privilege user,
 *  raising #PF on failure (sets A/D bits), fill the TLB entry when the
 *  page is RAM, and return the physical address (A20 applied). */
uint32_t mmu_translate(X86Cpu *cpu, uint32_t lin, int acc, bool user);
/** Flush all TLB entries (CR3 write, CR0/CR4 paging bit changes, A20, map). */
void tlb_flush_all(X86Cpu *cpu);
/** Flush one linear page (INVLPG). */
void tlb_flush_page(X86Cpu *cpu, uint32_t lin);

/** Slow paths for linear accesses (mmu.c): handle page crossing, MMIO,
 *  code-page writes.  user: CPL-3 style check. size 1/2/4/8. */
uint64_t mmu_read_slow(X86Cpu *cpu, uint32_t lin, unsigned size, bool user);
void mmu_write_slow(X86Cpu *cpu, uint32_t lin, uint64_t val, unsigned size, bool user);

/* Host loads/stores of little-endian guest data. */
static ALWAYS_INLINE uint16_t ld16(const void *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
static ALWAYS_INLINE uint32_t ld32(const void *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
static ALWAYS_INLINE void st16(void *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
static ALWAYS_INLINE void st32(void *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

/** Linear reads/writes with the current privilege (CPL 3 = user). */
static ALWAYS_INLINE uint8_t lrd8(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == (lin & ~0xFFFu)))
        return *(const uint8_t *)(e->addend + lin);
    return (uint8_t)mmu_read_slow(cpu, lin, 1, cpu->cpl == 3);
}
static ALWAYS_INLINE uint16_t lrd16(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == ((lin + 1) & ~0xFFFu)))
        return ld16((const void *)(e->addend + lin));
    return (uint16_t)mmu_read_slow(cpu, lin, 2, cpu->cpl == 3);
}
static ALWAYS_INLINE uint32_t lrd32(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == ((lin + 3) & ~0xFFFu)))
        return ld32((const void *)(e->addend + lin));
    return (uint32_t)mmu_read_slow(cpu, lin, 4, cpu->cpl == 3);
}
static ALWAYS_INLINE uint64_t lrd64(X86Cpu *cpu, uint32_t lin)
{
    return mmu_read_slow(cpu, lin, 8, cpu->cpl == 3);
}
static ALWAYS_INLINE void lwr8(X86Cpu *cpu, uint32_t lin, uint8_t v)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == (lin & ~0xFFFu))) {
        *(uint8_t *)(e->addend + lin) = v;
        return;
    }
    mmu_write_slow(cpu, lin, v, 1, cpu->cpl == 3);
}
static ALWAYS_INLINE void lwr16(X86Cpu *cpu, uint32_t lin, uint16_t v)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == ((lin + 1) & ~0xFFFu))) {
        st16((void *)(e->addend + lin), v);
        return;
    }
    mmu_write_slow(cpu, lin, v, 2, cpu->cpl == 3);
}
static ALWAYS_INLINE void lwr32(X86Cpu *cpu, uint32_t lin, uint32_t v)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == ((lin + 3) & ~0xFFFu))) {
        st32((void *)(e->addend + lin), v);
        return;
    }
    mmu_write_slow(cpu, lin, v, 4, cpu->cpl == 3);
}
static ALWAYS_INLINE void lwr64(X86Cpu *cpu, uint32_t lin, uint64_t v)
{
    mmu_write_slow(cpu, lin, v, 8, cpu->cpl == 3);
}

/** Debug-register breakpoints (mmu.c).  dr_insn_breakpoint_hit: does an
 *  enabled instruction breakpoint (R/W = 00) match linear address lin_eip?
 *  Sets the matching DR6 B0-B3 bits.  The *_enabled() tests say whether
 *  DR7 enables any instruction / data (R/W = 01 or 11) breakpoint. */
bool dr_insn_breakpoint_hit(X86Cpu *cpu, uint32_t lin_eip);
bool dr_insn_breakpoints_enabled(X86Cpu *cpu);
bool dr_data_breakpoints_enabled(X86Cpu *cpu);

/** Probe that a linear write of size bytes would succeed (raises #PF if
 *  not), without writing: for instructions that must fault before any
 *  side effect (e.g. far CALL pushing several words). */
void mmu_probe_write(X86Cpu *cpu, uint32_t lin, unsigned size, bool user);

/** Supervisor linear accesses (descriptor tables, TSS, IDT): ignore CPL. */
uint8_t sys_rd8(X86Cpu *cpu, uint32_t lin);
uint16_t sys_rd16(X86Cpu *cpu, uint32_t lin);
uint32_t sys_rd32(X86Cpu *cpu, uint32_t lin);
void sys_wr8(X86Cpu *cpu, uint32_t lin, uint8_t v);
void sys_wr16(X86Cpu *cpu, uint32_t lin, uint16_t v);
void sys_wr32(X86Cpu *cpu, uint32_t lin, uint32_t v);

/* ---- segmented accesses ---- */

/** Raise the fault for a segment check failure on segment s:
 *  #SS(0) for SS, #GP(0) otherwise. */
NORETURN void seg_fault(X86Cpu *cpu, int s);

/** Linear address of seg:off for an access of size bytes; checks limit and
 *  read/write rights (SDM vol. 3 §5.3, §5.5). */
static ALWAYS_INLINE uint32_t seg_lin(X86Cpu *cpu, int s, uint32_t off, unsigned size, bool write)
{
    const SegReg *sr = &cpu->seg[s];
    if (likely((int64_t)off + (size - 1) <= (write ? sr->lim_w : sr->lim_r)))
        return sr->base + off;
    if (unlikely(!(write ? sr->ok_w : sr->ok_r) ||
                 off - sr->lo > sr->hi - sr->lo || sr->hi - off < size - 1))
        seg_fault(cpu, s);
    return sr->base + off;
}

static ALWAYS_INLINE uint8_t rd8(X86Cpu *cpu, int s, uint32_t off) { return lrd8(cpu, seg_lin(cpu, s, off, 1, false)); }
static ALWAYS_INLINE uint16_t rd16(X86Cpu *cpu, int s, uint32_t off) { return lrd16(cpu, seg_lin(cpu, s, off, 2, false)); }
static ALWAYS_INLINE uint32_t rd32(X86Cpu *cpu, int s, uint32_t off) { return lrd32(cpu, seg_lin(cpu, s, off, 4, false)); }
static ALWAYS_INLINE uint64_t rd64(X86Cpu *cpu, int s, uint32_t off) { return lrd64(cpu, seg_lin(cpu, s, off, 8, false)); }
static ALWAYS_INLINE void wr8(X86Cpu *cpu, int s, uint32_t off, uint8_t v) { lwr8(cpu, seg_lin(cpu, s, off, 1, true), v); }
static ALWAYS_INLINE void wr16(X86Cpu *cpu, int s, uint32_t off, uint16_t v) { lwr16(cpu, seg_lin(cpu, s, off, 2, true), v); }
static ALWAYS_INLINE void wr32(X86Cpu *cpu, int s, uint32_t off, uint32_t v) { lwr32(cpu, seg_lin(cpu, s, off, 4, true), v); }
static ALWAYS_INLINE void wr64(X86Cpu *cpu, int s, uint32_t off, uint64_t v) { lwr64(cpu, seg_lin(cpu, s, off, 8, true), v); }

/** The fast path of a data access of size bytes at s:off, without any
 *  fault: the host pointer when the segment check passes and the TLB maps
 *  the bytes (one page, RAM, access allowed), else NULL, and the caller
 *  then redoes the access through rdN/wrN, which fault or take the slow
 *  path.  Handlers call their slow path as a tail call, so that they stay
 *  leaf functions with no register spills. */
/** The TLB part of fast_ptr(): host pointer for size bytes at linear lin
 *  when the TLB maps them for this access (one page, RAM, allowed), else
 *  NULL.  rmw: both the read and the write must be allowed. */
static ALWAYS_INLINE void *tlb_ptr(X86Cpu *cpu, uint32_t lin, unsigned size, bool write, bool rmw)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    uint32_t last = (lin + size - 1) & ~0xFFFu;
    if (rmw ? unlikely(e->tag_w != last || e->tag_r != last) : unlikely((write ? e->tag_w : e->tag_r) != last))
        return NULL;
    return (void *)(e->addend + lin);
}

static ALWAYS_INLINE void *fast_ptr(X86Cpu *cpu, int s, uint32_t off, unsigned size, bool write)
{
    const SegReg *sr = &cpu->seg[s];
    if (unlikely((int64_t)off + (size - 1) > (write ? sr->lim_w : sr->lim_r)))
        return NULL;
    return tlb_ptr(cpu, sr->base + off, size, write, false);
}

/** fast_ptr() for a read-modify-write access: the TLB must allow both. */
static ALWAYS_INLINE uint8_t *fast_ptr_rmw(X86Cpu *cpu, int s, uint32_t off, unsigned size)
{
    const SegReg *sr = &cpu->seg[s];
    if (unlikely((int64_t)off + (size - 1) > sr->lim_w))
        return NULL;
    return (uint8_t *)tlb_ptr(cpu, sr->base + off, size, true, true);
}

/** Host loads and stores of size 1, 2 or 4 bytes (size a constant). */
static ALWAYS_INLINE uint32_t ld_sz(const void *p, unsigned size)
{
    return size == 1 ? *(const uint8_t *)p : size == 2 ? ld16(p) : ld32(p);
}
static ALWAYS_INLINE void st_sz(void *p, unsigned size, uint32_t v)
{
    if (size == 1)
        *(uint8_t *)p = (uint8_t)v;
    else if (size == 2)
        st16(p, (uint16_t)v);
    else
        st32(p, v);
}

/** Effective address of the ModRM memory operand (offset within i->seg). */
static ALWAYS_INLINE uint32_t insn_ea(X86Cpu *cpu, const Insn *i)
{
    uint32_t ea = cpu->r[i->base] + (cpu->r[i->index] << i->scale) + i->disp;
    if (i->flags & IF_A16)
        ea &= 0xFFFF;
    return ea;
}

/* ---- memory operand forms ----
 * A handler with a ModRM memory operand is built in up to three forms
 * (suffixes _m, _mf, _mfx), and tc_build picks one per instruction
 * (cpu_insn_flat, decode.c):
 *   MF_SEG       any operand: insn_ea(), then the segment check (_m);
 *   MF_FLAT      32-bit addressing, no index, segment DS/ES/SS in a
 *                TCM_FLAT block: linear address = base + disp (_mf);
 *   MF_FLAT_SIB  the same with an index register (_mfx).
 * The flat forms skip the segment arithmetic, which TCM_FLAT makes a
 * no-op (seg_is_flat).  Their slow paths are the MF_SEG ones: the full
 * access with its faults.  The single-step interpreter (-no-tcache) only
 * uses MF_SEG, so it stays the reference for the flat forms. */
enum { MF_SEG, MF_FLAT, MF_FLAT_SIB };

/** Offset (for MF_SEG; linear address for the flat forms) of i's memory operand. */
static ALWAYS_INLINE uint32_t mf_ea(X86Cpu *cpu, const Insn *i, int mf)
{
    if (mf == MF_FLAT)
        return cpu->r[i->base] + i->disp;
    if (mf == MF_FLAT_SIB)
        return cpu->r[i->base] + (cpu->r[i->index] << i->scale) + i->disp;
    return insn_ea(cpu, i);
}

/** fast_ptr() / fast_ptr_rmw() for i's memory operand in form mf. */
static ALWAYS_INLINE void *mf_ptr(X86Cpu *cpu, const Insn *i, int mf, unsigned size, bool write)
{
    if (mf == MF_SEG)
        return fast_ptr(cpu, i->seg, insn_ea(cpu, i), size, write);
    return tlb_ptr(cpu, mf_ea(cpu, i, mf), size, write, false);
}
static ALWAYS_INLINE uint8_t *mf_ptr_rmw(X86Cpu *cpu, const Insn *i, int mf, unsigned size)
{
    if (mf == MF_SEG)
        return fast_ptr_rmw(cpu, i->seg, insn_ea(cpu, i), size);
    return (uint8_t *)tlb_ptr(cpu, mf_ea(cpu, i, mf), size, true, true);
}

/* ---- registers ---- */

static ALWAYS_INLINE uint8_t get_r8(X86Cpu *cpu, int n)
{
    return (uint8_t)(cpu->r[n & 3] >> ((n & 4) << 1));
}
static ALWAYS_INLINE void set_r8(X86Cpu *cpu, int n, uint8_t v)
{
    int sh = (n & 4) << 1;
    cpu->r[n & 3] = (cpu->r[n & 3] & ~(0xFFu << sh)) | ((uint32_t)v << sh);
}
static ALWAYS_INLINE uint16_t get_r16(X86Cpu *cpu, int n) { return (uint16_t)cpu->r[n]; }
static ALWAYS_INLINE void set_r16(X86Cpu *cpu, int n, uint16_t v)
{
    cpu->r[n] = (cpu->r[n] & 0xFFFF0000u) | v;
}

/* ---- stack (ops_stack.c / seg.c) ---- */
/** Push/pop with SS.B choosing ESP or SP; check and fault before changing ESP. */
void push16(X86Cpu *cpu, uint16_t v);
void push32(X86Cpu *cpu, uint32_t v);
uint16_t pop16(X86Cpu *cpu);
uint32_t pop32(X86Cpu *cpu);
/** Current stack pointer value masked to the stack size; set it back. */
static ALWAYS_INLINE uint32_t sp_get(X86Cpu *cpu) { return cpu->stack32 ? cpu->r[R_ESP] : (cpu->r[R_ESP] & 0xFFFF); }
static ALWAYS_INLINE void sp_set(X86Cpu *cpu, uint32_t v)
{
    if (cpu->stack32)
        cpu->r[R_ESP] = v;
    else
        cpu->r[R_ESP] = (cpu->r[R_ESP] & 0xFFFF0000u) | (v & 0xFFFF);
}

/* ---- flags (flags.c) ---- */
/** CF from the lazy flags (the table in flags.c), inline and call-free so
 *  that handlers needing a carry-in (ADC, SBB, INC, DEC, RCL) stay leaf
 *  functions. */
static ALWAYS_INLINE unsigned lf_cf(const X86Cpu *cpu)
{
    const LazyFlags *lf = &cpu->lf;
    unsigned top = lf->size * 8u - 1;
    /* CMP/SUB and ADD first: a switch is an indirect jump on the host. */
    if (likely(lf->op == LF_SUB))
        return lf->dst < lf->src;
    if (lf->op == LF_ADD)
        return lf->res < lf->dst;
    switch (lf->op) {
    case LF_NONE:
        return cpu->eflags & EFLAGS_CF;
    case LF_ADD:
        return lf->res < lf->dst;
    case LF_ADC:
        return (((lf->dst & lf->src) | ((lf->dst | lf->src) & ~lf->res)) >> top) & 1;
    case LF_SUB:
    case LF_NEG:
        return lf->dst < lf->src;
    case LF_SBB:
        return (((~lf->dst & lf->src) | ((~lf->dst | lf->src) & lf->res)) >> top) & 1;
    case LF_LOGIC:
        return 0;
    default: /* INC DEC SHL SHR SAR ROT */
        return lf->cf_in;
    }
}
bool get_cf(X86Cpu *cpu);
bool get_pf(X86Cpu *cpu);
bool get_af(X86Cpu *cpu);
bool get_zf(X86Cpu *cpu);
bool get_sf(X86Cpu *cpu);
bool get_of(X86Cpu *cpu);
/** Evaluate condition code cc (0-15, the low nibble of Jcc/SETcc/CMOVcc). */
bool cpu_cond(X86Cpu *cpu, int cc);
/** Top (sign) bit of a value truncated to lf->size bytes. */
static ALWAYS_INLINE uint32_t lf_top(const LazyFlags *lf, uint32_t v)
{
    return (v >> (lf->size * 8u - 1)) & 1;
}
/** Sign-extend a value truncated to lf->size bytes (signed compares). */
static ALWAYS_INLINE int32_t lf_sext(const LazyFlags *lf, uint32_t v)
{
    unsigned sh = 32 - lf->size * 8u;
    return (int32_t)(v << sh) >> sh;
}
/** The common cases of cpu_cond() inline: CF (B/NB) always, ZF and SF from
 *  any lazy result, BE/L/LE after CMP/SUB and after logic ops.  Returns 0
 *  or 1, or -1 for the rest (O, P, and BE/L/LE after other ops): then the
 *  caller asks cpu_cond(), from a cold tail-called path so that the
 *  handler stays a leaf function without a stack frame.  cc should be a
 *  compile-time constant. */
static ALWAYS_INLINE int cpu_cond_try(const X86Cpu *cpu, int cc)
{
    const LazyFlags *lf = &cpu->lf;
    int inv = cc & 1;
    switch (cc >> 1) {
    case 1: /* B / NB */
        return (int)lf_cf(cpu) ^ inv;
    case 2: /* E / NE */
        return ((lf->op == LF_NONE) ? (cpu->eflags & EFLAGS_ZF) != 0 : lf->res == 0) ^ inv;
    case 3: /* BE / NBE */
        if (lf->op == LF_SUB)
            return (lf->dst <= lf->src) ^ inv;
        if (lf->op == LF_LOGIC)
            return (lf->res == 0) ^ inv;
        break;
    case 4: /* S / NS */
        return ((lf->op == LF_NONE) ? (cpu->eflags & EFLAGS_SF) != 0 : lf_top(lf, lf->res) != 0) ^ inv;
    case 6: /* L / NL */
        if (lf->op == LF_SUB)
            return (lf_sext(lf, lf->dst) < lf_sext(lf, lf->src)) ^ inv;
        if (lf->op == LF_LOGIC)
            return (lf_top(lf, lf->res) != 0) ^ inv;
        break;
    case 7: /* LE / NLE */
        if (lf->op == LF_SUB)
            return (lf_sext(lf, lf->dst) <= lf_sext(lf, lf->src)) ^ inv;
        if (lf->op == LF_LOGIC)
            return (lf->res == 0 || lf_top(lf, lf->res)) ^ inv;
        break;
    default:
        break;
    }
    return -1;
}
/** cpu_cond() with the common cases inline (cpu_cond_try). */
static ALWAYS_INLINE bool cpu_cond_fast(X86Cpu *cpu, int cc)
{
    int c = cpu_cond_try(cpu, cc);
    return c >= 0 ? c != 0 : cpu_cond(cpu, cc);
}
/** Full EFLAGS with arithmetic flags materialised (bit 1 set). */
uint32_t cpu_eflags(X86Cpu *cpu);
/** Write EFLAGS bits selected by mask (caller applies privilege rules);
 *  arithmetic flags become exact (lf.op = LF_NONE).  Handles IF changes
 *  (pending interrupt check) and VM/TF bookkeeping. */
void cpu_load_eflags(X86Cpu *cpu, uint32_t val, uint32_t mask);
/** Materialise lazy flags into cpu->eflags (lf.op becomes LF_NONE). */
void flags_materialize(X86Cpu *cpu);

#define SET_LAZY(cpu, OP, SIZE, DST, SRC, RES)                                  \
    do {                                                                         \
        (cpu)->lf.op = (OP);                                                     \
        (cpu)->lf.size = (SIZE);                                                 \
        (cpu)->lf.dst = (DST);                                                   \
        (cpu)->lf.src = (SRC);                                                   \
        (cpu)->lf.res = (RES);                                                   \
    } while (0)

/* ---- port I/O (ops_io.c): with IOPL / TSS bitmap checks (SDM vol. 1 §19.5) ---- */
/** Check that the current task may access size bytes at port (CPL > IOPL
 *  or V86 mode: consult the TSS I/O bitmap); raises #GP(0) if not. */
void io_check(X86Cpu *cpu, uint16_t port, unsigned size);
uint32_t cpu_io_read(X86Cpu *cpu, uint16_t port, unsigned size);
void cpu_io_write(X86Cpu *cpu, uint16_t port, uint32_t val, unsigned size);

/* ---- x87 (fpu.c) ---- */
/** x87 state at RESET (hard: FCW 0x0040, FSW 0, FTW 0x5555 per SDM vol. 3
 *  table 9-1) or INIT (x87 unchanged). */
void fpu_reset(X86Cpu *cpu, bool hard);

/* ---- translation cache hooks (exec.c) ---- */
/** Invalidate translated code overlapping [paddr, paddr+len). */
void tc_invalidate_phys(X86Cpu *cpu, uint32_t paddr, uint32_t len);
/** Stop the running block right after the current instruction (a debugger
 *  watchpoint hit): the block is invalidated and retranslated later. */
void tc_stop_after_current(X86Cpu *cpu);
/** Drop every translated block (e.g. when the code memory map changes). */
void tc_flush(X86Cpu *cpu);

/* ---- handler conventions ---- */
/* Threaded dispatch: each handler jumps straight to the next instruction's
 * handler (a sibling call), so every handler has its own indirect branch
 * for the predictor.  A handler that ends the block returns a pointer just
 * past the last instruction that retired in cpu->cur_block (i + 1 for
 * itself); the block's sentinel and killed instructions return themselves
 * (they are not instructions).  The run loop counts retired instructions
 * from that pointer; an exception finds the faulting instruction from
 * EIP (exec.c), so nothing is stored per instruction.
 *
 * EIP inside a block: cpu->eip is exact at every block boundary (a branch
 * sets it, the sentinels compute it), but NEXT does not advance it.  A
 * handler defined with HANDLER() sets it to its own address on entry
 * (SYNC_EIP), so that it may fault, read EIP, or call out to code that
 * looks at EIP or the instruction count (devices through I/O, RDTSC).  A
 * FAST_HANDLER() does none of that on its fast path and leaves EIP stale:
 * its faults are all in a cold slow path, which starts with SYNC_EIP.
 * Only register forms and the fast-path memory forms are FAST_HANDLERs. */
#define SYNC_EIP(cpu, i) ((cpu)->eip = (i)->next_eip - (i)->len)
#define NEXT                                                                     \
    do {                                                                         \
        const Insn *n_ = i + 1;                                                  \
        return n_->fn(cpu, n_);                                                  \
    } while (0)
#define BRANCH(target)                                                           \
    do {                                                                         \
        cpu->eip = (target);                                                     \
        return i + 1;                                                            \
    } while (0)
/** End the block after this instruction (eip already advanced/set). */
#define END_BLOCK return i + 1
/** Advance past this instruction and end the block (mode changes, STI ...). */
#define NEXT_END                                                                 \
    do {                                                                         \
        cpu->eip = i->next_eip;                                                  \
        return i + 1;                                                            \
    } while (0)
/** Address of the next instruction, masked to the operand size of CS
 *  (Insn.next_eip is not masked). */
#define NEXT_EIP(cpu, i) ((cpu)->code32 ? (i)->next_eip : ((i)->next_eip & 0xFFFF))

/** Declare a handler. */
#define HANDLER_DECL(name) const Insn *name(X86Cpu *cpu, const Insn *i)
/** Define a handler (the body follows): EIP is synced on entry.  May be
 *  preceded by static. */
#define HANDLER(name)                                                            \
    const Insn *name(X86Cpu *cpu, const Insn *i);                                \
    static ALWAYS_INLINE const Insn *name##_body(X86Cpu *cpu, const Insn *i);    \
    const Insn *name(X86Cpu *cpu, const Insn *i)                                 \
    {                                                                            \
        SYNC_EIP(cpu, i);                                                        \
        return name##_body(cpu, i);                                              \
    }                                                                            \
    static ALWAYS_INLINE const Insn *name##_body(X86Cpu *cpu, const Insn *i)
/** Define a handler that neither faults (but in a slow path that syncs EIP
 *  first), nor reads EIP, nor calls out: EIP is left stale. */
#define FAST_HANDLER(name) const Insn *name(X86Cpu *cpu, const Insn *i)

/** Record the linear address of a block entry (or a single step) in the
 *  history ring (cpu_history()). */
static ALWAYS_INLINE void hist_add(X86Cpu *cpu, uint32_t lin)
{
    cpu->hist[cpu->hist_pos++ & (CPU_HISTORY - 1)] = lin;
}

/* Block chaining: a near branch (or the end of a block that falls through)
 * goes straight on into the successor block recorded in the current
 * block's chain[slot], without returning to the run loop, as long as
 *  - the successor was recorded under the current TLB generation (no
 *    mapping change, cache flush or new CS base since, so the linear
 *    address of this EIP still maps to the code it was recorded for) and
 *    starts at this EIP; it has the current mode, as the run loop links
 *    only blocks of one mode and every mode change ends its block;
 *  - no event is pending (INTR, NMI, exit request, TF, watchpoint hit);
 *  - the instruction budget has room for two more blocks (chain_limit is
 *    the run loop's budget minus 2 * BLOCK_MAX_INSNS, or 0 when chaining
 *    is off: debugger breakpoints, unoptimised builds), and the chain is
 *    at most CHAIN_MAX_INSNS long (chain_limit again: the run loop looks
 *    at the world now and then even with a huge budget, and the host
 *    stack stays bounded even if some handler were not a sibling call).
 * Otherwise the block ends and the run loop records the successor it
 * finds (link_from/link_slot/link_eip).  Relies on sibling calls, like
 * NEXT; unoptimised builds, which may not make them, never chain. */
static ALWAYS_INLINE const Insn *cpu_chain(X86Cpu *cpu, const Insn *done, uint32_t target, unsigned slot)
{
    cpu->eip = target;
#if defined(__OPTIMIZE__)
    Block *b = cpu->cur_block; /* NULL when stepping: chain_limit is 0 then */
    if (likely(cpu->icount < cpu->chain_limit)) {
        Block *s = b->chain[slot];
        if (likely(s != NULL) && likely(b->chain_gen[slot] == cpu->tlb_gen) && likely(s->eip == target) &&
            likely(!cpu->pending_check)) {
            uint32_t lin = cpu->seg[SEG_CS].base + target;
#ifndef NDEBUG
            /* Implied by the generation (no TLB flush, no new CS base since
             * the link was recorded, by the run loop, for a successor of
             * b's mode: exec.c) and by blocks ending at any mode change. */
            if (s->mode != cpu->tc_mode || cpu->seg[SEG_CS].base != cpu->chain_cs_base)
                abort();
#endif
            cpu->icount += b->ninsns;
            hist_add(cpu, lin);
            cpu->cur_block = s;
            return s->insns[0].fn(cpu, s->insns);
        }
    }
    cpu->link_from = b;
    cpu->link_slot = (uint8_t)slot;
    cpu->link_eip = target;
#endif
    return done;
}
/** A near branch taken (no mode change): set EIP and chain (slot 0). */
#define BRANCH_CHAIN(target) return cpu_chain(cpu, i + 1, (target), 0)
/** A conditional branch not taken: advance and chain (slot 1). */
#define NEXT_CHAIN return cpu_chain(cpu, i + 1, i->next_eip, 1)

/** Common invalid-opcode handler: raises #UD. */
HANDLER_DECL(op_ud);

#endif
