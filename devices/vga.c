/*
 * vga.c - QEMU "std" VGA: PCI function, VGA register file, planar memory
 * access, Bochs dispi (VBE) interface, state.  Rendering is in vga_render.c.
 *
 * Sources: IBM VGA Technical Reference (sequencer, CRTC, graphics and
 * attribute controllers, DAC, input status, write modes 0-3, read modes 0-1);
 * Bochs iodev/vga.cc and vbe.h (dispi); QEMU hw/display/vga.c for the
 * std-vga behaviour SeaBIOS's vgabios-stdvga expects (GETCAPS, VIDEO_MEMORY_64K,
 * register fix-up rules) and the plane-interleaved VRAM layout.
 */
#include "devices/vga.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each bit of a 4-bit plane mask expanded to a byte. */
static uint32_t vga_expand4(unsigned m)
{
    return ((m & 1) ? 0x000000FFu : 0) | ((m & 2) ? 0x0000FF00u : 0) |
           ((m & 4) ? 0x00FF0000u : 0) | ((m & 8) ? 0xFF000000u : 0);
}

static uint32_t vram_ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void vram_st32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

void vga_mark_dirty(Vga *s, uint32_t off, uint32_t len)
{
    if (len == 0 || off >= VGA_VRAM_SIZE)
        return;
    uint32_t last = off + len - 1;
    if (last >= VGA_VRAM_SIZE)
        last = VGA_VRAM_SIZE - 1;
    for (uint32_t p = off >> 12; p <= last >> 12; p++)
        s->dirty[p >> 3] |= (uint8_t)(1u << (p & 7));
}

bool vga_vbe_enabled(const Vga *s)
{
    return (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED) != 0;
}

/* ---------------------------------------------------------------------- */
/* Legacy memory window 0xA0000-0xBFFFF                                    */

/* Translate a window offset (from 0xA0000) to a window-relative address
 * per GR6 memory map select; -1 if outside the selected window. */
static int64_t vga_window_addr(Vga *s, uint32_t off)
{
    if (vga_vbe_enabled(s)) {
        if (off >= 0x10000)
            return -1;
        return (int64_t)s->vbe_regs[VBE_DISPI_INDEX_BANK] * 0x10000 + off;
    }
    switch ((s->gr[6] >> 2) & 3) {
    case 0: return off;                              /* A0000, 128 KiB */
    case 1: return off < 0x10000 ? (int64_t)off : -1; /* A0000, 64 KiB */
    case 2: return off >= 0x10000 && off < 0x18000 ? (int64_t)(off - 0x10000) : -1;
    default: return off >= 0x18000 ? (int64_t)(off - 0x18000) : -1;
    }
}

static uint8_t vga_mem_readb(Vga *s, uint32_t off)
{
    int64_t a = vga_window_addr(s, off);
    if (a < 0)
        return 0xFF;
    uint32_t addr = (uint32_t)a;
    if (vga_vbe_enabled(s))
        return addr < VGA_VRAM_SIZE ? s->vram[addr] : 0xFF;
    if (s->sr[4] & 0x08) {                         /* chain 4 */
        return addr < VGA_PLANAR_SIZE ? s->vram[addr] : 0xFF;
    }
    if (s->gr[5] & 0x10) {                         /* odd/even (host) */
        unsigned plane = (s->gr[4] & 2) | (addr & 1);
        uint32_t i = ((addr & ~1u) << 1) | plane;
        return i < VGA_PLANAR_SIZE ? s->vram[i] : 0xFF;
    }
    if ((uint64_t)addr * 4 + 4 > VGA_PLANAR_SIZE)
        return 0xFF;
    s->latch = vram_ld32(s->vram + addr * 4);
    if (!(s->gr[5] & 0x08)) {                      /* read mode 0 */
        return (uint8_t)(s->latch >> (8 * (s->gr[4] & 3)));
    }
    /* read mode 1: colour compare (GR2) with colour don't care (GR7) */
    uint32_t cc = vga_expand4(s->gr[2] & 0xF);
    uint32_t dc = vga_expand4(s->gr[7] & 0xF);
    uint32_t diff = (s->latch ^ cc) & dc;
    uint8_t any = (uint8_t)(diff | diff >> 8 | diff >> 16 | diff >> 24);
    return (uint8_t)~any;
}

