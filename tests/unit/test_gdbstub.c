/*
 * test_gdbstub.c - the gdb stub's packet layer and the debugger core,
 * without a gdb: frontend/gdbstub.c is compiled into this test and talks
 * over a socketpair to the test, on a real PcMachine (a tiny ROM, stopped).
 *
 * Covers framing (checksums, acks, '-' retransmit, restarts, overflow,
 * noise), register and memory packets, E0e on unmapped linear addresses,
 * breakpoint/watchpoint bookkeeping shared with the monitor, and a fuzz of
 * random frames and random bytes whose every reply must be well formed.
 * The monitor is replaced by a stub (monitor.c needs libedit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "frontend/gdbstub.c"

/* ---- monitor stubs ---- */

static char last_rcmd[1100];

void monitor_exec(const char *line, DbgOut *out, int src)
{
    snprintf(last_rcmd, sizeof(last_rcmd), "%s", line);
    if (!strcmp(line, "long"))
        for (int k = 0; k < 300; k++)
            dbg_printf(out, "line %03d of a long monitor output\n", k);
    else
        dbg_printf(out, "echo: %s\n", line);
}
int monitor_parse_flag(int argc, char **argv, int *k) { return 0; }
bool monitor_configured(void) { return false; }
int monitor_setup(char *err, size_t errlen) { return 0; }
void monitor_notify(const char *msg) {}
void monitor_shutdown(void) {}

/* ---- fixture ---- */

static PcMachine *pc;
static uint8_t rom[0x10000];
static int peer = -1; /* the test's end of the socketpair */

static int setup(void **state)
{
    memset(rom, 0x90, sizeof(rom));
    rom[0xFFF0] = 0xEB; /* jmp $ */
    rom[0xFFF1] = 0xFE;
    PcConfig cfg = {
        .ram_size = 16u << 20,
        .bios = rom,
        .bios_size = sizeof(rom),
        .debug_exit_port = -1,
        .tcache = true,
    };
    char err[256];
    pc = pc_new(&cfg, err, sizeof(err));
    assert_non_null(pc);
    dbg.pc = pc;
    dbg.cpu = pc_cpu(pc);
    dbg.stopped = true; /* as inside the stopped() hook */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    gdb.fd = sv[0];
    peer = sv[1];
    gdb.rx_state = RX_IDLE;
    gdb.noack = false;
    return 0;
}

static int teardown(void **state)
{
    dbg_clear_owned(DBG_OWN_GDB | DBG_OWN_GDB_HW | DBG_OWN_MON);
    if (gdb.fd >= 0)
        close(gdb.fd);
    gdb.fd = -1;
    close(peer);
    free(gdb.tx);
    gdb.tx = NULL;
    gdb.tx_len = gdb.tx_cap = 0;
    dbg.nfds = 0;
    pc_free(pc);
    return 0;
}

/* Everything the stub wrote so far. */
static size_t drain(char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(peer, buf + n, cap - 1 - n, MSG_DONTWAIT);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n >= cap - 1)
            break;
    }
    buf[n] = 0;
    return n;
}

static void feed(const void *buf, size_t len) { gdb_feed(buf, len); }

static void send_frame(const char *data, size_t len)
{
    char *f = malloc(len + 5);
    uint8_t sum = 0;
    f[0] = '$';
    for (size_t k = 0; k < len; k++) {
        f[1 + k] = data[k];
        sum = (uint8_t)(sum + (uint8_t)data[k]);
    }
    sprintf(f + 1 + len, "#%02x", sum);
    feed(f, len + 4);
    free(f);
}

static char out[1 << 20];

/* Sends a packet; returns the payload of the (single) reply, after '+'. */
static const char *cmd(const char *data)
{
    send_frame(data, strlen(data));
    size_t n = drain(out, sizeof(out));
    assert_true(n >= 5);
    assert_int_equal(out[0], '+');
    assert_int_equal(out[1], '$');
    char *hash = strrchr(out, '#');
    assert_non_null(hash);
    assert_int_equal((size_t)(hash - out) + 3, n);
    *hash = 0;
    return out + 2;
}

