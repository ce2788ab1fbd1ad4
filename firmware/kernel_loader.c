/*
 * kernel_loader.c - Linux bzImage and multiboot v1 kernels through fw_cfg
 * and the linuxboot/multiboot option ROMs.  See kernel_loader.h.
 */
#include "firmware/kernel_loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fw_cfg keys: devices/fw_cfg.h (QEMU's qemu_fw_cfg.h numbering). */

/* Linux boot protocol (Documentation/x86/boot.rst). */
#define LINUX_HDRS_MAGIC 0x53726448u /* "HdrS" at 0x202 */
#define LINUX_REAL_ADDR 0x10000u     /* setup code and boot_params */
#define LINUX_CMDLINE_ADDR 0x20000u
#define LINUX_PROT_ADDR 0x100000u    /* protected-mode kernel */
#define LINUX_RESERVED_TOP 0x20000u  /* keep the initrd below the firmware's ACPI tables */

/* Multiboot (Multiboot Specification 0.6.96). */
#define MB_MAGIC 0x1BADB002u
#define MB_FLAG_ADDR 0x00010000u     /* a.out kludge: load addresses in the header */
#define MB_STRUCT_ADDR 0x9000u       /* e820 map here (filled by the ROM) ... */
#define MB_INFO_ADDR (MB_STRUCT_ADDR + 0x500u) /* ... and the info structure here */
#define MB_INFO_SIZE 88u
#define MB_MOD_SIZE 16u

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static uint32_t page_align(uint32_t v) { return (v + 4095u) & ~4095u; }

/* Offset of a valid multiboot header in the first 8 KiB, or -1. */
static long multiboot_header(const uint8_t *k, size_t klen)
{
    size_t lim = klen < 8192 ? klen : 8192;
    for (size_t i = 0; i + 48 <= lim; i += 4) {
        if (rd32(k + i) == MB_MAGIC && (uint32_t)(rd32(k + i) + rd32(k + i + 4) + rd32(k + i + 8)) == 0)
            return (long)i;
    }
    return -1;
}

int kernel_detect(const uint8_t *k, size_t klen)
{
    if (klen >= 0x230 && rd32(k + 0x202) == LINUX_HDRS_MAGIC)
        return KERNEL_LINUX;
    if (multiboot_header(k, klen) >= 0)
        return KERNEL_MULTIBOOT;
    return -1;
}

static int add_rom(FwCfg *f, const char *name, const uint8_t *rom, size_t rom_len, char *err, size_t errlen)
{
    char path[64], order[64];
    snprintf(path, sizeof(path), "genroms/%s", name);
    int n = snprintf(order, sizeof(order), "/rom@genroms/%s\n", name);
    if (fw_cfg_add_file(f, path, rom, rom_len) < 0 || fw_cfg_add_file(f, "bootorder", order, (size_t)n + 1) < 0) {
        snprintf(err, errlen, "cannot add the %s option ROM to fw_cfg", name);
        return -1;
    }
    return 0;
}

