/*
 * exec.h - run loop and translation cache internals shared inside cpu/.
 */
#ifndef VESSEL_CPU_EXEC_H
#define VESSEL_CPU_EXEC_H

#include "cpu/cpu_internal.h"

/** Allocate / free the translation cache of cpu. tc_init returns 0 or -1. */
int tc_init(X86Cpu *cpu);
void tc_free(X86Cpu *cpu);

/** Deliver the exception recorded by cpu_raise() (interrupt.c). */
void cpu_deliver_pending_exception(X86Cpu *cpu);

#endif
