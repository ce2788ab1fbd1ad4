/*
 * seg.c - segment registers: descriptor-cache loads with the protected-mode
 * checks (SDM vol. 3 §3.4, §5.4-5.6; vol. 2 MOV/POP Sreg, LLDT, LTR), the
 * derived limit/rights data used by every memory access, and the mode
 * bookkeeping (CPL, code/stack size, TLB class).
 *
 * Real mode keeps the cached limit and D/B/G bits on a segment load ("big
 * real mode"); the type becomes read/write data, as Bochs does.  V86-mode
 * loads set limit 0xFFFF and DPL 3.  In protected mode a null selector in
 * DS/ES/FS/GS makes the register unusable (ar = 0: not present).
 */
#include "cpu/seg.h"

/* ---- descriptors ---- */

bool desc_fetch(X86Cpu *cpu, uint16_t sel, Desc *d, uint32_t *addr)
{
    uint32_t base, limit;
    if (sel & 4) {
        const SegReg *l = &cpu->seg[SEG_LDTR];
        if (!(l->ar & AR_P))
            return false;
        base = l->base;
        limit = l->limit;
    } else {
        base = cpu->gdtr_base;
        limit = cpu->gdtr_limit;
    }
    uint32_t off = sel & ~7u;
    if (off + 7 > limit)
        return false;
    *addr = base + off;
    d->lo = sys_rd32(cpu, *addr);
    d->hi = sys_rd32(cpu, *addr + 4);
    return true;
}

void desc_set_accessed(X86Cpu *cpu, uint32_t addr, Desc *d)
{
    if (!(d->hi & 0x100)) {
        d->hi |= 0x100;
        sys_wr8(cpu, addr + 5, (uint8_t)(d->hi >> 8));
    }
}

/* ---- caches and their checks ---- */

void seg_cache_load(SegReg *sr, uint16_t sel, Desc d)
{
    sr->sel = sel;
    sr->base = desc_base(d);
    sr->limit = desc_limit(d);
    sr->ar = desc_ar(d);
}

void seg_cache_null(SegReg *sr, uint16_t sel)
{
    sr->sel = sel;
    sr->base = 0;
    sr->limit = 0;
    sr->ar = 0;
}

void seg_cache_v86(SegReg *sr, uint16_t sel)
{
    sr->sel = sel;
    sr->base = (uint32_t)sel << 4;
    sr->limit = 0xFFFF;
    sr->ar = 0xF3; /* present, DPL 3, read/write data, accessed */
}

enum { MODE_REAL, MODE_PM, MODE_V86 };

static inline int cur_mode(const X86Cpu *cpu)
{
    if (!(cpu->cr0 & CR0_PE))
        return MODE_REAL;
    return (cpu->eflags & EFLAGS_VM) ? MODE_V86 : MODE_PM;
}

static void calc_checks(SegReg *sr, int mode)
{
    uint16_t ar = sr->ar;
    bool expand_down = false;
    if (mode == MODE_REAL) {
        /* Rights from the cache; a code (or system) type in a cache, left
         * from protected mode, does not restrict real-mode accesses. */
        sr->ok_r = 1;
        sr->ok_w = (!(ar & AR_S) || (ar & AR_CODE) || (ar & AR_RW)) ? 1 : 0;
        expand_down = (ar & (AR_S | AR_CODE | AR_DC)) == (AR_S | AR_DC);
    } else if (!(ar & AR_P) || !(ar & AR_S)) {
        sr->ok_r = sr->ok_w = 0; /* null / unusable */
    } else if (ar & AR_CODE) {
        sr->ok_r = (ar & AR_RW) ? 1 : 0;
        sr->ok_w = 0;
    } else {
        sr->ok_r = 1;
        sr->ok_w = (ar & AR_RW) ? 1 : 0;
        expand_down = (ar & AR_DC) != 0;
    }
    if (expand_down) {
        uint32_t hi = (ar & AR_DB) ? 0xFFFFFFFFu : 0xFFFFu;
        if (sr->limit >= hi) {
            /* no valid offset at all */
            sr->lo = 1;
            sr->hi = 0;
            sr->ok_r = sr->ok_w = 0;
        } else {
            sr->lo = sr->limit + 1;
            sr->hi = hi;
        }
    } else {
        sr->lo = 0;
        sr->hi = sr->limit;
    }
    /* one-compare fast checks (SegReg.lim_r/lim_w) */
    sr->lim_r = (sr->ok_r && sr->lo == 0) ? (int64_t)sr->hi : -1;
    sr->lim_w = (sr->ok_w && sr->lo == 0) ? (int64_t)sr->hi : -1;
}

