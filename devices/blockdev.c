/*
 * blockdev.c - raw image block backend (see blockdev.h).
 */
#include "devices/blockdev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct BlockDev {
    int fd;                 /**< base image */
    int ovl_fd;             /**< snapshot overlay temp file, or -1 */
    uint8_t *ovl_map;       /**< one bit per sector: sector is in the overlay */
    uint64_t sectors;
    bool read_only;
    uint64_t fail_sector;   /**< injected error (test hook) */
};

static void seterr(char *err, size_t errlen, const char *fmt, const char *path, int e)
{
    if (err && errlen) {
        if (e)
            snprintf(err, errlen, fmt, path, strerror(e));
        else
            snprintf(err, errlen, fmt, path);
    }
}

BlockDev *blockdev_open(const char *path, int flags, char *err, size_t errlen)
{
    if (!path) {
        seterr(err, errlen, "%s", "no image path", 0);
        return NULL;
    }
    bool snap = flags & BLOCKDEV_SNAPSHOT;
    bool ro = flags & BLOCKDEV_RDONLY;
    struct stat st;
    if (stat(path, &st) < 0) {
        seterr(err, errlen, "%s: %s", path, errno);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "%s: is a directory, not a disk image", path, 0);
        return NULL;
    }
    int fd = open(path, (ro || snap) ? O_RDONLY : O_RDWR);
    if (fd < 0) {
        int e = errno;
        if (!ro && !snap && (e == EACCES || e == EROFS || e == EPERM))
            seterr(err, errlen, "%s: file is read-only (use a read-only drive or -snapshot): %s",
                   path, e);
        else
            seterr(err, errlen, "%s: %s", path, e);
        return NULL;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0) {
        seterr(err, errlen, "%s: cannot determine size: %s", path, errno);
        close(fd);
        return NULL;
    }
    if (size == 0 || size % BLOCKDEV_SECTOR) {
        if (err && errlen)
            snprintf(err, errlen, "%s: size %lld is not a non-zero multiple of 512 bytes",
                     path, (long long)size);
        close(fd);
        return NULL;
    }
    BlockDev *bd = calloc(1, sizeof(*bd));
    if (!bd) {
        seterr(err, errlen, "%s: out of memory", path, 0);
        close(fd);
        return NULL;
    }
    bd->fd = fd;
    bd->ovl_fd = -1;
    bd->sectors = (uint64_t)size / BLOCKDEV_SECTOR;
    bd->read_only = ro;
    bd->fail_sector = UINT64_MAX;
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

void blockdev_close(BlockDev *bd)
{
    if (!bd)
        return;
    if (bd->fd >= 0)
        close(bd->fd);
    if (bd->ovl_fd >= 0)
        close(bd->ovl_fd);
    free(bd->ovl_map);
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

static bool in_overlay(const BlockDev *bd, uint64_t s)
{
    return bd->ovl_map[s >> 3] & (1u << (s & 7));
}

int blockdev_read(BlockDev *bd, uint64_t sector, void *buf, uint32_t count)
{
    int r = check_range(bd, sector, count);
    if (r < 0)
        return r;
    uint8_t *p = buf;
    if (bd->ovl_fd < 0)
        return full_pread(bd->fd, p, (size_t)count * BLOCKDEV_SECTOR, sector * BLOCKDEV_SECTOR);
    /* Runs of sectors from the same source. */
    uint32_t i = 0;
    while (i < count) {
        bool ovl = in_overlay(bd, sector + i);
        uint32_t n = 1;
        while (i + n < count && in_overlay(bd, sector + i + n) == ovl)
            n++;
        r = full_pread(ovl ? bd->ovl_fd : bd->fd, p + (size_t)i * BLOCKDEV_SECTOR,
                       (size_t)n * BLOCKDEV_SECTOR, (sector + i) * BLOCKDEV_SECTOR);
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
    if (bd->ovl_fd < 0)
        return full_pwrite(bd->fd, buf, (size_t)count * BLOCKDEV_SECTOR, sector * BLOCKDEV_SECTOR);
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
    if (fsync(bd->fd) < 0)
        return -errno;
    return 0;
}
