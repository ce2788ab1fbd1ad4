/*
 * main.c - vessel's command line (QEMU's flag spellings), host consoles,
 * and the process exit status.
 *
 * Exit statuses: the guest's isa-debug-exit value (V<<1)|1; 0 on ACPI
 * power-off or a quit command; 2 for a command-line or input-file error;
 * 4 when the guest stopped for good (HLT with interrupts disabled);
 * 6 on a triple fault with -no-reboot.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "devices/pc.h"
#include "firmware/kernel_loader.h"
#include "frontend/chardev_host.h"
#include "frontend/debug.h"
#include "frontend/display.h"
#include "frontend/net.h"
#include "frontend/snapshot.h"
#include "frontend/trace.h"

#ifndef VESSEL_ROM_DIR
#define VESSEL_ROM_DIR "roms"
#endif
#define VESSEL_VERSION "0.1.0"

static const char usage_text[] =
    "usage: vessel [options]\n"
    "\n"
    "Machine:\n"
    "  -M, -machine pc[,apic=on|off]  the PC (i440FX + PIIX3); the only machine\n"
    "  -cpu pentium2[,-apic]          the CPU model (Intel Pentium II)\n"
    "  -m SIZE                        guest RAM, e.g. 128M or 1G (default 128M)\n"
    "  -bios FILE                     BIOS ROM image, 64 KiB..2 MiB, multiple of 64 KiB\n"
    "                                 (default: SeaBIOS bios.bin from roms/)\n"
    "  -device isa-debug-exit[,iobase=PORT][,iosize=N]\n"
    "                                 a write of V to PORT exits with status (V<<1)|1\n"
    "  -no-reboot                     exit instead of resetting on triple fault/reset\n"
    "  -vga std|none                  the std VGA (Bochs VBE) at 00:02.0 (default std)\n"
    "Disks (raw or qcow2 images, detected by content unless format= is given):\n"
    "  -hda/-hdb/-hdc/-hdd FILE       IDE disk as primary master/slave, secondary master/slave\n"
    "  -cdrom FILE                    CD-ROM image (read-only) as secondary master\n"
    "  -drive file=FILE[,if=ide][,index=N][,media=disk|cdrom][,format=raw|qcow2][,readonly=on]\n"
    "  -snapshot                      writes go to a temporary overlay; images are never changed\n"
    "  -boot c|d|order=LETTERS        boot order: c disk, d CD-ROM, a floppy, n network\n"
    "Direct kernel boot (through SeaBIOS and QEMU's linuxboot/multiboot option ROMs):\n"
    "  -kernel FILE                   a Linux bzImage or a multiboot (v1) kernel\n"
    "  -initrd FILE                   Linux: the initrd; multiboot: modules 'FILE [ARGS],FILE...'\n"
    "  -append CMDLINE                the kernel command line\n"
    "Consoles:\n"
    "  -serial stdio|file:PATH|pty|tcp:HOST:PORT[,server][,nowait]|null|none\n"
    "                                 COM1, then COM2 on a second -serial\n"
    "  -debugcon stdio|file:PATH|none bytes written to port 0xE9\n"
    "  -nographic                     no window; COM1 on the terminal\n"
    "  -display sdl|curses|none       window (default sdl when DISPLAY or WAYLAND_DISPLAY is set),\n"
    "                                 VGA text in the terminal, or nothing\n"
    "  -full-screen                   start the SDL window full screen\n"
    "  -screendump-at TIME:FILE.png[,quit]  save the screen at TIME (s, Nms, or iN instructions)\n"
    "Time:\n"
    "  -icount shift=N                deterministic time: 2^N ns per instruction\n"
    "  -rtc base=utc|YYYY-MM-DDTHH:MM:SS[,clock=host|vm]\n"
    "Debugging:\n"
    "  -d LIST                        log: int,cpu_reset,guest_errors,unimp,postcode,bios,unassigned,\n"
    "                                 exitstate (icount and state CRCs at exit),\n"
    "                                 exec/in_asm (each instruction, disassembled), cpu (+ registers)\n"
    "  -dfilter RANGES                trace only START..END / START+LEN linear ranges\n"
    "  -D FILE                        write the log to FILE (default: stderr)\n"
    "  -no-tcache                     run without the translation cache (reference interpreter)\n"
    "  -gdb tcp:[HOST]:PORT|unix:PATH gdb remote stub; -s is -gdb tcp::1234\n"
    "  -S                             start stopped (continue from gdb or the monitor)\n"
    "  -monitor stdio|unix:PATH,server[,nowait]|tcp:HOST:PORT,server[,nowait]\n"
    "                                 the monitor (info registers, x/FMT, stepi, break, ...)\n"
    "Other:\n"
    "  -h, --help                     this text\n"
    "  -version                       the version\n"
    "\n"
    "Terminal escapes with -serial stdio / -nographic: Ctrl-A x quits, Ctrl-A c switches between\n"
    "the serial console and the monitor, Ctrl-A a sends Ctrl-A.\n";

static void die_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("vessel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see vessel --help)\n", stderr);
    exit(2);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("vessel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ---- host character sinks ---- */

