/*
 * task.c - hardware task switching (SDM vol. 3 §7.3) for JMP / CALL to a
 * TSS or task gate, interrupts through a task gate and IRET with NT set.
 *
 * Order: the new TSS is checked and read completely (faults there leave
 * the old task intact); then the old task's state is written to its TSS,
 * busy bits and the back link are updated, TR is loaded (the commit point)
 * and the new state is loaded.  Segment checks come after the commit point:
 * their faults are raised in the new task's context, with the not yet
 * validated segment registers unusable.
 *
 * 32-bit TSS: 00 link, 04 ESP0, 08 SS0, 0C ESP1, 10 SS1, 14 ESP2, 18 SS2,
 * 1C CR3, 20 EIP, 24 EFLAGS, 28-44 EAX..EDI, 48-5C ES CS SS DS FS GS,
 * 60 LDT, 64 T bit, 66 I/O map base.
 * 16-bit TSS: 00 link, 02-0C SP0 SS0 SP1 SS1 SP2 SS2, 0E IP, 10 FLAGS,
 * 12-20 AX..DI, 22-28 ES CS SS DS, 2A LDT.
 */
#include "cpu/seg.h"

static void set_busy(X86Cpu *cpu, uint16_t sel, bool busy)
{
    uint32_t a = cpu->gdtr_base + (sel & ~7u) + 5;
    if ((sel & ~7u) + 7 > cpu->gdtr_limit)
        return;
    uint8_t b = sys_rd8(cpu, a);
    b = busy ? (uint8_t)(b | 2) : (uint8_t)(b & ~2);
    sys_wr8(cpu, a, b);
}

/* Load a data segment register of the new task (after the commit point). */
static void task_load_data(X86Cpu *cpu, int s, uint16_t sel, uint32_t ext)
{
    Desc d;
    uint32_t a;
    SegReg *sr = &cpu->seg[s];
    if ((sel & 0xFFFC) == 0) {
        seg_cache_null(sr, sel);
        return;
    }
    if (!desc_fetch(cpu, sel, &d, &a) || !desc_readable(d))
        cpu_raise(cpu, EXC_TS, sel_err(sel) | ext);
    unsigned dpl = desc_dpl(d);
    if (!(desc_code(d) && desc_conforming(d)) && (dpl < cpu->cpl || dpl < (sel & 3u)))
        cpu_raise(cpu, EXC_TS, sel_err(sel) | ext);
    if (!desc_p(d))
        cpu_raise(cpu, EXC_NP, sel_err(sel) | ext);
    desc_set_accessed(cpu, a, &d);
    seg_cache_load(sr, sel, d);
    seg_update_checks(cpu, s);
}

