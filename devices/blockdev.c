/*
 * blockdev.c - block backend: raw images, qcow2 images through qcow2.c, and
 * the -snapshot overlay over either (see blockdev.h).
 */
#include "devices/blockdev.h"
#include "devices/qcow2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct BlockDev {
    int fd;                 /**< raw base image, or -1 */
    Qcow2 *qcow;            /**< qcow2 base image, or NULL */
    uint64_t raw_bytes;     /**< raw file size in bytes */
    bool pad_tail;          /**< raw backing file with a partial last sector */
    bool probed;            /**< raw by probing (guard sector 0, see blockdev.h) */
    int ovl_fd;             /**< snapshot overlay temp file, or -1 */
    uint8_t *ovl_map;       /**< one bit per sector: sector is in the overlay */
    uint64_t sectors;
    bool read_only;
    bool frozen_ro;         /**< read-only because frozen (BLOCKDEV_FROZEN_OK) */
    char *path;             /**< the path opened */
    uint64_t fail_sector;   /**< injected error (test hook) */
};

/* The extra directory searched for overlays of a frozen image. */
static char *g_overlay_dir;

void blockdev_set_overlay_dir(const char *dir)
{
    free(g_overlay_dir);
    g_overlay_dir = dir ? strdup(dir) : NULL;
}

bool blockdev_file_frozen(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) && !(st.st_mode & 0222);
}

/* The message for a frozen image opened for writing. */
static void frozen_error(const char *path, char *err, size_t errlen)
{
    if (!err || !errlen)
        return;
    char ovl[4096] = "";
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        slash[1] = 0;
    else
        *slash = 0;
    if (blockdev_find_overlay(path, dir, ovl, sizeof(ovl)) != 1 && g_overlay_dir)
        (void)blockdev_find_overlay(path, g_overlay_dir, ovl, sizeof(ovl));
    if (ovl[0])
        snprintf(err, errlen,
                 "%s: frozen read-only image (the base of vessel snapshots; never written again): "
                 "use its overlay %s, or -loadvm NAME, -snapshot or readonly=on",
                 path, ovl);
    else
        snprintf(err, errlen,
                 "%s: the file is read-only (no write permission; vessel freezes the base images "
                 "of its snapshots this way): use -snapshot or readonly=on, or an overlay on it",
                 path);
}

static void seterr(char *err, size_t errlen, const char *fmt, const char *path, int e)
{
    if (err && errlen) {
        if (e)
            snprintf(err, errlen, fmt, path, strerror(e));
        else
            snprintf(err, errlen, fmt, path);
    }
}

static int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;   /* short read: the image shrank under us */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Open path for reading (and writing unless ro), check it is a regular
 * file, and refuse one already on the backing chain.  Returns the fd or -1
 * with a message. */
static int open_image_fd(const char *path, bool ro, struct stat *st, char *err, size_t errlen)
{
    if (stat(path, st) < 0) {
        seterr(err, errlen, "%s: %s", path, errno);
        return -1;
    }
    if (S_ISDIR(st->st_mode)) {
        seterr(err, errlen, "%s: is a directory, not a disk image", path, 0);
        return -1;
    }
    if (!ro && S_ISREG(st->st_mode) && !(st->st_mode & 0222)) {
        /* Frozen (or otherwise write-protected) image: refused even for root. */
        frozen_error(path, err, errlen);
        errno = EACCES;
        return -2;
    }
    int fd = open(path, ro ? O_RDONLY : O_RDWR);
    if (fd < 0) {
        int e = errno;
        if (!ro && (e == EACCES || e == EROFS || e == EPERM))
            seterr(err, errlen, "%s: file is read-only (use a read-only drive or -snapshot): %s",
                   path, e);
        else
            seterr(err, errlen, "%s: %s", path, e);
        return -1;
    }
    /* The file actually opened (it may have been replaced since stat). */
    if (fstat(fd, st) < 0) {
        seterr(err, errlen, "%s: %s", path, errno);
        close(fd);
        return -1;
    }
    return fd;
}

/* Common open: fmt NULL probes, "raw" or "qcow2" forces (backing files).
 * parent is the chain above this file (NULL for a top-level image). */
