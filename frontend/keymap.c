/*
 * keymap.c - host keys to PS/2 scan code set 2.
 *
 * SDL scancodes are USB HID keyboard usages (page 7), so this is the table
 * of Microsoft's "Keyboard Scan Code Specification" (USB usage -> set 2),
 * also used by QEMU's ui/input-keymap tables: one make byte, optionally
 * preceded by E0; the break is F0 before the last byte.  Special keys:
 *   Pause         E1 14 77 E1 F0 14 F0 77 on press, nothing on release;
 *                 with Ctrl (Break) E0 7E E0 F0 7E
 *   PrintScreen   E0 12 E0 7C / E0 F0 7C E0 F0 12; with Shift or Ctrl
 *                 E0 7C / E0 F0 7C; with Alt (SysRq) 84 / F0 84
 *   Hanja, Hangul F1, F2 on press only (no break code)
 */
#include <string.h>

#include <SDL2/SDL_scancode.h>

#include "devices/ps2.h"
#include "frontend/display.h"

#define E0 0x100   /* extended: E0 prefix */
#define NB 0x200   /* no break code */

static const uint16_t set2[SDL_NUM_SCANCODES] = {
    [SDL_SCANCODE_A] = 0x1C, [SDL_SCANCODE_B] = 0x32, [SDL_SCANCODE_C] = 0x21,
    [SDL_SCANCODE_D] = 0x23, [SDL_SCANCODE_E] = 0x24, [SDL_SCANCODE_F] = 0x2B,
    [SDL_SCANCODE_G] = 0x34, [SDL_SCANCODE_H] = 0x33, [SDL_SCANCODE_I] = 0x43,
    [SDL_SCANCODE_J] = 0x3B, [SDL_SCANCODE_K] = 0x42, [SDL_SCANCODE_L] = 0x4B,
    [SDL_SCANCODE_M] = 0x3A, [SDL_SCANCODE_N] = 0x31, [SDL_SCANCODE_O] = 0x44,
    [SDL_SCANCODE_P] = 0x4D, [SDL_SCANCODE_Q] = 0x15, [SDL_SCANCODE_R] = 0x2D,
    [SDL_SCANCODE_S] = 0x1B, [SDL_SCANCODE_T] = 0x2C, [SDL_SCANCODE_U] = 0x3C,
    [SDL_SCANCODE_V] = 0x2A, [SDL_SCANCODE_W] = 0x1D, [SDL_SCANCODE_X] = 0x22,
    [SDL_SCANCODE_Y] = 0x35, [SDL_SCANCODE_Z] = 0x1A,
    [SDL_SCANCODE_1] = 0x16, [SDL_SCANCODE_2] = 0x1E, [SDL_SCANCODE_3] = 0x26,
    [SDL_SCANCODE_4] = 0x25, [SDL_SCANCODE_5] = 0x2E, [SDL_SCANCODE_6] = 0x36,
    [SDL_SCANCODE_7] = 0x3D, [SDL_SCANCODE_8] = 0x3E, [SDL_SCANCODE_9] = 0x46,
    [SDL_SCANCODE_0] = 0x45,
    [SDL_SCANCODE_RETURN] = 0x5A, [SDL_SCANCODE_ESCAPE] = 0x76,
    [SDL_SCANCODE_BACKSPACE] = 0x66, [SDL_SCANCODE_TAB] = 0x0D,
    [SDL_SCANCODE_SPACE] = 0x29, [SDL_SCANCODE_MINUS] = 0x4E,
    [SDL_SCANCODE_EQUALS] = 0x55, [SDL_SCANCODE_LEFTBRACKET] = 0x54,
    [SDL_SCANCODE_RIGHTBRACKET] = 0x5B, [SDL_SCANCODE_BACKSLASH] = 0x5D,
    [SDL_SCANCODE_NONUSHASH] = 0x5D, [SDL_SCANCODE_SEMICOLON] = 0x4C,
    [SDL_SCANCODE_APOSTROPHE] = 0x52, [SDL_SCANCODE_GRAVE] = 0x0E,
    [SDL_SCANCODE_COMMA] = 0x41, [SDL_SCANCODE_PERIOD] = 0x49,
    [SDL_SCANCODE_SLASH] = 0x4A, [SDL_SCANCODE_CAPSLOCK] = 0x58,
    [SDL_SCANCODE_F1] = 0x05, [SDL_SCANCODE_F2] = 0x06, [SDL_SCANCODE_F3] = 0x04,
    [SDL_SCANCODE_F4] = 0x0C, [SDL_SCANCODE_F5] = 0x03, [SDL_SCANCODE_F6] = 0x0B,
    [SDL_SCANCODE_F7] = 0x83, [SDL_SCANCODE_F8] = 0x0A, [SDL_SCANCODE_F9] = 0x01,
    [SDL_SCANCODE_F10] = 0x09, [SDL_SCANCODE_F11] = 0x78, [SDL_SCANCODE_F12] = 0x07,
    [SDL_SCANCODE_SCROLLLOCK] = 0x7E,
    [SDL_SCANCODE_INSERT] = E0 | 0x70, [SDL_SCANCODE_HOME] = E0 | 0x6C,
    [SDL_SCANCODE_PAGEUP] = E0 | 0x7D, [SDL_SCANCODE_DELETE] = E0 | 0x71,
    [SDL_SCANCODE_END] = E0 | 0x69, [SDL_SCANCODE_PAGEDOWN] = E0 | 0x7A,
    [SDL_SCANCODE_RIGHT] = E0 | 0x74, [SDL_SCANCODE_LEFT] = E0 | 0x6B,
    [SDL_SCANCODE_DOWN] = E0 | 0x72, [SDL_SCANCODE_UP] = E0 | 0x75,
    [SDL_SCANCODE_NUMLOCKCLEAR] = 0x77, [SDL_SCANCODE_KP_DIVIDE] = E0 | 0x4A,
    [SDL_SCANCODE_KP_MULTIPLY] = 0x7C, [SDL_SCANCODE_KP_MINUS] = 0x7B,
    [SDL_SCANCODE_KP_PLUS] = 0x79, [SDL_SCANCODE_KP_ENTER] = E0 | 0x5A,
    [SDL_SCANCODE_KP_1] = 0x69, [SDL_SCANCODE_KP_2] = 0x72, [SDL_SCANCODE_KP_3] = 0x7A,
    [SDL_SCANCODE_KP_4] = 0x6B, [SDL_SCANCODE_KP_5] = 0x73, [SDL_SCANCODE_KP_6] = 0x74,
    [SDL_SCANCODE_KP_7] = 0x6C, [SDL_SCANCODE_KP_8] = 0x75, [SDL_SCANCODE_KP_9] = 0x7D,
    [SDL_SCANCODE_KP_0] = 0x70, [SDL_SCANCODE_KP_PERIOD] = 0x71,
    [SDL_SCANCODE_NONUSBACKSLASH] = 0x61, [SDL_SCANCODE_APPLICATION] = E0 | 0x2F,
    [SDL_SCANCODE_POWER] = E0 | 0x37, [SDL_SCANCODE_KP_EQUALS] = 0x0F,
    [SDL_SCANCODE_F13] = 0x08, [SDL_SCANCODE_F14] = 0x10, [SDL_SCANCODE_F15] = 0x18,
    [SDL_SCANCODE_F16] = 0x20, [SDL_SCANCODE_F17] = 0x28, [SDL_SCANCODE_F18] = 0x30,
    [SDL_SCANCODE_F19] = 0x38, [SDL_SCANCODE_F20] = 0x40, [SDL_SCANCODE_F21] = 0x48,
    [SDL_SCANCODE_F22] = 0x50, [SDL_SCANCODE_F23] = 0x57, [SDL_SCANCODE_F24] = 0x5F,
    [SDL_SCANCODE_MUTE] = E0 | 0x23, [SDL_SCANCODE_VOLUMEUP] = E0 | 0x32,
    [SDL_SCANCODE_VOLUMEDOWN] = E0 | 0x21, [SDL_SCANCODE_KP_COMMA] = 0x6D,
    [SDL_SCANCODE_INTERNATIONAL1] = 0x51, [SDL_SCANCODE_INTERNATIONAL2] = 0x13,
    [SDL_SCANCODE_INTERNATIONAL3] = 0x6A, [SDL_SCANCODE_INTERNATIONAL4] = 0x64,
    [SDL_SCANCODE_INTERNATIONAL5] = 0x67,
    [SDL_SCANCODE_LANG1] = NB | 0xF2, [SDL_SCANCODE_LANG2] = NB | 0xF1,
    [SDL_SCANCODE_LCTRL] = 0x14, [SDL_SCANCODE_LSHIFT] = 0x12, [SDL_SCANCODE_LALT] = 0x11,
    [SDL_SCANCODE_LGUI] = E0 | 0x1F, [SDL_SCANCODE_RCTRL] = E0 | 0x14,
    [SDL_SCANCODE_RSHIFT] = 0x59, [SDL_SCANCODE_RALT] = E0 | 0x11,
    [SDL_SCANCODE_RGUI] = E0 | 0x27,
    [SDL_SCANCODE_AUDIONEXT] = E0 | 0x4D, [SDL_SCANCODE_AUDIOPREV] = E0 | 0x15,
    [SDL_SCANCODE_AUDIOSTOP] = E0 | 0x3B, [SDL_SCANCODE_AUDIOPLAY] = E0 | 0x34,
    [SDL_SCANCODE_AUDIOMUTE] = E0 | 0x23, [SDL_SCANCODE_MEDIASELECT] = E0 | 0x50,
    [SDL_SCANCODE_MAIL] = E0 | 0x48, [SDL_SCANCODE_CALCULATOR] = E0 | 0x2B,
    [SDL_SCANCODE_COMPUTER] = E0 | 0x40, [SDL_SCANCODE_AC_SEARCH] = E0 | 0x10,
    [SDL_SCANCODE_AC_HOME] = E0 | 0x3A, [SDL_SCANCODE_AC_BACK] = E0 | 0x38,
    [SDL_SCANCODE_AC_FORWARD] = E0 | 0x30, [SDL_SCANCODE_AC_STOP] = E0 | 0x28,
    [SDL_SCANCODE_AC_REFRESH] = E0 | 0x20, [SDL_SCANCODE_AC_BOOKMARKS] = E0 | 0x18,
    [SDL_SCANCODE_SLEEP] = E0 | 0x3F,
};

