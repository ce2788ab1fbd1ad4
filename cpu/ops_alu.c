/*
 * ops_alu.c - integer arithmetic and logic (SDM vol. 2): ADD OR ADC SBB AND
 * SUB XOR CMP in all encodings, TEST, INC, DEC, NOT, NEG, CMPXCHG, XADD,
 * CMPXCHG8B.  Flags are lazy (flags.c).
 *
 * Every handler is a one-line wrapper around an always-inline worker whose
 * operation and operand size are compile-time constants.  Memory forms do
 * the read and the write before updating lazy flags or registers, so a
 * faulting write leaves the state unchanged.
 */
#include "cpu/cpu_internal.h"

/* ---- operand access helpers (size 1, 2 or 4) ---- */

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

/** A read-modify-write access: host pointer when the TLB allows both the
 *  read and the write directly, else the linear address for lrd/lwr. */
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

/** CF for an instruction that needs the carry-in: inline the common cases. */
static ALWAYS_INLINE unsigned cf_now(X86Cpu *cpu)
{
    return lf_cf(cpu);
}

/* ---- the eight ALU operations (ModRM.reg order of group 1) + TEST ---- */

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST };

#define A_WRITES(op) ((op) != A_CMP && (op) != A_TEST)
#define A_CARRY(op) ((op) == A_ADC || (op) == A_SBB)

static ALWAYS_INLINE uint32_t alu_res(int op, unsigned size, uint32_t a, uint32_t b, unsigned c)
{
    uint32_t r;
    switch (op) {
    case A_ADD: r = a + b; break;
    case A_OR: r = a | b; break;
    case A_ADC: r = a + b + c; break;
    case A_SBB: r = a - b - c; break;
    case A_AND:
    case A_TEST: r = a & b; break;
    case A_SUB:
    case A_CMP: r = a - b; break;
    default: r = a ^ b; break;
    }
    return r & SZMASK(size);
}

static ALWAYS_INLINE void alu_flags(X86Cpu *cpu, int op, unsigned size, uint32_t a, uint32_t b,
                                    uint32_t r, unsigned c)
{
    switch (op) {
    case A_ADD: SET_LAZY(cpu, LF_ADD, size, a, b, r); break;
    case A_ADC: SET_LAZY(cpu, LF_ADC, size, a, b, r); cpu->lf.cf_in = (uint8_t)c; break;
    case A_SBB: SET_LAZY(cpu, LF_SBB, size, a, b, r); cpu->lf.cf_in = (uint8_t)c; break;
    case A_SUB:
    case A_CMP: SET_LAZY(cpu, LF_SUB, size, a, b, r); break;
    default:
        cpu->lf.op = LF_LOGIC;
        cpu->lf.size = (uint8_t)size;
        cpu->lf.res = r;
        break;
    }
}

/* The memory forms' slow paths: the whole instruction with the full
 * accesses (faults, MMIO, page crossings), out of line and reached by a
 * tail call, so that the handlers' fast paths stay leaf functions. */
static __attribute__((noinline, cold)) const Insn *alu_E_mem_slow(X86Cpu *cpu, const Insn *i, int op,
                                                                   unsigned size, uint32_t b)
{
    SYNC_EIP(cpu, i);
    if (A_WRITES(op)) {
        Rmw m;
        uint32_t a = rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m);
        unsigned c = A_CARRY(op) ? cf_now(cpu) : 0;
        uint32_t r = alu_res(op, size, a, b, c);
        rmw_write(cpu, &m, size, r);
        alu_flags(cpu, op, size, a, b, r, c);
    } else {
        uint32_t a = mem_rd(cpu, i->seg, insn_ea(cpu, i), size);
        uint32_t r = alu_res(op, size, a, b, 0);
        alu_flags(cpu, op, size, a, b, r, 0);
    }
    NEXT;
}

