/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor's transport against a fake machine (no KVM): bad input
 * (malformed, truncated, over-size, too deep, binary garbage) answered
 * with one GenericError and resynchronised; messages split or batched
 * any way; clients that half-close, vanish mid-command or reset; 100
 * clients at once and the session limit; a client that stops reading
 * (dropped, the others unaffected) and one that pipelines without reading
 * (held back, nothing lost); the listening socket's file and wait=on.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <loom/main.h>

#include "harness.h"
#include "qmp-fake.h"

static struct fake_machine g_f;
static struct vmm_monitor *g_mon;

static void setup(void)
{
    fake_init(&g_f, 1, NULL);
    g_assert_cmpint(vmm_monitor_new(&fake_ops, &g_f, &g_mon), ==, 0);
}

static void teardown(void)
{
    vmm_monitor_free(g_mon);
    g_mon = NULL;
    fake_destroy(&g_f);
}

static struct vmm_monitor_stats mon_stats(void)
{
    struct vmm_monitor_stats st;

    vmm_monitor_stats(g_mon, &st);
    return st;
}

/* Run the loop until the monitor has @n sessions (the watchdog). */
static void wait_sessions(unsigned n)
{
    MAIN_LOOP_UNTIL(mon_stats().sessions == n);
}

static void start(struct qclient *c)
{
    setup();
    qclient_pair(c, g_mon, false);
    qclient_negotiate(c);
}

static void stop(struct qclient *c)
{
    qclient_close(c);
    teardown();
}

/* After bad input, exactly one error, then the marked command's reply. */
static void expect_one_error_then_ok(struct qclient *c, const char *desc)
{
    json_t *r;

    qclient_sends(c, "{\"execute\":\"query-status\",\"id\":\"after\"}\n");
    expect_error(qclient_recv(c, false), "GenericError", desc);
    r = qclient_recv(c, false);
    g_assert_nonnull(json_object_get(r, "return"));
    g_assert_cmpstr(json_string_value(json_object_get(r, "id")), ==, "after");
    json_decref(r);
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "{bad json}\n",
        "{\"execute\":}\n",
        "{\"execute\":\"query-status\",}\n",
        "{\"execute\":\"query-status\",\"execute\":\"stop\"}\n",
        "{\"execute\":\"\xc3\x28\"}\n", /* invalid UTF-8 */
        "{\"execute\":\"a\x01\"}\n",    /* raw control character */
        "{\"execute\":\"query-status\"]\n",
        "[}\n",
        "tru\n",
        "{\"a\":1e999999}\n",
    };
    struct qclient c;

    start(&c);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        qclient_sends(&c, bad[i]);
        expect_one_error_then_ok(&c, "JSON parse error");
    }
    /* Stray closers and bytes no value starts with. */
    qclient_sends(&c, "}\n");
    expect_one_error_then_ok(&c, "JSON parse error, stray '}'");
    qclient_send(&c, "\0\n", 2);
    expect_one_error_then_ok(&c, "JSON parse error, stray byte 0x00");
    /* A bad message's line is dropped with it. */
    qclient_sends(&c, "{x} {\"execute\":\"stop\"}\n");
    expect_one_error_then_ok(&c, "JSON parse error");
    g_assert_cmpuint(g_f.stops, ==, 0);
    stop(&c);
}

