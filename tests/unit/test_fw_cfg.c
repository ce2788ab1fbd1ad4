/*
 * test_fw_cfg.c - QEMU fw_cfg I/O interface: signature, ID, integer items,
 * file directory format and ordering, file read-back, unknown keys.
 * Driven through ports 0x510/0x511 on a test IoBus, as SeaBIOS does
 * (outw selector, inb data).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/bus.h"
#include "devices/fw_cfg.h"
#include "devices/state.h"

typedef struct {
    IoBus io;
    FwCfg *fw;
} Fx;

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    iobus_init(&f->io);
    f->fw = fw_cfg_new(&f->io);
    assert_non_null(f->fw);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    fw_cfg_free(f->fw);
    free(f);
    return 0;
}

static void select_key(Fx *f, uint16_t key) { iobus_write(&f->io, 0x510, key, 2); }
static uint8_t data(Fx *f) { return (uint8_t)iobus_read(&f->io, 0x511, 1); }

static void read_item(Fx *f, uint16_t key, void *buf, size_t len)
{
    select_key(f, key);
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = data(f);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void test_signature_and_id(void **state)
{
    Fx *f = *state;
    uint8_t b[8];
    read_item(f, FW_CFG_SIGNATURE, b, 5);
    assert_memory_equal(b, "QEMU", 4);
    assert_int_equal(b[4], 0);          /* past the end: 0 */
    read_item(f, FW_CFG_ID, b, 4);
    assert_int_equal(b[0], 1);          /* traditional interface, no DMA */
    assert_int_equal(b[1] | b[2] | b[3], 0);
    /* Reselecting rewinds. */
    read_item(f, FW_CFG_SIGNATURE, b, 2);
    read_item(f, FW_CFG_SIGNATURE, b, 1);
    assert_int_equal(b[0], 'Q');
    /* Reset selects the signature. */
    read_item(f, FW_CFG_ID, b, 1);
    fw_cfg_reset(f->fw);
    assert_int_equal(data(f), 'Q');
    /* Byte reads on 0x510 read data too (QEMU's combined region). */
    assert_int_equal(iobus_read(&f->io, 0x510, 1), 'E');
    assert_int_equal(data(f), 'M');
    /* Byte writes to the selector or data port do nothing. */
    iobus_write(&f->io, 0x510, 0x01, 1);
    iobus_write(&f->io, 0x511, 0x00, 1);
    assert_int_equal(data(f), 'U');
}

static void test_integers(void **state)
{
    Fx *f = *state;
    uint8_t b[8];
    assert_int_equal(fw_cfg_add_i16(f->fw, FW_CFG_NB_CPUS, 0x0102), 0);
    assert_int_equal(fw_cfg_add_i32(f->fw, FW_CFG_NOGRAPHIC, 0xA1B2C3D4), 0);
    assert_int_equal(fw_cfg_add_i64(f->fw, FW_CFG_RAM_SIZE, 0x1122334455667788ull), 0);
    read_item(f, FW_CFG_NB_CPUS, b, 3);
    assert_int_equal(b[0], 0x02);       /* little-endian */
    assert_int_equal(b[1], 0x01);
    assert_int_equal(b[2], 0x00);
    read_item(f, FW_CFG_NOGRAPHIC, b, 4);
    assert_int_equal(b[0], 0xD4);
    assert_int_equal(b[3], 0xA1);
    read_item(f, FW_CFG_RAM_SIZE, b, 8);
    assert_int_equal(b[0], 0x88);
    assert_int_equal(b[7], 0x11);
    /* Replacing an item. */
    assert_int_equal(fw_cfg_add_i16(f->fw, FW_CFG_NB_CPUS, 4), 0);
    read_item(f, FW_CFG_NB_CPUS, b, 2);
    assert_int_equal(b[0], 4);
    /* Arch-local keys (0x8000+). */
    const uint8_t e820[20] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 0, 0, 0 };
    assert_int_equal(fw_cfg_add_bytes(f->fw, FW_CFG_E820_TABLE, e820, sizeof(e820)), 0);
    uint8_t got[21];
    read_item(f, FW_CFG_E820_TABLE, got, sizeof(got));
    assert_memory_equal(got, e820, sizeof(e820));
    assert_int_equal(got[20], 0);
    /* Non-arch key of the same index is a different (empty) item. */
    read_item(f, 0x0003 + 0, b, 1);
    assert_int_equal(b[0], 0x88);
    /* Empty item. */
    assert_int_equal(fw_cfg_add_bytes(f->fw, FW_CFG_BOOT_MENU, NULL, 0), 0);
    read_item(f, FW_CFG_BOOT_MENU, b, 2);
    assert_int_equal(b[0] | b[1], 0);
    /* Refused keys. */
    assert_int_equal(fw_cfg_add_i16(f->fw, FW_CFG_FILE_DIR, 1), -1);
    assert_int_equal(fw_cfg_add_i16(f->fw, FW_CFG_FILE_FIRST, 1), -1);
    assert_int_equal(fw_cfg_add_i16(f->fw, FW_CFG_WRITE_CHANNEL | 5, 1), -1);
    assert_int_equal(fw_cfg_add_i16(f->fw, 0x3FFF, 1), -1);
    assert_int_equal(fw_cfg_add_i16(f->fw, 0xBFFF, 1), -1);
    assert_int_equal(fw_cfg_add_bytes(f->fw, 0x05, NULL, 4), -1);
    assert_int_equal(fw_cfg_add_i16(NULL, 0x05, 1), -1);
}

