/* SPDX-License-Identifier: MIT */
/*
 * Coroutines on loops: loom_co_schedule() into this and other threads'
 * loops, loom_co_wake() from another thread, loom_co_reschedule_self(),
 * loom_co_sleep_ns() (never early), a CoMutex handed between threads, and
 * the related contract-violation panics.
 */
#include <loom/co.h>

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include <loom/clock.h>

#include "co-loop-threads.h"
#include "harness.h"

static struct loom_co *co_new(void (*fn)(void *), void *opaque)
{
    struct loom_co *co = NULL;

    g_assert_cmpint(loom_co_create(fn, opaque, &co), ==, 0);
    return co;
}

/* Poll @l (this thread is its home) until *@flag becomes true. */
static void poll_until(struct loom_loop *l, const int *flag)
{
    POLL_UNTIL(l, __atomic_load_n(flag, __ATOMIC_ACQUIRE));
}

/* Spin (no loop of ours involved) until *@flag becomes @val. */
static void wait_flag(const int *flag, int val)
{
    WAIT_UNTIL(__atomic_load_n(flag, __ATOMIC_ACQUIRE) == val);
}

static void set_done(int *flag)
{
    __atomic_store_n(flag, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */

struct sched_rec {
    struct loom_loop *loop;
    pthread_t ran_on;
    int runs;
    int done;
};

static void record_fn(void *opaque)
{
    struct sched_rec *r = opaque;

    r->ran_on = pthread_self();
    r->runs++;
    set_done(&r->done);
}

/* Scheduling into the caller's own loop runs from loom_loop_poll(). */
static void test_schedule_same_thread(void)
{
    struct sched_rec r = {0};
    struct loom_loop *l = harness_loop_new();
    struct loom_co *co = co_new(record_fn, &r);

    loom_co_schedule(l, co);
    g_assert_cmpint(r.runs, ==, 0);
    poll_until(l, &r.done);
    g_assert_cmpint(r.runs, ==, 1);
    g_assert_true(pthread_equal(r.ran_on, pthread_self()));
    loom_loop_unref(l);
}

/* Scheduling into another thread's loop runs it there. */
static void test_schedule_other_thread(void)
{
    struct sched_rec r = {0};
    struct lt lt;

    lt_start(&lt, 1);
    loom_co_schedule(lt.loop, co_new(record_fn, &r));
    wait_flag(&r.done, 1);
    g_assert_true(pthread_equal(r.ran_on, lt.th));
    lt_stop(&lt);
}

/* ------------------------------------------------------------------ */

struct hop {
    struct loom_loop *loops[2];
    pthread_t threads[2];
    int where[4];
    int parked;
    int done;
};

/*
 * Never inlined, and opaque to the optimiser: pthread_self() is declared
 * const, so a compiler may otherwise reuse its value across a reschedule.
 */
static __attribute__((noinline)) int which(const struct hop *h)
{
    __asm__ __volatile__("" ::: "memory");
    if (pthread_equal(pthread_self(), h->threads[0])) {
        return 0;
    }
    if (pthread_equal(pthread_self(), h->threads[1])) {
        return 1;
    }
    return -1;
}

static void hop_fn(void *opaque)
{
    struct hop *h = opaque;

    h->where[0] = which(h);
    loom_co_reschedule_self(h->loops[1]);
    h->where[1] = which(h);
    /* Already there: returns at once, same thread. */
    loom_co_reschedule_self(h->loops[1]);
    h->where[2] = which(h);
    /* Park; the main thread wakes us from outside any loop. */
    __atomic_store_n(&h->parked, 1, __ATOMIC_RELEASE);
    loom_co_yield();
    h->where[3] = which(h);
    loom_co_reschedule_self(h->loops[0]);
    set_done(&h->done);
}

static void test_reschedule_and_wake(void)
{
    struct hop h = {0};
    struct lt lt;
    struct loom_co *co;

    lt_start(&lt, 1);
    h.loops[0] = harness_loop_new();
    h.loops[1] = lt.loop;
    h.threads[0] = pthread_self();
    h.threads[1] = lt.th;
    co = co_new(hop_fn, &h);
    loom_co_schedule(h.loops[0], co);
    /* Run the first part here; the coroutine then moves to lt. */
    while (!__atomic_load_n(&h.parked, __ATOMIC_ACQUIRE)) {
        loom_loop_poll(h.loops[0], false);
        sched_yield();
    }
    /* Parked in lt's thread: wake goes through lt's loop. */
    loom_co_wake(co);
    poll_until(h.loops[0], &h.done);
    g_assert_cmpint(h.where[0], ==, 0);
    g_assert_cmpint(h.where[1], ==, 1);
    g_assert_cmpint(h.where[2], ==, 1);
    g_assert_cmpint(h.where[3], ==, 1);
    lt_stop(&lt);
    loom_loop_unref(h.loops[0]);
}

/* ------------------------------------------------------------------ */

struct sleeper {
    enum loom_clock clock;
    int64_t ns, slept;
    int done;
};

static void sleep_fn(void *opaque)
{
    struct sleeper *s = opaque;
    int64_t t0 = loom_clock_ns(s->clock);

    loom_co_sleep_ns(s->clock, s->ns);
    s->slept = loom_clock_ns(s->clock) - t0;
    set_done(&s->done);
}

/* Timers never fire early (a real-time behaviour: short waits). */
static void test_sleep(void)
{
    static const enum loom_clock clocks[] = {LOOM_CLOCK_HOST,
                                             LOOM_CLOCK_REALTIME};
    struct loom_loop *l = harness_loop_new();
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(clocks); i++) {
        struct sleeper s = {.clock = clocks[i], .ns = 3000000};

        loom_co_schedule(l, co_new(sleep_fn, &s));
        poll_until(l, &s.done);
        g_assert_cmpint(s.slept, >=, s.ns);
    }
    {
        /* Zero and negative: still a trip through the loop. */
        struct sleeper s0 = {.clock = LOOM_CLOCK_HOST, .ns = 0};
        struct sleeper sn = {.clock = LOOM_CLOCK_HOST, .ns = -5};

        loom_co_schedule(l, co_new(sleep_fn, &s0));
        loom_co_schedule(l, co_new(sleep_fn, &sn));
        poll_until(l, &s0.done);
        poll_until(l, &sn.done);
        g_assert_cmpint(s0.slept, >=, 0);
    }
    loom_loop_unref(l);
}

/* A coroutine entered by hand from a loop's thread keeps that loop. */
struct enter_keep {
    struct loom_loop *l;
    int phase;
    int done;
};

static void keep_fn(void *opaque)
{
    struct enter_keep *k = opaque;

    k->phase = 1;
    loom_co_yield();
    k->phase = 2;
    loom_co_sleep_ns(LOOM_CLOCK_HOST, 1000);
    set_done(&k->done);
}

static void test_plain_enter_keeps_loop(void)
{
    struct enter_keep k = {0};
    struct loom_co *co = co_new(keep_fn, &k);

    k.l = harness_loop_new();
    loom_co_schedule(k.l, co);
    while (k.phase == 0) {
        loom_loop_poll(k.l, true);
    }
    /* Plain enter on the same thread: the loop is still known. */
    loom_co_enter(co);
    g_assert_cmpint(k.phase, ==, 2);
    poll_until(k.l, &k.done);
    loom_loop_unref(k.l);
}

/* loom_co_enter_in(): immediate in the loop's thread, else scheduled. */
struct enter_in {
    struct loom_loop *l;
    struct loom_co *co;
    int entered_in_bh; /* the coroutine ran inside the BH callback */
    int in_bh;
    pthread_t ran_on;
    int done;
};

static void enter_in_fn(void *opaque)
{
    struct enter_in *e = opaque;

    e->entered_in_bh = e->in_bh;
    /* Needs the loop recorded by loom_co_enter_in(). */
    loom_co_sleep_ns(LOOM_CLOCK_HOST, 1000);
    e->ran_on = pthread_self();
    set_done(&e->done);
}

static void enter_in_bh(void *opaque)
{
    struct enter_in *e = opaque;

    e->in_bh = 1;
    loom_co_enter_in(e->l, e->co);
    e->in_bh = 0;
}

static void test_enter_in(void)
{
    struct enter_in e = {0};
    struct lt lt;

    /* From a callback of the loop: entered at once. */
    e.l = harness_loop_new();
    e.co = co_new(enter_in_fn, &e);
    g_assert_cmpint(loom_bh_oneshot(e.l, enter_in_bh, &e), ==, 0);
    poll_until(e.l, &e.done);
    g_assert_cmpint(e.entered_in_bh, ==, 1);
    loom_loop_unref(e.l);

    /* From another thread: scheduled into the loop's thread. */
    memset(&e, 0, sizeof(e));
    lt_start(&lt, 1);
    e.l = lt.loop;
    e.co = co_new(enter_in_fn, &e);
    loom_co_enter_in(e.l, e.co);
    wait_flag(&e.done, 1);
    g_assert_true(pthread_equal(e.ran_on, lt.th));
    lt_stop(&lt);
}

/* ------------------------------------------------------------------ */

/*
 * CoMutex between threads: A (thread 1) takes the mutex and sleeps with
 * it; B (thread 2) blocks on it, gets it when A unlocks, in its own
 * thread.
 */
struct xmutex {
    struct loom_co_mutex m;
    struct lt lt[2];
    int a_locked, a_unlocked, b_got;
    int a_thread, b_thread;
    int order; /* 1 when B got the lock after A released it */
    int done;
};

static void xm_a(void *opaque)
{
    struct xmutex *x = opaque;

    loom_co_mutex_lock(&x->m);
    __atomic_store_n(&x->a_locked, 1, __ATOMIC_RELEASE);
    loom_co_sleep_ns(LOOM_CLOCK_HOST, 20000000);
    x->a_thread = lt_index();
    __atomic_store_n(&x->a_unlocked, 1, __ATOMIC_RELEASE);
    loom_co_mutex_unlock(&x->m);
}

static void xm_b(void *opaque)
{
    struct xmutex *x = opaque;

    loom_co_mutex_lock(&x->m);
    x->order = __atomic_load_n(&x->a_unlocked, __ATOMIC_ACQUIRE);
    x->b_thread = lt_index();
    loom_co_mutex_unlock(&x->m);
    set_done(&x->done);
}

static void test_mutex_cross_thread(void)
{
    struct xmutex x = {0};

    loom_co_mutex_init(&x.m);
    lt_start(&x.lt[0], 1);
    lt_start(&x.lt[1], 2);
    loom_co_schedule(x.lt[0].loop, co_new(xm_a, &x));
    wait_flag(&x.a_locked, 1);
    loom_co_schedule(x.lt[1].loop, co_new(xm_b, &x));
    wait_flag(&x.done, 1);
    g_assert_cmpint(x.order, ==, 1);
    g_assert_cmpint(x.a_thread, ==, 1);
    g_assert_cmpint(x.b_thread, ==, 2);
    lt_stop_all(x.lt, 2);
    g_assert_null(x.m.holder);
}

/* ------------------------------------------------------------------ */
/* Plain loom_co_enter() inside a loop: the coroutine takes           */
/* loom_loop_current() (QEMU's rule), so sleeping, cross-thread wakes  */
/* and lock hand-offs find its loop.                                   */

struct plain {
    struct loom_co *co;
    int where[3];
    int parked, done;
};

static void plain_sleep_fn(void *opaque)
{
    struct plain *p = opaque;

    p->where[0] = lt_index();
    loom_co_sleep_ns(LOOM_CLOCK_HOST, 1000);
    p->where[1] = lt_index();
    set_done(&p->parked);
    loom_co_yield();
    p->where[2] = lt_index();
    set_done(&p->done);
}

/* BH callback on the loop thread: a plain enter, no loop given. */
static void plain_enter_bh(void *opaque)
{
    struct plain *p = opaque;

    loom_co_enter(p->co);
}

static void test_plain_enter_takes_current(void)
{
    struct plain p = {0};
    struct lt lt;

    lt_start(&lt, 1);
    p.co = co_new(plain_sleep_fn, &p);
    g_assert_cmpint(loom_bh_oneshot(lt.loop, plain_enter_bh, &p), ==, 0);
    /* Slept on lt's loop, then parked there. */
    wait_flag(&p.parked, 1);
    /* Woken from this thread: resumed through lt's loop. */
    loom_co_wake(p.co);
    wait_flag(&p.done, 1);
    g_assert_cmpint(p.where[0], ==, 1);
    g_assert_cmpint(p.where[1], ==, 1);
    g_assert_cmpint(p.where[2], ==, 1);
    lt_stop(&lt);
}

struct plain_mutex {
    struct lt lt[2];
    struct loom_co *a, *b;
    struct loom_co_mutex m;
    int a_locked, b_waiting, b_thread, done;
};

static void pm_a(void *opaque)
{
    struct plain_mutex *x = opaque;

    loom_co_mutex_lock(&x->m);
    set_done(&x->a_locked);
    /* Woken by the test thread (through lt[0]'s loop). */
    loom_co_yield();
    loom_co_mutex_unlock(&x->m);
}

static void pm_b(void *opaque)
{
    struct plain_mutex *x = opaque;

    set_done(&x->b_waiting);
    loom_co_mutex_lock(&x->m);
    x->b_thread = lt_index();
    loom_co_mutex_unlock(&x->m);
    set_done(&x->done);
}

static void pm_enter_a(void *opaque)
{
    loom_co_enter(((struct plain_mutex *)opaque)->a);
}

static void pm_enter_b(void *opaque)
{
    loom_co_enter(((struct plain_mutex *)opaque)->b);
}

static void test_plain_enter_mutex_cross_thread(void)
{
    struct plain_mutex x = {0};

    loom_co_mutex_init(&x.m);
    lt_start(&x.lt[0], 1);
    lt_start(&x.lt[1], 2);
    x.a = co_new(pm_a, &x);
    x.b = co_new(pm_b, &x);
    g_assert_cmpint(loom_bh_oneshot(x.lt[0].loop, pm_enter_a, &x), ==, 0);
    wait_flag(&x.a_locked, 1);
    g_assert_cmpint(loom_bh_oneshot(x.lt[1].loop, pm_enter_b, &x), ==, 0);
    wait_flag(&x.b_waiting, 1);
    /* A unlocks in lt[0]'s thread and hands the mutex to B in lt[1]'s. */
    loom_co_wake(x.a);
    wait_flag(&x.done, 1);
    g_assert_cmpint(x.b_thread, ==, 2);
    lt_stop_all(x.lt, 2);
    g_assert_null(x.m.holder);
}

/* ------------------------------------------------------------------ */
/* Panics.                                                            */

static void nop_fn(void *opaque)
{
    (void)opaque;
}

static void test_panic_schedule_twice(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_co *co = co_new(nop_fn, NULL);

        loom_co_schedule(l, co);
        loom_co_schedule(l, co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*scheduled twice*");
}

static void test_panic_enter_scheduled(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_co *co = co_new(nop_fn, NULL);

        loom_co_schedule(l, co);
        loom_co_enter(co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*is scheduled*");
}

static void sleep_no_loop_fn(void *opaque)
{
    loom_co_sleep_ns(LOOM_CLOCK_HOST, 1000);
}

static void test_panic_sleep_no_loop(void)
{
    if (g_test_subprocess()) {
        loom_co_enter(co_new(sleep_no_loop_fn, NULL));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*does not run in a loop*");
}

static void yield_once_fn(void *opaque)
{
    loom_co_yield();
}

static void *enter_plain_thread(void *arg)
{
    loom_co_enter(arg);
    return NULL;
}

static void test_panic_wake_no_loop(void)
{
    if (g_test_subprocess()) {
        struct loom_co *co = co_new(yield_once_fn, NULL);
        pthread_t th;

        /* Entered outside any loop in another thread, then woken here. */
        g_assert_cmpint(pthread_create(&th, NULL, enter_plain_thread, co), ==,
                        0);
        g_assert_cmpint(pthread_join(th, NULL), ==, 0);
        loom_co_wake(co);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*cannot be resumed*");
}

static void test_panic_reschedule_outside(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();

        loom_co_reschedule_self(l);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic*outside a coroutine*");
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/co/loop/schedule-same-thread", test_schedule_same_thread);
    g_test_add_func("/co/loop/schedule-other-thread",
                    test_schedule_other_thread);
    g_test_add_func("/co/loop/reschedule-and-wake", test_reschedule_and_wake);
    g_test_add_func("/co/loop/sleep", test_sleep);
    g_test_add_func("/co/loop/enter-in", test_enter_in);
    g_test_add_func("/co/loop/plain-enter-keeps-loop",
                    test_plain_enter_keeps_loop);
    g_test_add_func("/co/loop/mutex-cross-thread", test_mutex_cross_thread);
    g_test_add_func("/co/loop/plain-enter-takes-current",
                    test_plain_enter_takes_current);
    g_test_add_func("/co/loop/plain-enter-mutex-cross-thread",
                    test_plain_enter_mutex_cross_thread);
    g_test_add_func("/co/loop/panic/schedule-twice", test_panic_schedule_twice);
    g_test_add_func("/co/loop/panic/enter-scheduled",
                    test_panic_enter_scheduled);
    g_test_add_func("/co/loop/panic/sleep-no-loop", test_panic_sleep_no_loop);
    g_test_add_func("/co/loop/panic/wake-no-loop", test_panic_wake_no_loop);
    g_test_add_func("/co/loop/panic/reschedule-outside",
                    test_panic_reschedule_outside);
    return g_test_run();
}
