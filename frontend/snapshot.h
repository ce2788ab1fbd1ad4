/*
 * snapshot.h - whole-machine snapshots (savevm/loadvm): one file per
 * snapshot holding every component's state section, guest RAM and VGA
 * memory.
 *
 * File format (version 1; every integer little-endian on every host;
 * "str" = u16 length + that many bytes, no NUL):
 *
 *   header   "VESSELSN", u32 format version, u32 header length H (bytes from
 *            the magic through the header CRC), str vessel version,
 *            u64 creation time (Unix s), u64 RAM size, str CPU model,
 *            u32 flags (1 APIC, 2 VGA, 4 icount), u32 icount shift,
 *            u64 virtual time (ns), u64 instruction count,
 *            u16 N + N x (str section name, u16 section version),
 *            u8 D + D x drive (u8 slot 0-3, u8 kind 1 disk / 2 CD-ROM,
 *            u8 has medium, str path, u64 size in bytes, i64 mtime in ns,
 *            u32 CRC-32 of the first 64 KiB), u32 CRC-32 of the header.
 *   sections N x ("SECT", str name, u16 version, u32 length L,
 *            u32 CRC-32 of the payload, L bytes of state_save() output),
 *            in the order of pc_foreach_state().
 *   memory   "RAM " then, with a VGA, "VRAM": u64 size, u32 chunk size
 *            (1 MiB), u32 chunk count, then per chunk: a 32-byte bitmap
 *            of its non-zero 4 KiB pages, u32 raw length (non-zero pages x
 *            4 KiB), u32 compressed length C, u32 CRC-32 of the bitmap, the
 *            two lengths and the C bytes, then C bytes of zlib data (the
 *            non-zero pages in order; deflate level 1, or level 0 = stored
 *            for chunks that do not compress; C = 0 when all zero).
 *   end      "END!", u64 file length, u32 CRC-32 of every byte before it.
 *
 * Loading checks the magic, the format version, the header CRC, the
 * machine configuration (RAM size, CPU model, APIC, VGA, the section list
 * in order, the disks' fingerprints), every length against the file,
 * every CRC, every zlib stream, each section's version (a component may
 * load older versions of its own section) and every field's range (the
 * components' post_load hooks) before the machine keeps anything: the
 * sections go into the live machine after a copy of its current state
 * has been taken, and if any is refused that copy is loaded back, so a
 * failed load leaves the machine exactly as it was.  RAM and VRAM are
 * decompressed into staging buffers and copied in only after every
 * section was accepted.  Error messages name the file, the section and
 * the field (or the byte offset) and what is wrong.
 *
 * Disks (format 2).  Each drive record in the header ends with u8 mode
 * (0 fingerprint only, 1 frozen), str frozen image (relative to the
 * snapshot file's directory, else absolute) and str its format ("raw",
 * "qcow2").  A file save (snapshot_save, savevm, -savevm-at) freezes every
 * writable hard disk, as VirtualBox's differencing disks do: the drive's
 * image is flushed and becomes the read-only backing file of a new qcow2 v3
 * overlay DIR/STEM.hdX.qcow2 (DIR and STEM from the snapshot file; backing
 * name relative when in the same directory, backing format recorded), the
 * frozen image and the files below it lose their write permission bits
 * (blockdev.h "Frozen images"), and once the snapshot file is in place the
 * drive switches to the overlay in place (same BlockDev, blockdev_swap).
 * An overlay nothing was written to since it was made is not stacked
 * again: the snapshot then records its backing file.  A -snapshot drive
 * keeps its temporary overlay's data in a frozen DIR/STEM.hdX.frozen.qcow2
 * (none if nothing was written: the base image is recorded) and goes on
 * with a new temporary overlay on it: writes after the last save/load are
 * still discarded at exit, what the snapshot needs is kept.  Read-only
 * disks and CD-ROMs are only fingerprinted (size, mtime, CRC of the first
 * 64 KiB), as are all drives in format 1 files.
 *
 * A file load (snapshot_load, loadvm, -loadvm) opens, for each drive
 * recorded frozen, a fresh overlay DIR/STEM.hdX.N.qcow2 on the frozen image
 * (a new temporary overlay for -snapshot drives, the frozen image itself
 * for readonly=on drives), checks that it reads as the disk did (size, CRC
 * of the first 64 KiB), and only then loads the machine state; the drives
 * switch after every section was accepted.  Any failure closes and removes
 * what was created: the machine and its drives stay as they were.  The
 * overlay the drive used before is kept (writes made after the snapshot
 * survive there); delvm removes STEM.hdX*.qcow2 files no snapshot in the
 * directory and no drive of the machine needs any more (snapshot_delvm_pc).
 * In-memory loads (snapshot_load_mem) never switch disks: frozen drives
 * are checked against the current drive's fingerprint instead.
 *
 * Saving writes NAME.tmp, fsyncs it, renames it over NAME and fsyncs the
 * directory: a crash or SIGKILL mid-save never destroys an older snapshot.
 */
#ifndef VESSEL_FRONTEND_SNAPSHOT_H
#define VESSEL_FRONTEND_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "devices/pc.h"

#define SNAPSHOT_FORMAT_VERSION 2u
#define SNAPSHOT_MIN_FORMAT_VERSION 1u  /**< oldest format still loaded */
#define SNAPSHOT_EXT ".vsn"            /**< savevm NAME -> DIR/NAME.vsn */
#define SNAPSHOT_MAX_SAVE_AT 8         /**< -savevm-at flags per run */