static void vga_mem_writeb(Vga *s, uint32_t off, uint8_t val)
{
    int64_t a = vga_window_addr(s, off);
    if (a < 0)
        return;
    uint32_t addr = (uint32_t)a;
    if (vga_vbe_enabled(s)) {
        if (addr < VGA_VRAM_SIZE) {
            s->vram[addr] = val;
            vga_mark_dirty(s, addr, 1);
        }
        return;
    }
    if (s->sr[4] & 0x08) {                         /* chain 4 */
        unsigned plane = addr & 3;
        if ((s->sr[2] & (1u << plane)) && addr < VGA_PLANAR_SIZE) {
            s->vram[addr] = val;
            vga_mark_dirty(s, addr, 1);
        }
        return;
    }
    if (!(s->sr[4] & 0x04)) {                      /* odd/even (SR4 bit 2 = 0) */
        unsigned plane = addr & 1;
        if (s->sr[2] & (1u << plane)) {
            uint32_t i = ((addr & ~1u) << 1) | plane;
            if (i < VGA_PLANAR_SIZE) {
                s->vram[i] = val;
                vga_mark_dirty(s, i, 1);
            }
        }
        return;
    }
    if ((uint64_t)addr * 4 + 4 > VGA_PLANAR_SIZE)
        return;
    unsigned wm = s->gr[5] & 3;
    uint8_t bit_mask = s->gr[8];
    uint32_t v;
    unsigned rot = s->gr[3] & 7;
    uint8_t rv = (uint8_t)((val >> rot) | (val << ((8 - rot) & 7)));
    switch (wm) {
    case 0: {
        v = rv * 0x01010101u;
        uint32_t esr = vga_expand4(s->gr[1] & 0xF);
        v = (v & ~esr) | (vga_expand4(s->gr[0] & 0xF) & esr);
        break;
    }
    case 1:
        v = s->latch;
        goto do_write;
    case 2:
        v = vga_expand4(val & 0xF);
        break;
    default:
        bit_mask &= rv;
        v = vga_expand4(s->gr[0] & 0xF);
        break;
    }
    switch ((s->gr[3] >> 3) & 3) {                 /* data function */
    case 1: v &= s->latch; break;
    case 2: v |= s->latch; break;
    case 3: v ^= s->latch; break;
    default: break;
    }
    {
        uint32_t bm = bit_mask * 0x01010101u;
        v = (v & bm) | (s->latch & ~bm);
    }
do_write: {
        uint32_t mm = vga_expand4(s->sr[2] & 0xF);
        uint8_t *p = s->vram + addr * 4;
        vram_st32(p, (vram_ld32(p) & ~mm) | (v & mm));
        vga_mark_dirty(s, addr * 4, 4);
    }
}

static uint32_t vga_mem_read(void *opaque, uint32_t off, unsigned size)
{
    Vga *s = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)vga_mem_readb(s, off + i) << (8 * i);
    return v;
}

static void vga_mem_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Vga *s = opaque;
    for (unsigned i = 0; i < size && i < 4; i++)
        vga_mem_writeb(s, off + i, (uint8_t)(val >> (8 * i)));
}

static const MmioOps vga_mem_ops = { .read = vga_mem_read, .write = vga_mem_write };

/* ---------------------------------------------------------------------- */
/* Registers 0x3B0-0x3DF                                                   */

/* Input status 1 (IBM VGA: bit 0 display disabled (blanking), bit 3
 * vertical retrace) from the virtual clock: a 60 Hz frame of 525 lines,
 * vertical retrace in the last 1/25 of it, horizontal blanking in the last
 * fifth of each line. */
static uint8_t vga_st01(Vga *s)
{
    int64_t now = s->clk ? vclock_now(s->clk) : 0;
    if (now < 0)
        now = 0;
    int64_t frame = VCLOCK_NS_PER_SEC / VGA_FRAME_HZ;
    int64_t pos = now % frame;
    uint8_t v = 0;
    if (pos >= frame - frame / 25) {
        v |= 0x09;
    } else {
        int64_t line = frame / 525;
        if (pos % line >= line - line / 5)
            v |= 0x01;
    }
    return v;
}

