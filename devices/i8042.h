/*
 * i8042.h - Intel 8042 keyboard controller (PS/2 variant with auxiliary
 * port) at ISA ports 0x60 (data) and 0x64 (status / command), with the
 * PS/2 keyboard and mouse behind it (ps2.h).
 *
 * One output buffer serves both ports: the status register says whether it
 * is full (OBF) and whether the byte came from the mouse (AUXB).  IRQ1 /
 * IRQ12 are levels: high while OBF is set for the respective source and the
 * command byte enables its interrupt, as QEMU's pckbd.c; reading port 0x60
 * lowers the line and the next queued byte (if any) raises it again, which
 * is the edge the 8259 needs.  Output port bit 1 drives the a20 line; a
 * reset pulse (output port bit 0 low, command 0xFE) calls reset_request.
 *
 * Sources: IBM PC/AT and PS/2 Technical References (8042 commands, status
 * and command byte layout), hardware-notes.md 1.7, Linux i8042.c probe.
 */
#ifndef VESSEL_DEVICES_I8042_H
#define VESSEL_DEVICES_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/ps2.h"
#include "devices/state.h"

/* Status register (port 0x64 read). */
#define I8042_STR_OBF    0x01 /* output buffer full */
#define I8042_STR_IBF    0x02 /* input buffer full (always 0 here) */
#define I8042_STR_SYS    0x04 /* system flag (self test passed) */
#define I8042_STR_A2     0x08 /* last write was to 0x64 (command) */
#define I8042_STR_INH    0x10 /* 1 = keyboard not inhibited (key lock) */
#define I8042_STR_AUXB   0x20 /* output buffer holds mouse data */
#define I8042_STR_TIMEOUT 0x40
#define I8042_STR_PARITY 0x80

/* Command byte (controller RAM byte 0). */
#define I8042_CTR_KBDINT  0x01 /* IRQ1 on keyboard data */
#define I8042_CTR_AUXINT  0x02 /* IRQ12 on mouse data */
#define I8042_CTR_SYS     0x04
#define I8042_CTR_KBDDIS  0x10 /* keyboard interface disabled */
#define I8042_CTR_AUXDIS  0x20 /* aux interface disabled */
#define I8042_CTR_XLATE   0x40 /* set 2 -> set 1 translation */

/* Output port (0xD0/0xD1). */
#define I8042_OUT_RESET   0x01 /* 0 = CPU reset asserted */
#define I8042_OUT_A20     0x02
#define I8042_OUT_KBD_OBF 0x10 /* IRQ1 */
#define I8042_OUT_AUX_OBF 0x20 /* IRQ12 */

typedef struct I8042 I8042;

/**
 * Create the controller and its keyboard and mouse; register ports 0x60 and
 * 0x64 on bus (may be NULL).  irq1/irq12 follow keyboard/mouse OBF, a20
 * follows output port bit 1 (driven to 1 at reset), reset_request(opaque)
 * is called for a CPU reset pulse (may be NULL).  The controller starts
 * in the i8042_reset state.  Returns NULL on allocation failure.
 */
I8042 *i8042_new(IoBus *bus, Irq irq1, Irq irq12, Irq a20,
                 void (*reset_request)(void *opaque), void *opaque);

/** Hardware reset (QEMU's power-on values): command byte 0x03 (KBDINT |
 *  AUXINT, no translation: the BIOS sets that), status A2 | INH, output
 *  buffer empty, output port 0xCF (A20 on, reset inactive; the a20 line is
 *  driven to 1), keyboard and mouse reset, IRQs low. */
void i8042_reset(I8042 *s);

/** Free the controller and its PS/2 devices. */
void i8042_free(I8042 *s);

/** The keyboard / mouse behind the controller, for host input
 *  (ps2_kbd_put_scancode_set2, ps2_mouse_event) and for snapshots. */
PS2Kbd *i8042_kbd(I8042 *s);
PS2Mouse *i8042_mouse(I8042 *s);

/** Snapshot table of the controller alone (section "i8042"); the devices
 *  have ps2_kbd_state / ps2_mouse_state. */
extern const StateDesc i8042_state;

#endif
