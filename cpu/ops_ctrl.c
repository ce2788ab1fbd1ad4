/*
 * ops_ctrl.c - control transfer (SDM vol. 2): Jcc, JMP, CALL, RET, LOOP,
 * JCXZ, far JMP/CALL/RET with the protected-mode rules (code segments, call
 * gates with privilege change, task gates and TSS), IRET (real, V86,
 * protected, to V86, nested task), INT n / INT3 / INTO / INT1, BOUND, HLT,
 * CLI / STI.
 *
 * Every check that can fault is done before any register changes; far
 * transfers build their stack frames with a private stack pointer (Stk)
 * and commit ESP, CS and EIP at the end.
 */
#include "cpu/optab.h"
#include "cpu/seg.h"

static __attribute__((noinline, cold)) NORETURN void target_fault(X86Cpu *cpu, const Insn *i)
{
    SYNC_EIP(cpu, i); /* for the FAST_HANDLERs (Jcc, JMP rel) */
    cpu_raise(cpu, EXC_GP, 0);
}

/* A near branch target beyond the CS limit: #GP(0) at the branch. */
static ALWAYS_INLINE void check_target_i(X86Cpu *cpu, const Insn *i, uint32_t t)
{
    if (unlikely(t > cpu->seg[SEG_CS].limit))
        target_fault(cpu, i);
}
#define check_target(cpu, t) check_target_i(cpu, i, t)

static ALWAYS_INLINE bool pmode(const X86Cpu *cpu)
{
    return (cpu->cr0 & CR0_PE) && !(cpu->eflags & EFLAGS_VM);
}

static ALWAYS_INLINE unsigned iopl(const X86Cpu *cpu)
{
    return (cpu->eflags & EFLAGS_IOPL) >> EFLAGS_IOPL_SHIFT;
}

/* ---- Jcc (70-7F, 0F 80-8F): i->imm is the target, masked to the operand size ---- */

/* The conditions cpu_cond_try() leaves open, out of line (see there). */
static __attribute__((noinline)) const Insn *jcc_slow(X86Cpu *cpu, const Insn *i, int cc)
{
    if (cpu_cond(cpu, cc)) {
        check_target(cpu, i->imm);
        BRANCH_CHAIN(i->imm);
    }
    NEXT_CHAIN;
}

