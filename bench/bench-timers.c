/* SPDX-License-Identifier: MIT */
/*
 * Timers, 100,000 of them, in one loop on the main thread.  Everything
 * but the lateness is timed in the thread's CPU time.
 *
 *  timers-arm         ns per arm of an idle timer (deadlines 1-2 s out,
 *                     random order)
 *  timers-arm-fire    CPU time (CLOCK_THREAD_CPUTIME_ID) per timer to arm
 *                     all with deadlines 2-7 ms out and run the loop until
 *                     every one fired (us)
 *  timers-rearm       ns per re-arm of one timer among 100,000 armed ones,
 *                     to random deadlines 1-2 s out
 *  timer-lateness     a 1 ms timer re-armed from its callback: actual -
 *                     deadline, p50 and p99 (us)
 *
 * loom: loom_timer_mod (absolute HOST-clock ns; precise timers for the
 * lateness, see loom_late()); libuv: uv_timer_start
 * (relative ms); libevent: evtimer_add (relative timeval; the precise
 * clock for lateness, see run_libevent()); libev:
 * ev_timer_start, ev_timer_again to re-arm (bench-timers-libev.c); GLib:
 * attached sources armed with g_source_set_ready_time (what
 * g_timeout_source_new does inside, without re-creating the source).
 */
#include "bench-timers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#if BENCH_HAVE_LOOM
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/timer.h>
#endif
#ifdef HAVE_LIBUV
#include <uv.h>
#endif
#ifdef HAVE_LIBEVENT
#include <event2/event.h>
#endif
#ifdef HAVE_GLIB
#include <glib.h>
#endif

int64_t g_far_off[TABLE_SIZE];
int64_t g_near_off[TABLE_SIZE];
long g_ntimers;
long g_nrearm;
long g_nlate;

/* State of one run, shared by every implementation's callbacks. */
struct tctx {
    long fired;
    int64_t deadline; /* T_LATE: the pending deadline (bench_now_ns) */
    struct bench_samples s;
    void *lib;  /* loop / base / context */
    void *late; /* T_LATE: the timer */
};

/* T_LATE callback body: record lateness; true to re-arm. */
static bool late_tick(struct tctx *c)
{
    int64_t now = bench_now_ns();

    bench_samples_add(&c->s, (double)(now - c->deadline) / 1000.0);
    c->deadline = now + LATE_PERIOD_NS;
    return (long)c->s.n < g_nlate;
}

static void late_result(struct tctx *c, double *out)
{
    out[0] = bench_samples_pct(&c->s, 50);
    out[1] = bench_samples_pct(&c->s, 99);
    bench_samples_free(&c->s);
}

#if BENCH_HAVE_LOOM
static void loom_fire_cb(void *opaque)
{
    struct tctx *c = opaque;

    c->fired++;
}

static void loom_late_cb(void *opaque)
{
    struct tctx *c = opaque;

    if (late_tick(c)) {
        /* HOST is CLOCK_MONOTONIC, the clock of bench_now_ns(). */
        loom_timer_mod(c->late, c->deadline);
    }
}

/*
 * Precise timers, loom's documented option for this (what the main loop
 * and IOThreads use by default), as libevent gets its precise clock
 * below: each library's best configuration for lateness.  The option
 * lowers this thread's timer slack, which the peers measured afterwards
 * on the same thread would inherit: restored when done.
 */
static int loom_late(struct loom_loop *l, struct tctx *c, double *out)
{
    int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    struct loom_timer *t;
    int rc;

    rc = loom_timer_new(l, LOOM_CLOCK_HOST, loom_late_cb, c, &t);
    if (rc < 0) {
        return rc;
    }
    (void)loom_loop_set_precise_timers(l, true);
    c->late = t;
    bench_samples_init(&c->s, (size_t)g_nlate);
    c->deadline = bench_now_ns() + LATE_PERIOD_NS;
    loom_timer_mod(t, c->deadline);
    while ((long)c->s.n < g_nlate) {
        loom_loop_poll(l, true);
    }
    loom_timer_free(t);
    if (slack > 0) {
        (void)prctl(PR_SET_TIMERSLACK, (unsigned long)slack, 0, 0, 0);
    }
    late_result(c, out);
    return 0;
}

