/*
 * ide.c - PIIX3 IDE function, ATA disk and ATAPI CD-ROM state machine
 * (see ide.h for sources and the overall model).
 */
#include "devices/ide.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* STATUS bits (ATA-6 7.15.6). */
#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DSC  0x10
#define ST_DF   0x20
#define ST_DRDY 0x40
#define ST_BSY  0x80

/* ERROR bits (ATA-6 7.9.6). */
#define ER_AMNF 0x01
#define ER_ABRT 0x04
#define ER_IDNF 0x10
#define ER_UNC  0x40

/* DEVICE CONTROL (ATA-6 7.8). */
#define DC_NIEN 0x02
#define DC_SRST 0x04
#define DC_HOB  0x80

/* Device register bits. */
#define DEV_LBA 0x40
#define DEV_DEV 0x10

/* Bus master IDE (PIIX3 datasheet 2.7.x: BMICX, BMISX, BMIDTPX). */
#define BM_CMD_START 0x01
#define BM_CMD_WRITE 0x08     /* 1 = bus master writes memory (device read) */
#define BM_ST_ACTIVE 0x01
#define BM_ST_ERROR  0x02
#define BM_ST_INT    0x04
#define BM_ST_DMA0   0x20
#define BM_ST_DMA1   0x40
#define PRD_EOT      0x80000000u

/* ATAPI interrupt reason in the sector count register (SFF-8020i 5.13). */
#define IR_COD 0x01
#define IR_IO  0x02

/* Sense keys / ASCs (MMC-2 / SPC). */
#define SK_NOT_READY       0x02
#define SK_MEDIUM_ERROR    0x03
#define SK_ILLEGAL_REQUEST 0x05
#define SK_UNIT_ATTENTION  0x06
#define SK_ABORTED_COMMAND 0x0B
#define ASC_INV_OPCODE     0x20
#define ASC_LBA_RANGE      0x21
#define ASC_INV_FIELD      0x24
#define ASC_MEDIUM_CHANGED 0x28
#define ASC_SAVE_NOT_SUPP  0x39
#define ASC_NO_MEDIUM      0x3A
#define ASC_REMOVAL_PREVENTED 0x53
#define ASC_READ_ERROR     0x11

#define CD_SECTOR 2048u
#define MAX_MULT 16

enum { XFER_NONE, XFER_PIO_IN, XFER_PIO_OUT, XFER_PACKET, XFER_ATAPI_IN, XFER_DMA };

/* ---------------------------------------------------------------------- */
/* Interrupts                                                              */

static void ch_update_irq(IdeChannel *ch)
{
    uint8_t lvl = ch->intrq && !(ch->devctl & DC_NIEN);
    if (lvl != ch->irq_level) {
        ch->irq_level = lvl;
        irq_set(&ch->irq, lvl);
    }
}

/* The device asserts INTRQ (ATA-6 5.2.9); the bus master latches it in
 * BMISX bit 2 (PIIX3 datasheet, Interrupt bit). */
static void ide_raise(IdeChannel *ch)
{
    ch->intrq = 1;
    ch->bm_status |= BM_ST_INT;
    ch_update_irq(ch);
}

static void ide_lower(IdeChannel *ch)
{
    ch->intrq = 0;
    ch_update_irq(ch);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static uint64_t drive_sectors(const IdeDrive *d)
{
    return d->bd ? blockdev_sectors(d->bd) : 0;
}

static void set_signature(IdeDrive *d)
{
    d->select &= (uint8_t)~0x0F;
    d->nsector = 1;
    d->sector = 1;
    if (!d->present) {
        d->lcyl = 0xFF;
        d->hcyl = 0xFF;
    } else if (d->cdrom) {
        d->lcyl = 0x14;
        d->hcyl = 0xEB;
    } else {
        d->lcyl = 0;
        d->hcyl = 0;
    }
}

static void xfer_stop(IdeChannel *ch)
{
    ch->xfer = XFER_NONE;
    ch->xfer_dma = 0;
    ch->io_pos = ch->io_len = 0;
    ch->xfer_left = 0;
    ch->atapi_chunk = 0;
}

static void cmd_done(IdeChannel *ch, IdeDrive *d)
{
    xfer_stop(ch);
    d->status = ST_DRDY | ST_DSC;
    ide_raise(ch);
}

static void cmd_error(IdeChannel *ch, IdeDrive *d, uint8_t err)
{
    xfer_stop(ch);
    d->error = err;
    d->status = ST_DRDY | ST_DSC | ST_ERR;
    ide_raise(ch);
}

static void cmd_abort(IdeChannel *ch, IdeDrive *d) { cmd_error(ch, d, ER_ABRT); }

/* The address in the command block registers: LBA28/LBA48 or CHS
 * (ATA-6 6.2).  false for an invalid CHS address. */
static bool get_lba(const IdeDrive *d, bool lba48, uint64_t *out)
{
    if (lba48) {
        *out = (uint64_t)d->hob_hcyl << 40 | (uint64_t)d->hob_lcyl << 32 |
               (uint64_t)d->hob_sector << 24 | (uint64_t)d->hcyl << 16 |
               (uint64_t)d->lcyl << 8 | d->sector;
        return true;
    }
    if (d->select & DEV_LBA) {
        *out = (uint64_t)(d->select & 0x0F) << 24 | (uint64_t)d->hcyl << 16 |
               (uint64_t)d->lcyl << 8 | d->sector;
        return true;
    }
    uint32_t cyl = (uint32_t)d->hcyl << 8 | d->lcyl;
    uint32_t head = d->select & 0x0F;
    if (d->sector == 0 || d->sector > d->cur_secs || head >= d->cur_heads || d->cur_secs == 0)
        return false;
    *out = ((uint64_t)cyl * d->cur_heads + head) * d->cur_secs + d->sector - 1;
    return true;
}

static void set_lba(IdeDrive *d, bool lba48, uint64_t lba)
{
    if (lba48) {
        d->sector = (uint8_t)lba;
        d->lcyl = (uint8_t)(lba >> 8);
        d->hcyl = (uint8_t)(lba >> 16);
        d->hob_sector = (uint8_t)(lba >> 24);
        d->hob_lcyl = (uint8_t)(lba >> 32);
        d->hob_hcyl = (uint8_t)(lba >> 40);
    } else if (d->select & DEV_LBA) {
        d->sector = (uint8_t)lba;
        d->lcyl = (uint8_t)(lba >> 8);
        d->hcyl = (uint8_t)(lba >> 16);
        d->select = (uint8_t)((d->select & 0xF0) | ((lba >> 24) & 0x0F));
    } else if (d->cur_heads && d->cur_secs) {
        uint32_t hs = (uint32_t)d->cur_heads * d->cur_secs;
        uint64_t cyl = lba / hs;
        uint32_t r = (uint32_t)(lba % hs);
        if (cyl > 0xFFFF)
            cyl = 0xFFFF;
        d->lcyl = (uint8_t)cyl;
        d->hcyl = (uint8_t)(cyl >> 8);
        d->select = (uint8_t)((d->select & 0xF0) | ((r / d->cur_secs) & 0x0F));
        d->sector = (uint8_t)(r % d->cur_secs + 1);
    }
}

static void put_word(uint8_t *p, int w, uint16_t v)
{
    p[2 * w] = (uint8_t)v;
    p[2 * w + 1] = (uint8_t)(v >> 8);
}

/* ATA strings: two characters per word, first in the high byte, space padded. */
static void put_string(uint8_t *p, int w, int nwords, const char *str)
{
    size_t len = strlen(str);
    for (int i = 0; i < nwords * 2; i++) {
        char c = (size_t)i < len ? str[i] : ' ';
        p[2 * w + (i ^ 1)] = (uint8_t)c;
    }
}

static void be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v)
{
    be16(p, v >> 16);
    be16(p + 2, v);
}

/* ---------------------------------------------------------------------- */
/* Data streams: disk sectors (512), CD sectors (2048) or a prepared buffer */

/* Load the next run of sectors into io_buf (reads).  max = sectors cap. */
static int stream_fill(IdeChannel *ch, IdeDrive *d, uint32_t max)
{
    uint32_t cap = IDE_BUF_SIZE / ch->xfer_ssize;
    uint32_t n = ch->xfer_left < cap ? ch->xfer_left : cap;
    if (max && n > max)
        n = max;
    uint32_t per = ch->xfer_ssize / BLOCKDEV_SECTOR;
    int r = blockdev_read(d->bd, ch->xfer_lba * per, ch->io_buf, n * per);
    if (r < 0)
        return r;
    ch->io_pos = 0;
    ch->io_len = n * ch->xfer_ssize;
    ch->xfer_lba += n;
    ch->xfer_left -= n;
    return 0;
}

