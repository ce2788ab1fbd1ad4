/*
 * test_cpu_data.c - data movement, stack, string and port I/O instructions
 * (cpu/ops_mov.c, ops_stack.c, ops_string.c, ops_io.c), driven through the
 * public CPU API.  Guest code comes from test_cpu_data_code.inc (nasm
 * snippets in test_cpu_data_gen.py).  Expected values are worked out from
 * the SDM vol. 2 instruction pages.
 *
 * Layout (linear = physical unless paging is on):
 *   0x00000 IVT (vector v -> 0600:v*16)    0x00800 GDT   0x01000 IDT
 *   0x03000 TSS (+0x68: I/O bitmap)         0x06000 + v*16: HLT stubs
 *   0x10000 code   0x20000.. data   0x38000 stack top   0x3F000 ring-0 stack
 *   0x100000 page directory, 0x101000 page table (paging tests)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/cpu.h"
#include "mem/phys.h"

#include "test_cpu_data_code.inc"

enum {
    CODE = 0x10000, DATA = 0x20000, STACK_TOP = 0x38000, STACK0_TOP = 0x3F000,
    GDT = 0x800, IDT = 0x1000, TSS = 0x3000, STUBS = 0x6000,
    PD = 0x100000, PT = 0x101000,
    IOMAP_OFF = 0x68, TSS_LIMIT_FULL = 0x68 + 0x2000,
};

enum {
    SEL_CODE0 = 0x08, SEL_DATA0 = 0x10, SEL_CODE3 = 0x1B, SEL_DATA3 = 0x23,
    SEL_TSS = 0x28, SEL_DATA_B = 0x30, /* base 0x50000, limit 0xFFFF */
};

#define EFL_CF 0x001u
#define EFL_ZF 0x040u
#define EFL_SF 0x080u
#define EFL_OF 0x800u
#define EFL_TF 0x100u
#define EFL_IF 0x200u
#define EFL_DF 0x400u
#define EFL_VM 0x20000u
#define EFL_IOPL3 0x3000u
#define CR0_PE 1u
#define CR0_PG 0x80000000u

typedef struct IoRec {
    uint16_t port;
    uint8_t size;
    uint8_t write;
    uint32_t val;
} IoRec;

typedef struct Env {
    PhysMem pm;
    X86Cpu *cpu;
    CpuHostOps ops;
    IoRec io[64];
    int nio;
    int nreads;
    int intr_vec;
    uint8_t *shadow;   /* reference model of memory */
} Env;

#define MODEL_SIZE (8u << 20)

/* ---- host callbacks ---- */

static uint32_t io_pattern(uint16_t port, int n)
{
    return 0xC0DE0000u ^ (port * 0x01000193u) ^ ((uint32_t)n * 0x11111111u);
}

static uint32_t io_read_cb(void *opaque, uint16_t port, unsigned size)
{
    Env *e = opaque;
    uint32_t v = io_pattern(port, e->nreads++);
    if (size < 4)
        v &= (1u << (size * 8)) - 1;
    if (e->nio < 64)
        e->io[e->nio++] = (IoRec){ port, (uint8_t)size, 0, v };
    return v;
}

static void io_write_cb(void *opaque, uint16_t port, uint32_t val, unsigned size)
{
    Env *e = opaque;
    if (e->nio < 64)
        e->io[e->nio++] = (IoRec){ port, (uint8_t)size, 1, val };
}

static int intr_ack_cb(void *opaque)
{
    return ((Env *)opaque)->intr_vec;
}

/* TEST_CPU_LOG=1 in the environment prints interrupts and exceptions. */
static void log_cb(void *opaque, int category, const char *msg)
{
    (void)opaque;
    (void)category;
    fprintf(stderr, "cpu: %s\n", msg);
}

/* ---- memory helpers ---- */

static void w8(Env *e, uint32_t a, uint8_t v) { phys_write(&e->pm, a, v, 1); }
static void w16(Env *e, uint32_t a, uint16_t v) { phys_write(&e->pm, a, v, 2); }
static void w32(Env *e, uint32_t a, uint32_t v) { phys_write(&e->pm, a, v, 4); }
static uint32_t r8(Env *e, uint32_t a) { return (uint32_t)phys_read(&e->pm, a, 1); }
static uint32_t r16(Env *e, uint32_t a) { return (uint32_t)phys_read(&e->pm, a, 2); }
static uint32_t r32(Env *e, uint32_t a) { return (uint32_t)phys_read(&e->pm, a, 4); }
static void wbuf(Env *e, uint32_t a, const void *p, size_t n) { phys_write_buf(&e->pm, a, p, n); }

static uint32_t reg(Env *e, int r) { return cpu_get_reg(e->cpu, r); }
static void set_reg(Env *e, int r, uint32_t v) { cpu_set_reg(e->cpu, r, v); }

static void set_seg(Env *e, int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t ar)
{
    CpuSeg sg = { sel, base, limit, ar };
    cpu_set_seg(e->cpu, s, &sg);
}

static CpuSeg get_seg(Env *e, int s)
{
    CpuSeg sg;
    cpu_get_seg(e->cpu, s, &sg);
    return sg;
}

/* ---- machine setup ---- */

static void put_desc(Env *e, uint16_t sel, uint32_t base, uint32_t limit, uint8_t access,
                     uint8_t flags)
{
    uint32_t lo = ((base & 0xFFFF) << 16) | (limit & 0xFFFF);
    uint32_t hi = ((base >> 16) & 0xFF) | ((uint32_t)access << 8) | (limit & 0xF0000) |
                  ((uint32_t)flags << 20) | (base & 0xFF000000u);
    w32(e, GDT + (sel & ~7u), lo);
    w32(e, GDT + (sel & ~7u) + 4, hi);
}

static int setup(void **state)
{
    Env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    assert_int_equal(phys_init(&e->pm, 16u << 20), 0);
    e->ops.io_read = io_read_cb;
    e->ops.io_write = io_write_cb;
    e->ops.intr_ack = intr_ack_cb;
    e->ops.log = log_cb;
    e->cpu = cpu_new(&e->pm, &e->ops, e);
    assert_non_null(e->cpu);
    if (getenv("TEST_CPU_LOG"))
        cpu_set_log_mask(e->cpu, CPU_LOG_INT | CPU_LOG_RESET);
    for (int v = 0; v < 256; v++) {
        w8(e, STUBS + v * 16, 0xF4);               /* hlt */
        w16(e, v * 4, (uint16_t)(v * 16));          /* IVT: 0400:v*16 */
        w16(e, v * 4 + 2, STUBS >> 4);
    }
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    Env *e = *state;
    cpu_free(e->cpu);
    phys_free(&e->pm);
    free(e->shadow);
    free(e);
    return 0;
}

/* Real mode: CS=1000 (code at 0x10000, IP 0), DS=ES=2000, SS=3000, SP=8000. */
static void setup_real(Env *e)
{
    set_seg(e, SEG_CS, 0x1000, 0x10000, 0xFFFF, 0x9B);
    set_seg(e, SEG_DS, 0x2000, 0x20000, 0xFFFF, 0x93);
    set_seg(e, SEG_ES, 0x2000, 0x20000, 0xFFFF, 0x93);
    set_seg(e, SEG_SS, 0x3000, 0x30000, 0xFFFF, 0x93);
    set_seg(e, SEG_FS, 0, 0, 0xFFFF, 0x93);
    set_seg(e, SEG_GS, 0, 0, 0xFFFF, 0x93);
    set_reg(e, R_ESP, 0x8000);
    cpu_set_eip(e->cpu, 0);
    cpu_set_eflags(e->cpu, 2);
}

/* Protected mode, flat 32-bit segments at the given CPL, IOPL 0, TR = a
 * 32-bit TSS with SS0:ESP0 = 10:3F000 and an I/O bitmap denying all. */
static void setup_pm(Env *e, int cpl)
{
    put_desc(e, 0x08, 0, 0xFFFFF, 0x9B, 0xC);
    put_desc(e, 0x10, 0, 0xFFFFF, 0x93, 0xC);
    put_desc(e, 0x18, 0, 0xFFFFF, 0xFB, 0xC);
    put_desc(e, 0x20, 0, 0xFFFFF, 0xF3, 0xC);
    put_desc(e, 0x28, TSS, TSS_LIMIT_FULL, 0x89, 0x0);
    put_desc(e, 0x30, 0x50000, 0xFFFF, 0x93, 0x0);
    for (int v = 0; v < 256; v++) {
        uint32_t off = STUBS + v * 16;
        w32(e, IDT + v * 8, (off & 0xFFFF) | (SEL_CODE0 << 16));
        w32(e, IDT + v * 8 + 4, (off & 0xFFFF0000u) | 0x8E00);
    }
    w32(e, TSS + 4, STACK0_TOP);
    w32(e, TSS + 8, SEL_DATA0);
    w16(e, TSS + 0x66, IOMAP_OFF);
    for (uint32_t k = 0; k <= 0x2000; k++)
        w8(e, TSS + IOMAP_OFF + k, 0xFF);
    cpu_set_dtr(e->cpu, 0, GDT, 0x37);
    cpu_set_dtr(e->cpu, 1, IDT, 0x7FF);
    cpu_set_cr(e->cpu, 0, CR0_PE | 0x10);
    if (cpl == 3) {
        set_seg(e, SEG_CS, SEL_CODE3, 0, 0xFFFFFFFF, 0xC0FB);
        set_seg(e, SEG_SS, SEL_DATA3, 0, 0xFFFFFFFF, 0xC0F3);
        for (int s = SEG_ES; s <= SEG_GS; s++)
            if (s != SEG_CS && s != SEG_SS)
                set_seg(e, s, SEL_DATA3, 0, 0xFFFFFFFF, 0xC0F3);
    } else {
        set_seg(e, SEG_CS, SEL_CODE0, 0, 0xFFFFFFFF, 0xC09B);
        set_seg(e, SEG_SS, SEL_DATA0, 0, 0xFFFFFFFF, 0xC093);
        for (int s = SEG_ES; s <= SEG_GS; s++)
            if (s != SEG_CS && s != SEG_SS)
                set_seg(e, s, SEL_DATA0, 0, 0xFFFFFFFF, 0xC093);
    }
    set_seg(e, SEG_TR, SEL_TSS, TSS, TSS_LIMIT_FULL, 0x8B);
    set_reg(e, R_ESP, STACK_TOP);
    cpu_set_eip(e->cpu, CODE);
    cpu_set_eflags(e->cpu, 2);
}

