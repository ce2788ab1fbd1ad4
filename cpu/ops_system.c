/*
 * ops_system.c - system instructions (SDM vol. 2; vol. 3 ch. 2, 5, 17):
 * group 0F 00 (SLDT STR LLDT LTR VERR VERW), group 0F 01 (SGDT SIDT LGDT
 * LIDT SMSW LMSW INVLPG), LAR, LSL, ARPL, CLTS, INVD, WBINVD, UD2,
 * MOV to/from control and debug registers, SYSENTER/SYSEXIT, RSM.
 * CPUID is in cpuid.c; RDMSR/WRMSR/RDTSC in msr.c.
 */
#include "cpu/seg.h"

#define DR6_FIXED1 0xFFFF0FF0u   /* P6: bits 4-11 and 16-31 read as 1 */
#define DR6_WRITABLE 0x0000E00Fu /* B0-B3, BD, BS, BT */
#define DR6_BD 0x2000u
#define DR7_FIXED1 0x00000400u
#define DR7_WRITABLE 0xFFFF23FFu /* L0-G3, LE, GE, GD, R/W and LEN fields */
#define DR7_GD 0x2000u

/* CR0 bits that exist on the P6 (others are ignored on writes). */
#define CR0_WRITABLE (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_NE | CR0_WP | CR0_AM | \
                      CR0_NW | CR0_CD | CR0_PG)
/* CR4 bits of the features we have (CPUID.1:EDX); others are reserved. */
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_PCE)

/* ---- common checks ---- */

static ALWAYS_INLINE bool prot_mode(X86Cpu *cpu)
{
    return (cpu->cr0 & CR0_PE) && !(cpu->eflags & EFLAGS_VM);
}

/* Instructions not recognised in real-address and virtual-8086 mode. */
static ALWAYS_INLINE void need_pm(X86Cpu *cpu)
{
    if (!prot_mode(cpu))
        cpu_raise_noerr(cpu, EXC_UD);
}

/* Privileged instructions: #GP(0) unless CPL 0 (V86 mode runs at CPL 3). */
static ALWAYS_INLINE void need_cpl0(X86Cpu *cpu)
{
    if ((cpu->cr0 & CR0_PE) && (cpu->cpl != 0 || (cpu->eflags & EFLAGS_VM)))
        cpu_raise(cpu, EXC_GP, 0);
}

static void set_zf(X86Cpu *cpu, bool z)
{
    flags_materialize(cpu);
    if (z)
        cpu->eflags |= EFLAGS_ZF;
    else
        cpu->eflags &= ~EFLAGS_ZF;
}

static ALWAYS_INLINE uint16_t src16_m(X86Cpu *cpu, const Insn *i)
{
    return rd16(cpu, i->seg, insn_ea(cpu, i));
}

/* ---- group 0F 00 ---- */

/* SLDT/STR to a register: 32-bit operand size zero-extends on P6. */
static ALWAYS_INLINE void store_sel_r(X86Cpu *cpu, const Insn *i, uint16_t sel)
{
    if (i->flags & IF_O16)
        set_r16(cpu, i->rm, sel);
    else
        cpu->r[i->rm] = sel;
}

HANDLER(op_sldt_r)
{
    need_pm(cpu);
    store_sel_r(cpu, i, cpu->seg[SEG_LDTR].sel);
    NEXT;
}

HANDLER(op_sldt_m)
{
    need_pm(cpu);
    wr16(cpu, i->seg, insn_ea(cpu, i), cpu->seg[SEG_LDTR].sel);
    NEXT;
}

HANDLER(op_str_r)
{
    need_pm(cpu);
    store_sel_r(cpu, i, cpu->seg[SEG_TR].sel);
    NEXT;
}

HANDLER(op_str_m)
{
    need_pm(cpu);
    wr16(cpu, i->seg, insn_ea(cpu, i), cpu->seg[SEG_TR].sel);
    NEXT;
}

HANDLER(op_lldt_r)
{
    need_pm(cpu);
    need_cpl0(cpu);
    seg_load_ldtr(cpu, (uint16_t)cpu->r[i->rm]);
    NEXT;
}

HANDLER(op_lldt_m)
{
    need_pm(cpu);
    need_cpl0(cpu);
    seg_load_ldtr(cpu, src16_m(cpu, i));
    NEXT;
}

