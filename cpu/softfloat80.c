/*
 * softfloat80.c - 80-bit extended-precision arithmetic in software (see
 * softfloat80.h).
 *
 * Every operation computes its exact result, or a 128-bit significand with
 * a sticky bit that is enough to round it correctly, and hands it to
 * round_core(), which rounds to P = 24/53/64 bits (precision control, or
 * the single/double formats) with the x87 rounding modes and raises PE,
 * OE, UE and the C1 round-up indicator (SDM vol. 1 §4.7-4.9, §8.5):
 *  - tininess is detected after rounding ("rounding with unbounded
 *    exponent", §4.9.1.5); a masked underflow is signalled only if the
 *    denormalised result is inexact, an unmasked one always;
 *  - precision control keeps the extended exponent range: a tiny result
 *    is denormalised at the extended minimum exponent and rounded at the
 *    24/53-bit position of the 64-bit significand.
 */
#include "cpu/softfloat80.h"

typedef unsigned __int128 u128;

#if defined(__GNUC__)
#define likely(x) __builtin_expect(!!(x), 1)
#else
#define likely(x) (x)
#endif

#define EMIN (-16382)
#define EMAX 16383
#define BIAS_ADJUST 24576

static inline int clz64(uint64_t x) { return __builtin_clzll(x); }

static inline int clz128(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64);
    return hi ? clz64(hi) : 64 + clz64((uint64_t)x);
}

/** m >> n with the shifted-out bits ORed into bit 0. */
static inline u128 shr_jam128(u128 m, int32_t n)
{
    if (n <= 0)
        return m;
    if (n >= 128)
        return m != 0;
    return (m >> n) | ((m & (((u128)1 << n) - 1)) != 0);
}

static inline int prec_bits(int pc)
{
    return pc == F80_PC_24 ? 24 : pc == F80_PC_53 ? 53 : 64;
}

static inline F80 mk(int sign, int exp, uint64_t sig)
{
    return (F80){ sig, (uint16_t)((sign << 15) | exp) };
}
static inline F80 zero(int sign) { return mk(sign, 0, 0); }
static inline F80 inf(int sign) { return mk(sign, 0x7FFF, 1ull << 63); }

static F80 invalid(F80Env *env)
{
    env->flags |= F80_IE;
    return F80_INDEFINITE;
}

/* ---- rounding ---- */

/* Where the discarded bits of a value lie relative to half an ulp. */
enum { REM_EXACT, REM_BELOW, REM_HALF, REM_ABOVE };

static inline bool round_inc(int rc, int sign, int rem, uint64_t q)
{
    switch (rc) {
    case F80_RC_NEAREST: return rem == REM_ABOVE || (rem == REM_HALF && (q & 1));
    case F80_RC_DOWN: return rem != REM_EXACT && sign;
    case F80_RC_UP: return rem != REM_EXACT && !sign;
    default: return false;
    }
}

/** Split m into its top P bits (*q) and the class of the rest. */
static inline int split(u128 m, int P, uint64_t *q)
{
    uint64_t hi = (uint64_t)(m >> 64), lo = (uint64_t)m;
    uint64_t r, h;
    if (P == 64) {
        *q = hi;
        r = lo;
        lo = 0;
        h = 1ull << 63;
    } else {
        int sh = 64 - P;
        *q = hi >> sh;
        r = hi & ((1ull << sh) - 1);
        h = 1ull << (sh - 1);
    }
    if (r < h)
        return (r | lo) ? REM_BELOW : REM_EXACT;
    if (r == h && lo == 0)
        return REM_HALF;
    return REM_ABOVE;
}

/** A rounded value: q * 2^(e - (P - 1)) with q < 2^P; q < 2^(P-1) only
 *  for denormals and zero (then e = emin); or an infinity. */
typedef struct Rounded {
    uint64_t q;
    int32_t e;
    bool inf;
} Rounded;

