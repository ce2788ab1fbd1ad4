/*
 * interrupt.c - exceptions and interrupt delivery (SDM vol. 3 ch. 6; vol. 2
 * INT n/INTO/INT3/INT1), double and triple faults (§6.15, table 6-5), and
 * cpu_log.
 *
 * cpu_raise() records the exception and longjmps to the run loop, which
 * calls cpu_deliver_pending_exception().  While an exception (INT_EXC) is
 * being delivered, cpu->exc_depth is 1 and cpu->in_exception_vec holds its
 * vector, so a fault raised during the delivery is classified against it:
 * contributory + contributory or #PF + (contributory or #PF) becomes #DF,
 * anything during #DF delivery is a triple fault (shutdown), the rest is
 * delivered serially.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cpu/exec.h"
#include "cpu/seg.h"

/* The exception recorded between cpu_raise() and its delivery (same thread,
 * nothing runs in between). */
static _Thread_local struct {
    X86Cpu *cpu;
    int vec;
    uint32_t err;
} pending;

/* Vectors that push an error code in protected mode: 8, 10-14, 17. */
#define EXC_ERRCODE_MASK 0x00027D00u
/* Fault-class vectors (RF is set in the pushed EFLAGS image, SDM vol. 3
 * §17.3.1.1): 0, 5, 6, 7, 10-14, 16, 17, 19.  Not #DB. */
#define EXC_FAULT_MASK 0x000B7CE1u

enum { CLS_BENIGN, CLS_CONTRIB, CLS_PF, CLS_DF };

static int exc_class(int vec)
{
    switch (vec) {
    case EXC_DE: case EXC_TS: case EXC_NP: case EXC_SS: case EXC_GP:
        return CLS_CONTRIB;
    case EXC_PF:
        return CLS_PF;
    case EXC_DF:
        return CLS_DF;
    default:
        return CLS_BENIGN;
    }
}

static inline bool exc_has_err(int vec)
{
    return vec < 32 && ((EXC_ERRCODE_MASK >> vec) & 1);
}

void cpu_log(X86Cpu *cpu, int category, const char *fmt, ...)
{
    if (!(cpu->log_mask & (unsigned)category) || !cpu->ops || !cpu->ops->log)
        return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cpu->ops->log(cpu->opaque, category, buf);
}

static NORETURN void raise_exc(X86Cpu *cpu, int vec, uint32_t err)
{
    if (cpu->exc_depth) {
        int first = exc_class(cpu->in_exception_vec), second = exc_class(vec);
        if (first == CLS_DF) {
            cpu_log(cpu, CPU_LOG_RESET | CPU_LOG_INT,
                    "triple fault: exception %d while delivering #DF at %04x:%08x", vec,
                    cpu->seg[SEG_CS].sel, cpu->eip);
            cpu->exc_depth = 0;
            cpu->in_exception_vec = -1;
            cpu->triple_fault = 1;
            pending.cpu = NULL;
            longjmp(cpu->jmp, 1);
        }
        if ((first == CLS_CONTRIB && second == CLS_CONTRIB) ||
            (first == CLS_PF && (second == CLS_CONTRIB || second == CLS_PF))) {
            cpu_log(cpu, CPU_LOG_INT, "double fault: exception %d while delivering %d", vec,
                    cpu->in_exception_vec);
            vec = EXC_DF;
            err = 0;
        }
    }
    cpu->exc_depth = 0;
    cpu->in_exception_vec = -1;
    pending.cpu = cpu;
    pending.vec = vec;
    pending.err = err;
    longjmp(cpu->jmp, 1);
}

NORETURN void cpu_raise(X86Cpu *cpu, int vec, uint32_t err) { raise_exc(cpu, vec, err); }

NORETURN void cpu_raise_noerr(X86Cpu *cpu, int vec) { raise_exc(cpu, vec, 0); }

void cpu_deliver_pending_exception(X86Cpu *cpu)
{
    if (cpu->triple_fault || pending.cpu != cpu)
        return;
    pending.cpu = NULL;
    cpu_do_interrupt(cpu, pending.vec, INT_EXC, pending.err, exc_has_err(pending.vec), cpu->eip);
}

/* ---- real mode (SDM vol. 2 INT: REAL-ADDRESS-MODE) ---- */

