/* SPDX-License-Identifier: MIT */
/*
 * bench-timers internals shared with bench-timers-libev.c (libev's header
 * cannot share a translation unit with libevent's).
 */
#ifndef LOOM_BENCH_TIMERS_H
#define LOOM_BENCH_TIMERS_H

#include <stdint.h>

#include "common.h"

/* What one run measures; a run function's arg points to one of these. */
enum tkind {
    T_ARM,   /* arm n idle timers far out: ns per arm */
    T_FIRE,  /* arm n timers a few ms out, run until all fired: CPU us each */
    T_REARM, /* n armed, re-arm one of them m times (see rearm_off()) */
    T_LATE,  /* one 1 ms periodic timer: lateness p50 / p99 in us */
};

/* Random offsets from "now", indexed with (i & TABLE_MASK). */
#define TABLE_SIZE 65536
#define TABLE_MASK (TABLE_SIZE - 1)
extern int64_t g_far_off[TABLE_SIZE];  /* [1 s, 2 s) */
extern int64_t g_near_off[TABLE_SIZE]; /* [2 ms, 7 ms) */

/*
 * T_REARM moves one timer alternately before and after every other one
 * (0.5 s and 2.5 s out, the others being 1-2 s out): each re-arm walks
 * the whole height of the timer structure, up or down, which is the case
 * that separates a heap from a list and the cost of a periodic timer
 * among many idle ones.
 */
static inline int64_t rearm_off(long i)
{
    return (i & 1) ? 2500000000 : 500000000;
}

extern long g_ntimers; /* timers per run (100,000) */
extern long g_nrearm;  /* re-arms per T_REARM run */
extern long g_nlate;   /* lateness samples per T_LATE run */

#define LATE_PERIOD_NS 1000000

/* bench_run_fn for libev (bench-timers-libev.c); arg is enum tkind *. */
int timers_run_libev(void *arg, double *out);

#endif /* LOOM_BENCH_TIMERS_H */
