/* SPDX-License-Identifier: MIT */
/*
 * Adaptive polling (loom_loop_set_poll_params()): a cross-thread
 * ping-pong over a notifier records poll hits and a grown window (none of
 * it with max_ns 0); on_poll_ready runs exactly when on_poll returned
 * true; a handler without on_poll disables polling; the window shrinks
 * after a long sleep, and at 0 tries the initial window again after a
 * run of long sleeps; a BH scheduled from another thread ends a long spin
 * without a syscall; timers fire on time (never early) while polling; a
 * due BH skips polling; a handler running further up the stack is not
 * polled by a nested poll.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"
#include "loop/loop-priv.h"
#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/notifier.h>
#include <loom/timer.h>

#define MS (1000LL * 1000)
#define SEC (1000LL * MS)
#define PINGS 2000

static void stats(struct loom_loop *l, struct loom_loop_stats *st)
{
    loom_loop_stats(l, st);
}

static int64_t poll_ns(struct loom_loop *l)
{
    struct loom_loop_stats st;

    stats(l, &st);
    return st.poll_ns;
}

static void flag_cb(void *opaque)
{
    __atomic_store_n((int *)opaque, 1, __ATOMIC_RELEASE);
}

/* A timer that sets *@fired in @ns. */
static struct loom_timer *arm_flag(struct loom_loop *l, int64_t ns, int *fired)
{
    struct loom_timer *t;

    *fired = 0;
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, flag_cb, fired, &t), ==,
                    0);
    loom_timer_mod_ns(t, ns);
    return t;
}

/* One blocking poll that sleeps for about @ns (a timer wakes it). */
static void sleep_poll(struct loom_loop *l, int64_t ns)
{
    int fired;
    struct loom_timer *t = arm_flag(l, ns, &fired);

    while (!fired) {
        loom_loop_poll(l, true);
    }
    loom_timer_free(t);
}

/*
 * Make the window non-zero: a short sleep (within max_ns) grows it from 0.
 * A sleep stretched past max_ns by preemption may shrink it: retry.
 */
static void grow_window(struct loom_loop *l, int64_t at_least)
{
    int i;

    for (i = 0; i < 10000 && poll_ns(l) < at_least; i++) {
        sleep_poll(l, 50 * 1000);
    }
    g_assert_cmpint(poll_ns(l), >=, at_least);
}

/* ------------------------------------------------------------------ */
/* Ping-pong over a notifier: B produces into a "ring", A consumes. */

struct pp {
    struct loom_notifier n; /* first: callbacks get &n and cast back */
    struct loom_loop *l;
    unsigned long produced; /* atomic: written by B */
    unsigned long consumed; /* atomic: written by A (home) */
    unsigned long polls, poll_true, poll_ready, events; /* home only */
    int bad;                                            /* home only */
};

static bool pp_poll(void *opaque)
{
    struct pp *p = (struct pp *)((struct loom_notifier *)opaque);

    p->polls++;
    /* Pairs with the release store in pp_thread(). */
    if (__atomic_load_n(&p->produced, __ATOMIC_ACQUIRE) != p->consumed) {
        p->poll_true++;
        return true;
    }
    return false;
}

static void pp_consume(struct pp *p)
{
    /* Pairs with the release store in pp_thread(). */
    unsigned long prod = __atomic_load_n(&p->produced, __ATOMIC_ACQUIRE);

    if (prod != p->consumed && prod != p->consumed + 1) {
        p->bad++;
    }
    /* Pairs with the acquire load in pp_thread(). */
    __atomic_store_n(&p->consumed, prod, __ATOMIC_RELEASE);
}

static void pp_ready(struct loom_notifier *n)
{
    struct pp *p = (struct pp *)n;

    p->poll_ready++;
    pp_consume(p);
}

static void pp_event(struct loom_notifier *n)
{
    struct pp *p = (struct pp *)n;

    loom_notifier_test_and_clear(n);
    p->events++;
    pp_consume(p);
}

static void *pp_thread(void *opaque)
{
    struct pp *p = opaque;
    unsigned long i;

    for (i = 1; i <= PINGS; i++) {
        /* Pairs with the acquire loads in pp_poll() and pp_consume(). */
        __atomic_store_n(&p->produced, i, __ATOMIC_RELEASE);
        g_assert_cmpint(loom_notifier_set(&p->n), ==, 0);
        /* Pairs with the release store in pp_consume(). */
        while (__atomic_load_n(&p->consumed, __ATOMIC_ACQUIRE) != i) {
            sched_yield();
        }
    }
    return NULL;
}

static void run_pingpong(int64_t max_ns, struct pp *p,
                         struct loom_loop_stats *st)
{
    pthread_t th;

