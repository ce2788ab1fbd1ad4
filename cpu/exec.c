/*
 * exec.c - the run loop and the translation cache.
 *
 * Blocks: runs of decoded instructions from one 4 KiB physical page, keyed
 * by (physical address, mode bits that change decoding).  A block ends at
 * an F_END instruction, at the end of the page or after BLOCK_MAX_INSNS;
 * a sentinel Insn (op_block_end) follows its last instruction.
 *
 * Self-modifying code: every physical page with blocks is marked in
 * pm->code[], so no TLB write entry to it is ever installed; writes to it
 * take the slow path, which calls tc_invalidate_phys() with the written
 * range.  Blocks overlapping the written 128-byte lines are invalidated by
 * pointing all of their Insn.fn at op_block_end: if the block being executed
 * is hit, it stops right after the writing instruction, with EIP already at
 * the next instruction, which is then decoded afresh.
 *
 * Events (INTR, NMI, exit requests, single-step) are examined only between
 * blocks, when cpu->pending_check is set.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/decode.h"
#include "cpu/exec.h"
#include "cpu/optab.h"

#define BLOCK_MAX_INSNS 64
#define CHAIN_MAX_INSNS 65536 /* instructions run in one chain of blocks, at most */
#define TC_HASH_BITS 16
#define TC_HASH_SIZE (1u << TC_HASH_BITS)
#define TC_JC_BITS 16
#define TC_JC_SIZE (1u << TC_JC_BITS)
#define TC_ARENA_SIZE (48u << 20)
#define LINE_SHIFT 7 /* 128-byte lines: 32 per page */

typedef struct TCache {
    uint8_t *arena;
    size_t used;
    bool reset_pending;     /* arena can be reused at the next safe point */
    uint32_t arena_gen;     /* bumped when the arena is reused: older Block
                             * pointers held by the run loop are dead */
    Block *hash[TC_HASH_SIZE];
    Block *jc[TC_JC_SIZE];
    Block **page_blocks;    /* [PHYS_NPAGES] */
    uint32_t *page_lines;   /* [PHYS_NPAGES] union of line masks */
} TCache;

/* Not an instruction (a killed block's, or the single-step sentinel):
 * nothing retires here.  The instructions before it advanced no EIP
 * (NEXT does not): it is the end of the one before, if there is one in
 * this block or step. */
static const Insn *op_block_end(X86Cpu *cpu, const Insn *i)
{
    if (cpu->cur_block ? i != cpu->cur_block->insns : true)
        cpu->eip = (i - 1)->next_eip;
    return i;
}

/* The sentinel after a block's last instruction (which fell through):
 * go on into the next block (chain slot 1). */
static const Insn *op_block_next(X86Cpu *cpu, const Insn *i)
{
    return cpu_chain(cpu, i, (i - 1)->next_eip, 1);
}

/* Index in b of the instruction at EIP eip: the one executing (its
 * handler has not moved EIP yet), or b->ninsns when EIP is already past
 * the last one (OUT advances EIP before it writes).  An EIP inside no
 * instruction of b (a control transfer that faulted after loading EIP:
 * only the last instruction of a block can be one) gives the last. */
static unsigned insn_index(const Block *b, uint32_t eip)
{
    uint32_t a = b->eip;
    for (unsigned k = 0; k <= b->ninsns; k++) {
        if (a == eip)
            return k;
        if (k < b->ninsns)
            a = b->insns[k].next_eip;
    }
    return b->ninsns ? b->ninsns - 1u : 0;
}

static inline uint32_t hash_phys(uint32_t phys, uint16_t mode)
{
    uint32_t h = phys * 0x9E3779B1u ^ mode;
    return (h >> (32 - TC_HASH_BITS)) & (TC_HASH_SIZE - 1);
}

static inline uint32_t jc_index(uint32_t lin)
{
    return (lin ^ (lin >> TC_JC_BITS)) & (TC_JC_SIZE - 1);
}

static inline uint16_t cur_mode(X86Cpu *cpu)
{
    return cpu_calc_tc_mode(cpu);
}

