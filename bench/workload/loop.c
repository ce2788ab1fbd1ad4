/* bench/workload/loop.c - guest MIPS on a tight integer loop: the same six
 * instructions per iteration as tests/guest/loop.asm (add, xor, rol, sub,
 * dec, jnz), run as a static i386 program inside the Linux guest so that the
 * same method serves vessel, QEMU and Bochs.  bench/run.sh times it from the
 * host (Enter to the "loop: done" line); the guest's own clock is printed too.
 *
 * usage: loop ITERATIONS
 * output: loop: done N iterations 6N instructions S.SSSSSS s checksum 0x...
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 100000000u;
    uint32_t a = 0, b = 0x12345678u, d = 0, s = 0x9E3779B9u, c = n;
    double t0 = now();
    if (c)
        __asm__ volatile(
            ".p2align 4\n"
            "1:\n\t"
            "addl %1, %0\n\t"
            "xorl %0, %2\n\t"
            "roll $1, %1\n\t"
            "subl %2, %3\n\t"
            "decl %4\n\t"
            "jnz 1b\n"
            : "+r"(a), "+r"(b), "+r"(d), "+r"(s), "+r"(c)
            :
            : "cc");
    double t1 = now();
    printf("loop: done %lu iterations %llu instructions %.6f s checksum 0x%08lx%08lx%08lx%08lx\n",
           (unsigned long)n, 6ull * n, t1 - t0, (unsigned long)a, (unsigned long)b,
           (unsigned long)d, (unsigned long)s);
    return 0;
}
