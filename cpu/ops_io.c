/*
 * ops_io.c - port I/O: the I/O permission check (SDM vol. 1 §19.5), the
 * port access callbacks, and IN/OUT (E4-E7, EC-EF).
 *
 * IN/OUT end the block: a port write may change the machine (A20, reset,
 * interrupt controller).  EIP is advanced before the device is called, so
 * a device that resets the CPU from its callback is not undone.
 */
#include "cpu/cpu_internal.h"

void io_check(X86Cpu *cpu, uint16_t port, unsigned size)
{
    if (!(cpu->cr0 & CR0_PE))
        return;
    unsigned iopl = (cpu->eflags & EFLAGS_IOPL) >> EFLAGS_IOPL_SHIFT;
    if (!(cpu->eflags & EFLAGS_VM) && cpu->cpl <= iopl)
        return;
    /* Consult the I/O permission bitmap of the current (32-bit) TSS.  The
     * processor reads the two bytes holding the port's bits; both must lie
     * within the TSS limit. */
    const SegReg *tr = &cpu->seg[SEG_TR];
    unsigned type = tr->ar & AR_TYPE;
    if ((type != DESC_TSS32_BUSY && type != DESC_TSS32_AVAIL) || !(tr->ar & AR_P) ||
        tr->limit < 0x67)
        cpu_raise(cpu, EXC_GP, 0);
    uint32_t off = (uint32_t)sys_rd16(cpu, tr->base + 0x66) + (port >> 3);
    if (off + 1 > tr->limit)
        cpu_raise(cpu, EXC_GP, 0);
    uint32_t bits = sys_rd16(cpu, tr->base + off);
    uint32_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask)
        cpu_raise(cpu, EXC_GP, 0);
}

uint32_t cpu_io_read(X86Cpu *cpu, uint16_t port, unsigned size)
{
    if (cpu->ops && cpu->ops->io_read)
        return cpu->ops->io_read(cpu->opaque, port, size);
    return size == 4 ? 0xFFFFFFFFu : ((1u << (size * 8)) - 1);
}

void cpu_io_write(X86Cpu *cpu, uint16_t port, uint32_t val, unsigned size)
{
    if (cpu->ops && cpu->ops->io_write)
        cpu->ops->io_write(cpu->opaque, port, val, size);
}

/* ---- IN ---- */

HANDLER(op_in_AL_Ib)
{
    uint16_t port = (uint16_t)i->imm;
    io_check(cpu, port, 1);
    set_r8(cpu, R_EAX, (uint8_t)cpu_io_read(cpu, port, 1));
    NEXT_END;
}

HANDLER(op_in_eAX_Ib_w)
{
    uint16_t port = (uint16_t)i->imm;
    io_check(cpu, port, 2);
    set_r16(cpu, R_EAX, (uint16_t)cpu_io_read(cpu, port, 2));
    NEXT_END;
}

HANDLER(op_in_eAX_Ib_d)
{
    uint16_t port = (uint16_t)i->imm;
    io_check(cpu, port, 4);
    cpu->r[R_EAX] = cpu_io_read(cpu, port, 4);
    NEXT_END;
}

HANDLER(op_in_AL_DX)
{
    uint16_t port = (uint16_t)cpu->r[R_EDX];
    io_check(cpu, port, 1);
    set_r8(cpu, R_EAX, (uint8_t)cpu_io_read(cpu, port, 1));
    NEXT_END;
}

HANDLER(op_in_eAX_DX_w)
{
    uint16_t port = (uint16_t)cpu->r[R_EDX];
    io_check(cpu, port, 2);
    set_r16(cpu, R_EAX, (uint16_t)cpu_io_read(cpu, port, 2));
    NEXT_END;
}

HANDLER(op_in_eAX_DX_d)
{
    uint16_t port = (uint16_t)cpu->r[R_EDX];
    io_check(cpu, port, 4);
    cpu->r[R_EAX] = cpu_io_read(cpu, port, 4);
    NEXT_END;
}

/* ---- OUT ---- */

static ALWAYS_INLINE const Insn *do_out(X86Cpu *cpu, const Insn *i, uint16_t port,
                                        uint32_t val, unsigned size)
{
    io_check(cpu, port, size);
    cpu->eip += i->len;
    cpu_io_write(cpu, port, val, size);
    return i + 1;
}

HANDLER(op_out_Ib_AL) { return do_out(cpu, i, (uint16_t)i->imm, cpu->r[R_EAX] & 0xFF, 1); }
HANDLER(op_out_Ib_eAX_w) { return do_out(cpu, i, (uint16_t)i->imm, cpu->r[R_EAX] & 0xFFFF, 2); }
HANDLER(op_out_Ib_eAX_d) { return do_out(cpu, i, (uint16_t)i->imm, cpu->r[R_EAX], 4); }
HANDLER(op_out_DX_AL) { return do_out(cpu, i, (uint16_t)cpu->r[R_EDX], cpu->r[R_EAX] & 0xFF, 1); }
HANDLER(op_out_DX_eAX_w) { return do_out(cpu, i, (uint16_t)cpu->r[R_EDX], cpu->r[R_EAX] & 0xFFFF, 2); }
HANDLER(op_out_DX_eAX_d) { return do_out(cpu, i, (uint16_t)cpu->r[R_EDX], cpu->r[R_EAX], 4); }