/* Virtual-8086 mode on top of setup_pm(): CS=1000, DS=ES=2000, SS=3000. */
static void setup_v86(Env *e, uint32_t iopl_bits)
{
    setup_pm(e, 0);
    cpu_set_eflags(e->cpu, 2 | EFL_VM | iopl_bits);
    set_seg(e, SEG_CS, 0x1000, 0x10000, 0xFFFF, 0xF3);
    set_seg(e, SEG_DS, 0x2000, 0x20000, 0xFFFF, 0xF3);
    set_seg(e, SEG_ES, 0x2000, 0x20000, 0xFFFF, 0xF3);
    set_seg(e, SEG_SS, 0x3000, 0x30000, 0xFFFF, 0xF3);
    set_seg(e, SEG_FS, 0, 0, 0xFFFF, 0xF3);
    set_seg(e, SEG_GS, 0, 0, 0xFFFF, 0xF3);
    set_reg(e, R_ESP, 0x8000);
    cpu_set_eip(e->cpu, 0);
}

/* Identity paging of the first 4 MiB with 4 KiB pages (user, writable);
 * page `hole` (linear address) not present. */
static void setup_paging(Env *e, uint32_t hole)
{
    w32(e, PD, PT | 7);
    for (uint32_t k = 1; k < 1024; k++)
        w32(e, PD + k * 4, 0);
    for (uint32_t k = 0; k < 1024; k++)
        w32(e, PT + k * 4, (k << 12) | 7);
    w32(e, PT + (hole >> 12) * 4, 0);
    cpu_set_cr(e->cpu, 3, PD);
    cpu_set_cr(e->cpu, 0, cpu_get_cr(e->cpu, 0) | CR0_PG);
}

/* ---- running ---- */

static uint32_t cs_lin(Env *e) { return get_seg(e, SEG_CS).base + cpu_get_eip(e->cpu); }

#define LOAD(e, name) wbuf((e), CODE, code_##name, sizeof(code_##name))

/* Run to the snippet's final HLT.  At CPL 3 (and in V86 mode) that HLT
 * raises #GP(0), which counts as reaching it. */
#define RUN_OK(e, name) run_ok((e), code_##name, sizeof(code_##name))

/* Run until an exception stub halts; check its vector. */
#define RUN_EXC(e, name, vec)                                                    \
    do {                                                                         \
        LOAD(e, name);                                                           \
        assert_int_equal(cpu_run((e)->cpu, 1000000), CPU_EXIT_HALT);             \
        assert_int_equal(cs_lin(e), STUBS + (vec) * 16 + 1);                     \
    } while (0)

/* Dword idx of the stack at the exception handler (PM: 0 = error code). */
static uint32_t frame(Env *e, int idx)
{
    return r32(e, get_seg(e, SEG_SS).base + reg(e, R_ESP) + 4 * idx);
}

static uint16_t frame16(Env *e, int idx)
{
    return (uint16_t)r16(e, get_seg(e, SEG_SS).base + (reg(e, R_ESP) & 0xFFFF) + 2 * idx);
}

static uint32_t flags(Env *e) { return cpu_get_eflags(e->cpu); }

static void run_ok(Env *e, const uint8_t *code, size_t len)
{
    wbuf(e, CODE, code, len);
    uint32_t eip0 = cpu_get_eip(e->cpu);
    bool user = cpu_get_cpl(e->cpu) == 3;
    assert_int_equal(cpu_run(e->cpu, 1000000), CPU_EXIT_HALT);
    if (user && cs_lin(e) == STUBS + 13 * 16 + 1) {
        assert_int_equal(frame(e, 0), 0);
        assert_int_equal(frame(e, 1), eip0 + len - 1);
        return;
    }
    assert_int_equal(cs_lin(e), CODE + len);
}

/* ==================== MOV, LEA, XCHG, MOVZX/MOVSX, XLAT ==================== */

static void t_mov32(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_OK(e, mov32);
    assert_int_equal(reg(e, R_EAX), 0x12345633);
    assert_int_equal(reg(e, R_EBX), 0x20000);
    assert_int_equal(reg(e, R_ECX), 0x0000AB7F);
    assert_int_equal(reg(e, R_EDX), 0x12345678);
    assert_int_equal(reg(e, R_ESI), 0x0000CDEF);
    assert_int_equal(reg(e, R_EDI), 0xFFFF5555);
    assert_int_equal(reg(e, R_EBP), 0x11223344);
    assert_int_equal(r8(e, 0x20000), 0xAB);
    assert_int_equal(r16(e, 0x20002), 0xCDEF);
    assert_int_equal(r32(e, 0x20004), 0x11223344);
    assert_int_equal(r32(e, 0x20014), 0x12345678);
    assert_int_equal(r32(e, 0x20100), 0x123456AB);
    assert_int_equal(r8(e, 0x20104), 0x33);
}

static void t_moffs(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_DS, SEL_DATA0, 0x20000, 0xFFFFFFFF, 0xC093);
    set_seg(e, SEG_FS, SEL_DATA0, 0x21000, 0xFFFFFFFF, 0xC093);
    set_seg(e, SEG_GS, SEL_DATA0, 0x22000, 0xFFFFFFFF, 0xC093);
    w32(e, 0x20004, 0xA1B2C3D4);
    w16(e, 0x21006, 0x5566);
    w8(e, 0x20010, 0x77);
    RUN_OK(e, moffs);
    assert_int_equal(reg(e, R_EAX), 0xA1B25577);
    assert_int_equal(r32(e, 0x22020), 0xA1B25577);
    assert_int_equal(r32(e, 0x22030), 0x5577);
    assert_int_equal(r8(e, 0x20040), 0x77);
}

static void t_mov_imm_sreg(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA_B, 0x50000, 0xFFFF, 0x93);
    w32(e, 0x20024, 0xFFFFFFFF);
    RUN_OK(e, mov_imm_sreg);
    assert_int_equal(r8(e, 0x20010), 0x5A);
    assert_int_equal(r32(e, 0x20014), 0xDEADBEEF);
    assert_int_equal(r16(e, 0x20018), 0x1234);
    /* MOV m16, Sreg stores 16 bits in either operand size. */
    assert_int_equal(r32(e, 0x20020), 0xFFFF0010);
    assert_int_equal(r32(e, 0x20024), 0xFFFF0030);
    /* MOV r32, Sreg zero-extends (P6); MOV r16, Sreg keeps the upper half. */
    assert_int_equal(reg(e, R_EAX), 0x00000010);
    assert_int_equal(reg(e, R_EDX), 0xFFFF0030);
    assert_int_equal(reg(e, R_ECX), 0xAAAA2211);
    assert_int_equal(reg(e, R_ESI), 0x99993344);
    assert_int_equal(reg(e, R_EBX), 0x00027700);
}

static void t_lea(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_OK(e, lea);
    assert_int_equal(reg(e, R_EAX), 0x1090);
    assert_int_equal(reg(e, R_ECX), 0xAAAAF080);
    assert_int_equal(reg(e, R_EDX), 0x1010);      /* 16-bit EA wraps, zero-extended */
    assert_int_equal(reg(e, R_EDI), 0x12345678);
    assert_int_equal(reg(e, R_EBP), 0x38008);
}

static void t_lea_reg_ud(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_EXC(e, lea_reg, 6);
    assert_int_equal(frame(e, 0), CODE);
}

static void t_xchg(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x20000, 0xCAFEBABE);
    w32(e, 0x20008, 0x66666666);
    w8(e, 0x2000C, 0x99);
    set_reg(e, R_EDI, 1);
    set_reg(e, R_EBP, 2);
    RUN_OK(e, xchg);
    assert_int_equal(reg(e, R_EAX), 0x33331122);
    assert_int_equal(reg(e, R_ECX), 0x11111122);
    assert_int_equal(reg(e, R_EBX), 0x22229933);
    assert_int_equal(reg(e, R_EDX), 0xCAFEBABE);
    assert_int_equal(reg(e, R_ESI), 0x66666666);
    assert_int_equal(reg(e, R_EDI), 2);
    assert_int_equal(reg(e, R_EBP), 1);
    assert_int_equal(r32(e, 0x20000), 0x44444444);
    assert_int_equal(r32(e, 0x20008), 0x55555555);
    assert_int_equal(r8(e, 0x2000C), 0x33);
}

static void t_movzx_movsx(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_OK(e, movzx);
    assert_int_equal(r32(e, 0x20010), 0xF1);
    assert_int_equal(reg(e, R_EBX), 0xFFFFFFF1);
    assert_int_equal(reg(e, R_ECX), 0x8081);
    assert_int_equal(reg(e, R_EDX), 0xFFFF8081);
    assert_int_equal(reg(e, R_EDI), 0xAAAAFFF0);
    assert_int_equal(reg(e, R_EBP), 0xBBBB0081);
    assert_int_equal(reg(e, R_ESI), 0x00005678);
    assert_int_equal(reg(e, R_EAX), 0xFFFFFF80);
    assert_int_equal(r32(e, 0x20014), 0x8081);
}

static void t_movsx_reg(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_EDI, 0xEEEEEEEE);
    set_reg(e, R_EBP, 0xDDDDDDDD);
    RUN_OK(e, movsx_reg);
    assert_int_equal(reg(e, R_EAX), 0xFFFF8001);
    assert_int_equal(reg(e, R_EDX), 1);
    assert_int_equal(reg(e, R_ESI), 0x8001);
    assert_int_equal(reg(e, R_EDI), 0xEEEE007F);
    assert_int_equal(reg(e, R_EBP), 0xDDDD0080);
}

static void t_xlat(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA0, 0x1000, 0xFFFFFFFF, 0xC093);
    w8(e, 0x20105, 0x42);
    w8(e, 0x21105, 0x43);
    w8(e, 0x00003, 0x44);
    RUN_OK(e, xlat);
    assert_int_equal(reg(e, R_ECX), 0xAAAAAA42);
    assert_int_equal(reg(e, R_EDX), 0xBBBBBB43);
    assert_int_equal(reg(e, R_EAX), 0xCCCCCC44);   /* (BX + AL) & 0xFFFF = 3 */
}

/* ==================== segment register loads ==================== */

static void t_movseg_pm(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x50010, 0x13572468);
    w16(e, 0x20000, SEL_DATA_B);
    RUN_OK(e, movseg_pm);
    assert_int_equal(reg(e, R_EBX), 0x13572468);
    CpuSeg ds = get_seg(e, SEG_DS);
    assert_int_equal(ds.sel, SEL_DATA_B);
    assert_int_equal(ds.base, 0x50000);
    assert_int_equal(ds.limit, 0xFFFF);
    assert_int_equal(get_seg(e, SEG_ES).sel, SEL_DATA_B);
    assert_int_equal(get_seg(e, SEG_ES).base, 0x50000);
    assert_int_equal(get_seg(e, SEG_FS).sel, 0);
    assert_int_equal(get_seg(e, SEG_GS).sel, SEL_DATA_B);
}

static void t_movss_null_gp(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_EXC(e, movss_null, 13);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE + 2);
    assert_int_equal(get_seg(e, SEG_SS).sel, SEL_DATA0);
}

