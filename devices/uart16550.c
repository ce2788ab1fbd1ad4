/*
 * uart16550.c - PC16550D UART (see uart16550.h).
 *
 * Receive side: in FIFO mode a 16-entry FIFO of (byte, error bits); the
 * PE/FE/BI bits of a byte are revealed in LSR when it reaches the top of
 * the FIFO, LSR bit 7 says some byte in the FIFO had an error.  In 16450
 * mode a single RBR.  An incoming byte that finds no room sets OE and is
 * lost (FIFO) or overwrites RBR (16450), per the datasheet.
 *
 * Interrupt priorities (datasheet Table II): RLS (OE/PE/FE/BI) > RDA
 * (FIFO at trigger level / RBR full) = character timeout > THRE > modem
 * status.  THRE is cleared by reading IIR when it is the reported source
 * or by writing THR; it is set when THR empties and - like real parts and
 * Bochs/QEMU - when IER.ETBEI goes from 0 to 1 while THR is empty.
 */
#include "devices/uart16550.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UART_NPORTS 8
#define UART_LINE_ERR (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)
#define UART_RX_ERR (UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

struct Uart16550 {
    /* --- saved state --- */
    uint8_t rbr;                   /* 16450 RBR / last byte read */
    uint8_t ier, fcr, lcr, mcr, scr;
    uint8_t dll, dlm;              /* divisor latch */
    uint8_t lsr_err;               /* latched OE/PE/FE/BI, cleared by LSR read */
    uint8_t msr;                   /* MSR: lines (7-4) and deltas (3-0) */
    uint8_t msr_ext;               /* modem inputs from the host side */
    uint8_t rx_data[UART_FIFO_SIZE];
    uint8_t rx_err[UART_FIFO_SIZE]; /* PE/FE/BI per byte, not yet revealed */
    uint8_t rx_head, rx_count;
    bool rbr_full;                 /* 16450 mode DR */
    bool thr_ipending;             /* THRE interrupt condition */
    bool timeout_ipending;         /* character timeout condition */
    bool fifo_err;                 /* LSR bit 7 */
    bool irq_level;                /* as driven on irq */
    int64_t timeout_ns;            /* armed character timeout, -1 = none */
    /* --- wiring, not saved --- */
    IoBus *bus;
    VClock *clk;
    Irq irq;
    CharBackend be;
    uint16_t base;
    VTimer timer;
};

static bool uart_fifo(const Uart16550 *u)
{
    return u->fcr & UART_FCR_FE;
}

static bool uart_loop(const Uart16550 *u)
{
    return u->mcr & UART_MCR_LOOP;
}

static int uart_trigger(const Uart16550 *u)
{
    static const int lvl[4] = { 1, 4, 8, 14 };
    return lvl[(u->fcr >> 6) & 3];
}

/* One character time in ns: start + data + parity + stop bits at the
 * programmed divisor (divisor 0 taken as 65536). */
static int64_t uart_char_ns(const Uart16550 *u)
{
    int wl = 5 + (u->lcr & UART_LCR_WLS);
    int half_bits = 2 * (1 + wl + ((u->lcr & UART_LCR_PEN) ? 1 : 0));
    if (u->lcr & UART_LCR_STB)
        half_bits += wl == 5 ? 3 : 4; /* 1.5 or 2 stop bits */
    else
        half_bits += 2;
    int64_t div = (int64_t)u->dll | ((int64_t)u->dlm << 8);
    if (div == 0)
        div = 65536;
    return half_bits * div * 16 * VCLOCK_NS_PER_SEC / (2 * (int64_t)UART_CLOCK_HZ);
}

static bool uart_dr(const Uart16550 *u)
{
    return uart_fifo(u) ? u->rx_count > 0 : u->rbr_full;
}

/* The current interrupt identification (IIR bits 3-0). */
static uint8_t uart_iir_id(const Uart16550 *u)
{
    if ((u->ier & UART_IER_ELSI) && (u->lsr_err & UART_LINE_ERR))
        return UART_IIR_RLSI;
    if (u->ier & UART_IER_ERBFI) {
        if (uart_fifo(u) ? u->rx_count >= uart_trigger(u) : u->rbr_full)
            return UART_IIR_RDI;
        if (uart_fifo(u) && u->timeout_ipending && u->rx_count > 0)
            return UART_IIR_CTI;
    }
    if ((u->ier & UART_IER_ETBEI) && u->thr_ipending)
        return UART_IIR_THRI;
    if ((u->ier & UART_IER_EDSSI) && (u->msr & 0x0F))
        return UART_IIR_MSI;
    return UART_IIR_NO_INT;
}

