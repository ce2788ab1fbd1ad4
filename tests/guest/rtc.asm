; emu-flags: -icount shift=7,align=off,sleep=off -rtc base=2000-01-01T00:00:00,clock=vm
; rtc.asm - the MC146818A RTC and CMOS RAM from bare metal, in
; deterministic time (-icount shift=7: 128 ns per instruction; the RTC on
; the virtual clock, starting at 2000-01-01 00:00:00).  Interrupts on IRQ8
; through the 8259 slave.  Waits use HLT, except the periodic count: QEMU
; 7.2 with icount sleep=off coalesces periodic RTC ticks while halted
; (~513 of 1024 per second), so that one busy-waits.
;
;  1. CMOS RAM bytes 0x40-0x4F and 0x70-0x7F read back (index with and
;     without the NMI-disable bit 7); BIOS bytes 0x15/0x16 = 640 KiB;
;     REG_A/B/D after reset (0x26, 0x02, VRT).
;  2. the time at start: 2000-01-01 00:00:00 (BCD, 24h), Saturday, century
;     byte 0x32 = 0x20.
;  3. update-ended interrupts (REG_B UIE): REG_C = IRQF|UF; the seconds
;     advance by one per update.
;  4. UIP: after an update, wait 995 ms with PIT interrupts (HLT), then
;     poll REG_A: UIP rises within the last ~5 ms of the second, stays up
;     for 244 us .. 2228 us (t_BUC .. t_BUC + t_UC), and when it falls the
;     seconds have advanced.
;  5. alarm (REG_B AIE, hours/minutes "don't care"): AF with the update
;     two seconds later.
;  6. periodic interrupt at 1024 Hz: 1023..1025 PF interrupts between two
;     update interrupts (busy-waiting).
;  7. SET/DM/24h: time written in BCD and in binary with SET=1 rolls over
;     from 1999-12-31 23:59:58 to 2000-01-01 00:00:00 (weekday Fri->Sat);
;     12-hour mode: 11:59:59 PM -> 12:00:00 AM, 11:59:59 AM -> 12:00:00 PM
;     (BCD and binary).
;  SDM/datasheet check QEMU 7.2 lacks (skipped under QEMU): PF is set at
;  the periodic rate with PIE=0, without IRQF.

%include "lib.inc"

VARS            equ 0x2000
cnt0            equ VARS+0x00           ; IRQ0 count
cnt8            equ VARS+0x04           ; IRQ8 count
regc            equ VARS+0x08           ; last REG_C read by the IRQ8 handler
ufc             equ VARS+0x0C           ; interrupts with UF
pfc             equ VARS+0x10           ; interrupts with PF
afc             equ VARS+0x14           ; interrupts with AF
secs            equ VARS+0x18
polls           equ VARS+0x1C

RTC_SEC         equ 0x00
RTC_SEC_ALARM   equ 0x01
RTC_MIN         equ 0x02
RTC_MIN_ALARM   equ 0x03
RTC_HOUR        equ 0x04
RTC_HOUR_ALARM  equ 0x05
RTC_WDAY        equ 0x06
RTC_DAY         equ 0x07
RTC_MONTH       equ 0x08
RTC_YEAR        equ 0x09
RTC_A           equ 0x0A
RTC_B           equ 0x0B
RTC_C           equ 0x0C
RTC_D           equ 0x0D
RTC_CENTURY     equ 0x32

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

; SKIP_IF_QEMU for real mode (lib.inc's form needs a flat DS: QEMU_MARK is
; above 64 KiB)
%macro SKIP_IF_QEMU_RM 1.nolist
        push    ds
        push    ax
        mov     ax, QEMU_MARK >> 4
        mov     ds, ax
        cmp     dword [QEMU_MARK & 0xF], 'QEMU'
        pop     ax
        pop     ds
        je      %1
%endmacro

; busy-wait N iterations of (dec ecx / jnz): 2N instructions; clobbers ecx
%macro SPIN 1.nolist
        mov     ecx, %1
