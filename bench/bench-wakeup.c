/* SPDX-License-Identifier: MIT */
/*
 * Cross-thread wake-up round trip, both sides blocking: thread A (the
 * main thread, role 0) and thread B (role 1) each sleep in their own loop;
 * A sends a ping to B, B answers with a pong, A records the round trip.
 *
 *  wakeup-rt-blocking/<place>/p50, /p99   (us)
 *    loom      BH scheduled on the other loop, loom_loop_poll(l, true)
 *    libuv     uv_async_send to the other loop's uv_async_t
 *    glib      g_main_context_invoke on the other GMainContext
 *    libevent  event_active across threads (evthread_use_pthreads)
 *    libev     ev_async_send to the other ev_loop
 *    raw-eventfd  blocking read/write on two eventfds
 *    raw-futex    two futex words, FUTEX_WAIT / FUTEX_WAKE
 *  wakeup-rt-spin/split/p50, /p99   (us) raw-spin: both threads busy-poll
 *    a word each; the adaptive-polling floor.
 *
 * Each repetition: 50 warm-up round trips, then the measured ones.
 */
#include "bench-wakeup.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#if BENCH_HAVE_LOOM
#include <loom/bh.h>
#include <loom/loop.h>
#endif
#ifdef HAVE_LIBUV
#include <uv.h>
#endif
#ifdef HAVE_LIBEVENT
#include <event2/event.h>
#include <event2/thread.h>
#endif
#ifdef HAVE_GLIB
#include <glib.h>
#endif

static long g_rounds;

/* A got a pong: record it; true if another ping should go. */
bool pp_pong(struct pp *p)
{
    int64_t t1 = bench_now_ns();

    if (p->done >= WARMUP_ROUNDS) {
        bench_samples_add(&p->s, (double)(t1 - p->t0) / 1000.0);
    }
    p->done++;
    if (p->done >= p->rounds + WARMUP_ROUNDS) {
        return false;
    }
    p->t0 = bench_now_ns();
    return true;
}

bool pp_stopping(struct pp *p)
{
    return __atomic_load_n(&p->stop, __ATOMIC_ACQUIRE);
}

void pp_set_stop(struct pp *p)
{
    /* Pairs with the acquire load in pp_stopping(). */
    __atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
}

static void *pp_thread(void *opaque)
{
    struct pp *p = opaque;

    (void)bench_pin(p->place, 1);
    return p->b_main(p);
}

int pp_begin(struct pp *p, pthread_t *th)
{
    int rc;

    bench_samples_init(&p->s, (size_t)p->rounds);
    rc = bench_pin(p->place, 0);
    if (rc == 0) {
        rc = -pthread_create(th, NULL, pp_thread, p);
    }
    if (rc < 0) {
        bench_samples_free(&p->s);
    }
    p->t0 = bench_now_ns();
    return rc;
}

int pp_end(struct pp *p, double *out)
{
    bool ok = p->done == p->rounds + WARMUP_ROUNDS;

    out[0] = bench_samples_pct(&p->s, 50);
    out[1] = bench_samples_pct(&p->s, 99);
    bench_samples_free(&p->s);
    return ok ? 0 : -EPROTO;
}

void pp_init(struct pp *p, void *arg)
{
    *p = (struct pp) {
        .place = *(enum bench_place *)arg,
        .rounds = g_rounds,
    };
}

/* ------------------------------------------------------------------ */

#if BENCH_HAVE_LOOM
static void loom_b_cb(void *opaque)
{
    struct pp *p = opaque;

    if (!pp_stopping(p)) {
        loom_bh_schedule(p->a);
    }
}

static void loom_a_cb(void *opaque)
{
    struct pp *p = opaque;

    if (pp_pong(p)) {
        loom_bh_schedule(p->b);
    }
}

static void *loom_b_main(void *opaque)
{
    struct pp *p = opaque;

    while (!pp_stopping(p)) {
        loom_loop_poll(p->lb, true);
    }
    return NULL;
}

