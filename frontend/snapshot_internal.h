/*
 * snapshot_internal.h - what snapshot.c (the file format, save and load)
 * and snapshot_disk.c (the disks: fingerprints, frozen images and qcow2
 * overlays) share.  Private to frontend/.
 */
#ifndef VESSEL_SNAPSHOT_INTERNAL_H
#define VESSEL_SNAPSHOT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/blockdev.h"
#include "devices/pc_internal.h"

#define SNAP_MAGIC "VESSELSN"
#define SNAP_CPU_MODEL "pentium2"
#define SNAP_PAGE 4096u
#define SNAP_CHUNK (1u << 20)                    /* bytes of memory per chunk */
#define SNAP_CHUNK_PAGES (SNAP_CHUNK / SNAP_PAGE) /* 256 */
#define SNAP_BITMAP (SNAP_CHUNK_PAGES / 8)        /* 32 bytes */
#define SNAP_MAX_HEADER (1u << 20)
#define SNAP_MAX_SECTIONS 64
#define SNAP_MAX_NAME 64
#define SNAP_MAX_PATH 4096
#define SNAP_FP_BYTES (64u * 1024)               /* disk fingerprint: first 64 KiB */

enum { FLAG_APIC = 1, FLAG_VGA = 2, FLAG_ICOUNT = 4 };
enum { DRIVE_DISK = 1, DRIVE_CDROM = 2 };
enum { DISK_FINGERPRINT = 0, DISK_FROZEN = 1 };   /* drive record mode (format 2) */

static const char *const drive_names[4] = { "hda", "hdb", "hdc", "hdd" };

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

typedef struct Err {
    char *buf;
    size_t len;
    const char *file;
    int code;
} Err;

/** Record the first error in e (message "FILE: ..." into e->buf) and
 *  return its code (SNAP_ERR_*); later errors keep the first message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int snap_fail(Err *e, int code, const char *fmt, ...);

/** CRC-32 (zlib's) of n bytes. */
uint32_t crc_of(const uint8_t *p, size_t n);

typedef struct DriveFp {
    bool present;
    uint8_t kind;        /* DRIVE_* */
    bool medium;
    char path[SNAP_MAX_PATH];
    uint64_t size;
    int64_t mtime_ns;    /* 0 = unknown (no path) */
    uint32_t crc;
    /* Format 2: how the disk's contents are kept. */
    uint8_t mode;                    /* DISK_FINGERPRINT / DISK_FROZEN */
    char frozen[SNAP_MAX_PATH];      /* frozen image: relative to the snapshot
                                        file's directory, or absolute */
    char frozen_fmt[8];              /* "raw" / "qcow2" */
} DriveFp;

/* What a save or load does to the writable hard disks (see snapshot.h):
 * prepared first (files created, new images opened, nothing switched),
 * then committed (the drives switch in place, blockdev_swap) or rolled
 * back (new images closed, files made for the plan removed, modes put
 * back). */
typedef struct DrivePlan {
    const char *snapfile;              /* the snapshot file: directory and stem */
    bool frozen[4];                    /* drive d is recorded DISK_FROZEN */
    char rec[4][SNAP_MAX_PATH];        /* its frozen image as recorded */
    char img[4][SNAP_MAX_PATH];        /* the same, usable from here */
    char fmt[4][8];                    /* its format */
    BlockDev *next[4];                 /* the image the drive switches to (NULL: stays) */
    char created[4][SNAP_MAX_PATH];    /* file made for this plan, "" if none */
    bool chmodded[4];
    unsigned old_mode[4];
    char summary[1024];                /* "hda: ... " for the monitor */
} DrivePlan;

/* ---- snapshot_disk.c ---- */

/** The image paths given on the command line per drive slot (hda-hdd),
 *  set by snapshot_set_drive_path(); NULL where none. */
extern const char *g_drive_path[4];

/** The drives as the IDE controller sees them now: presence, kind, size,
 *  path and mtime, CRC of the first 64 KiB.  Returns 0 or an error code. */
int drive_fingerprints(PcMachine *pc, DriveFp fp[4], Err *e);
/** Record in fp which drives plan froze, and the frozen images' names. */
void plan_apply_fp(const DrivePlan *plan, DriveFp fp[4]);
/** savevm: freeze each writable disk and open a new overlay on it (nothing
 *  switched yet).  Returns 0 or an error code, with the plan rolled back. */
int plan_prepare_save(PcMachine *pc, DrivePlan *p, Err *e);
/** Create a new qcow2 overlay for drive d on backing, next to the snapshot
 *  file, and open it for writing.  0 or an error code. */
int make_overlay(DrivePlan *p, int d, const char *backing, Err *e);
/** Freeze drive d's image and the backing files below it (chmod a-w);
 *  only the image's old mode is kept for a rollback.  0 or an error code. */
int freeze_chain(DrivePlan *p, int d, Err *e);
/** Switch the drives to the plan's images (cannot fail). */
void plan_commit(PcMachine *pc, DrivePlan *p);
/** Undo a prepared plan: close new images, remove its files, restore modes. */
void plan_rollback(DrivePlan *p);
/** The IDE drive of slot d (0-3: hda-hdd). */
IdeDrive *ide_drive(PcMachine *pc, int d);
/** BLOCKDEV_* format flag for "raw" / "qcow2" (0 for anything else). */
int fmt_flag(const char *fmt);
/** A recorded image name back to a path: relative names are relative to
 *  the directory of from; "" when the result would not fit. */
void resolve_from(const char *from, const char *rec, char *out, size_t len);

#endif
