/*
 * test_cpu_ctrl.c - control transfer, interrupts and exceptions, far
 * transfers through gates, task switches and V86 mode (SDM vol. 2 JMP/CALL/
 * RET/IRET/INT/LOOP/Jcc; vol. 3 ch. 5-7, 20), through the public CPU API.
 *
 * Protected-mode tests run flat with a GDT, an IDT whose 80 vectors are
 * 32-bit interrupt gates (DPL 0) to `jmp $` loops at HND + 16 * vector, and
 * a TSS (ESP0 = 0x8000) for CPL 3 -> 0 transitions.  Expected values are
 * worked out from the SDM pseudocode.  The snippets are in
 * test_cpu_ctrl_gen.py (nasm source) / test_cpu_ctrl_code.inc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/cpu.h"
#include "mem/phys.h"

#include "test_cpu_ctrl_code.inc"

enum {
    GDT = 0x1000, IDT = 0x1800, HND = 0x3000, GATE_TGT = 0x3600, R0 = 0x3800,
    TSS1 = 0x4000, TSS2 = 0x4200, TASK2 = 0x5000, V86CODE = 0x6000,
    USTACK = 0x7000, ESP0 = 0x8000, KSTACK = 0x9000, T2STACK = 0x9800,
    CODE = 0x10000,
};
enum {
    SEL_CODE = 0x08, SEL_DATA = 0x10, SEL_UCODE = 0x1B, SEL_UDATA = 0x23, SEL_TSS1 = 0x28,
    SEL_TSS2 = 0x30, SEL_CGATE = 0x38, SEL_NPCODE = 0x48,
};
enum { NVEC = 80 };
#define CR0_PE 0x1u
#define CR0_TS 0x8u
#define CR0_ET 0x10u
#define F_CF 0x1u
#define F_PF 0x4u
#define F_ZF 0x40u
#define F_SF 0x80u
#define F_TF 0x100u
#define F_IF 0x200u
#define F_OF 0x800u
#define F_IOPL3 0x3000u
#define F_NT 0x4000u
#define F_RF 0x10000u
#define F_VM 0x20000u

typedef struct Env {
    PhysMem pm;
    X86Cpu *cpu;
    CpuHostOps ops;
    char log[4096];
    int intr_vec;
} Env;

static void host_log(void *opaque, int category, const char *msg)
{
    Env *e = opaque;
    (void)category;
    size_t n = strlen(e->log);
    if (n + strlen(msg) + 2 < sizeof(e->log)) {
        strcat(e->log, msg);
        strcat(e->log, "\n");
    }
}

static int host_intr_ack(void *opaque)
{
    Env *e = opaque;
    return e->intr_vec;
}

static void put16(Env *e, uint32_t a, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    phys_write_buf(&e->pm, a, b, 2);
}

static void put32(Env *e, uint32_t a, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    phys_write_buf(&e->pm, a, b, 4);
}

static uint16_t get16(Env *e, uint32_t a)
{
    uint8_t b[2];
    phys_read_buf(&e->pm, a, b, 2);
    return (uint16_t)(b[0] | (b[1] << 8));
}

static uint32_t get32(Env *e, uint32_t a)
{
    uint8_t b[4];
    phys_read_buf(&e->pm, a, b, 4);
    return b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
}

static uint8_t get8(Env *e, uint32_t a)
{
    uint8_t b;
    phys_read_buf(&e->pm, a, &b, 1);
    return b;
}

static void put_code(Env *e, uint32_t a, const uint8_t *code, size_t n)
{
    phys_write_buf(&e->pm, a, code, n);
}

static void gdt_set(Env *e, unsigned sel, uint32_t base, uint32_t limit, unsigned type, unsigned flags)
{
    uint32_t lo = (base << 16) | (limit & 0xFFFF);
    uint32_t hi = (base & 0xFF000000u) | ((flags & 0xFu) << 20) | (limit & 0xF0000u) |
                  ((type & 0xFFu) << 8) | ((base >> 16) & 0xFF);
    put32(e, GDT + (sel & ~7u), lo);
    put32(e, GDT + (sel & ~7u) + 4, hi);
}

/* IDT entry: type byte (P, DPL, type), selector, offset. */
static void idt_set(Env *e, unsigned vec, unsigned typebyte, uint16_t sel, uint32_t off)
{
    put32(e, IDT + 8 * vec, ((uint32_t)sel << 16) | (off & 0xFFFF));
    put32(e, IDT + 8 * vec + 4, (off & 0xFFFF0000u) | (typebyte << 8));
}

static void set_seg(Env *e, int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t ar)
{
    CpuSeg sg = { sel, base, limit, ar };
    cpu_set_seg(e->cpu, s, &sg);
}

static CpuSeg seg(Env *e, int s)
{
    CpuSeg sg;
    cpu_get_seg(e->cpu, s, &sg);
    return sg;
}

/* Second pass of the tests: translation cache off (reference interpreter). */
static bool no_tcache;

