/*
 * ops_x87.c - x87 FPU instructions (SDM vol. 1 ch. 8, vol. 2 instruction
 * pages) and the D8-DF escape decoder x87_resolve().
 *
 * Every handler follows the same order: prologue (#NM, pending #MF /
 * FERR#: FPU_ENTER), memory operand read or stack checks, then the
 * computation into locals, the memory write (which may fault), and only
 * then the register, status-word, FIP/FDP and TOP updates, so a faulting
 * instruction leaves the FPU unchanged.
 *
 * Exception responses (SDM vol. 1 §8.5): a stack fault or an unmasked
 * invalid-operation, denormal or zero-divide exception leaves the
 * destination and TOP unchanged; masked, the indefinite (or the IEEE
 * default result) is delivered.  Unmasked overflow/underflow deliver a
 * bias-adjusted result to a register and nothing to memory.
 */
#include "cpu/fpu.h"
#include "cpu/optab.h"

/* ---- memory operands ---- */

/* 64-bit accesses with a TLB fast path (lrd64/lwr64 always take the slow
 * path), mirroring lrd32/lwr32. */
static ALWAYS_INLINE uint64_t fpu_lrd64(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == (lin & ~0xFFFu) && (lin & 0xFFFu) <= 0xFF8u)) {
        uint64_t v;
        memcpy(&v, (const void *)(e->addend + lin), 8);
        return v;
    }
    return mmu_read_slow(cpu, lin, 8, cpu->cpl == 3);
}

static ALWAYS_INLINE void fpu_lwr64(X86Cpu *cpu, uint32_t lin, uint64_t v)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == (lin & ~0xFFFu) && (lin & 0xFFFu) <= 0xFF8u)) {
        memcpy((void *)(e->addend + lin), &v, 8);
        return;
    }
    mmu_write_slow(cpu, lin, v, 8, cpu->cpl == 3);
}

static ALWAYS_INLINE uint64_t fpu_rd64(X86Cpu *cpu, int s, uint32_t off)
{
    return fpu_lrd64(cpu, seg_lin(cpu, s, off, 8, false));
}

static ALWAYS_INLINE void fpu_wr64(X86Cpu *cpu, int s, uint32_t off, uint64_t v)
{
    fpu_lwr64(cpu, seg_lin(cpu, s, off, 8, true), v);
}

static ALWAYS_INLINE F80 fpu_rd80(X86Cpu *cpu, int s, uint32_t off)
{
    uint32_t lin = seg_lin(cpu, s, off, 10, false);
    F80 v;
    v.sig = fpu_lrd64(cpu, lin);
    v.se = lrd16(cpu, lin + 8);
    return v;
}

static ALWAYS_INLINE void fpu_wr80(X86Cpu *cpu, int s, uint32_t off, F80 v)
{
    uint32_t lin = seg_lin(cpu, s, off, 10, true);
    if ((lin & 0xFFFu) > 0xFF6u)
        mmu_probe_write(cpu, lin, 10, cpu->cpl == 3);
    fpu_lwr64(cpu, lin, v.sig);
    lwr16(cpu, lin + 8, v.se);
}

/* Memory operands of the arithmetic forms, unpacked (exact). */
static ALWAYS_INLINE F80U ld_m32fp(X86Cpu *cpu, int s, uint32_t ea)
{
    return f80_from_f32(rd32(cpu, s, ea));
}
static ALWAYS_INLINE F80U ld_m64fp(X86Cpu *cpu, int s, uint32_t ea)
{
    return f80_from_f64(fpu_rd64(cpu, s, ea));
}
static ALWAYS_INLINE F80U ld_m16int(X86Cpu *cpu, int s, uint32_t ea)
{
    return f80_from_i64((int16_t)rd16(cpu, s, ea));
}
static ALWAYS_INLINE F80U ld_m32int(X86Cpu *cpu, int s, uint32_t ea)
{
    return f80_from_i64((int32_t)rd32(cpu, s, ea));
}
static ALWAYS_INLINE F80U ld_m64int(X86Cpu *cpu, int s, uint32_t ea)
{
    return f80_from_i64((int64_t)fpu_rd64(cpu, s, ea));
}

/* ---- undefined escapes ---- */

/** Undefined x87 encodings: #NM like any x87 instruction when CR0.EM or
 *  CR0.TS is set (SDM vol. 3, "FPU Error Signals"), else #UD. */
HANDLER(op_x87_ud)
{
    (void)i;
    FPU_ENTER_NOWAIT();
    cpu_raise_noerr(cpu, EXC_UD);
}

/* ---- FWAIT ---- */

HANDLER(op_fwait)
{
    if (unlikely((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)))
        cpu_raise_noerr(cpu, EXC_NM);
    if (unlikely(cpu->fpu.fsw & FSW_ES) && fpu_pending_slow(cpu))
        return i + 1;
    NEXT;
}

/* ---- arithmetic: FADD FMUL FSUB FSUBR FDIV FDIVR and the P / I forms ---- */

enum { K_ADD, K_MUL, K_SUB, K_SUBR, K_DIV, K_DIVR };

static ALWAYS_INLINE F80 arith(F80Env *env, int k, const F80U *a, const F80U *b)
{
    switch (k) {
    case K_ADD: return f80_add(env, a, b);
    case K_MUL: return f80_mul(env, a, b);
    case K_SUB: return f80_sub(env, a, b);
    case K_SUBR: return f80_sub(env, b, a);
    case K_DIV: return f80_div(env, a, b);
    default: return f80_div(env, b, a);
    }
}

