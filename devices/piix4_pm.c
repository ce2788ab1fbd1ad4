/*
 * piix4_pm.c - PIIX4 power management function: PM1 event/control block,
 * ACPI PM timer, GPE0, APM control port, SCI.
 *
 * Sources: Intel 82371AB datasheet 3.5 / 7.1; ACPI 1.0b 4.7.2-4.7.3;
 * QEMU hw/acpi/piix4.c and hw/acpi/core.c for what SeaBIOS and Linux
 * expect of the QEMU machine (see piix4_pm.h).
 */
#include "devices/piix4_pm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PMBA          0x40    /* PM base address, bits 15:6, bit 0 RO 1 */
#define DEVACTB       0x58
#define DEVACTB_APMC_EN_BYTE 0x5B  /* bit 1: APMC_EN */
#define PMREGMISC     0x80    /* bit 0: PMIOSE */
#define SMBBA         0x90    /* SMBus base, bits 15:4, bit 0 RO 1 */
#define SMBHSTCFG     0xD2

#define PM1_STS_W1C  (PM1_TMR_STS | PM1_BM_STS | PM1_GBL_STS | PM1_PWRBTN_STS | \
                      PM1_RTC_STS | PM1_WAK_STS)
#define PM1_EN_MASK  (PM1_TMR_EN | PM1_GBL_EN | PM1_PWRBTN_EN | PM1_RTC_EN)
#define PM1_CNT_MASK (PM1_SCI_EN | PM1_BM_RLD | PM1_SLP_TYP)
#define PM1_SCI_SOURCES PM1_EN_MASK

#define TMR_TOGGLE_TICKS (1ull << 23)

/* ---------------------------------------------------------------------- */
/* PM timer                                                                */

static uint64_t pm_ticks(Piix4Pm *s)
{
    int64_t now = vclock_now(s->clk);
    return vclock_ns_to_ticks(now < 0 ? 0 : now, PIIX4_PM_TIMER_HZ);
}

uint32_t piix4_pm_timer(Piix4Pm *s)
{
    return s ? (uint32_t)(pm_ticks(s) & 0xFFFFFF) : 0;
}

/* First virtual ns at which the tick count reaches ticks. */
static int64_t ticks_to_ns_ceil(uint64_t ticks)
{
    int64_t ns = vclock_ticks_to_ns(ticks, PIIX4_PM_TIMER_HZ);
    if (ns < 0)
        ns = 0;
    for (int i = 0; i < 4 && vclock_ns_to_ticks(ns, PIIX4_PM_TIMER_HZ) < ticks; i++)
        ns++;
    return ns;
}

/* The next time bit 23 of the counter toggles after virtual time now. */
static int64_t next_toggle_ns(Piix4Pm *s)
{
    uint64_t t = pm_ticks(s);
    return ticks_to_ns_ceil(((t / TMR_TOGGLE_TICKS) + 1) * TMR_TOGGLE_TICKS);
}

/* TMR_STS is set when bit 23 has toggled since the last check (evaluated
 * lazily on reads too, so status is exact even between timer callbacks). */
static void pm_check_overflow(Piix4Pm *s)
{
    if (vclock_now(s->clk) >= s->tmr_overflow_ns) {
        s->pm1_sts |= PM1_TMR_STS;
        s->tmr_overflow_ns = next_toggle_ns(s);
    }
}

static void pm_update_sci(Piix4Pm *s, bool force)
{
    bool lvl = (s->pm1_cnt & PM1_SCI_EN) &&
               ((s->pm1_sts & s->pm1_en & PM1_SCI_SOURCES) || (s->gpe0_sts & s->gpe0_en));
    if (!force && (uint8_t)lvl == s->sci_level)
        return;
    s->sci_level = lvl;
    irq_set(&s->sci, lvl);
}

/* The timer is armed only while TMR_EN can make the overflow interrupt. */
static void pm_arm_timer(Piix4Pm *s)
{
    if (s->pm1_en & PM1_TMR_EN)
        vtimer_mod(&s->tmr_timer, s->tmr_overflow_ns);
    else
        vtimer_del(&s->tmr_timer);
}

static void pm_timer_cb(void *opaque)
{
    Piix4Pm *s = opaque;
    pm_check_overflow(s);
    pm_update_sci(s, false);
    pm_arm_timer(s);
}

/* ---------------------------------------------------------------------- */
/* PM I/O block at PMBA                                                    */

