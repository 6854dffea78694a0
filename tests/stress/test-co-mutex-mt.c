/* SPDX-License-Identifier: MIT */
/*
 * Stress: a CoMutex and a CoRwlock shared by coroutines of several loop
 * threads.
 *
 * mutex: every coroutine repeatedly takes the mutex, reads a plain
 * counter, sometimes sleeps or moves to another loop while holding it,
 * writes the counter back incremented and bumps an atomic shadow counter.
 * Lost updates or two holders at once would make the plain counter fall
 * behind the shadow.  rwlock: writers update two plain counters together
 * (yielding in between); readers check that they are equal.  Run under
 * ThreadSanitizer: the plain counters are only ordered by the locks.
 */
#include <loom/co.h>

#include <sched.h>
#include <stdint.h>

#include <loom/clock.h>

#include "../unit/co/co-loop-threads.h"
#include "co/co-int.h"
#include "harness.h"

/* The watchdog: longer than the harness's, within the 60 s test timeout. */
#define WAIT_NS (50LL * 1000 * 1000 * 1000)

#define NLOOPS 3
#define CO_PER_LOOP 8
#define NCO (NLOOPS * CO_PER_LOOP)
#define ITERS 5000

static struct lt g_lt[NLOOPS];
static int g_finished;

struct worker {
    int idx;
    unsigned seed;
};

static unsigned next_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

static void start_loops(void)
{
    int i;

    g_finished = 0;
    for (i = 0; i < NLOOPS; i++) {
        lt_start(&g_lt[i], i);
    }
}

static void run_workers(void (*fn)(void *), struct worker *w)
{
    int i;

    for (i = 0; i < NCO; i++) {
        struct loom_co *co;

        w[i].idx = i;
        w[i].seed = (unsigned)i * 104729u + 3;
        g_assert_cmpint(loom_co_create(fn, &w[i], &co), ==, 0);
        loom_co_schedule(g_lt[i % NLOOPS].loop, co);
    }
    STEP_UNTIL_NS(__atomic_load_n(&g_finished, __ATOMIC_ACQUIRE) >= NCO,
                  sched_yield(), WAIT_NS);
    lt_stop_all(g_lt, NLOOPS);
    loom__co_pool_drain();
}

/* ------------------------------------------------------------------ */

static struct loom_co_mutex g_m;
static long g_counter;           /* protected by g_m */
static struct loom_co *g_holder; /* protected by g_m */
static long g_shadow;            /* atomic */
static int g_two_holders;        /* atomic */

static void mutex_worker(void *opaque)
{
    struct worker *w = opaque;
    int i;

    for (i = 0; i < ITERS; i++) {
        unsigned r = next_rand(&w->seed);
        long c;

        loom_co_mutex_lock(&g_m);
        if (g_holder != NULL) {
            __atomic_fetch_add(&g_two_holders, 1, __ATOMIC_RELAXED);
        }
        g_holder = loom_co_self();
        c = g_counter;
        if (r % 64 == 0) {
            /* Hold it while moving to another thread. */
            loom_co_reschedule_self(g_lt[(r >> 6) % NLOOPS].loop);
        } else if (r % 64 == 1) {
            loom_co_sleep_ns(LOOM_CLOCK_HOST, 0);
        }
        g_counter = c + 1;
        g_holder = NULL;
        __atomic_fetch_add(&g_shadow, 1, __ATOMIC_RELAXED);
        loom_co_mutex_unlock(&g_m);
        if (r % 8 == 2) {
            /* Let other coroutines of this loop in between. */
            loom_co_sleep_ns(LOOM_CLOCK_HOST, 0);
        }
    }
    __atomic_fetch_add(&g_finished, 1, __ATOMIC_RELEASE);
}

static void test_mutex(void)
{
    static struct worker w[NCO];

    loom_co_mutex_init(&g_m);
    g_counter = 0;
    g_shadow = 0;
    start_loops();
    run_workers(mutex_worker, w);
    g_assert_cmpint(g_two_holders, ==, 0);
    g_assert_cmpint(g_counter, ==, (long)NCO * ITERS);
    g_assert_cmpint(__atomic_load_n(&g_shadow, __ATOMIC_RELAXED), ==,
                    g_counter);
    g_assert_null(g_m.holder);
}

/* ------------------------------------------------------------------ */

static struct loom_co_rwlock g_rw;
static long g_a, g_b;    /* protected by g_rw */
static int g_readers_in; /* atomic: readers inside */
static int g_rw_errors;  /* atomic */
static long g_writes;    /* atomic */

static void rw_worker(void *opaque)
{
    struct worker *w = opaque;
    int i;

    for (i = 0; i < ITERS / 2; i++) {
        unsigned r = next_rand(&w->seed);

        if (w->idx % 4 == 0) {
            loom_co_rwlock_wrlock(&g_rw);
            if (__atomic_load_n(&g_readers_in, __ATOMIC_RELAXED) != 0) {
                __atomic_fetch_add(&g_rw_errors, 1, __ATOMIC_RELAXED);
            }
            g_a++;
            if (r % 16 == 0) {
                loom_co_sleep_ns(LOOM_CLOCK_HOST, 0);
            }
            g_b++;
            __atomic_fetch_add(&g_writes, 1, __ATOMIC_RELAXED);
            loom_co_rwlock_unlock(&g_rw);
        } else {
            loom_co_rwlock_rdlock(&g_rw);
            __atomic_fetch_add(&g_readers_in, 1, __ATOMIC_RELAXED);
            if (g_a != g_b) {
                __atomic_fetch_add(&g_rw_errors, 1, __ATOMIC_RELAXED);
            }
            if (r % 16 == 0) {
                loom_co_reschedule_self(g_lt[(r >> 4) % NLOOPS].loop);
            }
            if (g_a != g_b) {
                __atomic_fetch_add(&g_rw_errors, 1, __ATOMIC_RELAXED);
            }
            __atomic_fetch_sub(&g_readers_in, 1, __ATOMIC_RELAXED);
            loom_co_rwlock_unlock(&g_rw);
        }
        if (r % 4 == 1) {
            loom_co_sleep_ns(LOOM_CLOCK_HOST, 0);
        }
    }
    __atomic_fetch_add(&g_finished, 1, __ATOMIC_RELEASE);
}

static void test_rwlock(void)
{
    static struct worker w[NCO];

    loom_co_rwlock_init(&g_rw);
    g_a = 0;
    g_b = 0;
    start_loops();
    run_workers(rw_worker, w);
    g_assert_cmpint(g_rw_errors, ==, 0);
    g_assert_cmpint(g_a, ==, g_b);
    g_assert_cmpint(g_a, ==, __atomic_load_n(&g_writes, __ATOMIC_RELAXED));
    g_assert_cmpint(g_a, ==, (long)(NCO / 4) * (ITERS / 2));
    g_assert_cmpuint(g_rw.readers, ==, 0);
    g_assert_false(g_rw.writer);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/co/stress/mutex", test_mutex);
    g_test_add_func("/co/stress/rwlock", test_rwlock);
    return g_test_run();
}