/** ST(d) <- a op b (a is ST(d)), then pop if asked. */
static ALWAYS_INLINE void arith_store(X86Cpu *cpu, int k, int d, const F80U *a, const F80U *b, bool pop)
{
    F80Env env = fpu_env(cpu);
    F80 r = arith(&env, k, a, b);
    if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {
        fpu_raise(cpu, env.flags & (FSW_IE | FSW_DE | FSW_ZE));
        return;
    }
    fpu_set(cpu, d, r);
    fpu_set_cc(cpu, FSW_C1, env.flags);
    if (env.flags & FSW_EXC)
        fpu_raise(cpu, env.flags);
    if (pop)
        fpu_pop(cpu);
}

/* ST(0) <- ST(0) op m */
#define ARITH_MEM(name, k, LOAD)                                                  \
    static HANDLER(op_##name)                                                    \
    {                                                                            \
        FPU_ENTER();                                                             \
        uint32_t ea = insn_ea(cpu, i);                                           \
        F80U b = LOAD(cpu, i->seg, ea);                                          \
        fpu_set_ip_dp(cpu, i, ea);                                               \
        if (unlikely(fpu_empty(cpu, 0))) {                                       \
            if (fpu_stack_underflow(cpu))                                        \
                fpu_set(cpu, 0, F80_INDEFINITE);                                 \
            NEXT;                                                                \
        }                                                                        \
        F80U a = f80_unpack(fpu_get(cpu, 0));                                    \
        arith_store(cpu, k, 0, &a, &b, false);                                   \
        NEXT;                                                                    \
    }

/* ST(0) <- ST(0) op ST(i) (dst0) or ST(i) <- ST(i) op ST(0), popping if POP */
#define ARITH_REG(name, k, dst0, POP)                                            \
    static HANDLER(op_##name)                                                    \
    {                                                                            \
        FPU_ENTER();                                                             \
        fpu_set_ip(cpu, i);                                                      \
        int s = i->rm, d = (dst0) ? 0 : s;                                       \
        if (unlikely(fpu_empty(cpu, 0) || fpu_empty(cpu, s))) {                  \
            if (fpu_stack_underflow(cpu)) {                                      \
                fpu_set(cpu, d, F80_INDEFINITE);                                 \
                if (POP)                                                         \
                    fpu_pop(cpu);                                                \
            }                                                                    \
            NEXT;                                                                \
        }                                                                        \
        F80U a = f80_unpack(fpu_get(cpu, d));                                    \
        F80U b = f80_unpack(fpu_get(cpu, (dst0) ? s : 0));                       \
        arith_store(cpu, k, d, &a, &b, POP);                                     \
        NEXT;                                                                    \
    }

#define ARITH_MEM_SET(sfx, LOAD, add, mul, sub, subr, div, divr)                 \
    ARITH_MEM(add##_##sfx, K_ADD, LOAD)                                          \
    ARITH_MEM(mul##_##sfx, K_MUL, LOAD)                                          \
    ARITH_MEM(sub##_##sfx, K_SUB, LOAD)                                          \
    ARITH_MEM(subr##_##sfx, K_SUBR, LOAD)                                        \
    ARITH_MEM(div##_##sfx, K_DIV, LOAD)                                          \
    ARITH_MEM(divr##_##sfx, K_DIVR, LOAD)

ARITH_MEM_SET(m32fp, ld_m32fp, fadd, fmul, fsub, fsubr, fdiv, fdivr)
ARITH_MEM_SET(m64fp, ld_m64fp, fadd, fmul, fsub, fsubr, fdiv, fdivr)
ARITH_MEM_SET(m32int, ld_m32int, fiadd, fimul, fisub, fisubr, fidiv, fidivr)
ARITH_MEM_SET(m16int, ld_m16int, fiadd, fimul, fisub, fisubr, fidiv, fidivr)

/* D8 C0-FF: ST(0) <- ST(0) op ST(i) */
ARITH_REG(fadd_st0_sti, K_ADD, true, false)
ARITH_REG(fmul_st0_sti, K_MUL, true, false)
ARITH_REG(fsub_st0_sti, K_SUB, true, false)
ARITH_REG(fsubr_st0_sti, K_SUBR, true, false)
ARITH_REG(fdiv_st0_sti, K_DIV, true, false)
ARITH_REG(fdivr_st0_sti, K_DIVR, true, false)
/* DC C0-FF: ST(i) <- ST(i) op ST(0) (E0 FSUBR, E8 FSUB, F0 FDIVR, F8 FDIV) */
ARITH_REG(fadd_sti_st0, K_ADD, false, false)
ARITH_REG(fmul_sti_st0, K_MUL, false, false)
ARITH_REG(fsub_sti_st0, K_SUB, false, false)
ARITH_REG(fsubr_sti_st0, K_SUBR, false, false)
ARITH_REG(fdiv_sti_st0, K_DIV, false, false)
ARITH_REG(fdivr_sti_st0, K_DIVR, false, false)
/* DE C0-FF: the same, then pop */
ARITH_REG(faddp, K_ADD, false, true)
ARITH_REG(fmulp, K_MUL, false, true)
ARITH_REG(fsubp, K_SUB, false, true)
ARITH_REG(fsubrp, K_SUBR, false, true)
ARITH_REG(fdivp, K_DIV, false, true)
ARITH_REG(fdivrp, K_DIVR, false, true)

/* ---- compares: FCOM FCOMP FCOMPP FUCOM* FICOM* FTST FCOMI* ---- */

static const uint16_t cmp_cc[4] = {
    [F80_LT] = FSW_C0, [F80_EQ] = FSW_C3, [F80_GT] = 0, [F80_UN] = FSW_C3 | FSW_C2 | FSW_C0,
};

static ALWAYS_INLINE void pop_n(X86Cpu *cpu, int n)
{
    while (n-- > 0)
        fpu_pop(cpu);
}

/** C3/C2/C0 from comparing a with b, C1 = 0, then pop `pops` times. */
static ALWAYS_INLINE void fcom_store(X86Cpu *cpu, const F80U *a, const F80U *b, bool quiet, int pops)
{
    F80Env env = fpu_env(cpu);
    int r = f80_compare(&env, a, b, quiet);
    if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {
        fpu_raise(cpu, env.flags);
        return;
    }
    fpu_set_cc(cpu, FSW_CC, cmp_cc[r]);
    if (env.flags)
        fpu_raise(cpu, env.flags);
    pop_n(cpu, pops);
}

static void fcom_underflow(X86Cpu *cpu, int pops)
{
    if (fpu_stack_underflow(cpu)) {
        fpu_set_cc(cpu, FSW_CC, FSW_C3 | FSW_C2 | FSW_C0);
        pop_n(cpu, pops);
    }
}

#define FCOM_MEM(name, LOAD, pops)                                               \
    static HANDLER(op_##name)                                                    \
    {                                                                            \
        FPU_ENTER();                                                             \
        uint32_t ea = insn_ea(cpu, i);                                           \
        F80U b = LOAD(cpu, i->seg, ea);                                          \
        fpu_set_ip_dp(cpu, i, ea);                                               \
        if (unlikely(fpu_empty(cpu, 0))) {                                       \
            fcom_underflow(cpu, pops);                                           \
            NEXT;                                                                \
        }                                                                        \
        F80U a = f80_unpack(fpu_get(cpu, 0));                                    \
        fcom_store(cpu, &a, &b, false, pops);                                    \
        NEXT;                                                                    \
    }

FCOM_MEM(fcom_m32fp, ld_m32fp, 0)
FCOM_MEM(fcomp_m32fp, ld_m32fp, 1)
FCOM_MEM(fcom_m64fp, ld_m64fp, 0)
FCOM_MEM(fcomp_m64fp, ld_m64fp, 1)
FCOM_MEM(ficom_m32int, ld_m32int, 0)
FCOM_MEM(ficomp_m32int, ld_m32int, 1)
FCOM_MEM(ficom_m16int, ld_m16int, 0)
FCOM_MEM(ficomp_m16int, ld_m16int, 1)

/* ST(0) with ST(src) (FCOMPP/FUCOMPP: ST(1)) */
#define FCOM_REG(name, quiet, pops, SRC)                                         \
    static HANDLER(op_##name)                                                    \
    {                                                                            \
        FPU_ENTER();                                                             \
        fpu_set_ip(cpu, i);                                                      \
        int s = (SRC);                                                           \
        if (unlikely(fpu_empty(cpu, 0) || fpu_empty(cpu, s))) {                  \
            fcom_underflow(cpu, pops);                                           \
            NEXT;                                                                \
        }                                                                        \
        F80U a = f80_unpack(fpu_get(cpu, 0)), b = f80_unpack(fpu_get(cpu, s));   \
        fcom_store(cpu, &a, &b, quiet, pops);                                    \
        NEXT;                                                                    \
    }

FCOM_REG(fcom_sti, false, 0, i->rm)
FCOM_REG(fcomp_sti, false, 1, i->rm)
FCOM_REG(fcompp, false, 2, 1)
FCOM_REG(fucom_sti, true, 0, i->rm)
FCOM_REG(fucomp_sti, true, 1, i->rm)
FCOM_REG(fucompp, true, 2, 1)

static HANDLER(op_ftst)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(fpu_empty(cpu, 0))) {
        fcom_underflow(cpu, 0);
        NEXT;
    }
    F80U a = f80_unpack(fpu_get(cpu, 0));
    F80U z = f80_from_i64(0);
    fcom_store(cpu, &a, &z, false, 0);
    NEXT;
}

/** FCOMI/FUCOMI: ZF, PF, CF from the comparison; OF, SF, AF cleared. */
static void fcomi_eflags(X86Cpu *cpu, int r)
{
    static const uint32_t fl[4] = {
        [F80_LT] = EFLAGS_CF, [F80_EQ] = EFLAGS_ZF, [F80_GT] = 0,
        [F80_UN] = EFLAGS_ZF | EFLAGS_PF | EFLAGS_CF,
    };
    flags_materialize(cpu);
    cpu->eflags = (cpu->eflags & ~EFLAGS_ARITH) | fl[r];
}

#define FCOMI(name, quiet, pop)                                                  \
    static HANDLER(op_##name)                                                    \
    {                                                                            \
        FPU_ENTER();                                                             \
        fpu_set_ip(cpu, i);                                                      \
        if (unlikely(fpu_empty(cpu, 0) || fpu_empty(cpu, i->rm))) {              \
            if (fpu_stack_underflow(cpu)) {                                      \
                fcomi_eflags(cpu, F80_UN);                                       \
                pop_n(cpu, pop);                                                 \
            }                                                                    \
            NEXT;                                                                \
        }                                                                        \
        F80U a = f80_unpack(fpu_get(cpu, 0)), b = f80_unpack(fpu_get(cpu, i->rm)); \
        F80Env env = fpu_env(cpu);                                               \
        int r = f80_compare(&env, &a, &b, quiet);                                \
        if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {                        \
            fpu_raise(cpu, env.flags);                                           \
            NEXT;                                                                \
        }                                                                        \
        fcomi_eflags(cpu, r);                                                    \
        cpu->fpu.fsw &= (uint16_t)~FSW_C1;                                       \
        if (env.flags)                                                           \
            fpu_raise(cpu, env.flags);                                           \
        pop_n(cpu, pop);                                                         \
        NEXT;                                                                    \
    }

FCOMI(fcomi, false, 0)
FCOMI(fcomip, false, 1)
FCOMI(fucomi, true, 0)
FCOMI(fucomip, true, 1)

/* ---- FXAM ---- */

static HANDLER(op_fxam)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    F80 v = fpu_get(cpu, 0);
    unsigned cc;
    if (fpu_empty(cpu, 0)) {
        cc = FSW_C3 | FSW_C0;
    } else {
        F80U u = f80_unpack(v);
        switch (u.cls) {
        case FC_ZERO: cc = FSW_C3; break;
        case FC_NORMAL: cc = u.denorm ? FSW_C3 | FSW_C2 : FSW_C2; break;
        case FC_INF: cc = FSW_C2 | FSW_C0; break;
        case FC_QNAN:
        case FC_SNAN: cc = FSW_C0; break;
        default: cc = 0; break;
        }
    }
    if (v.se & 0x8000)
        cc |= FSW_C1;
    fpu_set_cc(cpu, FSW_CC, cc);
    NEXT;
}

/* ---- loads: FLD FILD FBLD and the constants ---- */

/** Push v after the stack-overflow check; C1 = 0. */
static ALWAYS_INLINE void push_checked(X86Cpu *cpu, F80 v)
{
    if (unlikely(!fpu_empty(cpu, 7))) {
        if (fpu_stack_overflow(cpu))
            fpu_push(cpu, F80_INDEFINITE);
        return;
    }
    fpu_push(cpu, v);
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
}

/** FLD m32fp/m64fp: SNaN -> IE (QNaN loaded), denormal -> DE. */
static ALWAYS_INLINE void fld_conv(X86Cpu *cpu, const F80U *u)
{
    if (unlikely(!fpu_empty(cpu, 7))) {
        push_checked(cpu, F80_INDEFINITE);
        return;
    }
    F80Env env = fpu_env(cpu);
    F80 r = f80_load(&env, u);
    if (unlikely(env.flags)) {
        fpu_raise(cpu, env.flags);
        if (fpu_unmasked_pre(cpu, env.flags))
            return;
    }
    push_checked(cpu, r);
}

static HANDLER(op_fld_m32fp)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    F80U u = ld_m32fp(cpu, i->seg, ea);
    fpu_set_ip_dp(cpu, i, ea);
    fld_conv(cpu, &u);
    NEXT;
}

static HANDLER(op_fld_m64fp)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    F80U u = ld_m64fp(cpu, i->seg, ea);
    fpu_set_ip_dp(cpu, i, ea);
    fld_conv(cpu, &u);
    NEXT;
}

static HANDLER(op_fld_m80fp)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    F80 v = fpu_rd80(cpu, i->seg, ea);
    fpu_set_ip_dp(cpu, i, ea);
    push_checked(cpu, v);
    NEXT;
}

#define FILD(name, LOAD)                                                         \
    static HANDLER(op_##name)                                                    \
    {                                                                            \
        FPU_ENTER();                                                             \
        uint32_t ea = insn_ea(cpu, i);                                           \
        F80U u = LOAD(cpu, i->seg, ea);                                          \
        fpu_set_ip_dp(cpu, i, ea);                                               \
        push_checked(cpu, f80_pack_exact(&u));                                   \
        NEXT;                                                                    \
    }

FILD(fild_m16int, ld_m16int)
FILD(fild_m32int, ld_m32int)
FILD(fild_m64int, ld_m64int)

static HANDLER(op_fld_sti)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(!fpu_empty(cpu, 7))) {
        push_checked(cpu, F80_INDEFINITE);
        NEXT;
    }
    if (unlikely(fpu_empty(cpu, i->rm))) {
        if (fpu_stack_underflow(cpu))
            fpu_push(cpu, F80_INDEFINITE);
        NEXT;
    }
    push_checked(cpu, fpu_get(cpu, i->rm));
    NEXT;
}

/** FBLD: 18 packed BCD digits and a sign bit (SDM vol. 1 §4.7). */
static HANDLER(op_fbld)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    F80 m = fpu_rd80(cpu, i->seg, ea);
    fpu_set_ip_dp(cpu, i, ea);
    uint64_t val = 0;
    for (int k = 8; k >= 0; k--) {
        unsigned byte = (k == 8) ? (m.se & 0xFF) : (unsigned)(m.sig >> (8 * k)) & 0xFF;
        val = val * 100 + (byte >> 4) * 10 + (byte & 15);
    }
    F80U u = f80_from_i64((int64_t)val);
    F80 v = f80_pack_exact(&u);
    if (m.se & 0x8000)
        v.se |= 0x8000;
    push_checked(cpu, v);
    NEXT;
}

/* FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ.  The irrational constants
 * are the 66-bit internal values rounded by RC (SDM vol. 1 §8.3.8):
 * round-to-nearest gives the tabled value; for each the rounding modes
 * below nearest/above nearest give the neighbour where it differs. */
typedef struct FConst {
    uint16_t se;
    uint64_t sig;
    int8_t down_adj;  /* add to sig for RC down / toward zero */
    int8_t up_adj;    /* add to sig for RC up */
} FConst;

static const FConst fconsts[7] = {
    { 0x3FFF, 0x8000000000000000ull, 0, 0 },   /* 1 */
    { 0x4000, 0xD49A784BCD1B8AFEull, 0, 1 },   /* log2(10) */
    { 0x3FFF, 0xB8AA3B295C17F0BCull, -1, 0 },  /* log2(e) */
    { 0x4000, 0xC90FDAA22168C235ull, -1, 0 },  /* pi */
    { 0x3FFD, 0x9A209A84FBCFF799ull, -1, 0 },  /* log10(2) */
    { 0x3FFE, 0xB17217F7D1CF79ACull, -1, 0 },  /* ln(2) */
    { 0x0000, 0, 0, 0 },                       /* +0 */
};

static HANDLER(op_fldconst)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    const FConst *c = &fconsts[i->modrm - 0xE8];
    int rc = (cpu->fpu.fcw >> 10) & 3;
    uint64_t sig = c->sig;
    if (rc == F80_RC_DOWN || rc == F80_RC_ZERO)
        sig += (uint64_t)(int64_t)c->down_adj;
    else if (rc == F80_RC_UP)
        sig += (uint64_t)(int64_t)c->up_adj;
    push_checked(cpu, (F80){ sig, c->se });
    NEXT;
}

/* ---- stores: FST FSTP FIST FISTP FBSTP ---- */

/** Store ST(0) to memory as m32fp (bits 32), m64fp (64) or an integer of
 *  16/32/64 bits (integer); pop if asked. */
static ALWAYS_INLINE const Insn *fst_mem(X86Cpu *cpu, const Insn *i, int bits, bool integer, bool pop)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    uint64_t v;
    unsigned flags;
    if (unlikely(fpu_empty(cpu, 0))) {
        flags = FSW_IE | FSW_SF;
        if (!(cpu->fpu.fcw & FSW_IE)) {
            fpu_set_ip_dp(cpu, i, ea);
            fpu_stack_underflow(cpu);
            NEXT;
        }
        if (integer)
            v = 1ull << (bits - 1);
        else
            v = bits == 32 ? 0xFFC00000u : 0xFFF8000000000000ull;
    } else {
        F80U a = f80_unpack(fpu_get(cpu, 0));
        F80Env env = fpu_env(cpu);
        if (integer)
            v = (uint64_t)f80_to_int(&env, &a, bits);
        else if (bits == 32)
            v = f80_to_f32(&env, &a);
        else
            v = f80_to_f64(&env, &a);
        flags = env.flags;
        if (unlikely(flags & ~cpu->fpu.fcw & (FSW_IE | FSW_OE | FSW_UE))) {
            fpu_set_ip_dp(cpu, i, ea);
            fpu_raise(cpu, flags);
            NEXT;
        }
    }
    switch (bits) {
    case 16: wr16(cpu, i->seg, ea, (uint16_t)v); break;
    case 32: wr32(cpu, i->seg, ea, (uint32_t)v); break;
    default: fpu_wr64(cpu, i->seg, ea, v); break;
    }
    fpu_set_ip_dp(cpu, i, ea);
    fpu_set_cc(cpu, FSW_C1, flags);
    if (flags & 0x7F)
        fpu_raise(cpu, flags);
    if (pop)
        fpu_pop(cpu);
    NEXT;
}

static HANDLER(op_fst_m32fp) { return fst_mem(cpu, i, 32, false, false); }
static HANDLER(op_fstp_m32fp) { return fst_mem(cpu, i, 32, false, true); }
static HANDLER(op_fst_m64fp) { return fst_mem(cpu, i, 64, false, false); }
static HANDLER(op_fstp_m64fp) { return fst_mem(cpu, i, 64, false, true); }
static HANDLER(op_fist_m16int) { return fst_mem(cpu, i, 16, true, false); }
static HANDLER(op_fistp_m16int) { return fst_mem(cpu, i, 16, true, true); }
static HANDLER(op_fist_m32int) { return fst_mem(cpu, i, 32, true, false); }
static HANDLER(op_fistp_m32int) { return fst_mem(cpu, i, 32, true, true); }
static HANDLER(op_fistp_m64int) { return fst_mem(cpu, i, 64, true, true); }

static HANDLER(op_fstp_m80fp)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    bool empty = fpu_empty(cpu, 0);
    if (unlikely(empty && !(cpu->fpu.fcw & FSW_IE))) {
        fpu_set_ip_dp(cpu, i, ea);
        fpu_stack_underflow(cpu);
        NEXT;
    }
    fpu_wr80(cpu, i->seg, ea, empty ? F80_INDEFINITE : fpu_get(cpu, 0));
    fpu_set_ip_dp(cpu, i, ea);
    if (empty)
        fpu_stack_underflow(cpu);
    else
        cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    fpu_pop(cpu);
    NEXT;
}

