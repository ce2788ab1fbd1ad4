/*
 * test_pci.c - PCI configuration mechanism #1, generic function model (BARs,
 * INTx), i440FX PAM/SMRAM and PIIX3 PIRQ routing, 0xCF9 and port 0x92.
 * Everything is driven through port I/O on a test IoBus, with memory effects
 * checked through a real PhysMem.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/i440fx.h"
#include "devices/pci.h"
#include "devices/piix3.h"
#include "devices/state.h"
#include "mem/phys.h"

/* ---- fixture ---------------------------------------------------------- */

typedef struct {
    int level[16];
    int rises[16];
    int calls[16];
} IrqRec;

static void rec_set(void *opaque, int n, int level)
{
    IrqRec *r = opaque;
    if (n < 0 || n >= 16)
        return;
    if (level && !r->level[n])
        r->rises[n]++;
    r->level[n] = level;
    r->calls[n]++;
}

/* A generic function with BARs, embedded as device models do. */
typedef struct {
    PciDevice pci;
    int64_t map_addr[PCI_NUM_REGIONS];
    int map_calls[PCI_NUM_REGIONS];
} TestDev;

static void testdev_map(PciDevice *dev, int bar, int64_t addr)
{
    TestDev *t = dev->opaque;
    t->map_addr[bar] = addr;
    t->map_calls[bar]++;
}

static const StateField testdev_fields[] = {
    ST_BYTES(pci.config, TestDev),
    ST_END,
};

static int testdev_post_load(void *opaque, char *err, size_t errlen)
{
    TestDev *t = opaque;
    pci_device_post_load(&t->pci);
    return 0;
}

static const StateDesc testdev_state = {
    "testdev", 1, 1, testdev_fields, testdev_post_load, NULL,
};

typedef struct {
    IoBus io;
    PhysMem pm;
    uint8_t bios[128 * 1024];
    PciBus *bus;
    I440fx *nb;
    Piix3 *sb;
    IrqRec isa;
    IrqRec a20;
    int resets;
} Fx;

static void on_reset(void *opaque)
{
    ((Fx *)opaque)->resets++;
}

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    iobus_init(&f->io);
    assert_int_equal(phys_init(&f->pm, 32u << 20), 0);
    for (size_t i = 0; i < sizeof(f->bios); i++)
        f->bios[i] = (uint8_t)(i * 7 + 3);
    f->bus = pci_bus_new(&f->io);
    assert_non_null(f->bus);
    f->nb = i440fx_new(f->bus, &f->pm, f->bios);
    assert_non_null(f->nb);
    Irq isa[16];
    for (int i = 0; i < 16; i++)
        isa[i] = (Irq){ rec_set, &f->isa, i };
    f->sb = piix3_new(f->bus, &f->io, isa, (Irq){ rec_set, &f->a20, 0 }, on_reset, f);
    assert_non_null(f->sb);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    piix3_free(f->sb);
    i440fx_free(f->nb);
    pci_bus_free(f->bus);
    phys_free(&f->pm);
    free(f);
    return 0;
}

static void outb(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 1); }
static void outw(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 2); }
static void outl(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 4); }
static uint32_t inb(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 1); }
static uint32_t inw(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 2); }
static uint32_t inl(Fx *f, uint16_t p) { return iobus_read(&f->io, p, 4); }

static uint32_t cfg_addr(int devfn, int reg)
{
    return 0x80000000u | (uint32_t)devfn << 8 | (uint32_t)(reg & 0xFC);
}

/* Config cycle as firmware does it: latch with outl, data at 0xCFC + (reg & 3). */
static uint32_t cfg_read(Fx *f, int devfn, int reg, int size)
{
    outl(f, 0xCF8, cfg_addr(devfn, reg));
    uint16_t port = (uint16_t)(0xCFC + (reg & 3));
    return size == 1 ? inb(f, port) : size == 2 ? inw(f, port) : inl(f, port);
}

static void cfg_write(Fx *f, int devfn, int reg, uint32_t v, int size)
{
    outl(f, 0xCF8, cfg_addr(devfn, reg));
    uint16_t port = (uint16_t)(0xCFC + (reg & 3));
    if (size == 1)
        outb(f, port, v);
    else if (size == 2)
        outw(f, port, v);
    else
        outl(f, port, v);
}

static TestDev *testdev_new(Fx *f, int devfn, uint8_t pin)
{
    TestDev *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    assert_int_equal(pci_device_init(&t->pci, f->bus, devfn, 0x8086, 0x100E, 3, 0x020000, 0), 0);
    t->pci.opaque = t;
    t->pci.config[PCI_INTERRUPT_PIN] = pin;
    for (int i = 0; i < PCI_NUM_REGIONS; i++)
        t->map_addr[i] = PCI_BAR_UNMAPPED;
    return t;
}

static void testdev_free(TestDev *t)
{
    pci_device_free(&t->pci);
    free(t);
}

/* ---- configuration mechanism #1 ---------------------------------------- */

