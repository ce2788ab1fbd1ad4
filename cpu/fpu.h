/*
 * fpu.h - x87 internals shared by fpu.c (state, exceptions, environment,
 * transcendentals) and ops_x87.c (the instruction handlers).
 *
 * Register file: cpu->fpu.st[] holds the physical registers R0-R7 as F80
 * (softfloat80.h); ST(i) is R[(TOP + i) & 7].  cpu->fpu.ftw always holds
 * the full 2-bit tags (valid/zero/special/empty) recomputed on every
 * register write, so FNSTENV/FNSAVE store it as is.  cpu->fpu.fsw keeps
 * everything but TOP (cpu->fpu.top).
 *
 * Exceptions (SDM vol. 1 §8.5-8.7): an instruction ORs its flags into the
 * FSW with fpu_raise(); if one is unmasked, ES and B are set and (CR0.NE =
 * 0) FERR# is asserted.  The next waiting instruction (every x87
 * instruction except FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE) that
 * finds ES set raises #MF (CR0.NE = 1), or with CR0.NE = 0 waits for the
 * FERR# interrupt when one is pending (FPU_ENTER).
 */
#ifndef VESSEL_CPU_FPU_H
#define VESSEL_CPU_FPU_H

#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/softfloat80.h"

/* FPU status word. */
#define FSW_IE 0x0001u
#define FSW_DE 0x0002u
#define FSW_ZE 0x0004u
#define FSW_OE 0x0008u
#define FSW_UE 0x0010u
#define FSW_PE 0x0020u
#define FSW_SF 0x0040u
#define FSW_ES 0x0080u
#define FSW_C0 0x0100u
#define FSW_C1 0x0200u
#define FSW_C2 0x0400u
#define FSW_TOP 0x3800u
#define FSW_C3 0x4000u
#define FSW_B 0x8000u
#define FSW_EXC 0x003Fu
#define FSW_CC (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)

/* FPU control word. */
#define FCW_MASKS 0x003Fu
#define FCW_INIT 0x037Fu

enum { TAG_VALID = 0, TAG_ZERO = 1, TAG_SPECIAL = 2, TAG_EMPTY = 3 };

static ALWAYS_INLINE int fpu_phys(const X86Cpu *cpu, int i) { return (cpu->fpu.top + i) & 7; }

static ALWAYS_INLINE bool fpu_empty(const X86Cpu *cpu, int i)
{
    return ((cpu->fpu.ftw >> (2 * fpu_phys(cpu, i))) & 3) == TAG_EMPTY;
}

static ALWAYS_INLINE F80 fpu_get_phys(const X86Cpu *cpu, int p)
{
    F80 v;
    memcpy(&v.sig, &cpu->fpu.st[p][0], 8);
    memcpy(&v.se, &cpu->fpu.st[p][8], 2);
    return v;
}

static ALWAYS_INLINE F80 fpu_get(const X86Cpu *cpu, int i) { return fpu_get_phys(cpu, fpu_phys(cpu, i)); }

/** The tag a register with this value gets (SDM vol. 1 §8.1.7). */
static ALWAYS_INLINE int fpu_tag_of(F80 v)
{
    int ex = v.se & 0x7FFF;
    if (ex == 0x7FFF)
        return TAG_SPECIAL;
    if (ex == 0)
        return v.sig ? TAG_SPECIAL : TAG_ZERO;
    return (v.sig >> 63) ? TAG_VALID : TAG_SPECIAL;
}

static ALWAYS_INLINE void fpu_set_phys(X86Cpu *cpu, int p, F80 v)
{
    memcpy(&cpu->fpu.st[p][0], &v.sig, 8);
    memcpy(&cpu->fpu.st[p][8], &v.se, 2);
    cpu->fpu.ftw = (uint16_t)((cpu->fpu.ftw & ~(3u << (2 * p))) | ((unsigned)fpu_tag_of(v) << (2 * p)));
}

static ALWAYS_INLINE void fpu_set(X86Cpu *cpu, int i, F80 v) { fpu_set_phys(cpu, fpu_phys(cpu, i), v); }

static ALWAYS_INLINE void fpu_push(X86Cpu *cpu, F80 v)
{
    cpu->fpu.top = (cpu->fpu.top - 1) & 7;
    fpu_set(cpu, 0, v);
}

static ALWAYS_INLINE void fpu_pop(X86Cpu *cpu)
{
    cpu->fpu.ftw |= (uint16_t)(3u << (2 * cpu->fpu.top));
    cpu->fpu.top = (cpu->fpu.top + 1) & 7;
}

/** Arithmetic environment from FCW. */
static ALWAYS_INLINE F80Env fpu_env(const X86Cpu *cpu)
{
    uint16_t cw = cpu->fpu.fcw;
    return (F80Env){ (uint8_t)((cw >> 10) & 3), (uint8_t)((cw >> 8) & 3), (uint8_t)(cw & FCW_MASKS), 0 };
}

