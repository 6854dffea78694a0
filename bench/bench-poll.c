/* SPDX-License-Identifier: MIT */
/*
 * Cross-thread wake-up round trip with adaptive polling: thread A (the
 * main thread, role 0) and thread B (role 1) each run a loop; A schedules
 * a BH on B's loop, whose callback schedules one on A's, and A records
 * the round trip.
 *
 *  wakeup-rt-poll/<split|same|unpinned>/p50, /p99   (us)
 *    loom-poll  both loops busy-poll (loom_loop_set_poll_params() with
 *               a 200 us window, grow 2, shrink 0: the IOThread default
 *               of 32 us is barely above this machine's ~27 us blocking
 *               round trip between CPUs, so under load the window would
 *               rarely grow and the figure would measure sleeping)
 *    loom       the same loops without polling (max_ns 0)
 *    raw-spin   the floor: two atomic words, each thread spinning on its
 *               own (on one CPU the spinner yields the CPU instead of
 *               pausing, or the round trip is a scheduler time slice)
 *
 * Each repetition: 50 warm-up round trips, then the measured ones.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

#include "common.h"

#if BENCH_HAVE_LOOM
#include <loom/bh.h>
#include <loom/loop.h>
#endif

#define WARMUP_ROUNDS 50
/* Polling window of the loom-poll figures; see the top of the file. */
#define POLL_MAX_NS ((int64_t)200 * 1000)

static long g_rounds;

struct place_arg {
    enum bench_place place;
    bool poll;
};

/*
 * One repetition's shared state.  What A writes every round trip has a
 * cache line of its own: B reads stop and the BH pointers on every ping,
 * and were they beside done and t0, each ping would also move that line
 * from A's CPU to B's, a cost of the harness that raw-spin's B (which
 * reads only its word) does not pay.
 */
struct rt {
    enum bench_place place;
    int stop; /* atomic */
#if BENCH_HAVE_LOOM
    struct loom_loop *la, *lb;
    struct loom_bh *ba, *bb;
#endif
    int wa, wb; /* raw-spin words, atomic */
    /* A only. */
    long done BENCH_LINE_ALIGNED; /* round trips completed */
    int64_t t0;                   /* when the current ping left */
    struct bench_samples s;
};

/* A got a pong: record it; true if another ping should go. */
static bool rt_pong(struct rt *r)
{
    int64_t t1 = bench_now_ns();

    if (r->done >= WARMUP_ROUNDS) {
        bench_samples_add(&r->s, (double)(t1 - r->t0) / 1000.0);
    }
    r->done++;
    if (r->done >= g_rounds + WARMUP_ROUNDS) {
        return false;
    }
    r->t0 = bench_now_ns();
    return true;
}

static int rt_begin(struct rt *r, pthread_t *th, void *(*b_main)(void *))
{
    int rc;

    bench_samples_init(&r->s, (size_t)g_rounds);
    rc = bench_pin(r->place, 0);
    if (rc == 0) {
        rc = -pthread_create(th, NULL, b_main, r);
    }
    if (rc < 0) {
        bench_samples_free(&r->s);
        bench_unpin();
        return rc;
    }
    r->t0 = bench_now_ns();
    return 0;
}

static int rt_end(struct rt *r, pthread_t th, double *out)
{
    bool ok = r->done == g_rounds + WARMUP_ROUNDS;

    pthread_join(th, NULL);
    bench_unpin();
    out[0] = bench_samples_pct(&r->s, 50);
    out[1] = bench_samples_pct(&r->s, 99);
    bench_samples_free(&r->s);
    return ok ? 0 : -EPROTO;
}

static bool rt_stopping(struct rt *r)
{
    /* Pairs with the release store in rt_set_stop(). */
    return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
}