static void test_confadd_latch(void **state)
{
    Fx *f = *state;
    /* SeaBIOS/Linux probe: write 0x80000000, read it back. */
    outl(f, 0xCF8, 0x80000000);
    assert_int_equal(inl(f, 0xCF8), 0x80000000);
    /* Byte and word writes do not latch CONFADD (440FX 3.1.1). */
    outb(f, 0xCF8, 0x00);
    outw(f, 0xCF8, 0x1234);
    outb(f, 0xCFB, 0x01);
    assert_int_equal(inl(f, 0xCF8), 0x80000000);
    /* Sub-dword reads of 0xCF8 do not return CONFADD either. */
    assert_int_equal(inb(f, 0xCF8), 0xFF);
    assert_int_equal(inw(f, 0xCFA), 0xFFFF);
    /* Reserved bits 30:24 and 1:0 read 0. */
    outl(f, 0xCF8, 0xFFFFFFFF);
    assert_int_equal(inl(f, 0xCF8), 0x80FFFFFC);
    outl(f, 0xCF8, 0);
    assert_int_equal(inl(f, 0xCF8), 0);
    /* Enable bit clear: data port reads all ones. */
    assert_int_equal(inl(f, 0xCFC), 0xFFFFFFFF);
    assert_int_equal(inb(f, 0xCFD), 0xFF);
}

static void test_conf1_identity_and_sizes(void **state)
{
    Fx *f = *state;
    /* 00:00.0 i440FX */
    assert_int_equal(cfg_read(f, 0, 0x00, 4), 0x12378086);
    assert_int_equal(cfg_read(f, 0, 0x00, 2), 0x8086);
    assert_int_equal(cfg_read(f, 0, 0x02, 2), 0x1237);
    assert_int_equal(cfg_read(f, 0, 0x01, 1), 0x80);
    assert_int_equal(cfg_read(f, 0, 0x03, 1), 0x12);
    assert_int_equal(cfg_read(f, 0, 0x08, 4), 0x06000002);   /* class 0600, rev 2 */
    assert_int_equal(cfg_read(f, 0, 0x0E, 1), 0x00);
    assert_int_equal(cfg_read(f, 0, 0x2C, 4), 0x11001AF4);
    /* 00:01.0 PIIX3 */
    assert_int_equal(cfg_read(f, PCI_DEVFN(1, 0), 0, 4), 0x70008086);
    assert_int_equal(cfg_read(f, PCI_DEVFN(1, 0), 0x0A, 2), 0x0601);
    assert_int_equal(cfg_read(f, PCI_DEVFN(1, 0), 0x0E, 1), 0x80);
    for (int r = 0; r < 4; r++)
        assert_int_equal(cfg_read(f, PCI_DEVFN(1, 0), 0x60 + r, 1), 0x80);

    /* Every offset, every width: the port path agrees with the bytes. */
    for (int devfn = 0; devfn < 16; devfn++) {
        for (int reg = 0; reg < 256; reg++) {
            uint32_t b[4];
            for (int i = 0; i < 4; i++)
                b[i] = reg + i < 256 ? pci_config_read(f->bus, devfn, reg + i, 1) : 0xFF;
            /* Within the dword: what 0xCFC+n can address. */
            int n = reg & 3;
            assert_int_equal(cfg_read(f, devfn, reg, 1), b[0]);
            if (n <= 2)
                assert_int_equal(cfg_read(f, devfn, reg, 2), b[0] | b[1] << 8);
            if (n == 0)
                assert_int_equal(cfg_read(f, devfn, reg, 4),
                                 b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24);
            /* The direct API at any (even unaligned, straddling) offset. */
            assert_int_equal(pci_config_read(f->bus, devfn, reg, 2), b[0] | b[1] << 8);
            assert_int_equal(pci_config_read(f->bus, devfn, reg, 4),
                             b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24);
        }
    }
    /* Accesses running past 0xCFF are safe: bytes beyond read 0xFF. */
    outl(f, 0xCF8, cfg_addr(0, 0));
    assert_int_equal(inl(f, 0xCFE), 0xFFFF1237);
    assert_int_equal(inw(f, 0xCFF), 0xFF12);
    /* Out-of-range API arguments. */
    assert_int_equal(pci_config_read(f->bus, 300, 0, 4), 0xFFFFFFFF);
    assert_int_equal(pci_config_read(f->bus, 0, 256, 2), 0xFFFF);
    assert_int_equal(pci_config_read(f->bus, 0, -1, 1), 0xFF);
    pci_config_write(f->bus, -5, 0, 0, 4);
    pci_config_write(f->bus, 0, 1000, 0, 4);
}

static void test_absent_functions(void **state)
{
    Fx *f = *state;
    for (int devfn = 0; devfn < 256; devfn++) {
        if (devfn == 0 || devfn == PCI_DEVFN(1, 0))
            continue;
        assert_int_equal(cfg_read(f, devfn, 0, 2), 0xFFFF);
        assert_int_equal(cfg_read(f, devfn, 0, 4), 0xFFFFFFFF);
    }
    /* Only bus 0 exists. */
    outl(f, 0xCF8, 0x80010000);
    assert_int_equal(inl(f, 0xCFC), 0xFFFFFFFF);
    /* Writes to absent functions are dropped without harm. */
    cfg_write(f, PCI_DEVFN(7, 3), 0x04, 0xFFFF, 2);
    assert_int_equal(cfg_read(f, PCI_DEVFN(7, 3), 0x04, 2), 0xFFFF);
}

