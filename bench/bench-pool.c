/* SPDX-License-Identifier: MIT */
/*
 * Thread pools: throughput of tiny jobs with completions back in the
 * submitting loop, and the round trip of a single job.
 *
 *  pool-throughput   1M tiny jobs submitted at once by the loop thread,
 *                    2 workers, until every completion ran in the loop
 *                    (jobs/s).  loom: loom_pool_submit + loom_loop_poll;
 *                    libuv: uv_queue_work + uv_run (UV_THREADPOOL_SIZE=2);
 *                    GLib: GThreadPool (2 threads) pushing results on a
 *                    GAsyncQueue the main thread pops; floor (raw): a
 *                    mutex + condvar queue, a lock-free completion list
 *                    and an eventfd written on its empty -> non-empty
 *                    edge, caller-owned requests (no allocation).
 *  pool-rt           one job at a time: submit, wait for its completion
 *                    in the loop, repeat (p50 and p99, microseconds).
 *
 * All threads unpinned: pool workers are created by the libraries.
 */
#include "common.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#if BENCH_HAVE_LOOM
#include <loom/loop.h>
#include <loom/pool.h>
#endif
#ifdef HAVE_LIBUV
#include <uv.h>
#endif
#ifdef HAVE_GLIB
#include <glib.h>
#endif

#define NWORKERS 2

static long g_tp_n;
static long g_rt_n;

/* The tiny job every implementation runs. */
static int tiny_job(void *arg)
{
    bench_escape(arg);
    return 0;
}

/* ------------------------------------------------------------------ */
/* loom                                                                */

#if BENCH_HAVE_LOOM
static void loom_count_done(void *opaque, int ret)
{
    (*(long *)opaque)++;
}

static int loom_setup(struct loom_loop **l)
{
    int rc = loom_loop_new(l);

    if (rc < 0) {
        return rc;
    }
    rc = loom_pool_set_size(loom_loop_pool(*l), 0, NWORKERS);
    if (rc < 0) {
        loom_loop_unref(*l);
    }
    return rc;
}

static int run_tp_loom(void *arg, double *out)
{
    struct loom_loop *l;
    struct loom_pool *p;
    long count = 0;
    int64_t t0, t1;
    int rc = loom_setup(&l);

    if (rc < 0) {
        return rc;
    }
    p = loom_loop_pool(l);
    t0 = bench_now_ns();
    for (long i = 0; i < g_tp_n; i++) {
        rc = loom_pool_submit(p, tiny_job, NULL, loom_count_done, &count, NULL);
        if (rc < 0) {
            break;
        }
    }
    while (rc == 0 && count < g_tp_n) {
        loom_loop_poll(l, true);
    }
    t1 = bench_now_ns();
    loom_loop_unref(l);
    out[0] = (double)g_tp_n * 1e9 / (double)(t1 - t0);
    return rc;
}

static int run_rt_loom(void *arg, double *out)
{
    struct bench_samples s;
    struct loom_loop *l;
    struct loom_pool *p;
    long count = 0;
    int rc = loom_setup(&l);

    if (rc < 0) {
        return rc;
    }
    p = loom_loop_pool(l);
    bench_samples_init(&s, (size_t)g_rt_n);
    /* One warm-up job starts the worker. */
    for (long i = -1; i < g_rt_n && rc == 0; i++) {
        int64_t t0 = bench_now_ns();
        long want = count + 1;

        rc = loom_pool_submit(p, tiny_job, NULL, loom_count_done, &count, NULL);
        while (rc == 0 && count < want) {
            loom_loop_poll(l, true);
        }
        if (i >= 0) {
            bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
        }
    }
    loom_loop_unref(l);
    out[0] = bench_samples_pct(&s, 50);
    out[1] = bench_samples_pct(&s, 99);
    bench_samples_free(&s);
    return rc;
}
#endif

/* ------------------------------------------------------------------ */
/* libuv                                                               */

#ifdef HAVE_LIBUV
static void uv_work(uv_work_t *req)
{
    (void)tiny_job(req);
}

static void uv_after(uv_work_t *req, int status)
{
    (*(long *)req->data)++;
}

