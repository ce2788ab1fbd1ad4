/*
 * test_cpu_tcache.c - translation-cache invariants through the public API:
 * the same physical code reached at a different EIP (another CS base, or
 * through another linear mapping) must not reuse relative-branch targets
 * resolved for the first EIP; self-modifying code invalidates; the cache
 * and the reference interpreter (-no-tcache) agree.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_code_other_eip, setup, teardown),
        cmocka_unit_test_setup_teardown(write_to_next_instruction, setup, teardown),
        cmocka_unit_test_setup_teardown(hint_nops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
