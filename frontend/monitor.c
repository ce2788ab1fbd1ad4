/*
 * monitor.c - the human monitor (-monitor stdio | unix:PATH,server,nowait |
 * tcp:HOST:PORT,server,nowait), also reached from gdb's "monitor" command.
 *
 * Commands follow QEMU's HMP spelling where QEMU has them: info registers/
 * cpus/tlb/mem/pic/pci/status, x/FMT and xp/FMT, stop, cont, system_reset,
 * system_powerdown, quit, help; plus stepi, break, delete, watch and
 * info breakpoints, which QEMU leaves to gdb.
 *
 * On a terminal, libedit gives line editing and history through its
 * readline-compatible callback interface, so reading never blocks the
 * guest; otherwise lines are read plainly.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cpu/cpu.h"
#include "devices/pc.h"
#include "devices/blockdev.h"
#include "devices/ide.h"
#include "frontend/debug.h"
#include "frontend/display.h"
#include "frontend/snapshot.h"
#include "mem/phys.h"

#define MON_PROMPT "(vessel) "
#define MON_BANNER "vessel monitor - type 'help' for more information\n"
#define MON_LINE_MAX 4096
#define MON_DUMP_MAX (64 * 1024)   /* bytes per x/xp command */
#define MON_TLB_LINES_MAX 65536

static struct {
    DbgEndpoint ep;
    bool configured;
    bool tty;        /* stdio on a terminal: libedit */
    bool rl_on;
    bool stdin_on;   /* plain stdin reader active */
    int lfd, cfd;    /* listening socket, connected client */
    char line[MON_LINE_MAX];
    size_t len;
    bool overlong;   /* the line being read is too long: drop it */
    bool quitting;   /* quit ran: no more prompts */
    /* x/xp defaults, remembered as QEMU does */
    char last_fmt;
    int last_size;
} mon = { .lfd = -1, .cfd = -1, .last_fmt = 'x', .last_size = 4 };

/* ================================================================
 * Output
 * ================================================================ */

static void mon_out(const char *buf, size_t len)
{
    if (mon.ep.kind == DBG_EP_STDIO) {
        fwrite(buf, 1, len, stdout);
        fflush(stdout);
    } else if (mon.cfd >= 0) {
        if (dbg_write_all(mon.cfd, buf, len) < 0) {
            dbg_unwatch_fd(mon.cfd);
            close(mon.cfd);
            mon.cfd = -1;
        }
    }
}

static void mon_outs(const char *s) { mon_out(s, strlen(s)); }

static void mon_prompt(void)
{
    if (!mon.tty && !mon.quitting)
        mon_outs(MON_PROMPT);
}

/* ================================================================
 * Argument parsing
 * ================================================================ */

static const char *const gpr_names[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };

/* A value: a number (0x.. hex, 0.. octal, decimal) or $register, with
 * optional + and - terms ("$esp+8", "0x1000-4"). */
