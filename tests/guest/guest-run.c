/* SPDX-License-Identifier: MIT */
/*
 * Boots guests on a monitor for the tests in tests/guest (guest-run.h):
 * fork/exec with stdin from /dev/null, stdout and stderr collected through
 * pipes until the monitor exits or a watchdog kills it.
 */
#include "guest-run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "monitor-cpu.h"
#include "sdk/pattern.h"

#define BOOT_TIMEOUT_S 120

static const char *vmm_name;
static char *vmm_path;
static const char *guest_dir;
static GPtrArray *vmm_args;
static GPtrArray *vmm_wrapper;

void guest_boot_clear(struct guest_boot *b)
{
    g_free(b->out);
    g_free(b->err);
    g_free(b->cmd);
    memset(b, 0, sizeof(*b));
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
static void run(char **argv, struct guest_boot *b)
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
        int64_t left = harness_left_ns(deadline);

        if (left == 0) {
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

/* The command line every monitor shares (VMM.md), before -smp. */
static const char *const common_args[] = {
    "-M",
    "microvm,acpi=off",
    "-enable-kvm",
    "-m",
    "128",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-serial",
    "stdio",
    "-device",
    "isa-debug-exit",
    "-no-reboot",
};

/*
 * The whole command line, NULL-terminated, strings owned by the array.
 * @under_test: @vmm is --vmm's monitor, which gets the --vmm-wrapper and
 * --vmm-arg words (a comparison monitor gets neither).
 */
static GPtrArray *build_argv(const char *vmm, bool under_test,
                             const char *guest, unsigned cpus,
                             const char *append, const char *const *extra)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; under_test && i < vmm_wrapper->len; i++) {
        g_ptr_array_add(argv, g_strdup(vmm_wrapper->pdata[i]));
    }
    g_ptr_array_add(argv, g_strdup(vmm));
    for (size_t i = 0; i < G_N_ELEMENTS(common_args); i++) {
        g_ptr_array_add(argv, g_strdup(common_args[i]));
    }
    g_ptr_array_add(argv, g_strdup("-cpu"));
    g_ptr_array_add(argv, g_strdup(guest_run_cpu()));
    g_ptr_array_add(argv, g_strdup("-smp"));
    g_ptr_array_add(argv, g_strdup_printf("%u", cpus));
    g_ptr_array_add(argv, g_strdup("-kernel"));
    g_ptr_array_add(argv, g_strdup_printf("%s/%s.elf", guest_dir, guest));
    g_ptr_array_add(argv, g_strdup("-append"));
    g_ptr_array_add(argv, g_strdup(append));
    for (size_t i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, g_strdup(extra[i]));
    }
    for (guint i = 0; under_test && i < vmm_args->len; i++) {
        g_ptr_array_add(argv, g_strdup(vmm_args->pdata[i]));
    }
    g_ptr_array_add(argv, NULL);
    return argv;
}

GPtrArray *guest_run_argv(const char *guest, unsigned cpus, const char *append,
                          const char *const *extra)
{
    return build_argv(vmm_path, true, guest, cpus, append, extra);
}

static void boot(struct guest_boot *b, const char *vmm, bool under_test,
                 const char *guest, unsigned cpus, const char *append,
                 const char *const *extra)
{
    GPtrArray *argv = build_argv(vmm, under_test, guest, cpus, append, extra);

    memset(b, 0, sizeof(*b));
    b->cmd = g_strjoinv(" ", (char **)argv->pdata);
    run((char **)argv->pdata, b);
    g_ptr_array_free(argv, true);
    if (g_test_verbose()) {
        g_test_message("$ %s\n%s%s[exit %d]", b->cmd, b->out, b->err,
                       b->status);
    }
}

void guest_boot(struct guest_boot *b, const char *guest, unsigned cpus,
                const char *append, const char *const *extra)
{
    boot(b, vmm_path, true, guest, cpus, append, extra);
}

void guest_boot_on(struct guest_boot *b, const char *vmm, const char *guest,
                   unsigned cpus, const char *append, const char *const *extra)
{
    boot(b, vmm, false, guest, cpus, append, extra);
}

void guest_show(const struct guest_boot *b)
{
    g_test_message("$ %s", b->cmd);
    g_test_message("console:\n%s", b->out);
    g_test_message("monitor stderr:\n%s", b->err);
    g_test_message("exit status %d", b->status);
}

