/* SPDX-License-Identifier: MIT */
/*
 * The one wrapper over the Linux futex system call (internal):
 * process-private waits on a 32-bit word, with an absolute CLOCK_MONOTONIC
 * deadline or a relative timeout, and wake-ups.
 */
#ifndef LOOM_BASE_FUTEX_H
#define LOOM_BASE_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/timeout.h"

/*
 * loom__futex_wait() - sleep while *@addr == @val.
 * @deadline: absolute CLOCK_MONOTONIC time, or NULL to wait forever.
 * Context: any.
 * Return: 0 when woken (or spuriously), -EAGAIN if *@addr != @val on entry,
 * -EINTR on a signal, -ETIMEDOUT when @deadline passed.
 */
static inline int loom__futex_wait(uint32_t *addr, uint32_t val,
                                   const struct timespec *deadline)
{
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
    if (syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val,
                deadline, NULL, FUTEX_BITSET_MATCH_ANY) < 0) {
        return -errno;
    }
    return 0;
}

/*
 * loom__futex_wait_ns() - sleep while *@addr == @val, at most @timeout_ns
 * (relative; negative: forever).
 * Context: any.
 * Return: as loom__futex_wait().
 */
static inline int loom__futex_wait_ns(uint32_t *addr, uint32_t val,
                                      int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;

    if (timeout_ns >= 0) {
        ts = loom__timespec_ns(timeout_ns);
        tsp = &ts;
    }
    /* FUTEX_WAIT takes a relative timeout. */
    if (syscall(SYS_futex, addr, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, val, tsp,
                NULL, 0) < 0) {
        return -errno;
    }
    return 0;
}

/*
 * loom__futex_wake() - wake up to @n threads sleeping on @addr
 * (INT_MAX: all).
 * Context: any.
 */
static inline void loom__futex_wake(uint32_t *addr, int n)
{
    (void)syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL,
                  NULL, 0);
}

#endif /* LOOM_BASE_FUTEX_H */
