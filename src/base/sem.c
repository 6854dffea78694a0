/* SPDX-License-Identifier: MIT */
/*
 * Counting semaphore on a futex.  ->count is the futex word; ->waiters
 * counts threads that are in, or about to enter, FUTEX_WAIT, so that
 * loom_sem_post() can skip the wake-up system call when nobody sleeps.
 * Any thread.
 *
 * No lost wake-up: post does "count++; read waiters" and a waiter does
 * "waiters++; read count; sleep only while count == 0", both with
 * sequentially consistent operations.  Either the poster sees the waiter
 * and wakes it, or the waiter sees the new count (in its own read, or in
 * FUTEX_WAIT's atomic check of the word) and does not sleep.
 */
#include <loom/sync.h>

#include <errno.h>
#include <stddef.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/timeout.h"
#include "base/futex.h"

#define SEM_MAX 0x7fffffffu

void loom_sem_init(struct loom_sem *s, unsigned value)
{
    loom__atomic_set(&s->count, value > SEM_MAX ? SEM_MAX : value);
    loom__atomic_set(&s->waiters, 0);
}

void loom_sem_destroy(struct loom_sem *s)
{
    if (loom__atomic_load_acquire(&s->waiters) != 0) {
        loom__panic("semaphore %p destroyed with waiters", (void *)s);
    }
}

void loom_sem_post(struct loom_sem *s)
{
    /* Pairs with the compare-exchange in try_take(). */
    uint32_t old = loom__atomic_fetch_add(&s->count, 1);

    if (LOOM_UNLIKELY(old >= SEM_MAX)) {
        loom__panic("semaphore %p count overflow", (void *)s);
    }
    /* Pairs with the increment of ->waiters in sem_wait_until(). */
    if (loom__atomic_load_seq(&s->waiters) != 0) {
        loom__futex_wake(&s->count, 1);
    }
}

/* Decrement the count if it is positive; true on success. */
static bool try_take(struct loom_sem *s)
{
    uint32_t c = loom__atomic_read(&s->count);

    while (c > 0) {
        /*
         * Acquire (seq_cst) pairs with the fetch_add in loom_sem_post():
         * what the poster wrote before posting is visible to us.
         */
        if (loom__atomic_cas(&s->count, &c, c - 1)) {
            return true;
        }
    }
    return false;
}

/* Wait for a unit; @deadline NULL means forever.  0 or -ETIMEDOUT. */
static int sem_wait_until(struct loom_sem *s, const struct timespec *deadline)
{
    int err = 0;

    while (!try_take(s)) {
        if (err == -ETIMEDOUT) {
            return -ETIMEDOUT;
        }
        loom__atomic_inc(&s->waiters);
        /* Pairs with the ->waiters read in loom_sem_post(). */
        if (loom__atomic_load_seq(&s->count) == 0) {
            err = loom__futex_wait(&s->count, 0, deadline);
        }
        loom__atomic_dec(&s->waiters);
    }
    return 0;
}

void loom_sem_wait(struct loom_sem *s)
{
    (void)sem_wait_until(s, NULL);
}

int loom_sem_timedwait(struct loom_sem *s, int64_t timeout_ns)
{
    struct timespec deadline;

    if (try_take(s)) {
        return 0;
    }
    if (timeout_ns <= 0) {
        return -ETIMEDOUT;
    }
    loom__deadline(&deadline, timeout_ns);
    return sem_wait_until(s, &deadline);
}
