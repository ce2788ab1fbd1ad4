/*
 * pci.h - PCI bus 0 behind configuration mechanism #1 (ports 0xCF8/0xCFC).
 *
 * Sources: PCI Local Bus Specification 3.0 ch. 6 (configuration space,
 * header type 0, BARs, COMMAND/STATUS), ch. 3.2.2.3.2 (configuration
 * mechanism #1); Intel 440FX datasheet 3.1 (CONFADD/CONFDATA).
 *
 * A PciDevice is one function: 256 bytes of configuration space with a
 * per-byte writable mask (wmask) and write-1-to-clear mask (w1cmask).  The
 * generic layer handles COMMAND, STATUS, BARs (sizing and decoding, reported
 * to the device through a map callback), the interrupt pin/line registers and
 * INTx.  A device embeds a PciDevice (pci_device_init) or gets one from the
 * heap (pci_device_new); its device-specific registers sit in config[] too,
 * with optional config_write/config_read hooks for side effects.
 *
 * All of a function's architectural state is its config[] array: STATUS
 * bit 3 (interrupt status) mirrors the INTx level, BAR decoding derives
 * from COMMAND and the BARs.  So a device's StateDesc saves config[]
 * (ST_BYTES(pci.config, Foo)) and its post_load calls pci_device_post_load().
 *
 * Interrupts: pci_set_irq(dev, level) drives the INTx pin of config 0x3D.
 * The bus maps (devfn, pin) to one of up to PCI_MAX_PIRQ PIRQ lines through
 * a board/chipset-supplied map_irq and keeps per-PIRQ counts of asserted
 * devices, so a shared line stays high until the last device drops it.
 */
#ifndef VESSEL_DEVICES_PCI_H
#define VESSEL_DEVICES_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/state.h"

/* Configuration header offsets (PCI 3.0 6.1, type 0 header). */
#define PCI_VENDOR_ID        0x00
#define PCI_DEVICE_ID        0x02
#define PCI_COMMAND          0x04
#define PCI_STATUS           0x06
#define PCI_REVISION_ID      0x08
#define PCI_CLASS_PROG       0x09
#define PCI_CLASS_DEVICE     0x0A
#define PCI_CACHE_LINE_SIZE  0x0C
#define PCI_LATENCY_TIMER    0x0D
#define PCI_HEADER_TYPE      0x0E
#define PCI_BASE_ADDRESS_0   0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID     0x2E
#define PCI_ROM_ADDRESS      0x30
#define PCI_INTERRUPT_LINE   0x3C
#define PCI_INTERRUPT_PIN    0x3D

/* COMMAND bits (PCI 3.0 6.2.2). */
#define PCI_COMMAND_IO            0x0001
#define PCI_COMMAND_MEMORY        0x0002
#define PCI_COMMAND_MASTER        0x0004
#define PCI_COMMAND_PARITY        0x0040
#define PCI_COMMAND_SERR          0x0100
#define PCI_COMMAND_INTX_DISABLE  0x0400

/* STATUS bits (PCI 3.0 6.2.3). */
#define PCI_STATUS_INTERRUPT      0x0008
#define PCI_STATUS_CAP_LIST       0x0010
#define PCI_STATUS_FAST_BACK      0x0080
#define PCI_STATUS_DEVSEL_MEDIUM  0x0200
#define PCI_STATUS_W1C            0xF900  /**< parity/abort/SERR bits */

#define PCI_HEADER_TYPE_MULTI_FUNCTION 0x80

#define PCI_BASE_ADDRESS_SPACE_IO 0x01
#define PCI_ROM_ADDRESS_ENABLE    0x01

/** BAR indices: 0..5 at 0x10 + 4n, PCI_ROM_SLOT = the expansion ROM (0x30). */
#define PCI_NUM_REGIONS 7
#define PCI_ROM_SLOT    6

/** Value passed to a map callback when the BAR stops decoding. */
#define PCI_BAR_UNMAPPED (-1)

