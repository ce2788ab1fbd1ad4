/*
 * qcow2.h - the QEMU copy-on-write image format, versions 2 and 3, as a
 * blockdev backend (see QEMU docs/interop/qcow2.txt, "QCOW2 Image Format").
 *
 * Supported: cluster sizes 512 B .. 2 MiB (cluster_bits 9..21), refcount
 * widths 1..64 bits (refcount_order 0..6), zero clusters (v3), zlib-compressed
 * clusters (read; overwriting one allocates a new cluster), backing files of
 * any format blockdev_open understands (raw or qcow2, chained, opened
 * read-only), allocating writes with copy-on-write from the backing file,
 * refcount block allocation and refcount table growth.
 *
 * Refused at open with a message: encryption, unknown incompatible features,
 * external data files, extended L2 entries, non-zlib compression.  Refused
 * for writing (read-only and -snapshot opens still work): images marked
 * dirty or corrupt (repair with `qemu-img check -r all`), images with
 * internal snapshots.
 *
 * Every header field, table entry and offset read from the file is checked
 * against the file size and the format's limits; a bad image is an open error
 * or -EIO on the affected request, never a crash.
 *
 * Crash safety.  Metadata is written through (no delayed L2 cache) in this
 * order: refcount increments, then data, then L2 entries, then L1 entries;
 * frees (refcount decrements) after the pointer that used the cluster is
 * gone.  fdatasync() barriers separate refcount increments from the pointers
 * that use them (clusters are reserved in batches, so one barrier covers many
 * allocations), a new L2 table or refcount block from the pointer to it, and
 * a removed pointer from the decrement.  A crash (process or power) therefore
 * leaves at worst leaked clusters, which `qemu-img check -r leaks` reclaims
 * (after a power loss, data the guest had not flushed may read as stale).
 *
 * Images with persistent dirty bitmaps (autoclear bit 0) are written as the
 * spec prescribes for programs without bitmap support: the autoclear bits are
 * cleared before the first write, and QEMU then treats the bitmaps as stale.
 */
#ifndef VESSEL_DEVICES_QCOW2_H
#define VESSEL_DEVICES_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/blockdev.h"

/** Header magic "QFI\xfb", big-endian (qcow2.txt, "Header"). */
#define QCOW2_MAGIC 0x514649fbu

typedef struct Qcow2 Qcow2;

/** True if buf (len bytes from offset 0 of a file) starts with the qcow2 magic. */
bool qcow2_probe(const void *buf, size_t len);

/**
 * Open the qcow2 image on fd (already open, O_RDWR unless read_only).
 * path names the file for messages and for resolving a relative backing
 * file name.  chain lists the files already open above this one (for loop
 * and depth checks); this file must already be in it.  On success the
 * returned object owns fd; on failure (NULL, message in err) the caller
 * still owns and closes fd.
 */
Qcow2 *qcow2_open(int fd, const char *path, bool read_only, const BlockDevChain *chain,
                  char *err, size_t errlen);

/** Flush pending frees and cluster reservations, sync, close fd, free.
 *  NULL is ignored. */
void qcow2_close(Qcow2 *q);

/** Virtual disk size in bytes (a multiple of 512). */
uint64_t qcow2_size(const Qcow2 *q);

/** Read len bytes at guest byte offset off (both multiples of 512, within
 *  qcow2_size).  Returns 0, -EINVAL out of range, -EIO on corrupt metadata
 *  or compressed data, or -errno from the host. */
int qcow2_read(Qcow2 *q, uint64_t off, void *buf, uint64_t len);

/** Write len bytes at off (multiples of 512).  Returns 0, -EROFS,
 *  -EINVAL, -EIO (corrupt metadata: further writes are refused), -ENOSPC
 *  (format limits reached) or -errno. */
int qcow2_write(Qcow2 *q, uint64_t off, const void *buf, uint64_t len);

/** fsync the image (guest FLUSH CACHE).  Returns 0 or -errno. */
int qcow2_flush(Qcow2 *q);

/**
 * Create a new, empty qcow2 version 3 image at path (64 KiB clusters,
 * 16-bit refcounts).  The file must not exist (O_EXCL).  size_bytes must be
 * a multiple of 512; 0 means "the size of the backing file".  backing_path
 * (or NULL) is stored as given; a relative name is relative to the new
 * image's directory, as QEMU resolves it.  The backing file is opened once
 * to check it and to record its format (raw or qcow2) in a backing-format
 * header extension.  Used to freeze an image as the read-only base of a new
 * overlay.  Returns 0, or -errno with a message in err (the partial file is
 * removed).
 */
int qcow2_create(const char *path, uint64_t size_bytes, const char *backing_path, char *err,
                 size_t errlen);

/** True when the image has no L2 table (no cluster of its own: every read
 *  goes to the backing file or reads zero). */
bool qcow2_empty(const Qcow2 *q);

/** The backing file as opened (resolved path), or NULL. */
const char *qcow2_backing_path(const Qcow2 *q);

/**
 * Read the backing file name of the qcow2 image at path without opening the
 * image (header only), resolved like qcow2_open does (relative to the
 * image's directory).  Returns 1 with the name in out, 0 when the file is
 * not qcow2 or has no backing file, -errno on an I/O error or a name that
 * does not fit.
 */
int qcow2_backing_file(const char *path, char *out, size_t outlen);

#endif