/* The stream is only '+', '-' and well-formed frames. */
static void assert_well_formed(const char *s, size_t n)
{
    size_t k = 0;
    while (k < n) {
        if (s[k] == '+' || s[k] == '-') {
            k++;
            continue;
        }
        assert_int_equal(s[k], '$');
        uint8_t sum = 0;
        size_t j = k + 1;
        while (j < n && s[j] != '#') {
            assert_true(s[j] != '$');
            sum = (uint8_t)(sum + (uint8_t)s[j]);
            j++;
        }
        assert_true(j + 2 < n);
        unsigned cs;
        assert_int_equal(sscanf(s + j + 1, "%2x", &cs), 1);
        assert_int_equal(cs, sum);
        k = j + 3;
    }
}

/* ---- framing ---- */

static void framing(void **state)
{
    assert_string_equal(cmd("?"), "T05thread:01;");
    /* byte by byte */
    const char *f = "$qC#b4";
    for (const char *p = f; *p; p++)
        feed(p, 1);
    drain(out, sizeof(out));
    assert_string_equal(out, "+$QC1#c5");
    /* bad checksum, non-hex checksum */
    feed("$qC#00", 6);
    drain(out, sizeof(out));
    assert_string_equal(out, "-");
    feed("$qC#zz", 6);
    drain(out, sizeof(out));
    assert_string_equal(out, "-");
    /* '-' resends the last packet */
    feed("-", 1);
    drain(out, sizeof(out));
    assert_string_equal(out, "$QC1#c5");
    /* a '$' inside a packet restarts it; noise and acks are ignored */
    feed("xx+++$garbage$qC#b4", 19);
    drain(out, sizeof(out));
    assert_string_equal(out, "+$QC1#c5");
    /* overflow */
    char *big = malloc(GDB_PKT_MAX + 100);
    memset(big, 'm', GDB_PKT_MAX + 100);
    send_frame(big, GDB_PKT_MAX + 100);
    free(big);
    drain(out, sizeof(out));
    assert_string_equal(out, "-");
    assert_string_equal(cmd("qC"), "QC1");
    /* Ctrl-C while stopped is ignored */
    feed("\x03", 1);
    assert_int_equal(drain(out, sizeof(out)), 0);
    /* no-ack mode */
    assert_string_equal(cmd("QStartNoAckMode"), "OK");
    send_frame("qC", 2);
    drain(out, sizeof(out));
    assert_string_equal(out, "$QC1#c5");
    gdb.noack = false;
}

/* ---- registers and memory ---- */

static void registers(void **state)
{
    const char *g = cmd("g");
    assert_int_equal(strlen(g), 352);
    assert_memory_equal(g + 64, "f0ff0000", 8);  /* eip */
    assert_memory_equal(g + 80, "00f00000", 8);  /* cs */
    assert_string_equal(cmd("P0=78563412"), "OK");
    assert_int_equal(cpu_get_reg(dbg.cpu, R_EAX), 0x12345678);
    assert_string_equal(cmd("p0"), "78563412");
    /* st0 round trip through P and the FPU state */
    assert_string_equal(cmd("P10=0102030405060708090a"), "OK");
    assert_string_equal(cmd("p10"), "0102030405060708090a");
    assert_string_equal(cmd("P18=7f030000"), "OK"); /* fctrl */
    CpuFpuState f;
    cpu_get_fpu(dbg.cpu, &f);
    assert_int_equal(f.fcw, 0x37F);
    /* a real-mode segment load computes the base */
    assert_string_equal(cmd("Pc=00100000"), "OK"); /* ds (register 12) = 0x1000 */
    CpuSeg ds;
    cpu_get_seg(dbg.cpu, SEG_DS, &ds);
    assert_int_equal(ds.sel, 0x1000);
    assert_int_equal(ds.base, 0x10000);
    /* G with g's data is a no-op; short or odd data is an error */
    char gcopy[400];
    snprintf(gcopy, sizeof(gcopy), "G%s", cmd("g"));
    assert_string_equal(cmd(gcopy), "OK");
    assert_string_equal(cmd("G0011"), "E16");
    assert_string_equal(cmd("G001"), "E16");
    assert_string_equal(cmd("p20"), "E16");
    assert_string_equal(cmd("P20=00000000"), "E16");
    assert_string_equal(cmd("P8=0000"), "E16");
}

