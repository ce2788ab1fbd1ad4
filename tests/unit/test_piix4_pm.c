/*
 * test_piix4_pm.c - PIIX4 power management function: config defaults, PMBA
 * decoding, ACPI PM timer (3.579545 MHz, 24-bit) against the virtual clock,
 * TMR_STS/SCI, APM 0xB2 ACPI enable, SLP_EN power-off, GPE0.
 * Driven through port I/O (conf1 + PM block) and a virtual clock in ICOUNT
 * mode (1 ns per fake instruction).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/piix4_pm.h"
#include "devices/state.h"
#include "devices/vclock.h"

#define HZ 3579545ull
#define PMB 0xB000
#define DEVFN PCI_DEVFN(1, 3)

typedef struct {
    IoBus io;
    VClock clk;
    uint64_t icount;
    PciBus *bus;
    Piix4Pm *pm;
    int sci_level, sci_rises;
    int poweroffs;
} Fx;

static uint64_t fake_icount(void *opaque) { return *(uint64_t *)opaque; }

static void sci_set(void *opaque, int n, int level)
{
    Fx *f = opaque;
    if (level && !f->sci_level)
        f->sci_rises++;
    f->sci_level = level;
}

static void on_poweroff(void *opaque) { ((Fx *)opaque)->poweroffs++; }

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    iobus_init(&f->io);
    vclock_init(&f->clk, VCLOCK_ICOUNT, 0);
    f->clk.icount_fn = fake_icount;
    f->clk.icount_opaque = &f->icount;
    f->bus = pci_bus_new(&f->io);
    assert_non_null(f->bus);
    f->pm = piix4_pm_new(f->bus, &f->io, &f->clk, (Irq){ sci_set, f, 9 }, on_poweroff, f);
    assert_non_null(f->pm);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    piix4_pm_free(f->pm);
    pci_bus_free(f->bus);
    free(f);
    return 0;
}

static void set_time(Fx *f, int64_t ns)
{
    f->icount = (uint64_t)ns;
    vclock_run_timers(&f->clk);
}

static void outb(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 1); }
static void outw(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 2); }
static void outl(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 4); }
static uint32_t inb(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 1); }
static uint32_t inw(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 2); }
static uint32_t inl(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 4); }

static uint32_t cfg_read(Fx *f, int reg, int size)
{
    outl(f, 0xCF8, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
    uint16_t port = (uint16_t)(0xCFC + (reg & 3));
    return size == 1 ? inb(f, port) : size == 2 ? inw(f, port) : inl(f, port);
}

static void cfg_write(Fx *f, int reg, uint32_t v, int size)
{
    outl(f, 0xCF8, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
    uint16_t port = (uint16_t)(0xCFC + (reg & 3));
    if (size == 1)
        outb(f, port, v);
    else if (size == 2)
        outw(f, port, v);
    else
        outl(f, port, v);
}

/* What SeaBIOS piix4_pm_setup does (hardware-notes 1.5). */
static void enable_pm(Fx *f, uint16_t base)
{
    cfg_write(f, 0x40, base | 1u, 4);
    cfg_write(f, 0x80, 0x01, 1);
}

static uint32_t expect_tmr(int64_t ns)
{
    return (uint32_t)(((unsigned __int128)ns * HZ / 1000000000u) & 0xFFFFFF);
}

/* First ns at which the counter reaches ticks. */
static int64_t ns_of(uint64_t ticks)
{
    return (int64_t)(((unsigned __int128)ticks * 1000000000u + HZ - 1) / HZ);
}

/* ---------------------------------------------------------------------- */

