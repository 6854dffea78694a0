/* SPDX-License-Identifier: MIT */
/*
 * loom-vm against QEMU microvm: the same guest ELF (the hello guest), the
 * same command line, the same run, alternating.  Figures (BENCH.md):
 *   vm-start/first-line  exec to the guest's first console line (ms)
 *   vm-start/exit        exec to the monitor's exit (ms)
 *   vm-rss               the monitor's peak RSS, 256 MiB guest (MiB)
 *   vm-threads           most threads the monitor ran at once
 *
 *   bench-vm [--loom-vm=PATH] [--qemu=PATH] [--guest-dir=DIR] [common]
 *
 * QEMU is looked up in $PATH (qemu-system-x86_64); without it, or without
 * /dev/kvm, its figures (or all) are skipped.  Both get -cpu host, plus
 * the feature switch this host's QEMU needs to start, if any.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "monitor-cpu.h"

#ifndef BENCH_LOOM_VM
#define BENCH_LOOM_VM "loom-vm"
#endif
#ifndef BENCH_GUEST_DIR
#define BENCH_GUEST_DIR "guest"
#endif

static const char *g_loom_vm = BENCH_LOOM_VM;
static const char *g_qemu = "qemu-system-x86_64";
static char g_kernel[4096];
static char g_cpu[64]; /* -cpu of both monitors (monitor-cpu.h) */

struct vm_run {
    double first_line_ms;
    double exit_ms;
    double rss_mib;
    double threads;
};

static int count_threads(pid_t pid)
{
    char path[64], line[256];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Threads:", 8) == 0) {
            n = atoi(line + 8);
            break;
        }
    }
    fclose(f);
    return n;
}

/* Boot the hello guest on @vmm once; 0, BENCH_SKIP, or -errno. */
static int boot(const char *vmm, struct vm_run *r)
{
    char *const argv[] = {
        (char *)vmm,   "-M",          "microvm,acpi=off",
        "-enable-kvm", "-cpu",        g_cpu,
        "-m",          "256",         "-smp",
        "1",           "-nodefaults", "-no-user-config",
        "-display",    "none",        "-serial",
        "stdio",       "-device",     "isa-debug-exit",
        "-no-reboot",  "-global",     "virtio-mmio.force-legacy=off",
        "-kernel",     g_kernel,      NULL,
    };
    int64_t t0, now;
    struct rusage ru;
    bool seen = false;
    int pfd[2], st, peak = 0;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0) {
        return -errno;
    }
    t0 = bench_now_ns();
    pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(pfd[1], 1);
        if (null >= 0) {
            dup2(null, 2);
        }
        execvp(vmm, argv);
        _exit(127);
    }
    close(pfd[1]);
    for (;;) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        char buf[4096];
        ssize_t n;
        int t = count_threads(pid);

        peak = t > peak ? t : peak;
        if (poll(&p, 1, 1) <= 0) {
            continue;
        }
        n = read(pfd[0], buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        if (!seen && memchr(buf, '\n', (size_t)n)) {
            seen = true;
            r->first_line_ms = (double)(bench_now_ns() - t0) / 1e6;
        }
    }
    close(pfd[0]);
    if (wait4(pid, &st, 0, &ru) != pid) {
        return -errno;
    }
    now = bench_now_ns();
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        return BENCH_SKIP; /* not installed */
    }
    /* The hello guest passes with isa-debug-exit 0x10: status 33. */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 33 || !seen) {
        fprintf(stderr, "# %s: status %d, output %s\n", vmm, st,
                seen ? "seen" : "missing");
        return -EIO;
    }
    r->exit_ms = (double)(now - t0) / 1e6;
    r->rss_mib = (double)ru.ru_maxrss / 1024.0;
    r->threads = peak;
    return 0;
}

/* One boot per repetition serves all four figures: keep the last. */
static struct vm_run g_last[2];

static int run_first_line(void *arg, double *out)
{
    int i = (int)(intptr_t)arg;
    int r = boot(i ? g_qemu : g_loom_vm, &g_last[i]);

    out[0] = g_last[i].first_line_ms;
    return r;
}

static int run_exit(void *arg, double *out)
{
    int i = (int)(intptr_t)arg;
    int r = boot(i ? g_qemu : g_loom_vm, &g_last[i]);

    out[0] = g_last[i].exit_ms;
    return r;
}

static int run_rss(void *arg, double *out)
{
    int i = (int)(intptr_t)arg;
    int r = boot(i ? g_qemu : g_loom_vm, &g_last[i]);

    out[0] = g_last[i].rss_mib;
    return r;
}

static int run_threads(void *arg, double *out)
{
    int i = (int)(intptr_t)arg;
    int r = boot(i ? g_qemu : g_loom_vm, &g_last[i]);

    out[0] = g_last[i].threads;
    return r;
}

int main(int argc, char **argv)
{
    static const struct bench_figure ffirst = {
        "vm-start/first-line", "ms", 1, {NULL}};
    static const struct bench_figure fexit = {"vm-start/exit", "ms", 1, {NULL}};
    static const struct bench_figure frss = {"vm-rss", "MiB", 1, {NULL}};
    static const struct bench_figure fthr = {
        "vm-threads", "threads", 1, {NULL}};
    const char *guest_dir = BENCH_GUEST_DIR;
    int i, j = 1;

    /* Our options first; the rest go to the common parser. */
    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--loom-vm=", 10) == 0) {
            g_loom_vm = argv[i] + 10;
        } else if (strncmp(argv[i], "--qemu=", 7) == 0) {
            g_qemu = argv[i] + 7;
        } else if (strncmp(argv[i], "--guest-dir=", 12) == 0) {
            guest_dir = argv[i] + 12;
        } else {
            argv[j++] = argv[i];
        }
    }
    argc = j;
    bench_init(argc, argv, "bench-vm");
    snprintf(g_kernel, sizeof(g_kernel), "%s/hello.elf", guest_dir);
    if (access("/dev/kvm", R_OK | W_OK) < 0 || access(g_kernel, R_OK) < 0) {
        printf("# skipped: /dev/kvm or %s unusable\n", g_kernel);
        return 0;
    }
    snprintf(g_cpu, sizeof(g_cpu), "host%s", monitor_cpu_features(g_qemu));
    printf("# -cpu %s\n", g_cpu);
    {
        const struct bench_impl impls[][2] = {
            {{"loom", run_first_line, (void *)0},
             {"qemu", run_first_line, (void *)1}},
            {{"loom", run_exit, (void *)0}, {"qemu", run_exit, (void *)1}},
            {{"loom", run_rss, (void *)0}, {"qemu", run_rss, (void *)1}},
            {{"loom", run_threads, (void *)0},
             {"qemu", run_threads, (void *)1}},
        };

        bench_run(&ffirst, impls[0], 2);
        bench_run(&fexit, impls[1], 2);
        bench_run(&frss, impls[2], 2);
        bench_run(&fthr, impls[3], 2);
    }
    return bench_finish();
}