static void memory(void **state)
{
    assert_string_equal(cmd("M1000,4:deadbeef"), "OK");
    assert_string_equal(cmd("m1000,4"), "deadbeef");
    assert_string_equal(cmd("X1000,3:}]}\x03}\x04"), "OK"); /* '}' '#' '$' escaped */
    assert_string_equal(cmd("m1000,4"), "7d2324ef");
    assert_string_equal(cmd("m1000,0"), "");
    assert_int_equal(strlen(cmd("m0,ffffffff")), 2 * GDB_MEM_MAX);
    assert_int_equal(strlen(cmd("mffffffff,10")), 2);
    assert_string_equal(cmd("m100000000,1"), "E16");
    assert_string_equal(cmd("M1000,4:dead"), "E16");
    assert_string_equal(cmd("M1000,ffffffff:00"), "E16");
    assert_string_equal(cmd("X1000,2:}"), "E16");
    /* paging on with an empty page directory: nothing is mapped */
    cpu_set_cr(dbg.cpu, 3, 0x20000);
    cpu_set_cr(dbg.cpu, 0, cpu_get_cr(dbg.cpu, 0) | 0x80000001u);
    assert_string_equal(cmd("m1000,4"), "E0e");
    assert_string_equal(cmd("M1000,1:00"), "E0e");
    assert_string_equal(cmd("X1000,1:a"), "E0e");
    /* map one page (linear 0x400000 -> physical 0x5000) */
    phys_write(pc_phys(pc), 0x20000 + 4, 0x21000 | 3, 4);
    phys_write(pc_phys(pc), 0x21000, 0x5000 | 3, 4);
    phys_write(pc_phys(pc), 0x5FFC, 0x11223344, 4);
    assert_string_equal(cmd("m400ffc,8"), "44332211"); /* partial */
    assert_string_equal(cmd("M400ffe,4:00000000"), "E0e"); /* all or nothing */
    assert_int_equal((uint32_t)phys_read(pc_phys(pc), 0x5FFC, 4), 0x11223344);
}

/* ---- points ---- */

static void points(void **state)
{
    X86Cpu *cpu = dbg.cpu;
    assert_string_equal(cmd("Z0,f0000,1"), "OK");
    assert_int_equal(dbg_bp_add(0xF0000, DBG_OWN_MON), 0);
    assert_string_equal(cmd("z0,f0000,1"), "OK");
    assert_string_equal(cmd("z0,f0000,1"), "E16");  /* gdb's claim is gone */
    assert_int_equal(cpu_bp_remove(cpu, 0xF0000), 0); /* the monitor's remains */
    cpu_bp_insert(cpu, 0xF0000);
    assert_int_equal(dbg_bp_del(0xF0000, DBG_OWN_MON), 0);
    assert_int_equal(cpu_bp_remove(cpu, 0xF0000), -1);
    /* Z1 is the same mechanism */
    assert_string_equal(cmd("Z1,1234,1"), "OK");
    assert_string_equal(cmd("z1,1234,1"), "OK");
    /* watchpoints: 1..64 bytes split into CPU entries of 8 */
    assert_string_equal(cmd("Z2,1000,10"), "OK");
    assert_string_equal(cmd("Z2,1008,8"), "OK");
    assert_string_equal(cmd("z2,1000,10"), "OK");
    assert_int_equal(cpu_wp_remove(cpu, 0x1000, 8, CPU_WATCH_WRITE), -1);
    assert_int_equal(cpu_wp_remove(cpu, 0x1008, 8, CPU_WATCH_WRITE), 0); /* shared, kept */
    cpu_wp_insert(cpu, 0x1008, 8, CPU_WATCH_WRITE);
    assert_string_equal(cmd("z2,1008,8"), "OK");
    assert_int_equal(cpu_wp_remove(cpu, 0x1008, 8, CPU_WATCH_WRITE), -1);
    assert_string_equal(cmd("Z2,1000,0"), "E1c");
    assert_string_equal(cmd("Z3,fffffffc,8"), "E1c"); /* wraps */
    assert_string_equal(cmd("Z7,1000,1"), "");
    /* fill the CPU's table: an error, and the table is left consistent */
    int ok = 0;
    char p[64];
    for (int k = 0; k < 40; k++) {
        snprintf(p, sizeof(p), "Z4,%x,1", 0x3000 + 2 * k);
        ok += !strcmp(cmd(p), "OK");
    }
    assert_int_equal(ok, CPU_MAX_WATCHPOINTS < DBG_MAX_WATCH ? CPU_MAX_WATCHPOINTS : DBG_MAX_WATCH);
    assert_string_equal(cmd("D"), "OK");
    assert_int_equal(dbg.nwp, 0);
    assert_int_equal(dbg.nbp, 0);
    assert_true(dbg.resume);
    dbg.resume = false;
}

