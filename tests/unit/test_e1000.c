/*
 * test_e1000.c - 82540EM NIC: PCI identity and BARs, register file (reset
 * values, masks, unknown registers, read-to-clear statistics, CTRL.RST,
 * the I/O window), EEPROM over Microwire bit-banging (as Linux) and EERD
 * (as iPXE), the PHY through MDIC, link changes, legacy / context+data
 * transmit with checksum offload, TCP segmentation of a 20 KB payload
 * (lengths, IP ids, sequence numbers, checksums verified independently),
 * receive (filters, buffer sizes, multi-descriptor frames, wrap, RXO,
 * RXDMT0, checksum status), interrupt causes, masking and moderation
 * timers, hostile rings, random register writes and a snapshot round trip.
 * The guest side is driven through BAR0 (physical memory accesses), BAR1
 * and configuration space (port I/O); time is a fake instruction counter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/e1000.h"
#include "devices/netdev.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "devices/vclock.h"
#include "mem/phys.h"

#define DEVFN PCI_DEVFN(3, 0)
#define MMIO 0xF0000000u
#define IOBASE 0xC000
#define RAM (4u << 20)
#define RXRING 0x100000u
#define TXRING 0x110000u
#define RXBUF 0x200000u
#define TXBUF 0x300000u
#define MAXF 64

static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

typedef struct {
    IoBus io;
    PciBus *bus;
    PhysMem pm;
    VClock clk;
    uint64_t icount;
    E1000 *nic;
    NetBackend be;
    int level, rises;
    uint8_t *frames[MAXF];
    size_t flen[MAXF];
    int nframes;
    int rx_ready;
} Fx;

static void irq_rec(void *opaque, int n, int level)
{
    Fx *f = opaque;
    if (level && !f->level)
        f->rises++;
    f->level = level;
}

static int map_irq(void *opaque, int devfn, int pin) { return 0; }
static uint64_t fake_icount(void *opaque) { return *(uint64_t *)opaque; }

static void be_send(NetBackend *be, const uint8_t *frame, size_t len)
{
    Fx *f = be->opaque;
    if (f->nframes >= MAXF)
        return;
    f->frames[f->nframes] = malloc(len);
    memcpy(f->frames[f->nframes], frame, len);
    f->flen[f->nframes] = len;
    f->nframes++;
}

static void be_rx_ready(NetBackend *be)
{
    Fx *f = be->opaque;
    f->rx_ready++;
}

static void clear_frames(Fx *f)
{
    for (int k = 0; k < f->nframes; k++)
        free(f->frames[k]);
    f->nframes = 0;
}

/* ---- guest accessors ---- */

static uint32_t rd(Fx *f, uint32_t reg) { return (uint32_t)phys_read(&f->pm, MMIO + reg, 4); }
static void wr(Fx *f, uint32_t reg, uint32_t v) { phys_write(&f->pm, MMIO + reg, v, 4); }
static void outl(Fx *f, uint16_t p, uint32_t v) { iobus_write(&f->io, p, v, 4); }
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

static void advance(Fx *f, int64_t ns)
{
    f->icount += (uint64_t)ns;
    vclock_run_timers(&f->clk);
}

static void ram_write(Fx *f, uint32_t a, const void *p, size_t n) { memcpy(f->pm.ram + a, p, n); }
static void ram_read(Fx *f, uint32_t a, void *p, size_t n) { memcpy(p, f->pm.ram + a, n); }

static void put64(uint8_t *p, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint16_t nbo16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t nbo32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- fixture ---- */

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    iobus_init(&f->io);
    f->bus = pci_bus_new(&f->io);
    assert_non_null(f->bus);
    Irq pirq = { irq_rec, f, 0 };
    pci_bus_set_irq_routing(f->bus, map_irq, f, &pirq, 1);
    assert_int_equal(phys_init(&f->pm, RAM), 0);
    vclock_init(&f->clk, VCLOCK_ICOUNT, 0);
    f->clk.icount_fn = fake_icount;
    f->clk.icount_opaque = &f->icount;
    f->be.send = be_send;
    f->be.rx_ready = be_rx_ready;
    f->be.opaque = f;
    f->nic = e1000_new(f->bus, DEVFN, &f->pm, &f->io, &f->clk, MAC, &f->be);
    assert_non_null(f->nic);
    cfg_write(f, 0x10, MMIO);
    cfg_write(f, 0x14, IOBASE);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    clear_frames(f);
    e1000_free(f->nic);
    assert_null(f->be.nic);
    pci_bus_free(f->bus);
    phys_free(&f->pm);
    free(f);
    return 0;
}

/* ---- independent checksum reference (RFC 1071, computed differently) ---- */

static uint16_t ref_sum(const uint8_t *p, size_t n, uint64_t start)
{
    uint64_t acc = start;
    for (size_t k = 0; k < n; k++)
        acc += (k & 1) ? p[k] : (uint64_t)p[k] << 8;
    while (acc > 0xFFFF)
        acc = (acc >> 16) + (acc & 0xFFFF);
    return (uint16_t)acc;
}

static bool ip_ok(const uint8_t *ip) { return ref_sum(ip, (ip[0] & 15) * 4u, 0) == 0xFFFF; }

/* TCP or UDP checksum over IPv4 verifies (pseudo header + segment). */
static bool l4_ok(const uint8_t *ip)
{
    size_t ihl = (ip[0] & 15) * 4u;
    size_t l4 = nbo16(ip + 2) - ihl;
    uint64_t ph = (uint64_t)nbo16(ip + 12) + nbo16(ip + 14) + nbo16(ip + 16) + nbo16(ip + 18) + ip[9] + l4;
    return ref_sum(ip + ihl, l4, ph) == 0xFFFF;
}

static void set_ip_csum(uint8_t *ip)
{
    ip[10] = ip[11] = 0;
    uint16_t c = (uint16_t)~ref_sum(ip, 20, 0);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
}

/* Build eth+IPv4+TCP with payload; returns length.  If tso, tot_len is 0. */
static size_t build_tcp(uint8_t *p, const uint8_t *dst, size_t paylen, uint8_t flags, bool full_csum)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, "\x02\x00\x00\x00\x00\x01", 6);
    p[12] = 0x08; p[13] = 0x00;
    uint8_t *ip = p + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    uint16_t tot = (uint16_t)(40 + paylen);
    ip[2] = (uint8_t)(tot >> 8); ip[3] = (uint8_t)tot;
    ip[4] = 0x12; ip[5] = 0x34;             /* id */
    ip[6] = 0x40;                            /* DF */
    ip[8] = 64; ip[9] = 6;
    memcpy(ip + 12, "\x0a\x00\x02\x0f", 4);
    memcpy(ip + 16, "\x0a\x00\x02\x02", 4);
    uint8_t *tcp = ip + 20;
    memset(tcp, 0, 20);
    tcp[0] = 0x04; tcp[1] = 0xD2;            /* 1234 */
    tcp[2] = 0x00; tcp[3] = 0x50;            /* 80 */
    tcp[4] = 0x11; tcp[5] = 0x22; tcp[6] = 0x33; tcp[7] = 0x44;  /* seq */
    tcp[12] = 0x50;
    tcp[13] = flags;
    tcp[14] = 0xFF; tcp[15] = 0xFF;
    for (size_t k = 0; k < paylen; k++)
        tcp[20 + k] = (uint8_t)(k * 7 + 3);
    if (full_csum) {
        set_ip_csum(ip);
        uint64_t ph = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 6 + 20 + paylen;
        uint16_t c = (uint16_t)~ref_sum(tcp, 20 + paylen, ph);
        tcp[16] = (uint8_t)(c >> 8); tcp[17] = (uint8_t)c;
    }
    return 14 + 40 + paylen;
}

/* ---- ring helpers ---- */