static int parse_value(const char *s, uint32_t *out)
{
    X86Cpu *cpu = pc_cpu(dbg_machine());
    uint32_t acc = 0;
    int sign = 1;
    if (!*s)
        return -1;
    for (;;) {
        uint32_t v;
        if (*s == '$') {
            s++;
            size_t n = 0;
            while (isalnum((unsigned char)s[n]))
                n++;
            char name[8];
            if (n == 0 || n >= sizeof(name))
                return -1;
            memcpy(name, s, n);
            name[n] = 0;
            for (char *c = name; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            s += n;
            int r = -1;
            for (int k = 0; k < 8; k++)
                if (!strcmp(name, gpr_names[k]))
                    r = k;
            if (r >= 0) {
                v = cpu_get_reg(cpu, r);
            } else if (!strcmp(name, "eip")) {
                v = cpu_get_eip(cpu);
            } else if (!strcmp(name, "pc")) { /* linear, as QEMU's $pc */
                CpuSeg cs;
                cpu_get_seg(cpu, SEG_CS, &cs);
                v = cs.base + cpu_get_eip(cpu);
            } else if (!strcmp(name, "eflags")) {
                v = cpu_get_eflags(cpu);
            } else if (!strcmp(name, "cr0") || !strcmp(name, "cr2") || !strcmp(name, "cr3") ||
                       !strcmp(name, "cr4")) {
                v = cpu_get_cr(cpu, name[2] - '0');
            } else {
                return -1;
            }
        } else {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(s, &end, 0);
            if (errno || end == s || x > 0xFFFFFFFFull)
                return -1;
            v = (uint32_t)x;
            s = end;
        }
        acc += sign > 0 ? v : (uint32_t)-v;
        if (!*s)
            break;
        if (*s == '+')
            sign = 1;
        else if (*s == '-')
            sign = -1;
        else
            return -1;
        s++;
    }
    *out = acc;
    return 0;
}

/* ================================================================
 * info
 * ================================================================ */

static uint32_t seg_flags(const CpuSeg *s)
{
    /* Descriptor high dword bits 8-23, as QEMU prints them. */
    return ((uint32_t)(s->ar & 0xFF) << 8) | ((uint32_t)(s->ar & 0xF000) << 8);
}

static void info_registers(DbgOut *o)
{
    X86Cpu *cpu = pc_cpu(dbg_machine());
    PhysMem *pm = pc_phys(dbg_machine());
    uint32_t efl = cpu_get_eflags(cpu);
    dbg_printf(o, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", cpu_get_reg(cpu, R_EAX), cpu_get_reg(cpu, R_EBX),
               cpu_get_reg(cpu, R_ECX), cpu_get_reg(cpu, R_EDX));
    dbg_printf(o, "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", cpu_get_reg(cpu, R_ESI), cpu_get_reg(cpu, R_EDI),
               cpu_get_reg(cpu, R_EBP), cpu_get_reg(cpu, R_ESP));
    dbg_printf(o, "EIP=%08x EFL=%08x [%c%c%c%c%c%c%c] CPL=%d A20=%d HLT=%d\n", cpu_get_eip(cpu), efl,
               efl & 0x400 ? 'D' : '-', efl & 0x800 ? 'O' : '-', efl & 0x80 ? 'S' : '-', efl & 0x40 ? 'Z' : '-',
               efl & 0x10 ? 'A' : '-', efl & 0x4 ? 'P' : '-', efl & 0x1 ? 'C' : '-', cpu_get_cpl(cpu),
               pm->a20_mask == 0xFFFFFFFFu, cpu_halted(cpu) ? 1 : 0);
    static const char *const segname[SEG_COUNT] = { "ES ", "CS ", "SS ", "DS ", "FS ", "GS ", "LDT", "TR " };
    for (int s = 0; s < SEG_COUNT; s++) {
        CpuSeg sg;
        cpu_get_seg(cpu, s, &sg);
        dbg_printf(o, "%s=%04x %08x %08x %08x\n", segname[s], sg.sel, sg.base, sg.limit, seg_flags(&sg));
    }
    for (int k = 0; k < 2; k++) {
        uint32_t base;
        uint16_t limit;
        cpu_get_dtr(cpu, k, &base, &limit);
        dbg_printf(o, "%s=     %08x %08x\n", k ? "IDT" : "GDT", base, limit);
    }
    dbg_printf(o, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", cpu_get_cr(cpu, 0), cpu_get_cr(cpu, 2),
               cpu_get_cr(cpu, 3), cpu_get_cr(cpu, 4));
    dbg_printf(o, "DR0=%08x DR1=%08x DR2=%08x DR3=%08x\n", cpu_get_dr(cpu, 0), cpu_get_dr(cpu, 1),
               cpu_get_dr(cpu, 2), cpu_get_dr(cpu, 3));
    dbg_printf(o, "DR6=%08x DR7=%08x\n", cpu_get_dr(cpu, 6), cpu_get_dr(cpu, 7));
    CpuFpuState f;
    cpu_get_fpu(cpu, &f);
    int top = (f.fsw >> 11) & 7;
    dbg_printf(o, "FCW=%04x FSW=%04x [ST=%d] FTW=%04x FOP=%03x FIP=%04x:%08x FDP=%04x:%08x\n", f.fcw, f.fsw, top,
               f.ftw, f.fop, f.fcs, f.fip, f.fds, f.fdp);
    for (int i = 0; i < 8; i++) {
        const uint8_t *r = f.st[(top + i) & 7];
        dbg_printf(o, "ST%d=%02x%02x %02x%02x%02x%02x%02x%02x%02x%02x%s", i, r[9], r[8], r[7], r[6], r[5], r[4],
                   r[3], r[2], r[1], r[0], (i & 1) ? "\n" : " ");
    }
}

static void info_tlb(DbgOut *o)
{
    X86Cpu *cpu = pc_cpu(dbg_machine());
    PhysMem *pm = pc_phys(dbg_machine());
    uint32_t cr0 = cpu_get_cr(cpu, 0), cr3 = cpu_get_cr(cpu, 3), cr4 = cpu_get_cr(cpu, 4);
    if (!(cr0 & 0x80000000u)) {
        dbg_printf(o, "PG disabled\n");
        return;
    }
    int lines = 0;
    for (uint32_t i = 0; i < 1024; i++) {
        uint32_t pde = (uint32_t)phys_read(pm, (cr3 & 0xFFFFF000u) + i * 4, 4);
        if (!(pde & 1))
            continue;
        bool big = (pde & 0x80) && (cr4 & 0x10);
        for (uint32_t j = 0; j < (big ? 1u : 1024u); j++) {
            uint32_t pte = big ? pde : (uint32_t)phys_read(pm, (pde & 0xFFFFF000u) + j * 4, 4);
            if (!(pte & 1))
                continue;
            if (++lines > MON_TLB_LINES_MAX) {
                dbg_printf(o, "... (more than %d mappings; truncated)\n", MON_TLB_LINES_MAX);
                return;
            }
            uint32_t lin = (i << 22) | (j << 12);
            uint32_t phys = pte & (big ? 0xFFC00000u : 0xFFFFF000u);
            dbg_printf(o, "%08x: %08x %c%c%c%c%c%c%c%c\n", lin, phys, pte & 0x100 ? 'G' : '-',
                       big ? 'P' : '-', pte & 0x40 ? 'D' : '-', pte & 0x20 ? 'A' : '-', pte & 0x10 ? 'C' : '-',
                       pte & 0x8 ? 'T' : '-', (pte & pde & 4) ? 'U' : '-', (pte & pde & 2) ? 'W' : '-');
        }
    }
    if (!lines)
        dbg_printf(o, "no pages mapped\n");
}

/* Ranges of linear memory with the same protection (user, write). */
static void info_mem(DbgOut *o)
{
    X86Cpu *cpu = pc_cpu(dbg_machine());
    PhysMem *pm = pc_phys(dbg_machine());
    uint32_t cr0 = cpu_get_cr(cpu, 0), cr3 = cpu_get_cr(cpu, 3), cr4 = cpu_get_cr(cpu, 4);
    if (!(cr0 & 0x80000000u)) {
        dbg_printf(o, "PG disabled\n");
        return;
    }
    uint64_t start = 0;
    int cur = -1; /* protection of the open range, -1 none */
    for (uint64_t lin = 0; lin <= 0x100000000ull; lin += 4096) {
        int prot = -1;
        if (lin < 0x100000000ull) {
            uint32_t i = (uint32_t)(lin >> 22), j = (uint32_t)(lin >> 12) & 1023;
            uint32_t pde = (uint32_t)phys_read(pm, (cr3 & 0xFFFFF000u) + i * 4, 4);
            if (!(pde & 1)) {
                /* skip the whole 4 MiB */
                if (cur != -1) {
                    dbg_printf(o, "%08x-%08x %08x %c%c%c\n", (uint32_t)start, (uint32_t)lin,
                               (uint32_t)(lin - start), cur & 4 ? 'u' : '-', 'r', cur & 2 ? 'w' : '-');
                    cur = -1;
                }
                lin |= 0x3FF000;
                continue;
            }
            if ((pde & 0x80) && (cr4 & 0x10)) {
                prot = (int)(pde & 6);
            } else {
                uint32_t pte = (uint32_t)phys_read(pm, (pde & 0xFFFFF000u) + j * 4, 4);
                if (pte & 1)
                    prot = (int)(pte & pde & 6);
            }
        }
        if (prot != cur) {
            if (cur != -1)
                dbg_printf(o, "%08x-%08x %08x %c%c%c\n", (uint32_t)start, (uint32_t)lin, (uint32_t)(lin - start),
                           cur & 4 ? 'u' : '-', 'r', cur & 2 ? 'w' : '-');
            start = lin;
            cur = prot;
        }
    }
}

static void info_cmd(const char *what, DbgOut *o)
{
    PcMachine *pc = dbg_machine();
    X86Cpu *cpu = pc_cpu(pc);
    if (!what || !*what) {
        dbg_printf(o, "info registers|cpus|tlb|mem|mtree|pic|pci|lapic|ioapic|status|breakpoints|snapshots\n");
    } else if (!strcmp(what, "registers")) {
        info_registers(o);
    } else if (!strcmp(what, "cpus")) {
        CpuSeg cs;
        cpu_get_seg(cpu, SEG_CS, &cs);
        dbg_printf(o, "* CPU #0: pc=0x%08x%s thread_id=%ld\n", cs.base + cpu_get_eip(cpu),
                   cpu_halted(cpu) ? " (halted)" : "", (long)getpid());
    } else if (!strcmp(what, "tlb")) {
        info_tlb(o);
    } else if (!strcmp(what, "mem")) {
        info_mem(o);
    } else if (!strcmp(what, "status")) {
        dbg_printf(o, "VM status: %s\n", dbg_stopped() ? "paused" : "running");
    } else if (!strcmp(what, "breakpoints") || !strcmp(what, "watchpoints")) {
        dbg_list_points(o);
    } else if (!strcmp(what, "mtree")) {
        size_t cap = 65536;
        char *buf = malloc(cap);
        if (buf) {
            phys_describe(pc_phys(pc), buf, cap);
            dbg_printf(o, "%s", buf);
            free(buf);
        }
    } else if (!strcmp(what, "snapshots")) {
        char *buf = malloc(65536);
        if (buf) {
            snapshot_info_pc(pc, NULL, buf, 65536);
            dbg_printf(o, "%s", buf);
            free(buf);
        }
    } else if (!strcmp(what, "pic") || !strcmp(what, "pci") || !strcmp(what, "lapic") ||
               !strcmp(what, "ioapic")) {
        char *buf = malloc(65536);
        if (!buf)
            return;
        if (pc_info(pc, what, buf, 65536) >= 0) {
            dbg_printf(o, "%s", buf);
            if (buf[0] && buf[strlen(buf) - 1] != '\n')
                dbg_printf(o, "\n");
        }
        free(buf);
    } else {
        dbg_printf(o, "info: unknown topic '%s' (try: info registers, cpus, tlb, mem, mtree, pic, pci, "
                      "lapic, ioapic, status, breakpoints, snapshots)\n", what);
    }
}

/* ================================================================
 * x / xp
 * ================================================================ */

/* x/FMT: count, then format letters (x d u o c; i is not supported) and
 * size letters (b h w g) in any order, as QEMU. */
static void memory_dump(const char *cmd, const char *arg, bool physical, DbgOut *o)
{
    int count = 1;
    char fmt = mon.last_fmt;
    int size = mon.last_size;
    bool size_given = false;
    const char *p = strchr(cmd, '/');
    if (p) {
        p++;
        if (isdigit((unsigned char)*p)) {
            long c = strtol(p, (char **)&p, 10);
            if (c < 1 || c > MON_DUMP_MAX) {
                dbg_printf(o, "%s: invalid count\n", cmd);
                return;
            }
            count = (int)c;
        }
        for (; *p; p++) {
            switch (*p) {
            case 'x': case 'd': case 'u': case 'o': case 'c':
                fmt = *p;
                break;
            case 'i':
                dbg_printf(o, "%s: format 'i' (disassembly) is not supported; use gdb's x/i\n", cmd);
                return;
            case 'b': size = 1; size_given = true; break;
            case 'h': size = 2; size_given = true; break;
            case 'w': size = 4; size_given = true; break;
            case 'g': size = 8; size_given = true; break;
            default:
                dbg_printf(o, "%s: invalid format character '%c'\n", cmd, *p);
                return;
            }
        }
    }
    if (fmt == 'c' && !size_given)
        size = 1;
    uint32_t addr;
    if (!arg || parse_value(arg, &addr) < 0) {
        dbg_printf(o, "%s: expected an address (number or $reg)\n", cmd);
        return;
    }
    mon.last_fmt = fmt;
    mon.last_size = size;
    size_t total = (size_t)count * (size_t)size;
    if (total > MON_DUMP_MAX)
        total = MON_DUMP_MAX;
    if ((uint64_t)addr + total > 0x100000000ull)
        total = (size_t)(0x100000000ull - addr);
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf)
        return;
    size_t got;
    if (physical) {
        phys_read_buf(pc_phys(dbg_machine()), addr, buf, total);
        got = total;
    } else {
        got = dbg_read_linear(addr, buf, total);
    }
    size_t line = size == 1 ? 8 : 16;
    for (size_t off = 0; off + (size_t)size <= got; off += (size_t)size) {
        if (off % line == 0)
            dbg_printf(o, "%s%08x:", off ? "\n" : "", addr + (uint32_t)off);
        uint64_t v = 0;
        for (int b = size - 1; b >= 0; b--)
            v = (v << 8) | buf[off + (size_t)b];
        switch (fmt) {
        case 'x':
            dbg_printf(o, " 0x%0*llx", size * 2, (unsigned long long)v);
            break;
        case 'o':
            dbg_printf(o, " %#*llo", size * 3 + 1, (unsigned long long)v);
            break;
        case 'u':
            dbg_printf(o, " %*llu", size == 1 ? 3 : size == 2 ? 5 : size == 4 ? 10 : 20, (unsigned long long)v);
            break;
        case 'd': {
            int64_t sv = size == 1 ? (int8_t)v : size == 2 ? (int16_t)v : size == 4 ? (int32_t)v : (int64_t)v;
            dbg_printf(o, " %*lld", size == 1 ? 4 : size == 2 ? 6 : size == 4 ? 11 : 20, (long long)sv);
            break;
        }
        case 'c': {
            unsigned c = (unsigned)(v & 0xFF);
            if (c >= 32 && c < 127 && c != '\'' && c != '\\')
                dbg_printf(o, " '%c'", c);
            else
                dbg_printf(o, " '\\x%02x'", c);
            break;
        }
        }
    }
    if (got)
        dbg_printf(o, "\n");
    if (got < total)
        dbg_printf(o, "Cannot access memory at %08x\n", addr + (uint32_t)got);
    free(buf);
}