HANDLER(op_ltr_r)
{
    need_pm(cpu);
    need_cpl0(cpu);
    seg_load_tr(cpu, (uint16_t)cpu->r[i->rm]);
    NEXT;
}

HANDLER(op_ltr_m)
{
    need_pm(cpu);
    need_cpl0(cpu);
    seg_load_tr(cpu, src16_m(cpu, i));
    NEXT;
}

/* Read the descriptor for sel for LAR/LSL/VERR/VERW: false (no fault) for a
 * null selector or one outside the GDT/LDT limit. */
static bool desc_peek(X86Cpu *cpu, uint16_t sel, Desc *d)
{
    uint32_t addr;
    if (!(sel & 4) && (sel & 0xFFFC) == 0)
        return false;
    return desc_fetch(cpu, sel, d, &addr);
}

static ALWAYS_INLINE bool desc_priv_ok(X86Cpu *cpu, uint16_t sel, Desc d)
{
    unsigned dpl = desc_dpl(d);
    return cpu->cpl <= dpl && (sel & 3u) <= dpl;
}

/* VERR/VERW (SDM vol. 2): ZF = 1 if the segment is readable / writable at
 * the current CPL and the selector's RPL. */
static void verify_seg(X86Cpu *cpu, uint16_t sel, bool write)
{
    Desc d;
    bool ok = false;
    if (desc_peek(cpu, sel, &d) && desc_s(d) &&
        ((desc_code(d) && desc_conforming(d)) || desc_priv_ok(cpu, sel, d)))
        ok = write ? desc_writable_data(d) : desc_readable(d);
    set_zf(cpu, ok);
}

HANDLER(op_verr_r)
{
    need_pm(cpu);
    verify_seg(cpu, (uint16_t)cpu->r[i->rm], false);
    NEXT;
}

HANDLER(op_verr_m)
{
    need_pm(cpu);
    verify_seg(cpu, src16_m(cpu, i), false);
    NEXT;
}

HANDLER(op_verw_r)
{
    need_pm(cpu);
    verify_seg(cpu, (uint16_t)cpu->r[i->rm], true);
    NEXT;
}

HANDLER(op_verw_m)
{
    need_pm(cpu);
    verify_seg(cpu, src16_m(cpu, i), true);
    NEXT;
}

/* ---- LAR, LSL ---- */

/* System descriptor types LAR / LSL accept (SDM vol. 2 LAR, LSL tables). */
#define LAR_SYS_OK ((1u << DESC_TSS16_AVAIL) | (1u << DESC_LDT) | (1u << DESC_TSS16_BUSY) | \
                    (1u << DESC_CALLGATE16) | (1u << DESC_TASKGATE) | (1u << DESC_TSS32_AVAIL) | \
                    (1u << DESC_TSS32_BUSY) | (1u << DESC_CALLGATE32))
#define LSL_SYS_OK ((1u << DESC_TSS16_AVAIL) | (1u << DESC_LDT) | (1u << DESC_TSS16_BUSY) | \
                    (1u << DESC_TSS32_AVAIL) | (1u << DESC_TSS32_BUSY))

static bool lar_lsl_check(X86Cpu *cpu, uint16_t sel, bool lsl, Desc *d)
{
    if (!desc_peek(cpu, sel, d))
        return false;
    if (desc_s(*d)) {
        if (desc_code(*d) && desc_conforming(*d))
            return true;
    } else if (!(((lsl ? LSL_SYS_OK : LAR_SYS_OK) >> desc_type(*d)) & 1)) {
        return false;
    }
    return desc_priv_ok(cpu, sel, *d);
}

static ALWAYS_INLINE void lar_lsl(X86Cpu *cpu, const Insn *i, uint16_t sel, bool lsl, bool o32)
{
    Desc d;
    bool ok = lar_lsl_check(cpu, sel, lsl, &d);
    if (ok) {
        uint32_t v = lsl ? desc_limit(d) : d.hi & (o32 ? 0x00F0FF00u : 0xFF00u);
        if (o32)
            cpu->r[i->reg] = v;
        else
            set_r16(cpu, i->reg, (uint16_t)v);
    }
    set_zf(cpu, ok);
}