/*
 * Round m * 2^(e - 127) (m normalised: bit 127 set) to P bits for a format
 * with normal exponents emin..emax.  reg: the destination is a register,
 * so unmasked overflow/underflow deliver the bias-adjusted result.
 */
static Rounded round_core(F80Env *env, int sign, int32_t e, u128 m, int P, int32_t emin,
                          int32_t emax, bool reg)
{
    Rounded r = { 0, e, false };
    uint64_t q;
    int rem = split(m, P, &q);
    bool inc = round_inc(env->rc, sign, rem, q);
    bool inexact = rem != REM_EXACT;
    int32_t er = e;
    if (inc) {
        q++;
        if (P == 64 ? q == 0 : (q >> P) != 0) {
            q = 1ull << (P - 1);
            er++;
        }
    }
    if (likely(er >= emin && er <= emax)) {
        if (inexact)
            env->flags |= F80_PE | (inc ? F80_C1 : 0);
        r.q = q;
        r.e = er;
        return r;
    }
    if (er > emax) {
        if (!(env->masks & F80_OE)) {
            /* Memory destination: only OE, nothing is stored. */
            env->flags |= F80_OE;
            if (reg)
                env->flags |= (inexact ? F80_PE : 0) | (inc ? F80_C1 : 0);
            r.q = q;
            r.e = reg ? er - BIAS_ADJUST : er;
            if (!reg || r.e <= emax)
                return r;
            /* Beyond even the adjusted range (FSCALE): an infinity. */
            env->flags |= F80_PE | F80_C1;
            r.inf = true;
            return r;
        }
        env->flags |= F80_OE | F80_PE;
        if (env->rc == F80_RC_NEAREST || (env->rc == F80_RC_UP && !sign) ||
            (env->rc == F80_RC_DOWN && sign)) {
            env->flags |= F80_C1;
            r.inf = true;
        } else {
            r.q = P == 64 ? ~0ull : (1ull << P) - 1;
            r.e = emax;
        }
        return r;
    }
    /* Tiny. */
    if (!(env->masks & F80_UE)) {
        env->flags |= F80_UE;
        if (reg)
            env->flags |= (inexact ? F80_PE : 0) | (inc ? F80_C1 : 0);
        r.q = q;
        r.e = reg ? er + BIAS_ADJUST : er;
        if (!reg || r.e >= emin)
            return r;
        /* Beyond even the adjusted range (FSCALE): a zero. */
        env->flags = (uint16_t)((env->flags & ~F80_C1) | F80_PE);
        r.q = 0;
        r.e = emin;
        return r;
    }
    /* Masked: denormalise at emin, then round. */
    rem = split(shr_jam128(m, emin - e), P, &q);
    inc = round_inc(env->rc, sign, rem, q);
    q += inc;
    if (rem != REM_EXACT)
        env->flags |= F80_UE | F80_PE | (inc ? F80_C1 : 0);
    r.q = q;
    r.e = emin;
    return r;
}

static F80 pack80(int sign, Rounded r, int P)
{
    if (r.inf)
        return inf(sign);
    if (r.q == 0)
        return zero(sign);
    uint64_t sig = r.q << (64 - P);
    int exp = (r.q >> (P - 1)) ? r.e + F80_BIAS : 0;
    return mk(sign, exp, sig);
}

/** Normalise and round m * 2^(e - 127) to an F80 register value. */
static F80 round_pack80(F80Env *env, int sign, int32_t e, u128 m, int P)
{
    if (m == 0)
        return zero(sign);
    int n = clz128(m);
    m <<= n;
    e -= n;
    return pack80(sign, round_core(env, sign, e, m, P, EMIN, EMAX, true), P);
}

F80 f80_round_pack(F80Env *env, int sign, int32_t e, uint64_t sig_hi, uint64_t sig_lo, int pc)
{
    return round_pack80(env, sign, e, ((u128)sig_hi << 64) | sig_lo, prec_bits(pc));
}

/* ---- unpacking: inline in softfloat80.h ---- */






