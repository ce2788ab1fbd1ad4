/*
 * test_uart16550.c - 16550A UART at 0x3F8 on a test bus, virtual clock in
 * ICOUNT mode (1 ns per instruction), IRQ recorder and a capturing backend.
 *
 * Covers: reset values, divisor latch (DLAB), transmit to the backend with
 * THRE/TEMT, THRE interrupt (cleared by IIR read and THR write, re-raised
 * on IER write), 16450-mode receive and overrun, FIFO fill/overflow and
 * trigger levels 1/4/8/14, character timeout after 4 character times, LSR
 * PE/FE/BI revealed at the FIFO top and LSR bit 7, modem status deltas and
 * TERI, the full IIR priority chain, loopback (TX->RX, MCR->MSR, break),
 * OUT2 gating of the IRQ, FCR resets, random register writes, snapshot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/uart16550.h"
#include "devices/vclock.h"

#define BASE 0x3F8

static uint64_t icount;
static uint64_t icount_fn(void *o)
{
    (void)o;
    return icount;
}

static int irq_level, irq_rises;
static void irq_cb(void *o, int n, int level)
{
    (void)o;
    (void)n;
    if (level && !irq_level)
        irq_rises++;
    irq_level = level;
}

static uint8_t out_buf[4096];
static size_t out_len;
static void be_write(void *o, const uint8_t *buf, size_t len)
{
    (void)o;
    for (size_t i = 0; i < len && out_len < sizeof(out_buf); i++)
        out_buf[out_len++] = buf[i];
}

typedef struct {
    IoBus bus;
    VClock clk;
    Uart16550 *u;
} Env;

static Env *env_new(void)
{
    Env *e = calloc(1, sizeof(*e));
    iobus_init(&e->bus);
    icount = 0;
    vclock_init(&e->clk, VCLOCK_ICOUNT, 0);
    e->clk.icount_fn = icount_fn;
    irq_level = irq_rises = 0;
    out_len = 0;
    Irq irq = { irq_cb, NULL, 4 };
    CharBackend be = { be_write, NULL };
    e->u = uart16550_new(&e->bus, &e->clk, BASE, irq, be);
    assert_non_null(e->u);
    return e;
}

static void env_free(Env *e)
{
    uart16550_free(e->u);
    free(e);
}

static uint8_t rd(Env *e, int reg)
{
    return (uint8_t)iobus_read(&e->bus, (uint16_t)(BASE + reg), 1);
}

static void wr(Env *e, int reg, uint8_t v)
{
    iobus_write(&e->bus, (uint16_t)(BASE + reg), v, 1);
}

static void run_to(Env *e, int64_t t)
{
    for (;;) {
        int64_t d = vclock_deadline(&e->clk);
        if (d > t)
            break;
        if ((int64_t)icount < d)
            icount = (uint64_t)d;
        vclock_run_timers(&e->clk);
    }
    if ((int64_t)icount < t)
        icount = (uint64_t)t;
    vclock_run_timers(&e->clk);
}

static void rx(Env *e, const char *s)
{
    uart16550_receive(e->u, (const uint8_t *)s, strlen(s));
}

/* 115200 baud 8N1: 10 bits of 16 clocks at 1.8432 MHz, in ns (floor). */
#define CHAR_NS_115200 86805LL

static void set_115200_8n1(Env *e)
{
    wr(e, UART_LCR, UART_LCR_DLAB | 0x03);
    wr(e, UART_DLL, 1);
    wr(e, UART_DLM, 0);
    wr(e, UART_LCR, 0x03);
}

static void test_reset_values(void **st)
{
    Env *e = env_new();
    assert_int_equal(rd(e, UART_IER), 0x00);
    assert_int_equal(rd(e, UART_IIR), 0x01);
    assert_int_equal(rd(e, UART_LCR), 0x00);
    assert_int_equal(rd(e, UART_MCR), 0x00);
    assert_int_equal(rd(e, UART_LSR), 0x60);
    assert_int_equal(rd(e, UART_MSR), 0xB0); /* CTS, DSR, DCD from the host */
    assert_int_equal(rd(e, UART_SCR), 0x00);
    wr(e, UART_SCR, 0x5A);
    assert_int_equal(rd(e, UART_SCR), 0x5A);
    assert_int_equal(uart16550_can_receive(e->u), 1);
    assert_int_equal(irq_level, 0);
    env_free(e);
}

