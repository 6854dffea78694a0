/* SPDX-License-Identifier: MIT */
/*
 * loom_call_rcu() stress: several producers enqueue concurrently (the
 * wait-free queue's exchange and late linking), another thread drains
 * repeatedly, and readers keep grace periods non-trivial.  Every callback
 * must run exactly once, in each producer's queueing order, and every
 * drain must find everything its thread queued before it already run.
 */
#include <loom/rcu.h>

#include <pthread.h>
#include <stdlib.h>

#include "harness.h"

#define NPROD 4
#define PER_PROD 200000

struct item {
    struct loom_rcu_head rh;
    unsigned int producer;
    unsigned int index;
    unsigned int runs; /* atomic */
};

static struct item *g_items;
static unsigned int g_next[NPROD]; /* call_rcu thread only */
static uint64_t g_bad;             /* atomic */
static unsigned int g_stop;        /* atomic */

static void item_cb(struct loom_rcu_head *rh)
{
    struct item *it = (struct item *)rh;

    /* Callbacks run in queueing order: per producer, by index. */
    if (it->index != g_next[it->producer]++) {
        __atomic_fetch_add(&g_bad, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&it->runs, 1, __ATOMIC_RELEASE);
}

static void *producer_thread(void *arg)
{
    unsigned int p = (unsigned int)(uintptr_t)arg;
    struct item *mine = g_items + (size_t)p * PER_PROD;

    for (unsigned int i = 0; i < PER_PROD; i++) {
        mine[i].producer = p;
        mine[i].index = i;
        loom_call_rcu(&mine[i].rh, item_cb);
        if (i % 10000 == 9999) {
            loom_drain_call_rcu();
            /* Everything this thread queued before the drain has run. */
            for (unsigned int j = i - 9999; j <= i; j++) {
                if (__atomic_load_n(&mine[j].runs, __ATOMIC_ACQUIRE) != 1) {
                    __atomic_fetch_add(&g_bad, 1, __ATOMIC_RELAXED);
                }
            }
        }
    }
    return NULL;
}

static void *drainer_thread(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        loom_drain_call_rcu();
    }
    return NULL;
}

static void *reader_thread(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        loom_rcu_read_lock();
        for (int i = 0; i < 100; i++) {
            __asm__ __volatile__("" ::: "memory");
        }
        loom_rcu_read_unlock();
    }
    return NULL;
}

static void test_call_stress(void)
{
    pthread_t prod[NPROD], drainer, reader;

    g_items = calloc((size_t)NPROD * PER_PROD, sizeof(*g_items));
    g_assert_nonnull(g_items);
    g_assert_cmpint(pthread_create(&drainer, NULL, drainer_thread, NULL), ==,
                    0);
    g_assert_cmpint(pthread_create(&reader, NULL, reader_thread, NULL), ==,
                    0);
    for (uintptr_t p = 0; p < NPROD; p++) {
        g_assert_cmpint(pthread_create(&prod[p], NULL, producer_thread,
                                       (void *)p), ==, 0);
    }
    for (int p = 0; p < NPROD; p++) {
        g_assert_cmpint(pthread_join(prod[p], NULL), ==, 0);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    g_assert_cmpint(pthread_join(drainer, NULL), ==, 0);
    g_assert_cmpint(pthread_join(reader, NULL), ==, 0);
    loom_drain_call_rcu();

    for (size_t i = 0; i < (size_t)NPROD * PER_PROD; i++) {
        g_assert_cmpuint(__atomic_load_n(&g_items[i].runs, __ATOMIC_ACQUIRE),
                         ==, 1);
    }
    g_assert_cmpuint(g_bad, ==, 0);
    free(g_items);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/rcu/call/stress", test_call_stress);
    return g_test_run();
}