/* Binary garbage: the monitor survives and answers afterwards. */
static void test_garbage(void)
{
    GRand *rnd = g_rand_new_with_seed(42);
    unsigned lines = 0, errors = 0;
    struct qclient c;
    guint8 buf[4096];
    json_t *r;

    start(&c);
    for (int round = 0; round < 16; round++) {
        for (size_t i = 0; i < sizeof(buf); i++) {
            buf[i] = (guint8)g_rand_int_range(rnd, 0, 256);
            lines += buf[i] == '\n';
        }
        qclient_send(&c, buf, sizeof(buf));
        qmp_spin(4);
    }
    qclient_sends(&c, "\n{\"execute\":\"query-status\",\"id\":\"end\"}\n");
    for (;;) {
        r = qclient_recv(&c, false);
        g_assert_nonnull(r);
        if (json_object_get(r, "return")) {
            break;
        }
        g_assert_nonnull(json_object_get(r, "error"));
        errors++;
        json_decref(r);
    }
    g_assert_cmpstr(json_string_value(json_object_get(r, "id")), ==, "end");
    json_decref(r);
    /* At most one error per line of garbage, and some at all. */
    g_assert_cmpuint(errors, >, 0);
    g_assert_cmpuint(errors, <=, lines + 1);
    g_rand_free(rnd);
    stop(&c);
}

static void test_oversize(void)
{
    GString *big = g_string_new("{\"execute\":\"qom-set\",\"arguments\":"
                                "{\"value\":\"");
    struct qclient c;

    start(&c);
    while (big->len < 2 * VMM_QMP_MAX_MSG) {
        g_string_append(big, "{[xxxxxxxxxxxxxxxxxxxxxxxx]}");
    }
    g_string_append(big, "\"}}\n");
    qclient_send(&c, big->str, big->len);
    expect_one_error_then_ok(&c, "longer than 1048576 bytes");
    /* Right at the limit is fine. */
    g_string_assign(big, "{\"execute\":\"query-status\",\"id\":\"");
    while (big->len < VMM_QMP_MAX_MSG - 2) {
        g_string_append_c(big, 'x');
    }
    g_string_append(big, "\"}");
    g_assert_cmpuint(big->len, ==, VMM_QMP_MAX_MSG);
    qclient_send(&c, big->str, big->len);
    expect_return(qclient_recv(&c, false));
    /* The largest reply: an id of escaped characters (3 bytes out for
     * each byte in) still fits the output bound. */
    g_string_assign(big, "{\"execute\":\"query-status\",\"id\":\"");
    while (big->len < VMM_QMP_MAX_MSG - 3) {
        g_string_append(big, "\xc3\xa9"); /* U+00E9: \u00e9 out */
    }
    g_string_append(big, "\"}");
    qclient_send(&c, big->str, big->len);
    expect_return(qclient_recv(&c, false));
    g_assert_cmpuint(mon_stats().dropped, ==, 0);
    g_string_free(big, TRUE);
    stop(&c);
}

static void test_deep(void)
{
    GString *s = g_string_new(NULL);
    struct qclient c;

    start(&c);
    for (int i = 0; i < 2 * VMM_QMP_MAX_DEPTH; i++) {
        g_string_append_c(s, '[');
    }
    g_string_append(s, "\n");
    qclient_send(&c, s->str, s->len);
    expect_one_error_then_ok(&c, "nesting deeper than");
    g_string_free(s, TRUE);
    stop(&c);
}

/* One byte at a time, or many messages in one write: same replies. */
static void test_split_batch(void)
{
    const char *cmd = "{\"execute\":\"query-status\",\"id\":7}";
    GString *batch = g_string_new(NULL);
    struct qclient c;
    json_t *r;

    start(&c);
    for (size_t i = 0; cmd[i]; i++) {
        qclient_send(&c, cmd + i, 1);
        qmp_spin(2);
    }
    r = qclient_recv(&c, false);
    g_assert_cmpint(json_integer_value(json_object_get(r, "id")), ==, 7);
    json_decref(r);
    for (int i = 0; i < 50; i++) {
        g_string_append_printf(batch,
                               "{\"execute\":\"query-status\","
                               "\"id\":%d}%s",
                               i, i % 3 ? "" : "\r\n");
    }
    qclient_send(&c, batch->str, batch->len);
    for (int i = 0; i < 50; i++) {
        r = qclient_recv(&c, false);
        g_assert_cmpint(json_integer_value(json_object_get(r, "id")), ==, i);
        json_decref(r);
    }
    g_string_free(batch, TRUE);
    stop(&c);
}

