/* SPDX-License-Identifier: MIT */
/*
 * Timer semantics on a real loop (QEMU test-aio's timer cases and more):
 * firing once, periodic re-arming, deletion, freeing from callbacks, never
 * early, FIFO order of equal deadlines, mod_anticipate, cross-thread
 * wake-ups, the VIRTUAL clock (deterministic stepping, stopped clock), the
 * loop's timeout and bad input.  Runs once per fd monitor (--fdmon=).
 */
#include <errno.h>
#include <pthread.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/timer.h>

#include "harness.h"
#include "loop/loop-int.h"
#include "timer/timer-int.h"

#define MS 1000000LL

struct rec {
    struct loom_loop *l;
    struct loom_timer *t;
    enum loom_clock clock;
    int count;
    int64_t deadline; /* when set, the callback checks it is not early */
    bool early;       /* a callback ran before its deadline */
    int id;
    int *log; /* append id here when run */
    int *nlog;
    int rearm; /* re-arm this many more times (periodic) */
    int64_t period;
    struct loom_timer *victim; /* freed or deleted by the callback */
    bool free_victim;
    bool free_self;
    int nested_seen; /* other->count observed inside a nested poll */
    struct rec *other;
};

static void rec_cb(void *opaque)
{
    struct rec *r = opaque;

    r->count++;
    if (r->deadline && loom_clock_ns(r->clock) < r->deadline) {
        r->early = true;
    }
    if (r->log) {
        r->log[(*r->nlog)++] = r->id;
    }
    if (r->victim) {
        if (r->free_victim) {
            loom_timer_free(r->victim);
        } else {
            loom_timer_del(r->victim);
        }
        r->victim = NULL;
    }
    if (r->rearm > 0) {
        r->rearm--;
        r->deadline = loom_clock_ns(r->clock) + r->period;
        loom_timer_mod(r->t, r->deadline);
    }
    if (r->free_self) {
        loom_timer_free(r->t);
        r->t = NULL;
    }
}

static void rec_new(struct loom_loop *l, struct rec *r, enum loom_clock clock)
{
    memset(r, 0, sizeof(*r));
    r->l = l;
    r->clock = clock;
    g_assert_cmpint(loom_timer_new(l, clock, rec_cb, r, &r->t), ==, 0);
    g_assert_nonnull(r->t);
}

/* Arm @r at now + @delta on its clock, remembering the deadline. */
static void rec_arm_in(struct rec *r, int64_t delta)
{
    r->deadline = loom_clock_ns(r->clock) + delta;
    loom_timer_mod(r->t, r->deadline);
}

/* Watchdog: aborts the test if a blocking wait hangs (lost wake-up). */
/* Blocking polls until *@count reaches @n, under a watchdog. */
static void poll_until_count(struct loom_loop *l, const int *count, int n)
{
    struct harness_watchdog w;

    harness_watchdog_start(&w, 10, "the loop wakes for its timers");
    while (*count < n) {
        loom_loop_poll(l, true);
    }
    harness_watchdog_stop(&w);
}

static size_t live(struct loom_loop *l)
{
    return loom__timers_live(loom__loop_timers(l));
}

static int64_t timeout(struct loom_loop *l)
{
    return loom__timers_timeout_ns(loom__loop_timers(l));
}