typedef struct FileSink {
    FILE *f;
    bool crlf_raw; /* terminal in raw mode: translate \n to \r\n */
} FileSink;

static void sink_write(void *opaque, const uint8_t *buf, size_t len)
{
    FileSink *s = opaque;
    fwrite(buf, 1, len, s->f);
    fflush(s->f);
}

static CharBackend open_sink(const char *spec, const char *what, bool *is_stdio)
{
    if (is_stdio)
        *is_stdio = false;
    if (!strcmp(spec, "none") || !strcmp(spec, "null"))
        return (CharBackend){ NULL, NULL };
    FileSink *s = calloc(1, sizeof(*s));
    if (!s)
        die("out of memory");
    if (!strcmp(spec, "stdio")) {
        s->f = stdout;
        if (is_stdio)
            *is_stdio = true;
    } else if (!strncmp(spec, "file:", 5)) {
        s->f = fopen(spec + 5, "wb");
        if (!s->f)
            die("%s: cannot open '%s': %s", what, spec + 5, strerror(errno));
    } else {
        die_usage("%s: unsupported backend '%s' (use stdio, file:PATH or none)", what, spec);
    }
    return (CharBackend){ sink_write, s };
}

/* ---- files ---- */

static uint8_t *read_file(const char *path, size_t *size, const char *what)
{
    struct stat st;
    if (stat(path, &st) < 0)
        die("%s '%s': %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        die("%s '%s': not a regular file", what, path);
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s '%s': %s", what, path, strerror(errno));
    uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf)
        die("%s '%s': out of memory", what, path);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (n != (size_t)st.st_size)
        die("%s '%s': short read", what, path);
    *size = n;
    return buf;
}

