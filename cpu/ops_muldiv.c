/*
 * ops_muldiv.c - multiply, divide, sign extension and BCD adjust
 * (SDM vol. 2: MUL, IMUL, DIV, IDIV, CBW/CWDE, CWD/CDQ, DAA, DAS, AAA, AAS,
 * AAM, AAD).
 *
 * MUL/IMUL: CF = OF = "the upper half is significant"; SF/ZF/PF (undefined)
 * follow the low half of the result, AF = 0 (lazy op LF_SHL, see flags.c).
 * DIV/IDIV: #DE on a zero divisor or a quotient that does not fit, before
 * any register changes; flags (undefined) are left unchanged.
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

/** The r/m source operand. */
static ALWAYS_INLINE uint32_t src_E(X86Cpu *cpu, const Insn *i, unsigned size, bool mem)
{
    return mem ? mem_rd(cpu, i->seg, insn_ea(cpu, i), size) : reg_get(cpu, i->rm, size);
}

static ALWAYS_INLINE int32_t sext(uint32_t v, unsigned size)
{
    unsigned sh = 32 - size * 8;
    return (int32_t)(v << sh) >> sh;
}

static ALWAYS_INLINE void mul_flags(X86Cpu *cpu, unsigned size, uint32_t lo, bool ovf)
{
    cpu->lf.op = LF_SHL;
    cpu->lf.size = (uint8_t)size;
    cpu->lf.res = lo;
    cpu->lf.cf_in = ovf;
    cpu->lf.of_in = ovf;
}

/* ---- MUL / IMUL (one operand): F6/F7 /4 /5 ---- */

static ALWAYS_INLINE const Insn *mul1(X86Cpu *cpu, const Insn *i, bool sign, unsigned size, bool mem)
{
    uint32_t s = src_E(cpu, i, size, mem);
    uint32_t a = reg_get(cpu, R_EAX, size);
    uint64_t p;
    bool ovf;
    if (sign) {
        int64_t sp = (int64_t)sext(a, size) * sext(s, size);
        p = (uint64_t)sp;
        ovf = sp != sext((uint32_t)sp, size);
    } else {
        p = (uint64_t)a * s;
        ovf = (p >> (size * 8)) != 0;
    }
    uint32_t lo = (uint32_t)p & SZMASK(size);
    if (size == 1) {
        set_r16(cpu, R_EAX, (uint16_t)p);
    } else {
        uint32_t hi = (uint32_t)(p >> (size * 8)) & SZMASK(size);
        reg_set(cpu, R_EAX, size, lo);
        reg_set(cpu, R_EDX, size, hi);
    }
    mul_flags(cpu, size, lo, ovf);
    NEXT;
}

FAST_HANDLER(op_mul_Eb_r) { return mul1(cpu, i, false, 1, false); }
HANDLER(op_mul_Eb_m) { return mul1(cpu, i, false, 1, true); }
FAST_HANDLER(op_mul_Ev_w_r) { return mul1(cpu, i, false, 2, false); }
HANDLER(op_mul_Ev_w_m) { return mul1(cpu, i, false, 2, true); }
FAST_HANDLER(op_mul_Ev_d_r) { return mul1(cpu, i, false, 4, false); }
HANDLER(op_mul_Ev_d_m) { return mul1(cpu, i, false, 4, true); }
FAST_HANDLER(op_imul_Eb_r) { return mul1(cpu, i, true, 1, false); }
HANDLER(op_imul_Eb_m) { return mul1(cpu, i, true, 1, true); }
FAST_HANDLER(op_imul_Ev_w_r) { return mul1(cpu, i, true, 2, false); }
HANDLER(op_imul_Ev_w_m) { return mul1(cpu, i, true, 2, true); }
FAST_HANDLER(op_imul_Ev_d_r) { return mul1(cpu, i, true, 4, false); }
HANDLER(op_imul_Ev_d_m) { return mul1(cpu, i, true, 4, true); }

/* ---- IMUL Gv,Ev / Gv,Ev,Iv / Gv,Ev,Ib (0F AF, 69, 6B) ---- */

static ALWAYS_INLINE const Insn *imul_g(X86Cpu *cpu, const Insn *i, unsigned size, bool mem, uint32_t b)
{
    uint32_t a = src_E(cpu, i, size, mem);
    int64_t sp = (int64_t)sext(a, size) * sext(b, size);
    uint32_t lo = (uint32_t)sp & SZMASK(size);
    reg_set(cpu, i->reg, size, lo);
    mul_flags(cpu, size, lo, sp != sext(lo, size));
    NEXT;
}