/* Size io_buf for the next run of sectors to be written. */
static void stream_prep_write(IdeChannel *ch, uint32_t max)
{
    uint32_t cap = IDE_BUF_SIZE / ch->xfer_ssize;
    uint32_t n = ch->xfer_left < cap ? ch->xfer_left : cap;
    if (max && n > max)
        n = max;
    ch->io_pos = 0;
    ch->io_len = n * ch->xfer_ssize;
}

/* Store the full io_buf.  Returns 0 or -errno. */
static int stream_flush(IdeChannel *ch, IdeDrive *d)
{
    uint32_t n = ch->io_len / ch->xfer_ssize;
    uint32_t per = ch->xfer_ssize / BLOCKDEV_SECTOR;
    int r = blockdev_write(d->bd, ch->xfer_lba * per, ch->io_buf, n * per);
    if (r < 0)
        return r;
    ch->xfer_lba += n;
    ch->xfer_left -= n;
    return 0;
}

static uint8_t io_error_bits(int r) { return r == -EIO ? ER_UNC : ER_ABRT; }

/* ---------------------------------------------------------------------- */
/* ATA PIO                                                                 */

/* Next DRQ block of a PIO data-in command (ATA-6 9.7): INTRQ per block. */
static void pio_in_next(IdeChannel *ch, IdeDrive *d)
{
    if (ch->xfer_left == 0) {
        xfer_stop(ch);
        d->status = ST_DRDY | ST_DSC;   /* no interrupt after the last block */
        return;
    }
    uint64_t first = ch->xfer_lba;
    int r = stream_fill(ch, d, ch->xfer_block);
    if (r < 0) {
        set_lba(d, ch->xfer_lba48, first);
        cmd_error(ch, d, io_error_bits(r));
        return;
    }
    set_lba(d, ch->xfer_lba48, ch->xfer_lba);
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    ide_raise(ch);
}

/* Start a PIO data-in transfer of a prepared buffer (IDENTIFY). */
static void pio_in_buffer(IdeChannel *ch, IdeDrive *d, uint32_t len)
{
    ch->xfer = XFER_PIO_IN;
    ch->xfer_unit = (uint8_t)(d - ch->drive);
    ch->xfer_left = 0;
    ch->io_pos = 0;
    ch->io_len = len;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    ide_raise(ch);
}

/* ---------------------------------------------------------------------- */
/* IDENTIFY                                                                */

static void identify_common(IdeDrive *d, uint8_t *p, int unit)
{
    char serial[21];
    snprintf(serial, sizeof(serial), "VS%04d%s", unit, d->cdrom ? "CD" : "HD");
    put_string(p, 10, 10, serial);
    put_string(p, 23, 4, "1.0");
    put_string(p, 27, 20, d->cdrom ? "VESSEL DVD-ROM" : "VESSEL HARDDISK");
    uint8_t mode = d->xfer_mode;
    put_word(p, 62, 0x07);
    put_word(p, 63, (uint16_t)(0x07 | ((mode & 0xF8) == 0x20 ? 0x100 << (mode & 7) : 0)));
    put_word(p, 64, 0x03);
    put_word(p, 88, (uint16_t)(0x3F | ((mode & 0xF8) == 0x40 ? 0x100 << (mode & 7) : 0)));
}

/* IDENTIFY DEVICE data (ATA-6 8.15). */
static void identify_disk(IdeDrive *d, uint8_t *p, int unit)
{
    memset(p, 0, 512);
    uint64_t total = drive_sectors(d);
    uint32_t lba28 = total > 0x0FFFFFFF ? 0x0FFFFFFF : (uint32_t)total;
    put_word(p, 0, 0x0040);
    put_word(p, 1, d->cyls);
    put_word(p, 3, d->heads);
    put_word(p, 4, (uint16_t)(512 * d->secs));
    put_word(p, 5, 512);
    put_word(p, 6, d->secs);
    put_word(p, 20, 3);
    put_word(p, 21, 512);
    put_word(p, 22, 4);
    identify_common(d, p, unit);
    put_word(p, 47, 0x8000 | MAX_MULT);
    put_word(p, 48, 1);
    put_word(p, 49, (1 << 11) | (1 << 9) | (1 << 8));   /* IORDY, LBA, DMA */
    put_word(p, 51, 0x200);
    put_word(p, 52, 0x200);
    put_word(p, 53, 1 | 2 | 4);                          /* 54-58, 64-70, 88 valid */
    put_word(p, 54, d->cur_cyls);
    put_word(p, 55, d->cur_heads);
    put_word(p, 56, d->cur_secs);
    uint32_t chs = (uint32_t)d->cur_cyls * d->cur_heads * d->cur_secs;
    put_word(p, 57, (uint16_t)chs);
    put_word(p, 58, (uint16_t)(chs >> 16));
    if (d->mult_sectors)
        put_word(p, 59, (uint16_t)(0x100 | d->mult_sectors));
    put_word(p, 60, (uint16_t)lba28);
    put_word(p, 61, (uint16_t)(lba28 >> 16));
    put_word(p, 65, 120);
    put_word(p, 66, 120);
    put_word(p, 67, 120);
    put_word(p, 68, 120);
    put_word(p, 80, 0xF0);                               /* ATA-4..7 */
    put_word(p, 81, 0x16);
    put_word(p, 82, (1 << 14) | (1 << 5));               /* NOP, write cache */
    put_word(p, 83, (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10)); /* FLUSH EXT, FLUSH, LBA48 */
    put_word(p, 84, 1 << 14);
    put_word(p, 85, (1 << 14) | (1 << 5));
    put_word(p, 86, (1 << 13) | (1 << 12) | (1 << 10));
    put_word(p, 87, 1 << 14);
    put_word(p, 93, 0x6001);                             /* hardware reset result (as QEMU) */
    put_word(p, 100, (uint16_t)total);
    put_word(p, 101, (uint16_t)(total >> 16));
    put_word(p, 102, (uint16_t)(total >> 32));
    put_word(p, 103, (uint16_t)(total >> 48));
}

/* IDENTIFY PACKET DEVICE data (ATA-6 8.16). */
static void identify_packet(IdeDrive *d, uint8_t *p, int unit)
{
    memset(p, 0, 512);
    /* ATAPI, CD-ROM (type 5), removable, DRQ within 50us, 12-byte packets. */
    put_word(p, 0, (2 << 14) | (5 << 8) | (1 << 7) | (2 << 5));
    identify_common(d, p, unit);
    put_word(p, 48, 1);
    put_word(p, 49, (1 << 9) | (1 << 8));                /* LBA, DMA */
    put_word(p, 53, 7);
    put_word(p, 65, 0xB4);
    put_word(p, 66, 0xB4);
    put_word(p, 67, 0x12C);
    put_word(p, 68, 0xB4);
    put_word(p, 71, 30);
    put_word(p, 72, 30);
    put_word(p, 80, 0x1E);                               /* ATAPI-1..4 */
}

/* ---------------------------------------------------------------------- */
/* Bus master DMA                                                          */

static bool cmd_is_write(uint8_t cmd)
{
    return cmd == 0xCA || cmd == 0x35 || cmd == 0x30 || cmd == 0x34 || cmd == 0xC5 ||
           cmd == 0x39;
}

static void atapi_error(IdeChannel *ch, IdeDrive *d, uint8_t key, uint8_t asc);
static void atapi_ok(IdeChannel *ch, IdeDrive *d);

/* The drive's data phase ended with an error (disk or ATAPI). */
static void dma_fail(IdeChannel *ch, IdeDrive *d, int r, uint8_t atapi_key, uint8_t atapi_asc)
{
    ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
    if (d->cdrom)
        atapi_error(ch, d, atapi_key, atapi_asc);
    else
        cmd_error(ch, d, r < 0 ? io_error_bits(r) : ER_ABRT);
}

/*
 * Run a pending DMA data phase against the descriptor table at BMIDTPX
 * (PIIX3 datasheet 2.7.3: 8-byte PRDs, base bits 31:1, byte count bits 15:1
 * with 0 = 64 KiB, EOT bit 31; the table may not cross a 64 KiB boundary).
 * Everything goes through phys_dma_read/phys_dma_write; a PRD or buffer
 * outside RAM sets the BMISX error bit and fails the command.
 */
