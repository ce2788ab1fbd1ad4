/*
 * test_screendump.c - frontend/screendump.c: PNGs of known VGA states.
 * A std VGA on a test bus (as test_vga.c builds it) is put in a mode
 * through its registers, given pixels through guest memory, dumped with
 * screendump_vga_png(), and the file is read back with libpng and compared
 * with colours computed here (DAC 6-bit values c -> c << 2 | c >> 4; text
 * glyph bits from plane 2).  Also: the shared frame (a dump must not steal
 * the window's pending changes), png_write_xrgb on its own, error paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frontend/screendump.c"

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/vclock.h"
#include "mem/phys.h"

#define DEVFN PCI_DEVFN(2, 0)
#define LFB 0xE0000000u

typedef struct {
    IoBus io;
    VClock clk;
    uint64_t icount;
    PhysMem pm;
    PciBus *bus;
    Vga *vga;
    char path[64];
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
    snprintf(f->path, sizeof(f->path), "/tmp/vessel-test-screendump-%d.png", (int)getpid());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    unlink(f->path);
    vga_free(f->vga);
    pci_bus_free(f->bus);
    phys_free(&f->pm);
    free(f);
    return 0;
}

static void outb(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 1); }
static void outw(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 2); }
static uint32_t inb(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 1); }
static void memb(Fx *f, uint32_t a, uint8_t v) { phys_write(&f->pm, a, v, 1); }

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

typedef struct {
    uint8_t misc, sr[5], cr[25], gr[9], ar[20];
} ModeRegs;

/* IBM BIOS register sets of modes 03h (80x25 text) and 13h (320x200x256). */
static const ModeRegs mode3 = {
    0x67, { 0x03, 0x00, 0x03, 0x00, 0x02 },
    { 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00,
      0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x0F, 0xFF },
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x0C, 0x00, 0x0F, 0x08 },
};
static const ModeRegs mode13 = {
    0x63, { 0x03, 0x01, 0x0F, 0x00, 0x0E },
    { 0x5F, 0x4F, 0x50, 0x82, 0x54, 0x80, 0xBF, 0x1F, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x40, 0x96, 0xB9, 0xA3, 0xFF },
    { 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0F, 0xFF },
    { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x41, 0x00, 0x0F, 0x00 },
};

static void set_mode(Fx *f, const ModeRegs *m)
{
    outb(f, 0x3C2, m->misc);
    for (int i = 0; i < 5; i++)
        outw(f, 0x3C4, (uint32_t)(i | m->sr[i] << 8));
    outw(f, 0x3D4, 0x0011);
    for (int i = 0; i < 25; i++)
        outw(f, 0x3D4, (uint32_t)(i | m->cr[i] << 8));
    for (int i = 0; i < 9; i++)
        outw(f, 0x3CE, (uint32_t)(i | m->gr[i] << 8));
    inb(f, 0x3DA);
    for (int i = 0; i < 20; i++) {
        outb(f, 0x3C0, i);
        outb(f, 0x3C0, m->ar[i]);
    }
    outb(f, 0x3C0, 0x20);
}

