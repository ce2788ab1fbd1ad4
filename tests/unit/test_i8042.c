/*
 * test_i8042.c - 8042 controller with PS/2 keyboard and mouse, driven
 * through ports 0x60/0x64 on a test bus.
 *
 * Covers: status and command byte, the controller commands SeaBIOS uses
 * (hardware-notes 1.7) and Linux's i8042 probe (CTR read, 0xAA, 0xD3 aux
 * loop with AUXB and IRQ12, 0xA9, 0xA7/0xA8 detection via CTR bit 5),
 * keyboard reset/identify/LEDs/scan code sets/echo/resend, set 2 -> set 1
 * translation, keyboard-side set 1 and set 3, IRQ1/IRQ12 levels and edges,
 * interface disable, mouse reset/status/IntelliMouse ID/packets/overflow/
 * remote/wrap modes, A20 via 0xD1 and 0xDD/0xDF, reset via 0xFE and 0xD1,
 * random port writes, and a snapshot round trip of all three sections.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i8042.h"
#include "devices/ps2.h"

static int lvl[3], rises[3]; /* 0 = IRQ1, 1 = IRQ12, 2 = A20 */
static int resets;

static void line_cb(void *o, int n, int level)
{
    (void)o;
    if (level && !lvl[n])
        rises[n]++;
    lvl[n] = level;
}

static void reset_cb(void *o)
{
    (void)o;
    resets++;
}

typedef struct {
    IoBus bus;
    I8042 *kbc;
} Env;

static Env *env_new(void)
{
    Env *e = calloc(1, sizeof(*e));
    iobus_init(&e->bus);
    memset(lvl, 0, sizeof(lvl));
    memset(rises, 0, sizeof(rises));
    resets = 0;
    Irq i1 = { line_cb, NULL, 0 }, i12 = { line_cb, NULL, 1 }, a20 = { line_cb, NULL, 2 };
    e->kbc = i8042_new(&e->bus, i1, i12, a20, reset_cb, NULL);
    assert_non_null(e->kbc);
    return e;
}

static void env_free(Env *e)
{
    i8042_free(e->kbc);
    free(e);
}

static uint8_t status(Env *e)
{
    return (uint8_t)iobus_read(&e->bus, 0x64, 1);
}

static void cmd(Env *e, uint8_t c)
{
    iobus_write(&e->bus, 0x64, c, 1);
}

static void data(Env *e, uint8_t d)
{
    iobus_write(&e->bus, 0x60, d, 1);
}

/* Read one byte that must be waiting; check its source (aux or not). */
static uint8_t get(Env *e, bool aux)
{
    uint8_t st = status(e);
    assert_true(st & I8042_STR_OBF);
    assert_int_equal(!!(st & I8042_STR_AUXB), aux);
    return (uint8_t)iobus_read(&e->bus, 0x60, 1);
}

static void expect_empty(Env *e)
{
    assert_int_equal(status(e) & I8042_STR_OBF, 0);
}

static uint8_t cmd_read(Env *e, uint8_t c)
{
    cmd(e, c);
    return get(e, false);
}

static void write_ctr(Env *e, uint8_t v)
{
    cmd(e, 0x60);
    data(e, v);
}

static void kbd_send(Env *e, uint8_t b)
{
    data(e, b);
}

static void aux_send(Env *e, uint8_t b)
{
    cmd(e, 0xD4);
    data(e, b);
}

static void key(Env *e, const uint8_t *seq, int n)
{
    ps2_kbd_put_scancode_set2(i8042_kbd(e->kbc), seq, n);
}

static void test_power_on(void **st)
{
    Env *e = env_new();
    assert_int_equal(status(e), I8042_STR_A2 | I8042_STR_INH);
    assert_int_equal(lvl[2], 1); /* A20 enabled */
    assert_int_equal(cmd_read(e, 0x20), I8042_CTR_KBDINT | I8042_CTR_AUXINT);
    /* Reading CTR raised IRQ1 (KBDINT) and the read lowered it. */
    assert_int_equal(rises[0], 1);
    assert_int_equal(lvl[0], 0);
    /* 0x60 without OBF returns the stale byte. */
    assert_int_equal(iobus_read(&e->bus, 0x60, 1), 0x03);
    env_free(e);
}

