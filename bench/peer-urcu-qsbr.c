/* SPDX-License-Identifier: MIT */
/*
 * bench-rcu's liburcu "qsbr" side: the read side is (almost) empty and
 * readers announce quiescent states instead; shown for scale.  Entered by
 * the benchmark's main thread.
 */
#define _LGPL_SOURCE
#include "bench-rcu.h"

#include <urcu/urcu-qsbr.h>

int urcu_qsbr_run_read(void *arg, double *out)
{
    unsigned long sum = 0;
    int64_t t0, t1;
    long i;

    urcu_qsbr_register_thread();
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < g_nreads; i++) {
        urcu_qsbr_read_lock();
        sum += (unsigned long)g_rcu_obj;
        urcu_qsbr_read_unlock();
    }
    t1 = bench_thread_cpu_ns();
    urcu_qsbr_unregister_thread();
    bench_escape(sum);
    out[0] = (double)(t1 - t0) / (double)g_nreads;
    return 0;
}