static void t_movds_bad_gp(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_EXC(e, movds_bad, 13);
    assert_int_equal(frame(e, 0), 0x1000);
    assert_int_equal(get_seg(e, SEG_DS).sel, SEL_DATA0);
}

static void t_mov_cs_ud(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_EXC(e, mov_cs, 6);
    assert_int_equal(frame(e, 0), CODE);
}

static void t_mov_sreg7_ud(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_EXC(e, mov_sreg7, 6);
}

static void t_lxs_pm(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x20000, 0x11223344);
    w16(e, 0x20004, SEL_DATA_B);
    w16(e, 0x20008, 0x5566);
    w16(e, 0x2000A, SEL_DATA_B);
    w32(e, 0x20010, 0xAABBCCDD);
    w16(e, 0x20014, SEL_DATA0);
    w32(e, 0x20018, 0x37000);
    w16(e, 0x2001C, SEL_DATA0);
    set_reg(e, R_EDI, 0xFFFFFFFF);
    RUN_OK(e, lxs_pm);
    assert_int_equal(reg(e, R_ESI), 0x11223344);
    assert_int_equal(get_seg(e, SEG_DS).sel, SEL_DATA_B);
    assert_int_equal(get_seg(e, SEG_DS).base, 0x50000);
    assert_int_equal(reg(e, R_EDI), 0xFFFF5566);
    assert_int_equal(get_seg(e, SEG_GS).sel, SEL_DATA_B);
    assert_int_equal(reg(e, R_EAX), 0xAABBCCDD);
    assert_int_equal(reg(e, R_ECX), 0xAABBCCDD);
    assert_int_equal(get_seg(e, SEG_FS).sel, SEL_DATA0);
    assert_int_equal(get_seg(e, SEG_ES).sel, SEL_DATA0);
    assert_int_equal(reg(e, R_ESP), 0x37000);
    assert_int_equal(get_seg(e, SEG_SS).sel, SEL_DATA0);
}

static void t_lds_bad_gp(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x20020, 0x99999999);
    w16(e, 0x20024, 0x1000);
    RUN_EXC(e, lds_bad, 13);
    assert_int_equal(frame(e, 0), 0x1000);
    assert_int_equal(reg(e, R_ESI), 0x5555);      /* unchanged */
    assert_int_equal(get_seg(e, SEG_DS).sel, SEL_DATA0);
}

static void t_lds_reg_ud(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_EXC(e, lds_reg, 6);
}

static void t_real_mov(void **state)
{
    Env *e = *state;
    setup_real(e);
    w8(e, 0x20013, 0x5C);
    w16(e, 0x20100, 0x1234);
    w16(e, 0x20102, 0x5000);
    w16(e, 0x20104, 0xFFF0);
    w16(e, 0x20106, 0x3000);
    w32(e, 0x20020, 0xFEDCBA98);
    w32(e, 0x20108, 0x76543210);
    w16(e, 0x2010C, 0x6000);
    w8(e, 0x30126, 0xE7);
    RUN_OK(e, real_mov);
    assert_int_equal(r16(e, 0x20016), 0xBEEF);
    assert_int_equal(reg(e, R_EDI) & 0xFFFF, 0x1234);
    assert_int_equal(get_seg(e, SEG_ES).sel, 0x5000);
    assert_int_equal(get_seg(e, SEG_ES).base, 0x50000);
    assert_int_equal(reg(e, R_ESP) & 0xFFFF, 0xFFF0);
    assert_int_equal(r8(e, 0x51234), 0x5C);
    assert_int_equal(reg(e, R_ECX), 0xFEDCBA98);
    assert_int_equal(reg(e, R_EDX), 0x76543210);
    assert_int_equal(get_seg(e, SEG_GS).base, 0x60000);
    assert_int_equal(r16(e, 0x20120), 0x6000);
    assert_int_equal(reg(e, R_EAX) & 0xFFFF, 0xE75C);
}

static void t_real_mov_cs_ud(void **state)
{
    Env *e = *state;
    setup_real(e);
    RUN_EXC(e, real_mov_cs, 6);
    assert_int_equal(frame16(e, 0), 0);        /* IP of the faulting MOV */
    assert_int_equal(frame16(e, 1), 0x1000);
}

/* The interrupt shadow: an INTR pending after MOV SS / POP SS / LSS is
 * taken only after the next instruction. */
static void shadow_case(Env *e, const uint8_t *code, size_t n, uint32_t ip_after2, bool shadow)
{
    setup_real(e);
    wbuf(e, CODE, code, n);
    set_reg(e, R_EAX, 0x3000);
    w16(e, 0x37FFE, 0);
    w16(e, 0x38000, 0x3000);      /* for POP SS: SS:SP = 3000:8000 */
    w16(e, 0x20200, 0x8000);      /* for LSS */
    w16(e, 0x20202, 0x3000);
    cpu_set_eflags(e->cpu, 2 | EFL_IF);
    e->intr_vec = 0x20;
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET);
    uint32_t ip1 = cpu_get_eip(e->cpu);
    cpu_set_intr(e->cpu, 1);
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET);
    if (shadow) {
        assert_int_equal(cpu_get_eip(e->cpu), ip_after2);
        assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET);
    } else {
        ip_after2 = ip1;
    }
    cpu_set_intr(e->cpu, 0);
    assert_int_equal(cs_lin(e), STUBS + 0x20 * 16);
    assert_int_equal(frame16(e, 0), ip_after2);
}

static void t_shadow_movss(void **state)
{
    shadow_case(*state, code_shadow_movss, sizeof(code_shadow_movss), 5, true);
}

static void t_shadow_popss(void **state)
{
    shadow_case(*state, code_shadow_popss, sizeof(code_shadow_popss), 4, true);
}

static void t_shadow_lss(void **state)
{
    shadow_case(*state, code_shadow_lss, sizeof(code_shadow_lss), 8, true);
}

static void t_shadow_none(void **state)
{
    shadow_case(*state, code_shadow_none, sizeof(code_shadow_none), 0, false);
}

/* ==================== stack ==================== */

static void t_push_pop32(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x20000, 0xCAFEF00D);
    RUN_OK(e, push_pop32);
    assert_int_equal(reg(e, R_EBX), 0xCAFEF00D);
    assert_int_equal(reg(e, R_ECX), 0xFFFFABCD);
    assert_int_equal(reg(e, R_EDX), 0xFFFFFFFE);
    assert_int_equal(r32(e, 0x20004), 0x12345678);
    assert_int_equal(reg(e, R_ESI), 0x37FFC);     /* PUSH ESP pushed the old value */
    assert_int_equal(reg(e, R_EDI), 0x11111111);
    assert_int_equal(reg(e, R_ESP), 0x38000);
    assert_int_equal(r32(e, 0x37FFC), 0x11111111);
    assert_int_equal(r32(e, 0x37FF8), 0x37FFC);
    assert_int_equal(r32(e, 0x37FF4), 0x12345678);
    assert_int_equal(r32(e, 0x37FF0), 0xFFFFFFFE);
    assert_int_equal(r16(e, 0x37FEE), 0xABCD);
    assert_int_equal(r32(e, 0x37FEA), 0xCAFEF00D);
}

static void t_pop_esp(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x37F00, 0x12340000);
    RUN_OK(e, pop_esp);
    assert_int_equal(reg(e, R_ESP), 0x12340000);
}

static void t_pop_sp16(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w16(e, 0x37F00, 0xBEEF);
    RUN_OK(e, pop_sp16);
    assert_int_equal(reg(e, R_ESP), 0x0003BEEF);
}

static void t_push_sp16(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_OK(e, push_esp16);
    assert_int_equal(reg(e, R_ESP), 0x37EFE);
    assert_int_equal(r16(e, 0x37EFE), 0x7F00);
}

static void t_pop_mem_esp(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x37F00, 0xAAAA5555);
    w32(e, 0x37F04, 0xBBBB6666);
    w32(e, 0x37F08, 0);
    RUN_OK(e, pop_mem_esp);
    /* POP m: the EA uses ESP after the increment. */
    assert_int_equal(reg(e, R_ESP), 0x37F06);
    assert_int_equal(r32(e, 0x37F00), 0xBBBB6666);
    assert_int_equal(r32(e, 0x37F04), 0xAAAA5555);
    assert_int_equal(r32(e, 0x37F08), 0x55555555);
}

static void t_pop_mem_fault(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_ES, SEL_DATA_B, 0x50000, 0xFFFF, 0x93);
    RUN_EXC(e, pop_mem_fault, 13);
    /* ESP was not incremented: the frame sits right below 0x37F00. */
    assert_int_equal(reg(e, R_ESP), 0x37F00 - 12 - 4);
    assert_int_equal(frame(e, 1), CODE + 5);
}

static void t_push_pop16_real(void **state)
{
    Env *e = *state;
    setup_real(e);
    set_reg(e, R_ESP, 0xABCD0002);
    set_reg(e, R_EAX, 0x1111);
    set_reg(e, R_EBX, 0x2222);
    w16(e, 0x20010, 0x7777);
    RUN_OK(e, push_pop16_real);
    assert_int_equal(r16(e, 0x3FFFE), 0x2222);    /* SP wrapped 0 -> FFFE */
    assert_int_equal(reg(e, R_ECX), 0x11223344);
    assert_int_equal(reg(e, R_EDX) & 0xFFFF, 0xFFFE);
    assert_int_equal(reg(e, R_ESI) & 0xFFFF, 0x2222);
    assert_int_equal(reg(e, R_EDI) & 0xFFFF, 0x1111);
    assert_int_equal(r16(e, 0x20012), 0x7777);
    assert_int_equal(reg(e, R_ESP), 0xABCD0002);  /* upper half untouched */
}

static void t_push_pop_sreg(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA_B, 0x50000, 0xFFFF, 0x93);
    for (uint32_t a = 0x37FE0; a < 0x38000; a++)
        w8(e, a, 0xFF);
    RUN_OK(e, push_sreg);
    assert_int_equal(reg(e, R_EAX), 0xFFFF0008);  /* 32-bit push wrote 16 bits */
    assert_int_equal(get_seg(e, SEG_DS).sel, SEL_DATA_B);
    assert_int_equal(get_seg(e, SEG_DS).base, 0x50000);
    assert_int_equal(get_seg(e, SEG_FS).sel, SEL_DATA0);
    assert_int_equal(get_seg(e, SEG_FS).base, 0);
    assert_int_equal(get_seg(e, SEG_GS).sel, SEL_DATA0);
    assert_int_equal(reg(e, R_ESP), 0x38000);
    assert_int_equal(r32(e, 0x37FF8), 0x00300010);
}

