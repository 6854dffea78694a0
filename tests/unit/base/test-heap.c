/* SPDX-License-Identifier: MIT */
/*
 * The timers' min-heap (src/timer/heap.c) against a reference model:
 * ordering, FIFO tie-break among equal keys (re-keying moves a node behind
 * its equals), removal and re-keying of arbitrary nodes, up to 100,000
 * elements.  Single-threaded.
 */
#include <glib.h>
#include <stdlib.h>

#include "harness.h"
#include "base/heap.h"

struct item {
    struct loom__heap_node hn;
    int64_t key;
    uint64_t stamp; /* model of the heap's sequence number */
    bool in;
};

/* The model: the live item with the smallest (key, stamp). */
static struct item *model_min(struct item *items, size_t n)
{
    struct item *best = NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        struct item *it = &items[i];

        if (!it->in) {
            continue;
        }
        if (!best || it->key < best->key ||
            (it->key == best->key && it->stamp < best->stamp)) {
            best = it;
        }
    }
    return best;
}

static int cmp_item_ptr(const void *a, const void *b)
{
    const struct item *x = *(struct item *const *)a;
    const struct item *y = *(struct item *const *)b;

    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return x->stamp < y->stamp ? -1 : x->stamp > y->stamp;
}

static struct item *item_of(struct loom__heap_node *hn)
{
    return hn ? (struct item *)((char *)hn - offsetof(struct item, hn)) : NULL;
}

static void test_basic(void)
{
    struct loom__heap h;
    struct item it[6];
    int64_t keys[6] = {50, 10, 30, 10, 50, 10};
    int expect[6] = {1, 3, 5, 2, 0, 4};
    int i;

    loom__heap_init(&h);
    g_assert_null(loom__heap_min(&h));
    g_assert_null(loom__heap_pop(&h));
    for (i = 0; i < 6; i++) {
        loom__heap_node_init(&it[i].hn);
        g_assert_false(loom__heap_node_linked(&it[i].hn));
        g_assert_cmpint(loom__heap_insert(&h, &it[i].hn, keys[i]), ==, 0);
        g_assert_true(loom__heap_node_linked(&it[i].hn));
        g_assert_cmpint(loom__heap_key(&h, &it[i].hn), ==, keys[i]);
    }
    g_assert_cmpuint(loom__heap_len(&h), ==, 6);
    g_assert_true(loom__heap_check(&h));
    g_assert_true(item_of(loom__heap_min(&h)) == &it[1]);
    g_assert_cmpint(loom__heap_min_key(&h), ==, 10);
    for (i = 0; i < 6; i++) {
        struct item *p = item_of(loom__heap_pop(&h));

        g_assert_true(p == &it[expect[i]]);
        g_assert_false(loom__heap_node_linked(&p->hn));
        g_assert_true(loom__heap_check(&h));
    }
    g_assert_cmpuint(loom__heap_len(&h), ==, 0);
    loom__heap_destroy(&h);
}

/* Re-keying to the same key moves a node behind its equals. */
static void test_fifo_rekey(void)
{
    struct loom__heap h;
    struct item it[4];
    int expect[4] = {1, 2, 3, 0};
    int i;

    loom__heap_init(&h);
    for (i = 0; i < 4; i++) {
        loom__heap_node_init(&it[i].hn);
        g_assert_cmpint(loom__heap_insert(&h, &it[i].hn, 7), ==, 0);
    }
    loom__heap_update(&h, &it[0].hn, 7);
    for (i = 0; i < 4; i++) {
        g_assert_true(item_of(loom__heap_pop(&h)) == &it[expect[i]]);
    }
    /* Remove from the middle, then re-key up and down. */
    for (i = 0; i < 4; i++) {
        g_assert_cmpint(loom__heap_insert(&h, &it[i].hn, 10 * i), ==, 0);
    }
    loom__heap_remove(&h, &it[1].hn);
    g_assert_false(loom__heap_node_linked(&it[1].hn));
    loom__heap_update(&h, &it[3].hn, -5);
    loom__heap_update(&h, &it[0].hn, 100);
    g_assert_true(loom__heap_check(&h));
    g_assert_true(item_of(loom__heap_pop(&h)) == &it[3]);
    g_assert_true(item_of(loom__heap_pop(&h)) == &it[2]);
    g_assert_true(item_of(loom__heap_pop(&h)) == &it[0]);
    g_assert_null(loom__heap_pop(&h));
    loom__heap_destroy(&h);
}

