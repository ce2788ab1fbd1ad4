/*
 * fpu.c - x87 FPU.  TEMPORARY: only the reset state and state access; the
 * instruction set is being written (issue #2).  Every x87 opcode is #UD.
 */
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/optab.h"

InsnFn x87_resolve(uint8_t op, uint8_t modrm)
{
    (void)op;
    (void)modrm;
    return NULL;
}

void fpu_reset(X86Cpu *cpu, bool hard)
{
    if (!hard)
        return;
    memset(&cpu->fpu, 0, sizeof(cpu->fpu));
    cpu->fpu.fcw = 0x0040;
    cpu->fpu.ftw = 0x5555;
}

void cpu_get_fpu(X86Cpu *cpu, CpuFpuState *out)
{
    memset(out, 0, sizeof(*out));
    out->fcw = cpu->fpu.fcw;
    out->fsw = (uint16_t)((cpu->fpu.fsw & ~0x3800) | (cpu->fpu.top << 11));
    out->ftw = cpu->fpu.ftw;
}

void cpu_set_fpu(X86Cpu *cpu, const CpuFpuState *in)
{
    cpu->fpu.fcw = in->fcw;
    cpu->fpu.fsw = in->fsw & ~0x3800;
    cpu->fpu.top = (in->fsw >> 11) & 7;
    cpu->fpu.ftw = in->ftw;
}