static char *find_rom(const char *name)
{
    static char path[PATH_MAX];
    const char *env = getenv("VESSEL_ROM_DIR");
    const char *dirs[] = { env, VESSEL_ROM_DIR, "/usr/share/seabios", "/usr/share/qemu" };
    for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        if (!dirs[k])
            continue;
        snprintf(path, sizeof(path), "%s/%s", dirs[k], name);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

/* -kernel/-initrd/-append: read the files and hand them to the loader. */
static void load_kernel(PcMachine *pc, uint32_t ram_size, const char *kpath, const char *initrd_spec,
                        const char *append)
{
    size_t klen;
    uint8_t *kernel = read_file(kpath, &klen, "kernel");
    int kind = kernel_detect(kernel, klen);
    if (kind < 0)
        die("kernel '%s': not a Linux bzImage nor a multiboot kernel", kpath);
    const char *romname = kind == KERNEL_LINUX ? "linuxboot.bin" : "multiboot.bin";
    const char *rompath = find_rom(romname);
    if (!rompath)
        die("option ROM %s not found (Debian package qemu-system-data; run scripts/install-deps.sh)", romname);
    size_t romlen;
    uint8_t *rom = read_file(rompath, &romlen, "option ROM");
    KernelModule mods[64];
    char *spec = initrd_spec ? strdup(initrd_spec) : NULL;
    int nmods = 0;
    for (char *tok = spec ? strtok(spec, ",") : NULL; tok; tok = strtok(NULL, ",")) {
        if (nmods >= 64)
            die_usage("-initrd: at most 64 modules");
        char *file = strdup(tok);
        char *sp = strchr(file, ' ');
        if (sp)
            *sp = 0; /* multiboot: "FILE ARGS" */
        mods[nmods].data = read_file(file, &mods[nmods].len, "initrd/module");
        mods[nmods].cmdline = strdup(tok);
        free(file);
        nmods++;
    }
    char err[256];
    if (kernel_load(pc_fw_cfg(pc), ram_size, kernel, klen, kpath, mods, nmods, append, rom, romlen, err,
                    sizeof(err)) < 0)
        die("kernel '%s': %s", kpath, err);
    for (int m = 0; m < nmods; m++) {
        free((void *)mods[m].data);
        free((void *)mods[m].cmdline);
    }
    free(spec);
    free(rom);
    free(kernel);
}

/* ---- parsing helpers ---- */

static uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        die_usage("-m: invalid size '%s'", s);
    switch (*end) {
    case 'G': case 'g': v <<= 30; end++; break;
    case 'M': case 'm': v <<= 20; end++; break;
    case 'K': case 'k': v <<= 10; end++; break;
    case '\0': v <<= 20; break; /* QEMU: plain numbers are MiB */
    default: die_usage("-m: invalid size '%s'", s);
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        die_usage("-m: invalid size '%s'", s);
    return v;
}

static long parse_int(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end)
        die_usage("%s: invalid number '%s'", what, s);
    return v;
}

/* ---- logging ---- */

static FILE *log_file;

static void log_line(void *opaque, const char *line)
{
    FILE *f = log_file ? log_file : stderr;
    fprintf(f, "%s\n", line);
    fflush(f);
}

/* Line-buffered SeaBIOS log (port 0x402) into the log. */
typedef struct LineLog {
    char buf[1024];
    size_t n;
} LineLog;

static void bios_log_write(void *opaque, const uint8_t *buf, size_t len)
{
    LineLog *l = opaque;
    for (size_t k = 0; k < len; k++) {
        char c = (char)buf[k];
        if (c == '\n' || l->n == sizeof(l->buf) - 1) {
            l->buf[l->n] = 0;
            log_line(NULL, l->buf);
            l->n = 0;
        } else if (c != '\r') {
            l->buf[l->n++] = c;
        }
    }
}

/* ---- terminal ---- */

static struct termios saved_tio;
static bool tio_saved;
static PcMachine *the_pc;
static bool stdin_serial;
static bool escape_pending;

static void term_restore(void)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
}

static void term_raw(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tio) < 0)
        return;
    tio_saved = true;
    atexit(term_restore);
    struct termios t = saved_tio;
    t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

/* The terminal: COM1's input, and the monitor after Ctrl-A c (QEMU's
 * multiplexed console).  Serviced through the debugger's descriptor watch,
 * so the monitor keeps answering while the guest is stopped. */
static bool term_monitor;          /* Ctrl-A c toggled: lines go to the monitor */
static char mon_line[512];
static size_t mon_len;

static void term_puts(const char *s)
{
    /* Raw terminal: translate \n to \r\n. */
    for (; *s; s++) {
        if (*s == '\n')
            fputc('\r', stdout);
        fputc(*s, stdout);
    }
    fflush(stdout);
}

static void term_monitor_char(uint8_t c)
{
    if (c == '\r' || c == '\n') {
        term_puts("\n");
        mon_line[mon_len] = 0;
        DbgOut out = { 0 };
        monitor_exec(mon_line, &out, MON_SRC_MONITOR);
        if (out.len) {
            char *text = malloc(out.len + 1);
            if (text) {
                memcpy(text, out.buf, out.len);
                text[out.len] = 0;
                term_puts(text);
                free(text);
            }
        }
        dbg_out_free(&out);
        mon_len = 0;
        term_puts("(vessel) ");
    } else if (c == 0x7F || c == 0x08) {
        if (mon_len) {
            mon_len--;
            term_puts("\b \b");
        }
    } else if (c >= 0x20 && mon_len < sizeof(mon_line) - 1) {
        mon_line[mon_len++] = (char)c;
        fputc(c, stdout);
        fflush(stdout);
    }
}