static void test_seabios_sequence(void **st)
{
    Env *e = env_new();
    /* ps2port.c: disable both ports, self test, interface test. */
    write_ctr(e, I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
    assert_int_equal(status(e) & I8042_STR_A2, 0); /* last write was data */
    assert_int_equal(cmd_read(e, 0xAA), 0x55);
    assert_true(status(e) & I8042_STR_SYS);
    assert_true(status(e) & I8042_STR_A2);
    assert_int_equal(cmd_read(e, 0xAB), 0x00);
    /* Enable the keyboard port and reset the keyboard: FA AA. */
    write_ctr(e, I8042_CTR_AUXDIS);
    kbd_send(e, 0xFF);
    assert_int_equal(get(e, false), 0xFA);
    assert_int_equal(get(e, false), 0xAA);
    expect_empty(e);
    /* Disable scanning, set scan code set 2, enable. */
    kbd_send(e, 0xF5);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0xF0);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0x02);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0xF4);
    assert_int_equal(get(e, false), 0xFA);
    /* Final CTR with translation and keyboard interrupt. */
    write_ctr(e, I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE | I8042_CTR_AUXDIS);
    assert_int_equal(cmd_read(e, 0x20),
                     I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_XLATE | I8042_CTR_AUXDIS);
    /* 0xAD/0xAE toggle CTR bit 4; 0xA7/0xA8 bit 5. */
    cmd(e, 0xAD);
    assert_true(cmd_read(e, 0x20) & I8042_CTR_KBDDIS);
    cmd(e, 0xAE);
    assert_false(cmd_read(e, 0x20) & I8042_CTR_KBDDIS);
    cmd(e, 0xA8);
    assert_false(cmd_read(e, 0x20) & I8042_CTR_AUXDIS);
    cmd(e, 0xA7);
    assert_true(cmd_read(e, 0x20) & I8042_CTR_AUXDIS);
    /* LEDs. */
    kbd_send(e, 0xED);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0x07);
    assert_int_equal(get(e, false), 0xFA);
    assert_int_equal(ps2_kbd_leds(i8042_kbd(e->kbc)), 7);
    env_free(e);
}

static void test_linux_probe(void **st)
{
    Env *e = env_new();
    /* i8042_controller_check: flush, read CTR. */
    assert_int_equal(cmd_read(e, 0x20), 0x03);
    /* i8042_controller_init: disable ports and IRQs. */
    write_ctr(e, I8042_CTR_KBDDIS | I8042_CTR_AUXDIS);
    assert_int_equal(cmd_read(e, 0xAA), 0x55);
    /* i8042_check_aux: AUX loop returns the byte as aux data. */
    cmd(e, 0xD3);
    data(e, 0x5A);
    assert_int_equal(get(e, true), 0x5A);
    assert_int_equal(cmd_read(e, 0xA9), 0x00);
    cmd(e, 0xA7);
    assert_true(cmd_read(e, 0x20) & I8042_CTR_AUXDIS);
    cmd(e, 0xA8);
    assert_false(cmd_read(e, 0x20) & I8042_CTR_AUXDIS);
    /* AUX IRQ test: enable AUXINT, loop 0xA5, expect IRQ12 with AUXB. */
    write_ctr(e, I8042_CTR_AUXINT | I8042_CTR_KBDDIS);
    rises[1] = 0;
    cmd(e, 0xD3);
    data(e, 0xA5);
    assert_int_equal(rises[1], 1);
    assert_int_equal(lvl[1], 1);
    assert_int_equal(lvl[0], 0);
    assert_true(status(e) & I8042_STR_AUXB);
    assert_int_equal(get(e, true), 0xA5);
    assert_int_equal(lvl[1], 0);
    /* Keyboard loop 0xD2 appears as keyboard data. */
    cmd(e, 0xD2);
    data(e, 0x33);
    assert_int_equal(get(e, false), 0x33);
    env_free(e);
}

static void test_other_controller_commands(void **st)
{
    Env *e = env_new();
    write_ctr(e, 0x00);
    assert_int_equal(cmd_read(e, 0xA1), 0x00);
    assert_int_equal(cmd_read(e, 0xA4), 0xF1);
    assert_int_equal(cmd_read(e, 0xC0), 0x80);
    assert_int_equal(cmd_read(e, 0xE0), 0x00);
    /* Internal RAM beyond the CTR. */
    cmd(e, 0x65);
    data(e, 0x77);
    assert_int_equal(cmd_read(e, 0x25), 0x77);
    /* Password load consumes bytes up to 0 without reaching the keyboard. */
    cmd(e, 0xA5);
    data(e, 0x41);
    data(e, 0x42);
    data(e, 0x00);
    expect_empty(e);
    /* SYS bit of CTR mirrors into the status register. */
    write_ctr(e, I8042_CTR_SYS);
    assert_true(status(e) & I8042_STR_SYS);
    write_ctr(e, 0);
    assert_false(status(e) & I8042_STR_SYS);
    env_free(e);
}

