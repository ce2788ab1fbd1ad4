/*
 * test_vga.c - std VGA (1234:1111) + Bochs dispi: PCI identity and BAR0,
 * attribute flip-flop, DAC auto-increment, input status 1 retrace against
 * the virtual clock, planar write/read modes, and rendered pictures checked
 * against values computed here from first principles (IBM VGA reference:
 * glyph bits from plane 2, attribute -> AR palette -> DAC 6-bit colours).
 * Driven through port I/O, guest physical memory (0xA0000 window, LFB) and
 * a virtual clock in ICOUNT mode (1 ns per fake instruction).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "devices/vclock.h"
#include "devices/vga.h"
#include "mem/phys.h"

#define DEVFN PCI_DEVFN(2, 0)
#define LFB 0xE0000000u
#define FB_STRIDE VGA_MAX_W
#define FRAME_NS (1000000000LL / 60)

typedef struct {
    IoBus io;
    VClock clk;
    uint64_t icount;
    PhysMem pm;
    PciBus *bus;
    Vga *vga;
    uint32_t *fb;
    int w, h;
} Fx;

static uint64_t fake_icount(void *opaque) { return *(uint64_t *)opaque; }

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    iobus_init(&f->io);
    vclock_init(&f->clk, VCLOCK_ICOUNT, 0);
    f->clk.icount_fn = fake_icount;
    f->clk.icount_opaque = &f->icount;
    assert_int_equal(phys_init(&f->pm, 2u << 20), 0);
    f->bus = pci_bus_new(&f->io);
    assert_non_null(f->bus);
    f->vga = vga_new(f->bus, DEVFN, &f->io, &f->pm, &f->clk);
    assert_non_null(f->vga);
    f->fb = calloc((size_t)FB_STRIDE * VGA_MAX_H, 4);
    assert_non_null(f->fb);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    vga_free(f->vga);
    pci_bus_free(f->bus);
    phys_free(&f->pm);
    free(f->fb);
    free(f);
    return 0;
}

static void set_time(Fx *f, int64_t ns) { f->icount = (uint64_t)ns; }
static void outb(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 1); }
static void outw(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 2); }
static uint32_t inb(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 1); }
static uint32_t inw(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 2); }
static void memb(Fx *f, uint32_t a, uint8_t v) { phys_write(&f->pm, a, v, 1); }
static uint8_t rdmemb(Fx *f, uint32_t a) { return (uint8_t)phys_read(&f->pm, a, 1); }
static uint32_t px(Fx *f, int x, int y) { return f->fb[(size_t)y * FB_STRIDE + x]; }
static int render(Fx *f, bool full) { return vga_render(f->vga, f->fb, FB_STRIDE, &f->w, &f->h, full); }

static uint32_t cfg_read(Fx *f, int off)
{
    iobus_write(&f->io, 0xCF8, 0x80000000u | (DEVFN << 8) | (off & 0xFC), 4);
    return iobus_read(&f->io, 0xCFC, 4);
}

static void cfg_write(Fx *f, int off, uint32_t v)
{
    iobus_write(&f->io, 0xCF8, 0x80000000u | (DEVFN << 8) | (off & 0xFC), 4);
    iobus_write(&f->io, 0xCFC, v, 4);
}

/* 6-bit DAC value as an 8-bit channel (c << 2 | c >> 4). */
static uint32_t rgb6(unsigned r, unsigned g, unsigned b)
{
    return ((r << 2 | r >> 4) << 16) | ((g << 2 | g >> 4) << 8) | (b << 2 | b >> 4);
}

static void dac_set(Fx *f, int i, unsigned r, unsigned g, unsigned b)
{
    outb(f, 0x3C8, i);
    outb(f, 0x3C9, r);
    outb(f, 0x3C9, g);
    outb(f, 0x3C9, b);
}

static void ar_write(Fx *f, int i, int v)
{
    inb(f, 0x3DA);
    outb(f, 0x3C0, i);
    outb(f, 0x3C0, v);
}

/* Register file of a BIOS mode, written as the VGA BIOS does (outw pairs). */
typedef struct {
    uint8_t misc, sr[5], cr[25], gr[9], ar[20];
} ModeRegs;

