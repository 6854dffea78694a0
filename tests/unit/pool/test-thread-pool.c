/* SPDX-License-Identifier: MIT */
/*
 * Thread pool semantics: lazy creation, submit (fn on a worker, done in
 * the loop's thread), submit_co, a million jobs with an exact count,
 * cancel (prompt for queued requests, -EBUSY for started ones) and cancel
 * racing with workers, the worker limits, idle exit, teardown with
 * requests in flight, statistics and bad input; workers that idle out
 * are joined without another submission.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/co.h>
#include <loom/loop.h>
#include <loom/pool.h>
#include <loom/thread.h>

#include "base/list.h"
#include "pool/pool-int.h"

static pthread_t g_main_thread;

/* ------------------------------------------------------------------ */

struct job {
    int idx;
    int fn_runs;   /* atomic: times fn ran */
    int done_runs; /* home only: times done ran */
    int done_ret;
    bool fn_in_main;
    bool done_in_main;
    bool fn_had_loop;             /* loom_loop_current() in the worker */
    struct loom_loop *done_loop;  /* loom_loop_current() in done */
    struct loom_event *gate; /* fn waits for it when set */
    int *running;            /* atomic: incremented when fn starts */
};

static int job_fn(void *arg)
{
    struct job *j = arg;

    __atomic_fetch_add(&j->fn_runs, 1, __ATOMIC_SEQ_CST);
    j->fn_in_main = pthread_equal(pthread_self(), g_main_thread);
    j->fn_had_loop = loom_loop_current() != NULL;
    if (j->running) {
        __atomic_fetch_add(j->running, 1, __ATOMIC_SEQ_CST);
    }
    if (j->gate) {
        loom_event_wait(j->gate);
    }
    return j->idx * 3 + 1;
}

static void job_done(void *opaque, int ret)
{
    struct job *j = opaque;

    j->done_runs++;
    j->done_ret = ret;
    j->done_in_main = pthread_equal(pthread_self(), g_main_thread);
    j->done_loop = loom_loop_current();
}

static int jobs_done(struct job *jobs, int n)
{
    int c = 0;

    for (int i = 0; i < n; i++) {
        c += jobs[i].done_runs;
    }
    return c;
}

static void test_lazy(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct loom_pool_stats st;

    g_assert_nonnull(p);
    g_assert_true(loom_loop_pool(l) == p);
    g_assert_null(loom_loop_pool(NULL));
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.workers, ==, 0);
    g_assert_cmpuint(st.submitted, ==, 0);
    g_assert_cmpint(st.min_workers, ==, 0);
    g_assert_cmpint(st.max_workers, ==, LOOM_POOL_DEFAULT_MAX);
    g_assert_cmpint(st.idle_ns, ==, LOOM_POOL_DEFAULT_IDLE_NS);
    loom_loop_unref(l);
}

static void test_submit(void)
{
    enum { N = 200 };
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct job *jobs = g_new0(struct job, N);
    struct loom_pool_req *req;
    struct loom_pool_stats st;

    for (int i = 0; i < N; i++) {
        jobs[i].idx = i;
        g_assert_cmpint(
            loom_pool_submit(p, job_fn, &jobs[i], job_done, &jobs[i], &req), ==,
            0);
        g_assert_nonnull(req);
    }
    /* No completion callback runs before the loop does. */
    g_assert_cmpint(jobs_done(jobs, N), ==, 0);
    POLL_UNTIL(l, jobs_done(jobs, N) == N);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(jobs[i].fn_runs, ==, 1);
        g_assert_cmpint(jobs[i].done_runs, ==, 1);
        g_assert_cmpint(jobs[i].done_ret, ==, i * 3 + 1);
        g_assert_false(jobs[i].fn_in_main);
        g_assert_true(jobs[i].done_in_main);
        /* Workers run no loop; completions run in the pool's loop. */
        g_assert_false(jobs[i].fn_had_loop);
        g_assert_true(jobs[i].done_loop == l);
    }
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.submitted, ==, N);
    g_assert_cmpuint(st.completed, ==, N);
    g_assert_cmpuint(st.cancelled, ==, 0);
    g_assert_cmpuint(st.queued, ==, 0);
    g_assert_cmpuint(st.running, ==, 0);
    g_assert_cmpuint(st.workers, >=, 1);
    g_assert_cmpuint(st.workers, <=, LOOM_POOL_DEFAULT_MAX);
    loom_loop_unref(l);
    g_free(jobs);
}

