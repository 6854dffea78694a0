/* SPDX-License-Identifier: MIT */
/*
 * Threads: creation and joining, names, CPU affinity (struct
 * loom_cpuset) and the thread-start hook.  struct loom_thread is opaque.
 *
 * The synchronisation primitives live in <loom/sync.h>, which this header
 * includes.
 */
#ifndef LOOM_THREAD_H
#define LOOM_THREAD_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <loom/common.h>
#include <loom/sync.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

struct loom_thread;

/** LOOM_THREAD_JOINABLE - the thread must be joined with loom_thread_join().
 * It is the default (value 0). */
#define LOOM_THREAD_JOINABLE 0x0u
/** LOOM_THREAD_DETACHED - the thread frees itself when it exits. */
#define LOOM_THREAD_DETACHED 0x1u

/**
 * loom_thread_create() - start a thread.
 * @ret: receives the thread handle.  Required for a joinable thread; for a
 *       detached one it may be NULL and, if not, receives NULL (the handle
 *       is the thread's own and may be gone at any time).
 * @name: the thread's name (pthread_setname_np(), truncated to 15
 *        characters; copied), or NULL to keep the inherited name.
 * @fn: the thread function; its return value is what loom_thread_join()
 *      reports.
 * @arg: passed to @fn.
 * @flags: LOOM_THREAD_JOINABLE or LOOM_THREAD_DETACHED.
 *
 * The new thread runs the thread-start hook, if one is installed
 * (loom_thread_set_start_hook(), kind LOOM_THREAD_KIND_USER), then
 * registers itself with RCU (loom_rcu_register_thread()) before calling
 * @fn and unregisters after @fn returns (or calls pthread_exit()).  It
 * inherits the caller's signal mask and CPU affinity.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @fn, unknown @flags or a joinable thread
 * without @ret; -ENOMEM; the negative errno of pthread_create()
 * (-EAGAIN when out of threads); or the hook's error.
 */
LOOM_API int loom_thread_create(struct loom_thread **ret, const char *name,
                                void *(*fn)(void *), void *arg,
                                unsigned flags);

/**
 * loom_thread_join() - wait for a joinable thread to exit and free it.
 * @t: a joinable thread not yet joined.
 * @ret_val: receives @fn's return value (or pthread_exit()'s argument);
 *           may be NULL.
 *
 * Context: any thread but @t itself.
 * Return: 0 (@t is freed); -EINVAL for a NULL @t; -EDEADLK when called by
 * @t itself (then @t is left untouched).
 */
LOOM_API int loom_thread_join(struct loom_thread *t, void **ret_val);

/**
 * loom_thread_self_name() - name of the calling loom thread.
 *
 * Context: any.
 * Return: the (truncated) name given to loom_thread_create(), valid until
 * the calling thread exits; NULL when the caller was not started by
 * loom_thread_create() or was started without a name.
 */
LOOM_API const char *loom_thread_self_name(void);

/* ------------------------------------------------------------------ */
/* CPU sets and affinity                                               */
/* ------------------------------------------------------------------ */

/** LOOM_CPUSET_SIZE - number of CPUs a struct loom_cpuset can name. */
#define LOOM_CPUSET_SIZE 1024u

/**
 * struct loom_cpuset - a set of CPUs (numbered from 0, as the kernel
 * does), for thread affinity.  Zero it with loom_cpuset_zero() (or
 * "= {0}"), then add CPUs with loom_cpuset_set().  Unlike cpu_set_t it
 * needs no _GNU_SOURCE.
 */
struct loom_cpuset {
    /* private: */
    uint64_t bits[LOOM_CPUSET_SIZE / 64];
};

/**
 * loom_cpuset_zero() - empty @set.
 * @set: the set.
 * Context: any.
 */
static inline void loom_cpuset_zero(struct loom_cpuset *set)
{
    for (unsigned i = 0; i < LOOM_CPUSET_SIZE / 64; i++) {
        set->bits[i] = 0;
    }
}

/**
 * loom_cpuset_set() - add CPU @cpu to @set.
 * @set: the set.
 * @cpu: the CPU number.
 * Context: any.
 * Return: 0; -EINVAL if @cpu >= LOOM_CPUSET_SIZE (@set is unchanged).
 */
static inline int loom_cpuset_set(struct loom_cpuset *set, unsigned cpu)
{
    if (cpu >= LOOM_CPUSET_SIZE) {
        return -EINVAL;
    }
    set->bits[cpu / 64] |= (uint64_t)1 << (cpu % 64);
    return 0;
}

/**
 * loom_cpuset_clear() - remove CPU @cpu from @set (out of range: no-op).
 * @set: the set.
 * @cpu: the CPU number.
 * Context: any.
 */
static inline void loom_cpuset_clear(struct loom_cpuset *set, unsigned cpu)
{
    if (cpu < LOOM_CPUSET_SIZE) {
        set->bits[cpu / 64] &= ~((uint64_t)1 << (cpu % 64));
    }
}

/**
 * loom_cpuset_isset() - is CPU @cpu in @set?
 * @set: the set.
 * @cpu: the CPU number.
 * Context: any.
 * Return: true if it is; false if not or out of range.
 */