static void test_readonly_and_masks(void **state)
{
    Fx *f = *state;
    /* Vendor/device/class/header are read-only. */
    cfg_write(f, 0, 0x00, 0xDEADBEEF, 4);
    cfg_write(f, 0, 0x08, 0xFFFFFFFF, 4);
    cfg_write(f, 0, 0x0E, 0xFF, 1);
    assert_int_equal(cfg_read(f, 0, 0x00, 4), 0x12378086);
    assert_int_equal(cfg_read(f, 0, 0x08, 4), 0x06000002);
    assert_int_equal(cfg_read(f, 0, 0x0E, 1), 0x00);
    /* Interrupt line is plain read/write (SeaBIOS writes 0x3C). */
    cfg_write(f, PCI_DEVFN(1, 0), 0x3C, 0x0B, 1);
    assert_int_equal(cfg_read(f, PCI_DEVFN(1, 0), 0x3C, 1), 0x0B);
    /* STATUS error bits are write-1-to-clear. */
    TestDev *t = testdev_new(f, PCI_DEVFN(3, 0), 1);
    pci_set_word(t->pci.config + PCI_STATUS, 0x2200);  /* received master abort */
    cfg_write(f, PCI_DEVFN(3, 0), 0x06, 0x0200, 2);      /* DEVSEL bits are RO */
    assert_int_equal(cfg_read(f, PCI_DEVFN(3, 0), 0x06, 2), 0x2200);
    cfg_write(f, PCI_DEVFN(3, 0), 0x06, 0x2000, 2);
    assert_int_equal(cfg_read(f, PCI_DEVFN(3, 0), 0x06, 2), 0x0200);
    testdev_free(t);
    assert_int_equal(cfg_read(f, PCI_DEVFN(3, 0), 0, 4), 0xFFFFFFFF);
}

/* ---- BARs ------------------------------------------------------------- */