/** FBSTP: round ST(0) to an integer (RC) and store 18 BCD digits. */
static HANDLER(op_fbstp)
{
    FPU_ENTER();
    uint32_t ea = insn_ea(cpu, i);
    F80 out = { 0xC000000000000000ull, 0xFFFF }; /* packed BCD indefinite */
    unsigned flags;
    if (unlikely(fpu_empty(cpu, 0))) {
        flags = FSW_IE | FSW_SF;
    } else {
        F80U a = f80_unpack(fpu_get(cpu, 0));
        F80Env env = fpu_env(cpu);
        int64_t n = f80_to_int(&env, &a, 64);
        flags = env.flags;
        uint64_t mag = n < 0 ? -(uint64_t)n : (uint64_t)n;
        if (!(flags & FSW_IE) && mag > 999999999999999999ull)
            flags = FSW_IE;
        if (!(flags & FSW_IE)) {
            out.sig = 0;
            for (int k = 0; k < 16; k++, mag /= 10)
                out.sig |= (mag % 10) << (4 * k);
            out.se = (uint16_t)((mag % 10) | ((mag / 10) << 4) | (a.sign ? 0x8000 : 0));
        }
    }
    if (unlikely(flags & ~cpu->fpu.fcw & FSW_IE)) {
        fpu_set_ip_dp(cpu, i, ea);
        if (fpu_empty(cpu, 0))
            fpu_stack_underflow(cpu);
        else
            fpu_raise(cpu, flags);
        NEXT;
    }
    fpu_wr80(cpu, i->seg, ea, out);
    fpu_set_ip_dp(cpu, i, ea);
    if (flags & FSW_SF) {
        fpu_stack_underflow(cpu);
    } else {
        fpu_set_cc(cpu, FSW_C1, flags);
        if (flags & 0x3F)
            fpu_raise(cpu, flags);
    }
    fpu_pop(cpu);
    NEXT;
}