static inline F80 quiet(const F80U *u)
{
    return mk(u->sign, 0x7FFF, u->sig | (1ull << 62));
}

F80 f80_load(F80Env *env, const F80U *u)
{
    if (u->cls == FC_SNAN) {
        env->flags |= F80_IE;
        return quiet(u);
    }
    if (u->cls == FC_UNSUPP)
        return invalid(env);
    if (u->denorm)
        env->flags |= F80_DE;
    return f80_pack_exact(u);
}

bool f80_is_nan(F80 a)
{
    return (a.se & 0x7FFF) == 0x7FFF && (a.sig >> 63) && (a.sig << 1);
}

/* ---- NaN operands (SDM vol. 1 table 4-7) ---- */

static inline bool is_nan(const F80U *u) { return u->cls == FC_QNAN || u->cls == FC_SNAN; }

static F80 propagate2(F80Env *env, const F80U *a, const F80U *b)
{
    bool sa = a->cls == FC_SNAN, sb = b->cls == FC_SNAN;
    const F80U *r;
    if (sa || sb)
        env->flags |= F80_IE;
    if (is_nan(a) && is_nan(b)) {
        if (sa != sb)
            r = sa ? b : a;  /* SNaN and QNaN: the QNaN */
        else if (a->sig != b->sig)
            r = a->sig > b->sig ? a : b;  /* the larger significand */
        else
            r = a->sign ? b : a;
    } else {
        r = is_nan(a) ? a : b;
    }
    return quiet(r);
}

static F80 propagate1(F80Env *env, const F80U *a)
{
    if (a->cls == FC_UNSUPP)
        return invalid(env);
    if (a->cls == FC_SNAN)
        env->flags |= F80_IE;
    return quiet(a);
}

/** Unsupported formats and NaNs of a two-operand operation.  Returns true
 *  with *out set if done. */
static bool special2(F80Env *env, const F80U *a, const F80U *b, F80 *out)
{
    if (a->cls >= FC_QNAN || b->cls >= FC_QNAN) {
        if (a->cls == FC_UNSUPP || b->cls == FC_UNSUPP)
            *out = invalid(env);
        else
            *out = propagate2(env, a, b);
        return true;
    }
    return false;
}

/** Denormal-operand exception: below invalid operation and divide-by-zero
 *  in priority (SDM vol. 1 §4.9.2), so checked after those cases. */
static inline void denormal2(F80Env *env, const F80U *a, const F80U *b)
{
    if (a->denorm || b->denorm)
        env->flags |= F80_DE;
}

bool f80_special1(F80Env *env, const F80U *a, F80 *out)
{
    if (a->cls < FC_QNAN)
        return false;
    *out = propagate1(env, a);
    return true;
}

bool f80_special2(F80Env *env, const F80U *a, const F80U *b, F80 *out)
{
    return special2(env, a, b, out);
}

/* ---- add / subtract ---- */

static F80 addsub(F80Env *env, const F80U *a, const F80U *b, int bsign)
{
    F80 z;
    if (special2(env, a, b, &z))
        return z;
    int P = prec_bits(env->pc);
    if (a->cls == FC_INF && b->cls == FC_INF && a->sign != bsign)
        return invalid(env);
    denormal2(env, a, b);
    if (a->cls == FC_INF)
        return inf(a->sign);
    if (b->cls == FC_INF)
        return inf(bsign);
    if (a->cls == FC_ZERO) {
        if (b->cls == FC_ZERO)
            return zero(a->sign == bsign ? a->sign : env->rc == F80_RC_DOWN);
        return round_pack80(env, bsign, b->e, (u128)b->sig << 64, P);
    }
    if (b->cls == FC_ZERO)
        return round_pack80(env, a->sign, a->e, (u128)a->sig << 64, P);

    int32_t ea = a->e, eb = b->e;
    uint64_t sa = a->sig, sb = b->sig;
    int signa = a->sign, signb = bsign;
    if (ea < eb || (ea == eb && sa < sb)) {
        int32_t te = ea; ea = eb; eb = te;
        uint64_t ts = sa; sa = sb; sb = ts;
        int tg = signa; signa = signb; signb = tg;
    }
    u128 A = (u128)sa << 63;
    u128 B = shr_jam128((u128)sb << 63, ea - eb);
    u128 S;
    if (signa == signb) {
        S = A + B;
    } else {
        S = A - B;
        if (S == 0)
            return zero(env->rc == F80_RC_DOWN);
    }
    return round_pack80(env, signa, ea + 1, S, P);
}

