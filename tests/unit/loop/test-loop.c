/* SPDX-License-Identifier: MIT */
/*
 * Loop life cycle and cross-thread behaviour: references, statistics, the
 * notify protocol (skipped when awake, sent when asleep), timers driving
 * the wait, sleep hooks, LOOM_WAIT_WHILE() with loom_wait_kick(), the
 * home thread, and the leak / wrong-thread panics.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/timer.h>

#include "base/atomic.h"
#include "loop/loop-int.h"
#include "loop/loop-priv.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_new_ref_unref(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st;

    g_assert_cmpint(loom_loop_new(NULL), ==, -EINVAL);
    loom_loop_ref(l);
    loom_loop_unref(l);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.iterations, ==, 0);
    g_assert_cmpuint(st.bh_runs, ==, 0);
    g_assert_cmpint(st.poll_ns, ==, 0);
    g_assert_false(loom_loop_poll(l, false));
    g_assert_false(loom_loop_poll(l, false));
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.iterations, ==, 2);
    loom_loop_stats(NULL, &st);
    loom_loop_stats(l, NULL);
    loom_loop_ref(NULL);
    loom_loop_unref(NULL);
    g_assert_true(loom__loop_is_home(l));
    g_assert_true(loom__loop_timers(l) != NULL);
    g_assert_cmpint(loom_loop_set_poll_params(l, 1000, 2, 2), ==, 0);
    g_assert_cmpint(loom_loop_set_poll_params(l, -1, 2, 2), ==, -EINVAL);
    g_assert_cmpint(loom_loop_set_poll_params(NULL, 0, 0, 0), ==, -EINVAL);
    loom_loop_unref(l);
}

static void test_stats(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st;
    struct loom_timer *t;
    int bh_n = 0, t_n = 0;

    g_assert_cmpint(loom_bh_oneshot(l, count_cb, &bh_n), ==, 0);
    g_assert_cmpint(loom_bh_oneshot(l, count_cb, &bh_n), ==, 0);
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb, &t_n, &t), ==,
                    0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST));
    while (bh_n < 2 || t_n < 1) {
        loom_loop_poll(l, true);
    }
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.bh_runs, ==, 2);
    g_assert_cmpuint(st.timer_runs, ==, 1);
    g_assert_cmpuint(st.fd_events, ==, 0);
    g_assert_cmpuint(st.iterations, >=, 1);
    g_assert_true(st.fdmon == LOOM_FDMON_POLL || st.fdmon == LOOM_FDMON_EPOLL ||
                  st.fdmon == LOOM_FDMON_IO_URING);
    loom_timer_free(t);
    loom_loop_unref(l);
}

/* A timer in the future bounds a blocking wait (never early). */
static void test_timer_wakes(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_timer *t;
    int64_t deadline;
    int n = 0;

    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb, &n, &t), ==,
                    0);
    deadline = loom_clock_ns(LOOM_CLOCK_HOST) + 10 * 1000 * 1000;
    loom_timer_mod(t, deadline);
    while (!n) {
        loom_loop_poll(l, true);
    }
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_HOST), >=, deadline);
    loom_timer_free(t);
    loom_loop_unref(l);
}

struct notify_ctx {
    struct loom_loop *l;
    struct loom_timer *t;
    int fired;
};

static void *notify_when_asleep(void *opaque)
{
    struct notify_ctx *c = opaque;

    /* Wait until the loop announced it may block, then wake it (the
     * test fails if the loop never blocks). */
    STEP_UNTIL(loom__atomic_load_seq(&c->l->wake) & LOOP_WAKE_COUNT,
               sleep_ms(1));
    sleep_ms(5);
    loom_loop_notify(c->l);
    return NULL;
}

static void nop_cb(void *opaque)
{
}

/*
 * @with_fd: an fd handler that never fires is registered, so the loop
 * sleeps in its fd monitor and is woken through its eventfd; without it,
 * the loop sleeps on its futex.
 */
