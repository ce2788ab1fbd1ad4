/*
 * uart16550.h - National Semiconductor PC16550D UART with 16-byte FIFOs,
 * eight registers at base (0x3F8 COM1, 0x2F8 COM2, ...).
 *
 * Transmission is immediate: a byte written to THR goes to the character
 * backend at once, so THR/TSR are empty again before the next access
 * (THRE and TEMT read 1, the THRE interrupt re-arms) - as QEMU does when
 * its backend accepts data.  Reception is driven by the front end through
 * uart16550_receive(), bounded by uart16550_can_receive().  The character
 * timeout interrupt (FIFO mode) runs on the virtual clock: 4 character
 * times at the programmed divisor and frame format.
 *
 * On a PC the INTR pin reaches the PIC only while MCR OUT2 is set (and the
 * OUT2 pin is forced inactive in loopback mode), so the Irq line here is
 * INTR gated by OUT2 and !LOOP.
 *
 * Source: National Semiconductor PC16550D datasheet (June 1995), register
 * descriptions 8.1-8.10 and Table II (interrupt control functions).
 */
#ifndef VESSEL_DEVICES_UART16550_H
#define VESSEL_DEVICES_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/chardev.h"
#include "devices/state.h"
#include "devices/vclock.h"

/* Register offsets (DLAB = LCR bit 7 selects DLL/DLM at 0/1). */
#define UART_RBR 0 /* receiver buffer (read) */
#define UART_THR 0 /* transmitter holding (write) */
#define UART_DLL 0 /* divisor latch LSB (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch MSB (DLAB=1) */
#define UART_IIR 2 /* interrupt identification (read) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_ERBFI 0x01 /* received data available */
#define UART_IER_ETBEI 0x02 /* THR empty */
#define UART_IER_ELSI  0x04 /* receiver line status */
#define UART_IER_EDSSI 0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_CTI    0x0C /* character timeout */
#define UART_IIR_FIFO   0xC0

#define UART_FCR_FE     0x01
#define UART_FCR_RFR    0x02
#define UART_FCR_TFR    0x04
#define UART_FCR_DMS    0x08
#define UART_FCR_TRIG   0xC0

#define UART_LCR_WLS    0x03
#define UART_LCR_STB    0x04
#define UART_LCR_PEN    0x08
#define UART_LCR_EPS    0x10
#define UART_LCR_SP     0x20
#define UART_LCR_BREAK  0x40
#define UART_LCR_DLAB   0x80

#define UART_MCR_DTR    0x01
#define UART_MCR_RTS    0x02
#define UART_MCR_OUT1   0x04
#define UART_MCR_OUT2   0x08
#define UART_MCR_LOOP   0x10

#define UART_LSR_DR     0x01
#define UART_LSR_OE     0x02
#define UART_LSR_PE     0x04
#define UART_LSR_FE     0x08
#define UART_LSR_BI     0x10
#define UART_LSR_THRE   0x20
#define UART_LSR_TEMT   0x40
#define UART_LSR_FIFOE  0x80

#define UART_MSR_DCTS   0x01
#define UART_MSR_DDSR   0x02
#define UART_MSR_TERI   0x04
#define UART_MSR_DDCD   0x08
#define UART_MSR_CTS    0x10
#define UART_MSR_DSR    0x20
#define UART_MSR_RI     0x40
#define UART_MSR_DCD    0x80

#define UART_FIFO_SIZE  16
#define UART_CLOCK_HZ   1843200 /* PC crystal: divisor 1 = 115200 baud */

typedef struct Uart16550 Uart16550;
/** Short alias used by the front end. */
typedef Uart16550 Uart;

/**
 * Create a UART at ports base..base+7 on bus (may be NULL), timers on clk,
 * interrupt irq, output to be.  Modem inputs start as CTS|DSR|DCD.
 * Returns NULL on allocation failure.
 */
Uart16550 *uart16550_new(IoBus *bus, VClock *clk, uint16_t base, Irq irq, CharBackend be);

/** Master reset (datasheet Table IV): IER, FCR, LCR, MCR 0, IIR 01,
 *  LSR 60, FIFOs empty, MSR deltas clear; divisor 12 (9600 baud), SCR 0. */
void uart16550_reset(Uart16550 *u);

/** Free the UART (disarms its timer). Ports stay registered. */
void uart16550_free(Uart16550 *u);

/** Bytes the receiver can take without overrun: free RX FIFO entries in
 *  FIFO mode, 1 or 0 (RBR empty / full) otherwise; 0 in loopback mode
 *  (the receiver is disconnected from the line). */
size_t uart16550_can_receive(Uart16550 *u);

/** Bytes arriving on the serial line.  Bytes beyond can_receive overrun
 *  (LSR OE; the extra byte is lost). Ignored in loopback mode. */
void uart16550_receive(Uart16550 *u, const uint8_t *buf, size_t len);

/** One received character with line errors: lsr_err is a mask of
 *  UART_LSR_PE / FE / BI (a break arrives as ch 0 with BI|FE). */
void uart16550_receive_error(Uart16550 *u, uint8_t ch, uint8_t lsr_err);

/** Set the modem status inputs (mask of UART_MSR_CTS/DSR/RI/DCD); changes
 *  set the delta bits (RI: trailing edge -> TERI).  Used unless LOOP. */
void uart16550_set_modem_inputs(Uart16550 *u, uint8_t msr_lines);

/** MCR as last written (DTR/RTS for the front end). */
uint8_t uart16550_mcr(const Uart16550 *u);

/** Snapshot table (section "uart16550"). */
extern const StateDesc uart16550_state;

#endif