static void tx_setup(Fx *f, uint32_t ndesc)
{
    memset(f->pm.ram + TXRING, 0, ndesc * 16);
    wr(f, E1000_TDBAL, TXRING);
    wr(f, E1000_TDBAH, 0);
    wr(f, E1000_TDLEN, ndesc * 16);
    wr(f, E1000_TDH, 0);
    wr(f, E1000_TDT, 0);
    wr(f, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
}

static void tx_legacy_desc(Fx *f, uint32_t idx, uint32_t buf, uint16_t len, uint8_t cmd, uint8_t cso, uint8_t css)
{
    uint8_t d[16] = { 0 };
    put64(d, buf);
    put32(d + 8, (uint32_t)len | (uint32_t)cso << 16 | (uint32_t)cmd << 24);
    put32(d + 12, (uint32_t)css << 8);
    ram_write(f, TXRING + idx * 16, d, 16);
}

static void tx_ctx_desc(Fx *f, uint32_t idx, uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss,
                        uint8_t tucso, uint16_t tucse, uint32_t paylen, uint8_t tucmd, uint8_t hdrlen, uint16_t mss)
{
    uint8_t d[16] = { 0 };
    d[0] = ipcss; d[1] = ipcso; put16(d + 2, ipcse);
    d[4] = tucss; d[5] = tucso; put16(d + 6, tucse);
    put32(d + 8, (paylen & 0xFFFFF) | (uint32_t)(tucmd | E1000_TXD_CMD_DEXT) << 24);
    d[13] = hdrlen;
    put16(d + 14, mss);
    ram_write(f, TXRING + idx * 16, d, 16);
}

static void tx_data_desc(Fx *f, uint32_t idx, uint32_t buf, uint32_t len, uint8_t dcmd, uint8_t popts)
{
    uint8_t d[16] = { 0 };
    put64(d, buf);
    put32(d + 8, (len & 0xFFFFF) | (uint32_t)E1000_TXD_DTYP_DATA << 20 |
                 (uint32_t)(dcmd | E1000_TXD_CMD_DEXT) << 24);
    put32(d + 12, (uint32_t)popts << 8);
    ram_write(f, TXRING + idx * 16, d, 16);
}

static uint8_t tx_status(Fx *f, uint32_t idx) { return f->pm.ram[TXRING + idx * 16 + 12]; }

static void rx_setup(Fx *f, uint32_t ndesc, uint32_t bufsize, uint32_t rctl_extra)
{
    for (uint32_t k = 0; k < ndesc; k++) {
        uint8_t d[16] = { 0 };
        put64(d, RXBUF + k * bufsize);
        ram_write(f, RXRING + k * 16, d, 16);
    }
    uint32_t bs = bufsize == 2048 ? 0 : bufsize == 1024 ? 1 : bufsize == 512 ? 2 : 3;
    wr(f, E1000_RDBAL, RXRING);
    wr(f, E1000_RDBAH, 0);
    wr(f, E1000_RDLEN, ndesc * 16);
    wr(f, E1000_RDH, 0);
    wr(f, E1000_RDT, ndesc - 1);
    wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | bs << 16 | rctl_extra);
}

static void rx_desc(Fx *f, uint32_t idx, uint16_t *len, uint8_t *status, uint8_t *err)
{
    uint8_t d[16];
    ram_read(f, RXRING + idx * 16, d, 16);
    *len = get16(d + 8);
    *status = d[12];
    *err = d[13];
}

static size_t simple_frame(uint8_t *p, const uint8_t *dst, size_t len)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, "\x02\x00\x00\x00\x00\x09", 6);
    p[12] = 0x88; p[13] = 0xB5;
    for (size_t k = 14; k < len; k++)
        p[k] = (uint8_t)k;
    return len;
}

/* ---------------------------------------------------------------------- */

static void test_pci_identity(void **state)
{
    Fx *f = *state;
    assert_int_equal(cfg_read(f, 0x00), 0x100E8086);
    assert_int_equal(cfg_read(f, 0x08) & 0xFF, 0x03);
    assert_int_equal(cfg_read(f, 0x08) >> 8, 0x020000);
    assert_int_equal((cfg_read(f, 0x3C) >> 8) & 0xFF, 1);      /* INTA# */
    /* BAR sizing: 128 KiB memory, 64 bytes I/O. */
    cfg_write(f, 0x04, 0);
    cfg_write(f, 0x10, 0xFFFFFFFF);
    assert_int_equal(cfg_read(f, 0x10), 0xFFFE0000);
    cfg_write(f, 0x14, 0xFFFFFFFF);
    assert_int_equal(cfg_read(f, 0x14), 0xFFFFFFC1);
    cfg_write(f, 0x10, MMIO);
    cfg_write(f, 0x14, IOBASE);
    /* Not decoding: BAR0 reads all ones. */
    assert_int_equal(rd(f, E1000_STATUS), 0xFFFFFFFF);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_true(rd(f, E1000_STATUS) & E1000_STATUS_LU);
}

static void test_registers(void **state)
{
    Fx *f = *state;
    uint32_t st = rd(f, E1000_STATUS);
    assert_true(st & E1000_STATUS_LU);
    assert_true(st & E1000_STATUS_FD);
    assert_int_equal(st & 0xC0, E1000_STATUS_SPEED_1000);
    /* RAL0/RAH0 hold the MAC with AV (iPXE reads them first). */
    assert_int_equal(rd(f, E1000_RAL0), 0x12005452);
    assert_int_equal(rd(f, E1000_RAH0), 0x80005634);
    assert_int_equal(rd(f, E1000_RAL0 + 8), 0);
    /* Masks. */
    wr(f, E1000_RDLEN, 0x12345);
    assert_int_equal(rd(f, E1000_RDLEN), 0x12300);
    wr(f, E1000_RDBAL, 0x1234567F);
    assert_int_equal(rd(f, E1000_RDBAL), 0x12345670);
    wr(f, E1000_TDH, 0xFFFF1234);
    assert_int_equal(rd(f, E1000_TDH), 0x1234);
    wr(f, E1000_TIPG, 0x0060200A);
    assert_int_equal(rd(f, E1000_TIPG), 0x0060200A);
    wr(f, E1000_MTA + 4 * 127, 0xDEADBEEF);
    assert_int_equal(rd(f, E1000_MTA + 4 * 127), 0xDEADBEEF);
    wr(f, E1000_STATUS, 0);                      /* read only */
    assert_true(rd(f, E1000_STATUS) & E1000_STATUS_LU);
    /* Unknown registers read 0 and ignore writes. */
    wr(f, 0x0044, 0x12345678);
    assert_int_equal(rd(f, 0x0044), 0);
    wr(f, 0x1FFFC, 0x12345678);
    assert_int_equal(rd(f, 0x1FFFC), 0);
    /* 16-bit access to a plain register. */
    phys_write(&f->pm, MMIO + E1000_TIPG + 2, 0xBEEF, 2);
    assert_int_equal(rd(f, E1000_TIPG), 0xBEEF200A);
    assert_int_equal(phys_read(&f->pm, MMIO + E1000_TIPG + 2, 2), 0xBEEF);

    /* Statistics: read to clear; 64-bit octet counters clear with the high half. */
    tx_setup(f, 8);
    uint8_t fr[100];
    simple_frame(fr, MAC, 100);
    ram_write(f, TXBUF, fr, 100);
    tx_legacy_desc(f, 0, TXBUF, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 1);
    assert_int_equal(f->nframes, 1);
    assert_int_equal(rd(f, E1000_GPTC), 1);
    assert_int_equal(rd(f, E1000_GPTC), 0);
    assert_int_equal(rd(f, E1000_TPT), 1);
    assert_int_equal(rd(f, E1000_GOTCL), 104);
    assert_int_equal(rd(f, E1000_GOTCL), 104);
    assert_int_equal(rd(f, E1000_GOTCH), 0);
    assert_int_equal(rd(f, E1000_GOTCL), 0);
    assert_int_equal(rd(f, E1000_PTC127), 1);
    wr(f, E1000_GPTC, 55);                        /* read only */
    assert_int_equal(rd(f, E1000_GPTC), 0);

    /* CTRL.RST: self-clearing, registers back to reset values. */
    wr(f, E1000_IMS, E1000_ICR_RXT0);
    wr(f, E1000_RCTL, E1000_RCTL_EN);
    wr(f, E1000_RAL0, 0);
    wr(f, E1000_CTRL, rd(f, E1000_CTRL) | E1000_CTRL_RST);
    assert_int_equal(rd(f, E1000_CTRL) & E1000_CTRL_RST, 0);
    assert_int_equal(rd(f, E1000_IMS), 0);
    assert_int_equal(rd(f, E1000_RCTL), 0);
    assert_int_equal(rd(f, E1000_RAL0), 0x12005452);
    assert_int_equal(rd(f, E1000_TDLEN), 0);

    /* I/O window: IOADDR selects, IODATA accesses (Linux resets through it). */
    outl(f, IOBASE, E1000_STATUS);
    assert_int_equal(inl(f, IOBASE), E1000_STATUS);
    assert_true(inl(f, IOBASE + 4) & E1000_STATUS_LU);
    outl(f, IOBASE, E1000_TIPG);
    outl(f, IOBASE + 4, 0x00AA00BB);
    assert_int_equal(rd(f, E1000_TIPG), 0x00AA00BB);
    wr(f, E1000_IMS, 0xFF);
    outl(f, IOBASE, E1000_CTRL);
    outl(f, IOBASE + 4, E1000_CTRL_RST | E1000_CTRL_SLU);
    assert_int_equal(rd(f, E1000_IMS), 0);
    assert_int_equal(inl(f, IOBASE + 8), 0);
}