static void test_config_defaults(void **state)
{
    Fx *f = *state;
    assert_int_equal(cfg_read(f, 0x00, 4), 0x71138086);
    assert_int_equal(cfg_read(f, 0x08, 4), 0x06800003);   /* class 0680, rev 3 */
    assert_int_equal(cfg_read(f, 0x0E, 1), 0x00);
    assert_int_equal(cfg_read(f, 0x3C, 1), 9);
    assert_int_equal(cfg_read(f, 0x3D, 1), 1);
    assert_int_equal(cfg_read(f, 0x40, 4), 0x00000001);
    assert_int_equal(cfg_read(f, 0x5B, 1), 0x02);          /* APMC_EN */
    assert_int_equal(cfg_read(f, 0x80, 1), 0x00);
    assert_int_equal(cfg_read(f, 0x90, 4), 0x00000001);
    /* PMBA: bits 15:6 writable, bit 0 reads 1. */
    cfg_write(f, 0x40, 0xFFFFFFFF, 4);
    assert_int_equal(cfg_read(f, 0x40, 4), 0x0000FFC1);
    cfg_write(f, 0x40, 0, 4);
    assert_int_equal(cfg_read(f, 0x40, 4), 0x00000001);
    /* SMBus base: accepted (bits 15:4), nothing behind it. */
    cfg_write(f, 0x90, 0xB101, 4);
    assert_int_equal(cfg_read(f, 0x90, 4), 0xB101);
    cfg_write(f, 0xD2, 0x09, 1);
    assert_int_equal(cfg_read(f, 0xD2, 1), 0x09);
    /* Reset restores everything. */
    cfg_write(f, 0x5B, 0, 1);
    cfg_write(f, 0x3C, 5, 1);
    piix4_pm_reset(f->pm);
    assert_int_equal(cfg_read(f, 0x5B, 1), 0x02);
    assert_int_equal(cfg_read(f, 0x3C, 1), 9);
    assert_int_equal(cfg_read(f, 0x90, 4), 0x00000001);
}

static void test_pmba_decoding(void **state)
{
    Fx *f = *state;
    /* Disabled: the block is not decoded (floating bus). */
    cfg_write(f, 0x40, PMB | 1, 4);
    assert_int_equal(inl(f, PMB + 8), 0xFFFFFFFF);
    cfg_write(f, 0x80, 1, 1);
    set_time(f, 1000000);
    assert_int_equal(inl(f, PMB + 8), expect_tmr(1000000));
    assert_int_equal(inw(f, PMB + 0), 0);
    /* Move to 0x600 (SeaBIOS with etc/table-loader). */
    cfg_write(f, 0x40, 0x601, 4);
    assert_int_equal(inl(f, PMB + 8), 0xFFFFFFFF);
    assert_int_equal(inl(f, 0x608), expect_tmr(1000000));
    /* Low bits of the base are ignored (64-byte block). */
    cfg_write(f, 0x40, 0x63F, 4);
    assert_int_equal(cfg_read(f, 0x40, 4), 0x601);
    /* PMREGMISC.PMIOSE off: gone. */
    cfg_write(f, 0x80, 0, 1);
    assert_int_equal(inl(f, 0x608), 0xFFFFFFFF);
    /* Base 0 is refused even when enabled. */
    cfg_write(f, 0x40, 1, 4);
    cfg_write(f, 0x80, 1, 1);
    assert_false(f->pm->io_mapped);
    /* Reserved registers in the block read 0; PMTMR ignores writes. */
    enable_pm(f, PMB);
    assert_int_equal(inl(f, PMB + 0x30), 0);
    outl(f, PMB + 8, 0x12345678);
    assert_int_equal(inl(f, PMB + 8), expect_tmr(1000000));
    /* Reset disables decoding. */
    piix4_pm_reset(f->pm);
    assert_int_equal(inl(f, PMB + 8), 0xFFFFFFFF);
}

static void test_pm_timer_frequency(void **state)
{
    Fx *f = *state;
    enable_pm(f, PMB);
    /* Virtual time only moves forward: check points in increasing order. */
    set_time(f, 0);
    assert_int_equal(inl(f, PMB + 8), 0);
    /* One tick is ~279.4 ns. */
    set_time(f, ns_of(1000) - 1);
    assert_int_equal(inl(f, PMB + 8), 999);
    set_time(f, ns_of(1000));
    assert_int_equal(inl(f, PMB + 8), 1000);
    /* 1 s of virtual time = 3579545 ticks. */
    set_time(f, 1000000000);
    assert_int_equal(inl(f, PMB + 8), 3579545);
    set_time(f, 2500000000LL);
    assert_int_equal(inl(f, PMB + 8), 8948862);
    /* 24-bit wrap at 2^24 ticks (~4.687 s). */
    set_time(f, ns_of(1u << 24) - 1);
    assert_int_equal(inl(f, PMB + 8), 0xFFFFFF);
    set_time(f, ns_of(1u << 24));
    assert_int_equal(inl(f, PMB + 8), 0);
    set_time(f, 5000000000LL);
    assert_int_equal(inl(f, PMB + 8), (uint32_t)((5 * HZ) & 0xFFFFFF));
    /* Exactly HZ ticks between any two points 1 s apart, across wraps. */
    for (int64_t t0 = 5000000123LL; t0 < 40000000000LL; t0 += 1777777777) {
        set_time(f, t0);
        uint32_t a = inl(f, PMB + 8);
        set_time(f, t0 + 1000000000);
        uint32_t b = inl(f, PMB + 8);
        assert_int_equal((b - a) & 0xFFFFFF, HZ);
        assert_int_equal(b, expect_tmr(t0 + 1000000000));
    }
    /* Byte and word reads see the same counter. */
    uint32_t v = inl(f, PMB + 8);
    assert_int_equal(inw(f, PMB + 8) | inw(f, PMB + 10) << 16, v);
    assert_int_equal(inb(f, PMB + 10), (v >> 16) & 0xFF);
    assert_int_equal(inb(f, PMB + 11), 0);
    assert_int_equal(piix4_pm_timer(f->pm), v);
}

