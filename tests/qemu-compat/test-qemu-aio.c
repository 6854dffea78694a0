/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: AioContext semantics in QEMU's API: bottom halves (schedule,
 * cancel, delete, self-rescheduling, one-shot, from other threads),
 * nested aio_poll(), event notifiers and fd handlers, timers on each
 * QEMU clock (REALTIME is monotonic, HOST is wall time), the context as
 * a GSource, and the end of a context (timers released, leaks caught).
 */
#include "qemu/osdep.h"
#include "block/aio.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/thread.h"
#include "qemu/timer.h"

#include <loom/clock.h>

static AioContext *ctx;

typedef struct {
    QEMUBH *bh;
    int n;
    int max;
} BHTestData;

static void bh_test_cb(void *opaque)
{
    BHTestData *data = opaque;

    if (++data->n < data->max) {
        qemu_bh_schedule(data->bh);
    }
}

static void bh_delete_cb(void *opaque)
{
    BHTestData *data = opaque;

    if (++data->n < data->max) {
        qemu_bh_schedule(data->bh);
    } else {
        qemu_bh_delete(data->bh);
        data->bh = NULL;
    }
}

/* Drain everything that is ready. */
static void drain(void)
{
    while (aio_poll(ctx, false)) {
    }
}

static void test_notify(void)
{
    g_assert_false(aio_poll(ctx, false));
    aio_notify(ctx);
    g_assert_false(aio_poll(ctx, true)); /* wakes up, no progress */
    g_assert_false(aio_poll(ctx, false));
}

static void test_bh_schedule(void)
{
    BHTestData data = {.n = 0};

    data.bh = aio_bh_new(ctx, bh_test_cb, &data);
    qemu_bh_schedule(data.bh);
    qemu_bh_schedule(data.bh); /* twice before it ran: runs once */
    g_assert_cmpint(data.n, ==, 0);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(data.n, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 1);
    qemu_bh_delete(data.bh);
}

static void test_bh_schedule10(void)
{
    BHTestData data = {.n = 0, .max = 10};

    data.bh = aio_bh_new(ctx, bh_test_cb, &data);
    qemu_bh_schedule(data.bh);
    /* A BH that schedules itself runs once per aio_poll(). */
    for (int i = 1; i <= 10; i++) {
        g_assert_true(aio_poll(ctx, false));
        g_assert_cmpint(data.n, ==, i);
    }
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 10);
    qemu_bh_delete(data.bh);
}

static void test_bh_cancel(void)
{
    BHTestData data = {.n = 0};

    data.bh = aio_bh_new(ctx, bh_test_cb, &data);
    qemu_bh_schedule(data.bh);
    qemu_bh_cancel(data.bh);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 0);
    qemu_bh_delete(data.bh);
}

static void test_bh_delete(void)
{
    BHTestData data = {.n = 0};

    data.bh = aio_bh_new(ctx, bh_test_cb, &data);
    qemu_bh_schedule(data.bh);
    qemu_bh_delete(data.bh); /* a deleted scheduled BH never runs */
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 0);
}

static void test_bh_delete_from_cb(void)
{
    BHTestData data = {.n = 0, .max = 3};

    data.bh = aio_bh_new(ctx, bh_delete_cb, &data);
    qemu_bh_schedule(data.bh);
    drain();
    g_assert_cmpint(data.n, ==, 3);
    g_assert_null(data.bh);
}

static void test_bh_delete_many(void)
{
    BHTestData data1 = {.n = 0, .max = 2};
    BHTestData data2 = {.n = 0, .max = 4};

    data1.bh = aio_bh_new(ctx, bh_delete_cb, &data1);
    data2.bh = aio_bh_new(ctx, bh_delete_cb, &data2);
    qemu_bh_schedule(data1.bh);
    qemu_bh_schedule(data2.bh);
    drain();
    g_assert_cmpint(data1.n, ==, 2);
    g_assert_cmpint(data2.n, ==, 4);
    g_assert_null(data1.bh);
    g_assert_null(data2.bh);
}

static void count_cb(void *opaque)
{
    qatomic_inc((int *)opaque);
}

static void test_bh_oneshot(void)
{
    int n = 0;

    aio_bh_schedule_oneshot(ctx, count_cb, &n);
    aio_bh_schedule_oneshot(ctx, count_cb, &n); /* each one runs */
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(n, ==, 2);
    g_assert_false(aio_poll(ctx, false));
}

