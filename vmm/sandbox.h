/* SPDX-License-Identifier: MIT */
/*
 * -sandbox on: a seccomp allowlist per thread type (VMM.md, "Sandboxing";
 * docs/design/vmm-hardening.md, "The sandbox").
 *
 * seccomp filters belong to a thread, are inherited by the threads it
 * creates afterwards and can only narrow.  So loom-vm installs each
 * thread's filter inside that thread, first thing, through libloom's
 * thread-start hook: vCPU threads, IOThreads, pool workers and the
 * library's helper threads (call_rcu) each get their type's list when they
 * start; the main thread gets its own once the machine is built and its
 * vCPUs exist (vmm_sandbox_enter_main()).  A thread started later by the
 * main thread or an IOThread (a pool worker) runs under its creator's
 * filter and its own: the creators' lists hold what their children need.
 *
 * A system call outside a thread's list kills the whole process
 * (SECCOMP_RET_KILL_PROCESS: SIGSYS, as QEMU's sandbox), except in
 * sanitizer builds, whose runtimes need calls no list can predict: there
 * the call is allowed and logged by the kernel (SECCOMP_RET_LOG).
 */
#ifndef VMM_SANDBOX_H
#define VMM_SANDBOX_H

#include <stdbool.h>

/**
 * enum vmm_sandbox_thread - the thread types with their own allowlist.
 * @VMM_SANDBOX_MAIN: the main loop (signals, chardevs, QMP, run control,
 *     devices without an IOThread), and whatever it starts later.
 * @VMM_SANDBOX_VCPU: a vCPU thread (KVM_RUN, exits, kicks).
 * @VMM_SANDBOX_IOTHREAD: an IOThread (its loop, block I/O, doorbells).
 * @VMM_SANDBOX_POOL: a thread-pool worker (blocking file I/O).
 * @VMM_SANDBOX_HELPER: the library's own threads that only wait and
 *     signal (call_rcu, the round-robin vCPU kicker) and any other thread
 *     type: the narrowest list.
 * @VMM_SANDBOX_NR_THREADS: how many.
 */
enum vmm_sandbox_thread {
    VMM_SANDBOX_MAIN,
    VMM_SANDBOX_VCPU,
    VMM_SANDBOX_IOTHREAD,
    VMM_SANDBOX_POOL,
    VMM_SANDBOX_HELPER,
    VMM_SANDBOX_NR_THREADS,
};

/**
 * struct vmm_sandbox_opts - how to confine loom-vm.
 * @resourcecontrol_deny: -sandbox resourcecontrol=deny: no thread may
 *     change scheduling (affinity, policy, priority) once confined.
 * @x_trigger: for tests of the sandbox itself, never set from loom-vm's
 *     command line: 0, or a thread type + 1: each thread of that type
 *     makes a system call no list allows right after its filter is in
 *     place (for VMM_SANDBOX_POOL, vmm_sandbox_enter_main() also submits
 *     a job to the main loop's pool, so that a worker starts).
 */
struct vmm_sandbox_opts {
    bool resourcecontrol_deny;
    int x_trigger;
};

/**
 * vmm_sandbox_init() - prepare the filters and confine every new thread.
 * @opts: the options.
 * @errmsg: receives a malloc'ed one-line message on failure; may be NULL.
 *
 * Compiles the five filters, sets no_new_privs for the process (inherited
 * by every thread), installs the thread-start hook that gives each new
 * thread its type's filter, and starts libloom's call_rcu thread now, so
 * that no confined thread ever has to start it.  Call it once, after
 * loom_main_init() and before anything else starts a thread.
 *
 * Context: the main thread, before any other thread exists.
 * Return: 0; -EINVAL for NULL @opts or a bad @x_trigger; -EALREADY if
 * already initialised; -ENOSYS when the kernel has no seccomp filters;
 * -ENOMEM; another negative errno from libseccomp or the kernel.
 */
int vmm_sandbox_init(const struct vmm_sandbox_opts *opts, char **errmsg);

/**
 * vmm_sandbox_enter_main() - confine the main thread.
 *
 * Installs the main thread's filter.  Call it once the machine is built
 * and its vCPU threads started, before the guest's first instruction can
 * reach the main loop.
 *
 * Context: the main thread, after vmm_sandbox_init().
 * Return: 0; -EINVAL before vmm_sandbox_init() or when called twice; the
 * negative errno of seccomp(2).
 */
int vmm_sandbox_enter_main(void);

/**
 * vmm_sandbox_cleanup() - stop confining new threads; free the filters.
 *
 * Threads keep the filters they have.  Call it once no thread can start
 * any more (after the machine and the main loop are torn down).
 *
 * Context: the main thread.
 */
void vmm_sandbox_cleanup(void);

/**
 * vmm_sandbox_kills() - what a call outside a thread's list does.
 *
 * Context: any.
 * Return: true if it kills the process (SIGSYS), false in sanitizer
 * builds, where it is allowed and logged.
 */
bool vmm_sandbox_kills(void);

/**
 * vmm_sandbox_thread_of() - the allowlist a libloom thread kind gets.
 * @loom_kind: an enum loom_thread_kind value.
 *
 * Context: any.
 * Return: the thread type (VMM_SANDBOX_HELPER for kinds without a list
 * of their own).
 */
enum vmm_sandbox_thread vmm_sandbox_thread_of(int loom_kind);

#endif /* VMM_SANDBOX_H */
