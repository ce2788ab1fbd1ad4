/*
 * test_ide.c - PIIX3 IDE: PCI identity, IDENTIFY contents, PIO read/write
 * (LBA28, CHS, multiple, LBA48), bus master DMA with PRD tables in a real
 * PhysMem (and hostile tables), reset signatures, absent devices, nIEN,
 * backend errors, ATAPI (INQUIRY, READ CAPACITY, READ(10) PIO/DMA, TOC,
 * sense / unit attention), random register writes and a snapshot round trip
 * in the middle of a PIO transfer.  Driven only through port I/O.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/blockdev.h"
#include "devices/bus.h"
#include "devices/ide.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "mem/phys.h"

#define DEVFN PCI_DEVFN(1, 1)
#define BMBA 0xC000
#define RAM (2u << 20)
#define DISK_SECTORS 8192u      /* 4 MiB: 8 cylinders of 16 x 63 */
#define CD_SECTORS 8u           /* 2048-byte sectors */

typedef struct {
    IoBus io;
    PciBus *bus;
    PhysMem pm;
    IdeController *ide;
    int level[2], rises[2];
    char disk_path[64], cd_path[64];
    BlockDev *disk, *cd;
} Fx;

static void irq_rec(void *opaque, int n, int level)
{
    Fx *f = opaque;
    int i = n == 14 ? 0 : 1;
    if (level && !f->level[i])
        f->rises[i]++;
    f->level[i] = level;
}

static uint8_t pattern(uint64_t off) { return (uint8_t)((off >> 9) * 7 + off); }

static void make_file(char *path, size_t size)
{
    strcpy(path, "/tmp/test_ide_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *b = malloc(size);
    for (size_t i = 0; i < size; i++)
        b[i] = pattern(i);
    assert_int_equal(write(fd, b, size), (ssize_t)size);
    free(b);
    close(fd);
}

static void outb(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 1); }
static void outw(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 2); }
static void outl(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 4); }
static uint32_t inb(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 1); }
static uint32_t inw(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 2); }
static uint32_t inl(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 4); }

static uint32_t cfg_read(Fx *f, int reg)
{
    outl(f, 0xCF8, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
    return inl(f, 0xCFC);
}

static void cfg_write(Fx *f, int reg, uint32_t v)
{
    outl(f, 0xCF8, 0x80000000u | DEVFN << 8 | (reg & 0xFC));
    outl(f, 0xCFC, v);
}

static int setup_common(void **state, bool cd_slave)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    iobus_init(&f->io);
    f->bus = pci_bus_new(&f->io);
    assert_non_null(f->bus);
    assert_int_equal(phys_init(&f->pm, RAM), 0);
    f->ide = ide_new(f->bus, DEVFN, &f->io, &f->pm, (Irq){ irq_rec, f, 14 },
                     (Irq){ irq_rec, f, 15 });
    assert_non_null(f->ide);
    char err[256];
    make_file(f->disk_path, DISK_SECTORS * 512);
    f->disk = blockdev_open(f->disk_path, 0, err, sizeof(err));
    assert_non_null(f->disk);
    assert_int_equal(ide_attach(f->ide, 0, 0, f->disk, false, err, sizeof(err)), 0);
    make_file(f->cd_path, CD_SECTORS * 2048);
    f->cd = blockdev_open(f->cd_path, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(f->cd);
    if (cd_slave)
        assert_int_equal(ide_attach(f->ide, 0, 1, f->cd, true, err, sizeof(err)), 0);
    else
        assert_int_equal(ide_attach(f->ide, 1, 0, f->cd, true, err, sizeof(err)), 0);
    /* Bus master enable, BAR4 at BMBA. */
    cfg_write(f, 0x20, BMBA);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MASTER);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_common(state, false); }
static int setup_slave(void **state) { return setup_common(state, true); }