#define PCI_DEVFN(slot, fn) ((((slot) & 0x1F) << 3) | ((fn) & 7))
#define PCI_SLOT(devfn)     (((devfn) >> 3) & 0x1F)
#define PCI_FUNC(devfn)     ((devfn) & 7)

/** Most PIRQ lines a routing can supply (PIIX3 has 4: PIRQA-D). */
#define PCI_MAX_PIRQ 8

struct PciBus;
struct PciDevice;

/** BAR map callback: addr is the new base (I/O port or physical address)
 *  or PCI_BAR_UNMAPPED.  When a BAR moves, the callback is first told
 *  PCI_BAR_UNMAPPED, then the new base. */
typedef void (*PciBarMapFn)(struct PciDevice *dev, int bar, int64_t addr);

/** One base address register as registered by the device model. */
typedef struct PciBar {
    uint32_t size;        /**< bytes, power of two; 0 = not implemented */
    bool is_io;           /**< I/O space (else 32-bit memory) */
    PciBarMapFn map;      /**< may be NULL */
    int64_t mapped;       /**< derived: current base or PCI_BAR_UNMAPPED */
} PciBar;

/** One PCI function. */
typedef struct PciDevice {
    struct PciBus *bus;
    int devfn;                  /**< slot << 3 | function */
    const char *name;           /**< for pci_info; may be NULL */
    uint8_t config[256];        /**< configuration space (the device's state) */
    uint8_t wmask[256];         /**< 1 bits may be written by the guest */
    uint8_t w1cmask[256];       /**< 1 bits are cleared by writing 1 */
    PciBar bars[PCI_NUM_REGIONS];
    /* INTx bookkeeping, derived from config (STATUS bit 3, COMMAND bit 10). */
    bool irq_counted;           /**< counted as asserted on irq_pirq */
    int irq_pirq;               /**< PIRQ index counted on, or -1 */
    /** Optional: called after a guest config write was applied to config[]
     *  (off 0..255, size 1/2/4, val the raw value written). */
    void (*config_write)(struct PciDevice *dev, int off, uint32_t val, int size);
    /** Optional: replaces the default read (config[] bytes); may call
     *  pci_default_config_read. off+size <= 256. */
    uint32_t (*config_read)(struct PciDevice *dev, int off, int size);
    void *opaque;               /**< the owning device model */
    bool heap;                  /**< allocated by pci_device_new */
} PciDevice;

/** Board routing: PIRQ index (0..npirq-1) for a device's INTx pin (1..4),
 *  or -1 for none. */
typedef int (*PciMapIrqFn)(void *opaque, int devfn, int pin);

/** PCI bus 0 and its config mechanism #1 host interface. */
typedef struct PciBus {
    IoBus *io;
    uint32_t config_addr;       /**< CONFADD (0xCF8): bit 31 enable, bus/dev/fn/reg */
    PciDevice *devs[256];       /**< by devfn */
    PciMapIrqFn map_irq;
    void *map_irq_opaque;
    Irq pirq[PCI_MAX_PIRQ];
    int npirq;
    int pirq_count[PCI_MAX_PIRQ];   /**< asserted devices per PIRQ (derived) */
    /** Byte accesses to port 0xCF9 (the PIIX reset control register shares
     *  the CONFADD dword; only 32-bit accesses reach CONFADD). */
    uint32_t (*cf9_read)(void *opaque);
    void (*cf9_write)(void *opaque, uint8_t val);
    void *cf9_opaque;
} PciBus;

/** Create bus 0 and register ports 0xCF8-0xCFF on io. NULL on failure. */
PciBus *pci_bus_new(IoBus *io);

/** Free the bus (not the devices: their owners free them). */
void pci_bus_free(PciBus *bus);

/** Reset the host interface (CONFADD = 0). Devices reset themselves. */
void pci_bus_reset(PciBus *bus);

/** Install the INTx routing: map_irq(opaque, devfn, pin) picks one of npirq
 *  (<= PCI_MAX_PIRQ) lines in pirq[] (copied).  Re-drives every line. */
void pci_bus_set_irq_routing(PciBus *bus, PciMapIrqFn map_irq, void *opaque,
                             const Irq *pirq, int npirq);

