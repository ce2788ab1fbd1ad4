/*
 * e1000.h - Intel 82540EM Gigabit Ethernet controller (PCI 8086:100E rev 3,
 * QEMU's default "e1000"), with its Microwire EEPROM and M88E1011 PHY.
 *
 * Sources: Intel PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 * Developer's Manual (8254x SDM, rev 4.0): ch. 3 (receive/transmit
 * descriptors, context descriptors, TCP segmentation), ch. 5 (EEPROM map,
 * Microwire interface), ch. 13 (registers), ch. 8 of the 88E1011 datasheet
 * for the PHY registers; ../shared/docs/hardware-notes.md section 4.
 *
 * BAR0: 128 KiB memory space (the register file); BAR1: 64 bytes of I/O
 * space (IOADDR at +0, IODATA at +4: indirect register access).  INTA is
 * level-triggered: asserted while ICR & IMS != 0 (see interrupt throttling
 * below).
 *
 * Transmit runs synchronously when the guest writes TDT (or enables TCTL.EN);
 * every frame goes to the NetBackend at once.  Receive runs when the backend
 * delivers a frame (e1000_receive).  All descriptors and buffers move through
 * phys_dma_read/phys_dma_write, and only while PCI bus mastering is enabled.
 *
 * Interrupt moderation is implemented with virtual-clock timers, in 1.024 us
 * units for RDTR/RADV/TIDV/TADV and 256 ns units for ITR (SDM 13.4.17-13.4.20,
 * 13.4.44): RXT0 waits for the RDTR packet timer (re-armed per frame) or the
 * RADV absolute timer, TXDW of a descriptor with IDE waits for TIDV/TADV, and
 * ITR sets the minimum gap between two assertions of INTA.  Zero values mean
 * "at once".
 *
 * Hostile guests: ring bases above 4 GiB or outside RAM, RDLEN/TDLEN that
 * are 0 (the low 7 bits are ignored: rings are multiples of 128 bytes), or
 * head/tail pointers at or past the end of the ring stop that ring (nothing
 * is read or written, the head stays) until the guest fixes the registers;
 * a buffer address outside RAM drops that frame (receive: the descriptor is
 * written back with the RXE error bit; transmit: the descriptor completes,
 * the frame is not sent).  Unknown registers read 0 and ignore writes.
 */
#ifndef VESSEL_DEVICES_E1000_H
#define VESSEL_DEVICES_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/netdev.h"
#include "devices/pci.h"
#include "devices/state.h"
#include "devices/vclock.h"
#include "mem/phys.h"

#define E1000_VENDOR_ID  0x8086
#define E1000_DEVICE_ID  0x100E   /**< 82540EM desktop */
#define E1000_REVISION   0x03
#define E1000_MMIO_SIZE  0x20000  /**< BAR0, bytes */
#define E1000_IO_SIZE    0x40     /**< BAR1, bytes */

