/* SPDX-License-Identifier: MIT */
/*
 * -sandbox on without KVM (vmm/sandbox.c): every case runs in a child
 * process that sets the sandbox up, starts libloom threads of each type
 * (a vCPU on the dummy accelerator, an IOThread, a pool worker), makes a
 * system call in one of them and reports back through its exit status.
 *
 * A call outside a thread's list kills the process with SIGSYS, while the
 * same call is allowed in a thread of a type that lists it: the filters
 * are per thread type, not one for the process.  Each thread carries
 * exactly its filters (read from /proc/self/task/TID/status).  In
 * sanitizer builds the sandbox logs instead of killing
 * (vmm_sandbox_kills() false): there the same calls must go through.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <loom/cpu.h>
#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/main.h>
#include <loom/pool.h>

#include "harness.h"
#include "sandbox.h"

/* Exit statuses of a child that survived. */
#define CHILD_OK 0
#define CHILD_SETUP 10 /* setting up failed */
#define CHILD_WRONG 11 /* a call gave an unexpected result */

/* The calls a thread can be asked to make. */
enum call {
    CALL_PPOLL,    /* main, IOThread: not vCPU, pool */
    CALL_EPOLL,    /* a timed epoll wait (epoll_pwait2): as ppoll */
    CALL_ACCEPT,   /* main only */
    CALL_KVM,      /* an ioctl of KVM's type: main, vCPU, IOThread */
    CALL_TTY,      /* a terminal ioctl: main only */
    CALL_PREAD,    /* file I/O: main, IOThread, pool */
    CALL_AFFINITY, /* sched_setaffinity: unless resourcecontrol=deny */
    CALL_FORK,     /* a process: nobody */
    CALL_OPEN,     /* opening a file: refused (EACCES) once confined */
    CALL_NONE,     /* nothing (a thread that only reports its id) */
};

/* What a confined thread did: its id and the call's result. */
struct probe {
    enum call call;
    pid_t tid;
    long ret;
};

/* Make @call; its result, or -errno.  Every one is harmless if it runs. */
static long make_call(enum call call)
{
    struct timespec zero = {0, 0};
    struct epoll_event ev;
    cpu_set_t set;
    char byte;
    long r = 0;

    switch (call) {
    case CALL_PPOLL:
        r = ppoll(NULL, 0, &zero, NULL);
        break;
    case CALL_EPOLL:
        r = epoll_pwait2(-1, &ev, 1, &zero, NULL);
        break;
    case CALL_ACCEPT:
        r = accept4(-1, NULL, NULL, 0);
        break;
    case CALL_KVM:
        r = ioctl(-1, KVM_GET_API_VERSION, 0);
        break;
    case CALL_TTY: {
        struct termios t;

        r = ioctl(-1, TCGETS, &t);
        break;
    }
    case CALL_PREAD:
        r = pread(-1, &byte, 1, 0);
        break;
    case CALL_AFFINITY:
        CPU_ZERO(&set);
        r = sched_getaffinity(0, sizeof(set), &set);
        if (r == 0) {
            r = sched_setaffinity(0, sizeof(set), &set);
        }
        break;
    case CALL_FORK:
        r = fork();
        if (r == 0) {
            _exit(0);
        }
        if (r > 0) {
            (void)waitpid((pid_t)r, NULL, 0);
            r = 0;
        }
        break;
    case CALL_OPEN:
        r = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (r >= 0) {
            close((int)r);
            r = 0;
        }
        break;
    case CALL_NONE:
        break;
    }
    return r < 0 ? -errno : r;
}

static void probe_run(struct probe *p)
{
    p->tid = (pid_t)syscall(SYS_gettid);
    p->ret = make_call(p->call);
}

/*
 * The result each call gives in a thread that survives it (bad fds on
 * purpose; opening a file is refused, not fatal, once confined).
 */
static long allowed_result(enum call call)
{
    switch (call) {
    case CALL_OPEN:
        /* Refused when the sandbox kills; logged and done when it logs. */
        return vmm_sandbox_kills() ? -EACCES : 0;
    case CALL_PPOLL:
    case CALL_AFFINITY:
    case CALL_FORK:
    case CALL_NONE:
        return 0;
    default:
        return -EBADF;
    }
}