static int g_nodone_runs;

static int nodone_fn(void *arg)
{
    __atomic_fetch_add(&g_nodone_runs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void test_submit_no_done(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct loom_pool_stats st;

    g_nodone_runs = 0;
    for (int i = 0; i < 10; i++) {
        g_assert_cmpint(loom_pool_submit(p, nodone_fn, NULL, NULL, NULL, NULL),
                        ==, 0);
    }
    POLL_UNTIL(l, (loom_pool_stats(p, &st), st.completed == 10));
    g_assert_cmpint(__atomic_load_n(&g_nodone_runs, __ATOMIC_SEQ_CST), ==, 10);
    loom_loop_unref(l);
}

/* ------------------------------------------------------------------ */

struct co_ctx {
    struct loom_pool *p;
    int results[4];
    bool finished;
    bool resumed_in_main;
};

static int co_fn(void *arg)
{
    int v = (int)(intptr_t)arg;

    g_assert_false(pthread_equal(pthread_self(), g_main_thread));
    return v * 10;
}

static void co_entry(void *opaque)
{
    struct co_ctx *c = opaque;

    for (int i = 0; i < 4; i++) {
        c->results[i] = loom_pool_submit_co(c->p, co_fn, (void *)(intptr_t)i);
    }
    c->resumed_in_main = pthread_equal(pthread_self(), g_main_thread);
    g_assert_cmpint(loom_pool_submit_co(NULL, co_fn, NULL), ==, -EINVAL);
    g_assert_cmpint(loom_pool_submit_co(c->p, NULL, NULL), ==, -EINVAL);
    c->finished = true;
}

static void test_submit_co(void)
{
    struct loom_loop *l = harness_loop_new();
    struct co_ctx c = {.p = loom_loop_pool(l)};
    struct loom_co *co;

    g_assert_cmpint(loom_co_create(co_entry, &c, &co), ==, 0);
    loom_co_schedule(l, co);
    POLL_UNTIL(l, c.finished);
    for (int i = 0; i < 4; i++) {
        g_assert_cmpint(c.results[i], ==, i * 10);
    }
    g_assert_true(c.resumed_in_main);
    loom_loop_unref(l);
}

static void submit_co_outside(void)
{
    struct loom_loop *l = harness_loop_new();

    (void)loom_pool_submit_co(loom_loop_pool(l), co_fn, NULL);
}

static void test_submit_co_outside_panics(void)
{
    if (g_test_subprocess()) {
        submit_co_outside();
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*outside a coroutine*");
}

/* ------------------------------------------------------------------ */

#define MANY 1000000
#define WINDOW 20000

struct many {
    struct loom_pool *p;
    long submitted;
    long done;
    long fn_runs; /* atomic */
    bool bad;
};

static int many_fn(void *arg)
{
    struct many *m = arg;

    __atomic_fetch_add(&m->fn_runs, 1, __ATOMIC_RELAXED);
    return 7;
}

static void many_done(void *opaque, int ret)
{
    struct many *m = opaque;

    m->done++;
    if (ret != 7) {
        m->bad = true;
    }
}

static void test_many(void)
{
    struct loom_loop *l = harness_loop_new();
    struct many m = {.p = loom_loop_pool(l)};
    struct loom_pool_stats st;
    int64_t deadline = harness_now_ns() + 10 * HARNESS_WATCHDOG_NS;

    g_assert_cmpint(loom_pool_set_size(m.p, 0, 2), ==, 0);
    while (m.done < MANY) {
        while (m.submitted < MANY && m.submitted - m.done < WINDOW) {
            g_assert_cmpint(
                loom_pool_submit(m.p, many_fn, &m, many_done, &m, NULL), ==, 0);
            m.submitted++;
        }
        loom_loop_poll(l, true);
        harness_watchdog(deadline, "every job completes");
    }
    g_assert_cmpint(m.done, ==, MANY);
    g_assert_false(m.bad);
    g_assert_cmpint(__atomic_load_n(&m.fn_runs, __ATOMIC_SEQ_CST), ==, MANY);
    loom_pool_stats(m.p, &st);
    g_assert_cmpuint(st.completed, ==, MANY);
    g_assert_cmpuint(st.submitted, ==, MANY);
    g_assert_cmpuint(st.workers, <=, 2);
    /* Nothing more arrives. */
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(m.done, ==, MANY);
    loom_loop_unref(l);
}

/*
 * A burst far beyond the first blocks: 100,000 requests in flight at once
 * (submitted without polling, so none is recycled), each completed once
 * with its own result; their memory is blocks that grow up to huge-page
 * chunks, at most twice the peak, one cache line per request.
 */
#define BURST 100000

static void test_burst(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct job *jobs = calloc(BURST, sizeof(*jobs));
    struct loom__pool_req_block *b;
    int64_t deadline = harness_now_ns() + 10 * HARNESS_WATCHDOG_NS;
    size_t cap, chunks = 0, small = 0, per_chunk;

    g_assert_nonnull(jobs);
    g_assert_cmpint(loom_pool_set_size(p, 0, 2), ==, 0);
    for (int i = 0; i < BURST; i++) {
        jobs[i].idx = i;
        g_assert_cmpint(loom_pool_submit(p, job_fn, &jobs[i], job_done,
                                         &jobs[i], NULL),
                        ==, 0);
    }
    while (jobs_done(jobs, BURST) < BURST) {
        loom_loop_poll(l, true);
        harness_watchdog(deadline, "every job of the burst completes");
    }
    for (int i = 0; i < BURST; i++) {
        g_assert_cmpint(jobs[i].fn_runs, ==, 1);
        g_assert_cmpint(jobs[i].done_runs, ==, 1);
        g_assert_cmpint(jobs[i].done_ret, ==, i * 3 + 1);
    }
    per_chunk = (REQ_CHUNK - offsetof(struct loom__pool_req_block, reqs)) /
                sizeof(struct loom_pool_req);
    loom_mutex_lock(&p->sub_lock);
    for (b = p->blocks; b; b = b->next) {
        g_assert_cmpuint((uintptr_t)b->reqs % LOOM_CACHELINE, ==, 0);
        if (b->mapped) {
            g_assert_cmpuint(b->mapped, ==, REQ_CHUNK);
            g_assert_cmpuint((uintptr_t)b % REQ_CHUNK, ==, 0);
            chunks++;
        } else {
            small++;
        }
    }
    loom_mutex_unlock(&p->sub_lock);
    /* Small blocks of REQ_BLOCK, 2 REQ_BLOCK, 4 REQ_BLOCK..., then chunks. */
    cap = REQ_BLOCK * (((size_t)1 << small) - 1) + chunks * per_chunk;
    g_assert_cmpuint(chunks, >=, 1);
    g_assert_cmpuint(cap, >=, BURST);
    g_assert_cmpuint(cap, <=, 2 * BURST);
    loom_loop_unref(l);
    free(jobs);
}

/* ------------------------------------------------------------------ */

static void test_cancel(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct loom_event gate;
    struct job a = {.idx = 1, .gate = &gate}, b = {.idx = 2};
    struct loom_pool_req *ra, *rb;
    struct loom_pool_stats st;
    int running = 0;

    a.running = &running;
    loom_event_init(&gate, false);
    g_assert_cmpint(loom_pool_set_size(p, 0, 1), ==, 0);
    g_assert_cmpint(loom_pool_submit(p, job_fn, &a, job_done, &a, &ra), ==, 0);
    WAIT_UNTIL(__atomic_load_n(&running, __ATOMIC_SEQ_CST) == 1);
    g_assert_cmpint(loom_pool_submit(p, job_fn, &b, job_done, &b, &rb), ==, 0);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.running, ==, 1);
    g_assert_cmpuint(st.queued, ==, 1);

    g_assert_cmpint(loom_pool_cancel(ra), ==, -EBUSY);
    g_assert_cmpint(loom_pool_cancel(rb), ==, 0);
    g_assert_cmpint(loom_pool_cancel(rb), ==, -EALREADY);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.queued, ==, 0);
    /* Never from inside cancel; promptly although the worker is busy. */
    g_assert_cmpint(b.done_runs, ==, 0);
    POLL_UNTIL(l, b.done_runs == 1);
    g_assert_cmpint(b.done_ret, ==, -ECANCELED);
    g_assert_cmpint(a.done_runs, ==, 0);

    loom_event_set(&gate);
    POLL_UNTIL(l, a.done_runs == 1);
    g_assert_cmpint(a.done_ret, ==, 1 * 3 + 1);
    g_assert_cmpint(a.fn_runs, ==, 1);
    g_assert_cmpint(b.fn_runs, ==, 0);
    g_assert_cmpint(b.done_runs, ==, 1);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.completed, ==, 1);
    g_assert_cmpuint(st.cancelled, ==, 1);
    g_assert_cmpuint(st.submitted, ==, 2);
    loom_loop_unref(l);
    loom_event_destroy(&gate);
}

