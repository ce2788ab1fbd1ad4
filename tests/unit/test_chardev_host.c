/*
 * test_chardev_host.c - host character backends (frontend/chardev_host.c):
 * spec parsing and errors, null/none, file, stdio (through pipes on fd
 * 0/1), pty (talking to the slave side), TCP server (nowait and wait, one
 * client at a time, reconnect, port in use) and TCP client (refused
 * connection, both directions).  127.0.0.1 only; every wait is bounded
 * and alarm() stops a hung test.
 *
 * The unit-test build links only the device/CPU libraries, so the front-end
 * file under test is compiled into this executable directly.
 */
#include "frontend/chardev_host.c"

#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

/* ---- helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll the backend until want bytes arrived (at most 5 s). */
static size_t read_host(CharHost *h, uint8_t *buf, size_t want)
{
    size_t got = 0;
    int64_t end = now_ms() + 5000;
    while (got < want && now_ms() < end) {
        int fd = chardev_host_fd(h);
        if (fd >= 0) {
            struct pollfd p = { fd, POLLIN, 0 };
            poll(&p, 1, 20);
        } else {
            usleep(20000);
        }
        got += chardev_host_read(h, buf + got, want - got);
    }
    return got;
}

/* Read exactly want bytes from a descriptor (at most 5 s). */
static size_t read_fd(int fd, uint8_t *buf, size_t want)
{
    size_t got = 0;
    int64_t end = now_ms() + 5000;
    while (got < want && now_ms() < end) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A listening socket on 127.0.0.1:0; *port gets the port. */
static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t sl = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &sl);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A port nothing listens on (bound then released). */
static int free_port(void)
{
    int port;
    int fd = listen_local(&port);
    close(fd);
    return port;
}

static void open_ok(const char *spec, CharHost **h)
{
    char err[256];
    int rc = chardev_host_open(spec, h, err, sizeof(err));
    if (rc != 0)
        fail_msg("open '%s' failed: %s", spec, err);
    assert_non_null(*h);
}

static void open_fails(const char *spec, const char *needle)
{
    char err[256] = "";
    CharHost *h = (CharHost *)1;
    assert_int_equal(chardev_host_open(spec, &h, err, sizeof(err)), -1);
    assert_null(h);
    assert_true(strlen(err) > 0);
    if (needle && !strstr(err, needle))
        fail_msg("open '%s': error '%s' lacks '%s'", spec, err, needle);
}

/* ---- tests ---- */

static void test_bad_specs(void **state)
{
    (void)state;
    open_fails("", "empty");
    open_fails("bogus", "unsupported character device 'bogus'");
    open_fails("udp:1.2.3.4:5", "unsupported");
    open_fails("file:", "missing path");
    open_fails("file:/nonexistent-dir-vessel/x.txt", "No such file or directory");
    open_fails("tcp:", "missing port");
    open_fails("tcp:127.0.0.1", "missing port");
    open_fails("tcp:127.0.0.1:", "missing or invalid port");
    open_fails("tcp:127.0.0.1:http", "invalid port");
    open_fails("tcp:127.0.0.1:70000", "invalid port");
    open_fails("tcp:127.0.0.1:-1", "invalid port");
    open_fails("tcp:127.0.0.1:0", "only valid for a server");
    open_fails("tcp:127.0.0.1:4444,server,bogus", "unsupported option 'bogus'");
    open_fails("tcp:[::1:4444", "bad address");
    /* a NULL err buffer is allowed */
    CharHost *h = (CharHost *)1;
    assert_int_equal(chardev_host_open("bogus", &h, NULL, 0), -1);
    assert_null(h);
    chardev_host_close(NULL);
}

static void test_null_none(void **state)
{
    (void)state;
    CharHost *h;
    uint8_t buf[8];
    open_ok("none", &h);
    CharBackend be = chardev_host_backend(h);
    assert_null(be.write);
    assert_int_equal(chardev_host_fd(h), -1);
    assert_int_equal(chardev_host_read(h, buf, sizeof(buf)), 0);
    assert_false(chardev_host_connected(h));
    assert_null(chardev_host_pty_path(h));
    chardev_host_close(h);

    open_ok("null", &h);
    be = chardev_host_backend(h);
    assert_non_null(be.write);
    chardev_write(&be, (const uint8_t *)"dropped", 7);
    assert_int_equal(chardev_host_fd(h), -1);
    assert_int_equal(chardev_host_read(h, buf, sizeof(buf)), 0);
    assert_true(chardev_host_connected(h));
    assert_int_equal(chardev_host_local_port(h), -1);
    chardev_host_close(h);
}

