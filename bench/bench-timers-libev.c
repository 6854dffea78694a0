/* SPDX-License-Identifier: MIT */
/*
 * bench-timers' libev side (see bench-timers.c for the figures): timers
 * are ev_timer watchers armed with ev_timer_start, re-armed with
 * ev_timer_again (libev's documented cheap way to move a running timer).
 * Runs on the benchmark's main thread.
 */
#include "bench-timers.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

struct lctx {
    long fired;
    int64_t deadline;
    struct bench_samples s;
};

static void fire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lctx *c = w->data;

    c->fired++;
}

static void late_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct lctx *c = w->data;
    int64_t now = bench_now_ns();

    bench_samples_add(&c->s, (double)(now - c->deadline) / 1000.0);
    c->deadline = now + LATE_PERIOD_NS;
    if ((long)c->s.n < g_nlate) {
        ev_timer_set(w, LATE_PERIOD_NS * 1e-9, 0.);
        ev_timer_start(loop, w);
    }
}

static void measure(struct ev_loop *loop, ev_timer *t, struct lctx *c,
                    enum tkind k, double *out)
{
    long i, n = g_ntimers;
    int64_t t0, t1;

    ev_now_update(loop);
    switch (k) {
    case T_ARM:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            ev_timer_set(&t[i], (double)g_far_off[i & TABLE_MASK] * 1e-9, 0.);
            ev_timer_start(loop, &t[i]);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n;
        break;
    case T_FIRE:
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < n; i++) {
            ev_timer_set(&t[i], (double)g_near_off[i & TABLE_MASK] * 1e-9,
                         0.);
            ev_timer_start(loop, &t[i]);
        }
        while (c->fired < n) {
            ev_run(loop, EVRUN_ONCE);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n / 1000.0;
        break;
    case T_REARM:
        for (i = 0; i < n; i++) {
            ev_timer_set(&t[i], (double)g_far_off[i & TABLE_MASK] * 1e-9, 0.);
            ev_timer_start(loop, &t[i]);
        }
        t0 = bench_thread_cpu_ns();
        for (i = 0; i < g_nrearm; i++) {
            t[n / 2].repeat = (double)rearm_off(i) * 1e-9;
            ev_timer_again(loop, &t[n / 2]);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)g_nrearm;
        break;
    case T_LATE:
        bench_samples_init(&c->s, (size_t)g_nlate);
        ev_init(&t[0], late_cb);
        t[0].data = c;
        ev_timer_set(&t[0], LATE_PERIOD_NS * 1e-9, 0.);
        c->deadline = bench_now_ns() + LATE_PERIOD_NS;
        ev_timer_start(loop, &t[0]);
        ev_run(loop, 0);
        out[0] = bench_samples_pct(&c->s, 50);
        out[1] = bench_samples_pct(&c->s, 99);
        bench_samples_free(&c->s);
        break;
    }
}

int timers_run_libev(void *arg, double *out)
{
    enum tkind k = *(enum tkind *)arg;
    struct lctx c = { .fired = 0 };
    long i, n = k == T_LATE ? 1 : g_ntimers;
    ev_timer *t = calloc((size_t)n, sizeof(*t));
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

    if (!t || !loop) {
        free(t);
        if (loop) {
            ev_loop_destroy(loop);
        }
        return -ENOMEM;
    }
    for (i = 0; i < n; i++) {
        ev_init(&t[i], fire_cb);
        t[i].data = &c;
    }
    measure(loop, t, &c, k, out);
    for (i = 0; i < n; i++) {
        ev_timer_stop(loop, &t[i]);
    }
    ev_loop_destroy(loop);
    free(t);
    return 0;
}
