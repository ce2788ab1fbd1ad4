/*
 * ops_shift.c - shifts and rotates (SDM vol. 2: RCL/RCR/ROL/ROR,
 * SAL/SAR/SHL/SHR, SHLD, SHRD): groups C0/C1 (imm8 count), D0/D1 (count 1),
 * D2/D3 (count CL), and 0F A4/A5/AC/AD.
 *
 * The count is masked to 5 bits; a masked count of 0 changes nothing (no
 * flags, no write; a memory operand is still read).  RCL/RCR rotate through
 * CF modulo 9 (8-bit) / 17 (16-bit).  OF is architecturally defined only
 * for a count of 1; for other counts we compute it as the last 1-bit step
 * would (SHL/ROL/RCL/SHLD: MSB(result) ^ CF; SHR/ROR/RCR/SHRD: the XOR of
 * the two top bits of the result; SAR: 0).  For SHL/SHR/SAR with counts
 * >= the operand width, CF is the last bit shifted out (0 for counts > width).
 * Shifts leave AF = 0 (undefined per SDM).
 * Rotates change only CF and OF: the other flags are materialised first.
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

/* ---- computation ---- */

/* ModRM.reg of groups C0-D3; /6 is an alias of SHL. */
enum { S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAL, S_SAR };

typedef struct ShOut {
    uint32_t res;
    unsigned cf, of;
    bool nop;       /* RCL/RCR whose count reduces to 0: value and CF unchanged */
} ShOut;

/* cnt is the masked count, 1..31. */
static ALWAYS_INLINE ShOut shift_calc(int op, unsigned size, uint32_t v, unsigned cnt, unsigned cf_old)
{
    const unsigned bits = size * 8;
    const uint32_t mask = SZMASK(size);
    ShOut o = { v, 0, 0, false };
    switch (op) {
    case S_ROL: {
        unsigned n = cnt & (bits - 1);
        if (n)
            o.res = ((v << n) | (v >> (bits - n))) & mask;
        o.cf = o.res & 1;
        o.of = ((o.res >> (bits - 1)) ^ o.cf) & 1;
        break;
    }
    case S_ROR: {
        unsigned n = cnt & (bits - 1);
        if (n)
            o.res = ((v >> n) | (v << (bits - n))) & mask;
        o.cf = (o.res >> (bits - 1)) & 1;
        o.of = ((o.res >> (bits - 1)) ^ (o.res >> (bits - 2))) & 1;
        break;
    }
    case S_RCL:
    case S_RCR: {
        unsigned n = size == 1 ? cnt % 9 : size == 2 ? cnt % 17 : cnt;
        if (n == 0) {
            o.nop = true;
            o.cf = cf_old;
        } else {
            /* Rotate the (bits+1)-bit value CF:v. */
            uint64_t t = ((uint64_t)cf_old << bits) | v;
            uint64_t m1 = ((uint64_t)1 << (bits + 1)) - 1;
            if (op == S_RCL)
                t = ((t << n) | (t >> (bits + 1 - n))) & m1;
            else
                t = ((t >> n) | (t << (bits + 1 - n))) & m1;
            o.res = (uint32_t)t & mask;
            o.cf = (unsigned)(t >> bits) & 1;
        }
        if (op == S_RCL)
            o.of = ((o.res >> (bits - 1)) ^ o.cf) & 1;
        else
            o.of = ((o.res >> (bits - 1)) ^ (o.res >> (bits - 2))) & 1;
        break;
    }
    case S_SHL:
    case S_SAL: {
        uint64_t t = (uint64_t)v << cnt;
        o.res = (uint32_t)t & mask;
        o.cf = (unsigned)(t >> bits) & 1;
        o.of = ((o.res >> (bits - 1)) ^ o.cf) & 1;
        break;
    }
    case S_SHR: {
        uint32_t t = v >> (cnt - 1);   /* value before the last step */
        o.res = t >> 1;
        o.cf = t & 1;
        o.of = (t >> (bits - 1)) & 1;
        break;
    }
    default: { /* SAR */
        unsigned sh = 32 - bits;
        int32_t sv = (int32_t)(v << sh) >> sh;
        int32_t t = sv >> (cnt - 1);
        o.res = (uint32_t)(t >> 1) & mask;
        o.cf = (unsigned)t & 1;
        o.of = 0;
        break;
    }
    }
    return o;
}