static void test_fire_once(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r;
    int i;

    rec_new(l, &r, LOOM_CLOCK_HOST);
    g_assert_false(loom_timer_pending(r.t));
    rec_arm_in(&r, 2 * MS);
    g_assert_true(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, r.deadline);
    poll_until_count(l, &r.count, 1);
    g_assert_false(r.early);
    g_assert_false(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, -1);
    for (i = 0; i < 5; i++) {
        loom_loop_poll(l, false);
    }
    g_assert_cmpint(r.count, ==, 1);
    g_assert_cmpint(timeout(l), ==, -1);
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

static void test_periodic(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r;
    int i;

    rec_new(l, &r, LOOM_CLOCK_HOST);
    r.rearm = 4;
    r.period = 1 * MS;
    rec_arm_in(&r, 1 * MS);
    poll_until_count(l, &r.count, 5);
    g_assert_false(r.early);
    g_assert_cmpint(r.rearm, ==, 0);
    g_assert_false(loom_timer_pending(r.t));
    for (i = 0; i < 5; i++) {
        loom_loop_poll(l, false);
    }
    g_assert_cmpint(r.count, ==, 5);
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

static void test_del_before_fire(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b, guard;

    rec_new(l, &a, LOOM_CLOCK_HOST);
    rec_new(l, &b, LOOM_CLOCK_HOST);
    rec_new(l, &guard, LOOM_CLOCK_HOST);
    /* Already due, deleted before the loop looks. */
    loom_timer_mod(a.t, 0);
    loom_timer_del(a.t);
    g_assert_false(loom_timer_pending(a.t));
    /* Due soon, deleted; the guard fires well after its deadline. */
    rec_arm_in(&b, 5 * MS);
    loom_timer_del(b.t);
    loom_timer_del(b.t); /* deleting an idle timer is a no-op */
    rec_arm_in(&guard, 20 * MS);
    poll_until_count(l, &guard.count, 1);
    loom_loop_poll(l, false);
    g_assert_cmpint(a.count, ==, 0);
    g_assert_cmpint(b.count, ==, 0);
    g_assert_cmpint(timeout(l), ==, -1);
    loom_timer_free(a.t);
    loom_timer_free(b.t);
    loom_timer_free(guard.t);
    loom_loop_unref(l);
}

static void test_free_from_cb(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r[3];
    int i;

    for (i = 0; i < 3; i++) {
        rec_new(l, &r[i], LOOM_CLOCK_HOST);
        r[i].free_self = true;
        loom_timer_mod(r[i].t, 0);
    }
    /* One re-arms itself and then frees itself: it must not run again. */
    r[1].rearm = 1;
    r[1].period = 0;
    g_assert_cmpuint(live(l), ==, 3);
    poll_until_count(l, &r[2].count, 1);
    for (i = 0; i < 3; i++) {
        loom_loop_poll(l, false);
        g_assert_cmpint(r[i].count, ==, 1);
        g_assert_null(r[i].t);
    }
    g_assert_cmpuint(live(l), ==, 0);
    g_assert_cmpint(timeout(l), ==, -1);
    loom_loop_unref(l);
}

/* A callback frees one due timer and deletes another: neither runs. */
static void test_free_other_from_cb(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b, c, d;

    rec_new(l, &a, LOOM_CLOCK_HOST);
    rec_new(l, &b, LOOM_CLOCK_HOST);
    rec_new(l, &c, LOOM_CLOCK_HOST);
    rec_new(l, &d, LOOM_CLOCK_HOST);
    a.victim = b.t;
    a.free_victim = true;
    d.victim = c.t;
    loom_timer_mod(d.t, 0);
    loom_timer_mod(a.t, 0);
    loom_timer_mod(b.t, 0);
    loom_timer_mod(c.t, 0);
    loom_loop_poll(l, false);
    loom_loop_poll(l, false);
    g_assert_cmpint(d.count, ==, 1);
    g_assert_cmpint(a.count, ==, 1);
    g_assert_cmpint(b.count, ==, 0);
    g_assert_cmpint(c.count, ==, 0);
    g_assert_false(loom_timer_pending(c.t));
    g_assert_cmpuint(live(l), ==, 3);
    loom_timer_free(a.t);
    loom_timer_free(c.t);
    loom_timer_free(d.t);
    loom_loop_unref(l);
}

static void check_never_early(enum loom_clock clock)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r[6];
    int i, total = 0;

    for (i = 0; i < 6; i++) {
        rec_new(l, &r[i], clock);
        rec_arm_in(&r[i], (6 - i) * MS / 2);
    }
    while (total < 6) {
        struct harness_watchdog w;

        harness_watchdog_start(&w, 10, "the loop wakes for its timers");
        loom_loop_poll(l, true);
        harness_watchdog_stop(&w);
        for (i = 0, total = 0; i < 6; i++) {
            g_assert_false(r[i].early);
            total += r[i].count;
        }
    }
    for (i = 0; i < 6; i++) {
        g_assert_cmpint(r[i].count, ==, 1);
        loom_timer_free(r[i].t);
    }
    loom_loop_unref(l);
}

static void test_never_early_host(void)
{
    check_never_early(LOOM_CLOCK_HOST);
}

static void test_never_early_realtime(void)
{
    check_never_early(LOOM_CLOCK_REALTIME);
}

/* Equal deadlines fire in arming order; re-arming moves to the back. */
static void test_order_equal(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r[5];
    int log[16], nlog = 0;
    int expect[5] = {0, 2, 3, 4, 1};
    int64_t when = loom_clock_ns(LOOM_CLOCK_HOST) + 1 * MS;
    int i;

    for (i = 0; i < 5; i++) {
        rec_new(l, &r[i], LOOM_CLOCK_HOST);
        r[i].id = i;
        r[i].log = log;
        r[i].nlog = &nlog;
        loom_timer_mod(r[i].t, when);
    }
    loom_timer_mod(r[1].t, when);
    poll_until_count(l, &nlog, 5);
    for (i = 0; i < 5; i++) {
        g_assert_cmpint(log[i], ==, expect[i]);
    }
    /* Earlier deadlines first, whatever the arming order. */
    nlog = 0;
    for (i = 0; i < 5; i++) {
        loom_timer_mod(r[i].t, 100 - 10 * i);
    }
    loom_loop_poll(l, false);
    g_assert_cmpint(nlog, ==, 5);
    for (i = 0; i < 5; i++) {
        g_assert_cmpint(log[i], ==, 4 - i);
        loom_timer_free(r[i].t);
    }
    loom_loop_unref(l);
}

static void test_anticipate(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b;
    int log[4], nlog = 0;
    int64_t far = loom_clock_ns(LOOM_CLOCK_HOST) + 3600000 * MS;

    rec_new(l, &a, LOOM_CLOCK_HOST);
    rec_new(l, &b, LOOM_CLOCK_HOST);
    a.id = 0;
    b.id = 1;
    a.log = b.log = log;
    a.nlog = b.nlog = &nlog;

    /* Not pending: arms. */
    loom_timer_mod_anticipate(a.t, far);
    g_assert_cmpint(loom_timer_expire_ns(a.t), ==, far);
    /* Later: ignored.  Earlier: moved. */
    loom_timer_mod_anticipate(a.t, far + 10);
    g_assert_cmpint(loom_timer_expire_ns(a.t), ==, far);
    loom_timer_mod_anticipate(a.t, far - 10);
    g_assert_cmpint(loom_timer_expire_ns(a.t), ==, far - 10);

    /* Equal: keeps its place in front of b. */
    loom_timer_mod(a.t, 5);
    loom_timer_mod(b.t, 5);
    loom_timer_mod_anticipate(a.t, 5);
    loom_loop_poll(l, false);
    g_assert_cmpint(nlog, ==, 2);
    g_assert_cmpint(log[0], ==, 0);
    g_assert_cmpint(log[1], ==, 1);
    /* Whereas loom_timer_mod() with the same deadline moves it back. */
    nlog = 0;
    loom_timer_mod(a.t, 5);
    loom_timer_mod(b.t, 5);
    loom_timer_mod(a.t, 5);
    loom_loop_poll(l, false);
    g_assert_cmpint(nlog, ==, 2);
    g_assert_cmpint(log[0], ==, 1);
    g_assert_cmpint(log[1], ==, 0);

    loom_timer_free(a.t);
    loom_timer_free(b.t);
    loom_loop_unref(l);
}

static void test_expire_pending(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r;

    rec_new(l, &r, LOOM_CLOCK_HOST);
    g_assert_false(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, -1);
    loom_timer_mod(r.t, INT64_MAX);
    g_assert_true(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, INT64_MAX);
    loom_timer_mod(r.t, 12345);
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, 12345);
    loom_timer_del(r.t);
    g_assert_false(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, -1);
    loom_timer_mod(r.t, 0);
    g_assert_true(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, 0);
    loom_loop_poll(l, false);
    g_assert_cmpint(r.count, ==, 1);
    g_assert_false(loom_timer_pending(r.t));
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

/* A negative deadline is clamped to 0: pending, due at once. */
static void test_negative_expire(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r;

    rec_new(l, &r, LOOM_CLOCK_HOST);
    loom_timer_mod(r.t, -5);
    g_assert_true(loom_timer_pending(r.t));
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, 0);
    g_assert_cmpint(timeout(l), ==, 0);
    loom_loop_poll(l, false);
    g_assert_cmpint(r.count, ==, 1);
    loom_timer_mod(r.t, INT64_MIN);
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, 0);
    loom_timer_del(r.t);
    loom_timer_mod_anticipate(r.t, -1);
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, 0);
    loom_timer_mod_ns(r.t, -1000);
    g_assert_true(loom_timer_pending(r.t));
    loom_loop_poll(l, false);
    g_assert_cmpint(r.count, ==, 2);
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