static int teardown(void **state)
{
    Fx *f = *state;
    ide_free(f->ide);
    blockdev_close(f->disk);
    blockdev_close(f->cd);
    unlink(f->disk_path);
    unlink(f->cd_path);
    pci_bus_free(f->bus);
    phys_free(&f->pm);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

static void lba28(Fx *f, uint16_t base, int unit, uint32_t lba, uint8_t count)
{
    outb(f, base + 6, 0xE0 | (unit << 4) | ((lba >> 24) & 0xF));
    outb(f, base + 2, count);
    outb(f, base + 3, lba & 0xFF);
    outb(f, base + 4, (lba >> 8) & 0xFF);
    outb(f, base + 5, (lba >> 16) & 0xFF);
}

static void lba48(Fx *f, uint64_t lba, uint16_t count)
{
    outb(f, 0x1F6, 0x40);
    outb(f, 0x1F2, count >> 8);
    outb(f, 0x1F3, (lba >> 24) & 0xFF);
    outb(f, 0x1F4, (lba >> 32) & 0xFF);
    outb(f, 0x1F5, (lba >> 40) & 0xFF);
    outb(f, 0x1F2, count & 0xFF);
    outb(f, 0x1F3, lba & 0xFF);
    outb(f, 0x1F4, (lba >> 8) & 0xFF);
    outb(f, 0x1F5, (lba >> 16) & 0xFF);
}

static void read_words(Fx *f, uint16_t base, uint8_t *buf, int nbytes)
{
    for (int i = 0; i < nbytes; i += 2) {
        uint32_t w = inw(f, base);
        buf[i] = (uint8_t)w;
        buf[i + 1] = (uint8_t)(w >> 8);
    }
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static uint16_t word(const uint8_t *b, int w) { return (uint16_t)(b[2 * w] | b[2 * w + 1] << 8); }

/* ---- PCI ---------------------------------------------------------------- */

static void test_pci_identity(void **state)
{
    Fx *f = *state;
    assert_int_equal(cfg_read(f, 0x00), 0x70108086);
    assert_int_equal(cfg_read(f, 0x08) >> 8, 0x010180);
    assert_int_equal(cfg_read(f, 0x20), BMBA | 1);
    cfg_write(f, 0x20, 0xFFFFFFFF);
    assert_int_equal(cfg_read(f, 0x20), 0xFFFFFFF1);
    cfg_write(f, 0x20, BMBA);
    /* IDETIM decode enable bits are writable. */
    cfg_write(f, 0x40, 0x80008000);
    assert_int_equal(cfg_read(f, 0x40), 0x80008000);
    /* BMISX: drive DMA capable bits are R/W (reset 0), simplex reads 0. */
    assert_int_equal(inb(f, BMBA + 2), 0x00);
    outb(f, BMBA + 2, 0xE7);
    assert_int_equal(inb(f, BMBA + 2), 0x60);
    outb(f, BMBA, 0xFF);
    assert_int_equal(inb(f, BMBA), 0x09);
    assert_int_equal(inb(f, BMBA + 2), 0x61);      /* start sets Active */
    outb(f, BMBA, 0x00);
    assert_int_equal(inb(f, BMBA + 2), 0x60);
    outl(f, BMBA + 4, 0x12345677);
    assert_int_equal(inl(f, BMBA + 4), 0x12345674);
}

/* ---- IDENTIFY ----------------------------------------------------------- */

static void test_identify(void **state)
{
    Fx *f = *state;
    uint8_t id[512];
    outb(f, 0x1F6, 0xA0);
    outb(f, 0x1F7, 0xEC);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(inb(f, 0x3F6), 0x58);          /* DRDY DSC DRQ */
    assert_int_equal(f->level[0], 1);               /* alt status leaves INTRQ */
    assert_int_equal(inb(f, 0x1F7), 0x58);
    assert_int_equal(f->level[0], 0);
    read_words(f, 0x1F0, id, 512);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(word(id, 0), 0x0040);
    assert_int_equal(word(id, 1), 8);
    assert_int_equal(word(id, 3), 16);
    assert_int_equal(word(id, 6), 63);
    assert_int_equal(word(id, 54), 8);
    assert_int_equal(word(id, 55), 16);
    assert_int_equal(word(id, 56), 63);
    assert_int_equal(word(id, 57) | word(id, 58) << 16, 8 * 16 * 63);
    assert_int_equal(word(id, 47), 0x8010);
    assert_int_equal(word(id, 49) & 0x0300, 0x0300);
    assert_int_equal(word(id, 53) & 7, 7);
    assert_int_equal(word(id, 59), 0);
    assert_int_equal(word(id, 60) | word(id, 61) << 16, DISK_SECTORS);
    assert_int_equal(word(id, 63) & 7, 7);
    assert_true(word(id, 83) & (1 << 10));
    assert_int_equal(word(id, 100) | word(id, 101) << 16, DISK_SECTORS);
    assert_int_equal(word(id, 102) | word(id, 103), 0);
    /* Model string: byte-swapped words. */
    assert_memory_equal(id + 54, "EVSSLEH RADDSI K", 16);
    /* After SET FEATURES MWDMA2 the selected mode shows in word 63. */
    outb(f, 0x1F1, 0x03);
    outb(f, 0x1F2, 0x22);
    outb(f, 0x1F7, 0xEF);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    outb(f, 0x1F7, 0xEC);
    read_words(f, 0x1F0, id, 512);
    assert_int_equal(word(id, 63), 0x0407);
    /* Invalid transfer mode aborts. */
    outb(f, 0x1F2, 0x27);
    outb(f, 0x1F7, 0xEF);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_int_equal(inb(f, 0x1F1), 0x04);
    /* IDENTIFY PACKET DEVICE aborts on a disk (SeaBIOS relies on it). */
    outb(f, 0x1F7, 0xA1);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_int_equal(inb(f, 0x1F1), 0x04);
    /* Unknown command: ABRT. */
    outb(f, 0x1F7, 0xFF);
    assert_int_equal(inb(f, 0x1F7), 0x51);
}

/* ---- PIO ----------------------------------------------------------------- */

static void test_pio_read_write(void **state)
{
    Fx *f = *state;
    uint8_t buf[3 * 512], exp[3 * 512];
    f->rises[0] = 0;
    lba28(f, 0x1F0, 0, 5, 2);
    outb(f, 0x1F7, 0x20);
    assert_int_equal(f->rises[0], 1);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    read_words(f, 0x1F0, buf, 512);
    assert_int_equal(f->rises[0], 2);               /* second block's DRQ */
    assert_int_equal(inb(f, 0x1F7), 0x58);
    /* 32-bit PIO for the second sector. */
    for (int i = 0; i < 512; i += 4) {
        uint32_t v = inl(f, 0x1F0);
        memcpy(buf + 512 + i, &v, 4);
    }
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(f->rises[0], 2);               /* no interrupt after the last block */
    for (int i = 0; i < 1024; i++)
        assert_int_equal(buf[i], pattern(5 * 512 + i));
    /* The address registers moved past the transfer. */
    assert_int_equal(inb(f, 0x1F3), 7);

    /* WRITE SECTORS x3 at LBA 100. */
    for (int i = 0; i < 3 * 512; i++)
        buf[i] = (uint8_t)(i * 13 + 1);
    f->rises[0] = 0;
    lba28(f, 0x1F0, 0, 100, 3);
    outb(f, 0x1F7, 0x30);
    assert_int_equal(f->rises[0], 0);               /* no interrupt before the first block */
    assert_int_equal(inb(f, 0x3F6), 0x58);
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 512; i += 2)
            outw(f, 0x1F0, buf[s * 512 + i] | buf[s * 512 + i + 1] << 8);
        assert_int_equal(f->rises[0], s + 1);
        assert_int_equal(inb(f, 0x1F7), s < 2 ? 0x58 : 0x50);
    }
    file_read(f->disk_path, 100 * 512, exp, sizeof(exp));
    assert_memory_equal(buf, exp, sizeof(exp));

    /* FLUSH CACHE. */
    outb(f, 0x1F7, 0xE7);
    assert_int_equal(inb(f, 0x1F7), 0x50);

    /* CHS: C/H/S = 1/2/3 -> LBA (1*16+2)*63+2 = 1136. */
    outb(f, 0x1F6, 0xA2);
    outb(f, 0x1F2, 1);
    outb(f, 0x1F3, 3);
    outb(f, 0x1F4, 1);
    outb(f, 0x1F5, 0);
    outb(f, 0x1F7, 0x20);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    read_words(f, 0x1F0, buf, 512);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], pattern(1136 * 512 + i));
    /* Sector 0 is not a CHS address: IDNF. */
    outb(f, 0x1F3, 0);
    outb(f, 0x1F7, 0x20);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_true(inb(f, 0x1F1) & 0x10);

    /* Past the end: IDNF. */
    lba28(f, 0x1F0, 0, DISK_SECTORS - 1, 2);
    outb(f, 0x1F7, 0x20);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_true(inb(f, 0x1F1) & 0x10);

    /* READ VERIFY within range completes with an interrupt. */
    f->rises[0] = 0;
    lba28(f, 0x1F0, 0, 10, 4);
    outb(f, 0x1F7, 0x40);
    assert_int_equal(f->rises[0], 1);
    assert_int_equal(inb(f, 0x1F7), 0x50);
}