static void test_bar_sizing_and_mapping(void **state)
{
    Fx *f = *state;
    int d = PCI_DEVFN(3, 0);
    TestDev *t = testdev_new(f, d, 1);
    assert_int_equal(pci_register_bar(&t->pci, 0, 128 * 1024, false, testdev_map), 0);
    assert_int_equal(pci_register_bar(&t->pci, 1, 64, true, testdev_map), 0);
    assert_int_equal(pci_register_bar(&t->pci, PCI_ROM_SLOT, 64 * 1024, false, testdev_map), 0);
    /* Bad registrations. */
    assert_int_equal(pci_register_bar(&t->pci, 2, 3000, false, NULL), -1);
    assert_int_equal(pci_register_bar(&t->pci, 2, 8, false, NULL), -1);
    assert_int_equal(pci_register_bar(&t->pci, 7, 4096, false, NULL), -1);
    assert_int_equal(pci_register_bar(&t->pci, PCI_ROM_SLOT, 4096, true, NULL), -1);

    /* Type bits: BAR0 32-bit memory, BAR1 I/O. */
    assert_int_equal(cfg_read(f, d, 0x10, 4), 0x00000000);
    assert_int_equal(cfg_read(f, d, 0x14, 4), 0x00000001);
    /* Sizing (PCI 3.0 6.2.5.1): write all ones, read the size mask. */
    cfg_write(f, d, 0x10, 0xFFFFFFFF, 4);
    cfg_write(f, d, 0x14, 0xFFFFFFFF, 4);
    cfg_write(f, d, 0x30, 0xFFFFF800, 4);
    assert_int_equal(cfg_read(f, d, 0x10, 4), 0xFFFE0000);
    assert_int_equal(cfg_read(f, d, 0x14, 4), 0xFFFFFFC1);
    assert_int_equal(cfg_read(f, d, 0x30, 4), 0xFFFF0000);
    /* Unimplemented BARs read 0 and ignore writes. */
    cfg_write(f, d, 0x18, 0xFFFFFFFF, 4);
    assert_int_equal(cfg_read(f, d, 0x18, 4), 0);
    /* Nothing decodes while COMMAND.IO/MEM are clear. */
    for (int i = 0; i < PCI_NUM_REGIONS; i++)
        assert_int_equal(t->map_calls[i], 0);

    /* Assign, then enable: the callback learns the addresses. */
    cfg_write(f, d, 0x10, 0xFEBC0000, 4);
    cfg_write(f, d, 0x14, 0x0000C001, 4);  /* bit 0 is read-only anyway */
    cfg_write(f, d, 0x30, 0xFEB80001, 4);  /* ROM enable bit set */
    assert_int_equal(t->map_calls[0], 0);
    cfg_write(f, d, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
    assert_int_equal(t->map_calls[0], 1);
    assert_int_equal(t->map_addr[0], 0xFEBC0000);
    assert_int_equal(t->map_calls[1], 1);
    assert_int_equal(t->map_addr[1], 0xC000);
    assert_int_equal(t->map_calls[PCI_ROM_SLOT], 1);
    assert_int_equal(t->map_addr[PCI_ROM_SLOT], 0xFEB80000);
    assert_int_equal(pci_bar_address(&t->pci, 1), 0xC000);

    /* Low address bits below the size are not writable. */
    cfg_write(f, d, 0x10, 0xFEBC1234, 4);
    assert_int_equal(cfg_read(f, d, 0x10, 4), 0xFEBC0000);
    assert_int_equal(t->map_calls[0], 1);

    /* Move BAR0: unmap, then map at the new base. */
    cfg_write(f, d, 0x10, 0xFEA00000, 4);
    assert_int_equal(t->map_calls[0], 3);
    assert_int_equal(t->map_addr[0], 0xFEA00000);
    /* Sizing while enabled: all ones does not decode (wraps past 4 GiB). */
    cfg_write(f, d, 0x10, 0xFFFFFFFF, 4);
    assert_int_equal(t->map_addr[0], PCI_BAR_UNMAPPED);
    cfg_write(f, d, 0x10, 0xFEA00000, 4);
    assert_int_equal(t->map_addr[0], 0xFEA00000);
    /* A byte write to the top byte of the BAR moves it too. */
    cfg_write(f, d, 0x13, 0xE0, 1);
    assert_int_equal(t->map_addr[0], 0xE0A00000);
    /* I/O BAR beyond 64 KiB does not decode. */
    cfg_write(f, d, 0x14, 0x00010000, 4);
    assert_int_equal(t->map_addr[1], PCI_BAR_UNMAPPED);
    cfg_write(f, d, 0x14, 0x0000C040, 4);
    assert_int_equal(t->map_addr[1], 0xC040);
    /* ROM enable bit gates the ROM BAR. */
    cfg_write(f, d, 0x30, 0xFEB80000, 4);
    assert_int_equal(t->map_addr[PCI_ROM_SLOT], PCI_BAR_UNMAPPED);

    /* Disabling MEM unmaps memory BARs only. */
    int io_calls = t->map_calls[1];
    cfg_write(f, d, 0x04, PCI_COMMAND_IO, 2);
    assert_int_equal(t->map_addr[0], PCI_BAR_UNMAPPED);
    assert_int_equal(t->map_calls[1], io_calls);
    assert_int_equal(t->map_addr[1], 0xC040);
    /* Byte write to COMMAND low byte re-enables memory. */
    cfg_write(f, d, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 1);
    assert_int_equal(t->map_addr[0], 0xE0A00000);

    /* Reset: decoding stops, BARs keep only their type bits. */
    pci_device_reset(&t->pci);
    assert_int_equal(t->map_addr[0], PCI_BAR_UNMAPPED);
    assert_int_equal(t->map_addr[1], PCI_BAR_UNMAPPED);
    assert_int_equal(cfg_read(f, d, 0x10, 4), 0);
    assert_int_equal(cfg_read(f, d, 0x14, 4), 1);
    assert_int_equal(cfg_read(f, d, 0x04, 2), 0);

    char buf[2048];
    size_t n = pci_info(f->bus, buf, sizeof(buf));
    assert_true(n > 0 && n < sizeof(buf));
    assert_non_null(strstr(buf, "00:00.0 8086:1237"));
    assert_non_null(strstr(buf, "00:03.0 8086:100e"));
    char small[16];
    assert_int_equal(pci_info(f->bus, small, sizeof(small)), n);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    testdev_free(t);
}

/* ---- multi-function --------------------------------------------------- */

static void test_multifunction(void **state)
{
    Fx *f = *state;
    TestDev *a = testdev_new(f, PCI_DEVFN(5, 0), 1);
    assert_int_equal(cfg_read(f, PCI_DEVFN(5, 0), 0x0E, 1), 0x00);
    /* A second function sets bit 7 of function 0's header type. */
    TestDev *b = testdev_new(f, PCI_DEVFN(5, 2), 1);
    assert_int_equal(cfg_read(f, PCI_DEVFN(5, 0), 0x0E, 1), 0x80);
    assert_int_equal(cfg_read(f, PCI_DEVFN(5, 2), 0x0E, 1), 0x00);
    assert_int_equal(cfg_read(f, PCI_DEVFN(5, 1), 0x00, 2), 0xFFFF);
    assert_int_equal(cfg_read(f, PCI_DEVFN(5, 2), 0x00, 2), 0x8086);
    /* Slot taken / bad devfn. */
    PciDevice tmp;
    memset(&tmp, 0, sizeof(tmp));
    assert_int_equal(pci_device_init(&tmp, f->bus, PCI_DEVFN(5, 2), 1, 2, 3, 0, 0), -1);
    assert_int_equal(pci_device_init(&tmp, f->bus, 256, 1, 2, 3, 0, 0), -1);
    assert_null(pci_device_new(f->bus, 0, 1, 2, 3, 0, 0));
    PciDevice *h = pci_device_new(f->bus, PCI_DEVFN(9, 0), 0x1234, 0x1111, 0, 0x030000, 0);
    assert_non_null(h);
    assert_int_equal(cfg_read(f, PCI_DEVFN(9, 0), 0, 4), 0x11111234);
    pci_device_free(h);
    assert_int_equal(cfg_read(f, PCI_DEVFN(9, 0), 0, 4), 0xFFFFFFFF);
    /* Firmware-style scan finds exactly the present functions. */
    int found = 0;
    for (int slot = 0; slot < 32; slot++) {
        for (int fn = 0; fn < 8; fn++) {
            int devfn = PCI_DEVFN(slot, fn);
            if (cfg_read(f, devfn, 0, 2) == 0xFFFF) {
                if (fn == 0)
                    break;
                continue;
            }
            found++;
            if (fn == 0 && !(cfg_read(f, devfn, 0x0E, 1) & 0x80))
                break;
        }
    }
    assert_int_equal(found, 4);  /* 00:00.0, 00:01.0, 00:05.0, 00:05.2 */
    testdev_free(b);
    testdev_free(a);
}

/* ---- PIRQ routing ----------------------------------------------------- */

static void test_pirq_swizzle(void **state)
{
    (void)state;
    /* pci_irqs[(pin-1 + slot-1) & 3] (SeaBIOS pciinit.c, QEMU piix). */
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(0, 0), 1), 3);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(1, 0), 1), 0);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(2, 0), 1), 1);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(3, 0), 1), 2);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(3, 0), 2), 3);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(3, 0), 4), 1);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(31, 7), 1), 2);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(3, 0), 0), -1);
    assert_int_equal(piix3_map_irq(NULL, PCI_DEVFN(3, 0), 5), -1);
}

