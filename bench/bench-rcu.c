/* SPDX-License-Identifier: MIT */
/*
 * RCU: read side, call_rcu throughput and grace-period latency.
 *
 *  rcu-read            read lock + dereference + unlock, one thread
 *                      (ns/op).  loom (inline read side), urcu (liburcu
 *                      memb flavour, inlined with _LGPL_SOURCE),
 *                      urcu-qsbr (qsbr flavour: empty read side), floor:
 *                      the plain dereference (raw).  Thread CPU time.
 *  rcu-call            call_rcu from one thread, then wait until every
 *                      callback ran (loom_drain_call_rcu /
 *                      urcu_memb_barrier): ops/s.  loom vs urcu (memb).
 *  rcu-sync/none       synchronize_rcu with no other thread (us per call).
 *  rcu-sync/idle       the same with one other registered thread, asleep
 *                      outside any read section (what every process with
 *                      worker threads has): the grace-period machinery
 *                      without waiting.
 *  rcu-sync/reader-split  synchronize_rcu on CPU 0 while one thread on
 *                      CPU 1 loops in short read sections (us per call).
 *
 * The main thread measures; the reader thread of rcu-sync is role 1.
 */
#include "bench-rcu.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#if BENCH_HAVE_LOOM
#include <loom/rcu.h>
#endif

long g_nreads;
long g_ncalls;
long g_nsyncs;
void *volatile g_rcu_obj = &g_nreads;
long g_rcu_cb_count;

/* ------------------------------------------------------------------ */
/* rcu-sync, generic over struct rcu_ops                               */

struct reader {
    const struct rcu_ops *ops;
    enum sync_mode mode;
    int state; /* atomic: 0 starting, 1 running, 2 stop */
    pthread_mutex_t mu;
    pthread_cond_t cond; /* SYNC_IDLE: signalled at stop */
};