static void notify_run(bool with_fd)
{
    struct loom_loop *l = harness_loop_new();
    int sv[2];
    struct notify_ctx c = {.l = l};
    struct loom_loop_stats st;
    pthread_t th;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    if (with_fd) {
        g_assert_cmpint(
            loom_set_fd_handler(l, sv[0], nop_cb, NULL, NULL, NULL, NULL), ==,
            0);
    }
    /* Awake (not polling): no syscall. */
    loom_loop_notify(l);
    loom_loop_notify(l);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.notify_sent, ==, 0);
    g_assert_cmpuint(st.notify_skipped, ==, 2);
    /* Asleep with nothing to do: the notify wakes it. */
    g_assert_cmpint(pthread_create(&th, NULL, notify_when_asleep, &c), ==, 0);
    g_assert_false(loom_loop_poll(l, true));
    pthread_join(th, NULL);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.notify_sent, ==, 1);
    g_assert_cmpuint(st.notify_skipped, ==, 2);
    g_assert_cmpuint(st.iterations, ==, 1);
    /* The notification was consumed: the flag is clear again. */
    g_assert_cmpuint(loom__atomic_read(&l->wake) & LOOP_WAKE_NOTIFIED, ==, 0);
    g_assert_cmpuint(loom__atomic_read(&l->wake) & LOOP_WAKE_COUNT, ==, 0);
    /* And again: the wake-up was fully consumed (no spurious return). */
    g_assert_cmpint(pthread_create(&th, NULL, notify_when_asleep, &c), ==, 0);
    g_assert_false(loom_loop_poll(l, true));
    pthread_join(th, NULL);
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.notify_sent, ==, 2);
    g_assert_cmpuint(st.iterations, ==, 2);
    if (with_fd) {
        g_assert_cmpint(
            loom_set_fd_handler(l, sv[0], NULL, NULL, NULL, NULL, NULL), ==, 0);
    }
    close(sv[0]);
    close(sv[1]);
    loom_loop_unref(l);
}

static void test_notify_futex(void)
{
    notify_run(false);
}

static void test_notify_eventfd(void)
{
    notify_run(true);
}

/*
 * A stale NOTIFIED: a notifier sets it just after the loop's accept
 * cleared it, and the accept's drain then reads that notifier's eventfd
 * write.  The bit is set, the eventfd empty: every later notifier takes
 * it for a wake-up on its way.  The loop must not sleep on that (it
 * hung there in tests/stress/test-loop-mt about once in 40 runs under
 * load); it accepts the bit instead, and the next wake-up is sent.
 */
struct late_bh {
    struct loom_bh *bh;
    int ran; /* atomic */
};

static void late_bh_cb(void *opaque)
{
    struct late_bh *b = opaque;

    loom__atomic_set(&b->ran, 1);
}

static void *late_schedule(void *opaque)
{
    struct late_bh *b = opaque;
    struct timespec ts = {0, 50 * 1000 * 1000};

    /* Long enough for the loop to be asleep, if it sleeps. */
    nanosleep(&ts, NULL);
    loom_bh_schedule(b->bh);
    return NULL;
}

static void test_notify_stale(void)
{
    struct loom_loop *l = harness_loop_new();
    struct harness_watchdog w;
    struct late_bh b = {0};
    pthread_t th;
    int sv[2];

    /* An fd to watch: the loop sleeps in its fd monitor, on the eventfd. */
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(
        loom_set_fd_handler(l, sv[0], nop_cb, NULL, NULL, NULL, NULL), ==,
        0);
    g_assert_cmpint(loom_bh_new(l, late_bh_cb, &b, "late", &b.bh), ==, 0);
    while (loom_loop_poll(l, false)) {
    }
    /* The state the race leaves: NOTIFIED set, nothing on the eventfd. */
    loom__atomic_fetch_or(&l->wake, LOOP_WAKE_NOTIFIED);
    g_assert_cmpint(pthread_create(&th, NULL, late_schedule, &b), ==, 0);
    harness_watchdog_start(&w, 20, "a BH scheduled after a stale NOTIFIED");
    POLL_UNTIL(l, loom__atomic_read(&b.ran));
    harness_watchdog_stop(&w);
    pthread_join(th, NULL);
    g_assert_false(loom__atomic_read(&l->wake) & LOOP_WAKE_NOTIFIED);
    g_assert_cmpint(
        loom_set_fd_handler(l, sv[0], NULL, NULL, NULL, NULL, NULL), ==, 0);
    loom_bh_free(b.bh);
    loom_loop_poll(l, false);
    loom_loop_unref(l);
    close(sv[0]);
    close(sv[1]);
}

