/*
 * test_snapshot_disk.c - disks follow whole-machine snapshots
 * (frontend/snapshot.c with devices/blockdev.c and qcow2.c), on a real
 * PcMachine with an IDE disk, driven only through the snapshot API and the
 * drive's BlockDev (the guest's view of the disk):
 *  - savevm freezes a raw image (no write bits), makes NAME.hda.qcow2 on
 *    it and switches the drive in place; the header records the frozen
 *    image; writes then go to the overlay only;
 *  - loadvm makes a fresh overlay on the frozen image: the disk reads as
 *    at the save; the abandoned overlay keeps its data;
 *  - a second save with nothing written reuses the frozen image (no deeper
 *    chain);
 *  - a failed load (frozen image gone; image changed) leaves the machine
 *    and its drive unchanged and removes the overlay it had made;
 *  - a frozen image opened for writing: one error naming the overlay, or
 *    read-only with BLOCKDEV_FROZEN_OK;
 *  - a -snapshot drive: its temporary overlay is kept in a frozen
 *    NAME.hda.frozen.qcow2;
 *  - delvm removes overlay files nothing references any more.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "frontend/snapshot.c"
#include "frontend/snapshot_disk.c"

static uint8_t bios[0x10000];
static char dir[256];

static void null_sink(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

#define DISK_SECTORS 2048u /* 1 MiB */

static PcMachine *make_pc(BlockDev *bd)
{
    memset(bios, 0xF4, sizeof(bios)); /* hlt everywhere: the CPU is not run */
    static const uint8_t reset[] = { 0xEA, 0x00, 0x00, 0x00, 0xF0 };
    memcpy(bios + 0xFFF0, reset, sizeof(reset));
    PcConfig cfg = {
        .ram_size = 32u << 20,
        .bios = bios,
        .bios_size = sizeof(bios),
        .icount = true,
        .icount_shift = 0,
        .apic = true,
        .vga = false,
        .debug_exit_port = -1,
        .tcache = true,
        .serial = { { null_sink, NULL }, { NULL, NULL } },
    };
    cfg.drives[0] = bd;
    char err[256];
    PcMachine *pc = pc_new(&cfg, err, sizeof(err));
    if (!pc)
        fail_msg("pc_new: %s", err);
    return pc;
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* A raw image whose sector s is filled with (s + seed) & 0xff. */
static void make_raw(const char *path, uint8_t seed)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint8_t sec[512];
    for (unsigned s = 0; s < DISK_SECTORS; s++) {
        memset(sec, (uint8_t)(s + seed), sizeof(sec));
        assert_int_equal(fwrite(sec, 1, sizeof(sec), f), sizeof(sec));
    }
    fclose(f);
}

static uint8_t sector_byte(BlockDev *bd, uint64_t s)
{
    uint8_t sec[512];
    assert_int_equal(blockdev_read(bd, s, sec, 1), 0);
    for (int i = 1; i < 512; i++)
        assert_int_equal(sec[i], sec[0]);
    return sec[0];
}

static void put_sector(BlockDev *bd, uint64_t s, uint8_t v)
{
    uint8_t sec[512];
    memset(sec, v, sizeof(sec));
    assert_int_equal(blockdev_write(bd, s, sec, 1), 0);
}

static bool is_writable(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_mode & 0222;
}

