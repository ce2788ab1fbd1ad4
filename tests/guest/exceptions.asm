; exceptions.asm - exception delivery details (32-bit protected mode).
;
;  - single-step (EFLAGS.TF) into a #DB handler counting steps, DR6.BS
;  - the MOV SS / POP SS interrupt shadow suppresses the single-step trap
;    after it (SDM 6.8.3)
;  - DR0 instruction breakpoint (fault, DR6.B0) with EFLAGS.RF to resume,
;    and its priority over #UD of the same instruction
;  - DR1 data breakpoints: write-only (a read does not hit), read/write,
;    and a single #DB reporting both BS and B1 when TF is also set
;  - a fault under TF is delivered as the fault, not as a step
;  - #DF: #GP whose IDT gate is not present -> #NP -> double fault, error 0
;  - not-present stack segment -> #SS(selector)

%include "lib.inc"

VARS    equ     0x2800
db_count equ    VARS+0x00
db_stop  equ    VARS+0x04               ; EIP at which stepping stops
db_rf    equ    VARS+0x08               ; set RF in the frame when nonzero
db_log   equ    VARS+0x40               ; EIPs
db_dr6   equ    VARS+0x80               ; DR6 values
watch    equ    VARS+0x100              ; data breakpoint target

SEL_NP  equ     0x48                    ; not-present data segment

%macro DBRESET 0
        mov     dword [db_count], 0
        mov     dword [db_stop], -1
        mov     dword [db_rf], 0
        xor     eax, eax
        mov     dr6, eax
%endmacro

%macro TFON 0
        pushfd
        or      dword [esp], F_TF
        popfd
%endmacro

CODE16
start:
        INIT16
        PUTS    "exceptions: start"
        ENTER_PM32 pm_start

CODE32
db_handler:
        push    eax
        push    ebx
        push    ds
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     ebx, [db_count]
        and     ebx, 15
        mov     eax, [esp+12]           ; EIP
        mov     [db_log+ebx*4], eax
        mov     eax, dr6
        mov     [db_dr6+ebx*4], eax
        inc     dword [db_count]
        xor     eax, eax
        mov     dr6, eax                ; DR6 is sticky: clear it
        mov     eax, [esp+12]
        cmp     eax, [db_stop]
        jne     .go
        and     dword [esp+20], ~F_TF
.go:    cmp     dword [db_rf], 0
        je      .out
        or      dword [esp+20], F_RF
.out:   pop     ds
        pop     ebx
        pop     eax
        iretd

pm_start:
        IDT_SET 1, SEL_CODE32, db_handler, 0x8E
        mov     eax, dr6
        CHK     eax, 0xFFFF0FF0         ; reserved bits read as 1
        mov     eax, dr7
        CHK     eax, 0x00000400

        ; ---------------------------------------------- single-step
        DBRESET
        mov     dword [db_stop], s_end
        xor     ebx, ebx
        TFON
        nop                             ; the step after POPF is this one
s1:     inc     ebx
s2:     add     ebx, 2
s3:     nop
s_end:
        CHK     [db_count], 4           ; one #DB per instruction
        CHK     [db_log], s1            ; (trap: EIP of the next one)
        CHK     [db_log+4], s2
        CHK     [db_log+8], s3
        CHK     [db_log+12], s_end
        CHK     [db_dr6], 0xFFFF4FF0    ; BS
        CHK     [db_dr6+12], 0xFFFF4FF0
        CHK     ebx, 3
        pushfd
        pop     eax
        and     eax, F_TF
        CHK     eax, 0
        OK      "single-step"

        ; MOV SS / POP SS: no trap after them, the next one traps late
        DBRESET
        mov     dword [db_stop], m_end
        mov     ax, ss
        TFON
        nop
m1:     mov     ss, ax                  ; shadow: no #DB after this
        inc     ebx
m2:     nop
m3:     push    ss
m4:     pop     ss                      ; shadow again
        nop
m_end:
        CHK     [db_count], 5
        CHK     [db_log], m1
        CHK     [db_log+4], m2          ; after MOV SS + INC together
        CHK     [db_log+8], m3
        CHK     [db_log+12], m4
        CHK     [db_log+16], m_end      ; after POP SS + NOP together
        OK      "mov ss shadow"

        ; a faulting instruction under TF reports the fault
        DBRESET
        mov     dword [db_stop], u_after+1
        TRY     u_after
        TFON
        nop
