/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: RCU list torture.  Reader threads walk a list with the
 * QLIST/QSIMPLEQ/QTAILQ/QSLIST _FOREACH_RCU macros inside rcu_read_lock()
 * while a writer inserts at every position and removes elements, freeing
 * them with call_rcu().  A freed element is poisoned first, so a reader
 * that could still reach a reclaimed element fails (and ASan reports the
 * use after free).  At the end every removed element must have been
 * reclaimed exactly once (drain_call_rcu()).
 */
#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/rcu.h"
#include "qemu/rcu_queue.h"
#include "qemu/thread.h"

#define N_READERS 3
#define WRITER_OPS 100000
#define LIVE_MAX 64
#define MAGIC 0x600dcafe

typedef struct Node {
    struct rcu_head rcu; /* first: call_rcu() requires it */
    unsigned magic;
    int value;
    QLIST_ENTRY(Node) l;
    QSIMPLEQ_ENTRY(Node) sq;
    QTAILQ_ENTRY(Node) t;
    QSLIST_ENTRY(Node) s;
} Node;

enum kind { K_QLIST, K_QSIMPLEQ, K_QTAILQ, K_QSLIST };

static QLIST_HEAD(, Node) g_qlist;
static QSIMPLEQ_HEAD(, Node) g_qsq;
static QTAILQ_HEAD(, Node) g_qtq;
static QSLIST_HEAD(, Node) g_qsl;

static enum kind g_kind;
static bool g_stop;
static long g_reclaimed;
static long g_reader_visits;
static int g_readers_ready;

static void reclaim(Node *n)
{
    qatomic_set(&n->magic, 0xdead);
    qatomic_inc(&g_reclaimed);
    g_free(n);
}

static void visit(Node *n, long *count)
{
    g_assert_cmphex(qatomic_read(&n->magic), ==, MAGIC);
    (*count)++;
}

static void *reader(void *arg)
{
    long visits = 0;
    bool ready = false;
    Node *n;

    rcu_register_thread();
    while (!qatomic_read(&g_stop)) {
        rcu_read_lock();
        switch (g_kind) {
        case K_QLIST:
            QLIST_FOREACH_RCU(n, &g_qlist, l) {
                visit(n, &visits);
            }
            break;
        case K_QSIMPLEQ:
            QSIMPLEQ_FOREACH_RCU(n, &g_qsq, sq) {
                visit(n, &visits);
            }
            break;
        case K_QTAILQ:
            QTAILQ_FOREACH_RCU(n, &g_qtq, t) {
                visit(n, &visits);
            }
            break;
        case K_QSLIST:
            QSLIST_FOREACH_RCU(n, &g_qsl, s) {
                visit(n, &visits);
            }
            break;
        }
        rcu_read_unlock();
        if (!ready) {
            ready = true;
            qatomic_inc(&g_readers_ready);
        }
    }
    qatomic_add(&g_reader_visits, visits);
    rcu_unregister_thread();
    return NULL;
}

static Node *new_node(int v)
{
    Node *n = g_new0(Node, 1);

    n->magic = MAGIC;
    n->value = v;
    return n;
}

/* Insert @n at a position chosen by @r among the @live elements. */
static void insert(Node **live, int nlive, Node *n, unsigned r)
{
    Node *pos = nlive ? live[r % nlive] : NULL;

    switch (g_kind) {
    case K_QLIST:
        if (!pos || r % 3 == 0) {
            QLIST_INSERT_HEAD_RCU(&g_qlist, n, l);
        } else if (r % 3 == 1) {
            QLIST_INSERT_AFTER_RCU(pos, n, l);
        } else {
            QLIST_INSERT_BEFORE_RCU(pos, n, l);
        }
        break;
    case K_QSIMPLEQ:
        if (!pos || r % 3 == 0) {
            QSIMPLEQ_INSERT_HEAD_RCU(&g_qsq, n, sq);
        } else if (r % 3 == 1) {
            QSIMPLEQ_INSERT_AFTER_RCU(&g_qsq, pos, n, sq);
        } else {
            QSIMPLEQ_INSERT_TAIL_RCU(&g_qsq, n, sq);
        }
        break;
    case K_QTAILQ:
        if (!pos || r % 4 == 0) {
            QTAILQ_INSERT_HEAD_RCU(&g_qtq, n, t);
        } else if (r % 4 == 1) {
            QTAILQ_INSERT_AFTER_RCU(&g_qtq, pos, n, t);
        } else if (r % 4 == 2) {
            QTAILQ_INSERT_BEFORE_RCU(pos, n, t);
        } else {
            QTAILQ_INSERT_TAIL_RCU(&g_qtq, n, t);
        }
        break;
    case K_QSLIST:
        if (!pos || r % 2 == 0) {
            QSLIST_INSERT_HEAD_RCU(&g_qsl, n, s);
        } else {
            QSLIST_INSERT_AFTER_RCU(&g_qsl, pos, n, s);
        }
        break;
    }
}

