/*
 * seg.h - descriptors, stack frames, far transfers and task switches:
 * declarations shared by seg.c, interrupt.c, task.c and ops_ctrl.c (and
 * seg_load_ldtr / seg_load_tr for the LLDT / LTR handlers).  Private to cpu/.
 */
#ifndef VESSEL_CPU_SEG_H
#define VESSEL_CPU_SEG_H

#include "cpu/cpu_internal.h"

/* ---- descriptors (SDM vol. 3 §3.4.5) ---- */

/** A raw 8-byte descriptor: lo = bytes 0-3, hi = bytes 4-7. */
typedef struct Desc {
    uint32_t lo, hi;
} Desc;

static inline unsigned desc_type(Desc d) { return (d.hi >> 8) & 0xF; }
static inline bool desc_s(Desc d) { return (d.hi >> 12) & 1; }
static inline unsigned desc_dpl(Desc d) { return (d.hi >> 13) & 3; }
static inline bool desc_p(Desc d) { return (d.hi >> 15) & 1; }
static inline bool desc_code(Desc d) { return desc_s(d) && (d.hi & 0x800); }
static inline bool desc_conforming(Desc d) { return (d.hi & 0x400) != 0; }
/** Data segment, or code segment that is readable. */
static inline bool desc_readable(Desc d) { return desc_s(d) && (!(d.hi & 0x800) || (d.hi & 0x200)); }
static inline bool desc_writable_data(Desc d) { return desc_s(d) && (d.hi & 0xA00) == 0x200; }
static inline uint32_t desc_base(Desc d)
{
    return (d.lo >> 16) | ((d.hi & 0xFF) << 16) | (d.hi & 0xFF000000u);
}
static inline uint32_t desc_limit(Desc d)
{
    uint32_t l = (d.lo & 0xFFFF) | (d.hi & 0xF0000);
    return (d.hi & 0x800000) ? (l << 12) | 0xFFF : l;
}
/** Access rights in SegReg.ar format (descriptor bits 40-47 and 52-55). */
static inline uint16_t desc_ar(Desc d) { return (uint16_t)((d.hi >> 8) & 0xF0FF); }
/** Gate fields. */
static inline uint16_t gate_sel(Desc d) { return (uint16_t)(d.lo >> 16); }
static inline uint32_t gate_off(Desc d, bool g32)
{
    return g32 ? (d.lo & 0xFFFF) | (d.hi & 0xFFFF0000u) : (d.lo & 0xFFFF);
}

/** Error code for a selector (index and TI; EXT added by the caller). */
static inline uint32_t sel_err(uint16_t sel) { return sel & 0xFFFCu; }

/** Read the descriptor for sel from the GDT or LDT.  Returns false (nothing
 *  read) if its index lies beyond the table limit or the LDT is unusable.
 *  *addr receives the descriptor's linear address. */
bool desc_fetch(X86Cpu *cpu, uint16_t sel, Desc *d, uint32_t *addr);
/** Set the accessed bit of a code/data descriptor in memory (and in *d). */
void desc_set_accessed(X86Cpu *cpu, uint32_t addr, Desc *d);

/* ---- segment caches ---- */

/** Fill a cache from a descriptor (checks not updated). */
void seg_cache_load(SegReg *sr, uint16_t sel, Desc d);
/** A null selector in DS/ES/FS/GS (PM): the register is unusable. */
void seg_cache_null(SegReg *sr, uint16_t sel);
/** Real-mode / V86-mode style cache for selector sel. */
void seg_cache_v86(SegReg *sr, uint16_t sel);
/** Compute lo/hi/ok_r/ok_w of a cache for protected mode (used for a new
 *  stack segment before it is committed). */
void seg_calc_checks_pm(SegReg *sr);

/** Would an access of size bytes at off pass the limit/rights check? */
static inline bool seg_off_ok(const SegReg *sr, uint32_t off, unsigned size, bool write)
{
    return (write ? sr->ok_w : sr->ok_r) && off - sr->lo <= sr->hi - sr->lo &&
           sr->hi - off >= size - 1;
}

/** Load CS in protected mode from a checked code descriptor: selector RPL
 *  and the cached DPL become cpl (for conforming segments the CPL does not
 *  change; vessel keeps CPL = CS.DPL of the cache).  Sets the accessed bit.
 *  The caller calls cpu_mode_changed() once everything is loaded. */
void seg_load_cs_pm(X86Cpu *cpu, uint16_t sel, Desc d, uint32_t daddr, unsigned cpl);

/** After a return to an outer privilege level: ES, DS, FS, GS that hold a
 *  data or non-conforming code segment with DPL < CPL become null. */
void seg_null_outer(X86Cpu *cpu);

/** Stack from the current TSS for privilege level pl: #TS(TR + ext) if the
 *  TSS is too short. */
void tss_stack(X86Cpu *cpu, unsigned pl, uint16_t *ss, uint32_t *esp, uint32_t ext);
/** Validate a new stack segment for a privilege change (interrupt / call
 *  gate): null #TS(ext), bad #TS(ss + ext), not present #SS(ss + ext).
 *  Fills *out (checks computed) and sets the accessed bit. */
void seg_check_new_ss(X86Cpu *cpu, uint16_t ss, unsigned cpl, uint32_t ext, SegReg *out);