/* Half-close: what was sent is answered, a partial message is an
 * error, then the monitor closes. */
static void test_eof(void)
{
    struct qclient c;

    start(&c);
    qclient_sends(&c, "{\"execute\":\"query-status\"}{\"execute\":");
    g_assert_cmpint(shutdown(c.fd, SHUT_WR), ==, 0);
    expect_return(qclient_recv(&c, false));
    expect_error(qclient_recv(&c, false), "GenericError",
                 "input ended inside a message");
    g_assert_null(qclient_recv(&c, false));
    wait_sessions(0);
    qclient_close(&c);
    /* A bare scalar ending the input is still a message. */
    qclient_pair(&c, g_mon, false);
    qclient_negotiate(&c);
    qclient_sends(&c, "17");
    g_assert_cmpint(shutdown(c.fd, SHUT_WR), ==, 0);
    expect_error(qclient_recv(&c, false), "GenericError",
                 "QMP input must be a JSON object");
    g_assert_null(qclient_recv(&c, false));
    stop(&c);
}

/* Clients that vanish with commands in flight, or reset the
 * connection: the others carry on. */
static void test_vanish(void)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    struct qclient a, b, c;

    start(&b);
    for (int round = 0; round < 3; round++) {
        qclient_pair(&a, g_mon, false);
        qclient_negotiate(&a);
        for (int i = 0; i < 200; i++) {
            qclient_sends(&a, "{\"execute\":\"query-stats-schemas\"}");
        }
        if (round == 1) {
            qclient_sends(&a, "{\"execute\":\"query-st");
        }
        if (round == 2) {
            g_assert_cmpint(
                setsockopt(a.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), ==,
                0);
        }
        qclient_close(&a);
        expect_return(qclient_cmd(&b, "{\"execute\":\"stop\"}"));
        json_decref(qclient_event(&b, "STOP"));
        expect_return(qclient_cmd(&b, "{\"execute\":\"cont\"}"));
        json_decref(qclient_event(&b, "RESUME"));
        wait_sessions(1);
    }
    /* One that goes before its greeting could be written. */
    qclient_pair(&c, g_mon, false);
    qclient_close(&c);
    wait_sessions(1);
    g_assert_cmpuint(mon_stats().accepted, ==, 5);
    stop(&b);
}

static char *tmp_socket(char **dir)
{
    *dir = g_dir_make_tmp("loom-qmp-XXXXXX", NULL);
    g_assert_nonnull(*dir);
    return g_build_filename(*dir, "qmp.sock", NULL);
}

static void add_socket(const char *path, bool wait)
{
    struct vmm_config_qmp q = {
        .chr = {.kind = VMM_CHR_UNIX,
                .path = (char *)path,
                .server = true,
                .wait = wait},
    };
    char *err = NULL;

    g_assert_cmpint(vmm_monitor_add(g_mon, &q, &err), ==, 0);
    g_assert_null(err);
}

#define NCLIENTS 100