static void test_bh_guard(void)
{
    MemReentrancyGuard guard = {.engaged_in_io = false};
    BHTestData data = {.n = 0};
    QEMUBH *bh = aio_bh_new_guarded(ctx, bh_test_cb, &data, &guard);

    data.bh = bh;
    qemu_bh_schedule(bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 1);
    g_assert_false(guard.engaged_in_io); /* restored after the run */
    qemu_bh_delete(bh);
}

static void test_bh_idle(void)
{
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);

    qemu_bh_schedule_idle(bh);
    /* Idle BHs run, but do not count as progress, and bound the sleep. */
    g_assert_false(aio_poll(ctx, true));
    g_assert_cmpint(n, ==, 1);
    qemu_bh_delete(bh);
}

/* A BH scheduled from another thread wakes a blocking aio_poll(). */
static void *schedule_later(void *opaque)
{
    g_usleep(20000);
    qemu_bh_schedule(opaque);
    return NULL;
}

static void test_bh_cross_thread(void)
{
    int n = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &n);
    QemuThread t;

    qemu_thread_create(&t, "bh-sched", schedule_later, bh,
                       QEMU_THREAD_JOINABLE);
    while (qatomic_read(&n) == 0) {
        aio_poll(ctx, true);
    }
    qemu_thread_join(&t);
    qemu_bh_delete(bh);
}

/* Inside aio_poll(c), c is the current context even if never declared. */
static void record_current(void *opaque)
{
    *(AioContext **)opaque = qemu_get_current_aio_context();
}

static void test_current_while_polling(void)
{
    AioContext *seen = NULL;

    g_assert_null(qemu_get_current_aio_context());
    aio_bh_schedule_oneshot(ctx, record_current, &seen);
    g_assert_true(aio_poll(ctx, false));
    g_assert_true(seen == ctx);
}

/* ---- nested aio_poll ---- */

typedef struct {
    QEMUBH *inner;
    int inner_runs;
    int outer_runs;
    bool nested_progress;
} NestData;

static void inner_cb(void *opaque)
{
    NestData *d = opaque;

    d->inner_runs++;
}

static void outer_cb(void *opaque)
{
    NestData *d = opaque;

    d->outer_runs++;
    qemu_bh_schedule(d->inner);
    /* The nested poll runs the inner BH before the outer one returns. */
    d->nested_progress = aio_poll(ctx, true);
    g_assert_cmpint(d->inner_runs, ==, 1);
}

static void test_nested_poll(void)
{
    NestData d = {0};
    QEMUBH *outer = aio_bh_new(ctx, outer_cb, &d);

    d.inner = aio_bh_new(ctx, inner_cb, &d);
    qemu_bh_schedule(outer);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(d.outer_runs, ==, 1);
    g_assert_cmpint(d.inner_runs, ==, 1);
    g_assert_true(d.nested_progress);
    g_assert_false(aio_poll(ctx, false));
    qemu_bh_delete(outer);
    qemu_bh_delete(d.inner);
}

/* ---- event notifiers and fd handlers ---- */

typedef struct {
    EventNotifier e;
    int n;
    int active;
    bool auto_set;
} EventNotifierTestData;

static void event_ready_cb(EventNotifier *e)
{
    EventNotifierTestData *data = container_of(e, EventNotifierTestData, e);

    g_assert_true(event_notifier_test_and_clear(e));
    data->n++;
    if (data->active > 0) {
        data->active--;
    }
    if (data->auto_set && data->active) {
        event_notifier_set(e);
    }
}

static void test_set_event_notifier(void)
{
    EventNotifierTestData data = {.n = 0, .active = 0};

    g_assert_cmpint(event_notifier_init(&data.e, false), ==, 0);
    aio_set_event_notifier(ctx, &data.e, event_ready_cb, NULL, NULL);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 0);
    event_notifier_set(&data.e);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 1);
    g_assert_false(aio_poll(ctx, false));

    /* A notifier that re-sets itself runs once per poll until done. */
    data.active = 3;
    data.auto_set = true;
    event_notifier_set(&data.e);
    while (aio_poll(ctx, false)) {
    }
    g_assert_cmpint(data.n, ==, 4);
    g_assert_cmpint(data.active, ==, 0);

    aio_set_event_notifier(ctx, &data.e, NULL, NULL, NULL);
    event_notifier_set(&data.e);
    g_assert_false(aio_poll(ctx, false)); /* removed: not dispatched */
    g_assert_cmpint(data.n, ==, 4);
    event_notifier_cleanup(&data.e);
}

