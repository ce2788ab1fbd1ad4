; vgabios_modes.asm - a boot sector (plus 3 sectors it loads through INT 13h)
; for vgabios_test.sh: modes set through the VGA BIOS (vgabios-stdvga run by
; SeaBIOS).  Phase 1: INT 10h AX=0013h, four bars of palette indices 1, 2, 4,
; 15 (80 columns each) in 0xA0000; "mode13 drawn" on 0xE9; hold the picture
; until BDA tick T1.  Phase 2: AX=4F01h for mode 0x142 (checks 640x480x32,
; LFB), AX=4F02h BX=0x4142, unreal mode (FS = 4 GiB flat) after enabling A20,
; four rectangles of known RGB on a grey background in the LFB; "vbe drawn";
; hold until tick T2; exit through isa-debug-exit 0xF4 (value 0 = pass,
; 1 = fail).  The ticks come from the RTC (the harness sets -rtc base to
; midnight) so the harness can take its screendumps at fixed virtual times
; under -icount; a phase that finishes too late reports "late" and fails.
bits 16
org 0x7C00
; The harness dumps at 2.0 s and 3.5 s of virtual time (18.2065 ticks/s).
T1      equ 46                  ; hold mode 13h until ~2.53 s after midnight
T2      equ 73                  ; hold the VBE picture until ~4.01 s
LATE1   equ 27                  ; phase 1 must be drawn by ~1.48 s
LATE2   equ 55                  ; phase 2 by ~3.02 s
MODE    equ 0x142
start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        sti
        mov [drive], dl
        mov si, dap
        mov ah, 0x42
        int 0x13
        jc .f
        cmp dword [sig], 'VGAT'
        je main
.f:     mov si, m_disk
        jmp fail
puts:   lodsb
        test al, al
        jz .d
        out 0xE9, al
        jmp puts
.d:     ret
fail:   call puts
        mov al, 1
        out 0xF4, al
        cli
        hlt
drive:  db 0
m_disk: db "vgabios: INT 13h read failed", 10, 0
align 4
dap:    db 16, 0
        dw 3            ; sectors
        dw 0x7E00, 0    ; buffer 0:7E00
        dq 1            ; LBA 1
        times 510 - ($ - $$) db 0
        dw 0xAA55

; ---- sector 1.. (LBA 1, loaded at 0:7E00) ----
sig:    db "VGAT"
main:
        ; phase 1: mode 13h, bars 0..79 = 1, 80..159 = 2, 160..239 = 4, 240..319 = 15
        mov ax, 0x0013
        int 0x10
        mov ah, 0x0F            ; get the current mode: AL must be 13h
        int 0x10
        cmp al, 0x13
        mov si, m_m13
        jne fail
        push es
        mov ax, 0xA000
        mov es, ax
        xor di, di
        mov dx, 200
.row:   mov al, 1
        mov cx, 80
        rep stosb
        mov al, 2
        mov cx, 80
        rep stosb
        mov al, 4
        mov cx, 80
        rep stosb
        mov al, 15
        mov cx, 80
        rep stosb
        dec dx
        jnz .row
        pop es
        mov si, m_d13
        call puts
        call ticks
        mov bx, LATE1
        mov cx, T1
        call hold

        ; phase 2: VBE
        mov ax, 0x4F01
        mov cx, MODE
        mov di, mib
        int 0x10
        cmp ax, 0x004F
        mov si, m_4f01
        jne fail
        cmp word [mib+0x12], 640
        jne fail
        cmp word [mib+0x14], 480
        jne fail
        cmp byte [mib+0x19], 32
        jne fail
        test byte [mib], 0x80   ; linear frame buffer available
        jz fail
        mov eax, [mib+0x28]
        test eax, eax
        jz fail
        mov [lfb], eax
        movzx eax, word [mib+0x10]
        mov [pitch], eax
        mov ax, 0x4F02
        mov bx, 0x4000 | MODE
        int 0x10
        cmp ax, 0x004F
        mov si, m_4f02
        jne fail
        mov ax, 0x4F03          ; current mode: BX must be MODE (bit 14 may be set)
        int 0x10
        and bx, 0x3FFF
        cmp bx, MODE
        mov si, m_4f03
        jne fail
        ; A20 (port 0x92 fast A20), then unreal mode: FS limit 4 GiB
        in al, 0x92
        or al, 2
        and al, 0xFE
        out 0x92, al
        cli
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        jmp $+2
        mov bx, 8
        mov fs, bx
        and al, 0xFE
        mov cr0, eax
        jmp $+2
        xor ax, ax
        mov fs, ax
        sti
        ; background 0x404040, then rectangles (x0, y0, x1, y1, rgb)
        mov si, rects
