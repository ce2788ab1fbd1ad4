/*
 * snapshot_disk.c - the disks of a snapshot: fingerprints of every drive,
 * and for writable hard disks the frozen images and qcow2 overlays that
 * keep them consistent with the machine (savevm freezes the current image
 * under a new overlay; loadvm starts a fresh overlay on the snapshot's
 * frozen image).  See snapshot.h; the file format is in snapshot.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/qcow2.h"
#include "frontend/snapshot.h"
#include "frontend/snapshot_internal.h"
/* ------------------------------------------------------------------------ */
/* Disk fingerprints                                                        */


const char *g_drive_path[4];

void snapshot_set_drive_path(int index, const char *path)
{
    if (index >= 0 && index < 4)
        g_drive_path[index] = path;
}

/* The drives as the IDE controller sees them now (a CD may have been
 * changed since start-up: then its start-up path no longer applies). */
int drive_fingerprints(PcMachine *pc, DriveFp fp[4], Err *e)
{
    for (int d = 0; d < 4; d++) {
        DriveFp *f = &fp[d];
        memset(f, 0, sizeof(*f));
        const IdeDrive *dr = &pc->ide->ch[d / 2].drive[d % 2];
        if (!dr->present)
            continue;
        f->present = true;
        f->kind = dr->cdrom ? DRIVE_CDROM : DRIVE_DISK;
        if (!dr->bd)
            continue;
        f->medium = true;
        uint64_t sectors = blockdev_sectors(dr->bd);
        f->size = sectors * BLOCKDEV_SECTOR;
        uint32_t n = sectors < SNAP_FP_BYTES / BLOCKDEV_SECTOR ? (uint32_t)sectors
                                                               : SNAP_FP_BYTES / BLOCKDEV_SECTOR;
        uint8_t *buf = malloc(SNAP_FP_BYTES);
        if (!buf)
            return snap_fail(e, SNAP_ERR_NOMEM, "out of memory");
        int r = blockdev_read(dr->bd, 0, buf, n);
        if (r < 0) {
            free(buf);
            return snap_fail(e, SNAP_ERR_IO, "drive %s: cannot read its first sectors: %s",
                             drive_names[d], strerror(-r));
        }
        f->crc = crc_of(buf, (size_t)n * BLOCKDEV_SECTOR);
        free(buf);
        const char *path = blockdev_path(dr->bd) ? blockdev_path(dr->bd) : g_drive_path[d];
        if (path) {
            snprintf(f->path, sizeof(f->path), "%s", path);
            struct stat st;
            if (stat(path, &st) == 0)
                f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        }
    }
    return 0;
}


/* ------------------------------------------------------------------------ */
/* Disks: frozen at save, a fresh overlay at load                           */


void plan_apply_fp(const DrivePlan *plan, DriveFp fp[4])
{
    if (!plan)
        return;
    for (int d = 0; d < 4; d++) {
        if (!plan->frozen[d] || !fp[d].present)
            continue;
        fp[d].mode = DISK_FROZEN;
        snprintf(fp[d].frozen, sizeof(fp[d].frozen), "%s", plan->rec[d]);
        snprintf(fp[d].frozen_fmt, sizeof(fp[d].frozen_fmt), "%s", plan->fmt[d]);
    }
}

/* Directory part of a file name ("." if none). */
static void dir_of(const char *file, char *out, size_t len)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == file)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - file), file);
}

static const char *base_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash ? slash + 1 : file;
}

static bool same_dir(const char *a, const char *b)
{
    char da[SNAP_MAX_PATH], db[SNAP_MAX_PATH], ra[SNAP_MAX_PATH], rb[SNAP_MAX_PATH];
    dir_of(a, da, sizeof(da));
    dir_of(b, db, sizeof(db));
    return realpath(da, ra) && realpath(db, rb) && !strcmp(ra, rb);
}

/* How file `img` is named from a file in the directory of `from`: its bare
 * name when both are in one directory, else its absolute path. */
static int name_from(const char *from, const char *img, char *out, size_t len)
{
    if (same_dir(from, img)) {
        snprintf(out, len, "%s", base_of(img));
        return 0;
    }
    char full[SNAP_MAX_PATH];
    if (!realpath(img, full))
        return -errno;
    if (snprintf(out, len, "%s", full) >= (int)len)
        return -ENAMETOOLONG;
    return 0;
}

/* A recorded name back to a path: relative names are relative to the
 * directory of `from`. */
void resolve_from(const char *from, const char *rec, char *out, size_t len)
{
    if (rec[0] == '/') {
        snprintf(out, len, "%s", rec);
        return;
    }
    char dir[SNAP_MAX_PATH];
    dir_of(from, dir, sizeof(dir));
    if (snprintf(out, len, "%s/%s", dir, rec) >= (int)len)
        out[0] = '\0'; /* too long: no such file, rather than another one */
}