/* INTR gated by OUT2 (forced inactive in loopback). */
static bool uart_irq_wanted(const Uart16550 *u)
{
    return uart_iir_id(u) != UART_IIR_NO_INT && (u->mcr & UART_MCR_OUT2) && !uart_loop(u);
}

static void uart_update_irq(Uart16550 *u)
{
    bool want = uart_irq_wanted(u);
    if (want != u->irq_level) {
        u->irq_level = want;
        irq_set(&u->irq, want);
    }
}

static void uart_timeout_disarm(Uart16550 *u)
{
    u->timeout_ns = -1;
    if (u->clk)
        vtimer_del(&u->timer);
}

/* Restart the 4-character timeout after receive/read activity. */
static void uart_timeout_restart(Uart16550 *u)
{
    u->timeout_ipending = false;
    if (!uart_fifo(u) || u->rx_count == 0 || !u->clk) {
        uart_timeout_disarm(u);
        return;
    }
    u->timeout_ns = vclock_now(u->clk) + 4 * uart_char_ns(u);
    vtimer_mod(&u->timer, u->timeout_ns);
}

static void uart_timeout_cb(void *opaque)
{
    Uart16550 *u = opaque;
    u->timeout_ns = -1;
    if (uart_fifo(u) && u->rx_count > 0)
        u->timeout_ipending = true;
    uart_update_irq(u);
}

static void uart_rx_clear(Uart16550 *u)
{
    u->rx_head = 0;
    u->rx_count = 0;
    memset(u->rx_err, 0, sizeof(u->rx_err));
    u->fifo_err = false;
    u->timeout_ipending = false;
    uart_timeout_disarm(u);
}

/* The byte now at the top of the FIFO shows its errors in LSR. */
static void uart_reveal_top(Uart16550 *u)
{
    if (u->rx_count) {
        u->lsr_err |= u->rx_err[u->rx_head];
        u->rx_err[u->rx_head] = 0;
    }
}

/* A character completed in the receiver shift register. */
static void uart_rx_char(Uart16550 *u, uint8_t ch, uint8_t err)
{
    err &= UART_RX_ERR;
    if (uart_fifo(u)) {
        if (u->rx_count >= UART_FIFO_SIZE) {
            u->lsr_err |= UART_LSR_OE; /* shift register overwritten */
        } else {
            unsigned i = (u->rx_head + u->rx_count) % UART_FIFO_SIZE;
            u->rx_data[i] = ch;
            u->rx_err[i] = err;
            u->rx_count++;
            if (err)
                u->fifo_err = true;
            if (u->rx_count == 1)
                uart_reveal_top(u);
        }
        uart_timeout_restart(u);
    } else {
        if (u->rbr_full)
            u->lsr_err |= UART_LSR_OE;
        u->rbr = ch;
        u->rbr_full = true;
        u->lsr_err |= err;
    }
    uart_update_irq(u);
}

static uint8_t uart_rbr_read(Uart16550 *u)
{
    if (uart_fifo(u)) {
        if (u->rx_count) {
            u->rbr = u->rx_data[u->rx_head];
            u->rx_head = (uint8_t)((u->rx_head + 1) % UART_FIFO_SIZE);
            u->rx_count--;
            uart_reveal_top(u);
        }
        uart_timeout_restart(u);
    } else {
        u->rbr_full = false;
    }
    uart_update_irq(u);
    return u->rbr;
}

/* Modem status inputs changed to lines (bits 7-4): set the deltas. */
static void uart_msr_lines(Uart16550 *u, uint8_t lines)
{
    uint8_t old = u->msr & 0xF0;
    lines &= 0xF0;
    uint8_t d = 0;
    if ((old ^ lines) & UART_MSR_CTS)
        d |= UART_MSR_DCTS;
    if ((old ^ lines) & UART_MSR_DSR)
        d |= UART_MSR_DDSR;
    if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI))
        d |= UART_MSR_TERI;
    if ((old ^ lines) & UART_MSR_DCD)
        d |= UART_MSR_DDCD;
    u->msr = (uint8_t)(lines | (u->msr & 0x0F) | d);
}

/* Inputs as seen by the chip: the host side, or MCR in loopback. */
static uint8_t uart_input_lines(const Uart16550 *u)
{
    if (!uart_loop(u))
        return u->msr_ext & 0xF0;
    uint8_t m = u->mcr, l = 0;
    if (m & UART_MCR_RTS)
        l |= UART_MSR_CTS;
    if (m & UART_MCR_DTR)
        l |= UART_MSR_DSR;
    if (m & UART_MCR_OUT1)
        l |= UART_MSR_RI;
    if (m & UART_MCR_OUT2)
        l |= UART_MSR_DCD;
    return l;
}