/* A BH scheduled from a callback (loop awake) skips the eventfd. */
static void resched_cb(void *opaque)
{
    struct loom_bh **bh = opaque;

    loom_bh_schedule(*bh);
}

static void test_notify_skipped_busy(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop_stats st;
    struct loom_bh *bh;
    int i;

    g_assert_cmpint(loom_bh_new(l, resched_cb, &bh, NULL, &bh), ==, 0);
    loom_bh_schedule(bh);
    for (i = 0; i < 10; i++) {
        g_assert_true(loom_loop_poll(l, true));
    }
    loom_loop_stats(l, &st);
    g_assert_cmpuint(st.notify_sent, ==, 0);
    g_assert_cmpuint(st.notify_skipped, ==, 11);
    g_assert_cmpuint(st.bh_runs, ==, 10);
    loom_bh_free(bh);
    loom_loop_poll(l, false);
    loom_loop_unref(l);
}

/* Sleep hooks run only around a blocking wait with a non-zero timeout. */
struct hooks {
    int before, after;
    bool inside;
};

static void before_cb(void *opaque)
{
    struct hooks *h = opaque;

    g_assert_false(h->inside);
    h->inside = true;
    h->before++;
}

static void after_cb(void *opaque)
{
    struct hooks *h = opaque;

    g_assert_true(h->inside);
    h->inside = false;
    h->after++;
}

static void nested_sleep_cb(void *opaque)
{
    struct loom_loop *l = opaque;
    struct loom_timer *t;
    int n = 0;

    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb, &n, &t), ==,
                    0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST) + 2 * 1000 * 1000);
    while (!n) {
        loom_loop_poll(l, true);
    }
    loom_timer_free(t);
}

static void test_sleep_hooks(void)
{
    struct loom_loop *l = harness_loop_new();
    struct hooks h = {0};
    struct loom_timer *t;
    int n = 0;

    loom__loop_set_sleep_hooks(l, before_cb, after_cb, &h);
    loom_loop_poll(l, false);
    g_assert_cmpint(h.before, ==, 0);
    /* Work pending: timeout 0, no hooks. */
    g_assert_cmpint(loom_bh_oneshot(l, count_cb, &n), ==, 0);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(n, ==, 1);
    g_assert_cmpint(h.before, ==, 0);
    /* A real sleep: both hooks, once each per wait. */
    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb, &n, &t), ==,
                    0);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST) + 2 * 1000 * 1000);
    while (n < 2) {
        loom_loop_poll(l, true);
    }
    g_assert_cmpint(h.before, >=, 1);
    g_assert_cmpint(h.after, ==, h.before);
    g_assert_false(h.inside);
    /* A nested poll never calls them, even when it sleeps. */
    h.before = h.after = 0;
    g_assert_cmpint(loom_bh_oneshot(l, nested_sleep_cb, l), ==, 0);
    g_assert_true(loom_loop_poll(l, true));
    g_assert_cmpint(h.before, ==, 0);
    g_assert_cmpint(h.after, ==, 0);
    loom__loop_set_sleep_hooks(l, NULL, NULL, NULL);
    loom_timer_free(t);
    loom_loop_unref(l);
}

