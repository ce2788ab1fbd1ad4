/*
 * ops_fxsr.c - FXSAVE / FXRSTOR (0F AE /0 /1), the 512-byte x87 state image
 * (SDM vol. 2, FXSAVE, table 3-53, 32-bit layout; no SSE state here: MXCSR
 * reads 0x1F80 and the XMM area is stored as zeros).
 *
 * The CPUID of the modelled Pentium II does not advertise FXSR, but real
 * firmware executes these regardless (Debian's iPXE ROM saves the FPU with
 * FXSAVE in real mode), and QEMU's pentium2 model runs them too.
 */
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/fpu.h"
#include "cpu/optab.h"

#define FXSR_MXCSR 0x1F80u
#define FXSR_MXCSR_MASK 0x0000FFBFu

/* Check the operand: #NM with CR0.EM/TS, #GP(0) when not 16-byte aligned
 * (SDM: FXSAVE/FXRSTOR exceptions), and the whole image writable/readable. */
static uint32_t fxsr_operand(X86Cpu *cpu, const Insn *i)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        cpu_raise_noerr(cpu, EXC_NM);
    uint32_t ea = insn_ea(cpu, i);
    if (ea & 15)
        cpu_raise(cpu, EXC_GP, 0);
    return ea;
}

HANDLER(op_fxsave)
{
    uint32_t ea = fxsr_operand(cpu, i);
    uint8_t img[512];
    memset(img, 0, sizeof(img));
    const FpuRegs *f = &cpu->fpu;
    uint16_t fsw = (uint16_t)((f->fsw & ~0x3800u) | ((unsigned)f->top << 11));
    uint8_t ftw = 0;
    for (int p = 0; p < 8; p++)
        if (((f->ftw >> (2 * p)) & 3) != 3)
            ftw |= (uint8_t)(1u << p); /* abridged tag: 1 = not empty */
    st16(img + 0, f->fcw);
    st16(img + 2, fsw);
    img[4] = ftw;
    st16(img + 6, f->fop);
    st32(img + 8, f->fip);
    st16(img + 12, f->fcs);
    st32(img + 16, f->fdp);
    st16(img + 20, f->fds);
    st32(img + 24, FXSR_MXCSR);
    st32(img + 28, FXSR_MXCSR_MASK);
    for (int k = 0; k < 8; k++) {
        F80 v = fpu_get(cpu, k); /* ST(k), stack order */
        memcpy(img + 32 + 16 * k, &v.sig, 8);
        st16(img + 40 + 16 * k, v.se);
    }
    /* A 16-byte-aligned 512-byte image never crosses a page inside a
     * 16-byte chunk; a fault part-way leaves the earlier bytes written
     * (the SDM does not make FXSAVE atomic). */
    for (unsigned k = 0; k < sizeof(img); k += 4)
        wr32(cpu, i->seg, ea + k, ld32(img + k));
    NEXT;
}

HANDLER(op_fxrstor)
{
    uint32_t ea = fxsr_operand(cpu, i);
    uint8_t img[512];
    for (unsigned k = 0; k < sizeof(img); k += 4)
        st32(img + k, rd32(cpu, i->seg, ea + k));
    uint32_t mxcsr = ld32(img + 24);
    if (mxcsr & ~FXSR_MXCSR_MASK)
        cpu_raise(cpu, EXC_GP, 0);
    FpuRegs *f = &cpu->fpu;
    uint16_t fsw = ld16(img + 2);
    f->fcw = ld16(img + 0);
    f->top = (fsw >> 11) & 7;
    f->fsw = (uint16_t)(fsw & ~0x3800u);
    f->fop = (uint16_t)(ld16(img + 6) & 0x7FF);
    f->fip = ld32(img + 8);
    f->fcs = ld16(img + 12);
    f->fdp = ld32(img + 16);
    f->fds = ld16(img + 20);
    uint8_t ftw = img[4];
    f->ftw = 0xFFFF;
    for (int k = 0; k < 8; k++) {
        F80 v;
        memcpy(&v.sig, img + 32 + 16 * k, 8);
        v.se = ld16(img + 40 + 16 * k);
        int p = fpu_phys(cpu, k);
        if (ftw & (1u << p))
            fpu_set_phys(cpu, p, v); /* recomputes the full tag */
        else
            memcpy(&f->st[p][0], &v.sig, 8), memcpy(&f->st[p][8], &v.se, 2);
    }
    fpu_update_es(cpu);
    NEXT;
}
