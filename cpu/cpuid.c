/*
 * cpuid.c - CPUID (SDM vol. 2 CPUID): a Pentium II (family 6, model 3,
 * stepping 3) with the feature set of hardware-notes.md section 3.
 */
#include "cpu/cpu_internal.h"

#define CPUID_MAX_BASIC 2u
#define CPUID_MAX_EXT 0x80000000u
#define CPUID_SIGNATURE 0x00000633u  /* family 6, model 3, stepping 3 */

/* CPUID.1:EDX feature bits. */
#define FEAT_FPU (1u << 0)
#define FEAT_DE (1u << 2)
#define FEAT_PSE (1u << 3)
#define FEAT_TSC (1u << 4)
#define FEAT_MSR (1u << 5)
#define FEAT_CX8 (1u << 8)
#define FEAT_APIC (1u << 9)
#define FEAT_SEP (1u << 11)
#define FEAT_MTRR (1u << 12)
#define FEAT_PGE (1u << 13)
#define FEAT_CMOV (1u << 15)

static void cpuid_leaf(X86Cpu *cpu, uint32_t leaf, uint32_t out[4])
{
    /* A leaf above the maximum basic or extended leaf returns the data of
     * the highest basic leaf (SDM vol. 2 CPUID). */
    if ((leaf < 0x80000000u && leaf > CPUID_MAX_BASIC) || leaf > CPUID_MAX_EXT)
        leaf = CPUID_MAX_BASIC;
    out[0] = out[1] = out[2] = out[3] = 0;
    switch (leaf) {
    case 0:
        out[0] = CPUID_MAX_BASIC;
        out[1] = 0x756E6547u; /* "Genu" */
        out[3] = 0x49656E69u; /* "ineI" */
        out[2] = 0x6C65746Eu; /* "ntel" */
        break;
    case 1:
        out[0] = CPUID_SIGNATURE;
        out[3] = FEAT_FPU | FEAT_DE | FEAT_PSE | FEAT_TSC | FEAT_MSR | FEAT_CX8 | FEAT_SEP |
                 FEAT_MTRR | FEAT_PGE | FEAT_CMOV | (cpu->apic_present ? FEAT_APIC : 0);
        /* The microcode update signature (MSR 8BH) is loaded by CPUID.1
         * (SDM vol. 3 §9.11.7.1); we report revision 0. */
        cpu->msr_bios_sign = 0;
        break;
    case 2:
        /* Cache and TLB descriptors of the Pentium II. */
        out[0] = 0x03020101u;
        out[3] = 0x0C040843u;
        break;
    case 0x80000000u:
        out[0] = CPUID_MAX_EXT;
        break;
    }
}

HANDLER(op_cpuid)
{
    uint32_t out[4];
    cpuid_leaf(cpu, cpu->r[R_EAX], out);
    cpu->r[R_EAX] = out[0];
    cpu->r[R_EBX] = out[1];
    cpu->r[R_ECX] = out[2];
    cpu->r[R_EDX] = out[3];
    NEXT;
}
