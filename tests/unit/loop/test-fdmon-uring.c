/* SPDX-License-Identifier: MIT */
/*
 * The io_uring fd monitor: forced fallback (AUTO lands on epoll, an
 * explicit LOOM_FDMON_IO_URING gives -ENOTSUP), run-time switching
 * poll -> io_uring -> epoll with handlers kept, removal while a poll is
 * in flight (also with the fd number reused), level-triggered reports,
 * the top-level group in nested polls, 1,000 eventfds one ready at a time,
 * and other threads waking a blocked io_uring loop.  Cases that need a
 * working io_uring skip where the kernel forbids it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/loop.h>
#include <loom/timer.h>

#include "fdmon/fdmon.h"
#include "loop/loop-int.h"

struct efd {
    int fd;
    int calls;
    bool drain; /* read the counter in the callback */
};

static void efd_read(void *opaque)
{
    struct efd *e = opaque;
    uint64_t v;

    e->calls++;
    if (e->drain) {
        g_assert_cmpint(read(e->fd, &v, sizeof(v)), ==, sizeof(v));
    }
}

static void efd_open(struct efd *e)
{
    *e = (struct efd){.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    g_assert_cmpint(e->fd, >=, 0);
}

static void efd_kick(struct efd *e)
{
    uint64_t one = 1;

    g_assert_cmpint(write(e->fd, &one, sizeof(one)), ==, sizeof(one));
}

static int watch(struct loom_loop *l, struct efd *e)
{
    return loom_set_fd_handler(l, e->fd, efd_read, NULL, NULL, NULL, e);
}

static void unwatch(struct loom_loop *l, struct efd *e)
{
    g_assert_cmpint(loom_set_fd_handler(l, e->fd, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
}

static enum loom_fdmon fdmon_of(struct loom_loop *l)
{
    struct loom_loop_stats st;

    loom_loop_stats(l, &st);
    return st.fdmon;
}

/* A loop on io_uring, or NULL after g_test_skip() if unavailable. */
static struct loom_loop *uring_loop_new(void)
{
    struct loom_loop *l;
    int ret;

    g_assert_cmpint(loom_loop_new(&l), ==, 0);
    ret = loom_loop_set_fdmon(l, LOOM_FDMON_IO_URING);
    if (ret == -ENOTSUP) {
        loom_loop_unref(l);
        g_test_skip("io_uring not available here");
        return NULL;
    }
    g_assert_cmpint(ret, ==, 0);
    g_assert_cmpint(fdmon_of(l), ==, LOOM_FDMON_IO_URING);
    return l;
}

/* Poll (blocking) until @e was called @n times; bounded by a watchdog. */
static void poll_until(struct loom_loop *l, struct efd *e, int n)
{
    POLL_UNTIL(l, e->calls >= n);
}

#define NAUTO 70

/* With io_uring forced off, AUTO falls back silently; explicit fails. */
static void test_fallback(void)
{
    struct efd e[NAUTO];
    struct loom_loop *l;
    int i;

    loom__fdmon_uring_force_unavailable(true);
    g_assert_false(loom__fdmon_uring_usable());
    g_assert_cmpint(loom_loop_new(&l), ==, 0);
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_IO_URING), ==, -ENOTSUP);
    g_assert_cmpint(fdmon_of(l), ==, LOOM_FDMON_POLL);
    for (i = 0; i < NAUTO; i++) {
        efd_open(&e[i]);
        e[i].drain = true;
        g_assert_cmpint(watch(l, &e[i]), ==, 0);
        g_assert_cmpint(fdmon_of(l), ==,
                        i < 4 ? LOOM_FDMON_POLL : LOOM_FDMON_EPOLL);
    }
    /* Asking for AUTO again, or for io_uring, changes nothing. */
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_AUTO), ==, 0);
    g_assert_cmpint(fdmon_of(l), ==, LOOM_FDMON_EPOLL);
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_IO_URING), ==, -ENOTSUP);
    g_assert_cmpint(fdmon_of(l), ==, LOOM_FDMON_EPOLL);
    efd_kick(&e[NAUTO - 1]);
    poll_until(l, &e[NAUTO - 1], 1);
    for (i = 0; i < NAUTO; i++) {
        g_assert_cmpint(e[i].calls, ==, i == NAUTO - 1 ? 1 : 0);
        unwatch(l, &e[i]);
        close(e[i].fd);
    }
    loom_loop_unref(l);
    loom__fdmon_uring_force_unavailable(false);
}

