/*
 * test_cpu_alu.c - integer ALU instructions through the public CPU API:
 * ADD OR ADC SBB AND SUB XOR CMP TEST INC DEC NOT NEG, shifts and rotates,
 * SHLD/SHRD, MUL/IMUL/DIV/IDIV, BT, BTS, BTR, BTC, BSF/BSR/BSWAP, CMPXCHG/XADD/CMPXCHG8B,
 * SETcc/CMOVcc, BCD adjust, CBW/CWD, flag instructions, EFLAGS loading.
 *
 * Expected values come from independent reference models written from the
 * SDM's definitions (wide arithmetic, 1-bit shift loops); flags the SDM
 * leaves undefined are masked out of every comparison.  After most
 * instructions all 16 SETcc conditions are stored to memory and compared,
 * which checks the lazy condition evaluation (cpu_cond) against the flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/cpu.h"
#include "mem/phys.h"

/* ---- machine ---- */

#define CODE 0x1000u  /* code under test, followed by `jmp $` */
#define HND 0x0600u   /* exception vector v: `jmp $` at HND + 4 * v */
#define GDT 0x0800u
#define IDT 0x0900u
#define STK 0x8000u   /* initial ESP */
#define DATA 0x3000u  /* scratch data */
#define SETB 0x3100u  /* SETcc results, 16 bytes */

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ARITH (CF | PF | AF | ZF | SF | OF)

enum { RM16, PM32 };

static PhysMem pm;
static X86Cpu *cpu;
static int mode;
static char ctx[256]; /* description of the current case, printed on failure */
static bool use_step; /* run through cpu_step instead of cpu_run */

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            print_error("%s: ", ctx);                                                          \
            print_error(__VA_ARGS__);                                                          \
            print_error("\n");                                                                 \
            fail();                                                                            \
        }                                                                                      \
    } while (0)
#define CHECK_EQ(got, exp, what)                                                               \
    do {                                                                                       \
        uint64_t g_ = (got), e_ = (exp);                                                       \
        CHECK(g_ == e_, "%s: got 0x%llx expected 0x%llx", what, (unsigned long long)g_,       \
              (unsigned long long)e_);                                                         \
    } while (0)

static void wmem(uint32_t a, uint32_t v, unsigned size)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    phys_write_buf(&pm, a, b, size);
}

static uint32_t rmem(uint32_t a, unsigned size)
{
    uint8_t b[4] = { 0 };
    phys_read_buf(&pm, a, b, size);
    return b[0] | (b[1] << 8) | (b[2] << 16) | ((uint32_t)b[3] << 24);
}

static void set_seg(int s, uint16_t sel, uint32_t base, uint32_t limit, uint16_t ar)
{
    CpuSeg sg = { .sel = sel, .base = base, .limit = limit, .ar = ar };
    cpu_set_seg(cpu, s, &sg);
}

static void setup_rm16(void)
{
    mode = RM16;
    set_seg(SEG_CS, 0, 0, 0xFFFF, 0x9B);
    for (int s = 0; s < 6; s++)
        if (s != SEG_CS)
            set_seg(s, 0, 0, 0xFFFF, 0x93);
    for (int v = 0; v < 32; v++) {
        wmem(v * 4, HND + 4 * v, 2);
        wmem(v * 4 + 2, 0, 2);
    }
    cpu_set_dtr(cpu, 1, 0, 0x3FF);
    cpu_set_reg(cpu, R_ESP, STK);
}

static void setup_pm32(void)
{
    static const uint8_t gdt[] = {
        0, 0, 0, 0, 0, 0, 0, 0,
        0xFF, 0xFF, 0, 0, 0, 0x9A, 0xCF, 0, /* 0x08 code, flat, 32-bit */
        0xFF, 0xFF, 0, 0, 0, 0x92, 0xCF, 0, /* 0x10 data, flat */
        0xFF, 0xFF, 0, 0, 0, 0x90, 0xCF, 0, /* 0x18 data, read-only */
    };
    mode = PM32;
    phys_write_buf(&pm, GDT, gdt, sizeof(gdt));
    for (int v = 0; v < 32; v++) {
        uint32_t off = HND + 4 * v;
        uint8_t g[8] = { (uint8_t)off, (uint8_t)(off >> 8), 0x08, 0, 0, 0x8E,
                         (uint8_t)(off >> 16), (uint8_t)(off >> 24) };
        phys_write_buf(&pm, IDT + v * 8, g, 8);
    }
    cpu_set_dtr(cpu, 0, GDT, sizeof(gdt) - 1);
    cpu_set_dtr(cpu, 1, IDT, 32 * 8 - 1);
    cpu_set_cr(cpu, 0, 0x00000011u);
    set_seg(SEG_CS, 0x08, 0, 0xFFFFFFFFu, 0xC09B);
    for (int s = 0; s < 6; s++)
        if (s != SEG_CS)
            set_seg(s, 0x10, 0, 0xFFFFFFFFu, 0xC093);
    cpu_set_reg(cpu, R_ESP, STK);
}

static int setup_common(void **state)
{
    (void)state;
    assert_int_equal(phys_init(&pm, 16u << 20), 0);
    cpu = cpu_new(&pm, NULL, NULL);
    assert_non_null(cpu);
    for (int v = 0; v < 32; v++)
        wmem(HND + 4 * v, 0xFEEB, 2); /* jmp $ */
    use_step = false;
    snprintf(ctx, sizeof(ctx), "setup");
    return 0;
}

static int setup_r(void **state)
{
    setup_common(state);
    setup_rm16();
    return 0;
}

static int setup_p(void **state)
{
    setup_common(state);
    setup_pm32();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cpu_free(cpu);
    phys_free(&pm);
    return 0;
}

/* ---- code buffers ---- */

typedef struct Code {
    uint8_t b[512];
    unsigned n;
} Code;

static void e8(Code *c, uint32_t v) { c->b[c->n++] = (uint8_t)v; }
static void e16(Code *c, uint32_t v) { e8(c, v); e8(c, v >> 8); }
static void e32(Code *c, uint32_t v) { e16(c, v); e16(c, v >> 16); }
static void eimm(Code *c, uint32_t v, unsigned size)
{
    if (size == 1)
        e8(c, v);
    else if (size == 2)
        e16(c, v);
    else
        e32(c, v);
}
static void ebytes(Code *c, const int *b, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        e8(c, (uint32_t)b[k]);
}
#define EB(c, ...) ebytes((c), (const int[]){ __VA_ARGS__ }, sizeof((int[]){ __VA_ARGS__ }) / sizeof(int))
/* Operand-size prefix for a 16/32-bit operand in the current mode. */
static void eopsz(Code *c, unsigned size)
{
    if ((mode == PM32 && size == 2) || (mode == RM16 && size == 4))
        e8(c, 0x66);
}

/* ModRM for an absolute memory operand [addr] with reg field r, in the
 * current mode's address size (disp16 in RM16, disp32 in PM32). */
static void emem(Code *c, int r, uint32_t addr)
{
    if (mode == PM32) {
        e8(c, 0x05 | (r << 3));
        e32(c, addr);
    } else {
        e8(c, 0x06 | (r << 3));
        e16(c, addr);
    }
}

/* SETcc [SETB+cc] for all 16 conditions. */
static void esetcc_all(Code *c)
{
    for (int cc = 0; cc < 16; cc++) {
        e8(c, 0x0F);
        e8(c, 0x90 + cc);
        emem(c, 0, SETB + cc);
    }
}

/* Run the code at CODE (`jmp $` appended) for more instructions than it
 * has: the CPU ends spinning on the final jmp or in a handler's. */
static void run(const Code *c)
{
    phys_write_buf(&pm, CODE, c->b, c->n);
    wmem(CODE + c->n, 0xFEEB, 2);
    cpu_set_eip(cpu, CODE);
    CpuExit r = CPU_EXIT_BUDGET;
    if (use_step) {
        for (int k = 0; k < 200 && r == CPU_EXIT_BUDGET; k++)
            r = cpu_step(cpu);
    } else {
        r = cpu_run(cpu, 200);
    }
    CHECK(r == CPU_EXIT_BUDGET, "unexpected exit %d, eip 0x%x", (int)r, cpu_get_eip(cpu));
}

/* The code ran to its end. */
static void expect_done(const Code *c)
{
    CHECK_EQ(cpu_get_eip(cpu), CODE + c->n, "EIP at the end (an exception?)");
}

/* The first instruction raised exception vec (no error code) with the
 * return address CODE on the stack. */
static void expect_exc(int vec)
{
    CHECK_EQ(cpu_get_eip(cpu), HND + 4 * vec, "EIP in exception handler");
    uint32_t sp = cpu_get_reg(cpu, R_ESP);
    if (mode == RM16) {
        CHECK_EQ(sp & 0xFFFF, STK - 6, "SP after exception");
        CHECK_EQ(rmem(sp, 2), CODE, "pushed IP");
    } else {
        CHECK_EQ(sp, STK - 12, "ESP after exception");
        CHECK_EQ(rmem(sp, 4), CODE, "pushed EIP");
        CHECK_EQ(rmem(sp + 4, 4), 0x08, "pushed CS");
    }
}

static void set_flags(uint32_t f)
{
    cpu_set_eflags(cpu, (f & ARITH) | 2u);
}

static uint32_t get_flags(void) { return cpu_get_eflags(cpu) & ARITH; }

/* ---- register helpers (8-bit register numbers: AL CL DL BL AH CH DH BH) ---- */

static uint32_t szmask(unsigned size) { return size == 4 ? 0xFFFFFFFFu : (1u << (size * 8)) - 1; }
static uint32_t sgn(unsigned size) { return 1u << (size * 8 - 1); }

static uint32_t rd_reg(unsigned size, int n)
{
    if (size == 1)
        return (cpu_get_reg(cpu, n & 3) >> ((n & 4) ? 8 : 0)) & 0xFF;
    return cpu_get_reg(cpu, n) & szmask(size);
}

static void wr_reg(unsigned size, int n, uint32_t v)
{
    if (size == 1) {
        int sh = (n & 4) ? 8 : 0;
        uint32_t r = cpu_get_reg(cpu, n & 3);
        cpu_set_reg(cpu, n & 3, (r & ~(0xFFu << sh)) | ((v & 0xFF) << sh));
    } else {
        uint32_t r = cpu_get_reg(cpu, n);
        cpu_set_reg(cpu, n, (r & ~szmask(size)) | (v & szmask(size)));
    }
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    uint32_t a = rng_state >> 16;
    rng_state = rng_state * 1103515245u + 12345u;
    return (a << 16) | (rng_state >> 16);
}

/* Fill the general registers (except ESP) with junk. */
static void junk_regs(void)
{
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            cpu_set_reg(cpu, r, rnd());
    cpu_set_reg(cpu, R_ESP, STK);
}

static uint32_t saved[8];
static void save_regs(void)
{
    for (int r = 0; r < 8; r++)
        saved[r] = cpu_get_reg(cpu, r);
}

/* All registers equal the saved ones except those in the 'except' mask
 * (bit n: register n may differ in the bits of 'bits'). */
static void check_regs_except(unsigned except, uint32_t bits)
{
    for (int r = 0; r < 8; r++) {
        if (r == R_ESP)
            continue;
        uint32_t m = (except >> r) & 1 ? ~bits : 0xFFFFFFFFu;
        char what[32];
        snprintf(what, sizeof(what), "unchanged bits of reg %d", r);
        CHECK_EQ(cpu_get_reg(cpu, r) & m, saved[r] & m, what);
    }
}

/* Bits of 32-bit register (r & 3) that 8-bit register r occupies. */
static uint32_t r8bits(int r) { return (r & 4) ? 0xFF00u : 0xFFu; }

