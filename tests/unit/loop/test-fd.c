/* SPDX-License-Identifier: MIT */
/*
 * fd handlers and event notifiers (QEMU test-aio semantics): readiness on
 * a socketpair, modify, remove (also from callbacks, also a handler about
 * to be dispatched), no re-entry from nested polls, hang-up, notifiers,
 * fd monitor switching, the top-level group, and bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/co.h>
#include <loom/loop.h>
#include <loom/notifier.h>
#include <loom/timer.h>

#include "loop/loop-int.h"
#include "loop/loop-priv.h"

struct fdh {
    struct loom_loop *l;
    int fd, peer;
    int reads, writes;
    bool drain;         /* read the data in on_read */
    bool remove_self;   /* remove the handler from on_read */
    struct fdh *victim; /* remove this other handler from on_read */
    bool nested;        /* nested polls inside on_read */
    bool nested_progress;
    bool switch_backend; /* flip the fd monitor from on_read */
};

static void make_pair(struct fdh *h, struct loom_loop *l)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==,
                    0);
    *h = (struct fdh){.l = l, .fd = sv[0], .peer = sv[1]};
}

static void close_pair(struct fdh *h)
{
    close(h->fd);
    close(h->peer);
}

static void send_byte(struct fdh *h)
{
    g_assert_cmpint(write(h->peer, "x", 1), ==, 1);
}