/* ---- Threads of each type, in the child ------------------------------- */

static void on_vcpu(struct loom_cpu *cpu, void *data)
{
    probe_run(data);
}

static int on_iothread(void *arg)
{
    probe_run(arg);
    return 0;
}

static int on_worker(void *arg)
{
    probe_run(arg);
    return 0;
}

static void worker_done(void *opaque, int ret)
{
    *(bool *)opaque = true;
}

struct rig {
    struct loom_cpu *cpu;
    struct loom_iothread *io;
    struct loom_loop *loop; /* owns the pool */
};

static int rig_start(struct rig *r)
{
    memset(r, 0, sizeof(*r));
    if (loom_cpu_new(0, &loom_accel_dummy, NULL, &r->cpu) < 0 ||
        loom_cpu_start(r->cpu) < 0 ||
        loom_iothread_new("sandbox-io", NULL, &r->io) < 0 ||
        loom_loop_new(&r->loop) < 0) {
        return -1;
    }
    return 0;
}

/* Run @p on a thread of @type (MAIN: the calling thread). */
static int run_in(struct rig *r, enum vmm_sandbox_thread type, struct probe *p)
{
    bool done = false;

    switch (type) {
    case VMM_SANDBOX_MAIN:
        probe_run(p);
        return 0;
    case VMM_SANDBOX_VCPU:
        return loom_run_on_cpu(r->cpu, on_vcpu, p);
    case VMM_SANDBOX_IOTHREAD:
        return loom_iothread_run(r->io, on_iothread, p);
    case VMM_SANDBOX_POOL:
        if (loom_pool_submit(loom_loop_pool(r->loop), on_worker, p, worker_done,
                             &done, NULL) < 0) {
            return -1;
        }
        while (!done) {
            (void)loom_loop_poll(r->loop, true);
        }
        return 0;
    default:
        return -1;
    }
}

/* /proc/self/task/@tid/status, opened while the caller may open files. */
static int status_open(pid_t tid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* The seccomp filters on a thread, read afresh (-1 if unreadable). */
static int thread_filters(int status_fd)
{
    char buf[4096];
    const char *line;
    ssize_t n = pread(status_fd, buf, sizeof(buf) - 1, 0);
    int filters;

    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    line = strstr(buf, "Seccomp_filters:");
    if (!line || sscanf(line, "Seccomp_filters: %d", &filters) != 1) {
        return -1;
    }
    return filters;
}

/* ---- The cases ---------------------------------------------------------- */

struct kill_case {
    enum vmm_sandbox_thread where;
    enum call call;
    bool enter_main;    /* confine the main thread first */
    bool deny_resource; /* resourcecontrol=deny */
    int trigger;        /* vmm_sandbox_opts.x_trigger */
};

/* The child: set up, make the call in the chosen thread, report. */
static int child(const struct kill_case *c)
{
    struct vmm_sandbox_opts opts = {
        .resourcecontrol_deny = c->deny_resource,
        .x_trigger = c->trigger,
    };
    struct rlimit nocore = {0, 0};
    struct probe p = {.call = c->call};
    struct rig r;

    (void)setrlimit(RLIMIT_CORE, &nocore);
    if (loom_main_init() < 0 || vmm_sandbox_init(&opts, NULL) < 0 ||
        rig_start(&r) < 0) {
        return CHILD_SETUP;
    }
    if (c->enter_main && vmm_sandbox_enter_main() < 0) {
        return CHILD_SETUP;
    }
    if (run_in(&r, c->where, &p) < 0) {
        return CHILD_SETUP;
    }
    return p.ret == allowed_result(c->call) ? CHILD_OK : CHILD_WRONG;
}

static int run_child(const struct kill_case *c)
{
    pid_t pid;
    int st;

    fflush(NULL);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        _exit(child(c));
    }
    g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
    return st;
}

