/*
 * ops_stack.c - the stack: push16/push32/pop16/pop32 (used by every
 * group), PUSH/POP of registers, immediates, memory and segment registers,
 * PUSHA/POPA, PUSHF/POPF, ENTER and LEAVE (SDM vol. 2).
 *
 * SS.B (cpu->stack32) selects ESP or SP.  Memory is written or read
 * before ESP changes, so a faulting instruction leaves ESP intact.
 */
#include "cpu/cpu_internal.h"

/* Stack pointer after moving by delta, wrapped to the stack size. */
static ALWAYS_INLINE uint32_t sp_add(X86Cpu *cpu, uint32_t sp, uint32_t delta)
{
    return cpu->stack32 ? sp + delta : ((sp + delta) & 0xFFFF);
}

static ALWAYS_INLINE void push16_i(X86Cpu *cpu, uint16_t v)
{
    uint32_t sp = sp_add(cpu, sp_get(cpu), (uint32_t)-2);
    wr16(cpu, SEG_SS, sp, v);
    sp_set(cpu, sp);
}

static ALWAYS_INLINE void push32_i(X86Cpu *cpu, uint32_t v)
{
    uint32_t sp = sp_add(cpu, sp_get(cpu), (uint32_t)-4);
    wr32(cpu, SEG_SS, sp, v);
    sp_set(cpu, sp);
}

static ALWAYS_INLINE uint16_t pop16_i(X86Cpu *cpu)
{
    uint32_t sp = sp_get(cpu);
    uint16_t v = rd16(cpu, SEG_SS, sp);
    sp_set(cpu, sp + 2);
    return v;
}

static ALWAYS_INLINE uint32_t pop32_i(X86Cpu *cpu)
{
    uint32_t sp = sp_get(cpu);
    uint32_t v = rd32(cpu, SEG_SS, sp);
    sp_set(cpu, sp + 4);
    return v;
}

void push16(X86Cpu *cpu, uint16_t v) { push16_i(cpu, v); }
void push32(X86Cpu *cpu, uint32_t v) { push32_i(cpu, v); }
uint16_t pop16(X86Cpu *cpu) { return pop16_i(cpu); }
uint32_t pop32(X86Cpu *cpu) { return pop32_i(cpu); }

/* ---- PUSH/POP r (50-5F) ----
 * PUSH (E)SP pushes the value before the push.  POP (E)SP: the increment
 * happens first, then the popped value is written to (E)SP. */

HANDLER(op_push_Zv_w) { push16_i(cpu, (uint16_t)cpu->r[i->reg]); NEXT; }
/* 32-bit PUSH/POP of a register: the fast path inline, the full access
 * in a cold slow path reached by a tail call (as ops_mov.c). */
static __attribute__((noinline, cold)) const Insn *push_Zv_d_slow(X86Cpu *cpu, const Insn *i)
{
    SYNC_EIP(cpu, i);
    push32_i(cpu, cpu->r[i->reg]);
    NEXT;
}
FAST_HANDLER(op_push_Zv_d)
{
    uint32_t sp = sp_add(cpu, sp_get(cpu), (uint32_t)-4);
    void *p = fast_ptr(cpu, SEG_SS, sp, 4, true);
    if (unlikely(!p))
        return push_Zv_d_slow(cpu, i);
    st32(p, cpu->r[i->reg]);
    sp_set(cpu, sp);
    NEXT;
}
HANDLER(op_pop_Zv_w) { uint16_t v = pop16_i(cpu); set_r16(cpu, i->reg, v); NEXT; }
static __attribute__((noinline, cold)) const Insn *pop_Zv_d_slow(X86Cpu *cpu, const Insn *i)
{
    SYNC_EIP(cpu, i);
    uint32_t v = pop32_i(cpu);
    cpu->r[i->reg] = v;
    NEXT;
}
FAST_HANDLER(op_pop_Zv_d)
{
    uint32_t sp = sp_get(cpu);
    const void *p = fast_ptr(cpu, SEG_SS, sp, 4, false);
    if (unlikely(!p))
        return pop_Zv_d_slow(cpu, i);
    uint32_t v = ld32(p);
    sp_set(cpu, sp + 4);
    cpu->r[i->reg] = v; /* after ESP: POP ESP loads the popped value */
    NEXT;
}

