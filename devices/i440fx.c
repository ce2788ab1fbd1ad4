/*
 * i440fx.c - 82441FX host bridge: identity, PAM shadowing, SMRAM register.
 *
 * Source: Intel 440FX PCIset datasheet, 82441FX register descriptions:
 * PCICMD reset 0x0006, PCISTS 0x0280, PAM[6:0] 0x59-0x5F (3.2.20),
 * SMRAM 0x72 (3.2.23: C_BASE_SEG = 010 read-only, G_SMRAME bit 3,
 * D_LCK bit 4, D_CLS bit 5, D_OPEN bit 6).  SMM itself is not emulated;
 * the register is accepted so firmware can program it.
 */
#include "devices/i440fx.h"

#include <stdlib.h>
#include <string.h>

#define SMRAM_C_BASE_SEG 0x02
#define SMRAM_G_SMRAME   0x08
#define SMRAM_D_LCK      0x10
#define SMRAM_D_CLS      0x20
#define SMRAM_D_OPEN     0x40

#define PAM_RE 1   /* reads from DRAM */
#define PAM_WE 2   /* writes to DRAM */

/* Segment seg: 0..11 = 16 KiB at 0xC0000 + seg*16K (PAM1-6, low nibble
 * first), 12 = 64 KiB at 0xF0000 (PAM0 high nibble). */
static void seg_range(int seg, uint32_t *base, uint32_t *size, int *reg, int *shift)
{
    if (seg == 12) {
        *base = 0xF0000;
        *size = 0x10000;
        *reg = I440FX_PAM0;
        *shift = 4;
    } else {
        *base = 0xC0000 + (uint32_t)seg * 0x4000;
        *size = 0x4000;
        *reg = I440FX_PAM0 + 1 + seg / 2;
        *shift = (seg & 1) ? 4 : 0;
    }
}

static void i440fx_apply_seg(I440fx *s, int seg, int mode)
{
    uint32_t base, size;
    int reg, shift;
    seg_range(seg, &base, &size, &reg, &shift);
    PhysMem *pm = s->pm;
    uint8_t *ram = (pm->ram && (uint64_t)base + size <= pm->ram_size) ? pm->ram + base : NULL;
    uint8_t *rom;
    if (base >= 0xE0000)
        rom = s->bios_low ? s->bios_low + (base - 0xE0000) : NULL;
    else
        rom = s->isa_rom ? s->isa_rom + (base - 0xC0000) : NULL;
    uint8_t *rd = (mode & PAM_RE) ? ram : rom;
    uint8_t *wr = (mode & PAM_WE) ? ram : NULL;
    if (!rd && !wr)
        phys_unmap(pm, base, size);
    else
        phys_map(pm, base, size, rd, wr);
}

/* Reprogram every segment whose PAM attribute differs from what is mapped. */
static void i440fx_update_pam(I440fx *s)
{
    if (!s->pm)
        return;
    for (int seg = 0; seg < I440FX_NSEG; seg++) {
        uint32_t base, size;
        int reg, shift;
        seg_range(seg, &base, &size, &reg, &shift);
        int mode = (s->pci.config[reg] >> shift) & 3;
        if (s->applied[seg] == mode)
            continue;
        s->applied[seg] = (int8_t)mode;
        i440fx_apply_seg(s, seg, mode);
    }
}

static void i440fx_write_smram(I440fx *s, uint8_t val)
{
    uint8_t cur = s->pci.config[I440FX_SMRAM];
    uint8_t v;
    if (cur & SMRAM_D_LCK) {
        /* Locked: only D_CLS stays writable; D_OPEN is forced clear. */
        v = (uint8_t)((cur & ~(SMRAM_D_CLS | SMRAM_D_OPEN)) | (val & SMRAM_D_CLS));
    } else {
        v = (uint8_t)((val & (SMRAM_G_SMRAME | SMRAM_D_LCK | SMRAM_D_CLS | SMRAM_D_OPEN)) |
                      SMRAM_C_BASE_SEG);
        if (v & SMRAM_D_LCK)
            v &= (uint8_t)~SMRAM_D_OPEN;
    }
    s->pci.config[I440FX_SMRAM] = v;
}

