/*
 * decode.c - x86 instruction decoder: prefixes, opcode, ModRM/SIB,
 * displacement and immediates into an Insn (SDM vol. 2 ch. 2), with the
 * handler chosen from the opcode table (optab.h).
 */
#include "cpu/decode.h"

#include "cpu/flat_forms.h"
#include "cpu/optab.h"

/* ---- the opcode table, assembled from the group fragments ---- */

#define DECL(fn) HANDLER_DECL(fn);
#define B(n) DECL(op_##n##_r) DECL(op_##n##_m)
#define V(n) DECL(op_##n##_w_r) DECL(op_##n##_w_m) DECL(op_##n##_d_r) DECL(op_##n##_d_m)
#define S(n) DECL(op_##n##_w) DECL(op_##n##_d)
#define M(n) DECL(op_##n##_r) DECL(op_##n##_m)
#define N(n) DECL(op_##n)
#define OP(idx, fl, fns) fns
#include "cpu/optab_alu.inc"
#include "cpu/optab_data.inc"
#include "cpu/optab_ctrl.inc"
#include "cpu/optab_sys.inc"
#include "cpu/optab_x87.inc"
#undef B
#undef V
#undef S
#undef M
#undef N
#undef OP

#define B(n) { { op_##n##_r, op_##n##_m }, { op_##n##_r, op_##n##_m } }
#define V(n) { { op_##n##_w_r, op_##n##_w_m }, { op_##n##_d_r, op_##n##_d_m } }
#define S(n) { { op_##n##_w, op_##n##_w }, { op_##n##_d, op_##n##_d } }
#define M(n) { { op_##n##_r, op_##n##_m }, { op_##n##_r, op_##n##_m } }
#define N(n) { { op_##n, op_##n }, { op_##n, op_##n } }
#define OP(idx, fl, fns) [idx] = { (fl), fns },

static const OpDesc optab[OPTAB_SIZE] = {
    /* Group opcodes: the ModRM.reg slots (GRP) carry handlers and flags. */
    [0x80] = { F_GROUP, { { 0 } } }, [0x81] = { F_GROUP, { { 0 } } },
    [0x82] = { F_GROUP, { { 0 } } }, [0x83] = { F_GROUP, { { 0 } } },
    [0x8F] = { F_GROUP, { { 0 } } }, [0xC0] = { F_GROUP, { { 0 } } },
    [0xC1] = { F_GROUP, { { 0 } } }, [0xC6] = { F_GROUP, { { 0 } } },
    [0xC7] = { F_GROUP, { { 0 } } }, [0xD0] = { F_GROUP, { { 0 } } },
    [0xD1] = { F_GROUP, { { 0 } } }, [0xD2] = { F_GROUP, { { 0 } } },
    [0xD3] = { F_GROUP, { { 0 } } }, [0xF6] = { F_GROUP, { { 0 } } },
    [0xF7] = { F_GROUP, { { 0 } } }, [0xFE] = { F_GROUP, { { 0 } } },
    [0xFF] = { F_GROUP, { { 0 } } },
    [X0F(0x00)] = { F_GROUP, { { 0 } } }, [X0F(0x01)] = { F_GROUP, { { 0 } } },
    [X0F(0xBA)] = { F_GROUP, { { 0 } } }, [X0F(0xC7)] = { F_GROUP, { { 0 } } },
    [X0F(0xAE)] = { F_GROUP, { { 0 } } },
#include "cpu/optab_alu.inc"
#include "cpu/optab_data.inc"
#include "cpu/optab_ctrl.inc"
#include "cpu/optab_sys.inc"
#include "cpu/optab_x87.inc"
};