static int setup(void **state)
{
    Env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(phys_init(&e->pm, 16u << 20), 0);
    e->ops.log = host_log;
    e->ops.intr_ack = host_intr_ack;
    e->cpu = cpu_new(&e->pm, &e->ops, e);
    assert_non_null(e->cpu);
    cpu_set_tcache_enabled(e->cpu, !no_tcache);
    static const uint8_t loop[2] = { 0xEB, 0xFE }; /* jmp $ */
    for (unsigned v = 0; v < NVEC; v++) {
        put_code(e, HND + 16 * v, loop, 2);
        idt_set(e, v, 0x8E, SEL_CODE, HND + 16 * v);
    }
    put_code(e, GATE_TGT, loop, 2);
    static const uint8_t r0[] = { 0xCF };             /* R0: iret */
    static const uint8_t r0_retf8[] = { 0xCA, 0x08, 0x00 }; /* R0+0x10: retf 8 */
    put_code(e, R0, r0, sizeof(r0));
    put_code(e, R0 + 0x10, r0_retf8, sizeof(r0_retf8));
    gdt_set(e, SEL_CODE, 0, 0xFFFFF, 0x9B, 0xC);
    gdt_set(e, SEL_DATA, 0, 0xFFFFF, 0x93, 0xC);
    gdt_set(e, SEL_UCODE, 0, 0xFFFFF, 0xFB, 0xC);
    gdt_set(e, SEL_UDATA, 0, 0xFFFFF, 0xF3, 0xC);
    gdt_set(e, SEL_TSS1, TSS1, 0x67, 0x8B, 0); /* busy: it is the current task */
    gdt_set(e, SEL_TSS2, TSS2, 0x67, 0x89, 0);
    gdt_set(e, SEL_NPCODE, 0, 0xFFFFF, 0x1B, 0xC); /* code, not present */
    put32(e, TSS1 + 4, ESP0);
    put32(e, TSS1 + 8, SEL_DATA);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    Env *e = *state;
    cpu_free(e->cpu);
    phys_free(&e->pm);
    free(e);
    return 0;
}

/* Flat 32-bit protected mode at CPL 0. */
static void setup_pm(Env *e)
{
    X86Cpu *cpu = e->cpu;
    cpu_set_dtr(cpu, 0, GDT, 0x7F);
    cpu_set_dtr(cpu, 1, IDT, NVEC * 8 - 1);
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET);
    set_seg(e, SEG_CS, SEL_CODE, 0, 0xFFFFFFFFu, 0xC09B);
    set_seg(e, SEG_SS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_DS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_ES, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_FS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_GS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_TR, SEL_TSS1, TSS1, 0x67, 0x8B);
    set_seg(e, SEG_LDTR, 0, 0, 0, 0);
    cpu_set_eflags(cpu, 0x2);
    cpu_set_reg(cpu, R_ESP, KSTACK);
}

/* CPL 3 with flat user segments (IF set). */
static void to_user(Env *e)
{
    set_seg(e, SEG_CS, SEL_UCODE, 0, 0xFFFFFFFFu, 0xC0FB);
    set_seg(e, SEG_SS, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    set_seg(e, SEG_DS, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    set_seg(e, SEG_ES, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    set_seg(e, SEG_FS, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    set_seg(e, SEG_GS, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    cpu_set_eflags(e->cpu, 0x202);
    cpu_set_reg(e->cpu, R_ESP, USTACK);
    assert_int_equal(cpu_get_cpl(e->cpu), 3);
}

/* Real mode: CS = 0x1000 (base 0x10000), SS:SP = 0:0x1000, IVT at 0. */
static void setup_real(Env *e)
{
    set_seg(e, SEG_CS, 0x1000, 0x10000, 0xFFFF, 0x93);
    set_seg(e, SEG_SS, 0, 0, 0xFFFF, 0x93);
    set_seg(e, SEG_DS, 0, 0, 0xFFFF, 0x93);
    cpu_set_reg(e->cpu, R_ESP, 0x1000);
    cpu_set_eflags(e->cpu, 0x2);
}

/* Run code placed at linear `at` (flat CS) for up to budget instructions. */
static CpuExit run_at(Env *e, uint32_t at, const uint8_t *code, size_t n, uint64_t budget)
{
    put_code(e, at, code, n);
    cpu_set_eip(e->cpu, at);
    return cpu_run(e->cpu, budget);
}

#define RUN(e, code) run_at((e), CODE, (code), sizeof(code), 1000)

/* The vector whose handler loop the CPU is in, or -1. */
static int vector(Env *e)
{
    uint32_t eip = cpu_get_eip(e->cpu);
    if (seg(e, SEG_CS).base == 0 && eip >= HND && eip < HND + 16 * NVEC && (eip - HND) % 16 == 0)
        return (int)((eip - HND) / 16);
    return -1;
}

/* Dword k of the frame at SS:ESP (flat stack). */
static uint32_t frame(Env *e, int k)
{
    return get32(e, seg(e, SEG_SS).base + cpu_get_reg(e->cpu, R_ESP) + 4 * k);
}

static uint16_t frame16(Env *e, int k)
{
    return get16(e, seg(e, SEG_SS).base + (cpu_get_reg(e->cpu, R_ESP) & 0xFFFF) + 2 * k);
}

/* ---- real mode ---- */

static void test_real_int_iret(void **state)
{
    Env *e = *state;
    setup_real(e);
    put32(e, 0x21 * 4, 0x03000000); /* IVT[0x21] = 0300:0000 */
    put_code(e, 0x3000, code_real_hnd_21, sizeof(code_real_hnd_21));
    put_code(e, CODE, code_real_int, sizeof(code_real_int));
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET); /* sti */
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET); /* int 0x21 */
    assert_int_equal(seg(e, SEG_CS).sel, 0x0300);
    assert_int_equal(seg(e, SEG_CS).base, 0x3000);
    assert_int_equal(cpu_get_eip(e->cpu), 0);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x0FFA);
    assert_int_equal(get16(e, 0xFFA), 3);      /* IP after INT */
    assert_int_equal(get16(e, 0xFFC), 0x1000); /* CS */
    assert_int_equal(get16(e, 0xFFE), 0x0202); /* FLAGS with IF */
    assert_int_equal(cpu_get_eflags(e->cpu) & (F_IF | F_TF), 0);

    assert_int_equal(cpu_run(e->cpu, 100), CPU_EXIT_BUDGET);
    assert_int_equal(seg(e, SEG_CS).sel, 0x1000);
    assert_int_equal(cpu_get_eip(e->cpu), 3);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX) & 0xFFFF, 0x1234);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x1000);
    assert_true(cpu_get_eflags(e->cpu) & F_IF);
}

