; smc.asm - self-modifying code.  On P6-family processors a store into
; the instruction stream is detected and the modified instructions are
; executed, even for the very next instruction (SDM vol. 3 11.6).
;
;  - real mode: patch the immediate of the next instruction; patch code
;    through a different segment:offset alias of the same bytes
;  - 32-bit: patch the next instruction's immediate; patch an instruction
;    three instructions ahead; patch an immediate inside a loop that executes
;    it; REP MOVSB overwriting the instructions that follow it
;  - generated code: write a routine into RAM, call it, change its immediate
;    and its opcode, call again
;  - a data write next to (but not on) code that keeps running
;
; The code that modifies itself runs from RAM: sections .ram16/.ram32 are
; assembled for their RAM addresses and copied there.

%define TEXT32_START 0x4000
%include "lib.inc"

RAM16_SEG equ   0x2100                  ; .ram16 runs at 2100:0000 (0x21000)
RAM32   equ     0x20000                 ; .ram32 runs at 0x20000
GEN     equ     0x30000                 ; generated code buffer

section .ram16 start=0x3000 vstart=0
        bits    16
; patch the next instruction's immediate (real mode)
r16_next:
        mov     word [cs:.n+1], 0x4321
.n:     mov     ax, 0x1111
        retf
; patch through an alias: ES:DI addresses the same bytes as CS:.a
r16_alias:
        mov     bx, RAM16_SEG - 0x100
        mov     es, bx                  ; ES base = CS base - 0x1000
        mov     word [es:.a+1+0x1000], 0x7777
.a:     mov     cx, 0x2222
        retf
ram16_end:

section .ram32 start=0x3400 vstart=RAM32
        bits    32
r32_next:
        mov     dword [.n+1], 0x12345678
.n:     mov     eax, 0x11111111
        ret
r32_ahead:
        mov     dword [.a+1], 0xCAFEF00D
        nop
        xor     edx, edx
        inc     edx
.a:     mov     ebx, 0x22222222
        ret
r32_loop:
        xor     ebx, ebx
        mov     ecx, 10
.l:
.add:   add     ebx, strict dword 0
        inc     dword [.add+2]
        loop    .l
        ret
r32_movs:
        mov     esi, .new
        mov     edi, .old
        mov     ecx, .new_end - .new
        rep movsb                       ; overwrites the code below
.old:   mov     eax, 1
        mov     ebx, 2
        ret
.new:   mov     eax, 0xAAAA
        mov     ebx, 0xBBBB
.new_end:
r32_adjacent:
        mov     dword [.data], 0xDEADBEEF
        mov     eax, [.data]
        add     dword [.data+4], 1
        ret
.data:  dd      0, 0
ram32_end:

CODE16
start:
        INIT16
        PUTS    "smc: start"
        push    ds
        push    cs
        pop     ds
        mov     ax, RAM16_SEG
        mov     es, ax
        mov     si, 0x3000              ; .ram16 in the ROM image
        xor     di, di
        mov     cx, ram16_end
        rep     movsb
        pop     ds
        xor     ax, ax
        mov     es, ax
        call    RAM16_SEG:r16_next
        CHKW    ax, 0x4321
        call    RAM16_SEG:r16_next      ; already patched: same result
        CHKW    ax, 0x4321
        call    RAM16_SEG:r16_alias
        CHKW    cx, 0x7777
        OK      "real mode"
        ENTER_PM32 pm_start

CODE32
pm_start:
        mov     esi, ROMBASE+0x3400
        mov     edi, RAM32
        mov     ecx, ram32_end - RAM32
        rep     movsb
        call    r32_next
        CHK     eax, 0x12345678
        call    r32_ahead
        CHK     ebx, 0xCAFEF00D
        CHK     edx, 1
        call    r32_loop
        CHK     ebx, 45                 ; 0+1+...+9
        CHK     [r32_loop.add+2], 10
        call    r32_loop                ; continues from the patched value
        CHK     ebx, 145                ; 10+...+19
        call    r32_movs
        CHK     eax, 0xAAAA
        CHK     ebx, 0xBBBB
        OK      "32-bit"

        ; generated code
        mov     byte [GEN], 0xB8        ; mov eax, imm32
        mov     dword [GEN+1], 0x11112222
        mov     byte [GEN+5], 0xC3      ; ret
        mov     eax, GEN
        call    eax
        CHK     eax, 0x11112222
        mov     dword [GEN+1], 0x33334444
        call    GEN
        CHK     eax, 0x33334444
        mov     byte [GEN], 0xB9        ; now mov ecx, imm32
        mov     eax, 0x5555
        call    GEN
        CHK     eax, 0x5555
        CHK     ecx, 0x33334444
        ; a longer routine, rewritten repeatedly
        mov     ebx, 0
gen_loop:
        mov     edi, GEN+0x100
        mov     byte [edi], 0x05        ; add eax, imm32
        mov     [edi+1], ebx
        mov     byte [edi+5], 0xC3
        xor     eax, eax
        call    GEN+0x100
        cmp     eax, ebx
        jne     .bad
        inc     ebx
        cmp     ebx, 100
        jb      gen_loop
        OK      "generated code"
        jmp     adj
.bad:   FAIL    2, "generated code loop"

        ; data next to code
adj:    mov     ecx, 1000
.l:     call    r32_adjacent
        CHK     eax, 0xDEADBEEF
        mov     dword [r32_adjacent.data], 0
        loop    .l
        CHK     [r32_adjacent.data+4], 1000
        OK      "data next to code"
        PUTS    "smc: all ok"
        PASS