/* ---- queries, step, monitor ---- */

static void queries(void **state)
{
    const char *s = cmd("qSupported:xmlRegisters=i386");
    assert_non_null(strstr(s, "PacketSize=4000"));
    assert_non_null(strstr(s, "qXfer:features:read+"));
    /* the whole target description, in chunks */
    char xml[8192] = "";
    size_t off = 0;
    for (;;) {
        char q[80];
        snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,100", off);
        const char *r = cmd(q);
        assert_true(r[0] == 'm' || r[0] == 'l');
        strncat(xml, r + 1, sizeof(xml) - strlen(xml) - 1);
        off += strlen(r + 1);
        if (r[0] == 'l')
            break;
    }
    assert_string_equal(xml, target_xml);
    assert_string_equal(cmd("qXfer:features:read:a.xml:0,100"), "E00");
    assert_string_equal(cmd("qXfer:memory-map:read::0,100"), "");
    assert_string_equal(cmd("vCont?"), "vCont;c;C;s;S");
    assert_string_equal(cmd("qfThreadInfo"), "m1");
    /* s steps: jmp $ at the reset vector stays */
    assert_string_equal(cmd("s"), "T05thread:01;");
    assert_int_equal(cpu_get_eip(dbg.cpu), 0xFFF0);
    assert_string_equal(cmd("vCont;s:1"), "T05thread:01;");
    /* s with an address sets EIP first (0xFFF2 is a NOP) */
    assert_string_equal(cmd("sfff2"), "T05thread:01;");
    assert_int_equal(cpu_get_eip(dbg.cpu), 0xFFF3);
    /* qRcmd: output in O packets, then OK */
    send_frame("qRcmd,6c6f6e67", 14); /* "long" */
    size_t n = drain(out, sizeof(out));
    assert_well_formed(out, n);
    assert_non_null(strstr(out, "$O"));
    assert_non_null(strstr(out, "$OK#9a"));
    assert_string_equal(last_rcmd, "long");
    assert_string_equal(cmd("qRcmd,6"), "E16");
    assert_string_equal(cmd("qRcmd,zz"), "E16");
    /* c resumes and waits for a stop reply */
    send_frame("c", 1);
    drain(out, sizeof(out));
    assert_string_equal(out, "+");
    assert_true(dbg.resume && gdb.waiting);
}

/* ---- fuzz ---- */

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void fuzz(void **state)
{
    static const char first[] = "gGpPmMXZzqQHT?vsDc";
    static const char alpha[] = "0123456789abcdefABCDEF,:;=-}*xqXferfeatures:read:target.xml";
    static char pkt[GDB_PKT_MAX + 200];
    for (int it = 0; it < 20000; it++) {
        size_t len = 1 + rnd() % (it % 100 == 0 ? sizeof(pkt) - 1 : 48);
        pkt[0] = first[rnd() % (sizeof(first) - 1)];
        for (size_t k = 1; k < len; k++)
            pkt[k] = (rnd() % 8) ? alpha[rnd() % (sizeof(alpha) - 1)] : (char)(rnd() & 0xFF);
        for (size_t k = 0; k < len; k++)
            if (pkt[k] == '$' || pkt[k] == '#')
                pkt[k] = 'x';
        if (rnd() % 16 == 0) { /* raw noise, maybe with stray frame bytes */
            feed(pkt, len);
        } else {
            send_frame(pkt, len);
        }
        dbg.resume = false;
        gdb.waiting = false;
        size_t n = drain(out, sizeof(out));
        assert_true(gdb.fd >= 0);
        /* Noise may leave a frame half-read; only check whole replies. */
        if (gdb.rx_state == RX_IDLE && n && out[0] != '$')
            assert_well_formed(out, n);
        if (gdb.rx_state != RX_IDLE)
            feed("#00", 3), drain(out, sizeof(out));
        dbg_clear_owned(DBG_OWN_GDB | DBG_OWN_GDB_HW);
    }
    /* still alive */
    gdb.noack = false;
    assert_string_equal(cmd("qC"), "QC1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(framing, setup, teardown),
        cmocka_unit_test_setup_teardown(registers, setup, teardown),
        cmocka_unit_test_setup_teardown(memory, setup, teardown),
        cmocka_unit_test_setup_teardown(points, setup, teardown),
        cmocka_unit_test_setup_teardown(queries, setup, teardown),
        cmocka_unit_test_setup_teardown(fuzz, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
