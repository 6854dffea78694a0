/* SPDX-License-Identifier: MIT */
/*
 * Bottom halves (QEMU test-aio semantics): schedule, coalescing, one run
 * per iteration, cancel, free (also from the callback), idle and one-shot
 * BHs, nested polls, cross-thread scheduling, bad input and leak panics.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/timer.h>

struct counter {
    struct loom_loop *l;
    struct loom_bh *bh;
    int n;
    int max;      /* reschedule until n reaches max */
    bool free_it; /* free the BH from its callback */
};

static void count_cb(void *opaque)
{
    struct counter *c = opaque;

    c->n++;
    if (c->n < c->max) {
        loom_bh_schedule(c->bh);
    }
    if (c->free_it) {
        loom_bh_free(c->bh);
        c->bh = NULL;
    }
}

static void test_schedule(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c = {.l = l};

    g_assert_cmpint(loom_bh_new(l, count_cb, &c, "c", &c.bh), ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 0);
    loom_bh_schedule(c.bh);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 1);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 1);
    /* Twice before it runs: runs once. */
    loom_bh_schedule(c.bh);
    loom_bh_schedule(c.bh);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(c.n, ==, 2);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 2);
    loom_bh_free(c.bh);
    loom_loop_unref(l);
}

/*
 * One thread schedules on two loops in turn, and on a loop freed and
 * replaced in between: each BH lands on its own loop (the scheduling
 * path guesses the loop from the previous call, bh.c).
 */
static void test_schedule_loops(void)
{
    struct loom_loop *l[2] = {harness_loop_new(), harness_loop_new()};
    struct counter c[2] = {{.l = l[0]}, {.l = l[1]}};
    int i, k;

    for (k = 0; k < 2; k++) {
        g_assert_cmpint(loom_bh_new(l[k], count_cb, &c[k], "c", &c[k].bh), ==,
                        0);
    }
    for (i = 1; i <= 4; i++) {
        k = i & 1;
        loom_bh_schedule(c[k].bh);
        g_assert_false(loom_loop_poll(l[!k], false));
        g_assert_true(loom_loop_poll(l[k], false));
        g_assert_cmpint(c[k].n, ==, (i + 1) / 2);
        g_assert_cmpint(c[!k].n, ==, i / 2);
    }
    /* The last loop scheduled on goes away; a new one takes its place. */
    loom_bh_free(c[0].bh);
    loom_loop_unref(l[0]);
    l[0] = harness_loop_new();
    c[0] = (struct counter){.l = l[0]};
    g_assert_cmpint(loom_bh_new(l[0], count_cb, &c[0], "c", &c[0].bh), ==, 0);
    loom_bh_schedule(c[0].bh);
    loom_bh_schedule(c[1].bh);
    g_assert_true(loom_loop_poll(l[0], false));
    g_assert_true(loom_loop_poll(l[1], false));
    g_assert_cmpint(c[0].n, ==, 1);
    g_assert_cmpint(c[1].n, ==, 3);
    for (k = 0; k < 2; k++) {
        loom_bh_free(c[k].bh);
        loom_loop_unref(l[k]);
    }
}

static void test_self_reschedule(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c = {.l = l, .max = 10};
    int i;

    g_assert_cmpint(loom_bh_new(l, count_cb, &c, NULL, &c.bh), ==, 0);
    loom_bh_schedule(c.bh);
    for (i = 1; i <= 10; i++) {
        g_assert_true(loom_loop_poll(l, false));
        g_assert_cmpint(c.n, ==, i);
    }
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 10);
    loom_bh_free(c.bh);
    loom_loop_unref(l);
}

static void test_cancel(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c = {.l = l};

    g_assert_cmpint(loom_bh_new(l, count_cb, &c, NULL, &c.bh), ==, 0);
    loom_bh_schedule(c.bh);
    loom_bh_cancel(c.bh);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 0);
    /* Cancelled while queued, then scheduled again: runs once. */
    loom_bh_schedule(c.bh);
    loom_bh_cancel(c.bh);
    loom_bh_schedule(c.bh);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 1);
    loom_bh_cancel(c.bh); /* not scheduled: no effect */
    g_assert_false(loom_loop_poll(l, false));
    loom_bh_free(c.bh);
    loom_loop_unref(l);
}

