/*
 * test_cpu_mmu.c - paging and the TLB (SDM vol. 3 §4.3, §4.7, §4.8, §4.10),
 * data and instruction breakpoints (§17.2-17.3), through the public CPU API.
 *
 * The guest runs in flat 32-bit protected mode with a GDT, an IDT whose
 * handlers are `jmp $` loops at HND + 16 * vector, and a TSS for CPL 3 -> 0
 * transitions.  Paging identity-maps the low 4 MiB (user, writable); the
 * tests map linear 0x00800000 (page table PT2) and 4 MiB pages as they need.
 * Each snippet ends in `jmp $`: run() reports which loop the CPU ended in.
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
    GDT = 0x1000, IDT = 0x1800, CODE = 0x2000, HND = 0x3000, TSS = 0x4000,
    USTACK = 0x7000, ESP0 = 0x8000, KSTACK = 0x9000,
    PD = 0x100000, PT0 = 0x101000, PT2 = 0x102000,
    TEST_LIN = 0x800000,  /* PD index 2, mapped through PT2 */
};
enum { SEL_CODE = 0x08, SEL_DATA = 0x10, SEL_UCODE = 0x1B, SEL_UDATA = 0x23, SEL_TSS = 0x28 };
enum { V_DB = 1, V_UD = 6, V_GP = 13, V_PF = 14 };
#define CR0_PE 0x1u
#define CR0_ET 0x10u
#define CR0_WP 0x10000u
#define CR0_PG 0x80000000u
#define CR4_PSE 0x10u
#define PTE_P 0x1u
#define PTE_W 0x2u
#define PTE_U 0x4u
#define PTE_A 0x20u
#define PTE_D 0x40u
#define PTE_PS 0x80u
#define EFLAGS_ZF 0x40u

typedef struct Env {
    PhysMem pm;
    X86Cpu *cpu;
} Env;

