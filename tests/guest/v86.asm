; v86.asm - virtual-8086 mode (SDM vol. 3 ch. 20), no VME.
;
;  - enter V86 with IRETD from ring 0 (VM=1, IOPL=3 in the image)
;  - 16-bit code: CS=F000, segment bases = selector*16, PUSHFD hides VM
;  - INT n with IOPL=3 vectors through the protected-mode IDT (DPL3 gate to
;    a ring-0 handler): frame EIP CS EFLAGS(VM) ESP SS ES DS FS GS, data
;    segment registers null in the handler, VM/TF/IF/NT clear, TSS stack
;  - I/O in V86 always consults the I/O bitmap (even with IOPL=3)
;  - IOPL<3: INT n, CLI, PUSHF -> #GP(0); INT3 still goes through the IDT
;  - HLT -> #GP(0): the #GP handler leaves V86 for good and continues in PM

%include "lib.inc"

TSS_BASE equ    0x2000
TSS_ESP0 equ    0x88000
TSS_LIMIT equ   0x68 + 32
VARS    equ     0x2800
V30     equ     VARS                    ; int 0x30 record (see int30)
VEXIT   equ     VARS+0x60               ; #GP exit record
VRES    equ     VARS+0x80               ; results copied by IOPL0 code
v86_exit equ    VARS+0xFC               ; set by V86 code before HLT

V_SS    equ     0x0700
V_SP    equ     0xFF00

CODE16
start:
        INIT16
        PUTS    "v86: start"
        ENTER_PM32 pm_start

; ---------------------------------------------------------------- V86 code
v86_code:
        mov     ax, cs
        CHKW    ax, 0xF000
        mov     ax, ss
        CHKW    ax, V_SS
        mov     ax, ds
        CHKW    ax, 0x0300
        mov     ax, es
        CHKW    ax, 0x0400
        mov     eax, esp
        CHK     eax, V_SP
        mov     word [0x10], 0x1234     ; DS base 0x3000 -> linear 0x3010
        mov     word [es:0x10], 0x5678  ; ES base 0x4000
        pushfd
        pop     eax
        CHK     eax, 0x3002             ; VM and RF not visible, IOPL 3
        PUTS    "v86: entered"
        mov     ebx, 0x0BB0
        int     0x30
v_after30:
        CHK     ebx, 0x0BB1             ; the handler's change to EBX
        mov     ax, ds
        CHKW    ax, 0x0300              ; restored from the frame
        mov     ax, gs
        CHKW    ax, 0x0600
        mov     eax, esp
        CHK     eax, V_SP
        OK      "v86 int n (IOPL 3)"
        ; I/O: the bitmap decides even at IOPL 3
        xor     ax, ax
        mov     ds, ax
        mov     al, 0x5A
        out     0x80, al                ; allowed
        TRY     .r1
.f1:    in      al, 0x81                ; denied -> #GP(0)
.r1:    CHKEXC  13, 0, .f1
        CHK     [exc_cs], 0xF000
        mov     eax, [exc_efl]
        and     eax, F_VM
        CHK     eax, F_VM
        CHK     [exc_ss], V_SS
        CHK     [exc_esp], V_SP
        OK      "v86 i/o bitmap"
        int     0x31                    ; the monitor drops IOPL to 0
        ; IOPL 0 from here: no PUSHF/POPF, so no printing or CHK until
        ; the results are examined in protected mode
        mov     ax, 0x5555
        out     0x80, al                ; bitmap still allows it
        TRY     .r2
.f2:    int     0x30                    ; IOPL-sensitive -> #GP(0)
.r2:    mov     eax, [exc_vec]
        mov     [VRES+0x00], eax
        mov     eax, [exc_err]
        mov     [VRES+0x04], eax
        mov     eax, [exc_eip]
        mov     [VRES+0x08], eax
        TRY     .r3
.f3:    cli
.r3:    mov     eax, [exc_vec]
        mov     [VRES+0x0C], eax
        mov     eax, [exc_eip]
        mov     [VRES+0x10], eax
        TRY     .r4
.f4:    pushf
.r4:    mov     eax, [exc_vec]
        mov     [VRES+0x14], eax
        mov     eax, [exc_eip]
        mov     [VRES+0x18], eax
        TRY     .r5
        int3                            ; not IOPL-sensitive: IDT vector 3
.r5:    mov     eax, [exc_vec]
        mov     [VRES+0x1C], eax
        mov     eax, [exc_eip]
        mov     [VRES+0x20], eax
        mov     dword [v86_exit], 1
v_hlt:  hlt                             ; -> #GP(0) -> back to PM
        jmp     v_hlt

