/* SPDX-License-Identifier: MIT */
/*
 * -sandbox on: one seccomp allowlist per thread type (sandbox.h).
 *
 * The lists are one table: each row is a system call, the thread types
 * that may make it and, for a few, a condition on an argument (ioctls of
 * KVM only, signals to this process only, thread-creating clone only).
 * vmm_sandbox_init() compiles a BPF program per type with libseccomp,
 * once; each thread then installs its program with one seccomp(2) call,
 * from the thread-start hook (any thread the library starts) or from
 * vmm_sandbox_enter_main() (the main thread).  The programs are read-only
 * after init, so the hook needs no lock and allocates nothing.
 *
 * What each type needs, and why, is in docs/design/vmm-hardening.md.
 * Threads created after their creator was confined run under both
 * filters, so a creator's list includes what its children do before and
 * after their own filter is in place (glibc's thread start, the filter
 * installation itself, a pool worker's I/O).
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <loom/main.h>
#include <loom/pool.h>
#include <loom/rcu.h>
#include <loom/thread.h>

/*
 * Sanitizer runtimes make system calls of their own (reports, shadow
 * memory, leak checks at exit): there a call outside the list is logged,
 * not fatal.  Meson defines VMM_SANITIZER_BUILD for -Db_sanitize builds;
 * the compilers' own macros catch builds configured otherwise.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_LOG_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||     \
    __has_feature(memory_sanitizer)
#define SANDBOX_LOG_ONLY 1
#endif
#endif
#if !defined(SANDBOX_LOG_ONLY) && defined(VMM_SANITIZER_BUILD)
#define SANDBOX_LOG_ONLY 1
#endif
#ifndef SANDBOX_LOG_ONLY
#define SANDBOX_LOG_ONLY 0
#endif

#define T_MAIN (1u << VMM_SANDBOX_MAIN)
#define T_VCPU (1u << VMM_SANDBOX_VCPU)
#define T_IOTHREAD (1u << VMM_SANDBOX_IOTHREAD)
#define T_POOL (1u << VMM_SANDBOX_POOL)
#define T_HELPER (1u << VMM_SANDBOX_HELPER)
#define T_ALL (T_MAIN | T_VCPU | T_IOTHREAD | T_POOL | T_HELPER)
/* Types whose threads start threads after they are confined. */
#define T_SPAWN (T_MAIN | T_IOTHREAD)
/* Types that run event loops. */
#define T_LOOP (T_MAIN | T_IOTHREAD)
/* Types that do blocking file I/O (or start workers that do). */
#define T_FILEIO (T_MAIN | T_IOTHREAD | T_POOL)
/* Types that issue KVM ioctls (vCPU state; irqfds and ioeventfds). */
#define T_KVM (T_MAIN | T_VCPU | T_IOTHREAD)

/* How a row's argument is checked. */
enum cond {
    C_ANY,          /* no condition */
    C_SELF_A0,      /* argument 0 is this process's id (tgkill, kill) */
    C_KVM_IOCTL,    /* an ioctl of KVM's type (KVMIO) */
    C_TTY_IOCTL,    /* a terminal ioctl: get/set attributes, window size */
    C_THREAD_CLONE, /* clone() of a thread (CLONE_THREAD): no fork */
    C_PRCTL_OWN,    /* prctl() of the thread's own name or no_new_privs */
    C_FILTER,       /* seccomp(SECCOMP_SET_MODE_FILTER): narrowing only */
    C_ENOSYS,       /* refused with ENOSYS (clone3: glibc falls back) */
    C_EACCES,       /* refused with EACCES (opening files: glibc copes) */
};

struct rule {
    int nr;
    unsigned types;
    enum cond cond;
    bool resource; /* dropped by resourcecontrol=deny */
};

/* clang-format off */
#define R(name, types) {SCMP_SYS(name), (types), C_ANY, false}
#define RC(name, types, cond) {SCMP_SYS(name), (types), (cond), false}
#define RR(name, types) {SCMP_SYS(name), (types), C_ANY, true}
/* clang-format on */