static void test_multiple_mode(void **state)
{
    Fx *f = *state;
    uint8_t buf[8 * 512], id[512];
    /* READ MULTIPLE before SET MULTIPLE: abort. */
    lba28(f, 0x1F0, 0, 0, 8);
    outb(f, 0x1F7, 0xC4);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    /* Block size 3 is not a power of two. */
    outb(f, 0x1F2, 3);
    outb(f, 0x1F7, 0xC6);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    outb(f, 0x1F2, 4);
    outb(f, 0x1F7, 0xC6);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    outb(f, 0x1F7, 0xEC);
    read_words(f, 0x1F0, id, 512);
    assert_int_equal(word(id, 59), 0x0104);

    f->rises[0] = 0;
    lba28(f, 0x1F0, 0, 20, 10);
    outb(f, 0x1F7, 0xC4);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    assert_int_equal(f->rises[0], 1);
    read_words(f, 0x1F0, buf, 4 * 512);
    assert_int_equal(f->rises[0], 2);               /* one interrupt per 4-sector block */
    assert_int_equal(inb(f, 0x1F7), 0x58);
    read_words(f, 0x1F0, buf + 4 * 512, 4 * 512);
    assert_int_equal(f->rises[0], 3);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    uint8_t last[1024];
    read_words(f, 0x1F0, last, 1024);               /* short last block */
    assert_int_equal(f->rises[0], 3);               /* none after the last block */
    assert_int_equal(inb(f, 0x1F7), 0x50);
    for (int i = 0; i < 8 * 512; i++)
        assert_int_equal(buf[i], pattern(20 * 512 + i));
    for (int i = 0; i < 1024; i++)
        assert_int_equal(last[i], pattern(28 * 512 + i));

    /* WRITE MULTIPLE: interrupt per block. */
    f->rises[0] = 0;
    lba28(f, 0x1F0, 0, 200, 8);
    outb(f, 0x1F7, 0xC5);
    for (int i = 0; i < 4 * 256; i++)
        outw(f, 0x1F0, 0xBEEF);
    assert_int_equal(f->rises[0], 1);
    assert_int_equal(inb(f, 0x1F7), 0x58);          /* clears INTRQ */
    for (int i = 0; i < 4 * 256; i++)
        outw(f, 0x1F0, 0xBEEF);
    assert_int_equal(f->rises[0], 2);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    file_read(f->disk_path, 200 * 512, buf, 8 * 512);
    for (int i = 0; i < 8 * 512; i += 2)
        assert_int_equal(word(buf, i / 2), 0xBEEF);
}

