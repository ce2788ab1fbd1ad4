/*
 * ioapic.c - Intel 82093AA I/O APIC (datasheet 290566), QEMU pc flavour:
 * version 0x11, 24 pins, one local APIC behind a delivery callback.
 */
#include "devices/ioapic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IOAPIC_IOREGSEL = 0x00, IOAPIC_IOWIN = 0x10 };
enum { IOAPIC_REG_ID = 0x00, IOAPIC_REG_VER = 0x01, IOAPIC_REG_ARB = 0x02,
       IOAPIC_REG_REDTBL = 0x10 };

/* Redirection entry bits (datasheet 3.2.4). */
#define RTE_DELIV_STATUS (1ull << 12)
#define RTE_POLARITY_LOW (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL (1ull << 15)
#define RTE_MASKED (1ull << 16)
#define RTE_DEST_SHIFT 56
/* Writable: vector, delivery mode, dest mode, polarity, trigger, mask, dest. */
#define RTE_RW_BITS (0x1AFFFull | (0xFFull << RTE_DEST_SHIFT))
#define RTE_RO_BITS (RTE_DELIV_STATUS | RTE_REMOTE_IRR)
#define ID_MASK 0x0F000000u

#define PIN_MASK ((1u << IOAPIC_NUM_PINS) - 1)

/* Send every pending, unmasked request (datasheet 3.2.4 / QEMU ioapic_service). */
static void ioapic_service(Ioapic *s)
{
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        uint32_t m = 1u << pin;
        if (!(s->irr & m))
            continue;
        uint64_t e = s->ioredtbl[pin];
        if (e & RTE_MASKED)
            continue;
        bool level = e & RTE_LEVEL;
        if (level) {
            if (e & RTE_REMOTE_IRR)
                continue;
            s->ioredtbl[pin] |= RTE_REMOTE_IRR;
        } else {
            s->irr &= ~m;
        }
        if (s->deliver)
            s->deliver(s->opaque, (int)(e & 0xFF), level, (int)((e >> 8) & 7));
    }
}

void ioapic_set_irq(void *opaque, int pin, int level)
{
    Ioapic *s = opaque;
    if (!s || pin < 0 || pin >= IOAPIC_NUM_PINS)
        return;
    uint32_t m = 1u << pin;
    bool old = s->lines & m;
    if (level)
        s->lines |= m;
    else
        s->lines &= ~m;
    uint64_t e = s->ioredtbl[pin];
    if (e & RTE_LEVEL) {
        if (level) {
            s->irr |= m;
            ioapic_service(s);
        } else {
            s->irr &= ~m;
        }
    } else if (level && !old && !(e & RTE_MASKED)) {
        /* Edge: a rising edge on an unmasked pin (masked edges are lost). */
        s->irr |= m;
        ioapic_service(s);
    }
}

void ioapic_eoi(Ioapic *s, int vector)
{
    if (!s)
        return;
    bool again = false;
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
        uint64_t e = s->ioredtbl[pin];
        if ((e & RTE_LEVEL) && (e & RTE_REMOTE_IRR) && (int)(e & 0xFF) == vector) {
            s->ioredtbl[pin] &= ~RTE_REMOTE_IRR;
            if (s->irr & (1u << pin))
                again = true;
        }
    }
    if (again)
        ioapic_service(s);
}

void ioapic_eoi_cb(void *opaque, int vector) { ioapic_eoi(opaque, vector); }

static uint32_t ioapic_reg_read(Ioapic *s)
{
    uint8_t sel = s->ioregsel;
    switch (sel) {
    case IOAPIC_REG_ID: return s->id;
    case IOAPIC_REG_VER: return IOAPIC_VERSION;
    case IOAPIC_REG_ARB: return s->arb;
    default: break;
    }
    if (sel >= IOAPIC_REG_REDTBL && sel < IOAPIC_REG_REDTBL + 2 * IOAPIC_NUM_PINS) {
        uint64_t e = s->ioredtbl[(sel - IOAPIC_REG_REDTBL) >> 1];
        return (sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
    }
    return 0;
}

static void ioapic_reg_write(Ioapic *s, uint32_t val)
{
    uint8_t sel = s->ioregsel;
    if (sel == IOAPIC_REG_ID) {
        s->id = val & ID_MASK;
        s->arb = s->id; /* datasheet 3.2.3: ARB ID loaded from the ID */
        return;
    }
    if (sel < IOAPIC_REG_REDTBL || sel >= IOAPIC_REG_REDTBL + 2 * IOAPIC_NUM_PINS)
        return; /* version, arbitration: read-only; others reserved */
    int pin = (sel - IOAPIC_REG_REDTBL) >> 1;
    uint64_t e = s->ioredtbl[pin];
    if (sel & 1)
        e = (e & 0xFFFFFFFFull) | ((uint64_t)val << 32);
    else
        e = (e & ~0xFFFFFFFFull) | val;
    e = (e & RTE_RW_BITS) | (s->ioredtbl[pin] & RTE_RO_BITS);
    uint32_t m = 1u << pin;
    if (!(e & RTE_LEVEL)) {
        e &= ~RTE_REMOTE_IRR; /* QEMU: edge entries have no Remote IRR */
        if (s->ioredtbl[pin] & RTE_LEVEL)
            s->irr &= ~m;     /* level -> edge: drop the level request */
    } else {
        s->irr = (s->irr & ~m) | (s->lines & m); /* level follows the pin */
    }
    s->ioredtbl[pin] = e;
    ioapic_service(s);
}

uint32_t ioapic_mmio_read(void *opaque, uint32_t off, unsigned size)
{
    Ioapic *s = opaque;
    if (size != 1 && size != 2 && size != 4)
        size = 4;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint32_t o = (off + i) & 0xFF;
        uint32_t b = 0;
        if (o == IOAPIC_IOREGSEL)
            b = s->ioregsel;
        else if (o >= IOAPIC_IOWIN && o < IOAPIC_IOWIN + 4)
            b = (ioapic_reg_read(s) >> (8 * (o - IOAPIC_IOWIN))) & 0xFF;
        v |= b << (8 * i);
    }
    return v;
}

