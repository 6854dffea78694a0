/* SPDX-License-Identifier: MIT */
/*
 * Boots the bundled guests (guest/) on a machine monitor and checks their
 * console output and exit status: hello, smp and sdk-test on 1, 2 and 4
 * vCPUs, and the SDK's failure paths (panic, assert, CPU exception, bad
 * argument, missing CPUs) with their documented statuses.
 *
 *   test-guest-boot --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 *
 * PATH is qemu-system-x86_64 or loom-vm (a name is looked up in $PATH);
 * both take the same command line (VMM.md).  Every case is skipped when
 * the monitor or a usable /dev/kvm is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "harness.h"

/* Exit statuses: (value << 1) | 1 for the SDK's enum sdk_exit values. */
#define EXIT_PASS 33
#define EXIT_FAIL 35
#define EXIT_PANIC 37
#define EXIT_TRAP 39
#define EXIT_USAGE 41

#define BOOT_TIMEOUT_S 120

static const char *vmm_name;
static char *vmm_path;
static const char *guest_dir;
static GPtrArray *vmm_args;

struct boot {
    int status; /* exit status, or 128 + signal */
    char *out;  /* the guest's console (stdout) */
    char *err;  /* the monitor's own messages */
    char *cmd;  /* the command line, for messages */
};

static void boot_clear(struct boot *b)
{
    g_free(b->out);
    g_free(b->err);
    g_free(b->cmd);
}

/* Read what is ready on @fd into @s; false at end of file. */
static bool drain(int fd, GString *s)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n > 0) {
        g_string_append_len(s, buf, n);
        return true;
    }
    return n < 0 && (errno == EINTR || errno == EAGAIN);
}

/* Run @argv with stdin from /dev/null, collecting stdout and stderr. */
static void run(char **argv, struct boot *b)
{
    GString *out = g_string_new(NULL), *err = g_string_new(NULL);
    int po[2], pe[2], st = 0;
    int64_t deadline = harness_now_ns() + BOOT_TIMEOUT_S * 1000000000ll;
    struct pollfd fds[2];
    pid_t pid;

    g_assert_cmpint(pipe2(po, O_CLOEXEC), ==, 0);
    g_assert_cmpint(pipe2(pe, O_CLOEXEC), ==, 0);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);

        if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 ||
            dup2(pe[1], 2) < 0) {
            _exit(127);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    fds[0] = (struct pollfd){.fd = po[0], .events = POLLIN};
    fds[1] = (struct pollfd){.fd = pe[0], .events = POLLIN};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        int64_t left = deadline - harness_now_ns();

        if (left <= 0) {
            kill(pid, SIGKILL);
            g_string_append(err, "\n[test: timed out, killed]\n");
            break;
        }
        if (poll(fds, 2, (int)(left / 1000000 + 1)) < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd >= 0 && fds[i].revents &&
                !drain(fds[i].fd, i ? err : out)) {
                close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd >= 0) {
            close(fds[i].fd);
        }
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    b->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    b->out = g_string_free(out, false);
    b->err = g_string_free(err, false);
}

/*
 * boot() - boot guest @name on @cpus vCPUs with command line @append,
 * using the command line shared by every monitor (VMM.md).
 */
static void boot(const char *name, unsigned cpus, const char *append,
                 struct boot *b)
{
    g_autofree char *kernel = g_strdup_printf("%s/%s.elf", guest_dir, name);
    g_autofree char *smp = g_strdup_printf("%u", cpus);
    GPtrArray *argv = g_ptr_array_new();
    char *fixed[] = {
        vmm_path,      "-M",           "microvm,acpi=off",
        "-enable-kvm", "-cpu",         "host",
        "-m",          "128",          "-smp",
        smp,           "-nodefaults",  "-no-user-config",
        "-display",    "none",         "-serial",
        "stdio",       "-device",      "isa-debug-exit",
        "-no-reboot",  "-kernel",      kernel,
        "-append",     (char *)append,
    };