static void test_divisor_latch(void **st)
{
    Env *e = env_new();
    wr(e, UART_LCR, UART_LCR_DLAB);
    assert_int_equal(rd(e, UART_DLL), 12); /* 9600 baud after reset */
    assert_int_equal(rd(e, UART_DLM), 0);
    wr(e, UART_DLL, 0x01);
    wr(e, UART_DLM, 0x80);
    assert_int_equal(rd(e, UART_DLL), 0x01);
    assert_int_equal(rd(e, UART_DLM), 0x80);
    assert_int_equal(out_len, 0); /* DLL write did not transmit */
    wr(e, UART_LCR, 0x03);
    assert_int_equal(rd(e, UART_IER), 0x00); /* IER untouched by DLM */
    wr(e, UART_IER, 0xFF);
    assert_int_equal(rd(e, UART_IER), 0x0F);
    wr(e, UART_LCR, UART_LCR_DLAB | 0x03);
    assert_int_equal(rd(e, UART_DLM), 0x80);
    assert_int_equal(rd(e, UART_LCR), 0x83);
    env_free(e);
}

static void test_transmit_and_thre(void **st)
{
    Env *e = env_new();
    set_115200_8n1(e);
    wr(e, UART_THR, 'h');
    wr(e, UART_THR, 'i');
    assert_int_equal(out_len, 2);
    assert_memory_equal(out_buf, "hi", 2);
    assert_int_equal(rd(e, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
                     UART_LSR_THRE | UART_LSR_TEMT);
    /* THRE interrupt: needs OUT2 on a PC. */
    wr(e, UART_IER, UART_IER_ETBEI);
    assert_int_equal(rd(e, UART_IIR), 0x02);  /* read clears it */
    assert_int_equal(rd(e, UART_IIR), 0x01);
    assert_int_equal(irq_level, 0);           /* OUT2 clear: gated */
    wr(e, UART_MCR, UART_MCR_OUT2);
    /* Linux's THRE test: IER 0 then THRI re-raises THRE. */
    wr(e, UART_IER, 0);
    wr(e, UART_IER, UART_IER_ETBEI);
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(e, UART_IIR), 0x02);
    assert_int_equal(irq_level, 0);
    /* Writing IER again without a 0->1 change does not re-raise. */
    wr(e, UART_IER, UART_IER_ETBEI);
    assert_int_equal(rd(e, UART_IIR), 0x01);
    /* A THR write empties at once and raises THRE again (new edge). */
    irq_rises = 0;
    wr(e, UART_THR, '!');
    assert_int_equal(irq_rises, 1);
    assert_int_equal(rd(e, UART_IIR), 0x02);
    assert_int_equal(out_len, 3);
    env_free(e);
}

static void test_16450_receive_overrun(void **st)
{
    Env *e = env_new();
    wr(e, UART_MCR, UART_MCR_OUT2);
    wr(e, UART_IER, UART_IER_ERBFI | UART_IER_ELSI);
    rx(e, "a");
    assert_int_equal(uart16550_can_receive(e->u), 0);
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(e, UART_IIR), 0x04);
    assert_int_equal(rd(e, UART_LSR), 0x61);
    assert_int_equal(rd(e, UART_RBR), 'a');
    assert_int_equal(irq_level, 0);
    assert_int_equal(rd(e, UART_LSR), 0x60);
    /* Two bytes without reading: overrun, RBR holds the newer byte. */
    rx(e, "bc");
    assert_int_equal(rd(e, UART_IIR), 0x06); /* RLS beats RDA */
    assert_int_equal(rd(e, UART_LSR), 0x63);
    assert_int_equal(rd(e, UART_IIR), 0x04);
    assert_int_equal(rd(e, UART_RBR), 'c');
    assert_int_equal(rd(e, UART_IIR), 0x01);
    env_free(e);
}