/* ================================================================
 * Commands
 * ================================================================ */

static const char help_text[] =
    "info registers          CPU registers\n"
    "info cpus               the CPU and where it is\n"
    "info tlb | info mem     page table mappings | ranges by protection\n"
    "info pic | info pci     interrupt controllers | PCI devices\n"
    "info lapic | info ioapic  local APIC | I/O APIC registers\n"
    "info status             running or paused\n"
    "info breakpoints        breakpoints and watchpoints (gdb's and the monitor's)\n"
    "info snapshots          the snapshot directory and its snapshots\n"
    "savevm NAME             save the machine (time and size are shown)\n"
    "loadvm NAME             load a snapshot (a failed load leaves the machine as it was)\n"
    "delvm NAME              delete a snapshot\n"
    "screendump FILE.png     save the screen as PNG\n"
    "change ideC-cdU FILE    insert a CD-ROM image (e.g. change ide1-cd0 x.iso)\n"
    "eject ideC-cdU          remove the CD-ROM medium\n"
    "x/FMT ADDR              dump linear memory (FMT: count, x d u o c, b h w g)\n"
    "xp/FMT ADDR             dump physical memory\n"
    "stepi [N]               execute N instructions (default 1), then stay stopped\n"
    "break ADDR              breakpoint at a linear address\n"
    "watch ADDR LEN [w|r|a]  watchpoint (write, read or access; LEN 1..64)\n"
    "delete ADDR|all         remove the monitor's breakpoint/watchpoints at ADDR, or all\n"
    "stop | cont             pause | resume the guest\n"
    "system_reset            reset the machine\n"
    "system_powerdown        press the ACPI power button\n"
    "quit                    exit vessel\n"
    "ADDR: a number (0x.. hex) or $reg, with + and - terms, e.g. $esp+8\n";

