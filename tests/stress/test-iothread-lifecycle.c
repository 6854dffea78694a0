/* SPDX-License-Identifier: MIT */
/*
 * Stress (TSan/ASan target): create and destroy 100 IOThreads while other
 * threads schedule BHs into them, call loom_iothread_run() on them and
 * submit pool work to them.  Every BH scheduled before an IOThread's free
 * must have run when the free returns; nothing leaks, nothing hangs.
 *
 * Slots hold the live IOThreads; a per-slot rwlock orders the producers'
 * scheduling (read side) before the free (write side).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/co.h>
#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/pool.h>

/* The watchdog: longer than the harness's, within the 60 s test timeout. */
#define WAIT_NS (50LL * 1000 * 1000 * 1000)

#define NSLOTS 4
#define NPRODUCERS 3
#define TOTAL_IOTHREADS 100

struct slot {
    pthread_rwlock_t lock;
    struct loom_iothread *io; /* under lock */
    int64_t scheduled;        /* atomic: BHs and pool jobs sent */
    int64_t ran;              /* atomic: of those, run */
};

static struct slot g_slots[NSLOTS];
static int g_stop; /* atomic */

static void ran_cb(void *opaque)
{
    struct slot *s = opaque;

    __atomic_fetch_add(&s->ran, 1, __ATOMIC_SEQ_CST);
}

static int pool_fn(void *arg)
{
    return 3;
}

static void pool_done(void *opaque, int ret)
{
    /* Cancelled when the IOThread's loop went with the job queued. */
    g_assert_true(ret == 3 || ret == -ECANCELED);
    ran_cb(opaque);
}

static int run_fn(void *arg)
{
    return 11;
}

static void *producer_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;

    while (!__atomic_load_n(&g_stop, __ATOMIC_SEQ_CST)) {
        struct slot *s = &g_slots[rand_r(&seed) % NSLOTS];
        int what = rand_r(&seed) % 16;

        pthread_rwlock_rdlock(&s->lock);
        if (s->io) {
            struct loom_loop *l = loom_iothread_loop(s->io);

            if (what == 0) {
                g_assert_cmpint(loom_iothread_run(s->io, run_fn, NULL), ==, 11);
            } else if (what == 1) {
                __atomic_fetch_add(&s->scheduled, 1, __ATOMIC_SEQ_CST);
                g_assert_cmpint(loom_pool_submit(loom_loop_pool(l), pool_fn,
                                                 NULL, pool_done, s, NULL),
                                ==, 0);
            } else {
                __atomic_fetch_add(&s->scheduled, 1, __ATOMIC_SEQ_CST);
                g_assert_cmpint(loom_bh_oneshot(l, ran_cb, s), ==, 0);
            }
        }
        pthread_rwlock_unlock(&s->lock);
        if (what == 15) {
            sched_yield();
        }
    }
    return NULL;
}

static void test_lifecycle(void)
{
    pthread_t producers[NPRODUCERS];
    struct loom_iothread_opts opts = {.pool_max = 2};
    int64_t deadline = harness_now_ns() + WAIT_NS;
    char name[32];
    int created = 0;

    for (int i = 0; i < NSLOTS; i++) {
        g_assert_cmpint(pthread_rwlock_init(&g_slots[i].lock, NULL), ==, 0);
    }
    for (int i = 0; i < NPRODUCERS; i++) {
        g_assert_cmpint(pthread_create(&producers[i], NULL, producer_main,
                                       (void *)(uintptr_t)(i + 1)),
                        ==, 0);
    }
    while (created < TOTAL_IOTHREADS) {
        struct slot *s = &g_slots[created % NSLOTS];
        struct loom_iothread *io, *old;

        snprintf(name, sizeof(name), "stress-io%d", created);
        g_assert_cmpint(
            loom_iothread_new(name, created % 2 ? &opts : NULL, &io), ==, 0);
        created++;
        /* Let the producers use the old one for a while first. */
        for (int64_t end = harness_run_end(100 * 1000000);
             __atomic_load_n(&s->scheduled, __ATOMIC_SEQ_CST) < 200 &&
             !harness_run_over(end);) {
            sched_yield();
        }
        pthread_rwlock_wrlock(&s->lock);
        old = s->io;
        s->io = io;
        if (old) {
            int64_t sent = __atomic_load_n(&s->scheduled, __ATOMIC_SEQ_CST);

            /*
             * Everything sent to @old was sent before this lock: BHs run
             * before the free returns; pool completions run in the
             * teardown at the latest.
             */
            loom_iothread_free(old);
            g_assert_cmpint(__atomic_load_n(&s->ran, __ATOMIC_SEQ_CST), ==,
                            sent);
            __atomic_store_n(&s->ran, 0, __ATOMIC_SEQ_CST);
            __atomic_store_n(&s->scheduled, 0, __ATOMIC_SEQ_CST);
        }
        pthread_rwlock_unlock(&s->lock);
        harness_watchdog(deadline, "TOTAL_IOTHREADS created and freed");
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < NPRODUCERS; i++) {
        g_assert_cmpint(pthread_join(producers[i], NULL), ==, 0);
    }
    for (int i = 0; i < NSLOTS; i++) {
        struct slot *s = &g_slots[i];
        int64_t sent = __atomic_load_n(&s->scheduled, __ATOMIC_SEQ_CST);

        loom_iothread_free(s->io);
        g_assert_cmpint(__atomic_load_n(&s->ran, __ATOMIC_SEQ_CST), ==, sent);
        s->io = NULL;
        pthread_rwlock_destroy(&s->lock);
    }
}

/*
 * Coroutines of the test's loop wait on IOThreads' pools (completions in
 * another thread, often before the coroutine finished yielding).
 */
#define NCO 32
#define CO_ROUNDS 300

struct co_arg {
    struct loom_pool *pools[2];
    int idx;
    int *finished;
    int bad;
};

static int co_job(void *arg)
{
    return (int)(intptr_t)arg;
}

static void co_main(void *opaque)
{
    struct co_arg *a = opaque;

    for (int i = 0; i < CO_ROUNDS; i++) {
        int v = a->idx * 1000 + i;

        if (loom_pool_submit_co(a->pools[i % 2], co_job, (void *)(intptr_t)v) !=
            v) {
            a->bad++;
        }
    }
    (*a->finished)++;
}

static void test_submit_co(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_iothread *io[2];
    struct co_arg args[NCO];
    int finished = 0;

    g_assert_cmpint(loom_iothread_new("stress-co0", NULL, &io[0]), ==, 0);
    g_assert_cmpint(loom_iothread_new("stress-co1", NULL, &io[1]), ==, 0);
    for (int i = 0; i < NCO; i++) {
        struct loom_co *co;

        args[i] = (struct co_arg){
            .pools = {loom_loop_pool(loom_iothread_loop(io[0])),
                      loom_loop_pool(loom_iothread_loop(io[1]))},
            .idx = i,
            .finished = &finished,
        };
        g_assert_cmpint(loom_co_create(co_main, &args[i], &co), ==, 0);
        loom_co_schedule(l, co);
    }
    STEP_UNTIL_NS(finished >= NCO, loom_loop_poll(l, true),
                  WAIT_NS);
    for (int i = 0; i < NCO; i++) {
        g_assert_cmpint(args[i].bad, ==, 0);
    }
    loom_iothread_free(io[0]);
    loom_iothread_free(io[1]);
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/iothread-stress/lifecycle", test_lifecycle);
    g_test_add_func("/iothread-stress/submit-co", test_submit_co);
    return g_test_run();
}
