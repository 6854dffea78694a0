/* SPDX-License-Identifier: MIT */
/*
 * Character backends (vmm/chardev/) on the main loop, without KVM.
 *
 * In process, with a fake frontend: none, file: (truncation, FIFOs),
 * unix: server (one client at a time, backlog, output dropped while nobody
 * listens, stale socket files, wait=on) and client, input flow control,
 * the output buffer's "room again" notification.
 *
 * Through a pty: this program re-executes itself as a child whose stdin
 * and stdout are the pty's slave side (its controlling terminal) and which
 * runs a UART behind a stdio or mon:stdio chardev with a tiny "guest" that
 * echoes what it receives as <hex>.  The parent types on the master side
 * and checks raw mode, ISIG (Ctrl-C signals in stdio mode, reaches the
 * guest in mux mode), every Ctrl-a command, and that the terminal's
 * attributes are back as they were after every way the child can end:
 * Ctrl-a x, SIGINT, SIGTERM, exit(), SIGSEGV and abort().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/main.h>
#include <loom/thread.h>

#include "harness.h"
#include "chardev/chardev.h"
#include "core/bus.h"
#include "devices/serial-8250.h"

#define SEC 1000000000LL

static char *g_self; /* this program, for the pty children */
static char **g_env; /* their environment: no leak check at exit() */

static void spin_loop(int n)
{
    while (n-- > 0) {
        loom_main_loop_wait(true);
    }
}

/* A frontend that takes what it is allowed to and records it. */
struct fake_fe {
    size_t room;
    GByteArray *got;
    unsigned writable_calls;
    unsigned breaks;
};

static size_t fe_can_receive(void *opaque)
{
    struct fake_fe *f = opaque;

    return f->room;
}

static void fe_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct fake_fe *f = opaque;

    g_assert_cmpuint(len, >, 0);
    g_assert_cmpuint(len, <=, f->room);
    f->room -= len;
    g_byte_array_append(f->got, buf, (guint)len);
}

static void fe_event(void *opaque, enum vmm_chr_event ev)
{
    ((struct fake_fe *)opaque)->breaks++;
}

static void fe_writable(void *opaque)
{
    ((struct fake_fe *)opaque)->writable_calls++;
}

static const struct vmm_chr_frontend fake_ops = {
    .can_receive = fe_can_receive,
    .receive = fe_receive,
    .event = fe_event,
    .writable = fe_writable,
};

static struct fake_fe *fake_new(size_t room)
{
    struct fake_fe *f = g_new0(struct fake_fe, 1);

    f->room = room;
    f->got = g_byte_array_new();
    return f;
}

static void fake_free(struct fake_fe *f)
{
    g_byte_array_free(f->got, TRUE);
    g_free(f);
}

static bool fake_has(struct fake_fe *f, const char *s)
{
    return f->got->len == strlen(s) &&
           memcmp(f->got->data, s, f->got->len) == 0;
}

/* A scratch directory with one path in it, removed afterwards. */
struct scratch {
    char *dir;
    char *path;
};

static struct scratch scratch_new(const char *name)
{
    struct scratch s;

    s.dir = g_strdup("/tmp/test-chardev-XXXXXX");
    g_assert_nonnull(mkdtemp(s.dir));
    s.path = g_strdup_printf("%s/%s", s.dir, name);
    return s;
}

static void scratch_free(struct scratch *s)
{
    unlink(s->path);
    g_assert_cmpint(rmdir(s->dir), ==, 0);
    g_free(s->path);
    g_free(s->dir);
}

/* Open @cfg on the main loop (asserting success), with @f attached. */
static struct vmm_chr *chr_open(const struct vmm_config_chr *cfg,
                                struct fake_fe *f)
{
    struct vmm_chr *chr;

    g_assert_cmpint(vmm_chr_new(cfg, loom_main_loop(), NULL, NULL, &chr), ==,
                    0);
    if (f) {
        g_assert_cmpint(vmm_chr_set_frontend(chr, &fake_ops, f), ==, 0);
    }
    return chr;
}

/* vmm_chr_new()'s result for @cfg (which must fail). */
static int chr_open_err(const struct vmm_config_chr *cfg)
{
    struct vmm_chr *chr = NULL;
    int ret = vmm_chr_new(cfg, loom_main_loop(), NULL, NULL, &chr);

    g_assert_cmpint(ret, <, 0);
    g_assert_null(chr);
    return ret;
}