/* ---- reference flag models (SDM definitions) ---- */

static uint32_t parity_flag(uint32_t v)
{
    int n = 0;
    for (int k = 0; k < 8; k++)
        n += (v >> k) & 1;
    return (n & 1) ? 0 : PF;
}

static uint32_t szp(unsigned size, uint32_t r)
{
    r &= szmask(size);
    return (r == 0 ? ZF : 0) | ((r & sgn(size)) ? SF : 0) | parity_flag(r);
}

static bool cond(int cc, uint32_t f)
{
    bool cf = f & CF, zf = f & ZF, sf = f & SF, of = f & OF, pf = f & PF, r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf || sf != of; break;
    }
    return r ^ (cc & 1);
}

/* SETcc results agree with the flags f on the flags in 'defined'. */
static void check_setcc(uint32_t f, uint32_t defined)
{
    static const uint32_t uses[8] = { OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF };
    for (int cc = 0; cc < 16; cc++) {
        if ((uses[cc >> 1] & defined) != uses[cc >> 1])
            continue;
        char what[32];
        snprintf(what, sizeof(what), "SETcc cc=%d", cc);
        CHECK_EQ(rmem(SETB + cc, 1), cond(cc, f), what);
    }
}

static void check_flags(uint32_t exp, uint32_t defined)
{
    CHECK_EQ(get_flags() & defined, exp & defined, "flags");
}

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP };
static const char *const alu_name[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };

/* Result and flags of ALU op on a, b with carry-in cin. *defined gets the
 * flags the SDM defines. */
static uint32_t ref_alu(int op, unsigned size, uint32_t a, uint32_t b, unsigned cin, uint32_t *flags,
                        uint32_t *defined)
{
    uint64_t m = szmask(size);
    uint32_t s = sgn(size), r, f = 0;
    *defined = ARITH;
    switch (op) {
    case A_ADD:
    case A_ADC: {
        unsigned c = op == A_ADC ? cin : 0;
        uint64_t full = (uint64_t)a + b + c;
        r = (uint32_t)(full & m);
        if (full > m)
            f |= CF;
        if ((a & 15) + (b & 15) + c > 15)
            f |= AF;
        if ((a & s) == (b & s) && (r & s) != (a & s))
            f |= OF;
        break;
    }
    case A_SUB:
    case A_SBB:
    case A_CMP: {
        unsigned c = op == A_SBB ? cin : 0;
        r = (uint32_t)((a - b - c) & m);
        if ((uint64_t)a < (uint64_t)b + c)
            f |= CF;
        if ((a & 15) < (b & 15) + c)
            f |= AF;
        if ((a & s) != (b & s) && (r & s) != (a & s))
            f |= OF;
        break;
    }
    case A_AND: r = a & b; *defined = ARITH & ~AF; break;
    case A_OR: r = a | b; *defined = ARITH & ~AF; break;
    default: r = a ^ b; *defined = ARITH & ~AF; break;
    }
    *flags = f | szp(size, r);
    return r;
}

static const uint32_t interesting[] = {
    0, 1, 2, 0x0F, 0x10, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x100, 0x7FFF, 0x8000, 0x8001, 0xFFFF,
    0x10000, 0x7FFFFFFF, 0x80000000u, 0x80000001u, 0xFFFFFFFEu, 0xFFFFFFFFu, 0x12345678u,
    0xDEADBEEFu, 0x55555555u, 0xAAAAAAAAu,
};
#define NINT (sizeof(interesting) / sizeof(interesting[0]))

static uint32_t pick(unsigned k, unsigned size)
{
    uint32_t v = k < NINT ? interesting[k] : rnd();
    return v & szmask(size);
}

/* ---- binary ALU ops, all encodings ---- */

/* Run one ALU case: op, size, form (0-7), operands a (destination) and b. */
static void alu_case(int op, unsigned size, int form, uint32_t a, uint32_t b, unsigned cin, int variant)
{
    Code c = { .n = 0 };
    junk_regs();
    /* Destination and source registers (8-bit numbers for size 1). */
    int dst = size == 1 ? (variant & 1 ? 7 : 3) : (variant & 1 ? R_EDX : R_EBX);
    int src = size == 1 ? (variant & 2 ? 6 : 1) : (variant & 2 ? R_EDI : R_ECX);
    unsigned w = size != 1;
    uint32_t init_f = (rnd() & ARITH & ~CF) | (cin ? CF : 0);
    bool writes = op != A_CMP;
    int where = 0; /* 0: register dst, 1: memory DATA, 2: accumulator */
    bool sx8 = ((uint32_t)(int32_t)(int8_t)b & szmask(size)) == b;

    if (form == 7 && !(size == 1 || sx8))
        form = 5;
    wmem(DATA, rnd(), 4);
    switch (form) {
    case 0: /* Eb,Gb / Ev,Gv register */
        eopsz(&c, size);
        EB(&c, op * 8 + w, 0xC0 | (src << 3) | dst);
        wr_reg(size, dst, a);
        wr_reg(size, src, b);
        break;
    case 1: /* Gb,Eb / Gv,Ev register */
        eopsz(&c, size);
        EB(&c, op * 8 + 2 + w, 0xC0 | (dst << 3) | src);
        wr_reg(size, dst, a);
        wr_reg(size, src, b);
        break;
    case 2: /* Eb,Gb / Ev,Gv memory */
        eopsz(&c, size);
        e8(&c, op * 8 + w);
        emem(&c, src, DATA);
        wmem(DATA, a, size);
        wr_reg(size, src, b);
        where = 1;
        break;
    case 3: /* Gb,Eb / Gv,Ev memory */
        eopsz(&c, size);
        e8(&c, op * 8 + 2 + w);
        emem(&c, dst, DATA);
        wr_reg(size, dst, a);
        wmem(DATA, b, size);
        break;
    case 4: /* AL,Ib / eAX,Iv */
        eopsz(&c, size);
        e8(&c, op * 8 + 4 + w);
        eimm(&c, b, size);
        wr_reg(size, R_EAX, a);
        where = 2;
        break;
    case 5: /* 80 / 81 register */
        eopsz(&c, size);
        EB(&c, 0x80 + w, 0xC0 | (op << 3) | dst);
        eimm(&c, b, size);
        wr_reg(size, dst, a);
        break;
    case 6: /* 80 / 81 memory */
        eopsz(&c, size);
        e8(&c, 0x80 + w);
        emem(&c, op, DATA);
        eimm(&c, b, size);
        wmem(DATA, a, size);
        where = 1;
        break;
    default: /* 82 (byte) / 83 (imm8 sign-extended), register */
        eopsz(&c, size);
        EB(&c, size == 1 ? 0x82 : 0x83, 0xC0 | (op << 3) | dst, b & 0xFF);
        wr_reg(size, dst, a);
        break;
    }
    esetcc_all(&c);
    snprintf(ctx, sizeof(ctx), "%s size %u form %d a=0x%x b=0x%x cf=%u mode %d", alu_name[op], size,
             form, a, b, cin, mode);
    set_flags(init_f);
    save_regs();
    uint32_t mem_before = rmem(DATA, 4);
    run(&c);
    expect_done(&c);

    uint32_t ef, def;
    uint32_t r = ref_alu(op, size, a, b, cin, &ef, &def);
    check_flags(ef, def);
    check_setcc(ef, def);
    if (where == 1) {
        CHECK_EQ(rmem(DATA, size), writes ? r : a, "memory result");
        CHECK_EQ(rmem(DATA, 4) & ~szmask(size), mem_before & ~szmask(size), "memory beyond operand");
        check_regs_except(0, 0);
    } else {
        int rr = where == 2 ? R_EAX : dst;
        CHECK_EQ(rd_reg(size, rr), writes ? r : a, "register result");
        if (form == 2 || form == 3)
            CHECK_EQ(rmem(DATA, size), form == 3 ? b : a, "memory operand");
        check_regs_except(1u << (rr & (size == 1 ? 3 : 7)), size == 1 ? r8bits(rr) : szmask(size));
    }
}

static void alu_sweep(void)
{
    static const unsigned sizes[3] = { 1, 2, 4 };
    int form = 0, variant = 0;
    for (int op = 0; op < 8; op++)
        for (int si = 0; si < 3; si++) {
            unsigned size = sizes[si];
            for (unsigned ka = 0; ka < NINT + 4; ka++)
                for (unsigned kb = 0; kb < NINT + 4; kb += 3) {
                    uint32_t a = pick(ka, size), b = pick((kb + ka) % (NINT + 4), size);
                    alu_case(op, size, form, a, b, (ka + kb) & 1, variant);
                    form = (form + 1) & 7;
                    variant = (variant + 1) & 3;
                }
        }
}

static void test_alu_pm32(void **state)
{
    (void)state;
    alu_sweep();
}

static void test_alu_rm16(void **state)
{
    (void)state;
    alu_sweep();
}

static void test_alu_step(void **state)
{
    (void)state;
    use_step = true;
    for (int op = 0; op < 8; op++)
        for (int form = 0; form < 8; form++)
            alu_case(op, 4, form, 0x7FFFFFFF, 0x80000001u, 1, form & 3);
}

/* Hand-checked vectors (SDM semantics). */
static void test_alu_vectors(void **state)
{
    (void)state;
    static const struct {
        int op;
        unsigned size;
        uint32_t a, b, cin, res, flags;
    } v[] = {
        { A_ADD, 1, 0xFF, 0x01, 0, 0x00, CF | ZF | AF | PF },
        { A_ADD, 1, 0x7F, 0x01, 0, 0x80, SF | OF | AF },
        { A_ADD, 4, 0x80000000u, 0x80000000u, 0, 0, CF | ZF | OF | PF },
        { A_ADC, 2, 0xFFFF, 0x0000, 1, 0x0000, CF | ZF | AF | PF },
        { A_ADC, 1, 0x7F, 0x00, 1, 0x80, SF | OF | AF },
        { A_SUB, 1, 0x00, 0x01, 0, 0xFF, CF | SF | AF | PF },
        { A_SUB, 4, 0x80000000u, 1, 0, 0x7FFFFFFFu, OF | AF | PF },
        { A_SBB, 2, 0x0000, 0xFFFF, 1, 0x0000, CF | ZF | AF | PF },
        { A_SBB, 1, 0x80, 0x7F, 1, 0x00, OF | ZF | AF | PF },
        { A_CMP, 2, 0x1234, 0x1234, 0, 0x1234, ZF | PF },
        { A_AND, 4, 0xF0F0F0F0u, 0x0FF00FF0u, 0, 0x00F000F0u, PF },
        { A_OR, 1, 0x80, 0x01, 0, 0x81, SF | PF },
        { A_XOR, 2, 0xFFFF, 0xFFFF, 0, 0, ZF | PF },
    };
    for (unsigned k = 0; k < sizeof(v) / sizeof(v[0]); k++) {
        Code c = { .n = 0 };
        int reg = v[k].size == 1 ? 3 : R_EBX;
        eopsz(&c, v[k].size);
        EB(&c, v[k].op * 8 + (v[k].size != 1), 0xC0 | (R_ECX << 3) | reg);
        junk_regs();
        wr_reg(v[k].size, reg, v[k].a);
        wr_reg(v[k].size, R_ECX, v[k].b);
        set_flags(v[k].cin ? CF : 0);
        snprintf(ctx, sizeof(ctx), "vector %u", k);
        run(&c);
        expect_done(&c);
        CHECK_EQ(rd_reg(v[k].size, reg), v[k].res, "result");
        uint32_t def = (v[k].op == A_AND || v[k].op == A_OR || v[k].op == A_XOR) ? ARITH & ~AF : ARITH;
        check_flags(v[k].flags, def);
    }
}

