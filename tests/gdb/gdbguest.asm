; gdbguest.asm - the guest that tests/gdb/gdb_test.sh debugs: a 64 KiB BIOS
; image (nasm -f bin) with a fixed layout, so gdb's view can be checked.
;
; Linear addresses the test relies on:
;   0xFFFFFFF0 / EIP 0xFFF0  reset vector: jmp 0xF000:start
;   0xF0000   start: real mode (CS=F000); the first ten instructions have
;             known lengths (see the offsets below)
;   0xF0100   pm32: 32-bit flat code, paging on (0..4 MiB identity mapped,
;             everything from 4 MiB up unmapped)
;   0xF0200   count_loop: COUNTER += 1 until it reaches 100
;   0xF0300   after_count (the hardware breakpoint target)
;   0xF0400   spin: SPIN += 1 until a debugger writes GO != 0, then exits
;             through isa-debug-exit (port 0xF4) with 0x21: status 0x43 (67)
; RAM: COUNTER 0x2000, SPIN 0x3000, GO 0x4000 (three different pages),
; page directory 0x10000, page table 0x11000.

COUNTER equ 0x2000
SPIN    equ 0x3000
GO      equ 0x4000
PD      equ 0x10000

section .text16 start=0 vstart=0
section .text32 start=0x100 vstart=0xF0100
section .reset start=0xFFF0 vstart=0xFFF0
        bits    16
        jmp     0xF000:start            ; EIP FFF0 -> 0000
        times   16-($-$$) db 0xF4

section .text16
        bits    16
start:                                  ; offset (EIP after N stepi)
        cli                             ; 00  (1)
        cld                             ; 01  (2)
        xor     eax, eax                ; 02  (3)  66 31 c0
        mov     ds, ax                  ; 05  (4)
        mov     es, ax                  ; 07  (5)
        mov     [COUNTER], eax          ; 09  (6)  66 a3 00 20
        mov     [SPIN], eax             ; 0d  (7)
        mov     [GO], al                ; 11  (8)  a2 00 40
        mov     ebx, 0x12345678         ; 14  (9)  66 bb imm32
        mov     ecx, 0x9ABCDEF0         ; 1a  (10)
        inc     ebx                     ; 20
        mov     ss, ax
        mov     sp, 0x7000
        ; page directory and one page table: identity map 0..4 MiB
        mov     ax, PD >> 4
        mov     es, ax
        xor     di, di
        xor     eax, eax
        mov     cx, 2048                ; PD + PT, 8 KiB
        rep     stosd
        mov     dword [es:0], (PD + 0x1000) | 3
        mov     di, 0x1000
        mov     eax, 3                  ; present, writable
        mov     cx, 1024
.pt:    stosd
        add     eax, 0x1000
        loop    .pt
        o32 lgdt [cs:gdtr]
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000001         ; PE and PG
        mov     cr0, eax
        jmp     dword 0x08:pm32

        align   8
gdt:    dq      0
        dq      0x00CF9B000000FFFF      ; 0x08 code32 flat
        dq      0x00CF93000000FFFF      ; 0x10 data32 flat
gdtr:   dw      gdtr - gdt - 1
        dd      0xF0000 + gdt

section .text32
        bits    32
pm32:                                   ; 0xF0100
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     esp, 0x7000
        jmp     count_loop

        times   0x100-($-$$) db 0xF4
count_loop:                             ; 0xF0200
        inc     dword [COUNTER]         ; 6 bytes: next EIP 0xF0206
        cmp     dword [COUNTER], 100
        jb      count_loop
        jmp     after_count

        times   0x200-($-$$) db 0xF4
after_count:                            ; 0xF0300
        nop
        jmp     spin

        times   0x300-($-$$) db 0xF4
spin:                                   ; 0xF0400
        inc     dword [SPIN]
        cmp     byte [GO], 0
        je      spin
        mov     al, 0x21
        out     0xF4, al
        cli
        hlt
