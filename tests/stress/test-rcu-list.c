/* SPDX-License-Identifier: MIT */
/*
 * RCU list stress: readers walk a sorted doubly linked list and a singly
 * linked list and check that every element they meet is alive and that
 * keys strictly increase; a writer (under its own mutex) inserts and
 * removes elements at every position and retires them through
 * loom_call_rcu() or loom_synchronize_rcu().
 */
#include <loom/rcu-list.h>

#include <pthread.h>
#include <stdlib.h>

#include "harness.h"

#define RUN_NS (2 * 1000000000LL)
#define NKEYS 64
#define ALIVE 0xa11ce
#define DEAD 0xdead

struct elem {
    int key;
    int magic;
    struct loom_rcu_list_node node;
    struct loom_rcu_snode snode;
    struct loom_rcu_head rh;
};

static struct loom_rcu_list g_list = LOOM_RCU_LIST_INIT(g_list);
static struct loom_rcu_slist g_slist = LOOM_RCU_SLIST_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct elem *g_present[NKEYS];  /* g_lock */
static struct elem *g_spresent[NKEYS]; /* g_lock */

static unsigned int g_stop;
static uint64_t g_bad, g_walks, g_changes, g_cb_queued, g_cb_run;

static void bad(void)
{
    __atomic_fetch_add(&g_bad, 1, __ATOMIC_RELAXED);
}

static void check_elem(struct elem *e, int *last)
{
    if (__atomic_load_n(&e->magic, __ATOMIC_RELAXED) != ALIVE) {
        bad();
    }
    if (e->key <= *last || e->key >= NKEYS) {
        bad();
    }
    *last = e->key;
}

static void *reader_thread(void *arg)
{
    uint64_t walks = 0;

    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        struct elem *e;
        int last = -1;

        loom_rcu_read_lock();
        LOOM_RCU_LIST_FOREACH(e, &g_list, node) {
            check_elem(e, &last);
        }
        last = -1;
        LOOM_RCU_SLIST_FOREACH(e, &g_slist, snode) {
            check_elem(e, &last);
        }
        loom_rcu_read_unlock();
        walks++;
    }
    __atomic_fetch_add(&g_walks, walks, __ATOMIC_RELAXED);
    return NULL;
}

static void elem_free(struct elem *e)
{
    __atomic_store_n(&e->magic, DEAD, __ATOMIC_RELAXED);
    e->key = -1;
    free(e);
}

static void elem_cb(struct loom_rcu_head *rh)
{
    elem_free((struct elem *)((char *)rh - offsetof(struct elem, rh)));
    __atomic_fetch_add(&g_cb_run, 1, __ATOMIC_RELAXED);
}

static struct elem *elem_new(int key)
{
    struct elem *e = calloc(1, sizeof(*e));

    g_assert_nonnull(e);
    e->key = key;
    e->magic = ALIVE;
    return e;
}

/* Insert @key into the doubly linked list, exercising every primitive. */
static void list_insert(int key)
{
    struct elem *e = elem_new(key);
    int prev = key - 1, next = key + 1;

    while (prev >= 0 && !g_present[prev]) {
        prev--;
    }
    while (next < NKEYS && !g_present[next]) {
        next++;
    }
    if (prev < 0) {
        loom_rcu_list_insert_head(&g_list, &e->node);
    } else if (next >= NKEYS) {
        loom_rcu_list_insert_tail(&g_list, &e->node);
    } else if (key % 2) {
        loom_rcu_list_insert_after(&g_present[prev]->node, &e->node);
    } else {
        loom_rcu_list_insert_before(&g_present[next]->node, &e->node);
    }
    g_present[key] = e;
}

static void slist_insert(int key)
{
    struct elem *e = elem_new(key);
    int prev = key - 1;

    while (prev >= 0 && !g_spresent[prev]) {
        prev--;
    }
    if (prev < 0) {
        loom_rcu_slist_insert_head(&g_slist, &e->snode);
    } else {
        loom_rcu_slist_insert_after(&g_spresent[prev]->snode, &e->snode);
    }
    g_spresent[key] = e;
}

/* Retire @e by one of the two paths; called with g_lock held. */
static void retire(struct elem *e, bool sync)
{
    if (sync) {
        loom_synchronize_rcu();
        elem_free(e);
    } else {
        __atomic_fetch_add(&g_cb_queued, 1, __ATOMIC_RELAXED);
        loom_call_rcu(&e->rh, elem_cb);
    }
}

static void *writer_thread(void *arg)
{
    unsigned int seed = 1;
    uint64_t n = 0;

    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
        int key = (int)(rand_r(&seed) % NKEYS);
        bool sync = n % 64 == 0;

        pthread_mutex_lock(&g_lock);
        if (!g_present[key]) {
            list_insert(key);
        } else if (key % 3 == 0) {
            struct elem *e = elem_new(key), *old = g_present[key];

            loom_rcu_list_replace(&old->node, &e->node);
            g_present[key] = e;
            retire(old, sync);
        } else {
            struct elem *old = g_present[key];

            loom_rcu_list_remove(&old->node);
            g_present[key] = NULL;
            retire(old, sync);
        }
        if (!g_spresent[key]) {
            slist_insert(key);
        } else {
            struct elem *old = g_spresent[key];

            g_assert_true(loom_rcu_slist_remove(&g_slist, &old->snode));
            g_spresent[key] = NULL;
            retire(old, n % 64 == 32);
        }
        pthread_mutex_unlock(&g_lock);
        if (++n % 4096 == 0) {
            loom_drain_call_rcu();
        }
    }
    __atomic_fetch_add(&g_changes, n, __ATOMIC_RELAXED);
    return NULL;
}

static void test_list_stress(void)
{
    pthread_t r[3], w;
    int64_t end = harness_run_end(RUN_NS);
    struct elem *e, *tmp;

    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(pthread_create(&r[i], NULL, reader_thread, NULL), ==,
                        0);
    }
    g_assert_cmpint(pthread_create(&w, NULL, writer_thread, NULL), ==, 0);
    while (!harness_run_over(end)) {
        g_usleep(20000);
    }
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
    g_assert_cmpint(pthread_join(w, NULL), ==, 0);
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(pthread_join(r[i], NULL), ==, 0);
    }

    /* Tear down (no readers left). */
    LOOM_RCU_LIST_FOREACH_SAFE(e, tmp, &g_list, node) {
        loom_rcu_list_remove(&e->node);
        g_present[e->key] = NULL;
        elem_free(e);
    }
    for (int i = 0; i < NKEYS; i++) {
        g_assert_null(g_present[i]);
        if (g_spresent[i]) {
            g_assert_true(loom_rcu_slist_remove(&g_slist,
                                                &g_spresent[i]->snode));
            elem_free(g_spresent[i]);
        }
    }
    g_assert_true(loom_rcu_list_empty(&g_list));
    g_assert_true(loom_rcu_slist_empty(&g_slist));
    loom_drain_call_rcu();

    g_test_message("walks %llu, changes %llu, callbacks %llu",
                   (unsigned long long)g_walks, (unsigned long long)g_changes,
                   (unsigned long long)g_cb_run);
    g_assert_cmpuint(g_bad, ==, 0);
    g_assert_cmpuint(g_walks, >, 0);
    g_assert_cmpuint(g_changes, >, 0);
    g_assert_cmpuint(g_cb_run, ==, g_cb_queued);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/rcu-list/stress", test_list_stress);
    return g_test_run();
}
