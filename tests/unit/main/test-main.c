/* SPDX-License-Identifier: MIT */
/*
 * Main loop and BQL: shutdown requests (also from another thread and from
 * SIGTERM), the top-level handler group, BQL release while sleeping, per-thread
 * loom_bql_locked(), loom_bql_cond_wait(), and bad input.
 */
#include <loom/loom.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"

static void test_init_twice(void)
{
    g_assert_nonnull(loom_main_loop());
    g_assert_cmpint(loom_main_init(), ==, -EALREADY);
}

static void *request_later(void *arg)
{
    usleep(20 * 1000);
    loom_request_shutdown(GPOINTER_TO_INT(arg));
    return NULL;
}

static void test_shutdown_from_thread(void)
{
    pthread_t th;

    g_assert_cmpint(loom_main_shutdown_requested(), ==, 0);
    pthread_create(&th, NULL, request_later, GINT_TO_POINTER(42));
    g_assert_cmpint(loom_main_loop_run(), ==, 42);
    pthread_join(th, NULL);
    /* The request was consumed. */
    g_assert_cmpint(loom_main_shutdown_requested(), ==, 0);

    /* A request made before running ends the next run at once. */
    loom_request_shutdown(LOOM_SHUTDOWN_REQUEST);
    loom_request_shutdown(0); /* ignored */
    g_assert_cmpint(loom_main_loop_run(), ==, LOOM_SHUTDOWN_REQUEST);
}

static void test_shutdown_signal(void)
{
    int reason;

    /* SIGTERM is blocked by loom_main_init() and read from a signalfd. */
    g_assert_cmpint(kill(getpid(), SIGTERM), ==, 0);
    reason = loom_main_loop_run();
    g_assert_true(LOOM_SHUTDOWN_IS_SIGNAL(reason));
    g_assert_cmpint(reason, ==, LOOM_SHUTDOWN_SIGNAL(SIGTERM));

    g_assert_cmpint(kill(getpid(), SIGINT), ==, 0);
    g_assert_cmpint(loom_main_loop_run(), ==, LOOM_SHUTDOWN_SIGNAL(SIGINT));
}

struct toplevel_state {
    int fd;
    int toplevel_runs;
    int nested_progress;
    bool nested_done;
};

static void toplevel_read(void *opaque)
{
    struct toplevel_state *s = opaque;
    uint64_t v;

    g_assert_cmpint(read(s->fd, &v, sizeof(v)), ==, sizeof(v));
    s->toplevel_runs++;
}

static void nested_bh(void *opaque)
{
    struct toplevel_state *s = opaque;
    int i;

    /*
     * The top-level fd is readable, but a nested poll of the main loop must
     * neither dispatch it nor report progress because of it.
     */
    for (i = 0; i < 5; i++) {
        if (loom_loop_poll(loom_main_loop(), false)) {
            s->nested_progress++;
        }
    }
    s->nested_done = true;
}

static void test_toplevel_group(void)
{
    struct toplevel_state s = { 0 };
    uint64_t one = 1;

    /* Let earlier tests' leftovers (e.g. shutdown kicks) run first. */
    while (loom_loop_poll(loom_main_loop(), false)) {
    }
    s.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(s.fd, >=, 0);
    g_assert_cmpint(loom_main_set_fd_handler(s.fd, toplevel_read, NULL, &s),
                    ==, 0);
    g_assert_cmpint(write(s.fd, &one, sizeof(one)), ==, sizeof(one));

    /* Plain (non-main) polls of the main loop ignore the top-level group. */
    g_assert_false(loom_loop_poll(loom_main_loop(), false));
    g_assert_cmpint(s.toplevel_runs, ==, 0);

    /* Nested inside the main loop's own iteration: still ignored. */
    g_assert_cmpint(loom_bh_oneshot(loom_main_loop(), nested_bh, &s), ==, 0);
    STEP_UNTIL(s.nested_done, loom_main_loop_wait(true));
    g_assert_cmpint(s.nested_progress, ==, 0);

    /* The main loop's iteration dispatches it. */
    STEP_UNTIL(s.toplevel_runs != 0, loom_main_loop_wait(false));
    g_assert_cmpint(s.toplevel_runs, ==, 1);

    g_assert_cmpint(loom_main_set_fd_handler(s.fd, NULL, NULL, NULL), ==, 0);
    close(s.fd);
}

