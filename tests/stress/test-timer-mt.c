/* SPDX-License-Identifier: MIT */
/*
 * Cross-thread timer stress (ThreadSanitizer target).  The main thread runs
 * a loop (blocking polls); worker threads create, arm, re-arm, delete and
 * free its timers concurrently:
 *  - exact-once: each timer armed once fires exactly once, never early,
 *    and the loop never sleeps through a deadline armed from another
 *    thread (a watchdog fails the test if progress stalls);
 *  - churn: random mod / mod_anticipate / del / free+new from 4 threads,
 *    then a final arming of every timer must fire;
 *  - virtual: deterministic VIRTUAL timers armed by one thread while
 *    another steps the clock; every timer fires, never early.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/timer.h>

#include "harness.h"
#include "loop/loop-int.h"
#include "timer/timer-int.h"

#define NTHREADS 4

/* Counts are the same under ThreadSanitizer (about 3 s there). */
#define SCALE 1

/* ---- exact-once ---- */

struct once_slot {
    struct loom_timer *t;
    int64_t deadline; /* written before arming, read by the callback */
    enum loom_clock clock;
    int fired;  /* home only */
    bool early; /* home only */
};

struct once_ctx {
    struct loom_loop *l;
    struct harness_watchdog *w;
    struct once_slot *slots; /* NTHREADS * per_thread */
    int per_thread;
    gint total_fired; /* atomic */
};

struct once_arg {
    struct once_ctx *ctx;
    int index;
};

static void once_cb(void *opaque)
{
    struct once_slot *s = opaque;

    s->fired++;
    if (loom_clock_ns(s->clock) < s->deadline) {
        s->early = true;
    }
}

static gpointer once_worker(gpointer opaque)
{
    struct once_arg *a = opaque;
    struct once_ctx *ctx = a->ctx;
    GRand *r = g_rand_new_with_seed((guint32)a->index + 1);
    int i;

    for (i = 0; i < ctx->per_thread; i++) {
        struct once_slot *s = &ctx->slots[a->index * ctx->per_thread + i];

        g_assert_cmpint(loom_timer_new(ctx->l, s->clock, once_cb, s, &s->t), ==,
                        0);
        /* Deadlines from 0 to 300 us ahead: many are earlier than the one
         * the loop is sleeping for, so the wake-up path is exercised. */
        s->deadline = loom_clock_ns(s->clock) + g_rand_int_range(r, 0, 300000);
        loom_timer_mod(s->t, s->deadline);
        if (i % 64 == 63) {
            g_usleep(100);
        }
    }
    g_rand_free(r);
    return NULL;
}

static void test_exact_once(void)
{
    struct loom_loop *l = harness_loop_new();
    struct harness_watchdog w;
    int rounds = 50 / SCALE, per = 2000 / SCALE;
    int round, i, n;

    harness_watchdog_start(&w, 10, "timers firing");
    for (round = 0; round < rounds; round++) {
        struct once_ctx ctx = {.l = l, .w = &w, .per_thread = per};
        struct once_arg args[NTHREADS];
        GThread *th[NTHREADS];
        int fired = 0;

        n = NTHREADS * per;
        ctx.slots = g_new0(struct once_slot, n);
        for (i = 0; i < n; i++) {
            ctx.slots[i].clock =
                (i % 3 == 0) ? LOOM_CLOCK_REALTIME : LOOM_CLOCK_HOST;
        }
        for (i = 0; i < NTHREADS; i++) {
            args[i].ctx = &ctx;
            args[i].index = i;
            th[i] = g_thread_new("arm", once_worker, &args[i]);
        }
        /* Wait for every arming, polling all the while. */
        while (fired < n) {
            int before = fired;

            loom_loop_poll(l, true);
            for (i = 0, fired = 0; i < n; i++) {
                fired += ctx.slots[i].fired;
            }
            if (fired != before) {
                harness_watchdog_progress(&w);
            }
        }
        for (i = 0; i < NTHREADS; i++) {
            g_thread_join(th[i]);
        }
        while (loom_loop_poll(l, false)) {
        }
        for (i = 0; i < n; i++) {
            g_assert_cmpint(ctx.slots[i].fired, ==, 1);
            g_assert_false(ctx.slots[i].early);
            g_assert_false(loom_timer_pending(ctx.slots[i].t));
            loom_timer_free(ctx.slots[i].t);
        }
        g_free(ctx.slots);
    }
    harness_watchdog_stop(&w);
    loom_loop_unref(l);
}