static void bm_run(IdeController *s, IdeChannel *ch)
{
    IdeDrive *d = &ch->drive[ch->xfer_unit & 1];
    bool to_mem = d->cdrom || !cmd_is_write(ch->xfer_cmd);
    uint32_t prd = ch->bm_prd & ~3u;
    bool eot = false, exact_eot = false;

    if (!to_mem)
        stream_prep_write(ch, 0);
    for (;;) {
        bool data_done = to_mem ? (ch->io_pos >= ch->io_len && ch->xfer_left == 0)
                                : ch->xfer_left == 0;
        if (data_done)
            break;
        if (eot) {
            /* Descriptors exhausted with data left: the driver gave too
             * short a table.  Fail the command (no host fault). */
            dma_fail(ch, d, 0, SK_ABORTED_COMMAND, 0);
            return;
        }
        uint8_t e[8];
        if (phys_dma_read(s->pm, prd, e, 8) < 0) {
            ch->bm_status |= BM_ST_ERROR;
            dma_fail(ch, d, 0, SK_ABORTED_COMMAND, 0);
            return;
        }
        uint32_t addr = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 |
                        (uint32_t)e[3] << 24;
        uint32_t hi = (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 |
                      (uint32_t)e[7] << 24;
        addr &= ~1u;
        uint32_t cnt = hi & 0xFFFE;
        if (cnt == 0)
            cnt = 0x10000;
        eot = hi & PRD_EOT;
        prd += 8;
        if ((prd & 0xFFFF) == 0)
            eot = true;             /* end of the 64 KiB table window */
        while (cnt) {
            uint32_t n;
            if (to_mem) {
                if (ch->io_pos >= ch->io_len) {
                    if (ch->xfer_left == 0)
                        break;
                    uint64_t first = ch->xfer_lba;
                    int r = stream_fill(ch, d, 0);
                    if (r < 0) {
                        if (!d->cdrom)
                            set_lba(d, ch->xfer_lba48, first);
                        dma_fail(ch, d, r, SK_MEDIUM_ERROR, ASC_READ_ERROR);
                        return;
                    }
                }
                n = ch->io_len - ch->io_pos;
                if (n > cnt)
                    n = cnt;
                if (phys_dma_write(s->pm, addr, ch->io_buf + ch->io_pos, n) < 0) {
                    ch->bm_status |= BM_ST_ERROR;
                    dma_fail(ch, d, 0, SK_ABORTED_COMMAND, 0);
                    return;
                }
            } else {
                if (ch->xfer_left == 0)
                    break;
                n = ch->io_len - ch->io_pos;
                if (n > cnt)
                    n = cnt;
                if (phys_dma_read(s->pm, addr, ch->io_buf + ch->io_pos, n) < 0) {
                    ch->bm_status |= BM_ST_ERROR;
                    dma_fail(ch, d, 0, SK_ABORTED_COMMAND, 0);
                    return;
                }
            }
            ch->io_pos += n;
            addr += n;
            cnt -= n;
            if (!to_mem && ch->io_pos >= ch->io_len) {
                uint64_t first = ch->xfer_lba;
                int r = stream_flush(ch, d);
                if (r < 0) {
                    set_lba(d, ch->xfer_lba48, first);
                    dma_fail(ch, d, r, 0, 0);
                    return;
                }
                if (ch->xfer_left)
                    stream_prep_write(ch, 0);
            }
        }
        exact_eot = eot && cnt == 0;
    }
    /* Normal completion: Active clears only if the table was used up
     * exactly (PIIX3 BMISX: Interrupt=1/Active=0); otherwise it stays set. */
    if (exact_eot)
        ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
    if (d->cdrom) {
        atapi_ok(ch, d);
    } else {
        set_lba(d, ch->xfer_lba48, ch->xfer_lba);
        cmd_done(ch, d);
    }
}

/* A DMA command is set up; it runs when BMICX start is (or becomes) set. */
static void dma_begin(IdeController *s, IdeChannel *ch, IdeDrive *d)
{
    ch->xfer = XFER_DMA;
    ch->xfer_dma = 1;
    ch->xfer_unit = (uint8_t)(d - ch->drive);
    d->status = ST_BSY | ST_DRDY | ST_DSC | ST_DRQ;
    if (ch->bm_cmd & BM_CMD_START)
        bm_run(s, ch);
}

/* ---------------------------------------------------------------------- */
/* ATAPI                                                                   */

static void atapi_ok(IdeChannel *ch, IdeDrive *d)
{
    xfer_stop(ch);
    d->error = 0;
    d->status = ST_DRDY | ST_DSC;
    d->nsector = IR_IO | IR_COD;
    ide_raise(ch);
}

/* CHECK CONDITION (SFF-8020i 7.1): sense key in ERROR bits 7:4. */
static void atapi_error(IdeChannel *ch, IdeDrive *d, uint8_t key, uint8_t asc)
{
    xfer_stop(ch);
    d->sense_key = key;
    d->asc = asc;
    d->ascq = 0;
    d->error = (uint8_t)(key << 4) | (key == SK_ILLEGAL_REQUEST ? ER_ABRT : 0);
    d->status = ST_DRDY | ST_DSC | ST_ERR;
    d->nsector = IR_IO | IR_COD;
    ide_raise(ch);
}

/* Next ATAPI PIO DRQ block: the byte count goes to LBA mid/high. */
static void atapi_next_chunk(IdeChannel *ch, IdeDrive *d)
{
    if (ch->io_pos >= ch->io_len && ch->xfer_left) {
        int r = stream_fill(ch, d, 0);
        if (r < 0) {
            atapi_error(ch, d, SK_MEDIUM_ERROR, ASC_READ_ERROR);
            return;
        }
    }
    uint32_t avail = ch->io_len - ch->io_pos;
    if (avail == 0) {
        atapi_ok(ch, d);
        return;
    }
    uint32_t n = avail < ch->atapi_limit ? avail : ch->atapi_limit;
    ch->atapi_chunk = n;
    d->lcyl = (uint8_t)n;
    d->hcyl = (uint8_t)(n >> 8);
    d->nsector = IR_IO;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    ide_raise(ch);
}

/* Start the data-in phase of an ATAPI command (buffer already in io_buf
 * with io_len bytes, or a READ stream with xfer_left sectors). */
static void atapi_data_in(IdeController *s, IdeChannel *ch, IdeDrive *d, bool dma)
{
    ch->xfer_unit = (uint8_t)(d - ch->drive);
    ch->io_pos = 0;
    if (ch->io_len == 0 && ch->xfer_left == 0) {
        atapi_ok(ch, d);
        return;
    }
    if (dma) {
        d->nsector = IR_IO;
        dma_begin(s, ch, d);
        return;
    }
    ch->xfer = XFER_ATAPI_IN;
    atapi_next_chunk(ch, d);
}

static void atapi_reply(IdeController *s, IdeChannel *ch, IdeDrive *d, uint32_t len,
                        uint32_t alloc, bool dma)
{
    ch->xfer_left = 0;
    ch->io_len = len < alloc ? len : alloc;
    atapi_data_in(s, ch, d, dma);
}

static bool has_media(const IdeDrive *d) { return d->bd && !d->tray_open; }

static uint32_t cd_sectors(const IdeDrive *d)
{
    uint64_t n = drive_sectors(d) / (CD_SECTOR / BLOCKDEV_SECTOR);
    return n > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)n;
}

static void lba_to_msf(uint8_t *p, uint32_t lba)
{
    lba += 150;
    p[0] = (uint8_t)((lba / 75) / 60);
    p[1] = (uint8_t)((lba / 75) % 60);
    p[2] = (uint8_t)(lba % 75);
}

/* READ TOC/PMA/ATIP (MMC-2 6.1.30) formats 0 and 1. */
static int atapi_toc(IdeDrive *d, uint8_t *buf, const uint8_t *cdb)
{
    bool msf = cdb[1] & 2;
    int format = cdb[2] & 0x0F;
    if (format == 0 && (cdb[9] >> 6))
        format = cdb[9] >> 6;       /* old SFF-8020 format field */
    uint32_t total = cd_sectors(d);
    int len;
    if (format == 0) {
        uint8_t start = cdb[6];
        if (start > 1 && start != 0xAA)
            return -1;
        uint8_t *q = buf + 4;
        buf[2] = 1;
        buf[3] = 1;
        if (start <= 1) {
            q[0] = 0; q[1] = 0x14; q[2] = 1; q[3] = 0;
            if (msf) { q[4] = 0; lba_to_msf(q + 5, 0); } else be32(q + 4, 0);
            q += 8;
        }
        q[0] = 0; q[1] = 0x16; q[2] = 0xAA; q[3] = 0;
        if (msf) { q[4] = 0; lba_to_msf(q + 5, total); } else be32(q + 4, total);
        q += 8;
        len = (int)(q - buf);
    } else if (format == 1) {
        memset(buf, 0, 12);
        buf[2] = 1;
        buf[3] = 1;
        buf[5] = 0x14;
        buf[6] = 1;
        if (msf) lba_to_msf(buf + 9, 0); else be32(buf + 8, 0);
        len = 12;
    } else {
        return -1;
    }
    be16(buf, (uint32_t)len - 2);
    return len;
}