/* Linux e1000_hw.c Microwire sequence: raise REQ, wait for GNT, CS, shift
 * out 110b + 6 address bits on DI (clocking SK), shift in 16 bits on DO. */
static uint16_t ee_read_word(Fx *f, unsigned addr, int leading_zeros)
{
    uint32_t eecd = rd(f, E1000_EECD);
    wr(f, E1000_EECD, eecd | E1000_EECD_REQ);
    assert_true(rd(f, E1000_EECD) & E1000_EECD_GNT);
    assert_true(rd(f, E1000_EECD) & E1000_EECD_PRES);
    eecd = E1000_EECD_REQ;
    wr(f, E1000_EECD, eecd);
    eecd |= E1000_EECD_CS;
    wr(f, E1000_EECD, eecd);
    uint32_t cmd = (0x6u << 6) | addr;            /* start 1, READ 10, address */
    int nbits = 9 + leading_zeros;
    for (int b = nbits - 1; b >= 0; b--) {
        uint32_t v = (b < 9 && ((cmd >> b) & 1)) ? E1000_EECD_DI : 0;
        eecd = (eecd & ~E1000_EECD_DI) | v;
        wr(f, E1000_EECD, eecd);
        wr(f, E1000_EECD, eecd | E1000_EECD_SK);
        wr(f, E1000_EECD, eecd);
    }
    eecd &= ~E1000_EECD_DI;
    wr(f, E1000_EECD, eecd);
    uint16_t data = 0;
    for (int b = 0; b < 16; b++) {
        data = (uint16_t)(data << 1);
        wr(f, E1000_EECD, eecd | E1000_EECD_SK);
        if (rd(f, E1000_EECD) & E1000_EECD_DO)
            data |= 1;
        wr(f, E1000_EECD, eecd);
    }
    /* standby / release */
    wr(f, E1000_EECD, eecd & ~E1000_EECD_CS);
    wr(f, E1000_EECD, 0);
    return data;
}

static void test_eeprom_microwire(void **state)
{
    Fx *f = *state;
    uint16_t w[64];
    uint16_t sum = 0;
    for (unsigned a = 0; a < 64; a++) {
        w[a] = ee_read_word(f, a, 0);
        sum = (uint16_t)(sum + w[a]);
    }
    assert_int_equal(sum, 0xBABA);
    assert_int_equal(w[0], 0x5452);
    assert_int_equal(w[1], 0x1200);
    assert_int_equal(w[2], 0x5634);
    assert_int_equal(w[0x0B], 0x100E);
    assert_int_equal(w[0x0D], 0x100E);
    assert_int_equal(w[0x0E], 0x8086);
    assert_int_equal(w[0x0A] >> 14, 1);            /* valid signature 01b */
    /* Leading zeros before the start bit are ignored. */
    assert_int_equal(ee_read_word(f, 2, 3), 0x5634);

    /* Sequential read: keep clocking after word 5 to get word 6. */
    uint32_t eecd = E1000_EECD_REQ | E1000_EECD_CS;
    wr(f, E1000_EECD, E1000_EECD_REQ);
    wr(f, E1000_EECD, eecd);
    uint32_t cmd = (0x6u << 6) | 5;
    for (int b = 8; b >= 0; b--) {
        uint32_t e = eecd | (((cmd >> b) & 1) ? E1000_EECD_DI : 0);
        wr(f, E1000_EECD, e);
        wr(f, E1000_EECD, e | E1000_EECD_SK);
        wr(f, E1000_EECD, e);
    }
    uint32_t data = 0;
    for (int b = 0; b < 32; b++) {
        wr(f, E1000_EECD, eecd | E1000_EECD_SK);
        data = data << 1 | ((rd(f, E1000_EECD) & E1000_EECD_DO) ? 1 : 0);
        wr(f, E1000_EECD, eecd);
    }
    assert_int_equal(data, (uint32_t)w[5] << 16 | w[6]);
    wr(f, E1000_EECD, 0);
    /* A write opcode (01b) is ignored: word 3 is unchanged. */
    eecd = E1000_EECD_REQ | E1000_EECD_CS;
    wr(f, E1000_EECD, eecd);
    cmd = (0x5u << 6) | 3;
    for (int b = 8 + 16; b >= 0; b--) {
        uint32_t e = eecd | ((b >= 16 ? ((cmd >> (b - 16)) & 1) : 1) ? E1000_EECD_DI : 0);
        wr(f, E1000_EECD, e);
        wr(f, E1000_EECD, e | E1000_EECD_SK);
        wr(f, E1000_EECD, e);
    }
    wr(f, E1000_EECD, 0);
    assert_int_equal(ee_read_word(f, 3, 0), w[3]);
}

static void test_eerd(void **state)
{
    Fx *f = *state;
    uint16_t sum = 0;
    for (unsigned a = 0; a < 64; a++) {
        wr(f, E1000_EERD, E1000_EERD_START | a << 8);
        uint32_t v = rd(f, E1000_EERD);
        assert_true(v & E1000_EERD_DONE);
        assert_int_equal((v >> 8) & 0xFF, a);
        sum = (uint16_t)(sum + (v >> 16));
        if (a == 0)
            assert_int_equal(v >> 16, 0x5452);
        if (a == 2)
            assert_int_equal(v >> 16, 0x5634);
    }
    assert_int_equal(sum, 0xBABA);
    wr(f, E1000_EERD, E1000_EERD_START | 200 << 8);  /* past the end: done, no data */
    assert_int_equal(rd(f, E1000_EERD), E1000_EERD_DONE | 200 << 8);
    wr(f, E1000_EERD, 0x0300);                       /* no START: no read */
    assert_int_equal(rd(f, E1000_EERD) & E1000_EERD_DONE, 0);
}

static uint32_t mdic(Fx *f, uint32_t op, unsigned phy, unsigned reg, uint16_t data)
{
    wr(f, E1000_MDIC, op | phy << 21 | reg << 16 | data);
    uint32_t v = rd(f, E1000_MDIC);
    assert_true(v & E1000_MDIC_READY);
    return v;
}