/* TEST: 84, 85, A8, A9, F6/F7 /0 and the /1 alias. */
static void test_test(void **state)
{
    (void)state;
    static const unsigned sizes[3] = { 1, 2, 4 };
    for (int si = 0; si < 3; si++)
        for (unsigned k = 0; k < NINT; k++)
            for (int form = 0; form < 6; form++) {
                unsigned size = sizes[si], w = size != 1;
                uint32_t a = pick(k, size), b = pick((k * 7 + 3) % NINT, size);
                Code c = { .n = 0 };
                junk_regs();
                eopsz(&c, size);
                switch (form) {
                case 0: EB(&c, 0x84 + w, 0xC0 | (R_ECX << 3) | R_EBX); break;
                case 1: e8(&c, 0x84 + w); emem(&c, R_ECX, DATA); break;
                case 2: e8(&c, 0xA8 + w); eimm(&c, b, size); break;
                case 3: EB(&c, 0xF6 + w, 0xC0 | R_EBX); eimm(&c, b, size); break;
                case 4: e8(&c, 0xF6 + w); emem(&c, 0, DATA); eimm(&c, b, size); break;
                default: EB(&c, 0xF6 + w, 0xC8 | R_EBX); eimm(&c, b, size); break;
                }
                esetcc_all(&c);
                wr_reg(size, form == 2 ? R_EAX : R_EBX, a);
                wr_reg(size, R_ECX, b);
                wmem(DATA, a, 4);
                set_flags(rnd());
                save_regs();
                snprintf(ctx, sizeof(ctx), "test size %u form %d a=%x b=%x", size, form, a, b);
                run(&c);
                expect_done(&c);
                uint32_t f = szp(size, a & b);
                check_flags(f, ARITH & ~AF);
                check_setcc(f, ARITH & ~AF);
                check_regs_except(0, 0);
                CHECK_EQ(rmem(DATA, size), a, "memory unchanged");
            }
}

/* ---- INC / DEC / NOT / NEG ---- */

static void test_incdec_notneg(void **state)
{
    (void)state;
    static const unsigned sizes[3] = { 1, 2, 4 };
    for (int si = 0; si < 3; si++)
        for (unsigned k = 0; k < NINT + 8; k++)
            for (int op = 0; op < 4; op++)      /* INC DEC NOT NEG */
                for (int form = 0; form < 3; form++) { /* 0: r/m reg, 1: memory, 2: 40+r */
                    unsigned size = sizes[si], w = size != 1;
                    if (form == 2 && (size == 1 || op >= 2))
                        continue;
                    uint32_t a = pick(k, size);
                    int reg = size == 1 ? 5 /* CH */ : R_EBP;
                    Code c = { .n = 0 };
                    junk_regs();
                    eopsz(&c, size);
                    if (form == 2) {
                        e8(&c, (op ? 0x48 : 0x40) + reg);
                    } else {
                        static const uint8_t opc[2][4] = { { 0xFE, 0xFE, 0xF6, 0xF6 },
                                                           { 0xFF, 0xFF, 0xF7, 0xF7 } };
                        static const uint8_t regf[4] = { 0, 1, 2, 3 };
                        e8(&c, opc[w][op]);
                        if (form == 0)
                            e8(&c, 0xC0 | (regf[op] << 3) | reg);
                        else
                            emem(&c, regf[op], DATA);
                    }
                    esetcc_all(&c);
                    wr_reg(size, reg, a);
                    wmem(DATA, a, size);
                    uint32_t f0 = rnd() & ARITH;
                    set_flags(f0);
                    save_regs();
                    snprintf(ctx, sizeof(ctx), "incdec/notneg op %d size %u form %d a=%x", op, size,
                             form, a);
                    run(&c);
                    expect_done(&c);
                    uint32_t r, f, def = ARITH;
                    uint32_t dummy;
                    switch (op) {
                    case 0:
                        r = ref_alu(A_ADD, size, a, 1, 0, &f, &dummy);
                        f = (f & ~CF) | (f0 & CF);
                        break;
                    case 1:
                        r = ref_alu(A_SUB, size, a, 1, 0, &f, &dummy);
                        f = (f & ~CF) | (f0 & CF);
                        break;
                    case 2:
                        r = ~a & szmask(size);
                        f = f0;
                        break;
                    default:
                        r = ref_alu(A_SUB, size, 0, a, 0, &f, &dummy);
                        CHECK_EQ(!!(f & CF), a != 0, "NEG CF = (src != 0)");
                        break;
                    }
                    check_flags(f, def);
                    check_setcc(f, def);
                    if (form == 1) {
                        CHECK_EQ(rmem(DATA, size), r, "memory result");
                        check_regs_except(0, 0);
                    } else {
                        CHECK_EQ(rd_reg(size, reg), r, "register result");
                        check_regs_except(1u << (size == 1 ? (reg & 3) : reg),
                                          size == 1 ? r8bits(reg) : szmask(size));
                    }
                }
}

/* ---- shifts and rotates ---- */

enum { S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAL, S_SAR };
static const char *const sh_name[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };

/* Literal SDM pseudo-code: 1-bit steps.  Returns the result; *f gets the
 * flags, *def the defined ones (relative to flags f0 before). */
static uint32_t ref_shift(int op, unsigned size, uint32_t v, unsigned count, uint32_t f0, uint32_t *f,
                          uint32_t *def)
{
    unsigned bits = size * 8, cnt = count & 31;
    uint32_t m = szmask(size), s = sgn(size);
    unsigned cf = f0 & CF;
    uint32_t d = v & m;
    *f = f0;
    *def = ARITH;
    if (cnt == 0)
        return d;
    switch (op) {
    case S_ROL:
    case S_ROR: {
        unsigned t = cnt % bits;
        for (unsigned k = 0; k < t; k++) {
            if (op == S_ROL)
                d = ((d << 1) | (d >> (bits - 1))) & m;
            else
                d = (d >> 1) | ((d & 1) ? s : 0);
        }
        cf = op == S_ROL ? (d & 1) : !!(d & s);
        *f = (f0 & ~(CF | OF)) | (cf ? CF : 0);
        if (cnt == 1) {
            bool of = op == S_ROL ? (!!(d & s) ^ cf) : (!!(d & s) ^ !!(d & (s >> 1)));
            *f |= of ? OF : 0;
        } else {
            *def &= ~OF;
        }
        return d;
    }
    case S_RCL:
    case S_RCR: {
        unsigned t = size == 1 ? cnt % 9 : size == 2 ? cnt % 17 : cnt;
        for (unsigned k = 0; k < t; k++) {
            if (op == S_RCL) {
                unsigned nc = !!(d & s);
                d = ((d << 1) | cf) & m;
                cf = nc;
            } else {
                unsigned nc = d & 1;
                d = (d >> 1) | (cf ? s : 0);
                cf = nc;
            }
        }
        *f = (f0 & ~(CF | OF)) | (cf ? CF : 0);
        if (cnt == 1) {
            /* RCL: OF = MSB(result) ^ CF; RCR: OF = MSB(dest) ^ CF before. */
            bool of = op == S_RCL ? (!!(d & s) ^ cf) : (!!(v & s) ^ !!(f0 & CF));
            *f |= of ? OF : 0;
        } else {
            *def &= ~OF;
        }
        return d;
    }
    default: {
        for (unsigned k = 0; k < cnt; k++) {
            if (op == S_SHL || op == S_SAL) {
                cf = !!(d & s);
                d = (d << 1) & m;
            } else if (op == S_SHR) {
                cf = d & 1;
                d >>= 1;
            } else {
                cf = d & 1;
                d = (d >> 1) | (d & s);
            }
        }
        *f = szp(size, d) | (cf ? CF : 0);
        *def = ARITH & ~AF;
        if (cnt == 1) {
            bool of = (op == S_SHL || op == S_SAL) ? (!!(d & s) ^ cf)
                    : op == S_SHR ? !!(v & s) : false;
            *f |= of ? OF : 0;
        } else {
            *def &= ~OF;
        }
        if ((op == S_SHL || op == S_SAL || op == S_SHR) && cnt >= bits)
            *def &= ~CF;
        return d;
    }
    }
}

static void shift_case(int op, unsigned size, int form, uint32_t v, unsigned count, uint32_t f0)
{
    /* form: 0 D0/D1 reg, 1 D0/D1 mem, 2 D2/D3 reg, 3 D2/D3 mem, 4 C0/C1 reg, 5 C0/C1 mem */
    unsigned w = size != 1;
    int reg = size == 1 ? 7 /* BH */ : R_ESI;
    if (form < 2)
        count = 1;
    Code c = { .n = 0 };
    junk_regs();
    eopsz(&c, size);
    e8(&c, (form < 2 ? 0xD0 : form < 4 ? 0xD2 : 0xC0) + w);
    if (form & 1)
        emem(&c, op, DATA);
    else
        e8(&c, 0xC0 | (op << 3) | reg);
    if (form >= 4)
        e8(&c, count);
    esetcc_all(&c);
    wr_reg(size, reg, v);
    wmem(DATA, v, size);
    cpu_set_reg(cpu, R_ECX, (rnd() & ~0xFFu) | (count & 0xFF));
    set_flags(f0);
    save_regs();
    snprintf(ctx, sizeof(ctx), "%s size %u form %d v=%x count=%u f0=%x mode %d", sh_name[op], size,
             form, v, count, f0, mode);
    run(&c);
    expect_done(&c);
    uint32_t f, def;
    uint32_t r = ref_shift(op, size, v, count, f0, &f, &def);
    check_flags(f, def);
    check_setcc(f, def);
    if (form & 1) {
        CHECK_EQ(rmem(DATA, size), r, "memory result");
        check_regs_except(0, 0);
    } else {
        CHECK_EQ(rd_reg(size, reg), r, "register result");
        check_regs_except(1u << (size == 1 ? (reg & 3) : reg), size == 1 ? r8bits(reg) : szmask(size));
    }
}

static void shift_sweep(void)
{
    static const unsigned sizes[3] = { 1, 2, 4 };
    static const unsigned counts[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 24, 31, 32, 33, 0x41, 0xFF };
    int form = 0;
    for (int op = 0; op < 8; op++)
        for (int si = 0; si < 3; si++)
            for (unsigned k = 0; k < NINT; k += 2)
                for (unsigned ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
                    unsigned size = sizes[si];
                    shift_case(op, size, form, pick(k + ci, size), counts[ci], rnd() & ARITH);
                    form = (form + 1) % 6;
                }
}

static void test_shift_pm32(void **state)
{
    (void)state;
    shift_sweep();
}

static void test_shift_rm16(void **state)
{
    (void)state;
    shift_sweep();
}

/* Rotates change only CF and OF (SDM vol. 2, RCL/RCR/ROL/ROR): SF, ZF, PF
 * and AF must still be those of the arithmetic or logic instruction
 * before (which the CPU keeps lazily), through one rotate and through a
 * second one right after it. */
