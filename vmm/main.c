/* SPDX-License-Identifier: MIT */
/*
 * loom-vm: parse the command line, build the machine, run the main loop
 * until the VM ends, tear it down, exit with QEMU's status (0 on power-off,
 * quit or a signal; (v << 1) | 1 for isa-debug-exit value v; 1 on errors).
 * The only exit() of the program is here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/main.h>

#include "config.h"
#include "machine/machine.h"
#include "sandbox.h"

#define PROG "loom-vm"

/*
 * -pidfile: QEMU's contract: the file holds our pid while we run, locked
 * so that a second instance with the same file refuses to start, and is
 * removed when we exit.  Returns the locked fd, or -1 with a message.
 */
static int pidfile_create(const char *path)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    char buf[32];
    int fd, n;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, PROG ": -pidfile %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_SETLK, &lk) < 0) {
        fprintf(stderr, PROG ": -pidfile %s: locked by another process\n",
                path);
        close(fd);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
        fprintf(stderr, PROG ": -pidfile %s: %s\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void pidfile_remove(const char *path, int fd)
{
    if (fd >= 0) {
        (void)unlink(path);
        close(fd);
    }
}

#ifdef VMM_TEST_TRIGGERS
/*
 * The test build's loom-vm (tests/guest) only: LOOM_VM_X_SANDBOX_TRIGGER=
 * main|vcpu|iothread|pool|helper makes threads of that type make a call
 * outside their list once confined, so that a test sees the sandbox kill.
 */
static int sandbox_trigger(void)
{
    static const char *const names[] = {"main", "vcpu", "iothread", "pool",
                                        "helper"};
    const char *v = getenv("LOOM_VM_X_SANDBOX_TRIGGER");

    for (int i = 0; v && i < (int)(sizeof(names) / sizeof(names[0])); i++) {
        if (strcmp(v, names[i]) == 0) {
            return i + 1;
        }
    }
    return 0;
}
#else
static int sandbox_trigger(void)
{
    return 0;
}
#endif

/* -sandbox on: confine every thread from now on (sandbox.h). */
static int sandbox_init(const struct vmm_config *cfg)
{
    struct vmm_sandbox_opts opts = {
        .resourcecontrol_deny = cfg->sandbox_resourcecontrol_deny,
        .x_trigger = sandbox_trigger(),
    };
    char *err = NULL;
    int r;

    if (!cfg->sandbox) {
        return 0;
    }
    r = vmm_sandbox_init(&opts, &err);
    if (r < 0) {
        fprintf(stderr, PROG ": %s\n", err ? err : strerror(-r));
        free(err);
    }
    return r;
}

static int run(const struct vmm_config *cfg, int64_t start_ns)
{
    struct vmm_monitor *mon = NULL;
    struct vmm_machine *m = NULL;
    char *err = NULL;
    int r, status, pidfd = -1;

    /* Before any thread exists, so that every thread blocks the signals
     * the main loop receives through its signalfd. */
    r = loom_main_init();
    if (r < 0) {
        fprintf(stderr, PROG ": main loop: %s\n", strerror(-r));
        return 1;
    }
    /* Before the first thread: each one is confined as it starts. */
    if (sandbox_init(cfg) < 0) {
        loom_main_cleanup();
        return 1;
    }
    /* Once the pid file exists, SIGINT and SIGTERM end the VM in order. */
    if (cfg->pidfile) {
        pidfd = pidfile_create(cfg->pidfile);
        if (pidfd < 0) {
            loom_main_cleanup();
            vmm_sandbox_cleanup();
            return 1;
        }
    }
    loom_bql_lock();
    r = vmm_machine_create(cfg, &m, &err);
    if (r == 0) {
        /* QMP listens before the vCPUs start (-S waits for cont). */
        r = vmm_machine_monitor_new(m, &mon, &err);
        if (r < 0) {
            vmm_machine_destroy(m);
        }
    }
    if (r < 0) {
        fprintf(stderr, PROG ": %s\n", err ? err : strerror(-r));
        free(err);
        loom_bql_unlock();
        pidfile_remove(cfg->pidfile, pidfd);
        loom_main_cleanup();
        vmm_sandbox_cleanup();
        return 1;
    }
    status = 1;
    if (vmm_machine_start(m) == 0) {
        /* The machine is built and its vCPU threads exist: confine main. */
        r = cfg->sandbox ? vmm_sandbox_enter_main() : 0;
        if (r < 0) {
            fprintf(stderr, PROG ": -sandbox on: %s\n", strerror(-r));
        } else {
            status = vmm_machine_run(m);
        }
    }
    vmm_machine_monitor_free(mon);
    if (cfg->summary) {
        vmm_machine_summary(m, start_ns, stderr);
    }
    vmm_machine_destroy(m);
    loom_bql_unlock();
    pidfile_remove(cfg->pidfile, pidfd);
    loom_main_cleanup();
    vmm_sandbox_cleanup();
    return status;
}

int main(int argc, char **argv)
{
    int64_t start_ns = loom_clock_ns(LOOM_CLOCK_HOST);
    struct vmm_config *cfg = NULL;
    char *err = NULL;
    int r, status;

    r = vmm_config_parse(argc, argv, &cfg, &err);
    if (r < 0) {
        fprintf(stderr, PROG ": %s\n", err ? err : strerror(-r));
        free(err);
        exit(1);
    }
    if (cfg->show_help) {
        fputs(vmm_config_usage(), stdout);
        vmm_config_free(cfg);
        exit(0);
    }
    if (cfg->show_version) {
        printf(PROG " version " VMM_VERSION " (QEMU 7.2 microvm command line)\n"
                    "Copyright (c) the loom authors; MIT licence\n");
        vmm_config_free(cfg);
        exit(0);
    }
    status = run(cfg, start_ns);
    vmm_config_free(cfg);
    exit(status);
}