/*
 * Random insert / remove / re-key / pop on @n items with keys in
 * [0, @range), checking the minimum against the model after each of the
 * first @checked operations, the whole structure every @every ones, and
 * the full pop order at the end.
 */
static void run_random(size_t n, int64_t range, size_t ops, size_t checked,
                       size_t every, guint32 seed)
{
    struct loom__heap h;
    struct item *items = g_new0(struct item, n);
    struct item **live;
    GRand *r = g_rand_new_with_seed(seed);
    uint64_t stamp = 0;
    size_t i, nlive = 0, k;

    loom__heap_init(&h);
    g_assert_cmpint(loom__heap_reserve(&h, n), ==, 0);
    for (i = 0; i < n; i++) {
        loom__heap_node_init(&items[i].hn);
    }
    for (i = 0; i < ops; i++) {
        struct item *it = &items[g_rand_int_range(r, 0, (gint32)n)];
        int op = g_rand_int_range(r, 0, 10);
        int64_t key = g_rand_int_range(r, 0, (gint32)range);

        if (!it->in) {
            /* Insert (fill up faster than we drain). */
            g_assert_cmpint(loom__heap_insert(&h, &it->hn, key), ==, 0);
            it->key = key;
            it->stamp = stamp++;
            it->in = true;
            nlive++;
        } else if (op < 3) {
            loom__heap_remove(&h, &it->hn);
            it->in = false;
            nlive--;
        } else if (op < 8) {
            loom__heap_update(&h, &it->hn, key);
            it->key = key;
            it->stamp = stamp++;
        } else {
            struct item *m = item_of(loom__heap_pop(&h));

            struct item *next;

            g_assert_nonnull(m);
            if (i < checked) {
                g_assert_true(m == model_min(items, n));
            }
            m->in = false;
            nlive--;
            /* Nothing left may sort before what came out. */
            next = item_of(loom__heap_min(&h));
            if (next) {
                g_assert_true(next->key > m->key ||
                              (next->key == m->key && next->stamp > m->stamp));
            }
        }
        g_assert_cmpuint(loom__heap_len(&h), ==, nlive);
        if (i < checked) {
            g_assert_true(item_of(loom__heap_min(&h)) == model_min(items, n));
        }
        if (i % every == 0) {
            g_assert_true(loom__heap_check(&h));
        }
    }
    g_assert_true(loom__heap_check(&h));

    live = g_new(struct item *, nlive + 1);
    for (i = 0, k = 0; i < n; i++) {
        if (items[i].in) {
            live[k++] = &items[i];
        }
    }
    g_assert_cmpuint(k, ==, nlive);
    qsort(live, nlive, sizeof(*live), cmp_item_ptr);
    for (k = 0; k < nlive; k++) {
        g_assert_true(item_of(loom__heap_pop(&h)) == live[k]);
        live[k]->in = false;
    }
    g_assert_null(loom__heap_pop(&h));
    g_free(live);
    loom__heap_destroy(&h);
    g_rand_free(r);
    g_free(items);
}

static void test_random_small(void)
{
    run_random(300, 50, 20000, 20000, 1, 1);
    run_random(1000, 1000000, 20000, 20000, 97, 2);
}

static void test_random_100k(void)
{
    /* Many equal keys (range 1000) so the FIFO tie-break matters. */
    run_random(100000, 1000, 400000, 0, 100000, 3);
    run_random(100000, INT32_MAX, 400000, 0, 100000, 4);
}

/* Growing past the reservation works; destroy unlinks what is left. */
static void test_grow_destroy(void)
{
    struct loom__heap h;
    struct item *items = g_new0(struct item, 5000);
    int i;

    loom__heap_init(&h);
    for (i = 0; i < 5000; i++) {
        loom__heap_node_init(&items[i].hn);
        g_assert_cmpint(loom__heap_insert(&h, &items[i].hn, 5000 - i), ==, 0);
    }
    g_assert_true(loom__heap_check(&h));
    g_assert_true(item_of(loom__heap_min(&h)) == &items[4999]);
    loom__heap_destroy(&h);
    for (i = 0; i < 5000; i++) {
        g_assert_false(loom__heap_node_linked(&items[i].hn));
    }
    g_free(items);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/timer/heap/basic", test_basic);
    g_test_add_func("/timer/heap/fifo-rekey", test_fifo_rekey);
    g_test_add_func("/timer/heap/random-small", test_random_small);
    g_test_add_func("/timer/heap/random-100k", test_random_100k);
    g_test_add_func("/timer/heap/grow-destroy", test_grow_destroy);
    return g_test_run();
}