static void put32(Env *e, uint32_t a, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    phys_write_buf(&e->pm, a, b, 4);
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
    e->cpu = cpu_new(&e->pm, NULL, NULL);
    assert_non_null(e->cpu);
    for (unsigned v = 0; v < 32; v++) {
        static const uint8_t loop[2] = { 0xEB, 0xFE }; /* jmp $ */
        phys_write_buf(&e->pm, HND + 16 * v, loop, 2);
        /* 32-bit interrupt gate, DPL 0, to SEL_CODE:HND+16v */
        uint32_t off = HND + 16 * v;
        put32(e, IDT + 8 * v, ((uint32_t)SEL_CODE << 16) | (off & 0xFFFF));
        put32(e, IDT + 8 * v + 4, (off & 0xFFFF0000u) | 0x8E00);
    }
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

/* Flat 32-bit protected mode at CPL 0, paging off. */
static void setup_pm(Env *e)
{
    X86Cpu *cpu = e->cpu;
    cpu_set_dtr(cpu, 0, GDT, 0x7F);
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

/* Paging on: PD[0] identity-maps 0-4 MiB (user, writable); PD[2] -> PT2
 * (empty).  wp: CR0.WP. */
static void paging_on(Env *e, bool wp)
{
    for (unsigned k = 0; k < 1024; k++) {
        put32(e, PD + 4 * k, 0);
        put32(e, PT0 + 4 * k, (k << 12) | PTE_U | PTE_W | PTE_P);
        put32(e, PT2 + 4 * k, 0);
    }
    put32(e, PD, PT0 | PTE_U | PTE_W | PTE_P);
    put32(e, PD + 4 * 2, PT2 | PTE_U | PTE_W | PTE_P);
    cpu_set_cr(e->cpu, 3, PD);
    cpu_set_cr(e->cpu, 0, CR0_PE | CR0_ET | CR0_PG | (wp ? CR0_WP : 0));
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

/* The exception frame on the handler's stack: word k (0 = error code for
 * exceptions that push one). */
static uint32_t frame(Env *e, int k)
{
    return get32(e, cpu_get_reg(e->cpu, R_ESP) + 4 * k);
}

/* ---- page walks ---- */

static void test_walk_4k(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    put32(e, PT2, 0x500000 | PTE_U | PTE_W | PTE_P);
    put32(e, 0x500010, 0xDEADBEEF);

    static const uint8_t rd[] = {
        0xA1, 0x10, 0x00, 0x80, 0x00,  /* mov eax, [0x800010] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rd), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0xDEADBEEF);
    /* Accessed bits on both levels, no dirty bit for a read. */
    assert_true(get32(e, PD + 8) & PTE_A);
    assert_int_equal(get32(e, PT2) & (PTE_A | PTE_D), PTE_A);

    static const uint8_t wr[] = {
        0xC7, 0x05, 0x20, 0x00, 0x80, 0x00, 0x78, 0x56, 0x34, 0x12,  /* mov dword [0x800020], 0x12345678 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, wr), -1);
    assert_int_equal(get32(e, 0x500020), 0x12345678);
    assert_int_equal(get32(e, PT2) & (PTE_A | PTE_D), PTE_A | PTE_D);
    /* The PDE of a 4 KiB page has no dirty bit to set. */
    assert_int_equal(get32(e, PD + 8) & PTE_D, 0);

    uint32_t phys = 0;
    assert_int_equal(cpu_translate(e->cpu, 0x800123, &phys), 0);
    assert_int_equal(phys, 0x500123);
    assert_int_equal(cpu_translate(e->cpu, 0x801000, &phys), -1);
    assert_int_equal(cpu_translate(e->cpu, 0x00400000, &phys), -1);
    /* cpu_translate has no side effects. */
    put32(e, PT2 + 4, 0x501000 | PTE_P);
    assert_int_equal(cpu_translate(e->cpu, 0x801FFF, &phys), 0);
    assert_int_equal(phys, 0x501FFF);
    assert_int_equal(get32(e, PT2 + 4), 0x501000 | PTE_P);
}

static void test_walk_4m(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    cpu_set_cr(e->cpu, 4, CR4_PSE);
    /* Linear 0xC00000 (PD index 3) -> 4 MiB page at 0x800000. */
    put32(e, PD + 12, 0x800000 | PTE_PS | PTE_W | PTE_P);
    put32(e, 0x801234, 0xCAFEBABE);

    static const uint8_t rd[] = {
        0xA1, 0x34, 0x12, 0xC0, 0x00,  /* mov eax, [0xC01234] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rd), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0xCAFEBABE);
    assert_int_equal(get32(e, PD + 12) & (PTE_A | PTE_D), PTE_A);

    static const uint8_t wr[] = {
        0xC7, 0x05, 0xFC, 0xFF, 0xCF, 0x00, 0x21, 0x43, 0x65, 0x87,  /* mov dword [0xCFFFFC], 0x87654321 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, wr), -1);
    assert_int_equal(get32(e, 0x8FFFFC), 0x87654321);
    assert_int_equal(get32(e, PD + 12) & (PTE_A | PTE_D), PTE_A | PTE_D);

    /* Without CR4.PSE the PS bit is ignored: the PDE points to a page table. */
    put32(e, 0x800004, 0x503000 | PTE_W | PTE_P); /* PT[1] for 0xC01000 */
    put32(e, 0x503234, 0x11112222);
    cpu_set_cr(e->cpu, 4, 0);
    assert_int_equal(RUN(e, rd), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0x11112222);
}

static void test_4m_reserved_bits(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    cpu_set_cr(e->cpu, 4, CR4_PSE);
    /* Bits 21:13 of a 4 MiB PDE are reserved without PSE-36: #PF with
     * P and RSVD set in the error code. */
    put32(e, PD + 12, 0x800000 | 0x2000 | PTE_PS | PTE_W | PTE_P);
    static const uint8_t rd[] = {
        0xA1, 0x34, 0x12, 0xC0, 0x00,  /* mov eax, [0xC01234] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rd), V_PF);
    assert_int_equal(frame(e, 0), 0x9);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0xC01234);
    assert_int_equal(get32(e, PD + 12) & PTE_A, 0);
}

/* ---- #PF error codes ---- */

typedef struct PfCase {
    bool user, write, wp;
    uint32_t pde, pte;   /* flags of PD[2] and PT2[0] (0: not present) */
    int err;             /* expected error code, -1: no fault */
} PfCase;

static void test_pf_error_codes(void **state)
{
    Env *e = *state;
    static const PfCase cases[] = {
        /* not-present PTE */
        { false, false, false, 7, 0, 0 }, { false, true, false, 7, 0, 2 },
        { true, false, false, 7, 0, 4 },  { true, true, false, 7, 0, 6 },
        /* not-present PDE */
        { false, false, false, 0, 7, 0 }, { true, true, false, 0, 7, 6 },
        /* supervisor page */
        { true, false, false, 7, 3, 5 },  { true, true, false, 7, 3, 7 },
        { false, false, false, 7, 3, -1 }, { false, true, true, 7, 3, -1 },
        /* supervisor PDE, user PTE */
        { true, false, false, 3, 7, 5 },
        /* read-only user page */
        { true, false, false, 7, 5, -1 }, { true, true, false, 7, 5, 7 },
        { false, true, false, 7, 5, -1 }, { false, true, true, 7, 5, 3 },
        /* read-only PDE, writable PTE */
        { true, true, false, 5, 7, 7 },   { false, true, true, 5, 7, 3 },
        { false, true, false, 5, 7, -1 },
        /* read-only supervisor page */
        { false, false, true, 7, 1, -1 }, { false, true, true, 7, 1, 3 },
        { false, true, false, 7, 1, -1 },
    };
    static const uint8_t rd_k[] = {
        0x8B, 0x1D, 0x00, 0x00, 0x80, 0x00,  /* mov ebx, [0x800000] */
        0xEB, 0xFE,  /* jmp $ */
    };
    static const uint8_t wr_k[] = {
        0xA3, 0x00, 0x00, 0x80, 0x00,  /* mov [0x800000], eax */
        0xEB, 0xFE,  /* jmp $ */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const PfCase *c = &cases[k];
        setup_pm(e);
        paging_on(e, c->wp);
        put32(e, PD + 8, c->pde ? PT2 | c->pde : 0);
        put32(e, PT2, c->pte ? 0x500000 | c->pte : 0);
        put32(e, 0x500000, 0x55AA55AA);
        cpu_set_cr(e->cpu, 2, 0);
        if (c->user)
            to_user(e);
        cpu_set_reg(e->cpu, R_EAX, 0x77777777);
        cpu_set_reg(e->cpu, R_EBX, 0x12121212);
        int v = c->write ? RUN(e, wr_k) : RUN(e, rd_k);
        if (c->err < 0) {
            assert_int_equal(v, -1);
            if (c->write)
                assert_int_equal(get32(e, 0x500000), 0x77777777);
            else
                assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0x55AA55AA);
            uint32_t a = c->write ? PTE_A | PTE_D : PTE_A;
            assert_int_equal(get32(e, PT2) & (PTE_A | PTE_D), a);
        } else {
            if (v != V_PF)
                fail_msg("case %zu: vector %d", k, v);
            if (frame(e, 0) != (uint32_t)c->err)
                fail_msg("case %zu: error code %#x, expected %#x", k, frame(e, 0), c->err);
            assert_int_equal(frame(e, 1), CODE); /* fault: EIP of the access */
            assert_int_equal(frame(e, 2) & 3, c->user ? 3 : 0);
            assert_int_equal(cpu_get_cr(e->cpu, 2), TEST_LIN);
            assert_int_equal(get32(e, 0x500000), 0x55AA55AA);
            assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0x12121212);
            /* A faulting access sets no accessed bit in the PTE. */
            if (c->pte)
                assert_int_equal(get32(e, PT2) & PTE_A, 0);
        }
    }
}

/* The supervisor and user TLBs are separate: a supervisor access that
 * caches a supervisor-only page must not let CPL 3 in. */
static void test_tlb_user_supervisor(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    put32(e, PT2, 0x500000 | PTE_W | PTE_P);
    static const uint8_t rd[] = {
        0x8B, 0x1D, 0x00, 0x00, 0x80, 0x00,  /* mov ebx, [0x800000] */
        0x89, 0x1D, 0x04, 0x00, 0x80, 0x00,  /* mov [0x800004], ebx */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, rd), -1);
    to_user(e);
    assert_int_equal(RUN(e, rd), V_PF);
    assert_int_equal(frame(e, 0), 5);
}

/* CR0.WP set by MOV CR0 takes effect at once (the TLB is flushed). */
static void test_wp_toggle(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    put32(e, PT2, 0x500000 | PTE_U | PTE_D | PTE_A | PTE_P); /* read-only */
    cpu_set_reg(e->cpu, R_EAX, 0x1234);
    cpu_set_reg(e->cpu, R_EBX, 0x5678);
    static const uint8_t code[] = {
        0xA3, 0x00, 0x00, 0x80, 0x00,  /* mov [0x800000], eax */
        0x0F, 0x20, 0xC1,  /* mov ecx, cr0 */
        0x81, 0xC9, 0x00, 0x00, 0x01, 0x00,  /* or ecx, 0x10000 */
        0x0F, 0x22, 0xC1,  /* mov cr0, ecx */
        0x89, 0x1D, 0x00, 0x00, 0x80, 0x00,  /* mov [0x800000], ebx */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), V_PF);
    assert_int_equal(frame(e, 0), 3);
    assert_int_equal(get32(e, 0x500000), 0x1234);
    assert_true(cpu_get_cr(e->cpu, 0) & CR0_WP);
}

/* ---- TLB invalidation ---- */

static void test_invlpg(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    put32(e, PT2, 0x500000 | PTE_W | PTE_P);
    put32(e, 0x500000, 0x1111);
    put32(e, 0x501000, 0x2222);
    static const uint8_t code[] = {
        0xA1, 0x00, 0x00, 0x80, 0x00,  /* mov eax, [0x800000] */
        0xC7, 0x05, 0x00, 0x20, 0x10, 0x00, 0x03, 0x10, 0x50, 0x00,  /* mov dword [0x102000], 0x501003 */
        0x0F, 0x01, 0x3D, 0x00, 0x00, 0x80, 0x00,  /* invlpg [0x800000] */
        0x8B, 0x1D, 0x00, 0x00, 0x80, 0x00,  /* mov ebx, [0x800000] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0x1111);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0x2222);

    /* INVLPG is privileged. */
    to_user(e);
    static const uint8_t user[] = {
        0x0F, 0x01, 0x3D, 0x00, 0x00, 0x80, 0x00,  /* invlpg [0x800000] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, user), V_GP);
    assert_int_equal(frame(e, 0), 0);
}

/* INVLPG of any address in a 4 MiB page drops the whole page. */
static void test_invlpg_large(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    cpu_set_cr(e->cpu, 4, CR4_PSE);
    put32(e, PD + 12, 0x800000 | PTE_PS | PTE_W | PTE_P);
    put32(e, 0x805000, 0xAAAA);
    put32(e, 0xC05000, 0xBBBB);
    static const uint8_t code[] = {
        0xA1, 0x00, 0x50, 0xC0, 0x00,  /* mov eax, [0xC05000] */
        0xC7, 0x05, 0x0C, 0x00, 0x10, 0x00, 0x83, 0x00, 0xC0, 0x00,  /* mov dword [0x10000C], 0xC00083 */
        0x0F, 0x01, 0x3D, 0x00, 0x00, 0xC0, 0x00,  /* invlpg [0xC00000] */
        0x8B, 0x1D, 0x00, 0x50, 0xC0, 0x00,  /* mov ebx, [0xC05000] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0xAAAA);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0xBBBB);
}

static void test_cr3_flush(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    put32(e, PT2, 0x500000 | PTE_W | PTE_P);
    put32(e, 0x500000, 0x1111);
    put32(e, 0x501000, 0x2222);
    static const uint8_t code[] = {
        0xA1, 0x00, 0x00, 0x80, 0x00,  /* mov eax, [0x800000] */
        0xC7, 0x05, 0x00, 0x20, 0x10, 0x00, 0x03, 0x10, 0x50, 0x00,  /* mov dword [0x102000], 0x501003 */
        0x0F, 0x20, 0xD9,  /* mov ecx, cr3 */
        0x0F, 0x22, 0xD9,  /* mov cr3, ecx */
        0x8B, 0x1D, 0x00, 0x00, 0x80, 0x00,  /* mov ebx, [0x800000] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0x1111);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0x2222);
}

/* ---- accesses crossing a page boundary ---- */

static void test_page_crossing(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    put32(e, PT2, 0x500000 | PTE_U | PTE_W | PTE_P);
    put32(e, 0x500FFC, 0xAAAAAAAA);
    put32(e, 0x502000, 0xBBBBBBBB);

    /* Second page not present: nothing is written, CR2 = start of page 2. */
    static const uint8_t wr[] = {
        0xC7, 0x05, 0xFE, 0x0F, 0x80, 0x00, 0x44, 0x33, 0x22, 0x11,  /* mov dword [0x800FFE], 0x11223344 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, wr), V_PF);
    assert_int_equal(frame(e, 0), 2);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x801000);
    assert_int_equal(get32(e, 0x500FFC), 0xAAAAAAAA);

    static const uint8_t rd[] = {
        0x8B, 0x1D, 0xFE, 0x0F, 0x80, 0x00,  /* mov ebx, [0x800FFE] */
        0xEB, 0xFE,  /* jmp $ */
    };
    cpu_set_reg(e->cpu, R_EBX, 0x5555);
    setup_pm(e);
    cpu_set_cr(e->cpu, 0, CR0_PE | CR0_ET | CR0_PG);
    assert_int_equal(RUN(e, rd), V_PF);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x801000);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0x5555);

    /* Second page read-only at CPL 3. */
    put32(e, PT2 + 4, 0x502000 | PTE_U | PTE_P);
    setup_pm(e);
    cpu_set_cr(e->cpu, 0, CR0_PE | CR0_ET | CR0_PG);
    to_user(e);
    assert_int_equal(RUN(e, wr), V_PF);
    assert_int_equal(frame(e, 0), 7);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x801000);
    assert_int_equal(get32(e, 0x500FFC), 0xAAAAAAAA);
    assert_int_equal(get32(e, 0x502000), 0xBBBBBBBB);

    /* First page not present: CR2 = the access address. */
    put32(e, PT2, 0);
    put32(e, PT2 + 4, 0x502000 | PTE_U | PTE_W | PTE_P);
    setup_pm(e);
    cpu_set_cr(e->cpu, 0, CR0_PE | CR0_ET | CR0_PG);
    assert_int_equal(RUN(e, wr), V_PF);
    assert_int_equal(frame(e, 0), 2);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x800FFE);
    assert_int_equal(get32(e, 0x502000), 0xBBBBBBBB);

    /* Both present, physically discontiguous. */
    put32(e, PT2, 0x500000 | PTE_U | PTE_W | PTE_P);
    setup_pm(e);
    cpu_set_cr(e->cpu, 0, CR0_PE | CR0_ET | CR0_PG);
    static const uint8_t ok[] = {
        0xC7, 0x05, 0xFE, 0x0F, 0x80, 0x00, 0x44, 0x33, 0x22, 0x11,  /* mov dword [0x800FFE], 0x11223344 */
        0x8B, 0x1D, 0xFD, 0x0F, 0x80, 0x00,  /* mov ebx, [0x800FFD] */
        0x66, 0x8B, 0x0D, 0xFF, 0x0F, 0x80, 0x00,  /* mov cx, [0x800FFF] */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, ok), -1);
    assert_int_equal(get32(e, 0x500FFC), 0x3344AAAA);
    assert_int_equal(get32(e, 0x502000), 0xBBBB1122);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 0x223344AA);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX) & 0xFFFF, 0x2233);
    assert_int_equal(get32(e, PT2) & PTE_D, PTE_D);
    assert_int_equal(get32(e, PT2 + 4) & PTE_D, PTE_D);
}

/* Writes through the slow path to a page holding translated code reach
 * it and the next instruction sees them (self-modifying code). */
static void test_smc(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    /* Patch the immediate of `mov eax, imm32` that follows. */
    static const uint8_t code[] = {
        0xC7, 0x05, 0x0B, 0x20, 0x00, 0x00, 0x5A, 0x5A, 0x5A, 0x5A,  /* mov dword [0x2000 + 11], 0x5A5A5A5A */
        0xB8, 0x11, 0x11, 0x11, 0x11,  /* mov eax, 0x11111111 */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), -1);
    assert_int_equal(cpu_get_reg(e->cpu, R_EAX), 0x5A5A5A5A);
}