static ALWAYS_INLINE void shift_commit(X86Cpu *cpu, int op, unsigned size, const ShOut *o)
{
    if (op <= S_RCR) {
        /* Rotates change only CF and OF: SF, ZF and PF still come from
         * the previous operation's result, so keep its res/size lazily
         * (LF_ROT) with its AF in src, and record the new CF and OF. */
        switch (cpu->lf.op) {
        case LF_NONE:
            cpu->eflags = (cpu->eflags & ~(EFLAGS_CF | EFLAGS_OF)) | (o->cf ? EFLAGS_CF : 0) |
                          (o->of ? EFLAGS_OF : 0);
            return;
        case LF_ROT:
            break;
        case LF_LOGIC:
        case LF_SHL:
        case LF_SHR:
        case LF_SAR:
            cpu->lf.src = 0;
            cpu->lf.op = LF_ROT;
            break;
        case LF_INC:
            cpu->lf.src = (cpu->lf.res & 0xF) == 0 ? EFLAGS_AF : 0;
            cpu->lf.op = LF_ROT;
            break;
        case LF_DEC:
            cpu->lf.src = (cpu->lf.res & 0xF) == 0xF ? EFLAGS_AF : 0;
            cpu->lf.op = LF_ROT;
            break;
        default: /* ADD ADC SUB SBB NEG (flags.c: AF is bit 4 of dst^src^res) */
            cpu->lf.src = (cpu->lf.dst ^ cpu->lf.src ^ cpu->lf.res) & EFLAGS_AF;
            cpu->lf.op = LF_ROT;
            break;
        }
        cpu->lf.cf_in = (uint8_t)o->cf;
        cpu->lf.of_in = (uint8_t)o->of;
        return;
    }
    cpu->lf.op = op == S_SAR ? LF_SAR : op == S_SHR ? LF_SHR : LF_SHL;
    cpu->lf.size = (uint8_t)size;
    cpu->lf.res = o->res;
    cpu->lf.cf_in = (uint8_t)o->cf;
    cpu->lf.of_in = (uint8_t)o->of;
}

static ALWAYS_INLINE const Insn *shift_op(X86Cpu *cpu, const Insn *i, int op, unsigned size, bool mem,
                                          unsigned count)
{
    unsigned cnt = count & 31;
    if (!mem) {
        if (cnt == 0)
            NEXT;
        unsigned cf_old = (op == S_RCL || op == S_RCR) ? lf_cf(cpu) : 0;
        ShOut o = shift_calc(op, size, reg_get(cpu, i->rm, size), cnt, cf_old);
        if (!o.nop)
            reg_set(cpu, i->rm, size, o.res);
        shift_commit(cpu, op, size, &o);
    } else {
        Rmw m;
        uint32_t v = rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m);
        if (cnt == 0)
            NEXT;
        unsigned cf_old = (op == S_RCL || op == S_RCR) ? lf_cf(cpu) : 0;
        ShOut o = shift_calc(op, size, v, cnt, cf_old);
        if (!o.nop)
            rmw_write(cpu, &m, size, o.res);
        shift_commit(cpu, op, size, &o);
    }
    NEXT;
}

