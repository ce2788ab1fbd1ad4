/*
 * test_cpu_tcache.c - translation-cache invariants through the public API:
 * the same physical code reached at a different EIP (another CS base, or
 * through another linear mapping) must not reuse relative-branch targets
 * resolved for the first EIP; self-modifying code invalidates; the cache
 * and the reference interpreter (-no-tcache) agree; chained blocks (a
 * branch going straight on into its successor block) keep the instruction
 * budget exact, see code patched in the successor, and stop for
 * interrupts and exit requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/cpu.h"

static PhysMem pm;
static X86Cpu *cpu;

static int setup(void **state)
{
    assert_int_equal(phys_init(&pm, 1 << 20), 0);
    cpu = cpu_new(&pm, NULL, NULL);
    assert_non_null(cpu);
    return 0;
}

static int teardown(void **state)
{
    cpu_free(cpu);
    phys_free(&pm);
    return 0;
}

static void run_real(uint16_t cs_sel, uint16_t ip)
{
    CpuSeg cs = { cs_sel, (uint32_t)cs_sel << 4, 0xFFFF, 0x9B };
    cpu_set_seg(cpu, 1, &cs);
    CpuSeg ss = { 0, 0, 0xFFFF, 0x93 };
    cpu_set_seg(cpu, 2, &ss);
    cpu_set_reg(cpu, R_ESP, 0x8000);
    cpu_set_eip(cpu, ip);
    assert_int_equal(cpu_run(cpu, 100), CPU_EXIT_HALT);
}

/* 0x2000: e8 03 00  call +3   (pushes return IP, jumps 3 bytes ahead)
 *         90 90 90
 *         f4        hlt       (reached at IP+6 of the first byte) */
static void same_code_other_eip(void **state)
{
    static const uint8_t code[] = { 0xe8, 0x03, 0x00, 0x90, 0x90, 0x90, 0xf4 };
    phys_write_buf(&pm, 0x2000, code, sizeof(code));
    run_real(0x200, 0x0000); /* linear 0x2000 at IP 0 */
    assert_int_equal(cpu_get_eip(cpu), 0x0007);
    assert_int_equal(phys_read(&pm, 0x7FFE, 2), 0x0003); /* return address */
    run_real(0x100, 0x1000); /* the same bytes at IP 0x1000 */
    assert_int_equal(cpu_get_eip(cpu), 0x1007);
    assert_int_equal(phys_read(&pm, 0x7FFE, 2), 0x1003);
    run_real(0x200, 0x0000);
    assert_int_equal(cpu_get_eip(cpu), 0x0007);
}

/* A store to the next instruction takes effect (no stale block). */
static void write_to_next_instruction(void **state)
{
    /* 0x3000: c6 06 06 30 42   mov byte [0x3006], 0x42
     *         b0 00            mov al, 0x00   (imm patched to 0x42)
     *         f4               hlt */
    static const uint8_t code[] = { 0xc6, 0x06, 0x06, 0x30, 0x42, 0xb0, 0x00, 0xf4 };
    for (int round = 0; round < 2; round++) {
        phys_write_buf(&pm, 0x3000, code, sizeof(code)); /* restore the original */
        cpu_set_reg(cpu, R_EAX, 0);
        CpuSeg ds = { 0, 0, 0xFFFF, 0x93 };
        cpu_set_seg(cpu, 3, &ds);
        run_real(0x000, 0x3000);
        assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFF, 0x42);
    }
}

/* 0F 18-1F hint NOPs, NOPL with a memory operand (not accessed: no fault
 * even far outside RAM), and ENDBR32 (F3 0F 1E FB) execute as NOPs. */
static void hint_nops(void **state)
{
    static const uint8_t code[] = {
        0x0f, 0x1f, 0x00,                   /* nopl [bx+si] (16-bit form) */
        0x66, 0x0f, 0x1f, 0x44, 0x00,       /* nopd [si+0] (16-bit addressing) */
        0x0f, 0x18, 0x06, 0xff, 0xff,       /* prefetch hint [0xffff] */
        0xf3, 0x0f, 0x1e, 0xfb,             /* endbr32 */
        0x0f, 0x1e, 0xc0, 0x0f, 0x19, 0xc0, 0x0f, 0x1a, 0xc0, 0x0f, 0x1b, 0xc0,
        0x0f, 0x1c, 0xc0, 0x0f, 0x1d, 0xc0,
        0xf4,
    };
    phys_write_buf(&pm, 0x4000, code, sizeof(code));
    run_real(0x000, 0x4000);
    assert_int_equal(cpu_get_eip(cpu), 0x4000 + sizeof(code));
}


/* Real-mode register state used by the chaining tests. */
typedef struct LoopState {
    uint32_t ax, bx, cx, dx, eip, flags;
    uint64_t retired;
} LoopState;

