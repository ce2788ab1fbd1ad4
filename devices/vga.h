/*
 * vga.h - QEMU "std" VGA (PCI 1234:1111 rev 2, class 0300) with the Bochs
 * VBE "dispi" interface, and a renderer into a host 32-bit XRGB buffer.
 *
 * Sources: IBM VGA Technical Reference (registers, write/read modes,
 * attribute controller, DAC); FreeVGA register pages; Bochs vbe.h and
 * QEMU hw/display/vga.c (dispi indices, GETCAPS, register fix-up, the
 * plane-interleaved VRAM layout: plane p of plane address a is byte
 * vram[a * 4 + p], so chain-4 and the LFB see the same bytes).
 *
 * Ports: 0x3B0-0x3DF (standard VGA, byte registers; word writes are split
 * by the bus), 0x1CE/0x1CF (dispi index/data, 16 bit).
 * Memory: 0xA0000-0xBFFFF (MMIO, window per GR6), BAR0 = 16 MiB linear
 * frame buffer mapped as host memory (dirty pages from mem/phys).
 *
 * The device never draws on its own: a front end calls vga_render().
 */
#ifndef VESSEL_DEVICES_VGA_H
#define VESSEL_DEVICES_VGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "devices/vclock.h"
#include "mem/phys.h"

#define VGA_VRAM_SIZE   (16u << 20)      /**< bytes: LFB / dispi VRAM */
#define VGA_PLANAR_SIZE (256u << 10)     /**< bytes used by standard modes */

/* Bochs dispi (vbe.h). */
#define VBE_DISPI_INDEX_ID          0x0
#define VBE_DISPI_INDEX_XRES        0x1
#define VBE_DISPI_INDEX_YRES        0x2
#define VBE_DISPI_INDEX_BPP         0x3
#define VBE_DISPI_INDEX_ENABLE      0x4
#define VBE_DISPI_INDEX_BANK        0x5
#define VBE_DISPI_INDEX_VIRT_WIDTH  0x6
#define VBE_DISPI_INDEX_VIRT_HEIGHT 0x7
#define VBE_DISPI_INDEX_X_OFFSET    0x8
#define VBE_DISPI_INDEX_Y_OFFSET    0x9
#define VBE_DISPI_INDEX_VIDEO_MEMORY_64K 0xA
#define VBE_DISPI_INDEX_NB          0xB
#define VBE_DISPI_ID0               0xB0C0
#define VBE_DISPI_ID5               0xB0C5
#define VBE_DISPI_ENABLED           0x01
#define VBE_DISPI_GETCAPS           0x02
#define VBE_DISPI_8BIT_DAC          0x20
#define VBE_DISPI_LFB_ENABLED       0x40
#define VBE_DISPI_NOCLEARMEM        0x80
#define VBE_DISPI_MAX_XRES          2560
#define VBE_DISPI_MAX_YRES          1600
#define VBE_DISPI_MAX_BPP           32

/** The device. Register fields use the IBM names (sr = sequencer, gr =
 *  graphics controller, cr = CRTC, ar = attribute controller). */
