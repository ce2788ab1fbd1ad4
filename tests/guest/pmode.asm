; pmode.asm - protected mode: segmentation, system instructions, exceptions
; and privilege levels.
;
;  1. enter 32-bit PM; SGDT/SIDT/SLDT/STR/SMSW; LTR/LLDT; an LDT segment
;  2. LAR/LSL/VERR/VERW/ARPL results and ZF
;  3. 16-bit PM code segment, far jumps 32 <-> 16
;  4. big real mode: 4 GiB limit loaded in PM, back to real mode, 32-bit
;     addressing above 1 MiB
;  5. faults with error codes: limit violation #GP(0) (skipped under QEMU,
;     which does not check data segment limits), far jmp beyond CS limit,
;     null SS, not-present #NP(sel), selector beyond GDT limit, SS with
;     RPL != CPL, unreadable code into DS, #UD, #DE, #BP, #OF, #BR, IDT gates
;     not present / invalid type
;  6. ring 3: IRET to ring 3 nulls DPL0 data segments; call gate to ring 0
;     with stack switch and 2 parameters copied, RETF 8 back; INT through a
;     DPL3 gate and IRET back; #GP for DPL0 data, CLI with IOPL 0, INT to a
;     DPL0 gate; I/O bitmap allowing port 0x80 and denying 0x81; POPF
;     cannot change IOPL; LAR/VERR/VERW seen from ring 3.

%include "lib.inc"

TSS_BASE        equ 0x2000
TSS_ESP0        equ 0x88000
TSS_LIMIT       equ 0x68 + 32           ; bitmap for ports 0..255 + 0xFF byte
LDT_BASE        equ 0x2400
VARS            equ 0x2800

SEL_LIM         equ 0x40                ; data, base 0x10000, limit 0xFFF
SEL_NP          equ 0x48                ; data, not present
SEL_GATE        equ 0x50                ; call gate DPL3 -> gate_target, 2 params
SEL_GATE2       equ 0x58                ; call gate DPL3 -> ring0_cont, 0 params
SEL_NPCODE      equ 0x60                ; code, not present
SEL_XONLY       equ 0x68                ; execute-only code
SEL_LDT         equ 0x70
SEL_RODATA3     equ 0x78                ; read-only data, DPL3
SEL_LDTDATA     equ 0x0C                ; LDT index 1, TI=1

; write a call gate: sel, target offset, param count, access byte
%macro CALLGATE 4
        mov     edi, GDT_BASE + (%1)
        mov     eax, %2
        mov     [edi], ax
        mov     word [edi+2], SEL_CODE32
        mov     byte [edi+4], %3
        mov     byte [edi+5], %4
        shr     eax, 16
        mov     [edi+6], ax
%endmacro

CODE16
start:
        INIT16
        PUTS    "pmode: start"
        ENTER_PM32 pm_start

