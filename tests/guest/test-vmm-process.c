/* SPDX-License-Identifier: MIT */
/*
 * The monitor as a process, the same for loom-vm and QEMU microvm (VMM.md,
 * "Command line"): -version, an unknown option or a bad kernel (one line
 * on stderr naming it, exit 1, nothing started), -pidfile (holds the pid
 * while running, locked against a second instance, removed at exit),
 * SIGTERM and SIGINT ("terminating on signal N", exit 0), -S (no guest
 * code runs until cont); and the run states (docs/design/vmm.md, "Run
 * states and exits") with the lifecycle guest: triple fault and i8042
 * reset with and without -no-reboot and -no-shutdown, a guest that idles
 * or spins for good.  QEMU microvm has no i8042, so there the guest
 * reports the reset ignored.
 *
 *   test-vmm-process --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "guest-run.h"
#include "harness.h"

/* The watchdog of a monitor's run and of its output. */
#define WAIT_NS (3 * HARNESS_WATCHDOG_NS)

static const char *g_vmm;

struct proc {
    GPid pid;
    int out_fd, err_fd;
    GString *out, *err;
    int status; /* exit status, or 128 + signal */
};

/*
 * The shared command line of both monitors, with @extra appended, then
 * the --vmm-arg words (e.g. -sandbox on); -no-reboot unless @reboot.
 */
static GPtrArray *argv_for(const char *kernel, bool reboot,
                           const char *const *extra)
{
    unsigned nr_args;
    char *const *args = guest_run_vmm_args(&nr_args);
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    const char *const base[] = {
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
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit",
        "-global",
        "virtio-mmio.force-legacy=off",
    };

    g_ptr_array_add(a, g_strdup(g_vmm));
    for (size_t i = 0; i < G_N_ELEMENTS(base); i++) {
        g_ptr_array_add(a, g_strdup(base[i]));
    }
    g_ptr_array_add(a, g_strdup("-cpu"));
    g_ptr_array_add(a, g_strdup(guest_run_cpu()));
    if (!reboot) {
        g_ptr_array_add(a, g_strdup("-no-reboot"));
    }
    if (kernel) {
        g_ptr_array_add(a, g_strdup("-kernel"));
        g_ptr_array_add(a, g_strdup(kernel));
    }
    for (; extra && *extra; extra++) {
        g_ptr_array_add(a, g_strdup(*extra));
    }
    for (unsigned i = 0; i < nr_args; i++) {
        g_ptr_array_add(a, g_strdup(args[i]));
    }
    g_ptr_array_add(a, NULL);
    return a;
}

static GPtrArray *base_argv(const char *kernel, const char *const *extra)
{
    return argv_for(kernel, false, extra);
}

static void proc_start(struct proc *p, const char *const *argv)
{
    GError *e = NULL;

    memset(p, 0, sizeof(*p));
    g_assert_true(g_spawn_async_with_pipes(
        NULL, (char **)argv, NULL,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL, &p->pid,
        NULL, &p->out_fd, &p->err_fd, &e));
    g_assert_no_error(e);
    p->out = g_string_new(NULL);
    p->err = g_string_new(NULL);
}

static void drain(int fd, GString *s)
{
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(s, buf, n);
    }
}