static void show_position(DbgOut *o)
{
    X86Cpu *cpu = pc_cpu(dbg_machine());
    CpuSeg cs;
    cpu_get_seg(cpu, SEG_CS, &cs);
    dbg_printf(o, "EIP=%08x CS=%04x (linear %08x)%s\n", cpu_get_eip(cpu), cs.sel, cs.base + cpu_get_eip(cpu),
               cpu_halted(cpu) ? " halted" : "");
}

void monitor_exec(const char *line, DbgOut *o, int src)
{
    PcMachine *pc = dbg_machine();
    char buf[MON_LINE_MAX];
    snprintf(buf, sizeof(buf), "%s", line);
    char *argv[8];
    int argc = 0;
    for (char *t = strtok(buf, " \t\r\n"); t && argc < 8; t = strtok(NULL, " \t\r\n"))
        argv[argc++] = t;
    if (argc == 0)
        return;
    const char *c = argv[0];
    uint32_t a, n;
    if (!strcmp(c, "help") || !strcmp(c, "?") || !strcmp(c, "h")) {
        dbg_printf(o, "%s", help_text);
    } else if (!strcmp(c, "info") || !strcmp(c, "i")) {
        info_cmd(argc > 1 ? argv[1] : NULL, o);
    } else if (!strncmp(c, "xp", 2) && (c[2] == 0 || c[2] == '/')) {
        memory_dump(c, argc > 1 ? argv[1] : NULL, true, o);
    } else if (c[0] == 'x' && (c[1] == 0 || c[1] == '/')) {
        memory_dump(c, argc > 1 ? argv[1] : NULL, false, o);
    } else if (!strcmp(c, "stepi") || !strcmp(c, "si")) {
        n = 1;
        if (argc > 1 && (parse_value(argv[1], &n) < 0 || n < 1 || n > 10000000)) {
            dbg_printf(o, "stepi: N must be 1..10000000\n");
            return;
        }
        for (uint32_t k = 0; k < n; k++) {
            int r = dbg_step();
            if (r == CPU_EXIT_HALT) {
                dbg_printf(o, "halted after %u instruction(s)\n", k);
                break;
            }
            uint32_t wa;
            int wk;
            if (cpu_wp_hit(pc_cpu(pc), &wa, &wk)) {
                dbg_printf(o, "watchpoint hit at %08x\n", wa);
                break;
            }
        }
        dbg_request_stop(); /* no-op when already stopped */
        show_position(o);
        if (src == MON_SRC_GDB)
            dbg_printf(o, "(gdb's register cache is now stale: use 'flushregs' or gdb's stepi)\n");
    } else if (!strcmp(c, "break") || !strcmp(c, "b")) {
        if (argc < 2 || parse_value(argv[1], &a) < 0) {
            dbg_printf(o, "break: expected a linear address\n");
        } else if (dbg_bp_add(a, DBG_OWN_MON) < 0) {
            dbg_printf(o, "break: table full (%d breakpoints)\n", CPU_MAX_BREAKPOINTS);
        } else {
            dbg_printf(o, "breakpoint at %08x\n", a);
        }
    } else if (!strcmp(c, "watch")) {
        int kind = CPU_WATCH_WRITE;
        if (argc > 3) {
            if (!strcmp(argv[3], "r"))
                kind = CPU_WATCH_READ;
            else if (!strcmp(argv[3], "a") || !strcmp(argv[3], "rw"))
                kind = CPU_WATCH_ACCESS;
            else if (strcmp(argv[3], "w")) {
                dbg_printf(o, "watch: kind must be w, r or a\n");
                return;
            }
        }
        if (argc < 3 || parse_value(argv[1], &a) < 0 || parse_value(argv[2], &n) < 0) {
            dbg_printf(o, "watch: usage: watch ADDR LEN [w|r|a]\n");
        } else if (dbg_wp_add(a, n, kind, DBG_OWN_MON) < 0) {
            dbg_printf(o, "watch: LEN must be 1..64 and the table must have room\n");
        } else {
            static const char *const kn[] = { "write", "read", "access" };
            dbg_printf(o, "%s watchpoint at %08x len %u\n", kn[kind], a, n);
        }
    } else if (!strcmp(c, "delete") || !strcmp(c, "d")) {
        if (argc < 2) {
            dbg_printf(o, "delete: expected ADDR or all\n");
        } else if (!strcmp(argv[1], "all")) {
            dbg_clear_owned(DBG_OWN_MON);
            dbg_printf(o, "deleted all monitor breakpoints and watchpoints\n");
        } else if (parse_value(argv[1], &a) < 0) {
            dbg_printf(o, "delete: expected ADDR or all\n");
        } else {
            int removed = dbg_bp_del(a, DBG_OWN_MON) == 0;
            for (uint32_t len = 1; len <= 64; len++)
                for (int k = 0; k < 3; k++)
                    removed += dbg_wp_del(a, len, k, DBG_OWN_MON) == 0;
            if (removed)
                dbg_printf(o, "deleted %d point(s) at %08x\n", removed, a);
            else
                dbg_printf(o, "delete: no monitor breakpoint or watchpoint at %08x\n", a);
        }
    } else if (!strcmp(c, "stop")) {
        if (!dbg_stopped())
            dbg_request_stop();
    } else if (!strcmp(c, "cont") || !strcmp(c, "c")) {
        if (src == MON_SRC_GDB) {
            dbg_printf(o, "cont: use gdb's continue\n");
            return;
        }
        dbg_resume();
    } else if (!strcmp(c, "savevm") || !strcmp(c, "loadvm") || !strcmp(c, "delvm")) {
        if (argc < 2) {
            dbg_printf(o, "%s: expected a snapshot name\n", c);
            return;
        }
        char err[1024];
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int r = !strcmp(c, "savevm")   ? snapshot_savevm(pc, NULL, argv[1], err, sizeof(err))
                : !strcmp(c, "loadvm") ? snapshot_loadvm(pc, NULL, argv[1], err, sizeof(err))
                                       : snapshot_delvm_pc(pc, NULL, argv[1], err, sizeof(err));
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (r < 0)
            dbg_printf(o, "%s: %s\n", c, err);
        else
            dbg_printf(o, "%s %s: done in %.1f ms%s%s\n", c, argv[1], ms, err[0] ? ": " : "", err);
    } else if (!strcmp(c, "change") || !strcmp(c, "eject")) {
        /* change ideC-cdU FILE | eject ideC-cdU: swap a CD-ROM's medium. */
        int ch, unit;
        static BlockDev *mon_media[4]; /* media opened here (closed when replaced) */
        if (argc < 2 || sscanf(argv[1], "ide%d-cd%d", &ch, &unit) != 2 || ch < 0 || ch > 1 || unit < 0 ||
            unit > 1 || (!strcmp(c, "change") && argc < 3)) {
            dbg_printf(o, "usage: change ideC-cdU FILE | eject ideC-cdU  (e.g. ide1-cd0)\n");
            return;
        }
        BlockDev *bd = NULL;
        if (!strcmp(c, "change")) {
            char err[256];
            bd = blockdev_open(argv[2], BLOCKDEV_RDONLY, err, sizeof(err));
            if (!bd) {
                dbg_printf(o, "change: %s\n", err);
                return;
            }
        }
        if (ide_cd_change(pc_ide(pc), ch, unit, bd) < 0) {
            dbg_printf(o, "%s: ide%d-cd%d is not a CD-ROM drive\n", c, ch, unit);
            if (bd)
                blockdev_close(bd);
            return;
        }
        int slot = ch * 2 + unit;
        if (mon_media[slot])
            blockdev_close(mon_media[slot]);
        mon_media[slot] = bd;
        dbg_printf(o, "%s: ide%d-cd%d %s\n", c, ch, unit, bd ? argv[2] : "is empty");
    } else if (!strcmp(c, "screendump")) {
        char err[256];
        if (argc < 2)
            dbg_printf(o, "screendump: expected FILE.png\n");
        else if (screendump_png(pc, argv[1], err, sizeof(err)) < 0)
            dbg_printf(o, "screendump: %s\n", err);
        else
            dbg_printf(o, "screen saved to %s\n", argv[1]);
    } else if (!strcmp(c, "system_reset")) {
        pc_system_reset(pc);
        if (dbg_stopped())
            dbg_printf(o, "(the reset happens when the guest resumes)\n");
    } else if (!strcmp(c, "system_powerdown")) {
        pc_system_powerdown(pc);
    } else if (!strcmp(c, "quit") || !strcmp(c, "q")) {
        mon.quitting = true;
        pc_request_exit(pc, 0);
        dbg_resume();
    } else {
        dbg_printf(o, "unknown command: '%s' (try 'help')\n", c);
    }
}

