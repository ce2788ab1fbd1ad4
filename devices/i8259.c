/*
 * i8259.c - 8259A PIC pair + PIIX3 ELCR (see i8259.h).
 *
 * Model (Intel 8259A datasheet, "Interrupt sequence", "Programming"):
 *  - Each chip keeps the input line levels (lines) separately from IRR.
 *    Edge-triggered inputs set their IRR bit on a rising edge and keep it
 *    until INTA/poll acknowledges it (so an irq_pulse() is never lost);
 *    level-triggered inputs (ELCR bit or ICW1 LTIM) make IRR follow the line.
 *  - A request is presented when its IRR bit is set, unmasked in IMR, and it
 *    has higher priority than every in-service level (special mask mode:
 *    any unmasked level not in service).  priority_add is the IR that
 *    currently has the highest priority (rotation).
 *  - The slave's INT output drives master IR2 (edge, ELCR bit 2 is
 *    read-only 0 on PIIX3); the master's INT drives cpu_intr.
 *  - INTA with no request left (line dropped, masked meanwhile) returns the
 *    spurious vector base+7 without setting an ISR bit (slave: the master
 *    still puts IR2 in service, as the hardware does).
 */
#include "devices/i8259.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ICW1 bits (port 0x20/0xA0 with D4 = 1). */
#define ICW1_IC4   0x01
#define ICW1_SNGL  0x02
#define ICW1_LTIM  0x08
#define ICW1_INIT  0x10
/* ICW4 bits. */
#define ICW4_UPM   0x01
#define ICW4_AEOI  0x02
#define ICW4_BUF   0x08
#define ICW4_SFNM  0x10
/* OCW3 bits (port 0x20/0xA0 with D4 = 0, D3 = 1). */
#define OCW3_RIS   0x01
#define OCW3_RR    0x02
#define OCW3_P     0x04
#define OCW3_SEL   0x08
#define OCW3_SMM   0x20
#define OCW3_ESMM  0x40
/* OCW2 R/SL/EOI commands (bits 7..5). */
enum {
    OCW2_ROTATE_AEOI_CLEAR = 0,
    OCW2_EOI = 1,
    OCW2_NOP = 2,
    OCW2_SPECIFIC_EOI = 3,
    OCW2_ROTATE_AEOI_SET = 4,
    OCW2_ROTATE_EOI = 5,
    OCW2_SET_PRIORITY = 6,
    OCW2_ROTATE_SPECIFIC_EOI = 7,
};

/* PIIX3 ELCR1 (0x4D0): IRQ 0, 1, 2 must be edge; ELCR2 (0x4D1): IRQ 8, 13. */
#define ELCR1_MASK 0xF8
#define ELCR2_MASK 0xDE

/* Inputs treated as level-triggered. */
static uint8_t chip_level_mask(const I8259Chip *c)
{
    return c->ltim ? 0xFF : c->elcr;
}

/* Drive IR input irq (0-7) of chip c. */
static void chip_set_line(I8259Chip *c, int irq, int level)
{
    uint8_t bit = (uint8_t)(1u << irq);
    bool lvl = chip_level_mask(c) & bit;
    if (level) {
        if (lvl || !(c->lines & bit))
            c->irr |= bit;
        c->lines |= bit;
    } else {
        c->lines &= (uint8_t)~bit;
        if (lvl)
            c->irr &= (uint8_t)~bit;
    }
}

/* Priority rank (0 = highest) of the best bit in mask; 8 if none. */
static int chip_priority(const I8259Chip *c, uint8_t mask)
{
    if (!mask)
        return 8;
    int p = 0;
    while (!(mask & (1u << ((p + c->priority_add) & 7))))
        p++;
    return p;
}

/* The IR the chip would present to INTA now, or -1. */
static int chip_get_irq(const I8259Chip *c, bool master)
{
    uint8_t req = c->irr & (uint8_t)~c->imr;
    if (c->special_mask) {
        /* Special mask mode: every unmasked level not in service. */
        req &= (uint8_t)~c->isr;
        int p = chip_priority(c, req);
        return p == 8 ? -1 : (p + c->priority_add) & 7;
    }
    int p = chip_priority(c, req);
    if (p == 8)
        return -1;
    uint8_t insvc = c->isr;
    if (master && c->sfnm)
        insvc &= (uint8_t)~(1u << 2); /* SFNM: slave may nest higher requests */
    if (p < chip_priority(c, insvc))
        return (p + c->priority_add) & 7;
    return -1;
}