.rect:  cmp word [si], 0xFFFF
        je .rdone
        movzx ebx, word [si+2]  ; y
.ry:    mov eax, ebx
        mul dword [pitch]
        movzx ecx, word [si]
        lea edi, [eax + ecx*4]
        add edi, [lfb]
        movzx ecx, word [si+4]
        sub cx, [si]            ; width
        mov eax, [si+8]
.rx:    a32 mov [fs:edi], eax
        add edi, 4
        dec ecx
        jnz .rx
        inc bx
        cmp bx, [si+6]
        jb .ry
        add si, 12
        jmp .rect
.rdone: mov si, m_dvbe
        call puts
        call ticks
        mov bx, LATE2
        mov cx, T2
        call hold
        mov si, m_ok
        call puts
        mov al, 0
        out 0xF4, al
        cli
        hlt

; ticks: print " at tick XXXXXXXX" and a newline
ticks:  mov si, m_at
        call puts
        mov edx, [0x46C]
        mov cx, 8
.h:     rol edx, 4
        mov al, dl
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .o
        add al, 7
.o:     out 0xE9, al
        loop .h
        mov al, 10
        out 0xE9, al
        ret

; hold: fail if the tick count is already >= BX, else spin until it is >= CX
hold:   mov eax, [0x46C]
        cmp eax, ebx
        jae .late
.w:     sti
        pause                   ; spin, not HLT: vessel checks -screendump-at
                                ; times every 1 ms of host time, and HLT lets
                                ; the virtual clock run far ahead of that
        mov eax, [0x46C]
        movzx edx, cx
        cmp eax, edx
        jb .w
        ret
.late:  mov si, m_late
        jmp fail

align 4
lfb:    dd 0
pitch:  dd 0
rects:  ;   x0,  y0,  x1,  y1, rgb
        dw   0,   0, 640, 480
        dd 0x404040
        dw  40,  40, 200, 160
        dd 0xFF0000
        dw 240,  40, 400, 160
        dd 0x00FF00
        dw 440,  40, 600, 160
        dd 0x0000FF
        dw 100, 300, 540, 440
        dd 0x12ABEF
        dw 0xFFFF
align 8
gdt:    dq 0
        dq 0x00CF92000000FFFF   ; 4 GiB data
gdtr:   dw 15
        dd gdt
m_m13:  db "vgabios: AX=0013h did not set mode 13h", 10, 0
m_d13:  db "mode13 drawn", 0
m_4f01: db "vgabios: AX=4F01h mode 0x142 is not 640x480x32 with an LFB", 10, 0
m_4f02: db "vgabios: AX=4F02h failed", 10, 0
m_4f03: db "vgabios: AX=4F03h reports another mode", 10, 0
m_dvbe: db "vbe drawn", 0
m_at:   db " at tick ", 0
m_ok:   db "vgabios: done", 10, 0
m_late: db "vgabios: late (drawn after the screendump time)", 10, 0
        times 512*4 - ($ - $$) db 0
mib:    ; 256-byte mode info block (past the loaded sectors)
