/* SPDX-License-Identifier: MIT */
/*
 * GLib integration.  loom_loop_gsource(): a GMainLoop runs a loom loop's
 * BHs, timers and fd handlers (also BHs and timers armed from another
 * thread while the context sleeps), removal of the source, the fd monitor
 * pinned to epoll and restored, nesting both ways, a handler left in poll
 * mode (the context must not block on it).  loom_main_use_glib():
 * the main loop dispatches GLib timeout, idle and I/O watch sources along
 * with its own BHs, top-level handlers and timers, stops on NULL (also from
 * inside its own callbacks), switches contexts, nests, and leaves alone
 * (without spinning on its fds) a context another thread owns.
 */
#include <loom/glib.h>
#include <loom/loom.h>

#include <errno.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"

/* Watchdog for GMainLoops: a failing test ends instead of hanging. */
#define WATCHDOG_S ((int)(HARNESS_WATCHDOG_NS / 1000000000))

struct gs_fixture {
    struct loom_loop *l;
    GMainContext *ctx;
    GMainLoop *ml;
    GSource *src;
    struct harness_watchdog dog;
};

static void gs_setup(struct gs_fixture *f, const char *what)
{
    f->l = harness_loop_new();
    f->ctx = g_main_context_new();
    f->ml = g_main_loop_new(f->ctx, FALSE);
    f->src = loom_loop_gsource(f->l);
    g_assert_nonnull(f->src);
    g_source_attach(f->src, f->ctx);
    harness_watchdog_start(&f->dog, WATCHDOG_S, what);
}

static void gs_teardown(struct gs_fixture *f)
{
    harness_watchdog_stop(&f->dog);
    g_source_destroy(f->src);
    g_source_unref(f->src);
    g_main_loop_unref(f->ml);
    g_main_context_unref(f->ctx);
    loom_loop_unref(f->l);
}

struct quit_counter {
    GMainLoop *ml;
    int runs;
    int quit_at;
};

static void count_and_quit(void *opaque)
{
    struct quit_counter *q = opaque;

    if (++q->runs == q->quit_at) {
        g_main_loop_quit(q->ml);
    }
}

static void test_gsource_bh(void)
{
    struct gs_fixture f;
    struct quit_counter q = {.quit_at = 2};
    struct loom_bh *bh;

    gs_setup(&f, "gsource-bh");
    q.ml = f.ml;
    g_assert_cmpint(loom_bh_new(f.l, count_and_quit, &q, "t", &bh), ==, 0);
    loom_bh_schedule(bh);
    g_assert_cmpint(loom_bh_oneshot(f.l, count_and_quit, &q), ==, 0);
    g_main_loop_run(f.ml);
    g_assert_cmpint(q.runs, ==, 2);
    loom_bh_free(bh);
    gs_teardown(&f);
}

static void test_gsource_timer(void)
{
    struct gs_fixture f;
    struct quit_counter q = {.quit_at = 1};
    struct loom_timer *t;
    int64_t start, deadline;

    gs_setup(&f, "gsource-timer");
    q.ml = f.ml;
    g_assert_cmpint(
        loom_timer_new(f.l, LOOM_CLOCK_HOST, count_and_quit, &q, &t), ==, 0);
    start = loom_clock_ns(LOOM_CLOCK_HOST);
    deadline = start + 20 * 1000 * 1000;
    loom_timer_mod(t, deadline);
    g_main_loop_run(f.ml);
    g_assert_cmpint(q.runs, ==, 1);
    /* The context slept on the timer's timeout; never early. */
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_HOST), >=, deadline);
    loom_timer_free(t);
    gs_teardown(&f);
}

struct fd_state {
    GMainLoop *ml;
    int fd;
    int reads;
};

static void fd_read(void *opaque)
{
    struct fd_state *s = opaque;
    uint64_t v;

    g_assert_cmpint(read(s->fd, &v, sizeof(v)), ==, sizeof(v));
    g_assert_cmpuint(v, ==, 5);
    s->reads++;
    g_main_loop_quit(s->ml);
}