static const ModeRegs mode3 = {
    0x67, { 0x03, 0x00, 0x03, 0x00, 0x02 },
    { 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00,
      0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x0F, 0xFF },
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x0C, 0x00, 0x0F, 0x08 },
};
static const ModeRegs mode12 = {
    0xE3, { 0x03, 0x01, 0x0F, 0x00, 0x06 },
    { 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0x0B, 0x3E, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0xEA, 0x8C, 0xDF, 0x28, 0x00, 0xE7, 0x04, 0xE3, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0F, 0xFF },
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x01, 0x00, 0x0F, 0x00 },
};
static const ModeRegs mode13 = {
    0x63, { 0x03, 0x01, 0x0F, 0x00, 0x0E },
    { 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF },
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x41, 0x00, 0x0F, 0x00 },
};

static const ModeRegs mode4 = {
    0x63, { 0x03, 0x09, 0x03, 0x00, 0x02 },
    { 0x2D, 0x27, 0x28, 0x90, 0x2B, 0x80, 0xBF, 0x1F, 0x00, 0xC1, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x14, 0x00, 0x96, 0xB9, 0xA2, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0F, 0x0F, 0xFF },
    { 0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
      0x16, 0x17, 0x01, 0x00, 0x03, 0x00 },
};

static const ModeRegs mode6 = {
    0x63, { 0x03, 0x01, 0x01, 0x00, 0x06 },
    { 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0xC1, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x00, 0x96, 0xB9, 0xC2, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0D, 0x0F, 0xFF },
    { 0x00, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17,
      0x17, 0x17, 0x01, 0x00, 0x01, 0x00 },
};

static void set_mode(Fx *f, const ModeRegs *m)
{
    outb(f, 0x3C2, m->misc);
    for (int i = 0; i < 5; i++)
        outw(f, 0x3C4, (uint32_t)(i | m->sr[i] << 8));
    outw(f, 0x3D4, 0x0011);          /* unprotect CR0-7 */
    for (int i = 0; i < 25; i++)
        outw(f, 0x3D4, (uint32_t)(i | m->cr[i] << 8));
    for (int i = 0; i < 9; i++)
        outw(f, 0x3CE, (uint32_t)(i | m->gr[i] << 8));
    inb(f, 0x3DA);
    for (int i = 0; i < 20; i++) {
        outb(f, 0x3C0, i);
        outb(f, 0x3C0, m->ar[i]);
    }
    outb(f, 0x3C0, 0x20);            /* PAS: display on */
}

/* ---------------------------------------------------------------------- */

static void test_pci_identity(void **state)
{
    Fx *f = *state;
    assert_int_equal(cfg_read(f, 0x00), 0x11111234);
    assert_int_equal(cfg_read(f, 0x08), 0x03000002);
    cfg_write(f, 0x10, 0xFFFFFFFF);
    assert_int_equal(cfg_read(f, 0x10), 0xFF000008);   /* 16 MiB, prefetchable */
    cfg_write(f, 0x10, LFB);
    cfg_write(f, 0x04, PCI_COMMAND_MEMORY);
    phys_write(&f->pm, LFB + 0x123456, 0xA5, 1);
    size_t len;
    const uint8_t *v = vga_vram(f->vga, &len);
    assert_int_equal(len, VGA_VRAM_SIZE);
    assert_int_equal(v[0x123456], 0xA5);
    cfg_write(f, 0x04, 0);
    assert_int_equal(phys_read(&f->pm, LFB + 0x123456, 1), 0xFF);
}

static void test_attribute_flip_flop(void **state)
{
    Fx *f = *state;
    outb(f, 0x3C2, 0x01);                       /* colour: 0x3Dx decoded */
    inb(f, 0x3DA);
    outb(f, 0x3C0, 0x02);                       /* index */
    outb(f, 0x3C0, 0x15);                       /* data */
    outb(f, 0x3C0, 0x23);                       /* index again (flip-flop toggled back) */
    assert_int_equal(inb(f, 0x3C0), 0x23);
    outb(f, 0x3C0, 0x07);                       /* data for index 3 */
    outb(f, 0x3C0, 0x02);
    assert_int_equal(inb(f, 0x3C1), 0x15);
    /* now in data state: a read of 0x3DA resets it to index state */
    inb(f, 0x3DA);
    outb(f, 0x3C0, 0x03);
    assert_int_equal(inb(f, 0x3C1), 0x07);
    /* mono mode: 0x3DA is not decoded, 0x3BA resets */
    outb(f, 0x3C2, 0x00);
    assert_int_equal(inb(f, 0x3DA), 0xFF);
    assert_int_equal(inb(f, 0x3D4), 0xFF);
    outb(f, 0x3C0, 0x2A);                       /* data for index 3 (state: data) */
    inb(f, 0x3DA);                              /* ignored */
    outb(f, 0x3C0, 0x03);                       /* index */
    assert_int_equal(inb(f, 0x3C1), 0x2A);
    outb(f, 0x3C0, 0x11);                       /* data */
    inb(f, 0x3BA);
    outb(f, 0x3C0, 0x03);
    assert_int_equal(inb(f, 0x3C1), 0x11);
    /* outw to the CRTC in mono mode lands at 0x3B4/0x3B5 */
    outw(f, 0x3B4, 0x550C);
    outb(f, 0x3B4, 0x0C);
    assert_int_equal(inb(f, 0x3B5), 0x55);
}