static void loop_init(uint16_t ip, uint32_t ax, uint32_t bx, uint32_t cx)
{
    CpuSeg cs = { 0, 0, 0xFFFF, 0x9B };
    CpuSeg ds = { 0, 0, 0xFFFF, 0x93 };
    cpu_set_seg(cpu, 1, &cs);
    cpu_set_seg(cpu, 2, &ds);
    cpu_set_seg(cpu, 3, &ds);
    cpu_set_reg(cpu, R_ESP, 0x8000);
    cpu_set_reg(cpu, R_EAX, ax);
    cpu_set_reg(cpu, R_EBX, bx);
    cpu_set_reg(cpu, R_ECX, cx);
    cpu_set_reg(cpu, R_EDX, 0);
    cpu_set_eflags(cpu, 0x2);
    cpu_set_eip(cpu, ip);
}

static LoopState loop_state(uint64_t icount0)
{
    LoopState st = { cpu_get_reg(cpu, R_EAX), cpu_get_reg(cpu, R_EBX), cpu_get_reg(cpu, R_ECX),
                     cpu_get_reg(cpu, R_EDX), cpu_get_eip(cpu), cpu_get_eflags(cpu),
                     cpu_icount(cpu) - icount0 };
    return st;
}

/* Two blocks that branch to each other 500 times (6 instructions per
 * round):
 *   0x5000: inc ax / add bx,ax / jmp 0x5100
 *   0x5100: rol bx,1 / dec cx / jnz 0x5000 / hlt
 * cpu_run(N) must retire exactly N instructions and leave exactly the
 * state N single steps leave, for budgets around the block sizes and the
 * chaining margin; each budget runs twice, so the second run goes through
 * the successor links the first one recorded. */
static void chained_budget_is_exact(void **state)
{
    static const uint8_t a[] = { 0x40, 0x01, 0xc3, 0xe9, 0xfa, 0x00 };
    static const uint8_t b[] = { 0xd1, 0xc3, 0x49, 0x0f, 0x85, 0xf9, 0xfe, 0xf4 };
    phys_write_buf(&pm, 0x5000, a, sizeof(a));
    phys_write_buf(&pm, 0x5100, b, sizeof(b));
    static const uint64_t budgets[] = { 1, 2, 5, 6, 7, 63, 64, 65, 127, 128, 129, 130, 131,
                                        200, 257, 1000, 2999, 3000 };
    for (size_t k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
        uint64_t n = budgets[k];
        /* reference: single steps */
        loop_init(0x5000, 0, 1, 500);
        uint64_t t0 = cpu_icount(cpu);
        for (uint64_t s = 0; s < n; s++)
            assert_int_equal(cpu_step(cpu), CPU_EXIT_BUDGET);
        LoopState ref = loop_state(t0);
        assert_int_equal(ref.retired, n);
        for (int pass = 0; pass < 2; pass++) {
            loop_init(0x5000, 0, 1, 500);
            t0 = cpu_icount(cpu);
            assert_int_equal(cpu_run(cpu, n), CPU_EXIT_BUDGET);
            LoopState got = loop_state(t0);
            assert_int_equal(got.retired, n);
            assert_int_equal(got.ax, ref.ax);
            assert_int_equal(got.bx, ref.bx);
            assert_int_equal(got.cx, ref.cx);
            assert_int_equal(got.eip, ref.eip);
            assert_int_equal(got.flags, ref.flags);
        }
    }
    /* The whole loop: 3000 instructions, then HLT. */
    loop_init(0x5000, 0, 1, 500);
    assert_int_equal(cpu_run(cpu, 1000000), CPU_EXIT_HALT);
    assert_int_equal(cpu_get_reg(cpu, R_ECX) & 0xFFFF, 0);
    assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFFFF, 500);
    assert_int_equal(cpu_get_eip(cpu), 0x5108);
}

/* Every round patches the immediate of an instruction in the successor
 * block, which the branch then enters through its chain link:
 *   0x6000: mov [0x6101],al / inc ax / jmp 0x6100
 *   0x6100: mov bl,imm8 / add dx,bx / dec cx / jnz 0x6000 / hlt
 * so dx = 1 + 2 + ... + 200 only if every patched byte is seen. */
static void chained_successor_patched(void **state)
{
    static const uint8_t a[] = { 0x88, 0x06, 0x01, 0x61, 0x40, 0xe9, 0xf8, 0x00 };
    static const uint8_t b[] = { 0xb3, 0x00, 0x01, 0xda, 0x49, 0x0f, 0x85, 0xf7, 0xfe, 0xf4 };
    phys_write_buf(&pm, 0x6000, a, sizeof(a));
    phys_write_buf(&pm, 0x6100, b, sizeof(b));
    for (int pass = 0; pass < 2; pass++) {
        loop_init(0x6000, 1, 0, 200);
        assert_int_equal(cpu_run(cpu, 1000000), CPU_EXIT_HALT);
        assert_int_equal(cpu_get_reg(cpu, R_EDX) & 0xFFFF, 20100);
        assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFF, 201);
        assert_int_equal(cpu_get_eip(cpu), 0x610a);
    }
}

