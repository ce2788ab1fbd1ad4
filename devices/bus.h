/*
 * bus.h - how devices reach each other: IRQ lines and the ISA/PCI port I/O bus.
 *
 * A device never knows who receives its interrupt: it holds an Irq value
 * (callback + opaque + line number) and calls irq_set().  Port I/O goes
 * through one IoBus; each device registers a range with an IoOps table.
 * The bus splits accesses wider than a handler supports into byte-wise
 * accesses (little-endian), as the ISA bus and QEMU's MemoryRegionOps.impl do.
 */
#ifndef VESSEL_DEVICES_BUS_H
#define VESSEL_DEVICES_BUS_H

#include <stdbool.h>
#include <stdint.h>

/** An interrupt line: set(opaque, n, level), level 0 or 1. */
typedef struct Irq {
    void (*set)(void *opaque, int n, int level);
    void *opaque;
    int n;
} Irq;

/** Drive an IRQ line to level (0/1). A line with no receiver is ignored. */
static inline void irq_set(const Irq *irq, int level)
{
    if (irq && irq->set)
        irq->set(irq->opaque, irq->n, level);
}

/** Pulse an edge: 1 then 0. */
static inline void irq_pulse(const Irq *irq)
{
    irq_set(irq, 1);
    irq_set(irq, 0);
}

/**
 * Port I/O callbacks. off is the port minus the registered base; size is
 * the access width in bytes (1, 2 or 4).  impl_max is the widest access the
 * callbacks handle (1, 2 or 4); the bus splits wider accesses into
 * consecutive byte accesses.  A NULL read returns all ones; NULL write ignores.
 */
typedef struct IoOps {
    uint32_t (*read)(void *opaque, uint32_t off, unsigned size);
    void (*write)(void *opaque, uint32_t off, uint32_t val, unsigned size);
    uint8_t impl_max;
} IoOps;

/** One registered port range. */
typedef struct IoRange {
    const IoOps *ops;
    void *opaque;
    uint16_t base;
    const char *name;
} IoRange;

#define IOBUS_MAX_RANGES 256

/** Logging hook for unassigned ports: (opaque, port, size, is_write, val). */
typedef void (*IoUnassignedFn)(void *opaque, uint16_t port, unsigned size,
                               bool is_write, uint32_t val);

/**
 * The 64 KiB x86 I/O port space.  map[port] is an index+1 into ranges
 * (0 = unassigned: reads all ones, writes are dropped).
 */
typedef struct IoBus {
    uint16_t map[65536];
    IoRange ranges[IOBUS_MAX_RANGES];
    int nranges;
    IoUnassignedFn unassigned;
    void *unassigned_opaque;
} IoBus;

/** Initialise an empty bus. */
void iobus_init(IoBus *bus);

/**
 * Register ports [base, base+len) with ops/opaque; later registrations
 * override earlier ones on overlap.  Returns 0, or -1 when the range table
 * is full or base+len exceeds 65536.
 */
int iobus_register(IoBus *bus, uint16_t base, uint32_t len, const IoOps *ops,
                   void *opaque, const char *name);

/** Remove every port in [base, base+len) from the map (e.g. a BAR moved). */
void iobus_unregister(IoBus *bus, uint16_t base, uint32_t len);

/** Read size (1/2/4) bytes from port. Unassigned bytes read 0xFF. */
uint32_t iobus_read(IoBus *bus, uint16_t port, unsigned size);

/** Write size (1/2/4) bytes of val to port. */
void iobus_write(IoBus *bus, uint16_t port, uint32_t val, unsigned size);

#endif
