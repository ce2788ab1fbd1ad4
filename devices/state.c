/*
 * state.c - the one generic serializer for StateDesc tables (see state.h).
 *
 * Section body: the fields in table order, each element little-endian on
 * every host; F_BOOL as one byte 0/1; F_BYTES as is; F_UNUSED as size zero
 * bytes.  A section of version v contains exactly the fields with
 * since <= v (plus every F_UNUSED slot), so a loader walks the same table
 * and skips fields newer than v, which keep their current values.
 *
 * Loading validates the whole section (length, booleans) before writing
 * any field, so a rejected section leaves the object untouched unless
 * post_load itself rejects the loaded values.
 */
#include "devices/state.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void state_err(char *err, size_t errlen, const char *fmt, const char *a,
                      const char *b, size_t x, size_t y)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b, x, y);
}

/* Expected element size of a scalar type, or 0 for byte-sized blobs. */
static size_t type_size(FieldType t)
{
    switch (t) {
    case F_U8: return 1;
    case F_U16: return 2;
    case F_U32: return 4;
    case F_U64: return 8;
    case F_I32: return 4;
    case F_I64: return 8;
    case F_BOOL: return sizeof(_Bool);
    default: return 0;
    }
}

/* Serialized bytes of one field (elements * size); false on overflow. */
static bool field_bytes(const StateField *f, size_t *out)
{
    size_t count = f->type == F_UNUSED ? 1 : f->count;
    if (f->size != 0 && count > SIZE_MAX / f->size)
        return false;
    *out = f->size * count;
    return true;
}

/* Is field f present in a section of version ver? */
static bool field_in(const StateField *f, uint16_t ver)
{
    return f->type == F_UNUSED || f->since <= ver;
}

int state_check(const StateDesc *d, size_t struct_size, char *err, size_t errlen)
{
    const char *sec = d && d->name ? d->name : "?";
    if (!d || !d->fields || !d->name) {
        state_err(err, errlen, "state section '%s'%s: no name or field table", sec, "",
                  0, 0);
        return -1;
    }
    if (d->min_version > d->version || d->version == 0) {
        state_err(err, errlen, "state section '%s'%s: bad version range", sec, "", 0, 0);
        return -1;
    }
    for (const StateField *f = d->fields; f->type != F_END; f++) {
        const char *fn = f->name ? f->name : "?";
        if (f->type > F_UNUSED) {
            state_err(err, errlen, "state section '%s' field '%s': bad type", sec, fn, 0, 0);
            return -1;
        }
        if (f->since > d->version || f->since == 0) {
            state_err(err, errlen, "state section '%s' field '%s': since %zu not in 1..%zu",
                      sec, fn, f->since, d->version);
            return -1;
        }
        size_t ts = type_size(f->type);
        if (ts && f->size != ts) {
            state_err(err, errlen,
                      "state section '%s' field '%s': element size %zu, type needs %zu",
                      sec, fn, f->size, ts);
            return -1;
        }
        if (f->type == F_UNUSED)
            continue;
        size_t bytes;
        if (!field_bytes(f, &bytes) || f->off > struct_size ||
            bytes > struct_size - f->off) {
            state_err(err, errlen,
                      "state section '%s' field '%s': offset %zu + %zu bytes exceeds struct",
                      sec, fn, f->off, field_bytes(f, &bytes) ? bytes : 0);
            return -1;
        }
    }
    return 0;
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Read an element of native type t at src (host order). */
static uint64_t load_native(const uint8_t *src, FieldType t)
{
    switch (t) {
    case F_U8: { uint8_t v; memcpy(&v, src, 1); return v; }
    case F_U16: { uint16_t v; memcpy(&v, src, 2); return v; }
    case F_U32: case F_I32: { uint32_t v; memcpy(&v, src, 4); return v; }
    case F_U64: case F_I64: { uint64_t v; memcpy(&v, src, 8); return v; }
    case F_BOOL: { _Bool v; memcpy(&v, src, sizeof v); return v ? 1 : 0; }
    default: return 0;
    }
}

static void store_native(uint8_t *dst, FieldType t, uint64_t v)
{
    switch (t) {
    case F_U8: { uint8_t x = (uint8_t)v; memcpy(dst, &x, 1); break; }
    case F_U16: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); break; }
    case F_U32: case F_I32: { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); break; }
    case F_U64: case F_I64: { uint64_t x = v; memcpy(dst, &x, 8); break; }
    case F_BOOL: { _Bool x = v != 0; memcpy(dst, &x, sizeof x); break; }
    default: break;
    }
}

/* Bytes of one element on the wire. */
static size_t wire_size(const StateField *f)
{
    return f->type == F_BOOL ? 1 : f->size;
}