CODE32
pm_start:
        mov     eax, cr0
        CHK     eax, 0x60000011         ; reset CD|NW|ET plus PE
        mov     ax, cs
        CHKW    ax, SEL_CODE32
        OK      "enter pm32"

        ; ---------------------------------------------- system registers
        sgdt    [VARS]
        CHKW    [VARS], GDT_LIMIT
        CHK     [VARS+2], GDT_BASE
        sidt    [VARS+8]
        CHKW    [VARS+8], IDT_LIMIT
        CHK     [VARS+10], IDT_BASE
        mov     eax, 0xFFFFFFFF
        sldt    ax                      ; LDTR is null after reset
        CHK     eax, 0xFFFF0000
        mov     eax, 0xFFFFFFFF
        str     ax                      ; TR is null after reset
        CHK     eax, 0xFFFF0000
        smsw    ax
        CHKW    ax, 0x0011
        mov     word [VARS], 0x5555
        smsw    [VARS]
        CHKW    [VARS], 0x0011

        ; TSS with ring-0 stack and I/O bitmap
        mov     edi, TSS_BASE
        mov     ecx, (TSS_LIMIT + 1 + 3) / 4
        xor     eax, eax
        rep     stosd
        mov     dword [TSS_BASE+4], TSS_ESP0
        mov     dword [TSS_BASE+8], SEL_DATA32
        mov     word [TSS_BASE+0x66], 0x68
        mov     edi, TSS_BASE+0x68
        mov     ecx, 33
        mov     al, 0xFF
        rep     stosb
        and     byte [TSS_BASE+0x68+0x80/8], ~(1 << (0x80 & 7))
        and     byte [TSS_BASE+0x68+0xE9/8], ~(1 << (0xE9 & 7))
        and     byte [TSS_BASE+0x68+0xF4/8], ~(1 << (0xF4 & 7))
        GDT_SET SEL_TSS, TSS_BASE, TSS_LIMIT, 0x89, 0x00
        mov     ax, SEL_TSS
        ltr     ax
        str     bx
        CHKW    bx, SEL_TSS
        CHKB    [GDT_BASE+SEL_TSS+5], 0x8B      ; LTR marks the TSS busy

        ; LDT with one data segment at 0x30000
        mov     dword [LDT_BASE], 0
        mov     dword [LDT_BASE+4], 0
        GDT_SET LDT_BASE+8-GDT_BASE, 0x30000, 0xFFFF, 0x93, 0x40
        GDT_SET SEL_LDT, LDT_BASE, 15, 0x82, 0x00
        mov     ax, SEL_LDT
        lldt    ax
        sldt    bx
        CHKW    bx, SEL_LDT
        mov     ax, SEL_LDTDATA
        mov     es, ax
        mov     dword [es:0x10], 0xABCD1234
        mov     ax, SEL_DATA32
        mov     es, ax
        CHK     [0x30010], 0xABCD1234
        OK      "sgdt/sidt/sldt/str/smsw/ltr/lldt"

        ; ---------------------------------------------- descriptors
        GDT_SET SEL_LIM, 0x10000, 0xFFF, 0x93, 0x40
        GDT_SET SEL_NP, 0, 0xFFFF, 0x13, 0x40
        CALLGATE SEL_GATE, gate_target, 2, 0xEC
        CALLGATE SEL_GATE2, ring0_cont, 0, 0xEC
        GDT_SET SEL_NPCODE, 0, 0xFFFFF, 0x1B, 0xC0
        GDT_SET SEL_XONLY, 0, 0xFFFFF, 0x99, 0xC0
        GDT_SET SEL_RODATA3, 0, 0xFFFFF, 0xF1, 0xC0

        ; ---------------------------------------------- LAR/LSL/VERR/VERW/ARPL
        mov     eax, 0x12345678
        mov     bx, SEL_CODE32
        SETF    0
        lar     eax, bx
        CHKFL   F_ZF, 0
        and     eax, 0x00F0FF00         ; bits 19:16 undefined
        CHK     eax, 0x00C09B00
        mov     word [VARS+0x20], SEL_DATA32    ; memory operand
        lar     eax, [VARS+0x20]
        and     eax, 0x00F0FF00
        CHK     eax, 0x00C09300
        mov     ax, SEL_TSS
        lar     ecx, ax
        CHKFL   F_ZF, 0
        and     ecx, 0x00F0FF00
        CHK     ecx, 0x00008B00         ; busy 32-bit TSS
        mov     ax, SEL_GATE
        lar     ecx, ax                 ; gates are valid for LAR
        CHKFL   F_ZF, 0
        and     ecx, 0x00F0FF00
        CHK     ecx, 0x0000EC00
        mov     ecx, 0x5A5A5A5A
        xor     ax, ax
        SETF    F_ZF
        lar     ecx, ax                 ; null selector: ZF=0, dest unchanged
        CHKFL   0, F_ZF
        CHK     ecx, 0x5A5A5A5A
        mov     ax, 0x800               ; beyond the GDT limit
        lar     ecx, ax
        CHKFL   0, F_ZF
        mov     ax, SEL_CODE16
        lar     cx, ax                  ; 16-bit operand: FF00 mask
        CHKFL   F_ZF, 0
        CHK     ecx, 0x5A5A9B00
        mov     ax, SEL_DATA32
        lsl     ecx, ax
        CHKFL   F_ZF, 0
        CHK     ecx, 0xFFFFFFFF         ; G=1: limit scaled
        mov     ax, SEL_LIM
        lsl     ecx, ax
        CHK     ecx, 0xFFF
        mov     ax, SEL_TSS
        lsl     ecx, ax
        CHK     ecx, TSS_LIMIT
        mov     ax, SEL_LDTDATA
        lsl     ecx, ax
        CHKFL   F_ZF, 0
        CHK     ecx, 0xFFFF
        mov     ax, SEL_GATE            ; gates are invalid for LSL
        SETF    F_ZF
        lsl     ecx, ax
        CHKFL   0, F_ZF
        CHK     ecx, 0xFFFF
        mov     ax, SEL_CODE32
        verr    ax
        CHKFL   F_ZF, 0
        mov     ax, SEL_XONLY
        verr    ax
        CHKFL   0, F_ZF
        mov     ax, SEL_DATA32
        verw    ax
        CHKFL   F_ZF, 0
        mov     ax, SEL_CODE32
        verw    ax
        CHKFL   0, F_ZF
        mov     ax, SEL_RODATA3
        verr    ax
        CHKFL   F_ZF, 0
        verw    ax
        CHKFL   0, F_ZF
        xor     ax, ax
        SETF    F_ZF
        verr    ax
        CHKFL   0, F_ZF
        mov     ax, 0x0010              ; RPL 0
        mov     bx, 0x0003              ; RPL 3
        arpl    ax, bx
        CHKFL   F_ZF, 0
        CHKW    ax, 0x0013
        arpl    ax, bx                  ; already RPL 3
        CHKFL   0, F_ZF
        CHKW    ax, 0x0013
        mov     word [VARS], 0x0029
        mov     cx, 0x0002
        arpl    [VARS], cx              ; RPL 1 -> 2
        CHKFL   F_ZF, 0
        CHKW    [VARS], 0x002A
        OK      "lar/lsl/verr/verw/arpl"

        ; ---------------------------------------------- 16-bit PM code
        mov     eax, 0xFFFFFFFF
        jmp     SEL_CODE16:pm16