static void test_dac_auto_increment(void **state)
{
    Fx *f = *state;
    outb(f, 0x3C8, 5);
    const uint8_t vals[6] = { 0xFF, 0x20, 0x10, 1, 2, 3 };
    for (int i = 0; i < 6; i++)
        outb(f, 0x3C9, vals[i]);
    assert_int_equal(inb(f, 0x3C8), 7);
    assert_int_equal(inb(f, 0x3C7), 0);          /* DAC state: write mode */
    outb(f, 0x3C7, 5);
    assert_int_equal(inb(f, 0x3C7), 3);
    for (int i = 0; i < 6; i++)
        assert_int_equal(inb(f, 0x3C9), vals[i] & 0x3F);
    assert_int_equal(inb(f, 0x3C9), 0);          /* entry 7 component 0 */
    /* a partial triple is not committed until its third byte */
    outb(f, 0x3C8, 9);
    outb(f, 0x3C9, 0x11);
    outb(f, 0x3C9, 0x12);
    outb(f, 0x3C7, 9);
    assert_int_equal(inb(f, 0x3C9), 0);
    outb(f, 0x3C8, 255);
    dac_set(f, 255, 1, 2, 3);
    assert_int_equal(inb(f, 0x3C8), 0);          /* wraps 255 -> 0 */
}

static void test_retrace(void **state)
{
    Fx *f = *state;
    outb(f, 0x3C2, 0x01);
    set_time(f, 0);
    assert_int_equal(inb(f, 0x3DA) & 0x08, 0);
    set_time(f, FRAME_NS - FRAME_NS / 50);          /* inside the last 1/25 */
    assert_int_equal(inb(f, 0x3DA) & 0x09, 0x09);
    set_time(f, FRAME_NS + 1000);
    assert_int_equal(inb(f, 0x3DA) & 0x08, 0);
    set_time(f, 2 * FRAME_NS - 1);
    assert_int_equal(inb(f, 0x3DA) & 0x08, 0x08);
    /* display-enable bit toggles within a line */
    int seen0 = 0, seen1 = 0;
    for (int64_t t = 0; t < FRAME_NS / 525; t += 1000) {
        set_time(f, 10 * FRAME_NS + t);
        if (inb(f, 0x3DA) & 1) seen1++; else seen0++;
    }
    assert_true(seen0 > 0 && seen1 > 0);
}

static void test_crtc_protect(void **state)
{
    Fx *f = *state;
    outb(f, 0x3C2, 0x01);
    outw(f, 0x3D4, 0x8011);                   /* protect */
    outw(f, 0x3D4, 0x1201);
    outw(f, 0x3D4, 0x1007);
    outb(f, 0x3D4, 0x01);
    assert_int_equal(inb(f, 0x3D5), 0x00);
    outb(f, 0x3D4, 0x07);
    assert_int_equal(inb(f, 0x3D5), 0x10);    /* line compare bit 8 still writable */
    outw(f, 0x3D4, 0x0011);
    outw(f, 0x3D4, 0x1201);
    outb(f, 0x3D4, 0x01);
    assert_int_equal(inb(f, 0x3D5), 0x12);
}

/* Load glyph rows for chr into font map 0 (plane 2) as the BIOS does. */
static void load_glyph(Fx *f, int chr, const uint8_t rows[16])
{
    outw(f, 0x3C4, 0x0402);                   /* map mask: plane 2 */
    outw(f, 0x3C4, 0x0604);                   /* sequential, no odd/even */
    outw(f, 0x3CE, 0x0204);                   /* read map 2 */
    outw(f, 0x3CE, 0x0005);
    outw(f, 0x3CE, 0x0406);                   /* A0000 64K, graphics off */
    for (int l = 0; l < 16; l++)
        memb(f, 0xA0000 + (uint32_t)chr * 32 + (uint32_t)l, rows[l]);
    assert_int_equal(rdmemb(f, 0xA0000 + (uint32_t)chr * 32 + 3), rows[3]);
    outw(f, 0x3C4, 0x0302);
    outw(f, 0x3C4, 0x0204);
    outw(f, 0x3CE, 0x0004);
    outw(f, 0x3CE, 0x1005);
    outw(f, 0x3CE, 0x0E06);
}

