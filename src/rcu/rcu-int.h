/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the RCU reader/grace-period code (rcu.c)
 * and the call_rcu thread (rcu-call.c), plus the futex wrappers both use.
 */
#ifndef LOOM_RCU_INT_H
#define LOOM_RCU_INT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Sleep while *word == val, at most @timeout_ns when >= 0.  Spurious
 * returns are possible: callers re-check their condition.
 * Context: any.
 */
static inline void loom__rcu_futex_wait(unsigned int *word, unsigned int val,
                                        int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;

    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    (void)syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

/* Wake every thread sleeping on @word.  Context: any. */
static inline void loom__rcu_futex_wake_all(unsigned int *word)
{
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL,
                  0);
}

/*
 * One-time initialisation of the RCU core (membarrier registration, the
 * thread-exit key, fork handlers).  Context: any.
 */
void loom__rcu_init(void);

/*
 * Tests only: make readers use full fences and the writer skip membarrier,
 * as on kernels without MEMBARRIER_CMD_PRIVATE_EXPEDITED.  Must be called
 * before any thread registers as a reader (panics otherwise).
 * Context: any, before any RCU reader exists.
 */
void loom__rcu_test_force_fences(void);

/*
 * Called by the fork handlers of rcu.c: before fork() with the RCU locks
 * held, and in the child so the call_rcu thread is restarted lazily.
 * Context: the forking thread.
 */
void loom__rcu_call_before_fork(void);
void loom__rcu_call_after_fork_parent(void);
void loom__rcu_call_after_fork_child(void);

#endif /* LOOM_RCU_INT_H */
