/*
 * display_sdl.c - the display flags and dispatcher (display_parse_flag,
 * display_select, display_setup, display_shutdown, -screendump-at), and
 * the SDL2 window (-display sdl).
 *
 * The window shows the VGA picture scaled to fit, keeping the aspect ratio
 * (SDL_RenderSetLogicalSize letterboxes), refreshed at 60 Hz from the
 * board's poll hook: vga_render() into the shared frame, and a streaming
 * texture upload only when it changed.  Keys go to the PS/2 keyboard as
 * set-2 sequences (keymap.c), through a queue that waits for room.  A click
 * grabs the mouse (relative motion, buttons and wheel to the PS/2 mouse);
 * Ctrl+Alt+G releases it, Ctrl+Alt+F toggles full screen (as QEMU).
 * Closing the window presses the ACPI power button; if the guest is still
 * running 3 s later (or on a second close), vessel quits with status 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL2/SDL.h>
#include <SDL2/SDL_syswm.h>

#include "devices/i8042.h"
#include "devices/ps2.h"
#include "devices/vclock.h"
#include "devices/vga.h"
#include "frontend/debug.h"
#include "frontend/display.h"

/* ================================================================
 * Flags and dispatch
 * ================================================================ */

enum { DISP_DEFAULT, DISP_NONE, DISP_SDL, DISP_CURSES };

#define MAX_DUMPS 16
typedef struct ScreenDumpAt {
    bool by_icount;
    uint64_t when;          /* ns of virtual time, or instructions */
    char *path;
    bool quit;
} ScreenDumpAt;

static struct {
    int mode;               /* as given */
    int active;             /* after display_select */
    bool selected;
    bool full_screen;
    ScreenDumpAt dumps[MAX_DUMPS];
    int ndumps;
    PcMachine *pc;
    const DisplayOps *ops;
    bool hook_added;
} disp;

static void die2(const char *fmt, const char *arg)
{
    fputs("vessel: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see vessel --help)\n", stderr);
    exit(2);
}

static void parse_dump_at(const char *v)
{
    const char *colon = strchr(v, ':');
    if (!colon || colon == v || !colon[1])
        die2("-screendump-at: expected TIME:FILE.png (got '%s')", v);
    if (disp.ndumps >= MAX_DUMPS)
        die2("-screendump-at: at most 16 (got '%s')", v);
    ScreenDumpAt *d = &disp.dumps[disp.ndumps];
    memset(d, 0, sizeof(*d));
    char t[64];
    size_t tl = (size_t)(colon - v);
    if (tl >= sizeof(t))
        die2("-screendump-at: invalid time in '%s'", v);
    memcpy(t, v, tl);
    t[tl] = 0;
    char *end;
    if (t[0] == 'i') {
        d->by_icount = true;
        unsigned long long n = strtoull(t + 1, &end, 0);
        if (end == t + 1 || *end)
            die2("-screendump-at: invalid instruction count in '%s'", v);
        d->when = n;
    } else {
        double s = strtod(t, &end);
        if (end == t || s < 0)
            die2("-screendump-at: invalid time in '%s'", v);
        if (!strcmp(end, "ms"))
            s /= 1000.0;
        else if (*end && strcmp(end, "s"))
            die2("-screendump-at: invalid time unit in '%s' (use s or ms)", v);
        d->when = (uint64_t)(s * 1e9);
    }
    d->path = strdup(colon + 1);
    size_t pl = strlen(d->path);
    if (pl > 5 && !strcmp(d->path + pl - 5, ",quit")) {
        d->path[pl - 5] = 0;
        d->quit = true;
    }
    if (!d->path[0])
        die2("-screendump-at: empty file name in '%s'", v);
    disp.ndumps++;
}

