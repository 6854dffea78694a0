/* SPDX-License-Identifier: MIT */
/*
 * Counting semaphore on a futex.  One 64-bit word holds the count (low
 * half: the futex word) and the number of threads that are in, or about
 * to enter, FUTEX_WAIT (high half), so that loom_sem_post() can skip the
 * wake-up system call when nobody sleeps.  Any thread.
 *
 * No lost wake-up: post does "count++, read waiters" and a waiter does
 * "waiters++, read count; sleep only while count == 0", each as one
 * atomic read-modify-write of the word, so one of the two comes first:
 * either the poster sees the waiter and wakes it, or the waiter sees the
 * new count (in its own RMW, or in FUTEX_WAIT's atomic check of the
 * word) and does not sleep.
 *
 * Destruction right after a wait (QEMU's pattern: a semaphore on the
 * waiter's stack, posted once): the poster's RMW is its last access to
 * the word.  Reading the waiters in a second access, after the count was
 * visible, raced with a waiter that took the unit and freed the memory.
 * The futex wake-up that may follow needs no access either: a private
 * futex is looked up by address only, and if that memory already serves
 * someone else's futex, its waiter sees one spurious wake-up (as with
 * glibc's sem_post()).
 */
#include <loom/sync.h>

#include <errno.h>
#include <stddef.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/timeout.h"
#include "base/futex.h"

#define SEM_MAX 0x7fffffffu
#define SEM_WAITER ((uint64_t)1 << 32)

static inline uint32_t sem_count(uint64_t state)
{
    return (uint32_t)state;
}

/* The futex word: the count half of ->state. */
static inline uint32_t *sem_futex(struct loom_sem *s)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (uint32_t *)&s->state;
#else
    return (uint32_t *)&s->state + 1;
#endif
}

void loom_sem_init(struct loom_sem *s, unsigned value)
{
    loom__atomic_set(&s->state, value > SEM_MAX ? SEM_MAX : value);
}

void loom_sem_destroy(struct loom_sem *s)
{
    if ((loom__atomic_load_acquire(&s->state) >> 32) != 0) {
        loom__panic("semaphore %p destroyed with waiters", (void *)s);
    }
}

void loom_sem_post(struct loom_sem *s)
{
    /*
     * Pairs with the compare-exchange in try_take() (the unit) and with
     * the waiter increment in sem_wait_until() (who sleeps).  @s may be
     * freed from here on: only its address is used below.
     */
    uint64_t old = loom__atomic_fetch_add(&s->state, 1);

    if (LOOM_UNLIKELY(sem_count(old) >= SEM_MAX)) {
        loom__panic("semaphore %p count overflow", (void *)s);
    }
    if (old >> 32) {
        loom__futex_wake(sem_futex(s), 1);
    }
}

/* Decrement the count if it is positive; true on success. */
static bool try_take(struct loom_sem *s)
{
    uint64_t v = loom__atomic_read(&s->state);

    while (sem_count(v) > 0) {
        /*
         * Acquire (seq_cst) pairs with the fetch_add in loom_sem_post():
         * what the poster wrote before posting is visible to us.
         */
        if (loom__atomic_cas(&s->state, &v, v - 1)) {
            return true;
        }
    }
    return false;
}

/* Wait for a unit; @deadline NULL means forever.  0 or -ETIMEDOUT. */
static int sem_wait_until(struct loom_sem *s, const struct timespec *deadline)
{
    uint64_t v;
    int err = 0;

    while (!try_take(s)) {
        if (err == -ETIMEDOUT) {
            return -ETIMEDOUT;
        }
        /* Pairs with the fetch_add in loom_sem_post(). */
        v = loom__atomic_fetch_add(&s->state, SEM_WAITER);
        if (sem_count(v) == 0) {
            err = loom__futex_wait(sem_futex(s), 0, deadline);
        }
        loom__atomic_fetch_sub(&s->state, SEM_WAITER);
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