/* FST / FSTP ST(i) (DD D0+i, DD D8+i; aliases D9 D8+i, DF D0+i, DF D8+i) */
static ALWAYS_INLINE const Insn *fst_reg(X86Cpu *cpu, const Insn *i, bool pop)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(fpu_empty(cpu, 0))) {
        if (!fpu_stack_underflow(cpu))
            NEXT;
        fpu_set(cpu, i->rm, F80_INDEFINITE);
    } else {
        fpu_set(cpu, i->rm, fpu_get(cpu, 0));
        cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    }
    if (pop)
        fpu_pop(cpu);
    NEXT;
}

static HANDLER(op_fst_sti) { return fst_reg(cpu, i, false); }
static HANDLER(op_fstp_sti) { return fst_reg(cpu, i, true); }

/* ---- FXCH, FCHS, FABS, FCMOVcc, stack control ---- */

static HANDLER(op_fxch)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    int s = i->rm;
    bool e0 = fpu_empty(cpu, 0), es = fpu_empty(cpu, s);
    F80 a = fpu_get(cpu, 0), b = fpu_get(cpu, s);
    if (unlikely(e0 || es)) {
        if (!fpu_stack_underflow(cpu))
            NEXT;
        if (e0)
            a = F80_INDEFINITE;
        if (es)
            b = F80_INDEFINITE;
    }
    fpu_set(cpu, 0, b);
    fpu_set(cpu, s, a);
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    NEXT;
}