static void chr_close(struct vmm_chr *chr)
{
    g_assert_cmpint(vmm_chr_set_frontend(chr, NULL, NULL), ==, 0);
    vmm_chr_free(chr);
}

static struct vmm_chr_stats chr_stats(struct vmm_chr *chr)
{
    struct vmm_chr_stats st;

    vmm_chr_stats(chr, &st);
    return st;
}

/* Read what @fd has now (a socket or a non-blocking pipe); count it. */
static uint64_t drain(int fd)
{
    static uint8_t buf[65536];
    uint64_t n = 0;
    ssize_t k;

    while ((k = read(fd, buf, sizeof(buf))) > 0) {
        n += (uint64_t)k;
    }
    return n;
}

static void test_bad_config(void)
{
    struct vmm_config_chr cfg = {.kind = VMM_CHR_FILE};
    struct vmm_chr *chr;

    g_assert_cmpint(chr_open_err(&cfg), ==, -EINVAL);
    cfg.kind = (enum vmm_chr_kind)99;
    g_assert_cmpint(chr_open_err(&cfg), ==, -EINVAL);
    cfg.kind = VMM_CHR_NONE;
    g_assert_cmpint(vmm_chr_new(NULL, loom_main_loop(), NULL, NULL, &chr), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_chr_new(&cfg, NULL, NULL, NULL, &chr), ==, -EINVAL);
    g_assert_cmpint(vmm_chr_new(&cfg, loom_main_loop(), NULL, NULL, NULL), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_chr_set_frontend(NULL, &fake_ops, NULL), ==, -EINVAL);
    vmm_chr_free(NULL);
}

/* none (no UART at all, but a chardev works) and null (QEMU's default
 * without a display): output is discarded and counted, nothing comes in. */
static void check_discarding(enum vmm_chr_kind kind)
{
    struct vmm_config_chr cfg = {.kind = kind};
    struct fake_fe *f = fake_new(100);
    struct vmm_chr *chr = chr_open(&cfg, f);

    g_assert_cmpint(vmm_chr_set_frontend(chr, &fake_ops, f), ==, -EBUSY);
    g_assert_false(vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"abc", 3), ==, 3);
    g_assert_cmpint(vmm_chr_flush(chr, 0), ==, 0);
    spin_loop(5);
    g_assert_cmpuint(chr_stats(chr).out_dropped, ==, 3);
    g_assert_cmpuint(chr_stats(chr).out_bytes, ==, 0);
    g_assert_cmpuint(f->got->len, ==, 0);
    g_assert_true(vmm_chr_loop(chr) == loom_main_loop());
    chr_close(chr);
    fake_free(f);
}

static void test_none(void)
{
    check_discarding(VMM_CHR_NONE);
    check_discarding(VMM_CHR_NULL);
}

static void test_file(void)
{
    struct scratch s = scratch_new("out");
    struct vmm_config_chr cfg = {.kind = VMM_CHR_FILE, .path = s.path};
    struct vmm_chr *chr;
    gchar *text;
    gsize len;

    /* Created, or truncated as QEMU's file chardev does. */
    g_assert_true(g_file_set_contents(s.path, "old content here", -1, NULL));
    chr = chr_open(&cfg, NULL);
    g_assert_true(vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"new", 3), ==, 3);
    MAIN_LOOP_UNTIL(chr_stats(chr).out_bytes == 3);
    g_assert_true(g_file_get_contents(s.path, &text, &len, NULL));
    g_assert_cmpmem(text, len, "new", 3);
    g_free(text);
    g_assert_cmpint(vmm_chr_flush(chr, 0), ==, 0);
    vmm_chr_free(chr);

    unlink(s.path);
    cfg.path = g_strdup_printf("%s/no/such", s.dir);
    g_assert_cmpint(chr_open_err(&cfg), ==, -ENOENT);
    g_free(cfg.path);
    /* A FIFO nobody reads is refused at once, not waited for. */
    g_assert_cmpint(mkfifo(s.path, 0600), ==, 0);
    cfg.path = s.path;
    g_assert_cmpint(chr_open_err(&cfg), ==, -ENXIO);
    scratch_free(&s);
}

/*
 * A full output buffer refuses bytes, then tells the frontend once when
 * it has room; a bounded flush gives up on a reader that does not read.
 */
