/* SPDX-License-Identifier: MIT */
/*
 * Coroutines without a loop: create, enter, yield, self, queued enters
 * (no nesting, no stack growth), lifecycle and pool reuse, CoQueue,
 * CoMutex and CoRwlock ordering in one thread, the floating-point
 * environment across switches, contract-violation panics, the stack
 * guard page and stacks mapped where ASan's shadow was left poisoned.
 */
#include <loom/co.h>

#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/compiler.h"
#include "co/co-int.h"
#include "harness.h"

#ifdef LOOM_ASAN
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#endif

/* ------------------------------------------------------------------ */
/* An event log shared by the cases below.                            */

#define LOG_MAX 256
static int g_events[LOG_MAX];
static int g_nevents;

static void log_reset(void)
{
    g_nevents = 0;
}

static void log_ev(int ev)
{
    g_assert_cmpint(g_nevents, <, LOG_MAX);
    g_events[g_nevents++] = ev;
}

static void log_expect(const int *ev, int n)
{
    int i;

    g_assert_cmpint(g_nevents, ==, n);
    for (i = 0; i < n; i++) {
        if (g_events[i] != ev[i]) {
            g_error("event %d: got %d, expected %d", i, g_events[i], ev[i]);
        }
    }
}

static struct loom_co *co_new(void (*fn)(void *), void *opaque)
{
    struct loom_co *co = NULL;

    g_assert_cmpint(loom_co_create(fn, opaque, &co), ==, 0);
    g_assert_nonnull(co);
    return co;
}

/* ------------------------------------------------------------------ */
/* Basics.                                                            */

static void set_flag(void *opaque)
{
    *(int *)opaque = 1;
}

static void test_create_enter(void)
{
    int done = 0;
    struct loom_co *co = co_new(set_flag, &done);

    g_assert_cmpint(done, ==, 0);
    loom_co_enter(co);
    g_assert_cmpint(done, ==, 1);
}

static void test_bad_args(void)
{
    struct loom_co *co = (struct loom_co *)(uintptr_t)0x1;

    g_assert_cmpint(loom_co_create(NULL, NULL, &co), ==, -EINVAL);
    g_assert_true(co == (struct loom_co *)(uintptr_t)0x1);
    g_assert_cmpint(loom_co_create(set_flag, NULL, NULL), ==, -EINVAL);
    /* NULL handles are ignored. */
    loom_co_enter(NULL);
    loom_co_wake(NULL);
}

static void yield_n(void *opaque)
{
    int *count = opaque;
    int i;

    for (i = 0; i < 5; i++) {
        (*count)++;
        loom_co_yield();
    }
    *count = 100;
}

static void test_yield(void)
{
    int count = 0, i;
    struct loom_co *co = co_new(yield_n, &count);

    for (i = 1; i <= 5; i++) {
        loom_co_enter(co);
        g_assert_cmpint(count, ==, i);
    }
    loom_co_enter(co);
    g_assert_cmpint(count, ==, 100);
}

struct self_check {
    struct loom_co *co;
    bool in_co;
    struct loom_co *seen;
};

static void check_self(void *opaque)
{
    struct self_check *s = opaque;

    s->in_co = loom_in_co();
    s->seen = loom_co_self();
}

static void test_self(void)
{
    struct self_check s = {0};

    g_assert_false(loom_in_co());
    g_assert_null(loom_co_self());
    s.co = co_new(check_self, &s);
    loom_co_enter(s.co);
    g_assert_true(s.in_co);
    g_assert_true(s.seen == s.co);
    g_assert_false(loom_in_co());
    g_assert_null(loom_co_self());
}

/*
 * QEMU's "order" case: creation does not run anything, enter runs up to
 * the first yield, re-enter runs to the end.
 */
static void order_fn(void *opaque)
{
    log_ev(2);
    loom_co_yield();
    log_ev(4);
}

static void test_order(void)
{
    static const int expect[] = {1, 2, 3, 4, 5};
    struct loom_co *co;

    log_reset();
    co = co_new(order_fn, NULL);
    log_ev(1);
    loom_co_enter(co);
    log_ev(3);
    loom_co_enter(co);
    log_ev(5);
    log_expect(expect, 5);
}

/* ------------------------------------------------------------------ */
/* Enters from inside a coroutine are queued, not nested.             */

#define NEST_DEPTH 128

struct nest {
    int created, ran, max_running, running;
};

static void nest_fn(void *opaque)
{
    struct nest *n = opaque;

    n->running++;
    if (n->running > n->max_running) {
        n->max_running = n->running;
    }
    n->ran++;
    if (n->created < NEST_DEPTH) {
        n->created++;
        loom_co_enter(co_new(nest_fn, n));
        /* The child has not run yet: it waits for us to finish. */
        g_assert_cmpint(n->ran, ==, n->created - 1);
    }
    n->running--;
}

