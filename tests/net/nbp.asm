; nbp.asm - a PXE network boot program for tests/net/pxe_boot.sh.  iPXE (the
; e1000 option ROM) fetches it by TFTP from slirp and runs it at 0000:7C00 in
; real mode; it prints a line on the debug console (port 0xE9) and exits the
; emulator through isa-debug-exit (port 0xF4): status (0x21 << 1) | 1 = 67.
org 0x7c00
bits 16
start:
    cli
    xor ax, ax
    mov ds, ax
    mov si, msg
.next:
    lodsb
    test al, al
    jz .done
    out 0xe9, al
    jmp .next
.done:
    mov al, 0x21
    out 0xf4, al
    hlt
    jmp .done
msg: db "vessel-nbp: booted over PXE", 10, 0
