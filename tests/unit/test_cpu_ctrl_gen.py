#!/usr/bin/env python3
"""Generates test_cpu_ctrl_code.inc: the machine code of the guest snippets
used by test_cpu_ctrl.c, assembled with nasm.  Run after editing a snippet:

    python3 tests/unit/test_cpu_ctrl_gen.py > tests/unit/test_cpu_ctrl_code.inc

Each snippet is (name, bits, org, source); the test copies it to linear
address org (32-bit code runs with CS base 0; 16-bit real-mode code with the
CS base the test chooses, org being the offset).
"""
import os
import subprocess
import sys
import tempfile

CODE = 0x10000

SNIPPETS = [
    # ---- real mode (CS = 0x1000) ----
    ("real_int", 16, 0, """
        sti
        int 0x21
        jmp $
    """),
    ("real_hnd_21", 16, 0, """
        mov ax, 0x1234
        iret
    """),
    ("real_div0", 16, 0, """
        xor bx, bx
        div bx
        jmp $
    """),
    ("real_far", 16, 0, """
        call 0x0400:0x0000
        jmp 0x0400:0x0010
    """),
    ("real_far_tgt", 16, 0, """
        retf
        times 16 - ($ - $$) nop
        jmp 0x1000:0x0020
    """),
    ("real_loop", 16, 0, """
        loop $
        a32 loop $
        jmp $
    """),
    # ---- protected mode, flat, org CODE ----
    ("pm_int40", 32, CODE, """
        sti
        int 0x40
        jmp $
    """),
    ("user_int40", 32, CODE, """
        int 0x40
        jmp $
    """),
    ("user_int44", 32, CODE, """
        int 0x44
        jmp $
    """),
    ("user_int41", 32, CODE, """
        int 0x41
        jmp $
    """),
    ("pm_int42", 32, CODE, """
        int 0x42
        jmp $
    """),
    ("pm_intF0", 32, CODE, """
        int 0xF0
        jmp $
    """),
    ("pm_ud2", 32, CODE, """
        nop
        ud2
        jmp $
    """),
    ("pm_int3", 32, CODE, """
        int3
        jmp $
    """),
    ("user_callgate", 32, CODE, """
        push 0x11111111
        push 0x22222222
        call 0x3B:0
        jmp $
    """),
    ("task_jmp", 32, CODE, """
        mov eax, 0x1111
        jmp 0x30:0
        jmp $
    """),
    ("task_call", 32, CODE, """
        mov eax, 0x1111
        call 0x30:0
        jmp $
    """),
    ("task_int", 32, CODE, """
        mov eax, 0x1111
        int 0x45
        jmp $
    """),
    ("pm_iret", 32, CODE, """
        iret
    """),
    ("v86_code", 16, 0, """
        int 0x40
        jmp $
    """),
    ("near", 32, CODE, """
        mov esp, 0x9000
        xor ebx, ebx
        mov eax, f1
        call eax
        mov dword [0x20000], f2
        call [0x20000]
        mov dword [0x20010], f3
        mov word [0x20014], 0x08
        call far [0x20010]
        push 1
        push 2
        call f4
        mov dword [0x20020], f5
        jmp [0x20020]
    f1: inc ebx
        ret
    f2: inc ebx
        ret
    f3: inc ebx
        retf
    f4: inc ebx
        ret 8
    f5: mov dword [0x20020], done
        mov word [0x20024], 0x08
        jmp far [0x20020]
        jmp $
    done:
        jmp $
    """),
    ("pm_loop", 32, CODE, """
        loop $
        a16 loop $
        jmp $
    """),
    ("pm_loopcc", 32, CODE, """
        loope $
        loopne $
        jmp $
    """),
    ("pm_jcxz", 32, CODE, """
        jecxz t1
        a16 jcxz t2
        jmp $
    t1: jmp $
    t2: jmp $
    """),
    ("pm_o16_jcc", 32, CODE, """
        db 0x66, 0x0F, 0x84
        dw 0x0010
        jmp $
    """),
    ("user_priv", 32, CODE, """
        cli
        jmp $
    """),
    ("user_hlt", 32, CODE, """
        hlt
        jmp $
    """),
    ("pm_misc", 32, CODE, """
        mov dword [0x20000], 10
        mov dword [0x20004], 20
        mov eax, 15
        bound eax, [0x20000]
        mov eax, 21
        bound eax, [0x20000]
        jmp $
    """),
    ("pm_into", 32, CODE, """
        mov al, 0x7F
        add al, 1
        into
        jmp $
    """),
    ("pm_icebp", 32, CODE, """
        db 0xF1
        jmp $
    """),
    ("pm_jmp_np", 32, CODE, """
        jmp 0x48:0
        jmp $
    """),
    ("seg_ss_bad", 32, CODE, """
        mov ax, 0x23
        mov ss, ax
        jmp $
    """),
    ("seg_ds_np", 32, CODE, """
        mov ax, 0x48
        mov ds, ax
        jmp $
    """),
    ("seg_ds_limit", 32, CODE, """
        mov ax, 0x100
        mov ds, ax
        jmp $
    """),
    ("seg_null_use", 32, CODE, """
        xor eax, eax
        mov ds, ax
        mov eax, [0]
        jmp $
    """),
    ("seg_expdown", 32, CODE, """
        mov ax, 0x50
        mov es, ax
        mov eax, [es:0x2000]
        mov eax, [es:0x800]
        jmp $
    """),
    ("real_bigreal", 16, 0, """
        xor ax, ax
        mov ds, ax
        mov eax, [dword 0x200000]
        jmp $
    """),
    ("user_callgate16", 32, CODE, """
        push word 0x3333
        call 0x43:0
        jmp $
    """),
]


def assemble(bits, org, src):
    with tempfile.TemporaryDirectory() as d:
        asm = os.path.join(d, "s.asm")
        out = os.path.join(d, "s.bin")
        with open(asm, "w") as f:
            f.write("bits %d\norg 0x%x\n%s\n" % (bits, org, src))
        subprocess.run(["nasm", "-f", "bin", "-o", out, asm], check=True)
        with open(out, "rb") as f:
            return f.read()


def main():
    w = sys.stdout.write
    w("/* Generated by test_cpu_ctrl_gen.py from the nasm snippets there;\n"
      " * do not edit. */\n")
    for name, bits, org, src in SNIPPETS:
        code = assemble(bits, org, src)
        lines = [l.strip() for l in src.strip("\n").split("\n")]
        w("\n/* %s (bits %d, org 0x%x):\n" % (name, bits, org))
        for l in lines:
            if l:
                w(" *   %s\n" % l)
        w(" */\n")
        w("static const uint8_t code_%s[] = {" % name)
        for k, b in enumerate(code):
            if k % 12 == 0:
                w("\n    ")
            else:
                w(" ")
            w("0x%02x," % b)
        w("\n};\n")


if __name__ == "__main__":
    main()