/* The snapshot file's name without its directory and SNAPSHOT_EXT. */
static void stem_of(const char *snapfile, char *out, size_t len)
{
    const char *b = base_of(snapfile);
    size_t n = strlen(b), el = strlen(SNAPSHOT_EXT);
    if (n > el && !strcmp(b + n - el, SNAPSHOT_EXT))
        n -= el;
    snprintf(out, len, "%.*s", (int)n, b);
}

/* DIR/STEM.hdX[.TAG][.N].qcow2, the n-th candidate (n >= 1). */
static int overlay_name(const char *snapfile, int d, const char *tag, int n, char *out, size_t len)
{
    char dir[SNAP_MAX_PATH], stem[SNAP_MAX_PATH], num[16] = "";
    dir_of(snapfile, dir, sizeof(dir));
    stem_of(snapfile, stem, sizeof(stem));
    if (n > 1)
        snprintf(num, sizeof(num), ".%d", n);
    if (snprintf(out, len, "%s/%s.%s%s%s%s.qcow2", dir, stem, drive_names[d], tag ? "." : "",
                 tag ? tag : "", num) >= (int)len)
        return -1;
    return 0;
}

/* An empty overlay can stand for its backing file only if both have the
 * same size. */
static bool empty_top_ok(const BlockDev *bd, const char *bp)
{
    char err[64];
    BlockDev *b = blockdev_open(bp, BLOCKDEV_RDONLY, err, sizeof(err));
    bool ok = b && blockdev_sectors(b) == blockdev_sectors(bd);
    blockdev_close(b);
    return ok;
}

/* Format of an image file by its magic (the same probe blockdev uses). */
static const char *probe_fmt(const char *path)
{
    uint8_t m[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (pread(fd, m, 4, 0) != 4)
            memset(m, 0, 4);
        close(fd);
    }
    return qcow2_probe(m, 4) ? "qcow2" : "raw";
}

int fmt_flag(const char *fmt)
{
    return !strcmp(fmt, "qcow2") ? BLOCKDEV_FORMAT_QCOW2 : BLOCKDEV_FORMAT_RAW;
}

/* Create a new qcow2 overlay on `backing` next to the snapshot file and
 * open it for writing. */
int make_overlay(DrivePlan *p, int d, const char *backing, Err *e)
{
    char name[SNAP_MAX_PATH], bname[SNAP_MAX_PATH], qerr[512];
    for (int n = 1; n <= 999; n++) {
        if (overlay_name(p->snapfile, d, NULL, n, name, sizeof(name)) < 0)
            return snap_fail(e, SNAP_ERR_ARG, "drive %s: overlay file name too long", drive_names[d]);
        int r = name_from(name, backing, bname, sizeof(bname));
        if (r < 0)
            return snap_fail(e, SNAP_ERR_IO, "drive %s: image '%s': %s", drive_names[d], backing,
                             strerror(-r));
        qerr[0] = 0;
        r = qcow2_create(name, 0, bname, qerr, sizeof(qerr));
        if (r == -EEXIST)
            continue;
        if (r < 0)
            return snap_fail(e, SNAP_ERR_IO, "drive %s: cannot create the overlay: %s", drive_names[d],
                             qerr);
        snprintf(p->created[d], sizeof(p->created[d]), "%s", name);
        p->next[d] = blockdev_open(name, BLOCKDEV_FORMAT_QCOW2, qerr, sizeof(qerr));
        if (!p->next[d])
            return snap_fail(e, SNAP_ERR_IO, "drive %s: cannot open the new overlay: %s",
                             drive_names[d], qerr);
        return 0;
    }
    return snap_fail(e, SNAP_ERR_IO, "drive %s: no free overlay file name in the snapshot directory",
                     drive_names[d]);
}

IdeDrive *ide_drive(PcMachine *pc, int d)
{
    return &pc->ide->ch[d / 2].drive[d % 2];
}

void plan_rollback(DrivePlan *p)
{
    if (!p)
        return;
    for (int d = 0; d < 4; d++) {
        blockdev_close(p->next[d]);
        p->next[d] = NULL;
        if (p->created[d][0])
            unlink(p->created[d]);
        p->created[d][0] = 0;
        if (p->chmodded[d])
            blockdev_unfreeze_file(p->img[d], p->old_mode[d]);
        p->chmodded[d] = false;
    }
}

/* Switch the drives (cannot fail). */
void plan_commit(PcMachine *pc, DrivePlan *p)
{
    if (!p)
        return;
    size_t pos = 0;
    p->summary[0] = 0;
    for (int d = 0; d < 4; d++) {
        if (!p->frozen[d])
            continue;
        IdeDrive *dr = ide_drive(pc, d);
        if (p->next[d]) {
            blockdev_swap(dr->bd, p->next[d]);
            blockdev_close(p->next[d]); /* now the image the drive had */
            p->next[d] = NULL;
        }
        int n = snprintf(p->summary + pos, sizeof(p->summary) - pos, "%s%s: %s%s, frozen %s",
                         pos ? "; " : "", drive_names[d],
                         blockdev_temp_overlay(dr->bd) ? "temporary overlay on " : "",
                         blockdev_path(dr->bd), p->img[d]);
        if (n > 0 && (size_t)n < sizeof(p->summary) - pos)
            pos += (size_t)n;
        p->created[d][0] = 0; /* kept */
        p->chmodded[d] = false;
    }
}

