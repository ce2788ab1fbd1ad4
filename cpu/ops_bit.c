/*
 * ops_bit.c - bit operations, conditional set/move and flag instructions
 * (SDM vol. 2: BT, BTS, BTR, BTC, BSF, BSR, BSWAP, SETcc, CMOVcc, CMC, CLC,
 * STC, CLD, STD, SAHF, LAHF, and the undocumented SALC).
 *
 * BT*: CF = the selected bit; ZF unchanged; OF SF AF PF (undefined) are
 * left unchanged.  With a register bit offset and a memory operand the
 * offset is signed and may address outside the operand (SDM "BT").
 * BSF/BSR: ZF = (source == 0) and the destination is unchanged then;
 * CF OF AF (undefined) = 0, SF PF (undefined) from the source.
 */
#include "cpu/cpu_internal.h"

#define SZMASK(size) ((size) == 4 ? 0xFFFFFFFFu : (1u << ((size) * 8)) - 1)

static ALWAYS_INLINE uint32_t reg_get(X86Cpu *cpu, int n, unsigned size)
{
    return size == 1 ? get_r8(cpu, n) : size == 2 ? get_r16(cpu, n) : cpu->r[n];
}

static ALWAYS_INLINE void reg_set(X86Cpu *cpu, int n, unsigned size, uint32_t v)
{
    if (size == 1)
        set_r8(cpu, n, (uint8_t)v);
    else if (size == 2)
        set_r16(cpu, n, (uint16_t)v);
    else
        cpu->r[n] = v;
}

static ALWAYS_INLINE uint32_t mem_rd(X86Cpu *cpu, int s, uint32_t off, unsigned size)
{
    return size == 1 ? rd8(cpu, s, off) : size == 2 ? rd16(cpu, s, off) : rd32(cpu, s, off);
}

typedef struct Rmw {
    uint8_t *p;
    uint32_t lin;
} Rmw;

/* Slow paths kept out of line so the fast paths stay small. */
static __attribute__((noinline, cold)) uint32_t rmw_read_slow(X86Cpu *cpu, uint32_t lin, unsigned size)
{
    return size == 1 ? lrd8(cpu, lin) : size == 2 ? lrd16(cpu, lin) : lrd32(cpu, lin);
}

static __attribute__((noinline, cold)) void rmw_write_slow(X86Cpu *cpu, uint32_t lin, unsigned size,
                                                           uint32_t v)
{
    if (size == 1)
        lwr8(cpu, lin, (uint8_t)v);
    else if (size == 2)
        lwr16(cpu, lin, (uint16_t)v);
    else
        lwr32(cpu, lin, v);
}

static ALWAYS_INLINE uint32_t rmw_read(X86Cpu *cpu, int s, uint32_t off, unsigned size, Rmw *m)
{
    uint32_t lin = seg_lin(cpu, s, off, size, true);
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    uint32_t page = lin & ~0xFFFu;
    m->lin = lin;
    if (likely(e->tag_w == page && e->tag_r == page && (lin & 0xFFFu) <= 0x1000u - size)) {
        m->p = (uint8_t *)(e->addend + lin);
        return size == 1 ? *m->p : size == 2 ? ld16(m->p) : ld32(m->p);
    }
    m->p = NULL;
    return rmw_read_slow(cpu, lin, size);
}

static ALWAYS_INLINE void rmw_write(X86Cpu *cpu, const Rmw *m, unsigned size, uint32_t v)
{
    if (likely(m->p != NULL)) {
        if (size == 1)
            *m->p = (uint8_t)v;
        else if (size == 2)
            st16(m->p, (uint16_t)v);
        else
            st32(m->p, v);
    } else {
        rmw_write_slow(cpu, m->lin, size, v);
    }
}

/* ---- BT / BTS / BTR / BTC ---- */

enum { B_BT, B_BTS, B_BTR, B_BTC };   /* ModRM.reg - 4 in group 0F BA */

static ALWAYS_INLINE void set_cf(X86Cpu *cpu, uint32_t bit)
{
    flags_materialize(cpu);
    cpu->eflags = (cpu->eflags & ~EFLAGS_CF) | (bit & 1);
}

static ALWAYS_INLINE uint32_t bt_apply(int op, uint32_t v, uint32_t m)
{
    switch (op) {
    case B_BTS: return v | m;
    case B_BTR: return v & ~m;
    case B_BTC: return v ^ m;
    default: return v;
    }
}

/* mem && !imm: the signed bit offset selects the operand-sized unit at
 * ea + (offset >> log2(bits)) * size (wrapping at 64 KiB with 16-bit
 * addressing); imm: the offset is taken modulo the operand width. */