/* ================================================================
 * Endpoints
 * ================================================================ */

static void mon_run_line(const char *line)
{
    DbgOut out = { 0 };
    monitor_exec(line, &out, MON_SRC_MONITOR);
    if (out.len)
        mon_out(out.buf, out.len);
    dbg_out_free(&out);
}

/* Plain line assembly (pipes, sockets): runs each complete line. */
static void mon_feed(const char *buf, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char ch = buf[k];
        if (ch == '\n') {
            if (!mon.overlong) {
                mon.line[mon.len] = 0;
                mon_run_line(mon.line);
            } else {
                mon_outs("line too long\n");
            }
            mon.len = 0;
            mon.overlong = false;
            mon_prompt();
        } else if (ch == '\r' || ch == 0) {
            continue;
        } else if (mon.len < sizeof(mon.line) - 1) {
            mon.line[mon.len++] = ch;
        } else {
            mon.overlong = true;
        }
    }
}

static void mon_stdin_readable(void *opaque, int fd)
{
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        mon_feed(buf, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        dbg_unwatch_fd(fd); /* EOF: the monitor is gone, the guest goes on */
        mon.stdin_on = false;
    }
}

static void mon_rl_line(char *line)
{
    if (!line) { /* Ctrl-D */
        rl_callback_handler_remove();
        dbg_unwatch_fd(STDIN_FILENO);
        mon.rl_on = false;
        fputs("\n", stdout);
        return;
    }
    if (*line)
        add_history(line);
    mon_run_line(line);
    free(line);
    /* Some libedit versions leave unbuffered (raw) mode after a line:
     * installing again restores it and shows the prompt. */
    if (mon.rl_on && !mon.quitting)
        rl_callback_handler_install(MON_PROMPT, mon_rl_line);
}

