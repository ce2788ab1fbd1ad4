/*
 * blockdev.h - a small block backend: raw or qcow2 image files (the format is
 * detected by the qcow2 magic, see qcow2.h) read and written by 512-byte
 * sector, fsync on flush, a read-only mode and a -snapshot style overlay.
 *
 * The overlay keeps every written sector in an unlinked temporary file (in
 * $TMPDIR, else /tmp) plus a one-bit-per-sector map; the base image is then
 * opened read-only and is never written.  Overlay contents vanish on close.
 *
 * Frozen images.  A whole-machine snapshot (frontend/snapshot.c) freezes a
 * writable disk's image: it becomes the read-only backing file of a new
 * qcow2 overlay, and its host permission bits lose every write bit (chmod
 * a-w).  blockdev_open refuses to open for writing any image file that has
 * no write bit, even for root (who could otherwise write it), with one
 * error line naming the newest overlay on top of it found in the image's
 * directory or the one given to blockdev_set_overlay_dir() ("use -hda
 * OVERLAY, or -snapshot / readonly=on").  With BLOCKDEV_FROZEN_OK it opens
 * the image read-only instead (blockdev_frozen_ro() is then true).
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
    BLOCKDEV_FROZEN_OK = 16,    /**< a frozen image (see below) opened for writing is
                                     opened read-only instead of refused (-loadvm
                                     replaces it with an overlay) */
};

typedef struct BlockDev BlockDev;

/** Deepest backing chain accepted (the image itself counts as one). */
#define BLOCKDEV_MAX_CHAIN 64

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

/* ---- disk snapshots (frontend/snapshot.c) ---- */

/** The path the top image was opened with (NULL for a NULL bd). */
const char *blockdev_path(const BlockDev *bd);

/** True when writes go to the temporary -snapshot overlay. */
bool blockdev_temp_overlay(const BlockDev *bd);

/** True when the image was opened read-only only because it is frozen and
 *  BLOCKDEV_FROZEN_OK was given (not because the user asked). */
bool blockdev_frozen_ro(const BlockDev *bd);

/** The image's direct backing file as opened (a qcow2 image with a backing
 *  file), else NULL. */
const char *blockdev_backing_path(const BlockDev *bd);

/** True when the top layer holds no data of its own: a qcow2 image with no
 *  L2 table at all, or a -snapshot overlay nothing was written to (then the
 *  disk reads exactly as its backing file / base image). */
bool blockdev_top_empty(const BlockDev *bd);

/** Exchange everything two open BlockDevs are (files, overlay, flags), so a
 *  drive's BlockDev pointer can switch images in place: open the new image
 *  as b, swap, close b (which now holds the old image). */
void blockdev_swap(BlockDev *a, BlockDev *b);

/**
 * -snapshot drives: write the sectors of bd's temporary overlay into a new
 * qcow2 v3 image at path (must not exist) whose backing file is bd's base
 * image (its name stored relative when both are in one directory).
 * Returns 1 when the file was written, 0 when the overlay is empty (no file
 * made), or -errno with a message (the partial file is removed).
 */
int blockdev_save_temp_overlay(BlockDev *bd, const char *path, char *err, size_t errlen);

/** True if path names an existing regular file with no write permission
 *  bit (how frozen images are marked). */
bool blockdev_file_frozen(const char *path);

/** Freeze an image file: remove every write permission bit.  *old_mode
 *  (if not NULL) receives the previous mode for blockdev_unfreeze_file.
 *  Returns 0 or -errno. */
int blockdev_freeze_file(const char *path, unsigned *old_mode);

/** Put back the mode saved by blockdev_freeze_file (rollback). */
void blockdev_unfreeze_file(const char *path, unsigned old_mode);

/** Directory (besides the image's own) where the frozen-image error looks
 *  for overlays: the snapshot directory.  The string is copied; NULL
 *  clears it. */
void blockdev_set_overlay_dir(const char *dir);

/**
 * Find the newest writable qcow2 image in dir whose backing file is image
 * (same file).  Returns 1 with its path in out, 0 if none, -errno if dir
 * cannot be read.
 */
int blockdev_find_overlay(const char *image, const char *dir, char *out, size_t outlen);

#endif
