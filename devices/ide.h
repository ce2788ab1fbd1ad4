/*
 * ide.h - PIIX3 IDE function (8086:7010, PCI 00:01.1) with ATA disks and
 * ATAPI CD-ROMs.
 *
 * Sources: Intel 82371SB (PIIX3) datasheet 2.7 / 4 (IDETIM, BMIBA, bus master
 * IDE registers BMICX/BMISX/BMIDTPX, PRD format); ATA/ATAPI-6 (T13 1410D)
 * ch. 6-9 (register protocol, commands, IDENTIFY words); SFF-8020i / MMC-2
 * (ATAPI packet commands, sense codes).
 *
 * Legacy ports: primary 0x1F0-0x1F7 + 0x3F6 (IRQ 14), secondary 0x170-0x177
 * + 0x376 (IRQ 15), always registered (as QEMU).  BAR4 is the 16-byte bus
 * master block (channel 0 at +0, channel 1 at +8).  All transfers complete
 * synchronously when the guest makes them possible (command write, last data
 * word, BMDMA start); the status register still follows the ATA protocol
 * (BSY/DRDY/DRQ/ERR, INTRQ per block, cleared by reading STATUS).
 *
 * Snapshots save the whole register file, the bus master registers, the PCI
 * config space and any PIO/ATAPI transfer in flight (buffer and position);
 * a DMA command waiting for the BMDMA start bit is saved too.
 */
#ifndef VESSEL_DEVICES_IDE_H
#define VESSEL_DEVICES_IDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/blockdev.h"
#include "devices/bus.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "mem/phys.h"

#define IDE_BUF_SIZE (128 * 512)   /**< transfer buffer: 128 disk / 32 CD sectors */

/** One ATA/ATAPI device (a "unit" on a channel). */
typedef struct IdeDrive {
    BlockDev *bd;           /**< backend (owned by the caller), NULL = absent / no disc */
    bool present;           /**< a device exists in this slot */
    bool cdrom;             /**< ATAPI CD-ROM (else ATA disk) */
    /* Command block registers (ATA-6 7.x); writes go to both units. */
    uint8_t feature, nsector, sector, lcyl, hcyl, select;
    uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;  /**< previous values (LBA48) */
    uint8_t status;         /**< STATUS: BSY DRDY DF DSC DRQ CORR IDX ERR */
    uint8_t error;          /**< ERROR: ICRC UNC MC IDNF MCR ABRT TK0NF AMNF */
    uint8_t mult_sectors;   /**< SET MULTIPLE MODE block size, 0 = disabled */
    uint8_t xfer_mode;      /**< SET FEATURES 03h value (PIO/MWDMA/UDMA mode) */
    uint16_t cyls, heads, secs;            /**< default CHS geometry */
    uint16_t cur_cyls, cur_heads, cur_secs; /**< after INITIALIZE DEVICE PARAMETERS */
    /* ATAPI */
    uint8_t sense_key, asc, ascq;  /**< REQUEST SENSE data */
    bool unit_attention;    /**< medium changed: next command gets UNIT ATTENTION */
    bool new_media;         /**< GET EVENT STATUS media event pending */
    bool tray_open;         /**< ejected by START STOP UNIT */
    bool locked;            /**< PREVENT ALLOW MEDIUM REMOVAL */
} IdeDrive;

/** One channel: two units, device control, INTRQ, bus master registers and
 *  the transfer in progress. */
typedef struct IdeChannel {
    IdeDrive drive[2];
    uint8_t unit;           /**< selected unit (DEV bit of the device register) */
    uint8_t devctl;         /**< DEVICE CONTROL: HOB, SRST, nIEN */
    uint8_t intrq;          /**< device interrupt pending (INTRQ before nIEN) */
    uint8_t irq_level;      /**< derived: level driven on irq */
    uint8_t bm_cmd;         /**< BMICX: bit 0 start, bit 3 read/write control */
    uint8_t bm_status;      /**< BMISX: active, error, interrupt, drive DMA capable */
    uint32_t bm_prd;        /**< BMIDTPX: descriptor table pointer (dword aligned) */
    /* Transfer in flight (one per channel). */
    uint8_t xfer;           /**< IDE_XFER_* phase */
    uint8_t xfer_unit;      /**< unit doing it */
    uint8_t xfer_cmd;       /**< ATA command (or ATAPI opcode for packet data) */
    uint8_t xfer_dma;       /**< data phase via bus master DMA */
    uint8_t xfer_lba48;     /**< address registers are 48-bit */
    uint32_t xfer_ssize;    /**< sector size of the stream: 512 or 2048 */
    uint64_t xfer_lba;      /**< next sector to load (reads) or store (writes) */
    uint32_t xfer_left;     /**< sectors not yet loaded/stored */
    uint32_t xfer_block;    /**< sectors per DRQ block (PIO ATA) */
    uint32_t io_pos, io_len; /**< current window of io_buf */
    uint32_t atapi_chunk;   /**< bytes left in the current ATAPI DRQ block */
    uint32_t atapi_limit;   /**< byte count limit from LBA mid/high */
    uint8_t io_buf[IDE_BUF_SIZE];
    Irq irq;
} IdeChannel;

/** The PIIX3 IDE function. */
typedef struct IdeController {
    PciDevice pci;          /**< config space (IDETIM at 0x40/0x42) */
    IoBus *io;
    PhysMem *pm;
    IdeChannel ch[2];
    bool bm_mapped;         /**< derived: BAR4 decoded */
    uint16_t bm_base;       /**< derived: its base */
} IdeController;

/**
 * Create the PIIX3 IDE function at devfn on bus, register the legacy ports
 * on io and BAR4.  irq14/irq15 are the channels' interrupt lines.  pm is
 * where bus master DMA goes (through phys_dma_read/write only).
 * NULL on allocation failure or when devfn is taken.
 */
IdeController *ide_new(PciBus *bus, int devfn, IoBus *io, PhysMem *pm, Irq irq14, Irq irq15);

/**
 * Attach a device: channel 0/1, unit 0 (master) / 1 (slave).  A disk needs
 * bd; a CD-ROM may have none (empty drive).  bd stays owned by the caller
 * and must outlive the controller.  Returns 0, or -1 with a message in err
 * (bad slot, slot in use, disk without image, image larger than LBA48).
 */
int ide_attach(IdeController *s, int channel, int unit, BlockDev *bd, bool cdrom,
               char *err, size_t errlen);

/** Change the medium of a CD-ROM (NULL = remove it): the guest sees UNIT
 *  ATTENTION / MEDIUM MAY HAVE CHANGED and a media event.  Returns 0 or -1. */
int ide_cd_change(IdeController *s, int channel, int unit, BlockDev *bd);

/** Hardware reset (power-on state, as RESET#). */
void ide_reset(IdeController *s);

/** Unregister ports, detach from PCI, free.  NULL is ignored. */
void ide_free(IdeController *s);

/** Snapshot section; opaque = IdeController. */
extern const StateDesc ide_state;

#endif
