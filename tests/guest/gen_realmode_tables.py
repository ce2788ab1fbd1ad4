#!/usr/bin/env python3
"""Generate realmode_tables.inc: table-driven ALU/shift/mul/div/BCD cases.

Each case runs one instruction (a "stub") with EAX=a, EDX=d, EBX=ECX=b and
EFLAGS=fin, then compares EAX, EDX and (EFLAGS & mask).  The expected values
come from the Operation / Flags Affected sections of the Intel SDM vol. 2,
transcribed below.  Flags the SDM leaves undefined are left out of the mask;
flags it says are unaffected stay in the mask with their input value.

Run: python3 gen_realmode_tables.py > realmode_tables.inc
"""
import random

CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
ARITH = CF | PF | AF | ZF | SF | OF
NOCHK_R1 = 0x8000  # mask bit: EAX result undefined, do not compare
NOCHK_R2 = 0x4000  # mask bit: EDX result undefined

rnd = random.Random(1234)
GARB_A = 0xA5C3E100   # upper-bit garbage for 8/16-bit operands
GARB_D = 0x5A3C0000
GARB_B = 0xC3A50000

REG = {8: ('al', 'bl', 'cl', 'dl'), 16: ('ax', 'bx', 'cx', 'dx'),
       32: ('eax', 'ebx', 'ecx', 'edx')}
PTR = {8: 'byte', 16: 'word', 32: 'dword'}
SCRATCH = 0x2000


def m(size):
    return (1 << size) - 1


def msb(x, size):
    return (x >> (size - 1)) & 1


def sx(x, size):
    x &= m(size)
    return x - (1 << size) if x >> (size - 1) else x


def parity(x):
    return bin(x & 0xFF).count('1') % 2 == 0


def szp(r, size):
    f = 0
    if r & m(size) == 0:
        f |= ZF
    if msb(r, size):
        f |= SF
    if parity(r):
        f |= PF
    return f


def merge(full, r, size):
    return (full & ~m(size) & 0xFFFFFFFF) | (r & m(size))


stubs = {}      # name -> asm lines
tables = {}     # table name -> list of entries
order = []


def stub(name, *lines):
    if name not in stubs:
        stubs[name] = list(lines) + ['ret']
    return 't_' + name


def entry(table, st, mask, a, d, b, fin, r1, r2, fout, comment):
    if table not in tables:
        tables[table] = []
        order.append(table)
    fin |= 0x2
    tables[table].append((st, mask, a & 0xFFFFFFFF, d & 0xFFFFFFFF,
                          b & 0xFFFFFFFF, fin, r1 & 0xFFFFFFFF,
                          r2 & 0xFFFFFFFF, fout & mask & ARITH, comment))


def widen(a, b, size):
    """full register values with garbage in bits above `size`"""
    if size == 32:
        return a, b
    return (GARB_A & ~m(size)) | a, (GARB_B & ~m(size)) | b


# ------------------------------------------------------------ basic ALU
def alu(op, a, b, cf, size):
    """returns (result or None if not written, flags, defined-mask)"""
    M = m(size)
    a &= M
    b &= M
    if op in ('add', 'adc'):
        c = cf if op == 'adc' else 0
        r = a + b + c
        f = szp(r, size)
        if r >> size:
            f |= CF
        if (a ^ b ^ r) & 0x10:
            f |= AF
        if msb((a ^ r) & (b ^ r), size):
            f |= OF
        return r & M, f, ARITH
    if op in ('sub', 'sbb', 'cmp'):
        c = cf if op == 'sbb' else 0
        r = (a - b - c) & M
        f = szp(r, size)
        if a < b + c:
            f |= CF
        if (a ^ b ^ r) & 0x10:
            f |= AF
        if msb((a ^ b) & (a ^ r), size):
            f |= OF
        return (None if op == 'cmp' else r), f, ARITH
    if op in ('and', 'or', 'xor', 'test'):
        r = {'and': a & b, 'or': a | b, 'xor': a ^ b, 'test': a & b}[op]
        return (None if op == 'test' else r), szp(r, size), ARITH & ~AF
    raise ValueError(op)


def edge_vals(size):
    M = m(size)
    h = 1 << (size - 1)
    return [0, 1, h - 1, h, M, 0x0F & M, 0x10 & M]