static void test_unknown_keys_read_zero(void **state)
{
    Fx *f = *state;
    const uint16_t keys[] = { 0x0D, 0x1F, 0x20, 0x21, 0x0123, 0x3FFF, 0x4000, 0x4005,
                              0x8000, 0x8010, 0xFFFF };
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        select_key(f, keys[k]);
        for (int i = 0; i < 16; i++)
            assert_int_equal(data(f), 0);
    }
}

static void test_file_directory(void **state)
{
    Fx *f = *state;
    uint8_t b[4];
    /* Empty directory: count 0. */
    read_item(f, FW_CFG_FILE_DIR, b, 4);
    assert_int_equal(be32(b), 0);

    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i ^ (i >> 8));
    assert_int_equal(fw_cfg_add_file(f->fw, "zeta", "Z", 1), 0);
    assert_int_equal(fw_cfg_add_file(f->fw, "bootorder", "/rom@genroms/linuxboot.bin\n", 27), 0);
    assert_int_equal(fw_cfg_add_file(f->fw, "etc/e820", big, sizeof(big)), 0);
    assert_int_equal(fw_cfg_add_file(f->fw, "alpha", "", 0), 0);
    /* Errors: duplicate, empty, too long (56), NULL. */
    assert_int_equal(fw_cfg_add_file(f->fw, "zeta", "x", 1), -1);
    assert_int_equal(fw_cfg_add_file(f->fw, "", "x", 1), -1);
    char name[80];
    memset(name, 'n', sizeof(name));
    name[56] = '\0';
    assert_int_equal(fw_cfg_add_file(f->fw, name, "x", 1), -1);
    name[55] = '\0';
    assert_int_equal(fw_cfg_add_file(f->fw, name, "x", 1), 0);   /* 55 chars OK */
    assert_int_equal(fw_cfg_add_file(f->fw, NULL, "x", 1), -1);

    /* Directory: BE count, then {BE size, BE select, reserved, name[56]},
     * sorted by name with selectors 0x20 upward. */
    const char *order[] = { "alpha", "bootorder", "etc/e820", name, "zeta" };
    const uint32_t sizes[] = { 0, 27, sizeof(big), 1, 1 };
    uint8_t dir[4 + 5 * 64 + 4];
    read_item(f, FW_CFG_FILE_DIR, dir, sizeof(dir));
    assert_int_equal(be32(dir), 5);
    for (int i = 0; i < 5; i++) {
        const uint8_t *e = dir + 4 + 64 * i;
        assert_int_equal(be32(e), sizes[i]);
        assert_int_equal(be16(e + 4), 0x20 + i);
        assert_int_equal(be16(e + 6), 0);
        assert_string_equal((const char *)e + 8, order[i]);
        assert_int_equal(fw_cfg_file_select(f->fw, order[i]), 0x20 + i);
    }
    assert_int_equal(be32(dir + 4 + 5 * 64), 0);   /* past the end */
    assert_int_equal(fw_cfg_file_select(f->fw, "nope"), -1);

    /* File read-back by selector, as SeaBIOS does from the directory. */
    uint8_t s[28];
    read_item(f, 0x21, s, sizeof(s));
    assert_memory_equal(s, "/rom@genroms/linuxboot.bin\n", 27);
    assert_int_equal(s[27], 0);
    select_key(f, 0x22);
    for (size_t i = 0; i < sizeof(big); i++)
        if (data(f) != big[i])
            fail_msg("etc/e820 byte %zu differs", i);
    assert_int_equal(data(f), 0);
    read_item(f, 0x24, s, 2);
    assert_int_equal(s[0], 'Z');
    assert_int_equal(s[1], 0);
    /* Sizes in the directory match after later insertions renumber. */
    assert_int_equal(fw_cfg_add_file(f->fw, "aardvark", "AA", 2), 0);
    assert_int_equal(fw_cfg_file_select(f->fw, "aardvark"), 0x20);
    assert_int_equal(fw_cfg_file_select(f->fw, "zeta"), 0x25);
    read_item(f, 0x25, s, 1);
    assert_int_equal(s[0], 'Z');
    read_item(f, 0x20, s, 2);
    assert_memory_equal(s, "AA", 2);
}