/* Freeze img and the backing files below it (chmod a-w).  Only img's old
 * mode is kept for a rollback: the files below are backing files already. */
int freeze_chain(DrivePlan *p, int d, Err *e)
{
    if (!blockdev_file_frozen(p->img[d])) {
        int r = blockdev_freeze_file(p->img[d], &p->old_mode[d]);
        if (r < 0)
            return snap_fail(e, SNAP_ERR_IO, "drive %s: cannot make '%s' read-only: %s",
                             drive_names[d], p->img[d], strerror(-r));
        p->chmodded[d] = true;
    }
    char cur[SNAP_MAX_PATH], b[SNAP_MAX_PATH];
    snprintf(cur, sizeof(cur), "%s", p->img[d]);
    for (int depth = 0; depth < BLOCKDEV_MAX_CHAIN && qcow2_backing_file(cur, b, sizeof(b)) == 1;
         depth++) {
        if (!blockdev_file_frozen(b))
            (void)blockdev_freeze_file(b, NULL);
        snprintf(cur, sizeof(cur), "%s", b);
    }
    return 0;
}

/* Save: flush each writable hard disk and prepare its switch (see
 * snapshot.h).  Nothing visible changes until plan_commit. */
int plan_prepare_save(PcMachine *pc, DrivePlan *p, Err *e)
{
    char qerr[512];
    for (int d = 0; d < 4; d++) {
        IdeDrive *dr = ide_drive(pc, d);
        if (!dr->present || dr->cdrom || !dr->bd || blockdev_read_only(dr->bd))
            continue;
        BlockDev *bd = dr->bd;
        int r = blockdev_flush(bd);
        if (r < 0)
            return snap_fail(e, SNAP_ERR_IO, "drive %s: flush failed: %s", drive_names[d], strerror(-r));
        const char *bp = blockdev_backing_path(bd);
        if (blockdev_temp_overlay(bd)) {
            if (blockdev_top_empty(bd)) {
                /* Nothing written: the snapshot's disk is the base image. */
                snprintf(p->img[d], sizeof(p->img[d]), "%s", blockdev_path(bd));
                snprintf(p->fmt[d], sizeof(p->fmt[d]), "%s", blockdev_format(bd));
            } else {
                /* The temporary overlay's data, kept in a frozen qcow2 file;
                 * the drive continues on a new temporary overlay over it. */
                char name[SNAP_MAX_PATH];
                r = -EEXIST;
                for (int n = 1; n <= 999 && r == -EEXIST; n++) {
                    if (overlay_name(p->snapfile, d, "frozen", n, name, sizeof(name)) < 0)
                        return snap_fail(e, SNAP_ERR_ARG, "drive %s: file name too long",
                                         drive_names[d]);
                    qerr[0] = 0;
                    r = blockdev_save_temp_overlay(bd, name, qerr, sizeof(qerr));
                }
                if (r < 0)
                    return snap_fail(e, SNAP_ERR_IO, "drive %s: cannot keep the -snapshot overlay: %s",
                                     drive_names[d], qerr);
                snprintf(p->created[d], sizeof(p->created[d]), "%s", name);
                snprintf(p->img[d], sizeof(p->img[d]), "%s", name);
                snprintf(p->fmt[d], sizeof(p->fmt[d]), "qcow2");
                p->next[d] = blockdev_open(name, BLOCKDEV_SNAPSHOT | BLOCKDEV_FORMAT_QCOW2, qerr,
                                           sizeof(qerr));
                if (!p->next[d])
                    return snap_fail(e, SNAP_ERR_IO, "drive %s: %s", drive_names[d], qerr);
            }
        } else if (bp && blockdev_top_empty(bd) && empty_top_ok(bd, bp)) {
            /* An overlay nothing was written to since it was made: the disk
             * reads as its backing file, which the snapshot uses; the drive
             * stays where it is (no deeper chain for repeated saves). */
            snprintf(p->img[d], sizeof(p->img[d]), "%s", bp);
            snprintf(p->fmt[d], sizeof(p->fmt[d]), "%s", probe_fmt(bp));
        } else {
            snprintf(p->img[d], sizeof(p->img[d]), "%s", blockdev_path(bd));
            snprintf(p->fmt[d], sizeof(p->fmt[d]), "%s", blockdev_format(bd));
            if (make_overlay(p, d, p->img[d], e) < 0)
                return e->code;
        }
        r = name_from(p->snapfile, p->img[d], p->rec[d], sizeof(p->rec[d]));
        if (r < 0)
            return snap_fail(e, SNAP_ERR_IO, "drive %s: image '%s': %s", drive_names[d], p->img[d],
                             strerror(-r));
        p->frozen[d] = true;
    }
    return 0;
}