static void test_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/chardev_test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], spec[140];
    snprintf(path, sizeof(path), "%s/out.txt", dir);
    snprintf(spec, sizeof(spec), "file:%s", path);
    /* existing contents are truncated */
    FILE *f = fopen(path, "w");
    fputs("old contents that must go", f);
    fclose(f);

    CharHost *h;
    open_ok(spec, &h);
    CharBackend be = chardev_host_backend(h);
    chardev_write(&be, (const uint8_t *)"hello\n", 6);
    chardev_write(&be, (const uint8_t *)"\x00\xff", 2);
    uint8_t buf[8];
    assert_int_equal(chardev_host_read(h, buf, sizeof(buf)), 0); /* no input side */
    assert_int_equal(chardev_host_fd(h), -1);
    chardev_host_close(h);

    uint8_t got[64];
    f = fopen(path, "rb");
    size_t n = fread(got, 1, sizeof(got), f);
    fclose(f);
    assert_int_equal(n, 8);
    assert_memory_equal(got, "hello\n\x00\xff", 8);

    /* a directory is not writable as a file */
    snprintf(spec, sizeof(spec), "file:%s", dir);
    open_fails(spec, "cannot open for writing");
    unlink(path);
    rmdir(dir);
}

static void test_stdio(void **state)
{
    (void)state;
    int in_pipe[2], out_pipe[2];
    assert_int_equal(pipe(in_pipe), 0);
    assert_int_equal(pipe(out_pipe), 0);
    fflush(stdout);
    int saved_in = dup(STDIN_FILENO), saved_out = dup(STDOUT_FILENO);
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);

    CharHost *h;
    char err[256];
    int rc = chardev_host_open("stdio", &h, err, sizeof(err));
    uint8_t buf[16] = { 0 };
    size_t n_none = 0, n_in = 0, n_eof = 0;
    int fd_in = -2, fd_eof = -2;
    if (rc == 0) {
        CharBackend be = chardev_host_backend(h);
        chardev_write(&be, (const uint8_t *)"out", 3);
        n_none = chardev_host_read(h, buf, sizeof(buf));      /* nothing typed yet */
        write(in_pipe[1], "typed", 5);
        fd_in = chardev_host_fd(h);
        n_in = read_host(h, buf, 5);
        close(in_pipe[1]);                                    /* end of input */
        uint8_t tmp[4];
        int64_t end = now_ms() + 2000;
        while (chardev_host_fd(h) >= 0 && now_ms() < end)
            n_eof += chardev_host_read(h, tmp, sizeof(tmp));
        fd_eof = chardev_host_fd(h);
        chardev_host_close(h);                                /* leaves fd 0/1 open */
    }
    dup2(saved_in, STDIN_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved_in);
    close(saved_out);
    close(in_pipe[0]);
    close(out_pipe[1]);

    assert_int_equal(rc, 0);
    uint8_t out[8];
    assert_int_equal(read_fd(out_pipe[0], out, 3), 3);
    assert_memory_equal(out, "out", 3);
    close(out_pipe[0]);
    assert_int_equal(n_none, 0);
    assert_int_equal(fd_in, STDIN_FILENO);
    assert_int_equal(n_in, 5);
    assert_memory_equal(buf, "typed", 5);
    assert_int_equal(n_eof, 0);
    assert_int_equal(fd_eof, -1);
}

