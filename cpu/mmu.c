/*
 * mmu.c - paging and the software TLB (SDM vol. 3 §4.3: 32-bit paging,
 * 4 MiB pages with CR4.PSE), the slow paths of linear memory accesses
 * (page crossing, MMIO, writes to pages holding translated code), and
 * debug-register breakpoints (SDM vol. 3 §17.2-17.3).
 *
 * TLB: one direct-mapped table per privilege class (tlb[0] supervisor,
 * tlb[1] user), indexed by linear page.  An entry caches a host pointer for
 * a 4 KiB linear page; tag_r / tag_w hold the linear page when the fast
 * path may read / write it.  A write entry is installed only once the PTE's
 * dirty bit is set, so that the first write goes through the walk and sets
 * it.  4 MiB pages are cached as 4 KiB pieces.
 *
 * Data breakpoints: while DR7 enables any data breakpoint, no fast-path
 * entry is installed for a page it covers, so every access to such a page
 * reaches the slow paths here, which record hits in cpu->pending_db (DR6
 * B0-B3 layout); the run loop ORs them into DR6 and raises #DB as a trap
 * after the instruction retires.
 */
#include "cpu/cpu_internal.h"

#define PF_RSVD 0x8u

/* ---- debug registers ---- */

static inline unsigned dr_rw(uint32_t dr7, int n) { return (dr7 >> (16 + 4 * n)) & 3; }
static inline bool dr_on(uint32_t dr7, int n) { return (dr7 >> (2 * n)) & 3; }
/* LEN encoding: 00 = 1 byte, 01 = 2, 11 = 4, 10 = 8 (undefined on P6). */
static inline uint32_t dr_len(uint32_t dr7, int n)
{
    static const uint8_t len[4] = { 1, 2, 8, 4 };
    return len[(dr7 >> (18 + 4 * n)) & 3];
}

/* Record data breakpoints hit by an access of [lin, lin+size). */
void dbg_watch_check(X86Cpu *cpu, uint32_t lin, unsigned size, bool write);

static void dbp_check(X86Cpu *cpu, uint32_t lin, unsigned size, bool write)
{
    if (unlikely(cpu->dbg_nwp))
        dbg_watch_check(cpu, lin, size, write);
    uint32_t dr7 = cpu->dr[7];
    if (likely(!(dr7 & 0xFF)))
        return;
    uint64_t a0 = lin, a1 = (uint64_t)lin + size - 1;
    for (int n = 0; n < 4; n++) {
        unsigned rw = dr_rw(dr7, n);
        if (!dr_on(dr7, n) || !(rw == 3 || (rw == 1 && write)))
            continue;
        uint32_t len = dr_len(dr7, n);
        uint64_t b0 = cpu->dr[n] & ~(len - 1), b1 = b0 + len - 1;
        /* An access that wraps at 4 GiB also covers the bottom bytes. */
        if ((a0 <= b1 && b0 <= a1) || (a1 > 0xFFFFFFFFu && b0 <= a1 - 0x100000000ull))
            cpu->pending_db |= 1u << n;
    }
}

/* Keep fast-path entries away from pages covered by data breakpoints. */
static void dbp_filter(X86Cpu *cpu, uint32_t lpage, TlbEntry *e)
{
    uint32_t dr7 = cpu->dr[7];
    for (int n = 0; n < 4; n++) {
        unsigned rw = dr_rw(dr7, n);
        if (!dr_on(dr7, n) || !(rw & 1))
            continue;
        if ((cpu->dr[n] & ~0xFFFu) != lpage)
            continue;
        e->tag_w = TLB_INVALID;
        if (rw == 3)
            e->tag_r = TLB_INVALID;
    }
}