/*
 * Cancel racing with workers: every request is cancelled at some point
 * after its submission (at once, after other submissions, or after a
 * poll).  Checks: done exactly once; -ECANCELED exactly when cancel
 * returned 0, and then fn never ran; otherwise fn ran exactly once.
 */
struct race_job {
    int fn_runs; /* atomic */
    int done_runs;
    int done_ret;
    int cancel_ret;
    struct loom_pool_req *req;
};

static int race_fn(void *arg)
{
    struct race_job *j = arg;

    __atomic_fetch_add(&j->fn_runs, 1, __ATOMIC_SEQ_CST);
    return 5;
}

static void race_done(void *opaque, int ret)
{
    struct race_job *j = opaque;

    j->done_runs++;
    j->done_ret = ret;
}

static void run_cancel_race(int n, int max_workers)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct race_job *jobs = g_new0(struct race_job, n);
    GRand *rnd = g_rand_new_with_seed(12345);
    int pending_cancel = 0, ndone, ncancelled = 0;
    struct loom_pool_stats st;

    g_assert_cmpint(loom_pool_set_size(p, 0, max_workers), ==, 0);
    for (int i = 0; i < n; i++) {
        struct race_job *j = &jobs[i];

        j->cancel_ret = 1; /* not tried yet */
        g_assert_cmpint(loom_pool_submit(p, race_fn, j, race_done, j, &j->req),
                        ==, 0);
        switch (g_rand_int_range(rnd, 0, 3)) {
        case 0:
            j->cancel_ret = loom_pool_cancel(j->req);
            break;
        case 1:
            break; /* cancelled below, after more submissions */
        default:
            loom_loop_poll(l, false);
            break;
        }
        /* Cancel the older ones whose done has not run yet. */
        while (pending_cancel <= i && (i - pending_cancel > 8 || i == n - 1)) {
            struct race_job *o = &jobs[pending_cancel++];

            if (o->cancel_ret == 1 && o->done_runs == 0) {
                o->cancel_ret = loom_pool_cancel(o->req);
            }
        }
    }
    for (;;) {
        ndone = 0;
        for (int i = 0; i < n; i++) {
            ndone += jobs[i].done_runs;
        }
        if (ndone == n) {
            break;
        }
        loom_loop_poll(l, true);
    }
    for (int i = 0; i < n; i++) {
        struct race_job *j = &jobs[i];

        g_assert_cmpint(j->done_runs, ==, 1);
        if (j->cancel_ret == 0) {
            g_assert_cmpint(j->done_ret, ==, -ECANCELED);
            g_assert_cmpint(j->fn_runs, ==, 0);
            ncancelled++;
        } else {
            g_assert_true(j->cancel_ret == 1 || j->cancel_ret == -EBUSY);
            g_assert_cmpint(j->done_ret, ==, 5);
            g_assert_cmpint(j->fn_runs, ==, 1);
        }
    }
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.cancelled, ==, (uint64_t)ncancelled);
    g_assert_cmpuint(st.completed, ==, (uint64_t)(n - ncancelled));
    g_assert_cmpuint(st.queued, ==, 0);
    g_assert_cmpuint(st.running, ==, 0);
    loom_loop_unref(l);
    g_rand_free(rnd);
    g_free(jobs);
}

