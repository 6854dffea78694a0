/* SPDX-License-Identifier: MIT */
/*
 * Single- and lightly multi-threaded semantics of the synchronisation
 * primitives: mutex, recursive mutex, condition variable, semaphore, event,
 * spinlock, lock counter and seqlock, including their panics on misuse.
 */
#include <errno.h>

#include <loom/thread.h>

#include "harness.h"

#define MS (1000 * 1000LL)

/* Run @fn(@arg) on a new loom thread; returns the handle. */
static struct loom_thread *spawn(void *(*fn)(void *), void *arg)
{
    struct loom_thread *t;

    g_assert_cmpint(loom_thread_create(&t, "test-sync", fn, arg, 0), ==, 0);
    return t;
}

static void *join(struct loom_thread *t)
{
    void *v;

    g_assert_cmpint(loom_thread_join(t, &v), ==, 0);
    return v;
}

/* --- mutex --------------------------------------------------------- */

static void *mutex_trylock_thread(void *arg)
{
    int r = loom_mutex_trylock(arg);

    if (r == 0) {
        loom_mutex_unlock(arg);
    }
    return (void *)(intptr_t)r;
}

static void test_mutex(void)
{
    static struct loom_mutex s = LOOM_MUTEX_INITIALIZER;
    struct loom_mutex m;

    loom_mutex_init(&m);
    loom_mutex_lock(&m);
    g_assert_cmpint(loom_mutex_trylock(&m), ==, -EBUSY);
    g_assert_cmpint((intptr_t)join(spawn(mutex_trylock_thread, &m)), ==,
                    -EBUSY);
    loom_mutex_unlock(&m);
    g_assert_cmpint((intptr_t)join(spawn(mutex_trylock_thread, &m)), ==, 0);
    g_assert_cmpint(loom_mutex_trylock(&m), ==, 0);
    loom_mutex_unlock(&m);
    loom_mutex_destroy(&m);

    /* Static initialiser. */
    g_assert_cmpint(loom_mutex_trylock(&s), ==, 0);
    g_assert_cmpint(loom_mutex_trylock(&s), ==, -EBUSY);
    loom_mutex_unlock(&s);
}

