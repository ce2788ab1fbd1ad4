/*
 * ops_string.c - string instructions MOVS, CMPS, STOS, LODS, SCAS, INS,
 * OUTS with REP/REPE/REPNE (SDM vol. 2 ch. 4, "REP/REPE/REPZ/REPNE/REPNZ").
 *
 * Source: seg:(E)SI with seg = DS or the override; destination: ES:(E)DI
 * (never overridden).  16-bit addressing uses CX/SI/DI and wraps at 64 KiB.
 * A repeated instruction does at most STR_BUDGET iterations per invocation;
 * if work remains EIP stays at the instruction and the block ends, so
 * interrupts are taken between iterations.  Registers are written back
 * after every iteration (or fast chunk), so a fault mid-way restarts with
 * the remaining count, as on hardware.
 *
 * REP MOVS/STOS copy page-bounded chunks through the TLB's host pointers
 * when the pages are plain RAM on the TLB fast path (the write tag is only
 * valid on pages without translated code, data breakpoints or dirty
 * tracking, so those stay on the per-element slow path).
 *
 * The Insn may live in a block that a store here invalidates: handlers copy
 * what they need out of it first and touch it no more afterwards.
 */
#include <string.h>

#include "cpu/cpu_internal.h"

#define STR_BUDGET 4096u

/* ---- helpers ---- */

static ALWAYS_INLINE uint32_t areg(const X86Cpu *cpu, int r, bool a16)
{
    return a16 ? (cpu->r[r] & 0xFFFF) : cpu->r[r];
}

static ALWAYS_INLINE void set_areg(X86Cpu *cpu, int r, uint32_t v, bool a16)
{
    if (a16)
        cpu->r[r] = (cpu->r[r] & 0xFFFF0000u) | (v & 0xFFFF);
    else
        cpu->r[r] = v;
}

static ALWAYS_INLINE uint32_t mrd(X86Cpu *cpu, int s, uint32_t off, unsigned size)
{
    if (size == 1)
        return rd8(cpu, s, off);
    if (size == 2)
        return rd16(cpu, s, off);
    return rd32(cpu, s, off);
}

static ALWAYS_INLINE void mwr(X86Cpu *cpu, int s, uint32_t off, uint32_t v, unsigned size)
{
    if (size == 1)
        wr8(cpu, s, off, (uint8_t)v);
    else if (size == 2)
        wr16(cpu, s, off, (uint16_t)v);
    else
        wr32(cpu, s, off, v);
}

static ALWAYS_INLINE uint32_t size_mask(unsigned size)
{
    return size == 4 ? 0xFFFFFFFFu : ((1u << (size * 8)) - 1);
}

static ALWAYS_INLINE uint32_t get_acc(const X86Cpu *cpu, unsigned size)
{
    return cpu->r[R_EAX] & size_mask(size);
}

static ALWAYS_INLINE void set_acc(X86Cpu *cpu, uint32_t v, unsigned size)
{
    if (size == 1)
        set_r8(cpu, R_EAX, (uint8_t)v);
    else if (size == 2)
        set_r16(cpu, R_EAX, (uint16_t)v);
    else
        cpu->r[R_EAX] = v;
}

static ALWAYS_INLINE uint32_t str_delta(const X86Cpu *cpu, unsigned size)
{
    return (cpu->eflags & EFLAGS_DF) ? (uint32_t)-(int32_t)size : size;
}

/* Iterations per invocation: one when single-stepping (TF traps after
 * each iteration of a repeated string instruction). */
static ALWAYS_INLINE uint32_t str_budget(const X86Cpu *cpu)
{
    return (cpu->eflags & EFLAGS_TF) ? 1 : STR_BUDGET;
}

/* Finish: advance past the instruction (len copied out of the Insn). */
#define STR_DONE(len)                                                            \
    do {                                                                         \
        cpu->eip += (len);                                                       \
        return i + 1;                                                            \
    } while (0)

/* Stay on the instruction: more iterations to do. */
#define STR_AGAIN return i + 1