static void uart_thr_write(Uart16550 *u, uint8_t val)
{
    u->thr_ipending = false;
    uart_update_irq(u);
    if (uart_loop(u))
        uart_rx_char(u, val, 0);
    else
        chardev_write(&u->be, &val, 1);
    /* Shifted out at once: THR and TSR are empty again. */
    u->thr_ipending = true;
    uart_update_irq(u);
}

static void uart_fcr_write(Uart16550 *u, uint8_t val)
{
    if ((val ^ u->fcr) & UART_FCR_FE) {
        uart_rx_clear(u); /* mode change clears both FIFOs */
        u->rbr_full = false;
    }
    if (!(val & UART_FCR_FE)) {
        u->fcr = 0; /* other bits are only programmed with FCR0 = 1 */
    } else {
        if (val & UART_FCR_RFR)
            uart_rx_clear(u);
        if ((val & UART_FCR_TFR) && (u->ier & UART_IER_ETBEI))
            u->thr_ipending = true; /* TX FIFO (already empty) reset */
        u->fcr = val & (UART_FCR_FE | UART_FCR_DMS | UART_FCR_TRIG);
    }
    uart_update_irq(u);
}

static uint32_t uart_io_read(void *opaque, uint32_t off, unsigned size)
{
    Uart16550 *u = opaque;
    (void)size;
    switch (off & 7) {
    case UART_RBR:
        if (u->lcr & UART_LCR_DLAB)
            return u->dll;
        return uart_rbr_read(u);
    case UART_IER:
        if (u->lcr & UART_LCR_DLAB)
            return u->dlm;
        return u->ier;
    case UART_IIR: {
        uint8_t id = uart_iir_id(u);
        if (id == UART_IIR_THRI) {
            u->thr_ipending = false;
            uart_update_irq(u);
        }
        return (uint8_t)(id | (uart_fifo(u) ? UART_IIR_FIFO : 0));
    }
    case UART_LCR:
        return u->lcr;
    case UART_MCR:
        return u->mcr;
    case UART_LSR: {
        uint8_t v = (uint8_t)(u->lsr_err | UART_LSR_THRE | UART_LSR_TEMT);
        if (uart_dr(u))
            v |= UART_LSR_DR;
        if (uart_fifo(u) && u->fifo_err)
            v |= UART_LSR_FIFOE;
        u->lsr_err = 0;
        u->fifo_err = false;
        for (unsigned i = 0; i < u->rx_count; i++)
            if (u->rx_err[(u->rx_head + i) % UART_FIFO_SIZE])
                u->fifo_err = true;
        uart_update_irq(u);
        return v;
    }
    case UART_MSR: {
        uint8_t v = u->msr;
        u->msr &= 0xF0;
        uart_update_irq(u);
        return v;
    }
    default:
        return u->scr;
    }
}

static void uart_io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Uart16550 *u = opaque;
    uint8_t v = (uint8_t)val;
    (void)size;
    switch (off & 7) {
    case UART_THR:
        if (u->lcr & UART_LCR_DLAB)
            u->dll = v;
        else
            uart_thr_write(u, v);
        break;
    case UART_IER:
        if (u->lcr & UART_LCR_DLAB) {
            u->dlm = v;
        } else {
            uint8_t changed = (u->ier ^ v) & 0x0F;
            u->ier = v & 0x0F;
            if (changed & UART_IER_ETBEI)
                u->thr_ipending = (u->ier & UART_IER_ETBEI) != 0; /* THR is empty */
            uart_update_irq(u);
        }
        break;
    case UART_FCR:
        uart_fcr_write(u, v);
        break;
    case UART_LCR: {
        bool brk_on = (v & UART_LCR_BREAK) && !(u->lcr & UART_LCR_BREAK);
        u->lcr = v;
        if (brk_on && uart_loop(u))
            uart_rx_char(u, 0, UART_LSR_BI | UART_LSR_FE); /* break looped back */
        break;
    }
    case UART_MCR:
        u->mcr = v & 0x1F;
        uart_msr_lines(u, uart_input_lines(u));
        uart_update_irq(u);
        break;
    case UART_LSR:
    case UART_MSR:
        break; /* factory test / read only */
    default:
        u->scr = v;
        break;
    }
}

