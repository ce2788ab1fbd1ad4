/*
 * display_curses.c - -display curses: the VGA text screen in the terminal
 * (ncursesw), read straight from VGA memory (plane 0 characters, plane 1
 * attributes, CRTC geometry, start address and cursor), in colour, code
 * page 437 shown as Unicode when the locale is UTF-8.  Graphics modes show
 * a one-line notice.  Terminal keys go to the PS/2 keyboard as set-2
 * make/break pairs (printable characters with Shift/Ctrl as needed, Enter,
 * Backspace, Tab, Esc, arrows, editing keys, F1-F12).  Ctrl-A x quits,
 * Ctrl-A a sends Ctrl-A.
 */
#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <ncursesw/curses.h>
#include <SDL2/SDL_scancode.h>

#include "devices/i8042.h"
#include "devices/ps2.h"
#include "devices/vclock.h"
#include "devices/vga.h"
#include "frontend/display.h"

#define REFRESH_NS (1000000000LL / 30)

/* Code page 437 as Unicode. */
static const uint16_t cp437[256] = {
    0x0020, 0x263A, 0x263B, 0x2665, 0x2666, 0x2663, 0x2660, 0x2022, 0x25D8, 0x25CB, 0x25D9, 0x2642,
    0x2640, 0x266A, 0x266B, 0x263C, 0x25BA, 0x25C4, 0x2195, 0x203C, 0x00B6, 0x00A7, 0x25AC, 0x21A8,
    0x2191, 0x2193, 0x2192, 0x2190, 0x221F, 0x2194, 0x25B2, 0x25BC,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
    0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F,
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x2302,
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, 0x00EA, 0x00EB, 0x00E8, 0x00EF,
    0x00EE, 0x00EC, 0x00C4, 0x00C5, 0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9,
    0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, 0x00E1, 0x00ED, 0x00F3, 0x00FA,
    0x00F1, 0x00D1, 0x00AA, 0x00BA, 0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557,
    0x255D, 0x255C, 0x255B, 0x2510, 0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F,
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
    0x2558, 0x2552, 0x2553, 0x256B, 0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580,
    0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, 0x03A6, 0x0398, 0x03A9, 0x03B4,
    0x221E, 0x03C6, 0x03B5, 0x2229, 0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248,
    0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0,
};

/* VGA colour index (IBM order) to curses colour. */
static const short vga2curses[8] = { COLOR_BLACK, COLOR_BLUE, COLOR_GREEN, COLOR_CYAN,
                                     COLOR_RED, COLOR_MAGENTA, COLOR_YELLOW, COLOR_WHITE };

static struct {
    PcMachine *pc;
    Vga *vga;
    PS2Kbd *kbd;
    bool up;
    bool utf8;
    bool bright16;       /* 16 foreground colours available */
    bool colors;
    KeyQueue kq;
    bool escape;         /* Ctrl-A seen */
    int64_t next_refresh, next_repaint;
    bool force;          /* refresh() even if no cell changed */
    uint16_t shadow[128 * 256];
    bool shadow_valid;
    int last_kind;       /* 0 none, 1 text, 2 graphics/blank */
    int last_cols, last_rows;
} cur;

static void send_sc(int sc, bool down)
{
    uint8_t b[8];
    int n = keymap_sdl_to_set2(sc, down, 0, b);
    if (n > 0)
        keyq_push(&cur.kq, b, n);
}

/* A key pressed and released, with Shift and/or Ctrl held around it. */
static void tap(int sc, bool shift, bool ctrl)
{
    if (ctrl)
        send_sc(SDL_SCANCODE_LCTRL, true);
    if (shift)
        send_sc(SDL_SCANCODE_LSHIFT, true);
    send_sc(sc, true);
    send_sc(sc, false);
    if (shift)
        send_sc(SDL_SCANCODE_LSHIFT, false);
    if (ctrl)
        send_sc(SDL_SCANCODE_LCTRL, false);
}

