; emu-flags: -icount shift=3,align=off,sleep=off -rtc clock=vm
; pic.asm - the 8259A pair from bare metal: initialisation, masking, EOI,
; priority, cascade through the slave, polled mode, AEOI, in real and
; protected mode.  Interrupt sources: PIT channel 0 (IRQ0) and the RTC
; periodic interrupt (IRQ8, REG_B PIE).  Deterministic time
; (-icount shift=3: 8 ns per instruction; QEMU needs -rtc clock=vm for its
; RTC to follow the virtual clock).
;
;  1. ICW1-4 as a BIOS does (vectors 0x20/0x28, slave on IR2); IMR read
;     back; OCW3 selects IRR or ISR for reads of port 0x20/0xA0.
;  2. a masked IRQ0 is latched in the IRR but not delivered; unmasking
;     delivers the pending request at once.
;  3. without EOI the in-service IRQ0 blocks further IRQ0s; non-specific
;     EOI releases it; a specific EOI for another level does not, the
;     right one does.
;  4. RTC periodic interrupt at 8192 Hz through the slave: count, period
;     (iterations between IRQ8s match 122.07 us), REG_C = IRQF|PF and
;     reading REG_C acknowledges it (no new IRQ8 until it is read).
;  5. priority: IRQ0 and IRQ8 pending together arrive IRQ0 first; an
;     in-service IRQ0 holds IRQ8 off until its EOI; IRQ0 preempts an
;     in-service IRQ8 (master IR0 above the cascade IR2).
;  6. polled mode (OCW3 P): I bit and level, acknowledge sets ISR, masked
;     or no request reads I=0; cascade: master reports level 2, the slave
;     its level 0.
;  7. automatic EOI (ICW4 AEOI): handler without EOI keeps getting IRQ0s.
;  8. protected mode: priority order IRQ0 before IRQ8 and IRQ8 count
;     through IDT gates.

%include "lib.inc"

VARS            equ 0x2000
cnt0            equ VARS+0x00           ; IRQ0 count
cnt8            equ VARS+0x04           ; IRQ8 count
eoi0            equ VARS+0x08           ; IRQ0 handler sends EOI if nonzero
ack8            equ VARS+0x0C           ; IRQ8 handler reads REG_C if nonzero
regc            equ VARS+0x10           ; last REG_C read by the handler
log_idx         equ VARS+0x14           ; word
log_buf         equ VARS+0x18           ; 16 bytes of event codes

RTC_A           equ 0x0A
RTC_B           equ 0x0B
RTC_C           equ 0x0C

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

; OUTB port, value (clobbers al)
%macro OUTB 2.nolist
        mov     al, %2
        out     %1, al
%endmacro

; RDREG port, ocw3: read IRR (0x0A) or ISR (0x0B) of a chip into al
%macro RDREG 2.nolist
        mov     al, %2
        out     %1, al
        in      al, %1
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

; start a new event log
%macro LOGRESET 0.nolist
        mov     word [log_idx], 0
        mov     dword [log_buf], 0
        mov     dword [log_buf+4], 0
%endmacro

CODE16
start:
        INIT16
        PUTS    "pic: start"
        ENTER_PM32 apic_virtual_wire    ; returns to rm_main in real mode
rm_main:
        mov     word [0x20*4], irq0_rm
        mov     word [0x20*4+2], 0xF000
        mov     word [0x28*4], irq8_rm
        mov     word [0x28*4+2], 0xF000
        mov     dword [cnt0], 0
        mov     dword [cnt8], 0
        mov     dword [eoi0], 1
        mov     dword [ack8], 1

        ; ------------------------------------------- init, IMR, IRR/ISR
        call    pic_init
        in      al, 0x21
        CHKB    al, 0xFF
        OUTB    0x21, 0xA5
        OUTB    0xA1, 0x5A
        in      al, 0x21
        CHKB    al, 0xA5
        in      al, 0xA1
        CHKB    al, 0x5A
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        RDREG   0x20, 0x0B
        CHKB    al, 0                   ; ISR
        RDREG   0xA0, 0x0B
        CHKB    al, 0
        OK      "init and imr"

        ; ------------------------------------------- masked IRQ0 is latched
        OUTB    0x43, 0x34              ; ch0 mode 2, count 100 = 83.8 us
        OUTB    0x40, 100
        OUTB    0x40, 0
        SPIN    20000                   ; 4 periods
        RDREG   0x20, 0x0A              ; IRR
        and     al, 0x01
        CHKB    al, 0x01
        RDREG   0x20, 0x0B              ; ISR
        CHKB    al, 0
        in      al, 0x20                ; the read selection stays ISR
        CHKB    al, 0
        OK      "irr latches a masked request"

        sti
        SPIN    20000
        CHK     [cnt0], 0               ; masked: not delivered
        OUTB    0x21, 0xFE              ; unmask: the pending IRQ0 arrives
        nop
        cli
        CHK     [cnt0], 1
        sti
