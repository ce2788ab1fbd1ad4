/*
 * phys.c - the guest physical address space: page map, MMIO dispatch,
 * dirty and code tracking, checked DMA.  See phys.h.
 */
#include "mem/phys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Translated code on pages whose mapping changes is stale. */
static void invalidate_code(PhysMem *pm, uint32_t first, uint32_t n)
{
    for (uint32_t k = 0; k < n && first + k < PHYS_NPAGES; k++) {
        if (pm->code[first + k] && pm->code_write)
            pm->code_write(pm->hook_opaque, (first + k) << PHYS_PAGE_BITS, PHYS_PAGE_SIZE);
    }
}

static void notify_map_changed(PhysMem *pm)
{
    if (pm->map_changed)
        pm->map_changed(pm->hook_opaque);
}

int phys_init(PhysMem *pm, uint32_t ram_size)
{
    memset(pm, 0, sizeof(*pm));
    if (ram_size == 0 || (ram_size & (PHYS_PAGE_SIZE - 1)) || ram_size > 0xE0000000u)
        return -1;
    pm->ram = calloc(1, ram_size);
    pm->rd = calloc(PHYS_NPAGES, sizeof(*pm->rd));
    pm->wr = calloc(PHYS_NPAGES, sizeof(*pm->wr));
    pm->mmio = calloc(PHYS_NPAGES, 1);
    pm->dirty = malloc(PHYS_NPAGES);
    pm->code = calloc(PHYS_NPAGES, sizeof(*pm->code));
    if (!pm->ram || !pm->rd || !pm->wr || !pm->mmio || !pm->dirty || !pm->code) {
        phys_free(pm);
        return -1;
    }
    memset(pm->dirty, DIRTY_ALL, PHYS_NPAGES);
    pm->ram_size = ram_size;
    pm->a20_mask = 0xFFFFFFFFu;
    if (ram_size > 0xA0000) {
        phys_map_ram(pm, 0, 0xA0000);
        if (ram_size > 0x100000)
            phys_map_ram(pm, 0x100000, ram_size - 0x100000);
    } else {
        phys_map_ram(pm, 0, ram_size);
    }
    return 0;
}

void phys_free(PhysMem *pm)
{
    free(pm->ram);
    free(pm->rd);
    free(pm->wr);
    free(pm->mmio);
    free(pm->dirty);
    free(pm->code);
    memset(pm, 0, sizeof(*pm));
}

void phys_map(PhysMem *pm, uint32_t paddr, uint32_t size, uint8_t *rd, uint8_t *wr)
{
    uint32_t first = paddr >> PHYS_PAGE_BITS;
    uint32_t n = size >> PHYS_PAGE_BITS;
    invalidate_code(pm, first, n);
    for (uint32_t k = 0; k < n && first + k < PHYS_NPAGES; k++) {
        pm->rd[first + k] = rd ? rd + ((size_t)k << PHYS_PAGE_BITS) : NULL;
        pm->wr[first + k] = wr ? wr + ((size_t)k << PHYS_PAGE_BITS) : NULL;
        pm->mmio[first + k] = 0;
    }
    notify_map_changed(pm);
}

void phys_map_ram(PhysMem *pm, uint32_t paddr, uint32_t size)
{
    if ((uint64_t)paddr + size > pm->ram_size)
        size = paddr < pm->ram_size ? pm->ram_size - paddr : 0;
    phys_map(pm, paddr, size, pm->ram + paddr, pm->ram + paddr);
}

int phys_map_mmio(PhysMem *pm, uint32_t paddr, uint32_t size, const MmioOps *ops,
                  void *opaque, const char *name)
{
    int idx = -1;
    for (int k = 0; k < pm->nregions; k++) {
        if (pm->regions[k].ops == NULL) {
            idx = k;
            break;
        }
    }
    if (idx < 0) {
        if (pm->nregions >= PHYS_MAX_MMIO)
            return -1;
        idx = pm->nregions++;
    }
    pm->regions[idx] = (MmioRegion){ ops, opaque, paddr, size, name };
    uint32_t first = paddr >> PHYS_PAGE_BITS;
    uint32_t n = (size + PHYS_PAGE_SIZE - 1) >> PHYS_PAGE_BITS;
    invalidate_code(pm, first, n);
    for (uint32_t k = 0; k < n && first + k < PHYS_NPAGES; k++) {
        pm->rd[first + k] = NULL;
        pm->wr[first + k] = NULL;
        pm->mmio[first + k] = (uint8_t)(idx + 1);
    }
    notify_map_changed(pm);
    return 0;
}

