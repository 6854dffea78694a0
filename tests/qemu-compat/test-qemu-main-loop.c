/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the main loop and the BQL: qemu_init_main_loop(), main-loop
 * BHs and timers, the fd-handler group that nested aio_poll() never
 * dispatches, GLib sources run by main_loop_wait() and the main context
 * run by GLib, the BQL dropped while the main loop sleeps, BQL_LOCK_GUARD,
 * the current context of each thread, AIO_WAIT_WHILE() and
 * aio_wait_bh_oneshot() across an IOThread.
 */
#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "block/aio.h"
#include "iothread.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/sockets.h"
#include "qemu/thread.h"
#include "qemu/timer.h"

static void count_cb(void *opaque)
{
    qatomic_inc((int *)opaque);
}

static void test_init_and_current(void)
{
    AioContext *main_ctx = qemu_get_aio_context();

    g_assert_nonnull(main_ctx);
    g_assert_cmpint(qemu_init_main_loop(&error_abort), ==, 0); /* again: ok */
    g_assert_true(qemu_get_aio_context() == main_ctx);
    g_assert_true(qemu_get_current_aio_context() == main_ctx);
    g_assert_true(in_aio_context_home_thread(main_ctx));
}

static void test_bh_and_timer(void)
{
    int n = 0, t = 0;
    QEMUBH *bh = qemu_bh_new(count_cb, &n);
    QEMUTimer *timer = timer_new_ms(QEMU_CLOCK_REALTIME, count_cb, &t);

    qemu_bh_schedule(bh);
    main_loop_wait(true);
    g_assert_cmpint(n, ==, 1);
    timer_mod(timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 5);
    while (!t) {
        main_loop_wait(false);
    }
    g_assert_false(timer_pending(timer));
    timer_free(timer);
    qemu_bh_delete(bh);
}

typedef struct {
    int fds[2];
    int reads;
    EventNotifier e;
    int events;
} Group;

static void group_read(void *opaque)
{
    Group *g = opaque;
    char c;

    g_assert_cmpint(read(g->fds[0], &c, 1), ==, 1);
    g->reads++;
}

static void group_event(EventNotifier *e)
{
    Group *g = container_of(e, Group, e);

    event_notifier_test_and_clear(e);
    g->events++;
}

static void test_iohandler_group(void)
{
    Group g = {0};

    g_assert_cmpint(pipe(g.fds), ==, 0);
    g_assert_cmpint(event_notifier_init(&g.e, false), ==, 0);
    qemu_set_fd_handler(g.fds[0], group_read, NULL, &g);
    event_notifier_set_handler(&g.e, group_event);
    g_assert_cmpint(write(g.fds[1], "x", 1), ==, 1);
    event_notifier_set(&g.e);
    /* A nested poll of the main context does not run the group ... */
    aio_poll(qemu_get_aio_context(), false);
    g_assert_cmpint(g.reads, ==, 0);
    g_assert_cmpint(g.events, ==, 0);
    /* ... main_loop_wait() does. */
    while (!g.reads || !g.events) {
        main_loop_wait(false);
    }
    qemu_set_fd_handler(g.fds[0], NULL, NULL, NULL);
    event_notifier_set_handler(&g.e, NULL);
    event_notifier_cleanup(&g.e);
    close(g.fds[0]);
    close(g.fds[1]);
}

static gboolean idle_cb(gpointer opaque)
{
    count_cb(opaque);
    return G_SOURCE_REMOVE;
}

static void test_glib(void)
{
    int idle = 0, n = 0;
    QEMUBH *bh = qemu_bh_new(count_cb, &n);

    /* GLib's default context runs inside main_loop_wait() ... */
    g_idle_add(idle_cb, &idle);
    while (!idle) {
        main_loop_wait(false);
    }
    /* ... and the main context runs inside GLib's default context. */
    qemu_bh_schedule(bh);
    while (!n) {
        g_main_context_iteration(NULL, TRUE);
    }
    qemu_bh_delete(bh);
}

/* ---- the BQL ---- */

static bool g_taken_while_sleeping;

static void *bql_taker(void *opaque)
{
    QEMUBH *bh = opaque;

    g_assert_null(qemu_get_current_aio_context());
    bql_lock(); /* possible only while the main loop sleeps */
    g_assert_true(qemu_get_current_aio_context() == qemu_get_aio_context());
    qatomic_set(&g_taken_while_sleeping, true);
    qemu_bh_schedule(bh);
    bql_unlock();
    return NULL;
}

static void test_bql_dropped_while_sleeping(void)
{
    int n = 0;
    QEMUBH *bh = qemu_bh_new(count_cb, &n);
    QemuThread t;

    bql_lock();
    g_assert_true(bql_locked());
    qemu_thread_create(&t, "bql-taker", bql_taker, bh, QEMU_THREAD_JOINABLE);
    while (!n) {
        main_loop_wait(false);
        g_assert_true(bql_locked());
    }
    g_assert_true(qatomic_read(&g_taken_while_sleeping));
    bql_unlock();
    qemu_thread_join(&t);
    qemu_bh_delete(bh);
}