static void test_nesting(void)
{
    struct nest n = {.created = 1};

    loom_co_enter(co_new(nest_fn, &n));
    g_assert_cmpint(n.created, ==, NEST_DEPTH);
    g_assert_cmpint(n.ran, ==, NEST_DEPTH);
    g_assert_cmpint(n.max_running, ==, 1);
    g_assert_cmpint(n.running, ==, 0);
}

/* Parent enters two children, yields; the children run in order. */
static void child_fn(void *opaque)
{
    log_ev((int)(intptr_t)opaque);
    loom_co_yield();
    log_ev((int)(intptr_t)opaque + 10);
}

static struct loom_co *g_child[2];

static void parent_fn(void *opaque)
{
    log_ev(1);
    loom_co_enter(g_child[0]);
    loom_co_enter(g_child[1]);
    log_ev(2);
    loom_co_yield();
    log_ev(3);
    /* Finishing the children from here: queued as well. */
    loom_co_enter(g_child[0]);
    loom_co_enter(g_child[1]);
    log_ev(4);
}

static void test_queued_enter_order(void)
{
    static const int expect[] = {1, 2, 100, 101, 0, 3, 4, 110, 111, 5};
    struct loom_co *parent;

    log_reset();
    parent = co_new(parent_fn, NULL);
    g_child[0] = co_new(child_fn, (void *)(intptr_t)100);
    g_child[1] = co_new(child_fn, (void *)(intptr_t)101);
    loom_co_enter(parent);
    log_ev(0);
    loom_co_enter(parent);
    log_ev(5);
    log_expect(expect, 10);
}

/*
 * Two coroutines entering each other 25,000 times each.  Run on a thread
 * with a 256 KiB stack: if enters nested (on the coroutine stacks or on
 * the thread's own one) 50,000 levels of frames would overflow it or the
 * 1 MiB coroutine stacks and crash.
 */
#define PINGPONG 25000

struct pingpong {
    struct loom_co *co[2];
    int count[2];
    int max_pending;
};

static struct pingpong g_pp;

static void pingpong_fn(void *opaque)
{
    int me = (int)(intptr_t)opaque;
    int i;

    for (i = 0; i < PINGPONG; i++) {
        g_pp.count[me]++;
        if (i < PINGPONG - 1 || me == 0) {
            loom_co_enter(g_pp.co[!me]);
        }
        if (i < PINGPONG - 1) {
            loom_co_yield();
        }
    }
}

static void *pingpong_thread(void *arg)
{
    (void)arg;
    g_pp.co[0] = co_new(pingpong_fn, (void *)(intptr_t)0);
    g_pp.co[1] = co_new(pingpong_fn, (void *)(intptr_t)1);
    loom_co_enter(g_pp.co[0]);
    g_assert_false(loom_in_co());
    return NULL;
}

static void test_enter_chain(void)
{
    pthread_attr_t attr;
    pthread_t th;

    memset(&g_pp, 0, sizeof(g_pp));
    g_assert_cmpint(pthread_attr_init(&attr), ==, 0);
    g_assert_cmpint(pthread_attr_setstacksize(&attr, 256 * 1024), ==, 0);
    g_assert_cmpint(pthread_create(&th, &attr, pingpong_thread, NULL), ==, 0);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    pthread_attr_destroy(&attr);
    g_assert_cmpint(g_pp.count[0], ==, PINGPONG);
    g_assert_cmpint(g_pp.count[1], ==, PINGPONG);
}

/* ------------------------------------------------------------------ */
/* Lifecycle and pools.                                               */

static void nop_fn(void *opaque)
{
    (void)opaque;
}

static void test_pool_reuse(void)
{
    struct loom_co *a, *b;
    unsigned tp, gp, tp0, gp0;

    a = co_new(nop_fn, NULL);
    loom_co_enter(a);
    loom__co_pool_count(&tp0, &gp0);
    g_assert_cmpuint(tp0, >=, 1);
    /* The last released coroutine is the next one created. */
    b = co_new(nop_fn, NULL);
    g_assert_true(a == b);
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, tp0 - 1);
    loom_co_enter(b);
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, tp0);
}

#define MANY 400