static void test_rotate_after_lazy(void **state)
{
    (void)state;
    static const struct { int b[3]; int n; const char *name; } prior[] = {
        { { 0x01, 0xD8 }, 2, "add eax,ebx" }, { { 0x11, 0xD8 }, 2, "adc eax,ebx" },
        { { 0x29, 0xD8 }, 2, "sub eax,ebx" }, { { 0x19, 0xD8 }, 2, "sbb eax,ebx" },
        { { 0x21, 0xD8 }, 2, "and eax,ebx" }, { { 0xF7, 0xD8 }, 2, "neg eax" },
        { { 0x40 }, 1, "inc eax" },           { { 0x48 }, 1, "dec eax" },
        { { 0xD1, 0xE0 }, 2, "shl eax,1" },   { { 0x9E }, 1, "sahf" },
    };
    static const unsigned counts[] = { 1, 5 };
    for (size_t p = 0; p < sizeof(prior) / sizeof(prior[0]); p++)
        for (int op = S_ROL; op <= S_RCR; op++)
            for (unsigned ci = 0; ci < 2; ci++)
                for (unsigned k = 0; k < NINT; k += 3) {
                    uint32_t a = pick(k, 4), b = pick(k + 1, 4), vd = pick(k + 2, 4), vs = rnd();
                    uint32_t f_init = rnd() & ARITH;
                    /* (1) the prior instruction alone gives the flags to keep */
                    Code c0 = { .n = 0 };
                    ebytes(&c0, prior[p].b, prior[p].n);
                    cpu_set_reg(cpu, R_EAX, a);
                    cpu_set_reg(cpu, R_EBX, b);
                    set_flags(f_init);
                    run(&c0);
                    expect_done(&c0);
                    uint32_t fp = get_flags();
                    /* (2) prior; rotate edx by count; setcc; rotate esi by 1 */
                    Code c = { .n = 0 };
                    ebytes(&c, prior[p].b, prior[p].n);
                    EB(&c, 0xC1, 0xC0 | (op << 3) | R_EDX, (int)counts[ci]);
                    esetcc_all(&c);
                    EB(&c, 0xD1, 0xC0 | (op << 3) | R_ESI);
                    cpu_set_reg(cpu, R_EAX, a);
                    cpu_set_reg(cpu, R_EBX, b);
                    cpu_set_reg(cpu, R_EDX, vd);
                    cpu_set_reg(cpu, R_ESI, vs);
                    set_flags(f_init);
                    snprintf(ctx, sizeof(ctx), "%s; %s edx,%u; %s esi,1 (a=%x b=%x edx=%x esi=%x f=%x)",
                             prior[p].name, sh_name[op], counts[ci], sh_name[op], a, b, vd, vs, f_init);
                    run(&c);
                    expect_done(&c);
                    uint32_t f1, def1, f2, def2;
                    uint32_t rd = ref_shift(op, 4, vd, counts[ci], fp, &f1, &def1);
                    uint32_t rs = ref_shift(op, 4, vs, 1, f1, &f2, &def2);
                    CHECK_EQ(cpu_get_reg(cpu, R_EDX), rd, "edx");
                    CHECK_EQ(cpu_get_reg(cpu, R_ESI), rs, "esi");
                    check_setcc(f1, def1);
                    /* after the second rotate: CF/OF its own (count 1: both
                     * defined), the rest still the prior instruction's */
                    check_flags(f2, def2);
                }
}

/* A masked count of 0 leaves flags and operand alone; the lazy state of the
 * previous instruction must survive too. */
static void test_shift_count0(void **state)
{
    (void)state;
    for (int op = 0; op < 8; op++) {
        Code c = { .n = 0 };
        /* cmp eax, ebx ; shl/rol... ecx, 32 ; setcc */
        EB(&c, 0x39, 0xD8);
        EB(&c, 0xC1, 0xC0 | (op << 3) | R_ECX, 32);
        EB(&c, 0xD3, 0xC0 | (op << 3) | R_EDX); /* CL = 0 */
        esetcc_all(&c);
        cpu_set_reg(cpu, R_EAX, 5);
        cpu_set_reg(cpu, R_EBX, 7);
        cpu_set_reg(cpu, R_ECX, 0x100);
        cpu_set_reg(cpu, R_EDX, 0x1234);
        snprintf(ctx, sizeof(ctx), "count 0 %s", sh_name[op]);
        run(&c);
        expect_done(&c);
        uint32_t f, def;
        ref_alu(A_CMP, 4, 5, 7, 0, &f, &def);
        check_flags(f, ARITH);
        check_setcc(f, ARITH);
        CHECK_EQ(cpu_get_reg(cpu, R_ECX), 0x100, "ecx unchanged");
        CHECK_EQ(cpu_get_reg(cpu, R_EDX), 0x1234, "edx unchanged");
    }
}

/* ---- SHLD / SHRD ---- */

static void test_shld_shrd(void **state)
{
    (void)state;
    static const unsigned counts[] = { 0, 1, 2, 4, 8, 15, 16, 17, 20, 31, 32, 33, 63 };
    for (int right = 0; right < 2; right++)
        for (unsigned size = 2; size <= 4; size += 2)
            for (unsigned k = 0; k < NINT; k++)
                for (unsigned ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++)
                    for (int form = 0; form < 4; form++) { /* imm reg, imm mem, CL reg, CL mem */
                        unsigned bits = size * 8, cnt = counts[ci] & 31;
                        uint32_t d = pick(k, size), s = pick((k * 5 + 1) % NINT, size);
                        if (cnt > bits)
                            continue; /* result undefined */
                        Code c = { .n = 0 };
                        junk_regs();
                        eopsz(&c, size);
                        EB(&c, 0x0F, (right ? 0xAC : 0xA4) + (form >= 2));
                        if (form & 1)
                            emem(&c, R_EDX, DATA);
                        else
                            e8(&c, 0xC0 | (R_EDX << 3) | R_EBX);
                        if (form < 2)
                            e8(&c, counts[ci]);
                        esetcc_all(&c);
                        wr_reg(size, R_EBX, d);
                        wr_reg(size, R_EDX, s);
                        wmem(DATA, d, size);
                        cpu_set_reg(cpu, R_ECX, counts[ci]);
                        uint32_t f0 = rnd() & ARITH;
                        set_flags(f0);
                        save_regs();
                        snprintf(ctx, sizeof(ctx), "sh%cd size %u d=%x s=%x count=%u form %d",
                                 right ? 'r' : 'l', size, d, s, counts[ci], form);
                        run(&c);
                        expect_done(&c);
                        /* Reference: bit by bit. */
                        uint32_t r = d, cf = f0 & CF, f = f0, def = ARITH;
                        uint32_t m = szmask(size), sg = sgn(size);
                        for (unsigned b = 0; b < cnt; b++) {
                            if (!right) {
                                cf = !!(r & sg);
                                r = ((r << 1) | ((s >> (bits - 1 - b)) & 1)) & m;
                            } else {
                                cf = r & 1;
                                r = (r >> 1) | (((s >> b) & 1) ? sg : 0);
                            }
                        }
                        if (cnt) {
                            f = szp(size, r) | (cf ? CF : 0);
                            def = ARITH & ~AF;
                            if (cnt == 1)
                                f |= ((r ^ d) & sg) ? OF : 0;
                            else
                                def &= ~OF;
                        }
                        check_flags(f, def);
                        check_setcc(f, def);
                        if (form & 1) {
                            CHECK_EQ(rmem(DATA, size), r, "memory result");
                            check_regs_except(0, 0);
                        } else {
                            CHECK_EQ(rd_reg(size, R_EBX), r, "register result");
                            check_regs_except(1u << R_EBX, szmask(size));
                        }
                    }
}

/* ---- MUL / IMUL / DIV / IDIV ---- */

static int64_t sx(uint32_t v, unsigned size)
{
    return size == 1 ? (int8_t)v : size == 2 ? (int16_t)v : (int32_t)v;
}

static void test_mul(void **state)
{
    (void)state;
    static const unsigned sizes[3] = { 1, 2, 4 };
    for (int si = 0; si < 3; si++)
        for (unsigned ka = 0; ka < NINT; ka++)
            for (unsigned kb = 0; kb < NINT; kb += 2)
                for (int sign = 0; sign < 2; sign++)
                    for (int mem = 0; mem < 2; mem++) {
                        unsigned size = sizes[si], w = size != 1, bits = size * 8;
                        uint32_t a = pick(ka, size), b = pick(kb, size);
                        Code c = { .n = 0 };
                        junk_regs();
                        eopsz(&c, size);
                        e8(&c, 0xF6 + w);
                        if (mem)
                            emem(&c, 4 + sign, DATA);
                        else
                            e8(&c, 0xC0 | ((4 + sign) << 3) | R_EBX);
                        esetcc_all(&c);
                        wr_reg(size, R_EAX, a);
                        wr_reg(size, R_EBX, b);
                        wmem(DATA, b, size);
                        set_flags(rnd());
                        save_regs();
                        snprintf(ctx, sizeof(ctx), "%smul size %u a=%x b=%x mem %d", sign ? "i" : "",
                                 size, a, b, mem);
                        run(&c);
                        expect_done(&c);
                        uint64_t p;
                        bool ovf;
                        if (sign) {
                            int64_t sp = sx(a, size) * sx(b, size);
                            p = (uint64_t)sp;
                            ovf = sp != sx((uint32_t)sp & szmask(size), size);
                        } else {
                            p = (uint64_t)a * b;
                            ovf = (p >> bits) != 0;
                        }
                        check_flags(ovf ? CF | OF : 0, CF | OF);
                        check_setcc(ovf ? CF | OF : 0, CF | OF);
                        if (size == 1) {
                            CHECK_EQ(rd_reg(2, R_EAX), p & 0xFFFF, "AX");
                            check_regs_except(1u << R_EAX, 0xFFFF);
                        } else {
                            CHECK_EQ(rd_reg(size, R_EAX), p & szmask(size), "low half");
                            CHECK_EQ(rd_reg(size, R_EDX), (p >> bits) & szmask(size), "high half");
                            check_regs_except((1u << R_EAX) | (1u << R_EDX), szmask(size));
                        }
                    }
}

/* IMUL Gv,Ev (0F AF), Gv,Ev,Iv (69), Gv,Ev,Ib (6B). */
static void test_imul_forms(void **state)
{
    (void)state;
    for (unsigned size = 2; size <= 4; size += 2)
        for (unsigned ka = 0; ka < NINT; ka++)
            for (unsigned kb = 0; kb < NINT; kb++)
                for (int form = 0; form < 4; form++) { /* AF reg, AF mem, 69 mem, 6B reg */
                    uint32_t a = pick(ka, size), b = pick(kb, size);
                    if (form == 3)
                        b = (uint32_t)(int32_t)(int8_t)b & szmask(size);
                    Code c = { .n = 0 };
                    junk_regs();
                    eopsz(&c, size);
                    switch (form) {
                    case 0: EB(&c, 0x0F, 0xAF, 0xC0 | (R_EDI << 3) | R_EBX); break;
                    case 1: EB(&c, 0x0F, 0xAF); emem(&c, R_EDI, DATA); break;
                    case 2: e8(&c, 0x69); emem(&c, R_EDI, DATA); eimm(&c, b, size); break;
                    default: EB(&c, 0x6B, 0xC0 | (R_EDI << 3) | R_EBX, b & 0xFF); break;
                    }
                    esetcc_all(&c);
                    /* forms 0/1: EDI = EDI * src; 2/3: EDI = src * imm */
                    wr_reg(size, R_EDI, form < 2 ? b : rnd());
                    wr_reg(size, R_EBX, a);
                    wmem(DATA, a, size);
                    set_flags(rnd());
                    save_regs();
                    snprintf(ctx, sizeof(ctx), "imul form %d size %u a=%x b=%x", form, size, a, b);
                    run(&c);
                    expect_done(&c);
                    int64_t sp = sx(a, size) * sx(b, size);
                    uint32_t lo = (uint32_t)sp & szmask(size);
                    bool ovf = sp != sx(lo, size);
                    CHECK_EQ(rd_reg(size, R_EDI), lo, "result");
                    check_flags(ovf ? CF | OF : 0, CF | OF);
                    check_regs_except(1u << R_EDI, szmask(size));
                }
}