/* Recompute the cascade and the CPU INTR output; force re-drives INTR. */
static void i8259_update(I8259 *s, bool force)
{
    I8259Chip *m = &s->pic[0], *sl = &s->pic[1];
    sl->int_out = chip_get_irq(sl, false) >= 0;
    bool ir2 = sl->int_out || (s->ext_lines & (1u << 2));
    if (ir2 != (bool)(m->lines & (1u << 2)))
        chip_set_line(m, 2, ir2);
    m->int_out = chip_get_irq(m, true) >= 0;
    if (force || m->int_out != s->intr_level) {
        s->intr_level = m->int_out;
        irq_set(&s->cpu_intr, s->intr_level);
    }
}

/* Acknowledge IR irq on chip c (INTA or poll): IRR/ISR and AEOI. */
static void chip_ack(I8259Chip *c, int irq)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (!(chip_level_mask(c) & bit))
        c->irr &= (uint8_t)~bit;
    if (c->aeoi) {
        if (c->rotate_aeoi)
            c->priority_add = (uint8_t)((irq + 1) & 7);
    } else {
        c->isr |= bit;
    }
}

void i8259_set_irq(void *opaque, int irq, int level)
{
    I8259 *s = opaque;
    if (!s || irq < 0 || irq > 15)
        return;
    uint16_t bit = (uint16_t)(1u << irq);
    if (level)
        s->ext_lines |= bit;
    else
        s->ext_lines &= (uint16_t)~bit;
    if (irq >= 8)
        chip_set_line(&s->pic[1], irq - 8, level != 0);
    else if (irq != 2)
        chip_set_line(&s->pic[0], irq, level != 0);
    /* IRQ 2 is merged with the slave INT in i8259_update. */
    i8259_update(s, false);
}

int i8259_intack(I8259 *s)
{
    I8259Chip *m = &s->pic[0], *sl = &s->pic[1];
    int vec;
    int irq = chip_get_irq(m, true);
    if (irq < 0) {
        vec = m->vector_base + 7; /* spurious IRQ 7 */
    } else if (irq == 2 && !m->single) {
        int irq2 = chip_get_irq(sl, false);
        if (irq2 >= 0)
            chip_ack(sl, irq2);
        else
            irq2 = 7; /* spurious IRQ 15 */
        vec = sl->vector_base + irq2;
        chip_ack(m, 2);
    } else {
        vec = m->vector_base + irq;
        chip_ack(m, irq);
    }
    i8259_update(s, false);
    return vec & 0xFF;
}

bool i8259_intr_pending(I8259 *s)
{
    return s && s->pic[0].int_out;
}

/* Poll command read (OCW3 P): acknowledge like INTA, return I + W2..W0. */
static uint8_t chip_poll(I8259 *s, int chip)
{
    I8259Chip *c = &s->pic[chip];
    int irq = chip_get_irq(c, chip == 0);
    if (irq < 0)
        return 0;
    chip_ack(c, irq);
    i8259_update(s, false);
    return (uint8_t)(0x80 | irq);
}

static void chip_icw1(I8259Chip *c, uint8_t val)
{
    c->init_state = 1;
    c->icw4_needed = val & ICW1_IC4;
    c->single = val & ICW1_SNGL;
    c->ltim = val & ICW1_LTIM;
    /* Datasheet "Initialization command words": IMR cleared, IR7 lowest
     * priority, special mask mode cleared, status read = IRR, edge sense
     * reset (an edge input must see a new low-to-high transition). */
    c->imr = 0;
    c->isr = 0;
    c->irr = c->lines & chip_level_mask(c);
    c->priority_add = 0;
    c->special_mask = false;
    c->read_isr = false;
    c->poll = false;
    c->rotate_aeoi = false;
    if (!c->icw4_needed) {
        c->upm = false;
        c->aeoi = false;
        c->sfnm = false;
        c->buffered = false;
    }
}