static int run_loom(void *arg, double *out)
{
    struct loom_loop *la = NULL, *lb = NULL;
    struct loom_bh *ba = NULL, *bb = NULL;
    struct pp p;
    pthread_t th;
    int rc;

    pp_init(&p, arg);
    p.b_main = loom_b_main;
    rc = loom_loop_new(&la);
    if (rc == 0) {
        rc = loom_loop_new(&lb);
    }
    if (rc == 0) {
        rc = loom_bh_new(la, loom_a_cb, &p, "bench-pong", &ba);
    }
    if (rc == 0) {
        rc = loom_bh_new(lb, loom_b_cb, &p, "bench-ping", &bb);
    }
    p.la = la;
    p.lb = lb;
    p.a = ba;
    p.b = bb;
    if (rc == 0) {
        rc = pp_begin(&p, &th);
    }
    if (rc == 0) {
        loom_bh_schedule(bb);
        while (p.done < p.rounds + WARMUP_ROUNDS) {
            loom_loop_poll(la, true);
        }
        pp_set_stop(&p);
        loom_bh_schedule(bb);
        pthread_join(th, NULL);
        rc = pp_end(&p, out);
    }
    if (ba) {
        loom_bh_free(ba);
    }
    if (bb) {
        loom_bh_free(bb);
    }
    if (la) {
        loom_loop_unref(la);
    }
    if (lb) {
        loom_loop_unref(lb);
    }
    return rc;
}
#endif

#ifdef HAVE_LIBUV
static void uv_b_cb(uv_async_t *h)
{
    struct pp *p = h->data;

    if (pp_stopping(p)) {
        uv_close((uv_handle_t *)h, NULL);
    } else {
        uv_async_send(p->a);
    }
}

static void uv_a_cb(uv_async_t *h)
{
    struct pp *p = h->data;

    if (pp_pong(p)) {
        uv_async_send(p->b);
    } else {
        uv_close((uv_handle_t *)h, NULL);
    }
}

static void *uv_b_main(void *opaque)
{
    struct pp *p = opaque;

    uv_run(p->lb, UV_RUN_DEFAULT);
    return NULL;
}

static int run_libuv(void *arg, double *out)
{
    uv_loop_t la, lb;
    uv_async_t aa, ab;
    struct pp p;
    pthread_t th;
    int rc;

    pp_init(&p, arg);
    p.b_main = uv_b_main;
    uv_loop_init(&la);
    uv_loop_init(&lb);
    uv_async_init(&la, &aa, uv_a_cb);
    uv_async_init(&lb, &ab, uv_b_cb);
    aa.data = ab.data = &p;
    p.a = &aa;
    p.b = &ab;
    p.la = &la;
    p.lb = &lb;
    rc = pp_begin(&p, &th);
    if (rc == 0) {
        uv_async_send(&ab);
        uv_run(&la, UV_RUN_DEFAULT); /* until uv_a_cb closes its handle */
        pp_set_stop(&p);
        uv_async_send(&ab);
        pthread_join(th, NULL);
        rc = pp_end(&p, out);
    } else {
        uv_close((uv_handle_t *)&aa, NULL);
        uv_close((uv_handle_t *)&ab, NULL);
        uv_run(&la, UV_RUN_DEFAULT);
        uv_run(&lb, UV_RUN_DEFAULT);
    }
    uv_loop_close(&la);
    uv_loop_close(&lb);
    return rc;
}
#endif

#ifdef HAVE_GLIB
static gboolean glib_a_fn(gpointer opaque);

static gboolean glib_b_fn(gpointer opaque)
{
    struct pp *p = opaque;

    if (!pp_stopping(p)) {
        g_main_context_invoke(p->la, glib_a_fn, p);
    }
    return G_SOURCE_REMOVE;
}

static gboolean glib_a_fn(gpointer opaque)
{
    struct pp *p = opaque;

    if (pp_pong(p)) {
        g_main_context_invoke(p->lb, glib_b_fn, p);
    }
    return G_SOURCE_REMOVE;
}

static void *glib_b_main(void *opaque)
{
    struct pp *p = opaque;

    while (!pp_stopping(p)) {
        g_main_context_iteration(p->lb, TRUE);
    }
    /* Whatever the last wake-up left behind. */
    while (g_main_context_iteration(p->lb, FALSE)) {
    }
    return NULL;
}