F80 f80_add(F80Env *env, const F80U *a, const F80U *b)
{
    return addsub(env, a, b, b->sign);
}

F80 f80_sub(F80Env *env, const F80U *a, const F80U *b)
{
    return addsub(env, a, b, b->sign ^ 1);
}

/* ---- multiply / divide ---- */

F80 f80_mul(F80Env *env, const F80U *a, const F80U *b)
{
    F80 z;
    if (special2(env, a, b, &z))
        return z;
    int sign = a->sign ^ b->sign;
    if (a->cls == FC_INF || b->cls == FC_INF) {
        if (a->cls == FC_ZERO || b->cls == FC_ZERO)
            return invalid(env);
        denormal2(env, a, b);
        return inf(sign);
    }
    denormal2(env, a, b);
    if (a->cls == FC_ZERO || b->cls == FC_ZERO)
        return zero(sign);
    u128 p = (u128)a->sig * b->sig;
    return round_pack80(env, sign, a->e + b->e + 1, p, prec_bits(env->pc));
}

F80 f80_div(F80Env *env, const F80U *a, const F80U *b)
{
    F80 z;
    if (special2(env, a, b, &z))
        return z;
    int sign = a->sign ^ b->sign;
    if ((a->cls == FC_INF && b->cls == FC_INF) || (a->cls == FC_ZERO && b->cls == FC_ZERO))
        return invalid(env);
    if (b->cls == FC_ZERO && a->cls != FC_INF) {
        env->flags |= F80_ZE;
        return inf(sign);
    }
    denormal2(env, a, b);
    if (a->cls == FC_INF)
        return inf(sign);
    if (b->cls == FC_INF)
        return zero(sign);
    if (a->cls == FC_ZERO)
        return zero(sign);
    uint64_t sa = a->sig, sb = b->sig;
    int32_t e = a->e - b->e;
    u128 n;
    if (sa >= sb) {
        n = (u128)sa << 63;
    } else {
        n = (u128)sa << 64;
        e--;
    }
    uint64_t q1 = (uint64_t)(n / sb);
    uint64_t r1 = (uint64_t)(n % sb);
    u128 n2 = (u128)r1 << 64;
    uint64_t q2 = (uint64_t)(n2 / sb);
    uint64_t r2 = (uint64_t)(n2 % sb);
    u128 m = ((u128)q1 << 64) | q2 | (r2 != 0);
    return round_pack80(env, sign, e, m, prec_bits(env->pc));
}

/* ---- square root ---- */