static void test_text_mode(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode3);
    uint8_t a_rows[16], box[16];
    for (int l = 0; l < 16; l++) {
        a_rows[l] = 0x81;
        box[l] = l == 8 ? 0xFF : 0x00;
    }
    load_glyph(f, 'A', a_rows);
    load_glyph(f, 0xC4, box);
    dac_set(f, 1, 0, 0, 42);
    dac_set(f, 14, 63, 63, 21);
    dac_set(f, 9, 21, 21, 63);
    memb(f, 0xB8000, 'A');  memb(f, 0xB8001, 0x1E);     /* yellow on blue */
    memb(f, 0xB8002, 0xC4); memb(f, 0xB8003, 0x1E);
    memb(f, 0xB8004, 'A');  memb(f, 0xB8005, 0x9E);     /* blinking */
    assert_int_equal(rdmemb(f, 0xB8001), 0x1E);
    outw(f, 0x3D4, 0x000E);
    outw(f, 0x3D4, 0x500F);                               /* cursor at cell 80 (row 1) */
    set_time(f, 0);
    assert_true(render(f, true) > 0);
    assert_int_equal(f->w, 720);
    assert_int_equal(f->h, 400);
    uint32_t fg = rgb6(63, 63, 21), bg = rgb6(0, 0, 42);
    for (int l = 0; l < 16; l++) {
        assert_int_equal(px(f, 0, l), fg);
        for (int x = 1; x < 7; x++)
            assert_int_equal(px(f, x, l), bg);
        assert_int_equal(px(f, 7, l), fg);
        assert_int_equal(px(f, 8, l), bg);       /* 9th column: background */
    }
    /* line-graphics char: AR10 bit 2 set -> 9th column repeats column 8 */
    assert_int_equal(px(f, 9 + 8, 8), fg);
    assert_int_equal(px(f, 9 + 8, 7), bg);
    /* blinking cell is visible in the first 32 frames */
    assert_int_equal(px(f, 18, 0), fg);
    /* nothing changed: nothing redrawn */
    assert_int_equal(render(f, false), 0);
    /* frame 16: the cursor blinks off */
    set_time(f, 16 * FRAME_NS + 1);
    assert_true(render(f, false) > 0);
    /* frame 32: blinking characters show background only */
    set_time(f, 40 * FRAME_NS);
    assert_true(render(f, false) > 0);
    assert_int_equal(px(f, 18, 0), bg);
    assert_int_equal(px(f, 0, 0), fg);
    /* AR10 bit 3 off: attribute bit 7 = background intensity (colour 9) */
    ar_write(f, 0x10, 0x04);
    outb(f, 0x3C0, 0x20);
    assert_true(render(f, false) > 0);
    assert_int_equal(px(f, 18, 0), fg);
    assert_int_equal(px(f, 19, 0), rgb6(21, 21, 63));
    /* changing one character redraws only its row */
    memb(f, 0xB8000 + 160 * 10, 'A');
    memb(f, 0xB8001 + 160 * 10, 0x1E);
    int n = render(f, false);
    assert_true(n > 0 && n < 400);
    assert_int_equal(px(f, 0, 160), fg);
    /* 8-dot characters (SR1 bit 0) */
    outw(f, 0x3C4, 0x0101);
    assert_true(render(f, false) > 0);
    assert_int_equal(f->w, 640);
}

static void test_text_cursor(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode3);
    dac_set(f, 7, 42, 42, 42);
    memb(f, 0xB8000, ' ');
    memb(f, 0xB8001, 0x07);
    outw(f, 0x3D4, 0x000E);
    outw(f, 0x3D4, 0x000F);
    set_time(f, 0);
    render(f, true);
    uint32_t grey = rgb6(42, 42, 42);
    assert_int_equal(px(f, 2, 13), grey);
    assert_int_equal(px(f, 2, 14), grey);
    assert_int_equal(px(f, 2, 12), 0);
    assert_int_equal(px(f, 2, 15), 0);
    set_time(f, 17 * FRAME_NS);
    assert_true(render(f, false) > 0);
    assert_int_equal(px(f, 2, 13), 0);
    /* cursor disabled by CR0A bit 5 */
    set_time(f, 0);
    outw(f, 0x3D4, 0x2D0A);
    render(f, false);
    assert_int_equal(px(f, 2, 13), 0);
}

