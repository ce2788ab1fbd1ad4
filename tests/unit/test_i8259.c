/*
 * test_i8259.c - 8259A pair + PIIX3 ELCR, driven through port I/O only
 * (plus the IRQ inputs and the CPU's INTA cycle).  Expected values follow the
 * Intel 8259A datasheet (ICW/OCW formats, priority, EOI, rotation, special
 * mask, poll) and the PIIX3 datasheet (ELCR read-only bits).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i8259.h"
#include "devices/state.h"

typedef struct {
    int level, rises, calls;
} IntrRec;

typedef struct {
    IoBus bus;
    I8259 *pic;
    IntrRec intr;
} T;

static void intr_cb(void *o, int n, int level)
{
    IntrRec *r = o;
    if (level && !r->level)
        r->rises++;
    r->level = level;
    r->calls++;
}

static void outb(T *t, uint16_t port, uint8_t v) { iobus_write(&t->bus, port, v, 1); }
static uint8_t inb(T *t, uint16_t port) { return (uint8_t)iobus_read(&t->bus, port, 1); }
static void irq(T *t, int n, int level) { i8259_set_irq(t->pic, n, level); }
static void pulse(T *t, int n) { irq(t, n, 1); irq(t, n, 0); }

static uint8_t read_isr(T *t, uint16_t base)
{
    outb(t, base, 0x0B); /* OCW3: RR=1 RIS=1 */
    return inb(t, base);
}

static uint8_t read_irr(T *t, uint16_t base)
{
    outb(t, base, 0x0A); /* OCW3: RR=1 RIS=0 */
    return inb(t, base);
}

/* SeaBIOS (hardware-notes 1.7): ICW 0x11 / 0x08 and 0x70 / 4 / 2 / 1. */
static void init_pics(T *t, uint8_t master_icw4, uint8_t slave_icw4)
{
    outb(t, 0x20, 0x11);
    outb(t, 0x21, 0x08);
    outb(t, 0x21, 0x04);
    outb(t, 0x21, master_icw4);
    outb(t, 0xA0, 0x11);
    outb(t, 0xA1, 0x70);
    outb(t, 0xA1, 0x02);
    outb(t, 0xA1, slave_icw4);
}

static int setup(void **st)
{
    T *t = calloc(1, sizeof(*t));
    iobus_init(&t->bus);
    t->pic = i8259_new(&t->bus, (Irq){ intr_cb, &t->intr, 0 });
    assert_non_null(t->pic);
    init_pics(t, 0x01, 0x01);
    *st = t;
    return 0;
}

static int teardown(void **st)
{
    T *t = *st;
    i8259_free(t->pic);
    free(t);
    return 0;
}

static void eoi(T *t, uint16_t base) { outb(t, base, 0x20); }

static void test_init_and_ack(void **st)
{
    T *t = *st;
    assert_int_equal(inb(t, 0x21), 0x00); /* ICW1 clears IMR */
    assert_int_equal(inb(t, 0xA1), 0x00);
    assert_int_equal(t->intr.level, 0);
    irq(t, 0, 1);
    assert_int_equal(t->intr.level, 1);
    assert_true(i8259_intr_pending(t->pic));
    assert_int_equal(read_irr(t, 0x20), 0x01);
    assert_int_equal(i8259_intack(t->pic), 0x08);
    assert_int_equal(read_isr(t, 0x20), 0x01);
    assert_int_equal(read_irr(t, 0x20), 0x00); /* edge request consumed */
    assert_int_equal(t->intr.level, 0);
    irq(t, 0, 0);
    irq(t, 0, 1); /* a new edge while IR0 is in service: waits */
    assert_int_equal(t->intr.level, 0);
    eoi(t, 0x20);
    assert_int_equal(read_isr(t, 0x20), 0x00);
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x08);
    eoi(t, 0x20);
    /* The line stays high: an edge input does not request again. */
    assert_int_equal(t->intr.level, 0);
}