static void test_output_room(void)
{
    struct scratch s = scratch_new("fifo");
    struct vmm_config_chr cfg = {.kind = VMM_CHR_FILE, .path = s.path};
    struct fake_fe *f = fake_new(0);
    static uint8_t buf[4096];
    struct vmm_chr *chr;
    uint64_t written = 0, got = 0;
    int rd;

    memset(buf, 'z', sizeof(buf));
    g_assert_cmpint(mkfifo(s.path, 0600), ==, 0);
    rd = open(s.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    g_assert_cmpint(rd, >=, 0);
    g_assert_cmpint(fcntl(rd, F_SETPIPE_SZ, 4096), >=, 4096);
    chr = chr_open(&cfg, f);
    /* Fill the pipe and then the buffer (the loop runs meanwhile). */
    for (;;) {
        size_t n = vmm_chr_write(chr, buf, 1000);

        written += n;
        if (n < 1000) {
            break;
        }
        spin_loop(2);
    }
    g_assert_cmpuint(written, >=, VMM_CHR_OUT_BUF_SIZE);
    g_assert_cmpuint(vmm_chr_write_room(chr), ==, 0);
    g_assert_cmpuint(vmm_chr_write(chr, buf, 1), ==, 0);
    g_assert_cmpint(vmm_chr_flush(chr, 10 * 1000000), ==, -ETIMEDOUT);
    spin_loop(20);
    g_assert_cmpuint(f->writable_calls, ==, 0);
    /* The reader takes some: room again, and the frontend hears it. */
    got += drain(rd);
    MAIN_LOOP_UNTIL(f->writable_calls > 0);
    g_assert_cmpuint(f->writable_calls, ==, 1);
    g_assert_cmpuint(vmm_chr_write_room(chr), >, 0);
    while (got < written) {
        got += drain(rd);
        spin_loop(1);
    }
    g_assert_cmpuint(got, ==, written);
    g_assert_cmpuint(chr_stats(chr).out_bytes, ==, written);
    g_assert_cmpuint(chr_stats(chr).out_dropped, ==, 0);
    g_assert_cmpuint(chr_stats(chr).out_buffered, ==, 0);
    g_assert_cmpint(vmm_chr_flush(chr, 0), ==, 0);
    /* The reader goes: output fails (EPIPE) and is discarded from then. */
    close(rd);
    g_assert_cmpuint(vmm_chr_write(chr, buf, 10), ==, 10);
    MAIN_LOOP_UNTIL(!vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, buf, 5), ==, 5);
    g_assert_cmpuint(chr_stats(chr).out_dropped, ==, 15);
    chr_close(chr);
    fake_free(f);
    scratch_free(&s);
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    memcpy(sa.sun_path, path, strlen(path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

static int unix_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    memcpy(sa.sun_path, path, strlen(path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);
    return fd;
}

/* Read exactly @n bytes from socket @fd, running the loop meanwhile. */
static void read_exact(int fd, void *buf, size_t n)
{
    size_t got = 0;
    int64_t dl = harness_now_ns() + HARNESS_WATCHDOG_NS;

    while (got < n) {
        ssize_t k = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);

        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        g_assert_true(k < 0 && errno == EAGAIN);
        harness_watchdog(dl, "all bytes read");
        harness_main_loop_step();
    }
}

static void test_unix_server(void)
{
    struct scratch s = scratch_new("sock");
    struct vmm_config_chr cfg = {
        .kind = VMM_CHR_UNIX, .path = s.path, .server = true};
    struct fake_fe *f = fake_new(1000);
    static uint8_t big[VMM_CHR_OUT_BUF_SIZE];
    struct vmm_chr_stats st;
    struct vmm_chr *chr;
    struct stat sst;
    char buf[16];
    int a, b;

    /* A stale socket file (its listener gone) is replaced. */
    close(unix_listen(s.path));
    chr = chr_open(&cfg, f);

    /* Nobody there: output dropped, counted; the writer never waits. */
    g_assert_false(vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"lost", 4), ==, 4);

    a = unix_connect(s.path);
    MAIN_LOOP_UNTIL(vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"hello", 5), ==, 5);
    read_exact(a, buf, 5);
    g_assert_cmpmem(buf, 5, "hello", 5);
    g_assert_cmpint(write(a, "in", 2), ==, 2);
    MAIN_LOOP_UNTIL(f->got->len == 2);
    g_assert_true(fake_has(f, "in"));

    /* A second client waits in the backlog while the first is served. */
    b = unix_connect(s.path);
    g_assert_cmpint(write(b, "B", 1), ==, 1);
    spin_loop(30);
    g_assert_true(fake_has(f, "in"));
    /* Output the first client never read is dropped when it leaves. */
    g_assert_cmpuint(vmm_chr_write(chr, big, sizeof(big)), ==, sizeof(big));
    close(a);
    MAIN_LOOP_UNTIL(f->got->len == 3);
    g_assert_true(fake_has(f, "inB"));
    MAIN_LOOP_UNTIL(vmm_chr_connected(chr));
    st = chr_stats(chr);
    g_assert_cmpuint(st.out_bytes + st.out_dropped, ==, 9 + sizeof(big));
    g_assert_cmpuint(st.out_dropped, >, 4);
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"to-b", 4), ==, 4);
    read_exact(b, buf, 4);
    g_assert_cmpmem(buf, 4, "to-b", 4);

    close(b);
    MAIN_LOOP_UNTIL(!vmm_chr_connected(chr));
    st = chr_stats(chr);
    g_assert_cmpuint(st.connects, ==, 2);
    g_assert_cmpuint(st.out_bytes + st.out_dropped, ==, 13 + sizeof(big));
    g_assert_cmpuint(st.in_bytes, ==, 3);
    chr_close(chr);
    /* Its socket file goes with it. */
    g_assert_cmpint(lstat(s.path, &sst), ==, -1);

    /* Not a socket at the path: refused, and left alone. */
    g_assert_true(g_file_set_contents(s.path, "keep", -1, NULL));
    g_assert_cmpint(chr_open_err(&cfg), ==, -EADDRINUSE);
    g_assert_cmpint(lstat(s.path, &sst), ==, 0);
    g_assert_true(S_ISREG(sst.st_mode));
    /* A path sockaddr_un cannot hold. */
    cfg.path = g_strnfill(200, 'x');
    g_assert_cmpint(chr_open_err(&cfg), ==, -ENAMETOOLONG);
    g_free(cfg.path);
    cfg.path = NULL;
    g_assert_cmpint(chr_open_err(&cfg), ==, -EINVAL);
    fake_free(f);
    scratch_free(&s);
}