static void self_rearm_past_cb(void *opaque)
{
    struct rec *r = opaque;

    r->count++;
    loom_timer_mod(r->t, 0);
}

/* A timer re-armed into the past from its callback runs once per poll. */
static void test_rearm_past_in_cb(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r;
    int i;

    memset(&r, 0, sizeof(r));
    g_assert_cmpint(
        loom_timer_new(l, LOOM_CLOCK_HOST, self_rearm_past_cb, &r, &r.t), ==,
        0);
    loom_timer_mod(r.t, 0);
    for (i = 1; i <= 3; i++) {
        loom_loop_poll(l, false);
        g_assert_cmpint(r.count, ==, i);
        g_assert_true(loom_timer_pending(r.t));
    }
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

static void nested_cb(void *opaque)
{
    struct rec *r = opaque;

    r->count++;
    if (r->count == 1) {
        /* Re-arm into the past, then poll: others run, not this one. */
        loom_timer_mod(r->t, 0);
        loom_loop_poll(r->l, false);
        r->nested_seen = r->other->count;
        g_assert_cmpint(r->count, ==, 1);
    }
}

static void test_nested_poll(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b;

    memset(&a, 0, sizeof(a));
    a.l = l;
    a.other = &b;
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, nested_cb, &a, &a.t), ==,
                    0);
    rec_new(l, &b, LOOM_CLOCK_HOST);
    loom_timer_mod(a.t, 0);
    loom_timer_mod(b.t, 0);
    loom_loop_poll(l, false);
    g_assert_cmpint(a.count, ==, 1);
    g_assert_cmpint(a.nested_seen, ==, 1);
    g_assert_cmpint(b.count, ==, 1);
    g_assert_true(loom_timer_pending(a.t));
    loom_loop_poll(l, false);
    g_assert_cmpint(a.count, ==, 2);
    g_assert_cmpint(b.count, ==, 1);
    loom_timer_free(a.t);
    loom_timer_free(b.t);
    loom_loop_unref(l);
}

