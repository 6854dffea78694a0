/* SPDX-License-Identifier: MIT */
/*
 * Single-threaded tests of <loom/rcu-list.h>: insertion at every position,
 * removal, replacement and walks of both list kinds.  Concurrent walks
 * are covered by tests/stress/test-rcu-list.c.
 */
#include <loom/rcu-list.h>

#include <stdlib.h>

#include "harness.h"

struct item {
    int v;
    struct loom_rcu_list_node node;
    struct loom_rcu_snode snode;
};

/* Compare the forward walk of @list with @want[0..n). */
static void check_list(struct loom_rcu_list *list, const int *want, int n)
{
    struct item *it;
    int i = 0;

    loom_rcu_read_lock();
    LOOM_RCU_LIST_FOREACH(it, list, node) {
        g_assert_cmpint(i, <, n);
        g_assert_cmpint(it->v, ==, want[i]);
        i++;
    }
    loom_rcu_read_unlock();
    g_assert_cmpint(i, ==, n);
    g_assert_true(loom_rcu_list_empty(list) == (n == 0));
}

static void test_list_insert_remove(void)
{
    struct loom_rcu_list list = LOOM_RCU_LIST_INIT(list);
    struct item it[6];

    for (int i = 0; i < 6; i++) {
        it[i].v = i;
    }
    check_list(&list, NULL, 0);
    g_assert_null(loom_rcu_list_first(&list));

    loom_rcu_list_insert_head(&list, &it[2].node);
    check_list(&list, (int[]){ 2 }, 1);
    loom_rcu_list_insert_head(&list, &it[0].node);
    loom_rcu_list_insert_tail(&list, &it[4].node);
    check_list(&list, (int[]){ 0, 2, 4 }, 3);
    loom_rcu_list_insert_after(&it[0].node, &it[1].node);
    loom_rcu_list_insert_before(&it[4].node, &it[3].node);
    loom_rcu_list_insert_after(&it[4].node, &it[5].node);
    check_list(&list, (int[]){ 0, 1, 2, 3, 4, 5 }, 6);

    /* first/next walk the same way. */
    {
        struct loom_rcu_list_node *n = loom_rcu_list_first(&list);
        int i = 0;

        for (; n; n = loom_rcu_list_next(&list, n), i++) {
            g_assert_true(n == &it[i].node);
            g_assert_true(LOOM_RCU_LIST_ENTRY(n, struct item, node) == &it[i]);
        }
        g_assert_null(LOOM_RCU_LIST_ENTRY(n, struct item, node));
        g_assert_cmpint(i, ==, 6);
    }

    loom_rcu_list_remove(&it[0].node);
    check_list(&list, (int[]){ 1, 2, 3, 4, 5 }, 5);
    loom_rcu_list_remove(&it[5].node);
    check_list(&list, (int[]){ 1, 2, 3, 4 }, 4);
    loom_rcu_list_remove(&it[2].node);
    check_list(&list, (int[]){ 1, 3, 4 }, 3);
    /* A removed node keeps its forward link for readers standing on it. */
    g_assert_true(it[2].node.next == &it[3].node);

    loom_rcu_list_replace(&it[3].node, &it[2].node);
    check_list(&list, (int[]){ 1, 2, 4 }, 3);

    loom_rcu_list_remove(&it[1].node);
    loom_rcu_list_remove(&it[4].node);
    loom_rcu_list_remove(&it[2].node);
    check_list(&list, NULL, 0);
    loom_synchronize_rcu();
}

static void test_list_foreach_safe(void)
{
    struct loom_rcu_list list;
    struct item *it, *tmp;
    int n = 0;

    loom_rcu_list_init(&list);
    for (int i = 0; i < 10; i++) {
        it = malloc(sizeof(*it));
        it->v = i;
        loom_rcu_list_insert_tail(&list, &it->node);
    }
    /* Remove the odd ones while walking. */
    LOOM_RCU_LIST_FOREACH_SAFE(it, tmp, &list, node) {
        if (it->v % 2) {
            loom_rcu_list_remove(&it->node);
            loom_synchronize_rcu();
            free(it);
        }
    }
    check_list(&list, (int[]){ 0, 2, 4, 6, 8 }, 5);
    LOOM_RCU_LIST_FOREACH_SAFE(it, tmp, &list, node) {
        loom_rcu_list_remove(&it->node);
        n++;
        loom_synchronize_rcu();
        free(it);
    }
    g_assert_cmpint(n, ==, 5);
    check_list(&list, NULL, 0);
}

static void check_slist(struct loom_rcu_slist *list, const int *want, int n)
{
    struct item *it;
    int i = 0;

    loom_rcu_read_lock();
    LOOM_RCU_SLIST_FOREACH(it, list, snode) {
        g_assert_cmpint(i, <, n);
        g_assert_cmpint(it->v, ==, want[i]);
        i++;
    }
    loom_rcu_read_unlock();
    g_assert_cmpint(i, ==, n);
    g_assert_true(loom_rcu_slist_empty(list) == (n == 0));
}

static void test_slist(void)
{
    struct loom_rcu_slist list = LOOM_RCU_SLIST_INIT;
    struct item it[4], *a, *b;
    int pairs = 0;

    for (int i = 0; i < 4; i++) {
        it[i].v = i;
    }
    check_slist(&list, NULL, 0);
    loom_rcu_slist_insert_head(&list, &it[2].snode);
    loom_rcu_slist_insert_head(&list, &it[0].snode);
    loom_rcu_slist_insert_after(&it[0].snode, &it[1].snode);
    loom_rcu_slist_insert_after(&it[2].snode, &it[3].snode);
    check_slist(&list, (int[]){ 0, 1, 2, 3 }, 4);

    /* Nested walks do not interfere. */
    LOOM_RCU_SLIST_FOREACH(a, &list, snode) {
        LOOM_RCU_SLIST_FOREACH(b, &list, snode) {
            pairs += a->v < b->v;
        }
    }
    g_assert_cmpint(pairs, ==, 6);

    g_assert_true(loom_rcu_slist_remove(&list, &it[0].snode));
    check_slist(&list, (int[]){ 1, 2, 3 }, 3);
    g_assert_true(loom_rcu_slist_remove(&list, &it[3].snode));
    check_slist(&list, (int[]){ 1, 2 }, 2);
    /* Not on the list (any more). */
    g_assert_false(loom_rcu_slist_remove(&list, &it[3].snode));
    g_assert_true(loom_rcu_slist_remove(&list, &it[1].snode));
    g_assert_true(loom_rcu_slist_remove(&list, &it[2].snode));
    check_slist(&list, NULL, 0);
    loom_synchronize_rcu();
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/rcu-list/insert-remove", test_list_insert_remove);
    g_test_add_func("/rcu-list/foreach-safe", test_list_foreach_safe);
    g_test_add_func("/rcu-list/slist", test_slist);
    return g_test_run();
}