static void test_pool_bounds(void)
{
    static struct loom_co *co[MANY];
    static int counts[MANY];
    unsigned tp, gp;
    int i;

    loom__co_pool_drain();
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, 0);
    g_assert_cmpuint(gp, ==, 0);
    for (i = 0; i < MANY; i++) {
        co[i] = co_new(yield_n, &counts[i]);
    }
    for (i = 0; i < MANY; i++) {
        loom_co_enter(co[i]);
    }
    /* Alive (yielded): nothing pooled yet. */
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp + gp, ==, 0);
    for (i = 0; i < MANY; i++) {
        int j;

        for (j = 0; j < 5; j++) {
            loom_co_enter(co[i]);
        }
    }
    /* Released: pools filled up to their bounds, the rest unmapped. */
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, LOOM__CO_POOL_THREAD_MAX);
    g_assert_cmpuint(gp, ==, LOOM__CO_POOL_GLOBAL_MAX);
    /* Reuse takes from the thread pool first, then the global one. */
    for (i = 0; i < MANY; i++) {
        co[i] = co_new(nop_fn, NULL);
    }
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp + gp, ==, 0);
    for (i = 0; i < MANY; i++) {
        loom_co_enter(co[i]);
    }
    loom__co_pool_drain();
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp + gp, ==, 0);
}

static void enter_other_fn(void *opaque)
{
    loom_co_enter(opaque);
}

/*
 * A coroutine that finishes while the thread's pool is full hands its
 * stack over only after the switch; here the switch goes to a queued
 * coroutine that never ran yet (the hand-over runs before its entry).
 */
static void test_pool_full_handover(void)
{
    struct loom_co *a, *b, *fill[LOOM__CO_POOL_THREAD_MAX];
    unsigned tp, gp;
    int done = 0;
    unsigned i;

    loom__co_pool_drain();
    b = co_new(set_flag, &done);
    a = co_new(enter_other_fn, b);
    for (i = 0; i < LOOM__CO_POOL_THREAD_MAX; i++) {
        fill[i] = co_new(nop_fn, NULL);
    }
    for (i = 0; i < LOOM__CO_POOL_THREAD_MAX; i++) {
        loom_co_enter(fill[i]);
    }
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, LOOM__CO_POOL_THREAD_MAX);
    g_assert_cmpuint(gp, ==, 0);
    loom_co_enter(a);
    g_assert_cmpint(done, ==, 1);
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, LOOM__CO_POOL_THREAD_MAX);
    g_assert_cmpuint(gp, ==, 2);
    /* Both come back from the global pool once the thread's is empty. */
    for (i = 0; i < LOOM__CO_POOL_THREAD_MAX; i++) {
        fill[i] = co_new(nop_fn, NULL);
    }
    a = co_new(nop_fn, NULL);
    b = co_new(nop_fn, NULL);
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp + gp, ==, 0);
    loom_co_enter(a);
    loom_co_enter(b);
    for (i = 0; i < LOOM__CO_POOL_THREAD_MAX; i++) {
        loom_co_enter(fill[i]);
    }
    loom__co_pool_drain();
}

static void *thread_pool_fn(void *arg)
{
    struct loom_co *co;
    int r = loom_co_create(nop_fn, NULL, &co);

    if (r == 0) {
        loom_co_enter(co);
    }
    return (void *)(intptr_t)r;
}

/* A thread's pool moves to the global pool when the thread exits. */
static void test_pool_thread_exit(void)
{
    pthread_t th;
    void *ret;
    unsigned tp, gp;

    loom__co_pool_drain();
    g_assert_cmpint(pthread_create(&th, NULL, thread_pool_fn, NULL), ==, 0);
    g_assert_cmpint(pthread_join(th, &ret), ==, 0);
    g_assert_cmpint((int)(intptr_t)ret, ==, 0);
    loom__co_pool_count(&tp, &gp);
    g_assert_cmpuint(tp, ==, 0);
    g_assert_cmpuint(gp, ==, 1);
    loom__co_pool_drain();
}

/* A coroutine may create, enter and finish others, and use its stack. */
static void deep_fn(void *opaque)
{
    volatile char buf[256 * 1024];
    int *done = opaque;

    memset((char *)buf, 0x5a, sizeof(buf));
    g_assert_cmpint(buf[sizeof(buf) - 1], ==, 0x5a);
    *done = 1;
}

static void test_big_frame(void)
{
    int done = 0;

    loom_co_enter(co_new(deep_fn, &done));
    g_assert_cmpint(done, ==, 1);
}

/* ------------------------------------------------------------------ */
/* CoQueue.                                                           */

static struct loom_co_queue g_q;

static void queue_waiter(void *opaque)
{
    int id = (int)(intptr_t)opaque;

    log_ev(id);
    loom_co_queue_wait(&g_q, NULL);
    log_ev(id + 10);
}