/* Register offsets (SDM table 13-2). */
#define E1000_CTRL     0x00000
#define E1000_STATUS   0x00008
#define E1000_EECD     0x00010
#define E1000_EERD     0x00014
#define E1000_CTRL_EXT 0x00018
#define E1000_FLA      0x0001C
#define E1000_MDIC     0x00020
#define E1000_FCAL     0x00028
#define E1000_FCAH     0x0002C
#define E1000_FCT      0x00030
#define E1000_VET      0x00038
#define E1000_ICR      0x000C0
#define E1000_ITR      0x000C4
#define E1000_ICS      0x000C8
#define E1000_IMS      0x000D0
#define E1000_IMC      0x000D8
#define E1000_RCTL     0x00100
#define E1000_FCTTV    0x00170
#define E1000_TXCW     0x00178
#define E1000_RXCW     0x00180
#define E1000_TCTL     0x00400
#define E1000_TIPG     0x00410
#define E1000_LEDCTL   0x00E00
#define E1000_PBA      0x01000
#define E1000_FCRTL    0x02160
#define E1000_FCRTH    0x02168
#define E1000_RDFH     0x02410
#define E1000_RDFT     0x02418
#define E1000_RDFHS    0x02420
#define E1000_RDFTS    0x02428
#define E1000_RDFPC    0x02430
#define E1000_RDBAL    0x02800
#define E1000_RDBAH    0x02804
#define E1000_RDLEN    0x02808
#define E1000_RDH      0x02810
#define E1000_RDT      0x02818
#define E1000_RDTR     0x02820
#define E1000_RXDCTL   0x02828
#define E1000_RADV     0x0282C
#define E1000_RSRPD    0x02C00
#define E1000_TDFH     0x03410
#define E1000_TDFT     0x03418
#define E1000_TDFHS    0x03420
#define E1000_TDFTS    0x03428
#define E1000_TDFPC    0x03430
#define E1000_TDBAL    0x03800
#define E1000_TDBAH    0x03804
#define E1000_TDLEN    0x03808
#define E1000_TDH      0x03810
#define E1000_TDT      0x03818
#define E1000_TIDV     0x03820
#define E1000_TXDCTL   0x03828
#define E1000_TADV     0x0382C
#define E1000_TSPMT    0x03830
/* Statistics (read to clear; SDM 13.7). */
#define E1000_CRCERRS  0x04000
#define E1000_MPC      0x04010
#define E1000_PRC64    0x0405C
#define E1000_PRC127   0x04060
#define E1000_PRC255   0x04064
#define E1000_PRC511   0x04068
#define E1000_PRC1023  0x0406C
#define E1000_PRC1522  0x04070
#define E1000_GPRC     0x04074
#define E1000_BPRC     0x04078
#define E1000_MPRC     0x0407C
#define E1000_GPTC     0x04080
#define E1000_GORCL    0x04088
#define E1000_GORCH    0x0408C
#define E1000_GOTCL    0x04090
#define E1000_GOTCH    0x04094
#define E1000_RNBC     0x040A0
#define E1000_RUC      0x040A4
#define E1000_ROC      0x040AC
#define E1000_TORL     0x040C0
#define E1000_TORH     0x040C4
#define E1000_TOTL     0x040C8
#define E1000_TOTH     0x040CC
#define E1000_TPR      0x040D0
#define E1000_TPT      0x040D4
#define E1000_PTC64    0x040D8
#define E1000_PTC127   0x040DC
#define E1000_PTC255   0x040E0
#define E1000_PTC511   0x040E4
#define E1000_PTC1023  0x040E8
#define E1000_PTC1522  0x040EC
#define E1000_MPTC     0x040F0
#define E1000_BPTC     0x040F4
#define E1000_TSCTC    0x040F8
#define E1000_TSCTFC   0x040FC
#define E1000_RXCSUM   0x05000
#define E1000_MTA      0x05200   /**< 128 dwords */
#define E1000_RAL0     0x05400   /**< RAL[n] = 0x5400 + 8n, RAH[n] = +4; n < 16 */
#define E1000_RAH0     0x05404
#define E1000_VFTA     0x05600   /**< 128 dwords */
#define E1000_WUC      0x05800
#define E1000_WUFC     0x05808
#define E1000_WUS      0x05810
#define E1000_MANC     0x05820
#define E1000_IPAV     0x05838
#define E1000_IP4AT    0x05840
#define E1000_IP6AT    0x05880
#define E1000_WUPL     0x05900
#define E1000_WUPM     0x05A00
#define E1000_FFLT     0x05F00

/** Size of the saved register file: offsets 0 .. E1000_REG_SPAN-1. */
#define E1000_REG_SPAN 0x6000