static void check_trigger(uint8_t fcr_trig, int level)
{
    Env *e = env_new();
    wr(e, UART_MCR, UART_MCR_OUT2);
    wr(e, UART_FCR, (uint8_t)(UART_FCR_FE | fcr_trig));
    wr(e, UART_IER, UART_IER_ERBFI);
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    for (int i = 0; i < level - 1; i++)
        rx(e, "x");
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    assert_int_equal(irq_level, 0);
    assert_int_equal(!!(rd(e, UART_LSR) & UART_LSR_DR), level > 1);
    rx(e, "y");
    assert_int_equal(rd(e, UART_IIR), 0xC4);
    assert_int_equal(irq_level, 1);
    rd(e, UART_RBR);
    assert_int_equal(rd(e, UART_IIR), 0xC1); /* below trigger again */
    assert_int_equal(irq_level, 0);
    assert_int_equal(uart16550_can_receive(e->u), (size_t)(UART_FIFO_SIZE - level + 1));
    env_free(e);
}

static void test_fifo_trigger_levels(void **st)
{
    check_trigger(0x00, 1);
    check_trigger(0x40, 4);
    check_trigger(0x80, 8);
    check_trigger(0xC0, 14);
}

static void test_fifo_fill_and_overflow(void **st)
{
    Env *e = env_new();
    wr(e, UART_FCR, UART_FCR_FE | 0xC0);
    char buf[18];
    for (int i = 0; i < 17; i++)
        buf[i] = (char)('A' + i);
    buf[17] = 0;
    assert_int_equal(uart16550_can_receive(e->u), 16);
    rx(e, buf); /* 17th byte overruns */
    assert_int_equal(uart16550_can_receive(e->u), 0);
    assert_int_equal(rd(e, UART_LSR), 0x63);
    for (int i = 0; i < 16; i++)
        assert_int_equal(rd(e, UART_RBR), 'A' + i);
    assert_int_equal(rd(e, UART_LSR), 0x60);
    /* FIFO RX reset. */
    rx(e, "zz");
    wr(e, UART_FCR, UART_FCR_FE | UART_FCR_RFR);
    assert_int_equal(rd(e, UART_LSR) & UART_LSR_DR, 0);
    /* Disabling the FIFO clears it and the IIR FIFO bits. */
    rx(e, "q");
    wr(e, UART_FCR, 0x00);
    assert_int_equal(rd(e, UART_LSR) & UART_LSR_DR, 0);
    assert_int_equal(rd(e, UART_IIR), 0x01);
    /* Trigger bits are not programmed with FCR0 = 0. */
    wr(e, UART_FCR, 0xC0);
    assert_int_equal(rd(e, UART_IIR), 0x01);
    env_free(e);
}

static void test_char_timeout(void **st)
{
    Env *e = env_new();
    set_115200_8n1(e);
    wr(e, UART_MCR, UART_MCR_OUT2);
    wr(e, UART_FCR, UART_FCR_FE | 0x80); /* trigger 8 */
    wr(e, UART_IER, UART_IER_ERBFI);
    run_to(e, 1000);
    rx(e, "abc");
    int64_t t0 = 1000;
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    run_to(e, t0 + 4 * CHAR_NS_115200 - 1);
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    assert_int_equal(irq_level, 0);
    run_to(e, t0 + 4 * CHAR_NS_115200);
    assert_int_equal(rd(e, UART_IIR), 0xCC);
    assert_int_equal(irq_level, 1);
    /* Reading a byte clears the timeout and restarts the 4 char times. */
    int64_t t1 = t0 + 5 * CHAR_NS_115200;
    run_to(e, t1);
    assert_int_equal(rd(e, UART_RBR), 'a');
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    assert_int_equal(irq_level, 0);
    run_to(e, t1 + 4 * CHAR_NS_115200);
    assert_int_equal(rd(e, UART_IIR), 0xCC);
    /* A new byte also restarts it. */
    rx(e, "d");
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    /* Emptying the FIFO: no timeout. */
    for (int i = 0; i < 3; i++)
        rd(e, UART_RBR);
    run_to(e, t1 + 100 * CHAR_NS_115200);
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    /* 7E2 at divisor 12: 1+7+1+2 = 11 bits, 4 chars = 4*11*12*16/1.8432M s */
    wr(e, UART_LCR, UART_LCR_DLAB | 0x0E);
    wr(e, UART_DLL, 12);
    wr(e, UART_LCR, 0x0E);
    int64_t t2 = (int64_t)icount;
    rx(e, "x");
    assert_int_equal(vclock_deadline(&e->clk), t2 + 4 * (11LL * 12 * 16 * 1000000000LL / 1843200));
    env_free(e);
}