/* Reads a PNG back as 0x00RRGGBB pixels (caller frees). */
static uint32_t *read_png(const char *path, int *w, int *h)
{
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        fail_msg("libpng cannot read %s: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(buf);
    assert_true(png_image_finish_read(&img, NULL, buf, 0, NULL));
    *w = (int)img.width;
    *h = (int)img.height;
    uint32_t *px = malloc((size_t)*w * *h * 4);
    assert_non_null(px);
    for (int i = 0; i < *w * *h; i++)
        px[i] = (uint32_t)buf[i * 3] << 16 | (uint32_t)buf[i * 3 + 1] << 8 | buf[i * 3 + 2];
    free(buf);
    return px;
}

static void test_mode13(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode13);
    /* a palette ramp, and every pixel its own function of x and y */
    for (int i = 0; i < 256; i++)
        dac_set(f, i, (unsigned)i & 63, (unsigned)(i >> 2) & 63, (unsigned)(255 - i) & 63);
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 320; x++)
            memb(f, 0xA0000 + (uint32_t)(y * 320 + x), (uint8_t)(x * 7 + y * 3));
    char err[256];
    assert_int_equal(screendump_vga_png(f->vga, f->path, err, sizeof(err)), 0);
    int w, h;
    uint32_t *px = read_png(f->path, &w, &h);
    assert_int_equal(w, 320);
    assert_int_equal(h, 200);
    for (int y = 0; y < 200; y++) {
        for (int x = 0; x < 320; x++) {
            unsigned i = (uint8_t)(x * 7 + y * 3);
            uint32_t want = rgb6(i & 63, (i >> 2) & 63, (255 - i) & 63);
            if (px[y * w + x] != want)
                fail_msg("pixel (%d,%d) = %06x, expected %06x", x, y, px[y * w + x], want);
        }
    }
    free(px);
}

static void load_glyph(Fx *f, int chr, const uint8_t rows[16])
{
    outw(f, 0x3C4, 0x0402);
    outw(f, 0x3C4, 0x0604);
    outw(f, 0x3CE, 0x0204);
    outw(f, 0x3CE, 0x0005);
    outw(f, 0x3CE, 0x0406);
    for (int l = 0; l < 16; l++)
        memb(f, 0xA0000 + (uint32_t)chr * 32 + (uint32_t)l, rows[l]);
    outw(f, 0x3C4, 0x0302);
    outw(f, 0x3C4, 0x0204);
    outw(f, 0x3CE, 0x0004);
    outw(f, 0x3CE, 0x1005);
    outw(f, 0x3CE, 0x0E06);
}

static void test_text(void **state)
{
    Fx *f = *state;
    set_mode(f, &mode3);
    /* glyph 'X': a diagonal pattern; all other glyphs blank */
    uint8_t g[16];
    for (int l = 0; l < 16; l++)
        g[l] = (uint8_t)(0x80 >> (l % 8));
    load_glyph(f, 'X', g);
    dac_set(f, 0, 0, 0, 0);
    dac_set(f, 4, 40, 0, 0);      /* red background */
    dac_set(f, 15, 63, 63, 63);   /* white foreground */
    for (int c = 0; c < 80 * 25; c++) {
        memb(f, 0xB8000 + (uint32_t)c * 2, ' ');
        memb(f, 0xB8001 + (uint32_t)c * 2, 0x07);
    }
    memb(f, 0xB8000 + (3 * 80 + 5) * 2, 'X');
    memb(f, 0xB8001 + (3 * 80 + 5) * 2, 0x4F);
    outw(f, 0x3D4, 0x200A);       /* cursor off */
    char err[256];
    assert_int_equal(screendump_vga_png(f->vga, f->path, err, sizeof(err)), 0);
    int w, h;
    uint32_t *px = read_png(f->path, &w, &h);
    assert_int_equal(w, 720);
    assert_int_equal(h, 400);
    uint32_t fg = rgb6(63, 63, 63), bg = rgb6(40, 0, 0);
    for (int y = 0; y < 400; y++) {
        for (int x = 0; x < 720; x++) {
            int row = y / 16, col = x / 9, l = y % 16, cx = x % 9;
            uint32_t want = 0;
            if (row == 3 && col == 5)
                want = (cx < 8 && (g[l] & (0x80 >> cx))) ? fg : bg;
            if (px[y * w + x] != want)
                fail_msg("pixel (%d,%d) = %06x, expected %06x", x, y, px[y * w + x], want);
        }
    }
    free(px);
}

static void vbe_w(Fx *f, int idx, uint16_t v)
{
    outw(f, 0x1CE, (uint32_t)idx);
    outw(f, 0x1CF, v);
}