static bool poll_always(void *opaque)
{
    return true;
}

static void poll_ready_cb(EventNotifier *e)
{
    EventNotifierTestData *data = container_of(e, EventNotifierTestData, e);

    data->active++;
}

static void test_event_notifier_poll(void)
{
    EventNotifierTestData data = {.n = 0};
    Error *err = NULL;

    event_notifier_init(&data.e, false);
    aio_set_event_notifier(ctx, &data.e, event_ready_cb, poll_always,
                           poll_ready_cb);
    aio_context_set_poll_params(ctx, 1000000, 2, 2, &error_abort);
    /*
     * The busy-poll window starts at 0 and grows after waits that ended
     * within poll_max_ns; once it is open, io_poll finds work and
     * io_poll_ready runs instead of the fd handler.
     */
    for (int i = 0; i < 100 && data.active == 0; i++) {
        event_notifier_set(&data.e);
        g_assert_true(aio_poll(ctx, true));
    }
    g_assert_cmpint(data.active, >=, 1);
    aio_set_event_notifier(ctx, &data.e, NULL, NULL, NULL);
    aio_context_set_poll_params(ctx, 0, 0, 0, &error_abort);
    aio_context_set_poll_params(ctx, -1, 0, 0, &err);
    g_assert_nonnull(err);
    error_free(err);
    event_notifier_cleanup(&data.e);
}

typedef struct {
    int fds[2];
    int reads;
    int writes;
} PipeData;

static void pipe_read_cb(void *opaque)
{
    PipeData *p = opaque;
    char buf[8];

    g_assert_cmpint(read(p->fds[0], buf, sizeof(buf)), ==, 1);
    p->reads++;
}

static void pipe_write_cb(void *opaque)
{
    PipeData *p = opaque;

    p->writes++;
    /* Writable until removed: take the write side away after one call. */
    aio_set_fd_handler(ctx, p->fds[1], NULL, NULL, NULL, NULL, NULL);
}

