/* SPDX-License-Identifier: MIT */
/*
 * The -cpu probe of monitor-cpu.h: start QEMU paused, quit it over QMP.
 */
#include "monitor-cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long one probe may take before QEMU is killed (it takes ~0.1 s). */
#define PROBE_TIMEOUT_MS 20000

static const char *g_answer;

/* The exit status of @pid (128 + signal), killing it after the timeout. */
static int reap_within(pid_t pid)
{
    const struct timespec tick = {0, 10 * 1000 * 1000};
    int st, waited = 0;
    pid_t r;

    for (;;) {
        r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (r < 0 && errno != EINTR) {
            return -1;
        }
        if (waited >= PROBE_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            return -1;
        }
        nanosleep(&tick, NULL);
        waited += 10;
    }
}

/* True if QEMU starts with -cpu @cpu and quits when asked. */
static bool starts(const char *qemu, const char *cpu)
{
    static const char qmp[] = "{\"execute\":\"qmp_capabilities\"}\n"
                              "{\"execute\":\"quit\"}\n";
    char *const argv[] = {
        (char *)qemu, "-M",      "microvm,acpi=off", "-enable-kvm",
        "-cpu",       (char *)cpu, "-m",              "16",
        "-nodefaults", "-no-user-config", "-display", "none",
        "-S",          "-qmp",    "stdio",          NULL,
    };
    int sv[2];
    pid_t pid;

    /* A socket, not a pipe: a send to a QEMU already gone is EPIPE, not
     * SIGPIPE (MSG_NOSIGNAL). */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return false;
    }
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (null < 0 || dup2(sv[1], 0) < 0 || dup2(null, 1) < 0 ||
            dup2(null, 2) < 0) {
            _exit(127);
        }
        if (strchr(qemu, '/')) {
            execv(qemu, argv);
        } else {
            execvp(qemu, argv);
        }
        _exit(127);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return false;
    }
    /* Small enough for the socket buffer: it never blocks. */
    (void)send(sv[0], qmp, sizeof(qmp) - 1, MSG_NOSIGNAL);
    shutdown(sv[0], SHUT_WR);
    close(sv[0]);
    return reap_within(pid) == 0;
}

const char *monitor_cpu_features(const char *qemu)
{
    if (g_answer) {
        return g_answer;
    }
    g_answer = "";
    if (!qemu) {
        qemu = "qemu-system-x86_64";
    }
    if (!starts(qemu, "host") && starts(qemu, "host" MONITOR_CPU_NO_ARCH_CAPS)) {
        g_answer = MONITOR_CPU_NO_ARCH_CAPS;
    }
    return g_answer;
}