static void loom_measure(struct loom_timer **t, struct tctx *c,
                         enum tkind k, double *out)
{
    long i, n = g_ntimers;
    int64_t base = loom_clock_ns(LOOM_CLOCK_HOST), t0, t1;

    switch (k) {
    case T_ARM:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            loom_timer_mod(t[i], base + g_far_off[i & TABLE_MASK]);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n;
        break;
    case T_FIRE:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            loom_timer_mod(t[i], base + g_near_off[i & TABLE_MASK]);
        }
        while (c->fired < n) {
            loom_loop_poll(c->lib, true);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n / 1000.0;
        break;
    case T_REARM:
        for (i = 0; i < n; i++) {
            loom_timer_mod(t[i], base + g_far_off[i & TABLE_MASK]);
        }
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < g_nrearm; i++) {
            loom_timer_mod(t[n / 2], base + rearm_off(i));
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)g_nrearm;
        break;
    case T_LATE:
        break;
    }
}

static int run_loom(void *arg, double *out)
{
    enum tkind k = *(enum tkind *)arg;
    struct tctx c = { .fired = 0 };
    struct loom_timer **t;
    struct loom_loop *l;
    long i = 0, n = g_ntimers;
    int rc;

    rc = loom_loop_new(&l);
    if (rc < 0) {
        return rc;
    }
    c.lib = l;
    if (k == T_LATE) {
        rc = loom_late(l, &c, out);
        loom_loop_unref(l);
        return rc;
    }
    t = calloc((size_t)n, sizeof(*t));
    rc = t ? 0 : -ENOMEM;
    for (i = 0; rc == 0 && i < n; i++) {
        rc = loom_timer_new(l, LOOM_CLOCK_HOST, loom_fire_cb, &c, &t[i]);
    }
    if (rc == 0) {
        loom_measure(t, &c, k, out);
    } else {
        i--;
    }
    while (i-- > 0) {
        loom_timer_free(t[i]);
    }
    free(t);
    loom_loop_unref(l);
    return rc;
}
#endif

#ifdef HAVE_LIBUV
static void uv_fire_cb(uv_timer_t *h)
{
    struct tctx *c = h->data;

    c->fired++;
}

static void uv_late_cb(uv_timer_t *h)
{
    struct tctx *c = h->data;

    if (late_tick(c)) {
        uv_timer_start(h, uv_late_cb, LATE_PERIOD_NS / 1000000, 0);
    }
}

static void uv_measure(uv_loop_t *loop, uv_timer_t *t, struct tctx *c,
                       enum tkind k, double *out)
{
    long i, n = g_ntimers;
    int64_t t0, t1;

    uv_update_time(loop);
    switch (k) {
    case T_ARM:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            uv_timer_start(&t[i], uv_fire_cb,
                           (uint64_t)(g_far_off[i & TABLE_MASK] / 1000000),
                           0);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n;
        break;
    case T_FIRE:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            uv_timer_start(&t[i], uv_fire_cb,
                           (uint64_t)(g_near_off[i & TABLE_MASK] / 1000000),
                           0);
        }
        while (c->fired < n) {
            uv_run(loop, UV_RUN_ONCE);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n / 1000.0;
        break;
    case T_REARM:
        for (i = 0; i < n; i++) {
            uv_timer_start(&t[i], uv_fire_cb,
                           (uint64_t)(g_far_off[i & TABLE_MASK] / 1000000),
                           0);
        }
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < g_nrearm; i++) {
            uv_timer_start(&t[n / 2], uv_fire_cb,
                           (uint64_t)(rearm_off(i) / 1000000),
                           0);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)g_nrearm;
        break;
    case T_LATE:
        uv_timer_start(&t[0], uv_late_cb, LATE_PERIOD_NS / 1000000, 0);
        c->deadline = bench_now_ns() + LATE_PERIOD_NS;
        bench_samples_init(&c->s, (size_t)g_nlate);
        uv_run(loop, UV_RUN_DEFAULT);
        late_result(c, out);
        break;
    }
}