def gen_alu():
    for size in (8, 16, 32):
        M = m(size)
        ev = edge_vals(size)
        pairs = [(0, 0), (ev[2], 1), (M, 1), (ev[3], ev[3]),
                 (0x0F, 1), (ev[3], ev[2]), (0, 1),
                 (rnd.getrandbits(size), rnd.getrandbits(size))]
        ra, rb = REG[size][0], REG[size][1]
        for op in ('add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor',
                   'test'):
            st = stub(f'{op}{size}', f'{op} {ra}, {rb}')
            cfs = (0, 1) if op in ('adc', 'sbb') else (0,)
            for i, (a, b) in enumerate(pairs):
                for cf in ((i & 1,) if len(cfs) == 1 else
                           ((0, 1) if i in (0, 2, 3) else (i & 1,))):
                    fin = (ARITH if cf else 0) if op in ('adc', 'sbb') else \
                        (ARITH & ~CF if (a ^ b) & 1 else 0)
                    r, f, dm = alu(op, a, b, cf, size)
                    fa, fb = widen(a, b, size)
                    r1 = fa if r is None else merge(fa, r, size)
                    entry('alu', st, dm, fa, GARB_D, fb, fin, r1, GARB_D, f,
                          f'{op}{size} {a:#x},{b:#x} cf={cf}')
    # memory-destination and immediate forms
    for size in (8, 16, 32):
        M = m(size)
        ra, rb = REG[size][0], REG[size][1]
        for op in ('add', 'sbb', 'and', 'xor', 'cmp'):
            st = stub(f'{op}{size}m', f'mov [{SCRATCH}], {ra}',
                      f'{op} {PTR[size]} [{SCRATCH}], {rb}',
                      f'mov {ra}, [{SCRATCH}]')
            for a, b, cf in ((M, 1, 1), (1 << (size - 1), 1 << (size - 1), 0),
                             (0x3C, 0x0F, 1)):
                r, f, dm = alu(op, a, b, cf, size)
                fa, fb = widen(a, b, size)
                r1 = fa if r is None else merge(fa, r, size)
                fin = ARITH if cf else 0
                entry('alu', st, dm, fa, GARB_D, fb, fin, r1, GARB_D, f,
                      f'{op}{size} mem {a:#x},{b:#x}')
            # reg <- mem
            st = stub(f'{op}{size}rm', f'mov [{SCRATCH}], {rb}',
                      f'{op} {ra}, {PTR[size]} [{SCRATCH}]')
            a, b, cf = 0x5A & M, 0xA7 & M, 1
            r, f, dm = alu(op, a, b, cf, size)
            fa, fb = widen(a, b, size)
            r1 = fa if r is None else merge(fa, r, size)
            entry('alu', st, dm, fa, GARB_D, fb, ARITH, r1, GARB_D, f,
                  f'{op}{size} reg,mem')
        imms = {8: (0x80, 0x01, 0xFF), 16: (0x8000, 0x7FFF, 0xFFFF),
                32: (0x80000000, 0xFFFFFFFF, 0x00000001)}[size]
        for op in ('add', 'sub', 'adc', 'or', 'cmp'):
            for imm in imms:
                if size == 8:
                    ins = f'{op} {ra}, {imm:#x}'
                else:
                    # -1 / 1 are encoded as sign-extended imm8 (83 /n ib)
                    ins = f'{op} {ra}, {PTR[size]} {sx(imm, size)}'
                st = stub(f'{op}{size}i{imm:x}', ins)
                for a in ((imm, (imm + 1) & M, 0x7F & M)[imm % 3],):
                    cf = 1
                    r, f, dm = alu(op, a, imm, cf, size)
                    fa, _ = widen(a, 0, size)
                    r1 = fa if r is None else merge(fa, r, size)
                    entry('alu', st, dm, fa, GARB_D, 0, ARITH & ~ZF, r1,
                          GARB_D, f, f'{op}{size} imm {a:#x},{imm:#x}')
        # sign-extended imm8 into a 16/32-bit operand (83 /0 ib)
        if size > 8:
            st = stub(f'add{size}sx', f'add {ra}, byte -128')
            r, f, dm = alu('add', 0x100, -128 & M, 0, size)
            fa, _ = widen(0x100, 0, size)
            entry('alu', st, dm, fa, GARB_D, 0, 0, merge(fa, r, size), GARB_D,
                  f, f'add{size} imm8 -128')