/** Error classes (negative returns), as Bochs classifies restore errors. */
enum {
    SNAP_ERR_IO = -1,         /**< open/read/write/rename failed */
    SNAP_ERR_SIGNATURE = -2,  /**< not a vessel snapshot (magic) */
    SNAP_ERR_VERSION = -3,    /**< format or section version not supported */
    SNAP_ERR_SIZE = -4,       /**< truncated, or a length that does not fit */
    SNAP_ERR_CORRUPT = -5,    /**< CRC mismatch, bad zlib data, bad framing */
    SNAP_ERR_CONFIG = -6,     /**< made on a different machine / disks */
    SNAP_ERR_STATE = -7,      /**< a field value out of range (post_load) */
    SNAP_ERR_NOMEM = -8,
    SNAP_ERR_ARG = -9,        /**< bad name or argument */
};

/** Save the machine to path (atomically, see above).  Call between
 *  instruction slices (before pc_run, from a poll hook, a timer callback
 *  or the debugger's stopped() hook).  Returns 0 or SNAP_ERR_*, with a
 *  message in err. */
int snapshot_save(PcMachine *pc, const char *path, char *err, size_t errlen);

/** Load path into the machine (same calling rules).  Returns 0, or
 *  SNAP_ERR_* with the machine unchanged and a message in err naming the
 *  file, the section and the field. */
int snapshot_load(PcMachine *pc, const char *path, char *err, size_t errlen);

/** In-memory variants (tests, fuzzing).  snapshot_save_mem returns a
 *  malloc'd buffer in *buf (the caller frees it) and its length.
 *  snapshot_load_mem's label names the data in messages (NULL: "<memory>"). */
int snapshot_save_mem(PcMachine *pc, uint8_t **buf, size_t *len, char *err, size_t errlen);
int snapshot_load_mem(PcMachine *pc, const uint8_t *buf, size_t len, const char *label,
                      char *err, size_t errlen);

/** Recompute every CRC in an in-memory snapshot after editing it (tests
 *  and fuzzers use it to get past the CRCs to the field checks).
 *  Returns 0, or -1 if the framing cannot be walked. */
int snapshot_fix_crcs(uint8_t *buf, size_t len);

/* ---- named snapshots in a directory (monitor: savevm/loadvm/delvm/info) ----
 * NAME: 1-64 characters of [A-Za-z0-9._-], not starting with '.'; the
 * file is DIR/NAME.vsn.  dir NULL = snapshot_dir(). */
int snapshot_savevm(PcMachine *pc, const char *dir, const char *name, char *err, size_t errlen);
int snapshot_loadvm(PcMachine *pc, const char *dir, const char *name, char *err, size_t errlen);
int snapshot_delvm(const char *dir, const char *name, char *err, size_t errlen);
/** "info snapshots": a table (name, size, date, VM clock, icount) of the
 *  *.vsn files in dir, NUL-terminated in buf.  Returns the number of
 *  snapshots listed, or SNAP_ERR_IO (message in buf). */
int snapshot_info(const char *dir, char *buf, size_t len);
/** The same, plus the disk images each snapshot froze and, with pc, the
 *  image chain each drive of pc reads and writes now. */
int snapshot_info_pc(PcMachine *pc, const char *dir, char *buf, size_t len);
/** delvm, then remove the overlay files in dir (STEM.hdX*.qcow2, made by
 *  savevm/loadvm) that no remaining snapshot in dir and no drive of pc
 *  (NULL: no garbage collection) needs any more.  On success err holds
 *  what was removed ("" if nothing). */
int snapshot_delvm_pc(PcMachine *pc, const char *dir, const char *name, char *err, size_t errlen);

/* ---- front end ---- */

/** Options handled here, for the --help text. */
extern const char snapshot_usage[];

/** Command-line flags: -loadvm NAME|PATH, -snapshot-dir DIR,
 *  -savevm-at ICOUNT:PATH (save once the guest has retired ICOUNT
 *  instructions, then keep running; with -icount the point is
 *  deterministic).  argv[*k] is the flag; on success *k is advanced past
 *  its argument.  Returns 1 if consumed, 0 if not a snapshot flag, -1 on
 *  a usage error (message already printed to stderr). */
int snapshot_parse_flag(int argc, char **argv, int *k);

/** Tell the snapshot code the image path of IDE drive index (0-3): for the
 *  disk fingerprint (mtime) and the default snapshot directory. */
void snapshot_set_drive_path(int index, const char *path);

/** Before opening IDE drive index's image at path: records the path (as
 *  snapshot_set_drive_path), tells blockdev where overlays of frozen images
 *  live (for its error message), and returns extra blockdev_open flags:
 *  BLOCKDEV_FROZEN_OK when -loadvm was given (a frozen image is then
 *  opened read-only: loading the snapshot switches the drive to a new
 *  overlay). */
int snapshot_drive_flags(int index, const char *path);

/** The snapshot directory: -snapshot-dir, else the directory of the first
 *  disk image, else ".". */
const char *snapshot_dir(void);

/** After pc_new(), before pc_run(): perform -loadvm and arm -savevm-at.
 *  Returns 0, or SNAP_ERR_* with a message in err (the caller exits). */
int snapshot_setup(PcMachine *pc, char *err, size_t errlen);

#endif