static void drain(int fd)
{
    char buf[64];

    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

static void nop_cb(void *opaque)
{
}

static void *oneshot_later(void *opaque)
{
    struct timespec ts = {0, 20 * 1000 * 1000};

    nanosleep(&ts, NULL);
    g_assert_cmpint(loom_bh_oneshot(opaque, nop_cb, NULL), ==, 0);
    return NULL;
}

static void on_read(void *opaque)
{
    struct fdh *h = opaque;

    int entry_reads = ++h->reads;

    if (h->victim) {
        g_assert_cmpint(loom_set_fd_handler(h->l, h->victim->fd, NULL, NULL,
                                            NULL, NULL, NULL),
                        ==, 0);
    }
    if (h->nested) {
        pthread_t th;
        int i;

        /* Our fd is still readable: never re-entered, no spinning. */
        for (i = 0; i < 3; i++) {
            loom_loop_poll(h->l, false);
        }
        g_assert_cmpint(h->reads, ==, entry_reads);
        /*
         * A blocking nested poll is not woken by our readable fd (it is
         * masked), only by a BH another thread schedules 20 ms later: so
         * it returns with progress.
         */
        g_assert_cmpint(pthread_create(&th, NULL, oneshot_later, h->l), ==, 0);
        h->nested_progress = loom_loop_poll(h->l, true);
        pthread_join(th, NULL);
        g_assert_cmpint(h->reads, ==, entry_reads);
    }
    if (h->switch_backend) {
        struct loom_loop_stats st;

        loom_loop_stats(h->l, &st);
        g_assert_cmpint(loom_loop_set_fdmon(h->l, st.fdmon == LOOM_FDMON_POLL
                                                      ? LOOM_FDMON_EPOLL
                                                      : LOOM_FDMON_POLL),
                        ==, 0);
    }
    if (h->drain) {
        drain(h->fd);
    }
    if (h->remove_self) {
        g_assert_cmpint(
            loom_set_fd_handler(h->l, h->fd, NULL, NULL, NULL, NULL, NULL), ==,
            0);
    }
}

static void on_write(void *opaque)
{
    ((struct fdh *)opaque)->writes++;
}

static int set_rw(struct fdh *h, bool r, bool w)
{
    return loom_set_fd_handler(h->l, h->fd, r ? on_read : NULL,
                               w ? on_write : NULL, NULL, NULL, h);
}

static void test_read_write(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st;
    struct fdh h;

    make_pair(&h, l);
    h.drain = true;
    g_assert_cmpint(set_rw(&h, true, false), ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(h.reads, ==, 0);
    send_byte(&h);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(h.reads, ==, 1);
    g_assert_false(loom_loop_poll(l, false));
    /* Modify: now write only (a socket is writable at once). */
    g_assert_cmpint(set_rw(&h, false, true), ==, 0);
    send_byte(&h);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(h.writes, ==, 1);
    g_assert_cmpint(h.reads, ==, 1);
    /* Both. */
    g_assert_cmpint(set_rw(&h, true, true), ==, 0);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(h.reads, ==, 2);
    g_assert_cmpint(h.writes, ==, 2);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.fd_events, ==, 4);
    /* Remove: never called again. */
    g_assert_cmpint(set_rw(&h, false, false), ==, 0);
    send_byte(&h);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(h.reads, ==, 2);
    g_assert_cmpint(h.writes, ==, 2);
    close_pair(&h);
    loom_loop_unref(l);
}

static bool poll_cb(void *opaque)
{
    return false;
}

/* on_poll alone registers a handler (for adaptive polling); not watched. */
static void test_poll_only(void)
{
    struct loom_loop *l = harness_loop_new();
    struct fdh h;

    make_pair(&h, l);
    g_assert_cmpint(
        loom_set_fd_handler(l, h.fd, NULL, NULL, poll_cb, nop_cb, &h), ==, 0);
    send_byte(&h);
    g_assert_false(loom_loop_poll(l, false));
    /* Upgrade in place to a read handler, then back, then remove. */
    g_assert_cmpint(
        loom_set_fd_handler(l, h.fd, on_read, NULL, poll_cb, nop_cb, &h), ==,
        0);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(h.reads, ==, 1);
    g_assert_cmpint(loom_set_fd_handler(l, h.fd, NULL, NULL, poll_cb, NULL, &h),
                    ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(h.reads, ==, 1);
    g_assert_cmpint(loom_set_fd_handler(l, h.fd, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    close_pair(&h);
    loom_loop_unref(l);
}

static void test_hangup(void)
{
    struct loom_loop *l = harness_loop_new();
    struct fdh h;

    make_pair(&h, l);
    g_assert_cmpint(set_rw(&h, true, false), ==, 0);
    close(h.peer);
    h.remove_self = true;
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(h.reads, ==, 1);
    close(h.fd);
    loom_loop_unref(l);
}

static void test_remove_self(void)
{
    struct loom_loop *l = harness_loop_new();
    struct fdh h;

    make_pair(&h, l);
    h.remove_self = true;
    g_assert_cmpint(set_rw(&h, true, true), ==, 0);
    send_byte(&h);
    g_assert_true(loom_loop_poll(l, false));
    /* Removed by on_read: on_write, due in the same dispatch, is not. */
    g_assert_cmpint(h.reads, ==, 1);
    g_assert_cmpint(h.writes, ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(set_rw(&h, false, false), ==, -ENOENT);
    close_pair(&h);
    loom_loop_unref(l);
}

static void test_remove_other(void)
{
    struct loom_loop *l = harness_loop_new();
    struct fdh a, b;

    make_pair(&a, l);
    make_pair(&b, l);
    a.victim = &b;
    b.victim = &a;
    g_assert_cmpint(set_rw(&a, true, false), ==, 0);
    g_assert_cmpint(set_rw(&b, true, false), ==, 0);
    send_byte(&a);
    send_byte(&b);
    /* Both ready; whichever runs first removes the other. */
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(a.reads + b.reads, ==, 1);
    if (a.reads) {
        g_assert_cmpint(set_rw(&a, false, false), ==, 0);
    } else {
        g_assert_cmpint(set_rw(&b, false, false), ==, 0);
    }
    g_assert_false(loom_loop_poll(l, false));
    close_pair(&a);
    close_pair(&b);
    loom_loop_unref(l);
}

static void test_nested_no_reentry(void)
{
    struct loom_loop *l = harness_loop_new();
    struct fdh a, b;

    make_pair(&a, l);
    make_pair(&b, l);
    a.nested = true;
    a.drain = true;
    b.drain = true;
    g_assert_cmpint(set_rw(&a, true, false), ==, 0);
    g_assert_cmpint(set_rw(&b, true, false), ==, 0);
    send_byte(&a);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(a.reads, ==, 1);
    g_assert_true(a.nested_progress);
    /* a is watched again after its callback returned. */
    send_byte(&a);
    a.nested = false;
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(a.reads, ==, 2);
    /* Another handler becomes ready during a's callback: nested runs it. */
    a.nested = true;
    send_byte(&a);
    send_byte(&b);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(a.reads, ==, 3);
    g_assert_cmpint(b.reads, ==, 1);
    g_assert_cmpint(set_rw(&a, false, false), ==, 0);
    g_assert_cmpint(set_rw(&b, false, false), ==, 0);
    close_pair(&a);
    close_pair(&b);
    loom_loop_unref(l);
}

/* Remove from a nested poll a handler the outer level found ready. */
struct nested_rm {
    struct fdh *other;
};

static void nested_rm_cb(void *opaque)
{
    struct fdh *h = opaque;

    g_assert_cmpint(
        loom_set_fd_handler(h->l, h->fd, NULL, NULL, NULL, NULL, NULL), ==, 0);
    loom_loop_poll(h->l, false);
}

static void test_remove_in_nested(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_bh *bh;
    struct fdh a;

    make_pair(&a, l);
    g_assert_cmpint(set_rw(&a, true, false), ==, 0);
    send_byte(&a);
    /* The BH phase runs before the handler phase of the same iteration:
     * a is ready, then removed by the BH (which also nests a poll). */
    g_assert_cmpint(loom_bh_new(l, nested_rm_cb, &a, NULL, &bh), ==, 0);
    loom_bh_schedule(bh);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(a.reads, ==, 0);
    loom_bh_free(bh);
    close_pair(&a);
    loom_loop_unref(l);
}

/*
 * Callbacks that return out of order: a's callback enters a coroutine
 * whose nested poll runs b's callback, which yields; a's callback returns
 * first, b's only when the coroutine is entered again.  The loop must
 * keep track of which one is still running either way.
 */
struct ooo {
    struct fdh a, b, c;
    struct loom_co *co;
    bool a_enters;     /* a's callback enters the coroutine */
    bool b_yielded;    /* b's callback is suspended */
    bool c_nested;     /* c's callback runs a nested poll */
    int a_in_nested;   /* a's reads seen by c's nested poll */
};

static void ooo_co(void *opaque)
{
    struct ooo *o = opaque;

    g_assert_true(loom_loop_poll(o->a.l, false));
    g_assert_cmpint(o->b.reads, ==, 1);
}

static void ooo_a(void *opaque)
{
    struct ooo *o = opaque;

    o->a.reads++;
    drain(o->a.fd);
    if (o->a_enters) {
        o->a_enters = false;
        /* Only the coroutine's nested poll may run b: it yields. */
        send_byte(&o->b);
        loom_co_enter(o->co);
        g_assert_true(o->b_yielded);
    }
}

static void ooo_b(void *opaque)
{
    struct ooo *o = opaque;

    o->b.reads++;
    drain(o->b.fd);
    if (o->b.reads == 1) {
        o->b_yielded = true;
        loom_co_yield();
        o->b_yielded = false;
    }
}

static void ooo_c(void *opaque)
{
    struct ooo *o = opaque;
    int before = o->a.reads;

    o->c.reads++;
    drain(o->c.fd);
    if (o->c_nested) {
        /* a is not running: a nested poll dispatches it. */
        send_byte(&o->a);
        loom_loop_poll(o->c.l, false);
        o->a_in_nested = o->a.reads - before;
    }
}

static void test_running_out_of_order(void)
{
    struct loom_loop *l = harness_loop_new();
    struct ooo o = {0};

    make_pair(&o.a, l);
    make_pair(&o.b, l);
    make_pair(&o.c, l);
    g_assert_cmpint(loom_set_fd_handler(l, o.a.fd, ooo_a, NULL, NULL, NULL, &o),
                    ==, 0);
    g_assert_cmpint(loom_set_fd_handler(l, o.b.fd, ooo_b, NULL, NULL, NULL, &o),
                    ==, 0);
    g_assert_cmpint(loom_set_fd_handler(l, o.c.fd, ooo_c, NULL, NULL, NULL, &o),
                    ==, 0);
    g_assert_cmpint(loom_co_create(ooo_co, &o, &o.co), ==, 0);
    o.a_enters = true;
    send_byte(&o.a);
    /* a runs; inside it the coroutine's poll runs b, which yields. */
    g_assert_true(loom_loop_poll(l, true));
    g_assert_true(o.b_yielded);
    g_assert_cmpint(o.a.reads, ==, 1);
    /* a returned while b is still running: a runs again, b does not. */
    send_byte(&o.a);
    send_byte(&o.b);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(o.a.reads, ==, 2);
    g_assert_cmpint(o.b.reads, ==, 1);
    /* b's callback returns; then b is dispatched like any handler. */
    loom_co_enter(o.co);
    g_assert_false(o.b_yielded);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(o.b.reads, ==, 2);
    /* Neither is running now: a nested poll under c dispatches a. */
    o.c_nested = true;
    send_byte(&o.c);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(o.c.reads, ==, 1);
    g_assert_cmpint(o.a_in_nested, ==, 1);
    g_assert_cmpint(o.a.reads, ==, 3);
    g_assert_cmpint(loom_set_fd_handler(l, o.a.fd, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    g_assert_cmpint(loom_set_fd_handler(l, o.b.fd, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    g_assert_cmpint(loom_set_fd_handler(l, o.c.fd, NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    close_pair(&o.a);
    close_pair(&o.b);
    close_pair(&o.c);
    loom_loop_unref(l);
}

static void test_switch_backend(void)
{
    struct loom_loop *l = harness_loop_new();
    static const enum loom_fdmon kinds[] = {
        LOOM_FDMON_EPOLL,
        LOOM_FDMON_POLL,
        LOOM_FDMON_EPOLL,
        LOOM_FDMON_AUTO,
    };
    struct loom_loop_stats st;
    struct fdh a, b;
    unsigned i;
    int ret;

    make_pair(&a, l);
    make_pair(&b, l);
    a.drain = b.drain = true;
    g_assert_cmpint(set_rw(&a, true, false), ==, 0);
    g_assert_cmpint(set_rw(&b, true, false), ==, 0);
    for (i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_assert_cmpint(loom_loop_set_fdmon(l, kinds[i]), ==, 0);
        loom_loop_stats(l, &st);
        g_assert_cmpint(st.fdmon, ==,
                        kinds[i] == LOOM_FDMON_AUTO ? LOOM_FDMON_POLL
                                                    : kinds[i]);
        send_byte(&a);
        send_byte(&b);
        g_assert_true(loom_loop_poll(l, true));
        if (a.reads + b.reads < 2 * (int)(i + 1)) {
            g_assert_true(loom_loop_poll(l, true));
        }
        g_assert_cmpint(a.reads, ==, i + 1);
        g_assert_cmpint(b.reads, ==, i + 1);
    }
    /* From inside a callback, switching back and forth. */
    a.switch_backend = true;
    for (i = 0; i < 4; i++) {
        send_byte(&a);
        g_assert_true(loom_loop_poll(l, true));
    }
    g_assert_cmpint(a.reads, ==, 8);
    /* Blocking waits still see the notify eventfd after switches. */
    a.switch_backend = false;
    /* io_uring works, or is refused cleanly where it is unavailable. */
    ret = loom_loop_set_fdmon(l, LOOM_FDMON_IO_URING);
    g_assert_true(ret == 0 || ret == -ENOTSUP);
    g_assert_cmpint(loom_loop_set_fdmon(l, (enum loom_fdmon)42), ==, -EINVAL);
    g_assert_cmpint(loom_loop_set_fdmon(NULL, LOOM_FDMON_POLL), ==, -EINVAL);
    g_assert_cmpint(set_rw(&a, false, false), ==, 0);
    g_assert_cmpint(set_rw(&b, false, false), ==, 0);
    close_pair(&a);
    close_pair(&b);
    loom_loop_unref(l);
}

static void counting_read(void *opaque)
{
    int *n = opaque;

    (*n)++;
}

/* A set notifier counted by counting_read: the loop's fd monitor after. */
static int watch_counting(struct loom_loop *l, struct loom_notifier *n,
                          int *count)
{
    struct loom_loop_stats st;

    g_assert_cmpint(loom_notifier_init(n, true), ==, 0);
    g_assert_cmpint(loom_set_fd_handler(l, loom_notifier_fd(n), counting_read,
                                        NULL, NULL, NULL, count),
                    ==, 0);
    loom_loop_stats(l, &st);
    return st.fdmon;
}

/* Remove @n's handler and close it: the loop's fd monitor after. */
static int unwatch(struct loom_loop *l, struct loom_notifier *n)
{
    struct loom_loop_stats st;

    (void)loom_notifier_test_and_clear(n);
    g_assert_cmpint(loom_set_fd_handler(l, loom_notifier_fd(n), NULL, NULL,
                                        NULL, NULL, NULL),
                    ==, 0);
    loom_notifier_cleanup(n);
    loom_loop_stats(l, &st);
    return st.fdmon;
}

static void test_auto_epoll(void)
{
    struct loom_loop *l;
    struct loom_loop_stats st;
    struct loom_notifier n[70];
    int count = 0, i;

    /* Not harness_loop_new(): this is about the default (AUTO). */
    g_assert_cmpint(loom_loop_new(&l), ==, 0);
    loom_loop_stats(l, &st);
    g_assert_cmpint(st.fdmon, ==, LOOM_FDMON_POLL);
    for (i = 0; i < 70; i++) {
        /* Above 4: epoll (never io_uring). */
        g_assert_cmpint(watch_counting(l, &n[i], &count), ==,
                        i < 4 ? LOOM_FDMON_POLL : LOOM_FDMON_EPOLL);
    }
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(count, ==, 70);
    /* Back to poll(2) at 2 handlers, with the rest still working. */
    for (i = 0; i < 68; i++) {
        /* 69 - i handlers are left. */
        g_assert_cmpint(unwatch(l, &n[i]), ==,
                        69 - i > 2 ? LOOM_FDMON_EPOLL : LOOM_FDMON_POLL);
    }
    g_assert_true(loom_notifier_test_and_clear(&n[68]));
    g_assert_true(loom_notifier_test_and_clear(&n[69]));
    count = 0;
    g_assert_cmpint(loom_notifier_set(&n[69]), ==, 0);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(count, ==, 1);
    /* Up again above 4, from poll(2), with a ready fd kept. */
    g_assert_true(loom_notifier_test_and_clear(&n[69]));
    g_assert_cmpint(loom_notifier_set(&n[68]), ==, 0);
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(watch_counting(l, &n[i], &count), ==,
                        i < 2 ? LOOM_FDMON_POLL : LOOM_FDMON_EPOLL);
    }
    g_assert_true(loom_loop_poll(l, true));
    /* n[68] and the three new ones, which start set. */
    g_assert_cmpint(count, ==, 5);
    for (i = 0; i < 3; i++) {
        (void)unwatch(l, &n[i]);
    }
    (void)unwatch(l, &n[68]);
    (void)unwatch(l, &n[69]);
    g_assert_false(loom_loop_poll(l, false));
    loom_loop_unref(l);
}

/* Notifiers. */
struct notif {
    struct loom_notifier n;
    int events;
    bool clear;
};

static void on_event(struct loom_notifier *n)
{
    struct notif *s = (struct notif *)n;

    s->events++;
    if (s->clear) {
        g_assert_true(loom_notifier_test_and_clear(n));
    }
}

static void test_notifier(void)
{
    struct loom_loop *l = harness_loop_new();
    struct notif s = {.clear = true};

    g_assert_cmpint(loom_notifier_init(&s.n, false), ==, 0);
    g_assert_cmpint(loom_notifier_fd(&s.n), >=, 0);
    g_assert_false(loom_notifier_test_and_clear(&s.n));
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, on_event, NULL, NULL),
                    ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(loom_notifier_set(&s.n), ==, 0);
    g_assert_cmpint(loom_notifier_set(&s.n), ==, 0);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(s.events, ==, 1);
    g_assert_false(loom_loop_poll(l, false));
    /* Remove: set notifier is no longer dispatched. */
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, NULL, NULL, NULL), ==,
                    0);
    g_assert_cmpint(loom_notifier_set(&s.n), ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(s.events, ==, 1);
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, NULL, NULL, NULL), ==,
                    -ENOENT);
    g_assert_true(loom_notifier_test_and_clear(&s.n));
    loom_notifier_cleanup(&s.n);
    loom_notifier_cleanup(&s.n);
    /* Initially active. */
    g_assert_cmpint(loom_notifier_init(&s.n, true), ==, 0);
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, on_event, NULL, NULL),
                    ==, 0);
    g_assert_true(loom_loop_poll(l, false));
    g_assert_cmpint(s.events, ==, 2);
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, NULL, NULL, NULL), ==,
                    0);
    loom_notifier_cleanup(&s.n);
    loom_loop_unref(l);
}

static void *set_later(void *opaque)
{
    struct timespec ts = {0, 20 * 1000 * 1000};

    nanosleep(&ts, NULL);
    g_assert_cmpint(loom_notifier_set(opaque), ==, 0);
    return NULL;
}

static void test_notifier_wait(void)
{
    struct loom_loop *l = harness_loop_new();
    struct notif s = {.clear = true};
    pthread_t th;

    g_assert_cmpint(loom_notifier_init(&s.n, false), ==, 0);
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, on_event, NULL, NULL),
                    ==, 0);
    g_assert_cmpint(pthread_create(&th, NULL, set_later, &s.n), ==, 0);
    while (s.events == 0) {
        loom_loop_poll(l, true);
    }
    pthread_join(th, NULL);
    g_assert_cmpint(s.events, ==, 1);
    g_assert_cmpint(loom_set_notifier_handler(l, &s.n, NULL, NULL, NULL), ==,
                    0);
    loom_notifier_cleanup(&s.n);
    loom_loop_unref(l);
}