/* MODE SENSE(10) (SPC-2 / MMC-2 5.5): pages 0x01, 0x2A, 0x3F (all). */
static int atapi_mode_sense(IdeDrive *d, uint8_t *buf, const uint8_t *cdb, uint8_t *asc)
{
    int pc = cdb[2] >> 6, page = cdb[2] & 0x3F;
    if (pc == 3) {
        *asc = ASC_SAVE_NOT_SUPP;
        return -1;
    }
    if (page != 0x01 && page != 0x2A && page != 0x3F) {
        *asc = ASC_INV_FIELD;
        return -1;
    }
    memset(buf, 0, 8);
    buf[2] = has_media(d) ? 0x01 : 0x70;    /* medium type: 120 mm data CD / no disc */
    int len = 8;
    if (page == 0x01 || page == 0x3F) {
        uint8_t *p = buf + len;
        memset(p, 0, 8);
        p[0] = 0x01;
        p[1] = 0x06;
        if (pc != 1)
            p[3] = 5;                       /* read retry count */
        len += 8;
    }
    if (page == 0x2A || page == 0x3F) {
        uint8_t *p = buf + len;
        memset(p, 0, 20);
        p[0] = 0x2A;
        p[1] = 0x12;
        if (pc != 1) {
            p[2] = 0x3B;                    /* read CD-R/RW, DVD-ROM/R/RAM */
            p[4] = 0x71;                    /* audio play, composite, digital ports, multisession */
            p[5] = 3 << 5;
            /* lock, eject, tray loader; bit 1 = currently locked */
            p[6] = (1 << 0) | (1 << 3) | (1 << 5) | (d->locked ? 1 << 1 : 0);
            be16(p + 8, 706);               /* max read speed, KB/s */
            be16(p + 10, 2);                /* volume levels */
            be16(p + 12, 512);              /* buffer size, KB */
            be16(p + 14, 706);              /* current read speed */
        }
        len += 20;
    }
    be16(buf, (uint32_t)len - 2);
    return len;
}

