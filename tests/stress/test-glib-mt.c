/* SPDX-License-Identifier: MIT */
/*
 * Stress: cross-thread wake-ups through the GLib integration.
 *
 * gsource: NPROD threads schedule one-shot BHs and arm a timer on a loop
 * driven only by a GMainLoop (loom_loop_gsource()); every DRAIN_EVERY
 * requests a producer waits until all of its BHs ran, so the GMainContext
 * goes to sleep in GLib's poll and must be woken through the loop's
 * notify protocol thousands of times.  Every BH must run exactly once.
 *
 * main: the same against the main loop with loom_main_use_glib(): the
 * producers alternate writes to their eventfd, watched by a GLib fd
 * source of the context (so GLib's fds must wake the main loop's sleep),
 * with loom_bh_oneshot() on the main loop.  (Producers do not call GLib
 * itself: GLib's futex-based locks are invisible to ThreadSanitizer, which
 * would then report GLib's own allocations as races.)
 *
 * A lost wake-up shows as a producer whose drain makes no progress for
 * STALL_NS: the test then fails instead of hanging.
 */
#include <loom/glib.h>
#include <loom/loom.h>

#include <glib-unix.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"

#define NPROD 2
#define OPS 50000
#define DRAIN_EVERY 16
#define TIMER_EVERY 32
#define STALL_NS (20LL * 1000 * 1000 * 1000)

struct producer {
    int id;
    pthread_t th;
    struct shared *sh;
    int efd;                 /* main part: written by the producer */
    unsigned long requested; /* this thread only */
    unsigned long served;    /* atomic: written by the consumer thread */
};

struct shared {
    struct loom_loop *l;
    GMainContext *ctx;
    GMainLoop *ml; /* gsource part */
    struct loom_timer *timer;
    bool main_part;
    unsigned done;            /* atomic: producers finished */
    unsigned long timer_runs; /* consumer thread only */
    struct producer prod[NPROD];
};

static void serve(void *opaque)
{
    struct producer *p = opaque;

    __atomic_fetch_add(&p->served, 1, __ATOMIC_RELEASE);
}

static gboolean serve_glib(gint fd, GIOCondition cond, gpointer data)
{
    struct producer *p = data;
    uint64_t v;

    g_assert_cmpint(read(fd, &v, sizeof(v)), ==, sizeof(v));
    __atomic_fetch_add(&p->served, (unsigned long)v, __ATOMIC_RELEASE);
    return G_SOURCE_CONTINUE;
}

static void timer_cb(void *opaque)
{
    struct shared *sh = opaque;

    sh->timer_runs++;
}

static void finish_bh(void *opaque)
{
    struct shared *sh = opaque;

    if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) == NPROD) {
        if (sh->main_part) {
            loom_request_shutdown(LOOM_SHUTDOWN_REQUEST);
        } else {
            g_main_loop_quit(sh->ml);
        }
    }
}

static void drain(struct producer *p)
{
    struct harness_stall stall;
    unsigned long now;

    harness_stall_init(&stall);
    for (;;) {
        now = __atomic_load_n(&p->served, __ATOMIC_ACQUIRE);
        if (now == p->requested) {
            return;
        }
        if (harness_stalled(&stall, now, STALL_NS)) {
            fprintf(stderr, "producer %d stalled at %lu/%lu: lost wake-up\n",
                    p->id, now, p->requested);
            abort();
        }
        sched_yield();
    }
}