/* CTRL bits. */
#define E1000_CTRL_FD       0x00000001u
#define E1000_CTRL_ASDE     0x00000020u
#define E1000_CTRL_SLU      0x00000040u
#define E1000_CTRL_SPD_1000 0x00000200u
#define E1000_CTRL_SWDPIN0  0x00040000u
#define E1000_CTRL_SWDPIN2  0x00100000u
#define E1000_CTRL_RST      0x04000000u
#define E1000_CTRL_VME      0x40000000u
#define E1000_CTRL_PHY_RST  0x80000000u
/* STATUS bits. */
#define E1000_STATUS_FD         0x00000001u
#define E1000_STATUS_LU         0x00000002u
#define E1000_STATUS_SPEED_1000 0x00000080u
#define E1000_STATUS_ASDV_1000  0x00000200u   /* autoselect speed detected: 1000 */
#define E1000_STATUS_MTXCKOK    0x00000400u
#define E1000_STATUS_GIO_MASTER 0x00080000u
/* EECD bits. */
#define E1000_EECD_SK   0x0001u
#define E1000_EECD_CS   0x0002u
#define E1000_EECD_DI   0x0004u
#define E1000_EECD_DO   0x0008u
#define E1000_EECD_FWE  0x0030u
#define E1000_EECD_REQ  0x0040u
#define E1000_EECD_GNT  0x0080u
#define E1000_EECD_PRES 0x0100u
/* EERD bits (82540: address at 15:8, DONE bit 4). */
#define E1000_EERD_START      0x0001u
#define E1000_EERD_DONE       0x0010u
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16
/* MDIC bits. */
#define E1000_MDIC_DATA_MASK 0x0000FFFFu
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE  0x04000000u
#define E1000_MDIC_OP_READ   0x08000000u
#define E1000_MDIC_READY     0x10000000u
#define E1000_MDIC_INT_EN    0x20000000u
#define E1000_MDIC_ERROR     0x40000000u
/* Interrupt causes (ICR/ICS/IMS/IMC). */
#define E1000_ICR_TXDW   0x00000001u
#define E1000_ICR_TXQE   0x00000002u
#define E1000_ICR_LSC    0x00000004u
#define E1000_ICR_RXSEQ  0x00000008u
#define E1000_ICR_RXDMT0 0x00000010u
#define E1000_ICR_RXO    0x00000040u
#define E1000_ICR_RXT0   0x00000080u
#define E1000_ICR_MDAC   0x00000200u
#define E1000_ICR_TXD_LOW 0x00008000u
#define E1000_ICR_SRPD   0x00010000u
#define E1000_ICR_VALID  0x0001FEDFu
/* RCTL bits. */
#define E1000_RCTL_EN     0x00000002u
#define E1000_RCTL_SBP    0x00000004u
#define E1000_RCTL_UPE    0x00000008u
#define E1000_RCTL_MPE    0x00000010u
#define E1000_RCTL_LPE    0x00000020u
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT    12
#define E1000_RCTL_BAM    0x00008000u
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE    0x00040000u
#define E1000_RCTL_BSEX   0x02000000u
#define E1000_RCTL_SECRC  0x04000000u
/* TCTL bits. */
#define E1000_TCTL_EN     0x00000002u
#define E1000_TCTL_PSP    0x00000008u
/* RXCSUM bits. */
#define E1000_RXCSUM_PCSS_MASK 0x000000FFu
#define E1000_RXCSUM_IPOFL 0x00000100u
#define E1000_RXCSUM_TUOFL 0x00000200u
/* RAH bits. */
#define E1000_RAH_AV 0x80000000u

/* Receive descriptor status / errors (SDM 3.2.3). */
#define E1000_RXD_STAT_DD    0x01
#define E1000_RXD_STAT_EOP   0x02
#define E1000_RXD_STAT_IXSM  0x04
#define E1000_RXD_STAT_VP    0x08
#define E1000_RXD_STAT_TCPCS 0x20
#define E1000_RXD_STAT_IPCS  0x40
#define E1000_RXD_ERR_TCPE   0x20
#define E1000_RXD_ERR_IPE    0x40
#define E1000_RXD_ERR_RXE    0x80
/* Transmit descriptor command / status / options (SDM 3.3). */
#define E1000_TXD_CMD_EOP  0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC   0x04   /**< legacy: insert checksum */
#define E1000_TXD_CMD_TSE  0x04   /**< extended: TCP segmentation */
#define E1000_TXD_CMD_RS   0x08
#define E1000_TXD_CMD_RPS  0x10
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE  0x40
#define E1000_TXD_CMD_IDE  0x80
#define E1000_TXD_STAT_DD  0x01
#define E1000_TXD_DTYP_CTX  0x0
#define E1000_TXD_DTYP_DATA 0x1
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02
#define E1000_TXD_TUCMD_TCP 0x01
#define E1000_TXD_TUCMD_IP  0x02
#define E1000_TXD_TUCMD_TSE 0x04