%%l:    dec     ecx
        jnz     %%l
%endmacro

%macro OUTB 2.nolist
        mov     al, %2
        out     %1, al
%endmacro

; RTCW index, value / RTCR index (-> al)
%macro RTCW 2.nolist
        mov     al, %1
        out     0x70, al
        mov     al, %2
        out     0x71, al
%endmacro
%macro RTCR 1.nolist
        mov     al, %1
        out     0x70, al
        in      al, 0x71
%endmacro
; RTCCHK index, value
%macro RTCCHK 2.nolist
        RTCR    %1
        CHKB    al, %2
%endmacro

CODE16
start:
        INIT16
        PUTS    "rtc: start"
        ENTER_PM32 apic_virtual_wire    ; returns to rm_main in real mode
rm_main:
        mov     word [0x20*4], irq0_rm
        mov     word [0x20*4+2], 0xF000
        mov     word [0x28*4], irq8_rm
        mov     word [0x28*4+2], 0xF000
        mov     di, VARS
        xor     eax, eax
        mov     cx, 16
        rep     stosd
        call    pic_init

        ; ------------------------------------------- CMOS RAM
        mov     bl, 0x40
.w1:    mov     al, bl
        out     0x70, al
        mov     al, bl
        xor     al, 0xA5
        out     0x71, al
        inc     bl
        cmp     bl, 0x50
        jb      .w1
        mov     bl, 0x70
.w2:    mov     al, bl
        or      al, 0x80                ; NMI disabled: same register
        out     0x70, al
        mov     al, bl
        rol     al, 3
        out     0x71, al
        inc     bl
        cmp     bl, 0x80
        jb      .w2
        mov     bl, 0x40
.r1:    mov     al, bl
        or      al, 0x80
        out     0x70, al
        in      al, 0x71
        mov     ah, bl
        xor     ah, 0xA5
        cmp     al, ah
        jne     .bad
        inc     bl
        cmp     bl, 0x50
        jb      .r1
        mov     bl, 0x70
.r2:    mov     al, bl
        out     0x70, al
        in      al, 0x71
        mov     ah, bl
        rol     ah, 3
        cmp     al, ah
        jne     .bad
        inc     bl
        cmp     bl, 0x80
        jb      .r2
        jmp     .ramok
.bad:   FAIL    2, "CMOS RAM byte does not read back"
.ramok: RTCCHK  0x15, 0x80              ; base memory 640 KiB
        RTCCHK  0x16, 0x02
        RTCCHK  RTC_A, 0x26             ; DV = 010 (32.768 kHz), 1024 Hz
        RTCCHK  RTC_B, 0x02             ; 24h, BCD, no interrupts
        RTCCHK  RTC_D, 0x80             ; VRT
        OK      "cmos ram"

        ; ------------------------------------------- time at start
        RTCCHK  RTC_SEC, 0x00
        RTCCHK  RTC_MIN, 0x00
        RTCCHK  RTC_HOUR, 0x00
        RTCCHK  RTC_WDAY, 7             ; Saturday (Sunday = 1)
        RTCCHK  RTC_DAY, 0x01
        RTCCHK  RTC_MONTH, 0x01
        RTCCHK  RTC_YEAR, 0x00
        RTCCHK  RTC_CENTURY, 0x20
        OK      "time 2000-01-01 00:00:00"

        ; ------------------------------------------- update interrupts
        RTCR    RTC_C
        RTCW    RTC_B, 0x12             ; UIE, 24h, BCD
        OUTB    0x21, 0xFB
        OUTB    0xA1, 0xFE
        sti
        call    wait_uf
        mov     al, [regc]
        and     al, 0xB0                ; (PF: see the SDM-only checks)
        CHKB    al, 0x90                ; IRQF | UF
        RTCCHK  RTC_SEC, 0x01
        call    wait_uf
        RTCCHK  RTC_SEC, 0x02
        call    wait_uf
        RTCCHK  RTC_SEC, 0x03
        RTCCHK  RTC_MIN, 0x00
        OK      "update interrupts, seconds advance"

        ; ------------------------------------------- UIP
        call    wait_uf                 ; just after the update to :04
        OUTB    0xA1, 0xFF
        RTCR    RTC_SEC
        mov     [secs], al
        OUTB    0x43, 0x34              ; ch0 mode 2, 5966 ticks = 5.000 ms
        OUTB    0x40, 0x4E
        OUTB    0x40, 0x17
        OUTB    0x21, 0xFA              ; a stale IRQ0 (reset mode 3) comes now
        mov     dword [cnt0], 0