/** Condition codes: replace the bits in mask with val. */
static ALWAYS_INLINE void fpu_set_cc(X86Cpu *cpu, unsigned mask, unsigned val)
{
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~mask) | (val & mask));
}

/** Set ES/B and signal FERR# (fpu.c): an unmasked exception is pending. */
void fpu_signal_es(X86Cpu *cpu);
/** Recompute ES/B from the flags and masks (after FLDCW, FLDENV ...) and
 *  update FERR#. */
void fpu_update_es(X86Cpu *cpu);

/** OR exception flags (FSW bits 0-6) into the FSW. */
static ALWAYS_INLINE void fpu_raise(X86Cpu *cpu, unsigned flags)
{
    cpu->fpu.fsw |= (uint16_t)(flags & 0x7F);
    if (flags & ~cpu->fpu.fcw & FSW_EXC)
        fpu_signal_es(cpu);
}

/** Unmasked pre-computation exceptions (invalid, denormal, zero divide)
 *  among flags: the instruction then changes no register. */
static ALWAYS_INLINE unsigned fpu_unmasked_pre(const X86Cpu *cpu, unsigned flags)
{
    return flags & ~cpu->fpu.fcw & (FSW_IE | FSW_DE | FSW_ZE);
}

/** Stack underflow / overflow (IE + SF, C1 = 0 / 1).  Return true if the
 *  invalid-operation exception is masked (the caller then delivers the
 *  indefinite). */
static ALWAYS_INLINE bool fpu_stack_underflow(X86Cpu *cpu)
{
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    fpu_raise(cpu, FSW_IE | FSW_SF);
    return cpu->fpu.fcw & FSW_IE;
}

static ALWAYS_INLINE bool fpu_stack_overflow(X86Cpu *cpu)
{
    cpu->fpu.fsw |= FSW_C1;
    fpu_raise(cpu, FSW_IE | FSW_SF);
    return cpu->fpu.fcw & FSW_IE;
}

/* ---- instruction prologue ---- */

/** Slow path of FPU_ENTER: #NM for CR0.EM/TS, then a pending unmasked
 *  exception: #MF (CR0.NE = 1) or FERR# (CR0.NE = 0).  Returns true when
 *  the instruction must wait for the FERR# interrupt (end the block
 *  without executing; EIP unchanged). */
bool fpu_enter_slow(X86Cpu *cpu);
/** The pending-exception part alone (FWAIT, after its own #NM check). */
bool fpu_pending_slow(X86Cpu *cpu);

/** Waiting x87 instruction prologue. */
#define FPU_ENTER()                                                                        \
    do {                                                                                   \
        if (unlikely(((cpu->cr0 & (CR0_EM | CR0_TS)) | (cpu->fpu.fsw & FSW_ES)) != 0) && \
            fpu_enter_slow(cpu))                                                           \
            return i + 1;                                                                  \
    } while (0)

/** Non-waiting (FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE). */
#define FPU_ENTER_NOWAIT()                                   \
    do {                                                     \
        if (unlikely(cpu->cr0 & (CR0_EM | CR0_TS)))          \
            cpu_raise_noerr(cpu, EXC_NM);                    \
    } while (0)

/** Last instruction pointer and opcode (non-control instructions). */
static ALWAYS_INLINE void fpu_set_ip(X86Cpu *cpu, const Insn *i)
{
    cpu->fpu.fip = cpu->eip;
    cpu->fpu.fcs = cpu->seg[SEG_CS].sel;
    cpu->fpu.fop = (uint16_t)(((i->op & 7) << 8) | i->modrm);
}

/** ... and the last data pointer (memory operands). */
static ALWAYS_INLINE void fpu_set_ip_dp(X86Cpu *cpu, const Insn *i, uint32_t ea)
{
    fpu_set_ip(cpu, i);
    cpu->fpu.fdp = ea;
    cpu->fpu.fds = cpu->seg[i->seg].sel;
}

/* ---- fpu.c: state instructions ---- */

/** FNINIT. */
void fpu_init(X86Cpu *cpu);
/** FNSTENV / FLDENV / FNSAVE / FRSTOR at i's memory operand. */
void fpu_fnstenv(X86Cpu *cpu, const Insn *i);
void fpu_fldenv(X86Cpu *cpu, const Insn *i);
void fpu_fnsave(X86Cpu *cpu, const Insn *i);
void fpu_frstor(X86Cpu *cpu, const Insn *i);
/** FLDCW value. */
void fpu_load_cw(X86Cpu *cpu, uint16_t cw);

/* ---- fpu.c: transcendental instructions (host long double libm) ---- */
void fpu_f2xm1(X86Cpu *cpu);
void fpu_fyl2x(X86Cpu *cpu, bool plus1);
void fpu_fptan(X86Cpu *cpu);
void fpu_fpatan(X86Cpu *cpu);
/** FSIN (which 0), FCOS (1), FSINCOS (2). */
void fpu_fsincos(X86Cpu *cpu, int which);

#endif
