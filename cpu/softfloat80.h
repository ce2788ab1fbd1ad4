/*
 * softfloat80.h - software 80-bit extended-precision arithmetic for the
 * x87 (SDM vol. 1 ch. 4 and 8): add, sub, mul, div, sqrt, remainder,
 * scale, compare, round-to-integer and conversions between the 80-bit
 * format and integers / single / double precision, with the x87 rounding
 * control, precision control and exception flags.
 *
 * Host-independent (no host floating point): results are bit-exact and
 * deterministic.  Uses the compiler's unsigned __int128.
 *
 * Conventions:
 *  - F80 is the register format: sig is the 64-bit significand with the
 *    explicit integer bit J at bit 63, se is sign (bit 15) and biased
 *    exponent (bits 14-0, bias 16383).
 *  - Operands are first unpacked (f80_unpack, f80_from_f32 ...) into F80U,
 *    which classifies them; the operations take F80U and an F80Env that
 *    carries FCW's rounding control, precision control and exception masks
 *    and collects raised flags (F80_* = FSW bit positions, plus F80_C1 for
 *    "the result was rounded up").
 *  - The masks matter only for the post-computation exceptions: an
 *    unmasked overflow/underflow with a register destination delivers the
 *    result with its exponent biased by -/+ 24576 (SDM vol. 1 §4.9.1.4-5,
 *    §8.5.4-5); the caller decides from the flags whether to store.
 */
#ifndef VESSEL_CPU_SOFTFLOAT80_H
#define VESSEL_CPU_SOFTFLOAT80_H

#include <stdbool.h>
#include <stdint.h>

typedef struct F80 {
    uint64_t sig;  /**< significand, J bit = bit 63 */
    uint16_t se;   /**< sign (bit 15), biased exponent (bits 14-0) */
} F80;

/* Exception flags (FSW bit positions) and the round-up indicator. */
#define F80_IE 0x0001u
#define F80_DE 0x0002u
#define F80_ZE 0x0004u
#define F80_OE 0x0008u
#define F80_UE 0x0010u
#define F80_PE 0x0020u
#define F80_C1 0x0200u

/* Rounding control (FCW.RC encoding). */
enum { F80_RC_NEAREST = 0, F80_RC_DOWN = 1, F80_RC_UP = 2, F80_RC_ZERO = 3 };
/* Precision control (FCW.PC encoding; 1 is reserved and acts as 64). */
enum { F80_PC_24 = 0, F80_PC_53 = 2, F80_PC_64 = 3 };

typedef struct F80Env {
    uint8_t rc;      /**< F80_RC_* */
    uint8_t pc;      /**< F80_PC_*: used only by the operations that take it */
    uint8_t masks;   /**< FCW bits 0-5: masked exceptions */
    uint16_t flags;  /**< raised F80_* flags (accumulated) */
} F80Env;

/** Operand classes. */
enum { FC_ZERO, FC_NORMAL, FC_INF, FC_QNAN, FC_SNAN, FC_UNSUPP };

/** An unpacked operand.  FC_NORMAL: value = sig * 2^(e - 63) with sig
 *  normalised (bit 63 set), denorm = the source encoding was a denormal
 *  (or pseudo-denormal).  NaNs keep their 80-bit significand in sig. */
typedef struct F80U {
    uint8_t cls;
    uint8_t sign;
    uint8_t denorm;
    int32_t e;
    uint64_t sig;
} F80U;

#define F80_BIAS 16383
#define F80_INDEFINITE ((F80){ 0xC000000000000000ull, 0xFFFF })

static inline int f80_exp(F80 a) { return a.se & 0x7FFF; }
static inline int f80_sign(F80 a) { return a.se >> 15; }

/* ---- unpacking / conversions in (exact) ----
 * f80_unpack; f80_from_f32/f64 (denormals are normalised, denorm = 1);
 * f80_from_i64; f80_pack_exact repacks an unpacked value without rounding
 * (the value must fit).  Inline: they are on every instruction's path. */

static inline F80U f80_unpack(F80 a)
{
    F80U u = { 0 };
    int ex = a.se & 0x7FFF;
    u.sign = (uint8_t)(a.se >> 15);
    u.sig = a.sig;
    if (ex == 0x7FFF) {
        if (!(a.sig >> 63))
            u.cls = FC_UNSUPP; /* pseudo-infinity / pseudo-NaN */
        else if (!(a.sig << 1))
            u.cls = FC_INF;
        else
            u.cls = ((a.sig >> 62) & 1) ? FC_QNAN : FC_SNAN;
        return u;
    }
    if (ex == 0) {
        if (a.sig == 0) {
            u.cls = FC_ZERO;
            return u;
        }
        /* Denormal or pseudo-denormal: value = sig * 2^((-16382) - 63). */
        int n = __builtin_clzll(a.sig);
        u.cls = FC_NORMAL;
        u.denorm = 1;
        u.sig = a.sig << n;
        u.e = (-16382) - n;
        return u;
    }
    if (!(a.sig >> 63)) {
        u.cls = FC_UNSUPP; /* unnormal */
        return u;
    }
    u.cls = FC_NORMAL;
    u.e = ex - F80_BIAS;
    return u;
}

static inline F80U f80_from_f32(uint32_t v)
{
    F80U u = { 0 };
    int ex = (v >> 23) & 0xFF;
    uint32_t fr = v & 0x7FFFFF;
    u.sign = (uint8_t)(v >> 31);
    if (ex == 0xFF) {
        u.sig = (1ull << 63) | ((uint64_t)fr << 40);
        u.cls = fr == 0 ? FC_INF : (fr >> 22) ? FC_QNAN : FC_SNAN;
        return u;
    }
    if (ex == 0) {
        if (fr == 0) {
            u.cls = FC_ZERO;
            return u;
        }
        int n = __builtin_clzll(fr);
        u.sig = (uint64_t)fr << n;
        u.e = -86 - n; /* fr * 2^-149 */
        u.denorm = 1;
    } else {
        u.sig = (1ull << 63) | ((uint64_t)fr << 40);
        u.e = ex - 127;
    }
    u.cls = FC_NORMAL;
    return u;
}