static void stdin_ready(void *opaque, int fd)
{
    PcMachine *pc = opaque;
    uint8_t buf[256];
    if (!stdin_serial)
        return;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n == 0) {
            stdin_serial = false; /* EOF */
            dbg_unwatch_fd(fd);
        }
        return;
    }
    uint8_t out[256];
    size_t m = 0;
    for (ssize_t k = 0; k < n; k++) {
        uint8_t c = buf[k];
        if (escape_pending) {
            escape_pending = false;
            if (c == 'x') {
                term_puts("\nvessel: terminated by Ctrl-A x\n");
                pc_request_exit(pc, 0);
                dbg_resume();
                return;
            }
            if (c == 'c') {
                term_monitor = !term_monitor;
                term_puts(term_monitor ? "\nvessel monitor (Ctrl-A c returns to the serial console)\n(vessel) "
                                       : "\n");
                continue;
            }
            if (c != 0x01)
                continue;
        } else if (c == 0x01 && tio_saved) {
            escape_pending = true;
            continue;
        }
        if (term_monitor)
            term_monitor_char(c);
        else
            out[m++] = c;
    }
    /* Bytes the UART cannot take now are dropped, as a real line would. */
    if (m)
        pc_serial_input(pc, 0, out, m);
}

/* Host input of -serial backends other than stdio (pty, tcp, ...). */
static CharHost *serial_host[2];