static int run_glib(void *arg, double *out)
{
    GMainContext *la = g_main_context_new();
    GMainContext *lb = g_main_context_new();
    struct pp p;
    pthread_t th;
    int rc;

    pp_init(&p, arg);
    p.b_main = glib_b_main;
    p.la = la;
    p.lb = lb;
    rc = pp_begin(&p, &th);
    if (rc == 0) {
        g_main_context_invoke(lb, glib_b_fn, &p);
        while (p.done < p.rounds + WARMUP_ROUNDS) {
            g_main_context_iteration(la, TRUE);
        }
        pp_set_stop(&p);
        g_main_context_wakeup(lb);
        pthread_join(th, NULL);
        rc = pp_end(&p, out);
    }
    while (g_main_context_iteration(la, FALSE)) {
    }
    g_main_context_unref(la);
    g_main_context_unref(lb);
    return rc;
}
#endif

#ifdef HAVE_LIBEVENT
static void ev_b_cb(evutil_socket_t fd, short what, void *opaque)
{
    struct pp *p = opaque;

    if (pp_stopping(p)) {
        event_base_loopbreak(p->lb);
    } else {
        event_active(p->a, EV_TIMEOUT, 1);
    }
}

static void ev_a_cb(evutil_socket_t fd, short what, void *opaque)
{
    struct pp *p = opaque;

    if (pp_pong(p)) {
        event_active(p->b, EV_TIMEOUT, 1);
    } else {
        event_base_loopbreak(p->la);
    }
}

