/* SPDX-License-Identifier: MIT */
/*
 * bench-rcu internals shared with the liburcu peers (peer-urcu-memb.c,
 * peer-urcu-qsbr.c: one translation unit per flavour, because liburcu's
 * headers map generic names per flavour).
 */
#ifndef LOOM_BENCH_RCU_H
#define LOOM_BENCH_RCU_H

#include <stdbool.h>

#include "common.h"

/* An RCU implementation as seen by the generic synchronize benchmark. */
struct rcu_ops {
    void (*reg)(void);   /* register the calling thread, or NULL */
    void (*unreg)(void); /* unregister it, or NULL */
    void (*lock)(void);
    void (*unlock)(void);
    void (*sync)(void);
};

/* Other threads present while rcu-sync measures. */
enum sync_mode {
    SYNC_ALONE,  /* no other thread */
    SYNC_IDLE,   /* one registered thread, asleep outside any section */
    SYNC_READER, /* one thread on CPU 1 looping in short read sections */
};

/* Argument of rcu_run_sync(). */
struct sync_arg {
    const struct rcu_ops *ops;
    enum sync_mode mode;
};

extern long g_nreads; /* read lock+unlock pairs per rcu-read run */
extern long g_ncalls; /* call_rcu per rcu-call run */
extern long g_nsyncs; /* synchronize calls per rcu-sync run */

/* The pointer readers dereference in their sections. */
extern void *volatile g_rcu_obj;

/* Callback counter of rcu-call runs (incremented on the call_rcu thread). */
extern long g_rcu_cb_count;

/* bench_run_fn: rcu-sync figures for any implementation (arg: sync_arg). */
int rcu_run_sync(void *arg, double *out);

/* Peers (bench_run_fn; arg unused). */
extern const struct rcu_ops urcu_memb_ops;
int urcu_memb_run_read(void *arg, double *out);
int urcu_memb_run_call(void *arg, double *out);
int urcu_qsbr_run_read(void *arg, double *out);

#endif /* LOOM_BENCH_RCU_H */