static void test_lba48(void **state)
{
    Fx *f = *state;
    uint8_t buf[512];
    lba48(f, DISK_SECTORS - 1, 1);
    outb(f, 0x1F7, 0x24);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    read_words(f, 0x1F0, buf, 512);
    for (int i = 0; i < 512; i++)
        assert_int_equal(buf[i], pattern((uint64_t)(DISK_SECTORS - 1) * 512 + i));
    /* A high HOB byte puts the address past the end: IDNF. */
    lba48(f, (uint64_t)1 << 32, 1);
    outb(f, 0x1F7, 0x24);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_true(inb(f, 0x1F1) & 0x10);
    /* READ NATIVE MAX EXT: total-1 with the high bytes behind HOB. */
    outb(f, 0x1F6, 0x40);
    outb(f, 0x1F7, 0x27);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(inb(f, 0x1F3), (DISK_SECTORS - 1) & 0xFF);
    assert_int_equal(inb(f, 0x1F4), ((DISK_SECTORS - 1) >> 8) & 0xFF);
    outb(f, 0x3F6, 0x80);
    assert_int_equal(inb(f, 0x1F3), 0);
    assert_int_equal(inb(f, 0x1F4), 0);
    outb(f, 0x3F6, 0x00);
    /* READ NATIVE MAX (LBA28). */
    outb(f, 0x1F6, 0xE0);
    outb(f, 0x1F7, 0xF8);
    assert_int_equal(inb(f, 0x1F4), ((DISK_SECTORS - 1) >> 8) & 0xFF);
    /* WRITE SECTORS EXT with a 16-bit count of 2. */
    lba48(f, 300, 2);
    outb(f, 0x1F7, 0x34);
    for (int i = 0; i < 512; i++)
        outw(f, 0x1F0, (uint32_t)i);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    file_read(f->disk_path, 301 * 512, buf, 512);
    assert_int_equal(word(buf, 0), 256);
    assert_int_equal(word(buf, 255), 511);
}

/* ---- DMA ----------------------------------------------------------------- */

static void put_prd(Fx *f, uint32_t at, uint32_t addr, uint32_t count, bool eot)
{
    uint8_t e[8];
    uint32_t hi = (count & 0xFFFF) | (eot ? 0x80000000u : 0);
    memcpy(e, &addr, 4);
    memcpy(e + 4, &hi, 4);
    phys_write_buf(&f->pm, at, e, 8);
}

static void test_dma_read_write(void **state)
{
    Fx *f = *state;
    /* READ DMA of 4 sectors split over two PRDs. */
    memset(f->pm.ram + 0x10000, 0, 0x1000);
    put_prd(f, 0x1000, 0x10000, 1024, false);
    put_prd(f, 0x1008, 0x10400, 1024, true);
    outl(f, BMBA + 4, 0x1000);
    outb(f, BMBA + 2, 0x06);
    f->rises[0] = 0;
    lba28(f, 0x1F0, 0, 40, 4);
    outb(f, 0x1F7, 0xC8);
    assert_int_equal(f->rises[0], 0);
    assert_true(inb(f, 0x3F6) & 0x80);             /* BSY until the engine runs */
    outb(f, BMBA, 0x09);                            /* start, write to memory */
    assert_int_equal(f->rises[0], 1);
    assert_int_equal(inb(f, BMBA + 2) & 0x07, 0x04); /* INT, not active (EOT used up) */
    assert_int_equal(inb(f, 0x1F7), 0x50);
    outb(f, BMBA, 0x08);
    for (int i = 0; i < 2048; i++)
        assert_int_equal(f->pm.ram[0x10000 + i], pattern(40 * 512 + i));
    outb(f, BMBA + 2, 0x04);                        /* W1C */
    assert_int_equal(inb(f, BMBA + 2) & 0x04, 0);

    /* WRITE DMA EXT: start bit first, command second. */
    for (int i = 0; i < 1024; i++)
        f->pm.ram[0x20000 + i] = (uint8_t)(0x33 + i);
    put_prd(f, 0x1000, 0x20000, 1024, true);
    outb(f, BMBA, 0x01);
    lba48(f, 500, 2);
    outb(f, 0x1F7, 0x35);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(inb(f, BMBA + 2) & 0x07, 0x04);
    outb(f, BMBA, 0x00);
    uint8_t back[1024];
    file_read(f->disk_path, 500 * 512, back, 1024);
    assert_memory_equal(back, f->pm.ram + 0x20000, 1024);

    /* PRD larger than the transfer: Active stays set, INT set. */
    put_prd(f, 0x1000, 0x30000, 4096, true);
    outb(f, BMBA + 2, 0x06);
    lba28(f, 0x1F0, 0, 0, 1);
    outb(f, 0x1F7, 0xC8);
    outb(f, BMBA, 0x09);
    assert_int_equal(inb(f, BMBA + 2) & 0x07, 0x05);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    outb(f, BMBA, 0x08);
    assert_int_equal(inb(f, BMBA + 2) & 0x01, 0);

    /* Byte count 0 means 64 KiB: 128 sectors through one PRD. */
    put_prd(f, 0x1000, 0x40000, 0, true);
    outb(f, BMBA + 2, 0x06);
    lba28(f, 0x1F0, 0, 1000, 128);
    outb(f, 0x1F7, 0xC8);
    outb(f, BMBA, 0x09);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(inb(f, BMBA + 2) & 0x07, 0x04);
    outb(f, BMBA, 0x08);
    for (int i = 0; i < 65536; i += 511)
        assert_int_equal(f->pm.ram[0x40000 + i], pattern(1000 * 512 + i));
}

