; tasks.asm - hardware task switching (SDM vol. 3 ch. 7), 32-bit TSSs.
;
;  - LTR marks the TSS busy
;  - JMP to a TSS descriptor: old state saved in the old TSS (EIP after the
;    JMP, general registers, EFLAGS), old TSS not busy, new TSS busy, NT
;    not set, back link untouched, registers/EFLAGS loaded, CR0.TS set;
;    JMP back resumes the old task
;  - CALL through a task gate: NT set in the new task, back link = caller,
;    both busy; IRET returns through the link and clears the callee's busy
;    bit; a second CALL resumes the callee after its IRET
;  - task gate in the IDT for #DE (fault: saved EIP = the DIV; the handler
;    task edits the saved EIP/EAX that IRET reloads) and for #GP (error code
;    pushed on the handler task's stack)
;  - JMP to a busy TSS -> #GP(selector)

%include "lib.inc"

TSS_A   equ     0x2000
TSS_B   equ     0x2100
TSS_C   equ     0x2200
TSS_D   equ     0x2300
TSS_E   equ     0x2400
VARS    equ     0x2800
res_b   equ     VARS+0
res_c   equ     VARS+4
res_d   equ     VARS+8
res_e   equ     VARS+12

SEL_A   equ     0x38
SEL_B   equ     0x40
SEL_C   equ     0x48
SEL_D   equ     0x50
SEL_E   equ     0x58
SEL_TG  equ     0x60                    ; task gate -> SEL_C

T_LINK  equ     0x00
T_CR3   equ     0x1C
T_EIP   equ     0x20
T_EFL   equ     0x24
T_EAX   equ     0x28
T_ECX   equ     0x2C
T_EDX   equ     0x30
T_EBX   equ     0x34
T_ESP   equ     0x38
T_EBP   equ     0x3C
T_ESI   equ     0x40
T_EDI   equ     0x44
T_ES    equ     0x48
T_CS    equ     0x4C
T_SS    equ     0x50
T_DS    equ     0x54

%macro BUSY 2                           ; selector, expected type byte
        CHKB    [GDT_BASE+(%1)+5], %2
%endmacro

CODE16
start:
        INIT16
        PUTS    "tasks: start"
        ENTER_PM32 pm_start

CODE32
; edi = TSS, eax = EIP, ebx = ESP: a flat ring-0 task, EFLAGS=2
init_tss:
        push    edi
        push    eax
        push    ecx
        mov     ecx, 0x68/4
        xor     eax, eax
        rep     stosd
        pop     ecx
        pop     eax
        pop     edi
        mov     [edi+T_EIP], eax
        mov     [edi+T_ESP], ebx
        mov     dword [edi+T_EFL], 2
        mov     dword [edi+T_CS], SEL_CODE32
        mov     dword [edi+T_SS], SEL_DATA32
        mov     dword [edi+T_DS], SEL_DATA32
        mov     dword [edi+T_ES], SEL_DATA32
        mov     dword [edi+0x58], SEL_DATA32    ; FS
        mov     dword [edi+0x5C], SEL_DATA32    ; GS
        mov     word [edi+0x66], 0x68
        ret

pm_start:
        mov     dword [res_b], 0
        mov     dword [res_c], 0
        mov     dword [res_d], 0
        mov     dword [res_e], 0
        mov     edi, TSS_A
        xor     eax, eax
        xor     ebx, ebx
        call    init_tss
        mov     edi, TSS_B
        mov     eax, task_b
        mov     ebx, 0x70000
        call    init_tss
        mov     dword [TSS_B+T_LINK], 0x1234    ; JMP must not write it
        mov     dword [TSS_B+T_EFL], 2|F_CF|F_ZF
        mov     dword [TSS_B+T_EAX], 0xB0000001
        mov     dword [TSS_B+T_ECX], 0xB0000002
        mov     dword [TSS_B+T_EDX], 0xB0000003
        mov     dword [TSS_B+T_EBX], 0xB0000004
        mov     dword [TSS_B+T_EBP], 0xB0000006
        mov     dword [TSS_B+T_ESI], 0xB0000007
        mov     dword [TSS_B+T_EDI], 0xB0000008
        mov     edi, TSS_C
        mov     eax, task_c
        mov     ebx, 0x6F000
        call    init_tss
        mov     edi, TSS_D
        mov     eax, task_d
        mov     ebx, 0x6E000
        call    init_tss
        mov     edi, TSS_E
        mov     eax, task_e
        mov     ebx, 0x6D000
        call    init_tss
        GDT_SET SEL_A, TSS_A, 0x67, 0x89, 0
        GDT_SET SEL_B, TSS_B, 0x67, 0x89, 0
        GDT_SET SEL_C, TSS_C, 0x67, 0x89, 0
        GDT_SET SEL_D, TSS_D, 0x67, 0x89, 0
        GDT_SET SEL_E, TSS_E, 0x67, 0x89, 0
        mov     dword [GDT_BASE+SEL_TG], SEL_C << 16    ; task gate
        mov     dword [GDT_BASE+SEL_TG+4], 0x8500
        mov     ax, SEL_A
        ltr     ax
        BUSY    SEL_A, 0x8B
        BUSY    SEL_B, 0x89
        OK      "ltr"

        ; ---------------------------------------------- JMP to a TSS
        mov     eax, 0xA0000001
        mov     ecx, 0xA0000002
        mov     edx, 0xA0000003
        mov     ebx, 0xA0000004
        mov     ebp, 0xA0000006
        mov     esi, 0xA0000007
        mov     edi, 0xA0000008
        SETF    F_SF|F_PF
        jmp     SEL_B:0