static void test_keyboard_commands(void **st)
{
    Env *e = env_new();
    write_ctr(e, 0x00); /* no translation, no IRQ */
    kbd_send(e, 0xF2);
    assert_int_equal(get(e, false), 0xFA);
    assert_int_equal(get(e, false), 0xAB);
    assert_int_equal(get(e, false), 0x83);
    kbd_send(e, 0xEE);
    assert_int_equal(get(e, false), 0xEE);
    kbd_send(e, 0xFE); /* resend: last byte sent */
    assert_int_equal(get(e, false), 0xEE);
    kbd_send(e, 0xF0);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0x00);
    assert_int_equal(get(e, false), 0xFA);
    assert_int_equal(get(e, false), 0x02);
    kbd_send(e, 0xF0);
    get(e, false);
    kbd_send(e, 0x07); /* invalid set */
    assert_int_equal(get(e, false), 0xFE);
    kbd_send(e, 0xF3);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0x20);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0xE0); /* unknown */
    assert_int_equal(get(e, false), 0xFE);
    /* A command in place of the LED argument is executed. */
    kbd_send(e, 0xED);
    assert_int_equal(get(e, false), 0xFA);
    kbd_send(e, 0xF2);
    assert_int_equal(get(e, false), 0xFA);
    assert_int_equal(get(e, false), 0xAB);
    assert_int_equal(get(e, false), 0x83);
    /* Disable: keys dropped; defaults reload set 2; enable again. */
    kbd_send(e, 0xF5);
    get(e, false);
    assert_false(ps2_kbd_enabled(i8042_kbd(e->kbc)));
    key(e, (const uint8_t[]){ 0x1C }, 1);
    expect_empty(e);
    kbd_send(e, 0xF4);
    get(e, false);
    key(e, (const uint8_t[]){ 0x1C }, 1);
    assert_int_equal(get(e, false), 0x1C);
    /* Identify with translation: 0x83 becomes 0x41. */
    write_ctr(e, I8042_CTR_XLATE);
    kbd_send(e, 0xF2);
    assert_int_equal(get(e, false), 0xFA);
    assert_int_equal(get(e, false), 0xAB);
    assert_int_equal(get(e, false), 0x41);
    env_free(e);
}

static void expect_seq(Env *e, const uint8_t *want, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(get(e, false), want[i]);
    expect_empty(e);
}