/* ---- debug registers ---- */

/* DR7: L0, R/W0 = 01 (write), LEN0 = 11 (4 bytes). */
static void test_data_breakpoint_write(void **state)
{
    Env *e = *state;
    setup_pm(e);
    paging_on(e, false);
    static const uint8_t code[] = {
        0xB8, 0x00, 0x06, 0x00, 0x00,  /* mov eax, 0x600 */
        0x0F, 0x23, 0xC0,  /* mov dr0, eax */
        0xB8, 0x01, 0x00, 0x0D, 0x00,  /* mov eax, 0x000D0001 */
        0x0F, 0x23, 0xF8,  /* mov dr7, eax */
        0xA1, 0x00, 0x06, 0x00, 0x00,  /* mov eax, [0x600] */
        0xC7, 0x05, 0x04, 0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  /* mov dword [0x604], 1 */
        0xC7, 0x05, 0xFC, 0x05, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  /* mov dword [0x5FC], 1 */
        0x66, 0xC7, 0x05, 0x02, 0x06, 0x00, 0x00, 0x02, 0x00,  /* mov word [0x602], 2 */
        0x90,  /* nop */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), V_DB);
    /* A trap: the frame points after the writing instruction. */
    assert_int_equal(frame(e, 0), CODE + sizeof(code) - 3);
    assert_int_equal(cpu_get_dr(e->cpu, 6) & 0xF, 1);
    assert_int_equal(get32(e, 0x600), 0x00020000);
    assert_int_equal(get32(e, 0x604), 1);
}

