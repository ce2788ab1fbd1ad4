/*
 * fpu.c - x87 state: reset, the public state API, exception signalling
 * (#MF / FERR#), FLDCW, FNINIT, the FNSTENV/FLDENV/FNSAVE/FRSTOR memory
 * layouts (SDM vol. 1 §8.1.10, figures 8-9 to 8-12), and the
 * transcendental instructions, which use the host's long double libm.
 * The instruction handlers are in ops_x87.c.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu/fpu.h"

/* ---- FERR# and ES ---- */

static void ferr_set(X86Cpu *cpu, int level)
{
    if (cpu->fpu.ferr == level)
        return;
    cpu->fpu.ferr = (uint8_t)level;
    if (cpu->ops->ferr)
        cpu->ops->ferr(cpu->opaque, level);
}

void fpu_signal_es(X86Cpu *cpu)
{
    cpu->fpu.fsw |= FSW_ES | FSW_B;
    /* P6: FERR# is asserted when the instruction that caused the
     * exception completes (SDM vol. 3, "Assertion of the FERR# Pin"); it
     * reaches the PIC (IRQ 13) only in the MS-DOS compatible mode,
     * CR0.NE = 0. */
    if (!(cpu->cr0 & CR0_NE))
        ferr_set(cpu, 1);
}

void fpu_update_es(X86Cpu *cpu)
{
    if (cpu->fpu.fsw & ~cpu->fpu.fcw & FSW_EXC) {
        fpu_signal_es(cpu);
    } else {
        cpu->fpu.fsw &= (uint16_t)~(FSW_ES | FSW_B);
        ferr_set(cpu, 0);
    }
}

bool fpu_enter_slow(X86Cpu *cpu)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        cpu_raise_noerr(cpu, EXC_NM);
    return fpu_pending_slow(cpu);
}

bool fpu_pending_slow(X86Cpu *cpu)
{
    if (!(cpu->fpu.fsw & FSW_ES))
        return false;
    if (cpu->cr0 & CR0_NE)
        cpu_raise_noerr(cpu, EXC_MF);
    /* MS-DOS compatible mode: the processor freezes before this
     * instruction until the FERR# interrupt arrives (SDM vol. 1 §D.2).
     * If the interrupt can be taken now, end the block without executing
     * so it is delivered with EIP at this instruction; otherwise go on as
     * if IGNNE# were asserted. */
    ferr_set(cpu, 1);
    if (cpu->intr_line && (cpu->eflags & EFLAGS_IF)) {
        cpu->pending_check = 1;
        return true;
    }
    return false;
}

/* ---- reset, FNINIT, FLDCW ---- */

void fpu_reset(X86Cpu *cpu, bool hard)
{
    if (!hard)
        return; /* INIT keeps the x87 state (SDM vol. 3 table 9-1) */
    memset(&cpu->fpu, 0, sizeof(cpu->fpu));
    cpu->fpu.fcw = 0x0040;
    cpu->fpu.ftw = 0x5555; /* every register +0.0, tagged zero */
}

void fpu_init(X86Cpu *cpu)
{
    FpuRegs *f = &cpu->fpu;
    f->fcw = FCW_INIT;
    f->fsw = 0;
    f->top = 0;
    f->ftw = 0xFFFF;
    f->fip = f->fdp = 0;
    f->fcs = f->fds = 0;
    f->fop = 0;
    ferr_set(cpu, 0);
}

void fpu_load_cw(X86Cpu *cpu, uint16_t cw)
{
    /* Reserved bits 7 and 13-15 read as 0, bit 6 as 1. */
    cpu->fpu.fcw = (uint16_t)((cw & 0x1F3F) | 0x0040);
    fpu_update_es(cpu);
}

/* ---- public state API ---- */

void cpu_get_fpu(X86Cpu *cpu, CpuFpuState *out)
{
    memset(out, 0, sizeof(*out));
    out->fcw = cpu->fpu.fcw;
    out->fsw = (uint16_t)((cpu->fpu.fsw & ~FSW_TOP) | (cpu->fpu.top << 11));
    out->ftw = cpu->fpu.ftw;
    out->fop = cpu->fpu.fop;
    out->fip = cpu->fpu.fip;
    out->fdp = cpu->fpu.fdp;
    out->fcs = cpu->fpu.fcs;
    out->fds = cpu->fpu.fds;
    for (int p = 0; p < 8; p++) {
        F80 v = fpu_get_phys(cpu, p);
        memcpy(&out->st[p][0], &v.sig, 8);
        memcpy(&out->st[p][8], &v.se, 2);
    }
}