; ---------------------------------------------------------------- PM
CODE32
pm_start:
        ; TSS with ESP0 and an I/O bitmap: 0x80, 0xE9, 0xF4 allowed
        mov     edi, TSS_BASE
        mov     ecx, (TSS_LIMIT + 4) / 4
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
        IDT_SET 0x30, SEL_CODE32, int30, 0xEE
        IDT_SET 0x31, SEL_CODE32, int31, 0xEE
        IDT_SET 3, SEL_CODE32, lib_pm_stubs+3*16, 0xEE
        IDT_SET 13, SEL_CODE32, gp_handler, 0x8E
        mov     dword [v86_exit], 0
        mov     dword [0x3010], 0
        mov     dword [0x4010], 0
        push    dword 0x0600            ; GS
        push    dword 0x0500            ; FS
        push    dword 0x0300            ; DS
        push    dword 0x0400            ; ES
        push    dword V_SS
        push    dword V_SP
        push    dword F_VM|F_IOPL3|2
        push    dword 0xF000
        push    dword v86_code
        iretd

; INT 0x30 from V86: record everything (DS..GS are null: use SS)
int30:
        push    eax
        pushfd
        pop     eax
        mov     [ss:V30+0x00], eax      ; EFLAGS inside the handler
        xor     eax, eax
        mov     ax, ds
        mov     [ss:V30+0x04], eax
        mov     ax, es
        mov     [ss:V30+0x08], eax
        mov     ax, fs
        mov     [ss:V30+0x0C], eax
        mov     ax, gs
        mov     [ss:V30+0x10], eax
        lea     eax, [esp+4]
        mov     [ss:V30+0x14], eax      ; ESP at entry
        push    ds
        mov     ax, SEL_DATA32
        mov     ds, ax
        push    ecx
        push    esi
        lea     esi, [esp+16]           ; frame
        mov     ecx, 0
.cp:    mov     eax, [esi+ecx*4]
        mov     [V30+0x20+ecx*4], eax   ; EIP CS EFLAGS ESP SS ES DS FS GS
        inc     ecx
        cmp     ecx, 9
        jb      .cp
        pop     esi
        pop     ecx
        pop     ds
        pop     eax
        inc     ebx
        iretd

; INT 0x31 from V86: set IOPL 0 in the returned EFLAGS
int31:
        and     dword [esp+8], ~F_IOPL3
        iretd

; #GP: the exit request from V86, anything else goes to the library
gp_handler:
        push    eax
        mov     ax, SEL_DATA32
        mov     ds, ax
        cmp     dword [v86_exit], 1
        pop     eax
        jne     lib_pm_stubs+13*16
        mov     eax, [esp]
        mov     [VEXIT+0x00], eax       ; error code
        mov     eax, [esp+4]
        mov     [VEXIT+0x04], eax       ; EIP
        mov     eax, [esp+8]
        mov     [VEXIT+0x08], eax       ; CS
        mov     eax, [esp+12]
        mov     [VEXIT+0x0C], eax       ; EFLAGS
        mov     ax, SEL_DATA32
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     esp, STACK0_TOP
        jmp     back_in_pm

back_in_pm:
        PUTS    "v86: back in protected mode"
        CHK     [VEXIT+0x00], 0
        CHK     [VEXIT+0x04], v_hlt
        CHK     [VEXIT+0x08], 0xF000
        mov     eax, [VEXIT+0x0C]
        and     eax, F_VM|F_IOPL3
        CHK     eax, F_VM               ; IOPL 0
        ; the INT 0x30 frame
        mov     eax, [V30+0x00]
        and     eax, F_VM|F_IF|F_TF|F_NT
        CHK     eax, 0
        CHK     [V30+0x04], 0           ; DS..GS null in the handler
        CHK     [V30+0x08], 0
        CHK     [V30+0x0C], 0
        CHK     [V30+0x10], 0
        CHK     [V30+0x14], TSS_ESP0-36
        CHK     [V30+0x20], v_after30   ; EIP
        CHKW    [V30+0x24], 0xF000      ; CS
        mov     eax, [V30+0x28]
        and     eax, F_VM|F_IOPL3
        CHK     eax, F_VM|F_IOPL3       ; EFLAGS with VM
        CHK     [V30+0x2C], V_SP        ; ESP
        CHKW    [V30+0x30], V_SS        ; SS
        CHKW    [V30+0x34], 0x0400      ; ES
        CHKW    [V30+0x38], 0x0300      ; DS
        CHKW    [V30+0x3C], 0x0500      ; FS
        CHKW    [V30+0x40], 0x0600      ; GS
        CHKW    [0x3010], 0x1234
        CHKW    [0x4010], 0x5678
        ; IOPL 0 results
        CHK     [VRES+0x00], 13         ; INT n
        CHK     [VRES+0x04], 0
        CHK     [VRES+0x08], v_after30.f2
        CHK     [VRES+0x0C], 13         ; CLI
        CHK     [VRES+0x10], v_after30.f3
        CHK     [VRES+0x14], 13         ; PUSHF
        CHK     [VRES+0x18], v_after30.f4
        CHK     [VRES+0x1C], 3          ; INT3 through the IDT
        CHK     [VRES+0x20], v_after30.r5
        OK      "v86 iopl 0"
        PUTS    "v86: all ok"
        PASS
