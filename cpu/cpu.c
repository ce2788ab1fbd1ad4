/*
 * cpu.c - CPU creation, reset (SDM vol. 3 §9.1) and the public register API.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/exec.h"

static void hook_code_write(void *opaque, uint32_t paddr, uint32_t len)
{
    tc_invalidate_phys((X86Cpu *)opaque, paddr, len);
}

static void hook_map_changed(void *opaque)
{
    X86Cpu *cpu = opaque;
    cpu->a20_mask = cpu->pm->a20_mask;
    tlb_flush_all(cpu);
}

X86Cpu *cpu_new(PhysMem *pm, const CpuHostOps *ops, void *opaque)
{
    static const CpuHostOps no_ops;
    X86Cpu *cpu = calloc(1, sizeof(*cpu));
    if (!cpu)
        return NULL;
    cpu->pm = pm;
    cpu->ops = ops ? ops : &no_ops;
    cpu->opaque = opaque;
    cpu->apic_present = true;
    cpu->tc_enabled = true;
    if (tc_init(cpu) < 0) {
        free(cpu);
        return NULL;
    }
    pm->code_write = hook_code_write;
    pm->map_changed = hook_map_changed;
    pm->hook_opaque = cpu;
    cpu_reset(cpu, true);
    return cpu;
}

void cpu_free(X86Cpu *cpu)
{
    if (!cpu)
        return;
    if (cpu->pm && cpu->pm->hook_opaque == cpu) {
        cpu->pm->code_write = NULL;
        cpu->pm->map_changed = NULL;
        cpu->pm->hook_opaque = NULL;
    }
    tc_free(cpu);
    free(cpu);
}

static void set_seg_raw(X86Cpu *cpu, int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t ar)
{
    SegReg *sr = &cpu->seg[s];
    sr->sel = sel;
    sr->base = base;
    sr->limit = limit;
    sr->ar = ar;
}

void cpu_reset(X86Cpu *cpu, bool hard)
{
    memset(cpu->r, 0, sizeof(cpu->r));
    cpu->r[R_EDX] = 0x00000633; /* family 6, model 3, stepping 3 */
    cpu->eip = 0xFFF0;
    cpu->eflags = 0x00000002;
    cpu->lf.op = LF_NONE;
    set_seg_raw(cpu, SEG_CS, 0xF000, 0xFFFF0000u, 0xFFFF, 0x9B);
    for (int s = 0; s < 6; s++) {
        if (s != SEG_CS)
            set_seg_raw(cpu, s, 0, 0, 0xFFFF, 0x93);
    }
    set_seg_raw(cpu, SEG_LDTR, 0, 0, 0xFFFF, 0x82);
    set_seg_raw(cpu, SEG_TR, 0, 0, 0xFFFF, 0x8B);
    cpu->gdtr_base = cpu->idtr_base = 0;
    cpu->gdtr_limit = cpu->idtr_limit = 0xFFFF;
    if (hard)
        cpu->cr0 = 0x60000010u; /* CD, NW, ET */
    else
        cpu->cr0 = (cpu->cr0 & (CR0_CD | CR0_NW)) | CR0_ET;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = 0;
    memset(cpu->dr, 0, sizeof(cpu->dr));
    cpu->dr[6] = 0xFFFF0FF0u;
    cpu->dr[7] = 0x00000400u;
    cpu->halted = 0;
    cpu->intr_line = 0;
    cpu->nmi_pending = 0;
    cpu->nmi_blocked = 0;
    cpu->inhibit_irq = 0;
    cpu->exc_depth = 0;
    cpu->in_exception_vec = -1;
    cpu->triple_fault = 0;
    cpu->pending_check = 1;
    if (hard) {
        cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
        cpu->tsc_offset = 0;
        memset(cpu->mtrr_cap_fixed, 0, sizeof(cpu->mtrr_cap_fixed));
        memset(cpu->mtrr_var, 0, sizeof(cpu->mtrr_var));
        cpu->mtrr_def_type = 0;
        cpu->pat = 0x0007040600070406ull;
        cpu->msr_bios_sign = 0;
        cpu->msr_misc_enable = 0;
    }
    fpu_reset(cpu, hard);
    cpu->a20_mask = cpu->pm->a20_mask;
    cpu_mode_changed(cpu);
    tlb_flush_all(cpu);
    tc_flush(cpu);
    cpu_log(cpu, CPU_LOG_RESET, "CPU %s reset", hard ? "hard" : "INIT");
}