static inline F80U f80_from_f64(uint64_t v)
{
    F80U u = { 0 };
    int ex = (int)((v >> 52) & 0x7FF);
    uint64_t fr = v & ((1ull << 52) - 1);
    u.sign = (uint8_t)(v >> 63);
    if (ex == 0x7FF) {
        u.sig = (1ull << 63) | (fr << 11);
        u.cls = fr == 0 ? FC_INF : (fr >> 51) ? FC_QNAN : FC_SNAN;
        return u;
    }
    if (ex == 0) {
        if (fr == 0) {
            u.cls = FC_ZERO;
            return u;
        }
        int n = __builtin_clzll(fr);
        u.sig = fr << n;
        u.e = -1011 - n; /* fr * 2^-1074 */
        u.denorm = 1;
    } else {
        u.sig = (1ull << 63) | (fr << 11);
        u.e = ex - 1023;
    }
    u.cls = FC_NORMAL;
    return u;
}

static inline F80U f80_from_i64(int64_t v)
{
    F80U u = { 0 };
    if (v == 0) {
        u.cls = FC_ZERO;
        return u;
    }
    uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
    int n = __builtin_clzll(mag);
    u.cls = FC_NORMAL;
    u.sign = v < 0;
    u.sig = mag << n;
    u.e = 63 - n;
    return u;
}

static inline F80 f80_pack_exact(const F80U *u)
{
    switch (u->cls) {
    case FC_ZERO: return (F80){ 0, (uint16_t)(u->sign << 15) };
    case FC_INF: return (F80){ 1ull << 63, (uint16_t)((u->sign << 15) | 0x7FFF) };
    case FC_NORMAL: {
        int32_t be = u->e + F80_BIAS;
        if (be >= 1)
            return (F80){ u->sig, (uint16_t)((u->sign << 15) | be) };
        return (F80){ (1 - be) >= 64 ? 0 : u->sig >> (1 - be), (uint16_t)(u->sign << 15) };
    }
    case FC_UNSUPP: return F80_INDEFINITE;
    default: return (F80){ u->sig, (uint16_t)((u->sign << 15) | 0x7FFF) };
    }
}

/** The value as F80 with NaNs quieted (SNaN: raises IE), unsupported
 *  encodings replaced by the indefinite (IE): a load. */
F80 f80_load(F80Env *env, const F80U *u);

/** NaN and unsupported operands of a one- / two-operand operation:
 *  returns true with the result (the quieted NaN by the rules of SDM
 *  vol. 1 table 4-7, or the indefinite) in *out, raising IE for SNaNs and
 *  unsupported formats. */
bool f80_special1(F80Env *env, const F80U *a, F80 *out);
bool f80_special2(F80Env *env, const F80U *a, const F80U *b, F80 *out);

/* ---- arithmetic: results rounded to env->pc, env->rc ---- */
F80 f80_add(F80Env *env, const F80U *a, const F80U *b);
F80 f80_sub(F80Env *env, const F80U *a, const F80U *b);
F80 f80_mul(F80Env *env, const F80U *a, const F80U *b);
F80 f80_div(F80Env *env, const F80U *a, const F80U *b);
F80 f80_sqrt(F80Env *env, const F80U *a);

/* ---- operations not affected by precision control (always 64 bits) ---- */
/** FRNDINT: round to an integral value with env->rc. */
F80 f80_round_int(F80Env *env, const F80U *a);
/** FSCALE: a * 2^trunc(b). */
F80 f80_scale(F80Env *env, const F80U *a, const F80U *b);
/** FPREM (nearest = false) / FPREM1 (nearest = true).  *quot receives the
 *  low quotient bits, *partial is set when the reduction is incomplete
 *  (exponent difference >= 64; C2 = 1). */
F80 f80_rem(F80Env *env, const F80U *a, const F80U *b, bool nearest, uint64_t *quot,
            bool *partial);
/** Round a finite normal unpacked value to 64 bits (the register format):
 *  used to bring other computations (transcendentals) into range. */
F80 f80_round_pack(F80Env *env, int sign, int32_t e, uint64_t sig_hi, uint64_t sig_lo, int pc);

/** Compare: returns F80_LT, F80_EQ, F80_GT or F80_UN.  quiet: only SNaN
 *  (and unsupported formats) raise IE (FUCOM); otherwise any NaN does. */
enum { F80_LT = 0, F80_EQ = 1, F80_GT = 2, F80_UN = 3 };
int f80_compare(F80Env *env, const F80U *a, const F80U *b, bool quiet);

/* ---- conversions out ---- */
/** To a signed integer of `bits` (16, 32, 64) bits with env->rc.  On
 *  invalid (NaN, infinity, out of range) raises IE and returns the integer
 *  indefinite 1 << (bits - 1). */
int64_t f80_to_int(F80Env *env, const F80U *a, int bits);
/** To single / double precision with env->rc.  NaNs are quieted and
 *  truncated; masked overflow/underflow deliver the IEEE results; with
 *  OE/UE unmasked the return value is meaningless (memory destination:
 *  the caller stores nothing). */
uint32_t f80_to_f32(F80Env *env, const F80U *a);
uint64_t f80_to_f64(F80Env *env, const F80U *a);

/** True if the value is a NaN (quiet or signalling, 80-bit encoding). */
bool f80_is_nan(F80 a);

#endif
