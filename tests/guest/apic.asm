; emu-flags: -icount shift=3,align=off,sleep=off
; apic.asm - the local APIC (0xFEE00000) and the I/O APIC (0xFEC00000) from
; bare metal, 32-bit protected mode, paging off, in deterministic time
; (-icount shift=3: 8 ns per instruction).  Checks (SDM vol. 3 ch. 10,
; 82093AA datasheet):
;  1. CPUID.1:EDX[9], IA32_APIC_BASE = 0xFEE00900, version 0x14 / max LVT,
;     ID, reset values of SVR, TPR, DFR, LVT timer.
;  2. SVR software enable with spurious vector 0xEF; TPR/PPR read/write.
;  3. timer: divide configuration (÷1 vs ÷16 rate of the current count),
;     one-shot (one interrupt at the vector, current count falls to 0, IRR
;     while IF=0), ISR bit and PPR in the handler, clear after EOI;
;     periodic (HLT wake-ups = interrupts, count over a busy-wait window);
;     no second same-class interrupt before EOI, a higher class preempts;
;     masked LVT: no interrupt, the count keeps running.
;  4. self IPI through the ICR (fixed, shorthand self): IRR, then ISR in the
;     handler, clear after EOI.
;  5. TPR masking: a self IPI of class <= TPR class stays in IRR until TPR
;     is lowered.
;  6. I/O APIC: max redirection entry 23 (version 0x11 as the 82093AA;
;     not checked under QEMU 7.2, whose pc I/O APIC is version 0x20);
;     pin 2 (ISA IRQ0) edge to a vector with the 8259 fully masked; masking the entry stops them; an
;     edge on a masked pin is lost.
;  7. LINT0 ExtINT (virtual wire): the PIT interrupt arrives with the 8259's
;     vector, no local APIC ISR bit; LINT0 masked: held in the 8259 IRR,
;     delivered once LINT0 is unmasked.
; The local APIC timer counts at 1 GHz / divisor in both emulators.

%include "lib.inc"

LAPIC           equ 0xFEE00000
IOAPIC          equ 0xFEC00000

L_ID            equ 0x020
L_VER           equ 0x030
L_TPR           equ 0x080
L_PPR           equ 0x0A0
L_EOI           equ 0x0B0
L_DFR           equ 0x0E0
L_SVR           equ 0x0F0
L_ISR           equ 0x100
L_TMR           equ 0x180
L_IRR           equ 0x200
L_ICRLO         equ 0x300
L_ICRHI         equ 0x310
L_LVTT          equ 0x320
L_LINT0         equ 0x350
L_LINT1         equ 0x360
L_LVTERR        equ 0x370
L_TICR          equ 0x380
L_TCCR          equ 0x390
L_TDCR          equ 0x3E0

V_TIMER         equ 0x40                ; class 4
V_IPI           equ 0x50                ; class 5
V_TPR           equ 0x55                ; class 5
V_IOAPIC        equ 0x60
V_PIC0          equ 0x20                ; 8259 master base
V_SPUR          equ 0xEF

VARS            equ 0x2000
cnt_t           equ VARS+0x00           ; timer interrupts
cnt_i           equ VARS+0x04           ; self IPI (V_IPI)
cnt_p           equ VARS+0x08           ; TPR test IPI (V_TPR)
cnt_io          equ VARS+0x0C           ; I/O APIC pin 2
cnt_pic         equ VARS+0x10           ; 8259 IRQ0 via ExtINT
cnt_sp          equ VARS+0x14           ; spurious
eoi_t           equ VARS+0x18           ; timer handler writes EOI if nonzero
isr_in          equ VARS+0x20           ; ISR word of the vector, in handler
irr_in          equ VARS+0x24           ; IRR word of the vector, in handler
ppr_in          equ VARS+0x28           ; PPR in handler
isr_out         equ VARS+0x2C           ; ISR word after EOI
tmr_in          equ VARS+0x30           ; TMR word in handler
wakeups         equ VARS+0x34
tmp1            equ VARS+0x38
tmp2            equ VARS+0x3C

; CHKR op32, lo, hi: lo <= op32 <= hi (unsigned).  Assemble with
; -DSHOWVALS to print every measured value.
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

%macro OUTB 2.nolist
        mov     al, %2
        out     %1, al
%endmacro

; local APIC register write: LW reg, value
%macro LW 2.nolist
        mov     dword [LAPIC+%1], %2
%endmacro

; take any pending interrupt (IF=0 on entry and exit)
%macro WINDOW 0.nolist
        sti
        nop
        nop
        cli
%endmacro