int display_parse_flag(int argc, char **argv, int *k)
{
    const char *a = argv[*k];
    if (a[0] == '-' && a[1] == '-' && a[2])
        a++;
    if (!strcmp(a, "-display")) {
        if (*k + 1 >= argc)
            die2("option '%s' needs an argument", argv[*k]);
        const char *v = argv[++*k];
        char name[32];
        size_t n = strcspn(v, ",");
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, v, n);
        name[n] = 0;
        if (!strcmp(name, "sdl") || !strcmp(name, "gtk"))
            disp.mode = DISP_SDL;
        else if (!strcmp(name, "none"))
            disp.mode = DISP_NONE;
        else if (!strcmp(name, "curses"))
            disp.mode = DISP_CURSES;
        else if (!strcmp(name, "default"))
            disp.mode = DISP_DEFAULT;
        else
            die2("-display: '%s' is not available (use sdl, curses or none)", v);
        /* options: full-screen=on|off; others (gl=, grab-on-hover=...) ignored */
        for (const char *o = v + strcspn(v, ","); *o == ','; o += 1 + strcspn(o + 1, ",")) {
            if (!strncmp(o + 1, "full-screen=on", 14))
                disp.full_screen = true;
            else if (!strncmp(o + 1, "full-screen=off", 15))
                disp.full_screen = false;
        }
        return 1;
    }
    if (!strcmp(a, "-full-screen")) {
        disp.full_screen = true;
        return 1;
    }
    if (!strcmp(a, "-sdl")) {
        disp.mode = DISP_SDL;
        return 1;
    }
    if (!strcmp(a, "-curses")) {
        disp.mode = DISP_CURSES;
        return 1;
    }
    if (!strcmp(a, "-screendump-at")) {
        if (*k + 1 >= argc)
            die2("option '%s' needs an argument", argv[*k]);
        parse_dump_at(argv[++*k]);
        return 1;
    }
    return 0;
}

bool display_select(bool nographic)
{
    disp.selected = true;
    if (nographic) {
        if (disp.mode == DISP_SDL || disp.mode == DISP_CURSES)
            die2("-nographic cannot be used with -display %s", disp.mode == DISP_SDL ? "sdl" : "curses");
        disp.active = DISP_NONE;
        return true;
    }
    switch (disp.mode) {
    case DISP_NONE:
        disp.active = DISP_NONE;
        return false;
    case DISP_CURSES:
        disp.active = DISP_CURSES;
        return false;
    default:
        break;
    }
    char why[256];
    if (display_sdl_available(why, sizeof(why))) {
        disp.active = DISP_SDL;
        return false;
    }
    fprintf(stderr, "vessel: no window possible (%s): running as with -nographic\n", why);
    disp.active = DISP_NONE;
    return true;
}

int display_setup(PcMachine *pc, bool nographic, char *err, size_t errlen)
{
    int ret = 0;
    if (!disp.selected) {
        if (display_select(nographic))
            ret = 1;
    }
    if (nographic)
        disp.active = DISP_NONE;
    disp.pc = pc;
    if (!disp.hook_added) {
        /* -screendump-at: VTimers on the virtual clock (screendump.c) */
        for (int i = 0; i < disp.ndumps; i++) {
            ScreenDumpAt *d = &disp.dumps[i];
            if (screendump_at_add(pc, d->by_icount, d->when, d->path, d->quit, err, errlen) < 0)
                return -1;
        }
        disp.hook_added = true;
    }
    disp.ops = disp.active == DISP_SDL ? &display_sdl_ops : disp.active == DISP_CURSES ? &display_curses_ops : NULL;
    if (disp.ops) {
        if (disp.ops->setup(pc, disp.full_screen, err, errlen) < 0) {
            disp.ops = NULL;
            return -1;
        }
        atexit(display_shutdown);
    }
    return ret;
}

void display_shutdown(void)
{
    const DisplayOps *o = disp.ops;
    disp.ops = NULL;
    if (o)
        o->shutdown();
}

/* ================================================================
 * SDL window
 * ================================================================ */

#define FRAME_NS (1000000000LL / 60)
#define CLOSE_GRACE_NS (3 * 1000000000LL)