/* ---- churn ---- */

#define CHURN_TIMERS 32

struct churn_slot {
    struct loom_timer *t; /* owned by one worker */
    gint final_armed;     /* atomic */
    int fired;            /* home only */
    int final_fired;      /* home only */
};

struct churn_ctx {
    struct loom_loop *l;
    struct churn_slot slots[NTHREADS][CHURN_TIMERS];
    int ops;
    gint workers_done; /* atomic */
    gint arms;         /* atomic: arming calls */
};

struct churn_arg {
    struct churn_ctx *ctx;
    int index;
};

static void churn_cb(void *opaque)
{
    struct churn_slot *s = opaque;

    s->fired++;
    if (g_atomic_int_get(&s->final_armed)) {
        s->final_fired++;
    }
}

static gpointer churn_worker(gpointer opaque)
{
    struct churn_arg *a = opaque;
    struct churn_ctx *ctx = a->ctx;
    struct churn_slot *mine = ctx->slots[a->index];
    GRand *r = g_rand_new_with_seed((guint32)a->index + 100);
    int i, arms = 0;

    for (i = 0; i < ctx->ops; i++) {
        struct churn_slot *s = &mine[g_rand_int_range(r, 0, CHURN_TIMERS)];
        int op = g_rand_int_range(r, 0, 100);
        int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);

        if (op < 45) {
            loom_timer_mod(s->t, now + g_rand_int_range(r, 0, 200000));
            arms++;
        } else if (op < 55) {
            loom_timer_mod(s->t, 0);
            arms++;
        } else if (op < 65) {
            loom_timer_mod_anticipate(s->t,
                                      now + g_rand_int_range(r, 0, 50000));
            arms++;
        } else if (op < 85) {
            loom_timer_del(s->t);
        } else if (op < 95) {
            (void)loom_timer_pending(s->t);
            (void)loom_timer_expire_ns(s->t);
        } else {
            /* Free (maybe while its callback runs) and replace. */
            loom_timer_free(s->t);
            g_assert_cmpint(
                loom_timer_new(ctx->l, LOOM_CLOCK_HOST, churn_cb, s, &s->t), ==,
                0);
        }
    }
    /* Final arming: each of these must fire. */
    for (i = 0; i < CHURN_TIMERS; i++) {
        g_atomic_int_set(&mine[i].final_armed, 1);
        loom_timer_mod(mine[i].t, loom_clock_ns(LOOM_CLOCK_HOST) + 1000 * i);
        arms++;
    }
    g_atomic_int_add(&ctx->arms, arms);
    g_atomic_int_inc(&ctx->workers_done);
    loom_loop_notify(ctx->l);
    g_rand_free(r);
    return NULL;
}

static bool churn_all_fired(struct churn_ctx *ctx)
{
    int i, j;

    for (i = 0; i < NTHREADS; i++) {
        for (j = 0; j < CHURN_TIMERS; j++) {
            if (loom_timer_pending(ctx->slots[i][j].t)) {
                return false;
            }
        }
    }
    return true;
}

static void test_churn(void)
{
    struct churn_ctx *ctx = g_new0(struct churn_ctx, 1);
    struct churn_arg args[NTHREADS];
    GThread *th[NTHREADS];
    struct harness_watchdog w;
    long fired = 0;
    int i, j;

    ctx->l = harness_loop_new();
    ctx->ops = 1000000 / SCALE;
    for (i = 0; i < NTHREADS; i++) {
        for (j = 0; j < CHURN_TIMERS; j++) {
            struct churn_slot *s = &ctx->slots[i][j];

            g_assert_cmpint(
                loom_timer_new(ctx->l, LOOM_CLOCK_HOST, churn_cb, s, &s->t), ==,
                0);
        }
    }
    harness_watchdog_start(&w, 10, "timers firing");
    for (i = 0; i < NTHREADS; i++) {
        args[i].ctx = ctx;
        args[i].index = i;
        th[i] = g_thread_new("churn", churn_worker, &args[i]);
    }
    while (g_atomic_int_get(&ctx->workers_done) < NTHREADS) {
        loom_loop_poll(ctx->l, true);
        harness_watchdog_progress(&w);
    }
    for (i = 0; i < NTHREADS; i++) {
        g_thread_join(th[i]);
    }
    /* Only the loop touches the timers now: wait for the final firings. */
    while (!churn_all_fired(ctx)) {
        loom_loop_poll(ctx->l, true);
        harness_watchdog_progress(&w);
    }
    harness_watchdog_stop(&w);
    for (i = 0; i < NTHREADS; i++) {
        for (j = 0; j < CHURN_TIMERS; j++) {
            struct churn_slot *s = &ctx->slots[i][j];

            g_assert_cmpint(s->final_fired, >=, 1);
            fired += s->fired;
            loom_timer_free(s->t);
        }
    }
    g_test_message("churn: %d armings, %ld firings", ctx->arms, fired);
    g_assert_cmpint(fired, >=, NTHREADS * CHURN_TIMERS);
    g_assert_cmpint(fired, <=, g_atomic_int_get(&ctx->arms));
    loom_loop_unref(ctx->l);
    g_free(ctx);
}