static const IoOps uart_io_ops = {
    .read = uart_io_read,
    .write = uart_io_write,
    .impl_max = 1,
};

Uart16550 *uart16550_new(IoBus *bus, VClock *clk, uint16_t base, Irq irq, CharBackend be)
{
    Uart16550 *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->bus = bus;
    u->clk = clk;
    u->irq = irq;
    u->be = be;
    u->base = base;
    u->timeout_ns = -1;
    if (clk)
        vtimer_init(&u->timer, clk, uart_timeout_cb, u);
    u->msr_ext = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
    if (bus && iobus_register(bus, base, UART_NPORTS, &uart_io_ops, u, "uart16550") < 0) {
        free(u);
        return NULL;
    }
    uart16550_reset(u);
    return u;
}

void uart16550_reset(Uart16550 *u)
{
    u->ier = 0;
    u->fcr = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->scr = 0;
    u->dll = 12;
    u->dlm = 0;
    u->lsr_err = 0;
    u->rbr = 0;
    u->rbr_full = false;
    u->thr_ipending = false;
    uart_rx_clear(u);
    u->msr = u->msr_ext & 0xF0;
    uart_update_irq(u);
}

void uart16550_free(Uart16550 *u)
{
    if (!u)
        return;
    if (u->clk)
        vtimer_del(&u->timer);
    free(u);
}

size_t uart16550_can_receive(Uart16550 *u)
{
    if (uart_loop(u))
        return 0;
    if (uart_fifo(u))
        return UART_FIFO_SIZE - u->rx_count;
    return u->rbr_full ? 0 : 1;
}

void uart16550_receive(Uart16550 *u, const uint8_t *buf, size_t len)
{
    if (uart_loop(u) || !buf)
        return;
    for (size_t i = 0; i < len; i++)
        uart_rx_char(u, buf[i], 0);
}

void uart16550_receive_error(Uart16550 *u, uint8_t ch, uint8_t lsr_err)
{
    if (uart_loop(u))
        return;
    uart_rx_char(u, ch, lsr_err);
}

void uart16550_set_modem_inputs(Uart16550 *u, uint8_t msr_lines)
{
    u->msr_ext = msr_lines & 0xF0;
    if (!uart_loop(u)) {
        uart_msr_lines(u, u->msr_ext);
        uart_update_irq(u);
    }
}

uint8_t uart16550_mcr(const Uart16550 *u)
{
    return u->mcr;
}

static int uart16550_post_load(void *opaque, char *err, size_t errlen)
{
    Uart16550 *u = opaque;
    if (u->rx_head >= UART_FIFO_SIZE || u->rx_count > UART_FIFO_SIZE || u->ier > 0x0F ||
        u->mcr > 0x1F || (u->lsr_err & ~UART_LINE_ERR)) {
        snprintf(err, errlen, "uart16550: FIFO pointers or register values out of range");
        return -1;
    }
    for (unsigned i = 0; i < UART_FIFO_SIZE; i++)
        u->rx_err[i] &= UART_RX_ERR;
    if (u->clk) {
        if (u->timeout_ns >= 0)
            vtimer_mod(&u->timer, u->timeout_ns);
        else
            vtimer_del(&u->timer);
    }
    u->irq_level = uart_irq_wanted(u);
    return 0;
}

static const StateField uart16550_fields[] = {
    ST_U8(rbr, Uart16550),
    ST_U8(ier, Uart16550),
    ST_U8(fcr, Uart16550),
    ST_U8(lcr, Uart16550),
    ST_U8(mcr, Uart16550),
    ST_U8(scr, Uart16550),
    ST_U8(dll, Uart16550),
    ST_U8(dlm, Uart16550),
    ST_U8(lsr_err, Uart16550),
    ST_U8(msr, Uart16550),
    ST_U8(msr_ext, Uart16550),
    ST_U8_ARRAY(rx_data, Uart16550),
    ST_U8_ARRAY(rx_err, Uart16550),
    ST_U8(rx_head, Uart16550),
    ST_U8(rx_count, Uart16550),
    ST_BOOL(rbr_full, Uart16550),
    ST_BOOL(thr_ipending, Uart16550),
    ST_BOOL(timeout_ipending, Uart16550),
    ST_BOOL(fifo_err, Uart16550),
    ST_BOOL(irq_level, Uart16550),
    ST_I64(timeout_ns, Uart16550),
    ST_END,
};

const StateDesc uart16550_state = {
    .name = "uart16550",
    .version = 1,
    .min_version = 1,
    .fields = uart16550_fields,
    .post_load = uart16550_post_load,
};