/* Top-level group: only loom__loop_poll_ex(l, b, true) watches it. */
static void test_toplevel_group(void)
{
    struct loom_loop *l = harness_loop_new();
    struct fdh a, d;
    struct loom_loop_stats st0, st1;
    struct loom_timer *t;
    int fired = 0;

    make_pair(&a, l);
    make_pair(&d, l);
    a.drain = d.drain = true;
    g_assert_cmpint(loom__set_fd_handler_group(l, a.fd, LOOM__GROUP_TOPLEVEL,
                                               on_read, NULL, NULL, NULL, &a),
                    ==, 0);
    /* Same fd in both groups is allowed. */
    g_assert_cmpint(loom__set_fd_handler_group(l, d.fd, LOOM__GROUP_TOPLEVEL,
                                               on_read, NULL, NULL, NULL, &d),
                    ==, 0);
    g_assert_cmpint(set_rw(&d, true, false), ==, 0);
    send_byte(&a);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_cmpint(a.reads, ==, 0);
    /* A blocking poll is not woken by the ready top-level fd: only the
     * timer ends it. */
    g_assert_cmpint(
        loom_timer_new(l, LOOM_CLOCK_HOST, counting_read, &fired, &t), ==, 0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST) + 5 * 1000 * 1000);
    loom_loop_stats(l, &st0);
    while (!fired) {
        loom_loop_poll(l, true);
        g_assert_cmpint(a.reads, ==, 0);
    }
    /* It slept: a ready top-level fd did not make the polls spin. */
    loom_loop_stats(l, &st1);
    g_assert_cmpuint(st1.iterations - st0.iterations, <=, 3);
    /* The main loop's own iteration dispatches it. */
    g_assert_true(loom__loop_poll_ex(l, true, true));
    g_assert_cmpint(a.reads, ==, 1);
    /* Default and top-level handlers of one fd: both run in poll_ex. */
    send_byte(&d);
    g_assert_true(loom__loop_poll_ex(l, false, true));
    g_assert_cmpint(d.reads, ==, 2);
    g_assert_cmpint(loom__set_fd_handler_group(l, a.fd, LOOM__GROUP_TOPLEVEL,
                                               NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    g_assert_cmpint(loom__set_fd_handler_group(l, d.fd, LOOM__GROUP_TOPLEVEL,
                                               NULL, NULL, NULL, NULL, NULL),
                    ==, 0);
    g_assert_cmpint(set_rw(&d, false, false), ==, 0);
    loom_timer_free(t);
    close_pair(&a);
    close_pair(&d);
    loom_loop_unref(l);
}

/*
 * Several handlers ready in one iteration, and the first one to run
 * changes the loop under the others: the rest must each run exactly once
 * (the epoll monitor dispatches straight from the kernel's event array,
 * which a nested wait overwrites and a switch of monitor frees).
 */
#define MANY 4

enum first_act {
    FIRST_REMOVE_OTHERS, /* remove the others, re-add one of them */
    FIRST_NEST,          /* wake a default-group handler, nest a poll */
    FIRST_SWITCH,        /* switch the fd monitor */
};

struct many {
    struct loom_loop *l;
    struct fdh h[MANY];
    struct fdh extra; /* default group; only the nested poll watches it */
    enum first_act act;
    bool toplevel;   /* the h[] handlers are in the top-level group */
    int runs;        /* callbacks of h[] so far */
    int first;       /* index of the first to run */
    int nested_runs; /* callbacks of h[] inside the nested poll */
};

static struct many *g_many;

static int many_set(struct many *m, int i, loom_fd_cb *cb)
{
    return loom__set_fd_handler_group(
        m->l, m->h[i].fd,
        m->toplevel ? LOOM__GROUP_TOPLEVEL : LOOM__GROUP_DEFAULT, cb, NULL,
        NULL, NULL, &m->h[i]);
}

static void many_read(void *opaque)
{
    struct many *m = g_many;
    struct fdh *h = opaque;
    struct loom_loop_stats st;
    int i, before;

    h->reads++;
    drain(h->fd);
    if (m->runs++) {
        return;
    }
    m->first = (int)(h - m->h);
    switch (m->act) {
    case FIRST_REMOVE_OTHERS:
        for (i = 0; i < MANY; i++) {
            if (i != m->first) {
                g_assert_cmpint(many_set(m, i, NULL), ==, 0);
            }
        }
        /* A new handler on a removed one's fd: not due in this round. */
        g_assert_cmpint(many_set(m, (m->first + 1) % MANY, many_read), ==, 0);
        break;
    case FIRST_NEST:
        send_byte(&m->extra);
        before = m->runs;
        loom_loop_poll(m->l, false);
        m->nested_runs = m->runs - before;
        g_assert_cmpint(m->extra.reads, ==, 1);
        break;
    case FIRST_SWITCH:
        loom_loop_stats(m->l, &st);
        g_assert_cmpint(loom_loop_set_fdmon(m->l, st.fdmon == LOOM_FDMON_POLL
                                                      ? LOOM_FDMON_EPOLL
                                                      : LOOM_FDMON_POLL),
                        ==, 0);
        break;
    }
}

static void many_run(enum first_act act, bool toplevel)
{
    struct many m = {.l = harness_loop_new(), .act = act,
                     .toplevel = toplevel};
    int i;

    g_many = &m;
    for (i = 0; i < MANY; i++) {
        make_pair(&m.h[i], m.l);
        g_assert_cmpint(many_set(&m, i, many_read), ==, 0);
        send_byte(&m.h[i]);
    }
    make_pair(&m.extra, m.l);
    m.extra.drain = true;
    g_assert_cmpint(set_rw(&m.extra, true, false), ==, 0);
    g_assert_true(loom__loop_poll_ex(m.l, false, toplevel));
    switch (act) {
    case FIRST_REMOVE_OTHERS:
        /* Removed before their turn: never called. */
        g_assert_cmpint(m.runs, ==, 1);
        for (i = 0; i < MANY; i++) {
            g_assert_cmpint(m.h[i].reads, ==, i == m.first);
        }
        /* The new handler runs in the next iteration. */
        i = (m.first + 1) % MANY;
        g_assert_true(loom__loop_poll_ex(m.l, false, toplevel));
        g_assert_cmpint(m.h[i].reads, ==, 1);
        g_assert_cmpint(many_set(&m, i, NULL), ==, 0);
        g_assert_cmpint(many_set(&m, m.first, NULL), ==, 0);
        break;
    case FIRST_NEST:
    case FIRST_SWITCH:
        /* Each ran once, in this iteration, whichever level ran it. */
        g_assert_cmpint(m.runs, ==, MANY);
        for (i = 0; i < MANY; i++) {
            g_assert_cmpint(m.h[i].reads, ==, 1);
        }
        if (toplevel) {
            /* A nested poll never runs top-level handlers. */
            g_assert_cmpint(m.nested_runs, ==, 0);
        }
        for (i = 0; i < MANY; i++) {
            g_assert_cmpint(many_set(&m, i, NULL), ==, 0);
        }
        break;
    }
    g_assert_false(loom__loop_poll_ex(m.l, false, toplevel));
    g_assert_cmpint(set_rw(&m.extra, false, false), ==, 0);
    for (i = 0; i < MANY; i++) {
        close_pair(&m.h[i]);
    }
    close_pair(&m.extra);
    g_many = NULL;
    loom_loop_unref(m.l);
}

static void test_first_removes_others(void)
{
    many_run(FIRST_REMOVE_OTHERS, false);
    many_run(FIRST_REMOVE_OTHERS, true);
}

static void test_first_nests(void)
{
    many_run(FIRST_NEST, false);
    many_run(FIRST_NEST, true);
}

static void test_first_switches(void)
{
    many_run(FIRST_SWITCH, false);
    many_run(FIRST_SWITCH, true);
}

static void test_bad_input(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_notifier n = {.fd = -1};
    int fds[2];

    g_assert_cmpint(pipe(fds), ==, 0);
    close(fds[1]);
    g_assert_cmpint(loom_set_fd_handler(NULL, fds[0], counting_read, NULL, NULL,
                                        NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(
        loom_set_fd_handler(l, -1, counting_read, NULL, NULL, NULL, NULL), ==,
        -EBADF);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[1], counting_read, NULL, NULL, NULL, NULL),
        ==, -EBADF);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], NULL, NULL, NULL, NULL, NULL), ==,
        -ENOENT);
    g_assert_cmpint(
        loom_set_fd_handler(l, 100000, NULL, NULL, NULL, NULL, NULL), ==,
        -ENOENT);
    g_assert_cmpint(
        loom_set_fd_handler(l, fds[0], counting_read, NULL, NULL, nop_cb, NULL),
        ==, -EINVAL);
    g_assert_cmpint(
        loom__set_fd_handler_group(l, fds[0], (enum loom__handler_group)7,
                                   counting_read, NULL, NULL, NULL, NULL),
        ==, -EINVAL);
    g_assert_cmpint(loom_set_notifier_handler(NULL, &n, on_event, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(loom_set_notifier_handler(l, NULL, on_event, NULL, NULL),
                    ==, -EINVAL);
    g_assert_cmpint(loom_set_notifier_handler(l, &n, on_event, NULL, NULL), ==,
                    -EBADF);
    g_assert_cmpint(loom_notifier_set(&n), ==, -EBADF);
    g_assert_cmpint(loom_notifier_set(NULL), ==, -EINVAL);
    g_assert_false(loom_notifier_test_and_clear(&n));
    g_assert_false(loom_notifier_test_and_clear(NULL));
    g_assert_cmpint(loom_notifier_fd(&n), ==, -EBADF);
    g_assert_cmpint(loom_notifier_fd(NULL), ==, -EBADF);
    g_assert_cmpint(loom_notifier_init(NULL, false), ==, -EINVAL);
    loom_notifier_cleanup(NULL);
    /* Nothing was registered by the failures. */
    g_assert_false(loom_loop_poll(l, false));
    close(fds[0]);
    loom_loop_unref(l);
}

static void test_leak_panic(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_notifier n;
        struct fdh h;

        make_pair(&h, l);
        g_assert_cmpint(set_rw(&h, true, false), ==, 0);
        g_assert_cmpint(loom_notifier_init(&n, false), ==, 0);
        g_assert_cmpint(loom_set_notifier_handler(l, &n, on_event, NULL, NULL),
                        ==, 0);
        loom_loop_unref(l);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*panic: loom_loop_unref: loop * freed with 0 "
                              "BH(s) not freed or not run, 1 fd handler(s) "
                              "and 1 notifier handler(s) still set*");
}