static void t_pushad(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            set_reg(e, r, (uint32_t)r + 1);
    RUN_OK(e, pushad);
    assert_int_equal(reg(e, R_ESP), 0x37FE0);
    for (int r = 0; r < 8; r++)
        assert_int_equal(r32(e, 0x37FFC - 4 * r), r == R_ESP ? 0x38000 : (uint32_t)r + 1);
}

static void t_popad(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_ESP, 0x37FE0);
    for (int r = 0; r < 8; r++)
        w32(e, 0x37FFC - 4 * r, r == R_ESP ? 0xDEAD : (uint32_t)r + 1);
    RUN_OK(e, popad);
    assert_int_equal(reg(e, R_ESP), 0x38000);
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            assert_int_equal(reg(e, r), (uint32_t)r + 1);
}

static void t_pushaw(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            set_reg(e, r, 0xAAAA0000u + (uint32_t)r + 1);
    RUN_OK(e, pushaw);
    assert_int_equal(reg(e, R_ESP), 0x37FF0);
    for (int r = 0; r < 8; r++)
        assert_int_equal(r16(e, 0x37FFE - 2 * r), r == R_ESP ? 0x8000 : (uint32_t)r + 1);
}

static void t_popaw(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_ESP, 0x37FF0);
    for (int r = 0; r < 8; r++) {
        if (r != R_ESP)
            set_reg(e, r, 0xFFFFFFFF);
        w16(e, 0x37FFE - 2 * r, r == R_ESP ? 0xDEAD : (uint16_t)(r + 1));
    }
    RUN_OK(e, popaw);
    assert_int_equal(reg(e, R_ESP), 0x38000);
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            assert_int_equal(reg(e, r), 0xFFFF0000u + (uint32_t)r + 1);
}

static void t_pushf_popf_cpl0(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_ECX, 0);
    RUN_OK(e, pushf_cpl0);
    /* CPL 0: everything but VM, RF (cleared), VIF, VIP and TF (not set). */
    assert_int_equal(reg(e, R_EAX), 0x00247ED7);
    assert_int_equal(reg(e, R_EBX), 0x00000002);
    assert_int_equal(reg(e, R_ECX), 0x7ED7);
    assert_int_equal(flags(e), 0x00000002);
}

static void t_popf_cpl3_iopl0(void **state)
{
    Env *e = *state;
    setup_pm(e, 3);
    cpu_set_eflags(e->cpu, 2 | EFL_IF);
    set_reg(e, R_ECX, 0);
    RUN_OK(e, popf_user);
    /* CPL 3 > IOPL 0: IF and IOPL unchanged; AC and ID writable. */
    assert_int_equal(reg(e, R_EAX), 0x00244ED7);
    assert_int_equal(reg(e, R_EBX), 0x00000202);
    assert_int_equal(reg(e, R_ECX), 0x4ED7);
}

static void t_popf_cpl3_iopl3(void **state)
{
    Env *e = *state;
    setup_pm(e, 3);
    cpu_set_eflags(e->cpu, 2 | EFL_IF | EFL_IOPL3);
    set_reg(e, R_ECX, 0);
    RUN_OK(e, popf_user);
    /* CPL <= IOPL: IF writable; IOPL still not (CPL > 0). */
    assert_int_equal(reg(e, R_EAX), 0x00247ED7);
    assert_int_equal(reg(e, R_EBX), 0x00003002);
    assert_int_equal(reg(e, R_ECX), 0x7ED7);
}

static void t_popf_cpl3_iopl_kept(void **state)
{
    Env *e = *state;
    setup_pm(e, 3);
    cpu_set_eflags(e->cpu, 2 | 0x1000);        /* IOPL 1 */
    set_reg(e, R_ECX, 0);
    RUN_OK(e, popf_user);
    assert_int_equal(reg(e, R_EAX), 0x00245CD7);
    assert_int_equal(reg(e, R_EBX), 0x00001002);
}

static void t_v86_pushf_gp(void **state)
{
    Env *e = *state;
    setup_v86(e, 0);
    RUN_EXC(e, v86_pushf, 13);
    assert_int_equal(reg(e, R_ESP), STACK0_TOP - 40);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), 0);             /* EIP of PUSHF */
    assert_int_equal(frame(e, 2), 0x1000);
    assert_true(frame(e, 3) & EFL_VM);
    assert_int_equal(frame(e, 4), 0x8000);        /* ESP unchanged */
}

static void t_v86_popf_gp(void **state)
{
    Env *e = *state;
    setup_v86(e, 0x1000);                         /* IOPL 1 < 3 */
    RUN_EXC(e, v86_popf, 13);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 4), 0x8000);
}

static void t_v86_popf_iopl3(void **state)
{
    Env *e = *state;
    setup_v86(e, EFL_IOPL3 | EFL_IF);
    RUN_OK(e, v86_popf_iopl3);
    assert_int_equal(reg(e, R_EAX) & 0xFFFF, 0x3002);
    assert_int_equal(reg(e, R_EBX), 0x00243002);  /* image: VM clear */
    /* EFLAGS at the final HLT (#GP in V86 mode), RF aside. */
    assert_int_equal(frame(e, 3) & ~0x10000u, 0x00263002);
}

static void enter_setup(Env *e)
{
    setup_pm(e, 0);
    set_reg(e, R_EBP, 0x37F80);
    w32(e, 0x37F7C, 0xAAAA0001);
    w32(e, 0x37F78, 0xAAAA0002);
}

static void t_enter0(void **state)
{
    Env *e = *state;
    enter_setup(e);
    RUN_OK(e, enter0);
    assert_int_equal(r32(e, 0x37FFC), 0x37F80);
    assert_int_equal(reg(e, R_EBP), 0x37FFC);
    assert_int_equal(reg(e, R_ESP), 0x37FEC);
}

static void t_enter3(void **state)
{
    Env *e = *state;
    enter_setup(e);
    RUN_OK(e, enter3);
    assert_int_equal(r32(e, 0x37FFC), 0x37F80);
    assert_int_equal(r32(e, 0x37FF8), 0xAAAA0001);
    assert_int_equal(r32(e, 0x37FF4), 0xAAAA0002);
    assert_int_equal(r32(e, 0x37FF0), 0x37FFC);
    assert_int_equal(reg(e, R_EBP), 0x37FFC);
    assert_int_equal(reg(e, R_ESP), 0x37FE8);
}

static void t_enter1(void **state)
{
    Env *e = *state;
    enter_setup(e);
    RUN_OK(e, enter1);
    assert_int_equal(r32(e, 0x37FFC), 0x37F80);
    assert_int_equal(r32(e, 0x37FF8), 0x37FFC);
    assert_int_equal(reg(e, R_EBP), 0x37FFC);
    assert_int_equal(reg(e, R_ESP), 0x37FF4);
}

static void t_enter33(void **state)
{
    Env *e = *state;
    enter_setup(e);
    RUN_OK(e, enter33);                           /* level 33 mod 32 = 1 */
    assert_int_equal(r32(e, 0x37FF8), 0x37FFC);
    assert_int_equal(reg(e, R_EBP), 0x37FFC);
    assert_int_equal(reg(e, R_ESP), 0x37FF4);
}

static void t_enter_o16(void **state)
{
    Env *e = *state;
    enter_setup(e);
    RUN_OK(e, enter_o16);
    assert_int_equal(r16(e, 0x37FFE), 0x7F80);
    assert_int_equal(r16(e, 0x37FFC), 0xAAAA);
    assert_int_equal(r16(e, 0x37FFA), 0x7FFE);
    assert_int_equal(reg(e, R_EBP), 0x00037FFE);
    assert_int_equal(reg(e, R_ESP), 0x37FF6);
}

static void t_enter_real(void **state)
{
    Env *e = *state;
    setup_real(e);
    set_reg(e, R_EBP, 0x7F80);
    w16(e, 0x37F7E, 0x1111);
    RUN_OK(e, enter_real);
    assert_int_equal(r16(e, 0x37FFE), 0x7F80);
    assert_int_equal(r16(e, 0x37FFC), 0x1111);
    assert_int_equal(r16(e, 0x37FFA), 0x7FFE);
    assert_int_equal(reg(e, R_EBP), 0x7FFE);
    assert_int_equal(reg(e, R_ESP), 0x7FF6);
}

static void t_enter_fault(void **state)
{
    Env *e = *state;
    enter_setup(e);
    set_seg(e, SEG_SS, SEL_DATA0, 0, 0x3FFFF, 0x4093);
    set_reg(e, R_ESP, 0x8000);
    RUN_EXC(e, enter_fault, 12);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE);
    assert_int_equal(reg(e, R_ESP), 0x8000 - 16);  /* ESP unchanged by ENTER */
    assert_int_equal(reg(e, R_EBP), 0x37F80);
}

static void t_leave(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_EBP, 0x37F00);
    w32(e, 0x37F00, 0x12345678);
    RUN_OK(e, leave);
    assert_int_equal(reg(e, R_EBX), 0x37F04);
    assert_int_equal(reg(e, R_ECX), 0x12345678);
    assert_int_equal(reg(e, R_ESP), 0x37F02);
    assert_int_equal(reg(e, R_EBP), 0x00035678);
}

static void t_leave_real(void **state)
{
    Env *e = *state;
    setup_real(e);
    set_reg(e, R_ESP, 0x12340000);
    set_reg(e, R_EBP, 0x7F00);
    w16(e, 0x37F00, 0x4321);
    RUN_OK(e, leave_real);
    assert_int_equal(reg(e, R_ESP), 0x12347F02);
    assert_int_equal(reg(e, R_EBP), 0x4321);
}

/* ==================== strings ==================== */

/* Reference model: a copy of low memory on which the instruction's
 * element-by-element definition is replayed. */
static void model_load(Env *e)
{
    if (!e->shadow)
        e->shadow = malloc(MODEL_SIZE);
    assert_non_null(e->shadow);
    phys_read_buf(&e->pm, 0, e->shadow, MODEL_SIZE);
}

static void model_check(Env *e)
{
    uint8_t *now = malloc(MODEL_SIZE);
    assert_non_null(now);
    phys_read_buf(&e->pm, 0, now, MODEL_SIZE);
    for (uint32_t a = 0; a < MODEL_SIZE; a++) {
        if (a >= 0xA0000 && a < 0x100000)
            continue;
        if (now[a] != e->shadow[a]) {
            free(now);
            fail_msg("memory differs from the model at 0x%x", a);
        }
    }
    free(now);
}

static uint32_t mrd(Env *e, uint32_t a, unsigned size)
{
    uint32_t v = 0;
    for (unsigned k = 0; k < size; k++)
        v |= (uint32_t)e->shadow[a + k] << (8 * k);
    return v;
}

static void mwr(Env *e, uint32_t a, uint32_t v, unsigned size)
{
    for (unsigned k = 0; k < size; k++)
        e->shadow[a + k] = (uint8_t)(v >> (8 * k));
}