static void pci_cfg_write(Fx *f, int off, uint32_t v)
{
    iobus_write(&f->io, 0xCF8, 0x80000000u | (DEVFN << 8) | (off & 0xFC), 4);
    iobus_write(&f->io, 0xCFC, v, 4);
}

/* 1024x768x32 through the LFB, and the shared frame: a screendump between
 * two window refreshes leaves the frame current and bumps its generation. */
static void test_vbe32_and_shared_frame(void **state)
{
    Fx *f = *state;
    pci_cfg_write(f, 0x10, LFB);
    pci_cfg_write(f, 0x04, PCI_COMMAND_MEMORY);
    vbe_w(f, VBE_DISPI_INDEX_XRES, 1024);
    vbe_w(f, VBE_DISPI_INDEX_YRES, 768);
    vbe_w(f, VBE_DISPI_INDEX_BPP, 32);
    vbe_w(f, VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    for (int y = 0; y < 768; y += 3)
        for (int x = 0; x < 1024; x += 5)
            phys_write(&f->pm, LFB + (uint32_t)(y * 1024 + x) * 4, (uint32_t)(x << 12 ^ y * 97) & 0xFFFFFF, 4);
    /* the "window" renders first */
    assert_true(display_frame_update(f->vga, false) > 0);
    DisplayFrame *fr = display_frame();
    assert_int_equal(fr->w, 1024);
    assert_int_equal(fr->h, 768);
    unsigned gen = fr->gen;
    assert_int_equal(display_frame_update(f->vga, false), 0);
    assert_int_equal(fr->gen, gen);
    /* the guest changes a pixel; a dump comes before the next refresh */
    phys_write(&f->pm, LFB + (700 * 1024 + 1000) * 4, 0x00ABCDEF, 4);
    char err[256];
    assert_int_equal(screendump_vga_png(f->vga, f->path, err, sizeof(err)), 0);
    assert_int_not_equal(fr->gen, gen);
    assert_int_equal(fr->px[700 * VGA_MAX_W + 1000], 0xABCDEF);   /* the window sees it too */
    int w, h;
    uint32_t *px = read_png(f->path, &w, &h);
    assert_int_equal(w, 1024);
    assert_int_equal(h, 768);
    for (int y = 0; y < 768; y++) {
        for (int x = 0; x < 1024; x++) {
            uint32_t want = (y % 3 == 0 && x % 5 == 0) ? ((uint32_t)(x << 12 ^ y * 97) & 0xFFFFFF) : 0;
            if (x == 1000 && y == 700)
                want = 0xABCDEF;
            if (px[y * w + x] != want)
                fail_msg("pixel (%d,%d) = %06x, expected %06x", x, y, px[y * w + x], want);
        }
    }
    free(px);
}

static void test_png_write_and_errors(void **state)
{
    Fx *f = *state;
    uint32_t img[7 * 3];
    for (int i = 0; i < 21; i++)
        img[i] = (uint32_t)i * 0x0A0B0C;
    char err[256];
    /* stride 7, 5 pixels wide: the last two of each row are not written */
    assert_int_equal(png_write_xrgb(f->path, img, 5, 3, 7, err, sizeof(err)), 0);
    int w, h;
    uint32_t *px = read_png(f->path, &w, &h);
    assert_int_equal(w, 5);
    assert_int_equal(h, 3);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++)
            assert_int_equal(px[y * 5 + x], img[y * 7 + x] & 0xFFFFFF);
    free(px);
    err[0] = 0;
    assert_int_equal(png_write_xrgb("/nonexistent-dir/x.png", img, 5, 3, 7, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent-dir/x.png"));
    assert_int_equal(png_write_xrgb(f->path, img, 0, 3, 7, err, sizeof(err)), -1);
    assert_int_equal(screendump_vga_png(NULL, f->path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no VGA"));
    assert_int_equal(screendump_png(NULL, f->path, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mode13, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe32_and_shared_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_png_write_and_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
