; mpi.asm - benchmark: the inner loop of the Linux kernel's mpihelp_submul_1
; (lib/mpi, gcc 12 -O2 for i686 with the generic C umul_ppmm), the hottest
; code of a Debian 686 kernel's boot (the RSA self-test).  Not a
; correctness test; prints a checksum.  nasm -DITERATIONS=n sets the count
; of calls (64 limbs each, 48 instructions per limb).

%ifndef ITERATIONS
%define ITERATIONS 20000
%endif
%define LIMBS 64
RES equ 0x20000
S1  equ 0x30000

%include "lib.inc"

CODE16
start:
        INIT16
        PUTS    "mpi: start"
        ENTER_PM32 pm_start

CODE32
pm_start:
        ; fill both vectors with an xorshift sequence
        mov     eax, 0x2545F491
        xor     edi, edi
.fill:  mov     edx, eax
        shl     edx, 13
        xor     eax, edx
        mov     edx, eax
        shr     edx, 17
        xor     eax, edx
        mov     edx, eax
        shl     edx, 5
        xor     eax, edx
        mov     [RES + edi*4], eax
        not     eax
        mov     [S1 + edi*4], eax
        not     eax
        inc     edi
        cmp     edi, LIMBS
        jne     .fill
        mov     dword [0x600], ITERATIONS
        xor     ebp, ebp                ; checksum
        mov     ebx, 0x9E3779B9         ; multiplier
.outer: push    ebp
        push    ebx
        push    ebx                     ; s2_limb (stack argument)
        mov     eax, RES
        mov     edx, S1
        mov     ecx, LIMBS
        call    submul_1
        add     esp, 4
        pop     ebx
        pop     ebp
        add     ebp, eax
        rol     ebp, 5
        imul    ebx, ebx, 0x01000193
        dec     dword [0x600]
        jnz     .outer
        SHOW    "sum", ebp
        mov     eax, [RES]
        SHOW    "res0", eax
        PUTS    "mpi: done"
        PASS

; mpi_limb_t mpihelp_submul_1(res_ptr [eax], s1_ptr [edx], s1_size [ecx], s2_limb [esp+4])
submul_1:
        push    ebp
        mov     ebp, esp
        push    edi
        mov     edi, ecx
        push    esi
        neg     edi
        push    ebx
        sub     esp, 0x1c
        mov     [ebp-0x24], eax
        mov     eax, [ebp+8]
        mov     [ebp-0x10], edi
        mov     esi, eax
        movzx   eax, ax
        mov     [ebp-0x20], eax
        lea     eax, [ecx*4]
        shr     esi, 0x10
        mov     [ebp-0x1c], eax
        add     eax, edx
        mov     [ebp-0x28], eax
        mov     [ebp-0x18], esi
        xor     esi, esi
        align   16
.l:     mov     ecx, [ebp-0x10]
        mov     eax, [ebp-0x28]
        mov     ebx, [ebp-0x20]
        mov     edi, [ebp-0x18]
        mov     edx, [eax+ecx*4]
        mov     eax, ebx
        movzx   ecx, dx
        shr     edx, 0x10
        imul    eax, ecx
        imul    ebx, edx
        imul    ecx, edi
        imul    edx, edi
        mov     edi, eax
        movzx   eax, ax
        shr     edi, 0x10
        add     ecx, ebx
        mov     [ebp-0x14], edx
        mov     edx, edi
        add     edx, ecx
        mov     ecx, [ebp-0x14]
        add     ecx, 0x10000
        cmp     edx, ebx
        mov     edi, ecx
        mov     ecx, edx
        cmovae  edi, [ebp-0x14]
        add     eax, esi
        shl     ecx, 0x10
        xor     ebx, ebx
        add     eax, ecx
        mov     ecx, [ebp-0x1c]
        cmp     eax, esi
        mov     esi, edx
        mov     edx, [ebp-0x24]
        setb    bl
        shr     esi, 0x10
        add     edx, ecx
        mov     ecx, [ebp-0x10]
        mov     ecx, [edx+ecx*4]
        sub     ecx, eax
        mov     eax, [ebp-0x10]
        adc     ebx, esi
        mov     [edx+eax*4], ecx
        mov     ecx, eax
        lea     esi, [ebx+edi]
        add     ecx, 1
        mov     [ebp-0x10], ecx
        jne     .l
        add     esp, 0x1c
        mov     eax, esi
        pop     ebx
        pop     esi
        pop     edi
        pop     ebp
        ret
