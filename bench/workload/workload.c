/* bench/workload/workload.c - the CPU workload of vessel's speed benchmark
 * (bench/run.sh, issue 9).  A static i386 program run inside the guest, and
 * natively on the host for the reference checksum and time.
 *
 * Four phases, each deterministic and independent of the word size (only
 * fixed-width types enter the checksum), so the i386 build and a native
 * x86-64 build print the same checksum:
 *   hash    murmur3 finalizer + FNV-1a over a buffer + an open-addressing
 *           hash table (insert and look up)
 *   sort    bottom-up merge sort of 256 Ki 32-bit keys
 *   vm      a small stack bytecode interpreter (switch dispatch) running an
 *           LCG/branchy loop
 *   memory  sequential fill, cache-line-strided read-modify-write passes,
 *           block copies and a random pointer chase over a 32 MiB buffer
 *           (larger than the host's last-level cache share)
 *
 * usage: workload [SCALE]          (default 1; work grows linearly)
 * output: one line per phase, then
 *   workload: elapsed S.SSSSSS s checksum 0xXXXXXXXXXXXXXXXX
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t rng = 0x2545F491u;
static uint32_t xorshift32(void)
{
    uint32_t x = rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng = x;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* ------------------------------------------------------------------ hash */
#define HT_BITS 16
static uint32_t ht_key[1u << HT_BITS];
static uint32_t ht_val[1u << HT_BITS];

static uint64_t phase_hash(int scale)
{
    uint64_t sum = 0;
    uint32_t h = 0;
    for (uint32_t i = 0; i < 1000000u * (uint32_t)scale; i++)
        h += fmix32(i ^ h);
    sum = mix64(sum, h);

    /* FNV-1a over a 256 KiB byte buffer, 2 passes */
    static uint8_t bytes[256 * 1024];
    for (uint32_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)xorshift32();
    uint32_t fnv = 0x811C9DC5u;
    for (int pass = 0; pass < 2 * scale; pass++)
        for (uint32_t i = 0; i < sizeof bytes; i++)
            fnv = (fnv ^ bytes[i]) * 0x01000193u;
    sum = mix64(sum, fnv);

    /* open addressing, linear probing, filled to 75% then probed */
    uint32_t mask = (1u << HT_BITS) - 1, n = (1u << HT_BITS) * 3 / 4;
    for (int round = 0; round < 2 * scale; round++) {
        memset(ht_key, 0, sizeof ht_key);
        uint32_t seed = 0x1234567u * (uint32_t)(round + 1);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t k = fmix32(i * 2654435761u + seed) | 1u, s = k & mask;
            while (ht_key[s] != 0 && ht_key[s] != k)
                s = (s + 1) & mask;
            ht_key[s] = k;
            ht_val[s] = i;
        }
        uint32_t found = 0, vsum = 0;
        for (uint32_t i = 0; i < 2 * n; i++) {
            uint32_t k = fmix32(i * 2654435761u + seed) | 1u, s = k & mask;
            while (ht_key[s] != 0 && ht_key[s] != k)
                s = (s + 1) & mask;
            if (ht_key[s] == k) {
                found++;
                vsum += ht_val[s];
            }
        }
        sum = mix64(sum, ((uint64_t)found << 32) | vsum);
    }
    return sum;
}

/* ------------------------------------------------------------------ sort */
static uint64_t phase_sort(int scale)
{
    uint32_t n = 1u << 18;
    uint32_t *a = malloc(n * sizeof *a), *t = malloc(n * sizeof *t);
    if (!a || !t) {
        fprintf(stderr, "workload: out of memory\n");
        exit(1);
    }
    uint64_t sum = 0;
    for (int round = 0; round < scale; round++) {
        for (uint32_t i = 0; i < n; i++)
            a[i] = xorshift32();
        for (uint32_t w = 1; w < n; w *= 2) {
            for (uint32_t lo = 0; lo < n; lo += 2 * w) {
                uint32_t mid = lo + w < n ? lo + w : n;
                uint32_t hi = lo + 2 * w < n ? lo + 2 * w : n;
                uint32_t i = lo, j = mid, k = lo;
                while (i < mid && j < hi)
                    t[k++] = a[i] <= a[j] ? a[i++] : a[j++];
                while (i < mid)
                    t[k++] = a[i++];
                while (j < hi)
                    t[k++] = a[j++];
            }
            uint32_t *x = a; a = t; t = x;
        }
        uint32_t bad = 0, acc = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (i && a[i - 1] > a[i])
                bad++;
            acc = acc * 31u + a[i];
        }
        sum = mix64(sum, ((uint64_t)bad << 32) | acc);
    }
    free(a);
    free(t);
    return sum;
}

