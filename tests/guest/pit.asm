; emu-flags: -icount shift=3,align=off,sleep=off
; pit.asm - the 8254 PIT and its interrupt path through the 8259, from bare
; metal, in deterministic time (-icount shift=3: 8 ns per instruction, so
; a PIT tick of 838.095 ns is 104.76 instructions).
;
;  1. 8259 pair initialised as a BIOS does (ICW1-4, vectors 0x20/0x28).
;  2. channel 0 mode 2 (rate generator), count 1193 (999.85 us): ten IRQ0s
;     counted with HLT; the busy-loop iterations between two IRQ0s match
;     1193 * 838.095 ns / 8 ns (3 instructions per iteration, +-1.5%).
;  3. channel 0 mode 0 (interrupt on terminal count): one IRQ0 after
;     2000 ticks, none after that; rewriting the count restarts it.
;  4. counter latch command: the latched value is held while the counter
;     runs; a second latch before the read is ignored; elapsed ticks match
;     the instruction count.
;  5. read-back command: status byte (OUT, RW, mode, BCD) before the
;     latched count; status-only and count-only read-back.
;  6. channel 2 + port 0x61 as SeaBIOS calibrates the TSC: gate on bit 0,
;     mode 0 count 0x800, poll OUT2 on bit 5; TSC (1 GHz in both
;     emulators' icount mode) and poll iterations match 2048 ticks.
;  7. protected mode: the same mode 2 count/period through an IDT gate.
;  SDM/datasheet checks QEMU 7.2 lacks (skipped under QEMU, print nothing):
;  BCD counting (QEMU counts binary), NULL COUNT in the status byte, OUT
;  high in mode 2 between pulses (QEMU's mode 2 OUT is an inverted pulse),
;  and GATE low suspending mode 0 counting (QEMU ignores gate in mode 0).

%include "lib.inc"

VARS            equ 0x2000
cnt0            equ VARS+0x00           ; IRQ0 count
eoi_on          equ VARS+0x04           ; handler sends EOI when nonzero
tmp1            equ VARS+0x08
tmp2            equ VARS+0x0C
tmp3            equ VARS+0x10
tsc0            equ VARS+0x18

; instructions per PIT tick at shift 3 = 838.095 / 8 = 104.76

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

; OUTB port, value (clobbers al)
%macro OUTB 2.nolist
        mov     al, %2
        out     %1, al
%endmacro

; read a latched/live 16-bit count of channel %1 (port) into eax (16 bits)
%macro RDCNT 1.nolist
        in      al, %1
        mov     ah, al
        in      al, %1
        xchg    al, ah
        movzx   eax, ax
%endmacro

CODE16
start:
        INIT16
        PUTS    "pit: start"
        ENTER_PM32 apic_virtual_wire    ; returns to rm_main in real mode
rm_main:
        call    pic_init
        mov     word [0x20*4], irq0_rm
        mov     word [0x20*4+2], 0xF000
        mov     dword [cnt0], 0
        mov     dword [eoi_on], 1

        ; ------------------------------------------- mode 2, count 1193
        OUTB    0x43, 0x34              ; ch0, LSB/MSB, mode 2, binary
        OUTB    0x40, 0xA9
        OUTB    0x40, 0x04              ; 0x04A9 = 1193
        OUTB    0x21, 0xFE              ; unmask IRQ0
        sti
.h10:   hlt
        cmp     dword [cnt0], 10
        jb      .h10
        cli
        CHK     [cnt0], 10
        OK      "mode 2: 10 irqs"
        sti
        call    wait_irq                ; synchronise
        call    wait_irq                ; one full period
        ; 1193 ticks = 124981 insns; handler + wait overhead ~15
        CHKR    ebx, 41030, 42280
        call    wait_irq
        CHKR    ebx, 41030, 42280
        cli
        OK      "mode 2: period 1193 ticks"

        ; ------------------------------------------- mode 0, count 2000
        OUTB    0x43, 0x30              ; ch0, LSB/MSB, mode 0: OUT low
        call    drain
        mov     dword [cnt0], 0
        sti
        OUTB    0x40, 0xD0
        OUTB    0x40, 0x07              ; 2000 ticks = 209524 insns
        call    wait_irq
        CHKR    ebx, 68800, 70900
        SPIN    300000                  ; 600000 insns = 5.7 ms
        CHK     [cnt0], 1               ; one-shot: no second IRQ0
        cli
        OK      "mode 0: one irq after 2000 ticks"

        ; rewriting the count in mode 0 restarts it
        OUTB    0x43, 0x30
        call    drain
        mov     dword [cnt0], 0
        sti
        OUTB    0x40, 0xD0
        OUTB    0x40, 0x07
        SPIN    52381                   ; ~1000 ticks
        CHK     [cnt0], 0
        OUTB    0x40, 0xD0
        OUTB    0x40, 0x07              ; again 2000 ticks from here
        call    wait_irq
        CHKR    ebx, 68800, 70900
        cli
        OK      "mode 0: rewrite restarts"

        ; ------------------------------------------- counter latch
        OUTB    0x21, 0xFF              ; IRQ0 masked from here on
        OUTB    0x43, 0x34
        OUTB    0x40, 0
        OUTB    0x40, 0                 ; count 0 = 65536
        SPIN    100
        OUTB    0x43, 0x00              ; latch ch0
        RDCNT   0x40
        mov     [tmp1], eax
        SPIN    10000                   ; 20000 insns = 190.9 ticks
        OUTB    0x43, 0x00
        RDCNT   0x40
        mov     edx, [tmp1]
        sub     edx, eax                ; counts down
        CHKR    edx, 186, 196
        ; the latched value is held while the counter keeps running
        OUTB    0x43, 0x00
        SPIN    10000
        RDCNT   0x40
        mov     [tmp1], eax
        OUTB    0x43, 0x00
        RDCNT   0x40
        mov     edx, [tmp1]
        sub     edx, eax
        CHKR    edx, 186, 196
        ; a second latch command before the read is ignored
        OUTB    0x43, 0x00
        SPIN    10000
        OUTB    0x43, 0x00              ; ignored
        RDCNT   0x40
        mov     [tmp1], eax
        OUTB    0x43, 0x00
        RDCNT   0x40
        mov     edx, [tmp1]
        sub     edx, eax
        CHKR    edx, 186, 196
        OK      "counter latch"

        ; ------------------------------------------- read-back
        OUTB    0x43, 0xC2              ; latch count + status of ch0
        in      al, 0x40
        and     al, 0x7F                ; OUT: see the SDM-only checks
        CHKB    al, 0x34                ; RW=11, mode 2, binary
        RDCNT   0x40
        OUTB    0x43, 0xD2              ; count only
        SPIN    10000
        RDCNT   0x40                    ; latched at the read-back command
        mov     [tmp1], eax
        OUTB    0x43, 0x00
        RDCNT   0x40
        mov     edx, [tmp1]
        sub     edx, eax
        CHKR    edx, 186, 196
        OUTB    0x43, 0xE2              ; status only
        in      al, 0x40
        and     al, 0x7F
        CHKB    al, 0x34
        RDCNT   0x40                    ; then the live count
        mov     [tmp1], eax
        SPIN    10000
        RDCNT   0x40
        mov     edx, [tmp1]
        sub     edx, eax
        CHKR    edx, 186, 196
        ; status of channel 2 in mode 0 before and after terminal count
        OUTB    0x61, 0x01              ; gate 2 high, speaker off
        OUTB    0x43, 0xB0              ; ch2, LSB/MSB, mode 0, binary
        OUTB    0x42, 100
        OUTB    0x42, 0
        SPIN    200                     ; 4 ticks: count loaded
        OUTB    0x43, 0xE8              ; status of ch2
        in      al, 0x42
        CHKB    al, 0x30                ; OUT low, mode 0
        SPIN    6000                    ; 114 ticks
        OUTB    0x43, 0xE8
        in      al, 0x42
        CHKB    al, 0xB0                ; OUT high
        OK      "read-back"

        ; ------------------------------------------- SDM-only PIT checks
        SKIP_IF_QEMU_RM .sdm_done
        ; mode 2: OUT is high except during the CLK when the count is 1
        ; (QEMU models the opposite pulse)
        OUTB    0x43, 0xE2
        in      al, 0x40
        CHKB    al, 0xB4
        ; NULL COUNT: set by the control word, cleared when the count is
        ; moved into the counting element
        OUTB    0x43, 0x74              ; ch1, LSB/MSB, mode 2
        OUTB    0x43, 0xE4              ; status of ch1
        in      al, 0x41
        and     al, 0x7F
        CHKB    al, 0x74                ; NULL COUNT=1, RW=11, mode 2
        OUTB    0x41, 0x00
        OUTB    0x41, 0x10
        SPIN    200
        OUTB    0x43, 0xE4
        in      al, 0x41
        CHKB    al, 0xB4                ; loaded: NULL COUNT=0, OUT high
        ; BCD: channel 1, mode 2, count 9999 (BCD)
        OUTB    0x43, 0x75
        OUTB    0x41, 0x99
        OUTB    0x41, 0x99
        SPIN    10000
        OUTB    0x43, 0x40              ; latch ch1
        RDCNT   0x41
        mov     [tmp1], eax
        call    check_bcd16
        SPIN    10000
        OUTB    0x43, 0x40
        RDCNT   0x41
        call    check_bcd16
        mov     edx, eax
        mov     eax, [tmp1]
        call    bcd16_to_bin
        mov     ebx, eax
        mov     eax, edx
        call    bcd16_to_bin
        sub     ebx, eax
        CHKR    ebx, 186, 196
        ; GATE low suspends counting in mode 0
        OUTB    0x61, 0x00              ; gate 2 low
        OUTB    0x43, 0xB0
        OUTB    0x42, 100
        OUTB    0x42, 0
        SPIN    20000                   ; 380 ticks
        in      al, 0x61
        and     al, 0x20
        CHKB    al, 0                   ; OUT2 still low
        OUTB    0x43, 0x80              ; latch ch2
        RDCNT   0x42
        CHK     eax, 100                ; loaded, not counting
        OUTB    0x61, 0x01              ; gate high: counting resumes
        SPIN    4000                    ; 76 ticks
        in      al, 0x61
        and     al, 0x20
        CHKB    al, 0
        SPIN    2000                    ; 114 ticks
        in      al, 0x61
        and     al, 0x20
        CHKB    al, 0x20
        OUTB    0x61, 0x00
.sdm_done:

        ; ------------------------------------------- port 0x61 calibration
        in      al, 0x61
        and     al, 0xFC
        or      al, 0x01                ; gate 2 on, speaker data off
        out     0x61, al
        in      al, 0x61
        and     al, 0x03
        CHKB    al, 0x01                ; bits 0-1 read back
        OUTB    0x43, 0xB0              ; ch2, LSB/MSB, mode 0, binary
        OUTB    0x42, 0x00
        OUTB    0x42, 0x08              ; 0x800 = 2048 ticks = 1716.4 us
        rdtsc
        mov     [tsc0], eax
        xor     ecx, ecx
.cal:   inc     ecx
        in      al, 0x61
        test    al, 0x20
        jz      .cal
        rdtsc
        sub     eax, [tsc0]
        CHKR    eax, 1700000, 1733000   ; ns
        ; 4 instructions per poll: 1716419 / 8 / 4 = 53638
        CHKR    ecx, 53000, 54100
        in      al, 0x61
        and     al, 0x20
        CHKB    al, 0x20                ; OUT2 stays high
        ; the refresh toggle (bit 4) changes
        in      al, 0x61
        mov     bl, al
        mov     cx, 1000
.rf:    in      al, 0x61
        xor     al, bl
        test    al, 0x10
        jnz     .rf_ok
        push    cx
        SPIN    20
        pop     cx
        loop    .rf
        FAIL    2, "refresh bit does not toggle"
.rf_ok:
        OUTB    0x61, 0x00
        OK      "ch2 calibration via port 0x61"

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

; Wait for the next IRQ0; ebx = iterations (3 instructions each).
wait_irq:
        mov     ecx, [cnt0]
        xor     ebx, ebx
.w:     inc     ebx
        cmp     [cnt0], ecx
        je      .w
        ret

; Deliver any IRQ0 already latched in the IRR (IF=0 on entry and exit).
drain:
        sti
        nop
        nop
        cli
        ret

; eax = 16-bit BCD value: fail if a nibble is > 9
check_bcd16:
        push    eax
        push    cx
        mov     cx, 4
.n:     mov     dl, al
        and     dl, 0x0F
        cmp     dl, 9
        jbe     .ok
        FAIL    2, "PIT BCD count has a nibble above 9"
.ok:    shr     eax, 4
        loop    .n
        pop     cx
        pop     eax
        ret

; eax = 16-bit BCD -> binary in eax
bcd16_to_bin:
        push    ebx
        push    ecx
        push    edx
        mov     ebx, eax
        xor     eax, eax
        mov     ecx, 4
.d:     rol     bx, 4
        imul    eax, eax, 10
        mov     edx, ebx
        and     edx, 0x0F
        add     eax, edx
        loop    .d
        pop     edx
        pop     ecx
        pop     ebx
        ret

irq0_rm:
        push    ax
        push    ds
        xor     ax, ax
        mov     ds, ax
        inc     dword [cnt0]
        cmp     dword [eoi_on], 0
        je      .n
        mov     al, 0x20
        out     0x20, al
.n:     pop     ds
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
        mov     dword [cnt0], 0
        OUTB    0x43, 0x34
        OUTB    0x40, 0xA9
        OUTB    0x40, 0x04
        OUTB    0x21, 0xFE
        sti
.h10:   hlt
        cmp     dword [cnt0], 10
        jb      .h10
        cli
        CHK     [cnt0], 10
        OK      "pm: mode 2: 10 irqs"
        sti
        call    wait_irq32
        call    wait_irq32
        CHKR    ebx, 41030, 42280
        call    wait_irq32
        CHKR    ebx, 41030, 42280
        cli
        OUTB    0x21, 0xFF
        OK      "pm: mode 2: period 1193 ticks"
        PASS

wait_irq32:
        mov     ecx, [cnt0]
        xor     ebx, ebx
.w:     inc     ebx
        cmp     [cnt0], ecx
        je      .w
        ret

irq0_pm:
        push    eax
        inc     dword [cnt0]
        mov     al, 0x20
        out     0x20, al
        pop     eax
        iretd