static int run_tp_libuv(void *arg, double *out)
{
    uv_work_t *reqs = malloc(sizeof(*reqs) * (size_t)g_tp_n);
    uv_loop_t loop;
    long count = 0;
    int64_t t0, t1;
    int rc;

    if (!reqs) {
        return -ENOMEM;
    }
    rc = uv_loop_init(&loop);
    if (rc < 0) {
        free(reqs);
        return rc;
    }
    t0 = bench_now_ns();
    for (long i = 0; i < g_tp_n && rc == 0; i++) {
        reqs[i].data = &count;
        rc = uv_queue_work(&loop, &reqs[i], uv_work, uv_after);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    t1 = bench_now_ns();
    uv_loop_close(&loop);
    free(reqs);
    if (rc == 0 && count != g_tp_n) {
        rc = -EIO;
    }
    out[0] = (double)g_tp_n * 1e9 / (double)(t1 - t0);
    return rc;
}

static int run_rt_libuv(void *arg, double *out)
{
    struct bench_samples s;
    uv_loop_t loop;
    uv_work_t req;
    long count = 0;
    int rc = uv_loop_init(&loop);

    if (rc < 0) {
        return rc;
    }
    bench_samples_init(&s, (size_t)g_rt_n);
    req.data = &count;
    for (long i = -1; i < g_rt_n && rc == 0; i++) {
        int64_t t0 = bench_now_ns();

        rc = uv_queue_work(&loop, &req, uv_work, uv_after);
        uv_run(&loop, UV_RUN_DEFAULT);
        if (i >= 0) {
            bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
        }
    }
    uv_loop_close(&loop);
    out[0] = bench_samples_pct(&s, 50);
    out[1] = bench_samples_pct(&s, 99);
    bench_samples_free(&s);
    return rc;
}
#endif

/* ------------------------------------------------------------------ */
/* GLib                                                                */

#ifdef HAVE_GLIB
static void glib_work(gpointer data, gpointer user_data)
{
    (void)tiny_job(data);
    g_async_queue_push(user_data, data);
}

static int run_tp_glib(void *arg, double *out)
{
    GAsyncQueue *dq = g_async_queue_new();
    GThreadPool *gp = g_thread_pool_new(glib_work, dq, NWORKERS, FALSE, NULL);
    int64_t t0, t1;
    static char item; /* any non-NULL pointer */

    if (!gp) {
        g_async_queue_unref(dq);
        return -EAGAIN;
    }
    t0 = bench_now_ns();
    for (long i = 0; i < g_tp_n; i++) {
        g_thread_pool_push(gp, &item, NULL);
    }
    for (long i = 0; i < g_tp_n; i++) {
        (void)g_async_queue_pop(dq);
    }
    t1 = bench_now_ns();
    g_thread_pool_free(gp, FALSE, TRUE);
    g_async_queue_unref(dq);
    out[0] = (double)g_tp_n * 1e9 / (double)(t1 - t0);
    return 0;
}

static int run_rt_glib(void *arg, double *out)
{
    GAsyncQueue *dq = g_async_queue_new();
    GThreadPool *gp = g_thread_pool_new(glib_work, dq, NWORKERS, FALSE, NULL);
    struct bench_samples s;
    static char item;

    if (!gp) {
        g_async_queue_unref(dq);
        return -EAGAIN;
    }
    bench_samples_init(&s, (size_t)g_rt_n);
    for (long i = -1; i < g_rt_n; i++) {
        int64_t t0 = bench_now_ns();

        g_thread_pool_push(gp, &item, NULL);
        (void)g_async_queue_pop(dq);
        if (i >= 0) {
            bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
        }
    }
    g_thread_pool_free(gp, FALSE, TRUE);
    g_async_queue_unref(dq);
    out[0] = bench_samples_pct(&s, 50);
    out[1] = bench_samples_pct(&s, 99);
    bench_samples_free(&s);
    return 0;
}
#endif

/* ------------------------------------------------------------------ */
/* raw floor: mutex + condvar queue, lock-free done list, eventfd      */

struct rjob {
    struct rjob *next;
    int ret;
};

struct rpool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rjob *head, **tailp; /* under lock */
    int nidle;                  /* under lock */
    bool stop;                  /* under lock */
    struct rjob *done;          /* lock-free stack */
    int efd;
    pthread_t th[NWORKERS];
};