.h5:    hlt
        cmp     dword [cnt0], 6
        jb      .h5
        cli
        CHK     [cnt0], 6
        OK      "mask and unmask"

        ; ------------------------------------------- EOI
        mov     dword [eoi0], 0         ; handler leaves ISR set
        mov     dword [cnt0], 0
        sti
        hlt
        CHK     [cnt0], 1
        SPIN    40000                   ; 8 periods: IR0 blocked by its ISR
        CHK     [cnt0], 1
        RDREG   0x20, 0x0B
        CHKB    al, 0x01
        RDREG   0x20, 0x0A
        and     al, 0x01
        CHKB    al, 0x01                ; pending in IRR
        OUTB    0x20, 0x20              ; non-specific EOI
        nop
        CHK     [cnt0], 2               ; the pending one arrived
        RDREG   0x20, 0x0B
        CHKB    al, 0x01
        SPIN    20000
        OUTB    0x20, 0x61              ; specific EOI, level 1: no effect
        nop
        CHK     [cnt0], 2
        RDREG   0x20, 0x0B
        CHKB    al, 0x01
        OUTB    0x20, 0x60              ; specific EOI, level 0
        nop
        CHK     [cnt0], 3
        mov     dword [eoi0], 1
        OUTB    0x20, 0x60
        cli
        OUTB    0x21, 0xFF
        OK      "eoi and specific eoi"

        ; ------------------------------------------- RTC periodic, cascade
        RTCR    RTC_C                   ; clear stale flags
        RTCW    RTC_A, 0x23             ; 32.768 kHz base, rate 3: 8192 Hz
        RTCW    RTC_B, 0x42             ; PIE, 24h, BCD
        OUTB    0x21, 0xFB              ; unmask IR2 (cascade)
        OUTB    0xA1, 0xFE              ; unmask IRQ8
        sti
.h8:    hlt
        cmp     dword [cnt8], 5
        jb      .h8
        CHK     [cnt8], 5
        CHKB    [regc], 0xC0            ; IRQF | PF
        call    wait_irq8
        call    wait_irq8
        ; 122070 ns = 15259 instructions, 3 per iteration
        CHKR    ebx, 4980, 5180
        call    wait_irq8
        CHKR    ebx, 4980, 5180
        OK      "rtc periodic irq8 via slave"

        ; REG_C not read: IRQ8 stays asserted, no new edge
        mov     dword [ack8], 0
        mov     dword [cnt8], 0
        hlt
        CHK     [cnt8], 1
        SPIN    40000                   ; 5 periods
        CHK     [cnt8], 1
        RTCR    RTC_C
        CHKB    al, 0xC0
        SPIN    20000
        CHK     [cnt8], 2
        RTCR    RTC_C
        CHKB    al, 0xC0
        RTCR    RTC_C
        CHKB    al, 0x00                ; reading cleared the flags
        cli
        mov     dword [ack8], 1
        RTCW    RTC_B, 0x02             ; PIE off
        RTCR    RTC_C
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        OK      "reg c acknowledges irq8"

        ; ------------------------------------------- priority
        ; both pending while masked, then unmasked together
        OUTB    0x43, 0x30              ; ch0 mode 0 (OUT low)
        call    drain
        LOGRESET
        RTCW    RTC_B, 0x42
        mov     word [0x28*4], irq8_once
        OUTB    0xA1, 0xFE              ; slave: IRQ8 unmasked, INT -> IR2
        OUTB    0x40, 50                ; one-shot, 42 us
        OUTB    0x40, 0
        SPIN    20000                   ; 320 us: both have fired
        RDREG   0x20, 0x0A
        and     al, 0x05
        CHKB    al, 0x05                ; IR0 and IR2 (slave INT) requested
        RDREG   0xA0, 0x0A
        and     al, 0x01
        CHKB    al, 0x01
        OUTB    0x21, 0xFA
        sti
        nop
        nop
        cli
        CHKW    [log_idx], 2
        CHKW    [log_buf], 0x0800       ; IRQ0 then IRQ8
        OK      "priority irq0 before irq8"

        ; an in-service IRQ0 holds IRQ8 off until its EOI
        OUTB    0xA1, 0xFF              ; irq0_nest unmasks IRQ8
        RTCR    RTC_C
        OUTB    0x43, 0x30
        call    drain
        LOGRESET
        mov     word [0x20*4], irq0_nest
        OUTB    0x40, 50
        OUTB    0x40, 0
        sti
