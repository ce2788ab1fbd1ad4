; loop.asm - benchmark: a tight integer loop in 32-bit protected mode.
; Prints a checksum (deterministic) and PASSes.  Not a correctness test
; (CMake builds it but registers no test); time it with e.g.
;   time vessel -bios loop.bin -debugcon file:/dev/stdout \
;        -device isa-debug-exit,iobase=0xf4,iosize=4 -display none -m 128
; nasm -DITERATIONS=n overrides the count.

%ifndef ITERATIONS
%define ITERATIONS 200000000
%endif

%include "lib.inc"

CODE16
start:
        INIT16
        PUTS    "loop: start"
        ENTER_PM32 pm_start

CODE32
pm_start:
        mov     ecx, ITERATIONS
        xor     eax, eax
        mov     ebx, 0x12345678
        xor     edx, edx
        mov     esi, 0x9E3779B9
        align   16
.l:     add     eax, ebx
        xor     edx, eax
        rol     ebx, 1
        sub     esi, edx
        dec     ecx
        jnz     .l
        SHOW    "eax", eax
        SHOW    "ebx", ebx
        SHOW    "edx", edx
        SHOW    "esi", esi
        PUTS    "loop: done"
        PASS
