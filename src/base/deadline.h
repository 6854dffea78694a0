/* SPDX-License-Identifier: MIT */
/*
 * Relative timeouts to absolute CLOCK_MONOTONIC deadlines (internal), for
 * the timed waits of the synchronisation primitives.
 */
#ifndef LOOM_BASE_DEADLINE_H
#define LOOM_BASE_DEADLINE_H

#include <stdint.h>
#include <time.h>

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
    ts->tv_sec += (time_t)(timeout_ns / 1000000000);
    ts->tv_nsec += (long)(timeout_ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_nsec -= 1000000000;
        ts->tv_sec++;
    }
}

#endif /* LOOM_BASE_DEADLINE_H */
