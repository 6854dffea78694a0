/* SPDX-License-Identifier: MIT */
/*
 * Test helper shared by the coroutine loop tests: threads that do nothing
 * but run a loop, until stopped with a one-shot BH (then they drain what
 * is left).  lt_index() tells a coroutine which of them it runs on.
 */
#ifndef LOOM_TEST_CO_LOOP_THREADS_H
#define LOOM_TEST_CO_LOOP_THREADS_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include <loom/bh.h>
#include <loom/loop.h>

#include "harness.h"

struct lt {
    struct loom_loop *loop;
    pthread_t th;
    int idx;
    bool stop;   /* home(loop) only: set by lt_stop_bh() */
    int started; /* atomic: set by lt_started_bh() */
};

/* Index of the loop thread running the caller; -1 on other threads. */
static __thread int t_lt_idx = -1;

/*
 * Never inlined and opaque to the optimiser: a coroutine that moved to
 * another thread must read the new thread's variable, while a compiler
 * may keep a thread-local address across calls within one function.
 */
static __attribute__((noinline, unused)) int lt_index(void)
{
    int *p = &t_lt_idx;

    __asm__ __volatile__("" : "+r"(p) : : "memory");
    return *p;
}

static void *lt_main(void *arg)
{
    struct lt *lt = arg;

    t_lt_idx = lt->idx;
    while (!lt->stop) {
        loom_loop_poll(lt->loop, true);
    }
    while (loom_loop_poll(lt->loop, false)) {
        /* drain */
    }
    return NULL;
}

static void lt_stop_bh(void *opaque)
{
    ((struct lt *)opaque)->stop = true;
}

static void lt_started_bh(void *opaque)
{
    __atomic_store_n(&((struct lt *)opaque)->started, 1, __ATOMIC_RELEASE);
}

/*
 * Start a loop thread and wait until it polled its loop, which makes it
 * the loop's home thread (until then the creator, this thread, is).
 */
static inline void lt_start(struct lt *lt, int idx)
{
    lt->loop = harness_loop_new();
    lt->idx = idx;
    lt->stop = false;
    lt->started = 0;
    g_assert_cmpint(loom_bh_oneshot(lt->loop, lt_started_bh, lt), ==, 0);
    g_assert_cmpint(pthread_create(&lt->th, NULL, lt_main, lt), ==, 0);
    while (!__atomic_load_n(&lt->started, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
}

/*
 * Stop and join @n loop threads, then free their loops; everything
 * scheduled on them before has run.  All threads are joined before any
 * loop goes: one of them may still be returning from loom_co_schedule()
 * on another's loop (the BH already ran, the wake-up call is not over).
 */
static inline void lt_stop_all(struct lt *lt, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        g_assert_cmpint(loom_bh_oneshot(lt[i].loop, lt_stop_bh, &lt[i]), ==, 0);
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(pthread_join(lt[i].th, NULL), ==, 0);
    }
    for (i = 0; i < n; i++) {
        loom_loop_unref(lt[i].loop);
        lt[i].loop = NULL;
    }
}

/* Stop, join and free one loop thread. */
static inline void lt_stop(struct lt *lt)
{
    lt_stop_all(lt, 1);
}

#endif /* LOOM_TEST_CO_LOOP_THREADS_H */