static void test_hundred_clients(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_socket(&dir);
    struct qclient *c = g_new0(struct qclient, NCLIENTS);
    int *peers = g_new0(int, 2 * VMM_QMP_MAX_SESSIONS);
    struct qclient extra;
    int i, sv[2];

    setup();
    add_socket(path, false);
    /* All connect before any is served. */
    for (i = 0; i < NCLIENTS; i++) {
        qclient_connect(&c[i], path);
    }
    for (i = 0; i < NCLIENTS; i++) {
        qclient_negotiate(&c[i]);
    }
    g_assert_cmpuint(mon_stats().sessions, ==, NCLIENTS);
    for (i = 0; i < NCLIENTS; i++) {
        g_autofree char *cmd =
            g_strdup_printf("{\"execute\":\"query-status\",\"id\":%d}", i);
        json_t *r = qclient_cmd(&c[i], cmd);

        g_assert_cmpint(json_integer_value(json_object_get(r, "id")), ==, i);
        json_decref(r);
    }
    /* One stop: everyone hears it. */
    expect_return(qclient_cmd(&c[0], "{\"execute\":\"stop\"}"));
    for (i = 0; i < NCLIENTS; i++) {
        json_decref(qclient_event(&c[i], "STOP"));
    }
    for (i = 0; i < NCLIENTS; i++) {
        qclient_close(&c[i]);
    }
    wait_sessions(0);
    /* Past the session limit, a connection is closed at once. */
    for (i = 0; i < VMM_QMP_MAX_SESSIONS; i++) {
        g_assert_cmpint(
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, &peers[2 * i]),
            ==, 0);
        g_assert_cmpint(vmm_monitor_add_fd(g_mon, peers[2 * i], false), ==, 0);
    }
    qclient_connect(&extra, path);
    g_assert_true(qclient_wait_eof(&extra, 10000));
    g_assert_cmpuint(extra.in->len, ==, 0);
    g_assert_cmpuint(mon_stats().refused, ==, 1);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==,
                    0);
    g_assert_cmpint(vmm_monitor_add_fd(g_mon, sv[0], false), ==, -EMFILE);
    close(sv[1]);
    qclient_close(&extra);
    teardown();
    for (i = 0; i < VMM_QMP_MAX_SESSIONS; i++) {
        close(peers[2 * i + 1]);
    }
    /* The socket file went with the monitor. */
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_rmdir(dir);
    g_free(peers);
    g_free(c);
}

/* A client that stops reading is dropped once its output passes the
 * bound; the others are not held up. */
static void test_slow_reader(void)
{
    g_autofree char *reason = g_strnfill(64 * 1024, 'r');
    struct vmm_machine_event ev = {
        .kind = VMM_EVENT_BLOCK_IO_ERROR,
        .device = "vda",
        .node = "drive0",
        .action = "report",
        .reason = reason,
    };
    int small = 4096, sent = 0;
    struct qclient slow, b;
    size_t got = 0;
    json_t *m;

    start(&b);
    qclient_pair(&slow, g_mon, false);
    qclient_negotiate(&slow);
    g_assert_cmpint(
        setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), ==,
        0);
    /* Big events: b reads each, slow none. */
    while (mon_stats().dropped == 0) {
        g_assert_cmpint(sent, <, 2 * VMM_QMP_OUT_MAX / (64 * 1024));
        fake_emit(&g_f, &ev);
        sent++;
        json_decref(qclient_event(&b, "BLOCK_IO_ERROR"));
    }
    /* Dropped only past the bound (the kernel held some too). */
    g_assert_cmpint(sent, >, VMM_QMP_OUT_MAX / (64 * 1024 + 200));
    wait_sessions(1);
    /* The slow client reads what the kernel held, then end of file:
     * whole messages only, never a torn one. */
    while ((m = qclient_recv(&slow, true))) {
        g_assert_nonnull(json_object_get(m, "event"));
        json_decref(m);
        got++;
    }
    g_assert_cmpuint(got, <, (size_t)sent);
    qclient_close(&slow);
    expect_return(qclient_cmd(&b, "{\"execute\":\"query-status\"}"));
    g_assert_cmpuint(mon_stats().dropped, ==, 1);
    stop(&b);
}

/* A client that pipelines many commands without reading is held back
 * (not read while its replies wait), not dropped; every reply comes,
 * in order. */
static void test_pipeline(void)
{
    const int n = 5000;
    GString *all = g_string_new(NULL);
    struct qclient c;
    json_t *r;

    start(&c);
    for (int i = 0; i < n; i++) {
        g_string_append_printf(all,
                               "{\"execute\":\"query-status\","
                               "\"id\":%d}\n",
                               i);
    }
    qclient_send(&c, all->str, all->len);
    for (int i = 0; i < n; i++) {
        r = qclient_recv(&c, false);
        g_assert_nonnull(r);
        g_assert_cmpint(json_integer_value(json_object_get(r, "id")), ==, i);
        json_decref(r);
    }
    g_assert_cmpuint(mon_stats().dropped, ==, 0);
    g_string_free(all, TRUE);
    stop(&c);
}

