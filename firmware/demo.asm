; demo.asm - vessel's bundled bare-metal demo: a 64 KiB BIOS image that
; starts at the reset vector, greets on the debug console (port 0xE9) from
; real mode, enters 32-bit protected mode, computes the first 20 Fibonacci
; numbers, prints them, and leaves through isa-debug-exit (port 0xF4).
; Build: nasm -f bin demo.asm -o demo.bin
; Run:   vessel -bios demo.bin -debugcon stdio -device isa-debug-exit,iobase=0xf4,iosize=4

bits 16
org 0

start16:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        mov si, msg_real
        call print16
        ; A flat GDT in RAM at 0x800 (the ROM is read-only).
        mov di, 0x800
        push cs
        pop ds
        mov si, gdt
        xor ax, ax
        mov es, ax
        mov cx, gdt_end - gdt
        rep movsb
        xor ax, ax
        mov ds, ax
        o32 lgdt [cs:gdtr]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp dword 0x08:(0xF0000 + start32)

print16:                        ; DS:SI -> debugcon, NUL-terminated (CS-relative)
        mov dx, 0xE9
.next:  cs lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  ret

bits 32
start32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7000
        mov esi, 0xF0000 + msg_pm
        call print32
        xor ebx, ebx            ; F(n-1)
        mov eax, 1              ; F(n)
        mov ecx, 20
.fib:   push ecx
        push eax
        call print_dec
        mov al, ' '
        out 0xE9, al
        pop eax
        pop ecx
        xadd eax, ebx           ; eax = F(n-1)+F(n), ebx = F(n)
        loop .fib
        mov al, 10
        out 0xE9, al
        mov esi, 0xF0000 + msg_bye
        call print32
        mov al, 0
        out 0xF4, al            ; exit status (0 << 1) | 1 = 1
        cli
        hlt

print32:                        ; ESI -> debugcon
        lodsb
        test al, al
        jz .done
        out 0xE9, al
        jmp print32
.done:  ret

print_dec:                      ; EAX in decimal (clobbers ECX, EDX, EDI)
        mov edi, 10
        xor ecx, ecx
.div:   xor edx, edx
        div edi
        add dl, '0'
        push edx
        inc ecx
        test eax, eax
        jnz .div
.out:   pop eax
        out 0xE9, al
        loop .out
        ret

msg_real: db "vessel demo: hello from real mode", 10, 0
msg_pm:   db "vessel demo: in 32-bit protected mode; Fibonacci:", 10, 0
msg_bye:  db "vessel demo: done", 10, 0

align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF   ; 0x08: flat 32-bit code
        dq 0x00CF92000000FFFF   ; 0x10: flat data
gdt_end:
gdtr:   dw gdt_end - gdt - 1
        dd 0x800

        times 0xFFF0 - ($ - $$) db 0
bits 16
reset:  jmp 0xF000:start16
        times 0x10000 - ($ - $$) db 0