static void poll_serial_hosts(void *opaque)
{
    PcMachine *pc = opaque;
    for (int n = 0; n < 2; n++) {
        if (!serial_host[n])
            continue;
        uint8_t buf[256];
        size_t room = pc_serial_room(pc, n); /* read no more than the UART takes */
        if (room > sizeof(buf))
            room = sizeof(buf);
        size_t got = room ? chardev_host_read(serial_host[n], buf, room) : 0;
        if (got)
            pc_serial_input(pc, n, buf, got);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    if (the_pc)
        pc_request_exit(the_pc, 0);
}

int main(int argc, char **argv)
{
    PcConfig cfg = {
        .ram_size = 128u << 20,
        .apic = true,
        .vga = true,
        .icount_shift = 0,
        .debug_exit_port = -1,
        .tcache = true,
        .log = log_line,
    };
    const char *bios_path = NULL;
    const char *drive_path[4] = { NULL, NULL, NULL, NULL };
    bool drive_ro[4] = { false, false, false, false };
    int drive_fmt[4] = { 0, 0, 0, 0 };
    bool snapshot = false;
    const char *kernel_path = NULL, *initrd_spec = NULL, *append = "";
    const char *serial_spec[2] = { NULL, NULL };
    int nserial = 0;
    const char *debugcon_spec = NULL;
    const char *log_path = NULL;
    bool nographic = false;
    bool trace_regs = false;
    bool rtc_fixed = false;
    int64_t rtc_base = -1;

    for (int k = 1; k < argc; k++) {
        int sf = snapshot_parse_flag(argc, argv, &k);
        if (sf < 0)
            exit(2);
        if (sf > 0)
            continue;
        int nr = net_parse_flag(argc, argv, &k); /* -nic -netdev -net -device e1000 -object */
        if (nr < 0)
            exit(2);
        if (nr > 0)
            continue;
        const char *a = argv[k];
        /* QEMU accepts --flag as -flag. */
        if (a[0] == '-' && a[1] == '-' && a[2])
            a++;
#define NEED_ARG()                                                                \
    do {                                                                          \
        if (k + 1 >= argc)                                                        \
            die_usage("option '%s' needs an argument", argv[k]);                  \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "-help")) {
            fputs(usage_text, stdout);
            fputs(snapshot_usage, stdout);
            fputs(net_usage(), stdout);
            return 0;
        } else if (!strcmp(a, "-version")) {
            printf("vessel %s\n", VESSEL_VERSION);
            return 0;
        } else if (!strcmp(a, "-bios")) {
            NEED_ARG();
            bios_path = argv[++k];
        } else if (!strcmp(a, "-m")) {
            NEED_ARG();
            const char *v = argv[++k];
            if (!strncmp(v, "size=", 5))
                v += 5;
            uint64_t sz = parse_size(v);
            if (sz < (1u << 20) || sz > 0xE0000000ull || (sz & 0xFFF))
                die_usage("-m: RAM size must be between 1M and 3584M and a multiple of 4K (got '%s')", v);
            cfg.ram_size = (uint32_t)sz;
        } else if (!strcmp(a, "-M") || !strcmp(a, "-machine")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
                if (!strcmp(tok, "pc") || !strncmp(tok, "type=pc", 7) || !strcmp(tok, "pc-i440fx"))
                    continue;
                if (!strcmp(tok, "apic=off"))
                    cfg.apic = false;
                else if (!strcmp(tok, "apic=on"))
                    cfg.apic = true;
                else if (!strncmp(tok, "accel=", 6))
                    continue;
                else
                    die_usage("-machine: unsupported value '%s' (vessel emulates 'pc')", tok);
            }
            free(v);
        } else if (!strcmp(a, "-cpu")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            int n = 0;
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ","), n++) {
                if (n == 0 && (!strcmp(tok, "pentium2") || !strcmp(tok, "pentium3") || !strcmp(tok, "qemu32") ||
                               !strcmp(tok, "max") || !strcmp(tok, "host")))
                    continue;
                if (!strcmp(tok, "-apic"))
                    cfg.apic = false;
                else if (!strcmp(tok, "+apic"))
                    cfg.apic = true;
                else
                    die_usage("-cpu: unsupported model or feature '%s' (vessel emulates pentium2)", tok);
            }
            free(v);
        } else if (!strcmp(a, "-debugcon")) {
            NEED_ARG();
            debugcon_spec = argv[++k];
        } else if (!strcmp(a, "-serial")) {
            NEED_ARG();
            if (nserial >= 2)
                die_usage("-serial: at most two serial ports (COM1, COM2)");
            serial_spec[nserial++] = argv[++k];
        } else if (!strcmp(a, "-device")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            char *tok = strtok(v, ",");
            if (!tok || strcmp(tok, "isa-debug-exit"))
                die_usage("-device: unsupported device '%s'", tok ? tok : "");
            cfg.debug_exit_port = 0x501;
            cfg.debug_exit_size = 2;
            while ((tok = strtok(NULL, ","))) {
                if (!strncmp(tok, "iobase=", 7))
                    cfg.debug_exit_port = (int)parse_int(tok + 7, "isa-debug-exit iobase");
                else if (!strncmp(tok, "iosize=", 7))
                    cfg.debug_exit_size = (int)parse_int(tok + 7, "isa-debug-exit iosize");
                else
                    die_usage("-device isa-debug-exit: unknown property '%s'", tok);
            }
            if (cfg.debug_exit_port < 0 || cfg.debug_exit_port > 0xFFFF)
                die_usage("isa-debug-exit: iobase out of range");
            if (cfg.debug_exit_size != 1 && cfg.debug_exit_size != 2 && cfg.debug_exit_size != 4)
                die_usage("isa-debug-exit: iosize must be 1, 2 or 4");
            free(v);
        } else if (!strcmp(a, "-d")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
                if (!strcmp(tok, "int"))
                    cfg.log_mask |= CPU_LOG_INT;
                else if (!strcmp(tok, "cpu_reset"))
                    cfg.log_mask |= CPU_LOG_RESET;
                else if (!strcmp(tok, "guest_errors"))
                    cfg.log_mask |= CPU_LOG_GUEST_ERRORS;
                else if (!strcmp(tok, "unimp"))
                    cfg.log_mask |= CPU_LOG_UNIMP | PC_LOG_UNASSIGNED;
                else if (!strcmp(tok, "postcode"))
                    cfg.log_mask |= PC_LOG_POSTCODE;
                else if (!strcmp(tok, "bios"))
                    cfg.log_mask |= PC_LOG_BIOS;
                else if (!strcmp(tok, "exec") || !strcmp(tok, "in_asm"))
                    cfg.log_mask |= CPU_LOG_EXEC;
                else if (!strcmp(tok, "cpu")) {
                    cfg.log_mask |= CPU_LOG_EXEC;
                    trace_regs = true;
                } else if (!strcmp(tok, "exitstate"))
                    cfg.log_mask |= PC_LOG_EXITSTATE;
                else if (!strcmp(tok, "unassigned"))
                    cfg.log_mask |= PC_LOG_UNASSIGNED;
                else
                    die_usage("-d: unknown log category '%s'", tok);
            }
            free(v);
        } else if (!strcmp(a, "-dfilter")) {
            NEED_ARG();
            char terr[160];
            if (trace_set_filter(argv[++k], terr, sizeof(terr)) < 0)
                die_usage("%s", terr);
        } else if (!strcmp(a, "-D")) {
            NEED_ARG();
            log_path = argv[++k];
        } else if (!strcmp(a, "-hda") || !strcmp(a, "-hdb") || !strcmp(a, "-hdc") || !strcmp(a, "-hdd")) {
            NEED_ARG();
            int d = a[3] - 'a';
            if (drive_path[d])
                die_usage("%s: drive %d already given", a, d);
            drive_path[d] = argv[++k];
            cfg.drive_cdrom[d] = false;
        } else if (!strcmp(a, "-cdrom")) {
            NEED_ARG();
            if (drive_path[2])
                die_usage("-cdrom: the secondary master (index 2) is already in use");
            drive_path[2] = argv[++k];
            cfg.drive_cdrom[2] = true;
            drive_ro[2] = true;
        } else if (!strcmp(a, "-drive")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            const char *file = NULL;
            int index = -1, fmt = 0;
            bool cd = false, ro = false;
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
                if (!strncmp(tok, "file=", 5))
                    file = tok + 5;
                else if (!strcmp(tok, "if=ide"))
                    continue;
                else if (!strcmp(tok, "format=raw"))
                    fmt = BLOCKDEV_FORMAT_RAW;
                else if (!strcmp(tok, "format=qcow2"))
                    fmt = BLOCKDEV_FORMAT_QCOW2;
                else if (!strncmp(tok, "index=", 6))
                    index = (int)parse_int(tok + 6, "-drive index");
                else if (!strcmp(tok, "media=cdrom"))
                    cd = true;
                else if (!strcmp(tok, "media=disk"))
                    cd = false;
                else if (!strcmp(tok, "readonly=on"))
                    ro = true;
                else if (!strcmp(tok, "readonly=off"))
                    ro = false;
                else
                    die_usage("-drive: unsupported option '%s' (vessel has if=ide, format=raw|qcow2)", tok);
            }
            if (!file)
                die_usage("-drive: file= is required");
            if (index < 0) {
                for (index = 0; index < 4 && drive_path[index]; index++)
                    ;
            }
            if (index < 0 || index > 3)
                die_usage("-drive: index must be 0..3 (and a free slot)");
            if (drive_path[index])
                die_usage("-drive: index %d is already in use", index);
            drive_path[index] = strdup(file);
            drive_fmt[index] = fmt;
            cfg.drive_cdrom[index] = cd;
            drive_ro[index] = ro || cd;
            free(v);
        } else if (!strcmp(a, "-kernel")) {
            NEED_ARG();
            kernel_path = argv[++k];
        } else if (!strcmp(a, "-initrd")) {
            NEED_ARG();
            initrd_spec = argv[++k];
        } else if (!strcmp(a, "-append")) {
            NEED_ARG();
            append = argv[++k];
        } else if (!strcmp(a, "-snapshot")) {
            snapshot = true;
        } else if (!strcmp(a, "-boot")) {
            NEED_ARG();
            const char *v = argv[++k];
            if (!strncmp(v, "order=", 6))
                v += 6;
            if (!*v || strlen(v) > 3 || strspn(v, "acdn") != strlen(v))
                die_usage("-boot: expected up to three of a, c, d, n (got '%s')", v);
            cfg.boot_order = v;
        } else if (!strcmp(a, "-vga")) {
            NEED_ARG();
            const char *v = argv[++k];
            if (!strcmp(v, "none"))
                cfg.vga = false;
            else if (!strcmp(v, "std"))
                cfg.vga = true;
            else
                die_usage("-vga: '%s' is not available (use std or none)", v);
        } else if (!strcmp(a, "-nographic")) {
            nographic = true;
        } else if (!strcmp(a, "-no-reboot")) {
            cfg.no_reboot = true;
        } else if (!strcmp(a, "-no-tcache")) {
            cfg.tcache = false;
        } else if (!strcmp(a, "-icount")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            cfg.icount = true;
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
                const char *num = !strncmp(tok, "shift=", 6) ? tok + 6 : tok;
                if (!strcmp(tok, "shift=auto") || !strncmp(tok, "align=", 6) || !strncmp(tok, "sleep=", 6))
                    continue;
                long sh = parse_int(num, "-icount shift");
                if (sh < 0 || sh > 10)
                    die_usage("-icount: shift must be 0..10");
                cfg.icount_shift = (int)sh;
            }
            free(v);
        } else if (!strcmp(a, "-rtc")) {
            NEED_ARG();
            char *v = strdup(argv[++k]);
            for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ",")) {
                if (!strcmp(tok, "base=utc") || !strcmp(tok, "base=localtime") || !strcmp(tok, "clock=host") ||
                    !strcmp(tok, "clock=rt"))
                    continue;
                if (!strcmp(tok, "clock=vm")) {
                    rtc_fixed = true;
                    continue;
                }
                if (!strncmp(tok, "base=", 5)) {
                    struct tm tm = { 0 };
                    if (sscanf(tok + 5, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                               &tm.tm_hour, &tm.tm_min, &tm.tm_sec) < 3)
                        die_usage("-rtc: invalid base '%s'", tok + 5);
                    tm.tm_year -= 1900;
                    tm.tm_mon -= 1;
                    rtc_base = (int64_t)timegm(&tm);
                    continue;
                }
                die_usage("-rtc: unknown option '%s'", tok);
            }
            free(v);
        } else if (display_parse_flag(argc, argv, &k)) {
            continue;
        } else if (debug_parse_flag(argc, argv, &k)) {
            continue;
        } else {
            die_usage("unknown option '%s'", argv[k]);
        }