struct bql_state {
    int stage;         /* atomic */
    bool saw_unlocked; /* written by the helper thread */
};

static void *bql_taker(void *arg)
{
    struct bql_state *s = arg;

    g_assert_false(loom_bql_locked());
    while (!__atomic_load_n(&s->stage, __ATOMIC_ACQUIRE)) {
        usleep(1000);
    }
    /* Blocks until the main thread sleeps in loom_main_loop_wait(). */
    loom_bql_lock();
    g_assert_true(loom_bql_locked());
    s->saw_unlocked = true;
    loom_bql_unlock();
    g_assert_false(loom_bql_locked());
    loom_request_shutdown(7);
    return NULL;
}

static void test_bql_dropped_while_sleeping(void)
{
    struct bql_state s = { 0 };
    pthread_t th;

    loom_bql_lock();
    g_assert_true(loom_bql_locked());
    pthread_create(&th, NULL, bql_taker, &s);
    __atomic_store_n(&s.stage, 1, __ATOMIC_RELEASE);
    /* Sleeps with the BQL released; the other thread takes it, ends us. */
    g_assert_cmpint(loom_main_loop_run(), ==, 7);
    g_assert_true(loom_bql_locked());
    loom_bql_unlock();
    pthread_join(th, NULL);
    g_assert_true(s.saw_unlocked);
}

struct cond_state {
    struct loom_cond cond;
    bool ready; /* protected by the BQL */
};

static void *cond_signaller(void *arg)
{
    struct cond_state *s = arg;

    loom_bql_lock();
    s->ready = true;
    loom_cond_signal(&s->cond);
    loom_bql_unlock();
    return NULL;
}

static void test_bql_cond_wait(void)
{
    struct cond_state s = { .ready = false };
    pthread_t th;

    loom_cond_init(&s.cond);
    loom_bql_lock();
    g_assert_cmpint(loom_bql_cond_timedwait(&s.cond, 1000000), ==,
                    -ETIMEDOUT);
    g_assert_true(loom_bql_locked());
    pthread_create(&th, NULL, cond_signaller, &s);
    while (!s.ready) {
        loom_bql_cond_wait(&s.cond);
        g_assert_true(loom_bql_locked());
    }
    loom_bql_unlock();
    pthread_join(th, NULL);
    loom_cond_destroy(&s.cond);
}

static void test_bad_input(void)
{
    int fds[2];

    g_assert_cmpint(loom_main_set_fd_handler(-1, toplevel_read, NULL, NULL),
                    ==, -EBADF);
    g_assert_true(pipe(fds) == 0);
    close(fds[0]);
    close(fds[1]);
    /* A closed fd. */
    g_assert_cmpint(loom_main_set_fd_handler(fds[0], toplevel_read, NULL,
                                             NULL), ==, -EBADF);
}