void dbg_watch_check(X86Cpu *cpu, uint32_t lin, unsigned size, bool write)
{
    uint64_t a0 = lin, a1 = (uint64_t)lin + size - 1;
    for (int n = 0; n < cpu->dbg_nwp; n++) {
        int kind = cpu->dbg_wp[n].kind;
        if (kind == CPU_WATCH_WRITE && !write)
            continue;
        if (kind == CPU_WATCH_READ && write)
            continue;
        uint64_t b0 = cpu->dbg_wp[n].lin, b1 = b0 + cpu->dbg_wp[n].len - 1;
        if (a0 <= b1 && b0 <= a1) {
            if (!cpu->dbg_wp_hit)
                tc_stop_after_current(cpu);
            cpu->dbg_wp_hit = true;
            cpu->dbg_wp_addr = (uint32_t)(a0 > b0 ? a0 : b0);
            cpu->dbg_wp_kind = kind;
        }
    }
}

/* Keep fast-path entries away from pages covered by debugger watchpoints. */
static void dbg_watch_filter(X86Cpu *cpu, uint32_t lpage, TlbEntry *e)
{
    for (int n = 0; n < cpu->dbg_nwp; n++) {
        uint32_t first = cpu->dbg_wp[n].lin & ~0xFFFu;
        uint32_t last = (cpu->dbg_wp[n].lin + cpu->dbg_wp[n].len - 1) & ~0xFFFu;
        if (lpage != first && lpage != last)
            continue;
        e->tag_w = TLB_INVALID;
        if (cpu->dbg_wp[n].kind != CPU_WATCH_WRITE)
            e->tag_r = TLB_INVALID;
    }
}

bool dr_insn_breakpoint_hit(X86Cpu *cpu, uint32_t lin_eip)
{
    uint32_t dr7 = cpu->dr[7];
    uint32_t hit = 0;
    for (int n = 0; n < 4; n++) {
        if (dr_on(dr7, n) && dr_rw(dr7, n) == 0 && cpu->dr[n] == lin_eip)
            hit |= 1u << n;
    }
    if (hit)
        cpu->dr[6] |= hit;
    return hit != 0;
}

bool dr_insn_breakpoints_enabled(X86Cpu *cpu)
{
    uint32_t dr7 = cpu->dr[7];
    for (int n = 0; n < 4; n++) {
        if (dr_on(dr7, n) && dr_rw(dr7, n) == 0)
            return true;
    }
    return false;
}

bool dr_data_breakpoints_enabled(X86Cpu *cpu)
{
    uint32_t dr7 = cpu->dr[7];
    for (int n = 0; n < 4; n++) {
        if (dr_on(dr7, n) && (dr_rw(dr7, n) & 1))
            return true;
    }
    return false;
}

/* ---- TLB ---- */

void tlb_flush_all(X86Cpu *cpu)
{
    cpu->tlb_gen++;
    TlbEntry *e = &cpu->tlb[0][0];
    for (unsigned k = 0; k < 2 * TLB_SIZE; k++) {
        e[k].tag_r = TLB_INVALID;
        e[k].tag_w = TLB_INVALID;
    }
}

static inline void tlb_kill_if(TlbEntry *e, uint32_t lo, uint32_t hi)
{
    if ((e->tag_r != TLB_INVALID && e->tag_r - lo <= hi - lo) ||
        (e->tag_w != TLB_INVALID && e->tag_w - lo <= hi - lo)) {
        e->tag_r = TLB_INVALID;
        e->tag_w = TLB_INVALID;
    }
}

void tlb_flush_page(X86Cpu *cpu, uint32_t lin)
{
    cpu->tlb_gen++;
    uint32_t lpage = lin & ~0xFFFu;
    if (cpu->cr4 & CR4_PSE) {
        /* The page may have been a 4 MiB page cached as 4 KiB pieces:
         * drop every piece of that 4 MiB region (SDM: INVLPG invalidates
         * the whole large page). */
        uint32_t lo = lin & 0xFFC00000u, hi = lo + 0x3FF000u;
        for (int u = 0; u < 2; u++) {
            for (unsigned k = 0; k < TLB_SIZE; k++)
                tlb_kill_if(&cpu->tlb[u][k], lo, hi);
        }
        return;
    }
    for (int u = 0; u < 2; u++)
        tlb_kill_if(&cpu->tlb[u][(lin >> 12) & (TLB_SIZE - 1)], lpage, lpage);
}