after_jmp:
        CHKF    F_ARITH, F_SF|F_PF      ; EFLAGS reloaded from TSS_A
        CHK     eax, 0xA0000001
        CHK     ecx, 0xA0000002
        CHK     edx, 0xA0000003
        CHK     ebx, 0xA0000004
        CHK     ebp, 0xA0000006
        CHK     esi, 0xA0000007
        CHK     edi, 0xA0000008
        mov     eax, esp
        CHK     eax, STACK0_TOP
        CHK     [res_b], 1
        BUSY    SEL_A, 0x8B
        BUSY    SEL_B, 0x89
        str     ax
        CHKW    ax, SEL_A
        mov     eax, cr0
        and     eax, 8
        CHK     eax, 8                  ; CR0.TS set by the switch
        clts
        CHK     [TSS_B+T_EIP], task_b.after     ; B's next instruction
        OK      "jmp to tss"

        ; ---------------------------------------------- CALL via task gate
        call    SEL_TG:0
after_call:
        CHK     [res_c], 1
        BUSY    SEL_A, 0x8B
        BUSY    SEL_C, 0x89             ; IRET cleared it
        pushfd
        pop     eax
        and     eax, F_NT
        CHK     eax, 0
        call    SEL_TG:0                ; resumes C after its IRET
after_call2:
        CHK     [res_c], 2
        CHK     [TSS_A+T_EIP], after_call2
        clts
        OK      "call task gate/iret"

        ; ---------------------------------------------- exceptions
        IDT_SET 0, SEL_D, 0, 0x85       ; #DE -> task D
        mov     eax, 5
        xor     ecx, ecx
        xor     edx, edx
de_at:  div     ecx
after_de:
        CHK     [res_d], 1
        CHK     eax, 0xD00D             ; D edited the saved EAX
        CHK     ecx, 0
        BUSY    SEL_D, 0x89
        IDT_SET 13, SEL_E, 0, 0x85      ; #GP -> task E
        mov     ax, 0x800
gp_at:  mov     ds, ax                  ; #GP(0x800)
after_gp:
        CHK     [res_e], 0x800
        BUSY    SEL_E, 0x89
        call    lib_idt_init32          ; normal gates again
        clts
        OK      "idt task gates"

        ; JMP to the busy current TSS -> #GP(selector)
        TRY     .r1
.f1:    jmp     SEL_A:0
.r1:    CHKEXC  13, SEL_A, .f1
        BUSY    SEL_A, 0x8B
        OK      "busy tss #GP"
        PUTS    "tasks: all ok"
        PASS

; ------------------------------------------------------------ task B
task_b:
        str     ax
        CHKW    ax, SEL_B
        CHKF    F_ARITH|F_NT, F_CF|F_ZF
        CHK     ecx, 0xB0000002
        CHK     edx, 0xB0000003
        CHK     ebx, 0xB0000004
        CHK     ebp, 0xB0000006
        CHK     esi, 0xB0000007
        CHK     edi, 0xB0000008
        mov     eax, esp
        CHK     eax, 0x70000
        BUSY    SEL_A, 0x89             ; JMP clears the old busy bit
        BUSY    SEL_B, 0x8B
        CHK     [TSS_B+T_LINK], 0x1234
        ; the outgoing state in TSS_A
        CHK     [TSS_A+T_EIP], after_jmp
        CHK     [TSS_A+T_EAX], 0xA0000001
        CHK     [TSS_A+T_ECX], 0xA0000002
        CHK     [TSS_A+T_EDX], 0xA0000003
        CHK     [TSS_A+T_EBX], 0xA0000004
        CHK     [TSS_A+T_ESP], STACK0_TOP
        CHK     [TSS_A+T_EBP], 0xA0000006
        CHK     [TSS_A+T_ESI], 0xA0000007
        CHK     [TSS_A+T_EDI], 0xA0000008
        mov     eax, [TSS_A+T_EFL]
        and     eax, F_ARITH|F_NT|2
        CHK     eax, F_SF|F_PF|2
        CHKW    [TSS_A+T_CS], SEL_CODE32
        CHKW    [TSS_A+T_SS], SEL_DATA32
        CHKW    [TSS_A+T_DS], SEL_DATA32
        mov     dword [res_b], 1
.back:  jmp     SEL_A:0
.after: FAIL    2, "task B resumed"

; ------------------------------------------------------------ task C
task_c:
        str     ax
        CHKW    ax, SEL_C
        CHKF    F_NT, F_NT              ; nested
        CHKW    [TSS_C+T_LINK], SEL_A
        BUSY    SEL_A, 0x8B             ; caller stays busy
        BUSY    SEL_C, 0x8B
        CHK     [TSS_A+T_EIP], after_call
        mov     dword [res_c], 1
        iretd
        CHKF    F_NT, F_NT
        mov     dword [res_c], 2
        iretd
        jmp     task_c

; ------------------------------------------------------------ task D (#DE)
task_d:
        CHKF    F_NT, F_NT
        CHKW    [TSS_D+T_LINK], SEL_A
        CHK     [TSS_A+T_EIP], de_at    ; fault: the DIV itself
        CHK     [TSS_A+T_EAX], 5
        mov     eax, esp
        CHK     eax, 0x6E000            ; #DE pushes no error code
        mov     dword [TSS_A+T_EIP], after_de
        mov     dword [TSS_A+T_EAX], 0xD00D
        mov     dword [res_d], 1
        iretd
        jmp     task_d

; ------------------------------------------------------------ task E (#GP)
task_e:
        mov     eax, esp
        CHK     eax, 0x6D000-4          ; error code on the new stack
        pop     eax
        mov     [res_e], eax
        CHK     [TSS_A+T_EIP], gp_at
        mov     dword [TSS_A+T_EIP], after_gp
        iretd
        jmp     task_e