static void test_real_fault_frame(void **state)
{
    Env *e = *state;
    setup_real(e);
    put32(e, 0, 0x03000000); /* IVT[0] = 0300:0000: jmp $ */
    put_code(e, CODE, code_real_div0, sizeof(code_real_div0));
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_run(e->cpu, 100), CPU_EXIT_BUDGET);
    assert_int_equal(seg(e, SEG_CS).sel, 0x0300);
    assert_int_equal(cpu_get_eip(e->cpu), 0);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x0FFA);
    assert_int_equal(get16(e, 0xFFA), 2); /* #DE is a fault: IP of the DIV */
    assert_int_equal(get16(e, 0xFFC), 0x1000);
}

static void test_real_far_call_ret(void **state)
{
    Env *e = *state;
    setup_real(e);
    static const uint8_t loop[2] = { 0xEB, 0xFE };
    put_code(e, CODE + 0x20, loop, 2);
    put_code(e, 0x4000, code_real_far_tgt, sizeof(code_real_far_tgt));
    put_code(e, CODE, code_real_far, sizeof(code_real_far));
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET); /* call 0400:0000 */
    assert_int_equal(seg(e, SEG_CS).sel, 0x0400);
    assert_int_equal(seg(e, SEG_CS).base, 0x4000);
    assert_int_equal(cpu_get_eip(e->cpu), 0);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x0FFC);
    assert_int_equal(get16(e, 0xFFC), 5);
    assert_int_equal(get16(e, 0xFFE), 0x1000);
    assert_int_equal(cpu_run(e->cpu, 100), CPU_EXIT_BUDGET);
    assert_int_equal(seg(e, SEG_CS).sel, 0x1000);
    assert_int_equal(cpu_get_eip(e->cpu), 0x20);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x1000);
}

static void test_real_loop_cx_ecx(void **state)
{
    Env *e = *state;
    setup_real(e);
    put_code(e, CODE, code_real_loop, sizeof(code_real_loop));
    /* loop $ (CX): 3 iterations, ECX[31:16] untouched. */
    cpu_set_reg(e->cpu, R_ECX, 0x00070003);
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_run(e->cpu, 3), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0x00070000);
    /* a32 loop $ (ECX): 0x00010001 -> 0 in 0x10001 iterations. */
    cpu_set_reg(e->cpu, R_ECX, 0x00010001);
    assert_int_equal(cpu_run(e->cpu, 0x10001), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), 5);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0);
}

static void test_real_triple_fault(void **state)
{
    Env *e = *state;
    setup_real(e);
    cpu_set_log_mask(e->cpu, 0xFFFF);
    cpu_set_dtr(e->cpu, 1, 0, 0); /* IVT limit 0: INT 21h -> #GP -> #DF -> shutdown */
    put_code(e, CODE, code_real_int + 1, 4);
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_run(e->cpu, 100), CPU_EXIT_TRIPLE_FAULT);
    assert_non_null(strstr(e->log, "triple fault"));
}

/* Jcc rel8/rel16 wrap at 64 KiB with a 16-bit operand size. */
static void test_jcc_wrap16(void **state)
{
    Env *e = *state;
    static const uint8_t loop[2] = { 0xEB, 0xFE };
    static const uint8_t jz_fwd[2] = { 0x74, 0x20 };  /* at FFF0: -> 0012 */
    static const uint8_t jnz_back[2] = { 0x75, 0xF0 }; /* at 0000: -> FFF2 */
    setup_real(e);
    put_code(e, CODE + 0xFFF0, jz_fwd, 2);
    put_code(e, CODE + 0x0012, loop, 2);
    put_code(e, CODE + 0x0000, jnz_back, 2);
    put_code(e, CODE + 0xFFF2, loop, 2);
    cpu_set_eflags(e->cpu, 0x2 | F_ZF);
    cpu_set_eip(e->cpu, 0xFFF0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), 0x0012);
    cpu_set_eflags(e->cpu, 0x2);
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), 0xFFF2);

    /* 32-bit code, o16 jz rel16: EIP = (EIP + 5 + 0x10) & 0xFFFF. */
    setup_pm(e);
    put_code(e, 0x15, loop, 2);
    cpu_set_eflags(e->cpu, 0x2 | F_ZF);
    assert_int_equal(RUN(e, code_pm_o16_jcc), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), 0x15);
    cpu_set_eflags(e->cpu, 0x2);
    assert_int_equal(RUN(e, code_pm_o16_jcc), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 5);
}

/* ---- Jcc, LOOP, near transfers ---- */

static bool cond(int cc, uint32_t f)
{
    bool cf = f & F_CF, pf = f & F_PF, zf = f & F_ZF, sf = f & F_SF, of = f & F_OF;
    bool r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || (sf != of); break;
    }
    return (cc & 1) ? !r : r;
}

static void test_jcc_all(void **state)
{
    Env *e = *state;
    setup_pm(e);
    for (int cc = 0; cc < 16; cc++) {
        uint8_t s[6] = { (uint8_t)(0x70 + cc), 0x02, 0xEB, 0xFE, 0xEB, 0xFE };
        uint8_t l[10] = { 0x0F, (uint8_t)(0x80 + cc), 0x02, 0, 0, 0, 0xEB, 0xFE, 0xEB, 0xFE };
        put_code(e, CODE + 16 * cc, s, sizeof(s));
        put_code(e, CODE + 0x100 + 16 * cc, l, sizeof(l));
    }
    for (unsigned m = 0; m < 32; m++) {
        uint32_t f = 0x2 | ((m & 1) ? F_CF : 0) | ((m & 2) ? F_PF : 0) | ((m & 4) ? F_ZF : 0) |
                     ((m & 8) ? F_SF : 0) | ((m & 16) ? F_OF : 0);
        for (int cc = 0; cc < 16; cc++) {
            bool t = cond(cc, f);
            cpu_set_eflags(e->cpu, f);
            cpu_set_eip(e->cpu, CODE + 16 * cc);
            assert_int_equal(cpu_run(e->cpu, 4), CPU_EXIT_BUDGET);
            assert_int_equal(cpu_get_eip(e->cpu), CODE + 16 * cc + (t ? 4 : 2));
            cpu_set_eflags(e->cpu, f);
            cpu_set_eip(e->cpu, CODE + 0x100 + 16 * cc);
            assert_int_equal(cpu_run(e->cpu, 4), CPU_EXIT_BUDGET);
            assert_int_equal(cpu_get_eip(e->cpu), CODE + 0x100 + 16 * cc + (t ? 8 : 6));
            /* Jcc does not touch the flags. */
            assert_int_equal(cpu_get_eflags(e->cpu) & 0x8D5, f & 0x8D5);
        }
    }
}

