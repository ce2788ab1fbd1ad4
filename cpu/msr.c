/*
 * msr.c - model-specific registers of the P6 (SDM vol. 4 table 2-x "MSRs
 * in the P6 family") that vessel implements, RDMSR, WRMSR and RDTSC.
 * MSRs the core does not own (IA32_APIC_BASE ...) go to the machine through
 * CpuHostOps.rdmsr/wrmsr; anything nobody implements raises #GP(0).
 */
#include "cpu/cpu_internal.h"

enum {
    MSR_TSC = 0x10,
    MSR_PLATFORM_ID = 0x17,
    MSR_BIOS_SIGN_ID = 0x8B,
    MSR_MTRRCAP = 0xFE,
    MSR_SYSENTER_CS = 0x174,
    MSR_SYSENTER_ESP = 0x175,
    MSR_SYSENTER_EIP = 0x176,
    MSR_MISC_ENABLE = 0x1A0,
    MSR_MTRR_PHYSBASE0 = 0x200,
    MSR_MTRR_FIX64K_00000 = 0x250,
    MSR_MTRR_FIX16K_80000 = 0x258,
    MSR_MTRR_FIX16K_A0000 = 0x259,
    MSR_MTRR_FIX4K_C0000 = 0x268,
    MSR_MTRR_FIX4K_F8000 = 0x26F,
    MSR_MTRR_DEF_TYPE = 0x2FF,
};

/* MTRRcap: VCNT = 8 variable ranges, FIX (fixed ranges), WC supported. */
#define MTRRCAP_VALUE 0x508u
/* P6 physical addresses are 36 bits. */
#define PHYS_ADDR_MASK 0x0000000FFFFFF000ull

static uint64_t tsc_raw(X86Cpu *cpu)
{
    return cpu->ops->read_tsc ? cpu->ops->read_tsc(cpu->opaque) : cpu_icount(cpu);
}

/* Memory types valid in MTRRs: UC, WC, WT, WP, WB. */
static bool mtrr_type_ok(unsigned t)
{
    return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}

/* Fixed-range MTRR index into cpu->mtrr_cap_fixed[], or -1. */
static int mtrr_fixed_index(uint32_t msr)
{
    if (msr == MSR_MTRR_FIX64K_00000)
        return 0;
    if (msr == MSR_MTRR_FIX16K_80000)
        return 1;
    if (msr == MSR_MTRR_FIX16K_A0000)
        return 2;
    if (msr >= MSR_MTRR_FIX4K_C0000 && msr <= MSR_MTRR_FIX4K_F8000)
        return 3 + (int)(msr - MSR_MTRR_FIX4K_C0000);
    return -1;
}

int cpu_get_msr(X86Cpu *cpu, uint32_t msr, uint64_t *val)
{
    int fx;
    switch (msr) {
    case MSR_TSC: *val = tsc_raw(cpu) + cpu->tsc_offset; return 0;
    case MSR_PLATFORM_ID: *val = 0; return 0;
    case MSR_BIOS_SIGN_ID: *val = cpu->msr_bios_sign; return 0;
    case MSR_MTRRCAP: *val = MTRRCAP_VALUE; return 0;
    case MSR_SYSENTER_CS: *val = cpu->sysenter_cs; return 0;
    case MSR_SYSENTER_ESP: *val = cpu->sysenter_esp; return 0;
    case MSR_SYSENTER_EIP: *val = cpu->sysenter_eip; return 0;
    case MSR_MISC_ENABLE: *val = cpu->msr_misc_enable; return 0;
    case MSR_MTRR_DEF_TYPE: *val = cpu->mtrr_def_type; return 0;
    default: break;
    }
    if (msr >= MSR_MTRR_PHYSBASE0 && msr < MSR_MTRR_PHYSBASE0 + CPU_NMSR_MTRR_VAR) {
        *val = cpu->mtrr_var[msr - MSR_MTRR_PHYSBASE0];
        return 0;
    }
    if ((fx = mtrr_fixed_index(msr)) >= 0) {
        *val = cpu->mtrr_cap_fixed[fx];
        return 0;
    }
    if (cpu->ops->rdmsr)
        return cpu->ops->rdmsr(cpu->opaque, msr, val) == 0 ? 0 : -1;
    return -1;
}