static void test_gsource_fd_handler(void)
{
    struct gs_fixture f;
    struct fd_state s = {0};
    struct loom_loop_stats st;
    uint64_t v = 5;

    gs_setup(&f, "gsource-fd");
    s.ml = f.ml;
    s.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(s.fd, >=, 0);
    g_assert_cmpint(
        loom_set_fd_handler(f.l, s.fd, fd_read, NULL, NULL, NULL, &s), ==, 0);
    /* Nothing is ready: one iteration dispatches nothing. */
    g_assert_false(g_main_context_iteration(f.ctx, FALSE));
    g_assert_cmpint(s.reads, ==, 0);
    /* The loop is on epoll while a GSource drives it. */
    loom_loop_stats(f.l, &st);
    g_assert_cmpint(st.fdmon, ==, LOOM_FDMON_EPOLL);
    g_assert_cmpint(write(s.fd, &v, sizeof(v)), ==, sizeof(v));
    g_main_loop_run(f.ml);
    g_assert_cmpint(s.reads, ==, 1);
    g_assert_cmpint(
        loom_set_fd_handler(f.l, s.fd, NULL, NULL, NULL, NULL, NULL), ==, 0);
    close(s.fd);
    gs_teardown(&f);
}

/* A handler whose source signals nothing while in poll mode. */
struct pm_state {
    int fd;
    bool in_mode;
    int pending, taken, ends;
};

static bool pm_poll(void *opaque)
{
    return ((struct pm_state *)opaque)->pending > 0;
}

static void pm_take(void *opaque)
{
    struct pm_state *s = opaque;
    uint64_t v;

    /* Drain the notification, if there is one. */
    (void)!read(s->fd, &v, sizeof(v));
    s->taken += s->pending;
    s->pending = 0;
}

static void pm_begin(void *opaque)
{
    ((struct pm_state *)opaque)->in_mode = true;
}

static void pm_end(void *opaque)
{
    struct pm_state *s = opaque;

    s->in_mode = false;
    s->ends++;
}

/*
 * A handler left in poll mode by a blocking loom_loop_poll(): the GSource
 * must not let the context block on the loop's fd (notifications are
 * off); its dispatch ends poll mode and finds the work.
 */
static void test_gsource_poll_mode(void)
{
    struct gs_fixture f;
    struct pm_state s = {0};

    gs_setup(&f, "gsource-poll-mode");
    s.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(s.fd, >=, 0);
    g_assert_cmpint(
        loom_set_fd_handler(f.l, s.fd, pm_take, NULL, pm_poll, pm_take, &s), ==,
        0);
    g_assert_cmpint(loom_set_fd_poll_hooks(f.l, s.fd, pm_begin, pm_end), ==, 0);
    /* A 10 s window: from 0 it opens at 4 us, then jumps to 10 s. */
    g_assert_cmpint(loom_loop_set_poll_params(f.l, 10000000000LL, 10000000, 1),
                    ==, 0);
    while (!s.in_mode) {
        uint64_t one = 1;

        /* Notified: the first poll waits (the window grows), later ones
         * spin (begin) and find the work. */
        s.pending = 1;
        g_assert_cmpint(write(s.fd, &one, sizeof(one)), ==, sizeof(one));
        loom_loop_poll(f.l, true);
    }
    g_assert_cmpint(s.pending, ==, 0);
    /* Work the handler is not notified of (no eventfd write). */
    s.pending = 1;
    g_assert_true(g_main_context_iteration(f.ctx, TRUE));
    g_assert_false(s.in_mode);
    g_assert_cmpint(s.pending, ==, 0);
    g_assert_cmpint(s.ends, ==, 1);
    g_assert_cmpint(
        loom_set_fd_handler(f.l, s.fd, NULL, NULL, NULL, NULL, NULL), ==, 0);
    close(s.fd);
    gs_teardown(&f);
}

struct remote {
    struct loom_loop *l;
    struct loom_bh *bh;
    struct loom_timer *timer;
};

static void *remote_schedule(void *arg)
{
    struct remote *r = arg;

    /* Let the GMainLoop go to sleep first (not needed for correctness). */
    usleep(20 * 1000);
    loom_bh_schedule(r->bh);
    return NULL;
}