static BlockDev *open_common(const char *path, int flags, const char *fmt,
                             const BlockDevChain *parent, char *err, size_t errlen)
{
    if (!path) {
        seterr(err, errlen, "%s", "no image path", 0);
        return NULL;
    }
    bool backing = parent != NULL;
    bool snap = (flags & BLOCKDEV_SNAPSHOT) && !backing;
    bool ro = (flags & BLOCKDEV_RDONLY) || backing;
    if (fmt && strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: unsupported image format '%s' (only raw and qcow2)", path,
                     fmt);
        return NULL;
    }
    struct stat st;
    bool frozen_ro = false;
    int fd = open_image_fd(path, ro || snap, &st, err, errlen);
    if (fd == -2 && (flags & BLOCKDEV_FROZEN_OK)) {
        ro = frozen_ro = true;
        if (err && errlen)
            err[0] = 0;
        fd = open_image_fd(path, true, &st, err, errlen);
    }
    if (fd < 0)
        return NULL;
    BlockDevChain chain;
    memset(&chain, 0, sizeof(chain));
    if (parent) {
        chain = *parent;
        for (unsigned i = 0; i < chain.depth && i < BLOCKDEV_MAX_CHAIN; i++) {
            if (chain.dev[i] == (uint64_t)st.st_dev && chain.ino[i] == (uint64_t)st.st_ino) {
                seterr(err, errlen, "%s: backing file chain loops back to this file", path, 0);
                close(fd);
                return NULL;
            }
        }
        if (chain.depth >= BLOCKDEV_MAX_CHAIN) {
            if (err && errlen)
                snprintf(err, errlen, "%s: backing file chain deeper than %d images", path,
                         BLOCKDEV_MAX_CHAIN);
            close(fd);
            return NULL;
        }
    }
    chain.dev[chain.depth] = (uint64_t)st.st_dev;
    chain.ino[chain.depth] = (uint64_t)st.st_ino;
    chain.depth++;

    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0) {
        seterr(err, errlen, "%s: cannot determine size: %s", path, errno);
        close(fd);
        return NULL;
    }
    uint8_t magic[4] = {0};
    bool is_qcow2 = false;
    if (!fmt || strcmp(fmt, "qcow2") == 0) {
        if (size >= 4 && full_pread(fd, magic, 4, 0) == 0)
            is_qcow2 = qcow2_probe(magic, 4);
        if (fmt && !is_qcow2) {
            seterr(err, errlen, "%s: not a qcow2 image (bad magic)", path, 0);
            close(fd);
            return NULL;
        }
    }
    Qcow2 *q = NULL;
    uint64_t sectors;
    bool pad_tail = false;
    if (is_qcow2) {
        q = qcow2_open(fd, path, ro || snap, &chain, err, errlen);
        if (!q) {
            close(fd);
            return NULL;
        }
        fd = -1;   /* owned by q */
        sectors = qcow2_size(q) / BLOCKDEV_SECTOR;
    } else if (backing) {
        /* A raw backing file may have any size; the tail sector is padded. */
        sectors = ((uint64_t)size + BLOCKDEV_SECTOR - 1) / BLOCKDEV_SECTOR;
        pad_tail = (uint64_t)size % BLOCKDEV_SECTOR != 0;
    } else {
        if (size == 0 || size % BLOCKDEV_SECTOR) {
            if (err && errlen)
                snprintf(err, errlen, "%s: size %lld is not a non-zero multiple of 512 bytes",
                         path, (long long)size);
            close(fd);
            return NULL;
        }
        sectors = (uint64_t)size / BLOCKDEV_SECTOR;
    }
    BlockDev *bd = calloc(1, sizeof(*bd));
    if (!bd) {
        seterr(err, errlen, "%s: out of memory", path, 0);
        if (q)
            qcow2_close(q);
        else
            close(fd);
        return NULL;
    }
    bd->fd = fd;
    bd->qcow = q;
    bd->ovl_fd = -1;
    bd->sectors = sectors;
    bd->raw_bytes = (uint64_t)size;
    bd->pad_tail = pad_tail;
    bd->probed = !fmt;
    bd->read_only = ro;
    bd->frozen_ro = frozen_ro;
    bd->fail_sector = UINT64_MAX;
    bd->path = strdup(path);
    if (!bd->path) {
        seterr(err, errlen, "%s: out of memory", path, 0);
        blockdev_close(bd);
        return NULL;
    }
    if (snap && !ro) {
        const char *dir = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof(tmpl), "%s/vessel-snapshot-XXXXXX", dir && *dir ? dir : "/tmp");
        int ofd = mkstemp(tmpl);
        if (ofd < 0) {
            seterr(err, errlen, "%s: cannot create snapshot overlay: %s", path, errno);
            blockdev_close(bd);
            return NULL;
        }
        unlink(tmpl);
        bd->ovl_fd = ofd;
        /* calloc of a large map is lazily zero-filled by the host. */
        bd->ovl_map = calloc((size_t)((bd->sectors + 7) / 8), 1);
        if (!bd->ovl_map) {
            seterr(err, errlen, "%s: out of memory for snapshot overlay", path, 0);
            blockdev_close(bd);
            return NULL;
        }
    }
    return bd;
}

