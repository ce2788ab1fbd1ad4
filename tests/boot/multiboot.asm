; multiboot.asm - a multiboot (v1) test kernel (a.out kludge, loaded at
; 1 MiB).  It checks the boot loader's magic, then prints what it was
; given: the command line, the memory sizes' presence, the memory map's
; RAM total above 1 MiB, and each module's command line, length and byte
; sum; then leaves through isa-debug-exit (0xF4) with status 1.
bits 32
org 0x100000
MB_FLAGS equ 0x00010003        ; page-align modules, memory info, a.out kludge
header:
        dd 0x1BADB002, MB_FLAGS, -(0x1BADB002 + MB_FLAGS)
        dd header, header, 0, 0, start
start:
        mov esp, stack_top
        cmp eax, 0x2BADB002
        jne bad
        mov ebp, ebx                    ; multiboot info
        mov esi, s_cmd
        call puts
        mov esi, [ebp + 16]             ; cmdline
        call puts
        call nl
        mov esi, s_mem
        call puts
        mov eax, [ebp]                  ; flags: mem (bit 0) and mmap (bit 6)
        and eax, 0x41
        call hex
        call nl
        ; Sum the length of type-1 regions above 1 MiB in the memory map.
        mov esi, [ebp + 48]             ; mmap_addr
        mov ecx, [ebp + 44]             ; mmap_length
        add ecx, esi
        xor edi, edi                    ; total (KiB)
.mm:    cmp esi, ecx
        jae .mmdone
        cmp dword [esi + 20], 1
        jne .next
        cmp dword [esi + 4], 0x100000
        jb .next
        mov eax, [esi + 12]
        shr eax, 10
        add edi, eax
.next:  add esi, [esi]
        add esi, 4
        jmp .mm
.mmdone:
        ; The exact figure depends on the firmware's reservations (QEMU's
        ; ACPI tables are bigger): check it is within 128 MiB - 4 MiB.
        mov esi, s_ram
        call puts
        mov esi, s_yes
        cmp edi, (128 - 4) * 1024
        jb .small
        cmp edi, 127 * 1024
        jbe .say
.small: mov esi, s_no
.say:   call puts
        call nl
        ; Modules.
        mov ecx, [ebp + 20]
        mov ebx, [ebp + 24]
        mov esi, s_mods
        call puts
        mov eax, ecx
        call hex
        call nl
.mod:   test ecx, ecx
        jz .done
        push ecx
        mov esi, s_mod
        call puts
        mov esi, [ebx + 8]
        call puts
        mov esi, s_len
        call puts
        mov eax, [ebx + 4]
        sub eax, [ebx]
        call hex
        mov esi, s_sum
        call puts
        mov esi, [ebx]
        mov ecx, [ebx + 4]
        xor edx, edx
        xor eax, eax
.sum:   cmp esi, ecx
        jae .sumd
        lodsb
        add edx, eax
        jmp .sum
.sumd:  mov eax, edx
        call hex
        call nl
        add ebx, 16
        pop ecx
        dec ecx
        jmp .mod
.done:  mov esi, s_ok
        call puts
        mov al, 0
        out 0xF4, al
        hlt
bad:    mov esi, s_bad
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
nl:     mov al, 10
        out 0xE9, al
        ret
hex:    push ecx
        mov ecx, 8
.h:     rol eax, 4
        push eax
        and al, 15
        add al, '0'
        cmp al, '9'
        jbe .o
        add al, 7
.o:     out 0xE9, al
        pop eax
        loop .h
        pop ecx
        ret
s_cmd:  db "cmdline: ", 0
s_mem:  db "flags mem|mmap: ", 0
s_ram:  db "RAM above 1 MiB in the memory map is 124-127 MiB: ", 0
s_yes:  db "yes", 0
s_no:   db "NO", 0
s_mods: db "modules: ", 0
s_mod:  db "module '", 0
s_len:  db "' len ", 0
s_sum:  db " sum ", 0
s_ok:   db "multiboot: ok", 10, 0
s_bad:  db "multiboot: bad magic", 10, 0
align 16
        times 256 dd 0
stack_top:
