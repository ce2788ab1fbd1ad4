/*
 * kernel_loader.h - -kernel/-initrd/-append: hand a Linux bzImage or a
 * multiboot (v1) kernel to the firmware through fw_cfg, as QEMU does.
 *
 * The kernel is not written into guest RAM here: SeaBIOS runs an option ROM
 * from Debian's qemu-system-data (linuxboot.bin or multiboot.bin), added as
 * the fw_cfg file "genroms/NAME" and first in "bootorder"; the ROM copies
 * the pieces from fw_cfg to their addresses and starts the kernel, so the
 * kernel still sees a real BIOS (e820, ACPI, PCI set up).
 *
 * Sources: Linux Documentation/x86/boot.rst (boot protocol, setup header
 * fields); Multiboot Specification 0.6.96 (header, info structure, module
 * list); QEMU's fw_cfg keys (hardware-notes section 1.3).
 */
#ifndef VESSEL_FIRMWARE_KERNEL_LOADER_H
#define VESSEL_FIRMWARE_KERNEL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "devices/fw_cfg.h"

/** One multiboot module (or the Linux initrd: only the first is used). */
typedef struct KernelModule {
    const uint8_t *data;
    size_t len;
    const char *cmdline;   /**< the module's string (file name and arguments) */
} KernelModule;

/** What the loader found. */
typedef enum { KERNEL_LINUX = 1, KERNEL_MULTIBOOT = 2 } KernelKind;

/**
 * Detect the kernel type (Linux boot protocol "HdrS" header, else a
 * multiboot header in the first 8 KiB) and add the fw_cfg items for it.
 * kname is the kernel's file name (multiboot passes it in the command
 * line, as GRUB and QEMU do).  rom/rom_len: the matching option ROM image
 * (linuxboot.bin for Linux, multiboot.bin for multiboot) — call
 * kernel_detect() first to know which to supply.
 * Returns the kind, or -1 with a message in err (not a kernel we can boot,
 * a header field out of range, the initrd/modules do not fit in RAM).
 */
int kernel_load(FwCfg *f, uint32_t ram_size, const uint8_t *k, size_t klen, const char *kname,
                const KernelModule *mods, int nmods, const char *cmdline, const uint8_t *rom,
                size_t rom_len, char *err, size_t errlen);

/** KERNEL_LINUX, KERNEL_MULTIBOOT, or -1 if neither. */
int kernel_detect(const uint8_t *k, size_t klen);

#endif
