/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the QLIST/QSLIST/QSIMPLEQ/QTAILQ macros of <qemu/queue.h>,
 * single-threaded: every insertion position, removal, the _SAFE walks,
 * splicing, and the QTAILQ backward links.  Concurrent walks of the _RCU
 * versions are in test-qemu-rcu-list.c.
 */
#include "qemu/osdep.h"
#include "qemu/queue.h"
#include "qemu/rcu_queue.h"

typedef struct Elem {
    int v;
    QLIST_ENTRY(Elem) l;
    QSLIST_ENTRY(Elem) s;
    QSIMPLEQ_ENTRY(Elem) sq;
    QTAILQ_ENTRY(Elem) t;
} Elem;

static QLIST_HEAD(, Elem) qlist = QLIST_HEAD_INITIALIZER(qlist);
static QSLIST_HEAD(, Elem) qslist = QSLIST_HEAD_INITIALIZER(qslist);
static QSIMPLEQ_HEAD(, Elem) qsq = QSIMPLEQ_HEAD_INITIALIZER(qsq);
static QTAILQ_HEAD(, Elem) qtq = QTAILQ_HEAD_INITIALIZER(qtq);

static Elem e[8];

static void init_elems(void)
{
    for (int i = 0; i < 8; i++) {
        memset(&e[i], 0, sizeof(e[i]));
        e[i].v = i;
    }
}

/* Walk results as a string of digits, e.g. "0123". */
#define WALK(var, head, FOREACH, field)                                       \
    ({                                                                        \
        GString *s_ = g_string_new(NULL);                                     \
        FOREACH(var, head, field) {                                           \
            g_string_append_printf(s_, "%d", (var)->v);                       \
        }                                                                     \
        g_string_free(s_, FALSE);                                             \
    })

static void check(char *got, const char *want)
{
    g_assert_cmpstr(got, ==, want);
    g_free(got);
}

static void test_qlist(void)
{
    Elem *p, *n;
    QLIST_HEAD(, Elem) other = QLIST_HEAD_INITIALIZER(other);

    init_elems();
    QLIST_INIT(&qlist);
    g_assert_true(QLIST_EMPTY(&qlist));
    QLIST_INSERT_HEAD(&qlist, &e[2], l);
    QLIST_INSERT_HEAD(&qlist, &e[0], l);
    QLIST_INSERT_AFTER(&e[0], &e[1], l);
    QLIST_INSERT_AFTER(&e[2], &e[4], l);
    QLIST_INSERT_BEFORE(&e[4], &e[3], l);
    check(WALK(p, &qlist, QLIST_FOREACH, l), "01234");
    g_assert_true(QLIST_FIRST(&qlist) == &e[0]);
    g_assert_true(QLIST_NEXT(&e[3], l) == &e[4]);
    g_assert_null(QLIST_NEXT(&e[4], l));
    g_assert_true(QLIST_IS_INSERTED(&e[3], l));

    QLIST_REMOVE(&e[0], l);
    QLIST_REMOVE(&e[4], l);
    QLIST_REMOVE(&e[2], l);
    g_assert_false(QLIST_IS_INSERTED(&e[2], l));
    QLIST_SAFE_REMOVE(&e[2], l); /* not on the list: no-op */
    check(WALK(p, &qlist, QLIST_FOREACH, l), "13");

    /* Remove everything during a _SAFE walk. */
    QLIST_FOREACH_SAFE(p, &qlist, l, n) {
        QLIST_REMOVE(p, l);
    }
    g_assert_true(QLIST_EMPTY(&qlist));

    QLIST_INSERT_HEAD(&qlist, &e[5], l);
    QLIST_INSERT_HEAD(&other, &e[6], l);
    QLIST_INSERT_HEAD(&other, &e[7], l);
    QLIST_SWAP(&qlist, &other, l);
    check(WALK(p, &qlist, QLIST_FOREACH, l), "76");
    check(WALK(p, &other, QLIST_FOREACH, l), "5");
    /* The swapped heads' back pointers follow: removal of the first works. */
    QLIST_REMOVE(&e[7], l);
    QLIST_REMOVE(&e[5], l);
    check(WALK(p, &qlist, QLIST_FOREACH, l), "6");
    g_assert_true(QLIST_EMPTY(&other));
}