void ioapic_mmio_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Ioapic *s = opaque;
    off &= 0xFF;
    if (off == IOAPIC_IOREGSEL)
        s->ioregsel = (uint8_t)val; /* any width: the low byte selects */
    else if (off == IOAPIC_IOWIN && size == 4)
        ioapic_reg_write(s, val);
    /* other widths/offsets: ignored (QEMU) */
}

static const MmioOps ioapic_mmio_ops = { ioapic_mmio_read, ioapic_mmio_write };

void ioapic_reset(Ioapic *s)
{
    if (!s)
        return;
    s->ioregsel = 0;
    s->id = 0;
    s->arb = 0;
    for (int pin = 0; pin < IOAPIC_NUM_PINS; pin++)
        s->ioredtbl[pin] = RTE_MASKED;
    s->irr = 0;
    s->lines &= PIN_MASK; /* pin levels are external: kept */
}

Ioapic *ioapic_new(PhysMem *pm, IoapicDeliverFn deliver, void *opaque)
{
    Ioapic *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->pm = pm;
    s->deliver = deliver;
    s->opaque = opaque;
    ioapic_reset(s);
    if (pm) {
        if (phys_map_mmio(pm, IOAPIC_BASE, PHYS_PAGE_SIZE, &ioapic_mmio_ops, s, "ioapic") < 0) {
            free(s);
            return NULL;
        }
        s->mapped = true;
    }
    return s;
}

void ioapic_free(Ioapic *s)
{
    if (!s)
        return;
    if (s->mapped && s->pm) {
        uint8_t m = s->pm->mmio[IOAPIC_BASE >> PHYS_PAGE_BITS];
        if (m && s->pm->regions[m - 1].opaque == s)
            phys_unmap(s->pm, IOAPIC_BASE, PHYS_PAGE_SIZE);
    }
    free(s);
}

void ioapic_info(Ioapic *s, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    buf[0] = '\0';
    if (!s)
        return;
    int n = snprintf(buf, len, "ioapic id %u sel %02x irr %06x lines %06x\n", s->id >> 24,
                     s->ioregsel, s->irr, s->lines);
    for (int pin = 0; pin < IOAPIC_NUM_PINS && n >= 0 && (size_t)n < len; pin++) {
        uint64_t e = s->ioredtbl[pin];
        n += snprintf(buf + n, len - (size_t)n,
                      "pin %2d %016llx vec %3u mode %u %s %s%s%s dest %02x\n", pin,
                      (unsigned long long)e, (unsigned)(e & 0xFF), (unsigned)((e >> 8) & 7),
                      (e & RTE_LEVEL) ? "level" : "edge",
                      (e & RTE_MASKED) ? "masked" : "unmasked",
                      (e & RTE_REMOTE_IRR) ? " remote-irr" : "",
                      (e & RTE_POLARITY_LOW) ? " active-low" : "",
                      (unsigned)(e >> RTE_DEST_SHIFT));
    }
}

static int ioapic_post_load(void *opaque, char *err, size_t errlen)
{
    Ioapic *s = opaque;
    const char *why = NULL;
    if ((s->id | s->arb) & ~ID_MASK)
        why = "id reserved bits";
    else if ((s->irr | s->lines) & ~PIN_MASK)
        why = "irr/lines beyond 24 pins";
    for (int pin = 0; !why && pin < IOAPIC_NUM_PINS; pin++)
        if (s->ioredtbl[pin] & ~(RTE_RW_BITS | RTE_RO_BITS))
            why = "redirection entry reserved bits";
    if (why) {
        snprintf(err, errlen, "ioapic: %s", why);
        ioapic_reset(s);
        return -1;
    }
    return 0;
}

static const StateField ioapic_fields[] = {
    ST_U8(ioregsel, Ioapic),
    ST_U32(id, Ioapic),
    ST_U32(arb, Ioapic),
    ST_U64_ARRAY(ioredtbl, Ioapic),
    ST_U32(irr, Ioapic),
    ST_U32(lines, Ioapic),
    ST_END,
};

const StateDesc ioapic_state = {
    .name = "ioapic",
    .version = 1,
    .min_version = 1,
    .fields = ioapic_fields,
    .post_load = ioapic_post_load,
};
