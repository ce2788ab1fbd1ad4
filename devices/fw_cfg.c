/*
 * fw_cfg.c - QEMU fw_cfg, traditional I/O interface (see fw_cfg.h).
 *
 * Source: QEMU docs/specs/fw_cfg.rst ("Selector (Control) Register",
 * "Data Register", "File Directory").
 */
#include "devices/fw_cfg.h"

#include <stdlib.h>
#include <string.h>

static FwCfgEntry *fw_cfg_entry(FwCfg *s, uint16_t key)
{
    unsigned idx = key & FW_CFG_ENTRY_MASK;
    if ((key & FW_CFG_WRITE_CHANNEL) || idx >= FW_CFG_MAX_ENTRY)
        return NULL;
    return &s->entries[(key & FW_CFG_ARCH_LOCAL) ? 1 : 0][idx];
}

static uint8_t fw_cfg_read_data(FwCfg *s)
{
    FwCfgEntry *e = fw_cfg_entry(s, s->cur_key);
    if (!e || !e->data || s->cur_offset >= e->len)
        return 0;
    return e->data[s->cur_offset++];
}

static void fw_cfg_select(FwCfg *s, uint16_t key)
{
    s->cur_key = key;
    s->cur_offset = 0;
}

/* off 0 = 0x510, 1 = 0x511.  16-bit writes select; byte reads read data
 * (QEMU's combined region accepts data reads on both ports); byte data
 * writes are ignored (unsupported since QEMU 2.4). */
static uint32_t fw_cfg_io_read(void *opaque, uint32_t off, unsigned size)
{
    FwCfg *s = opaque;
    if (size != 1 || off > 1)
        return 0xFFFFFFFFu;
    return fw_cfg_read_data(s);
}

static void fw_cfg_io_write(void *opaque, uint32_t off, uint32_t val, unsigned size)
{
    FwCfg *s = opaque;
    if (size == 2 && off <= 1)
        fw_cfg_select(s, (uint16_t)val);
}

static const IoOps fw_cfg_ops = {
    .read = fw_cfg_io_read,
    .write = fw_cfg_io_write,
    .impl_max = 2,
};