def gen_incdec():
    for size in (8, 16, 32):
        M = m(size)
        ra = REG[size][0]
        for op in ('inc', 'dec', 'neg', 'not'):
            st = stub(f'{op}{size}', f'{op} {ra}')
            for i, a in enumerate((0, 0x0F, 1 << (size - 1),
                                   (1 << (size - 1)) - 1, M)):
                for fin in ((0, ARITH) if i == 4 else ((0, ARITH)[i & 1],)):
                    if op == 'inc':
                        r, f, _ = alu('add', a, 1, 0, size)
                        f = (f & ~CF) | (fin & CF)
                        dm = ARITH
                    elif op == 'dec':
                        r, f, _ = alu('sub', a, 1, 0, size)
                        f = (f & ~CF) | (fin & CF)
                        dm = ARITH
                    elif op == 'neg':
                        r, f, _ = alu('sub', 0, a, 0, size)
                        dm = ARITH
                    else:
                        r, f, dm = (~a) & M, fin, ARITH
                    fa, _ = widen(a, 0, size)
                    entry('incdec', st, dm, fa, GARB_D, 0, fin,
                          merge(fa, r, size), GARB_D, f,
                          f'{op}{size} {a:#x} fin={fin:#x}')
    # memory forms
    st = stub('inc16m', f'mov [{SCRATCH}], ax', f'inc word [{SCRATCH}]',
              f'mov ax, [{SCRATCH}]')
    r, f, _ = alu('add', 0x7FFF, 1, 0, 16)
    entry('incdec', st, ARITH, 0x7FFF, GARB_D, 0, CF, r, GARB_D, f | CF,
          'inc word mem')
    st = stub('neg32m', f'mov [{SCRATCH}], eax', f'neg dword [{SCRATCH}]',
              f'mov eax, [{SCRATCH}]')
    r, f, _ = alu('sub', 0, 0x80000000, 0, 32)
    entry('incdec', st, ARITH, 0x80000000, GARB_D, 0, 0, r, GARB_D, f,
          'neg dword mem')


# ------------------------------------------------------------ shifts
def shift(op, a, c_in, cf_in, size):
    """SDM SAL/SAR/SHL/SHR, ROL/ROR/RCL/RCR.  returns (r, flags, mask)."""
    M = m(size)
    a &= M
    c = c_in & 0x1F
    if c == 0:
        return a, 0, 0          # nothing changes; mask handled by caller
    f = 0
    if op in ('shl', 'shr', 'sar'):
        dm = ARITH & ~AF
        if op == 'shl':
            r = (a << c) & M
            cf = (a >> (size - c)) & 1 if c <= size else 0
            if c >= size:
                dm &= ~CF
        elif op == 'shr':
            r = a >> c if c < size else 0
            cf = (a >> (c - 1)) & 1 if c <= size else 0
            if c >= size:
                dm &= ~CF
        else:
            s = sx(a, size)
            r = (s >> c) & M
            cf = (s >> (c - 1)) & 1
        f = szp(r, size)
        if cf:
            f |= CF
        if c == 1:
            of = {'shl': msb(r, size) ^ cf, 'shr': msb(a, size),
                  'sar': 0}[op]
            if of:
                f |= OF
        else:
            dm &= ~OF
        return r, f, dm
    dm = CF | OF
    if op in ('rol', 'ror'):
        t = c % size
        if op == 'rol':
            r = ((a << t) | (a >> (size - t))) & M if t else a
            cf = r & 1
            of = msb(r, size) ^ cf
        else:
            r = ((a >> t) | (a << (size - t))) & M if t else a
            cf = msb(r, size)
            of = msb(r, size) ^ ((r >> (size - 2)) & 1)
    else:
        t = c % (size + 1) if size < 32 else c
        v = (cf_in << size) | a          # size+1 bit value CF:a
        W = size + 1
        WM = (1 << W) - 1
        if op == 'rcl':
            of_pre = None
            v = ((v << t) | (v >> (W - t))) & WM if t else v
            r, cf = v & M, v >> size
            of = msb(r, size) ^ cf
        else:
            of = msb(a, size) ^ cf_in    # computed before the rotate
            v = ((v >> t) | (v << (W - t))) & WM if t else v
            r, cf = v & M, v >> size
    if cf:
        f |= CF
    if c == 1:
        if of:
            f |= OF
    else:
        dm &= ~OF
    return r, f, dm