static void test_pirq_routing_and_sharing(void **state)
{
    Fx *f = *state;
    int sb = PCI_DEVFN(1, 0);
    /* 00:03.0 INTA# and 00:02.0 INTB# both land on PIRQC. */
    TestDev *a = testdev_new(f, PCI_DEVFN(3, 0), 1);
    TestDev *b = testdev_new(f, PCI_DEVFN(2, 0), 2);
    /* Routing disabled (reset 0x80): nothing reaches the PIC. */
    pci_set_irq(&a->pci, 1);
    for (int i = 0; i < 16; i++)
        assert_int_equal(f->isa.level[i], 0);
    /* STATUS bit 3 shows the pending interrupt. */
    assert_true(cfg_read(f, PCI_DEVFN(3, 0), 0x06, 2) & PCI_STATUS_INTERRUPT);
    /* Route PIRQC to IRQ 11: the already-asserted line appears. */
    cfg_write(f, sb, 0x62, 11, 1);
    assert_int_equal(cfg_read(f, sb, 0x62, 1), 11);
    assert_int_equal(f->isa.level[11], 1);
    assert_int_equal(f->isa.rises[11], 1);
    /* Second device joins: no new edge. */
    pci_set_irq(&b->pci, 1);
    assert_int_equal(f->isa.level[11], 1);
    assert_int_equal(f->isa.rises[11], 1);
    /* The line stays up until both drop. */
    pci_set_irq(&a->pci, 0);
    assert_int_equal(f->isa.level[11], 1);
    pci_set_irq(&b->pci, 0);
    assert_int_equal(f->isa.level[11], 0);
    assert_false(cfg_read(f, PCI_DEVFN(3, 0), 0x06, 2) & PCI_STATUS_INTERRUPT);
    /* Redundant calls are idempotent. */
    pci_set_irq(&b->pci, 0);
    pci_set_irq(&a->pci, 1);
    pci_set_irq(&a->pci, 1);
    assert_int_equal(f->isa.rises[11], 2);
    /* Re-route PIRQC to 10 while asserted: 11 drops, 10 rises. */
    cfg_write(f, sb, 0x60, 0x0B0A8080, 4);  /* PIRQA,B off, C=10, D=11 */
    assert_int_equal(f->isa.level[11], 0);
    assert_int_equal(f->isa.level[10], 1);
    /* Disable bit 7 drops it; reserved bits 6:4 read 0. */
    cfg_write(f, sb, 0x62, 0xFA, 1);
    assert_int_equal(cfg_read(f, sb, 0x62, 1), 0x8A);
    assert_int_equal(f->isa.level[10], 0);
    /* Reserved IRQ numbers (0-2, 8, 13) route nowhere. */
    int reserved[] = { 0, 1, 2, 8, 13 };
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        cfg_write(f, sb, 0x62, (uint32_t)reserved[i], 1);
        assert_int_equal(f->isa.level[reserved[i]], 0);
    }
    /* COMMAND.INTX_DISABLE masks the device's INTx. */
    cfg_write(f, sb, 0x62, 11, 1);
    assert_int_equal(f->isa.level[11], 1);
    cfg_write(f, PCI_DEVFN(3, 0), 0x04, PCI_COMMAND_INTX_DISABLE, 2);
    assert_int_equal(f->isa.level[11], 0);
    assert_true(cfg_read(f, PCI_DEVFN(3, 0), 0x06, 2) & PCI_STATUS_INTERRUPT);
    cfg_write(f, PCI_DEVFN(3, 0), 0x04, 0, 2);
    assert_int_equal(f->isa.level[11], 1);
    /* Two PIRQs routed to one ISA IRQ share it (SeaBIOS: 10,10,11,11). */
    cfg_write(f, sb, 0x60, 0x0B0B0A0A, 4);
    TestDev *c = testdev_new(f, PCI_DEVFN(2, 0) + 1, 1);  /* 00:02.1 INTA -> PIRQB */
    pci_set_irq(&a->pci, 0);
    assert_int_equal(f->isa.level[11], 0);
    TestDev *d0 = testdev_new(f, PCI_DEVFN(4, 0), 1);     /* INTA -> PIRQD = 11 */
    pci_set_irq(&c->pci, 1);
    assert_int_equal(f->isa.level[10], 1);
    pci_set_irq(&d0->pci, 1);
    cfg_write(f, sb, 0x63, 10, 1);                        /* PIRQD -> 10 too */
    assert_int_equal(f->isa.level[10], 1);
    assert_int_equal(f->isa.level[11], 0);
    pci_set_irq(&c->pci, 0);
    assert_int_equal(f->isa.level[10], 1);
    pci_set_irq(&d0->pci, 0);
    assert_int_equal(f->isa.level[10], 0);
    /* Removing an asserted device releases its share. */
    pci_set_irq(&d0->pci, 1);
    assert_int_equal(f->isa.level[10], 1);
    testdev_free(d0);
    assert_int_equal(f->isa.level[10], 0);
    /* Reset of the bridge disables routing. */
    pci_set_irq(&b->pci, 1);    /* 00:02.0 INTB -> PIRQC = 11 */
    assert_int_equal(f->isa.level[11], 1);
    piix3_reset(f->sb);
    assert_int_equal(f->isa.level[11], 0);
    assert_int_equal(cfg_read(f, sb, 0x60, 4), 0x80808080);
    testdev_free(c);
    testdev_free(b);
    testdev_free(a);
}