static void fill_pattern(Env *e, uint32_t a, uint32_t n, uint32_t seed)
{
    uint8_t buf[4096];
    while (n) {
        uint32_t k = n < sizeof(buf) ? n : (uint32_t)sizeof(buf);
        for (uint32_t j = 0; j < k; j++) {
            seed = seed * 1103515245u + 12345u;
            buf[j] = (uint8_t)(seed >> 16);
        }
        wbuf(e, a, buf, k);
        a += k;
        n -= k;
    }
}

typedef struct StrCase {
    const uint8_t *code;
    size_t len;
    bool real;           /* real mode (16-bit code) */
    bool a16;            /* 16-bit addressing */
    unsigned size;
    uint32_t esi, edi, ecx, eax;
    bool df;
    uint32_t src_base;   /* segment base of the source (DS or override) */
    uint32_t dst_base;   /* ES base */
    bool stos;
    bool big;            /* real mode: 4 GiB segment limits ("big real mode") */
} StrCase;

static void str_case(Env *e, const StrCase *c)
{
    if (c->real) {
        setup_real(e);
        uint32_t lim = c->big ? 0xFFFFFFFF : 0xFFFF;
        set_seg(e, SEG_DS, (uint16_t)(c->src_base >> 4), c->src_base, lim, c->big ? 0x8093 : 0x93);
        set_seg(e, SEG_ES, (uint16_t)(c->dst_base >> 4), c->dst_base, lim, c->big ? 0x8093 : 0x93);
    } else {
        setup_pm(e, 0);
        set_seg(e, SEG_DS, SEL_DATA0, c->src_base, 0xFFFFFFFF, 0xC093);
        set_seg(e, SEG_FS, SEL_DATA0, c->src_base, 0xFFFFFFFF, 0xC093);
        set_seg(e, SEG_ES, SEL_DATA0, c->dst_base, 0xFFFFFFFF, 0xC093);
    }
    fill_pattern(e, 0x20000, 0x60000, 1);
    fill_pattern(e, 0x400000, 0x40000, 2);
    wbuf(e, CODE, c->code, c->len);
    set_reg(e, R_ESI, c->esi);
    set_reg(e, R_EDI, c->edi);
    set_reg(e, R_ECX, c->ecx);
    set_reg(e, R_EAX, c->eax);
    cpu_set_eflags(e->cpu, 2 | (c->df ? EFL_DF : 0));
    model_load(e);

    uint32_t m = c->a16 ? 0xFFFF : 0xFFFFFFFF;
    uint32_t si = c->esi & m, di = c->edi & m, cnt = c->ecx & m;
    uint32_t d = c->df ? (uint32_t)-(int32_t)c->size : c->size;
    while (cnt) {
        uint32_t v = c->stos ? c->eax : mrd(e, c->src_base + si, c->size);
        mwr(e, c->dst_base + di, v, c->size);
        si = (si + d) & m;
        di = (di + d) & m;
        cnt--;
    }

    assert_int_equal(cpu_run(e->cpu, 1000000), CPU_EXIT_HALT);
    assert_int_equal(cs_lin(e), CODE + c->len);
    model_check(e);
    assert_int_equal(reg(e, R_ECX), c->ecx & ~m);
    assert_int_equal(reg(e, R_EDI), (c->edi & ~m) | di);
    if (!c->stos)
        assert_int_equal(reg(e, R_ESI), (c->esi & ~m) | si);
}

#define PM_CASE(name, sz) .code = code_##name, .len = sizeof(code_##name), .size = (sz), \
                          .src_base = 0, .dst_base = 0

static void t_movs32(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    for (int k = 0; k < 16; k++)
        w8(e, 0x20000 + k, (uint8_t)(0x10 + k));
    RUN_OK(e, movs32);
    assert_int_equal(r8(e, 0x21000), 0x10);
    assert_int_equal(r16(e, 0x21001), 0x1211);
    assert_int_equal(r32(e, 0x21003), 0x16151413);
    assert_int_equal(r32(e, 0x21007), 0x1A191817);
    assert_int_equal(reg(e, R_ESI), 0x20003);
    assert_int_equal(reg(e, R_EDI), 0x21003);
    assert_false(flags(e) & EFL_DF);
}

static void t_movs16_wrap(void **state)
{
    Env *e = *state;
    setup_real(e);
    set_seg(e, SEG_ES, 0x5000, 0x50000, 0xFFFF, 0x93);
    set_reg(e, R_ESI, 0x0001FFFF);
    set_reg(e, R_EDI, 0xFFFFFFFE);
    w8(e, 0x2FFFF, 0x42);
    RUN_EXC(e, movs16_wrap, 13);    /* the MOVSW store at ES:FFFF exceeds the limit */
    assert_int_equal(r8(e, 0x5FFFE), 0x42);
    assert_int_equal(reg(e, R_ESI), 0x00010000);  /* SI wrapped, upper half kept */
    assert_int_equal(reg(e, R_EDI), 0xFFFFFFFF);
    assert_int_equal(frame16(e, 0), 1);           /* IP of MOVSW */
}

static void t_rep_movs_cases(void **state)
{
    Env *e = *state;
    const StrCase cases[] = {
        { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x40000, .ecx = 0 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x40000, .ecx = 1 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20123, .edi = 0x40567, .ecx = 10000 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20123, .edi = 0x40567, .ecx = 10000, .df = true },
        { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x20001, .ecx = 100 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20010, .edi = 0x20000, .ecx = 9000 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x20800, .ecx = 9000 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x420000, .ecx = 9000 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x40000, .ecx = 100000 },
        { PM_CASE(rep_movsw, 2), .esi = 0x20001, .edi = 0x40FF0, .ecx = 5000 },
        { PM_CASE(rep_movsw, 2), .esi = 0x20FFF, .edi = 0x40000, .ecx = 3, .df = true },
        { PM_CASE(rep_movsw, 2), .esi = 0x20000, .edi = 0x1FFFD, .ecx = 5000 },
        { PM_CASE(rep_movsd, 4), .esi = 0x20000, .edi = 0x20002, .ecx = 50 },
        { PM_CASE(rep_movsd, 4), .esi = 0x20000, .edi = 0x20005, .ecx = 3000 },
        { PM_CASE(rep_movsd, 4), .esi = 0x20000 + 3996, .edi = 0x40000 + 3996, .ecx = 3000,
          .df = true },
        { PM_CASE(rep_movsd, 4), .esi = 0x20002, .edi = 0x40FFE, .ecx = 20000 },
        { PM_CASE(rep_movsb, 1), .esi = 0x20800, .edi = 0x207FF, .ecx = 0x1800, .df = true },
        { PM_CASE(rep_movsb, 1), .esi = 0x21000, .edi = 0x21010, .ecx = 0x1800, .df = true },
        { PM_CASE(rep_movsd, 4), .esi = 0x21000, .edi = 0x20FFE, .ecx = 500, .df = true },
        { PM_CASE(rep_movsd, 4), .esi = 0x20FFE, .edi = 0x21000, .ecx = 5000, .df = true },
        { PM_CASE(rep_movsw, 2), .esi = 0x420FFF, .edi = 0x20FFF, .ecx = 5000, .df = true },
        { PM_CASE(repne_movsb, 1), .esi = 0x20000, .edi = 0x40000, .ecx = 7000 },
        { .code = code_rep_movsb_fs, .len = sizeof(code_rep_movsb_fs), .size = 1,
          .src_base = 0x1000, .dst_base = 0x2000, .esi = 0x20000, .edi = 0x40000, .ecx = 5000 },
        { .code = code_rep_movsw16, .len = sizeof(code_rep_movsw16), .real = true, .a16 = true,
          .size = 2, .src_base = 0x20000, .dst_base = 0x50000, .esi = 0x1234FFF0,
          .edi = 0x0000FFF8, .ecx = 0xABCD0010 },
        { .code = code_rep_movsw16, .len = sizeof(code_rep_movsw16), .real = true, .a16 = true,
          .size = 2, .src_base = 0x20000, .dst_base = 0x50000, .esi = 0x10, .edi = 0x20,
          .ecx = 0x9000, .df = true },
        { .code = code_rep_movsw16, .len = sizeof(code_rep_movsw16), .real = true, .a16 = true,
          .big = true, .size = 2, .src_base = 0x20810, .dst_base = 0x50820, .esi = 0x10,
          .edi = 0x6, .ecx = 0x900, .df = true },
        { .code = code_rep_movsw16, .len = sizeof(code_rep_movsw16), .real = true, .a16 = true,
          .big = true, .size = 2, .src_base = 0x20810, .dst_base = 0x50820, .esi = 0xFFF0,
          .edi = 0xFFF6, .ecx = 0x900 },
        { .code = code_rep_movsd_a32_real, .len = sizeof(code_rep_movsd_a32_real),
          .real = true, .size = 4, .src_base = 0x20000, .dst_base = 0x50000, .esi = 0x100,
          .edi = 0x200, .ecx = 0x2000 },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        cpu_reset(e->cpu, true);
        str_case(e, &cases[k]);
    }
}

static void t_rep_stos_cases(void **state)
{
    Env *e = *state;
    const StrCase cases[] = {
        { PM_CASE(rep_stosb, 1), .edi = 0x40000, .ecx = 0, .eax = 0x5A, .stos = true },
        { PM_CASE(rep_stosb, 1), .edi = 0x40000, .ecx = 1, .eax = 0x5A, .stos = true },
        { PM_CASE(rep_stosb, 1), .edi = 0x40FFF, .ecx = 5000, .eax = 0x1234565A, .stos = true },
        { PM_CASE(rep_stosb, 1), .edi = 0x40FFF, .ecx = 5000, .eax = 0x5A, .df = true,
          .stos = true },
        { PM_CASE(rep_stosb, 1), .edi = 0x20000, .ecx = 100000, .eax = 0xC3, .stos = true },
        { PM_CASE(rep_stosw, 2), .edi = 0x40FFF, .ecx = 3, .eax = 0xBEEF, .df = true,
          .stos = true },
        { PM_CASE(rep_stosw, 2), .edi = 0x40001, .ecx = 9999, .eax = 0xBEEF, .stos = true },
        { PM_CASE(rep_stosd, 4), .edi = 0x40002, .ecx = 5000, .eax = 0xDEADBEEF, .stos = true },
        { PM_CASE(rep_stosd, 4), .edi = 0x4FFF0, .ecx = 5000, .eax = 0xDEADBEEF, .df = true,
          .stos = true },
        { .code = code_rep_stosb16, .len = sizeof(code_rep_stosb16), .real = true, .a16 = true,
          .size = 1, .src_base = 0x20000, .dst_base = 0x50000, .edi = 0x7777FFFE,
          .ecx = 0x55550004, .eax = 0x99, .stos = true },
        { .code = code_rep_stosb16, .len = sizeof(code_rep_stosb16), .real = true, .a16 = true,
          .big = true, .size = 1, .src_base = 0x20000, .dst_base = 0x50100, .edi = 0x7777000E,
          .ecx = 0x55550400, .eax = 0x99, .df = true, .stos = true },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        cpu_reset(e->cpu, true);
        str_case(e, &cases[k]);
    }
}