int tc_init(X86Cpu *cpu)
{
    TCache *tc = calloc(1, sizeof(*tc));
    if (!tc)
        return -1;
    tc->arena = malloc(TC_ARENA_SIZE);
    tc->page_blocks = calloc(PHYS_NPAGES, sizeof(*tc->page_blocks));
    tc->page_lines = calloc(PHYS_NPAGES, sizeof(*tc->page_lines));
    if (!tc->arena || !tc->page_blocks || !tc->page_lines) {
        free(tc->arena);
        free(tc->page_blocks);
        free(tc->page_lines);
        free(tc);
        return -1;
    }
    cpu->tc = tc;
    return 0;
}

void tc_free(X86Cpu *cpu)
{
    TCache *tc = cpu->tc;
    if (!tc)
        return;
    free(tc->arena);
    free(tc->page_blocks);
    free(tc->page_lines);
    free(tc);
    cpu->tc = NULL;
}

/* Make b unreachable and stop it after the instruction now executing (if
 * it is the running block): every other instruction exits the block.  The
 * running instruction keeps its handler so that the retired count (which
 * looks at the handler of the last instruction) stays exact. */
static void block_kill(X86Cpu *cpu, Block *b)
{
    b->valid = false;
    unsigned cur = b == cpu->cur_block ? insn_index(b, cpu->eip) : b->ninsns;
    for (unsigned k = 0; k < b->ninsns; k++) {
        if (k != cur)
            b->insns[k].fn = op_block_end;
    }
}

void tc_flush(X86Cpu *cpu)
{
    TCache *tc = cpu->tc;
    if (!tc)
        return;
    /* Kill every block in the arena (one may be executing right now). */
    size_t off = 0;
    while (off < tc->used) {
        Block *b = (Block *)(tc->arena + off);
        uint32_t page = b->phys_pc >> PHYS_PAGE_BITS;
        if (b->valid) {
            block_kill(cpu, b);
            tc->page_blocks[page] = NULL;
            tc->page_lines[page] = 0;
            cpu->pm->code[page] = 0;
        }
        off += sizeof(Block) + (b->ninsns + 1u) * sizeof(Insn);
        off = (off + 15) & ~(size_t)15;
    }
    memset(tc->hash, 0, sizeof(tc->hash));
    memset(tc->jc, 0, sizeof(tc->jc));
    tc->reset_pending = true;
    cpu->tlb_gen++; /* stale successor links must not be followed */
}

void tc_stop_after_current(X86Cpu *cpu)
{
    TCache *tc = cpu->tc;
    Block *b = cpu->cur_block;
    cpu->pending_check = 1; /* no chaining past this instruction */
    if (!tc || !b || !b->valid)
        return;
    /* Unlink it like an invalidation, so it is rebuilt when next needed. */
    uint32_t page = b->phys_pc >> PHYS_PAGE_BITS;
    Block **pp = &tc->page_blocks[page];
    while (*pp && *pp != b)
        pp = &(*pp)->page_next;
    if (*pp)
        *pp = b->page_next;
    Block **hp = &tc->hash[hash_phys(b->phys_pc, b->mode)];
    while (*hp && *hp != b)
        hp = &(*hp)->hash_next;
    if (*hp)
        *hp = b->hash_next;
    block_kill(cpu, b);
}

void tc_invalidate_phys(X86Cpu *cpu, uint32_t paddr, uint32_t len)
{
    TCache *tc = cpu->tc;
    if (!tc || len == 0)
        return;
    uint64_t end = (uint64_t)paddr + len;
    while ((uint64_t)paddr < end) {
        uint32_t page = paddr >> PHYS_PAGE_BITS;
        uint64_t pend = ((uint64_t)page + 1) << PHYS_PAGE_BITS;
        uint32_t e = (uint32_t)((end < pend ? end : pend) - 1);
        uint32_t first = (paddr & (PHYS_PAGE_SIZE - 1)) >> LINE_SHIFT;
        uint32_t last = (e & (PHYS_PAGE_SIZE - 1)) >> LINE_SHIFT;
        uint32_t mask = (last == 31 ? 0xFFFFFFFFu : ((1u << (last + 1)) - 1)) & ~((1u << first) - 1);
        if (tc->page_lines[page] & mask) {
            Block **pp = &tc->page_blocks[page];
            uint32_t lines = 0;
            while (*pp) {
                Block *b = *pp;
                if (b->line_mask & mask) {
                    *pp = b->page_next;
                    /* unlink from the hash chain */
                    Block **hp = &tc->hash[hash_phys(b->phys_pc, b->mode)];
                    while (*hp && *hp != b)
                        hp = &(*hp)->hash_next;
                    if (*hp)
                        *hp = b->hash_next;
                    block_kill(cpu, b);
                } else {
                    lines |= b->line_mask;
                    pp = &b->page_next;
                }
            }
            tc->page_lines[page] = lines;
            if (!tc->page_blocks[page])
                cpu->pm->code[page] = 0;
        }
        paddr = (uint32_t)pend;
        if (pend >= end)
            break;
    }
}