static void nested_blocking_cb(void *opaque)
{
    struct rec *r = opaque;
    struct harness_watchdog w;

    r->count++;
    /* The other due timer is waiting to run: this must not block. */
    harness_watchdog_start(&w, 10, "the loop wakes for its timers");
    loom_loop_poll(r->l, true);
    harness_watchdog_stop(&w);
    r->nested_seen = r->other->count;
}

static void test_nested_blocking_poll(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b;

    memset(&a, 0, sizeof(a));
    a.l = l;
    a.other = &b;
    g_assert_cmpint(
        loom_timer_new(l, LOOM_CLOCK_HOST, nested_blocking_cb, &a, &a.t), ==,
        0);
    rec_new(l, &b, LOOM_CLOCK_HOST);
    loom_timer_mod(a.t, 0);
    loom_timer_mod(b.t, 0);
    loom_loop_poll(l, false);
    g_assert_cmpint(a.count, ==, 1);
    g_assert_cmpint(a.nested_seen, ==, 1);
    g_assert_cmpint(b.count, ==, 1);
    loom_timer_free(a.t);
    loom_timer_free(b.t);
    loom_loop_unref(l);
}

struct arm_later {
    struct loom_timer *t;
    enum loom_clock clock;
    bool step; /* loom_clock_virtual_step() instead of arming */
};

static gpointer arm_later_fn(gpointer opaque)
{
    struct arm_later *a = opaque;

    g_usleep(20000);
    if (a->step) {
        g_assert_cmpint(loom_clock_virtual_step(1 * MS), ==, 0);
    } else {
        loom_timer_mod(a->t, loom_clock_ns(a->clock));
    }
    return NULL;
}

/*
 * A loop blocked in loom_loop_poll(l, true) is woken by a loom_timer_mod()
 * from another thread: with no timer pending (infinite wait), with a
 * far-away timer pending (the new one is earlier), and with a far-away
 * timer pending after a nearer one fired.
 */
static void check_cross_thread_wake(bool far_pending, bool near_fired)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r, far, near;
    struct arm_later a;
    GThread *th;

    rec_new(l, &r, LOOM_CLOCK_HOST);
    rec_new(l, &far, LOOM_CLOCK_HOST);
    rec_new(l, &near, LOOM_CLOCK_HOST);
    if (far_pending) {
        rec_arm_in(&far, 3600000 * MS);
    }
    if (near_fired) {
        rec_arm_in(&near, 1 * MS);
        poll_until_count(l, &near.count, 1);
    }
    /* Let the loop settle so that it is really asleep when armed. */
    while (loom_loop_poll(l, false)) {
    }
    a.t = r.t;
    a.clock = LOOM_CLOCK_HOST;
    a.step = false;
    th = g_thread_new("arm", arm_later_fn, &a);
    poll_until_count(l, &r.count, 1);
    g_thread_join(th);
    g_assert_cmpint(far.count, ==, 0);
    loom_timer_free(r.t);
    loom_timer_free(far.t);
    loom_timer_free(near.t);
    loom_loop_unref(l);
}

static void test_cross_thread_wake_idle(void)
{
    check_cross_thread_wake(false, false);
}

static void test_cross_thread_wake_earlier(void)
{
    check_cross_thread_wake(true, false);
}

static void test_cross_thread_wake_after_fire(void)
{
    check_cross_thread_wake(true, true);
}

static uint64_t notifies(struct loom_loop *l)
{
    struct loom_loop_stats st;

    loom_loop_stats(l, &st);
    return st.notify_sent + st.notify_skipped;
}

