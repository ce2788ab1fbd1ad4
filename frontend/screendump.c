/*
 * screendump.c - the VGA picture as a PNG file (libpng), and the host
 * frame buffer shared by every consumer of vga_render().
 */
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