#define SHIFT_FORMS(name, OPC, suffix, COUNT)                                                  \
    FAST_HANDLER(op_##name##_Eb_##suffix##_r) { return shift_op(cpu, i, OPC, 1, false, COUNT); }    \
    HANDLER(op_##name##_Eb_##suffix##_m) { return shift_op(cpu, i, OPC, 1, true, COUNT); }     \
    FAST_HANDLER(op_##name##_Ev_##suffix##_w_r) { return shift_op(cpu, i, OPC, 2, false, COUNT); }  \
    HANDLER(op_##name##_Ev_##suffix##_w_m) { return shift_op(cpu, i, OPC, 2, true, COUNT); }   \
    FAST_HANDLER(op_##name##_Ev_##suffix##_d_r) { return shift_op(cpu, i, OPC, 4, false, COUNT); }  \
    HANDLER(op_##name##_Ev_##suffix##_d_m) { return shift_op(cpu, i, OPC, 4, true, COUNT); }

#define SHIFT_HANDLERS(name, OPC)                                                              \
    SHIFT_FORMS(name, OPC, 1, 1)                                                               \
    SHIFT_FORMS(name, OPC, CL, cpu->r[R_ECX])                                                  \
    SHIFT_FORMS(name, OPC, Ib, i->imm)

SHIFT_HANDLERS(rol, S_ROL)
SHIFT_HANDLERS(ror, S_ROR)
SHIFT_HANDLERS(rcl, S_RCL)
SHIFT_HANDLERS(rcr, S_RCR)
SHIFT_HANDLERS(shl, S_SHL)
SHIFT_HANDLERS(shr, S_SHR)
SHIFT_HANDLERS(sar, S_SAR)

/* ---- SHLD / SHRD ---- */

/* d = destination, s = source (register), cnt = masked count 1..31.
 * 16-bit operands with counts > 16 shift the 48-bit d:s:d as P6 does. */
static ALWAYS_INLINE ShOut shxd_calc(bool right, unsigned size, uint32_t d, uint32_t s, unsigned cnt)
{
    ShOut o = { 0, 0, 0, false };
    if (size == 4) {
        if (!right) {
            o.res = (d << cnt) | (s >> (32 - cnt));
            o.cf = (d >> (32 - cnt)) & 1;
        } else {
            o.res = (d >> cnt) | (s << (32 - cnt));
            o.cf = (d >> (cnt - 1)) & 1;
        }
    } else {
        uint64_t x = ((uint64_t)d << 32) | ((uint64_t)s << 16) | d;
        if (!right) {
            o.res = (uint32_t)(x >> (32 - cnt)) & 0xFFFF;
            o.cf = (unsigned)(x >> (48 - cnt)) & 1;
        } else {
            o.res = (uint32_t)(x >> cnt) & 0xFFFF;
            o.cf = (unsigned)(x >> (cnt - 1)) & 1;
        }
    }
    unsigned bits = size * 8;
    if (!right)
        o.of = ((o.res >> (bits - 1)) ^ o.cf) & 1;
    else
        o.of = ((o.res >> (bits - 1)) ^ (o.res >> (bits - 2))) & 1;
    return o;
}

static ALWAYS_INLINE const Insn *shxd_op(X86Cpu *cpu, const Insn *i, bool right, unsigned size, bool mem,
                                         unsigned count)
{
    unsigned cnt = count & 31;
    uint32_t s = reg_get(cpu, i->reg, size);
    ShOut o;
    if (!mem) {
        if (cnt == 0)
            NEXT;
        o = shxd_calc(right, size, reg_get(cpu, i->rm, size), s, cnt);
        reg_set(cpu, i->rm, size, o.res);
    } else {
        Rmw m;
        uint32_t d = rmw_read(cpu, i->seg, insn_ea(cpu, i), size, &m);
        if (cnt == 0)
            NEXT;
        o = shxd_calc(right, size, d, s, cnt);
        rmw_write(cpu, &m, size, o.res);
    }
    cpu->lf.op = right ? LF_SHR : LF_SHL;
    cpu->lf.size = (uint8_t)size;
    cpu->lf.res = o.res;
    cpu->lf.cf_in = (uint8_t)o.cf;
    cpu->lf.of_in = (uint8_t)o.of;
    NEXT;
}

#define SHXD_FORMS(name, RIGHT, suffix, COUNT)                                                 \
    FAST_HANDLER(op_##name##_Ev_Gv_##suffix##_w_r) { return shxd_op(cpu, i, RIGHT, 2, false, COUNT); } \
    HANDLER(op_##name##_Ev_Gv_##suffix##_w_m) { return shxd_op(cpu, i, RIGHT, 2, true, COUNT); }  \
    FAST_HANDLER(op_##name##_Ev_Gv_##suffix##_d_r) { return shxd_op(cpu, i, RIGHT, 4, false, COUNT); } \
    HANDLER(op_##name##_Ev_Gv_##suffix##_d_m) { return shxd_op(cpu, i, RIGHT, 4, true, COUNT); }

SHXD_FORMS(shld, false, Ib, i->imm)
SHXD_FORMS(shld, false, CL, cpu->r[R_ECX])
SHXD_FORMS(shrd, true, Ib, i->imm)
SHXD_FORMS(shrd, true, CL, cpu->r[R_ECX])