/* FCHS (D9 E0) and FABS (D9 E1): sign bit only, no exceptions on NaNs. */
static HANDLER(op_fchs_fabs)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(fpu_empty(cpu, 0))) {
        if (fpu_stack_underflow(cpu))
            fpu_set(cpu, 0, F80_INDEFINITE);
        NEXT;
    }
    F80 v = fpu_get(cpu, 0);
    if (i->modrm == 0xE0)
        v.se ^= 0x8000;
    else
        v.se &= 0x7FFF;
    fpu_set(cpu, 0, v);
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    NEXT;
}

/* FCMOVcc: DA C0-DF (B, E, BE, U), DB C0-DF (NB, NE, NBE, NU). */
static HANDLER(op_fcmov)
{
    static const uint8_t cc[8] = { 0x2, 0x4, 0x6, 0xA, 0x3, 0x5, 0x7, 0xB };
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(fpu_empty(cpu, 0) || fpu_empty(cpu, i->rm))) {
        if (fpu_stack_underflow(cpu))
            fpu_set(cpu, 0, F80_INDEFINITE);
        NEXT;
    }
    if (cpu_cond(cpu, cc[((i->op & 1) << 2) | i->reg]))
        fpu_set(cpu, 0, fpu_get(cpu, i->rm));
    NEXT;
}