typedef struct Vga {
    PciDevice pci;
    IoBus *io;
    PhysMem *pm;
    VClock *clk;
    uint8_t *vram;              /**< VGA_VRAM_SIZE bytes (not in vga_state) */

    /* --- saved registers --- */
    uint8_t misc;               /**< miscellaneous output (0x3C2/0x3CC) */
    uint8_t fcr;                /**< feature control (0x3DA/0x3BA write, 0x3CA read) */
    uint8_t sr_index, sr[8];
    uint8_t gr_index, gr[16];
    uint8_t cr_index, cr[64];
    uint8_t ar_index;           /**< bit 5 = PAS (palette address source) */
    uint8_t ar_flip_flop;       /**< 0: next 0x3C0 write is an index */
    uint8_t ar[32];
    uint8_t dac_state;          /**< 0x3C7 read: 0 = write mode, 3 = read mode */
    uint8_t dac_read_index, dac_write_index, dac_sub_index;
    uint8_t dac_cache[3];
    uint8_t dac_mask;           /**< PEL mask (0x3C6) */
    uint8_t palette[768];       /**< 256 x RGB, 6-bit (8-bit with dispi 8BIT_DAC) */
    uint32_t latch;             /**< the four plane latches, plane p in bits 8p..8p+7 */
    uint16_t vbe_index;
    uint16_t vbe_regs[VBE_DISPI_INDEX_NB];
    uint32_t vbe_start_addr;    /**< derived from regs: byte offset of the visible start */
    uint32_t vbe_line_offset;   /**< derived: bytes per virtual line */

    /* --- derived, not saved --- */
    int64_t lfb_addr;           /**< BAR0 base while decoding, or PCI_BAR_UNMAPPED */
    uint32_t win_base, win_size;/**< legacy window currently mapped (0 = none) */
    uint8_t *dirty;             /**< 1 bit per 4 KiB VRAM page written via MMIO */
    bool full_redraw;           /**< registers changed since the last render */
    int last_w, last_h, last_mode;
    int last_cursor;            /**< cursor cell last drawn (or -1) */
    int last_blink;             /**< blink phases at last render (-1 = none) */
    uint16_t text_shadow[256 * 128]; /**< char | attr << 8 last drawn per cell */
    uint8_t font_shadow[2][8192];    /**< plane-2 glyphs (maps B, A) last drawn */
    void (*log)(void *opaque, const char *msg);  /**< optional debug log */
    void *log_opaque;
} Vga;

/** Create the VGA at PCI devfn on bus, register ports on io and the legacy
 *  window in pm, declare BAR0 (16 MiB LFB).  NULL on allocation failure or
 *  a taken devfn. */
Vga *vga_new(PciBus *bus, int devfn, IoBus *io, PhysMem *pm, VClock *clk);

/** Power-on/hard reset: registers to 0, dispi disabled, VRAM kept. */
void vga_reset(Vga *s);

/** Unregister everything and free. NULL is ignored. */
void vga_free(Vga *s);

/**
 * Draw the current picture into fb (32-bit 0x00RRGGBB, fb_stride_pixels per
 * row; fb must hold fb_stride_pixels x VGA_MAX_H pixels).  Stores the
 * picture size in *width and *height.  full = redraw everything; otherwise
 * only lines whose VRAM (or the registers/palette) changed since the last
 * call are converted.  Returns the number of scan lines converted, 0 when
 * nothing changed, -1 when the picture is wider than fb_stride_pixels
 * (nothing drawn; *width tells the size needed).
 */
int vga_render(Vga *s, uint32_t *fb, int fb_stride_pixels, int *width, int *height, bool full);
#define VGA_MAX_W 2560
#define VGA_MAX_H 1600

/** The VRAM (VGA_VRAM_SIZE bytes) for snapshotting; *len gets its size.
 *  Saved separately from vga_state: a "vga.vram" section of raw bytes,
 *  zlib-deflated (mostly zero), or only the non-zero 4 KiB pages. */
const uint8_t *vga_vram(Vga *s, size_t *len);

/** Restore VRAM from a snapshot (len must equal VGA_VRAM_SIZE): returns 0
 *  or -1.  Marks everything for redraw. */
int vga_vram_load(Vga *s, const uint8_t *data, size_t len);

/** Registers (not VRAM); opaque = Vga.  post_load re-derives mappings. */
extern const StateDesc vga_state;

/* --- internal: shared by vga.c and vga_render.c --- */
#define VGA_FRAME_HZ 60           /**< virtual refresh rate (input status 1, blink) */
/** Mark VGA_VRAM_SIZE-relative bytes [off, off+len) changed (for the renderer). */
void vga_mark_dirty(Vga *s, uint32_t off, uint32_t len);
/** Whether the dispi interface is enabled (ENABLE bit 0). */
bool vga_vbe_enabled(const Vga *s);
/** Clamp dispi registers to VRAM and the caps; derive start/line offset. */
void vga_vbe_fixup(Vga *s);

#endif