static void test_cancel_race(void)
{
    run_cancel_race(20000, 2);
    run_cancel_race(5000, 1);
}

/* ------------------------------------------------------------------ */

static void test_max_workers(void)
{
    enum { N = 6 };
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct job jobs[N] = {{0}};
    struct loom_event gate;
    struct loom_pool_stats st;
    int running = 0;

    loom_event_init(&gate, false);
    g_assert_cmpint(loom_pool_set_size(p, 0, 2), ==, 0);
    for (int i = 0; i < N; i++) {
        jobs[i].idx = i;
        jobs[i].gate = &gate;
        jobs[i].running = &running;
        g_assert_cmpint(
            loom_pool_submit(p, job_fn, &jobs[i], job_done, &jobs[i], NULL), ==,
            0);
    }
    /* Two run in parallel (each waits for the gate), no more. */
    WAIT_UNTIL(__atomic_load_n(&running, __ATOMIC_SEQ_CST) == 2);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.workers, ==, 2);
    g_assert_cmpuint(st.running, ==, 2);
    g_assert_cmpuint(st.queued, ==, N - 2);
    g_assert_cmpint(__atomic_load_n(&running, __ATOMIC_SEQ_CST), ==, 2);

    /* Lowering the maximum: surplus workers leave after their request. */
    g_assert_cmpint(loom_pool_set_size(p, 0, 1), ==, 0);
    loom_event_set(&gate);
    POLL_UNTIL(l, jobs_done(jobs, N) == N);
    WAIT_UNTIL((loom_pool_stats(p, &st), st.workers <= 1));
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(jobs[i].done_ret, ==, i * 3 + 1);
    }
    loom_loop_unref(l);
    loom_event_destroy(&gate);
}

