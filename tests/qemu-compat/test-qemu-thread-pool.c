/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the thread pool in QEMU's API: thread_pool_submit_aio() with
 * its completion in the submitting context, thread_pool_submit_co(),
 * many requests, cancellation (bdrv_aio_cancel_async: a request that has
 * not started never runs and completes with -ECANCELED, a started one
 * completes normally; bdrv_aio_cancel waits), requests from an IOThread,
 * and the generic ThreadPool.
 */
#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "block/aio.h"
#include "block/block.h"
#include "block/thread-pool.h"
#include "iothread.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"

static AioContext *ctx;
static int active;

typedef struct {
    BlockAIOCB *aiocb;
    int n;
    int ret;
    AioContext *done_in;
} WorkerTestData;

static int worker_cb(void *opaque)
{
    WorkerTestData *data = opaque;

    return qatomic_fetch_inc(&data->n);
}

/* States of long_cb's data->n: 0 queued, 1 running, 3 done, 4 cancelled. */
static QemuEvent g_release;

static int long_cb(void *opaque)
{
    WorkerTestData *data = opaque;

    if (qatomic_cmpxchg(&data->n, 0, 1) == 0) {
        qemu_event_wait(&g_release);
        qatomic_or(&data->n, 2);
    }
    return 0;
}

static void done_cb(void *opaque, int ret)
{
    WorkerTestData *data = opaque;

    g_assert_cmpint(data->ret, ==, -EINPROGRESS);
    data->aiocb = NULL;
    data->done_in = qemu_get_current_aio_context();
    active--;
    /* Last: another thread may be waiting for it (test_iothread). */
    qatomic_store_release(&data->ret, ret);
}

static void test_submit_aio(void)
{
    WorkerTestData data = {.n = 0, .ret = -EINPROGRESS};

    active = 1;
    data.aiocb = thread_pool_submit_aio(worker_cb, &data, done_cb, &data);
    /* The function runs on a worker; the completion needs the loop. */
    while (data.ret == -EINPROGRESS) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(active, ==, 0);
    g_assert_cmpint(data.n, ==, 1);
    g_assert_cmpint(data.ret, ==, 0);
    g_assert_true(data.done_in == ctx);
}

static void coroutine_fn co_test_cb(void *opaque)
{
    WorkerTestData *data = opaque;

    active = 1;
    data->n = 0;
    data->ret = -EINPROGRESS;
    data->ret = thread_pool_submit_co(worker_cb, data);
    g_assert_cmpint(data->n, ==, 1);
    active = 0;
}

static void test_submit_co(void)
{
    WorkerTestData data;
    Coroutine *co = qemu_coroutine_create(co_test_cb, &data);

    qemu_coroutine_enter(co);
    /* The coroutine yielded: still waiting for the worker. */
    g_assert_cmpint(active, ==, 1);
    AIO_WAIT_WHILE(ctx, qatomic_read(&active) > 0);
    g_assert_cmpint(data.ret, ==, 0);
}

static void test_submit_many(void)
{
    WorkerTestData data[100];

    active = 100;
    for (int i = 0; i < 100; i++) {
        data[i].n = 0;
        data[i].ret = -EINPROGRESS;
        data[i].aiocb = thread_pool_submit_aio(worker_cb, &data[i], done_cb,
                                               &data[i]);
    }
    while (active > 0) {
        aio_poll(ctx, true);
    }
    for (int i = 0; i < 100; i++) {
        g_assert_cmpint(data[i].n, ==, 1);
        g_assert_cmpint(data[i].ret, ==, 0);
    }
}

