/*
 * state.h - each stateful component declares its state once, as a versioned
 * table of fields; one generic serializer (state.c) walks it for save and load.
 *
 * Rules (as QEMU's VMState): add fields at the end with since = the version
 * that added them; never reorder; replace a removed field with ST_UNUSED.
 * Fields newer than a saved section's version keep their reset values.
 * A field's valid() hook (or the desc's post_load) rejects out-of-range values.
 * Derived state (timers' host handles, TLBs, frame buffers) is not saved; the
 * post_load hook rebuilds it.
 */
#ifndef VESSEL_DEVICES_STATE_H
#define VESSEL_DEVICES_STATE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    F_END = 0,
    F_U8, F_U16, F_U32, F_U64, F_I32, F_I64, F_BOOL,
    F_BYTES,     /**< opaque byte array, saved as is */
    F_UNUSED,    /**< size bytes of a removed field: written as zero, skipped on load */
} FieldType;

/** One field: name, type, offset into the device struct, element size in
 *  bytes, element count (arrays), and the section version that added it. */
typedef struct StateField {
    const char *name;
    FieldType type;
    size_t off;
    size_t size;
    uint32_t count;
    uint16_t since;
} StateField;

/** A section: its name, current version, the oldest version it can load,
 *  the fields, and an optional post_load returning 0 or -1 (invalid state:
 *  the hook writes why into err, errlen bytes).  pre_save (optional, may be
 *  NULL; added last so positional initializers of the older five members
 *  keep compiling) brings the saved fields up to date without changing
 *  behaviour, e.g. folding elapsed time into a field; whoever saves a whole
 *  machine (frontend/snapshot.c) calls it just before state_save(). */
typedef struct StateDesc {
    const char *name;
    uint16_t version;
    uint16_t min_version;
    const StateField *fields;
    int (*post_load)(void *opaque, char *err, size_t errlen);
    void (*pre_save)(void *opaque);
} StateDesc;

#define ST_FIELD_(f, T, ty, ctype, n, v)                                         \
    { #f, ty, offsetof(T, f), sizeof(ctype), n, v }

/* Scalar fields; state_check() verifies sizes against the struct. */
#define ST_U8_V(f, T, v)   ST_FIELD_(f, T, F_U8, uint8_t, 1, v)
#define ST_U16_V(f, T, v)  ST_FIELD_(f, T, F_U16, uint16_t, 1, v)
#define ST_U32_V(f, T, v)  ST_FIELD_(f, T, F_U32, uint32_t, 1, v)
#define ST_U64_V(f, T, v)  ST_FIELD_(f, T, F_U64, uint64_t, 1, v)
#define ST_I32_V(f, T, v)  ST_FIELD_(f, T, F_I32, int32_t, 1, v)
#define ST_I64_V(f, T, v)  ST_FIELD_(f, T, F_I64, int64_t, 1, v)
#define ST_BOOL_V(f, T, v) ST_FIELD_(f, T, F_BOOL, _Bool, 1, v)
#define ST_U8(f, T)   ST_U8_V(f, T, 1)
#define ST_U16(f, T)  ST_U16_V(f, T, 1)
#define ST_U32(f, T)  ST_U32_V(f, T, 1)
#define ST_U64(f, T)  ST_U64_V(f, T, 1)
#define ST_I32(f, T)  ST_I32_V(f, T, 1)
#define ST_I64(f, T)  ST_I64_V(f, T, 1)
#define ST_BOOL(f, T) ST_BOOL_V(f, T, 1)
/* Arrays of scalars: f is an array member; n elements of ctype. */
#define ST_ARRAY_V(f, T, ty, ctype, v)                                           \
    { #f, ty, offsetof(T, f), sizeof(ctype),                                     \
      (uint32_t)(sizeof(((T *)0)->f) / sizeof(ctype)), v }
#define ST_U8_ARRAY(f, T)  ST_ARRAY_V(f, T, F_U8, uint8_t, 1)
#define ST_U16_ARRAY(f, T) ST_ARRAY_V(f, T, F_U16, uint16_t, 1)
#define ST_U32_ARRAY(f, T) ST_ARRAY_V(f, T, F_U32, uint32_t, 1)
#define ST_U64_ARRAY(f, T) ST_ARRAY_V(f, T, F_U64, uint64_t, 1)
#define ST_I64_ARRAY(f, T) ST_ARRAY_V(f, T, F_I64, int64_t, 1)
/* Raw bytes (e.g. a struct of plain integers, a FIFO buffer). */
#define ST_BYTES_V(f, T, v) { #f, F_BYTES, offsetof(T, f), sizeof(((T *)0)->f), 1, v }
#define ST_BYTES(f, T) ST_BYTES_V(f, T, 1)
#define ST_UNUSED(n) { "unused", F_UNUSED, 0, (n), 1, 1 }
#define ST_END { NULL, F_END, 0, 0, 0, 0 }

/**
 * Checks a table against its struct at start-up: every field's size times
 * count fits within struct_size and scalar sizes match their type.
 * Returns 0, or -1 with the offending field's name in err.
 */
int state_check(const StateDesc *d, size_t struct_size, char *err, size_t errlen);

/**
 * Serialises opaque per d into buf (little-endian). Returns bytes written,
 * or the bytes needed if buf is NULL; -1 if cap is too small.
 */
long state_save(const StateDesc *d, const void *opaque, uint8_t *buf, size_t cap);

/**
 * Loads a section of version ver and length len into opaque (a staging copy
 * is the caller's choice). Returns 0, or -1 with a message naming the
 * section and field in err (bad version, short section, trailing bytes,
 * post_load rejection).
 */
int state_load(const StateDesc *d, void *opaque, uint16_t ver, const uint8_t *buf,
               size_t len, char *err, size_t errlen);

#endif
