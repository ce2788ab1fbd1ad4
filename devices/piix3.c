/*
 * piix3.c - PIIX3 PCI-ISA bridge: PIRQ routing, reset control (0xCF9),
 * System Control Port A (0x92).
 *
 * Source: Intel 82371FB/82371SB datasheet, 2.2 (configuration defaults),
 * PIRQRC[A:D], RC register (bit 1 SRST: 1 = hard/system reset, 0 = soft;
 * bit 2 RCPU: request reset).  QEMU's piix3 keeps only SRST after a write.
 */
#include "devices/piix3.h"

#include <stdlib.h>
#include <string.h>

#define PIRQRC_DISABLE 0x80
#define PIRQRC_IRQ     0x0F
/* ISA IRQs a PIRQ may be steered to: 3-7, 9-12, 14, 15. */
#define PIRQ_VALID_IRQS 0xDEF8u

#define RC_SRST 0x02
#define RC_RCPU 0x04

#define PORT92_ALT_RESET 0x01
#define PORT92_ALT_A20   0x02

int piix3_map_irq(void *opaque, int devfn, int pin)
{
    (void)opaque;
    if (pin < 1 || pin > 4 || devfn < 0 || devfn > 255)
        return -1;
    int slot = PCI_SLOT(devfn);
    return (pin - 1 + slot + 3) & 3;   /* (pin-1 + slot-1) & 3 */
}

/* Drive each ISA IRQ to the OR of the PIRQs routed to it; only lines whose
 * level changes are touched, so IRQs no PIRQ uses stay the ISA devices'. */
static void piix3_update_isa(Piix3 *s)
{
    uint8_t lvl[16] = { 0 };
    for (int p = 0; p < 4; p++) {
        uint8_t rc = s->pci.config[PIIX3_PIRQRC + p];
        int irq = rc & PIRQRC_IRQ;
        if ((rc & PIRQRC_DISABLE) || !((PIRQ_VALID_IRQS >> irq) & 1))
            continue;
        if (s->pirq_level[p])
            lvl[irq] = 1;
    }
    for (int i = 0; i < 16; i++) {
        if (lvl[i] == s->isa_level[i])
            continue;
        s->isa_level[i] = lvl[i];
        irq_set(&s->isa_irq[i], lvl[i]);
    }
}

static void piix3_pirq_set(void *opaque, int n, int level)
{
    Piix3 *s = opaque;
    if (n < 0 || n > 3)
        return;
    s->pirq_level[n] = level ? 1 : 0;
    piix3_update_isa(s);
}

static void piix3_config_write(PciDevice *dev, int off, uint32_t val, int size)
{
    (void)val;
    if (off <= PIIX3_PIRQRC + 3 && off + size > PIIX3_PIRQRC)
        piix3_update_isa(dev->opaque);
}

/* ---- 0xCF9 reset control ---- */

static uint32_t piix3_rc_read(void *opaque)
{
    Piix3 *s = opaque;
    return s->rcr;
}

static void piix3_rc_write(void *opaque, uint8_t val)
{
    Piix3 *s = opaque;
    s->rcr = val & RC_SRST;
    if (val & RC_RCPU) {
        s->reset_hard = (val & RC_SRST) ? 1 : 0;
        if (s->reset)
            s->reset(s->opaque);
    }
}

/* ---- port 0x92 ---- */

static uint32_t piix3_port92_read(void *opaque, uint32_t off, unsigned size)
{
    Piix3 *s = opaque;
    (void)off;
    (void)size;
    return s->port92;   /* wider accesses: bus splits (impl_max 1) */
}

static void piix3_port92_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Piix3 *s = opaque;
    (void)off;
    (void)size;
    uint8_t old = s->port92;
    s->port92 = (uint8_t)val;
    irq_set(&s->a20, (val & PORT92_ALT_A20) ? 1 : 0);
    if ((val & PORT92_ALT_RESET) && !(old & PORT92_ALT_RESET)) {
        s->reset_hard = 0;
        if (s->reset)
            s->reset(s->opaque);
    }
}

static const IoOps piix3_port92_ops = {
    .read = piix3_port92_read,
    .write = piix3_port92_write,
    .impl_max = 1,
};

