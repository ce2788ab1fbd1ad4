/*
 * flags.c - lazy arithmetic flags (CF PF AF ZF SF OF) and EFLAGS access.
 *
 * A flag-setting instruction records its operands in cpu->lf instead of
 * computing EFLAGS; a flag is computed only when something reads it (Jcc,
 * SETcc, PUSHF, ...).  While lf.op != LF_NONE the six arithmetic bits of
 * cpu->eflags are stale; every other EFLAGS bit is always exact there.
 *
 * Contract for every writer of cpu->lf (SET_LAZY or direct stores):
 * res, dst and src hold values truncated to lf.size bytes (zero-extended),
 * size is 1, 2 or 4.  Per operation, the fields used are:
 *
 *   op         fields used           CF                    OF              AF
 *   LF_ADD     dst src res           carry out of dst+src  signed overflow bit 4 of dst^src^res
 *   LF_ADC     dst src res cf_in     carry of dst+src+cf_in  signed ovf    bit 4 of dst^src^res
 *   LF_SUB     dst src res           borrow of dst-src     signed overflow bit 4 of dst^src^res
 *   LF_SBB     dst src res cf_in     borrow of dst-src-cf_in signed ovf    bit 4 of dst^src^res
 *   LF_NEG     dst=0 src res         as LF_SUB (0 - src): CF = src != 0
 *   LF_LOGIC   res                   0                     0               0
 *   LF_INC     res cf_in             cf_in (CF unchanged)  res == 0x80..   low nibble of res == 0
 *   LF_DEC     res cf_in             cf_in (CF unchanged)  res == 0x7F..   low nibble of res == 0xF
 *   LF_SHL/SHR/SAR  res cf_in of_in  cf_in                 of_in           0
 *              (also used by MUL/IMUL, SHLD/SHRD: CF/OF computed by the
 *              instruction, SF/ZF/PF from res)
 *   LF_ROT     res src cf_in of_in   cf_in                 of_in           src & 0x10
 *              (ROL/ROR/RCL/RCR: only CF and OF change, so res/size stay
 *              those of the operation before and src holds its AF)
 *
 * For all ops except LF_NONE: ZF = (res == 0), SF = top bit of res (by
 * size), PF = even parity of the low 8 bits of res.
 * LF_NONE: all flags are in cpu->eflags.
 */
#include "cpu/cpu_internal.h"

static ALWAYS_INLINE unsigned lf_bits(const LazyFlags *lf) { return lf->size * 8u; }

bool get_cf(X86Cpu *cpu)
{
    return lf_cf(cpu);
}

bool get_of(X86Cpu *cpu)
{
    const LazyFlags *lf = &cpu->lf;
    switch (lf->op) {
    case LF_NONE:
        return cpu->eflags & EFLAGS_OF;
    case LF_ADD:
    case LF_ADC:
        return lf_top(lf, (lf->dst ^ lf->res) & (lf->src ^ lf->res));
    case LF_SUB:
    case LF_SBB:
    case LF_NEG:
        return lf_top(lf, (lf->dst ^ lf->src) & (lf->dst ^ lf->res));
    case LF_LOGIC:
        return false;
    case LF_INC:
        return lf->res == 1u << (lf_bits(lf) - 1);
    case LF_DEC:
        return lf->res == (1u << (lf_bits(lf) - 1)) - 1;
    default: /* SHL SHR SAR */
        return lf->of_in;
    }
}

bool get_af(X86Cpu *cpu)
{
    const LazyFlags *lf = &cpu->lf;
    switch (lf->op) {
    case LF_NONE:
        return cpu->eflags & EFLAGS_AF;
    case LF_ADD:
    case LF_ADC:
    case LF_SUB:
    case LF_SBB:
    case LF_NEG:
        return (lf->dst ^ lf->src ^ lf->res) & 0x10;
    case LF_INC:
        return (lf->res & 0xF) == 0;
    case LF_DEC:
        return (lf->res & 0xF) == 0xF;
    case LF_ROT:
        return lf->src & 0x10;
    default: /* LOGIC SHL SHR SAR */
        return false;
    }
}

bool get_zf(X86Cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->eflags & EFLAGS_ZF;
    return cpu->lf.res == 0;
}

bool get_sf(X86Cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->eflags & EFLAGS_SF;
    return lf_top(&cpu->lf, cpu->lf.res);
}

bool get_pf(X86Cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->eflags & EFLAGS_PF;
    return !__builtin_parity(cpu->lf.res & 0xFF);
}