static void test_priority_and_nesting(void **st)
{
    T *t = *st;
    pulse(t, 3);
    pulse(t, 1);
    assert_int_equal(i8259_intack(t->pic), 0x09); /* IR1 beats IR3 */
    assert_int_equal(t->intr.level, 0);           /* IR3 below IR1 in service */
    pulse(t, 0);
    assert_int_equal(t->intr.level, 1); /* IR0 nests */
    assert_int_equal(i8259_intack(t->pic), 0x08);
    assert_int_equal(read_isr(t, 0x20), 0x03);
    eoi(t, 0x20); /* non-specific EOI: highest in service = IR0 */
    assert_int_equal(read_isr(t, 0x20), 0x02);
    assert_int_equal(t->intr.level, 0);
    eoi(t, 0x20);
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x0B);
    eoi(t, 0x20);
    assert_int_equal(read_isr(t, 0x20), 0);
}

static void test_imr(void **st)
{
    T *t = *st;
    outb(t, 0x21, 0x10); /* OCW1: mask IR4 */
    assert_int_equal(inb(t, 0x21), 0x10);
    pulse(t, 4);
    assert_int_equal(t->intr.level, 0);
    assert_int_equal(read_irr(t, 0x20), 0x10); /* still requested */
    outb(t, 0x21, 0x00);
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x0C);
    outb(t, 0xA1, 0xFF);
    pulse(t, 12);
    assert_int_equal(t->intr.level, 0);
    assert_int_equal(read_irr(t, 0xA0), 0x10);
    assert_int_equal(read_irr(t, 0x20), 0x00); /* slave INT not raised */
}

static void test_cascade(void **st)
{
    T *t = *st;
    pulse(t, 10);
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(read_irr(t, 0x20), 0x04);
    assert_int_equal(i8259_intack(t->pic), 0x72);
    assert_int_equal(read_isr(t, 0x20), 0x04);
    assert_int_equal(read_isr(t, 0xA0), 0x04);
    /* IRQ 9 (higher on the slave) while the cascade is in service on the
     * master: fully nested mode blocks it at the master. */
    pulse(t, 9);
    assert_int_equal(t->intr.level, 0);
    eoi(t, 0xA0);
    eoi(t, 0x20);
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x71);
    eoi(t, 0xA0);
    eoi(t, 0x20);
    assert_int_equal(read_isr(t, 0x20), 0);
    assert_int_equal(read_isr(t, 0xA0), 0);
    assert_int_equal(t->intr.level, 0);
    /* A master IRQ above the cascade wins over a slave request. */
    pulse(t, 14);
    pulse(t, 1);
    assert_int_equal(i8259_intack(t->pic), 0x09);
    eoi(t, 0x20);
    assert_int_equal(i8259_intack(t->pic), 0x76);
}

static void test_special_fully_nested(void **st)
{
    T *t = *st;
    init_pics(t, 0x11, 0x01); /* master ICW4: SFNM + 8086 */
    pulse(t, 10);
    assert_int_equal(i8259_intack(t->pic), 0x72);
    pulse(t, 9); /* higher priority on the slave nests through the master */
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x71);
    assert_int_equal(read_isr(t, 0xA0), 0x06);
    pulse(t, 11); /* lower than IR1/IR2 in service on the slave: blocked */
    assert_int_equal(t->intr.level, 0);
}

static void test_spurious_master(void **st)
{
    T *t = *st;
    outb(t, 0x4D0, 0x20); /* IRQ 5 level-triggered */
    irq(t, 5, 1);
    assert_int_equal(t->intr.level, 1);
    irq(t, 5, 0); /* request withdrawn before INTA */
    assert_int_equal(read_irr(t, 0x20), 0x00);
    assert_int_equal(i8259_intack(t->pic), 0x0F); /* spurious IRQ 7 */
    assert_int_equal(read_isr(t, 0x20), 0x00);    /* no ISR bit */
    /* Edge request masked between INTR and INTA. */
    pulse(t, 4);
    outb(t, 0x21, 0x10);
    assert_int_equal(i8259_intack(t->pic), 0x0F);
    assert_int_equal(read_isr(t, 0x20), 0x00);
}

static void test_spurious_slave(void **st)
{
    T *t = *st;
    outb(t, 0x4D1, 0x08); /* IRQ 11 level-triggered */
    irq(t, 11, 1);
    assert_int_equal(t->intr.level, 1);
    irq(t, 11, 0); /* gone, but the master latched the IR2 edge */
    assert_int_equal(read_irr(t, 0xA0), 0x00);
    assert_int_equal(i8259_intack(t->pic), 0x77); /* spurious IRQ 15 */
    assert_int_equal(read_isr(t, 0xA0), 0x00);
    assert_int_equal(read_isr(t, 0x20), 0x04); /* master IR2 in service */
    eoi(t, 0x20);
}