void guest_expect_status(const struct guest_boot *b, int status)
{
    if (b->status != status) {
        guest_show(b);
    }
    g_assert_cmpint(b->status, ==, status);
}

/*
 * The first console line that starts with @prefix (the whole line when
 * @exact), or NULL.
 */
static const char *find(const struct guest_boot *b, const char *prefix,
                        bool exact)
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

const char *guest_find_line(const struct guest_boot *b, const char *prefix)
{
    return find(b, prefix, false);
}

static void expect(const struct guest_boot *b, const char *text, bool exact,
                   bool present)
{
    if ((find(b, text, exact) != NULL) != present) {
        guest_show(b);
        g_test_message("%s console line %s \"%s\"",
                       present ? "missing" : "unexpected",
                       exact ? "" : "starting", text);
        g_assert_not_reached();
    }
}

void guest_expect_line(const struct guest_boot *b, const char *line)
{
    expect(b, line, true, true);
}

void guest_expect_prefix(const struct guest_boot *b, const char *prefix)
{
    expect(b, prefix, false, true);
}

void guest_expect_no_prefix(const struct guest_boot *b, const char *prefix)
{
    expect(b, prefix, false, false);
}

bool guest_run_is_loom_vm(void)
{
    g_autofree char *base = g_path_get_basename(vmm_path ? vmm_path : vmm_name);

    return g_str_has_prefix(base, "loom-vm");
}

const char *guest_run_cpu(void)
{
    static char *cpu;

    if (!cpu) {
        /* QEMU's own path when it is the monitor under test. */
        bool qemu = vmm_path && !guest_run_is_loom_vm();
        const char *f = monitor_cpu_features(qemu ? vmm_path : NULL);

        cpu = g_strconcat("host", f, NULL);
        if (*f) {
            g_test_message("QEMU cannot start with -cpu host here: every "
                           "monitor gets -cpu %s (guest/host/monitor-cpu.h)",
                           cpu);
        }
    }
    return cpu;
}

const char *guest_run_dir(void)
{
    return guest_dir;
}

char *const *guest_run_vmm_args(unsigned *ret_n)
{
    *ret_n = vmm_args->len;
    return (char *const *)vmm_args->pdata;
}

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

void guest_run_init(int *argc, char ***argvp)
{
    char **argv = *argvp;
    const char *why;
    bool tap = false;
    int out = 1;

    vmm_args = g_ptr_array_new();
    vmm_wrapper = g_ptr_array_new();
    for (int i = 1; i < *argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            vmm_name = argv[i] + 6;
        } else if (g_str_has_prefix(argv[i], "--guest-dir=")) {
            guest_dir = argv[i] + 12;
        } else if (g_str_has_prefix(argv[i], "--vmm-arg=")) {
            g_ptr_array_add(vmm_args, argv[i] + 10);
        } else if (g_str_has_prefix(argv[i], "--vmm-wrapper=")) {
            g_ptr_array_add(vmm_wrapper, argv[i] + 14);
        } else {
            tap = tap || strcmp(argv[i], "--tap") == 0;
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    if (!vmm_name || !guest_dir) {
        fprintf(stderr,
                "usage: %s --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... "
                "[--vmm-wrapper=ARG]... [GTest options]\n",
                argv[0]);
        exit(1);
    }
    vmm_path = strchr(vmm_name, '/') ? g_strdup(vmm_name)
                                     : g_find_program_in_path(vmm_name);
    why = skip_reason();
    if (why) {
        harness_skip_all(tap, why);
    }
    harness_init(argc, argvp);
}

int64_t guest_verify_image(const char *path, size_t size, uint64_t seed,
                           uint64_t zero, uint64_t nzero)
{
    g_autofree char *data = NULL;
    GError *err = NULL;
    size_t len;

    g_file_get_contents(path, &data, &len, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(len, ==, size);
    for (size_t off = 0; off < len; off += 8) {
        uint64_t w, sector = off / 512;
        uint64_t want = sector >= zero && sector - zero < nzero
                            ? 0
                            : sdk_pattern_word(seed, off);

        memcpy(&w, data + off, 8);
        if (w != want) {
            return (int64_t)off;
        }
    }
    return -1;
}
