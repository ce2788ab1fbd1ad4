; flatseg.asm - memory operands while DS, ES and SS change between flat
; and non-flat segments.  The translation cache builds blocks whose memory
; operands skip the segment arithmetic when DS, ES and SS are all flat
; (base 0, 4 GiB limit, writable, SS.B = 1); the same code run with any of
; them non-flat must see the base, the limit and the access rights again.
;
;  1. one routine (loads, stores, ALU with memory operands, MOVZX, byte
;     forms, base+disp and base+index*4 addressing) called in turns with
;     DS flat and DS based at 0x10000; segments changed with MOV, POP and LDS
;  2. the same with an ES override and with SS based (EBP addressing)
;  3. a DS that is flat but for its limit (64 KiB), and a read-only flat
;     ES: the limit violation and the write give #GP(0) (skipped under
;     QEMU, which checks neither); back to flat, the routine works again
;  4. a flat access whose last byte wraps past 4 GiB: #GP(0) (skipped
;     under QEMU)

%include "lib.inc"

SEL_BASED       equ SEL_FREE            ; data, base 0x10000, limit 4 GiB - 0x10000
SEL_LIM64K      equ SEL_FREE + 8        ; data, base 0, limit 0xFFFF
SEL_RO          equ SEL_FREE + 16       ; read-only data, base 0, limit 4 GiB
SEL_SMALLSTK    equ SEL_FREE + 24       ; data, base 0x10000, B = 1

BUF             equ 0x30000             ; flat view; DS-based view sees BUF+0x10000
FARPTR          equ 0x2F00              ; far pointers for LDS

CODE16
start:
        INIT16
        PUTS    "flatseg: start"
        ENTER_PM32 pm_start

CODE32
pm_start:
        GDT_SET SEL_BASED, 0x10000, 0xFFFEF, 0x93, 0xC0
        GDT_SET SEL_LIM64K, 0, 0xFFFF, 0x93, 0x40
        GDT_SET SEL_RO, 0, 0xFFFFF, 0x91, 0xC0
        GDT_SET SEL_SMALLSTK, 0x10000, 0xFFFEF, 0x93, 0xC0
        mov     dword [FARPTR], 0
        mov     word [FARPTR+4], SEL_BASED
        mov     dword [FARPTR+8], 0
        mov     word [FARPTR+12], SEL_DATA32

        ; ---- 1. DS flat / DS based, alternating, same code each time
        mov     ebp, 0                  ; round
.round: call    fill
        test    ebp, 1
        jz      .flat
        mov     ax, SEL_BASED
        cmp     ebp, 3
        je      .viapop
        cmp     ebp, 5
        je      .vialds
        mov     ds, ax
        jmp     .go
.viapop:
        push    eax
        pop     ds
        jmp     .go
.vialds:
        lds     ecx, [FARPTR]           ; DS = SEL_BASED, ECX = 0
        jmp     .go
.flat:  mov     ax, SEL_DATA32
        mov     ds, ax
.go:    mov     ebx, BUF
        mov     esi, 2
        call    probe
        mov     cx, SEL_DATA32
        mov     ds, cx
        ; flat rounds see the BUF values, based rounds the BUF+0x10000 ones
        test    ebp, 1
        jnz     .chkb
        CHK     eax, 0x11 + 0x13 + 0x5A
        CHK     edx, 0xA011
        CHK     [BUF+4], 0x11 + 0x13
        CHK     [BUF+8], 0x13 + 7
        CHK     [BUF+0x10000+4], 0x22
        jmp     .next
.chkb:  CHK     eax, 0x21 + 0x23 + 0x6A
        CHK     edx, 0xA021
        CHK     [BUF+0x10000+4], 0x21 + 0x23
        CHK     [BUF+0x10000+8], 0x23 + 7
        CHK     [BUF+4], 0x12
.next:  inc     ebp
        cmp     ebp, 8
        jne     .round
        OK      "DS flat and based"

        ; ---- 2. ES override and SS-based EBP addressing
        mov     ebp, 0
.r2:    call    fill
        mov     ax, SEL_DATA32
        test    ebp, 1
        jz      .es
        mov     ax, SEL_BASED
.es:    mov     es, ax
        mov     ebx, BUF
        mov     eax, [es:ebx]
        add     eax, [es:ebx+8]
        mov     [es:ebx+12], eax
        mov     cx, SEL_DATA32
        mov     es, cx
        test    ebp, 1
        jnz     .esb
        CHK     eax, 0x11 + 0x13
        CHK     [BUF+12], 0x11 + 0x13
        jmp     .esn