static void chip_ocw2(I8259Chip *c, uint8_t val)
{
    int level = val & 7;
    switch (val >> 5) {
    case OCW2_ROTATE_AEOI_CLEAR:
        c->rotate_aeoi = false;
        break;
    case OCW2_ROTATE_AEOI_SET:
        c->rotate_aeoi = true;
        break;
    case OCW2_EOI:
    case OCW2_ROTATE_EOI: {
        uint8_t insvc = c->isr;
        /* A masked level is not reset by a non-specific EOI in SMM. */
        if (c->special_mask)
            insvc &= (uint8_t)~c->imr;
        int p = chip_priority(c, insvc);
        if (p < 8) {
            int irq = (p + c->priority_add) & 7;
            c->isr &= (uint8_t)~(1u << irq);
            if ((val >> 5) == OCW2_ROTATE_EOI)
                c->priority_add = (uint8_t)((irq + 1) & 7);
        }
        break;
    }
    case OCW2_SPECIFIC_EOI:
        c->isr &= (uint8_t)~(1u << level);
        break;
    case OCW2_ROTATE_SPECIFIC_EOI:
        c->isr &= (uint8_t)~(1u << level);
        c->priority_add = (uint8_t)((level + 1) & 7);
        break;
    case OCW2_SET_PRIORITY:
        c->priority_add = (uint8_t)((level + 1) & 7);
        break;
    default: /* OCW2_NOP */
        break;
    }
}

static void chip_ocw3(I8259Chip *c, uint8_t val)
{
    if (val & OCW3_P)
        c->poll = true;
    if (val & OCW3_RR)
        c->read_isr = val & OCW3_RIS;
    if (val & OCW3_ESMM)
        c->special_mask = val & OCW3_SMM;
}

static void chip_write_data(I8259Chip *c, uint8_t val)
{
    switch (c->init_state) {
    case 1: /* ICW2 */
        c->vector_base = val & 0xF8;
        c->init_state = c->single ? (c->icw4_needed ? 3 : 0) : 2;
        break;
    case 2: /* ICW3 */
        c->icw3 = val;
        c->init_state = c->icw4_needed ? 3 : 0;
        break;
    case 3: /* ICW4 */
        c->upm = val & ICW4_UPM;
        c->aeoi = val & ICW4_AEOI;
        c->buffered = val & ICW4_BUF;
        c->sfnm = val & ICW4_SFNM;
        c->init_state = 0;
        break;
    default: /* OCW1 */
        c->imr = val;
        break;
    }
}

static void i8259_write(void *opaque, uint32_t off, uint32_t val, unsigned size,
                        int chip)
{
    I8259 *s = opaque;
    I8259Chip *c = &s->pic[chip];
    uint8_t v = (uint8_t)val;
    if ((off & 1) == 0) {
        if (v & ICW1_INIT)
            chip_icw1(c, v);
        else if (v & OCW3_SEL)
            chip_ocw3(c, v);
        else
            chip_ocw2(c, v);
    } else {
        chip_write_data(c, v);
    }
    i8259_update(s, false);
}

static uint32_t i8259_read(void *opaque, uint32_t off, unsigned size, int chip)
{
    I8259 *s = opaque;
    I8259Chip *c = &s->pic[chip];
    if (c->poll) {
        c->poll = false;
        return chip_poll(s, chip);
    }
    if (off & 1)
        return c->imr;
    return c->read_isr ? c->isr : c->irr;
}

static uint32_t master_read(void *o, uint32_t off, unsigned size)
{
    return i8259_read(o, off, size, 0);
}
static void master_write(void *o, uint32_t off, uint32_t val, unsigned size)
{
    i8259_write(o, off, val, size, 0);
}
static uint32_t slave_read(void *o, uint32_t off, unsigned size)
{
    return i8259_read(o, off, size, 1);
}
static void slave_write(void *o, uint32_t off, uint32_t val, unsigned size)
{
    i8259_write(o, off, val, size, 1);
}

/* ELCR1/ELCR2 (PIIX3 datasheet "ELCR1/ELCR2 - Edge/Level Control"). */
static uint32_t elcr_read(void *opaque, uint32_t off, unsigned size)
{
    I8259 *s = opaque;
    return s->pic[off & 1].elcr;
}

static void elcr_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    I8259 *s = opaque;
    I8259Chip *c = &s->pic[off & 1];
    c->elcr = (uint8_t)val & c->elcr_mask;
    /* Inputs now level-triggered follow their line from here on. */
    uint8_t lvl = chip_level_mask(c);
    c->irr = (uint8_t)((c->irr & ~lvl) | (c->lines & lvl));
    i8259_update(s, false);
}

static const IoOps master_ops = { master_read, master_write, 1 };
static const IoOps slave_ops = { slave_read, slave_write, 1 };
static const IoOps elcr_ops = { elcr_read, elcr_write, 1 };