.h0:    hlt
        cmp     dword [cnt0], 199
        jb      .h0
        OUTB    0x21, 0xFB
        OUTB    0x43, 0x30              ; stop channel 0
        RTCR    RTC_A
        CHKB    al, 0x26                ; 995 ms: UIP still clear
        RTCR    RTC_SEC
        CHKB    al, [secs]
        mov     al, RTC_A
        out     0x70, al
        xor     ebx, ebx
.p1:    inc     ebx
        cmp     ebx, 2000000
        ja      .nouip
        in      al, 0x71
        test    al, 0x80
        jz      .p1
        mov     [polls], ebx
        xor     ebx, ebx
.p2:    inc     ebx
        cmp     ebx, 2000000
        ja      .nouip
        in      al, 0x71
        test    al, 0x80
        jnz     .p2
        ; 244 us .. 2228 us at 768 ns per poll
        CHKR    ebx, 310, 2950
        ; ~4.74 ms left after 995 ms, at 768 ns per poll: ~6170
        CHKR    [polls], 5600, 6600
        RTCR    RTC_SEC
        mov     ah, [secs]
        inc     ah
        CHKB    al, 0x05
        cmp     al, ah
        je      .uipok
.nouip: FAIL    2, "UIP did not rise and fall around the update"
.uipok: OK      "uip toggles, seconds advance"

        ; ------------------------------------------- alarm
        OUTB    0xA1, 0xFE              ; the update to :05 is delivered now
        call    wait_uf                 ; :06
        RTCCHK  RTC_SEC, 0x06
        RTCW    RTC_SEC_ALARM, 0x08
        RTCW    RTC_MIN_ALARM, 0xC0     ; don't care
        RTCW    RTC_HOUR_ALARM, 0xFF    ; don't care
        mov     dword [afc], 0
        RTCW    RTC_B, 0x32             ; AIE | UIE
        call    wait_uf                 ; :07
        CHK     [afc], 0
        call    wait_uf                 ; :08
        CHK     [afc], 1
        mov     al, [regc]
        and     al, 0xB0
        CHKB    al, 0xB0                ; IRQF | AF | UF together
        RTCCHK  RTC_SEC, 0x08
        call    wait_uf                 ; :09
        CHK     [afc], 1
        RTCW    RTC_B, 0x12
        OK      "alarm"

        ; ------------------------------------------- periodic 1024 Hz
        RTCW    RTC_B, 0x52             ; PIE | UIE
        call    spin_uf
        mov     dword [pfc], 0
        call    spin_uf
        CHKR    [pfc], 1023, 1025
        mov     dword [pfc], 0
        call    spin_uf
        CHKR    [pfc], 1023, 1025
        RTCW    RTC_B, 0x02
        RTCR    RTC_C
        OK      "periodic 1024 Hz between updates"

        ; ------------------------------------------- SDM-only RTC checks
        cli
        SKIP_IF_QEMU_RM .sdm_done
        ; PF is set at the periodic rate even with PIE = 0, without IRQF
        RTCR    RTC_C
        SPIN    10000                   ; 2.6 ms > 976.6 us
        RTCR    RTC_C
        and     al, 0xC0
        CHKB    al, 0x40