/* The flat-stack forms (blocks built with TCM_FLAT: SS flat and SS.B = 1,
 * so ESP is the linear address and no limit applies; cpu_insn_flat picks
 * them): the TLB lookup only, else the full access in the slow path. */
FAST_HANDLER(op_push_Zv_df)
{
    uint32_t sp = cpu->r[R_ESP] - 4;
    void *p = tlb_ptr(cpu, sp, 4, true, false);
    if (unlikely(!p))
        return push_Zv_d_slow(cpu, i);
    st32(p, cpu->r[i->reg]);
    cpu->r[R_ESP] = sp;
    NEXT;
}
FAST_HANDLER(op_pop_Zv_df)
{
    uint32_t sp = cpu->r[R_ESP];
    const void *p = tlb_ptr(cpu, sp, 4, false, false);
    if (unlikely(!p))
        return pop_Zv_d_slow(cpu, i);
    uint32_t v = ld32(p);
    cpu->r[R_ESP] = sp + 4;
    cpu->r[i->reg] = v; /* after ESP: POP ESP loads the popped value */
    NEXT;
}

/* ---- PUSH imm (68, 6A: imm8 already sign-extended) ---- */

HANDLER(op_push_Iv_w) { push16_i(cpu, (uint16_t)i->imm); NEXT; }
HANDLER(op_push_Iv_d) { push32_i(cpu, i->imm); NEXT; }

/* ---- PUSH r/m (FF /6) and POP r/m (8F /0) ---- */

HANDLER(op_push_Ev_w_r) { push16_i(cpu, (uint16_t)cpu->r[i->rm]); NEXT; }
HANDLER(op_push_Ev_w_m) { push16_i(cpu, rd16(cpu, i->seg, insn_ea(cpu, i))); NEXT; }
HANDLER(op_push_Ev_d_r) { push32_i(cpu, cpu->r[i->rm]); NEXT; }
HANDLER(op_push_Ev_d_m) { push32_i(cpu, rd32(cpu, i->seg, insn_ea(cpu, i))); NEXT; }

HANDLER(op_pop_Ev_w_r) { uint16_t v = pop16_i(cpu); set_r16(cpu, i->rm, v); NEXT; }
HANDLER(op_pop_Ev_d_r) { uint32_t v = pop32_i(cpu); cpu->r[i->rm] = v; NEXT; }

/* Memory destination: the EA is computed with (E)SP already incremented
 * (SDM vol. 2 POP); ESP is committed only after the store succeeds. */
static ALWAYS_INLINE uint32_t pop_ea(X86Cpu *cpu, const Insn *i, uint32_t new_sp,
                                     uint32_t *new_esp)
{
    uint32_t old = cpu->r[R_ESP];
    sp_set(cpu, new_sp);
    *new_esp = cpu->r[R_ESP];
    uint32_t ea = insn_ea(cpu, i);
    cpu->r[R_ESP] = old;
    return ea;
}

HANDLER(op_pop_Ev_w_m)
{
    uint32_t sp = sp_get(cpu), esp;
    uint16_t v = rd16(cpu, SEG_SS, sp);
    uint32_t ea = pop_ea(cpu, i, sp + 2, &esp);
    wr16(cpu, i->seg, ea, v);
    cpu->r[R_ESP] = esp;
    NEXT;
}

HANDLER(op_pop_Ev_d_m)
{
    uint32_t sp = sp_get(cpu), esp;
    uint32_t v = rd32(cpu, SEG_SS, sp);
    uint32_t ea = pop_ea(cpu, i, sp + 4, &esp);
    wr32(cpu, i->seg, ea, v);
    cpu->r[R_ESP] = esp;
    NEXT;
}

/* ---- PUSH/POP Sreg (06/07 ES, 0E CS, 16/17 SS, 1E/1F DS, 0F A0/A1 FS,
 * 0F A8/A9 GS): the register is bits 3-5 of the last opcode byte ----
 * A 32-bit push moves ESP by 4 but writes only the 16-bit selector, leaving
 * the upper half of the slot unmodified (SDM vol. 2 PUSH, P6 and later). */

#define SREG_OF(i) (((i)->op >> 3) & 7)

HANDLER(op_push_Sw_w) { push16_i(cpu, cpu->seg[SREG_OF(i)].sel); NEXT; }