/* Arming wakes the loop only when it moves the earliest deadline. */
static void test_notify_only_when_earlier(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b, c;
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);
    uint64_t n;

    rec_new(l, &a, LOOM_CLOCK_HOST);
    rec_new(l, &b, LOOM_CLOCK_HOST);
    rec_new(l, &c, LOOM_CLOCK_HOST);
    n = notifies(l);
    loom_timer_mod(a.t, now + 3600000 * MS);
    g_assert_cmpuint(notifies(l), ==, n + 1);
    loom_timer_mod(b.t, now + 7200000 * MS);
    g_assert_cmpuint(notifies(l), ==, n + 1);
    loom_timer_mod(c.t, now + 1800000 * MS);
    g_assert_cmpuint(notifies(l), ==, n + 2);
    loom_timer_mod(b.t, now + 9000000 * MS);
    loom_timer_mod_anticipate(b.t, now + 8000000 * MS);
    loom_timer_del(c.t);
    g_assert_cmpuint(notifies(l), ==, n + 2);
    loom_loop_poll(l, false);
    n = notifies(l);
    loom_timer_mod(b.t, now + 600000 * MS);
    g_assert_cmpuint(notifies(l), ==, n + 1);
    loom_timer_free(a.t);
    loom_timer_free(b.t);
    loom_timer_free(c.t);
    loom_loop_unref(l);
}

/* The loop's timeout: -1 idle, 0 due, else never short of the deadline. */
static void test_timeout(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b;
    int64_t before, d;

    rec_new(l, &a, LOOM_CLOCK_HOST);
    rec_new(l, &b, LOOM_CLOCK_REALTIME);
    g_assert_cmpint(timeout(l), ==, -1);
    before = loom_clock_ns(LOOM_CLOCK_HOST);
    loom_timer_mod(a.t, before + 1000 * MS);
    d = timeout(l);
    g_assert_cmpint(d, >, 0);
    g_assert_cmpint(d, <=, 1000 * MS);
    /* The deadline is not reached before now + d. */
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_HOST) + d, >=, before + 1000 * MS);
    rec_arm_in(&b, 100 * MS);
    d = timeout(l);
    g_assert_cmpint(d, >=, 0);
    g_assert_cmpint(d, <=, 100 * MS);
    loom_timer_mod(a.t, 0);
    g_assert_cmpint(timeout(l), ==, 0);
    loom_timer_del(a.t);
    loom_timer_del(b.t);
    g_assert_cmpint(timeout(l), ==, -1);
    loom_timer_free(a.t);
    loom_timer_free(b.t);
    loom_loop_unref(l);
}

static void test_virtual_deterministic(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r, due;
    int64_t v;
    int i;

    loom_clock_virtual_set_deterministic(true);
    rec_new(l, &r, LOOM_CLOCK_VIRTUAL);
    rec_new(l, &due, LOOM_CLOCK_VIRTUAL);
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    r.deadline = v + 1000;
    loom_timer_mod(r.t, r.deadline);
    /* Not due on a clock that does not move by itself: no timeout. */
    g_assert_cmpint(timeout(l), ==, -1);
    for (i = 0; i < 3; i++) {
        loom_loop_poll(l, false);
    }
    g_assert_cmpint(r.count, ==, 0);
    g_assert_cmpint(loom_clock_virtual_step(999), ==, 0);
    g_assert_cmpint(timeout(l), ==, -1);
    loom_loop_poll(l, false);
    g_assert_cmpint(r.count, ==, 0);
    g_assert_cmpint(loom_clock_virtual_step(1), ==, 0);
    g_assert_cmpint(timeout(l), ==, 0);
    loom_loop_poll(l, false);
    g_assert_cmpint(r.count, ==, 1);
    g_assert_false(r.early);
    /* Already due when armed: fires at the next poll. */
    loom_timer_mod(due.t, loom_clock_ns(LOOM_CLOCK_VIRTUAL));
    g_assert_cmpint(timeout(l), ==, 0);
    loom_loop_poll(l, false);
    g_assert_cmpint(due.count, ==, 1);
    loom_clock_virtual_set_deterministic(false);
    loom_timer_free(r.t);
    loom_timer_free(due.t);
    loom_loop_unref(l);
}

/* A loop blocked with only a (not yet due) deterministic timer: a step
 * from another thread wakes it. */
