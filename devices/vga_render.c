/*
 * vga_render.c - convert the VGA/dispi picture into 32-bit 0x00RRGGBB.
 *
 * Standard modes are drawn at their logical resolution: text as
 * columns x char width by rows x char height (720x400 for mode 3),
 * graphics with repeated scan lines (max scan line, double scan) folded
 * (mode 13h is 320x200, 12h 640x480).  Sources: IBM VGA Technical
 * Reference (CRTC timing registers, attribute controller palette path,
 * character map select, cursor, blink), Bochs vbe.h (dispi pixel formats).
 *
 * Change tracking: VRAM pages written through the legacy window are in
 * s->dirty; pages written through the LFB come from mem/phys's
 * DIRTY_DISPLAY bits.  Register/palette writes force a full redraw.
 */
#include "devices/vga.h"

#include <string.h>

#define NPAGES (VGA_VRAM_SIZE / 4096)

typedef struct {
    uint8_t bits[NPAGES / 8];
    bool any;
} DirtySnap;

static bool snap_test(const DirtySnap *d, uint32_t off, uint32_t len)
{
    if (len == 0)
        return false;
    uint64_t last = (uint64_t)off + len - 1;
    if (last >= VGA_VRAM_SIZE)
        last = VGA_VRAM_SIZE - 1;
    for (uint32_t p = off >> 12; p <= (uint32_t)(last >> 12); p++)
        if (d->bits[p >> 3] & (1u << (p & 7)))
            return true;
    return false;
}

/* Take (and clear) the dirty pages: our MMIO bitmap plus the LFB's
 * DIRTY_DISPLAY bits, cleared in one call so the CPU's TLBs flush once. */
static void vga_collect_dirty(Vga *s, DirtySnap *d)
{
    memcpy(d->bits, s->dirty, sizeof(d->bits));
    memset(s->dirty, 0, NPAGES / 8);
    if (s->pm && s->lfb_addr != PCI_BAR_UNMAPPED) {
        uint32_t first = (uint32_t)s->lfb_addr >> 12;
        int lo = -1, hi = -1;
        for (uint32_t p = 0; p < NPAGES; p++) {
            if (s->pm->dirty[first + p] & DIRTY_DISPLAY) {
                d->bits[p >> 3] |= (uint8_t)(1u << (p & 7));
                if (lo < 0)
                    lo = (int)p;
                hi = (int)p;
            }
        }
        if (lo >= 0)
            phys_dirty_test_and_clear(s->pm, (uint32_t)s->lfb_addr + (uint32_t)lo * 4096,
                                      (uint32_t)(hi - lo + 1) * 4096, DIRTY_DISPLAY);
    }
    d->any = false;
    for (size_t i = 0; i < sizeof(d->bits); i++)
        if (d->bits[i]) {
            d->any = true;
            break;
        }
}

static uint32_t dac6(uint8_t c) { return (uint32_t)((c << 2) | (c >> 4)) & 0xFF; }

