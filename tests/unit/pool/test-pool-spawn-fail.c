/* SPDX-License-Identifier: MIT */
/*
 * A pool whose first worker cannot be started (pthread_create() wrapped
 * to fail, as at the process's thread limit): the submission fails with
 * that error, the request is taken back (never run, never completed, not
 * counted), and the pool works again once threads can be started.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "harness.h"
#include <loom/loop.h>
#include <loom/pool.h>

int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg);

static int g_fail; /* atomic: fail every pthread_create() */

int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr,
                          void *(*fn)(void *), void *arg)
{
    if (__atomic_load_n(&g_fail, __ATOMIC_SEQ_CST)) {
        return EAGAIN;
    }
    return __real_pthread_create(th, attr, fn, arg);
}

static int g_fn_runs, g_done_runs; /* atomic / home only */

static int job_fn(void *arg)
{
    __atomic_fetch_add(&g_fn_runs, 1, __ATOMIC_SEQ_CST);
    return 7;
}

static void job_done(void *opaque, int ret)
{
    g_assert_cmpint(ret, ==, 7);
    g_done_runs++;
}

static void test_first_worker_fails(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_pool *p = loom_loop_pool(l);
    struct loom_pool_stats st;
    int i;

    __atomic_store_n(&g_fail, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(loom_pool_submit(p, job_fn, NULL, job_done, NULL,
                                         NULL),
                        ==, -EAGAIN);
    }
    while (loom_loop_poll(l, false)) {
    }
    g_assert_cmpint(__atomic_load_n(&g_fn_runs, __ATOMIC_SEQ_CST), ==, 0);
    g_assert_cmpint(g_done_runs, ==, 0);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.submitted, ==, 0);
    g_assert_cmpuint(st.queued, ==, 0);
    g_assert_cmpuint(st.workers, ==, 0);

    /* Threads can be started again: the pool works. */
    __atomic_store_n(&g_fail, 0, __ATOMIC_SEQ_CST);
    g_assert_cmpint(
        loom_pool_submit(p, job_fn, NULL, job_done, NULL, NULL), ==, 0);
    POLL_UNTIL(l, g_done_runs == 1);
    g_assert_cmpint(__atomic_load_n(&g_fn_runs, __ATOMIC_SEQ_CST), ==, 1);
    loom_pool_stats(p, &st);
    g_assert_cmpuint(st.submitted, ==, 1);
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/pool/first-worker-fails", test_first_worker_fails);
    return g_test_run();
}
