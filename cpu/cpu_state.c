/*
 * cpu_state.c - the CPU's snapshot section "cpu": the architectural state
 * of an X86Cpu as a StateDesc table (devices/state.h), walked by the one
 * generic serializer.
 *
 * Saved: EAX..EDI, EIP, EFLAGS with the lazy-flags record as it stands (so
 * saving never perturbs the running CPU), the eight segment registers with
 * their descriptor caches, HLT state, INTR/NMI/interrupt-shadow state,
 * CR0-CR4, DR0-DR7, GDTR/IDTR, the MSRs the core owns (SYSENTER, TSC
 * offset, MTRRs, PAT, BIOS_SIGN, MISC_ENABLE), the x87 registers and the
 * instruction count.  Every multi-byte value is little-endian on the wire;
 * x87 registers are saved as (significand u64, sign/exponent u16) pairs so
 * the format does not depend on the host's byte order.
 *
 * Not saved (derived or host-side): CPL, CS.D, SS.B, the segment limit
 * checks, the translation-cache mode key and TLBs (post_load recomputes
 * them through cpu_mode_changed, flushes the TLBs and the translation
 * cache); the A20 mask copy (taken from the PhysMem, whose own state the
 * board saves); exception-delivery bookkeeping (always idle between
 * instructions); debugger breakpoints (belong to the debugger session).
 *
 * post_load rejects values the CPU could never hold (unknown lazy-flags
 * kind, reserved EFLAGS/CR0/CR4 bits, non-boolean event flags, segment
 * access rights with reserved bits, an x87 TOP >= 8) with a message
 * naming the field.
 */
#include <stdio.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "devices/state.h"

#define CPU_SEG_FIELDS(n)                                                        \
    ST_U16(seg[n].sel, X86Cpu), ST_U16(seg[n].ar, X86Cpu),                       \
    ST_U32(seg[n].base, X86Cpu), ST_U32(seg[n].limit, X86Cpu)

/* One x87 physical register: F80 {sig, se} stored at st[n][0] / st[n][8]
 * (fpu.c's layout, host order in memory, little-endian on the wire). */
#define CPU_FPR_FIELDS(n)                                                        \
    { "fpu.st" #n ".sig", F_U64, offsetof(X86Cpu, fpu.st[n][0]), 8, 1, 1 },      \
    { "fpu.st" #n ".se", F_U16, offsetof(X86Cpu, fpu.st[n][8]), 2, 1, 1 }

static const StateField cpu_fields[] = {
    /* General registers (r[8] is the constant zero EA slot: not saved). */
    { "r", F_U32, offsetof(X86Cpu, r), 4, 8, 1 },
    ST_U32(eip, X86Cpu),
    ST_U32(eflags, X86Cpu),
    ST_U32(lf.res, X86Cpu), ST_U32(lf.src, X86Cpu), ST_U32(lf.dst, X86Cpu),
    ST_U8(lf.op, X86Cpu), ST_U8(lf.size, X86Cpu),
    ST_U8(lf.cf_in, X86Cpu), ST_U8(lf.of_in, X86Cpu),
    CPU_SEG_FIELDS(0), CPU_SEG_FIELDS(1), CPU_SEG_FIELDS(2), CPU_SEG_FIELDS(3),
    CPU_SEG_FIELDS(4), CPU_SEG_FIELDS(5), CPU_SEG_FIELDS(6), CPU_SEG_FIELDS(7),
    ST_U8(halted, X86Cpu),
    ST_I32(intr_line, X86Cpu),
    ST_I32(nmi_pending, X86Cpu),
    ST_I32(nmi_blocked, X86Cpu),
    ST_I32(inhibit_irq, X86Cpu),
    ST_U32(cr0, X86Cpu), ST_U32(cr2, X86Cpu), ST_U32(cr3, X86Cpu), ST_U32(cr4, X86Cpu),
    ST_U32_ARRAY(dr, X86Cpu),
    ST_U32(gdtr_base, X86Cpu), ST_U16(gdtr_limit, X86Cpu),
    ST_U32(idtr_base, X86Cpu), ST_U16(idtr_limit, X86Cpu),
    ST_U32(sysenter_cs, X86Cpu), ST_U32(sysenter_esp, X86Cpu), ST_U32(sysenter_eip, X86Cpu),
    ST_U64(tsc_offset, X86Cpu),
    ST_U64_ARRAY(mtrr_cap_fixed, X86Cpu),
    ST_U64_ARRAY(mtrr_var, X86Cpu),
    ST_U64(mtrr_def_type, X86Cpu),
    ST_U64(pat, X86Cpu),
    ST_U64(msr_bios_sign, X86Cpu),
    ST_U64(msr_misc_enable, X86Cpu),
    CPU_FPR_FIELDS(0), CPU_FPR_FIELDS(1), CPU_FPR_FIELDS(2), CPU_FPR_FIELDS(3),
    CPU_FPR_FIELDS(4), CPU_FPR_FIELDS(5), CPU_FPR_FIELDS(6), CPU_FPR_FIELDS(7),
    ST_U16(fpu.fcw, X86Cpu), ST_U16(fpu.fsw, X86Cpu), ST_U16(fpu.ftw, X86Cpu),
    ST_U8(fpu.top, X86Cpu), ST_U8(fpu.ferr, X86Cpu),
    ST_U16(fpu.fop, X86Cpu),
    ST_U32(fpu.fip, X86Cpu), ST_U32(fpu.fdp, X86Cpu),
    ST_U16(fpu.fcs, X86Cpu), ST_U16(fpu.fds, X86Cpu),
    ST_U64(icount, X86Cpu),
    ST_END,
};

/* EFLAGS bits 22-31 are reserved (always 0); bit 1 always reads 1. */
#define EFLAGS_RESERVED 0xFFC08028u
/* CR0 bits a P6 can hold (writes drop the others; ET is hard-wired 1). */
#define CR0_KNOWN (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | \
                   CR0_NW | CR0_CD | CR0_PG)
/* CR4 bits MOV CR4 accepts (ops_system.c CR4_VALID) plus VME/PVI/PAE/MCE,
 * which a newer CPU model may allow; anything else is impossible. */
#define CR4_KNOWN (CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | \
                   CR4_PGE | CR4_PCE)