/** Tags from a stored tag word: empty is kept, the others are computed
 *  from the register contents (as FLDENV/FRSTOR do). */
static uint16_t tags_from(const X86Cpu *cpu, uint16_t ftw)
{
    uint16_t t = 0;
    for (int p = 0; p < 8; p++) {
        unsigned tag = (ftw >> (2 * p)) & 3;
        if (tag != TAG_EMPTY)
            tag = (unsigned)fpu_tag_of(fpu_get_phys(cpu, p));
        t |= (uint16_t)(tag << (2 * p));
    }
    return t;
}

void cpu_set_fpu(X86Cpu *cpu, const CpuFpuState *in)
{
    cpu->fpu.fcw = in->fcw;
    cpu->fpu.fsw = in->fsw & ~FSW_TOP;
    cpu->fpu.top = (in->fsw >> 11) & 7;
    cpu->fpu.fop = in->fop & 0x7FF;
    cpu->fpu.fip = in->fip;
    cpu->fpu.fdp = in->fdp;
    cpu->fpu.fcs = in->fcs;
    cpu->fpu.fds = in->fds;
    for (int p = 0; p < 8; p++) {
        F80 v;
        memcpy(&v.sig, &in->st[p][0], 8);
        memcpy(&v.se, &in->st[p][8], 2);
        fpu_set_phys(cpu, p, v);
    }
    cpu->fpu.ftw = tags_from(cpu, in->ftw);
}

/* ---- FNSTENV / FLDENV / FNSAVE / FRSTOR ---- */

/** Protected-mode layouts in protected mode, real-mode layouts in real
 *  address and virtual-8086 mode. */
static bool pm_layout(const X86Cpu *cpu)
{
    return (cpu->cr0 & CR0_PE) && !(cpu->eflags & EFLAGS_VM);
}

typedef struct FpuEnvImage {
    uint16_t fcw, fsw, ftw, fop, fcs, fds;
    uint32_t fip, fdp;
} FpuEnvImage;

static unsigned env_size(const Insn *i) { return (i->flags & IF_O16) ? 14 : 28; }

/* Check the whole area can be written (segment limit, paging) so the
 * instruction faults before storing anything. */
static void probe_write(X86Cpu *cpu, const Insn *i, uint32_t ea, unsigned size)
{
    uint32_t lin = seg_lin(cpu, i->seg, ea, size, true);
    mmu_probe_write(cpu, lin, size, cpu->cpl == 3);
}

static void env_write(X86Cpu *cpu, const Insn *i, uint32_t ea)
{
    const FpuRegs *f = &cpu->fpu;
    int s = i->seg;
    uint16_t fsw = (uint16_t)((f->fsw & ~FSW_TOP) | (f->top << 11));
    uint16_t fop = f->fop & 0x7FF;
    if (pm_layout(cpu)) {
        if (i->flags & IF_O16) {                     /* figure 8-11 */
            wr16(cpu, s, ea, f->fcw);
            wr16(cpu, s, ea + 2, fsw);
            wr16(cpu, s, ea + 4, f->ftw);
            wr16(cpu, s, ea + 6, (uint16_t)f->fip);
            wr16(cpu, s, ea + 8, f->fcs);
            wr16(cpu, s, ea + 10, (uint16_t)f->fdp);
            wr16(cpu, s, ea + 12, f->fds);
        } else {                                     /* figure 8-9 */
            wr32(cpu, s, ea, 0xFFFF0000u | f->fcw);
            wr32(cpu, s, ea + 4, 0xFFFF0000u | fsw);
            wr32(cpu, s, ea + 8, 0xFFFF0000u | f->ftw);
            wr32(cpu, s, ea + 12, f->fip);
            wr32(cpu, s, ea + 16, f->fcs | ((uint32_t)fop << 16));
            wr32(cpu, s, ea + 20, f->fdp);
            wr32(cpu, s, ea + 24, 0xFFFF0000u | f->fds);
        }
        return;
    }
    /* Real-address / V86 mode: 20-bit (32-bit form: 32-bit) linear
     * instruction and operand pointers. */
    uint32_t ip = ((uint32_t)f->fcs << 4) + f->fip;
    uint32_t dp = ((uint32_t)f->fds << 4) + f->fdp;
    if (i->flags & IF_O16) {                         /* figure 8-12 */
        wr16(cpu, s, ea, f->fcw);
        wr16(cpu, s, ea + 2, fsw);
        wr16(cpu, s, ea + 4, f->ftw);
        wr16(cpu, s, ea + 6, (uint16_t)ip);
        wr16(cpu, s, ea + 8, (uint16_t)(((ip >> 4) & 0xF000) | fop));
        wr16(cpu, s, ea + 10, (uint16_t)dp);
        wr16(cpu, s, ea + 12, (uint16_t)((dp >> 4) & 0xF000));
    } else {                                         /* figure 8-10 */
        wr32(cpu, s, ea, 0xFFFF0000u | f->fcw);
        wr32(cpu, s, ea + 4, 0xFFFF0000u | fsw);
        wr32(cpu, s, ea + 8, 0xFFFF0000u | f->ftw);
        wr32(cpu, s, ea + 12, 0xFFFF0000u | (ip & 0xFFFF));
        wr32(cpu, s, ea + 16, ((ip >> 4) & 0x0FFFF000u) | fop);
        wr32(cpu, s, ea + 20, 0xFFFF0000u | (dp & 0xFFFF));
        wr32(cpu, s, ea + 24, (dp >> 4) & 0x0FFFF000u);
    }
}