static void test_tmr_sts_and_sci(void **state)
{
    Fx *f = *state;
    enable_pm(f, PMB);
    /* Bit 23 first toggles at 2^23 ticks (~2.343 s). */
    set_time(f, ns_of(1u << 23) - 1);
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, 0);
    set_time(f, ns_of(1u << 23));
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, PM1_TMR_STS);   /* even without TMR_EN */
    assert_int_equal(f->sci_level, 0);
    outw(f, PMB, PM1_TMR_STS);                                  /* W1C */
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, 0);
    /* Writing 0 clears nothing. */
    set_time(f, ns_of(1u << 24));
    outw(f, PMB, 0);
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, PM1_TMR_STS);
    outw(f, PMB, 0xFFFF);
    assert_int_equal(inw(f, PMB), 0);

    /* ACPI mode + TMR_EN: the overflow raises SCI from the timer callback. */
    outb(f, 0xB2, PIIX4_ACPI_ENABLE);
    outw(f, PMB + 2, PM1_TMR_EN);
    assert_int_equal(inw(f, PMB + 2), PM1_TMR_EN);
    int64_t next = ns_of(3u << 23);
    assert_true(vclock_deadline(&f->clk) <= next);
    set_time(f, next - 1);
    assert_int_equal(f->sci_level, 0);
    set_time(f, next);
    assert_int_equal(f->sci_level, 1);
    assert_int_equal(f->sci_rises, 1);
    /* Acknowledge: SCI drops; the next toggle raises it again. */
    outw(f, PMB, PM1_TMR_STS);
    assert_int_equal(f->sci_level, 0);
    set_time(f, ns_of(4u << 23));
    assert_int_equal(f->sci_level, 1);
    assert_int_equal(f->sci_rises, 2);
    /* Disabling TMR_EN drops SCI and disarms the timer. */
    outw(f, PMB + 2, 0);
    assert_int_equal(f->sci_level, 0);
    assert_int_equal(vclock_deadline(&f->clk), INT64_MAX);
    /* Status still accumulates lazily. */
    outw(f, PMB, 0xFFFF);
    set_time(f, ns_of(5u << 23));
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, PM1_TMR_STS);
    /* A long gap sets the bit once and the following toggle is in the future. */
    outw(f, PMB, 0xFFFF);
    set_time(f, ns_of(40u << 23) + 5);
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, PM1_TMR_STS);
    outw(f, PMB, 0xFFFF);
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, 0);
    set_time(f, ns_of(41u << 23));
    assert_int_equal(inw(f, PMB) & PM1_TMR_STS, PM1_TMR_STS);
}