static int run_libuv(void *arg, double *out)
{
    enum tkind k = *(enum tkind *)arg;
    struct tctx c = { .fired = 0 };
    long i, n = k == T_LATE ? 1 : g_ntimers;
    uv_timer_t *t = calloc((size_t)n, sizeof(*t));
    uv_loop_t loop;

    if (!t) {
        return -ENOMEM;
    }
    uv_loop_init(&loop);
    for (i = 0; i < n; i++) {
        uv_timer_init(&loop, &t[i]);
        t[i].data = &c;
    }
    uv_measure(&loop, t, &c, k, out);
    for (i = 0; i < n; i++) {
        uv_close((uv_handle_t *)&t[i], NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(t);
    return 0;
}
#endif

#ifdef HAVE_LIBEVENT
static struct timeval ns_to_tv(int64_t ns)
{
    struct timeval tv = {
        .tv_sec = (time_t)(ns / 1000000000),
        .tv_usec = (suseconds_t)(ns % 1000000000 / 1000),
    };

    return tv;
}

static void ev_fire_cb(evutil_socket_t fd, short what, void *opaque)
{
    struct tctx *c = opaque;

    c->fired++;
}

static void ev_late_cb(evutil_socket_t fd, short what, void *opaque)
{
    struct tctx *c = opaque;
    struct timeval tv = ns_to_tv(LATE_PERIOD_NS);

    if (late_tick(c)) {
        evtimer_add(c->late, &tv);
    }
}

static void event_measure(struct event **t, struct tctx *c, enum tkind k,
                          double *out)
{
    long i, n = g_ntimers;
    int64_t t0, t1;
    struct timeval tv;

    switch (k) {
    case T_ARM:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            tv = ns_to_tv(g_far_off[i & TABLE_MASK]);
            evtimer_add(t[i], &tv);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n;
        break;
    case T_FIRE:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            tv = ns_to_tv(g_near_off[i & TABLE_MASK]);
            evtimer_add(t[i], &tv);
        }
        while (c->fired < n) {
            event_base_loop(c->lib, EVLOOP_ONCE);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n / 1000.0;
        break;
    case T_REARM:
        for (i = 0; i < n; i++) {
            tv = ns_to_tv(g_far_off[i & TABLE_MASK]);
            evtimer_add(t[i], &tv);
        }
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < g_nrearm; i++) {
            tv = ns_to_tv(rearm_off(i));
            evtimer_add(t[n / 2], &tv);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)g_nrearm;
        break;
    case T_LATE:
        tv = ns_to_tv(LATE_PERIOD_NS);
        bench_samples_init(&c->s, (size_t)g_nlate);
        c->deadline = bench_now_ns() + LATE_PERIOD_NS;
        evtimer_add(c->late, &tv);
        event_base_loop(c->lib, 0);
        late_result(c, out);
        break;
    }
}

static int run_libevent(void *arg, double *out)
{
    enum tkind k = *(enum tkind *)arg;
    struct tctx c = { .fired = 0 };
    long i, n = k == T_LATE ? 1 : g_ntimers;
    struct event **t = calloc((size_t)n, sizeof(*t));
    struct event_config *cfg = event_config_new();
    struct event_base *base = NULL;
    int rc = 0;

    /*
     * By default libevent reads CLOCK_MONOTONIC_COARSE (one tick, 4 ms
     * here): ask for the precise clock, its best configuration for
     * lateness.  The other figures keep the default.
     */
    if (cfg && k == T_LATE) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    }
    if (cfg) {
        base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    if (!t || !base) {
        rc = -ENOMEM;
        goto out;
    }
    c.lib = base;
    for (i = 0; i < n; i++) {
        t[i] = evtimer_new(base, k == T_LATE ? ev_late_cb : ev_fire_cb, &c);
        if (!t[i]) {
            rc = -ENOMEM;
            goto out;
        }
    }
    c.late = t[0];
    event_measure(t, &c, k, out);
out:
    for (i = 0; t && i < n; i++) {
        if (t[i]) {
            event_free(t[i]);
        }
    }
    free(t);
    if (base) {
        event_base_free(base);
    }
    return rc;
}
#endif

#ifdef HAVE_GLIB
/* A source that is only a timer: ready when its ready time passes. */
struct gtimer {
    GSource src;
    struct tctx *c;
};

static gboolean gt_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    struct gtimer *g = (struct gtimer *)s;

    if (g->c->late) {
        if (late_tick(g->c)) {
            g_source_set_ready_time(s, g->c->deadline / 1000);
        } else {
            g_source_set_ready_time(s, -1);
        }
    } else {
        g_source_set_ready_time(s, -1);
        g->c->fired++;
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs gt_funcs = { .dispatch = gt_dispatch };

static void glib_measure(GSource **t, struct tctx *c, enum tkind k,
                         double *out)
{
    long i, n = g_ntimers;
    int64_t base = g_get_monotonic_time(), t0, t1;

    switch (k) {
    case T_ARM:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            g_source_set_ready_time(t[i],
                                    base + g_far_off[i & TABLE_MASK] / 1000);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n;
        break;
    case T_FIRE:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            g_source_set_ready_time(t[i],
                                    base + g_near_off[i & TABLE_MASK] / 1000);
        }
        while (c->fired < n) {
            g_main_context_iteration(c->lib, TRUE);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n / 1000.0;
        break;
    case T_REARM:
        for (i = 0; i < n; i++) {
            g_source_set_ready_time(t[i],
                                    base + g_far_off[i & TABLE_MASK] / 1000);
        }
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < g_nrearm; i++) {
            g_source_set_ready_time(t[n / 2],
                                    base + rearm_off(i) / 1000);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)g_nrearm;
        break;
    case T_LATE:
        bench_samples_init(&c->s, (size_t)g_nlate);
        c->late = t[0];
        c->deadline = bench_now_ns() + LATE_PERIOD_NS;
        g_source_set_ready_time(t[0], c->deadline / 1000);
        while ((long)c->s.n < g_nlate) {
            g_main_context_iteration(c->lib, TRUE);
        }
        late_result(c, out);
        break;
    }
}

static int run_glib(void *arg, double *out)
{
    enum tkind k = *(enum tkind *)arg;
    struct tctx c = { .fired = 0 };
    long i, n = k == T_LATE ? 1 : g_ntimers;
    GSource **t = calloc((size_t)n, sizeof(*t));
    GMainContext *ctx = g_main_context_new();

    if (!t) {
        g_main_context_unref(ctx);
        return -ENOMEM;
    }
    c.lib = ctx;
    /* Own the context so arming from this thread needs no wake-up. */
    g_main_context_acquire(ctx);
    for (i = 0; i < n; i++) {
        t[i] = g_source_new(&gt_funcs, sizeof(struct gtimer));
        ((struct gtimer *)t[i])->c = &c;
        g_source_attach(t[i], ctx);
    }
    glib_measure(t, &c, k, out);
    for (i = 0; i < n; i++) {
        g_source_destroy(t[i]);
        g_source_unref(t[i]);
    }
    g_main_context_release(ctx);
    g_main_context_unref(ctx);
    free(t);
    return 0;
}
#endif

/* Deterministic pseudo-random offsets (xorshift64). */
static void fill_tables(void)
{
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int i;

    for (i = 0; i < TABLE_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        g_far_off[i] = 1000000000 + (int64_t)(x % 1000000000);
        g_near_off[i] = 2000000 + (int64_t)((x >> 20) % 5000000);
    }
}

int main(int argc, char **argv)
{
    static enum tkind kinds[] = { T_ARM, T_FIRE, T_REARM, T_LATE };
    static const struct bench_figure figs[] = {
        { "timers-arm", "ns/op", 1, { NULL } },
        { "timers-arm-fire", "us", 1, { NULL } },
        { "timers-rearm", "ns/op", 1, { NULL } },
        { "timer-lateness", "us", 2, { "p50", "p99" } },
    };
    int i;

    bench_init(argc, argv, "bench-timers");
    g_ntimers = bench_size(100000, 1);
    g_nrearm = bench_size(500000, 10);
    g_nlate = bench_size(200, 4);
    fill_tables();

    for (i = 0; i < 4; i++) {
        void *ka = &kinds[i];
        const struct bench_impl impls[] = {
#if BENCH_HAVE_LOOM
            { "loom", run_loom, ka },
#endif
#ifdef HAVE_LIBUV
            { "libuv", run_libuv, ka },
#endif
#ifdef HAVE_LIBEVENT
            { "libevent", run_libevent, ka },
#endif
#ifdef HAVE_LIBEV
            { "libev", timers_run_libev, ka },
#endif
#ifdef HAVE_GLIB
            { "glib", run_glib, ka },
#endif
        };

        bench_run(&figs[i], impls, (int)(sizeof(impls) / sizeof(impls[0])));
    }
    return bench_finish();
}