static void test_mdic_phy_link(void **state)
{
    Fx *f = *state;
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_ID1, 0) & 0xFFFF, 0x0141);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_ID2, 0) & 0xFFFF, 0x0C20);
    uint32_t s = mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0);
    assert_int_equal(s & E1000_MDIC_ERROR, 0);
    assert_int_equal(s & 0xFFFF, 0x796D);                /* link, autoneg complete */
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_M88_SPEC_STATUS, 0) & 0x0400, 0x0400);
    /* Write and read back; the control register's self-clearing bits. */
    mdic(f, E1000_MDIC_OP_WRITE, 1, E1000_PHY_AUTONEG_ADV, 0x01E1);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_AUTONEG_ADV, 0) & 0xFFFF, 0x01E1);
    mdic(f, E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x1340);   /* restart autoneg */
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_CTRL, 0) & 0xFFFF, 0x1140);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x24, 0x24);
    mdic(f, E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x9140);   /* PHY reset */
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_AUTONEG_ADV, 0) & 0xFFFF, 0x0DE1);
    /* Errors: another PHY address, an unknown register, a read-only one. */
    assert_true(mdic(f, E1000_MDIC_OP_READ, 2, E1000_PHY_ID1, 0) & E1000_MDIC_ERROR);
    assert_true(mdic(f, E1000_MDIC_OP_READ, 1, 0x07, 0) & E1000_MDIC_ERROR);
    assert_true(mdic(f, E1000_MDIC_OP_WRITE, 1, E1000_PHY_ID1, 0x1234) & E1000_MDIC_ERROR);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_ID1, 0) & 0xFFFF, 0x0141);
    /* MDIC with the interrupt bit raises MDAC. */
    wr(f, E1000_IMS, E1000_ICR_MDAC);
    assert_int_equal(f->level, 0);
    mdic(f, E1000_MDIC_OP_READ | E1000_MDIC_INT_EN, 1, E1000_PHY_ID1, 0);
    assert_int_equal(f->level, 1);
    assert_int_equal(rd(f, E1000_ICR), E1000_ICR_MDAC);
    assert_int_equal(f->level, 0);

    /* Link down: STATUS.LU, PHY bits, LSC interrupt; receive refused. */
    wr(f, E1000_IMS, E1000_ICR_LSC);
    rx_setup(f, 8, 2048, 0);
    assert_true(e1000_can_receive(f->nic, 100));
    e1000_set_link(f->nic, false);
    assert_int_equal(rd(f, E1000_STATUS) & E1000_STATUS_LU, 0);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x24, 0);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_M88_SPEC_STATUS, 0) & 0x0400, 0);
    assert_int_equal(f->level, 1);
    assert_false(e1000_can_receive(f->nic, 100));
    uint8_t fr[64];
    simple_frame(fr, MAC, 64);
    assert_int_equal(e1000_receive(f->nic, fr, 64), 0);
    assert_int_equal(rd(f, E1000_ICR) & E1000_ICR_LSC, E1000_ICR_LSC);
    assert_int_equal(f->level, 0);
    int ready = f->rx_ready;
    e1000_set_link(f->nic, true);
    assert_true(rd(f, E1000_STATUS) & E1000_STATUS_LU);
    assert_int_equal(f->level, 1);
    assert_true(f->rx_ready > ready);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0xFFFF, 0x796D);
}

static void test_tx_legacy(void **state)
{
    Fx *f = *state;
    tx_setup(f, 8);
    wr(f, E1000_IMS, E1000_ICR_TXDW);
    uint8_t fr[200];
    simple_frame(fr, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 200);
    ram_write(f, TXBUF, fr, 120);
    ram_write(f, TXBUF + 0x1000, fr + 120, 80);
    tx_legacy_desc(f, 0, TXBUF, 120, 0, 0, 0);
    tx_legacy_desc(f, 1, TXBUF + 0x1000, 80, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 2);
    assert_int_equal(f->nframes, 1);
    assert_int_equal(f->flen[0], 200);
    assert_memory_equal(f->frames[0], fr, 200);
    assert_int_equal(rd(f, E1000_TDH), 2);
    assert_int_equal(tx_status(f, 0) & 1, 0);            /* no RS: not written back */
    assert_int_equal(tx_status(f, 1) & 1, E1000_TXD_STAT_DD);
    assert_int_equal(f->level, 1);
    uint32_t icr = rd(f, E1000_ICR);
    assert_int_equal(icr & (E1000_ICR_TXDW | E1000_ICR_TXQE), E1000_ICR_TXDW | E1000_ICR_TXQE);
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, E1000_BPTC), 1);

    /* Legacy checksum insertion (IC): CSS 14, CSO 24 over an IP header. */
    clear_frames(f);
    uint8_t tcp[200];
    size_t n = build_tcp(tcp, MAC, 20, 0x18, false);
    tcp[14 + 10] = tcp[14 + 11] = 0;
    ram_write(f, TXBUF, tcp, n);
    tx_legacy_desc(f, 2, TXBUF, (uint16_t)n, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC | E1000_TXD_CMD_RS, 24, 14);
    wr(f, E1000_TDT, 3);
    assert_int_equal(f->nframes, 1);
    /* the sum runs to the end of the frame: verify it that way */
    assert_int_equal(ref_sum(f->frames[0] + 14, n - 14, 0), 0xFFFF);

    /* Short frame padded with PSP; wrap of the ring. */
    clear_frames(f);
    for (uint32_t k = 3; k < 8; k++)
        tx_legacy_desc(f, k, TXBUF, 30, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    tx_legacy_desc(f, 0, TXBUF, 30, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 1);
    assert_int_equal(f->nframes, 6);
    assert_int_equal(f->flen[0], 60);
    assert_int_equal(rd(f, E1000_TDH), 1);
    /* Disabled transmitter: nothing moves. */
    wr(f, E1000_TCTL, 0);
    tx_legacy_desc(f, 1, TXBUF, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 2);
    assert_int_equal(rd(f, E1000_TDH), 1);
    wr(f, E1000_TCTL, E1000_TCTL_EN);
    assert_int_equal(rd(f, E1000_TDH), 2);
    assert_int_equal(f->nframes, 7);
}