static void test_elcr(void **st)
{
    T *t = *st;
    assert_int_equal(inb(t, 0x4D0), 0x00);
    outb(t, 0x4D0, 0xFF);
    assert_int_equal(inb(t, 0x4D0), 0xF8); /* IRQ 0, 1, 2 always edge */
    outb(t, 0x4D1, 0xFF);
    assert_int_equal(inb(t, 0x4D1), 0xDE); /* IRQ 8, 13 always edge */
    outb(t, 0x4D0, 0x00);
    outb(t, 0x4D1, 0x0C); /* SeaBIOS: PCI IRQ 10, 11 level */
    assert_int_equal(inb(t, 0x4D1), 0x0C);
    irq(t, 11, 1);
    assert_int_equal(i8259_intack(t->pic), 0x73);
    assert_int_equal(read_irr(t, 0xA0), 0x08); /* level: IRR follows the line */
    eoi(t, 0xA0);
    eoi(t, 0x20);
    assert_int_equal(t->intr.level, 1); /* line still high: requests again */
    assert_int_equal(i8259_intack(t->pic), 0x73);
    irq(t, 11, 0); /* device deasserts in its handler */
    eoi(t, 0xA0);
    eoi(t, 0x20);
    assert_int_equal(t->intr.level, 0);
    assert_int_equal(read_irr(t, 0xA0), 0x00);
    /* Switching an input that is held high to level mode requests at once. */
    irq(t, 3, 1);
    assert_int_equal(i8259_intack(t->pic), 0x0B);
    eoi(t, 0x20);
    assert_int_equal(t->intr.level, 0); /* edge: no new request */
    outb(t, 0x4D0, 0x08);
    assert_int_equal(t->intr.level, 1);
}

static void test_auto_eoi(void **st)
{
    T *t = *st;
    init_pics(t, 0x03, 0x03); /* ICW4: AEOI + 8086 */
    pulse(t, 0);
    assert_int_equal(i8259_intack(t->pic), 0x08);
    assert_int_equal(read_isr(t, 0x20), 0x00);
    pulse(t, 0);
    assert_int_equal(t->intr.level, 1); /* no EOI needed */
    assert_int_equal(i8259_intack(t->pic), 0x08);
    pulse(t, 13);
    assert_int_equal(i8259_intack(t->pic), 0x75);
    assert_int_equal(read_isr(t, 0x20), 0x00);
    assert_int_equal(read_isr(t, 0xA0), 0x00);
}

static int hprio(T *t, int chip)
{
    char buf[256];
    i8259_get_info(t->pic, buf, sizeof buf);
    const char *p = strstr(buf, chip ? "pic1:" : "pic0:");
    assert_non_null(p);
    p = strstr(p, "hprio=");
    assert_non_null(p);
    return atoi(p + 6);
}

static void test_rotation(void **st)
{
    T *t = *st;
    /* Rotate on non-specific EOI: the serviced level becomes the lowest. */
    pulse(t, 0);
    assert_int_equal(i8259_intack(t->pic), 0x08);
    outb(t, 0x20, 0xA0);
    assert_int_equal(read_isr(t, 0x20), 0);
    assert_int_equal(hprio(t, 0), 1);
    pulse(t, 0);
    pulse(t, 1);
    assert_int_equal(i8259_intack(t->pic), 0x09); /* IR1 now highest */
    outb(t, 0x20, 0x20);
    assert_int_equal(i8259_intack(t->pic), 0x08);
    outb(t, 0x20, 0x20);
    /* Set priority: IR4 lowest, so IR5 highest. */
    outb(t, 0x20, 0xC4);
    assert_int_equal(hprio(t, 0), 5);
    pulse(t, 3);
    pulse(t, 5);
    assert_int_equal(i8259_intack(t->pic), 0x0D);
    outb(t, 0x20, 0x65); /* specific EOI IR5 */
    /* Rotate on specific EOI: IR3 becomes lowest. */
    assert_int_equal(i8259_intack(t->pic), 0x0B);
    outb(t, 0x20, 0xE3);
    assert_int_equal(read_isr(t, 0x20), 0);
    assert_int_equal(hprio(t, 0), 4);
    /* NOP (R=0, SL=1, EOI=0) changes nothing. */
    outb(t, 0x20, 0x40);
    assert_int_equal(hprio(t, 0), 4);
}