static void env_read(X86Cpu *cpu, const Insn *i, uint32_t ea, FpuEnvImage *e)
{
    int s = i->seg;
    uint32_t step = (i->flags & IF_O16) ? 2 : 4;
    e->fcw = rd16(cpu, s, ea);
    e->fsw = rd16(cpu, s, ea + step);
    e->ftw = rd16(cpu, s, ea + 2 * step);
    if (pm_layout(cpu)) {
        if (i->flags & IF_O16) {
            e->fip = rd16(cpu, s, ea + 6);
            e->fcs = rd16(cpu, s, ea + 8);
            e->fdp = rd16(cpu, s, ea + 10);
            e->fds = rd16(cpu, s, ea + 12);
            e->fop = 0;
        } else {
            e->fip = rd32(cpu, s, ea + 12);
            uint32_t w = rd32(cpu, s, ea + 16);
            e->fcs = (uint16_t)w;
            e->fop = (w >> 16) & 0x7FF;
            e->fdp = rd32(cpu, s, ea + 20);
            e->fds = rd16(cpu, s, ea + 24);
        }
        return;
    }
    if (i->flags & IF_O16) {
        uint32_t iplo = rd16(cpu, s, ea + 6), w = rd16(cpu, s, ea + 8);
        uint32_t dplo = rd16(cpu, s, ea + 10), w2 = rd16(cpu, s, ea + 12);
        e->fip = ((w & 0xF000) << 4) | iplo;
        e->fop = w & 0x7FF;
        e->fdp = ((w2 & 0xF000) << 4) | dplo;
    } else {
        uint32_t iplo = rd16(cpu, s, ea + 12), w = rd32(cpu, s, ea + 16);
        uint32_t dplo = rd16(cpu, s, ea + 20), w2 = rd32(cpu, s, ea + 24);
        e->fip = ((w & 0x0FFFF000u) << 4) | iplo;
        e->fop = w & 0x7FF;
        e->fdp = ((w2 & 0x0FFFF000u) << 4) | dplo;
    }
    e->fcs = e->fds = 0; /* the pointers are linear addresses */
}

/** Commit a loaded environment: tags are recomputed from the registers
 *  except for empty ones; ES follows the loaded flags and masks. */
static void env_commit(X86Cpu *cpu, const FpuEnvImage *e)
{
    FpuRegs *f = &cpu->fpu;
    f->fcw = (uint16_t)((e->fcw & 0x1F3F) | 0x0040);
    f->fsw = e->fsw & ~FSW_TOP;
    f->top = (e->fsw >> 11) & 7;
    f->fip = e->fip;
    f->fcs = e->fcs;
    f->fop = e->fop;
    f->fdp = e->fdp;
    f->fds = e->fds;
    f->ftw = tags_from(cpu, e->ftw);
    fpu_update_es(cpu);
}