.hn:    hlt
        cmp     word [log_idx], 4
        jb      .hn
        cli
        CHKW    [log_idx], 4
        CHK     [log_buf], 0x12081110   ; 10 11 | 08 | 12
        OK      "in-service irq0 blocks irq8"

        ; IRQ0 preempts an in-service IRQ8
        mov     word [0x20*4], irq0_rm
        mov     word [0x28*4], irq8_nest
        OUTB    0x43, 0x30
        call    drain
        LOGRESET
        RTCR    RTC_C
        OUTB    0xA1, 0xFE
        sti
.hp:    hlt
        cmp     word [log_idx], 3
        jb      .hp
        cli
        CHKW    [log_idx], 3
        CHK     [log_buf], 0x00210020   ; 20 | 00 | 21
        RTCW    RTC_B, 0x02
        RTCR    RTC_C
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        mov     word [0x28*4], irq8_rm
        OK      "irq0 preempts in-service irq8"

        ; ------------------------------------------- polled mode
        OUTB    0x43, 0x34              ; ch0 mode 2, count 100
        OUTB    0x40, 100
        OUTB    0x40, 0
        OUTB    0x21, 0xFE              ; unmasked, but IF=0
        SPIN    20000
        OUTB    0x20, 0x0C              ; OCW3 poll
        in      al, 0x20
        CHKB    al, 0x80                ; I=1, level 0
        RDREG   0x20, 0x0B
        CHKB    al, 0x01                ; the poll acknowledged it
        OUTB    0x20, 0x20
        OUTB    0x20, 0x0C
        in      al, 0x20
        and     al, 0x80
        CHKB    al, 0                   ; nothing requested yet
        OUTB    0x21, 0xFF              ; masked requests are not polled
        SPIN    20000
        OUTB    0x20, 0x0C
        in      al, 0x20
        and     al, 0x80
        CHKB    al, 0
        OUTB    0x43, 0x30              ; stop IRQ0 edges
        ; cascade: RTC request seen as level 2 on the master, 0 on the slave
        RTCR    RTC_C
        RTCW    RTC_B, 0x42
        OUTB    0x21, 0xFB
        OUTB    0xA1, 0xFE
        SPIN    20000
        OUTB    0x20, 0x0C
        in      al, 0x20
        CHKB    al, 0x82
        OUTB    0xA0, 0x0C
        in      al, 0xA0
        CHKB    al, 0x80
        RDREG   0xA0, 0x0B
        CHKB    al, 0x01
        RDREG   0x20, 0x0B
        CHKB    al, 0x04
        RTCR    RTC_C
        CHKB    al, 0xC0
        OUTB    0xA0, 0x60              ; specific EOIs
        OUTB    0x20, 0x62
        RDREG   0xA0, 0x0B
        CHKB    al, 0
        RDREG   0x20, 0x0B
        CHKB    al, 0
        RTCW    RTC_B, 0x02
        RTCR    RTC_C
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        OK      "polled mode"

        ; ------------------------------------------- automatic EOI
        OUTB    0x20, 0x11
        OUTB    0x21, 0x20
        OUTB    0x21, 0x04
        OUTB    0x21, 0x03              ; ICW4: AEOI, 8086
        OUTB    0x21, 0xFF
        mov     dword [eoi0], 0
        OUTB    0x43, 0x34
        OUTB    0x40, 100
        OUTB    0x40, 0
        mov     dword [cnt0], 0
        OUTB    0x21, 0xFE
        sti
.ha:    hlt
        cmp     dword [cnt0], 3
        jb      .ha
        cli
        CHK     [cnt0], 3
        RDREG   0x20, 0x0B
        CHKB    al, 0                   ; nothing stays in service
        mov     dword [eoi0], 1
        call    pic_init
        OK      "automatic eoi"

        ENTER_PM32 pm_start

; ---- real-mode helpers

; 8259 pair as a BIOS sets it up; everything masked afterwards.
pic_init:
        OUTB    0x20, 0x11              ; ICW1: edge, cascade, ICW4
        OUTB    0xA0, 0x11
        OUTB    0x21, 0x20              ; ICW2: vectors 0x20-0x27
        OUTB    0xA1, 0x28              ;       vectors 0x28-0x2F
        OUTB    0x21, 0x04              ; ICW3: slave on IR2
        OUTB    0xA1, 0x02              ;       slave id 2
        OUTB    0x21, 0x01              ; ICW4: 8086 mode
        OUTB    0xA1, 0x01
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        ret

; Deliver any IRQ0 already latched in the IRR (IF=0 on entry and exit).
drain:
        push    ax
        in      al, 0x21
        push    ax
        OUTB    0x21, 0xFE
        sti
        nop
        nop
        cli
        pop     ax
        out     0x21, al
        pop     ax
        ret