FAST_HANDLER(op_imul_Gv_Ev_w_r) { return imul_g(cpu, i, 2, false, get_r16(cpu, i->reg)); }
HANDLER(op_imul_Gv_Ev_w_m) { return imul_g(cpu, i, 2, true, get_r16(cpu, i->reg)); }
FAST_HANDLER(op_imul_Gv_Ev_d_r) { return imul_g(cpu, i, 4, false, cpu->r[i->reg]); }
HANDLER(op_imul_Gv_Ev_d_m) { return imul_g(cpu, i, 4, true, cpu->r[i->reg]); }
/* 69 (imm16/imm32) and 6B (imm8 sign-extended by the decoder). */
FAST_HANDLER(op_imul_Gv_Ev_Iv_w_r) { return imul_g(cpu, i, 2, false, i->imm); }
HANDLER(op_imul_Gv_Ev_Iv_w_m) { return imul_g(cpu, i, 2, true, i->imm); }
FAST_HANDLER(op_imul_Gv_Ev_Iv_d_r) { return imul_g(cpu, i, 4, false, i->imm); }
HANDLER(op_imul_Gv_Ev_Iv_d_m) { return imul_g(cpu, i, 4, true, i->imm); }

/* ---- DIV / IDIV: F6/F7 /6 /7 ---- */

static ALWAYS_INLINE const Insn *div1(X86Cpu *cpu, const Insn *i, bool sign, unsigned size, bool mem)
{
    uint32_t s = src_E(cpu, i, size, mem);
    if (s == 0)
        cpu_raise_noerr(cpu, EXC_DE);
    uint32_t q, r;
    if (size == 1) {
        uint32_t n = get_r16(cpu, R_EAX);
        if (sign) {
            int32_t sn = (int16_t)n, sd = (int8_t)s;
            int32_t sq = sn / sd;
            if (sq > 127 || sq < -128)
                cpu_raise_noerr(cpu, EXC_DE);
            q = (uint32_t)sq;
            r = (uint32_t)(sn % sd);
        } else {
            q = n / s;
            if (q > 0xFF)
                cpu_raise_noerr(cpu, EXC_DE);
            r = n % s;
        }
        set_r16(cpu, R_EAX, (uint16_t)((q & 0xFF) | ((r & 0xFF) << 8)));
        NEXT;
    }
    uint64_t n = ((uint64_t)reg_get(cpu, R_EDX, size) << (size * 8)) | reg_get(cpu, R_EAX, size);
    if (sign) {
        int64_t sn = size == 2 ? (int64_t)(int32_t)(uint32_t)n : (int64_t)n;
        int64_t sd = sext(s, size);
        if (size == 4 && sn == INT64_MIN && sd == -1)
            cpu_raise_noerr(cpu, EXC_DE);
        int64_t sq = sn / sd;
        int64_t lim = size == 2 ? 0x7FFF : 0x7FFFFFFF;
        if (sq > lim || sq < -lim - 1)
            cpu_raise_noerr(cpu, EXC_DE);
        q = (uint32_t)sq;
        r = (uint32_t)(sn % sd);
    } else {
        uint64_t uq = n / s;
        if (uq > SZMASK(size))
            cpu_raise_noerr(cpu, EXC_DE);
        q = (uint32_t)uq;
        r = (uint32_t)(n % s);
    }
    reg_set(cpu, R_EAX, size, q);
    reg_set(cpu, R_EDX, size, r);
    NEXT;
}

HANDLER(op_div_Eb_r) { return div1(cpu, i, false, 1, false); }
HANDLER(op_div_Eb_m) { return div1(cpu, i, false, 1, true); }
HANDLER(op_div_Ev_w_r) { return div1(cpu, i, false, 2, false); }
HANDLER(op_div_Ev_w_m) { return div1(cpu, i, false, 2, true); }
HANDLER(op_div_Ev_d_r) { return div1(cpu, i, false, 4, false); }
HANDLER(op_div_Ev_d_m) { return div1(cpu, i, false, 4, true); }
HANDLER(op_idiv_Eb_r) { return div1(cpu, i, true, 1, false); }
HANDLER(op_idiv_Eb_m) { return div1(cpu, i, true, 1, true); }
HANDLER(op_idiv_Ev_w_r) { return div1(cpu, i, true, 2, false); }
HANDLER(op_idiv_Ev_w_m) { return div1(cpu, i, true, 2, true); }
HANDLER(op_idiv_Ev_d_r) { return div1(cpu, i, true, 4, false); }
HANDLER(op_idiv_Ev_d_m) { return div1(cpu, i, true, 4, true); }

/* ---- CBW/CWDE (98), CWD/CDQ (99) ---- */