static HANDLER(op_fincstp)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    cpu->fpu.top = (cpu->fpu.top + 1) & 7;
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    NEXT;
}

static HANDLER(op_fdecstp)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    cpu->fpu.top = (cpu->fpu.top - 1) & 7;
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    NEXT;
}

static HANDLER(op_ffree)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    cpu->fpu.ftw |= (uint16_t)(3u << (2 * fpu_phys(cpu, i->rm)));
    NEXT;
}

/* FFREEP ST(i) (DF C0+i): free, then pop. */
static HANDLER(op_ffreep)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    cpu->fpu.ftw |= (uint16_t)(3u << (2 * fpu_phys(cpu, i->rm)));
    fpu_pop(cpu);
    NEXT;
}

static HANDLER(op_fnop)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    NEXT;
}

/* FNENI, FNDISI, FNSETPM (DB E0, E1, E4): no-ops since the 80287. */
static HANDLER(op_fnop_legacy)
{
    FPU_ENTER_NOWAIT();
    NEXT;
}

/* ---- one- and two-operand computations on the stack ---- */

/** ST(0) <- fn(ST(0)) (FSQRT, FRNDINT). */
static ALWAYS_INLINE const Insn *unary(X86Cpu *cpu, const Insn *i, bool sqrt)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(fpu_empty(cpu, 0))) {
        if (fpu_stack_underflow(cpu))
            fpu_set(cpu, 0, F80_INDEFINITE);
        NEXT;
    }
    F80U a = f80_unpack(fpu_get(cpu, 0));
    F80Env env = fpu_env(cpu);
    F80 r = sqrt ? f80_sqrt(&env, &a) : f80_round_int(&env, &a);
    if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {
        fpu_raise(cpu, env.flags & (FSW_IE | FSW_DE));
        NEXT;
    }
    fpu_set(cpu, 0, r);
    fpu_set_cc(cpu, FSW_C1, env.flags);
    if (env.flags & FSW_EXC)
        fpu_raise(cpu, env.flags);
    NEXT;
}

static HANDLER(op_fsqrt) { return unary(cpu, i, true); }
static HANDLER(op_frndint) { return unary(cpu, i, false); }

/** Both ST(0) and ST(1) must be valid; masked underflow writes the
 *  indefinite to ST(0).  Returns false if the instruction is done. */
static ALWAYS_INLINE bool need_st0_st1(X86Cpu *cpu)
{
    if (likely(!fpu_empty(cpu, 0) && !fpu_empty(cpu, 1)))
        return true;
    if (fpu_stack_underflow(cpu))
        fpu_set(cpu, 0, F80_INDEFINITE);
    return false;
}

static HANDLER(op_fscale)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (!need_st0_st1(cpu))
        NEXT;
    F80U a = f80_unpack(fpu_get(cpu, 0)), b = f80_unpack(fpu_get(cpu, 1));
    F80Env env = fpu_env(cpu);
    F80 r = f80_scale(&env, &a, &b);
    if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {
        fpu_raise(cpu, env.flags & (FSW_IE | FSW_DE));
        NEXT;
    }
    fpu_set(cpu, 0, r);
    fpu_set_cc(cpu, FSW_C1, env.flags);
    if (env.flags & FSW_EXC)
        fpu_raise(cpu, env.flags);
    NEXT;
}