static void test_translation(void **st)
{
    Env *e = env_new();
    write_ctr(e, I8042_CTR_XLATE | I8042_CTR_SYS);
    key(e, (const uint8_t[]){ 0x1C }, 1);                  /* A make */
    expect_seq(e, (const uint8_t[]){ 0x1E }, 1);
    key(e, (const uint8_t[]){ 0xF0, 0x1C }, 2);            /* A break */
    expect_seq(e, (const uint8_t[]){ 0x9E }, 1);
    key(e, (const uint8_t[]){ 0xE0, 0x75 }, 2);            /* Up make */
    expect_seq(e, (const uint8_t[]){ 0xE0, 0x48 }, 2);
    key(e, (const uint8_t[]){ 0xE0, 0xF0, 0x75 }, 3);      /* Up break */
    expect_seq(e, (const uint8_t[]){ 0xE0, 0xC8 }, 2);
    key(e, (const uint8_t[]){ 0x83 }, 1);                  /* F7 */
    expect_seq(e, (const uint8_t[]){ 0x41 }, 1);
    key(e, (const uint8_t[]){ 0x76 }, 1);                  /* Esc */
    expect_seq(e, (const uint8_t[]){ 0x01 }, 1);
    key(e, (const uint8_t[]){ 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77 }, 8);
    expect_seq(e, (const uint8_t[]){ 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5 }, 6);

    /* Untranslated: raw set 2. */
    write_ctr(e, 0x00);
    key(e, (const uint8_t[]){ 0xE0, 0xF0, 0x75 }, 3);
    expect_seq(e, (const uint8_t[]){ 0xE0, 0xF0, 0x75 }, 3);

    /* Keyboard in set 1 without translation converts by itself. */
    kbd_send(e, 0xF0);
    get(e, false);
    kbd_send(e, 0x01);
    get(e, false);
    assert_int_equal(ps2_kbd_scancode_set(i8042_kbd(e->kbc)), 1);
    key(e, (const uint8_t[]){ 0xF0, 0x1C }, 2);
    expect_seq(e, (const uint8_t[]){ 0x9E }, 1);

    /* Set 3: single-byte codes, F0 break, no E0. */
    kbd_send(e, 0xF0);
    get(e, false);
    kbd_send(e, 0x03);
    get(e, false);
    key(e, (const uint8_t[]){ 0x76 }, 1);                  /* Esc */
    expect_seq(e, (const uint8_t[]){ 0x08 }, 1);
    key(e, (const uint8_t[]){ 0xF0, 0x76 }, 2);
    expect_seq(e, (const uint8_t[]){ 0xF0, 0x08 }, 2);
    key(e, (const uint8_t[]){ 0xE0, 0xF0, 0x75 }, 3);      /* Up break */
    expect_seq(e, (const uint8_t[]){ 0xF0, 0x63 }, 2);
    key(e, (const uint8_t[]){ 0x1C }, 1);                  /* A same as set 2 */
    expect_seq(e, (const uint8_t[]){ 0x1C }, 1);
    key(e, (const uint8_t[]){ 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77 }, 8);
    expect_seq(e, (const uint8_t[]){ 0x62 }, 1);
    /* Reset returns to set 2. */
    kbd_send(e, 0xFF);
    get(e, false);
    get(e, false);
    assert_int_equal(ps2_kbd_scancode_set(i8042_kbd(e->kbc)), 2);
    env_free(e);
}

static void test_irq1_and_disable(void **st)
{
    Env *e = env_new();
    write_ctr(e, I8042_CTR_KBDINT | I8042_CTR_XLATE);
    rises[0] = 0;
    key(e, (const uint8_t[]){ 0xE0, 0x75 }, 2);
    assert_int_equal(lvl[0], 1);
    assert_int_equal(rises[0], 1);
    assert_int_equal(iobus_read(&e->bus, 0x60, 1), 0xE0);
    /* Next byte loaded at once: a fresh rising edge. */
    assert_int_equal(lvl[0], 1);
    assert_int_equal(rises[0], 2);
    assert_int_equal(iobus_read(&e->bus, 0x60, 1), 0x48);
    assert_int_equal(lvl[0], 0);
    /* No IRQ without KBDINT. */
    write_ctr(e, I8042_CTR_XLATE);
    rises[0] = 0;
    key(e, (const uint8_t[]){ 0x1C }, 1);
    assert_int_equal(rises[0], 0);
    assert_int_equal(get(e, false), 0x1E);
    /* Keyboard interface disabled: bytes wait in the keyboard. */
    write_ctr(e, I8042_CTR_KBDINT | I8042_CTR_KBDDIS);
    key(e, (const uint8_t[]){ 0x1C }, 1);
    expect_empty(e);
    assert_int_equal(lvl[0], 0);
    cmd(e, 0xAE);
    assert_int_equal(lvl[0], 1);
    assert_int_equal(get(e, false), 0x1C);
    /* Queue overflow: the keyboard sends its overrun code. */
    write_ctr(e, I8042_CTR_KBDDIS);
    for (int i = 0; i < 20; i++)
        key(e, (const uint8_t[]){ 0xE0, 0x75 }, 2);
    cmd(e, 0xAE);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(get(e, false), 0xE0);
        assert_int_equal(get(e, false), 0x75);
    }
    expect_empty(e);
    env_free(e);
}

static void test_overrun_code(void **st)
{
    Env *e = env_new();
    write_ctr(e, I8042_CTR_KBDDIS);
    for (int i = 0; i < 15; i++)
        key(e, (const uint8_t[]){ 0x1C }, 1);
    key(e, (const uint8_t[]){ 0xE0, 0x75 }, 2); /* does not fit: overrun */
    key(e, (const uint8_t[]){ 0x1C }, 1);       /* queue full: dropped */
    cmd(e, 0xAE);
    for (int i = 0; i < 15; i++)
        assert_int_equal(get(e, false), 0x1C);
    assert_int_equal(get(e, false), 0x00);
    expect_empty(e);
    env_free(e);
}