.sdm_done:
        sti

        ; ------------------------------------------- SET, BCD, binary, 12h
        ; BCD, 24h: 1999-12-31 23:59:58 Friday
        RTCW    RTC_B, 0x82             ; SET
        RTCW    RTC_SEC, 0x58
        RTCW    RTC_MIN, 0x59
        RTCW    RTC_HOUR, 0x23
        RTCW    RTC_WDAY, 6
        RTCW    RTC_DAY, 0x31
        RTCW    RTC_MONTH, 0x12
        RTCW    RTC_YEAR, 0x99
        RTCW    RTC_CENTURY, 0x19
        RTCCHK  RTC_SEC, 0x58           ; SET: registers hold what was written
        RTCR    RTC_C
        RTCW    RTC_B, 0x12             ; run, UIE
        call    wait_uf
        RTCCHK  RTC_SEC, 0x59
        call    wait_uf
        call    check_y2k_bcd
        OK      "bcd 24h rollover"

        ; binary, 24h
        RTCW    RTC_B, 0x86             ; SET | DM | 24h
        RTCW    RTC_SEC, 58
        RTCW    RTC_MIN, 59
        RTCW    RTC_HOUR, 23
        RTCW    RTC_WDAY, 6
        RTCW    RTC_DAY, 31
        RTCW    RTC_MONTH, 12
        RTCW    RTC_YEAR, 99
        RTCW    RTC_CENTURY, 19
        RTCR    RTC_C
        RTCW    RTC_B, 0x16
        call    wait_uf
        RTCCHK  RTC_SEC, 59
        RTCCHK  RTC_MIN, 59
        RTCCHK  RTC_HOUR, 23
        call    wait_uf
        call    check_y2k_bin
        OK      "binary 24h rollover"

        ; BCD, 12h: 11:59:59 PM -> 12:00:00 AM; 11:59:59 AM -> 12:00:00 PM
        RTCW    RTC_B, 0x80             ; SET, BCD, 12h
        call    set_date_bcd            ; DM changed: rewrite every register
        RTCW    RTC_SEC, 0x59
        RTCW    RTC_MIN, 0x59
        RTCW    RTC_HOUR, 0x91          ; PM | 11
        RTCR    RTC_C
        RTCW    RTC_B, 0x10
        call    wait_uf
        RTCCHK  RTC_HOUR, 0x12          ; 12 AM
        RTCCHK  RTC_MIN, 0x00
        RTCCHK  RTC_SEC, 0x00
        RTCW    RTC_B, 0x80
        call    set_date_bcd
        RTCW    RTC_SEC, 0x59
        RTCW    RTC_MIN, 0x59
        RTCW    RTC_HOUR, 0x11          ; 11 AM
        RTCR    RTC_C
        RTCW    RTC_B, 0x10
        call    wait_uf
        RTCCHK  RTC_HOUR, 0x92          ; 12 PM
        RTCCHK  RTC_SEC, 0x00
        ; binary, 12h
        RTCW    RTC_B, 0x84             ; SET, DM, 12h
        call    set_date_bin
        RTCW    RTC_SEC, 59
        RTCW    RTC_MIN, 59
        RTCW    RTC_HOUR, 0x80 | 11     ; 11 PM
        RTCR    RTC_C
        RTCW    RTC_B, 0x14
        call    wait_uf
        RTCCHK  RTC_HOUR, 12            ; 12 AM
        RTCCHK  RTC_MIN, 0
        RTCW    RTC_B, 0x84
        call    set_date_bin
        RTCW    RTC_SEC, 59
        RTCW    RTC_MIN, 59
        RTCW    RTC_HOUR, 11            ; 11 AM
        RTCR    RTC_C
        RTCW    RTC_B, 0x14
        call    wait_uf
        RTCCHK  RTC_HOUR, 0x80 | 12     ; 12 PM
        cli
        RTCW    RTC_B, 0x02
        RTCR    RTC_C
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        OK      "12h mode"
        PASS