/** Install handlers for byte accesses to port 0xCF9 (see PciBus). */
void pci_bus_set_cf9(PciBus *bus, uint32_t (*rd)(void *opaque),
                     void (*wr)(void *opaque, uint8_t val), void *opaque);

/** Recount every device's INTx and drive every PIRQ line to its level
 *  (after a state load or a routing change). */
void pci_bus_refresh_irqs(PciBus *bus);

/** Snapshot of the bus's own state (CONFADD); opaque = PciBus. */
extern const StateDesc pci_bus_state;

/**
 * Initialise an embedded function and attach it at devfn.  class_prog is
 * class << 8 | prog-if (e.g. 0x060000 for a host bridge).  Sets the
 * default masks (COMMAND IO/MEM/MASTER/PARITY/SERR/INTX_DISABLE, cache line,
 * latency, interrupt line, and all of 0x40-0xFF writable; STATUS error bits
 * W1C).  If another function of the same slot exists, function 0's header
 * type gets bit 7.  Returns 0, or -1 (bad devfn or slot taken).
 */
int pci_device_init(PciDevice *dev, PciBus *bus, int devfn, uint16_t vendor,
                    uint16_t device, uint8_t revision, uint32_t class_prog,
                    uint8_t header_type);

/** As pci_device_init on a heap-allocated function. NULL on failure. */
PciDevice *pci_device_new(PciBus *bus, int devfn, uint16_t vendor, uint16_t device,
                          uint8_t revision, uint32_t class_prog, uint8_t header_type);

/** Detach from the bus (lowering its INTx, unmapping BARs); frees it if it
 *  came from pci_device_new. */
void pci_device_free(PciDevice *dev);

/**
 * Declare BAR n (0..5, or PCI_ROM_SLOT): size a power of two (I/O: 4..65536
 * bytes; memory: 16 bytes..2 GiB; ROM: >= 2 KiB), is_io for I/O space.
 * map is called as decoding turns on/off or the BAR moves.  Returns 0 or -1.
 */
int pci_register_bar(PciDevice *dev, int n, uint32_t size, bool is_io, PciBarMapFn map);

/** Current decoded base of BAR n, or PCI_BAR_UNMAPPED. */
int64_t pci_bar_address(const PciDevice *dev, int n);

/** Drive the function's INTx (pin from config 0x3D; 0 = none) to level. */
void pci_set_irq(PciDevice *dev, int level);

/** Generic part of a function reset (PCI 3.0 6.2): COMMAND, STATUS error
 *  bits, BAR addresses, ROM BAR, cache line, latency, interrupt line, INTx
 *  cleared; decoding stops.  Device registers are the device's job. */
void pci_device_reset(PciDevice *dev);

/** After config[] was loaded: re-derive INTx counting and BAR decoding. */
void pci_device_post_load(PciDevice *dev);

/** Default config read of config[] bytes (off+size beyond 255 reads 0xFF). */
uint32_t pci_default_config_read(PciDevice *dev, int off, int size);

/** Guest-visible config access to bus 0, devfn, register off (0..255),
 *  size 1/2/4.  Absent functions read all ones; bytes past 0xFF read 0xFF
 *  and are ignored on write. */
uint32_t pci_config_read(PciBus *bus, int devfn, int off, int size);
void pci_config_write(PciBus *bus, int devfn, int off, uint32_t val, int size);

/** `info pci` text into buf (always NUL-terminated when size > 0).
 *  Returns the length it needed (as snprintf). */
size_t pci_info(PciBus *bus, char *buf, size_t size);

/* Little-endian accessors for config-space arrays. */
static inline uint16_t pci_get_word(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t pci_get_long(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void pci_set_word(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void pci_set_long(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/** Byte b of register [off, off+size) written with val, if the write covered
 *  it (for config_write hooks): returns true and stores it in *out. */
static inline bool pci_write_covers(int off, int size, uint32_t val, int b, uint8_t *out)
{
    if (b < off || b >= off + size)
        return false;
    *out = (uint8_t)(val >> (8 * (b - off)));
    return true;
}

#endif