def gen_shift():
    for size in (8, 16, 32):
        ra = REG[size][0]
        vals = {8: (0x81, 0x40, 0xC3), 16: (0x8001, 0x4000, 0xB5C3),
                32: (0x80000001, 0x40000000, 0xB5C3E7F1)}[size]
        counts = [0, 1, 2, 3, size - 1, size, size + 1, 31, 32, 33]
        if size == 8:
            counts += [9, 17, 18]
        if size == 16:
            counts += [17]
        for op in ('shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr'):
            st = stub(f'{op}{size}', f'{op} {ra}, cl')
            for ci, c in enumerate(sorted(set(counts))):
                a = vals[ci % 3]
                for fin in ((0, ARITH) if op in ('rcl', 'rcr') and c in
                            (1, 2, size + 1) or c in (0, 1) else
                            ((ARITH & ~(ZF | CF), CF)[ci & 1],)):
                        r, f, dm = shift(op, a, c, fin & CF, size)
                        if c & 0x1F == 0:
                            f, dm = fin, ARITH     # flags unaffected
                        elif op in ('rol', 'ror', 'rcl', 'rcr'):
                            # SF/ZF/AF/PF unaffected by rotates
                            f |= fin & (SF | ZF | AF | PF)
                            dm |= SF | ZF | AF | PF
                        fa, fb = widen(a, c, size)
                        fb = (GARB_B & 0xFFFFFF00) | c
                        entry('shift', st, dm, fa, GARB_D, fb, fin,
                              merge(fa, r, size), GARB_D, f,
                              f'{op}{size} {a:#x},{c} cf={fin & CF}')
            # D0/D1 (count 1) and C0/C1 (imm8) encodings
            st1 = stub(f'{op}{size}one', f'{op} {ra}, 1')
            a = vals[0]
            r, f, dm = shift(op, a, 1, 1, size)
            if op in ('rol', 'ror', 'rcl', 'rcr'):
                f |= ARITH & (SF | ZF | AF | PF)
                dm |= SF | ZF | AF | PF
            fa, _ = widen(a, 0, size)
            entry('shift', st1, dm, fa, GARB_D, 0, ARITH, merge(fa, r, size),
                  GARB_D, f, f'{op}{size} {a:#x},1 (D1)')
            sti = stub(f'{op}{size}i5', f'{op} {ra}, 5')
            a = vals[2]
            r, f, dm = shift(op, a, 5, 1, size)
            if op in ('rol', 'ror', 'rcl', 'rcr'):
                f |= ARITH & (SF | ZF | AF | PF)
                dm |= SF | ZF | AF | PF
            fa, _ = widen(a, 0, size)
            entry('shift', sti, dm, fa, GARB_D, 0, ARITH, merge(fa, r, size),
                  GARB_D, f, f'{op}{size} {a:#x},5 (C1)')
    # memory operand
    st = stub('sar16m', f'mov [{SCRATCH}], ax', f'sar word [{SCRATCH}], cl',
              f'mov ax, [{SCRATCH}]')
    r, f, dm = shift('sar', 0x8421, 4, 0, 16)
    entry('shift', st, dm, 0x8421, GARB_D, 4, 0, r, GARB_D, f, 'sar word mem')


def dshift(op, d, s, c_in, size):
    M = m(size)
    d &= M
    s &= M
    c = c_in & 0x1F
    if op == 'shld':
        r = ((d << c) | (s >> (size - c))) & M
        cf = (d >> (size - c)) & 1
    else:
        r = ((d >> c) | (s << (size - c))) & M
        cf = (d >> (c - 1)) & 1
    f = szp(r, size) | (CF if cf else 0)
    dm = ARITH & ~AF
    if c == 1:
        if msb(r, size) ^ msb(d, size):
            f |= OF
    else:
        dm &= ~OF
    return r, f, dm


def gen_dshift():
    # dest = EAX/AX, src = EDX/DX, count = CL (or imm)
    for size in (16, 32):
        ra, rd = REG[size][0], REG[size][3]
        for op in ('shld', 'shrd'):
            st = stub(f'{op}{size}', f'{op} {ra}, {rd}, cl')
            pairs = ((0x8001, 0x4003), (0x1234, 0xFEDC)) if size == 16 else \
                ((0x80000001, 0x40000003), (0x12345678, 0xFEDCBA98))
            for a, d in pairs:
                for c in (1, 4, size - 1, 32 + 3, 0):
                    if (c & 0x1F) > size:
                        continue
                    fd = (GARB_D & ~m(size)) | d if size == 16 else d
                    fa = (GARB_A & ~m(size)) | a if size == 16 else a
                    fb = (GARB_B & 0xFFFFFF00) | c
                    if c & 0x1F == 0:
                        entry('shift', st, ARITH, fa, fd, fb, ARITH, fa, fd,
                              ARITH, f'{op}{size} count 0')
                        continue
                    r, f, dm = dshift(op, a, d, c, size)
                    entry('shift', st, dm, fa, fd, fb, ARITH & ~ZF,
                          merge(fa, r, size), fd, f,
                          f'{op}{size} {a:#x},{d:#x},{c}')
            sti = stub(f'{op}{size}i', f'{op} {ra}, {rd}, 12')
            a, d = pairs[1]
            r, f, dm = dshift(op, a, d, 12, size)
            fa = (GARB_A & ~m(size)) | a if size == 16 else a
            entry('shift', sti, dm, fa, d, 0, 0, merge(fa, r, size), d, f,
                  f'{op}{size} imm 12')