static int curses_key_to_sdl(int k, bool *shift)
{
    *shift = false;
    if (k >= KEY_F(1) && k <= KEY_F(12)) {
        static const int f[12] = { SDL_SCANCODE_F1, SDL_SCANCODE_F2, SDL_SCANCODE_F3, SDL_SCANCODE_F4,
                                   SDL_SCANCODE_F5, SDL_SCANCODE_F6, SDL_SCANCODE_F7, SDL_SCANCODE_F8,
                                   SDL_SCANCODE_F9, SDL_SCANCODE_F10, SDL_SCANCODE_F11, SDL_SCANCODE_F12 };
        return f[k - KEY_F(1)];
    }
    switch (k) {
    case KEY_UP: return SDL_SCANCODE_UP;
    case KEY_DOWN: return SDL_SCANCODE_DOWN;
    case KEY_LEFT: return SDL_SCANCODE_LEFT;
    case KEY_RIGHT: return SDL_SCANCODE_RIGHT;
    case KEY_HOME: return SDL_SCANCODE_HOME;
    case KEY_END: return SDL_SCANCODE_END;
    case KEY_PPAGE: return SDL_SCANCODE_PAGEUP;
    case KEY_NPAGE: return SDL_SCANCODE_PAGEDOWN;
    case KEY_IC: return SDL_SCANCODE_INSERT;
    case KEY_DC: return SDL_SCANCODE_DELETE;
    case KEY_BACKSPACE: return SDL_SCANCODE_BACKSPACE;
    case KEY_ENTER: return SDL_SCANCODE_RETURN;
    case KEY_BTAB: *shift = true; return SDL_SCANCODE_TAB;
    default: return -1;
    }
}

static void handle_key(int k)
{
    if (k == KEY_RESIZE) {
        cur.shadow_valid = false;
        cur.last_kind = 0;
        return;
    }
    if (cur.escape) {
        cur.escape = false;
        if (k == 'x' || k == 'X') {
            endwin();
            cur.up = false;
            fprintf(stderr, "vessel: terminated by Ctrl-A x\n");
            pc_request_exit(cur.pc, 0);
            return;
        }
        if (k != 'a' && k != 0x01)
            return;
        k = 0x01;
    } else if (k == 0x01) {
        cur.escape = true;
        return;
    }
    bool shift = false, ctrl = false;
    int sc = k >= KEY_MIN ? curses_key_to_sdl(k, &shift) : keymap_ascii_to_sdl(k, &shift, &ctrl);
    if (sc > 0)
        tap(sc, shift, ctrl);
}

static void read_input(void)
{
    struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
    if (poll(&p, 1, 0) <= 0)
        return;
    for (int n = 0; n < 64 && cur.up; n++) {
        int k = getch();
        if (k == ERR)
            break;
        handle_key(k);
    }
}

static attr_t cell_attr(uint8_t a, bool blink_attr, short *pair)
{
    unsigned fg = a & 0x0F, bg = (a >> 4) & (blink_attr ? 7 : 15);
    attr_t at = A_NORMAL;
    if (blink_attr && (a & 0x80))
        at |= A_BLINK;
    if (bg & 8)
        bg &= 7;   /* no bright backgrounds in 8-colour terminals */
    if (!cur.bright16 && (fg & 8)) {
        at |= A_BOLD;
        fg &= 7;
    }
    *pair = cur.colors ? (short)(1 + fg * 8 + bg) : 0;
    if (!cur.colors && (a & 0x70) && !(a & 0x07))
        at |= A_REVERSE;
    return at;
}

static wchar_t to_wide(uint8_t c)
{
    wchar_t w = cp437[c];
    if (cur.utf8)
        return w;
    if (w >= 0x20 && w < 0x7F)
        return w;
    if (w == 0x2500 || w == 0x2550)
        return '-';
    if (w == 0x2502 || w == 0x2551)
        return '|';
    if (w >= 0x2500 && w < 0x2580)
        return '+';
    if (w >= 0x2580 && w < 0x25A1)
        return '#';
    return c == 0 || c == 0xFF ? ' ' : '?';
}

static void draw_notice(const char *msg)
{
    erase();
    attrset(A_NORMAL);
    mvaddnstr(0, 0, msg, COLS > 0 ? COLS : 80);
    move(0, 0);
    curs_set(0);
    refresh();
}