static void test_tx_checksum_offload(void **state)
{
    Fx *f = *state;
    tx_setup(f, 16);
    /* TCP: the driver leaves the pseudo-header sum in the field. */
    uint8_t p[600];
    size_t n = build_tcp(p, MAC, 500, 0x18, false);
    uint8_t *ip = p + 14, *tcp = ip + 20;
    ip[10] = ip[11] = 0;
    uint16_t ph = ref_sum(NULL, 0, 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 6 + 520);
    tcp[16] = (uint8_t)(ph >> 8); tcp[17] = (uint8_t)ph;
    ram_write(f, TXBUF, p, 100);
    ram_write(f, TXBUF + 0x2000, p + 100, n - 100);
    tx_ctx_desc(f, 0, 14, 24, 33, 34, 50, 0, 0, E1000_TXD_TUCMD_IP | E1000_TXD_TUCMD_TCP, 0, 0);
    tx_data_desc(f, 1, TXBUF, 100, 0, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
    tx_data_desc(f, 2, TXBUF + 0x2000, (uint32_t)(n - 100), E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
    wr(f, E1000_TDT, 3);
    assert_int_equal(f->nframes, 1);
    assert_int_equal(f->flen[0], n);
    assert_true(ip_ok(f->frames[0] + 14));
    assert_true(l4_ok(f->frames[0] + 14));
    assert_memory_equal(f->frames[0] + 54, p + 54, 500);
    assert_int_equal(tx_status(f, 2) & 1, 1);

    /* UDP with TXSM only (IP header checksum supplied by the driver). */
    clear_frames(f);
    uint8_t u[100];
    memcpy(u, MAC, 6);
    memcpy(u + 6, "\x02\x00\x00\x00\x00\x01\x08\x00", 8);
    uint8_t *uip = u + 14;
    memset(uip, 0, 28);
    uip[0] = 0x45; uip[3] = 28 + 30; uip[8] = 64; uip[9] = 17;
    memcpy(uip + 12, "\xc0\xa8\x01\x01\xc0\xa8\x01\x02", 8);
    set_ip_csum(uip);
    uint8_t *udp = uip + 20;
    udp[0] = 0x30; udp[1] = 0x39; udp[2] = 0x00; udp[3] = 0x35; udp[5] = 38;
    for (int k = 0; k < 30; k++)
        udp[8 + k] = (uint8_t)(0xA0 + k);
    uint16_t uph = ref_sum(NULL, 0, 0xc0a8 + 0x0101 + 0xc0a8 + 0x0102 + 17 + 38);
    udp[6] = (uint8_t)(uph >> 8); udp[7] = (uint8_t)uph;
    ram_write(f, TXBUF, u, 72);
    tx_ctx_desc(f, 3, 14, 24, 33, 34, 40, 0, 0, E1000_TXD_TUCMD_IP, 0, 0);
    tx_data_desc(f, 4, TXBUF, 72, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, E1000_TXD_POPTS_TXSM);
    wr(f, E1000_TDT, 5);
    assert_int_equal(f->nframes, 1);
    assert_true(ip_ok(f->frames[0] + 14));
    assert_true(l4_ok(f->frames[0] + 14));
    assert_int_equal(rd(f, E1000_TDH), 5);
}

static void test_tso(void **state)
{
    Fx *f = *state;
    enum { PAY = 20000, MSS = 1460, HDR = 54 };
    tx_setup(f, 32);
    static uint8_t p[HDR + PAY];
    build_tcp(p, MAC, PAY, 0x19 /* FIN PSH ACK */ | 0x10, false);
    uint8_t *ip = p + 14, *tcp = ip + 20;
    /* As Linux prepares a TSO frame: tot_len 0, IP checksum 0, TCP
     * checksum = pseudo-header sum without length. */
    ip[2] = ip[3] = 0;
    ip[10] = ip[11] = 0;
    uint16_t ph = ref_sum(NULL, 0, 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 6);
    tcp[16] = (uint8_t)(ph >> 8); tcp[17] = (uint8_t)ph;
    ram_write(f, TXBUF, p, sizeof(p));
    tx_ctx_desc(f, 0, 14, 24, 33, 34, 50, 0, PAY,
                E1000_TXD_TUCMD_IP | E1000_TXD_TUCMD_TCP | E1000_TXD_TUCMD_TSE, HDR, MSS);
    /* header alone, then the payload in 4000-byte pieces */
    uint32_t idx = 1;
    tx_data_desc(f, idx++, TXBUF, HDR, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
    for (uint32_t off = 0; off < PAY; off += 4000) {
        uint32_t len = PAY - off < 4000 ? PAY - off : 4000;
        bool last = off + len == PAY;
        tx_data_desc(f, idx++, TXBUF + HDR + off, len,
                     E1000_TXD_CMD_TSE | (last ? E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS : 0), 0);
    }
    wr(f, E1000_TDT, idx);
    int nseg = (PAY + MSS - 1) / MSS;
    assert_int_equal(nseg, 14);
    assert_int_equal(f->nframes, nseg);
    uint32_t seq0 = nbo32(tcp + 4);
    size_t covered = 0;
    for (int k = 0; k < nseg; k++) {
        const uint8_t *s = f->frames[k];
        size_t pay = k < nseg - 1 ? MSS : PAY - (size_t)(nseg - 1) * MSS;
        assert_int_equal(f->flen[k], HDR + pay);
        const uint8_t *sip = s + 14, *stcp = sip + 20;
        assert_int_equal(nbo16(sip + 2), 40 + pay);            /* IP total length */
        assert_int_equal(nbo16(sip + 4), 0x1234 + k);          /* IP id increments */
        assert_true(ip_ok(sip));
        assert_int_equal(nbo32(stcp + 4), seq0 + (uint32_t)covered);
        assert_true(l4_ok(sip));
        uint8_t fl = stcp[13];
        if (k < nseg - 1)
            assert_int_equal(fl, 0x10);                        /* FIN, PSH only on the last */
        else
            assert_int_equal(fl, 0x19);
        assert_memory_equal(s + HDR, p + HDR + covered, pay);
        covered += pay;
    }
    assert_int_equal(covered, PAY);
    assert_int_equal(rd(f, E1000_TSCTC), 1);
    assert_int_equal(rd(f, E1000_GPTC), nseg);
    assert_int_equal(tx_status(f, idx - 1) & 1, 1);

    /* A TSO context with MSS 0 is refused without harm. */
    clear_frames(f);
    tx_ctx_desc(f, idx, 14, 24, 33, 34, 50, 0, 100,
                E1000_TXD_TUCMD_IP | E1000_TXD_TUCMD_TCP | E1000_TXD_TUCMD_TSE, HDR, 0);
    tx_data_desc(f, idx + 1, TXBUF, HDR + 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
                 E1000_TXD_POPTS_TXSM);
    wr(f, E1000_TDT, idx + 2);
    assert_int_equal(f->nframes, 0);
    assert_int_equal(rd(f, E1000_TSCTFC), 1);
    assert_int_equal(rd(f, E1000_TDH), idx + 2);
}

static void test_rx(void **state)
{
    Fx *f = *state;
    uint8_t fr[2000], buf[2048];
    uint16_t len;
    uint8_t st, er;
    wr(f, E1000_IMS, E1000_ICR_RXT0);
    rx_setup(f, 8, 2048, 0);
    int ready0 = f->rx_ready;
    assert_true(ready0 > 0);                            /* RDT/RCTL.EN told the backend */
    /* Unicast to us: stored with its FCS. */
    simple_frame(fr, MAC, 100);
    assert_true(e1000_can_receive(f->nic, 100));
    assert_int_equal(e1000_receive(f->nic, fr, 100), 100);
    rx_desc(f, 0, &len, &st, &er);
    assert_int_equal(len, 104);
    assert_int_equal(st & (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP), 3);
    assert_int_equal(er, 0);
    ram_read(f, RXBUF, buf, 104);
    assert_memory_equal(buf, fr, 100);
    assert_int_equal(rd(f, E1000_RDH), 1);
    assert_int_equal(f->level, 1);
    assert_true(rd(f, E1000_ICR) & E1000_ICR_RXT0);
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, E1000_GPRC), 1);
    assert_int_equal(rd(f, E1000_GORCL), 104);
    /* Another unicast address: filtered (consumed, nothing stored). */
    simple_frame(fr, (const uint8_t *)"\x52\x54\x00\x12\x34\x57", 100);
    assert_int_equal(e1000_receive(f->nic, fr, 100), 100);
    assert_int_equal(rd(f, E1000_RDH), 1);
    /* ... unless promiscuous (UPE), or in RAL/RAH[1]. */
    wr(f, E1000_RAL0 + 8, 0x12005452);
    wr(f, E1000_RAH0 + 8, 0x80005734);
    assert_int_equal(e1000_receive(f->nic, fr, 100), 100);
    assert_int_equal(rd(f, E1000_RDH), 2);
    wr(f, E1000_RAH0 + 8, 0);
    fr[5] = 0x99;
    wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_UPE);
    e1000_receive(f->nic, fr, 100);
    assert_int_equal(rd(f, E1000_RDH), 3);
    wr(f, E1000_RCTL, rd(f, E1000_RCTL) & ~E1000_RCTL_UPE);
    /* Broadcast with BAM; without BAM dropped. */
    simple_frame(fr, (const uint8_t *)"\xff\xff\xff\xff\xff\xff", 80);
    e1000_receive(f->nic, fr, 80);
    assert_int_equal(rd(f, E1000_RDH), 4);
    assert_int_equal(rd(f, E1000_BPRC), 1);
    wr(f, E1000_RCTL, rd(f, E1000_RCTL) & ~E1000_RCTL_BAM);
    e1000_receive(f->nic, fr, 80);
    assert_int_equal(rd(f, E1000_RDH), 4);
    /* Multicast 01:00:5e:00:00:fb: MTA hash with MO=0 is bits 47:36. */
    simple_frame(fr, (const uint8_t *)"\x01\x00\x5e\x00\x00\xfb", 80);
    e1000_receive(f->nic, fr, 80);
    assert_int_equal(rd(f, E1000_RDH), 4);
    unsigned h = (0x00 >> 4 | 0xfb << 4) & 0xFFF;
    wr(f, E1000_MTA + (h >> 5) * 4, 1u << (h & 31));
    e1000_receive(f->nic, fr, 80);
    assert_int_equal(rd(f, E1000_RDH), 5);
    assert_int_equal(rd(f, E1000_MPRC), 1);
    wr(f, E1000_MTA + (h >> 5) * 4, 0);
    wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_MPE);
    e1000_receive(f->nic, fr, 80);
    assert_int_equal(rd(f, E1000_RDH), 6);

    /* Ring of 8, RDT 7: one descriptor left (index 6); RXDMT0 fired. */
    assert_true(rd(f, E1000_ICR) & E1000_ICR_RXDMT0);
    simple_frame(fr, MAC, 64);
    assert_true(e1000_can_receive(f->nic, 64));
    e1000_receive(f->nic, fr, 64);
    assert_int_equal(rd(f, E1000_RDH), 7);
    /* Full: RXO, missed packet counted, 0 returned. */
    assert_false(e1000_can_receive(f->nic, 64));
    wr(f, E1000_IMS, E1000_ICR_RXO);
    rd(f, E1000_ICR);
    assert_int_equal(e1000_receive(f->nic, fr, 64), 0);
    assert_true(rd(f, E1000_ICR) & E1000_ICR_RXO);
    assert_int_equal(rd(f, E1000_MPC), 1);
    assert_int_equal(rd(f, E1000_RNBC), 1);
    /* Give back descriptors 7, 0, 1, 2: the head wraps. */
    int ready1 = f->rx_ready;
    wr(f, E1000_RDT, 3);
    assert_true(f->rx_ready > ready1);
    e1000_receive(f->nic, fr, 64);
    e1000_receive(f->nic, fr, 64);
    assert_int_equal(rd(f, E1000_RDH), 1);
    rx_desc(f, 0, &len, &st, &er);
    assert_int_equal(len, 68);
    /* Short frames are padded to 60 bytes (+ FCS). */
    e1000_receive(f->nic, fr, 20);
    rx_desc(f, 1, &len, &st, &er);
    assert_int_equal(len, 64);

    /* SECRC strips the FCS; 256-byte buffers: a 600-byte frame spans 3. */
    rx_setup(f, 16, 256, E1000_RCTL_SECRC);
    simple_frame(fr, MAC, 600);
    assert_int_equal(e1000_receive(f->nic, fr, 600), 600);
    assert_int_equal(rd(f, E1000_RDH), 3);
    uint16_t l0, l1, l2;
    uint8_t s0, s1, s2;
    rx_desc(f, 0, &l0, &s0, &er);
    rx_desc(f, 1, &l1, &s1, &er);
    rx_desc(f, 2, &l2, &s2, &er);
    assert_int_equal(l0, 256);
    assert_int_equal(l1, 256);
    assert_int_equal(l2, 88);
    assert_int_equal(s0, E1000_RXD_STAT_DD);
    assert_int_equal(s0 & E1000_RXD_STAT_EOP, 0);
    assert_int_equal(s1 & E1000_RXD_STAT_EOP, 0);
    assert_int_equal(s2 & (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP), 3);
    ram_read(f, RXBUF, buf, 256);
    assert_memory_equal(buf, fr, 256);
    ram_read(f, RXBUF + 2 * 256, buf, 88);
    assert_memory_equal(buf, fr + 512, 88);
    /* Too long without LPE: dropped and counted. */
    simple_frame(fr, MAC, 1600);
    assert_int_equal(e1000_receive(f->nic, fr, 1600), 1600);
    assert_int_equal(rd(f, E1000_RDH), 3);
    assert_int_equal(rd(f, E1000_ROC), 1);
    wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_LPE);
    e1000_receive(f->nic, fr, 1600);
    assert_int_equal(rd(f, E1000_RDH), 10);

    /* Receive checksum offload status. */
    rx_setup(f, 8, 2048, E1000_RCTL_SECRC);
    wr(f, E1000_RXCSUM, E1000_RXCSUM_IPOFL | E1000_RXCSUM_TUOFL);
    uint8_t t[200];
    size_t n = build_tcp(t, MAC, 100, 0x18, true);
    e1000_receive(f->nic, t, n);
    rx_desc(f, 0, &len, &st, &er);
    assert_int_equal(st & (E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS | E1000_RXD_STAT_IXSM),
                     E1000_RXD_STAT_IPCS | E1000_RXD_STAT_TCPCS);
    assert_int_equal(er, 0);
    t[60] ^= 0xFF;                                      /* corrupt the payload */
    e1000_receive(f->nic, t, n);
    rx_desc(f, 1, &len, &st, &er);
    assert_int_equal(er & (E1000_RXD_ERR_TCPE | E1000_RXD_ERR_IPE), E1000_RXD_ERR_TCPE);
    t[60] ^= 0xFF;
    t[14 + 8] = 1;                                      /* TTL: IP checksum now wrong */
    e1000_receive(f->nic, t, n);
    rx_desc(f, 2, &len, &st, &er);
    assert_true(er & E1000_RXD_ERR_IPE);
    wr(f, E1000_RXCSUM, 0);
    e1000_receive(f->nic, t, n);
    rx_desc(f, 3, &len, &st, &er);
    assert_true(st & E1000_RXD_STAT_IXSM);

    /* VLAN: stripped into the descriptor with VME. */
    wr(f, E1000_CTRL, rd(f, E1000_CTRL) | E1000_CTRL_VME);
    uint8_t v[100];
    simple_frame(v, MAC, 100);
    memmove(v + 16, v + 12, 84);
    v[12] = 0x81; v[13] = 0x00; v[14] = 0x20; v[15] = 0x05;
    e1000_receive(f->nic, v, 100);
    uint8_t d[16];
    ram_read(f, RXRING + 4 * 16, d, 16);
    assert_int_equal(get16(d + 8), 96);
    assert_true(d[12] & E1000_RXD_STAT_VP);
    assert_int_equal(get16(d + 14), 0x2005);
    /* Receiver disabled or bus mastering off: refused. */
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    assert_false(e1000_can_receive(f->nic, 60));
    assert_int_equal(e1000_receive(f->nic, v, 100), 0);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    wr(f, E1000_RCTL, 0);
    assert_int_equal(e1000_receive(f->nic, v, 100), 0);
}

