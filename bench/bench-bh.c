/* SPDX-License-Identifier: MIT */
/*
 * Bottom halves: the cost of one loop iteration that runs one deferred
 * callback, and cross-thread post throughput.
 *
 *  bh-self            a callback that re-schedules itself, one run per
 *                     loop iteration (ns per iteration).  loom: a BH that
 *                     reschedules itself, loom_loop_poll(l, false) per
 *                     iteration; libuv: an idle handle under
 *                     uv_run(UV_RUN_DEFAULT) (each iteration polls with a
 *                     zero timeout, the idiomatic "run me every
 *                     iteration"); libevent: one event re-activated from
 *                     its callback with max-dispatch-callbacks = 1 (one
 *                     callback per dispatch); GLib: an idle source under
 *                     g_main_context_iteration(ctx, FALSE); floors:
 *                     epoll_wait(fd, ..., 0) plus an indirect call
 *                     (raw-epoll) and the indirect call alone (raw-call).
 *                     Timed in the thread's CPU time.
 *  bh-post/<place>    one producer thread posts distinct callbacks to a
 *                     loop blocked in another thread (ops/s).  loom:
 *                     loom_bh_oneshot (loom) and pre-created distinct BHs
 *                     (loom-bhs); libuv: mutex-protected queue plus
 *                     uv_async_send; libevent: event_base_once with
 *                     threads enabled; floor: lock-free list plus an
 *                     eventfd written on the empty -> non-empty edge.
 *
 * The main thread runs the loop (role 0); the producer is role 1.
 */
#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

static long g_self_n;
static long g_post_n;
static long g_post_slow_n;

/* ------------------------------------------------------------------ */
/* bh-self                                                             */

struct self_ctx {
    long n;
    long count;
    void *obj; /* the library's handle (BH, event, handle) */
};

#if BENCH_HAVE_LOOM
static void loom_self_cb(void *opaque)
{
    struct self_ctx *c = opaque;

    if (++c->count < c->n) {
        loom_bh_schedule(c->obj);
    }
}

static int run_self_loom(void *arg, double *out)
{
    struct self_ctx c = { .n = g_self_n };
    struct loom_loop *l;
    struct loom_bh *bh;
    int64_t t0, t1;
    int rc;

    rc = loom_loop_new(&l);
    if (rc < 0) {
        return rc;
    }
    rc = loom_bh_new(l, loom_self_cb, &c, "bench-self", &bh);
    if (rc < 0) {
        loom_loop_unref(l);
        return rc;
    }
    c.obj = bh;
    t0 = bench_thread_cpu_ns();
    loom_bh_schedule(bh);
    while (c.count < c.n) {
        loom_loop_poll(l, false);
    }
    t1 = bench_thread_cpu_ns();
    loom_bh_free(bh);
    loom_loop_unref(l);
    out[0] = (double)(t1 - t0) / (double)c.n;
    return 0;
}
#endif

#ifdef HAVE_LIBUV
static void uv_self_cb(uv_idle_t *h)
{
    struct self_ctx *c = h->data;

    if (++c->count >= c->n) {
        uv_idle_stop(h);
    }
}

static int run_self_libuv(void *arg, double *out)
{
    struct self_ctx c = { .n = g_self_n };
    uv_loop_t loop;
    uv_idle_t idle;
    int64_t t0, t1;
    int rc;

    rc = uv_loop_init(&loop);
    if (rc < 0) {
        return rc;
    }
    uv_idle_init(&loop, &idle);
    idle.data = &c;
    uv_idle_start(&idle, uv_self_cb);
    t0 = bench_thread_cpu_ns();
    uv_run(&loop, UV_RUN_DEFAULT);
    t1 = bench_thread_cpu_ns();
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    out[0] = (double)(t1 - t0) / (double)c.n;
    return c.count == c.n ? 0 : -EPROTO;
}
#endif

#ifdef HAVE_LIBEVENT
static void ev_self_cb(evutil_socket_t fd, short what, void *opaque)
{
    struct self_ctx *c = opaque;

    if (++c->count < c->n) {
        event_active(c->obj, EV_TIMEOUT, 1);
    } else {
        event_base_loopbreak(event_get_base(c->obj));
    }
}