static void int_real(X86Cpu *cpu, int vec, uint32_t next_eip)
{
    if ((uint32_t)vec * 4 + 3 > cpu->idtr_limit)
        cpu_raise(cpu, EXC_GP, 0);
    Stk s;
    stk_cur(cpu, &s);
    if (!stk_can_push(&s, 3, 2))
        cpu_raise(cpu, EXC_SS, 0);
    uint32_t a = cpu->idtr_base + (uint32_t)vec * 4;
    uint16_t ip = sys_rd16(cpu, a);
    uint16_t cs = sys_rd16(cpu, a + 2);
    uint32_t fl = cpu_eflags(cpu);
    stk_push16(cpu, &s, (uint16_t)fl);
    stk_push16(cpu, &s, cpu->seg[SEG_CS].sel);
    stk_push16(cpu, &s, (uint16_t)next_eip);
    stk_commit(cpu, &s);
    cpu_load_eflags(cpu, 0, EFLAGS_IF | EFLAGS_TF | EFLAGS_AC);
    seg_load_real(cpu, SEG_CS, cs);
    cpu->eip = ip;
}

/* ---- protected mode ---- */

static void int_task_gate(X86Cpu *cpu, Desc g, uint32_t err, bool has_err, uint32_t next_eip,
                          uint32_t ext)
{
    uint16_t tsel = gate_sel(g);
    Desc td;
    uint32_t ta;
    if ((tsel & 4) || !desc_fetch(cpu, tsel, &td, &ta))
        cpu_raise(cpu, EXC_GP, sel_err(tsel) | ext);
    if (desc_s(td) || (desc_type(td) != DESC_TSS16_AVAIL && desc_type(td) != DESC_TSS32_AVAIL))
        cpu_raise(cpu, EXC_GP, sel_err(tsel) | ext);
    if (!desc_p(td))
        cpu_raise(cpu, EXC_NP, sel_err(tsel) | ext);
    bool ttrap = task_switch(cpu, tsel, td, ta, TS_INT, next_eip, ext);
    if (has_err) {
        Stk s;
        bool t32 = tss_is32(cpu);
        stk_cur(cpu, &s);
        if (!stk_can_push(&s, 1, t32 ? 4 : 2))
            cpu_raise(cpu, EXC_SS, ext);
        stk_push(cpu, &s, err, t32);
        stk_commit(cpu, &s);
    }
    if (cpu->eip > cpu->seg[SEG_CS].limit)
        cpu_raise(cpu, EXC_GP, ext);
    if (ttrap)
        cpu_raise_noerr(cpu, EXC_DB);
}