static void dma_expect_error(Fx *f, bool bm_error)
{
    outb(f, BMBA + 2, 0x06);
    lba28(f, 0x1F0, 0, 0, 8);
    outb(f, 0x1F7, 0xC8);
    outb(f, BMBA, 0x09);
    assert_int_equal(inb(f, 0x1F7) & 0x89, 0x01);   /* ERR, not busy, no DRQ */
    uint8_t bs = (uint8_t)inb(f, BMBA + 2);
    assert_int_equal(bs & 0x01, 0);                 /* not active */
    assert_int_equal(!!(bs & 0x02), bm_error);
    assert_true(bs & 0x04);
    outb(f, BMBA, 0x08);
}

static void test_dma_hostile(void **state)
{
    Fx *f = *state;
    /* Table outside RAM. */
    outl(f, BMBA + 4, 0xF0000000u);
    dma_expect_error(f, true);
    /* Table in RAM, buffer outside RAM. */
    put_prd(f, 0x1000, 0xFFFF0000u, 4096, true);
    outl(f, BMBA + 4, 0x1000);
    dma_expect_error(f, true);
    /* Buffer straddling the end of RAM. */
    put_prd(f, 0x1000, RAM - 1024, 4096, true);
    dma_expect_error(f, true);
    /* Table too short (EOT before the data ends). */
    put_prd(f, 0x1000, 0x10000, 512, true);
    dma_expect_error(f, false);
    /* No EOT anywhere: the table runs into the next entry outside RAM
     * (RAM ends 64 KiB aligned, so the window check stops it first). */
    put_prd(f, RAM - 16, 0x10000, 512, false);
    put_prd(f, RAM - 8, 0x10200, 512, false);
    outl(f, BMBA + 4, RAM - 16);
    dma_expect_error(f, false);
    /* An entry in RAM followed by one outside RAM, mid-window: BM error. */
    phys_unmap(&f->pm, 0x71000, 0x1000);
    put_prd(f, 0x70FF8, 0x10000, 512, false);
    outl(f, BMBA + 4, 0x70FF8);
    dma_expect_error(f, true);
    /* No EOT, table at the end of a 64 KiB window: stops there. */
    for (uint32_t a = 0x5FFF0; a < 0x60000; a += 8)
        put_prd(f, a, 0x10000, 512, false);
    outl(f, BMBA + 4, 0x5FFF0);
    dma_expect_error(f, false);
    /* The drive still works afterwards. */
    outb(f, 0x1F7, 0xEC);
    assert_int_equal(inb(f, 0x1F7), 0x58);
}

/* ---- reset, absent devices, nIEN, errors --------------------------------- */

static void test_reset_signatures(void **state)
{
    Fx *f = *state;
    /* Primary: disk master, CD slave.  SeaBIOS: SRST 0x0E then 0x0A. */
    outb(f, 0x1F2, 0x55);
    outb(f, 0x1F3, 0xAA);
    assert_int_equal(inb(f, 0x1F2), 0x55);
    assert_int_equal(inb(f, 0x1F3), 0xAA);
    outb(f, 0x3F6, 0x0E);
    assert_true(inb(f, 0x3F6) & 0x80);
    outb(f, 0x3F6, 0x0A);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(inb(f, 0x1F1), 0x01);
    assert_int_equal(inb(f, 0x1F2), 1);
    assert_int_equal(inb(f, 0x1F3), 1);
    assert_int_equal(inb(f, 0x1F4), 0);
    assert_int_equal(inb(f, 0x1F5), 0);
    outb(f, 0x1F6, 0xB0);
    assert_int_equal(inb(f, 0x1F2), 1);
    assert_int_equal(inb(f, 0x1F3), 1);
    assert_int_equal(inb(f, 0x1F4), 0x14);
    assert_int_equal(inb(f, 0x1F5), 0xEB);
    assert_int_equal(inb(f, 0x1F7), 0x00);
    /* IDENTIFY DEVICE on the CD aborts and leaves the signature. */
    outb(f, 0x1F7, 0xEC);
    assert_int_equal(inb(f, 0x1F7) & 0x01, 0x01);
    assert_int_equal(inb(f, 0x1F4), 0x14);
    assert_int_equal(inb(f, 0x1F5), 0xEB);
    /* IDENTIFY PACKET DEVICE works. */
    outb(f, 0x1F7, 0xA1);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    uint8_t id[512];
    read_words(f, 0x1F0, id, 512);
    assert_int_equal(word(id, 0), 0x85C0);
    /* EXECUTE DEVICE DIAGNOSTIC. */
    outb(f, 0x1F6, 0xA0);
    outb(f, 0x1F7, 0x90);
    assert_int_equal(inb(f, 0x1F1), 0x01);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    /* Secondary channel is empty: floating bus. */
    assert_int_equal(inb(f, 0x177), 0xFF);
    assert_int_equal(inb(f, 0x376), 0xFF);
    assert_int_equal(inb(f, 0x172), 0xFF);
    outb(f, 0x177, 0xEC);
    assert_int_equal(f->level[1], 0);
}