static void test_loop_pm(void **state)
{
    Env *e = *state;
    setup_pm(e);
    put_code(e, CODE, code_pm_loop, sizeof(code_pm_loop));
    cpu_set_reg(e->cpu, R_ECX, 3);
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_run(e->cpu, 3), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0);
    /* a16 loop: CX only. */
    cpu_set_reg(e->cpu, R_ECX, 0x00050002);
    cpu_set_eip(e->cpu, CODE + 2);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 5);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0x00050000);

    /* loope / loopne */
    put_code(e, CODE, code_pm_loopcc, sizeof(code_pm_loopcc));
    cpu_set_reg(e->cpu, R_ECX, 5);
    cpu_set_eflags(e->cpu, 0x2 | F_ZF);
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_run(e->cpu, 20), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 4);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0xFFFFFFFFu);
    cpu_set_reg(e->cpu, R_ECX, 5);
    cpu_set_eflags(e->cpu, 0x2);
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_run(e->cpu, 20), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 4);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0);

    /* jecxz / a16 jcxz */
    put_code(e, CODE, code_pm_jcxz, sizeof(code_pm_jcxz));
    uint32_t t1 = CODE + sizeof(code_pm_jcxz) - 4, t2 = CODE + sizeof(code_pm_jcxz) - 2;
    cpu_set_reg(e->cpu, R_ECX, 0x00010000);
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), t2);
    cpu_set_reg(e->cpu, R_ECX, 0);
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), t1);
}

static void test_near_transfers(void **state)
{
    Env *e = *state;
    setup_pm(e);
    assert_int_equal(RUN(e, code_near), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + sizeof(code_near) - 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 4);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x9000);
}

/* ---- protected-mode interrupts ---- */

static void test_pm_int_gate_same_level(void **state)
{
    Env *e = *state;
    setup_pm(e);
    assert_int_equal(RUN(e, code_pm_int40), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 0x40);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), KSTACK - 12);
    assert_int_equal(frame(e, 0), CODE + 3);
    assert_int_equal(frame(e, 1), SEL_CODE);
    assert_int_equal(frame(e, 2), 0x202);
    assert_int_equal(cpu_get_eflags(e->cpu) & F_IF, 0); /* interrupt gate */

    /* Trap gate: IF stays set. */
    setup_pm(e);
    idt_set(e, 0x40, 0x8F, SEL_CODE, HND + 16 * 0x40);
    assert_int_equal(RUN(e, code_pm_int40), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 0x40);
    assert_true(cpu_get_eflags(e->cpu) & F_IF);
    /* IRET returns behind INT. */
    cpu_set_eip(e->cpu, R0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 3);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), KSTACK);
}

static void test_pm_int_from_ring3(void **state)
{
    Env *e = *state;
    setup_pm(e);
    idt_set(e, 0x40, 0xEE, SEL_CODE, HND + 16 * 0x40); /* DPL 3 */
    to_user(e);
    assert_int_equal(RUN(e, code_user_int40), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 0x40);
    assert_int_equal(cpu_get_cpl(e->cpu), 0);
    assert_int_equal(seg(e, SEG_SS).sel, SEL_DATA);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 20);
    assert_int_equal(frame(e, 0), CODE + 2);
    assert_int_equal(frame(e, 1), SEL_UCODE);
    assert_int_equal(frame(e, 2), 0x202);
    assert_int_equal(frame(e, 3), USTACK);
    assert_int_equal(frame(e, 4), SEL_UDATA);
    assert_int_equal(cpu_get_eflags(e->cpu) & F_IF, 0);

    /* IRET to ring 3: DS (DPL 0) becomes null, ES (DPL 3) stays. */
    set_seg(e, SEG_DS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    cpu_set_eip(e->cpu, R0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 2);
    assert_int_equal(cpu_get_cpl(e->cpu), 3);
    assert_int_equal(seg(e, SEG_CS).sel, SEL_UCODE);
    assert_int_equal(seg(e, SEG_SS).sel, SEL_UDATA);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), USTACK);
    assert_int_equal(seg(e, SEG_DS).sel, 0);
    assert_int_equal(seg(e, SEG_ES).sel, SEL_UDATA);
    assert_true(cpu_get_eflags(e->cpu) & F_IF);
}

static void test_pm_int16_gate_from_ring3(void **state)
{
    Env *e = *state;
    setup_pm(e);
    idt_set(e, 0x44, 0xE6, SEL_CODE, HND + 16 * 0x44); /* 16-bit interrupt gate, DPL 3 */
    to_user(e);
    assert_int_equal(RUN(e, code_user_int44), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 0x44);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 10);
    assert_int_equal(frame16(e, 0), (CODE + 2) & 0xFFFF);
    assert_int_equal(frame16(e, 1), SEL_UCODE);
    assert_int_equal(frame16(e, 2), 0x202);
    assert_int_equal(frame16(e, 3), USTACK);
    assert_int_equal(frame16(e, 4), SEL_UDATA);
}