static int fw_cfg_set(FwCfgEntry *e, const void *data, size_t len)
{
    if (len >= 0xFFFFFFFFu || (len && !data))
        return -1;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    free(e->data);
    e->data = copy;
    e->len = (uint32_t)len;
    return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Key 0x19: the directory of files, in selector (= name) order. */
static int fw_cfg_rebuild_dir(FwCfg *s)
{
    size_t len = 4 + (size_t)s->nfiles * 64;
    uint8_t *d = calloc(1, len);
    if (!d)
        return -1;
    put_be32(d, (uint32_t)s->nfiles);
    for (int i = 0; i < s->nfiles; i++) {
        uint8_t *f = d + 4 + 64 * i;
        uint16_t sel = (uint16_t)(FW_CFG_FILE_FIRST + i);
        put_be32(f, s->entries[0][sel].len);
        f[4] = (uint8_t)(sel >> 8);
        f[5] = (uint8_t)sel;
        memcpy(f + 8, s->file_names[i], FW_CFG_MAX_NAME);
    }
    FwCfgEntry *e = &s->entries[0][FW_CFG_FILE_DIR];
    free(e->data);
    e->data = d;
    e->len = (uint32_t)len;
    return 0;
}

int fw_cfg_add_bytes(FwCfg *s, uint16_t key, const void *data, size_t len)
{
    if (!s)
        return -1;
    unsigned idx = key & FW_CFG_ENTRY_MASK;
    if (!(key & FW_CFG_ARCH_LOCAL) && (idx == FW_CFG_FILE_DIR || idx >= FW_CFG_FILE_FIRST))
        return -1;
    FwCfgEntry *e = fw_cfg_entry(s, key);
    if (!e)
        return -1;
    return fw_cfg_set(e, data, len);
}

int fw_cfg_add_i16(FwCfg *s, uint16_t key, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    return fw_cfg_add_bytes(s, key, b, sizeof(b));
}

int fw_cfg_add_i32(FwCfg *s, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fw_cfg_add_bytes(s, key, b, sizeof(b));
}

int fw_cfg_add_i64(FwCfg *s, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return fw_cfg_add_bytes(s, key, b, sizeof(b));
}

int fw_cfg_file_select(const FwCfg *s, const char *name)
{
    if (!s || !name)
        return -1;
    for (int i = 0; i < s->nfiles; i++)
        if (strncmp(s->file_names[i], name, FW_CFG_MAX_NAME) == 0)
            return FW_CFG_FILE_FIRST + i;
    return -1;
}

int fw_cfg_add_file(FwCfg *s, const char *name, const void *data, size_t len)
{
    if (!s || !name)
        return -1;
    size_t nlen = strnlen(name, FW_CFG_MAX_NAME);
    if (nlen == 0 || nlen >= FW_CFG_MAX_NAME || s->nfiles >= FW_CFG_MAX_FILES)
        return -1;
    if (fw_cfg_file_select(s, name) >= 0)
        return -1;
    FwCfgEntry e = { NULL, 0 };
    if (fw_cfg_set(&e, data, len) < 0)
        return -1;
    int at = 0;
    while (at < s->nfiles && strcmp(s->file_names[at], name) < 0)
        at++;
    FwCfgEntry *files = &s->entries[0][FW_CFG_FILE_FIRST];
    memmove(&files[at + 1], &files[at], sizeof(files[0]) * (size_t)(s->nfiles - at));
    memmove(s->file_names[at + 1], s->file_names[at], FW_CFG_MAX_NAME * (size_t)(s->nfiles - at));
    files[at] = e;
    memset(s->file_names[at], 0, FW_CFG_MAX_NAME);
    memcpy(s->file_names[at], name, nlen);
    s->nfiles++;
    if (fw_cfg_rebuild_dir(s) < 0) {
        /* Undo: keep the directory consistent with the files. */
        free(files[at].data);
        memmove(&files[at], &files[at + 1], sizeof(files[0]) * (size_t)(s->nfiles - 1 - at));
        memmove(s->file_names[at], s->file_names[at + 1],
                FW_CFG_MAX_NAME * (size_t)(s->nfiles - 1 - at));
        s->nfiles--;
        files[s->nfiles] = (FwCfgEntry){ NULL, 0 };
        return -1;
    }
    return 0;
}

void fw_cfg_reset(FwCfg *s)
{
    if (s)
        fw_cfg_select(s, FW_CFG_SIGNATURE);
}

FwCfg *fw_cfg_new(IoBus *io)
{
    FwCfg *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->io = io;
    if (fw_cfg_add_bytes(s, FW_CFG_SIGNATURE, "QEMU", 4) < 0 ||
        fw_cfg_add_i32(s, FW_CFG_ID, FW_CFG_ID_TRADITIONAL) < 0 ||
        fw_cfg_rebuild_dir(s) < 0 ||
        (io && iobus_register(io, FW_CFG_PORT_SEL, 2, &fw_cfg_ops, s, "fw_cfg") < 0)) {
        s->io = NULL;
        fw_cfg_free(s);
        return NULL;
    }
    fw_cfg_reset(s);
    return s;
}

void fw_cfg_free(FwCfg *s)
{
    if (!s)
        return;
    if (s->io)
        iobus_unregister(s->io, FW_CFG_PORT_SEL, 2);
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < FW_CFG_MAX_ENTRY; i++)
            free(s->entries[a][i].data);
    free(s);
}

static const StateField fw_cfg_fields[] = {
    ST_U16(cur_key, FwCfg),
    ST_U32(cur_offset, FwCfg),
    ST_END,
};

/* Any key/offset is safe: reads bounds-check against the current items. */
const StateDesc fw_cfg_state = {
    .name = "fw_cfg",
    .version = 1,
    .min_version = 1,
    .fields = fw_cfg_fields,
    .post_load = NULL,
};
