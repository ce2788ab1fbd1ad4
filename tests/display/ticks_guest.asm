; ticks_guest.asm - a boot sector for screendump_at_test.sh: the BIOS tick
; count (BDA 0040:006C, incremented by SeaBIOS's IRQ0 handler at
; 1193182/65536 = 18.2065 Hz) shown in binary on the 80x25 text screen and
; redrawn after every interrupt (sti; hlt).  Cell i of row 0 (i = 0..15) is
; bit i of the count: background attribute 0x70 (light grey, 0xAAAAAA) for
; 1, 0x00 (black) for 0; the rest of the screen is blank.  The guest is idle
; almost all the time, so under -icount virtual time mostly warps from one
; timer deadline to the next: a dump taken at a virtual time shows the
; count of that exact time only if it is taken on the virtual clock.
bits 16
org 0x7C00
start:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7C00
        mov ah, 0x01            ; cursor off (start line bit 5)
        mov cx, 0x2000
        int 0x10
        mov ax, 0xB800
        mov es, ax
        xor di, di
        mov ax, 0x0020          ; blank, black on black
        mov cx, 80 * 25
        cld
        rep stosw
        sti
.loop:  hlt
        mov dx, [0x046C]        ; low 16 bits of the tick count
        xor di, di
        mov cx, 16
.bit:   mov ax, 0x0020
        shr dx, 1
        jnc .put
        mov ah, 0x70
.put:   stosw
        loop .bit
        jmp .loop
        times 510 - ($ - $$) db 0
        dw 0xAA55