static void test_mutex_destroy_locked(void)
{
    if (g_test_subprocess()) {
        struct loom_mutex m;

        loom_mutex_init(&m);
        loom_mutex_lock(&m);
        loom_mutex_destroy(&m);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: mutex * destroyed while locked*");
}

/* --- recursive mutex ----------------------------------------------- */

static void *rec_trylock_thread(void *arg)
{
    int r = loom_rec_mutex_trylock(arg);

    if (r == 0) {
        loom_rec_mutex_unlock(arg);
    }
    return (void *)(intptr_t)r;
}

static void test_rec_mutex(void)
{
    struct loom_rec_mutex m;

    loom_rec_mutex_init(&m);
    loom_rec_mutex_lock(&m);
    loom_rec_mutex_lock(&m);
    g_assert_cmpint(loom_rec_mutex_trylock(&m), ==, 0);
    g_assert_cmpint((intptr_t)join(spawn(rec_trylock_thread, &m)), ==,
                    -EBUSY);
    loom_rec_mutex_unlock(&m);
    loom_rec_mutex_unlock(&m);
    /* Still held once. */
    g_assert_cmpint((intptr_t)join(spawn(rec_trylock_thread, &m)), ==,
                    -EBUSY);
    loom_rec_mutex_unlock(&m);
    g_assert_cmpint((intptr_t)join(spawn(rec_trylock_thread, &m)), ==, 0);
    loom_rec_mutex_destroy(&m);
}

static void test_rec_mutex_unlock_unheld(void)
{
    if (g_test_subprocess()) {
        struct loom_rec_mutex m;

        loom_rec_mutex_init(&m);
        loom_rec_mutex_unlock(&m);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: recursive mutex * unlocked by a "
                              "thread not holding it*");
}

/* --- condition variable -------------------------------------------- */

struct cond_ctx {
    struct loom_mutex m;
    struct loom_cond c;
    int flag;
};

static void *cond_signal_thread(void *arg)
{
    struct cond_ctx *x = arg;

    loom_mutex_lock(&x->m);
    x->flag = 1;
    loom_cond_signal(&x->c);
    loom_mutex_unlock(&x->m);
    return NULL;
}

static void test_cond_timedwait(void)
{
    static struct loom_cond sc = LOOM_COND_INITIALIZER;
    struct loom_mutex m;
    struct loom_cond c;
    int64_t t0, t1;

    loom_mutex_init(&m);
    loom_cond_init(&c);
    loom_mutex_lock(&m);

    /* Nobody signals: times out, not before 20 ms, mutex held again. */
    t0 = harness_now_ns();
    g_assert_cmpint(loom_cond_timedwait(&c, &m, 20 * MS), ==, -ETIMEDOUT);
    t1 = harness_now_ns();
    g_assert_cmpint(t1 - t0, >=, 20 * MS);
    g_assert_cmpint(loom_mutex_trylock(&m), ==, -EBUSY);

    g_assert_cmpint(loom_cond_timedwait(&c, &m, 0), ==, -ETIMEDOUT);
    g_assert_cmpint(loom_cond_timedwait(&c, &m, -5), ==, -ETIMEDOUT);
    g_assert_cmpint(loom_cond_timedwait(&sc, &m, 1 * MS), ==, -ETIMEDOUT);

    loom_mutex_unlock(&m);
    loom_cond_destroy(&c);
    loom_mutex_destroy(&m);
}

static void test_cond_signal(void)
{
    struct loom_thread *t;
    struct cond_ctx x;

    loom_mutex_init(&x.m);
    loom_cond_init(&x.c);
    x.flag = 0;
    loom_mutex_lock(&x.m);
    t = spawn(cond_signal_thread, &x);
    while (!x.flag) {
        loom_cond_wait(&x.c, &x.m);
    }
    loom_mutex_unlock(&x.m);
    join(t);

    /* Timed variant: woken by the signal well before the timeout. */
    loom_mutex_lock(&x.m);
    x.flag = 0;
    t = spawn(cond_signal_thread, &x);
    while (!x.flag) {
        g_assert_cmpint(loom_cond_timedwait(&x.c, &x.m, 60000 * MS), ==, 0);
    }
    loom_mutex_unlock(&x.m);
    join(t);

    /* Broadcast without waiters is harmless. */
    loom_cond_broadcast(&x.c);
    loom_cond_destroy(&x.c);
    loom_mutex_destroy(&x.m);
}

/* --- semaphore ----------------------------------------------------- */

static void *sem_post_thread(void *arg)
{
    loom_sem_post(arg);
    return NULL;
}

static void test_sem(void)
{
    struct loom_thread *t;
    struct loom_sem s;
    int64_t t0;
    int i;

    loom_sem_init(&s, 3);
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(loom_sem_timedwait(&s, 0), ==, 0);
    }
    g_assert_cmpint(loom_sem_timedwait(&s, 0), ==, -ETIMEDOUT);

    loom_sem_post(&s);
    loom_sem_post(&s);
    loom_sem_wait(&s);
    g_assert_cmpint(loom_sem_timedwait(&s, 1 * MS), ==, 0);
    g_assert_cmpint(loom_sem_timedwait(&s, -1), ==, -ETIMEDOUT);

    t0 = harness_now_ns();
    g_assert_cmpint(loom_sem_timedwait(&s, 20 * MS), ==, -ETIMEDOUT);
    g_assert_cmpint(harness_now_ns() - t0, >=, 20 * MS);

    /* Cross-thread: a blocked wait is released by a post. */
    t = spawn(sem_post_thread, &s);
    loom_sem_wait(&s);
    join(t);
    t = spawn(sem_post_thread, &s);
    g_assert_cmpint(loom_sem_timedwait(&s, 60000 * MS), ==, 0);
    join(t);
    g_assert_cmpint(loom_sem_timedwait(&s, 0), ==, -ETIMEDOUT);
    loom_sem_destroy(&s);
}

/* --- event --------------------------------------------------------- */

struct event_waiter {
    struct loom_event *ev;
    struct loom_sem *woken;
};