back32:
        mov     bx, cs
        CHKW    bx, SEL_CODE32
        CHK     eax, 0xFFFF1234
        CHK     ecx, 2
        CHK     edx, 0x2468
        OK      "pm16 code segment"
        jmp     bigreal

CODE16
pm16:
        mov     bx, cs
        CHKW    bx, SEL_CODE16
        mov     ax, 0x1234              ; 16-bit default operand size
        mov     ebx, esp
        push    ax                      ; 2 bytes (stack is 32-bit, B=1)
        mov     ecx, ebx
        sub     ecx, esp
        pop     dx
        add     dx, dx
        jmp     dword SEL_CODE32:back32

; ---------------------------------------------- big real mode
CODE32
bigreal:
        mov     dword [0x200000], 0
        mov     ax, SEL_DATA32          ; 4 GiB limit in the FS/GS caches
        mov     fs, ax
        mov     gs, ax
        mov     esp, 0x7000
        jmp     SEL_CODE16:.to16
CODE16
bigreal.to16:
        mov     ax, SEL_DATA16
        mov     ss, ax
        mov     ds, ax
        mov     es, ax
        lidt    [cs:lib_rm_idtr]
        mov     eax, cr0
        and     al, ~1
        mov     cr0, eax
        jmp     0xF000:.real
