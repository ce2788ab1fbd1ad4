/*
 * snapshot_load_fuzz.c - libFuzzer / AFL target for the snapshot loader
 * (frontend/snapshot.c): every input is given to snapshot_load_mem() on one
 * long-lived PcMachine.  The loader must never crash, hang or leak, and a
 * refused input must leave the machine exactly as it was (checked on every
 * refusal when SNAPFUZZ_CHECK=1, else every 64th).
 *
 * Inputs are fed twice: as they are, and with every CRC recomputed
 * (snapshot_fix_crcs) so that mutations reach the section, zlib and field
 * checks instead of stopping at the first CRC.
 *
 * libFuzzer (clang):
 *   SRCS=$(ls devices/[a-z]*.c cpu/[a-z]*.c mem/[a-z]*.c)
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. fuzz/snapshot_load_fuzz.c \
 *     frontend/snapshot.c $SRCS -lz -lm -o snapfuzz
 *   ./build/vessel -nographic -no-reboot -icount shift=0 -m 32 \
 *     -savevm-at 1000000:corpus/seabios.vsn   # a seed (same -m as below)
 *   ./snapfuzz -max_len=2000000 corpus/
 * The fuzzed machine is built like `vessel -m 32 -nographic` (APIC, VGA,
 * COM1), so seeds must come from that configuration to get past the
 * configuration check.
 *
 * Plain build (AFL, or replaying files): add -DSNAPFUZZ_MAIN and run
 *   ./snapfuzz FILE...
 * The bounded in-tree variant of this fuzzing (fixed seed, N mutations,
 * run by ctest) is test_fuzz in tests/unit/test_snapshot.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pc.h"
#include "frontend/snapshot.h"

static void null_sink(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    (void)buf;
    (void)len;
}

static PcMachine *machine(void)
{
    static PcMachine *pc;
    static uint8_t bios[0x10000];
    if (pc)
        return pc;
    memset(bios, 0xF4, sizeof(bios)); /* HLT: the machine never runs here */
    PcConfig cfg = {
        .ram_size = 32u << 20,
        .bios = bios,
        .bios_size = sizeof(bios),
        .apic = true,
        .vga = true,
        .icount = true,
        .debug_exit_port = -1,
        .tcache = true,
        .serial = { { null_sink, NULL }, { NULL, NULL } },
    };
    char err[256];
    pc = pc_new(&cfg, err, sizeof(err));
    if (!pc) {
        fprintf(stderr, "snapfuzz: %s\n", err);
        abort();
    }
    return pc;
}

/* The state sections and memory, without the header (creation time). */
static int same_state(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    if (al < 16 || bl < 16)
        return 0;
    uint32_t ha = (uint32_t)(a[12] | a[13] << 8 | a[14] << 16 | (uint32_t)a[15] << 24);
    uint32_t hb = (uint32_t)(b[12] | b[13] << 8 | b[14] << 16 | (uint32_t)b[15] << 24);
    if (ha > al || hb > bl || al - ha != bl - hb)
        return 0;
    return memcmp(a + ha, b + hb, al - ha - 4) == 0;
}

static void one(const uint8_t *data, size_t size)
{
    static unsigned long n;
    PcMachine *pc = machine();
    char err[1024];
    bool check = getenv("SNAPFUZZ_CHECK") || n++ % 64 == 0;
    uint8_t *before = NULL, *after = NULL;
    size_t bl = 0, al = 0;
    if (check && snapshot_save_mem(pc, &before, &bl, err, sizeof(err)) < 0)
        abort();
    int r = snapshot_load_mem(pc, data, size, "fuzz", err, sizeof(err));
    if (r < 0 && !err[0])
        abort(); /* every refusal says why */
    if (r < 0 && check) {
        if (snapshot_save_mem(pc, &after, &al, err, sizeof(err)) < 0 ||
            !same_state(before, bl, after, al)) {
            fprintf(stderr, "snapfuzz: a refused load changed the machine\n");
            abort();
        }
    }
    free(before);
    free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (snapshot_fix_crcs(copy, size) == 0)
        one(copy, size);
    free(copy);
    return 0;
}

#ifdef SNAPFUZZ_MAIN
int main(int argc, char **argv)
{
    for (int k = 1; k < argc; k++) {
        FILE *f = fopen(argv[k], "rb");
        if (!f) {
            perror(argv[k]);
            return 2;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
        if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            fprintf(stderr, "%s: read error\n", argv[k]);
            return 2;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, (size_t)n);
        free(buf);
        printf("%s: ok\n", argv[k]);
    }
    return 0;
}
#endif
