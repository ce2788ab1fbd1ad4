; emu-flags: -icount shift=3,align=off,sleep=off
; pcbus.asm - PC chipset plumbing from bare metal (deterministic time,
; -icount shift=3: 8 ns per instruction).
;
;  1. PCI configuration mechanism #1 (0xCF8/0xCFC): CONFIG_ADDRESS reads
;     back; bus 0: 00.0 = 8086:1237 host bridge (class 0600, single
;     function), 01.0 = 8086:7000 ISA bridge (class 0601, header type
;     bit 7 = multi-function), 01.3 = 8086:7113 PM (class 0680); absent
;     functions read all ones; byte/word accesses at 0xCFC+n; with the
;     enable bit clear 0xCFC is not a configuration access.  (01.1, the
;     IDE function, and slots 2+ are not asserted.)
;  2. fw_cfg (0x510 selector, 0x511 data): signature "QEMU", ID bit 0
;     (traditional interface), RAM size = 128 MiB.
;  3. ACPI PM timer: PIIX4 PM function 01.3, PMBA (config 0x40) = 0xB000,
;     PMIOSE (config 0x80 bit 0) on; the 24-bit timer at 0xB008 runs at
;     3.579545 MHz: 20000 instructions (160 us) = ~573 ticks.
;  4. A20: port 0x92 bit 1 and the 8042 output port (command 0xD1, bit 1):
;     with A20 masked 0x100000+x aliases x, with it enabled it does not
;     (real mode through FFFF:xxxx, protected mode flat); port 0x92 and
;     the 8042 output port (command 0xD0) read back.  The order of the
;     steps makes the result the same whether the two A20 sources are ORed
;     (PIIX3 datasheet) or the last write wins (QEMU).

%include "lib.inc"

VARS            equ 0x2000
tmp1            equ VARS+0x00
PMBASE          equ 0xB000
A20_LO          equ 0x7E00                  ; test dword, below 1 MiB
A20_HI          equ 0x107E00                ; = A20_LO | 1 MiB

; CHKR op32, lo, hi: lo <= op32 <= hi (unsigned).  Assemble with
; -DSHOWVALS to print every measured value (for tuning the ranges).
%macro CHKR 3.nolist
        pushfd
        push    eax
        mov     eax, %1
%ifdef SHOWVALS
        PRINT   {%str(%1), " "}
        PRINTHEX eax
        PRINT   {10}
%endif
        cmp     eax, %2
        jb      %%bad
        cmp     eax, %3
        jbe     %%ok
%%bad:  __CHKFAIL %2
        db      "CHKR ", %str(%1), ", ", %str(%2), "..", %str(%3), 0
%%ok:   pop     eax
        popfd
%endmacro

; busy-wait N iterations of (dec ecx / jnz): 2N instructions; clobbers ecx
%macro SPIN 1.nolist
        mov     ecx, %1
%%l:    dec     ecx
        jnz     %%l
%endmacro

; PCIADDR bus, dev, fn, reg -> CONFIG_ADDRESS value
%define PCIADDR(b, d, f, r) (0x80000000 | ((b) << 16) | ((d) << 11) | ((f) << 8) | (r))

; PCIRD addr (-> eax) / PCIWR addr, value (dword accesses)
%macro PCIRD 1.nolist
        mov     eax, %1
        mov     dx, 0xCF8
        out     dx, eax
        mov     dx, 0xCFC
        in      eax, dx
%endmacro
%macro PCIWR 2.nolist
        mov     eax, %1
        mov     dx, 0xCF8
        out     dx, eax
        mov     eax, %2
        mov     dx, 0xCFC
        out     dx, eax
%endmacro

; A20 check (real mode, DS = 0, ES = 0xFFFF): %1 = 1 expects an alias
%macro A20CHK 1.nolist
        mov     dword [A20_LO], 0x11111111
        mov     dword [es:A20_LO + 0x10], 0x22222222
%if %1
        CHK     [A20_LO], 0x22222222    ; the write wrapped to A20_LO
%else
        CHK     [A20_LO], 0x11111111
        CHK     [es:A20_LO + 0x10], 0x22222222
%endif
%endmacro