static ALWAYS_INLINE const Insn *bt_op(X86Cpu *cpu, const Insn *i, int op, unsigned size, bool mem,
                                       bool imm)
{
    const unsigned bits = size * 8;
    uint32_t off = imm ? i->imm : reg_get(cpu, i->reg, size);
    uint32_t bit = off & (bits - 1);
    uint32_t m = 1u << bit;
    if (!mem) {
        uint32_t v = reg_get(cpu, i->rm, size);
        if (op != B_BT)
            reg_set(cpu, i->rm, size, bt_apply(op, v, m));
        set_cf(cpu, v >> bit);
        NEXT;
    }
    uint32_t ea = insn_ea(cpu, i);
    if (!imm) {
        int32_t soff = size == 2 ? (int16_t)off : (int32_t)off;
        ea += (uint32_t)((soff >> (size == 2 ? 4 : 5)) * (int32_t)size);
        if (i->flags & IF_A16)
            ea &= 0xFFFF;
    }
    uint32_t v;
    if (op == B_BT) {
        v = mem_rd(cpu, i->seg, ea, size);
    } else {
        Rmw r;
        v = rmw_read(cpu, i->seg, ea, size, &r);
        rmw_write(cpu, &r, size, bt_apply(op, v, m));
    }
    set_cf(cpu, v >> bit);
    NEXT;
}