static void test_interrupts(void **state)
{
    Fx *f = *state;
    /* ICS sets causes; INTA follows ICR & IMS. */
    wr(f, E1000_ICS, E1000_ICR_TXDW | E1000_ICR_LSC);
    assert_int_equal(f->level, 0);
    wr(f, E1000_IMS, E1000_ICR_LSC);
    assert_int_equal(f->level, 1);
    assert_int_equal(rd(f, E1000_IMS), E1000_ICR_LSC);
    wr(f, E1000_IMC, E1000_ICR_LSC);
    assert_int_equal(f->level, 0);
    wr(f, E1000_IMS, E1000_ICR_TXDW);
    assert_int_equal(f->level, 1);
    wr(f, E1000_ICR, E1000_ICR_TXDW);               /* write 1 to clear */
    assert_int_equal(f->level, 0);
    assert_int_equal(rd(f, E1000_ICR), E1000_ICR_LSC);
    assert_int_equal(rd(f, E1000_ICR), 0);
    assert_int_equal(rd(f, E1000_IMC), 0);
    /* INTx disable in PCI COMMAND masks the line. */
    wr(f, E1000_ICS, E1000_ICR_TXDW);
    assert_int_equal(f->level, 1);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
    assert_int_equal(f->level, 0);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_int_equal(f->level, 1);
    rd(f, E1000_ICR);
    wr(f, E1000_IMC, 0xFFFFFFFF);

    /* RDTR: RXT0 after 10 x 1.024 us without further frames; RADV caps it. */
    uint8_t fr[64];
    simple_frame(fr, MAC, 64);
    rx_setup(f, 32, 2048, 0);
    wr(f, E1000_IMS, E1000_ICR_RXT0);
    wr(f, E1000_RDTR, 10);
    wr(f, E1000_RADV, 25);
    e1000_receive(f->nic, fr, 64);
    assert_int_equal(f->level, 0);
    advance(f, 9 * 1024);
    assert_int_equal(f->level, 0);
    e1000_receive(f->nic, fr, 64);                  /* restarts the packet timer */
    advance(f, 9 * 1024);
    assert_int_equal(f->level, 0);
    e1000_receive(f->nic, fr, 64);
    advance(f, 7 * 1024 + 1);                       /* 25 us absolute from the first */
    assert_int_equal(f->level, 1);
    rd(f, E1000_ICR);
    assert_int_equal(f->level, 0);
    e1000_receive(f->nic, fr, 64);
    advance(f, 10 * 1024);
    assert_int_equal(f->level, 1);
    rd(f, E1000_ICR);
    /* FPD flushes the pending delay. */
    e1000_receive(f->nic, fr, 64);
    assert_int_equal(f->level, 0);
    wr(f, E1000_RDTR, 10 | 0x80000000u);
    assert_int_equal(f->level, 1);
    assert_int_equal(rd(f, E1000_RDTR), 10);
    rd(f, E1000_ICR);
    wr(f, E1000_RDTR, 0);
    wr(f, E1000_RADV, 0);

    /* TIDV: TXDW of a descriptor with IDE is delayed; without IDE at once. */
    tx_setup(f, 8);
    wr(f, E1000_IMS, E1000_ICR_TXDW);
    wr(f, E1000_TIDV, 8);
    ram_write(f, TXBUF, fr, 64);
    tx_legacy_desc(f, 0, TXBUF, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS | E1000_TXD_CMD_IDE, 0, 0);
    wr(f, E1000_TDT, 1);
    assert_int_equal(f->nframes, 1);
    assert_int_equal(f->level, 0);
    advance(f, 8 * 1024);
    assert_int_equal(f->level, 1);
    rd(f, E1000_ICR);
    tx_legacy_desc(f, 1, TXBUF, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 2);
    assert_int_equal(f->level, 1);
    rd(f, E1000_ICR);

    /* ITR: at most one assertion per ITR x 256 ns. */
    wr(f, E1000_ITR, 100);                          /* 25.6 us */
    wr(f, E1000_IMS, E1000_ICR_TXDW);
    int rises = f->rises;
    wr(f, E1000_ICS, E1000_ICR_TXDW);
    assert_int_equal(f->rises, rises + 1);
    rd(f, E1000_ICR);
    wr(f, E1000_ICS, E1000_ICR_TXDW);
    assert_int_equal(f->level, 0);                  /* inside the gap */
    advance(f, 25600 - 1);
    assert_int_equal(f->level, 0);
    advance(f, 1);
    assert_int_equal(f->level, 1);
    assert_int_equal(f->rises, rises + 2);
    rd(f, E1000_ICR);
    /* Masked causes do not open a gap. */
    wr(f, E1000_ITR, 0);
}