#define JCC(name, cc)                                                            \
    FAST_HANDLER(op_##name)                                                      \
    {                                                                            \
        int c_ = cpu_cond_try(cpu, cc);                                          \
        if (unlikely(c_ < 0))                                                    \
            return jcc_slow(cpu, i, cc);                                         \
        if (c_) {                                                                \
            check_target(cpu, i->imm);                                           \
            BRANCH_CHAIN(i->imm);                                                \
        }                                                                        \
        NEXT_CHAIN;                                                              \
    }
JCC(jo, 0x0)
JCC(jno, 0x1)
JCC(jb, 0x2)
JCC(jnb, 0x3)
JCC(jz, 0x4)
JCC(jnz, 0x5)
JCC(jbe, 0x6)
JCC(jnbe, 0x7)
JCC(js, 0x8)
JCC(jns, 0x9)
JCC(jp, 0xA)
JCC(jnp, 0xB)
JCC(jl, 0xC)
JCC(jnl, 0xD)
JCC(jle, 0xE)
JCC(jnle, 0xF)

/* ---- JMP / CALL near (EB, E9, E8, FF /2, FF /4), RET (C3, C2) ---- */

FAST_HANDLER(op_jmp_rel)
{
    check_target(cpu, i->imm);
    BRANCH_CHAIN(i->imm);
}

HANDLER(op_call_rel_w)
{
    check_target(cpu, i->imm);
    push16(cpu, (uint16_t)NEXT_EIP(cpu, i));
    BRANCH_CHAIN(i->imm);
}

HANDLER(op_call_rel_d)
{
    check_target(cpu, i->imm);
    push32(cpu, NEXT_EIP(cpu, i));
    BRANCH_CHAIN(i->imm);
}

/* CALL rel32 in a TCM_FLAT block (cpu_insn_flat): the push through the
 * TLB only, else the whole instruction again by op_call_rel_d. */
FAST_HANDLER(op_call_rel_df)
{
    check_target(cpu, i->imm);
    uint32_t sp = cpu->r[R_ESP] - 4;
    void *p = tlb_ptr(cpu, sp, 4, true, false);
    if (unlikely(!p))
        return op_call_rel_d(cpu, i);
    st32(p, NEXT_EIP(cpu, i));
    cpu->r[R_ESP] = sp;
    BRANCH_CHAIN(i->imm);
}

#define NEAR_IND(name, T_W_R, T_W_M, T_D_R, T_D_M, PUSH)                         \
    HANDLER(op_##name##_w_r)                                                     \
    {                                                                            \
        uint32_t t = T_W_R;                                                      \
        check_target(cpu, t);                                                    \
        PUSH(16);                                                                \
        BRANCH_CHAIN(t);                                                         \
    }                                                                            \
    HANDLER(op_##name##_w_m)                                                     \
    {                                                                            \
        uint32_t t = T_W_M;                                                      \
        check_target(cpu, t);                                                    \
        PUSH(16);                                                                \
        BRANCH_CHAIN(t);                                                         \
    }                                                                            \
    HANDLER(op_##name##_d_r)                                                     \
    {                                                                            \
        uint32_t t = T_D_R;                                                      \
        check_target(cpu, t);                                                    \
        PUSH(32);                                                                \
        BRANCH_CHAIN(t);                                                         \
    }                                                                            \
    HANDLER(op_##name##_d_m)                                                     \
    {                                                                            \
        uint32_t t = T_D_M;                                                      \
        check_target(cpu, t);                                                    \
        PUSH(32);                                                                \
        BRANCH_CHAIN(t);                                                         \
    }

#define PUSH_RET(bits) push##bits(cpu, (uint##bits##_t)NEXT_EIP(cpu, i))
#define NO_PUSH(bits) (void)0

NEAR_IND(call_ind, cpu->r[i->rm] & 0xFFFF, rd16(cpu, i->seg, insn_ea(cpu, i)), cpu->r[i->rm],
         rd32(cpu, i->seg, insn_ea(cpu, i)), PUSH_RET)
NEAR_IND(jmp_ind, cpu->r[i->rm] & 0xFFFF, rd16(cpu, i->seg, insn_ea(cpu, i)), cpu->r[i->rm],
         rd32(cpu, i->seg, insn_ea(cpu, i)), NO_PUSH)

HANDLER(op_ret_w)
{
    uint32_t sp = sp_get(cpu);
    uint32_t t = rd16(cpu, SEG_SS, sp);
    check_target(cpu, t);
    sp_set(cpu, sp + 2 + i->imm);
    BRANCH_CHAIN(t);
}

HANDLER(op_ret_d)
{
    uint32_t sp = sp_get(cpu);
    uint32_t t = rd32(cpu, SEG_SS, sp);
    check_target(cpu, t);
    sp_set(cpu, sp + 4 + i->imm);
    BRANCH_CHAIN(t);
}

/* RET (imm16) in a TCM_FLAT block: the pop through the TLB only, else
 * the whole instruction again by op_ret_d. */
FAST_HANDLER(op_ret_df)
{
    uint32_t sp = cpu->r[R_ESP];
    const void *p = tlb_ptr(cpu, sp, 4, false, false);
    if (unlikely(!p))
        return op_ret_d(cpu, i);
    uint32_t t = ld32(p);
    check_target(cpu, t);
    cpu->r[R_ESP] = sp + 4 + i->imm;
    BRANCH_CHAIN(t);
}

/* ---- LOOP / LOOPE / LOOPNE / JCXZ (E0-E3): the address size selects CX or ECX ---- */

static ALWAYS_INLINE const Insn *loop_common(X86Cpu *cpu, const Insn *i, int kind)
{
    uint32_t c;
    if (i->flags & IF_A16)
        c = (cpu->r[R_ECX] - 1) & 0xFFFF;
    else
        c = cpu->r[R_ECX] - 1;
    bool take = c != 0;
    if (take && kind == 1)
        take = get_zf(cpu);
    else if (take && kind == 2)
        take = !get_zf(cpu);
    if (take)
        check_target(cpu, i->imm);
    if (i->flags & IF_A16)
        set_r16(cpu, R_ECX, (uint16_t)c);
    else
        cpu->r[R_ECX] = c;
    if (take)
        BRANCH_CHAIN(i->imm);
    NEXT_CHAIN;
}

HANDLER(op_loopne) { return loop_common(cpu, i, 2); }
HANDLER(op_loope) { return loop_common(cpu, i, 1); }
HANDLER(op_loop) { return loop_common(cpu, i, 0); }

HANDLER(op_jcxz)
{
    uint32_t c = (i->flags & IF_A16) ? (cpu->r[R_ECX] & 0xFFFF) : cpu->r[R_ECX];
    if (c == 0) {
        check_target(cpu, i->imm);
        BRANCH_CHAIN(i->imm);
    }
    NEXT_CHAIN;
}

/* ---- far transfers ---- */

/* Check a task gate (JMP/CALL) and return its TSS descriptor. */
static uint16_t task_gate_target(X86Cpu *cpu, Desc g, uint16_t gsel, Desc *td, uint32_t *ta)
{
    if (desc_dpl(g) < cpu->cpl || desc_dpl(g) < (gsel & 3u))
        cpu_raise(cpu, EXC_GP, sel_err(gsel));
    if (!desc_p(g))
        cpu_raise(cpu, EXC_NP, sel_err(gsel));
    uint16_t tsel = gate_sel(g);
    if ((tsel & 4) || !desc_fetch(cpu, tsel, td, ta))
        cpu_raise(cpu, EXC_GP, sel_err(tsel));
    if (desc_s(*td) || (desc_type(*td) != DESC_TSS16_AVAIL && desc_type(*td) != DESC_TSS32_AVAIL))
        cpu_raise(cpu, EXC_GP, sel_err(tsel));
    if (!desc_p(*td))
        cpu_raise(cpu, EXC_NP, sel_err(tsel));
    return tsel;
}

/* Check a TSS descriptor used directly by JMP/CALL. */
static void tss_target(X86Cpu *cpu, Desc d, uint16_t sel)
{
    if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3u))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (!desc_p(d))
        cpu_raise(cpu, EXC_NP, sel_err(sel));
}

/* Check a code segment for a direct far JMP/CALL (SDM vol. 2 JMP/CALL). */
static void check_direct_code(X86Cpu *cpu, Desc d, uint16_t sel)
{
    unsigned cpl = cpu->cpl, dpl = desc_dpl(d);
    if (desc_conforming(d) ? dpl > cpl : ((sel & 3u) > cpl || dpl != cpl))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (!desc_p(d))
        cpu_raise(cpu, EXC_NP, sel_err(sel));
}

/* Code segment named by a call gate: the descriptor, checked. */
static void gate_code(X86Cpu *cpu, uint16_t cs, Desc *cd, uint32_t *ca)
{
    if ((cs & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    if (!desc_fetch(cpu, cs, cd, ca) || !desc_code(*cd) || desc_dpl(*cd) > cpu->cpl)
        cpu_raise(cpu, EXC_GP, sel_err(cs));
    if (!desc_p(*cd))
        cpu_raise(cpu, EXC_NP, sel_err(cs));
}

static void far_jmp(X86Cpu *cpu, uint16_t sel, uint32_t off, bool o32, uint32_t next_eip)
{
    if (!o32)
        off &= 0xFFFF;
    if (!pmode(cpu)) {
        uint32_t limit = (cpu->eflags & EFLAGS_VM) ? 0xFFFF : cpu->seg[SEG_CS].limit;
        if (off > limit)
            cpu_raise(cpu, EXC_GP, 0);
        seg_load_real(cpu, SEG_CS, sel);
        cpu->eip = off;
        return;
    }
    Desc d, cd;
    uint32_t a, ca;
    if ((sel & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    if (!desc_fetch(cpu, sel, &d, &a))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (desc_s(d)) {
        if (!desc_code(d))
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        check_direct_code(cpu, d, sel);
        if (off > desc_limit(d))
            cpu_raise(cpu, EXC_GP, 0);
        seg_load_cs_pm(cpu, sel, d, a, cpu->cpl);
        cpu->eip = off;
        cpu_mode_changed(cpu);
        return;
    }
    switch (desc_type(d)) {
    case DESC_CALLGATE16:
    case DESC_CALLGATE32: {
        if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3u))
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        if (!desc_p(d))
            cpu_raise(cpu, EXC_NP, sel_err(sel));
        uint16_t cs = gate_sel(d);
        gate_code(cpu, cs, &cd, &ca);
        if (!desc_conforming(cd) && desc_dpl(cd) != cpu->cpl)
            cpu_raise(cpu, EXC_GP, sel_err(cs));
        uint32_t goff = gate_off(d, desc_type(d) == DESC_CALLGATE32);
        if (goff > desc_limit(cd))
            cpu_raise(cpu, EXC_GP, 0);
        seg_load_cs_pm(cpu, cs, cd, ca, cpu->cpl);
        cpu->eip = goff;
        cpu_mode_changed(cpu);
        return;
    }
    case DESC_TASKGATE: {
        Desc td;
        uint32_t ta;
        uint16_t tsel = task_gate_target(cpu, d, sel, &td, &ta);
        task_switch(cpu, tsel, td, ta, TS_JMP, next_eip, 0);
        return;
    }
    case DESC_TSS16_AVAIL:
    case DESC_TSS32_AVAIL:
        tss_target(cpu, d, sel);
        task_switch(cpu, sel, d, a, TS_JMP, next_eip, 0);
        return;
    default:
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    }
}

/* CALL through a call gate to a more privileged non-conforming segment:
 * new stack from the TSS, parameters copied from the caller's stack. */
static void call_gate_inner(X86Cpu *cpu, Desc g, uint16_t cs, Desc cd, uint32_t ca,
                            uint32_t next_eip)
{
    bool g32 = desc_type(g) == DESC_CALLGATE32;
    unsigned sz = g32 ? 4 : 2, ncpl = desc_dpl(cd), pc = g.hi & 0x1F;
    uint32_t goff = gate_off(g, g32);
    uint16_t ss;
    uint32_t esp;
    SegReg nss;
    Stk ns, os;
    tss_stack(cpu, ncpl, &ss, &esp, 0);
    seg_check_new_ss(cpu, ss, ncpl, 0, &nss);
    stk_new(&ns, &nss, esp, ncpl);
    if (!stk_can_push(&ns, 4 + pc, sz))
        cpu_raise(cpu, EXC_SS, sel_err(ss));
    if (goff > desc_limit(cd))
        cpu_raise(cpu, EXC_GP, 0);
    desc_set_accessed(cpu, ca, &cd);
    stk_cur(cpu, &os);
    if (!stk_can_pop(&os, 0, pc, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t params[32];
    for (unsigned k = 0; k < pc; k++)
        params[k] = stk_pop(cpu, &os, g32);
    stk_push(cpu, &ns, cpu->seg[SEG_SS].sel, g32);
    stk_push(cpu, &ns, cpu->r[R_ESP], g32);
    for (unsigned k = pc; k-- > 0;)
        stk_push(cpu, &ns, params[k], g32);
    stk_push(cpu, &ns, cpu->seg[SEG_CS].sel, g32);
    stk_push(cpu, &ns, next_eip, g32);
    cpu->seg[SEG_SS] = nss;
    stk_commit(cpu, &ns);
    seg_load_cs_pm(cpu, cs, cd, ca, ncpl);
    cpu->eip = goff;
    cpu_mode_changed(cpu);
}

static void far_call(X86Cpu *cpu, uint16_t sel, uint32_t off, bool o32, uint32_t next_eip)
{
    unsigned sz = o32 ? 4 : 2;
    Stk s;
    if (!o32)
        off &= 0xFFFF;
    if (!pmode(cpu)) {
        uint32_t limit = (cpu->eflags & EFLAGS_VM) ? 0xFFFF : cpu->seg[SEG_CS].limit;
        stk_cur(cpu, &s);
        if (!stk_can_push(&s, 2, sz))
            cpu_raise(cpu, EXC_SS, 0);
        if (off > limit)
            cpu_raise(cpu, EXC_GP, 0);
        stk_push(cpu, &s, cpu->seg[SEG_CS].sel, o32);
        stk_push(cpu, &s, next_eip, o32);
        stk_commit(cpu, &s);
        seg_load_real(cpu, SEG_CS, sel);
        cpu->eip = off;
        return;
    }
    Desc d, cd;
    uint32_t a, ca;
    if ((sel & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    if (!desc_fetch(cpu, sel, &d, &a))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (desc_s(d)) {
        if (!desc_code(d))
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        check_direct_code(cpu, d, sel);
        stk_cur(cpu, &s);
        if (!stk_can_push(&s, 2, sz))
            cpu_raise(cpu, EXC_SS, 0);
        if (off > desc_limit(d))
            cpu_raise(cpu, EXC_GP, 0);
        desc_set_accessed(cpu, a, &d);
        stk_push(cpu, &s, cpu->seg[SEG_CS].sel, o32);
        stk_push(cpu, &s, next_eip, o32);
        stk_commit(cpu, &s);
        seg_load_cs_pm(cpu, sel, d, a, cpu->cpl);
        cpu->eip = off;
        cpu_mode_changed(cpu);
        return;
    }
    switch (desc_type(d)) {
    case DESC_CALLGATE16:
    case DESC_CALLGATE32: {
        if (desc_dpl(d) < cpu->cpl || desc_dpl(d) < (sel & 3u))
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        if (!desc_p(d))
            cpu_raise(cpu, EXC_NP, sel_err(sel));
        uint16_t cs = gate_sel(d);
        gate_code(cpu, cs, &cd, &ca);
        if (!desc_conforming(cd) && desc_dpl(cd) < cpu->cpl) {
            call_gate_inner(cpu, d, cs, cd, ca, next_eip);
            return;
        }
        bool g32 = desc_type(d) == DESC_CALLGATE32;
        uint32_t goff = gate_off(d, g32);
        stk_cur(cpu, &s);
        if (!stk_can_push(&s, 2, g32 ? 4 : 2))
            cpu_raise(cpu, EXC_SS, 0);
        if (goff > desc_limit(cd))
            cpu_raise(cpu, EXC_GP, 0);
        desc_set_accessed(cpu, ca, &cd);
        stk_push(cpu, &s, cpu->seg[SEG_CS].sel, g32);
        stk_push(cpu, &s, next_eip, g32);
        stk_commit(cpu, &s);
        seg_load_cs_pm(cpu, cs, cd, ca, cpu->cpl);
        cpu->eip = goff;
        cpu_mode_changed(cpu);
        return;
    }
    case DESC_TASKGATE: {
        Desc td;
        uint32_t ta;
        uint16_t tsel = task_gate_target(cpu, d, sel, &td, &ta);
        task_switch(cpu, tsel, td, ta, TS_CALL, next_eip, 0);
        return;
    }
    case DESC_TSS16_AVAIL:
    case DESC_TSS32_AVAIL:
        tss_target(cpu, d, sel);
        task_switch(cpu, sel, d, a, TS_CALL, next_eip, 0);
        return;
    default:
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    }
}

/* JMP / CALL ptr16:16/32 (EA, 9A): offset in imm (operand size), selector in imm2. */
HANDLER(op_jmp_far)
{
    far_jmp(cpu, i->imm2, i->imm, !(i->flags & IF_O16), NEXT_EIP(cpu, i));
    END_BLOCK;
}

HANDLER(op_call_far)
{
    far_call(cpu, i->imm2, i->imm, !(i->flags & IF_O16), NEXT_EIP(cpu, i));
    END_BLOCK;
}

/* JMP / CALL m16:16/32 (FF /5, FF /3; memory only). */
static void read_far_ptr(X86Cpu *cpu, const Insn *i, uint32_t *off, uint16_t *sel)
{
    uint32_t ea = insn_ea(cpu, i);
    if (i->flags & IF_O16) {
        *off = rd16(cpu, i->seg, ea);
        *sel = rd16(cpu, i->seg, (i->flags & IF_A16) ? (ea + 2) & 0xFFFF : ea + 2);
    } else {
        *off = rd32(cpu, i->seg, ea);
        *sel = rd16(cpu, i->seg, (i->flags & IF_A16) ? (ea + 4) & 0xFFFF : ea + 4);
    }
}

HANDLER(op_jmp_far_ind)
{
    uint32_t off;
    uint16_t sel;
    read_far_ptr(cpu, i, &off, &sel);
    far_jmp(cpu, sel, off, !(i->flags & IF_O16), NEXT_EIP(cpu, i));
    END_BLOCK;
}

HANDLER(op_call_far_ind)
{
    uint32_t off;
    uint16_t sel;
    read_far_ptr(cpu, i, &off, &sel);
    far_call(cpu, sel, off, !(i->flags & IF_O16), NEXT_EIP(cpu, i));
    END_BLOCK;
}

/* ---- RETF (CB, CA imm16) ---- */

/* Validate a new SS for a return to an outer privilege level (RETF/IRET):
 * #GP(0) null, #GP(ss) bad, #SS(ss) not present. */
static void check_ret_ss(X86Cpu *cpu, uint16_t ss, unsigned rpl, SegReg *out)
{
    Desc d;
    uint32_t a;
    if ((ss & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    if (!desc_fetch(cpu, ss, &d, &a) || (ss & 3u) != rpl || !desc_writable_data(d) ||
        desc_dpl(d) != rpl)
        cpu_raise(cpu, EXC_GP, sel_err(ss));
    if (!desc_p(d))
        cpu_raise(cpu, EXC_SS, sel_err(ss));
    desc_set_accessed(cpu, a, &d);
    seg_cache_load(out, ss, d);
}

/* Check the CS popped by RETF / IRET (protected mode). */
static void check_ret_cs(X86Cpu *cpu, uint16_t cs, Desc *d, uint32_t *a)
{
    unsigned rpl = cs & 3;
    if ((cs & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    if (!desc_fetch(cpu, cs, d, a) || !desc_code(*d) || rpl < cpu->cpl)
        cpu_raise(cpu, EXC_GP, sel_err(cs));
    if (desc_conforming(*d) ? desc_dpl(*d) > rpl : desc_dpl(*d) != rpl)
        cpu_raise(cpu, EXC_GP, sel_err(cs));
    if (!desc_p(*d))
        cpu_raise(cpu, EXC_NP, sel_err(cs));
    desc_set_accessed(cpu, *a, d); /* before anything is committed */
}

/* Finish a return to an outer level: SS:ESP, then null data segments. */
static void commit_outer(X86Cpu *cpu, const SegReg *nss, uint32_t esp)
{
    cpu->seg[SEG_SS] = *nss;
    if (nss->ar & AR_DB)
        cpu->r[R_ESP] = esp;
    else
        set_r16(cpu, R_ESP, (uint16_t)esp);
    cpu_mode_changed(cpu);
    seg_null_outer(cpu);
    cpu_mode_changed(cpu);
}

HANDLER(op_retf)
{
    bool o32 = !(i->flags & IF_O16);
    unsigned sz = o32 ? 4 : 2;
    Stk s;
    stk_cur(cpu, &s);
    if (!stk_can_pop(&s, 0, 2, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t off = stk_pop(cpu, &s, o32);
    uint16_t cs = (uint16_t)stk_pop(cpu, &s, o32);
    if (!pmode(cpu)) {
        uint32_t limit = (cpu->eflags & EFLAGS_VM) ? 0xFFFF : cpu->seg[SEG_CS].limit;
        if (off > limit)
            cpu_raise(cpu, EXC_GP, 0);
        stk_skip(&s, i->imm);
        stk_commit(cpu, &s);
        seg_load_real(cpu, SEG_CS, cs);
        cpu->eip = off;
        END_BLOCK;
    }
    Desc d;
    uint32_t a;
    check_ret_cs(cpu, cs, &d, &a);
    unsigned rpl = cs & 3;
    if (rpl == cpu->cpl) {
        if (off > desc_limit(d))
            cpu_raise(cpu, EXC_GP, 0);
        stk_skip(&s, i->imm);
        stk_commit(cpu, &s);
        seg_load_cs_pm(cpu, cs, d, a, rpl);
        cpu->eip = off;
        cpu_mode_changed(cpu);
        END_BLOCK;
    }
    /* Return to an outer privilege level. */
    stk_skip(&s, i->imm);
    if (!stk_can_pop(&s, 0, 2, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t esp = stk_pop(cpu, &s, o32);
    uint16_t ss = (uint16_t)stk_pop(cpu, &s, o32);
    SegReg nss;
    check_ret_ss(cpu, ss, rpl, &nss);
    if (off > desc_limit(d))
        cpu_raise(cpu, EXC_GP, 0);
    seg_load_cs_pm(cpu, cs, d, a, rpl);
    cpu->eip = off;
    commit_outer(cpu, &nss, esp + i->imm);
    END_BLOCK;
}

/* ---- IRET (CF) ---- */

static void iret_real(X86Cpu *cpu, bool o32)
{
    unsigned sz = o32 ? 4 : 2;
    Stk s;
    stk_cur(cpu, &s);
    if (!stk_can_pop(&s, 0, 3, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t off = stk_pop(cpu, &s, o32);
    uint16_t cs = (uint16_t)stk_pop(cpu, &s, o32);
    uint32_t fl = stk_pop(cpu, &s, o32);
    if (off > cpu->seg[SEG_CS].limit)
        cpu_raise(cpu, EXC_GP, 0);
    stk_commit(cpu, &s);
    seg_load_real(cpu, SEG_CS, cs);
    cpu->eip = off;
    cpu_load_eflags(cpu, fl, o32 ? 0x257FD5u : 0x7FD5u);
}

static void iret_v86(X86Cpu *cpu, bool o32)
{
    unsigned sz = o32 ? 4 : 2;
    Stk s;
    if (iopl(cpu) < 3)
        cpu_raise(cpu, EXC_GP, 0);
    stk_cur(cpu, &s);
    if (!stk_can_pop(&s, 0, 3, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t off = stk_pop(cpu, &s, o32);
    uint16_t cs = (uint16_t)stk_pop(cpu, &s, o32);
    uint32_t fl = stk_pop(cpu, &s, o32);
    if (off > 0xFFFF)
        cpu_raise(cpu, EXC_GP, 0);
    stk_commit(cpu, &s);
    seg_load_real(cpu, SEG_CS, cs);
    cpu->eip = off;
    /* VM, IOPL, VIP, VIF are not modified. */
    cpu_load_eflags(cpu, fl, o32 ? 0x254FD5u : 0x4FD5u);
}

static void iret_task(X86Cpu *cpu, uint32_t next_eip)
{
    uint16_t link = sys_rd16(cpu, cpu->seg[SEG_TR].base);
    Desc d;
    uint32_t a;
    if ((link & 4) || !desc_fetch(cpu, link, &d, &a) || desc_s(d) ||
        (desc_type(d) != DESC_TSS16_BUSY && desc_type(d) != DESC_TSS32_BUSY))
        cpu_raise(cpu, EXC_TS, sel_err(link));
    if (!desc_p(d))
        cpu_raise(cpu, EXC_NP, sel_err(link));
    task_switch(cpu, link, d, a, TS_IRET, next_eip, 0);
}

static void iret_to_v86(X86Cpu *cpu, Stk *s, uint32_t off, uint16_t cs, uint32_t fl)
{
    if (!stk_can_pop(s, 0, 6, 4))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t esp = stk_pop(cpu, s, true);
    uint16_t sel[6];
    sel[SEG_SS] = (uint16_t)stk_pop(cpu, s, true);
    sel[SEG_ES] = (uint16_t)stk_pop(cpu, s, true);
    sel[SEG_DS] = (uint16_t)stk_pop(cpu, s, true);
    sel[SEG_FS] = (uint16_t)stk_pop(cpu, s, true);
    sel[SEG_GS] = (uint16_t)stk_pop(cpu, s, true);
    sel[SEG_CS] = cs;
    if (off > 0xFFFF)
        cpu_raise(cpu, EXC_GP, 0);
    cpu_load_eflags(cpu, fl, 0x3F7FD5u);
    for (int k = 0; k < 6; k++)
        seg_cache_v86(&cpu->seg[k], sel[k]);
    cpu->r[R_ESP] = esp;
    cpu->eip = off;
    cpu_mode_changed(cpu);
}

static void iret_pm(X86Cpu *cpu, bool o32)
{
    unsigned sz = o32 ? 4 : 2;
    unsigned cpl = cpu->cpl;
    Stk s;
    stk_cur(cpu, &s);
    if (!stk_can_pop(&s, 0, 3, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t off = stk_pop(cpu, &s, o32);
    uint16_t cs = (uint16_t)stk_pop(cpu, &s, o32);
    uint32_t fl = stk_pop(cpu, &s, o32);
    if (o32 && (fl & EFLAGS_VM) && cpl == 0) {
        iret_to_v86(cpu, &s, off, cs, fl);
        return;
    }
    Desc d;
    uint32_t a;
    check_ret_cs(cpu, cs, &d, &a);
    unsigned rpl = cs & 3;
    /* EFLAGS bits IRET may change, by the privilege before the return. */
    uint32_t mask = EFLAGS_ARITH | EFLAGS_TF | EFLAGS_DF | EFLAGS_NT;
    if (o32)
        mask |= EFLAGS_RF | EFLAGS_AC | EFLAGS_ID;
    if (cpl <= iopl(cpu))
        mask |= EFLAGS_IF;
    if (cpl == 0) {
        mask |= EFLAGS_IOPL;
        if (o32)
            mask |= EFLAGS_VIF | EFLAGS_VIP;
    }
    if (rpl == cpl) {
        if (off > desc_limit(d))
            cpu_raise(cpu, EXC_GP, 0);
        stk_commit(cpu, &s);
        seg_load_cs_pm(cpu, cs, d, a, rpl);
        cpu->eip = off;
        cpu_load_eflags(cpu, fl, mask);
        cpu_mode_changed(cpu);
        return;
    }
    if (!stk_can_pop(&s, 0, 2, sz))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t esp = stk_pop(cpu, &s, o32);
    uint16_t ss = (uint16_t)stk_pop(cpu, &s, o32);
    SegReg nss;
    check_ret_ss(cpu, ss, rpl, &nss);
    if (off > desc_limit(d))
        cpu_raise(cpu, EXC_GP, 0);
    seg_load_cs_pm(cpu, cs, d, a, rpl);
    cpu->eip = off;
    cpu_load_eflags(cpu, fl, mask);
    commit_outer(cpu, &nss, esp);
}

HANDLER(op_iret)
{
    bool o32 = !(i->flags & IF_O16);
    if (!(cpu->cr0 & CR0_PE))
        iret_real(cpu, o32);
    else if (cpu->eflags & EFLAGS_VM)
        iret_v86(cpu, o32);
    else if (cpu->eflags & EFLAGS_NT)
        iret_task(cpu, NEXT_EIP(cpu, i));
    else
        iret_pm(cpu, o32);
    if (cpu->nmi_blocked) {
        cpu->nmi_blocked = 0;
        if (cpu->nmi_pending)
            cpu->pending_check = 1;
    }
    END_BLOCK;
}

/* ---- INT n / INT3 / INTO / INT1, BOUND ---- */

HANDLER(op_int)
{
    /* V86 without VME: INT n is IOPL-sensitive (INT3 / INTO are not). */
    if ((cpu->eflags & EFLAGS_VM) && iopl(cpu) < 3)
        cpu_raise(cpu, EXC_GP, 0);
    cpu_do_interrupt(cpu, (int)(i->imm & 0xFF), INT_SOFT, 0, false, NEXT_EIP(cpu, i));
    END_BLOCK;
}

HANDLER(op_int3)
{
    cpu_do_interrupt(cpu, EXC_BP, INT_SOFT, 0, false, NEXT_EIP(cpu, i));
    END_BLOCK;
}

HANDLER(op_into)
{
    if (get_of(cpu)) {
        cpu_do_interrupt(cpu, EXC_OF, INT_SOFT, 0, false, NEXT_EIP(cpu, i));
        END_BLOCK;
    }
    NEXT_END;
}

HANDLER(op_icebp)
{
    cpu_do_interrupt(cpu, EXC_DB, INT_SOFT_ICEBP, 0, false, NEXT_EIP(cpu, i));
    END_BLOCK;
}

/* BOUND r16/32, m16&16 / m32&32 (62, memory form only): #BR (fault) if the
 * signed index lies outside [lower, upper]. */
HANDLER(op_bound)
{
    uint32_t ea = insn_ea(cpu, i);
    if (i->flags & IF_O16) {
        int16_t lo = (int16_t)rd16(cpu, i->seg, ea);
        int16_t hi = (int16_t)rd16(cpu, i->seg, (i->flags & IF_A16) ? (ea + 2) & 0xFFFF : ea + 2);
        int16_t v = (int16_t)cpu->r[i->reg];
        if (v < lo || v > hi)
            cpu_raise_noerr(cpu, EXC_BR);
    } else {
        int32_t lo = (int32_t)rd32(cpu, i->seg, ea);
        int32_t hi = (int32_t)rd32(cpu, i->seg, (i->flags & IF_A16) ? (ea + 4) & 0xFFFF : ea + 4);
        int32_t v = (int32_t)cpu->r[i->reg];
        if (v < lo || v > hi)
            cpu_raise_noerr(cpu, EXC_BR);
    }
    NEXT;
}

/* ---- HLT, CLI, STI ---- */

HANDLER(op_hlt)
{
    if (cpu->cpl != 0)
        cpu_raise(cpu, EXC_GP, 0);
    cpu->halted = 1;
    NEXT_END;
}

/* CLI / STI may change IF: CPL <= IOPL in protected mode, IOPL = 3 in V86
 * mode (no VME/PVI), always in real mode. */
static ALWAYS_INLINE bool if_allowed(const X86Cpu *cpu)
{
    if (!(cpu->cr0 & CR0_PE))
        return true;
    if (cpu->eflags & EFLAGS_VM)
        return iopl(cpu) == 3;
    return cpu->cpl <= iopl(cpu);
}

HANDLER(op_cli)
{
    if (!if_allowed(cpu))
        cpu_raise(cpu, EXC_GP, 0);
    cpu->eflags &= ~EFLAGS_IF;
    NEXT;
}

HANDLER(op_sti)
{
    if (!if_allowed(cpu))
        cpu_raise(cpu, EXC_GP, 0);
    if (!(cpu->eflags & EFLAGS_IF)) {
        cpu->eflags |= EFLAGS_IF;
        cpu->inhibit_irq = 1;
        cpu->pending_check = 1;
    }
    NEXT_END;
}