static void test_pm_gate_errors(void **state)
{
    Env *e = *state;
    /* INT n from ring 3 through a DPL-0 gate: #GP(vec*8+2), RF in the image. */
    setup_pm(e);
    to_user(e);
    assert_int_equal(RUN(e, code_user_int41), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 24);
    assert_int_equal(frame(e, 0), 0x41 * 8 + 2);
    assert_int_equal(frame(e, 1), CODE);
    assert_int_equal(frame(e, 2), SEL_UCODE);
    assert_int_equal(frame(e, 3), 0x202 | F_RF);
    assert_int_equal(frame(e, 4), USTACK);
    assert_int_equal(frame(e, 5), SEL_UDATA);

    /* A gate of an invalid type. */
    setup_pm(e);
    put32(e, IDT + 8 * 0x42 + 4, 0x8000);
    assert_int_equal(RUN(e, code_pm_int42), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), 0x42 * 8 + 2);
    assert_int_equal(frame(e, 1), CODE);

    /* A vector beyond the IDT limit. */
    setup_pm(e);
    assert_int_equal(RUN(e, code_pm_intF0), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), 0xF0 * 8 + 2);

    /* Exception through a not-present gate: #NP(vec*8+2+EXT). */
    setup_pm(e);
    put32(e, IDT + 8 * 6 + 4, get32(e, IDT + 8 * 6 + 4) & ~0x8000u);
    assert_int_equal(RUN(e, code_pm_ud2), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 11);
    assert_int_equal(frame(e, 0), 6 * 8 + 3);
    assert_int_equal(frame(e, 1), CODE + 1);
    assert_int_equal(frame(e, 3), 0x2 | F_RF);

    /* Far JMP to a not-present code segment: #NP(sel). */
    setup_pm(e);
    assert_int_equal(RUN(e, code_pm_jmp_np), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 11);
    assert_int_equal(frame(e, 0), SEL_NPCODE);
    assert_int_equal(frame(e, 1), CODE);
}

static void test_pm_double_fault(void **state)
{
    Env *e = *state;
    setup_pm(e);
    /* #GP (bad gate) while #GP's own gate is not present: #NP during #GP
     * delivery, contributory + contributory = #DF(0). */
    put32(e, IDT + 8 * 0x42 + 4, 0x8000);
    put32(e, IDT + 8 * 13 + 4, get32(e, IDT + 8 * 13 + 4) & ~0x8000u);
    assert_int_equal(RUN(e, code_pm_int42), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 8);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE);
    assert_int_equal(frame(e, 2), SEL_CODE);

    /* Benign + contributory: serial.  #UD with a not-present #UD gate gives
     * #NP, not #DF (tested above); #BP (soft) with a bad gate gives #GP. */
}

static void test_pm_triple_fault(void **state)
{
    Env *e = *state;
    setup_pm(e);
    cpu_set_log_mask(e->cpu, 0xFFFF);
    cpu_set_dtr(e->cpu, 1, IDT, 7); /* only vector 0 */
    assert_int_equal(RUN(e, code_pm_int3), CPU_EXIT_TRIPLE_FAULT);
    assert_non_null(strstr(e->log, "triple fault"));
    assert_non_null(strstr(e->log, "double fault"));
}

static void test_misc_exceptions(void **state)
{
    Env *e = *state;
    /* BOUND: in range, then #BR (fault, no error code). */
    setup_pm(e);
    assert_int_equal(RUN(e, code_pm_misc), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 5);
    assert_int_equal(frame(e, 0), CODE + 36);
    assert_int_equal(frame(e, 1), SEL_CODE);
    /* INTO with OF set: trap, EIP after INTO. */
    setup_pm(e);
    assert_int_equal(RUN(e, code_pm_into), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 4);
    assert_int_equal(frame(e, 0), CODE + 5);
    /* ICEBP: #DB as a trap. */
    setup_pm(e);
    assert_int_equal(RUN(e, code_pm_icebp), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 1);
    assert_int_equal(frame(e, 0), CODE + 1);
    /* CLI at CPL 3 with IOPL 0: #GP(0); with IOPL 3 it works. */
    setup_pm(e);
    to_user(e);
    assert_int_equal(RUN(e, code_user_priv), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE);
    setup_pm(e);
    to_user(e);
    cpu_set_eflags(e->cpu, 0x202 | F_IOPL3);
    assert_int_equal(RUN(e, code_user_priv), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 1);
    assert_int_equal(cpu_get_eflags(e->cpu) & F_IF, 0);
    /* HLT at CPL 3: #GP(0). */
    setup_pm(e);
    to_user(e);
    assert_int_equal(RUN(e, code_user_hlt), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 1), CODE);
}

static void test_nmi_and_intr(void **state)
{
    Env *e = *state;
    static const uint8_t loop[2] = { 0xEB, 0xFE };
    setup_pm(e);
    put_code(e, CODE, loop, 2);
    cpu_set_eip(e->cpu, CODE);
    cpu_raise_nmi(e->cpu);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 2);
    assert_int_equal(frame(e, 0), CODE);
    /* A second NMI waits for IRET. */
    cpu_raise_nmi(e->cpu);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), KSTACK - 12);
    cpu_set_eip(e->cpu, R0); /* iret: unblocks, the pending NMI is taken */
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), KSTACK - 12);
    assert_int_equal(frame(e, 0), CODE);

    /* INTR with IF set: the acknowledged vector, EXT delivery. */
    setup_pm(e);
    cpu_set_eflags(e->cpu, 0x202);
    e->intr_vec = 0x30;
    cpu_set_eip(e->cpu, CODE);
    cpu_set_intr(e->cpu, 1);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    cpu_set_intr(e->cpu, 0);
    assert_int_equal(vector(e), 0x30);
    assert_int_equal(frame(e, 0), CODE);
    assert_int_equal(frame(e, 2), 0x202);
}