int cpu_set_msr(X86Cpu *cpu, uint32_t msr, uint64_t val)
{
    int fx;
    switch (msr) {
    case MSR_TSC:
        /* P6: only the low 32 bits are written, the high 32 cleared. */
        cpu->tsc_offset = (val & 0xFFFFFFFFu) - tsc_raw(cpu);
        return 0;
    case MSR_BIOS_SIGN_ID:
        cpu->msr_bios_sign = val;
        return 0;
    case MSR_SYSENTER_CS:
        cpu->sysenter_cs = (uint32_t)val;
        return 0;
    case MSR_SYSENTER_ESP:
        cpu->sysenter_esp = (uint32_t)val;
        return 0;
    case MSR_SYSENTER_EIP:
        cpu->sysenter_eip = (uint32_t)val;
        return 0;
    case MSR_MISC_ENABLE:
        cpu->msr_misc_enable = val;
        return 0;
    case MSR_MTRR_DEF_TYPE:
        if ((val & ~0xCFFull) || !mtrr_type_ok(val & 0xFF))
            return -1;
        cpu->mtrr_def_type = val;
        return 0;
    case MSR_PLATFORM_ID:
    case MSR_MTRRCAP:
        return -1; /* read-only */
    default:
        break;
    }
    if (msr >= MSR_MTRR_PHYSBASE0 && msr < MSR_MTRR_PHYSBASE0 + CPU_NMSR_MTRR_VAR) {
        if (msr & 1) { /* PhysMask: bit 11 valid, mask bits 35:12 */
            if (val & ~(PHYS_ADDR_MASK | 0x800ull))
                return -1;
        } else {       /* PhysBase: type in 7:0, base bits 35:12 */
            if ((val & ~(PHYS_ADDR_MASK | 0xFFull)) || !mtrr_type_ok(val & 0xFF))
                return -1;
        }
        cpu->mtrr_var[msr - MSR_MTRR_PHYSBASE0] = val;
        return 0;
    }
    if ((fx = mtrr_fixed_index(msr)) >= 0) {
        for (int k = 0; k < 8; k++) {
            if (!mtrr_type_ok((val >> (8 * k)) & 0xFF))
                return -1;
        }
        cpu->mtrr_cap_fixed[fx] = val;
        return 0;
    }
    if (cpu->ops->wrmsr)
        return cpu->ops->wrmsr(cpu->opaque, msr, val) == 0 ? 0 : -1;
    return -1;
}

static ALWAYS_INLINE void need_cpl0(X86Cpu *cpu)
{
    if ((cpu->cr0 & CR0_PE) && (cpu->cpl != 0 || (cpu->eflags & EFLAGS_VM)))
        cpu_raise(cpu, EXC_GP, 0);
}

HANDLER(op_rdmsr)
{
    uint64_t v;
    need_cpl0(cpu);
    if (cpu_get_msr(cpu, cpu->r[R_ECX], &v) < 0)
        cpu_raise(cpu, EXC_GP, 0);
    cpu->r[R_EAX] = (uint32_t)v;
    cpu->r[R_EDX] = (uint32_t)(v >> 32);
    NEXT;
}

HANDLER(op_wrmsr)
{
    need_cpl0(cpu);
    uint64_t v = ((uint64_t)cpu->r[R_EDX] << 32) | cpu->r[R_EAX];
    if (cpu_set_msr(cpu, cpu->r[R_ECX], v) < 0)
        cpu_raise(cpu, EXC_GP, 0);
    NEXT_END;
}

HANDLER(op_rdtsc)
{
    if ((cpu->cr4 & CR4_TSD) && (cpu->cr0 & CR0_PE) &&
        (cpu->cpl != 0 || (cpu->eflags & EFLAGS_VM)))
        cpu_raise(cpu, EXC_GP, 0);
    uint64_t t = tsc_raw(cpu) + cpu->tsc_offset;
    cpu->r[R_EAX] = (uint32_t)t;
    cpu->r[R_EDX] = (uint32_t)(t >> 32);
    NEXT;
}
