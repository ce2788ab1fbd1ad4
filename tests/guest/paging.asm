; paging.asm - 32-bit paging (SDM vol. 3 ch. 4, 2-level, no PAE).
;
;  - 4 KiB pages: identity map of 0-4 MiB, an alias (linear 0x400000 ->
;    physical 0x300000), a page table reached through a read-only PDE
;  - 4 MiB pages with CR4.PSE (linear 0x800000 -> physical 0xC00000)
;  - accessed/dirty bits written by the CPU in PDEs and PTEs
;  - #PF error codes and CR2: not-present read/write/fetch, user write to a
;    read-only page, user access to a supervisor page (PTE or PDE level),
;    supervisor write to a read-only page with CR0.WP=1 (faults) and
;    CR0.WP=0 (succeeds)
;  - INVLPG and CR3 reload after a PTE change; global pages (CR4.PGE): only
;    the architectural guarantees are checked (INVLPG and clearing PGE
;    flush a global entry; a CR3 reload may or may not)

%include "lib.inc"

PD      equ     0x10000
PT0     equ     0x11000                 ; linear 0x000000-0x3FFFFF
PT1     equ     0x12000                 ; linear 0x400000-0x7FFFFF
PT4     equ     0x13000                 ; linear 0x1000000-0x13FFFFF
TSS_BASE equ    0x2000
TSS_ESP0 equ    0x88000
VARS    equ     0x2800

P_P     equ     1
P_W     equ     2
P_U     equ     4
P_A     equ     0x20
P_D     equ     0x40
P_PS    equ     0x80
P_G     equ     0x100

PG_NP   equ     0x3FF000                ; not present
PG_RO   equ     0x3FE000                ; user, read-only
PG_SUP  equ     0x3FD000                ; supervisor, read/write
PG_AD   equ     0x3FC000                ; accessed/dirty test
PG_REMAP equ    0x3FB000                ; -> 0x100000 / 0x101000
PG_GLOB equ     0x3FA000                ; global -> 0x102000 / 0x103000

SEL_GATE equ    0x50                    ; call gate DPL3 -> ring0_back

%define PTE(lin) (PT0 + ((lin) >> 12) * 4)

CODE16
start:
        INIT16
        PUTS    "paging: start"
        ENTER_PM32 pm_start

CODE32
pm_start:
        ; page markers (physical)
        mov     dword [0x100000], 'AAAA'
        mov     dword [0x101000], 'BBBB'
        mov     dword [0x102000], 'CCCC'
        mov     dword [0x103000], 'DDDD'
        mov     dword [0x300020], 0
        mov     dword [PG_RO], 0x600DF00D
        mov     dword [0xC00010], 0
        ; tables
        mov     edi, PD
        mov     ecx, 0x4000 / 4
        xor     eax, eax
        rep     stosd
        mov     edi, PT0                ; identity 0-4 MiB, user RW
        mov     eax, P_P|P_W|P_U
        mov     ecx, 1024
.id:    stosd
        add     eax, 0x1000
        loop    .id
        mov     dword [PTE(PG_NP)], 0
        mov     dword [PTE(PG_RO)], PG_RO|P_P|P_U
        mov     dword [PTE(PG_SUP)], PG_SUP|P_P|P_W
        mov     dword [PTE(PG_REMAP)], 0x100000|P_P|P_W|P_U
        mov     dword [PTE(PG_GLOB)], 0x102000|P_P|P_W|P_U|P_G
        mov     dword [PT1], 0x300000|P_P|P_W|P_U       ; alias
        mov     dword [PT4], 0x304000|P_P|P_W|P_U
        mov     dword [PD+0*4], PT0|P_P|P_W|P_U
        mov     dword [PD+1*4], PT1|P_P|P_W             ; supervisor PDE
        mov     dword [PD+2*4], 0xC00000|P_PS|P_P|P_W|P_U
        mov     dword [PD+3*4], 0xC00000|P_PS|P_P|P_W|P_U
        mov     dword [PD+4*4], PT4|P_P|P_U             ; read-only PDE
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr4
        or      eax, 0x10               ; PSE
        mov     cr4, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax
        jmp     .on