static __attribute__((noinline, cold)) const Insn *alu_G_mem_slow(X86Cpu *cpu, const Insn *i, int op,
                                                                   unsigned size)
{
    SYNC_EIP(cpu, i);
    uint32_t b = mem_rd(cpu, i->seg, insn_ea(cpu, i), size);
    uint32_t a = reg_get(cpu, i->reg, size);
    unsigned c = A_CARRY(op) ? cf_now(cpu) : 0;
    uint32_t r = alu_res(op, size, a, b, c);
    alu_flags(cpu, op, size, a, b, r, c);
    if (A_WRITES(op))
        reg_set(cpu, i->reg, size, r);
    NEXT;
}

/* The r/m operand of alu_E/alu_G and friends: a register, or memory in
 * one of the forms MF_SEG, MF_FLAT, MF_FLAT_SIB (cpu_internal.h). */
#define MF_REG (-1)

/** Destination is the r/m operand (register rm, or memory in form mf), source b. */
static ALWAYS_INLINE const Insn *alu_E(X86Cpu *cpu, const Insn *i, int op, unsigned size, int mf,
                                       uint32_t b)
{
    if (mf == MF_REG) {
        uint32_t a = reg_get(cpu, i->rm, size);
        unsigned c = A_CARRY(op) ? cf_now(cpu) : 0;
        uint32_t r = alu_res(op, size, a, b, c);
        alu_flags(cpu, op, size, a, b, r, c);
        if (A_WRITES(op))
            reg_set(cpu, i->rm, size, r);
    } else if (A_WRITES(op)) {
        uint8_t *p = mf_ptr_rmw(cpu, i, mf, size);
        if (unlikely(!p))
            return alu_E_mem_slow(cpu, i, op, size, b);
        uint32_t a = ld_sz(p, size);
        unsigned c = A_CARRY(op) ? cf_now(cpu) : 0;
        uint32_t r = alu_res(op, size, a, b, c);
        st_sz(p, size, r);
        alu_flags(cpu, op, size, a, b, r, c);
    } else {
        const void *p = mf_ptr(cpu, i, mf, size, false);
        if (unlikely(!p))
            return alu_E_mem_slow(cpu, i, op, size, b);
        uint32_t a = ld_sz(p, size);
        uint32_t r = alu_res(op, size, a, b, 0);
        alu_flags(cpu, op, size, a, b, r, 0);
    }
    NEXT;
}

/** Destination is the register reg, source the r/m operand. */
static ALWAYS_INLINE const Insn *alu_G(X86Cpu *cpu, const Insn *i, int op, unsigned size, int mf)
{
    uint32_t b;
    if (mf != MF_REG) {
        const void *p = mf_ptr(cpu, i, mf, size, false);
        if (unlikely(!p))
            return alu_G_mem_slow(cpu, i, op, size);
        b = ld_sz(p, size);
    } else {
        b = reg_get(cpu, i->rm, size);
    }
    uint32_t a = reg_get(cpu, i->reg, size);
    unsigned c = A_CARRY(op) ? cf_now(cpu) : 0;
    uint32_t r = alu_res(op, size, a, b, c);
    alu_flags(cpu, op, size, a, b, r, c);
    if (A_WRITES(op))
        reg_set(cpu, i->reg, size, r);
    NEXT;
}

/** Destination is AL/AX/EAX, source the immediate. */
static ALWAYS_INLINE const Insn *alu_A(X86Cpu *cpu, const Insn *i, int op, unsigned size)
{
    uint32_t a = reg_get(cpu, R_EAX, size), b = i->imm & SZMASK(size);
    unsigned c = A_CARRY(op) ? cf_now(cpu) : 0;
    uint32_t r = alu_res(op, size, a, b, c);
    alu_flags(cpu, op, size, a, b, r, c);
    if (A_WRITES(op))
        reg_set(cpu, R_EAX, size, r);
    NEXT;
}