static const struct rule rules[] = {
    /*
     * Files are all opened before confinement; but glibc's malloc reads
     * /proc/sys/vm/overcommit_memory the first time it shrinks a heap, in
     * whichever thread that is, and copes with a refusal.
     */
    RC(open, T_ALL, C_EACCES),
    RC(openat, T_ALL, C_EACCES),
    /* Memory (malloc, thread stacks, guest RAM teardown). */
    R(brk, T_ALL),
    R(mmap, T_ALL),
    R(munmap, T_ALL),
    R(mremap, T_ALL),
    R(mprotect, T_ALL),
    R(madvise, T_ALL),
    /* Waiting and waking: locks, events, loops' notifications. */
    R(futex, T_ALL),
    R(read, T_ALL),
    R(write, T_ALL),
    R(readv, T_ALL),
    R(writev, T_ALL),
    R(close, T_ALL),
    R(sched_yield, T_ALL),
    R(nanosleep, T_ALL),
    R(clock_nanosleep, T_ALL),
    R(clock_gettime, T_ALL),
    R(clock_getres, T_ALL),
    R(gettimeofday, T_ALL),
    R(membarrier, T_ALL), /* RCU grace periods */
    /* Threads: identity, exit, glibc's per-thread set-up. */
    R(getpid, T_ALL),
    R(gettid, T_ALL),
    R(exit, T_ALL),
    R(exit_group, T_ALL),
    R(set_robust_list, T_ALL),
    R(rseq, T_ALL),
    R(sched_getaffinity, T_ALL),
    RC(prctl, T_ALL, C_PRCTL_OWN),
    /* Signals: the vCPU kick, abort(), the terminal's fatal handler. */
    R(rt_sigreturn, T_ALL),
    R(rt_sigprocmask, T_ALL),
    R(rt_sigaction, T_ALL),
    R(sigaltstack, T_ALL),
    R(restart_syscall, T_ALL),
    RC(tgkill, T_ALL, C_SELF_A0),
    RC(kill, T_MAIN, C_SELF_A0),
    /* Event loops: poll/epoll/io_uring monitors, eventfds, timers. */
    R(ppoll, T_LOOP),
    R(poll, T_LOOP),
    R(epoll_create1, T_LOOP),
    R(epoll_ctl, T_LOOP),
    R(epoll_wait, T_LOOP),
    R(epoll_pwait, T_LOOP),
    R(epoll_pwait2, T_LOOP),
    R(io_uring_setup, T_LOOP),
    R(io_uring_enter, T_LOOP),
    R(io_uring_register, T_LOOP),
    R(eventfd2, T_LOOP | T_VCPU),
    R(fcntl, T_LOOP),
    /* Starting threads (pool workers): threads only, never a process. */
    RC(clone, T_SPAWN, C_THREAD_CLONE),
    RC(clone3, T_SPAWN, C_ENOSYS),
    RC(seccomp, T_SPAWN, C_FILTER),
    /* Block I/O. */
    R(pread64, T_FILEIO),
    R(pwrite64, T_FILEIO),
    R(preadv, T_FILEIO),
    R(pwritev, T_FILEIO),
    R(preadv2, T_FILEIO),
    R(pwritev2, T_FILEIO),
    R(fdatasync, T_FILEIO),
    R(fsync, T_FILEIO),
    R(fallocate, T_FILEIO),
    R(lseek, T_FILEIO),
    /* KVM: vCPU state, interrupt lines, irqfds, ioeventfds. */
    RC(ioctl, T_KVM, C_KVM_IOCTL),
    /* The main loop's own business: terminals, sockets, files at exit. */
    RC(ioctl, T_MAIN, C_TTY_IOCTL),
    R(accept4, T_MAIN),
    R(recvfrom, T_MAIN),
    R(sendto, T_MAIN),
    R(recvmsg, T_MAIN),
    R(sendmsg, T_MAIN),
    R(shutdown, T_MAIN),
    R(getsockopt, T_MAIN),
    R(fstat, T_MAIN),
    R(newfstatat, T_MAIN),
    R(unlink, T_MAIN),
    R(unlinkat, T_MAIN),
    R(getrandom, T_MAIN),
    /* Scheduling: allowed unless resourcecontrol=deny. */
    RR(sched_setaffinity, T_ALL),
    RR(sched_setscheduler, T_ALL),
    RR(sched_setparam, T_ALL),
    RR(sched_setattr, T_ALL),
    RR(setpriority, T_ALL),
};