static int group_of(int idx)
{
    switch (idx) {
    case 0x80: return G_80;
    case 0x81: return G_81;
    case 0x82: return G_82;
    case 0x83: return G_83;
    case 0x8F: return G_8F;
    case 0xC0: return G_C0;
    case 0xC1: return G_C1;
    case 0xC6: return G_C6;
    case 0xC7: return G_C7;
    case 0xD0: return G_D0;
    case 0xD1: return G_D1;
    case 0xD2: return G_D2;
    case 0xD3: return G_D3;
    case 0xF6: return G_F6;
    case 0xF7: return G_F7;
    case 0xFE: return G_FE;
    case 0xFF: return G_FF;
    case X0F(0x00): return G_0F00;
    case X0F(0x01): return G_0F01;
    case X0F(0xBA): return G_0FBA;
    case X0F(0xC7): return G_0FC7;
    case X0F(0xAE): return G_0FAE;
    default: return -1;
    }
}

HANDLER(op_ud)
{
    cpu_raise_noerr(cpu, EXC_UD);
}

/* ---- byte fetch ---- */

typedef struct Fetch {
    X86Cpu *cpu;
    uint32_t eip;   /* of the instruction's first byte */
    unsigned n;     /* bytes consumed */
} Fetch;

static uint8_t fetch8(Fetch *f)
{
    X86Cpu *cpu = f->cpu;
    if (f->n >= 15)
        cpu_raise(cpu, EXC_GP, 0);
    uint32_t off = f->eip + f->n;
    if (!cpu->code32)
        off &= 0xFFFF;
    const SegReg *cs = &cpu->seg[SEG_CS];
    if (off > cs->limit)
        cpu_raise(cpu, EXC_GP, 0);
    f->n++;
    return lrd8(cpu, cs->base + off);
}

static uint16_t fetch16(Fetch *f)
{
    uint16_t lo = fetch8(f);
    return (uint16_t)(lo | (fetch8(f) << 8));
}

static uint32_t fetch32(Fetch *f)
{
    uint32_t lo = fetch16(f);
    return lo | ((uint32_t)fetch16(f) << 16);
}

/* ---- ModRM ---- */

static void decode_modrm(Fetch *f, Insn *in, uint8_t modrm, bool a16, int seg_ovr)
{
    int mod = modrm >> 6, rm = modrm & 7;
    in->modrm = modrm;
    in->reg = (modrm >> 3) & 7;
    in->base = 8;
    in->index = 8;
    in->scale = 0;
    in->disp = 0;
    if (mod == 3) {
        in->rm = (uint8_t)rm;
        return;
    }
    in->flags |= IF_MEM;
    int defseg = SEG_DS;
    if (a16) {
        static const uint8_t b16[8] = { R_EBX, R_EBX, R_EBP, R_EBP, R_ESI, R_EDI, R_EBP, R_EBX };
        static const uint8_t x16[8] = { R_ESI, R_EDI, R_ESI, R_EDI, 8, 8, 8, 8 };
        if (mod == 0 && rm == 6) {
            in->disp = fetch16(f);
        } else {
            in->base = b16[rm];
            in->index = x16[rm];
            if (rm == 2 || rm == 3 || rm == 6)
                defseg = SEG_SS;
            if (mod == 1)
                in->disp = (uint32_t)(int32_t)(int8_t)fetch8(f);
            else if (mod == 2)
                in->disp = fetch16(f);
        }
    } else {
        if (rm == 4) {
            uint8_t sib = fetch8(f);
            int base = sib & 7, idx = (sib >> 3) & 7;
            in->scale = sib >> 6;
            if (idx != 4)
                in->index = (uint8_t)idx;
            if (base == 5 && mod == 0) {
                in->disp = fetch32(f);
            } else {
                in->base = (uint8_t)base;
                if (base == R_ESP || base == R_EBP)
                    defseg = SEG_SS;
            }
        } else if (rm == 5 && mod == 0) {
            in->disp = fetch32(f);
        } else {
            in->base = (uint8_t)rm;
            if (rm == R_EBP)
                defseg = SEG_SS;
        }
        if (mod == 1)
            in->disp += (uint32_t)(int32_t)(int8_t)fetch8(f);
        else if (mod == 2)
            in->disp += fetch32(f);
    }
    in->seg = (uint8_t)(seg_ovr >= 0 ? seg_ovr : defseg);
}