    p->l = harness_loop_new();
    g_assert_cmpint(loom_loop_set_poll_params(p->l, max_ns, 2, 1), ==, 0);
    g_assert_cmpint(loom_notifier_init(&p->n, false), ==, 0);
    g_assert_cmpint(
        loom_set_notifier_handler(p->l, &p->n, pp_event, pp_poll, pp_ready), ==,
        0);
    g_assert_cmpint(pthread_create(&th, NULL, pp_thread, p), ==, 0);
    while (__atomic_load_n(&p->consumed, __ATOMIC_RELAXED) != PINGS) {
        loom_loop_poll(p->l, true);
    }
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    stats(p->l, st);
    g_assert_cmpint(loom_set_notifier_handler(p->l, &p->n, NULL, NULL, NULL),
                    ==, 0);
    loom_notifier_cleanup(&p->n);
    loom_loop_unref(p->l);
    g_assert_cmpint(p->bad, ==, 0);
}

static void test_pingpong_stats(void)
{
    struct pp *p = calloc(1, sizeof(*p));
    struct loom_loop_stats st;

    run_pingpong(500 * 1000, p, &st);
    g_assert_cmpuint(st.poll_hits, >, 0);
    g_assert_cmpint(st.poll_ns, >, 0);
    g_assert_cmpint(st.poll_ns, <=, 500 * 1000);
    g_assert_cmpuint(p->poll_ready, >, 0);
    g_assert_cmpuint(p->poll_ready, ==, p->poll_true);
    g_assert_cmpuint(p->poll_ready + p->events, >=, PINGS);
    free(p);

    p = calloc(1, sizeof(*p));
    run_pingpong(0, p, &st);
    g_assert_cmpuint(st.poll_hits, ==, 0);
    g_assert_cmpuint(st.poll_misses, ==, 0);
    g_assert_cmpint(st.poll_ns, ==, 0);
    g_assert_cmpuint(p->polls, ==, 0);
    g_assert_cmpuint(p->poll_ready, ==, 0);
    g_assert_cmpuint(p->events, >=, 1);
    free(p);
}

/* ------------------------------------------------------------------ */
/* A poll-only handler with a scripted on_poll. */

struct ph {
    int fd;
    unsigned long calls, trues, readies;
    unsigned every; /* on_poll returns true every this many calls */
    int *spinning;  /* if set: stored 1 on each call (atomic) */
};

static bool ph_poll(void *opaque)
{
    struct ph *h = opaque;

    h->calls++;
    if (h->spinning) {
        /* Pairs with the acquire load in spin_waiter(). */
        __atomic_store_n(h->spinning, 1, __ATOMIC_RELEASE);
    }
    if (h->every && h->calls % h->every == 0) {
        h->trues++;
        return true;
    }
    return false;
}

static void ph_ready(void *opaque)
{
    ((struct ph *)opaque)->readies++;
}

static void ph_add(struct loom_loop *l, struct ph *h)
{
    h->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(h->fd, >=, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, h->fd, NULL, NULL, ph_poll, ph_ready, h), ==, 0);
}

static void ph_del(struct loom_loop *l, struct ph *h)
{
    g_assert_cmpint(loom_set_fd_handler(l, h->fd, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    close(h->fd);
}

/* on_poll_ready runs once per true on_poll, never otherwise. */
static void test_ready_exactly(void)
{
    struct loom_loop *l = harness_loop_new();
    struct ph h = {.every = 3};
    struct loom_loop_stats st;
    int i;

    g_assert_cmpint(loom_loop_set_poll_params(l, 10 * MS, 2, 1), ==, 0);
    ph_add(l, &h);
    grow_window(l, 1);
    for (i = 0; i < 200; i++) {
        /* A timer bounds each poll in case a window passes without a hit. */
        sleep_poll(l, 200 * 1000);
        g_assert_cmpuint(h.readies, ==, h.trues);
    }
    stats(l, &st);
    g_assert_cmpuint(h.trues, >, 0);
    g_assert_cmpuint(st.poll_hits, >=, 1);
    g_assert_cmpuint(h.calls, >=, h.trues * 3);
    ph_del(l, &h);
    loom_loop_unref(l);
}

static void nop_cb(void *opaque)
{
}

/* A registered handler without on_poll disables polling. */
static void test_disabled_by_handler(void)
{
    struct loom_loop *l = harness_loop_new();
    struct ph h = {.every = 0};
    struct loom_loop_stats st;
    int fds[2], i;

    g_assert_cmpint(loom_loop_set_poll_params(l, 10 * MS, 2, 1), ==, 0);
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], nop_cb, NULL, NULL, NULL, NULL), ==, 0);
    ph_add(l, &h);
    for (i = 0; i < 20; i++) {
        sleep_poll(l, 50 * 1000);
    }
    stats(l, &st);
    g_assert_cmpuint(h.calls, ==, 0);
    g_assert_cmpuint(st.poll_hits + st.poll_misses, ==, 0);
    g_assert_cmpint(st.poll_ns, ==, 0);

    /* Giving the handler an on_poll enables polling again. */
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], nop_cb, NULL, ph_poll, NULL, &h), ==, 0);
    grow_window(l, 1);
    sleep_poll(l, 50 * 1000);
    g_assert_cmpuint(h.calls, >, 0);

    /* And removing it again disables it. */
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], nop_cb, NULL, NULL, NULL, NULL), ==, 0);
    h.calls = 0;
    sleep_poll(l, 50 * 1000);
    g_assert_cmpuint(h.calls, ==, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], NULL, NULL, NULL, NULL, NULL), ==, 0);
    close(fds[0]);
    close(fds[1]);
    ph_del(l, &h);
    loom_loop_unref(l);
}