static void test_fd_handler(void)
{
    PipeData p = {0};

    g_assert_cmpint(pipe(p.fds), ==, 0);
    aio_set_fd_handler(ctx, p.fds[0], pipe_read_cb, NULL, NULL, NULL, &p);
    aio_set_fd_handler(ctx, p.fds[1], NULL, pipe_write_cb, NULL, NULL, &p);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(p.writes, ==, 1);
    g_assert_cmpint(p.reads, ==, 0);
    g_assert_cmpint(write(p.fds[1], "x", 1), ==, 1);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(p.reads, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    aio_set_fd_handler(ctx, p.fds[0], NULL, NULL, NULL, NULL, NULL);
    /* Removing again is a no-op, as in QEMU. */
    aio_set_fd_handler(ctx, p.fds[0], NULL, NULL, NULL, NULL, NULL);
    close(p.fds[0]);
    close(p.fds[1]);
}

/* ---- timers ---- */

typedef struct {
    QEMUTimer timer;
    QEMUClockType clock;
    int n;
    int max;
    int64_t ns;
    int64_t fired_at;
} TimerTestData;

static void timer_test_cb(void *opaque)
{
    TimerTestData *data = opaque;

    data->fired_at = qemu_clock_get_ns(data->clock);
    if (++data->n < data->max) {
        timer_mod_ns(&data->timer, data->fired_at + data->ns);
    }
}

static void test_clock_meanings(void)
{
    int64_t mono_us = g_get_monotonic_time();
    int64_t wall_us = g_get_real_time();
    int64_t rt = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t host = qemu_clock_get_ns(QEMU_CLOCK_HOST);

    /* REALTIME is the monotonic clock, HOST the wall clock (generous). */
    g_assert_cmpint(llabs(rt / 1000 - mono_us), <, 5000000);
    g_assert_cmpint(llabs(host / 1000 - wall_us), <, 5000000);
    g_assert_cmpint(get_clock() / 1000 - mono_us, <, 5000000);
    g_assert_cmpint(llabs(get_clock_realtime() / 1000 - wall_us), <, 5000000);
    g_assert_cmpint(qemu_clock_get_ms(QEMU_CLOCK_REALTIME), >=, rt / SCALE_MS);
    g_assert_cmpint(qemu_clock_get_us(QEMU_CLOCK_HOST), >=, host / SCALE_US);
}

/* A timer on @clock fires once per arming, never early. */
static void timer_on_clock(QEMUClockType clock, int scale)
{
    TimerTestData data = {.clock = clock, .max = 2, .ns = 5 * SCALE_MS};
    int64_t start = qemu_clock_get_ns(clock);

    aio_timer_init(ctx, &data.timer, clock, scale, timer_test_cb, &data);
    g_assert_false(timer_pending(&data.timer));
    timer_mod(&data.timer, (start + data.ns) / scale);
    g_assert_true(timer_pending(&data.timer));
    g_assert_cmpuint(timer_expire_time_ns(&data.timer), ==,
                     (uint64_t)((start + data.ns) / scale * scale));
    while (data.n < 2) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(data.fired_at, >=, start + 2 * data.ns - scale);
    g_assert_false(timer_pending(&data.timer));
    g_assert_cmpint((int64_t)timer_expire_time_ns(&data.timer), ==, -1);
    timer_deinit(&data.timer);
}

static void test_timer_realtime(void)
{
    timer_on_clock(QEMU_CLOCK_REALTIME, SCALE_NS);
    timer_on_clock(QEMU_CLOCK_REALTIME, SCALE_MS);
}

static void test_timer_host(void)
{
    timer_on_clock(QEMU_CLOCK_HOST, SCALE_US);
}

static void test_timer_virtual(void)
{
    TimerTestData data = {.clock = QEMU_CLOCK_VIRTUAL, .max = 1};
    int64_t now;

    loom_clock_virtual_set_deterministic(true);
    now = qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
    aio_timer_init(ctx, &data.timer, QEMU_CLOCK_VIRTUAL, SCALE_NS,
                   timer_test_cb, &data);
    timer_mod(&data.timer, now + 1000);
    g_assert_false(aio_poll(ctx, false)); /* the virtual clock holds */
    g_assert_true(timer_pending(&data.timer));
    g_assert_false(timer_expired(&data.timer, now));
    g_assert_true(timer_expired(&data.timer, now + 1000));
    g_assert_cmpint(loom_clock_virtual_step(1000), ==, 0);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(data.n, ==, 1);
    g_assert_cmpint(data.fired_at, ==, now + 1000);
    timer_deinit(&data.timer);
    loom_clock_virtual_set_deterministic(false);
}

static void test_timer_del_and_anticipate(void)
{
    TimerTestData data = {.clock = QEMU_CLOCK_REALTIME, .max = 1};
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                 timer_test_cb, &data);
    int64_t now_ms = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    data.clock = QEMU_CLOCK_REALTIME;
    timer_mod(t, now_ms + 100000);
    timer_mod_anticipate(t, now_ms + 200000); /* later: ignored */
    g_assert_cmpuint(timer_expire_time_ns(t), ==,
                     (uint64_t)(now_ms + 100000) * SCALE_MS);
    timer_mod_anticipate(t, now_ms - 1); /* earlier: moves, due now */
    timer_del(t);
    g_assert_false(timer_pending(t));
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 0);
    timer_mod_anticipate_ns(t, 0); /* in the past: runs at once */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(data.n, ==, 1);
    timer_free(t);
}

/* ---- the context as a GSource ---- */

static void test_gsource(void)
{
    BHTestData data = {.n = 0, .max = 3};

    data.bh = aio_bh_new(ctx, bh_test_cb, &data);
    qemu_bh_schedule(data.bh);
    while (data.n < 3) {
        g_main_context_iteration(NULL, true);
    }
    g_assert_cmpint(data.n, ==, 3);
    qemu_bh_delete(data.bh);
}

/*
 * A pending aio_notify() makes the context's GSource ready once, and a BH
 * deleting itself notifies its context (QEMU reclaims it in the next
 * iteration): GMainContext iterations see exactly one more dispatch.
 */
static void test_gsource_notify(void)
{
    BHTestData data = {.n = 0, .max = 1};

    while (g_main_context_iteration(NULL, false)) {
    }
    aio_notify(ctx);
    g_assert_true(g_main_context_iteration(NULL, false));
    g_assert_false(g_main_context_iteration(NULL, false));

    data.bh = aio_bh_new(ctx, bh_delete_cb, &data);
    qemu_bh_schedule(data.bh);
    g_main_context_iteration(NULL, true);
    g_assert_cmpint(data.n, ==, 1);
    g_assert_null(data.bh);
    g_assert_true(g_main_context_iteration(NULL, false));
    g_assert_false(g_main_context_iteration(NULL, false));
}

