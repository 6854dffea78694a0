/* SPDX-License-Identifier: MIT */
/*
 * Monitors with a QMP socket for the conversation tests (qmp-vm.h).
 */
#include "qmp-vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "guest-run.h"
#include "harness.h"

/* The watchdog of every wait for the monitor. */
#define WAIT_NS (30LL * 1000 * 1000 * 1000)

/* The shared command line (VMM.md); -no-reboot is left to each test. */
static const char *const g_common[] = {
    "-M",
    "microvm,acpi=off",
    "-enable-kvm",
    "-m",
    "128",
    "-smp",
    "1",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-device",
    "isa-debug-exit",
    "-global",
    "virtio-mmio.force-legacy=off",
};

static char *subst(const struct qvm *v, const char *arg)
{
    g_autofree char *a = NULL;
    char **parts;

    parts = g_strsplit(arg, "@SOCK@", -1);
    a = g_strjoinv(v->sock, parts);
    g_strfreev(parts);
    parts = g_strsplit(a, "@DIR@", -1);
    arg = g_strjoinv(v->dir, parts);
    g_strfreev(parts);
    return (char *)arg;
}

void qvm_start(struct qvm *v, const char *vmm, const char *guest,
               const char *append, const char *const *extra, bool stdin_pipe)
{
    g_autofree char *kernel =
        g_strdup_printf("%s/%s.elf", guest_run_dir(), guest);
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    unsigned nr_args;
    char *const *args = guest_run_vmm_args(&nr_args);
    GError *e = NULL;

    memset(v, 0, sizeof(*v));
    v->in_fd = -1;
    v->dir = g_dir_make_tmp("loom-qmp-vm-XXXXXX", NULL);
    g_assert_nonnull(v->dir);
    v->sock = g_build_filename(v->dir, "qmp.sock", NULL);
    g_ptr_array_add(argv, g_strdup(vmm));
    for (size_t i = 0; i < G_N_ELEMENTS(g_common); i++) {
        g_ptr_array_add(argv, g_strdup(g_common[i]));
    }
    g_ptr_array_add(argv, g_strdup("-cpu"));
    g_ptr_array_add(argv, g_strdup(guest_run_cpu()));
    g_ptr_array_add(argv, g_strdup("-kernel"));
    g_ptr_array_add(argv, g_strdup(kernel));
    g_ptr_array_add(argv, g_strdup("-append"));
    g_ptr_array_add(argv, g_strdup(append));
    for (; extra && *extra; extra++) {
        g_ptr_array_add(argv, subst(v, *extra));
    }
    /* The --vmm-arg words (e.g. -sandbox on) come last. */
    for (unsigned i = 0; i < nr_args; i++) {
        g_ptr_array_add(argv, g_strdup(args[i]));
    }
    g_ptr_array_add(argv, NULL);
    if (g_test_verbose()) {
        g_autofree char *cmd = g_strjoinv(" ", (char **)argv->pdata);

        g_test_message("$ %s", cmd);
    }
    g_assert_true(g_spawn_async_with_pipes(
        NULL, (char **)argv->pdata, NULL,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
            (stdin_pipe ? 0 : G_SPAWN_STDIN_FROM_DEV_NULL),
        NULL, NULL, &v->pid, stdin_pipe ? &v->in_fd : NULL, &v->out_fd,
        &v->err_fd, &e));
    g_assert_no_error(e);
    g_ptr_array_free(argv, TRUE);
    g_assert_cmpint(fcntl(v->out_fd, F_SETFL, O_NONBLOCK), ==, 0);
    g_assert_cmpint(fcntl(v->err_fd, F_SETFL, O_NONBLOCK), ==, 0);
    v->out = g_string_new(NULL);
    v->err = g_string_new(NULL);
}

void qvm_start_qmp(struct qvm *v, struct qclient *c, const char *vmm,
                   const char *guest, const char *append,
                   const char *const *extra)
{
    GPtrArray *a = g_ptr_array_new();

    g_ptr_array_add(a, (char *)"-serial");
    g_ptr_array_add(a, (char *)"stdio");
    g_ptr_array_add(a, (char *)"-qmp");
    g_ptr_array_add(a, (char *)"unix:@SOCK@,server=on,wait=off");
    for (; extra && *extra; extra++) {
        g_ptr_array_add(a, (char *)*extra);
    }
    g_ptr_array_add(a, NULL);
    qvm_start(v, vmm, guest, append, (const char *const *)a->pdata, false);
    g_ptr_array_free(a, TRUE);
    qclient_connect(c, v->sock);
}

static void drain_fd(int fd, GString *s)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(s, buf, n);
    }
}

void qvm_drain(struct qvm *v)
{
    drain_fd(v->out_fd, v->out);
    drain_fd(v->err_fd, v->err);
}

unsigned qvm_count(struct qvm *v, const char *text)
{
    unsigned n = 0;

    qvm_drain(v);
    for (const char *p = v->out->str; (p = strstr(p, text)); p++) {
        n++;
    }
    return n;
}

void qvm_wait_output(struct qvm *v, const char *text, unsigned count)
{
    int64_t deadline = harness_now_ns() + WAIT_NS;

    while (qvm_count(v, text) < count) {
        if (harness_now_ns() > deadline) {
            qvm_show(v);
            g_test_message("console never showed \"%s\" %u times", text, count);
            harness_watchdog_expired(__FILE__, __LINE__, text, WAIT_NS);
        }
        g_usleep(2000);
    }
}

static void drain_step(void *opaque)
{
    qvm_drain(opaque);
}

int qvm_wait(struct qvm *v)
{
    if (!v->exited) {
        int st = harness_wait_child(v->pid, WAIT_NS, drain_step, v);

        v->exited = true;
        v->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    qvm_drain(v);
    return v->status;
}

void qvm_show(struct qvm *v)
{
    qvm_drain(v);
    g_test_message("console:\n%s\nmessages:\n%s\n%s %d", v->out->str,
                   v->err->str, v->exited ? "exit status" : "running, pid",
                   v->exited ? v->status : v->pid);
}

void qvm_destroy(struct qvm *v)
{
    if (!v->exited) {
        kill(v->pid, SIGKILL);
        (void)qvm_wait(v);
    }
    g_spawn_close_pid(v->pid);
    if (v->in_fd >= 0) {
        close(v->in_fd);
    }
    close(v->out_fd);
    close(v->err_fd);
    g_string_free(v->out, TRUE);
    g_string_free(v->err, TRUE);
    {
        GDir *d = g_dir_open(v->dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(v->dir, name, NULL);

            g_unlink(p);
        }
        if (d) {
            g_dir_close(d);
        }
    }
    g_rmdir(v->dir);
    g_free(v->dir);
    g_free(v->sock);
}
