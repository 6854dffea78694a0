/* SPDX-License-Identifier: MIT */
/*
 * Internal thread creation (thread-posix.c): every thread the library
 * starts goes through loom__thread_create(), which names it, pins it,
 * runs the thread-start hook in it (see loom_thread_set_start_hook()) and
 * registers it with RCU.
 */
#ifndef LOOM_BASE_THREAD_INT_H
#define LOOM_BASE_THREAD_INT_H

#include <stdint.h>

#include <loom/thread.h>

/* Internal flags, beside LOOM_THREAD_DETACHED. */
/* Do not register the thread as an RCU reader. */
#define LOOM__THREAD_NO_RCU 0x100u
/* Start the thread with every signal blocked. */
#define LOOM__THREAD_NO_SIGNALS 0x200u

/*
 * loom__thread_create() - loom_thread_create_affinity() for a thread of
 * kind @kind, with internal @flags allowed.
 * Context: any.
 * Return: as loom_thread_create_affinity(), or the hook's error.
 */
int loom__thread_create(struct loom_thread **ret, enum loom_thread_kind kind,
                        const char *name, void *(*fn)(void *), void *arg,
                        unsigned flags, const struct loom_cpuset *cpus);

/*
 * loom__thread_id() - a cheap, unique id of the calling thread (the
 * address of a thread-local byte), valid while the thread lives.
 * Context: any.
 */
extern __thread char loom__thread_marker
    __attribute__((tls_model("initial-exec")));

static inline uintptr_t loom__thread_id(void)
{
    return (uintptr_t)&loom__thread_marker;
}

/*
 * loom__cpuset_check() - 0 if @cpus is a set the library accepts (not
 * empty, only CPUs the system has configured), else -EINVAL.  Whether the
 * kernel allows it is only known when it is applied.
 * Context: any.
 */
int loom__cpuset_check(const struct loom_cpuset *cpus);

#endif /* LOOM_BASE_THREAD_INT_H */