u1:     ud2
u_after:
        nop                             ; TF restored by IRET: step after this
        CHK     [exc_vec], 6
        CHK     [exc_eip], u1
        mov     eax, [exc_efl]
        and     eax, F_TF
        CHK     eax, F_TF
        CHK     [db_count], 2
        CHK     [db_log], u1            ; the step after the NOP
        CHK     [db_log+4], u_after+1
        OK      "fault under TF"

        ; ---------------------------------------------- DR0 execute
        DBRESET
        mov     dword [db_rf], 1
        mov     eax, bp1
        mov     dr0, eax
        mov     eax, 0x00000401         ; L0, RW0=00 (execute), LEN0=00
        mov     dr7, eax
        xor     ecx, ecx
        mov     ebx, 2
bp1_loop:
bp1:    inc     ecx                     ; breakpoint (fault, before execution)
        dec     ebx
        jnz     bp1_loop
        CHK     ecx, 2                  ; RF let it execute each time
        CHK     [db_count], 2
        CHK     [db_log], bp1
        CHK     [db_log+4], bp1
        CHK     [db_dr6], 0xFFFF0FF1    ; B0
        ; instruction breakpoint has priority over #UD of that instruction
        DBRESET
        mov     dword [db_rf], 1
        mov     eax, bp2
        mov     dr0, eax
        TRY     bp2_r
bp2:    ud2
bp2_r:    CHK     [db_count], 1
        CHK     [db_log], bp2
        CHKEXC  6, -1, bp2
        xor     eax, eax
        mov     dr7, eax
        OK      "dr0 execute breakpoint/rf"

        ; ---------------------------------------------- DR1 data
        DBRESET
        mov     eax, watch
        mov     dr1, eax
        mov     eax, 0x00D00404         ; L1, RW1=01 (write), LEN1=11 (4)
        mov     dr7, eax
        mov     eax, [watch]            ; read: no hit
        CHK     [db_count], 0
w1:     mov     dword [watch], 5        ; trap after the write
w1_end:
        CHK     [db_count], 1
        CHK     [db_log], w1_end
        mov     eax, [db_dr6]
        and     eax, 0x400F
        CHK     eax, 2                  ; B1
        mov     byte [watch+3], 1       ; any byte in the range
        CHK     [db_count], 2
        mov     byte [watch+4], 1       ; outside
        CHK     [db_count], 2
        mov     eax, 0x00F00404         ; RW1=11: read or write
        mov     dr7, eax
        mov     eax, [watch]
w2_end:
        CHK     [db_count], 3
        CHK     [db_log+8], w2_end
        ; data breakpoint and single step in one #DB
        DBRESET
        mov     eax, 0x00D00404
        mov     dr7, eax
        mov     dword [db_stop], w3_end
        TFON
        nop
        mov     [watch], eax
w3_end:
        ; SDM 17.3.1: both conditions are reported by a single #DB (DR6 BS
        ; and B1, EIP after the MOV).  QEMU 7.2 delivers the data breakpoint
        ; and then a second, nested #DB at the handler's first instruction:
        ; skipped under QEMU.
        SKIP_IF_QEMU .nq
        CHK     [db_count], 2
        CHK     [db_log+4], w3_end
        mov     eax, [db_dr6+4]
        and     eax, 0x400F
        CHK     eax, 0x4002             ; BS and B1 together
.nq:
        xor     eax, eax
        mov     dr7, eax
        OK      "dr1 data breakpoint"

        ; ---------------------------------------------- #SS, #DF
        GDT_SET SEL_NP, 0, 0xFFFFF, 0x13, 0xC0
        mov     ax, SEL_NP
        TRY     .s1
.ss:    mov     ss, ax                  ; not present: #SS, not #NP
.s1:    CHKEXC  12, SEL_NP, .ss
        OK      "#SS not present"
        and     byte [IDT_BASE+13*8+5], 0x7F    ; #GP gate not present
        xor     eax, eax
        TRY     .d1
        mov     ss, ax                  ; #GP -> #NP on delivery -> #DF
.d1:    CHK     [exc_vec], 8
        CHK     [exc_err], 0
        or      byte [IDT_BASE+13*8+5], 0x80
        mov     ax, ss
        CHKW    ax, SEL_DATA32
        ; a benign exception during delivery is not a double fault:
        ; #UD with a not-present gate -> #NP(6*8+2+EXT).  EXT is set: the
        ; #NP occurred while delivering an event external to the program,
        ; an earlier exception (SDM vol. 3 §6.13).  QEMU 7.2 never sets EXT,
        ; so only vector and EIP are compared there.
        and     byte [IDT_BASE+6*8+5], 0x7F
        TRY     .d2
.ud:    ud2
.d2:    CHK     [exc_vec], 11
        CHK     [exc_eip], .ud
        SKIP_IF_QEMU .d3
        CHK     [exc_err], 6*8+2+1
.d3:
        or      byte [IDT_BASE+6*8+5], 0x80
        OK      "double fault"
        PUTS    "exceptions: all ok"
        PASS