/* ---- call gates, RETF to an outer level ---- */

static void test_call_gate_ring3(void **state)
{
    Env *e = *state;
    setup_pm(e);
    /* 32-bit call gate, DPL 3, 2 parameters, to SEL_CODE:GATE_TGT. */
    put32(e, GDT + SEL_CGATE, ((uint32_t)SEL_CODE << 16) | (GATE_TGT & 0xFFFF));
    put32(e, GDT + SEL_CGATE + 4, (GATE_TGT & 0xFFFF0000u) | 0xEC00 | 2);
    to_user(e);
    assert_int_equal(RUN(e, code_user_callgate), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), GATE_TGT);
    assert_int_equal(cpu_get_cpl(e->cpu), 0);
    assert_int_equal(seg(e, SEG_CS).sel, SEL_CODE);
    assert_int_equal(seg(e, SEG_SS).sel, SEL_DATA);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 24);
    assert_int_equal(frame(e, 0), CODE + 17);
    assert_int_equal(frame(e, 1), SEL_UCODE);
    assert_int_equal(frame(e, 2), 0x22222222);
    assert_int_equal(frame(e, 3), 0x11111111);
    assert_int_equal(frame(e, 4), USTACK - 8);
    assert_int_equal(frame(e, 5), SEL_UDATA);

    /* RETF 8 back to ring 3: pops the parameters on both stacks. */
    set_seg(e, SEG_DS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    cpu_set_eip(e->cpu, R0 + 0x10);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 17);
    assert_int_equal(cpu_get_cpl(e->cpu), 3);
    assert_int_equal(seg(e, SEG_SS).sel, SEL_UDATA);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), USTACK);
    assert_int_equal(seg(e, SEG_DS).sel, 0);

    /* A gate with DPL 0 is not reachable from ring 3: #GP(gate). */
    setup_pm(e);
    put32(e, GDT + SEL_CGATE + 4, (GATE_TGT & 0xFFFF0000u) | 0x8C00 | 2);
    to_user(e);
    assert_int_equal(RUN(e, code_user_callgate), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), SEL_CGATE);
    assert_int_equal(frame(e, 1), CODE + 10);
}

/* ---- task switches ---- */

static void tss2_init(Env *e)
{
    memset(e->pm.ram + TSS2, 0, 0x68);
    put32(e, TSS2 + 0x20, TASK2);       /* EIP */
    put32(e, TSS2 + 0x24, 0x2);         /* EFLAGS */
    put32(e, TSS2 + 0x28, 0xAAAA);      /* EAX */
    put32(e, TSS2 + 0x38, T2STACK);     /* ESP */
    put16(e, TSS2 + 0x48, SEL_DATA);    /* ES */
    put16(e, TSS2 + 0x4C, SEL_CODE);    /* CS */
    put16(e, TSS2 + 0x50, SEL_DATA);    /* SS */
    put16(e, TSS2 + 0x54, SEL_DATA);    /* DS */
    put16(e, TSS2 + 0x58, SEL_DATA);    /* FS */
    put16(e, TSS2 + 0x5C, SEL_DATA);    /* GS */
    static const uint8_t task2[] = { 0xEB, 0xFE, 0xCF }; /* jmp $; iret */
    put_code(e, TASK2, task2, sizeof(task2));
}

static uint8_t type_byte(Env *e, unsigned sel) { return get8(e, GDT + (sel & ~7u) + 5); }

static void test_task_jmp(void **state)
{
    Env *e = *state;
    setup_pm(e);
    tss2_init(e);
    assert_int_equal(RUN(e, code_task_jmp), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), TASK2);
    assert_int_equal(seg(e, SEG_TR).sel, SEL_TSS2);
    assert_int_equal(type_byte(e, SEL_TSS1), 0x89); /* busy cleared */
    assert_int_equal(type_byte(e, SEL_TSS2), 0x8B); /* busy */
    assert_int_equal(get32(e, TSS1 + 0x20), CODE + 12); /* saved EIP */
    assert_int_equal(get32(e, TSS1 + 0x28), 0x1111);    /* saved EAX */
    assert_int_equal(get16(e, TSS1 + 0x4C), SEL_CODE);
    assert_int_equal(get16(e, TSS2), 0); /* no back link for JMP */
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0xAAAA);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), T2STACK);
    assert_int_equal(cpu_get_eflags(e->cpu) & F_NT, 0);
    assert_true(cpu_get_cr(e->cpu, 0) & CR0_TS);
}

static void test_task_call_iret(void **state)
{
    Env *e = *state;
    setup_pm(e);
    tss2_init(e);
    assert_int_equal(RUN(e, code_task_call), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), TASK2);
    assert_int_equal(seg(e, SEG_TR).sel, SEL_TSS2);
    assert_int_equal(type_byte(e, SEL_TSS1), 0x8B); /* both busy */
    assert_int_equal(type_byte(e, SEL_TSS2), 0x8B);
    assert_int_equal(get16(e, TSS2), SEL_TSS1);     /* back link */
    assert_true(cpu_get_eflags(e->cpu) & F_NT);
    assert_true(cpu_get_cr(e->cpu, 0) & CR0_TS);

    /* IRET with NT: back to task 1 after the CALL. */
    cpu_set_eip(e->cpu, TASK2 + 2);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), CODE + 12);
    assert_int_equal(seg(e, SEG_TR).sel, SEL_TSS1);
    assert_int_equal(type_byte(e, SEL_TSS1), 0x8B);
    assert_int_equal(type_byte(e, SEL_TSS2), 0x89);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0x1111);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), KSTACK);
    assert_int_equal(cpu_get_eflags(e->cpu) & F_NT, 0);
    assert_int_equal(get32(e, TSS2 + 0x20), TASK2 + 3);         /* EIP after IRET */
    assert_int_equal(get32(e, TSS2 + 0x24) & F_NT, 0);          /* NT cleared in the image */

    /* CALL to a busy TSS: #GP(sel). */
    setup_pm(e);
    tss2_init(e);
    gdt_set(e, SEL_TSS2, TSS2, 0x67, 0x8B, 0);
    assert_int_equal(RUN(e, code_task_call), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), SEL_TSS2);
}