/* A data breakpoint hit by this iteration (mmu.c slow path) is reported
 * after the iteration: stop here, on the instruction if work remains. */
#define STR_DB_STOP(cnt, len)                                                    \
    do {                                                                         \
        if (unlikely(cpu->pending_db)) {                                         \
            if ((cnt) == 0)                                                      \
                cpu->eip += (len);                                               \
            return i + 1;                                                        \
        }                                                                        \
    } while (0)

/* Whether [off, off + bytes) lies within segment s for a read or write. */
static ALWAYS_INLINE bool seg_range_ok(const SegReg *sr, uint32_t off, uint32_t bytes, bool write)
{
    return (write ? sr->ok_w : sr->ok_r) && off - sr->lo <= sr->hi - sr->lo &&
           sr->hi - off >= bytes - 1;
}

/* Host pointer for linear lin through the TLB fast path, or NULL. */
static ALWAYS_INLINE uint8_t *tlb_host(X86Cpu *cpu, uint32_t lin, bool write)
{
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    uint32_t tag = write ? e->tag_w : e->tag_r;
    if (tag != (lin & ~0xFFFu))
        return NULL;
    return (uint8_t *)(e->addend + lin);
}

/* Host pointer for a chunk's page: on a TLB miss, translate (raising #PF
 * for the element about to be accessed, as the slow path would) and look
 * again; NULL if the page cannot be accessed directly (MMIO, ROM write,
 * translated code, data breakpoint).  The pointer stays valid for the
 * chunk even if a later translation evicts its TLB entry. */
static ALWAYS_INLINE uint8_t *chunk_host(X86Cpu *cpu, uint32_t lin, bool write)
{
    uint8_t *p = tlb_host(cpu, lin, write);
    if (likely(p))
        return p;
    mmu_translate(cpu, lin, write ? ACC_WRITE : ACC_READ, cpu->cpl == 3);
    return tlb_host(cpu, lin, write);
}

/* Elements of size bytes, starting with the one at offset off (linear
 * lin) and moving in direction fwd, that lie in lin's page and (offsets)
 * neither wrap at 4 GiB nor, with 16-bit addressing, at 64 KiB.  0 if the
 * first element straddles a page. */
static ALWAYS_INLINE uint32_t chunk_elems(uint32_t lin, uint32_t off, unsigned size, bool a16,
                                          bool fwd)
{
    uint32_t pg = lin & 0xFFF, n, w;
    if (pg + size > 4096)
        return 0;
    if (fwd) {
        n = (4096 - pg) / size;
        w = a16 ? (0x10000 - off) / size : n;
    } else {
        n = pg / size + 1;
        w = off / size + 1;
    }
    return w < n ? w : n;
}

/* Offset of the lowest byte of a chunk of n elements starting at off. */
static ALWAYS_INLINE uint32_t chunk_lo(uint32_t off, uint32_t n, unsigned size, bool fwd)
{
    return fwd ? off : off - (n - 1) * size;
}

/* ---- MOVS ---- */

/* Copy up to n elements through host pointers; returns the number done,
 * or 0 and *slow = how many elements to do on the slow path (*slow is 1
 * unless set here).  Overlapping moves keep the
 * element-by-element result (a forward copy to just above the source
 * replicates, as on hardware). */