; 2001-06-15 (a Friday) in BCD / binary, for the 12h checks
set_date_bcd:
        RTCW    RTC_WDAY, 6
        RTCW    RTC_DAY, 0x15
        RTCW    RTC_MONTH, 0x06
        RTCW    RTC_YEAR, 0x01
        RTCW    RTC_CENTURY, 0x20
        ret
set_date_bin:
        RTCW    RTC_WDAY, 6
        RTCW    RTC_DAY, 15
        RTCW    RTC_MONTH, 6
        RTCW    RTC_YEAR, 1
        RTCW    RTC_CENTURY, 20
        ret

; after the rollover to 2000-01-01 00:00:00 (Saturday)
check_y2k_bcd:
        RTCCHK  RTC_SEC, 0x00
        RTCCHK  RTC_MIN, 0x00
        RTCCHK  RTC_HOUR, 0x00
        RTCCHK  RTC_WDAY, 7
        RTCCHK  RTC_DAY, 0x01
        RTCCHK  RTC_MONTH, 0x01
        RTCCHK  RTC_YEAR, 0x00
        ret
check_y2k_bin:
        RTCCHK  RTC_SEC, 0
        RTCCHK  RTC_MIN, 0
        RTCCHK  RTC_HOUR, 0
        RTCCHK  RTC_WDAY, 7
        RTCCHK  RTC_DAY, 1
        RTCCHK  RTC_MONTH, 1
        RTCCHK  RTC_YEAR, 0
        ret

; HLT until the next interrupt with UF (IF = 1)
wait_uf:
        push    ecx
        mov     ecx, [ufc]
.l:     hlt
        cmp     [ufc], ecx
        je      .l
        pop     ecx
        ret

; busy-wait until the next interrupt with UF (IF = 1)
spin_uf:
        push    ecx
        mov     ecx, [ufc]
.l:     cmp     [ufc], ecx
        je      .l
        pop     ecx
        ret

; 8259 pair as a BIOS sets it up; everything masked afterwards.
pic_init:
        OUTB    0x20, 0x11
        OUTB    0xA0, 0x11
        OUTB    0x21, 0x20
        OUTB    0xA1, 0x28
        OUTB    0x21, 0x04
        OUTB    0xA1, 0x02
        OUTB    0x21, 0x01
        OUTB    0xA1, 0x01
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        ret

irq0_rm:
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        inc     dword [cnt0]
        mov     al, 0x20
        out     0x20, al
        pop     ds
        pop     ax
        iret

irq8_rm:
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        inc     dword [cnt8]
        mov     al, RTC_C
        out     0x70, al
        in      al, 0x71
        mov     [regc], al
        test    al, 0x10
        jz      .nu
        inc     dword [ufc]
.nu:    test    al, 0x40
        jz      .np
        inc     dword [pfc]
.np:    test    al, 0x20
        jz      .na
        inc     dword [afc]
.na:    mov     al, 0x20
        out     0xA0, al
        out     0x20, al
        pop     ds
        pop     ax
        iret

CODE32
; With a local APIC (CPUID.1:EDX[9]) LVT LINT0 is masked after reset (SDM
; 10.4.7.1) and 8259 interrupts would not reach the core: set up virtual
; wire mode as a BIOS does (SVR enable, LINT0 ExtINT, LINT1 NMI).  Then
; back to real mode (DS/ES/FS/GS = 0, SP = STACK16_TOP) at rm_main.
apic_virtual_wire:
        mov     eax, 1
        cpuid
        test    edx, 1 << 9
        jz      .none
        mov     dword [0xFEE000F0], 0x1FF
        mov     dword [0xFEE00350], 0x700
        mov     dword [0xFEE00360], 0x400
.none:  jmp     SEL_CODE16:back_to_rm
CODE16
back_to_rm:
        mov     ax, SEL_DATA16
        mov     ss, ax
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        lidt    [cs:lib_rm_idtr]
        mov     eax, cr0
        and     al, ~1
        mov     cr0, eax
        jmp     0xF000:.real
.real:  xor     ax, ax
        mov     ss, ax
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     esp, STACK16_TOP
        jmp     rm_main