static void test_qslist(void)
{
    Elem *p, *n;
    QSLIST_HEAD(, Elem) taken;

    init_elems();
    QSLIST_INIT(&qslist);
    QSLIST_INSERT_HEAD(&qslist, &e[3], s);
    QSLIST_INSERT_HEAD(&qslist, &e[1], s);
    QSLIST_INSERT_AFTER(&e[1], &e[2], s);
    QSLIST_INSERT_HEAD_ATOMIC(&qslist, &e[0], s);
    check(WALK(p, &qslist, QSLIST_FOREACH, s), "0123");
    QSLIST_REMOVE(&qslist, &e[2], Elem, s);
    QSLIST_REMOVE(&qslist, &e[0], Elem, s);
    g_assert_null(QSLIST_NEXT(&e[0], s));
    check(WALK(p, &qslist, QSLIST_FOREACH, s), "13");
    QSLIST_REMOVE_AFTER(&e[1], s);
    check(WALK(p, &qslist, QSLIST_FOREACH, s), "1");
    QSLIST_REMOVE_HEAD(&qslist, s);
    g_assert_true(QSLIST_EMPTY(&qslist));

    QSLIST_INSERT_HEAD_ATOMIC(&qslist, &e[4], s);
    QSLIST_INSERT_HEAD_ATOMIC(&qslist, &e[5], s);
    QSLIST_MOVE_ATOMIC(&taken, &qslist);
    g_assert_true(QSLIST_EMPTY(&qslist));
    check(WALK(p, &taken, QSLIST_FOREACH, s), "54");
    QSLIST_FOREACH_SAFE(p, &taken, s, n) {
        QSLIST_REMOVE(&taken, p, Elem, s);
    }
    g_assert_null(QSLIST_FIRST(&taken));
}

static void test_qsimpleq(void)
{
    Elem *p, *n;
    QSIMPLEQ_HEAD(, Elem) other = QSIMPLEQ_HEAD_INITIALIZER(other);
    QSIMPLEQ_HEAD(, Elem) rest;

    init_elems();
    QSIMPLEQ_INIT(&qsq);
    g_assert_null(QSIMPLEQ_LAST(&qsq, Elem, sq));
    QSIMPLEQ_INSERT_TAIL(&qsq, &e[2], sq);
    QSIMPLEQ_INSERT_HEAD(&qsq, &e[0], sq);
    QSIMPLEQ_INSERT_AFTER(&qsq, &e[0], &e[1], sq);
    QSIMPLEQ_INSERT_AFTER(&qsq, &e[2], &e[3], sq); /* new tail */
    QSIMPLEQ_INSERT_TAIL(&qsq, &e[4], sq);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "01234");
    g_assert_true(QSIMPLEQ_LAST(&qsq, Elem, sq) == &e[4]);

    QSIMPLEQ_REMOVE(&qsq, &e[4], Elem, sq); /* the tail */
    g_assert_true(QSIMPLEQ_LAST(&qsq, Elem, sq) == &e[3]);
    QSIMPLEQ_INSERT_TAIL(&qsq, &e[4], sq); /* the tail pointer moved */
    QSIMPLEQ_REMOVE_HEAD(&qsq, sq);
    QSIMPLEQ_REMOVE(&qsq, &e[2], Elem, sq);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "134");

    QSIMPLEQ_SPLIT_AFTER(&qsq, &e[1], sq, &rest);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "1");
    check(WALK(p, &rest, QSIMPLEQ_FOREACH, sq), "34");
    QSIMPLEQ_INSERT_TAIL(&qsq, &e[0], sq);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "10");

    QSIMPLEQ_INSERT_TAIL(&other, &e[6], sq);
    QSIMPLEQ_CONCAT(&qsq, &rest);
    g_assert_true(QSIMPLEQ_EMPTY(&rest));
    QSIMPLEQ_PREPEND(&qsq, &other);
    g_assert_true(QSIMPLEQ_EMPTY(&other));
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "61034");
    QSIMPLEQ_INSERT_TAIL(&qsq, &e[7], sq);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "610347");

    QSIMPLEQ_FOREACH_SAFE(p, &qsq, sq, n) {
        if (p->v % 2 == 0) {
            QSIMPLEQ_REMOVE(&qsq, p, Elem, sq);
        }
    }
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "137");
    QSIMPLEQ_INIT(&other);
    QSIMPLEQ_PREPEND(&other, &qsq); /* into an empty queue: tail follows */
    QSIMPLEQ_INSERT_TAIL(&other, &e[0], sq);
    check(WALK(p, &other, QSIMPLEQ_FOREACH, sq), "1370");
}

static char *walk_reverse(void)
{
    GString *s = g_string_new(NULL);
    Elem *p;

    QTAILQ_FOREACH_REVERSE(p, &qtq, t) {
        g_string_append_printf(s, "%d", p->v);
    }
    return g_string_free(s, FALSE);
}