/* Two requests that can only finish together prove parallel workers. */
struct rendezvous {
    int arrived; /* atomic */
};

static int rendezvous_fn(void *arg)
{
    struct rendezvous *r = arg;
    int64_t t0 = harness_now_ns();

    __atomic_fetch_add(&r->arrived, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&r->arrived, __ATOMIC_SEQ_CST) < 2) {
        if (harness_now_ns() - t0 > HARNESS_WATCHDOG_NS) {
            return -ETIMEDOUT;
        }
        sched_yield();
    }
    return 0;
}

static void test_parallel(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct rendezvous r = {0};
    struct job d[2] = {{0}};

    for (int i = 0; i < 2; i++) {
        g_assert_cmpint(
            loom_pool_submit(p, rendezvous_fn, &r, job_done, &d[i], NULL), ==,
            0);
    }
    POLL_UNTIL(l, d[0].done_runs && d[1].done_runs);
    g_assert_cmpint(d[0].done_ret, ==, 0);
    g_assert_cmpint(d[1].done_ret, ==, 0);
    loom_loop_unref(l);
}

static void test_min_workers(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct loom_pool_stats st;

    g_assert_cmpint(loom_pool_set_idle_ns(p, 1000000), ==, 0);
    /* The minimum starts at once and stays, idle or not. */
    g_assert_cmpint(loom_pool_set_size(p, 2, 4), ==, 0);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.workers, ==, 2);
    g_assert_cmpint(st.min_workers, ==, 2);
    g_assert_cmpint(st.max_workers, ==, 4);
    {
        struct timespec ts = {0, 30 * 1000000};

        nanosleep(&ts, NULL);
    }
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.workers, ==, 2);
    /* Lowering the minimum lets them go after the idle time. */
    g_assert_cmpint(loom_pool_set_size(p, 0, 4), ==, 0);
    WAIT_UNTIL((loom_pool_stats(p, &st), st.workers == 0));
    loom_loop_unref(l);
}

static int stamp_fn(void *arg)
{
    __atomic_store_n((int64_t *)arg, harness_now_ns(), __ATOMIC_SEQ_CST);
    return 0;
}

static void test_idle_exit(void)
{
    enum { N = 8 };
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct job jobs[N] = {{0}};
    struct loom_pool_stats st;
    int64_t t0 = 0;

    /* Long idle time first: workers stay after their work. */
    for (int i = 0; i < N; i++) {
        jobs[i].idx = i;
        g_assert_cmpint(
            loom_pool_submit(p, job_fn, &jobs[i], job_done, &jobs[i], NULL), ==,
            0);
    }
    POLL_UNTIL(l, jobs_done(jobs, N) == N);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.workers, >=, 1);
    {
        struct timespec ts = {0, 20 * 1000000};

        nanosleep(&ts, NULL);
    }
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.workers, >=, 1);

    /* Shortening it applies to the waiting workers (idle long enough). */
    g_assert_cmpint(loom_pool_set_idle_ns(p, 20 * 1000000), ==, 0);
    WAIT_UNTIL((loom_pool_stats(p, &st), st.workers == 0));
    g_assert_cmpuint(st.idle_workers, ==, 0);

    /* New workers start on demand again, and never leave early. */
    g_assert_cmpint(loom_pool_submit(p, stamp_fn, &t0, NULL, NULL, NULL), ==,
                    0);
    POLL_UNTIL(l, (loom_pool_stats(p, &st), st.completed == N + 1));
    WAIT_UNTIL((loom_pool_stats(p, &st), st.workers == 0));
    g_assert_cmpint(harness_now_ns() - __atomic_load_n(&t0, __ATOMIC_SEQ_CST),
                    >=, 20 * 1000000);
    loom_loop_unref(l);
}