static void test_mode13(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode13);
    dac_set(f, 0x37, 10, 20, 30);
    memb(f, 0xA0000 + 320 * 10 + 5, 0x37);
    assert_int_equal(rdmemb(f, 0xA0000 + 320 * 10 + 5), 0x37);
    assert_true(render(f, true) > 0);
    assert_int_equal(f->w, 320);
    assert_int_equal(f->h, 200);
    assert_int_equal(px(f, 5, 10), rgb6(10, 20, 30));
    assert_int_equal(px(f, 4, 10), 0);
    assert_int_equal(render(f, false), 0);
    memb(f, 0xA0000 + 320 * 199 + 319, 0x37);
    int n = render(f, false);
    assert_true(n > 0 && n < 200);
    assert_int_equal(px(f, 319, 199), rgb6(10, 20, 30));
    /* PEL mask */
    outb(f, 0x3C6, 0x0F);
    dac_set(f, 0x07, 1, 2, 3);
    render(f, false);
    assert_int_equal(px(f, 5, 10), rgb6(1, 2, 3));
    /* blanking: PAS cleared */
    inb(f, 0x3DA);
    outb(f, 0x3C0, 0x00);
    render(f, false);
    assert_int_equal(px(f, 5, 10), 0);
}

static void test_mode12_planar(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode12);
    for (int i = 0; i < 16; i++)
        dac_set(f, i, (unsigned)i * 4, 63 - (unsigned)i * 4, (unsigned)i);
    /* write mode 2, bit mask 0x80: pixel 8 of line 3 = colour 12 */
    outw(f, 0x3CE, 0x0205);
    outw(f, 0x3CE, 0x8008);
    uint32_t a = 0xA0000 + 80 * 3 + 1;
    rdmemb(f, a);                      /* load latches (all zero) */
    memb(f, a, 0x0C);
    /* write mode 0 with set/reset 5 on all planes, bit mask 0x0F */
    outw(f, 0x3CE, 0x0005);
    outw(f, 0x3CE, 0x0500);
    outw(f, 0x3CE, 0x0F01);
    outw(f, 0x3CE, 0x0F08);
    rdmemb(f, a);
    memb(f, a, 0x00);
    /* XOR with the latches: pixels 12-13 become 5 ^ 15 = 10 */
    outw(f, 0x3CE, 0x0F00);
    outw(f, 0x3CE, 0x1803);
    outw(f, 0x3CE, 0x0C08);
    rdmemb(f, a);
    memb(f, a, 0x00);
    outw(f, 0x3CE, 0x0003);
    outw(f, 0x3CE, 0x0001);
    outw(f, 0x3CE, 0xFF08);
    assert_true(render(f, true) > 0);
    assert_int_equal(f->w, 640);
    assert_int_equal(f->h, 480);
    uint32_t c[16];
    for (int i = 0; i < 16; i++)
        c[i] = rgb6((unsigned)i * 4, 63 - (unsigned)i * 4, (unsigned)i);
    assert_int_equal(px(f, 8, 3), c[12]);
    for (int x = 9; x < 12; x++)
        assert_int_equal(px(f, x, 3), c[0]);
    assert_int_equal(px(f, 12, 3), c[10]);
    assert_int_equal(px(f, 13, 3), c[10]);
    assert_int_equal(px(f, 14, 3), c[5]);
    assert_int_equal(px(f, 15, 3), c[5]);
    /* read mode 0: plane bytes */
    outw(f, 0x3CE, 0x0004);
    assert_int_equal(rdmemb(f, a), 0x03);     /* 12=1100 10=1010 5=0101: plane 0 = pixels 14,15 */
    outw(f, 0x3CE, 0x0304);
    assert_int_equal(rdmemb(f, a), 0x8C);     /* plane 3 */
    /* read mode 1: colour compare 5 -> bits 14,15 */
    outw(f, 0x3CE, 0x0805);
    outw(f, 0x3CE, 0x0502);
    outw(f, 0x3CE, 0x0F07);
    assert_int_equal(rdmemb(f, a), 0x03);
    outw(f, 0x3CE, 0x0007);                   /* don't care all: always 0xFF */
    assert_int_equal(rdmemb(f, a), 0xFF);
    /* write mode 1 copies latches: copy byte a to a+1 */
    outw(f, 0x3CE, 0x0105);
    rdmemb(f, a);
    memb(f, a + 1, 0);
    outw(f, 0x3CE, 0x0005);
    render(f, false);
    assert_int_equal(px(f, 16, 3), c[12]);
    assert_int_equal(px(f, 23, 3), c[5]);
    /* map mask: write mode 3 with only plane 1 enabled */
    outw(f, 0x3C4, 0x0202);
    outw(f, 0x3CE, 0x0305);
    outw(f, 0x3CE, 0x0F00);
    rdmemb(f, 0xA0000);
    memb(f, 0xA0000, 0x80);                  /* bit mask = 0xFF & 0x80 */
    outw(f, 0x3C4, 0x0F02);
    render(f, false);
    assert_int_equal(px(f, 0, 0), c[2]);
    assert_int_equal(px(f, 1, 0), c[0]);
}