static void *remote_timer(void *arg)
{
    struct remote *r = arg;

    usleep(20 * 1000);
    loom_timer_mod(r->timer, loom_clock_ns(LOOM_CLOCK_HOST));
    return NULL;
}

static void test_gsource_cross_thread(void)
{
    struct gs_fixture f;
    struct quit_counter q = {.quit_at = 1};
    struct remote r;
    pthread_t th;

    gs_setup(&f, "gsource-cross-thread");
    q.ml = f.ml;
    r.l = f.l;
    g_assert_cmpint(loom_bh_new(f.l, count_and_quit, &q, "remote", &r.bh), ==,
                    0);
    /* The context has nothing to do: it sleeps until the BH wakes it. */
    g_assert_cmpint(pthread_create(&th, NULL, remote_schedule, &r), ==, 0);
    g_main_loop_run(f.ml);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_cmpint(q.runs, ==, 1);
    loom_bh_free(r.bh);

    /* Same with a timer armed from the other thread. */
    q.quit_at = 2;
    g_assert_cmpint(
        loom_timer_new(f.l, LOOM_CLOCK_HOST, count_and_quit, &q, &r.timer), ==,
        0);
    g_assert_cmpint(pthread_create(&th, NULL, remote_timer, &r), ==, 0);
    g_main_loop_run(f.ml);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_cmpint(q.runs, ==, 2);
    loom_timer_free(r.timer);
    gs_teardown(&f);
}

static void set_flag(void *opaque)
{
    *(int *)opaque += 1;
}