/* Whether @p holds exited workers that nobody joined yet. */
static bool pool_has_zombies(struct loom_pool *p)
{
    bool any;

    loom_mutex_lock(&p->lock);
    any = !loom__list_empty(&p->zombies);
    loom_mutex_unlock(&p->lock);
    return any;
}

/*
 * Workers that idle out are joined while the loop runs, with no further
 * submission: a program that keeps its loop (and pool) for its whole life
 * holds no exited thread's stack (and TSan sees no leaked thread).
 */
static void test_idle_reaped(void)
{
    enum { N = 64 };
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct job jobs[N] = {{0}};
    struct loom_pool_stats st;

    g_assert_cmpint(loom_pool_set_size(p, 0, 2), ==, 0);
    g_assert_cmpint(loom_pool_set_idle_ns(p, 1000000), ==, 0);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            jobs[i] = (struct job){.idx = i};
            g_assert_cmpint(loom_pool_submit(p, job_fn, &jobs[i], job_done,
                                             &jobs[i], NULL),
                            ==, 0);
        }
        POLL_UNTIL(l, jobs_done(jobs, N) == N);
        /* Run the loop without blocking: nothing else would wake it. */
        STEP_UNTIL((loom_pool_stats(p, &st),
                    st.workers == 0 && !pool_has_zombies(p)),
                   (loom_loop_poll(l, false), harness_yield()));
        g_assert_cmpuint(st.completed, ==, (uint64_t)(round + 1) * N);
    }
    loom_loop_unref(l);
}

/* ------------------------------------------------------------------ */

/*
 * Teardown with a running request, queued ones and a finished one whose
 * completion has not run: the running one is waited for, the queued ones
 * get -ECANCELED, every done runs exactly once, inside the last unref.
 */
struct teardown {
    struct loom_pool *p;
    struct loom_event gate;
    int probes; /* submissions accepted by the helper */
    int late_submit;
    struct job shutdown_job;
};

static void *teardown_helper(void *arg)
{
    struct teardown *t = arg;
    struct job *j = &t->shutdown_job;
    int rc;

    /* Probe until the pool refuses: the teardown has begun. */
    while ((rc = loom_pool_submit(t->p, job_fn, j, NULL, NULL, NULL)) == 0) {
        t->probes++;
        sched_yield();
    }
    g_assert_cmpint(rc, ==, -ESHUTDOWN);
    loom_event_set(&t->gate);
    return NULL;
}

static struct teardown *g_td;

static void late_done(void *opaque, int ret)
{
    job_done(opaque, ret);
    /* Called by the teardown: no more submissions. */
    g_td->late_submit =
        loom_pool_submit(g_td->p, job_fn, opaque, NULL, NULL, NULL);
}