static int load_linux(FwCfg *f, uint32_t ram_size, const uint8_t *k, size_t klen, const KernelModule *initrd,
                      const char *cmdline, const uint8_t *rom, size_t rom_len, char *err, size_t errlen)
{
    uint16_t protocol = rd16(k + 0x206);
    if (protocol < 0x202 || !(k[0x211] & 0x01)) {
        snprintf(err, errlen, "Linux boot protocol %x.%02x without LOADED_HIGH is not supported (need a bzImage, 2.02+)",
                 protocol >> 8, protocol & 0xFF);
        return -1;
    }
    uint32_t setup_sects = k[0x1F1] ? k[0x1F1] : 4;
    size_t setup_size = (setup_sects + 1) * 512u;
    if (setup_size >= klen || setup_size > 0x8000) {
        snprintf(err, errlen, "bad setup size %zu for a %zu-byte kernel", setup_size, klen);
        return -1;
    }
    size_t prot_size = klen - setup_size;
    uint32_t cmdline_max = protocol >= 0x206 ? rd32(k + 0x238) : 255;
    size_t cmdline_len = strlen(cmdline);
    if (cmdline_len > cmdline_max) {
        snprintf(err, errlen, "kernel command line is %zu bytes, the kernel accepts %u", cmdline_len, cmdline_max);
        return -1;
    }
    uint32_t initrd_max = protocol >= 0x203 ? rd32(k + 0x22C) : 0x37FFFFFFu;
    if (ram_size < LINUX_RESERVED_TOP + 0x200000u) {
        snprintf(err, errlen, "too little RAM for a Linux kernel");
        return -1;
    }
    if (initrd_max > ram_size - LINUX_RESERVED_TOP - 1)
        initrd_max = ram_size - LINUX_RESERVED_TOP - 1;
    if ((uint64_t)LINUX_PROT_ADDR + prot_size > initrd_max) {
        snprintf(err, errlen, "the kernel (%zu bytes) does not fit in RAM", prot_size);
        return -1;
    }

    uint8_t *setup = malloc(setup_size);
    if (!setup) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(setup, k, setup_size);
    setup[0x210] = 0xB0;                          /* type_of_loader: QEMU's id */
    wr32(setup + 0x228, LINUX_CMDLINE_ADDR);      /* cmd_line_ptr */
    wr16(setup + 0x224, (uint16_t)(LINUX_CMDLINE_ADDR - LINUX_REAL_ADDR - 0x200)); /* heap_end_ptr */
    setup[0x211] |= 0x80;                         /* loadflags: CAN_USE_HEAP */
    /* vga=: the boot loader, not the kernel, puts it in vid_mode (0x1FA);
     * the real-mode setup then sets that VESA mode (boot.rst; QEMU
     * hw/i386/x86.c does the same).  normal/ext/ask or a number. */
    const char *vga = cmdline;
    while ((vga = strstr(vga, "vga=")) && vga != cmdline && vga[-1] != ' ')
        vga += 4;
    if (vga) {
        const char *v = vga + 4;
        char *end = NULL;
        unsigned long mode;
        if (!strncmp(v, "normal", 6))
            mode = 0xFFFF, end = (char *)v + 6;
        else if (!strncmp(v, "ext", 3))
            mode = 0xFFFE, end = (char *)v + 3;
        else if (!strncmp(v, "ask", 3))
            mode = 0xFFFD, end = (char *)v + 3;
        else
            mode = strtoul(v, &end, 0);
        if (end == v || (*end && *end != ' ') || mode > 0xFFFF) {
            free(setup);
            snprintf(err, errlen, "invalid 'vga=' kernel parameter");
            return -1;
        }
        wr16(setup + 0x1FA, (uint16_t)mode);      /* vid_mode */
    }
    uint32_t initrd_addr = 0;
    if (initrd && initrd->len) {
        if (initrd->len > initrd_max || (initrd_max - initrd->len) < LINUX_PROT_ADDR + prot_size) {
            snprintf(err, errlen, "the initrd (%zu bytes) does not fit below 0x%x with the kernel", initrd->len,
                     initrd_max);
            free(setup);
            return -1;
        }
        initrd_addr = (uint32_t)((initrd_max - initrd->len) & ~4095u);
        wr32(setup + 0x218, initrd_addr);           /* ramdisk_image */
        wr32(setup + 0x21C, (uint32_t)initrd->len); /* ramdisk_size */
    }

    int rc = 0;
    rc |= fw_cfg_add_i32(f, FW_CFG_KERNEL_ADDR, LINUX_PROT_ADDR);
    rc |= fw_cfg_add_i32(f, FW_CFG_KERNEL_SIZE, (uint32_t)prot_size);
    rc |= fw_cfg_add_bytes(f, FW_CFG_KERNEL_DATA, k + setup_size, prot_size);
    rc |= fw_cfg_add_i32(f, FW_CFG_INITRD_ADDR, initrd_addr);
    rc |= fw_cfg_add_i32(f, FW_CFG_INITRD_SIZE, initrd ? (uint32_t)initrd->len : 0);
    if (initrd && initrd->len)
        rc |= fw_cfg_add_bytes(f, FW_CFG_INITRD_DATA, initrd->data, initrd->len);
    rc |= fw_cfg_add_i32(f, FW_CFG_CMDLINE_ADDR, LINUX_CMDLINE_ADDR);
    rc |= fw_cfg_add_i32(f, FW_CFG_CMDLINE_SIZE, (uint32_t)cmdline_len + 1);
    rc |= fw_cfg_add_bytes(f, FW_CFG_CMDLINE_DATA, cmdline, cmdline_len + 1);
    rc |= fw_cfg_add_i32(f, FW_CFG_SETUP_ADDR, LINUX_REAL_ADDR);
    rc |= fw_cfg_add_i32(f, FW_CFG_SETUP_SIZE, (uint32_t)setup_size);
    rc |= fw_cfg_add_bytes(f, FW_CFG_SETUP_DATA, setup, setup_size);
    free(setup);
    if (rc < 0) {
        snprintf(err, errlen, "cannot add the kernel to fw_cfg");
        return -1;
    }
    if (add_rom(f, "linuxboot.bin", rom, rom_len, err, errlen) < 0)
        return -1;
    return KERNEL_LINUX;
}

/* The kernel image of a multiboot kernel: from the a.out-kludge header
 * fields, or from an ELF32 file's PT_LOAD segments.  Returns a buffer of
 * *size bytes to be placed at *load, with *entry. */
