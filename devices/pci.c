/*
 * pci.c - PCI bus 0, configuration mechanism #1 and the generic function
 * model (see pci.h).
 *
 * Sources: PCI Local Bus Specification 3.0 ch. 3.2.2.3.2 (mechanism #1),
 * 6.1-6.2.5 (header, COMMAND, STATUS, BARs, expansion ROM BAR);
 * Intel 82441FX datasheet 3.1 (CONFADD at 0xCF8, CONFDATA at 0xCFC).
 */
#include "devices/pci.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFADD_ENABLE  0x80000000u
#define CONFADD_MASK    0x80FFFFFCu   /* bits 30:24 and 1:0 reserved (read 0) */

static uint32_t size_mask(int size)
{
    return size >= 4 ? 0xFFFFFFFFu : ((1u << (8 * size)) - 1);
}

static int norm_size(int size)
{
    return (size == 1 || size == 2) ? size : 4;
}

/* ---------------------------------------------------------------------- */
/* INTx                                                                    */

/* The level the function presents on its INTx pin: STATUS.INT and not
 * COMMAND.INTX_DISABLE (PCI 3.0 6.2.2-6.2.3), and a pin is declared. */
static bool pci_irq_effective(const PciDevice *dev)
{
    int pin = dev->config[PCI_INTERRUPT_PIN];
    if (pin < 1 || pin > 4)
        return false;
    if (pci_get_word(dev->config + PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE)
        return false;
    return (pci_get_word(dev->config + PCI_STATUS) & PCI_STATUS_INTERRUPT) != 0;
}

static int pci_route(PciBus *bus, const PciDevice *dev)
{
    if (!bus->map_irq)
        return -1;
    int p = bus->map_irq(bus->map_irq_opaque, dev->devfn, dev->config[PCI_INTERRUPT_PIN]);
    return (p >= 0 && p < bus->npirq) ? p : -1;
}

/* Bring the bus's count in line with the function's current level. */
static void pci_update_irq(PciDevice *dev)
{
    PciBus *bus = dev->bus;
    if (!bus)
        return;
    bool level = pci_irq_effective(dev);
    if (level == dev->irq_counted)
        return;
    if (dev->irq_counted) {
        int p = dev->irq_pirq;
        dev->irq_counted = false;
        dev->irq_pirq = -1;
        if (p >= 0 && bus->pirq_count[p] > 0 && --bus->pirq_count[p] == 0)
            irq_set(&bus->pirq[p], 0);
    } else {
        int p = pci_route(bus, dev);
        dev->irq_counted = true;
        dev->irq_pirq = p;
        if (p >= 0 && bus->pirq_count[p]++ == 0)
            irq_set(&bus->pirq[p], 1);
    }
}

void pci_bus_refresh_irqs(PciBus *bus)
{
    if (!bus)
        return;
    memset(bus->pirq_count, 0, sizeof(bus->pirq_count));
    for (int i = 0; i < 256; i++) {
        PciDevice *d = bus->devs[i];
        if (!d)
            continue;
        d->irq_counted = pci_irq_effective(d);
        d->irq_pirq = d->irq_counted ? pci_route(bus, d) : -1;
        if (d->irq_pirq >= 0)
            bus->pirq_count[d->irq_pirq]++;
    }
    for (int p = 0; p < bus->npirq; p++)
        irq_set(&bus->pirq[p], bus->pirq_count[p] > 0);
}

void pci_bus_set_irq_routing(PciBus *bus, PciMapIrqFn map_irq, void *opaque,
                             const Irq *pirq, int npirq)
{
    if (!bus)
        return;
    if (npirq < 0)
        npirq = 0;
    if (npirq > PCI_MAX_PIRQ)
        npirq = PCI_MAX_PIRQ;
    memset(bus->pirq, 0, sizeof(bus->pirq));
    for (int i = 0; i < npirq && pirq; i++)
        bus->pirq[i] = pirq[i];
    bus->npirq = pirq ? npirq : 0;
    bus->map_irq = map_irq;
    bus->map_irq_opaque = opaque;
    pci_bus_refresh_irqs(bus);
}

void pci_set_irq(PciDevice *dev, int level)
{
    if (!dev)
        return;
    uint16_t st = pci_get_word(dev->config + PCI_STATUS);
    st = level ? (st | PCI_STATUS_INTERRUPT) : (st & ~PCI_STATUS_INTERRUPT);
    pci_set_word(dev->config + PCI_STATUS, st);
    pci_update_irq(dev);
}

/* ---------------------------------------------------------------------- */
/* BARs                                                                    */

static int bar_offset(int n)
{
    return n == PCI_ROM_SLOT ? PCI_ROM_ADDRESS : PCI_BASE_ADDRESS_0 + 4 * n;
}

/* The base BAR n decodes now, or PCI_BAR_UNMAPPED (PCI 3.0 6.2.5): the
 * space must be enabled in COMMAND; a base of 0 or a range that wraps or
 * leaves the space (I/O above 0xFFFF; memory at 4 GiB, which is also what
 * a BAR holding all ones during sizing looks like) does not decode. */
static int64_t bar_decode(const PciDevice *dev, int n)
{
    const PciBar *b = &dev->bars[n];
    uint16_t cmd = pci_get_word(dev->config + PCI_COMMAND);
    uint32_t raw = pci_get_long(dev->config + bar_offset(n));
    uint64_t base, last;

    if (b->size == 0)
        return PCI_BAR_UNMAPPED;
    if (b->is_io) {
        if (!(cmd & PCI_COMMAND_IO))
            return PCI_BAR_UNMAPPED;
        base = raw & ~3u & ~(b->size - 1);
        last = base + b->size - 1;
        if (base == 0 || last > 0xFFFF)
            return PCI_BAR_UNMAPPED;
        return (int64_t)base;
    }
    if (!(cmd & PCI_COMMAND_MEMORY))
        return PCI_BAR_UNMAPPED;
    if (n == PCI_ROM_SLOT && !(raw & PCI_ROM_ADDRESS_ENABLE))
        return PCI_BAR_UNMAPPED;
    base = raw & ~0xFu & ~(b->size - 1);
    if (n == PCI_ROM_SLOT)
        base &= 0xFFFFF800u;
    last = base + b->size - 1;
    if (base == 0 || last >= 0xFFFFFFFFull)
        return PCI_BAR_UNMAPPED;
    return (int64_t)base;
}

static void pci_update_mappings(PciDevice *dev)
{
    for (int n = 0; n < PCI_NUM_REGIONS; n++) {
        PciBar *b = &dev->bars[n];
        if (b->size == 0)
            continue;
        int64_t addr = bar_decode(dev, n);
        if (addr == b->mapped)
            continue;
        int64_t old = b->mapped;
        b->mapped = addr;
        if (!b->map)
            continue;
        if (old != PCI_BAR_UNMAPPED)
            b->map(dev, n, PCI_BAR_UNMAPPED);
        if (addr != PCI_BAR_UNMAPPED)
            b->map(dev, n, addr);
    }
}

int pci_register_bar(PciDevice *dev, int n, uint32_t size, bool is_io, PciBarMapFn map)
{
    if (!dev || n < 0 || n >= PCI_NUM_REGIONS || size == 0 || (size & (size - 1)))
        return -1;
    if (n == PCI_ROM_SLOT && (is_io || size < 2048))
        return -1;
    if (is_io && (size < 4 || size > 65536))
        return -1;
    if (!is_io && (size < 16 || size > 0x80000000u))
        return -1;
    int off = bar_offset(n);
    uint32_t wmask;
    if (n == PCI_ROM_SLOT)
        wmask = (~(size - 1) & 0xFFFFF800u) | PCI_ROM_ADDRESS_ENABLE;
    else if (is_io)
        wmask = ~(size - 1) & ~3u;
    else
        wmask = ~(size - 1) & ~0xFu;
    dev->bars[n].size = size;
    dev->bars[n].is_io = is_io;
    dev->bars[n].map = map;
    dev->bars[n].mapped = PCI_BAR_UNMAPPED;
    pci_set_long(dev->config + off, (is_io && n != PCI_ROM_SLOT) ? PCI_BASE_ADDRESS_SPACE_IO : 0);
    pci_set_long(dev->wmask + off, wmask);
    pci_set_long(dev->w1cmask + off, 0);
    pci_update_mappings(dev);
    return 0;
}

int64_t pci_bar_address(const PciDevice *dev, int n)
{
    if (!dev || n < 0 || n >= PCI_NUM_REGIONS)
        return PCI_BAR_UNMAPPED;
    return dev->bars[n].mapped;
}

/* ---------------------------------------------------------------------- */
/* Functions                                                               */

/* Header type bit 7 on function 0 when the slot has other functions
 * (PCI 3.0 6.2.1: firmware scans functions 1-7 only then). */
static void pci_update_multifunction(PciBus *bus, int slot)
{
    PciDevice *f0 = bus->devs[PCI_DEVFN(slot, 0)];
    if (!f0)
        return;
    for (int fn = 1; fn < 8; fn++)
        if (bus->devs[PCI_DEVFN(slot, fn)])
            f0->config[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
}

int pci_device_init(PciDevice *dev, PciBus *bus, int devfn, uint16_t vendor,
                    uint16_t device, uint8_t revision, uint32_t class_prog,
                    uint8_t header_type)
{
    if (!dev || !bus || devfn < 0 || devfn > 255 || bus->devs[devfn])
        return -1;
    memset(dev, 0, sizeof(*dev));
    dev->bus = bus;
    dev->devfn = devfn;
    dev->irq_pirq = -1;
    for (int n = 0; n < PCI_NUM_REGIONS; n++)
        dev->bars[n].mapped = PCI_BAR_UNMAPPED;

    pci_set_word(dev->config + PCI_VENDOR_ID, vendor);
    pci_set_word(dev->config + PCI_DEVICE_ID, device);
    dev->config[PCI_REVISION_ID] = revision;
    dev->config[PCI_CLASS_PROG] = (uint8_t)class_prog;
    pci_set_word(dev->config + PCI_CLASS_DEVICE, (uint16_t)(class_prog >> 8));
    dev->config[PCI_HEADER_TYPE] = header_type;

    pci_set_word(dev->wmask + PCI_COMMAND,
                 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                 PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
    pci_set_word(dev->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
    dev->wmask[PCI_CACHE_LINE_SIZE] = 0xFF;
    dev->wmask[PCI_LATENCY_TIMER] = 0xFF;
    dev->wmask[PCI_INTERRUPT_LINE] = 0xFF;
    memset(dev->wmask + 0x40, 0xFF, 256 - 0x40);

    bus->devs[devfn] = dev;
    pci_update_multifunction(bus, PCI_SLOT(devfn));
    return 0;
}

PciDevice *pci_device_new(PciBus *bus, int devfn, uint16_t vendor, uint16_t device,
                          uint8_t revision, uint32_t class_prog, uint8_t header_type)
{
    PciDevice *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return NULL;
    if (pci_device_init(dev, bus, devfn, vendor, device, revision, class_prog,
                        header_type) < 0) {
        free(dev);
        return NULL;
    }
    dev->heap = true;
    return dev;
}

void pci_device_free(PciDevice *dev)
{
    if (!dev)
        return;
    PciBus *bus = dev->bus;
    if (bus) {
        pci_set_irq(dev, 0);
        pci_set_word(dev->config + PCI_COMMAND, 0);
        pci_update_mappings(dev);
        if (bus->devs[dev->devfn & 0xFF] == dev)
            bus->devs[dev->devfn & 0xFF] = NULL;
        dev->bus = NULL;
    }
    if (dev->heap)
        free(dev);
}

void pci_device_reset(PciDevice *dev)
{
    if (!dev)
        return;
    uint16_t cmd = pci_get_word(dev->config + PCI_COMMAND);
    cmd &= (uint16_t)~(pci_get_word(dev->wmask + PCI_COMMAND) |
                       pci_get_word(dev->w1cmask + PCI_COMMAND));
    pci_set_word(dev->config + PCI_COMMAND, cmd);
    uint16_t st = pci_get_word(dev->config + PCI_STATUS);
    st &= (uint16_t)~(pci_get_word(dev->w1cmask + PCI_STATUS) | PCI_STATUS_INTERRUPT);
    pci_set_word(dev->config + PCI_STATUS, st);
    for (int n = 0; n < PCI_NUM_REGIONS; n++) {
        if (dev->bars[n].size == 0)
            continue;
        pci_set_long(dev->config + bar_offset(n),
                     (dev->bars[n].is_io && n != PCI_ROM_SLOT) ? PCI_BASE_ADDRESS_SPACE_IO : 0);
    }
    dev->config[PCI_CACHE_LINE_SIZE] = 0;
    dev->config[PCI_LATENCY_TIMER] = 0;
    dev->config[PCI_INTERRUPT_LINE] = 0;
    pci_update_mappings(dev);
    pci_update_irq(dev);
}

void pci_device_post_load(PciDevice *dev)
{
    if (!dev)
        return;
    /* BAR type bits are read-only: restore them whatever the image says. */
    for (int n = 0; n < PCI_NUM_REGIONS; n++) {
        if (dev->bars[n].size == 0)
            continue;
        int off = bar_offset(n);
        uint32_t v = pci_get_long(dev->config + off) & pci_get_long(dev->wmask + off);
        if (dev->bars[n].is_io && n != PCI_ROM_SLOT)
            v |= PCI_BASE_ADDRESS_SPACE_IO;
        pci_set_long(dev->config + off, v);
    }
    pci_update_mappings(dev);
    pci_bus_refresh_irqs(dev->bus);
}

/* ---------------------------------------------------------------------- */
/* Config space access                                                     */

uint32_t pci_default_config_read(PciDevice *dev, int off, int size)
{
    size = norm_size(size);
    uint32_t v = 0;
    for (int i = 0; i < size; i++) {
        int o = off + i;
        uint32_t b = (o >= 0 && o < 256) ? dev->config[o] : 0xFF;
        v |= b << (8 * i);
    }
    return v;
}

uint32_t pci_config_read(PciBus *bus, int devfn, int off, int size)
{
    size = norm_size(size);
    if (!bus || devfn < 0 || devfn > 255 || off < 0 || off > 255)
        return size_mask(size);
    PciDevice *dev = bus->devs[devfn];
    if (!dev)
        return size_mask(size);
    if (dev->config_read && off + size <= 256)
        return dev->config_read(dev, off, size) & size_mask(size);
    return pci_default_config_read(dev, off, size) & size_mask(size);
}

static bool range_hits(int off, int n, int lo, int hi)
{
    return off <= hi && off + n - 1 >= lo;
}

void pci_config_write(PciBus *bus, int devfn, int off, uint32_t val, int size)
{
    size = norm_size(size);
    if (!bus || devfn < 0 || devfn > 255 || off < 0 || off > 255)
        return;
    PciDevice *dev = bus->devs[devfn];
    if (!dev)
        return;
    int n = off + size > 256 ? 256 - off : size;
    val &= size_mask(n);
    for (int i = 0; i < n; i++) {
        int o = off + i;
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint8_t wm = dev->wmask[o], cm = dev->w1cmask[o];
        dev->config[o] = (uint8_t)((dev->config[o] & ~wm) | (b & wm));
        dev->config[o] &= (uint8_t)~(b & cm);
    }
    if (range_hits(off, n, PCI_COMMAND, PCI_COMMAND + 1) ||
        range_hits(off, n, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_0 + 23) ||
        range_hits(off, n, PCI_ROM_ADDRESS, PCI_ROM_ADDRESS + 3))
        pci_update_mappings(dev);
    if (range_hits(off, n, PCI_COMMAND, PCI_COMMAND + 1))
        pci_update_irq(dev);
    if (dev->config_write)
        dev->config_write(dev, off, val, n);
}

/* ---------------------------------------------------------------------- */
/* Mechanism #1 ports: off 0-3 = 0xCF8-0xCFB (CONFADD; 0xCF9 byte = reset
 * control), 4-7 = 0xCFC-0xCFF (CONFDATA).  The I/O bus may hand us
 * accesses that run past 0xCFF; those bytes read 0xFF. */

static bool confdata_target(PciBus *bus, int *devfn, int *reg)
{
    uint32_t a = bus->config_addr;
    if (!(a & CONFADD_ENABLE) || ((a >> 16) & 0xFF) != 0)
        return false;
    *devfn = (a >> 8) & 0xFF;
    *reg = a & 0xFC;
    return true;
}

static uint32_t pci_host_read_byte(PciBus *bus, uint32_t off)
{
    int devfn, reg;
    if (off == 1 && bus->cf9_read)
        return bus->cf9_read(bus->cf9_opaque) & 0xFF;
    if (off >= 4 && off < 8 && confdata_target(bus, &devfn, &reg))
        return pci_config_read(bus, devfn, reg + (int)(off - 4), 1) & 0xFF;
    return 0xFF;
}

static uint32_t pci_host_read(void *opaque, uint32_t off, unsigned size)
{
    PciBus *bus = opaque;
    int devfn, reg;
    if (off == 0 && size == 4)
        return bus->config_addr;
    if (off >= 4 && off + size <= 8) {
        if (!confdata_target(bus, &devfn, &reg))
            return size_mask((int)size);
        return pci_config_read(bus, devfn, reg + (int)(off - 4), (int)size);
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= pci_host_read_byte(bus, off + i) << (8 * i);
    return v;
}

static void pci_host_write_byte(PciBus *bus, uint32_t off, uint8_t val)
{
    int devfn, reg;
    if (off == 1 && bus->cf9_write)
        bus->cf9_write(bus->cf9_opaque, val);
    else if (off >= 4 && off < 8 && confdata_target(bus, &devfn, &reg))
        pci_config_write(bus, devfn, reg + (int)(off - 4), val, 1);
}

static void pci_host_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    PciBus *bus = opaque;
    int devfn, reg;
    if (off == 0 && size == 4) {
        bus->config_addr = val & CONFADD_MASK;
        return;
    }
    if (off >= 4 && off + size <= 8) {
        if (confdata_target(bus, &devfn, &reg))
            pci_config_write(bus, devfn, reg + (int)(off - 4), val, (int)size);
        return;
    }
    for (unsigned i = 0; i < size && i < 4; i++)
        pci_host_write_byte(bus, off + i, (uint8_t)(val >> (8 * i)));
}

static const IoOps pci_host_ops = {
    .read = pci_host_read,
    .write = pci_host_write,
    .impl_max = 4,
};

PciBus *pci_bus_new(IoBus *io)
{
    PciBus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    bus->io = io;
    if (io && iobus_register(io, 0xCF8, 8, &pci_host_ops, bus, "pci-conf1") < 0) {
        free(bus);
        return NULL;
    }
    return bus;
}

void pci_bus_free(PciBus *bus)
{
    if (!bus)
        return;
    if (bus->io)
        iobus_unregister(bus->io, 0xCF8, 8);
    for (int i = 0; i < 256; i++)
        if (bus->devs[i])
            bus->devs[i]->bus = NULL;
    free(bus);
}

void pci_bus_reset(PciBus *bus)
{
    if (bus)
        bus->config_addr = 0;
}

void pci_bus_set_cf9(PciBus *bus, uint32_t (*rd)(void *opaque),
                     void (*wr)(void *opaque, uint8_t val), void *opaque)
{
    if (!bus)
        return;
    bus->cf9_read = rd;
    bus->cf9_write = wr;
    bus->cf9_opaque = opaque;
}

static int pci_bus_post_load(void *opaque, char *err, size_t errlen)
{
    PciBus *bus = opaque;
    bus->config_addr &= CONFADD_MASK;
    (void)err;
    (void)errlen;
    return 0;
}

static const StateField pci_bus_fields[] = {
    ST_U32(config_addr, PciBus),
    ST_END,
};

const StateDesc pci_bus_state = {
    .name = "pci-bus",
    .version = 1,
    .min_version = 1,
    .fields = pci_bus_fields,
    .post_load = pci_bus_post_load,
};

/* ---------------------------------------------------------------------- */
/* info pci                                                                */

typedef struct {
    char *buf;
    size_t size, len;
} StrBuf;

static void sb_printf(StrBuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sb->len < sb->size ? sb->size - sb->len : 0;
    int n = vsnprintf(room ? sb->buf + sb->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb->len += (size_t)n;
}

size_t pci_info(PciBus *bus, char *buf, size_t size)
{
    StrBuf sb = { buf, size, 0 };
    if (buf && size)
        buf[0] = '\0';
    if (!bus)
        return 0;
    for (int i = 0; i < 256; i++) {
        PciDevice *d = bus->devs[i];
        if (!d)
            continue;
        const uint8_t *c = d->config;
        sb_printf(&sb, "00:%02x.%d %04x:%04x class %04x prog-if %02x rev %02x hdr %02x%s%s\n",
                  PCI_SLOT(i), PCI_FUNC(i), pci_get_word(c + PCI_VENDOR_ID),
                  pci_get_word(c + PCI_DEVICE_ID), pci_get_word(c + PCI_CLASS_DEVICE),
                  c[PCI_CLASS_PROG], c[PCI_REVISION_ID], c[PCI_HEADER_TYPE],
                  d->name ? " " : "", d->name ? d->name : "");
        sb_printf(&sb, "  command %04x status %04x", pci_get_word(c + PCI_COMMAND),
                  pci_get_word(c + PCI_STATUS));
        if (c[PCI_INTERRUPT_PIN] >= 1 && c[PCI_INTERRUPT_PIN] <= 4)
            sb_printf(&sb, " INT%c# line %u level %d", 'A' + c[PCI_INTERRUPT_PIN] - 1,
                      c[PCI_INTERRUPT_LINE], pci_irq_effective(d));
        sb_printf(&sb, "\n");
        for (int n = 0; n < PCI_NUM_REGIONS; n++) {
            const PciBar *b = &d->bars[n];
            if (!b->size)
                continue;
            if (b->mapped == PCI_BAR_UNMAPPED)
                sb_printf(&sb, "  %s%d: %s size 0x%x unmapped\n", n == PCI_ROM_SLOT ? "ROM" : "BAR",
                          n == PCI_ROM_SLOT ? 0 : n, b->is_io ? "io" : "mem", b->size);
            else
                sb_printf(&sb, "  %s%d: %s at 0x%llx size 0x%x\n", n == PCI_ROM_SLOT ? "ROM" : "BAR",
                          n == PCI_ROM_SLOT ? 0 : n, b->is_io ? "io" : "mem",
                          (unsigned long long)b->mapped, b->size);
        }
    }
    return sb.len;
}