static uint8_t pm_read_byte(Piix4Pm *s, uint32_t off, uint32_t tmr)
{
    switch (off) {
    case 0: return (uint8_t)s->pm1_sts;
    case 1: return (uint8_t)(s->pm1_sts >> 8);
    case 2: return (uint8_t)s->pm1_en;
    case 3: return (uint8_t)(s->pm1_en >> 8);
    case 4: return (uint8_t)s->pm1_cnt;
    case 5: return (uint8_t)(s->pm1_cnt >> 8);
    case 8: case 9: case 10: case 11:
        return (uint8_t)(tmr >> (8 * (off - 8)));
    default:
        return off < PIIX4_PM_IO_SIZE ? 0 : 0xFF;
    }
}

static void pm_sleep(Piix4Pm *s, int typ)
{
    /* SLP_TYP 0 is S5 (soft off) in the PIIX4 DSDTs of SeaBIOS and QEMU;
     * other states (S1/S3/S4) are not emulated. */
    if (typ == 0 && s->poweroff)
        s->poweroff(s->opaque);
}

static void pm_write_byte(Piix4Pm *s, uint32_t off, uint8_t b)
{
    switch (off) {
    case 0:
        s->pm1_sts &= (uint16_t)~(b & PM1_STS_W1C);
        break;
    case 1:
        s->pm1_sts &= (uint16_t)~((b << 8) & PM1_STS_W1C);
        break;
    case 2:
        s->pm1_en = (uint16_t)((s->pm1_en & 0xFF00) | (b & PM1_EN_MASK));
        break;
    case 3:
        s->pm1_en = (uint16_t)((s->pm1_en & 0x00FF) | ((b << 8) & PM1_EN_MASK));
        break;
    case 4:
        s->pm1_cnt = (uint16_t)((s->pm1_cnt & 0xFF00) | (b & PM1_CNT_MASK));
        break;
    case 5:
        s->pm1_cnt = (uint16_t)((s->pm1_cnt & 0x00FF) | ((b << 8) & PM1_CNT_MASK));
        if ((b << 8) & PM1_SLP_EN)
            pm_sleep(s, (s->pm1_cnt & PM1_SLP_TYP) >> PM1_SLP_TYP_SHIFT);
        break;
    default:
        break;   /* PMTMR and the PIIX4-specific registers: read-only / ignored */
    }
}

static uint32_t pm_io_read(void *opaque, uint32_t off, unsigned size)
{
    Piix4Pm *s = opaque;
    pm_check_overflow(s);
    pm_update_sci(s, false);
    uint32_t tmr = piix4_pm_timer(s);
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)pm_read_byte(s, off + i, tmr) << (8 * i);
    return v;
}

static void pm_io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Piix4Pm *s = opaque;
    pm_check_overflow(s);
    for (unsigned i = 0; i < size && i < 4; i++)
        pm_write_byte(s, off + i, (uint8_t)(val >> (8 * i)));
    pm_update_sci(s, false);
    pm_arm_timer(s);
}

static const IoOps pm_io_ops = {
    .read = pm_io_read,
    .write = pm_io_write,
    .impl_max = 4,
};

/* Decode the PM block at PMBA while PMREGMISC.PMIOSE is set (a base of 0
 * is refused: it would shadow the DMA controller). */
static void pm_update_io(Piix4Pm *s)
{
    bool en = s->pci.config[PMREGMISC] & 1;
    uint16_t base = pci_get_word(s->pci.config + PMBA) & 0xFFC0;
    if (base == 0)
        en = false;
    if (en == s->io_mapped && (!en || base == s->io_base))
        return;
    if (s->io_mapped && s->io)
        iobus_unregister(s->io, s->io_base, PIIX4_PM_IO_SIZE);
    s->io_mapped = false;
    if (en && s->io && iobus_register(s->io, base, PIIX4_PM_IO_SIZE, &pm_io_ops, s, "piix4-pm") == 0) {
        s->io_mapped = true;
        s->io_base = base;
    }
}

static void piix4_pm_config_write(PciDevice *dev, int off, uint32_t val, int size)
{
    (void)val;
    if ((off <= PMBA + 3 && off + size > PMBA) || (off <= PMREGMISC && off + size > PMREGMISC))
        pm_update_io(dev->opaque);
}

/* ---------------------------------------------------------------------- */
/* APM control/status (0xB2/0xB3), GPE0, hotplug stubs                     */