/* True if port (0x3Bx/0x3Dx) is decoded in the current mono/colour mode. */
static bool vga_port_ok(Vga *s, uint32_t port)
{
    if ((port & 0xFFF0) == 0x3B0)
        return !(s->misc & 1);
    if ((port & 0xFFF0) == 0x3D0)
        return (s->misc & 1) != 0;
    return true;
}

static uint32_t vga_io_read(void *opaque, uint32_t off, unsigned size)
{
    Vga *s = opaque;
    (void)size;
    uint32_t port = 0x3B0 + off;
    if (!vga_port_ok(s, port))
        return 0xFF;
    switch (port) {
    case 0x3C0:
        return s->ar_index;          /* IBM: the address register, either state */
    case 0x3C1: {
        unsigned i = s->ar_index & 0x1F;
        return i <= 0x14 ? s->ar[i] : 0;
    }
    case 0x3C2:
        return 0x10;                 /* ST00: switch sense (colour monitor) */
    case 0x3C4: return s->sr_index;
    case 0x3C5: return s->sr[s->sr_index & 7];
    case 0x3C6: return s->dac_mask;
    case 0x3C7: return s->dac_state;
    case 0x3C8: return s->dac_write_index;
    case 0x3C9: {
        uint8_t v = s->palette[s->dac_read_index * 3 + s->dac_sub_index];
        if (++s->dac_sub_index == 3) {
            s->dac_sub_index = 0;
            s->dac_read_index++;
        }
        return v;
    }
    case 0x3CA: return s->fcr;
    case 0x3CC: return s->misc;
    case 0x3CE: return s->gr_index;
    case 0x3CF: return s->gr[s->gr_index & 15];
    case 0x3B4: case 0x3D4: return s->cr_index;
    case 0x3B5: case 0x3D5:
        return s->cr_index < sizeof(s->cr) ? s->cr[s->cr_index] : 0xFF;
    case 0x3BA: case 0x3DA:
        s->ar_flip_flop = 0;
        return vga_st01(s);
    default:
        return 0xFF;
    }
}

static const uint8_t vga_sr_mask[8] = { 0x03, 0x3D, 0x0F, 0x3F, 0x0E, 0x00, 0x00, 0xFF };
static const uint8_t vga_gr_mask[16] = { 0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F,
                                         0xFF, 0, 0, 0, 0, 0, 0, 0 };

static void vga_io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Vga *s = opaque;
    (void)size;
    uint32_t port = 0x3B0 + off;
    uint8_t v = (uint8_t)val;
    if (!vga_port_ok(s, port))
        return;
    switch (port) {
    case 0x3C0:
        if (!s->ar_flip_flop) {
            s->ar_index = v & 0x3F;
        } else {
            unsigned i = s->ar_index & 0x1F;
            switch (i) {
            case 0x00: case 0x01: case 0x02: case 0x03: case 0x04: case 0x05:
            case 0x06: case 0x07: case 0x08: case 0x09: case 0x0A: case 0x0B:
            case 0x0C: case 0x0D: case 0x0E: case 0x0F:
                s->ar[i] = v & 0x3F; break;
            case 0x10: s->ar[i] = v & ~0x10; break;
            case 0x11: s->ar[i] = v; break;
            case 0x12: s->ar[i] = v & 0x3F; break;
            case 0x13: s->ar[i] = v & 0x0F; break;
            case 0x14: s->ar[i] = v & 0x0F; break;
            default: break;
            }
            s->full_redraw = true;
        }
        s->ar_flip_flop ^= 1;
        break;
    case 0x3C2:
        s->misc = v & ~0x10;
        s->full_redraw = true;
        break;
    case 0x3C4: s->sr_index = v & 7; break;
    case 0x3C5:
        s->sr[s->sr_index & 7] = v & vga_sr_mask[s->sr_index & 7];
        s->full_redraw = true;
        break;
    case 0x3C6:
        s->dac_mask = v;
        s->full_redraw = true;
        break;
    case 0x3C7:
        s->dac_read_index = v;
        s->dac_sub_index = 0;
        s->dac_state = 3;
        break;
    case 0x3C8:
        s->dac_write_index = v;
        s->dac_sub_index = 0;
        s->dac_state = 0;
        break;
    case 0x3C9: {
        bool dac8 = (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC) != 0;
        s->dac_cache[s->dac_sub_index] = dac8 ? v : (v & 0x3F);
        if (++s->dac_sub_index == 3) {
            memcpy(&s->palette[s->dac_write_index * 3], s->dac_cache, 3);
            s->dac_sub_index = 0;
            s->dac_write_index++;
        }
        s->full_redraw = true;
        break;
    }
    case 0x3CE: s->gr_index = v & 0x0F; break;
    case 0x3CF:
        s->gr[s->gr_index & 15] = v & vga_gr_mask[s->gr_index & 15];
        s->full_redraw = true;
        break;
    case 0x3B4: case 0x3D4: s->cr_index = v; break;
    case 0x3B5: case 0x3D5: {
        uint8_t i = s->cr_index;
        if (i >= sizeof(s->cr))
            break;
        /* CR11 bit 7 write-protects CR0-CR7, except CR7 bit 4 (line compare 8). */
        if ((s->cr[0x11] & 0x80) && i <= 7) {
            if (i == 7)
                s->cr[7] = (uint8_t)((s->cr[7] & ~0x10) | (v & 0x10));
            break;
        }
        s->cr[i] = v;
        s->full_redraw = true;
        break;
    }
    case 0x3BA: case 0x3DA:
        s->fcr = v & 0x10;
        break;
    default:
        break;
    }
}