/* ---- virtual clock stepped by another thread ---- */

struct virt_ctx {
    struct loom_loop *l;
    struct once_slot *slots;
    int n;
    gint armed;    /* atomic: slots armed so far */
    gint all_done; /* atomic: the loop saw every timer fire */
};

static gpointer virt_armer(gpointer opaque)
{
    struct virt_ctx *ctx = opaque;
    GRand *r = g_rand_new_with_seed(7);
    int i;

    for (i = 0; i < ctx->n; i++) {
        struct once_slot *s = &ctx->slots[i];

        g_assert_cmpint(
            loom_timer_new(ctx->l, LOOM_CLOCK_VIRTUAL, once_cb, s, &s->t), ==,
            0);
        /* Up to 2 ms (2,000 steps) ahead: the last ones become due
         * long after the armer is done, woken only by the clock's hook. */
        s->deadline =
            loom_clock_ns(LOOM_CLOCK_VIRTUAL) + g_rand_int_range(r, 0, 2000000);
        loom_timer_mod(s->t, s->deadline);
        g_atomic_int_inc(&ctx->armed);
    }
    /* The loop may have run the last timer before seeing armed == n. */
    loom_loop_notify(ctx->l);
    g_rand_free(r);
    return NULL;
}

static gpointer virt_stepper(gpointer opaque)
{
    struct virt_ctx *ctx = opaque;

    while (!g_atomic_int_get(&ctx->all_done)) {
        g_assert_cmpint(loom_clock_virtual_step(1000), ==, 0);
        g_thread_yield();
    }
    return NULL;
}

static void test_virtual_step(void)
{
    struct virt_ctx ctx = {0};
    struct harness_watchdog w;
    GThread *armer, *stepper;
    int i, fired = 0;

    loom_clock_virtual_set_deterministic(true);
    ctx.l = harness_loop_new();
    ctx.n = 100000 / SCALE;
    ctx.slots = g_new0(struct once_slot, ctx.n);
    for (i = 0; i < ctx.n; i++) {
        ctx.slots[i].clock = LOOM_CLOCK_VIRTUAL;
    }
    harness_watchdog_start(&w, 10, "timers firing");
    armer = g_thread_new("armer", virt_armer, &ctx);
    stepper = g_thread_new("stepper", virt_stepper, &ctx);
    while (fired < ctx.n) {
        loom_loop_poll(ctx.l, true);
        if (g_atomic_int_get(&ctx.armed) == ctx.n) {
            for (i = 0, fired = 0; i < ctx.n; i++) {
                fired += ctx.slots[i].fired;
            }
        }
        harness_watchdog_progress(&w);
    }
    g_atomic_int_set(&ctx.all_done, 1);
    g_thread_join(armer);
    g_thread_join(stepper);
    harness_watchdog_stop(&w);
    while (loom_loop_poll(ctx.l, false)) {
    }
    for (i = 0; i < ctx.n; i++) {
        g_assert_cmpint(ctx.slots[i].fired, ==, 1);
        g_assert_false(ctx.slots[i].early);
        loom_timer_free(ctx.slots[i].t);
    }
    g_free(ctx.slots);
    loom_loop_unref(ctx.l);
    loom_clock_virtual_set_deterministic(false);
}

/* ---- the home thread's lock-free path ends under load ---- */