/* ---- i440FX PAM / SMRAM ------------------------------------------------ */

static uint8_t rd8(Fx *f, uint32_t a) { return (uint8_t)phys_read(&f->pm, a, 1); }
static void wr8(Fx *f, uint32_t a, uint8_t v) { phys_write(&f->pm, a, v, 1); }

static void test_pam(void **state)
{
    Fx *f = *state;
    const uint8_t *bios = f->bios;
    /* Reset: PAM 0 everywhere; 0xE0000-0xFFFFF is the BIOS alias, read-only. */
    for (int r = 0x59; r <= 0x5F; r++)
        assert_int_equal(cfg_read(f, 0, r, 1), 0);
    assert_int_equal(rd8(f, 0xFFFF0), bios[0x1FFF0]);
    assert_int_equal(rd8(f, 0xE0000), bios[0]);
    assert_int_equal(rd8(f, 0xEC123), bios[0xC123]);
    wr8(f, 0xF0000, (uint8_t)~bios[0x10000]);
    assert_int_equal(rd8(f, 0xF0000), bios[0x10000]);
    /* 0xC0000-0xDFFFF with no ROM image: floating bus. */
    assert_int_equal(rd8(f, 0xC0000), 0xFF);
    assert_int_equal(rd8(f, 0xDFFFF), 0xFF);

    /* SeaBIOS make_bios_writable: 0x59 = 0x30 (RE|WE) -> plain RAM. */
    cfg_write(f, 0, 0x59, 0x30, 1);
    assert_int_equal(rd8(f, 0xF0000), 0x00);
    wr8(f, 0xF0000, 0xA5);
    assert_int_equal(rd8(f, 0xF0000), 0xA5);
    assert_int_equal(f->pm.ram[0xF0000], 0xA5);

    /* WE only (nibble 2): writes go to RAM, reads come from ROM. */
    cfg_write(f, 0, 0x59, 0x20, 1);
    wr8(f, 0xF1234, 0x5A);
    assert_int_equal(rd8(f, 0xF1234), bios[0x11234]);
    assert_int_equal(f->pm.ram[0xF1234], 0x5A);
    /* RE only (nibble 1): reads RAM, writes dropped. */
    cfg_write(f, 0, 0x59, 0x10, 1);
    assert_int_equal(rd8(f, 0xF1234), 0x5A);
    wr8(f, 0xF1234, 0x11);
    assert_int_equal(rd8(f, 0xF1234), 0x5A);
    /* Reserved bits of PAM0 read 0. */
    cfg_write(f, 0, 0x59, 0xFF, 1);
    assert_int_equal(cfg_read(f, 0, 0x59, 1), 0x30);

    /* PAM1: low nibble = 0xC0000-0xC3FFF, high nibble = 0xC4000-0xC7FFF. */
    cfg_write(f, 0, 0x5A, 0x03, 1);
    wr8(f, 0xC0000, 0x77);
    wr8(f, 0xC3FFF, 0x78);
    wr8(f, 0xC4000, 0x79);
    assert_int_equal(rd8(f, 0xC0000), 0x77);
    assert_int_equal(rd8(f, 0xC3FFF), 0x78);
    assert_int_equal(rd8(f, 0xC4000), 0xFF);
    assert_int_equal(f->pm.ram[0xC4000], 0);
    cfg_write(f, 0, 0x5A, 0x30, 1);
    assert_int_equal(rd8(f, 0xC0000), 0xFF);
    assert_int_equal(rd8(f, 0xC4000), 0x00);
    /* Dword write to 0x5C-0x5F (PAM3-6) = 0x33 each, as SeaBIOS does. */
    cfg_write(f, 0, 0x5C, 0x33333333, 4);
    wr8(f, 0xE8000, 0x42);
    assert_int_equal(rd8(f, 0xE8000), 0x42);
    wr8(f, 0xD0000, 0x43);
    assert_int_equal(rd8(f, 0xD0000), 0x43);
    /* PAM6 high nibble covers 0xEC000-0xEFFFF: back to ROM. */
    cfg_write(f, 0, 0x5F, 0x03, 1);
    assert_int_equal(rd8(f, 0xE8000), 0x42);
    assert_int_equal(rd8(f, 0xEC000), bios[0xC000]);
    /* Reserved bits 7:6 and 3:2 read 0. */
    cfg_write(f, 0, 0x5B, 0xFF, 1);
    assert_int_equal(cfg_read(f, 0, 0x5B, 1), 0x33);

    /* Optional ROM side for 0xC0000-0xDFFFF. */
    static uint8_t optrom[128 * 1024];
    memset(optrom, 0x55, sizeof(optrom));
    optrom[0] = 0xAA;
    i440fx_set_isa_rom(f->nb, optrom);
    cfg_write(f, 0, 0x5A, 0x00, 1);
    assert_int_equal(rd8(f, 0xC0000), 0xAA);
    assert_int_equal(rd8(f, 0xC4000), 0x55);
    wr8(f, 0xC0000, 0x12);
    assert_int_equal(optrom[0], 0xAA);
    i440fx_set_isa_rom(f->nb, NULL);
    assert_int_equal(rd8(f, 0xC0000), 0xFF);

    /* Reset restores PAM = 0: ROM again. */
    i440fx_reset(f->nb);
    assert_int_equal(cfg_read(f, 0, 0x58, 4) & 0xFFFFFF00u, 0);
    assert_int_equal(cfg_read(f, 0, 0x5C, 4), 0);
    assert_int_equal(rd8(f, 0xF0000), bios[0x10000]);
    assert_int_equal(rd8(f, 0xE8000), bios[0x8000]);
    /* RAM below 0xA0000 and above 1 MiB is unaffected. */
    wr8(f, 0x9FFFF, 0x31);
    wr8(f, 0x100000, 0x32);
    assert_int_equal(rd8(f, 0x9FFFF), 0x31);
    assert_int_equal(rd8(f, 0x100000), 0x32);
}