static int run_self_libevent(void *arg, double *out)
{
    struct self_ctx c = { .n = g_self_n };
    struct event_config *cfg;
    struct event_base *base;
    struct event *ev;
    int64_t t0, t1;

    cfg = event_config_new();
    if (!cfg) {
        return -ENOMEM;
    }
    /* One callback per dispatch: the loop polls between callbacks. */
    event_config_set_max_dispatch_interval(cfg, NULL, 1, 0);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!base) {
        return -ENOMEM;
    }
    ev = event_new(base, -1, 0, ev_self_cb, &c);
    c.obj = ev;
    t0 = bench_thread_cpu_ns();
    event_active(ev, EV_TIMEOUT, 1);
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    t1 = bench_thread_cpu_ns();
    event_free(ev);
    event_base_free(base);
    out[0] = (double)(t1 - t0) / (double)c.n;
    return c.count == c.n ? 0 : -EPROTO;
}
#endif

#ifdef HAVE_GLIB
static gboolean glib_self_cb(gpointer opaque)
{
    struct self_ctx *c = opaque;

    return ++c->count < c->n ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static int run_self_glib(void *arg, double *out)
{
    struct self_ctx c = { .n = g_self_n };
    GMainContext *ctx = g_main_context_new();
    GSource *src = g_idle_source_new();
    int64_t t0, t1;

    g_source_set_callback(src, glib_self_cb, &c, NULL);
    g_source_attach(src, ctx);
    t0 = bench_thread_cpu_ns();
    while (c.count < c.n) {
        g_main_context_iteration(ctx, FALSE);
    }
    t1 = bench_thread_cpu_ns();
    g_source_destroy(src);
    g_source_unref(src);
    g_main_context_unref(ctx);
    out[0] = (double)(t1 - t0) / (double)c.n;
    return 0;
}
#endif

static __attribute__((noinline)) void raw_self_cb(void *opaque)
{
    struct self_ctx *c = opaque;

    c->count++;
    bench_clobber();
}

/* Called through a volatile pointer so the call stays indirect. */
static void (*volatile g_raw_cb)(void *) = raw_self_cb;

static int run_self_raw_epoll(void *arg, double *out)
{
    struct self_ctx c = { .n = g_self_n };
    struct epoll_event evs[8];
    int64_t t0, t1;
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0) {
        return -errno;
    }
    t0 = bench_thread_cpu_ns();
    while (c.count < c.n) {
        if (epoll_wait(ep, evs, 8, 0) < 0) {
            close(ep);
            return -errno;
        }
        g_raw_cb(&c);
    }
    t1 = bench_thread_cpu_ns();
    close(ep);
    out[0] = (double)(t1 - t0) / (double)c.n;
    return 0;
}