long state_save(const StateDesc *d, const void *opaque, uint8_t *buf, size_t cap)
{
    if (!d || !d->fields)
        return -1;
    size_t need = 0;
    for (const StateField *f = d->fields; f->type != F_END; f++) {
        size_t bytes;
        if (!field_in(f, d->version))
            continue;
        if (f->type == F_UNUSED || f->type == F_BYTES) {
            if (!field_bytes(f, &bytes))
                return -1;
        } else {
            size_t cnt = f->count;
            size_t ws = wire_size(f);
            if (ws && cnt > SIZE_MAX / ws)
                return -1;
            bytes = cnt * ws;
        }
        if (bytes > SIZE_MAX - need || need + bytes > (size_t)0x7FFFFFFF)
            return -1;
        need += bytes;
    }
    if (!buf)
        return (long)need;
    if (cap < need)
        return -1;
    const uint8_t *base = opaque;
    uint8_t *p = buf;
    for (const StateField *f = d->fields; f->type != F_END; f++) {
        if (!field_in(f, d->version))
            continue;
        if (f->type == F_UNUSED || f->type == F_BYTES) {
            size_t bytes = 0;
            field_bytes(f, &bytes);
            if (f->type == F_UNUSED)
                memset(p, 0, bytes);
            else
                memcpy(p, base + f->off, bytes);
            p += bytes;
        } else {
            size_t ws = wire_size(f);
            for (uint32_t i = 0; i < f->count; i++) {
                uint64_t v = load_native(base + f->off + (size_t)i * f->size, f->type);
                put_le(p, v, ws);
                p += ws;
            }
        }
    }
    return (long)need;
}

int state_load(const StateDesc *d, void *opaque, uint16_t ver, const uint8_t *buf,
               size_t len, char *err, size_t errlen)
{
    if (!d || !d->fields) {
        state_err(err, errlen, "state section '%s'%s: no field table", "?", "", 0, 0);
        return -1;
    }
    const char *sec = d->name ? d->name : "?";
    if (ver < d->min_version || ver > d->version) {
        if (err && errlen)
            snprintf(err, errlen, "state section '%s': version %u not in %u..%u", sec,
                     ver, d->min_version, d->version);
        return -1;
    }
    if (!buf && len) {
        state_err(err, errlen, "state section '%s'%s: no buffer", sec, "", 0, 0);
        return -1;
    }
    /* Pass 1 validates everything; pass 2 commits. */
    for (int pass = 0; pass < 2; pass++) {
        size_t pos = 0;
        uint8_t *base = opaque;
        for (const StateField *f = d->fields; f->type != F_END; f++) {
            if (!field_in(f, ver))
                continue;
            const char *fn = f->name ? f->name : "?";
            bool blob = f->type == F_UNUSED || f->type == F_BYTES;
            size_t ws = blob ? f->size : wire_size(f);
            size_t cnt = f->type == F_UNUSED ? 1 : f->count;
            if (ws && cnt > SIZE_MAX / ws) {
                state_err(err, errlen, "state section '%s' field '%s': size overflow", sec,
                          fn, 0, 0);
                return -1;
            }
            size_t bytes = ws * cnt;
            if (bytes > len - pos) {
                state_err(err, errlen,
                          "state section '%s' field '%s': section too short "
                          "(needs %zu bytes at offset %zu)",
                          sec, fn, bytes, pos);
                return -1;
            }
            const uint8_t *p = buf + pos;
            pos += bytes;
            if (f->type == F_UNUSED)
                continue;
            if (f->type == F_BYTES) {
                if (pass == 1)
                    memcpy(base + f->off, p, bytes);
                continue;
            }
            for (uint32_t i = 0; i < f->count; i++, p += ws) {
                uint64_t v = get_le(p, ws);
                if (f->type == F_BOOL && v > 1) {
                    state_err(err, errlen,
                              "state section '%s' field '%s': boolean value %zu "
                              "(element %zu) is not 0 or 1",
                              sec, fn, (size_t)v, i);
                    return -1;
                }
                if (pass == 1)
                    store_native(base + f->off + (size_t)i * f->size, f->type, v);
            }
        }
        if (pos != len) {
            if (err && errlen)
                snprintf(err, errlen,
                         "state section '%s': %zu trailing bytes after last field", sec,
                         len - pos);
            return -1;
        }
    }
    if (d->post_load) {
        char tmp[1] = { 0 };
        if (err && errlen)
            err[0] = '\0';
        if (d->post_load(opaque, err && errlen ? err : tmp, err && errlen ? errlen : 0) < 0) {
            if (err && errlen && !err[0])
                snprintf(err, errlen, "state section '%s': post_load rejected state", sec);
            return -1;
        }
    }
    return 0;
}