static void mon_rl_readable(void *opaque, int fd) { rl_callback_read_char(); }

static void mon_client_readable(void *opaque, int fd)
{
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
        mon_feed(buf, (size_t)n);
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    dbg_unwatch_fd(fd);
    close(fd);
    if (mon.cfd == fd)
        mon.cfd = -1;
}

static void mon_client_start(int fd)
{
    mon.cfd = fd;
    mon.len = 0;
    mon.overlong = false;
    if (dbg_watch_fd(fd, mon_client_readable, NULL) < 0) {
        close(fd);
        mon.cfd = -1;
        return;
    }
    mon_outs(MON_BANNER);
    mon_prompt();
}

static void mon_on_accept(void *opaque, int lfd)
{
    int fd = dbg_accept(lfd);
    if (fd < 0)
        return;
    if (mon.cfd >= 0) {
        static const char busy[] = "vessel: the monitor is already in use by another client\n";
        dbg_write_all(fd, busy, sizeof(busy) - 1);
        close(fd);
        return;
    }
    mon_client_start(fd);
}

void monitor_notify(const char *msg)
{
    if (!mon.configured)
        return;
    if (mon.tty && mon.rl_on) {
        fprintf(stdout, "\r\n%s\n", msg);
        fflush(stdout);
        rl_forced_update_display();
        return;
    }
    if (mon.ep.kind == DBG_EP_STDIO && !mon.stdin_on)
        return;
    mon_outs("\n");
    mon_outs(msg);
    mon_outs("\n");
    mon_prompt();
}

