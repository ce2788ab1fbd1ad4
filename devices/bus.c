/*
 * bus.c - the x86 I/O port bus (see bus.h).
 *
 * A 64K-entry map gives, for every port, the index+1 of the range that owns
 * it.  An access that fits the owning handler's impl_max goes straight to it
 * (with off = port - base); wider accesses, accesses of unsupported width and
 * accesses that start on an unassigned port are split into byte accesses,
 * assembled little-endian, as the ISA bus does (and as QEMU's
 * MemoryRegionOps.impl splitting does).  Unassigned bytes read 0xFF (the
 * floating ISA data bus) and writes to them are dropped; both are reported
 * to the optional bus->unassigned hook.
 */
#include "devices/bus.h"

#include <string.h>

void iobus_init(IoBus *bus)
{
    memset(bus, 0, sizeof(*bus));
}

int iobus_register(IoBus *bus, uint16_t base, uint32_t len, const IoOps *ops,
                   void *opaque, const char *name)
{
    if (!bus || !ops || len == 0 || (uint32_t)base + len > 65536u)
        return -1;
    if (bus->nranges >= IOBUS_MAX_RANGES)
        return -1;
    int idx = bus->nranges++;
    bus->ranges[idx].ops = ops;
    bus->ranges[idx].opaque = opaque;
    bus->ranges[idx].base = base;
    bus->ranges[idx].name = name;
    for (uint32_t p = base; p < (uint32_t)base + len; p++)
        bus->map[p] = (uint16_t)(idx + 1);
    return 0;
}

void iobus_unregister(IoBus *bus, uint16_t base, uint32_t len)
{
    if (!bus)
        return;
    uint32_t end = (uint32_t)base + len;
    if (end > 65536u)
        end = 65536u;
    for (uint32_t p = base; p < end; p++)
        bus->map[p] = 0;
}

/* Normalise an access width: 1..4 bytes (the CPU only issues 1, 2 and 4). */
static unsigned iobus_size(unsigned size)
{
    if (size == 0)
        return 1;
    return size > 4 ? 4 : size;
}

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : ((1u << (8 * size)) - 1);
}

/* The range owning port, or NULL. */
static const IoRange *iobus_range(const IoBus *bus, uint16_t port)
{
    uint16_t i = bus->map[port];
    if (i == 0 || i > bus->nranges)
        return NULL;
    return &bus->ranges[i - 1];
}

static unsigned impl_max(const IoOps *ops)
{
    return ops->impl_max ? ops->impl_max : 1;
}

/* True when no byte of the access [port, port+size) is assigned. */
static bool iobus_all_unassigned(const IoBus *bus, uint16_t port, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        if (iobus_range(bus, (uint16_t)(port + i)))
            return false;
    return true;
}

static uint32_t iobus_read_byte(IoBus *bus, uint16_t port)
{
    const IoRange *r = iobus_range(bus, port);
    if (!r) {
        if (bus->unassigned)
            bus->unassigned(bus->unassigned_opaque, port, 1, false, 0);
        return 0xFF;
    }
    if (!r->ops->read)
        return 0xFF;
    return r->ops->read(r->opaque, (uint16_t)(port - r->base), 1) & 0xFF;
}

uint32_t iobus_read(IoBus *bus, uint16_t port, unsigned size)
{
    size = iobus_size(size);
    const IoRange *r = iobus_range(bus, port);
    if (r && size <= impl_max(r->ops) && (size == 1 || size == 2 || size == 4)) {
        if (!r->ops->read)
            return size_mask(size);
        return r->ops->read(r->opaque, (uint16_t)(port - r->base), size) &
               size_mask(size);
    }
    if (!r && iobus_all_unassigned(bus, port, size)) {
        if (bus->unassigned)
            bus->unassigned(bus->unassigned_opaque, port, size, false, 0);
        return size_mask(size);
    }
    uint32_t val = 0;
    for (unsigned i = 0; i < size; i++)
        val |= iobus_read_byte(bus, (uint16_t)(port + i)) << (8 * i);
    return val;
}

static void iobus_write_byte(IoBus *bus, uint16_t port, uint32_t val)
{
    const IoRange *r = iobus_range(bus, port);
    if (!r) {
        if (bus->unassigned)
            bus->unassigned(bus->unassigned_opaque, port, 1, true, val & 0xFF);
        return;
    }
    if (r->ops->write)
        r->ops->write(r->opaque, (uint16_t)(port - r->base), val & 0xFF, 1);
}

void iobus_write(IoBus *bus, uint16_t port, uint32_t val, unsigned size)
{
    size = iobus_size(size);
    val &= size_mask(size);
    const IoRange *r = iobus_range(bus, port);
    if (r && size <= impl_max(r->ops) && (size == 1 || size == 2 || size == 4)) {
        if (r->ops->write)
            r->ops->write(r->opaque, (uint16_t)(port - r->base), val, size);
        return;
    }
    if (!r && iobus_all_unassigned(bus, port, size)) {
        if (bus->unassigned)
            bus->unassigned(bus->unassigned_opaque, port, size, true, val);
        return;
    }
    for (unsigned i = 0; i < size; i++)
        iobus_write_byte(bus, (uint16_t)(port + i), val >> (8 * i));
}