static void i440fx_config_write(PciDevice *dev, int off, uint32_t val, int size)
{
    I440fx *s = dev->opaque;
    uint8_t b;
    if (off <= I440FX_PAM0 + I440FX_NPAM - 1 && off + size > I440FX_PAM0)
        i440fx_update_pam(s);
    if (pci_write_covers(off, size, val, I440FX_SMRAM, &b))
        i440fx_write_smram(s, b);
}

void i440fx_reset(I440fx *s)
{
    if (!s)
        return;
    pci_device_reset(&s->pci);
    uint8_t *c = s->pci.config;
    pci_set_word(c + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    memset(c + I440FX_PAM0, 0, I440FX_NPAM);
    c[I440FX_SMRAM] = SMRAM_C_BASE_SEG;
    i440fx_update_pam(s);
}

I440fx *i440fx_new(PciBus *bus, PhysMem *pm, uint8_t *bios_low128k)
{
    I440fx *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (pci_device_init(&s->pci, bus, PCI_DEVFN(0, 0), 0x8086, 0x1237, 0x02, 0x060000,
                        0x00) < 0) {
        free(s);
        return NULL;
    }
    s->pm = pm;
    s->bios_low = bios_low128k;
    s->pci.name = "i440FX";
    s->pci.opaque = s;
    s->pci.config_write = i440fx_config_write;
    uint8_t *c = s->pci.config;
    pci_set_word(c + PCI_STATUS, PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM);
    /* QEMU's subsystem IDs; SeaBIOS checks them only for boot-menu text. */
    pci_set_word(c + PCI_SUBSYSTEM_VENDOR_ID, 0x1AF4);
    pci_set_word(c + PCI_SUBSYSTEM_ID, 0x1100);
    s->pci.wmask[I440FX_PAM0] = 0x30;           /* bits 3:0 reserved */
    for (int r = 1; r < I440FX_NPAM; r++)
        s->pci.wmask[I440FX_PAM0 + r] = 0x33;   /* bits 7:6, 3:2 reserved */
    s->pci.wmask[I440FX_SMRAM] = 0;              /* written by the hook */
    memset(s->applied, -1, sizeof(s->applied));
    i440fx_reset(s);
    return s;
}

void i440fx_set_isa_rom(I440fx *s, uint8_t *c0000_128k)
{
    if (!s)
        return;
    s->isa_rom = c0000_128k;
    memset(s->applied, -1, 8);    /* segments 0-7: 0xC0000-0xDFFFF */
    i440fx_update_pam(s);
}

void i440fx_free(I440fx *s)
{
    if (!s)
        return;
    pci_device_free(&s->pci);
    free(s);
}

static int i440fx_post_load(void *opaque, char *err, size_t errlen)
{
    I440fx *s = opaque;
    (void)err;
    (void)errlen;
    uint8_t *c = s->pci.config;
    /* Reserved PAM bits read 0; C_BASE_SEG is fixed. */
    c[I440FX_PAM0] &= 0x30;
    for (int r = 1; r < I440FX_NPAM; r++)
        c[I440FX_PAM0 + r] &= 0x33;
    c[I440FX_SMRAM] = (uint8_t)((c[I440FX_SMRAM] & 0x78) | SMRAM_C_BASE_SEG);
    pci_device_post_load(&s->pci);
    memset(s->applied, -1, sizeof(s->applied));
    i440fx_update_pam(s);
    return 0;
}

static const StateField i440fx_fields[] = {
    ST_BYTES(pci.config, I440fx),
    ST_END,
};

const StateDesc i440fx_state = {
    .name = "i440fx",
    .version = 1,
    .min_version = 1,
    .fields = i440fx_fields,
    .post_load = i440fx_post_load,
};
