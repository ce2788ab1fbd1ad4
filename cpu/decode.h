/*
 * decode.h - the instruction decoder (decode.c).
 */
#ifndef VESSEL_CPU_DECODE_H
#define VESSEL_CPU_DECODE_H

#include "cpu/cpu_internal.h"

/**
 * Decode the instruction at CS:eip into *in, fetching through the current
 * code segment and paging.  Fetch faults (#GP past the CS limit or beyond 15
 * bytes, #PF) are raised (longjmp).  *opflags (if not NULL) receives the
 * table's F_* flags (F_END set for instructions that end a block).
 * Returns 0.
 */
int cpu_decode(X86Cpu *cpu, uint32_t eip, Insn *in, uint32_t *opflags);

/**
 * For a block built in TCM_FLAT mode: replace in's handler by its flat
 * memory form (MF_FLAT without an index register, MF_FLAT_SIB with one)
 * when it has them (flat_forms.h) and the operand uses 32-bit addressing
 * and segment DS, ES or SS; PUSH/POP r32, CALL rel32 and RET by their
 * flat-stack forms.  Otherwise in is left alone.
 */
void cpu_insn_flat(Insn *in);

#endif