BlockDev *blockdev_open(const char *path, int flags, char *err, size_t errlen)
{
    const char *fmt = (flags & BLOCKDEV_FORMAT_QCOW2) ? "qcow2"
                      : (flags & BLOCKDEV_FORMAT_RAW) ? "raw" : NULL;
    if ((flags & BLOCKDEV_FORMAT_QCOW2) && (flags & BLOCKDEV_FORMAT_RAW)) {
        seterr(err, errlen, "%s: both raw and qcow2 format requested", path ? path : "?", 0);
        return NULL;
    }
    return open_common(path, flags, fmt, NULL, err, errlen);
}

BlockDev *blockdev_open_backing(const char *path, const char *fmt, const BlockDevChain *chain,
                                char *err, size_t errlen)
{
    static const BlockDevChain empty;
    return open_common(path, BLOCKDEV_RDONLY, fmt, chain ? chain : &empty, err, errlen);
}

const char *blockdev_format(const BlockDev *bd)
{
    return bd && bd->qcow ? "qcow2" : "raw";
}

void blockdev_close(BlockDev *bd)
{
    if (!bd)
        return;
    if (bd->fd >= 0)
        close(bd->fd);
    qcow2_close(bd->qcow);
    if (bd->ovl_fd >= 0)
        close(bd->ovl_fd);
    free(bd->ovl_map);
    free(bd->path);
    free(bd);
}

uint64_t blockdev_sectors(const BlockDev *bd) { return bd ? bd->sectors : 0; }

bool blockdev_read_only(const BlockDev *bd) { return !bd || bd->read_only; }

void blockdev_inject_error(BlockDev *bd, uint64_t sector)
{
    if (bd)
        bd->fail_sector = sector;
}

static int check_range(const BlockDev *bd, uint64_t sector, uint32_t count)
{
    if (!bd || sector > bd->sectors || count > bd->sectors - sector)
        return -EINVAL;
    if (bd->fail_sector != UINT64_MAX && bd->fail_sector >= sector &&
        bd->fail_sector < sector + count)
        return -EIO;
    return 0;
}

static bool in_overlay(const BlockDev *bd, uint64_t s)
{
    return bd->ovl_map[s >> 3] & (1u << (s & 7));
}

/* Read n sectors of the base image (raw or qcow2), without the overlay. */
static int base_read(BlockDev *bd, uint64_t sector, uint8_t *p, uint64_t n)
{
    if (bd->qcow)
        return qcow2_read(bd->qcow, sector * BLOCKDEV_SECTOR, p, n * BLOCKDEV_SECTOR);
    uint64_t off = sector * BLOCKDEV_SECTOR, len = n * BLOCKDEV_SECTOR;
    if (bd->pad_tail && off + len > bd->raw_bytes) {
        /* Backing file with a partial last sector: zero past its end. */
        uint64_t avail = off < bd->raw_bytes ? bd->raw_bytes - off : 0;
        memset(p + avail, 0, (size_t)(len - avail));
        len = avail;
    }
    return full_pread(bd->fd, p, (size_t)len, off);
}