static void test_task_gate_int(void **state)
{
    Env *e = *state;
    setup_pm(e);
    tss2_init(e);
    idt_set(e, 0x45, 0x85, SEL_TSS2, 0); /* task gate */
    assert_int_equal(RUN(e, code_task_int), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), TASK2);
    assert_int_equal(seg(e, SEG_TR).sel, SEL_TSS2);
    assert_int_equal(get16(e, TSS2), SEL_TSS1);
    assert_int_equal(get32(e, TSS1 + 0x20), CODE + 7);
    assert_true(cpu_get_eflags(e->cpu) & F_NT);
    assert_int_equal(type_byte(e, SEL_TSS2), 0x8B);
}

/* ---- virtual-8086 mode ---- */

static void v86_frame(Env *e, uint32_t eflags)
{
    static const uint32_t f[9] = { 0x0000, 0x0600, 0, 0x0FF0, 0x0A00, 0x0111, 0x0222, 0x0333, 0x0444 };
    for (int k = 0; k < 9; k++)
        put32(e, KSTACK - 36 + 4 * k, k == 2 ? eflags : f[k]);
    cpu_set_reg(e->cpu, R_ESP, KSTACK - 36);
    put_code(e, V86CODE, code_v86_code, sizeof(code_v86_code));
}

static void test_v86_iret_and_int(void **state)
{
    Env *e = *state;
    setup_pm(e);
    idt_set(e, 0x40, 0xEE, SEL_CODE, HND + 16 * 0x40);
    v86_frame(e, 0x2 | F_IF | F_IOPL3 | F_VM);
    put_code(e, CODE, code_pm_iret, sizeof(code_pm_iret));
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET);
    assert_true(cpu_get_eflags(e->cpu) & F_VM);
    assert_int_equal(cpu_get_cpl(e->cpu), 3);
    assert_int_equal(cpu_get_eip(e->cpu), 0);
    assert_int_equal(seg(e, SEG_CS).base, 0x6000);
    assert_int_equal(seg(e, SEG_SS).base, 0xA000);
    assert_int_equal(seg(e, SEG_DS).sel, 0x0222);
    assert_int_equal(seg(e, SEG_DS).base, 0x2220);
    assert_int_equal(seg(e, SEG_GS).base, 0x4440);
    assert_int_equal(seg(e, SEG_DS).limit, 0xFFFF);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x0FF0);

    /* INT 40h from V86 (IOPL 3) to the ring-0 handler. */
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 0x40);
    assert_int_equal(cpu_get_cpl(e->cpu), 0);
    assert_int_equal(cpu_get_eflags(e->cpu) & (F_VM | F_IF), 0);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 36);
    assert_int_equal(frame(e, 0), 2);
    assert_int_equal(frame(e, 1), 0x0600);
    assert_int_equal(frame(e, 2), 0x2 | F_IF | F_IOPL3 | F_VM);
    assert_int_equal(frame(e, 3), 0x0FF0);
    assert_int_equal(frame(e, 4), 0x0A00);
    assert_int_equal(frame(e, 5), 0x0111);
    assert_int_equal(frame(e, 6), 0x0222);
    assert_int_equal(frame(e, 7), 0x0333);
    assert_int_equal(frame(e, 8), 0x0444);
    assert_int_equal(seg(e, SEG_DS).sel, 0);
    assert_int_equal(seg(e, SEG_ES).sel, 0);
    assert_int_equal(seg(e, SEG_FS).sel, 0);
    assert_int_equal(seg(e, SEG_GS).sel, 0);

    /* IRET back to V86. */
    cpu_set_eip(e->cpu, R0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_true(cpu_get_eflags(e->cpu) & F_VM);
    assert_int_equal(cpu_get_eip(e->cpu), 2);
    assert_int_equal(seg(e, SEG_CS).sel, 0x0600);
    assert_int_equal(seg(e, SEG_DS).base, 0x2220);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), 0x0FF0);
}

static void test_v86_int_iopl0(void **state)
{
    Env *e = *state;
    setup_pm(e);
    idt_set(e, 0x40, 0xEE, SEL_CODE, HND + 16 * 0x40);
    v86_frame(e, 0x2 | F_VM);
    put_code(e, CODE, code_pm_iret, sizeof(code_pm_iret));
    cpu_set_eip(e->cpu, CODE);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 40);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), 0); /* the INT itself */
    assert_int_equal(frame(e, 2), 0x0600);
    assert_int_equal(frame(e, 3), 0x2 | F_VM | F_RF);
    assert_int_equal(frame(e, 4), 0x0FF0);
    assert_int_equal(frame(e, 9), 0x0444);
}

/* ---- segment register loads (seg_load_pm via MOV Sreg) ---- */

