#!/bin/sh
# bench/render_idle.sh - what the display's 60 Hz refresh costs when nothing
# changed: vga_render() calls per second on an unchanged 1024x768x32 Bochs
# VBE screen (the dirty-page check only), next to full redraws of the same
# screen and incremental redraws after one pixel per frame changed; also
# 80x25 text mode unchanged.  A tiny C program is built against the static
# libraries of BUILD_DIR.  Nothing is asserted.
#
# usage: bench/render_idle.sh [BUILD_DIR] [SECONDS_PER_CASE]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
secs=${2:-1}
for lib in vessel_devices vessel_cpu vessel_mem; do
    [ -f "$build/lib$lib.a" ] || { echo "render_idle: $build/lib$lib.a not found (build first)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/render_idle.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/vclock.h"
#include "devices/vga.h"
#include "mem/phys.h"

#define LFB 0xE0000000u
static IoBus io;
static uint64_t ic;
static uint64_t fake_icount(void *o) { return *(uint64_t *)o; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void vbe(int i, int v) { iobus_write(&io, 0x1CE, i, 2); iobus_write(&io, 0x1CF, v, 2); }

typedef void (*Between)(PhysMem *pm, long k);
static void nothing(PhysMem *pm, long k) { (void)pm; (void)k; }
static void one_pixel(PhysMem *pm, long k) { phys_write(pm, LFB + (uint32_t)(k % (1024 * 768)) * 4, (uint32_t)k, 4); }

static void run(const char *name, Vga *v, uint32_t *fb, double secs, int full, Between between, PhysMem *pm)
{
    int w, h;
    long n = 0, lines = 0;
    vga_render(v, fb, VGA_MAX_W, &w, &h, 1);
    double t0 = now(), t;
    do {
        for (int k = 0; k < 64; k++, n++) {
            between(pm, n);
            lines += vga_render(v, fb, VGA_MAX_W, &w, &h, full);
        }
        t = now();
    } while (t - t0 < secs);
    double per = (t - t0) / n;
    printf("%-34s %4dx%-4d %12.0f renders/s  %9.2f us/render  %6.1f lines/render  %6.3f%% CPU at 60 renders/s\n",
           name, w, h, n / (t - t0), per * 1e6, (double)lines / n, per * 60 * 100);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1;
    static PhysMem pm;
    VClock clk;
    iobus_init(&io);
    vclock_init(&clk, VCLOCK_ICOUNT, 0);
    clk.icount_fn = fake_icount;
    clk.icount_opaque = &ic;
    if (phys_init(&pm, 16u << 20) < 0) return 1;
    PciBus *bus = pci_bus_new(&io);
    Vga *v = vga_new(bus, PCI_DEVFN(2, 0), &io, &pm, &clk);
    uint32_t *fb = calloc((size_t)VGA_MAX_W * VGA_MAX_H, 4);
    if (!v || !fb) return 1;
    iobus_write(&io, 0xCF8, 0x80000000u | (PCI_DEVFN(2, 0) << 8) | 0x10, 4);
    iobus_write(&io, 0xCFC, LFB, 4);
    iobus_write(&io, 0xCF8, 0x80000000u | (PCI_DEVFN(2, 0) << 8) | 0x04, 4);
    iobus_write(&io, 0xCFC, PCI_COMMAND_MEMORY, 4);
    vbe(VBE_DISPI_INDEX_XRES, 1024);
    vbe(VBE_DISPI_INDEX_YRES, 768);
    vbe(VBE_DISPI_INDEX_BPP, 32);
    vbe(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
    for (uint32_t a = 0; a < 1024 * 768; a++)
        phys_write(&pm, LFB + a * 4, a * 2654435761u, 4);
    run("vbe 32bpp, unchanged", v, fb, secs, 0, nothing, &pm);
    run("vbe 32bpp, one pixel per render", v, fb, secs, 0, one_pixel, &pm);
    run("vbe 32bpp, full redraw", v, fb, secs, 1, nothing, &pm);
    vbe(VBE_DISPI_INDEX_ENABLE, 0);
    /* 80x25 text, as the BIOS sets mode 3 */
    static const uint8_t sr[5] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
    static const uint8_t cr[25] = { 0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00,
                                    0x00, 0x00, 0x00, 0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF };
    static const uint8_t gr[9] = { 0, 0, 0, 0, 0, 0x10, 0x0E, 0x0F, 0xFF };
    static const uint8_t ar[20] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0x0C, 0, 0x0F, 0x08 };
    iobus_write(&io, 0x3C2, 0x67, 1);
    for (int i = 0; i < 5; i++) iobus_write(&io, 0x3C4, i | sr[i] << 8, 2);
    iobus_write(&io, 0x3D4, 0x0011, 2);
    for (int i = 0; i < 25; i++) iobus_write(&io, 0x3D4, i | cr[i] << 8, 2);
    for (int i = 0; i < 9; i++) iobus_write(&io, 0x3CE, i | gr[i] << 8, 2);
    iobus_read(&io, 0x3DA, 1);
    for (int i = 0; i < 20; i++) { iobus_write(&io, 0x3C0, i, 1); iobus_write(&io, 0x3C0, ar[i], 1); }
    iobus_write(&io, 0x3C0, 0x20, 1);
    for (int c = 0; c < 2000; c++) { phys_write(&pm, 0xB8000 + c * 2, 'A' + c % 26, 1); phys_write(&pm, 0xB8001 + c * 2, 0x07, 1); }
    run("text 80x25, unchanged", v, fb, secs, 0, nothing, &pm);
    run("text 80x25, full redraw", v, fb, secs, 1, nothing, &pm);
    return 0;
}
C
cc -O2 -I. "$tmp/render_idle.c" -o "$tmp/render_idle" \
    "$build/libvessel_devices.a" "$build/libvessel_cpu.a" "$build/libvessel_mem.a" -lz -lm
"$tmp/render_idle" "$secs"