bool cpu_cond(X86Cpu *cpu, int cc)
{
    const LazyFlags *lf = &cpu->lf;
    bool r;
    switch ((cc >> 1) & 7) {
    case 0: /* O */
        r = get_of(cpu);
        break;
    case 1: /* B / C */
        r = get_cf(cpu);
        break;
    case 2: /* E / Z */
        r = lf->op == LF_NONE ? (cpu->eflags & EFLAGS_ZF) != 0 : lf->res == 0;
        break;
    case 3: /* BE: CF or ZF */
        if (lf->op == LF_SUB)
            r = lf->dst <= lf->src;
        else if (lf->op == LF_LOGIC)
            r = lf->res == 0;
        else
            r = get_cf(cpu) || get_zf(cpu);
        break;
    case 4: /* S */
        r = get_sf(cpu);
        break;
    case 5: /* P */
        r = get_pf(cpu);
        break;
    case 6: /* L: SF != OF */
        if (lf->op == LF_SUB)
            r = lf_sext(lf, lf->dst) < lf_sext(lf, lf->src);
        else if (lf->op == LF_LOGIC)
            r = lf_top(lf, lf->res);
        else
            r = get_sf(cpu) != get_of(cpu);
        break;
    default: /* LE: ZF or SF != OF */
        if (lf->op == LF_SUB)
            r = lf_sext(lf, lf->dst) <= lf_sext(lf, lf->src);
        else if (lf->op == LF_LOGIC)
            r = lf->res == 0 || lf_top(lf, lf->res);
        else
            r = get_zf(cpu) || get_sf(cpu) != get_of(cpu);
        break;
    }
    return r ^ (cc & 1);
}

void flags_materialize(X86Cpu *cpu)
{
    const LazyFlags *lf = &cpu->lf;
    uint32_t f, dst = lf->dst, src = lf->src, res = lf->res;
    switch (lf->op) {
    case LF_NONE:
        return;
    case LF_ADD:
        f = res < dst ? EFLAGS_CF : 0;
        goto add_common;
    case LF_ADC:
        f = lf_top(lf, (dst & src) | ((dst | src) & ~res)) ? EFLAGS_CF : 0;
    add_common:
        f |= lf_top(lf, (dst ^ res) & (src ^ res)) ? EFLAGS_OF : 0;
        f |= (dst ^ src ^ res) & EFLAGS_AF;
        break;
    case LF_SUB:
    case LF_NEG:
        f = dst < src ? EFLAGS_CF : 0;
        goto sub_common;
    case LF_SBB:
        f = lf_top(lf, (~dst & src) | ((~dst | src) & res)) ? EFLAGS_CF : 0;
    sub_common:
        f |= lf_top(lf, (dst ^ src) & (dst ^ res)) ? EFLAGS_OF : 0;
        f |= (dst ^ src ^ res) & EFLAGS_AF;
        break;
    case LF_LOGIC:
        f = 0;
        break;
    case LF_INC:
        f = lf->cf_in ? EFLAGS_CF : 0;
        f |= res == 1u << (lf_bits(lf) - 1) ? EFLAGS_OF : 0;
        f |= (res & 0xF) == 0 ? EFLAGS_AF : 0;
        break;
    case LF_DEC:
        f = lf->cf_in ? EFLAGS_CF : 0;
        f |= res == (1u << (lf_bits(lf) - 1)) - 1 ? EFLAGS_OF : 0;
        f |= (res & 0xF) == 0xF ? EFLAGS_AF : 0;
        break;
    case LF_ROT:
        f = (lf->cf_in ? EFLAGS_CF : 0) | (lf->of_in ? EFLAGS_OF : 0) | (src & EFLAGS_AF);
        break;
    default: /* SHL SHR SAR */
        f = (lf->cf_in ? EFLAGS_CF : 0) | (lf->of_in ? EFLAGS_OF : 0);
        break;
    }
    if (res == 0)
        f |= EFLAGS_ZF;
    if (lf_top(lf, res))
        f |= EFLAGS_SF;
    if (!__builtin_parity(res & 0xFF))
        f |= EFLAGS_PF;
    cpu->eflags = (cpu->eflags & ~EFLAGS_ARITH) | f;
    cpu->lf.op = LF_NONE;
}

uint32_t cpu_eflags(X86Cpu *cpu)
{
    flags_materialize(cpu);
    return cpu->eflags | 2u;
}

/* EFLAGS bits that always read 0 (SDM vol. 1 §3.4.3: bits 3, 5, 15, 22-31). */
#define EFLAGS_RSVD0 0xFFC08028u

void cpu_load_eflags(X86Cpu *cpu, uint32_t val, uint32_t mask)
{
    flags_materialize(cpu);
    uint32_t old = cpu->eflags;
    uint32_t nw = ((old & ~mask) | (val & mask) | 2u) & ~EFLAGS_RSVD0;
    uint32_t ch = old ^ nw;
    cpu->eflags = nw;
    if ((ch & nw & EFLAGS_IF) || (ch & (EFLAGS_TF | EFLAGS_VM)))
        cpu->pending_check = 1;
    if (ch & EFLAGS_VM)
        cpu_mode_changed(cpu);
}