static void test_queue(void)
{
    static const int expect[] = {1, 2, 3, 11, 12, 13};
    int i;

    log_reset();
    loom_co_queue_init(&g_q);
    g_assert_true(loom_co_queue_empty(&g_q));
    g_assert_false(loom_co_queue_next(&g_q));
    for (i = 1; i <= 3; i++) {
        loom_co_enter(co_new(queue_waiter, (void *)(intptr_t)i));
    }
    g_assert_false(loom_co_queue_empty(&g_q));
    /* Outside a coroutine, the first waiter runs right away. */
    g_assert_true(loom_co_queue_next(&g_q));
    g_assert_cmpint(g_nevents, ==, 4);
    loom_co_queue_restart_all(&g_q);
    g_assert_true(loom_co_queue_empty(&g_q));
    log_expect(expect, 6);
}

/* A waiter woken from a coroutine runs after the waker yields. */
static void queue_waker(void *opaque)
{
    log_ev(50);
    g_assert_true(loom_co_queue_next(&g_q));
    log_ev(51);
}

/* restart_all must not wake again a waiter that re-waits at once. */
static void queue_rewaiter(void *opaque)
{
    int *rounds = opaque;

    while (*rounds < 3) {
        (*rounds)++;
        loom_co_queue_wait(&g_q, NULL);
    }
}

static void test_queue_from_co(void)
{
    static const int expect[] = {7, 50, 51, 17};
    int rounds = 0;

    log_reset();
    loom_co_queue_init(&g_q);
    loom_co_enter(co_new(queue_waiter, (void *)(intptr_t)7));
    loom_co_enter(co_new(queue_waker, NULL));
    log_expect(expect, 4);

    loom_co_enter(co_new(queue_rewaiter, &rounds));
    g_assert_cmpint(rounds, ==, 1);
    loom_co_queue_restart_all(&g_q);
    g_assert_cmpint(rounds, ==, 2);
    loom_co_queue_restart_all(&g_q);
    g_assert_cmpint(rounds, ==, 3);
    loom_co_queue_restart_all(&g_q);
    g_assert_true(loom_co_queue_empty(&g_q));
}

struct locked_wait {
    struct loom_mutex m;
    bool waiting, woke, held_after;
};

static void locked_waiter(void *opaque)
{
    struct locked_wait *w = opaque;

    loom_mutex_lock(&w->m);
    w->waiting = true;
    loom_co_queue_wait(&g_q, &w->m);
    w->woke = true;
    w->held_after = loom_mutex_trylock(&w->m) == -EBUSY;
    loom_mutex_unlock(&w->m);
}

static void test_queue_mutex(void)
{
    struct locked_wait w = {0};

    loom_mutex_init(&w.m);
    loom_co_queue_init(&g_q);
    loom_co_enter(co_new(locked_waiter, &w));
    g_assert_true(w.waiting);
    /* The mutex was released while waiting. */
    g_assert_cmpint(loom_mutex_trylock(&w.m), ==, 0);
    loom_mutex_unlock(&w.m);
    g_assert_true(loom_co_queue_next(&g_q));
    g_assert_true(w.woke);
    g_assert_true(w.held_after);
    loom_mutex_destroy(&w.m);
}

/* ------------------------------------------------------------------ */
/* CoMutex.                                                           */

static struct loom_co_mutex g_m;

static void mutex_fn(void *opaque)
{
    int id = (int)(intptr_t)opaque;

    loom_co_mutex_lock(&g_m);
    log_ev(id);
    loom_co_yield(); /* hold it across a yield */
    log_ev(id + 10);
    loom_co_mutex_unlock(&g_m);
}

static void test_mutex_fifo(void)
{
    static const int expect[] = {1, 11, 2, 12, 3, 13, 4, 14};
    struct loom_co *co[4];
    int i;

    log_reset();
    loom_co_mutex_init(&g_m);
    for (i = 0; i < 4; i++) {
        co[i] = co_new(mutex_fn, (void *)(intptr_t)(i + 1));
        loom_co_enter(co[i]);
    }
    /* Only the first got the lock; the others queue in arrival order. */
    g_assert_cmpint(g_nevents, ==, 1);
    /*
     * Re-entering the holder: it unlocks, handing the mutex to the next
     * waiter, which runs (queued enter) and yields with the lock.
     */
    for (i = 0; i < 4; i++) {
        loom_co_enter(co[i]);
    }
    log_expect(expect, 8);
    g_assert_null(g_m.holder);
}

static void trylock_fn(void *opaque)
{
    int *r = opaque;

    r[0] = loom_co_mutex_trylock(&g_m);
    r[1] = loom_co_mutex_trylock(&g_m);
    loom_co_yield();
    loom_co_mutex_unlock(&g_m);
}

static void trylock_other(void *opaque)
{
    int r = loom_co_mutex_trylock(&g_m);

    *(int *)opaque = r;
    if (r == 0) {
        loom_co_mutex_unlock(&g_m);
    }
}

