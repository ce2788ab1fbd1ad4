/*
 * optab.h - the opcode table format.
 *
 * The table is assembled in decode.c from one fragment per instruction
 * group (optab_alu.inc, optab_data.inc, optab_ctrl.inc, optab_sys.inc,
 * optab_x87.inc).  A fragment is a list of lines
 *
 *     OP(index, flags, handlers)
 *
 * index:    a one-byte opcode 0x00-0xFF, X0F(op) for 0F-prefixed opcodes,
 *           or GRP(G_xx, reg) for a ModRM.reg slot of a group opcode.
 * flags:    F_* below: what the decoder must fetch after the opcode, and
 *           whether the instruction may end the block.
 * handlers: one of
 *   B(name)  byte-sized op: op_<name>_r (ModRM reg form) / op_<name>_m (memory form)
 *   V(name)  16/32-bit op with ModRM: op_<name>_w_r, _w_m, _d_r, _d_m
 *   S(name)  16/32-bit op without ModRM forms: op_<name>_w, op_<name>_d
 *   M(name)  ModRM op, size-independent: op_<name>_r, op_<name>_m
 *   N(name)  one handler: op_<name>
 * Each fragment is included twice by decode.c: once to declare every
 * handler it names, once to build the table.  Duplicate indices are an
 * error (-Woverride-init), so each opcode has exactly one owner.
 *
 * The handler receives the decoded Insn: i->reg (ModRM.reg, or the low 3
 * bits of the opcode for +r forms), i->rm (register operand when !IF_MEM),
 * insn_ea()/i->seg for the memory operand, i->imm (immediate; for relative
 * branches already the absolute target EIP, masked to the operand size),
 * i->imm2 (selector of a far pointer, or ENTER's level), i->disp (moffs
 * for A0-A3), i->op (the opcode byte).
 */
#ifndef VESSEL_CPU_OPTAB_H
#define VESSEL_CPU_OPTAB_H

#include "cpu/cpu_internal.h"

/* What follows the opcode (decoder), one of the F_IMM* at most. */
#define F_MODRM   0x0001u  /* a ModRM byte (and SIB/displacement) */
#define F_IMM8    0x0002u  /* imm8, zero-extended into i->imm */
#define F_IMM8S   0x0004u  /* imm8, sign-extended to 32 bits */
#define F_IMM16   0x0008u  /* imm16 */
#define F_IMMV    0x0010u  /* imm16 or imm32 by operand size */
#define F_REL8    0x0020u  /* rel8: i->imm = target EIP (masked to operand size) */
#define F_RELV    0x0040u  /* rel16/rel32: i->imm = target EIP */
#define F_MOFFS   0x0080u  /* disp16/disp32 by address size into i->disp (A0-A3) */
#define F_FAR     0x0100u  /* ptr16:16 / ptr16:32: offset in imm, selector in imm2 */
#define F_ENTER   0x0200u  /* imm16 (imm) then imm8 (imm2) */
/* Properties. */
#define F_END     0x0400u  /* may change control flow or mode: ends the block */
#define F_LOCK    0x0800u  /* LOCK allowed (memory form only); else LOCK is #UD */
#define F_NOREG   0x1000u  /* register form is #UD (LEA, LGDT, CMPXCHG8B, ...) */
#define F_NOMEM   0x2000u  /* memory form is #UD */
#define F_GROUP   0x4000u  /* dispatch on ModRM.reg through the GRP() slots */
#define F_X87     0x8000u  /* x87 escape: handler chosen by x87_resolve() */

/* Table indices. */
#define X0F(op) (0x100 + (op))
enum {
    G_80, G_81, G_82, G_83, G_8F, G_C0, G_C1, G_C6, G_C7, G_D0, G_D1, G_D2, G_D3,
    G_F6, G_F7, G_FE, G_FF, G_0F00, G_0F01, G_0FBA, G_0FC7, G_0FAE, G_COUNT
};
#define GRP(g, reg) (0x200 + (g) * 8 + (reg))
#define OPTAB_SIZE (0x200 + G_COUNT * 8)

/** One table entry: handlers [operand size 32][memory form], and F_ flags. */
typedef struct OpDesc {
    uint32_t flags;
    InsnFn fn[2][2];
} OpDesc;

/** The x87 escape decoder (fpu.c): returns the handler for opcode D8-DF
 *  with this ModRM byte, or NULL for an invalid encoding (#UD). */
InsnFn x87_resolve(uint8_t op, uint8_t modrm);

#endif