int blockdev_read(BlockDev *bd, uint64_t sector, void *buf, uint32_t count)
{
    int r = check_range(bd, sector, count);
    if (r < 0)
        return r;
    uint8_t *p = buf;
    if (bd->ovl_fd < 0)
        return base_read(bd, sector, p, count);
    /* Runs of sectors from the same source. */
    uint32_t i = 0;
    while (i < count) {
        bool ovl = in_overlay(bd, sector + i);
        uint32_t n = 1;
        while (i + n < count && in_overlay(bd, sector + i + n) == ovl)
            n++;
        uint8_t *q = p + (size_t)i * BLOCKDEV_SECTOR;
        if (ovl)
            r = full_pread(bd->ovl_fd, q, (size_t)n * BLOCKDEV_SECTOR,
                           (sector + i) * BLOCKDEV_SECTOR);
        else
            r = base_read(bd, sector + i, q, n);
        if (r < 0)
            return r;
        i += n;
    }
    return 0;
}

int blockdev_write(BlockDev *bd, uint64_t sector, const void *buf, uint32_t count)
{
    if (!bd)
        return -EINVAL;
    if (bd->read_only)
        return -EROFS;
    int r = check_range(bd, sector, count);
    if (r < 0)
        return r;
    if (bd->ovl_fd < 0) {
        if (bd->qcow)
            return qcow2_write(bd->qcow, sector * BLOCKDEV_SECTOR, buf,
                               (uint64_t)count * BLOCKDEV_SECTOR);
        /* A probed raw image must not become a qcow2 header (see blockdev.h). */
        if (bd->probed && sector == 0 && count > 0 && qcow2_probe(buf, BLOCKDEV_SECTOR))
            return -EPERM;
        return full_pwrite(bd->fd, buf, (size_t)count * BLOCKDEV_SECTOR, sector * BLOCKDEV_SECTOR);
    }
    r = full_pwrite(bd->ovl_fd, buf, (size_t)count * BLOCKDEV_SECTOR, sector * BLOCKDEV_SECTOR);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t s = sector + i;
        bd->ovl_map[s >> 3] |= (uint8_t)(1u << (s & 7));
    }
    return 0;
}

int blockdev_flush(BlockDev *bd)
{
    if (!bd)
        return -EINVAL;
    if (bd->read_only || bd->ovl_fd >= 0)
        return 0;
    if (bd->qcow)
        return qcow2_flush(bd->qcow);
    if (fsync(bd->fd) < 0)
        return -errno;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Disk snapshots                                                           */

const char *blockdev_path(const BlockDev *bd) { return bd ? bd->path : NULL; }

bool blockdev_temp_overlay(const BlockDev *bd) { return bd && bd->ovl_fd >= 0; }

bool blockdev_frozen_ro(const BlockDev *bd) { return bd && bd->frozen_ro; }

const char *blockdev_backing_path(const BlockDev *bd)
{
    return bd && bd->qcow ? qcow2_backing_path(bd->qcow) : NULL;
}

static bool map_empty(const BlockDev *bd)
{
    size_t n = (size_t)((bd->sectors + 7) / 8);
    for (size_t i = 0; i < n; i++)
        if (bd->ovl_map[i])
            return false;
    return true;
}

bool blockdev_top_empty(const BlockDev *bd)
{
    if (!bd)
        return false;
    if (bd->ovl_fd >= 0)
        return map_empty(bd);
    return bd->qcow && qcow2_empty(bd->qcow);
}

void blockdev_swap(BlockDev *a, BlockDev *b)
{
    if (!a || !b || a == b)
        return;
    BlockDev t = *a;
    *a = *b;
    *b = t;
}

/* The name to store in an overlay at ovl for its backing file img: the
 * bare file name when both are in one directory, else an absolute path. */
static int backing_name_for(const char *ovl, const char *img, char *out, size_t outlen)
{
    char a[4096], b[4096];
    const char *sa = strrchr(ovl, '/'), *sb = strrchr(img, '/');
    snprintf(a, sizeof(a), "%.*s", sa ? (int)(sa - ovl) : 1, sa ? ovl : ".");
    snprintf(b, sizeof(b), "%.*s", sb ? (int)(sb - img) : 1, sb ? img : ".");
    if (sa == ovl)
        snprintf(a, sizeof(a), "/");
    if (sb == img)
        snprintf(b, sizeof(b), "/");
    char ra[4096], rb[4096];
    if (realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb)) {
        if (snprintf(out, outlen, "%s", sb ? sb + 1 : img) >= (int)outlen)
            return -ENAMETOOLONG;
        return 0;
    }
    char full[4096];
    if (!realpath(img, full))
        return -errno;
    if (snprintf(out, outlen, "%s", full) >= (int)outlen)
        return -ENAMETOOLONG;
    return 0;
}