static struct {
    bool video_up;
    PcMachine *pc;
    Vga *vga;
    PS2Kbd *kbd;
    PS2Mouse *mouse;
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Texture *tex;
    int tex_w, tex_h;
    unsigned uploaded_gen;
    bool need_present;
    bool full_screen;
    bool grabbed;
    bool swallow[SDL_NUM_SCANCODES];   /* hotkey keys: do not send their break */
    bool down[SDL_NUM_SCANCODES];      /* make sent, break not yet */
    KeyQueue kq;
    int mdx, mdy, mdz, mbuttons, sent_buttons;
    int64_t next_frame, next_title, close_deadline;
    uint64_t title_icount;
    int64_t title_ns;
    double mips;
    bool paused_shown;
    bool closing;
    int x11_fd;
} sdl = { .x11_fd = -1 };

bool display_sdl_available(char *why, size_t len)
{
    if (sdl.video_up)
        return true;
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    SDL_SetHint(SDL_HINT_GRAB_KEYBOARD, "1");
    SDL_SetHint(SDL_HINT_QUIT_ON_LAST_WINDOW_CLOSE, "0");
    /* Only a real window system: SDL would otherwise fall back to its
     * "offscreen" driver and show nothing.  SDL_VIDEODRIVER still wins. */
    const char *forced = getenv("SDL_VIDEODRIVER");
    const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
    const char *cand[3] = { NULL, NULL, NULL };
    int nc = 0;
    if (forced && *forced) {
        cand[nc++] = forced;
    } else {
        if (x && *x)
            cand[nc++] = "x11";
        if (wl && *wl)
            cand[nc++] = "wayland";
    }
    snprintf(why, len, "no DISPLAY or WAYLAND_DISPLAY");
    for (int i = 0; i < nc; i++) {
        SDL_SetHint(SDL_HINT_VIDEODRIVER, cand[i]);
        if (SDL_InitSubSystem(SDL_INIT_VIDEO) == 0) {
            sdl.video_up = true;
            return true;
        }
        snprintf(why, len, "SDL %s: %s", cand[i], SDL_GetError());
    }
    return false;
}

static int64_t host_ns(void) { return vclock_host_ns(); }

static void set_title(const char *state)
{
    char t[160];
    snprintf(t, sizeof(t), "vessel - %s - %.0f MIPS%s", state, sdl.mips,
             sdl.grabbed ? " - Press Ctrl+Alt+G to release grab" : "");
    SDL_SetWindowTitle(sdl.win, t);
}

static void update_title(int64_t now, bool paused)
{
    uint64_t ic = pc_icount(sdl.pc);
    if (!paused && now > sdl.title_ns) {
        sdl.mips = (double)(ic - sdl.title_icount) * 1000.0 / (double)(now - sdl.title_ns);
    }
    sdl.title_icount = ic;
    sdl.title_ns = now;
    set_title(paused ? "paused" : sdl.closing ? "powering down" : "running");
}

static void present(void)
{
    SDL_SetRenderDrawColor(sdl.ren, 0, 0, 0, 255);
    SDL_RenderClear(sdl.ren);
    if (sdl.tex)
        SDL_RenderCopy(sdl.ren, sdl.tex, NULL, NULL);
    SDL_RenderPresent(sdl.ren);
    sdl.need_present = false;
}