static bool dbg_bp_at(X86Cpu *cpu, uint32_t lin)
{
    for (int k = 0; k < cpu->dbg_nbp; k++)
        if (cpu->dbg_bp[k] == lin)
            return true;
    return false;
}

/* Physical address and host pointer of the code at linear lin (fills the
 * TLB, raising #PF as a fetch would).  host is 0 when not RAM/ROM. */
static uint32_t fetch_translate(X86Cpu *cpu, uint32_t lin, uintptr_t *host)
{
    bool user = cpu->cpl == 3;
    uint32_t phys = mmu_translate(cpu, lin, ACC_EXEC, user);
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (e->tag_r == (lin & ~0xFFFu))
        *host = e->addend + lin;
    else
        *host = 0;
    return phys;
}

/* Decode a block at the current CS:EIP.  Returns NULL when the first
 * instruction cannot be cached (crosses a page, code not in RAM/ROM): the
 * caller then steps it uncached. */
static Block *tc_build(X86Cpu *cpu, uint32_t lin, uint16_t mode)
{
    TCache *tc = cpu->tc;
    uintptr_t host;
    uint32_t phys = fetch_translate(cpu, lin, &host);
    if (!host)
        return NULL;
    size_t need = sizeof(Block) + (BLOCK_MAX_INSNS + 1) * sizeof(Insn);
    if (tc->used + need > TC_ARENA_SIZE)
        tc_flush(cpu);
    if (tc->reset_pending) {
        tc->used = 0;
        tc->reset_pending = false;
        tc->arena_gen++;
    }
    Block *b = (Block *)(tc->arena + tc->used);
    uint32_t page = phys >> PHYS_PAGE_BITS;
    uint32_t eip = cpu->eip;
    unsigned n = 0;
    uint32_t bytes = 0;
    for (;;) {
        Insn *in = &b->insns[n];
        uint32_t opflags;
        uint32_t ilin = lin + bytes;
        cpu_decode(cpu, eip + bytes, in, &opflags);
        if (mode & TCM_FLAT)
            cpu_insn_flat(in);
        /* The instruction must lie within this page. */
        if (((ilin + in->len - 1) >> 12) != (lin >> 12))
            break;
        if (((ilin) >> 12) != (lin >> 12))
            break;
        bytes += in->len;
        n++;
        if ((opflags & F_END) || n >= BLOCK_MAX_INSNS)
            break;
        if (((lin + bytes) & 0xFFF) == 0)
            break;
        /* A debugger breakpoint must start a block (checked at block entry). */
        if (unlikely(cpu->dbg_nbp) && dbg_bp_at(cpu, lin + bytes))
            break;
        /* The next instruction's first bytes must be fetchable without a
         * fault here; a fault is raised when it is executed. We only peek
         * within this page, which the TLB already maps. */
    }
    if (n == 0)
        return NULL;
    b->insns[n] = (Insn){ .fn = op_block_next };
    b->phys_pc = phys;
    b->lin_pc = lin;
    b->eip = eip;
    b->host_pc = host;
    b->bytes = bytes;
    b->mode = mode;
    b->ninsns = (uint16_t)n;
    b->valid = true;
    b->succ = NULL;
    b->chain[0] = b->chain[1] = NULL;
    uint32_t off0 = phys & (PHYS_PAGE_SIZE - 1);
    uint32_t l0 = off0 >> LINE_SHIFT, l1 = (off0 + bytes - 1) >> LINE_SHIFT;
    b->line_mask = (l1 == 31 ? 0xFFFFFFFFu : ((1u << (l1 + 1)) - 1)) & ~((1u << l0) - 1);
    tc->used += sizeof(Block) + (n + 1u) * sizeof(Insn);
    tc->used = (tc->used + 15) & ~(size_t)15;

    uint32_t h = hash_phys(phys, mode);
    b->hash_next = tc->hash[h];
    tc->hash[h] = b;
    b->page_next = tc->page_blocks[page];
    tc->page_blocks[page] = b;
    tc->page_lines[page] |= b->line_mask;
    if (cpu->pm->code[page] == 0) {
        /* First code on this page: drop any fast-path write entries to it. */
        cpu->pm->code[page] = 1;
        tlb_flush_all(cpu);
    }
    return b;
}