/* Execute the 12-byte packet in io_buf (SFF-8020i ch. 10, MMC-2 ch. 6). */
static void atapi_cmd(IdeController *s, IdeChannel *ch, IdeDrive *d)
{
    uint8_t cdb[12];
    memcpy(cdb, ch->io_buf, 12);
    bool dma = d->feature & 1;
    uint8_t *buf = ch->io_buf;
    uint8_t op = cdb[0];
    ch->xfer_cmd = op;
    ch->xfer_ssize = CD_SECTOR;

    /* A medium change is reported once to the first command that cannot
     * report it otherwise (MMC-2 4.1.6.1). */
    if (d->unit_attention && op != 0x03 && op != 0x12 && op != 0x46 && op != 0x4A) {
        d->unit_attention = false;
        atapi_error(ch, d, SK_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
        return;
    }
    switch (op) {
    case 0x00:  /* TEST UNIT READY */
        if (!has_media(d)) {
            atapi_error(ch, d, SK_NOT_READY, ASC_NO_MEDIUM);
            return;
        }
        atapi_ok(ch, d);
        return;
    case 0x03: {  /* REQUEST SENSE */
        memset(buf, 0, 18);
        buf[0] = 0x70;
        buf[2] = d->sense_key;
        buf[7] = 10;
        buf[12] = d->asc;
        buf[13] = d->ascq;
        if (d->unit_attention && d->sense_key == 0) {
            buf[2] = SK_UNIT_ATTENTION;
            buf[12] = ASC_MEDIUM_CHANGED;
        }
        d->unit_attention = false;
        d->sense_key = d->asc = d->ascq = 0;
        atapi_reply(s, ch, d, 18, cdb[4], dma);
        return;
    }
    case 0x12:  /* INQUIRY */
        memset(buf, 0, 36);
        buf[0] = 0x05;                      /* CD/DVD device */
        buf[1] = 0x80;                      /* removable */
        buf[2] = 0x00;
        buf[3] = 0x21;                      /* ATAPI, response format 1 */
        buf[4] = 31;
        memcpy(buf + 8, "VESSEL  ", 8);
        memcpy(buf + 16, "VESSEL DVD-ROM  ", 16);
        memcpy(buf + 32, "1.0 ", 4);
        atapi_reply(s, ch, d, 36, cdb[4], dma);
        return;
    case 0x25: {  /* READ CAPACITY */
        if (!has_media(d)) {
            atapi_error(ch, d, SK_NOT_READY, ASC_NO_MEDIUM);
            return;
        }
        uint32_t n = cd_sectors(d);
        be32(buf, n ? n - 1 : 0);
        be32(buf + 4, CD_SECTOR);
        atapi_reply(s, ch, d, 8, 8, dma);
        return;
    }
    case 0x28:    /* READ(10) */
    case 0xA8: {  /* READ(12) */
        if (!has_media(d)) {
            atapi_error(ch, d, SK_NOT_READY, ASC_NO_MEDIUM);
            return;
        }
        uint32_t lba = (uint32_t)cdb[2] << 24 | (uint32_t)cdb[3] << 16 |
                       (uint32_t)cdb[4] << 8 | cdb[5];
        uint32_t n = op == 0x28 ? ((uint32_t)cdb[7] << 8 | cdb[8])
                                : ((uint32_t)cdb[6] << 24 | (uint32_t)cdb[7] << 16 |
                                   (uint32_t)cdb[8] << 8 | cdb[9]);
        if ((uint64_t)lba + n > cd_sectors(d)) {
            atapi_error(ch, d, SK_ILLEGAL_REQUEST, ASC_LBA_RANGE);
            return;
        }
        ch->xfer_lba = lba;
        ch->xfer_left = n;
        ch->io_len = 0;
        atapi_data_in(s, ch, d, dma);
        return;
    }
    case 0x43: {  /* READ TOC */
        if (!has_media(d)) {
            atapi_error(ch, d, SK_NOT_READY, ASC_NO_MEDIUM);
            return;
        }
        int len = atapi_toc(d, buf, cdb);
        if (len < 0) {
            atapi_error(ch, d, SK_ILLEGAL_REQUEST, ASC_INV_FIELD);
            return;
        }
        atapi_reply(s, ch, d, (uint32_t)len, (uint32_t)cdb[7] << 8 | cdb[8], dma);
        return;
    }
    case 0x5A: {  /* MODE SENSE(10) */
        uint8_t asc = 0;
        int len = atapi_mode_sense(d, buf, cdb, &asc);
        if (len < 0) {
            atapi_error(ch, d, SK_ILLEGAL_REQUEST, asc);
            return;
        }
        atapi_reply(s, ch, d, (uint32_t)len, (uint32_t)cdb[7] << 8 | cdb[8], dma);
        return;
    }
    case 0x46: {  /* GET CONFIGURATION (MMC-2 6.1.4): profile list only */
        memset(buf, 0, 16);
        be16(buf + 6, has_media(d) ? 0x0008 : 0);    /* current profile: CD-ROM */
        be16(buf + 8, 0x0000);                       /* feature: profile list */
        buf[10] = 0x03;                              /* persistent, current */
        buf[11] = 4;
        be16(buf + 12, 0x0008);
        buf[14] = has_media(d) ? 1 : 0;
        be32(buf, 16 - 4);
        atapi_reply(s, ch, d, 16, (uint32_t)cdb[7] << 8 | cdb[8], dma);
        return;
    }
    case 0x4A: {  /* GET EVENT STATUS NOTIFICATION (MMC-2 6.1.6), polled only */
        if (!(cdb[1] & 1)) {
            atapi_error(ch, d, SK_ILLEGAL_REQUEST, ASC_INV_FIELD);
            return;
        }
        uint32_t len;
        memset(buf, 0, 8);
        buf[3] = 0x10;                               /* supported: media class */
        if (cdb[4] & 0x10) {
            be16(buf, 6);
            buf[2] = 4;
            buf[4] = d->new_media ? 2 : 0;           /* NewMedia */
            buf[5] = (uint8_t)((has_media(d) ? 2 : 0) | (d->tray_open ? 1 : 0));
            d->new_media = false;
            len = 8;
        } else {
            be16(buf, 2);
            buf[2] = 0x80;                           /* NEA */
            len = 4;
        }
        atapi_reply(s, ch, d, len, (uint32_t)cdb[7] << 8 | cdb[8], dma);
        return;
    }
    case 0x1B: {  /* START STOP UNIT */
        bool loej = cdb[4] & 2, start = cdb[4] & 1;
        if (loej && !start) {
            if (d->locked) {
                atapi_error(ch, d, SK_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED);
                return;
            }
            d->tray_open = true;
        } else if (loej && start) {
            if (d->tray_open && d->bd)
                d->new_media = true;
            d->tray_open = false;
        }
        atapi_ok(ch, d);
        return;
    }
    case 0x1E:  /* PREVENT ALLOW MEDIUM REMOVAL */
        d->locked = cdb[4] & 1;
        atapi_ok(ch, d);
        return;
    case 0x2B:  /* SEEK(10) */
    case 0xBB:  /* SET CD SPEED */
        atapi_ok(ch, d);
        return;
    default:
        atapi_error(ch, d, SK_ILLEGAL_REQUEST, ASC_INV_OPCODE);
        return;
    }
}

/* ---------------------------------------------------------------------- */
/* ATA command dispatch (ATA-6 ch. 8)                                      */

/* A read/write data command: validate the range, start PIO or DMA. */
static void ata_rw(IdeController *s, IdeChannel *ch, IdeDrive *d, uint8_t cmd, bool lba48,
                   bool dma, bool multiple)
{
    if (d->cdrom || !d->bd) {
        cmd_abort(ch, d);
        return;
    }
    if (multiple && d->mult_sectors == 0) {
        cmd_abort(ch, d);
        return;
    }
    uint64_t lba;
    uint32_t count = lba48 ? ((uint32_t)d->hob_nsector << 8 | d->nsector) : d->nsector;
    if (count == 0)
        count = lba48 ? 65536 : 256;
    if (!get_lba(d, lba48, &lba) || lba + count > drive_sectors(d)) {
        cmd_error(ch, d, ER_IDNF | ER_ABRT);
        return;
    }
    bool wr = cmd_is_write(cmd);
    if (wr && blockdev_read_only(d->bd)) {
        cmd_abort(ch, d);
        return;
    }
    ch->xfer_cmd = cmd;
    ch->xfer_unit = (uint8_t)(d - ch->drive);
    ch->xfer_lba48 = lba48;
    ch->xfer_ssize = BLOCKDEV_SECTOR;
    ch->xfer_lba = lba;
    ch->xfer_left = count;
    ch->xfer_block = multiple ? d->mult_sectors : 1;
    ch->io_pos = ch->io_len = 0;
    if (dma) {
        dma_begin(s, ch, d);
    } else if (wr) {
        ch->xfer = XFER_PIO_OUT;
        stream_prep_write(ch, ch->xfer_block);
        d->status = ST_DRDY | ST_DSC | ST_DRQ;   /* no interrupt before the first block */
    } else {
        ch->xfer = XFER_PIO_IN;
        pio_in_next(ch, d);
    }
}

static void ata_exec_diag(IdeChannel *ch)
{
    xfer_stop(ch);
    for (int u = 0; u < 2; u++) {
        IdeDrive *d = &ch->drive[u];
        set_signature(d);
        d->error = 0x01;
        d->status = d->present && !d->cdrom ? ST_DRDY | ST_DSC : 0;
    }
    ide_raise(ch);
}

static void ata_command(IdeController *s, IdeChannel *ch, IdeDrive *d, uint8_t cmd)
{
    int unit = (int)(d - ch->drive);
    uint64_t total = drive_sectors(d);
    xfer_stop(ch);
    d->error = 0;

    /* Commands an ATAPI device accepts (ATA-6 6.x: packet command feature set). */
    if (d->cdrom) {
        switch (cmd) {
        case 0xA0: case 0xA1: case 0x08: case 0x90: case 0xEF:
        case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0xE5:
            break;
        default:
            if (cmd == 0xEC)
                set_signature(d);   /* how drivers tell an ATAPI device */
            cmd_abort(ch, d);
            return;
        }
    }
    switch (cmd) {
    case 0xEC:  /* IDENTIFY DEVICE */
        identify_disk(d, ch->io_buf, unit);
        pio_in_buffer(ch, d, 512);
        return;
    case 0xA1:  /* IDENTIFY PACKET DEVICE */
        if (!d->cdrom) {
            cmd_abort(ch, d);
            return;
        }
        identify_packet(d, ch->io_buf, unit);
        pio_in_buffer(ch, d, 512);
        return;
    case 0x20: case 0x21: ata_rw(s, ch, d, cmd, false, false, false); return;
    case 0x24: ata_rw(s, ch, d, cmd, true, false, false); return;
    case 0x30: case 0x31: ata_rw(s, ch, d, cmd, false, false, false); return;
    case 0x34: ata_rw(s, ch, d, cmd, true, false, false); return;
    case 0xC4: case 0xC5: ata_rw(s, ch, d, cmd, false, false, true); return;
    case 0x29: case 0x39: ata_rw(s, ch, d, cmd, true, false, true); return;
    case 0xC8: case 0xC9: case 0xCA: case 0xCB:
        ata_rw(s, ch, d, (uint8_t)(cmd & ~1), false, true, false);
        return;
    case 0x25: case 0x35: ata_rw(s, ch, d, cmd, true, true, false); return;
    case 0x40: case 0x41: case 0x42: {  /* READ VERIFY SECTOR(S) [EXT] */
        bool l48 = cmd == 0x42;
        uint64_t lba;
        uint32_t count = l48 ? ((uint32_t)d->hob_nsector << 8 | d->nsector) : d->nsector;
        if (count == 0)
            count = l48 ? 65536 : 256;
        if (!get_lba(d, l48, &lba) || lba + count > total) {
            cmd_error(ch, d, ER_IDNF | ER_ABRT);
            return;
        }
        set_lba(d, l48, lba + count - 1);
        cmd_done(ch, d);
        return;
    }
    case 0xC6:  /* SET MULTIPLE MODE */
        if (d->nsector > MAX_MULT || (d->nsector & (d->nsector - 1))) {
            cmd_abort(ch, d);
            return;
        }
        d->mult_sectors = d->nsector;
        cmd_done(ch, d);
        return;
    case 0x91: {  /* INITIALIZE DEVICE PARAMETERS */
        if (d->nsector == 0) {
            cmd_abort(ch, d);
            return;
        }
        d->cur_heads = (uint16_t)((d->select & 0x0F) + 1);
        d->cur_secs = d->nsector;
        uint64_t c = total / ((uint64_t)d->cur_heads * d->cur_secs);
        d->cur_cyls = (uint16_t)(c > 16383 ? 16383 : c);
        cmd_done(ch, d);
        return;
    }
    case 0xEF:  /* SET FEATURES */
        switch (d->feature) {
        case 0x03: {
            uint8_t v = d->nsector, m = v & 7;
            bool ok = v <= 1 || ((v & 0xF8) == 0x08 && m <= 4) ||
                      ((v & 0xF8) == 0x20 && m <= 2) || ((v & 0xF8) == 0x40 && m <= 5);
            if (!ok) {
                cmd_abort(ch, d);
                return;
            }
            d->xfer_mode = v;
            break;
        }
        case 0x02: case 0x82: case 0xAA: case 0x55: case 0x66: case 0xCC:
            break;
        default:
            cmd_abort(ch, d);
            return;
        }
        cmd_done(ch, d);
        return;
    case 0xF8: case 0x27: {  /* READ NATIVE MAX ADDRESS [EXT] */
        uint64_t max = total ? total - 1 : 0;
        if (cmd == 0xF8 && max > 0x0FFFFFFE)
            max = 0x0FFFFFFE;
        set_lba(d, cmd == 0x27, max);
        cmd_done(ch, d);
        return;
    }
    case 0xE7: case 0xEA:  /* FLUSH CACHE [EXT] */
        if (blockdev_flush(d->bd) < 0) {
            cmd_abort(ch, d);
            return;
        }
        cmd_done(ch, d);
        return;
    case 0xE5: case 0x98:  /* CHECK POWER MODE: active/idle */
        d->nsector = 0xFF;
        cmd_done(ch, d);
        return;
    case 0xE0: case 0xE1: case 0xE2: case 0xE3: case 0x94: case 0x95: case 0x96: case 0x97:
    case 0x70:  /* SEEK */
        cmd_done(ch, d);
        return;
    case 0x90:  /* EXECUTE DEVICE DIAGNOSTIC */
        ata_exec_diag(ch);
        return;
    case 0x08:  /* DEVICE RESET (packet devices only) */
        if (!d->cdrom) {
            cmd_abort(ch, d);
            return;
        }
        set_signature(d);
        d->error = 0x01;
        d->status = 0;       /* DRDY is not set after DEVICE RESET (ATA-6 8.7) */
        return;
    case 0xA0:  /* PACKET */
        if (!d->cdrom || (d->feature & 2)) {
            cmd_abort(ch, d);
            return;
        }
        {
            uint32_t lim = (uint32_t)d->hcyl << 8 | d->lcyl;
            if (lim == 0 || lim == 0xFFFF)
                lim = 0xFFFE;
            ch->atapi_limit = lim & ~1u;
        }
        ch->xfer = XFER_PACKET;
        ch->xfer_unit = (uint8_t)unit;
        ch->io_pos = 0;
        ch->io_len = 12;
        d->nsector = IR_COD;
        d->status = ST_DRDY | ST_DSC | ST_DRQ;
        return;
    default:
        if (cmd >= 0x10 && cmd <= 0x1F) {   /* RECALIBRATE */
            cmd_done(ch, d);
            return;
        }
        cmd_abort(ch, d);
        return;
    }
}

/* ---------------------------------------------------------------------- */
/* Data register                                                           */

static uint32_t data_read(IdeController *s, IdeChannel *ch, unsigned size)
{
    IdeDrive *d = &ch->drive[ch->xfer_unit & 1];
    if (ch->xfer != XFER_PIO_IN && ch->xfer != XFER_ATAPI_IN)
        return size == 4 ? 0xFFFFFFFFu : 0xFFFF;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = ch->io_pos < ch->io_len ? ch->io_buf[ch->io_pos] : 0;
        if (ch->io_pos < ch->io_len)
            ch->io_pos++;
        v |= (uint32_t)b << (8 * i);
    }
    if (ch->xfer == XFER_ATAPI_IN) {
        ch->atapi_chunk = ch->atapi_chunk > size ? ch->atapi_chunk - size : 0;
        if (ch->atapi_chunk == 0 || ch->io_pos >= ch->io_len) {
            ch->atapi_chunk = 0;
            atapi_next_chunk(ch, d);
        }
    } else if (ch->io_pos >= ch->io_len) {
        pio_in_next(ch, d);
    }
    (void)s;
    return v;
}