static void test_virtual_step_wakes(void)
{
    struct loom_loop *l = harness_loop_new();
    struct arm_later a = {.step = true};
    struct rec r;
    GThread *th;

    loom_clock_virtual_set_deterministic(true);
    rec_new(l, &r, LOOM_CLOCK_VIRTUAL);
    rec_arm_in(&r, 1 * MS);
    while (loom_loop_poll(l, false)) {
    }
    th = g_thread_new("step", arm_later_fn, &a);
    poll_until_count(l, &r.count, 1);
    g_thread_join(th);
    g_assert_false(r.early);
    loom_clock_virtual_set_deterministic(false);
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

/* A stopped VIRTUAL clock holds timers; starting it lets them fire. */
static void test_virtual_stopped(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r, now_due;
    int64_t v;
    int i;

    loom_clock_virtual_stop();
    rec_new(l, &r, LOOM_CLOCK_VIRTUAL);
    rec_new(l, &now_due, LOOM_CLOCK_VIRTUAL);
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    r.deadline = v + 2 * MS;
    loom_timer_mod(r.t, r.deadline);
    g_assert_cmpint(timeout(l), ==, -1);
    g_usleep(10000);
    for (i = 0; i < 3; i++) {
        loom_loop_poll(l, false);
    }
    g_assert_cmpint(r.count, ==, 0);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v);
    /* Due at the frozen value: fires even while stopped. */
    loom_timer_mod(now_due.t, v);
    loom_loop_poll(l, false);
    g_assert_cmpint(now_due.count, ==, 1);

    /* Advancing again: a finite timeout, no longer than the deadline. */
    loom_clock_virtual_start();
    g_assert_cmpint(timeout(l), >=, 0);
    g_assert_cmpint(timeout(l), <=, 2 * MS);
    poll_until_count(l, &r.count, 1);
    g_assert_false(r.early);
    loom_timer_free(r.t);
    loom_timer_free(now_due.t);
    loom_loop_unref(l);
}

static void test_mod_ns(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec r;
    int64_t before, after;

    rec_new(l, &r, LOOM_CLOCK_HOST);
    before = loom_clock_ns(LOOM_CLOCK_HOST);
    loom_timer_mod_ns(r.t, 50 * MS);
    after = loom_clock_ns(LOOM_CLOCK_HOST);
    g_assert_cmpint(loom_timer_expire_ns(r.t), >=, before + 50 * MS);
    g_assert_cmpint(loom_timer_expire_ns(r.t), <=, after + 50 * MS);
    loom_timer_mod_ns(r.t, INT64_MAX);
    g_assert_cmpint(loom_timer_expire_ns(r.t), ==, INT64_MAX);
    loom_timer_mod_ns(r.t, 1 * MS);
    poll_until_count(l, &r.count, 1);
    loom_timer_free(r.t);
    loom_loop_unref(l);
}

static void test_live_count(void)
{
    struct loom_loop *l = harness_loop_new();
    struct rec a, b, c;

    g_assert_cmpuint(live(l), ==, 0);
    rec_new(l, &a, LOOM_CLOCK_HOST);
    rec_new(l, &b, LOOM_CLOCK_VIRTUAL);
    rec_new(l, &c, LOOM_CLOCK_REALTIME);
    g_assert_cmpuint(live(l), ==, 3);
    loom_timer_mod(a.t, INT64_MAX);
    loom_timer_free(a.t);
    g_assert_cmpuint(live(l), ==, 2);
    loom_timer_free(b.t);
    loom_timer_free(c.t);
    g_assert_cmpuint(live(l), ==, 0);
    loom_loop_unref(l);
}

/*
 * Timers carved from shared chunks and reused after loom_timer_free():
 * many timers (several chunks), half freed in a scattered order and
 * created again, are all distinct, keep their own callback argument and
 * deadline, and each fires exactly once, in deadline order.
 */
static void test_many_reused(void)
{
    enum { N = 3000 };
    struct loom_loop *l = harness_loop_new();
    struct rec *r = g_new0(struct rec, N);
    GHashTable *seen = g_hash_table_new(NULL, NULL);
    int64_t base = loom_clock_ns(LOOM_CLOCK_HOST) - 1;
    int *log = g_new0(int, N);
    int nlog = 0, i, round;

    for (i = 0; i < N; i++) {
        rec_new(l, &r[i], LOOM_CLOCK_HOST);
    }
    for (round = 0; round < 3; round++) {
        for (i = round % 2; i < N; i += 2 + round) {
            loom_timer_free(r[i].t);
            rec_new(l, &r[i], LOOM_CLOCK_HOST);
        }
    }
    g_assert_cmpuint(live(l), ==, N);
    for (i = 0; i < N; i++) {
        g_assert_false(g_hash_table_contains(seen, r[i].t));
        g_hash_table_add(seen, r[i].t);
        g_assert_false(loom_timer_pending(r[i].t));
        r[i].id = i;
        r[i].log = log;
        r[i].nlog = &nlog;
    }
    /* Deadlines in the past, in reverse index order: all due at once. */
    for (i = 0; i < N; i++) {
        loom_timer_mod(r[i].t, base - i);
    }
    for (i = 0; i < N; i++) {
        g_assert_cmpint(loom_timer_expire_ns(r[i].t), ==, base - i);
    }
    poll_until_count(l, &nlog, N);
    for (i = 0; i < N; i++) {
        g_assert_cmpint(r[i].count, ==, 1);
        g_assert_cmpint(log[i], ==, N - 1 - i);
        loom_timer_free(r[i].t);
    }
    g_assert_cmpuint(live(l), ==, 0);
    g_hash_table_destroy(seen);
    g_free(log);
    g_free(r);
    loom_loop_unref(l);
}

