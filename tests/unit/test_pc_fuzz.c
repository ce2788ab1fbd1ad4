/*
 * test_pc_fuzz.c - the whole board under random port I/O: every device of
 * the PC (PIC, PIT, RTC, i8042, UARTs, PCI configuration space of every
 * function, PM, fw_cfg, debug ports) gets random values at random widths
 * for a bounded number of steps with a fixed seed, interleaved with timer
 * runs.  Nothing may crash (run under ASan/UBSan in `make test`), and the
 * machine must still answer sanely afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/pc.h"

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static PcMachine *make_pc(void)
{
    static uint8_t bios[0x10000];
    memset(bios, 0xF4, sizeof(bios)); /* HLT everywhere */
    PcConfig cfg = {
        .ram_size = 32u << 20,
        .bios = bios,
        .bios_size = sizeof(bios),
        .icount = true,
        .debug_exit_port = -1,
        .tcache = true,
    };
    char err[128];
    PcMachine *pc = pc_new(&cfg, err, sizeof(err));
    assert_non_null(pc);
    return pc;
}

/* Ports that matter, weighted: the device ranges of the board. */
static uint16_t pick_port(void)
{
    static const uint16_t bases[] = { 0x20, 0x21, 0xA0, 0xA1, 0x40, 0x41, 0x42, 0x43, 0x61,
                                      0x60, 0x64, 0x70, 0x71, 0x92, 0x3F8, 0x3F9, 0x3FA,
                                      0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x4D0, 0x4D1, 0xCF8,
                                      0xCF9, 0xCFC, 0xCFD, 0xCFE, 0xCFF, 0x510, 0x511, 0xB000,
                                      0xB004, 0xB008, 0xB2, 0xB3, 0xAFE0, 0x80, 0x402, 0xE9 };
    if (rnd() % 8 == 0)
        return (uint16_t)rnd();
    return bases[rnd() % (sizeof(bases) / sizeof(bases[0]))];
}

static void fuzz_ports(void **state)
{
    (void)state;
    PcMachine *pc = make_pc();
    static const unsigned sizes[] = { 1, 2, 4 };
    for (int step = 0; step < 400000; step++) {
        uint16_t port = pick_port();
        unsigned size = sizes[rnd() % 3];
        if (port == 0xCF8 && rnd() % 2) {
            /* Aim configuration cycles at the functions that exist. */
            uint32_t devfn = rnd() % 4 == 0 ? (rnd() & 0xFF) : (uint32_t[]){ 0, 8, 11 }[rnd() % 3];
            pc_io_write(pc, 0xCF8, 0x80000000u | (devfn << 8) | (rnd() & 0xFC), 4);
            continue;
        }
        if (rnd() % 2)
            pc_io_write(pc, port, rnd(), size);
        else
            (void)pc_io_read(pc, port, size);
        if (step % 1000 == 0)
            pc_run_timers(pc);
    }
    /* Still alive and sane: the PCI host bridge answers its ID. */
    pc_io_write(pc, 0xCF8, 0x80000000u, 4);
    assert_int_equal(pc_io_read(pc, 0xCFC, 4), 0x12378086u);
    pc_free(pc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fuzz_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