uint32_t cpu_get_reg(X86Cpu *cpu, int r) { return (r >= 0 && r < 8) ? cpu->r[r] : 0; }
void cpu_set_reg(X86Cpu *cpu, int r, uint32_t val)
{
    if (r >= 0 && r < 8)
        cpu->r[r] = val;
}
uint32_t cpu_get_eip(X86Cpu *cpu) { return cpu->eip; }
void cpu_set_eip(X86Cpu *cpu, uint32_t eip)
{
    cpu->eip = eip;
    cpu->halted = 0; /* a debugger moving EIP resumes a halted CPU */
}
uint32_t cpu_get_eflags(X86Cpu *cpu) { return cpu_eflags(cpu); }

void cpu_set_eflags(X86Cpu *cpu, uint32_t eflags)
{
    cpu_load_eflags(cpu, eflags, 0x003F7FD5u);
    cpu_mode_changed(cpu);
    cpu->pending_check = 1;
}

void cpu_get_seg(X86Cpu *cpu, int seg, CpuSeg *out)
{
    if (seg < 0 || seg >= SEG_COUNT) {
        memset(out, 0, sizeof(*out));
        return;
    }
    const SegReg *sr = &cpu->seg[seg];
    out->sel = sr->sel;
    out->base = sr->base;
    out->limit = sr->limit;
    out->ar = sr->ar;
}

void cpu_set_seg(X86Cpu *cpu, int seg, const CpuSeg *in)
{
    if (seg < 0 || seg >= SEG_COUNT)
        return;
    set_seg_raw(cpu, seg, in->sel, in->base, in->limit, in->ar);
    cpu_mode_changed(cpu);
}

void cpu_get_dtr(X86Cpu *cpu, int which, uint32_t *base, uint16_t *limit)
{
    *base = which ? cpu->idtr_base : cpu->gdtr_base;
    *limit = which ? cpu->idtr_limit : cpu->gdtr_limit;
}

void cpu_set_dtr(X86Cpu *cpu, int which, uint32_t base, uint16_t limit)
{
    if (which) {
        cpu->idtr_base = base;
        cpu->idtr_limit = limit;
    } else {
        cpu->gdtr_base = base;
        cpu->gdtr_limit = limit;
    }
}

uint32_t cpu_get_cr(X86Cpu *cpu, int n)
{
    switch (n) {
    case 0: return cpu->cr0;
    case 2: return cpu->cr2;
    case 3: return cpu->cr3;
    case 4: return cpu->cr4;
    default: return 0;
    }
}

int cpu_set_cr(X86Cpu *cpu, int n, uint32_t val)
{
    switch (n) {
    case 0: cpu->cr0 = val | CR0_ET; break;
    case 2: cpu->cr2 = val; break;
    case 3: cpu->cr3 = val; break;
    case 4: cpu->cr4 = val; break;
    default: return -1;
    }
    cpu_mode_changed(cpu);
    tlb_flush_all(cpu);
    return 0;
}

uint32_t cpu_get_dr(X86Cpu *cpu, int n)
{
    if (n == 4 || n == 5)
        n += 2;
    return (n >= 0 && n < 8) ? cpu->dr[n] : 0;
}

void cpu_set_dr(X86Cpu *cpu, int n, uint32_t val)
{
    if (n == 4 || n == 5)
        n += 2;
    if (n >= 0 && n < 8)
        cpu->dr[n] = val;
    tlb_flush_all(cpu);
}

int cpu_get_cpl(X86Cpu *cpu) { return cpu->cpl; }

void cpu_set_intr(X86Cpu *cpu, int level)
{
    cpu->intr_line = level;
    if (level)
        cpu->pending_check = 1;
}

void cpu_raise_nmi(X86Cpu *cpu)
{
    cpu->nmi_pending = 1;
    cpu->pending_check = 1;
}

bool cpu_halted(X86Cpu *cpu) { return cpu->halted != 0; }

void cpu_exit_request(X86Cpu *cpu)
{
    cpu->exit_request = 1;
    cpu->pending_check = 1;
}

void cpu_set_log_mask(X86Cpu *cpu, unsigned mask) { cpu->log_mask = mask; }
void cpu_set_apic_present(X86Cpu *cpu, bool present) { cpu->apic_present = present; }
void cpu_set_tcache_enabled(X86Cpu *cpu, bool on) { cpu->tc_enabled = on; }