/* ================================================================
 * Flag, setup, shutdown
 * ================================================================ */

int monitor_parse_flag(int argc, char **argv, int *k)
{
    const char *a = argv[*k];
    if (a[0] == '-' && a[1] == '-' && a[2])
        a++;
    if (strcmp(a, "-monitor"))
        return 0;
    if (*k + 1 >= argc) {
        fprintf(stderr, "vessel: option '%s' needs an argument (stdio, unix:PATH,server,nowait or "
                        "tcp:HOST:PORT,server,nowait)\n", argv[*k]);
        exit(2);
    }
    const char *spec = argv[++*k];
    char err[256];
    DbgEndpoint ep;
    if (mon.configured) {
        fprintf(stderr, "vessel: -monitor: only one monitor is supported\n");
        exit(2);
    }
    if (dbg_parse_endpoint(spec, &ep, err, sizeof(err)) < 0) {
        fprintf(stderr, "vessel: -monitor: %s\n", err);
        exit(2);
    }
    if ((ep.kind == DBG_EP_TCP || ep.kind == DBG_EP_UNIX) && !ep.server) {
        fprintf(stderr, "vessel: -monitor: '%s': only listening sockets are supported (add ,server,nowait)\n",
                spec);
        exit(2);
    }
    if (ep.kind == DBG_EP_STDIO) {
        /* stdin cannot be shared with a serial console (no multiplexer). */
        for (int j = 1; j < argc; j++) {
            const char *b = argv[j];
            if (b[0] == '-' && b[1] == '-')
                b++;
            if (!strcmp(b, "-nographic") || !strcmp(b, "-curses") ||
                (!strcmp(b, "-serial") && j + 1 < argc && strstr(argv[j + 1], "stdio")) ||
                (!strcmp(b, "-display") && j + 1 < argc && !strncmp(argv[j + 1], "curses", 6))) {
                bool has_arg = !strcmp(b, "-serial") || !strcmp(b, "-display");
                fprintf(stderr, "vessel: -monitor stdio: the terminal is already taken (%s%s%s); use "
                                "-monitor unix:PATH,server,nowait\n", b, has_arg ? " " : "",
                        has_arg ? argv[j + 1] : "");
                exit(2);
            }
        }
    }
    mon.ep = ep;
    mon.configured = ep.kind != DBG_EP_NONE;
    return 1;
}

