; bootsect.asm - a boot sector for the firmware boot tests: SeaBIOS loads it
; at 0:7C00 from the disk (MBR) or the CD (El Torito no-emulation).  It
; reads sector 1 (LBA 1) of the boot drive back through INT 13h AH=42h to
; check the BIOS disk path, prints "boot: ok, drive XX" to the debug
; console, and leaves through isa-debug-exit (0xF4) with status 1.
bits 16
org 0x7C00
start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        mov [drive], dl
        mov si, dap
        mov ah, 0x42
        int 0x13
        jc fail
        cmp dword [0x8000], 'SEC1'
        jne fail
        mov si, msg
        call puts
        mov al, [drive]
        call hex8
        mov al, 10
        out 0xE9, al
        mov al, 0
        out 0xF4, al
        hlt
fail:   mov si, msgf
        call puts
        mov al, 1
        out 0xF4, al
        hlt
puts:   lodsb
        test al, al
        jz .d
        out 0xE9, al
        jmp puts
.d:     ret
hex8:   push ax
        shr al, 4
        call .n
        pop ax
.n:     and al, 15
        add al, '0'
        cmp al, '9'
        jbe .o
        add al, 7
.o:     out 0xE9, al
        ret
msg:    db "boot: ok, drive ", 0
msgf:   db "boot: INT 13h read failed", 10, 0
drive:  db 0
align 4
dap:    db 16, 0
        dw 1            ; sectors
        dw 0x8000, 0    ; buffer 0:8000
        dq 1            ; LBA 1 (a CD sector is 2048 bytes)
        times 510 - ($ - $$) db 0
        dw 0xAA55