    memset(b, 0, sizeof(*b));
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++) {
        g_ptr_array_add(argv, fixed[i]);
    }
    for (guint i = 0; i < vmm_args->len; i++) {
        g_ptr_array_add(argv, vmm_args->pdata[i]);
    }
    g_ptr_array_add(argv, NULL);
    b->cmd = g_strjoinv(" ", (char **)argv->pdata);
    run((char **)argv->pdata, b);
    g_ptr_array_free(argv, true);
    if (g_test_verbose()) {
        g_test_message("$ %s\n%s%s[exit %d]", b->cmd, b->out, b->err,
                       b->status);
    }
}

/* On failure: print the whole boot before the assertion fires. */
static void show(const struct boot *b)
{
    g_test_message("$ %s", b->cmd);
    g_test_message("console:\n%s", b->out);
    g_test_message("monitor stderr:\n%s", b->err);
    g_test_message("exit status %d", b->status);
}

static void expect_status(const struct boot *b, int status)
{
    if (b->status != status) {
        show(b);
    }
    g_assert_cmpint(b->status, ==, status);
}

/*
 * The first console line that starts with @prefix (the whole line when
 * @exact), or NULL.
 */
static const char *find(const struct boot *b, const char *prefix, bool exact)
{
    size_t n = strlen(prefix);

    for (const char *p = b->out; p && *p;) {
        if (strncmp(p, prefix, n) == 0 &&
            (!exact || p[n] == '\n' || p[n] == '\r' || p[n] == '\0')) {
            return p;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

static const char *find_line(const struct boot *b, const char *prefix)
{
    return find(b, prefix, false);
}

static void expect(const struct boot *b, const char *text, bool exact,
                   bool present)
{
    if ((find(b, text, exact) != NULL) != present) {
        show(b);
        g_test_message("%s console line %s \"%s\"",
                       present ? "missing" : "unexpected",
                       exact ? "" : "starting", text);
        g_assert_not_reached();
    }
}

static void expect_line(const struct boot *b, const char *line)
{
    expect(b, line, true, true);
}

static void expect_prefix(const struct boot *b, const char *prefix)
{
    expect(b, prefix, false, true);
}

static void expect_no_prefix(const struct boot *b, const char *prefix)
{
    expect(b, prefix, false, false);
}

static unsigned case_cpus(const void *data)
{
    return GPOINTER_TO_UINT(data);
}

/* ------------------------------------------------------------------ */

static void test_hello(const void *data)
{
    unsigned cpus = case_cpus(data);
    g_autofree char *want =
        g_strdup_printf("cpus: %u (expected %u)", cpus, cpus);
    struct boot b;
    const char *ram;
    unsigned long kib;

    boot("hello", cpus, "greeting=hi answer=42 bare", &b);
    expect_status(&b, EXIT_PASS);
    expect_line(&b, "loom micro-guest: hello");
    expect_line(&b, want);
    expect_line(&b, "cmdline: greeting=hi answer=42 bare");
    expect_line(&b, "  arg 0: greeting = \"hi\"");
    expect_line(&b, "  arg 1: answer = \"42\"");
    expect_line(&b, "  arg 2: bare = \"\"");
    /* RAM from 1 MiB to the end of -m 128, as both monitors lay it out. */
    expect_line(&b, "  base 0x0000000000100000 size 0x0000000007f00000 "
                    "type 1 (RAM)");
    ram = find_line(&b, "ram: ");
    g_assert_nonnull(ram);
    kib = strtoul(ram + 5, NULL, 10);
    g_assert_cmpuint(kib, >=, 127 * 1024);
    g_assert_cmpuint(kib, <=, 128 * 1024);
    expect_line(&b, "hello: done");
    boot_clear(&b);
}

static void test_smp(const void *data)
{
    unsigned cpus = case_cpus(data);
    g_autofree char *summary = g_strdup_printf(
        "smp: %u of %u CPUs reported in (%u online)", cpus, cpus, cpus);
    g_autoptr(GHashTable) apics =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    struct boot b;

    boot("smp", cpus, "", &b);
    expect_status(&b, EXIT_PASS);
    for (unsigned i = 0; i < cpus; i++) {
        g_autofree char *prefix = g_strdup_printf("cpu %u: apic ", i);
        const char *line = find_line(&b, prefix);
        g_autofree char *apic = NULL;

        if (!line) {
            show(&b);
        }
        g_assert_nonnull(line);
        apic = g_strndup(line + strlen(prefix),
                         strcspn(line + strlen(prefix), "\n"));
        g_assert_false(g_hash_table_contains(apics, apic));
        g_hash_table_add(apics, g_steal_pointer(&apic));
    }
    expect_line(&b, summary);
    expect_line(&b, "smp: PASS");
    boot_clear(&b);
}

static void test_smp_missing_cpu(void)
{
    struct boot b;

    boot("smp", 2, "cpus=3 ap_timeout_ms=500", &b);
    expect_status(&b, EXIT_FAIL);
    expect_line(&b, "smp: 2 of 3 CPUs reported in (2 online)");
    expect_line(&b, "smp: FAIL: CPU count");
    expect_line(&b, "smp: FAIL");
    boot_clear(&b);
}

#define SDK_TEST_ARGS "alpha=1 beta= gamma flag=off num=0x10 dup=a dup=b"

/* The cases sdk-test runs on any number of CPUs. */
static const char *const sdk_cases[] = {
    "printf",   "parse", "cmdline", "strings",
    "spinlock", "time",  "msr",     "self-ipi",
};

static void test_sdk(const void *data)
{
    unsigned cpus = case_cpus(data);
    struct boot b;

    boot("sdk-test", cpus, SDK_TEST_ARGS, &b);
    expect_status(&b, EXIT_PASS);
    expect_no_prefix(&b, "FAIL");
    for (size_t i = 0; i < G_N_ELEMENTS(sdk_cases); i++) {
        g_autofree char *line = g_strdup_printf("PASS %s", sdk_cases[i]);

        expect_line(&b, line);
    }
    if (cpus > 1) {
        expect_line(&b, "PASS ipi-wake");
    }
    expect_line(&b, "sdk-test: 0 failed");
    boot_clear(&b);
}

/* Its checks can fail: without the expected words, "cmdline" does. */
static void test_sdk_fails(void)
{
    struct boot b;

    boot("sdk-test", 1, "alpha=2", &b);
    expect_status(&b, EXIT_FAIL);
    expect_prefix(&b, "FAIL cmdline: ");
    expect_line(&b, "PASS printf");
    expect_line(&b, "sdk-test: 1 failed");
    boot_clear(&b);
}

/* "tsc: N kHz (source)" from hello. */
static unsigned long hello_tsc_khz(const char *append, const char **source)
{
    struct boot b;
    const char *line;
    unsigned long khz;
    char *end;

    boot("hello", 1, append, &b);
    expect_status(&b, EXIT_PASS);
    line = find_line(&b, "tsc: ");
    g_assert_nonnull(line);
    khz = strtoul(line + 5, &end, 10);
    *source = strstr(end, "(kvmclock)") == end + 5 ? "kvmclock" : "pit";
    g_assert_true(g_str_has_prefix(end, " kHz ("));
    boot_clear(&b);
    return khz;
}

/* The PIT calibration agrees with kvmclock's exact figure within 1%. */
static void test_clock_sources(void)
{
    const char *dflt, *pit;
    unsigned long a = hello_tsc_khz("smp=off", &dflt);
    unsigned long b = hello_tsc_khz("smp=off sdk.clock=pit", &pit);

    g_assert_cmpstr(pit, ==, "pit");
    g_assert_cmpuint(b, >, 100000);
    if (strcmp(dflt, "kvmclock") != 0) {
        g_test_message("the monitor offers no kvmclock: PIT only");
        return;
    }
    g_assert_cmpuint(b, >=, a - a / 100);
    g_assert_cmpuint(b, <=, a + a / 100);
}

struct failure_case {
    const char *append;
    int status;
    const char *line; /* a console line starting with this */
};

static void test_failure(const void *data)
{
    const struct failure_case *c = data;
    struct boot b;

    boot("hello", 1, c->append, &b);
    expect_status(&b, c->status);
    expect_prefix(&b, c->line);
    expect_no_prefix(&b, "hello: done");
    boot_clear(&b);
}

static const struct failure_case failures[] = {
    {"crash=panic", EXIT_PANIC, "PANIC: crash=panic requested"},
    {"crash=assert", EXIT_PANIC, "PANIC: assertion failed: "},
    {"crash=trap", EXIT_TRAP, "TRAP: #PF (vector 14) error 0x6 on CPU 0"},
    {"cpus=many", EXIT_USAGE, "usage: cpus=many: expected a number"},
    {"smp=maybe", EXIT_USAGE, "usage: smp=maybe: expected on or off"},
    {"sdk.clock=hpet smp=off", EXIT_USAGE, "usage: sdk.clock=hpet"},
};

/* ------------------------------------------------------------------ */

/* NULL if the monitor and /dev/kvm are usable, else why not. */
static const char *skip_reason(void)
{
    static char why[256];
    int fd;

    if (!vmm_path || access(vmm_path, X_OK) != 0) {
        snprintf(why, sizeof(why), "machine monitor %s not found", vmm_name);
        return why;
    }
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, sizeof(why), "/dev/kvm unusable: %s", strerror(errno));
        return why;
    }
    close(fd);
    return NULL;
}

/* Take our options out of argv before GTest sees it. */
static void parse_options(int *argc, char **argv)
{
    int out = 1;
    const char *vmm = NULL;

    vmm_args = g_ptr_array_new();
    for (int i = 1; i < *argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            vmm = argv[i] + 6;
        } else if (g_str_has_prefix(argv[i], "--guest-dir=")) {
            guest_dir = argv[i] + 12;
        } else if (g_str_has_prefix(argv[i], "--vmm-arg=")) {
            g_ptr_array_add(vmm_args, argv[i] + 10);
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    if (!vmm || !guest_dir) {
        fprintf(stderr,
                "usage: %s --vmm=PATH --guest-dir=DIR "
                "[--vmm-arg=ARG]... [GTest options]\n",
                argv[0]);
        exit(1);
    }
    vmm_name = vmm;
    vmm_path = strchr(vmm, '/') ? g_strdup(vmm) : g_find_program_in_path(vmm);
}

int main(int argc, char **argv)
{
    static const unsigned counts[] = {1, 2, 4};
    const char *why;

    parse_options(&argc, argv);
    why = skip_reason();
    if (why) {
        printf("1..0 # SKIP %s\n", why);
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], "--tap") == 0) {
                return 0;
            }
        }
        return HARNESS_EXIT_SKIP;
    }
    harness_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
        void *n = GUINT_TO_POINTER(counts[i]);
        g_autofree char *h = g_strdup_printf("/guest/hello/smp%u", counts[i]);
        g_autofree char *s = g_strdup_printf("/guest/smp/smp%u", counts[i]);
        g_autofree char *t =
            g_strdup_printf("/guest/sdk-test/smp%u", counts[i]);

        g_test_add_data_func(h, n, test_hello);
        g_test_add_data_func(s, n, test_smp);
        g_test_add_data_func(t, n, test_sdk);
    }
    g_test_add_func("/guest/smp/missing-cpu", test_smp_missing_cpu);
    g_test_add_func("/guest/sdk-test/fails", test_sdk_fails);
    g_test_add_func("/guest/hello/clock-sources", test_clock_sources);
    for (size_t i = 0; i < G_N_ELEMENTS(failures); i++) {
        g_autofree char *p = g_strdup_printf("/guest/hello/failure/%zu", i);

        g_test_add_data_func(p, &failures[i], test_failure);
    }
    return g_test_run();
}