static void test_directory_full(void **state)
{
    Fx *f = *state;
    char name[32];
    for (int i = 0; i < FW_CFG_MAX_FILES; i++) {
        snprintf(name, sizeof(name), "f%04d", FW_CFG_MAX_FILES - i);
        assert_int_equal(fw_cfg_add_file(f->fw, name, name, strlen(name)), 0);
    }
    assert_int_equal(fw_cfg_add_file(f->fw, "one-too-many", "x", 1), -1);
    uint8_t b[4];
    read_item(f, FW_CFG_FILE_DIR, b, 4);
    assert_int_equal(be32(b), FW_CFG_MAX_FILES);
    /* The last selector holds the greatest name. */
    uint8_t s[6];
    read_item(f, FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES - 1, s, 5);
    s[5] = 0;
    assert_string_equal((char *)s, "f0256");
}

static uint32_t rng = 777;
static uint32_t rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static void test_random_writes(void **state)
{
    Fx *f = *state;
    fw_cfg_add_file(f->fw, "etc/x", "hello", 5);
    for (int i = 0; i < 100000; i++) {
        uint16_t port = (uint16_t)(0x50E + rnd() % 8);
        unsigned size = 1u << (rnd() % 3);
        if (rnd() & 1)
            iobus_write(&f->io, port, rnd(), size);
        else
            (void)iobus_read(&f->io, port, size);
    }
    uint8_t b[4];
    read_item(f, FW_CFG_SIGNATURE, b, 4);
    assert_memory_equal(b, "QEMU", 4);
}

static void test_state_round_trip(void **state)
{
    Fx *f = *state;
    char err[128];
    assert_int_equal(state_check(&fw_cfg_state, sizeof(FwCfg), err, sizeof(err)), 0);
    fw_cfg_add_file(f->fw, "etc/data", "0123456789", 10);
    select_key(f, 0x20);
    assert_int_equal(data(f), '0');
    assert_int_equal(data(f), '1');
    assert_int_equal(data(f), '2');
    uint8_t buf[64];
    long n = state_save(&fw_cfg_state, f->fw, buf, sizeof(buf));
    assert_true(n > 0);
    fw_cfg_reset(f->fw);
    assert_int_equal(data(f), 'Q');
    assert_int_equal(state_load(&fw_cfg_state, f->fw, fw_cfg_state.version, buf, (size_t)n,
                                err, sizeof(err)), 0);
    assert_int_equal(data(f), '3');
    /* A hostile offset/key just reads zeros. */
    f->fw->cur_offset = 0xFFFFFFFF;
    assert_int_equal(data(f), 0);
    f->fw->cur_key = 0x7FFF;
    assert_int_equal(data(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys_read_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