/* CGA 320x200x4 (mode 4): even lines at B8000, odd lines at BA000, four
 * 2-bit pixels per byte, colours through AR1-3 = 0x13/0x15/0x17. */
static void test_mode4_cga(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode4);
    dac_set(f, 0x13, 0, 42, 42);
    dac_set(f, 0x15, 42, 0, 42);
    dac_set(f, 0x17, 42, 42, 42);
    memb(f, 0xB8000 + 80, 0x1B);              /* line 2: pixels 0,1,2,3 */
    memb(f, 0xB8000 + 0x2000, 0xC0);          /* line 1: pixel 0 = 3 */
    memb(f, 0xB8000 + 0x2001, 0x01);          /* line 1: pixel 7 = 1 */
    render(f, true);
    assert_int_equal(f->w, 320);
    assert_int_equal(f->h, 200);
    assert_int_equal(px(f, 0, 2), 0);
    assert_int_equal(px(f, 1, 2), rgb6(0, 42, 42));
    assert_int_equal(px(f, 2, 2), rgb6(42, 0, 42));
    assert_int_equal(px(f, 3, 2), rgb6(42, 42, 42));
    assert_int_equal(px(f, 0, 1), rgb6(42, 42, 42));
    assert_int_equal(px(f, 7, 1), rgb6(0, 42, 42));
    assert_int_equal(px(f, 0, 0), 0);
    assert_int_equal(px(f, 0, 3), 0);
}

/* CGA 640x200x2 (mode 6, byte mode): odd lines at BA000, one bit per pixel
 * in plane 0, colour 1 through AR1 = 0x17. */
static void test_mode6_cga(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode6);
    dac_set(f, 0x17, 42, 42, 42);
    memb(f, 0xB8000 + 80 * 2, 0x80);          /* line 4, pixel 0 */
    memb(f, 0xB8000 + 0x2000 + 1, 0x01);      /* line 1, pixel 15 */
    render(f, true);
    assert_int_equal(f->w, 640);
    assert_int_equal(f->h, 200);
    assert_int_equal(px(f, 0, 4), rgb6(42, 42, 42));
    assert_int_equal(px(f, 1, 4), 0);
    assert_int_equal(px(f, 15, 1), rgb6(42, 42, 42));
    assert_int_equal(px(f, 15, 0), 0);
    assert_int_equal(px(f, 0, 5), 0);
}

static void vbe_w(Fx *f, int idx, uint16_t v)
{
    outw(f, 0x1CE, (uint32_t)idx);
    outw(f, 0x1CF, v);
}

static uint16_t vbe_r(Fx *f, int idx)
{
    outw(f, 0x1CE, (uint32_t)idx);
    return (uint16_t)inw(f, 0x1CF);
}

static void test_vbe_regs(void **state)
{
    Fx *f = *state;
    vbe_w(f, VBE_DISPI_INDEX_ID, 0xB0C0);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_ID), 0xB0C0);
    vbe_w(f, VBE_DISPI_INDEX_ID, 0x1234);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_ID), 0xB0C0);
    vbe_w(f, VBE_DISPI_INDEX_ID, 0xB0C5);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_ID), 0xB0C5);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_VIDEO_MEMORY_64K), 256);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_GETCAPS);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_XRES), 2560);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_YRES), 1600);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_BPP), 32);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, 0);
    vbe_w(f, VBE_DISPI_INDEX_XRES, 1024);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_XRES), 1024);
}

