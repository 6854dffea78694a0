/* SPDX-License-Identifier: MIT */
/*
 * Stress: coroutines hopping between loops run by several threads.
 *
 * Each coroutine moves to a pseudo-random loop with
 * loom_co_reschedule_self() and checks that it now runs on that loop's
 * thread.  Every few hops it instead parks itself in a mailbox and yields;
 * the main thread (outside any loop) wakes it with loom_co_wake(), which
 * must resume it on the thread it parked on (possibly before the
 * coroutine's yield is even over).  Finally every coroutine returns; pools
 * and loops are torn down.  Run under ThreadSanitizer.
 */
#include <loom/co.h>

#include <sched.h>
#include <stdint.h>

#include "../unit/co/co-loop-threads.h"
#include "co/co-int.h"
#include "harness.h"

/* The watchdog: longer than the harness's, within the 60 s test timeout. */
#define WAIT_NS (50LL * 1000 * 1000 * 1000)

#define NLOOPS 3
#define NCO 24
#define HOPS 20000

struct mailbox {
    struct loom_mutex lock;
    struct loom_co *slot[NCO];
    int n;
};

struct hopper {
    struct loom_co *co;
    unsigned seed;
    int hops;
    int parks;
};

static struct lt g_lt[NLOOPS];
static struct mailbox g_box;
static int g_finished;
static int g_errors;

static unsigned next_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

static void check_on(int expect)
{
    int got = lt_index();

    if (got != expect) {
        __atomic_fetch_add(&g_errors, 1, __ATOMIC_RELAXED);
    }
}

static void park(struct hopper *h)
{
    loom_mutex_lock(&g_box.lock);
    g_box.slot[g_box.n++] = h->co;
    loom_mutex_unlock(&g_box.lock);
    /* The waker may run before this yield is over: wake defers. */
    loom_co_yield();
}

static void hopper_fn(void *opaque)
{
    struct hopper *h = opaque;
    int i;

    for (i = 0; i < HOPS; i++) {
        unsigned r = next_rand(&h->seed);
        int target = (int)(r % NLOOPS);
        int here = lt_index();

        if (r % 16 == 0) {
            park(h);
            check_on(here);
            h->parks++;
            continue;
        }
        loom_co_reschedule_self(g_lt[target].loop);
        check_on(target);
        h->hops++;
    }
    __atomic_fetch_add(&g_finished, 1, __ATOMIC_RELEASE);
}

static void test_hop(void)
{
    static struct hopper h[NCO];
    int64_t deadline = harness_now_ns() + WAIT_NS;
    int i, total_parks = 0;

    loom_mutex_init(&g_box.lock);
    for (i = 0; i < NLOOPS; i++) {
        lt_start(&g_lt[i], i);
    }
    for (i = 0; i < NCO; i++) {
        h[i].seed = (unsigned)i * 7919u + 1;
        g_assert_cmpint(loom_co_create(hopper_fn, &h[i], &h[i].co), ==, 0);
        loom_co_schedule(g_lt[i % NLOOPS].loop, h[i].co);
    }
    while (__atomic_load_n(&g_finished, __ATOMIC_ACQUIRE) < NCO) {
        struct loom_co *woken[NCO];
        int n, j;

        loom_mutex_lock(&g_box.lock);
        n = g_box.n;
        for (j = 0; j < n; j++) {
            woken[j] = g_box.slot[j];
        }
        g_box.n = 0;
        loom_mutex_unlock(&g_box.lock);
        for (j = 0; j < n; j++) {
            loom_co_wake(woken[j]);
        }
        if (n == 0) {
            sched_yield();
        }
        harness_watchdog(deadline, "every hopper finished");
    }
    lt_stop_all(g_lt, NLOOPS);
    for (i = 0; i < NCO; i++) {
        g_assert_cmpint(h[i].hops + h[i].parks, ==, HOPS);
        total_parks += h[i].parks;
    }
    g_assert_cmpint(total_parks, >, 0);
    g_assert_cmpint(__atomic_load_n(&g_errors, __ATOMIC_RELAXED), ==, 0);
    loom_mutex_destroy(&g_box.lock);
    loom__co_pool_drain();
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/co/stress/hop", test_hop);
    return g_test_run();
}