CODE16
start:
        INIT16
        PUTS    "pcbus: start"

        ; ------------------------------------------- PCI conf1
        mov     dx, 0xCF8
        mov     eax, 0x80000000
        out     dx, eax
        in      eax, dx
        CHK     eax, 0x80000000
        PCIRD   PCIADDR(0, 0, 0, 0x00)
        CHK     eax, 0x12378086         ; i440FX
        PCIRD   PCIADDR(0, 0, 0, 0x08)
        shr     eax, 8
        CHK     eax, 0x060000           ; host bridge
        PCIRD   PCIADDR(0, 0, 0, 0x0C)
        shr     eax, 16
        and     al, 0x80
        CHKB    al, 0x00                ; single function
        PCIRD   PCIADDR(0, 0, 1, 0x00)
        CHK     eax, 0xFFFFFFFF         ; no function 1
        PCIRD   PCIADDR(0, 1, 0, 0x00)
        CHK     eax, 0x70008086         ; PIIX3 ISA bridge
        PCIRD   PCIADDR(0, 1, 0, 0x08)
        shr     eax, 8
        CHK     eax, 0x060100
        PCIRD   PCIADDR(0, 1, 0, 0x0C)
        shr     eax, 16
        and     al, 0x80
        CHKB    al, 0x80                ; multi-function device
        PCIRD   PCIADDR(0, 1, 3, 0x00)
        CHK     eax, 0x71138086         ; PIIX4 PM
        PCIRD   PCIADDR(0, 1, 3, 0x08)
        shr     eax, 8
        CHK     eax, 0x068000
        PCIRD   PCIADDR(0, 31, 0, 0x00)
        CHK     eax, 0xFFFFFFFF
        PCIRD   PCIADDR(0, 1, 7, 0x00)
        CHK     eax, 0xFFFFFFFF
        ; every present function 0 on bus 0 has a sane header
        xor     ebx, ebx
        xor     si, si                  ; devices found
.scan:  mov     eax, ebx
        shl     eax, 11
        or      eax, 0x80000000
        mov     dx, 0xCF8
        out     dx, eax
        mov     dx, 0xCFC
        in      eax, dx
        cmp     ax, 0xFFFF
        je      .next
        inc     si
        cmp     eax, 0
        jne     .next
        FAIL    2, "PCI vendor/device reads 0"
.next:  inc     ebx
        cmp     ebx, 32
        jb      .scan
        cmp     si, 2
        jae     .found
        FAIL    2, "PCI scan found fewer than two devices"
.found:
        ; byte and word accesses through 0xCFC+n
        mov     dx, 0xCF8
        mov     eax, PCIADDR(0, 0, 0, 0x00)
        out     dx, eax
        mov     dx, 0xCFE
        in      ax, dx
        CHKW    ax, 0x1237
        mov     dx, 0xCFD
        in      al, dx
        CHKB    al, 0x80
        mov     dx, 0xCFF
        in      al, dx
        CHKB    al, 0x12
        ; with the enable bit clear, 0xCFC is no configuration access
        mov     dx, 0xCF8
        mov     eax, 0x00000000
        out     dx, eax
        mov     dx, 0xCFC
        in      eax, dx
        CHK     eax, 0xFFFFFFFF
        OK      "pci conf1 bus 0"

        ; ------------------------------------------- fw_cfg
        mov     dx, 0x510
        xor     ax, ax                  ; FW_CFG_SIGNATURE
        out     dx, ax
        mov     dx, 0x511
        mov     cx, 4
        xor     ebx, ebx
.sig:   in      al, dx
        shrd    ebx, eax, 8
        loop    .sig
        CHK     ebx, 'QEMU'
        mov     dx, 0x510
        mov     ax, 0x0001              ; FW_CFG_ID
        out     dx, ax
        mov     dx, 0x511
        in      al, dx
        and     al, 1
        CHKB    al, 1
        mov     dx, 0x510
        mov     ax, 0x0003              ; FW_CFG_RAM_SIZE, 64-bit LE
        out     dx, ax
        mov     dx, 0x511
        mov     cx, 4
