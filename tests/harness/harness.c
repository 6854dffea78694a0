/* SPDX-License-Identifier: MIT */
/* Generic part of the test harness: option parsing and small utilities. */
#include "harness.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <loom/main.h>
#include <loom/thread.h>

static const char *g_fdmon_name;

void harness_skip_all(bool tap, const char *why)
{
    if (tap) {
        printf("1..0 # SKIP %s\n", why);
        fflush(stdout);
        exit(0);
    }
    fprintf(stderr, "SKIP: %s\n", why);
    exit(HARNESS_EXIT_SKIP);
}

bool harness_args_have_tap(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--tap") == 0) {
            return true;
        }
    }
    return false;
}

void harness_init(int *argc, char ***argv)
{
    bool tap = false;
    const char *why;
    int i, j = 1;

    for (i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];

        if (strncmp(a, "--fdmon=", 8) == 0) {
            g_fdmon_name = a + 8;
            continue;
        }
        if (strcmp(a, "--tap") == 0) {
            tap = true;
        }
        (*argv)[j++] = (*argv)[i];
    }
    *argc = j;
    (*argv)[j] = NULL;
    if (g_fdmon_name) {
        why = harness_fdmon_unavailable(g_fdmon_name);
        if (why) {
            harness_skip_all(tap, why);
        }
    }
    g_test_init(argc, argv, NULL);
}

const char *harness_fdmon_name(void)
{
    return g_fdmon_name;
}

int64_t harness_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void harness_yield(void)
{
    sched_yield();
}

void harness_watchdog_expired(const char *file, int line, const char *what,
                              int64_t ns)
{
    if (ns < 0) {
        g_error("%s:%d: watchdog: %s still not true at its deadline", file,
                line, what);
    }
    g_error("%s:%d: watchdog: %s still not true after %lld ms", file, line,
            what, (long long)(ns / 1000000));
}

int64_t harness_left_ns(int64_t deadline)
{
    int64_t left = deadline - harness_now_ns();

    return left > 0 ? left : 0;
}

void harness_main_loop_step(void)
{
    if (!loom_main_loop_wait(true)) {
        g_usleep(50);
    }
}

int harness_wait_child(pid_t pid, int64_t ns, void (*step)(void *),
                       void *opaque)
{
    int64_t deadline = harness_now_ns() + ns;
    bool killed = false;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            return status;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(r, ==, 0);
        if (!killed && harness_now_ns() > deadline) {
            g_test_message("watchdog: child %d still running after %lld ms, "
                           "killed", (int)pid, (long long)(ns / 1000000));
            g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
            killed = true;
        }
        if (step) {
            step(opaque);
        }
        g_usleep(2000);
    }
}

void harness_stall_init(struct harness_stall *s)
{
    s->last = 0;
    s->since = harness_now_ns();
}

bool harness_stalled(struct harness_stall *s, uint64_t count, int64_t ns)
{
    int64_t now = harness_now_ns();

    if (count != s->last) {
        s->last = count;
        s->since = now;
        return false;
    }
    return now - s->since > ns;
}

int64_t harness_run_end(int64_t ns)
{
    return harness_now_ns() + ns;
}

bool harness_run_over(int64_t end)
{
    return harness_now_ns() >= end;
}

int harness_ncpus(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return 1;
    }
    return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

void harness_self_cpuset(struct loom_cpuset *out)
{
    cpu_set_t set;

    g_assert_cmpint(sched_getaffinity(0, sizeof(set), &set), ==, 0);
    loom_cpuset_zero(out);
    for (unsigned i = 0; i < LOOM_CPUSET_SIZE && i < CPU_SETSIZE; i++) {
        if (CPU_ISSET(i, &set)) {
            g_assert_cmpint(loom_cpuset_set(out, i), ==, 0);
        }
    }
}

unsigned harness_last_cpu(void)
{
    struct loom_cpuset all;
    unsigned cpu = 0;

    harness_self_cpuset(&all);
    for (unsigned i = 0; i < LOOM_CPUSET_SIZE; i++) {
        if (loom_cpuset_isset(&all, i)) {
            cpu = i;
        }
    }
    return cpu;
}

void harness_refuse_io_uring(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = G_N_ELEMENTS(f), .filter = f};

    g_assert_cmpint(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ==, 0);
    g_assert_cmpint(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), ==, 0);
}