static void test_lsr_errors(void **st)
{
    Env *e = env_new();
    wr(e, UART_MCR, UART_MCR_OUT2);
    wr(e, UART_FCR, UART_FCR_FE | 0xC0);
    wr(e, UART_IER, UART_IER_ELSI);
    rx(e, "a");
    uart16550_receive_error(e->u, 'b', UART_LSR_FE);
    /* Error byte is in the FIFO but not at the top: only bit 7. */
    assert_int_equal(rd(e, UART_LSR), 0xE1);
    assert_int_equal(rd(e, UART_LSR), 0xE1); /* still in the FIFO */
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    assert_int_equal(rd(e, UART_RBR), 'a');
    /* Now 'b' is at the top: FE revealed, RLS interrupt. */
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(e, UART_IIR), 0xC6);
    assert_int_equal(rd(e, UART_LSR), 0xE9);
    assert_int_equal(rd(e, UART_LSR), 0x61); /* cleared by the read */
    assert_int_equal(irq_level, 0);
    assert_int_equal(rd(e, UART_RBR), 'b');
    /* Break: NUL with BI (and FE), parity error. */
    uart16550_receive_error(e->u, 0, UART_LSR_BI | UART_LSR_FE);
    assert_int_equal(rd(e, UART_LSR), 0xF9);
    assert_int_equal(rd(e, UART_RBR), 0);
    uart16550_receive_error(e->u, 'p', UART_LSR_PE);
    assert_int_equal(rd(e, UART_LSR), 0xE5);
    rd(e, UART_RBR);
    /* 16450 mode: errors straight into LSR, no bit 7. */
    wr(e, UART_FCR, 0);
    uart16550_receive_error(e->u, 'q', UART_LSR_PE);
    assert_int_equal(rd(e, UART_IIR), 0x06);
    assert_int_equal(rd(e, UART_LSR), 0x65);
    env_free(e);
}

static void test_modem_status(void **st)
{
    Env *e = env_new();
    wr(e, UART_MCR, UART_MCR_OUT2);
    wr(e, UART_IER, UART_IER_EDSSI);
    assert_int_equal(irq_level, 0);
    uart16550_set_modem_inputs(e->u, UART_MSR_CTS);
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(e, UART_IIR), 0x00);
    assert_int_equal(rd(e, UART_MSR), UART_MSR_CTS | UART_MSR_DDSR | UART_MSR_DDCD);
    assert_int_equal(rd(e, UART_IIR), 0x01);
    assert_int_equal(irq_level, 0);
    /* RI: leading edge sets nothing, trailing edge sets TERI. */
    uart16550_set_modem_inputs(e->u, UART_MSR_CTS | UART_MSR_RI);
    assert_int_equal(rd(e, UART_MSR), UART_MSR_CTS | UART_MSR_RI);
    uart16550_set_modem_inputs(e->u, UART_MSR_CTS);
    assert_int_equal(rd(e, UART_MSR), UART_MSR_CTS | UART_MSR_TERI);
    uart16550_set_modem_inputs(e->u, 0);
    assert_int_equal(rd(e, UART_MSR), UART_MSR_DCTS);
    assert_int_equal(rd(e, UART_MSR), 0x00);
    assert_int_equal(uart16550_mcr(e->u), UART_MCR_OUT2);
    env_free(e);
}

