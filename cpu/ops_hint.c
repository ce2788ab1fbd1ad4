/*
 * ops_hint.c - 0F 18-1F: the multi-byte NOP ("NOP Ev", NOPL) and the hint
 * NOP space (SDM vol. 2 NOP; vol. 2 table A-3).  On a P6 these decode a
 * ModRM operand and do nothing; the memory operand is not accessed, so they
 * never fault.  Compilers emit them as padding (0F 1F /0) and as CET's
 * ENDBR32 (F3 0F 1E FB), which is a NOP on CPUs without CET.
 */
#include "cpu/cpu_internal.h"

HANDLER(op_nop_Ev_r) { NEXT; }
HANDLER(op_nop_Ev_m) { NEXT; }
