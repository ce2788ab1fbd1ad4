/*
 * fw_cfg.h - QEMU's firmware configuration device, I/O port interface.
 *
 * Source: QEMU docs/specs/fw_cfg.rst and include/standard-headers/linux/
 * qemu_fw_cfg.h; SeaBIOS src/fw/paravirt.c (see hardware-notes 1.3).
 *
 * Ports: 0x510 selector (16-bit write; selects an item and rewinds it),
 * 0x511 data (byte reads, auto-increment; reads past the end give 0).  As
 * in QEMU's combined port region, byte reads of 0x510 read data too.  The
 * ID item is 1 (traditional interface, no DMA).
 *
 * Items are addressed by a 16-bit key: bits 13:0 the index, bit 15 the
 * architecture-specific table (0x8000+: ACPI tables, SMBIOS, e820...);
 * bit 14 (write channel) is not supported.  Integer items are little-endian;
 * the file directory (key 0x19) is big-endian: u32 count, then per file
 * {u32 size, u16 select, u16 reserved, char name[56]}, sorted by name, with
 * selectors 0x20 upward in that order.
 */
#ifndef VESSEL_DEVICES_FW_CFG_H
#define VESSEL_DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/state.h"

#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511

/* Keys (qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE    0x00
#define FW_CFG_ID           0x01
#define FW_CFG_UUID         0x02
#define FW_CFG_RAM_SIZE     0x03
#define FW_CFG_NOGRAPHIC    0x04
#define FW_CFG_NB_CPUS      0x05
#define FW_CFG_MACHINE_ID   0x06
#define FW_CFG_KERNEL_ADDR  0x07
#define FW_CFG_KERNEL_SIZE  0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR  0x0A
#define FW_CFG_INITRD_SIZE  0x0B
#define FW_CFG_BOOT_DEVICE  0x0C
#define FW_CFG_NUMA         0x0D
#define FW_CFG_BOOT_MENU    0x0E
#define FW_CFG_MAX_CPUS     0x0F
#define FW_CFG_KERNEL_ENTRY 0x10
#define FW_CFG_KERNEL_DATA  0x11
#define FW_CFG_INITRD_DATA  0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR   0x16
#define FW_CFG_SETUP_SIZE   0x17
#define FW_CFG_SETUP_DATA   0x18
#define FW_CFG_FILE_DIR     0x19
#define FW_CFG_FILE_FIRST   0x20
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL   0x8000
#define FW_CFG_ENTRY_MASK   0x3FFF
/* x86 arch keys (QEMU hw/i386/fw_cfg.h). */
#define FW_CFG_ACPI_TABLES  (FW_CFG_ARCH_LOCAL + 0)
#define FW_CFG_SMBIOS_ENTRIES (FW_CFG_ARCH_LOCAL + 1)
#define FW_CFG_IRQ0_OVERRIDE (FW_CFG_ARCH_LOCAL + 2)
#define FW_CFG_E820_TABLE   (FW_CFG_ARCH_LOCAL + 3)
#define FW_CFG_HPET         (FW_CFG_ARCH_LOCAL + 4)

#define FW_CFG_MAX_FILES    256
#define FW_CFG_MAX_ENTRY    (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define FW_CFG_MAX_NAME     56     /**< including the NUL: names <= 55 chars */
#define FW_CFG_ID_TRADITIONAL 0x01

/** One item: a private copy of its bytes. */
typedef struct FwCfgEntry {
    uint8_t *data;
    uint32_t len;
} FwCfgEntry;

/** The device. */
typedef struct FwCfg {
    IoBus *io;
    FwCfgEntry entries[2][FW_CFG_MAX_ENTRY];    /**< [arch][index] */
    char file_names[FW_CFG_MAX_FILES][FW_CFG_MAX_NAME]; /**< sorted */
    int nfiles;
    uint16_t cur_key;       /**< selected key */
    uint32_t cur_offset;    /**< read position in the item */
} FwCfg;

/** Create the device on ports 0x510-0x511 with the signature "QEMU",
 *  ID = 1 and an empty file directory.  NULL on failure. */
FwCfg *fw_cfg_new(IoBus *io);

/** Reset: select key 0 at offset 0 (items are kept). */
void fw_cfg_reset(FwCfg *s);

/** Unregister and free, with every item. */
void fw_cfg_free(FwCfg *s);

/**
 * Set item key to a copy of len bytes (replacing an existing one).
 * Returns 0, or -1: key in the file range or the directory (0x19),
 * write-channel bit set, index out of range, len >= 4 GiB, out of memory.
 */
int fw_cfg_add_bytes(FwCfg *s, uint16_t key, const void *data, size_t len);

/** Little-endian integer items (as fw_cfg_add_bytes). */
int fw_cfg_add_i16(FwCfg *s, uint16_t key, uint16_t v);
int fw_cfg_add_i32(FwCfg *s, uint16_t key, uint32_t v);
int fw_cfg_add_i64(FwCfg *s, uint16_t key, uint64_t v);

/**
 * Add a named file (a copy of len bytes); the directory is rebuilt and the
 * files renumbered in name order from selector 0x20.  Returns 0, or -1:
 * empty or too long name (> 55 chars), duplicate name, directory full,
 * len >= 4 GiB, out of memory.
 */
int fw_cfg_add_file(FwCfg *s, const char *name, const void *data, size_t len);

/** Current selector of a file, or -1 if there is none by that name. */
int fw_cfg_file_select(const FwCfg *s, const char *name);

/** Snapshot: selected key and offset (items are configuration, rebuilt by
 *  the board). */
extern const StateDesc fw_cfg_state;

#endif