static void test_acpi_enable_and_power_button(void **state)
{
    Fx *f = *state;
    enable_pm(f, PMB);
    assert_int_equal(inw(f, PMB + 4) & PM1_SCI_EN, 0);
    /* Power button pending, enabled, but SCI_EN clear: no SCI. */
    outw(f, PMB + 2, PM1_PWRBTN_EN);
    piix4_pm_power_button(f->pm);
    assert_int_equal(inw(f, PMB) & PM1_PWRBTN_STS, PM1_PWRBTN_STS);
    assert_int_equal(f->sci_level, 0);
    /* Linux: outb(0xF1, 0xB2) then polls PM1_CNT.SCI_EN. */
    outb(f, 0xB2, PIIX4_ACPI_ENABLE);
    assert_int_equal(inb(f, 0xB2), PIIX4_ACPI_ENABLE);
    assert_int_equal(inw(f, PMB + 4) & PM1_SCI_EN, PM1_SCI_EN);
    assert_int_equal(f->sci_level, 1);
    /* Acknowledge with W1C on the high byte. */
    outb(f, PMB + 1, PM1_PWRBTN_STS >> 8);
    assert_int_equal(inw(f, PMB), 0);
    assert_int_equal(f->sci_level, 0);
    /* Masked source: status set, no SCI. */
    outw(f, PMB + 2, 0);
    piix4_pm_power_button(f->pm);
    assert_int_equal(f->sci_level, 0);
    outw(f, PMB + 2, PM1_PWRBTN_EN);
    assert_int_equal(f->sci_level, 1);
    /* 0xF0: ACPI disable clears SCI_EN and the SCI. */
    outb(f, 0xB2, PIIX4_ACPI_DISABLE);
    assert_int_equal(inw(f, PMB + 4) & PM1_SCI_EN, 0);
    assert_int_equal(f->sci_level, 0);
    /* Other commands leave SCI_EN alone; 0xB3 is a scratch register. */
    outb(f, 0xB2, 0x55);
    assert_int_equal(inw(f, PMB + 4) & PM1_SCI_EN, 0);
    outb(f, 0xB3, 0xA7);
    assert_int_equal(inb(f, 0xB3), 0xA7);
    /* PM1_EN reserved bits read 0. */
    outw(f, PMB + 2, 0xFFFF);
    assert_int_equal(inw(f, PMB + 2), PM1_TMR_EN | PM1_GBL_EN | PM1_PWRBTN_EN | PM1_RTC_EN);
}

static void test_slp_en_poweroff(void **state)
{
    Fx *f = *state;
    enable_pm(f, PMB);
    outb(f, 0xB2, PIIX4_ACPI_ENABLE);
    /* S3 (SLP_TYP 1) is not S5: no power-off. */
    outw(f, PMB + 4, (1 << PM1_SLP_TYP_SHIFT) | PM1_SLP_EN | PM1_SCI_EN);
    assert_int_equal(f->poweroffs, 0);
    /* SLP_TYP written without SLP_EN: nothing. */
    outw(f, PMB + 4, PM1_SCI_EN);
    assert_int_equal(f->poweroffs, 0);
    /* S5: SLP_TYP = 0 | SLP_EN (Linux: outw to PM1a_CNT). */
    outw(f, PMB + 4, PM1_SLP_EN | PM1_SCI_EN);
    assert_int_equal(f->poweroffs, 1);
    /* SLP_EN is write-only; SCI_EN kept. */
    assert_int_equal(inw(f, PMB + 4), PM1_SCI_EN);
    /* Byte write of the high byte alone works too. */
    outb(f, PMB + 5, PM1_SLP_EN >> 8);
    assert_int_equal(f->poweroffs, 2);
    /* Dword write covering PM1_CNT. */
    outl(f, PMB + 4, PM1_SLP_EN);
    assert_int_equal(f->poweroffs, 3);
}

static void test_gpe_and_hotplug(void **state)
{
    Fx *f = *state;
    assert_int_equal(inw(f, PIIX4_GPE0_BASE), 0);
    outw(f, PIIX4_GPE0_BASE + 2, 0x00FF);
    assert_int_equal(inw(f, PIIX4_GPE0_BASE + 2), 0x00FF);
    assert_int_equal(inl(f, PIIX4_GPE0_BASE), 0x00FF0000);
    /* GPE status is W1C; with a pending enabled GPE and SCI_EN, SCI rises. */
    f->pm->gpe0_sts = 0x0004;
    outb(f, 0xB2, PIIX4_ACPI_ENABLE);
    assert_int_equal(f->sci_level, 1);
    outw(f, PIIX4_GPE0_BASE, 0x0004);
    assert_int_equal(inw(f, PIIX4_GPE0_BASE), 0);
    assert_int_equal(f->sci_level, 0);
    /* QEMU hotplug registers read by SeaBIOS's DSDT. */
    assert_int_equal(inl(f, PIIX4_PCIHP_BASE), 0);
    assert_int_equal(inl(f, PIIX4_PCIHP_BASE + 4), 0);
    assert_int_equal(inb(f, PIIX4_CPUHP_BASE), 0x01);
    piix4_pm_set_cpus(f->pm, 4);
    assert_int_equal(inb(f, PIIX4_CPUHP_BASE), 0x0F);
    piix4_pm_set_cpus(f->pm, 40);
    assert_int_equal(inl(f, PIIX4_CPUHP_BASE), 0xFFFFFFFF);
    assert_int_equal(inb(f, PIIX4_CPUHP_BASE + 4), 0);
}