/* -------------------------------------------------------------------- vm */
enum { PUSH, LOAD, STORE, ADD, MUL, XOR, SHR, AND, LT, JZ, JNZ, DUP, HALT };

static uint64_t phase_vm(int scale)
{
    /* v0 = i, v1 = acc, v2 = x
     * do { x = x*1103515245 + 12345; acc ^= x >> 7;
     *      if (x & 0x100) acc += i; i++; } while (i < N) */
    int32_t N = 300000 * scale;
    const int32_t prog[] = {
        /*  0 */ LOAD, 2, PUSH, 1103515245, MUL, PUSH, 12345, ADD, STORE, 2,
        /* 10 */ LOAD, 1, LOAD, 2, PUSH, 7, SHR, XOR, STORE, 1,
        /* 20 */ LOAD, 2, PUSH, 0x100, AND, JZ, 34,
        /* 27 */ LOAD, 1, LOAD, 0, ADD, STORE, 1,
        /* 34 */ LOAD, 0, PUSH, 1, ADD, DUP, STORE, 0, PUSH, N, LT, JNZ, 0,
        /* 47 */ HALT,
    };
    uint32_t var[4] = { 0, 0, 42, 0 }, stack[64];
    int sp = 0, pc = 0;
    uint64_t ops = 0;
    for (;;) {
        ops++;
        switch (prog[pc]) {
        case PUSH: stack[sp++] = (uint32_t)prog[pc + 1]; pc += 2; break;
        case LOAD: stack[sp++] = var[prog[pc + 1]]; pc += 2; break;
        case STORE: var[prog[pc + 1]] = stack[--sp]; pc += 2; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; pc++; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; pc++; break;
        case XOR: sp--; stack[sp - 1] ^= stack[sp]; pc++; break;
        case SHR: sp--; stack[sp - 1] >>= stack[sp] & 31; pc++; break;
        case AND: sp--; stack[sp - 1] &= stack[sp]; pc++; break;
        case LT: sp--; stack[sp - 1] = (int32_t)stack[sp - 1] < (int32_t)stack[sp]; pc++; break;
        case JZ: pc = stack[--sp] ? pc + 2 : prog[pc + 1]; break;
        case JNZ: pc = stack[--sp] ? prog[pc + 1] : pc + 2; break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; pc++; break;
        case HALT: goto done;
        default: fprintf(stderr, "workload: bad opcode\n"); exit(1);
        }
    }
done:
    return mix64(mix64(ops, var[1]), ((uint64_t)var[2] << 32) | (uint32_t)sp);
}

/* ---------------------------------------------------------------- memory */
#define MEM_BYTES (32u << 20)

static uint64_t phase_memory(int scale)
{
    uint32_t n = MEM_BYTES / 4;
    uint32_t *b = malloc(MEM_BYTES);
    if (!b) {
        fprintf(stderr, "workload: out of memory\n");
        exit(1);
    }
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        b[i] = i * 2654435761u;
    for (int pass = 0; pass < 4 * scale; pass++) {
        uint32_t acc = 0;
        for (uint32_t i = (uint32_t)pass; i < n; i += 16) {  /* one word per 64-byte line */
            acc += b[i];
            b[i] = acc ^ (b[i] >> 3);
        }
        sum = mix64(sum, acc);
    }
    for (int pass = 0; pass < scale; pass++) {
        memcpy(b + n / 2, b, MEM_BYTES / 2);
        memmove(b + 1, b, MEM_BYTES / 2);
        sum = mix64(sum, b[n / 2 + 12345] ^ b[n - 1] ^ b[7]);
    }
    /* a pointer chase scattered over the whole buffer: b[i] is the next
       state of a full-period LCG modulo n (a = 1 mod 4, c odd) */
    for (uint32_t i = 0; i < n; i++)
        b[i] = (i * 1664525u + 1013904223u) & (n - 1);
    uint32_t p = 0, acc = 0;
    for (uint32_t s = 0; s < 200000u * (uint32_t)scale; s++) {
        p = b[p];
        acc += p;
    }
    sum = mix64(sum, ((uint64_t)p << 32) | acc);
    free(b);
    return sum;
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1)
        scale = 1;
    struct { const char *name; uint64_t (*fn)(int); } phases[] = {
        { "hash", phase_hash }, { "sort", phase_sort },
        { "vm", phase_vm }, { "memory", phase_memory },
    };
    uint64_t sum = 0;
    double t0 = now();
    for (unsigned i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        double a = now();
        uint64_t r = phases[i].fn(scale);
        double b = now();
        printf("workload: %-6s %.6f s 0x%016llx\n", phases[i].name, b - a, (unsigned long long)r);
        sum = mix64(sum, r);
    }
    double t1 = now();
    printf("workload: elapsed %.6f s checksum 0x%016llx\n", t1 - t0, (unsigned long long)sum);
    return 0;
}