int blockdev_save_temp_overlay(BlockDev *bd, const char *path, char *err, size_t errlen)
{
    if (!bd || !path || bd->ovl_fd < 0) {
        seterr(err, errlen, "%s: not a -snapshot drive", path ? path : "?", 0);
        return -EINVAL;
    }
    if (map_empty(bd))
        return 0;
    char bname[4096];
    int r = backing_name_for(path, bd->path, bname, sizeof(bname));
    if (r < 0) {
        seterr(err, errlen, "%s: cannot name the backing file: %s", path, -r);
        return r;
    }
    r = qcow2_create(path, bd->sectors * BLOCKDEV_SECTOR, bname, err, errlen);
    if (r < 0)
        return r;
    BlockDev *out = blockdev_open(path, BLOCKDEV_FORMAT_QCOW2, err, errlen);
    if (!out) {
        unlink(path);
        return -EIO;
    }
    uint8_t *buf = malloc(128 * BLOCKDEV_SECTOR);
    if (!buf) {
        blockdev_close(out);
        unlink(path);
        seterr(err, errlen, "%s: out of memory", path, 0);
        return -ENOMEM;
    }
    uint64_t s = 0;
    while (s < bd->sectors && r == 0) {
        if (!in_overlay(bd, s)) {
            s++;
            continue;
        }
        uint32_t n = 1;
        while (n < 128 && s + n < bd->sectors && in_overlay(bd, s + n))
            n++;
        r = full_pread(bd->ovl_fd, buf, (size_t)n * BLOCKDEV_SECTOR, s * BLOCKDEV_SECTOR);
        if (r == 0)
            r = blockdev_write(out, s, buf, n);
        s += n;
    }
    free(buf);
    if (r == 0)
        r = blockdev_flush(out);
    blockdev_close(out);
    if (r < 0) {
        seterr(err, errlen, "%s: cannot write the overlay's data: %s", path, -r);
        unlink(path);
        return r;
    }
    return 1;
}

int blockdev_freeze_file(const char *path, unsigned *old_mode)
{
    struct stat st;
    if (!path || stat(path, &st) < 0)
        return path ? -errno : -EINVAL;
    if (old_mode)
        *old_mode = (unsigned)(st.st_mode & 07777);
    if (chmod(path, st.st_mode & 07555) < 0)
        return -errno;
    return 0;
}

void blockdev_unfreeze_file(const char *path, unsigned old_mode)
{
    if (path)
        (void)chmod(path, (mode_t)old_mode);
}

int blockdev_find_overlay(const char *image, const char *dir, char *out, size_t outlen)
{
    struct stat is;
    if (!image || !dir || !out || !outlen || stat(image, &is) < 0)
        return -EINVAL;
    DIR *dp = opendir(dir);
    if (!dp)
        return -errno;
    struct dirent *de;
    int64_t best = INT64_MIN;
    int found = 0;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096], b[4096];
        if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p))
            continue;
        struct stat st, bs;
        if (stat(p, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0222))
            continue;
        if (qcow2_backing_file(p, b, sizeof(b)) != 1 || stat(b, &bs) < 0)
            continue;
        if (bs.st_dev != is.st_dev || bs.st_ino != is.st_ino)
            continue;
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        if (mt > best || !found) {
            best = mt;
            snprintf(out, outlen, "%s", p);
            found = 1;
        }
    }
    closedir(dp);
    return found;
}