void phys_unmap(PhysMem *pm, uint32_t paddr, uint32_t size)
{
    uint32_t first = paddr >> PHYS_PAGE_BITS;
    uint32_t n = (size + PHYS_PAGE_SIZE - 1) >> PHYS_PAGE_BITS;
    invalidate_code(pm, first, n);
    for (uint32_t k = 0; k < n && first + k < PHYS_NPAGES; k++) {
        uint8_t m = pm->mmio[first + k];
        pm->rd[first + k] = NULL;
        pm->wr[first + k] = NULL;
        pm->mmio[first + k] = 0;
        if (m) {
            /* Free the region slot once no page refers to it. */
            MmioRegion *r = &pm->regions[m - 1];
            uint32_t rf = r->base >> PHYS_PAGE_BITS;
            uint32_t rn = (r->size + PHYS_PAGE_SIZE - 1) >> PHYS_PAGE_BITS;
            bool used = false;
            for (uint32_t j = 0; j < rn && !used; j++)
                used = rf + j < PHYS_NPAGES && pm->mmio[rf + j] == m;
            if (!used)
                r->ops = NULL;
        }
    }
    notify_map_changed(pm);
}

void phys_set_a20(PhysMem *pm, bool on)
{
    uint32_t mask = on ? 0xFFFFFFFFu : 0xFFEFFFFFu;
    if (mask != pm->a20_mask) {
        pm->a20_mask = mask;
        notify_map_changed(pm);
    }
}

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static void store_le(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned k = 0; k < size; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

static uint8_t read_byte(PhysMem *pm, uint32_t paddr)
{
    uint32_t page = paddr >> PHYS_PAGE_BITS;
    if (pm->rd[page])
        return pm->rd[page][paddr & (PHYS_PAGE_SIZE - 1)];
    if (pm->mmio[page]) {
        MmioRegion *r = &pm->regions[pm->mmio[page] - 1];
        return (uint8_t)r->ops->read(r->opaque, paddr - r->base, 1);
    }
    return 0xFF;
}

static void write_byte(PhysMem *pm, uint32_t paddr, uint8_t v)
{
    uint32_t page = paddr >> PHYS_PAGE_BITS;
    if (pm->wr[page]) {
        pm->wr[page][paddr & (PHYS_PAGE_SIZE - 1)] = v;
        phys_note_write(pm, paddr, 1);
    } else if (pm->mmio[page]) {
        MmioRegion *r = &pm->regions[pm->mmio[page] - 1];
        r->ops->write(r->opaque, paddr - r->base, v, 1);
    }
}

uint64_t phys_read(PhysMem *pm, uint32_t paddr, unsigned size)
{
    uint32_t page = paddr >> PHYS_PAGE_BITS;
    uint32_t off = paddr & (PHYS_PAGE_SIZE - 1);
    if (off + size <= PHYS_PAGE_SIZE) {
        if (pm->rd[page])
            return load_le(pm->rd[page] + off, size);
        if (pm->mmio[page] && size <= 4) {
            MmioRegion *r = &pm->regions[pm->mmio[page] - 1];
            if (paddr - r->base + size <= r->size)
                return r->ops->read(r->opaque, paddr - r->base, size);
        }
        if (pm->mmio[page] && size == 8) {
            return phys_read(pm, paddr, 4) | (phys_read(pm, paddr + 4, 4) << 32);
        }
        if (!pm->mmio[page])
            return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
    }
    uint64_t v = 0;
    for (unsigned k = 0; k < size; k++)
        v |= (uint64_t)read_byte(pm, paddr + k) << (8 * k);
    return v;
}

void phys_write(PhysMem *pm, uint32_t paddr, uint64_t val, unsigned size)
{
    uint32_t page = paddr >> PHYS_PAGE_BITS;
    uint32_t off = paddr & (PHYS_PAGE_SIZE - 1);
    if (off + size <= PHYS_PAGE_SIZE) {
        if (pm->wr[page]) {
            store_le(pm->wr[page] + off, val, size);
            phys_note_write(pm, paddr, size);
            return;
        }
        if (pm->mmio[page] && size <= 4) {
            MmioRegion *r = &pm->regions[pm->mmio[page] - 1];
            if (paddr - r->base + size <= r->size) {
                r->ops->write(r->opaque, paddr - r->base, (uint32_t)val, size);
                return;
            }
        }
        if (pm->mmio[page] && size == 8) {
            phys_write(pm, paddr, (uint32_t)val, 4);
            phys_write(pm, paddr + 4, (uint32_t)(val >> 32), 4);
            return;
        }
        if (!pm->mmio[page])
            return;
    }
    for (unsigned k = 0; k < size; k++)
        write_byte(pm, paddr + k, (uint8_t)(val >> (8 * k)));
}

void phys_read_buf(PhysMem *pm, uint32_t paddr, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len) {
        uint32_t page = paddr >> PHYS_PAGE_BITS;
        uint32_t off = paddr & (PHYS_PAGE_SIZE - 1);
        size_t chunk = PHYS_PAGE_SIZE - off;
        if (chunk > len)
            chunk = len;
        if (pm->rd[page]) {
            memcpy(b, pm->rd[page] + off, chunk);
        } else {
            for (size_t k = 0; k < chunk; k++)
                b[k] = read_byte(pm, paddr + (uint32_t)k);
        }
        b += chunk;
        len -= chunk;
        paddr += (uint32_t)chunk;
    }
}