# ------------------------------------------------------------ mul/div
def gen_muldiv():
    for size in (8, 16, 32):
        M = m(size)
        rb = REG[size][1]
        cases = [(0, 0), (1, M), (M, M), (0x7F & M if size == 8 else
                                           (1 << (size - 1)) - 1, 2),
                 (1 << (size - 1), 2), (3, 5), (1 << (size - 1), M),
                 (rnd.getrandbits(size), rnd.getrandbits(size))]
        for op in ('mul', 'imul'):
            st = stub(f'{op}{size}', f'{op} {rb}')
            for a, b in cases:
                if op == 'mul':
                    p = a * b
                    over = (p >> size) != 0
                else:
                    p = sx(a, size) * sx(b, size)
                    over = p != sx(p, size)
                p &= (1 << (2 * size)) - 1
                fa, fb = widen(a, b, size)
                f = (CF | OF) if over else 0
                if size == 8:
                    r1, r2 = merge(fa, p, 16), GARB_D
                else:
                    r1, r2 = merge(fa, p, size), merge(GARB_D, p >> size, size)
                entry('muldiv', st, CF | OF, fa, GARB_D, fb, 0, r1, r2, f,
                      f'{op}{size} {a:#x}*{b:#x}')
        if size > 8:
            ra = REG[size][0]
            st2 = stub(f'imul{size}rr', f'imul {ra}, {rb}')
            st3 = stub(f'imul{size}rri', f'imul {ra}, {rb}, {PTR[size]} 1000')
            st4 = stub(f'imul{size}rri8', f'imul {ra}, {rb}, byte -3')
            for a, b in cases[1::2]:
                fa, fb = widen(a, b, size)
                for st, mul in ((st2, a), (st3, 1000), (st4, -3 & M)):
                    p = sx(mul, size) * sx(b, size)
                    over = p != sx(p, size)
                    entry('muldiv', st, CF | OF, fa, GARB_D, fb, 0,
                          merge(fa, p, size), GARB_D, (CF | OF) if over else 0,
                          f'imul{size} 2/3-op {mul:#x}*{b:#x}')
        # div / idiv (flags undefined); no #DE cases here
        for op in ('div', 'idiv'):
            st = stub(f'{op}{size}', f'{op} {rb}')
            dcases = [(100, 7), (M, 1), ((M >> 1) + 12345 % M, 3), (0, 9),
                      ((1 << size) * 3 + 5, 4)]
            if op == 'idiv':
                dcases = [(-100, 7), (100, -7), (-100, -7), (7, 100),
                          (-(1 << (size - 1)), -1 if size == 8 and False
                           else 2), (-(1 << (size - 1)) * (1 << size) // 4, 1 << (size - 2))]
            for n, dv in dcases:
                if op == 'div':
                    q, rem = divmod(n, dv)
                    if q > M:
                        continue
                else:
                    q = abs(n) // abs(dv)
                    if (n < 0) != (dv < 0):
                        q = -q
                    rem = n - q * dv
                    if q != sx(q, size):
                        continue
                nn = n & ((1 << (2 * size)) - 1)
                if size == 8:
                    fa = merge(GARB_A, nn, 16)
                    fd = GARB_D
                    r1 = merge(GARB_A, ((rem & 0xFF) << 8) | (q & 0xFF), 16)
                    r2 = GARB_D
                else:
                    fa = merge(GARB_A, nn, size)
                    fd = merge(GARB_D, nn >> size, size)
                    r1 = merge(GARB_A, q, size)
                    r2 = merge(GARB_D, rem, size)
                fb = merge(GARB_B, dv & M, size)
                entry('muldiv', st, 0, fa, fd, fb, 0, r1, r2, 0,
                      f'{op}{size} {n}/{dv}')


    # memory-operand forms
    st = stub('mul8m', f'mov [{SCRATCH}], bl', f'mul byte [{SCRATCH}]')
    fa, fb = widen(0x80, 0x03, 8)
    entry('muldiv', st, CF | OF, fa, GARB_D, fb, 0, merge(fa, 0x180, 16),
          GARB_D, CF | OF, 'mul byte mem')
    st = stub('imul32m', f'mov [{SCRATCH}], ebx', f'imul dword [{SCRATCH}]')
    p = (-3 * 0x40000000) & ((1 << 64) - 1)
    entry('muldiv', st, CF | OF, 0xFFFFFFFD, GARB_D, 0x40000000, 0,
          p & 0xFFFFFFFF, p >> 32, CF | OF, 'imul dword mem')
    st = stub('imul16rmi', f'mov [{SCRATCH}], bx',
              f'imul ax, [{SCRATCH}], byte 7')
    fa, fb = widen(0, 0x1000, 16)
    entry('muldiv', st, CF | OF, fa, GARB_D, fb, CF | OF,
          merge(fa, 0x7000, 16), GARB_D, 0, 'imul r16, m16, imm8')
    st = stub('div16m', f'mov [{SCRATCH}], bx', f'div word [{SCRATCH}]')
    fa = merge(GARB_A, 0x5678, 16)
    fd = merge(GARB_D, 0x0012, 16)
    q, r = divmod(0x00125678, 0x1234)
    entry('muldiv', st, 0, fa, fd, merge(GARB_B, 0x1234, 16), 0,
          merge(fa, q, 16), merge(fd, r, 16), 0, 'div word mem')
    st = stub('idiv8m', f'mov [{SCRATCH}], bl', f'idiv byte [{SCRATCH}]')
    fa = merge(GARB_A, -77 & 0xFFFF, 16)
    entry('muldiv', st, 0, fa, GARB_D, merge(GARB_B, 10, 8), 0,
          merge(fa, ((-7 & 0xFF) << 8) | (-7 & 0xFF), 16), GARB_D, 0,
          'idiv byte mem -77/10')


# ------------------------------------------------------------ BCD
def gen_bcd():
    def daa(al, cf, af):
        old_al, old_cf = al, cf
        cf = 0
        if (al & 0xF) > 9 or af:
            cf = old_cf or (al + 6 > 0xFF)
            al = (al + 6) & 0xFF
            af = 1
        else:
            af = 0
        if old_al > 0x99 or old_cf:
            al = (al + 0x60) & 0xFF
            cf = 1
        else:
            cf = 0
        return al, cf, af

    def das(al, cf, af):
        old_al, old_cf = al, cf
        cf = 0
        if (al & 0xF) > 9 or af:
            cf = old_cf or (al < 6)
            al = (al - 6) & 0xFF
            af = 1
        else:
            af = 0
        if old_al > 0x99 or old_cf:
            al = (al - 0x60) & 0xFF
            cf = 1
        return al, cf, af

    for op, fn in (('daa', daa), ('das', das)):
        st = stub(op, op)
        for i, al in enumerate((0x00, 0x09, 0x0A, 0x1F, 0x99, 0x9A, 0xA0,
                                0xFF, 0x05, 0x66, 0x3C)):
            for cf, af in (((0, 0), (1, 0)), ((0, 1), (1, 1)))[i & 1]:
                r, c, a = fn(al, cf, af)
                fin = (CF if cf else 0) | (AF if af else 0) | \
                    (OF if (al & 1) else 0)
                f = szp(r, 8) | (CF if c else 0) | (AF if a else 0)
                fa = merge(GARB_A | 0x4200, al, 8)
                entry('bcd', st, ARITH & ~OF, fa, GARB_D, 0, fin,
                      merge(fa, r, 8), GARB_D, f,
                      f'{op} {al:#x} cf={cf} af={af}')
    for op in ('aaa', 'aas'):
        st = stub(op, op)
        for ax in (0x0009, 0x000A, 0x01FA, 0x0205, 0x0F0F, 0x0002, 0x00FF):
            for af in (0, 1):
                al, ah = ax & 0xFF, ax >> 8
                if (al & 0xF) > 9 or af:
                    if op == 'aaa':
                        ax2 = (ax + 0x106) & 0xFFFF
                    else:
                        ax2 = (ax - 6) & 0xFFFF
                        ax2 = (ax2 & 0xFF) | ((((ax2 >> 8) - 1) & 0xFF) << 8)
                    ax2 = ax2 & 0xFF0F
                    fl = AF | CF
                else:
                    ax2 = ax & 0xFF0F
                    fl = 0
                fin = AF if af else CF
                fa = merge(GARB_A, ax, 16)
                entry('bcd', st, AF | CF, fa, GARB_D, 0, fin,
                      merge(fa, ax2, 16), GARB_D, fl,
                      f'{op} {ax:#x} af={af}')
    for base in (10, 16, 7):
        st = stub(f'aam{base}', f'aam {base}')
        for al in (0, 99, 0xFF, 0x3B):
            ah, r = divmod(al, base)
            fa = merge(GARB_A | 0x7700, al, 8)
            entry('bcd', st, ZF | SF | PF, fa, GARB_D, 0, ARITH,
                  merge(fa, (ah << 8) | r, 16), GARB_D, szp(r, 8),
                  f'aam {base} {al:#x}')
        st = stub(f'aad{base}', f'aad {base}')
        for ax in (0x0909, 0x0000, 0x1A0F, 0xFFFF):
            r = ((ax & 0xFF) + (ax >> 8) * base) & 0xFF
            fa = merge(GARB_A, ax, 16)
            entry('bcd', st, ZF | SF | PF, fa, GARB_D, 0, 0,
                  merge(fa, r, 16), GARB_D, szp(r, 8),
                  f'aad {base} {ax:#x}')


# ------------------------------------------------------------ bit ops etc.
def gen_bits():
    for size in (16, 32):
        ra, rb = REG[size][0], REG[size][1]
        for op in ('bsf', 'bsr'):
            st = stub(f'{op}{size}', f'{op} {ra}, {rb}')
            for b in (0, 1, 0x8000, 0x0F00, 0x80000001 & m(size), 0x00010000 &
                      m(size), 0x1234 << (size - 16)):
                b &= m(size)
                fa, fb = widen(0x5555, b, size)
                fa = (GARB_A & ~m(size)) | 0x5555 if size == 16 else 0x55555555
                if b == 0:
                    entry('bits', st, ZF | NOCHK_R1, fa, GARB_D, fb, 0, 0,
                          GARB_D, ZF, f'{op}{size} 0')
                else:
                    idx = (b & -b).bit_length() - 1 if op == 'bsf' else \
                        b.bit_length() - 1
                    entry('bits', st, ZF, fa, GARB_D, fb, ZF, merge(fa, idx,
                          size), GARB_D, 0, f'{op}{size} {b:#x}')
        for op in ('bt', 'bts', 'btr', 'btc'):
            st = stub(f'{op}{size}', f'{op} {ra}, {rb}')
            sti = stub(f'{op}{size}i', f'{op} {ra}, {size + 3}')
            a = 0xA5C3 if size == 16 else 0xA5C3E10F
            for b, s in ((0, st), (3, st), (size - 1, st), (size + 2, st),
                         (0xFFFF & m(size) if size == 16 else 0xFFFFFFFF, st),
                         (size + 3, sti), (5, st), (4, st)):
                i = b % size
                bit = (a >> i) & 1
                r = {'bt': a, 'bts': a | (1 << i), 'btr': a & ~(1 << i),
                     'btc': a ^ (1 << i)}[op]
                for fin in ((0, ZF | CF)[b & 1],):
                    fa, fb = widen(a, b & m(size), size)
                    if s == sti:
                        fb = GARB_B
                    entry('bits', s, CF | ZF, fa, GARB_D, fb, fin,
                          merge(fa, r, size), GARB_D,
                          (CF if bit else 0) | (fin & ZF),
                          f'{op}{size} {a:#x} bit {b}')
    # cmpxchg acc(EAX), dest(EBX), src(EDX): EAX out, EDX <- new dest
    for size in (8, 16, 32):
        ra, rb, _, rd = REG[size]
        st = stub(f'cmpxchg{size}', f'cmpxchg {rb}, {rd}', f'mov {rd}, {rb}')
        M = m(size)
        for acc, dest, src in ((5, 5, 9), (5, 6, 9), (0, M, 1)):
            _, f, _ = alu('cmp', acc, dest, 0, size)
            fa, fb = widen(acc, dest, size)
            fd = merge(GARB_D, src, size)
            if acc == dest:
                r1, r2 = fa, merge(fd, src, size)
            else:
                r1, r2 = merge(fa, dest, size), merge(fd, dest, size)
            entry('bits', st, ARITH, fa, fd, fb, 0, r1, r2, f,
                  f'cmpxchg{size} {acc},{dest},{src}')
    # xadd
    for size in (8, 16, 32):
        ra, rd = REG[size][0], REG[size][3]
        st = stub(f'xadd{size}', f'xadd {ra}, {rd}')
        M = m(size)
        for a, d in ((1, 2), (M, 1), (1 << (size - 1), 1 << (size - 1))):
            r, f, _ = alu('add', a, d, 0, size)
            fa, _ = widen(a, 0, size)
            fd = merge(GARB_D, d, size)
            entry('bits', st, ARITH, fa, fd, 0, 0, merge(fa, r, size),
                  merge(fd, a, size), f, f'xadd{size} {a:#x},{d:#x}')
    st = stub('xadd32m', f'mov [{SCRATCH}], eax',
              f'xadd [{SCRATCH}], edx', f'mov eax, [{SCRATCH}]')
    r, f, _ = alu('add', 0xFFFFFFFF, 0xFFFFFFFF, 0, 32)
    entry('bits', st, ARITH, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0, r, 0xFFFFFFFF, f,
          'xadd mem')
    # no flags affected: cbw cwde cwd cdq bswap movzx movsx
    for ins, a, r1, r2 in (('cbw', 0x12345680, 0x1234FF80, GARB_D),
                           ('cbw', 0x1234567F, 0x1234007F, GARB_D),
                           ('cwde', 0x12348000, 0xFFFF8000, GARB_D),
                           ('cwde', 0x12347FFF, 0x00007FFF, GARB_D),
                           ('cwd', 0x12348000, 0x12348000,
                            (GARB_D & 0xFFFF0000) | 0xFFFF),
                           ('cwd', 0x12340001, 0x12340001,
                            GARB_D & 0xFFFF0000),
                           ('cdq', 0x80000000, 0x80000000, 0xFFFFFFFF),
                           ('cdq', 0x7FFFFFFF, 0x7FFFFFFF, 0),
                           ('bswap eax', 0x12345678, 0x78563412, GARB_D),
                           ('movzx eax, bl', 0, 0x000000F0, GARB_D),
                           ('movsx eax, bl', 0, 0xFFFFFFF0, GARB_D),
                           ('movzx eax, bx', 0, 0x0000ABF0, GARB_D),
                           ('movsx eax, bx', 0, 0xFFFFABF0, GARB_D),
                           ('movsx ax, bl', 0x12345678, 0x1234FFF0, GARB_D),
                           ('movzx ax, bl', 0x12345678, 0x123400F0, GARB_D),
                           ('movsx edx, byte [cs:bytes_7f80]', 0, 0,
                            0x0000007F),
                           ('movsx edx, byte [cs:bytes_7f80+1]', 0, 0,
                            0xFFFFFF80),
                           ('movzx edx, word [cs:bytes_7f80]', 0, 0,
                            0x0000807F)):
        name = ins.replace(' ', '_').replace(',', '').replace('[', '') \
            .replace(']', '').replace(':', '').replace('+', 'p')
        st = stub(name, ins)
        for fin in (0, ARITH):
            entry('bits', st, ARITH, a, GARB_D, 0xC3A5ABF0, fin, r1, r2, fin,
                  ins)


def main():
    gen_alu()
    gen_incdec()
    gen_shift()
    gen_dshift()
    gen_muldiv()
    gen_bcd()
    gen_bits()
    out = ['; GENERATED by gen_realmode_tables.py - do not edit.',
           '; Entry: stub, mask, a(EAX), d(EDX), b(EBX=ECX), flags in,',
           ';        EAX out, EDX out, (flags out & mask)', '',
           'bytes_7f80: db 0x7F, 0x80', '']
    for name, lines in stubs.items():
        out.append(f't_{name}:')
        for ln in lines:
            out.append(f'        {ln}')
    for t in order:
        out.append('')
        out.append(f'tab_{t}:')
        for (st, mask, a, d, b, fin, r1, r2, fo, cm) in tables[t]:
            out.append(f'        TE {st}, {mask:#06x}, {a:#010x}, {d:#010x}, '
                       f'{b:#010x}, {fin:#05x}, {r1:#010x}, {r2:#010x}, '
                       f'{fo:#05x} ; {cm}')
        out.append(f'tab_{t}_end:')
    print('\n'.join(out))


main()