/*
 * One blocking poll that a timer ends after @ns; false if the wait ended
 * early (a spurious wake-up, which may grow the window).
 */
static bool one_wait(struct loom_loop *l, int64_t ns)
{
    int fired;
    struct loom_timer *t = arm_flag(l, ns, &fired);

    loom_loop_poll(l, true);
    loom_timer_free(t);
    return fired;
}

/*
 * A window at 0 is tried again (unlike QEMU): after LOOP_POLL_PROBE_MISSES
 * waits in a row longer than max_ns, the next one spins the initial
 * window, and a miss resets it.  Without the probe a thread whose wake-up
 * takes longer than max_ns never polls again.
 */
static void test_probe(void)
{
    struct loom_loop *l = harness_loop_new();
    bool clean = false;
    int attempt, i;

    g_assert_cmpint(loom_loop_set_poll_params(l, 200 * 1000, 2, 0), ==, 0);
    /* A spurious early wake-up grows the window: start the run again. */
    for (attempt = 0; attempt < 5 && !clean; attempt++) {
        while (poll_ns(l) != 0) {
            (void)one_wait(l, 2 * MS);
        }
        clean = true;
        for (i = 1; clean && i < (int)LOOP_POLL_PROBE_MISSES; i++) {
            clean = one_wait(l, 2 * MS) && poll_ns(l) == 0;
        }
        clean =
            clean && one_wait(l, 2 * MS) && poll_ns(l) == LOOP_POLL_INITIAL_NS;
        /* The probe spins 4 us, misses, and the window is 0 again. */
        clean = clean && one_wait(l, 2 * MS) && poll_ns(l) == 0;
    }
    g_assert_true(clean);
    loom_loop_unref(l);
}

/* A sleep longer than max_ns divides the window by shrink (0: resets). */
static void test_shrink(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st;
    int64_t cur;

    /* No handler at all: polling watches for BHs and notifications. */
    g_assert_cmpint(loom_loop_set_poll_params(l, 2 * MS, 4, 2), ==, 0);
    grow_window(l, 16 * 1000);
    cur = poll_ns(l);
    sleep_poll(l, 20 * MS);
    g_assert_cmpint(poll_ns(l), ==, cur / 2);
    stats(l, &st);
    g_assert_cmpuint(st.poll_misses, >=, 1);

    g_assert_cmpint(loom_loop_set_poll_params(l, 2 * MS, 4, 0), ==, 0);
    g_assert_cmpint(poll_ns(l), >, 0);
    sleep_poll(l, 20 * MS);
    g_assert_cmpint(poll_ns(l), ==, 0);

    /* A lower maximum caps the window; 0 turns polling off. */
    grow_window(l, 16 * 1000);
    g_assert_cmpint(loom_loop_set_poll_params(l, 1000, 4, 0), ==, 0);
    g_assert_cmpint(poll_ns(l), <=, 1000);
    g_assert_cmpint(loom_loop_set_poll_params(l, 0, 4, 0), ==, 0);
    g_assert_cmpint(poll_ns(l), ==, 0);
    stats(l, &st);
    sleep_poll(l, 50 * 1000);
    {
        struct loom_loop_stats st2;

        stats(l, &st2);
        g_assert_cmpuint(st2.poll_hits, ==, st.poll_hits);
        g_assert_cmpuint(st2.poll_misses, ==, st.poll_misses);
    }
    g_assert_cmpint(loom_loop_set_poll_params(l, 1, -1, 0), ==, -EINVAL);
    g_assert_cmpint(loom_loop_set_poll_params(l, 1, 0, -1), ==, -EINVAL);
    loom_loop_unref(l);
}

/*
 * A window of 4 s: grow once from 0 (to 4 us), then by a factor that
 * jumps to the maximum.
 */
static void long_window(struct loom_loop *l)
{
    g_assert_cmpint(loom_loop_set_poll_params(l, 4 * SEC, 1000000, 1), ==, 0);
    grow_window(l, 4 * SEC);
}

struct waiter {
    struct loom_bh *bh;
    int spinning; /* atomic */
    int ran;      /* atomic */
};