static void test_unix_client(void)
{
    struct scratch s = scratch_new("sock");
    struct vmm_config_chr cfg = {.kind = VMM_CHR_UNIX, .path = s.path};
    struct fake_fe *f = fake_new(1000);
    struct vmm_chr *chr;
    char buf[8];
    int l, c;

    g_assert_cmpint(chr_open_err(&cfg), ==, -ENOENT);
    l = unix_listen(s.path);
    chr = chr_open(&cfg, f);
    c = accept(l, NULL, NULL);
    g_assert_cmpint(c, >=, 0);
    g_assert_true(vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"ping", 4), ==, 4);
    read_exact(c, buf, 4);
    g_assert_cmpmem(buf, 4, "ping", 4);
    g_assert_cmpint(write(c, "pong", 4), ==, 4);
    MAIN_LOOP_UNTIL(f->got->len == 4);
    g_assert_true(fake_has(f, "pong"));
    /* The server goes: no reconnection, output dropped from then on. */
    close(c);
    MAIN_LOOP_UNTIL(!vmm_chr_connected(chr));
    g_assert_cmpuint(vmm_chr_write(chr, (const uint8_t *)"x", 1), ==, 1);
    g_assert_cmpuint(chr_stats(chr).out_dropped, ==, 1);
    chr_close(chr);
    /* A client never removes the server's socket file. */
    g_assert_cmpint(access(s.path, F_OK), ==, 0);
    close(l);
    fake_free(f);
    scratch_free(&s);
}

struct later {
    const char *path;
    int fd;
    bool shutdown; /* request a shutdown instead of connecting */
};