static void *producer_fn(void *arg)
{
    struct producer *p = arg;
    struct shared *sh = p->sh;
    uint64_t one = 1;
    int i;

    for (i = 1; i <= OPS; i++) {
        p->requested++;
        if (sh->main_part && (i & 1)) {
            g_assert_cmpint(write(p->efd, &one, sizeof(one)), ==, sizeof(one));
        } else {
            g_assert_cmpint(loom_bh_oneshot(sh->l, serve, p), ==, 0);
        }
        if (!sh->main_part && i % TIMER_EVERY == 0) {
            loom_timer_mod(sh->timer, loom_clock_ns(LOOM_CLOCK_HOST));
        }
        if (i % DRAIN_EVERY == 0) {
            drain(p);
        }
    }
    drain(p);
    __atomic_fetch_add(&sh->done, 1, __ATOMIC_RELEASE);
    g_assert_cmpint(loom_bh_oneshot(sh->l, finish_bh, sh), ==, 0);
    return NULL;
}

static void start_producers(struct shared *sh)
{
    int i;

    for (i = 0; i < NPROD; i++) {
        sh->prod[i].id = i;
        sh->prod[i].sh = sh;
        g_assert_cmpint(
            pthread_create(&sh->prod[i].th, NULL, producer_fn, &sh->prod[i]),
            ==, 0);
    }
}

static void join_producers(struct shared *sh)
{
    int i;

    for (i = 0; i < NPROD; i++) {
        g_assert_cmpint(pthread_join(sh->prod[i].th, NULL), ==, 0);
        g_assert_cmpuint(__atomic_load_n(&sh->prod[i].served, __ATOMIC_ACQUIRE),
                         ==, OPS);
    }
}

static void test_gsource_mt(void)
{
    struct shared sh = {0};
    GSource *src;

    sh.l = harness_loop_new();
    sh.ctx = g_main_context_new();
    sh.ml = g_main_loop_new(sh.ctx, FALSE);
    g_assert_cmpint(
        loom_timer_new(sh.l, LOOM_CLOCK_HOST, timer_cb, &sh, &sh.timer), ==, 0);
    src = loom_loop_gsource(sh.l);
    g_source_attach(src, sh.ctx);
    start_producers(&sh);
    g_main_loop_run(sh.ml);
    join_producers(&sh);
    /* Armed "due now" OPS / TIMER_EVERY times; runs coalesce. */
    g_assert_cmpuint(sh.timer_runs, >=, 1);
    /* Nothing left: the finishing BHs ran before the quit. */
    while (g_main_context_iteration(sh.ctx, FALSE)) {
    }
    g_source_destroy(src);
    g_source_unref(src);
    loom_timer_free(sh.timer);
    g_main_loop_unref(sh.ml);
    g_main_context_unref(sh.ctx);
    loom_loop_unref(sh.l);
}

static void test_main_mt(void)
{
    struct shared sh = {.main_part = true};
    GSource *src[NPROD];
    int i;

    sh.l = loom_main_loop();
    sh.ctx = g_main_context_new();
    for (i = 0; i < NPROD; i++) {
        sh.prod[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        g_assert_cmpint(sh.prod[i].efd, >=, 0);
        src[i] = g_unix_fd_source_new(sh.prod[i].efd, G_IO_IN);
        g_source_set_callback(src[i], (GSourceFunc)(void (*)(void))serve_glib,
                              &sh.prod[i], NULL);
        g_source_attach(src[i], sh.ctx);
    }
    g_assert_cmpint(loom_main_use_glib(sh.ctx), ==, 0);
    start_producers(&sh);
    g_assert_cmpint(loom_main_loop_run(), ==, LOOM_SHUTDOWN_REQUEST);
    join_producers(&sh);
    /* Run the finishing BHs still queued. */
    while (loom_main_loop_wait(true)) {
    }
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    for (i = 0; i < NPROD; i++) {
        g_source_destroy(src[i]);
        g_source_unref(src[i]);
        close(sh.prod[i].efd);
    }
    g_main_context_unref(sh.ctx);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    g_assert_cmpint(loom_main_init(), ==, 0);
    g_test_add_func("/glib-mt/gsource", test_gsource_mt);
    g_test_add_func("/glib-mt/main", test_main_mt);
    ret = g_test_run();
    loom_main_cleanup();
    return ret;
}