static void draw_screen(void)
{
    Vga *s = cur.vga;
    if (!s) {
        if (cur.last_kind != 2) {
            cur.last_kind = 2;
            draw_notice("vessel: the machine has no VGA (-vga none)");
        }
        return;
    }
    bool text = !vga_vbe_enabled(s) && (s->ar_index & 0x20) && !(s->sr[1] & 0x20) && !(s->gr[6] & 1);
    if (!text) {
        if (cur.last_kind != 2) {
            cur.last_kind = 2;
            cur.shadow_valid = false;
            draw_notice("vessel: the guest is in a graphics mode; -display curses shows text modes only");
        } else if (cur.force) {
            refresh();
        }
        cur.force = false;
        return;
    }
    int cols = s->cr[1] + 1;
    int ch = (s->cr[9] & 0x1F) + 1;
    int per_row = ch << ((s->cr[9] & 0x80) ? 1 : 0);
    int vde = (s->cr[0x12] | ((s->cr[7] & 0x02) << 7) | ((s->cr[7] & 0x40) << 3)) + 1;
    int rows = vde / per_row;
    if (rows < 1)
        rows = 1;
    if (rows > 128)
        rows = 128;
    if (cols > 256)
        cols = 256;
    if (cur.last_kind != 1 || cols != cur.last_cols || rows != cur.last_rows) {
        erase();
        cur.shadow_valid = false;
        cur.last_kind = 1;
        cur.last_cols = cols;
        cur.last_rows = rows;
    }
    uint32_t start = (uint32_t)(s->cr[0x0C] << 8 | s->cr[0x0D]);
    uint32_t offset = (uint32_t)s->cr[0x13] * 2;
    bool blink_attr = (s->ar[0x10] & 0x08) != 0;
    bool changed = !cur.shadow_valid || cur.force;
    cur.force = false;
    int maxr = rows < LINES ? rows : LINES, maxc = cols < COLS ? cols : COLS;
    for (int r = 0; r < maxr; r++) {
        uint32_t rowaddr = start + (uint32_t)r * offset;
        for (int c = 0; c < maxc; c++) {
            uint32_t a = ((rowaddr + (uint32_t)c) & 0xFFFF) * 4;
            uint16_t cell = (uint16_t)(s->vram[a] | s->vram[a + 1] << 8);
            uint16_t *sh = &cur.shadow[r * 256 + c];
            if (cur.shadow_valid && *sh == cell)
                continue;
            *sh = cell;
            changed = true;
            short pair;
            attr_t at = cell_attr((uint8_t)(cell >> 8), blink_attr, &pair);
            wchar_t wc[2] = { to_wide((uint8_t)cell), 0 };
            cchar_t cc;
            setcchar(&cc, wc, at, pair, NULL);
            mvadd_wch(r, c, &cc);
        }
    }
    cur.shadow_valid = true;
    /* the cursor */
    uint32_t cloc = (uint32_t)(s->cr[0x0E] << 8 | s->cr[0x0F]);
    int cs = s->cr[0x0A] & 0x1F, ce = s->cr[0x0B] & 0x1F;
    int crow = -1, ccol = -1;
    if (!(s->cr[0x0A] & 0x20) && cs <= ce && cloc >= start && offset) {
        crow = (int)((cloc - start) / offset);
        ccol = (int)((cloc - start) % offset);
    }
    static int last_crow = -2, last_ccol = -2;
    if (crow != last_crow || ccol != last_ccol)
        changed = true;
    if (!changed)
        return;
    last_crow = crow;
    last_ccol = ccol;
    if (crow >= 0 && crow < maxr && ccol < maxc) {
        curs_set(1);
        move(crow, ccol);
    } else {
        curs_set(0);
        move(maxr < LINES ? maxr : LINES - 1, 0);
    }
    refresh();
}

static void curses_poll(void *opaque)
{
    (void)opaque;
    if (!cur.up)
        return;
    read_input();
    if (!cur.up)
        return;
    keyq_flush(&cur.kq, cur.kbd);
    int64_t now = vclock_host_ns();
    if (now >= cur.next_refresh) {
        cur.next_refresh = now + REFRESH_NS;
        /* every 2 s repaint every line: log lines written to the terminal
         * (stderr) must not stay on the guest's screen */
        if (now >= cur.next_repaint) {
            cur.next_repaint = now + 2 * 1000000000LL;
            redrawwin(stdscr);
            cur.force = true;
        }
        draw_screen();
    }
}

static int curses_setup(PcMachine *pc, bool full_screen, char *err, size_t errlen)
{
    (void)full_screen;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(err, errlen, "-display curses: standard input and output must be a terminal");
        return -1;
    }
    setlocale(LC_CTYPE, "");
    cur.utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
    if (!initscr()) {
        snprintf(err, errlen, "-display curses: cannot initialise the terminal");
        return -1;
    }
    cur.up = true;
    cur.pc = pc;
    cur.vga = pc_vga(pc);
    I8042 *kbc = pc_i8042(pc);
    cur.kbd = kbc ? i8042_kbd(kbc) : NULL;
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    if (has_colors()) {
        start_color();
        cur.colors = true;
        cur.bright16 = COLORS >= 16 && COLOR_PAIRS > 128;
        for (int fg = 0; fg < (cur.bright16 ? 16 : 8); fg++)
            for (int bg = 0; bg < 8; bg++)
                init_pair((short)(1 + fg * 8 + bg), (short)(vga2curses[fg & 7] + (fg & 8)), vga2curses[bg]);
    }
    erase();
    refresh();
    if (pc_add_poll_hook(pc, curses_poll, NULL) < 0) {
        endwin();
        cur.up = false;
        snprintf(err, errlen, "-display curses: too many poll hooks");
        return -1;
    }
    return 0;
}

static void curses_shutdown(void)
{
    if (cur.up) {
        endwin();
        cur.up = false;
    }
}

const DisplayOps display_curses_ops = { curses_setup, curses_shutdown };