/* Terminal ioctls the main loop makes (raw mode, restore, size). */
static const unsigned long tty_ioctls[] = {
    TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, FIONBIO, FIONREAD,
};
#define NR_TTY_IOCTLS (sizeof(tty_ioctls) / sizeof(tty_ioctls[0]))

/* Immutable between vmm_sandbox_init() and vmm_sandbox_cleanup(). */
static struct sock_fprog g_prog[VMM_SANDBOX_NR_THREADS];
static bool g_ready;
static bool g_main_entered;
static int g_trigger; /* a thread type + 1, or 0 */

bool vmm_sandbox_kills(void)
{
    return !SANDBOX_LOG_ONLY;
}

enum vmm_sandbox_thread vmm_sandbox_thread_of(int loom_kind)
{
    switch (loom_kind) {
    case LOOM_THREAD_KIND_VCPU:
        return VMM_SANDBOX_VCPU;
    case LOOM_THREAD_KIND_IOTHREAD:
        return VMM_SANDBOX_IOTHREAD;
    case LOOM_THREAD_KIND_POOL:
        return VMM_SANDBOX_POOL;
    default:
        return VMM_SANDBOX_HELPER;
    }
}

static int fail(char **errmsg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char **errmsg, int err, const char *fmt, ...)
{
    va_list ap;

    if (errmsg && !*errmsg) {
        va_start(ap, fmt);
        if (vasprintf(errmsg, fmt, ap) < 0) {
            *errmsg = NULL;
        }
        va_end(ap);
    }
    return err;
}

static int add_rule(scmp_filter_ctx ctx, const struct rule *r, pid_t pid)
{
    int err = 0;

    switch (r->cond) {
    case C_ANY:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
    case C_SELF_A0:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid));
    case C_KVM_IOCTL:
        return seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, r->nr, 1,
            SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00u, (scmp_datum_t)KVMIO << 8));
    case C_TTY_IOCTL:
        for (size_t i = 0; !err && i < NR_TTY_IOCTLS; i++) {
            err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                   SCMP_A1(SCMP_CMP_EQ, tty_ioctls[i]));
        }
        return err;
    case C_THREAD_CLONE:
        return seccomp_rule_add(
            ctx, SCMP_ACT_ALLOW, r->nr, 1,
            SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    case C_PRCTL_OWN:
        err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                               SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
        if (!err) {
            err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                   SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
        }
        if (!err) {
            err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 2,
                                   SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS),
                                   SCMP_A1(SCMP_CMP_EQ, 1));
        }
        return err;
    case C_FILTER:
        return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER));
    case C_ENOSYS:
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), r->nr, 0);
    case C_EACCES:
        /*
         * Sanitizers open /proc files (LeakSanitizer at exit): there the
         * default action, LOG, takes the call (libseccomp refuses a rule
         * that repeats the default).
         */
        if (SANDBOX_LOG_ONLY) {
            return 0;
        }
        return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), r->nr, 0);
    }
    return -EINVAL;
}

/* The BPF program of libseccomp's @ctx, copied into @out. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *out)
{
    struct sock_filter *insns;
    off_t size;
    int fd, err;

    fd = memfd_create("loom-vm-seccomp", MFD_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    err = seccomp_export_bpf(ctx, fd);
    if (err < 0) {
        goto out;
    }
    size = lseek(fd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(*insns) != 0 ||
        size / (off_t)sizeof(*insns) > BPF_MAXINSNS) {
        err = size < 0 ? -errno : -E2BIG;
        goto out;
    }
    insns = malloc((size_t)size);
    if (!insns) {
        err = -ENOMEM;
        goto out;
    }
    if (pread(fd, insns, (size_t)size, 0) != size) {
        err = -EIO;
        free(insns);
        goto out;
    }
    out->len = (unsigned short)(size / (off_t)sizeof(*insns));
    out->filter = insns;
    err = 0;
out:
    close(fd);
    return err;
}

static int build(enum vmm_sandbox_thread type, bool deny_resource,
                 struct sock_fprog *out)
{
    uint32_t action = SANDBOX_LOG_ONLY ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
    scmp_filter_ctx ctx = seccomp_init(action);
    pid_t pid = getpid();
    int err = 0;

    if (!ctx) {
        return -ENOMEM;
    }
    err = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, action);
    for (size_t i = 0; !err && i < sizeof(rules) / sizeof(rules[0]); i++) {
        if ((rules[i].types & (1u << type)) &&
            !(rules[i].resource && deny_resource)) {
            err = add_rule(ctx, &rules[i], pid);
        }
    }
    if (!err) {
        err = export_bpf(ctx, out);
    }
    seccomp_release(ctx);
    return err;
}

/* A call no list allows, for the tests' trigger; harmless if it runs. */
static void forbidden_call(void)
{
    (void)syscall(SYS_personality, 0xffffffffUL);
}

