/*
 * trace.h - the instruction trace of -d exec / -d cpu (with -dfilter),
 * disassembled with Capstone, written to the log (-D FILE).
 */
#ifndef VESSEL_FRONTEND_TRACE_H
#define VESSEL_FRONTEND_TRACE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "devices/pc.h"

/** Parse a -dfilter value: comma-separated START..END, START+LEN or
 *  START-LEN ranges of linear addresses (QEMU's syntax).  Returns 0, or -1
 *  with a message in err. */
int trace_set_filter(const char *spec, char *err, size_t errlen);

/** Open the disassembler; with_regs adds the registers before each line
 *  (-d cpu).  Returns 0, or -1 with a message (Capstone missing x86). */
int trace_init(bool with_regs, char *err, size_t errlen);

/** Where lines go, and the machine (for -d cpu registers). */
void trace_attach(FILE *out, PcMachine *pc);

/** PcConfig.trace callback. */
void trace_insn(void *opaque, uint32_t lin, const uint8_t *bytes, unsigned len, bool code32);

/** Close the disassembler. */
void trace_shutdown(void);

#endif