FAST_HANDLER(op_cbw_w)
{
    set_r16(cpu, R_EAX, (uint16_t)(int8_t)cpu->r[R_EAX]);
    NEXT;
}
FAST_HANDLER(op_cbw_d)
{
    cpu->r[R_EAX] = (uint32_t)(int16_t)cpu->r[R_EAX];
    NEXT;
}
FAST_HANDLER(op_cwd_w)
{
    set_r16(cpu, R_EDX, (cpu->r[R_EAX] & 0x8000) ? 0xFFFF : 0);
    NEXT;
}
FAST_HANDLER(op_cwd_d)
{
    cpu->r[R_EDX] = (cpu->r[R_EAX] & 0x80000000u) ? 0xFFFFFFFFu : 0;
    NEXT;
}

/* ---- BCD adjust ---- */

static ALWAYS_INLINE uint32_t szp8(uint8_t v)
{
    uint32_t f = 0;
    if (v == 0)
        f |= EFLAGS_ZF;
    if (v & 0x80)
        f |= EFLAGS_SF;
    if (!__builtin_parity(v))
        f |= EFLAGS_PF;
    return f;
}

/* DAA (27) / DAS (2F): SF ZF PF from AL, CF AF per SDM; OF (undefined)
 * is the signed overflow of the adjustment as a whole. */
static ALWAYS_INLINE const Insn *daa_das(X86Cpu *cpu, const Insn *i, bool sub)
{
    flags_materialize(cpu);
    uint8_t old_al = (uint8_t)cpu->r[R_EAX], al = old_al;
    bool old_cf = cpu->eflags & EFLAGS_CF, cf = false, af = false;
    if ((al & 0x0F) > 9 || (cpu->eflags & EFLAGS_AF)) {
        cf = old_cf || (sub ? al < 6 : al > 0xF9);
        al = (uint8_t)(sub ? al - 6 : al + 6);
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = (uint8_t)(sub ? al - 0x60 : al + 0x60);
        cf = true;
    } else if (!sub) {
        cf = false;
    }
    bool of = sub ? ((old_al & ~al) & 0x80) != 0 : ((~old_al & al) & 0x80) != 0;
    set_r8(cpu, R_EAX, al);
    cpu->eflags = (cpu->eflags & ~EFLAGS_ARITH) | szp8(al) | (cf ? EFLAGS_CF : 0) |
                  (af ? EFLAGS_AF : 0) | (of ? EFLAGS_OF : 0);
    NEXT;
}

HANDLER(op_daa) { return daa_das(cpu, i, false); }
HANDLER(op_das) { return daa_das(cpu, i, true); }

/* AAA (37) / AAS (3F): AF = CF = adjust; OF SF ZF PF undefined (set from
 * the final AL, OF = 0). */
static ALWAYS_INLINE const Insn *aaa_aas(X86Cpu *cpu, const Insn *i, bool sub)
{
    flags_materialize(cpu);
    uint16_t ax = (uint16_t)cpu->r[R_EAX];
    bool adj = (ax & 0x0F) > 9 || (cpu->eflags & EFLAGS_AF);
    if (adj) {
        ax = (uint16_t)(sub ? ax - 0x106 : ax + 0x106); /* AX -/+ 6, AH -/+ 1 */
    }
    ax &= 0xFF0F;
    set_r16(cpu, R_EAX, ax);
    cpu->eflags = (cpu->eflags & ~EFLAGS_ARITH) | szp8((uint8_t)ax) |
                  (adj ? EFLAGS_CF | EFLAGS_AF : 0);
    NEXT;
}

HANDLER(op_aaa) { return aaa_aas(cpu, i, false); }
HANDLER(op_aas) { return aaa_aas(cpu, i, true); }

/* AAM imm8 (D4): AH = AL / imm8, AL = AL % imm8; #DE if imm8 = 0.
 * SF ZF PF from AL; OF AF CF (undefined) = 0. */
HANDLER(op_aam)
{
    uint8_t base = (uint8_t)i->imm, al = (uint8_t)cpu->r[R_EAX];
    if (base == 0)
        cpu_raise_noerr(cpu, EXC_DE);
    uint8_t q = al / base, r = al % base;
    set_r16(cpu, R_EAX, (uint16_t)(r | (q << 8)));
    cpu->lf.op = LF_LOGIC;
    cpu->lf.size = 1;
    cpu->lf.res = r;
    NEXT;
}

/* AAD imm8 (D5): AL = AL + AH * imm8, AH = 0.  SF ZF PF from AL; OF AF CF
 * (undefined) as the internal 8-bit addition sets them. */
HANDLER(op_aad)
{
    uint8_t al = (uint8_t)cpu->r[R_EAX], ah = (uint8_t)(cpu->r[R_EAX] >> 8);
    uint8_t t = (uint8_t)(ah * (uint8_t)i->imm);
    uint8_t r = (uint8_t)(al + t);
    set_r16(cpu, R_EAX, r);
    SET_LAZY(cpu, LF_ADD, 1, al, t, r);
    NEXT;
}
