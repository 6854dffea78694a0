/* SPDX-License-Identifier: MIT */
/*
 * Stress (TSan target): the thread pool with cancellation racing against
 * workers, a second thread submitting to the same pool, workers coming
 * and going (a 1 ms idle time with bursts and pauses) and loops torn
 * down with requests in flight.  Invariants: every completion callback
 * runs exactly once in the loop's thread; -ECANCELED exactly when cancel
 * returned 0, and then the function never ran; otherwise it ran once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include <loom/loop.h>
#include <loom/pool.h>

/* Stress runs are long under sanitizers: twice the usual watchdog. */
#define WATCHDOG_NS (2 * HARNESS_WATCHDOG_NS)

struct sjob {
    int fn_runs; /* atomic */
    int done_runs;
    int done_ret;
    int cancel_ret;
    bool slow;
    struct loom_pool_req *req;
};

static pthread_t g_loop_thread;
static int g_wrong_thread; /* atomic */

static int sjob_fn(void *arg)
{
    struct sjob *j = arg;

    __atomic_fetch_add(&j->fn_runs, 1, __ATOMIC_SEQ_CST);
    if (j->slow) {
        struct timespec ts = {0, 20000};

        nanosleep(&ts, NULL);
    }
    return 9;
}

static void sjob_done(void *opaque, int ret)
{
    struct sjob *j = opaque;

    if (!pthread_equal(pthread_self(), g_loop_thread)) {
        __atomic_store_n(&g_wrong_thread, 1, __ATOMIC_SEQ_CST);
    }
    j->done_runs++;
    j->done_ret = ret;
}

/* The second submitter: no cancels (it cannot know when done ran). */
struct other {
    struct loom_pool *p;
    struct sjob *jobs;
    int n;
};

static void *other_main(void *arg)
{
    struct other *o = arg;

    for (int i = 0; i < o->n; i++) {
        o->jobs[i].cancel_ret = 1;
        g_assert_cmpint(loom_pool_submit(o->p, sjob_fn, &o->jobs[i], sjob_done,
                                         &o->jobs[i], NULL),
                        ==, 0);
        if (i % 64 == 0) {
            sched_yield();
        }
    }
    return NULL;
}

static void check_jobs(struct sjob *jobs, int n, bool teardown)
{
    for (int i = 0; i < n; i++) {
        struct sjob *j = &jobs[i];

        g_assert_cmpint(j->done_runs, ==, 1);
        if (j->cancel_ret == 0 || (teardown && j->done_ret == -ECANCELED)) {
            g_assert_cmpint(j->done_ret, ==, -ECANCELED);
            g_assert_cmpint(j->fn_runs, ==, 0);
        } else {
            g_assert_true(j->cancel_ret == 1 || j->cancel_ret == -EBUSY);
            g_assert_cmpint(j->done_ret, ==, 9);
            g_assert_cmpint(j->fn_runs, ==, 1);
        }
    }
}

static void one_round(GRand *rnd, int n, int max_workers, bool teardown)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct sjob *jobs = g_new0(struct sjob, n);
    struct sjob *ojobs = g_new0(struct sjob, n / 2);
    struct other o = {.p = p, .jobs = ojobs, .n = n / 2};
    int64_t deadline = harness_now_ns() + WATCHDOG_NS;
    pthread_t th;
    int older = 0;

    g_assert_cmpint(loom_pool_set_size(p, 0, max_workers), ==, 0);
    g_assert_cmpint(loom_pool_set_idle_ns(p, 1000000), ==, 0);
    g_assert_cmpint(pthread_create(&th, NULL, other_main, &o), ==, 0);
    for (int i = 0; i < n; i++) {
        struct sjob *j = &jobs[i];

        j->cancel_ret = 1;
        j->slow = g_rand_int_range(rnd, 0, 50) == 0;
        g_assert_cmpint(loom_pool_submit(p, sjob_fn, j, sjob_done, j, &j->req),
                        ==, 0);
        switch (g_rand_int_range(rnd, 0, 4)) {
        case 0:
            j->cancel_ret = loom_pool_cancel(j->req);
            break;
        case 1:
            loom_loop_poll(l, false);
            break;
        case 2:
            if (g_rand_int_range(rnd, 0, 200) == 0) {
                /* A pause: let workers go idle and exit. */
                struct timespec ts = {0, 2000000};

                nanosleep(&ts, NULL);
            }
            break;
        default:
            break;
        }
        while (older < i - g_rand_int_range(rnd, 0, 32)) {
            struct sjob *o2 = &jobs[older++];

            if (o2->cancel_ret == 1 && o2->done_runs == 0 &&
                g_rand_boolean(rnd)) {
                o2->cancel_ret = loom_pool_cancel(o2->req);
            }
        }
    }
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    if (!teardown) {
        for (;;) {
            int done = 0;

            for (int i = 0; i < n; i++) {
                done += jobs[i].done_runs;
            }
            for (int i = 0; i < n / 2; i++) {
                done += ojobs[i].done_runs;
            }
            if (done == n + n / 2) {
                break;
            }
            loom_loop_poll(l, true);
            harness_watchdog(deadline, "every job done");
        }
    }
    /* With teardown, the last unref runs whatever is owed. */
    loom_loop_unref(l);
    check_jobs(jobs, n, teardown);
    check_jobs(ojobs, n / 2, teardown);
    g_free(jobs);
    g_free(ojobs);
}

static void test_cancel_stress(void)
{
    GRand *rnd = g_rand_new_with_seed(20261122);
    int64_t end = harness_run_end(20LL * 1000 * 1000 * 1000);

    for (int round = 0; round < 24; round++) {
        one_round(rnd, 4000, 1 + round % 4, round % 3 == 2);
        /* Bounded wall time on slow or instrumented machines. */
        if (harness_run_over(end)) {
            break;
        }
    }
    g_assert_cmpint(__atomic_load_n(&g_wrong_thread, __ATOMIC_SEQ_CST), ==, 0);
    g_rand_free(rnd);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_loop_thread = pthread_self();
    g_test_add_func("/pool-stress/cancel", test_cancel_stress);
    return g_test_run();
}