; I/O APIC register write / read: IOW reg, value ; IOR reg (-> eax)
%macro IOW 2.nolist
        mov     dword [IOAPIC], %1
        mov     dword [IOAPIC+0x10], %2
%endmacro
%macro IOR 1.nolist
        mov     dword [IOAPIC], %1
        mov     eax, [IOAPIC+0x10]
%endmacro

; local APIC handler: counter, ISR/IRR/TMR offset of the vector's word,
; bit mask unused here (whole words are saved), EOI condition
;   APIC_HANDLER name, counter, word offset (0x10*(vec/32)), eoi var or 1
%macro APIC_HANDLER 4
%1:
        push    eax
        inc     dword [%2]
        mov     eax, [LAPIC+L_ISR+%3]
        mov     [isr_in], eax
        mov     eax, [LAPIC+L_IRR+%3]
        mov     [irr_in], eax
        mov     eax, [LAPIC+L_TMR+%3]
        mov     [tmr_in], eax
        mov     eax, [LAPIC+L_PPR]
        mov     [ppr_in], eax
%ifnidn %4, 1
        cmp     dword [%4], 0
        je      %%n
%endif
        mov     dword [LAPIC+L_EOI], 0
        mov     eax, [LAPIC+L_ISR+%3]
        mov     [isr_out], eax
%%n:    pop     eax
        iretd
%endmacro

CODE16
start:
        INIT16
        PUTS    "apic: start"
        ENTER_PM32 pm_main

CODE32
pm_main:
        IDT_SET V_TIMER, SEL_CODE32, h_timer, 0x8E
        IDT_SET V_IPI, SEL_CODE32, h_ipi, 0x8E
        IDT_SET V_TPR, SEL_CODE32, h_tpr, 0x8E
        IDT_SET V_IOAPIC, SEL_CODE32, h_ioapic, 0x8E
        IDT_SET V_PIC0, SEL_CODE32, h_pic0, 0x8E
        IDT_SET V_SPUR, SEL_CODE32, h_spur, 0x8E
        IDT_SET 0xFF, SEL_CODE32, h_spur, 0x8E
        mov     edi, VARS
        mov     ecx, 0x40
        xor     eax, eax
        rep     stosb
        mov     dword [eoi_t], 1
        call    pic_init                ; 8259 pair at 0x20/0x28, all masked

        ; ------------------------------------------- identification
        mov     eax, 1
        cpuid
        and     edx, 1 << 9
        CHK     edx, 1 << 9
        OK      "cpuid.1 edx.apic"
        mov     ecx, 0x1B
        rdmsr
        SHOW    "ia32_apic_base", eax
        CHK     eax, 0xFEE00900         ; base, BSP, global enable
        CHK     edx, 0
        mov     eax, [LAPIC+L_VER]
        SHOW    "lapic version", eax
        CHKB    al, 0x14
        shr     eax, 16
        and     eax, 0xFF
        SHOW    "max lvt", eax
        mov     eax, [LAPIC+L_ID]
        SHOW    "lapic id", eax
        CHK     [LAPIC+L_SVR], 0xFF     ; SDM 10.4.7.1 reset values
        CHK     [LAPIC+L_TPR], 0
        CHK     [LAPIC+L_DFR], 0xFFFFFFFF
        CHK     [LAPIC+L_LVTT], 0x10000
        CHK     [LAPIC+L_TICR], 0
        CHK     [LAPIC+L_TCCR], 0
        CHK     [LAPIC+L_LINT1], 0x10000
        CHK     [LAPIC+L_LVTERR], 0x10000
        ; SDM 10.4.7.1: every LVT entry reads 0x00010000 (masked) after
        ; reset, LINT0 included (QEMU 7.2 agrees)
        CHK     [LAPIC+L_LINT0], 0x10000
        OK      "reset values"

        ; ------------------------------------------- SVR, TPR
        LW      L_SVR, 0x100 | V_SPUR   ; software enable, spurious 0xEF
        CHK     [LAPIC+L_SVR], 0x1EF
        LW      L_TPR, 0xAB
        CHK     [LAPIC+L_TPR], 0xAB
        CHK     [LAPIC+L_PPR], 0xAB     ; nothing in service: PPR = TPR
        LW      L_TPR, 0x12345630
        CHK     [LAPIC+L_TPR], 0x30     ; bits 7:0 only
        LW      L_TPR, 0
        CHK     [LAPIC+L_PPR], 0
        OK      "svr enable, tpr"

        ; ------------------------------------------- timer divide
        LW      L_LVTT, 0x10000 | V_TIMER   ; masked one-shot
        LW      L_TDCR, 0x0B            ; divide by 1
        CHK     [LAPIC+L_TDCR], 0x0B
        LW      L_TICR, 1000000
        mov     ebx, [LAPIC+L_TCCR]
        SPIN    1000                    ; 2000 insns = 16000 ns
        mov     eax, [LAPIC+L_TCCR]
        sub     ebx, eax
        CHKR    ebx, 15900, 16400
        LW      L_TDCR, 0x03            ; divide by 16
        CHK     [LAPIC+L_TDCR], 0x03
        LW      L_TICR, 1000000         ; reload: counts from 1000000
        mov     ebx, [LAPIC+L_TCCR]
        CHKR    ebx, 999990, 1000000
        SPIN    1000
        mov     eax, [LAPIC+L_TCCR]
        sub     ebx, eax
        CHKR    ebx, 995, 1025
        LW      L_TICR, 0               ; stops the timer
        CHK     [LAPIC+L_TCCR], 0
        OK      "timer divide configuration"

        ; ------------------------------------------- one-shot
        ; 5000 counts at /16 = 80 us = 10000 instructions
        LW      L_LVTT, V_TIMER         ; one-shot, unmasked
        LW      L_TICR, 5000
        mov     ebx, [LAPIC+L_TCCR]
        CHKR    ebx, 4990, 5000
        SPIN    1000
        mov     eax, [LAPIC+L_TCCR]
        CHKR    eax, 3975, 4010         ; decreasing
        CHK     [LAPIC+L_IRR+0x20], 0   ; not expired yet
        CHK     [cnt_t], 0
        sti