static int install(enum vmm_sandbox_thread type)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &g_prog[type]) < 0) {
        return -errno;
    }
    if (g_trigger == (int)type + 1) {
        forbidden_call();
    }
    return 0;
}

/* Callback: the new thread, first thing (loom_thread_start_fn). */
static int sandbox_thread_start(enum loom_thread_kind kind, const char *name,
                                void *opaque)
{
    return install(vmm_sandbox_thread_of((int)kind));
}

static void free_progs(void)
{
    for (unsigned i = 0; i < VMM_SANDBOX_NR_THREADS; i++) {
        free(g_prog[i].filter);
        g_prog[i].filter = NULL;
        g_prog[i].len = 0;
    }
}

int vmm_sandbox_init(const struct vmm_sandbox_opts *opts, char **errmsg)
{
    static const char *const names[VMM_SANDBOX_NR_THREADS] = {
        "main", "vCPU", "IOThread", "pool", "helper",
    };
    int err;

    if (!opts || opts->x_trigger < 0 ||
        opts->x_trigger > VMM_SANDBOX_NR_THREADS) {
        return fail(errmsg, -EINVAL, "-sandbox: bad options");
    }
    if (g_ready) {
        return fail(errmsg, -EALREADY, "-sandbox: already set up");
    }
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
        return fail(errmsg, -ENOSYS,
                    "-sandbox on: this kernel has no seccomp filters");
    }
    for (unsigned i = 0; i < VMM_SANDBOX_NR_THREADS; i++) {
        err = build((enum vmm_sandbox_thread)i, opts->resourcecontrol_deny,
                    &g_prog[i]);
        if (err < 0) {
            free_progs();
            return fail(errmsg, err, "-sandbox on: %s thread filter: %s",
                        names[i], strerror(-err));
        }
    }
    /* Inherited by every thread: needed to install filters unprivileged. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        err = -errno;
        free_progs();
        return fail(errmsg, err, "-sandbox on: no_new_privs: %s",
                    strerror(-err));
    }
    g_trigger = opts->x_trigger;
    g_ready = true;
    loom_thread_set_start_hook(sandbox_thread_start, NULL);
    /*
     * libloom starts its call_rcu thread on first use, from whichever
     * thread that is: start it now, confined, so no vCPU thread needs
     * clone().
     */
    loom_drain_call_rcu();
    return 0;
}

/* The trigger's pool job: nothing to do, a worker had to start for it. */
static int noop_job(void *arg)
{
    return 0;
}

int vmm_sandbox_enter_main(void)
{
    int err;

    if (!g_ready || g_main_entered) {
        return -EINVAL;
    }
    err = install(VMM_SANDBOX_MAIN);
    if (err < 0) {
        return err;
    }
    g_main_entered = true;
    if (g_trigger == VMM_SANDBOX_POOL + 1) {
        err = loom_pool_submit(loom_loop_pool(loom_main_loop()), noop_job, NULL,
                               NULL, NULL, NULL);
    }
    return err;
}

void vmm_sandbox_cleanup(void)
{
    if (!g_ready) {
        return;
    }
    loom_thread_set_start_hook(NULL, NULL);
    free_progs();
    g_ready = false;
    g_main_entered = false;
    g_trigger = 0;
}