static void test_rotate_in_aeoi(void **st)
{
    T *t = *st;
    init_pics(t, 0x03, 0x01);
    outb(t, 0x20, 0x80); /* rotate in AEOI mode (set) */
    pulse(t, 1);
    pulse(t, 4);
    assert_int_equal(i8259_intack(t->pic), 0x09);
    assert_int_equal(hprio(t, 0), 2); /* IR1 now lowest */
    pulse(t, 1);
    assert_int_equal(i8259_intack(t->pic), 0x0C); /* IR4 beats IR1 */
    assert_int_equal(hprio(t, 0), 5);
    outb(t, 0x20, 0x00); /* rotate in AEOI mode (clear) */
    assert_int_equal(i8259_intack(t->pic), 0x09);
    assert_int_equal(hprio(t, 0), 5);
}

static void test_specific_eoi(void **st)
{
    T *t = *st;
    pulse(t, 1);
    assert_int_equal(i8259_intack(t->pic), 0x09);
    pulse(t, 0);
    assert_int_equal(i8259_intack(t->pic), 0x08);
    assert_int_equal(read_isr(t, 0x20), 0x03);
    outb(t, 0x20, 0x61); /* specific EOI for IR1, the lower one */
    assert_int_equal(read_isr(t, 0x20), 0x01);
}

static void test_special_mask_mode(void **st)
{
    T *t = *st;
    pulse(t, 5);
    assert_int_equal(i8259_intack(t->pic), 0x0D);
    pulse(t, 6);
    assert_int_equal(t->intr.level, 0); /* lower than IR5 in service */
    outb(t, 0x21, 0x20);                /* mask IR5 ... */
    outb(t, 0x20, 0x68);                /* ... and enter special mask mode */
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x0E);
    assert_int_equal(read_isr(t, 0x20), 0x60);
    /* Non-specific EOI in SMM skips the masked IR5. */
    eoi(t, 0x20);
    assert_int_equal(read_isr(t, 0x20), 0x20);
    outb(t, 0x20, 0x48); /* reset special mask */
    outb(t, 0x21, 0x00);
    pulse(t, 6);
    assert_int_equal(t->intr.level, 0); /* normal nesting again */
    eoi(t, 0x20);
    assert_int_equal(read_isr(t, 0x20), 0);
    assert_int_equal(i8259_intack(t->pic), 0x0E);
}

static void test_poll(void **st)
{
    T *t = *st;
    outb(t, 0x20, 0x0C); /* OCW3 poll */
    assert_int_equal(inb(t, 0x20), 0x00);
    pulse(t, 3);
    outb(t, 0x20, 0x0C);
    assert_int_equal(inb(t, 0x20), 0x83);
    assert_int_equal(read_isr(t, 0x20), 0x08);
    assert_int_equal(read_irr(t, 0x20), 0x00);
    /* The poll is one-shot: the next read is a status read (IRR). */
    pulse(t, 4);
    outb(t, 0x20, 0x0C);
    assert_int_equal(inb(t, 0x20), 0x00); /* IR4 is below IR3 in service */
    eoi(t, 0x20);
    outb(t, 0x20, 0x0C);
    outb(t, 0x20, 0x0A);
    assert_int_equal(inb(t, 0x21), 0x84); /* poll also answers on port 1 */
    assert_int_equal(inb(t, 0x20), 0x00);
    outb(t, 0xA0, 0x0C);
    assert_int_equal(inb(t, 0xA0), 0x00);
}

static void test_read_register_select(void **st)
{
    T *t = *st;
    pulse(t, 6);
    assert_int_equal(inb(t, 0x20), 0x40); /* after ICW1: IRR */
    assert_int_equal(i8259_intack(t->pic), 0x0E);
    outb(t, 0x20, 0x0B);
    assert_int_equal(inb(t, 0x20), 0x40); /* ISR, and it sticks */
    assert_int_equal(inb(t, 0x20), 0x40);
    outb(t, 0x20, 0x08); /* OCW3 without RR: selection unchanged */
    assert_int_equal(inb(t, 0x20), 0x40);
    outb(t, 0x20, 0x0A);
    assert_int_equal(inb(t, 0x20), 0x00);
    assert_int_equal(inb(t, 0x21), 0x00); /* port 1 always IMR */
}