static void test_seg_load_checks(void **state)
{
    Env *e = *state;
    /* SS with DPL 3 at CPL 0: #GP(sel). */
    setup_pm(e);
    assert_int_equal(RUN(e, code_seg_ss_bad), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), SEL_UDATA & ~3u);
    assert_int_equal(frame(e, 1), CODE + 4);
    /* Not-present segment: #NP(sel). */
    setup_pm(e);
    assert_int_equal(RUN(e, code_seg_ds_np), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 11);
    assert_int_equal(frame(e, 0), SEL_NPCODE);
    /* Beyond the GDT limit: #GP(sel). */
    setup_pm(e);
    assert_int_equal(RUN(e, code_seg_ds_limit), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), 0x100);
    assert_int_equal(frame(e, 1), CODE + 4);
    /* A null DS loads, then any access through it is #GP(0). */
    setup_pm(e);
    assert_int_equal(RUN(e, code_seg_null_use), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE + 4);
    assert_int_equal(seg(e, SEG_DS).sel, 0);
    /* Expand-down data (limit 0xFFF, B=1): offsets 0x1000-0xFFFFFFFF; the
     * accessed bit is set in the descriptor. */
    setup_pm(e);
    gdt_set(e, 0x50, 0, 0x0FFF, 0x96, 0x4);
    put32(e, 0x2000, 0x600DF00D);
    assert_int_equal(RUN(e, code_seg_expdown), CPU_EXIT_BUDGET);
    assert_int_equal(vector(e), 13);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE + 12);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0x600DF00D);
    assert_int_equal(type_byte(e, 0x50), 0x97);
}

static void test_real_big_real_mode(void **state)
{
    Env *e = *state;
    setup_real(e);
    put32(e, 0x200000, 0xCAFEBABE);
    put_code(e, CODE, code_real_bigreal, sizeof(code_real_bigreal));
    /* DS cache with a 4 GiB limit survives a real-mode load of DS. */
    set_seg(e, SEG_DS, 0x10, 0, 0xFFFFFFFFu, 0x8093);
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), sizeof(code_real_bigreal) - 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0xCAFEBABE);
    assert_int_equal(seg(e, SEG_DS).limit, 0xFFFFFFFFu);
    /* With a 64 KiB limit the same access is #GP (IVT[13]). */
    setup_real(e);
    put32(e, 13 * 4, 0x03000000);
    static const uint8_t loop[2] = { 0xEB, 0xFE };
    put_code(e, 0x3000, loop, 2);
    cpu_set_eip(e->cpu, 0);
    assert_int_equal(cpu_run(e->cpu, 10), CPU_EXIT_BUDGET);
    assert_int_equal(seg(e, SEG_CS).sel, 0x0300);
    assert_int_equal(get16(e, cpu_get_reg(e->cpu, R_ESP)), 4);
}

static void test_call_gate16(void **state)
{
    Env *e = *state;
    setup_pm(e);
    /* 16-bit call gate, DPL 3, 1 parameter word. */
    put32(e, GDT + 0x40, ((uint32_t)SEL_CODE << 16) | GATE_TGT);
    put32(e, GDT + 0x44, 0xE400 | 1);
    to_user(e);
    assert_int_equal(RUN(e, code_user_callgate16), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), GATE_TGT);
    assert_int_equal(cpu_get_cpl(e->cpu), 0);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP), ESP0 - 10);
    assert_int_equal(frame16(e, 0), (CODE + 11) & 0xFFFF);
    assert_int_equal(frame16(e, 1), SEL_UCODE);
    assert_int_equal(frame16(e, 2), 0x3333);
    assert_int_equal(frame16(e, 3), (USTACK - 2) & 0xFFFF);
    assert_int_equal(frame16(e, 4), SEL_UDATA);
}

static void test_task_jmp_tss16(void **state)
{
    Env *e = *state;
    setup_pm(e);
    memset(e->pm.ram + TSS2, 0, 0x68);
    gdt_set(e, SEL_TSS2, TSS2, 0x2B, 0x81, 0);
    put16(e, TSS2 + 0x0E, TASK2);
    put16(e, TSS2 + 0x10, 0x0002);
    put16(e, TSS2 + 0x12, 0x1234);   /* AX */
    put16(e, TSS2 + 0x1A, T2STACK);  /* SP */
    put16(e, TSS2 + 0x22, SEL_DATA); /* ES */
    put16(e, TSS2 + 0x24, SEL_CODE); /* CS */
    put16(e, TSS2 + 0x26, SEL_DATA); /* SS */
    put16(e, TSS2 + 0x28, SEL_DATA); /* DS */
    static const uint8_t loop[2] = { 0xEB, 0xFE };
    put_code(e, TASK2, loop, 2);
    assert_int_equal(RUN(e, code_task_jmp), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(e->cpu), TASK2);
    assert_int_equal(seg(e, SEG_TR).sel, SEL_TSS2);
    assert_int_equal(type_byte(e, SEL_TSS2), 0x83);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX) & 0xFFFF, 0x1234);
    assert_int_equal(cpu_get_reg(e->cpu, R_ESP) & 0xFFFF, T2STACK);
    assert_int_equal(seg(e, SEG_FS).sel, 0);
    assert_int_equal(seg(e, SEG_SS).sel, SEL_DATA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_real_int_iret),
        T(test_real_fault_frame),
        T(test_real_far_call_ret),
        T(test_real_loop_cx_ecx),
        T(test_real_triple_fault),
        T(test_jcc_wrap16),
        T(test_jcc_all),
        T(test_loop_pm),
        T(test_near_transfers),
        T(test_pm_int_gate_same_level),
        T(test_pm_int_from_ring3),
        T(test_pm_int16_gate_from_ring3),
        T(test_pm_gate_errors),
        T(test_pm_double_fault),
        T(test_pm_triple_fault),
        T(test_misc_exceptions),
        T(test_nmi_and_intr),
        T(test_call_gate_ring3),
        T(test_task_jmp),
        T(test_task_call_iret),
        T(test_task_gate_int),
        T(test_v86_iret_and_int),
        T(test_v86_int_iopl0),
        T(test_seg_load_checks),
        T(test_real_big_real_mode),
        T(test_call_gate16),
        T(test_task_jmp_tss16),
#undef T
    };
    int fails = cmocka_run_group_tests_name("tcache", tests, NULL, NULL);
    no_tcache = true;
    fails += cmocka_run_group_tests_name("no_tcache", tests, NULL, NULL);
    return fails;
}