static void test_smram(void **state)
{
    Fx *f = *state;
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x02);
    cfg_write(f, 0, 0x72, 0x4F, 1);   /* D_OPEN|G_SMRAME, C_BASE_SEG RO */
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x4A);
    cfg_write(f, 0, 0x72, 0x5A, 1);   /* D_LCK closes D_OPEN */
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x1A);
    cfg_write(f, 0, 0x72, 0x42, 1);   /* locked: cannot reopen or unlock */
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x1A);
    cfg_write(f, 0, 0x70, 0x00200000, 4);  /* D_CLS still writable */
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x3A);
    i440fx_reset(f->nb);
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x02);
}

/* ---- reset control / port 0x92 ---------------------------------------- */

static void test_cf9_reset(void **state)
{
    Fx *f = *state;
    outl(f, 0xCF8, 0x80000800);
    assert_int_equal(inb(f, 0xCF9), 0x00);
    outb(f, 0xCF9, 0x02);            /* SeaBIOS: |2 then |6 */
    assert_int_equal(f->resets, 0);
    assert_int_equal(inb(f, 0xCF9), 0x02);
    outb(f, 0xCF9, 0x06);
    assert_int_equal(f->resets, 1);
    assert_true(piix3_reset_is_hard(f->sb));
    /* CONFADD untouched by the byte accesses at 0xCF9. */
    assert_int_equal(inl(f, 0xCF8), 0x80000800);
    outb(f, 0xCF9, 0x04);            /* soft reset */
    assert_int_equal(f->resets, 2);
    assert_false(piix3_reset_is_hard(f->sb));
    piix3_reset(f->sb);
    assert_int_equal(inb(f, 0xCF9), 0x00);
}

static void test_port92(void **state)
{
    Fx *f = *state;
    outb(f, 0x92, 0x02);
    assert_int_equal(f->a20.level[0], 1);
    assert_int_equal(inb(f, 0x92), 0x02);
    assert_int_equal(f->resets, 0);
    outb(f, 0x92, 0x03);             /* fast reset on 0 -> 1 of bit 0 */
    assert_int_equal(f->resets, 1);
    outb(f, 0x92, 0x03);
    assert_int_equal(f->resets, 1);
    outb(f, 0x92, 0x00);
    assert_int_equal(f->a20.level[0], 0);
    outb(f, 0x92, 0x03);
    assert_int_equal(f->resets, 2);
    piix3_reset(f->sb);
    assert_int_equal(inb(f, 0x92), 0x02);   /* bit 0 clears, A20 kept */
}

/* ---- robustness ------------------------------------------------------- */

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_random_writes(void **state)
{
    Fx *f = *state;
    TestDev *t = testdev_new(f, PCI_DEVFN(3, 0), 1);
    pci_register_bar(&t->pci, 0, 4096, false, testdev_map);
    pci_register_bar(&t->pci, 1, 32, true, testdev_map);
    pci_register_bar(&t->pci, PCI_ROM_SLOT, 2048, false, testdev_map);
    static const unsigned sizes[3] = { 1, 2, 4 };
    for (int i = 0; i < 200000; i++) {
        uint32_t r = rnd();
        unsigned sz = sizes[r % 3];
        switch ((r >> 2) % 6) {
        case 0:
            outl(f, 0xCF8, 0x80000000u | (rnd() & 0x0000FFFC) | (rnd() & 1 ? 0x10000 : 0));
            break;
        case 1:
            outl(f, 0xCF8, 0x80000000u | (uint32_t)(rnd() % 3 == 0 ? PCI_DEVFN(3, 0) :
                                                   rnd() % 2 ? 0 : 8) << 8 | (rnd() & 0xFC));
            break;
        case 2:
            iobus_write(&f->io, (uint16_t)(0xCF8 + rnd() % 8), rnd(), sz);
            break;
        case 3:
            (void)iobus_read(&f->io, (uint16_t)(0xCF8 + rnd() % 8), sz);
            break;
        case 4:
            pci_config_write(f->bus, (int)(rnd() % 260) - 2, (int)(rnd() % 270) - 5, rnd(), (int)(rnd() % 6));
            (void)pci_config_read(f->bus, (int)(rnd() % 260) - 2, (int)(rnd() % 270) - 5, (int)(rnd() % 6));
            break;
        case 5:
            outb(f, 0x92, rnd());
            pci_set_irq(&t->pci, (int)(rnd() & 1));
            break;
        }
    }
    /* The machine is still coherent: identity intact, PAM bits masked. */
    assert_int_equal(cfg_read(f, 0, 0, 4), 0x12378086);
    assert_int_equal(cfg_read(f, 0, 0x59, 1) & ~0x30u, 0);
    for (int p = 0; p < 4; p++)
        assert_int_equal(cfg_read(f, PCI_DEVFN(1, 0), 0x60 + p, 1) & 0x70, 0);
    /* Counting stays consistent: drop the device and reset routing. */
    pci_set_irq(&t->pci, 0);
    piix3_reset(f->sb);
    for (int i = 0; i < 16; i++)
        assert_int_equal(f->isa.level[i], 0);
    testdev_free(t);
}