void fpu_fnstenv(X86Cpu *cpu, const Insn *i)
{
    uint32_t ea = insn_ea(cpu, i);
    probe_write(cpu, i, ea, env_size(i));
    env_write(cpu, i, ea);
    /* FNSTENV then masks all exceptions. */
    cpu->fpu.fcw |= FCW_MASKS;
    fpu_update_es(cpu);
}

void fpu_fldenv(X86Cpu *cpu, const Insn *i)
{
    FpuEnvImage e;
    env_read(cpu, i, insn_ea(cpu, i), &e);
    env_commit(cpu, &e);
}

void fpu_fnsave(X86Cpu *cpu, const Insn *i)
{
    uint32_t ea = insn_ea(cpu, i);
    unsigned n = env_size(i);
    probe_write(cpu, i, ea, n + 80);
    env_write(cpu, i, ea);
    for (int k = 0; k < 8; k++) {
        F80 v = fpu_get(cpu, k);
        wr64(cpu, i->seg, ea + n + 10 * k, v.sig);
        wr16(cpu, i->seg, ea + n + 10 * k + 8, v.se);
    }
    fpu_init(cpu);
}

void fpu_frstor(X86Cpu *cpu, const Insn *i)
{
    uint32_t ea = insn_ea(cpu, i);
    unsigned n = env_size(i);
    FpuEnvImage e;
    F80 r[8];
    env_read(cpu, i, ea, &e);
    for (int k = 0; k < 8; k++) {
        r[k].sig = rd64(cpu, i->seg, ea + n + 10 * k);
        r[k].se = rd16(cpu, i->seg, ea + n + 10 * k + 8);
    }
    int top = (e.fsw >> 11) & 7;
    for (int k = 0; k < 8; k++)
        fpu_set_phys(cpu, (top + k) & 7, r[k]);
    env_commit(cpu, &e);
}

/* ---- transcendentals (host long double) ---- */

#if LDBL_MANT_DIG == 64 && (defined(__x86_64__) || defined(__i386__))
static long double to_ld(F80 v)
{
    long double x = 0;
    memcpy(&x, &v.sig, 8);
    memcpy((char *)&x + 8, &v.se, 2);
    return x;
}