static int run_self_raw_call(void *arg, double *out)
{
    struct self_ctx c = { .n = g_self_n * 20 };
    int64_t t0, t1;

    t0 = bench_thread_cpu_ns();
    while (c.count < c.n) {
        g_raw_cb(&c);
    }
    t1 = bench_thread_cpu_ns();
    out[0] = (double)(t1 - t0) / (double)c.n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* bh-post: one producer thread, one loop thread                       */

struct post_ctx {
    enum bench_place place;
    long n;
    long count;         /* consumer thread only */
    int start;          /* atomic: producer may go */
    int err;            /* producer's error, read after join */
    void *lib;          /* library state (loop, base, queue) */
    void **objs;        /* pre-created per-post objects, if any */
    void (*post)(struct post_ctx *c, long i);
};

static void post_count_cb(void *opaque)
{
    struct post_ctx *c = opaque;

    c->count++;
}

static void *post_producer(void *opaque)
{
    struct post_ctx *c = opaque;
    long i;

    (void)bench_pin(c->place, 1);
    /* Pairs with the release store in post_go(). */
    while (!__atomic_load_n(&c->start, __ATOMIC_ACQUIRE)) {
        bench_relax();
    }
    for (i = 0; i < c->n && !__atomic_load_n(&c->err, __ATOMIC_RELAXED);
         i++) {
        c->post(c, i);
    }
    return NULL;
}

static int post_spawn(struct post_ctx *c, pthread_t *th)
{
    int rc;

    rc = bench_pin(c->place, 0);
    if (rc < 0) {
        return rc;
    }
    rc = pthread_create(th, NULL, post_producer, c);
    return rc ? -rc : 0;
}

static int64_t post_go(struct post_ctx *c)
{
    int64_t t0 = bench_now_ns();

    /* Pairs with the acquire load in post_producer(). */
    __atomic_store_n(&c->start, 1, __ATOMIC_RELEASE);
    return t0;
}

static int post_finish(struct post_ctx *c, pthread_t th, int64_t t0,
                       int64_t t1, double *out)
{
    pthread_join(th, NULL);
    if (c->err) {
        return c->err;
    }
    out[0] = (double)c->n / ((double)(t1 - t0) / 1e9);
    return c->count == c->n ? 0 : -EPROTO;
}

#if BENCH_HAVE_LOOM
static void post_loom_oneshot(struct post_ctx *c, long i)
{
    int rc = loom_bh_oneshot(c->lib, post_count_cb, c);

    if (rc < 0) {
        __atomic_store_n(&c->err, rc, __ATOMIC_RELAXED);
    }
}

static void post_loom_bh(struct post_ctx *c, long i)
{
    loom_bh_schedule(c->objs[i]);
}

static int run_post_loom(void *arg, double *out, bool precreate)
{
    struct post_ctx c = { .place = *(enum bench_place *)arg };
    struct loom_loop *l;
    pthread_t th;
    int64_t t0, t1;
    long i;
    int rc;

    c.n = precreate ? g_post_slow_n : g_post_n;
    rc = loom_loop_new(&l);
    if (rc < 0) {
        return rc;
    }
    c.lib = l;
    c.post = precreate ? post_loom_bh : post_loom_oneshot;
    if (precreate) {
        c.objs = calloc((size_t)c.n, sizeof(void *));
        for (i = 0; c.objs && i < c.n; i++) {
            rc = loom_bh_new(l, post_count_cb, &c, "bench-post",
                             (struct loom_bh **)&c.objs[i]);
            if (rc < 0) {
                break;
            }
        }
        if (!c.objs || i < c.n) {
            while (c.objs && i-- > 0) {
                loom_bh_free(c.objs[i]);
            }
            free(c.objs);
            loom_loop_unref(l);
            return rc < 0 ? rc : -ENOMEM;
        }
    }
    rc = post_spawn(&c, &th);
    if (rc == 0) {
        /* The first poll claims the loop for this thread before go. */
        loom_loop_poll(l, false);
        t0 = post_go(&c);
        while (c.count < c.n && !__atomic_load_n(&c.err, __ATOMIC_RELAXED)) {
            loom_loop_poll(l, true);
        }
        t1 = bench_now_ns();
        rc = post_finish(&c, th, t0, t1, out);
    }
    for (i = 0; c.objs && i < c.n; i++) {
        loom_bh_free(c.objs[i]);
    }
    free(c.objs);
    loom_loop_unref(l);
    return rc;
}

static int run_post_loom_oneshot(void *arg, double *out)
{
    return run_post_loom(arg, out, false);
}

static int run_post_loom_bhs(void *arg, double *out)
{
    return run_post_loom(arg, out, true);
}
#endif

/* A node of the peers' and the floor's queues. */
struct post_node {
    struct post_node *next;
    void (*fn)(void *);
    void *arg;
};

static struct post_node *post_nodes(struct post_ctx *c)
{
    struct post_node *nodes = calloc((size_t)c->n, sizeof(*nodes));
    long i;

    for (i = 0; nodes && i < c->n; i++) {
        nodes[i].fn = post_count_cb;
        nodes[i].arg = c;
    }
    return nodes;
}

#ifdef HAVE_LIBUV
struct uv_post {
    uv_loop_t loop;
    uv_async_t async;
    pthread_mutex_t mu;
    struct post_node *head, **tail; /* protected by mu */
    struct post_node *nodes;
};

static void post_libuv(struct post_ctx *c, long i)
{
    struct uv_post *q = c->lib;
    struct post_node *nd = &q->nodes[i];

    pthread_mutex_lock(&q->mu);
    nd->next = NULL;
    *q->tail = nd;
    q->tail = &nd->next;
    pthread_mutex_unlock(&q->mu);
    uv_async_send(&q->async);
}

static void uv_post_cb(uv_async_t *a)
{
    struct post_ctx *c = a->data;
    struct uv_post *q = c->lib;
    struct post_node *nd;

    pthread_mutex_lock(&q->mu);
    nd = q->head;
    q->head = NULL;
    q->tail = &q->head;
    pthread_mutex_unlock(&q->mu);
    while (nd) {
        struct post_node *next = nd->next;

        nd->fn(nd->arg);
        nd = next;
    }
    if (c->count >= c->n) {
        uv_stop(&q->loop);
    }
}

static int run_post_libuv(void *arg, double *out)
{
    struct post_ctx c = { .place = *(enum bench_place *)arg };
    struct uv_post q = { .head = NULL };
    pthread_t th;
    int64_t t0, t1;
    int rc;

    c.n = g_post_n;
    c.post = post_libuv;
    c.lib = &q;
    q.tail = &q.head;
    q.nodes = post_nodes(&c);
    if (!q.nodes) {
        return -ENOMEM;
    }
    pthread_mutex_init(&q.mu, NULL);
    uv_loop_init(&q.loop);
    uv_async_init(&q.loop, &q.async, uv_post_cb);
    q.async.data = &c;
    rc = post_spawn(&c, &th);
    if (rc == 0) {
        t0 = post_go(&c);
        uv_run(&q.loop, UV_RUN_DEFAULT);
        t1 = bench_now_ns();
        rc = post_finish(&c, th, t0, t1, out);
    }
    uv_close((uv_handle_t *)&q.async, NULL);
    uv_run(&q.loop, UV_RUN_DEFAULT);
    uv_loop_close(&q.loop);
    pthread_mutex_destroy(&q.mu);
    free(q.nodes);
    return rc;
}
#endif

#ifdef HAVE_LIBEVENT
static void ev_post_cb(evutil_socket_t fd, short what, void *opaque)
{
    struct post_ctx *c = opaque;

    if (++c->count >= c->n) {
        event_base_loopbreak(c->lib);
    }
}

static void post_libevent(struct post_ctx *c, long i)
{
    if (event_base_once(c->lib, -1, EV_TIMEOUT, ev_post_cb, c, NULL) < 0) {
        __atomic_store_n(&c->err, -ENOMEM, __ATOMIC_RELAXED);
    }
}

static int run_post_libevent(void *arg, double *out)
{
    struct post_ctx c = { .place = *(enum bench_place *)arg };
    struct event_base *base;
    pthread_t th;
    int64_t t0, t1;
    int rc;

    c.n = g_post_slow_n;
    c.post = post_libevent;
    base = event_base_new();
    if (!base) {
        return -ENOMEM;
    }
    c.lib = base;
    rc = post_spawn(&c, &th);
    if (rc == 0) {
        t0 = post_go(&c);
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
        t1 = bench_now_ns();
        rc = post_finish(&c, th, t0, t1, out);
    }
    event_base_free(base);
    return rc;
}
#endif

/* The floor: a lock-free LIFO push, the consumer takes the whole list. */
struct raw_post {
    struct post_node *head; /* atomic */
    int efd;
    struct post_node *nodes;
};

static void post_raw(struct post_ctx *c, long i)
{
    struct raw_post *q = c->lib;
    struct post_node *nd = &q->nodes[i];
    struct post_node *old = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    uint64_t one = 1;

    do {
        nd->next = old;
        /* Pairs with the exchange in run_post_raw(). */
    } while (!__atomic_compare_exchange_n(&q->head, &old, nd, true,
                                          __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    if (!old && write(q->efd, &one, sizeof(one)) != sizeof(one)) {
        __atomic_store_n(&c->err, -errno, __ATOMIC_RELAXED);
    }
}

static int run_post_raw(void *arg, double *out)
{
    struct post_ctx c = { .place = *(enum bench_place *)arg };
    struct raw_post q = { .head = NULL };
    pthread_t th;
    int64_t t0, t1;
    int rc;

    c.n = g_post_n;
    c.post = post_raw;
    c.lib = &q;
    q.nodes = post_nodes(&c);
    q.efd = eventfd(0, EFD_CLOEXEC);
    if (!q.nodes || q.efd < 0) {
        free(q.nodes);
        return q.efd < 0 ? -errno : -ENOMEM;
    }
    rc = post_spawn(&c, &th);
    if (rc == 0) {
        t0 = post_go(&c);
        while (c.count < c.n && !__atomic_load_n(&c.err, __ATOMIC_RELAXED)) {
            /* Pairs with the compare-exchange in post_raw(). */
            struct post_node *nd = __atomic_exchange_n(&q.head, NULL,
                                                       __ATOMIC_ACQUIRE);
            struct post_node *fifo = NULL;
            uint64_t v;

            if (!nd) {
                if (read(q.efd, &v, sizeof(v)) < 0) {
                    rc = -errno;
                    break;
                }
                continue;
            }
            while (nd) { /* reverse into posting order */
                struct post_node *next = nd->next;

                nd->next = fifo;
                fifo = nd;
                nd = next;
            }
            for (nd = fifo; nd; nd = nd->next) {
                nd->fn(nd->arg);
            }
        }
        t1 = bench_now_ns();
        if (rc == 0) {
            rc = post_finish(&c, th, t0, t1, out);
        } else {
            pthread_join(th, NULL);
        }
    }
    close(q.efd);
    free(q.nodes);
    return rc;
}

int main(int argc, char **argv)
{
    static enum bench_place places[BENCH_NPLACES] = {
        BENCH_SPLIT, BENCH_SAME, BENCH_UNPINNED
    };
    const struct bench_impl self[] = {
#if BENCH_HAVE_LOOM
        { "loom", run_self_loom, NULL },
#endif
#ifdef HAVE_LIBUV
        { "libuv", run_self_libuv, NULL },
#endif
#ifdef HAVE_LIBEVENT
        { "libevent", run_self_libevent, NULL },
#endif
#ifdef HAVE_GLIB
        { "glib", run_self_glib, NULL },
#endif
        { "raw-epoll", run_self_raw_epoll, NULL },
        { "raw-call", run_self_raw_call, NULL },
    };
    const struct bench_figure fself = { "bh-self", "ns/op", 1, { NULL } };
    int p;

    bench_init(argc, argv, "bench-bh");
#ifdef HAVE_LIBEVENT
    if (evthread_use_pthreads() < 0) {
        bench_fail("evthread_use_pthreads", -ENOTSUP);
    }
#endif
    g_self_n = bench_size(500000, 10);
    g_post_n = bench_size(1000000, 10);
    g_post_slow_n = bench_size(200000, 10);

    bench_run(&fself, self, (int)(sizeof(self) / sizeof(self[0])));

    for (p = 0; p < BENCH_NPLACES; p++) {
        void *pa = &places[p];
        const struct bench_impl post[] = {
#if BENCH_HAVE_LOOM
            { "loom", run_post_loom_oneshot, pa },
            { "loom-bhs", run_post_loom_bhs, pa },
#endif
#ifdef HAVE_LIBUV
            { "libuv", run_post_libuv, pa },
#endif
#ifdef HAVE_LIBEVENT
            { "libevent", run_post_libevent, pa },
#endif
            { "raw", run_post_raw, pa },
        };
        char name[64];
        struct bench_figure f = { name, "ops/s", 1, { NULL } };

        if (!bench_place_ok(places[p])) {
            continue;
        }
        snprintf(name, sizeof(name), "bh-post/%s",
                 bench_place_name(places[p]));
        bench_run(&f, post, (int)(sizeof(post) / sizeof(post[0])));
    }
    return bench_finish();
}