.esb:   CHK     eax, 0x21 + 0x23
        CHK     [BUF+0x10000+12], 0x21 + 0x23
.esn:   inc     ebp
        cmp     ebp, 4
        jne     .r2
        ; SS based at 0x10000: [ebp] is BUF + 0x10000 (ESP kept valid: the
        ; stack is not used while SS is based)
        call    fill
        mov     edi, esp
        mov     ax, SEL_SMALLSTK
        mov     ss, ax
        mov     ebp, BUF
        mov     eax, [ebp]
        add     [ebp+4], eax
        mov     ecx, [ebp+4]
        mov     dx, SEL_DATA32
        mov     ss, dx
        mov     esp, edi
        CHK     eax, 0x21
        CHK     ecx, 0x21 + 0x22
        CHK     [BUF+0x10000+4], 0x43
        mov     ebp, BUF                ; the same code again with SS flat
        mov     eax, [ebp]
        CHK     eax, 0x11
        OK      "ES and SS"

        ; ---- 3. a 64 KiB limit and a read-only segment
        SKIP_IF_QEMU .skip3
        mov     ax, SEL_LIM64K
        mov     es, ax
        mov     ebx, 0xFFFC
        mov     eax, [es:ebx]           ; last dword inside the limit
        TRY     .t1
        mov     ebx, 0xFFFE
.f1:    mov     eax, [es:ebx]           ; crosses the limit
        FAIL    1, "no #GP past the limit"
.t1:    CHKEXC  13, 0, .f1
        TRY     .t2
        mov     ebx, BUF
.f2:    add     [es:ebx+esi*4], eax     ; far past the limit (RMW form)
        FAIL    1, "no #GP for an RMW past the limit"
.t2:    CHKEXC  13, 0, .f2
        mov     ax, SEL_RO
        mov     es, ax
        mov     ebx, BUF
        mov     eax, [es:ebx]           ; reads are fine
        TRY     .t3
.f3:    mov     [es:ebx], eax
        FAIL    1, "no #GP writing a read-only segment"
.t3:    CHKEXC  13, 0, .f3
        TRY     .t4
.f4:    sub     [es:ebx+4], eax
        FAIL    1, "no #GP for an RMW of a read-only segment"
.t4:    CHKEXC  13, 0, .f4
        mov     dword [exc_resume], 0   ; disarm TRY
        mov     ax, SEL_DATA32
        mov     es, ax
        call    fill
        mov     ebx, BUF
        mov     esi, 2
        call    probe
        CHK     eax, 0x11 + 0x13 + 0x5A
        OK      "limit and rights"

        ; ---- 4. wrap past 4 GiB in a flat segment
        TRY     .t5
        mov     ebx, 0xFFFFFFFE
.f5:    mov     eax, [ebx]
        FAIL    1, "no #GP for an access wrapping past 4 GiB"
.t5:    CHKEXC  13, 0, .f5
        mov     dword [exc_resume], 0   ; disarm TRY
        OK      "wrap"
        jmp     .done
.skip3: OK      "limit and rights"
        OK      "wrap"
.done:  PUTS    "flatseg: all ok"
        PASS

; BUF gets 0x11 0x12 0x13 0x14 (dwords), BUF+0x10000 gets 0x21 .. 0x24;
; byte 0x5A / 0x6A at offset 16.  DS and ES must be flat.
fill:   mov     dword [BUF], 0x11
        mov     dword [BUF+4], 0x12
        mov     dword [BUF+8], 0x13
        mov     dword [BUF+12], 0x14
        mov     byte [BUF+16], 0x5A
        mov     dword [BUF+0x10000], 0x21
        mov     dword [BUF+0x10000+4], 0x22
        mov     dword [BUF+0x10000+8], 0x23
        mov     dword [BUF+0x10000+12], 0x24
        mov     byte [BUF+0x10000+16], 0x6A
        ret

; EBX = BUF, ESI = 2, through DS: returns EAX = [ebx] + [ebx+esi*4] +
; byte [ebx+16], EDX = 0xA000 | [ebx]; stores [ebx+4] = [ebx] + [ebx+8],
; adds 7 to [ebx+8].
probe:  mov     eax, [ebx]
        mov     ecx, eax
        add     eax, [ebx+esi*4]
        mov     [ebx+4], eax
        add     dword [ebx+esi*4], 7
        cmp     [ebx+4], eax
        jne     .bad
        movzx   edx, byte [ebx+16]
        add     eax, edx
        mov     dl, [ebx]
        movzx   edx, dl
        or      edx, 0xA000
        test    [ebx+esi*4], ecx
        ret
.bad:   mov     eax, -1
        ret