.h1:    hlt
        cmp     dword [cnt_t], 1
        jb      .h1
        cli
        CHK     [cnt_t], 1
        CHK     [LAPIC+L_TCCR], 0       ; reached 0 and stays there
        CHK     [isr_in], 1             ; vector 0x40 in service in handler
        CHK     [irr_in], 0
        CHK     [tmr_in], 0             ; edge
        CHK     [ppr_in], 0x40          ; PPR = class of the ISR vector
        CHK     [isr_out], 0            ; EOI cleared it
        CHK     [LAPIC+L_ISR+0x20], 0
        sti
        SPIN    30000                   ; 6 periods: no second interrupt
        cli
        CHK     [cnt_t], 1
        CHK     [LAPIC+L_TCCR], 0
        OK      "one-shot: one interrupt, count reaches 0"

        ; expiry with IF=0: pending in IRR, delivered on STI
        mov     dword [cnt_t], 0
        LW      L_TICR, 2000            ; 32 us = 4000 instructions
        SPIN    2500
        CHK     [LAPIC+L_TCCR], 0
        CHK     [LAPIC+L_IRR+0x20], 1
        CHK     [LAPIC+L_ISR+0x20], 0
        CHK     [cnt_t], 0
        WINDOW
        CHK     [cnt_t], 1
        CHK     [isr_in], 1
        CHK     [irr_in], 0
        CHK     [LAPIC+L_IRR+0x20], 0
        CHK     [LAPIC+L_ISR+0x20], 0
        OK      "one-shot: irr while if=0, isr in handler, eoi"

        ; ------------------------------------------- periodic
        ; 2500 counts at /16 = 40 us = 5000 instructions per period
        mov     dword [cnt_t], 0
        mov     dword [wakeups], 0
        LW      L_LVTT, 0x20000 | V_TIMER
        CHK     [LAPIC+L_LVTT], 0x20040
        LW      L_TICR, 2500
        sti
.h10:   hlt
        inc     dword [wakeups]
        cmp     dword [cnt_t], 10
        jb      .h10
        cli
        CHK     [cnt_t], 10
        CHK     [wakeups], 10           ; the timer is the only source
        mov     eax, [LAPIC+L_TCCR]
        CHKR    eax, 0, 2500
        ; busy-wait window: 100000 instructions = 800 us = 20 periods
        mov     dword [cnt_t], 0
        sti
        SPIN    50000
        cli
        CHKR    [cnt_t], 19, 21
        OK      "periodic: 10 interrupts, 20 per 800 us"

        ; ------------------------------------------- EOI gates same class
        mov     dword [eoi_t], 0        ; handler leaves 0x40 in service
        mov     dword [cnt_t], 0
        sti