static void setup_dir(void)
{
    snprintf(dir, sizeof(dir), "%s/snapdisk.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    while (dp && (de = readdir(dp))) {
        char p[512];
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (dp)
        closedir(dp);
    rmdir(dir);
}

static void test_save_load(void **state)
{
    (void)state;
    setup_dir();
    char disk[512], ovl1[512], ovl2[512], snap[512], err[1024];
    path_in(disk, sizeof(disk), "disk.img");
    path_in(ovl1, sizeof(ovl1), "s1.hda.qcow2");
    path_in(ovl2, sizeof(ovl2), "s1.hda.2.qcow2");
    path_in(snap, sizeof(snap), "s1.vsn");
    make_raw(disk, 0);
    BlockDev *bd = blockdev_open(disk, 0, err, sizeof(err));
    assert_non_null(bd);
    PcMachine *pc = make_pc(bd);

    put_sector(bd, 5, 0xA1); /* "file A" */
    int r = snapshot_savevm(pc, dir, "s1", err, sizeof(err));
    if (r)
        fail_msg("savevm: %s", err);
    assert_non_null(strstr(err, "s1.hda.qcow2"));
    assert_false(is_writable(disk));
    assert_true(is_writable(ovl1));
    assert_string_equal(blockdev_path(bd), ovl1);
    assert_string_equal(blockdev_format(bd), "qcow2");
    assert_string_equal(blockdev_backing_path(bd), disk);
    /* The header says which frozen image goes with the snapshot. */
    Hdr *h = calloc(1, sizeof(*h));
    assert_int_equal(read_header_file(snap, h), 0);
    assert_int_equal(h->version, SNAPSHOT_FORMAT_VERSION);
    assert_int_equal(h->drive[0].mode, DISK_FROZEN);
    assert_string_equal(h->drive[0].frozen, "disk.img");
    assert_string_equal(h->drive[0].frozen_fmt, "raw");

    /* "file B" after the snapshot goes to the overlay; disk.img unchanged. */
    put_sector(bd, 6, 0xB2);
    put_sector(bd, 5, 0xB3);
    {
        BlockDev *raw = blockdev_open(disk, BLOCKDEV_RDONLY, err, sizeof(err));
        assert_non_null(raw);
        assert_int_equal(sector_byte(raw, 5), 0xA1);
        assert_int_equal(sector_byte(raw, 6), 6);
        blockdev_close(raw);
    }
    uint64_t ic = pc_icount(pc);
    r = snapshot_loadvm(pc, dir, "s1", err, sizeof(err));
    if (r)
        fail_msg("loadvm: %s", err);
    assert_int_equal(pc_icount(pc), ic);
    assert_string_equal(blockdev_path(bd), ovl2);
    assert_int_equal(sector_byte(bd, 5), 0xA1);
    assert_int_equal(sector_byte(bd, 6), 6);
    /* The abandoned overlay keeps the writes made after the snapshot. */
    {
        BlockDev *old = blockdev_open(ovl1, BLOCKDEV_RDONLY, err, sizeof(err));
        assert_non_null(old);
        assert_int_equal(sector_byte(old, 5), 0xB3);
        assert_int_equal(sector_byte(old, 6), 0xB2);
        blockdev_close(old);
    }

    /* Saving again with nothing written: the same frozen image, no new file. */
    r = snapshot_savevm(pc, dir, "s2", err, sizeof(err));
    if (r)
        fail_msg("savevm s2: %s", err);
    assert_string_equal(blockdev_path(bd), ovl2);
    char s2[512];
    path_in(s2, sizeof(s2), "s2.vsn");
    memset(h, 0, sizeof(*h));
    assert_int_equal(read_header_file(s2, h), 0);
    assert_string_equal(h->drive[0].frozen, "disk.img");

    /* A frozen image opened for writing. */
    BlockDev *x = blockdev_open(disk, 0, err, sizeof(err));
    assert_null(x);
    assert_non_null(strstr(err, "frozen"));
    assert_non_null(strstr(err, "use its overlay"));
    assert_non_null(strstr(err, "/s1.hda."));
    x = blockdev_open(disk, BLOCKDEV_FROZEN_OK, err, sizeof(err));
    assert_non_null(x);
    assert_true(blockdev_read_only(x) && blockdev_frozen_ro(x));
    blockdev_close(x);

    /* delvm s1: s1.hda.qcow2 (abandoned, nothing uses it) goes; the live
     * overlay and disk.img stay. */
    r = snapshot_delvm_pc(pc, dir, "s1", err, sizeof(err));
    assert_int_equal(r, 0);
    assert_int_equal(access(ovl1, F_OK), -1);
    assert_int_equal(access(ovl2, F_OK), 0);
    assert_int_equal(access(disk, F_OK), 0);

    free(h);
    pc_free(pc);
    blockdev_close(bd);
    remove_dir();
}

static void test_failed_load(void **state)
{
    (void)state;
    setup_dir();
    char disk[512], err[1024], ovl[512];
    path_in(disk, sizeof(disk), "disk.img");
    make_raw(disk, 3);
    BlockDev *bd = blockdev_open(disk, 0, err, sizeof(err));
    assert_non_null(bd);
    PcMachine *pc = make_pc(bd);
    assert_int_equal(snapshot_savevm(pc, dir, "s", err, sizeof(err)), 0);
    path_in(ovl, sizeof(ovl), "s.hda.qcow2");
    put_sector(bd, 9, 0x99);

    /* Frozen image missing: refused, nothing switched, no file left. */
    char moved[512];
    path_in(moved, sizeof(moved), "moved.img");
    assert_int_equal(rename(disk, moved), 0);
    uint8_t *before = NULL, *after = NULL;
    size_t blen = 0, alen = 0;
    assert_int_equal(snapshot_save_mem(pc, &before, &blen, err, sizeof(err)), 0);
    int r = snapshot_loadvm(pc, dir, "s", err, sizeof(err));
    assert_int_equal(r, SNAP_ERR_CONFIG);
    assert_non_null(strstr(err, "frozen disk image"));
    assert_non_null(strstr(err, "missing"));
    assert_string_equal(blockdev_path(bd), ovl);
    assert_int_equal(sector_byte(bd, 9), 0x99);
    char ovl2[512];
    path_in(ovl2, sizeof(ovl2), "s.hda.2.qcow2");
    assert_int_equal(access(ovl2, F_OK), -1);
    assert_int_equal(snapshot_save_mem(pc, &after, &alen, err, sizeof(err)), 0);
    assert_int_equal(blen, alen); /* same machine state (headers hold the save time) */
    uint32_t hb = (uint32_t)get_le(before + 12, 4), ha = (uint32_t)get_le(after + 12, 4);
    assert_int_equal(hb, ha);
    assert_memory_equal(before + hb, after + ha, blen - hb - 4);
    free(before);
    free(after);

    /* Frozen image changed behind vessel's back: refused, overlay removed. */
    assert_int_equal(rename(moved, disk), 0);
    chmod(disk, 0644);
    {
        BlockDev *w = blockdev_open(disk, BLOCKDEV_FORMAT_RAW, err, sizeof(err));
        assert_non_null(w);
        put_sector(w, 0, 0x55);
        blockdev_close(w);
    }
    r = snapshot_loadvm(pc, dir, "s", err, sizeof(err));
    assert_int_equal(r, SNAP_ERR_CONFIG);
    assert_non_null(strstr(err, "changed after the snapshot"));
    assert_int_equal(access(ovl2, F_OK), -1);
    assert_string_equal(blockdev_path(bd), ovl);

    pc_free(pc);
    blockdev_close(bd);
    remove_dir();
}

static void test_temp_overlay(void **state)
{
    (void)state;
    setup_dir();
    char disk[512], err[1024], fz[512];
    path_in(disk, sizeof(disk), "disk.img");
    path_in(fz, sizeof(fz), "t.hda.frozen.qcow2");
    make_raw(disk, 7);
    BlockDev *bd = blockdev_open(disk, BLOCKDEV_SNAPSHOT, err, sizeof(err));
    assert_non_null(bd);
    PcMachine *pc = make_pc(bd);
    put_sector(bd, 100, 0x10);
    assert_int_equal(snapshot_savevm(pc, dir, "t", err, sizeof(err)), 0);
    assert_false(is_writable(fz));
    assert_false(is_writable(disk));
    assert_true(blockdev_temp_overlay(bd));
    assert_string_equal(blockdev_path(bd), fz);
    put_sector(bd, 100, 0x20);
    put_sector(bd, 101, 0x21);
    assert_int_equal(snapshot_loadvm(pc, dir, "t", err, sizeof(err)), 0);
    assert_true(blockdev_temp_overlay(bd));
    assert_int_equal(sector_byte(bd, 100), 0x10);
    assert_int_equal(sector_byte(bd, 101), (uint8_t)(101 + 7));
    assert_int_equal(sector_byte(bd, 1), 8);
    pc_free(pc);
    blockdev_close(bd);
    remove_dir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_failed_load),
        cmocka_unit_test(test_temp_overlay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