static void test_vbe_lfb32(void **state)
{
    Fx *f = *state;
    cfg_write(f, 0x10, LFB);
    cfg_write(f, 0x04, PCI_COMMAND_MEMORY);
    vbe_w(f, VBE_DISPI_INDEX_XRES, 640);
    vbe_w(f, VBE_DISPI_INDEX_YRES, 480);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 32);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_VIRT_WIDTH), 640);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_VIRT_HEIGHT), VGA_VRAM_SIZE / 2560);
    phys_write(&f->pm, LFB + (100 * 640 + 7) * 4, 0x00112233, 4);
    assert_int_equal(render(f, true), 480);
    assert_int_equal(f->w, 640);
    assert_int_equal(f->h, 480);
    assert_int_equal(px(f, 7, 100), 0x112233);
    assert_int_equal(px(f, 8, 100), 0);
    assert_int_equal(render(f, false), 0);
    phys_write(&f->pm, LFB + (300 * 640 + 9) * 4, 0x00ABCDEF, 4);
    int n = render(f, false);
    assert_true(n > 0 && n <= 3);
    assert_int_equal(px(f, 9, 300), 0xABCDEF);
    /* Y offset pans */
    vbe_w(f, VBE_DISPI_INDEX_Y_OFFSET, 100);
    render(f, false);
    assert_int_equal(px(f, 7, 0), 0x112233);
    /* banked access through 0xA0000 */
    vbe_w(f, VBE_DISPI_INDEX_Y_OFFSET, 0);
    vbe_w(f, VBE_DISPI_INDEX_BANK, 2);         /* 128 KiB = line 51, pixel 128 */
    phys_write(&f->pm, 0xA0000, 0x00445566, 4);
    render(f, false);
    assert_int_equal(px(f, 128, 51), 0x445566);
    assert_int_equal(phys_read(&f->pm, 0xA0000, 4), 0x445566);
}

static void test_vbe_depths(void **state)
{
    Fx *f = *state;
    vbe_w(f, VBE_DISPI_INDEX_XRES, 320);
    vbe_w(f, VBE_DISPI_INDEX_YRES, 200);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 16);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED);
    phys_write(&f->pm, 0xA0000 + 2 * 3, 0xF800, 2);          /* pure red, 5:6:5 */
    phys_write(&f->pm, 0xA0000 + 2 * 4, 0x07E0, 2);          /* pure green */
    render(f, true);
    assert_int_equal(px(f, 3, 0), 0xFF0000);
    assert_int_equal(px(f, 4, 0), 0x00FF00);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 15);
    render(f, false);
    assert_int_equal(px(f, 3, 0), 0xF70000);  /* 0xF800 as x:5:5:5 is R=30, G=B=0 */
    vbe_w(f, VBE_DISPI_INDEX_BPP, 24);
    phys_write(&f->pm, 0xA0000 + 3 * 5, 0x010203, 4);
    render(f, false);
    assert_int_equal(px(f, 5, 0), 0x010203);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 8);
    dac_set(f, 0x40, 63, 0, 63);
    phys_write(&f->pm, 0xA0000 + 10, 0x40, 1);
    render(f, false);
    assert_int_equal(px(f, 10, 0), 0xFF00FF);
    /* 8-bit DAC */
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_8BIT_DAC | VBE_DISPI_NOCLEARMEM);
    dac_set(f, 0x40, 0x80, 0x81, 0x82);
    render(f, false);
    assert_int_equal(px(f, 10, 0), 0x808182);
    /* enabling clears memory unless NOCLEARMEM */
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, 0);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED);
    assert_int_equal(phys_read(&f->pm, 0xA0000 + 10, 1), 0);
}