static void *later_fn(void *arg)
{
    struct later *l = arg;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int64_t dl = harness_now_ns() + HARNESS_WATCHDOG_NS;

    g_usleep(50000);
    if (l->shutdown) {
        loom_request_shutdown(LOOM_SHUTDOWN_REQUEST);
        return NULL;
    }
    /* The listener may not be there yet on a loaded machine. */
    memcpy(sa.sun_path, l->path, strlen(l->path));
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(l->fd, >=, 0);
    while (connect(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        harness_watchdog(dl, "the listener accepts connections");
        g_usleep(10000);
    }
    return NULL;
}

static void test_unix_wait(void)
{
    struct scratch s = scratch_new("sock");
    struct vmm_config_chr cfg = {
        .kind = VMM_CHR_UNIX, .path = s.path, .server = true, .wait = true};
    struct later l = {.path = s.path, .fd = -1};
    struct loom_thread *t;
    struct vmm_chr *chr;

    g_assert_cmpint(
        loom_thread_create(&t, "later", later_fn, &l, LOOM_THREAD_JOINABLE), ==,
        0);
    chr = chr_open(&cfg, NULL);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_true(vmm_chr_connected(chr));
    vmm_chr_free(chr);
    close(l.fd);

    /* A shutdown request (SIGINT) while waiting ends the wait. */
    l.shutdown = true;
    g_assert_cmpint(
        loom_thread_create(&t, "later", later_fn, &l, LOOM_THREAD_JOINABLE), ==,
        0);
    g_assert_cmpint(chr_open_err(&cfg), ==, -EINTR);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    g_assert_cmpint(loom_main_loop_run(), ==, LOOM_SHUTDOWN_REQUEST);
    g_assert_cmpint(access(s.path, F_OK), ==, -1);
    scratch_free(&s);
}

/* Input waits in the chardev while the frontend has no room. */
static void test_input_flow(void)
{
    struct scratch s = scratch_new("sock");
    struct vmm_config_chr cfg = {
        .kind = VMM_CHR_UNIX, .path = s.path, .server = true};
    struct fake_fe *f = fake_new(0);
    static uint8_t big[3 * VMM_CHR_IN_BUF_SIZE];
    struct vmm_chr *chr = chr_open(&cfg, NULL);
    size_t i;
    int a;

    for (i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i % 253);
    }
    a = unix_connect(s.path);
    MAIN_LOOP_UNTIL(vmm_chr_connected(chr));
    /* Before a frontend attaches: held. */
    g_assert_cmpint(write(a, "early", 5), ==, 5);
    spin_loop(20);
    g_assert_cmpint(vmm_chr_set_frontend(chr, &fake_ops, f), ==, 0);
    spin_loop(20);
    g_assert_cmpuint(f->got->len, ==, 0);
    f->room = 2;
    vmm_chr_accept_input(chr);
    MAIN_LOOP_UNTIL(f->got->len == 2);
    spin_loop(10);
    g_assert_true(fake_has(f, "ea"));
    f->room = 100;
    vmm_chr_accept_input(chr);
    MAIN_LOOP_UNTIL(f->got->len == 5);
    g_assert_true(fake_has(f, "early"));

    /* More than the input buffer: reading pauses, nothing is lost. */
    g_byte_array_set_size(f->got, 0);
    f->room = 0;
    g_assert_cmpint(write(a, big, sizeof(big)), ==, (ssize_t)sizeof(big));
    spin_loop(50);
    while (f->got->len < sizeof(big)) {
        f->room = 1000;
        vmm_chr_accept_input(chr);
        spin_loop(3);
    }
    g_assert_cmpmem(f->got->data, f->got->len, big, sizeof(big));
    g_assert_cmpuint(chr_stats(chr).in_dropped, ==, 0);
    g_assert_cmpuint(chr_stats(chr).in_bytes, ==, 5 + sizeof(big));
    chr_close(chr);
    close(a);
    fake_free(f);
    scratch_free(&s);
}

/*
 * The pty child: a UART behind stdio or mon:stdio, and a "guest" that
 * polls it and echoes every byte as <hh> (a break as <BRK>).  Typing K,
 * A or E (stdio mode) makes it die by SIGSEGV, abort() or exit(5).
 * Exit status: 10 after quit, 32 + signal after SIGINT/SIGTERM.
 */
struct child {
    struct vmm_bus *bus;
    bool crash;
};

static uint8_t child_in(struct child *c, unsigned off)
{
    uint8_t v = 0;

    (void)vmm_bus_read(c->bus, 0x3f8 + off, &v, 1);
    return v;
}

static void child_puts(struct child *c, const char *s)
{
    for (; *s; s++) {
        uint8_t b = (uint8_t)*s;

        while (!(child_in(c, 5) & 0x20)) {
            loom_main_loop_wait(true);
        }
        (void)vmm_bus_write(c->bus, 0x3f8, &b, 1);
    }
}

static void child_poll(struct child *c)
{
    char out[16];
    uint8_t lsr;

    while ((lsr = child_in(c, 5)) & 0x01) {
        uint8_t b = child_in(c, 0);

        if (lsr & 0x10) {
            child_puts(c, "<BRK>");
            continue;
        }
        if (c->crash && b == 'K') {
            raise(SIGSEGV);
        } else if (c->crash && b == 'A') {
            abort();
        } else if (c->crash && b == 'E') {
            exit(5);
        }
        snprintf(out, sizeof(out), "<%02x>", b);
        child_puts(c, out);
    }
}

