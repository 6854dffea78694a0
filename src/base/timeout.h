/* SPDX-License-Identifier: MIT */
/*
 * Timeouts (internal), written once for the whole library: nanoseconds to
 * a relative struct timespec (for ppoll, epoll_pwait2, io_uring and futex
 * waits), the monotonic clock in nanoseconds, and relative timeouts to
 * absolute CLOCK_MONOTONIC deadlines (for the timed waits of the
 * synchronisation primitives).
 */
#ifndef LOOM_BASE_TIMEOUT_H
#define LOOM_BASE_TIMEOUT_H

#include <stdint.h>
#include <time.h>

#define LOOM__NS_PER_SEC 1000000000

/*
 * loom__timespec_ns() - @ns (>= 0) nanoseconds as a struct timespec.
 * Context: any.
 */
static inline struct timespec loom__timespec_ns(int64_t ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ns / LOOM__NS_PER_SEC);
    ts.tv_nsec = (long)(ns % LOOM__NS_PER_SEC);
    return ts;
}

/*
 * loom__mono_ns() - CLOCK_MONOTONIC now, in nanoseconds.
 * Context: any.
 */
static inline int64_t loom__mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * LOOM__NS_PER_SEC + ts.tv_nsec;
}

/*
 * loom__deadline() - CLOCK_MONOTONIC now + @timeout_ns into @ts.
 * A negative timeout counts as 0; a huge one saturates far in the future
 * instead of overflowing.
 * Context: any.
 */
static inline void loom__deadline(struct timespec *ts, int64_t timeout_ns)
{
    /* Roughly 292 years: still far from overflowing tv_sec. */
    const int64_t max_ns = INT64_MAX / 4;

    clock_gettime(CLOCK_MONOTONIC, ts);
    if (timeout_ns < 0) {
        timeout_ns = 0;
    } else if (timeout_ns > max_ns) {
        timeout_ns = max_ns;
    }
    ts->tv_sec += (time_t)(timeout_ns / LOOM__NS_PER_SEC);
    ts->tv_nsec += (long)(timeout_ns % LOOM__NS_PER_SEC);
    if (ts->tv_nsec >= LOOM__NS_PER_SEC) {
        ts->tv_nsec -= LOOM__NS_PER_SEC;
        ts->tv_sec++;
    }
}

#endif /* LOOM_BASE_TIMEOUT_H */