static void test_iir_priority(void **st)
{
    Env *e = env_new();
    wr(e, UART_MCR, UART_MCR_OUT2);
    wr(e, UART_FCR, UART_FCR_FE); /* trigger 1 */
    rx(e, "a");
    uart16550_set_modem_inputs(e->u, UART_MSR_DSR);
    /* Overflow the FIFO for OE. */
    for (int i = 0; i < 16; i++)
        rx(e, "b");
    wr(e, UART_IER, 0x0F);
    assert_int_equal(rd(e, UART_IIR), 0xC6); /* RLS */
    rd(e, UART_LSR);
    assert_int_equal(rd(e, UART_IIR), 0xC4); /* RDA */
    for (int i = 0; i < 16; i++)
        rd(e, UART_RBR);
    assert_int_equal(rd(e, UART_IIR), 0xC2); /* THRE, cleared by this read */
    assert_int_equal(rd(e, UART_IIR), 0xC0); /* MSR */
    assert_int_equal(irq_level, 1);
    rd(e, UART_MSR);
    assert_int_equal(rd(e, UART_IIR), 0xC1);
    assert_int_equal(irq_level, 0);
    /* Character timeout outranks THRE. */
    rx(e, "c");
    rd(e, UART_RBR);
    wr(e, UART_FCR, UART_FCR_FE | 0x40); /* trigger 4 */
    rx(e, "d");
    wr(e, UART_IER, 0);
    wr(e, UART_IER, 0x0F);
    run_to(e, (int64_t)icount + 4 * 1041666LL + 10); /* 9600 baud */
    assert_int_equal(rd(e, UART_IIR), 0xCC);
    rd(e, UART_RBR);
    assert_int_equal(rd(e, UART_IIR), 0xC2);
    env_free(e);
}