static void test_mutex_trylock(void)
{
    int r[2], other;
    struct loom_co *co = co_new(trylock_fn, r);

    loom_co_mutex_init(&g_m);
    loom_co_enter(co);
    g_assert_cmpint(r[0], ==, 0);
    g_assert_cmpint(r[1], ==, -EBUSY);
    loom_co_enter(co_new(trylock_other, &other));
    g_assert_cmpint(other, ==, -EBUSY);
    loom_co_enter(co);
    loom_co_enter(co_new(trylock_other, &other));
    g_assert_cmpint(other, ==, 0);
    g_assert_null(g_m.holder);
}

/* ------------------------------------------------------------------ */
/* CoRwlock.                                                          */

static struct loom_co_rwlock g_rw;

static void reader_fn(void *opaque)
{
    int id = (int)(intptr_t)opaque;

    loom_co_rwlock_rdlock(&g_rw);
    log_ev(id);
    loom_co_yield();
    log_ev(id + 10);
    loom_co_rwlock_unlock(&g_rw);
}

static void writer_fn(void *opaque)
{
    int id = (int)(intptr_t)opaque;

    loom_co_rwlock_wrlock(&g_rw);
    log_ev(id);
    loom_co_yield();
    log_ev(id + 10);
    loom_co_rwlock_unlock(&g_rw);
}

static void test_rwlock(void)
{
    /*
     * r1 and r2 read together; w3 waits for both; r4 arrives after w3
     * and waits for it (fairness); r5 enters together with r4.  After
     * w3's unlock r4 and r5 are admitted together; w6 waits for them.
     */
    static const int expect[] = {1, 2, 11, 12, 3, 13, 4, 5, 14, 15, 6, 16};
    struct loom_co *co[6];
    int i;

    log_reset();
    loom_co_rwlock_init(&g_rw);
    co[0] = co_new(reader_fn, (void *)(intptr_t)1);
    co[1] = co_new(reader_fn, (void *)(intptr_t)2);
    co[2] = co_new(writer_fn, (void *)(intptr_t)3);
    co[3] = co_new(reader_fn, (void *)(intptr_t)4);
    co[4] = co_new(reader_fn, (void *)(intptr_t)5);
    co[5] = co_new(writer_fn, (void *)(intptr_t)6);
    for (i = 0; i < 6; i++) {
        loom_co_enter(co[i]);
    }
    g_assert_cmpint(g_nevents, ==, 2);
    loom_co_enter(co[0]); /* r1 unlocks: r2 still reads */
    g_assert_cmpint(g_nevents, ==, 3);
    loom_co_enter(co[1]); /* r2 unlocks: w3 admitted, logs 3 */
    g_assert_cmpint(g_nevents, ==, 5);
    loom_co_enter(co[2]); /* w3 unlocks: r4, r5 admitted */
    g_assert_cmpint(g_nevents, ==, 8);
    loom_co_enter(co[3]);
    g_assert_cmpint(g_nevents, ==, 9);
    loom_co_enter(co[4]); /* last reader out: w6 admitted */
    g_assert_cmpint(g_nevents, ==, 11);
    loom_co_enter(co[5]);
    log_expect(expect, 12);
    g_assert_cmpuint(g_rw.readers, ==, 0);
    g_assert_false(g_rw.writer);
}

/* ------------------------------------------------------------------ */
/* Contract violations: each in a subprocess that must die.           */

static struct loom_co *g_bad_co;

static void enter_self_fn(void *opaque)
{
    /* Queued enter of a running coroutine: must panic at once. */
    loom_co_enter(g_bad_co);
}