.h2:    hlt
        cmp     dword [cnt_t], 1
        jb      .h2
        SPIN    15000                   ; 6 periods
        cli
        CHK     [cnt_t], 1              ; blocked by its own ISR bit
        CHK     [LAPIC+L_ISR+0x20], 1
        CHK     [LAPIC+L_IRR+0x20], 1   ; the next one waits in IRR
        CHK     [LAPIC+L_PPR], 0x40
        ; a higher class (self IPI 0x50) preempts the in-service 0x40
        mov     dword [cnt_i], 0
        LW      L_ICRHI, 0
        LW      L_ICRLO, 0x00044000 | V_IPI
        WINDOW
        CHK     [cnt_i], 1
        CHK     [isr_in], 0x00010001    ; 0x50 and 0x40 both in service
        CHK     [ppr_in], 0x50
        CHK     [isr_out], 1            ; EOI cleared the highest (0x50)
        CHK     [cnt_t], 1
        ; EOI for 0x40: the pending timer interrupt comes in
        mov     dword [eoi_t], 1
        LW      L_EOI, 0
        CHK     [LAPIC+L_ISR+0x20], 0
        WINDOW
        CHK     [cnt_t], 2
        CHK     [isr_out], 0
        OK      "eoi required before the next same-class interrupt"

        ; ------------------------------------------- masked LVT timer
        LW      L_LVTT, 0x30000 | V_TIMER   ; masked, periodic
        WINDOW                          ; anything already latched
        mov     dword [cnt_t], 0
        sti
        SPIN    15000                   ; 6 periods
        cli
        CHK     [cnt_t], 0
        CHK     [LAPIC+L_IRR+0x20], 0
        mov     ebx, [LAPIC+L_TCCR]
        SPIN    100
        mov     eax, [LAPIC+L_TCCR]
        cmp     eax, ebx
        jne     .runs
        FAIL    2, "masked timer: current count does not change"
.runs:  LW      L_LVTT, 0x20000 | V_TIMER   ; unmasked again
        sti
.h3:    hlt
        cmp     dword [cnt_t], 2
        jb      .h3
        cli
        CHK     [cnt_t], 2
        LW      L_LVTT, 0x10000 | V_TIMER
        LW      L_TICR, 0
        WINDOW
        CHK     [LAPIC+L_IRR+0x20], 0
        CHK     [LAPIC+L_ISR+0x20], 0
        OK      "masked lvt timer: no interrupt"

        ; ------------------------------------------- self IPI
        mov     dword [cnt_i], 0
        LW      L_ICRHI, 0
        LW      L_ICRLO, 0x00044000 | V_IPI ; self, assert, edge, fixed
        CHK     [LAPIC+L_ICRLO], 0x00044000 | V_IPI ; delivery status idle
        CHK     [LAPIC+L_IRR+0x20], 0x00010000
        CHK     [LAPIC+L_ISR+0x20], 0
        CHK     [cnt_i], 0
        WINDOW
        CHK     [cnt_i], 1
        CHK     [isr_in], 0x00010000
        CHK     [irr_in], 0
        CHK     [tmr_in], 0
        CHK     [ppr_in], 0x50
        CHK     [isr_out], 0
        CHK     [LAPIC+L_IRR+0x20], 0
        OK      "self ipi"

        ; ------------------------------------------- TPR masking
        mov     dword [cnt_p], 0
        LW      L_TPR, 0x60             ; class 6 > class 5
        LW      L_ICRLO, 0x00044000 | V_TPR
        CHK     [LAPIC+L_IRR+0x20], 0x00200000
        WINDOW
        CHK     [cnt_p], 0
        CHK     [LAPIC+L_PPR], 0x60
        LW      L_TPR, 0x5F             ; same class: still blocked
        WINDOW
        CHK     [cnt_p], 0
        CHK     [LAPIC+L_IRR+0x20], 0x00200000
        LW      L_TPR, 0x4F             ; below: delivered
        WINDOW
        CHK     [cnt_p], 1
        CHK     [isr_in], 0x00200000
        CHK     [ppr_in], 0x50          ; ISR class above TPR class
        CHK     [LAPIC+L_IRR+0x20], 0
        CHK     [LAPIC+L_ISR+0x20], 0
        LW      L_TPR, 0
        OK      "tpr holds a self ipi in irr"

        ; ------------------------------------------- I/O APIC
        IOR     1
        ; 82093AA datasheet 3.2.2: version 0x11.  QEMU 7.2's pc machine
        ; models a later I/O APIC (version 0x20, ioapic.version property):
        ; only the max redirection entry is printed, the version byte is
        ; checked outside QEMU.
        SKIP_IF_QEMU .iover
        CHKB    al, 0x11