static void dummy_cb(void *opaque)
{
}

/* Dropping a loop that still has a timer (even idle) is a panic. */
static void test_leak_panics(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_timer *t;

        g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, dummy_cb, NULL, &t),
                        ==, 0);
        loom_loop_unref(l);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*1 timer*");
}

/* A timer that records the timer slack of the thread running it. */
struct slack_rec {
    int fired;
    long slack;
};

static void slack_cb(void *opaque)
{
    struct slack_rec *r = opaque;

    r->slack = (long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    r->fired++;
}

/* Arm @t 1 ms out and poll @l until it fired; the callback's slack. */
static long slack_of_one_timer(struct loom_loop *l, struct loom_timer *t,
                               struct slack_rec *r)
{
    int before = r->fired;

    loom_timer_mod_ns(t, MS);
    POLL_UNTIL(l, r->fired > before);
    return r->slack;
}

static void *precise_thread(void *arg)
{
    const long dflt = 50000; /* the kernel's default, set explicitly */
    struct slack_rec r = {0};
    struct loom_loop *l = harness_loop_new();
    struct loom_timer *t = NULL;

    (void)arg;
    g_assert_cmpint(prctl(PR_SET_TIMERSLACK, dflt, 0, 0, 0), ==, 0);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, slack_cb, &r, &t), ==,
                    0);
    /* Off by default: a loop on the program's thread leaves it alone. */
    g_assert_cmpint(slack_of_one_timer(l, t, &r), ==, dflt);
    g_assert_cmpint(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), ==, dflt);

    /* On: the thread sleeping for and running the timer gets 1 ns. */
    g_assert_cmpint(loom_loop_set_precise_timers(l, true), ==, 0);
    g_assert_cmpint(slack_of_one_timer(l, t, &r), ==, 1);
    g_assert_cmpint(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), ==, 1);

    /* Off again: the thread's slack is the program's to restore. */
    g_assert_cmpint(loom_loop_set_precise_timers(l, false), ==, 0);
    g_assert_cmpint(prctl(PR_SET_TIMERSLACK, dflt, 0, 0, 0), ==, 0);
    g_assert_cmpint(slack_of_one_timer(l, t, &r), ==, dflt);

    /* And on again: lowered anew. */
    g_assert_cmpint(loom_loop_set_precise_timers(l, true), ==, 0);
    g_assert_cmpint(slack_of_one_timer(l, t, &r), ==, 1);
    g_assert_cmpint(r.fired, ==, 4);

    loom_timer_free(t);
    loom_loop_unref(l);
    return NULL;
}

/*
 * loom_loop_set_precise_timers(): honoured by the thread that polls the
 * loop (a thread of its own, whose slack this test may change).
 */
static void test_precise_slack(void)
{
    pthread_t th;

    g_assert_cmpint(loom_loop_set_precise_timers(NULL, true), ==, -EINVAL);
    g_assert_cmpint(pthread_create(&th, NULL, precise_thread, NULL), ==, 0);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
}

static void test_bad_input(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_timer *t = (struct loom_timer *)&t; /* sentinel */
    struct loom_timer *sentinel = t;

    g_assert_cmpint(loom_timer_new(NULL, LOOM_CLOCK_HOST, dummy_cb, NULL, &t),
                    ==, -EINVAL);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, NULL, NULL, &t), ==,
                    -EINVAL);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, dummy_cb, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(loom_timer_new(l, (enum loom_clock)3, dummy_cb, NULL, &t),
                    ==, -EINVAL);
    g_assert_cmpint(
        loom_timer_new(l, (enum loom_clock) - 1, dummy_cb, NULL, &t), ==,
        -EINVAL);
    g_assert_true(t == sentinel);
    g_assert_cmpuint(live(l), ==, 0);

    loom_timer_mod(NULL, 0);
    loom_timer_mod_ns(NULL, 0);
    loom_timer_mod_anticipate(NULL, 0);
    loom_timer_del(NULL);
    loom_timer_free(NULL);
    g_assert_false(loom_timer_pending(NULL));
    g_assert_cmpint(loom_timer_expire_ns(NULL), ==, -1);
    loom_loop_unref(l);
}

/* ------------------------------------------------------------------ */
/* The home thread's lock-free path and its end.                      */

struct other_arm {
    struct loom_timer *t;
    int64_t expire;
};