/* The call must kill the process (or, in sanitizer builds, go through). */
static void expect_killed(const struct kill_case *c)
{
    int st = run_child(c);

    if (vmm_sandbox_kills()) {
        if (!WIFSIGNALED(st)) {
            g_error("child exited with %d instead of dying of SIGSYS",
                    WEXITSTATUS(st));
        }
        g_assert_cmpint(WTERMSIG(st), ==, SIGSYS);
    } else {
        g_test_message("sanitizer build: the sandbox logs, not kills");
        g_assert_true(WIFEXITED(st));
        g_assert_cmpint(WEXITSTATUS(st), ==, CHILD_OK);
    }
}

static void expect_allowed(const struct kill_case *c)
{
    int st = run_child(c);

    if (WIFSIGNALED(st)) {
        g_error("child died of signal %d", WTERMSIG(st));
    }
    g_assert_cmpint(WEXITSTATUS(st), ==, CHILD_OK);
}

static void test_vcpu(void)
{
    /* Event loops and terminals are not a vCPU's business ... */
    expect_killed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_PPOLL});
    expect_killed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_EPOLL});
    expect_killed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_TTY});
    expect_killed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_PREAD});
    expect_killed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_FORK});
    /* ... KVM is. */
    expect_allowed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_KVM});
    /* glibc's malloc may open a /proc file in any thread: refused. */
    expect_allowed(&(struct kill_case){VMM_SANDBOX_VCPU, CALL_OPEN});
}

static void test_iothread(void)
{
    expect_killed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_ACCEPT});
    expect_killed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_TTY});
    expect_killed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_FORK});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_PPOLL});
    /* The epoll monitor's timed wait (a loop with a timer armed). */
    expect_allowed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_EPOLL});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_PREAD});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_KVM});
}

static void test_pool(void)
{
    expect_killed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_PPOLL});
    expect_killed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_KVM});
    expect_killed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_ACCEPT});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_PREAD});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_OPEN});
}

static void test_main(void)
{
    /* Unconfined until the machine is built ... */
    expect_allowed(&(struct kill_case){VMM_SANDBOX_MAIN, CALL_FORK});
    /* ... then its own list, which still serves a monitor and terminal. */
    expect_killed(&(struct kill_case){VMM_SANDBOX_MAIN, CALL_FORK, true});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_MAIN, CALL_ACCEPT, true});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_MAIN, CALL_TTY, true});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_MAIN, CALL_PPOLL, true});
    expect_allowed(&(struct kill_case){VMM_SANDBOX_MAIN, CALL_OPEN, true});
    /* A pool worker started by the confined main thread: both filters. */
    expect_allowed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_PREAD, true});
    expect_killed(&(struct kill_case){VMM_SANDBOX_POOL, CALL_PPOLL, true});
}

static void test_resourcecontrol(void)
{
    expect_allowed(
        &(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_AFFINITY, true});
    expect_killed(
        &(struct kill_case){VMM_SANDBOX_IOTHREAD, CALL_AFFINITY, true, true});
    expect_killed(
        &(struct kill_case){VMM_SANDBOX_MAIN, CALL_AFFINITY, true, true});
}

/* The test trigger: a thread of the chosen type makes a forbidden call. */
static void test_trigger(void)
{
    for (int t = VMM_SANDBOX_MAIN; t <= VMM_SANDBOX_POOL; t++) {
        /* Run nothing in a thread of that type: the trigger is enough. */
        struct kill_case c = {VMM_SANDBOX_MAIN, CALL_NONE, true, false, t + 1};

        g_test_message("trigger in thread type %d", t);
        if (t == VMM_SANDBOX_POOL) {
            /* Workers start on demand: ask one for nothing. */
            c.where = VMM_SANDBOX_POOL;
        }
        expect_killed(&c);
    }
}

/*
 * Per thread: one process holds confined threads of each type and an
 * unconfined main thread; each call is allowed exactly where its type's
 * list has it, and each thread carries its own filter, the main thread
 * none until it is confined.
 */