static void *rpool_worker(void *arg)
{
    struct rpool *rp = arg;
    struct rjob *j, *old;

    pthread_mutex_lock(&rp->lock);
    for (;;) {
        while (!rp->head && !rp->stop) {
            rp->nidle++;
            pthread_cond_wait(&rp->cond, &rp->lock);
            rp->nidle--;
        }
        if (!rp->head) {
            break;
        }
        j = rp->head;
        rp->head = j->next;
        if (!rp->head) {
            rp->tailp = &rp->head;
        }
        pthread_mutex_unlock(&rp->lock);
        j->ret = tiny_job(j);
        old = __atomic_load_n(&rp->done, __ATOMIC_RELAXED);
        do {
            j->next = old;
        } while (!__atomic_compare_exchange_n(
            &rp->done, &old, j, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
        if (!old) {
            uint64_t one = 1;

            if (write(rp->efd, &one, sizeof(one)) < 0) {
                abort();
            }
        }
        pthread_mutex_lock(&rp->lock);
    }
    pthread_mutex_unlock(&rp->lock);
    return NULL;
}

static int rpool_start(struct rpool *rp)
{
    memset(rp, 0, sizeof(*rp));
    pthread_mutex_init(&rp->lock, NULL);
    pthread_cond_init(&rp->cond, NULL);
    rp->tailp = &rp->head;
    rp->efd = eventfd(0, EFD_CLOEXEC);
    if (rp->efd < 0) {
        return -errno;
    }
    for (int i = 0; i < NWORKERS; i++) {
        if (pthread_create(&rp->th[i], NULL, rpool_worker, rp) != 0) {
            abort();
        }
    }
    return 0;
}

static void rpool_stop(struct rpool *rp)
{
    pthread_mutex_lock(&rp->lock);
    rp->stop = true;
    pthread_cond_broadcast(&rp->cond);
    pthread_mutex_unlock(&rp->lock);
    for (int i = 0; i < NWORKERS; i++) {
        pthread_join(rp->th[i], NULL);
    }
    close(rp->efd);
    pthread_cond_destroy(&rp->cond);
    pthread_mutex_destroy(&rp->lock);
}

static void rpool_submit(struct rpool *rp, struct rjob *j)
{
    j->next = NULL;
    pthread_mutex_lock(&rp->lock);
    *rp->tailp = j;
    rp->tailp = &j->next;
    if (rp->nidle) {
        pthread_cond_signal(&rp->cond);
    }
    pthread_mutex_unlock(&rp->lock);
}

/* Wait for completions (the loop's blocking poll); returns how many. */
static long rpool_reap(struct rpool *rp)
{
    struct pollfd pfd = {.fd = rp->efd, .events = POLLIN};
    struct rjob *j;
    uint64_t v;
    long n = 0;

    if (poll(&pfd, 1, -1) < 0 || read(rp->efd, &v, sizeof(v)) < 0) {
        return -1;
    }
    j = __atomic_exchange_n(&rp->done, NULL, __ATOMIC_SEQ_CST);
    for (; j; j = j->next) {
        bench_escape(j);
        n++;
    }
    return n;
}

static int run_tp_raw(void *arg, double *out)
{
    struct rjob *jobs = malloc(sizeof(*jobs) * (size_t)g_tp_n);
    struct rpool rp;
    long count = 0, r;
    int64_t t0, t1;
    int rc;

    if (!jobs) {
        return -ENOMEM;
    }
    rc = rpool_start(&rp);
    if (rc < 0) {
        free(jobs);
        return rc;
    }
    t0 = bench_now_ns();
    for (long i = 0; i < g_tp_n; i++) {
        rpool_submit(&rp, &jobs[i]);
    }
    while (count < g_tp_n && (r = rpool_reap(&rp)) >= 0) {
        count += r;
    }
    t1 = bench_now_ns();
    rpool_stop(&rp);
    free(jobs);
    out[0] = (double)g_tp_n * 1e9 / (double)(t1 - t0);
    return count == g_tp_n ? 0 : -EIO;
}

static int run_rt_raw(void *arg, double *out)
{
    struct bench_samples s;
    struct rpool rp;
    struct rjob j;
    long r = 0;
    int rc = rpool_start(&rp);

    if (rc < 0) {
        return rc;
    }
    bench_samples_init(&s, (size_t)g_rt_n);
    for (long i = -1; i < g_rt_n && r >= 0; i++) {
        int64_t t0 = bench_now_ns();

        rpool_submit(&rp, &j);
        while ((r = rpool_reap(&rp)) == 0) {
        }
        if (i >= 0) {
            bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
        }
    }
    rpool_stop(&rp);
    out[0] = bench_samples_pct(&s, 50);
    out[1] = bench_samples_pct(&s, 99);
    bench_samples_free(&s);
    return r < 0 ? -EIO : 0;
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const struct bench_impl tp[] = {
#if BENCH_HAVE_LOOM
        {"loom", run_tp_loom, NULL},
#endif
#ifdef HAVE_LIBUV
        {"libuv", run_tp_libuv, NULL},
#endif
#ifdef HAVE_GLIB
        {"glib", run_tp_glib, NULL},
#endif
        {"raw", run_tp_raw, NULL},
    };
    const struct bench_impl rt[] = {
#if BENCH_HAVE_LOOM
        {"loom", run_rt_loom, NULL},
#endif
#ifdef HAVE_LIBUV
        {"libuv", run_rt_libuv, NULL},
#endif
#ifdef HAVE_GLIB
        {"glib", run_rt_glib, NULL},
#endif
        {"raw", run_rt_raw, NULL},
    };
    const struct bench_figure ftp = {"pool-throughput", "ops/s", 1, {NULL}};
    const struct bench_figure frt = {"pool-rt", "us", 2, {"p50", "p99"}};

    /* libuv reads its pool size once, at first use. */
    setenv("UV_THREADPOOL_SIZE", "2", 1);
    bench_init(argc, argv, "bench-pool");
    g_tp_n = bench_size(1000000, 20);
    g_rt_n = bench_size(3000, 10);
    bench_run(&ftp, tp, (int)(sizeof(tp) / sizeof(tp[0])));
    bench_run(&frt, rt, (int)(sizeof(rt) / sizeof(rt[0])));
    return bench_finish();
}