static void div_case(unsigned size, bool sign, bool mem, uint64_t n, uint32_t d)
{
    unsigned w = size != 1, bits = size * 8;
    Code c = { .n = 0 };
    junk_regs();
    eopsz(&c, size);
    e8(&c, 0xF6 + w);
    if (mem)
        emem(&c, 6 + sign, DATA);
    else
        e8(&c, 0xC0 | ((6 + sign) << 3) | R_EBX);
    if (size == 1) {
        wr_reg(2, R_EAX, (uint32_t)n);
    } else {
        wr_reg(size, R_EAX, (uint32_t)n);
        wr_reg(size, R_EDX, (uint32_t)(n >> bits));
    }
    wr_reg(size, R_EBX, d);
    wmem(DATA, d, size);
    uint32_t f0 = rnd() & ARITH;
    set_flags(f0);
    save_regs();
    snprintf(ctx, sizeof(ctx), "%sdiv size %u n=%llx d=%x mem %d mode %d", sign ? "i" : "", size,
             (unsigned long long)n, d, mem, mode);
    run(&c);
    bool de = false;
    uint64_t q = 0, r = 0;
    if (d == 0) {
        de = true;
    } else if (!sign) {
        q = n / d;
        r = n % d;
        de = q > szmask(size);
    } else {
        int64_t sn = size == 1 ? (int16_t)n : size == 2 ? (int32_t)n : (int64_t)n;
        int64_t sd = sx(d, size);
        if (size == 4 && sn == INT64_MIN && sd == -1) {
            de = true;
        } else {
            int64_t sq = sn / sd, sr = sn % sd;
            int64_t lim = (int64_t)1 << (bits - 1);
            de = sq >= lim || sq < -lim;
            q = (uint64_t)sq;
            r = (uint64_t)sr;
        }
    }
    if (de) {
        expect_exc(0);
        check_regs_except(1u << R_ESP, 0);
        return;
    }
    expect_done(&c);
    if (size == 1) {
        CHECK_EQ(rd_reg(1, 0), q & 0xFF, "AL quotient");
        CHECK_EQ(rd_reg(1, 4), r & 0xFF, "AH remainder");
        check_regs_except(1u << R_EAX, 0xFFFF);
    } else {
        CHECK_EQ(rd_reg(size, R_EAX), q & szmask(size), "quotient");
        CHECK_EQ(rd_reg(size, R_EDX), r & szmask(size), "remainder");
        check_regs_except((1u << R_EAX) | (1u << R_EDX), szmask(size));
    }
}

static void div_sweep(void)
{
    static const unsigned sizes[3] = { 1, 2, 4 };
    for (int si = 0; si < 3; si++) {
        unsigned size = sizes[si], bits = size * 8;
        uint64_t m2 = bits == 32 ? ~0ull : ((1ull << (2 * bits)) - 1);
        for (int sign = 0; sign < 2; sign++) {
            for (unsigned ka = 0; ka < NINT; ka++)
                for (unsigned kb = 0; kb < NINT; kb += 2) {
                    uint64_t n = (((uint64_t)rnd() << 32) | rnd()) & m2;
                    if (ka & 1)
                        n = (uint64_t)interesting[ka] * (ka & 2 ? 1 : interesting[kb]) & m2;
                    div_case(size, sign, (ka + kb) & 1, n, pick(kb, size));
                }
            /* Edge cases: divide by zero, overflow boundaries. */
            uint64_t smin = (uint64_t)1 << (2 * bits - 1); /* INT_MIN of the dividend */
            div_case(size, sign, false, 5, 0);
            div_case(size, sign, true, 5, 0);
            div_case(size, sign, false, smin & m2, szmask(size)); /* INT_MIN / -1 */
            div_case(size, sign, false, (uint64_t)szmask(size) << bits & m2, 1);
            div_case(size, sign, false, ((uint64_t)1 << (bits - 1)) - 1, 1);  /* max positive */
            div_case(size, sign, false, (uint64_t)(-((int64_t)1 << (bits - 1))) & m2, 1); /* -128/1 */
            div_case(size, sign, false, (uint64_t)(((int64_t)1 << (bits - 1)) & m2), szmask(size));
            div_case(size, sign, false, (uint64_t)szmask(size) * 2, 2); /* unsigned max quotient */
        }
    }
}

static void test_div_pm32(void **state)
{
    (void)state;
    div_sweep();
}

static void test_div_rm16(void **state)
{
    (void)state;
    div_sweep();
}

/* ---- CBW/CWDE/CWD/CDQ ---- */

static void test_cbw_cwd(void **state)
{
    (void)state;
    for (unsigned k = 0; k < NINT; k++)
        for (int op = 0; op < 4; op++) { /* CBW CWDE CWD CDQ */
            uint32_t a = interesting[k];
            Code c = { .n = 0 };
            eopsz(&c, op & 1 ? 4 : 2);
            e8(&c, op < 2 ? 0x98 : 0x99);
            junk_regs();
            cpu_set_reg(cpu, R_EAX, a);
            save_regs();
            snprintf(ctx, sizeof(ctx), "cbw/cwd op %d a=%x", op, a);
            run(&c);
            expect_done(&c);
            switch (op) {
            case 0:
                CHECK_EQ(cpu_get_reg(cpu, R_EAX), (a & 0xFFFF0000u) | ((uint32_t)(int8_t)a & 0xFFFF), "CBW");
                break;
            case 1:
                CHECK_EQ(cpu_get_reg(cpu, R_EAX), (uint32_t)(int16_t)a, "CWDE");
                break;
            case 2:
                CHECK_EQ(cpu_get_reg(cpu, R_EDX), (saved[R_EDX] & 0xFFFF0000u) | (a & 0x8000 ? 0xFFFF : 0), "CWD");
                break;
            default:
                CHECK_EQ(cpu_get_reg(cpu, R_EDX), a & 0x80000000u ? 0xFFFFFFFFu : 0, "CDQ");
                break;
            }
            check_regs_except(op < 2 ? 1u << R_EAX : 1u << R_EDX, 0xFFFFFFFFu);
        }
}

/* ---- BCD ---- */

static void test_bcd(void **state)
{
    (void)state;
    for (int op = 0; op < 4; op++) /* DAA DAS AAA AAS */
        for (uint32_t al = 0; al < 256; al++)
            for (uint32_t fl = 0; fl < 4; fl++) {
                static const uint8_t opc[4] = { 0x27, 0x2F, 0x37, 0x3F };
                Code c = { .n = 0 };
                e8(&c, opc[op]);
                esetcc_all(&c);
                junk_regs();
                uint32_t ah = rnd() & 0xFF;
                wr_reg(2, R_EAX, (ah << 8) | al);
                uint32_t f0 = (rnd() & ARITH & ~(CF | AF)) | (fl & 1 ? CF : 0) | (fl & 2 ? AF : 0);
                set_flags(f0);
                save_regs();
                snprintf(ctx, sizeof(ctx), "bcd op %d al=%x ah=%x cf=%u af=%u", op, al, ah, fl & 1, fl >> 1);
                run(&c);
                expect_done(&c);
                /* SDM pseudo-code. */
                uint32_t nal = al, nah = ah, f = 0, def;
                bool cf = fl & 1, af = fl & 2;
                if (op < 2) {
                    bool ncf = false, naf = false;
                    if ((al & 0xF) > 9 || af) {
                        ncf = cf || (op == 0 ? al + 6 > 0xFF : al < 6);
                        nal = (op == 0 ? nal + 6 : nal - 6) & 0xFF;
                        naf = true;
                    }
                    if (al > 0x99 || cf) {
                        nal = (op == 0 ? nal + 0x60 : nal - 0x60) & 0xFF;
                        ncf = true;
                    } else if (op == 0) {
                        ncf = false;
                    }
                    f = szp(1, nal) | (ncf ? CF : 0) | (naf ? AF : 0);
                    def = ARITH & ~OF;
                } else {
                    uint32_t ax = (ah << 8) | al;
                    bool adj = (al & 0xF) > 9 || af;
                    if (adj)
                        ax = op == 2 ? ax + 0x106 : ax - 6 - 0x100;
                    nal = ax & 0x0F;
                    nah = (ax >> 8) & 0xFF;
                    f = adj ? CF | AF : 0;
                    def = CF | AF;
                }
                CHECK_EQ(rd_reg(1, 0), nal, "AL");
                CHECK_EQ(rd_reg(1, 4), nah, "AH");
                check_flags(f, def);
                check_setcc(f, def);
                check_regs_except(1u << R_EAX, 0xFFFF);
            }
    /* Known vectors: 79 + 35 = AE -> DAA -> 14, CF; 35 - 47 = EE -> DAS -> 88, CF. */
    static const struct { uint8_t op, al, f0, res, f; } v[] = {
        { 0x27, 0xAE, 0, 0x14, CF | AF }, { 0x2F, 0xEE, CF, 0x88, CF | AF | SF },
    };
    for (unsigned k = 0; k < 2; k++) {
        Code c = { .n = 0 };
        e8(&c, v[k].op);
        cpu_set_reg(cpu, R_EAX, v[k].al);
        set_flags(v[k].f0);
        snprintf(ctx, sizeof(ctx), "bcd vector %u", k);
        run(&c);
        CHECK_EQ(rd_reg(1, 0), v[k].res, "AL");
        check_flags(v[k].f, CF | AF | SF | ZF);
    }
}

static void test_aam_aad(void **state)
{
    (void)state;
    static const uint8_t bases[] = { 10, 16, 1, 7, 255, 0 };
    for (unsigned bi = 0; bi < sizeof(bases); bi++)
        for (uint32_t ax = 0; ax < 0x10000; ax += 0x0107) {
            for (int op = 0; op < 2; op++) {
                Code c = { .n = 0 };
                EB(&c, op ? 0xD5 : 0xD4, bases[bi]);
                esetcc_all(&c);
                junk_regs();
                wr_reg(2, R_EAX, ax);
                set_flags(rnd());
                save_regs();
                snprintf(ctx, sizeof(ctx), "%s %u ax=%x", op ? "aad" : "aam", bases[bi], ax);
                run(&c);
                uint32_t al = ax & 0xFF, ah = ax >> 8, r;
                if (op == 0) {
                    if (bases[bi] == 0) {
                        expect_exc(0);
                        check_regs_except(1u << R_ESP, 0);
                        continue;
                    }
                    r = ((al / bases[bi]) << 8) | (al % bases[bi]);
                } else {
                    r = (al + ah * bases[bi]) & 0xFF;
                }
                expect_done(&c);
                CHECK_EQ(rd_reg(2, R_EAX), r, "AX");
                check_flags(szp(1, r), SF | ZF | PF);
                check_setcc(szp(1, r), SF | ZF | PF);
                check_regs_except(1u << R_EAX, 0xFFFF);
            }
        }
}

/* ---- bit instructions ---- */

