/*
 * trace.c - -d exec / -d cpu instruction trace.  Each executed instruction
 * is printed as "LINEAR: BYTES  MNEMONIC OPERANDS" (Capstone, AT&T-free
 * Intel syntax), optionally preceded by the general registers.
 */
#include "frontend/trace.h"

#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"

#define TRACE_MAX_RANGES 16

static csh cs16, cs32;
static bool cs_ok, regs;
static FILE *out;
static PcMachine *machine;
static struct { uint32_t lo, hi; } ranges[TRACE_MAX_RANGES];
static int nranges;

int trace_set_filter(const char *spec, char *err, size_t errlen)
{
    char *s = strdup(spec);
    nranges = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        unsigned long a = strtoul(tok, &end, 0), b;
        if (end == tok)
            goto bad;
        if (!strncmp(end, "..", 2)) {
            b = strtoul(end + 2, &end, 0);
        } else if (*end == '+') {
            b = a + strtoul(end + 1, &end, 0) - 1;
        } else if (*end == '-') {
            unsigned long l = strtoul(end + 1, &end, 0);
            b = a;
            a = a >= l - 1 ? a - (l - 1) : 0;
        } else {
            goto bad;
        }
        if (*end || b < a || b > 0xFFFFFFFFul || nranges >= TRACE_MAX_RANGES)
            goto bad;
        ranges[nranges].lo = (uint32_t)a;
        ranges[nranges].hi = (uint32_t)b;
        nranges++;
        continue;
    bad:
        snprintf(err, errlen, "-dfilter: bad range '%s' (use START..END, START+LEN or START-LEN)", tok);
        free(s);
        return -1;
    }
    free(s);
    return 0;
}

int trace_init(bool with_regs, char *err, size_t errlen)
{
    regs = with_regs;
    if (cs_open(CS_ARCH_X86, CS_MODE_16, &cs16) != CS_ERR_OK ||
        cs_open(CS_ARCH_X86, CS_MODE_32, &cs32) != CS_ERR_OK) {
        snprintf(err, errlen, "Capstone cannot disassemble x86");
        return -1;
    }
    cs_ok = true;
    return 0;
}

void trace_attach(FILE *f, PcMachine *pc)
{
    out = f;
    machine = pc;
}

void trace_insn(void *opaque, uint32_t lin, const uint8_t *bytes, unsigned len, bool code32)
{
    (void)opaque;
    if (!cs_ok || !out)
        return;
    if (nranges) {
        bool in = false;
        for (int k = 0; k < nranges && !in; k++)
            in = lin >= ranges[k].lo && lin <= ranges[k].hi;
        if (!in)
            return;
    }
    if (regs && machine) {
        X86Cpu *cpu = pc_cpu(machine);
        fprintf(out, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x ESI=%08x EDI=%08x EBP=%08x ESP=%08x EFL=%08x\n",
                cpu_get_reg(cpu, R_EAX), cpu_get_reg(cpu, R_EBX), cpu_get_reg(cpu, R_ECX),
                cpu_get_reg(cpu, R_EDX), cpu_get_reg(cpu, R_ESI), cpu_get_reg(cpu, R_EDI),
                cpu_get_reg(cpu, R_EBP), cpu_get_reg(cpu, R_ESP), cpu_get_eflags(cpu));
    }
    char hex[3 * 16 + 1] = "";
    for (unsigned k = 0; k < len && k < 15; k++)
        sprintf(hex + 3 * k, "%02x ", bytes[k]);
    cs_insn *insn;
    size_t n = cs_disasm(code32 ? cs32 : cs16, bytes, len, lin, 1, &insn);
    if (n == 1) {
        fprintf(out, "%08x: %-30s %s %s\n", lin, hex, insn->mnemonic, insn->op_str);
        cs_free(insn, n);
    } else {
        fprintf(out, "%08x: %-30s (bad)\n", lin, hex);
    }
}

void trace_shutdown(void)
{
    if (cs_ok) {
        cs_close(&cs16);
        cs_close(&cs32);
        cs_ok = false;
    }
}
