/*
 * test_cpu_debug.c - the CPU's debugger interface: breakpoints held by the
 * CPU (not written into memory), watchpoints of each kind stopping right
 * after the accessing instruction, debugger single-step with interrupts
 * held off, and a breakpoint in code that is later overwritten.
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
static int intr_vector = 0x20;

static int intr_ack(void *opaque) { return intr_vector; }
static const CpuHostOps ops = { .intr_ack = intr_ack };

/* Real mode, CS = 0, code at 0x1000:
 *   1000: b8 01 00        mov ax, 1
 *   1003: a3 00 05        mov [0x500], ax
 *   1006: 40              inc ax
 *   1007: 8b 1e 00 06     mov bx, [0x600]
 *   100b: 43              inc bx
 *   100c: f4              hlt
 */
static const uint8_t code[] = { 0xb8, 0x01, 0x00, 0xa3, 0x00, 0x05, 0x40, 0x8b, 0x1e, 0x00, 0x06, 0x43, 0xf4 };

static int setup(void **state)
{
    assert_int_equal(phys_init(&pm, 1 << 20), 0);
    cpu = cpu_new(&pm, &ops, NULL);
    assert_non_null(cpu);
    phys_write_buf(&pm, 0x1000, code, sizeof(code));
    phys_write(&pm, 0x600, 0x1234, 2);
    CpuSeg cs = { 0, 0, 0xFFFF, 0x9B };
    cpu_set_seg(cpu, 1, &cs);
    cpu_set_eip(cpu, 0x1000);
    return 0;
}

static int teardown(void **state)
{
    cpu_free(cpu);
    phys_free(&pm);
    return 0;
}

static void breakpoint_stops_and_resumes(void **state)
{
    assert_int_equal(cpu_bp_insert(cpu, 0x1006), 0);
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_BREAKPOINT);
    assert_int_equal(cpu_get_eip(cpu), 0x1006);
    assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFFFF, 1);
    /* Not patched into memory. */
    uint8_t b = (uint8_t)phys_read(&pm, 0x1006, 1);
    assert_int_equal(b, 0x40);
    /* Continuing executes the instruction under the breakpoint. */
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_HALT);
    assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFFFF, 2);
    assert_int_equal(cpu_get_reg(cpu, R_EBX) & 0xFFFF, 0x1235);
    assert_int_equal(cpu_bp_remove(cpu, 0x1006), 0);
    assert_int_equal(cpu_bp_remove(cpu, 0x1006), -1);
}

static void write_watchpoint(void **state)
{
    uint32_t addr;
    int kind;
    assert_int_equal(cpu_wp_insert(cpu, 0x501, 1, CPU_WATCH_WRITE), 0);
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_BREAKPOINT);
    assert_true(cpu_wp_hit(cpu, &addr, &kind));
    assert_int_equal(addr, 0x501);
    assert_int_equal(kind, CPU_WATCH_WRITE);
    assert_int_equal(cpu_get_eip(cpu), 0x1006); /* right after the store */
    assert_int_equal(phys_read(&pm, 0x500, 2), 1);
    assert_int_equal(cpu_wp_remove(cpu, 0x501, 1, CPU_WATCH_WRITE), 0);
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_HALT);
}

static void read_watchpoint_ignores_writes(void **state)
{
    assert_int_equal(cpu_wp_insert(cpu, 0x500, 2, CPU_WATCH_READ), 0);
    assert_int_equal(cpu_wp_insert(cpu, 0x5FE, 4, CPU_WATCH_ACCESS), 0);
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_BREAKPOINT);
    uint32_t addr;
    int kind;
    assert_true(cpu_wp_hit(cpu, &addr, &kind));
    assert_int_equal(kind, CPU_WATCH_ACCESS);
    assert_int_equal(addr, 0x600);
    assert_int_equal(cpu_get_eip(cpu), 0x100b);
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_HALT);
    assert_int_equal(cpu_wp_insert(cpu, 0x500, 9, CPU_WATCH_READ), -1);
}

static void debug_step_holds_off_interrupts(void **state)
{
    /* IVT entry 0x20 -> 0:0x2000 (hlt). */
    phys_write(&pm, 0x20 * 4, 0x00002000, 4);
    phys_write(&pm, 0x2000, 0xF4, 1);
    cpu_set_eflags(cpu, cpu_get_eflags(cpu) | 0x200);
    cpu_set_intr(cpu, 1);
    assert_int_equal(cpu_debug_step(cpu), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(cpu), 0x1003);
    assert_int_equal(cpu_debug_step(cpu), CPU_EXIT_BUDGET);
    assert_int_equal(cpu_get_eip(cpu), 0x1006);
    /* A normal step takes the interrupt. */
    cpu_step(cpu);
    CpuSeg cs;
    cpu_get_seg(cpu, 1, &cs);
    assert_int_equal(cs.base + cpu_get_eip(cpu), 0x2000);
    cpu_set_intr(cpu, 0);
}

static void breakpoint_in_overwritten_code(void **state)
{
    /* Run once so the block is translated, then patch the code under a
     * breakpoint: the breakpoint still stops there, and the new code runs. */
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_HALT);
    cpu_set_eip(cpu, 0x1000);
    cpu_set_reg(cpu, R_EAX, 0);
    assert_int_equal(cpu_bp_insert(cpu, 0x1006), 0);
    phys_write(&pm, 0x1006, 0x48, 1); /* inc ax -> dec ax */
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_BREAKPOINT);
    assert_int_equal(cpu_get_eip(cpu), 0x1006);
    assert_int_equal(cpu_run(cpu, 1000), CPU_EXIT_HALT);
    assert_int_equal(cpu_get_reg(cpu, R_EAX) & 0xFFFF, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(breakpoint_stops_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(write_watchpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(read_watchpoint_ignores_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(debug_step_holds_off_interrupts, setup, teardown),
        cmocka_unit_test_setup_teardown(breakpoint_in_overwritten_code, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