static void test_bt_reg_imm(void **state)
{
    (void)state;
    for (unsigned size = 2; size <= 4; size += 2)
        for (int op = 0; op < 4; op++)          /* BT BTS BTR BTC */
            for (int form = 0; form < 4; form++) /* Gv reg, Ib reg, Ib mem, Gv mem (small offset) */
                for (unsigned k = 0; k < 40; k++) {
                    unsigned bits = size * 8;
                    uint32_t v = pick(k % NINT, size);
                    uint32_t off = k < 8 ? k * 5 : rnd() & 0xFF; /* imm8 / reg offset */
                    if (form == 3)
                        off &= bits - 1;
                    Code c = { .n = 0 };
                    junk_regs();
                    eopsz(&c, size);
                    static const uint8_t opc[4] = { 0xA3, 0xAB, 0xB3, 0xBB };
                    switch (form) {
                    case 0: EB(&c, 0x0F, opc[op], 0xC0 | (R_ECX << 3) | R_EBX); break;
                    case 1: EB(&c, 0x0F, 0xBA, 0xC0 | ((4 + op) << 3) | R_EBX, off); break;
                    case 2: EB(&c, 0x0F, 0xBA); emem(&c, 4 + op, DATA); e8(&c, off); break;
                    default: EB(&c, 0x0F, opc[op]); emem(&c, R_ECX, DATA); break;
                    }
                    esetcc_all(&c);
                    wr_reg(size, R_EBX, v);
                    wr_reg(size, R_ECX, off);
                    wmem(DATA, v, size);
                    uint32_t f0 = rnd() & ARITH;
                    set_flags(f0);
                    save_regs();
                    snprintf(ctx, sizeof(ctx), "bt op %d size %u form %d v=%x off=%u", op, size, form, v, off);
                    run(&c);
                    expect_done(&c);
                    unsigned bit = off & (bits - 1);
                    uint32_t m = 1u << bit, r = v;
                    if (op == 1)
                        r |= m;
                    else if (op == 2)
                        r &= ~m;
                    else if (op == 3)
                        r ^= m;
                    uint32_t f = (f0 & ~CF) | ((v & m) ? CF : 0);
                    check_flags(f, CF | ZF);
                    check_setcc(f, CF | ZF);
                    if (form >= 2) {
                        CHECK_EQ(rmem(DATA, size), r, "memory");
                        check_regs_except(0, 0);
                    } else {
                        CHECK_EQ(rd_reg(size, R_EBX), r, "register");
                        check_regs_except(1u << R_EBX, szmask(size));
                    }
                }
}

/* BT* m, r: the signed bit offset addresses outside the operand. */
static void bt_far_case(unsigned size, int op, uint32_t base, int32_t off)
{
    static const uint8_t opc[4] = { 0xA3, 0xAB, 0xB3, 0xBB };
    unsigned bits = size * 8;
    Code c = { .n = 0 };
    junk_regs();
    eopsz(&c, size);
    EB(&c, 0x0F, opc[op]);
    if (mode == PM32) {
        e8(&c, 0x00 | (R_ECX << 3) | R_EBX); /* [ebx] */
        cpu_set_reg(cpu, R_EBX, base);
    } else {
        e8(&c, 0x00 | (R_ECX << 3) | 7); /* [bx] */
        wr_reg(2, R_EBX, base);
    }
    wr_reg(size, R_ECX, (uint32_t)off);
    int32_t soff = size == 2 ? (int16_t)off : off;
    uint32_t addr = base + (uint32_t)((soff >> (size == 2 ? 4 : 5)) * (int32_t)size);
    if (mode == RM16)
        addr &= 0xFFFF;
    unsigned bit = (uint32_t)soff & (bits - 1);
    uint32_t v = rnd() & szmask(size);
    uint32_t decoy = rnd();
    wmem(base, decoy, 4);
    wmem(addr, v, size);
    uint32_t f0 = rnd() & ARITH;
    set_flags(f0);
    save_regs();
    snprintf(ctx, sizeof(ctx), "bt far op %d size %u base=%x off=%d addr=%x mode %d", op, size, base,
             off, addr, mode);
    run(&c);
    expect_done(&c);
    uint32_t m = 1u << bit, r = v;
    if (op == 1)
        r |= m;
    else if (op == 2)
        r &= ~m;
    else if (op == 3)
        r ^= m;
    check_flags((f0 & ~CF) | ((v & m) ? CF : 0), CF | ZF);
    CHECK_EQ(rmem(addr, size), r, "memory at the addressed unit");
    if (addr + size <= base || addr >= base + 4)
        CHECK_EQ(rmem(base, 4), decoy, "operand at ea untouched");
    check_regs_except(0, 0);
}

static void test_bt_far_pm32(void **state)
{
    (void)state;
    static const int32_t offs[] = { 0, 31, 32, 33, -1, -32, -33, 1000, -1000, 0x10000, -0x10000, 0x7FFF, -0x8000 };
    for (int op = 0; op < 4; op++)
        for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
            bt_far_case(4, op, 0x80000, offs[k]);
            bt_far_case(2, op, 0x80000, offs[k]);
        }
    /* 32-bit offsets reaching megabytes away. */
    bt_far_case(4, 1, 0x400000, 0x1000000);  /* +2 MiB */
    bt_far_case(4, 2, 0x400000, -0x1000000); /* -2 MiB */
}

static void test_bt_far_rm16(void **state)
{
    (void)state;
    static const int32_t offs[] = { 0, 15, 16, 17, -1, -16, -17, 1000, -1000, 0x7FFF, -0x8000 };
    for (int op = 0; op < 4; op++)
        for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
            bt_far_case(2, op, 0x9000, offs[k]);
            bt_far_case(4, op, 0x9000, offs[k]);
            bt_far_case(2, op, 0xFF00, offs[k]); /* positive offsets wrap at 64 KiB */
            bt_far_case(4, op, 0xFF00, offs[k]);
        }
}

static void test_bsf_bsr(void **state)
{
    (void)state;
    for (unsigned size = 2; size <= 4; size += 2)
        for (int rev = 0; rev < 2; rev++)
            for (unsigned k = 0; k < NINT + 20; k++)
                for (int mem = 0; mem < 2; mem++) {
                    uint32_t v = pick(k, size);
                    if (k >= NINT)
                        v = (1u << (k % (size * 8))) & szmask(size);
                    Code c = { .n = 0 };
                    junk_regs();
                    eopsz(&c, size);
                    EB(&c, 0x0F, rev ? 0xBD : 0xBC);
                    if (mem)
                        emem(&c, R_EDX, DATA);
                    else
                        e8(&c, 0xC0 | (R_EDX << 3) | R_EBX);
                    esetcc_all(&c);
                    wr_reg(size, R_EBX, v);
                    wmem(DATA, v, size);
                    set_flags(rnd());
                    save_regs();
                    snprintf(ctx, sizeof(ctx), "bs%c size %u v=%x mem %d", rev ? 'r' : 'f', size, v, mem);
                    run(&c);
                    expect_done(&c);
                    if (v == 0) {
                        check_flags(ZF, ZF);
                        check_regs_except(0, 0); /* destination unchanged */
                    } else {
                        int idx = 0;
                        if (rev)
                            for (idx = (int)size * 8 - 1; !((v >> idx) & 1); idx--)
                                ;
                        else
                            for (idx = 0; !((v >> idx) & 1); idx++)
                                ;
                        check_flags(0, ZF);
                        CHECK_EQ(rd_reg(size, R_EDX), (uint32_t)idx, "index");
                        check_regs_except(1u << R_EDX, szmask(size));
                    }
                    check_setcc(v == 0 ? ZF : 0, ZF);
                }
}

static void test_bswap(void **state)
{
    (void)state;
    for (int r = 0; r < 8; r++) {
        if (r == R_ESP)
            continue;
        for (int o16 = 0; o16 < 2; o16++) {
            Code c = { .n = 0 };
            if (o16)
                e8(&c, 0x66);
            EB(&c, 0x0F, 0xC8 + r);
            junk_regs();
            cpu_set_reg(cpu, r, 0x12345678u);
            save_regs();
            snprintf(ctx, sizeof(ctx), "bswap r%d o16 %d", r, o16);
            run(&c);
            expect_done(&c);
            CHECK_EQ(cpu_get_reg(cpu, r), o16 ? 0x12340000u : 0x78563412u, "result");
            check_regs_except(1u << r, 0xFFFFFFFFu);
        }
    }
}

/* ---- SETcc / CMOVcc ---- */

static void test_setcc_cmov(void **state)
{
    (void)state;
    for (uint32_t f = 0; f < 64; f++) {
        uint32_t fl = (f & 1 ? CF : 0) | (f & 2 ? PF : 0) | (f & 4 ? ZF : 0) | (f & 8 ? SF : 0) |
                      (f & 16 ? OF : 0) | (f & 32 ? AF : 0);
        for (int cc = 0; cc < 16; cc++) {
            Code c = { .n = 0 };
            EB(&c, 0x0F, 0x90 + cc, 0xC0 | 5);             /* setcc ch */
            EB(&c, 0x0F, 0x40 + cc, 0xC0 | (R_EBX << 3) | R_ESI); /* cmovcc ebx, esi */
            EB(&c, 0x0F, 0x40 + cc);                        /* cmovcc edi, [DATA] */
            emem(&c, R_EDI, DATA);
            e8(&c, 0x66);                                          /* cmovcc bp, [DATA] */
            EB(&c, 0x0F, 0x40 + cc);
            emem(&c, R_EBP, DATA);
            junk_regs();
            wmem(DATA, 0xCAFEF00Du, 4);
            set_flags(fl);
            save_regs();
            snprintf(ctx, sizeof(ctx), "setcc/cmov cc=%d flags=%x", cc, fl);
            run(&c);
            expect_done(&c);
            bool t = cond(cc, fl);
            CHECK_EQ(rd_reg(1, 5), t, "setcc");
            CHECK_EQ(cpu_get_reg(cpu, R_EBX), t ? saved[R_ESI] : saved[R_EBX], "cmov reg");
            CHECK_EQ(cpu_get_reg(cpu, R_EDI), t ? 0xCAFEF00Du : saved[R_EDI], "cmov mem");
            CHECK_EQ(cpu_get_reg(cpu, R_EBP), t ? (saved[R_EBP] & 0xFFFF0000u) | 0xF00D : saved[R_EBP], "cmov16 mem");
            check_flags(fl, ARITH);
            check_regs_except((1u << R_ECX) | (1u << R_EBX) | (1u << R_EDI) | (1u << R_EBP), 0xFFFFFFFFu);
        }
    }
}

/* CMOVcc with a false condition still reads (and faults on) its source. */
static void test_cmov_faults(void **state)
{
    (void)state;
    /* DS limit 0xFFF: [0x2000] is beyond it -> #GP(0). */
    set_seg(SEG_DS, 0x10, 0, 0xFFF, 0x4093);
    Code c = { .n = 0 };
    EB(&c, 0x0F, 0x44); /* cmove eax, [0x2000] with ZF = 0 */
    emem(&c, R_EAX, 0x2000);
    set_flags(0);
    save_regs();
    snprintf(ctx, sizeof(ctx), "cmov false condition fault");
    run(&c);
    CHECK_EQ(cpu_get_eip(cpu), HND + 4 * 13, "#GP handler");
    CHECK_EQ(rmem(STK - 16, 4), 0, "error code");
    CHECK_EQ(rmem(STK - 12, 4), CODE, "pushed EIP");
    CHECK_EQ(cpu_get_reg(cpu, R_EAX), saved[R_EAX], "EAX unchanged");
}

/* ---- CMPXCHG / XADD / CMPXCHG8B ---- */