static void test_free_scheduled(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c = {.l = l};

    g_assert_cmpint(loom_bh_new(l, count_cb, &c, NULL, &c.bh), ==, 0);
    loom_bh_schedule(c.bh);
    loom_bh_free(c.bh);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 0);
    /* Freed and never polled again: the loop reclaims it at unref. */
    g_assert_cmpint(loom_bh_new(l, count_cb, &c, NULL, &c.bh), ==, 0);
    loom_bh_schedule(c.bh);
    loom_bh_free(c.bh);
    loom_loop_unref(l);
    g_assert_cmpint(c.n, ==, 0);
}

static void test_free_from_cb(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c[8];
    int i;

    for (i = 0; i < 8; i++) {
        c[i] = (struct counter){.l = l, .max = 3, .free_it = (i != 0)};
        g_assert_cmpint(loom_bh_new(l, count_cb, &c[i], NULL, &c[i].bh), ==, 0);
        loom_bh_schedule(c[i].bh);
    }
    /* c[1..7] reschedule, then free themselves: the rescheduled run is
     * dropped.  c[0] runs three times. */
    g_assert_true(loom_loop_poll(l, false));
    for (i = 1; i < 8; i++) {
        g_assert_cmpint(c[i].n, ==, 1);
        g_assert_null(c[i].bh);
    }
    while (loom_loop_poll(l, false)) {
    }
    g_assert_cmpint(c[0].n, ==, 3);
    for (i = 1; i < 8; i++) {
        g_assert_cmpint(c[i].n, ==, 1);
    }
    loom_bh_free(c[0].bh);
    loom_loop_unref(l);
}

static void test_flush(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c[4];
    int i, total;

    for (i = 0; i < 4; i++) {
        c[i] = (struct counter){.l = l, .max = 5};
        g_assert_cmpint(loom_bh_new(l, count_cb, &c[i], NULL, &c[i].bh), ==, 0);
        loom_bh_schedule(c[i].bh);
    }
    do {
        total = 0;
        for (i = 0; i < 4; i++) {
            total += c[i].n;
        }
    } while (total < 20 && loom_loop_poll(l, true));
    g_assert_cmpint(total, ==, 20);
    g_assert_false(loom_loop_poll(l, false));
    for (i = 0; i < 4; i++) {
        loom_bh_free(c[i].bh);
    }
    loom_loop_unref(l);
}

static int g_order[8], g_norder;

static void order_cb(void *opaque)
{
    g_order[g_norder++] = (int)(intptr_t)opaque;
}

static void test_fifo_order(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_bh *bh[5];
    int i;

    g_norder = 0;
    for (i = 0; i < 5; i++) {
        g_assert_cmpint(
            loom_bh_new(l, order_cb, (void *)(intptr_t)i, NULL, &bh[i]), ==, 0);
    }
    for (i = 4; i >= 0; i--) {
        loom_bh_schedule(bh[i]);
    }
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(g_norder, ==, 5);
    for (i = 0; i < 5; i++) {
        g_assert_cmpint(g_order[i], ==, 4 - i);
        loom_bh_free(bh[i]);
    }
    loom_loop_unref(l);
}

static void test_idle(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c = {.l = l};
    struct loom_loop_stats st;
    int64_t t0;

    g_assert_cmpint(loom_bh_new(l, count_cb, &c, NULL, &c.bh), ==, 0);
    loom_bh_schedule_idle(c.bh);
    loom_bh_schedule_idle(c.bh);
    /* Blocking: sleeps at most 10 ms, then runs it; not progress. */
    t0 = harness_now_ns();
    g_assert_false(loom_loop_poll(l, true));
    g_assert_cmpint(c.n, ==, 1);
    g_assert_cmpint(harness_now_ns() - t0, <, 5000000000LL);
    /* Idle, then upgraded by a normal schedule: progress, runs once. */
    loom_bh_schedule_idle(c.bh);
    loom_bh_schedule(c.bh);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(c.n, ==, 2);
    /* A normal schedule is not downgraded by schedule_idle. */
    loom_bh_schedule(c.bh);
    loom_bh_schedule_idle(c.bh);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(c.n, ==, 3);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.bh_runs, ==, 3);
    loom_bh_free(c.bh);
    loom_loop_unref(l);
}