static uint32_t apm_read(void *opaque, uint32_t off, unsigned size)
{
    Piix4Pm *s = opaque;
    (void)size;
    return off == 0 ? s->apmc : off == 1 ? s->apms : 0xFF;
}

static void apm_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Piix4Pm *s = opaque;
    (void)size;
    if (off == 1) {
        s->apms = (uint8_t)val;
        return;
    }
    if (off != 0)
        return;
    s->apmc = (uint8_t)val;
    /* ACPI 4.7.2.5: the OS hands ACPI mode over through SMI_CMD; QEMU
     * applies the effect of the firmware's SMI handler directly. */
    if (s->apmc == PIIX4_ACPI_ENABLE)
        s->pm1_cnt |= PM1_SCI_EN;
    else if (s->apmc == PIIX4_ACPI_DISABLE)
        s->pm1_cnt &= (uint16_t)~PM1_SCI_EN;
    /* Other values would raise SMI when DEVACTB.APMC_EN; SMM is not emulated. */
    pm_update_sci(s, false);
}

static const IoOps apm_ops = { .read = apm_read, .write = apm_write, .impl_max = 1 };

static uint32_t gpe_read(void *opaque, uint32_t off, unsigned size)
{
    Piix4Pm *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint32_t o = off + i, b;
        if (o < 2)
            b = (s->gpe0_sts >> (8 * o)) & 0xFF;
        else if (o < 4)
            b = (s->gpe0_en >> (8 * (o - 2))) & 0xFF;
        else
            b = 0xFF;
        v |= b << (8 * i);
    }
    return v;
}

static void gpe_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Piix4Pm *s = opaque;
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint32_t o = off + i;
        uint16_t b = (uint8_t)(val >> (8 * i));
        if (o < 2)
            s->gpe0_sts &= (uint16_t)~(b << (8 * o));
        else if (o < 4) {
            uint16_t m = (uint16_t)(0xFF << (8 * (o - 2)));
            s->gpe0_en = (uint16_t)((s->gpe0_en & ~m) | (b << (8 * (o - 2))));
        }
    }
    pm_update_sci(s, false);
}

static const IoOps gpe_ops = { .read = gpe_read, .write = gpe_write, .impl_max = 4 };

/* 0xAE00: QEMU PCI hotplug (up/down/eject...): nothing is ever hotplugged. */
static uint32_t pcihp_read(void *opaque, uint32_t off, unsigned size)
{
    (void)opaque; (void)off; (void)size;
    return 0;
}

static const IoOps pcihp_ops = { .read = pcihp_read, .write = NULL, .impl_max = 4 };

/* 0xAF00: QEMU legacy CPU hotplug, one present bit per CPU. */
static uint32_t cpuhp_read(void *opaque, uint32_t off, unsigned size)
{
    Piix4Pm *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint32_t o = off + i;
        uint32_t b = o < 4 ? (s->cpu_present >> (8 * o)) & 0xFF : 0;
        v |= b << (8 * i);
    }
    return v;
}

static const IoOps cpuhp_ops = { .read = cpuhp_read, .write = NULL, .impl_max = 4 };

/* ---------------------------------------------------------------------- */

void piix4_pm_reset(Piix4Pm *s)
{
    if (!s)
        return;
    pci_device_reset(&s->pci);
    uint8_t *c = s->pci.config;
    pci_set_word(c + PCI_STATUS, PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM);
    c[PCI_INTERRUPT_LINE] = 9;
    c[PCI_INTERRUPT_PIN] = 1;
    pci_set_long(c + PMBA, 0x00000001);
    memset(c + DEVACTB, 0, 4);
    c[DEVACTB_APMC_EN_BYTE] = 0x02;   /* APMC_EN: SeaBIOS then skips SMM init */
    c[PMREGMISC] = 0;
    pci_set_long(c + SMBBA, 0x00000001);
    c[SMBHSTCFG] = 0;
    pm_update_io(s);

    s->pm1_sts = 0;
    s->pm1_en = 0;
    s->pm1_cnt = 0;
    s->gpe0_sts = 0;
    s->gpe0_en = 0;
    s->apmc = 0;
    s->apms = 0;
    s->tmr_overflow_ns = next_toggle_ns(s);
    pm_arm_timer(s);
    pm_update_sci(s, false);
}

