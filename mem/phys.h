/*
 * phys.h - the guest physical address space (32-bit, 4 GiB).
 *
 * A map of 4 KiB pages.  Each page has an optional host pointer for reads
 * and one for writes (RAM: both; ROM: read only; PAM "write RAM, read ROM":
 * different ones), or an MMIO region, or nothing (reads all ones, writes are
 * dropped: the PC's floating bus).  The A20 gate masks bit 20 of every
 * CPU-generated address.  Per-page dirty bits (one per client: display,
 * snapshot/migration) and a per-page "holds translated code" count are kept
 * here so that the CPU's translation cache, DMA and the display share them.
 *
 * Guest DMA goes only through phys_dma_read/phys_dma_write, which refuse any
 * range that is not entirely RAM.
 */
#ifndef VESSEL_MEM_PHYS_H
#define VESSEL_MEM_PHYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PHYS_PAGE_BITS 12
#define PHYS_PAGE_SIZE 4096u
#define PHYS_NPAGES (1u << 20)

/** MMIO callbacks; off is relative to the region base, size 1/2/4 bytes.
 *  Accesses crossing a region's end are split by the caller into bytes. */
typedef struct MmioOps {
    uint32_t (*read)(void *opaque, uint32_t off, unsigned size);
    void (*write)(void *opaque, uint32_t off, uint32_t val, unsigned size);
} MmioOps;

typedef struct MmioRegion {
    const MmioOps *ops;
    void *opaque;
    uint32_t base, size;
    const char *name;
} MmioRegion;

#define PHYS_MAX_MMIO 64

/** Dirty-tracking clients: one bit each in dirty[]. */
enum { DIRTY_DISPLAY = 1, DIRTY_SNAPSHOT = 2, DIRTY_ALL = 3 };

typedef struct PhysMem {
    uint8_t *ram;          /**< guest RAM, ram_size bytes, zeroed */
    uint32_t ram_size;     /**< bytes, multiple of 4 KiB */
    uint8_t **rd;          /**< [PHYS_NPAGES] host page for reads or NULL */
    uint8_t **wr;          /**< [PHYS_NPAGES] host page for writes or NULL */
    uint8_t *mmio;         /**< [PHYS_NPAGES] MMIO region index + 1, 0 = none */
    uint8_t *dirty;        /**< [PHYS_NPAGES] DIRTY_* bits set on write */
    uint16_t *code;        /**< [PHYS_NPAGES] >0: page holds translated code */
    MmioRegion regions[PHYS_MAX_MMIO];
    int nregions;
    uint32_t a20_mask;     /**< 0xFFFFFFFF (A20 on) or 0xFFEFFFFF */
    /** Called when a write (CPU slow path or DMA) hits a page with code. */
    void (*code_write)(void *opaque, uint32_t paddr, uint32_t len);
    /** Called when the map, A20 or write protection changes: CPU TLBs flush. */
    void (*map_changed)(void *opaque);
    void *hook_opaque;
    bool tracking;         /**< some client clears dirty bits (write slow path needed) */
} PhysMem;

/** Allocates ram_size bytes of zeroed RAM (multiple of 4 KiB, at most
 *  3.5 GiB) mapped at 0 with the 0xA0000-0xFFFFF hole left unmapped.
 *  Returns 0, or -1 (size invalid or out of memory). */
int phys_init(PhysMem *pm, uint32_t ram_size);

/** Frees what phys_init allocated. */
void phys_free(PhysMem *pm);

/** Map host memory at paddr (both page aligned; size in bytes, multiple of
 *  4 KiB).  rd/wr: host pointers for reads and writes; either may be NULL
 *  (NULL wr = writes dropped, i.e. ROM).  Clears any MMIO there. */
void phys_map(PhysMem *pm, uint32_t paddr, uint32_t size, uint8_t *rd, uint8_t *wr);

/** Map RAM [paddr, paddr+size) as itself (RAM offset == paddr). */
void phys_map_ram(PhysMem *pm, uint32_t paddr, uint32_t size);

/** Map an MMIO region (page aligned base, size multiple of 4 KiB).
 *  Returns 0, or -1 when the region table is full. */
int phys_map_mmio(PhysMem *pm, uint32_t paddr, uint32_t size, const MmioOps *ops,
                  void *opaque, const char *name);

/** Unmap pages (reads all ones afterwards). */
void phys_unmap(PhysMem *pm, uint32_t paddr, uint32_t size);

/** The physical memory map as text, one line per run of pages of the same
 *  kind (QEMU's `info mtree`, flat): "START-END kind [detail]" with END
 *  inclusive, kinds ram (with the offset in guest RAM), ram-ro / ram-wo
 *  (RAM shadowed read-only or write-only: PAM), rom (read-only host memory
 *  outside guest RAM: the BIOS), devmem (memory of a device mapped
 *  directly: the VGA frame buffer), mmio NAME, and unassigned runs are
 *  left out.  Writes at most len bytes including the NUL; returns the
 *  length it needed (like snprintf), -1 when len is 0. */
int phys_describe(const PhysMem *pm, char *buf, size_t len);

/** Set the A20 gate (true = address bit 20 passes). */
void phys_set_a20(PhysMem *pm, bool on);

/** Read/write size (1/2/4/8) bytes at a physical address through the map
 *  (CPU slow path, device models, loaders).  No A20 masking here: the CPU
 *  applies a20_mask itself. Unmapped reads give all ones. */
uint64_t phys_read(PhysMem *pm, uint32_t paddr, unsigned size);
void phys_write(PhysMem *pm, uint32_t paddr, uint64_t val, unsigned size);

/** Bulk copies through the map (any alignment, may cross pages, MMIO, etc.).
 *  Used by loaders (-kernel, ROM install) and debuggers. */
void phys_read_buf(PhysMem *pm, uint32_t paddr, void *buf, size_t len);
void phys_write_buf(PhysMem *pm, uint32_t paddr, const void *buf, size_t len);

/** Guest DMA: copy len bytes between guest RAM and buf.  Returns 0, or -1
 *  (nothing copied) if any byte of [paddr, paddr+len) is not RAM or the
 *  range wraps.  Writes mark pages dirty and invalidate translated code. */
int phys_dma_read(PhysMem *pm, uint32_t paddr, void *buf, size_t len);
int phys_dma_write(PhysMem *pm, uint32_t paddr, const void *buf, size_t len);

/** Mark [paddr, paddr+len) written: sets every dirty bit, calls code_write
 *  for pages that hold code.  The CPU calls this from its write slow path. */
void phys_note_write(PhysMem *pm, uint32_t paddr, uint32_t len);

/** Returns true if any page in [paddr, paddr+len) has client's dirty bit,
 *  and clears those bits (the caller then re-protects: map_changed fires). */
bool phys_dirty_test_and_clear(PhysMem *pm, uint32_t paddr, uint32_t len, uint8_t client);

/** Whether a page can take CPU writes on the fast path (RAM, all dirty bits
 *  set, no translated code). */
static inline bool phys_page_write_fast(const PhysMem *pm, uint32_t page)
{
    return pm->wr[page] && pm->code[page] == 0 && pm->dirty[page] == DIRTY_ALL;
}

#endif