int cpu_decode(X86Cpu *cpu, uint32_t eip, Insn *in, uint32_t *opflags)
{
    Fetch f = { cpu, eip, 0 };
    bool o16 = !cpu->code32, a16 = !cpu->code32;
    int seg_ovr = -1;
    uint8_t fl = 0;
    uint8_t b;

    for (;;) {
        b = fetch8(&f);
        switch (b) {
        case 0x66: o16 = cpu->code32; continue;
        case 0x67: a16 = cpu->code32; continue;
        case 0xF0: fl |= IF_LOCK; continue;
        case 0xF2: fl = (uint8_t)((fl & ~IF_REP) | IF_REPNE); continue;
        case 0xF3: fl = (uint8_t)((fl & ~IF_REPNE) | IF_REP); continue;
        case 0x26: seg_ovr = SEG_ES; continue;
        case 0x2E: seg_ovr = SEG_CS; continue;
        case 0x36: seg_ovr = SEG_SS; continue;
        case 0x3E: seg_ovr = SEG_DS; continue;
        case 0x64: seg_ovr = SEG_FS; continue;
        case 0x65: seg_ovr = SEG_GS; continue;
        default: break;
        }
        break;
    }
    int idx = b;
    if (b == 0x0F)
        idx = X0F(fetch8(&f));

    *in = (Insn){ 0 };
    in->base = 8;
    in->index = 8;
    in->op = (uint8_t)idx;
    in->seg = (uint8_t)(seg_ovr >= 0 ? seg_ovr : SEG_DS);
    if (a16)
        fl |= IF_A16;
    if (o16)
        fl |= IF_O16;
    if (seg_ovr >= 0)
        fl |= IF_SEGOVR;
    in->flags = fl;

    const OpDesc *d = &optab[idx];
    uint32_t flags = d->flags;
    InsnFn fn = NULL;
    bool have_modrm = false;
    if (flags & (F_GROUP | F_X87))
        flags |= F_MODRM;
    if (flags & F_MODRM) {
        uint8_t modrm = fetch8(&f);
        /* MOV to/from control and debug registers: always register form. */
        if (idx >= X0F(0x20) && idx <= X0F(0x23))
            modrm |= 0xC0;
        decode_modrm(&f, in, modrm, a16, seg_ovr);
        have_modrm = true;
        if (d->flags & F_GROUP) {
            d = &optab[GRP(group_of(idx), in->reg)];
            flags = d->flags | F_MODRM;
        }
    }
    if (!have_modrm)
        in->reg = (uint8_t)(idx & 7);

    bool mem = (in->flags & IF_MEM) != 0;
    if (flags & F_X87)
        fn = x87_resolve((uint8_t)idx, in->modrm);
    else if (!((flags & F_NOREG) && !mem) && !((flags & F_NOMEM) && mem))
        fn = d->fn[!o16][mem];
    if (!fn)
        fn = op_ud;
    if ((fl & IF_LOCK) && (!(flags & F_LOCK) || !mem))
        fn = op_ud;

    /* Immediates. */
    unsigned opsz = o16 ? 2 : 4;
    if (flags & F_IMM8) {
        in->imm = fetch8(&f);
    } else if (flags & F_IMM8S) {
        in->imm = (uint32_t)(int32_t)(int8_t)fetch8(&f);
    } else if (flags & F_IMM16) {
        in->imm = fetch16(&f);
    } else if (flags & F_IMMV) {
        in->imm = opsz == 2 ? fetch16(&f) : fetch32(&f);
    } else if (flags & F_REL8) {
        int32_t rel = (int8_t)fetch8(&f);
        in->imm = eip + f.n + (uint32_t)rel;
        if (o16)
            in->imm &= 0xFFFF;
    } else if (flags & F_RELV) {
        int32_t rel = opsz == 2 ? (int16_t)fetch16(&f) : (int32_t)fetch32(&f);
        in->imm = eip + f.n + (uint32_t)rel;
        if (o16)
            in->imm &= 0xFFFF;
    } else if (flags & F_MOFFS) {
        in->disp = a16 ? fetch16(&f) : fetch32(&f);
    } else if (flags & F_FAR) {
        in->imm = opsz == 2 ? fetch16(&f) : fetch32(&f);
        in->imm2 = fetch16(&f);
    } else if (flags & F_ENTER) {
        in->imm = fetch16(&f);
        in->imm2 = fetch8(&f);
    }
    in->len = (uint8_t)f.n;
    in->next_eip = eip + f.n;
    in->fn = fn;
    if (opflags)
        *opflags = fn == op_ud ? (flags | F_END) : flags;
    return 0;
}