/* Wait for the process (at most 60 s, then SIGKILL) and collect output. */
static void proc_wait(struct proc *p)
{
    int st = harness_wait_child(p->pid, WAIT_NS, NULL, NULL);

    drain(p->out_fd, p->out);
    drain(p->err_fd, p->err);
    close(p->out_fd);
    close(p->err_fd);
    g_spawn_close_pid(p->pid);
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void proc_clear(struct proc *p)
{
    g_string_free(p->out, TRUE);
    g_string_free(p->err, TRUE);
}

static void proc_show(const struct proc *p)
{
    g_test_message("status %d\nstdout:\n%s\nstderr:\n%s", p->status,
                   p->out->str, p->err->str);
}

/* Run to completion. */
static void run(struct proc *p, const char *kernel, const char *const *extra)
{
    g_autoptr(GPtrArray) a = base_argv(kernel, extra);

    proc_start(p, (const char *const *)a->pdata);
    proc_wait(p);
    proc_show(p);
}

static char *hello(void)
{
    return g_build_filename(guest_run_dir(), "hello.elf", NULL);
}

/* How many times @text occurs in @s. */
static unsigned count_of(const char *s, const char *text)
{
    unsigned n = 0;

    for (const char *p = strstr(s, text); p; p = strstr(p + 1, text)) {
        n++;
    }
    return n;
}

/* Read what stdout holds now, without waiting. */
static void read_ready(struct proc *p)
{
    int fl = fcntl(p->out_fd, F_GETFL);
    char buf[4096];
    ssize_t n;

    g_assert_cmpint(fcntl(p->out_fd, F_SETFL, fl | O_NONBLOCK), ==, 0);
    while ((n = read(p->out_fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(p->out, buf, n);
    }
    g_assert_cmpint(fcntl(p->out_fd, F_SETFL, fl), ==, 0);
}

/*
 * Wait until the process printed @text on stdout @times times (at most
 * 60 s).
 */
static void wait_for_count(struct proc *p, const char *text, unsigned times)
{
    int64_t deadline = harness_now_ns() + WAIT_NS;

    for (;;) {
        read_ready(p);
        if (count_of(p->out->str, text) >= times) {
            return;
        }
        if (harness_now_ns() > deadline) {
            proc_show(p);
            g_test_message("waited for \"%s\" %u times", text, times);
            harness_watchdog_expired(__FILE__, __LINE__, text, WAIT_NS);
        }
        g_usleep(5000);
    }
}

/* Wait until the process printed @text on stdout (at most 60 s). */
static void wait_for_output(struct proc *p, const char *text)
{
    wait_for_count(p, text, 1);
}

/* Whether @path exists with content. */
static bool file_has_content(const char *path)
{
    g_autofree gchar *text = NULL;

    return g_file_get_contents(path, &text, NULL, NULL) && text[0];
}

/* Wait until @path exists with content (at most 40 s). */
static void wait_for_file(const char *path)
{
    STEP_UNTIL_NS(file_has_content(path), g_usleep(5000),
                  2 * HARNESS_WATCHDOG_NS);
}

/* ------------------------------------------------------------------ */

static void test_version(void)
{
    const char *const extra[] = {"-version", NULL};
    struct proc p;
    g_autoptr(GPtrArray) a = g_ptr_array_new();

    g_ptr_array_add(a, (char *)g_vmm);
    g_ptr_array_add(a, (char *)extra[0]);
    g_ptr_array_add(a, NULL);
    proc_start(&p, (const char *const *)a->pdata);
    proc_wait(&p);
    proc_show(&p);
    g_assert_cmpint(p.status, ==, 0);
    g_assert_nonnull(strstr(p.out->str, "version"));
    proc_clear(&p);
}

/* One line on stderr naming @needle, exit 1, no guest output. */
static void expect_refusal(const struct proc *p, const char *needle)
{
    const char *nl = strchr(p->err->str, '\n');

    g_assert_cmpint(p->status, ==, 1);
    g_assert_nonnull(strstr(p->err->str, needle));
    g_assert_nonnull(nl);
    g_assert_true(nl[1] == '\0'); /* exactly one line */
    g_assert_cmpuint(p->out->len, ==, 0);
}

static void test_unknown_option(void)
{
    g_autofree char *k = hello();
    const char *const extra[] = {"-loom-no-such-option", NULL};
    struct proc p;

    run(&p, k, extra);
    expect_refusal(&p, "-loom-no-such-option");
    proc_clear(&p);
}

static void test_missing_kernel(void)
{
    const char *const extra[] = {"-kernel", "/nonexistent/loom-kernel", NULL};
    struct proc p;

    run(&p, NULL, extra);
    expect_refusal(&p, "/nonexistent/loom-kernel");
    proc_clear(&p);
}

/* An ELF without the PVH note (this test program) is no PVH kernel. */
static void test_not_pvh(void)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    struct proc p;

    g_assert_nonnull(self);
    run(&p, self, NULL);
    g_assert_cmpint(p.status, ==, 1);
    g_assert_cmpuint(p.out->len, ==, 0);
    proc_clear(&p);
}

/*
 * -pidfile: the pid file names the process while it runs; a second
 * instance on the same pid file refuses to start; the file is gone after
 * exit.  With -S the guest prints nothing: no guest code ran.
 */
static void test_pidfile(void)
{
    g_autofree char *dir = g_dir_make_tmp("loom-vmm-XXXXXX", NULL);
    g_autofree char *pidfile = g_build_filename(dir, "vm.pid", NULL);
    g_autofree char *k = hello();
    const char *const extra[] = {"-S", "-pidfile", pidfile, NULL};
    g_autoptr(GPtrArray) a = base_argv(k, extra);
    gchar *text = NULL;
    struct proc p, second;

    g_assert_nonnull(dir);
    proc_start(&p, (const char *const *)a->pdata);
    wait_for_file(pidfile);
    g_assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    g_assert_cmpint(atoi(text), ==, p.pid);
    g_free(text);

    run(&second, k, extra);
    g_assert_cmpint(second.status, ==, 1);
    g_assert_cmpuint(second.out->len, ==, 0);
    proc_clear(&second);

    /* QEMU writes the pid file before it handles signals, so an orderly
     * end cannot be asked for yet; the signal cases check that part. */
    g_assert_cmpint(kill(p.pid, SIGKILL), ==, 0);
    proc_wait(&p);
    g_assert_cmpuint(p.out->len, ==, 0);
    proc_clear(&p);
    g_unlink(pidfile);
    g_rmdir(dir);
}

/*
 * Guest RAM is 2 MiB aligned and eligible for transparent huge pages (QEMU
 * maps its RAM so too), so that KVM can map the guest with 2 MiB pages: on
 * 4 KiB pages a Linux boot here takes ~20,000 more exits.  Checked in the
 * running monitor's /proc/PID/smaps, for the mapping of -m 128.
 */
static void test_ram_hugepages(void)
{
    g_autofree char *dir = g_dir_make_tmp("loom-vmm-XXXXXX", NULL);
    g_autofree char *pidfile = g_build_filename(dir, "vm.pid", NULL);
    g_autofree char *k = hello();
    g_autofree char *thp = NULL, *text = NULL, *path = NULL, *last = NULL;
    const char *const extra[] = {"-S", "-pidfile", pidfile, NULL};
    g_autoptr(GPtrArray) a = NULL;
    bool found = false;
    struct proc p;

    if (!g_file_get_contents("/sys/kernel/mm/transparent_hugepage/enabled",
                             &thp, NULL, NULL) ||
        strstr(thp, "[never]")) {
        g_test_skip("transparent huge pages are off on this host");
        return;
    }
    a = base_argv(k, extra);
    proc_start(&p, (const char *const *)a->pdata);
    wait_for_file(pidfile);
    g_assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    g_assert_cmpint(atoi(text), ==, p.pid);
    /* QEMU writes its pid file before it maps guest RAM: look again. */
    path = g_strdup_printf("/proc/%d/smaps", p.pid);
    for (int tries = 0; !found && tries < 500; tries++) {
        g_autofree char *smaps = NULL;
        g_auto(GStrv) lines = NULL;
        unsigned long start = 0, end = 0;

        g_usleep(tries ? 20000 : 0);
        g_assert_true(g_file_get_contents(path, &smaps, NULL, NULL));
        lines = g_strsplit(smaps, "\n", -1);
        for (char **l = lines; *l; l++) {
            unsigned long s0, e0;

            if (sscanf(*l, "%lx-%lx ", &s0, &e0) == 2) {
                start = s0;
                end = e0;
            } else if (g_str_has_prefix(*l, "THPeligible:") &&
                       end - start == 128ul << 20) {
                g_assert_cmpuint(start % (2ul << 20), ==, 0);
                /*
                 * The mapping may be seen between its mmap() and its
                 * madvise(): look again until it turns eligible.
                 */
                g_free(last);
                last = g_strdup_printf("guest RAM at %#lx: %s", start, *l);
                found = strstr(*l, "1") != NULL;
            }
        }
    }
    g_test_message("%s", last ? last : "no 128 MiB mapping seen");
    g_assert_true(found);
    g_assert_cmpint(kill(p.pid, SIGKILL), ==, 0);
    proc_wait(&p);
    proc_clear(&p);
    g_unlink(pidfile);
    g_rmdir(dir);
}

/*
 * @sig ends a running VM in order: status 0, QEMU's message, the pid file
 * removed.  The smp guest waiting for a CPU that never comes says when it
 * runs.
 */
static void check_signal(int sig)
{
    g_autofree char *dir = g_dir_make_tmp("loom-vmm-XXXXXX", NULL);
    g_autofree char *pidfile = g_build_filename(dir, "vm.pid", NULL);
    g_autofree char *k = g_build_filename(guest_run_dir(), "smp.elf", NULL);
    g_autofree char *want = g_strdup_printf("terminating on signal %d", sig);
    const char *const extra[] = {"-pidfile", pidfile, "-append",
                                 "cpus=2 ap_timeout_ms=120000", NULL};
    g_autoptr(GPtrArray) a = base_argv(k, extra);
    struct proc p;

    g_assert_nonnull(dir);
    proc_start(&p, (const char *const *)a->pdata);
    wait_for_output(&p, "smp: expecting 2 CPUs");
    g_assert_cmpint(kill(p.pid, sig), ==, 0);
    proc_wait(&p);
    proc_show(&p);
    g_assert_cmpint(p.status, ==, 0);
    g_assert_nonnull(strstr(p.err->str, want));
    g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
    proc_clear(&p);
    g_rmdir(dir);
}

/*
 * -x-loom-summary is loom-vm's own: it reports what ran after the guest's
 * last line; QEMU refuses the option like any unknown one.
 */
static void test_summary(void)
{
    g_autofree char *k = hello();
    const char *const extra[] = {"-x-loom-summary", "-smp", "2", "-object",
                                 "iothread,id=io0", NULL};
    struct proc p;

    run(&p, k, extra);
    if (!strstr(g_vmm, "loom-vm")) {
        expect_refusal(&p, "-x-loom-summary");
        proc_clear(&p);
        return;
    }
    g_assert_cmpint(p.status, ==, GUEST_EXIT_PASS);
    g_assert_nonnull(strstr(p.out->str, "hello: done"));
    g_assert_nonnull(strstr(p.err->str, "loom-vm summary"));
    g_assert_nonnull(strstr(p.err->str, "first guest console byte: "));
    g_assert_nonnull(strstr(p.err->str, "main (main loop, BQL)"));
    g_assert_nonnull(strstr(p.err->str, "vcpu-0 (tid "));
    g_assert_nonnull(strstr(p.err->str, "vcpu-1 (tid "));
    g_assert_nonnull(strstr(p.err->str, "iothread io0"));
    proc_clear(&p);
}

static void test_sigterm(void)
{
    check_signal(SIGTERM);
}

static void test_sigint(void)
{
    check_signal(SIGINT);
}

/* ------------------------------------------------------------------ */
/* Run states: the lifecycle guest's triple fault, i8042 reset and idle */
/* ------------------------------------------------------------------ */

/*
 * How long a VM that should stay up (stopped, idle or spinning) is
 * watched before it is told to end: long enough for a monitor that wrongly
 * exits to have done so on a loaded host.
 */
#define ALIVE_CHECK_US (1500 * 1000)

static bool is_loom_vm(void)
{
    return strstr(g_vmm, "loom-vm") != NULL;
}

/* Start the lifecycle guest with @append; -no-reboot unless @reboot. */
static void lifecycle_start(struct proc *p, bool reboot, const char *append,
                            const char *const *extra)
{
    g_autofree char *k =
        g_build_filename(guest_run_dir(), "lifecycle.elf", NULL);
    g_autoptr(GPtrArray) a = NULL;
    GPtrArray *x = g_ptr_array_new();

    g_ptr_array_add(x, (char *)"-append");
    g_ptr_array_add(x, (char *)append);
    for (; extra && *extra; extra++) {
        g_ptr_array_add(x, (char *)*extra);
    }
    g_ptr_array_add(x, NULL);
    a = argv_for(k, reboot, (const char *const *)x->pdata);
    g_ptr_array_free(x, true);
    proc_start(p, (const char *const *)a->pdata);
}

/* The console, trailing blanks cut: what the guest printed last. */
static bool output_ends_with(const struct proc *p, const char *line)
{
    g_autofree char *out = g_strchomp(g_strdup(p->out->str));

    return g_str_has_suffix(out, line);
}

/* The process is still running after ALIVE_CHECK_US. */
static void expect_alive(struct proc *p)
{
    int st;

    g_usleep(ALIVE_CHECK_US);
    read_ready(p);
    if (waitpid(p->pid, &st, WNOHANG) != 0) {
        p->pid = 0;
        proc_show(p);
        g_test_message("the monitor exited (wait status %#x)", st);
        g_assert_not_reached();
    }
}

/* SIGTERM ends it in order: status 0, QEMU's message. */
static void terminate(struct proc *p)
{
    g_assert_cmpint(kill(p->pid, SIGTERM), ==, 0);
    proc_wait(p);
    proc_show(p);
    g_assert_cmpint(p->status, ==, 0);
    g_assert_nonnull(strstr(p->err->str, "terminating on signal 15"));
}

/* Without a reset request the guest just runs: the first boot of its RAM. */
static void test_lifecycle_exit(void)
{
    struct proc p;

    lifecycle_start(&p, false, "action=exit", NULL);
    proc_wait(&p);
    proc_show(&p);
    g_assert_cmpint(p.status, ==, GUEST_EXIT_PASS);
    g_assert_nonnull(strstr(p.out->str, "lifecycle: boot 1\n"));
    g_assert_nonnull(strstr(p.out->str, "lifecycle: done\n"));
    proc_clear(&p);
}

/*
 * A request the monitor obeys under -no-reboot: SHUTDOWN, exit 0, and the
 * guest never printed another line.
 */
static void expect_guest_reset_exit(const char *append, const char *line)
{
    struct proc p;

    lifecycle_start(&p, false, append, NULL);
    proc_wait(&p);
    proc_show(&p);
    g_assert_cmpint(p.status, ==, 0);
    g_assert_cmpuint(count_of(p.out->str, "lifecycle: boot"), ==, 1);
    g_assert_true(output_ends_with(&p, line));
    proc_clear(&p);
}

/*
 * A request the monitor obeys, without -no-reboot: the guest boots again.
 * loom-vm clears RAM on a reset (docs/design/vmm.md), QEMU keeps it, which
 * the guest's boot count shows.  SIGTERM then ends the reset loop.
 */
static void expect_guest_reboots(const char *append, const char *line)
{
    struct proc p;

    lifecycle_start(&p, true, append, NULL);
    wait_for_count(&p, line, 2);
    g_assert_nonnull(strstr(p.out->str, "lifecycle: boot 1\n"));
    if (is_loom_vm()) {
        g_assert_cmpuint(count_of(p.out->str, "lifecycle: boot 1\n"), >=, 2);
        g_assert_null(strstr(p.out->str, "lifecycle: boot 2\n"));
    } else {
        g_assert_nonnull(strstr(p.out->str, "lifecycle: boot 2\n"));
    }
    g_assert_null(strstr(p.out->str, "still running"));
    terminate(&p);
    proc_clear(&p);
}

/*
 * -no-reboot -no-shutdown: the VM stops in "shutdown" and the monitor
 * stays up (QMP would see it) until it is told to end.
 */
static void expect_guest_stops(const char *append, const char *line)
{
    const char *const extra[] = {"-no-shutdown", NULL};
    struct proc p;

    lifecycle_start(&p, false, append, extra);
    wait_for_output(&p, line);
    expect_alive(&p);
    g_assert_cmpuint(count_of(p.out->str, "lifecycle: boot"), ==, 1);
    g_assert_true(output_ends_with(&p, line));
    terminate(&p);
    proc_clear(&p);
}

#define TRIPLE "action=triple-fault delay_ms=100"
#define I8042 "action=i8042 delay_ms=100 wait_ms=1000"

static void test_triple_fault(void)
{
    expect_guest_reset_exit(TRIPLE, "lifecycle: triple fault");
}

static void test_triple_fault_reboot(void)
{
    expect_guest_reboots(TRIPLE, "lifecycle: triple fault");
}

static void test_triple_fault_no_shutdown(void)
{
    expect_guest_stops(TRIPLE, "lifecycle: triple fault");
}

/*
 * QEMU microvm has no i8042 and ignores the write: the guest keeps running
 * and reports it, whatever -no-reboot and -no-shutdown say.
 */
static void expect_i8042_ignored(bool reboot, const char *const *extra)
{
    struct proc p;

    lifecycle_start(&p, reboot, I8042, extra);
    proc_wait(&p);
    proc_show(&p);
    g_assert_cmpint(p.status, ==, GUEST_EXIT_FAIL);
    g_assert_cmpuint(count_of(p.out->str, "lifecycle: boot"), ==, 1);
    g_assert_true(output_ends_with(
        &p, "lifecycle: still running 1000 ms after the i8042 reset"));
    proc_clear(&p);
}

/* loom-vm serves the i8042 reset command as a reset (docs/design/vmm.md). */
static void test_i8042(void)
{
    if (!is_loom_vm()) {
        expect_i8042_ignored(false, NULL);
        return;
    }
    expect_guest_reset_exit(I8042, "lifecycle: i8042 reset");
}

static void test_i8042_reboot(void)
{
    if (!is_loom_vm()) {
        expect_i8042_ignored(true, NULL);
        return;
    }
    expect_guest_reboots(I8042, "lifecycle: i8042 reset");
}

static void test_i8042_no_shutdown(void)
{
    const char *const extra[] = {"-no-shutdown", NULL};

    if (!is_loom_vm()) {
        expect_i8042_ignored(false, extra);
        return;
    }
    expect_guest_stops(I8042, "lifecycle: i8042 reset");
}

/* A guest that halts or spins for good keeps the monitor up until SIGTERM. */
static void check_alive(const void *data)
{
    const char *action = data;
    g_autofree char *append = g_strdup_printf("action=%s", action);
    g_autofree char *line = g_strdup_printf("lifecycle: %s", action);
    struct proc p;

    lifecycle_start(&p, false, append, NULL);
    wait_for_output(&p, line);
    expect_alive(&p);
    g_assert_true(output_ends_with(&p, line));
    terminate(&p);
    proc_clear(&p);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            g_vmm = argv[i] + strlen("--vmm=");
        }
    }
    guest_run_init(&argc, &argv);
    g_test_add_func("/vmm-process/version", test_version);
    g_test_add_func("/vmm-process/unknown-option", test_unknown_option);
    g_test_add_func("/vmm-process/missing-kernel", test_missing_kernel);
    g_test_add_func("/vmm-process/not-pvh", test_not_pvh);
    g_test_add_func("/vmm-process/pidfile", test_pidfile);
    g_test_add_func("/vmm-process/ram-hugepages", test_ram_hugepages);
    g_test_add_func("/vmm-process/summary", test_summary);
    g_test_add_func("/vmm-process/sigterm", test_sigterm);
    g_test_add_func("/vmm-process/sigint", test_sigint);
    g_test_add_func("/vmm-process/lifecycle/exit", test_lifecycle_exit);
    g_test_add_func("/vmm-process/lifecycle/triple-fault", test_triple_fault);
    g_test_add_func("/vmm-process/lifecycle/triple-fault-reboot",
                    test_triple_fault_reboot);
    g_test_add_func("/vmm-process/lifecycle/triple-fault-no-shutdown",
                    test_triple_fault_no_shutdown);
    g_test_add_func("/vmm-process/lifecycle/i8042", test_i8042);
    g_test_add_func("/vmm-process/lifecycle/i8042-reboot", test_i8042_reboot);
    g_test_add_func("/vmm-process/lifecycle/i8042-no-shutdown",
                    test_i8042_no_shutdown);
    g_test_add_data_func("/vmm-process/lifecycle/idle", "idle", check_alive);
    g_test_add_data_func("/vmm-process/lifecycle/spin", "spin", check_alive);
    return g_test_run();
}