static void test_vbe_hostile(void **state)
{
    Fx *f = *state;
    vbe_w(f, VBE_DISPI_INDEX_XRES, 0xFFFF);
    vbe_w(f, VBE_DISPI_INDEX_YRES, 0xFFFF);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 7);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_NOCLEARMEM);
    assert_int_equal(vbe_r(f, VBE_DISPI_INDEX_BPP), 8);
    assert_true(vbe_r(f, VBE_DISPI_INDEX_XRES) <= 2560);
    assert_true(vbe_r(f, VBE_DISPI_INDEX_YRES) <= 1600);
    render(f, true);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 32);
    vbe_w(f, VBE_DISPI_INDEX_XRES, 2560);
    vbe_w(f, VBE_DISPI_INDEX_YRES, 1600);
    vbe_w(f, VBE_DISPI_INDEX_VIRT_WIDTH, 0xFFFF);
    vbe_w(f, VBE_DISPI_INDEX_Y_OFFSET, 0xFFFF);
    vbe_w(f, VBE_DISPI_INDEX_X_OFFSET, 0xFFFF);
    uint32_t vw = vbe_r(f, VBE_DISPI_INDEX_VIRT_WIDTH);
    uint32_t yres = vbe_r(f, VBE_DISPI_INDEX_YRES);
    uint32_t xo = vbe_r(f, VBE_DISPI_INDEX_X_OFFSET), yo = vbe_r(f, VBE_DISPI_INDEX_Y_OFFSET);
    assert_true(((uint64_t)yo * vw + xo) * 4 + (uint64_t)yres * vw * 4 <= VGA_VRAM_SIZE);
    assert_true(render(f, true) >= 0);
    assert_true(f->w <= 2560 && f->h <= 1600);
    /* a frame buffer narrower than the picture is refused */
    assert_int_equal(vga_render(f->vga, f->fb, 100, &f->w, &f->h, true), -1);
    vbe_w(f, VBE_DISPI_INDEX_BANK, 0xFFFF);
    phys_write(&f->pm, 0xAFFFF, 0x12, 1);
    assert_int_equal(phys_read(&f->pm, 0xAFFFF, 1), 0x12);
    vbe_w(f, 0x55, 0x1234);
    assert_int_equal(vbe_r(f, 0x55), 0);
}

static uint32_t rnd(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static void test_random_writes(void **state)
{
    Fx *f = *state;
    uint32_t seed = 12345;
#define RND() rnd(&seed)
    for (int i = 0; i < 200000; i++) {
        uint32_t r = RND();
        switch (r % 6) {
        case 0: case 1:
            outb(f, (uint16_t)(0x3B0 + RND() % 0x30), RND() & 0xFF);
            break;
        case 2:
            outw(f, (uint16_t)(0x1CE + (RND() & 1)), RND() & 0xFFFF);
            break;
        case 3:
            inb(f, (uint16_t)(0x3B0 + RND() % 0x30));
            inw(f, 0x1CF);
            break;
        case 4:
            phys_write(&f->pm, 0xA0000 + RND() % 0x20000, RND(), 1 + (RND() % 4));
            break;
        default:
            phys_read(&f->pm, 0xA0000 + RND() % 0x20000, 1 + (RND() % 4));
            break;
        }
        if (i % 2000 == 0) {
            set_time(f, (int64_t)i * 100000);
            assert_true(render(f, (i / 2000) & 1) >= -1);
            assert_true(f->w <= VGA_MAX_W && f->h <= VGA_MAX_H);
        }
    }
}

static void test_state_roundtrip(void **state)
{
    Fx *f = *state;
    char err[128];
    assert_int_equal(state_check(&vga_state, sizeof(Vga), err, sizeof(err)), 0);
    set_mode(f, &mode13);
    dac_set(f, 0x37, 10, 20, 30);
    memb(f, 0xA0000 + 320 * 10 + 5, 0x37);
    cfg_write(f, 0x10, LFB);
    cfg_write(f, 0x04, PCI_COMMAND_MEMORY);
    long n = state_save(&vga_state, f->vga, NULL, 0);
    assert_true(n > 0);
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(state_save(&vga_state, f->vga, buf, (size_t)n), n);
    size_t vlen;
    const uint8_t *vram = vga_vram(f->vga, &vlen);
    uint8_t *vcopy = malloc(vlen);
    memcpy(vcopy, vram, vlen);

    vga_reset(f->vga);
    memset((void *)vga_vram(f->vga, &vlen), 0, vlen);
    assert_int_equal(phys_read(&f->pm, LFB, 1), 0xFF);      /* BAR no longer decoded */
    assert_int_equal(state_load(&vga_state, f->vga, vga_state.version, buf, (size_t)n,
                                err, sizeof(err)), 0);
    assert_int_equal(vga_vram_load(f->vga, vcopy, vlen), 0);
    assert_int_equal(render(f, false), 200);
    assert_int_equal(f->w, 320);
    assert_int_equal(px(f, 5, 10), rgb6(10, 20, 30));
    assert_int_equal(phys_read(&f->pm, LFB + 320 * 10 + 5, 1), 0x37);   /* LFB remapped */
    outb(f, 0x3C7, 0x37);
    assert_int_equal(inb(f, 0x3C9), 10);
    assert_int_equal(vga_vram_load(f->vga, vcopy, 5), -1);
    free(buf);
    free(vcopy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attribute_flip_flop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dac_auto_increment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retrace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crtc_protect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode13, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode12_planar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode4_cga, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode6_cga, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_regs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_lfb32, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_depths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