.iover: shr     eax, 16
        and     eax, 0xFF
        SHOW    "ioapic max redir entry", eax
        IOR     0                       ; I/O APIC ID
        CHK     eax, 0
        IOR     0x14                    ; pin 2, low dword
        CHK     eax, 0x10000            ; masked at reset
        IOW     0x15, 0                 ; destination APIC 0
        IOW     0x14, V_IOAPIC          ; fixed, physical, edge, unmasked
        IOR     0x14
        CHK     eax, V_IOAPIC
        IOR     0x15
        CHK     eax, 0
        ; PIT channel 0 mode 2, count 1193 (~1 ms = 125000 instructions);
        ; the 8259 stays fully masked
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        mov     dword [cnt_io], 0
        OUTB    0x43, 0x34
        OUTB    0x40, 0xA9
        OUTB    0x40, 0x04
        sti
.h5:    hlt
        cmp     dword [cnt_io], 5
        jb      .h5
        cli
        CHK     [cnt_io], 5
        CHK     [cnt_pic], 0
        CHK     [isr_in], 1             ; vector 0x60 in service
        CHK     [tmr_in], 0             ; edge
        CHK     [isr_out], 0
        OK      "ioapic: pin 2 (irq0) to vector 0x60"
        ; masked entry: no more interrupts
        IOW     0x14, 0x10000 | V_IOAPIC
        IOR     0x14
        CHK     eax, 0x10000 | V_IOAPIC
        mov     dword [cnt_io], 0
        sti
        SPIN    400000                  ; 6.4 periods
        cli
        CHK     [cnt_io], 0
        ; edges while masked are lost (datasheet 3.2.4): unmask, nothing
        ; pending, then the next edge arrives
        IOW     0x14, V_IOAPIC
        WINDOW
        CHK     [cnt_io], 0
        sti
.h6:    hlt
        cmp     dword [cnt_io], 1
        jb      .h6
        cli
        CHK     [cnt_io], 1
        IOW     0x14, 0x10000 | V_IOAPIC
        OK      "ioapic: masked entry stops interrupts"

        ; ------------------------------------------- LINT0 ExtINT
        LW      L_LINT0, 0x700
        CHK     [LAPIC+L_LINT0], 0x700
        mov     dword [cnt_pic], 0
        mov     dword [isr_in], -1
        OUTB    0x21, 0xFE              ; 8259 IRQ0 unmasked
        sti
.h7:    hlt
        cmp     dword [cnt_pic], 5
        jb      .h7
        cli
        CHK     [cnt_pic], 5
        CHK     [cnt_io], 1
        CHK     [isr_in], 0             ; no local APIC ISR bit for ExtINT
        OK      "lint0 extint: 8259 irq0 at vector 0x20"
        ; LINT0 masked: the request waits in the 8259
        OUTB    0x21, 0xFF
        LW      L_LINT0, 0x10700
        OUTB    0x21, 0xFE
        mov     dword [cnt_pic], 0
        sti
        SPIN    400000
        cli
        CHK     [cnt_pic], 0
        OUTB    0x20, 0x0A              ; OCW3: read IRR
        in      al, 0x20
        and     al, 1
        CHKB    al, 1
        LW      L_LINT0, 0x700          ; unmasked: delivered
        WINDOW
        CHK     [cnt_pic], 1
        OUTB    0x21, 0xFF
        OUTB    0x43, 0x30              ; PIT ch0 mode 0: stop the period
        OK      "lint0 masked: held in the 8259 until unmasked"

        CHK     [cnt_sp], 0
        PASS

; ---- helpers

pic_init:
        OUTB    0x20, 0x11              ; ICW1: edge, cascade, ICW4
        OUTB    0xA0, 0x11
        OUTB    0x21, V_PIC0            ; ICW2
        OUTB    0xA1, V_PIC0 + 8
        OUTB    0x21, 0x04              ; ICW3
        OUTB    0xA1, 0x02
        OUTB    0x21, 0x01              ; ICW4: 8086 mode
        OUTB    0xA1, 0x01
        OUTB    0x21, 0xFF
        OUTB    0xA1, 0xFF
        ret

        APIC_HANDLER h_timer, cnt_t, 0x20, eoi_t
        APIC_HANDLER h_ipi, cnt_i, 0x20, 1
        APIC_HANDLER h_tpr, cnt_p, 0x20, 1
        APIC_HANDLER h_ioapic, cnt_io, 0x30, 1

h_pic0:
        push    eax
        inc     dword [cnt_pic]
        mov     eax, [LAPIC+L_ISR+0x10]
        mov     [isr_in], eax
        mov     al, 0x20
        out     0x20, al
        pop     eax
        iretd

; spurious interrupts: counted, no EOI (SDM 10.9)
h_spur:
        inc     dword [cnt_sp]
        iretd