/* An idle BH scheduled while the loop sleeps does not wake it. */
static void *idle_while_asleep(void *opaque)
{
    struct counter *c = opaque;
    struct timespec ts = {0, 5 * 1000 * 1000};

    nanosleep(&ts, NULL);
    loom_bh_schedule_idle(c->bh);
    return NULL;
}

static void timer_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_idle_no_wakeup(void)
{
    struct loom_loop *l = harness_loop_new();
    struct counter c = {.l = l};
    struct loom_loop_stats st;
    struct loom_timer *t;
    int64_t t0, deadline;
    int fired = 0;
    pthread_t th;

    g_assert_cmpint(loom_bh_new(l, count_cb, &c, NULL, &c.bh), ==, 0);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, timer_cb, &fired, &t),
                    ==, 0);
    t0 = loom_clock_ns(LOOM_CLOCK_HOST);
    deadline = t0 + 50 * 1000 * 1000;
    loom_timer_mod(t, deadline);
    g_assert_cmpint(pthread_create(&th, NULL, idle_while_asleep, &c), ==, 0);
    while (!fired) {
        loom_loop_poll(l, true);
    }
    pthread_join(th, NULL);
    /* Woken by the timer, not by the BH; the BH ran in that iteration
     * (or, on a badly overloaded machine, is still pending). */
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_HOST), >=, deadline);
    if (c.n == 0) {
        loom_loop_poll(l, false);
    }
    g_assert_cmpint(c.n, ==, 1);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.notify_sent, ==, 0);
    loom_timer_free(t);
    loom_bh_free(c.bh);
    loom_loop_unref(l);
}

static void oneshot_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_oneshot(void)
{
    struct loom_loop *l = harness_loop_new();
    int n = 0;

    g_assert_cmpint(loom_bh_oneshot(l, oneshot_cb, &n), ==, 0);
    g_assert_cmpint(loom_bh_oneshot(l, oneshot_cb, &n), ==, 0);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(n, ==, 2);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(n, ==, 2);
    loom_loop_unref(l);
}

/* Nested polls: a BH that polls runs the rest of its slice there. */
struct nest {
    struct loom_loop *l;
    struct loom_bh *outer, *late;
    struct counter c[3];
    int late_runs;
    bool nested_progress;
};

static void late_cb(void *opaque)
{
    ((struct nest *)opaque)->late_runs++;
}

static void outer_cb(void *opaque)
{
    struct nest *s = opaque;

    /* Scheduled during a callback: runs in the nested poll, not lost. */
    loom_bh_schedule(s->late);
    s->nested_progress = loom_loop_poll(s->l, false);
    g_assert_cmpint(s->late_runs, ==, 1);
    /* Nothing left: the slice was finished by the nested level. */
    g_assert_false(loom_loop_poll(s->l, false));
}

static void test_nested(void)
{
    struct nest s = {.l = harness_loop_new()};
    int i;

    g_assert_cmpint(loom_bh_new(s.l, outer_cb, &s, NULL, &s.outer), ==, 0);
    g_assert_cmpint(loom_bh_new(s.l, late_cb, &s, NULL, &s.late), ==, 0);
    loom_bh_schedule(s.outer);
    for (i = 0; i < 3; i++) {
        s.c[i] = (struct counter){.l = s.l};
        g_assert_cmpint(loom_bh_new(s.l, count_cb, &s.c[i], NULL, &s.c[i].bh),
                        ==, 0);
        loom_bh_schedule(s.c[i].bh);
    }
    g_assert_true(loom_loop_poll(s.l, false));
    g_assert_true(s.nested_progress);
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(s.c[i].n, ==, 1);
        loom_bh_free(s.c[i].bh);
    }
    g_assert_cmpint(s.late_runs, ==, 1);
    g_assert_false(loom_loop_poll(s.l, false));
    loom_bh_free(s.outer);
    loom_bh_free(s.late);
    loom_loop_unref(s.l);
}