/** LLDT / LTR semantics (SDM vol. 2), without the CPL / mode checks (done by
 *  the instruction handlers): #GP(sel) / #NP(sel); LTR sets the busy bit. */
void seg_load_ldtr(X86Cpu *cpu, uint16_t sel);
void seg_load_tr(X86Cpu *cpu, uint16_t sel);

/* ---- stack frames built before they are committed ---- */

/** A stack being pushed or popped without touching ESP until commit. */
typedef struct Stk {
    SegReg ss;       /**< stack segment with checks */
    uint32_t sp;     /**< full 32-bit stack pointer */
    uint32_t mask;   /**< 0xFFFF (16-bit SS) or 0xFFFFFFFF */
    bool sup;        /**< supervisor accesses (new stack of CPL < 3) */
} Stk;

static inline void stk_cur(X86Cpu *cpu, Stk *s)
{
    s->ss = cpu->seg[SEG_SS];
    s->sp = cpu->r[R_ESP];
    s->mask = cpu->stack32 ? 0xFFFFFFFFu : 0xFFFFu;
    s->sup = cpu->cpl != 3;
}

static inline void stk_new(Stk *s, const SegReg *ss, uint32_t esp, unsigned cpl)
{
    s->ss = *ss;
    s->sp = esp;
    s->mask = (ss->ar & AR_DB) ? 0xFFFFFFFFu : 0xFFFFu;
    s->sup = cpl != 3;
}

/** Room to push n items of size bytes? */
static inline bool stk_can_push(const Stk *s, unsigned n, unsigned size)
{
    for (unsigned k = 1; k <= n; k++) {
        if (!seg_off_ok(&s->ss, (s->sp - k * size) & s->mask, size, true))
            return false;
    }
    return true;
}

/** Can n items of size bytes be read starting skip bytes above SP? */
static inline bool stk_can_pop(const Stk *s, uint32_t skip, unsigned n, unsigned size)
{
    for (unsigned k = 0; k < n; k++) {
        if (!seg_off_ok(&s->ss, (s->sp + skip + k * size) & s->mask, size, false))
            return false;
    }
    return true;
}

static inline uint32_t stk_lin_push(Stk *s, unsigned size)
{
    s->sp = (s->sp & ~s->mask) | ((s->sp - size) & s->mask);
    return s->ss.base + (s->sp & s->mask);
}

static inline void stk_push16(X86Cpu *cpu, Stk *s, uint16_t v)
{
    uint32_t lin = stk_lin_push(s, 2);
    if (s->sup && cpu->cpl == 3)
        sys_wr16(cpu, lin, v);
    else
        lwr16(cpu, lin, v);
}

static inline void stk_push32(X86Cpu *cpu, Stk *s, uint32_t v)
{
    uint32_t lin = stk_lin_push(s, 4);
    if (s->sup && cpu->cpl == 3)
        sys_wr32(cpu, lin, v);
    else
        lwr32(cpu, lin, v);
}

static inline void stk_push(X86Cpu *cpu, Stk *s, uint32_t v, bool size32)
{
    if (size32)
        stk_push32(cpu, s, v);
    else
        stk_push16(cpu, s, (uint16_t)v);
}

/** Pops (reads at the current privilege; limits checked by stk_can_pop). */
static inline uint32_t stk_pop(X86Cpu *cpu, Stk *s, bool size32)
{
    uint32_t lin = s->ss.base + (s->sp & s->mask);
    uint32_t v = size32 ? lrd32(cpu, lin) : lrd16(cpu, lin);
    s->sp = (s->sp & ~s->mask) | ((s->sp + (size32 ? 4 : 2)) & s->mask);
    return v;
}

static inline void stk_skip(Stk *s, uint32_t bytes)
{
    s->sp = (s->sp & ~s->mask) | ((s->sp + bytes) & s->mask);
}

/** Write the stack pointer back: only the bits of the stack size change
 *  (a 16-bit stack keeps ESP[31:16], as the hardware does). */
static inline void stk_commit(X86Cpu *cpu, const Stk *s)
{
    cpu->r[R_ESP] = (cpu->r[R_ESP] & ~s->mask) | (s->sp & s->mask);
}

/* ---- task switch (task.c, SDM vol. 3 §7.3) ---- */

enum { TS_JMP, TS_CALL, TS_INT, TS_IRET };

/** Switch to the task whose TSS descriptor d (at daddr) is selected by sel.
 *  The caller checked the gate / descriptor privilege, type and busy rules;
 *  task_switch checks presence and the TSS limit, saves the state (EIP =
 *  next_eip) and loads the new task.  ext: EXT bit for error codes.
 *  The new TSS's T flag raises #DB (trap) at the end, except for TS_INT,
 *  where task_switch returns true and the caller raises it after pushing
 *  the error code. */
bool task_switch(X86Cpu *cpu, uint16_t sel, Desc d, uint32_t daddr, int source,
                 uint32_t next_eip, uint32_t ext);

/** True when the current TSS is a 32-bit TSS. */
static inline bool tss_is32(const X86Cpu *cpu) { return (cpu->seg[SEG_TR].ar & 0x8) != 0; }

/* ---- exceptions (interrupt.c) ---- */

/** Deliver the exception recorded by cpu_raise (declared in exec.h too). */
void cpu_deliver_pending_exception(X86Cpu *cpu);

#endif
