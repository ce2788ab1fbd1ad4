/*
 * test_cpu_fxsr.c - FXSAVE/FXRSTOR: the 512-byte image layout (SDM vol. 2
 * FXSAVE, 32-bit format), a round trip through FNINIT, and #GP on a
 * misaligned operand.
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

static void run_code(const uint8_t *code, size_t len)
{
    assert_int_equal(phys_init(&pm, 1 << 20), 0);
    cpu = cpu_new(&pm, NULL, NULL);
    assert_non_null(cpu);
    phys_write_buf(&pm, 0x7000, code, len);
    CpuSeg cs = { 0, 0, 0xFFFF, 0x9B };
    cpu_set_seg(cpu, 1, &cs);
    cpu_set_eip(cpu, 0x7000);
    cpu_set_cr(cpu, 0, cpu_get_cr(cpu, 0) & ~0x60000000u);
    assert_int_equal(cpu_run(cpu, 100), CPU_EXIT_HALT);
}

static void layout_and_round_trip(void **state)
{
    /* fninit; fld1; fldpi; fxsave [0x1000]; fninit; fxrstor [0x1000];
     * fstp qword [0x2000]; fstp qword [0x2008]; hlt */
    static const uint8_t code[] = {
        0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xeb, 0x0f, 0xae, 0x06, 0x00, 0x10, 0xdb, 0xe3,
        0x0f, 0xae, 0x0e, 0x00, 0x10, 0xdd, 0x1e, 0x00, 0x20, 0xdd, 0x1e, 0x08, 0x20, 0xf4,
    };
    run_code(code, sizeof(code));
    assert_int_equal(phys_read(&pm, 0x1000, 2), 0x037F);          /* FCW */
    assert_int_equal((phys_read(&pm, 0x1002, 2) >> 11) & 7, 6);  /* TOP = 6 */
    assert_int_equal(phys_read(&pm, 0x1004, 1), 0xC0);           /* R6, R7 in use */
    assert_int_equal(phys_read(&pm, 0x1018, 4), 0x1F80);         /* MXCSR */
    /* ST0 = pi: significand C90FDAA22168C235 (round to nearest), exp 0x4000 */
    assert_int_equal(phys_read(&pm, 0x1020, 8), 0xC90FDAA22168C235ull);
    assert_int_equal(phys_read(&pm, 0x1028, 2), 0x4000);
    /* ST1 = 1.0 */
    assert_int_equal(phys_read(&pm, 0x1030, 8), 0x8000000000000000ull);
    assert_int_equal(phys_read(&pm, 0x1038, 2), 0x3FFF);
    /* After FNINIT + FXRSTOR the stack is back: pi, then 1.0. */
    assert_int_equal(phys_read(&pm, 0x2000, 8), 0x400921FB54442D18ull);
    assert_int_equal(phys_read(&pm, 0x2008, 8), 0x3FF0000000000000ull);
    cpu_free(cpu);
    phys_free(&pm);
}

static void misaligned_is_gp(void **state)
{
    /* IVT 13 -> 0:0x7100 (hlt); fxsave [0x1008]; (not reached) */
    assert_int_equal(phys_init(&pm, 1 << 20), 0);
    cpu = cpu_new(&pm, NULL, NULL);
    phys_write(&pm, 13 * 4, 0x00007100, 4);
    phys_write(&pm, 0x7100, 0xF4, 1);
    static const uint8_t code[] = { 0x0f, 0xae, 0x06, 0x08, 0x10, 0xf4 };
    phys_write_buf(&pm, 0x7000, code, sizeof(code));
    CpuSeg cs = { 0, 0, 0xFFFF, 0x9B };
    cpu_set_seg(cpu, 1, &cs);
    cpu_set_reg(cpu, R_ESP, 0x6000);
    cpu_set_eip(cpu, 0x7000);
    assert_int_equal(cpu_run(cpu, 100), CPU_EXIT_HALT);
    assert_int_equal(cpu_get_eip(cpu), 0x7101); /* in the #GP handler */
    assert_int_equal(phys_read(&pm, 0x1008, 4), 0); /* nothing stored */
    cpu_free(cpu);
    phys_free(&pm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout_and_round_trip),
        cmocka_unit_test(misaligned_is_gp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