static void refresh(void)
{
    DisplayFrame *fr = display_frame();
    if (sdl.vga)
        display_frame_update(sdl.vga, false);
    int w = fr->w > 0 ? fr->w : 640, h = fr->h > 0 ? fr->h : 480;
    if (!sdl.vga || !fr->px || fr->w <= 0 || fr->h <= 0) {
        if (sdl.tex) {
            SDL_DestroyTexture(sdl.tex);
            sdl.tex = NULL;
            sdl.need_present = true;
        }
    } else if (!sdl.tex || w != sdl.tex_w || h != sdl.tex_h) {
        if (sdl.tex)
            SDL_DestroyTexture(sdl.tex);
        sdl.tex = SDL_CreateTexture(sdl.ren, SDL_PIXELFORMAT_XRGB8888, SDL_TEXTUREACCESS_STREAMING, w, h);
        sdl.tex_w = w;
        sdl.tex_h = h;
        sdl.uploaded_gen = fr->gen - 1;
        SDL_RenderSetLogicalSize(sdl.ren, w, h);
        if (!sdl.full_screen) {
            int scale = 1;
            while (w * scale < 640 && scale < 4)
                scale++;
            SDL_SetWindowSize(sdl.win, w * scale, h * scale);
        }
    }
    if (sdl.tex && fr->gen != sdl.uploaded_gen) {
        SDL_UpdateTexture(sdl.tex, NULL, fr->px, VGA_MAX_W * 4);
        sdl.uploaded_gen = fr->gen;
        sdl.need_present = true;
    }
    if (sdl.need_present)
        present();
}

/* Modifiers as they were when the event happened (SDL_GetModState() is
 * already past the events still queued). */
static unsigned keymap_mods(SDL_Keymod m)
{
    return ((m & KMOD_CTRL) ? KEYMAP_MOD_CTRL : 0) | ((m & KMOD_ALT) ? KEYMAP_MOD_ALT : 0) |
           ((m & KMOD_SHIFT) ? KEYMAP_MOD_SHIFT : 0);
}

static void send_key(int sc, bool down, SDL_Keymod m)
{
    uint8_t b[8];
    int n = keymap_sdl_to_set2(sc, down, keymap_mods(m), b);
    if (n > 0)
        keyq_push(&sdl.kq, b, n);
    if (sc > 0 && sc < SDL_NUM_SCANCODES)
        sdl.down[sc] = down;
}

static void release_all_keys(void)
{
    for (int sc = 1; sc < SDL_NUM_SCANCODES; sc++)
        if (sdl.down[sc])
            send_key(sc, false, KMOD_NONE);
}

static void set_grab(bool on)
{
    if (sdl.grabbed == on)
        return;
    sdl.grabbed = on;
    SDL_SetRelativeMouseMode(on ? SDL_TRUE : SDL_FALSE);
    SDL_SetWindowGrab(sdl.win, on ? SDL_TRUE : SDL_FALSE);
    sdl.mbuttons = 0;
    set_title(sdl.closing ? "powering down" : "running");
}

static void request_close(void)
{
    int64_t now = host_ns();
    if (sdl.closing) {
        /* a second close (not the SDL_QUIT twin of the first): quit now */
        if (now - (sdl.close_deadline - CLOSE_GRACE_NS) > 300000000LL)
            pc_request_exit(sdl.pc, 0);
        return;
    }
    sdl.closing = true;
    sdl.close_deadline = now + CLOSE_GRACE_NS;
    set_grab(false);
    pc_system_powerdown(sdl.pc);
    set_title("powering down");
}

static int sdl_button(int b)
{
    switch (b) {
    case SDL_BUTTON_LEFT: return PS2_MOUSE_LEFT;
    case SDL_BUTTON_RIGHT: return PS2_MOUSE_RIGHT;
    case SDL_BUTTON_MIDDLE: return PS2_MOUSE_MIDDLE;
    default: return 0;
    }
}

static void flush_mouse(void)
{
    if (sdl.mouse && (sdl.mdx || sdl.mdy || sdl.mdz || sdl.mbuttons != sdl.sent_buttons)) {
        ps2_mouse_event(sdl.mouse, sdl.mdx, sdl.mdy, sdl.mdz, sdl.mbuttons);
        sdl.mdx = sdl.mdy = sdl.mdz = 0;
        sdl.sent_buttons = sdl.mbuttons;
    }
}