static void t_stos_mix(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA_B, 0x50000, 0xFFFF, 0x93);
    set_reg(e, R_EDI, 0x21000);
    set_reg(e, R_EAX, 0x11223344);
    RUN_OK(e, stos_mix);
    assert_int_equal(r8(e, 0x21000), 0x44);
    assert_int_equal(r16(e, 0x21001), 0x3344);
    assert_int_equal(r32(e, 0x21003), 0x11223344);
    assert_int_equal(r8(e, 0x21007), 0x44);      /* FS override ignored: ES:EDI */
    assert_int_equal(r8(e, 0x50000 + 0x21007), 0);
    assert_int_equal(reg(e, R_EDI), 0x21008);
}

static void t_lods(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    for (int k = 0; k < 32; k++)
        w8(e, 0x20000 + k, (uint8_t)(0x10 + k));
    set_reg(e, R_ESI, 0x20000);
    set_reg(e, R_EAX, 0xFFFFFFFF);
    RUN_OK(e, lods);
    assert_int_equal(reg(e, R_EBX), 0xFFFFFF10);
    assert_int_equal(reg(e, R_ECX), 0);
    assert_int_equal(reg(e, R_EDX), 0x16151413);
    assert_int_equal(reg(e, R_EBP), 0x20007);
    assert_int_equal(reg(e, R_EAX), 0x24);
    assert_int_equal(reg(e, R_ESI), 0x20015);
}

static void t_lods_df(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA0, 0x1000, 0xFFFFFFFF, 0xC093);
    w16(e, 0x20008, 0x1918);
    w8(e, 0x21006, 0x77);
    set_reg(e, R_ESI, 0x20008);
    set_reg(e, R_EAX, 0);
    RUN_OK(e, lods_df);
    assert_int_equal(reg(e, R_EAX), 0x1977);
    assert_int_equal(reg(e, R_ESI), 0x20005);
}

static void cmp_setup(Env *e, const char *a, const char *b, uint32_t ecx)
{
    setup_pm(e, 0);
    wbuf(e, 0x20000, a, strlen(a));
    wbuf(e, 0x21000, b, strlen(b));
    set_reg(e, R_ESI, 0x20000);
    set_reg(e, R_EDI, 0x21000);
    set_reg(e, R_ECX, ecx);
}

static void t_repe_cmpsb(void **state)
{
    Env *e = *state;
    cmp_setup(e, "hello world", "hello wxrld", 11);
    RUN_OK(e, repe_cmpsb);
    assert_int_equal(reg(e, R_ECX), 3);
    assert_int_equal(reg(e, R_ESI), 0x20008);
    assert_int_equal(reg(e, R_EDI), 0x21008);
    uint32_t f = flags(e);
    assert_int_equal(f & (EFL_ZF | EFL_CF | EFL_SF | EFL_OF), EFL_CF | EFL_SF);
}

static void t_repe_cmpsb_equal(void **state)
{
    Env *e = *state;
    cmp_setup(e, "same text", "same text", 9);
    RUN_OK(e, repe_cmpsb);
    assert_int_equal(reg(e, R_ECX), 0);
    assert_int_equal(reg(e, R_ESI), 0x20009);
    assert_true(flags(e) & EFL_ZF);
}

static void t_repne_cmpsb(void **state)
{
    Env *e = *state;
    cmp_setup(e, "abcdefghij", "xyzdefghij", 10);
    RUN_OK(e, repne_cmpsb);
    assert_int_equal(reg(e, R_ECX), 6);
    assert_int_equal(reg(e, R_ESI), 0x20004);
    assert_int_equal(reg(e, R_EDI), 0x21004);
    assert_true(flags(e) & EFL_ZF);
}

static void t_repe_cmpsd(void **state)
{
    Env *e = *state;
    cmp_setup(e, "0123456789abcdef", "0123456789abcdef", 4);
    RUN_OK(e, repe_cmpsd);
    assert_int_equal(reg(e, R_ECX), 0);
    assert_int_equal(reg(e, R_ESI), 0x20010);
    assert_int_equal(reg(e, R_EDI), 0x21010);
    assert_true(flags(e) & EFL_ZF);
}

static void t_cmpsw_fs(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA0, 0x1000, 0xFFFFFFFF, 0xC093);
    w16(e, 0x21000, 0x0001);
    w16(e, 0x22000, 0x0002);
    w16(e, 0x20000, 0x0002);                       /* DS:ESI: would compare equal */
    set_reg(e, R_ESI, 0x20000);
    set_reg(e, R_EDI, 0x22000);
    RUN_OK(e, cmpsw);
    assert_int_equal(flags(e) & (EFL_ZF | EFL_CF | EFL_SF | EFL_OF), EFL_CF | EFL_SF);
    assert_int_equal(reg(e, R_ESI), 0x20002);
    assert_int_equal(reg(e, R_EDI), 0x22002);
}

static void t_repne_scasb(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    wbuf(e, 0x20000, "hello", 6);
    set_reg(e, R_EDI, 0x20000);
    set_reg(e, R_EAX, 0x12345600);
    set_reg(e, R_ECX, 0xFFFFFFFF);
    RUN_OK(e, repne_scasb);
    assert_int_equal(reg(e, R_ECX), 0xFFFFFFF9);
    assert_int_equal(reg(e, R_EDI), 0x20006);
    assert_true(flags(e) & EFL_ZF);
}

static void t_repe_scasw(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    for (int k = 0; k < 3; k++)
        w16(e, 0x20000 + 2 * k, 0x5555);
    w16(e, 0x20006, 0x1234);
    set_reg(e, R_EDI, 0x20000);
    set_reg(e, R_EAX, 0x5555);
    set_reg(e, R_ECX, 10);
    RUN_OK(e, repe_scasw);
    assert_int_equal(reg(e, R_ECX), 6);
    assert_int_equal(reg(e, R_EDI), 0x20008);
    assert_int_equal(flags(e) & (EFL_ZF | EFL_CF | EFL_SF), 0);
}

static void t_scasd_df(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    w32(e, 0x20010, 7);
    set_reg(e, R_EDI, 0x20010);
    set_reg(e, R_EAX, 5);
    RUN_OK(e, scasd_df);
    assert_int_equal(reg(e, R_EDI), 0x2000C);
    assert_int_equal(flags(e) & (EFL_ZF | EFL_CF | EFL_SF), EFL_CF | EFL_SF);
}

static void t_repe_cmpsb16(void **state)
{
    Env *e = *state;
    setup_real(e);
    set_seg(e, SEG_ES, 0x5000, 0x50000, 0xFFFF, 0x93);
    const uint8_t s[4] = { 1, 2, 3, 4 };
    w8(e, 0x2FFFE, s[0]); w8(e, 0x2FFFF, s[1]); w8(e, 0x20000, s[2]); w8(e, 0x20001, s[3]);
    w8(e, 0x5FFFE, s[0]); w8(e, 0x5FFFF, s[1]); w8(e, 0x50000, s[2]); w8(e, 0x50001, s[3]);
    set_reg(e, R_ESI, 0x0007FFFE);
    set_reg(e, R_EDI, 0x0008FFFE);
    set_reg(e, R_ECX, 0x00090004);
    RUN_OK(e, repe_cmpsb16);
    assert_int_equal(reg(e, R_ECX), 0x00090000);
    assert_int_equal(reg(e, R_ESI), 0x00070002);
    assert_int_equal(reg(e, R_EDI), 0x00080002);
    assert_true(flags(e) & EFL_ZF);
}

static void t_zero_count_keeps_flags(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_ECX, 0);
    set_reg(e, R_ESI, 0x20000);
    set_reg(e, R_EDI, 0x21000);
    RUN_OK(e, zero_flags);
    assert_int_equal(flags(e) & (EFL_ZF | EFL_CF), EFL_ZF);
    assert_int_equal(reg(e, R_ESI), 0x20000);
    assert_int_equal(reg(e, R_EDI), 0x21000);
}

static void t_rep_insw(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_EDX, 0x1F0);
    set_reg(e, R_ECX, 4);
    set_reg(e, R_EDI, 0x20000);
    RUN_OK(e, rep_insw);
    assert_int_equal(e->nio, 4);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(e->io[k].port, 0x1F0);
        assert_int_equal(e->io[k].size, 2);
        assert_int_equal(e->io[k].write, 0);
        assert_int_equal(r16(e, 0x20000 + 2 * k), io_pattern(0x1F0, k) & 0xFFFF);
    }
    assert_int_equal(reg(e, R_EDI), 0x20008);
    assert_int_equal(reg(e, R_ECX), 0);
}

static void t_insb_outs(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_FS, SEL_DATA0, 0x1000, 0xFFFFFFFF, 0xC093);
    w32(e, 0x21100, 0x11223344);
    w16(e, 0x20104, 0xBEEF);
    set_reg(e, R_EDX, 0x300);
    set_reg(e, R_EDI, 0x20000);
    set_reg(e, R_ESI, 0x20100);
    RUN_OK(e, insb_outsd);
    assert_int_equal(e->nio, 3);
    assert_int_equal(r8(e, 0x20000), io_pattern(0x300, 0) & 0xFF);
    assert_int_equal(e->io[1].write, 1);
    assert_int_equal(e->io[1].size, 4);
    assert_int_equal(e->io[1].val, 0x11223344);
    assert_int_equal(e->io[2].size, 2);
    assert_int_equal(e->io[2].val, 0xBEEF);
    assert_int_equal(reg(e, R_EDI), 0x20001);
    assert_int_equal(reg(e, R_ESI), 0x20102);
}

static void t_rep_outsb(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    for (int k = 0; k < 10; k++)
        w8(e, 0x20000 + k, (uint8_t)(k + 1));
    set_reg(e, R_EDX, 0x3F8);
    set_reg(e, R_ECX, 10);
    set_reg(e, R_ESI, 0x20000);
    RUN_OK(e, rep_outsb);
    assert_int_equal(e->nio, 10);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(e->io[k].port, 0x3F8);
        assert_int_equal(e->io[k].write, 1);
        assert_int_equal(e->io[k].val, (uint32_t)k + 1);
    }
    assert_int_equal(reg(e, R_ECX), 0);
    assert_int_equal(reg(e, R_ESI), 0x2000A);
}