int keymap_sdl_to_set2(int sc, bool down, unsigned mods, uint8_t out[8])
{
    if (sc <= 0 || sc >= SDL_NUM_SCANCODES)
        return 0;
    if (sc == SDL_SCANCODE_PAUSE) {
        if (!down)
            return 0;
        if (mods & KEYMAP_MOD_CTRL) {
            static const uint8_t brk[] = { 0xE0, 0x7E, 0xE0, 0xF0, 0x7E };
            memcpy(out, brk, sizeof(brk));
            return (int)sizeof(brk);
        }
        static const uint8_t pause[] = { 0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77 };
        memcpy(out, pause, sizeof(pause));
        return (int)sizeof(pause);
    }
    if (sc == SDL_SCANCODE_PRINTSCREEN || sc == SDL_SCANCODE_SYSREQ) {
        int n = 0;
        if ((mods & KEYMAP_MOD_ALT) || sc == SDL_SCANCODE_SYSREQ) {
            if (!down)
                out[n++] = 0xF0;
            out[n++] = 0x84;
            return n;
        }
        bool alone = !(mods & (KEYMAP_MOD_CTRL | KEYMAP_MOD_SHIFT));
        if (down) {
            if (alone) {
                out[n++] = 0xE0;
                out[n++] = 0x12;
            }
            out[n++] = 0xE0;
            out[n++] = 0x7C;
        } else {
            out[n++] = 0xE0;
            out[n++] = 0xF0;
            out[n++] = 0x7C;
            if (alone) {
                out[n++] = 0xE0;
                out[n++] = 0xF0;
                out[n++] = 0x12;
            }
        }
        return n;
    }
    uint16_t v = set2[sc];
    if (!v)
        return 0;
    if (!down && (v & NB))
        return 0;
    int n = 0;
    if (v & E0)
        out[n++] = 0xE0;
    if (!down)
        out[n++] = 0xF0;
    out[n++] = (uint8_t)v;
    return n;
}