static void test_gsource_remove(void)
{
    struct loom_loop *l = harness_loop_new();
    GMainContext *ctx = g_main_context_new();
    GSource *src = loom_loop_gsource(l);
    struct loom_loop_stats st;
    enum loom_fdmon initial;
    int ran = 0;

    loom_loop_stats(l, &st);
    initial = st.fdmon;
    if (initial == LOOM_FDMON_EPOLL) {
        /* Start from poll(2) to see the mode come back. */
        g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_POLL), ==, 0);
        initial = LOOM_FDMON_POLL;
    }
    g_source_attach(src, ctx);
    g_assert_cmpint(loom_bh_oneshot(l, set_flag, &ran), ==, 0);
    g_assert_true(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(ran, ==, 1);
    loom_loop_stats(l, &st);
    g_assert_cmpint(st.fdmon, ==, LOOM_FDMON_EPOLL);

    /* Switching away is undone by the next iteration. */
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_POLL), ==, 0);
    g_assert_cmpint(loom_bh_oneshot(l, set_flag, &ran), ==, 0);
    g_assert_true(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(ran, ==, 2);
    loom_loop_stats(l, &st);
    g_assert_cmpint(st.fdmon, ==, LOOM_FDMON_EPOLL);

    /* Removed: the context no longer runs the loop. */
    g_source_destroy(src);
    g_source_unref(src);
    /* Back to the mode it had before the first iteration. */
    loom_loop_stats(l, &st);
    g_assert_cmpint(st.fdmon, ==, initial);
    g_assert_cmpint(loom_bh_oneshot(l, set_flag, &ran), ==, 0);
    g_assert_false(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(ran, ==, 2);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(ran, ==, 3);

    /* The source held a reference: the loop outlives our unref. */
    src = loom_loop_gsource(l);
    g_source_attach(src, ctx);
    loom_loop_unref(l);
    g_source_destroy(src);
    g_source_unref(src);
    g_main_context_unref(ctx);

    g_assert_null(loom_loop_gsource(NULL));
}

struct nest_state {
    struct gs_fixture *f;
    int outer, inner;
    bool glib_ran;
};

static gboolean glib_idle_flag(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

static void nest_inner(void *opaque)
{
    struct nest_state *n = opaque;

    n->inner++;
}

static void nest_outer(void *opaque)
{
    struct nest_state *n = opaque;
    struct gs_fixture *f = n->f;
    GSource *idle;
    int i;

    n->outer++;
    /* Iterate the same context from inside its dispatch of this loop. */
    idle = g_idle_source_new();
    g_source_set_callback(idle, glib_idle_flag, &n->glib_ran, NULL);
    g_source_attach(idle, f->ctx);
    g_source_unref(idle);
    for (i = 0; i < 100 && !n->glib_ran; i++) {
        (void)g_main_context_iteration(f->ctx, FALSE);
    }
    g_assert_true(n->glib_ran);
    /* And poll the loop itself, nested. */
    g_assert_cmpint(loom_bh_oneshot(f->l, nest_inner, n), ==, 0);
    for (i = 0; i < 100 && !n->inner; i++) {
        (void)loom_loop_poll(f->l, false);
    }
    g_assert_cmpint(n->inner, ==, 1);
    g_main_loop_quit(f->ml);
}

static void test_gsource_nested(void)
{
    struct gs_fixture f;
    struct nest_state n = {.f = &f};

    gs_setup(&f, "gsource-nested");
    g_assert_cmpint(loom_bh_oneshot(f.l, nest_outer, &n), ==, 0);
    g_main_loop_run(f.ml);
    g_assert_cmpint(n.outer, ==, 1);
    g_assert_cmpint(n.inner, ==, 1);
    gs_teardown(&f);
}

/* ---- loom_main_use_glib() ---- */

struct main_state {
    int timeouts, idles, io_reads, bhs, toplevel_reads, timers;
    int pipe[2];
    int efd;
};

static gboolean main_timeout_cb(gpointer data)
{
    struct main_state *s = data;

    s->timeouts++;
    return G_SOURCE_REMOVE;
}

static gboolean main_idle_cb(gpointer data)
{
    struct main_state *s = data;

    s->idles++;
    return G_SOURCE_REMOVE;
}

static gboolean main_io_cb(GIOChannel *ch, GIOCondition cond, gpointer data)
{
    struct main_state *s = data;
    char c;

    g_assert_true(cond & G_IO_IN);
    g_assert_cmpint(read(s->pipe[0], &c, 1), ==, 1);
    g_assert_cmpint(c, ==, 'x');
    s->io_reads++;
    return G_SOURCE_CONTINUE;
}

static void main_bh_cb(void *opaque)
{
    struct main_state *s = opaque;

    s->bhs++;
}

static void main_toplevel_read(void *opaque)
{
    struct main_state *s = opaque;
    uint64_t v;

    g_assert_cmpint(read(s->efd, &v, sizeof(v)), ==, sizeof(v));
    s->toplevel_reads++;
}

static void main_timer_cb(void *opaque)
{
    struct main_state *s = opaque;

    s->timers++;
}

static bool main_all_done(const struct main_state *s)
{
    return s->timeouts && s->idles && s->io_reads && s->bhs &&
           s->toplevel_reads && s->timers;
}

static void run_main_until_done(struct main_state *s)
{
    STEP_UNTIL(main_all_done(s), loom_main_loop_wait(false));
}

static void *write_pipe_later(void *arg)
{
    struct main_state *s = arg;

    usleep(20 * 1000);
    g_assert_cmpint(write(s->pipe[1], "x", 1), ==, 1);
    return NULL;
}

static void test_main_dispatches_glib(void)
{
    GMainContext *ctx = g_main_context_new();
    struct main_state s = {0};
    pthread_t th;
    struct loom_timer *t;
    GIOChannel *ch;
    GSource *src;
    guint io_id;
    uint64_t one = 1;

    g_assert_cmpint(loom_main_use_glib(ctx), ==, 0);
    g_assert_cmpint(loom_main_use_glib(ctx), ==, 0); /* same: no-op */
    g_assert_cmpint(pipe(s.pipe), ==, 0);
    s.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(s.efd, >=, 0);

    src = g_timeout_source_new(10);
    g_source_set_callback(src, main_timeout_cb, &s, NULL);
    g_source_attach(src, ctx);
    g_source_unref(src);
    src = g_idle_source_new();
    g_source_set_callback(src, main_idle_cb, &s, NULL);
    g_source_attach(src, ctx);
    g_source_unref(src);
    ch = g_io_channel_unix_new(s.pipe[0]);
    src = g_io_create_watch(ch, G_IO_IN);
    g_source_set_callback(src, (GSourceFunc)(void (*)(void))main_io_cb, &s,
                          NULL);
    io_id = g_source_attach(src, ctx);
    g_source_unref(src);

    /* The main loop's own work, in the same iterations. */
    g_assert_cmpint(loom_bh_oneshot(loom_main_loop(), main_bh_cb, &s), ==, 0);
    g_assert_cmpint(loom_main_set_fd_handler(s.efd, main_toplevel_read, NULL,
                                             &s),
                    ==, 0);
    g_assert_cmpint(write(s.efd, &one, sizeof(one)), ==, sizeof(one));
    g_assert_cmpint(loom_timer_new(loom_main_loop(), LOOM_CLOCK_HOST,
                                   main_timer_cb, &s, &t),
                    ==, 0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST) + 5 * 1000 * 1000);
    g_assert_cmpint(write(s.pipe[1], "x", 1), ==, 1);

    run_main_until_done(&s);
    g_assert_cmpint(s.idles, ==, 1);
    g_assert_cmpint(s.io_reads, ==, 1);
    g_assert_cmpint(s.toplevel_reads, ==, 1);

    /*
     * Nothing else to do: the main loop sleeps in its own wait until
     * another thread makes GLib's fd ready.
     */
    g_assert_cmpint(pthread_create(&th, NULL, write_pipe_later, &s), ==, 0);
    STEP_UNTIL(s.io_reads >= 2, loom_main_loop_wait(false));
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);

    g_source_destroy(g_main_context_find_source_by_id(ctx, io_id));
    g_io_channel_unref(ch);
    g_assert_cmpint(loom_main_set_fd_handler(s.efd, NULL, NULL, NULL), ==, 0);
    loom_timer_free(t);
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0); /* already off */
    close(s.pipe[0]);
    close(s.pipe[1]);
    close(s.efd);
    g_main_context_unref(ctx);
}

