/* SPDX-License-Identifier: MIT */
/*
 * Stress (TSan target): the pool's lock-free submission.  Several threads
 * push on the same pool while workers leave as soon as they are idle
 * (idle time 0) and come back on demand, spin, sleep and are woken: a
 * push racing a worker's exit or its going to sleep must never leave a
 * request without a worker.  Invariants: every function runs exactly
 * once, every completion callback exactly once in the loop's thread, and
 * everything completes (a stranded request trips the watchdog).
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"
#include <loom/loop.h>
#include <loom/pool.h>

/* Stress runs are long under sanitizers: twice the usual watchdog. */
#define WATCHDOG_NS (2 * HARNESS_WATCHDOG_NS)

enum { NTHREADS = 3, PER_THREAD = 2000 };

struct mjob {
    int fn_runs;   /* atomic */
    int done_runs; /* loop thread only */
};

static pthread_t g_loop_thread;
static int g_wrong_thread; /* atomic */
static long g_done;        /* loop thread only */

static int mjob_fn(void *arg)
{
    struct mjob *j = arg;

    __atomic_fetch_add(&j->fn_runs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void mjob_done(void *opaque, int ret)
{
    struct mjob *j = opaque;

    if (!pthread_equal(pthread_self(), g_loop_thread) || ret != 0) {
        __atomic_store_n(&g_wrong_thread, 1, __ATOMIC_SEQ_CST);
    }
    j->done_runs++;
    g_done++;
}

struct submitter {
    struct loom_pool *p;
    struct mjob *jobs;
    unsigned seed;
};

/*
 * Bursts of 1..8 requests; the submitter waits for their functions to run
 * (no later submission rescues a stranded request), then pauses so that
 * the workers go idle and leave.
 */
static void *submitter_main(void *arg)
{
    struct submitter *s = arg;
    int i = 0;

    while (i < PER_THREAD) {
        int first = i;
        int burst = 1 + (int)(rand_r(&s->seed) % 8);

        for (; burst > 0 && i < PER_THREAD; burst--, i++) {
            g_assert_cmpint(loom_pool_submit(s->p, mjob_fn, &s->jobs[i],
                                             mjob_done, &s->jobs[i], NULL),
                            ==, 0);
        }
        for (int k = first; k < i; k++) {
            int *runs = &s->jobs[k].fn_runs;

            STEP_UNTIL_NS(__atomic_load_n(runs, __ATOMIC_SEQ_CST),
                          harness_yield(), WATCHDOG_NS);
        }
        switch (rand_r(&s->seed) % 4) {
        case 0:
            break;
        case 1:
            sched_yield();
            break;
        default: {
            struct timespec ts = {0, (long)(rand_r(&s->seed) % 50000)};

            nanosleep(&ts, NULL);
            break;
        }
        }
    }
    return NULL;
}

static void run_round(int max_workers, unsigned seed)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct submitter subs[NTHREADS];
    pthread_t th[NTHREADS];
    struct mjob *jobs = calloc(NTHREADS * PER_THREAD, sizeof(*jobs));
    struct loom_pool_stats st;

    g_assert_nonnull(jobs);
    g_loop_thread = pthread_self();
    g_done = 0;
    g_assert_cmpint(loom_pool_set_size(p, 0, max_workers), ==, 0);
    g_assert_cmpint(loom_pool_set_idle_ns(p, 0), ==, 0);
    for (int t = 0; t < NTHREADS; t++) {
        subs[t] = (struct submitter){p, jobs + t * PER_THREAD, seed + t};
        g_assert_cmpint(pthread_create(&th[t], NULL, submitter_main, &subs[t]),
                        ==, 0);
    }
    STEP_UNTIL_NS(g_done == NTHREADS * PER_THREAD,
                  (loom_loop_poll(l, false), harness_yield()), WATCHDOG_NS);
    for (int t = 0; t < NTHREADS; t++) {
        g_assert_cmpint(pthread_join(th[t], NULL), ==, 0);
    }
    for (int i = 0; i < NTHREADS * PER_THREAD; i++) {
        g_assert_cmpint(__atomic_load_n(&jobs[i].fn_runs, __ATOMIC_SEQ_CST),
                        ==, 1);
        g_assert_cmpint(jobs[i].done_runs, ==, 1);
    }
    g_assert_cmpint(__atomic_load_n(&g_wrong_thread, __ATOMIC_SEQ_CST), ==, 0);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.submitted, ==, NTHREADS * PER_THREAD);
    g_assert_cmpuint(st.completed, ==, NTHREADS * PER_THREAD);
    g_assert_cmpuint(st.queued, ==, 0);
    loom_loop_unref(l);
    free(jobs);
}

static void test_submit_mt(void)
{
    for (int round = 0; round < 8; round++) {
        run_round(1 + round % 2, 1234u + 17u * (unsigned)round);
    }
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/pool/stress/submit-mt", test_submit_mt);
    return g_test_run();
}