/* Access-rights bits that exist (CpuSeg.ar: bits 0-7 and 12-15). */
#define AR_KNOWN 0xF0FFu

static const char *const seg_names[SEG_COUNT] = { "es", "cs", "ss", "ds",
                                                  "fs", "gs", "ldtr", "tr" };

static int bad(char *err, size_t errlen, const char *field, const char *why, uint64_t v)
{
    if (err && errlen)
        snprintf(err, errlen, "state section 'cpu' field '%s': %s (0x%llx)", field, why,
                 (unsigned long long)v);
    return -1;
}

static int cpu_post_load(void *opaque, char *err, size_t errlen)
{
    X86Cpu *cpu = opaque;
    const LazyFlags *lf = &cpu->lf;
    /* ---- validate: nothing here may be trusted yet ---- */
    if (lf->op > LF_LAST)
        return bad(err, errlen, "lf.op", "unknown lazy-flags operation", lf->op);
    if (lf->op != LF_NONE && lf->size != 1 && lf->size != 2 && lf->size != 4)
        return bad(err, errlen, "lf.size", "operand size not 1, 2 or 4", lf->size);
    if (lf->cf_in > 1 || lf->of_in > 1)
        return bad(err, errlen, lf->cf_in > 1 ? "lf.cf_in" : "lf.of_in", "not 0 or 1",
                   lf->cf_in > 1 ? lf->cf_in : lf->of_in);
    if ((cpu->eflags & EFLAGS_RESERVED) || !(cpu->eflags & 2))
        return bad(err, errlen, "eflags", "reserved bits set or bit 1 clear", cpu->eflags);
    for (int s = 0; s < SEG_COUNT; s++) {
        if (cpu->seg[s].ar & ~AR_KNOWN) {
            char name[24];
            snprintf(name, sizeof(name), "seg[%d].ar (%s)", s, seg_names[s]);
            return bad(err, errlen, name, "reserved access-rights bits set", cpu->seg[s].ar);
        }
    }
    if ((cpu->cr0 & CR0_PE) && (cpu->seg[SEG_CS].ar & (AR_S | AR_CODE)) != (AR_S | AR_CODE) &&
        !(cpu->eflags & EFLAGS_VM))
        return bad(err, errlen, "seg[1].ar (cs)", "CS is not a code segment in protected mode",
                   cpu->seg[SEG_CS].ar);
    if (cpu->halted > 1)
        return bad(err, errlen, "halted", "not 0 or 1", cpu->halted);
    const struct { const char *name; int v; } flags[] = {
        { "intr_line", cpu->intr_line }, { "nmi_pending", cpu->nmi_pending },
        { "nmi_blocked", cpu->nmi_blocked }, { "inhibit_irq", cpu->inhibit_irq },
    };
    for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
        if (flags[k].v != 0 && flags[k].v != 1)
            return bad(err, errlen, flags[k].name, "not 0 or 1", (uint32_t)flags[k].v);
    if ((cpu->cr0 & ~CR0_KNOWN) || ((cpu->cr0 & CR0_PG) && !(cpu->cr0 & CR0_PE)))
        return bad(err, errlen, "cr0", "reserved bits, or PG without PE", cpu->cr0);
    if (cpu->cr4 & ~CR4_KNOWN)
        return bad(err, errlen, "cr4", "reserved bits set", cpu->cr4);
    if (cpu->fpu.top > 7)
        return bad(err, errlen, "fpu.top", "x87 stack top not 0..7", cpu->fpu.top);
    if (cpu->fpu.ferr > 1)
        return bad(err, errlen, "fpu.ferr", "not 0 or 1", cpu->fpu.ferr);
    if (cpu->fpu.fsw & 0x3800u)
        return bad(err, errlen, "fpu.fsw", "TOP bits belong in fpu.top", cpu->fpu.fsw);

    /* ---- rebuild derived state ---- */
    cpu->r[8] = 0;
    cpu->cr0 |= CR0_ET;
    cpu->exc_depth = 0;
    cpu->in_exception_vec = -1;
    cpu->triple_fault = 0;
    cpu->pending_db = 0;
    cpu->dbg_wp_hit = false;
    cpu->dbg_bp_skip_on = false;
    cpu->pending_check = 1; /* look at INTR/NMI/TF before the next instruction */
    cpu->a20_mask = cpu->pm->a20_mask;
    cpu_mode_changed(cpu);
    tlb_flush_all(cpu);
    tc_flush(cpu);
    return 0;
}

const StateDesc cpu_state_desc = {
    .name = "cpu",
    .version = 1,
    .min_version = 1,
    .fields = cpu_fields,
    .post_load = cpu_post_load,
};
