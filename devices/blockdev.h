/*
 * blockdev.h - a small block backend: raw image files read and written by
 * 512-byte sector with pread/pwrite, fsync on flush, a read-only mode and a
 * -snapshot style overlay.
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
};

typedef struct BlockDev BlockDev;

/**
 * Open a raw image.  Errors (NULL returned, message in err): file missing,
 * a directory, size not a multiple of 512 bytes, empty, a read-only file
 * opened for writing (without BLOCKDEV_RDONLY or BLOCKDEV_SNAPSHOT), overlay
 * temp file not creatable, out of memory.
 */
BlockDev *blockdev_open(const char *path, int flags, char *err, size_t errlen);

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
 *  end, or -errno.  With BLOCKDEV_SNAPSHOT the data goes to the overlay. */
int blockdev_write(BlockDev *bd, uint64_t sector, const void *buf, uint32_t count);

/** Flush to stable storage (fsync; a no-op for snapshot/read-only).
 *  Returns 0 or -errno. */
int blockdev_flush(BlockDev *bd);

/** Test hook: make every read/write touching sector fail with -EIO
 *  (UINT64_MAX disables). */
void blockdev_inject_error(BlockDev *bd, uint64_t sector);

#endif