#define HO_OWN 64     /* timers only the home thread arms */
#define HO_OTHER 16   /* timers the other thread arms */
#define HO_LOOPS 60   /* fresh loops: each starts lock-free */
#define HO_CHURN 300  /* re-arm and delete rounds on each side */

struct handover {
    struct loom_timer *own[HO_OWN], *other[HO_OTHER];
    int own_fired;    /* home only */
    gint other_fired; /* atomic */
    gint other_done;  /* atomic: the other thread armed its last round */
    gint go;          /* atomic: the other thread may start */
};

static void ho_own_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void ho_other_cb(void *opaque)
{
    g_atomic_int_inc((gint *)opaque);
}

/* Re-arm far away and delete, @rounds times, then arm all due now. */
static void ho_churn(struct loom_timer **t, int n, int rounds)
{
    int64_t far = loom_clock_ns(LOOM_CLOCK_HOST) + 3600 * (int64_t)1000000000;
    int r, i;

    for (r = 0; r < rounds; r++) {
        for (i = 0; i < n; i++) {
            loom_timer_mod(t[i], far + r * n + i);
        }
        for (i = 0; i < n; i += 2) {
            loom_timer_del(t[i]);
        }
    }
    for (i = 0; i < n; i++) {
        loom_timer_mod(t[i], loom_clock_ns(LOOM_CLOCK_HOST));
    }
}

static gpointer ho_other_fn(gpointer opaque)
{
    struct handover *h = opaque;

    while (!g_atomic_int_get(&h->go)) {
        g_thread_yield();
    }
    ho_churn(h->other, HO_OTHER, HO_CHURN);
    g_atomic_int_set(&h->other_done, 1);
    return NULL;
}

/*
 * A loop's home thread arms its timers without a lock until another
 * thread first touches them; that hand-over happens here while both
 * threads re-arm and delete timers of the same heap, on many fresh loops.
 * A section of the home thread overlapping a locked one of the other
 * thread would corrupt the heap: every timer must then still fire exactly
 * once when finally armed.  (Under ThreadSanitizer the lock-free path is
 * off: this then checks only the locked protocol.)
 */
static void test_handover(void)
{
    struct harness_watchdog w;
    int n, i;

    harness_watchdog_start(&w, 10, "timers firing across the hand-over");
    for (n = 0; n < HO_LOOPS; n++) {
        struct loom_loop *l = harness_loop_new();
        struct handover h = {0};
        GThread *th;

        for (i = 0; i < HO_OWN; i++) {
            g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, ho_own_cb,
                                           &h.own_fired, &h.own[i]), ==, 0);
        }
        for (i = 0; i < HO_OTHER; i++) {
            g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, ho_other_cb,
                                           &h.other_fired, &h.other[i]),
                            ==, 0);
        }
        th = g_thread_new("handover", ho_other_fn, &h);
        /* A few lock-free rounds first, then both sides at once. */
        ho_churn(h.own, HO_OWN, n % 4);
        g_atomic_int_set(&h.go, 1);
        ho_churn(h.own, HO_OWN, HO_CHURN);
        while (h.own_fired < HO_OWN || !g_atomic_int_get(&h.other_done) ||
               g_atomic_int_get(&h.other_fired) < HO_OTHER) {
            loom_loop_poll(l, false);
            g_thread_yield();
        }
        g_thread_join(th);
        harness_watchdog_progress(&w);
        g_assert_cmpint(h.own_fired, ==, HO_OWN);
        g_assert_cmpint(g_atomic_int_get(&h.other_fired), ==, HO_OTHER);
        g_assert_false(loom__timers_private(loom__loop_timers(l)));
        for (i = 0; i < HO_OWN; i++) {
            g_assert_false(loom_timer_pending(h.own[i]));
            loom_timer_free(h.own[i]);
        }
        for (i = 0; i < HO_OTHER; i++) {
            g_assert_false(loom_timer_pending(h.other[i]));
            loom_timer_free(h.other[i]);
        }
        loom_loop_unref(l);
    }
    harness_watchdog_stop(&w);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/timer-mt/exact-once", test_exact_once);
    g_test_add_func("/timer-mt/churn", test_churn);
    g_test_add_func("/timer-mt/virtual-step", test_virtual_step);
    g_test_add_func("/timer-mt/handover", test_handover);
    return g_test_run();
}