static const IoOps vga_io_ops = { .read = vga_io_read, .write = vga_io_write, .impl_max = 1 };

/* ---------------------------------------------------------------------- */
/* Bochs dispi (VBE) 0x1CE/0x1CF                                            */

static unsigned vbe_bits(uint16_t bpp)
{
    return bpp == 15 ? 16 : bpp;
}

/* Clamp the dispi registers so the visible picture lies inside VRAM
 * (QEMU vbe_fixup_regs): bpp in {8,15,16,24,32} else 8; xres multiple of
 * 8 in 8..MAX; virt_width >= xres; yres 1..min(MAX, lines in VRAM);
 * offsets reset to 0 when the picture would run past VRAM. */
void vga_vbe_fixup(Vga *s)
{
    uint16_t *r = s->vbe_regs;
    if (!vga_vbe_enabled(s))
        return;
    switch (r[VBE_DISPI_INDEX_BPP]) {
    case 8: case 15: case 16: case 24: case 32: break;
    default: r[VBE_DISPI_INDEX_BPP] = 8; break;
    }
    unsigned bits = vbe_bits(r[VBE_DISPI_INDEX_BPP]);
    r[VBE_DISPI_INDEX_XRES] &= (uint16_t)~7u;
    if (r[VBE_DISPI_INDEX_XRES] == 0)
        r[VBE_DISPI_INDEX_XRES] = 8;
    if (r[VBE_DISPI_INDEX_XRES] > VBE_DISPI_MAX_XRES)
        r[VBE_DISPI_INDEX_XRES] = VBE_DISPI_MAX_XRES;
    r[VBE_DISPI_INDEX_VIRT_WIDTH] &= (uint16_t)~7u;
    if (r[VBE_DISPI_INDEX_VIRT_WIDTH] > 8192)
        r[VBE_DISPI_INDEX_VIRT_WIDTH] = 8192;
    if (r[VBE_DISPI_INDEX_VIRT_WIDTH] < r[VBE_DISPI_INDEX_XRES])
        r[VBE_DISPI_INDEX_VIRT_WIDTH] = r[VBE_DISPI_INDEX_XRES];
    uint32_t linelength = (uint32_t)r[VBE_DISPI_INDEX_VIRT_WIDTH] * bits / 8;
    uint32_t maxy = VGA_VRAM_SIZE / linelength;
    if (maxy > 0xFFFF)
        maxy = 0xFFFF;
    if (r[VBE_DISPI_INDEX_YRES] == 0)
        r[VBE_DISPI_INDEX_YRES] = 1;
    if (r[VBE_DISPI_INDEX_YRES] > VBE_DISPI_MAX_YRES)
        r[VBE_DISPI_INDEX_YRES] = VBE_DISPI_MAX_YRES;
    if (r[VBE_DISPI_INDEX_YRES] > maxy)
        r[VBE_DISPI_INDEX_YRES] = (uint16_t)maxy;
    if (r[VBE_DISPI_INDEX_X_OFFSET] > r[VBE_DISPI_INDEX_VIRT_WIDTH] - r[VBE_DISPI_INDEX_XRES])
        r[VBE_DISPI_INDEX_X_OFFSET] = 0;
    uint64_t offset = (uint64_t)r[VBE_DISPI_INDEX_X_OFFSET] * bits / 8 +
                      (uint64_t)r[VBE_DISPI_INDEX_Y_OFFSET] * linelength;
    if (offset + (uint64_t)r[VBE_DISPI_INDEX_YRES] * linelength > VGA_VRAM_SIZE) {
        r[VBE_DISPI_INDEX_Y_OFFSET] = 0;
        offset = (uint64_t)r[VBE_DISPI_INDEX_X_OFFSET] * bits / 8;
        if (offset + (uint64_t)r[VBE_DISPI_INDEX_YRES] * linelength > VGA_VRAM_SIZE) {
            r[VBE_DISPI_INDEX_X_OFFSET] = 0;
            offset = 0;
        }
    }
    r[VBE_DISPI_INDEX_VIRT_HEIGHT] = (uint16_t)maxy;
    s->vbe_line_offset = linelength;
    s->vbe_start_addr = (uint32_t)offset;
}