static void test_absent_slave_nien_errors(void **state)
{
    Fx *f = *state;
    /* Secondary: CD master only; the absent slave reads status 0. */
    outb(f, 0x176, 0xB0);
    assert_int_equal(inb(f, 0x177), 0x00);
    assert_int_equal(inb(f, 0x376), 0x00);
    outb(f, 0x177, 0xEC);                           /* ignored */
    assert_int_equal(f->level[1], 0);
    outb(f, 0x176, 0xA0);
    assert_int_equal(inb(f, 0x174), 0x14);
    assert_int_equal(inb(f, 0x175), 0xEB);

    /* nIEN masks INTRQ; clearing it shows the pending interrupt. */
    outb(f, 0x3F6, 0x02);
    outb(f, 0x1F6, 0xA0);
    outb(f, 0x1F7, 0xE5);                           /* CHECK POWER MODE */
    assert_int_equal(f->level[0], 0);
    assert_int_equal(inb(f, 0x1F2), 0xFF);
    outb(f, 0x3F6, 0x00);
    assert_int_equal(f->level[0], 1);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    assert_int_equal(f->level[0], 0);

    /* Backend I/O error: ERR + UNC with the failing LBA. */
    blockdev_inject_error(f->disk, 77);
    lba28(f, 0x1F0, 0, 77, 1);
    outb(f, 0x1F7, 0x20);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_int_equal(inb(f, 0x1F1), 0x40);
    assert_int_equal(inb(f, 0x1F3), 77);
    /* ... also through DMA. */
    put_prd(f, 0x1000, 0x10000, 512, true);
    outl(f, BMBA + 4, 0x1000);
    lba28(f, 0x1F0, 0, 77, 1);
    outb(f, 0x1F7, 0xC8);
    outb(f, BMBA, 0x09);
    assert_int_equal(inb(f, 0x1F7), 0x51);
    assert_int_equal(inb(f, 0x1F1), 0x40);
    outb(f, BMBA, 0x08);
    blockdev_inject_error(f->disk, UINT64_MAX);

    /* ide_attach errors; a read-only disk aborts writes. */
    char err[256];
    assert_int_equal(ide_attach(f->ide, 0, 0, f->disk, false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(ide_attach(f->ide, 0, 1, NULL, false, err, sizeof(err)), -1);
    assert_int_equal(ide_attach(f->ide, 2, 0, f->disk, false, err, sizeof(err)), -1);
    BlockDev *ro = blockdev_open(f->disk_path, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(ide_attach(f->ide, 1, 1, ro, false, err, sizeof(err)), 0);
    lba28(f, 0x170, 1, 3, 1);
    outb(f, 0x177, 0x30);
    assert_int_equal(inb(f, 0x177), 0x51);
    assert_int_equal(inb(f, 0x171), 0x04);
    outb(f, 0x177, 0x20);
    assert_int_equal(inb(f, 0x177), 0x58);
    uint8_t sec[512];
    read_words(f, 0x170, sec, 512);
    assert_int_equal(sec[0], pattern(3 * 512));
    ide_free(f->ide);                               /* before closing its backend */
    f->ide = NULL;
    blockdev_close(ro);
}

static void test_chs_init_params(void **state)
{
    Fx *f = *state;
    /* INITIALIZE DEVICE PARAMETERS: 4 heads x 17 sectors. */
    outb(f, 0x1F6, 0xA3);
    outb(f, 0x1F2, 17);
    outb(f, 0x1F7, 0x91);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    outb(f, 0x1F6, 0xA0);
    outb(f, 0x1F7, 0xEC);
    uint8_t id[512];
    read_words(f, 0x1F0, id, 512);
    assert_int_equal(word(id, 55), 4);
    assert_int_equal(word(id, 56), 17);
    assert_int_equal(word(id, 54), DISK_SECTORS / 68);
}

/* ---- ATAPI ---------------------------------------------------------------- */

static void packet(Fx *f, const uint8_t *cdb, uint16_t limit, bool dma)
{
    outb(f, 0x176, 0xA0);
    outb(f, 0x171, dma ? 1 : 0);
    outb(f, 0x174, limit & 0xFF);
    outb(f, 0x175, limit >> 8);
    outb(f, 0x177, 0xA0);
    assert_int_equal(inb(f, 0x376) & 0x89, 0x08);   /* DRQ for the packet */
    assert_int_equal(inb(f, 0x172) & 3, 1);         /* CoD */
    for (int i = 0; i < 12; i += 2)
        outw(f, 0x170, cdb[i] | cdb[i + 1] << 8);
}

/* Read a PIO data-in response; returns the bytes read. */
static int atapi_read(Fx *f, uint8_t *buf, int cap, int *chunks)
{
    int n = 0;
    *chunks = 0;
    while ((inb(f, 0x177) & 0x88) == 0x08) {
        assert_int_equal(inb(f, 0x172) & 3, 2);     /* IO, data */
        int cnt = (int)(inb(f, 0x174) | inb(f, 0x175) << 8);
        (*chunks)++;
        for (int i = 0; i < cnt; i += 2) {
            uint32_t w = inw(f, 0x170);
            if (n + 1 < cap) {
                buf[n] = (uint8_t)w;
                buf[n + 1] = (uint8_t)(w >> 8);
            }
            n += 2;
        }
    }
    return n;
}

static void atapi_expect_done(Fx *f)
{
    assert_int_equal(inb(f, 0x177), 0x50);
    assert_int_equal(inb(f, 0x172) & 3, 3);
}

static void test_atapi(void **state)
{
    Fx *f = *state;
    uint8_t buf[16384];
    int chunks;

    uint8_t inq[12] = { 0x12, 0, 0, 0, 96, 0 };
    f->rises[1] = 0;
    packet(f, inq, 0x1000, false);
    assert_int_equal(f->rises[1], 1);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 36);
    assert_int_equal(buf[0], 0x05);
    assert_int_equal(buf[1], 0x80);
    assert_memory_equal(buf + 8, "VESSEL  ", 8);
    assert_int_equal(f->rises[1], 2);
    atapi_expect_done(f);

    uint8_t tur[12] = { 0 };
    packet(f, tur, 0, false);
    atapi_expect_done(f);

    uint8_t cap[12] = { 0x25 };
    packet(f, cap, 8, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 8);
    assert_memory_equal(buf, "\x00\x00\x00\x07\x00\x00\x08\x00", 8);
    atapi_expect_done(f);

    /* READ(10) of 3 sectors at LBA 2 with a 2048-byte limit: 3 DRQ blocks. */
    uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 2, 0, 0, 3 };
    packet(f, rd, 2048, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 3 * 2048);
    assert_int_equal(chunks, 3);
    for (int i = 0; i < 3 * 2048; i++)
        assert_int_equal(buf[i], pattern(2 * 2048 + i));
    atapi_expect_done(f);

    /* Odd limit is rounded down to even. */
    rd[8] = 1;
    packet(f, rd, 1001, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 2048);   /* 1000+1000+48 */
    assert_int_equal(chunks, 3);

    /* Out of range: ILLEGAL REQUEST / LBA out of range. */
    uint8_t bad[12] = { 0x28, 0, 0, 0, 0, 7, 0, 0, 2 };
    packet(f, bad, 2048, false);
    assert_int_equal(inb(f, 0x177) & 0x01, 0x01);
    assert_int_equal(inb(f, 0x171) >> 4, 0x05);
    uint8_t rs[12] = { 0x03, 0, 0, 0, 18 };
    packet(f, rs, 18, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 18);
    assert_int_equal(buf[0], 0x70);
    assert_int_equal(buf[2], 0x05);
    assert_int_equal(buf[12], 0x21);

    /* READ TOC format 0, LBA then MSF. */
    uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100 };
    packet(f, toc, 0xFFFE, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 20);
    assert_int_equal(buf[1], 18);
    assert_int_equal(buf[2], 1);
    assert_int_equal(buf[3], 1);
    assert_int_equal(buf[6], 1);                    /* track 1 */
    assert_int_equal(buf[5], 0x14);                 /* data track */
    assert_int_equal(buf[14], 0xAA);                /* lead-out */
    assert_memory_equal(buf + 16, "\x00\x00\x00\x08", 4);
    toc[1] = 2;
    packet(f, toc, 0xFFFE, false);
    atapi_read(f, buf, sizeof(buf), &chunks);
    assert_memory_equal(buf + 8, "\x00\x00\x02\x00", 4);      /* 00:02:00 */
    assert_memory_equal(buf + 16, "\x00\x00\x02\x08", 4);     /* 8 + 150 frames */

    /* MODE SENSE(10) page 2A. */
    uint8_t ms[12] = { 0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 100 };
    packet(f, ms, 0xFFFE, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 28);
    assert_int_equal(buf[8], 0x2A);
    assert_int_equal(buf[9], 0x12);
    ms[2] = 0x05;
    packet(f, ms, 0xFFFE, false);
    assert_int_equal(inb(f, 0x171) >> 4, 0x05);

    /* Unknown opcode. */
    uint8_t unk[12] = { 0xFF };
    packet(f, unk, 0, false);
    assert_int_equal(inb(f, 0x177) & 1, 1);

    /* READ(10) through DMA. */
    put_prd(f, 0x1000, 0x50000, 4096, true);
    outl(f, BMBA + 8 + 4, 0x1000);
    outb(f, BMBA + 8 + 2, 0x06);
    rd[5] = 5;
    rd[8] = 2;
    f->rises[1] = 0;
    packet(f, rd, 0, true);
    outb(f, BMBA + 8, 0x09);
    assert_int_equal(f->rises[1], 1);
    atapi_expect_done(f);
    assert_int_equal(inb(f, BMBA + 8 + 2) & 7, 4);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(f->pm.ram[0x50000 + i], pattern(5 * 2048 + i));

    /* Medium change: UNIT ATTENTION once, then media event. */
    assert_int_equal(ide_cd_change(f->ide, 1, 0, f->cd), 0);
    packet(f, tur, 0, false);
    assert_int_equal(inb(f, 0x171) >> 4, 0x06);
    packet(f, rs, 18, false);
    atapi_read(f, buf, sizeof(buf), &chunks);
    assert_int_equal(buf[2], 0x06);
    assert_int_equal(buf[12], 0x28);
    packet(f, tur, 0, false);
    atapi_expect_done(f);
    uint8_t gesn[12] = { 0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8 };
    packet(f, gesn, 8, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 8);
    assert_int_equal(buf[4], 2);
    assert_int_equal(buf[5], 2);

    /* Lock, eject refused; unlock, eject -> NOT READY. */
    uint8_t lock[12] = { 0x1E, 0, 0, 0, 1 };
    uint8_t eject[12] = { 0x1B, 0, 0, 0, 2 };
    packet(f, lock, 0, false);
    atapi_expect_done(f);
    packet(f, eject, 0, false);
    assert_int_equal(inb(f, 0x171) >> 4, 0x05);
    lock[4] = 0;
    packet(f, lock, 0, false);
    packet(f, eject, 0, false);
    atapi_expect_done(f);
    packet(f, tur, 0, false);
    assert_int_equal(inb(f, 0x171) >> 4, 0x02);
    /* Empty drive. */
    assert_int_equal(ide_cd_change(f->ide, 1, 0, NULL), 0);
    packet(f, tur, 0, false);                       /* unit attention */
    packet(f, cap, 8, false);
    assert_int_equal(inb(f, 0x171) >> 4, 0x02);

    /* GET CONFIGURATION. */
    uint8_t gc[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 16 };
    packet(f, gc, 16, false);
    assert_int_equal(atapi_read(f, buf, sizeof(buf), &chunks), 16);
}