/* DR7: L1, R/W1 = 11 (read/write), LEN1 = 00 (1 byte). */
static void test_data_breakpoint_read(void **state)
{
    Env *e = *state;
    setup_pm(e);
    put32(e, 0x700, 0x44332211);
    static const uint8_t code[] = {
        0xB8, 0x02, 0x07, 0x00, 0x00,  /* mov eax, 0x702 */
        0x0F, 0x23, 0xC8,  /* mov dr1, eax */
        0xB8, 0x04, 0x00, 0x30, 0x00,  /* mov eax, 0x00300004 */
        0x0F, 0x23, 0xF8,  /* mov dr7, eax */
        0xA0, 0x01, 0x07, 0x00, 0x00,  /* mov al, [0x701] */
        0x66, 0x8B, 0x1D, 0xFF, 0x06, 0x00, 0x00,  /* mov bx, [0x6FF] */
        0x8B, 0x0D, 0x01, 0x07, 0x00, 0x00,  /* mov ecx, [0x701] */
        0x90,  /* nop */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), V_DB);
    assert_int_equal(frame(e, 0), CODE + sizeof(code) - 3);
    assert_int_equal(cpu_get_dr(e->cpu, 6) & 0xF, 2);
    assert_int_equal(cpu_get_reg(e->cpu, R_ECX), 0x00443322);
}