#undef NEED_ARG
    }

    /* ROM. */
    if (!bios_path) {
        bios_path = find_rom("bios.bin");
        if (!bios_path)
            die("no BIOS: roms/bios.bin not found (run scripts/install-deps.sh, or pass -bios FILE)");
    }
    size_t bios_size;
    uint8_t *bios = read_file(bios_path, &bios_size, "BIOS image");
    if (bios_size == 0)
        die("BIOS image '%s': empty file", bios_path);
    if (bios_size < 0x10000 || bios_size > 0x200000 || (bios_size % 0x10000))
        die("BIOS image '%s': size %zu is not a multiple of 64 KiB between 64 KiB and 2 MiB", bios_path,
            bios_size);
    cfg.bios = bios;
    cfg.bios_size = bios_size;
    uint8_t *vgabios = NULL;
    if (cfg.vga) {
        const char *vp = find_rom("vgabios-stdvga.bin");
        if (vp) {
            vgabios = read_file(vp, &cfg.vgabios_size, "VGA BIOS");
            cfg.vgabios = vgabios;
        }
    }

    /* Disks: one error line naming the file, nothing touched on failure. */
    for (int d = 0; d < 4; d++) {
        if (!drive_path[d])
            continue;
        for (int e = 0; e < d; e++) {
            struct stat s1, s2;
            if (drive_path[e] && stat(drive_path[e], &s1) == 0 && stat(drive_path[d], &s2) == 0 &&
                s1.st_dev == s2.st_dev && s1.st_ino == s2.st_ino)
                die("drive '%s': the same image is already attached as drive %d", drive_path[d], e);
        }
        char berr[256];
        int flags = (drive_ro[d] ? BLOCKDEV_RDONLY : 0) | (snapshot && !drive_ro[d] ? BLOCKDEV_SNAPSHOT : 0) |
                    drive_fmt[d] | snapshot_drive_flags(d, drive_path[d]);
        cfg.drives[d] = blockdev_open(drive_path[d], flags, berr, sizeof(berr));
        if (!cfg.drives[d])
            die("disk image %s", berr);
        snapshot_set_drive_path(d, drive_path[d]);
    }

    /* Time. */
    if (rtc_base < 0)
        rtc_base = (cfg.icount || rtc_fixed) ? 946684800 /* 2000-01-01 */ : (int64_t)time(NULL);
    cfg.rtc_base = rtc_base;

    /* Consoles. */
    if (log_path) {
        log_file = fopen(log_path, "w");
        if (!log_file)
            die("-D: cannot open '%s': %s", log_path, strerror(errno));
    }
    nographic = display_select(nographic);
    if (nographic && nserial == 0)
        serial_spec[nserial++] = "stdio";
    cfg.nographic = nographic;
    bool serial_is_stdio = false;
    for (int n = 0; n < nserial; n++) {
        if (!strcmp(serial_spec[n], "stdio")) {
            bool st;
            cfg.serial[n] = open_sink(serial_spec[n], "-serial", &st);
            serial_is_stdio |= st && n == 0;
            continue;
        }
        char cerr[256];
        if (chardev_host_open(serial_spec[n], &serial_host[n], cerr, sizeof(cerr)) < 0)
            die("-serial %s: %s", serial_spec[n], cerr);
        cfg.serial[n] = chardev_host_backend(serial_host[n]);
        char label[16];
        snprintf(label, sizeof(label), "serial%d", n);
        chardev_host_announce(serial_host[n], label, stderr);
    }
    if (debugcon_spec)
        cfg.debugcon = open_sink(debugcon_spec, "-debugcon", NULL);
    static LineLog bios_line;
    if (cfg.log_mask & PC_LOG_BIOS)
        cfg.bios_log = (CharBackend){ bios_log_write, &bios_line };

    char err[256];
    if (cfg.log_mask & CPU_LOG_EXEC) {
        if (trace_init(trace_regs, err, sizeof(err)) < 0)
            die("%s", err);
        cfg.trace = trace_insn;
    }
    PcMachine *pc = pc_new(&cfg, err, sizeof(err));
    if (!pc)
        die("%s", err);
    free(bios);
    free(vgabios);
    trace_attach(log_file ? log_file : stderr, pc);
    if (kernel_path)
        load_kernel(pc, cfg.ram_size, kernel_path, initrd_spec, append);
    else if (initrd_spec || *append)
        die_usage("-initrd and -append need -kernel");
    the_pc = pc;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (serial_is_stdio) {
        stdin_serial = true;
        term_raw();
    }
    if (serial_host[0] || serial_host[1])
        pc_add_poll_hook(pc, poll_serial_hosts, pc);
    if (net_setup(pc, err, sizeof(err)) < 0)
        die("%s", err);
    char serr[1024];
    if (snapshot_setup(pc, serr, sizeof serr) < 0)
        die("%s", serr);
    if (display_setup(pc, nographic, err, sizeof(err)) < 0)
        die("%s", err);
    if (debug_setup(pc, err, sizeof(err)) < 0)
        die("%s", err);
    if (stdin_serial) {
        debug_enable_hooks(pc);
        dbg_watch_fd(STDIN_FILENO, stdin_ready, pc);
    }
    int status = pc_run(pc);
    debug_shutdown();
    display_shutdown();
    trace_shutdown();
    term_restore();
    pc_free(pc);
    for (int n = 0; n < 2; n++)
        if (serial_host[n])
            chardev_host_close(serial_host[n]);
    for (int d = 0; d < 4; d++)
        if (cfg.drives[d])
            blockdev_close(cfg.drives[d]);
    if (log_file)
        fclose(log_file);
    return status;
}