/* LOOM_WAIT_WHILE() in the home thread: polls the loop itself. */
static void set_flag_cb(void *opaque)
{
    *(bool *)opaque = true;
}

static void test_wait_while_home(void)
{
    struct loom_loop *l = harness_loop_new();
    bool done = false;

    g_assert_cmpint(loom_bh_oneshot(l, set_flag_cb, &done), ==, 0);
    LOOM_WAIT_WHILE(l, !done);
    g_assert_true(done);
    loom_loop_unref(l);
}

/* From another thread's loop: the main thread polls the main loop. */
struct iothread {
    struct loom_loop *l;
    int started;   /* atomic */
    int stop;      /* atomic */
    int work_done; /* atomic */
};

static void io_work_cb(void *opaque)
{
    struct iothread *io = opaque;

    loom__atomic_store_release(&io->work_done, 1);
    loom_wait_kick();
}

static void io_stop_cb(void *opaque)
{
    loom__atomic_set(&((struct iothread *)opaque)->stop, 1);
}

static void *io_fn(void *opaque)
{
    struct iothread *io = opaque;

    loom__loop_set_home(io->l);
    loom__atomic_store_release(&io->started, 1);
    while (!loom__atomic_read(&io->stop)) {
        loom_loop_poll(io->l, true);
    }
    return NULL;
}

static void test_wait_while_kick(void)
{
    struct loom_loop *main_loop = harness_loop_new();
    struct iothread io = {.l = harness_loop_new()};
    pthread_t th;
    int i;

    loom__loop_set_main(main_loop);
    g_assert_cmpint(pthread_create(&th, NULL, io_fn, &io), ==, 0);
    while (!loom__atomic_load_acquire(&io.started)) {
        sleep_ms(1);
    }
    g_assert_false(loom__loop_is_home(io.l));
    for (i = 0; i < 50; i++) {
        loom__atomic_set(&io.work_done, 0);
        g_assert_cmpint(loom_bh_oneshot(io.l, io_work_cb, &io), ==, 0);
        /* Not io.l's home: polls main_loop until the kick. */
        LOOM_WAIT_WHILE(io.l, !loom__atomic_load_acquire(&io.work_done));
    }
    g_assert_cmpint(loom_bh_oneshot(io.l, io_stop_cb, &io), ==, 0);
    pthread_join(th, NULL);
    /* Nobody waits: a kick costs nothing and schedules nothing. */
    loom_wait_kick();
    g_assert_false(loom_loop_poll(main_loop, false));
    loom__loop_set_main(NULL);
    /* Run what the stop BH's thread left behind, then free. */
    loom__loop_set_home(io.l);
    while (loom_loop_poll(io.l, false)) {
    }
    loom_loop_unref(io.l);
    while (loom_loop_poll(main_loop, false)) {
    }
    loom_loop_unref(main_loop);
}

/* loom__loop_kick(): a flag checked between polls is never missed. */
struct kick_ctx {
    struct loom_loop *l;
    int flag; /* atomic: round the kicker published */
    int ack;  /* atomic: round the loop saw */
    int rounds;
};

static void *kicker_fn(void *opaque)
{
    struct kick_ctx *k = opaque;
    int i;

    for (i = 1; i <= k->rounds; i++) {
        /* Wait until the loop consumed the previous round. */
        while (loom__atomic_load_acquire(&k->ack) != i - 1) {
            sched_yield();
        }
        loom__atomic_store_release(&k->flag, i);
        loom__loop_kick(k->l);
    }
    return NULL;
}

static void test_kick(void)
{
    struct kick_ctx k = {.l = harness_loop_new(), .rounds = 200};
    pthread_t th;
    int i;

    g_assert_cmpint(pthread_create(&th, NULL, kicker_fn, &k), ==, 0);
    for (i = 1; i <= k.rounds; i++) {
        while (loom__atomic_load_acquire(&k.flag) != i) {
            loom_loop_poll(k.l, true);
        }
        loom__atomic_store_release(&k.ack, i);
    }
    pthread_join(th, NULL);
    /* A pending kick is not a leak. */
    loom__loop_kick(k.l);
    loom_loop_unref(k.l);
}