static void mouse_enable_intellimouse(Env *e)
{
    static const uint8_t rates[3] = { 200, 100, 80 };
    for (int i = 0; i < 3; i++) {
        aux_send(e, 0xF3);
        assert_int_equal(get(e, true), 0xFA);
        aux_send(e, rates[i]);
        assert_int_equal(get(e, true), 0xFA);
    }
}

static void test_mouse(void **st)
{
    Env *e = env_new();
    write_ctr(e, I8042_CTR_AUXINT | I8042_CTR_KBDINT);
    aux_send(e, 0xFF);
    assert_int_equal(lvl[1], 1);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0xAA);
    assert_int_equal(get(e, true), 0x00);
    assert_int_equal(lvl[1], 0);
    assert_int_equal(lvl[0], 0);
    aux_send(e, 0xF2);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0x00);
    /* Status after reset: stream, disabled, 1:1, res 2, 100/s. */
    aux_send(e, 0xE9);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0x00);
    assert_int_equal(get(e, true), 0x02);
    assert_int_equal(get(e, true), 100);
    /* Disabled stream mode: motion is not reported. */
    ps2_mouse_event(i8042_mouse(e->kbc), 5, 5, 0, 0);
    expect_empty(e);
    /* IntelliMouse knock -> ID 3. */
    mouse_enable_intellimouse(e);
    aux_send(e, 0xF2);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0x03);
    aux_send(e, 0xE8);
    get(e, true);
    aux_send(e, 0x03);
    get(e, true);
    aux_send(e, 0xE7);
    get(e, true);
    aux_send(e, 0xF4);
    assert_int_equal(get(e, true), 0xFA);
    PS2Mouse *m = i8042_mouse(e->kbc);
    /* Status: enabled, 2:1, left button. */
    ps2_mouse_event(m, 0, 0, 0, PS2_MOUSE_LEFT);
    uint8_t p[4];
    for (int i = 0; i < 4; i++)
        p[i] = get(e, true);
    assert_int_equal(p[0], 0x09);
    aux_send(e, 0xE9);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0x34);
    assert_int_equal(get(e, true), 0x03);
    assert_int_equal(get(e, true), 80);
    aux_send(e, 0xE6); /* back to 1:1 */
    get(e, true);
    /* 4-byte packets: dx=5, dy=3 up (screen -3), wheel 1, left. */
    rises[1] = 0;
    ps2_mouse_event(m, 5, -3, 1, PS2_MOUSE_LEFT);
    assert_int_equal(rises[1], 1);
    for (int i = 0; i < 4; i++)
        p[i] = get(e, true);
    assert_int_equal(p[0], 0x09);
    assert_int_equal(p[1], 5);
    assert_int_equal(p[2], 3);
    assert_int_equal(p[3], 1);
    /* Negative motion: sign bits. */
    ps2_mouse_event(m, -10, 20, -2, PS2_MOUSE_RIGHT | PS2_MOUSE_MIDDLE);
    for (int i = 0; i < 4; i++)
        p[i] = get(e, true);
    assert_int_equal(p[0], 0x08 | 0x10 | 0x20 | 0x06);
    assert_int_equal(p[1], 0xF6);
    assert_int_equal(p[2], 0xEC);
    assert_int_equal(p[3], 0xFE);
    /* Overflow: clamped to 9 bits with X/Y overflow bits. */
    ps2_mouse_event(m, 300, 400, 0, 0);
    for (int i = 0; i < 4; i++)
        p[i] = get(e, true);
    assert_int_equal(p[0], 0x08 | 0x40 | 0x80 | 0x20);
    assert_int_equal(p[1], 0xFF);
    assert_int_equal(p[2], 0x00); /* -256 */
    expect_empty(e);
    /* Motion while the queue is full is accumulated and sent later. */
    write_ctr(e, I8042_CTR_AUXDIS);
    for (int i = 0; i < 4; i++)
        ps2_mouse_event(m, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        ps2_mouse_event(m, 2, 0, 0, 0);
    cmd(e, 0xA8);
    int got = 0, sum = 0;
    while (status(e) & I8042_STR_OBF) {
        uint8_t b0 = get(e, true);
        sum += get(e, true);
        get(e, true);
        get(e, true);
        assert_int_equal(b0, 0x08);
        got++;
    }
    assert_int_equal(sum, 4 + 6);
    assert_int_equal(got, 5); /* 4 packets fit, the rest merged into one */
    env_free(e);
}