static void data_write(IdeController *s, IdeChannel *ch, uint32_t val, unsigned size)
{
    IdeDrive *d = &ch->drive[ch->xfer_unit & 1];
    if (ch->xfer != XFER_PIO_OUT && ch->xfer != XFER_PACKET)
        return;
    for (unsigned i = 0; i < size && ch->io_pos < ch->io_len; i++)
        ch->io_buf[ch->io_pos++] = (uint8_t)(val >> (8 * i));
    if (ch->io_pos < ch->io_len)
        return;
    if (ch->xfer == XFER_PACKET) {
        ch->xfer = XFER_NONE;
        atapi_cmd(s, ch, d);
        return;
    }
    uint64_t first = ch->xfer_lba;
    int r = stream_flush(ch, d);
    if (r < 0) {
        set_lba(d, ch->xfer_lba48, first);
        cmd_error(ch, d, io_error_bits(r));
        return;
    }
    set_lba(d, ch->xfer_lba48, ch->xfer_lba);
    if (ch->xfer_left) {
        stream_prep_write(ch, ch->xfer_block);
        d->status = ST_DRDY | ST_DSC | ST_DRQ;
        ide_raise(ch);
    } else {
        cmd_done(ch, d);
    }
}

/* ---------------------------------------------------------------------- */
/* Command block (0x1F0-0x1F7) and control block (0x3F6) registers         */

static bool ch_empty(const IdeChannel *ch)
{
    return !ch->drive[0].present && !ch->drive[1].present;
}

static uint8_t reg_read(IdeChannel *ch, uint32_t off)
{
    IdeDrive *d = &ch->drive[ch->unit & 1];
    bool hob = ch->devctl & DC_HOB;
    if (ch_empty(ch))
        return 0xFF;                 /* floating bus */
    switch (off) {
    case 1: return hob ? d->hob_feature : d->error;
    case 2: return hob ? d->hob_nsector : d->nsector;
    case 3: return hob ? d->hob_sector : d->sector;
    case 4: return hob ? d->hob_lcyl : d->lcyl;
    case 5: return hob ? d->hob_hcyl : d->hcyl;
    case 6: return d->select;
    case 7:
        ide_lower(ch);               /* reading STATUS clears INTRQ */
        return d->present ? d->status : 0;
    default: return 0xFF;
    }
}

static void reg_write(IdeController *s, IdeChannel *ch, uint32_t off, uint8_t v)
{
    if (off >= 1 && off <= 6) {
        ch->devctl &= (uint8_t)~DC_HOB;
        for (int u = 0; u < 2; u++) {
            IdeDrive *d = &ch->drive[u];
            switch (off) {
            case 1: d->hob_feature = d->feature; d->feature = v; break;
            case 2: d->hob_nsector = d->nsector; d->nsector = v; break;
            case 3: d->hob_sector = d->sector; d->sector = v; break;
            case 4: d->hob_lcyl = d->lcyl; d->lcyl = v; break;
            case 5: d->hob_hcyl = d->hcyl; d->hcyl = v; break;
            case 6: d->select = v; break;
            }
        }
        if (off == 6)
            ch->unit = (v & DEV_DEV) ? 1 : 0;
        return;
    }
    if (off == 7) {
        IdeDrive *d = &ch->drive[ch->unit & 1];
        if (!d->present || (ch->devctl & DC_SRST))
            return;                  /* commands to an absent device are ignored */
        if ((d->status & ST_BSY) && v != 0x08 && !(ch->xfer == XFER_DMA))
            return;
        ide_lower(ch);
        ata_command(s, ch, d, v);
    }
}

static void devctl_write(IdeChannel *ch, uint8_t v)
{
    uint8_t old = ch->devctl;
    ch->devctl = v;
    if (!(old & DC_SRST) && (v & DC_SRST)) {
        /* Software reset asserted (ATA-6 9.2): both devices go busy. */
        xfer_stop(ch);
        ch->intrq = 0;
        for (int u = 0; u < 2; u++)
            ch->drive[u].status = ST_BSY | ST_DSC;
    } else if ((old & DC_SRST) && !(v & DC_SRST)) {
        for (int u = 0; u < 2; u++) {
            IdeDrive *d = &ch->drive[u];
            set_signature(d);
            d->select &= (uint8_t)~DEV_DEV;   /* device 0 is selected after reset */
            d->error = 0x01;         /* diagnostic code: passed */
            d->status = d->present && !d->cdrom ? ST_DRDY | ST_DSC : 0;
        }
        ch->unit = 0;
    }
    ch_update_irq(ch);
}

static uint32_t cmd_read(IdeController *s, int c, uint32_t off, unsigned size)
{
    IdeChannel *ch = &s->ch[c];
    if (off == 0) {
        if (ch_empty(ch))
            return size == 4 ? 0xFFFFFFFFu : size == 2 ? 0xFFFF : 0xFF;
        return data_read(s, ch, size);
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < size && off + i < 8; i++)
        v |= (uint32_t)reg_read(ch, off + i) << (8 * i);
    return v;
}

static void cmd_write(IdeController *s, int c, uint32_t off, uint32_t val, unsigned size)
{
    IdeChannel *ch = &s->ch[c];
    if (off == 0) {
        data_write(s, ch, val, size);
        return;
    }
    for (unsigned i = 0; i < size && off + i < 8; i++)
        reg_write(s, ch, off + i, (uint8_t)(val >> (8 * i)));
}

/* Control block: ALTERNATE STATUS (read, no INTRQ side effect) / DEVICE
 * CONTROL (write). */
static uint32_t ctl_read(IdeController *s, int c)
{
    IdeChannel *ch = &s->ch[c];
    if (ch_empty(ch))
        return 0xFF;
    IdeDrive *d = &ch->drive[ch->unit & 1];
    return d->present ? d->status : 0;
}