static void test_icw_variants(void **st)
{
    T *t = *st;
    /* Single mode, no ICW4: ICW2 is followed directly by OCW1. */
    outb(t, 0x20, 0x12);
    outb(t, 0x21, 0x20);
    outb(t, 0x21, 0xF0);
    assert_int_equal(inb(t, 0x21), 0xF0);
    irq(t, 2, 1); /* single mode: IR2 is an ordinary input */
    assert_int_equal(i8259_intack(t->pic), 0x22);
    irq(t, 2, 0);
    /* ICW2 vector bits 2..0 are ignored in 8086 mode. */
    outb(t, 0x20, 0x11);
    outb(t, 0x21, 0x0F);
    outb(t, 0x21, 0x04);
    outb(t, 0x21, 0x01);
    pulse(t, 1);
    assert_int_equal(i8259_intack(t->pic), 0x09);
    /* ICW1 resets ISR, IMR and the edge sense; a line held high must
     * return low and high again. */
    outb(t, 0x21, 0xFF);
    irq(t, 3, 1);
    outb(t, 0x20, 0x11);
    outb(t, 0x21, 0x08);
    outb(t, 0x21, 0x04);
    outb(t, 0x21, 0x01);
    assert_int_equal(inb(t, 0x21), 0x00);
    assert_int_equal(read_isr(t, 0x20), 0x00);
    assert_int_equal(read_irr(t, 0x20), 0x00);
    assert_int_equal(t->intr.level, 0);
    irq(t, 3, 0);
    irq(t, 3, 1);
    assert_int_equal(t->intr.level, 1);
    assert_int_equal(i8259_intack(t->pic), 0x0B);
    /* LTIM: every input of the chip level-triggered. */
    outb(t, 0x20, 0x19);
    outb(t, 0x21, 0x08);
    outb(t, 0x21, 0x04);
    outb(t, 0x21, 0x01);
    assert_int_equal(t->intr.level, 1); /* IR3 still high */
    irq(t, 3, 0);
    assert_int_equal(t->intr.level, 0);
    irq(t, 4, 1);
    assert_int_equal(read_irr(t, 0x20), 0x10);
    irq(t, 4, 0);
    assert_int_equal(read_irr(t, 0x20), 0x00);
    /* ICW1 without IC4 clears AEOI set by an earlier ICW4. */
    init_pics(t, 0x03, 0x01);
    outb(t, 0x20, 0x10);
    outb(t, 0x21, 0x08);
    outb(t, 0x21, 0x04); /* ICW3; no ICW4 follows */
    outb(t, 0x21, 0x00); /* OCW1 */
    pulse(t, 5);
    assert_int_equal(i8259_intack(t->pic), 0x0D);
    assert_int_equal(read_isr(t, 0x20), 0x20);
}

static void test_irq_value_and_info(void **st)
{
    T *t = *st;
    Irq q = { i8259_set_irq, t->pic, 4 };
    irq_pulse(&q);
    assert_int_equal(i8259_intack(t->pic), 0x0C);
    i8259_set_irq(t->pic, 16, 1); /* ignored */
    i8259_set_irq(t->pic, -1, 1);
    i8259_set_irq(NULL, 3, 1);
    assert_int_equal(t->intr.level, 0);
    char buf[256];
    i8259_get_info(t->pic, buf, sizeof buf);
    assert_non_null(strstr(buf, "pic0: irr=00 imr=00 isr=10 hprio=0 irq_base=08"));
    assert_non_null(strstr(buf, "pic1: irr=00 imr=00 isr=00 hprio=0 irq_base=70"));
    char small[8];
    i8259_get_info(t->pic, small, sizeof small); /* truncates safely */
    assert_int_equal(strlen(small), 7);
}