/* DR7: L0, R/W0 = 00: instruction breakpoint, a fault before execution. */
static void test_insn_breakpoint(void **state)
{
    Env *e = *state;
    setup_pm(e);
    cpu_set_reg(e->cpu, R_EBX, 0);
    static const uint8_t code[] = {
        0xB8, 0x11, 0x20, 0x00, 0x00,  /* mov eax, 0x2011 */
        0x0F, 0x23, 0xC0,  /* mov dr0, eax */
        0xB8, 0x01, 0x00, 0x00, 0x00,  /* mov eax, 1 */
        0x0F, 0x23, 0xF8,  /* mov dr7, eax */
        0x43,  /* inc ebx */
        0x43,  /* inc ebx */
        0xEB, 0xFE,  /* jmp $ */
    };
    assert_int_equal(RUN(e, code), V_DB);
    assert_int_equal(frame(e, 0), CODE + 0x11);
    assert_int_equal(cpu_get_reg(e->cpu, R_EBX), 1);
    assert_int_equal(cpu_get_dr(e->cpu, 6) & 0xF, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_walk_4k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_walk_4m, setup, teardown),
        cmocka_unit_test_setup_teardown(test_4m_reserved_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pf_error_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tlb_user_supervisor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wp_toggle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invlpg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invlpg_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cr3_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_crossing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_breakpoint_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_breakpoint_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insn_breakpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