static ALWAYS_INLINE uint32_t movs_chunk(X86Cpu *cpu, int sseg, uint32_t si, uint32_t di,
                                         uint32_t n, unsigned size, bool a16, bool fwd,
                                         uint32_t *slow)
{
    const SegReg *ss = &cpu->seg[sseg], *ds = &cpu->seg[SEG_ES];
    uint32_t sl = ss->base + si, dl = ds->base + di;
    uint32_t k = chunk_elems(sl, si, size, a16, fwd);
    if (k < n)
        n = k;
    k = chunk_elems(dl, di, size, a16, fwd);
    if (k < n)
        n = k;
    if (n == 0)
        return 0;
    uint32_t bytes = n * size;
    uint32_t slo = chunk_lo(si, n, size, fwd), dlo = chunk_lo(di, n, size, fwd);
    if (!seg_range_ok(ss, slo, bytes, false) || !seg_range_ok(ds, dlo, bytes, true))
        return 0;
    uint8_t *ps = chunk_host(cpu, sl, false);
    uint8_t *pd = ps ? chunk_host(cpu, dl, true) : NULL;
    if (!pd) {
        *slow = n;   /* not plain RAM: the whole chunk element by element */
        return 0;
    }
    ps -= si - slo;
    pd -= di - dlo;
    if (fwd && pd > ps && pd < ps + bytes) {
        for (uint32_t j = 0; j < bytes; j += size) {
            if (size == 1)
                pd[j] = ps[j];
            else if (size == 2)
                st16(pd + j, ld16(ps + j));
            else
                st32(pd + j, ld32(ps + j));
        }
    } else if (!fwd && pd < ps && pd + bytes > ps) {
        for (uint32_t j = bytes; j != 0; j -= size) {
            if (size == 1)
                pd[j - 1] = ps[j - 1];
            else if (size == 2)
                st16(pd + j - 2, ld16(ps + j - 2));
            else
                st32(pd + j - 4, ld32(ps + j - 4));
        }
    } else {
        memmove(pd, ps, bytes);
    }
    return n;
}

static ALWAYS_INLINE const Insn *do_movs(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const int sseg = i->seg;
    const unsigned len = i->len;
    const uint32_t d = str_delta(cpu, size);

    if (!(i->flags & (IF_REP | IF_REPNE))) {
        uint32_t si = areg(cpu, R_ESI, a16), di = areg(cpu, R_EDI, a16);
        mwr(cpu, SEG_ES, di, mrd(cpu, sseg, si, size), size);
        set_areg(cpu, R_ESI, si + d, a16);
        set_areg(cpu, R_EDI, di + d, a16);
        STR_DONE(len);
    }
    uint32_t cnt = areg(cpu, R_ECX, a16);
    uint32_t budget = str_budget(cpu);
    const bool fwd = !(cpu->eflags & EFLAGS_DF);
    while (cnt != 0) {
        if (budget == 0)
            STR_AGAIN;
        uint32_t si = areg(cpu, R_ESI, a16), di = areg(cpu, R_EDI, a16);
        uint32_t slow = 1;
        uint32_t n = movs_chunk(cpu, sseg, si, di, cnt < budget ? cnt : budget, size, a16, fwd,
                                &slow);
        if (n != 0) {
            cnt -= n;
            budget -= n;
            set_areg(cpu, R_ESI, si + n * d, a16);
            set_areg(cpu, R_EDI, di + n * d, a16);
            set_areg(cpu, R_ECX, cnt, a16);
            continue;
        }
        for (; slow != 0; slow--) {
            mwr(cpu, SEG_ES, di, mrd(cpu, sseg, si, size), size);
            si += d;
            di += d;
            cnt--;
            budget--;
            set_areg(cpu, R_ESI, si, a16);
            set_areg(cpu, R_EDI, di, a16);
            set_areg(cpu, R_ECX, cnt, a16);
            si &= a16 ? 0xFFFF : 0xFFFFFFFF;
            di &= a16 ? 0xFFFF : 0xFFFFFFFF;
            STR_DB_STOP(cnt, len);
        }
    }
    STR_DONE(len);
}

HANDLER(op_movsb) { return do_movs(cpu, i, 1); }
HANDLER(op_movs_w) { return do_movs(cpu, i, 2); }
HANDLER(op_movs_d) { return do_movs(cpu, i, 4); }

/* ---- STOS ---- */