/* ---- robustness and snapshots -------------------------------------------- */

static void test_random_writes(void **state)
{
    Fx *f = *state;
    static const uint16_t ports[] = { 0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7,
                                      0x3F6, 0x170, 0x171, 0x172, 0x173, 0x174, 0x175,
                                      0x176, 0x177, 0x376, BMBA, BMBA + 2, BMBA + 4,
                                      BMBA + 8, BMBA + 10, BMBA + 12 };
    srand(1234);
    blockdev_close(f->cd);
    f->cd = NULL;
    ide_cd_change(f->ide, 1, 0, NULL);
    /* Make it writable-safe: snapshot overlay on the disk. */
    for (int i = 0; i < 200000; i++) {
        uint16_t p = ports[rand() % (int)(sizeof(ports) / sizeof(ports[0]))];
        int sz = 1 << (rand() % 3);
        uint32_t v = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
        if (rand() & 1)
            iobus_write(&f->io, p, v, (unsigned)sz);
        else
            (void)iobus_read(&f->io, p, (unsigned)sz);
    }
    ide_reset(f->ide);
    outb(f, 0x1F6, 0xA0);
    outb(f, 0x1F7, 0xEC);
    assert_int_equal(inb(f, 0x1F7), 0x58);
}

static void test_state_roundtrip(void **state)
{
    Fx *f = *state;
    char err[256];
    assert_int_equal(state_check(&ide_state, sizeof(IdeController), err, sizeof(err)), 0);
    /* Mid-transfer: multiple mode 2, 6 sectors, one sector read. */
    outb(f, 0x1F2, 2);
    outb(f, 0x1F7, 0xC6);
    lba28(f, 0x1F0, 0, 60, 6);
    outb(f, 0x1F7, 0xC4);
    uint8_t buf[6 * 512];
    read_words(f, 0x1F0, buf, 512);
    outl(f, BMBA + 4, 0xABC0);

    long n = state_save(&ide_state, f->ide, NULL, 0);
    assert_true(n > 0);
    uint8_t *snap = malloc((size_t)n);
    assert_int_equal(state_save(&ide_state, f->ide, snap, (size_t)n), n);
    ide_reset(f->ide);
    assert_int_equal(inb(f, 0x1F7), 0x50);        /* transfer gone */
    assert_int_equal(state_load(&ide_state, f->ide, ide_state.version, snap, (size_t)n, err,
                                sizeof(err)), 0);
    assert_int_equal(inl(f, BMBA + 4), 0xABC0);
    assert_int_equal(inb(f, 0x1F7), 0x58);
    read_words(f, 0x1F0, buf + 512, 5 * 512);
    assert_int_equal(inb(f, 0x1F7), 0x50);
    for (int i = 0; i < 6 * 512; i++)
        assert_int_equal(buf[i], pattern(60 * 512 + i));

    /* ATAPI READ(10) interrupted mid-chunk survives a round trip too. */
    uint8_t rd[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 2 };
    packet(f, rd, 2048, false);
    assert_int_equal(inb(f, 0x177), 0x58);
    uint8_t cd[4096];
    read_words(f, 0x170, cd, 1000);
    assert_int_equal(state_save(&ide_state, f->ide, snap, (size_t)n), n);
    ide_reset(f->ide);
    assert_int_equal(state_load(&ide_state, f->ide, ide_state.version, snap, (size_t)n, err,
                                sizeof(err)), 0);
    int chunks;
    read_words(f, 0x170, cd + 1000, 1048);
    assert_int_equal(atapi_read(f, cd + 2048, 2048, &chunks), 2048);
    assert_int_equal(chunks, 1);
    atapi_expect_done(f);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(cd[i], pattern(2048 + i));

    /* A corrupt position is rejected. */
    IdeController *tmp = malloc(sizeof(IdeController));
    memcpy(tmp, f->ide, sizeof(*tmp));
    tmp->ch[0].io_pos = 99999;
    long m = state_save(&ide_state, tmp, snap, (size_t)n);
    assert_int_equal(m, n);
    free(tmp);
    assert_int_equal(state_load(&ide_state, f->ide, ide_state.version, snap, (size_t)n, err,
                                sizeof(err)), -1);
    free(snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pio_read_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiple_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lba48, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_read_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_signatures, setup_slave, teardown),
        cmocka_unit_test_setup_teardown(test_absent_slave_nien_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chs_init_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atapi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