.real:  xor     ax, ax
        mov     ss, ax
        mov     ds, ax
        mov     es, ax
        mov     fs, ax                  ; real-mode load keeps the cached limit
        mov     ax, 0x1000
        mov     gs, ax                  ; base 0x10000, limit still 4 GiB
        mov     dword [fs:dword 0x200000], 0x600DB16
        mov     eax, [fs:dword 0x200000]
        CHK     eax, 0x600DB16
        mov     dword [gs:dword 0x200004-0x10000], 0x5EA1
        mov     ebx, 0x100000
        mov     eax, [fs:ebx+ebx+4]
        CHK     eax, 0x5EA1
        mov     eax, cr0
        test    al, 1
        jz      .inreal
        FAIL    2, "still in PM"
.inreal:
        PUTS    "big real mode: ok"
        ENTER_PM32 after_bigreal

CODE32
after_bigreal:
        CHK     [0x200000], 0x600DB16
        CHK     [0x200004], 0x5EA1
        mov     ax, SEL_TSS
        and     byte [GDT_BASE+SEL_TSS+5], ~2   ; clear busy for a new LTR
        ltr     ax
        mov     ax, SEL_LDT
        lldt    ax

        ; ---------------------------------------------- faults
        ; Data access beyond the segment limit -> #GP(0) (SDM 6.15/5.3).
        ; QEMU's TCG does not check data segment limits: skipped there.
        mov     ax, SEL_LIM
        mov     es, ax
        mov     eax, [es:0xFFC]         ; last dword inside the limit
        SKIP_IF_QEMU .nolimit
        TRY     .l1
.f1:    mov     eax, [es:0x1000]
.l1:    CHKEXC  13, 0, .f1
        TRY     .l2
.f2:    mov     eax, [es:0xFFE]         ; straddles the limit
.l2:    CHKEXC  13, 0, .f2
        TRY     .l3
.f3:    mov     byte [es:0xFFFFFFFF], 0
.l3:    CHKEXC  13, 0, .f3
.nolimit:
        mov     ax, SEL_DATA32
        mov     es, ax
        OK      "limit #GP(0)"
        ; far jmp beyond the CS limit -> #GP(0), EIP at the jmp
        TRY     .l4
.f4:    jmp     SEL_CODE16:0x10000
.l4:    CHKEXC  13, 0, .f4
        ; null selector into SS -> #GP(0)
        xor     eax, eax
        TRY     .l5
.f5:    mov     ss, ax
.l5:    CHKEXC  13, 0, .f5
        mov     ax, ss
        CHKW    ax, SEL_DATA32
        ; not-present data segment -> #NP(selector)
        mov     ax, SEL_NP
        TRY     .l6
.f6:    mov     ds, ax
.l6:    CHKEXC  11, SEL_NP, .f6
        ; not-present code segment on far jmp -> #NP(selector)
        TRY     .l7
.f7:    jmp     SEL_NPCODE:0
.l7:    CHKEXC  11, SEL_NPCODE, .f7
        ; selector beyond the GDT limit -> #GP(selector)
        mov     ax, 0x800
        TRY     .l8
.f8:    mov     fs, ax
.l8:    CHKEXC  13, 0x800, .f8
        ; SS with RPL/DPL != CPL -> #GP(selector, RPL bits clear)
        mov     ax, SEL_DATA32_R3
        TRY     .l9
.f9:    mov     ss, ax
.l9:    CHKEXC  13, SEL_DATA32_R3 & ~3, .f9
        ; execute-only code into DS -> #GP(selector)
        mov     ax, SEL_XONLY
        TRY     .l10
.f10:   mov     ds, ax
.l10:   CHKEXC  13, SEL_XONLY, .f10
        ; a code segment (readable) may be loaded into DS
        mov     ax, SEL_CODE32
        mov     ds, ax
        mov     ax, SEL_DATA32
        mov     ds, ax
        ; LDT selector with TI=1 beyond the LDT limit -> #GP(sel)
        mov     ax, 0x14                ; LDT index 2, limit is 15
        TRY     .l11
.f11:   mov     gs, ax
.l11:   CHKEXC  13, 0x14, .f11
        OK      "segment faults"

        TRY     .l12