static void *event_b_main(void *opaque)
{
    struct pp *p = opaque;

    event_base_loop(p->lb, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static int run_libevent(void *arg, double *out)
{
    struct event_base *la = event_base_new();
    struct event_base *lb = event_base_new();
    struct pp p;
    pthread_t th;
    int rc = -ENOMEM;

    pp_init(&p, arg);
    p.b_main = event_b_main;
    p.la = la;
    p.lb = lb;
    if (la && lb) {
        p.a = event_new(la, -1, 0, ev_a_cb, &p);
        p.b = event_new(lb, -1, 0, ev_b_cb, &p);
        rc = pp_begin(&p, &th);
    }
    if (rc == 0) {
        event_active(p.b, EV_TIMEOUT, 1);
        event_base_loop(la, EVLOOP_NO_EXIT_ON_EMPTY);
        pp_set_stop(&p);
        event_active(p.b, EV_TIMEOUT, 1);
        pthread_join(th, NULL);
        rc = pp_end(&p, out);
    }
    if (p.a) {
        event_free(p.a);
    }
    if (p.b) {
        event_free(p.b);
    }
    if (la) {
        event_base_free(la);
    }
    if (lb) {
        event_base_free(lb);
    }
    return rc;
}
#endif

/* ------------------------------------------------------------------ */
/* Floors                                                              */

struct raw_fds {
    int a, b;
};

static void *eventfd_b_main(void *opaque)
{
    struct pp *p = opaque;
    struct raw_fds *fds = p->b;
    uint64_t v = 1;

    for (;;) {
        if (read(fds->b, &v, sizeof(v)) != sizeof(v) || pp_stopping(p)) {
            break;
        }
        if (write(fds->a, &v, sizeof(v)) != sizeof(v)) {
            break;
        }
    }
    return NULL;
}

static int run_raw_eventfd(void *arg, double *out)
{
    struct raw_fds fds = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
    struct pp p;
    pthread_t th;
    uint64_t v = 1;
    int rc = -EMFILE;

    pp_init(&p, arg);
    p.b_main = eventfd_b_main;
    p.b = &fds;
    if (fds.a >= 0 && fds.b >= 0) {
        rc = pp_begin(&p, &th);
    }
    if (rc == 0) {
        do {
            if (write(fds.b, &v, sizeof(v)) != sizeof(v) ||
                read(fds.a, &v, sizeof(v)) != sizeof(v)) {
                rc = -errno;
                break;
            }
        } while (pp_pong(&p));
        pp_set_stop(&p);
        v = 1;
        if (write(fds.b, &v, sizeof(v)) != sizeof(v)) {
            rc = -errno;
        }
        pthread_join(th, NULL);
        rc = rc ? rc : pp_end(&p, out);
    }
    if (fds.a >= 0) {
        close(fds.a);
    }
    if (fds.b >= 0) {
        close(fds.b);
    }
    return rc;
}

/* Futex words: B waits on wb for a new sequence number, A on wa. */
struct raw_words {
    int wa, wb;
    bool spin;
};

static void word_post(int *w, int v, bool spin)
{
    /* Pairs with the acquire load in word_wait(). */
    __atomic_store_n(w, v, __ATOMIC_RELEASE);
    if (!spin) {
        syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}

/* Wait until *w != old; returns the new value. */
static int word_wait(int *w, int old, bool spin)
{
    int v;

    while ((v = __atomic_load_n(w, __ATOMIC_ACQUIRE)) == old) {
        if (spin) {
            bench_relax();
        } else {
            syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, old, NULL, NULL, 0);
        }
    }
    return v;
}

static void *words_b_main(void *opaque)
{
    struct pp *p = opaque;
    struct raw_words *w = p->b;
    int seen = 0;

    for (;;) {
        seen = word_wait(&w->wb, seen, w->spin);
        if (seen < 0) {
            break;
        }
        word_post(&w->wa, seen, w->spin);
    }
    return NULL;
}

static int run_raw_words(void *arg, double *out, bool spin)
{
    struct raw_words w = { 0, 0, spin };
    struct pp p;
    pthread_t th;
    int seq = 0;
    int rc;

    pp_init(&p, arg);
    p.b_main = words_b_main;
    p.b = &w;
    rc = pp_begin(&p, &th);
    if (rc < 0) {
        return rc;
    }
    do {
        seq++;
        word_post(&w.wb, seq, spin);
        (void)word_wait(&w.wa, seq - 1, spin);
    } while (pp_pong(&p));
    word_post(&w.wb, -1, spin);
    pthread_join(th, NULL);
    return pp_end(&p, out);
}

static int run_raw_futex(void *arg, double *out)
{
    return run_raw_words(arg, out, false);
}

static int run_raw_spin(void *arg, double *out)
{
    return run_raw_words(arg, out, true);
}

int main(int argc, char **argv)
{
    static enum bench_place places[BENCH_NPLACES] = {
        BENCH_SPLIT, BENCH_SAME, BENCH_UNPINNED
    };
    int i;

    bench_init(argc, argv, "bench-wakeup");
#ifdef HAVE_LIBEVENT
    if (evthread_use_pthreads() < 0) {
        bench_fail("evthread_use_pthreads", -ENOTSUP);
    }
#endif
    g_rounds = bench_size(2000, 10);

    for (i = 0; i < BENCH_NPLACES; i++) {
        void *pa = &places[i];
        const struct bench_impl impls[] = {
#if BENCH_HAVE_LOOM
            { "loom", run_loom, pa },
#endif
#ifdef HAVE_LIBUV
            { "libuv", run_libuv, pa },
#endif
#ifdef HAVE_GLIB
            { "glib", run_glib, pa },
#endif
#ifdef HAVE_LIBEVENT
            { "libevent", run_libevent, pa },
#endif
#ifdef HAVE_LIBEV
            { "libev", wakeup_run_libev, pa },
#endif
            { "raw-eventfd", run_raw_eventfd, pa },
            { "raw-futex", run_raw_futex, pa },
        };
        char name[64];
        struct bench_figure f = { name, "us", 2, { "p50", "p99" } };

        if (!bench_place_ok(places[i])) {
            continue;
        }
        snprintf(name, sizeof(name), "wakeup-rt-blocking/%s",
                 bench_place_name(places[i]));
        bench_run(&f, impls, (int)(sizeof(impls) / sizeof(impls[0])));
    }

    if (bench_place_ok(BENCH_SPLIT)) {
        const struct bench_impl spin[] = {
            { "raw-spin", run_raw_spin, &places[0] },
        };
        struct bench_figure f = { "wakeup-rt-spin/split", "us", 2,
                                  { "p50", "p99" } };

        bench_run(&f, spin, 1);
    }
    return bench_finish();
}