void i8259_reset(I8259 *s)
{
    for (int i = 0; i < 2; i++) {
        I8259Chip *c = &s->pic[i];
        uint8_t lines = c->lines;
        memset(c, 0, sizeof(*c));
        c->lines = lines; /* the wires keep whatever devices drive */
        c->elcr_mask = i == 0 ? ELCR1_MASK : ELCR2_MASK;
    }
    i8259_update(s, true);
}

I8259 *i8259_new(IoBus *bus, Irq cpu_intr)
{
    I8259 *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cpu_intr = cpu_intr;
    s->bus = bus;
    if (bus) {
        if (iobus_register(bus, 0x20, 2, &master_ops, s, "i8259-master") < 0 ||
            iobus_register(bus, 0xA0, 2, &slave_ops, s, "i8259-slave") < 0 ||
            iobus_register(bus, 0x4D0, 2, &elcr_ops, s, "piix3-elcr") < 0) {
            i8259_free(s);
            return NULL;
        }
    }
    i8259_reset(s);
    return s;
}

void i8259_free(I8259 *s)
{
    if (!s)
        return;
    if (s->bus) {
        iobus_unregister(s->bus, 0x20, 2);
        iobus_unregister(s->bus, 0xA0, 2);
        iobus_unregister(s->bus, 0x4D0, 2);
    }
    free(s);
}

void i8259_get_info(I8259 *s, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    size_t pos = 0;
    for (int i = 0; i < 2 && pos < len; i++) {
        const I8259Chip *c = &s->pic[i];
        int n = snprintf(buf + pos, len - pos,
                         "pic%d: irr=%02x imr=%02x isr=%02x hprio=%d "
                         "irq_base=%02x rr_sel=%d elcr=%02x fnm=%d\n",
                         i, c->irr, c->imr, c->isr, c->priority_add,
                         c->vector_base, c->read_isr, c->elcr, c->sfnm);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
}

static int i8259_post_load(void *opaque, char *err, size_t errlen)
{
    I8259 *s = opaque;
    for (int i = 0; i < 2; i++) {
        I8259Chip *c = &s->pic[i];
        if (c->init_state > 3 || c->priority_add > 7) {
            snprintf(err, errlen, "i8259: pic%d init_state %u / priority_add %u out of range",
                     i, c->init_state, c->priority_add);
            i8259_reset(s); /* never leave a half-loaded device behind */
            return -1;
        }
        c->elcr_mask = i == 0 ? ELCR1_MASK : ELCR2_MASK;
        if (c->elcr & ~c->elcr_mask) {
            snprintf(err, errlen, "i8259: pic%d elcr %02x has read-only bits set", i,
                     c->elcr);
            i8259_reset(s);
            return -1;
        }
        c->vector_base &= 0xF8;
    }
    i8259_update(s, true);
    return 0;
}

#define I8259_CHIP_FIELDS(i)                                                     \
    ST_U8(pic[i].irr, I8259), ST_U8(pic[i].isr, I8259),                          \
    ST_U8(pic[i].imr, I8259), ST_U8(pic[i].lines, I8259),                        \
    ST_U8(pic[i].elcr, I8259), ST_U8(pic[i].vector_base, I8259),                 \
    ST_U8(pic[i].icw3, I8259), ST_U8(pic[i].priority_add, I8259),                \
    ST_U8(pic[i].init_state, I8259), ST_BOOL(pic[i].icw4_needed, I8259),         \
    ST_BOOL(pic[i].single, I8259), ST_BOOL(pic[i].ltim, I8259),                  \
    ST_BOOL(pic[i].upm, I8259), ST_BOOL(pic[i].aeoi, I8259),                     \
    ST_BOOL(pic[i].sfnm, I8259), ST_BOOL(pic[i].buffered, I8259),                \
    ST_BOOL(pic[i].rotate_aeoi, I8259), ST_BOOL(pic[i].read_isr, I8259),         \
    ST_BOOL(pic[i].poll, I8259), ST_BOOL(pic[i].special_mask, I8259),            \
    ST_BOOL(pic[i].int_out, I8259)

static const StateField i8259_fields[] = {
    I8259_CHIP_FIELDS(0),
    I8259_CHIP_FIELDS(1),
    ST_U16(ext_lines, I8259),
    ST_END,
};

const StateDesc i8259_state = {
    .name = "i8259",
    .version = 1,
    .min_version = 1,
    .fields = i8259_fields,
    .post_load = i8259_post_load,
};
