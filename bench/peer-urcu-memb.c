/* SPDX-License-Identifier: MIT */
/*
 * bench-rcu's liburcu "memb" side (sys_membarrier flavour), with the read
 * side inlined (_LGPL_SOURCE, the way liburcu users get its fast path).
 * Entered by the benchmark's main thread and its reader thread.
 */
#define _LGPL_SOURCE
#include "bench-rcu.h"

#include <errno.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>

int urcu_memb_run_read(void *arg, double *out)
{
    unsigned long sum = 0;
    int64_t t0, t1;
    long i;

    urcu_memb_register_thread();
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < g_nreads; i++) {
        urcu_memb_read_lock();
        sum += (unsigned long)g_rcu_obj;
        urcu_memb_read_unlock();
    }
    t1 = bench_thread_cpu_ns();
    urcu_memb_unregister_thread();
    bench_escape(sum);
    out[0] = (double)(t1 - t0) / (double)g_nreads;
    return 0;
}

static void call_cb(struct rcu_head *h)
{
    __atomic_fetch_add(&g_rcu_cb_count, 1, __ATOMIC_RELAXED);
}

int urcu_memb_run_call(void *arg, double *out)
{
    struct rcu_head *h = calloc((size_t)g_ncalls, sizeof(*h));
    int64_t t0, t1;
    long i;

    if (!h) {
        return -ENOMEM;
    }
    __atomic_store_n(&g_rcu_cb_count, 0, __ATOMIC_RELAXED);
    urcu_memb_register_thread();
    t0 = bench_now_ns();
    for (i = 0; i < g_ncalls; i++) {
        urcu_memb_call_rcu(&h[i], call_cb);
    }
    urcu_memb_barrier();
    t1 = bench_now_ns();
    urcu_memb_unregister_thread();
    free(h);
    out[0] = (double)g_ncalls / ((double)(t1 - t0) / 1e9);
    return __atomic_load_n(&g_rcu_cb_count, __ATOMIC_RELAXED) == g_ncalls
               ? 0
               : -EPROTO;
}

static void memb_lock(void)
{
    urcu_memb_read_lock();
}

static void memb_unlock(void)
{
    urcu_memb_read_unlock();
}

const struct rcu_ops urcu_memb_ops = {
    .reg = urcu_memb_register_thread,
    .unreg = urcu_memb_unregister_thread,
    .lock = memb_lock,
    .unlock = memb_unlock,
    .sync = urcu_memb_synchronize_rcu,
};