static Block *tc_lookup(X86Cpu *cpu)
{
    TCache *tc = cpu->tc;
    uint32_t lin = cpu->seg[SEG_CS].base + cpu->eip;
    uint16_t mode = cpu->tc_mode;
#ifndef NDEBUG
    if (mode != cur_mode(cpu)) {
        /* Every mode change must go through cpu_mode_changed(). */
        cpu_log(cpu, CPU_LOG_GUEST_ERRORS, "internal: stale tc_mode %x != %x", mode, cur_mode(cpu));
        abort();
    }
#endif
    uint32_t j = jc_index(lin);
    Block *b = tc->jc[j];
    const TlbEntry *e = &cpu->tlb_cur[(lin >> 12) & (TLB_SIZE - 1)];
    if (b && b->valid && b->lin_pc == lin && b->eip == cpu->eip && b->mode == mode &&
        e->tag_r == (lin & ~0xFFFu) && e->addend + lin == b->host_pc)
        return b;
    uintptr_t host;
    uint32_t phys = fetch_translate(cpu, lin, &host);
    if (!host)
        return NULL;
    for (b = tc->hash[hash_phys(phys, mode)]; b; b = b->hash_next) {
        if (b->phys_pc == phys && b->mode == mode && b->host_pc == host && b->eip == cpu->eip)
            break;
    }
    if (!b)
        b = tc_build(cpu, lin, mode);
    if (b) {
        b->lin_pc = lin;
        tc->jc[j] = b;
    }
    return b;
}

/* ---- events ---- */

/* Examine pending events at an instruction boundary.  Returns a CpuExit
 * to stop with, or -1 to continue. */
static int handle_events(X86Cpu *cpu)
{
    if (cpu->exit_request) {
        cpu->exit_request = 0;
        return CPU_EXIT_REQUEST;
    }
    bool keep = false;
    if (cpu->nmi_pending && !cpu->nmi_blocked && !cpu->inhibit_irq) {
        cpu->nmi_pending = 0;
        cpu->halted = 0;
        cpu_do_interrupt(cpu, EXC_NMI, INT_NMI, 0, false, cpu->eip);
        keep = true;
    } else if (cpu->intr_line && (cpu->eflags & EFLAGS_IF) && !cpu->inhibit_irq) {
        int vec = cpu->ops->intr_ack ? cpu->ops->intr_ack(cpu->opaque) : 0x08;
        cpu->halted = 0;
        cpu_do_interrupt(cpu, vec & 0xFF, INT_EXT, 0, false, cpu->eip);
        keep = true;
    }
    /* Stay in the careful path only while something can still be acted
     * on: an INTR line with IF clear is re-examined when IF is set. */
    if (cpu->nmi_pending || (cpu->intr_line && (cpu->eflags & EFLAGS_IF)) ||
        (cpu->eflags & EFLAGS_TF) || cpu->inhibit_irq)
        keep = true;
    cpu->pending_check = keep;
    return -1;
}

/* Execute one instruction without the translation cache.  Handles the
 * interrupt shadow, the TF single-step trap and debug-register breakpoints
 * (SDM vol. 3 §17.3: instruction breakpoints are faults, taken unless
 * EFLAGS.RF is set; data breakpoints and single-step are traps reported
 * together in one #DB). */
int cpu_history(X86Cpu *cpu, uint32_t *out, int max)
{
    int n = 0;
    for (int k = 0; k < CPU_HISTORY && n < max; k++) {
        uint32_t v = cpu->hist[(cpu->hist_pos + k) & (CPU_HISTORY - 1)];
        if (v || n)
            out[n++] = v;
    }
    return n;
}