static void t_rep_outsb_zero(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_reg(e, R_EDX, 0x3F8);
    set_reg(e, R_ECX, 0);
    set_reg(e, R_ESI, 0x20000);
    RUN_OK(e, rep_outsb);
    assert_int_equal(e->nio, 0);
    assert_int_equal(reg(e, R_ESI), 0x20000);
}

static void t_rep_insd16(void **state)
{
    Env *e = *state;
    setup_real(e);
    set_seg(e, SEG_ES, 0x5000, 0x50000, 0xFFFF, 0x93);
    set_reg(e, R_EDX, 0x1F0);
    set_reg(e, R_ECX, 3);
    set_reg(e, R_EDI, 0xFFF8);
    RUN_OK(e, rep_insd16);
    assert_int_equal(r32(e, 0x5FFF8), io_pattern(0x1F0, 0));
    assert_int_equal(r32(e, 0x5FFFC), io_pattern(0x1F0, 1));
    assert_int_equal(r32(e, 0x50000), io_pattern(0x1F0, 2));
    assert_int_equal(reg(e, R_EDI), 0x0004);
}

static void t_ins_fault_no_read(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_ES, SEL_DATA_B, 0x50000, 0xFFFF, 0x93);
    set_reg(e, R_EDX, 0x80);
    set_reg(e, R_ECX, 3);
    set_reg(e, R_EDI, 0xFFFF);
    RUN_EXC(e, rep_insb_io, 13);
    /* The first store fits, the second does not: one port read only. */
    assert_int_equal(e->nio, 1);
    assert_int_equal(reg(e, R_ECX), 2);
    assert_int_equal(reg(e, R_EDI), 0x10000);
    assert_int_equal(frame(e, 1), CODE);
}

/* A fault in the middle leaves the registers at the faulting element. */
static void t_pf_rep_stos(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    setup_paging(e, 0x41000);
    set_reg(e, R_EDI, 0x40F00);
    set_reg(e, R_ECX, 0x200);
    set_reg(e, R_EAX, 0xAA);
    RUN_EXC(e, rep_stosb, 14);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x41000);
    assert_int_equal(frame(e, 0), 2);             /* write, not present, supervisor */
    assert_int_equal(frame(e, 1), CODE);
    assert_int_equal(reg(e, R_ECX), 0x100);
    assert_int_equal(reg(e, R_EDI), 0x41000);
    for (uint32_t a = 0x40F00; a < 0x41000; a++)
        assert_int_equal(r8(e, a), 0xAA);
}

static void t_pf_rep_movsd_straddle(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    setup_paging(e, 0x41000);
    set_reg(e, R_ESI, 0x20000);
    set_reg(e, R_EDI, 0x40FF6);
    set_reg(e, R_ECX, 8);
    RUN_EXC(e, rep_movsd, 14);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x41000);
    assert_int_equal(frame(e, 0), 2);
    assert_int_equal(reg(e, R_ECX), 6);           /* two elements done */
    assert_int_equal(reg(e, R_EDI), 0x40FFE);
    assert_int_equal(reg(e, R_ESI), 0x20008);
}

static void t_pf_rep_movsb_src(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    setup_paging(e, 0x41000);
    fill_pattern(e, 0x40FF0, 16, 7);
    set_reg(e, R_ESI, 0x40FF0);
    set_reg(e, R_EDI, 0x20000);
    set_reg(e, R_ECX, 0x20);
    RUN_EXC(e, rep_movsb, 14);
    assert_int_equal(cpu_get_cr(e->cpu, 2), 0x41000);
    assert_int_equal(frame(e, 0), 0);             /* read, not present */
    assert_int_equal(reg(e, R_ECX), 0x10);
    assert_int_equal(reg(e, R_ESI), 0x41000);
    assert_int_equal(reg(e, R_EDI), 0x20010);
    for (uint32_t k = 0; k < 16; k++)
        assert_int_equal(r8(e, 0x20000 + k), r8(e, 0x40FF0 + k));
}

/* A long REP does a bounded amount of work per step and resumes. */
static void t_rep_resumes(void **state)
{
    Env *e = *state;
    const StrCase c = { PM_CASE(rep_movsb, 1), .esi = 0x20000, .edi = 0x40000, .ecx = 300000 };
    setup_pm(e, 0);
    LOAD(e, rep_movsb);
    set_reg(e, R_ESI, c.esi);
    set_reg(e, R_EDI, c.edi);
    set_reg(e, R_ECX, c.ecx);
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET);
    uint32_t left = reg(e, R_ECX);
    assert_int_equal(cpu_get_eip(e->cpu), CODE);
    assert_true(left > 0 && left < 300000);
    assert_int_equal(reg(e, R_ESI), 0x20000 + (300000 - left));
    assert_int_equal(cpu_run(e->cpu, 1000000), CPU_EXIT_HALT);
    assert_int_equal(reg(e, R_ECX), 0);
    assert_int_equal(reg(e, R_EDI), 0x40000 + 300000);
}

/* An interrupt is taken between iterations with EIP at the REP. */
static void t_rep_interrupted(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    LOAD(e, rep_stosd);
    set_reg(e, R_EDI, 0x40000);
    set_reg(e, R_ECX, 50000);
    cpu_set_eflags(e->cpu, 2 | EFL_IF);
    e->intr_vec = 0x20;
    assert_int_equal(cpu_step(e->cpu), CPU_EXIT_BUDGET);
    cpu_set_intr(e->cpu, 1);
    assert_int_equal(cpu_run(e->cpu, 1000000), CPU_EXIT_HALT);
    cpu_set_intr(e->cpu, 0);
    assert_int_equal(cs_lin(e), STUBS + 0x20 * 16 + 1);
    assert_int_equal(frame(e, 0), CODE);
    uint32_t left = reg(e, R_ECX);
    assert_true(left > 0 && left < 50000);
    assert_int_equal(reg(e, R_EDI), 0x40000 + 4 * (50000 - left));
}

/* A data breakpoint hit in a REP STOS traps after that iteration, with EIP
 * still at the instruction. */
static void t_rep_data_breakpoint(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    cpu_set_dr(e->cpu, 0, 0x40010);
    cpu_set_dr(e->cpu, 7, 0x00010001);            /* L0, write, 1 byte */
    set_reg(e, R_EDI, 0x40000);
    set_reg(e, R_ECX, 0x100);
    set_reg(e, R_EAX, 0x55);
    RUN_EXC(e, rep_stosb, 1);
    assert_int_equal(frame(e, 0), CODE);
    assert_true(cpu_get_dr(e->cpu, 6) & 1);
    assert_int_equal(reg(e, R_ECX), 0x100 - 0x11);
    assert_int_equal(reg(e, R_EDI), 0x40011);
    assert_int_equal(r8(e, 0x40010), 0x55);
    assert_int_equal(r8(e, 0x40011), 0);
}

/* REP MOVSB rewriting code that was already translated. */
static void t_smc_rep_movsb(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    const uint8_t patch[5] = { 0xB8, 0x22, 0x22, 0x22, 0x22 };   /* mov eax, 0x22222222 */
    wbuf(e, 0x20000, patch, sizeof(patch));
    RUN_OK(e, smc_movs);
    assert_int_equal(reg(e, R_EAX), 0x22222222);
}

/* The same with the translation cache off (reference interpreter). */
static void t_string_no_tcache(void **state)
{
    Env *e = *state;
    const StrCase c = { PM_CASE(rep_movsd, 4), .esi = 0x20003, .edi = 0x40FF1, .ecx = 7000 };
    cpu_set_tcache_enabled(e->cpu, false);
    str_case(e, &c);
    cpu_reset(e->cpu, true);
    wbuf(e, 0x20000, (const uint8_t[]){ 0xB8, 0x22, 0x22, 0x22, 0x22 }, 5);
    setup_pm(e, 0);
    RUN_OK(e, smc_movs);
    assert_int_equal(reg(e, R_EAX), 0x22222222);
}

/* REP MOVS/STOS on MMIO go element by element, in order. */
static uint32_t mmio_rd(void *opaque, uint32_t off, unsigned size)
{
    Env *e = opaque;
    uint32_t v = 0xA5000000u | off;
    if (e->nio < 64)
        e->io[e->nio++] = (IoRec){ (uint16_t)off, (uint8_t)size, 0, v };
    return size == 4 ? v : v & ((1u << (8 * size)) - 1);
}

static void mmio_wr(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Env *e = opaque;
    if (e->nio < 64)
        e->io[e->nio++] = (IoRec){ (uint16_t)off, (uint8_t)size, 1, val };
}

static const MmioOps mmio_ops = { mmio_rd, mmio_wr };

static void t_rep_mmio(void **state)
{
    Env *e = *state;
    assert_int_equal(phys_map_mmio(&e->pm, 0xC00000, 0x1000, &mmio_ops, e, "test"), 0);
    setup_pm(e, 0);
    for (int k = 0; k < 8; k++)
        w32(e, 0x20000 + 4 * k, 0x1000u + (uint32_t)k);
    set_reg(e, R_ESI, 0x20000);
    set_reg(e, R_EDI, 0xC00010);
    set_reg(e, R_ECX, 8);
    RUN_OK(e, rep_movsd);
    assert_int_equal(e->nio, 8);
    for (int k = 0; k < 8; k++) {
        assert_int_equal(e->io[k].write, 1);
        assert_int_equal(e->io[k].port, 0x10 + 4 * k);
        assert_int_equal(e->io[k].size, 4);
        assert_int_equal(e->io[k].val, 0x1000u + (uint32_t)k);
    }
    assert_int_equal(reg(e, R_EDI), 0xC00030);

    cpu_reset(e->cpu, true);
    setup_pm(e, 0);
    e->nio = 0;
    set_reg(e, R_ESI, 0xC00100);
    set_reg(e, R_EDI, 0x20000);
    set_reg(e, R_ECX, 6);
    RUN_OK(e, rep_movsw);
    assert_int_equal(e->nio, 6);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(e->io[k].write, 0);
        assert_int_equal(e->io[k].port, 0x100 + 2 * k);
        assert_int_equal(r16(e, 0x20000 + 2 * k), 0x100 + 2 * k);
    }

    cpu_reset(e->cpu, true);
    setup_pm(e, 0);
    e->nio = 0;
    set_reg(e, R_EDI, 0xC00FFE);
    set_reg(e, R_ECX, 3);
    set_reg(e, R_EAX, 0x77);
    cpu_set_eflags(e->cpu, 2 | EFL_DF);
    RUN_OK(e, rep_stosb);
    assert_int_equal(e->nio, 3);
    for (int k = 0; k < 3; k++)
        assert_int_equal(e->io[k].port, 0xFFE - k);
    assert_int_equal(reg(e, R_EDI), 0xC00FFB);
}

/* ==================== port I/O ==================== */

