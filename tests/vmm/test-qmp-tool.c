/* SPDX-License-Identifier: MIT */
/*
 * tools/loom-qmp against a monitor served here (a fake machine, no KVM):
 * the reply printed, arguments passed, events before the reply skipped,
 * error replies and usage errors with their exit statuses.
 *
 *   test-qmp-tool --tool=PATH [GTest options]
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "harness.h"
#include "qmp-fake.h"

static const char *g_tool;
static struct fake_machine g_f;
static struct vmm_monitor *g_mon;
static char *g_dir, *g_sock;

struct run {
    int status;
    char *out, *err;
};

static void slurp(int fd, GString *s)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(s, buf, n);
    }
}

/* The tool's output pipes, read while the monitor is served. */
struct tool_io {
    int ofd, efd;
    GString *out, *err;
};

static void tool_serve(void *opaque)
{
    struct tool_io *io = opaque;

    slurp(io->ofd, io->out);
    slurp(io->efd, io->err);
    qmp_spin(1);
}

/* Run loom-qmp with @args, serving the monitor until it exits. */
static void run_tool(struct run *r, const char *const *args)
{
    GPtrArray *argv = g_ptr_array_new();
    GString *out = g_string_new(NULL), *err = g_string_new(NULL);
    struct tool_io io;
    int ofd, efd, st;
    GError *e = NULL;
    GPid pid;

    g_ptr_array_add(argv, (char *)g_tool);
    for (; *args; args++) {
        g_ptr_array_add(argv, (char *)*args);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL,
                                           G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                           NULL, &pid, NULL, &ofd, &efd, &e));
    g_assert_no_error(e);
    g_ptr_array_free(argv, TRUE);
    g_unix_set_fd_nonblocking(ofd, TRUE, NULL);
    g_unix_set_fd_nonblocking(efd, TRUE, NULL);
    io = (struct tool_io){.ofd = ofd, .efd = efd, .out = out, .err = err};
    st = harness_wait_child(pid, 2 * HARNESS_WATCHDOG_NS, tool_serve, &io);
    slurp(ofd, out);
    slurp(efd, err);
    close(ofd);
    close(efd);
    g_spawn_close_pid(pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = g_string_free(out, FALSE);
    r->err = g_string_free(err, FALSE);
    g_test_message("status %d\nstdout:\n%s\nstderr:\n%s", r->status, r->out,
                   r->err);
    /* Killed by the watchdog (harness_wait_child() said so). */
    g_assert_false(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void run_free(struct run *r)
{
    g_free(r->out);
    g_free(r->err);
}

static void setup(void)
{
    struct vmm_config_qmp q = {
        .chr = {.kind = VMM_CHR_UNIX, .server = true},
    };

    fake_init(&g_f, 1, "tool-vm");
    g_assert_cmpint(vmm_monitor_new(&fake_ops, &g_f, &g_mon), ==, 0);
    q.chr.path = g_sock;
    g_assert_cmpint(vmm_monitor_add(g_mon, &q, NULL), ==, 0);
}

static void teardown(void)
{
    vmm_monitor_free(g_mon);
    fake_destroy(&g_f);
}

static void test_query(void)
{
    const char *const a[] = {g_sock, "query-name", NULL};
    struct run r;
    json_t *v;

    setup();
    run_tool(&r, a);
    g_assert_cmpint(r.status, ==, 0);
    v = json_loads(r.out, 0, NULL);
    g_assert_cmpstr(json_string_value(json_object_get(v, "name")), ==,
                    "tool-vm");
    json_decref(v);
    run_free(&r);
    teardown();
}

static void test_arguments(void)
{
    const char *const a[] = {g_sock, "qom-get",
                             "{\"path\":\"/objects/io1\","
                             "\"property\":\"poll-max-ns\"}",
                             NULL};
    const char *const raw[] = {"-r", g_sock, "query-status", NULL};
    struct run r;

    setup();
    run_tool(&r, a);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(r.out, ==, "32768\n");
    run_free(&r);
    /* -r: the reply as it came. */
    run_tool(&r, raw);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "{\"return\": {"));
    run_free(&r);
    teardown();
}

/* stop's STOP event comes before its reply: skipped. */
static void test_events_skipped(void)
{
    const char *const a[] = {g_sock, "stop", NULL};
    struct run r;

    setup();
    run_tool(&r, a);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(r.out, ==, "{}\n");
    g_assert_cmpuint(g_f.stops, ==, 1);
    run_free(&r);
    teardown();
}

static void test_errors(void)
{
    const char *const unknown[] = {g_sock, "no-such", NULL};
    const char *const badargs[] = {g_sock, "query-name", "[1]", NULL};
    const char *const notjson[] = {g_sock, "query-name", "{x", NULL};
    const char *const usage[] = {g_sock, NULL};
    const char *const nosock[] = {"/nonexistent/qmp.sock", "query-name", NULL};
    const char *const refused[] = {g_sock, "query-status", "{\"x\":1}", NULL};
    struct run r;

    setup();
    run_tool(&r, unknown);
    g_assert_cmpint(r.status, ==, 1);
    g_assert_nonnull(strstr(r.err, "CommandNotFound: The command no-such"));
    run_free(&r);
    run_tool(&r, refused);
    g_assert_cmpint(r.status, ==, 1);
    g_assert_nonnull(strstr(r.err, "GenericError: Parameter 'x'"));
    run_free(&r);
    run_tool(&r, badargs);
    g_assert_cmpint(r.status, ==, 2);
    run_free(&r);
    run_tool(&r, notjson);
    g_assert_cmpint(r.status, ==, 2);
    run_free(&r);
    run_tool(&r, usage);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_nonnull(strstr(r.err, "usage"));
    run_free(&r);
    run_tool(&r, nosock);
    g_assert_cmpint(r.status, ==, 2);
    g_assert_nonnull(strstr(r.err, "/nonexistent/qmp.sock"));
    run_free(&r);
    teardown();
}

int main(int argc, char **argv)
{
    int r, out = 1;

    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--tool=")) {
            g_tool = argv[i] + strlen("--tool=");
        } else {
            argv[out++] = argv[i];
        }
    }
    argc = out;
    argv[argc] = NULL;
    g_assert_nonnull(g_tool);
    harness_init(&argc, &argv);
    qmp_test_main_init();
    /* One socket path for every case (each monitor removes its file). */
    g_dir = g_dir_make_tmp("loom-qmp-tool-XXXXXX", NULL);
    g_assert_nonnull(g_dir);
    g_sock = g_build_filename(g_dir, "qmp.sock", NULL);
    g_test_add_func("/qmp-tool/query", test_query);
    g_test_add_func("/qmp-tool/arguments", test_arguments);
    g_test_add_func("/qmp-tool/events-skipped", test_events_skipped);
    g_test_add_func("/qmp-tool/errors", test_errors);
    r = g_test_run();
    qmp_test_main_cleanup();
    g_rmdir(g_dir);
    g_free(g_dir);
    g_free(g_sock);
    return r;
}