/* AUTO takes epoll above the threshold even where io_uring works. */
static void test_auto_epoll(void)
{
    struct efd e[NAUTO];
    struct loom_loop *l = uring_loop_new();
    int i;

    if (!l) {
        return;
    }
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_AUTO), ==, 0);
    g_assert_cmpint(fdmon_of(l), ==, LOOM_FDMON_POLL);
    for (i = 0; i < NAUTO; i++) {
        efd_open(&e[i]);
        e[i].drain = true;
        g_assert_cmpint(watch(l, &e[i]), ==, 0);
        g_assert_cmpint(fdmon_of(l), ==,
                        i < 4 ? LOOM_FDMON_POLL : LOOM_FDMON_EPOLL);
    }
    for (i = 0; i < NAUTO; i++) {
        efd_kick(&e[i]);
    }
    g_assert_true(loom_loop_poll(l, false));
    for (i = 0; i < NAUTO; i++) {
        g_assert_cmpint(e[i].calls, ==, 1);
    }
    /* Back to poll(2) at 2 handlers (i are left). */
    for (i = NAUTO - 1; i >= 0; i--) {
        unwatch(l, &e[i]);
        close(e[i].fd);
        g_assert_cmpint(fdmon_of(l), ==,
                        i > 2 ? LOOM_FDMON_EPOLL : LOOM_FDMON_POLL);
    }
    loom_loop_unref(l);
}