.on:    mov     eax, cr0
        CHK     eax, 0xE0000011
        mov     eax, cr3
        CHK     eax, PD
        CHK     [0x100000], 'AAAA'      ; identity
        OK      "paging enabled"

        ; ---------------------------------------------- A/D bits
        mov     eax, [PD]
        and     eax, P_A
        CHK     eax, P_A                ; PDE used for the code fetch
        call    .here
.here:  pop     ebx                     ; page of this code (ROM)
        shr     ebx, 12
        mov     eax, [PT0+ebx*4]
        and     eax, P_A|P_D
        CHK     eax, P_A                ; ROM code page: accessed, clean
        CHK     [PTE(PG_AD)], PG_AD|7   ; untouched
        mov     eax, [PG_AD+0x10]
        CHK     [PTE(PG_AD)], PG_AD|7|P_A
        mov     dword [PG_AD+0x10], 1
        CHK     [PTE(PG_AD)], PG_AD|7|P_A|P_D
        mov     dword [PTE(PG_AD)], PG_AD|7     ; clear A/D again
        invlpg  [PG_AD]
        mov     dword [PG_AD+0x20], 2   ; a write sets both
        CHK     [PTE(PG_AD)], PG_AD|7|P_A|P_D
        OK      "accessed/dirty"

        ; ---------------------------------------------- 4 MiB pages, alias
        mov     dword [0x800010], 0x12345678
        CHK     [0xC00010], 0x12345678
        mov     eax, [PD+2*4]
        CHK     eax, 0xC00000|P_PS|7|P_A|P_D
        mov     eax, [PD+3*4]
        CHK     eax, 0xC00000|P_PS|7|P_A        ; read only: clean
        mov     dword [0x400020], 0xA11A5
        CHK     [0x300020], 0xA11A5
        CHK     [PT1], 0x300000|7|P_A|P_D
        mov     eax, [PD+1*4]
        and     eax, P_A|P_D
        CHK     eax, P_A                ; D is not used in a PDE -> table
        OK      "4M pages/alias"

        ; ---------------------------------------------- #PF, supervisor
        TRY     .r1
.f1:    mov     eax, [PG_NP+0x123]
.r1:    CHKEXC  14, 0, .f1
        CHK     [exc_cr2], PG_NP+0x123
        mov     eax, cr2
        CHK     eax, PG_NP+0x123
        TRY     .r2
.f2:    mov     byte [PG_NP+0xFFF], 1
.r2:    CHKEXC  14, P_W, .f2
        CHK     [exc_cr2], PG_NP+0xFFF
        mov     eax, PG_NP
        TRY     .r3
        jmp     eax                     ; fetch from a not-present page
.r3:    CHKEXC  14, 0, PG_NP
        CHK     [exc_cr2], PG_NP
        ; supervisor accesses to user / read-only pages
        mov     eax, [PG_RO]
        mov     dword [PG_RO+8], 0x5A5A ; CR0.WP=0: allowed
        CHK     [PG_RO+8], 0x5A5A
        mov     eax, [0x1000000]
        mov     dword [0x1000008], 0x77 ; read-only PDE, WP=0: allowed
        CHK     [0x304008], 0x77
        mov     eax, cr0
        or      eax, 0x10000            ; WP
        mov     cr0, eax
        TRY     .r4
.f4:    mov     dword [PG_RO+8], 0
.r4:    CHKEXC  14, P_P|P_W, .f4
        CHK     [exc_cr2], PG_RO+8
        CHK     [PG_RO+8], 0x5A5A
        TRY     .r5
.f5:    mov     dword [0x1000008], 0
.r5:    CHKEXC  14, P_P|P_W, .f5
        CHK     [exc_cr2], 0x1000008
        mov     eax, cr0
        and     eax, ~0x10000
        mov     cr0, eax
        OK      "#PF supervisor, CR0.WP"

        ; ---------------------------------------------- TLB maintenance
        CHK     [PG_REMAP], 'AAAA'
        mov     dword [PTE(PG_REMAP)], 0x101000|7
        invlpg  [PG_REMAP]
        CHK     [PG_REMAP], 'BBBB'
        mov     dword [PTE(PG_REMAP)], 0x100000|7
        mov     eax, cr3
        mov     cr3, eax                ; flushes non-global entries
        CHK     [PG_REMAP], 'AAAA'
        ; global page: architectural guarantees only
        mov     eax, cr4
        or      eax, 0x80               ; PGE
        mov     cr4, eax
        CHK     [PG_GLOB], 'CCCC'
        mov     dword [PTE(PG_GLOB)], 0x103000|7|P_G
        mov     eax, cr3
        mov     cr3, eax
        mov     eax, [PG_GLOB]          ; 'CCCC' (kept) or 'DDDD': either
        cmp     eax, 'CCCC'
        je      .gok
        CHK     eax, 'DDDD'