static void child_quit(void *opaque)
{
    loom_request_shutdown(LOOM_SHUTDOWN_REQUEST);
}

static int child_main(const char *mode)
{
    struct vmm_config_chr cfg = {.kind = VMM_CHR_STDIO};
    struct vmm_irq irq = {0};
    struct vmm_chr *chr, *second;
    struct vmm_serial *uart;
    struct child c = {0};
    int reason;

    if (strcmp(mode, "mux") == 0) {
        cfg.kind = VMM_CHR_MON_STDIO;
    }
    c.crash = cfg.kind == VMM_CHR_STDIO;
    if (loom_main_init() < 0) {
        return 2;
    }
    loom_bql_lock();
    if (vmm_bus_new(0xffff, &c.bus) < 0 ||
        vmm_chr_new(&cfg, loom_main_loop(), child_quit, NULL, &chr) < 0) {
        return 3;
    }
    /* stdin is one per process. */
    if (vmm_chr_new(&cfg, loom_main_loop(), NULL, NULL, &second) != -EBUSY) {
        return 4;
    }
    if (vmm_serial_new(c.bus, 0x3f8, &irq, chr, &uart) < 0) {
        return 3;
    }
    child_puts(&c, "ready\r\n");
    while (!(reason = loom_main_shutdown_requested())) {
        loom_main_loop_wait(false);
        child_poll(&c);
    }
    child_puts(&c, "bye\r\n");
    (void)vmm_serial_flush(uart, 2 * SEC);
    vmm_serial_free(uart);
    vmm_chr_free(chr);
    vmm_bus_free(c.bus);
    loom_bql_unlock();
    loom_main_cleanup();
    if (LOOM_SHUTDOWN_IS_SIGNAL(reason)) {
        return 32 + (reason & 0xff);
    }
    return reason == LOOM_SHUTDOWN_REQUEST ? 10 : 1;
}

struct pty_run {
    int master, slave;
    int in_pipe; /* write end when the child's stdin is a pipe, else -1 */
    pid_t pid;
    GString *out;
    struct termios before;
};

/* Start the child on a fresh pty (its stdin a pipe if @pipe_in). */
static struct pty_run *pty_start(const char *mode, bool pipe_in)
{
    struct pty_run *p = g_new0(struct pty_run, 1);
    int pfd[2] = {-1, -1};

    g_assert_cmpint(openpty(&p->master, &p->slave, NULL, NULL, NULL), ==, 0);
    g_assert_cmpint(fcntl(p->master, F_SETFL, O_NONBLOCK), ==, 0);
    g_assert_cmpint(tcgetattr(p->slave, &p->before), ==, 0);
    if (pipe_in) {
        g_assert_cmpint(pipe2(pfd, O_CLOEXEC), ==, 0);
    }
    p->in_pipe = pfd[1];
    p->out = g_string_new(NULL);
    fflush(stdout);
    p->pid = fork();
    g_assert_cmpint(p->pid, >=, 0);
    if (p->pid == 0) {
        /* Async-signal-safe calls only until exec. */
        setsid();
        ioctl(p->slave, TIOCSCTTY, 0);
        dup2(pipe_in ? pfd[0] : p->slave, 0);
        dup2(p->slave, 1);
        execle(g_self, g_self, "--pty-child", mode, (char *)NULL, g_env);
        _exit(127);
    }
    if (pipe_in) {
        close(pfd[0]);
    }
    return p;
}

/* Read the child's output until it contains @s (consumed up to its end). */
static void pty_expect(struct pty_run *p, const char *s)
{
    int64_t dl = harness_now_ns() + HARNESS_WATCHDOG_NS;
    char buf[512];

    for (;;) {
        char *hit = strstr(p->out->str, s);
        struct pollfd pfd = {.fd = p->master, .events = POLLIN};
        ssize_t n;

        if (hit) {
            g_string_erase(p->out, 0, hit - p->out->str + (gssize)strlen(s));
            return;
        }
        if (harness_now_ns() > dl) {
            g_test_message("have \"%s\"", p->out->str);
            harness_watchdog_expired(__FILE__, __LINE__, s,
                                     HARNESS_WATCHDOG_NS);
        }
        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        n = read(p->master, buf, sizeof(buf));
        if (n > 0) {
            g_string_append_len(p->out, buf, n);
        }
    }
}