/* SYNC_IDLE: registered, asleep until told to stop. */
static void reader_idle(struct reader *r)
{
    pthread_mutex_lock(&r->mu);
    while (__atomic_load_n(&r->state, __ATOMIC_RELAXED) == 1) {
        pthread_cond_wait(&r->cond, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

static void *reader_main(void *opaque)
{
    struct reader *r = opaque;
    unsigned long sum = 0;
    int i;

    (void)bench_pin(r->mode == SYNC_READER ? BENCH_SPLIT : BENCH_UNPINNED,
                    1);
    if (r->ops->reg) {
        r->ops->reg();
    }
    /* Pairs with the acquire load in rcu_run_sync(). */
    __atomic_store_n(&r->state, 1, __ATOMIC_RELEASE);
    if (r->mode == SYNC_IDLE) {
        reader_idle(r);
    }
    while (__atomic_load_n(&r->state, __ATOMIC_RELAXED) == 1) {
        r->ops->lock();
        for (i = 0; i < 64; i++) {
            sum += (unsigned long)g_rcu_obj;
        }
        r->ops->unlock();
    }
    bench_escape(sum);
    if (r->ops->unreg) {
        r->ops->unreg();
    }
    return NULL;
}

int rcu_run_sync(void *arg, double *out)
{
    const struct sync_arg *sa = arg;
    struct reader r = { .ops = sa->ops, .mode = sa->mode };
    pthread_t th;
    int64_t t0, t1;
    long i, n = sa->mode == SYNC_READER ? g_nsyncs / 4 : g_nsyncs;
    int rc;

    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cond, NULL);
    if (sa->mode != SYNC_ALONE) {
        rc = bench_pin(sa->mode == SYNC_READER ? BENCH_SPLIT
                                               : BENCH_UNPINNED, 0);
        if (rc == 0) {
            rc = -pthread_create(&th, NULL, reader_main, &r);
        }
        if (rc < 0) {
            pthread_mutex_destroy(&r.mu);
            pthread_cond_destroy(&r.cond);
            return rc;
        }
        /* Pairs with the release store in reader_main(). */
        while (__atomic_load_n(&r.state, __ATOMIC_ACQUIRE) == 0) {
            bench_relax();
        }
    }
    if (sa->ops->reg) {
        sa->ops->reg();
    }
    t0 = bench_now_ns();
    for (i = 0; i < n; i++) {
        sa->ops->sync();
    }
    t1 = bench_now_ns();
    if (sa->ops->unreg) {
        sa->ops->unreg();
    }
    if (sa->mode != SYNC_ALONE) {
        pthread_mutex_lock(&r.mu);
        __atomic_store_n(&r.state, 2, __ATOMIC_RELAXED);
        pthread_cond_signal(&r.cond);
        pthread_mutex_unlock(&r.mu);
        pthread_join(th, NULL);
    }
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cond);
    out[0] = (double)(t1 - t0) / (double)n / 1000.0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* loom                                                                */

#if BENCH_HAVE_LOOM
static int run_read_loom(void *arg, double *out)
{
    unsigned long sum = 0;
    int64_t t0, t1;
    long i;

    loom_rcu_read_lock(); /* registers the thread outside the timing */
    loom_rcu_read_unlock();
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < g_nreads; i++) {
        loom_rcu_read_lock();
        sum += (unsigned long)g_rcu_obj;
        loom_rcu_read_unlock();
    }
    t1 = bench_thread_cpu_ns();
    bench_escape(sum);
    out[0] = (double)(t1 - t0) / (double)g_nreads;
    return 0;
}

static void loom_call_cb(struct loom_rcu_head *h)
{
    __atomic_fetch_add(&g_rcu_cb_count, 1, __ATOMIC_RELAXED);
}

static int run_call_loom(void *arg, double *out)
{
    struct loom_rcu_head *h = calloc((size_t)g_ncalls, sizeof(*h));
    int64_t t0, t1;
    long i;

    if (!h) {
        return -ENOMEM;
    }
    __atomic_store_n(&g_rcu_cb_count, 0, __ATOMIC_RELAXED);
    t0 = bench_now_ns();
    for (i = 0; i < g_ncalls; i++) {
        loom_call_rcu(&h[i], loom_call_cb);
    }
    loom_drain_call_rcu();
    t1 = bench_now_ns();
    free(h);
    out[0] = (double)g_ncalls / ((double)(t1 - t0) / 1e9);
    return __atomic_load_n(&g_rcu_cb_count, __ATOMIC_RELAXED) == g_ncalls
               ? 0
               : -EPROTO;
}

static void loom_lock(void)
{
    loom_rcu_read_lock();
}

static void loom_unlock(void)
{
    loom_rcu_read_unlock();
}

static const struct rcu_ops loom_ops = {
    .reg = loom_rcu_register_thread,
    .unreg = loom_rcu_unregister_thread,
    .lock = loom_lock,
    .unlock = loom_unlock,
    .sync = loom_synchronize_rcu,
};
#endif

/* ------------------------------------------------------------------ */
/* floor                                                               */

static int run_read_raw(void *arg, double *out)
{
    unsigned long sum = 0;
    int64_t t0, t1;
    long i;

    t0 = bench_thread_cpu_ns();
    for (i = 0; i < g_nreads; i++) {
        sum += (unsigned long)g_rcu_obj;
    }
    t1 = bench_thread_cpu_ns();
    bench_escape(sum);
    out[0] = (double)(t1 - t0) / (double)g_nreads;
    return 0;
}

int main(int argc, char **argv)
{
#if BENCH_HAVE_LOOM
    static struct sync_arg loom_sync[3] = {
        { &loom_ops, SYNC_ALONE },
        { &loom_ops, SYNC_IDLE },
        { &loom_ops, SYNC_READER },
    };
#endif
#ifdef HAVE_URCU_MEMB
    static struct sync_arg memb_sync[3] = {
        { &urcu_memb_ops, SYNC_ALONE },
        { &urcu_memb_ops, SYNC_IDLE },
        { &urcu_memb_ops, SYNC_READER },
    };
#endif
    static const struct bench_figure fsync[3] = {
        { "rcu-sync/none", "us", 1, { NULL } },
        { "rcu-sync/idle", "us", 1, { NULL } },
        { "rcu-sync/reader-split", "us", 1, { NULL } },
    };
    const struct bench_impl read[] = {
#if BENCH_HAVE_LOOM
        { "loom", run_read_loom, NULL },
#endif
#ifdef HAVE_URCU_MEMB
        { "urcu", urcu_memb_run_read, NULL },
#endif
#ifdef HAVE_URCU_QSBR
        { "urcu-qsbr", urcu_qsbr_run_read, NULL },
#endif
        { "raw", run_read_raw, NULL },
    };
    const struct bench_impl call[] = {
#if BENCH_HAVE_LOOM
        { "loom", run_call_loom, NULL },
#endif
#ifdef HAVE_URCU_MEMB
        { "urcu", urcu_memb_run_call, NULL },
#endif
    };
    static const struct bench_figure fread = { "rcu-read", "ns/op", 1,
                                               { NULL } };
    static const struct bench_figure fcall = { "rcu-call", "ops/s", 1,
                                               { NULL } };
    int m;

    bench_init(argc, argv, "bench-rcu");
    g_nreads = bench_size(100000000, 10);
    g_ncalls = bench_size(1000000, 10);
    g_nsyncs = bench_size(20000, 10);

    bench_run(&fread, read, (int)(sizeof(read) / sizeof(read[0])));
    bench_run(&fcall, call, (int)(sizeof(call) / sizeof(call[0])));
    for (m = 0; m < 3; m++) {
        const struct bench_impl sync[] = {
#if BENCH_HAVE_LOOM
            { "loom", rcu_run_sync, &loom_sync[m] },
#endif
#ifdef HAVE_URCU_MEMB
            { "urcu", rcu_run_sync, &memb_sync[m] },
#endif
        };

        if (m == SYNC_READER && !bench_place_ok(BENCH_SPLIT)) {
            continue;
        }
        bench_run(&fsync[m], sync, (int)(sizeof(sync) / sizeof(sync[0])));
    }
    return bench_finish();
}
