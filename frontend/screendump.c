/*
 * screendump.c - the VGA picture as a PNG file (libpng), the host frame
 * buffer shared by every consumer of vga_render(), and screendumps at a
 * given virtual time or instruction count (-screendump-at).
 */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vclock.h"
#include "devices/vga.h"
#include "frontend/display.h"

static DisplayFrame frame;

DisplayFrame *display_frame(void) { return &frame; }

int display_frame_update(struct Vga *vga, bool full)
{
    if (!frame.px) {
        frame.px = calloc((size_t)VGA_MAX_W * VGA_MAX_H, sizeof(uint32_t));
        if (!frame.px)
            return -1;
        full = true;
    }
    int w = 0, h = 0;
    int r = vga_render(vga, frame.px, VGA_MAX_W, &w, &h, full);
    if (r > 0 || w != frame.w || h != frame.h)
        frame.gen++;
    frame.w = w;
    frame.h = h;
    return r;
}

int png_write_xrgb(const char *path, const uint32_t *px, int w, int h, int stride, char *err,
                   size_t errlen)
{
    if (w <= 0 || h <= 0) {
        snprintf(err, errlen, "screendump: the screen has no picture (%dx%d)", w, h);
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "screendump: cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *row = malloc((size_t)w * 3);
    if (!png || !info || !row) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        snprintf(err, errlen, "screendump: out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        snprintf(err, errlen, "screendump: libpng failed writing '%s'", path);
        return -1;
    }
    png_init_io(png, f);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        const uint32_t *src = px + (size_t)y * stride;
        for (int x = 0; x < w; x++) {
            row[x * 3 + 0] = (uint8_t)(src[x] >> 16);
            row[x * 3 + 1] = (uint8_t)(src[x] >> 8);
            row[x * 3 + 2] = (uint8_t)src[x];
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "screendump: writing '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int screendump_vga_png(struct Vga *vga, const char *path, char *err, size_t errlen)
{
    if (!vga) {
        snprintf(err, errlen, "screendump: the machine has no VGA (-vga none)");
        return -1;
    }
    if (display_frame_update(vga, true) < 0 && !frame.px) {
        snprintf(err, errlen, "screendump: out of memory");
        return -1;
    }
    return png_write_xrgb(path, frame.px, frame.w, frame.h, VGA_MAX_W, err, errlen);
}

int screendump_png(PcMachine *pc, const char *path, char *err, size_t errlen)
{
    return screendump_vga_png(pc ? pc_vga(pc) : NULL, path, err, errlen);
}

/* ================================================================
 * -screendump-at: dumps on the virtual clock
 * ================================================================ */

#define SCREENDUMP_AT_MAX 16

/** One scheduled dump.  Time dumps are a VTimer at the absolute virtual
 *  time (exact and, under -icount, deterministic: the CPU's slice ends at
 *  the timer's deadline, and an idle guest's warp stops there too).
 *  Instruction-count dumps use a VTimer under -icount (armed at the time
 *  the count will be reached, re-armed until it is), else a poll hook. */
typedef struct ScreendumpAt {
    PcMachine *pc;
    VClock *clk;
    VTimer timer;
    bool by_icount;
    uint64_t when;          /**< virtual ns, or retired instructions */
    char *path;
    bool quit;
    bool done;
} ScreendumpAt;

static ScreendumpAt g_at[SCREENDUMP_AT_MAX];
static int g_nat;
static bool g_poll_added;

static void screendump_at_fire(ScreendumpAt *d)
{
    d->done = true;
    char err[512];
    int r = screendump_png(d->pc, d->path, err, sizeof(err));
    if (r < 0)
        fprintf(stderr, "vessel: %s\n", err);
    if (d->quit)
        pc_request_exit(d->pc, r < 0 ? 2 : 0);
}

static void screendump_at_timer(void *opaque)
{
    ScreendumpAt *d = opaque;
    if (d->done)
        return;
    if (d->by_icount) {
        uint64_t ic = pc_icount(d->pc);
        if (ic < d->when) {
            /* ICOUNT: 1 << shift ns per instruction, so the count is
             * reached no earlier than this (later if the guest halts). */
            uint64_t n = d->when - ic;
            int sh = d->clk->icount_shift;
            int64_t dt = n > ((uint64_t)INT64_MAX >> (sh + 2)) ? INT64_MAX / 4 : (int64_t)(n << sh);
            vtimer_mod(&d->timer, vclock_now(d->clk) + dt);
            return;
        }
    }
    screendump_at_fire(d);
}

static void screendump_at_poll(void *opaque)
{
    PcMachine *pc = opaque;
    uint64_t ic = pc_icount(pc);
    for (int i = 0; i < g_nat; i++) {
        ScreendumpAt *d = &g_at[i];
        if (!d->done && d->by_icount && !d->clk && ic >= d->when)
            screendump_at_fire(d);
    }
}

/**
 * Schedules a PNG screendump of pc's VGA into path: when the virtual clock
 * reaches when ns (by_icount false), or once when instructions have
 * retired (by_icount true).  quit: then ask the machine to exit with
 * status 0 (2 if the dump failed).  Call after pc_new(), before pc_run().
 * Without a VGA the dump is attempted at once and fails with "no VGA".
 * Returns 0, or -1 with a message in err (too many dumps, no memory, no
 * free poll hook).
 */
int screendump_at_add(PcMachine *pc, bool by_icount, uint64_t when, const char *path, bool quit,
                      char *err, size_t errlen)
{
    if (g_nat >= SCREENDUMP_AT_MAX) {
        snprintf(err, errlen, "-screendump-at: at most %d", SCREENDUMP_AT_MAX);
        return -1;
    }
    ScreendumpAt *d = &g_at[g_nat];
    memset(d, 0, sizeof(*d));
    d->path = strdup(path);
    if (!d->path) {
        snprintf(err, errlen, "-screendump-at: out of memory");
        return -1;
    }
    d->pc = pc;
    d->by_icount = by_icount;
    d->when = when;
    d->quit = quit;
    Vga *vga = pc_vga(pc);
    VClock *clk = vga ? vga->clk : NULL;
    if (!clk) {
        g_nat++;
        screendump_at_fire(d);          /* "the machine has no VGA" */
        return 0;
    }
    if (!by_icount || clk->mode == VCLOCK_ICOUNT) {
        d->clk = clk;
        vtimer_init(&d->timer, clk, screendump_at_timer, d);
        int64_t t = by_icount ? vclock_now(clk) : (when > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)when);
        vtimer_mod(&d->timer, t);
    } else if (!g_poll_added) {
        /* HOST clock: no time is tied to a count; checked about every ms. */
        if (pc_add_poll_hook(pc, screendump_at_poll, pc) < 0) {
            free(d->path);
            snprintf(err, errlen, "-screendump-at: no free poll hook");
            return -1;
        }
        g_poll_added = true;
    }
    g_nat++;
    return 0;
}