static gboolean count_idle(gpointer data)
{
    (*(int *)data)++;
    return G_SOURCE_REMOVE;
}

static void add_idle(GMainContext *ctx, int *counter)
{
    GSource *src = g_idle_source_new();

    g_source_set_callback(src, count_idle, counter, NULL);
    g_source_attach(src, ctx);
    g_source_unref(src);
}

static void test_main_stop(void)
{
    GMainContext *ctx = g_main_context_new();
    GMainContext *ctx2 = g_main_context_new();
    int runs = 0, runs2 = 0;

    g_assert_cmpint(loom_main_use_glib(ctx), ==, 0);
    add_idle(ctx, &runs);
    while (!runs) {
        (void)loom_main_loop_wait(false);
    }
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    add_idle(ctx, &runs);
    /* Stopped: the main loop no longer dispatches ctx's sources. */
    (void)loom_main_loop_wait(true);
    (void)loom_main_loop_wait(true);
    g_assert_cmpint(runs, ==, 1);
    /* ... and ctx is free for others. */
    g_assert_true(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(runs, ==, 2);

    /* Replacing a context with another stops the first. */
    g_assert_cmpint(loom_main_use_glib(ctx), ==, 0);
    g_assert_cmpint(loom_main_use_glib(ctx2), ==, 0);
    add_idle(ctx, &runs);
    add_idle(ctx2, &runs2);
    while (!runs2) {
        (void)loom_main_loop_wait(false);
    }
    (void)loom_main_loop_wait(true);
    g_assert_cmpint(runs, ==, 2);
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    g_assert_true(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(runs, ==, 3);
    g_main_context_unref(ctx);
    g_main_context_unref(ctx2);
}

struct main_nest {
    GMainContext *ctx;
    int depth_max, depth, inner_idles, bhs;
    bool stop_in_glib, stopped;
};

static void main_nest_bh(void *opaque)
{
    struct main_nest *n = opaque;

    n->bhs++;
}

static gboolean main_nest_inner_idle(gpointer data)
{
    struct main_nest *n = data;

    n->inner_idles++;
    return G_SOURCE_REMOVE;
}

static gboolean main_nest_idle(gpointer data)
{
    struct main_nest *n = data;
    GSource *src;
    int i;

    n->depth++;
    /* Nested main-loop waits run GLib sources and loom BHs. */
    src = g_idle_source_new();
    g_source_set_callback(src, main_nest_inner_idle, n, NULL);
    g_source_attach(src, n->ctx);
    g_source_unref(src);
    g_assert_cmpint(loom_bh_oneshot(loom_main_loop(), main_nest_bh, n), ==, 0);
    for (i = 0; i < 100 && (!n->inner_idles || !n->bhs); i++) {
        (void)loom_main_loop_wait(true);
    }
    g_assert_cmpint(n->inner_idles, ==, 1);
    g_assert_cmpint(n->bhs, ==, 1);
    /* A nested loom_loop_poll of the main loop, too. */
    (void)loom_loop_poll(loom_main_loop(), false);
    if (n->stop_in_glib) {
        g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
        n->stopped = true;
    }
    n->depth--;
    return G_SOURCE_REMOVE;
}

static void run_nest(bool stop_in_glib)
{
    struct main_nest n = {
        .ctx = g_main_context_new(),
        .stop_in_glib = stop_in_glib,
    };
    GSource *src = g_idle_source_new();
    int i;

    g_assert_cmpint(loom_main_use_glib(n.ctx), ==, 0);
    g_source_set_callback(src, main_nest_idle, &n, NULL);
    g_source_attach(src, n.ctx);
    g_source_unref(src);
    for (i = 0; i < 100 && !(n.inner_idles && n.bhs && !n.depth); i++) {
        (void)loom_main_loop_wait(false);
    }
    g_assert_cmpint(n.inner_idles, ==, 1);
    g_assert_cmpint(n.bhs, ==, 1);
    g_assert_cmpint(n.stopped, ==, stop_in_glib);
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    /* Every acquisition was released: another thread-free acquire works. */
    g_assert_true(g_main_context_acquire(n.ctx));
    g_main_context_release(n.ctx);
    g_main_context_unref(n.ctx);
}

static void test_main_nested(void)
{
    run_nest(false);
    run_nest(true);
}

static void stop_bh(void *opaque)
{
    /* Runs between the main loop's prepare and check of GLib. */
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    *(int *)opaque += 1;
}

static void test_main_stop_in_wait(void)
{
    GMainContext *ctx = g_main_context_new();
    int stops = 0, idles = 0;

    g_assert_cmpint(loom_main_use_glib(ctx), ==, 0);
    g_assert_cmpint(loom_bh_oneshot(loom_main_loop(), stop_bh, &stops), ==, 0);
    add_idle(ctx, &idles);
    g_assert_true(loom_main_loop_wait(false));
    g_assert_cmpint(stops, ==, 1);
    /* Stopped before GLib's check: the idle did not run ... */
    (void)loom_main_loop_wait(true);
    g_assert_cmpint(idles, ==, 0);
    /* ... and the context was released. */
    g_assert_true(g_main_context_iteration(ctx, FALSE));
    g_assert_cmpint(idles, ==, 1);
    g_main_context_unref(ctx);
}

static void *acquire_elsewhere(void *arg)
{
    GMainContext *ctx = arg;
    bool ok = g_main_context_acquire(ctx);

    if (ok) {
        g_main_context_release(ctx);
    }
    return GINT_TO_POINTER(ok);
}

static void test_main_releases_ctx(void)
{
    GMainContext *ctx = g_main_context_new();
    pthread_t th;
    void *ok;

    g_assert_cmpint(loom_main_use_glib(ctx), ==, 0);
    (void)loom_main_loop_wait(true);
    /* Between waits the context is not held: another thread may run it. */
    g_assert_cmpint(pthread_create(&th, NULL, acquire_elsewhere, ctx), ==, 0);
    g_assert_cmpint(pthread_join(th, &ok), ==, 0);
    g_assert_true(GPOINTER_TO_INT(ok));
    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    g_main_context_unref(ctx);
}

struct owner {
    GMainContext *ctx;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool owned, release;
};

static void *own_ctx(void *arg)
{
    struct owner *o = arg;

    g_assert_true(g_main_context_acquire(o->ctx));
    pthread_mutex_lock(&o->lock);
    o->owned = true;
    pthread_cond_broadcast(&o->cond);
    while (!o->release) {
        pthread_cond_wait(&o->cond, &o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    g_main_context_release(o->ctx);
    return NULL;
}

static gboolean count_io(GIOChannel *ch, GIOCondition cond, gpointer data)
{
    (*(int *)data)++;
    return G_SOURCE_CONTINUE;
}

static void timer_flag(void *opaque)
{
    *(bool *)opaque = true;
}

static void test_main_ctx_owned_elsewhere(void)
{
    struct owner o = {
        .ctx = g_main_context_new(),
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .cond = PTHREAD_COND_INITIALIZER,
    };
    struct loom_timer *t;
    GIOChannel *ch;
    GSource *src;
    int p[2], ios = 0, waits = 0;
    bool fired = false;
    pthread_t th;

    g_assert_cmpint(pipe(p), ==, 0);
    ch = g_io_channel_unix_new(p[0]);
    src = g_io_create_watch(ch, G_IO_IN);
    g_source_set_callback(src, (GSourceFunc)(void (*)(void))count_io, &ios,
                          NULL);
    g_source_attach(src, o.ctx);
    g_assert_cmpint(loom_main_use_glib(o.ctx), ==, 0);
    /* One wait with the context free: its fds are watched. */
    (void)loom_main_loop_wait(true);

    g_assert_cmpint(pthread_create(&th, NULL, own_ctx, &o), ==, 0);
    pthread_mutex_lock(&o.lock);
    while (!o.owned) {
        pthread_cond_wait(&o.cond, &o.lock);
    }
    pthread_mutex_unlock(&o.lock);

    /*
     * The watched fd becomes ready while another thread owns the context:
     * the main loop neither dispatches it nor keeps waking up for it.
     */
    g_assert_cmpint(write(p[1], "x", 1), ==, 1);
    g_assert_cmpint(loom_timer_new(loom_main_loop(), LOOM_CLOCK_HOST,
                                   timer_flag, &fired, &t),
                    ==, 0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST) + 30 * 1000 * 1000);
    while (!fired) {
        (void)loom_main_loop_wait(false);
        waits++;
    }
    g_assert_cmpint(ios, ==, 0);
    /* The first wait may still see the fd registered earlier. */
    g_assert_cmpint(waits, <=, 3);

    pthread_mutex_lock(&o.lock);
    o.release = true;
    pthread_cond_broadcast(&o.cond);
    pthread_mutex_unlock(&o.lock);
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    /* Free again: the next waits dispatch it. */
    while (!ios) {
        (void)loom_main_loop_wait(false);
    }

    g_assert_cmpint(loom_main_use_glib(NULL), ==, 0);
    loom_timer_free(t);
    g_source_destroy(src);
    g_source_unref(src);
    g_io_channel_unref(ch);
    close(p[0]);
    close(p[1]);
    g_main_context_unref(o.ctx);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    g_assert_cmpint(loom_main_use_glib(NULL), ==, -EINVAL);
    g_assert_cmpint(loom_main_init(), ==, 0);
    g_test_add_func("/glib/gsource/bh", test_gsource_bh);
    g_test_add_func("/glib/gsource/timer", test_gsource_timer);
    g_test_add_func("/glib/gsource/fd-handler", test_gsource_fd_handler);
    g_test_add_func("/glib/gsource/poll-mode", test_gsource_poll_mode);
    g_test_add_func("/glib/gsource/cross-thread", test_gsource_cross_thread);
    g_test_add_func("/glib/gsource/remove", test_gsource_remove);
    g_test_add_func("/glib/gsource/nested", test_gsource_nested);
    g_test_add_func("/glib/main/dispatches-glib", test_main_dispatches_glib);
    g_test_add_func("/glib/main/stop", test_main_stop);
    g_test_add_func("/glib/main/nested", test_main_nested);
    g_test_add_func("/glib/main/stop-in-wait", test_main_stop_in_wait);
    g_test_add_func("/glib/main/releases-ctx", test_main_releases_ctx);
    g_test_add_func("/glib/main/ctx-owned-elsewhere",
                    test_main_ctx_owned_elsewhere);
    ret = g_test_run();
    loom_main_cleanup();
    return ret;
}