static F80 from_ld(long double x)
{
    F80 v;
    memcpy(&v.sig, &x, 8);
    memcpy(&v.se, (char *)&x + 8, 2);
    return v;
}
#else
/* Hosts without the x87 format: go through double (reduced accuracy). */
static long double to_ld(F80 v)
{
    F80Env env = { F80_RC_NEAREST, F80_PC_64, 0x3F, 0 };
    F80U u = f80_unpack(v);
    uint64_t b = f80_to_f64(&env, &u);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

static F80 from_ld(long double x)
{
    double d = (double)x;
    uint64_t b;
    memcpy(&b, &d, 8);
    F80U u = f80_from_f64(b);
    return f80_pack_exact(&u);
}
#endif

static const F80 f80_one = { 0x8000000000000000ull, 0x3FFF };

/** A libm result: PE if inexact, UE if also tiny. */
static F80 host_result(F80Env *env, long double r, bool inexact)
{
    F80 v = from_ld(r);
    if (inexact) {
        env->flags |= F80_PE;
        if ((v.se & 0x7FFF) == 0 && v.sig)
            env->flags |= F80_UE;
    }
    return v;
}

/** The masked response to a stack fault of an instruction that replaces
 *  ST(0) and pushes (FPTAN, FSINCOS): both become the indefinite. */
static void stack_fault_push2(X86Cpu *cpu)
{
    if (fpu_empty(cpu, 0) ? fpu_stack_underflow(cpu) : fpu_stack_overflow(cpu)) {
        fpu_set(cpu, 0, F80_INDEFINITE);
        fpu_push(cpu, F80_INDEFINITE);
    }
}

/** Commit the results of a transcendental: ST(0) <- r0, and push r1 if
 *  push; flags raised; nothing changes on an unmasked IE/DE/ZE. */
static void commit(X86Cpu *cpu, F80Env *env, F80 r0, bool push, F80 r1)
{
    if (fpu_unmasked_pre(cpu, env->flags)) {
        fpu_raise(cpu, env->flags & (FSW_IE | FSW_DE | FSW_ZE));
        return;
    }
    fpu_set(cpu, 0, r0);
    if (push)
        fpu_push(cpu, r1);
    fpu_set_cc(cpu, FSW_C1 | FSW_C2, 0);
    if (env->flags & FSW_EXC)
        fpu_raise(cpu, env->flags);
}

/* FSIN, FCOS, FSINCOS: |x| >= 2^63 sets C2 and leaves ST(0) unchanged. */
void fpu_fsincos(X86Cpu *cpu, int which)
{
    if (fpu_empty(cpu, 0) || (which == 2 && !fpu_empty(cpu, 7))) {
        if (which == 2)
            stack_fault_push2(cpu);
        else if (fpu_stack_underflow(cpu))
            fpu_set(cpu, 0, F80_INDEFINITE);
        return;
    }
    F80 x = fpu_get(cpu, 0);
    F80U u = f80_unpack(x);
    F80Env env = fpu_env(cpu);
    F80 s, c;
    if (f80_special1(&env, &u, &s)) {
        c = s;
    } else if (u.cls == FC_INF) {
        env.flags |= F80_IE;
        s = c = F80_INDEFINITE;
    } else if (u.cls == FC_ZERO) {
        s = x;
        c = f80_one;
    } else if (u.e >= 63) {
        fpu_set_cc(cpu, FSW_C2, FSW_C2);
        return;
    } else {
        if (u.denorm)
            env.flags |= F80_DE;
        long double lx = to_ld(x);
        s = which != 1 ? host_result(&env, sinl(lx), true) : x;
        c = which != 0 ? host_result(&env, cosl(lx), true) : x;
    }
    if (which == 2)
        commit(cpu, &env, s, true, c);
    else
        commit(cpu, &env, which ? c : s, false, s);
}

/* FPTAN: ST(0) <- tan(ST(0)), push 1.0. */
void fpu_fptan(X86Cpu *cpu)
{
    if (fpu_empty(cpu, 0) || !fpu_empty(cpu, 7)) {
        stack_fault_push2(cpu);
        return;
    }
    F80 x = fpu_get(cpu, 0);
    F80U u = f80_unpack(x);
    F80Env env = fpu_env(cpu);
    F80 t, one = f80_one;
    if (f80_special1(&env, &u, &t)) {
        one = t;
    } else if (u.cls == FC_INF) {
        env.flags |= F80_IE;
        t = one = F80_INDEFINITE;
    } else if (u.cls == FC_ZERO) {
        t = x;
    } else if (u.e >= 63) {
        fpu_set_cc(cpu, FSW_C2, FSW_C2);
        return;
    } else {
        if (u.denorm)
            env.flags |= F80_DE;
        t = host_result(&env, tanl(to_ld(x)), true);
    }
    commit(cpu, &env, t, true, one);
}

/** Two-operand transcendentals: ST(1) <- r, pop. */
static void commit_pop(X86Cpu *cpu, F80Env *env, F80 r)
{
    if (fpu_unmasked_pre(cpu, env->flags)) {
        fpu_raise(cpu, env->flags & (FSW_IE | FSW_DE | FSW_ZE));
        return;
    }
    fpu_set(cpu, 1, r);
    fpu_pop(cpu);
    fpu_set_cc(cpu, FSW_C1, env->flags);
    if (env->flags & FSW_EXC)
        fpu_raise(cpu, env->flags);
}

static bool need_st0_st1_pop(X86Cpu *cpu)
{
    if (!fpu_empty(cpu, 0) && !fpu_empty(cpu, 1))
        return true;
    if (fpu_stack_underflow(cpu)) {
        fpu_set(cpu, 1, F80_INDEFINITE);
        fpu_pop(cpu);
    }
    return false;
}

/* FPATAN: ST(1) <- arctan(ST(1) / ST(0)), pop (atan2 quadrant rules). */
void fpu_fpatan(X86Cpu *cpu)
{
    if (!need_st0_st1_pop(cpu))
        return;
    F80 x = fpu_get(cpu, 0), y = fpu_get(cpu, 1);
    F80U ux = f80_unpack(x), uy = f80_unpack(y);
    F80Env env = fpu_env(cpu);
    F80 r;
    if (!f80_special2(&env, &uy, &ux, &r)) {
        if (ux.denorm || uy.denorm)
            env.flags |= F80_DE;
        long double v = atan2l(to_ld(y), to_ld(x));
        r = host_result(&env, v, v != 0);
    }
    commit_pop(cpu, &env, r);
}

/* FYL2X: ST(1) <- ST(1) * log2(ST(0)); FYL2XP1: ST(1) * log2(ST(0) + 1).
 * log2 is computed (exactly for powers of two), then multiplied in
 * software so the special cases follow IEEE multiplication. */
void fpu_fyl2x(X86Cpu *cpu, bool plus1)
{
    if (!need_st0_st1_pop(cpu))
        return;
    F80 x = fpu_get(cpu, 0), y = fpu_get(cpu, 1);
    F80U ux = f80_unpack(x), uy = f80_unpack(y);
    F80Env env = fpu_env(cpu);
    env.pc = F80_PC_64;
    F80 r;
    if (f80_special2(&env, &ux, &uy, &r)) {
        commit_pop(cpu, &env, r);
        return;
    }
    F80U l; /* the logarithm */
    bool inexact = false;
    if (!plus1) {
        if (ux.sign && ux.cls != FC_ZERO) {
            env.flags |= F80_IE;
            commit_pop(cpu, &env, F80_INDEFINITE);
            return;
        }
        if (ux.cls == FC_ZERO) {
            if (uy.cls == FC_ZERO) {
                env.flags |= F80_IE;
                commit_pop(cpu, &env, F80_INDEFINITE);
                return;
            }
            if (uy.cls == FC_NORMAL)
                env.flags |= F80_ZE;
            l = f80_unpack((F80){ 0x8000000000000000ull, 0xFFFF }); /* -inf */
        } else if (ux.cls == FC_INF) {
            l = ux;
        } else if (ux.sig == 0x8000000000000000ull) {
            l = f80_from_i64(ux.e); /* exact power of two */
        } else {
            l = f80_unpack(from_ld(log2l(to_ld(x))));
            inexact = true;
        }
    } else {
        if (ux.cls == FC_ZERO) {
            l = ux;
        } else if (ux.cls == FC_INF && !ux.sign) {
            l = ux;
        } else {
            long double v = log1pl(to_ld(x));
            if (isnan(v)) {
                env.flags |= F80_IE;
                commit_pop(cpu, &env, F80_INDEFINITE);
                return;
            }
            if (isinf(v) && uy.cls == FC_NORMAL)
                env.flags |= F80_ZE;
            l = f80_unpack(from_ld(v * 1.44269504088896340735992468100189214L));
            inexact = !isinf(v);
        }
    }
    bool ydenorm = uy.denorm;
    uy.denorm = 0;
    r = f80_mul(&env, &l, &uy);
    if (ux.denorm || ydenorm)
        env.flags |= F80_DE;
    if (inexact && !(env.flags & F80_IE))
        env.flags |= F80_PE;
    commit_pop(cpu, &env, r);
}

/* F2XM1: ST(0) <- 2^ST(0) - 1.  Computed as expm1(x ln 2) with ln 2 and
 * the product carried in two parts, for a result within about 1 ulp. */
void fpu_f2xm1(X86Cpu *cpu)
{
    if (fpu_empty(cpu, 0)) {
        if (fpu_stack_underflow(cpu))
            fpu_set(cpu, 0, F80_INDEFINITE);
        return;
    }
    F80 x = fpu_get(cpu, 0);
    F80U u = f80_unpack(x);
    F80Env env = fpu_env(cpu);
    F80 r;
    if (f80_special1(&env, &u, &r)) {
        /* NaN operand: r is the result */
    } else if (u.cls == FC_ZERO) {
        r = x;
    } else if (u.cls == FC_INF) {
        r = u.sign ? (F80){ 0x8000000000000000ull, 0xBFFF } : x; /* -1 or +inf */
    } else {
        if (u.denorm)
            env.flags |= F80_DE;
        if (u.e == 0 && u.sig == 0x8000000000000000ull) {
            r = u.sign ? (F80){ 0x8000000000000000ull, 0x3FFE } : f80_one; /* -0.5, 1 */
            r.se |= (uint16_t)(u.sign << 15);
        } else {
            static const long double ln2_hi = 0xb17217f7d1cf79acp-64L;
            static const long double ln2_lo = -0xd871319ff0342543p-130L;
            long double lx = to_ld(x);
            long double yh = lx * ln2_hi;
            long double yl = fmal(lx, ln2_hi, -yh) + lx * ln2_lo;
            long double e = expm1l(yh);
            r = host_result(&env, e + (e + 1.0L) * yl, true);
        }
    }
    commit(cpu, &env, r, false, r);
}