/* ---- snapshot --------------------------------------------------------- */

static long save(const StateDesc *d, void *obj, uint8_t *buf, size_t cap)
{
    long n = state_save(d, obj, buf, cap);
    assert_true(n > 0);
    return n;
}

static void load(const StateDesc *d, void *obj, const uint8_t *buf, long n)
{
    char err[128] = "";
    int rc = state_load(d, obj, d->version, buf, (size_t)n, err, sizeof(err));
    if (rc != 0)
        fail_msg("state_load %s: %s", d->name, err);
}

static void test_state_round_trip(void **state)
{
    Fx *f = *state;
    char err[128];
    assert_int_equal(state_check(&i440fx_state, sizeof(I440fx), err, sizeof(err)), 0);
    assert_int_equal(state_check(&piix3_state, sizeof(Piix3), err, sizeof(err)), 0);
    assert_int_equal(state_check(&pci_bus_state, sizeof(PciBus), err, sizeof(err)), 0);
    assert_int_equal(state_check(&testdev_state, sizeof(TestDev), err, sizeof(err)), 0);

    int sb = PCI_DEVFN(1, 0), d = PCI_DEVFN(3, 0);
    TestDev *t = testdev_new(f, d, 1);
    pci_register_bar(&t->pci, 0, 4096, false, testdev_map);
    pci_register_bar(&t->pci, 1, 32, true, testdev_map);
    /* Program: PAM write-RAM/read-ROM on 0xF0000, routing, BARs, IRQ. */
    cfg_write(f, 0, 0x59, 0x30, 1);
    wr8(f, 0xF0000, 0x99);
    cfg_write(f, 0, 0x59, 0x10, 1);
    cfg_write(f, 0, 0x72, 0x0A, 1);
    cfg_write(f, sb, 0x60, 0x0B0B0A0A, 4);
    cfg_write(f, d, 0x10, 0xFEBF0000, 4);
    cfg_write(f, d, 0x14, 0xC100, 4);
    cfg_write(f, d, 0x04, 7, 2);
    pci_set_irq(&t->pci, 1);          /* slot 3 INTA -> PIRQC -> 11 */
    outb(f, 0x92, 0x02);
    outl(f, 0xCF8, cfg_addr(d, 0x10));
    assert_int_equal(f->isa.level[11], 1);
    assert_int_equal(rd8(f, 0xF0000), 0x99);

    uint8_t b_nb[512], b_sb[512], b_bus[16], b_t[512];
    long n_nb = save(&i440fx_state, f->nb, b_nb, sizeof(b_nb));
    long n_sb = save(&piix3_state, f->sb, b_sb, sizeof(b_sb));
    long n_bus = save(&pci_bus_state, f->bus, b_bus, sizeof(b_bus));
    long n_t = save(&testdev_state, t, b_t, sizeof(b_t));

    /* Reset everything: behaviour visibly changes. */
    pci_device_reset(&t->pci);
    i440fx_reset(f->nb);
    piix3_reset(f->sb);
    pci_bus_reset(f->bus);
    assert_int_equal(f->isa.level[11], 0);
    assert_int_equal(t->map_addr[0], PCI_BAR_UNMAPPED);
    assert_int_equal(rd8(f, 0xF0000), f->bios[0x10000]);
    assert_int_equal(inl(f, 0xCF8), 0);

    load(&pci_bus_state, f->bus, b_bus, n_bus);
    load(&i440fx_state, f->nb, b_nb, n_nb);
    load(&piix3_state, f->sb, b_sb, n_sb);
    load(&testdev_state, t, b_t, n_t);

    assert_int_equal(inl(f, 0xCF8), cfg_addr(d, 0x10));
    assert_int_equal(inl(f, 0xCFC), 0xFEBF0000);
    assert_int_equal(rd8(f, 0xF0000), 0x99);          /* PAM reprogrammed */
    wr8(f, 0xF0000, 0x11);
    assert_int_equal(rd8(f, 0xF0000), 0x99);          /* still read-only RAM */
    assert_int_equal(cfg_read(f, 0, 0x72, 1), 0x0A);
    assert_int_equal(cfg_read(f, sb, 0x60, 4), 0x0B0B0A0A);
    assert_int_equal(t->map_addr[0], 0xFEBF0000);      /* BARs re-mapped */
    assert_int_equal(t->map_addr[1], 0xC100);
    assert_int_equal(f->isa.level[11], 1);            /* INTx re-counted */
    assert_int_equal(inb(f, 0x92), 0x02);
    pci_set_irq(&t->pci, 0);
    assert_int_equal(f->isa.level[11], 0);

    /* Truncated and wrong-version sections are rejected. */
    assert_int_equal(state_load(&piix3_state, f->sb, 1, b_sb, (size_t)n_sb - 1, err,
                                sizeof(err)), -1);
    assert_int_equal(state_load(&i440fx_state, f->nb, 9, b_nb, (size_t)n_nb, err,
                                sizeof(err)), -1);
    testdev_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_confadd_latch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conf1_identity_and_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_and_masks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bar_sizing_and_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multifunction, setup, teardown),
        cmocka_unit_test(test_pirq_swizzle),
        cmocka_unit_test_setup_teardown(test_pirq_routing_and_sharing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cf9_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port92, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