static void *spin_waiter(void *opaque)
{
    struct waiter *w = opaque;

    /* Pairs with the release store in ph_poll(). */
    while (!__atomic_load_n(&w->spinning, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
    loom_bh_schedule(w->bh);
    return NULL;
}

/* A BH scheduled from another thread during the spin ends it at once. */
static void test_bh_ends_spin(void)
{
    struct loom_loop *l = harness_loop_new();
    struct waiter w = {0};
    struct ph h = {.spinning = &w.spinning};
    struct loom_loop_stats st0, st;
    pthread_t th;
    int64_t t0;
    int round;

    ph_add(l, &h);
    long_window(l);
    g_assert_cmpint(loom_bh_new(l, flag_cb, &w.ran, "wake", &w.bh), ==, 0);
    for (round = 0; round < 20; round++) {
        __atomic_store_n(&w.spinning, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&w.ran, 0, __ATOMIC_RELAXED);
        stats(l, &st0);
        g_assert_cmpint(pthread_create(&th, NULL, spin_waiter, &w), ==, 0);
        t0 = harness_now_ns();
        /* Pairs with the release store in flag_cb(). */
        while (!__atomic_load_n(&w.ran, __ATOMIC_ACQUIRE)) {
            loom_loop_poll(l, true);
            /* Watchdog: far less than the 4 s window. */
            g_assert_cmpint(harness_now_ns() - t0, <, 2 * SEC);
        }
        g_assert_cmpint(pthread_join(th, NULL), ==, 0);
        stats(l, &st);
        g_assert_cmpuint(st.poll_hits, >, st0.poll_hits);
        /* Scheduled while the loop spun: no syscall. */
        g_assert_cmpuint(st.notify_sent, ==, st0.notify_sent);
        g_assert_cmpuint(st.notify_skipped, >, st0.notify_skipped);
    }
    loom_bh_free(w.bh);
    ph_del(l, &h);
    loom_loop_unref(l);
}

/* Timers bound the spin: they fire on time (never early) while polling. */
static void test_timer_while_polling(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st0, st;
    struct loom_timer *t;
    int64_t t0, dt;
    int fired = 0, round;

    long_window(l);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, flag_cb, &fired, &t), ==,
                    0);
    for (round = 0; round < 5; round++) {
        fired = 0;
        stats(l, &st0);
        t0 = loom_clock_ns(LOOM_CLOCK_HOST);
        loom_timer_mod(t, t0 + 20 * MS);
        while (!fired) {
            loom_loop_poll(l, true);
            g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_HOST) - t0, <, 2 * SEC);
        }
        dt = loom_clock_ns(LOOM_CLOCK_HOST) - t0;
        g_assert_cmpint(dt, >=, 20 * MS);
        stats(l, &st);
        g_assert_cmpuint(st.poll_misses, >, st0.poll_misses);
    }
    loom_timer_free(t);
    loom_loop_unref(l);
}

/* A BH (or timer) due now skips polling altogether. */
static void test_due_work_skips(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st0, st;
    struct ph h = {.every = 0};
    int ran = 0;

    ph_add(l, &h);
    long_window(l);
    stats(l, &st0);
    h.calls = 0;
    g_assert_cmpint(loom_bh_oneshot(l, flag_cb, &ran), ==, 0);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(ran, ==, 1);
    stats(l, &st);
    g_assert_cmpuint(h.calls, ==, 0);
    g_assert_cmpuint(st.poll_hits, ==, st0.poll_hits);
    g_assert_cmpuint(st.poll_misses, ==, st0.poll_misses);
    /* Non-blocking polls never spin either. */
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpuint(h.calls, ==, 0);
    ph_del(l, &h);
    loom_loop_unref(l);
}

/* ------------------------------------------------------------------ */
/* Nested polls do not poll a handler whose callback is running. */

struct nest {
    struct loom_notifier n; /* first: callbacks get &n and cast back */
    struct loom_loop *l;
    struct ph *other;
    unsigned long nested_polls, other_before, other_in_nested, runs;
    bool armed;
    int depth;
};

static bool nest_poll(void *opaque)
{
    struct nest *x = (struct nest *)((struct loom_notifier *)opaque);

    if (x->depth) {
        x->nested_polls++;
    }
    return x->armed;
}

/* on_event and on_poll_ready: run a nested poll. */
static void nest_event(struct loom_notifier *n)
{
    struct nest *x = (struct nest *)n;

    x->armed = false;
    x->runs++;
    x->depth++;
    x->other_before = x->other->calls;
    /* Spins (4 s window) until the timer ends it. */
    sleep_poll(x->l, 5 * MS);
    x->other_in_nested = x->other->calls - x->other_before;
    x->depth--;
}

static void test_nested_skips_running(void)
{
    struct loom_loop *l = harness_loop_new();
    struct ph other = {.every = 0};
    struct nest *x = calloc(1, sizeof(*x));

    x->l = l;
    x->other = &other;
    g_assert_cmpint(loom_notifier_init(&x->n, false), ==, 0);
    g_assert_cmpint(
        loom_set_notifier_handler(l, &x->n, nest_event, nest_poll, nest_event),
        ==, 0);
    ph_add(l, &other);
    long_window(l);
    /* The spin finds it; its on_poll_ready runs the nested poll. */
    x->armed = true;
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpuint(x->runs, ==, 1);
    g_assert_cmpint(x->depth, ==, 0);
    g_assert_cmpuint(x->nested_polls, ==, 0);
    g_assert_cmpuint(x->other_in_nested, >, 0);
    g_assert_cmpint(loom_set_notifier_handler(l, &x->n, NULL, NULL, NULL), ==,
                    0);
    loom_notifier_cleanup(&x->n);
    ph_del(l, &other);
    loom_loop_unref(l);
    free(x);
}