static void test_teardown(void)
{
    struct loom_loop *l = harness_loop_new();
    struct teardown t = {.p = loom_loop_pool(l)};
    struct job a = {.idx = 1}, b = {.idx = 2}, c = {.idx = 3}, d = {.idx = 4};
    struct loom_pool_req *rd;
    int running = 0;
    pthread_t th;

    g_td = &t;
    loom_event_init(&t.gate, false);
    g_assert_cmpint(loom_pool_set_size(t.p, 0, 1), ==, 0);
    /* d finishes; its completion is never polled. */
    g_assert_cmpint(loom_pool_submit(t.p, job_fn, &d, job_done, &d, &rd), ==,
                    0);
    WAIT_UNTIL(__atomic_load_n(&d.fn_runs, __ATOMIC_SEQ_CST) == 1);
    a.gate = &t.gate;
    a.running = &running;
    g_assert_cmpint(loom_pool_submit(t.p, job_fn, &a, job_done, &a, NULL), ==,
                    0);
    WAIT_UNTIL(__atomic_load_n(&running, __ATOMIC_SEQ_CST) == 1);
    g_assert_cmpint(loom_pool_submit(t.p, job_fn, &b, late_done, &b, NULL), ==,
                    0);
    g_assert_cmpint(loom_pool_submit(t.p, job_fn, &c, job_done, &c, NULL), ==,
                    0);
    g_assert_cmpint(pthread_create(&th, NULL, teardown_helper, &t), ==, 0);

    loom_loop_unref(l);

    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_cmpint(d.done_runs, ==, 1);
    g_assert_cmpint(d.done_ret, ==, 4 * 3 + 1);
    g_assert_cmpint(a.done_runs, ==, 1);
    g_assert_cmpint(a.done_ret, ==, 1 * 3 + 1);
    g_assert_cmpint(b.done_runs, ==, 1);
    g_assert_cmpint(b.done_ret, ==, -ECANCELED);
    g_assert_cmpint(b.fn_runs, ==, 0);
    g_assert_cmpint(c.done_runs, ==, 1);
    g_assert_cmpint(c.done_ret, ==, -ECANCELED);
    g_assert_cmpint(c.fn_runs, ==, 0);
    g_assert_cmpint(t.late_submit, ==, -ESHUTDOWN);
    /* The helper's accepted probes were cancelled, never run. */
    g_assert_cmpint(t.shutdown_job.fn_runs, ==, 0);
    loom_event_destroy(&t.gate);
    g_td = NULL;
}

static void test_bad_input(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct loom_pool_req *req = (struct loom_pool_req *)&req;
    struct loom_pool_stats st;
    int dummy = 0;

    g_assert_cmpint(loom_pool_submit(NULL, nodone_fn, NULL, NULL, NULL, &req),
                    ==, -EINVAL);
    g_assert_cmpint(loom_pool_submit(p, NULL, NULL, NULL, NULL, &req), ==,
                    -EINVAL);
    g_assert_true(req == (struct loom_pool_req *)&req); /* untouched */
    g_assert_cmpint(loom_pool_cancel(NULL), ==, -EINVAL);
    g_assert_cmpint(loom_pool_set_size(NULL, 0, 1), ==, -EINVAL);
    g_assert_cmpint(loom_pool_set_size(p, 2, 1), ==, -EINVAL);
    g_assert_cmpint(loom_pool_set_size(p, -1, 1), ==, -EINVAL);
    g_assert_cmpint(loom_pool_set_size(p, 0, 0), ==, -EINVAL);
    g_assert_cmpint(loom_pool_set_idle_ns(NULL, 1), ==, -EINVAL);
    g_assert_cmpint(loom_pool_set_idle_ns(p, -1), ==, -EINVAL);
    loom_pool_stats(NULL, &st);
    loom_pool_stats(p, NULL);
    loom_pool_stats(p, &st);
    /* Nothing changed. */
    g_assert_cmpint(st.min_workers, ==, 0);
    g_assert_cmpint(st.max_workers, ==, LOOM_POOL_DEFAULT_MAX);
    g_assert_cmpint(st.idle_ns, ==, LOOM_POOL_DEFAULT_IDLE_NS);
    g_assert_cmpuint(st.submitted, ==, 0);
    (void)dummy;
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_main_thread = pthread_self();
    g_test_add_func("/pool/lazy", test_lazy);
    g_test_add_func("/pool/submit", test_submit);
    g_test_add_func("/pool/submit-no-done", test_submit_no_done);
    g_test_add_func("/pool/submit-co", test_submit_co);
    g_test_add_func("/pool/submit-co-outside-panics",
                    test_submit_co_outside_panics);
    g_test_add_func("/pool/many", test_many);
    g_test_add_func("/pool/burst", test_burst);
    g_test_add_func("/pool/cancel", test_cancel);
    g_test_add_func("/pool/cancel-race", test_cancel_race);
    g_test_add_func("/pool/max-workers", test_max_workers);
    g_test_add_func("/pool/parallel", test_parallel);
    g_test_add_func("/pool/min-workers", test_min_workers);
    g_test_add_func("/pool/idle-exit", test_idle_exit);
    g_test_add_func("/pool/idle-reaped", test_idle_reaped);
    g_test_add_func("/pool/teardown", test_teardown);
    g_test_add_func("/pool/bad-input", test_bad_input);
    return g_test_run();
}