static void step_one(X86Cpu *cpu)
{
    Insn in[2];
    hist_add(cpu, cpu->seg[SEG_CS].base + cpu->eip);
    bool tf = (cpu->eflags & EFLAGS_TF) != 0;
    bool rf = (cpu->eflags & EFLAGS_RF) != 0;
    if (unlikely(cpu->dr[7] & 0xFF) && !rf &&
        dr_insn_breakpoint_hit(cpu, cpu->seg[SEG_CS].base + cpu->eip)) {
        cpu_do_interrupt(cpu, EXC_DB, INT_EXC, 0, false, cpu->eip);
        return;
    }
    cpu->inhibit_irq = 0;
    cpu->pending_db = 0;
    cpu->chain_limit = 0; /* a branch stepped alone must not chain */
    cpu->cur_block = NULL;
    cpu_decode(cpu, cpu->eip, &in[0], NULL);
    in[1] = (Insn){ .fn = op_block_end };
    if (unlikely(cpu->log_mask & CPU_LOG_EXEC) && cpu->ops->trace_insn) {
        /* The bytes were just fetched by the decoder: no fault here. */
        uint8_t bytes[16];
        uint32_t lin = cpu->seg[SEG_CS].base + cpu->eip;
        for (unsigned k = 0; k < in[0].len && k < sizeof(bytes); k++)
            bytes[k] = lrd8(cpu, lin + k);
        cpu->ops->trace_insn(cpu->opaque, lin, bytes, in[0].len, cpu->code32);
    }
    in[0].fn(cpu, &in[0]);
    cpu->icount++;
    if (rf)
        cpu->eflags &= ~EFLAGS_RF; /* RF lasts for one instruction */
    /* MOV SS / POP SS also hold off the single-step trap for one
     * instruction (SDM vol. 3 §6.8.3); STI's shadow does not. */
    bool ss_shadow = cpu->inhibit_irq && (in[0].op == 0x8E || in[0].op == 0x17);
    uint32_t hits = cpu->pending_db;
    cpu->pending_db = 0;
    if (ss_shadow)
        return;
    if ((tf && !cpu->halted) || hits) {
        if (tf)
            cpu->dr[6] |= 0x4000; /* DR6.BS */
        cpu->dr[6] |= hits;
        cpu_do_interrupt(cpu, EXC_DB, INT_EXC, 0, false, cpu->eip);
    }
}


/* The dispatcher: runs blocks until target retired instructions or an
 * event; separate from cpu_run() so that its locals live across no setjmp. */