static void handle_event(const SDL_Event *ev)
{
    switch (ev->type) {
    case SDL_QUIT:
        request_close();
        break;
    case SDL_WINDOWEVENT:
        switch (ev->window.event) {
        case SDL_WINDOWEVENT_CLOSE:
            request_close();
            break;
        case SDL_WINDOWEVENT_FOCUS_LOST:
            release_all_keys();
            set_grab(false);
            break;
        case SDL_WINDOWEVENT_EXPOSED:
        case SDL_WINDOWEVENT_SIZE_CHANGED:
        case SDL_WINDOWEVENT_RESIZED:
            sdl.need_present = true;
            break;
        default:
            break;
        }
        break;
    case SDL_KEYDOWN:
    case SDL_KEYUP: {
        int sc = ev->key.keysym.scancode;
        bool down = ev->type == SDL_KEYDOWN;
        if (sc <= 0 || sc >= SDL_NUM_SCANCODES)
            break;
        SDL_Keymod m = (SDL_Keymod)ev->key.keysym.mod;
        if (down && (m & KMOD_CTRL) && (m & KMOD_ALT) && (sc == SDL_SCANCODE_G || sc == SDL_SCANCODE_F)) {
            if (!ev->key.repeat) {
                if (sc == SDL_SCANCODE_G) {
                    set_grab(!sdl.grabbed);
                } else {
                    sdl.full_screen = !sdl.full_screen;
                    SDL_SetWindowFullscreen(sdl.win, sdl.full_screen ? SDL_WINDOW_FULLSCREEN_DESKTOP : 0);
                    sdl.need_present = true;
                }
            }
            sdl.swallow[sc] = true;
            break;
        }
        if (!down && sdl.swallow[sc]) {
            sdl.swallow[sc] = false;
            break;
        }
        if (!down && !sdl.down[sc] && sc != SDL_SCANCODE_PAUSE)
            break;  /* never sent its make (pressed before the window had focus) */
        send_key(sc, down, m);
        break;
    }
    case SDL_MOUSEBUTTONDOWN:
    case SDL_MOUSEBUTTONUP:
        if (!sdl.grabbed) {
            if (ev->type == SDL_MOUSEBUTTONDOWN && ev->button.button == SDL_BUTTON_LEFT && !sdl.closing)
                set_grab(true);
            break;
        }
        if (ev->type == SDL_MOUSEBUTTONDOWN)
            sdl.mbuttons |= sdl_button(ev->button.button);
        else
            sdl.mbuttons &= ~sdl_button(ev->button.button);
        flush_mouse();  /* a click within one poll must still be two packets */
        break;
    case SDL_MOUSEMOTION:
        if (sdl.grabbed) {
            sdl.mdx += ev->motion.xrel;
            sdl.mdy += ev->motion.yrel;
        }
        break;
    case SDL_MOUSEWHEEL:
        if (sdl.grabbed) {
            int y = ev->wheel.y;
            if (ev->wheel.direction == SDL_MOUSEWHEEL_FLIPPED)
                y = -y;
            sdl.mdz -= y;   /* SDL: + away from the user; PS/2: + toward */
        }
        break;
    default:
        break;
    }
}

static void pump_events(void)
{
    SDL_Event ev;
    while (SDL_PollEvent(&ev))
        handle_event(&ev);
}

static void flush_input(void)
{
    keyq_flush(&sdl.kq, sdl.kbd);
    flush_mouse();
}

static void sdl_poll(void *opaque)
{
    (void)opaque;
    if (!sdl.win)
        return;
    int64_t now = host_ns();
    pump_events();
    flush_input();
    if (sdl.paused_shown) {
        sdl.paused_shown = false;
        sdl.title_ns = now;
        sdl.title_icount = pc_icount(sdl.pc);
        set_title(sdl.closing ? "powering down" : "running");
    }
    if (now >= sdl.next_frame) {
        sdl.next_frame = now + FRAME_NS;
        refresh();
    }
    if (now >= sdl.next_title) {
        sdl.next_title = now + 1000000000LL;
        update_title(now, false);
    }
    if (sdl.closing && now >= sdl.close_deadline) {
        fprintf(stderr, "vessel: the guest did not power off: quitting\n");
        pc_request_exit(sdl.pc, 0);
        sdl.closing = false;
    }
}