static void rt_set_stop(struct rt *r)
{
    /* Pairs with the acquire load in rt_stopping(). */
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ */

#if BENCH_HAVE_LOOM
static void loom_b_cb(void *opaque)
{
    struct rt *r = opaque;

    if (!rt_stopping(r)) {
        loom_bh_schedule(r->ba);
    }
}

static void loom_a_cb(void *opaque)
{
    struct rt *r = opaque;

    if (rt_pong(r)) {
        loom_bh_schedule(r->bb);
    }
}

static void *loom_b_main(void *opaque)
{
    struct rt *r = opaque;

    (void)bench_pin(r->place, 1);
    while (!rt_stopping(r)) {
        loom_loop_poll(r->lb, true);
    }
    return NULL;
}

static int run_loom(void *arg, double *out)
{
    const struct place_arg *pa = arg;
    int64_t max = pa->poll ? POLL_MAX_NS : 0;
    struct rt r = {.place = pa->place};
    pthread_t th;
    int rc;

    rc = loom_loop_new(&r.la);
    if (rc == 0) {
        rc = loom_loop_new(&r.lb);
    }
    if (rc == 0) {
        rc = loom_bh_new(r.la, loom_a_cb, &r, "bench-pong", &r.ba);
    }
    if (rc == 0) {
        rc = loom_bh_new(r.lb, loom_b_cb, &r, "bench-ping", &r.bb);
    }
    if (rc == 0) {
        rc = loom_loop_set_poll_params(r.la, max, 2, 0);
    }
    if (rc == 0) {
        rc = loom_loop_set_poll_params(r.lb, max, 2, 0);
    }
    if (rc == 0) {
        rc = rt_begin(&r, &th, loom_b_main);
    }
    if (rc == 0) {
        loom_bh_schedule(r.bb);
        while (r.done < g_rounds + WARMUP_ROUNDS) {
            loom_loop_poll(r.la, true);
        }
        rt_set_stop(&r);
        loom_bh_schedule(r.bb);
        rc = rt_end(&r, th, out);
    }
    /* B's last poll may have left a pong: run it before freeing. */
    if (r.la) {
        while (loom_loop_poll(r.la, false)) {
        }
    }
    loom_bh_free(r.ba);
    loom_bh_free(r.bb);
    loom_loop_unref(r.la);
    loom_loop_unref(r.lb);
    return rc;
}
#endif

/* ------------------------------------------------------------------ */

static void spin_post(int *w, int v)
{
    /* Pairs with the acquire load in spin_wait(). */
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
}

/* Wait until *w != old; returns the new value. */
static int spin_wait(int *w, int old, bool yield)
{
    int v;

    /* Pairs with the release store in spin_post(). */
    while ((v = __atomic_load_n(w, __ATOMIC_ACQUIRE)) == old) {
        if (yield) {
            sched_yield();
        } else {
            bench_relax();
        }
    }
    return v;
}

static void *spin_b_main(void *opaque)
{
    struct rt *r = opaque;
    bool yield = r->place == BENCH_SAME;
    int seen = 0;

    (void)bench_pin(r->place, 1);
    for (;;) {
        seen = spin_wait(&r->wb, seen, yield);
        if (seen < 0) {
            break;
        }
        spin_post(&r->wa, seen);
    }
    return NULL;
}

static int run_spin(void *arg, double *out)
{
    const struct place_arg *pa = arg;
    struct rt r = {.place = pa->place};
    bool yield = r.place == BENCH_SAME;
    pthread_t th;
    int seq = 0;
    int rc;

    rc = rt_begin(&r, &th, spin_b_main);
    if (rc < 0) {
        return rc;
    }
    do {
        seq++;
        spin_post(&r.wb, seq);
        (void)spin_wait(&r.wa, seq - 1, yield);
    } while (rt_pong(&r));
    spin_post(&r.wb, -1);
    return rt_end(&r, th, out);
}

int main(int argc, char **argv)
{
    static struct place_arg polled[BENCH_NPLACES], plain[BENCH_NPLACES];
    static const enum bench_place places[BENCH_NPLACES] = {
        BENCH_SPLIT, BENCH_SAME, BENCH_UNPINNED};
    int i;

    bench_init(argc, argv, "bench-poll");
    g_rounds = bench_size(5000, 10);

    for (i = 0; i < BENCH_NPLACES; i++) {
        const struct bench_impl impls[] = {
#if BENCH_HAVE_LOOM
            {"loom-poll", run_loom, &polled[i]},
            {"loom", run_loom, &plain[i]},
#endif
            {"raw-spin", run_spin, &plain[i]},
        };
        char name[64];
        struct bench_figure f = {name, "us", 2, {"p50", "p99"}};

        polled[i] = (struct place_arg){places[i], true};
        plain[i] = (struct place_arg){places[i], false};
        if (!bench_place_ok(places[i])) {
            continue;
        }
        snprintf(name, sizeof(name), "wakeup-rt-poll/%s",
                 bench_place_name(places[i]));
        if (!bench_figure_wanted(name)) {
            continue;
        }
        bench_run(&f, impls, (int)(sizeof(impls) / sizeof(impls[0])));
    }
    return bench_finish();
}