void seg_calc_checks_pm(SegReg *sr) { calc_checks(sr, MODE_PM); }

void seg_update_checks(X86Cpu *cpu, int s)
{
    SegReg *sr = &cpu->seg[s];
    if (s >= SEG_LDTR) {
        sr->lo = 1;
        sr->hi = 0;
        sr->ok_r = sr->ok_w = 0;
        sr->lim_r = sr->lim_w = -1;
        return;
    }
    calc_checks(sr, cur_mode(cpu));
    if (s == SEG_DS || s == SEG_ES || s == SEG_SS)
        cpu->tc_mode = cpu_calc_tc_mode(cpu); /* TCM_FLAT may change */
}

void cpu_mode_changed(X86Cpu *cpu)
{
    int mode = cur_mode(cpu);
    const SegReg *cs = &cpu->seg[SEG_CS];
    unsigned cpl;
    if (mode == MODE_REAL)
        cpl = 0;
    else if (mode == MODE_V86)
        cpl = 3;
    else
        cpl = (cs->ar & AR_DPL) >> AR_DPL_SHIFT;
    cpu->cpl = (uint8_t)cpl;
    cpu->code32 = mode != MODE_V86 && (cs->ar & AR_DB);
    cpu->stack32 = mode != MODE_V86 && (cpu->seg[SEG_SS].ar & AR_DB);
    cpu->tlb_cur = cpu->tlb[cpl == 3];
    /* Block chain links hold for the CS base they were recorded under
     * (cpu_chain): a new base retires them, as a TLB flush does. */
    if (cs->base != cpu->chain_cs_base) {
        cpu->chain_cs_base = cs->base;
        cpu->tlb_gen++;
    }
    for (int s = 0; s < SEG_COUNT; s++)
        seg_update_checks(cpu, s);
    /* The translation cache's mode key: what changes decoding, the
     * privilege of code fetches or the handler forms (exec.c). */
    cpu->tc_mode = cpu_calc_tc_mode(cpu);
}

NORETURN void seg_fault(X86Cpu *cpu, int s)
{
    if (s == SEG_SS)
        cpu_raise(cpu, EXC_SS, 0);
    cpu_raise(cpu, EXC_GP, 0);
}

/* ---- loads ---- */

void seg_load_real(X86Cpu *cpu, int s, uint16_t sel)
{
    SegReg *sr = &cpu->seg[s];
    if (cpu->eflags & EFLAGS_VM) {
        seg_cache_v86(sr, sel);
    } else {
        sr->sel = sel;
        sr->base = (uint32_t)sel << 4;
        /* Keep limit, D/B, G, AVL and DPL; type: present read/write data. */
        sr->ar = (uint16_t)((sr->ar & (AR_DPL | 0xF000u)) | AR_P | AR_S | AR_RW | AR_A);
    }
    if (s == SEG_CS || s == SEG_SS)
        cpu_mode_changed(cpu);
    else
        seg_update_checks(cpu, s);
}

void seg_load_pm(X86Cpu *cpu, int s, uint16_t sel)
{
    unsigned cpl = cpu->cpl, rpl = sel & 3;
    Desc d;
    uint32_t addr;
    SegReg *sr = &cpu->seg[s];
    if ((sel & 0xFFFC) == 0) {
        if (s == SEG_SS)
            cpu_raise(cpu, EXC_GP, 0);
        seg_cache_null(sr, sel);
        seg_update_checks(cpu, s);
        return;
    }
    if (!desc_fetch(cpu, sel, &d, &addr))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (s == SEG_SS) {
        if (rpl != cpl || !desc_writable_data(d) || desc_dpl(d) != cpl)
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        if (!desc_p(d))
            cpu_raise(cpu, EXC_SS, sel_err(sel));
    } else {
        if (!desc_readable(d))
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        if (!(desc_code(d) && desc_conforming(d)) && (rpl > desc_dpl(d) || cpl > desc_dpl(d)))
            cpu_raise(cpu, EXC_GP, sel_err(sel));
        if (!desc_p(d))
            cpu_raise(cpu, EXC_NP, sel_err(sel));
    }
    desc_set_accessed(cpu, addr, &d);
    seg_cache_load(sr, sel, d);
    if (s == SEG_SS)
        cpu->stack32 = (sr->ar & AR_DB) != 0;
    seg_update_checks(cpu, s);
}