static void test_pty(void **state)
{
    (void)state;
    CharHost *h;
    char err[256];
    if (chardev_host_open("pty", &h, err, sizeof(err)) != 0) {
        if (strstr(err, "posix_openpt"))
            skip(); /* no /dev/ptmx in this environment */
        fail_msg("open 'pty' failed: %s", err);
    }
    const char *path = chardev_host_pty_path(h);
    assert_non_null(path);
    assert_true(!strncmp(path, "/dev/pts/", 9));
    assert_int_equal(chardev_host_local_port(h), -1);

    /* QEMU's notice */
    char *text = NULL;
    size_t tlen = 0;
    FILE *mf = open_memstream(&text, &tlen);
    chardev_host_announce(h, "serial0", mf);
    fclose(mf);
    char want[128];
    snprintf(want, sizeof(want), "char device redirected to %s (label serial0)\n", path);
    assert_string_equal(text, want);
    free(text);

    /* nobody on the slave side: output is dropped, quickly */
    assert_false(chardev_host_connected(h));
    CharBackend be = chardev_host_backend(h);
    static uint8_t big[65536];
    memset(big, 'x', sizeof(big));
    int64_t t0 = now_ms();
    chardev_write(&be, big, sizeof(big));
    assert_true(now_ms() - t0 < 1000);
    uint8_t buf[64];
    assert_int_equal(chardev_host_read(h, buf, sizeof(buf)), 0);

    /* a program opens the slave: both directions, raw (no CR added) */
    int s = open(path, O_RDWR | O_NOCTTY);
    assert_true(s >= 0);
    assert_true(chardev_host_connected(h));
    chardev_write(&be, (const uint8_t *)"hi\n", 3);
    assert_int_equal(read_fd(s, buf, 3), 3);
    assert_memory_equal(buf, "hi\n", 3);
    assert_int_equal(write(s, "xyz\r", 4), 4);
    assert_int_equal(read_host(h, buf, 4), 4);
    assert_memory_equal(buf, "xyz\r", 4);             /* no echo, no ICRNL */
    struct pollfd p = { s, POLLIN, 0 };
    assert_int_equal(poll(&p, 1, 50), 0);             /* nothing echoed back */

    /* slave closed again: dropped; reopened: only new output arrives */
    close(s);
    assert_false(chardev_host_connected(h));
    chardev_write(&be, (const uint8_t *)"lost", 4);
    assert_int_equal(chardev_host_read(h, buf, sizeof(buf)), 0);
    s = open(path, O_RDWR | O_NOCTTY);
    assert_true(s >= 0);
    chardev_write(&be, (const uint8_t *)"new", 3);
    assert_int_equal(read_fd(s, buf, 3), 3);
    assert_memory_equal(buf, "new", 3);
    close(s);
    chardev_host_close(h);
}

