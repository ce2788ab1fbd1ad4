/*
 * blockdev.h - a small block backend: raw or qcow2 image files (the format is
 * detected by the qcow2 magic, see qcow2.h) read and written by 512-byte
 * sector, fsync on flush, a read-only mode and a -snapshot style overlay.
 *
 * The overlay keeps every written sector in an unlinked temporary file (in
 * $TMPDIR, else /tmp) plus a one-bit-per-sector map; the base image is then
 * opened read-only and is never written.  Overlay contents vanish on close.
 *
 * Errors are returned (negative errno from I/O, NULL plus a message from
 * blockdev_open); nothing is ever printed.
 */
#ifndef VESSEL_DEVICES_BLOCKDEV_H
#define VESSEL_DEVICES_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCKDEV_SECTOR 512u

/** Open flags. */
enum {
    BLOCKDEV_RDONLY = 1,    /**< refuse writes (guest sees a write-protected disk) */
    BLOCKDEV_SNAPSHOT = 2,  /**< writes go to a temporary overlay, base untouched */
    BLOCKDEV_FORMAT_RAW = 4,    /**< no probing: raw even if it starts with the qcow2 magic */
    BLOCKDEV_FORMAT_QCOW2 = 8,  /**< no probing: must be qcow2 */
};

typedef struct BlockDev BlockDev;

/** Deepest backing chain accepted (the image itself counts as one). */
#define BLOCKDEV_MAX_CHAIN 16

/** The files open along a backing chain, top first (identified by st_dev and
 *  st_ino), so that a format driver can refuse loops and deep chains. */
typedef struct BlockDevChain {
    unsigned depth;
    uint64_t dev[BLOCKDEV_MAX_CHAIN];
    uint64_t ino[BLOCKDEV_MAX_CHAIN];
} BlockDevChain;

/**
 * Open a raw or qcow2 image (qcow2 when the file starts with "QFI\xfb").
 * Errors (NULL returned, message in err): file missing, a directory, a raw
 * image whose size is not a non-zero multiple of 512 bytes, a read-only file
 * opened for writing (without BLOCKDEV_RDONLY or BLOCKDEV_SNAPSHOT), a bad or
 * unsupported qcow2 image or backing chain (see qcow2.h), overlay temp file
 * not creatable, out of memory.
 *
 * The format is probed unless BLOCKDEV_FORMAT_RAW or BLOCKDEV_FORMAT_QCOW2
 * says it (-drive format=).  A probed raw image opened for writing refuses
 * (-EPERM) a write of sector 0 that would start with the qcow2 magic, so a
 * guest cannot turn its disk into a qcow2 header naming a host file as
 * "backing file" (QEMU does the same for probed raw images).
 */
BlockDev *blockdev_open(const char *path, int flags, char *err, size_t errlen);

/**
 * Open a backing file read-only, for a format driver.  fmt is the format
 * recorded in the overlay ("raw", "qcow2") or NULL to probe.  chain lists the
 * images above; a file already in it (a loop) or a chain deeper than
 * BLOCKDEV_MAX_CHAIN is refused.  Unlike blockdev_open, a raw backing file
 * may have any size: a partial last sector reads as zero-padded.
 */
BlockDev *blockdev_open_backing(const char *path, const char *fmt, const BlockDevChain *chain,
                                char *err, size_t errlen);

/** "raw" or "qcow2". */
const char *blockdev_format(const BlockDev *bd);

/** Close (discarding any snapshot overlay).  NULL is ignored. */
void blockdev_close(BlockDev *bd);

/** Size in 512-byte sectors. */
uint64_t blockdev_sectors(const BlockDev *bd);

/** True when writes are refused (BLOCKDEV_RDONLY). */
bool blockdev_read_only(const BlockDev *bd);

/** Read count sectors at sector into buf.  Returns 0, -EINVAL past the end,
 *  -EIO (or another -errno) on a host I/O error or a short read. */
int blockdev_read(BlockDev *bd, uint64_t sector, void *buf, uint32_t count);

/** Write count sectors.  Returns 0, -EROFS if read-only, -EINVAL past the
 *  end, -EPERM for the qcow2 magic in sector 0 of a raw image, -EIO for a
 *  corrupt qcow2 image, or -errno.  With BLOCKDEV_SNAPSHOT the data goes to
 *  the overlay. */
int blockdev_write(BlockDev *bd, uint64_t sector, const void *buf, uint32_t count);

/** Flush to stable storage (fsync; a no-op for snapshot/read-only).
 *  Returns 0 or -errno. */
int blockdev_flush(BlockDev *bd);

/** Test hook: make every read/write touching sector fail with -EIO
 *  (UINT64_MAX disables). */
void blockdev_inject_error(BlockDev *bd, uint64_t sector);

#endif