void seg_load(X86Cpu *cpu, int s, uint16_t sel)
{
    if ((cpu->cr0 & CR0_PE) && !(cpu->eflags & EFLAGS_VM))
        seg_load_pm(cpu, s, sel);
    else
        seg_load_real(cpu, s, sel);
}

void seg_load_cs_pm(X86Cpu *cpu, uint16_t sel, Desc d, uint32_t daddr, unsigned cpl)
{
    desc_set_accessed(cpu, daddr, &d);
    SegReg *cs = &cpu->seg[SEG_CS];
    seg_cache_load(cs, (uint16_t)((sel & 0xFFFC) | cpl), d);
    cs->ar = (uint16_t)((cs->ar & ~AR_DPL) | (cpl << AR_DPL_SHIFT));
}

void seg_null_outer(X86Cpu *cpu)
{
    static const int segs[4] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
    for (int k = 0; k < 4; k++) {
        SegReg *sr = &cpu->seg[segs[k]];
        unsigned dpl = (sr->ar & AR_DPL) >> AR_DPL_SHIFT;
        bool conf_code = (sr->ar & (AR_S | AR_CODE | AR_DC)) == (AR_S | AR_CODE | AR_DC);
        if ((sr->ar & AR_P) && (sr->ar & AR_S) && !conf_code && dpl < cpu->cpl)
            seg_cache_null(sr, 0);
    }
}

/* ---- privilege-change stacks ---- */

void tss_stack(X86Cpu *cpu, unsigned pl, uint16_t *ss, uint32_t *esp, uint32_t ext)
{
    const SegReg *tr = &cpu->seg[SEG_TR];
    if (tss_is32(cpu)) {
        uint32_t off = 4 + pl * 8;
        if (off + 5 > tr->limit)
            cpu_raise(cpu, EXC_TS, sel_err(tr->sel) | ext);
        *esp = sys_rd32(cpu, tr->base + off);
        *ss = sys_rd16(cpu, tr->base + off + 4);
    } else {
        uint32_t off = 2 + pl * 4;
        if (off + 3 > tr->limit)
            cpu_raise(cpu, EXC_TS, sel_err(tr->sel) | ext);
        *esp = sys_rd16(cpu, tr->base + off);
        *ss = sys_rd16(cpu, tr->base + off + 2);
    }
}

void seg_check_new_ss(X86Cpu *cpu, uint16_t ss, unsigned cpl, uint32_t ext, SegReg *out)
{
    Desc d;
    uint32_t addr;
    if ((ss & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_TS, ext);
    if (!desc_fetch(cpu, ss, &d, &addr) || (ss & 3) != cpl)
        cpu_raise(cpu, EXC_TS, sel_err(ss) | ext);
    if (!desc_writable_data(d) || desc_dpl(d) != cpl)
        cpu_raise(cpu, EXC_TS, sel_err(ss) | ext);
    if (!desc_p(d))
        cpu_raise(cpu, EXC_SS, sel_err(ss) | ext);
    desc_set_accessed(cpu, addr, &d);
    seg_cache_load(out, ss, d);
    seg_calc_checks_pm(out);
}

/* ---- LDTR and TR ---- */

void seg_load_ldtr(X86Cpu *cpu, uint16_t sel)
{
    Desc d;
    uint32_t addr;
    SegReg *l = &cpu->seg[SEG_LDTR];
    if ((sel & 0xFFFC) == 0) {
        seg_cache_null(l, sel);
        return;
    }
    if ((sel & 4) || !desc_fetch(cpu, sel, &d, &addr))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (desc_s(d) || desc_type(d) != DESC_LDT)
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (!desc_p(d))
        cpu_raise(cpu, EXC_NP, sel_err(sel));
    seg_cache_load(l, sel, d);
}

void seg_load_tr(X86Cpu *cpu, uint16_t sel)
{
    Desc d;
    uint32_t addr;
    if ((sel & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    if ((sel & 4) || !desc_fetch(cpu, sel, &d, &addr))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    unsigned t = desc_type(d);
    if (desc_s(d) || (t != DESC_TSS16_AVAIL && t != DESC_TSS32_AVAIL))
        cpu_raise(cpu, EXC_GP, sel_err(sel));
    if (!desc_p(d))
        cpu_raise(cpu, EXC_NP, sel_err(sel));
    d.hi |= 0x200; /* busy */
    sys_wr8(cpu, addr + 5, (uint8_t)(d.hi >> 8));
    seg_cache_load(&cpu->seg[SEG_TR], sel, d);
}