.f12:   ud2
.l12:   CHKEXC  6, -1, .f12
        xor     ecx, ecx
        mov     eax, 5
        xor     edx, edx
        TRY     .l13
.f13:   div     ecx
.l13:   CHKEXC  0, -1, .f13
        TRY     .l14
        int3
.l14:   CHKEXC  3, -1, .l14
        SETF    F_OF
        TRY     .l15
        into
.l15:   CHKEXC  4, -1, .l15
        mov     dword [VARS], 10
        mov     dword [VARS+4], 20
        mov     eax, 21
        TRY     .l16
.f16:   bound   eax, [VARS]
.l16:   CHKEXC  5, -1, .f16
        mov     eax, 20
        TRY     .l17
        bound   eax, [VARS]
.l17:   NOEXC
        ; INT to a zero (invalid type) IDT entry -> #GP(vector*8+2)
        TRY     .l18
.f18:   int     0x41
.l18:   CHKEXC  13, 0x41*8+2, .f18
        ; INT to a not-present interrupt gate -> #NP(vector*8+2)
        IDT_SET 0x42, SEL_CODE32, lib_pm_stubs, 0x0E
        TRY     .l19
.f19:   int     0x42
.l19:   CHKEXC  11, 0x42*8+2, .f19
        ; error code and EIP of an exception from a page-less #GP frame
        CHK     [exc_cs], SEL_CODE32
        OK      "exceptions"

        ; ---------------------------------------------- ring 3
        IDT_SET 0x31, SEL_CODE32, int31, 0xEE  ; DPL3 interrupt gate
        mov     ax, SEL_DATA32_R3
        mov     ds, ax
        mov     es, ax
        mov     ax, SEL_DATA32          ; DPL0: nulled by IRET to ring 3
        mov     fs, ax
        mov     gs, ax
        push    dword SEL_DATA32_R3
        push    dword STACK3_TOP
        push    dword 0x00000002        ; IOPL 0
        push    dword SEL_CODE32_R3
        push    dword ring3
        iretd

ring3:
        mov     ax, cs
        CHKW    ax, SEL_CODE32_R3
        mov     ax, ss
        CHKW    ax, SEL_DATA32_R3
        mov     ax, fs
        CHKW    ax, 0
        mov     ax, gs
        CHKW    ax, 0
        mov     ax, ds
        CHKW    ax, SEL_DATA32_R3
        mov     eax, esp
        CHK     eax, STACK3_TOP
        PUTS    "ring3: entered"

        ; call gate to ring 0 with 2 parameters
        push    dword 0x11111111
        push    dword 0x22222222
        call    (SEL_GATE|3):0
r3_after_gate:
        mov     eax, esp
        CHK     eax, STACK3_TOP         ; RETF 8 popped the parameters
        mov     ax, cs
        CHKW    ax, SEL_CODE32_R3
        CHK     [VARS+0x40], TSS_ESP0-24
        CHK     [VARS+0x44], r3_after_gate
        CHK     [VARS+0x48], SEL_CODE32_R3
        CHK     [VARS+0x4C], 0x22222222
        CHK     [VARS+0x50], 0x11111111
        CHK     [VARS+0x54], STACK3_TOP-8
        CHK     [VARS+0x58], SEL_DATA32_R3
        CHK     [VARS+0x5C], SEL_CODE32
        CHK     [VARS+0x60], SEL_DATA32
        OK      "call gate ring3->ring0, retf"

        ; INT through a DPL3 gate, IRET back; the handler loads FS with
        ; a DPL0 selector which IRET to ring 3 must null
        SETF    F_CF|F_ZF
        int     0x31