static void test_hostile_rings(void **state)
{
    Fx *f = *state;
    uint8_t fr[1600];
    simple_frame(fr, MAC, 200);
    ram_write(f, TXBUF, fr, 200);
    /* Transmit ring outside RAM: nothing processed, head stays. */
    tx_setup(f, 8);
    wr(f, E1000_TDBAL, 0xE0000000);
    wr(f, E1000_TDT, 3);
    assert_int_equal(rd(f, E1000_TDH), 0);
    assert_int_equal(f->nframes, 0);
    /* Ring straddling the end of RAM. */
    wr(f, E1000_TDBAL, RAM - 64);
    wr(f, E1000_TDLEN, 128);
    wr(f, E1000_TDT, 7);
    assert_true(rd(f, E1000_TDH) <= 4);
    /* Ring through the NIC's own BAR (MMIO is not RAM). */
    wr(f, E1000_TDBAL, MMIO);
    wr(f, E1000_TDH, 0);
    wr(f, E1000_TDT, 2);
    assert_int_equal(rd(f, E1000_TDH), 0);
    /* TDBAH set (above 4 GiB), length 0, head/tail beyond the length. */
    wr(f, E1000_TDBAL, TXRING);
    wr(f, E1000_TDBAH, 1);
    wr(f, E1000_TDT, 1);
    assert_int_equal(rd(f, E1000_TDH), 0);
    wr(f, E1000_TDBAH, 0);
    wr(f, E1000_TDLEN, 0);
    wr(f, E1000_TDT, 1);
    assert_int_equal(rd(f, E1000_TDH), 0);
    wr(f, E1000_TDLEN, 128);
    wr(f, E1000_TDH, 50);
    wr(f, E1000_TDT, 1);
    assert_int_equal(rd(f, E1000_TDH), 50);
    wr(f, E1000_TDH, 0);
    wr(f, E1000_TDT, 9000);
    assert_int_equal(rd(f, E1000_TDH), 0);
    assert_int_equal(f->nframes, 0);
    /* Buffer outside RAM: descriptor completes, frame not sent; the next
     * frame is fine. */
    tx_setup(f, 8);
    tx_legacy_desc(f, 0, 0xFFFFF000, 200, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    tx_legacy_desc(f, 1, RAM - 100, 200, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    uint8_t d[16] = { 0 };
    put64(d, 0x100000000ull + TXBUF);
    put32(d + 8, 200u | (uint32_t)(E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS) << 24);
    ram_write(f, TXRING + 2 * 16, d, 16);
    tx_legacy_desc(f, 3, TXBUF, 200, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 4);
    assert_int_equal(rd(f, E1000_TDH), 4);
    assert_int_equal(tx_status(f, 0) & 1, 1);
    assert_int_equal(f->nframes, 1);
    assert_memory_equal(f->frames[0], fr, 200);
    /* Data descriptor with a huge length: dropped. */
    tx_data_desc(f, 4, TXBUF, 0xFFFFF, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
    wr(f, E1000_TDT, 5);
    assert_int_equal(rd(f, E1000_TDH), 5);
    assert_int_equal(f->nframes, 1);
    /* Context offsets past the frame: no write outside it. */
    tx_ctx_desc(f, 5, 250, 255, 0xFFFF, 240, 254, 0xFFFF, 0, E1000_TXD_TUCMD_IP | E1000_TXD_TUCMD_TCP, 0, 0);
    tx_data_desc(f, 6, TXBUF, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
                 E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
    wr(f, E1000_TDT, 7);
    assert_int_equal(f->nframes, 2);
    assert_memory_equal(f->frames[1], fr, 60);
    /* TSO with a header longer than the data and odd offsets. */
    tx_setup(f, 8);
    tx_ctx_desc(f, 0, 200, 255, 3, 250, 254, 1, 5, 0xFF, 255, 1);
    tx_data_desc(f, 1, TXBUF, 10, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0xFF);
    tx_data_desc(f, 2, TXBUF, 600, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0xFF);
    wr(f, E1000_TDT, 3);
    assert_int_equal(rd(f, E1000_TDH), 3);
    clear_frames(f);

    /* Receive ring outside RAM: frame dropped, head unchanged. */
    rx_setup(f, 8, 2048, 0);
    wr(f, E1000_RDBAL, 0xD0000000);
    e1000_receive(f->nic, fr, 100);
    assert_int_equal(rd(f, E1000_RDH), 0);
    wr(f, E1000_RDBAL, RAM - 32);
    e1000_receive(f->nic, fr, 100);
    e1000_receive(f->nic, fr, 100);
    e1000_receive(f->nic, fr, 100);
    assert_true(rd(f, E1000_RDH) <= 2);
    /* RDLEN 0, head or tail past the end, RDBAH. */
    rx_setup(f, 8, 2048, 0);
    wr(f, E1000_RDLEN, 0);
    assert_false(e1000_can_receive(f->nic, 60));
    assert_int_equal(e1000_receive(f->nic, fr, 100), 0);
    wr(f, E1000_RDLEN, 128);
    wr(f, E1000_RDH, 8);
    assert_int_equal(e1000_receive(f->nic, fr, 100), 0);
    wr(f, E1000_RDH, 0);
    wr(f, E1000_RDT, 200);
    assert_int_equal(e1000_receive(f->nic, fr, 100), 0);
    wr(f, E1000_RDT, 7);
    wr(f, E1000_RDBAH, 0x10);
    assert_int_equal(e1000_receive(f->nic, fr, 100), 0);
    wr(f, E1000_RDBAH, 0);
    /* Buffer address outside RAM / above 4 GiB / null: RXE, ring moves on. */
    uint8_t rd0[16] = { 0 };
    put64(rd0, 0xFFFFFF00);
    ram_write(f, RXRING, rd0, 16);
    put64(rd0, 0x1000000000ull);
    ram_write(f, RXRING + 16, rd0, 16);
    put64(rd0, 0);
    ram_write(f, RXRING + 32, rd0, 16);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(e1000_receive(f->nic, fr, 100), 100);
        uint16_t len;
        uint8_t st, er;
        rx_desc(f, (uint32_t)k, &len, &st, &er);
        assert_true(st & E1000_RXD_STAT_DD);
        assert_true(er & E1000_RXD_ERR_RXE);
    }
    assert_int_equal(rd(f, E1000_RDH), 3);
    e1000_receive(f->nic, fr, 100);
    uint16_t len;
    uint8_t st, er;
    rx_desc(f, 3, &len, &st, &er);
    assert_int_equal(er, 0);
    /* Oversized and undersized frames from the backend. */
    static uint8_t big[NETDEV_MAX_FRAME + 10];
    memcpy(big, MAC, 6);
    assert_int_equal(e1000_receive(f->nic, big, sizeof(big)), sizeof(big));
    assert_int_equal(e1000_receive(f->nic, big, 5), 5);
    assert_int_equal(rd(f, E1000_RDH), 4);
}

static void test_random_writes(void **state)
{
    Fx *f = *state;
    srand(4242);
    uint8_t fr[1600];
    simple_frame(fr, MAC, 1500);
    static const uint32_t hot[] = {
        E1000_CTRL, E1000_EECD, E1000_EERD, E1000_MDIC, E1000_ICR, E1000_ICS, E1000_IMS, E1000_IMC,
        E1000_ITR, E1000_RCTL, E1000_TCTL, E1000_RDBAL, E1000_RDBAH, E1000_RDLEN, E1000_RDH, E1000_RDT,
        E1000_RDTR, E1000_RADV, E1000_TDBAL, E1000_TDBAH, E1000_TDLEN, E1000_TDH, E1000_TDT, E1000_TIDV,
        E1000_TADV, E1000_RXCSUM, E1000_RAL0, E1000_RAH0, E1000_MTA, E1000_VET, E1000_VFTA,
    };
    for (int it = 0; it < 30000; it++) {
        uint32_t v = (uint32_t)rand() ^ ((uint32_t)rand() << 16);
        int kind = rand() % 10;
        if (kind < 5) {
            uint32_t reg = hot[rand() % (int)(sizeof(hot) / sizeof(hot[0]))];
            /* keep ring registers plausible half of the time */
            if ((reg == E1000_RDBAL || reg == E1000_TDBAL) && (rand() & 1))
                v = (uint32_t)(rand() % (int)RAM);
            if ((reg == E1000_RDLEN || reg == E1000_TDLEN || reg == E1000_RDT || reg == E1000_TDT ||
                 reg == E1000_RDH || reg == E1000_TDH) && (rand() & 1))
                v &= 0x3FF;
            if (reg == E1000_CTRL && (rand() % 8))
                v &= ~E1000_CTRL_RST;
            wr(f, reg, v);
        } else if (kind == 5) {
            wr(f, (uint32_t)(rand() % E1000_MMIO_SIZE) & ~3u, v);
        } else if (kind == 6) {
            rd(f, (uint32_t)(rand() % E1000_MMIO_SIZE) & ~3u);
            phys_write(&f->pm, MMIO + (uint32_t)(rand() % E1000_MMIO_SIZE), v, 1u << (rand() % 3));
        } else if (kind == 7) {
            iobus_write(&f->io, (uint16_t)(IOBASE + rand() % E1000_IO_SIZE), v, 1u << (rand() % 3));
            iobus_read(&f->io, (uint16_t)(IOBASE + rand() % E1000_IO_SIZE), 4);
        } else if (kind == 8) {
            /* random guest memory under the rings */
            uint32_t a = (uint32_t)(rand() % (int)(RAM - 4));
            phys_write(&f->pm, a, v, 4);
            phys_write(&f->pm, RXRING + (uint32_t)(rand() % 4096), v, 4);
            phys_write(&f->pm, TXRING + (uint32_t)(rand() % 4096), v, 4);
        } else {
            size_t n = 14 + (size_t)(rand() % 1500);
            if (rand() & 1)
                fr[0] = (uint8_t)rand();
            else
                memcpy(fr, MAC, 6);
            e1000_can_receive(f->nic, n);
            e1000_receive(f->nic, fr, n);
            advance(f, rand() % 100000);
        }
        if (f->nframes > 32)
            clear_frames(f);
    }
    /* still a working device after a reset */
    wr(f, E1000_CTRL, E1000_CTRL_RST);
    cfg_write(f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_int_equal(rd(f, E1000_RAL0), 0x12005452);
    wr(f, E1000_EERD, E1000_EERD_START);
    assert_int_equal(rd(f, E1000_EERD) >> 16, 0x5452);
}

static void test_state_roundtrip(void **state)
{
    Fx *f = *state;
    char err[256];
    assert_int_equal(state_check(&e1000_state, sizeof(E1000), err, sizeof(err)), 0);
    uint8_t fr[200];
    simple_frame(fr, MAC, 100);
    rx_setup(f, 8, 2048, 0);
    wr(f, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
    wr(f, E1000_RDTR, 50);
    e1000_receive(f->nic, fr, 100);          /* RXT0 pending on the timer */
    tx_setup(f, 8);
    /* half a frame: first descriptor without EOP */
    ram_write(f, TXBUF, fr, 100);
    tx_legacy_desc(f, 0, TXBUF, 60, 0, 0, 0);
    wr(f, E1000_TDT, 1);
    /* EEPROM mid-command: CS high, start bit and opcode shifted in */
    uint32_t eecd = E1000_EECD_REQ | E1000_EECD_CS;
    wr(f, E1000_EECD, eecd);
    uint32_t cmd = (0x6u << 6) | 1;
    for (int b = 8; b >= 4; b--) {
        uint32_t e = eecd | (((cmd >> b) & 1) ? E1000_EECD_DI : 0);
        wr(f, E1000_EECD, e);
        wr(f, E1000_EECD, e | E1000_EECD_SK);
        wr(f, E1000_EECD, e);
    }
    e1000_set_link(f->nic, false);
    e1000_set_link(f->nic, true);
    wr(f, E1000_MDIC, E1000_MDIC_OP_WRITE | 1u << 21 | (uint32_t)E1000_PHY_AUTONEG_ADV << 16 | 0x0061);

    long n = state_save(&e1000_state, f->nic, NULL, 0);
    assert_true(n > 0);
    uint8_t *snap = malloc((size_t)n);
    assert_int_equal(state_save(&e1000_state, f->nic, snap, (size_t)n), n);
    uint32_t regs_before[E1000_REG_SPAN / 4];
    memcpy(regs_before, f->nic->regs, sizeof(regs_before));

    e1000_reset(f->nic);
    assert_int_equal(rd(f, E1000_RDLEN), 0xFFFFFFFF);   /* BAR unmapped by the reset */
    assert_int_equal(state_load(&e1000_state, f->nic, e1000_state.version, snap, (size_t)n, err,
                                sizeof(err)), 0);
    assert_memory_equal(f->nic->regs, regs_before, sizeof(regs_before));
    /* BARs decode again, the timer fires at its saved time. */
    assert_int_equal(rd(f, E1000_RDH), 1);
    assert_int_equal(f->level, 0);
    advance(f, 50 * 1024);
    assert_int_equal(f->level, 1);
    rd(f, E1000_ICR);
    /* The transmit frame completes with the rest of it. */
    tx_legacy_desc(f, 1, TXBUF + 60, 40, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0);
    wr(f, E1000_TDT, 2);
    assert_int_equal(f->nframes, 1);
    assert_int_equal(f->flen[0], 100);
    assert_memory_equal(f->frames[0], fr, 100);
    /* The EEPROM read continues: address bits 0001b then data of word 1. */
    for (int b = 3; b >= 0; b--) {
        uint32_t e = eecd | (((cmd >> b) & 1) ? E1000_EECD_DI : 0);
        wr(f, E1000_EECD, e);
        wr(f, E1000_EECD, e | E1000_EECD_SK);
        wr(f, E1000_EECD, e);
    }
    uint16_t data = 0;
    for (int b = 0; b < 16; b++) {
        wr(f, E1000_EECD, eecd | E1000_EECD_SK);
        data = (uint16_t)(data << 1 | ((rd(f, E1000_EECD) & E1000_EECD_DO) ? 1 : 0));
        wr(f, E1000_EECD, eecd);
    }
    assert_int_equal(data, 0x1200);
    wr(f, E1000_EECD, 0);
    assert_int_equal(mdic(f, E1000_MDIC_OP_READ, 1, E1000_PHY_AUTONEG_ADV, 0) & 0xFFFF, 0x0061);

    /* Corrupt state is rejected. */
    E1000 *tmp = malloc(sizeof(E1000));
    memcpy(tmp, f->nic, sizeof(E1000));
    tmp->ee_state = 9;
    tmp->pci.bus = NULL;
    long m = state_save(&e1000_state, tmp, snap, (size_t)n);
    assert_int_equal(m, n);
    tmp->ee_state = 0;
    assert_int_not_equal(state_load(&e1000_state, tmp, e1000_state.version, snap, (size_t)n, err,
                                    sizeof(err)), 0);
    free(tmp);
    free(snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pci_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eeprom_microwire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eerd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mdic_phy_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_legacy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_checksum_offload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tso, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_rings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