static CpuExit run_loop(X86Cpu *cpu, uint64_t target)
{
    TCache *tc = cpu->tc;
    Block *prev = NULL;       /* the block that ran last ... */
    Block *link = NULL;       /* ... and the one whose chain slot missed */
    uint8_t link_slot = 0;
    uint32_t link_eip = 0;
    uint32_t arena_gen = 0;   /* tc->arena_gen when prev/link were taken */
    for (;;) {
        if (unlikely(cpu->pending_check)) {
            if (cpu->pending_stop) {
                CpuExit r = (CpuExit)cpu->pending_stop;
                cpu->pending_stop = 0;
                return r;
            }
            int r = handle_events(cpu);
            if (r >= 0)
                return (CpuExit)r;
        }
        if (unlikely(cpu->halted))
            return CPU_EXIT_HALT;
        if (cpu->icount >= target)
            return CPU_EXIT_BUDGET;
        uint64_t remaining = target - cpu->icount;
        if (unlikely(cpu->dbg_nbp)) {
            uint32_t lin = cpu->seg[SEG_CS].base + cpu->eip;
            if (cpu->dbg_bp_skip_on && cpu->dbg_bp_skip == lin) {
                /* Resuming from this breakpoint: execute it once. */
                cpu->dbg_bp_skip_on = false;
                prev = link = NULL;
                step_one(cpu);
                continue;
            }
            cpu->dbg_bp_skip_on = false;
            if (dbg_bp_at(cpu, lin)) {
                cpu->dbg_bp_skip = lin;
                cpu->dbg_bp_skip_on = true;
                return CPU_EXIT_BREAKPOINT;
            }
        }
        if (unlikely(cpu->pending_check || !cpu->tc_enabled || (cpu->dr[7] & 0xFF) ||
                     (cpu->log_mask & CPU_LOG_EXEC))) {
            /* TF, interrupt shadow, debug registers armed, or no cache:
             * one instruction at a time. */
            prev = link = NULL;
            step_one(cpu);
            if (unlikely(cpu->dbg_wp_hit))
                return CPU_EXIT_BREAKPOINT;
            continue;
        }
        if (tc && tc->arena_gen != arena_gen)
            prev = link = NULL; /* they were in the arena that was reused */
        /* The block that followed the previous one last time is still the
         * right one if it is valid, starts here, and no TLB flush (mapping
         * change) happened since: skip the lookup. */
        Block *b;
        uint32_t lin = cpu->seg[SEG_CS].base + cpu->eip;
        Block *s = prev ? prev->succ : NULL;
        if (s && s->lin_pc == lin && s->eip == cpu->eip && prev->succ_gen == cpu->tlb_gen && s->valid &&
            s->mode == cpu->tc_mode) {
            b = s;
        } else {
            uint32_t gen = cpu->tlb_gen;
            b = tc_lookup(cpu);
            /* (A flush during the lookup bumps tlb_gen: prev may be gone.) */
            if (prev && b && gen == cpu->tlb_gen && tc->arena_gen == arena_gen && prev->valid) {
                prev->succ = b;
                prev->succ_gen = gen;
            }
        }
        /* A branch found no chained successor: record this one. */
        if (link && b && tc->arena_gen == arena_gen && link->valid && b->eip == link_eip &&
            b->mode == link->mode) {
            link->chain[link_slot] = b;
            link->chain_gen[link_slot] = cpu->tlb_gen;
        }
        link = NULL;
        if (!b || b->ninsns > remaining) {
            prev = NULL;
            step_one(cpu);
            if (unlikely(cpu->dbg_wp_hit))
                return CPU_EXIT_BREAKPOINT;
            continue;
        }
        const Insn *i = b->insns;
        cpu->cur_block = b;
        hist_add(cpu, lin);
        /* Chaining (cpu_chain) needs room for two more blocks. */
        cpu->chain_limit = 0;
        if (cpu->dbg_nbp == 0 && remaining > 2 * BLOCK_MAX_INSNS)
            cpu->chain_limit = remaining - 2 * BLOCK_MAX_INSNS > CHAIN_MAX_INSNS
                                   ? cpu->icount + CHAIN_MAX_INSNS : target - 2 * BLOCK_MAX_INSNS;
        cpu->link_from = NULL;
        /* The handlers chain through the block (NEXT) and on into
         * successor blocks (cpu_chain); a watchpoint hit stops it via
         * tc_stop_after_current(). */
        i = i->fn(cpu, i);
        /* cur_block: where it stopped; i: just past what retired there. */
        b = cpu->cur_block;
        cpu->icount += (uint64_t)(i - b->insns);
        cpu->cur_block = NULL;
        cpu->chain_limit = 0;
        prev = b;
        link = cpu->link_from;
        link_slot = cpu->link_slot;
        link_eip = cpu->link_eip;
        cpu->link_from = NULL;
        arena_gen = tc ? tc->arena_gen : 0;
        if (unlikely(cpu->dbg_wp_hit))
            return CPU_EXIT_BREAKPOINT;
    }
}


CpuExit cpu_run(X86Cpu *cpu, uint64_t max_insns)
{
    uint64_t target = cpu->icount + max_insns;
    cpu->cur_block = NULL;
    cpu->dbg_wp_hit = false;
    if (setjmp(cpu->jmp)) {
        /* An exception was raised (cpu_raise) during an instruction or an
         * event delivery.  Count what retired in the block, then deliver. */
        if (cpu->cur_block)
            cpu->icount += insn_index(cpu->cur_block, cpu->eip);
        cpu->cur_block = NULL;
        cpu->pending_db = 0; /* a faulting instruction reports no data breakpoint */
        if (cpu->triple_fault) {
            cpu->triple_fault = 0;
            return CPU_EXIT_TRIPLE_FAULT;
        }
        cpu_deliver_pending_exception(cpu);
        cpu->pending_check = 1;
    }
    return run_loop(cpu, target);
}

int cpu_bp_insert(X86Cpu *cpu, uint32_t lin)
{
    if (dbg_bp_at(cpu, lin))
        return 0;
    if (cpu->dbg_nbp >= CPU_MAX_BREAKPOINTS)
        return -1;
    cpu->dbg_bp[cpu->dbg_nbp++] = lin;
    tc_flush(cpu); /* blocks must now end before lin */
    return 0;
}