/*
 * Nested polls over one-shots: the nested level runs the rest of the
 * outer level's slice and recycles those blocks (their ->next then links
 * the recycler's lists), so the outer level must not walk on from the
 * link it read before the callback.  Each one-shot runs exactly once.
 */
struct nest1 {
    struct loom_loop *l;
    int n[4];
};

static void nest1_count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void nest1_outer_cb(void *opaque)
{
    struct nest1 *s = opaque;

    s->n[0]++;
    /* The rest of this slice, and a one-shot posted now, run here. */
    g_assert_cmpint(loom_bh_oneshot(s->l, nest1_count_cb, &s->n[3]), ==, 0);
    g_assert_true(loom_loop_poll(s->l, false));
    g_assert_cmpint(s->n[1], ==, 8);
    g_assert_cmpint(s->n[2], ==, 1);
    g_assert_cmpint(s->n[3], ==, 1);
}

static void test_nested_oneshots(void)
{
    struct nest1 s = {.l = harness_loop_new()};
    int round, i;

    for (round = 0; round < 3; round++) {
        memset(s.n, 0, sizeof(s.n));
        /* Something before the polling one, so that it is mid-slice. */
        g_assert_cmpint(loom_bh_oneshot(s.l, nest1_count_cb, &s.n[2]), ==, 0);
        g_assert_cmpint(loom_bh_oneshot(s.l, nest1_outer_cb, &s), ==, 0);
        for (i = 0; i < 8; i++) {
            g_assert_cmpint(loom_bh_oneshot(s.l, nest1_count_cb, &s.n[1]), ==,
                            0);
        }
        g_assert_true(loom_loop_poll(s.l, false));
        g_assert_cmpint(s.n[0], ==, 1);
        g_assert_cmpint(s.n[1], ==, 8);
        g_assert_cmpint(s.n[2], ==, 1);
        g_assert_cmpint(s.n[3], ==, 1);
        g_assert_false(loom_loop_poll(s.l, false));
    }
    loom_loop_unref(s.l);
}

/*
 * A callback sees itself counted in bh_runs: whoever sees a callback's
 * effects (another thread waiting for it, say) sees the run counted.
 */
struct seen {
    struct loom_loop *l;
    uint64_t runs[4];
    int n;
};

static void seen_cb(void *opaque)
{
    struct seen *s = opaque;
    struct loom_loop_stats st;

    loom_loop_stats(s->l, &st);
    s->runs[s->n++] = st.bh_runs;
}

static void test_stats_in_callback(void)
{
    struct seen s = {.l = harness_loop_new()};
    struct loom_bh *bh;
    int i;

    g_assert_cmpint(loom_bh_new(s.l, seen_cb, &s, "seen", &bh), ==, 0);
    /* Alone (the single-BH hand-off), then in a slice of three. */
    loom_bh_schedule(bh);
    g_assert_true(loom_loop_poll(s.l, false));
    g_assert_cmpint(loom_bh_oneshot(s.l, seen_cb, &s), ==, 0);
    loom_bh_schedule(bh);
    g_assert_cmpint(loom_bh_oneshot(s.l, seen_cb, &s), ==, 0);
    g_assert_true(loom_loop_poll(s.l, false));
    g_assert_cmpint(s.n, ==, 4);
    for (i = 0; i < 4; i++) {
        g_assert_cmpuint(s.runs[i], ==, (uint64_t)i + 1);
    }
    loom_bh_free(bh);
    loom_loop_unref(s.l);
}

/* Cross-thread: a BH scheduled while the loop sleeps wakes it. */
struct xthread {
    struct loom_loop *l;
    struct loom_bh *bh;
    int done; /* atomic */
    int runs;
    bool oneshot;
};

static void xthread_cb(void *opaque)
{
    struct xthread *x = opaque;

    x->runs++;
}

static void *xthread_fn(void *opaque)
{
    struct xthread *x = opaque;
    struct timespec ts = {0, 20 * 1000 * 1000};

    /* Give the loop time to block: the wake-up is what is tested. */
    nanosleep(&ts, NULL);
    if (x->oneshot) {
        g_assert_cmpint(loom_bh_oneshot(x->l, xthread_cb, x), ==, 0);
    } else {
        loom_bh_schedule(x->bh);
    }
    return NULL;
}