/* ---- flat memory forms (cpu_internal.h, flat_forms.h) ---- */

#define FF_DECL(fn) HANDLER_DECL(fn##f); HANDLER_DECL(fn##fx);
FLAT_FORMS(FF_DECL)
#undef FF_DECL

typedef struct FlatForm {
    InsnFn seg, flat, flat_sib;
} FlatForm;

#define FF_ENTRY(fn) { fn, fn##f, fn##fx },
static const FlatForm flat_forms[] = { FLAT_FORMS(FF_ENTRY) };
#undef FF_ENTRY

/* Open-addressing index of flat_forms by the MF_SEG handler, built on first use. */
#define FF_SLOTS 512
static int16_t ff_index[FF_SLOTS];
static bool ff_ready;

static unsigned ff_hash(InsnFn fn)
{
    uintptr_t a = (uintptr_t)fn;
    return (unsigned)((a >> 4) ^ (a >> 13)) & (FF_SLOTS - 1);
}

static void ff_build(void)
{
    _Static_assert(sizeof(flat_forms) / sizeof(flat_forms[0]) < FF_SLOTS / 2, "FF_SLOTS too small");
    for (unsigned k = 0; k < FF_SLOTS; k++)
        ff_index[k] = -1;
    for (unsigned n = 0; n < sizeof(flat_forms) / sizeof(flat_forms[0]); n++) {
        unsigned h = ff_hash(flat_forms[n].seg);
        while (ff_index[h] >= 0)
            h = (h + 1) & (FF_SLOTS - 1);
        ff_index[h] = (int16_t)n;
    }
    ff_ready = true;
}

/* Stack instructions with a flat-stack form (ESP is the linear address). */
HANDLER_DECL(op_push_Zv_df);
HANDLER_DECL(op_pop_Zv_df);
HANDLER_DECL(op_call_rel_df);
HANDLER_DECL(op_ret_df);
static const struct {
    InsnFn seg, flat;
} flat_stack[] = {
    { op_push_Zv_d, op_push_Zv_df },
    { op_pop_Zv_d, op_pop_Zv_df },
    { op_call_rel_d, op_call_rel_df },
    { op_ret_d, op_ret_df },
};

void cpu_insn_flat(Insn *in)
{
    for (unsigned k = 0; k < sizeof(flat_stack) / sizeof(flat_stack[0]); k++) {
        if (in->fn == flat_stack[k].seg) {
            in->fn = flat_stack[k].flat;
            return;
        }
    }
    if ((in->flags & (IF_MEM | IF_A16)) != IF_MEM ||
        !(in->seg == SEG_DS || in->seg == SEG_ES || in->seg == SEG_SS))
        return;
    if (!ff_ready)
        ff_build();
    for (unsigned h = ff_hash(in->fn); ff_index[h] >= 0; h = (h + 1) & (FF_SLOTS - 1)) {
        const FlatForm *f = &flat_forms[ff_index[h]];
        if (f->seg == in->fn) {
            in->fn = in->index == 8 ? f->flat : f->flat_sib;
            return;
        }
    }
}