bool monitor_configured(void) { return mon.configured; }

int monitor_setup(char *err, size_t errlen)
{
    if (!mon.configured)
        return 0;
    if (mon.ep.kind == DBG_EP_STDIO) {
        mon.tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        fputs(MON_BANNER, stdout);
        fflush(stdout);
        if (mon.tty) {
            rl_callback_handler_install(MON_PROMPT, mon_rl_line);
            mon.rl_on = true;
            dbg_watch_fd(STDIN_FILENO, mon_rl_readable, NULL);
        } else {
            mon.stdin_on = true;
            dbg_watch_fd(STDIN_FILENO, mon_stdin_readable, NULL);
            mon_prompt();
        }
        return 0;
    }
    char e[256];
    mon.lfd = dbg_listen(&mon.ep, e, sizeof(e));
    if (mon.lfd < 0) {
        snprintf(err, errlen, "-monitor: %s", e);
        return -1;
    }
    if (mon.ep.wait) {
        if (mon.ep.kind == DBG_EP_UNIX)
            fprintf(stderr, "vessel: waiting for a monitor connection on unix:%s\n", mon.ep.path);
        else
            fprintf(stderr, "vessel: waiting for a monitor connection on tcp:%s:%d\n", mon.ep.host, mon.ep.port);
        int fd = dbg_accept(mon.lfd);
        if (fd < 0) {
            snprintf(err, errlen, "-monitor: accept: %s", strerror(errno));
            return -1;
        }
        mon_client_start(fd);
    }
    dbg_watch_fd(mon.lfd, mon_on_accept, NULL);
    return 0;
}

void monitor_shutdown(void)
{
    if (mon.rl_on) {
        rl_callback_handler_remove();
        mon.rl_on = false;
    }
    if (mon.cfd >= 0) {
        close(mon.cfd);
        mon.cfd = -1;
    }
    if (mon.lfd >= 0) {
        close(mon.lfd);
        mon.lfd = -1;
        if (mon.ep.kind == DBG_EP_UNIX)
            unlink(mon.ep.path);
    }
}