r3_after_int:
        CHKFL   F_CF|F_ZF, 0
        mov     ax, fs
        CHKW    ax, 0
        mov     eax, esp
        CHK     eax, STACK3_TOP
        CHK     [VARS+0x70], TSS_ESP0-20
        CHK     [VARS+0x74], r3_after_int
        CHK     [VARS+0x78], SEL_CODE32_R3
        CHK     [VARS+0x7C], F_CF|F_ZF|2
        CHK     [VARS+0x80], STACK3_TOP
        CHK     [VARS+0x84], SEL_DATA32_R3
        OK      "int/iret ring3->ring0->ring3"

        ; privilege faults
        mov     ax, SEL_DATA32          ; DPL0 data from CPL3
        TRY     .p1
.g1:    mov     ds, ax
.p1:    CHKEXC  13, SEL_DATA32, .g1
        CHK     [exc_cs], SEL_CODE32_R3
        CHK     [exc_ss], SEL_DATA32_R3
        CHK     [exc_esp], STACK3_TOP
        TRY     .p2
.g2:    cli                             ; IOPL 0 < CPL 3
.p2:    CHKEXC  13, 0, .g2
        TRY     .p3
.g3:    int     0x30                    ; DPL0 gate
.p3:    CHKEXC  13, 0x30*8+2, .g3
        TRY     .p4
        mov     al, 0x55
        out     0x80, al                ; allowed by the bitmap
.p4:    NOEXC
        TRY     .p5
.g5:    in      al, 0x81                ; denied
.p5:    CHKEXC  13, 0, .g5
        TRY     .p6
.g6:    out     0x80, ax                ; needs 0x80 and 0x81
.p6:    CHKEXC  13, 0, .g6
        mov     dx, 0x100               ; beyond the TSS limit
        TRY     .p7
.g7:    in      al, dx
.p7:    CHKEXC  13, 0, .g7
        SETF    F_IOPL3|F_IF            ; ignored at CPL 3, no fault
        CHKF    F_IOPL3|F_IF, 0
        mov     ax, SEL_DATA32
        lar     ecx, ax                 ; DPL 0 < CPL 3: not visible
        CHKFL   0, F_ZF
        mov     ax, SEL_DATA32_R3
        verw    ax
        CHKFL   F_ZF, 0
        mov     ax, SEL_RODATA3
        verw    ax
        CHKFL   0, F_ZF
        verr    ax
        CHKFL   F_ZF, 0
        mov     ax, SEL_TSS             ; system segment DPL 0
        lsl     ecx, ax
        CHKFL   0, F_ZF
        OK      "ring3 privilege checks"
        call    (SEL_GATE2|3):0         ; back to ring 0 for good

gate_target:                            ; ring 0 via SEL_GATE
        mov     [VARS+0x40], esp
        mov     eax, [esp]
        mov     [VARS+0x44], eax
        movzx   eax, word [esp+4]
        mov     [VARS+0x48], eax
        mov     eax, [esp+8]
        mov     [VARS+0x4C], eax
        mov     eax, [esp+12]
        mov     [VARS+0x50], eax
        mov     eax, [esp+16]
        mov     [VARS+0x54], eax
        movzx   eax, word [esp+20]
        mov     [VARS+0x58], eax
        mov     ax, cs
        movzx   eax, ax
        mov     [VARS+0x5C], eax
        mov     ax, ss
        movzx   eax, ax
        mov     [VARS+0x60], eax
        retf    8

int31:                                  ; ring 0 via DPL3 gate
        push    eax
        lea     eax, [esp+4]
        mov     [VARS+0x70], eax
        mov     eax, [esp+4]
        mov     [VARS+0x74], eax
        movzx   eax, word [esp+8]
        mov     [VARS+0x78], eax
        mov     eax, [esp+12]
        mov     [VARS+0x7C], eax
        mov     eax, [esp+16]
        mov     [VARS+0x80], eax
        movzx   eax, word [esp+20]
        mov     [VARS+0x84], eax
        mov     ax, SEL_DATA32
        mov     fs, ax
        pop     eax
        iretd

ring0_cont:
        mov     ax, cs
        CHKW    ax, SEL_CODE32
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     esp, STACK0_TOP
        PUTS    "pmode: all ok"
        PASS