/* While the debugger holds the guest stopped, the board's poll hooks do not
 * run; the debugger's poll loop watches the X connection for us. */
static void sdl_fd_readable(void *opaque, int fd)
{
    (void)opaque;
    (void)fd;
    if (!sdl.win)
        return;
    pump_events();
    if (!dbg_stopped())
        return;
    if (!sdl.paused_shown) {
        sdl.paused_shown = true;
        update_title(host_ns(), true);
    }
    if (sdl.closing) {
        /* nothing can power off a stopped guest: quit */
        pc_request_exit(sdl.pc, 0);
        dbg_resume();
    }
    refresh();
}

static int sdl_setup(PcMachine *pc, bool full_screen, char *err, size_t errlen)
{
    char why[256];
    if (!display_sdl_available(why, sizeof(why))) {
        snprintf(err, errlen, "-display sdl: %s", why);
        return -1;
    }
    sdl.pc = pc;
    sdl.vga = pc_vga(pc);
    I8042 *kbc = pc_i8042(pc);
    sdl.kbd = kbc ? i8042_kbd(kbc) : NULL;
    sdl.mouse = kbc ? i8042_mouse(kbc) : NULL;
    sdl.full_screen = full_screen;
    Uint32 flags = SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI;
    if (full_screen)
        flags |= SDL_WINDOW_FULLSCREEN_DESKTOP;
    sdl.win = SDL_CreateWindow("vessel", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED, 720, 400, flags);
    if (!sdl.win) {
        snprintf(err, errlen, "-display sdl: cannot create a window: %s", SDL_GetError());
        return -1;
    }
    /* No vsync: presenting must never block the emulation thread. */
    sdl.ren = SDL_CreateRenderer(sdl.win, -1, 0);
    if (!sdl.ren)
        sdl.ren = SDL_CreateRenderer(sdl.win, -1, SDL_RENDERER_SOFTWARE);
    if (!sdl.ren) {
        snprintf(err, errlen, "-display sdl: cannot create a renderer: %s", SDL_GetError());
        SDL_DestroyWindow(sdl.win);
        sdl.win = NULL;
        return -1;
    }
    SDL_RenderSetLogicalSize(sdl.ren, 720, 400);
    int64_t now = host_ns();
    sdl.next_frame = now;
    sdl.next_title = now + 1000000000LL;
    sdl.title_ns = now;
    sdl.title_icount = pc_icount(pc);
    set_title("running");
    present();
    if (pc_add_poll_hook(pc, sdl_poll, NULL) < 0) {
        snprintf(err, errlen, "-display sdl: too many poll hooks");
        return -1;
    }
    SDL_SysWMinfo info;
    SDL_VERSION(&info.version);
    if (SDL_GetWindowWMInfo(sdl.win, &info) && info.subsystem == SDL_SYSWM_X11) {
        sdl.x11_fd = ConnectionNumber(info.info.x11.display);
        if (dbg_watch_fd(sdl.x11_fd, sdl_fd_readable, NULL) < 0)
            sdl.x11_fd = -1;
    }
    return 0;
}

static void sdl_shutdown(void)
{
    if (sdl.x11_fd >= 0) {
        dbg_unwatch_fd(sdl.x11_fd);
        sdl.x11_fd = -1;
    }
    if (sdl.grabbed)
        SDL_SetRelativeMouseMode(SDL_FALSE);
    if (sdl.tex)
        SDL_DestroyTexture(sdl.tex);
    if (sdl.ren)
        SDL_DestroyRenderer(sdl.ren);
    if (sdl.win)
        SDL_DestroyWindow(sdl.win);
    sdl.tex = NULL;
    sdl.ren = NULL;
    sdl.win = NULL;
    if (sdl.video_up) {
        SDL_Quit();
        sdl.video_up = false;
    }
}

const DisplayOps display_sdl_ops = { sdl_setup, sdl_shutdown };