/* Any poll consumes a pending notification; only one. */
static void test_notify_consumed(void)
{
    aio_notify(ctx);
    aio_notify(ctx);
    g_assert_false(aio_poll(ctx, false)); /* consumes both */
    aio_notify(ctx);
    g_assert_false(aio_poll(ctx, true)); /* returns at once */
}

/* ---- the end of a context ---- */

static void test_context_lifetime(void)
{
    Error *err = NULL;
    AioContext *c = aio_context_new(&err);
    QEMUTimer embedded;
    QEMUTimer *t;
    int n = 0;

    g_assert_null(err);
    aio_context_ref(c);
    aio_context_unref(c);
    /* Timers that are not armed go with their context. */
    aio_timer_init(c, &embedded, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb, &n);
    t = aio_timer_new(c, QEMU_CLOCK_HOST, SCALE_NS, count_cb, &n);
    timer_mod_ns(&embedded, 0);
    aio_poll(c, false);
    g_assert_cmpint(n, ==, 1);
    aio_context_unref(c);
    /* Their context is gone: deinit/free only release the memory. */
    timer_deinit(&embedded);
    timer_free(t);
}

static void test_leaked_bh_aborts(void)
{
    if (g_test_subprocess()) {
        AioContext *c = aio_context_new(&error_abort);
        int n = 0;

        (void)aio_bh_new(c, count_cb, &n);
        aio_context_unref(c);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*1 BH*");
}

static void test_armed_timer_aborts(void)
{
    if (g_test_subprocess()) {
        AioContext *c = aio_context_new(&error_abort);
        int n = 0;
        QEMUTimer *t = aio_timer_new(c, QEMU_CLOCK_REALTIME, SCALE_MS,
                                     count_cb, &n);

        timer_mod(t, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 100000);
        aio_context_unref(c);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*armed timer*");
}

int main(int argc, char **argv)
{
    GSource *src;
    int ret;

    init_clocks(NULL); /* as QEMU programs do; nothing to set up on loom */
    g_test_init(&argc, &argv, NULL);
    ctx = aio_context_new(&error_abort);
    /* As QEMU's test-aio: the context also runs in GLib's default one. */
    src = aio_get_g_source(ctx);
    g_assert_cmpuint(g_source_attach(src, NULL), >, 0);
    g_test_add_func("/aio/notify", test_notify);
    g_test_add_func("/aio/bh/schedule", test_bh_schedule);
    g_test_add_func("/aio/bh/schedule10", test_bh_schedule10);
    g_test_add_func("/aio/bh/cancel", test_bh_cancel);
    g_test_add_func("/aio/bh/delete", test_bh_delete);
    g_test_add_func("/aio/bh/callback-delete/one", test_bh_delete_from_cb);
    g_test_add_func("/aio/bh/callback-delete/many", test_bh_delete_many);
    g_test_add_func("/aio/bh/oneshot", test_bh_oneshot);
    g_test_add_func("/aio/bh/guard", test_bh_guard);
    g_test_add_func("/aio/bh/idle", test_bh_idle);
    g_test_add_func("/aio/bh/cross-thread", test_bh_cross_thread);
    g_test_add_func("/aio/nested-poll", test_nested_poll);
    g_test_add_func("/aio/current-while-polling", test_current_while_polling);
    g_test_add_func("/aio/event/set", test_set_event_notifier);
    g_test_add_func("/aio/event/poll", test_event_notifier_poll);
    g_test_add_func("/aio/fd-handler", test_fd_handler);
    g_test_add_func("/aio/timer/clocks", test_clock_meanings);
    g_test_add_func("/aio/timer/realtime", test_timer_realtime);
    g_test_add_func("/aio/timer/host", test_timer_host);
    g_test_add_func("/aio/timer/virtual", test_timer_virtual);
    g_test_add_func("/aio/timer/del-anticipate", test_timer_del_and_anticipate);
    g_test_add_func("/aio/gsource", test_gsource);
    g_test_add_func("/aio/gsource-notify", test_gsource_notify);
    g_test_add_func("/aio/notify-consumed", test_notify_consumed);
    g_test_add_func("/aio/lifetime", test_context_lifetime);
    g_test_add_func("/aio/leaked-bh-aborts", test_leaked_bh_aborts);
    g_test_add_func("/aio/armed-timer-aborts", test_armed_timer_aborts);
    ret = g_test_run();
    g_source_destroy(src);
    g_source_unref(src);
    aio_context_unref(ctx);
    return ret;
}