void phys_write_buf(PhysMem *pm, uint32_t paddr, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    while (len) {
        uint32_t page = paddr >> PHYS_PAGE_BITS;
        uint32_t off = paddr & (PHYS_PAGE_SIZE - 1);
        size_t chunk = PHYS_PAGE_SIZE - off;
        if (chunk > len)
            chunk = len;
        if (pm->wr[page]) {
            memcpy(pm->wr[page] + off, b, chunk);
            phys_note_write(pm, paddr, (uint32_t)chunk);
        } else {
            for (size_t k = 0; k < chunk; k++)
                write_byte(pm, paddr + (uint32_t)k, b[k]);
        }
        b += chunk;
        len -= chunk;
        paddr += (uint32_t)chunk;
    }
}

/* True if [paddr, paddr+len) is entirely RAM mapped as itself. */
static bool dma_range_ok(PhysMem *pm, uint32_t paddr, size_t len, bool write)
{
    if (len == 0)
        return true;
    if ((uint64_t)paddr + len > 0x100000000ull)
        return false;
    uint32_t first = paddr >> PHYS_PAGE_BITS;
    uint32_t last = (uint32_t)(((uint64_t)paddr + len - 1) >> PHYS_PAGE_BITS);
    for (uint32_t p = first; p <= last; p++) {
        uint8_t *h = write ? pm->wr[p] : pm->rd[p];
        if (!h || h < pm->ram || h >= pm->ram + pm->ram_size)
            return false;
    }
    return true;
}

int phys_dma_read(PhysMem *pm, uint32_t paddr, void *buf, size_t len)
{
    if (!dma_range_ok(pm, paddr, len, false))
        return -1;
    phys_read_buf(pm, paddr, buf, len);
    return 0;
}

int phys_dma_write(PhysMem *pm, uint32_t paddr, const void *buf, size_t len)
{
    if (!dma_range_ok(pm, paddr, len, true))
        return -1;
    phys_write_buf(pm, paddr, buf, len);
    return 0;
}

void phys_note_write(PhysMem *pm, uint32_t paddr, uint32_t len)
{
    if (len == 0)
        return;
    uint32_t first = paddr >> PHYS_PAGE_BITS;
    uint32_t last = (uint32_t)(((uint64_t)paddr + len - 1) >> PHYS_PAGE_BITS);
    for (uint32_t p = first; p <= last && p < PHYS_NPAGES; p++) {
        pm->dirty[p] = DIRTY_ALL;
        if (pm->code[p] && pm->code_write) {
            uint32_t s = p == first ? paddr : p << PHYS_PAGE_BITS;
            uint64_t e = (uint64_t)paddr + len;
            uint64_t pe = ((uint64_t)p + 1) << PHYS_PAGE_BITS;
            if (e > pe)
                e = pe;
            pm->code_write(pm->hook_opaque, s, (uint32_t)(e - s));
        }
    }
}