static int child_filters(void)
{
    struct vmm_sandbox_opts opts = {0};
    struct probe p[VMM_SANDBOX_HELPER];
    int fd[VMM_SANDBOX_HELPER];
    struct rig r;

    if (loom_main_init() < 0 || vmm_sandbox_init(&opts, NULL) < 0 ||
        rig_start(&r) < 0) {
        return CHILD_SETUP;
    }
    for (int t = VMM_SANDBOX_MAIN; t < VMM_SANDBOX_HELPER; t++) {
        p[t].call = t == VMM_SANDBOX_IOTHREAD ? CALL_PPOLL : CALL_PREAD;
        if (t == VMM_SANDBOX_VCPU) {
            p[t].call = CALL_KVM;
        }
        if (run_in(&r, (enum vmm_sandbox_thread)t, &p[t]) < 0) {
            return CHILD_SETUP;
        }
        if (p[t].ret != allowed_result(p[t].call)) {
            return CHILD_WRONG;
        }
    }
    for (int t = VMM_SANDBOX_MAIN; t < VMM_SANDBOX_HELPER; t++) {
        fd[t] = status_open(p[t].tid);
        if (fd[t] < 0) {
            return CHILD_SETUP;
        }
    }
    if (thread_filters(fd[VMM_SANDBOX_MAIN]) != 0 ||
        thread_filters(fd[VMM_SANDBOX_VCPU]) != 1 ||
        thread_filters(fd[VMM_SANDBOX_IOTHREAD]) != 1 ||
        thread_filters(fd[VMM_SANDBOX_POOL]) != 1) {
        return 20;
    }
    /* Confined now: the files stay readable through pread(). */
    if (vmm_sandbox_enter_main() < 0 ||
        thread_filters(fd[VMM_SANDBOX_MAIN]) != 1 ||
        thread_filters(fd[VMM_SANDBOX_VCPU]) != 1 ||
        vmm_sandbox_enter_main() != -EINVAL) {
        return 21;
    }
    return CHILD_OK;
}

static void test_filters_per_thread(void)
{
    pid_t pid;
    int st;

    fflush(NULL);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        _exit(child_filters());
    }
    g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
    g_assert_true(WIFEXITED(st));
    g_assert_cmpint(WEXITSTATUS(st), ==, CHILD_OK);
}

static void test_arguments(void)
{
    struct vmm_sandbox_opts bad = {.x_trigger = VMM_SANDBOX_NR_THREADS + 1};
    char *err = NULL;

    g_assert_cmpint(vmm_sandbox_init(NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(vmm_sandbox_init(&bad, &err), ==, -EINVAL);
    g_assert_nonnull(err);
    g_assert_null(strchr(err, '\n'));
    free(err);
    bad.x_trigger = -1;
    g_assert_cmpint(vmm_sandbox_init(&bad, NULL), ==, -EINVAL);
    g_assert_cmpint(vmm_sandbox_enter_main(), ==, -EINVAL);
    vmm_sandbox_cleanup();
    g_assert_cmpint(vmm_sandbox_thread_of(LOOM_THREAD_KIND_VCPU), ==,
                    VMM_SANDBOX_VCPU);
    g_assert_cmpint(vmm_sandbox_thread_of(LOOM_THREAD_KIND_IOTHREAD), ==,
                    VMM_SANDBOX_IOTHREAD);
    g_assert_cmpint(vmm_sandbox_thread_of(LOOM_THREAD_KIND_POOL), ==,
                    VMM_SANDBOX_POOL);
    g_assert_cmpint(vmm_sandbox_thread_of(LOOM_THREAD_KIND_CALL_RCU), ==,
                    VMM_SANDBOX_HELPER);
    g_assert_cmpint(vmm_sandbox_thread_of(LOOM_THREAD_KIND_USER), ==,
                    VMM_SANDBOX_HELPER);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/sandbox/arguments", test_arguments);
    g_test_add_func("/sandbox/filters-per-thread", test_filters_per_thread);
    g_test_add_func("/sandbox/vcpu", test_vcpu);
    g_test_add_func("/sandbox/iothread", test_iothread);
    g_test_add_func("/sandbox/pool", test_pool);
    g_test_add_func("/sandbox/main", test_main);
    g_test_add_func("/sandbox/resourcecontrol", test_resourcecontrol);
    g_test_add_func("/sandbox/trigger", test_trigger);
    return g_test_run();
}