static uint32_t cmd0_read(void *o, uint32_t off, unsigned size) { return cmd_read(o, 0, off, size); }
static uint32_t cmd1_read(void *o, uint32_t off, unsigned size) { return cmd_read(o, 1, off, size); }
static void cmd0_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    cmd_write(o, 0, off, v, size);
}
static void cmd1_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    cmd_write(o, 1, off, v, size);
}
static uint32_t ctl0_read(void *o, uint32_t off, unsigned size) { return ctl_read(o, 0); }
static uint32_t ctl1_read(void *o, uint32_t off, unsigned size) { return ctl_read(o, 1); }
static void ctl0_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    (void)off; (void)size;
    devctl_write(&((IdeController *)o)->ch[0], (uint8_t)v);
}
static void ctl1_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    (void)off; (void)size;
    devctl_write(&((IdeController *)o)->ch[1], (uint8_t)v);
}

static const IoOps cmd_ops[2] = {
    { .read = cmd0_read, .write = cmd0_write, .impl_max = 4 },
    { .read = cmd1_read, .write = cmd1_write, .impl_max = 4 },
};
static const IoOps ctl_ops[2] = {
    { .read = ctl0_read, .write = ctl0_write, .impl_max = 1 },
    { .read = ctl1_read, .write = ctl1_write, .impl_max = 1 },
};
static const uint16_t cmd_base[2] = { 0x1F0, 0x170 };
static const uint16_t ctl_base[2] = { 0x3F6, 0x376 };

/* ---------------------------------------------------------------------- */
/* Bus master registers (BAR4)                                             */

static uint8_t bm_read_byte(IdeController *s, uint32_t off)
{
    if (off >= 16)
        return 0xFF;
    IdeChannel *ch = &s->ch[off >> 3];
    switch (off & 7) {
    case 0: return ch->bm_cmd;
    case 2: return ch->bm_status;
    case 4: case 5: case 6: case 7:
        return (uint8_t)(ch->bm_prd >> (8 * ((off & 7) - 4)));
    default: return 0;
    }
}

static void bm_write_byte(IdeController *s, uint32_t off, uint8_t v)
{
    if (off >= 16)
        return;
    IdeChannel *ch = &s->ch[off >> 3];
    switch (off & 7) {
    case 0: {
        uint8_t old = ch->bm_cmd;
        ch->bm_cmd = v & (BM_CMD_START | BM_CMD_WRITE);
        if ((v & BM_CMD_START) && !(old & BM_CMD_START)) {
            ch->bm_status |= BM_ST_ACTIVE;
            if (ch->xfer == XFER_DMA)
                bm_run(s, ch);
        } else if (!(v & BM_CMD_START) && (old & BM_CMD_START)) {
            ch->bm_status &= (uint8_t)~BM_ST_ACTIVE;
        }
        break;
    }
    case 2:
        ch->bm_status = (uint8_t)((ch->bm_status & BM_ST_ACTIVE) |
                                  (ch->bm_status & ~v & (BM_ST_ERROR | BM_ST_INT)) |
                                  (v & (BM_ST_DMA0 | BM_ST_DMA1)));
        break;
    case 4: case 5: case 6: case 7: {
        int sh = 8 * (int)((off & 7) - 4);
        ch->bm_prd = (ch->bm_prd & ~(0xFFu << sh)) | ((uint32_t)v << sh);
        ch->bm_prd &= ~3u;
        break;
    }
    default:
        break;
    }
}

static uint32_t bm_read(void *opaque, uint32_t off, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++)
        v |= (uint32_t)bm_read_byte(opaque, off + i) << (8 * i);
    return v;
}

static void bm_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    for (unsigned i = 0; i < size && i < 4; i++)
        bm_write_byte(opaque, off + i, (uint8_t)(val >> (8 * i)));
}

static const IoOps bm_ops = { .read = bm_read, .write = bm_write, .impl_max = 4 };