/* The memory forms of an ALU handler in all three memory operand forms. */
#define ALU_MEM_FORMS(h, E_OR_G, ...)                                                           \
    FAST_HANDLER(h##_m) { return E_OR_G(cpu, i, __VA_ARGS__, MF_SEG); }                         \
    FAST_HANDLER(h##_mf) { return E_OR_G(cpu, i, __VA_ARGS__, MF_FLAT); }                       \
    FAST_HANDLER(h##_mfx) { return E_OR_G(cpu, i, __VA_ARGS__, MF_FLAT_SIB); }
/* alu_E with its source last, so that ALU_MEM_FORMS can append the form. */
#define ALU_E(cpu, i, OPC, SIZE, SRC, MF) alu_E(cpu, i, OPC, SIZE, MF, SRC)

#define ALU_HANDLERS(name, OPC)                                                                 \
    FAST_HANDLER(op_##name##_Eb_Gb_r) { return alu_E(cpu, i, OPC, 1, MF_REG, get_r8(cpu, i->reg)); } \
    ALU_MEM_FORMS(op_##name##_Eb_Gb, ALU_E, OPC, 1, get_r8(cpu, i->reg))                        \
    FAST_HANDLER(op_##name##_Ev_Gv_w_r) { return alu_E(cpu, i, OPC, 2, MF_REG, get_r16(cpu, i->reg)); } \
    FAST_HANDLER(op_##name##_Ev_Gv_w_m) { return alu_E(cpu, i, OPC, 2, MF_SEG, get_r16(cpu, i->reg)); } \
    FAST_HANDLER(op_##name##_Ev_Gv_d_r) { return alu_E(cpu, i, OPC, 4, MF_REG, cpu->r[i->reg]); }    \
    ALU_MEM_FORMS(op_##name##_Ev_Gv_d, ALU_E, OPC, 4, cpu->r[i->reg])                           \
    FAST_HANDLER(op_##name##_Gb_Eb_r) { return alu_G(cpu, i, OPC, 1, MF_REG); }                 \
    ALU_MEM_FORMS(op_##name##_Gb_Eb, alu_G, OPC, 1)                                             \
    FAST_HANDLER(op_##name##_Gv_Ev_w_r) { return alu_G(cpu, i, OPC, 2, MF_REG); }               \
    FAST_HANDLER(op_##name##_Gv_Ev_w_m) { return alu_G(cpu, i, OPC, 2, MF_SEG); }               \
    FAST_HANDLER(op_##name##_Gv_Ev_d_r) { return alu_G(cpu, i, OPC, 4, MF_REG); }               \
    ALU_MEM_FORMS(op_##name##_Gv_Ev_d, alu_G, OPC, 4)                                           \
    FAST_HANDLER(op_##name##_AL_Ib) { return alu_A(cpu, i, OPC, 1); }                           \
    FAST_HANDLER(op_##name##_eAX_Iv_w) { return alu_A(cpu, i, OPC, 2); }                        \
    FAST_HANDLER(op_##name##_eAX_Iv_d) { return alu_A(cpu, i, OPC, 4); }                        \
    FAST_HANDLER(op_##name##_Eb_Ib_r) { return alu_E(cpu, i, OPC, 1, MF_REG, i->imm & 0xFF); }  \
    ALU_MEM_FORMS(op_##name##_Eb_Ib, ALU_E, OPC, 1, i->imm & 0xFF)                              \
    FAST_HANDLER(op_##name##_Ev_Iv_w_r) { return alu_E(cpu, i, OPC, 2, MF_REG, i->imm & 0xFFFF); }   \
    FAST_HANDLER(op_##name##_Ev_Iv_w_m) { return alu_E(cpu, i, OPC, 2, MF_SEG, i->imm & 0xFFFF); }   \
    FAST_HANDLER(op_##name##_Ev_Iv_d_r) { return alu_E(cpu, i, OPC, 4, MF_REG, i->imm); }       \
    ALU_MEM_FORMS(op_##name##_Ev_Iv_d, ALU_E, OPC, 4, i->imm)

ALU_HANDLERS(add, A_ADD)
ALU_HANDLERS(or, A_OR)
ALU_HANDLERS(adc, A_ADC)
ALU_HANDLERS(sbb, A_SBB)
ALU_HANDLERS(and, A_AND)
ALU_HANDLERS(sub, A_SUB)
ALU_HANDLERS(xor, A_XOR)
ALU_HANDLERS(cmp, A_CMP)

/* TEST: 84/85 (Eb,Gb / Ev,Gv), A8/A9 (AL,Ib / eAX,Iv), F6/F7 /0 (/1 alias). */
FAST_HANDLER(op_test_Eb_Gb_r) { return alu_E(cpu, i, A_TEST, 1, MF_REG, get_r8(cpu, i->reg)); }
ALU_MEM_FORMS(op_test_Eb_Gb, ALU_E, A_TEST, 1, get_r8(cpu, i->reg))
FAST_HANDLER(op_test_Ev_Gv_w_r) { return alu_E(cpu, i, A_TEST, 2, MF_REG, get_r16(cpu, i->reg)); }
FAST_HANDLER(op_test_Ev_Gv_w_m) { return alu_E(cpu, i, A_TEST, 2, MF_SEG, get_r16(cpu, i->reg)); }
FAST_HANDLER(op_test_Ev_Gv_d_r) { return alu_E(cpu, i, A_TEST, 4, MF_REG, cpu->r[i->reg]); }
ALU_MEM_FORMS(op_test_Ev_Gv_d, ALU_E, A_TEST, 4, cpu->r[i->reg])
FAST_HANDLER(op_test_AL_Ib) { return alu_A(cpu, i, A_TEST, 1); }
FAST_HANDLER(op_test_eAX_Iv_w) { return alu_A(cpu, i, A_TEST, 2); }
FAST_HANDLER(op_test_eAX_Iv_d) { return alu_A(cpu, i, A_TEST, 4); }
FAST_HANDLER(op_test_Eb_Ib_r) { return alu_E(cpu, i, A_TEST, 1, MF_REG, i->imm & 0xFF); }
ALU_MEM_FORMS(op_test_Eb_Ib, ALU_E, A_TEST, 1, i->imm & 0xFF)
FAST_HANDLER(op_test_Ev_Iv_w_r) { return alu_E(cpu, i, A_TEST, 2, MF_REG, i->imm & 0xFFFF); }
FAST_HANDLER(op_test_Ev_Iv_w_m) { return alu_E(cpu, i, A_TEST, 2, MF_SEG, i->imm & 0xFFFF); }
FAST_HANDLER(op_test_Ev_Iv_d_r) { return alu_E(cpu, i, A_TEST, 4, MF_REG, i->imm); }
ALU_MEM_FORMS(op_test_Ev_Iv_d, ALU_E, A_TEST, 4, i->imm)

/* ---- INC / DEC (CF unchanged) ---- */

static ALWAYS_INLINE void incdec_flags(X86Cpu *cpu, bool dec, unsigned size, uint32_t r, unsigned cf)
{
    cpu->lf.op = dec ? LF_DEC : LF_INC;
    cpu->lf.size = (uint8_t)size;
    cpu->lf.res = r;
    cpu->lf.cf_in = (uint8_t)cf;
}

static ALWAYS_INLINE const Insn *incdec(X86Cpu *cpu, const Insn *i, bool dec, unsigned size, bool mem,
                                        int reg)
{
    if (!mem) {
        unsigned cf = cf_now(cpu);
        uint32_t r = (reg_get(cpu, reg, size) + (dec ? 0xFFFFFFFFu : 1u)) & SZMASK(size);
        incdec_flags(cpu, dec, size, r, cf);
        reg_set(cpu, reg, size, r);
    } else {
        Rmw m;
        uint32_t a = rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m);
        uint32_t r = (a + (dec ? 0xFFFFFFFFu : 1u)) & SZMASK(size);
        rmw_write(cpu, &m, size, r);
        incdec_flags(cpu, dec, size, r, cf_now(cpu));
    }
    NEXT;
}

/* 40-4F: INC/DEC r16/r32 (register in the opcode: i->reg). */
FAST_HANDLER(op_inc_Zv_w) { return incdec(cpu, i, false, 2, false, i->reg); }
FAST_HANDLER(op_inc_Zv_d) { return incdec(cpu, i, false, 4, false, i->reg); }
FAST_HANDLER(op_dec_Zv_w) { return incdec(cpu, i, true, 2, false, i->reg); }
FAST_HANDLER(op_dec_Zv_d) { return incdec(cpu, i, true, 4, false, i->reg); }
/* FE /0 /1, FF /0 /1. */
FAST_HANDLER(op_inc_Eb_r) { return incdec(cpu, i, false, 1, false, i->rm); }
HANDLER(op_inc_Eb_m) { return incdec(cpu, i, false, 1, true, 0); }
FAST_HANDLER(op_dec_Eb_r) { return incdec(cpu, i, true, 1, false, i->rm); }
HANDLER(op_dec_Eb_m) { return incdec(cpu, i, true, 1, true, 0); }
FAST_HANDLER(op_inc_Ev_w_r) { return incdec(cpu, i, false, 2, false, i->rm); }
HANDLER(op_inc_Ev_w_m) { return incdec(cpu, i, false, 2, true, 0); }
FAST_HANDLER(op_inc_Ev_d_r) { return incdec(cpu, i, false, 4, false, i->rm); }
HANDLER(op_inc_Ev_d_m) { return incdec(cpu, i, false, 4, true, 0); }
FAST_HANDLER(op_dec_Ev_w_r) { return incdec(cpu, i, true, 2, false, i->rm); }
HANDLER(op_dec_Ev_w_m) { return incdec(cpu, i, true, 2, true, 0); }
FAST_HANDLER(op_dec_Ev_d_r) { return incdec(cpu, i, true, 4, false, i->rm); }
HANDLER(op_dec_Ev_d_m) { return incdec(cpu, i, true, 4, true, 0); }

/* ---- NOT (no flags) / NEG (flags of 0 - src) ---- */

static ALWAYS_INLINE const Insn *notneg(X86Cpu *cpu, const Insn *i, bool neg, unsigned size, bool mem)
{
    Rmw m;
    uint32_t a = mem ? rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m) : reg_get(cpu, i->rm, size);
    uint32_t r = (neg ? 0u - a : ~a) & SZMASK(size);
    if (mem)
        rmw_write(cpu, &m, size, r);
    else
        reg_set(cpu, i->rm, size, r);
    if (neg)
        SET_LAZY(cpu, LF_NEG, size, 0, a, r);
    NEXT;
}

FAST_HANDLER(op_not_Eb_r) { return notneg(cpu, i, false, 1, false); }
HANDLER(op_not_Eb_m) { return notneg(cpu, i, false, 1, true); }
FAST_HANDLER(op_not_Ev_w_r) { return notneg(cpu, i, false, 2, false); }
HANDLER(op_not_Ev_w_m) { return notneg(cpu, i, false, 2, true); }
FAST_HANDLER(op_not_Ev_d_r) { return notneg(cpu, i, false, 4, false); }
HANDLER(op_not_Ev_d_m) { return notneg(cpu, i, false, 4, true); }
FAST_HANDLER(op_neg_Eb_r) { return notneg(cpu, i, true, 1, false); }
HANDLER(op_neg_Eb_m) { return notneg(cpu, i, true, 1, true); }
FAST_HANDLER(op_neg_Ev_w_r) { return notneg(cpu, i, true, 2, false); }
HANDLER(op_neg_Ev_w_m) { return notneg(cpu, i, true, 2, true); }
FAST_HANDLER(op_neg_Ev_d_r) { return notneg(cpu, i, true, 4, false); }
HANDLER(op_neg_Ev_d_m) { return notneg(cpu, i, true, 4, true); }

/* ---- CMPXCHG (0F B0/B1) ---- */

/* Flags as CMP accumulator, destination.  The memory destination is
 * always written (with its old value when the comparison fails). */
static ALWAYS_INLINE const Insn *cmpxchg(X86Cpu *cpu, const Insn *i, unsigned size, bool mem)
{
    Rmw m;
    uint32_t acc = reg_get(cpu, R_EAX, size);
    uint32_t d = mem ? rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m) : reg_get(cpu, i->rm, size);
    uint32_t r = (acc - d) & SZMASK(size);
    bool eq = acc == d;
    if (mem) {
        rmw_write(cpu, &m, size, eq ? reg_get(cpu, i->reg, size) : d);
    } else if (eq) {
        reg_set(cpu, i->rm, size, reg_get(cpu, i->reg, size));
    }
    SET_LAZY(cpu, LF_SUB, size, acc, d, r);
    if (!eq)
        reg_set(cpu, R_EAX, size, d);
    NEXT;
}

FAST_HANDLER(op_cmpxchg_Eb_Gb_r) { return cmpxchg(cpu, i, 1, false); }
HANDLER(op_cmpxchg_Eb_Gb_m) { return cmpxchg(cpu, i, 1, true); }
FAST_HANDLER(op_cmpxchg_Ev_Gv_w_r) { return cmpxchg(cpu, i, 2, false); }
HANDLER(op_cmpxchg_Ev_Gv_w_m) { return cmpxchg(cpu, i, 2, true); }
FAST_HANDLER(op_cmpxchg_Ev_Gv_d_r) { return cmpxchg(cpu, i, 4, false); }
HANDLER(op_cmpxchg_Ev_Gv_d_m) { return cmpxchg(cpu, i, 4, true); }

/* ---- XADD (0F C0/C1): TEMP = SRC + DEST; SRC = DEST; DEST = TEMP ---- */

static ALWAYS_INLINE const Insn *xadd(X86Cpu *cpu, const Insn *i, unsigned size, bool mem)
{
    Rmw m;
    uint32_t s = reg_get(cpu, i->reg, size);
    uint32_t d = mem ? rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m) : reg_get(cpu, i->rm, size);
    uint32_t r = (d + s) & SZMASK(size);
    if (mem)
        rmw_write(cpu, &m, size, r);
    SET_LAZY(cpu, LF_ADD, size, d, s, r);
    reg_set(cpu, i->reg, size, d);
    if (!mem)
        reg_set(cpu, i->rm, size, r);
    NEXT;
}

FAST_HANDLER(op_xadd_Eb_Gb_r) { return xadd(cpu, i, 1, false); }
HANDLER(op_xadd_Eb_Gb_m) { return xadd(cpu, i, 1, true); }
FAST_HANDLER(op_xadd_Ev_Gv_w_r) { return xadd(cpu, i, 2, false); }
HANDLER(op_xadd_Ev_Gv_w_m) { return xadd(cpu, i, 2, true); }
FAST_HANDLER(op_xadd_Ev_Gv_d_r) { return xadd(cpu, i, 4, false); }
HANDLER(op_xadd_Ev_Gv_d_m) { return xadd(cpu, i, 4, true); }

/* ---- CMPXCHG8B m64 (0F C7 /1): only ZF changes ---- */

HANDLER(op_cmpxchg8b)
{
    uint32_t lin = seg_lin(cpu, i->seg, insn_ea(cpu, i), 8, true);
    uint64_t v = lrd64(cpu, lin);
    uint64_t cmp = ((uint64_t)cpu->r[R_EDX] << 32) | cpu->r[R_EAX];
    bool eq = v == cmp;
    /* The destination is written back in either case (SDM). */
    lwr64(cpu, lin, eq ? ((uint64_t)cpu->r[R_ECX] << 32) | cpu->r[R_EBX] : v);
    flags_materialize(cpu);
    if (eq) {
        cpu->eflags |= EFLAGS_ZF;
    } else {
        cpu->eflags &= ~EFLAGS_ZF;
        cpu->r[R_EAX] = (uint32_t)v;
        cpu->r[R_EDX] = (uint32_t)(v >> 32);
    }
    NEXT;
}