/* Install the TLB entry for linear page of lin -> physical phys.
 * can_write: a write at this privilege needs no page-table update. */
static void tlb_fill(X86Cpu *cpu, uint32_t lin, uint32_t phys, bool user, bool can_write)
{
    PhysMem *pm = cpu->pm;
    uint32_t lpage = lin & ~0xFFFu;
    uint32_t page = phys >> PHYS_PAGE_BITS;
    TlbEntry *e = &cpu->tlb[user][(lin >> 12) & (TLB_SIZE - 1)];
    uint8_t *r = pm->rd[page], *w = pm->wr[page];
    e->tag_r = TLB_INVALID;
    e->tag_w = TLB_INVALID;
    if (r) {
        e->addend = (uintptr_t)r - lpage;
        e->tag_r = lpage;
        if (can_write && w == r && phys_page_write_fast(pm, page))
            e->tag_w = lpage;
    } else if (can_write && w && phys_page_write_fast(pm, page)) {
        e->addend = (uintptr_t)w - lpage;
        e->tag_w = lpage;
    }
    if (unlikely(cpu->dr[7] & 0xFF))
        dbp_filter(cpu, lpage, e);
    if (unlikely(cpu->dbg_nwp))
        dbg_watch_filter(cpu, lpage, e);
}

static NORETURN void page_fault(X86Cpu *cpu, uint32_t lin, uint32_t err)
{
    cpu->cr2 = lin;
    cpu_raise(cpu, EXC_PF, err);
}

/* Set bits in a paging-structure entry in memory if they are not set. */
static inline void pte_update(PhysMem *pm, uint32_t addr, uint32_t old, uint32_t set)
{
    if ((old & set) != set)
        phys_write(pm, addr, old | set, 4);
}

uint32_t mmu_translate(X86Cpu *cpu, uint32_t lin, int acc, bool user)
{
    if (!(cpu->cr0 & CR0_PG)) {
        uint32_t phys = lin & cpu->a20_mask;
        tlb_fill(cpu, lin, phys, user, true);
        return phys;
    }
    PhysMem *pm = cpu->pm;
    uint32_t a20 = cpu->a20_mask;
    bool write = acc == ACC_WRITE;
    uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0);
    uint32_t pde_addr = ((cpu->cr3 & 0xFFFFF000u) | ((lin >> 20) & 0xFFCu)) & a20;
    uint32_t pde = (uint32_t)phys_read(pm, pde_addr, 4);
    if (!(pde & PTE_P))
        page_fault(cpu, lin, err);

    uint32_t perm, phys, dirty;
    bool large = (pde & PTE_PS) && (cpu->cr4 & CR4_PSE);
    uint32_t pte_addr = 0, pte = 0;
    if (large) {
        /* Without PSE-36, bits 21:13 of a 4 MiB PDE are reserved. */
        if (pde & 0x003FE000u)
            page_fault(cpu, lin, err | PF_P | PF_RSVD);
        perm = pde;
    } else {
        pte_addr = ((pde & 0xFFFFF000u) | ((lin >> 10) & 0xFFCu)) & a20;
        pte = (uint32_t)phys_read(pm, pte_addr, 4);
        if (!(pte & PTE_P))
            page_fault(cpu, lin, err);
        perm = pde & pte;
    }

    bool can_write;
    if (user) {
        if (!(perm & PTE_U) || (write && !(perm & PTE_W)))
            page_fault(cpu, lin, err | PF_P);
        can_write = (perm & PTE_W) != 0;
    } else {
        can_write = (perm & PTE_W) || !(cpu->cr0 & CR0_WP);
        if (write && !can_write)
            page_fault(cpu, lin, err | PF_P);
    }

    /* Accessed and dirty bits (SDM vol. 3 §4.8), written only on change. */
    uint32_t d = write ? PTE_D : 0;
    if (large) {
        pte_update(pm, pde_addr, pde, PTE_A | d);
        dirty = (pde | d) & PTE_D;
        phys = (pde & 0xFFC00000u) | (lin & 0x3FF000u);
    } else {
        pte_update(pm, pde_addr, pde, PTE_A);
        pte_update(pm, pte_addr, pte, PTE_A | d);
        dirty = (pte | d) & PTE_D;
        phys = pte & 0xFFFFF000u;
    }
    phys = (phys | (lin & 0xFFFu)) & a20;
    tlb_fill(cpu, lin, phys, user, can_write && dirty);
    return phys;
}