/* FPREM (D9 F8) and FPREM1 (D9 F5): C2 = incomplete; else C0, C3, C1 =
 * quotient bits 2, 1, 0. */
static HANDLER(op_fprem)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (!need_st0_st1(cpu))
        NEXT;
    F80U a = f80_unpack(fpu_get(cpu, 0)), b = f80_unpack(fpu_get(cpu, 1));
    F80Env env = fpu_env(cpu);
    uint64_t q;
    bool partial;
    F80 r = f80_rem(&env, &a, &b, i->modrm == 0xF5, &q, &partial);
    if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {
        fpu_raise(cpu, env.flags & (FSW_IE | FSW_DE));
        NEXT;
    }
    fpu_set(cpu, 0, r);
    unsigned cc = 0;
    if (partial)
        cc = FSW_C2;
    else if (!(env.flags & FSW_IE))
        cc = ((q & 4) ? FSW_C0 : 0) | ((q & 2) ? FSW_C3 : 0) | ((q & 1) ? FSW_C1 : 0);
    fpu_set_cc(cpu, FSW_CC, cc);
    if (env.flags & FSW_EXC)
        fpu_raise(cpu, env.flags);
    NEXT;
}

/** FXTRACT: ST(0) <- exponent, then push the significand. */
static HANDLER(op_fxtract)
{
    FPU_ENTER();
    fpu_set_ip(cpu, i);
    if (unlikely(fpu_empty(cpu, 0) || !fpu_empty(cpu, 7))) {
        if (fpu_empty(cpu, 0) ? fpu_stack_underflow(cpu) : fpu_stack_overflow(cpu)) {
            fpu_set(cpu, 0, F80_INDEFINITE);
            fpu_push(cpu, F80_INDEFINITE);
        }
        NEXT;
    }
    F80U a = f80_unpack(fpu_get(cpu, 0));
    F80Env env = fpu_env(cpu);
    F80 ex, sig;
    if (f80_special1(&env, &a, &ex)) {
        sig = ex;
    } else if (a.cls == FC_ZERO) {
        env.flags |= FSW_ZE;
        ex = (F80){ 0x8000000000000000ull, 0xFFFF }; /* -inf */
        sig = f80_pack_exact(&a);
    } else if (a.cls == FC_INF) {
        ex = (F80){ 0x8000000000000000ull, 0x7FFF }; /* +inf */
        sig = f80_pack_exact(&a);
    } else {
        if (a.denorm)
            env.flags |= FSW_DE;
        F80U e = f80_from_i64(a.e);
        ex = f80_pack_exact(&e);
        sig = (F80){ a.sig, (uint16_t)((a.sign << 15) | F80_BIAS) };
    }
    if (unlikely(fpu_unmasked_pre(cpu, env.flags))) {
        fpu_raise(cpu, env.flags);
        NEXT;
    }
    fpu_set(cpu, 0, ex);
    fpu_push(cpu, sig);
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    if (env.flags)
        fpu_raise(cpu, env.flags);
    NEXT;
}

/* Transcendentals: fpu.c. */
static HANDLER(op_f2xm1) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_f2xm1(cpu); NEXT; }
static HANDLER(op_fyl2x) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fyl2x(cpu, false); NEXT; }
static HANDLER(op_fyl2xp1) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fyl2x(cpu, true); NEXT; }
static HANDLER(op_fptan) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fptan(cpu); NEXT; }
static HANDLER(op_fpatan) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fpatan(cpu); NEXT; }
static HANDLER(op_fsin) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fsincos(cpu, 0); NEXT; }
static HANDLER(op_fcos) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fsincos(cpu, 1); NEXT; }
static HANDLER(op_fsincos) { FPU_ENTER(); fpu_set_ip(cpu, i); fpu_fsincos(cpu, 2); NEXT; }

/* ---- control: FNSTSW FNSTCW FLDCW FNCLEX FNINIT FNSTENV FLDENV FNSAVE FRSTOR ---- */

static ALWAYS_INLINE uint16_t fsw_full(const X86Cpu *cpu)
{
    return (uint16_t)((cpu->fpu.fsw & ~FSW_TOP) | (cpu->fpu.top << 11));
}

static HANDLER(op_fnstsw_ax)
{
    FPU_ENTER_NOWAIT();
    set_r16(cpu, R_EAX, fsw_full(cpu));
    NEXT;
}

static HANDLER(op_fnstsw_m16)
{
    FPU_ENTER_NOWAIT();
    wr16(cpu, i->seg, insn_ea(cpu, i), fsw_full(cpu));
    NEXT;
}

static HANDLER(op_fnstcw)
{
    FPU_ENTER_NOWAIT();
    wr16(cpu, i->seg, insn_ea(cpu, i), cpu->fpu.fcw);
    NEXT;
}

static HANDLER(op_fldcw)
{
    FPU_ENTER();
    uint16_t cw = rd16(cpu, i->seg, insn_ea(cpu, i));
    fpu_load_cw(cpu, cw);
    NEXT;
}

static HANDLER(op_fnclex)
{
    FPU_ENTER_NOWAIT();
    cpu->fpu.fsw &= (uint16_t)~(FSW_EXC | FSW_SF | FSW_ES | FSW_B);
    fpu_update_es(cpu);
    NEXT;
}

static HANDLER(op_fninit)
{
    FPU_ENTER_NOWAIT();
    fpu_init(cpu);
    NEXT;
}