static void test_reset(void **st)
{
    T *t = *st;
    outb(t, 0x21, 0x55);
    outb(t, 0x4D1, 0x0C);
    pulse(t, 1);
    i8259_reset(t->pic);
    assert_int_equal(inb(t, 0x21), 0x00);
    assert_int_equal(inb(t, 0x4D1), 0x00);
    assert_int_equal(inb(t, 0x20), 0x00);
    assert_int_equal(t->intr.level, 0);
}

static void test_random_writes(void **st)
{
    T *t = *st;
    static const uint16_t ports[] = { 0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1 };
    srand(8259);
    for (int i = 0; i < 200000; i++) {
        int r = rand() % 10;
        if (r < 5)
            outb(t, ports[rand() % 6], (uint8_t)rand());
        else if (r < 7)
            (void)inb(t, ports[rand() % 6]);
        else if (r < 9)
            irq(t, rand() % 20 - 2, rand() % 2);
        else {
            int v = i8259_intack(t->pic);
            assert_true(v >= 0 && v <= 255);
        }
        assert_int_equal(t->intr.level, i8259_intr_pending(t->pic));
        if (i % 50000 == 0)
            i8259_reset(t->pic);
    }
    assert_int_equal(inb(t, 0x4D0) & 0x07, 0);
    assert_int_equal(inb(t, 0x4D1) & 0x21, 0);
}

/* A fixed script of events; returns the vectors acknowledged. */
static void script(T *t, int *vec, int n)
{
    for (int i = 0; i < n; i++) {
        if (i == 2)
            pulse(t, 9);
        if (i == 4)
            irq(t, 11, 0);
        vec[i] = t->intr.level ? i8259_intack(t->pic) : -1;
        if (i % 2)
            eoi(t, 0xA0);
        eoi(t, 0x20);
    }
}

static void test_state_round_trip(void **st)
{
    T *t = *st;
    char err[160], info0[256], info1[256];
    outb(t, 0x4D1, 0x0C);
    outb(t, 0x21, 0x20);
    outb(t, 0x20, 0xC3); /* priority rotated */
    irq(t, 11, 1);
    pulse(t, 1);
    pulse(t, 6);
    /* Rotated order 4,5,6,7,0,1,2,3: IR6 beats IR1 and the cascade. */
    assert_int_equal(i8259_intack(t->pic), 0x0E);
    outb(t, 0x20, 0x0B); /* master reads ISR */
    i8259_get_info(t->pic, info0, sizeof info0);
    int lvl0 = t->intr.level;

    assert_int_equal(state_check(&i8259_state, sizeof(I8259), err, sizeof err), 0);
    long n = state_save(&i8259_state, t->pic, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&i8259_state, t->pic, buf, (size_t)n), n);

    int ref[8], got[8];
    script(t, ref, 8);

    i8259_reset(t->pic);
    assert_int_equal(inb(t, 0x4D1), 0x00);
    assert_int_equal(state_load(&i8259_state, t->pic, 1, buf, (size_t)n, err, sizeof err), 0);
    i8259_get_info(t->pic, info1, sizeof info1);
    assert_string_equal(info0, info1);
    assert_int_equal(t->intr.level, lvl0); /* INTR re-driven */
    assert_int_equal(inb(t, 0x20), 0x40);  /* OCW3 selection (ISR) restored */
    assert_int_equal(inb(t, 0xA0), 0x08);  /* slave IRR: IRQ 11 level high */
    script(t, got, 8);
    assert_memory_equal(ref, got, sizeof ref);

    /* Invalid values are rejected by post_load with a message. */
    buf[8] = 9; /* pic[0].init_state */
    assert_int_equal(state_load(&i8259_state, t->pic, 1, buf, (size_t)n, err, sizeof err), -1);
    assert_non_null(strstr(err, "i8259"));
    free(buf);
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T_(test_init_and_ack),
        T_(test_priority_and_nesting),
        T_(test_imr),
        T_(test_cascade),
        T_(test_special_fully_nested),
        T_(test_spurious_master),
        T_(test_spurious_slave),
        T_(test_elcr),
        T_(test_auto_eoi),
        T_(test_rotation),
        T_(test_rotate_in_aeoi),
        T_(test_specific_eoi),
        T_(test_special_mask_mode),
        T_(test_poll),
        T_(test_read_register_select),
        T_(test_icw_variants),
        T_(test_irq_value_and_info),
        T_(test_reset),
        T_(test_random_writes),
        T_(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