Piix4Pm *piix4_pm_new(PciBus *bus, IoBus *io, VClock *clk, Irq sci,
                      void (*poweroff)(void *), void *opaque)
{
    if (!clk)
        return NULL;
    Piix4Pm *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (pci_device_init(&s->pci, bus, PCI_DEVFN(1, 3), 0x8086, 0x7113, 0x03, 0x068000,
                        0x00) < 0) {
        free(s);
        return NULL;
    }
    s->io = io;
    s->clk = clk;
    s->sci = sci;
    s->poweroff = poweroff;
    s->opaque = opaque;
    s->cpu_present = 1;
    s->pci.name = "PIIX4 PM";
    s->pci.opaque = s;
    s->pci.config_write = piix4_pm_config_write;
    uint8_t *w = s->pci.wmask;
    pci_set_long(w + PMBA, 0x0000FFC0);
    w[PMREGMISC] = 0x01;
    pci_set_long(w + SMBBA, 0x0000FFF0);
    vtimer_init(&s->tmr_timer, clk, pm_timer_cb, s);
    if (io && (iobus_register(io, PIIX4_APM_CNT, 2, &apm_ops, s, "apm") < 0 ||
               iobus_register(io, PIIX4_GPE0_BASE, 4, &gpe_ops, s, "acpi-gpe0") < 0 ||
               iobus_register(io, PIIX4_PCIHP_BASE, 0x14, &pcihp_ops, s, "acpi-pcihp") < 0 ||
               iobus_register(io, PIIX4_CPUHP_BASE, 0x20, &cpuhp_ops, s, "acpi-cpuhp") < 0)) {
        piix4_pm_free(s);
        return NULL;
    }
    piix4_pm_reset(s);
    return s;
}

void piix4_pm_free(Piix4Pm *s)
{
    if (!s)
        return;
    vtimer_del(&s->tmr_timer);
    if (s->io) {
        if (s->io_mapped)
            iobus_unregister(s->io, s->io_base, PIIX4_PM_IO_SIZE);
        iobus_unregister(s->io, PIIX4_APM_CNT, 2);
        iobus_unregister(s->io, PIIX4_GPE0_BASE, 4);
        iobus_unregister(s->io, PIIX4_PCIHP_BASE, 0x14);
        iobus_unregister(s->io, PIIX4_CPUHP_BASE, 0x20);
    }
    pci_device_free(&s->pci);
    free(s);
}

void piix4_pm_power_button(Piix4Pm *s)
{
    if (!s)
        return;
    s->pm1_sts |= PM1_PWRBTN_STS;
    pm_update_sci(s, false);
}

void piix4_pm_set_cpus(Piix4Pm *s, int n)
{
    if (!s)
        return;
    if (n < 1)
        n = 1;
    s->cpu_present = n >= 32 ? 0xFFFFFFFFu : ((1u << n) - 1);
}

static int piix4_pm_post_load(void *opaque, char *err, size_t errlen)
{
    Piix4Pm *s = opaque;
    if (s->tmr_overflow_ns < 0) {
        if (err && errlen)
            snprintf(err, errlen, "piix4-pm: tmr_overflow_ns negative");
        return -1;
    }
    s->pm1_sts &= PM1_STS_W1C;
    s->pm1_en &= PM1_EN_MASK;
    s->pm1_cnt &= PM1_CNT_MASK;
    s->pci.config[PMBA] = (uint8_t)((s->pci.config[PMBA] & 0xC0) | 1);
    pci_device_post_load(&s->pci);
    pm_update_io(s);
    pm_arm_timer(s);
    pm_update_sci(s, true);
    return 0;
}

static const StateField piix4_pm_fields[] = {
    ST_BYTES(pci.config, Piix4Pm),
    ST_U16(pm1_sts, Piix4Pm),
    ST_U16(pm1_en, Piix4Pm),
    ST_U16(pm1_cnt, Piix4Pm),
    ST_U16(gpe0_sts, Piix4Pm),
    ST_U16(gpe0_en, Piix4Pm),
    ST_U8(apmc, Piix4Pm),
    ST_U8(apms, Piix4Pm),
    ST_U8(sci_level, Piix4Pm),
    ST_I64(tmr_overflow_ns, Piix4Pm),
    ST_END,
};

const StateDesc piix4_pm_state = {
    .name = "piix4-pm",
    .version = 1,
    .min_version = 1,
    .fields = piix4_pm_fields,
    .post_load = piix4_pm_post_load,
};