/* PHY (M88E1011) registers and bits. */
#define E1000_PHY_CTRL        0x00
#define E1000_PHY_STATUS      0x01
#define E1000_PHY_ID1         0x02
#define E1000_PHY_ID2         0x03
#define E1000_PHY_AUTONEG_ADV 0x04
#define E1000_PHY_LP_ABILITY  0x05
#define E1000_PHY_AUTONEG_EXP 0x06
#define E1000_PHY_1000T_CTRL  0x09
#define E1000_PHY_1000T_STATUS 0x0A
#define E1000_PHY_EXT_STATUS  0x0F
#define E1000_M88_SPEC_CTRL   0x10
#define E1000_M88_SPEC_STATUS 0x11
#define E1000_M88_EXT_SPEC_CTRL 0x14
#define E1000_M88_RX_ERR_CNTR 0x15
#define E1000_M88_PAGE_SELECT 0x1D
#define E1000_M88_GEN_CONTROL 0x1E
#define E1000_PHY_NREGS       0x20
#define E1000_MII_CR_RESET           0x8000
#define E1000_MII_CR_RESTART_AUTONEG 0x0200
#define E1000_MII_SR_LINK_STATUS     0x0004
#define E1000_MII_SR_AUTONEG_COMPLETE 0x0020
#define E1000_M88_SR_LINK            0x0400

#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM   0xBABA

/** Timers of the interrupt moderation logic (index into E1000::timer_ns). */
enum { E1000_T_RDTR, E1000_T_RADV, E1000_T_TIDV, E1000_T_TADV, E1000_T_ITR, E1000_NTIMERS };

/** Offload parameters from a transmit context descriptor (SDM 3.3.6). */
typedef struct E1000TxContext {
    uint8_t ipcss, ipcso;    /**< IP checksum start / offset */
    uint16_t ipcse;          /**< IP checksum end (inclusive), 0 = end of frame */
    uint8_t tucss, tucso;    /**< TCP/UDP checksum start / offset */
    uint16_t tucse;          /**< TCP/UDP checksum end, 0 = end of frame */
    uint32_t paylen;         /**< TSO: payload bytes */
    uint8_t tucmd;           /**< E1000_TXD_TUCMD_* */
    uint8_t hdrlen;          /**< TSO: header bytes */
    uint16_t mss;            /**< TSO: maximum segment payload */
} E1000TxContext;

/** The device.  regs[] holds the register file by offset/4; registers with
 *  side effects live in it too (the accessors apply them). */
