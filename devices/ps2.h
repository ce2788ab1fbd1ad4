/*
 * ps2.h - PS/2 keyboard and mouse: the devices at the far end of the 8042's
 * two serial links (IBM PS/2 Technical Reference, "Keyboard and Auxiliary
 * Device Controller"; Microsoft IntelliMouse wheel extension).
 *
 * Each device has a 16-byte output queue toward the controller.  The
 * controller sends command bytes with ps2_*_write(), polls ps2_*_read()
 * for output, and is told about new output through the notify callback
 * given at construction (called whenever a byte is queued; never from
 * inside ps2_*_read()).
 *
 * Host keyboard input arrives as PS/2 scan code set 2 byte sequences (one
 * key event per call: make 0x1C, break F0 1C, extended E0 75 / E0 F0 75,
 * Pause E1 14 77 E1 F0 14 F0 77).  If the guest selected set 1 or 3 the
 * keyboard converts; set-2-to-set-1 translation for AT compatibility is the
 * controller's job (i8042 command byte bit 6), using ps2_set2_to_set1().
 */
#ifndef VESSEL_DEVICES_PS2_H
#define VESSEL_DEVICES_PS2_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/state.h"

#define PS2_QUEUE_SIZE 16

/* Replies (IBM PS/2 TR, keyboard/mouse command tables). */
#define PS2_REPLY_ACK       0xFA
#define PS2_REPLY_RESEND    0xFE
#define PS2_REPLY_ERROR     0xFC
#define PS2_REPLY_POR       0xAA /* basic assurance test passed */
#define PS2_REPLY_ECHO      0xEE

/* Mouse buttons for ps2_mouse_event (packet byte 0 bit order). */
#define PS2_MOUSE_LEFT   0x01
#define PS2_MOUSE_RIGHT  0x02
#define PS2_MOUSE_MIDDLE 0x04

/** Called when a device queues output (opaque from the constructor). */
typedef void (*PS2NotifyFn)(void *opaque);

/** The byte FIFO toward the controller (embedded in both devices). */
typedef struct PS2Queue {
    uint8_t data[PS2_QUEUE_SIZE];
    uint8_t rptr;   /* index of the oldest byte */
    uint8_t count;  /* bytes queued, 0..PS2_QUEUE_SIZE */
} PS2Queue;

typedef struct PS2Kbd PS2Kbd;
typedef struct PS2Mouse PS2Mouse;

/** The 8042 translation of one set-2 byte to set 1 (0xF0 is the caller's:
 *  it sets bit 7 of the next translated byte). Fixed table of the 8042. */
uint8_t ps2_set2_to_set1(uint8_t b);

/* ---------------------------------------------------------------- keyboard */

/** Create a keyboard in its power-on state (set 2, scanning enabled, queue
 *  empty: the AA of the power-on self test is not queued). NULL on ENOMEM. */
PS2Kbd *ps2_kbd_new(PS2NotifyFn notify, void *opaque);
/** Power-on reset: defaults, empty queue, no AA queued. */
void ps2_kbd_reset(PS2Kbd *k);
void ps2_kbd_free(PS2Kbd *k);
/** A byte from the controller (command or command argument). */
void ps2_kbd_write(PS2Kbd *k, uint8_t val);
/** Dequeue the oldest output byte; -1 when the queue is empty. */
int ps2_kbd_read(PS2Kbd *k);
/** Bytes waiting in the output queue. */
int ps2_kbd_pending(const PS2Kbd *k);
/** Host key event as a set-2 sequence (1..8 bytes); dropped while scanning
 *  is disabled; if the queue lacks room the keyboard queues its overrun
 *  code (00 in sets 2/3, FF in set 1) instead, once. */
void ps2_kbd_put_scancode_set2(PS2Kbd *k, const uint8_t *bytes, int n);
/** Scan code set selected by the guest (1, 2 or 3). */
int ps2_kbd_scancode_set(const PS2Kbd *k);
/** LED state from command 0xED: bit 0 Scroll, 1 Num, 2 Caps Lock. */
uint8_t ps2_kbd_leds(const PS2Kbd *k);
/** True while scanning is enabled (after 0xF4/0xFF, until 0xF5). */
bool ps2_kbd_enabled(const PS2Kbd *k);

/** Snapshot table (section "ps2-kbd"). */
extern const StateDesc ps2_kbd_state;

/* ------------------------------------------------------------------- mouse */

/** Create a mouse in its power-on state (ID 0, stream mode, disabled,
 *  100 samples/s, resolution 2 = 4 counts/mm, scaling 1:1). */
PS2Mouse *ps2_mouse_new(PS2NotifyFn notify, void *opaque);
void ps2_mouse_reset(PS2Mouse *m);
void ps2_mouse_free(PS2Mouse *m);
void ps2_mouse_write(PS2Mouse *m, uint8_t val);
int ps2_mouse_read(PS2Mouse *m);
int ps2_mouse_pending(const PS2Mouse *m);
/**
 * Host mouse motion: dx right-positive, dy down-positive (screen
 * convention; the packet's Y is up-positive), dz wheel clicks (positive =
 * toward the user, as in IntelliMouse byte 4), buttons = PS2_MOUSE_* mask.
 * In enabled stream mode this queues packets (3 bytes, 4 with ID 3);
 * motion is accumulated while the queue lacks room and sent when the
 * controller drains it.  Each axis is clamped to 9 bits (-256..255) with
 * the overflow bit set when clamped; the excess is dropped.
 */
void ps2_mouse_event(PS2Mouse *m, int dx, int dy, int dz, int buttons);
/** Device ID reported by 0xF2: 0, or 3 after the 200,100,80 rate sequence. */
uint8_t ps2_mouse_id(const PS2Mouse *m);

/** Snapshot table (section "ps2-mouse"). */
extern const StateDesc ps2_mouse_state;

#endif