static void *poll_other_thread(void *opaque)
{
    loom_loop_poll(opaque, false);
    return NULL;
}

static void record_current(void *opaque)
{
    *(struct loom_loop **)opaque = loom_loop_current();
}

static void test_current(void)
{
    struct loom_loop *l = harness_loop_new();
    struct loom_loop *seen = NULL;

    /* A thread that is not polling, with no IOThread or main loop. */
    g_assert_null(loom_loop_current());
    g_assert_cmpint(loom_bh_oneshot(l, record_current, &seen), ==, 0);
    while (!seen) {
        loom_loop_poll(l, true);
    }
    g_assert_true(seen == l);
    /* Only while polling. */
    g_assert_null(loom_loop_current());
    loom_loop_unref(l);
}

static void test_home(void)
{
    struct loom_loop *l = harness_loop_new();
    pthread_t th;

    g_assert_true(loom__loop_is_home(l));
    /* The first thread that polls claims it. */
    g_assert_cmpint(pthread_create(&th, NULL, poll_other_thread, l), ==, 0);
    pthread_join(th, NULL);
    g_assert_false(loom__loop_is_home(l));
    loom__loop_set_home(l);
    g_assert_true(loom__loop_is_home(l));
    loom_loop_poll(l, false);
    loom_loop_unref(l);
}

static void test_wrong_thread_panic(void)
{
#ifdef LOOM_DEBUG_CHECKS
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        pthread_t th;

        loom_loop_poll(l, false); /* claimed by this thread */
        pthread_create(&th, NULL, poll_other_thread, l);
        pthread_join(th, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*panic: loom_loop_poll: loop * used outside "
                              "its home thread*");
#else
    g_test_skip("needs -Ddebug_checks=true");
#endif
}

static void test_wait_no_main_panic(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        pthread_t th;

        pthread_create(&th, NULL, poll_other_thread, l);
        pthread_join(th, NULL);
        LOOM_WAIT_WHILE(l, true);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*panic: LOOM_WAIT_WHILE: loop * waited on "
                              "outside its home thread and no main loop*");
}

static void test_timer_leak_panic(void)
{
    if (g_test_subprocess()) {
        struct loom_loop *l = harness_loop_new();
        struct loom_timer *t;

        g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, count_cb, NULL, &t),
                        ==, 0);
        loom_loop_unref(l);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*panic: loom_loop_unref: loop * freed with 0 "
                              "BH(s)*1 timer(s) not freed*");
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/loop/new-ref-unref", test_new_ref_unref);
    g_test_add_func("/loop/stats", test_stats);
    g_test_add_func("/loop/timer-wakes", test_timer_wakes);
    g_test_add_func("/loop/notify-futex", test_notify_futex);
    g_test_add_func("/loop/notify-eventfd", test_notify_eventfd);
    g_test_add_func("/loop/notify-skipped-busy", test_notify_skipped_busy);
    g_test_add_func("/loop/notify-stale", test_notify_stale);
    g_test_add_func("/loop/sleep-hooks", test_sleep_hooks);
    g_test_add_func("/loop/wait-while-home", test_wait_while_home);
    g_test_add_func("/loop/wait-while-kick", test_wait_while_kick);
    g_test_add_func("/loop/kick", test_kick);
    g_test_add_func("/loop/home", test_home);
    g_test_add_func("/loop/current", test_current);
    g_test_add_func("/loop/wrong-thread-panic", test_wrong_thread_panic);
    g_test_add_func("/loop/wait-no-main-panic", test_wait_no_main_panic);
    g_test_add_func("/loop/timer-leak-panic", test_timer_leak_panic);
    return g_test_run();
}