static inline bool loom_cpuset_isset(const struct loom_cpuset *set,
                                     unsigned cpu)
{
    return cpu < LOOM_CPUSET_SIZE &&
           (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

/**
 * loom_cpuset_count() - number of CPUs in @set.
 * @set: the set.
 * Context: any.
 * Return: the count (0 for an empty set).
 */
static inline unsigned loom_cpuset_count(const struct loom_cpuset *set)
{
    unsigned n = 0;

    for (unsigned i = 0; i < LOOM_CPUSET_SIZE / 64; i++) {
        n += (unsigned)__builtin_popcountll(set->bits[i]);
    }
    return n;
}

/**
 * loom_thread_create_affinity() - loom_thread_create() on given CPUs.
 * @ret: as loom_thread_create().
 * @name: as loom_thread_create().
 * @fn: as loom_thread_create().
 * @arg: as loom_thread_create().
 * @flags: as loom_thread_create().
 * @cpus: the CPUs the new thread may run on, from its first instruction
 *        (copied); NULL inherits the caller's affinity, exactly as
 *        loom_thread_create().
 *
 * Context: any.
 * Return: as loom_thread_create(); also -EINVAL for an empty @cpus, one
 * naming a CPU this machine does not have (see
 * loom_thread_set_affinity()), or one the kernel refuses (no CPU of it
 * is allowed to this process).
 */
LOOM_API int loom_thread_create_affinity(struct loom_thread **ret,
                                         const char *name,
                                         void *(*fn)(void *), void *arg,
                                         unsigned flags,
                                         const struct loom_cpuset *cpus);

/**
 * loom_thread_set_affinity() - move a running thread to a set of CPUs.
 * @t: a joinable thread not yet joined.
 * @cpus: the CPUs it may run on from now on (copied).
 *
 * A set is valid when it is not empty, names only CPUs below the number
 * of CPUs the system has configured (sysconf(_SC_NPROCESSORS_CONF)), and
 * contains at least one CPU this process may use.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @t or @cpus or an invalid set (then the
 * affinity is unchanged); -ESRCH if the thread has exited.
 */
LOOM_API int loom_thread_set_affinity(struct loom_thread *t,
                                      const struct loom_cpuset *cpus);

/**
 * loom_thread_self_set_affinity() - move the calling thread to @cpus.
 * @cpus: as loom_thread_set_affinity() (any thread, loom's or not).
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL @cpus or an invalid set.
 */
LOOM_API int loom_thread_self_set_affinity(const struct loom_cpuset *cpus);

/* ------------------------------------------------------------------ */
/* Thread-start hook                                                   */
/* ------------------------------------------------------------------ */

/**
 * enum loom_thread_kind - what a thread started by the library is for.
 * @LOOM_THREAD_KIND_USER: loom_thread_create(), for the program.
 * @LOOM_THREAD_KIND_POOL: a thread-pool worker (<loom/pool.h>).
 * @LOOM_THREAD_KIND_CALL_RCU: the call_rcu thread ("loom-call-rcu").
 * @LOOM_THREAD_KIND_IOTHREAD: an IOThread (<loom/iothread.h>), named
 *                            after it.
 * @LOOM_THREAD_KIND_VCPU: a vCPU thread ("vcpu-N"), or the thread of the
 *                        round-robin vCPUs ("vcpu-rr").
 * @LOOM_THREAD_KIND_VCPU_KICKER: the round-robin vCPUs' time-slice
 *                               thread ("vcpu-rr-kick").
 *
 * New kinds may be added at the end.
 */
enum loom_thread_kind {
    LOOM_THREAD_KIND_USER,
    LOOM_THREAD_KIND_POOL,
    LOOM_THREAD_KIND_CALL_RCU,
    LOOM_THREAD_KIND_IOTHREAD,
    LOOM_THREAD_KIND_VCPU,
    LOOM_THREAD_KIND_VCPU_KICKER,
};

/**
 * typedef loom_thread_start_fn - the thread-start hook.
 * @kind: what the thread is for.
 * @name: its name as given to the thread (possibly longer than the 15
 *        characters the kernel keeps), or NULL for an unnamed
 *        LOOM_THREAD_KIND_USER thread.
 * @opaque: the pointer given to loom_thread_set_start_hook().
 *
 * Called in the new thread, first: after the thread got its name and its
 * CPU affinity, before anything else the library does there (RCU
 * registration, the thread's function).  It may do per-thread set-up:
 * install a seccomp filter, change the affinity, the scheduling policy or
 * the signal mask, rename the thread.  Of the library it may call only
 * loom_thread_self_name() and loom_thread_self_set_affinity(): its
 * creator waits for it to return and may hold library locks meanwhile.
 * The call_rcu thread runs it with every signal blocked.
 *
 * Callback: the new thread, while its creator waits.
 * Return: 0 to let the thread run; a negative errno to make the creation
 * fail: the thread then exits at once, without running its function, and
 * the call that started it (loom_thread_create(), loom_iothread_new(),
 * loom_cpu_start(), a pool submission that needed a worker, ...) fails
 * or copes as it does with a failed thread creation, with that error.
 * A positive return counts as -EPERM.
 */
typedef int loom_thread_start_fn(enum loom_thread_kind kind, const char *name,
                                 void *opaque);

/**
 * loom_thread_set_start_hook() - install the thread-start hook.
 * @fn: the hook, or NULL to remove it.
 * @opaque: passed to @fn.
 *
 * Threads started after this returns call @fn; threads already running
 * never do, so install it before the first thread the library starts
 * (before loom_main_init(), the first IOThread, pool, vCPU or
 * loom_call_rcu()).  While no hook is installed, creating a thread does
 * not wait for the new thread to run.
 *
 * Context: any.
 */
LOOM_API void loom_thread_set_start_hook(loom_thread_start_fn *fn,
                                         void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_THREAD_H */