static ALWAYS_INLINE uint32_t stos_chunk(X86Cpu *cpu, uint32_t di, uint32_t v, uint32_t n,
                                         unsigned size, bool a16, bool fwd, uint32_t *slow)
{
    const SegReg *ds = &cpu->seg[SEG_ES];
    uint32_t dl = ds->base + di;
    uint32_t k = chunk_elems(dl, di, size, a16, fwd);
    if (k < n)
        n = k;
    if (n == 0)
        return 0;
    uint32_t bytes = n * size;
    uint32_t dlo = chunk_lo(di, n, size, fwd);
    if (!seg_range_ok(ds, dlo, bytes, true))
        return 0;
    uint8_t *pd = chunk_host(cpu, dl, true);
    if (!pd) {
        *slow = n;
        return 0;
    }
    pd -= di - dlo;
    if (size == 1) {
        memset(pd, (int)(v & 0xFF), bytes);
    } else if (size == 2) {
        for (uint32_t j = 0; j < bytes; j += 2)
            st16(pd + j, (uint16_t)v);
    } else {
        for (uint32_t j = 0; j < bytes; j += 4)
            st32(pd + j, v);
    }
    return n;
}

static ALWAYS_INLINE const Insn *do_stos(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const unsigned len = i->len;
    const uint32_t d = str_delta(cpu, size);
    const uint32_t v = get_acc(cpu, size);

    if (!(i->flags & (IF_REP | IF_REPNE))) {
        uint32_t di = areg(cpu, R_EDI, a16);
        mwr(cpu, SEG_ES, di, v, size);
        set_areg(cpu, R_EDI, di + d, a16);
        STR_DONE(len);
    }
    uint32_t cnt = areg(cpu, R_ECX, a16);
    uint32_t budget = str_budget(cpu);
    const bool fwd = !(cpu->eflags & EFLAGS_DF);
    while (cnt != 0) {
        if (budget == 0)
            STR_AGAIN;
        uint32_t di = areg(cpu, R_EDI, a16);
        uint32_t slow = 1;
        uint32_t n = stos_chunk(cpu, di, v, cnt < budget ? cnt : budget, size, a16, fwd, &slow);
        if (n != 0) {
            cnt -= n;
            budget -= n;
            set_areg(cpu, R_EDI, di + n * d, a16);
            set_areg(cpu, R_ECX, cnt, a16);
            continue;
        }
        for (; slow != 0; slow--) {
            mwr(cpu, SEG_ES, di, v, size);
            di += d;
            cnt--;
            budget--;
            set_areg(cpu, R_EDI, di, a16);
            set_areg(cpu, R_ECX, cnt, a16);
            di &= a16 ? 0xFFFF : 0xFFFFFFFF;
            STR_DB_STOP(cnt, len);
        }
    }
    STR_DONE(len);
}

HANDLER(op_stosb) { return do_stos(cpu, i, 1); }
HANDLER(op_stos_w) { return do_stos(cpu, i, 2); }
HANDLER(op_stos_d) { return do_stos(cpu, i, 4); }

/* ---- LODS ---- */

static ALWAYS_INLINE const Insn *do_lods(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const int sseg = i->seg;
    const unsigned len = i->len;
    const uint32_t d = str_delta(cpu, size);

    if (!(i->flags & (IF_REP | IF_REPNE))) {
        uint32_t si = areg(cpu, R_ESI, a16);
        set_acc(cpu, mrd(cpu, sseg, si, size), size);
        set_areg(cpu, R_ESI, si + d, a16);
        STR_DONE(len);
    }
    uint32_t cnt = areg(cpu, R_ECX, a16);
    for (uint32_t budget = str_budget(cpu); cnt != 0; budget--) {
        if (budget == 0)
            STR_AGAIN;
        uint32_t si = areg(cpu, R_ESI, a16);
        set_acc(cpu, mrd(cpu, sseg, si, size), size);
        set_areg(cpu, R_ESI, si + d, a16);
        set_areg(cpu, R_ECX, --cnt, a16);
        STR_DB_STOP(cnt, len);
    }
    STR_DONE(len);
}

HANDLER(op_lodsb) { return do_lods(cpu, i, 1); }
HANDLER(op_lods_w) { return do_lods(cpu, i, 2); }
HANDLER(op_lods_d) { return do_lods(cpu, i, 4); }