static void pty_type(struct pty_run *p, const char *s, size_t len)
{
    int fd = p->in_pipe >= 0 ? p->in_pipe : p->master;

    g_assert_cmpint(write(fd, s, len), ==, (ssize_t)len);
}

/* Keep the pty drained so the child never blocks on it. */
static void pty_drain(void *opaque)
{
    struct pty_run *p = opaque;
    char buf[256];

    while (read(p->master, buf, sizeof(buf)) > 0) {
    }
}

/* Wait for the child; return its wait status. */
static int pty_wait(struct pty_run *p)
{
    int status =
        harness_wait_child(p->pid, HARNESS_WATCHDOG_NS, pty_drain, p);

    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        g_error("child did not end; output \"%s\"", p->out->str);
    }
    return status;
}

static void assert_tios_equal(const struct termios *a, const struct termios *b)
{
    g_assert_cmphex(a->c_iflag, ==, b->c_iflag);
    g_assert_cmphex(a->c_oflag, ==, b->c_oflag);
    g_assert_cmphex(a->c_cflag, ==, b->c_cflag);
    g_assert_cmphex(a->c_lflag, ==, b->c_lflag);
    g_assert_cmpmem(a->c_cc, sizeof(a->c_cc), b->c_cc, sizeof(b->c_cc));
}

/* The child ended: the terminal is exactly as before it started. */
static void pty_finish(struct pty_run *p)
{
    struct termios after;

    g_assert_cmpint(tcgetattr(p->slave, &after), ==, 0);
    assert_tios_equal(&p->before, &after);
    close(p->master);
    close(p->slave);
    if (p->in_pipe >= 0) {
        close(p->in_pipe);
    }
    g_string_free(p->out, TRUE);
    g_free(p);
}

static void pty_assert_raw(struct pty_run *p, bool isig)
{
    struct termios t;

    g_assert_cmpint(tcgetattr(p->slave, &t), ==, 0);
    g_assert_cmphex(t.c_lflag & (ICANON | ECHO | IEXTEN), ==, 0);
    g_assert_cmphex(t.c_iflag & (ICRNL | IXON), ==, 0);
    g_assert_cmphex(t.c_oflag & OPOST, ==, OPOST);
    g_assert_cmphex(t.c_cflag & CSIZE, ==, CS8);
    g_assert_cmpint(!!(t.c_lflag & ISIG), ==, isig);
}

/* The child says goodbye and exits with @code; the terminal is restored. */
static void pty_end(struct pty_run *p, int code)
{
    int status;

    pty_expect(p, "bye");
    status = pty_wait(p);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, code);
    pty_finish(p);
}

static void test_pty_stdio(void)
{
    struct pty_run *p = pty_start("stdio", false);

    pty_expect(p, "ready");
    pty_assert_raw(p, true);
    /* Raw: no line buffering, CR stays CR, Ctrl-a reaches the guest. */
    pty_type(p, "ab\r\001x", 5);
    pty_expect(p, "<61><62><0d><01><78>");
    /* Ctrl-C signals the process: an orderly shutdown. */
    pty_type(p, "\x03", 1);
    pty_end(p, 32 + SIGINT);
}

static void test_pty_mux(void)
{
    struct pty_run *p = pty_start("mux", false);

    pty_expect(p, "ready");
    pty_assert_raw(p, false);
    /* Ctrl-C is the guest's in mux mode. */
    pty_type(p, "a\x03", 2);
    pty_expect(p, "<61><03>");
    /* Ctrl-a Ctrl-a and Ctrl-a a send Ctrl-a. */
    pty_type(p, "\001\001", 2);
    pty_expect(p, "<01>");
    pty_type(p, "\001a", 2);
    pty_expect(p, "<01>");
    pty_type(p, "\001h", 2);
    pty_expect(p, "C-a x    exit loom-vm\r\n");
    pty_type(p, "\001?", 2);
    pty_expect(p, "C-a h    print this help\r\n");
    pty_type(p, "\001c", 2);
    pty_expect(p, "no monitor on this console");
    /* A break reaches the UART as BI. */
    pty_type(p, "\001b", 2);
    pty_expect(p, "<BRK>");
    /* Unknown commands are swallowed; the escape can span reads. */
    pty_type(p, "\001z", 2);
    pty_type(p, "q\001", 2);
    g_usleep(20000);
    pty_type(p, "\001", 1);
    pty_expect(p, "<71><01>");
    g_assert_null(strstr(p->out->str, "<7a>"));
    pty_type(p, "\001x", 2);
    pty_expect(p, "loom-vm: terminated\r\n");
    pty_end(p, 10);
}