static HANDLER(op_fnstenv) { FPU_ENTER_NOWAIT(); fpu_fnstenv(cpu, i); NEXT; }
static HANDLER(op_fldenv) { FPU_ENTER(); fpu_fldenv(cpu, i); NEXT; }
static HANDLER(op_fnsave) { FPU_ENTER_NOWAIT(); fpu_fnsave(cpu, i); NEXT; }
static HANDLER(op_frstor) { FPU_ENTER(); fpu_frstor(cpu, i); NEXT; }

/* ---- the escape decoder ---- */

/* Memory forms: [escape - D8][ModRM.reg]. */
static const InsnFn x87_mem[8][8] = {
    { op_fadd_m32fp, op_fmul_m32fp, op_fcom_m32fp, op_fcomp_m32fp,
      op_fsub_m32fp, op_fsubr_m32fp, op_fdiv_m32fp, op_fdivr_m32fp },
    { op_fld_m32fp, NULL, op_fst_m32fp, op_fstp_m32fp,
      op_fldenv, op_fldcw, op_fnstenv, op_fnstcw },
    { op_fiadd_m32int, op_fimul_m32int, op_ficom_m32int, op_ficomp_m32int,
      op_fisub_m32int, op_fisubr_m32int, op_fidiv_m32int, op_fidivr_m32int },
    { op_fild_m32int, NULL, op_fist_m32int, op_fistp_m32int,
      NULL, op_fld_m80fp, NULL, op_fstp_m80fp },
    { op_fadd_m64fp, op_fmul_m64fp, op_fcom_m64fp, op_fcomp_m64fp,
      op_fsub_m64fp, op_fsubr_m64fp, op_fdiv_m64fp, op_fdivr_m64fp },
    { op_fld_m64fp, NULL, op_fst_m64fp, op_fstp_m64fp,
      op_frstor, NULL, op_fnsave, op_fnstsw_m16 },
    { op_fiadd_m16int, op_fimul_m16int, op_ficom_m16int, op_ficomp_m16int,
      op_fisub_m16int, op_fisubr_m16int, op_fidiv_m16int, op_fidivr_m16int },
    { op_fild_m16int, NULL, op_fist_m16int, op_fistp_m16int,
      op_fbld, op_fild_m64int, op_fbstp, op_fistp_m64int },
};

/* Register forms taking ST(i) from ModRM.rm: [escape - D8][ModRM.reg].
 * The undocumented aliases of P6 are included: DC D0/D8 (FCOM/FCOMP),
 * DD C8 and DF C8 (FXCH), DE D0 (FCOMP), D9 D8, DF D0 and DF D8 (FSTP). */
static const InsnFn x87_reg[8][8] = {
    { op_fadd_st0_sti, op_fmul_st0_sti, op_fcom_sti, op_fcomp_sti,
      op_fsub_st0_sti, op_fsubr_st0_sti, op_fdiv_st0_sti, op_fdivr_st0_sti },
    { op_fld_sti, op_fxch, NULL, op_fstp_sti, NULL, NULL, NULL, NULL },
    { op_fcmov, op_fcmov, op_fcmov, op_fcmov, NULL, NULL, NULL, NULL },
    { op_fcmov, op_fcmov, op_fcmov, op_fcmov, NULL, op_fucomi, op_fcomi, NULL },
    { op_fadd_sti_st0, op_fmul_sti_st0, op_fcom_sti, op_fcomp_sti,
      op_fsubr_sti_st0, op_fsub_sti_st0, op_fdivr_sti_st0, op_fdiv_sti_st0 },
    { op_ffree, op_fxch, op_fst_sti, op_fstp_sti, op_fucom_sti, op_fucomp_sti, NULL, NULL },
    { op_faddp, op_fmulp, op_fcomp_sti, NULL, op_fsubrp, op_fsubp, op_fdivrp, op_fdivp },
    { op_ffreep, op_fxch, op_fstp_sti, op_fstp_sti, NULL, op_fucomip, op_fcomip, NULL },
};

/* D9 E0-FF. */
static const InsnFn x87_d9_e0[32] = {
    op_fchs_fabs, op_fchs_fabs, NULL, NULL, op_ftst, op_fxam, NULL, NULL,
    op_fldconst, op_fldconst, op_fldconst, op_fldconst, op_fldconst, op_fldconst, op_fldconst, NULL,
    op_f2xm1, op_fyl2x, op_fptan, op_fpatan, op_fxtract, op_fprem, op_fdecstp, op_fincstp,
    op_fprem, op_fyl2xp1, op_fsqrt, op_fsincos, op_frndint, op_fscale, op_fsin, op_fcos,
};

/* DB E0-E7. */
static const InsnFn x87_db_e0[8] = {
    op_fnop_legacy, op_fnop_legacy, op_fnclex, op_fninit, op_fnop_legacy, NULL, NULL, NULL,
};

InsnFn x87_resolve(uint8_t op, uint8_t modrm)
{
    int e = op - 0xD8, reg = (modrm >> 3) & 7, rm = modrm & 7;
    InsnFn fn;
    if (e < 0 || e > 7)
        return NULL;
    if (modrm < 0xC0)
        fn = x87_mem[e][reg];
    else if (e == 1 && reg == 2)
        fn = rm == 0 ? op_fnop : NULL;
    else if (e == 1 && reg >= 4)
        fn = x87_d9_e0[modrm - 0xE0];
    else if (e == 2 && reg == 5)
        fn = rm == 1 ? op_fucompp : NULL;
    else if (e == 3 && reg == 4)
        fn = x87_db_e0[rm];
    else if (e == 6 && reg == 3)
        fn = rm == 1 ? op_fcompp : NULL;
    else if (e == 7 && reg == 4)
        fn = rm == 0 ? op_fnstsw_ax : NULL;
    else
        fn = x87_reg[e][reg];
    return fn ? fn : op_x87_ud;
}