/* ---- CMPS / SCAS: flags as SUB src - dst; REPE stops on ZF=0, REPNE on
 * ZF=1 (checked after the count is decremented, which ends first) ---- */

static ALWAYS_INLINE void set_sub_flags(X86Cpu *cpu, uint32_t a, uint32_t b, unsigned size)
{
    SET_LAZY(cpu, LF_SUB, size, a, b, (a - b) & size_mask(size));
}

static ALWAYS_INLINE const Insn *do_cmps(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const int sseg = i->seg;
    const unsigned len = i->len;
    const uint32_t d = str_delta(cpu, size);
    const uint8_t rep = i->flags & (IF_REP | IF_REPNE);

    if (!rep) {
        uint32_t si = areg(cpu, R_ESI, a16), di = areg(cpu, R_EDI, a16);
        uint32_t a = mrd(cpu, sseg, si, size);
        uint32_t b = mrd(cpu, SEG_ES, di, size);
        set_sub_flags(cpu, a, b, size);
        set_areg(cpu, R_ESI, si + d, a16);
        set_areg(cpu, R_EDI, di + d, a16);
        STR_DONE(len);
    }
    const bool want_eq = rep == IF_REP;
    uint32_t cnt = areg(cpu, R_ECX, a16);
    for (uint32_t budget = str_budget(cpu); cnt != 0; budget--) {
        if (budget == 0)
            STR_AGAIN;
        uint32_t si = areg(cpu, R_ESI, a16), di = areg(cpu, R_EDI, a16);
        uint32_t a = mrd(cpu, sseg, si, size);
        uint32_t b = mrd(cpu, SEG_ES, di, size);
        set_sub_flags(cpu, a, b, size);
        set_areg(cpu, R_ESI, si + d, a16);
        set_areg(cpu, R_EDI, di + d, a16);
        set_areg(cpu, R_ECX, --cnt, a16);
        if ((a == b) != want_eq)
            break;
        STR_DB_STOP(cnt, len);
    }
    STR_DONE(len);
}

HANDLER(op_cmpsb) { return do_cmps(cpu, i, 1); }
HANDLER(op_cmps_w) { return do_cmps(cpu, i, 2); }
HANDLER(op_cmps_d) { return do_cmps(cpu, i, 4); }

static ALWAYS_INLINE const Insn *do_scas(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const unsigned len = i->len;
    const uint32_t d = str_delta(cpu, size);
    const uint8_t rep = i->flags & (IF_REP | IF_REPNE);
    const uint32_t a = get_acc(cpu, size);

    if (!rep) {
        uint32_t di = areg(cpu, R_EDI, a16);
        set_sub_flags(cpu, a, mrd(cpu, SEG_ES, di, size), size);
        set_areg(cpu, R_EDI, di + d, a16);
        STR_DONE(len);
    }
    const bool want_eq = rep == IF_REP;
    uint32_t cnt = areg(cpu, R_ECX, a16);
    for (uint32_t budget = str_budget(cpu); cnt != 0; budget--) {
        if (budget == 0)
            STR_AGAIN;
        uint32_t di = areg(cpu, R_EDI, a16);
        uint32_t b = mrd(cpu, SEG_ES, di, size);
        set_sub_flags(cpu, a, b, size);
        set_areg(cpu, R_EDI, di + d, a16);
        set_areg(cpu, R_ECX, --cnt, a16);
        if ((a == b) != want_eq)
            break;
        STR_DB_STOP(cnt, len);
    }
    STR_DONE(len);
}

HANDLER(op_scasb) { return do_scas(cpu, i, 1); }
HANDLER(op_scas_w) { return do_scas(cpu, i, 2); }
HANDLER(op_scas_d) { return do_scas(cpu, i, 4); }

/* ---- INS / OUTS: port DX, I/O permission checked first (even for a zero
 * count).  INS checks that the destination is writable before reading the
 * port, so a faulting store does not lose a port read. ---- */