bool phys_dirty_test_and_clear(PhysMem *pm, uint32_t paddr, uint32_t len, uint8_t client)
{
    if (len == 0)
        return false;
    bool any = false;
    uint32_t first = paddr >> PHYS_PAGE_BITS;
    uint32_t last = (uint32_t)(((uint64_t)paddr + len - 1) >> PHYS_PAGE_BITS);
    for (uint32_t p = first; p <= last && p < PHYS_NPAGES; p++) {
        if (pm->dirty[p] & client) {
            any = true;
            pm->dirty[p] &= (uint8_t)~client;
        }
    }
    if (any)
        notify_map_changed(pm);
    return any;
}

/* ---- the map as text (monitor: info mtree) ---- */

enum { PK_NONE, PK_RAM, PK_RAM_RO, PK_RAM_WO, PK_ROM, PK_DEVMEM, PK_MMIO };

typedef struct PageKind {
    int kind;
    uintptr_t host;     /* host address of the page (rd, else wr) */
    int region;         /* MMIO region index */
} PageKind;

static PageKind page_kind(const PhysMem *pm, uint32_t page)
{
    PageKind k = { PK_NONE, 0, -1 };
    const uint8_t *rd = pm->rd[page], *wr = pm->wr[page];
    if (pm->mmio[page]) {
        k.kind = PK_MMIO;
        k.region = pm->mmio[page] - 1;
        return k;
    }
    if (!rd && !wr)
        return k;
    const uint8_t *h = rd ? rd : wr;
    k.host = (uintptr_t)h;
    bool in_ram = h >= pm->ram && h < pm->ram + pm->ram_size;
    if (in_ram)
        k.kind = rd && wr ? PK_RAM : rd ? PK_RAM_RO : PK_RAM_WO;
    else
        k.kind = wr ? PK_DEVMEM : PK_ROM;
    return k;
}

typedef struct TextBuf {
    char *buf;
    size_t len, used; /* used may exceed len: the length needed */
} TextBuf;

static void tb_printf(TextBuf *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = t->used < t->len ? t->len - t->used : 0;
    int n = vsnprintf(room ? t->buf + t->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->used += (size_t)n;
}

int phys_describe(const PhysMem *pm, char *buf, size_t len)
{
    if (!len)
        return -1;
    static const char *const names[] = { "", "ram", "ram-ro", "ram-wo", "rom", "devmem", "mmio" };
    TextBuf t = { buf, len, 0 };
    buf[0] = '\0';
    uint32_t start = 0;
    PageKind run = page_kind(pm, 0);
    for (uint64_t page = 1; page <= PHYS_NPAGES; page++) {
        PageKind k = page < PHYS_NPAGES ? page_kind(pm, (uint32_t)page) : (PageKind){ -1, 0, -1 };
        uint32_t n = (uint32_t)page - start;
        bool same = k.kind == run.kind && k.region == run.region &&
                    (k.kind == PK_MMIO || k.kind == PK_NONE ||
                     k.host == run.host + (uintptr_t)n * PHYS_PAGE_SIZE);
        if (same)
            continue;
        if (run.kind != PK_NONE) {
            uint32_t a = start << PHYS_PAGE_BITS;
            uint32_t e = (uint32_t)((page << PHYS_PAGE_BITS) - 1);
            tb_printf(&t, "%08x-%08x %s", a, e, names[run.kind]);
            if (run.kind == PK_RAM || run.kind == PK_RAM_RO || run.kind == PK_RAM_WO)
                tb_printf(&t, " @0x%08lx", (unsigned long)(run.host - (uintptr_t)pm->ram));
            else if (run.kind == PK_MMIO && run.region >= 0 && run.region < pm->nregions)
                tb_printf(&t, " %s", pm->regions[run.region].name ? pm->regions[run.region].name : "?");
            tb_printf(&t, "\n");
        }
        start = (uint32_t)page;
        run = k;
    }
    if (t.used >= len)
        buf[len - 1] = '\0';
    return (int)(t.used > INT32_MAX ? INT32_MAX : t.used);
}