static void remove_node(Node *n)
{
    switch (g_kind) {
    case K_QLIST:
        QLIST_REMOVE_RCU(n, l);
        break;
    case K_QSIMPLEQ:
        QSIMPLEQ_REMOVE_RCU(&g_qsq, n, Node, sq);
        break;
    case K_QTAILQ:
        QTAILQ_REMOVE_RCU(&g_qtq, n, t);
        break;
    case K_QSLIST:
        QSLIST_REMOVE_RCU(&g_qsl, n, Node, s);
        break;
    }
    call_rcu(n, reclaim, rcu);
}

/* The writer's view must match its own bookkeeping. */
static int count_list(void)
{
    int c = 0;
    Node *n;

    switch (g_kind) {
    case K_QLIST:
        QLIST_FOREACH(n, &g_qlist, l) {
            c++;
        }
        break;
    case K_QSIMPLEQ:
        QSIMPLEQ_FOREACH(n, &g_qsq, sq) {
            c++;
        }
        break;
    case K_QTAILQ:
        QTAILQ_FOREACH(n, &g_qtq, t) {
            c++;
        }
        break;
    case K_QSLIST:
        QSLIST_FOREACH(n, &g_qsl, s) {
            c++;
        }
        break;
    }
    return c;
}

static void torture(enum kind kind)
{
    QemuThread th[N_READERS];
    Node *live[LIVE_MAX];
    int nlive = 0;
    long removed = 0;
    GRand *rnd = g_rand_new_with_seed(12345 + kind);

    g_kind = kind;
    QLIST_INIT(&g_qlist);
    QSIMPLEQ_INIT(&g_qsq);
    QTAILQ_INIT(&g_qtq);
    QSLIST_INIT(&g_qsl);
    qatomic_set(&g_stop, false);
    qatomic_set(&g_reclaimed, 0);
    qatomic_set(&g_reader_visits, 0);
    qatomic_set(&g_readers_ready, 0);
    for (int i = 0; i < N_READERS; i++) {
        qemu_thread_create(&th[i], "rcu-reader", reader, NULL,
                           QEMU_THREAD_JOINABLE);
    }
    /* Every reader walks (the empty list) once before the writer starts. */
    while (qatomic_read(&g_readers_ready) < N_READERS) {
        g_usleep(100);
    }
    for (int op = 0; op < WRITER_OPS; op++) {
        unsigned r = g_rand_int(rnd);

        if (nlive < LIVE_MAX && (nlive < 8 || r % 2 == 0)) {
            Node *n = new_node(op);

            insert(live, nlive, n, r >> 1);
            live[nlive++] = n;
        } else {
            int i = (int)((r >> 1) % (unsigned)nlive);

            remove_node(live[i]);
            live[i] = live[--nlive];
            removed++;
        }
        if (op % 1024 == 0) {
            g_assert_cmpint(count_list(), ==, nlive);
            /* Give the readers a grace period to overlap with. */
            synchronize_rcu();
        }
    }
    g_assert_cmpint(count_list(), ==, nlive);
    qatomic_set(&g_stop, true);
    for (int i = 0; i < N_READERS; i++) {
        qemu_thread_join(&th[i]);
    }
    while (nlive) {
        remove_node(live[--nlive]);
        removed++;
    }
    drain_call_rcu();
    g_assert_cmpint(qatomic_read(&g_reclaimed), ==, removed);
    g_assert_cmpint(count_list(), ==, 0);
    g_rand_free(rnd);
}

static void test_qlist(void)
{
    torture(K_QLIST);
}

static void test_qsimpleq(void)
{
    torture(K_QSIMPLEQ);
}

static void test_qtailq(void)
{
    torture(K_QTAILQ);
}

static void test_qslist(void)
{
    torture(K_QSLIST);
}

/* RCU_READ_LOCK_GUARD and WITH_RCU_READ_LOCK_GUARD end their sections. */
static void test_guards(void)
{
    for (int i = 0; i < 3; i++) {
        WITH_RCU_READ_LOCK_GUARD() {
            g_assert_true(loom_rcu_read_locked());
            if (i == 1) {
                break;
            }
        }
        g_assert_false(loom_rcu_read_locked());
    }
    {
        RCU_READ_LOCK_GUARD();
        g_assert_true(loom_rcu_read_locked());
    }
    g_assert_false(loom_rcu_read_locked());
    synchronize_rcu(); /* would panic inside a section */
}

typedef struct Blob {
    struct rcu_head rcu;
    char data[32];
} Blob;

static void test_g_free_rcu(void)
{
    for (int i = 0; i < 16; i++) {
        Blob *b = g_new0(Blob, 1);

        g_free_rcu(b, rcu);
    }
    drain_call_rcu(); /* ASan's leak check sees them all freed */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rcu/list/torture/qlist", test_qlist);
    g_test_add_func("/rcu/list/torture/qsimpleq", test_qsimpleq);
    g_test_add_func("/rcu/list/torture/qtailq", test_qtailq);
    g_test_add_func("/rcu/list/torture/qslist", test_qslist);
    g_test_add_func("/rcu/guards", test_guards);
    g_test_add_func("/rcu/g_free_rcu", test_g_free_rcu);
    return g_test_run();
}