.gok:   invlpg  [PG_GLOB]
        CHK     [PG_GLOB], 'DDDD'
        mov     dword [PTE(PG_GLOB)], 0x102000|7|P_G
        mov     eax, cr4
        and     eax, ~0x80              ; clearing PGE flushes everything
        mov     cr4, eax
        CHK     [PG_GLOB], 'CCCC'
        CHK     [PG_REMAP], 'AAAA'
        OK      "invlpg/cr3/global"

        ; ---------------------------------------------- #PF, user
        mov     edi, TSS_BASE
        mov     ecx, 0x68 / 4
        xor     eax, eax
        rep     stosd
        mov     dword [TSS_BASE+4], TSS_ESP0
        mov     dword [TSS_BASE+8], SEL_DATA32
        mov     word [TSS_BASE+0x66], 0x68      ; no bitmap: IOPL decides
        GDT_SET SEL_TSS, TSS_BASE, 0x67, 0x89, 0x00
        mov     ax, SEL_TSS
        ltr     ax
        mov     edi, GDT_BASE+SEL_GATE
        mov     eax, ring0_back
        mov     [edi], ax
        mov     word [edi+2], SEL_CODE32
        mov     word [edi+4], 0xEC00
        shr     eax, 16
        mov     [edi+6], ax
        mov     ax, SEL_DATA32_R3
        mov     ds, ax
        mov     es, ax
        push    dword SEL_DATA32_R3
        push    dword STACK3_TOP
        push    dword 0x3002            ; IOPL 3 so ring 3 can print
        push    dword SEL_CODE32_R3
        push    dword ring3
        iretd

ring3:
        TRY     .u1
.g1:    mov     eax, [PG_SUP]
.u1:    CHKEXC  14, P_P|P_U, .g1
        CHK     [exc_cr2], PG_SUP
        TRY     .u2
.g2:    mov     dword [PG_SUP+4], 1
.u2:    CHKEXC  14, P_P|P_W|P_U, .g2
        CHK     [exc_cr2], PG_SUP+4
        TRY     .u3
        mov     eax, [PG_RO]            ; user read-only: read ok
.u3:    NOEXC
        CHK     eax, 0x600DF00D
        TRY     .u4
.g4:    mov     byte [PG_RO+0x800], 1
.u4:    CHKEXC  14, P_P|P_W|P_U, .g4
        CHK     [exc_cr2], PG_RO+0x800
        TRY     .u5
.g5:    mov     eax, [PG_NP+4]
.u5:    CHKEXC  14, P_U, .g5
        CHK     [exc_cr2], PG_NP+4
        TRY     .u6
.g6:    mov     dword [PG_NP], 0
.u6:    CHKEXC  14, P_W|P_U, .g6
        TRY     .u7
.g7:    mov     eax, [0x400020]         ; PTE user but PDE supervisor
.u7:    CHKEXC  14, P_P|P_U, .g7
        CHK     [exc_cr2], 0x400020
        TRY     .u8
        mov     eax, [0x1000008]        ; PDE read-only, PTE RW: read ok
.u8:    NOEXC
        CHK     eax, 0x77
        TRY     .u9
.g9:    mov     [0x1000008], eax        ; ... write faults
.u9:    CHKEXC  14, P_P|P_W|P_U, .g9
        CHK     [exc_cr2], 0x1000008
        CHK     [exc_cs], SEL_CODE32_R3
        OK      "#PF user"
        call    (SEL_GATE|3):0

ring0_back:
        mov     ax, SEL_DATA32
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     esp, STACK0_TOP
        PUTS    "paging: all ok"
        PASS