/* ------------------------------------------------------------------ */
/*
 * Poll mode hooks (loom_set_fd_poll_hooks()).  A handler that plays a
 * virtqueue: begin turns its "notifications" off, end turns them on;
 * on_poll reports pending work, on_poll_ready takes it.  The hooks assert
 * that they alternate, starting with begin.
 */

struct pm {
    struct loom_notifier n; /* first: notifier callbacks cast back */
    int fd;                 /* fd handlers: an eventfd */
    bool in_mode;           /* between begin and end */
    unsigned begins, ends, readies, events;
    unsigned long polls, polls_at_end;
    unsigned work;        /* pending items */
    unsigned add_in_end;  /* items end adds before it returns */
    bool remove_in_end;   /* end removes another handler */
    struct loom_bh *bh_in_end; /* end schedules it, once */
    struct pm *victim;
    struct loom_loop *l;
};

static bool pm_poll(void *opaque)
{
    struct pm *p = opaque;

    p->polls++;
    return p->work > 0;
}

static void pm_ready(void *opaque)
{
    struct pm *p = opaque;

    p->readies++;
    p->work = 0;
}

static void pm_read(void *opaque)
{
    struct pm *p = opaque;
    uint64_t v;

    g_assert_cmpint(read(p->fd, &v, sizeof(v)), ==, (ssize_t)sizeof(v));
    p->events++;
    p->work = 0;
}

static void pm_begin(void *opaque)
{
    struct pm *p = opaque;

    g_assert_false(p->in_mode);
    p->in_mode = true;
    p->begins++;
}

static void pm_del(struct pm *p);

static void pm_end(void *opaque)
{
    struct pm *p = opaque;

    g_assert_true(p->in_mode);
    p->in_mode = false;
    p->ends++;
    p->polls_at_end = p->polls;
    /* Work that arrives while notifications are still off. */
    p->work += p->add_in_end;
    p->add_in_end = 0;
    if (p->remove_in_end && p->victim) {
        pm_del(p->victim);
        p->victim = NULL;
    }
    if (p->bh_in_end) {
        loom_bh_schedule(p->bh_in_end);
        p->bh_in_end = NULL;
    }
}

/* An eventfd handler with on_poll and, if @hooks, poll mode hooks. */
static void pm_add(struct loom_loop *l, struct pm *p, bool hooks)
{
    p->l = l;
    p->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(p->fd, >=, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, p->fd, pm_read, NULL, pm_poll, pm_ready, p), ==,
        0);
    if (hooks) {
        g_assert_cmpint(loom_set_fd_poll_hooks(l, p->fd, pm_begin, pm_end), ==,
                        0);
    }
}

static void pm_del(struct pm *p)
{
    g_assert_cmpint(
        loom_set_fd_handler(p->l, p->fd, NULL, NULL, NULL, NULL, NULL), ==, 0);
    close(p->fd);
    p->fd = -1;
}

/* Out of poll mode, counters zeroed (after growing a window). */
static void pm_settle(struct pm *p)
{
    g_assert_false(loom_loop_poll(p->l, false));
    g_assert_false(p->in_mode);
    p->begins = p->ends = p->readies = p->events = 0;
    p->polls = p->polls_at_end = 0;
}

/* A loop whose busy-poll window is open (>= 4 us, at most @max_ns). */
static struct loom_loop *pm_loop(int64_t max_ns)
{
    struct loom_loop *l = harness_loop_new();

    g_assert_cmpint(loom_loop_set_poll_params(l, max_ns, 2, 1), ==, 0);
    grow_window(l, 1);
    return l;
}

/*
 * A blocking poll that must not sleep: a far timer fails the test if it
 * does (the wait would otherwise be endless).
 */
static bool poll_no_sleep(struct loom_loop *l)
{
    struct loom_timer *t;
    int fired = 0;
    bool progress;

    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, flag_cb, &fired, &t), ==,
                    0);
    loom_timer_mod_ns(t, 10 * SEC);
    progress = loom_loop_poll(l, true);
    g_assert_cmpint(fired, ==, 0);
    loom_timer_free(t);
    return progress;
}

/*
 * Begin when a window starts, end before a non-blocking poll returns,
 * then on_poll once more; begin and end alternate.
 */
static void test_mode_begin_end(void)
{
    struct loom_loop *l = pm_loop(200 * 1000);
    struct pm p = {0};
    unsigned i;

    pm_add(l, &p, true);
    for (i = 0; i < 20; i++) {
        /* Spins (begin) until the timer is due. */
        sleep_poll(l, 100 * 1000);
        g_assert_cmpuint(p.begins, >=, 1);
        g_assert_cmpuint(p.begins - p.ends, <=, 1);
        g_assert_false(loom_loop_poll(l, false));
        g_assert_false(p.in_mode);
        g_assert_cmpuint(p.begins, ==, p.ends);
        /* "Poll one last time" after end. */
        g_assert_cmpuint(p.polls, >, p.polls_at_end);
    }
    g_assert_cmpuint(p.readies, ==, 0);
    pm_del(&p);
    loom_loop_unref(l);
}

