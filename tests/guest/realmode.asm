; realmode.asm - real-mode integer instructions.
;
; Part 1 is table driven (realmode_tables.inc, made by gen_realmode_tables.py
; from the SDM's Operation/Flags sections): ALU, inc/dec/neg/not, shifts and
; rotates (counts 0, 1, n, >= size, > 31), shld/shrd, mul/imul/div/idiv, BCD,
; bsf/bsr, bt*, cmpxchg, xadd, cbw/cwde/cwd/cdq, bswap, movzx/movsx.  Only
; flags the SDM defines are compared; "unaffected" flags are checked to be
; preserved.  32-bit forms use the 0x66 prefix.
; Part 2 is hand written: bit-string memory operands, cmpxchg8b, setcc/
; cmovcc/jcc for all 16 conditions, string instructions, stack instructions,
; xlat, lea, loop/jcxz, far call/ret, int/iret and real-mode exceptions,
; pushf/popf, lahf/sahf, segment loads and 0x66/0x67 forms.

%define TEXT32_START 0xF000
%include "lib.inc"

SCRATCH equ 0x2000
BUF     equ 0x3000

%macro TE 9
        dw      %1, %2
        dd      %3, %4, %5, %6, %7, %8, %9
%endmacro

; RM_TRY label: the next real-mode exception resumes at label
%macro RM_TRY 1
        mov     dword [exc_vec], -1
        mov     dword [exc_eip], -1
        mov     word [rm_resume], %1
%endmacro

%macro RUN_TABLE 2
        mov     si, tab_%1
        mov     di, tab_%1_end
        call    run_table
        OK      %2
%endmacro

CODE16
start:
        INIT16
        PUTS    "realmode: start"
        RUN_TABLE alu, "alu"
        RUN_TABLE incdec, "incdec"
        RUN_TABLE shift, "shift"
        RUN_TABLE muldiv, "muldiv"
        RUN_TABLE bcd, "bcd"
        RUN_TABLE bits, "bitops"
        call    test_btmem
        call    test_cmpxchg8b
        call    test_cond
        call    test_string
        call    test_stack
        call    test_misc
        call    test_flow
        call    test_int
        call    test_flags
        call    test_prefix
        PUTS    "realmode: all ok"
        PASS

; ------------------------------------------------------------------------
; run_table: SI = first entry, DI = end.  Entry layout (32 bytes):
;   +0 stub, +2 mask (bit 15: skip EAX, bit 14: skip EDX), +4 EAX in,
;   +8 EDX in, +12 EBX=ECX in, +16 EFLAGS in, +20 EAX out, +24 EDX out,
;   +28 expected (EFLAGS & mask)
run_table:
.next:  cmp     si, di
        jae     .done
        mov     eax, [cs:si+4]
        mov     edx, [cs:si+8]
        mov     ebx, [cs:si+12]
        mov     ecx, ebx
        push    dword [cs:si+16]
        popfd
        call    word [cs:si]
        pushfd
        mov     [rt_eax], eax
        mov     [rt_edx], edx
        pop     eax
        mov     [rt_fl], eax
        mov     bp, [cs:si+2]
        test    bp, 0x8000
        jnz     .s1
        mov     eax, [rt_eax]
        cmp     eax, [cs:si+20]
        jne     .bad
.s1:    test    bp, 0x4000
        jnz     .s2
        mov     eax, [rt_edx]
        cmp     eax, [cs:si+24]
        jne     .bad
.s2:    movzx   eax, bp
        and     ax, F_ARITH
        and     eax, [rt_fl]
        cmp     eax, [cs:si+28]
        jne     .bad
        add     si, 32
        jmp     .next
.done:  ret
.bad:   PRINT   "FAIL table entry at "
        PRINTHEX esi
        PRINT   " stub "
        movzx   eax, word [cs:si]
        PRINTHEX eax
        PRINT   {10, "  eax got "}
        PRINTHEX [rt_eax]
        PRINT   " exp "
        PRINTHEX [cs:si+20]
        PRINT   {10, "  edx got "}
        PRINTHEX [rt_edx]
        PRINT   " exp "
        PRINTHEX [cs:si+24]
        PRINT   {10, "  flags got "}
        PRINTHEX [rt_fl]
        PRINT   " & mask "
        movzx   eax, word [cs:si+2]
        PRINTHEX eax
        PRINT   " exp "
        PRINTHEX [cs:si+28]
        PRINT   {10}
        mov     al, 2
        out     0xF4, al
        cli
        hlt

rt_eax  equ     SCRATCH+0x100
rt_edx  equ     SCRATCH+0x104
rt_fl   equ     SCRATCH+0x108

%include "realmode_tables.inc"


; ------------------------------------------------------------------------
SPX     equ     SCRATCH+0x210           ; scratch for SP checks
%macro CHKSP 1
        mov     [SPX], sp
        CHKW    [SPX], %1
%endmacro

; bit-string memory operands: register offsets are signed and select a
; word/dword relative to the operand address; immediates are taken modulo
; the operand size (SDM BT "bit base / bit offset").
test_btmem:
        mov     di, BUF
        xor     ax, ax
        mov     cx, 0x20
        rep     stosw
        mov     ax, -1                  ; word at BUF+0x0E, bit 15
        SETF    0
        bts     word [BUF+0x10], ax
        CHKFL   0, F_CF|F_ZF
        CHKB    [BUF+0x0F], 0x80
        SETF    F_ZF
        bts     word [BUF+0x10], ax
        CHKFL   F_CF|F_ZF, 0            ; ZF unaffected
        mov     eax, -1                 ; dword at BUF+0x0C, bit 31
        btr     dword [BUF+0x10], eax
        CHKFL   F_CF, 0
        CHKB    [BUF+0x0F], 0
        mov     cx, 100                 ; word BUF+12, bit 4
        btc     word [BUF], cx
        CHKFL   0, F_CF
        CHKB    [BUF+12], 0x10
        mov     ecx, 100                ; dword BUF+12, bit 4
        bt      dword [BUF], ecx
        CHKFL   F_CF, 0
        mov     edx, -200               ; dword BUF+4, bit 24
        btc     dword [BUF+0x20], edx
        CHKFL   0, F_CF
        CHK     [BUF+4], 0x01000000
        bts     word [BUF], 20          ; imm: bit 20 mod 16 = 4
        CHKFL   0, F_CF
        CHKB    [BUF], 0x10
        CHKB    [BUF+2], 0
        bts     dword [BUF+0x30], 33    ; imm: bit 1
        CHKB    [BUF+0x30], 0x02
        CHK     [BUF+0x34], 0
        bt      word [BUF], 4
        CHKFL   F_CF, 0
        btr     word [BUF+2], 0
        CHKFL   0, F_CF
        OK      "btmem"
        ret

; cmpxchg8b: ZF from the 64-bit compare; CF PF AF SF OF unaffected
test_cmpxchg8b:
        mov     dword [BUF+0x40], 0x11111111
        mov     dword [BUF+0x44], 0x22222222
        mov     eax, 0x11111111
        mov     edx, 0x22222222
        mov     ebx, 0x33333333
        mov     ecx, 0x44444444
        SETF    F_CF|F_PF|F_AF|F_SF|F_OF
        cmpxchg8b [BUF+0x40]
        CHKFL   F_ZF|F_CF|F_PF|F_AF|F_SF|F_OF, 0
        CHK     [BUF+0x40], 0x33333333
        CHK     [BUF+0x44], 0x44444444
        CHK     eax, 0x11111111
        CHK     edx, 0x22222222
        SETF    F_ZF
        cmpxchg8b [BUF+0x40]            ; low halves differ
        CHKFL   0, F_ARITH
        CHK     eax, 0x33333333
        CHK     edx, 0x44444444
        CHK     [BUF+0x40], 0x33333333
        mov     edx, 0x44444445         ; high halves differ
        SETF    F_ZF|F_CF
        cmpxchg8b [BUF+0x40]
        CHKFL   F_CF, F_ZF
        CHK     edx, 0x44444444
        CHK     eax, 0x33333333
        CHK     [BUF+0x44], 0x44444444
        OK      "cmpxchg8b"
        ret

; ------------------------------------------------------------------------
; setcc / cmovcc / jcc for all 16 conditions under several flag values.
COND    equ     SCRATCH+0x300
%macro COND1 2
        set%1   byte [COND+%2]
        mov     ax, 0
        cmov%1  ax, [cs:one_w]
        mov     [COND+0x20+%2*2], ax
        mov     byte [COND+0x60+%2], 0
        j%1     %%t
        jmp     %%n
%%t:    mov     byte [COND+0x60+%2], 1
%%n:
%endmacro

one_w:  dw      1

; in: EFLAGS; out: EBX = setcc mask, ECX = cmovcc mask, EDX = jcc mask
; (bit n = condition n of the 0F 9x / 0F 4x / 7x encodings)
cond_run:
        COND1   o, 0
        COND1   no, 1
        COND1   b, 2
        COND1   ae, 3
        COND1   e, 4
        COND1   ne, 5
        COND1   be, 6
        COND1   a, 7
        COND1   s, 8
        COND1   ns, 9
        COND1   p, 10
        COND1   np, 11
        COND1   l, 12
        COND1   ge, 13
        COND1   le, 14
        COND1   g, 15
        xor     ebx, ebx
        xor     ecx, ecx
        xor     edx, edx
        mov     esi, 15
.l:     shl     ebx, 1
        shl     ecx, 1
        shl     edx, 1
        or      bl, [COND+esi]
        or      cx, [COND+0x20+esi*2]
        or      dl, [COND+0x60+esi]
        dec     si
        jns     .l
        ret

%macro CONDCHK 2
        SETF    %1
        call    cond_run
        CHK     ebx, %2
        CHK     ecx, %2
        CHK     edx, %2
%endmacro

test_cond:
        CONDCHK 0, 0xAAAA
        CONDCHK F_CF, 0xAA66
        CONDCHK F_ZF, 0x6A5A
        CONDCHK F_SF, 0x59AA
        CONDCHK F_OF, 0x5AA9
        CONDCHK F_PF, 0xA6AA
        CONDCHK F_SF|F_OF, 0xA9A9
        CONDCHK F_ZF|F_SF, 0x595A
        CONDCHK F_CF|F_ZF, 0x6A56
        CONDCHK F_ARITH, 0x6555
        CONDCHK F_OF|F_ZF, 0x5A59
        ; register forms
        mov     eax, 0x11111111
        mov     ebx, 0x22222222
        SETF    F_CF
        cmovc   eax, ebx                ; taken
        CHK     eax, 0x22222222
        mov     eax, 0x11111111
        cmovz   eax, ebx                ; not taken
        CHK     eax, 0x11111111
        cmovnc  ax, bx
        CHK     eax, 0x11111111
        cmovc   ax, bx
        CHK     eax, 0x11112222
        mov     eax, 0xFFFFFFFF
        setc    ah
        setnc   al
        CHK     eax, 0xFFFF0100
        OK      "setcc/cmovcc/jcc"
        ret

; ------------------------------------------------------------------------
str_src: db     "ABCDEFGHIJKLMNOP"

test_string:
        cld
        push    cs
        pop     fs
        mov     si, str_src
        mov     di, BUF
        mov     cx, 16
        rep fs  movsb                   ; FS:SI -> ES:DI
        CHKW    cx, 0
        CHKW    si, str_src+16
        CHKW    di, BUF+16
        CHK     [BUF], 'ABCD'
        CHK     [BUF+12], 'MNOP'
        ; backwards words
        std
        mov     si, BUF+14
        mov     di, BUF+0x20+14
        mov     cx, 8
        rep     movsw
        cld
        CHKW    si, BUF-2
        CHKW    di, BUF+0x20-2
        CHK     [BUF+0x20], 'ABCD'
        CHK     [BUF+0x2C], 'MNOP'
        ; a32 rep movsd uses ECX/ESI/EDI
        mov     esi, BUF
        mov     edi, BUF+0x40
        mov     ecx, 4
        a32 rep movsd
        CHK     ecx, 0
        CHK     esi, BUF+16
        CHK     edi, BUF+0x50
        CHK     [BUF+0x4C], 'MNOP'
        ; a16 rep uses CX/SI/DI only; upper halves are preserved
        mov     ecx, 0xABCD0002
        mov     esi, 0x5A5A0000+BUF
        mov     edi, 0xA5A50000+BUF+0x60
        rep     movsb
        CHK     ecx, 0xABCD0000
        CHK     esi, 0x5A5A0000+BUF+2
        CHK     edi, 0xA5A50000+BUF+0x62
        CHKW    [BUF+0x60], 'AB'
        ; SI wraps at 64K with 16-bit addressing
        mov     byte [0xFFFF], 0x77
        mov     esi, 0x1234FFFF
        mov     di, BUF+0x70
        movsb
        CHK     esi, 0x12340000
        CHKB    [BUF+0x70], 0x77
        ; stos
        mov     di, BUF+0x80
        mov     al, 0x5A
        mov     cx, 3
        rep     stosb
        mov     ax, 0x1234
        stosw
        mov     eax, 0xDEADBEEF
        stosd
        CHKW    di, BUF+0x89
        CHK     [BUF+0x80], 0x345A5A5A
        CHK     [BUF+0x84], 0xADBEEF12
        CHKB    [BUF+0x88], 0xDE
        std
        mov     ax, 0x9876
        stosw                           ; at BUF+0x89, DI -= 2
        cld
        CHKW    di, BUF+0x87
        CHKW    [BUF+0x89], 0x9876
        ; lods
        mov     si, BUF
        mov     eax, 0x11223344
        lodsb
        CHK     eax, 0x11223341
        lodsw
        CHK     eax, 0x11224342
        lodsd
        CHK     eax, 'DEFG'
        CHKW    si, BUF+7
        ; cmps
        mov     si, BUF
        mov     di, BUF+0x90
        mov     cx, 8
        rep     movsb
        mov     byte [BUF+0x94], 'X'
        mov     si, BUF
        mov     di, BUF+0x90
        mov     cx, 8
        SETF    F_ZF
        repe    cmpsb                   ; stops at 'E' vs 'X'
        CHKW    cx, 3
        CHKW    si, BUF+5
        CHKW    di, BUF+0x95
        CHKFL   F_CF|F_SF|F_AF|F_PF, F_ZF|F_OF
        mov     si, BUF
        mov     di, BUF+0x90
        mov     cx, 4
        repe    cmpsb                   ; all equal
        CHKW    cx, 0
        CHKFL   F_ZF|F_PF, F_CF|F_SF|F_OF|F_AF
        mov     dword [BUF+0xA0], 'XXYY'
        mov     word [BUF+0xA4], 'EF'
        mov     si, BUF
        mov     di, BUF+0xA0
        mov     cx, 5
        repne   cmpsw                   ; stops at the 3rd word
        CHKW    cx, 2
        CHKW    si, BUF+6
        CHKFL   F_ZF, 0
        ; scas
        mov     di, BUF
        mov     al, 'D'
        mov     cx, 10
        repne   scasb
        CHKW    cx, 6
        CHKW    di, BUF+4
        CHKFL   F_ZF, 0
        mov     di, BUF
        mov     al, 'A'
        mov     cx, 10
        repe    scasb                   ; 'A'-'B' ends it
        CHKW    cx, 8
        CHKW    di, BUF+2
        CHKFL   F_CF|F_SF|F_AF|F_PF, F_ZF|F_OF
        std
        mov     eax, 'MNOP'
        mov     di, BUF+12
        scasd
        cld
        CHKFL   F_ZF, 0
        CHKW    di, BUF+8
        mov     edi, BUF
        mov     ecx, 0x10
        mov     al, 'P'
        a32 repne scasb
        CHK     ecx, 0
        CHK     edi, BUF+16
        CHKFL   F_ZF, 0
        ; a rep with CX=0 does nothing and keeps the flags
        mov     si, BUF
        mov     di, BUF+0x90
        xor     cx, cx
        SETF    F_CF|F_ZF|F_SF
        repe    cmpsb
        CHKFL   F_CF|F_ZF|F_SF, F_OF
        CHKW    si, BUF
        CHKW    di, BUF+0x90
        OK      "string"
        ret

; ------------------------------------------------------------------------
test_stack:
        mov     [SCRATCH+0x200], sp
        mov     sp, 0x6000
        mov     eax, 0x12345678
        push    ax
        CHKSP   0x5FFE
        CHKW    [0x5FFE], 0x5678
        push    eax
        CHKSP   0x5FFA
        CHK     [0x5FFA], 0x12345678
        pop     ebx
        CHK     ebx, 0x12345678
        pop     cx
        CHKW    cx, 0x5678
        CHKSP   0x6000
        push    byte -2                 ; imm8 sign-extended to a word
        CHKSP   0x5FFE
        CHKW    [0x5FFE], 0xFFFE
        push    dword 0x80
        CHKSP   0x5FFA
        CHK     [0x5FFA], 0x80
        add     sp, 6
        push    sp                      ; value before the push
        CHKW    [0x5FFE], 0x6000
        pop     ax
        push    word 0x5F00
        pop     sp
        CHKSP   0x5F00
        mov     sp, 0x6000
        mov     word [BUF], 0xBEEF
        mov     word [BUF+2], 0xBEEF
        push    word [BUF]
        pop     word [BUF+4]
        CHKW    [BUF+4], 0xBEEF
        push    dword [BUF]
        pop     dword [BUF+8]
        CHK     [BUF+8], 0xBEEFBEEF
        ; segment registers
        push    cs
        CHKW    [0x5FFE], 0xF000
        pop     es
        mov     ax, es
        CHKW    ax, 0xF000
        push    ds
        pop     es
        mov     ax, 0x1234
        mov     fs, ax
        o32 push fs                     ; 4 bytes, low word = selector
        CHKSP   0x5FFC
        CHKW    [0x5FFC], 0x1234
        o32 pop gs
        CHKSP   0x6000
        mov     ax, gs
        CHKW    ax, 0x1234
        ; pusha / popa
        mov     ax, 0x1111
        mov     cx, 0x2222
        mov     dx, 0x3333
        mov     bx, 0x4444
        mov     bp, 0x5555
        mov     si, 0x6666
        mov     di, 0x7777
        pusha
        CHKSP   0x5FF0
        CHKW    [0x5FFE], 0x1111
        CHKW    [0x5FFC], 0x2222
        CHKW    [0x5FFA], 0x3333
        CHKW    [0x5FF8], 0x4444
        CHKW    [0x5FF6], 0x6000
        CHKW    [0x5FF4], 0x5555
        CHKW    [0x5FF2], 0x6666
        CHKW    [0x5FF0], 0x7777
        mov     word [0x5FF6], 0x1234   ; popa discards the SP slot
        xor     ax, ax
        mov     bx, ax
        mov     cx, ax
        mov     dx, ax
        mov     si, ax
        mov     di, ax
        mov     bp, ax
        popa
        CHKSP   0x6000
        CHKW    ax, 0x1111
        CHKW    cx, 0x2222
        CHKW    dx, 0x3333
        CHKW    bx, 0x4444
        CHKW    bp, 0x5555
        CHKW    si, 0x6666
        CHKW    di, 0x7777
        mov     eax, 0xA1111111
        mov     ecx, 0xA2222222
        mov     edx, 0xA3333333
        mov     ebx, 0xA4444444
        mov     ebp, 0xA5555555
        mov     esi, 0xA6666666
        mov     edi, 0xA7777777
        pushad
        CHKSP   0x5FE0
        CHK     [0x5FFC], 0xA1111111
        CHK     [0x5FF8], 0xA2222222
        CHK     [0x5FF4], 0xA3333333
        CHK     [0x5FF0], 0xA4444444
        CHK     [0x5FEC], 0x00006000
        CHK     [0x5FE8], 0xA5555555
        CHK     [0x5FE4], 0xA6666666
        CHK     [0x5FE0], 0xA7777777
        xor     eax, eax
        mov     ebx, eax
        mov     ecx, eax
        mov     edx, eax
        mov     esi, eax
        mov     edi, eax
        mov     ebp, eax
        popad
        CHKSP   0x6000
        CHK     eax, 0xA1111111
        CHK     ecx, 0xA2222222
        CHK     edx, 0xA3333333
        CHK     ebx, 0xA4444444
        CHK     ebp, 0xA5555555
        CHK     esi, 0xA6666666
        CHK     edi, 0xA7777777
        ; enter/leave (SDM ENTER with nesting levels)
        mov     bp, 0x6100
        mov     word [0x60FE], 0xAAAA
        mov     word [0x60FC], 0xBBBB
        enter   6, 3
        CHKW    bp, 0x5FFE
        CHKSP   0x5FF2
        CHKW    [0x5FFE], 0x6100
        CHKW    [0x5FFC], 0xAAAA
        CHKW    [0x5FFA], 0xBBBB
        CHKW    [0x5FF8], 0x5FFE
        leave
        CHKSP   0x6000
        CHKW    bp, 0x6100
        enter   4, 0
        CHKW    bp, 0x5FFE
        CHKSP   0x5FFA
        leave
        enter   0, 1
        CHKW    bp, 0x5FFE
        CHKSP   0x5FFC
        CHKW    [0x5FFC], 0x5FFE
        leave
        CHKSP   0x6000
        CHKW    bp, 0x6100
        ; ret imm16
        push    word 0xAAAA
        push    word 0xBBBB
        call    .retn
        CHKSP   0x6000
        mov     sp, [SCRATCH+0x200]
        OK      "stack"
        ret
.retn:  ret     4

; ------------------------------------------------------------------------
test_misc:
        ; xlat
        mov     byte [BUF+0x110], 0x99
        mov     byte [BUF+0x1F0], 0x88
        mov     eax, 0x12345610
        mov     bx, BUF+0x100
        xlatb
        CHK     eax, 0x12345699
        mov     al, 0xF0                ; AL is unsigned
        xlatb
        CHKB    al, 0x88
        mov     byte [0x100+BUF+0x110], 0x42
        mov     ax, 0x0010
        mov     es, ax
        mov     al, 0x10
        es xlatb
        CHKB    al, 0x42
        xor     ax, ax
        mov     es, ax
        ; lea
        mov     bx, 0x1000
        mov     si, 0x0200
        lea     ax, [bx+si+0x1234]
        CHKW    ax, 0x2434
        mov     bp, 0xFFFF
        mov     di, 3
        lea     ax, [bp+di-2]           ; wraps at 16 bits
        CHKW    ax, 0x0000
        mov     ebx, 0x10000
        mov     ecx, 0x100
        lea     eax, [ebx+ecx*4+0x10]
        CHK     eax, 0x10410
        mov     eax, 0xFFFFFFFF
        lea     ax, [ebx+ecx*8+0x3456]  ; 32-bit address, 16-bit result
        CHK     eax, 0xFFFF3C56
        mov     bx, 0xFFFF
        mov     si, 2
        lea     eax, [bx+si]            ; 16-bit address, zero-extended
        CHK     eax, 1
        ; far pointer loads
        mov     dword [BUF], 0x56781234
        mov     dword [BUF+4], 0x00009ABC
        lds     si, [BUF]
        mov     ax, ds
        xor     bx, bx
        mov     ds, bx
        CHKW    ax, 0x5678
        CHKW    si, 0x1234
        les     di, [BUF]
        mov     ax, es
        mov     es, bx
        CHKW    ax, 0x5678
        CHKW    di, 0x1234
        lfs     edx, [BUF]              ; 32-bit offset, then selector
        mov     ax, fs
        CHK     edx, 0x56781234
        CHKW    ax, 0x9ABC
        lgs     cx, [BUF+2]
        mov     ax, gs
        CHKW    cx, 0x5678
        CHKW    ax, 0x9ABC
        mov     [BUF+8], sp
        mov     word [BUF+10], 0
        mov     ax, sp
        lss     sp, [BUF+8]
        mov     bx, ss
        CHKW    bx, 0
        ; xchg
        mov     eax, 0x11112222
        mov     edx, 0x33334444
        xchg    eax, edx
        CHK     eax, 0x33334444
        CHK     edx, 0x11112222
        xchg    ax, dx
        CHK     eax, 0x33332222
        mov     byte [BUF], 0x55
        mov     cl, 0xAA
        xchg    [BUF], cl
        CHKB    cl, 0x55
        CHKB    [BUF], 0xAA
        ; flag instructions
        SETF    0
        stc
        CHKFL   F_CF, 0
        cmc
        CHKFL   0, F_CF
        cmc
        clc
        CHKFL   0, F_CF
        std
        CHKF    F_DF, F_DF
        cld
        CHKF    F_DF, 0
        ; movs of segment registers
        mov     ax, 0x4321
        mov     es, ax
        mov     [BUF], es
        mov     bx, es
        mov     dx, 0
        mov     es, dx
        CHKW    [BUF], 0x4321
        CHKW    bx, 0x4321
        ; segment arithmetic: DS=0x0300 addresses linear 0x3000 + offset
        mov     dword [BUF+0x10], 0xFEEDF00D
        mov     ax, BUF >> 4
        mov     ds, ax
        mov     ebx, [0x10]
        xor     ax, ax
        mov     ds, ax
        CHK     ebx, 0xFEEDF00D
        OK      "misc"
        ret

; ------------------------------------------------------------------------
test_flow:
        xor     ax, ax
        mov     ecx, 0x00010005
.l1:    inc     ax
        loop    .l1                     ; 16-bit address size: CX
        CHKW    ax, 5
        CHK     ecx, 0x00010000
        xor     ax, ax
        mov     ecx, 3
.l2:    inc     ax
        a32 loop .l2                    ; ECX
        CHKW    ax, 3
        CHK     ecx, 0
        mov     cx, 2
        SETF    F_ZF|F_CF
.l3:    loop    .l3                     ; flags unchanged
        CHKFL   F_ZF|F_CF, 0
        mov     cx, 5
        xor     ax, ax
.l4:    inc     ax
        cmp     ax, 3
        loopne  .l4
        CHKW    ax, 3
        CHKW    cx, 2
        mov     cx, 5
        xor     ax, ax
.l5:    inc     ax
        cmp     ax, 1
        loope   .l5
        CHKW    ax, 2
        CHKW    cx, 3
        mov     ecx, 0x10000
        jcxz    .j1
        FAIL    2, "jcxz not taken"
.j1:    jecxz   .bad
        xor     ecx, ecx
        jecxz   .j2
.bad:   FAIL    2, "jecxz"
.j2:
        ; near indirect call/jmp
        mov     ax, .ncall
        xor     bx, bx
        call    ax
        CHKW    bx, 1
        mov     word [BUF], .ncall
        call    [BUF]
        CHKW    bx, 2
        mov     ax, .j3
        jmp     ax
        FAIL    2, "jmp reg"
.j3:    mov     word [BUF], .j4
        jmp     [BUF]
        FAIL    2, "jmp mem"
.j4:
        ; far call into another segment (F100) aliasing the same code
        mov     [SCRATCH+0x200], sp
        push    word 0x1111
        push    word 0x2222
        call    0xF100:(farproc - 0x1000)
.fret:  CHKW    ax, 0xF100
        CHKW    bx, .fret
        CHKW    cx, 0xF000
        CHKW    dx, 0x2222
        mov     si, [SCRATCH+0x200]
        CHKW    si, 0x6FFE
        CHKSP   0x6FFE                  ; retf 4 removed the parameters
        mov     word [BUF], farproc - 0x1000
        mov     word [BUF+2], 0xF100
        push    word 0
        push    word 0
        call    far [BUF]
.fret2: CHKW    bx, .fret2
        CHKW    ax, 0xF100
        ; 32-bit far call: pushes CS as a dword, then EIP
        call    dword 0xF100:(farproc32 - 0x1000)
.fret3: CHK     ebx, .fret3
        CHKW    cx, 0xF000
        CHKW    ax, 0xF100
        CHKSP   0x6FFE
        ; far jmp through memory
        mov     word [BUF], farjmp - 0x1000
        mov     word [BUF+2], 0xF100
        jmp     far [BUF]
.fjback:
        CHKW    ax, 0xF100
        OK      "flow"
        ret
.ncall: inc     bx
        ret

farproc:                                ; runs with CS=F100
        mov     ax, cs
        mov     bp, sp
        mov     bx, [bp]
        mov     cx, [bp+2]
        mov     dx, [bp+4]
        retf    4
farproc32:
        mov     ax, cs
        mov     ebx, [esp]
        mov     cx, [esp+4]
        o32 retf
farjmp:
        mov     ax, cs
        jmp     0xF000:test_flow.fjback
        times   ((farproc - $$) >= 0x1000) ? 0 : -1 db 0   ; farproc must be >= 0x1000

; ------------------------------------------------------------------------
INTREC  equ     SCRATCH+0x400
int40:
        push    bp
        mov     bp, sp
        pushfd
        pop     dword [INTREC+8]
        push    ax
        mov     ax, [bp+2]
        mov     [INTREC], ax
        mov     ax, [bp+4]
        mov     [INTREC+2], ax
        mov     ax, [bp+6]
        mov     [INTREC+4], ax
        lea     ax, [bp+2]
        mov     [INTREC+12], ax
        or      word [bp+6], F_OF       ; IRET must load the modified image
        pop     ax
        pop     bp
        iret

test_int:
        mov     word [0x40*4], int40
        mov     word [0x40*4+2], 0xF000
        mov     [SCRATCH+0x200], sp
        SETF    F_CF|F_ZF|F_AC
        int     0x40
.ret:   CHKF    F_ARITH|F_AC|F_IF|F_TF, F_CF|F_ZF|F_OF  ; AC cleared by INT
        CHKW    [INTREC], .ret
        CHKW    [INTREC+2], 0xF000
        CHKW    [INTREC+4], F_CF|F_ZF|2
        CHK     [INTREC+8], F_CF|F_ZF|2
        CHKW    [SCRATCH+0x200], 0x6FFE
        CHKW    [INTREC+12], 0x6FFE-6   ; IP, CS, FLAGS pushed
        ; int3 and into report the next instruction
        RM_TRY  .r1
        int3
.r1:    CHK     [exc_vec], 3
        CHK     [exc_eip], .r1
        SETF    F_OF
        RM_TRY  .r2
        into
.r2:    CHK     [exc_vec], 4
        CHK     [exc_eip], .r2
        SETF    0
        RM_TRY  .r3
        into                            ; OF=0: no trap
.r3:    CHK     [exc_vec], -1
        mov     word [rm_resume], 0
        ; faults report the faulting instruction
        mov     bl, 0
        RM_TRY  .r4
.d1:    div     bl
.r4:    CHKEXC  0, -1, .d1
        mov     ax, 0x1000
        mov     bl, 2
        RM_TRY  .r5
.d2:    div     bl                      ; quotient 0x800 does not fit
.r5:    CHKEXC  0, -1, .d2
        mov     ax, 0x8000
        mov     bl, 0xFF
        RM_TRY  .r6
.d3:    idiv    bl                      ; +32768 does not fit in AL
.r6:    CHKEXC  0, -1, .d3
        mov     edx, 0xFFFFFFFF
        mov     eax, 0x80000000
        mov     ebx, -1
        RM_TRY  .r7
.d4:    idiv    ebx
.r7:    CHKEXC  0, -1, .d4
        CHK     eax, 0x80000000         ; unchanged
        mov     ax, 0x0909
        RM_TRY  .r8
.d5:    aam     0
.r8:    CHKEXC  0, -1, .d5
        mov     word [BUF], -5
        mov     word [BUF+2], 20
        mov     ax, -3
        RM_TRY  .r9
        bound   ax, [BUF]               ; in range (signed)
.r9:    CHK     [exc_vec], -1
        mov     ax, 21
        RM_TRY  .r10
.b1:    bound   ax, [BUF]
.r10:   CHKEXC  5, -1, .b1
        mov     ax, -6
        RM_TRY  .r11
.b2:    bound   ax, [BUF]
.r11:   CHKEXC  5, -1, .b2
        RM_TRY  .r12
.u1:    ud2
.r12:   CHKEXC  6, -1, .u1
        mov     word [rm_resume], 0
        CHKSP   0x6FFE
        OK      "int"
        ret

; ------------------------------------------------------------------------
test_flags:
        push    word 0xFCFF             ; everything except TF and IF
        popf
        pushf
        pop     ax
        CHKW    ax, 0x7CD7              ; bits 3, 5, 15 stay 0, bit 1 is 1
        push    word 0
        popf
        pushf
        pop     ax
        CHKW    ax, 0x0002
        push    dword 0x00240000        ; AC and ID are writable
        popfd
        pushfd
        pop     eax
        CHK     eax, 0x00240002
        SETF    2
        ; lahf/sahf
        SETF    F_ARITH
        mov     ax, 0
        lahf
        CHKW    ax, 0xD700
        SETF    F_OF
        lahf
        CHKW    ax, 0x0200
        mov     ah, 0xFF
        sahf                            ; SF ZF AF PF CF from AH, OF kept
        CHKF    F_ARITH, F_ARITH
        mov     ah, 0
        sahf
        CHKF    F_ARITH, F_OF
        OK      "flags"
        ret

; ------------------------------------------------------------------------
test_prefix:
        mov     [SCRATCH+0x200], sp
        call    dword .n32              ; 66 E8: pushes EIP (4 bytes)
.n32ret:
        CHK     eax, .n32ret
        CHKW    bx, 0x6FFE-4
        CHKSP   0x6FFE
        ; 32-bit addressing in real mode
        mov     dword [BUF+0x10], 0xCAFEBABE
        mov     ebx, BUF
        mov     ecx, 4
        mov     eax, [ebx+ecx*4]
        CHK     eax, 0xCAFEBABE
        mov     eax, 8
        mov     dx, [eax+ebx+8]
        CHKW    dx, 0xBABE
        ; 16-bit effective addresses wrap at 64K
        mov     dword [BUF], 'ABCD'
        mov     bx, 0xFFF0
        mov     si, BUF+0x10
        mov     al, [bx+si]
        CHKB    al, 'A'
        mov     bx, BUF+1
        mov     al, [bx-1]              ; disp8 is sign-extended
        CHKB    al, 'A'
        ; operand size on immediates and near jumps
        mov     eax, 0
        push    dword 0x1234            ; 66 68 imm32
        pop     eax
        CHK     eax, 0x1234
        jmp     dword .far32
        FAIL    2, "jmp dword"
.far32: mov     ax, 0xFFFF
        add     eax, 1                  ; 66 83 /0: 32-bit add
        CHK     eax, 0x10000
        add     ax, 1
        CHK     eax, 0x10001
        OK      "prefix"
        ret
.n32:   mov     eax, [esp]
        mov     bx, sp
        o32 ret