static uint64_t isqrt128(u128 n, u128 *rem)
{
    u128 res = 0, bit = (u128)1 << 126;
    while (bit > n)
        bit >>= 2;
    while (bit) {
        if (n >= res + bit) {
            n -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    *rem = n;
    return (uint64_t)res;
}

F80 f80_sqrt(F80Env *env, const F80U *a)
{
    if (a->cls >= FC_QNAN)
        return propagate1(env, a);
    if (a->cls == FC_ZERO)
        return zero(a->sign);
    if (a->sign)
        return invalid(env);
    if (a->denorm)
        env->flags |= F80_DE;
    if (a->cls == FC_INF)
        return inf(0);
    int32_t ea = a->e;
    u128 n = (ea & 1) ? (u128)a->sig << 64 : (u128)a->sig << 63;
    u128 rem;
    uint64_t r = isqrt128(n, &rem);
    uint64_t extra = rem > r ? 0x8000000000000001ull : rem != 0;
    u128 m = ((u128)r << 64) | extra;
    return round_pack80(env, 0, (ea - (ea & 1)) / 2, m, prec_bits(env->pc));
}

/* ---- round to integer, scale, remainder ---- */

/** |value| as a 64.64 fixed-point number (e < 63), jammed. */
static u128 fixed64(const F80U *a)
{
    int32_t sh = a->e + 1;
    return sh >= 0 ? (u128)a->sig << sh : shr_jam128((u128)a->sig, -sh);
}

F80 f80_round_int(F80Env *env, const F80U *a)
{
    if (a->cls >= FC_QNAN)
        return propagate1(env, a);
    if (a->denorm)
        env->flags |= F80_DE;
    if (a->cls != FC_NORMAL || a->e >= 63)
        return f80_pack_exact(a);
    u128 v = fixed64(a);
    uint64_t ip, frac = (uint64_t)v;
    int rem = split(v, 64, &ip);
    bool inc = round_inc(env->rc, a->sign, rem, ip);
    if (frac)
        env->flags |= F80_PE;
    if (inc) {
        env->flags |= F80_C1;
        ip++;
    }
    if (ip == 0)
        return zero(a->sign);
    int n = clz64(ip);
    return mk(a->sign, 63 - n + F80_BIAS, ip << n);
}

F80 f80_scale(F80Env *env, const F80U *a, const F80U *b)
{
    F80 z;
    if (special2(env, a, b, &z))
        return z;
    if (b->cls == FC_INF) {
        if (a->cls == (b->sign ? FC_INF : FC_ZERO))
            return invalid(env);
        denormal2(env, a, b);
        return b->sign ? zero(a->sign) : inf(a->sign);
    }
    denormal2(env, a, b);
    if (a->cls != FC_NORMAL)
        return f80_pack_exact(a);
    int32_t n = 0;
    if (b->cls == FC_NORMAL && b->e >= 0) {
        n = b->e >= 20 ? 1 << 20 : (int32_t)(b->sig >> (63 - b->e));
        if (b->sign)
            n = -n;
    }
    if (b->cls == FC_ZERO)
        return f80_pack_exact(a);
    return round_pack80(env, a->sign, a->e + n, (u128)a->sig << 64, 64);
}

F80 f80_rem(F80Env *env, const F80U *a, const F80U *b, bool nearest, uint64_t *quot,
            bool *partial)
{
    F80 z;
    *quot = 0;
    *partial = false;
    if (special2(env, a, b, &z))
        return z;
    if (a->cls == FC_INF || b->cls == FC_ZERO)
        return invalid(env);
    denormal2(env, a, b);
    if (a->cls == FC_ZERO || b->cls == FC_INF)
        return f80_pack_exact(a);
    int32_t d = a->e - b->e;
    int sign = a->sign;
    if (d < (nearest ? -1 : 0))
        return round_pack80(env, sign, a->e, (u128)a->sig << 64, 64);
    if (d < 64) {
        u128 A = (u128)a->sig << (d + 1), B = (u128)b->sig << 1;
        u128 q = A / B, r = A % B;
        if (nearest && (2 * r > B || (2 * r == B && (q & 1)))) {
            q++;
            r = B - r;
            sign ^= 1;
        }
        *quot = (uint64_t)q;
        if (r == 0)
            return zero(a->sign);
        return round_pack80(env, sign, b->e + 63, r, 64);
    }
    int n = (d & 31) | 32;
    u128 A = (u128)a->sig << n;
    u128 q = A / b->sig, r = A % b->sig;
    *quot = (uint64_t)q;
    *partial = true;
    if (r == 0)
        return zero(sign);
    return round_pack80(env, sign, a->e - n + 64, r, 64);
}

/* ---- compare ---- */

static int cmp_mag(const F80U *a, const F80U *b)
{
    if (a->cls == FC_INF)
        return b->cls == FC_INF ? 0 : 1;
    if (b->cls == FC_INF)
        return -1;
    if (a->e != b->e)
        return a->e < b->e ? -1 : 1;
    if (a->sig != b->sig)
        return a->sig < b->sig ? -1 : 1;
    return 0;
}

int f80_compare(F80Env *env, const F80U *a, const F80U *b, bool quiet)
{
    if (a->cls >= FC_QNAN || b->cls >= FC_QNAN) {
        if (!quiet || a->cls >= FC_SNAN || b->cls >= FC_SNAN)
            env->flags |= F80_IE;
        return F80_UN;
    }
    if (a->denorm || b->denorm)
        env->flags |= F80_DE;
    bool za = a->cls == FC_ZERO, zb = b->cls == FC_ZERO;
    if (za && zb)
        return F80_EQ;
    if (za)
        return b->sign ? F80_GT : F80_LT;
    if (zb)
        return a->sign ? F80_LT : F80_GT;
    if (a->sign != b->sign)
        return a->sign ? F80_LT : F80_GT;
    int c = cmp_mag(a, b);
    if (a->sign)
        c = -c;
    return c < 0 ? F80_LT : c > 0 ? F80_GT : F80_EQ;
}

/* ---- conversions out ---- */

int64_t f80_to_int(F80Env *env, const F80U *a, int bits)
{
    int64_t indef = (int64_t)(-(uint64_t)1 << (bits - 1)); /* 1 << (bits-1), sign-extended */
    if (a->cls == FC_ZERO)
        return 0;
    if (a->cls != FC_NORMAL || a->e >= 64) {
        env->flags |= F80_IE;
        return indef;
    }
    uint64_t ip;
    uint64_t frac = 0;
    bool inc = false;
    if (a->e == 63) {
        ip = a->sig;
    } else {
        u128 v = fixed64(a);
        frac = (uint64_t)v;
        int rem = split(v, 64, &ip);
        inc = round_inc(env->rc, a->sign, rem, ip);
        ip += inc; /* cannot wrap: ip < 2^63 here */
    }
    uint64_t lim = 1ull << (bits - 1); /* |negative| limit; positive limit lim - 1 */
    if (ip > lim || (ip == lim && !a->sign)) {
        env->flags |= F80_IE;
        return indef;
    }
    if (frac)
        env->flags |= F80_PE;
    if (inc)
        env->flags |= F80_C1;
    return a->sign ? (int64_t)(-ip) : (int64_t)ip;
}

static uint64_t to_ieee(F80Env *env, const F80U *a, int P, int ebits)
{
    int32_t bias = (1 << (ebits - 1)) - 1;
    uint64_t sign = (uint64_t)a->sign << (P - 1 + ebits);
    uint64_t expmask = (uint64_t)((1 << ebits) - 1) << (P - 1);
    uint64_t fracmask = (1ull << (P - 1)) - 1;
    switch (a->cls) {
    case FC_ZERO:
        return sign;
    case FC_INF:
        return sign | expmask;
    case FC_SNAN:
    case FC_QNAN:
        if (a->cls == FC_SNAN)
            env->flags |= F80_IE;
        return sign | expmask | ((a->sig << 1) >> (64 - (P - 1))) | (1ull << (P - 2));
    case FC_UNSUPP:
        env->flags |= F80_IE;
        return (1ull << (P - 1 + ebits)) | expmask | (1ull << (P - 2));
    default:
        break;
    }
    Rounded r = round_core(env, a->sign, a->e, (u128)a->sig << 64, P, 1 - bias, bias, false);
    if (r.inf)
        return sign | expmask;
    if (r.q >> (P - 1))
        return sign | ((uint64_t)(r.e + bias) << (P - 1)) | (r.q & fracmask);
    return sign | r.q;
}

uint32_t f80_to_f32(F80Env *env, const F80U *a)
{
    return (uint32_t)to_ieee(env, a, 24, 8);
}

uint64_t f80_to_f64(F80Env *env, const F80U *a)
{
    return to_ieee(env, a, 53, 11);
}