static void ide_bar_map(PciDevice *dev, int bar, int64_t addr)
{
    IdeController *s = dev->opaque;
    if (bar != 4 || !s->io)
        return;
    if (s->bm_mapped) {
        iobus_unregister(s->io, s->bm_base, 16);
        s->bm_mapped = false;
    }
    if (addr != PCI_BAR_UNMAPPED && addr >= 0 && addr <= 0xFFF0) {
        if (iobus_register(s->io, (uint16_t)addr, 16, &bm_ops, s, "piix3-ide-bmdma") == 0) {
            s->bm_mapped = true;
            s->bm_base = (uint16_t)addr;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Construction, reset                                                     */

static void drive_geometry(IdeDrive *d)
{
    uint64_t total = drive_sectors(d);
    d->heads = 16;
    d->secs = 63;
    uint64_t c = total / (16 * 63);
    if (c > 16383)
        c = 16383;
    if (c == 0)
        c = 1;
    d->cyls = (uint16_t)c;
    d->cur_cyls = d->cyls;
    d->cur_heads = d->heads;
    d->cur_secs = d->secs;
}

static void drive_reset(IdeDrive *d)
{
    d->feature = d->hob_feature = 0;
    d->hob_nsector = d->hob_sector = d->hob_lcyl = d->hob_hcyl = 0;
    d->select = 0xA0;
    set_signature(d);
    d->error = 0x01;
    d->status = d->present && !d->cdrom ? ST_DRDY | ST_DSC : 0;
    d->mult_sectors = 0;
    d->xfer_mode = 0;
    d->sense_key = d->asc = d->ascq = 0;
    d->locked = false;
    d->tray_open = false;
    d->unit_attention = false;
    d->new_media = false;
    if (d->present && !d->cdrom)
        drive_geometry(d);
}

void ide_reset(IdeController *s)
{
    if (!s)
        return;
    pci_device_reset(&s->pci);
    uint8_t *c = s->pci.config;
    pci_set_word(c + PCI_STATUS, PCI_STATUS_FAST_BACK | PCI_STATUS_DEVSEL_MEDIUM);
    pci_set_long(c + 0x20, PCI_BASE_ADDRESS_SPACE_IO);   /* BMIBA bit 0 RO 1 */
    pci_set_word(c + 0x40, 0);                           /* IDETIM primary */
    pci_set_word(c + 0x42, 0);                           /* IDETIM secondary */
    c[0x44] = 0;                                         /* SIDETIM */
    for (int i = 0; i < 2; i++) {
        IdeChannel *ch = &s->ch[i];
        xfer_stop(ch);
        ch->unit = 0;
        ch->devctl = 0;
        ch->intrq = 0;
        ch->bm_cmd = 0;
        ch->bm_status = 0;
        ch->bm_prd = 0;
        ch->atapi_limit = 0;
        ch->xfer_ssize = BLOCKDEV_SECTOR;
        ch->xfer_block = 1;
        for (int u = 0; u < 2; u++)
            drive_reset(&ch->drive[u]);
        ch_update_irq(ch);
    }
}

IdeController *ide_new(PciBus *bus, int devfn, IoBus *io, PhysMem *pm, Irq irq14, Irq irq15)
{
    IdeController *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (pci_device_init(&s->pci, bus, devfn, 0x8086, 0x7010, 0x00, 0x010180, 0x00) < 0) {
        free(s);
        return NULL;
    }
    s->io = io;
    s->pm = pm;
    s->ch[0].irq = irq14;
    s->ch[1].irq = irq15;
    s->pci.name = "PIIX3 IDE";
    s->pci.opaque = s;
    if (pci_register_bar(&s->pci, 4, 16, true, ide_bar_map) < 0) {
        pci_device_free(&s->pci);
        free(s);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        s->ch[i].drive[0].select = 0xA0;
        s->ch[i].drive[1].select = 0xA0;
    }
    if (io) {
        for (int i = 0; i < 2; i++) {
            if (iobus_register(io, cmd_base[i], 8, &cmd_ops[i], s, i ? "ide1" : "ide0") < 0 ||
                iobus_register(io, ctl_base[i], 1, &ctl_ops[i], s,
                               i ? "ide1-ctl" : "ide0-ctl") < 0) {
                ide_free(s);
                return NULL;
            }
        }
    }
    ide_reset(s);
    return s;
}

void ide_free(IdeController *s)
{
    if (!s)
        return;
    if (s->io) {
        for (int i = 0; i < 2; i++) {
            iobus_unregister(s->io, cmd_base[i], 8);
            iobus_unregister(s->io, ctl_base[i], 1);
        }
        if (s->bm_mapped)
            iobus_unregister(s->io, s->bm_base, 16);
        s->bm_mapped = false;
    }
    s->pci.bars[4].map = NULL;
    pci_device_free(&s->pci);
    free(s);
}

int ide_attach(IdeController *s, int channel, int unit, BlockDev *bd, bool cdrom,
               char *err, size_t errlen)
{
    if (!s || channel < 0 || channel > 1 || unit < 0 || unit > 1) {
        if (err && errlen)
            snprintf(err, errlen, "ide: no slot %d.%d", channel, unit);
        return -1;
    }
    IdeDrive *d = &s->ch[channel].drive[unit];
    if (d->present) {
        if (err && errlen)
            snprintf(err, errlen, "ide: slot %d.%d already in use", channel, unit);
        return -1;
    }
    if (!cdrom && !bd) {
        if (err && errlen)
            snprintf(err, errlen, "ide: disk %d.%d needs an image", channel, unit);
        return -1;
    }
    if (bd && (blockdev_sectors(bd) >> 48)) {
        if (err && errlen)
            snprintf(err, errlen, "ide: image for %d.%d exceeds LBA48", channel, unit);
        return -1;
    }
    d->present = true;
    d->cdrom = cdrom;
    d->bd = bd;
    drive_reset(d);
    if (!s->ch[channel].drive[unit ^ 1].present)
        drive_reset(&s->ch[channel].drive[unit ^ 1]);
    return 0;
}

int ide_cd_change(IdeController *s, int channel, int unit, BlockDev *bd)
{
    if (!s || channel < 0 || channel > 1 || unit < 0 || unit > 1)
        return -1;
    IdeDrive *d = &s->ch[channel].drive[unit];
    if (!d->present || !d->cdrom)
        return -1;
    IdeChannel *ch = &s->ch[channel];
    if (ch->xfer != XFER_NONE && ch->xfer_unit == unit)
        xfer_stop(ch);
    d->bd = bd;
    d->tray_open = false;
    d->unit_attention = true;
    d->new_media = bd != NULL;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Snapshot                                                                */

static int ide_post_load(void *opaque, char *err, size_t errlen)
{
    IdeController *s = opaque;
    for (int i = 0; i < 2; i++) {
        IdeChannel *ch = &s->ch[i];
        if (ch->xfer > XFER_DMA || ch->io_len > IDE_BUF_SIZE || ch->io_pos > ch->io_len ||
            (ch->xfer_ssize != BLOCKDEV_SECTOR && ch->xfer_ssize != CD_SECTOR) ||
            ch->xfer_block > MAX_MULT || ch->atapi_chunk > ch->io_len - ch->io_pos ||
            ch->atapi_limit > 0xFFFE) {
            if (err && errlen)
                snprintf(err, errlen, "ide: channel %d transfer state out of range", i);
            return -1;
        }
        ch->unit &= 1;
        ch->xfer_unit &= 1;
        for (int u = 0; u < 2; u++) {
            IdeDrive *d = &ch->drive[u];
            if (d->mult_sectors > MAX_MULT || d->cur_heads > 16 || d->cur_secs > 255) {
                if (err && errlen)
                    snprintf(err, errlen, "ide: drive %d.%d geometry out of range", i, u);
                return -1;
            }
        }
        if (ch->xfer != XFER_NONE) {
            IdeDrive *d = &ch->drive[ch->xfer_unit];
            /* A transfer must belong to a device that can do it. */
            if (!d->present || ((ch->xfer_left || ch->xfer == XFER_PIO_OUT) && !d->bd) ||
                (ch->xfer == XFER_PIO_OUT && d->cdrom) ||
                ((ch->xfer == XFER_PACKET || ch->xfer == XFER_ATAPI_IN) && !d->cdrom) ||
                (ch->xfer == XFER_ATAPI_IN && ch->atapi_limit < 2) ||
                (ch->xfer_left && ch->xfer_ssize != (d->cdrom ? CD_SECTOR : BLOCKDEV_SECTOR))) {
                if (err && errlen)
                    snprintf(err, errlen, "ide: channel %d transfer inconsistent with its device", i);
                return -1;
            }
            uint64_t per = ch->xfer_ssize / BLOCKDEV_SECTOR;
            if (ch->xfer_left && (ch->xfer_lba + ch->xfer_left) * per > drive_sectors(d)) {
                if (err && errlen)
                    snprintf(err, errlen, "ide: channel %d transfer past the end", i);
                return -1;
            }
        }
        ch->irq_level = 2;           /* force the line to be re-driven */
        ch_update_irq(ch);
    }
    pci_device_post_load(&s->pci);
    return 0;
}

#define IDE_DRIVE_FIELDS(c, u)                                                    \
    ST_U8(ch[c].drive[u].feature, IdeController),                                 \
    ST_U8(ch[c].drive[u].nsector, IdeController),                                 \
    ST_U8(ch[c].drive[u].sector, IdeController),                                  \
    ST_U8(ch[c].drive[u].lcyl, IdeController),                                    \
    ST_U8(ch[c].drive[u].hcyl, IdeController),                                    \
    ST_U8(ch[c].drive[u].select, IdeController),                                  \
    ST_U8(ch[c].drive[u].hob_feature, IdeController),                             \
    ST_U8(ch[c].drive[u].hob_nsector, IdeController),                             \
    ST_U8(ch[c].drive[u].hob_sector, IdeController),                              \
    ST_U8(ch[c].drive[u].hob_lcyl, IdeController),                                \
    ST_U8(ch[c].drive[u].hob_hcyl, IdeController),                                \
    ST_U8(ch[c].drive[u].status, IdeController),                                  \
    ST_U8(ch[c].drive[u].error, IdeController),                                   \
    ST_U8(ch[c].drive[u].mult_sectors, IdeController),                            \
    ST_U8(ch[c].drive[u].xfer_mode, IdeController),                               \
    ST_U16(ch[c].drive[u].cur_cyls, IdeController),                               \
    ST_U16(ch[c].drive[u].cur_heads, IdeController),                              \
    ST_U16(ch[c].drive[u].cur_secs, IdeController),                               \
    ST_U8(ch[c].drive[u].sense_key, IdeController),                               \
    ST_U8(ch[c].drive[u].asc, IdeController),                                     \
    ST_U8(ch[c].drive[u].ascq, IdeController),                                    \
    ST_BOOL(ch[c].drive[u].unit_attention, IdeController),                        \
    ST_BOOL(ch[c].drive[u].new_media, IdeController),                             \
    ST_BOOL(ch[c].drive[u].tray_open, IdeController),                             \
    ST_BOOL(ch[c].drive[u].locked, IdeController)

#define IDE_CHANNEL_FIELDS(c)                                                     \
    IDE_DRIVE_FIELDS(c, 0), IDE_DRIVE_FIELDS(c, 1),                               \
    ST_U8(ch[c].unit, IdeController),                                             \
    ST_U8(ch[c].devctl, IdeController),                                           \
    ST_U8(ch[c].intrq, IdeController),                                            \
    ST_U8(ch[c].bm_cmd, IdeController),                                           \
    ST_U8(ch[c].bm_status, IdeController),                                        \
    ST_U32(ch[c].bm_prd, IdeController),                                          \
    ST_U8(ch[c].xfer, IdeController),                                             \
    ST_U8(ch[c].xfer_unit, IdeController),                                        \
    ST_U8(ch[c].xfer_cmd, IdeController),                                         \
    ST_U8(ch[c].xfer_dma, IdeController),                                         \
    ST_U8(ch[c].xfer_lba48, IdeController),                                       \
    ST_U32(ch[c].xfer_ssize, IdeController),                                      \
    ST_U64(ch[c].xfer_lba, IdeController),                                        \
    ST_U32(ch[c].xfer_left, IdeController),                                       \
    ST_U32(ch[c].xfer_block, IdeController),                                      \
    ST_U32(ch[c].io_pos, IdeController),                                          \
    ST_U32(ch[c].io_len, IdeController),                                          \
    ST_U32(ch[c].atapi_chunk, IdeController),                                     \
    ST_U32(ch[c].atapi_limit, IdeController),                                     \
    ST_BYTES(ch[c].io_buf, IdeController)

static const StateField ide_fields[] = {
    ST_BYTES(pci.config, IdeController),
    IDE_CHANNEL_FIELDS(0),
    IDE_CHANNEL_FIELDS(1),
    ST_END
};

const StateDesc ide_state = {
    .name = "piix3-ide",
    .version = 1,
    .min_version = 1,
    .fields = ide_fields,
    .post_load = ide_post_load,
};