int cpu_translate(X86Cpu *cpu, uint32_t lin, uint32_t *phys)
{
    uint32_t a20 = cpu->a20_mask;
    if (!(cpu->cr0 & CR0_PG)) {
        *phys = lin & a20;
        return 0;
    }
    PhysMem *pm = cpu->pm;
    uint32_t pde = (uint32_t)phys_read(pm, ((cpu->cr3 & 0xFFFFF000u) | ((lin >> 20) & 0xFFCu)) & a20, 4);
    if (!(pde & PTE_P))
        return -1;
    if ((pde & PTE_PS) && (cpu->cr4 & CR4_PSE)) {
        if (pde & 0x003FE000u)
            return -1;
        *phys = ((pde & 0xFFC00000u) | (lin & 0x3FFFFFu)) & a20;
        return 0;
    }
    uint32_t pte = (uint32_t)phys_read(pm, ((pde & 0xFFFFF000u) | ((lin >> 10) & 0xFFCu)) & a20, 4);
    if (!(pte & PTE_P))
        return -1;
    *phys = ((pte & 0xFFFFF000u) | (lin & 0xFFFu)) & a20;
    return 0;
}

/* ---- slow paths ---- */

static inline uint64_t load_le(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return *p;
    case 2: return ld16(p);
    case 4: return ld32(p);
    default: {
        uint64_t v;
        __builtin_memcpy(&v, p, 8);
        return v;
    }
    }
}

static inline void store_le(uint8_t *p, uint64_t v, unsigned size)
{
    switch (size) {
    case 1: *p = (uint8_t)v; break;
    case 2: st16(p, (uint16_t)v); break;
    case 4: st32(p, (uint32_t)v); break;
    default: __builtin_memcpy(p, &v, 8); break;
    }
}

/* Translate the page of lin for a read or write through the TLB.  Returns
 * the host pointer for lin when the fast path may access it, else NULL and
 * *phys is the physical address. */
static uint8_t *xlate(X86Cpu *cpu, uint32_t lin, bool write, bool user, uint32_t *phys)
{
    uint32_t lpage = lin & ~0xFFFu;
    const TlbEntry *e = &cpu->tlb[user][(lin >> 12) & (TLB_SIZE - 1)];
    if ((write ? e->tag_w : e->tag_r) == lpage)
        return (uint8_t *)(e->addend + lin);
    *phys = mmu_translate(cpu, lin, write ? ACC_WRITE : ACC_READ, user);
    if ((write ? e->tag_w : e->tag_r) == lpage)
        return (uint8_t *)(e->addend + lin);
    return NULL;
}

uint64_t mmu_read_slow(X86Cpu *cpu, uint32_t lin, unsigned size, bool user)
{
    uint32_t off = lin & 0xFFFu;
    uint32_t p0 = 0, p1 = 0;
    if (likely(off + size <= PHYS_PAGE_SIZE)) {
        uint8_t *h = xlate(cpu, lin, false, user, &p0);
        dbp_check(cpu, lin, size, false);
        return h ? load_le(h, size) : phys_read(cpu->pm, p0, size);
    }
    /* Crossing a page: translate both pages before reading. */
    unsigned n0 = PHYS_PAGE_SIZE - off;
    uint8_t *h0 = xlate(cpu, lin, false, user, &p0);
    uint8_t *h1 = xlate(cpu, lin + n0, false, user, &p1);
    dbp_check(cpu, lin, size, false);
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++) {
        uint8_t b;
        if (k < n0)
            b = h0 ? h0[k] : (uint8_t)phys_read(cpu->pm, p0 + k, 1);
        else
            b = h1 ? h1[k - n0] : (uint8_t)phys_read(cpu->pm, p1 + k - n0, 1);
        v |= (uint64_t)b << (8 * k);
    }
    return v;
}