static void test_pty_sigterm(void)
{
    struct pty_run *p = pty_start("mux", false);

    pty_expect(p, "ready");
    pty_assert_raw(p, false);
    kill(p->pid, SIGTERM);
    pty_end(p, 32 + SIGTERM);
}

/* Deaths without teardown: the handler or atexit restores the terminal. */
static void pty_die(const char *key, int sig)
{
    struct pty_run *p = pty_start("stdio", false);
    int status;

    pty_expect(p, "ready");
    pty_assert_raw(p, true);
    pty_type(p, key, 1);
    status = pty_wait(p);
    if (sig) {
        /* Killed by it, or by a sanitizer's handler that reported it. */
        g_assert_true((WIFSIGNALED(status) && WTERMSIG(status) == sig) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) != 0));
    } else {
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 5);
    }
    pty_finish(p);
}

static void test_pty_segv(void)
{
    pty_die("K", SIGSEGV);
}

static void test_pty_abort(void)
{
    pty_die("A", SIGABRT);
}

static void test_pty_exit(void)
{
    pty_die("E", 0);
}

/* stdin not a terminal: read as it is, and the terminal is not touched. */
static void test_pty_stdin_pipe(void)
{
    struct pty_run *p = pty_start("stdio", true);
    struct termios during;

    pty_expect(p, "ready");
    g_assert_cmpint(tcgetattr(p->slave, &during), ==, 0);
    assert_tios_equal(&p->before, &during);
    pty_type(p, "hi", 2);
    pty_expect(p, "<68><69>");
    /* End of input is not the end of the machine. */
    close(p->in_pipe);
    p->in_pipe = -1;
    g_usleep(20000);
    kill(p->pid, SIGTERM);
    pty_end(p, 32 + SIGTERM);
}

/*
 * The children's environment: a child that dies by exit() on purpose
 * leaks its machine, and one that raises SIGSEGV on purpose is no bug
 * report: a sanitizer's leak check and SEGV handler stay out of both.
 */
static char **child_environ(void)
{
    static const char *const vars[] = {"ASAN_OPTIONS", "TSAN_OPTIONS"};
    char **env = g_get_environ();
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(vars); i++) {
        const char *old = g_environ_getenv(env, vars[i]);
        char *v = g_strdup_printf("%s%sdetect_leaks=0:handle_segv=0",
                                  old ? old : "", old ? ":" : "");

        env = g_environ_setenv(env, vars[i], v, TRUE);
        g_free(v);
    }
    return env;
}

int main(int argc, char **argv)
{
    int ret;

    if (argc == 3 && strcmp(argv[1], "--pty-child") == 0) {
        return child_main(argv[2]);
    }
    g_self = realpath("/proc/self/exe", NULL);
    g_assert_nonnull(g_self);
    g_env = child_environ();
    harness_init(&argc, &argv);
    signal(SIGPIPE, SIG_IGN);
    g_assert_cmpint(loom_main_init(), ==, 0);
    loom_bql_lock();
    g_test_add_func("/chardev/bad-config", test_bad_config);
    g_test_add_func("/chardev/none", test_none);
    g_test_add_func("/chardev/file", test_file);
    g_test_add_func("/chardev/output-room", test_output_room);
    g_test_add_func("/chardev/unix-server", test_unix_server);
    g_test_add_func("/chardev/unix-client", test_unix_client);
    g_test_add_func("/chardev/unix-wait", test_unix_wait);
    g_test_add_func("/chardev/input-flow", test_input_flow);
    g_test_add_func("/chardev/pty-stdio", test_pty_stdio);
    g_test_add_func("/chardev/pty-mux", test_pty_mux);
    g_test_add_func("/chardev/pty-sigterm", test_pty_sigterm);
    g_test_add_func("/chardev/pty-segv", test_pty_segv);
    g_test_add_func("/chardev/pty-abort", test_pty_abort);
    g_test_add_func("/chardev/pty-exit", test_pty_exit);
    g_test_add_func("/chardev/pty-stdin-pipe", test_pty_stdin_pipe);
    ret = g_test_run();
    loom_bql_unlock();
    loom_main_cleanup();
    free(g_self);
    g_strfreev(g_env);
    return ret;
}