static uint8_t *multiboot_image(const uint8_t *k, size_t klen, long h, uint32_t *load, uint32_t *size,
                                uint32_t *entry, char *err, size_t errlen)
{
    uint32_t flags = rd32(k + h + 4);
    if (flags & MB_FLAG_ADDR) {
        uint32_t header_addr = rd32(k + h + 12), load_addr = rd32(k + h + 16);
        uint32_t load_end = rd32(k + h + 20), bss_end = rd32(k + h + 24);
        if (header_addr < load_addr || header_addr - load_addr > (uint32_t)h) {
            snprintf(err, errlen, "multiboot header: header_addr 0x%x below load_addr 0x%x", header_addr, load_addr);
            return NULL;
        }
        uint32_t file_off = (uint32_t)h - (header_addr - load_addr);
        uint32_t load_size = load_end ? load_end - load_addr : (uint32_t)(klen - file_off);
        if ((load_end && load_end < load_addr) || (uint64_t)file_off + load_size > klen) {
            snprintf(err, errlen, "multiboot header: load range outside the file");
            return NULL;
        }
        uint32_t mem = bss_end ? bss_end - load_addr : load_size;
        if (bss_end && bss_end < load_addr + load_size) {
            snprintf(err, errlen, "multiboot header: bss_end_addr below the loaded data");
            return NULL;
        }
        uint8_t *buf = calloc(1, mem ? mem : 1);
        if (!buf) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        memcpy(buf, k + file_off, load_size);
        *load = load_addr;
        *size = mem;
        *entry = rd32(k + h + 28);
        return buf;
    }
    /* ELF32, EM_386 (System V ABI, i386 supplement). */
    if (klen < 52 || memcmp(k, "\x7f" "ELF", 4) || k[4] != 1 || k[5] != 1 || rd16(k + 18) != 3) {
        snprintf(err, errlen, "multiboot kernel is neither a.out-kludge nor a 32-bit little-endian i386 ELF");
        return NULL;
    }
    uint32_t phoff = rd32(k + 28);
    uint16_t phentsize = rd16(k + 42), phnum = rd16(k + 44);
    if (phentsize < 32 || (uint64_t)phoff + (uint64_t)phentsize * phnum > klen) {
        snprintf(err, errlen, "ELF program headers outside the file");
        return NULL;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (unsigned n = 0; n < phnum; n++) {
        const uint8_t *ph = k + phoff + (size_t)n * phentsize;
        if (rd32(ph) != 1 /* PT_LOAD */ || rd32(ph + 20) == 0)
            continue;
        uint64_t pa = rd32(ph + 12), filesz = rd32(ph + 16), memsz = rd32(ph + 20), off = rd32(ph + 4);
        if (filesz > memsz || off + filesz > klen) {
            snprintf(err, errlen, "ELF segment %u outside the file", n);
            return NULL;
        }
        if (pa < lo)
            lo = pa;
        if (pa + memsz > hi)
            hi = pa + memsz;
    }
    if (hi <= lo || hi - lo > 0x40000000u || hi > 0xFFFFFFFFu) {
        snprintf(err, errlen, "ELF has no loadable segment, or absurd addresses");
        return NULL;
    }
    uint8_t *buf = calloc(1, (size_t)(hi - lo));
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (unsigned n = 0; n < phnum; n++) {
        const uint8_t *ph = k + phoff + (size_t)n * phentsize;
        if (rd32(ph) != 1 || rd32(ph + 20) == 0)
            continue;
        memcpy(buf + (rd32(ph + 12) - lo), k + rd32(ph + 4), rd32(ph + 16));
    }
    *load = (uint32_t)lo;
    *size = (uint32_t)(hi - lo);
    *entry = rd32(k + 24);
    return buf;
}

static int load_multiboot(FwCfg *f, uint32_t ram_size, const uint8_t *k, size_t klen, const char *kname,
                          const KernelModule *mods, int nmods, const char *cmdline, const uint8_t *rom,
                          size_t rom_len, char *err, size_t errlen)
{
    long h = multiboot_header(k, klen);
    uint32_t load, ksize, entry;
    uint8_t *img = multiboot_image(k, klen, h, &load, &ksize, &entry, err, errlen);
    if (!img)
        return -1;
    if (load < 0x100000u) {
        snprintf(err, errlen, "multiboot kernel loads at 0x%x, below 1 MiB", load);
        free(img);
        return -1;
    }
    /* Layout after the kernel (page aligned): module list, strings, the
     * boot loader name; then each module on its own pages. */
    size_t kcmd_len = strlen(kname) + 1 + strlen(cmdline) + 1;
    size_t strings = kcmd_len + strlen("vessel") + 1;
    for (int m = 0; m < nmods; m++)
        strings += strlen(mods[m].cmdline) + 1;
    uint64_t info_off = page_align(ksize);
    uint64_t total = page_align((uint32_t)(info_off + (uint64_t)nmods * MB_MOD_SIZE + strings));
    uint64_t mod_off[64];
    if (nmods > 64) {
        snprintf(err, errlen, "at most 64 multiboot modules");
        free(img);
        return -1;
    }
    for (int m = 0; m < nmods; m++) {
        mod_off[m] = total;
        total = page_align((uint32_t)(total + mods[m].len));
    }
    if ((uint64_t)load + total > ram_size || total > 0x7FFFFFFF) {
        snprintf(err, errlen, "the multiboot kernel and modules (%llu bytes at 0x%x) do not fit in %u bytes of RAM",
                 (unsigned long long)total, load, ram_size);
        free(img);
        return -1;
    }
    uint8_t *buf = calloc(1, (size_t)total);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        free(img);
        return -1;
    }
    memcpy(buf, img, ksize);
    free(img);
    size_t soff = (size_t)(info_off + (uint64_t)nmods * MB_MOD_SIZE);
    for (int m = 0; m < nmods; m++) {
        uint8_t *e = buf + info_off + (size_t)m * MB_MOD_SIZE;
        wr32(e + 0, (uint32_t)(load + mod_off[m]));
        wr32(e + 4, (uint32_t)(load + mod_off[m] + mods[m].len));
        wr32(e + 8, (uint32_t)(load + soff));
        size_t l = strlen(mods[m].cmdline) + 1;
        memcpy(buf + soff, mods[m].cmdline, l);
        soff += l;
        memcpy(buf + mod_off[m], mods[m].data, mods[m].len);
    }
    uint8_t info[MB_INFO_SIZE] = { 0 };
    /* flags: mem_*, boot_device, cmdline, mods, mmap, boot_loader_name */
    wr32(info + 0, (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
    wr32(info + 12, 0x8000FFFFu);                  /* boot_device: first disk */
    wr32(info + 16, (uint32_t)(load + soff));      /* cmdline: "kernel args" */
    snprintf((char *)buf + soff, kcmd_len, "%s %s", kname, cmdline);
    soff += kcmd_len;
    wr32(info + 20, (uint32_t)nmods);
    wr32(info + 24, (uint32_t)(load + info_off));
    wr32(info + 48, MB_STRUCT_ADDR);               /* mmap_addr; the ROM fills the map */
    wr32(info + 64, (uint32_t)(load + soff));      /* boot_loader_name */
    memcpy(buf + soff, "vessel", 7);

    int rc = 0;
    rc |= fw_cfg_add_i32(f, FW_CFG_KERNEL_ENTRY, entry);
    rc |= fw_cfg_add_i32(f, FW_CFG_KERNEL_ADDR, load);
    rc |= fw_cfg_add_i32(f, FW_CFG_KERNEL_SIZE, (uint32_t)total);
    rc |= fw_cfg_add_bytes(f, FW_CFG_KERNEL_DATA, buf, (size_t)total);
    rc |= fw_cfg_add_i32(f, FW_CFG_INITRD_ADDR, MB_INFO_ADDR);
    rc |= fw_cfg_add_i32(f, FW_CFG_INITRD_SIZE, MB_INFO_SIZE);
    rc |= fw_cfg_add_bytes(f, FW_CFG_INITRD_DATA, info, MB_INFO_SIZE);
    free(buf);
    if (rc < 0) {
        snprintf(err, errlen, "cannot add the kernel to fw_cfg");
        return -1;
    }
    if (add_rom(f, "multiboot.bin", rom, rom_len, err, errlen) < 0)
        return -1;
    return KERNEL_MULTIBOOT;
}

int kernel_load(FwCfg *f, uint32_t ram_size, const uint8_t *k, size_t klen, const char *kname,
                const KernelModule *mods, int nmods, const char *cmdline, const uint8_t *rom,
                size_t rom_len, char *err, size_t errlen)
{
    switch (kernel_detect(k, klen)) {
    case KERNEL_LINUX:
        if (nmods > 1) {
            snprintf(err, errlen, "a Linux kernel takes one initrd (got %d files)", nmods);
            return -1;
        }
        return load_linux(f, ram_size, k, klen, nmods ? &mods[0] : NULL, cmdline, rom, rom_len, err, errlen);
    case KERNEL_MULTIBOOT:
        return load_multiboot(f, ram_size, k, klen, kname, mods, nmods, cmdline, rom, rom_len, err, errlen);
    default:
        snprintf(err, errlen, "not a Linux bzImage (no HdrS header) nor a multiboot kernel");
        return -1;
    }
}