void mmu_write_slow(X86Cpu *cpu, uint32_t lin, uint64_t val, unsigned size, bool user)
{
    uint32_t off = lin & 0xFFFu;
    uint32_t p0 = 0, p1 = 0;
    if (likely(off + size <= PHYS_PAGE_SIZE)) {
        uint8_t *h = xlate(cpu, lin, true, user, &p0);
        dbp_check(cpu, lin, size, true);
        if (h)
            store_le(h, val, size);
        else
            phys_write(cpu->pm, p0, val, size);
        return;
    }
    /* Crossing a page: both translations (and their faults) come before
     * any byte is written. */
    unsigned n0 = PHYS_PAGE_SIZE - off;
    uint8_t *h0 = xlate(cpu, lin, true, user, &p0);
    uint8_t *h1 = xlate(cpu, lin + n0, true, user, &p1);
    dbp_check(cpu, lin, size, true);
    for (unsigned k = 0; k < size; k++) {
        uint8_t b = (uint8_t)(val >> (8 * k));
        if (k < n0) {
            if (h0)
                h0[k] = b;
            else
                phys_write(cpu->pm, p0 + k, b, 1);
        } else {
            if (h1)
                h1[k - n0] = b;
            else
                phys_write(cpu->pm, p1 + k - n0, b, 1);
        }
    }
}

void mmu_probe_write(X86Cpu *cpu, uint32_t lin, unsigned size, bool user)
{
    uint32_t p;
    if (size == 0)
        return;
    xlate(cpu, lin, true, user, &p);
    uint32_t last = lin + size - 1;
    if ((last ^ lin) & ~0xFFFu)
        xlate(cpu, last & ~0xFFFu, true, user, &p);
}

/* ---- supervisor accesses (descriptor tables, TSS, IDT) ---- */

uint8_t sys_rd8(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb[0][(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == (lin & ~0xFFFu)))
        return *(const uint8_t *)(e->addend + lin);
    return (uint8_t)mmu_read_slow(cpu, lin, 1, false);
}

uint16_t sys_rd16(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb[0][(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == (lin & ~0xFFFu) && (lin & 0xFFFu) <= 0xFFEu))
        return ld16((const void *)(e->addend + lin));
    return (uint16_t)mmu_read_slow(cpu, lin, 2, false);
}

uint32_t sys_rd32(X86Cpu *cpu, uint32_t lin)
{
    const TlbEntry *e = &cpu->tlb[0][(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_r == (lin & ~0xFFFu) && (lin & 0xFFFu) <= 0xFFCu))
        return ld32((const void *)(e->addend + lin));
    return (uint32_t)mmu_read_slow(cpu, lin, 4, false);
}

void sys_wr8(X86Cpu *cpu, uint32_t lin, uint8_t v)
{
    const TlbEntry *e = &cpu->tlb[0][(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == (lin & ~0xFFFu))) {
        *(uint8_t *)(e->addend + lin) = v;
        return;
    }
    mmu_write_slow(cpu, lin, v, 1, false);
}

void sys_wr16(X86Cpu *cpu, uint32_t lin, uint16_t v)
{
    const TlbEntry *e = &cpu->tlb[0][(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == (lin & ~0xFFFu) && (lin & 0xFFFu) <= 0xFFEu)) {
        st16((void *)(e->addend + lin), v);
        return;
    }
    mmu_write_slow(cpu, lin, v, 2, false);
}

void sys_wr32(X86Cpu *cpu, uint32_t lin, uint32_t v)
{
    const TlbEntry *e = &cpu->tlb[0][(lin >> 12) & (TLB_SIZE - 1)];
    if (likely(e->tag_w == (lin & ~0xFFFu) && (lin & 0xFFFu) <= 0xFFCu)) {
        st32((void *)(e->addend + lin), v);
        return;
    }
    mmu_write_slow(cpu, lin, v, 4, false);
}