static void *arm_from_other(void *arg)
{
    struct other_arm *a = arg;

    loom_timer_mod(a->t, a->expire);
    return NULL;
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/*
 * While only the home thread uses a loop's timers it takes no lock; the
 * first other thread ends that for good, and everything keeps working.
 */
static void test_home_fast_path_ends(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom__timers *ts = loom__loop_timers(l);
    struct loom_timer *t[3];
    struct other_arm a;
    int fired[3] = {0};
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);
    pthread_t th;
    int i;

    for (i = 0; i < 3; i++) {
        g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb,
                                       &fired[i], &t[i]), ==, 0);
    }
    loom_timer_mod(t[0], now);
    poll_until_count(l, &fired[0], 1);
    if (!loom__timers_private(ts)) {
        /* No membarrier(2) here (or ThreadSanitizer): always locked. */
        g_test_message("timers start shared on this system");
    }
    /* Another thread arms one: the timers are shared from now on. */
    a.t = t[1];
    a.expire = now;
    g_assert_cmpint(pthread_create(&th, NULL, arm_from_other, &a), ==, 0);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_false(loom__timers_private(ts));
    loom_timer_mod(t[2], now);
    poll_until_count(l, &fired[1], 1);
    poll_until_count(l, &fired[2], 1);
    g_assert_cmpint(fired[0], ==, 1);
    for (i = 0; i < 3; i++) {
        loom_timer_free(t[i]);
    }
    loom_loop_unref(l);
}

static void *claim_and_fire(void *arg)
{
    struct loom_loop *l = arg;
    struct loom__timers *ts = loom__loop_timers(l);
    int fired = 0;
    struct loom_timer *t;

    /* The first poll makes this thread home. */
    loom_loop_poll(l, false);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb, &fired, &t),
                    ==, 0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST));
    poll_until_count(l, &fired, 1);
    loom_timer_free(t);
    return (void *)(uintptr_t)loom__timers_private(ts);
}

/*
 * A loop created in one thread and run by another (an IOThread's): the
 * new home thread gets the lock-free path, as long as the creator did not
 * touch the timers meanwhile.
 */
static void test_home_moves(void)
{
    struct loom_loop *l = harness_loop_new();
    bool private_at_start = loom__timers_private(loom__loop_timers(l));
    void *private_in_thread = NULL;
    pthread_t th;

    g_assert_cmpint(pthread_create(&th, NULL, claim_and_fire, l), ==, 0);
    g_assert_cmpint(pthread_join(th, &private_in_thread), ==, 0);
    g_assert_cmpint((uintptr_t)private_in_thread, ==, private_at_start);
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/timer/fire-once", test_fire_once);
    g_test_add_func("/timer/periodic", test_periodic);
    g_test_add_func("/timer/del-before-fire", test_del_before_fire);
    g_test_add_func("/timer/free-from-cb", test_free_from_cb);
    g_test_add_func("/timer/free-other-from-cb", test_free_other_from_cb);
    g_test_add_func("/timer/never-early/host", test_never_early_host);
    g_test_add_func("/timer/never-early/realtime", test_never_early_realtime);
    g_test_add_func("/timer/order-equal", test_order_equal);
    g_test_add_func("/timer/anticipate", test_anticipate);
    g_test_add_func("/timer/expire-pending", test_expire_pending);
    g_test_add_func("/timer/negative-expire", test_negative_expire);
    g_test_add_func("/timer/rearm-past-in-cb", test_rearm_past_in_cb);
    g_test_add_func("/timer/nested-poll", test_nested_poll);
    g_test_add_func("/timer/nested-blocking-poll", test_nested_blocking_poll);
    g_test_add_func("/timer/cross-thread-wake/idle",
                    test_cross_thread_wake_idle);
    g_test_add_func("/timer/cross-thread-wake/earlier",
                    test_cross_thread_wake_earlier);
    g_test_add_func("/timer/cross-thread-wake/after-fire",
                    test_cross_thread_wake_after_fire);
    g_test_add_func("/timer/notify-only-when-earlier",
                    test_notify_only_when_earlier);
    g_test_add_func("/timer/timeout", test_timeout);
    g_test_add_func("/timer/virtual/deterministic", test_virtual_deterministic);
    g_test_add_func("/timer/virtual/step-wakes", test_virtual_step_wakes);
    g_test_add_func("/timer/virtual/stopped", test_virtual_stopped);
    g_test_add_func("/timer/many-reused", test_many_reused);
    g_test_add_func("/timer/mod-ns", test_mod_ns);
    g_test_add_func("/timer/live-count", test_live_count);
    g_test_add_func("/timer/home-fast-path-ends", test_home_fast_path_ends);
    g_test_add_func("/timer/home-moves", test_home_moves);
    g_test_add_func("/timer/precise-slack", test_precise_slack);
    g_test_add_func("/timer/bad-input", test_bad_input);
    g_test_add_func("/timer/leak-panics", test_leak_panics);
    return g_test_run();
}