/* Make each handler of @h[0..n) ready; each must run once, as itself. */
static void fire_each(struct loom_loop *l, struct fdh *h, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        send_byte(&h[i]);
    }
    while (loom_loop_poll(l, false)) {
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(h[i].reads, ==, 1);
        h[i].reads = 0;
    }
}

/*
 * Handler memory (fdhandler.c): handlers are carved from per-loop chunks
 * of LOOP_FDH_PER_CHUNK, their hot parts side by side; freed handlers are
 * reused before a new chunk is allocated, and an empty chunk is freed but
 * for one spare (none under ASan, where a chunk holds one handler).
 */
static void test_handler_memory(void)
{
    enum { N = 3 * LOOP_FDH_PER_CHUNK + 2 };
    const unsigned chunks = (N + LOOP_FDH_PER_CHUNK - 1) / LOOP_FDH_PER_CHUNK;
    const unsigned spare = LOOP_FDH_PER_CHUNK > 1 ? 1 : 0;
    struct loom_loop *l = harness_loop_new();
    struct fdh h[N];
    unsigned i;

    g_assert_cmpuint(l->fdh_nchunks, ==, 0);
    for (i = 0; i < N; i++) {
        make_pair(&h[i], l);
        h[i].drain = true;
        g_assert_cmpint(set_rw(&h[i], true, false), ==, 0);
    }
    g_assert_cmpuint(l->fdh_nchunks, ==, chunks);
    /* A chunk's handlers are handed out side by side, in order. */
    for (i = 1; i < LOOP_FDH_PER_CHUNK; i++) {
        g_assert_true(l->fds[h[i].fd].h[0] == l->fds[h[0].fd].h[0] + i);
    }
    fire_each(l, h, N);
    /* Every other one goes: no chunk empties; they come back in place. */
    for (i = 1; i < N; i += 2) {
        g_assert_cmpint(set_rw(&h[i], false, false), ==, 0);
    }
    g_assert_cmpuint(l->fdh_nchunks, ==,
                     LOOP_FDH_PER_CHUNK == 1 ? chunks - N / 2 : chunks);
    for (i = 1; i < N; i += 2) {
        g_assert_cmpint(set_rw(&h[i], true, false), ==, 0);
    }
    g_assert_cmpuint(l->fdh_nchunks, ==, chunks);
    fire_each(l, h, N);
    /* All go: one empty chunk is kept (not under ASan). */
    for (i = 0; i < N; i++) {
        g_assert_cmpint(set_rw(&h[i], false, false), ==, 0);
    }
    g_assert_cmpuint(l->fdh_nchunks, ==, spare);
    g_assert_cmpint(set_rw(&h[0], true, false), ==, 0);
    g_assert_cmpuint(l->fdh_nchunks, ==, 1);
    fire_each(l, h, 1);
    g_assert_cmpint(set_rw(&h[0], false, false), ==, 0);
    for (i = 0; i < N; i++) {
        close_pair(&h[i]);
    }
    /* The spare goes with the loop (ASan's leak check would see it). */
    loom_loop_unref(l);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/fd/read-write", test_read_write);
    g_test_add_func("/fd/poll-only", test_poll_only);
    g_test_add_func("/fd/hangup", test_hangup);
    g_test_add_func("/fd/remove-self", test_remove_self);
    g_test_add_func("/fd/remove-other", test_remove_other);
    g_test_add_func("/fd/nested-no-reentry", test_nested_no_reentry);
    g_test_add_func("/fd/remove-in-nested", test_remove_in_nested);
    g_test_add_func("/fd/running-out-of-order", test_running_out_of_order);
    g_test_add_func("/fd/switch-backend", test_switch_backend);
    g_test_add_func("/fd/auto-epoll", test_auto_epoll);
    g_test_add_func("/fd/notifier", test_notifier);
    g_test_add_func("/fd/notifier-wait", test_notifier_wait);
    g_test_add_func("/fd/toplevel-group", test_toplevel_group);
    g_test_add_func("/fd/first-removes-others", test_first_removes_others);
    g_test_add_func("/fd/first-nests", test_first_nests);
    g_test_add_func("/fd/first-switches", test_first_switches);
    g_test_add_func("/fd/bad-input", test_bad_input);
    g_test_add_func("/fd/leak-panic", test_leak_panic);
    g_test_add_func("/fd/handler-memory", test_handler_memory);
    return g_test_run();
}