/* Datasheet reset values of the device-specific registers. */
static const struct { uint8_t off, val; } piix3_defaults[] = {
    { 0x4C, 0x4D }, { 0x4E, 0x03 }, { 0x4F, 0x00 },
    { 0x60, 0x80 }, { 0x61, 0x80 }, { 0x62, 0x80 }, { 0x63, 0x80 },
    { 0x69, 0x02 }, { 0x70, 0x80 }, { 0x76, 0x0C }, { 0x77, 0x0C },
    { 0x78, 0x02 }, { 0x79, 0x00 }, { 0x80, 0x00 }, { 0x82, 0x00 },
    { 0xA0, 0x08 }, { 0xA2, 0x00 }, { 0xA3, 0x00 }, { 0xA4, 0x00 },
    { 0xA5, 0x00 }, { 0xA6, 0x00 }, { 0xA7, 0x00 }, { 0xA8, 0x0F },
    { 0xAA, 0x00 }, { 0xAB, 0x00 }, { 0xAC, 0x00 }, { 0xAE, 0x00 },
};

void piix3_reset(Piix3 *s)
{
    if (!s)
        return;
    pci_device_reset(&s->pci);
    uint8_t *c = s->pci.config;
    pci_set_word(c + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    pci_set_word(c + PCI_STATUS, PCI_STATUS_DEVSEL_MEDIUM);
    for (size_t i = 0; i < sizeof(piix3_defaults) / sizeof(piix3_defaults[0]); i++)
        c[piix3_defaults[i].off] = piix3_defaults[i].val;
    s->rcr = 0;
    s->port92 &= (uint8_t)~PORT92_ALT_RESET;
    piix3_update_isa(s);
}

Piix3 *piix3_new(PciBus *bus, IoBus *io, const Irq isa_irq[16], Irq a20,
                 void (*reset)(void *), void *opaque)
{
    Piix3 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (pci_device_init(&s->pci, bus, PCI_DEVFN(1, 0), 0x8086, 0x7000, 0x00, 0x060100,
                        PCI_HEADER_TYPE_MULTI_FUNCTION) < 0) {
        free(s);
        return NULL;
    }
    s->io = io;
    if (isa_irq)
        memcpy(s->isa_irq, isa_irq, sizeof(s->isa_irq));
    s->a20 = a20;
    s->reset = reset;
    s->opaque = opaque;
    s->pci.name = "PIIX3 ISA";
    s->pci.opaque = s;
    s->pci.config_write = piix3_config_write;
    for (int p = 0; p < 4; p++)
        s->pci.wmask[PIIX3_PIRQRC + p] = PIRQRC_DISABLE | PIRQRC_IRQ;
    if (io && iobus_register(io, 0x92, 1, &piix3_port92_ops, s, "port92") < 0) {
        pci_device_free(&s->pci);
        free(s);
        return NULL;
    }
    piix3_reset(s);
    Irq pirq[4];
    for (int p = 0; p < 4; p++)
        pirq[p] = (Irq){ piix3_pirq_set, s, p };
    pci_bus_set_irq_routing(bus, piix3_map_irq, s, pirq, 4);
    pci_bus_set_cf9(bus, piix3_rc_read, piix3_rc_write, s);
    return s;
}

void piix3_free(Piix3 *s)
{
    if (!s)
        return;
    PciBus *bus = s->pci.bus;
    if (bus) {
        if (bus->map_irq_opaque == s)
            pci_bus_set_irq_routing(bus, NULL, NULL, NULL, 0);
        if (bus->cf9_opaque == s)
            pci_bus_set_cf9(bus, NULL, NULL, NULL);
    }
    if (s->io)
        iobus_unregister(s->io, 0x92, 1);
    pci_device_free(&s->pci);
    free(s);
}

bool piix3_reset_is_hard(const Piix3 *s)
{
    return s && s->reset_hard;
}

static int piix3_post_load(void *opaque, char *err, size_t errlen)
{
    Piix3 *s = opaque;
    (void)err;
    (void)errlen;
    s->rcr &= RC_SRST;
    s->reset_hard = s->reset_hard ? 1 : 0;
    for (int p = 0; p < 4; p++)
        s->pirq_level[p] = s->pirq_level[p] ? 1 : 0;
    for (int i = 0; i < 16; i++)
        s->isa_level[i] = s->isa_level[i] ? 1 : 0;
    irq_set(&s->a20, (s->port92 & PORT92_ALT_A20) ? 1 : 0);
    /* Re-counts the PCI devices and re-drives PIRQs (-> piix3_pirq_set). */
    pci_device_post_load(&s->pci);
    piix3_update_isa(s);
    return 0;
}

static const StateField piix3_fields[] = {
    ST_BYTES(pci.config, Piix3),
    ST_U8(port92, Piix3),
    ST_U8(rcr, Piix3),
    ST_U8_ARRAY(pirq_level, Piix3),
    ST_U8_ARRAY(isa_level, Piix3),
    ST_U8(reset_hard, Piix3),
    ST_END,
};

const StateDesc piix3_state = {
    .name = "piix3",
    .version = 1,
    .min_version = 1,
    .fields = piix3_fields,
    .post_load = piix3_post_load,
};
