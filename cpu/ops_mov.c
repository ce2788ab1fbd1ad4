/*
 * ops_mov.c - data movement: MOV (incl. moffs, immediates, segment
 * registers), LEA, XCHG, NOP/PAUSE, MOVZX/MOVSX, LES/LDS/LSS/LFS/LGS and
 * XLAT (SDM vol. 2).
 */
#include "cpu/cpu_internal.h"

/* ---- MOV r/m, r and MOV r, r/m (88-8B) ---- */

/* Memory forms: the fast path inline (mf_ptr), the full access with its
 * faults in a cold slow path reached by a tail call (FAST_HANDLERs: the
 * slow path syncs EIP).  Each is built in the three memory operand forms
 * (_m, _mf, _mfx: cpu_internal.h), which share the slow path. */
#define MEM_LOAD_FORM(name, SLOW, MF, SIZE, LD, ASSIGN)                                  \
    FAST_HANDLER(name)                                                                        \
    {                                                                                    \
        const void *p = mf_ptr(cpu, i, MF, SIZE, false);                                 \
        if (unlikely(!p))                                                                \
            return SLOW(cpu, i);                                                         \
        uint32_t v = LD(p);                                                              \
        ASSIGN;                                                                          \
        NEXT;                                                                            \
    }
#define MEM_LOAD(name, SIZE, LD, RD, ASSIGN)                                             \
    static __attribute__((noinline, cold)) const Insn *name##_slow(X86Cpu *cpu, const Insn *i) \
    {                                                                                    \
        SYNC_EIP(cpu, i);                                                                \
        uint32_t v = RD(cpu, i->seg, insn_ea(cpu, i));                                   \
        ASSIGN;                                                                          \
        NEXT;                                                                            \
    }                                                                                    \
    MEM_LOAD_FORM(name, name##_slow, MF_SEG, SIZE, LD, ASSIGN)                           \
    MEM_LOAD_FORM(name##f, name##_slow, MF_FLAT, SIZE, LD, ASSIGN)                       \
    MEM_LOAD_FORM(name##fx, name##_slow, MF_FLAT_SIB, SIZE, LD, ASSIGN)
#define MEM_STORE_FORM(name, SLOW, MF, SIZE, ST, VAL)                                    \
    FAST_HANDLER(name)                                                                        \
    {                                                                                    \
        void *p = mf_ptr(cpu, i, MF, SIZE, true);                                        \
        if (unlikely(!p))                                                                \
            return SLOW(cpu, i);                                                         \
        ST(p, VAL);                                                                      \
        NEXT;                                                                            \
    }
#define MEM_STORE(name, SIZE, ST, WR, VAL)                                               \
    static __attribute__((noinline, cold)) const Insn *name##_slow(X86Cpu *cpu, const Insn *i) \
    {                                                                                    \
        SYNC_EIP(cpu, i);                                                                \
        WR(cpu, i->seg, insn_ea(cpu, i), VAL);                                           \
        NEXT;                                                                            \
    }                                                                                    \
    MEM_STORE_FORM(name, name##_slow, MF_SEG, SIZE, ST, VAL)                             \
    MEM_STORE_FORM(name##f, name##_slow, MF_FLAT, SIZE, ST, VAL)                         \
    MEM_STORE_FORM(name##fx, name##_slow, MF_FLAT_SIB, SIZE, ST, VAL)
static ALWAYS_INLINE uint32_t ld8(const void *p) { return *(const uint8_t *)p; }
static ALWAYS_INLINE void st8(void *p, uint8_t v) { *(uint8_t *)p = v; }


FAST_HANDLER(op_mov_Eb_Gb_r) { set_r8(cpu, i->rm, get_r8(cpu, i->reg)); NEXT; }
MEM_STORE(op_mov_Eb_Gb_m, 1, st8, wr8, get_r8(cpu, i->reg))
FAST_HANDLER(op_mov_Ev_Gv_w_r) { set_r16(cpu, i->rm, (uint16_t)cpu->r[i->reg]); NEXT; }
MEM_STORE(op_mov_Ev_Gv_w_m, 2, st16, wr16, (uint16_t)cpu->r[i->reg])
FAST_HANDLER(op_mov_Ev_Gv_d_r) { cpu->r[i->rm] = cpu->r[i->reg]; NEXT; }
MEM_STORE(op_mov_Ev_Gv_d_m, 4, st32, wr32, cpu->r[i->reg])

FAST_HANDLER(op_mov_Gb_Eb_r) { set_r8(cpu, i->reg, get_r8(cpu, i->rm)); NEXT; }
MEM_LOAD(op_mov_Gb_Eb_m, 1, ld8, rd8, set_r8(cpu, i->reg, (uint8_t)v))
FAST_HANDLER(op_mov_Gv_Ev_w_r) { set_r16(cpu, i->reg, (uint16_t)cpu->r[i->rm]); NEXT; }
MEM_LOAD(op_mov_Gv_Ev_w_m, 2, ld16, rd16, set_r16(cpu, i->reg, (uint16_t)v))
FAST_HANDLER(op_mov_Gv_Ev_d_r) { cpu->r[i->reg] = cpu->r[i->rm]; NEXT; }
MEM_LOAD(op_mov_Gv_Ev_d_m, 4, ld32, rd32, cpu->r[i->reg] = v)

/* ---- MOV with a direct offset (A0-A3): i->disp is the moffs ---- */

HANDLER(op_mov_AL_Ob) { set_r8(cpu, R_EAX, rd8(cpu, i->seg, i->disp)); NEXT; }
HANDLER(op_mov_eAX_Ov_w) { set_r16(cpu, R_EAX, rd16(cpu, i->seg, i->disp)); NEXT; }
HANDLER(op_mov_eAX_Ov_d) { cpu->r[R_EAX] = rd32(cpu, i->seg, i->disp); NEXT; }
HANDLER(op_mov_Ob_AL) { wr8(cpu, i->seg, i->disp, (uint8_t)cpu->r[R_EAX]); NEXT; }
HANDLER(op_mov_Ov_eAX_w) { wr16(cpu, i->seg, i->disp, (uint16_t)cpu->r[R_EAX]); NEXT; }
HANDLER(op_mov_Ov_eAX_d) { wr32(cpu, i->seg, i->disp, cpu->r[R_EAX]); NEXT; }

/* ---- MOV immediates (B0-BF, C6 /0, C7 /0) ---- */

FAST_HANDLER(op_mov_Zb_Ib) { set_r8(cpu, i->reg, (uint8_t)i->imm); NEXT; }
FAST_HANDLER(op_mov_Zv_Iv_w) { set_r16(cpu, i->reg, (uint16_t)i->imm); NEXT; }
FAST_HANDLER(op_mov_Zv_Iv_d) { cpu->r[i->reg] = i->imm; NEXT; }

FAST_HANDLER(op_mov_Eb_Ib_r) { set_r8(cpu, i->rm, (uint8_t)i->imm); NEXT; }
MEM_STORE(op_mov_Eb_Ib_m, 1, st8, wr8, (uint8_t)i->imm)
FAST_HANDLER(op_mov_Ev_Iv_w_r) { set_r16(cpu, i->rm, (uint16_t)i->imm); NEXT; }
HANDLER(op_mov_Ev_Iv_w_m) { wr16(cpu, i->seg, insn_ea(cpu, i), (uint16_t)i->imm); NEXT; }
FAST_HANDLER(op_mov_Ev_Iv_d_r) { cpu->r[i->rm] = i->imm; NEXT; }
MEM_STORE(op_mov_Ev_Iv_d_m, 4, st32, wr32, i->imm)

/* ---- MOV r/m16, Sreg (8C) ----
 * ModRM.reg 6 and 7 are not segment registers: #UD.  A memory destination
 * is always a 16-bit store; a 32-bit register destination is zero-extended
 * (P6 family behaviour, SDM vol. 2 MOV). */

static ALWAYS_INLINE uint16_t sreg_src(X86Cpu *cpu, const Insn *i)
{
    if (unlikely(i->reg > SEG_GS))
        cpu_raise_noerr(cpu, EXC_UD);
    return cpu->seg[i->reg].sel;
}

HANDLER(op_mov_Ev_Sw_w_r) { set_r16(cpu, i->rm, sreg_src(cpu, i)); NEXT; }
HANDLER(op_mov_Ev_Sw_d_r) { cpu->r[i->rm] = sreg_src(cpu, i); NEXT; }
HANDLER(op_mov_Ev_Sw_w_m) { wr16(cpu, i->seg, insn_ea(cpu, i), sreg_src(cpu, i)); NEXT; }
HANDLER(op_mov_Ev_Sw_d_m) { wr16(cpu, i->seg, insn_ea(cpu, i), sreg_src(cpu, i)); NEXT; }

/* ---- MOV Sreg, r/m16 (8E) ----
 * Loading CS (and reg 6/7) is #UD.  MOV SS inhibits interrupts (and debug
 * traps) until after the next instruction: the block ends here and
 * pending_check makes the run loop step the next instruction alone. */

static ALWAYS_INLINE void mov_sreg(X86Cpu *cpu, const Insn *i, uint16_t sel)
{
    seg_load(cpu, i->reg, sel);
    if (i->reg == SEG_SS) {
        cpu->inhibit_irq = 1;
        cpu->pending_check = 1;
    }
}

HANDLER(op_mov_Sw_Ew_r)
{
    if (unlikely(i->reg == SEG_CS || i->reg > SEG_GS))
        cpu_raise_noerr(cpu, EXC_UD);
    mov_sreg(cpu, i, (uint16_t)cpu->r[i->rm]);
    NEXT_END;
}

HANDLER(op_mov_Sw_Ew_m)
{
    if (unlikely(i->reg == SEG_CS || i->reg > SEG_GS))
        cpu_raise_noerr(cpu, EXC_UD);
    mov_sreg(cpu, i, rd16(cpu, i->seg, insn_ea(cpu, i)));
    NEXT_END;
}

/* ---- LEA (8D): memory form only (F_NOREG); the address-size EA
 * truncated to the operand size ---- */

FAST_HANDLER(op_lea_w) { set_r16(cpu, i->reg, (uint16_t)insn_ea(cpu, i)); NEXT; }
FAST_HANDLER(op_lea_d) { cpu->r[i->reg] = insn_ea(cpu, i); NEXT; }

/* ---- XCHG (86, 87, 91-97) and NOP/PAUSE (90, F3 90) ---- */

FAST_HANDLER(op_xchg_Eb_Gb_r)
{
    uint8_t a = get_r8(cpu, i->rm), b = get_r8(cpu, i->reg);
    set_r8(cpu, i->rm, b);
    set_r8(cpu, i->reg, a);
    NEXT;
}
HANDLER(op_xchg_Eb_Gb_m)
{
    uint32_t ea = insn_ea(cpu, i);
    uint8_t v = rd8(cpu, i->seg, ea);
    wr8(cpu, i->seg, ea, get_r8(cpu, i->reg));
    set_r8(cpu, i->reg, v);
    NEXT;
}
FAST_HANDLER(op_xchg_Ev_Gv_w_r)
{
    uint16_t a = (uint16_t)cpu->r[i->rm], b = (uint16_t)cpu->r[i->reg];
    set_r16(cpu, i->rm, b);
    set_r16(cpu, i->reg, a);
    NEXT;
}
HANDLER(op_xchg_Ev_Gv_w_m)
{
    uint32_t ea = insn_ea(cpu, i);
    uint16_t v = rd16(cpu, i->seg, ea);
    wr16(cpu, i->seg, ea, (uint16_t)cpu->r[i->reg]);
    set_r16(cpu, i->reg, v);
    NEXT;
}
FAST_HANDLER(op_xchg_Ev_Gv_d_r)
{
    uint32_t a = cpu->r[i->rm];
    cpu->r[i->rm] = cpu->r[i->reg];
    cpu->r[i->reg] = a;
    NEXT;
}
HANDLER(op_xchg_Ev_Gv_d_m)
{
    uint32_t ea = insn_ea(cpu, i);
    uint32_t v = rd32(cpu, i->seg, ea);
    wr32(cpu, i->seg, ea, cpu->r[i->reg]);
    cpu->r[i->reg] = v;
    NEXT;
}

FAST_HANDLER(op_xchg_eAX_Zv_w)
{
    uint16_t a = (uint16_t)cpu->r[R_EAX];
    set_r16(cpu, R_EAX, (uint16_t)cpu->r[i->reg]);
    set_r16(cpu, i->reg, a);
    NEXT;
}
FAST_HANDLER(op_xchg_eAX_Zv_d)
{
    uint32_t a = cpu->r[R_EAX];
    cpu->r[R_EAX] = cpu->r[i->reg];
    cpu->r[i->reg] = a;
    NEXT;
}

/* 90: NOP in every operand size; F3 90 is PAUSE, also a NOP here. */
FAST_HANDLER(op_nop) { NEXT; }

/* ---- MOVZX / MOVSX (0F B6, B7, BE, BF) ---- */

FAST_HANDLER(op_movzx_Gv_Eb_w_r) { set_r16(cpu, i->reg, get_r8(cpu, i->rm)); NEXT; }
HANDLER(op_movzx_Gv_Eb_w_m) { set_r16(cpu, i->reg, rd8(cpu, i->seg, insn_ea(cpu, i))); NEXT; }
FAST_HANDLER(op_movzx_Gv_Eb_d_r) { cpu->r[i->reg] = get_r8(cpu, i->rm); NEXT; }
MEM_LOAD(op_movzx_Gv_Eb_d_m, 1, ld8, rd8, cpu->r[i->reg] = v)
FAST_HANDLER(op_movzx_Gv_Ew_w_r) { set_r16(cpu, i->reg, (uint16_t)cpu->r[i->rm]); NEXT; }
HANDLER(op_movzx_Gv_Ew_w_m) { set_r16(cpu, i->reg, rd16(cpu, i->seg, insn_ea(cpu, i))); NEXT; }
FAST_HANDLER(op_movzx_Gv_Ew_d_r) { cpu->r[i->reg] = (uint16_t)cpu->r[i->rm]; NEXT; }
MEM_LOAD(op_movzx_Gv_Ew_d_m, 2, ld16, rd16, cpu->r[i->reg] = v)

FAST_HANDLER(op_movsx_Gv_Eb_w_r) { set_r16(cpu, i->reg, (uint16_t)(int8_t)get_r8(cpu, i->rm)); NEXT; }
HANDLER(op_movsx_Gv_Eb_w_m) { set_r16(cpu, i->reg, (uint16_t)(int8_t)rd8(cpu, i->seg, insn_ea(cpu, i))); NEXT; }
FAST_HANDLER(op_movsx_Gv_Eb_d_r) { cpu->r[i->reg] = (uint32_t)(int32_t)(int8_t)get_r8(cpu, i->rm); NEXT; }
MEM_LOAD(op_movsx_Gv_Eb_d_m, 1, ld8, rd8, cpu->r[i->reg] = (uint32_t)(int32_t)(int8_t)v)
FAST_HANDLER(op_movsx_Gv_Ew_w_r) { set_r16(cpu, i->reg, (uint16_t)cpu->r[i->rm]); NEXT; }
HANDLER(op_movsx_Gv_Ew_w_m) { set_r16(cpu, i->reg, rd16(cpu, i->seg, insn_ea(cpu, i))); NEXT; }
FAST_HANDLER(op_movsx_Gv_Ew_d_r) { cpu->r[i->reg] = (uint32_t)(int32_t)(int16_t)cpu->r[i->rm]; NEXT; }
MEM_LOAD(op_movsx_Gv_Ew_d_m, 2, ld16, rd16, cpu->r[i->reg] = (uint32_t)(int32_t)(int16_t)v)

/* ---- Far pointer loads: LES (C4), LDS (C5), LSS/LFS/LGS (0F B2/B4/B5) ----
 * Memory form only.  Offset first, then the selector; the segment load
 * (which may fault) precedes the register write.  LSS inhibits interrupts
 * for one instruction, like MOV SS. */

static ALWAYS_INLINE int lxs_seg(const Insn *i)
{
    switch (i->op) {
    case 0xC4: return SEG_ES;
    case 0xC5: return SEG_DS;
    case 0xB2: return SEG_SS;
    case 0xB4: return SEG_FS;
    default: return SEG_GS;
    }
}

HANDLER(op_lxs_w)
{
    int s = lxs_seg(i);
    uint32_t ea = insn_ea(cpu, i);
    uint16_t off = rd16(cpu, i->seg, ea);
    uint16_t sel = rd16(cpu, i->seg, (i->flags & IF_A16) ? ((ea + 2) & 0xFFFF) : ea + 2);
    seg_load(cpu, s, sel);
    set_r16(cpu, i->reg, off);
    if (s == SEG_SS) {
        cpu->inhibit_irq = 1;
        cpu->pending_check = 1;
    }
    NEXT_END;
}

HANDLER(op_lxs_d)
{
    int s = lxs_seg(i);
    uint32_t ea = insn_ea(cpu, i);
    uint32_t off = rd32(cpu, i->seg, ea);
    uint16_t sel = rd16(cpu, i->seg, (i->flags & IF_A16) ? ((ea + 4) & 0xFFFF) : ea + 4);
    seg_load(cpu, s, sel);
    cpu->r[i->reg] = off;
    if (s == SEG_SS) {
        cpu->inhibit_irq = 1;
        cpu->pending_check = 1;
    }
    NEXT_END;
}

/* ---- XLAT (D7): AL = [seg:(E)BX + AL] ---- */

HANDLER(op_xlat)
{
    uint32_t a = cpu->r[R_EBX] + (cpu->r[R_EAX] & 0xFF);
    if (i->flags & IF_A16)
        a &= 0xFFFF;
    set_r8(cpu, R_EAX, rd8(cpu, i->seg, a));
    NEXT;
}
