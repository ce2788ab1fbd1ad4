/*
 * test_blockdev.c - raw image backend: open errors (missing file, directory,
 * bad size, read-only file opened for writing), sector I/O, read-only mode,
 * flush, the -snapshot overlay leaving the base image unchanged, and the
 * error-injection hook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/blockdev.h"

static char tmpdir[256];

static void make_image(const char *path, size_t size)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        buf[i] = (uint8_t)(i / 512 + i);
    assert_int_equal(write(fd, buf, size), (ssize_t)size);
    free(buf);
    close(fd);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_blockdev_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    (void)state;
    return 0;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void test_open_errors(void **state)
{
    char p[300], err[256];
    (void)state;
    path_of(p, sizeof(p), "missing.img");
    err[0] = 0;
    assert_null(blockdev_open(p, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "No such file"));

    assert_null(blockdev_open(tmpdir, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "directory"));

    path_of(p, sizeof(p), "odd.img");
    make_image(p, 1000);
    assert_null(blockdev_open(p, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "multiple of 512"));

    path_of(p, sizeof(p), "empty.img");
    make_image(p, 0);
    assert_null(blockdev_open(p, BLOCKDEV_RDONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "multiple of 512"));

    assert_null(blockdev_open(NULL, 0, err, sizeof(err)));
    /* NULL err buffer must be accepted. */
    assert_null(blockdev_open(tmpdir, 0, NULL, 0));
}

static void test_readonly_file(void **state)
{
    char p[300], err[256];
    (void)state;
    path_of(p, sizeof(p), "ro.img");
    make_image(p, 4096);
    assert_int_equal(chmod(p, 0444), 0);
    if (geteuid() != 0) {   /* root may open anything for writing */
        assert_null(blockdev_open(p, 0, err, sizeof(err)));
        assert_non_null(strstr(err, "read-only"));
    }
    BlockDev *bd = blockdev_open(p, BLOCKDEV_RDONLY, err, sizeof(err));
    assert_non_null(bd);
    assert_true(blockdev_read_only(bd));
    uint8_t buf[512];
    memset(buf, 0, sizeof(buf));
    assert_int_equal(blockdev_write(bd, 0, buf, 1), -EROFS);
    assert_int_equal(blockdev_read(bd, 1, buf, 1), 0);
    assert_int_equal(buf[0], 1);
    assert_int_equal(blockdev_flush(bd), 0);
    blockdev_close(bd);
    /* A read-only file with -snapshot is fine and writable (to the overlay). */
    bd = blockdev_open(p, BLOCKDEV_SNAPSHOT, err, sizeof(err));
    assert_non_null(bd);
    assert_false(blockdev_read_only(bd));
    assert_int_equal(blockdev_write(bd, 0, buf, 1), 0);
    blockdev_close(bd);
}

static void test_read_write(void **state)
{
    char p[300], err[256];
    (void)state;
    path_of(p, sizeof(p), "rw.img");
    make_image(p, 8 * 512);
    BlockDev *bd = blockdev_open(p, 0, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_sectors(bd), 8);
    uint8_t buf[1024], back[1024];
    for (int i = 0; i < 1024; i++)
        buf[i] = (uint8_t)(0xA5 ^ i);
    assert_int_equal(blockdev_write(bd, 6, buf, 2), 0);
    assert_int_equal(blockdev_read(bd, 6, back, 2), 0);
    assert_memory_equal(buf, back, 1024);
    assert_int_equal(blockdev_read(bd, 7, back, 2), -EINVAL);
    assert_int_equal(blockdev_write(bd, 8, buf, 1), -EINVAL);
    assert_int_equal(blockdev_read(bd, UINT64_MAX, back, 1), -EINVAL);
    assert_int_equal(blockdev_flush(bd), 0);
    blockdev_inject_error(bd, 3);
    assert_int_equal(blockdev_read(bd, 2, back, 2), -EIO);
    assert_int_equal(blockdev_write(bd, 3, buf, 1), -EIO);
    assert_int_equal(blockdev_read(bd, 4, back, 1), 0);
    blockdev_inject_error(bd, UINT64_MAX);
    assert_int_equal(blockdev_read(bd, 3, back, 1), 0);
    blockdev_close(bd);
    /* The data reached the file. */
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, back, 1024, 6 * 512), 1024);
    close(fd);
    assert_memory_equal(buf, back, 1024);
}

static void test_snapshot_overlay(void **state)
{
    char p[300], err[256];
    (void)state;
    path_of(p, sizeof(p), "snap.img");
    make_image(p, 16 * 512);
    uint8_t orig[16 * 512], now[16 * 512];
    int fd = open(p, O_RDONLY);
    assert_int_equal(read(fd, orig, sizeof(orig)), (ssize_t)sizeof(orig));
    close(fd);

    BlockDev *bd = blockdev_open(p, BLOCKDEV_SNAPSHOT, err, sizeof(err));
    assert_non_null(bd);
    uint8_t w[3 * 512];
    memset(w, 0x5A, sizeof(w));
    assert_int_equal(blockdev_write(bd, 4, w, 3), 0);
    w[0] = 0x11;
    assert_int_equal(blockdev_write(bd, 10, w, 1), 0);
    /* Reads mix overlay and base sectors. */
    uint8_t r[16 * 512];
    assert_int_equal(blockdev_read(bd, 0, r, 16), 0);
    assert_memory_equal(r, orig, 4 * 512);
    assert_int_equal(r[4 * 512], 0x5A);
    assert_int_equal(r[7 * 512 - 1], 0x5A);
    assert_memory_equal(r + 7 * 512, orig + 7 * 512, 3 * 512);
    assert_int_equal(r[10 * 512], 0x11);
    assert_memory_equal(r + 11 * 512, orig + 11 * 512, 5 * 512);
    assert_int_equal(blockdev_flush(bd), 0);
    blockdev_close(bd);

    fd = open(p, O_RDONLY);
    assert_int_equal(read(fd, now, sizeof(now)), (ssize_t)sizeof(now));
    close(fd);
    assert_memory_equal(orig, now, sizeof(orig));

    /* Reopened: the overlay is gone. */
    bd = blockdev_open(p, BLOCKDEV_SNAPSHOT, err, sizeof(err));
    assert_non_null(bd);
    assert_int_equal(blockdev_read(bd, 4, r, 1), 0);
    assert_memory_equal(r, orig + 4 * 512, 512);
    blockdev_close(bd);
    blockdev_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_readonly_file),
        cmocka_unit_test(test_read_write),
        cmocka_unit_test(test_snapshot_overlay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