static void do_test_cancel(bool sync)
{
    WorkerTestData data[100];
    int num_canceled = 0;

    /* Two workers at most: every other request stays queued while the
     * running ones block (workers may claim batches; claimed requests
     * that have not started are still cancellable). */
    aio_context_set_thread_pool_params(ctx, 0, 2, &error_abort);
    qemu_event_init(&g_release, false);
    active = 100;
    for (int i = 0; i < 100; i++) {
        data[i].n = 0;
        data[i].ret = -EINPROGRESS;
        data[i].aiocb = thread_pool_submit_aio(long_cb, &data[i], done_cb,
                                               &data[i]);
    }
    /* Let a worker start one. */
    for (bool running = false; !running;) {
        for (int i = 0; i < 100; i++) {
            running |= qatomic_read(&data[i].n) == 1;
        }
        g_usleep(1000);
    }
    /* Cancel every request that we can claim before a worker does. */
    for (int i = 0; i < 100; i++) {
        if (qatomic_cmpxchg(&data[i].n, 0, 4) == 0) {
            data[i].ret = -EINPROGRESS;
            if (sync) {
                bdrv_aio_cancel(data[i].aiocb);
                /* Waited for: the completion ran, with -ECANCELED. */
                g_assert_cmpint(data[i].ret, ==, -ECANCELED);
            } else {
                bdrv_aio_cancel_async(data[i].aiocb);
            }
            num_canceled++;
        }
    }
    g_assert_cmpint(num_canceled, >, 90);
    qemu_event_set(&g_release);
    while (active > 0) {
        aio_poll(ctx, true);
    }
    for (int i = 0; i < 100; i++) {
        int n = qatomic_read(&data[i].n);

        if (n == 4) {
            /* Claimed by us: it never ran.  Cancelled unless a worker had
             * already taken it (then long_cb saw 4 and returned 0). */
            g_assert_true(data[i].ret == -ECANCELED || data[i].ret == 0);
        } else {
            g_assert_cmpint(n, ==, 3);
            g_assert_cmpint(data[i].ret, ==, 0);
        }
        g_assert_null(data[i].aiocb);
    }
    qemu_event_destroy(&g_release);
    aio_context_set_thread_pool_params(ctx, 0, THREAD_POOL_MAX_THREADS_DEFAULT,
                                       &error_abort);
}

static void test_cancel(void)
{
    do_test_cancel(false);
}

static void test_cancel_sync(void)
{
    do_test_cancel(true);
}

static void submit_in_iothread(void *opaque)
{
    WorkerTestData *data = opaque;

    data->aiocb = thread_pool_submit_aio(worker_cb, data, done_cb, data);
}

static void test_iothread(void)
{
    IOThread *io = iothread_new();
    AioContext *io_ctx = iothread_get_aio_context(io);
    WorkerTestData data = {.n = 0, .ret = -EINPROGRESS};

    active = 1;
    aio_bh_schedule_oneshot(io_ctx, submit_in_iothread, &data);
    AIO_WAIT_WHILE(io_ctx, qatomic_load_acquire(&data.ret) == -EINPROGRESS);
    g_assert_cmpint(data.ret, ==, 0);
    g_assert_true(data.done_in == io_ctx);
    iothread_join(io);
}

/* ---- the generic pool ---- */

static int generic_work(void *opaque)
{
    qatomic_inc((int *)opaque);
    return 0;
}

static int g_destroyed;

static void count_destroy(gpointer p)
{
    qatomic_inc(&g_destroyed);
}

static void test_generic_pool(void)
{
    ThreadPool *pool = thread_pool_new();
    int n = 0;

    g_destroyed = 0;
    g_assert_true(thread_pool_set_max_threads(pool, 2));
    g_assert_false(thread_pool_set_max_threads(pool, 0));
    for (int i = 0; i < 50; i++) {
        thread_pool_submit(pool, generic_work, &n, count_destroy);
    }
    thread_pool_submit_immediate(pool, generic_work, &n, NULL);
    g_assert_true(thread_pool_adjust_max_threads_to_work(pool));
    thread_pool_wait(pool);
    g_assert_cmpint(qatomic_read(&n), ==, 51);
    g_assert_cmpint(qatomic_read(&g_destroyed), ==, 50);
    thread_pool_free(pool);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_current_aio_context();
    g_test_add_func("/thread-pool/submit-aio", test_submit_aio);
    g_test_add_func("/thread-pool/submit-co", test_submit_co);
    g_test_add_func("/thread-pool/submit-many", test_submit_many);
    g_test_add_func("/thread-pool/cancel", test_cancel);
    g_test_add_func("/thread-pool/cancel-sync", test_cancel_sync);
    g_test_add_func("/thread-pool/iothread", test_iothread);
    g_test_add_func("/thread-pool/generic", test_generic_pool);
    return g_test_run();
}
