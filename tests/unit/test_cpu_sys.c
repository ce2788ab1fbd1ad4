/*
 * test_cpu_sys.c - system instructions (SDM vol. 2; vol. 3 ch. 2, 5, 17):
 * LGDT/SGDT/LIDT/SIDT, SMSW/LMSW, LAR/LSL/VERR/VERW, SLDT/STR/LLDT/LTR,
 * ARPL, MOV CRn/DRn, CLTS, INVD/WBINVD, UD2, RSM, CPUID, RDMSR/WRMSR,
 * RDTSC, SYSENTER/SYSEXIT, through the public CPU API.
 *
 * Real-mode tests run at 0000:2000 with an IVT whose handlers are `jmp $`
 * loops at HND + 16 * vector; protected-mode tests use a flat GDT, an IDT
 * with the same handlers and a TSS for CPL 3 -> 0 transitions.  Each
 * snippet ends in `jmp $`; run() reports which loop the CPU ended in.
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

enum {
    GDT = 0x1000, IDT = 0x1800, CODE = 0x2000, HND = 0x3000, KENTRY = 0x3400, UENTRY = 0x3500,
    TSS = 0x4000, USTACK = 0x7000, ESP0 = 0x8000, KSTACK = 0x9000, GDT_LIMIT = 0x7F,
};
enum { SEL_CODE = 0x08, SEL_DATA = 0x10, SEL_UCODE = 0x1B, SEL_UDATA = 0x23, SEL_TSS = 0x28 };
enum { V_DB = 1, V_UD = 6, V_GP = 13, V_PF = 14 };
#define CR0_PE 0x1u
#define CR0_MP 0x2u
#define CR0_EM 0x4u
#define CR0_TS 0x8u
#define CR0_ET 0x10u
#define CR0_PG 0x80000000u
#define CR4_TSD 0x4u
#define CR4_DE 0x8u
#define EFLAGS_ZF 0x40u
#define EFLAGS_IF 0x200u

typedef struct Env {
    PhysMem pm;
    X86Cpu *cpu;
    CpuHostOps ops;
} Env;

/* Host time stamp counter and APIC-base MSR for CpuHostOps. */
static uint64_t fake_tsc;
static uint64_t host_tsc(void *opaque)
{
    (void)opaque;
    return fake_tsc;
}
static int host_rdmsr(void *opaque, uint32_t msr, uint64_t *val)
{
    (void)opaque;
    if (msr != 0x1B)
        return -1;
    *val = 0xFEE00900u;
    return 0;
}
static int host_wrmsr(void *opaque, uint32_t msr, uint64_t val)
{
    (void)opaque;
    (void)val;
    return msr == 0x1B ? 0 : -1;
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

static void gdt_set(Env *e, unsigned sel, uint32_t base, uint32_t limit, unsigned type, unsigned flags)
{
    uint32_t lo = (base << 16) | (limit & 0xFFFF);
    uint32_t hi = (base & 0xFF000000u) | ((flags & 0xFu) << 20) | (limit & 0xF0000u) |
                  ((type & 0xFFu) << 8) | ((base >> 16) & 0xFF);
    put32(e, GDT + (sel & ~7u), lo);
    put32(e, GDT + (sel & ~7u) + 4, hi);
}

static void set_seg(Env *e, int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t ar)
{
    CpuSeg sg = { sel, base, limit, ar };
    cpu_set_seg(e->cpu, s, &sg);
}

static int setup(void **state)
{
    Env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(phys_init(&e->pm, 16u << 20), 0);
    e->ops.read_tsc = host_tsc;
    e->ops.rdmsr = host_rdmsr;
    e->ops.wrmsr = host_wrmsr;
    fake_tsc = 1000;
    e->cpu = cpu_new(&e->pm, &e->ops, NULL);
    assert_non_null(e->cpu);
    static const uint8_t loop[2] = { 0xEB, 0xFE }; /* jmp $ */
    for (unsigned v = 0; v < 32; v++) {
        uint32_t off = HND + 16 * v;
        phys_write_buf(&e->pm, off, loop, 2);
        put32(e, 4 * v, off);  /* IVT: 0000:off */
        /* 32-bit interrupt gate, DPL 0, to SEL_CODE:off */
        put32(e, IDT + 8 * v, ((uint32_t)SEL_CODE << 16) | (off & 0xFFFF));
        put32(e, IDT + 8 * v + 4, (off & 0xFFFF0000u) | 0x8E00);
    }
    phys_write_buf(&e->pm, KENTRY, loop, 2);
    phys_write_buf(&e->pm, UENTRY, loop, 2);
    gdt_set(e, SEL_CODE, 0, 0xFFFFF, 0x9B, 0xC);
    gdt_set(e, SEL_DATA, 0, 0xFFFFF, 0x93, 0xC);
    gdt_set(e, SEL_UCODE, 0, 0xFFFFF, 0xFB, 0xC);
    gdt_set(e, SEL_UDATA, 0, 0xFFFFF, 0xF3, 0xC);
    gdt_set(e, SEL_TSS, TSS, 0x67, 0x8B, 0);
    put32(e, TSS + 4, ESP0);
    put32(e, TSS + 8, SEL_DATA);
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

/* Real mode, CS = DS = ES = SS = 0. */
static void setup_real(Env *e)
{
    X86Cpu *cpu = e->cpu;
    cpu_set_dtr(cpu, 0, GDT, GDT_LIMIT);
    cpu_set_dtr(cpu, 1, 0, 0x3FF);
    cpu_set_cr(cpu, 4, 0);
    cpu_set_cr(cpu, 0, CR0_ET);
    set_seg(e, SEG_CS, 0, 0, 0xFFFF, 0x9B);
    set_seg(e, SEG_SS, 0, 0, 0xFFFF, 0x93);
    set_seg(e, SEG_DS, 0, 0, 0xFFFF, 0x93);
    set_seg(e, SEG_ES, 0, 0, 0xFFFF, 0x93);
    set_seg(e, SEG_FS, 0, 0, 0xFFFF, 0x93);
    set_seg(e, SEG_GS, 0, 0, 0xFFFF, 0x93);
    cpu_set_eflags(cpu, 0x2);
    cpu_set_reg(cpu, R_ESP, KSTACK);
}

/* Flat 32-bit protected mode at CPL 0, paging off. */
static void setup_pm(Env *e)
{
    X86Cpu *cpu = e->cpu;
    cpu_set_dtr(cpu, 0, GDT, GDT_LIMIT);
    cpu_set_dtr(cpu, 1, IDT, 32 * 8 - 1);
    cpu_set_cr(cpu, 4, 0);
    cpu_set_cr(cpu, 0, CR0_PE | CR0_ET);
    set_seg(e, SEG_CS, SEL_CODE, 0, 0xFFFFFFFFu, 0xC09B);
    set_seg(e, SEG_SS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_DS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_ES, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_FS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_GS, SEL_DATA, 0, 0xFFFFFFFFu, 0xC093);
    set_seg(e, SEG_TR, SEL_TSS, TSS, 0x67, 0x8B);
    set_seg(e, SEG_LDTR, 0, 0, 0, 0);
    cpu_set_eflags(cpu, 0x2);
    cpu_set_reg(cpu, R_ESP, KSTACK);
}

/* Switch the flat segments to CPL 3. */
static void to_user(Env *e)
{
    set_seg(e, SEG_CS, SEL_UCODE, 0, 0xFFFFFFFFu, 0xC0FB);
    set_seg(e, SEG_SS, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    set_seg(e, SEG_DS, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    set_seg(e, SEG_ES, SEL_UDATA, 0, 0xFFFFFFFFu, 0xC0F3);
    cpu_set_reg(e->cpu, R_ESP, USTACK);
    assert_int_equal(cpu_get_cpl(e->cpu), 3);
}

/* Copy code to CODE, run from there.  Returns the vector whose handler
 * loop the CPU ended in, -1 if it reached the final `jmp $` of the code,
 * -2 otherwise. */
static int run(Env *e, const uint8_t *code, size_t n)
{
    X86Cpu *cpu = e->cpu;
    phys_write_buf(&e->pm, CODE, code, n);
    cpu_set_eip(cpu, CODE);
    CpuExit r = cpu_run(cpu, 2000);
    if (r != CPU_EXIT_BUDGET)
        return -3;
    uint32_t eip = cpu_get_eip(cpu);
    if (eip == CODE + n - 2)
        return -1;
    if (eip >= HND && eip < HND + 32 * 16 && (eip - HND) % 16 == 0)
        return (int)((eip - HND) / 16);
    return -2;
}

#define RUN(e, code) run((e), (code), sizeof(code))

/* Word k of the protected-mode exception frame (0 = error code for
 * exceptions that push one). */
static uint32_t frame(Env *e, int k)
{
    return get32(e, cpu_get_reg(e->cpu, R_ESP) + 4 * k);
}

static uint32_t reg(Env *e, int r) { return cpu_get_reg(e->cpu, r); }
static bool zf(Env *e) { return (cpu_get_eflags(e->cpu) & EFLAGS_ZF) != 0; }

/* ---- GDTR / IDTR ---- */

static void test_lgdt_sgdt(void **state)
{
    Env *e = *state;
    setup_real(e);
    put16(e, 0x600, 0x1234);
    put32(e, 0x602, 0xAABBCCDD);
    static const uint8_t code[] = {
        0x66, 0x0F, 0x01, 0x16, 0x00, 0x06,  /* o32 lgdt [0x600] */
        0x0F, 0x01, 0x06, 0x10, 0x06,  /* sgdt [0x610] */
        0x0F, 0x01, 0x16, 0x00, 0x06,  /* lgdt [0x600] */
        0x66, 0x0F, 0x01, 0x06, 0x20, 0x06,  /* o32 sgdt [0x620] */
        0x66, 0x0F, 0x01, 0x1E, 0x00, 0x06,  /* o32 lidt [0x600] */
        0x0F, 0x01, 0x0E, 0x30, 0x06,  /* sidt [0x630] */
        0x0F, 0x01, 0x1E, 0x00, 0x06,  /* lidt [0x600] */
        0x66, 0x0F, 0x01, 0x0E, 0x40, 0x06,  /* o32 sidt [0x640] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    /* SGDT/SIDT store the full 32-bit base with either operand size; LGDT/
     * LIDT with a 16-bit operand load 24 bits of base. */
    assert_int_equal(get16(e, 0x610), 0x1234);
    assert_int_equal(get32(e, 0x612), 0xAABBCCDD);
    assert_int_equal(get16(e, 0x620), 0x1234);
    assert_int_equal(get32(e, 0x622), 0x00BBCCDD);
    assert_int_equal(get16(e, 0x630), 0x1234);
    assert_int_equal(get32(e, 0x632), 0xAABBCCDD);
    assert_int_equal(get32(e, 0x642), 0x00BBCCDD);
    uint32_t base;
    uint16_t limit;
    cpu_get_dtr(e->cpu, 0, &base, &limit);
    assert_int_equal(base, 0x00BBCCDD);
    assert_int_equal(limit, 0x1234);
    cpu_get_dtr(e->cpu, 1, &base, &limit);
    assert_int_equal(base, 0x00BBCCDD);
    assert_int_equal(limit, 0x1234);
}

static void test_lgdt_privilege(void **state)
{
    Env *e = *state;
    setup_pm(e);
    to_user(e);
    /* SGDT/SIDT work at CPL 3 (no UMIP on P6); LGDT/LIDT #GP(0). */
    static const uint8_t sg[] = {
        0x0F, 0x01, 0x05, 0x00, 0x06, 0x00, 0x00,  /* sgdt [0x600] */
        0x0F, 0x01, 0x0D, 0x10, 0x06, 0x00, 0x00,  /* sidt [0x610] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, sg), -1);
    assert_int_equal(get16(e, 0x600), GDT_LIMIT);
    assert_int_equal(get32(e, 0x602), GDT);
    assert_int_equal(get32(e, 0x612), IDT);
    static const uint8_t lg[] = {
        0x0F, 0x01, 0x15, 0x00, 0x06, 0x00, 0x00,  /* lgdt [0x600] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, lg), V_GP);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE);
    to_user(e);
    static const uint8_t li[] = {
        0x0F, 0x01, 0x1D, 0x00, 0x06, 0x00, 0x00,  /* lidt [0x600] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, li), V_GP);
    /* Register forms are invalid. */
    setup_pm(e);
    static const uint8_t regform[] = { 0x0F, 0x01, 0xD0, 0xEB, 0xFE }; /* lgdt eax */
    assert_int_equal(RUN(e, regform), V_UD);
}

/* ---- SMSW / LMSW / CLTS ---- */

static void test_smsw_lmsw(void **state)
{
    Env *e = *state;
    setup_real(e);
    cpu_set_reg(e->cpu, R_ECX, 0xFFFF0000u);
    static const uint8_t code[] = {
        0xB8, 0xFE, 0xFF,  /* mov ax, 0xFFFE */
        0x0F, 0x01, 0xF0,  /* lmsw ax */
        0x66, 0x0F, 0x01, 0xE3,  /* smsw ebx */
        0x0F, 0x01, 0xE1,  /* smsw cx */
        0x0F, 0x01, 0x26, 0x00, 0x06,  /* smsw [0x600] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    /* LMSW loads MP, EM, TS only (PE stays clear: bit 0 of AX is 0). */
    assert_int_equal(cpu_get_cr(e->cpu, 0), CR0_ET | CR0_MP | CR0_EM | CR0_TS);
    assert_int_equal(reg(e, R_EBX), CR0_ET | CR0_MP | CR0_EM | CR0_TS);
    assert_int_equal(reg(e, R_ECX), 0xFFFF001Eu);
    assert_int_equal(get16(e, 0x600), 0x1E);

    /* LMSW sets PE (entering protected mode) but cannot clear it. */
    static const uint8_t pe[] = {
        0xB8, 0x01, 0x00,  /* mov ax, 1 */
        0x0F, 0x01, 0xF0,  /* lmsw ax */
        0x31, 0xC0,  /* xor ax, ax */
        0x0F, 0x01, 0xF0,  /* lmsw ax */
        0x0F, 0x01, 0xE3,  /* smsw bx */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, pe), -1);
    assert_int_equal(cpu_get_cr(e->cpu, 0), CR0_ET | CR0_PE);
    assert_int_equal(reg(e, R_EBX) & 0xFFFF, CR0_ET | CR0_PE);

    /* A 32-bit SMSW to a register gives all of CR0 (P6). */
    setup_pm(e);
    cpu_set_cr(e->cpu, 0, CR0_PE | CR0_ET | 0x00050000u);
    static const uint8_t s32[] = {
        0x0F, 0x01, 0xE0,  /* smsw eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, s32), -1);
    assert_int_equal(reg(e, R_EAX), CR0_PE | CR0_ET | 0x00050000u);

    /* CLTS clears TS. */
    setup_real(e);
    static const uint8_t clts[] = {
        0x0F, 0x20, 0xC0,  /* mov eax, cr0 */
        0x0C, 0x08,  /* or al, 8 */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0x0F, 0x20, 0xC3,  /* mov ebx, cr0 */
        0x0F, 0x06,  /* clts */
        0x0F, 0x20, 0xC1,  /* mov ecx, cr0 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, clts), -1);
    assert_true(reg(e, R_EBX) & CR0_TS);
    assert_false(reg(e, R_ECX) & CR0_TS);
}

static void test_privileged_at_cpl3(void **state)
{
    Env *e = *state;
    static const uint8_t clts[] = {
        0x0F, 0x06,  /* clts */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t invd[] = {
        0x0F, 0x08,  /* invd */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t wbinvd[] = {
        0x0F, 0x09,  /* wbinvd */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lmsw[] = {
        0x0F, 0x01, 0xF0,  /* lmsw ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t movcr[] = {
        0x0F, 0x20, 0xC0,  /* mov eax, cr0 */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t movcr3[] = {
        0x0F, 0x22, 0xD8,  /* mov cr3, eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t movdr[] = {
        0x0F, 0x21, 0xF8,  /* mov eax, dr7 */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t rdmsr[] = {
        0x0F, 0x32,  /* rdmsr */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t wrmsr[] = {
        0x0F, 0x30,  /* wrmsr */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lldt[] = {
        0x0F, 0x00, 0xD0,  /* lldt ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t ltr[] = {
        0x0F, 0x00, 0xD8,  /* ltr ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const struct { const uint8_t *c; size_t n; } cases[] = {
        { clts, sizeof(clts) }, { invd, sizeof(invd) }, { wbinvd, sizeof(wbinvd) },
        { lmsw, sizeof(lmsw) }, { movcr, sizeof(movcr) }, { movcr3, sizeof(movcr3) },
        { movdr, sizeof(movdr) }, { rdmsr, sizeof(rdmsr) }, { wrmsr, sizeof(wrmsr) },
        { lldt, sizeof(lldt) }, { ltr, sizeof(ltr) },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        setup_pm(e);
        to_user(e);
        cpu_set_reg(e->cpu, R_EAX, 0);
        cpu_set_reg(e->cpu, R_ECX, 0x10);
        int v = run(e, cases[k].c, cases[k].n);
        if (v != V_GP || frame(e, 0) != 0 || frame(e, 1) != CODE)
            fail_msg("case %zu: vector %d err %#x", k, v, frame(e, 0));
    }
    /* The same at CPL 0 in protected mode are fine (INVD, WBINVD, CLTS). */
    setup_pm(e);
    assert_int_equal(RUN(e, invd), -1);
    assert_int_equal(RUN(e, wbinvd), -1);
    assert_int_equal(RUN(e, clts), -1);
}

static void test_ud2_rsm(void **state)
{
    Env *e = *state;
    setup_real(e);
    static const uint8_t ud2[] = {
        0x0F, 0x0B,  /* ud2 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, ud2), V_UD);
    assert_int_equal(get16(e, KSTACK - 6), CODE); /* IP of the fault */
    setup_pm(e);
    static const uint8_t rsm[] = {
        0x0F, 0xAA,  /* rsm */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rsm), V_UD);
    assert_int_equal(frame(e, 0), CODE);
}

/* ---- LAR / LSL / VERR / VERW ---- */

enum {
    S_DATA = 0x30,     /* read/write data, DPL 0, 4 GiB */
    S_XCODE = 0x38,    /* execute-only code, DPL 0, byte limit 0x12345 */
    S_CCODE = 0x40,    /* conforming readable code, DPL 0 */
    S_LDT = 0x48,      /* LDT, limit 0xFF */
    S_INTG = 0x50,     /* 32-bit interrupt gate */
    S_CALLG = 0x58,    /* 32-bit call gate, DPL 3 */
    S_RODATA3 = 0x60,  /* read-only data, DPL 3 */
    S_TSS = 0x68,      /* available 32-bit TSS, limit 0x67 */
    S_RSVD = 0x70,     /* system type 0 (reserved) */
    S_BEYOND = 0x80,   /* beyond GDT_LIMIT */
};

static void lar_gdt(Env *e)
{
    gdt_set(e, S_DATA, 0, 0xFFFFF, 0x93, 0xC);
    gdt_set(e, S_XCODE, 0x10000, 0x12345, 0x98, 0x4);
    gdt_set(e, S_CCODE, 0, 0xFFFFF, 0x9E, 0xC);
    gdt_set(e, S_LDT, 0x5000, 0xFF, 0x82, 0);
    put32(e, GDT + S_INTG, ((uint32_t)SEL_CODE << 16) | 0x1234);
    put32(e, GDT + S_INTG + 4, 0x00008E00);
    put32(e, GDT + S_CALLG, ((uint32_t)SEL_CODE << 16) | 0x1234);
    put32(e, GDT + S_CALLG + 4, 0x0000EC00);
    gdt_set(e, S_RODATA3, 0, 0xFFFF, 0xF1, 0x4);
    gdt_set(e, S_TSS, 0x6000, 0x67, 0x89, 0);
    gdt_set(e, S_RSVD, 0, 0xFFFF, 0x80, 0);
}

typedef struct LarCase {
    uint16_t sel;
    bool user;
    int lar_ok, lsl_ok, verr, verw;
    uint32_t ar, limit;
} LarCase;

static void test_lar_lsl_verr_verw(void **state)
{
    Env *e = *state;
    lar_gdt(e);
    static const LarCase cases[] = {
        { S_DATA, false, 1, 1, 1, 1, 0x00C09300, 0xFFFFFFFF },
        { S_XCODE, false, 1, 1, 0, 0, 0x00409800, 0x12345 },
        { S_CCODE, false, 1, 1, 1, 0, 0x00C09E00, 0xFFFFFFFF },
        { S_LDT, false, 1, 1, 0, 0, 0x00008200, 0xFF },
        { S_INTG, false, 0, 0, 0, 0, 0, 0 },
        { S_CALLG, false, 1, 0, 0, 0, 0x0000EC00, 0 },
        { S_RODATA3, false, 1, 1, 1, 0, 0x0040F100, 0xFFFF },
        { S_TSS, false, 1, 1, 0, 0, 0x00008900, 0x67 },
        { S_RSVD, false, 0, 0, 0, 0, 0, 0 },
        { S_BEYOND, false, 0, 0, 0, 0, 0, 0 },
        { 0, false, 0, 0, 0, 0, 0, 0 },
        { 3, false, 0, 0, 0, 0, 0, 0 },
        /* RPL above DPL */
        { S_DATA | 3, false, 0, 0, 0, 0, 0, 0 },
        { S_CCODE | 3, false, 1, 1, 1, 0, 0x00C09E00, 0xFFFFFFFF },
        /* CPL 3 */
        { S_DATA, true, 0, 0, 0, 0, 0, 0 },
        { S_LDT, true, 0, 0, 0, 0, 0, 0 },
        { S_CCODE | 3, true, 1, 1, 1, 0, 0x00C09E00, 0xFFFFFFFF },
        { S_RODATA3 | 3, true, 1, 1, 1, 0, 0x0040F100, 0xFFFF },
        { S_CALLG | 3, true, 1, 0, 0, 0, 0x0000EC00, 0 },
    };
    static const uint8_t lar32[] = {
        0x0F, 0x02, 0xC1,  /* lar eax, ecx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lar16[] = {
        0x66, 0x0F, 0x02, 0xC1,  /* lar ax, cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t larm[] = {
        0x0F, 0x02, 0x05, 0x00, 0x06, 0x00, 0x00,  /* lar eax, [0x600] */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lsl32[] = {
        0x0F, 0x03, 0xC1,  /* lsl eax, ecx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lsl16[] = {
        0x66, 0x0F, 0x03, 0x05, 0x00, 0x06, 0x00, 0x00,  /* lsl ax, [0x600] */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t verr[] = {
        0x0F, 0x00, 0xE1,  /* verr cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t verw[] = {
        0x0F, 0x00, 0x2D, 0x00, 0x06, 0x00, 0x00,  /* verw [0x600] */
        0xEB, 0xFE,  /* jmp $ */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const LarCase *c = &cases[k];
        const uint32_t init = 0xA5A5A5A5u;
        struct { const uint8_t *code; size_t n; int ok; uint32_t want; } runs[] = {
            { lar32, sizeof(lar32), c->lar_ok, c->ar },
            { lar16, sizeof(lar16), c->lar_ok, (init & 0xFFFF0000u) | (c->ar & 0xFF00u) },
            { larm, sizeof(larm), c->lar_ok, c->ar },
            { lsl32, sizeof(lsl32), c->lsl_ok, c->limit },
            { lsl16, sizeof(lsl16), c->lsl_ok, (init & 0xFFFF0000u) | (c->limit & 0xFFFFu) },
            { verr, sizeof(verr), c->verr, init },
            { verw, sizeof(verw), c->verw, init },
        };
        for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
            setup_pm(e);
            if (c->user)
                to_user(e);
            put16(e, 0x600, c->sel);
            cpu_set_reg(e->cpu, R_ECX, c->sel);
            cpu_set_reg(e->cpu, R_EAX, init);
            /* Start with ZF opposite to the expected result. */
            cpu_set_eflags(e->cpu, 0x2 | (runs[r].ok ? 0 : EFLAGS_ZF));
            int v = run(e, runs[r].code, runs[r].n);
            if (v != -1)
                fail_msg("case %zu run %zu: vector %d", k, r, v);
            if (zf(e) != (runs[r].ok != 0))
                fail_msg("case %zu run %zu: ZF %d", k, r, zf(e));
            uint32_t want = runs[r].ok ? runs[r].want : init;
            if (reg(e, R_EAX) != want)
                fail_msg("case %zu run %zu: eax %#x want %#x", k, r, reg(e, R_EAX), want);
        }
    }
}

static void test_lar_in_ldt(void **state)
{
    Env *e = *state;
    lar_gdt(e);
    /* LDT at 0x5000 (S_LDT): entry 1 a DPL 3 data segment. */
    put32(e, 0x5008, 0x0000FFFF);
    put32(e, 0x500C, 0x00CFF300);
    setup_pm(e);
    set_seg(e, SEG_LDTR, S_LDT, 0x5000, 0xFF, 0x82);
    cpu_set_reg(e->cpu, R_ECX, 0x0F); /* index 1, TI, RPL 3 */
    static const uint8_t code[] = {
        0x0F, 0x02, 0xC1,  /* lar eax, ecx */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_true(zf(e));
    assert_int_equal(reg(e, R_EAX), 0x00C0F300);
    /* No LDT: ZF = 0. */
    set_seg(e, SEG_LDTR, 0, 0, 0, 0);
    assert_int_equal(RUN(e, code), -1);
    assert_false(zf(e));
}

static void test_pm_only_in_real_mode(void **state)
{
    Env *e = *state;
    static const uint8_t lar[] = {
        0x0F, 0x02, 0xC1,  /* lar ax, cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lsl[] = {
        0x0F, 0x03, 0xC1,  /* lsl ax, cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t verr[] = {
        0x0F, 0x00, 0xE1,  /* verr cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t verw[] = {
        0x0F, 0x00, 0xE9,  /* verw cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t sldt[] = {
        0x0F, 0x00, 0xC0,  /* sldt ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t str[] = {
        0x0F, 0x00, 0xC8,  /* str ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t lldt[] = {
        0x0F, 0x00, 0xD0,  /* lldt ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t ltr[] = {
        0x0F, 0x00, 0xD8,  /* ltr ax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t arpl[] = {
        0x63, 0xC8,  /* arpl ax, cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const struct { const uint8_t *c; size_t n; } cases[] = {
        { lar, sizeof(lar) }, { lsl, sizeof(lsl) }, { verr, sizeof(verr) },
        { verw, sizeof(verw) }, { sldt, sizeof(sldt) }, { str, sizeof(str) },
        { lldt, sizeof(lldt) }, { ltr, sizeof(ltr) }, { arpl, sizeof(arpl) },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        setup_real(e);
        int v = run(e, cases[k].c, cases[k].n);
        if (v != V_UD)
            fail_msg("case %zu: vector %d", k, v);
    }
}

/* ---- SLDT / STR / LLDT / LTR / ARPL ---- */

static void test_sldt_str_lldt_ltr(void **state)
{
    Env *e = *state;
    lar_gdt(e);
    setup_pm(e);
    cpu_set_reg(e->cpu, R_EAX, 0xFFFFFFFFu);
    cpu_set_reg(e->cpu, R_EBX, 0xFFFFFFFFu);
    cpu_set_reg(e->cpu, R_EDX, 0xFFFFFFFFu);
    cpu_set_reg(e->cpu, R_ECX, S_LDT);
    cpu_set_reg(e->cpu, R_ESI, S_TSS);
    static const uint8_t code[] = {
        0x0F, 0x00, 0xC8,  /* str eax */
        0x66, 0x0F, 0x00, 0xCB,  /* str bx */
        0x0F, 0x00, 0x0D, 0x00, 0x06, 0x00, 0x00,  /* str [0x600] */
        0x0F, 0x00, 0xD1,  /* lldt cx */
        0x0F, 0x00, 0xC2,  /* sldt edx */
        0x0F, 0x00, 0x05, 0x02, 0x06, 0x00, 0x00,  /* sldt [0x602] */
        0x0F, 0x00, 0xDE,  /* ltr si */
        0x0F, 0x00, 0xCF,  /* str edi */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    /* 32-bit register destination: zero-extended on P6. */
    assert_int_equal(reg(e, R_EAX), SEL_TSS);
    assert_int_equal(reg(e, R_EBX), 0xFFFF0000u | SEL_TSS);
    assert_int_equal(get16(e, 0x600), SEL_TSS);
    assert_int_equal(reg(e, R_EDX), S_LDT);
    assert_int_equal(get16(e, 0x602), S_LDT);
    assert_int_equal(reg(e, R_EDI), S_TSS);
    CpuSeg s;
    cpu_get_seg(e->cpu, SEG_LDTR, &s);
    assert_int_equal(s.base, 0x5000);
    assert_int_equal(s.limit, 0xFF);
    cpu_get_seg(e->cpu, SEG_TR, &s);
    assert_int_equal(s.base, 0x6000);
    /* LTR marks the TSS busy. */
    assert_int_equal((get32(e, GDT + S_TSS + 4) >> 8) & 0xF, 0xB);
    /* LTR of a busy TSS: #GP(selector). */
    static const uint8_t again[] = {
        0x0F, 0x00, 0xDE,  /* ltr si */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, again), V_GP);
    assert_int_equal(frame(e, 0), S_TSS);
}

static void test_arpl(void **state)
{
    Env *e = *state;
    setup_pm(e);
    cpu_set_reg(e->cpu, R_EAX, 0xABCD0010u);
    cpu_set_reg(e->cpu, R_ECX, 0x0003);
    put16(e, 0x600, 0x0022);
    static const uint8_t code[] = {
        0x63, 0xC8,  /* arpl ax, cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(reg(e, R_EAX), 0xABCD0013u);
    assert_true(zf(e));
    cpu_set_reg(e->cpu, R_ECX, 0x0001);
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(reg(e, R_EAX), 0xABCD0013u);
    assert_false(zf(e));
    static const uint8_t mem[] = {
        0x63, 0x0D, 0x00, 0x06, 0x00, 0x00,  /* arpl [0x600], cx */
        0xEB, 0xFE,  /* jmp $ */
    };
    cpu_set_reg(e->cpu, R_ECX, 0x0003);
    assert_int_equal(RUN(e, mem), -1);
    assert_int_equal(get16(e, 0x600), 0x0023);
    assert_true(zf(e));
}

/* ---- MOV CRn ---- */

static void test_mov_cr0_pm_enter_leave(void **state)
{
    Env *e = *state;
    setup_real(e);
    gdt_set(e, SEL_DATA, 0x120000, 0xFFFFF, 0x93, 0xC);
    put32(e, 0x120010, 0x13572468);
    static const uint8_t code[] = {
        0x0F, 0x20, 0xC0,  /* mov eax, cr0 */
        0x0C, 0x01,  /* or al, 1 */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0xBB, 0x10, 0x00,  /* mov bx, 0x10 */
        0x8E, 0xDB,  /* mov ds, bx */
        0x24, 0xFE,  /* and al, 0xFE */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0x0F, 0x20, 0xC1,  /* mov ecx, cr0 */
        0x66, 0x8B, 0x16, 0x10, 0x00,  /* mov edx, [0x10] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(cpu_get_cr(e->cpu, 0) & CR0_PE, 0);
    assert_int_equal(reg(e, R_ECX) & CR0_PE, 0);
    assert_int_equal(cpu_get_cpl(e->cpu), 0);
    /* The descriptor cache loaded in protected mode survives (big real mode). */
    CpuSeg ds;
    cpu_get_seg(e->cpu, SEG_DS, &ds);
    assert_int_equal(ds.sel, 0x10);
    assert_int_equal(ds.base, 0x120000);
    assert_int_equal(reg(e, R_EDX), 0x13572468);
}

static void test_mov_cr_rules(void **state)
{
    Env *e = *state;
    /* PG without PE, NW without CD: #GP(0). */
    static const uint8_t pg[] = {
        0x66, 0xB8, 0x10, 0x00, 0x00, 0x80,  /* mov eax, 0x80000010 */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t nw[] = {
        0x66, 0xB8, 0x10, 0x00, 0x00, 0x20,  /* mov eax, 0x20000010 */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    setup_real(e);
    assert_int_equal(RUN(e, pg), V_GP);
    assert_int_equal(get16(e, KSTACK - 6), CODE + 6);
    setup_real(e);
    assert_int_equal(RUN(e, nw), V_GP);
    assert_int_equal(cpu_get_cr(e->cpu, 0), CR0_ET);

    /* Reserved CR0 bits are ignored; ET reads as 1. */
    setup_real(e);
    static const uint8_t rsv[] = {
        0x66, 0xB8, 0xC2, 0xFF, 0xFA, 0x1F,  /* mov eax, 0x1FFAFFC2 */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0x0F, 0x20, 0xC3,  /* mov ebx, cr0 */
        0x66, 0x31, 0xC0,  /* xor eax, eax */
        0x0F, 0x22, 0xC0,  /* mov cr0, eax */
        0x0F, 0x20, 0xC1,  /* mov ecx, cr0 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rsv), -1);
    assert_int_equal(reg(e, R_EBX), CR0_ET | CR0_MP);
    assert_int_equal(reg(e, R_ECX), CR0_ET);

    /* CR4: bits of features we have are writable, others #GP(0). */
    setup_pm(e);
    static const uint8_t cr4[] = {
        0xB8, 0x9C, 0x01, 0x00, 0x00,  /* mov eax, 0x19C */
        0x0F, 0x22, 0xE0,  /* mov cr4, eax */
        0x0F, 0x20, 0xE3,  /* mov ebx, cr4 */
        0xB8, 0x20, 0x00, 0x00, 0x00,  /* mov eax, 0x20 */
        0x0F, 0x22, 0xE0,  /* mov cr4, eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, cr4), V_GP);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(reg(e, R_EBX), 0x19C);
    assert_int_equal(cpu_get_cr(e->cpu, 4), 0x19C);
    setup_pm(e);
    static const uint8_t vme[] = {
        0xB8, 0x01, 0x00, 0x00, 0x00,  /* mov eax, 1 */
        0x0F, 0x22, 0xE0,  /* mov cr4, eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, vme), V_GP);

    /* CR2, CR3 read back. */
    setup_pm(e);
    static const uint8_t cr23[] = {
        0xB8, 0x78, 0x56, 0x34, 0x12,  /* mov eax, 0x12345678 */
        0x0F, 0x22, 0xD0,  /* mov cr2, eax */
        0x0F, 0x20, 0xD3,  /* mov ebx, cr2 */
        0xB8, 0x00, 0x30, 0x12, 0x00,  /* mov eax, 0x00123000 */
        0x0F, 0x22, 0xD8,  /* mov cr3, eax */
        0x0F, 0x20, 0xD9,  /* mov ecx, cr3 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, cr23), -1);
    assert_int_equal(reg(e, R_EBX), 0x12345678);
    assert_int_equal(reg(e, R_ECX), 0x00123000);

    /* CR1, CR5-CR7: #UD. */
    static const uint8_t cr1r[] = { 0x0F, 0x20, 0xC8, 0xEB, 0xFE };  /* mov eax, cr1 */
    static const uint8_t cr5w[] = { 0x0F, 0x22, 0xE8, 0xEB, 0xFE };  /* mov cr5, eax */
    static const uint8_t cr7r[] = { 0x0F, 0x20, 0xF8, 0xEB, 0xFE };  /* mov eax, cr7 */
    setup_pm(e);
    assert_int_equal(RUN(e, cr1r), V_UD);
    setup_pm(e);
    assert_int_equal(RUN(e, cr5w), V_UD);
    setup_pm(e);
    assert_int_equal(RUN(e, cr7r), V_UD);
    /* The ModRM mod field is ignored: always a register operand. */
    setup_pm(e);
    static const uint8_t mod0[] = { 0x0F, 0x20, 0x03, 0xEB, 0xFE };  /* mov ebx, cr0 with mod=0 */
    assert_int_equal(RUN(e, mod0), -1);
    assert_int_equal(reg(e, R_EBX), CR0_PE | CR0_ET);
}

/* ---- MOV DRn ---- */

static void test_mov_dr(void **state)
{
    Env *e = *state;
    setup_pm(e);
    static const uint8_t code[] = {
        0xB8, 0x78, 0x56, 0x34, 0x12,  /* mov eax, 0x12345678 */
        0x0F, 0x23, 0xC0,  /* mov dr0, eax */
        0x0F, 0x23, 0xD8,  /* mov dr3, eax */
        0x0F, 0x21, 0xDB,  /* mov ebx, dr3 */
        0x31, 0xC0,  /* xor eax, eax */
        0x0F, 0x23, 0xF0,  /* mov dr6, eax */
        0x0F, 0x21, 0xF1,  /* mov ecx, dr6 */
        0x48,  /* dec eax */
        0x0F, 0x23, 0xF0,  /* mov dr6, eax */
        0x0F, 0x21, 0xE2,  /* mov edx, dr4 */
        0xB8, 0x00, 0xD8, 0x00, 0x00,  /* mov eax, 0x0000D800 */
        0x0F, 0x23, 0xF8,  /* mov dr7, eax */
        0x0F, 0x21, 0xFE,  /* mov esi, dr7 */
        0x0F, 0x21, 0xEF,  /* mov edi, dr5 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(reg(e, R_EBX), 0x12345678);
    assert_int_equal(reg(e, R_ECX), 0xFFFF0FF0u);
    assert_int_equal(reg(e, R_EDX), 0xFFFFEFFFu);  /* DR4 = DR6 */
    assert_int_equal(reg(e, R_ESI), 0x00000400u);
    assert_int_equal(reg(e, R_EDI), 0x00000400u);  /* DR5 = DR7 */

    /* With CR4.DE, DR4/DR5 are #UD. */
    setup_pm(e);
    cpu_set_cr(e->cpu, 4, CR4_DE);
    static const uint8_t dr4[] = {
        0x0F, 0x21, 0xE0,  /* mov eax, dr4 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, dr4), V_UD);

    /* DR7.GD: the next debug-register access is a #DB fault with DR6.BD;
     * GD is cleared for the handler. */
    setup_pm(e);
    static const uint8_t gd[] = {
        0xB8, 0x00, 0x24, 0x00, 0x00,  /* mov eax, 0x2400 */
        0x0F, 0x23, 0xF8,  /* mov dr7, eax */
        0x0F, 0x21, 0xC3,  /* mov ebx, dr0 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, gd), V_DB);
    assert_int_equal(frame(e, 0), CODE + 8);
    assert_true(cpu_get_dr(e->cpu, 6) & 0x2000);
    assert_int_equal(cpu_get_dr(e->cpu, 7) & 0x2000, 0);
}

/* ---- CPUID ---- */

static void cpuid(Env *e, uint32_t leaf, uint32_t out[4])
{
    static const uint8_t code[] = {
        0x0F, 0xA2,  /* cpuid */
        0xEB, 0xFE,  /* jmp $ */
    };
    cpu_set_reg(e->cpu, R_EAX, leaf);
    cpu_set_reg(e->cpu, R_ECX, 0xFFFFFFFFu);
    assert_int_equal(RUN(e, code), -1);
    out[0] = reg(e, R_EAX);
    out[1] = reg(e, R_EBX);
    out[2] = reg(e, R_ECX);
    out[3] = reg(e, R_EDX);
}

static void test_cpuid(void **state)
{
    Env *e = *state;
    uint32_t r[4];
    setup_pm(e);
    cpuid(e, 0, r);
    assert_int_equal(r[0], 2);
    char vendor[13];
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    assert_string_equal(vendor, "GenuineIntel");

    cpuid(e, 1, r);
    assert_int_equal(r[0], 0x00000633);
    assert_int_equal(r[1], 0);
    assert_int_equal(r[2], 0);
    /* FPU DE PSE TSC MSR CX8 APIC SEP MTRR PGE CMOV */
    assert_int_equal(r[3], 0x0000A13Du | 0x1000u | 0x800u | 0x200u);
    cpu_set_apic_present(e->cpu, false);
    cpuid(e, 1, r);
    assert_int_equal(r[3], 0x0000A13Du | 0x1000u | 0x800u);

    cpuid(e, 2, r);
    assert_int_equal(r[0], 0x03020101);
    assert_int_equal(r[1], 0);
    assert_int_equal(r[2], 0);
    assert_int_equal(r[3], 0x0C040843);

    cpuid(e, 0x80000000u, r);
    assert_int_equal(r[0], 0x80000000u);
    assert_int_equal(r[1] | r[2] | r[3], 0);

    /* Leaves above the maximum return the highest basic leaf (2). */
    static const uint32_t beyond[] = { 3, 4, 0x40000000u, 0x7FFFFFFFu, 0x80000001u, 0x80000008u, 0xFFFFFFFFu };
    for (size_t k = 0; k < sizeof(beyond) / sizeof(beyond[0]); k++) {
        cpuid(e, beyond[k], r);
        assert_int_equal(r[0], 0x03020101);
        assert_int_equal(r[3], 0x0C040843);
    }
}

/* ---- MSRs ---- */

static void test_msr(void **state)
{
    Env *e = *state;
    setup_real(e);
    static const uint8_t wr_rd[] = {
        0x0F, 0x30,  /* wrmsr */
        0x66, 0x31, 0xC0,  /* xor eax, eax */
        0x66, 0x31, 0xD2,  /* xor edx, edx */
        0x0F, 0x32,  /* rdmsr */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const struct { uint32_t msr; uint64_t val; } ok[] = {
        { 0x174, 0x10 }, { 0x175, 0x8800 }, { 0x176, 0xC0001234u },
        { 0x8B, 0x0000000500000000ull }, { 0x1A0, 1 },
        { 0x200, 0x0000000F12345006ull }, { 0x201, 0x0000000FFFF00800ull },
        { 0x20E, 0x00000000000FF000ull }, { 0x20F, 0x0000000000000800ull },
        { 0x250, 0x0606060606060606ull }, { 0x258, 0x0001040506000000ull },
        { 0x259, 0x0101010101010101ull }, { 0x26F, 0x0505050505050505ull },
        { 0x268, 0x0404040404040404ull }, { 0x2FF, 0xC06 },
    };
    for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
        cpu_set_reg(e->cpu, R_ECX, ok[k].msr);
        cpu_set_reg(e->cpu, R_EAX, (uint32_t)ok[k].val);
        cpu_set_reg(e->cpu, R_EDX, (uint32_t)(ok[k].val >> 32));
        int v = RUN(e, wr_rd);
        uint64_t got = ((uint64_t)reg(e, R_EDX) << 32) | reg(e, R_EAX);
        if (v != -1 || got != ok[k].val)
            fail_msg("msr %#x: vector %d value %#llx", ok[k].msr, v, (unsigned long long)got);
        uint64_t api = 0;
        assert_int_equal(cpu_get_msr(e->cpu, ok[k].msr, &api), 0);
        assert_true(api == ok[k].val);
    }

    /* MTRRcap: 8 variable ranges, fixed ranges, WC; platform ID. */
    static const uint8_t rd[] = {
        0x0F, 0x32,  /* rdmsr */
        0xEB, 0xFE,  /* jmp $ */
    };
    cpu_set_reg(e->cpu, R_ECX, 0xFE);
    assert_int_equal(RUN(e, rd), -1);
    assert_int_equal(reg(e, R_EAX), 0x508);
    assert_int_equal(reg(e, R_EDX), 0);
    cpu_set_reg(e->cpu, R_ECX, 0x17);
    assert_int_equal(RUN(e, rd), -1);
    /* APIC base comes from the machine (CpuHostOps.rdmsr). */
    cpu_set_reg(e->cpu, R_ECX, 0x1B);
    assert_int_equal(RUN(e, rd), -1);
    assert_int_equal(reg(e, R_EAX), 0xFEE00900u);

    /* Unknown MSRs, read-only MSRs and invalid MTRR values: #GP(0). */
    static const struct { uint32_t msr; uint64_t val; bool write; } bad[] = {
        { 0x12345678, 0, false }, { 0x12345678, 0, true }, { 0xC0000080u, 0, false },
        { 0x277, 0, false }, { 0xFE, 0x508, true }, { 0x17, 0, true },
        { 0x200, 0x2, true }, { 0x200, 0x7, true }, { 0x200, 0x0000001000000006ull, true },
        { 0x200, 0x106, true }, { 0x201, 0x400, true }, { 0x201, 0x0000001000000800ull, true },
        { 0x250, 0x0606060606060602ull, true }, { 0x26F, 0x0700000000000000ull, true },
        { 0x2FF, 0x1006, true }, { 0x2FF, 0xC03, true }, { 0x210, 0, false },
    };
    static const uint8_t wr[] = {
        0x0F, 0x30,  /* wrmsr */
        0xEB, 0xFE,  /* jmp $ */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        setup_real(e);
        cpu_set_reg(e->cpu, R_ECX, bad[k].msr);
        cpu_set_reg(e->cpu, R_EAX, (uint32_t)bad[k].val);
        cpu_set_reg(e->cpu, R_EDX, (uint32_t)(bad[k].val >> 32));
        int v = bad[k].write ? RUN(e, wr) : RUN(e, rd);
        if (v != V_GP)
            fail_msg("msr %#x (%s): vector %d", bad[k].msr, bad[k].write ? "write" : "read", v);
    }
    uint64_t x;
    assert_int_equal(cpu_get_msr(e->cpu, 0x12345678, &x), -1);
    assert_int_equal(cpu_set_msr(e->cpu, 0x12345678, 0), -1);
    assert_int_equal(cpu_set_msr(e->cpu, 0x176, 0x4444), 0);
    assert_int_equal(cpu_get_msr(e->cpu, 0x176, &x), 0);
    assert_true(x == 0x4444);
}

/* ---- time stamp counter ---- */

static void test_tsc(void **state)
{
    Env *e = *state;
    setup_real(e);
    fake_tsc = 1000;
    static const uint8_t rdtsc[] = {
        0x0F, 0x31,  /* rdtsc */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rdtsc), -1);
    assert_int_equal(reg(e, R_EAX), 1000);
    assert_int_equal(reg(e, R_EDX), 0);

    /* WRMSR to the TSC: P6 writes the low 32 bits, clears the high 32. */
    static const uint8_t wr[] = {
        0x66, 0xB9, 0x10, 0x00, 0x00, 0x00,  /* mov ecx, 0x10 */
        0x0F, 0x30,  /* wrmsr */
        0xEB, 0xFE,  /* jmp $ */
    };
    cpu_set_reg(e->cpu, R_EAX, 0x100);
    cpu_set_reg(e->cpu, R_EDX, 5);
    assert_int_equal(RUN(e, wr), -1);
    fake_tsc = 3000;
    assert_int_equal(RUN(e, rdtsc), -1);
    assert_int_equal(reg(e, R_EAX), 0x100 + 2000);
    assert_int_equal(reg(e, R_EDX), 0);
    uint64_t t;
    assert_int_equal(cpu_get_msr(e->cpu, 0x10, &t), 0);
    assert_true(t == 0x100 + 2000);

    /* CR4.TSD: RDTSC is privileged. */
    setup_pm(e);
    cpu_set_cr(e->cpu, 4, CR4_TSD);
    static const uint8_t rdtsc32[] = {
        0x0F, 0x31,  /* rdtsc */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rdtsc32), -1);
    to_user(e);
    assert_int_equal(RUN(e, rdtsc32), V_GP);
    assert_int_equal(frame(e, 0), 0);
    setup_pm(e);
    to_user(e);
    assert_int_equal(RUN(e, rdtsc32), -1);
    assert_int_equal(reg(e, R_EAX), 0x100 + 2000);
}

/* ---- SYSENTER / SYSEXIT ---- */

static void test_sysenter_sysexit(void **state)
{
    Env *e = *state;
    setup_pm(e);
    assert_int_equal(cpu_set_msr(e->cpu, 0x174, SEL_CODE), 0);
    assert_int_equal(cpu_set_msr(e->cpu, 0x175, 0x8800), 0);
    assert_int_equal(cpu_set_msr(e->cpu, 0x176, KENTRY), 0);
    to_user(e);
    cpu_set_eflags(e->cpu, 0x2 | EFLAGS_IF);
    static const uint8_t enter[] = {
        0x0F, 0x34,  /* sysenter */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, enter), -2);
    assert_int_equal(cpu_get_eip(e->cpu), KENTRY);
    assert_int_equal(cpu_get_cpl(e->cpu), 0);
    assert_int_equal(reg(e, R_ESP), 0x8800);
    assert_false(cpu_get_eflags(e->cpu) & EFLAGS_IF);
    CpuSeg s;
    cpu_get_seg(e->cpu, SEG_CS, &s);
    assert_int_equal(s.sel, SEL_CODE);
    assert_int_equal(s.base, 0);
    assert_int_equal(s.limit, 0xFFFFFFFFu);
    assert_int_equal(s.ar & 0xF0FF, 0xC09B);
    cpu_get_seg(e->cpu, SEG_SS, &s);
    assert_int_equal(s.sel, SEL_CODE + 8);
    assert_int_equal(s.ar & 0xF0FF, 0xC093);

    static const uint8_t exit_[] = {
        0x0F, 0x35,  /* sysexit */
        0xEB, 0xFE,  /* jmp $ */
    };
    cpu_set_reg(e->cpu, R_ECX, 0x7700);
    cpu_set_reg(e->cpu, R_EDX, UENTRY);
    assert_int_equal(RUN(e, exit_), -2);
    assert_int_equal(cpu_get_eip(e->cpu), UENTRY);
    assert_int_equal(cpu_get_cpl(e->cpu), 3);
    assert_int_equal(reg(e, R_ESP), 0x7700);
    cpu_get_seg(e->cpu, SEG_CS, &s);
    assert_int_equal(s.sel, (SEL_CODE + 16) | 3);
    assert_int_equal(s.ar & 0xF0FF, 0xC0FB);
    assert_int_equal(s.limit, 0xFFFFFFFFu);
    cpu_get_seg(e->cpu, SEG_SS, &s);
    assert_int_equal(s.sel, (SEL_CODE + 24) | 3);
    assert_int_equal(s.ar & 0xF0FF, 0xC0F3);

    /* SYSEXIT at CPL 3: #GP(0). */
    assert_int_equal(RUN(e, exit_), V_GP);
    assert_int_equal(frame(e, 0), 0);
    /* SYSENTER with SYSENTER_CS = 0: #GP(0). */
    setup_pm(e);
    to_user(e);
    assert_int_equal(cpu_set_msr(e->cpu, 0x174, 0), 0);
    assert_int_equal(RUN(e, enter), V_GP);
    assert_int_equal(frame(e, 0), 0);
    /* SYSENTER in real mode: #GP(0). */
    assert_int_equal(cpu_set_msr(e->cpu, 0x174, SEL_CODE), 0);
    setup_real(e);
    static const uint8_t enter16[] = {
        0x0F, 0x34,  /* sysenter */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, enter16), V_GP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lgdt_sgdt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lgdt_privilege, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smsw_lmsw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privileged_at_cpl3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ud2_rsm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lar_lsl_verr_verw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lar_in_ldt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pm_only_in_real_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sldt_str_lldt_ltr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arpl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mov_cr0_pm_enter_leave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mov_cr_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mov_dr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpuid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tsc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sysenter_sysexit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
