/* SPDX-License-Identifier: MIT */
/*
 * bench-wakeup internals shared with bench-wakeup-libev.c (libev's
 * header cannot share a translation unit with libevent's).
 */
#ifndef LOOM_BENCH_WAKEUP_H
#define LOOM_BENCH_WAKEUP_H

#include <pthread.h>

#include "common.h"

#define WARMUP_ROUNDS 50

/*
 * State shared by both threads of one repetition.  The fields A writes
 * every round trip have a cache line of their own: the libraries' B
 * callbacks read stop and the objects on every ping, and beside done and
 * t0 each ping would also move that line from A's CPU to B's, a cost of
 * the harness that the raw peers' B (which reads only its word) does not
 * pay.
 */
struct pp {
    enum bench_place place;
    long rounds;              /* measured round trips wanted */
    int stop;                 /* atomic: B must leave its loop */
    void *a, *b;              /* library objects of A and B */
    void *la, *lb;            /* loops of A and B */
    void *(*b_main)(void *);  /* thread B's body */
    long done BENCH_LINE_ALIGNED; /* A only: round trips completed */
    int64_t t0;               /* A only: when the current ping left */
    struct bench_samples s;   /* A only */
};

/* Helpers of bench-wakeup.c; all but pp_stopping() are thread A only. */
bool pp_pong(struct pp *p);
bool pp_stopping(struct pp *p);
void pp_set_stop(struct pp *p);
int pp_begin(struct pp *p, pthread_t *th);
int pp_end(struct pp *p, double *out);
void pp_init(struct pp *p, void *arg);

/* bench_run_fn for libev (bench-wakeup-libev.c). */
int wakeup_run_libev(void *arg, double *out);

#endif /* LOOM_BENCH_WAKEUP_H */