static void int_pm(X86Cpu *cpu, int vec, int kind, uint32_t err, bool has_err, uint32_t next_eip)
{
    uint32_t ext = kind == INT_SOFT ? 0 : 1;
    uint32_t gerr = (uint32_t)vec * 8 + 2 + ext;
    if ((uint32_t)vec * 8 + 7 > cpu->idtr_limit)
        cpu_raise(cpu, EXC_GP, gerr);
    Desc g;
    uint32_t ga = cpu->idtr_base + (uint32_t)vec * 8;
    g.lo = sys_rd32(cpu, ga);
    g.hi = sys_rd32(cpu, ga + 4);
    unsigned type = desc_type(g);
    if (desc_s(g) || !(type == DESC_TASKGATE || type == DESC_INTGATE16 || type == DESC_TRAPGATE16 ||
                       type == DESC_INTGATE32 || type == DESC_TRAPGATE32))
        cpu_raise(cpu, EXC_GP, gerr);
    if (kind == INT_SOFT && desc_dpl(g) < cpu->cpl)
        cpu_raise(cpu, EXC_GP, gerr);
    if (!desc_p(g))
        cpu_raise(cpu, EXC_NP, gerr);
    if (type == DESC_TASKGATE) {
        int_task_gate(cpu, g, err, has_err, next_eip, ext);
        return;
    }

    bool g32 = (type & 8) != 0;
    unsigned sz = g32 ? 4 : 2;
    uint16_t csel = gate_sel(g);
    uint32_t off = gate_off(g, g32);
    Desc cd;
    uint32_t ca;
    if ((csel & 0xFFFC) == 0)
        cpu_raise(cpu, EXC_GP, ext);
    if (!desc_fetch(cpu, csel, &cd, &ca))
        cpu_raise(cpu, EXC_GP, sel_err(csel) | ext);
    unsigned cpl = cpu->cpl, dpl = desc_dpl(cd);
    if (!desc_code(cd) || dpl > cpl)
        cpu_raise(cpu, EXC_GP, sel_err(csel) | ext);
    if (!desc_p(cd))
        cpu_raise(cpu, EXC_NP, sel_err(csel) | ext);
    bool vm = (cpu->eflags & EFLAGS_VM) != 0;
    bool outer = !desc_conforming(cd) && dpl < cpl;
    if (vm && (!outer || dpl != 0))
        cpu_raise(cpu, EXC_GP, sel_err(csel) | ext);

    Stk s;
    SegReg nss;
    if (outer) {
        uint16_t ss;
        uint32_t esp;
        tss_stack(cpu, dpl, &ss, &esp, ext);
        seg_check_new_ss(cpu, ss, dpl, ext, &nss);
        stk_new(&s, &nss, esp, dpl);
        if (!stk_can_push(&s, 5 + (vm ? 4 : 0) + has_err, sz))
            cpu_raise(cpu, EXC_SS, sel_err(ss) | ext);
    } else {
        stk_cur(cpu, &s);
        if (!stk_can_push(&s, 3 + has_err, sz))
            cpu_raise(cpu, EXC_SS, ext);
    }
    if (off > desc_limit(cd))
        cpu_raise(cpu, EXC_GP, ext);
    desc_set_accessed(cpu, ca, &cd);

    uint32_t fl = cpu_eflags(cpu);
    if (kind == INT_EXC && vec < 32 && ((EXC_FAULT_MASK >> vec) & 1))
        fl |= EFLAGS_RF;
    if (outer) {
        if (vm) {
            stk_push(cpu, &s, cpu->seg[SEG_GS].sel, g32);
            stk_push(cpu, &s, cpu->seg[SEG_FS].sel, g32);
            stk_push(cpu, &s, cpu->seg[SEG_DS].sel, g32);
            stk_push(cpu, &s, cpu->seg[SEG_ES].sel, g32);
        }
        stk_push(cpu, &s, cpu->seg[SEG_SS].sel, g32);
        stk_push(cpu, &s, cpu->r[R_ESP], g32);
    }
    stk_push(cpu, &s, fl, g32);
    stk_push(cpu, &s, cpu->seg[SEG_CS].sel, g32);
    stk_push(cpu, &s, next_eip, g32);
    if (has_err)
        stk_push(cpu, &s, err, g32);

    /* Commit. */
    if (outer) {
        cpu->seg[SEG_SS] = nss;
        if (vm) {
            seg_cache_null(&cpu->seg[SEG_ES], 0);
            seg_cache_null(&cpu->seg[SEG_DS], 0);
            seg_cache_null(&cpu->seg[SEG_FS], 0);
            seg_cache_null(&cpu->seg[SEG_GS], 0);
        }
    }
    stk_commit(cpu, &s);
    seg_load_cs_pm(cpu, csel, cd, ca, outer ? dpl : cpl);
    cpu->eip = off;
    uint32_t clr = EFLAGS_TF | EFLAGS_NT | EFLAGS_RF | EFLAGS_VM;
    if (!(type & 1))
        clr |= EFLAGS_IF; /* interrupt gate */
    cpu_load_eflags(cpu, 0, clr);
    cpu_mode_changed(cpu);
}

void cpu_do_interrupt(X86Cpu *cpu, int vec, int kind, uint32_t err, bool has_err,
                      uint32_t next_eip)
{
    if (unlikely(cpu->log_mask & CPU_LOG_INT))
        cpu_log(cpu, CPU_LOG_INT, "int %#x kind %d err %#x at %04x:%08x next %08x cpl %d%s%08x eax %08x esp %08x",
                vec, kind, has_err ? err : 0, cpu->seg[SEG_CS].sel, cpu->eip, next_eip, cpu->cpl,
                vec == EXC_PF ? " cr2 " : " cr0 ", vec == EXC_PF ? cpu->cr2 : cpu->cr0, cpu->r[R_EAX],
                cpu->r[R_ESP]);
    if (unlikely(cpu->log_mask & CPU_LOG_INT) && kind == INT_EXC) {
        uint32_t h[CPU_HISTORY];
        int n = cpu_history(cpu, h, CPU_HISTORY);
        if (n > 8) {
            cpu_log(cpu, CPU_LOG_INT, "  recent blocks: %08x %08x %08x %08x %08x %08x %08x %08x", h[n - 8],
                    h[n - 7], h[n - 6], h[n - 5], h[n - 4], h[n - 3], h[n - 2], h[n - 1]);
        }
    }
    if (kind == INT_EXC) {
        cpu->exc_depth = 1;
        cpu->in_exception_vec = vec;
    }
    if (!(cpu->cr0 & CR0_PE))
        int_real(cpu, vec, next_eip);
    else
        int_pm(cpu, vec, kind, err, has_err, next_eip);
    if (kind == INT_EXC) {
        cpu->exc_depth = 0;
        cpu->in_exception_vec = -1;
    }
    if (kind == INT_NMI)
        cpu->nmi_blocked = 1;
    cpu->halted = 0;
}