static void test_bql_double_lock_panics(void)
{
    if (g_test_subprocess()) {
        loom_bql_lock();
        loom_bql_lock();
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *BQL is already held*");
}

static void test_bql_unlock_unheld_panics(void)
{
    if (g_test_subprocess()) {
        loom_bql_unlock();
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *BQL is not held*");
}

static void *current_elsewhere(void *arg)
{
    return loom_loop_current();
}

struct current_seen {
    struct loom_loop *main_bh, *nested_bh, *after_nested;
    struct loom_loop *other;
    bool done;
};

static void current_nested_bh(void *opaque)
{
    struct current_seen *s = opaque;

    s->nested_bh = loom_loop_current();
}

static void main_bh(void *opaque)
{
    struct current_seen *s = opaque;

    s->main_bh = loom_loop_current();
    /* A nested poll of another loop: that loop is current inside it. */
    g_assert_cmpint(loom_bh_oneshot(s->other, current_nested_bh, s), ==, 0);
    while (!loom_loop_poll(s->other, false)) {
        continue;
    }
    s->after_nested = loom_loop_current();
    s->done = true;
}

static void test_current(void)
{
    struct current_seen s = {0};
    pthread_t th;
    void *other_thread = (void *)&s;

    /* The main thread, outside any poll: the main loop. */
    g_assert_true(loom_loop_current() == loom_main_loop());
    /* A thread that runs no loop: none. */
    g_assert_cmpint(pthread_create(&th, NULL, current_elsewhere, NULL), ==, 0);
    g_assert_cmpint(pthread_join(th, &other_thread), ==, 0);
    g_assert_null(other_thread);

    s.other = harness_loop_new();
    g_assert_cmpint(loom_bh_oneshot(loom_main_loop(), main_bh, &s), ==, 0);
    while (!s.done) {
        loom_main_loop_wait(false);
    }
    g_assert_true(s.main_bh == loom_main_loop());
    g_assert_true(s.nested_bh == s.other);
    g_assert_true(s.after_nested == loom_main_loop());
    g_assert_true(loom_loop_current() == loom_main_loop());
    loom_loop_unref(s.other);
}

static void main_slack_cb(void *opaque)
{
    long *slack = opaque;

    *slack = (long)prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
}

/* In an IOThread: run a 1 ms timer on its loop; its callback's slack. */
static int iothread_timer_slack(void *arg)
{
    struct loom_loop *l = loom_loop_current();
    struct loom_timer *t = NULL;
    long *slack = arg;

    g_assert_cmpint(loom_timer_new(l, LOOM_CLOCK_HOST, main_slack_cb, slack,
                                   &t),
                    ==, 0);
    loom_timer_mod_ns(t, 1000000);
    POLL_UNTIL(l, *slack >= 0);
    loom_timer_free(t);
    return 0;
}

/*
 * loom_main_init() gave the main thread the least timer slack, as QEMU's
 * main-loop initialisation does (main() in this test ran it before any
 * test), and the threads created afterwards inherit it: the main loop's
 * and an IOThread's timers run with 1 ns.
 */
static void test_precise_timers(void)
{
    struct loom_iothread *io = NULL;
    struct loom_timer *t = NULL;
    long slack = -1;

    g_assert_cmpint(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), ==, 1);
    g_assert_cmpint(loom_timer_new(loom_main_loop(), LOOM_CLOCK_HOST,
                                   main_slack_cb, &slack, &t),
                    ==, 0);
    loom_timer_mod_ns(t, 1000000);
    STEP_UNTIL(slack >= 0, loom_main_loop_wait(false));
    g_assert_cmpint(slack, ==, 1);
    loom_timer_free(t);

    slack = -1;
    g_assert_cmpint(loom_iothread_new("io-precise", NULL, &io), ==, 0);
    g_assert_cmpint(loom_iothread_run(io, iothread_timer_slack, &slack), ==,
                    0);
    g_assert_cmpint(slack, ==, 1);
    loom_iothread_free(io);
}

static void test_uninitialised(void)
{
    if (g_test_subprocess()) {
        loom_main_cleanup();
        g_assert_null(loom_loop_current());
        g_assert_null(loom_main_loop());
        g_assert_false(loom_main_loop_wait(true));
        g_assert_cmpint(loom_main_loop_run(), ==, -EINVAL);
        g_assert_cmpint(loom_main_set_fd_handler(0, toplevel_read, NULL, NULL),
                        ==, -EINVAL);
        /* And it can be initialised again. */
        g_assert_cmpint(loom_main_init(), ==, 0);
        g_assert_nonnull(loom_main_loop());
        g_assert_true(loom_loop_current() == loom_main_loop());
        loom_main_cleanup();
        g_assert_null(loom_loop_current());
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    /* Before any other thread exists, so they inherit the signal mask. */
    g_assert_cmpint(loom_main_init(), ==, 0);
    harness_loop_apply_fdmon(loom_main_loop());
    g_test_add_func("/main/init-twice", test_init_twice);
    g_test_add_func("/main/shutdown-from-thread", test_shutdown_from_thread);
    g_test_add_func("/main/shutdown-signal", test_shutdown_signal);
    g_test_add_func("/main/toplevel-group", test_toplevel_group);
    g_test_add_func("/main/bql-dropped-while-sleeping",
                    test_bql_dropped_while_sleeping);
    g_test_add_func("/main/bql-cond-wait", test_bql_cond_wait);
    g_test_add_func("/main/bad-input", test_bad_input);
    g_test_add_func("/main/bql-double-lock-panics",
                    test_bql_double_lock_panics);
    g_test_add_func("/main/bql-unlock-unheld-panics",
                    test_bql_unlock_unheld_panics);
    g_test_add_func("/main/uninitialised", test_uninitialised);
    g_test_add_func("/main/current", test_current);
    g_test_add_func("/main/precise-timers", test_precise_timers);
    ret = g_test_run();
    loom_main_cleanup();
    return ret;
}