static void xthread_run(bool oneshot)
{
    struct xthread x = {.l = harness_loop_new(), .oneshot = oneshot};
    struct loom_loop_stats st;
    pthread_t th;

    if (!oneshot) {
        g_assert_cmpint(loom_bh_new(x.l, xthread_cb, &x, NULL, &x.bh), ==, 0);
    }
    g_assert_cmpint(pthread_create(&th, NULL, xthread_fn, &x), ==, 0);
    while (x.runs == 0) {
        loom_loop_poll(x.l, true);
    }
    pthread_join(th, NULL);
    g_assert_cmpint(x.runs, ==, 1);
    loom_loop_stats(x.l, &st);
    g_assert_cmpuint(st.bh_runs, ==, 1);
    loom_bh_free(x.bh);
    loom_loop_unref(x.l);
}

static void test_cross_thread(void)
{
    xthread_run(false);
}

static void test_cross_thread_oneshot(void)
{
    xthread_run(true);
}

static void test_bad_input(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_bh *bh = NULL;
    int n = 0;

    g_assert_cmpint(loom_bh_new(NULL, oneshot_cb, &n, NULL, &bh), ==, -EINVAL);
    g_assert_cmpint(loom_bh_new(l, NULL, &n, NULL, &bh), ==, -EINVAL);
    g_assert_cmpint(loom_bh_new(l, oneshot_cb, &n, NULL, NULL), ==, -EINVAL);
    g_assert_null(bh);
    g_assert_cmpint(loom_bh_oneshot(NULL, oneshot_cb, &n), ==, -EINVAL);
    g_assert_cmpint(loom_bh_oneshot(l, NULL, &n), ==, -EINVAL);
    loom_bh_schedule(NULL);
    loom_bh_schedule_idle(NULL);
    loom_bh_cancel(NULL);
    loom_bh_free(NULL);
    g_assert_false(loom_loop_poll(l, false));
    loom_loop_unref(l);
}

static void test_leak_panic(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_bh *bh;

        g_assert_cmpint(loom_bh_new(l, oneshot_cb, NULL, "leaky", &bh), ==, 0);
        g_assert_cmpint(loom_bh_oneshot(l, oneshot_cb, NULL), ==, 0);
        loom_loop_unref(l);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: loom_loop_unref: loop * freed "
                              "with 2 BH(s) not freed*");
}

static void test_double_free_panic(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_bh *bh;

        g_assert_cmpint(loom_bh_new(l, oneshot_cb, NULL, "twice", &bh), ==, 0);
        /* Still queued (not reclaimed): the flags are still readable. */
        loom_bh_free(bh);
        loom_bh_free(bh);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*panic: loom_bh_free: BH * (twice) freed "
                              "twice*");
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/bh/schedule", test_schedule);
    g_test_add_func("/bh/schedule-loops", test_schedule_loops);
    g_test_add_func("/bh/self-reschedule", test_self_reschedule);
    g_test_add_func("/bh/cancel", test_cancel);
    g_test_add_func("/bh/free-scheduled", test_free_scheduled);
    g_test_add_func("/bh/free-from-cb", test_free_from_cb);
    g_test_add_func("/bh/flush", test_flush);
    g_test_add_func("/bh/fifo-order", test_fifo_order);
    g_test_add_func("/bh/idle", test_idle);
    g_test_add_func("/bh/idle-no-wakeup", test_idle_no_wakeup);
    g_test_add_func("/bh/oneshot", test_oneshot);
    g_test_add_func("/bh/nested", test_nested);
    g_test_add_func("/bh/nested-oneshots", test_nested_oneshots);
    g_test_add_func("/bh/stats-in-callback", test_stats_in_callback);
    g_test_add_func("/bh/cross-thread", test_cross_thread);
    g_test_add_func("/bh/cross-thread-oneshot", test_cross_thread_oneshot);
    g_test_add_func("/bh/bad-input", test_bad_input);
    g_test_add_func("/bh/leak-panic", test_leak_panic);
    g_test_add_func("/bh/double-free-panic", test_double_free_panic);
    return g_test_run();
}