bool task_switch(X86Cpu *cpu, uint16_t sel, Desc nd, uint32_t naddr, int source,
                 uint32_t next_eip, uint32_t ext)
{
    SegReg *tr = &cpu->seg[SEG_TR];
    bool n32 = (desc_type(nd) & 8) != 0;
    bool o32 = tss_is32(cpu);
    uint32_t nb = desc_base(nd);

    cpu_log(cpu, CPU_LOG_INT, "task switch %04x -> %04x (source %d)", tr->sel, sel, source);
    if (!desc_p(nd))
        cpu_raise(cpu, EXC_NP, sel_err(sel) | ext);
    if (desc_limit(nd) < (n32 ? 0x67u : 0x2Bu))
        cpu_raise(cpu, EXC_TS, sel_err(sel) | ext);
    if (tr->limit < (o32 ? 0x5Fu : 0x29u))
        cpu_raise(cpu, EXC_TS, sel_err(tr->sel) | ext);

    /* Read the new task's state (page faults here abort cleanly). */
    uint32_t nr[8], neip, nfl, ncr3 = 0;
    uint16_t nsel[6], nldt;
    bool ttrap = false;
    if (n32) {
        ncr3 = sys_rd32(cpu, nb + 0x1C);
        neip = sys_rd32(cpu, nb + 0x20);
        nfl = sys_rd32(cpu, nb + 0x24);
        for (int k = 0; k < 8; k++)
            nr[k] = sys_rd32(cpu, nb + 0x28 + 4 * k);
        for (int s = 0; s < 6; s++)
            nsel[s] = sys_rd16(cpu, nb + 0x48 + 4 * s);
        nldt = sys_rd16(cpu, nb + 0x60);
        ttrap = sys_rd16(cpu, nb + 0x64) & 1;
    } else {
        neip = sys_rd16(cpu, nb + 0x0E);
        nfl = sys_rd16(cpu, nb + 0x10);
        for (int k = 0; k < 8; k++)
            nr[k] = 0xFFFF0000u | sys_rd16(cpu, nb + 0x12 + 2 * k);
        for (int s = 0; s < 4; s++)
            nsel[s] = sys_rd16(cpu, nb + 0x22 + 2 * s);
        nsel[SEG_FS] = nsel[SEG_GS] = 0;
        nldt = sys_rd16(cpu, nb + 0x2A);
    }
    /* The old TSS and the new TSS's link field must be writable. */
    if (o32)
        mmu_probe_write(cpu, tr->base + 0x20, 0x40, false);
    else
        mmu_probe_write(cpu, tr->base + 0x0E, 0x1C, false);
    if (source == TS_CALL || source == TS_INT)
        mmu_probe_write(cpu, nb, 2, false);

    /* Save the old task. */
    uint32_t fl = cpu_eflags(cpu);
    if (source == TS_JMP || source == TS_IRET)
        set_busy(cpu, tr->sel, false);
    if (source == TS_IRET)
        fl &= ~EFLAGS_NT;
    uint32_t ob = tr->base;
    if (o32) {
        sys_wr32(cpu, ob + 0x20, next_eip);
        sys_wr32(cpu, ob + 0x24, fl);
        for (int k = 0; k < 8; k++)
            sys_wr32(cpu, ob + 0x28 + 4 * k, cpu->r[k]);
        for (int s = 0; s < 6; s++)
            sys_wr16(cpu, ob + 0x48 + 4 * s, cpu->seg[s].sel);
    } else {
        sys_wr16(cpu, ob + 0x0E, (uint16_t)next_eip);
        sys_wr16(cpu, ob + 0x10, (uint16_t)fl);
        for (int k = 0; k < 8; k++)
            sys_wr16(cpu, ob + 0x12 + 2 * k, (uint16_t)cpu->r[k]);
        for (int s = 0; s < 4; s++)
            sys_wr16(cpu, ob + 0x22 + 2 * s, cpu->seg[s].sel);
    }
    if (source == TS_CALL || source == TS_INT) {
        nfl |= EFLAGS_NT;
        sys_wr16(cpu, nb, tr->sel);
    }
    if (source != TS_IRET) {
        nd.hi |= 0x200;
        sys_wr8(cpu, naddr + 5, (uint8_t)(nd.hi >> 8));
    }

    /* Commit: TR, CR0.TS, CR3, registers. */
    seg_cache_load(tr, sel, nd);
    cpu->cr0 |= CR0_TS;
    if (n32 && (cpu->cr0 & CR0_PG)) {
        cpu->cr3 = ncr3;
        tlb_flush_all(cpu);
    }
    for (int k = 0; k < 8; k++)
        cpu->r[k] = nr[k];
    cpu->eip = neip;
    cpu_load_eflags(cpu, nfl, 0xFFFFFFFFu);
    for (int s = 0; s < 6; s++)
        seg_cache_null(&cpu->seg[s], nsel[s]);
    seg_cache_null(&cpu->seg[SEG_LDTR], nldt);
    bool v86 = (cpu->eflags & EFLAGS_VM) != 0;
    if (!v86) {
        /* CPL of the new task = CS.RPL, even before CS is validated. */
        cpu->seg[SEG_CS].ar = (uint16_t)((nsel[SEG_CS] & 3) << AR_DPL_SHIFT);
    }
    cpu_mode_changed(cpu);

    /* LDTR. */
    if ((nldt & 0xFFFC) != 0) {
        Desc d;
        uint32_t a;
        if ((nldt & 4) || !desc_fetch(cpu, nldt, &d, &a) || desc_s(d) ||
            desc_type(d) != DESC_LDT || !desc_p(d))
            cpu_raise(cpu, EXC_TS, sel_err(nldt) | ext);
        seg_cache_load(&cpu->seg[SEG_LDTR], nldt, d);
    }

    if (v86) {
        for (int s = 0; s < 6; s++)
            seg_cache_v86(&cpu->seg[s], nsel[s]);
        cpu_mode_changed(cpu);
    } else {
        unsigned cpl = nsel[SEG_CS] & 3;
        Desc d;
        uint32_t a;
        /* CS */
        uint16_t cs = nsel[SEG_CS];
        if ((cs & 0xFFFC) == 0 || !desc_fetch(cpu, cs, &d, &a) || !desc_code(d))
            cpu_raise(cpu, EXC_TS, sel_err(cs) | ext);
        if (desc_conforming(d) ? desc_dpl(d) > cpl : desc_dpl(d) != cpl)
            cpu_raise(cpu, EXC_TS, sel_err(cs) | ext);
        if (!desc_p(d))
            cpu_raise(cpu, EXC_NP, sel_err(cs) | ext);
        seg_load_cs_pm(cpu, cs, d, a, cpl);
        cpu_mode_changed(cpu);
        /* SS */
        uint16_t ss = nsel[SEG_SS];
        if ((ss & 0xFFFC) == 0 || !desc_fetch(cpu, ss, &d, &a))
            cpu_raise(cpu, EXC_TS, sel_err(ss) | ext);
        if ((ss & 3u) != cpl || !desc_writable_data(d) || desc_dpl(d) != cpl)
            cpu_raise(cpu, EXC_TS, sel_err(ss) | ext);
        if (!desc_p(d))
            cpu_raise(cpu, EXC_SS, sel_err(ss) | ext);
        desc_set_accessed(cpu, a, &d);
        seg_cache_load(&cpu->seg[SEG_SS], ss, d);
        cpu_mode_changed(cpu);
        /* Data segments. */
        task_load_data(cpu, SEG_ES, nsel[SEG_ES], ext);
        task_load_data(cpu, SEG_DS, nsel[SEG_DS], ext);
        task_load_data(cpu, SEG_FS, nsel[SEG_FS], ext);
        task_load_data(cpu, SEG_GS, nsel[SEG_GS], ext);
    }

    if (source != TS_INT && cpu->eip > cpu->seg[SEG_CS].limit)
        cpu_raise(cpu, EXC_GP, 0);
    if (ttrap) {
        /* T flag: #DB trap before the new task's first instruction. */
        cpu->dr[6] |= 0x8000u; /* DR6.BT */
        if (source != TS_INT)
            cpu_raise_noerr(cpu, EXC_DB);
    }
    return ttrap;
}