/* poll -> io_uring -> epoll -> io_uring -> poll, handlers kept each time. */
static void test_switch(void)
{
    static const enum loom_fdmon kinds[] = {
        LOOM_FDMON_POLL,     LOOM_FDMON_IO_URING, LOOM_FDMON_EPOLL,
        LOOM_FDMON_IO_URING, LOOM_FDMON_POLL,
    };
    struct loom_loop *l = uring_loop_new();
    struct efd a, b, c;
    unsigned i;

    if (!l) {
        return;
    }
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_POLL), ==, 0);
    efd_open(&a);
    efd_open(&b);
    efd_open(&c);
    a.drain = b.drain = c.drain = true;
    g_assert_cmpint(watch(l, &a), ==, 0);
    g_assert_cmpint(watch(l, &b), ==, 0);
    /* Top-level group: only a top-level poll dispatches it. */
    g_assert_cmpint(loom__set_fd_handler_group(l, c.fd, LOOM__GROUP_TOPLEVEL,
                                               efd_read, NULL, NULL, NULL, &c),
                    ==, 0);
    for (i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_assert_cmpint(loom_loop_set_fdmon(l, kinds[i]), ==, 0);
        g_assert_cmpint(fdmon_of(l), ==, kinds[i]);
        /* a ready before the switch of the next round, b after it. */
        efd_kick(&b);
        poll_until(l, &b, (int)i + 1);
        efd_kick(&a);
        poll_until(l, &a, (int)i + 1);
        efd_kick(&c);
        g_assert_false(loom_loop_poll(l, false));
        g_assert_cmpint(c.calls, ==, (int)i);
        g_assert_true(loom__loop_poll_ex(l, false, true));
        g_assert_cmpint(c.calls, ==, (int)i + 1);
    }
    /* Blocking waits still see the loop's eventfd. */
    g_assert_cmpint(loom_loop_set_fdmon(l, LOOM_FDMON_IO_URING), ==, 0);
    unwatch(l, &a);
    unwatch(l, &b);
    g_assert_cmpint(loom__set_fd_handler_group(l, c.fd, LOOM__GROUP_TOPLEVEL,
                                               NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    close(a.fd);
    close(b.fd);
    close(c.fd);
    loom_loop_unref(l);
}

/*
 * A handler removed while its poll has completed in the kernel (the CQE
 * waits in the ring) is never called; nor is a new handler on the same fd
 * number reported for the old completion.
 */
static void test_remove_inflight(void)
{
    struct loom_loop *l = uring_loop_new();
    struct efd a, b, c;
    int fd;

    if (!l) {
        return;
    }
    efd_open(&a);
    efd_open(&c);
    c.drain = true;
    g_assert_cmpint(watch(l, &a), ==, 0);
    g_assert_cmpint(watch(l, &c), ==, 0);
    /* Arm both polls. */
    g_assert_false(loom_loop_poll(l, false));
    /* a completes in the kernel; its handler goes before we look. */
    efd_kick(&a);
    unwatch(l, &a);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(a.calls, ==, 0);
    /* The handler comes back: a is still readable (level-triggered). */
    g_assert_cmpint(watch(l, &a), ==, 0);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(a.calls, ==, 1);
    /* Drained and armed; ready again; removed; its fd number reused. */
    a.drain = true;
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(a.calls, ==, 2);
    g_assert_false(loom_loop_poll(l, false));
    efd_kick(&a);
    fd = a.fd;
    unwatch(l, &a);
    close(a.fd);
    efd_open(&b);
    g_assert_cmpint(b.fd, ==, fd);
    g_assert_cmpint(watch(l, &b), ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(b.calls, ==, 0);
    /* Replacing a handler's callbacks reports the new one only. */
    efd_kick(&b);
    g_assert_cmpint(
        loom_set_fd_handler(l, b.fd, efd_read, NULL, NULL, NULL, &c), ==, 0);
    c.drain = false;
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(b.calls, ==, 0);
    g_assert_cmpint(c.calls, ==, 1);
    /* Removed from another handler's callback in the same iteration. */
    unwatch(l, &b);
    close(b.fd);
    /* The removals' completions do not wake a blocking poll for nothing. */
    efd_kick(&c);
    c.drain = true;
    poll_until(l, &c, 2);
    unwatch(l, &c);
    close(c.fd);
    loom_loop_unref(l);
}

/* A handler that leaves its fd readable is called again, every poll. */
static void test_level_triggered(void)
{
    struct loom_loop *l = uring_loop_new();
    struct efd a;
    int i;

    if (!l) {
        return;
    }
    efd_open(&a);
    g_assert_cmpint(watch(l, &a), ==, 0);
    efd_kick(&a);
    for (i = 1; i <= 5; i++) {
        g_assert_true(loom_loop_poll(l, true));
        g_assert_cmpint(a.calls, ==, i);
    }
    a.drain = true;
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(a.calls, ==, 6);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(a.calls, ==, 6);
    /* Write interest only: an eventfd is always writable. */
    g_assert_cmpint(
        loom_set_fd_handler(l, a.fd, NULL, efd_read, NULL, NULL, &a), ==, 0);
    a.drain = false;
    g_assert_true(loom_loop_poll(l, true));
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(a.calls, ==, 8);
    unwatch(l, &a);
    close(a.fd);
    loom_loop_unref(l);
}

static void on_timer(void *opaque)
{
    (*(int *)opaque)++;
}

/*
 * A ready top-level fd neither makes a nested (nested) poll return nor
 * spin; the next top-level poll reports it.
 */
static void test_toplevel_nested(void)
{
    struct loom_loop *l = uring_loop_new();
    struct loom_timer *t;
    struct efd a;
    int fired = 0;

    if (!l) {
        return;
    }
    efd_open(&a);
    a.drain = true;
    g_assert_cmpint(loom__set_fd_handler_group(l, a.fd, LOOM__GROUP_TOPLEVEL,
                                               efd_read, NULL, NULL, NULL, &a),
                    ==, 0);
    g_assert_false(loom__loop_poll_ex(l, false, true));
    efd_kick(&a);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_false(loom_loop_poll(l, false));
    /* A blocking nested poll sleeps until its timer (a few ms). */
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, on_timer, &fired, &t),
                    ==, 0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST) + 5 * 1000 * 1000);
    while (!fired) {
        loom_loop_poll(l, true);
        g_assert_cmpint(a.calls, ==, 0);
    }
    g_assert_true(loom__loop_poll_ex(l, false, true));
    g_assert_cmpint(a.calls, ==, 1);
    g_assert_false(loom__loop_poll_ex(l, false, true));
    loom_timer_free(t);
    g_assert_cmpint(loom__set_fd_handler_group(l, a.fd, LOOM__GROUP_TOPLEVEL,
                                               NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    close(a.fd);
    loom_loop_unref(l);
}

#define NMANY 1000

/* 1,000 eventfds, one ready at a time: only that one is called. */
static void test_many(void)
{
    struct loom_loop *l;
    struct rlimit rl;
    struct efd *e;
    int *order;
    int i, j, tmp;

    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    if (rl.rlim_cur < NMANY + 64) {
        rl.rlim_cur = rl.rlim_max < NMANY + 64 ? rl.rlim_max : NMANY + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < NMANY + 64) {
            g_test_skip("RLIMIT_NOFILE too low for 1,000 eventfds");
            return;
        }
    }
    l = uring_loop_new();
    if (!l) {
        return;
    }
    e = g_new0(struct efd, NMANY);
    order = g_new(int, NMANY);
    for (i = 0; i < NMANY; i++) {
        efd_open(&e[i]);
        e[i].drain = true;
        g_assert_cmpint(watch(l, &e[i]), ==, 0);
        order[i] = i;
    }
    for (i = NMANY - 1; i > 0; i--) {
        j = g_test_rand_int_range(0, i + 1);
        tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (i = 0; i < NMANY; i++) {
        struct efd *x = &e[order[i]];

        efd_kick(x);
        poll_until(l, x, 1);
        g_assert_cmpint(x->calls, ==, 1);
        g_assert_false(loom_loop_poll(l, false));
    }
    for (i = 0; i < NMANY; i++) {
        g_assert_cmpint(e[i].calls, ==, 1);
        unwatch(l, &e[i]);
        close(e[i].fd);
    }
    g_assert_cmpint(fdmon_of(l), ==, LOOM_FDMON_IO_URING);
    g_free(order);
    g_free(e);
    loom_loop_unref(l);
}

/* Other threads wake a loop blocked in io_uring (BHs and eventfds). */
struct waker {
    struct loom_loop *l;
    struct loom_bh *bh;
    struct efd *e;
    int rounds;
    int bh_runs; /* home thread only */
    int acked;   /* atomic: rounds the home thread finished */
};

static void on_bh(void *opaque)
{
    struct waker *w = opaque;

    w->bh_runs++;
}

static void *waker_main(void *opaque)
{
    struct waker *w = opaque;
    int i;

    for (i = 0; i < w->rounds; i++) {
        if (i % 2) {
            loom_bh_schedule(w->bh);
        } else {
            efd_kick(w->e);
        }
        while (__atomic_load_n(&w->acked, __ATOMIC_ACQUIRE) <= i) {
            sched_yield();
        }
    }
    return NULL;
}

static void test_cross_thread(void)
{
    struct loom_loop *l = uring_loop_new();
    struct waker w = {.rounds = 200};
    pthread_t th;
    struct efd a;
    int i;

    if (!l) {
        return;
    }
    efd_open(&a);
    a.drain = true;
    g_assert_cmpint(watch(l, &a), ==, 0);
    w.l = l;
    w.e = &a;
    g_assert_cmpint(loom_bh_new(l, on_bh, &w, "waker", &w.bh), ==, 0);
    g_assert_cmpint(pthread_create(&th, NULL, waker_main, &w), ==, 0);
    for (i = 0; i < w.rounds; i++) {
        POLL_UNTIL(l, a.calls + w.bh_runs > i);
        __atomic_store_n(&w.acked, i + 1, __ATOMIC_RELEASE);
    }
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    g_assert_cmpint(a.calls, ==, w.rounds / 2);
    g_assert_cmpint(w.bh_runs, ==, w.rounds / 2);
    loom_bh_free(w.bh);
    unwatch(l, &a);
    close(a.fd);
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/fdmon-uring/fallback", test_fallback);
    g_test_add_func("/fdmon-uring/auto", test_auto_epoll);
    g_test_add_func("/fdmon-uring/switch", test_switch);
    g_test_add_func("/fdmon-uring/remove-inflight", test_remove_inflight);
    g_test_add_func("/fdmon-uring/level-triggered", test_level_triggered);
    g_test_add_func("/fdmon-uring/toplevel-nested", test_toplevel_nested);
    g_test_add_func("/fdmon-uring/many", test_many);
    g_test_add_func("/fdmon-uring/cross-thread", test_cross_thread);
    return g_test_run();
}