HANDLER(op_push_Sw_d)
{
    uint32_t sp = sp_add(cpu, sp_get(cpu), (uint32_t)-4);
    wr16(cpu, SEG_SS, sp, cpu->seg[SREG_OF(i)].sel);
    sp_set(cpu, sp);
    NEXT;
}

/* POP Sreg: read, load the segment (may fault), then move (E)SP with the
 * stack size that was in effect for the read.  POP SS inhibits interrupts
 * for one instruction. */
static ALWAYS_INLINE const Insn *pop_sreg(X86Cpu *cpu, const Insn *i, unsigned size)
{
    int s = SREG_OF(i);
    bool st32 = cpu->stack32;
    uint32_t sp = sp_get(cpu);
    uint16_t sel = size == 2 ? rd16(cpu, SEG_SS, sp) : (uint16_t)rd32(cpu, SEG_SS, sp);
    seg_load(cpu, s, sel);
    if (st32)
        cpu->r[R_ESP] = sp + size;
    else
        set_r16(cpu, R_ESP, (uint16_t)(sp + size));
    if (s == SEG_SS) {
        cpu->inhibit_irq = 1;
        cpu->pending_check = 1;
    }
    NEXT_END;
}

HANDLER(op_pop_Sw_w) { return pop_sreg(cpu, i, 2); }
HANDLER(op_pop_Sw_d) { return pop_sreg(cpu, i, 4); }

/* ---- PUSHA/POPA (60, 61) ---- */

HANDLER(op_pusha_w)
{
    uint32_t sp = sp_get(cpu);
    for (int r = 0; r < 8; r++)
        wr16(cpu, SEG_SS, sp_add(cpu, sp, (uint32_t)(-2 * (r + 1))), (uint16_t)cpu->r[r]);
    sp_set(cpu, sp - 16);
    NEXT;
}

HANDLER(op_pusha_d)
{
    uint32_t sp = sp_get(cpu);
    for (int r = 0; r < 8; r++)
        wr32(cpu, SEG_SS, sp_add(cpu, sp, (uint32_t)(-4 * (r + 1))), cpu->r[r]);
    sp_set(cpu, sp - 32);
    NEXT;
}

/* POPA: EDI first; the (E)SP slot is read past but discarded. */
HANDLER(op_popa_w)
{
    uint32_t sp = sp_get(cpu);
    uint16_t v[8];
    for (int k = 0; k < 8; k++)
        v[k] = rd16(cpu, SEG_SS, sp_add(cpu, sp, (uint32_t)(2 * k)));
    for (int k = 0; k < 8; k++)
        if (7 - k != R_ESP)
            set_r16(cpu, 7 - k, v[k]);
    sp_set(cpu, sp + 16);
    NEXT;
}

HANDLER(op_popa_d)
{
    uint32_t sp = sp_get(cpu);
    uint32_t v[8];
    for (int k = 0; k < 8; k++)
        v[k] = rd32(cpu, SEG_SS, sp_add(cpu, sp, (uint32_t)(4 * k)));
    for (int k = 0; k < 8; k++)
        if (7 - k != R_ESP)
            cpu->r[7 - k] = v[k];
    sp_set(cpu, sp + 32);
    NEXT;
}

/* ---- PUSHF/POPF (9C, 9D) ---- */

static ALWAYS_INLINE unsigned iopl_of(const X86Cpu *cpu)
{
    return (cpu->eflags & EFLAGS_IOPL) >> EFLAGS_IOPL_SHIFT;
}

/* V86 mode with IOPL < 3 traps to the monitor (CR4.VME is not offered). */
static ALWAYS_INLINE void v86_iopl_check(X86Cpu *cpu)
{
    if (unlikely((cpu->eflags & EFLAGS_VM) && iopl_of(cpu) < 3))
        cpu_raise(cpu, EXC_GP, 0);
}

/* The pushed image has VM and RF cleared. */
HANDLER(op_pushf_w)
{
    v86_iopl_check(cpu);
    push16_i(cpu, (uint16_t)cpu_eflags(cpu));
    NEXT;
}

HANDLER(op_pushf_d)
{
    v86_iopl_check(cpu);
    push32_i(cpu, cpu_eflags(cpu) & ~(EFLAGS_VM | EFLAGS_RF));
    NEXT;
}

/* Flags POPF may write (SDM vol. 2 POPF operation table):
 * always the status flags, TF, DF, NT (and AC, ID for a 32-bit pop);
 * IF if CPL <= IOPL (V86: IOPL = 3, so always); IOPL only at CPL 0 outside
 * V86 mode.  A 32-bit pop clears RF; VM, VIF and VIP never change. */