static void test_panic_enter_running(void)
{
    if (g_test_subprocess()) {
        g_bad_co = co_new(enter_self_fn, NULL);
        loom_co_enter(g_bad_co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*is running*");
}

static void test_panic_enter_finished(void)
{
    if (g_test_subprocess()) {
        struct loom_co *co = co_new(nop_fn, NULL);

        loom_co_enter(co);
        loom_co_enter(co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*has finished*");
}

static void enter_twice_fn(void *opaque)
{
    struct loom_co *other = opaque;

    loom_co_enter(other);
    loom_co_enter(other);
}

static void test_panic_enter_queued(void)
{
    if (g_test_subprocess()) {
        loom_co_enter(co_new(enter_twice_fn, co_new(nop_fn, NULL)));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*already queued*");
}

static void test_panic_yield_outside(void)
{
    if (g_test_subprocess()) {
        loom_co_yield();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*outside a coroutine*");
}

static void unlock_unheld_fn(void *opaque)
{
    loom_co_mutex_unlock(&g_m);
}

static void test_panic_mutex_unlock(void)
{
    if (g_test_subprocess()) {
        loom_co_mutex_init(&g_m);
        loom_co_enter(co_new(unlock_unheld_fn, NULL));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*not held*");
}

static void relock_fn(void *opaque)
{
    loom_co_mutex_lock(&g_m);
    loom_co_mutex_lock(&g_m);
}

static void test_panic_mutex_relock(void)
{
    if (g_test_subprocess()) {
        loom_co_mutex_init(&g_m);
        loom_co_enter(co_new(relock_fn, NULL));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*already holds*");
}

static void rw_unlock_fn(void *opaque)
{
    loom_co_rwlock_unlock(&g_rw);
}

static void test_panic_rwlock_unlock(void)
{
    if (g_test_subprocess()) {
        loom_co_rwlock_init(&g_rw);
        loom_co_enter(co_new(rw_unlock_fn, NULL));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*not held*");
}

static void test_panic_lock_outside(void)
{
    if (g_test_subprocess()) {
        loom_co_mutex_init(&g_m);
        loom_co_mutex_lock(&g_m);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*outside a coroutine*");
}

/* Far deeper recursion than any stack allows: must hit the guard page. */
static volatile int g_recurse_limit = 1 << 30;

static int recurse(volatile char *prev, int depth)
{
    volatile char buf[512];

    if (depth >= g_recurse_limit) {
        return 0;
    }

    buf[0] = (char)depth;
    buf[sizeof(buf) - 1] = prev ? prev[0] : 0;
    return recurse(buf, depth + 1) + buf[sizeof(buf) - 1];
}

static void overflow_fn(void *opaque)
{
    *(int *)opaque = recurse(NULL, 0);
}

static void test_guard_page(void)
{
    if (g_test_subprocess()) {
        int r = 0;

        loom_co_enter(co_new(overflow_fn, &r));
        /* Not reached: the recursion never returns. */
        fprintf(stderr, "overflow returned %d\n", r);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr_unmatched("*overflow returned*");
}

/*
 * A stack mapped where another stack switcher left poisoned shadow (its
 * frames' redzones, never cleared: ASan does not clear the shadow on
 * munmap) works: the coroutine object at its top and the stack itself.
 * Linux places a new mapping at the top of the highest hole it fits, so
 * the coroutine lands in the region unmapped just before; the test skips
 * where it does not.  Only AddressSanitizer builds can tell.
 */
static void test_stack_after_poisoned(void)
{
#ifdef LOOM_ASAN
    /* Room for two whole coroutine mappings (guard page, stack, object). */
    size_t len = 2 * (LOOM__CO_STACK_SIZE + 65536);
    char *old = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    struct loom_co *co;
    bool landed;
    int flag = 0;

    g_assert_true(old != MAP_FAILED);
    loom__co_pool_drain();
    ASAN_POISON_MEMORY_REGION(old, len);
    g_assert_cmpint(munmap(old, len), ==, 0);
    co = co_new(set_flag, &flag);
    landed = (char *)co >= old && (char *)co < old + len;
    loom_co_enter(co);
    g_assert_cmpint(flag, ==, 1);
    if (!landed) {
        g_test_skip("the stack was mapped elsewhere");
    }
#else
    g_test_skip("needs AddressSanitizer");
#endif
}

/* ------------------------------------------------------------------ */
/* The floating-point environment across switches.                    */

#if defined(__x86_64__)
/* MXCSR's rounding-control bits (13-14): SSE arithmetic's rounding. */
static unsigned sse_rounding(void)
{
    return __builtin_ia32_stmxcsr() & 0x6000u;
}
#endif

struct fenv_seen {
    int round[2];      /* fegetround() at the coroutine's two steps */
    int except[2];     /* fegetexcept() likewise */
    unsigned sse[2];   /* sse_rounding() likewise (x86-64) */
};

static void fenv_co(void *opaque)
{
    struct fenv_seen *s = opaque;

    g_assert_cmpint(fesetround(FE_UPWARD), ==, 0);
    g_assert_cmpint(feenableexcept(FE_DIVBYZERO), !=, -1);
    s->round[0] = fegetround();
    s->except[0] = fegetexcept();
#if defined(__x86_64__)
    s->sse[0] = sse_rounding();
#endif
    loom_co_yield();
    s->round[1] = fegetround();
    s->except[1] = fegetexcept();
#if defined(__x86_64__)
    s->sse[1] = sse_rounding();
#endif
    /* Leave the thread's environment as the caller expects it. */
    g_assert_cmpint(fedisableexcept(FE_DIVBYZERO), !=, -1);
    g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
}

/*
 * Rounding modes and exception masks are callee-saved: they travel with
 * each context, whichever way the switch goes.
 */
static void test_fenv_control(void)
{
    struct fenv_seen s = {0};
    struct loom_co *co = NULL;

    g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
    g_assert_cmpint(fegetexcept(), ==, 0);
    g_assert_cmpint(loom_co_create(fenv_co, &s, &co), ==, 0);
    loom_co_enter(co);
    /* Back in the caller: its own environment. */
    g_assert_cmpint(fegetround(), ==, FE_TONEAREST);
    g_assert_cmpint(fegetexcept(), ==, 0);
#if defined(__x86_64__)
    g_assert_cmpuint(sse_rounding(), ==, 0);
#endif
    loom_co_enter(co);
    g_assert_cmpint(s.round[0], ==, FE_UPWARD);
    g_assert_cmpint(s.round[1], ==, FE_UPWARD);
    g_assert_cmpint(s.except[0], ==, FE_DIVBYZERO);
    g_assert_cmpint(s.except[1], ==, FE_DIVBYZERO);
#if defined(__x86_64__)
    g_assert_cmpuint(s.sse[0], ==, 0x4000u); /* round up */
    g_assert_cmpuint(s.sse[1], ==, 0x4000u);
#endif
    g_assert_cmpint(fegetround(), ==, FE_TONEAREST);
}

#if defined(__x86_64__)
/* MXCSR's sticky flag for an inexact result (PE, bit 5). */
#define MXCSR_PE 0x20u

static volatile double g_one = 1.0, g_three = 3.0, g_third;
#endif

#if defined(__x86_64__) && LOOM_CO_BACKEND_ASM
static void raise_inexact_co(void *opaque)
{
    (void)opaque;
    /* SSE arithmetic: sets MXCSR's PE (the x87 status word is separate). */
    g_third = g_one / g_three;
    g_assert_cmpuint(__builtin_ia32_stmxcsr() & MXCSR_PE, !=, 0);
    loom_co_yield();
}
#endif

/*
 * MXCSR's sticky exception flags are not callee-saved: they belong to the
 * thread, so a flag raised in a coroutine is still raised after it
 * yields (the asm switch never reloads them; ucontext restores them).
 * Contexts whose flags differ are the case that made every switch reload
 * MXCSR, which stalls some CPUs for ~60 ns.
 */
static void test_fenv_flags_stay(void)
{
#if defined(__x86_64__) && LOOM_CO_BACKEND_ASM
    struct loom_co *co = NULL;

    __builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() & ~0x3fu);
    g_assert_cmpint(loom_co_create(raise_inexact_co, NULL, &co), ==, 0);
    loom_co_enter(co);
    g_assert_cmpuint(__builtin_ia32_stmxcsr() & MXCSR_PE, !=, 0);
    /* Flags raised here, clear in the coroutine's saved state: fine. */
    loom_co_enter(co);
    g_assert_cmpuint(__builtin_ia32_stmxcsr() & MXCSR_PE, !=, 0);
    __builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() & ~0x3fu);
#else
    g_test_skip("x86-64 asm switch only (ucontext restores MXCSR)");
#endif
}

/* The rounding mode seen by a coroutine, and its sticky flags' effect. */
struct fenv_finish {
    int round;
    int queued_round; /* the queued coroutine's, after being resumed */
    struct loom_co *queued;
};

static void finish_co(void *opaque)
{
    struct fenv_finish *f = opaque;

    f->round = fegetround();
#if defined(__x86_64__)
    g_third = g_one / g_three; /* raises the inexact flag */
#endif
    if (f->queued) {
        /* Runs once this coroutine has finished. */
        loom_co_enter(f->queued);
    }
}

static void downward_co(void *opaque)
{
    struct fenv_finish *f = opaque;

    g_assert_cmpint(fesetround(FE_DOWNWARD), ==, 0);
    loom_co_yield();
    f->queued_round = fegetround();
    g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
}

/*
 * A finished coroutine's switch assumes the control state its entry was
 * called with (the ABI's callee-saved rule) rather than reading it: the
 * context resumed next must still get its own, whatever the finished
 * one started with, and the thread keeps the flags raised meanwhile.
 * Twice, so that the second coroutine comes from the pool.
 */
static void test_fenv_finish(void)
{
    for (int i = 0; i < 2; i++) {
        struct fenv_finish f = {0};
        struct loom_co *co = NULL;

        g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
        g_assert_cmpint(loom_co_create(finish_co, &f, &co), ==, 0);
        g_assert_cmpint(fesetround(FE_UPWARD), ==, 0);
#if defined(__x86_64__) && LOOM_CO_BACKEND_ASM
        __builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() & ~0x3fu);
#endif
        loom_co_enter(co);
        /* It started with the bits of its stack, not the caller's. */
        g_assert_cmpint(f.round, ==, FE_TONEAREST);
        g_assert_cmpint(fegetround(), ==, FE_UPWARD);
#if defined(__x86_64__)
        g_assert_cmpuint(sse_rounding(), ==, 0x4000u);
#if LOOM_CO_BACKEND_ASM
        g_assert_cmpuint(__builtin_ia32_stmxcsr() & MXCSR_PE, !=, 0);
        __builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() & ~0x3fu);
#endif
#endif
        g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
    }
}

/*
 * The same when a finished coroutine hands the thread to a queued one
 * that yielded with another rounding mode.
 */
static void test_fenv_finish_to_queued(void)
{
    struct fenv_finish f = {0};
    struct loom_co *co = NULL;

    g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
    g_assert_cmpint(loom_co_create(downward_co, &f, &f.queued), ==, 0);
    loom_co_enter(f.queued);
    g_assert_cmpint(fegetround(), ==, FE_TONEAREST);
    g_assert_cmpint(loom_co_create(finish_co, &f, &co), ==, 0);
    loom_co_enter(co);
    g_assert_cmpint(f.round, ==, FE_TONEAREST);
    g_assert_cmpint(f.queued_round, ==, FE_DOWNWARD);
    g_assert_cmpint(fegetround(), ==, FE_TONEAREST);
}

static void leave_upward_co(void *opaque)
{
    (void)opaque;
    g_assert_cmpint(fesetround(FE_UPWARD), ==, 0);
}

/*
 * An entry function that returns with another rounding mode breaks the
 * ABI, which the finished coroutine's switch relies on: debug builds of
 * the asm switch panic.
 */
static void test_fenv_finish_changed(void)
{
#if defined(__x86_64__) && LOOM_CO_BACKEND_ASM && defined(LOOM_DEBUG_CHECKS) && \
    !defined(LOOM_ASAN) && !defined(LOOM_TSAN)
    if (g_test_subprocess()) {
        struct loom_co *co = NULL;

        g_assert_cmpint(fesetround(FE_TONEAREST), ==, 0);
        g_assert_cmpint(loom_co_create(leave_upward_co, NULL, &co), ==, 0);
        loom_co_enter(co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*floating-point control state "
                              "changed*");
#else
    (void)leave_upward_co;
    g_test_skip("debug builds of the x86-64 asm switch only");
#endif
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/co/basic/create-enter", test_create_enter);
    g_test_add_func("/co/basic/bad-args", test_bad_args);
    g_test_add_func("/co/basic/yield", test_yield);
    g_test_add_func("/co/basic/self", test_self);
    g_test_add_func("/co/basic/order", test_order);
    g_test_add_func("/co/basic/big-frame", test_big_frame);
    g_test_add_func("/co/enter/nesting", test_nesting);
    g_test_add_func("/co/enter/queued-order", test_queued_enter_order);
    g_test_add_func("/co/enter/chain-25000", test_enter_chain);
    g_test_add_func("/co/pool/reuse", test_pool_reuse);
    g_test_add_func("/co/pool/bounds", test_pool_bounds);
    g_test_add_func("/co/pool/thread-exit", test_pool_thread_exit);
    g_test_add_func("/co/pool/full-handover", test_pool_full_handover);
    g_test_add_func("/co/queue/order", test_queue);
    g_test_add_func("/co/queue/from-co", test_queue_from_co);
    g_test_add_func("/co/queue/mutex", test_queue_mutex);
    g_test_add_func("/co/mutex/fifo", test_mutex_fifo);
    g_test_add_func("/co/mutex/trylock", test_mutex_trylock);
    g_test_add_func("/co/rwlock/fair", test_rwlock);
    g_test_add_func("/co/panic/enter-running", test_panic_enter_running);
    g_test_add_func("/co/panic/enter-finished", test_panic_enter_finished);
    g_test_add_func("/co/panic/enter-queued", test_panic_enter_queued);
    g_test_add_func("/co/panic/yield-outside", test_panic_yield_outside);
    g_test_add_func("/co/fenv/control-travels", test_fenv_control);
    g_test_add_func("/co/fenv/flags-stay-with-thread", test_fenv_flags_stay);
    g_test_add_func("/co/fenv/finish", test_fenv_finish);
    g_test_add_func("/co/fenv/finish-to-queued", test_fenv_finish_to_queued);
    g_test_add_func("/co/fenv/finish-changed", test_fenv_finish_changed);
    g_test_add_func("/co/panic/mutex-unlock", test_panic_mutex_unlock);
    g_test_add_func("/co/panic/mutex-relock", test_panic_mutex_relock);
    g_test_add_func("/co/panic/rwlock-unlock", test_panic_rwlock_unlock);
    g_test_add_func("/co/panic/lock-outside", test_panic_lock_outside);
    g_test_add_func("/co/panic/guard-page", test_guard_page);
    g_test_add_func("/co/stack/after-poisoned", test_stack_after_poisoned);
    return g_test_run();
}