static void test_qtailq(void)
{
    Elem *p, *n;

    init_elems();
    QTAILQ_INIT(&qtq);
    g_assert_null(QTAILQ_LAST(&qtq));
    QTAILQ_INSERT_TAIL(&qtq, &e[2], t);
    QTAILQ_INSERT_HEAD(&qtq, &e[0], t);
    QTAILQ_INSERT_AFTER(&qtq, &e[0], &e[1], t);
    QTAILQ_INSERT_AFTER(&qtq, &e[2], &e[4], t);
    QTAILQ_INSERT_BEFORE(&e[4], &e[3], t);
    QTAILQ_INSERT_BEFORE(&e[0], &e[5], t); /* new head */
    check(WALK(p, &qtq, QTAILQ_FOREACH, t), "501234");
    check(walk_reverse(), "432105");
    g_assert_true(QTAILQ_LAST(&qtq) == &e[4]);
    g_assert_true(QTAILQ_PREV(&e[0], t) == &e[5]);
    g_assert_null(QTAILQ_PREV(&e[5], t));
    g_assert_true(QTAILQ_IN_USE(&e[3], t));
    g_assert_false(QTAILQ_IN_USE(&e[6], t));

    QTAILQ_REMOVE(&qtq, &e[4], t); /* the tail */
    QTAILQ_REMOVE(&qtq, &e[5], t); /* the head */
    g_assert_false(QTAILQ_IN_USE(&e[4], t));
    check(WALK(p, &qtq, QTAILQ_FOREACH, t), "0123");
    check(walk_reverse(), "3210");

    QTAILQ_REMOVE_SEVERAL(&qtq, &e[1], &e[2], t);
    check(WALK(p, &qtq, QTAILQ_FOREACH, t), "03");
    check(walk_reverse(), "30");

    QTAILQ_INSERT_TAIL(&qtq, &e[6], t);
    QTAILQ_FOREACH_REVERSE_SAFE(p, &qtq, t, n) {
        if (p->v != 3) {
            QTAILQ_REMOVE(&qtq, p, t);
        }
    }
    check(WALK(p, &qtq, QTAILQ_FOREACH, t), "3");
    QTAILQ_FOREACH_SAFE(p, &qtq, t, n) {
        QTAILQ_REMOVE(&qtq, p, t);
    }
    g_assert_true(QTAILQ_EMPTY(&qtq));
    g_assert_null(QTAILQ_LAST(&qtq));
}

/* The _RCU writers keep the plain invariants too (walked by plain macros). */
static void test_rcu_writers(void)
{
    Elem *p;

    init_elems();
    QLIST_INIT(&qlist);
    QLIST_INSERT_HEAD_RCU(&qlist, &e[1], l);
    QLIST_INSERT_HEAD_RCU(&qlist, &e[0], l);
    QLIST_INSERT_AFTER_RCU(&e[1], &e[3], l);
    QLIST_INSERT_BEFORE_RCU(&e[3], &e[2], l);
    check(WALK(p, &qlist, QLIST_FOREACH_RCU, l), "0123");
    QLIST_REMOVE_RCU(&e[0], l);
    QLIST_REMOVE_RCU(&e[3], l);
    g_assert_true(QLIST_NEXT(&e[3], l) == NULL); /* was the last */
    check(WALK(p, &qlist, QLIST_FOREACH, l), "12");
    g_assert_true(QLIST_FIRST_RCU(&qlist) == &e[1]);

    QSIMPLEQ_INIT(&qsq);
    QSIMPLEQ_INSERT_TAIL_RCU(&qsq, &e[1], sq);
    QSIMPLEQ_INSERT_HEAD_RCU(&qsq, &e[0], sq);
    QSIMPLEQ_INSERT_AFTER_RCU(&qsq, &e[1], &e[3], sq);
    QSIMPLEQ_INSERT_AFTER_RCU(&qsq, &e[1], &e[2], sq);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH_RCU, sq), "0123");
    QSIMPLEQ_REMOVE_RCU(&qsq, &e[3], Elem, sq);
    QSIMPLEQ_INSERT_TAIL(&qsq, &e[4], sq);
    QSIMPLEQ_REMOVE_HEAD_RCU(&qsq, sq);
    check(WALK(p, &qsq, QSIMPLEQ_FOREACH, sq), "124");

    QTAILQ_INIT(&qtq);
    QTAILQ_INSERT_TAIL_RCU(&qtq, &e[2], t);
    QTAILQ_INSERT_HEAD_RCU(&qtq, &e[0], t);
    QTAILQ_INSERT_AFTER_RCU(&qtq, &e[0], &e[1], t);
    QTAILQ_INSERT_AFTER_RCU(&qtq, &e[2], &e[4], t);
    QTAILQ_INSERT_BEFORE_RCU(&e[4], &e[3], t);
    check(WALK(p, &qtq, QTAILQ_FOREACH_RCU, t), "01234");
    check(walk_reverse(), "43210");
    QTAILQ_REMOVE_RCU(&qtq, &e[4], t);
    QTAILQ_REMOVE_RCU(&qtq, &e[0], t);
    check(walk_reverse(), "321");
    g_assert_false(QTAILQ_IN_USE(&e[0], t));

    QSLIST_INIT(&qslist);
    QSLIST_INSERT_HEAD_RCU(&qslist, &e[2], s);
    QSLIST_INSERT_HEAD_RCU(&qslist, &e[0], s);
    QSLIST_INSERT_AFTER_RCU(&qslist, &e[0], &e[1], s);
    check(WALK(p, &qslist, QSLIST_FOREACH_RCU, s), "012");
    QSLIST_REMOVE_RCU(&qslist, &e[2], Elem, s);
    QSLIST_REMOVE_HEAD_RCU(&qslist, s);
    check(WALK(p, &qslist, QSLIST_FOREACH, s), "1");
    g_assert_false(QSLIST_EMPTY_RCU(&qslist));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/queue/qlist", test_qlist);
    g_test_add_func("/queue/qslist", test_qslist);
    g_test_add_func("/queue/qsimpleq", test_qsimpleq);
    g_test_add_func("/queue/qtailq", test_qtailq);
    g_test_add_func("/queue/rcu-writers", test_rcu_writers);
    return g_test_run();
}