/* A device raises INTR (or asks the CPU to stop) from inside a loop of
 * blocks chained to themselves: the CPU must leave the chain and take the
 * interrupt at once, not at the end of its budget.  The device is reached
 * by OUT (which ends its block) and by RDTSC's host callback (which does
 * not: the chain itself must notice). */
static X86Cpu *irq_cpu;
static int irq_mode; /* 0: raise INTR at the 100th event; 1: exit request then */
static unsigned tsc_reads;
static void irq_event(void)
{
    if (irq_mode == 0)
        cpu_set_intr(irq_cpu, 1);
    else
        cpu_exit_request(irq_cpu);
}
static void irq_io_write(void *opaque, uint16_t port, uint32_t val, unsigned size)
{
    (void)opaque;
    (void)size;
    if (port == 0x80 && (val & 0xFF) == 100)
        irq_event();
}
static uint64_t irq_read_tsc(void *opaque)
{
    (void)opaque;
    if (++tsc_reads == 100)
        irq_event();
    return tsc_reads;
}
static int irq_ack(void *opaque)
{
    (void)opaque;
    cpu_set_intr(irq_cpu, 0);
    return 0x20;
}

static void chained_loop_takes_interrupt(void **state)
{
    static const CpuHostOps ops = { .io_write = irq_io_write, .intr_ack = irq_ack,
                                    .read_tsc = irq_read_tsc };
    X86Cpu *saved = cpu;
    cpu_free(cpu);
    cpu = irq_cpu = cpu_new(&pm, &ops, NULL);
    assert_non_null(cpu);
    /* 0x6800: inc ax / out 0x80,al / jmp 0x6800; IVT[0x20] -> 0000:7000 hlt */
    static const uint8_t loop[] = { 0x40, 0xe6, 0x80, 0xeb, 0xfb };
    phys_write_buf(&pm, 0x6800, loop, sizeof(loop));
    static const uint8_t ivt[] = { 0x00, 0x70, 0x00, 0x00 };
    phys_write_buf(&pm, 0x20 * 4, ivt, sizeof(ivt));
    static const uint8_t hlt = 0xf4;
    phys_write_buf(&pm, 0x7000, &hlt, 1);

    irq_mode = 0;
    loop_init(0x6800, 0, 0, 0);
    cpu_set_eflags(cpu, 0x202); /* IF */
    assert_int_equal(cpu_run(cpu, 10000000), CPU_EXIT_HALT);
    assert_int_equal(cpu_get_eip(cpu), 0x7001);
    assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFFFF, 100);
    uint32_t ret_ip = phys_read(&pm, 0x7FFA, 2);
    assert_true(ret_ip == 0x6803 || ret_ip == 0x6800);

    irq_mode = 1;
    loop_init(0x6800, 0, 0, 0);
    cpu_set_eflags(cpu, 0x2);
    assert_int_equal(cpu_run(cpu, 10000000), CPU_EXIT_REQUEST);
    uint32_t ax = cpu_get_reg(cpu, R_EAX) & 0xFFFF;
    assert_true(ax == 100 || ax == 101);

    /* 0x6900: inc bx / rdtsc / jmp 0x6900: one block, chained to itself */
    static const uint8_t loop2[] = { 0x43, 0x0f, 0x31, 0xeb, 0xfb };
    phys_write_buf(&pm, 0x6900, loop2, sizeof(loop2));
    for (irq_mode = 0; irq_mode < 2; irq_mode++) {
        tsc_reads = 0;
        loop_init(0x6900, 0, 0, 0);
        cpu_set_eflags(cpu, irq_mode == 0 ? 0x202 : 0x2);
        assert_int_equal(cpu_run(cpu, 10000000), irq_mode == 0 ? CPU_EXIT_HALT : CPU_EXIT_REQUEST);
        uint32_t bx = cpu_get_reg(cpu, R_EBX) & 0xFFFF;
        assert_true(bx == 100 || bx == 101);
        if (irq_mode == 0) {
            assert_int_equal(cpu_get_eip(cpu), 0x7001);
            ret_ip = phys_read(&pm, 0x7FFA, 2);
            assert_true(ret_ip == 0x6903 || ret_ip == 0x6900);
        }
    }
    (void)saved;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_code_other_eip, setup, teardown),
        cmocka_unit_test_setup_teardown(write_to_next_instruction, setup, teardown),
        cmocka_unit_test_setup_teardown(hint_nops, setup, teardown),
        cmocka_unit_test_setup_teardown(chained_budget_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(chained_successor_patched, setup, teardown),
        cmocka_unit_test_setup_teardown(chained_loop_takes_interrupt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