/*
 * Work that arrives while end runs (notifications not yet back on) is
 * found by the last on_poll: dispatched in the same iteration, which
 * does not sleep; after a window that missed, and in a non-blocking poll.
 */
static void test_mode_last_poll(void)
{
    struct loom_loop *l = pm_loop(100 * 1000);
    struct pm p = {0};
    unsigned i, ends;

    pm_add(l, &p, true);
    for (i = 0; i < 20; i++) {
        ends = p.ends;
        p.add_in_end = 1;
        /* Begin (if not in poll mode yet), spin, miss, end, last poll. */
        g_assert_true(poll_no_sleep(l));
        g_assert_cmpuint(p.ends, ==, ends + 1);
        g_assert_cmpuint(p.readies, ==, i + 1);
        g_assert_cmpuint(p.work, ==, 0);
    }
    /* Non-blocking. */
    sleep_poll(l, 50 * 1000);
    if (!p.in_mode) {
        /* The window missed before the timer: in poll mode again. */
        p.work = 1;
        g_assert_true(poll_no_sleep(l));
    }
    g_assert_true(p.in_mode);
    p.add_in_end = 1;
    g_assert_true(loom_loop_poll(l, false));
    g_assert_false(p.in_mode);
    g_assert_cmpuint(p.work, ==, 0);
    g_assert_cmpuint(p.events, ==, 0);
    pm_del(&p);
    loom_loop_unref(l);
}

static void oneshot_nop(void *opaque)
{
    (*(int *)opaque)++;
}

/*
 * While windows keep finding work, or work is due, the handler stays in
 * poll mode; on_poll still runs in iterations that do not spin.
 */
static void test_mode_stays_busy(void)
{
    struct loom_loop *l = harness_loop_new();
    struct pm p = {0};
    int ran = 0;
    unsigned i;

    pm_add(l, &p, true);
    long_window(l);
    pm_settle(&p);
    for (i = 0; i < 10; i++) {
        p.work = 1;
        g_assert_true(poll_no_sleep(l));
        g_assert_cmpuint(p.readies, ==, i + 1);
    }
    g_assert_cmpuint(p.begins, ==, 1);
    g_assert_cmpuint(p.ends, ==, 0);
    /* A BH is due: no spin, but on_poll runs; still in poll mode. */
    for (i = 0; i < 5; i++) {
        p.work = 1;
        g_assert_cmpint(loom_bh_oneshot(l, oneshot_nop, &ran), ==, 0);
        g_assert_true(loom_loop_poll(l, true));
        g_assert_cmpint(ran, ==, (int)i + 1);
        g_assert_cmpuint(p.work, ==, 0);
    }
    g_assert_cmpuint(p.begins, ==, 1);
    g_assert_cmpuint(p.ends, ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpuint(p.ends, ==, 1);
    pm_del(&p);
    loom_loop_unref(l);
}

/*
 * A blocking poll that will sleep without spinning ends poll mode first:
 * polling turned off, or a handler without on_poll registered.
 */
static void test_mode_ends_before_sleep(void)
{
    struct loom_loop *l = harness_loop_new();
    struct pm p = {0};
    int fds[2];

    pm_add(l, &p, true);
    long_window(l);
    pm_settle(&p);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_true(p.in_mode);
    g_assert_cmpint(loom_loop_set_poll_params(l, 0, 0, 0), ==, 0);
    sleep_poll(l, 1 * MS);
    g_assert_false(p.in_mode);
    g_assert_cmpuint(p.ends, ==, 1);

    long_window(l);
    pm_settle(&p);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_true(p.in_mode);
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], nop_cb, NULL, NULL, NULL, NULL), ==, 0);
    sleep_poll(l, 1 * MS);
    g_assert_false(p.in_mode);
    g_assert_cmpuint(p.ends, ==, 1);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], NULL, NULL, NULL, NULL, NULL), ==, 0);
    close(fds[0]);
    close(fds[1]);
    pm_del(&p);
    loom_loop_unref(l);
}

/*
 * Removing a handler or clearing its hooks in poll mode: no end.
 * Changing its callbacks keeps hooks and mode.  A hook may remove
 * another handler in poll mode.
 */