#define BT_FORMS(name, OPC)                                                      \
    FAST_HANDLER(op_##name##_Ev_Gv_w_r) { return bt_op(cpu, i, OPC, 2, false, false); }          \
    HANDLER(op_##name##_Ev_Gv_w_m) { return bt_op(cpu, i, OPC, 2, true, false); }           \
    FAST_HANDLER(op_##name##_Ev_Gv_d_r) { return bt_op(cpu, i, OPC, 4, false, false); }          \
    HANDLER(op_##name##_Ev_Gv_d_m) { return bt_op(cpu, i, OPC, 4, true, false); }           \
    FAST_HANDLER(op_##name##_Ev_Ib_w_r) { return bt_op(cpu, i, OPC, 2, false, true); }           \
    HANDLER(op_##name##_Ev_Ib_w_m) { return bt_op(cpu, i, OPC, 2, true, true); } \
    FAST_HANDLER(op_##name##_Ev_Ib_d_r) { return bt_op(cpu, i, OPC, 4, false, true); }           \
    HANDLER(op_##name##_Ev_Ib_d_m) { return bt_op(cpu, i, OPC, 4, true, true); }

BT_FORMS(bt, B_BT)
BT_FORMS(bts, B_BTS)
BT_FORMS(btr, B_BTR)
BT_FORMS(btc, B_BTC)

/* ---- BSF / BSR (0F BC / BD) ---- */

static ALWAYS_INLINE const Insn *bsx(X86Cpu *cpu, const Insn *i, bool rev, unsigned size, bool mem)
{
    uint32_t s = mem ? mem_rd(cpu, i->seg, insn_ea(cpu, i), size) : reg_get(cpu, i->rm, size);
    if (s != 0)
        reg_set(cpu, i->reg, size, rev ? 31u - (uint32_t)__builtin_clz(s) : (uint32_t)__builtin_ctz(s));
    cpu->lf.op = LF_LOGIC;
    cpu->lf.size = (uint8_t)size;
    cpu->lf.res = s;
    NEXT;
}

FAST_HANDLER(op_bsf_Gv_Ev_w_r) { return bsx(cpu, i, false, 2, false); }
HANDLER(op_bsf_Gv_Ev_w_m) { return bsx(cpu, i, false, 2, true); }
FAST_HANDLER(op_bsf_Gv_Ev_d_r) { return bsx(cpu, i, false, 4, false); }
HANDLER(op_bsf_Gv_Ev_d_m) { return bsx(cpu, i, false, 4, true); }
FAST_HANDLER(op_bsr_Gv_Ev_w_r) { return bsx(cpu, i, true, 2, false); }
HANDLER(op_bsr_Gv_Ev_w_m) { return bsx(cpu, i, true, 2, true); }
FAST_HANDLER(op_bsr_Gv_Ev_d_r) { return bsx(cpu, i, true, 4, false); }
HANDLER(op_bsr_Gv_Ev_d_m) { return bsx(cpu, i, true, 4, true); }

/* ---- BSWAP r32 (0F C8+r); with a 16-bit operand P6 clears the low word ---- */

FAST_HANDLER(op_bswap_w)
{
    set_r16(cpu, i->reg, 0);
    NEXT;
}
FAST_HANDLER(op_bswap_d)
{
    cpu->r[i->reg] = __builtin_bswap32(cpu->r[i->reg]);
    NEXT;
}

/* ---- SETcc Eb (0F 90-9F) and CMOVcc Gv,Ev (0F 40-4F) ----
 * One handler per condition (like Jcc), so that cpu_cond_fast() sees a
 * constant.  CMOVcc reads its source (and may fault) even when the
 * condition is false; then the destination is unchanged, also with a
 * 32-bit operand (SDM vol. 2 CMOVcc). */

/* The conditions cpu_cond_try() leaves open, out of line (see there). */
static __attribute__((noinline)) const Insn *setcc_r_slow(X86Cpu *cpu, const Insn *i, int cc)
{
    set_r8(cpu, i->rm, cpu_cond(cpu, cc));
    NEXT;
}
static __attribute__((noinline)) const Insn *cmovcc_d_r_slow(X86Cpu *cpu, const Insn *i, int cc)
{
    if (cpu_cond(cpu, cc))
        cpu->r[i->reg] = cpu->r[i->rm];
    NEXT;
}

#define SETCC_CMOVCC(cc, name)                                                   \
    FAST_HANDLER(op_set##name##_r)                                               \
    {                                                                            \
        int c_ = cpu_cond_try(cpu, cc);                                          \
        if (unlikely(c_ < 0))                                                    \
            return setcc_r_slow(cpu, i, cc);                                     \
        set_r8(cpu, i->rm, (uint8_t)c_);                                         \
        NEXT;                                                                    \
    }                                                                            \
    HANDLER(op_set##name##_m)                                                    \
    {                                                                            \
        uint32_t ea = insn_ea(cpu, i);                                           \
        wr8(cpu, i->seg, ea, cpu_cond_fast(cpu, cc));                            \
        NEXT;                                                                    \
    }                                                                            \
    FAST_HANDLER(op_cmov##name##_w_r)                                            \
    {                                                                            \
        if (cpu_cond_fast(cpu, cc))                                              \
            set_r16(cpu, i->reg, get_r16(cpu, i->rm));                           \
        NEXT;                                                                    \
    }                                                                            \
    HANDLER(op_cmov##name##_w_m)                                                 \
    {                                                                            \
        uint16_t v = rd16(cpu, i->seg, insn_ea(cpu, i));                         \
        if (cpu_cond_fast(cpu, cc))                                              \
            set_r16(cpu, i->reg, v);                                             \
        NEXT;                                                                    \
    }                                                                            \
    FAST_HANDLER(op_cmov##name##_d_r)                                            \
    {                                                                            \
        int c_ = cpu_cond_try(cpu, cc);                                          \
        if (unlikely(c_ < 0))                                                    \
            return cmovcc_d_r_slow(cpu, i, cc);                                  \
        if (c_)                                                                  \
            cpu->r[i->reg] = cpu->r[i->rm];                                      \
        NEXT;                                                                    \
    }                                                                            \
    HANDLER(op_cmov##name##_d_m)                                                 \
    {                                                                            \
        uint32_t v = rd32(cpu, i->seg, insn_ea(cpu, i));                         \
        if (cpu_cond_fast(cpu, cc))                                              \
            cpu->r[i->reg] = v;                                                  \
        NEXT;                                                                    \
    }
SETCC_CMOVCC(0x0, o)
SETCC_CMOVCC(0x1, no)
SETCC_CMOVCC(0x2, b)
SETCC_CMOVCC(0x3, nb)
SETCC_CMOVCC(0x4, z)
SETCC_CMOVCC(0x5, nz)
SETCC_CMOVCC(0x6, be)
SETCC_CMOVCC(0x7, nbe)
SETCC_CMOVCC(0x8, s)
SETCC_CMOVCC(0x9, ns)
SETCC_CMOVCC(0xA, p)
SETCC_CMOVCC(0xB, np)
SETCC_CMOVCC(0xC, l)
SETCC_CMOVCC(0xD, nl)
SETCC_CMOVCC(0xE, le)
SETCC_CMOVCC(0xF, nle)

/* ---- flag instructions ---- */

HANDLER(op_cmc)
{
    flags_materialize(cpu);
    cpu->eflags ^= EFLAGS_CF;
    NEXT;
}
HANDLER(op_clc)
{
    flags_materialize(cpu);
    cpu->eflags &= ~EFLAGS_CF;
    NEXT;
}
HANDLER(op_stc)
{
    flags_materialize(cpu);
    cpu->eflags |= EFLAGS_CF;
    NEXT;
}
HANDLER(op_cld)
{
    cpu->eflags &= ~EFLAGS_DF;
    NEXT;
}
HANDLER(op_std)
{
    cpu->eflags |= EFLAGS_DF;
    NEXT;
}

#define SAHF_MASK (EFLAGS_SF | EFLAGS_ZF | EFLAGS_AF | EFLAGS_PF | EFLAGS_CF)

/* SAHF (9E): SF ZF AF PF CF from AH; OF unchanged. */
HANDLER(op_sahf)
{
    flags_materialize(cpu);
    cpu->eflags = (cpu->eflags & ~SAHF_MASK) | ((cpu->r[R_EAX] >> 8) & SAHF_MASK);
    NEXT;
}

/* LAHF (9F): AH = SF:ZF:0:AF:0:PF:1:CF. */
HANDLER(op_lahf)
{
    flags_materialize(cpu);
    set_r8(cpu, 4, (uint8_t)((cpu->eflags & SAHF_MASK) | 2u));
    NEXT;
}

/* SALC (D6, undocumented): AL = CF ? 0xFF : 0; flags unchanged. */
HANDLER(op_salc)
{
    set_r8(cpu, R_EAX, get_cf(cpu) ? 0xFF : 0);
    NEXT;
}