static void test_tcp_server_nowait(void **state)
{
    (void)state;
    CharHost *h;
    open_ok("tcp:127.0.0.1:0,server,nowait", &h);
    int port = chardev_host_local_port(h);
    assert_true(port > 0);
    assert_false(chardev_host_connected(h));
    int lfd = chardev_host_fd(h);
    assert_true(lfd >= 0);                            /* the listening socket */
    CharBackend be = chardev_host_backend(h);
    chardev_write(&be, (const uint8_t *)"before", 6); /* no client: dropped */

    int c = connect_local(port);
    assert_true(c >= 0);
    uint8_t buf[64];
    int64_t end = now_ms() + 5000;
    while (!chardev_host_connected(h) && now_ms() < end)
        usleep(5000);
    assert_true(chardev_host_connected(h));
    assert_int_not_equal(chardev_host_fd(h), lfd);
    chardev_write(&be, (const uint8_t *)"hello", 5);
    assert_int_equal(read_fd(c, buf, 5), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(write(c, "abc", 3), 3);
    assert_int_equal(read_host(h, buf, 3), 3);
    assert_memory_equal(buf, "abc", 3);

    /* a second client waits in the backlog until the first leaves */
    int c2 = connect_local(port);
    assert_true(c2 >= 0);
    close(c);
    /* the input poll notices the disconnect and accepts c2 */
    bool reached = false;
    end = now_ms() + 5000;
    while (!reached && now_ms() < end) {
        chardev_host_read(h, buf, sizeof(buf));
        chardev_write(&be, (const uint8_t *)"second", 6);
        struct pollfd p = { c2, POLLIN, 0 };
        reached = poll(&p, 1, 10) == 1;
    }
    assert_true(reached);
    assert_true(chardev_host_connected(h));
    assert_int_equal(read_fd(c2, buf, 6), 6);
    assert_memory_equal(buf, "second", 6);

    /* writing after the peer vanished raises no SIGPIPE */
    close(c2);
    static uint8_t chunk[1024];
    for (int k = 0; k < 20; k++) {
        chardev_write(&be, chunk, sizeof(chunk));
        chardev_host_read(h, buf, sizeof(buf));
        usleep(2000);
    }
    chardev_host_close(h);

    /* the port is free again after close */
    char spec[64];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d,server=on,wait=off", port);
    open_ok(spec, &h);
    assert_int_equal(chardev_host_local_port(h), port);
    chardev_host_close(h);
}

static void test_tcp_port_in_use(void **state)
{
    (void)state;
    int port;
    int l = listen_local(&port);
    char spec[64];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d,server,nowait", port);
    open_fails(spec, "Address already in use");
    close(l);
}

typedef struct {
    int port;
    int fd;
} Connector;

static void *connector_main(void *arg)
{
    Connector *c = arg;
    int64_t end = now_ms() + 5000;
    c->fd = -1;
    while (c->fd < 0 && now_ms() < end) {
        c->fd = connect_local(c->port);
        if (c->fd < 0)
            usleep(10000);
    }
    if (c->fd >= 0)
        write(c->fd, "ping", 4);
    return NULL;
}

static void test_tcp_server_wait(void **state)
{
    (void)state;
    Connector c = { free_port(), -1 };
    pthread_t th;
    pthread_create(&th, NULL, connector_main, &c);
    char spec[64];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d,server,nodelay", c.port);
    CharHost *h;
    open_ok(spec, &h); /* returns once the client is there */
    pthread_join(th, NULL);
    assert_true(c.fd >= 0);
    assert_true(chardev_host_connected(h));
    uint8_t buf[8];
    assert_int_equal(read_host(h, buf, 4), 4);
    assert_memory_equal(buf, "ping", 4);
    CharBackend be = chardev_host_backend(h);
    chardev_write(&be, (const uint8_t *)"pong", 4);
    assert_int_equal(read_fd(c.fd, buf, 4), 4);
    assert_memory_equal(buf, "pong", 4);
    close(c.fd);
    chardev_host_close(h);
}

static void test_tcp_client(void **state)
{
    (void)state;
    char spec[64];
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", free_port());
    open_fails(spec, "Connection refused");

    int port;
    int l = listen_local(&port);
    snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", port);
    CharHost *h;
    open_ok(spec, &h);
    assert_int_equal(chardev_host_local_port(h), -1);
    int s = accept(l, NULL, NULL);
    assert_true(s >= 0);
    assert_true(chardev_host_connected(h));
    CharBackend be = chardev_host_backend(h);
    chardev_write(&be, (const uint8_t *)"to server", 9);
    uint8_t buf[16];
    assert_int_equal(read_fd(s, buf, 9), 9);
    assert_memory_equal(buf, "to server", 9);
    assert_int_equal(write(s, "back", 4), 4);
    assert_int_equal(read_host(h, buf, 4), 4);
    assert_memory_equal(buf, "back", 4);

    /* the server goes away: input ends, output is dropped, no SIGPIPE */
    close(s);
    int64_t end = now_ms() + 5000;
    while (chardev_host_fd(h) >= 0 && now_ms() < end) {
        chardev_host_read(h, buf, sizeof(buf));
        usleep(5000);
    }
    assert_int_equal(chardev_host_fd(h), -1);
    assert_false(chardev_host_connected(h));
    chardev_write(&be, (const uint8_t *)"gone", 4);
    assert_int_equal(chardev_host_read(h, buf, sizeof(buf)), 0);
    chardev_host_close(h);
    close(l);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_chardev_host: timed out\n";
    write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(1);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_null_none),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_stdio),
        cmocka_unit_test(test_pty),
        cmocka_unit_test(test_tcp_server_nowait),
        cmocka_unit_test(test_tcp_port_in_use),
        cmocka_unit_test(test_tcp_server_wait),
        cmocka_unit_test(test_tcp_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