static uint32_t rng = 4242;
static uint32_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static void test_random_writes(void **state)
{
    Fx *f = *state;
    enable_pm(f, PMB);
    int64_t t = 0;
    static const uint16_t ports[] = { PMB, 0xB2, PIIX4_GPE0_BASE, PIIX4_PCIHP_BASE,
                                      PIIX4_CPUHP_BASE };
    for (int i = 0; i < 100000; i++) {
        uint32_t r = rnd();
        unsigned size = 1u << (r % 3);
        switch ((r >> 2) % 5) {
        case 0: {
            int reg = (int)(rnd() % 256);
            /* Keep PMREGMISC/PMBA sane most of the time so the block is hit. */
            if ((reg == 0x80 || (reg >= 0x40 && reg < 0x44)) && rnd() % 8)
                break;
            cfg_write(f, reg & ~(int)(size - 1), rnd(), (int)size);
            break;
        }
        case 1:
        case 2: {
            uint16_t p = (uint16_t)(ports[rnd() % 5] + rnd() % 0x44);
            if (p == PMB + 5 || p == PMB + 4)
                break;   /* sleep requests are counted separately */
            iobus_write(&f->io, p, rnd(), size);
            break;
        }
        case 3:
            (void)iobus_read(&f->io, (uint16_t)(ports[rnd() % 5] + rnd() % 0x44), size);
            break;
        case 4:
            t += rnd() % 50000000;
            set_time(f, t);
            break;
        }
    }
    /* Identity and the fixed bits survive. */
    assert_int_equal(cfg_read(f, 0, 4), 0x71138086);
    assert_int_equal(cfg_read(f, 0x40, 1) & 1, 1);
    piix4_pm_reset(f->pm);
    assert_int_equal(f->sci_level, 0);
}

static void test_state_round_trip(void **state)
{
    Fx *f = *state;
    char err[128];
    assert_int_equal(state_check(&piix4_pm_state, sizeof(Piix4Pm), err, sizeof(err)), 0);
    enable_pm(f, 0x600);
    outb(f, 0xB2, PIIX4_ACPI_ENABLE);
    outb(f, 0xB3, 0x5C);
    outw(f, 0x602, PM1_TMR_EN | PM1_PWRBTN_EN);
    outw(f, PIIX4_GPE0_BASE + 2, 0x0003);
    set_time(f, 1000000000);
    uint8_t buf[1024];
    long n = state_save(&piix4_pm_state, f->pm, buf, sizeof(buf));
    assert_true(n > 0);

    piix4_pm_reset(f->pm);
    assert_int_equal(inl(f, 0x608), 0xFFFFFFFF);
    assert_int_equal(vclock_deadline(&f->clk), INT64_MAX);

    assert_int_equal(state_load(&piix4_pm_state, f->pm, piix4_pm_state.version, buf,
                                (size_t)n, err, sizeof(err)), 0);
    assert_int_equal(inl(f, 0x608), expect_tmr(1000000000));
    assert_int_equal(inw(f, 0x602), PM1_TMR_EN | PM1_PWRBTN_EN);
    assert_int_equal(inw(f, 0x604), PM1_SCI_EN);
    assert_int_equal(inb(f, 0xB3), 0x5C);
    assert_int_equal(inw(f, PIIX4_GPE0_BASE + 2), 0x0003);
    /* Timer re-armed: the bit-23 toggle raises SCI. */
    assert_int_equal(vclock_deadline(&f->clk), ns_of(1u << 23));
    set_time(f, ns_of(1u << 23));
    assert_int_equal(f->sci_level, 1);
    /* Power button still enabled after the load. */
    outw(f, 0x600, 0xFFFF);
    assert_int_equal(f->sci_level, 0);
    piix4_pm_power_button(f->pm);
    assert_int_equal(f->sci_level, 1);

    /* A negative timer deadline is rejected. */
    Piix4Pm *pm = f->pm;
    int64_t bad = -5;
    long off = n - 8;   /* tmr_overflow_ns is the last field */
    memcpy(buf + off, &bad, sizeof(bad));
    assert_int_equal(state_load(&piix4_pm_state, pm, piix4_pm_state.version, buf, (size_t)n,
                                err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pmba_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pm_timer_frequency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmr_sts_and_sci, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acpi_enable_and_power_button, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slp_en_poweroff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpe_and_hotplug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