.ram:   in      al, dx
        shrd    ebx, eax, 8
        loop    .ram
        CHK     ebx, 128 << 20
        in      al, dx
        CHKB    al, 0
        OK      "fw_cfg signature"

        ; ------------------------------------------- ACPI PM timer
        PCIWR   PCIADDR(0, 1, 3, 0x40), PMBASE | 1
        PCIRD   PCIADDR(0, 1, 3, 0x40)
        and     eax, 0xFFC0
        CHK     eax, PMBASE
        PCIRD   PCIADDR(0, 1, 3, 0x80)
        or      al, 1                   ; PMIOSE
        mov     ebx, eax
        PCIWR   PCIADDR(0, 1, 3, 0x80), ebx
        mov     dx, PMBASE + 8
        in      eax, dx
        mov     ebx, eax
        shr     eax, 24
        CHK     eax, 0                  ; 24-bit counter
        SPIN    10000                   ; 20000 instructions = 160 us
        mov     dx, PMBASE + 8
        in      eax, dx
        sub     eax, ebx
        and     eax, 0xFFFFFF
        ; 160.0 us * 3.579545 MHz = 572.7 (+ a few instructions)
        CHKR    eax, 565, 585
        in      eax, dx
        mov     ebx, eax
        in      eax, dx
        sub     eax, ebx
        and     eax, 0xFFFFFF
        CHKR    eax, 0, 2               ; back-to-back reads
        OK      "acpi pm timer"

        ; ------------------------------------------- A20 (real mode)
        mov     ax, 0xFFFF
        mov     es, ax
        A20CHK  0                       ; enabled at reset
        call    kbc_a20_off             ; 8042 output port bit 1 = 0
        call    kbc_read_outport
        and     al, 0x03
        CHKB    al, 0x01                ; A20 off, reset line high
        in      al, 0x92
        and     al, 0x02
        CHKB    al, 0                   ; port 0x92 A20 off since reset
        A20CHK  1
        mov     al, 0x02
        out     0x92, al                ; ALT_A20 on
        in      al, 0x92
        and     al, 0x02
        CHKB    al, 0x02
        A20CHK  0
        mov     al, 0x00
        out     0x92, al                ; ALT_A20 off (8042 A20 is off too)
        A20CHK  1
        OK      "a20 via port 0x92"
        call    kbc_a20_on
        call    kbc_read_outport
        and     al, 0x03
        CHKB    al, 0x03
        A20CHK  0
        call    kbc_a20_off             ; port 0x92 bit 1 is still 0
        A20CHK  1
        call    kbc_a20_on
        A20CHK  0
        OK      "a20 via 8042"
        xor     ax, ax
        mov     es, ax
        ENTER_PM32 pm_start

; ---- real-mode helpers

kbc_wait_ibe:                           ; wait for input buffer empty
        push    ax
.w:     in      al, 0x64
        test    al, 0x02
        jnz     .w
        pop     ax
        ret

kbc_a20_off:
        mov     ah, 0xDD                ; A20 off, reset high, rest as BIOS
        jmp     kbc_write_outport
kbc_a20_on:
        mov     ah, 0xDF
kbc_write_outport:                      ; ah = output port value
        call    kbc_wait_ibe
        mov     al, 0xD1
        out     0x64, al
        call    kbc_wait_ibe
        mov     al, ah
        out     0x60, al
        call    kbc_wait_ibe
        ret

kbc_read_outport:                       ; -> al
        call    kbc_wait_ibe
        mov     al, 0xD0
        out     0x64, al
        mov     cx, 0xFFFF
.w:     in      al, 0x64
        test    al, 0x01
        jnz     .r
        loop    .w
        FAIL    2, "8042: no output port byte"
.r:     in      al, 0x60
        ret

CODE32
pm_start:
        ; A20 in protected mode: port 0x92 only (the 8042 has A20 on)
        mov     al, 0x00
        out     0x92, al                ; both sources could be off ...
        call    kbc_a20_off32
        mov     dword [A20_LO], 0x33333333
        mov     dword [A20_HI], 0x44444444
        CHK     [A20_LO], 0x44444444
        mov     dword [A20_HI + 0x200000], 0x55555555
        CHK     [A20_HI + 0x200000], 0x55555555   ; bit 21 still decodes
        CHK     [A20_LO + 0x200000], 0x55555555   ; = 0x207E00
        mov     al, 0x02
        out     0x92, al
        mov     dword [A20_LO], 0x33333333
        mov     dword [A20_HI], 0x44444444
        CHK     [A20_LO], 0x33333333
        CHK     [A20_HI], 0x44444444
        call    kbc_a20_on32
        OK      "pm: a20 via port 0x92"
        PASS

kbc_a20_off32:
        push    eax
        mov     ah, 0xDD
        call    kbc_write32
        pop     eax
        ret
kbc_a20_on32:
        push    eax
        mov     ah, 0xDF
        call    kbc_write32
        pop     eax
        ret
kbc_write32:
.w1:    in      al, 0x64
        test    al, 0x02
        jnz     .w1
        mov     al, 0xD1
        out     0x64, al
.w2:    in      al, 0x64
        test    al, 0x02
        jnz     .w2
        mov     al, ah
        out     0x60, al
.w3:    in      al, 0x64
        test    al, 0x02
        jnz     .w3
        ret