#define LAR_LSL_HANDLERS(name, lsl)                                              \
    HANDLER(op_##name##_w_r)                                                     \
    {                                                                            \
        need_pm(cpu);                                                            \
        lar_lsl(cpu, i, (uint16_t)cpu->r[i->rm], lsl, false);                    \
        NEXT;                                                                    \
    }                                                                            \
    HANDLER(op_##name##_w_m)                                                     \
    {                                                                            \
        need_pm(cpu);                                                            \
        lar_lsl(cpu, i, src16_m(cpu, i), lsl, false);                            \
        NEXT;                                                                    \
    }                                                                            \
    HANDLER(op_##name##_d_r)                                                     \
    {                                                                            \
        need_pm(cpu);                                                            \
        lar_lsl(cpu, i, (uint16_t)cpu->r[i->rm], lsl, true);                     \
        NEXT;                                                                    \
    }                                                                            \
    HANDLER(op_##name##_d_m)                                                     \
    {                                                                            \
        need_pm(cpu);                                                            \
        lar_lsl(cpu, i, src16_m(cpu, i), lsl, true);                             \
        NEXT;                                                                    \
    }

LAR_LSL_HANDLERS(lar, false)
LAR_LSL_HANDLERS(lsl, true)

/* ---- ARPL (63 /r, always 16-bit) ---- */

HANDLER(op_arpl_r)
{
    need_pm(cpu);
    uint16_t d = (uint16_t)cpu->r[i->rm], s = (uint16_t)cpu->r[i->reg];
    bool adj = (d & 3) < (s & 3);
    if (adj)
        set_r16(cpu, i->rm, (uint16_t)((d & ~3u) | (s & 3u)));
    set_zf(cpu, adj);
    NEXT;
}

HANDLER(op_arpl_m)
{
    need_pm(cpu);
    uint32_t lin = seg_lin(cpu, i->seg, insn_ea(cpu, i), 2, true);
    mmu_probe_write(cpu, lin, 2, cpu->cpl == 3); /* read-modify-write */
    uint16_t d = lrd16(cpu, lin), s = (uint16_t)cpu->r[i->reg];
    bool adj = (d & 3) < (s & 3);
    if (adj)
        lwr16(cpu, lin, (uint16_t)((d & ~3u) | (s & 3u)));
    set_zf(cpu, adj);
    NEXT;
}

/* ---- group 0F 01 ---- */

/* SGDT/SIDT: 16-bit limit, then the full 32-bit base with either operand
 * size (SDM vol. 2 SGDT: "Full 32-bit base address stored"). */
static ALWAYS_INLINE void store_dtr(X86Cpu *cpu, const Insn *i, uint32_t base, uint16_t limit)
{
    uint32_t lin = seg_lin(cpu, i->seg, insn_ea(cpu, i), 6, true);
    mmu_probe_write(cpu, lin, 6, cpu->cpl == 3);
    lwr16(cpu, lin, limit);
    lwr32(cpu, lin + 2, base);
}

HANDLER(op_sgdt)
{
    store_dtr(cpu, i, cpu->gdtr_base, cpu->gdtr_limit);
    NEXT;
}

HANDLER(op_sidt)
{
    store_dtr(cpu, i, cpu->idtr_base, cpu->idtr_limit);
    NEXT;
}

/* LGDT/LIDT: with 16-bit operand size only 24 bits of base are loaded. */
static ALWAYS_INLINE void load_dtr(X86Cpu *cpu, const Insn *i, uint32_t *base, uint16_t *limit)
{
    need_cpl0(cpu);
    uint32_t lin = seg_lin(cpu, i->seg, insn_ea(cpu, i), 6, false);
    uint16_t l = lrd16(cpu, lin);
    uint32_t b = lrd32(cpu, lin + 2);
    if (i->flags & IF_O16)
        b &= 0x00FFFFFFu;
    *limit = l;
    *base = b;
}

HANDLER(op_lgdt)
{
    load_dtr(cpu, i, &cpu->gdtr_base, &cpu->gdtr_limit);
    NEXT;
}

HANDLER(op_lidt)
{
    load_dtr(cpu, i, &cpu->idtr_base, &cpu->idtr_limit);
    NEXT;
}

/* SMSW: a 32-bit register receives all of CR0 (the SDM leaves bits 31:16
 * undefined; P6 processors store CR0); memory always gets 16 bits. */
HANDLER(op_smsw_r)
{
    if (i->flags & IF_O16)
        set_r16(cpu, i->rm, (uint16_t)cpu->cr0);
    else
        cpu->r[i->rm] = cpu->cr0;
    NEXT;
}

HANDLER(op_smsw_m)
{
    wr16(cpu, i->seg, insn_ea(cpu, i), (uint16_t)cpu->cr0);
    NEXT;
}

/* LMSW: loads CR0 bits 0-3; can set PE but not clear it. */
static void lmsw(X86Cpu *cpu, uint16_t v)
{
    uint32_t old = cpu->cr0;
    uint32_t nw = (old & ~0xFu) | (v & 0xFu) | (old & CR0_PE);
    cpu->cr0 = nw;
    if ((old ^ nw) & CR0_PE) {
        tlb_flush_all(cpu);
        cpu_mode_changed(cpu);
    }
}

HANDLER(op_lmsw_r)
{
    need_cpl0(cpu);
    lmsw(cpu, (uint16_t)cpu->r[i->rm]);
    NEXT_END;
}

HANDLER(op_lmsw_m)
{
    need_cpl0(cpu);
    lmsw(cpu, src16_m(cpu, i));
    NEXT_END;
}

HANDLER(op_invlpg)
{
    need_cpl0(cpu);
    tlb_flush_page(cpu, cpu->seg[i->seg].base + insn_ea(cpu, i));
    NEXT_END;
}

/* ---- CLTS, INVD, WBINVD, UD2, RSM ---- */

/* CLTS ends the block: code decoded under CR0.TS = 1 may depend on it. */
HANDLER(op_clts)
{
    need_cpl0(cpu);
    cpu->cr0 &= ~CR0_TS;
    NEXT_END;
}

HANDLER(op_invd)
{
    need_cpl0(cpu);
    NEXT;
}

HANDLER(op_wbinvd)
{
    need_cpl0(cpu);
    NEXT;
}

HANDLER(op_ud2)
{
    (void)i;
    cpu_raise_noerr(cpu, EXC_UD);
}

/* No SMM: RSM is invalid outside it. */
HANDLER(op_rsm)
{
    (void)i;
    cpu_raise_noerr(cpu, EXC_UD);
}

/* ---- MOV to/from control registers (0F 20 / 0F 22) ---- */

static ALWAYS_INLINE void check_cr(X86Cpu *cpu, unsigned n)
{
    if (n == 1 || n > 4)
        cpu_raise_noerr(cpu, EXC_UD);
    need_cpl0(cpu);
}

HANDLER(op_mov_Rd_Cd)
{
    unsigned n = i->reg;
    check_cr(cpu, n);
    uint32_t v;
    switch (n) {
    case 0: v = cpu->cr0; break;
    case 2: v = cpu->cr2; break;
    case 3: v = cpu->cr3; break;
    default: v = cpu->cr4; break;
    }
    cpu->r[i->rm] = v;
    NEXT;
}

static void write_cr0(X86Cpu *cpu, uint32_t v)
{
    if (((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
        cpu_raise(cpu, EXC_GP, 0);
    uint32_t old = cpu->cr0;
    uint32_t nw = (v & CR0_WRITABLE) | CR0_ET;
    cpu->cr0 = nw;
    if ((old ^ nw) & (CR0_PG | CR0_WP | CR0_PE))
        tlb_flush_all(cpu);
    if ((old ^ nw) & (CR0_PG | CR0_PE))
        cpu_mode_changed(cpu);
}

static void write_cr4(X86Cpu *cpu, uint32_t v)
{
    if (v & ~CR4_VALID)
        cpu_raise(cpu, EXC_GP, 0);
    uint32_t old = cpu->cr4;
    cpu->cr4 = v;
    if ((old ^ v) & (CR4_PSE | CR4_PGE | CR4_PAE))
        tlb_flush_all(cpu);
    cpu_mode_changed(cpu);
}

HANDLER(op_mov_Cd_Rd)
{
    unsigned n = i->reg;
    check_cr(cpu, n);
    uint32_t v = cpu->r[i->rm];
    switch (n) {
    case 0:
        write_cr0(cpu, v);
        break;
    case 2:
        cpu->cr2 = v;
        break;
    case 3:
        /* Global pages are flushed too (allowed: PGE is a hint to us). */
        cpu->cr3 = v;
        tlb_flush_all(cpu);
        break;
    default:
        write_cr4(cpu, v);
        break;
    }
    NEXT_END;
}

/* ---- MOV to/from debug registers (0F 21 / 0F 23) ---- */

/* DR4/DR5 alias DR6/DR7 unless CR4.DE; then #GP for CPL, #DB for DR7.GD. */
static unsigned check_dr(X86Cpu *cpu, unsigned n)
{
    if (n == 4 || n == 5) {
        if (cpu->cr4 & CR4_DE)
            cpu_raise_noerr(cpu, EXC_UD);
        n += 2;
    }
    need_cpl0(cpu);
    if (cpu->dr[7] & DR7_GD) {
        /* General detect: a fault; the processor clears GD so that the
         * handler can use the debug registers (SDM vol. 3 §17.2.4). */
        cpu->dr[6] |= DR6_BD;
        cpu->dr[7] &= ~DR7_GD;
        cpu_raise_noerr(cpu, EXC_DB);
    }
    return n;
}

HANDLER(op_mov_Rd_Dd)
{
    unsigned n = check_dr(cpu, i->reg);
    cpu->r[i->rm] = cpu->dr[n];
    NEXT;
}

HANDLER(op_mov_Dd_Rd)
{
    unsigned n = check_dr(cpu, i->reg);
    uint32_t v = cpu->r[i->rm];
    if (n == 6)
        v = (v & DR6_WRITABLE) | DR6_FIXED1;
    else if (n == 7)
        v = (v & DR7_WRITABLE) | DR7_FIXED1;
    cpu->dr[n] = v;
    /* Breakpoint coverage changed: rebuild TLB entries, let the run loop
     * re-evaluate its breakpoint checks. */
    tlb_flush_all(cpu);
    cpu->pending_check = 1;
    NEXT_END;
}

/* ---- SYSENTER / SYSEXIT (SDM vol. 2) ---- */

static void load_flat(X86Cpu *cpu, int s, uint16_t sel, uint16_t ar)
{
    SegReg *sr = &cpu->seg[s];
    sr->sel = sel;
    sr->base = 0;
    sr->limit = 0xFFFFFFFFu;
    sr->ar = ar;
}

#define AR_FLAT_CODE (0xB | AR_S | AR_P | AR_DB | AR_G)  /* execute/read, accessed */
#define AR_FLAT_DATA (0x3 | AR_S | AR_P | AR_DB | AR_G)  /* read/write, accessed */
#define AR_DPL3 (3u << AR_DPL_SHIFT)

HANDLER(op_sysenter)
{
    (void)i;
    uint16_t cs = (uint16_t)cpu->sysenter_cs;
    if (!(cpu->cr0 & CR0_PE) || (cs & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, 0);
    cpu_load_eflags(cpu, 0, EFLAGS_VM | EFLAGS_IF | EFLAGS_RF);
    load_flat(cpu, SEG_CS, cs & 0xFFFC, AR_FLAT_CODE);
    load_flat(cpu, SEG_SS, (uint16_t)((cs & 0xFFFC) + 8), AR_FLAT_DATA);
    cpu->r[R_ESP] = cpu->sysenter_esp;
    cpu_mode_changed(cpu);
    BRANCH(cpu->sysenter_eip);
}

HANDLER(op_sysexit)
{
    (void)i;
    uint16_t cs = (uint16_t)cpu->sysenter_cs;
    if (!prot_mode(cpu) || (cs & 0xFFFC) == 0 || cpu->cpl != 0)
        cpu_raise(cpu, EXC_GP, 0);
    load_flat(cpu, SEG_CS, (uint16_t)((cs + 16) | 3), AR_FLAT_CODE | AR_DPL3);
    load_flat(cpu, SEG_SS, (uint16_t)((cs + 24) | 3), AR_FLAT_DATA | AR_DPL3);
    cpu->r[R_ESP] = cpu->r[R_ECX];
    cpu_mode_changed(cpu);
    BRANCH(cpu->r[R_EDX]);
}