static void test_mode_remove(void)
{
    struct loom_loop *l = harness_loop_new();
    struct pm p = {0}, q = {0};

    pm_add(l, &p, true);
    long_window(l);
    pm_settle(&p);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_true(p.in_mode);
    pm_del(&p);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpuint(p.ends, ==, 0);

    /* Re-added without hooks: none are called. */
    memset(&p, 0, sizeof(p));
    pm_add(l, &p, false);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpuint(p.begins + p.ends, ==, 0);

    /* Hooks cleared in poll mode. */
    g_assert_cmpint(loom_set_fd_poll_hooks(l, p.fd, pm_begin, pm_end), ==, 0);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_true(p.in_mode);
    g_assert_cmpint(loom_set_fd_poll_hooks(l, p.fd, NULL, NULL), ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpuint(p.ends, ==, 0);

    /* Callbacks changed in place: hooks and mode stay. */
    p.in_mode = false;
    g_assert_cmpint(loom_set_fd_poll_hooks(l, p.fd, pm_begin, pm_end), ==, 0);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_cmpuint(p.begins, ==, 2);
    g_assert_cmpint(
        loom_set_fd_handler(l, p.fd, pm_read, NULL, pm_poll, NULL, &p), ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpuint(p.ends, ==, 1);

    /* p's end removes q, also in poll mode: q's end never runs. */
    g_assert_cmpint(
        loom_set_fd_handler(l, p.fd, pm_read, NULL, pm_poll, pm_ready, &p), ==,
        0);
    pm_add(l, &q, true);
    p.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_true(p.in_mode && q.in_mode);
    p.remove_in_end = true;
    p.victim = &q;
    g_assert_false(loom_loop_poll(l, false));
    g_assert_null(p.victim);
    g_assert_cmpuint(q.ends, ==, 0);
    g_assert_cmpuint(p.ends, ==, 2);
    pm_del(&p);
    loom_loop_unref(l);
}

static void pmn_begin(struct loom_notifier *n)
{
    pm_begin(n);
}

static void pmn_end(struct loom_notifier *n)
{
    pm_end(n);
}

static void pmn_ready(struct loom_notifier *n)
{
    pm_ready(n);
}

static void pmn_event(struct loom_notifier *n)
{
    loom_notifier_test_and_clear(n);
    ((struct pm *)n)->events++;
}

/* Argument errors; notifier handlers get their notifier. */
static void test_mode_args(void)
{
    struct loom_loop *l = harness_loop_new();
    struct pm p = {0}, q = {0};
    struct loom_notifier bad = {.fd = -1};
    int fds[2];

    g_assert_cmpint(loom_set_fd_poll_hooks(NULL, 0, pm_begin, pm_end), ==,
                    -EINVAL);
    g_assert_cmpint(loom_set_fd_poll_hooks(l, -1, pm_begin, pm_end), ==,
                    -EBADF);
    g_assert_cmpint(pipe(fds), ==, 0);
    g_assert_cmpint(loom_set_fd_poll_hooks(l, fds[0], pm_begin, pm_end), ==,
                    -ENOENT);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], nop_cb, NULL, NULL, NULL, NULL), ==, 0);
    g_assert_cmpint(loom_set_fd_poll_hooks(l, fds[0], pm_begin, NULL), ==,
                    -EINVAL);
    g_assert_cmpint(loom_set_fd_poll_hooks(l, fds[0], NULL, NULL), ==, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], NULL, NULL, NULL, NULL, NULL), ==, 0);
    close(fds[0]);
    close(fds[1]);

    g_assert_cmpint(loom_set_notifier_poll_hooks(NULL, &q.n, pmn_begin, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(loom_set_notifier_poll_hooks(l, NULL, pmn_begin, NULL), ==,
                    -EINVAL);
    g_assert_cmpint(loom_set_notifier_poll_hooks(l, &bad, pmn_begin, NULL), ==,
                    -EBADF);
    g_assert_cmpint(loom_notifier_init(&q.n, false), ==, 0);
    g_assert_cmpint(loom_set_notifier_poll_hooks(l, &q.n, pmn_begin, pmn_end),
                    ==, -ENOENT);
    q.l = l;
    g_assert_cmpint(
        loom_set_notifier_handler(l, &q.n, pmn_event, pm_poll, pmn_ready), ==,
        0);
    /* The fd API on a notifier's handler, and the reverse. */
    g_assert_cmpint(loom_set_fd_poll_hooks(l, loom_notifier_fd(&q.n), pm_begin,
                                           pm_end),
                    ==, -EINVAL);
    pm_add(l, &p, false);
    g_assert_cmpint(loom_set_notifier_poll_hooks(
                        l, (struct loom_notifier *)&p.fd, pmn_begin, pmn_end),
                    ==, -EINVAL);
    pm_del(&p);
    g_assert_cmpint(loom_set_notifier_poll_hooks(l, &q.n, pmn_begin, pmn_end),
                    ==, 0);

    /* The notifier's hooks run with it. */
    long_window(l);
    pm_settle(&q);
    q.work = 1;
    g_assert_true(poll_no_sleep(l));
    g_assert_true(q.in_mode);
    g_assert_cmpuint(q.readies, ==, 1);
    q.add_in_end = 1;
    g_assert_true(loom_loop_poll(l, false));
    g_assert_false(q.in_mode);
    g_assert_cmpuint(q.readies, ==, 2);
    g_assert_cmpint(loom_set_notifier_handler(l, &q.n, NULL, NULL, NULL), ==,
                    0);
    loom_notifier_cleanup(&q.n);
    loom_loop_unref(l);
}

/*
 * A nested poll neither ends nor begins poll mode for a handler whose
 * callback is running; it does for the others.
 */
struct pm_nest {
    struct pm outer, other;
    unsigned outer_ends_in_nested;
    bool nested;
};

static void pm_nest_ready(void *opaque)
{
    struct pm_nest *x = opaque;

    x->outer.readies++;
    x->outer.work = 0;
    if (x->nested) {
        return;
    }
    x->nested = true;
    g_assert_true(x->outer.in_mode && x->other.in_mode);
    loom_loop_poll(x->outer.l, false);
    x->outer_ends_in_nested = x->outer.ends;
    g_assert_false(x->other.in_mode);
    g_assert_true(x->outer.in_mode);
}

static void test_mode_nested(void)
{
    struct loom_loop *l = harness_loop_new();
    struct pm_nest x = {0};

    pm_add(l, &x.outer, true);
    g_assert_cmpint(loom_set_fd_handler(l, x.outer.fd, pm_read, NULL, pm_poll,
                                        pm_nest_ready, &x),
                    ==, 0);
    pm_add(l, &x.other, true);
    long_window(l);
    pm_settle(&x.outer);
    x.outer.work = 1;
    /* pm_poll() reads x.outer through its opaque: the handler's is &x. */
    g_assert_true(poll_no_sleep(l));
    g_assert_true(x.nested);
    g_assert_cmpuint(x.outer_ends_in_nested, ==, x.outer.ends);
    g_assert_true(x.outer.in_mode);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_false(x.outer.in_mode);
    pm_del(&x.outer);
    pm_del(&x.other);
    loom_loop_unref(l);
}

/* A BH that polls the loop until the handler's work is done. */
struct nest_wait {
    struct pm *p;
    int timed_out;
};

static void nest_wait_bh(void *opaque)
{
    struct nest_wait *w = opaque;
    struct loom_timer *t;

    /*
     * No busy-polling in the nested level (in the hang the window had
     * shrunk to 0): only a wait, or the take-over, can find the work.
     */
    g_assert_cmpint(loom_loop_set_poll_params(w->p->l, 0, 2, 1), ==, 0);
    /* The watchdog: a wait that would sleep for good ends here. */
    g_assert_cmpint(loom_timer_new(w->p->l, LOOM_CLOCK_HOST, flag_cb,
                                   &w->timed_out, &t),
                    ==, 0);
    loom_timer_mod_ns(t, 2 * SEC);
    while (w->p->work && !w->timed_out) {
        loom_loop_poll(w->p->l, true);
    }
    loom_timer_free(t);
}

/*
 * Work that poll_end's last on_poll finds is ready in the outer level,
 * with no notification left for a wait to report; a BH of the same
 * iteration (BHs run before fd handlers) polls the loop until that work
 * is done.  The nested level takes the handler over and dispatches it:
 * a virtio-blk queue detach waiting for in-flight requests slept for
 * good here (the ring's poll_end had cleared the eventfd).
 */
static void test_mode_nested_adopts(void)
{
    struct loom_loop *l = pm_loop(200 * 1000);
    struct pm p = {0};
    struct nest_wait w = {.p = &p};
    struct loom_bh *bh;

    pm_add(l, &p, true);
    g_assert_cmpint(loom_bh_new(l, nest_wait_bh, &w, "nest-wait", &bh), ==,
                    0);
    pm_settle(&p);
    p.add_in_end = 1;
    p.bh_in_end = bh;
    /* Spins (begin), then ends before sleeping: end adds work, BH. */
    sleep_poll(l, 100 * MS);
    g_assert_cmpuint(p.ends, >=, 1);
    g_assert_null(p.bh_in_end);
    g_assert_cmpint(w.timed_out, ==, 0);
    g_assert_cmpuint(p.work, ==, 0);
    g_assert_cmpuint(p.readies, ==, 1);
    g_assert_cmpuint(p.events, ==, 0);
    loom_bh_free(bh);
    pm_del(&p);
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/poll/pingpong-stats", test_pingpong_stats);
    g_test_add_func("/poll/ready-exactly", test_ready_exactly);
    g_test_add_func("/poll/disabled-by-handler", test_disabled_by_handler);
    g_test_add_func("/poll/shrink", test_shrink);
    g_test_add_func("/poll/probe", test_probe);
    g_test_add_func("/poll/bh-ends-spin", test_bh_ends_spin);
    g_test_add_func("/poll/timer-while-polling", test_timer_while_polling);
    g_test_add_func("/poll/due-work-skips", test_due_work_skips);
    g_test_add_func("/poll/nested-skips-running", test_nested_skips_running);
    g_test_add_func("/poll/mode/begin-end", test_mode_begin_end);
    g_test_add_func("/poll/mode/last-poll", test_mode_last_poll);
    g_test_add_func("/poll/mode/stays-busy", test_mode_stays_busy);
    g_test_add_func("/poll/mode/ends-before-sleep",
                    test_mode_ends_before_sleep);
    g_test_add_func("/poll/mode/remove", test_mode_remove);
    g_test_add_func("/poll/mode/args", test_mode_args);
    g_test_add_func("/poll/mode/nested", test_mode_nested);
    g_test_add_func("/poll/mode/nested-adopts", test_mode_nested_adopts);
    return g_test_run();
}