/* DAC lookup table with the PEL mask applied. */
static void vga_build_palette(Vga *s, uint32_t pal[256])
{
    bool dac8 = (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC) != 0;
    for (int i = 0; i < 256; i++) {
        const uint8_t *c = &s->palette[(i & s->dac_mask) * 3];
        if (dac8)
            pal[i] = (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
        else
            pal[i] = dac6(c[0]) << 16 | dac6(c[1]) << 8 | dac6(c[2]);
    }
}

/* Attribute controller: 4-bit colour -> DAC index (AR0-F, AR10 bit 7 P54S,
 * AR14 colour select). */
static uint8_t vga_ar_color(const Vga *s, unsigned idx)
{
    uint8_t v = s->ar[idx & 0xF];
    if (s->ar[0x10] & 0x80)
        v = (uint8_t)((v & 0x0F) | ((s->ar[0x14] & 3) << 4));
    else
        v &= 0x3F;
    return (uint8_t)(v | ((s->ar[0x14] & 0x0C) << 4));
}

static int vga_scanlines(const Vga *s)
{
    int vde = s->cr[0x12] | ((s->cr[7] & 0x02) << 7) | ((s->cr[7] & 0x40) << 3);
    return vde + 1;
}

static int vga_line_compare(const Vga *s)
{
    return s->cr[0x18] | ((s->cr[7] & 0x10) << 4) | ((s->cr[9] & 0x40) << 3);
}

enum { MODE_BLANK = 1, MODE_TEXT, MODE_PLANAR, MODE_256, MODE_CGA2, MODE_VBE };

static int64_t vga_frame(Vga *s)
{
    int64_t now = s->clk ? vclock_now(s->clk) : 0;
    return now < 0 ? 0 : now / (VCLOCK_NS_PER_SEC / VGA_FRAME_HZ);
}

/* ---------------------------------------------------------------------- */

static int render_vbe(Vga *s, uint32_t *fb, int stride, int w, int h, bool full,
                      const DirtySnap *d, const uint32_t pal[256])
{
    unsigned bpp = s->vbe_regs[VBE_DISPI_INDEX_BPP];
    unsigned bytespp = bpp == 15 ? 2 : bpp / 8;
    uint32_t lo = s->vbe_line_offset;
    int drawn = 0;
    for (int y = 0; y < h; y++) {
        uint64_t a = (uint64_t)s->vbe_start_addr + (uint64_t)y * lo;
        uint64_t len = (uint64_t)w * bytespp;
        if (a >= VGA_VRAM_SIZE)
            break;
        if (!full && !snap_test(d, (uint32_t)a, (uint32_t)len))
            continue;
        uint32_t *out = fb + (size_t)y * stride;
        const uint8_t *p = s->vram + a;
        int n = w;
        if (a + len > VGA_VRAM_SIZE) {
            n = (int)((VGA_VRAM_SIZE - a) / bytespp);
            for (int x = n; x < w; x++)
                out[x] = 0;
        }
        switch (bpp) {
        case 8:
            for (int x = 0; x < n; x++)
                out[x] = pal[p[x]];
            break;
        case 15:
            for (int x = 0; x < n; x++) {
                unsigned v = p[2 * x] | p[2 * x + 1] << 8;
                unsigned r = (v >> 10) & 31, g = (v >> 5) & 31, b = v & 31;
                out[x] = (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
            }
            break;
        case 16:
            for (int x = 0; x < n; x++) {
                unsigned v = p[2 * x] | p[2 * x + 1] << 8;
                unsigned r = (v >> 11) & 31, g = (v >> 5) & 63, b = v & 31;
                out[x] = (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
            }
            break;
        case 24:
            for (int x = 0; x < n; x++)
                out[x] = (uint32_t)p[3 * x + 2] << 16 | (uint32_t)p[3 * x + 1] << 8 | p[3 * x];
            break;
        default:
            for (int x = 0; x < n; x++)
                out[x] = (uint32_t)p[4 * x + 2] << 16 | (uint32_t)p[4 * x + 1] << 8 | p[4 * x];
            break;
        }
        drawn++;
    }
    return drawn;
}

/* ---------------------------------------------------------------------- */

typedef struct {
    int cols, rows, cw, ch;
    uint32_t start, offset;      /* plane addresses */
} TextGeom;

static void text_geom(const Vga *s, TextGeom *g)
{
    g->cw = (s->sr[1] & 1) ? 8 : 9;
    g->cols = s->cr[1] + 1;
    g->ch = (s->cr[9] & 0x1F) + 1;
    int per_row = g->ch << ((s->cr[9] & 0x80) ? 1 : 0);
    g->rows = vga_scanlines(s) / per_row;
    if (g->rows < 1)
        g->rows = 1;
    if (g->cols * g->cw > VGA_MAX_W)
        g->cols = VGA_MAX_W / g->cw;
    if (g->rows > 128)
        g->rows = 128;
    if (g->rows * g->ch > VGA_MAX_H)
        g->rows = VGA_MAX_H / g->ch;
    g->start = (uint32_t)(s->cr[0x0C] << 8 | s->cr[0x0D]);
    g->offset = (uint32_t)s->cr[0x13] * 2;
}

/* Plane-2 offset (plane address) of character map A (sel=1) or B (sel=0). */
static uint32_t font_base(const Vga *s, int sel)
{
    uint8_t v = s->sr[3];
    unsigned m = sel ? (((v >> 5) & 1) << 2 | ((v >> 2) & 3)) : (((v >> 4) & 1) << 2 | (v & 3));
    /* maps 0-3 at 0/16/32/48 KiB, 4-7 at 8/24/40/56 KiB */
    return (m & 3) * 16384u + ((m >> 2) & 1) * 8192u;
}

static int render_text(Vga *s, uint32_t *fb, int stride, bool full, const DirtySnap *d,
                       const uint32_t pal[256])
{
    TextGeom g;
    text_geom(s, &g);
    int64_t frame = vga_frame(s);
    bool cursor_on = ((frame >> 4) & 1) == 0;
    bool blink_on = ((frame >> 5) & 1) == 0;
    bool blink_attr = (s->ar[0x10] & 0x08) != 0;
    int blink_state = (cursor_on ? 1 : 0) | (blink_on ? 2 : 0);

    /* the font: if any glyph byte changed, everything is redrawn */
    uint32_t fb0 = font_base(s, 0), fb1 = font_base(s, 1);
    if (d->any || full) {
        for (int sel = 0; sel < 2; sel++) {
            uint32_t base = sel ? fb1 : fb0;
            uint8_t cur[8192];
            for (uint32_t i = 0; i < 8192; i++)
                cur[i] = s->vram[((base + i) & 0xFFFF) * 4 + 2];
            if (memcmp(cur, s->font_shadow[sel], sizeof(cur)) != 0) {
                memcpy(s->font_shadow[sel], cur, sizeof(cur));
                full = true;
            }
        }
    }
    int cur_cell = -1;
    uint32_t cloc = (uint32_t)(s->cr[0x0E] << 8 | s->cr[0x0F]);
    int cs = s->cr[0x0A] & 0x1F, ce = s->cr[0x0B] & 0x1F;
    if (!(s->cr[0x0A] & 0x20) && cs <= ce && cs < g.ch && cloc >= g.start) {
        uint32_t rel = cloc - g.start;
        if (g.offset) {
            uint32_t r = rel / g.offset, c = rel % g.offset;
            if ((int)r < g.rows && (int)c < g.cols)
                cur_cell = (int)(r * 256 + c);
        }
    }
    int shown_cursor = cursor_on ? cur_cell : -1;
    bool blink_changed = blink_state != s->last_blink;
    int old_cursor = s->last_cursor;
    if (!full && !d->any && shown_cursor == old_cursor && !(blink_changed && blink_attr))
        return 0;

    int drawn = 0;
    for (int row = 0; row < g.rows; row++) {
        bool redraw = full || (old_cursor >= 0 && old_cursor / 256 == row) ||
                      (shown_cursor >= 0 && shown_cursor / 256 == row);
        uint32_t rowaddr = g.start + (uint32_t)row * g.offset;
        for (int col = 0; col < g.cols; col++) {
            uint32_t a = ((rowaddr + (uint32_t)col) & 0xFFFF) * 4;
            uint16_t cell = (uint16_t)(s->vram[a] | s->vram[a + 1] << 8);
            uint16_t *sh = &s->text_shadow[row * 256 + col];
            if (*sh != cell) {
                *sh = cell;
                redraw = true;
            }
            if (blink_changed && blink_attr && (cell & 0x8000))
                redraw = true;
        }
        if (!redraw)
            continue;
        for (int col = 0; col < g.cols; col++) {
            uint16_t cell = s->text_shadow[row * 256 + col];
            uint8_t chr = (uint8_t)cell, attr = (uint8_t)(cell >> 8);
            unsigned fgi = attr & 0x0F, bgi = attr >> 4;
            if (blink_attr) {
                bgi &= 7;
                if ((attr & 0x80) && !blink_on)
                    fgi = bgi;
            }
            uint32_t fg = pal[vga_ar_color(s, fgi)], bg = pal[vga_ar_color(s, bgi)];
            const uint8_t *glyph = &s->font_shadow[(attr >> 3) & 1][chr * 32];
            bool is_cur = shown_cursor == row * 256 + col;
            bool lg = (s->ar[0x10] & 0x04) && chr >= 0xC0 && chr <= 0xDF;
            for (int l = 0; l < g.ch; l++) {
                uint8_t bits = l < 32 ? glyph[l] : 0;
                if (is_cur && l >= cs && l <= ce)
                    bits = 0xFF;
                uint32_t *out = fb + (size_t)(row * g.ch + l) * stride + col * g.cw;
                for (int x = 0; x < 8; x++)
                    out[x] = (bits & (0x80 >> x)) ? fg : bg;
                if (g.cw == 9)
                    out[8] = ((is_cur && l >= cs && l <= ce) || (lg && (bits & 1))) ? fg : bg;
            }
        }
        drawn += g.ch;
    }
    s->last_cursor = shown_cursor;
    s->last_blink = blink_state;
    return drawn;
}

/* ---------------------------------------------------------------------- */

static void gfx_geom(const Vga *s, int mode, int *w, int *h, int *rep)
{
    int dots = (s->cr[1] + 1) * 8;
    if (mode == MODE_256)
        dots /= 2;
    int lines = vga_scanlines(s);
    int r = (s->cr[9] & 0x80) ? 2 : 1;
    if (mode != MODE_CGA2 && (s->cr[0x17] & 3) == 3)
        r *= (s->cr[9] & 0x1F) + 1;
    int hh = lines / r;
    if (hh < 1)
        hh = 1;
    if (dots > VGA_MAX_W)
        dots = VGA_MAX_W;
    if (hh > VGA_MAX_H)
        hh = VGA_MAX_H;
    *w = dots;
    *h = hh;
    *rep = r;
}

static int render_gfx(Vga *s, int mode, uint32_t *fb, int stride, int w, int h, int rep,
                      bool full, const DirtySnap *d, const uint32_t pal[256])
{
    uint32_t start = (uint32_t)(s->cr[0x0C] << 8 | s->cr[0x0D]);
    uint32_t offset = (uint32_t)s->cr[0x13] * 2;
    int lc = vga_line_compare(s);
    int lc_y = (lc + 1 + rep - 1) / rep;
    int maxscan = (s->cr[9] & 0x1F) + 1;
    int dscan = (s->cr[9] & 0x80) ? 1 : 0;
    uint8_t dacidx[16];
    for (int i = 0; i < 16; i++)
        dacidx[i] = vga_ar_color(s, (unsigned)i & (s->ar[0x12] & 0xF));
    uint32_t per_line = mode == MODE_256 ? (uint32_t)(w + 3) / 4 : (uint32_t)(w + 7) / 8;
    if (mode == MODE_CGA2)
        per_line = (uint32_t)(w + 7) / 8;
    int drawn = 0;
    for (int y = 0; y < h; y++) {
        uint32_t addr;
        if (y >= lc_y) {
            addr = (uint32_t)(y - lc_y) * offset;
        } else if (mode == MODE_CGA2 || (s->cr[0x17] & 3) != 3) {
            int scan = y << dscan;
            int row = scan / (maxscan << dscan), rsc = (scan >> dscan) % maxscan;
            addr = start + (uint32_t)row * offset;
            /* CR17 bits 0/1: row scan bits 0/1 replace memory address bits
             * 13/14 (of the byte address; plane addresses here are that
             * shifted right by 1 in word mode, 2 in doubleword mode). */
            unsigned sh = (s->cr[0x14] & 0x40) ? 2 : (s->cr[0x17] & 0x40) ? 0 : 1;
            if (!(s->cr[0x17] & 1))
                addr = (addr & ~(0x2000u >> sh)) | ((uint32_t)(rsc & 1) << (13 - sh));
            if (!(s->cr[0x17] & 2))
                addr = (addr & ~(0x4000u >> sh)) | ((uint32_t)((rsc >> 1) & 1) << (14 - sh));
        } else {
            addr = start + (uint32_t)y * offset;
        }
        addr &= 0xFFFF;
        bool wraps = addr + per_line > 0x10000;
        if (!full && !(wraps ? snap_test(d, 0, VGA_PLANAR_SIZE)
                             : snap_test(d, addr * 4, per_line * 4)))
            continue;
        uint32_t *out = fb + (size_t)y * stride;
        if (mode == MODE_256) {
            for (int x = 0; x < w; x++)
                out[x] = pal[s->vram[(addr * 4 + (uint32_t)x) & (VGA_PLANAR_SIZE - 1)]];
        } else if (mode == MODE_PLANAR) {
            for (int x = 0; x < w; x += 8) {
                const uint8_t *p = s->vram + ((addr + (uint32_t)x / 8) & 0xFFFF) * 4;
                for (int b = 0; b < 8 && x + b < w; b++) {
                    unsigned sh = 7 - (unsigned)b;
                    unsigned idx = ((p[0] >> sh) & 1) | ((p[1] >> sh) & 1) << 1 |
                                   ((p[2] >> sh) & 1) << 2 | ((p[3] >> sh) & 1) << 3;
                    out[x + b] = pal[dacidx[idx]];
                }
            }
        } else {
            /* CGA 4-colour (GR5 shift register interleave): each plane
             * address holds two bytes (planes 0/1) of four 2-bit pixels. */
            for (int x = 0; x < w; x += 8) {
                const uint8_t *p = s->vram + ((addr + (uint32_t)x / 8) & 0xFFFF) * 4;
                for (int b = 0; b < 8 && x + b < w; b++) {
                    uint8_t byte = p[b >> 2];
                    unsigned idx = (byte >> (6 - 2 * (b & 3))) & 3;
                    out[x + b] = pal[dacidx[idx]];
                }
            }
        }
        drawn++;
    }
    return drawn;
}

/* ---------------------------------------------------------------------- */

int vga_render(Vga *s, uint32_t *fb, int fb_stride_pixels, int *width, int *height, bool full)
{
    if (!s || !fb || fb_stride_pixels <= 0)
        return 0;
    DirtySnap d;
    vga_collect_dirty(s, &d);
    uint32_t pal[256];
    vga_build_palette(s, pal);

    int mode, w, h, rep = 1;
    if (vga_vbe_enabled(s)) {
        mode = MODE_VBE;
        w = s->vbe_regs[VBE_DISPI_INDEX_XRES];
        h = s->vbe_regs[VBE_DISPI_INDEX_YRES];
        if (s->vbe_line_offset == 0 || w <= 0 || h <= 0) {
            w = h = 0;
        }
        if (w > VGA_MAX_W)
            w = VGA_MAX_W;
        if (h > VGA_MAX_H)
            h = VGA_MAX_H;
    } else if (!(s->ar_index & 0x20) || (s->sr[1] & 0x20)) {
        mode = MODE_BLANK;
        w = s->last_w > 0 ? s->last_w : 640;
        h = s->last_h > 0 ? s->last_h : 480;
    } else if (!(s->gr[6] & 1)) {
        TextGeom g;
        text_geom(s, &g);
        mode = MODE_TEXT;
        w = g.cols * g.cw;
        h = g.rows * g.ch;
    } else {
        unsigned shift = (s->gr[5] >> 5) & 3;
        mode = shift >= 2 ? MODE_256 : shift == 1 ? MODE_CGA2 : MODE_PLANAR;
        gfx_geom(s, mode, &w, &h, &rep);
    }
    if (mode != s->last_mode || w != s->last_w || h != s->last_h || s->full_redraw)
        full = true;
    s->full_redraw = false;
    s->last_mode = mode;
    s->last_w = w;
    s->last_h = h;
    if (width)
        *width = w;
    if (height)
        *height = h;
    if (mode != MODE_TEXT) {
        s->last_cursor = -1;
        s->last_blink = -1;
    }
    if (w <= 0 || h <= 0)
        return 0;
    if (w > fb_stride_pixels) {
        s->full_redraw = true;
        return -1;
    }

    switch (mode) {
    case MODE_VBE:
        return render_vbe(s, fb, fb_stride_pixels, w, h, full, &d, pal);
    case MODE_BLANK:
        if (!full)
            return 0;
        for (int y = 0; y < h; y++)
            memset(fb + (size_t)y * fb_stride_pixels, 0, (size_t)w * 4);
        return h;
    case MODE_TEXT:
        if (full)
            s->last_cursor = -1;
        return render_text(s, fb, fb_stride_pixels, full, &d, pal);
    default:
        return render_gfx(s, mode, fb, fb_stride_pixels, w, h, rep, full, &d, pal);
    }
}