int cpu_bp_remove(X86Cpu *cpu, uint32_t lin)
{
    for (int k = 0; k < cpu->dbg_nbp; k++) {
        if (cpu->dbg_bp[k] == lin) {
            cpu->dbg_bp[k] = cpu->dbg_bp[--cpu->dbg_nbp];
            return 0;
        }
    }
    return -1;
}

int cpu_wp_insert(X86Cpu *cpu, uint32_t lin, uint32_t len, int kind)
{
    if (len < 1 || len > 8 || kind < CPU_WATCH_WRITE || kind > CPU_WATCH_ACCESS)
        return -1;
    for (int k = 0; k < cpu->dbg_nwp; k++)
        if (cpu->dbg_wp[k].lin == lin && cpu->dbg_wp[k].len == len && cpu->dbg_wp[k].kind == kind)
            return 0;
    if (cpu->dbg_nwp >= CPU_MAX_WATCHPOINTS)
        return -1;
    cpu->dbg_wp[cpu->dbg_nwp].lin = lin;
    cpu->dbg_wp[cpu->dbg_nwp].len = len;
    cpu->dbg_wp[cpu->dbg_nwp].kind = kind;
    cpu->dbg_nwp++;
    tlb_flush_all(cpu); /* drop fast-path entries for the watched pages */
    return 0;
}

int cpu_wp_remove(X86Cpu *cpu, uint32_t lin, uint32_t len, int kind)
{
    for (int k = 0; k < cpu->dbg_nwp; k++) {
        if (cpu->dbg_wp[k].lin == lin && cpu->dbg_wp[k].len == len && cpu->dbg_wp[k].kind == kind) {
            cpu->dbg_wp[k] = cpu->dbg_wp[--cpu->dbg_nwp];
            tlb_flush_all(cpu);
            return 0;
        }
    }
    return -1;
}

bool cpu_wp_hit(X86Cpu *cpu, uint32_t *addr, int *kind)
{
    if (!cpu->dbg_wp_hit)
        return false;
    cpu->dbg_wp_hit = false;
    if (addr)
        *addr = cpu->dbg_wp_addr;
    if (kind)
        *kind = cpu->dbg_wp_kind;
    return true;
}

CpuExit cpu_debug_step(X86Cpu *cpu)
{
    cpu->cur_block = NULL;
    if (setjmp(cpu->jmp)) {
        cpu->pending_db = 0;
        if (cpu->triple_fault) {
            cpu->triple_fault = 0;
            return CPU_EXIT_TRIPLE_FAULT;
        }
        cpu_deliver_pending_exception(cpu);
        return CPU_EXIT_BUDGET;
    }
    if (cpu->halted)
        return CPU_EXIT_HALT;
    cpu->dbg_bp_skip_on = false;
    step_one(cpu);
    cpu->pending_check = 1;
    return cpu->halted ? CPU_EXIT_HALT : CPU_EXIT_BUDGET;
}

uint64_t cpu_icount(X86Cpu *cpu)
{
    /* Mid-block (a device reading the clock during an I/O instruction):
     * add the instructions of this block that retired before it. */
    if (cpu->cur_block)
        return cpu->icount + insn_index(cpu->cur_block, cpu->eip);
    return cpu->icount;
}

CpuExit cpu_step(X86Cpu *cpu)
{
    cpu->cur_block = NULL;
    if (setjmp(cpu->jmp)) {
        cpu->pending_db = 0;
        if (cpu->triple_fault) {
            cpu->triple_fault = 0;
            return CPU_EXIT_TRIPLE_FAULT;
        }
        cpu_deliver_pending_exception(cpu);
        return CPU_EXIT_BUDGET;
    }
    if (cpu->pending_check) {
        bool had_event = (cpu->nmi_pending && !cpu->nmi_blocked) ||
                         (cpu->intr_line && (cpu->eflags & EFLAGS_IF));
        int r = handle_events(cpu);
        if (r >= 0)
            return (CpuExit)r;
        if (had_event && !cpu->inhibit_irq)
            return CPU_EXIT_BUDGET; /* the event was delivered: that is the step */
    }
    if (cpu->halted)
        return CPU_EXIT_HALT;
    step_one(cpu);
    return cpu->halted ? CPU_EXIT_HALT : CPU_EXIT_BUDGET;
}
