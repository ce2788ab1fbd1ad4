; kbd_guest.asm - a 64 KiB bare-metal BIOS image for the display tests:
; it prints every byte the 8042 delivers to the debug console (port 0xE9):
; keyboard bytes as "1C ", mouse bytes as "m08 ", in hex, and powers the
; machine off through ACPI (PIIX4 PM, SLP_TYP 0 = S5) when the power button
; is pressed, after printing "pwrbtn".
; The 8042 is left as at power-on: no set-2 -> set-1 translation, so the
; keyboard bytes are the set-2 codes the host sent.
; Build: nasm -f bin kbd_guest.asm -o kbd_guest.bin
; Run:   vessel -bios kbd_guest.bin -debugcon file:out.txt

bits 16
org 0

PMBASE  equ 0xB000

start:
        cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7000
        ; PIIX4 PM (00:01.3): PMBA = 0xB000, PMREGMISC.PMIOSE = 1
        mov eax, 0x80000B40
        mov dx, 0xCF8
        out dx, eax
        mov eax, PMBASE | 1
        mov dx, 0xCFC
        out dx, eax
        mov eax, 0x80000B80
        mov dx, 0xCF8
        out dx, eax
        mov eax, 1
        mov dx, 0xCFC
        out dx, eax
        ; enable the aux port, then the mouse's data reporting
        mov al, 0xA8
        out 0x64, al
        mov al, 0xD4
        out 0x64, al
        mov al, 0xF4
        out 0x60, al
        mov si, msg_ready
        call print

poll:   mov dx, PMBASE          ; PM1_STS: PWRBTN_STS (bit 8)?
        in ax, dx
        test ah, 1
        jnz power_off
        in al, 0x64
        test al, 1              ; OBF
        jz poll
        mov bl, al
        in al, 0x60
        test bl, 0x20           ; AUXB: from the mouse
        jz .kbd
        push ax
        mov al, 'm'
        out 0xE9, al
        pop ax
.kbd:   call hex
        mov al, ' '
        out 0xE9, al
        jmp poll

power_off:
        mov si, msg_off
        call print
        mov dx, PMBASE
        mov ax, 0x0100          ; clear PWRBTN_STS
        out dx, ax
        mov dx, PMBASE + 4      ; PM1_CNT: SLP_EN | SLP_TYP 0
        mov ax, 0x2000
        out dx, ax
.hang:  jmp .hang

hex:                            ; AL as two hex digits
        push ax
        shr al, 4
        call .digit
        pop ax
        and al, 0x0F
.digit: add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '9' - 1
.out:   out 0xE9, al
        ret

print:                          ; CS:SI, NUL-terminated
        cs lodsb
        test al, al
        jz .done
        out 0xE9, al
        jmp print
.done:  ret

msg_ready: db "ready", 10, 0
msg_off:   db 10, "pwrbtn", 10, 0

        times 0xFFF0 - ($ - $$) db 0
reset:  jmp 0xF000:start
        times 0x10000 - ($ - $$) db 0