typedef struct E1000 {
    PciDevice pci;
    PhysMem *pm;
    IoBus *io;
    VClock *clk;
    NetBackend *be;                  /**< may be NULL: frames are dropped */
    uint8_t mac[6];                  /**< the EEPROM's Ethernet address */
    /** Optional debug log (unknown registers, DMA faults). */
    void (*log)(void *opaque, const char *msg);
    void *log_opaque;
    int64_t mmio_base;               /**< BAR0 as mapped, or PCI_BAR_UNMAPPED */
    int64_t io_base;                 /**< BAR1 as mapped, or PCI_BAR_UNMAPPED */
    VTimer timers[E1000_NTIMERS];

    /* --- saved state --- */
    uint32_t regs[E1000_REG_SPAN / 4];
    uint16_t eeprom[E1000_EEPROM_WORDS];
    uint16_t phy[E1000_PHY_NREGS];
    bool link_up;                    /**< the cable (host side: e1000_set_link) */
    bool irq_level;                  /**< INTA as driven */
    uint32_t ioaddr;                 /**< BAR1 IOADDR */
    /* Microwire EEPROM shifter (SDM 5.3.1). */
    uint32_t ee_in;                  /**< bits shifted in since CS rose */
    uint8_t ee_nbits;                /**< how many */
    uint8_t ee_state;                /**< 0 command, 1 reading, 2 ignoring */
    uint8_t ee_addr;                 /**< word being read */
    uint8_t ee_bit;                  /**< next data bit (15..0 order index) */
    bool ee_do;                      /**< data out level */
    /* Transmit state between descriptors of one frame. */
    E1000TxContext ctx_csum;         /**< last non-TSO context */
    E1000TxContext ctx_tso;          /**< last TSO context */
    bool tx_active;                  /**< a frame's first descriptor was seen */
    uint8_t tx_popts;                /**< options of the frame's first data descriptor */
    uint8_t tx_cmd;                  /**< command bits of the frame's first descriptor */
    uint8_t tx_lcss, tx_lcso;        /**< legacy descriptor checksum start / offset */
    bool tx_tse;                     /**< the frame in progress is a TSO frame */
    bool tx_bad;                     /**< a buffer fault: drop the rest of this frame */
    bool tx_vle;                     /**< insert a VLAN tag */
    uint16_t tx_vlan;                /**< its TCI */
    uint32_t tx_len;                 /**< bytes in tx_buf */
    uint32_t tx_seg;                 /**< TSO: segments sent so far */
    uint32_t tx_sent;                /**< TSO: payload bytes sent so far */
    uint8_t tx_hdr[256];             /**< TSO: the original header */
    uint8_t tx_buf[0x10000 + 256];   /**< frame being assembled */
    int64_t timer_ns[E1000_NTIMERS]; /**< absolute expiry, -1 = not armed */

    /* --- scratch, not saved --- */
    bool in_tx;                      /**< inside tx_process (re-entry guard) */
    uint8_t tx_out[0x10000 + 264];   /**< frame with a VLAN tag / padding */
} E1000;

/**
 * Create the NIC at devfn of bus (BAR0 memory, BAR1 I/O, INTA), its
 * registers reset, the EEPROM built from mac (words 0-2) with its checksum,
 * RAL0/RAH0 preloaded (AV set), link up.  pm: DMA and BAR0 mapping; io: BAR1;
 * clk: moderation timers; be: the backend (may be NULL; its nic_* members
 * are filled in).  Returns NULL on allocation failure or if devfn is taken.
 */
E1000 *e1000_new(PciBus *bus, int devfn, PhysMem *pm, IoBus *io, VClock *clk,
                 const uint8_t mac[6], NetBackend *be);

/** Power-on / PCI reset: configuration space and registers (link state
 *  and the EEPROM are kept). */
void e1000_reset(E1000 *s);

/** Detach from the bus (BARs unmapped), unhook the backend, free. */
void e1000_free(E1000 *s);

/** Plug or unplug the cable: STATUS.LU, PHY link/autonegotiation bits, and
 *  an LSC interrupt when the state changes. */
void e1000_set_link(E1000 *s, bool up);

/** Whether a frame of len bytes would be taken now: receiver enabled, link
 *  up, bus mastering on, a valid ring with enough free descriptors. */
bool e1000_can_receive(E1000 *s, size_t len);

/**
 * Deliver a frame from the network (no FCS; padded to 60 bytes here).
 * Returns len when the frame was consumed (stored, or dropped by the
 * address filter, size limits or a DMA fault), 0 when it could not be
 * stored for lack of receive descriptors (RXO and MPC count it; the caller
 * may retry after rx_ready).
 */
size_t e1000_receive(E1000 *s, const uint8_t *frame, size_t len);

/** Register file access as the guest sees it through BAR0 (offset within
 *  the 128 KiB window, 32-bit); tests and the I/O window use it too. */
uint32_t e1000_reg_read(E1000 *s, uint32_t off);
void e1000_reg_write(E1000 *s, uint32_t off, uint32_t val);

/** Snapshot: registers, EEPROM, PHY, link, EEPROM shifter, transmit state
 *  (including a partly assembled frame) and moderation timer expiries. */
extern const StateDesc e1000_state;

#endif