static void test_mouse_modes(void **st)
{
    Env *e = env_new();
    write_ctr(e, 0x00);
    PS2Mouse *m = i8042_mouse(e->kbc);
    /* Remote mode: no streaming, 0xEB reads a packet. */
    aux_send(e, 0xF0);
    get(e, true);
    aux_send(e, 0xF4);
    get(e, true);
    ps2_mouse_event(m, 7, 0, 0, 0);
    expect_empty(e);
    aux_send(e, 0xEB);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0x08);
    assert_int_equal(get(e, true), 7);
    assert_int_equal(get(e, true), 0);
    expect_empty(e);
    aux_send(e, 0xEA); /* stream again */
    get(e, true);
    /* Wrap mode echoes everything but 0xEC/0xFF. */
    aux_send(e, 0xEE);
    assert_int_equal(get(e, true), 0xFA);
    aux_send(e, 0x12);
    assert_int_equal(get(e, true), 0x12);
    aux_send(e, 0xF2);
    assert_int_equal(get(e, true), 0xF2);
    aux_send(e, 0xEC);
    assert_int_equal(get(e, true), 0xFA);
    aux_send(e, 0xF2);
    assert_int_equal(get(e, true), 0xFA);
    assert_int_equal(get(e, true), 0x00);
    /* Resend and unknown command. */
    aux_send(e, 0xFE);
    assert_int_equal(get(e, true), 0x00);
    aux_send(e, 0x42);
    assert_int_equal(get(e, true), 0xFE);
    /* Defaults: rate 100, res 2. */
    aux_send(e, 0xF3);
    get(e, true);
    aux_send(e, 40);
    get(e, true);
    aux_send(e, 0xF6);
    get(e, true);
    aux_send(e, 0xE9);
    get(e, true);
    get(e, true);
    assert_int_equal(get(e, true), 2);
    assert_int_equal(get(e, true), 100);
    /* Broken knock order does not give ID 3. */
    static const uint8_t rates[3] = { 100, 200, 80 };
    for (int i = 0; i < 3; i++) {
        aux_send(e, 0xF3);
        get(e, true);
        aux_send(e, rates[i]);
        get(e, true);
    }
    assert_int_equal(ps2_mouse_id(m), 0);
    env_free(e);
}

static void test_a20_and_reset(void **st)
{
    Env *e = env_new();
    write_ctr(e, 0x00);
    assert_int_equal(lvl[2], 1);
    cmd(e, 0xD1);
    data(e, 0xDD); /* A20 off, reset inactive */
    assert_int_equal(lvl[2], 0);
    assert_int_equal(resets, 0);
    assert_int_equal(cmd_read(e, 0xD0), 0xDD & ~0x30);
    cmd(e, 0xD1);
    data(e, 0xDF);
    assert_int_equal(lvl[2], 1);
    cmd(e, 0xDD);
    assert_int_equal(lvl[2], 0);
    cmd(e, 0xDF);
    assert_int_equal(lvl[2], 1);
    /* The output port shows OBF of the pending byte in bit 4. */
    cmd(e, 0xD2);
    data(e, 0x11);
    cmd(e, 0xD0);
    assert_int_equal(get(e, false), 0x11);
    assert_int_equal(get(e, false) & 0x30, 0x10);
    /* Pulse commands: 0xFE resets, 0xFF does nothing. */
    cmd(e, 0xFF);
    assert_int_equal(resets, 0);
    cmd(e, 0xFE);
    assert_int_equal(resets, 1);
    /* Writing output port bit 0 = 0 resets too. */
    cmd(e, 0xD1);
    data(e, 0xDE);
    assert_int_equal(resets, 2);
    /* Controller reset restores A20. */
    i8042_reset(e->kbc);
    assert_int_equal(lvl[2], 1);
    env_free(e);
}