static void *event_wait_thread(void *arg)
{
    struct event_waiter *w = arg;

    loom_event_wait(w->ev);
    loom_sem_post(w->woken);
    return NULL;
}

static void test_event(void)
{
    struct loom_thread *t[4];
    struct event_waiter w;
    struct loom_sem woken;
    struct loom_event e;
    int64_t t0;
    size_t i;

    loom_event_init(&e, false);
    g_assert_cmpint(loom_event_timedwait(&e, 0), ==, -ETIMEDOUT);
    t0 = harness_now_ns();
    g_assert_cmpint(loom_event_timedwait(&e, 20 * MS), ==, -ETIMEDOUT);
    g_assert_cmpint(harness_now_ns() - t0, >=, 20 * MS);

    /* Manual reset: stays set for every later wait. */
    loom_event_set(&e);
    loom_event_wait(&e);
    loom_event_wait(&e);
    g_assert_cmpint(loom_event_timedwait(&e, 0), ==, 0);
    loom_event_set(&e);
    loom_event_reset(&e);
    g_assert_cmpint(loom_event_timedwait(&e, 0), ==, -ETIMEDOUT);
    loom_event_reset(&e);
    g_assert_cmpint(loom_event_timedwait(&e, 1 * MS), ==, -ETIMEDOUT);
    loom_event_destroy(&e);

    loom_event_init(&e, true);
    loom_event_wait(&e);
    loom_event_destroy(&e);

    /* One set wakes every blocked waiter. */
    loom_event_init(&e, false);
    loom_sem_init(&woken, 0);
    w.ev = &e;
    w.woken = &woken;
    for (i = 0; i < G_N_ELEMENTS(t); i++) {
        t[i] = spawn(event_wait_thread, &w);
    }
    /* They cannot get past a reset event. */
    g_assert_cmpint(loom_sem_timedwait(&woken, 10 * MS), ==, -ETIMEDOUT);
    loom_event_set(&e);
    for (i = 0; i < G_N_ELEMENTS(t); i++) {
        g_assert_cmpint(loom_sem_timedwait(&woken, 60000 * MS), ==, 0);
        join(t[i]);
    }
    loom_sem_destroy(&woken);
    loom_event_destroy(&e);
}

/* --- spinlock ------------------------------------------------------ */

struct spin_ctx {
    struct loom_spin lock;
    long counter;
};

static void *spin_thread(void *arg)
{
    struct spin_ctx *x = arg;
    int i;

    for (i = 0; i < 10000; i++) {
        loom_spin_lock(&x->lock);
        x->counter++;
        loom_spin_unlock(&x->lock);
    }
    return NULL;
}

static void test_spin(void)
{
    static struct loom_spin ss = LOOM_SPIN_INITIALIZER;
    struct loom_thread *t1, *t2;
    struct spin_ctx x;

    loom_spin_init(&x.lock);
    loom_spin_lock(&x.lock);
    g_assert_cmpint(loom_spin_trylock(&x.lock), ==, -EBUSY);
    loom_spin_unlock(&x.lock);
    g_assert_cmpint(loom_spin_trylock(&x.lock), ==, 0);
    loom_spin_unlock(&x.lock);

    x.counter = 0;
    t1 = spawn(spin_thread, &x);
    t2 = spawn(spin_thread, &x);
    join(t1);
    join(t2);
    g_assert_cmpint(x.counter, ==, 20000);
    loom_spin_destroy(&x.lock);

    g_assert_cmpint(loom_spin_trylock(&ss), ==, 0);
    g_assert_cmpint(loom_spin_trylock(&ss), ==, -EBUSY);
    loom_spin_unlock(&ss);
}

/* --- lock counter -------------------------------------------------- */

struct lockcnt_ctx {
    struct loom_lockcnt *c;
    struct loom_event entered;
};

static void *lockcnt_inc_thread(void *arg)
{
    struct lockcnt_ctx *x = arg;

    loom_lockcnt_inc(x->c);
    loom_event_set(&x->entered);
    return NULL;
}