static void test_loopback(void **st)
{
    Env *e = env_new();
    wr(e, UART_FCR, UART_FCR_FE);
    wr(e, UART_MCR, UART_MCR_LOOP);
    assert_int_equal(rd(e, UART_MSR), UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
    assert_int_equal(uart16550_can_receive(e->u), 0);
    rx(e, "host"); /* ignored in loopback */
    assert_int_equal(rd(e, UART_LSR) & UART_LSR_DR, 0);
    wr(e, UART_THR, 0x55);
    wr(e, UART_THR, 0xAA);
    assert_int_equal(out_len, 0); /* nothing on the line */
    assert_int_equal(rd(e, UART_LSR), 0x61);
    assert_int_equal(rd(e, UART_RBR), 0x55);
    assert_int_equal(rd(e, UART_RBR), 0xAA);
    /* MCR outputs appear on the MSR inputs (Linux's 0x1A -> 0x90 check). */
    wr(e, UART_MCR, UART_MCR_LOOP | 0x0A);
    assert_int_equal(rd(e, UART_MSR) & 0xF0, UART_MSR_CTS | UART_MSR_DCD);
    wr(e, UART_MCR, UART_MCR_LOOP | 0x0F);
    assert_int_equal(rd(e, UART_MSR), 0xF0 | UART_MSR_DDSR);
    wr(e, UART_MCR, UART_MCR_LOOP | 0x0B); /* OUT1 (RI) off: TERI */
    assert_int_equal(rd(e, UART_MSR), 0xB0 | UART_MSR_TERI);
    /* Interrupts are identified but the OUT2 pin is forced off. */
    wr(e, UART_IER, 0x0F);
    assert_int_equal(rd(e, UART_IIR), 0xC2);
    assert_int_equal(irq_level, 0);
    /* Break looped back. */
    wr(e, UART_LCR, UART_LCR_BREAK | 0x03);
    assert_int_equal(rd(e, UART_LSR) & (UART_LSR_BI | UART_LSR_DR), UART_LSR_BI | UART_LSR_DR);
    wr(e, UART_LCR, 0x03);
    rd(e, UART_RBR);
    /* Leaving loopback: host inputs again, IRQ ungated. */
    wr(e, UART_MCR, UART_MCR_OUT2);
    assert_int_equal(rd(e, UART_MSR) & 0xF0, 0xB0);
    wr(e, UART_IER, 0);
    wr(e, UART_IER, UART_IER_ETBEI);
    assert_int_equal(irq_level, 1);
    wr(e, UART_THR, 'x');
    assert_int_equal(out_len, 1);
    env_free(e);
}

static void test_random_writes(void **st)
{
    Env *e = env_new();
    srand(1650);
    for (int i = 0; i < 200000; i++) {
        int r = rand() % 6;
        int reg = rand() % 8;
        uint8_t v = (uint8_t)rand();
        switch (r) {
        case 0:
        case 1:
            wr(e, reg, v);
            break;
        case 2:
        case 3:
            rd(e, reg);
            break;
        case 4: {
            uint8_t b[20];
            size_t n = (size_t)(rand() % 20);
            for (size_t k = 0; k < n; k++)
                b[k] = (uint8_t)rand();
            if (rand() % 4 == 0)
                uart16550_receive_error(e->u, v, (uint8_t)rand());
            else
                uart16550_receive(e->u, b, n);
            uart16550_set_modem_inputs(e->u, (uint8_t)rand());
            break;
        }
        default:
            run_to(e, (int64_t)icount + rand() % 5000000);
            break;
        }
        if (out_len > 2048)
            out_len = 0;
    }
    uart16550_reset(e->u);
    assert_int_equal(rd(e, UART_LSR), 0x60);
    assert_int_equal(rd(e, UART_IIR), 0x01);
    env_free(e);
}

static void test_state_round_trip(void **st)
{
    Env *e = env_new();
    set_115200_8n1(e);
    wr(e, UART_MCR, UART_MCR_OUT2 | UART_MCR_DTR);
    wr(e, UART_FCR, UART_FCR_FE | 0x80);
    wr(e, UART_IER, UART_IER_ERBFI | UART_IER_ELSI);
    wr(e, UART_SCR, 0x77);
    rx(e, "abc");
    uart16550_receive_error(e->u, 'd', UART_LSR_PE);
    int64_t deadline = vclock_deadline(&e->clk);
    assert_true(deadline != INT64_MAX);

    long n = state_save(&uart16550_state, e->u, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&uart16550_state, e->u, buf, (size_t)n), n);

    uart16550_reset(e->u);
    assert_int_equal(vclock_deadline(&e->clk), INT64_MAX);
    char err[128];
    assert_int_equal(state_load(&uart16550_state, e->u, 1, buf, (size_t)n, err, sizeof(err)), 0);
    assert_int_equal(vclock_deadline(&e->clk), deadline);
    assert_int_equal(rd(e, UART_SCR), 0x77);
    assert_int_equal(rd(e, UART_LCR), 0x03);
    assert_int_equal(rd(e, UART_LSR), 0xE1);
    run_to(e, deadline);
    assert_int_equal(rd(e, UART_IIR), 0xCC);
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(e, UART_RBR), 'a');
    assert_int_equal(rd(e, UART_RBR), 'b');
    assert_int_equal(rd(e, UART_RBR), 'c');
    assert_int_equal(rd(e, UART_IIR), 0xC6); /* PE of 'd' revealed */
    /* Bad FIFO head rejected. */
    uint8_t *bad = malloc((size_t)n);
    memcpy(bad, buf, (size_t)n);
    bad[11 + 32] = 16; /* rx_head after 11 bytes and the two FIFO arrays */
    assert_int_equal(state_load(&uart16550_state, e->u, 1, bad, (size_t)n, err, sizeof(err)), -1);
    free(bad);
    free(buf);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_values),
        cmocka_unit_test(test_divisor_latch),
        cmocka_unit_test(test_transmit_and_thre),
        cmocka_unit_test(test_16450_receive_overrun),
        cmocka_unit_test(test_fifo_trigger_levels),
        cmocka_unit_test(test_fifo_fill_and_overflow),
        cmocka_unit_test(test_char_timeout),
        cmocka_unit_test(test_lsr_errors),
        cmocka_unit_test(test_modem_status),
        cmocka_unit_test(test_iir_priority),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_random_writes),
        cmocka_unit_test(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