static uint16_t vbe_read_data(Vga *s)
{
    unsigned i = s->vbe_index;
    if (i == VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
        return (uint16_t)(VGA_VRAM_SIZE >> 16);
    if (i >= VBE_DISPI_INDEX_NB)
        return 0;
    if (s->vbe_regs[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
        switch (i) {
        case VBE_DISPI_INDEX_XRES: return VBE_DISPI_MAX_XRES;
        case VBE_DISPI_INDEX_YRES: return VBE_DISPI_MAX_YRES;
        case VBE_DISPI_INDEX_BPP: return VBE_DISPI_MAX_BPP;
        default: break;
        }
    }
    return s->vbe_regs[i];
}

static void vbe_write_data(Vga *s, uint16_t val)
{
    uint16_t *r = s->vbe_regs;
    switch (s->vbe_index) {
    case VBE_DISPI_INDEX_ID:
        if (val >= VBE_DISPI_ID0 && val <= VBE_DISPI_ID5)
            r[VBE_DISPI_INDEX_ID] = val;
        break;
    case VBE_DISPI_INDEX_XRES:
    case VBE_DISPI_INDEX_YRES:
    case VBE_DISPI_INDEX_BPP:
    case VBE_DISPI_INDEX_VIRT_WIDTH:
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
        r[s->vbe_index] = val;
        vga_vbe_fixup(s);
        s->full_redraw = true;
        break;
    case VBE_DISPI_INDEX_BANK:
        r[VBE_DISPI_INDEX_BANK] = val & ((VGA_VRAM_SIZE >> 16) - 1);
        break;
    case VBE_DISPI_INDEX_ENABLE:
        if ((val & VBE_DISPI_ENABLED) && !(r[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED)) {
            r[VBE_DISPI_INDEX_VIRT_WIDTH] = 0;
            r[VBE_DISPI_INDEX_X_OFFSET] = 0;
            r[VBE_DISPI_INDEX_Y_OFFSET] = 0;
            r[VBE_DISPI_INDEX_ENABLE] |= VBE_DISPI_ENABLED;
            vga_vbe_fixup(s);
            if (!(val & VBE_DISPI_NOCLEARMEM)) {
                uint64_t n = (uint64_t)r[VBE_DISPI_INDEX_YRES] * s->vbe_line_offset;
                if (n > VGA_VRAM_SIZE)
                    n = VGA_VRAM_SIZE;
                memset(s->vram, 0, (size_t)n);
                vga_mark_dirty(s, 0, (uint32_t)n);
            }
        } else if (!(val & VBE_DISPI_ENABLED)) {
            r[VBE_DISPI_INDEX_BANK] = 0;
        }
        r[VBE_DISPI_INDEX_ENABLE] = val & (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS |
                                           VBE_DISPI_8BIT_DAC | VBE_DISPI_LFB_ENABLED |
                                           VBE_DISPI_NOCLEARMEM);
        vga_vbe_fixup(s);
        s->full_redraw = true;
        break;
    default:
        break;          /* VIRT_HEIGHT, VIDEO_MEMORY_64K: read-only */
    }
}

static uint32_t vbe_io_read(void *opaque, uint32_t off, unsigned size)
{
    Vga *s = opaque;
    uint32_t v = off == 0 ? s->vbe_index : vbe_read_data(s);
    (void)size;
    return size == 1 ? (v & 0xFF) : v;
}

static void vbe_io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    Vga *s = opaque;
    (void)size;
    if (off == 0)
        s->vbe_index = (uint16_t)val;
    else
        vbe_write_data(s, (uint16_t)val);
}

static const IoOps vbe_io_ops = { .read = vbe_io_read, .write = vbe_io_write, .impl_max = 2 };

/* ---------------------------------------------------------------------- */
/* PCI                                                                     */

static void vga_lfb_map(PciDevice *dev, int bar, int64_t addr)
{
    Vga *s = dev->opaque;
    if (bar != 0 || !s->pm)
        return;
    if (s->lfb_addr != PCI_BAR_UNMAPPED) {
        phys_unmap(s->pm, (uint32_t)s->lfb_addr, VGA_VRAM_SIZE);
        s->lfb_addr = PCI_BAR_UNMAPPED;
    }
    if (addr == PCI_BAR_UNMAPPED || addr < 0 || (uint64_t)addr + VGA_VRAM_SIZE > 0x100000000ull)
        return;
    phys_map(s->pm, (uint32_t)addr, VGA_VRAM_SIZE, s->vram, s->vram);
    s->pm->tracking = true;
    s->lfb_addr = addr;
    s->full_redraw = true;
}

static void vga_pci_defaults(Vga *s)
{
    uint8_t *c = s->pci.config;
    c[PCI_BASE_ADDRESS_0] |= 0x08;                 /* prefetchable */
    pci_set_word(c + PCI_SUBSYSTEM_VENDOR_ID, 0x1AF4);
    pci_set_word(c + PCI_SUBSYSTEM_ID, 0x1100);
}

void vga_reset(Vga *s)
{
    if (!s)
        return;
    pci_device_reset(&s->pci);
    vga_pci_defaults(s);
    s->misc = 0;
    s->fcr = 0;
    s->sr_index = s->gr_index = s->cr_index = s->ar_index = 0;
    memset(s->sr, 0, sizeof(s->sr));
    memset(s->gr, 0, sizeof(s->gr));
    memset(s->cr, 0, sizeof(s->cr));
    memset(s->ar, 0, sizeof(s->ar));
    s->ar_flip_flop = 0;
    s->dac_state = 0;
    s->dac_read_index = s->dac_write_index = s->dac_sub_index = 0;
    memset(s->dac_cache, 0, sizeof(s->dac_cache));
    s->dac_mask = 0xFF;
    memset(s->palette, 0, sizeof(s->palette));
    s->latch = 0;
    s->vbe_index = 0;
    memset(s->vbe_regs, 0, sizeof(s->vbe_regs));
    s->vbe_regs[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
    s->vbe_start_addr = 0;
    s->vbe_line_offset = 0;
    s->full_redraw = true;
    s->last_cursor = -1;
}

Vga *vga_new(PciBus *bus, int devfn, IoBus *io, PhysMem *pm, VClock *clk)
{
    Vga *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->vram = calloc(1, VGA_VRAM_SIZE);
    s->dirty = calloc(1, VGA_VRAM_SIZE / 4096 / 8);
    if (!s->vram || !s->dirty) {
        free(s->vram);
        free(s->dirty);
        free(s);
        return NULL;
    }
    s->lfb_addr = PCI_BAR_UNMAPPED;
    s->io = io;
    s->pm = pm;
    s->clk = clk;
    if (bus) {
        if (pci_device_init(&s->pci, bus, devfn, 0x1234, 0x1111, 0x02, 0x030000, 0x00) < 0) {
            free(s->vram);
            free(s->dirty);
            free(s);
            return NULL;
        }
        s->pci.name = "std VGA";
        s->pci.opaque = s;
        pci_register_bar(&s->pci, 0, VGA_VRAM_SIZE, false, vga_lfb_map);
    } else {
        s->pci.opaque = s;
    }
    if (io) {
        iobus_register(io, 0x3B0, 0x30, &vga_io_ops, s, "vga");
        iobus_register(io, 0x1CE, 2, &vbe_io_ops, s, "vbe-dispi");
    }
    if (pm && phys_map_mmio(pm, 0xA0000, 0x20000, &vga_mem_ops, s, "vga-lowmem") == 0) {
        s->win_base = 0xA0000;
        s->win_size = 0x20000;
    }
    vga_reset(s);
    return s;
}

void vga_free(Vga *s)
{
    if (!s)
        return;
    if (s->io) {
        iobus_unregister(s->io, 0x3B0, 0x30);
        iobus_unregister(s->io, 0x1CE, 2);
    }
    if (s->pm && s->win_size)
        phys_unmap(s->pm, s->win_base, s->win_size);
    if (s->pci.bus)
        pci_device_free(&s->pci);   /* unmaps BAR0 through vga_lfb_map */
    if (s->pm && s->lfb_addr != PCI_BAR_UNMAPPED)
        phys_unmap(s->pm, (uint32_t)s->lfb_addr, VGA_VRAM_SIZE);
    free(s->vram);
    free(s->dirty);
    free(s);
}

const uint8_t *vga_vram(Vga *s, size_t *len)
{
    if (len)
        *len = s ? VGA_VRAM_SIZE : 0;
    return s ? s->vram : NULL;
}

int vga_vram_load(Vga *s, const uint8_t *data, size_t len)
{
    if (!s || !data || len != VGA_VRAM_SIZE)
        return -1;
    memcpy(s->vram, data, len);
    vga_mark_dirty(s, 0, VGA_VRAM_SIZE);
    s->full_redraw = true;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* State                                                                   */

static int vga_post_load(void *opaque, char *err, size_t errlen)
{
    Vga *s = opaque;
    (void)err; (void)errlen;
    s->sr_index &= 7;
    s->gr_index &= 15;
    s->ar_index &= 0x3F;
    s->ar_flip_flop &= 1;
    if (s->dac_sub_index > 2)
        s->dac_sub_index = 0;
    s->vbe_regs[VBE_DISPI_INDEX_BANK] &= (VGA_VRAM_SIZE >> 16) - 1;
    s->vbe_start_addr = 0;
    s->vbe_line_offset = 0;
    vga_vbe_fixup(s);
    if (s->pci.bus) {
        pci_device_post_load(&s->pci);
        vga_pci_defaults(s);
    }
    s->full_redraw = true;
    s->last_cursor = -1;
    return 0;
}

static const StateField vga_fields[] = {
    ST_U8(misc, Vga),
    ST_U8(fcr, Vga),
    ST_U8(sr_index, Vga),
    ST_U8_ARRAY(sr, Vga),
    ST_U8(gr_index, Vga),
    ST_U8_ARRAY(gr, Vga),
    ST_U8(cr_index, Vga),
    ST_U8_ARRAY(cr, Vga),
    ST_U8(ar_index, Vga),
    ST_U8(ar_flip_flop, Vga),
    ST_U8_ARRAY(ar, Vga),
    ST_U8(dac_state, Vga),
    ST_U8(dac_read_index, Vga),
    ST_U8(dac_write_index, Vga),
    ST_U8(dac_sub_index, Vga),
    ST_U8_ARRAY(dac_cache, Vga),
    ST_U8(dac_mask, Vga),
    ST_U8_ARRAY(palette, Vga),
    ST_U32(latch, Vga),
    ST_U16(vbe_index, Vga),
    ST_U16_ARRAY(vbe_regs, Vga),
    ST_BYTES(pci.config, Vga),
    ST_END,
};

const StateDesc vga_state = {
    .name = "vga",
    .version = 1,
    .min_version = 1,
    .fields = vga_fields,
    .post_load = vga_post_load,
};