static void test_lockcnt(void)
{
    struct lockcnt_ctx x;
    struct loom_lockcnt c;
    struct loom_thread *t;

    loom_lockcnt_init(&c);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 0);
    loom_lockcnt_inc(&c);
    loom_lockcnt_inc(&c);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 2);

    /* Not the last visitor: no lock, count unchanged or decremented. */
    g_assert_false(loom_lockcnt_dec_if_lock(&c));
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 2);
    g_assert_false(loom_lockcnt_dec_and_lock(&c));
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 1);

    /* The last one leaves with the mutex held and the count at zero. */
    g_assert_true(loom_lockcnt_dec_and_lock(&c));
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 0);

    /* A visitor arriving at zero waits for the mutex... */
    x.c = &c;
    loom_event_init(&x.entered, false);
    t = spawn(lockcnt_inc_thread, &x);
    g_assert_cmpint(loom_event_timedwait(&x.entered, 20 * MS), ==,
                    -ETIMEDOUT);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 0);
    /* ...and gets in once it is released. */
    loom_lockcnt_unlock(&c);
    loom_event_wait(&x.entered);
    join(t);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 1);

    /* While visitors remain, inc does not need the mutex. */
    loom_lockcnt_lock(&c);
    loom_lockcnt_inc(&c);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 2);
    loom_lockcnt_unlock(&c);
    loom_lockcnt_dec(&c);

    /* dec_if_lock by the last visitor. */
    g_assert_true(loom_lockcnt_dec_if_lock(&c));
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 0);
    loom_lockcnt_inc_and_unlock(&c);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 1);
    /* The mutex is free again: lock/unlock do not block. */
    loom_lockcnt_lock(&c);
    loom_lockcnt_unlock(&c);
    loom_lockcnt_dec(&c);
    g_assert_cmpuint(loom_lockcnt_get(&c), ==, 0);

    loom_event_destroy(&x.entered);
    loom_lockcnt_destroy(&c);
}

static void test_lockcnt_underflow(void)
{
    if (g_test_subprocess()) {
        struct loom_lockcnt c;

        loom_lockcnt_init(&c);
        (void)loom_lockcnt_dec_and_lock(&c);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: lockcnt * below zero*");
}

/* --- seqlock ------------------------------------------------------- */

static void test_seqlock(void)
{
    static struct loom_seqlock ssl = LOOM_SEQLOCK_INITIALIZER;
    struct loom_seqlock sl;
    unsigned s, s2;

    loom_seqlock_init(&sl);
    s = loom_seqlock_read_begin(&sl);
    g_assert_cmpuint(s & 1, ==, 0);
    g_assert_false(loom_seqlock_read_retry(&sl, s));

    /* A write in between forces a retry. */
    s = loom_seqlock_read_begin(&sl);
    loom_seqlock_write_begin(&sl);
    loom_seqlock_write_end(&sl);
    g_assert_true(loom_seqlock_read_retry(&sl, s));

    s2 = loom_seqlock_read_begin(&sl);
    g_assert_cmpuint(s2, !=, s);
    g_assert_cmpuint(s2 & 1, ==, 0);
    g_assert_false(loom_seqlock_read_retry(&sl, s2));
    loom_seqlock_destroy(&sl);

    s = loom_seqlock_read_begin(&ssl);
    g_assert_false(loom_seqlock_read_retry(&ssl, s));
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/sync/mutex", test_mutex);
    g_test_add_func("/sync/mutex/destroy-locked", test_mutex_destroy_locked);
    g_test_add_func("/sync/rec-mutex", test_rec_mutex);
    g_test_add_func("/sync/rec-mutex/unlock-unheld",
                    test_rec_mutex_unlock_unheld);
    g_test_add_func("/sync/cond/timedwait", test_cond_timedwait);
    g_test_add_func("/sync/cond/signal", test_cond_signal);
    g_test_add_func("/sync/sem", test_sem);
    g_test_add_func("/sync/event", test_event);
    g_test_add_func("/sync/spin", test_spin);
    g_test_add_func("/sync/lockcnt", test_lockcnt);
    g_test_add_func("/sync/lockcnt/underflow", test_lockcnt_underflow);
    g_test_add_func("/sync/seqlock", test_seqlock);
    return g_test_run();
}
