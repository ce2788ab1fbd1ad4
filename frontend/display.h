/*
 * display.h - vessel's display front ends: an SDL2 window (-display sdl),
 * the VGA text screen in the terminal (-display curses), and PNG
 * screendumps of the VGA picture.
 *
 * main.c calls, in this order:
 *   display_parse_flag()  for every argv[k] it does not know, while parsing;
 *   display_select()      once after parsing, BEFORE pc_new(): resolves the
 *                         display (explicit -display, else sdl when DISPLAY
 *                         or WAYLAND_DISPLAY is set, else none) and returns
 *                         true when main.c must behave as with -nographic
 *                         (the flag itself, or a headless host with no
 *                         explicit -display none/curses: a one-line notice
 *                         is printed);
 *   display_setup()       once after pc_new() (opens the window / terminal
 *                         screen, installs a board poll hook);
 *   display_shutdown()    once after pc_run() returns (also run at exit).
 *
 * Everything runs on the main loop's thread, from the board's poll hook
 * (about every millisecond of host time).
 */
#ifndef VESSEL_FRONTEND_DISPLAY_H
#define VESSEL_FRONTEND_DISPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/pc.h"

struct Vga;

/** If argv[*k] is a display flag, consumes it (and its argument), advances
 *  *k to the last word consumed and returns 1; 0 if the flag is not ours.
 *  Flags (a leading "--" is accepted as "-"):
 *    -display sdl|none|curses   (also sdl,full-screen=on, gtk -> sdl)
 *    -full-screen               start the window in full-screen mode
 *    -screendump-at TIME:FILE.png[,quit]
 *                               write a PNG of the screen when the virtual
 *                               clock reaches TIME (seconds; suffix ms or s
 *                               allowed) or, as iN, after N instructions;
 *                               ",quit" then exits with status 0.  Repeatable.
 *  A bad value prints one error line and exits with status 2. */
int display_parse_flag(int argc, char **argv, int *k);

/** Resolves the display before the machine is built; see above.  Returns
 *  true when main.c must behave as -nographic.  Exits with status 2 on a
 *  conflict (-nographic with -display sdl/curses). */
bool display_select(bool nographic);

/** Opens the selected display on pc.  nographic: no window (screendumps
 *  still work).  Returns 0, -1 with a message in err, or 1 when the display
 *  fell back to none and main.c should behave as -nographic (only possible
 *  when display_select() was not called first). */
int display_setup(PcMachine *pc, bool nographic, char *err, size_t errlen);

/** Closes the window / restores the terminal.  Safe to call twice. */
void display_shutdown(void);

/* ---- screendump.c ---- */

/** Renders the current VGA picture in full and writes it as an 8-bit RGB
 *  PNG.  Returns 0, or -1 with a message in err (no VGA, no picture, I/O
 *  error).  The monitor's "screendump FILE" calls this. */
int screendump_png(PcMachine *pc, const char *path, char *err, size_t errlen);
int screendump_vga_png(struct Vga *vga, const char *path, char *err, size_t errlen);

/** Schedules a PNG screendump of pc's VGA into path when the virtual clock
 *  reaches when ns (by_icount false) or once when instructions have
 *  retired (by_icount true): a VTimer, so the dump is exact and, under
 *  -icount, deterministic (a poll hook only for counts on the host clock).
 *  quit: then exit with status 0 (2 if the dump failed).  Call after
 *  pc_new(), before pc_run().  Returns 0, or -1 with a message in err. */
int screendump_at_add(PcMachine *pc, bool by_icount, uint64_t when, const char *path, bool quit,
                      char *err, size_t errlen);

/** Writes a 0x00RRGGBB picture (stride in pixels) as a PNG. */
int png_write_xrgb(const char *path, const uint32_t *px, int w, int h, int stride, char *err,
                   size_t errlen);

/** The one host picture of the VGA (VGA_MAX_W x VGA_MAX_H pixels), shared
 *  by the window and screendumps: vga_render() tracks changes per call, so
 *  two callers with separate buffers would steal each other's updates. */
typedef struct DisplayFrame {
    uint32_t *px;       /**< stride VGA_MAX_W; NULL until first update */
    int w, h;           /**< picture size of the last update */
    unsigned gen;       /**< bumped whenever pixels or size changed */
} DisplayFrame;
DisplayFrame *display_frame(void);
/** vga_render() into the shared frame; returns its result (-1 on ENOMEM). */
int display_frame_update(struct Vga *vga, bool full);

/* ---- keymap.c: host keys to PS/2 scan code set 2 ---- */

/** Modifier state that changes what some keys send. */
enum { KEYMAP_MOD_CTRL = 1, KEYMAP_MOD_ALT = 2, KEYMAP_MOD_SHIFT = 4 };

/** The set-2 bytes for SDL scancode sc (USB HID usage) going down or up
 *  into out (up to 8 bytes).  Returns the byte count, 0 for an unmapped key
 *  or for Pause going up (Pause has no break code).  mods: Ctrl+Pause sends
 *  Break (E0 7E E0 F0 7E), Alt+PrintScreen sends SysRq (84 / F0 84). */
int keymap_sdl_to_set2(int sc, bool down, unsigned mods, uint8_t out[8]);

/** A character typed in a terminal as an SDL scancode; *shift tells whether
 *  Shift must be held, *ctrl whether Ctrl must be (control characters).
 *  Returns -1 for characters that are not on a US keyboard. */
int keymap_ascii_to_sdl(int ch, bool *shift, bool *ctrl);

/** Host key events waiting for room in the PS/2 keyboard's queue (the
 *  guest reads 16 bytes at most between polls; a paste must not overrun). */
typedef struct KeyQueue {
    uint8_t buf[1024];
    uint16_t len[256];  /**< bytes per queued event */
    int head, count;    /**< events */
    int bhead, bcount;  /**< bytes */
} KeyQueue;
struct PS2Kbd;
/** Queues one key event's bytes; returns 0 or -1 when the queue is full. */
int keyq_push(KeyQueue *q, const uint8_t *bytes, int n);
/** Hands whole events to the keyboard while its queue has room. */
void keyq_flush(KeyQueue *q, struct PS2Kbd *kbd);

/* ---- internal to frontend/display_*.c ---- */
typedef struct DisplayOps {
    int (*setup)(PcMachine *pc, bool full_screen, char *err, size_t errlen);
    void (*shutdown)(void);
} DisplayOps;
extern const DisplayOps display_sdl_ops;
extern const DisplayOps display_curses_ops;
/** True if an SDL video driver can open a window here (SDL video is
 *  initialised as a side effect when it succeeds). */
bool display_sdl_available(char *why, size_t len);

#endif