/* US layout: characters on the unshifted and shifted key. */
static const char us_plain[] = "abcdefghijklmnopqrstuvwxyz1234567890-=[]\\;'`,./ ";
static const char us_shift[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()_+{}|:\"~<>? ";
static const uint8_t us_codes[] = {
    SDL_SCANCODE_A, SDL_SCANCODE_B, SDL_SCANCODE_C, SDL_SCANCODE_D, SDL_SCANCODE_E,
    SDL_SCANCODE_F, SDL_SCANCODE_G, SDL_SCANCODE_H, SDL_SCANCODE_I, SDL_SCANCODE_J,
    SDL_SCANCODE_K, SDL_SCANCODE_L, SDL_SCANCODE_M, SDL_SCANCODE_N, SDL_SCANCODE_O,
    SDL_SCANCODE_P, SDL_SCANCODE_Q, SDL_SCANCODE_R, SDL_SCANCODE_S, SDL_SCANCODE_T,
    SDL_SCANCODE_U, SDL_SCANCODE_V, SDL_SCANCODE_W, SDL_SCANCODE_X, SDL_SCANCODE_Y,
    SDL_SCANCODE_Z, SDL_SCANCODE_1, SDL_SCANCODE_2, SDL_SCANCODE_3, SDL_SCANCODE_4,
    SDL_SCANCODE_5, SDL_SCANCODE_6, SDL_SCANCODE_7, SDL_SCANCODE_8, SDL_SCANCODE_9,
    SDL_SCANCODE_0, SDL_SCANCODE_MINUS, SDL_SCANCODE_EQUALS, SDL_SCANCODE_LEFTBRACKET,
    SDL_SCANCODE_RIGHTBRACKET, SDL_SCANCODE_BACKSLASH, SDL_SCANCODE_SEMICOLON,
    SDL_SCANCODE_APOSTROPHE, SDL_SCANCODE_GRAVE, SDL_SCANCODE_COMMA, SDL_SCANCODE_PERIOD,
    SDL_SCANCODE_SLASH, SDL_SCANCODE_SPACE,
};

int keymap_ascii_to_sdl(int ch, bool *shift, bool *ctrl)
{
    *shift = false;
    *ctrl = false;
    switch (ch) {
    case '\r': case '\n': return SDL_SCANCODE_RETURN;
    case '\t': return SDL_SCANCODE_TAB;
    case 0x1B: return SDL_SCANCODE_ESCAPE;
    case 0x7F: case '\b': return SDL_SCANCODE_BACKSPACE;
    default: break;
    }
    if (ch <= 0 || ch > 0x7E)
        return -1;
    if (ch < 0x20) {
        /* Ctrl-@ .. Ctrl-_: Ctrl with the letter (or 2 [ \ ] 6 -). */
        static const char ctl[] = "2abcdefghijklmnopqrstuvwxyz[\\]6-";
        *ctrl = true;
        bool dummy;
        return keymap_ascii_to_sdl(ctl[ch], shift, &dummy);
    }
    const char *p = memchr(us_plain, ch, sizeof(us_plain) - 1);
    if (p)
        return us_codes[p - us_plain];
    p = memchr(us_shift, ch, sizeof(us_shift) - 1);
    if (p) {
        *shift = true;
        return us_codes[p - us_shift];
    }
    return -1;
}

/* ---- key event queue in front of the PS/2 keyboard ---- */

int keyq_push(KeyQueue *q, const uint8_t *bytes, int n)
{
    int nev = (int)(sizeof(q->len) / sizeof(q->len[0]));
    int nbuf = (int)sizeof(q->buf);
    if (n <= 0)
        return 0;
    if (q->count >= nev || q->bcount + n > nbuf)
        return -1;
    for (int k = 0; k < n; k++)
        q->buf[(q->bhead + q->bcount + k) % nbuf] = bytes[k];
    q->bcount += n;
    q->len[(q->head + q->count) % nev] = (uint16_t)n;
    q->count++;
    return 0;
}

void keyq_flush(KeyQueue *q, struct PS2Kbd *kbd)
{
    int nev = (int)(sizeof(q->len) / sizeof(q->len[0]));
    int nbuf = (int)sizeof(q->buf);
    while (q->count > 0) {
        int n = q->len[q->head];
        if (kbd && ps2_kbd_pending(kbd) + n > PS2_QUEUE_SIZE)
            return;
        uint8_t ev[16];
        for (int k = 0; k < n && k < (int)sizeof(ev); k++)
            ev[k] = q->buf[(q->bhead + k) % nbuf];
        if (kbd)
            ps2_kbd_put_scancode_set2(kbd, ev, n);
        q->bhead = (q->bhead + n) % nbuf;
        q->bcount -= n;
        q->head = (q->head + 1) % nev;
        q->count--;
    }
}
