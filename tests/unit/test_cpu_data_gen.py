#!/usr/bin/env python3
"""Generates test_cpu_data_code.inc: the machine code of the guest snippets
used by test_cpu_data.c, assembled with nasm.  Run after editing a snippet:

    python3 tests/unit/test_cpu_data_gen.py > tests/unit/test_cpu_data_code.inc

Each snippet runs at linear 0x10000 (32-bit: CS base 0, org 0x10000; 16-bit:
CS base 0x10000, org 0) and ends in HLT unless it is meant to fault.
"""
import os
import subprocess
import sys
import tempfile

SNIPPETS = [
    # ---- MOV / LEA / XCHG / MOVZX / XLAT ----
    ("mov32", 32, """
        mov eax, 0x12345678
        mov ebx, 0x20000
        mov ecx, 3
        mov [ebx+ecx*4+8], eax
        mov edx, [ebx+ecx*4+8]
        mov byte [ebx], 0xAB
        mov word [ebx+2], 0xCDEF
        mov dword [ebx+4], 0x11223344
        mov esi, 0
        mov si, [ebx+2]
        mov edi, 0xFFFFFFFF
        mov di, 0x5555
        mov al, [ebx]
        mov ch, al
        mov cl, 0x7F
        mov ebp, [0x20004]
        mov [0x20100], eax
        mov al, [0x20005]
        mov [0x20104], al
        hlt
    """),
    ("moffs", 32, """
        mov eax, [0x4]
        mov ax, [fs:0x6]
        db 0x67, 0xA0, 0x10, 0x00          ; a16 mov al, [0x10]
        mov [gs:0x20], eax
        db 0x67, 0x66, 0x65, 0xA3, 0x30, 0x00 ; a16 mov [gs:0x30], ax
        mov [0x40], al
        hlt
    """),
    ("mov_imm_sreg", 32, """
        mov ebx, 0x20000
        mov byte [ebx+0x10], 0x5A
        mov dword [ebx+0x14], 0xDEADBEEF
        mov word [ebx+0x18], 0x1234
        mov dword [ebx+0x20], 0xFFFFFFFF
        mov [ebx+0x20], es
        db 0x66
        mov [ebx+0x24], fs                 ; o16 form: still a word store
        mov eax, 0xFFFFFFFF
        mov eax, ss
        mov edx, 0xFFFFFFFF
        mov dx, fs
        mov ecx, 0xAAAAAAAA
        mov cl, 0x11
        mov ch, 0x22
        mov esi, 0x99999999
        mov si, 0x3344
        mov bh, 0x77
        hlt
    """),
    ("lea", 32, """
        mov ebx, 0x1000
        mov esi, 0x20
        mov ecx, 0xAAAAAAAA
        lea eax, [ebx+esi*4+0x10]
        lea cx, [ebx+esi*4-0x2000]
        db 0x67, 0x8D, 0x90, 0xF0, 0xFF    ; lea edx, [bx+si+0xFFF0]
        lea edi, [0x12345678]
        lea ebp, [esp+8]
        mov esp, 0x38000
        hlt
    """),
    ("lea_reg", 32, """
        db 0x8D, 0xC0                      ; lea eax, eax: #UD
        hlt
    """),
    ("xchg", 32, """
        mov eax, 0x11111111
        mov ebx, 0x22222222
        mov ecx, 0x33333333
        mov edx, 0x44444444
        mov esi, 0x55555555
        xchg eax, ecx
        xchg bx, ax
        xchg ah, cl
        xchg edx, [0x20000]
        lock xchg [0x20008], esi
        xchg [0x2000C], bh
        nop
        pause
        db 0x66, 0x90
        xchg edi, ebp
        xchg ebp, edi
        xchg edi, ebp
        hlt
    """),
    ("movzx", 32, """
        mov dword [0x20000], 0x8081F0F1
        mov edi, 0xAAAAAAAA
        mov ebp, 0xBBBBBBBB
        movzx eax, byte [0x20000]
        mov [0x20010], eax
        movsx ebx, byte [0x20000]
        movzx ecx, word [0x20002]
        movsx edx, word [0x20002]
        movsx di, byte [0x20001]
        movzx bp, cl
        mov esi, 0x12345678
        movsx esi, si
        movsx eax, dh
        movzx esp, word [0x20002]
        mov [0x20014], esp
        mov esp, 0x38000
        hlt
    """),
    ("xlat", 32, """
        mov ebx, 0x20100
        mov eax, 0xAAAAAA05
        xlatb
        mov ecx, eax
        mov eax, 0xBBBBBB05
        fs xlatb
        mov edx, eax
        mov ebx, 0x1234FFFE
        mov eax, 0xCCCCCC05
        a16 xlatb
        hlt
    """),
    ("movsx_reg", 32, """
        mov ebx, 0x00008001
        mov ecx, 0x0000007F
        movsx eax, bx
        movsx edx, bl
        movzx esi, bx
        movsx di, cl
        movzx bp, bh
        hlt
    """),

    # ---- segment loads ----
    ("movseg_pm", 32, """
        mov ax, 0x30
        mov ds, ax
        mov ebx, [0x10]
        mov es, [ss:0x20000]
        xor ecx, ecx
        mov fs, cx
        mov gs, eax
        hlt
    """),
    ("movss_null", 32, """
        xor eax, eax
        mov ss, ax
        hlt
    """),
    ("movds_bad", 32, """
        mov ax, 0x1000
        mov ds, ax
        hlt
    """),
    ("mov_cs", 32, """
        mov cs, ax
        hlt
    """),
    ("mov_sreg7", 32, """
        db 0x8C, 0xF8                      ; mov ax, sreg7: #UD
        hlt
    """),
    ("lxs_pm", 32, """
        lds esi, [0x20000]
        lgs di, [ss:0x20008]
        lfs eax, [ss:0x20010]
        les ecx, [ss:0x20010]
        lss esp, [ss:0x20018]
        hlt
    """),
    ("lds_bad", 32, """
        mov esi, 0x5555
        lds esi, [0x20020]
        hlt
    """),
    ("lds_reg", 32, """
        db 0xC5, 0xC0                      ; lds eax, eax: #UD
        hlt
    """),
    ("real_mov", 16, """
        mov ax, 0x2000
        mov ds, ax
        mov bx, 0x10
        mov si, 0x4
        mov word [bx+si+2], 0xBEEF
        db 0x8A, 0x80, 0xFF, 0xFF          ; mov al, [bx+si+0xFFFF]
        les di, [0x100]
        lss sp, [0x104]
        mov [es:di], al
        mov ecx, [ebx+esi*4]
        lgs edx, [0x108]
        mov [0x120], gs
        mov bp, 0x0120
        mov ah, [bp+0x6]                  ; SS default with BP
        hlt
    """),
    ("real_mov_cs", 16, """
        mov cs, ax
        hlt
    """),
    ("shadow_movss", 16, """
        mov ss, ax
        mov sp, 0x8000
        nop
        hlt
    """),
    ("shadow_popss", 16, """
        pop ss
        mov sp, 0x8000
        nop
        hlt
    """),
    ("shadow_lss", 16, """
        lss sp, [0x200]
        mov bx, 1
        nop
        hlt
    """),
    ("shadow_none", 16, """
        mov ax, bx
        mov sp, 0x8000
        nop
        hlt
    """),

    # ---- stack ----
    ("push_pop32", 32, """
        mov eax, 0x11111111
        mov ecx, 0xFFFFFFFF
        push eax
        push esp
        push 0x12345678
        push -2
        push word 0xABCD
        push dword [0x20000]
        pop ebx
        pop cx
        pop edx
        pop dword [0x20004]
        pop esi
        pop edi
        hlt
    """),
    ("pop_esp", 32, """
        mov esp, 0x37F00
        pop esp
        hlt
    """),
    ("pop_sp16", 32, """
        mov esp, 0x37F00
        pop sp
        hlt
    """),
    ("push_esp16", 32, """
        mov esp, 0x37F00
        push sp
        hlt
    """),
    ("pop_mem_esp", 32, """
        mov esp, 0x37F00
        pop dword [esp+4]
        pop dword [esp-8]
        push dword [esp]
        pop word [esp+4]
        hlt
    """),
    ("pop_mem_fault", 32, """
        mov esp, 0x37F00
        pop dword [es:0x20000]
        hlt
    """),
    ("push_pop16_real", 16, """
        push ax
        push bx
        push sp
        push dword 0x11223344
        pop ecx
        pop dx
        pop si
        pop di
        push word [0x10]
        pop word [0x12]
        hlt
    """),
    ("push_sreg", 32, """
        push es
        o16 push fs
        push ss
        pop eax
        o16 pop ds
        pop fs
        push cs
        push gs
        pop gs
        pop eax
        hlt
    """),
    ("pushad", 32, """
        pushad
        hlt
    """),
    ("popad", 32, """
        popad
        hlt
    """),
    ("pushaw", 32, """
        pushaw
        hlt
    """),
    ("popaw", 32, """
        popaw
        hlt
    """),
    ("pushf_cpl0", 32, """
        push 0xFFFFFEFF
        popfd
        pushfd
        pop eax
        push 0
        popfd
        pushfd
        pop ebx
        push word 0x7EFF
        popf
        pushf
        pop cx
        push 0
        popfd
        hlt
    """),
    ("popf_user", 32, """
        push 0xFFFFFEFF
        popfd
        pushfd
        pop eax
        push 0
        popfd
        pushfd
        pop ebx
        push word 0xFEFF
        popf
        pushf
        pop cx
        hlt
    """),
    ("v86_pushf", 16, """
        pushf
        hlt
    """),
    ("v86_popf", 16, """
        popf
        hlt
    """),
    ("v86_popf_iopl3", 16, """
        push word 0x3000
        popf
        pushf
        pop ax
        push dword 0x00240000
        popfd
        pushfd
        pop ebx
        hlt
    """),
    ("enter0", 32, """
        enter 0x10, 0
        hlt
    """),
    ("enter3", 32, """
        enter 8, 3
        hlt
    """),
    ("enter1", 32, """
        enter 4, 1
        hlt
    """),
    ("enter33", 32, """
        enter 4, 33
        hlt
    """),
    ("enter_o16", 32, """
        o16 enter 4, 2
        hlt
    """),
    ("enter_real", 16, """
        enter 4, 2
        hlt
    """),
    ("enter_fault", 32, """
        enter 0xFFFF, 2
        hlt
    """),
    ("leave", 32, """
        leave
        mov ebx, esp
        mov ecx, ebp
        mov ebp, 0x37F00
        o16 leave
        hlt
    """),
    ("leave_real", 16, """
        leave
        hlt
    """),

    # ---- strings ----
    ("movs32", 32, """
        mov esi, 0x20000
        mov edi, 0x21000
        cld
        movsb
        movsw
        movsd
        std
        movsd
        cld
        hlt
    """),
    ("movs16_wrap", 16, """
        movsb
        movsw
        hlt
    """),
    ("rep_movsb", 32, """
        rep movsb
        hlt
    """),
    ("rep_movsw", 32, """
        rep movsw
        hlt
    """),
    ("rep_movsd", 32, """
        rep movsd
        hlt
    """),
    ("repne_movsb", 32, """
        repne movsb
        hlt
    """),
    ("rep_movsb_fs", 32, """
        fs rep movsb
        hlt
    """),
    ("rep_movsw16", 16, """
        rep movsw
        hlt
    """),
    ("rep_movsd_a32_real", 16, """
        a32 rep movsd
        hlt
    """),
    ("rep_stosb", 32, """
        rep stosb
        hlt
    """),
    ("rep_stosw", 32, """
        rep stosw
        hlt
    """),
    ("rep_stosd", 32, """
        rep stosd
        hlt
    """),
    ("stos_mix", 32, """
        stosb
        stosw
        stosd
        fs stosb                           ; override ignored: still ES
        hlt
    """),
    ("rep_stosb16", 16, """
        rep stosb
        hlt
    """),
    ("lods", 32, """
        lodsb
        mov ebx, eax
        lodsw
        mov ecx, eax
        lodsd
        mov edx, eax
        mov ebp, esi
        mov esi, 0x20010
        mov eax, 0
        push 5
        pop ecx
        rep lodsb
        hlt
    """),
    ("lods_df", 32, """
        std
        lodsw
        fs lodsb
        cld
        hlt
    """),
    ("repe_cmpsb", 32, """
        repe cmpsb
        hlt
    """),
    ("repne_cmpsb", 32, """
        repne cmpsb
        hlt
    """),
    ("repe_cmpsd", 32, """
        repe cmpsd
        hlt
    """),
    ("cmpsw", 32, """
        fs cmpsw
        hlt
    """),
    ("repne_scasb", 32, """
        repne scasb
        hlt
    """),
    ("repe_scasw", 32, """
        repe scasw
        hlt
    """),
    ("scasd_df", 32, """
        std
        scasd
        cld
        hlt
    """),
    ("repe_cmpsb16", 16, """
        repe cmpsb
        hlt
    """),
    ("zero_flags", 32, """
        mov eax, 1
        cmp eax, 1
        rep cmpsb
        repne scasb
        hlt
    """),
    ("rep_insw", 32, """
        rep insw
        hlt
    """),
    ("insb_outsd", 32, """
        insb
        fs outsd
        std
        outsw
        cld
        hlt
    """),
    ("rep_outsb", 32, """
        rep outsb
        hlt
    """),
    ("rep_insd16", 16, """
        rep insd
        hlt
    """),
    ("smc_movs", 32, """
        mov ebx, 0
    again:
        mov eax, 0x11111111
        cmp ebx, 1
        je done
        mov ebx, 1
        mov esi, 0x20000
        mov edi, again
        mov ecx, 5
        rep movsb
        jmp again
    done:
        hlt
    """),

    # ---- port I/O ----
    ("io_basic", 32, """
        mov eax, 0xAAAAAAAA
        in al, 0x60
        mov ebx, eax
        mov eax, 0xBBBBBBBB
        in ax, 0x61
        mov ecx, eax
        in eax, 0x62
        mov esi, eax
        mov dx, 0x1F0
        in al, dx
        mov edi, eax
        in ax, dx
        mov ebp, eax
        in eax, dx
        out 0x80, al
        out 0x81, ax
        out 0x82, eax
        out dx, al
        out dx, ax
        out dx, eax
        hlt
    """),
    ("in80", 32, """
        in al, 0x80
        hlt
    """),
    ("in81", 32, """
        in al, 0x81
        hlt
    """),
    ("inw80", 32, """
        in ax, 0x80
        hlt
    """),
    ("io_dx", 32, """
        in eax, dx
        out dx, al
        hlt
    """),
    ("rep_outsb_io", 32, """
        rep outsb
        hlt
    """),
    ("rep_insb_io", 32, """
        rep insb
        hlt
    """),
    ("v86_in", 16, """
        in al, dx
        hlt
    """),
]


def assemble(bits, body):
    org = "0x10000" if bits == 32 else "0"
    src = "bits %d\norg %s\n%s\n" % (bits, org, body)
    with tempfile.TemporaryDirectory() as d:
        asm = os.path.join(d, "s.asm")
        out = os.path.join(d, "s.bin")
        with open(asm, "w") as f:
            f.write(src)
        subprocess.run(["nasm", "-f", "bin", "-o", out, asm], check=True)
        with open(out, "rb") as f:
            return f.read()


def main():
    w = sys.stdout.write
    w("/* Generated by test_cpu_data_gen.py from the nasm snippets there;\n"
      " * do not edit. */\n\n")
    for name, bits, body in SNIPPETS:
        code = assemble(bits, body)
        lines = [l.strip() for l in body.strip().splitlines()]
        w("/* %s (bits %d):\n" % (name, bits))
        for l in lines:
            w(" *   %s\n" % l.replace("*/", "* /"))
        w(" */\nstatic const uint8_t code_%s[] = {" % name)
        for k, b in enumerate(code):
            if k % 12 == 0:
                w("\n   ")
            w(" 0x%02x," % b)
        w("\n};\n\n")


if __name__ == "__main__":
    main()