static void test_random_writes(void **st)
{
    Env *e = env_new();
    srand(4242);
    for (int i = 0; i < 200000; i++) {
        int r = rand() % 8;
        uint8_t v = (uint8_t)rand();
        switch (r) {
        case 0:
            cmd(e, v);
            break;
        case 1:
        case 2:
            data(e, v);
            break;
        case 3:
            iobus_read(&e->bus, 0x60, 1);
            break;
        case 4:
            status(e);
            break;
        case 5: {
            uint8_t seq[8];
            int n = 1 + rand() % 8;
            for (int k = 0; k < n; k++)
                seq[k] = (uint8_t)rand();
            key(e, seq, n);
            break;
        }
        case 6:
            ps2_mouse_event(i8042_mouse(e->kbc), rand() % 2001 - 1000, rand() % 2001 - 1000,
                            rand() % 21 - 10, rand());
            break;
        default:
            aux_send(e, v);
            break;
        }
    }
    /* Still functional. */
    i8042_reset(e->kbc);
    write_ctr(e, 0x00);
    assert_int_equal(cmd_read(e, 0xAA), 0x55);
    env_free(e);
}

static long save_all(Env *e, uint8_t *buf[3], long len[3])
{
    const StateDesc *d[3] = { &i8042_state, &ps2_kbd_state, &ps2_mouse_state };
    void *o[3] = { e->kbc, i8042_kbd(e->kbc), i8042_mouse(e->kbc) };
    for (int i = 0; i < 3; i++) {
        len[i] = state_save(d[i], o[i], NULL, 0);
        assert_true(len[i] > 0);
        buf[i] = malloc((size_t)len[i]);
        assert_int_equal(state_save(d[i], o[i], buf[i], (size_t)len[i]), len[i]);
    }
    return 0;
}

static void test_state_round_trip(void **st)
{
    Env *e = env_new();
    write_ctr(e, I8042_CTR_XLATE | I8042_CTR_KBDINT | I8042_CTR_AUXINT);
    mouse_enable_intellimouse(e);
    aux_send(e, 0xF4);
    get(e, true);
    kbd_send(e, 0xED);
    get(e, false);
    kbd_send(e, 0x05);
    get(e, false);
    cmd(e, 0xD1);
    data(e, 0xDD);
    /* Pending output: one key in the buffer, one more queued, a packet. */
    key(e, (const uint8_t[]){ 0xE0, 0x75 }, 2);
    ps2_mouse_event(i8042_mouse(e->kbc), 3, 0, 0, 0);
    assert_int_equal(lvl[0], 1);

    uint8_t *buf[3];
    long len[3];
    save_all(e, buf, len);

    i8042_reset(e->kbc);
    assert_int_equal(lvl[2], 1);
    const StateDesc *d[3] = { &i8042_state, &ps2_kbd_state, &ps2_mouse_state };
    void *o[3] = { e->kbc, i8042_kbd(e->kbc), i8042_mouse(e->kbc) };
    char err[128];
    for (int i = 0; i < 3; i++)
        assert_int_equal(state_load(d[i], o[i], 1, buf[i], (size_t)len[i], err, sizeof(err)), 0);
    assert_int_equal(ps2_kbd_leds(i8042_kbd(e->kbc)), 5);
    assert_int_equal(ps2_mouse_id(i8042_mouse(e->kbc)), 3);
    assert_int_equal(get(e, false), 0xE0);
    assert_int_equal(get(e, false), 0x48);
    assert_int_equal(get(e, true), 0x08);
    assert_int_equal(get(e, true), 3);
    assert_int_equal(get(e, true), 0);
    assert_int_equal(get(e, true), 0);
    expect_empty(e);
    assert_int_equal(cmd_read(e, 0xD0) & 0x02, 0); /* A20 still off */
    /* Corrupt queue count is rejected. */
    buf[1][PS2_QUEUE_SIZE + 1] = 200;
    assert_int_equal(state_load(&ps2_kbd_state, i8042_kbd(e->kbc), 1, buf[1], (size_t)len[1], err,
                                sizeof(err)), -1);
    for (int i = 0; i < 3; i++)
        free(buf[i]);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_power_on),
        cmocka_unit_test(test_seabios_sequence),
        cmocka_unit_test(test_linux_probe),
        cmocka_unit_test(test_other_controller_commands),
        cmocka_unit_test(test_keyboard_commands),
        cmocka_unit_test(test_translation),
        cmocka_unit_test(test_irq1_and_disable),
        cmocka_unit_test(test_overrun_code),
        cmocka_unit_test(test_mouse),
        cmocka_unit_test(test_mouse_modes),
        cmocka_unit_test(test_a20_and_reset),
        cmocka_unit_test(test_random_writes),
        cmocka_unit_test(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