static void t_io_basic(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    RUN_OK(e, io_basic);
    uint32_t v[6];
    for (int k = 0; k < 6; k++)
        v[k] = io_pattern(k < 3 ? (uint16_t)(0x60 + k) : 0x1F0, k);
    assert_int_equal(reg(e, R_EBX), 0xAAAAAA00 | (v[0] & 0xFF));
    assert_int_equal(reg(e, R_ECX), 0xBBBB0000 | (v[1] & 0xFFFF));
    assert_int_equal(reg(e, R_ESI), v[2]);
    assert_int_equal(reg(e, R_EDI), (v[2] & ~0xFFu) | (v[3] & 0xFF));
    assert_int_equal(reg(e, R_EBP), (v[2] & ~0xFFFFu) | (v[4] & 0xFFFF));
    assert_int_equal(reg(e, R_EAX), v[5]);
    assert_int_equal(e->nio, 12);
    static const uint8_t sizes[6] = { 1, 2, 4, 1, 2, 4 };
    for (int k = 0; k < 6; k++) {
        assert_int_equal(e->io[k].write, 0);
        assert_int_equal(e->io[k].size, sizes[k]);
        assert_int_equal(e->io[k].port, k < 3 ? 0x60 + k : 0x1F0);
        const IoRec *w = &e->io[6 + k];
        assert_int_equal(w->write, 1);
        assert_int_equal(w->size, sizes[k]);
        assert_int_equal(w->port, k < 3 ? 0x80 + k : 0x1F0);
        assert_int_equal(w->val, sizes[k] == 4 ? v[5] : (v[5] & ((1u << (8 * sizes[k])) - 1)));
    }
}

static void t_io_no_callbacks(void **state)
{
    Env *e = *state;
    e->ops.io_read = NULL;
    e->ops.io_write = NULL;
    setup_pm(e, 0);
    set_reg(e, R_EAX, 0x12345678);
    set_reg(e, R_EDX, 0x3F8);
    RUN_OK(e, io_dx);
    assert_int_equal(reg(e, R_EAX), 0xFFFFFFFF);
}

/* CPL 3, IOPL 0: the TSS bitmap allows ports 0x80, 0x1F0-0x1F7, 0x3F8-0x3FF. */
static void bitmap_setup(Env *e, uint32_t tss_limit)
{
    setup_pm(e, 3);
    w8(e, TSS + IOMAP_OFF + 0x10, 0xFE);
    w8(e, TSS + IOMAP_OFF + 0x3E, 0x00);
    w8(e, TSS + IOMAP_OFF + 0x7F, 0x00);
    set_seg(e, SEG_TR, SEL_TSS, TSS, tss_limit, 0x8B);
}

static void expect_io_gp(Env *e)
{
    assert_int_equal(reg(e, R_ESP), STACK0_TOP - 24);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE);
    assert_int_equal(frame(e, 2), SEL_CODE3);
    assert_int_equal(e->nio, 0);
}

static void t_iobitmap_allowed(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    RUN_OK(e, in80);
    assert_int_equal(e->nio, 1);
    assert_int_equal(e->io[0].port, 0x80);
}

static void t_iobitmap_denied(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    RUN_EXC(e, in81, 13);
    expect_io_gp(e);
}

static void t_iobitmap_word_partial(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    RUN_EXC(e, inw80, 13);                        /* 0x80 allowed, 0x81 not */
    expect_io_gp(e);
}

static void t_iobitmap_dx(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    set_reg(e, R_EDX, 0x3F8);
    RUN_OK(e, io_dx);
    assert_int_equal(e->nio, 2);
    assert_int_equal(e->io[0].size, 4);
    assert_int_equal(e->io[1].write, 1);
}

static void t_iobitmap_dx_span(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    set_reg(e, R_EDX, 0x3FE);                     /* 0x3FE-0x401: 0x400 denied */
    RUN_EXC(e, io_dx, 13);
    expect_io_gp(e);
}

static void t_iobitmap_no_bitmap(void **state)
{
    Env *e = *state;
    bitmap_setup(e, 0x67);                        /* bitmap base beyond the limit */
    RUN_EXC(e, in80, 13);
    expect_io_gp(e);
}

static void t_iobitmap_limit_two_bytes(void **state)
{
    Env *e = *state;
    /* Port 0x80's byte is at offset 0x78; the processor reads 0x78-0x79. */
    bitmap_setup(e, IOMAP_OFF + 0x10);
    RUN_EXC(e, in80, 13);
    expect_io_gp(e);
}

static void t_iobitmap_limit_ok(void **state)
{
    Env *e = *state;
    bitmap_setup(e, IOMAP_OFF + 0x11);
    RUN_OK(e, in80);
    assert_int_equal(e->nio, 1);
}

static void t_iobitmap_tss16(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    set_seg(e, SEG_TR, SEL_TSS, TSS, TSS_LIMIT_FULL, 0x83);   /* busy 16-bit TSS */
    w16(e, TSS + 2, 0xF000);                      /* SP0 and SS0 of a 16-bit TSS */
    w16(e, TSS + 4, SEL_DATA0);
    RUN_EXC(e, in80, 13);
    assert_int_equal(reg(e, R_ESP), 0xF000 - 24);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(frame(e, 1), CODE);
    assert_int_equal(e->nio, 0);
}

static void t_iobitmap_iopl3(void **state)
{
    Env *e = *state;
    bitmap_setup(e, 0x67);
    cpu_set_eflags(e->cpu, 2 | EFL_IOPL3);
    RUN_OK(e, in81);                              /* CPL <= IOPL: no bitmap */
    assert_int_equal(e->nio, 1);
}

static void t_iobitmap_cpl0(void **state)
{
    Env *e = *state;
    setup_pm(e, 0);
    set_seg(e, SEG_TR, SEL_TSS, TSS, 0x67, 0x8B);
    RUN_OK(e, in81);
    assert_int_equal(e->nio, 1);
}

static void t_io_real_mode(void **state)
{
    Env *e = *state;
    setup_real(e);
    RUN_OK(e, in81);
    assert_int_equal(e->nio, 1);
}

static void t_iobitmap_v86(void **state)
{
    Env *e = *state;
    setup_v86(e, EFL_IOPL3);                      /* V86: bitmap even at IOPL 3 */
    w8(e, TSS + IOMAP_OFF + 0x10, 0xFE);
    set_reg(e, R_EDX, 0x81);
    RUN_EXC(e, v86_in, 13);
    assert_int_equal(frame(e, 0), 0);
    assert_int_equal(e->nio, 0);
}

static void t_iobitmap_v86_allowed(void **state)
{
    Env *e = *state;
    setup_v86(e, 0);
    w8(e, TSS + IOMAP_OFF + 0x10, 0xFE);
    set_reg(e, R_EDX, 0x80);
    RUN_OK(e, v86_in);
    assert_int_equal(e->nio, 1);
}

static void t_iobitmap_outs(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    set_reg(e, R_EDX, 0x81);
    set_reg(e, R_ECX, 5);
    set_reg(e, R_ESI, 0x20000);
    RUN_EXC(e, rep_outsb_io, 13);
    expect_io_gp(e);
    assert_int_equal(reg(e, R_ECX), 5);
    assert_int_equal(reg(e, R_ESI), 0x20000);
}

static void t_iobitmap_ins_allowed(void **state)
{
    Env *e = *state;
    bitmap_setup(e, TSS_LIMIT_FULL);
    set_reg(e, R_EDX, 0x80);
    set_reg(e, R_ECX, 3);
    set_reg(e, R_EDI, 0x20000);
    RUN_OK(e, rep_insb_io);
    assert_int_equal(e->nio, 3);
    assert_int_equal(r8(e, 0x20002), io_pattern(0x80, 2) & 0xFF);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(t_mov32), T(t_moffs), T(t_mov_imm_sreg), T(t_lea), T(t_lea_reg_ud), T(t_xchg),
        T(t_movzx_movsx), T(t_movsx_reg), T(t_xlat),
        T(t_movseg_pm), T(t_movss_null_gp), T(t_movds_bad_gp), T(t_mov_cs_ud),
        T(t_mov_sreg7_ud), T(t_lxs_pm), T(t_lds_bad_gp), T(t_lds_reg_ud), T(t_real_mov),
        T(t_real_mov_cs_ud), T(t_shadow_movss), T(t_shadow_popss), T(t_shadow_lss),
        T(t_shadow_none),
        T(t_push_pop32), T(t_pop_esp), T(t_pop_sp16), T(t_push_sp16), T(t_pop_mem_esp),
        T(t_pop_mem_fault), T(t_push_pop16_real), T(t_push_pop_sreg), T(t_pushad),
        T(t_popad), T(t_pushaw), T(t_popaw), T(t_pushf_popf_cpl0), T(t_popf_cpl3_iopl0),
        T(t_popf_cpl3_iopl3), T(t_popf_cpl3_iopl_kept), T(t_v86_pushf_gp), T(t_v86_popf_gp),
        T(t_v86_popf_iopl3), T(t_enter0), T(t_enter3), T(t_enter1), T(t_enter33),
        T(t_enter_o16), T(t_enter_real), T(t_enter_fault), T(t_leave), T(t_leave_real),
        T(t_movs32), T(t_movs16_wrap), T(t_rep_movs_cases), T(t_rep_stos_cases),
        T(t_stos_mix), T(t_lods), T(t_lods_df), T(t_repe_cmpsb), T(t_repe_cmpsb_equal),
        T(t_repne_cmpsb), T(t_repe_cmpsd), T(t_cmpsw_fs), T(t_repne_scasb), T(t_repe_scasw),
        T(t_scasd_df), T(t_repe_cmpsb16), T(t_zero_count_keeps_flags), T(t_rep_insw),
        T(t_insb_outs), T(t_rep_outsb), T(t_rep_outsb_zero), T(t_rep_insd16),
        T(t_ins_fault_no_read), T(t_pf_rep_stos), T(t_pf_rep_movsd_straddle),
        T(t_pf_rep_movsb_src), T(t_rep_resumes), T(t_rep_interrupted), T(t_smc_rep_movsb),
        T(t_string_no_tcache), T(t_rep_mmio), T(t_rep_data_breakpoint),
        T(t_io_basic), T(t_io_no_callbacks), T(t_iobitmap_allowed), T(t_iobitmap_denied),
        T(t_iobitmap_word_partial), T(t_iobitmap_dx), T(t_iobitmap_dx_span),
        T(t_iobitmap_no_bitmap), T(t_iobitmap_limit_two_bytes), T(t_iobitmap_limit_ok),
        T(t_iobitmap_tss16), T(t_iobitmap_iopl3), T(t_iobitmap_cpl0), T(t_io_real_mode),
        T(t_iobitmap_v86), T(t_iobitmap_v86_allowed), T(t_iobitmap_outs),
        T(t_iobitmap_ins_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