static void test_socket_file(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_socket(&dir);
    g_autofree char *file = g_build_filename(dir, "plain", NULL);
    g_autofree char *longp = g_strnfill(200, 'x');
    struct vmm_config_qmp q = {
        .chr = {.kind = VMM_CHR_UNIX, .server = true},
    };
    struct qclient c;
    char *err = NULL;
    int fd;

    setup();
    /* A stale socket file is replaced. */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};

        strcpy(sa.sun_path, path);
        g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    }
    close(fd);
    add_socket(path, false);
    qclient_connect(&c, path);
    qclient_negotiate(&c);
    qclient_close(&c);
    /* Anything else is left alone. */
    g_assert_true(g_file_set_contents(file, "keep", -1, NULL));
    q.chr.path = file;
    g_assert_cmpint(vmm_monitor_add(g_mon, &q, &err), ==, -EADDRINUSE);
    g_assert_nonnull(strstr(err, file));
    g_free(err);
    err = NULL;
    g_assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));
    q.chr.path = longp;
    g_assert_cmpint(vmm_monitor_add(g_mon, &q, &err), ==, -ENAMETOOLONG);
    g_free(err);
    err = NULL;
    /* Only listening unix sockets and stdio. */
    q.chr.path = path;
    q.chr.server = false;
    g_assert_cmpint(vmm_monitor_add(g_mon, &q, NULL), ==, -EINVAL);
    q.chr.kind = VMM_CHR_FILE;
    g_assert_cmpint(vmm_monitor_add(g_mon, &q, NULL), ==, -EINVAL);
    teardown();
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_unlink(file);
    g_rmdir(dir);
}

static gpointer late_connect(gpointer path)
{
    struct qclient *c = g_new0(struct qclient, 1);

    g_usleep(100000);
    qclient_connect(c, path); /* no pump: this is not the main thread */
    return c;
}

/* wait=on: vmm_monitor_add() returns once a client connected. */
static void test_wait_on(void)
{
    g_autofree char *dir = NULL;
    g_autofree char *path = tmp_socket(&dir);
    void (*pump)(void) = qclient_pump;
    struct qclient *c;
    GThread *t;

    setup();
    qclient_pump = NULL;
    t = g_thread_new("late", late_connect, path);
    add_socket(path, true);
    g_assert_cmpuint(mon_stats().accepted, ==, 1);
    c = g_thread_join(t);
    qclient_pump = pump;
    qclient_negotiate(c);
    qclient_close(c);
    g_free(c);
    teardown();
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    int r;

    harness_init(&argc, &argv);
    qmp_test_main_init();
    g_test_add_func("/qmp-io/malformed", test_malformed);
    g_test_add_func("/qmp-io/garbage", test_garbage);
    g_test_add_func("/qmp-io/oversize", test_oversize);
    g_test_add_func("/qmp-io/deep", test_deep);
    g_test_add_func("/qmp-io/split-batch", test_split_batch);
    g_test_add_func("/qmp-io/eof", test_eof);
    g_test_add_func("/qmp-io/vanish", test_vanish);
    g_test_add_func("/qmp-io/hundred-clients", test_hundred_clients);
    g_test_add_func("/qmp-io/slow-reader", test_slow_reader);
    g_test_add_func("/qmp-io/pipeline", test_pipeline);
    g_test_add_func("/qmp-io/socket-file", test_socket_file);
    g_test_add_func("/qmp-io/wait-on", test_wait_on);
    r = g_test_run();
    qmp_test_main_cleanup();
    return r;
}