static void test_cmpxchg_xadd(void **state)
{
    (void)state;
    static const unsigned sizes[3] = { 1, 2, 4 };
    for (int si = 0; si < 3; si++)
        for (unsigned k = 0; k < NINT; k++)
            for (int form = 0; form < 4; form++) /* cmpxchg reg/mem, xadd reg/mem */
                for (int eq = 0; eq < 2; eq++) {
                    unsigned size = sizes[si], w = size != 1;
                    bool xadd = form >= 2, mem = form & 1;
                    int dst = size == 1 ? 3 : R_EBX, src = size == 1 ? 5 : R_ESI;
                    uint32_t d = pick(k, size), s = pick((k * 3 + 2) % NINT, size);
                    uint32_t acc = eq ? d : (d ^ (rnd() | 1)) & szmask(size);
                    if (!eq && acc == d)
                        acc = d ^ 1;
                    Code c = { .n = 0 };
                    junk_regs();
                    eopsz(&c, size);
                    EB(&c, 0x0F, (xadd ? 0xC0 : 0xB0) + w);
                    if (mem)
                        emem(&c, src, DATA);
                    else
                        e8(&c, 0xC0 | (src << 3) | dst);
                    esetcc_all(&c);
                    wr_reg(size, dst, d);
                    wr_reg(size, src, s);
                    wr_reg(size, R_EAX, acc);
                    wmem(DATA, d, size);
                    set_flags(rnd());
                    save_regs();
                    snprintf(ctx, sizeof(ctx), "%s size %u mem %d d=%x s=%x acc=%x",
                             xadd ? "xadd" : "cmpxchg", size, mem, d, s, acc);
                    run(&c);
                    expect_done(&c);
                    uint32_t f, def, dnew;
                    unsigned chg = 0;
                    if (!xadd) {
                        ref_alu(A_CMP, size, acc, d, 0, &f, &def);
                        dnew = acc == d ? s : d;
                        CHECK_EQ(rd_reg(size, R_EAX), acc == d ? acc : d, "accumulator");
                        chg |= 1u << R_EAX;
                    } else {
                        dnew = ref_alu(A_ADD, size, d, s, 0, &f, &def);
                        CHECK_EQ(rd_reg(size, src), d, "source gets old destination");
                        chg |= 1u << (size == 1 ? (src & 3) : src);
                    }
                    if (mem) {
                        CHECK_EQ(rmem(DATA, size), dnew, "memory destination");
                    } else {
                        CHECK_EQ(rd_reg(size, dst), dnew, "register destination");
                        chg |= 1u << (size == 1 ? (dst & 3) : dst);
                    }
                    check_flags(f, ARITH);
                    check_setcc(f, ARITH);
                    check_regs_except(chg, size == 1 ? 0xFFFFu : szmask(size));
                }
}

/* XADD/CMPXCHG with the same register as source and destination. */
static void test_xadd_same_reg(void **state)
{
    (void)state;
    Code c = { .n = 0 };
    EB(&c, 0x0F, 0xC1, 0xDB); /* xadd ebx, ebx */
    cpu_set_reg(cpu, R_EBX, 21);
    snprintf(ctx, sizeof(ctx), "xadd ebx, ebx");
    run(&c);
    expect_done(&c);
    CHECK_EQ(cpu_get_reg(cpu, R_EBX), 42, "ebx = sum");
    c.n = 0;
    EB(&c, 0x0F, 0xB1, 0xC0); /* cmpxchg eax, eax: equal, eax = eax */
    cpu_set_reg(cpu, R_EAX, 7);
    snprintf(ctx, sizeof(ctx), "cmpxchg eax, eax");
    run(&c);
    expect_done(&c);
    CHECK_EQ(cpu_get_reg(cpu, R_EAX), 7, "eax");
    check_flags(ZF | PF, ARITH);
}

static void test_cmpxchg8b(void **state)
{
    (void)state;
    for (int eq = 0; eq < 2; eq++)
        for (int lock = 0; lock < 2; lock++) {
            Code c = { .n = 0 };
            if (lock)
                e8(&c, 0xF0);
            EB(&c, 0x0F, 0xC7);
            emem(&c, 1, DATA);
            esetcc_all(&c);
            junk_regs();
            wmem(DATA, 0x11223344u, 4);
            wmem(DATA + 4, 0x55667788u, 4);
            cpu_set_reg(cpu, R_EAX, eq ? 0x11223344u : 0x11223345u);
            cpu_set_reg(cpu, R_EDX, 0x55667788u);
            cpu_set_reg(cpu, R_EBX, 0xAABBCCDDu);
            cpu_set_reg(cpu, R_ECX, 0xEEFF0011u);
            uint32_t f0 = (rnd() & ARITH & ~ZF) | (eq ? 0 : ZF);
            set_flags(f0);
            save_regs();
            snprintf(ctx, sizeof(ctx), "cmpxchg8b eq %d lock %d", eq, lock);
            run(&c);
            expect_done(&c);
            uint32_t f = (f0 & ~ZF) | (eq ? ZF : 0);
            check_flags(f, ARITH);
            check_setcc(f, ARITH);
            if (eq) {
                CHECK_EQ(rmem(DATA, 4), 0xAABBCCDDu, "m64 low");
                CHECK_EQ(rmem(DATA + 4, 4), 0xEEFF0011u, "m64 high");
                check_regs_except(0, 0);
            } else {
                CHECK_EQ(rmem(DATA, 4), 0x11223344u, "m64 low");
                CHECK_EQ(rmem(DATA + 4, 4), 0x55667788u, "m64 high");
                CHECK_EQ(cpu_get_reg(cpu, R_EAX), 0x11223344u, "EAX loaded");
                CHECK_EQ(cpu_get_reg(cpu, R_EDX), 0x55667788u, "EDX loaded");
                check_regs_except((1u << R_EAX) | (1u << R_EDX), 0xFFFFFFFFu);
            }
        }
    /* Register form: #UD. */
    Code c = { .n = 0 };
    EB(&c, 0x0F, 0xC7, 0xC8);
    snprintf(ctx, sizeof(ctx), "cmpxchg8b register form");
    run(&c);
    expect_exc(6);
}

/* ---- LOCK ---- */

static void test_lock(void **state)
{
    (void)state;
    /* Register forms and non-lockable instructions: #UD, no state change.
     * Memory operands are [0x3000] (disp32 00 30 00 00). */
    static const uint8_t bad[][12] = {
        { 3, 0xF0, 0x01, 0xC3 },                               /* lock add ebx, eax */
        { 7, 0xF0, 0x39, 0x05, 0x00, 0x30, 0x00, 0x00 },       /* lock cmp [m], eax */
        { 4, 0xF0, 0x0F, 0xC1, 0xDB },                         /* lock xadd ebx, ebx */
        { 7, 0xF0, 0x85, 0x05, 0x00, 0x30, 0x00, 0x00 },       /* lock test [m], eax */
        { 8, 0xF0, 0x0F, 0xA3, 0x05, 0x00, 0x30, 0x00, 0x00 }, /* lock bt [m], eax */
        { 7, 0xF0, 0xD1, 0x25, 0x00, 0x30, 0x00, 0x00 },       /* lock shl dword [m], 1 */
        { 7, 0xF0, 0xF7, 0x25, 0x00, 0x30, 0x00, 0x00 },       /* lock mul dword [m] */
        { 8, 0xF0, 0x0F, 0xAF, 0x05, 0x00, 0x30, 0x00, 0x00 }, /* lock imul eax, [m] */
        { 4, 0xF0, 0x0F, 0xC7, 0xC8 },                         /* lock cmpxchg8b (reg) */
        { 8, 0xF0, 0xF6, 0x05, 0x00, 0x30, 0x00, 0x00, 0x01 }, /* lock test byte [m], 1 */
        { 5, 0xF0, 0x0F, 0xBA, 0xE3, 0x01 },                   /* lock bt ebx, 1 */
        { 3, 0xF0, 0xFE, 0xC0 },                               /* lock inc al */
    };
    for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        Code c = { .n = 0 };
        unsigned len = bad[k][0];
        for (unsigned j = 1; j <= len; j++)
            e8(&c, bad[k][j]);
        junk_regs();
        wmem(DATA, 0x1234, 4);
        set_flags(CF | ZF);
        save_regs();
        snprintf(ctx, sizeof(ctx), "lock #UD case %u", k);
        run(&c);
        expect_exc(6);
        check_regs_except(1u << R_ESP, 0);
        CHECK_EQ(rmem(DATA, 4), 0x1234, "memory unchanged");
        check_flags(CF | ZF, ARITH);
    }
    /* Lockable memory forms execute normally. */
    static const struct { uint8_t b[4]; unsigned n; uint32_t init, exp; } good[] = {
        { { 0x01, 0x05 }, 2, 10, 10 + 3 },           /* add [m], eax (eax = 3) */
        { { 0x0F, 0xAB, 0x05 }, 3, 0, 8 },           /* bts [m], eax */
        { { 0x0F, 0xB3, 0x05 }, 3, 0xF, 0x7 },       /* btr [m], eax */
        { { 0x0F, 0xBB, 0x05 }, 3, 0, 8 },           /* btc [m], eax */
        { { 0xFF, 0x05 }, 2, 9, 10 },                /* inc dword [m] */
        { { 0xF7, 0x1D }, 2, 1, 0xFFFFFFFFu },       /* neg dword [m] */
        { { 0xF7, 0x15 }, 2, 0, 0xFFFFFFFFu },       /* not dword [m] */
        { { 0x0F, 0xC1, 0x05 }, 3, 5, 8 },           /* xadd [m], eax */
        { { 0x0F, 0xB1, 0x05 }, 3, 3, 3 },           /* cmpxchg [m], eax: equal, stores eax */
        { { 0x31, 0x05 }, 2, 1, 2 },                 /* xor [m], eax */
        { { 0x19, 0x05 }, 2, 10, 7 },                /* sbb [m], eax (CF = 0) */
    };
    for (unsigned k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        Code c = { .n = 0 };
        e8(&c, 0xF0);
        for (unsigned j = 0; j < good[k].n; j++)
            e8(&c, good[k].b[j]);
        e32(&c, DATA);
        cpu_set_reg(cpu, R_EAX, 3);
        wmem(DATA, good[k].init, 4);
        set_flags(0);
        snprintf(ctx, sizeof(ctx), "lock ok case %u", k);
        run(&c);
        expect_done(&c);
        CHECK_EQ(rmem(DATA, 4), good[k].exp, "memory");
    }
}

static void test_lock_rm16(void **state)
{
    (void)state;
    Code c = { .n = 0 };
    EB(&c, 0xF0, 0x0F, 0xAB); /* lock bts [DATA], ax */
    emem(&c, R_EAX, DATA);
    cpu_set_reg(cpu, R_EAX, 17);
    wmem(DATA, 0, 4);
    snprintf(ctx, sizeof(ctx), "lock bts rm16");
    run(&c);
    expect_done(&c);
    CHECK_EQ(rmem(DATA, 4), 1u << 17, "bit 17 set in the next word");
    c.n = 0;
    EB(&c, 0xF0, 0x09, 0xC3); /* lock or bx, ax */
    save_regs();
    snprintf(ctx, sizeof(ctx), "lock reg rm16");
    run(&c);
    expect_exc(6);
    check_regs_except(1u << R_ESP, 0);
}

/* ---- 16-bit addressing modes (real mode) ---- */