static void test_bql_guard(void)
{
    g_assert_false(bql_locked());
    {
        BQL_LOCK_GUARD();
        g_assert_true(bql_locked());
        {
            BQL_LOCK_GUARD(); /* already held: no second lock */
            g_assert_true(bql_locked());
        }
        g_assert_true(bql_locked());
    }
    g_assert_false(bql_locked());
    qemu_mutex_lock_iothread(); /* the pre-9.0 names */
    g_assert_true(qemu_mutex_iothread_locked());
    qemu_mutex_unlock_iothread();
}

typedef struct {
    QemuCond cond;
    bool ready;
} CondData;

static void *cond_signaller(void *opaque)
{
    CondData *d = opaque;

    bql_lock();
    d->ready = true;
    qemu_cond_signal(&d->cond);
    bql_unlock();
    return NULL;
}

static void test_cond_wait_bql(void)
{
    CondData d = {.ready = false};
    QemuThread t;

    qemu_cond_init(&d.cond);
    bql_lock();
    g_assert_false(qemu_cond_timedwait_bql(&d.cond, 1));
    qemu_thread_create(&t, "cond", cond_signaller, &d, QEMU_THREAD_JOINABLE);
    while (!d.ready) {
        qemu_cond_wait_bql(&d.cond);
    }
    g_assert_true(bql_locked());
    bql_unlock();
    qemu_thread_join(&t);
    qemu_cond_destroy(&d.cond);
}

/* ---- waiting for an IOThread ---- */

typedef struct {
    AioContext *ran_in;
    bool done;
} WaitData;

static void work_bh(void *opaque)
{
    WaitData *w = opaque;

    w->ran_in = qemu_get_current_aio_context();
    qatomic_set(&w->done, true);
    aio_wait_kick();
}

static void test_aio_wait(void)
{
    IOThread *io = iothread_new();
    AioContext *io_ctx = iothread_get_aio_context(io);
    WaitData w = {0};

    g_assert_false(in_aio_context_home_thread(io_ctx));
    g_assert_false(AIO_WAIT_WHILE(io_ctx, false)); /* did not wait */
    aio_bh_schedule_oneshot(io_ctx, work_bh, &w);
    AIO_WAIT_WHILE(io_ctx, !qatomic_read(&w.done));
    g_assert_true(w.ran_in == io_ctx);

    memset(&w, 0, sizeof(w));
    aio_wait_bh_oneshot(io_ctx, work_bh, &w);
    g_assert_true(w.done);
    g_assert_true(w.ran_in == io_ctx);
    iothread_join(io);
}

/* The socket and fd helpers, through the main loop's fd-handler group. */
static void sock_read(void *opaque)
{
    int *fds = opaque;
    char c;

    g_assert_cmpint(read(fds[1], &c, 1), ==, 1);
    fds[2]++;
}

static void test_socket_helpers(void)
{
    int fds[3] = {-1, -1, 0};
    int pfd[2];
    char c;

    g_assert_cmpint(socket_init(), ==, 0);
    g_assert_cmpint(qemu_socketpair(AF_UNIX, SOCK_STREAM, 0, fds), ==, 0);
    g_assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    qemu_socket_set_nonblock(fds[1]);
    g_assert_cmpint(read(fds[1], &c, 1), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);
    qemu_set_fd_handler(fds[1], sock_read, NULL, fds);
    g_assert_cmpint(write(fds[0], "x", 1), ==, 1);
    while (!fds[2]) {
        main_loop_wait(false);
    }
    qemu_set_fd_handler(fds[1], NULL, NULL, NULL);
    qemu_socket_set_block(fds[1]);
    g_assert_false(fcntl(fds[1], F_GETFL) & O_NONBLOCK);
    close(fds[0]);
    close(fds[1]);

    g_assert_cmpint(qemu_pipe(pfd), ==, 0);
    g_assert_true(fcntl(pfd[1], F_GETFD) & FD_CLOEXEC);
    close(pfd[0]);
    pfd[0] = dup(pfd[1]); /* dup() does not copy close-on-exec */
    g_assert_false(fcntl(pfd[0], F_GETFD) & FD_CLOEXEC);
    qemu_set_cloexec(pfd[0]);
    g_assert_true(fcntl(pfd[0], F_GETFD) & FD_CLOEXEC);
    close(pfd[0]);
    close(pfd[1]);
    fds[0] = qemu_socket(AF_INET, SOCK_STREAM, 0);
    g_assert_cmpint(fds[0], >=, 0);
    g_assert_cmpint(socket_set_nodelay(fds[0]), ==, 0);
    g_assert_cmpint(socket_set_cork(fds[0], 1), ==, 0);
    close(fds[0]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    g_test_add_func("/main-loop/init-and-current", test_init_and_current);
    g_test_add_func("/main-loop/bh-and-timer", test_bh_and_timer);
    g_test_add_func("/main-loop/iohandler-group", test_iohandler_group);
    g_test_add_func("/main-loop/glib", test_glib);
    g_test_add_func("/main-loop/bql/dropped-while-sleeping",
                    test_bql_dropped_while_sleeping);
    g_test_add_func("/main-loop/bql/guard", test_bql_guard);
    g_test_add_func("/main-loop/bql/cond-wait", test_cond_wait_bql);
    g_test_add_func("/main-loop/aio-wait", test_aio_wait);
    g_test_add_func("/main-loop/socket-helpers", test_socket_helpers);
    return g_test_run();
}