; Wait for the next IRQ8; ebx = iterations (3 instructions each).
wait_irq8:
        mov     ecx, [cnt8]
        xor     ebx, ebx
.w:     inc     ebx
        cmp     [cnt8], ecx
        je      .w
        ret

; al = event code -> log (DS = 0)
log_ev:
        push    bx
        mov     bx, [log_idx]
        and     bx, 15
        mov     [log_buf+bx], al
        inc     word [log_idx]
        pop     bx
        ret

irq0_rm:
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        inc     dword [cnt0]
        mov     al, 0x00
        call    log_ev
        cmp     dword [eoi0], 0
        je      .n
        mov     al, 0x20
        out     0x20, al
.n:     pop     ds
        pop     ax
        iret

irq8_rm:
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        inc     dword [cnt8]
        cmp     dword [ack8], 0
        je      .n
        mov     al, RTC_C
        out     0x70, al
        in      al, 0x71
        mov     [regc], al
.n:     mov     al, 0x20
        out     0xA0, al
        out     0x20, al
        pop     ds
        pop     ax
        iret

; IRQ8 that logs 0x08, acknowledges and masks itself
irq8_once:
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        mov     al, 0x08
        call    log_ev
        mov     al, RTC_C
        out     0x70, al
        in      al, 0x71
        in      al, 0xA1
        or      al, 0x01
        out     0xA1, al
        mov     al, 0x20
        out     0xA0, al
        out     0x20, al
        pop     ds
        pop     ax
        iret

; IRQ0 that lets IRQ8 become pending while it is in service
irq0_nest:
        push    ax
        push    ecx
        push    ds
        xor     ax, ax
        mov     ds, ax
        mov     al, 0x10
        call    log_ev
        OUTB    0xA1, 0xFE              ; IRQ8 unmasked
        sti
        SPIN    20000                   ; 320 us: 2+ RTC periods
        mov     al, 0x11
        call    log_ev
        OUTB    0x20, 0x20              ; EOI: IRQ8 may now come in
        nop
        nop
        cli
        mov     al, 0x12
        call    log_ev
        pop     ds
        pop     ecx
        pop     ax
        iret

; IRQ8 that lets IRQ0 (one-shot, 42 us) fire while IRQ8 is in service
irq8_nest:
        push    ax
        push    ecx
        push    ds
        xor     ax, ax
        mov     ds, ax
        mov     al, 0x20
        call    log_ev
        mov     al, RTC_C
        out     0x70, al
        in      al, 0x71
        OUTB    0xA1, 0xFF              ; no second IRQ8
        OUTB    0x21, 0xFA
        OUTB    0x40, 50
        OUTB    0x40, 0
        sti
        SPIN    10000                   ; 160 us
        cli
        mov     al, 0x21
        call    log_ev
        OUTB    0xA0, 0x20
        OUTB    0x20, 0x20
        pop     ds
        pop     ecx
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

CODE32
pm_start:
        IDT_SET 0x20, SEL_CODE32, irq0_pm, 0x8E
        IDT_SET 0x28, SEL_CODE32, irq8_pm, 0x8E
        ; priority: both pending while masked
        LOGRESET
        mov     dword [cnt8], 0
        OUTB    0x43, 0x30
        OUTB    0x40, 50
        OUTB    0x40, 0
        RTCR    RTC_C
        RTCW    RTC_B, 0x42
        SPIN    20000
        OUTB    0xA1, 0xFE
        OUTB    0x21, 0xFA
        sti
        nop
        nop
        cli
        CHKW    [log_buf], 0x0800
        OK      "pm: priority irq0 before irq8"
        sti
.h8:    hlt
        cmp     dword [cnt8], 5
        jb      .h8
        cli
        CHKB    [regc], 0xC0
        RTCW    RTC_B, 0x02
        RTCR    RTC_C
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        OK      "pm: rtc periodic irq8"
        PASS

log_ev32:
        push    ebx
        movzx   ebx, word [log_idx]
        and     ebx, 15
        mov     [log_buf+ebx], al
        inc     word [log_idx]
        pop     ebx
        ret

irq0_pm:
        push    eax
        inc     dword [cnt0]
        mov     al, 0x00
        call    log_ev32
        OUTB    0x20, 0x20
        pop     eax
        iretd

irq8_pm:
        push    eax
        inc     dword [cnt8]
        mov     al, 0x08
        call    log_ev32
        RTCR    RTC_C
        mov     [regc], al
        OUTB    0xA0, 0x20
        OUTB    0x20, 0x20
        pop     eax
        iretd