static void test_addr16(void **state)
{
    (void)state;
    /* DS and SS differ so the default segment is visible. */
    set_seg(SEG_DS, 0x1000, 0x10000, 0xFFFF, 0x93);
    set_seg(SEG_SS, 0x2000, 0x20000, 0xFFFF, 0x93);
    set_seg(SEG_ES, 0x3000, 0x30000, 0xFFFF, 0x93);
    cpu_set_reg(cpu, R_ESP, STK);
    /* IVT handlers must still be reachable: CS base 0. */
    static const struct {
        uint8_t modrm_rm, mod;
        int disp;      /* displacement */
        bool ss;       /* default SS */
    } m[] = {
        { 0, 0, 0, false },   /* [bx+si] */
        { 1, 1, 5, false },   /* [bx+di+d8] */
        { 2, 1, -3, true },   /* [bp+si+d8] */
        { 3, 2, 0x1234, true }, /* [bp+di+d16] */
        { 4, 0, 0, false },   /* [si] */
        { 5, 1, 0x7F, false }, /* [di+d8] */
        { 6, 1, 2, true },    /* [bp+d8] */
        { 7, 2, 0xFFF0, false }, /* [bx+d16] wraps */
        { 6, 0, 0x4321, false }, /* [disp16] */
    };
    uint16_t bx = 0x1100, si = 0x0220, di = 0x0033, bp = 0x4400;
    for (unsigned k = 0; k < sizeof(m) / sizeof(m[0]); k++)
        for (int ovr = 0; ovr < 2; ovr++) {
            static const uint16_t b16[8] = { 1, 1, 2, 2, 0, 0, 2, 1 };
            static const uint16_t x16[8] = { 1, 2, 1, 2, 1, 2, 0, 0 };
            uint32_t ea;
            if (m[k].mod == 0 && m[k].modrm_rm == 6) {
                ea = (uint32_t)m[k].disp;
            } else {
                ea = (b16[m[k].modrm_rm] == 1 ? bx : b16[m[k].modrm_rm] == 2 ? bp : 0) +
                     (x16[m[k].modrm_rm] == 1 ? si : x16[m[k].modrm_rm] == 2 ? di : 0);
                if (m[k].modrm_rm == 4)
                    ea = si;
                if (m[k].modrm_rm == 5)
                    ea = di;
                ea += (uint32_t)m[k].disp;
            }
            ea &= 0xFFFF;
            uint32_t lin = (ovr ? 0x30000 : m[k].ss ? 0x20000 : 0x10000) + ea;
            Code c = { .n = 0 };
            if (ovr)
                e8(&c, 0x26);
            e8(&c, 0x01); /* add [..], ax */
            e8(&c, (m[k].mod << 6) | m[k].modrm_rm);
            if (m[k].mod == 1)
                e8(&c, (uint32_t)m[k].disp & 0xFF);
            else if (m[k].mod == 2 || (m[k].mod == 0 && m[k].modrm_rm == 6))
                e16(&c, (uint32_t)m[k].disp);
            cpu_set_reg(cpu, R_EBX, 0xABCD0000u | bx);
            cpu_set_reg(cpu, R_ESI, 0xABCD0000u | si);
            cpu_set_reg(cpu, R_EDI, 0xABCD0000u | di);
            cpu_set_reg(cpu, R_EBP, 0xABCD0000u | bp);
            cpu_set_reg(cpu, R_EAX, 0x0101);
            wmem(lin, 0x4000, 2);
            snprintf(ctx, sizeof(ctx), "addr16 case %u ovr %d lin %x", k, ovr, lin);
            run(&c);
            expect_done(&c);
            CHECK_EQ(rmem(lin, 2), 0x4101, "memory at the effective address");
        }
}

/* A faulting read-modify-write leaves registers, memory and flags alone
 * (also the lazy flags of the instruction before it). */
static void rmw_fault_cases(int vec, uint32_t err)
{
    static const uint8_t ops[][3] = {
        { 0x01, 0x05, 0 },    /* add [m], eax */
        { 0x11, 0x05, 0 },    /* adc [m], eax */
        { 0xFF, 0x05, 0 },    /* inc [m] */
        { 0xF7, 0x1D, 0 },    /* neg [m] */
        { 0xF7, 0x15, 0 },    /* not [m] */
        { 0xD1, 0x25, 0 },    /* shl [m], 1 */
        { 0xD1, 0x05, 0 },    /* rol [m], 1 */
        { 0xD1, 0x15, 0 },    /* rcl [m], 1 */
        { 0x0F, 0xAB, 0x05 }, /* bts [m], eax */
        { 0x0F, 0xC1, 0x05 }, /* xadd [m], eax */
        { 0x0F, 0xB1, 0x05 }, /* cmpxchg [m], eax (not equal: still writes) */
        { 0x0F, 0xA5, 0x05 }, /* shld [m], eax, cl */
        { 0x0F, 0xC7, 0x0D }, /* cmpxchg8b [m] */
    };
    for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        Code c = { .n = 0 };
        EB(&c, 0x39, 0xD8); /* cmp eax, ebx: live lazy flags */
        e8(&c, ops[k][0]);
        e8(&c, ops[k][1]);
        if (ops[k][2])
            e8(&c, ops[k][2]);
        e32(&c, DATA);
        junk_regs();
        cpu_set_reg(cpu, R_EAX, 0x66);
        cpu_set_reg(cpu, R_EBX, 0x67);
        cpu_set_reg(cpu, R_ECX, 3);
        set_flags(CF | SF);
        save_regs();
        uint32_t f, def;
        ref_alu(A_CMP, 4, 0x66, 0x67, 0, &f, &def);
        snprintf(ctx, sizeof(ctx), "rmw fault case %u vec %d", k, vec);
        run(&c);
        CHECK_EQ(cpu_get_eip(cpu), HND + 4 * vec, "exception handler");
        CHECK_EQ(rmem(STK - 16, 4), err, "error code");
        CHECK_EQ(rmem(STK - 12, 4), CODE + 2, "pushed EIP");
        CHECK_EQ(rmem(STK - 4, 4) & ARITH, f, "pushed EFLAGS = flags of the CMP");
        check_regs_except(1u << R_ESP, 0);
        CHECK_EQ(rmem(DATA, 4), 0x55, "memory unchanged");
        check_flags(f, ARITH);
    }
}

static void test_rmw_fault_seg(void **state)
{
    (void)state;
    wmem(DATA, 0x55, 4);
    wmem(DATA + 4, 0, 4);
    set_seg(SEG_DS, 0x18, 0, 0xFFFFFFFFu, 0xC091); /* read-only data */
    rmw_fault_cases(13, 0);
}

/* Paging: DATA's page is read-only and CR0.WP is set, so the read of the
 * RMW succeeds and the write faults with #PF. */
static void test_rmw_fault_page(void **state)
{
    (void)state;
    const uint32_t pd = 0x20000, pt = 0x21000;
    wmem(pd, pt | 3, 4);
    for (uint32_t k = 0; k < 1024; k++)
        wmem(pt + k * 4, (k << 12) | ((k << 12) == (DATA & ~0xFFFu) ? 1 : 3), 4);
    wmem(DATA, 0x55, 4);
    wmem(DATA + 4, 0, 4);
    cpu_set_cr(cpu, 3, pd);
    cpu_set_cr(cpu, 0, 0x80010011u); /* PG WP PE */
    rmw_fault_cases(14, 3);           /* P | W */
    CHECK_EQ(cpu_get_cr(cpu, 2), DATA, "CR2");
    /* Reads through the read-only page still work. */
    Code c = { .n = 0 };
    e8(&c, 0x3B); /* cmp eax, [m] */
    emem(&c, R_EAX, DATA);
    cpu_set_reg(cpu, R_EAX, 0x55);
    cpu_set_reg(cpu, R_ESP, STK);
    snprintf(ctx, sizeof(ctx), "cmp through read-only page");
    run(&c);
    expect_done(&c);
    check_flags(ZF | PF, ARITH);
}

/* ---- flag instructions and EFLAGS loading ---- */

static void test_flag_insns(void **state)
{
    (void)state;
    for (uint32_t f = 0; f < 64; f++) {
        uint32_t fl = (f & 1 ? CF : 0) | (f & 2 ? PF : 0) | (f & 4 ? ZF : 0) | (f & 8 ? SF : 0) |
                      (f & 16 ? OF : 0) | (f & 32 ? AF : 0);
        static const struct { uint8_t op; } ins[] = { { 0xF5 }, { 0xF8 }, { 0xF9 }, { 0x9F }, { 0xD6 }, { 0x9E } };
        for (unsigned k = 0; k < 6; k++) {
            Code c = { .n = 0 };
            e8(&c, ins[k].op);
            junk_regs();
            uint32_t ah = rnd() & 0xFF;
            wr_reg(1, 4, ah);
            set_flags(fl);
            save_regs();
            snprintf(ctx, sizeof(ctx), "flag insn %02x flags %x", ins[k].op, fl);
            run(&c);
            expect_done(&c);
            switch (ins[k].op) {
            case 0xF5: check_flags(fl ^ CF, ARITH); break;
            case 0xF8: check_flags(fl & ~CF, ARITH); break;
            case 0xF9: check_flags(fl | CF, ARITH); break;
            case 0x9F:
                check_flags(fl, ARITH);
                CHECK_EQ(rd_reg(1, 4), (fl & (SF | ZF | AF | PF | CF)) | 2, "LAHF");
                check_regs_except(1u << R_EAX, 0xFF00);
                break;
            case 0xD6:
                check_flags(fl, ARITH);
                CHECK_EQ(rd_reg(1, 0), fl & CF ? 0xFF : 0, "SALC");
                check_regs_except(1u << R_EAX, 0xFF);
                break;
            default:
                check_flags((fl & OF) | (ah & (SF | ZF | AF | PF | CF)), ARITH);
                break;
            }
        }
    }
    /* CLD / STD */
    Code c = { .n = 0 };
    e8(&c, 0xFD);
    snprintf(ctx, sizeof(ctx), "std");
    run(&c);
    CHECK_EQ(cpu_get_eflags(cpu) & 0x400, 0x400, "DF set");
    c.n = 0;
    e8(&c, 0xFC);
    snprintf(ctx, sizeof(ctx), "cld");
    run(&c);
    CHECK_EQ(cpu_get_eflags(cpu) & 0x400, 0, "DF clear");
    /* Lazy flags feed LAHF/CMC correctly: cmp 1, 2 then cmc, lahf. */
    c.n = 0;
    EB(&c, 0x83, 0xF8, 0x02); /* cmp eax, 2 */
    e8(&c, 0xF5);                    /* cmc */
    e8(&c, 0x9F);                    /* lahf */
    cpu_set_reg(cpu, R_EAX, 1);
    snprintf(ctx, sizeof(ctx), "cmp; cmc; lahf");
    run(&c);
    /* 1 - 2 = FF: CF SF AF PF set; after CMC CF clear. */
    CHECK_EQ(rd_reg(1, 4), SF | AF | PF | 2, "AH");
}

static void test_eflags_reserved(void **state)
{
    (void)state;
    cpu_set_eflags(cpu, 0xFFFDFFFFu); /* everything but VM */
    uint32_t f = cpu_get_eflags(cpu);
    CHECK_EQ(f & 2, 2, "bit 1");
    CHECK_EQ(f & 0xFFC08028u, 0, "reserved zero bits");
    CHECK_EQ(f & 0x00200000u, 0x00200000u, "ID writable");
    CHECK_EQ(f & 0x00040000u, 0x00040000u, "AC writable");
    cpu_set_eflags(cpu, 0);
    CHECK_EQ(cpu_get_eflags(cpu), 2, "all clear");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alu_vectors, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_alu_pm32, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_alu_rm16, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_alu_step, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_test, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_incdec_notneg, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_shift_pm32, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_shift_rm16, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_shift_count0, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_after_lazy, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_shld_shrd, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_mul, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_imul_forms, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_div_pm32, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_div_rm16, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_cbw_cwd, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_bcd, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_aam_aad, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_bt_reg_imm, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_bt_far_pm32, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_bt_far_rm16, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_bsf_bsr, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_bswap, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_setcc_cmov, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_cmov_faults, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_cmpxchg_xadd, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_xadd_same_reg, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_cmpxchg8b, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_lock_rm16, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_addr16, setup_r, teardown),
        cmocka_unit_test_setup_teardown(test_rmw_fault_seg, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_rmw_fault_page, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_flag_insns, setup_p, teardown),
        cmocka_unit_test_setup_teardown(test_eflags_reserved, setup_p, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