static ALWAYS_INLINE uint32_t popf_mask(X86Cpu *cpu, bool o32)
{
    uint32_t mask = EFLAGS_ARITH | EFLAGS_TF | EFLAGS_DF | EFLAGS_NT;
    if (o32)
        mask |= EFLAGS_AC | EFLAGS_ID | EFLAGS_RF;
    if (cpu->eflags & EFLAGS_VM) {
        mask |= EFLAGS_IF;          /* IOPL is 3 here */
    } else {
        if (cpu->cpl <= iopl_of(cpu))
            mask |= EFLAGS_IF;
        if (cpu->cpl == 0)
            mask |= EFLAGS_IOPL;
    }
    return mask;
}

HANDLER(op_popf_w)
{
    v86_iopl_check(cpu);
    uint16_t v = pop16_i(cpu);
    cpu_load_eflags(cpu, v, popf_mask(cpu, false));
    NEXT_END;
}

HANDLER(op_popf_d)
{
    v86_iopl_check(cpu);
    uint32_t v = pop32_i(cpu);
    cpu_load_eflags(cpu, v & ~EFLAGS_RF, popf_mask(cpu, true));
    NEXT_END;
}

/* ---- ENTER (C8) and LEAVE (C9) ----
 * ENTER: operand size selects the push width and EBP vs BP; SS.B selects
 * ESP vs SP and EBP vs BP for the frame-pointer copies.  All stores (and a
 * write check of the final stack top, as the processor does) happen before
 * any register changes. */

static ALWAYS_INLINE void st_v(X86Cpu *cpu, uint32_t off, uint32_t v, unsigned size)
{
    if (size == 4)
        wr32(cpu, SEG_SS, off, v);
    else
        wr16(cpu, SEG_SS, off, (uint16_t)v);
}

static ALWAYS_INLINE uint32_t ld_v(X86Cpu *cpu, uint32_t off, unsigned size)
{
    return size == 4 ? rd32(cpu, SEG_SS, off) : rd16(cpu, SEG_SS, off);
}

static const Insn *enter_common(X86Cpu *cpu, const Insn *i, unsigned osz)
{
    unsigned level = i->imm2 & 31;
    uint32_t size = i->imm & 0xFFFF;
    uint32_t m = cpu->stack32 ? 0xFFFFFFFFu : 0xFFFFu;
    uint32_t sp = cpu->r[R_ESP] & m;
    uint32_t bp = cpu->r[R_EBP] & m;

    sp = (sp - osz) & m;
    st_v(cpu, sp, cpu->r[R_EBP], osz);
    uint32_t frame = sp;
    if (level > 0) {
        for (unsigned k = 1; k < level; k++) {
            bp = (bp - osz) & m;
            uint32_t v = ld_v(cpu, bp, osz);
            sp = (sp - osz) & m;
            st_v(cpu, sp, v, osz);
        }
        sp = (sp - osz) & m;
        st_v(cpu, sp, frame, osz);
    }
    sp = (sp - size) & m;
    /* The final stack top must be writable. */
    mmu_probe_write(cpu, seg_lin(cpu, SEG_SS, sp, osz, true), osz, cpu->cpl == 3);

    if (osz == 4)
        cpu->r[R_EBP] = frame;
    else
        set_r16(cpu, R_EBP, (uint16_t)frame);
    sp_set(cpu, sp);
    NEXT;
}

HANDLER(op_enter_w) { return enter_common(cpu, i, 2); }
HANDLER(op_enter_d) { return enter_common(cpu, i, 4); }

HANDLER(op_leave_w)
{
    uint32_t sp = cpu->stack32 ? cpu->r[R_EBP] : (cpu->r[R_EBP] & 0xFFFF);
    uint16_t v = rd16(cpu, SEG_SS, sp);
    sp_set(cpu, sp + 2);
    set_r16(cpu, R_EBP, v);
    NEXT;
}

HANDLER(op_leave_d)
{
    uint32_t sp = cpu->stack32 ? cpu->r[R_EBP] : (cpu->r[R_EBP] & 0xFFFF);
    uint32_t v = rd32(cpu, SEG_SS, sp);
    sp_set(cpu, sp + 4);
    cpu->r[R_EBP] = v;
    NEXT;
}