static ALWAYS_INLINE void ins_one(X86Cpu *cpu, uint16_t port, uint32_t di, unsigned size)
{
    uint32_t lin = seg_lin(cpu, SEG_ES, di, size, true);
    uint8_t *p = tlb_host(cpu, lin, true);
    if (p && (lin & 0xFFF) <= 4096 - size) {
        uint32_t v = cpu_io_read(cpu, port, size);
        if (size == 1)
            *p = (uint8_t)v;
        else if (size == 2)
            st16(p, (uint16_t)v);
        else
            st32(p, v);
        return;
    }
    bool user = cpu->cpl == 3;
    mmu_probe_write(cpu, lin, size, user);
    uint32_t v = cpu_io_read(cpu, port, size);
    if (size == 1)
        lwr8(cpu, lin, (uint8_t)v);
    else if (size == 2)
        lwr16(cpu, lin, (uint16_t)v);
    else
        lwr32(cpu, lin, v);
}

static ALWAYS_INLINE const Insn *do_ins(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const unsigned len = i->len;
    const uint8_t rep = i->flags & (IF_REP | IF_REPNE);
    const uint16_t port = (uint16_t)cpu->r[R_EDX];
    const uint32_t d = str_delta(cpu, size);

    io_check(cpu, port, size);
    if (!rep) {
        uint32_t di = areg(cpu, R_EDI, a16);
        ins_one(cpu, port, di, size);
        set_areg(cpu, R_EDI, di + d, a16);
        STR_DONE(len);
    }
    uint32_t cnt = areg(cpu, R_ECX, a16);
    for (uint32_t budget = str_budget(cpu); cnt != 0; budget--) {
        if (budget == 0)
            STR_AGAIN;
        uint32_t di = areg(cpu, R_EDI, a16);
        ins_one(cpu, port, di, size);
        set_areg(cpu, R_EDI, di + d, a16);
        set_areg(cpu, R_ECX, --cnt, a16);
        STR_DB_STOP(cnt, len);
    }
    STR_DONE(len);
}

HANDLER(op_insb) { return do_ins(cpu, i, 1); }
HANDLER(op_ins_w) { return do_ins(cpu, i, 2); }
HANDLER(op_ins_d) { return do_ins(cpu, i, 4); }

static ALWAYS_INLINE const Insn *do_outs(X86Cpu *cpu, const Insn *i, unsigned size)
{
    const bool a16 = i->flags & IF_A16;
    const int sseg = i->seg;
    const unsigned len = i->len;
    const uint8_t rep = i->flags & (IF_REP | IF_REPNE);
    const uint16_t port = (uint16_t)cpu->r[R_EDX];
    const uint32_t d = str_delta(cpu, size);

    io_check(cpu, port, size);
    if (!rep) {
        uint32_t si = areg(cpu, R_ESI, a16);
        uint32_t v = mrd(cpu, sseg, si, size);
        set_areg(cpu, R_ESI, si + d, a16);
        cpu->eip += len;   /* before the write: the device may reset the CPU */
        cpu_io_write(cpu, port, v, size);
        return i + 1;
    }
    uint32_t cnt = areg(cpu, R_ECX, a16);
    if (cnt == 0)
        STR_DONE(len);
    for (uint32_t budget = str_budget(cpu); budget != 0; budget--) {
        uint32_t si = areg(cpu, R_ESI, a16);
        uint32_t v = mrd(cpu, sseg, si, size);
        set_areg(cpu, R_ESI, si + d, a16);
        set_areg(cpu, R_ECX, --cnt, a16);
        if (cnt == 0)
            cpu->eip += len;
        cpu_io_write(cpu, port, v, size);
        if (cnt == 0 || unlikely(cpu->pending_db))
            break;
    }
    STR_AGAIN;
}

HANDLER(op_outsb) { return do_outs(cpu, i, 1); }
HANDLER(op_outs_w) { return do_outs(cpu, i, 2); }
HANDLER(op_outs_d) { return do_outs(cpu, i, 4); }
